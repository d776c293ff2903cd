//! The one symmetric key type. It never hands out its bytes outside the crate
//! and cannot be printed or copied by accident.

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{CryptoError, random_bytes};

/// A 256-bit symmetric key with its derived key-commitment subkey.
///
/// Not `Clone`, not `Debug`; both halves are wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    pub(super) cipher: [u8; 32],
    pub(super) commit: [u8; 32],
}

const COMMIT_CONTEXT: &str = "outreach 2026-11 record key commitment v1";

impl SecretKey {
    /// A new random key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; 32];
        random_bytes(&mut bytes)?;
        Ok(Self::from_bytes(bytes))
    }

    /// Takes ownership of raw key bytes (which are wiped from the argument).
    pub(crate) fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let commit = blake3::derive_key(COMMIT_CONTEXT, &bytes);
        let key = Self {
            cipher: bytes,
            commit,
        };
        bytes.zeroize();
        key
    }

    /// Rebuilds a key from a decrypted byte slice (a wrapped key just opened).
    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Corrupt)?;
        let key = Self::from_bytes(arr);
        arr.zeroize();
        Ok(key)
    }

    /// Seals this key under `wrapping_key`; the only way its bytes leave the
    /// type, and only as ciphertext.
    pub fn wrap(
        &self,
        wrapping_key: &SecretKey,
        aad: &super::Aad<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        super::seal(wrapping_key, aad, &self.cipher)
    }

    /// The raw bytes, for the one place they may leave: a platform key store
    /// (Android Keystore, Secure Enclave) that seals them in hardware.
    pub(crate) fn bytes_for_platform(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(self.cipher.to_vec())
    }

    /// Opens a key sealed by [`SecretKey::wrap`].
    pub fn unwrap_from(
        wrapped: &[u8],
        wrapping_key: &SecretKey,
        aad: &super::Aad<'_>,
    ) -> Result<Self, CryptoError> {
        let mut bytes = super::open(wrapping_key, aad, wrapped)?;
        let key = Self::from_slice(&bytes);
        bytes.zeroize();
        key
    }
}
