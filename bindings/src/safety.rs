//! Lone working for the apps: check in before a visit, extend, check out,
//! acknowledge an alert (`async`: each is kept on the phone first, then sent
//! at once when there is a connection), and the safety state (`safetyStatus`,
//! no network: call it as often as the screen or a foreground notification
//! needs). A receipt or check-in with `sent: false` / state `NOT_SENT` or
//! `CHECK_OUT_NOT_SENT` must be shown in red: the server does not know, so
//! no one will be alerted (a check-in) or the alert will still be raised (a
//! check-out) until the next sync sends it.

use std::sync::Arc;

use outreach_core::safety::{
    AcknowledgeReceipt, AlertView, CheckInState, CheckInView, SafetyReceipt, SafetyStatus,
};
use outreach_core::sync::{self, HttpTransport};
use outreach_core::vault::{Vault, VisitInput};

use crate::sync::off_thread;
use crate::{OutreachError, OutreachVault};

#[uniffi::remote(Enum)]
pub enum CheckInState {
    Active,
    Overdue,
    NotSent,
    CheckOutNotSent,
}

#[uniffi::remote(Record)]
pub struct CheckInView {
    pub timer_id: String,
    pub case_id: String,
    pub worker: String,
    pub team: Option<String>,
    pub mine: bool,
    pub started_at: String,
    pub until: String,
    pub alert_at: Option<String>,
    pub note: Option<String>,
    pub note_unreadable: bool,
    pub state: CheckInState,
}

#[uniffi::remote(Record)]
pub struct AlertView {
    pub alert_id: String,
    pub case_id: String,
    pub worker: String,
    pub team: Option<String>,
    pub due: String,
    pub raised_at: String,
    pub minutes_overdue: i64,
    pub checked_out_at: Option<String>,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub mine: bool,
}

#[uniffi::remote(Record)]
pub struct SafetyStatus {
    pub alerts: Vec<AlertView>,
    pub check_ins: Vec<CheckInView>,
    pub unsent: u32,
    pub as_of: Option<String>,
    pub refused: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct SafetyReceipt {
    pub timer_id: String,
    pub case_id: String,
    pub until: String,
    pub sent: bool,
    pub alert_at: Option<String>,
    pub not_sent_because: Option<String>,
}

#[uniffi::remote(Record)]
pub struct AcknowledgeReceipt {
    pub alert_id: String,
    pub sent: bool,
    pub not_sent_because: Option<String>,
}

/// A visit recorded together with the check-out (`addVisitAndCheckOut`).
#[derive(uniffi::Record)]
pub struct VisitCheckOut {
    pub visit_id: String,
    pub receipt: SafetyReceipt,
}

impl OutreachVault {
    /// Runs `f` with the vault and a transport to its server, on its own
    /// thread.
    async fn with_server<T: Send + 'static>(
        self: Arc<Self>,
        f: impl FnOnce(&mut Vault, &HttpTransport) -> outreach_core::Result<T> + Send + 'static,
    ) -> Result<T, OutreachError> {
        off_thread(move || {
            let mut vault = self.vault();
            let config = vault
                .sync_config()?
                .ok_or(outreach_core::Error::NotEnrolled)?;
            let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
            Ok(f(&mut vault, &transport)?)
        })
        .await
    }
}

#[uniffi::export]
impl OutreachVault {
    /// Checks in before a visit to `case_id` until `until` (`HH:MM` today,
    /// an RFC 3339 timestamp, or `+90m`), with an optional note (address
    /// details, who may be present: sealed under the case key, readable by
    /// the worker and her team's supervisors only). Kept on the phone, sent
    /// at once if possible: `sent: false` means no one will be alerted until
    /// a later sync sends it — say so in red. `InvalidInput` for a deadline
    /// in the past or over 24 hours away, or a check-in to the case already
    /// open; `NotFound` for an unknown case; `Sync` if the server refused it
    /// (then nothing is kept).
    pub async fn check_in(
        self: Arc<Self>,
        case_id: String,
        until: String,
        note: Option<String>,
    ) -> Result<SafetyReceipt, OutreachError> {
        self.with_server(move |v, t| sync::check_in(v, t, &case_id, &until, note.as_deref()))
            .await
    }

    /// Moves the deadline of this user's check-in (to `case_id`, or her
    /// only one) by `by` (`30m`, `1h`).
    pub async fn extend(
        self: Arc<Self>,
        case_id: Option<String>,
        by: String,
    ) -> Result<SafetyReceipt, OutreachError> {
        self.with_server(move |v, t| sync::extend_check_in(v, t, case_id.as_deref(), &by))
            .await
    }

    /// Checks out of this user's check-in (to `case_id`, or her only one).
    /// `sent: false`: the alert is still raised at `alertAt` unless a sync
    /// sends the check-out before — say so in red.
    pub async fn check_out(
        self: Arc<Self>,
        case_id: Option<String>,
    ) -> Result<SafetyReceipt, OutreachError> {
        self.with_server(move |v, t| sync::check_out(v, t, case_id.as_deref()))
            .await
    }

    /// The contact form's "record and check out" button: records the visit
    /// (its check-in and check-out times, unless set, from the check-in and
    /// now) and checks out of the case's check-in.
    pub async fn add_visit_and_check_out(
        self: Arc<Self>,
        case_id: String,
        visit: VisitInput,
    ) -> Result<VisitCheckOut, OutreachError> {
        self.with_server(move |v, t| {
            let (visit_id, receipt) = sync::add_visit_checking_out(v, t, &case_id, &visit)?;
            Ok(VisitCheckOut { visit_id, receipt })
        })
        .await
    }

    /// "Record and check out" from the contact form's saved draft: the
    /// visit keeps the draft's id and the draft is deleted in the same
    /// transaction (never a second contact); a check-out the server refuses
    /// comes back in the receipt (`sent: false`), the visit recorded.
    pub async fn submit_draft_and_check_out(
        self: Arc<Self>,
        draft_id: String,
    ) -> Result<VisitCheckOut, OutreachError> {
        self.with_server(move |v, t| {
            let (visit_id, receipt) = sync::submit_draft_checking_out(v, t, &draft_id)?;
            Ok(VisitCheckOut { visit_id, receipt })
        })
        .await
    }

    /// Acknowledges an alert (its id or a unique prefix of 4+ characters):
    /// supervisors of the worker's team and admins (`NotAllowed` otherwise).
    pub async fn acknowledge_alert(
        self: Arc<Self>,
        alert_id: String,
    ) -> Result<AcknowledgeReceipt, OutreachError> {
        self.with_server(move |v, t| sync::acknowledge_alert(v, t, &alert_id))
            .await
    }

    /// Sends what is queued and fetches the current alerts and check-ins.
    pub async fn refresh_safety(self: Arc<Self>) -> Result<SafetyStatus, OutreachError> {
        self.with_server(|v, t| sync::refresh_safety(v, t)).await
    }

    /// Alerts (open first) and active check-ins as this phone last heard
    /// them, with what is not sent yet. No network: cheap enough for a
    /// foreground notification's countdown.
    pub fn safety_status(&self) -> Result<SafetyStatus, OutreachError> {
        Ok(self.vault().safety_status()?)
    }
}
