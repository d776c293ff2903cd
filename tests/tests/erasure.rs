//! Erasure, retention, `case forget` and the admin log, against a real
//! `outreach-server` process and enrolled devices: an erased case leaves the
//! server's files and every device that held it (each confirms), retention
//! erases what was closed before a cut-off, a device forgets a case only
//! once nothing written on it is unsent, and the admin log lists it all.

use outreach_core::Error;
use outreach_core::case::model::ExitReason;
use outreach_core::vault::VisitDraft;
use outreach_tests::harness::{Device, Server, new_case, visit};
use serde_json::Value;

struct Team {
    tmp: tempfile::TempDir,
    server: Server,
    amy: Device,
    sue: Device,
}

/// Amy (practitioner) and Sue (her supervisor), team north.
fn team() -> Team {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &amy_code);
    let sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &sue_code);
    Team {
        tmp,
        server,
        amy,
        sue,
    }
}

fn case_bytes(case: &str) -> [u8; 16] {
    *uuid::Uuid::parse_str(case).unwrap().as_bytes()
}

/// 64 bytes from the middle of a stored change of the case, as the server
/// holds it (ciphertext).
fn stored_ciphertext(server: &Server, case: &str) -> Vec<u8> {
    let db = rusqlite::Connection::open(outreach_server::database_path(&server.data)).unwrap();
    let body: Vec<u8> = db
        .query_row(
            "SELECT body FROM log WHERE case_id = ?1 AND kind = 0 ORDER BY length(body) DESC LIMIT 1",
            [&case_bytes(case)[..]],
            |r| r.get(0),
        )
        .unwrap();
    assert!(body.len() > 200, "a change of some size");
    body[body.len() / 2..body.len() / 2 + 64].to_vec()
}

/// Whether any file of the server's data directory holds `needle`.
fn server_files_contain(server: &Server, needle: &[u8]) -> bool {
    std::fs::read_dir(&server.data).unwrap().any(|f| {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

fn erase(server: &Server, case: &str) -> Result<Value, String> {
    server.admin(&["erase-case", case, "--confirm", case, "--by", "dpo"])
}

fn users(devices: &Value) -> Vec<String> {
    devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["user"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_erased_case_leaves_the_server_and_every_device_that_held_it() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    visit(&mut t.amy.vault, &case, "First visit, before the erasure");
    t.amy.sync().unwrap();
    assert_eq!(t.sue.sync().unwrap().cases_changed, vec![case.clone()]);
    let copy = t.amy.vault.export_automerge(&case).unwrap();
    let needle = stored_ciphertext(&t.server, &case);
    assert!(server_files_contain(&t.server, &needle));

    // Amy goes on writing offline: a visit not uploaded and a draft.
    visit(&mut t.amy.vault, &case, "Written offline, never uploaded");
    t.amy
        .vault
        .save_draft(None, &case, &VisitDraft::default())
        .unwrap();

    let erased = erase(&t.server, &case).unwrap();
    assert_eq!(erased["case_id"], case.as_str());
    assert_eq!(erased["erased_by"], "dpo");
    assert_eq!(users(&erased["devices"]), ["Amy", "Sue"]);
    assert!(
        erased["devices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["confirmed_at"].is_null())
    );
    assert!(
        !server_files_contain(&t.server, &needle),
        "the ciphertext is gone from the database files"
    );

    // Each device deletes it on its next sync, whatever it held.
    for d in [&mut t.amy, &mut t.sue] {
        let r = d.sync().unwrap();
        assert_eq!(r.erased, vec![case.clone()], "{r:?}");
        assert!(r.rejected.is_empty(), "{r:?}");
        assert!(d.vault.case_ids().unwrap().is_empty());
        assert!(matches!(d.vault.read_case(&case), Err(Error::UnknownCase)));
        assert!(d.vault.drafts().unwrap().is_empty());
        assert_eq!(d.vault.outbox_len().unwrap(), 0);
        assert!(
            d.vault.unreported_erasures().unwrap().is_empty(),
            "confirmed"
        );
        // Nothing more about it afterwards.
        let again = d.sync().unwrap();
        assert!(again.erased.is_empty() && again.pushed == 0, "{again:?}");
    }

    // Both confirmations show in the admin log.
    let log = t.server.admin(&["audit"]).unwrap();
    let entry = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "erase-case")
        .unwrap();
    assert_eq!(entry["actor"], "dpo");
    assert_eq!(entry["target"], case.as_str());
    assert!(
        entry["devices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["confirmed_at"].is_i64()),
        "{entry}"
    );

    // The id is never registered again: not from Amy's device (it knows),
    // not from a device that never held it.
    assert!(matches!(
        t.amy.vault.import_case(&copy),
        Err(Error::CaseErased)
    ));
    let bob_code = t.server.invite("Bob", "practitioner", Some("north"));
    let mut bob = Device::enrol(&t.tmp.path().join("bob"), "Bob", &t.server.url(), &bob_code);
    bob.vault.import_case(&copy).unwrap();
    match bob.sync() {
        Err(Error::ServerRefused(m)) => assert!(m.contains("no such case"), "{m}"),
        other => panic!("re-registration of an erased case: {other:?}"),
    }
    assert!(!server_files_contain(&t.server, &needle));
}

#[test]
fn erase_case_refuses_clearly() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    t.amy.sync().unwrap();
    let other = uuid::Uuid::new_v4().to_string();

    let no_confirm = t.server.admin(&["erase-case", &case]).unwrap_err();
    assert!(no_confirm.contains("--confirm"), "{no_confirm}");
    let mismatch = t
        .server
        .admin(&["erase-case", &case, "--confirm", &other])
        .unwrap_err();
    assert!(
        mismatch.contains("--confirm") && mismatch.contains("nothing was erased"),
        "{mismatch}"
    );
    let short = t
        .server
        .admin(&["erase-case", &case[..8], "--confirm", &case[..8]])
        .unwrap_err();
    assert!(short.contains("full case id"), "{short}");
    let unknown = erase(&t.server, &other).unwrap_err();
    assert!(unknown.contains("no case"), "{unknown}");
    for e in [&no_confirm, &mismatch, &short, &unknown] {
        assert_eq!(e.lines().count(), 1, "one line: {e}");
    }
    // Still there: the device syncs it normally.
    visit(&mut t.amy.vault, &case, "Still here");
    assert_eq!(t.amy.sync().unwrap().pushed, 1);

    erase(&t.server, &case).unwrap();
    let twice = erase(&t.server, &case).unwrap_err();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        twice.contains(&format!("already erased on {today}")),
        "{twice}"
    );
}

#[test]
fn retention_lists_then_erases_cases_closed_before_the_cut_off() {
    let mut t = team();
    let old = new_case(&mut t.amy.vault, "Old");
    let reopened = new_case(&mut t.amy.vault, "Back");
    let recent = new_case(&mut t.amy.vault, "Recent");
    let open = new_case(&mut t.amy.vault, "Open");
    t.amy
        .vault
        .close_case(&old, ExitReason::Completed, None, Some("2019-03-01"))
        .unwrap();
    t.amy
        .vault
        .close_case(&reopened, ExitReason::Completed, None, Some("2018-06-01"))
        .unwrap();
    t.amy
        .vault
        .close_case(&recent, ExitReason::Completed, None, Some("2025-01-01"))
        .unwrap();
    let first = t.amy.sync().unwrap();
    assert!(first.erased.is_empty());
    t.amy.vault.reopen_case(&reopened, None).unwrap();
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();

    let listed = |v: &Value| -> Vec<String> {
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case_id"].as_str().unwrap().to_string())
            .collect()
    };
    let dry = t
        .server
        .admin(&["retention", "--closed-before", "2020-01-01", "--dry-run"])
        .unwrap();
    assert_eq!(listed(&dry), [old.as_str()]);
    assert_eq!(dry["cases"][0]["closed_on"], "2019-03-01");
    assert_eq!(dry["cases"][0]["team"], "north");
    assert_eq!(dry["erased"], serde_json::json!([]));
    let wider = t
        .server
        .admin(&["retention", "--closed-before", "2025-06-30", "--dry-run"])
        .unwrap();
    assert_eq!(listed(&wider), [old.clone(), recent.clone()]);
    // A dry run erases nothing and logs nothing.
    assert!(t.amy.sync().unwrap().erased.is_empty());
    let actions = |s: &Server| -> Vec<String> {
        s.admin(&["audit"])
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(actions(&t.server), ["invite", "invite"]);

    for (date, problem) in [
        ("2020-13-01", "YYYY-MM-DD"),
        ("01/01/2020", "YYYY-MM-DD"),
        ("2999-01-01", "after today"),
    ] {
        let e = t
            .server
            .admin(&["retention", "--closed-before", date])
            .unwrap_err();
        assert!(
            e.contains("--closed-before") && e.contains(problem),
            "{date}: {e}"
        );
    }

    let done = t
        .server
        .admin(&["retention", "--closed-before", "2020-01-01", "--by", "dpo"])
        .unwrap();
    assert_eq!(listed(&done), [old.as_str()]);
    assert_eq!(done["erased"][0]["case_id"], old.as_str());
    assert_eq!(users(&done["erased"][0]["devices"]), ["Amy", "Sue"]);
    for d in [&mut t.amy, &mut t.sue] {
        assert_eq!(d.sync().unwrap().erased, vec![old.clone()]);
        let mut left = d.vault.case_ids().unwrap();
        left.sort();
        let mut want = vec![reopened.clone(), recent.clone(), open.clone()];
        want.sort();
        assert_eq!(left, want);
    }
    assert_eq!(
        actions(&t.server),
        ["invite", "invite", "erase-case", "retention"]
    );
    let again = t
        .server
        .admin(&["retention", "--closed-before", "2020-01-01"])
        .unwrap();
    assert!(listed(&again).is_empty());
}

#[test]
fn a_device_forgets_a_case_only_when_nothing_written_there_is_unsent() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    visit(&mut t.amy.vault, &case, "First visit");
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();

    assert!(matches!(
        t.amy.vault.forget_case(&case),
        Err(Error::ForgetOpenCase)
    ));
    t.amy
        .vault
        .close_case(&case, ExitReason::Completed, None, None)
        .unwrap();
    assert!(matches!(
        t.amy.vault.forget_case(&case),
        Err(Error::ForgetUnsent)
    ));
    t.amy.sync().unwrap();
    t.amy
        .vault
        .save_draft(None, &case, &VisitDraft::default())
        .unwrap();
    assert!(matches!(
        t.amy.vault.forget_case(&case),
        Err(Error::ForgetUnsent)
    ));
    let draft = t.amy.vault.drafts().unwrap()[0].draft_id.clone();
    t.amy.vault.discard_draft(&draft).unwrap();
    assert_eq!(t.amy.vault.forget_case(&case[..8]).unwrap(), case);
    assert!(t.amy.vault.case_ids().unwrap().is_empty());

    // Others keep it; what they write no longer reaches this device, and
    // is dropped, not quarantined.
    t.sue.sync().unwrap();
    t.sue.vault.reopen_case(&case, None).unwrap();
    visit(&mut t.sue.vault, &case, "Seen by the supervisor");
    assert_eq!(t.sue.sync().unwrap().pushed, 1);
    let r = t.amy.sync().unwrap();
    assert!(r.rejected.is_empty() && r.cases_changed.is_empty(), "{r:?}");
    assert!(t.amy.vault.case_ids().unwrap().is_empty());
    assert_eq!(t.sue.vault.read_case(&case).unwrap().visits.len(), 2);

    // A case handed over to someone else can be forgotten too, even open:
    // Sue opened one, transferred it to Amy, and drops her copy; Amy, who
    // holds it now, cannot.
    let other = new_case(&mut t.sue.vault, "Mo");
    t.sue.sync().unwrap();
    let transport = outreach_core::sync::HttpTransport::new(&t.server.url(), false).unwrap();
    outreach_core::sync::transfer_case(&mut t.sue.vault, &transport, &other, "Amy").unwrap();
    t.amy.sync().unwrap();
    assert!(matches!(
        t.amy.vault.forget_case(&other),
        Err(Error::ForgetOpenCase)
    ));
    assert_eq!(t.sue.vault.forget_case(&other).unwrap(), other);
    assert!(t.amy.vault.read_case(&other).is_ok());
}

#[test]
fn the_admin_log_lists_admin_actions_in_order() {
    let mut t = team();
    let case = new_case(&mut t.amy.vault, "Jess");
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    let bob_code = t.server.invite("Bob", "practitioner", Some("north"));
    let mut bob = Device::enrol(&t.tmp.path().join("bob"), "Bob", &t.server.url(), &bob_code);
    let transport = outreach_core::sync::HttpTransport::new(&t.server.url(), false).unwrap();
    outreach_core::sync::assign(&mut t.sue.vault, &transport, &case, "Bob").unwrap();
    outreach_core::sync::transfer_case(&mut t.sue.vault, &transport, &case, "Bob").unwrap();
    bob.sync().unwrap();
    let bob_device = bob.vault.settings().unwrap().device_id.clone();
    t.server
        .admin(&["revoke-device", &bob_device[..8], "--by", "root"])
        .unwrap();
    erase(&t.server, &case).unwrap();

    let log = t.server.admin(&["audit"]).unwrap();
    let rows: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let me = rows[0].0.clone(); // the OS user: no --by given
    let want: Vec<(String, String, String)> = [
        (me.as_str(), "invite", "Amy"),
        (me.as_str(), "invite", "Sue"),
        (me.as_str(), "invite", "Bob"),
        ("Sue", "assign", case.as_str()),
        ("Sue", "transfer", case.as_str()),
        ("root", "revoke-device", bob_device.as_str()),
        ("dpo", "erase-case", case.as_str()),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(rows, want);
    let ats: Vec<i64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_i64().unwrap())
        .collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "{ats:?}");
    // Staff names and ids only: the case's name is nowhere in the log.
    let text = log.to_string();
    assert!(!text.contains("Jess"));
    // Bob's device, revoked, is not asked to confirm the erasure; Amy's
    // (still holding the case it was transferred away from) is.
    let erasure = log.as_array().unwrap().last().unwrap();
    assert_eq!(users(&erasure["devices"]), ["Amy", "Sue"]);

    // The text listing shows the same, one action a line.
    let out = std::process::Command::new(outreach_tests::harness::bin("outreach-server"))
        .args(["audit", "--data"])
        .arg(&t.server.data)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("erase-case") && text.contains("not confirmed yet"),
        "{text}"
    );
}
