//! A device's long-term keys — Ed25519 for signing what it uploads, X25519
//! for receiving case keys — and the HPKE envelopes that carry case keys
//! between devices (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305, via the `hpke` crate).
//!
//! Like [`SecretKey`], these types are neither `Debug` nor `Clone` and hand
//! out public halves and signatures only; the seeds leave the type sealed
//! under the vault's root key. A case key leaves [`SecretKey`] only inside an
//! envelope.

use ed25519_dalek::{Signer, SigningKey};
use hpke::{
    Deserializable, Kem as _, OpModeR, OpModeS, Serializable, aead::ChaCha20Poly1305,
    kdf::HkdfSha256, kem::X25519HkdfSha256,
};
use zeroize::{Zeroize, Zeroizing};

use super::{Aad, CryptoError, SecretKey, random_bytes};

type Kem = X25519HkdfSha256;

/// This device's signing and key-agreement keys.
pub struct DeviceKeys {
    sign: SigningKey,
    kex_seed: Zeroizing<[u8; 32]>,
    kex_sk: <Kem as hpke::Kem>::PrivateKey,
    kex_pk: [u8; 32],
}

impl DeviceKeys {
    /// Fresh keys from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut seeds = Zeroizing::new([0u8; 64]);
        random_bytes(&mut seeds[..])?;
        Ok(Self::from_seeds(&seeds))
    }

    fn from_seeds(seeds: &[u8; 64]) -> Self {
        let mut sign_seed = Zeroizing::new([0u8; 32]);
        sign_seed.copy_from_slice(&seeds[..32]);
        let mut kex_seed = Zeroizing::new([0u8; 32]);
        kex_seed.copy_from_slice(&seeds[32..]);
        let (kex_sk, kex_pk) = Kem::derive_keypair(&kex_seed[..]);
        Self {
            sign: SigningKey::from_bytes(&sign_seed),
            kex_seed,
            kex_sk,
            kex_pk: kex_pk.to_bytes().into(),
        }
    }

    /// Seals both seeds under `key` (the vault's root key).
    pub fn seal(&self, key: &SecretKey, aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let mut seeds = Zeroizing::new([0u8; 64]);
        seeds[..32].copy_from_slice(self.sign.as_bytes());
        seeds[32..].copy_from_slice(&self.kex_seed[..]);
        super::seal(key, aad, &seeds[..])
    }

    /// Opens keys sealed by [`DeviceKeys::seal`].
    pub fn open(sealed: &[u8], key: &SecretKey, aad: &Aad<'_>) -> Result<Self, CryptoError> {
        let mut plain = super::open(key, aad, sealed)?;
        let seeds: Result<[u8; 64], _> = plain.as_slice().try_into();
        plain.zeroize();
        let mut seeds = seeds.map_err(|_| CryptoError::Corrupt)?;
        let keys = Self::from_seeds(&seeds);
        seeds.zeroize();
        Ok(keys)
    }

    pub fn sign_pk(&self) -> [u8; 32] {
        self.sign.verifying_key().to_bytes()
    }

    pub fn kex_pk(&self) -> [u8; 32] {
        self.kex_pk
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.sign.sign(message).to_bytes()
    }

    /// Opens a case-key envelope addressed to this device.
    pub fn open_envelope(
        &self,
        enc: &[u8],
        ciphertext: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<SecretKey, CryptoError> {
        open_envelope_with(&self.kex_sk, enc, ciphertext, info, aad)
    }
}

fn open_envelope_with(
    sk: &<Kem as hpke::Kem>::PrivateKey,
    enc: &[u8],
    ciphertext: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<SecretKey, CryptoError> {
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| CryptoError::Corrupt)?;
    let mut plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        sk,
        &enc,
        info,
        ciphertext,
        aad,
    )
    .map_err(|_| CryptoError::Corrupt)?;
    let key = SecretKey::from_slice(&plain);
    plain.zeroize();
    key
}

/// Seals a case key to a recipient's X25519 public key. Returns
/// (encapsulated key, ciphertext).
pub fn seal_envelope(
    case_key: &SecretKey,
    recipient_pk: &[u8; 32],
    info: &[u8],
    aad: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient_pk)
        .map_err(|_| CryptoError::Corrupt)?;
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        info,
        &case_key.cipher,
        aad,
    )
    .map_err(|_| CryptoError::Random)?;
    Ok((enc.to_bytes().to_vec(), ct))
}

/// The public half of a recovery private key: recovery checks a key file
/// against the organisation's recovery public key before opening anything,
/// so a wrong file is one clear error rather than every envelope failing.
pub fn recovery_public_key(recovery_sk: &[u8]) -> Result<[u8; 32], CryptoError> {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(recovery_sk)
        .map_err(|_| CryptoError::Corrupt)?;
    Ok(Kem::sk_to_pk(&sk).to_bytes().into())
}

/// Opens an envelope with a recovery private key (32 bytes, as written by
/// `outreach-server init`): the organisation's offline path to a case.
pub fn open_envelope_with_recovery_key(
    recovery_sk: &[u8],
    enc: &[u8],
    ciphertext: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<SecretKey, CryptoError> {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(recovery_sk)
        .map_err(|_| CryptoError::Corrupt)?;
    open_envelope_with(&sk, enc, ciphertext, info, aad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RecordKind;

    #[test]
    fn envelope_opens_only_for_its_recipient_and_place() {
        let alice = DeviceKeys::generate().unwrap();
        let bob = DeviceKeys::generate().unwrap();
        let key = SecretKey::generate().unwrap();
        let (enc, ct) = seal_envelope(&key, &alice.kex_pk(), b"info", b"case-1").unwrap();
        let opened = alice.open_envelope(&enc, &ct, b"info", b"case-1").unwrap();
        // Same key: a value sealed with one opens with the other.
        let aad = Aad::new([0; 16], [1; 16], RecordKind::SyncChange, b"x", 0);
        let sealed = crate::crypto::seal(&key, &aad, b"visit").unwrap();
        assert_eq!(
            crate::crypto::open(&opened, &aad, &sealed).unwrap(),
            b"visit"
        );
        assert!(bob.open_envelope(&enc, &ct, b"info", b"case-1").is_err());
        assert!(alice.open_envelope(&enc, &ct, b"info", b"case-2").is_err());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(alice.open_envelope(&enc, &bad, b"info", b"case-1").is_err());
        assert!(
            alice
                .open_envelope(&enc[..31], &ct, b"info", b"case-1")
                .is_err()
        );
    }

    #[test]
    fn keys_survive_sealing() {
        let drk = SecretKey::generate().unwrap();
        let aad = Aad::new([3; 16], [0; 16], RecordKind::DeviceIdentity, b"identity", 0);
        let keys = DeviceKeys::generate().unwrap();
        let sealed = keys.seal(&drk, &aad).unwrap();
        let back = DeviceKeys::open(&sealed, &drk, &aad).unwrap();
        assert_eq!(keys.sign_pk(), back.sign_pk());
        assert_eq!(keys.kex_pk(), back.kex_pk());
        let other = Aad::new([4; 16], [0; 16], RecordKind::DeviceIdentity, b"identity", 0);
        assert!(DeviceKeys::open(&sealed, &drk, &other).is_err());
    }
}
