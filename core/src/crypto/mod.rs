//! Crypto primitives: pure functions and key types, no I/O.
//!
//! Everything that protects a record goes through this module so that the rest
//! of the code never touches a raw key byte, a nonce or an AEAD call. Keys are
//! neither `Debug` nor `Clone` and are zeroized when dropped; callers hold them
//! only inside the vault.

mod identity;
mod kdf;
mod key;
mod seal;

pub use identity::{
    DeviceKeys, open_envelope_with_recovery_key, recovery_public_key, seal_envelope,
};
pub use kdf::{KdfParams, derive_key};
pub use key::SecretKey;
pub use seal::{Aad, RecordKind, SEAL_OVERHEAD, open, seal};

/// Why a crypto operation failed. Deliberately carries no data: a failure to
/// open says nothing about what was inside.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the operating system could not supply random bytes")]
    Random,
    #[error("stored ciphertext failed its integrity check")]
    Corrupt,
    #[error("key derivation parameters are outside the accepted range")]
    KdfParams,
    #[error("key derivation failed")]
    Kdf,
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}

/// A fresh random 16-byte identifier (vault, device, actor ids).
pub fn random_id() -> Result<[u8; 16], CryptoError> {
    let mut id = [0u8; 16];
    random_bytes(&mut id)?;
    Ok(id)
}
