//! Lone-working safety, the device's side: what the shell and the apps show
//! (the views below), and how a deadline is read from what a practitioner
//! types. The vault keeps the queue and the state (`vault/safety.rs`); the
//! sync engine sends them (`sync/engine/safety.rs`).
//!
//! A check-in reaches the server as who (the enrolled user and device),
//! which case id and until when, with the note sealed under the case key.
//! Until it has reached the server **no one is alerted**: the views say so
//! ([`CheckInState::NotSent`]) and the apps show it in red.

use chrono::{DateTime, Local, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Longest note on a check-in, in characters (it travels sealed; address
/// details and who may be present, not the visit's record).
pub const MAX_NOTE_CHARS: usize = 1000;

/// Where an active check-in stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckInState {
    /// The server has it: if she has not checked out by `alert_at`, her
    /// team's supervisors are alerted.
    Active,
    /// Past its deadline, not checked out: the alert is raised at
    /// `alert_at` (or has been: see the alerts).
    Overdue,
    /// Not sent yet (no connection): **no one will be alerted** until this
    /// device reaches the server. Show it in red.
    NotSent,
    /// Checked out on this device, but the check-out has not reached the
    /// server: an alert **will** be raised at `alert_at` unless it is sent
    /// before. Show it in red.
    CheckOutNotSent,
}

/// One active check-in, as the worker's device or her supervisor's shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInView {
    /// The check-in's id (32 hex digits).
    pub timer_id: String,
    pub case_id: String,
    /// The worker (staff name).
    pub worker: String,
    pub team: Option<String>,
    /// This device's user checked in.
    pub mine: bool,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// The deadline (RFC 3339, UTC).
    pub until: String,
    /// When the server raises the alert (deadline + grace); `None` until the
    /// server has the check-in.
    pub alert_at: Option<String>,
    /// The note, opened with the case key (`None`: no note, or this device
    /// does not hold the case key yet: see `note_unreadable`).
    pub note: Option<String>,
    /// There is a note this device cannot open (it does not hold the
    /// case's key yet; sync again).
    pub note_unreadable: bool,
    pub state: CheckInState,
}

/// An alert: a check-in whose deadline and grace passed without a check-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertView {
    /// The alert's id (32 hex digits; a unique prefix of 4+ works for
    /// acknowledging it).
    pub alert_id: String,
    pub case_id: String,
    pub worker: String,
    pub team: Option<String>,
    /// The missed deadline (RFC 3339, UTC).
    pub due: String,
    pub raised_at: String,
    /// Minutes past the deadline: until now, or until she checked out.
    pub minutes_overdue: i64,
    /// She checked out after all (RFC 3339, UTC).
    pub checked_out_at: Option<String>,
    pub acknowledged_at: Option<String>,
    /// Who acknowledged it (staff name).
    pub acknowledged_by: Option<String>,
    /// The alert is about this device's user.
    pub mine: bool,
}

/// Everything lone-working this device knows, for `outreach safety` and the
/// apps' safety screen. Open alerts first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyStatus {
    /// Alerts not yet acknowledged first, then acknowledged ones.
    pub alerts: Vec<AlertView>,
    /// Active check-ins: this user's (sent or not) and, for a supervisor,
    /// her team's; soonest alert first.
    pub check_ins: Vec<CheckInView>,
    /// Safety actions waiting on this device for a connection. While one
    /// is queued, the server does not know what it says.
    pub unsent: u32,
    /// When the server's state was last received (RFC 3339, UTC).
    pub as_of: Option<String>,
    /// Actions the server refused (one line each, newest last).
    pub refused: Vec<String>,
}

/// What a check-in, extension or check-out did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyReceipt {
    pub timer_id: String,
    pub case_id: String,
    /// The deadline (RFC 3339, UTC).
    pub until: String,
    /// The server has it. `false`: queued on this device — **no one is
    /// alerted** (or, for a check-out, the alert is still coming) until it
    /// is sent; it goes with the next sync.
    pub sent: bool,
    /// When the server will raise the alert, once it has the check-in.
    pub alert_at: Option<String>,
    /// Why it could not be sent now (offline), if it was not.
    pub not_sent_because: Option<String>,
}

/// What acknowledging an alert did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcknowledgeReceipt {
    pub alert_id: String,
    /// The server has it (and the admin log records it).
    pub sent: bool,
    /// Why it could not be sent now, if it was not (it goes with the next
    /// sync).
    pub not_sent_because: Option<String>,
}

/// Reads a check-in's deadline: `HH:MM` (today, local time), a full
/// timestamp (RFC 3339, or `YYYY-MM-DD HH:MM` local time), or `+DURATION`
/// from now (`+90m`, `+1h30m`, `+45s`). It must be in the future and at most
/// 24 hours away. `field` names the input in the error.
pub fn parse_until<Tz: TimeZone>(
    field: &str,
    input: &str,
    now: DateTime<Tz>,
) -> Result<DateTime<Utc>, ValidationError> {
    let s = input.trim();
    let now_utc = now.with_timezone(&Utc);
    let bad = || {
        ValidationError::new(
            field,
            "must be HH:MM (today), a date and time (2026-11-30T14:30:00Z or 2026-11-30 14:30), or +DURATION (+90m)",
        )
    };
    let at = if s.starts_with('+') {
        let d = outreach_protocol::parse_duration(s).ok_or_else(bad)?;
        now_utc.checked_add_signed(d).ok_or_else(bad)?
    } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else if let Some(local) = parse_local_datetime(s) {
        local_to_utc(&now.timezone(), local).ok_or_else(|| {
            ValidationError::new(field, "that time does not exist or is ambiguous here (a clock change): give it with its offset")
        })?
    } else if let Some(t) = parse_hh_mm(s) {
        let today = now.date_naive();
        local_to_utc(&now.timezone(), today.and_time(t)).ok_or_else(|| {
            ValidationError::new(field, "that time does not exist or is ambiguous today (a clock change): give a full timestamp")
        })?
    } else {
        return Err(bad());
    };
    check_deadline(field, at, now_utc)?;
    Ok(at)
}

/// A deadline must be in the future and at most 24 hours away.
pub fn check_deadline(
    field: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ValidationError> {
    if at <= now {
        return Err(ValidationError::new(
            field,
            "is not in the future: give the time you expect to be out (HH:MM today, or +90m)",
        ));
    }
    if at - now > TimeDelta::hours(24) {
        return Err(ValidationError::new(
            field,
            "is more than 24 hours away: a check-in covers one visit",
        ));
    }
    Ok(())
}

/// Reads an extension: a duration (`30m`, `+30m`, `1h`), more than nothing
/// and at most 24 hours.
pub fn parse_extension(field: &str, input: &str) -> Result<TimeDelta, ValidationError> {
    let d = outreach_protocol::parse_duration(input).ok_or_else(|| {
        ValidationError::new(field, "must be a duration such as 30m, 1h or 1h30m")
    })?;
    if d <= TimeDelta::zero() || d > TimeDelta::hours(24) {
        return Err(ValidationError::new(
            field,
            "must be more than 0 and at most 24 hours",
        ));
    }
    Ok(d)
}

/// `HH:MM` (or `H:MM`), strictly: two digits of minutes.
fn parse_hh_mm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || h.len() > 2 || m.len() != 2 || !digits(m) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

fn parse_local_datetime(s: &str) -> Option<NaiveDateTime> {
    for format in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t);
        }
    }
    None
}

fn local_to_utc<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// `HH:MM` in this machine's local time, with the date if not today.
pub fn local_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let at = at.with_timezone(&Local);
    if at.date_naive() == now.with_timezone(&Local).date_naive() {
        at.format("%H:%M").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn deadlines() {
        let london_summer = FixedOffset::east_opt(3600).unwrap();
        let now = at("2026-07-01T12:00:00Z").with_timezone(&london_summer);
        let parse = |s: &str| parse_until("--until", s, now);
        assert_eq!(parse("14:30").unwrap(), at("2026-07-01T13:30:00Z"));
        assert_eq!(parse("9:05").unwrap_err().field, "--until");
        assert_eq!(parse("23:59").unwrap(), at("2026-07-01T22:59:00Z"));
        assert_eq!(parse("+90m").unwrap(), at("2026-07-01T13:30:00Z"));
        assert_eq!(parse("+1h30m").unwrap(), at("2026-07-01T13:30:00Z"));
        assert_eq!(parse("+45s").unwrap(), at("2026-07-01T12:00:45Z"));
        assert_eq!(
            parse("2026-07-01T13:30:00Z").unwrap(),
            at("2026-07-01T13:30:00Z")
        );
        assert_eq!(
            parse("2026-07-01 14:30").unwrap(),
            at("2026-07-01T13:30:00Z")
        );
        assert_eq!(
            parse("2026-07-02T09:00").unwrap(),
            at("2026-07-02T08:00:00Z")
        );
        // In the past, now, too far, nonsense: one clear line naming the flag.
        for bad in [
            "12:59",
            "13:00",
            "+0s",
            "+25h",
            "2026-06-30T10:00:00Z",
            "2026-07-03T10:00:00Z",
            "25:00",
            "14:3",
            "tomorrow",
            "",
            "+",
            "90m",
            "2026-07-01",
            "+99999999999999h",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.field, "--until", "{bad}");
            assert!(!e.problem.contains('\n'));
        }
    }

    #[test]
    fn extensions() {
        assert_eq!(
            parse_extension("--extend", "30m").unwrap(),
            TimeDelta::minutes(30)
        );
        assert_eq!(
            parse_extension("--extend", "+1h").unwrap(),
            TimeDelta::hours(1)
        );
        for bad in ["0s", "0m", "25h", "30", "soon", "-5m"] {
            assert!(parse_extension("--extend", bad).is_err(), "{bad}");
        }
    }
}
