//! One bad item never stops a device's sync: every item a page carries is
//! verified, opened and applied on its own; a bad one is quarantined (kept
//! sealed with its reason, listed for the server's admins) and the rest —
//! of that case and of every other — still applies. A junk case-key
//! envelope cannot pre-empt the real one.

mod common;

use std::path::Path;

use outreach_core::crypto::{KdfParams, SecretKey};
use outreach_core::vault::{CaseSyncState, Vault, VaultOptions};
use outreach_protocol::{EnrollResponse, Item, PullResponse, RejectReason, Role, Signer};

use common::*;

/// An enrolled supervisor's vault; returns it with its device id and X25519 key.
fn supervisor(dir: &Path) -> (Vault, [u8; 16], [u8; 32]) {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: "Sue".into(),
        team: None,
    };
    let mut v = Vault::create(dir, PASS, opts, None).unwrap();
    let req = v.enrolment_request("code").unwrap();
    let resp = EnrollResponse {
        org_id: ORG,
        org_name: "Council".into(),
        user_id: [50; 16],
        user_name: "Sue".into(),
        role: Role::Supervisor,
        team: Some("North".into()),
        recovery_pk: [9; 32],
    };
    v.finish_enrolment("http://127.0.0.1:1", true, &resp)
        .unwrap();
    (v, req.device_id, req.kex_pk)
}

/// A page of `items` from these peers, numbered from 100.
fn page(peers: &[&Peer], items: Vec<Item>) -> PullResponse {
    let signers: Vec<&Signer> = peers.iter().map(|p| &p.signer).collect();
    common::page(&signers, items, 100)
}

#[test]
fn bad_items_are_quarantined_and_everything_else_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut sue, me, my_pk) = supervisor(&tmp.path().join("sue"));
    let amy = peer(1, Role::Practitioner, "North");
    let mallory = peer(2, Role::Practitioner, "North");
    let stranger = peer(3, Role::Practitioner, "North"); // not in the page's signers

    let (jess, jane) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let (jess_id, jane_id) = (*jess.as_bytes(), *jane.as_bytes());
    let (jess_key, jane_key) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let junk_key = SecretKey::generate().unwrap();

    let items = vec![
        // Mallory's envelope for Jess's case arrives first: it opens (it is
        // sealed to Sue) but holds a key of Mallory's choosing.
        envelope(&mallory, jess_id, me, &my_pk, &junk_key),
        // An envelope that does not open (sealed to another key).
        envelope(&mallory, jane_id, me, &[42; 32], &junk_key),
        // An envelope addressed to another device.
        envelope(&mallory, jane_id, [77; 16], &my_pk, &junk_key),
        // The real envelopes and changes.
        envelope(&amy, jess_id, me, &my_pk, &jess_key),
        change(
            &amy,
            jess_id,
            &jess_key,
            &case_doc(&jess.to_string(), "Jess"),
        ),
        envelope(&amy, jane_id, me, &my_pk, &jane_key),
        change(
            &amy,
            jane_id,
            &jane_key,
            &case_doc(&jane.to_string(), "Jane"),
        ),
        // Random bytes under a valid signature into Jess's case.
        signed_change(&mallory, jess_id, [5; 16], vec![0xab; 300]),
        // Encrypted under the right key but not Automerge.
        change(
            &mallory,
            jess_id,
            &jess_key,
            b"not an automerge change at all",
        ),
        // Signed by a device the page does not describe.
        change(&stranger, jane_id, &jane_key, b"whatever"),
        // A signature that does not verify.
        {
            let Item::Change(mut c) = change(&amy, jane_id, &jane_key, b"x") else {
                unreachable!()
            };
            c.signature[0] ^= 1;
            Item::Change(c)
        },
    ];
    let applied = sue.apply_page(&page(&[&amy, &mallory], items)).unwrap();

    // Both cases arrived whole.
    assert_eq!(
        sue.read_case(&jess.to_string())
            .unwrap()
            .profile
            .preferred_name,
        "Jess"
    );
    assert_eq!(
        sue.read_case(&jane.to_string())
            .unwrap()
            .profile
            .preferred_name,
        "Jane"
    );
    assert_eq!(applied.changes, 2);

    // Each bad item quarantined with its reason.
    let reasons: Vec<(u64, RejectReason)> =
        applied.rejected.iter().map(|r| (r.seq, r.reason)).collect();
    assert_eq!(
        reasons,
        vec![
            (101, RejectReason::EnvelopeDoesNotOpen),
            (102, RejectReason::Malformed),
            (107, RejectReason::DoesNotDecrypt),
            (108, RejectReason::DoesNotApply),
            (109, RejectReason::BadSignature),
            (110, RejectReason::BadSignature),
        ]
    );
    let unreported = sue.unreported_rejections().unwrap();
    assert_eq!(unreported.len(), 6);
    assert!(
        unreported
            .iter()
            .any(|r| r.signer == mallory.signer.device_id)
    );

    // Re-applying the same page (a crash before the cursor was stored)
    // duplicates nothing.
    sue.mark_rejections_reported(&unreported.iter().map(|r| r.seq).collect::<Vec<_>>())
        .unwrap();
    assert!(sue.unreported_rejections().unwrap().is_empty());

    // The cases with quarantined items say so.
    let states = sue.case_sync_states().unwrap();
    assert!(
        states
            .iter()
            .all(|(_, s)| *s == CaseSyncState::NeedsAttention)
    );

    // Nothing of the bad items is readable in the vault file.
    let db = std::fs::read(tmp.path().join("sue").join("outreach.db")).unwrap();
    assert!(
        !db.windows(30)
            .any(|w| w == b"not an automerge change at all")
    );
}

#[test]
fn a_change_waits_for_its_key_and_a_later_valid_item_still_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut sue, me, my_pk) = supervisor(&tmp.path().join("sue"));
    let amy = peer(1, Role::Practitioner, "North");
    let mallory = peer(2, Role::Practitioner, "North");
    let jess = uuid::Uuid::new_v4();
    let jess_id = *jess.as_bytes();
    let key = SecretKey::generate().unwrap();
    let doc = case_doc(&jess.to_string(), "Jess");

    // The change first, then only a junk envelope: it keeps waiting.
    let first = page(
        &[&amy, &mallory],
        vec![
            change(&amy, jess_id, &key, &doc),
            envelope(
                &mallory,
                jess_id,
                me,
                &my_pk,
                &SecretKey::generate().unwrap(),
            ),
        ],
    );
    let applied = sue.apply_page(&first).unwrap();
    assert_eq!(applied.changes, 0);
    assert!(applied.rejected.is_empty());
    assert_eq!(sue.cases_waiting_for_key().unwrap(), 1);

    // The real envelope arrives: the waiting change applies.
    let mut second = page(&[&amy], vec![envelope(&amy, jess_id, me, &my_pk, &key)]);
    second.entries[0].seq = 200;
    let applied = sue.apply_page(&second).unwrap();
    assert_eq!(applied.changes, 1);
    assert_eq!(sue.cases_waiting_for_key().unwrap(), 0);
    assert_eq!(
        sue.read_case(&jess.to_string())
            .unwrap()
            .profile
            .preferred_name,
        "Jess"
    );
    assert_eq!(
        sue.case_sync_states().unwrap()[0].1,
        CaseSyncState::Synced,
        "nothing was quarantined"
    );
}

/// A transport that stops in the middle of the network call until released.
struct Stalled {
    inside: std::sync::mpsc::Sender<()>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl outreach_core::sync::Transport for Stalled {
    fn post(&self, _: &str, _: &[u8], _: Option<&str>) -> outreach_core::Result<Vec<u8>> {
        let _ = self.inside.send(());
        if let Ok(rx) = self.release.lock() {
            let _ = rx.recv();
        }
        Err(outreach_core::Error::ServerUnreachable("test".into()))
    }
}

#[test]
fn sync_does_not_hold_the_vault_while_it_waits_on_the_network() {
    use std::sync::{Arc, Mutex, mpsc};
    let tmp = tempfile::tempdir().unwrap();
    let (mut v, _, _) = supervisor(&tmp.path().join("sue"));
    let case = v
        .create_case(&outreach_core::case::model::CaseEdit {
            preferred_name: Some("Jess".into()),
            ..Default::default()
        })
        .unwrap();
    let shared = Arc::new(Mutex::new(v));
    let (inside_tx, inside_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let transport = Stalled {
        inside: inside_tx,
        release: Mutex::new(release_rx),
    };
    let cell = Arc::clone(&shared);
    let syncing = std::thread::spawn(move || {
        outreach_core::sync::sync_shared(&*cell, &transport, &mut ()).map(drop)
    });
    // The sync is now inside a network call: the vault is free for a screen.
    inside_rx.recv().unwrap();
    {
        let mut vault = shared
            .try_lock()
            .expect("the vault is not held across the network");
        assert_eq!(
            vault.read_case(&case).unwrap().profile.preferred_name,
            "Jess"
        );
        vault
            .add_visit(
                &case,
                &outreach_core::vault::VisitInput::new(
                    "2026-11-20T10:00:00Z",
                    outreach_core::case::model::ContactKind::Home,
                    outreach_core::case::model::Outcome::Completed,
                    "written while syncing",
                ),
            )
            .unwrap();
    }
    release_tx.send(()).unwrap();
    assert!(matches!(
        syncing.join().unwrap(),
        Err(outreach_core::Error::ServerUnreachable(_))
    ));
    let mut vault = shared.lock().unwrap();
    assert_eq!(
        vault.read_case(&case).unwrap().visits.len(),
        1,
        "nothing lost"
    );
}

/// Inputs the fuzzer found that make the Automerge decoder panic: from a
/// peer or from a file, they are a bad item or a bad file — never a crash.
#[test]
fn automerge_bytes_that_panic_the_decoder_are_refused_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut v, _, _) = supervisor(&tmp.path().join("v"));
    let case = v
        .create_case(&outreach_core::case::model::CaseEdit {
            preferred_name: Some("Jess".into()),
            ..Default::default()
        })
        .unwrap();
    for bytes in [
        &include_bytes!("../../fuzz/known-crashes/automerge_from_peer/hexane-rle-decoder-unwrap")[..],
        &include_bytes!(
            "../../fuzz/known-crashes/automerge_from_peer/hexane-truncated-bundle-counter"
        )[..],
    ] {
        assert!(v.import_case(bytes).is_err());
        assert!(v.merge_case_bytes(&case, bytes).is_err());
    }
    assert_eq!(v.read_case(&case).unwrap().profile.preferred_name, "Jess");
}
