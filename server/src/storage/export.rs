//! What offline recovery (`outreach recover`, on a DPO's machine) reads of a
//! server's data: the organisation, every device with its user, the case
//! ids and erasure tombstones, and each case's changes and recovery
//! envelopes exactly as stored. Read-only, and never in place.
//!
//! Why it is in the server crate: only the storage knows the schema (table
//! and column names, log kinds), so it is spelled here, beside the code that
//! writes it, and nowhere else. The recovery logic itself is in the core
//! (`outreach_core::recover`), which never sees SQL; the shell joins the two.
//! [`ServerData`] is the boundary: a private copy of the SQLite file
//! ([`SqliteSnapshot`]), or one read-only transaction on a PostgreSQL
//! database ([`PostgresSnapshot`], `--database URL`).

use outreach_protocol::{Id, Role};

pub use super::postgres::export::PostgresSnapshot;
pub use super::sqlite::export::SqliteSnapshot;

/// Why the server's data could not be read. One line each, no content.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no server database ({file}) in {dir}")]
    NoDatabase { file: &'static str, dir: String },
    #[error("the server's data could not be copied for reading ({0})")]
    Copy(String),
    #[error(
        "the server's data kept changing while it was being copied: stop the server, or copy its data folder first"
    )]
    Unstable,
    #[error(
        "the server's database is damaged or truncated ({0}): use an intact copy, e.g. a backup"
    )]
    Damaged(String),
    #[error(
        "the server's database holds a newer schema ({0}) than this tool reads: use the outreach release that matches the server"
    )]
    SchemaTooNew(i64),
    #[error("the server's database has no organisation: it was never initialised")]
    NotInitialised,
    #[error("cannot connect to the database {0}")]
    Connect(String),
}

/// The organisation: its id (part of every signature's associated data) and
/// its recovery public key (to check the key file against).
#[derive(Debug, Clone)]
pub struct ExportedOrg {
    pub org_id: Id,
    pub name: String,
    pub recovery_pk: [u8; 32],
}

/// An enrolled device and its user, as the server lists them to devices.
#[derive(Debug, Clone)]
pub struct ExportedDevice {
    pub device_id: Id,
    pub sign_pk: [u8; 32],
    pub user_id: Id,
    pub user_name: String,
    pub role: Role,
    pub team: Option<String>,
    /// Unix seconds (server time).
    pub revoked_at: Option<i64>,
}

/// One log item of a case as stored: its position, when the server stored
/// it (unix seconds) and its bytes (a postcard `outreach_protocol::Item`).
#[derive(Debug, Clone)]
pub struct ExportedItem {
    pub seq: u64,
    pub stored_at: i64,
    pub body: Vec<u8>,
}

/// "The items and devices of the server's data", whatever holds them.
pub trait ServerData {
    fn org(&self) -> Result<ExportedOrg, ExportError>;
    fn devices(&self) -> Result<Vec<ExportedDevice>, ExportError>;
    /// Every case the server holds items of, oldest first.
    fn cases(&self) -> Result<Vec<Id>, ExportError>;
    /// Erased cases: (case id, erased at, unix seconds).
    fn erased(&self) -> Result<Vec<(Id, i64)>, ExportError>;
    /// A case's changes and the envelopes sealed to the recovery key, in
    /// log order (read one case at a time, so memory follows one case).
    fn case_items(&self, case: &Id) -> Result<Vec<ExportedItem>, ExportError>;
}
