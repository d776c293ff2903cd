//! The sync engine: enrolment, and one sync round — upload what is queued,
//! download what is new, share case keys with recipients that lack them.
//!
//! The server is a log, not a peer (brief §4): it cannot read a document, so
//! Automerge's own per-document sync protocol cannot run against it. Each
//! step is safe to interrupt: the outbox is only emptied by acknowledgements
//! and the cursor only moves after a page is stored, so a second run picks
//! up where the first stopped, never duplicating and never skipping.

mod engine;
mod transport;

pub use engine::{
    Assignment, RejectedItem, SyncObserver, SyncPhase, SyncReport, Transfer, VaultCell, assign,
    enroll, sync, sync_shared, transfer_case,
};
/// Lone-working safety: queue, then send at once when there is a connection.
pub use engine::{
    acknowledge_alert, add_visit_checking_out, check_in, check_out, extend_check_in,
    refresh_safety, send_safety, submit_draft_checking_out,
};
pub use transport::{HttpTransport, Transport, check_server_url, refusal_error};
