//! Fixed keys, places and documents shared by the fuzz targets and by the
//! corpus generator (`gen/`, which includes this file by path), so that the
//! seeds it writes are valid for exactly what the targets check them against.
//!
//! Nothing here is random: a seed sealed under [`seal_key`] for [`seal_aad`]
//! opens in every run of the target, and the base case document is the same
//! bytes every time.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use hpke::{Kem as _, Serializable, kem::X25519HkdfSha256};
use outreach_core::case::doc::{Author, CaseDoc, Patch};
use outreach_core::crypto::{Aad, KdfParams, RecordKind, SecretKey, derive_key};
use outreach_protocol::Id;
use serde_json::json;

/// Every plaintext the generator seals starts with this: a value that opens
/// under the fixed key without it would be a forgery.
pub const SEAL_MARKER: &[u8] = b"outreach-fuzz-seed:";

/// The fixed record key (Argon2id at the floor parameters, derived once).
pub fn seal_key() -> &'static SecretKey {
    static KEY: OnceLock<SecretKey> = OnceLock::new();
    KEY.get_or_init(|| {
        derive_key(b"outreach fuzz fixed key", &[0x42; 16], KdfParams::FLOOR)
            .expect("the floor KDF parameters are valid")
    })
}

/// Where the sealed values of the `sealed_value` target belong: a change
/// uploaded for sync, as `core::vault::sync::change_aad` builds it.
pub fn seal_aad() -> Aad<'static> {
    Aad::new(ORG, CASE, RecordKind::SyncChange, b"fuzz-client-change", 1)
}

/// The same place, as a device's sealed identity (64 bytes of seeds).
pub fn identity_aad() -> Aad<'static> {
    Aad::new(VAULT, [0; 16], RecordKind::DeviceIdentity, b"identity", 0)
}

pub const VAULT: Id = [0x11; 16];
pub const ORG: Id = [0x22; 16];
pub const CASE: Id = [0x33; 16];
pub const EPOCH: u32 = 1;
pub const RECIPIENT: Id = [0x44; 16];

/// HPKE associated data of an envelope for [`CASE`] to [`RECIPIENT`].
pub fn envelope_aad() -> Vec<u8> {
    outreach_protocol::envelope_aad(&ORG, &CASE, EPOCH, &RECIPIENT)
}

/// A fixed X25519 key pair standing for the organisation's recovery key
/// (private half, public half), derived as the `hpke` crate does from a seed.
pub fn recovery_keypair() -> &'static ([u8; 32], [u8; 32]) {
    static PAIR: OnceLock<([u8; 32], [u8; 32])> = OnceLock::new();
    PAIR.get_or_init(|| {
        let (sk, pk) = X25519HkdfSha256::derive_keypair(b"outreach fuzz recovery key seed!");
        (sk.to_bytes().into(), pk.to_bytes().into())
    })
}

/// The Automerge actor of "this device".
pub const ACTOR: [u8; 16] = [0xd0; 16];
/// Another device's actor.
pub const PEER_ACTOR: [u8; 16] = [0xe0; 16];
/// The base case's id, as a vault names cases.
pub const CASE_ID: &str = "33333333-3333-4333-8333-333333333333";

pub fn at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000, 0)
        .single()
        .unwrap_or_default()
}

pub fn author(by: &str, device: &str) -> Author {
    Author {
        by: by.into(),
        role: Some("practitioner".into()),
        device: device.into(),
    }
}

/// A small case as a vault creates it: profile, programme, one visit.
pub fn small_case(actor: &[u8]) -> CaseDoc {
    let initial = Patch::new(
        Vec::<String>::new(),
        json!({
            "profile": {"preferred_name": "Jo", "phone": "0111", "care_leaver": false},
            "programme": {"phase": "referred", "team": "north", "opened_at": "2026-09-21T10:00:00Z"},
        }),
    );
    let mut doc = CaseDoc::create(actor, CASE_ID, &author("Sam", "d0d0"), at(), &[initial])
        .expect("a new case document");
    doc.apply(
        &author("Sam", "d0d0"),
        "visit recorded",
        at(),
        &[Patch::new(
            ["visits", "v1"],
            json!({"kind": "home", "outcome": "completed", "at": "2026-09-22T10:00:00Z",
                   "note": "first visit", "wellbeing": 6}),
        )],
    )
    .expect("a visit");
    doc
}

/// The saved bytes of [`small_case`] (what this device holds before a peer's
/// changes arrive).
pub fn small_case_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| small_case(&ACTOR).save())
}
