//! End-to-end sync against a real `outreach-server` process on loopback:
//! practitioner → supervisor, concurrent edits, who may fetch what, what the
//! server holds, revocation, and refused input.

use outreach_core::Error;
use outreach_core::case::model::CaseEdit;
use outreach_core::sync::{HttpTransport, Transport};
use outreach_core::vault::Vault;
use outreach_protocol as proto;
use outreach_tests::PASSPHRASE;
use outreach_tests::harness::{Device, Server, bin, new_case, visit};

/// Export without the exporter and time, for comparing replicas.
fn export(v: &mut Vault, case: &str) -> serde_json::Value {
    let mut e = serde_json::to_value(v.export_json(case).unwrap()).unwrap();
    e.as_object_mut().unwrap().remove("exported_at");
    e.as_object_mut().unwrap().remove("exported_by");
    e
}

struct Team {
    _tmp: tempfile::TempDir,
    server: Server,
    amy: Device,
    sue: Device,
}

/// A server with Amy (practitioner) and Sue (her supervisor), team north.
fn team() -> Team {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &amy_code);
    let sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &sue_code);
    Team {
        _tmp: tmp,
        server,
        amy,
        sue,
    }
}

#[test]
fn practitioner_records_offline_and_her_supervisor_sees_it() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    let notes = [
        "Talked about the tenancy",
        "Went with her to the GP",
        "No answer, left a card",
    ];
    let ids: Vec<String> = notes
        .iter()
        .map(|n| visit(&mut t.amy.vault, &case, n))
        .collect();

    let pushed = t.amy.sync().unwrap();
    assert_eq!(
        pushed.pushed, 1,
        "one upload: the case's changes since it was created"
    );
    assert_eq!(pushed.keys_shared, 1, "the key was sealed for Sue's device");

    let got = t.sue.sync().unwrap();
    assert_eq!(got.cases_changed, vec![case.clone()]);
    let seen = t.sue.vault.read_case(&case).unwrap();
    assert_eq!(seen.profile.preferred_name, "Jess");
    for (id, note) in ids.iter().zip(notes) {
        assert_eq!(seen.visits[id].note, note);
    }
    assert_eq!(
        export(&mut t.amy.vault, &case),
        export(&mut t.sue.vault, &case)
    );

    // Nothing new: one round trip, a few bytes.
    let idle = t.sue.sync().unwrap();
    assert_eq!((idle.round_trips, idle.pushed, idle.pulled), (1, 0, 0));
    assert!(idle.bytes_sent + idle.bytes_received < 100, "{idle:?}");

    // The supervisor's sign-off comes back to the practitioner.
    t.sue
        .vault
        .sign_off_visit(
            &case,
            &ids[0],
            outreach_core::case::model::SignOffDecision::SignedOff,
            Some("Good plan"),
        )
        .unwrap();
    t.sue.sync().unwrap();
    let back = t.amy.sync().unwrap();
    assert_eq!(back.pulled, 1);
    assert!(
        t.amy.vault.read_case(&case).unwrap().visits[&ids[0]]
            .sign_off
            .is_some()
    );
}

#[test]
fn concurrent_edits_converge_and_report_the_same_conflict() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();

    // Offline on both: different fields, and the same field.
    t.amy
        .vault
        .edit_case(
            &case,
            &CaseEdit {
                referral_source: Some("Midwife".into()),
                code_word: Some("bluebell".into()),
                ..Default::default()
            },
        )
        .unwrap();
    t.sue
        .vault
        .edit_case(
            &case,
            &CaseEdit {
                exit_reason: Some("other".into()),
                code_word: Some("primrose".into()),
                ..Default::default()
            },
        )
        .unwrap();
    visit(&mut t.amy.vault, &case, "Amy's visit");
    visit(&mut t.sue.vault, &case, "Sue's phone call");

    for _ in 0..2 {
        t.amy.sync().unwrap();
        t.sue.sync().unwrap();
    }
    let (a, s) = (
        export(&mut t.amy.vault, &case),
        export(&mut t.sue.vault, &case),
    );
    assert_eq!(a, s, "both replicas export identically");
    let c = t.amy.vault.read_case(&case).unwrap();
    assert_eq!(c.visits.len(), 2);
    assert_eq!(c.programme.referral_source.as_deref(), Some("Midwife"));
    assert_eq!(c.programme.exit_reason.as_deref(), Some("other"));
    let conflicts_a = t.amy.vault.conflicts(&case).unwrap();
    let conflicts_s = t.sue.vault.conflicts(&case).unwrap();
    assert_eq!(conflicts_a.len(), 1, "{conflicts_a:?}");
    assert!(
        conflicts_a[0].field.contains("code_word"),
        "{}",
        conflicts_a[0].field
    );
    assert_eq!(conflicts_a[0].field, conflicts_s[0].field);
    assert_eq!(conflicts_a[0].values.len(), 2);
}

#[test]
fn another_practitioner_cannot_obtain_the_case() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    visit(&mut t.amy.vault, &case, "Confidential note");
    t.amy.sync().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let bob_code = t.server.invite("Bob", "practitioner", Some("north"));
    let mut bob = Device::enrol(&tmp.path().join("bob"), "Bob", &t.server.url(), &bob_code);
    let ann_code = t.server.invite("Ann", "supervisor", Some("south"));
    let mut ann = Device::enrol(&tmp.path().join("ann"), "Ann", &t.server.url(), &ann_code);

    for d in [&mut bob, &mut ann] {
        let r = d.sync().unwrap();
        assert_eq!((r.pulled, r.keys_received), (0, 0));
        assert!(d.vault.case_ids().unwrap().is_empty());
    }

    // Directly over HTTP with Bob's own credentials.
    let http = HttpTransport::new(&t.server.url(), false).unwrap();
    let call = |v: &Vault, path: &str, body: Vec<u8>| {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let auth = v.sign_request("POST", path, ts, &body).unwrap();
        http.post(path, &body, Some(&auth))
    };
    let from_zero = proto::encode(&proto::PullRequest {
        cursor: proto::Cursor::default(),
        max_bytes: proto::MAX_PULL_BYTES,
    });
    let page: proto::PullResponse =
        proto::decode(&call(&bob.vault, proto::PATH_PULL, from_zero).unwrap()).unwrap();
    assert!(page.entries.is_empty() && page.needs.is_empty(), "{page:?}");
    let case_id = *uuid::Uuid::parse_str(&case).unwrap().as_bytes();
    let refetch = proto::encode(&proto::RefetchRequest {
        cases: vec![case_id],
    });
    assert!(matches!(
        call(&bob.vault, proto::PATH_REFETCH, refetch),
        Err(Error::ServerRefused(_))
    ));
    let assign = proto::encode(&proto::AssignRequest {
        case_id,
        user: "Bob".into(),
    });
    assert!(matches!(
        call(&bob.vault, proto::PATH_ASSIGN, assign),
        Err(Error::ServerRefused(_))
    ));
    let page: proto::PullResponse = proto::decode(
        &call(
            &bob.vault,
            proto::PATH_PULL,
            proto::encode(&proto::PullRequest {
                cursor: proto::Cursor::default(),
                max_bytes: 4096,
            }),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(page.entries.is_empty(), "a refused refetch queued nothing");

    // Through the shell: Bob's caseload is empty.
    let out = std::process::Command::new(bin("outreach"))
        .args(["--json", "case", "list", "--vault"])
        .arg(&bob.dir)
        .env("OUTREACH_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    drop(bob);
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );

    // Once Sue assigns the case to Bob, his devices get it whole.
    let tmp2 = tempfile::tempdir().unwrap();
    let bob2_code = t.server.invite("Bob", "practitioner", Some("north"));
    let mut bob2 = Device::enrol(
        &tmp2.path().join("bob2"),
        "Bob",
        &t.server.url(),
        &bob2_code,
    );
    bob2.sync().unwrap();
    t.sue.sync().unwrap();
    let sue_http = HttpTransport::new(&t.server.url(), false).unwrap();
    let body = proto::encode(&proto::AssignRequest {
        case_id,
        user: "Bob".into(),
    });
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let auth = t
        .sue
        .vault
        .sign_request("POST", proto::PATH_ASSIGN, ts, &body)
        .unwrap();
    sue_http
        .post(proto::PATH_ASSIGN, &body, Some(&auth))
        .unwrap();
    assert_eq!(
        t.sue.sync().unwrap().keys_shared,
        2,
        "both of Bob's devices get the key"
    );
    bob2.sync().unwrap();
    let c = bob2.vault.read_case(&case).unwrap();
    assert_eq!(c.visits.values().next().unwrap().note, "Confidential note");
}

#[test]
fn server_data_holds_no_record_content() {
    // Names long enough that random ciphertext never spells one (three
    // letters, as "Amy", turn up by chance in a few per cent of runs in a
    // file of some hundred KiB).
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let (amy_name, sue_name) = ("Amaryllis Quenby-Harte", "Susannah Verity-Lowe");
    let amy_code = server.invite(amy_name, "practitioner", Some("north"));
    let sue_code = server.invite(sue_name, "supervisor", Some("north"));
    let amy = Device::enrol(&tmp.path().join("amy"), amy_name, &server.url(), &amy_code);
    let sue = Device::enrol(&tmp.path().join("sue"), sue_name, &server.url(), &sue_code);
    let mut t = Team {
        _tmp: tmp,
        server,
        amy,
        sue,
    };
    let secrets = [
        "Jessamine Okonkwo-Fairweather",
        "lives above the launderette",
        "bluebell-code-77",
        "disclosed a new relationship",
    ];
    let case = new_case(&mut t.amy.vault, secrets[0]);
    t.amy
        .vault
        .edit_case(
            &case,
            &CaseEdit {
                address: Some(secrets[1].into()),
                code_word: Some(secrets[2].into()),
                ..Default::default()
            },
        )
        .unwrap();
    visit(&mut t.amy.vault, &case, secrets[3]);
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    assert_eq!(
        t.sue
            .vault
            .read_case(&case)
            .unwrap()
            .profile
            .safe_contact
            .code_word
            .as_deref(),
        Some(secrets[2])
    );
    let mut files = 0;
    for entry in std::fs::read_dir(&t.server.data).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            continue; // the recovery key file of the first start
        }
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} found in {}",
                path.display()
            );
        }
    }
    assert!(files >= 2, "database and WAL checked");
    // Nor do the devices' files, with outbox, inbox and received changes.
    for dir in [&t.amy.dir, &t.sue.dir] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for s in secrets.iter().chain([amy_name, sue_name, "north"].iter()) {
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                    "{s} in a device file"
                );
            }
        }
    }
}

#[test]
fn revoked_device_is_refused_and_wiped() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    t.amy.sync().unwrap();
    let devices = t.server.admin(&["devices"]).unwrap();
    let amy_device = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["user"] == "Amy")
        .unwrap()["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    t.server.admin(&["revoke-device", &amy_device]).unwrap();
    let listed = t.server.admin(&["devices"]).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device_id"] == amy_device.as_str() && d["revoked"] == true)
    );

    assert!(matches!(t.amy.sync(), Err(Error::DeviceRevoked)));
    assert!(
        !t.amy.dir.join("outreach.db").exists(),
        "the vault is destroyed"
    );
    assert!(matches!(t.amy.vault.read_case(&case), Err(Error::Wiped)));

    // Through the shell: exit code 4 and the reason.
    let tmp = tempfile::tempdir().unwrap();
    let code = t.server.invite("Cat", "practitioner", Some("north"));
    let cat = Device::enrol(&tmp.path().join("cat"), "Cat", &t.server.url(), &code);
    let dir = cat.dir.clone();
    let id = cat.vault.settings().unwrap().device_id.clone();
    drop(cat);
    t.server.admin(&["revoke-device", &id]).unwrap();
    let out = std::process::Command::new(bin("outreach"))
        .args(["sync", "--vault"])
        .arg(&dir)
        .env("OUTREACH_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revoked") && err.contains("wiped"), "{err}");
    assert!(!dir.join("outreach.db").exists());
}

#[test]
fn a_large_first_upload_spans_several_requests() {
    let mut t = team();
    let mut cases = Vec::new();
    let mut seed = 0x2545f4914f6cdd1du64;
    for i in 0..40 {
        let case = new_case(&mut t.amy.vault, &format!("Case {i}"));
        // Enough for well over one push batch and one pull page (1 MiB each)
        // once compressed; more would prove nothing more and only slow the test.
        for _ in 0..3 {
            // Notes near the 16 KiB limit that compress poorly.
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let note: String = (0..16000)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ALPHABET[(seed & 63) as usize] as char
                })
                .collect();
            visit(&mut t.amy.vault, &case, &note);
        }
        cases.push(case);
    }
    let r = t.amy.sync().unwrap();
    assert!(
        r.bytes_sent > 1024 * 1024,
        "more than one push batch of data"
    );
    assert!(
        r.round_trips >= 3,
        "several push requests and a pull: {}",
        r.round_trips
    );
    assert_eq!(r.pushed, 40);
    let got = t.sue.sync().unwrap();
    assert_eq!(got.cases_changed.len(), 40);
    assert!(
        got.round_trips >= 2,
        "more than one pull page: {}",
        got.round_trips
    );
    for c in &cases {
        assert_eq!(t.sue.vault.read_case(c).unwrap().visits.len(), 3);
    }
}

#[test]
fn supervisor_assigns_a_case_through_the_shell() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    visit(&mut t.amy.vault, &case, "Visit before the handover");
    t.amy.sync().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let code = t.server.invite("Jo Smith", "practitioner", Some("north"));
    let mut jo = Device::enrol(&tmp.path().join("jo"), "Jo Smith", &t.server.url(), &code);
    assert!(jo.sync().unwrap().cases_changed.is_empty());
    let sue_dir = t.sue.dir.clone();
    let amy_dir = t.amy.dir.clone();
    drop(t.sue);
    drop(t.amy);
    let shell = |dir: &std::path::Path, args: &[&str]| {
        std::process::Command::new(bin("outreach"))
            .args(args)
            .arg("--vault")
            .arg(dir)
            .arg("--json")
            .env("OUTREACH_PASSPHRASE", PASSPHRASE)
            .output()
            .unwrap()
    };
    // A practitioner may not assign.
    let refused = shell(
        &amy_dir,
        &["case", "assign", &case[..8], "--to", "Jo Smith"],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("supervisor"));
    // Her supervisor may; Jo's device gets the key at once.
    let out = shell(
        &sue_dir,
        &["case", "assign", &case[..8], "--to", "Jo Smith"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["devices"].as_u64(), v["keys_shared"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let r = jo.sync().unwrap();
    assert_eq!(
        r.cases_changed,
        vec![case.clone()],
        "the case arrives whole"
    );
    let got = jo.vault.read_case(&case).unwrap();
    assert_eq!(
        got.visits.values().next().unwrap().note,
        "Visit before the handover"
    );
    // `sync --json` summary through the shell.
    let out = shell(&sue_dir, &["sync"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["pushed", "pulled", "cases_changed", "conflicts"] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }
}

// ---- case transfer ----------------------------------------------------------

/// `outreach <args> --vault DIR` (with `--json` if asked).
fn shell(dir: &std::path::Path, args: &[&str], json: bool) -> std::process::Output {
    let mut cmd = std::process::Command::new(bin("outreach"));
    cmd.args(args).arg("--vault").arg(dir);
    if json {
        cmd.arg("--json");
    }
    cmd.env("OUTREACH_PASSPHRASE", PASSPHRASE).output().unwrap()
}

/// A request signed by `v`'s device, straight to the server.
fn signed_call(
    v: &Vault,
    server: &str,
    path: &str,
    body: Vec<u8>,
) -> outreach_core::Result<Vec<u8>> {
    let http = HttpTransport::new(server, false).unwrap();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let auth = v.sign_request("POST", path, ts, &body).unwrap();
    http.post(path, &body, Some(&auth))
}

/// Takes the uploads queued for the case's local changes out of the outbox
/// (as if they were lost in transit), returning its change.
fn take_queued_change(v: &mut Vault) -> proto::Change {
    v.prepare_uploads().unwrap();
    let batch = v.outbox_batch(usize::MAX).unwrap();
    let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
    v.acknowledge(&ids).unwrap();
    batch
        .into_iter()
        .find_map(|(_, item)| match item {
            proto::Item::Change(c) => Some(c),
            _ => None,
        })
        .expect("a queued change")
}

/// Amy's case, synced to Sue; Bob (practitioner, north) enrolled.
fn team_with_bob(tmp: &std::path::Path) -> (Team, String, Device) {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    visit(&mut t.amy.vault, &case, "Visit before the transfer");
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    let code = t.server.invite("Bob", "practitioner", Some("north"));
    let mut bob = Device::enrol(&tmp.join("bob"), "Bob", &t.server.url(), &code);
    assert!(bob.sync().unwrap().cases_changed.is_empty());
    (t, case, bob)
}

#[test]
fn supervisor_transfers_a_case_through_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let (t, case, mut bob) = team_with_bob(tmp.path());
    let (sue_dir, amy_dir) = (t.sue.dir.clone(), t.amy.dir.clone());
    drop(t.sue);
    drop(t.amy);

    let out = shell(
        &sue_dir,
        &["case", "transfer", &case[..8], "--to", "Bob"],
        true,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["case_id"], case.as_str(), "{v}");
    assert_eq!(v["to"], "Bob", "{v}");
    assert_eq!(
        (v["devices"].as_u64(), v["keys_shared"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );

    // Bob's device receives the case whole, with the transfer recorded.
    let r = bob.sync().unwrap();
    assert_eq!(r.cases_changed, vec![case.clone()]);
    assert!(r.removed.is_empty());
    let got = bob.vault.read_case(&case).unwrap();
    assert_eq!(
        got.visits.values().next().unwrap().note,
        "Visit before the transfer"
    );
    assert_eq!(got.programme.practitioners, vec!["Bob".to_string()]);
    let open: Vec<_> = got
        .programme
        .holders
        .values()
        .filter(|h| h.to.is_none())
        .collect();
    assert_eq!(open.len(), 1, "{:?}", got.programme.holders);
    assert_eq!(open[0].name, "Bob");
    assert_eq!(open[0].by.as_deref(), Some("Sue"));
    assert!(
        got.programme
            .holders
            .values()
            .any(|h| h.name == "Amy" && h.to.is_some()),
        "Amy's holding is closed: {:?}",
        got.programme.holders
    );

    // Amy's next sync removes it from her device and says so.
    let out = shell(&amy_dir, &["sync"], false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "case {} was transferred to another practitioner and removed from this device",
            &case[..8]
        )),
        "{text}"
    );
    let list = shell(&amy_dir, &["case", "list", "--all"], true);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&list.stdout).unwrap(),
        serde_json::json!([])
    );
    let show = shell(&amy_dir, &["case", "show", &case], false);
    assert_eq!(show.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&show.stderr).contains("no case matches"),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    // Nothing more about it reaches her.
    let again = shell(&amy_dir, &["sync"], true);
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["removed"], serde_json::json!([]), "{v}");
    assert_eq!(v["pulled"], 0, "{v}");

    // Replaying the transfer changes nothing: no second holding, no new
    // removal, nothing new for Bob's device but Sue's (empty) resync.
    let out = shell(
        &sue_dir,
        &["case", "transfer", &case[..8], "--to", "Bob"],
        true,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = bob.sync().unwrap();
    assert_eq!(r.pulled, 0, "{r:?}");
    let got = bob.vault.read_case(&case).unwrap();
    assert_eq!(
        got.programme
            .holders
            .values()
            .filter(|h| h.to.is_none())
            .count(),
        1
    );
    let again = shell(&amy_dir, &["sync"], true);
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (v["removed"].clone(), v["pulled"].clone()),
        (serde_json::json!([]), serde_json::json!(0)),
        "{v}"
    );
}

#[test]
fn a_transfer_loses_nothing_written_offline_before_it_was_known() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut t, case, mut bob) = team_with_bob(tmp.path());
    // Amy, offline, records a visit; meanwhile Sue transfers the case.
    let late = visit(&mut t.amy.vault, &case, "Seen at the clinic, offline");
    let transport = HttpTransport::new(&t.server.url(), false).unwrap();
    let done =
        outreach_core::sync::transfer_case(&mut t.sue.vault, &transport, &case, "Bob").unwrap();
    assert_eq!((done.to.as_str(), done.devices), ("Bob", 1));

    // Her next sync (through the shell, --json) uploads the visit, then
    // removes the case.
    let amy_dir = t.amy.dir.clone();
    drop(t.amy);
    let out = shell(&amy_dir, &["sync"], true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pushed"], 1, "{v}");
    assert_eq!(v["removed"], serde_json::json!([case.clone()]), "{v}");
    let list = shell(&amy_dir, &["case", "list", "--all"], true);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&list.stdout).unwrap(),
        serde_json::json!([])
    );

    // The visit reached the new practitioner and the supervisor.
    bob.sync().unwrap();
    t.sue.sync().unwrap();
    for d in [&mut bob, &mut t.sue] {
        let c = d.vault.read_case(&case).unwrap();
        assert_eq!(c.visits[&late].note, "Seen at the clinic, offline");
        assert_eq!(c.visits.len(), 2);
        assert_eq!(c.programme.practitioners, vec!["Bob".to_string()]);
    }
}

#[test]
fn a_practitioner_cannot_transfer_a_case() {
    let tmp = tempfile::tempdir().unwrap();
    let (t, case, mut bob) = team_with_bob(tmp.path());
    let amy_dir = t.amy.dir.clone();
    drop(t.amy);
    let out = shell(
        &amy_dir,
        &["case", "transfer", &case[..8], "--to", "Bob"],
        false,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("only a supervisor of the case's team (or an admin) can transfer a case"),
        "{err}"
    );
    assert!(!err.contains("Bob") && !err.contains("Jess"), "{err}");

    // Nothing changed: Bob gets nothing, Amy keeps the case as it was.
    let r = bob.sync().unwrap();
    assert!(r.cases_changed.is_empty() && r.pulled == 0, "{r:?}");
    assert!(bob.vault.case_ids().unwrap().is_empty());
    let out = shell(&amy_dir, &["sync"], true);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["removed"], serde_json::json!([]), "{v}");
    let show = shell(&amy_dir, &["case", "show", &case], true);
    assert!(show.status.success());
    let c: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert!(c.to_string().contains("Amy"), "{c}");
    assert!(!c.to_string().contains("Bob"), "{c}");
}

#[test]
fn after_a_transfer_the_old_device_may_not_write_or_read_the_case() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut t, case, mut bob) = team_with_bob(tmp.path());
    let url = t.server.url();
    let transport = HttpTransport::new(&url, false).unwrap();
    outreach_core::sync::transfer_case(&mut t.sue.vault, &transport, &case, "Bob").unwrap();

    // Two uploads Amy's device signed before it learnt of the transfer.
    let first = visit(&mut t.amy.vault, &case, "Written before she knew");
    let c1 = take_queued_change(&mut t.amy.vault);
    let second = visit(&mut t.amy.vault, &case, "Replayed after removal");
    let c2 = take_queued_change(&mut t.amy.vault);
    let push = |c: &proto::Change| {
        proto::encode(&proto::PushRequest {
            changes: vec![c.clone()],
            envelopes: Vec::new(),
        })
    };
    // Until her device has pulled past its removal, the server takes them.
    let ack: proto::PushResponse =
        proto::decode(&signed_call(&t.amy.vault, &url, proto::PATH_PUSH, push(&c1)).unwrap())
            .unwrap();
    assert_eq!(ack.acks.len(), 1);

    let r = t.amy.sync().unwrap();
    assert_eq!(r.removed, vec![case.clone()]);
    assert!(matches!(
        t.amy.vault.read_case(&case),
        Err(Error::UnknownCase)
    ));

    // Afterwards, uploads to the case from her device are refused…
    for c in [&c2, &c1] {
        match signed_call(&t.amy.vault, &url, proto::PATH_PUSH, push(c)) {
            Err(Error::ServerRefused(m)) => assert!(m.contains("may not write"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // …and she is given nothing of it: no change or key from the start of
    // the log, and no refetch.
    let case_id = *uuid::Uuid::parse_str(&case).unwrap().as_bytes();
    let page: proto::PullResponse = proto::decode(
        &signed_call(
            &t.amy.vault,
            &url,
            proto::PATH_PULL,
            proto::encode(&proto::PullRequest {
                cursor: proto::Cursor::default(),
                max_bytes: proto::MAX_PULL_BYTES,
            }),
        )
        .unwrap(),
    )
    .unwrap();
    for e in &page.entries {
        assert!(
            matches!(e.item, proto::Item::Removed { case_id: c } if c == case_id),
            "{:?}",
            e.item
        );
    }
    assert!(page.needs.is_empty(), "{:?}", page.needs);
    assert!(matches!(
        signed_call(
            &t.amy.vault,
            &url,
            proto::PATH_REFETCH,
            proto::encode(&proto::RefetchRequest {
                cases: vec![case_id]
            })
        ),
        Err(Error::ServerRefused(_))
    ));

    // Bob has what was accepted, and not what was refused.
    bob.sync().unwrap();
    let c = bob.vault.read_case(&case).unwrap();
    assert!(c.visits.contains_key(&first));
    assert!(!c.visits.contains_key(&second));
}

#[test]
fn a_case_transferred_back_returns_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut t, case, mut bob) = team_with_bob(tmp.path());
    let transport = HttpTransport::new(&t.server.url(), false).unwrap();
    outreach_core::sync::transfer_case(&mut t.sue.vault, &transport, &case, "Bob").unwrap();
    assert_eq!(t.amy.sync().unwrap().removed, vec![case.clone()]);
    bob.sync().unwrap();
    let bobs = visit(&mut bob.vault, &case, "Bob's visit");
    bob.sync().unwrap();

    outreach_core::sync::transfer_case(&mut t.sue.vault, &transport, &case, "Amy").unwrap();
    let r = t.amy.sync().unwrap();
    assert_eq!(r.cases_changed, vec![case.clone()], "{r:?}");
    assert_eq!(r.cases_waiting_for_key, 0, "her key came back too");
    let c = t.amy.vault.read_case(&case).unwrap();
    assert_eq!(c.visits[&bobs].note, "Bob's visit");
    assert_eq!(c.programme.practitioners, vec!["Amy".to_string()]);
    assert_eq!(bob.sync().unwrap().removed, vec![case.clone()]);
}

#[test]
fn the_supervision_loop_round_trips_and_a_forged_sign_off_is_not_valid() {
    use outreach_core::case::doc::{Author, CaseDoc, Patch};
    use outreach_core::case::model::{ReviewState, SignOffDecision};
    use outreach_core::vault::VisitDraft;

    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    let first = visit(&mut t.amy.vault, &case, "Talked about the tenancy");
    let second = visit(&mut t.amy.vault, &case, "Went with her to the GP");
    // The practitioner cannot sign off her own visit.
    assert!(matches!(
        t.amy
            .vault
            .sign_off_visit(&case, &first, SignOffDecision::SignedOff, None),
        Err(Error::NotSupervisor)
    ));
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    assert_eq!(t.sue.vault.pending_visits().unwrap().len(), 2);

    // Returned with a comment (by the 8-character id the shell prints).
    t.sue
        .vault
        .sign_off_visit(
            &case,
            &first[..8],
            SignOffDecision::Returned,
            Some("Add the actions agreed"),
        )
        .unwrap();
    t.sue.sync().unwrap();
    t.amy.sync().unwrap();
    let mine = t.amy.vault.pending_visits().unwrap();
    assert_eq!(mine[0].visit_id, first);
    assert_eq!(mine[0].review, ReviewState::Returned);
    assert_eq!(mine[0].comment.as_deref(), Some("Add the actions agreed"));

    // Amended on her phone, back to the supervisor, signed off.
    t.amy
        .vault
        .amend_visit(
            &case,
            &first,
            &VisitDraft {
                actions_agreed: Some("Call the housing officer".into()),
                ..Default::default()
            },
        )
        .unwrap();
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    let sue_view = t.sue.vault.read_case(&case).unwrap();
    assert_eq!(sue_view.visits[&first].review, ReviewState::Amended);
    assert_eq!(
        sue_view.visits[&first].actions_agreed.as_deref(),
        Some("Call the housing officer")
    );
    assert_eq!(sue_view.visits[&first].amendments.len(), 1);
    t.sue
        .vault
        .sign_off_visit(&case, &first, SignOffDecision::SignedOff, None)
        .unwrap();
    t.sue.sync().unwrap();
    t.amy.sync().unwrap();
    assert_eq!(
        t.amy.vault.read_case(&case).unwrap().visits[&first].review,
        ReviewState::SignedOff
    );
    let h = t.amy.vault.history(&case).unwrap();
    let last = h.last().unwrap();
    assert_eq!(
        (last.by.as_str(), last.role.as_deref()),
        ("Sue", Some("supervisor"))
    );

    // An insider's app writes a sign-off claiming to be Sue's device and
    // syncs it: the receiving supervisor's device shows it as not valid.
    let sue_device = t.sue.vault.settings().unwrap().device_id.clone();
    let bytes = t.amy.vault.export_automerge(&case).unwrap();
    let mut doc = CaseDoc::load(&[0x42; 16], Some(&bytes), std::iter::empty()).unwrap();
    let at = chrono::Utc::now();
    doc.apply(
        &Author {
            by: "Sue".into(),
            role: Some("supervisor".into()),
            device: sue_device.clone(),
        },
        "visit signed off",
        at,
        &[Patch::replace(
            ["visits", second.as_str(), "sign_off"],
            serde_json::json!({"decision": "signed-off", "by": "Sue",
                "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "device": sue_device, "signature": "00".repeat(64)}),
        )],
    )
    .unwrap();
    t.amy.vault.merge_case_bytes(&case, &doc.save()).unwrap();
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    let sue_view = t.sue.vault.read_case(&case).unwrap();
    assert!(sue_view.visits[&second].sign_off.is_some());
    assert_eq!(sue_view.visits[&second].review, ReviewState::NotValid);
    assert!(
        t.sue
            .vault
            .pending_visits()
            .unwrap()
            .iter()
            .any(|p| p.visit_id == second),
        "a forged sign-off leaves the visit in the supervisor's queue"
    );
}

#[test]
fn a_transfer_waits_for_queued_uploads_before_removing_the_case() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut t, case, mut bob) = team_with_bob(tmp.path());
    let url = t.server.url();
    let transport = HttpTransport::new(&url, false).unwrap();
    outreach_core::sync::transfer_case(&mut t.sue.vault, &transport, &case, "Bob").unwrap();

    // Amy's device hears of the removal while an upload is still queued
    // (a sync interrupted between its push and its pull).
    let queued = visit(&mut t.amy.vault, &case, "Queued when the news came");
    t.amy.vault.prepare_uploads().unwrap();
    let cursor = t.amy.vault.sync_cursor().unwrap();
    let page: proto::PullResponse = proto::decode(
        &signed_call(
            &t.amy.vault,
            &url,
            proto::PATH_PULL,
            proto::encode(&proto::PullRequest {
                cursor,
                max_bytes: proto::MAX_PULL_BYTES,
            }),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(!page.more);
    let applied = t.amy.vault.apply_page(&page).unwrap();
    t.amy.vault.set_sync_cursor(page.next).unwrap();
    assert!(applied.removed.is_empty(), "{applied:?}");
    assert!(t.amy.vault.has_pending_removals().unwrap());
    assert_eq!(
        t.amy.vault.read_case(&case).unwrap().visits[&queued].note,
        "Queued when the news came",
        "kept until uploaded"
    );

    // The next sync uploads it first, then removes the case.
    let r = t.amy.sync().unwrap();
    assert_eq!(
        (r.pushed, r.removed.clone()),
        (1, vec![case.clone()]),
        "{r:?}"
    );
    assert!(!t.amy.vault.has_pending_removals().unwrap());
    assert!(t.amy.vault.case_ids().unwrap().is_empty());
    bob.sync().unwrap();
    assert_eq!(
        bob.vault.read_case(&case).unwrap().visits[&queued].note,
        "Queued when the news came"
    );
}
