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

/// What the rule needs from a case, independent of the time it is asked:
/// small enough to keep per case (the caseload's summaries), so the rule
/// runs on every caseload without reading any case's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactFacts {
    /// The most recent contact (unix seconds), its next date, and whether
    /// it was an attempt.
    pub latest_at: Option<i64>,
    pub latest_next: Option<i64>,
    pub latest_attempt: bool,
    pub last_seen: Option<i64>,
    pub opened: Option<i64>,
    pub every_days: u32,
    pub closed: bool,
}

/// Gathers the facts the rule needs from a whole case.
pub fn contact_facts(case: &Case, opened_fallback: Option<DateTime<Utc>>) -> ContactFacts {
    // Latest by time; ties broken by id order so every replica agrees.
    let latest = case
        .visits
        .iter()
        .filter_map(|(id, v)| parse(&v.at).map(|t| (t, id, v)))
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    ContactFacts {
        latest_at: latest.map(|(t, _, _)| t.timestamp()),
        latest_next: latest
            .and_then(|(_, _, v)| v.next_contact_due.as_deref().and_then(parse))
            .map(|t| t.timestamp()),
        latest_attempt: latest.is_some_and(|(_, _, v)| is_attempt(v)),
        last_seen: case
            .visits
            .values()
            .filter(|v| is_seen(v))
            .filter_map(|v| parse(&v.at))
            .max()
            .map(|t| t.timestamp()),
        opened: opened_at(case, opened_fallback).map(|t| t.timestamp()),
        every_days: case
            .programme
            .contact_every_days
            .unwrap_or(DEFAULT_CONTACT_EVERY_DAYS),
        closed: case.programme.phase == Some(Phase::Closed),
    }
}

/// Applies the rule at `now`. Closed cases are never overdue.
pub fn contact_due(
    case: &Case,
    opened_fallback: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ContactDue {
    contact_due_from(&contact_facts(case, opened_fallback), now)
}

/// The rule itself, on the facts.
pub fn contact_due_from(f: &ContactFacts, now: DateTime<Utc>) -> ContactDue {
    let at = |s: Option<i64>| s.and_then(|s| DateTime::from_timestamp(s, 0));
    let every = Duration::days(i64::from(f.every_days));
    let due = match at(f.latest_at) {
        Some(latest) => Some(at(f.latest_next).unwrap_or(latest + every)),
        None => at(f.opened).map(|o| o + every),
    };
    let seen = at(f.last_seen);
    ContactDue {
        next_contact_due: due.map(instant_string),
        overdue: !f.closed && due.is_some_and(|d| d < now),
        last_contact: at(f.latest_at).map(instant_string),
        last_contact_attempt: f.latest_attempt,
        last_seen: seen.map(instant_string),
        not_seen_days: seen.or(at(f.opened)).map(|t| (now - t).num_days().max(0)),
    }
}
