//! Human and JSON renderings. With `--json` every command prints exactly one
//! JSON value on stdout; without it, short aligned text.

use outreach_core::case::doc::{Conflict, HistoryEntry};
use outreach_core::case::model::{Case, SosStatus};
use outreach_core::vault::{AccessEntry, CaseSummary, OpenConcern, PendingVisit, TimelineEntry};
use serde::Serialize;
use serde_json::{Value, json};

pub struct Out {
    pub json: bool,
}

fn print_json<T: Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(_) => println!("null"),
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

impl Out {
    pub fn id(&self, id: &str) {
        if self.json {
            print_json(&json!({ "id": id }));
        } else {
            println!("{id}");
        }
    }

    pub fn done(&self, text: &str, value: Value) {
        if self.json {
            print_json(&value);
        } else {
            println!("{text}");
        }
    }

    pub fn caseload(&self, rows: &[CaseSummary]) {
        if self.json {
            return print_json(&rows);
        }
        if rows.is_empty() {
            println!(
                "no open cases: add one with `outreach case new --name NAME` (closed ones: `case list --all`)"
            );
            return;
        }
        println!(
            "{:<10} {:<20} {:<11} {:<21} {:<8} {:<14} {:<15} CONCERNS",
            "ID", "NAME", "PHASE", "NEXT CONTACT DUE", "", "NOT SEEN", "PROGRAMME"
        );
        for r in rows {
            if r.unreadable {
                println!(
                    "{:<10} (this case failed its integrity check and cannot be shown)",
                    short(&r.id)
                );
                continue;
            }
            let phase = r.phase.map(|p| p.as_str()).unwrap_or("-");
            let concerns = match r.highest_open_severity {
                Some(s) => format!("{} open (highest {})", r.open_concerns, s),
                None => "-".into(),
            };
            let c = &r.contact;
            let seen = match (c.not_seen_days, &c.last_seen) {
                (Some(d), Some(_)) => format!("{d} day{}", if d == 1 { "" } else { "s" }),
                (Some(d), None) => format!("never ({d}d)"),
                _ => "-".into(),
            };
            let due = match &c.next_contact_due {
                Some(d) if c.last_contact_attempt => format!("{d}*"),
                Some(d) => d.clone(),
                None => "-".into(),
            };
            let programme = match (&r.planned_end, r.ending_soon) {
                (Some(e), true) => format!("ENDS {e}"),
                (Some(e), false) => format!("ends {e}"),
                _ => "-".into(),
            };
            println!(
                "{:<10} {:<20} {:<11} {:<21} {:<8} {:<14} {:<15} {}",
                short(&r.id),
                truncate(&r.preferred_name, 20),
                phase,
                due,
                if c.overdue { "OVERDUE" } else { "" },
                seen,
                programme,
                concerns
            );
        }
        if rows.iter().any(|r| r.contact.last_contact_attempt) {
            println!("* the last contact was an attempt (no answer, cancelled…)");
        }
    }

    pub fn pending(&self, rows: &[PendingVisit]) {
        if self.json {
            return print_json(&rows);
        }
        if rows.is_empty() {
            println!("no visits awaiting sign-off");
        }
        for p in rows {
            println!(
                "{:<20} case {} visit {} {:<20} {:<10} {} {}",
                p.at,
                short(&p.case_id),
                short(&p.visit_id),
                truncate(&p.preferred_name, 20),
                p.kind,
                p.review,
                p.comment
                    .as_deref()
                    .map(|c| format!("— \"{}\"", truncate(c, 60)))
                    .unwrap_or_default()
            );
        }
    }

    pub fn case(&self, c: &Case, conflicts: usize) {
        if self.json {
            return print_json(c);
        }
        let p = &c.profile;
        let yn = |b: Option<bool>| match b {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "not recorded",
        };
        println!("Case {}", c.id);
        let sc = &p.safe_contact;
        println!(
            "  Safe contact:    text {}, voicemail {}, code word {}",
            yn(sc.text_ok),
            yn(sc.voicemail_ok),
            opt(&sc.code_word)
        );
        if let Some(n) = &sc.notes {
            println!("                   {}", truncate(n, 80));
        }
        println!("  Name:            {}", p.preferred_name);
        println!("  Legal name:      {}", opt(&p.legal_name));
        println!("  Date of birth:   {}", opt(&p.date_of_birth));
        println!("  Phone:           {}", opt(&p.phone));
        println!(
            "  Address:         {}",
            opt(&p.address).lines().next().unwrap_or("-")
        );
        println!("  Care leaver:     {}", yn(p.care_leaver));
        let ch = &p.children;
        println!(
            "  Children:        {} (ages {}; legal status {}; contact {})",
            ch.count
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            opt(&ch.age_bands),
            opt(&ch.legal_status),
            opt(&ch.contact_arrangements)
        );
        for pro in p.professionals.values() {
            println!(
                "  Professional:    {} — {} {} {}",
                pro.role,
                pro.name,
                opt(&pro.organisation),
                opt(&pro.phone)
            );
        }
        let g = &c.programme;
        println!(
            "  Phase:           {}",
            g.phase.map(|p| p.as_str()).unwrap_or("-")
        );
        println!(
            "  Referral:        {} from {}",
            opt(&g.referral_date),
            opt(&g.referral_source)
        );
        let end = outreach_core::practice::planned_end(g).map(|d| d.format("%Y-%m-%d").to_string());
        println!(
            "  Programme:       start {}, planned end {}",
            opt(&g.start_date),
            opt(&end)
        );
        if g.closed_on.is_some() {
            println!(
                "  Closed:          {} ({}) {}",
                opt(&g.closed_on),
                opt(&g.exit_reason),
                g.exit_note
                    .as_deref()
                    .map(|n| truncate(n, 60))
                    .unwrap_or_default()
            );
        }
        println!("  Practitioners:   {}", g.practitioners.join(", "));
        let mut holders: Vec<_> = g.holders.values().collect();
        holders.sort_by(|a, b| a.from.cmp(&b.from));
        for h in holders {
            println!(
                "    held by {} from {} to {}",
                h.name,
                h.from,
                h.to.as_deref().unwrap_or("now")
            );
        }
        println!("  Team:            {}", opt(&g.team));
        println!(
            "  Contact every:   {} days",
            g.contact_every_days
                .unwrap_or(outreach_core::practice::DEFAULT_CONTACT_EVERY_DAYS)
        );
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        println!(
            "  Records:         {}, {}, {}, {}",
            plural(c.visits.len(), "visit", "visits"),
            plural(c.goals.len(), "goal", "goals"),
            plural(c.concerns.len(), "concern", "concerns"),
            plural(c.scales.len(), "scale reading", "scale readings")
        );
        let mut visits: Vec<_> = c.visits.iter().collect();
        visits.sort_by(|a, b| b.1.at.cmp(&a.1.at));
        for (id, v) in &visits {
            println!(
                "    visit {} {} {} {} [{}] by {} {}",
                short(id),
                v.at,
                v.kind,
                v.outcome,
                v.review,
                opt(&v.recorded_by),
                truncate(&v.note, 50)
            );
            if let Some(s) = v.sign_off.as_ref().and_then(|s| s.comment.as_ref()) {
                println!("      comment: {}", truncate(s, 70));
            }
        }
        for (id, g) in &c.goals {
            println!(
                "  Goal {} ({}): {} [{}] target {}",
                short(id),
                g.domain,
                truncate(&g.text, 60),
                g.status.map(|s| s.as_str()).unwrap_or("-"),
                opt(&g.target_date)
            );
            for (aid, a) in &g.actions {
                println!(
                    "    action {} {} (due {}, done {})",
                    short(aid),
                    truncate(&a.text, 50),
                    opt(&a.due),
                    opt(&a.done)
                );
            }
        }
        let sos = &c.signs_of_safety;
        let status = |s: Option<SosStatus>| s.unwrap_or(SosStatus::Open).as_str();
        for (title, col) in [
            ("Worry", &sos.worries),
            ("Working well", &sos.working_well),
            ("Needs to happen", &sos.needs_to_happen),
        ] {
            for (id, e) in col {
                println!(
                    "  {title} {} [{}{}]: {}",
                    short(id),
                    status(e.status),
                    e.kind.map(|k| format!(", {k}")).unwrap_or_default(),
                    truncate(&e.text, 60)
                );
            }
        }
        for (id, d) in &sos.danger_statements {
            println!(
                "  Danger statement {} [{}]: {} / safety goal: {}",
                short(id),
                status(d.status),
                truncate(&d.danger, 40),
                truncate(&d.safety_goal, 40)
            );
        }
        let mut scales: Vec<_> = c.scales.iter().collect();
        scales.sort_by(|a, b| a.1.date.cmp(&b.1.date));
        for (id, s) in scales {
            println!(
                "  Scale {} {}: {}/10 ({}) {}",
                short(id),
                s.date,
                s.score,
                s.view.map(|v| v.as_str()).unwrap_or("-"),
                s.question
                    .as_deref()
                    .map(|q| truncate(q, 50))
                    .unwrap_or_default()
            );
        }
        for (id, x) in &c.concerns {
            println!(
                "  Concern {} {} {} [{}]",
                short(id),
                x.severity,
                truncate(&x.category, 30),
                x.status.map(|s| s.as_str()).unwrap_or("open")
            );
        }
        for (id, x) in &c.consents {
            println!(
                "  Consent {} {} given {}{}",
                short(id),
                truncate(&x.what, 40),
                opt(&x.given_on),
                x.withdrawn_on
                    .as_deref()
                    .map(|w| format!(", WITHDRAWN {w}"))
                    .unwrap_or_default()
            );
        }
        for (id, r) in &c.referrals {
            println!(
                "  Referral {} {} to {}",
                short(id),
                r.date,
                truncate(&r.agency, 30)
            );
        }
        for (id, m) in &c.meetings {
            println!("  Meeting {} {} {}", short(id), m.date, m.kind);
        }
        for (id, e) in &c.events {
            println!("  Event {} {} {}", short(id), e.date, e.kind);
        }
        if !c.unreadable.is_empty() {
            println!(
                "  {} record(s) written by a newer version could not be shown",
                c.unreadable.len()
            );
        }
        if conflicts > 0 {
            println!(
                "  {conflicts} conflict(s): see `outreach conflicts {}`",
                short(&c.id)
            );
        }
    }

    pub fn timeline(&self, rows: &[TimelineEntry]) {
        if self.json {
            return print_json(&rows);
        }
        for t in rows {
            println!("{:<20} {:<9} {} {}", t.at, t.kind, short(&t.id), t.summary);
        }
    }

    pub fn concerns(&self, rows: &[OpenConcern]) {
        if self.json {
            return print_json(&rows);
        }
        if rows.is_empty() {
            println!("no open concerns");
        }
        for c in rows {
            println!(
                "{:<6} {:<10} {:<24} {:<20} {} {}",
                c.severity.as_str().to_uppercase(),
                short(&c.case_id),
                truncate(&c.preferred_name, 24),
                truncate(&c.category, 20),
                c.raised_at,
                c.escalated_to
                    .as_deref()
                    .map(|e| format!("escalated to {e}"))
                    .unwrap_or_default()
            );
        }
    }

    pub fn conflicts(&self, rows: &[Conflict]) {
        if self.json {
            return print_json(&rows);
        }
        if rows.is_empty() {
            println!("no conflicts");
        }
        for c in rows {
            println!("{}:", c.field);
            for (i, v) in c.values.iter().enumerate() {
                println!(
                    "  {}. {}  (by {} on device {}, {})",
                    i + 1,
                    v.value,
                    v.by,
                    short(&v.device),
                    v.at
                );
            }
        }
    }

    pub fn history(&self, rows: &[HistoryEntry]) {
        if self.json {
            return print_json(&rows);
        }
        for h in rows {
            let by = match &h.role {
                Some(r) => format!("{} ({r})", h.by),
                None => h.by.clone(),
            };
            println!(
                "{:<20} {:<32} {:<8} {}",
                h.at,
                truncate(&by, 32),
                short(&h.device),
                h.what
            );
        }
    }

    pub fn access_log(&self, rows: &[AccessEntry]) {
        if self.json {
            return print_json(&rows);
        }
        if rows.is_empty() {
            println!("nothing exported from this device");
        }
        for e in rows {
            println!(
                "{:>4}  {:<20} {:<7} {}  {:<9} {} ({})",
                e.id,
                e.at,
                e.action,
                e.case_id,
                opt(&e.format),
                truncate(&e.by, 32),
                short(&e.device)
            );
        }
    }
}

/// The first 8 characters (ids come from other devices too: never slice bytes).
fn short(s: &str) -> String {
    s.chars().take(8).collect()
}

fn truncate(s: &str, n: usize) -> String {
    let first_line = s.lines().next().unwrap_or("");
    if first_line.chars().count() > n {
        let t: String = first_line.chars().take(n.saturating_sub(1)).collect();
        format!("{t}…")
    } else {
        first_line.to_string()
    }
}
