//! Read-side views over the caseload: what a practitioner sees first (who is
//! due or overdue a contact), what a supervisor sees first (open concerns,
//! most severe first), one case's timeline, and the subject access export.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Vault;
use crate::case::doc::{Conflict, HistoryEntry};
use crate::case::model::{Case, ConcernStatus, Outcome, Phase, Severity};
use crate::case::validate::instant_string;
use crate::error::{Error, Result};

/// One line of the caseload overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    pub id: String,
    pub preferred_name: String,
    pub phase: Option<Phase>,
    pub practitioners: Vec<String>,
    /// Most recent completed contact.
    pub last_contact: Option<String>,
    /// From the most recent contact that set one.
    pub next_contact_due: Option<String>,
    pub overdue: bool,
    pub open_concerns: u32,
    pub highest_open_severity: Option<Severity>,
    pub visits: u32,
    /// The case failed its integrity check: it is listed (so it is not silently
    /// missing from the caseload) but none of its content could be read.
    pub unreadable: bool,
}

/// An open (not closed) concern, for the supervisor's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenConcern {
    pub case_id: String,
    pub preferred_name: String,
    pub concern_id: String,
    pub category: String,
    pub severity: Severity,
    pub status: ConcernStatus,
    pub raised_at: String,
    pub escalated_to: Option<String>,
}

/// One dated item in a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: String,
    /// visit, concern, scale, goal, consent, referral, meeting, event
    pub kind: String,
    pub id: String,
    pub summary: String,
}

/// Identifies the JSON subject access export format (see docs/EXPORT.md).
pub const EXPORT_FORMAT: &str = "outreach.case-export.v1";

/// The subject access export of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseExport {
    pub format: String,
    pub exported_at: String,
    pub exported_by: String,
    pub case: Case,
    pub history: Vec<HistoryEntry>,
    pub conflicts: Vec<Conflict>,
}

fn is_open(status: Option<ConcernStatus>) -> bool {
    status != Some(ConcernStatus::Closed)
}

fn summarise(case: &Case, now: DateTime<Utc>) -> CaseSummary {
    let mut visits: Vec<_> = case.visits.values().collect();
    visits.sort_by(|a, b| a.at.cmp(&b.at));
    let last_contact = visits
        .iter()
        .rev()
        .find(|v| v.outcome == Outcome::Completed)
        .map(|v| v.at.clone());
    let next_contact_due = visits.iter().rev().find_map(|v| v.next_contact_due.clone());
    let now_s = instant_string(now);
    let overdue = next_contact_due
        .as_deref()
        .is_some_and(|d| d < now_s.as_str());
    let open: Vec<_> = case
        .concerns
        .values()
        .filter(|c| is_open(c.status))
        .collect();
    CaseSummary {
        id: case.id.clone(),
        preferred_name: case.profile.preferred_name.clone(),
        phase: case.programme.phase,
        practitioners: case.programme.practitioners.clone(),
        last_contact,
        next_contact_due,
        overdue,
        open_concerns: open.len() as u32,
        highest_open_severity: open.iter().map(|c| c.severity).max(),
        visits: case.visits.len() as u32,
        unreadable: false,
    }
}

impl Vault {
    /// Every case, ordered by next contact due (overdue first, cases with no
    /// contact planned last). Closed cases are included, after the others.
    pub fn caseload(&mut self) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        let mut out = Vec::new();
        for id in self.case_ids()? {
            match self.read_case(&id) {
                Ok(case) => out.push(summarise(&case, now)),
                // One damaged case must not hide the rest of the caseload.
                Err(Error::CorruptRecord { .. } | Error::Document(_)) => out.push(CaseSummary {
                    id,
                    preferred_name: String::new(),
                    phase: None,
                    practitioners: Vec::new(),
                    last_contact: None,
                    next_contact_due: None,
                    overdue: false,
                    open_concerns: 0,
                    highest_open_severity: None,
                    visits: 0,
                    unreadable: true,
                }),
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| {
            let closed = |s: &CaseSummary| s.phase == Some(Phase::Closed);
            closed(a)
                .cmp(&closed(b))
                .then_with(|| match (&a.next_contact_due, &b.next_contact_due) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                })
                .then_with(|| a.preferred_name.cmp(&b.preferred_name))
        });
        Ok(out)
    }

    /// Open concerns across the caseload, most severe first, then oldest.
    pub fn open_concerns(&mut self) -> Result<Vec<OpenConcern>> {
        let mut out = Vec::new();
        for id in self.case_ids()? {
            let case = match self.read_case(&id) {
                Ok(case) => case,
                // Listed as unreadable by `caseload`; its concerns cannot be shown.
                Err(Error::CorruptRecord { .. } | Error::Document(_)) => continue,
                Err(e) => return Err(e),
            };
            for (cid, c) in &case.concerns {
                if is_open(c.status) {
                    out.push(OpenConcern {
                        case_id: case.id.clone(),
                        preferred_name: case.profile.preferred_name.clone(),
                        concern_id: cid.clone(),
                        category: c.category.clone(),
                        severity: c.severity,
                        status: c.status.unwrap_or(ConcernStatus::Open),
                        raised_at: c.raised_at.clone(),
                        escalated_to: c.escalated_to.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.raised_at.cmp(&b.raised_at))
        });
        Ok(out)
    }

    /// Everything dated in a case, newest first.
    pub fn timeline(&mut self, case: &str) -> Result<Vec<TimelineEntry>> {
        let c = self.read_case(case)?;
        let mut out = Vec::new();
        let mut push = |at: &str, kind: &str, id: &str, summary: String| {
            out.push(TimelineEntry {
                at: at.to_string(),
                kind: kind.to_string(),
                id: id.to_string(),
                summary,
            })
        };
        for (id, v) in &c.visits {
            push(
                &v.at,
                "visit",
                id,
                format!("{} contact, {}", v.kind, v.outcome),
            );
        }
        for (id, x) in &c.concerns {
            push(
                &x.raised_at,
                "concern",
                id,
                format!("{} concern: {}", x.severity, x.category),
            );
        }
        for (id, s) in &c.scales {
            push(&s.date, "scale", id, format!("scaling {}/10", s.score));
        }
        for (id, g) in &c.goals {
            let at = g.created_at.clone().unwrap_or_default();
            push(&at, "goal", id, format!("goal ({})", g.domain));
        }
        for (id, x) in &c.consents {
            push(
                x.given_on.as_deref().unwrap_or(""),
                "consent",
                id,
                "consent recorded".into(),
            );
        }
        for (id, r) in &c.referrals {
            push(&r.date, "referral", id, format!("referral to {}", r.agency));
        }
        for (id, m) in &c.meetings {
            push(&m.date, "meeting", id, format!("{} meeting", m.kind));
        }
        for (id, e) in &c.events {
            push(&e.date, "event", id, e.kind.to_string());
        }
        out.sort_by(|a, b| b.at.cmp(&a.at));
        Ok(out)
    }

    /// The full subject access export of one case.
    pub fn export_json(&mut self, case: &str) -> Result<CaseExport> {
        let data = self.read_case(case)?;
        Ok(CaseExport {
            format: EXPORT_FORMAT.to_string(),
            exported_at: instant_string(self.now()),
            exported_by: self.settings()?.practitioner.clone(),
            history: self.history(case)?,
            conflicts: self.conflicts(case)?,
            case: data,
        })
    }
}
