//! The core's one error type.
//!
//! Every message is a single line a practitioner or an admin can act on and
//! never contains record content: names, notes and other case data stay out of
//! errors (and therefore out of logs and crash reports). Values the user typed
//! are not echoed either, since a mistyped field may well be a name.

use crate::crypto::CryptoError;

/// A platform key store (Android Keystore, iOS Keychain) refused or failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PlatformKeyError {
    #[error("the device key is unavailable (locked device or user cancelled)")]
    Unavailable,
    #[error("the device key was invalidated (for example biometrics changed)")]
    Invalidated,
    #[error("the device key store failed: {0}")]
    Failed(String),
}

/// A rejected input: which field, and what is wrong with it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    pub field: String,
    pub problem: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no vault at this location; create one with `outreach init`")]
    NoVault,
    #[error("a vault already exists at this location")]
    VaultExists,
    #[error("wrong passphrase ({remaining} attempts left before this vault is wiped)")]
    WrongPassphrase { remaining: u32 },
    #[error(
        "too many wrong passphrases: this vault has been wiped; ask your admin to set the device up again"
    )]
    Wiped,
    #[error("the vault is locked; unlock it first")]
    Locked,
    #[error("this vault also needs the device's platform key, which was not supplied")]
    PlatformKeyRequired,
    #[error(transparent)]
    Platform(#[from] PlatformKeyError),
    #[error("the vault header is damaged or has been tampered with")]
    HeaderCorrupt,
    #[error(
        "the vault header asks for key-derivation settings outside the safe range; it may have been tampered with"
    )]
    UnsafeKdfParams,
    #[error(
        "the {what} of case {case} failed its integrity check: it is corrupt or has been tampered with"
    )]
    CorruptRecord { what: &'static str, case: String },
    #[error(
        "this vault was written by a newer version of Outreach (schema {found}, this build reads up to {supported}); update the app"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("no case matches that id")]
    UnknownCase,
    #[error("that id matches more than one case; give more of it")]
    AmbiguousCase,
    #[error("no {0} with that id in this case")]
    UnknownRecord(&'static str),
    #[error("that id matches more than one {0}; give more of it")]
    AmbiguousRecord(&'static str),
    #[error(
        "only a supervisor of the case's team can sign off or return a visit, and never one she recorded herself"
    )]
    NotSupervisor,
    #[error("only the practitioner who recorded a visit can amend it")]
    NotVisitAuthor,
    #[error("only a visit returned for amendment can be amended")]
    NotReturned,
    #[error("only a supervisor of the case's team (or an admin) can transfer a case")]
    NotAllowedToTransfer,
    #[error("this case is closed; reopen it first")]
    CaseClosed,
    #[error("this case is not closed")]
    CaseNotClosed,
    #[error(
        "this case is still open and held by this device's user: only a closed case, or one transferred away, can be forgotten here (close it with `case close` first); nothing was removed"
    )]
    ForgetOpenCase,
    #[error(
        "this case has work not yet on the server (changes not uploaded, or a contact form not submitted): sync, and submit or discard its drafts, before forgetting it; nothing was removed"
    )]
    ForgetUnsent,
    #[error("this case was erased by your organisation: it cannot be brought back to this device")]
    CaseErased,
    #[error(
        "you are not checked in (to that case): there is nothing to check out or extend; nothing was changed"
    )]
    NotCheckedIn,
    #[error(
        "you are already checked in to this case: extend that check-in or check out first; nothing was changed"
    )]
    AlreadyCheckedIn,
    #[error("you are checked in to more than one case: name the case; nothing was changed")]
    SeveralCheckIns,
    #[error("no safety alert matches that id (sync to see the current alerts)")]
    UnknownAlert,
    #[error("only a supervisor of the worker's team (or an admin) can acknowledge a safety alert")]
    NotAllowedToAcknowledge,
    #[error("the server refused the {what}: {reason}; it was not kept")]
    SafetyRefused { what: &'static str, reason: String },
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    #[error("no conflict at that field in this case")]
    NoSuchConflict,
    #[error("a stored case document could not be read: {0}")]
    Document(String),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("file access failed: {0}")]
    Io(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(
        "this device is not enrolled with a sync server; run `outreach enroll --server URL --code CODE`"
    )]
    NotEnrolled,
    #[error("this device is already enrolled with a sync server")]
    AlreadyEnrolled,
    #[error(
        "refusing plain http:// to a server that is not on this machine: use https:// (or allow insecure http explicitly, for a test server)"
    )]
    InsecureServer,
    #[error("the server address is not a valid http:// or https:// URL")]
    BadServerUrl,
    #[error(
        "the sync server could not be reached ({0}); everything is kept on this device, sync again when connected"
    )]
    ServerUnreachable(String),
    #[error("the sync server refused the request: {0}")]
    ServerRefused(String),
    #[error("enrolment refused: {0}")]
    EnrolmentRefused(String),
    #[error("this device was revoked by your organisation: its vault has been wiped")]
    DeviceRevoked,
    #[error(
        "the sync server sent data this device cannot accept ({0}); nothing from it was applied"
    )]
    SyncProtocol(&'static str),
    #[error("sync cancelled; everything done so far is kept, sync again to finish")]
    Cancelled,
    #[error(
        "quick unlock is not set up (or no longer valid) on this device: unlock with your passphrase"
    )]
    QuickUnlockOff,
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        // SQLite messages name tables and constraints, never bound values; all
        // bound values are ciphertext or opaque ids anyway.
        Error::Storage(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.kind().to_string())
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        // Automerge errors can quote values (e.g. an invalid key); keep only the kind.
        let _ = e;
        Error::Document("the document structure is not what this version expects".into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
