//! The report card as text, JSON, CSV or one self-contained HTML file.
//! Text and JSON are exact; CSV and HTML, meant to be sent on, show small
//! numbers as "< 5" unless `exact` (counts from 1 to 4, and percentages
//! and medians taken over fewer than 5).

use std::fmt::Write as _;

use super::{BetterOff, HowMuch, HowWell, Report, SMALL_NUMBER, chart};
use crate::case::model::{ContactKind, ExitReason};
use crate::error::ValidationError;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
    Html,
}

impl Format {
    pub const ALL: &'static [Format] = &[Format::Text, Format::Json, Format::Csv, Format::Html];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Html => "html",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Format, ValidationError> {
        let t = s.trim().to_ascii_lowercase();
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == t)
            .ok_or_else(|| ValidationError::new(field, "must be one of: text, json, csv, html"))
    }
}

/// Which of the three questions a figure answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    HowMuch,
    HowWell,
    BetterOff,
}

impl Question {
    pub fn key(self) -> &'static str {
        match self {
            Question::HowMuch => "how_much",
            Question::HowWell => "how_well",
            Question::BetterOff => "better_off",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Question::HowMuch => "How much did we do?",
            Question::HowWell => "How well did we do it?",
            Question::BetterOff => "Is anyone better off?",
        }
    }
}

/// One figure of the card: its JSON key, label and one-line definition
/// (the full definitions are in `docs/REPORTS.md`).
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub question: Question,
    pub key: &'static str,
    pub label: &'static str,
    pub definition: &'static str,
}

const fn fig(
    question: Question,
    key: &'static str,
    label: &'static str,
    definition: &'static str,
) -> Figure {
    Figure {
        question,
        key,
        label,
        definition,
    }
}

/// Every scalar figure, in the order shown.
pub const FIGURES: &[Figure] = &[
    fig(
        Question::HowMuch,
        "active_cases",
        "Active cases",
        "cases open at any time in the period",
    ),
    fig(
        Question::HowMuch,
        "new_referrals",
        "New referrals",
        "cases whose referral date (else opening) is in the period",
    ),
    fig(
        Question::HowMuch,
        "closures",
        "Closures",
        "cases closed in the period",
    ),
    fig(
        Question::HowMuch,
        "contacts_completed",
        "Contacts completed",
        "contacts in the period that reached her (completed, not an attempt)",
    ),
    fig(
        Question::HowMuch,
        "contacts_attempted",
        "Contacts attempted",
        "attempts in the period (kind attempted, or an outcome other than completed)",
    ),
    fig(
        Question::HowMuch,
        "meetings",
        "Meetings",
        "FGC, network, professionals and review meetings dated in the period",
    ),
    fig(
        Question::HowMuch,
        "referrals_made",
        "Referrals made",
        "referrals to other agencies dated in the period",
    ),
    fig(
        Question::HowWell,
        "contacts_on_time_pct",
        "Contacts on time",
        "% of contacts in the period made by the moment the contact rule had them due",
    ),
    fig(
        Question::HowWell,
        "overdue_cases",
        "Overdue cases",
        "cases open at the end of the period (or now) whose next contact was overdue then",
    ),
    fig(
        Question::HowWell,
        "visits_signed_off_pct",
        "Visits signed off",
        "% of contacts in the period with a valid supervisor sign-off",
    ),
    fig(
        Question::HowWell,
        "median_days_to_sign_off",
        "Median days to sign-off",
        "median time from recording a contact to its valid sign-off, in days",
    ),
    fig(
        Question::HowWell,
        "plans_reviewed_in_period_pct",
        "Plans reviewed",
        "% of active cases with a support plan that had a review meeting in the period",
    ),
    fig(
        Question::BetterOff,
        "scaling_improved_pct",
        "Scaling improved",
        "% of active cases with 2+ scaling readings (latest in the period) whose latest is above the first",
    ),
    fig(
        Question::BetterOff,
        "scaling_fell_pct",
        "Scaling fell",
        "% of the same cases whose latest reading is below the first",
    ),
    fig(
        Question::BetterOff,
        "goals_achieved_pct",
        "Goals achieved",
        "% of support-plan goals (contraception aside) of active cases marked achieved",
    ),
    fig(
        Question::BetterOff,
        "pause_agreed_pct",
        "Pause agreed",
        "% of active cases with a contraception goal (pause agreed) not stopped",
    ),
    fig(
        Question::BetterOff,
        "completed_programme",
        "Completed the programme",
        "cases closed in the period with exit reason completed",
    ),
];

/// A figure's value: a count, or a percentage/median with what it is
/// taken over.
#[derive(Debug, Clone, Copy)]
enum Value {
    Count(u64),
    Rate { value: Option<f64>, over: u64 },
}

fn value(fig: &Figure, m: &HowMuch, w: &HowWell, b: &BetterOff) -> Value {
    use Value::{Count, Rate};
    let d = &w.denominators;
    let e = &b.denominators;
    match fig.key {
        "active_cases" => Count(m.active_cases),
        "new_referrals" => Count(m.new_referrals),
        "closures" => Count(m.closures),
        "contacts_completed" => Count(m.contacts_completed),
        "contacts_attempted" => Count(m.contacts_attempted),
        "meetings" => Count(m.meetings),
        "referrals_made" => Count(m.referrals_made),
        "contacts_on_time_pct" => Rate {
            value: w.contacts_on_time_pct,
            over: d.contacts_on_time,
        },
        "overdue_cases" => Count(w.overdue_cases),
        "visits_signed_off_pct" => Rate {
            value: w.visits_signed_off_pct,
            over: d.visits_signed_off,
        },
        "median_days_to_sign_off" => Rate {
            value: w.median_days_to_sign_off,
            over: d.median_days_to_sign_off,
        },
        "plans_reviewed_in_period_pct" => Rate {
            value: w.plans_reviewed_in_period_pct,
            over: d.plans_reviewed_in_period,
        },
        "scaling_improved_pct" => Rate {
            value: b.scaling_improved_pct,
            over: e.scaling,
        },
        "scaling_fell_pct" => Rate {
            value: b.scaling_fell_pct,
            over: e.scaling,
        },
        "goals_achieved_pct" => Rate {
            value: b.goals_achieved_pct,
            over: e.goals_achieved,
        },
        "pause_agreed_pct" => Rate {
            value: b.pause_agreed_pct,
            over: e.pause_agreed,
        },
        "completed_programme" => Count(b.completed_programme),
        _ => Count(0),
    }
}

/// Shown in place of a small number.
pub const SMALL: &str = "< 5";
/// Shown in place of a rate taken over a small number.
pub const SMALL_BASE: &str = "n < 5";

fn is_small(n: u64) -> bool {
    (1..SMALL_NUMBER).contains(&n)
}

/// A count as CSV and HTML show it.
pub(super) fn count_shown(n: u64, exact: bool) -> String {
    if !exact && is_small(n) {
        SMALL.to_string()
    } else {
        n.to_string()
    }
}

fn number(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn shown(fig: &Figure, val: Value, exact: bool, empty: &str) -> String {
    match val {
        Value::Count(n) => count_shown(n, exact),
        Value::Rate { value: None, .. } => empty.to_string(),
        Value::Rate { over, .. } if !exact && is_small(over) => SMALL_BASE.to_string(),
        Value::Rate { value: Some(x), .. } if fig.key.ends_with("_pct") => number(x),
        Value::Rate { value: Some(x), .. } => number(x),
    }
}

fn text_value(fig: &Figure, val: Value) -> String {
    match val {
        Value::Count(n) => n.to_string(),
        Value::Rate { value: None, over } => format!("no data (of {over})"),
        Value::Rate {
            value: Some(x),
            over,
        } if fig.key.ends_with("_pct") => format!("{} % (of {over})", number(x)),
        Value::Rate {
            value: Some(x),
            over,
        } => format!("{} (of {over})", number(x)),
    }
}

/// The report in `format`. `exact` shows small numbers in CSV and HTML
/// (text and JSON are always exact).
pub fn render(r: &Report, format: Format, exact: bool) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(r).unwrap_or_else(|_| "null".into());
            s.push('\n');
            s
        }
        Format::Text => text(r),
        Format::Csv => csv(r, exact),
        Format::Html => html(r, exact),
    }
}

fn scope_line(r: &Report) -> String {
    let mut s = format!("{} to {}", r.period.from, r.period.to);
    if let Some(t) = &r.team {
        let _ = write!(s, ", team {t}");
    }
    if let Some(p) = &r.practitioner {
        let _ = write!(s, ", practitioner {p}");
    }
    s
}

fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Report card, {}", scope_line(r));
    let _ = writeln!(
        o,
        "{} case(s) held here match{}",
        r.cases,
        if r.unreadable_cases > 0 {
            format!(
                "; {} case(s) failed their integrity check and are not counted",
                r.unreadable_cases
            )
        } else {
            String::new()
        }
    );
    for q in [Question::HowMuch, Question::HowWell, Question::BetterOff] {
        let _ = writeln!(o, "\n{}", q.title());
        for f in FIGURES.iter().filter(|f| f.question == q) {
            let val = value(f, &r.how_much, &r.how_well, &r.better_off);
            let _ = writeln!(o, "  {:<26} {}", f.label, text_value(f, val));
            if f.key == "contacts_attempted" {
                let kinds: Vec<String> = ContactKind::ALL
                    .iter()
                    .map(|k| {
                        let n = r.how_much.contacts_by_kind.get(k.as_str()).copied();
                        format!("{} {}", k.as_str(), n.unwrap_or(0))
                    })
                    .collect();
                let _ = writeln!(o, "  {:<26} {}", "  by kind", kinds.join(", "));
            }
            if f.key == "completed_programme" {
                let reasons: Vec<String> = ExitReason::ALL
                    .iter()
                    .filter_map(|k| {
                        let n = r.better_off.exits_by_reason.get(k.as_str()).copied()?;
                        (n > 0).then(|| format!("{} {n}", k.as_str()))
                    })
                    .collect();
                if !reasons.is_empty() {
                    let _ = writeln!(o, "  {:<26} {}", "  exits by reason", reasons.join(", "));
                }
            }
        }
    }
    if !r.by_practitioner.is_empty() {
        let _ = writeln!(o, "\nBy practitioner");
        let _ = writeln!(
            o,
            "  {:<20} {:>6} {:>7} {:>9} {:>8} {:>8} {:>10} {:>8}",
            "NAME", "CASES", "ACTIVE", "CONTACTS", "ON TIME", "OVERDUE", "SIGNED OFF", "SCALING+"
        );
        let p = |x: Option<f64>| x.map(|x| format!("{} %", number(x))).unwrap_or("-".into());
        for c in &r.by_practitioner {
            let _ = writeln!(
                o,
                "  {:<20} {:>6} {:>7} {:>9} {:>8} {:>8} {:>10} {:>8}",
                c.name,
                c.cases,
                c.how_much.active_cases,
                c.how_much.contacts_completed + c.how_much.contacts_attempted,
                p(c.how_well.contacts_on_time_pct),
                c.how_well.overdue_cases,
                p(c.how_well.visits_signed_off_pct),
                p(c.better_off.scaling_improved_pct),
            );
        }
    }
    let _ = writeln!(
        o,
        "\nDefinitions: docs/REPORTS.md. Only counts and percentages: no names of women, no notes."
    );
    o
}

/// One CSV field: quoted when needed, and a leading `= + - @` defused so a
/// spreadsheet never runs it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_groups(o: &mut String, scope: &str, m: &HowMuch, w: &HowWell, b: &BetterOff, exact: bool) {
    let mut row = |q: &str, key: &str, val: String| {
        let _ = writeln!(o, "{},{},{},{}", csv_field(scope), q, key, csv_field(&val));
    };
    for f in FIGURES {
        let val = value(f, m, w, b);
        row(f.question.key(), f.key, shown(f, val, exact, ""));
        if f.key == "contacts_attempted" {
            for k in ContactKind::ALL {
                let n = m.contacts_by_kind.get(k.as_str()).copied().unwrap_or(0);
                row(
                    "how_much",
                    &format!("contacts_by_kind.{}", k.as_str()),
                    count_shown(n, exact),
                );
            }
        }
        if f.key == "completed_programme" {
            for k in ExitReason::ALL {
                let n = b.exits_by_reason.get(k.as_str()).copied().unwrap_or(0);
                row(
                    "better_off",
                    &format!("exits_by_reason.{}", k.as_str()),
                    count_shown(n, exact),
                );
            }
        }
    }
}

fn csv(r: &Report, exact: bool) -> String {
    let mut o = String::from("scope,question,figure,value\n");
    let meta = [
        ("period_from", r.period.from.clone()),
        ("period_to", r.period.to.clone()),
        ("team", r.team.clone().unwrap_or_default()),
        ("practitioner", r.practitioner.clone().unwrap_or_default()),
        ("cases", count_shown(r.cases, exact)),
        ("unreadable_cases", count_shown(r.unreadable_cases, exact)),
    ];
    for (k, v) in meta {
        let _ = writeln!(o, "report,,{k},{}", csv_field(&v));
    }
    csv_groups(
        &mut o,
        "all",
        &r.how_much,
        &r.how_well,
        &r.better_off,
        exact,
    );
    for p in &r.by_practitioner {
        let scope = format!("practitioner:{}", p.name);
        let _ = writeln!(
            o,
            "{},,cases,{}",
            csv_field(&scope),
            count_shown(p.cases, exact)
        );
        csv_groups(
            &mut o,
            &scope,
            &p.how_much,
            &p.how_well,
            &p.better_off,
            exact,
        );
    }
    o
}

/// Escapes text for HTML content and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#fff;margin:0;line-height:1.45}
main{max-width:60rem;margin:0 auto;padding:1rem 1.25rem 3rem}
h1{font-size:1.6rem;margin:.5rem 0}
h2{font-size:1.3rem;margin:2rem 0 .5rem;border-bottom:2px solid #1f4e79;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.def{color:#444;font-size:.9rem}
.meta,.note{color:#333}
figure{margin:1rem 0}
figcaption{font-weight:600;margin-bottom:.3rem}
svg{max-width:100%;height:auto}
.wide{overflow-x:auto}
@media print{h2{break-after:avoid}figure{break-inside:avoid}}
";

fn html_table(o: &mut String, q: Question, r: &Report, exact: bool) {
    o.push_str("<table><thead><tr><th scope=\"col\">Figure</th><th scope=\"col\" class=\"n\">Value</th><th scope=\"col\">What it counts</th></tr></thead><tbody>\n");
    for f in FIGURES.iter().filter(|f| f.question == q) {
        let val = value(f, &r.how_much, &r.how_well, &r.better_off);
        let mut v = esc(&shown(f, val, exact, "no data"));
        if f.key.ends_with("_pct") && v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            v.push_str(" %");
        }
        if let Value::Rate { over, .. } = val
            && (exact || !is_small(over))
            && over > 0
        {
            let _ = write!(v, " <span class=\"def\">(of {over})</span>");
        }
        let _ = writeln!(
            o,
            "<tr id=\"fig-{}\"><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"def\">{}</td></tr>",
            f.key,
            esc(f.label),
            v,
            esc(f.definition)
        );
        if f.key == "contacts_attempted" {
            let kinds: Vec<String> = ContactKind::ALL
                .iter()
                .map(|k| {
                    let n = r
                        .how_much
                        .contacts_by_kind
                        .get(k.as_str())
                        .copied()
                        .unwrap_or(0);
                    format!("{} {}", k.as_str(), esc(&count_shown(n, exact)))
                })
                .collect();
            let _ = writeln!(
                o,
                "<tr id=\"fig-contacts_by_kind\"><th scope=\"row\">Contacts by kind</th><td class=\"n\"></td><td class=\"def\">{}</td></tr>",
                kinds.join(" · ")
            );
        }
        if f.key == "completed_programme" {
            let reasons: Vec<String> = ExitReason::ALL
                .iter()
                .map(|k| {
                    let n = r
                        .better_off
                        .exits_by_reason
                        .get(k.as_str())
                        .copied()
                        .unwrap_or(0);
                    format!("{} {}", k.as_str(), esc(&count_shown(n, exact)))
                })
                .collect();
            let _ = writeln!(
                o,
                "<tr id=\"fig-exits_by_reason\"><th scope=\"row\">Closures by exit reason</th><td class=\"n\"></td><td class=\"def\">{}</td></tr>",
                reasons.join(" · ")
            );
        }
    }
    o.push_str("</tbody></table>\n");
}

fn html(r: &Report, exact: bool) -> String {
    let mut o = String::new();
    let title = format!("Pause report card, {}", scope_line(r));
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
<title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let _ = writeln!(
        o,
        "<p class=\"meta\">{} case(s) held on the reporting device match{}. Generated {}.</p>",
        esc(&count_shown(r.cases, exact)),
        if r.unreadable_cases > 0 {
            format!(
                "; {} failed their integrity check and are not counted",
                esc(&count_shown(r.unreadable_cases, exact))
            )
        } else {
            String::new()
        },
        esc(&r.generated_at)
    );
    let _ = writeln!(
        o,
        "<p class=\"note\">Only counts and percentages: no names of women and no notes. {} Definitions of every figure: <code>docs/REPORTS.md</code>.</p>",
        if exact {
            "Exact figures: small numbers are shown (do not send this version on)."
        } else {
            "Numbers from 1 to 4 are shown as “&lt; 5”, and percentages or medians taken over fewer than 5 as “n &lt; 5”."
        }
    );

    o.push_str(
        "<section aria-labelledby=\"how-much\">\n<h2 id=\"how-much\">How much did we do?</h2>\n",
    );
    html_table(&mut o, Question::HowMuch, r, exact);
    o.push_str(&chart::contacts_by_month(
        &r.charts.contacts_by_month,
        exact,
    ));
    o.push_str("</section>\n");

    o.push_str(
        "<section aria-labelledby=\"how-well\">\n<h2 id=\"how-well\">How well did we do it?</h2>\n",
    );
    html_table(&mut o, Question::HowWell, r, exact);
    o.push_str(&chart::sign_off_days(&r.charts.sign_off_days, exact));
    o.push_str("</section>\n");

    o.push_str("<section aria-labelledby=\"better-off\">\n<h2 id=\"better-off\">Is anyone better off?</h2>\n");
    html_table(&mut o, Question::BetterOff, r, exact);
    o.push_str(&chart::scaling_by_month(&r.charts.scaling_by_month, exact));
    o.push_str("</section>\n");

    if !r.by_practitioner.is_empty() {
        o.push_str("<section aria-labelledby=\"by-practitioner\">\n<h2 id=\"by-practitioner\">By practitioner</h2>\n<div class=\"wide\"><table>\n<thead><tr><th scope=\"col\">Practitioner</th>");
        let cols: Vec<&Figure> = FIGURES.iter().collect();
        let _ = write!(o, "<th scope=\"col\" class=\"n\">Cases</th>");
        for f in &cols {
            let _ = write!(o, "<th scope=\"col\" class=\"n\">{}</th>", esc(f.label));
        }
        o.push_str("</tr></thead><tbody>\n");
        for p in &r.by_practitioner {
            let _ = write!(
                o,
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td>",
                esc(&p.name),
                esc(&count_shown(p.cases, exact))
            );
            for f in &cols {
                let val = value(f, &p.how_much, &p.how_well, &p.better_off);
                let mut v = shown(f, val, exact, "–");
                if f.key.ends_with("_pct") && v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    v.push_str(" %");
                }
                let _ = write!(o, "<td class=\"n\">{}</td>", esc(&v));
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table></div>\n</section>\n");
    }
    o.push_str("</main>\n</body>\n</html>\n");
    o
}
