//! The platform key store as a foreign trait: Kotlin (Android Keystore) and
//! Swift (Keychain / Secure Enclave) implement it; the core sees it through
//! its own `PlatformKeyStore` trait via this adapter.

use std::sync::Arc;

use crate::error::PlatformKeyError;

#[uniffi::export(with_foreign)]
pub trait PlatformKeyStore: Send + Sync {
    /// Encrypts `plaintext` under a key that never leaves the platform.
    fn seal(&self, plaintext: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError>;
    /// Decrypts what `seal` produced. (Not named `open`: that is a Swift
    /// keyword, and uniffi 0.32 escapes it into the C header, which then
    /// does not compile.)
    fn unseal(&self, sealed: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError>;
}

pub(crate) struct ForeignKeyStore(pub Arc<dyn PlatformKeyStore>);

impl outreach_core::vault::PlatformKeyStore for ForeignKeyStore {
    fn seal(&self, plaintext: Vec<u8>) -> Result<Vec<u8>, outreach_core::PlatformKeyError> {
        self.0.seal(plaintext).map_err(Into::into)
    }

    fn open(&self, sealed: Vec<u8>) -> Result<Vec<u8>, outreach_core::PlatformKeyError> {
        self.0.unseal(sealed).map_err(Into::into)
    }
}
