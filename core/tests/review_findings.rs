//! Security review (enrolled insider): each test plays one attack and
//! asserts what SHOULD hold. A failing test is an open finding.

mod common;

use std::path::Path;

use chrono::{Duration, Utc};
use ed25519_dalek::Signer as _;
use outreach_core::case::doc::{Author, CaseDoc, Patch};
use outreach_core::case::model::*;
use outreach_core::case::validate::instant_string;
use outreach_core::crypto::{KdfParams, SecretKey};
use outreach_core::vault::{Applied, Vault, VaultOptions, VisitDraft, VisitInput};
use outreach_protocol::{self as proto, EnrollResponse, Entry, Item, PullResponse, Role, Signer};
use serde_json::json;

use common::*;

/// An enrolled vault, its directory entry and its X25519 public key.
fn enrolled(dir: &Path, name: &str, role: Role, team: &str, user: u8) -> (Vault, Signer, [u8; 32]) {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: "typed at init".into(),
        team: None,
    };
    let mut v = Vault::create(dir, PASS, opts, None).unwrap();
    let req = v.enrolment_request("code").unwrap();
    let resp = EnrollResponse {
        org_id: ORG,
        org_name: "Council".into(),
        user_id: [user; 16],
        user_name: name.into(),
        role,
        team: Some(team.into()),
        recovery_pk: [9; 32],
    };
    v.finish_enrolment("http://127.0.0.1:1", true, &resp)
        .unwrap();
    let me = Signer {
        device_id: req.device_id,
        sign_pk: req.sign_pk,
        user_id: [user; 16],
        user_name: name.into(),
        role,
        team: Some(team.into()),
        revoked_at: None,
    };
    (v, me, req.kex_pk)
}

fn learn(v: &mut Vault, signers: &[Signer]) {
    v.apply_page(&PullResponse {
        signers: signers.to_vec(),
        ..Default::default()
    })
    .unwrap();
}

fn share(from: &mut Vault, to: &mut Vault, case: &str) {
    let bytes = from.export_automerge(case).unwrap();
    to.import_case(&bytes).unwrap();
}

/// Writes `patches` into the case as a modified app would (any author).
fn tamper(v: &mut Vault, case: &str, patches: &[Patch]) {
    let bytes = v.export_automerge(case).unwrap();
    let mut doc = CaseDoc::load(&[0xee; 16], Some(&bytes), std::iter::empty()).unwrap();
    let author = Author {
        by: "x".into(),
        role: None,
        device: "x".into(),
    };
    doc.apply(&author, "edit", Utc::now(), patches).unwrap();
    v.merge_case_bytes(case, &doc.save()).unwrap();
}

fn new_case(v: &mut Vault, name: &str) -> String {
    v.create_case(&CaseEdit {
        preferred_name: Some(name.into()),
        ..Default::default()
    })
    .unwrap()
}

fn seen(v: &mut Vault, case: &str) -> String {
    let at = instant_string(Utc::now() - Duration::days(1));
    v.add_visit(
        case,
        &VisitInput::new(at, ContactKind::Home, Outcome::Completed, "seen"),
    )
    .unwrap()
}

// ---- 1. sign-off authority ---------------------------------------------------

/// Practitioner, her supervisor, both knowing each other; a case with a
/// visit the supervisor has signed off, on both devices.
fn signed_off_visit(tmp: &Path) -> (Vault, Vault, Signer, Signer, String, String) {
    let (mut pr, pr_e, _) = enrolled(&tmp.join("p"), "Sam Jones", Role::Practitioner, "North", 1);
    let (mut su, su_e, _) = enrolled(&tmp.join("s"), "Ali Khan", Role::Supervisor, "North", 2);
    let all = [pr_e.clone(), su_e.clone()];
    learn(&mut pr, &all);
    learn(&mut su, &all);
    let case = new_case(&mut pr, "Jasmine");
    let visit = seen(&mut pr, &case);
    share(&mut pr, &mut su, &case);
    su.sign_off_visit(&case, &visit, SignOffDecision::SignedOff, None)
        .unwrap();
    share(&mut su, &mut pr, &case);
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::SignedOff
    );
    (pr, su, pr_e, su_e, case, visit)
}

#[test]
fn f1_sign_off_does_not_survive_a_change_of_the_visit_content() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, mut su, .., case, visit) = signed_off_visit(tmp.path());
    // The practitioner's modified app rewrites the signed-off visit.
    tamper(
        &mut pr,
        &case,
        &[Patch::new(
            ["visits", visit.as_str()],
            json!({"note": "rewritten after sign-off", "outcome": "completed"}),
        )],
    );
    share(&mut pr, &mut su, &case);
    let v = &su.read_case(&case).unwrap().visits[&visit];
    assert_eq!(v.note, "rewritten after sign-off");
    assert_ne!(
        v.review,
        ReviewState::SignedOff,
        "content the supervisor never saw is shown as signed off"
    );
}

#[test]
#[ignore = "known limitation (docs/ARCHITECTURE.md threat model): decisions are not yet append-only"]
fn f1b_a_superseded_decision_cannot_be_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, mut su, .., case, visit) = signed_off_visit(tmp.path());
    let first = su.read_case(&case).unwrap().visits[&visit]
        .sign_off
        .clone()
        .unwrap();
    // The supervisor changes her mind and returns it.
    su.sign_off_visit(
        &case,
        &visit,
        SignOffDecision::Returned,
        Some("this did not happen as written"),
    )
    .unwrap();
    share(&mut su, &mut pr, &case);
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::Returned
    );
    // The practitioner puts the earlier sign-off back.
    tamper(
        &mut pr,
        &case,
        &[Patch::replace(
            ["visits", visit.as_str(), "sign_off"],
            serde_json::to_value(&first).unwrap(),
        )],
    );
    share(&mut pr, &mut su, &case);
    assert_ne!(
        su.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::SignedOff,
        "a superseded sign-off replayed onto the same visit reads as signed off"
    );
}

#[test]
fn f1c_the_name_on_a_sign_off_is_not_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, mut su, .., case, visit) = signed_off_visit(tmp.path());
    tamper(
        &mut pr,
        &case,
        &[Patch::new(
            ["visits", visit.as_str(), "sign_off"],
            json!({"by": "Head of Service"}),
        )],
    );
    share(&mut pr, &mut su, &case);
    let v = &su.read_case(&case).unwrap().visits[&visit];
    assert!(
        !(v.review == ReviewState::SignedOff
            && v.sign_off.as_ref().unwrap().by == "Head of Service"),
        "shown as signed off by a name the signer does not have"
    );
}

#[test]
#[ignore = "known limitation (docs/ARCHITECTURE.md threat model): the case's team is judged from the document, not yet from the server"]
fn f1d_a_practitioner_cannot_move_her_case_out_of_her_supervisors_reach() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, mut su, pr_e, su_e, case, visit) = signed_off_visit(tmp.path());
    let (mut south, south_e, _) = enrolled(
        &tmp.path().join("o"),
        "Bo Lee",
        Role::Supervisor,
        "South",
        3,
    );
    let all = [pr_e, su_e, south_e];
    for v in [&mut pr, &mut su, &mut south] {
        learn(v, &all);
    }
    let second = seen(&mut pr, &case);
    // The ordinary app: `case edit --team South`.
    pr.edit_case(
        &case,
        &CaseEdit {
            team: Some("South".into()),
            ..Default::default()
        },
    )
    .unwrap();
    share(&mut pr, &mut su, &case);
    let c = su.read_case(&case).unwrap();
    let hidden = !su
        .pending_visits()
        .unwrap()
        .iter()
        .any(|p| p.visit_id == second);
    let voided = c.visits[&visit].review != ReviewState::SignedOff;
    // A supervisor of another team holding the case (e.g. assigned for
    // cover) now decides on North's visits.
    share(&mut pr, &mut south, &case);
    let foreign = south
        .sign_off_visit(&case, &second, SignOffDecision::SignedOff, None)
        .is_ok();
    assert!(
        !hidden && !voided && !foreign,
        "team is a document field: hidden from own supervisor {hidden}, \
         earlier sign-off voided {voided}, other team's supervisor may sign {foreign}"
    );
}

#[test]
#[ignore = "known limitation (docs/ARCHITECTURE.md threat model): who recorded a visit is not yet signed"]
fn f1e_a_supervisor_cannot_sign_off_her_own_visit_by_relabelling_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, mut su, ..) = signed_off_visit(tmp.path());
    let case = su.case_ids().unwrap()[0].clone();
    let own = seen(&mut su, &case);
    assert!(matches!(
        su.sign_off_visit(&case, &own, SignOffDecision::SignedOff, None),
        Err(outreach_core::Error::NotSupervisor)
    ));
    // Her modified app says the practitioner recorded it.
    tamper(
        &mut su,
        &case,
        &[Patch::new(
            ["visits", own.as_str()],
            json!({"recorded_by_user": hex::encode([1u8; 16]), "recorded_by": "Sam Jones"}),
        )],
    );
    let allowed = su
        .sign_off_visit(&case, &own, SignOffDecision::SignedOff, None)
        .is_ok();
    share(&mut su, &mut pr, &case);
    assert!(
        !allowed && pr.read_case(&case).unwrap().visits[&own].review != ReviewState::SignedOff,
        "a supervisor signed off a visit she recorded herself"
    );
}

#[test]
fn f1f_a_revoked_device_cannot_backdate_a_decision() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, pr_e, _) = enrolled(
        &tmp.path().join("p"),
        "Sam Jones",
        Role::Practitioner,
        "North",
        1,
    );
    // A supervisor's old phone, revoked an hour ago; its key is in the
    // hands of someone who wants a visit signed off.
    let old = peer(40, Role::Supervisor, "North");
    let mut revoked = old.signer.clone();
    revoked.revoked_at = Some(Utc::now().timestamp() - 3600);
    learn(&mut pr, &[pr_e, revoked]);
    let case = new_case(&mut pr, "Jasmine");
    let visit = seen(&mut pr, &case); // recorded now, after the revocation
    let case_id = uuid::Uuid::parse_str(&case).unwrap().into_bytes();
    // Dated before the revocation (and before the visit was even recorded).
    let at = instant_string(Utc::now() - Duration::hours(2));
    let m = proto::sign_off_message(
        &ORG,
        &case_id,
        &visit,
        "signed-off",
        &at,
        None,
        &old.signer.user_id,
        &old.signer.device_id,
        &outreach_core::practice::authority::visit_digest(
            &pr.read_case(&case).unwrap().visits[&visit],
        ),
    );
    tamper(
        &mut pr,
        &case,
        &[Patch::replace(
            ["visits", visit.as_str(), "sign_off"],
            json!({"decision": "signed-off", "by": "user 40", "at": at,
                   "by_user": hex::encode(old.signer.user_id),
                   "device": hex::encode(old.signer.device_id),
                   "signature": hex::encode(old.key.sign(&m).to_bytes())}),
        )],
    );
    assert_ne!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::SignedOff,
        "a revoked key signed off a visit recorded after its revocation"
    );
}

// ---- 2. quarantine -----------------------------------------------------------

#[test]
fn f2a_a_junk_key_confirmed_by_a_junk_change_does_not_preempt_the_real_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut sue, me, my_pk) =
        enrolled(&tmp.path().join("s"), "Sue", Role::Supervisor, "North", 50);
    let amy = peer(1, Role::Practitioner, "North");
    let mallory = peer(2, Role::Practitioner, "North");
    let jess = uuid::Uuid::new_v4();
    let jess_id = *jess.as_bytes();
    let key = SecretKey::generate().unwrap();
    let junk = SecretKey::generate().unwrap();
    let items = vec![
        // The case as it is in the log.
        change(&amy, jess_id, &key, &case_doc(&jess.to_string(), "Jess")),
        // Mallory, also on the case, sees Sue's envelope need and is quicker
        // than Amy: an envelope with a key of hers, and any bytes under it.
        envelope(&mallory, jess_id, me.device_id, &my_pk, &junk),
        change(&mallory, jess_id, &junk, b"anything at all"),
        // The real envelope.
        envelope(&amy, jess_id, me.device_id, &my_pk, &key),
    ];
    let page = page(&[&amy.signer, &mallory.signer], items, 100);
    let mut applied = sue.apply_page(&page).unwrap();
    sue.retry_inbox(&mut applied).unwrap(); // as the engine does at the end
    assert!(
        sue.read_case(&jess.to_string()).is_ok(),
        "the real case never arrives: rejected {:?}",
        applied
            .rejected
            .iter()
            .map(|r| (r.seq, r.reason))
            .collect::<Vec<_>>()
    );
}

fn no_panic(sue: &mut Vault, page: &PullResponse) -> Result<Applied, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sue.apply_page(page)))
        .map_err(|_| "apply_page panicked".to_string())?
        .map_err(|e| format!("apply_page returned Err: {e}"))
}

#[test]
fn f2b_automerge_bytes_that_panic_do_not_stop_the_sync() {
    let crash: &[u8] = &[
        0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0x03, 0x08, 0, 0, 0, 0x01, 0x23, 0x02, 0x00, 0xff,
    ];
    let tmp = tempfile::tempdir().unwrap();
    let (mut sue, me, my_pk) =
        enrolled(&tmp.path().join("s"), "Sue", Role::Supervisor, "North", 50);
    let amy = peer(1, Role::Practitioner, "North");
    let mallory = peer(2, Role::Practitioner, "North");
    let (jess, jane) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let (key, key2) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    // Into a case held here (apply_changes)…
    let held = page(
        &[&amy.signer, &mallory.signer],
        vec![
            envelope(&amy, *jess.as_bytes(), me.device_id, &my_pk, &key),
            change(
                &amy,
                *jess.as_bytes(),
                &key,
                &case_doc(&jess.to_string(), "Jess"),
            ),
            change(&mallory, *jess.as_bytes(), &key, crash),
        ],
        100,
    );
    // …and as the first change of a case new here (load).
    let new = page(
        &[&amy.signer, &mallory.signer],
        vec![
            envelope(&amy, *jane.as_bytes(), me.device_id, &my_pk, &key2),
            change(&mallory, *jane.as_bytes(), &key2, crash),
        ],
        200,
    );
    let held = no_panic(&mut sue, &held);
    let new = no_panic(&mut sue, &new);
    assert!(
        held.is_ok() && new.is_ok(),
        "case held here: {:?}; case new here: {:?}",
        held.map(|_| ()),
        new.map(|_| ())
    );
}

#[test]
fn f2c_work_uploaded_before_a_device_was_revoked_still_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut sue, me, my_pk) =
        enrolled(&tmp.path().join("s"), "Sue", Role::Supervisor, "North", 50);
    // Amy synced her case, then lost her phone; the admin revoked it. The
    // server accepted her uploads while the phone was valid and still
    // serves them (with the signer's revocation time).
    let amy = peer(1, Role::Practitioner, "North");
    let mut amy_now = amy.signer.clone();
    amy_now.revoked_at = Some(Utc::now().timestamp());
    let jess = uuid::Uuid::new_v4();
    let key = SecretKey::generate().unwrap();
    let items = vec![
        envelope(&amy, *jess.as_bytes(), me.device_id, &my_pk, &key),
        change(
            &amy,
            *jess.as_bytes(),
            &key,
            &case_doc(&jess.to_string(), "Jess"),
        ),
    ];
    let applied = sue.apply_page(&page(&[&amy_now], items, 100)).unwrap();
    assert!(
        sue.read_case(&jess.to_string()).is_ok(),
        "her case is lost to every device that pulls after the revocation: {:?}",
        applied
            .rejected
            .iter()
            .map(|r| r.reason)
            .collect::<Vec<_>>()
    );
}

// ---- 3. transfer removal -----------------------------------------------------

#[test]
fn f3a_a_removal_does_not_delete_an_unsent_draft() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, ..) = enrolled(&tmp.path().join("p"), "Sam", Role::Practitioner, "North", 1);
    let case = new_case(&mut pr, "Jasmine");
    let case_id = uuid::Uuid::parse_str(&case).unwrap().into_bytes();
    // Synced: everything acknowledged.
    pr.prepare_uploads().unwrap();
    let ids: Vec<i64> = pr
        .outbox_batch(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    pr.acknowledge(&ids).unwrap();
    // She is half-way through writing up this morning's visit.
    pr.save_draft(
        None,
        &case,
        &VisitDraft {
            note: Some("disclosed a new partner; worried about".into()),
            ..Default::default()
        },
    )
    .unwrap();
    // Her supervisor transfers the case; her next sync pulls the removal.
    pr.apply_page(&page(&[], vec![Item::Removed { case_id }], 300))
        .unwrap();
    assert_eq!(
        pr.drafts().unwrap().len(),
        1,
        "the unsent write-up was deleted with the case"
    );
}

/// A pretend server for one transfer: the first pull delivers the removal
/// (seq 300); once a pull says the device is past it, uploads to the case
/// are refused (as `removal_pending` does). While the engine waits on the
/// network the app writes to the case, as a practitioner using the app
/// during a background sync would.
struct TransferServer {
    vault: std::sync::Arc<std::sync::Mutex<Vault>>,
    case: String,
    case_id: [u8; 16],
    state: std::sync::Mutex<(bool, bool, u64)>, // (removal served, past it, seq)
}

impl TransferServer {
    fn app_writes(&self) {
        let mut v = self.vault.lock().unwrap();
        let _ = v.add_visit(
            &self.case,
            &VisitInput::new(
                instant_string(Utc::now()),
                ContactKind::Phone,
                Outcome::Completed,
                "written while the sync ran",
            ),
        );
    }
}

impl outreach_core::sync::Transport for TransferServer {
    fn post(&self, path: &str, body: &[u8], _: Option<&str>) -> outreach_core::Result<Vec<u8>> {
        if path == proto::PATH_PUSH {
            let req: proto::PushRequest = proto::decode(body).unwrap();
            let (served, past) = {
                let s = self.state.lock().unwrap();
                (s.0, s.1)
            };
            if past && req.changes.iter().any(|c| c.case_id == self.case_id) {
                return Err(outreach_core::Error::ServerRefused(
                    "this device may not read or write that case".into(),
                ));
            }
            if served && !past {
                self.app_writes(); // during the upload before the deletion
            }
            let mut s = self.state.lock().unwrap();
            let acks = req
                .changes
                .iter()
                .map(|c| {
                    s.2 += 1;
                    proto::Ack {
                        client_id: c.client_id,
                        seq: s.2,
                    }
                })
                .collect();
            return Ok(proto::encode(&proto::PushResponse {
                acks,
                envelopes_stored: req.envelopes.len() as u32,
                stale: vec![],
            }));
        }
        if path == proto::PATH_PULL {
            let req: proto::PullRequest = proto::decode(body).unwrap();
            let first = {
                let mut s = self.state.lock().unwrap();
                if req.cursor.seq >= 300 {
                    s.1 = true;
                }
                let first = !s.0;
                s.0 = true;
                first
            };
            if first {
                self.app_writes(); // so the case has something to upload
                return Ok(proto::encode(&PullResponse {
                    entries: vec![Entry {
                        seq: 300,
                        item: Item::Removed {
                            case_id: self.case_id,
                        },
                    }],
                    next: proto::Cursor { seq: 300, sub: 0 },
                    ..Default::default()
                }));
            }
            return Ok(proto::encode(&PullResponse {
                next: req.cursor,
                ..Default::default()
            }));
        }
        Err(outreach_core::Error::ServerUnreachable(path.into()))
    }
}

#[test]
fn f3b_a_write_during_the_removal_upload_does_not_wedge_sync() {
    use std::sync::{Arc, Mutex};
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, ..) = enrolled(&tmp.path().join("p"), "Sam", Role::Practitioner, "North", 1);
    let case = new_case(&mut pr, "Jasmine");
    let case_id = uuid::Uuid::parse_str(&case).unwrap().into_bytes();
    let vault = Arc::new(Mutex::new(pr));
    let server = TransferServer {
        vault: Arc::clone(&vault),
        case: case.clone(),
        case_id,
        state: Mutex::new((false, false, 0)),
    };
    let first = outreach_core::sync::sync_shared(&*vault, &server, &mut ());
    let second = outreach_core::sync::sync_shared(&*vault, &server, &mut ());
    let third = outreach_core::sync::sync_shared(&*vault, &server, &mut ());
    assert!(
        second.is_ok() && third.is_ok(),
        "first {:?}; second {:?}; third {:?}",
        first.map(|_| ()),
        second.map(|_| ()),
        third.map(|_| ())
    );
}

#[test]
fn f2d_a_revoked_devices_earlier_change_does_not_freeze_the_case_for_later_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut sue, me, my_pk) =
        enrolled(&tmp.path().join("s"), "Sue", Role::Supervisor, "North", 50);
    let bob = peer(3, Role::Practitioner, "North");
    let amy = peer(1, Role::Practitioner, "North");
    let mut amy_now = amy.signer.clone();
    amy_now.revoked_at = Some(Utc::now().timestamp());
    let jess = uuid::Uuid::new_v4();
    let key = SecretKey::generate().unwrap();
    let who = |n: &str| Author {
        by: n.into(),
        role: None,
        device: n.into(),
    };
    // Bob opens the case; Amy (phone later revoked) edits it; Bob edits again.
    let created = case_doc(&jess.to_string(), "Jess");
    let mut a = CaseDoc::load(&[0xa2; 16], Some(&created), std::iter::empty()).unwrap();
    let h0 = a.heads();
    a.apply(
        &who("amy"),
        "edit",
        Utc::now(),
        &[Patch::new(["profile"], json!({"phone": "07000 000000"}))],
    )
    .unwrap();
    let by_amy = a.save_after(&h0);
    let mut b = CaseDoc::load(&[0xb3; 16], Some(&a.save()), std::iter::empty()).unwrap();
    let h1 = b.heads();
    b.apply(
        &who("bob"),
        "edit",
        Utc::now(),
        &[Patch::new(["profile"], json!({"preferred_name": "Jessie"}))],
    )
    .unwrap();
    let by_bob = b.save_after(&h1);
    let items = vec![
        envelope(&bob, *jess.as_bytes(), me.device_id, &my_pk, &key),
        change(&bob, *jess.as_bytes(), &key, &created),
        change(&amy, *jess.as_bytes(), &key, &by_amy),
        change(&bob, *jess.as_bytes(), &key, &by_bob),
    ];
    let mut applied = sue
        .apply_page(&page(&[&bob.signer, &amy_now], items, 100))
        .unwrap();
    sue.retry_inbox(&mut applied).unwrap();
    assert_eq!(
        sue.read_case(&jess.to_string())
            .unwrap()
            .profile
            .preferred_name,
        "Jessie",
        "Bob's later change waits forever behind Amy's quarantined one (refetch: {})",
        applied.refetch.len()
    );
}
