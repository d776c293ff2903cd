//! What each signature covers. Every signed message starts with a distinct
//! context string, so a signature made for one purpose never verifies for
//! another; variable-length parts are hashed, fixed-length parts included
//! as they are.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::{Id, ProtocolError};

/// A device's signature on an HTTP request: method, full URI (path and
/// query), time, a random nonce and the BLAKE3 hash of the body. There is no
/// bearer token: a copy of one request is useless for another URI, body or
/// time, and the server refuses a second use of a nonce inside the clock-skew
/// window. The body hash travels in the signed header (see [`RequestAuth`]),
/// so the server checks the signature before it reads a large body.
pub fn request_message(
    method: &str,
    uri: &str,
    timestamp: i64,
    nonce: &[u8; NONCE_LEN],
    body_hash: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(96 + uri.len());
    m.extend_from_slice(b"outreach-request-v2\n");
    m.extend_from_slice(method.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(uri.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.extend_from_slice(nonce);
    m.extend_from_slice(body_hash);
    m
}

/// Length of a request nonce (random, fresh for every request).
pub const NONCE_LEN: usize = 16;

/// BLAKE3 of a request body, as carried in [`RequestAuth::body_hash`].
pub fn body_hash(body: &[u8]) -> [u8; 32] {
    *blake3::hash(body).as_bytes()
}

/// The parts of a signed request's `authorization` header:
/// `Outreach-Ed25519 device=<32 hex>,ts=<unix s>,nonce=<32 hex>,body=<64 hex>,sig=<128 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    pub device: Id,
    pub ts: i64,
    pub nonce: [u8; NONCE_LEN],
    pub body_hash: [u8; 32],
    /// Ed25519 by the device over [`request_message`].
    pub sig: Vec<u8>,
}

impl RequestAuth {
    /// What the signature covers, for a request with this method and URI.
    pub fn message(&self, method: &str, uri: &str) -> Vec<u8> {
        request_message(method, uri, self.ts, &self.nonce, &self.body_hash)
    }

    /// The `authorization` header value.
    pub fn header(&self) -> String {
        format!(
            "{} device={},ts={},nonce={},body={},sig={}",
            crate::AUTH_SCHEME,
            hex::encode(self.device),
            self.ts,
            hex::encode(self.nonce),
            hex::encode(self.body_hash),
            hex::encode(&self.sig)
        )
    }
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
    content: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(224);
    m.extend_from_slice(b"outreach-sign-off-v2");
    // What the supervisor saw: a digest of the visit's content, so an edit
    // after the decision leaves it not covering the visit.
    m.extend_from_slice(content);
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

/// An envelope: case, epoch, recipient, sealer, whether it starts the
/// epoch, and the sealed bytes.
pub fn envelope_message(
    case_id: &Id,
    epoch: u32,
    recipient: &Id,
    sealed_by: &Id,
    starts_epoch: bool,
    enc: &[u8],
    ciphertext: &[u8],
) -> Vec<u8> {
    let mut h = blake3::Hasher::new();
    h.update(&(enc.len() as u64).to_be_bytes());
    h.update(enc);
    h.update(ciphertext);
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(b"outreach-envelope-v2");
    m.extend_from_slice(case_id);
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(recipient);
    m.extend_from_slice(sealed_by);
    m.push(u8::from(starts_epoch));
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

/// Parses an `authorization` header; every field exactly once, in any order.
pub fn parse_auth_header(value: &str) -> Option<RequestAuth> {
    let rest = value.strip_prefix(crate::AUTH_SCHEME)?.trim_start();
    let (mut device, mut ts, mut nonce, mut body, mut sig) = (None, None, None, None, None);
    fn once<T>(slot: &mut Option<T>, v: Option<T>) -> Option<()> {
        if slot.is_some() {
            return None;
        }
        *slot = Some(v?);
        Some(())
    }
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "device" => once(&mut device, hex::decode(v).ok()?.try_into().ok())?,
            "ts" => once(&mut ts, v.parse().ok())?,
            "nonce" => once(&mut nonce, hex::decode(v).ok()?.try_into().ok())?,
            "body" => once(&mut body, hex::decode(v).ok()?.try_into().ok())?,
            "sig" => once(&mut sig, hex::decode(v).ok())?,
            _ => return None,
        }
    }
    Some(RequestAuth {
        device: device?,
        ts: ts?,
        nonce: nonce?,
        body_hash: body?,
        sig: sig?,
    })
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
        let req = request_message("POST", "/v1/push", 5, &[1; 16], &body_hash(b"body"));
        assert_eq!(verify(&pk, &req, &sig), Err(ProtocolError::BadSignature));
        let req_sig = key.sign(&req).to_bytes();
        for other in [
            request_message("POST", "/v1/push?x=1", 5, &[1; 16], &body_hash(b"body")),
            request_message("POST", "/v1/push", 6, &[1; 16], &body_hash(b"body")),
            request_message("POST", "/v1/push", 5, &[2; 16], &body_hash(b"body")),
            request_message("POST", "/v1/push", 5, &[1; 16], &body_hash(b"bodY")),
        ] {
            assert_eq!(
                verify(&pk, &other, &req_sig),
                Err(ProtocolError::BadSignature)
            );
        }
    }

    #[test]
    fn auth_header_round_trips_and_rejects_garbage() {
        let auth = RequestAuth {
            device: [5; 16],
            ts: 1_700_000_000,
            nonce: [3; 16],
            body_hash: [4; 32],
            sig: vec![9; 64],
        };
        assert_eq!(parse_auth_header(&auth.header()), Some(auth.clone()));
        let twice = format!("{},ts=1", auth.header());
        for bad in [
            "",
            "Bearer x",
            "Outreach-Ed25519 device=zz,ts=1,sig=00",
            "Outreach-Ed25519 ts=1",
            twice.as_str(),
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
