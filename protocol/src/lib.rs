//! The sync wire protocol, shared by the server and the devices' sync engine.
//!
//! It lives in its own crate so that the server never links the vault,
//! on-device SQLite code or Automerge: everything the server may know is
//! here — ids, sizes, signatures — and nothing that could open a record.
//!
//! Bodies are [postcard](https://docs.rs/postcard) (compact, length-prefixed
//! bytes) rather than JSON, so a pushed visit costs its ciphertext plus a few
//! dozen bytes, not a base64 inflation of a third. `docs/SYNC-API.md` is the
//! written specification of every endpoint and of what each signature covers.

mod compact;
mod erasure;
mod messages;
mod safety;
mod sign;
mod wire;

pub use compact::*;
pub use erasure::*;
pub use messages::*;
pub use safety::*;
pub use sign::*;
pub use wire::*;

/// Version prefix of every endpoint.
pub const PATH_ENROLL: &str = "/v1/enroll";
pub const PATH_PUSH: &str = "/v1/push";
pub const PATH_PULL: &str = "/v1/pull";
pub const PATH_ASSIGN: &str = "/v1/assign";
pub const PATH_REFETCH: &str = "/v1/refetch";
pub const PATH_TRANSFER: &str = "/v1/transfer";
/// A device reports items it received but had to quarantine.
pub const PATH_REPORT: &str = "/v1/report";
/// A device starts a new case-key epoch (see [`RotateRequest`]).
pub const PATH_ROTATE: &str = "/v1/rotate";
pub const PATH_HEALTH: &str = "/healthz";

/// Content type of every request and response body except `/healthz`.
pub const CONTENT_TYPE: &str = "application/vnd.outreach.v1+postcard";
/// Header carrying a device's request signature (see [`RequestAuth`]).
pub const AUTH_HEADER: &str = "authorization";
/// Scheme name in the authorization header.
pub const AUTH_SCHEME: &str = "Outreach-Ed25519";

/// Largest request body the server reads.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Largest single change ciphertext.
pub const MAX_BLOB_BYTES: usize = 4 * 1024 * 1024;
/// Largest case-key envelope (`enc` + `ciphertext`): an HPKE envelope of a
/// 32-byte key is about 80 bytes; anything near this limit is not one.
pub const MAX_ENVELOPE_BYTES: usize = 1024;
/// Most cases one `/v1/refetch` may name.
pub const MAX_REFETCH_CASES: usize = 64;
/// Most envelopes one `/v1/rotate` may carry (the case's authorised
/// devices and the recovery key).
pub const MAX_ROTATE_ENVELOPES: usize = 512;
/// Most rotations one pull asks of a device.
pub const MAX_ROTATIONS_PER_PULL: usize = 32;
/// Most items one `/v1/report` may carry.
pub const MAX_REPORT_ITEMS: usize = 256;
/// Largest page a pull returns (the device may ask for less).
pub const MAX_PULL_BYTES: u32 = 4 * 1024 * 1024;
/// Default page size of a pull.
pub const DEFAULT_PULL_BYTES: u32 = 1024 * 1024;
/// A signed request older or newer than this (seconds) is refused.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// A 16-byte identifier (organisation, user, device, case, client change id).
pub type Id = [u8; 16];

/// The recipient id of the envelope sealed to the organisation's recovery key.
pub const RECOVERY_RECIPIENT: Id = [0u8; 16];

/// Why a message could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("the message is malformed")]
    Malformed,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("a public key is malformed")]
    BadKey,
}

/// Encodes a message body.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain data to a Vec cannot fail: no maps with non-string
    // keys, no I/O; an empty body would be refused by the peer as malformed.
    postcard::to_allocvec(value).unwrap_or_default()
}

/// Decodes a message body; trailing bytes are refused.
pub fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ProtocolError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(ProtocolError::Malformed),
    }
}
