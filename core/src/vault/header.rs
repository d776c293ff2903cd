//! The vault header: how to turn a passphrase into the key that unwraps the
//! device root key. It is plaintext (it must be read before unlocking), so it
//! is parsed strictly and its Argon2 parameters are bounded; its exact bytes
//! are hashed into the associated data of the wrapped root key, so any edit
//! to it makes unwrapping fail.

use serde::{Deserialize, Serialize};

use crate::crypto::KdfParams;
use crate::error::{Error, Result};

pub const HEADER_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: u32,
    pub vault_id: String,
    pub kdf_algorithm: String,
    pub kdf: KdfParams,
    pub salt: String,
    pub platform_bound: bool,
    pub wipe_after: u32,
}

impl Header {
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let h: Header = serde_json::from_slice(bytes).map_err(|_| Error::HeaderCorrupt)?;
        if h.format != HEADER_FORMAT
            || h.kdf_algorithm != "argon2id"
            || !(1..=1000).contains(&h.wipe_after)
        {
            return Err(Error::HeaderCorrupt);
        }
        h.vault_id_bytes()?;
        h.salt_bytes()?;
        h.kdf.validate().map_err(|_| Error::UnsafeKdfParams)?;
        Ok(h)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn vault_id_bytes(&self) -> Result<[u8; 16]> {
        hex16(&self.vault_id)
    }

    pub fn salt_bytes(&self) -> Result<[u8; 16]> {
        hex16(&self.salt)
    }
}

fn hex16(s: &str) -> Result<[u8; 16]> {
    let v = hex::decode(s).map_err(|_| Error::HeaderCorrupt)?;
    v.try_into().map_err(|_| Error::HeaderCorrupt)
}
