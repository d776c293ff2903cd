//! The public error enums and the one place core errors are mapped to them.
//! Messages are the core's: one line, no personal data.

use outreach_core::Error as CoreError;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum OutreachError {
    #[error("no vault at this location")]
    NoVault,
    #[error("a vault already exists at this location")]
    VaultExists,
    #[error("wrong passphrase ({remaining} attempts left before this vault is wiped)")]
    WrongPassphrase { remaining: u32 },
    #[error("too many wrong passphrases: this vault has been wiped")]
    Wiped,
    #[error("the vault is locked; unlock it first")]
    Locked,
    #[error("this vault also needs the device's platform key")]
    PlatformKeyRequired,
    #[error("{detail}")]
    PlatformKey { detail: String },
    #[error("{detail}")]
    InvalidInput { detail: String },
    #[error("{detail}")]
    NotFound { detail: String },
    /// The directory does not give this user the authority for the action
    /// (sign-off by a supervisor of the case's team, amendment by the
    /// visit's author, transfer by a supervisor).
    #[error("{detail}")]
    NotAllowed { detail: String },
    #[error("{detail}")]
    Corrupt { detail: String },
    #[error("{detail}")]
    Storage { detail: String },
    #[error("{detail}")]
    Internal { detail: String },
    /// The server could not be reached; everything is kept, try again later.
    #[error("{detail}")]
    Offline { detail: String },
    /// The organisation revoked this device; the vault has been wiped.
    #[error("this device was revoked by your organisation: its vault has been wiped")]
    DeviceRevoked,
    #[error("{detail}")]
    Sync { detail: String },
}

impl From<CoreError> for OutreachError {
    fn from(e: CoreError) -> Self {
        let detail = e.to_string();
        match e {
            CoreError::NoVault => Self::NoVault,
            CoreError::VaultExists => Self::VaultExists,
            CoreError::WrongPassphrase { remaining } => Self::WrongPassphrase { remaining },
            CoreError::Wiped => Self::Wiped,
            CoreError::Locked => Self::Locked,
            CoreError::PlatformKeyRequired => Self::PlatformKeyRequired,
            CoreError::Platform(_) => Self::PlatformKey { detail },
            CoreError::Invalid(_) | CoreError::UnsafeKdfParams => Self::InvalidInput { detail },
            CoreError::UnknownCase
            | CoreError::AmbiguousCase
            | CoreError::UnknownRecord(_)
            | CoreError::AmbiguousRecord(_)
            | CoreError::NoSuchConflict => Self::NotFound { detail },
            CoreError::NotSupervisor
            | CoreError::NotVisitAuthor
            | CoreError::NotAllowedToTransfer => Self::NotAllowed { detail },
            CoreError::NotReturned
            | CoreError::CaseClosed
            | CoreError::CaseNotClosed
            | CoreError::ForgetOpenCase
            | CoreError::ForgetUnsent
            | CoreError::CaseErased
            | CoreError::NotCheckedIn
            | CoreError::AlreadyCheckedIn
            | CoreError::SeveralCheckIns => Self::InvalidInput { detail },
            CoreError::UnknownAlert => Self::NotFound { detail },
            CoreError::NotAllowedToAcknowledge => Self::NotAllowed { detail },
            CoreError::HeaderCorrupt | CoreError::CorruptRecord { .. } | CoreError::Document(_) => {
                Self::Corrupt { detail }
            }
            CoreError::SchemaTooNew { .. } | CoreError::Storage(_) | CoreError::Io(_) => {
                Self::Storage { detail }
            }
            CoreError::Crypto(_) => Self::Internal { detail },
            CoreError::ServerUnreachable(_) => Self::Offline { detail },
            CoreError::DeviceRevoked => Self::DeviceRevoked,
            CoreError::InsecureServer | CoreError::BadServerUrl => Self::InvalidInput { detail },
            CoreError::NotEnrolled
            | CoreError::AlreadyEnrolled
            | CoreError::ServerRefused(_)
            | CoreError::EnrolmentRefused(_)
            | CoreError::SyncProtocol(_)
            | CoreError::SafetyRefused { .. }
            | CoreError::Cancelled => Self::Sync { detail },
            CoreError::QuickUnlockOff => Self::PlatformKey { detail },
        }
    }
}

/// What a platform key store implementation may return.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PlatformKeyError {
    #[error("the device key is unavailable (locked device or user cancelled)")]
    Unavailable,
    #[error("the device key was invalidated (for example biometrics changed)")]
    Invalidated,
    #[error("the device key store failed: {detail}")]
    Failed { detail: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformKeyError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        let _ = e;
        Self::Failed {
            detail: "the platform key callback failed unexpectedly".into(),
        }
    }
}

impl From<PlatformKeyError> for outreach_core::PlatformKeyError {
    fn from(e: PlatformKeyError) -> Self {
        match e {
            PlatformKeyError::Unavailable => Self::Unavailable,
            PlatformKeyError::Invalidated => Self::Invalidated,
            PlatformKeyError::Failed { detail } => Self::Failed(detail),
        }
    }
}
