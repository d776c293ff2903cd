//! Server storage behind a trait: the HTTP layer checks signatures and
//! shapes, the storage applies each request in one transaction. A PostgreSQL
//! backend implements the same trait; the protocol does not change.
//!
//! Layers, top to bottom:
//! - the HTTP layer (`api.rs`): signatures, shapes, rate limits;
//! - [`rules`]: the authorisation rules, backend-neutral — who may read,
//!   write, assign or transfer a case, what an enrolment code allows, when a
//!   change or envelope belongs to an epoch, what a rotation must carry.
//!   Each is a pure function of facts a backend looked up in its
//!   transaction; a backend decides nothing of its own;
//! - a backend (today [`SqliteStorage`]) that looks the facts up, calls the
//!   rules and writes the outcome, one transaction per request;
//! - `contract` (tests only): one suite every backend runs.
//!
//! Who may read or write a case is decided by [`may_access`], the one
//! statement of the rule; the SQLite pull query restates it in SQL (tested to
//! agree).
//!
//! # The cursor invariant
//!
//! A device's cursor is a position in the organisation's log (`seq`). A
//! pull answers items with `seq > cursor` in `seq` order, and the device
//! never asks for anything at or below its cursor again. So a backend must
//! guarantee: **once an item with sequence number `n` is visible to a pull,
//! every item with a smaller sequence number that will ever be committed is
//! already visible.** An item is never made visible after a higher one has
//! been served. SQLite holds this for free (one writer: sequence numbers are
//! assigned and committed in order). A backend with concurrent writers
//! (PostgreSQL, several instances) must design for it: serialise log
//! appends (assign `seq` under a lock held to commit), or serve only up to
//! the oldest sequence number still in flight.

#[cfg(test)]
pub(crate) mod contract;
pub mod erasure;
pub mod export;
mod group;

/// Days changes a compaction superseded are kept (out of every pull) before
/// they are purged: a snapshot a device reports as bad can be answered from
/// them meanwhile.
pub const SUPERSEDED_DAYS: i64 = 30;
pub mod postgres;
pub mod rules;
pub mod safety;
pub(crate) mod sqlite;

pub use self::postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

use outreach_protocol::{
    AssignResponse, Change, Cursor, Envelope, ErrorCode, Id, PushResponse, Rejected, Role,
    RotateRequest, RotateResponse, TransferResponse,
};

/// Why the storage refused or failed a request. Messages name no record content.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("{1}")]
    Refused(ErrorCode, &'static str),
    #[error("the organisation is already initialised")]
    AlreadyInitialised,
    #[error("the organisation is not initialised: run `outreach-server init` first")]
    NotInitialised,
    /// The backend failed (its message names tables and constraints, never
    /// values; a connection string is never part of it).
    #[error("server database error: {0}")]
    Database(String),
    /// The database refused the transaction because a concurrent one
    /// conflicted with it (a serialisation failure, a deadlock, a lock
    /// that stayed busy): nothing was written, and the same request may be
    /// tried again as it is.
    #[error("the server database was busy with a conflicting change; retry")]
    Retryable,
    #[error("the server database holds a newer schema ({0}) than this server understands")]
    SchemaTooNew(i64),
    #[error("stored data is corrupt")]
    Corrupt,
    #[error("the server could not commit the upload; retry")]
    CommitFailed,
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// Where the outcome of a queued push arrives (see [`Storage::push_queued`]).
pub type PushOutcome = tokio::sync::oneshot::Receiver<Result<PushResponse>>;

/// Where a queued pull's answer arrives (see [`Storage::pull_queued`]).
pub type PullOutcome = tokio::sync::oneshot::Receiver<Result<QueuedPull>>;

/// Where a queued nonce's answer arrives (see [`Storage::admit_nonce_queued`]):
/// whether it was new.
pub type NonceOutcome = tokio::sync::oneshot::Receiver<Result<bool>>;

/// How long a request waits at most for its nonce to be recorded.
pub const NONCE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A queued pull's answer.
#[derive(Debug)]
pub enum QueuedPull {
    /// The encoded page, as [`Storage::pull`] would give it.
    Page(Vec<u8>),
    /// The page needs more than the queue's statement reads: answer it
    /// with [`Storage::pull_full`], on a thread that may wait.
    Full,
}

pub fn refused(code: ErrorCode, message: &'static str) -> StorageError {
    StorageError::Refused(code, message)
}

#[derive(Debug, Clone)]
pub struct Org {
    pub org_id: Id,
    pub name: String,
    pub recovery_pk: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct User {
    pub user_id: Id,
    pub name: String,
    pub role: Role,
    pub team: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Device {
    pub device_id: Id,
    pub user: User,
    pub sign_pk: [u8; 32],
    pub kex_pk: [u8; 32],
    pub revoked: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceListing {
    pub device_id: Option<String>,
    pub user: String,
    pub user_id: String,
    pub role: String,
    pub team: Option<String>,
    pub revoked: bool,
    pub enrolled_at: Option<i64>,
    pub last_seen: Option<i64>,
}

/// One item a device quarantined and reported (`outreach-server rejected`):
/// ids, a sequence number and a reason — never content.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RejectedListing {
    /// First 8 hex digits of the reporting device's id.
    pub device: String,
    pub user: String,
    pub case_id: String,
    pub seq: u64,
    /// First 8 hex digits of the device that signed (or claimed to sign) it.
    pub signer: String,
    pub reason: String,
    pub reported_at: i64,
}

pub struct NewDevice {
    pub device_id: Id,
    pub sign_pk: [u8; 32],
    pub kex_pk: [u8; 32],
}

pub use rules::may_access;

pub trait Storage: Send + Sync + 'static {
    fn org(&self) -> Result<Option<Org>>;
    fn init_org(&self, name: &str, recovery_pk: [u8; 32], now: i64) -> Result<Org>;
    /// Creates the user if new (same role and team if not) and an invite.
    fn create_invite(
        &self,
        name: &str,
        role: Role,
        team: Option<&str>,
        code_hash: [u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<User>;
    /// Redeems an invite: registers the device, marks the code used.
    fn enroll(&self, code_hash: [u8; 32], device: NewDevice, now: i64) -> Result<User>;
    fn device(&self, device_id: &Id) -> Result<Option<Device>>;
    fn devices(&self) -> Result<Vec<DeviceListing>>;
    /// Returns false if there is no such device.
    fn revoke_device(&self, device_id: &Id, now: i64) -> Result<bool>;
    /// Notes that the device made contact (`last_seen`, for the admin's
    /// `devices` listing). May be kept in memory for a while: it is written
    /// with other work or by [`Storage::flush_pending`], never with an fsync
    /// of its own per request.
    fn touch_device(&self, device_id: &Id, now: i64) -> Result<()>;
    /// Writes what [`Storage::touch_device`] kept in memory (the server calls
    /// it every few seconds and when it stops).
    fn flush_pending(&self) -> Result<()>;
    /// Copies committed work into the main database file, off the path of
    /// requests (the server calls it every second).
    fn checkpoint(&self) -> Result<()>;
    /// Starts the storage's own background threads, if it has any (else
    /// they start when first needed).
    fn start_threads(&self) {}
    /// Whether signed requests' nonces must be recorded in the database,
    /// because other server instances share it (PostgreSQL): each instance
    /// also keeps its own in-memory replay cache, which alone would let a
    /// captured request be replayed once to another instance.
    fn shares_nonces(&self) -> bool {
        false
    }
    /// Records a signed request's nonce for every instance sharing the
    /// database until `expires_at`; `false` if it was already used.
    fn admit_nonce(
        &self,
        _device: &Id,
        _nonce: &[u8; outreach_protocol::NONCE_LEN],
        _expires_at: i64,
    ) -> Result<bool> {
        Ok(true)
    }
    /// [`Storage::admit_nonce`] queued for the storage's own nonce thread,
    /// or `None` if it has none (then `admit_nonce` answers, on a thread
    /// that may wait). Returns at once: the request awaits its answer
    /// without holding a thread, so under a herd every waiting request's
    /// nonce can share one batch instead of the few the blocking threads
    /// could hold.
    fn admit_nonce_queued(
        &self,
        _device: &Id,
        _nonce: &[u8; outreach_protocol::NONCE_LEN],
        _expires_at: i64,
    ) -> Option<NonceOutcome> {
        None
    }
    /// How many storage calls the server lets run at once. More than the
    /// backend can use only adds threads that take CPU from the ones that
    /// finish work (an embedded database's writer, above all).
    fn parallel_work(&self) -> usize {
        crate::MAX_BLOCKING_THREADS
    }
    /// Whether [`Storage::push_queued`] only queues (a writer thread of the
    /// storage's own commits) and so may be called from async code.
    fn queues_pushes(&self) -> bool {
        false
    }
    /// Queues changes and envelopes (signatures already verified) for the
    /// next group commit and returns at once; the outcome arrives once they
    /// are durable (all or nothing per push).
    fn push_queued(
        &self,
        device: &Device,
        changes: Vec<Change>,
        envelopes: Vec<Envelope>,
        now: i64,
    ) -> PushOutcome;
    /// [`Storage::push_queued`], waiting for the outcome (not from async code).
    fn push(
        &self,
        device: &Device,
        changes: Vec<Change>,
        envelopes: Vec<Envelope>,
        now: i64,
    ) -> Result<PushResponse> {
        self.push_queued(device, changes, envelopes, now)
            .blocking_recv()
            .unwrap_or(Err(StorageError::CommitFailed))
    }
    /// The encoded [`outreach_protocol::PullResponse`] (written from the
    /// stored bytes, never decoded and re-encoded).
    fn pull(&self, device: &Device, cursor: Cursor, max_bytes: u32) -> Result<Vec<u8>>;
    /// A pull queued for the storage's own pull threads, or `None` if it
    /// has none (then [`Storage::pull`] answers, on a thread that may
    /// wait). Returns at once: may be called from async code, and the
    /// request waits for its page without holding a thread.
    fn pull_queued(
        &self,
        _device: &Device,
        _cursor: Cursor,
        _max_bytes: u32,
    ) -> Option<PullOutcome> {
        None
    }
    /// The pull [`QueuedPull::Full`] leaves: [`Storage::pull`] without
    /// what the queue already tried.
    fn pull_full(&self, device: &Device, cursor: Cursor, max_bytes: u32) -> Result<Vec<u8>> {
        self.pull(device, cursor, max_bytes)
    }
    fn assign(&self, by: &Device, case_id: &Id, user: &str, now: i64) -> Result<AssignResponse>;
    /// Queues the cases' whole history for the device's next pull.
    fn refetch(&self, device: &Device, cases: &[Id], now: i64) -> Result<()>;
    /// Hands the case to `user` (allowed like [`Storage::assign`]): she is
    /// assigned it, and every other practitioner assigned it loses it; each
    /// of their devices gets a removal item and may still upload to the case
    /// until it has pulled past that item. Replaying changes nothing.
    fn transfer(&self, by: &Device, case_id: &Id, user: &str, now: i64)
    -> Result<TransferResponse>;
    /// Stores items the device quarantined (idempotent by device and
    /// sequence number; bounded per device); returns how many were new.
    fn report_rejected(&self, device: &Device, items: &[Rejected], now: i64) -> Result<u32>;
    /// Every stored report, oldest first.
    fn rejected(&self) -> Result<Vec<RejectedListing>>;
    /// The device confirms it deleted its copy of these erased cases
    /// (`/v1/erased`; only cases erased and announced to it count;
    /// idempotent); returns how many confirmations were new.
    fn report_erased(&self, device: &Device, cases: &[Id], now: i64) -> Result<u32>;
    /// Stores the closure dates (already checked to be dates) of the cases
    /// the device may write (`/v1/closure`; others are ignored); returns how
    /// many changed.
    fn report_closures(
        &self,
        device: &Device,
        items: &[outreach_protocol::Closure],
        now: i64,
    ) -> Result<u32>;
    /// Starts a new case-key epoch (envelope signatures already verified):
    /// accepted once per (case, epoch), only while a rotation is due and
    /// from a device that holds the current key; the envelopes must all
    /// start `epoch`, be sealed by the device, include the recovery key and
    /// address only devices that may read the case. A second device asking
    /// for the same epoch gets `StaleEpoch`; the winner retrying gets the
    /// same answer again.
    fn rotate(&self, device: &Device, request: &RotateRequest, now: i64) -> Result<RotateResponse>;
    /// `/v1/compact` (snapshot signature already verified): puts the
    /// snapshot in the place of the last change of its case numbered up to
    /// `covers` and moves the earlier covered changes out of the log, into
    /// `superseded` (see `outreach_protocol::compact`). Refused unless the
    /// device may read and write the case and the snapshot is sealed under
    /// the current epoch; idempotent by the snapshot's client id.
    fn compact(
        &self,
        device: &Device,
        snapshot: &outreach_protocol::Change,
        covers: u64,
        now: i64,
    ) -> Result<outreach_protocol::CompactResponse>;
    /// Declares the data restored from a backup: draws a new log id, which
    /// every device sees on its next pull and answers by pulling the log
    /// from its beginning and uploading everything it holds (see
    /// `PullResponse::log_id`). Returns the new id.
    fn restart_log(&self) -> Result<Id>;
    /// Purges superseded changes kept longer than their window; returns
    /// how many (the server calls it from its housekeeping).
    fn purge_superseded(&self, now: i64) -> Result<u64>;
    /// `/v1/safety`: applies the device's lone-working actions in order, in
    /// one transaction (a refused action changes nothing and the others
    /// still apply), and returns each outcome with the safety state the
    /// device may see. See `storage/safety.rs`.
    fn safety(
        &self,
        device: &Device,
        actions: &[outreach_protocol::SafetyAction],
        policy: safety::SafetyPolicy,
        now: i64,
    ) -> Result<outreach_protocol::SafetyResponse>;
    /// Raises an alert for every check-in whose alert time has passed
    /// without a check-out (once per deadline, logged in the admin log,
    /// queued for the webhook if one is configured); returns them.
    fn raise_due_alerts(
        &self,
        now: i64,
        policy: safety::SafetyPolicy,
    ) -> Result<Vec<safety::RaisedAlert>>;
    /// Webhook deliveries due at `now`, oldest first, at most `limit`.
    fn webhook_due(&self, now: i64, limit: usize) -> Result<Vec<safety::WebhookDelivery>>;
    /// Records one delivery attempt: delivered (`error` is `None`), or
    /// failed and tried again at `retry_at`.
    fn webhook_attempted(
        &self,
        delivery: i64,
        error: Option<&str>,
        now: i64,
        retry_at: i64,
    ) -> Result<()>;
    /// Deletes closed check-ins, acknowledged alerts and delivered webhooks
    /// older than [`safety::SAFETY_KEEP_SECS`].
    fn prune_safety(&self, now: i64) -> Result<()>;
    /// Erases a case (`outreach-server erase-case`): its items, envelopes
    /// and notes are deleted, a tombstone kept, and every device that could
    /// hold it is sent an [`outreach_protocol::Item::Erased`]; the case id is
    /// never registered again. `detail` goes to the admin log.
    fn erase_case(
        &self,
        case_id: &Id,
        by: &str,
        detail: Option<&str>,
        now: i64,
    ) -> std::result::Result<erasure::Erasure, erasure::EraseError>;
    /// Makes the bytes of erased cases unrecoverable from the database's
    /// files (SQLite: `VACUUM` with `secure_delete`); called after a batch
    /// of erasures.
    fn compact_erased(&self) -> Result<()>;
    /// An erased case's tombstone and who was told, if it was erased.
    fn erasure(&self, case_id: &Id) -> Result<Option<erasure::Erasure>>;
    /// Cases whose reported closure date is before `before` (`YYYY-MM-DD`).
    fn retention_due(&self, before: &str) -> Result<Vec<erasure::RetentionCase>>;
    /// Erases every case of [`Storage::retention_due`] (`outreach-server
    /// retention`).
    fn apply_retention(
        &self,
        before: &str,
        by: &str,
        now: i64,
    ) -> std::result::Result<Vec<erasure::Erasure>, erasure::EraseError>;
    /// Appends a row to the admin log (never content).
    fn log_admin_action(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: i64,
    ) -> Result<()>;
    /// The admin log, oldest first (`outreach-server audit`).
    fn admin_log(&self) -> Result<Vec<erasure::AuditEntry>>;
    /// Sets the per-device storage quota (bytes of changes and envelopes).
    fn set_device_quota(&self, bytes: u64);
}
