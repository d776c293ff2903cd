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
    #[error("{message}")]
    PlatformKey { message: String },
    #[error("{message}")]
    InvalidInput { message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    Corrupt { message: String },
    #[error("{message}")]
    Storage { message: String },
    #[error("{message}")]
    Internal { message: String },
    /// The server could not be reached; everything is kept, try again later.
    #[error("{message}")]
    Offline { message: String },
    /// The organisation revoked this device; the vault has been wiped.
    #[error("this device was revoked by your organisation: its vault has been wiped")]
    DeviceRevoked,
    #[error("{message}")]
    Sync { message: String },
}

impl From<CoreError> for OutreachError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::NoVault => Self::NoVault,
            CoreError::VaultExists => Self::VaultExists,
            CoreError::WrongPassphrase { remaining } => Self::WrongPassphrase { remaining },
            CoreError::Wiped => Self::Wiped,
            CoreError::Locked => Self::Locked,
            CoreError::PlatformKeyRequired => Self::PlatformKeyRequired,
            CoreError::Platform(_) => Self::PlatformKey { message },
            CoreError::Invalid(_) | CoreError::UnsafeKdfParams => Self::InvalidInput { message },
            CoreError::UnknownCase
            | CoreError::AmbiguousCase
            | CoreError::UnknownRecord(_)
            | CoreError::NoSuchConflict => Self::NotFound { message },
            CoreError::HeaderCorrupt | CoreError::CorruptRecord { .. } | CoreError::Document(_) => {
                Self::Corrupt { message }
            }
            CoreError::SchemaTooNew { .. } | CoreError::Storage(_) | CoreError::Io(_) => {
                Self::Storage { message }
            }
            CoreError::Crypto(_) => Self::Internal { message },
            CoreError::ServerUnreachable(_) => Self::Offline { message },
            CoreError::DeviceRevoked => Self::DeviceRevoked,
            CoreError::InsecureServer | CoreError::BadServerUrl => Self::InvalidInput { message },
            CoreError::NotEnrolled
            | CoreError::AlreadyEnrolled
            | CoreError::ServerRefused(_)
            | CoreError::EnrolmentRefused(_)
            | CoreError::SyncProtocol(_)
            | CoreError::Cancelled => Self::Sync { message },
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
    #[error("the device key store failed: {message}")]
    Failed { message: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformKeyError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        let _ = e;
        Self::Failed {
            message: "the platform key callback failed unexpectedly".into(),
        }
    }
}

impl From<PlatformKeyError> for outreach_core::PlatformKeyError {
    fn from(e: PlatformKeyError) -> Self {
        match e {
            PlatformKeyError::Unavailable => Self::Unavailable,
            PlatformKeyError::Invalidated => Self::Invalidated,
            PlatformKeyError::Failed { message } => Self::Failed(message),
        }
    }
}
