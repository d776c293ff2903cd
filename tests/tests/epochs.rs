//! Keys that follow people (issue 11): when a device loses the right to read
//! a case — revoked, or the case transferred away from its user — the next
//! authorised device to sync seals what is written from then on under a new
//! case key that the device which left never receives. Run against a real
//! `outreach-server` process; the attacker is the departed device's own
//! vault, kept from before it was wiped, plus everything the server holds.

use std::path::Path;

use outreach_core::sync::{HttpTransport, Transport};
use outreach_core::vault::Vault;
use outreach_protocol::{self as proto, PullRequest, PullResponse};
use outreach_tests::PASSPHRASE;
use outreach_tests::harness::{Device, Server, new_case, visit};

struct Team {
    tmp: tempfile::TempDir,
    server: Server,
    amy: Device,
    sue: Device,
    sam: Device,
}

/// Amy (practitioner), Sue and Sam (supervisors), all of team north.
fn team() -> Team {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let sam_code = server.invite("Sam", "supervisor", Some("north"));
    let amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &amy_code);
    let sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &sue_code);
    let sam = Device::enrol(&tmp.path().join("sam"), "Sam", &server.url(), &sam_code);
    Team {
        tmp,
        server,
        amy,
        sue,
        sam,
    }
}

fn device_id(v: &Vault) -> String {
    hex::encode(v.device_id_bytes().unwrap())
}

/// A copy of a device's vault as it is now (what a thief keeps of a phone
/// before the organisation revokes it), opened and unlocked.
fn stolen_copy(from: &Path, to: &Path) -> Vault {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    let mut v = Vault::open(to).unwrap();
    v.unlock(PASSPHRASE, None).unwrap();
    v
}

/// One raw pull of everything the server has for `device` (its signed
/// request), as a thief holding that device's keys gets it — here asked
/// as another, still-authorised device, since the thief's own is refused.
fn pull_all(device: &Device) -> PullResponse {
    let body = proto::encode(&PullRequest {
        cursor: proto::Cursor::default(),
        max_bytes: proto::MAX_PULL_BYTES,
    });
    let auth = device
        .vault
        .sign_request(
            "POST",
            proto::PATH_PULL,
            chrono::Utc::now().timestamp(),
            &body,
        )
        .unwrap();
    let t = HttpTransport::new(&device.server, false).unwrap();
    proto::decode(&t.post(proto::PATH_PULL, &body, Some(&auth)).unwrap()).unwrap()
}

fn notes(v: &mut Vault, case: &str) -> Vec<String> {
    let mut n: Vec<String> = v
        .read_case(case)
        .unwrap()
        .visits
        .values()
        .map(|x| x.note.clone())
        .collect();
    n.sort();
    n
}

#[test]
fn a_revoked_device_cannot_open_what_is_written_after_it_left() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    visit(&mut t.amy.vault, &case, "Before Sam left");
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    t.sam.sync().unwrap();
    assert_eq!(notes(&mut t.sam.vault, &case), ["Before Sam left"]);

    // Sam's phone is lost: a copy of its vault is in the wrong hands.
    let mut thief = stolen_copy(&t.sam.dir, &t.tmp.path().join("thief"));
    t.server
        .admin(&["revoke-device", &device_id(&t.sam.vault)])
        .unwrap();

    // The next authorised device to sync changes the case's key.
    let report = t.amy.sync().unwrap();
    assert_eq!(report.keys_rotated, 1, "{report:?}");
    visit(&mut t.amy.vault, &case, "After Sam left");
    t.amy.sync().unwrap();

    // Everyone still on the case reads everything.
    let r = t.sue.sync().unwrap();
    assert!(r.rejected.is_empty(), "{r:?}");
    assert_eq!(
        notes(&mut t.sue.vault, &case),
        ["After Sam left", "Before Sam left"]
    );

    // The thief has Sam's keys and every item the server holds for the
    // case (the change, and every envelope however addressed): the new
    // change does not open, the old history still does.
    let everything = pull_all(&t.sue);
    let epoch1: Vec<_> = everything
        .entries
        .iter()
        .filter(|e| matches!(&e.item, proto::Item::Change(c) if c.epoch == 1))
        .collect();
    assert_eq!(epoch1.len(), 1, "one change under the new key");
    let applied = thief.apply_page(&everything).unwrap();
    assert_eq!(applied.changes, 0, "nothing new opened for the thief");
    assert_eq!(notes(&mut thief, &case), ["Before Sam left"]);

    // The organisation can still open every epoch with its recovery key
    // (one recovery envelope per epoch, each from the epoch's starter).
    let db =
        rusqlite::Connection::open(outreach_server::database_path(&t.tmp.path().join("server")))
            .unwrap();
    let recovery: i64 = db
        .query_row(
            "SELECT COUNT(DISTINCT epoch) FROM log WHERE kind = 1 AND target = ?1",
            [&proto::RECOVERY_RECIPIENT[..]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recovery, 2);
}

#[test]
fn a_change_sealed_under_the_old_key_is_sealed_again_not_lost() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    t.sam.sync().unwrap();
    // Sue writes while Sam is still on the team and queues it (offline).
    let edit = outreach_core::case::model::CaseEdit {
        preferred_name: Some("Jessie".into()),
        ..Default::default()
    };
    t.sue.vault.edit_case(&case, &edit).unwrap();
    t.sue.vault.prepare_uploads().unwrap();

    t.server
        .admin(&["revoke-device", &device_id(&t.sam.vault)])
        .unwrap();
    assert_eq!(t.amy.sync().unwrap().keys_rotated, 1);

    // Sue's queued upload was sealed under epoch 0: the server refuses it
    // as stale, her sync takes the new key and sends it again, sealed anew.
    let r = t.sue.sync().unwrap();
    assert_eq!(r.pushed, 1, "{r:?}");
    assert_eq!(r.uploads_waiting_for_key, 0);
    t.amy.sync().unwrap();
    assert_eq!(
        t.amy.vault.read_case(&case).unwrap().profile.preferred_name,
        "Jessie"
    );
    let db =
        rusqlite::Connection::open(outreach_server::database_path(&t.tmp.path().join("server")))
            .unwrap();
    let stored_stale: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM log l JOIN cases c ON c.case_id = l.case_id
             WHERE l.kind = 0 AND l.epoch < c.epoch AND l.seq > (
                SELECT MIN(seq) FROM log WHERE kind = 1 AND epoch = 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        stored_stale, 0,
        "nothing stored under the old key after rotation"
    );
}

#[test]
fn two_devices_rotating_at_once_converge_on_one_key() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    t.sam.sync().unwrap();
    t.server
        .admin(&["revoke-device", &device_id(&t.sam.vault)])
        .unwrap();

    // Both are told to rotate, both build a request with a key of their own.
    let due_amy = pull_all(&t.amy).rotations;
    let due_sue = pull_all(&t.sue).rotations;
    assert_eq!(due_amy.len(), 1);
    assert_eq!(due_sue.len(), 1);
    assert_eq!(due_amy[0].epoch, 1);
    let a = t.amy.vault.rotation_request(&due_amy[0]).unwrap().unwrap();
    let s = t.sue.vault.rotation_request(&due_sue[0]).unwrap().unwrap();
    let post = |d: &Device, req: &proto::RotateRequest| {
        let body = proto::encode(req);
        let auth = d
            .vault
            .sign_request(
                "POST",
                proto::PATH_ROTATE,
                chrono::Utc::now().timestamp(),
                &body,
            )
            .unwrap();
        HttpTransport::new(&d.server, false)
            .unwrap()
            .post_or_refusal(proto::PATH_ROTATE, &body, Some(&auth))
            .unwrap()
    };
    assert!(post(&t.amy, &a).is_ok());
    let refused = post(&t.sue, &s).unwrap_err();
    assert_eq!(refused.code, proto::ErrorCode::StaleEpoch);
    // The winner's retry (a lost reply) is answered the same.
    assert!(post(&t.amy, &a).is_ok());
    let case_id = a.case_id;
    t.amy.vault.finish_rotation(case_id, 1, true).unwrap();
    t.sue.vault.finish_rotation(case_id, 1, false).unwrap();

    // Both write under the one new key and read each other.
    visit(&mut t.amy.vault, &case, "Amy after");
    let edit = outreach_core::case::model::CaseEdit {
        preferred_name: Some("Jessie".into()),
        ..Default::default()
    };
    t.sue.vault.edit_case(&case, &edit).unwrap();
    let ra = t.amy.sync().unwrap();
    let rs = t.sue.sync().unwrap();
    t.amy.sync().unwrap();
    assert!(ra.rejected.is_empty() && rs.rejected.is_empty());
    assert_eq!(notes(&mut t.sue.vault, &case), ["Amy after"]);
    assert_eq!(
        t.amy.vault.read_case(&case).unwrap().profile.preferred_name,
        "Jessie"
    );
    assert_eq!(rs.uploads_waiting_for_key, 0);
}

#[test]
fn a_transfer_changes_the_key_and_the_former_holders_last_work_still_arrives() {
    let mut t = team();
    let bea_code = t.server.invite("Bea", "practitioner", Some("north"));
    let mut bea = Device::enrol(&t.tmp.path().join("bea"), "Bea", &t.server.url(), &bea_code);
    let case = new_case(&mut t.amy.vault, "Jess");
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    // Amy records a visit offline; meanwhile Sue transfers the case to Bea.
    visit(&mut t.amy.vault, &case, "Amy's last visit");
    let mut amy_copy = stolen_copy(&t.amy.dir, &t.tmp.path().join("amy-copy"));
    let transfer = outreach_core::sync::transfer_case(
        &mut t.sue.vault,
        &HttpTransport::new(&t.server.url(), false).unwrap(),
        &case,
        "Bea",
    )
    .unwrap();
    assert_eq!(transfer.to, "Bea");
    // Sue's sync after the transfer rotated the key.
    assert_eq!(
        t.sue.sync().unwrap().keys_rotated,
        0,
        "rotated during transfer"
    );
    // Amy's visit, sealed under the old key, is still taken (she was not
    // told yet), then her copy of the case goes.
    let r = t.amy.sync().unwrap();
    assert_eq!(r.pushed, 1, "{r:?}");
    assert_eq!(r.removed, vec![case.clone()]);
    bea.sync().unwrap();
    assert_eq!(notes(&mut bea.vault, &case), ["Amy's last visit"]);
    // What Bea writes now is beyond Amy's old keys.
    visit(&mut bea.vault, &case, "Bea's first visit");
    bea.sync().unwrap();
    let everything = pull_all(&t.sue);
    assert!(
        everything
            .entries
            .iter()
            .any(|e| matches!(&e.item, proto::Item::Change(c) if c.epoch == 1))
    );
    amy_copy.apply_page(&everything).unwrap();
    assert!(!notes(&mut amy_copy, &case).contains(&"Bea's first visit".to_string()));
}

#[test]
fn the_server_refuses_a_rotation_that_is_not_due_or_leaves_out_the_recovery_key() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    t.amy.sync().unwrap();
    let case_id = *uuid::Uuid::parse_str(&case).unwrap().as_bytes();
    let me = t.amy.vault.device_id_bytes().unwrap();
    // Not due: nobody lost the case.
    let due = proto::RotationDue {
        case_id,
        epoch: 1,
        recipients: vec![proto::Recipient {
            device_id: proto::RECOVERY_RECIPIENT,
            kex_pk: [9; 32],
        }],
    };
    let req = t.amy.vault.rotation_request(&due).unwrap().unwrap();
    let post = |d: &Device, req: &proto::RotateRequest| {
        let body = proto::encode(req);
        let auth = d
            .vault
            .sign_request(
                "POST",
                proto::PATH_ROTATE,
                chrono::Utc::now().timestamp(),
                &body,
            )
            .unwrap();
        HttpTransport::new(&d.server, false)
            .unwrap()
            .post_or_refusal(proto::PATH_ROTATE, &body, Some(&auth))
            .unwrap()
    };
    assert_eq!(
        post(&t.amy, &req).unwrap_err().code,
        proto::ErrorCode::Forbidden
    );
    t.server
        .admin(&["revoke-device", &device_id(&t.sam.vault)])
        .unwrap();
    // Due now, but without the recovery envelope: refused.
    let mut no_recovery = req.clone();
    no_recovery
        .envelopes
        .retain(|e| e.recipient != proto::RECOVERY_RECIPIENT);
    assert_eq!(
        post(&t.amy, &no_recovery).unwrap_err().code,
        proto::ErrorCode::Malformed
    );
    // Sealed (properly, and signed) to the revoked device: refused.
    let to_sam = t
        .amy
        .vault
        .rotation_request(&proto::RotationDue {
            recipients: vec![
                due.recipients[0],
                proto::Recipient {
                    device_id: t.sam.vault.device_id_bytes().unwrap(),
                    kex_pk: [5; 32],
                },
            ],
            ..due.clone()
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        post(&t.amy, &to_sam).unwrap_err().code,
        proto::ErrorCode::Forbidden
    );
    // The case still syncs with the real rotation.
    t.amy.vault.finish_rotation(case_id, 1, false).unwrap();
    assert_eq!(t.amy.sync().unwrap().keys_rotated, 1);
    t.sue.sync().unwrap();
    assert!(t.sue.vault.read_case(&case).is_ok());

    // A push cannot pass an envelope off as starting an epoch: Amy's own
    // envelope from the rotation, pushed again, is refused.
    let started = pull_all(&t.sue)
        .entries
        .into_iter()
        .find_map(|e| match e.item {
            proto::Item::Envelope(env) if env.starts_epoch && env.sealed_by == me => Some(env),
            _ => None,
        })
        .unwrap();
    let body = proto::encode(&proto::PushRequest {
        changes: Vec::new(),
        envelopes: vec![started],
    });
    let auth = t
        .amy
        .vault
        .sign_request(
            "POST",
            proto::PATH_PUSH,
            chrono::Utc::now().timestamp(),
            &body,
        )
        .unwrap();
    let refused = HttpTransport::new(&t.amy.server, false)
        .unwrap()
        .post_or_refusal(proto::PATH_PUSH, &body, Some(&auth))
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.code, proto::ErrorCode::Malformed);
}
