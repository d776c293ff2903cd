//! The organisation's recovery key and enrolment codes.
//!
//! The recovery key pair is generated here once; the private half goes to a
//! file for the admin to move offline, and the server keeps only the public
//! half. Enrolment codes are random, shown once, and stored only as hashes.

use std::io::Write;
use std::path::Path;

use hpke::{Deserializable, Kem as _, Serializable, kem::X25519HkdfSha256};
use zeroize::Zeroizing;

/// The file format of a recovery private key.
pub const RECOVERY_FORMAT: &str = "outreach.recovery-key.v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the operating system could not supply random bytes")]
    Random,
    #[error("{0} already exists: refusing to overwrite a recovery key")]
    Exists(String),
    #[error("could not write the recovery key file: {0}")]
    Write(std::io::Error),
}

/// Generates the recovery key pair, writes the private half to `out`
/// (created, never overwritten, owner-only) and returns the public half.
pub fn write_recovery_key(out: &Path, org_name: &str) -> Result<[u8; 32], KeyError> {
    let mut ikm = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut ikm[..]).map_err(|_| KeyError::Random)?;
    let (sk, pk) = X25519HkdfSha256::derive_keypair(&ikm[..]);
    let pk_bytes: [u8; 32] = pk.to_bytes().into();
    let sk_hex = Zeroizing::new(hex::encode(sk.to_bytes()));
    let body = Zeroizing::new(
        serde_json::to_string_pretty(&serde_json::json!({
            "format": RECOVERY_FORMAT,
            "organisation": org_name,
            "kem": "DHKEM(X25519, HKDF-SHA256)",
            "public_key": hex::encode(pk_bytes),
            "private_key": sk_hex.as_str(),
            "warning": "Whoever holds this file can open every case of the organisation. Keep it offline, on paper or an encrypted drive in a safe; never on the server.",
        }))
        .unwrap_or_default(),
    );
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists(out.display().to_string())
        } else {
            KeyError::Write(e)
        }
    })?;
    f.write_all(body.as_bytes()).map_err(KeyError::Write)?;
    f.sync_all().map_err(KeyError::Write)?;
    Ok(pk_bytes)
}

/// Why a file is not a usable recovery key (no key material in messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryKeyFileError {
    #[error("it is not an Outreach recovery key file (format {RECOVERY_FORMAT})")]
    NotAKeyFile,
    #[error("its private key is damaged: not 64 hexadecimal digits")]
    Damaged,
}

#[derive(serde::Deserialize)]
struct RecoveryKeyFile {
    format: String,
    private_key: String,
}

/// Reads the private key out of a file written by [`write_recovery_key`]
/// (the format is spelled here, beside the writer, and nowhere else).
pub fn read_recovery_key(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, RecoveryKeyFileError> {
    let mut file: RecoveryKeyFile =
        serde_json::from_slice(bytes).map_err(|_| RecoveryKeyFileError::NotAKeyFile)?;
    let hex_key = Zeroizing::new(std::mem::take(&mut file.private_key));
    if file.format != RECOVERY_FORMAT {
        return Err(RecoveryKeyFileError::NotAKeyFile);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_key.trim(), &mut key[..])
        .map_err(|_| RecoveryKeyFileError::Damaged)?;
    Ok(key)
}

/// Checks that 32 bytes are a valid X25519 public key.
pub fn valid_kex_pk(pk: &[u8; 32]) -> bool {
    <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(pk).is_ok()
}

/// A fresh enrolment code, as shown to the admin: 20 hex digits in groups.
pub fn new_code() -> Result<String, KeyError> {
    let mut raw = [0u8; 10];
    getrandom::fill(&mut raw).map_err(|_| KeyError::Random)?;
    let hex = hex::encode(raw);
    Ok(hex
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-"))
}

/// What the server stores of a code: its hash (codes are compared
/// ignoring case, spaces and dashes, as people retype them).
pub fn code_hash(code: &str) -> [u8; 32] {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    blake3::derive_key("outreach 2026-11 enrolment code", normal.as_bytes())
}
