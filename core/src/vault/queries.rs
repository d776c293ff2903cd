//! Read-side views over the caseload: what a practitioner sees first (who is
//! due or overdue a contact), what a supervisor sees first (open concerns,
//! most severe first), one case's timeline, and the subject access export.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Vault;
use crate::case::model::{Case, ConcernStatus, ContactKind, Outcome, Phase, ReviewState, Severity};
use crate::crypto::{self, Aad, RecordKind};
use crate::error::{Error, Result};
use crate::practice::{ContactDue, ContactFacts};
use zeroize::Zeroizing;

/// One line of the caseload overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    pub id: String,
    pub preferred_name: String,
    pub phase: Option<Phase>,
    pub practitioners: Vec<String>,
    pub team: Option<String>,
    /// Contact due, overdue, last contact and "not seen for", by the one
    /// rule in `practice::due`.
    #[serde(flatten)]
    pub contact: ContactDue,
    /// Planned end of the programme (start + 18 months unless set).
    pub planned_end: Option<String>,
    /// Within eight weeks of the planned end (or past it), still open.
    pub ending_soon: bool,
    pub open_concerns: u32,
    pub highest_open_severity: Option<Severity>,
    pub visits: u32,
    /// Visits awaiting a supervisor's decision (new or amended).
    pub awaiting_sign_off: u32,
    /// Visits returned for amendment and not amended yet.
    pub returned: u32,
    /// The case failed its integrity check: it is listed (so it is not silently
    /// missing from the caseload) but none of its content could be read.
    pub unreadable: bool,
}

/// A visit in the sign-off loop, for `visit pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingVisit {
    pub case_id: String,
    pub preferred_name: String,
    pub visit_id: String,
    pub at: String,
    pub kind: ContactKind,
    pub outcome: Outcome,
    pub recorded_by: Option<String>,
    pub review: ReviewState,
    /// The supervisor's comment when it was returned.
    pub comment: Option<String>,
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

/// The export is built by [`crate::export::case_export`], shared with
/// `outreach recover`; re-exported here where the vault's callers look.
pub use crate::export::{CaseExport, EXPORT_FORMAT};

fn is_open(status: Option<ConcernStatus>) -> bool {
    status != Some(ConcernStatus::Closed)
}

/// What the caseload keeps of one case (sealed, in `case_summary`): every
/// fact the caseload's rules need, none that depends on the time of asking,
/// so a caseload never reads a case's history unless the case changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SummaryFacts {
    /// Hash of the directory the review counts were judged with.
    directory: String,
    preferred_name: String,
    phase: Option<Phase>,
    practitioners: Vec<String>,
    team: Option<String>,
    contact: ContactFacts,
    planned_end: Option<String>,
    open_concerns: u32,
    highest_open_severity: Option<Severity>,
    visits: u32,
    awaiting_sign_off: u32,
    returned: u32,
}

fn facts(case: &Case, opened: Option<DateTime<Utc>>, directory: &str) -> SummaryFacts {
    let open: Vec<_> = case
        .concerns
        .values()
        .filter(|c| is_open(c.status))
        .collect();
    let count = |states: &[ReviewState]| {
        case.visits
            .values()
            .filter(|v| states.contains(&v.review))
            .count() as u32
    };
    SummaryFacts {
        directory: directory.to_string(),
        preferred_name: case.profile.preferred_name.clone(),
        phase: case.programme.phase,
        practitioners: case.programme.practitioners.clone(),
        team: case.programme.team.clone(),
        contact: crate::practice::contact_facts(case, opened),
        planned_end: crate::practice::planned_end(&case.programme)
            .map(|d| d.format("%Y-%m-%d").to_string()),
        open_concerns: open.len() as u32,
        highest_open_severity: open.iter().map(|c| c.severity).max(),
        visits: case.visits.len() as u32,
        awaiting_sign_off: count(&[
            ReviewState::Awaiting,
            ReviewState::Amended,
            ReviewState::NotValid,
        ]),
        returned: count(&[ReviewState::Returned]),
    }
}

fn summary_at(id: String, f: SummaryFacts, now: DateTime<Utc>) -> CaseSummary {
    let end = f
        .planned_end
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    CaseSummary {
        id,
        contact: crate::practice::contact_due_from(&f.contact, now),
        ending_soon: crate::practice::ending_soon_at(end, f.contact.closed, now.date_naive()),
        preferred_name: f.preferred_name,
        phase: f.phase,
        practitioners: f.practitioners,
        team: f.team,
        planned_end: f.planned_end,
        open_concerns: f.open_concerns,
        highest_open_severity: f.highest_open_severity,
        visits: f.visits,
        awaiting_sign_off: f.awaiting_sign_off,
        returned: f.returned,
        unreadable: false,
    }
}

fn summary_aad(vault: [u8; 16], case: [u8; 16], upto: u64) -> Aad<'static> {
    Aad::new(vault, case, RecordKind::CaseSummary, b"summary", upto)
}

impl Vault {
    /// The caseload: open cases ordered by next contact due (overdue
    /// first). Closed cases leave it; `include_closed` lists them after the
    /// others. Read from each case's sealed summary; only a case written
    /// since its summary was made (or judged with another directory) is read
    /// whole — and not kept in memory afterwards unless it already was.
    pub fn caseload(&mut self, include_closed: bool) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        let vault_id = self.vault_id()?;
        let directory = blake3::hash(&serde_json::to_vec(&self.directory()?).unwrap_or_default())
            .to_hex()
            .to_string();
        let mut out = Vec::new();
        let mut fresh = Vec::new();
        for (case, last_seq, created, stored) in self.store()?.case_summaries()? {
            let id = uuid::Uuid::from_bytes(case).to_string();
            let kept = stored
                .filter(|(upto, _)| *upto == last_seq)
                .and_then(|(upto, body)| {
                    let drk = &self.unlocked().ok()?.drk;
                    let plain =
                        crypto::open(drk, &summary_aad(vault_id, case, upto), &body).ok()?;
                    serde_json::from_slice::<SummaryFacts>(&plain).ok()
                })
                .filter(|f| f.directory == directory);
            if let Some(f) = kept {
                out.push(summary_at(id, f, now));
                continue;
            }
            let was_loaded = self.unlocked()?.cases.contains_key(&case);
            match self.read_case(&id) {
                Ok(c) => {
                    let f = facts(&c, DateTime::from_timestamp(created, 0), &directory);
                    let plain = Zeroizing::new(serde_json::to_vec(&f).unwrap_or_default());
                    let sealed = crypto::seal(
                        &self.unlocked()?.drk,
                        &summary_aad(vault_id, case, last_seq),
                        &plain,
                    )?;
                    fresh.push((case, last_seq, sealed));
                    out.push(summary_at(id, f, now));
                }
                // One damaged case must not hide the rest of the caseload.
                Err(Error::CorruptRecord { .. } | Error::Document(_)) => out.push(CaseSummary {
                    id,
                    preferred_name: String::new(),
                    phase: None,
                    practitioners: Vec::new(),
                    team: None,
                    contact: ContactDue::default(),
                    planned_end: None,
                    ending_soon: false,
                    open_concerns: 0,
                    highest_open_severity: None,
                    visits: 0,
                    awaiting_sign_off: 0,
                    returned: 0,
                    unreadable: true,
                }),
                Err(e) => return Err(e),
            }
            if !was_loaded && let Some(u) = self.unlocked.as_mut() {
                u.cases.remove(&case);
            }
        }
        self.store_mut()?.put_case_summaries(&fresh)?;
        let closed = |s: &CaseSummary| s.phase == Some(Phase::Closed);
        if !include_closed {
            out.retain(|s| !closed(s));
        }
        out.sort_by(|a, b| {
            closed(a)
                .cmp(&closed(b))
                .then_with(
                    || match (&a.contact.next_contact_due, &b.contact.next_contact_due) {
                        (Some(x), Some(y)) => x.cmp(y),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    },
                )
                .then_with(|| a.preferred_name.cmp(&b.preferred_name))
        });
        Ok(out)
    }

    /// Visits in the sign-off loop, oldest first. A supervisor (enrolled as
    /// one) sees her team's visits awaiting a decision (new or amended) that
    /// she did not record; anyone else sees her own visits that await a
    /// decision or were returned — returned ones first, with the comment.
    pub fn pending_visits(&mut self) -> Result<Vec<PendingVisit>> {
        let me = self.identity()?;
        let label = self.settings()?.practitioner.clone();
        let supervisor = me.role == Some(outreach_protocol::Role::Supervisor);
        let mut out = Vec::new();
        for id in self.case_ids()? {
            let case = match self.read_case(&id) {
                Ok(c) => c,
                Err(Error::CorruptRecord { .. } | Error::Document(_)) => continue,
                Err(e) => return Err(e),
            };
            if case.programme.phase == Some(Phase::Closed) {
                continue;
            }
            for (vid, v) in &case.visits {
                let mine = crate::practice::recorded_by(
                    v,
                    me.user_id.as_deref(),
                    &[me.name.as_str(), label.as_str()],
                );
                let wanted = if supervisor && !mine {
                    case.programme.team.is_some()
                        && case.programme.team == me.team
                        && matches!(
                            v.review,
                            ReviewState::Awaiting | ReviewState::Amended | ReviewState::NotValid
                        )
                } else {
                    mine && v.review != ReviewState::SignedOff
                };
                if wanted {
                    out.push(PendingVisit {
                        case_id: case.id.clone(),
                        preferred_name: case.profile.preferred_name.clone(),
                        visit_id: vid.clone(),
                        at: v.at.clone(),
                        kind: v.kind,
                        outcome: v.outcome,
                        recorded_by: v.recorded_by.clone(),
                        review: v.review,
                        comment: v
                            .sign_off
                            .as_ref()
                            .filter(|_| v.review == ReviewState::Returned)
                            .and_then(|s| s.comment.clone()),
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (a.review != ReviewState::Returned)
                .cmp(&(b.review != ReviewState::Returned))
                .then_with(|| a.at.cmp(&b.at))
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

    /// What the subject access export of one case holds, **without
    /// recording an export** (for comparing replicas and for tests). The
    /// export a person takes away goes through [`Vault::export`], which
    /// records it in the access log and in the case first.
    pub fn export_json(&mut self, case: &str) -> Result<CaseExport> {
        let case = self.resolve_case(case)?;
        let dir = self.directory()?;
        let by = self.identity()?.name;
        let now = self.now();
        self.load_case(case)?;
        let u = self.unlocked_mut()?;
        let loaded = u.cases.get_mut(&case).ok_or(Error::UnknownCase)?;
        crate::export::case_export(&mut loaded.doc, &dir, &mut u.verified, now, &by)
    }
}
