//! The console's pages as semantic HTML (no script): a layout with the
//! navigation, and one function per page that makes its core calls and
//! renders what they return. Nothing here decides anything: due, overdue,
//! review states, what awaits sign-off, the report's figures all come from
//! the core as they are.

use std::fmt::Write as _;

use outreach_core::Error;
use outreach_core::case::model::{Case, ConcernStatus, Severity};
use outreach_core::vault::{CaseSyncState, Vault};

use super::http::{esc, percent_encode};

/// The sections in the navigation: (path, label).
pub const NAV: &[(&str, &str)] = &[
    ("/caseload", "Caseload"),
    ("/queue", "Sign-off queue"),
    ("/concerns", "Concerns"),
    ("/conflicts", "Conflicts"),
    ("/report", "Report card"),
    ("/sync", "Sync"),
];

/// A whole page. `refresh` reloads it after that many seconds (used so the
/// page shows the passphrase form once the vault has locked itself, and to
/// follow a running sync).
pub fn layout(
    title: &str,
    current: &str,
    csrf: Option<&str>,
    refresh: Option<u64>,
    flash: Option<&str>,
    body: &str,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{} — Outreach console</title>\n<link rel=\"stylesheet\" href=\"/style.css\">",
        esc(title)
    );
    if let Some(s) = refresh {
        let _ = writeln!(o, "<meta http-equiv=\"refresh\" content=\"{s}\">");
    }
    o.push_str("</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n<header>\n<p class=\"brand\">Outreach console</p>\n");
    if let Some(csrf) = csrf {
        o.push_str("<nav aria-label=\"Sections\"><ul>\n");
        for (path, label) in NAV {
            let here = if *path == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = writeln!(o, "<li><a href=\"{path}\"{here}>{label}</a></li>");
        }
        let _ = writeln!(
            o,
            "</ul></nav>\n<form method=\"post\" action=\"/lock\" class=\"lock\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Lock now</button></form>",
            esc(csrf)
        );
    }
    let _ = writeln!(o, "</header>\n<main id=\"main\">\n<h1>{}</h1>", esc(title));
    if let Some(f) = flash {
        let _ = writeln!(o, "<p class=\"flash\" role=\"status\">{}</p>", esc(f));
    }
    o.push_str(body);
    o.push_str("\n</main>\n</body>\n</html>\n");
    o
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        esc(value)
    )
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn day(s: &str) -> &str {
    s.get(..10).unwrap_or(s)
}

fn when(s: &str) -> String {
    // 2026-11-24T10:00:00Z → 2026-11-24 10:00
    match (s.get(..10), s.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ => s.to_string(),
    }
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(esc).unwrap_or_else(|| "–".into())
}

fn sync_word(s: Option<CaseSyncState>) -> &'static str {
    match s {
        None | Some(CaseSyncState::NeverSynced) => "never synced",
        Some(CaseSyncState::PendingUpload) => "to upload",
        Some(CaseSyncState::Synced) => "synced",
        Some(CaseSyncState::Conflict) => "conflict",
        Some(CaseSyncState::NeedsAttention) => "needs attention",
    }
}

pub fn caseload(v: &mut Vault) -> Result<String, Error> {
    let rows = v.caseload(false)?;
    let states: std::collections::HashMap<String, CaseSyncState> =
        v.case_sync_states()?.into_iter().collect();
    let mut o = String::new();
    let overdue = rows.iter().filter(|r| r.contact.overdue).count();
    let _ = writeln!(
        o,
        "<p>{} open case(s), {} overdue a contact. Overdue first, then by next contact due. Contact due by the one rule in <code>core/src/practice/due.rs</code>.</p>",
        rows.len(),
        overdue
    );
    if rows.is_empty() {
        o.push_str("<p>No open cases on this device. Run a sync to receive your team's cases.</p>");
        return Ok(o);
    }
    o.push_str("<div class=\"wide\"><table id=\"caseload\">\n<caption>Open cases</caption>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Practitioner</th><th scope=\"col\">Phase</th><th scope=\"col\">Next contact due</th><th scope=\"col\">Not seen for</th><th scope=\"col\">Programme end</th><th scope=\"col\">Open concerns</th><th scope=\"col\">Awaiting sign-off</th><th scope=\"col\">Sync</th></tr></thead>\n<tbody>\n");
    for r in &rows {
        if r.unreadable {
            let _ = writeln!(
                o,
                "<tr data-case=\"{}\"><td colspan=\"9\">Case {} failed its integrity check and cannot be shown.</td></tr>",
                esc(&r.id),
                esc(short(&r.id))
            );
            continue;
        }
        let c = &r.contact;
        let due = match &c.next_contact_due {
            Some(d) if c.overdue => format!(
                "<strong class=\"overdue\">Overdue</strong> since {}",
                esc(&when(d))
            ),
            Some(d) => esc(&when(d)),
            None => "–".into(),
        };
        let due = if c.last_contact_attempt {
            format!("{due} <span class=\"muted\">(last contact was an attempt)</span>")
        } else {
            due
        };
        let seen = match (c.not_seen_days, &c.last_seen) {
            (Some(d), Some(_)) => format!("{d} day(s)"),
            (Some(d), None) => format!("never seen ({d} days open)"),
            _ => "–".into(),
        };
        let end = match (&r.planned_end, r.ending_soon) {
            (Some(e), true) => format!("<strong>ends {}</strong>", esc(e)),
            (Some(e), false) => esc(e),
            (None, _) => "–".into(),
        };
        let concerns = match r.highest_open_severity {
            Some(s) => format!("{} (highest {})", r.open_concerns, s),
            None => "0".into(),
        };
        let _ = writeln!(
            o,
            "<tr data-case=\"{id}\" data-overdue=\"{overdue}\"{class}><th scope=\"row\"><a href=\"/case/{id}\">{name}</a></th><td>{pr}</td><td>{phase}</td><td>{due}</td><td>{seen}</td><td>{end}</td><td>{concerns}</td><td>{awaiting}{returned}</td><td>{sync}</td></tr>",
            id = esc(&r.id),
            overdue = c.overdue,
            class = if c.overdue {
                " class=\"is-overdue\""
            } else {
                ""
            },
            name = esc(&r.preferred_name),
            pr = esc(&r.practitioners.join(", ")),
            phase = r.phase.map(|p| p.as_str()).unwrap_or("–"),
            awaiting = r.awaiting_sign_off,
            returned = if r.returned > 0 {
                format!(" ({} returned)", r.returned)
            } else {
                String::new()
            },
            sync = sync_word(states.get(&r.id).copied()),
        );
    }
    o.push_str("</tbody></table></div>\n");
    Ok(o)
}

/// A small inline SVG of a case's scaling readings, in date order.
fn scaling_chart(case: &Case) -> String {
    let mut readings: Vec<_> = case.scales.iter().collect();
    readings.sort_by(|a, b| (&a.1.date, a.0).cmp(&(&b.1.date, b.0)));
    if readings.is_empty() {
        return "<p>No scaling readings yet.</p>".into();
    }
    let (w, h, left, top, bottom) = (560.0, 200.0, 34.0, 16.0, 34.0);
    let plot_h = h - top - bottom;
    let slot = (w - left - 10.0) / readings.len() as f64;
    let desc: Vec<String> = readings
        .iter()
        .map(|(_, r)| format!("{}: {}", r.date, r.score))
        .collect();
    let mut o = format!(
        "<figure id=\"scaling-chart\"><figcaption>Scaling readings (0–10), oldest first</figcaption>\
<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-labelledby=\"scaling-title scaling-desc\"><title id=\"scaling-title\">Scaling readings</title><desc id=\"scaling-desc\">{}</desc>",
        esc(&desc.join("; "))
    );
    for s in [0, 5, 10] {
        let y = top + plot_h - f64::from(s) / 10.0 * plot_h;
        let _ = write!(
            o,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{s}</text>",
            w - 10.0,
            left - 6.0,
            y + 4.0
        );
    }
    let pts: Vec<(f64, f64)> = readings
        .iter()
        .enumerate()
        .map(|(i, (_, r))| {
            (
                left + slot * i as f64 + slot / 2.0,
                top + plot_h - f64::from(r.score) / 10.0 * plot_h,
            )
        })
        .collect();
    let line: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        o,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#7a3b00\" stroke-width=\"2\"/>",
        line.join(" ")
    );
    for ((x, y), (_, r)) in pts.iter().zip(&readings) {
        let _ = write!(
            o,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"#7a3b00\"/><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            y - 8.0,
            r.score,
            h - 12.0,
            esc(day(&r.date))
        );
    }
    o.push_str("</svg></figure>\n");
    o
}

pub fn case_page(v: &mut Vault, id: &str) -> Result<(String, String), Error> {
    let c = v.read_case(id)?;
    let timeline = v.timeline(id)?;
    let conflicts = v.conflicts(id)?.len();
    let p = &c.profile;
    let g = &c.programme;
    let mut o = String::new();
    if conflicts > 0 {
        let _ = writeln!(
            o,
            "<p class=\"flash\">{conflicts} field(s) were edited differently on two devices: <a href=\"/conflicts\">settle them</a>.</p>"
        );
    }
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "–",
    };
    let _ = writeln!(
        o,
        "<section aria-labelledby=\"s-profile\"><h2 id=\"s-profile\">Profile and programme</h2><dl class=\"facts\">\
<dt>Preferred name</dt><dd>{}</dd><dt>Date of birth</dt><dd>{}</dd>\
<dt>Text OK</dt><dd>{}</dd><dt>Voicemail OK</dt><dd>{}</dd>\
<dt>Phase</dt><dd>{}</dd><dt>Practitioner(s)</dt><dd>{}</dd><dt>Team</dt><dd>{}</dd>\
<dt>Referred</dt><dd>{}</dd><dt>Start</dt><dd>{}</dd><dt>Planned end</dt><dd>{}</dd>\
<dt>Closed</dt><dd>{}</dd><dt>Exit reason</dt><dd>{}</dd><dt>Contact every</dt><dd>{} days</dd></dl></section>",
        esc(&p.preferred_name),
        opt(&p.date_of_birth),
        yes_no(p.safe_contact.text_ok),
        yes_no(p.safe_contact.voicemail_ok),
        g.phase.map(|x| x.as_str()).unwrap_or("–"),
        esc(&g.practitioners.join(", ")),
        opt(&g.team),
        opt(&g.referral_date),
        opt(&g.start_date),
        outreach_core::practice::planned_end(g)
            .map(|d| d.to_string())
            .unwrap_or_else(|| "–".into()),
        opt(&g.closed_on),
        opt(&g.exit_reason),
        g.contact_every_days
            .unwrap_or(outreach_core::practice::DEFAULT_CONTACT_EVERY_DAYS),
    );

    if !p.professionals.is_empty() {
        o.push_str(
            "<section aria-labelledby=\"s-people\"><h2 id=\"s-people\">Professionals</h2><ul>",
        );
        for x in p.professionals.values() {
            let _ = write!(
                o,
                "<li>{}: {}{}</li>",
                esc(&x.role),
                esc(&x.name),
                x.organisation
                    .as_deref()
                    .map(|org| format!(" ({})", esc(org)))
                    .unwrap_or_default()
            );
        }
        o.push_str("</ul></section>\n");
    }

    // Signs of Safety map.
    o.push_str("<section aria-labelledby=\"s-sos\"><h2 id=\"s-sos\">Signs of Safety map</h2><div class=\"columns\">\n");
    let sos = &c.signs_of_safety;
    for (title, entries) in [
        ("What are we worried about?", &sos.worries),
        ("What's working well?", &sos.working_well),
        ("What needs to happen?", &sos.needs_to_happen),
    ] {
        let _ = write!(o, "<div class=\"column\"><h3>{title}</h3><ul>");
        if entries.is_empty() {
            o.push_str("<li class=\"muted\">nothing recorded</li>");
        }
        for e in entries.values() {
            let resolved = e.status == Some(outreach_core::case::model::SosStatus::Resolved);
            let _ = write!(
                o,
                "<li>{}{}{}</li>",
                e.kind
                    .map(|k| format!("<span class=\"tag\">{k}</span> "))
                    .unwrap_or_default(),
                esc(&e.text),
                if resolved {
                    " <span class=\"tag\">resolved</span>"
                } else {
                    ""
                }
            );
        }
        o.push_str("</ul></div>\n");
    }
    o.push_str("</div>");
    if !sos.danger_statements.is_empty() {
        o.push_str("<h3>Danger statements and safety goals</h3><table><thead><tr><th scope=\"col\">Danger statement</th><th scope=\"col\">Safety goal</th><th scope=\"col\">Status</th></tr></thead><tbody>");
        for d in sos.danger_statements.values() {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.danger),
                esc(&d.safety_goal),
                d.status.map(|s| s.as_str()).unwrap_or("open")
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str(&scaling_chart(&c));
    o.push_str("</section>\n");

    // Support plan.
    o.push_str("<section aria-labelledby=\"s-plan\"><h2 id=\"s-plan\">Support plan</h2>");
    if c.goals.is_empty() {
        o.push_str("<p>No goals yet.</p>");
    } else {
        o.push_str("<table><thead><tr><th scope=\"col\">Domain</th><th scope=\"col\">Goal</th><th scope=\"col\">Status</th><th scope=\"col\">Target</th><th scope=\"col\">Review</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
        for goal in c.goals.values() {
            let actions: Vec<String> = goal
                .actions
                .values()
                .map(|a| {
                    format!(
                        "{}{}",
                        esc(&a.text),
                        if a.done.is_some() { " (done)" } else { "" }
                    )
                })
                .collect();
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                goal.domain,
                esc(&goal.text),
                goal.status.map(|s| s.as_str()).unwrap_or("–"),
                opt(&goal.target_date),
                opt(&goal.review_date),
                actions.join("; ")
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>\n");

    // Contacts.
    let mut visits: Vec<_> = c.visits.iter().collect();
    visits.sort_by(|a, b| b.1.at.cmp(&a.1.at));
    let _ = write!(
        o,
        "<section aria-labelledby=\"s-visits\"><h2 id=\"s-visits\">Contacts ({})</h2>",
        visits.len()
    );
    if !visits.is_empty() {
        o.push_str("<table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Kind</th><th scope=\"col\">Outcome</th><th scope=\"col\">Recorded by</th><th scope=\"col\">Sign-off</th><th scope=\"col\">Note</th></tr></thead><tbody>");
        for (vid, x) in visits {
            let _ = write!(
                o,
                "<tr data-visit=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                esc(vid),
                esc(&when(&x.at)),
                x.kind,
                x.outcome,
                opt(&x.recorded_by),
                x.review,
                esc(&x.note),
                x.her_words
                    .as_deref()
                    .map(|w| format!("<br><q>{}</q>", esc(w)))
                    .unwrap_or_default()
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>\n");

    // Concerns, consents, referrals, meetings, events.
    o.push_str("<section aria-labelledby=\"s-other\"><h2 id=\"s-other\">Concerns, consent, referrals, meetings, events</h2><ul>");
    for x in c.concerns.values() {
        let _ = write!(
            o,
            "<li>Concern ({}, {}): {} — {}</li>",
            x.severity,
            x.status.unwrap_or(ConcernStatus::Open),
            esc(&x.category),
            esc(&x.description)
        );
    }
    for x in c.consents.values() {
        let _ = write!(
            o,
            "<li>Consent: {} (given {}{})</li>",
            esc(&x.what),
            opt(&x.given_on),
            x.withdrawn_on
                .as_deref()
                .map(|w| format!(", withdrawn {}", esc(w)))
                .unwrap_or_default()
        );
    }
    for x in c.referrals.values() {
        let _ = write!(
            o,
            "<li>Referral {}: {} — {}</li>",
            esc(&x.date),
            esc(&x.agency),
            esc(&x.reason)
        );
    }
    for x in c.meetings.values() {
        let _ = write!(
            o,
            "<li>{} meeting {}: {}</li>",
            x.kind,
            esc(&x.date),
            esc(&x.summary)
        );
    }
    for x in c.events.values() {
        let _ = write!(o, "<li>Event {}: {}</li>", esc(&x.date), x.kind);
    }
    o.push_str("</ul></section>\n");

    o.push_str("<section aria-labelledby=\"s-timeline\"><h2 id=\"s-timeline\">Timeline</h2><ol class=\"timeline\">");
    for t in &timeline {
        let _ = write!(
            o,
            "<li><time>{}</time> {}</li>",
            esc(&when(&t.at)),
            esc(&t.summary)
        );
    }
    o.push_str("</ol></section>\n");
    Ok((c.profile.preferred_name.clone(), o))
}

pub fn queue(v: &mut Vault, csrf: &str) -> Result<String, Error> {
    let pending = v.pending_visits()?;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<p>{} visit(s) in the sign-off loop, oldest first. Only a supervisor of the case's team signs off or returns a visit, and never one she recorded herself.</p>",
        pending.len()
    );
    if pending.is_empty() {
        return Ok(o);
    }
    let mut cases: std::collections::HashMap<String, Case> = Default::default();
    o.push_str("<ol class=\"queue\" id=\"queue\">\n");
    for p in &pending {
        if !cases.contains_key(&p.case_id) {
            cases.insert(p.case_id.clone(), v.read_case(&p.case_id)?);
        }
        let visit = cases
            .get(&p.case_id)
            .and_then(|c| c.visits.get(&p.visit_id));
        let key = format!("{}-{}", short(&p.case_id), short(&p.visit_id));
        let _ = write!(
            o,
            "<li data-visit=\"{vid}\"><article aria-labelledby=\"q-{key}\"><h2 id=\"q-{key}\">{kind} contact with <a href=\"/case/{cid}\">{name}</a>, {at}</h2>\
<p>Outcome: {outcome}. Recorded by {by}. State: <strong>{review}</strong>{comment}.</p>",
            vid = esc(&p.visit_id),
            cid = esc(&p.case_id),
            name = esc(&p.preferred_name),
            kind = p.kind,
            at = esc(&when(&p.at)),
            outcome = p.outcome,
            by = opt(&p.recorded_by),
            review = p.review,
            comment = p
                .comment
                .as_deref()
                .map(|c| format!(" — returned with: “{}”", esc(c)))
                .unwrap_or_default(),
        );
        if let Some(x) = visit {
            let _ = write!(
                o,
                "<blockquote>{}</blockquote>{}{}",
                esc(&x.note),
                x.her_words
                    .as_deref()
                    .map(|w| format!("<p>In her words: <q>{}</q></p>", esc(w)))
                    .unwrap_or_default(),
                x.actions_agreed
                    .as_deref()
                    .map(|w| format!("<p>Actions agreed: {}</p>", esc(w)))
                    .unwrap_or_default()
            );
        }
        let ids = format!(
            "{}{}{}",
            hidden("csrf", csrf),
            hidden("case", &p.case_id),
            hidden("visit", &p.visit_id)
        );
        let _ = writeln!(
            o,
            "<div class=\"actions\"><form method=\"post\" action=\"/queue/sign-off\">{ids}<button type=\"submit\">Sign off</button></form>\
<form method=\"post\" action=\"/queue/return\">{ids}<label for=\"c-{key}\">Comment for the practitioner</label> <input id=\"c-{key}\" name=\"comment\" required maxlength=\"2000\"> <button type=\"submit\">Return for amendment</button></form></div></article></li>"
        );
    }
    o.push_str("</ol>\n");
    Ok(o)
}

fn select<T: Copy + PartialEq + std::fmt::Display>(
    id: &str,
    name: &str,
    label: &str,
    all: &[T],
    current: T,
) -> String {
    let mut o = format!("<label for=\"{id}\">{label}</label> <select id=\"{id}\" name=\"{name}\">");
    for x in all {
        let _ = write!(
            o,
            "<option value=\"{x}\"{}>{x}</option>",
            if *x == current { " selected" } else { "" }
        );
    }
    o.push_str("</select>");
    o
}

pub fn concerns(v: &mut Vault, csrf: &str) -> Result<String, Error> {
    let list = v.open_concerns()?;
    let mut o = format!(
        "<p>{} open concern(s), most severe first, then oldest.</p>\n",
        list.len()
    );
    if list.is_empty() {
        return Ok(o);
    }
    o.push_str("<ol class=\"queue\" id=\"concerns\">\n");
    for c in &list {
        let key = format!("{}-{}", short(&c.case_id), short(&c.concern_id));
        let _ = writeln!(
            o,
            "<li data-concern=\"{}\"><article aria-labelledby=\"k-{key}\"><h2 id=\"k-{key}\"><span class=\"sev sev-{sev}\">{sev}</span> {cat} — <a href=\"/case/{cid}\">{name}</a></h2>\
<p>Raised {raised}; {status}{esc_to}.</p>\
<form method=\"post\" action=\"/concerns/update\" class=\"inline\">{csrf}{case}{concern}{status_sel} {sev_sel} <label for=\"e-{key}\">Escalated to</label> <input id=\"e-{key}\" name=\"escalated_to\" value=\"{esc_val}\" maxlength=\"200\"> <button type=\"submit\">Update</button></form></article></li>",
            esc(&c.concern_id),
            sev = c.severity,
            cat = esc(&c.category),
            cid = esc(&c.case_id),
            name = esc(&c.preferred_name),
            raised = esc(&when(&c.raised_at)),
            status = c.status,
            esc_to = c
                .escalated_to
                .as_deref()
                .map(|e| format!(", escalated to {}", esc(e)))
                .unwrap_or_default(),
            csrf = hidden("csrf", csrf),
            case = hidden("case", &c.case_id),
            concern = hidden("concern", &c.concern_id),
            status_sel = select(
                &format!("s-{key}"),
                "status",
                "Status",
                ConcernStatus::ALL,
                c.status
            ),
            sev_sel = select(
                &format!("v-{key}"),
                "severity",
                "Severity",
                Severity::ALL,
                c.severity
            ),
            esc_val = c.escalated_to.as_deref().map(esc).unwrap_or_default(),
        );
    }
    o.push_str("</ol>\n");
    Ok(o)
}

pub fn conflicts(v: &mut Vault, csrf: &str) -> Result<String, Error> {
    let mut o = String::new();
    let mut any = false;
    let names: std::collections::HashMap<String, String> = v
        .caseload(true)?
        .into_iter()
        .map(|s| (s.id, s.preferred_name))
        .collect();
    for id in v.case_ids()? {
        let list = match v.conflicts(&id) {
            Ok(l) => l,
            Err(Error::CorruptRecord { .. } | Error::Document(_)) => continue,
            Err(e) => return Err(e),
        };
        for (n, c) in list.iter().enumerate() {
            any = true;
            let key = format!("{}-{n}", short(&id));
            let _ = write!(
                o,
                "<form method=\"post\" action=\"/conflicts/resolve\" class=\"conflict\">{}{}{}<fieldset><legend><a href=\"/case/{}\">{}</a>: <code>{}</code></legend>",
                hidden("csrf", csrf),
                hidden("case", &id),
                hidden("field", &c.field),
                esc(&id),
                esc(names.get(&id).map(String::as_str).unwrap_or(short(&id))),
                esc(&c.field)
            );
            for (i, val) in c.values.iter().enumerate() {
                let _ = write!(
                    o,
                    "<div><input type=\"radio\" id=\"p-{key}-{i}\" name=\"pick\" value=\"{}\"{}> <label for=\"p-{key}-{i}\"><code>{}</code> — {} on {} ({})</label></div>",
                    i + 1,
                    if i == 0 { " required" } else { "" },
                    esc(&val.value.to_string()),
                    esc(&val.by),
                    esc(short(&val.device)),
                    esc(&when(&val.at))
                );
            }
            o.push_str("<button type=\"submit\">Keep this value</button></fieldset></form>\n");
        }
    }
    if !any {
        o.push_str("<p>No conflicts: no field was edited differently on two devices.</p>");
    }
    Ok(o)
}

/// The report card page: the filters, and the HTML report in a frame.
pub fn report(
    query: &str,
    from: &str,
    to: &str,
    team: &str,
    practitioner: &str,
    names: &[String],
    error: Option<&str>,
) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<form method=\"get\" action=\"/report\" class=\"filters\"><fieldset><legend>Period and practitioner</legend>\
<label for=\"from\">From</label> <input type=\"date\" id=\"from\" name=\"from\" value=\"{}\"> \
<label for=\"to\">To</label> <input type=\"date\" id=\"to\" name=\"to\" value=\"{}\"> \
<label for=\"team\">Team</label> <input id=\"team\" name=\"team\" value=\"{}\" maxlength=\"200\"> \
<label for=\"practitioner\">Practitioner</label> <select id=\"practitioner\" name=\"practitioner\"><option value=\"\">all</option>",
        esc(from),
        esc(to),
        esc(team)
    );
    for n in names {
        let _ = write!(
            o,
            "<option{}>{}</option>",
            if n == practitioner { " selected" } else { "" },
            esc(n)
        );
    }
    o.push_str("</select> <button type=\"submit\">Show</button></fieldset></form>\n");
    if let Some(e) = error {
        let _ = writeln!(o, "<p class=\"error\" role=\"alert\">{}</p>", esc(e));
        return o;
    }
    let _ = writeln!(
        o,
        "<p>Only counts and percentages (definitions: <code>docs/REPORTS.md</code>). Download: <a href=\"/report.html?{q}&amp;download=1\">HTML</a> · <a href=\"/report.csv?{q}\">CSV</a> (numbers from 1 to 4 shown as “&lt; 5”).</p>\
<iframe id=\"report-frame\" title=\"Report card\" src=\"/report.html?{q}\"></iframe>",
        q = esc(query)
    );
    o
}

/// The query string for the report's own URLs.
pub fn report_query(from: &str, to: &str, team: &str, practitioner: &str) -> String {
    format!(
        "from={}&to={}&team={}&practitioner={}",
        percent_encode(from),
        percent_encode(to),
        percent_encode(team),
        percent_encode(practitioner)
    )
}

pub fn unlock(next: &str, csrf: &str, error: Option<&str>) -> String {
    let mut o = String::from(
        "<p>The vault locked itself after a while without use, as the apps do. Enter the passphrase to go on.</p>\n",
    );
    if let Some(e) = error {
        let _ = writeln!(o, "<p class=\"error\" role=\"alert\">{}</p>", esc(e));
    }
    let _ = writeln!(
        o,
        "<form method=\"post\" action=\"/unlock\" id=\"unlock\">{}{}<label for=\"passphrase\">Passphrase</label> <input type=\"password\" id=\"passphrase\" name=\"passphrase\" autocomplete=\"current-password\" required autofocus> <button type=\"submit\">Unlock</button></form>",
        hidden("csrf", csrf),
        hidden("next", next)
    );
    o
}
