//! Lone-working safety: what a device tells the server when a practitioner
//! checks in before a visit, extends or checks out, and what the server
//! tells the team's supervisors (and admins) when she does not check out.
//!
//! The server learns who (the enrolled user and device), which case id and
//! until when — and raises the alert itself, so it needs nothing more. The
//! check-in note (address details, who may be present) travels only sealed
//! under the case key ([`SealedNote`]): the server stores and forwards it and
//! cannot open it; the worker's and the team's supervisors' devices can.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, Id};

/// `POST /v1/safety`: check in, extend, check out, acknowledge an alert
/// (any number of those, in order, one transaction), and the safety state
/// this device may see.
pub const PATH_SAFETY: &str = "/v1/safety";

/// Most actions one `/v1/safety` request may carry.
pub const MAX_SAFETY_ACTIONS: usize = 64;
/// Largest sealed note (ciphertext) the server stores.
pub const MAX_SAFETY_NOTE_BYTES: usize = 2048;
/// Longest check-in, from its start to its deadline (seconds).
pub const MAX_SAFETY_WINDOW_SECS: i64 = 24 * 3600;
/// Most check-ins, and most alerts, one reply (or pull page) lists.
pub const MAX_SAFETY_LISTED: usize = 256;
/// An acknowledged alert stays listed this long after its acknowledgement
/// (seconds), so the team sees who is dealing with it.
pub const ACKED_ALERT_LISTED_SECS: i64 = 12 * 3600;

/// A check-in note sealed under the case key of `epoch` (the core's sealed
/// value format; associated data: organisation, case, timer, worker's
/// device, epoch). Only devices holding that case key open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedNote {
    pub epoch: u32,
    pub ciphertext: Vec<u8>,
}

/// The practitioner starts a safety timer before a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    /// Chosen by the device; the idempotency key (a retry changes nothing).
    pub timer_id: Id,
    pub case_id: Id,
    /// When she checked in (unix seconds, the device's clock): a check-in
    /// queued offline reaches the server later.
    pub started_at: i64,
    /// When she expects to be out (unix seconds).
    pub until: i64,
    pub note: Option<SealedNote>,
}

/// One thing a device tells the server, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SafetyAction {
    CheckIn(CheckIn),
    /// Moves the deadline of one of her check-ins (to an absolute time).
    Extend {
        timer_id: Id,
        until: i64,
        /// When she asked (unix seconds, the device's clock).
        at: i64,
    },
    /// She is out: the timer ends (and an alert already raised for it says
    /// she checked out).
    CheckOut {
        timer_id: Id,
        at: i64,
    },
    /// A supervisor of the worker's team (or an admin) has the alert in hand
    /// (recorded in the admin log).
    Acknowledge {
        alert_id: Id,
    },
}

/// `POST /v1/safety`. An empty list only asks for the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyRequest {
    pub actions: Vec<SafetyAction>,
}

/// What became of one action. A refused action changes nothing; the others
/// of the request still apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SafetyOutcome {
    Done,
    Refused { code: ErrorCode, message: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyResponse {
    /// One per action, in order.
    pub outcomes: Vec<SafetyOutcome>,
    pub state: SafetyState,
}

/// An active check-in (not checked out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyTimer {
    pub timer_id: Id,
    pub case_id: Id,
    /// The worker, as the admin registered her.
    pub user_id: Id,
    pub user_name: String,
    pub team: Option<String>,
    /// The device she checked in from.
    pub device_id: Id,
    pub started_at: i64,
    pub until: i64,
    /// When the server raises the alert if she has not checked out: `until`
    /// plus the grace in force when the deadline was set.
    pub alert_at: i64,
    pub note: Option<SealedNote>,
}

/// An alert: a check-in whose deadline and grace passed without a check-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyAlert {
    pub alert_id: Id,
    pub timer_id: Id,
    pub case_id: Id,
    pub user_id: Id,
    pub user_name: String,
    pub team: Option<String>,
    /// The deadline she missed.
    pub due: i64,
    pub raised_at: i64,
    /// She checked out after all (the device's clock), or extended since.
    pub checked_out_at: Option<i64>,
    pub acked_at: Option<i64>,
    /// Who acknowledged it (staff name).
    pub acked_by: Option<String>,
}

/// The safety state a device may see: the worker her own check-ins and
/// alerts; a supervisor her team's; an admin every alert (no check-ins).
/// Alerts not yet acknowledged come first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyState {
    pub alerts: Vec<SafetyAlert>,
    pub timers: Vec<SafetyTimer>,
}

/// Parses a duration: one or more `<number><unit>` parts, unit `s`, `m` or
/// `h` (`90s`, `15m`, `1h30m`, `0s`); a leading `+` is allowed. `None` for
/// anything else (a bare number, a negative, an unknown unit, an overflow).
/// The server's `--safety-grace` and a device's `--extend` and `--until +90m`
/// share it, so `15m` means the same everywhere.
pub fn parse_duration(input: &str) -> Option<chrono::TimeDelta> {
    let s = input.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.is_ascii() {
        return None;
    }
    let mut total = chrono::TimeDelta::zero();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "s" => chrono::TimeDelta::try_seconds(n)?,
            "m" => chrono::TimeDelta::try_minutes(n)?,
            "h" => chrono::TimeDelta::try_hours(n)?,
            _ => return None,
        };
        total = total.checked_add(&part)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let secs = |s: &str| parse_duration(s).map(|d| d.num_seconds());
        assert_eq!(secs("15m"), Some(900));
        assert_eq!(secs("90s"), Some(90));
        assert_eq!(secs("0s"), Some(0));
        assert_eq!(secs("+90m"), Some(5400));
        assert_eq!(secs("1h30m"), Some(5400));
        assert_eq!(secs(" 2h "), Some(7200));
        for bad in [
            "",
            "+",
            "15",
            "m",
            "-5m",
            "15x",
            "15 m",
            "1.5h",
            "15mm",
            "9999999999h",
            "١٥m",
            "15M",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn messages_round_trip() {
        let request = SafetyRequest {
            actions: vec![
                SafetyAction::CheckIn(CheckIn {
                    timer_id: [1; 16],
                    case_id: [2; 16],
                    started_at: 1_800_000_000,
                    until: 1_800_003_600,
                    note: Some(SealedNote {
                        epoch: 3,
                        ciphertext: vec![7; 90],
                    }),
                }),
                SafetyAction::Extend {
                    timer_id: [1; 16],
                    until: 1_800_005_400,
                    at: 1_800_003_000,
                },
                SafetyAction::CheckOut {
                    timer_id: [1; 16],
                    at: 1_800_004_000,
                },
                SafetyAction::Acknowledge { alert_id: [9; 16] },
            ],
        };
        assert_eq!(
            crate::decode::<SafetyRequest>(&crate::encode(&request)),
            Ok(request)
        );
        let response = SafetyResponse {
            outcomes: vec![
                SafetyOutcome::Done,
                SafetyOutcome::Refused {
                    code: ErrorCode::Forbidden,
                    message: "no".into(),
                },
            ],
            state: SafetyState {
                alerts: vec![SafetyAlert {
                    alert_id: [9; 16],
                    timer_id: [1; 16],
                    case_id: [2; 16],
                    user_id: [4; 16],
                    user_name: "Amy".into(),
                    team: Some("north".into()),
                    due: 1_800_003_600,
                    raised_at: 1_800_004_500,
                    checked_out_at: None,
                    acked_at: Some(1_800_004_600),
                    acked_by: Some("Sue".into()),
                }],
                timers: vec![SafetyTimer {
                    timer_id: [1; 16],
                    case_id: [2; 16],
                    user_id: [4; 16],
                    user_name: "Amy".into(),
                    team: None,
                    device_id: [5; 16],
                    started_at: 1_800_000_000,
                    until: 1_800_003_600,
                    alert_at: 1_800_004_500,
                    note: None,
                }],
            },
        };
        assert_eq!(
            crate::decode::<SafetyResponse>(&crate::encode(&response)),
            Ok(response)
        );
    }
}
