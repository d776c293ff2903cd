//! Contact due, one rule: a case's next contact is due at the next-contact
//! date recorded with its **most recent** contact; where that contact set
//! none, at its time plus the case's contact interval (default 14 days); a
//! case with no contact yet is due its interval after it was opened.
//! Overdue = that moment has passed. Attempts (an attempted contact, or any
//! outcome other than completed) count as contacts for this rule — a worker
//! who knocked and got no answer has made contact work — but are shown as
//! attempts, and "not seen for N days" counts only completed face-to-face
//! contacts, so repeated attempts never hide a long silence.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::case::model::{Case, ContactKind, Outcome, Phase, Visit};
use crate::case::validate::instant_string;

/// Days between contacts when a contact sets no next date.
pub const DEFAULT_CONTACT_EVERY_DAYS: u32 = 14;

/// What the caseload shows about contact with one woman.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactDue {
    /// When the next contact is due (RFC 3339), by the rule above.
    pub next_contact_due: Option<String>,
    pub overdue: bool,
    /// The most recent contact of any kind or outcome.
    pub last_contact: Option<String>,
    /// The most recent contact was an attempt (no answer, cancelled…).
    pub last_contact_attempt: bool,
    /// The most recent completed face-to-face contact.
    pub last_seen: Option<String>,
    /// Whole days since `last_seen` (or since the case was opened, if she
    /// has not been seen yet).
    pub not_seen_days: Option<i64>,
}

/// A contact that did not reach her.
pub fn is_attempt(v: &Visit) -> bool {
    v.kind == ContactKind::Attempted || v.outcome != Outcome::Completed
}

/// Completed and in person (home, community, office, accompanied).
pub fn is_seen(v: &Visit) -> bool {
    !is_attempt(v)
        && matches!(
            v.kind,
            ContactKind::Home
                | ContactKind::Community
                | ContactKind::Office
                | ContactKind::Accompanied
        )
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When the case was opened: recorded at creation, or (older cases) the
/// referral or start date, or `fallback` (when this device first stored it).
pub fn opened_at(case: &Case, fallback: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let p = &case.programme;
    p.opened_at
        .as_deref()
        .and_then(parse)
        .or_else(|| {
            [&p.referral_date, &p.start_date]
                .into_iter()
                .flatten()
                .find_map(|d| parse(&format!("{d}T00:00:00Z")))
        })
        .or(fallback)
}

/// Applies the rule at `now`. Closed cases are never overdue.
pub fn contact_due(
    case: &Case,
    opened_fallback: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ContactDue {
    let every = Duration::days(i64::from(
        case.programme
            .contact_every_days
            .unwrap_or(DEFAULT_CONTACT_EVERY_DAYS),
    ));
    // Latest by time; ties broken by id order so every replica agrees.
    let latest = case
        .visits
        .iter()
        .filter_map(|(id, v)| parse(&v.at).map(|t| (t, id, v)))
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let opened = opened_at(case, opened_fallback);
    let due = match latest {
        Some((at, _, v)) => match v.next_contact_due.as_deref().and_then(parse) {
            Some(next) => Some(next),
            None => Some(at + every),
        },
        None => opened.map(|o| o + every),
    };
    let seen = case
        .visits
        .values()
        .filter(|v| is_seen(v))
        .filter_map(|v| parse(&v.at))
        .max();
    let closed = case.programme.phase == Some(Phase::Closed);
    ContactDue {
        next_contact_due: due.map(instant_string),
        overdue: !closed && due.is_some_and(|d| d < now),
        last_contact: latest.map(|(t, _, _)| instant_string(t)),
        last_contact_attempt: latest.is_some_and(|(_, _, v)| is_attempt(v)),
        last_seen: seen.map(instant_string),
        not_seen_days: seen.or(opened).map(|t| (now - t).num_days().max(0)),
    }
}
