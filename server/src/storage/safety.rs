//! Lone-working safety in the storage: check-ins (safety timers), the alerts
//! the server raises when a deadline passes without a check-out, and the
//! webhook deliveries of those alerts (implemented by the SQLite storage in
//! `sqlite/safety.rs`, schema v6).
//!
//! What is stored: who (user, device, team), which case id, when (start,
//! deadline, alert time, check-out), the note sealed under the case key
//! (deleted at check-out, and with the case when it is erased), who
//! acknowledged an alert. Never anything the server could read of a visit.

use outreach_protocol::Id;

/// How the server treats deadlines (the `serve` options that reach the
/// storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafetyPolicy {
    /// Seconds after a deadline before the alert is raised
    /// (`--safety-grace`); fixed per deadline when it is set.
    pub grace_secs: i64,
    /// A webhook is configured (`--alert-webhook`): alerts and late
    /// check-outs are queued for delivery.
    pub webhook: bool,
}

impl Default for SafetyPolicy {
    fn default() -> Self {
        Self {
            grace_secs: 15 * 60,
            webhook: false,
        }
    }
}

/// An alert just raised (for the server's log: ids and team only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedAlert {
    pub alert_id: Id,
    pub team: Option<String>,
    /// The deadline that was missed (unix seconds).
    pub due: i64,
}

/// What a webhook delivery is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    /// The alert was raised.
    Alert,
    /// The worker checked out after the alert was raised.
    CheckedOut,
}

impl WebhookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Alert => "alert",
            WebhookEvent::CheckedOut => "checked-out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "alert" => Some(WebhookEvent::Alert),
            "checked-out" => Some(WebhookEvent::CheckedOut),
            _ => None,
        }
    }
}

/// A webhook delivery that is due: everything its body says, which is
/// staff and timing only — the worker's name and team, the deadline, the
/// alert id. No case id, no note, nothing of the woman.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The delivery's row (for [`crate::Storage::webhook_attempted`]).
    pub id: i64,
    pub event: WebhookEvent,
    pub alert_id: Id,
    pub organisation: String,
    pub worker: String,
    pub team: Option<String>,
    pub due: i64,
    pub raised_at: i64,
    pub checked_out_at: Option<i64>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// Closed check-ins, acknowledged alerts and delivered webhooks are kept
/// this long (seconds), then deleted; the admin log keeps the alerts and
/// acknowledgements.
pub const SAFETY_KEEP_SECS: i64 = 90 * 24 * 3600;
