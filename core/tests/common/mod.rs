//! What the device-side sync tests share: a colleague's device built from
//! the protocol's own types (signing as a real enrolled device would, or as
//! an insider sending garbage would), and the items and pages it sends.
#![allow(dead_code)] // each test binary uses its own part

use chrono::Utc;
use ed25519_dalek::{Signer as _, SigningKey};
use outreach_core::case::doc::{Author, CaseDoc, Patch};
use outreach_core::crypto::{self, SecretKey};
use outreach_core::vault::change_aad;
use outreach_protocol::{self as proto, Change, Entry, Envelope, Item, PullResponse, Role, Signer};
use serde_json::json;

pub const PASS: &str = "correct horse battery";
pub const ORG: [u8; 16] = [7; 16];

/// Another device of the organisation: its signing key and its directory entry.
pub struct Peer {
    pub key: SigningKey,
    pub signer: Signer,
}

pub fn peer(n: u8, role: Role, team: &str) -> Peer {
    let key = SigningKey::from_bytes(&[n; 32]);
    Peer {
        signer: Signer {
            device_id: [n; 16],
            sign_pk: key.verifying_key().to_bytes(),
            user_id: [n + 100; 16],
            user_name: format!("user {n}"),
            role,
            team: Some(team.into()),
            revoked_at: None,
        },
        key,
    }
}

/// A case key (epoch 0) sealed by `from` to the device `to`.
pub fn envelope(
    from: &Peer,
    case: [u8; 16],
    to: [u8; 16],
    to_pk: &[u8; 32],
    key: &SecretKey,
) -> Item {
    let aad = proto::envelope_aad(&ORG, &case, 0, &to);
    let (enc, ciphertext) = crypto::seal_envelope(key, to_pk, proto::ENVELOPE_INFO, &aad).unwrap();
    let m = proto::envelope_message(
        &case,
        0,
        &to,
        &from.signer.device_id,
        false,
        &enc,
        &ciphertext,
    );
    Item::Envelope(Envelope {
        case_id: case,
        starts_epoch: false,
        epoch: 0,
        recipient: to,
        sealed_by: from.signer.device_id,
        enc,
        ciphertext,
        signature: from.key.sign(&m).to_bytes().to_vec(),
    })
}

/// `bytes` sealed under the case key (epoch 0) and signed by `from`.
pub fn change(from: &Peer, case: [u8; 16], key: &SecretKey, bytes: &[u8]) -> Item {
    let client_id = crypto::random_id().unwrap();
    let ciphertext = crypto::seal(key, &change_aad(ORG, case, 0, &client_id), bytes).unwrap();
    signed_change(from, case, client_id, ciphertext)
}

/// Any ciphertext, signed by `from` as a change of `case`.
pub fn signed_change(
    from: &Peer,
    case: [u8; 16],
    client_id: [u8; 16],
    ciphertext: Vec<u8>,
) -> Item {
    let m = proto::change_message(&case, 0, &from.signer.device_id, &client_id, &ciphertext);
    Item::Change(Change {
        client_id,
        case_id: case,
        epoch: 0,
        author: from.signer.device_id,
        ciphertext,
        signature: from.key.sign(&m).to_bytes().to_vec(),
    })
}

/// A new case document (as its creator's first upload carries it).
pub fn case_doc(id: &str, name: &str) -> Vec<u8> {
    let author = Author {
        by: "Amy".into(),
        role: Some("practitioner".into()),
        device: "amy".into(),
    };
    CaseDoc::create(
        &[0xa1; 16],
        id,
        &author,
        Utc::now(),
        &[Patch::new(
            Vec::<String>::new(),
            json!({"profile": {"preferred_name": name}, "programme": {"team": "North"}}),
        )],
    )
    .unwrap()
    .save()
}

/// A pull page of `items` numbered from `first_seq`, with their signers.
pub fn page(signers: &[&Signer], items: Vec<Item>, first_seq: u64) -> PullResponse {
    PullResponse {
        entries: items
            .into_iter()
            .enumerate()
            .map(|(i, item)| Entry {
                seq: first_seq + i as u64,
                item,
            })
            .collect(),
        signers: signers.iter().map(|s| (*s).clone()).collect(),
        ..Default::default()
    }
}
