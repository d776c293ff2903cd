//! Record sealing: XChaCha20-Poly1305 with a key commitment.
//!
//! Sealed format, version 1 (73 bytes of overhead):
//!
//! ```text
//! [0]      format version (1)
//! [1..25]  random 24-byte nonce, fresh from the OS for every seal
//! [25..57] key commitment: BLAKE3-keyed(commit-subkey, nonce ‖ aad)
//! [57..]   ciphertext ‖ 16-byte Poly1305 tag
//! ```
//!
//! The associated data names where the ciphertext belongs (vault, case, kind of
//! record, record id, sequence); it is not stored, the reader rebuilds it from
//! the row it is reading, so a ciphertext copied to another row or case fails
//! to open. The commitment is checked before the AEAD so that a ciphertext can
//! open under exactly one key (Poly1305 alone is not key-committing).

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroize;

use super::{CryptoError, SecretKey, random_bytes};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const COMMIT_LEN: usize = 32;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN + COMMIT_LEN;
/// Bytes a sealed value adds to its plaintext.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// What a sealed value is; part of its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// The device root key, wrapped by the passphrase key.
    DeviceRootKey = 1,
    /// Vault settings (practitioner, device and actor ids).
    Settings = 2,
    /// A compacted Automerge document of one case.
    CaseSnapshot = 3,
    /// Automerge changes of one case, appended after its snapshot.
    CaseChunk = 4,
    /// Platform-factor test wrapping (see `vault::platform`).
    PlatformWrap = 5,
    /// Automerge changes of one case as uploaded, under the case key.
    SyncChange = 6,
    /// This device's signing and key-agreement seeds.
    DeviceIdentity = 7,
    /// A case key, wrapped under the device root key.
    CaseKey = 8,
    /// Sync settings and per-case sync state.
    SyncState = 9,
    /// An unsubmitted contact record.
    Draft = 10,
    /// The root key wrapped under the quick-unlock key.
    QuickUnlock = 11,
    /// What the caseload shows of one case, as of one chunk sequence.
    CaseSummary = 12,
    /// A received item quarantined as bad (kept for the record).
    Rejected = 13,
    /// One entry of this device's access log (an export it made).
    AccessLog = 14,
    /// A case's typed records as of one chunk sequence (what opening it
    /// reads without loading its whole Automerge history).
    CaseReadCache = 15,
    /// A lone-working check-in note, sealed under the case key (the server
    /// stores and forwards it).
    SafetyNote = 16,
    /// This device's lone-working queue and last known safety state.
    SafetyState = 17,
}

/// Associated data binding a ciphertext to its place.
pub struct Aad<'a> {
    vault: [u8; 16],
    case: [u8; 16],
    kind: RecordKind,
    record: &'a [u8],
    seq: u64,
}

impl<'a> Aad<'a> {
    /// `case` is all zeros for vault-level records.
    pub fn new(
        vault: [u8; 16],
        case: [u8; 16],
        kind: RecordKind,
        record: &'a [u8],
        seq: u64,
    ) -> Self {
        Self {
            vault,
            case,
            kind,
            record,
            seq,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 1 + 32 + 1 + 8 + 2 + self.record.len());
        out.extend_from_slice(b"OUTREACH");
        out.push(VERSION);
        out.extend_from_slice(&self.vault);
        out.extend_from_slice(&self.case);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.seq.to_be_bytes());
        // Length-prefixed so that no two (record, seq) pairs encode the same.
        let len = u16::try_from(self.record.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.record[..usize::from(len)]);
        out
    }
}

fn commitment(key: &SecretKey, nonce: &[u8], aad: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(&key.commit);
    h.update(nonce);
    h.update(aad);
    h.finalize()
}

/// Encrypts `plaintext` for the place described by `aad`.
pub fn seal(key: &SecretKey, aad: &Aad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let aad = aad.encode();
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(commitment(key, &nonce, &aad).as_bytes());
    out.extend_from_slice(plaintext);
    let cipher = XChaCha20Poly1305::new((&key.cipher).into());
    let tag = cipher
        .encrypt_inout_detached(
            &XNonce::from(nonce),
            &aad,
            out[HEADER_LEN..].as_mut().into(),
        )
        .map_err(|_| CryptoError::Corrupt)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Decrypts a value sealed by [`seal`] for the same place. Any mismatch —
/// wrong key, wrong place, a flipped or missing byte — is [`CryptoError::Corrupt`].
pub fn open(key: &SecretKey, aad: &Aad<'_>, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < SEAL_OVERHEAD || sealed[0] != VERSION {
        return Err(CryptoError::Corrupt);
    }
    let aad = aad.encode();
    let nonce = &sealed[1..1 + NONCE_LEN];
    let stored_commit = &sealed[1 + NONCE_LEN..HEADER_LEN];
    let expected = commitment(key, nonce, &aad);
    // blake3::Hash equality is constant-time.
    let stored: [u8; COMMIT_LEN] = stored_commit.try_into().map_err(|_| CryptoError::Corrupt)?;
    if expected != blake3::Hash::from(stored) {
        return Err(CryptoError::Corrupt);
    }
    let (body, tag) = sealed[HEADER_LEN..].split_at(sealed.len() - HEADER_LEN - TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Corrupt)?;
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| CryptoError::Corrupt)?;
    let mut plain = body.to_vec();
    let cipher = XChaCha20Poly1305::new((&key.cipher).into());
    if cipher
        .decrypt_inout_detached(
            &XNonce::from(nonce),
            &aad,
            plain.as_mut_slice().into(),
            &Tag::from(tag),
        )
        .is_err()
    {
        plain.zeroize();
        return Err(CryptoError::Corrupt);
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad(case: u8, seq: u64) -> Aad<'static> {
        Aad::new([7; 16], [case; 16], RecordKind::CaseChunk, b"row", seq)
    }

    #[test]
    fn round_trip_and_fresh_nonces() {
        let key = SecretKey::generate().unwrap();
        let a = seal(&key, &aad(1, 1), b"visit note").unwrap();
        let b = seal(&key, &aad(1, 1), b"visit note").unwrap();
        assert_ne!(
            a, b,
            "two seals of the same value must differ (fresh nonce)"
        );
        assert_eq!(a.len(), b"visit note".len() + SEAL_OVERHEAD);
        assert_eq!(open(&key, &aad(1, 1), &a).unwrap(), b"visit note");
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_detected() {
        let key = SecretKey::generate().unwrap();
        let sealed = seal(&key, &aad(1, 1), b"the woman's own words").unwrap();
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(
                open(&key, &aad(1, 1), &t),
                Err(CryptoError::Corrupt),
                "byte {i}"
            );
        }
        for len in 0..sealed.len() {
            assert_eq!(
                open(&key, &aad(1, 1), &sealed[..len]),
                Err(CryptoError::Corrupt)
            );
        }
    }

    #[test]
    fn wrong_place_or_key_is_detected() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let sealed = seal(&key, &aad(1, 1), b"x").unwrap();
        assert_eq!(open(&key, &aad(2, 1), &sealed), Err(CryptoError::Corrupt));
        assert_eq!(open(&key, &aad(1, 2), &sealed), Err(CryptoError::Corrupt));
        assert_eq!(open(&other, &aad(1, 1), &sealed), Err(CryptoError::Corrupt));
        let kind = Aad::new([7; 16], [1; 16], RecordKind::CaseSnapshot, b"row", 1);
        assert_eq!(open(&key, &kind, &sealed), Err(CryptoError::Corrupt));
    }
}
