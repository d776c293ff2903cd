//! Passphrase → key-encryption key, with Argon2id.
//!
//! The parameters are read back from the vault header, which sits in a file an
//! attacker may edit; [`KdfParams::validate`] bounds them so a tampered header
//! can neither weaken the derivation below OWASP's floor nor make an unlock
//! allocate gigabytes on a phone.

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::{CryptoError, SecretKey};

/// Argon2id cost parameters as stored in the vault header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// RFC 9106 second recommendation: 64 MiB, 3 passes, 4 lanes.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 4,
    };
    /// OWASP's minimum for Argon2id (19 MiB, t = 2, p = 1). Tests use this.
    pub const FLOOR: KdfParams = KdfParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// Upper bounds accepted from a header.
    pub const MAX_M_KIB: u32 = 256 * 1024;
    pub const MAX_T: u32 = 10;
    pub const MAX_P: u32 = 8;

    /// Accepts only parameters between the floor and the caps.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let ok = (Self::FLOOR.m_kib..=Self::MAX_M_KIB).contains(&self.m_kib)
            && (Self::FLOOR.t..=Self::MAX_T).contains(&self.t)
            && (1..=Self::MAX_P).contains(&self.p)
            && self.m_kib >= 8 * self.p;
        if ok {
            Ok(())
        } else {
            Err(CryptoError::KdfParams)
        }
    }
}

/// Derives a 256-bit key from `passphrase` and `salt`.
pub fn derive_key(
    passphrase: &[u8],
    salt: &[u8; 16],
    params: KdfParams,
) -> Result<SecretKey, CryptoError> {
    params.validate()?;
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|_| CryptoError::KdfParams)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut out = [0u8; 32];
    let result = argon.hash_password_into(passphrase, salt, &mut out);
    if result.is_err() {
        out.zeroize();
        return Err(CryptoError::Kdf);
    }
    Ok(SecretKey::from_bytes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_reject_tampered_headers() {
        assert!(KdfParams::DEFAULT.validate().is_ok());
        assert!(KdfParams::FLOOR.validate().is_ok());
        for bad in [
            KdfParams {
                m_kib: 1024,
                t: 3,
                p: 1,
            },
            KdfParams {
                m_kib: 4 * 1024 * 1024,
                t: 3,
                p: 4,
            },
            KdfParams {
                m_kib: 65536,
                t: 1,
                p: 4,
            },
            KdfParams {
                m_kib: 65536,
                t: 1000,
                p: 4,
            },
            KdfParams {
                m_kib: 65536,
                t: 3,
                p: 0,
            },
            KdfParams {
                m_kib: 65536,
                t: 3,
                p: 64,
            },
        ] {
            assert_eq!(bad.validate(), Err(CryptoError::KdfParams), "{bad:?}");
            assert!(derive_key(b"x", &[0; 16], bad).is_err());
        }
    }

    #[test]
    fn same_inputs_same_key_different_salt_different_key() {
        let aad = super::super::Aad::new(
            [1; 16],
            [0; 16],
            super::super::RecordKind::Settings,
            b"t",
            0,
        );
        let k1 = derive_key(b"pass", &[1; 16], KdfParams::FLOOR).unwrap();
        let k2 = derive_key(b"pass", &[1; 16], KdfParams::FLOOR).unwrap();
        let k3 = derive_key(b"pass", &[2; 16], KdfParams::FLOOR).unwrap();
        let sealed = super::super::seal(&k1, &aad, b"hello").unwrap();
        assert_eq!(super::super::open(&k2, &aad, &sealed).unwrap(), b"hello");
        assert_eq!(
            super::super::open(&k3, &aad, &sealed),
            Err(CryptoError::Corrupt)
        );
    }
}
