//! The recovery logic on its own (no server, no files): items built with
//! the protocol's types, as the server would store them. Several epochs,
//! several recovery envelopes for one epoch (only the one a change decrypts
//! under counts), a revoked device, and each kind of bad item.

use chrono::Utc;
use outreach_core::case::doc::{Author, CaseDoc, Patch};
use outreach_core::crypto::{self, DeviceKeys, SecretKey};
use outreach_core::recover::{
    CaseStatus, KnownDevice, LoggedItem, Problem, RecoverError, Recoverer, RecoveryKey,
};
use outreach_core::vault::change_aad;
use outreach_protocol::{self as proto, Change, Envelope, Id, Item, RECOVERY_RECIPIENT, Role};
use serde_json::json;

const ORG: Id = [1; 16];
const AMY: Id = [0xa1; 16];
const EVE: Id = [0xe5; 16];
const RECOVERY_SK: [u8; 32] = [0x42; 32];
const CASE_NAME: &str = "5ac0ab91-0000-4000-8000-000000000001";
/// Eve's device was revoked at this (server) time.
const REVOKED_AT: i64 = 2_000;

fn case_id() -> Id {
    *uuid::Uuid::parse_str(CASE_NAME).unwrap().as_bytes()
}

struct World {
    amy: DeviceKeys,
    eve: DeviceKeys,
    recovery_pk: [u8; 32],
    items: Vec<LoggedItem>,
}

impl World {
    fn new() -> Self {
        Self {
            amy: DeviceKeys::generate().unwrap(),
            eve: DeviceKeys::generate().unwrap(),
            recovery_pk: RecoveryKey::from_bytes(&RECOVERY_SK).unwrap().public_key(),
            items: Vec::new(),
        }
    }

    fn keys(&self, who: Id) -> &DeviceKeys {
        if who == AMY { &self.amy } else { &self.eve }
    }

    fn push(&mut self, stored_at: i64, item: &Item) -> u64 {
        let seq = self.items.len() as u64 + 1;
        self.items.push(LoggedItem {
            seq,
            stored_at,
            body: proto::encode(item),
        });
        seq
    }

    fn change(&mut self, who: Id, epoch: u32, key: &SecretKey, bytes: &[u8], at: i64) -> u64 {
        let case = case_id();
        let client_id = crypto::random_id().unwrap();
        let ciphertext =
            crypto::seal(key, &change_aad(ORG, case, epoch, &client_id), bytes).unwrap();
        let m = proto::change_message(&case, epoch, &who, &client_id, &ciphertext);
        let item = Item::Change(Change {
            client_id,
            case_id: case,
            epoch,
            author: who,
            signature: self.keys(who).sign(&m).to_vec(),
            ciphertext,
        });
        self.push(at, &item)
    }

    fn envelope(&mut self, who: Id, epoch: u32, key: &SecretKey, at: i64) -> u64 {
        let case = case_id();
        let aad = proto::envelope_aad(&ORG, &case, epoch, &RECOVERY_RECIPIENT);
        let (enc, ciphertext) =
            crypto::seal_envelope(key, &self.recovery_pk, proto::ENVELOPE_INFO, &aad).unwrap();
        let m = proto::envelope_message(
            &case,
            epoch,
            &RECOVERY_RECIPIENT,
            &who,
            false,
            &enc,
            &ciphertext,
        );
        let item = Item::Envelope(Envelope {
            case_id: case,
            epoch,
            recipient: RECOVERY_RECIPIENT,
            sealed_by: who,
            signature: self.keys(who).sign(&m).to_vec(),
            enc,
            ciphertext,
            starts_epoch: false,
        });
        self.push(at, &item)
    }

    fn recoverer(&self) -> Recoverer {
        let device = |id, keys: &DeviceKeys, name: &str, revoked_at| KnownDevice {
            device_id: id,
            sign_pk: keys.sign_pk(),
            user_id: [id[0]; 16],
            user_name: name.into(),
            role: Role::Practitioner,
            team: Some("north".into()),
            revoked_at,
        };
        Recoverer::new(
            RecoveryKey::from_bytes(&RECOVERY_SK).unwrap(),
            ORG,
            self.recovery_pk,
            vec![
                device(AMY, &self.amy, "Amy", None),
                device(EVE, &self.eve, "Eve", Some(REVOKED_AT)),
            ],
        )
        .unwrap()
    }
}

fn author(by: &str) -> Author {
    Author {
        by: by.into(),
        role: None,
        device: "d".into(),
    }
}

/// The case opened (a whole document), then one visit, then Eve's phone.
fn history() -> (Vec<u8>, Vec<u8>, CaseDoc) {
    let at = Utc::now();
    let mut doc = CaseDoc::create(
        &[0xa1; 16],
        CASE_NAME,
        &author("Amy"),
        at,
        &[Patch::new(["profile"], json!({"preferred_name": "Jess"}))],
    )
    .unwrap();
    let opened = doc.save();
    let heads = doc.heads();
    let visit = json!({"kind": "home", "outcome": "completed", "at": "2026-11-20T10:00:00Z",
                       "note": "first visit", "recorded_by": "Amy"});
    doc.apply(
        &author("Amy"),
        "visit recorded",
        at,
        &[Patch::new(["visits", "v1"], visit)],
    )
    .unwrap();
    let visit = doc.save_after(&heads);
    (opened, visit, doc)
}

#[test]
fn every_epoch_opens_with_its_own_key_and_a_junk_envelope_does_not_pre_empt() {
    let mut w = World::new();
    let (opened, visit, _) = history();
    let k0 = SecretKey::generate().unwrap();
    let k1 = SecretKey::generate().unwrap();
    let junk = SecretKey::generate().unwrap();
    // As the server logs a first push: the change, then its envelopes —
    // here a junk one (a validly signed envelope of another key) first.
    w.change(AMY, 0, &k0, &opened, 100);
    w.envelope(AMY, 0, &junk, 100);
    w.envelope(AMY, 0, &k0, 100);
    // A new epoch (after a rotation): its own key, its own envelope.
    w.envelope(AMY, 1, &k1, 200);
    w.change(AMY, 1, &k1, &visit, 200);

    let mut r = w.recoverer();
    let out = r.recover_case(case_id(), &w.items, Utc::now(), "DPO");
    assert_eq!(out.status, CaseStatus::Recovered, "{:?}", out.problems);
    assert_eq!(out.epochs, vec![0, 1]);
    assert_eq!(out.changes, 2);
    let export = out.export.unwrap();
    assert_eq!(export.case.profile.preferred_name, "Jess");
    assert_eq!(export.case.visits["v1"].note, "first visit");
    assert_eq!(export.exported_by, "DPO");
    assert_eq!(export.history.len(), 2);
    let doc = CaseDoc::load(&[9; 16], Some(&out.automerge.unwrap()), std::iter::empty()).unwrap();
    assert_eq!(doc.read().unwrap().visits.len(), 1);
}

#[test]
fn a_missing_envelope_an_altered_item_and_a_late_revoked_signer_are_each_reported() {
    let mut w = World::new();
    let (opened, visit, _) = history();
    let k0 = SecretKey::generate().unwrap();
    let k1 = SecretKey::generate().unwrap();
    w.change(AMY, 0, &k0, &opened, 100);
    w.envelope(AMY, 0, &k0, 100);
    // Eve writes before her device is revoked (kept) and after (refused:
    // the server never stores that, so the data was tampered with).
    let mut eve_doc = CaseDoc::load(&[0xe5; 16], Some(&opened), std::iter::empty()).unwrap();
    let heads = eve_doc.heads();
    eve_doc
        .apply(
            &author("Eve"),
            "case updated",
            Utc::now(),
            &[Patch::new(["profile"], json!({"phone": "0111"}))],
        )
        .unwrap();
    let early = eve_doc.save_after(&heads);
    w.change(EVE, 0, &k0, &early, REVOKED_AT - 1);
    let heads = eve_doc.heads();
    eve_doc
        .apply(
            &author("Eve"),
            "case updated",
            Utc::now(),
            &[Patch::new(["profile"], json!({"address": "somewhere"}))],
        )
        .unwrap();
    let late_bytes = eve_doc.save_after(&heads);
    let late = w.change(EVE, 0, &k0, &late_bytes, REVOKED_AT + 1);
    // An epoch whose recovery envelope is missing.
    w.change(AMY, 1, &k1, &visit, 300);
    // One flipped byte, and bytes that are no item at all.
    let flipped = w.change(AMY, 0, &k0, &visit, 300);
    let body = &mut w.items[flipped as usize - 1].body;
    let n = body.len();
    body[n - 100] ^= 1;
    let garbage = w.push(300, &Item::Removed { case_id: case_id() });
    w.items[garbage as usize - 1].body = vec![0xff; 40];

    let mut r = w.recoverer();
    let out = r.recover_case(case_id(), &w.items, Utc::now(), "DPO");
    assert_eq!(out.status, CaseStatus::Partial);
    let problems: Vec<(Option<u64>, Option<u32>, Problem)> = out
        .problems
        .iter()
        .map(|p| (p.seq, p.epoch, p.problem))
        .collect();
    assert!(
        problems.contains(&(Some(late), Some(0), Problem::StoredAfterRevocation)),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(Some(flipped), Some(0), Problem::BadSignature)),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(Some(garbage), None, Problem::Malformed)),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(None, Some(1), Problem::NoRecoveryEnvelope)),
        "{problems:?}"
    );
    let case = out.export.unwrap().case;
    assert_eq!(
        case.profile.phone.as_deref(),
        Some("0111"),
        "Eve's early work"
    );
    assert_eq!(case.profile.address, None);
    assert!(case.visits.is_empty(), "epoch 1 could not be opened");
    let reasons: Vec<&str> = out.problems.iter().map(|p| p.reason).collect();
    assert!(reasons.contains(&"tampered") && reasons.contains(&"no-recovery-envelope"));
}

#[test]
fn a_wrong_key_is_refused_before_anything_is_opened_and_no_envelope_means_not_recovered() {
    let mut w = World::new();
    let (opened, _, _) = history();
    let other = RecoveryKey::from_bytes(&[7; 32]).unwrap();
    assert!(matches!(
        Recoverer::new(other, ORG, w.recovery_pk, Vec::new()),
        Err(RecoverError::WrongKey)
    ));
    assert!(matches!(
        RecoveryKey::from_bytes(&[1; 31]),
        Err(RecoverError::MalformedKey)
    ));
    let k0 = SecretKey::generate().unwrap();
    w.change(AMY, 0, &k0, &opened, 100);
    let out = w
        .recoverer()
        .recover_case(case_id(), &w.items, Utc::now(), "DPO");
    assert_eq!(out.status, CaseStatus::NotRecovered);
    assert_eq!(out.problems[0].problem, Problem::NoRecoveryEnvelope);
    assert!(out.export.is_none() && out.automerge.is_none());
    // Another case's items are not this case's.
    let out = w
        .recoverer()
        .recover_case([9; 16], &w.items, Utc::now(), "DPO");
    assert_eq!(out.status, CaseStatus::NotRecovered);
    assert_eq!(out.problems[0].problem, Problem::Malformed);
}
