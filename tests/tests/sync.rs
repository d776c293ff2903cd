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
                exit_reason: Some("n/a".into()),
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
    assert_eq!(c.programme.exit_reason.as_deref(), Some("n/a"));
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
        let (dev, sig) = v.sign_request("POST", path, ts, &body).unwrap();
        http.post(path, &body, Some(&proto::auth_header(&dev, ts, &sig)))
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
    let (dev, sig) = t
        .sue
        .vault
        .sign_request("POST", proto::PATH_ASSIGN, ts, &body)
        .unwrap();
    sue_http
        .post(
            proto::PATH_ASSIGN,
            &body,
            Some(&proto::auth_header(&dev, ts, &sig)),
        )
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
    let mut t = team();
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
            for s in secrets.iter().chain(["Amy", "Sue", "north"].iter()) {
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
        for _ in 0..4 {
            // Incompressible notes near the 16 KiB limit.
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
        assert_eq!(t.sue.vault.read_case(c).unwrap().visits.len(), 4);
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
