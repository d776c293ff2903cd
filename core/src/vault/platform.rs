//! The optional second wrapping factor: a key held by the platform (Android
//! Keystore, iOS Keychain / Secure Enclave) that never leaves it. The vault
//! hands the platform its passphrase-wrapped root key to seal once more, so
//! unlocking needs both the passphrase and this device's hardware-held key: a
//! copied vault file cannot be attacked offline with passphrase guesses alone.

use crate::crypto::{Aad, RecordKind, SecretKey, open, seal};
use crate::error::PlatformKeyError;

/// Implemented by the mobile shells (exported as a foreign trait by the
/// bindings). Implementations must never log or keep what they are given.
pub trait PlatformKeyStore: Send + Sync {
    /// Encrypts `plaintext` under the platform-held key.
    fn seal(&self, plaintext: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError>;
    /// Decrypts what [`PlatformKeyStore::seal`] produced.
    fn open(&self, sealed: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError>;
}

/// A software stand-in for tests and the terminal shell: an in-memory key.
/// It offers none of the hardware protection a real platform key store does.
pub struct SoftwareKeyStore {
    key: SecretKey,
}

impl SoftwareKeyStore {
    pub fn new() -> Result<Self, PlatformKeyError> {
        let key = SecretKey::generate().map_err(|e| PlatformKeyError::Failed(e.to_string()))?;
        Ok(Self { key })
    }

    fn aad() -> Aad<'static> {
        Aad::new(
            [0; 16],
            [0; 16],
            RecordKind::PlatformWrap,
            b"software-key-store",
            0,
        )
    }
}

impl PlatformKeyStore for SoftwareKeyStore {
    fn seal(&self, plaintext: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError> {
        seal(&self.key, &Self::aad(), &plaintext)
            .map_err(|e| PlatformKeyError::Failed(e.to_string()))
    }

    fn open(&self, sealed: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError> {
        open(&self.key, &Self::aad(), &sealed).map_err(|_| PlatformKeyError::Invalidated)
    }
}
