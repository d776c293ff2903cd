//! What each signature covers. Every signed message starts with a distinct
//! context string, so a signature made for one purpose never verifies for
//! another; variable-length parts are hashed, fixed-length parts included
//! as they are.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::{Id, ProtocolError};

/// A device's signature on an HTTP request: method, path, time and body.
/// There is no bearer token: a copy of one request is useless for another
/// path, body or time, and a replayed push is absorbed by its client ids.
pub fn request_message(method: &str, path: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + path.len());
    m.extend_from_slice(b"outreach-request-v1\n");
    m.extend_from_slice(method.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(path.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.extend_from_slice(blake3::hash(body).as_bytes());
    m
}

/// Proof that the enrolling device holds the private half of `sign_pk`, bound
/// to the code and the other key it registers.
pub fn enroll_message(
    code: &str,
    device_id: &Id,
    sign_pk: &[u8; 32],
    kex_pk: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(b"outreach-enroll-v1");
    m.extend_from_slice(blake3::hash(code.as_bytes()).as_bytes());
    m.extend_from_slice(device_id);
    m.extend_from_slice(sign_pk);
    m.extend_from_slice(kex_pk);
    m
}

/// A change: its case, epoch, author, client id and ciphertext.
pub fn change_message(
    case_id: &Id,
    epoch: u32,
    author: &Id,
    client_id: &Id,
    ciphertext: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(b"outreach-change-v1");
    m.extend_from_slice(case_id);
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(author);
    m.extend_from_slice(client_id);
    m.extend_from_slice(blake3::hash(ciphertext).as_bytes());
    m
}

/// A supervisor's decision on a visit, carried inside the (end-to-end
/// encrypted) case document so that every receiving device can check who
/// made it against the organisation's directory. Variable-length parts are
/// hashed one by one, so no two different decisions share a message.
#[allow(clippy::too_many_arguments)]
pub fn sign_off_message(
    org_id: &Id,
    case_id: &Id,
    visit_id: &str,
    decision: &str,
    at: &str,
    comment: Option<&str>,
    by_user: &Id,
    device: &Id,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(192);
    m.extend_from_slice(b"outreach-sign-off-v1");
    m.extend_from_slice(org_id);
    m.extend_from_slice(case_id);
    for part in [visit_id, decision, at] {
        m.extend_from_slice(blake3::hash(part.as_bytes()).as_bytes());
    }
    match comment {
        None => m.push(0),
        Some(c) => {
            m.push(1);
            m.extend_from_slice(blake3::hash(c.as_bytes()).as_bytes());
        }
    }
    m.extend_from_slice(by_user);
    m.extend_from_slice(device);
    m
}

/// An envelope: case, epoch, recipient, sealer and the sealed bytes.
pub fn envelope_message(
    case_id: &Id,
    epoch: u32,
    recipient: &Id,
    sealed_by: &Id,
    enc: &[u8],
    ciphertext: &[u8],
) -> Vec<u8> {
    let mut h = blake3::Hasher::new();
    h.update(&(enc.len() as u64).to_be_bytes());
    h.update(enc);
    h.update(ciphertext);
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(b"outreach-envelope-v1");
    m.extend_from_slice(case_id);
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(recipient);
    m.extend_from_slice(sealed_by);
    m.extend_from_slice(h.finalize().as_bytes());
    m
}

/// HPKE `info` of a case-key envelope (RFC 9180 base mode,
/// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305).
pub const ENVELOPE_INFO: &[u8] = b"outreach case key envelope v1";

/// HPKE associated data of a case-key envelope: it opens only for the case,
/// epoch and recipient it was sealed for.
pub fn envelope_aad(org: &Id, case_id: &Id, epoch: u32, recipient: &Id) -> Vec<u8> {
    let mut m = Vec::with_capacity(60);
    m.extend_from_slice(org);
    m.extend_from_slice(case_id);
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(recipient);
    m
}

/// Verifies an Ed25519 signature (strict: no malleable or small-order keys).
pub fn verify(sign_pk: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<(), ProtocolError> {
    let key = VerifyingKey::from_bytes(sign_pk).map_err(|_| ProtocolError::BadKey)?;
    let sig = Signature::from_slice(signature).map_err(|_| ProtocolError::BadSignature)?;
    key.verify_strict(message, &sig)
        .map_err(|_| ProtocolError::BadSignature)
}

/// The `authorization` header value of a signed request.
pub fn auth_header(device_id: &Id, timestamp: i64, signature: &[u8]) -> String {
    format!(
        "{} device={},ts={},sig={}",
        crate::AUTH_SCHEME,
        hex::encode(device_id),
        timestamp,
        hex::encode(signature)
    )
}

/// Parses an `authorization` header into (device id, timestamp, signature).
pub fn parse_auth_header(value: &str) -> Option<(Id, i64, Vec<u8>)> {
    let rest = value.strip_prefix(crate::AUTH_SCHEME)?.trim_start();
    let (mut device, mut ts, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "device" => device = hex::decode(v).ok()?.try_into().ok(),
            "ts" => ts = v.parse().ok(),
            "sig" => sig = hex::decode(v).ok(),
            _ => return None,
        }
    }
    Some((device?, ts?, sig?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn signatures_are_bound_to_their_purpose_and_content() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let pk = key.verifying_key().to_bytes();
        let m = change_message(&[1; 16], 0, &[2; 16], &[3; 16], b"ciphertext");
        let sig = key.sign(&m).to_bytes();
        assert_eq!(verify(&pk, &m, &sig), Ok(()));
        let other_case = change_message(&[9; 16], 0, &[2; 16], &[3; 16], b"ciphertext");
        assert_eq!(
            verify(&pk, &other_case, &sig),
            Err(ProtocolError::BadSignature)
        );
        let other_body = change_message(&[1; 16], 0, &[2; 16], &[3; 16], b"ciphertexT");
        assert_eq!(
            verify(&pk, &other_body, &sig),
            Err(ProtocolError::BadSignature)
        );
        assert_eq!(
            verify(&pk, &m, &sig[..63]),
            Err(ProtocolError::BadSignature)
        );
        let req = request_message("POST", "/v1/push", 5, b"body");
        assert_eq!(verify(&pk, &req, &sig), Err(ProtocolError::BadSignature));
    }

    #[test]
    fn auth_header_round_trips_and_rejects_garbage() {
        let h = auth_header(&[5; 16], 1_700_000_000, &[9; 64]);
        let (d, ts, sig) = parse_auth_header(&h).unwrap();
        assert_eq!((d, ts, sig), ([5; 16], 1_700_000_000, vec![9; 64]));
        for bad in [
            "",
            "Bearer x",
            "Outreach-Ed25519 device=zz,ts=1,sig=00",
            "Outreach-Ed25519 ts=1",
        ] {
            assert!(parse_auth_header(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn decode_refuses_trailing_and_truncated_bytes() {
        let body = crate::encode(&crate::PullRequest {
            cursor: crate::Cursor { seq: 300, sub: 0 },
            max_bytes: 1024,
        });
        assert!(crate::decode::<crate::PullRequest>(&body).is_ok());
        let mut longer = body.clone();
        longer.push(0);
        assert!(crate::decode::<crate::PullRequest>(&longer).is_err());
        assert!(crate::decode::<crate::PullRequest>(&body[..body.len() - 1]).is_err());
    }
}
