//! Human and JSON renderings. With `--json` every command prints exactly one
//! JSON value on stdout; without it, short aligned text.

use outreach_core::case::doc::{Conflict, HistoryEntry};
use outreach_core::case::model::Case;
use outreach_core::vault::{CaseSummary, OpenConcern, TimelineEntry};
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
            println!("no cases yet: add one with `outreach case new --name NAME`");
            return;
        }
        println!(
            "{:<10} {:<24} {:<11} {:<30} CONCERNS",
            "ID", "NAME", "PHASE", "NEXT CONTACT DUE"
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
            println!(
                "{:<10} {:<24} {:<11} {:<21} {:<8} {}",
                short(&r.id),
                truncate(&r.preferred_name, 24),
                phase,
                opt(&r.next_contact_due),
                if r.overdue { "OVERDUE" } else { "" },
                concerns
            );
        }
    }

    pub fn case(&self, c: &Case, conflicts: usize) {
        if self.json {
            return print_json(c);
        }
        let p = &c.profile;
        println!("Case {}", c.id);
        println!("  Name:            {}", p.preferred_name);
        println!("  Legal name:      {}", opt(&p.legal_name));
        println!("  Date of birth:   {}", opt(&p.date_of_birth));
        println!("  Phone:           {}", opt(&p.phone));
        let yn = |b: Option<bool>| match b {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "not recorded",
        };
        println!(
            "  Safe contact:    text {}, voicemail {}",
            yn(p.safe_contact.text_ok),
            yn(p.safe_contact.voicemail_ok)
        );
        let g = &c.programme;
        println!(
            "  Phase:           {}",
            g.phase.map(|p| p.as_str()).unwrap_or("-")
        );
        println!("  Practitioners:   {}", g.practitioners.join(", "));
        println!("  Team:            {}", opt(&g.team));
        println!(
            "  Records:         {} visits, {} goals, {} concerns, {} scale readings",
            c.visits.len(),
            c.goals.len(),
            c.concerns.len(),
            c.scales.len()
        );
        let mut visits: Vec<_> = c.visits.iter().collect();
        visits.sort_by(|a, b| b.1.at.cmp(&a.1.at));
        for (id, v) in visits.iter().take(5) {
            let sign = match &v.sign_off {
                Some(s) => s.decision.as_str(),
                None => "awaiting sign-off",
            };
            println!(
                "    {} {} {} {} [{}] {}",
                v.at,
                short(id),
                v.kind,
                v.outcome,
                sign,
                truncate(&v.note, 60)
            );
        }
        for (id, g) in &c.goals {
            println!(
                "  Goal {} ({}): {} [{}]",
                short(id),
                g.domain,
                truncate(&g.text, 60),
                g.status.map(|s| s.as_str()).unwrap_or("-")
            );
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
            println!(
                "{:<20} {:<20} {:<8} {}",
                h.at,
                truncate(&h.by, 20),
                short(&h.device),
                h.what
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
