//! Refused input and injected faults: every bad request gets a clear error
//! and stores nothing; dropped connections and a server killed mid-sync lose
//! nothing and duplicate nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use outreach_core::Error;
use outreach_core::sync::{HttpTransport, Transport};
use outreach_core::vault::Vault;
use outreach_protocol::{self as proto, Item};
use outreach_server::storage::{SqliteStorage, Storage};
use outreach_tests::harness::{Device, Fault, Proxy, Server, new_case, visit};
use outreach_tests::http::now;

fn signed(v: &Vault, path: &str, body: &[u8], ts: i64) -> String {
    v.sign_request("POST", path, ts, body).unwrap()
}

/// Rows in the server's log (every change, envelope and grant ever stored).
fn log_rows(server: &Server) -> i64 {
    let c = rusqlite::Connection::open(outreach_server::database_path(&server.data)).unwrap();
    c.query_row("SELECT COUNT(*) FROM log", [], |r| r.get(0))
        .unwrap()
}

/// One queued change of `case`, as the device would push it.
fn queued_change(v: &mut Vault) -> proto::Change {
    v.prepare_uploads().unwrap();
    v.outbox_batch(usize::MAX)
        .unwrap()
        .into_iter()
        .find_map(|(_, item)| match item {
            Item::Change(c) => Some(c),
            _ => None,
        })
        .expect("a queued change")
}

fn refused(r: outreach_core::Result<Vec<u8>>, needle: &str) {
    match r {
        Err(Error::ServerRefused(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected a refusal containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn refused_requests_store_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let code = server.invite("Amy", "practitioner", Some("north"));
    let mut amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &code);
    let code = server.invite("Bob", "practitioner", Some("north"));
    let mut bob = Device::enrol(&tmp.path().join("bob"), "Bob", &server.url(), &code);
    let case = new_case(&mut amy.vault, "Jess");
    visit(&mut amy.vault, &case, "first visit");
    amy.sync().unwrap();
    visit(&mut amy.vault, &case, "second visit");
    let change = queued_change(&mut amy.vault);
    let http = HttpTransport::new(&server.url(), false).unwrap();
    let before = log_rows(&server);
    let push = |changes: Vec<proto::Change>| {
        proto::encode(&proto::PushRequest {
            changes,
            envelopes: vec![],
        })
    };

    // Not signed at all.
    refused(
        http.post(proto::PATH_PUSH, &push(vec![change.clone()]), None),
        "not signed",
    );
    // A signature header that is not ours.
    let body = push(vec![change.clone()]);
    let forged = proto::RequestAuth {
        device: amy.vault.device_id_bytes().unwrap(),
        ts: now(),
        nonce: [1; 16],
        body_hash: proto::body_hash(&body),
        sig: vec![7u8; 64],
    }
    .header();
    refused(
        http.post(proto::PATH_PUSH, &body, Some(&forged)),
        "signature",
    );
    // A signed request whose body was changed afterwards.
    let auth = signed(&amy.vault, proto::PATH_PUSH, &body, now());
    let mut tampered_body = body.clone();
    let last = tampered_body.len() - 1;
    tampered_body[last] ^= 1;
    refused(
        http.post(proto::PATH_PUSH, &tampered_body, Some(&auth)),
        "signature",
    );
    // A stale signature (a captured request replayed much later).
    let old = signed(&amy.vault, proto::PATH_PUSH, &body, now() - 3600);
    refused(http.post(proto::PATH_PUSH, &body, Some(&old)), "clock");
    // A correctly signed request carrying a blob whose own signature fails.
    let mut bad_blob = change.clone();
    bad_blob.ciphertext[10] ^= 1;
    let body = push(vec![bad_blob]);
    refused(
        http.post(
            proto::PATH_PUSH,
            &body,
            Some(&signed(&amy.vault, proto::PATH_PUSH, &body, now())),
        ),
        "signature",
    );
    // An unsigned blob.
    let mut unsigned = change.clone();
    unsigned.signature.clear();
    let body = push(vec![unsigned]);
    refused(
        http.post(
            proto::PATH_PUSH,
            &body,
            Some(&signed(&amy.vault, proto::PATH_PUSH, &body, now())),
        ),
        "signature",
    );
    // Bob relaying Amy's (validly signed) change as his own request.
    let body = push(vec![change.clone()]);
    refused(
        http.post(
            proto::PATH_PUSH,
            &body,
            Some(&signed(&bob.vault, proto::PATH_PUSH, &body, now())),
        ),
        "another device",
    );
    // Malformed and oversized bodies.
    let garbage = b"\xff\xff\xff\xff not postcard".to_vec();
    refused(
        http.post(
            proto::PATH_PUSH,
            &garbage,
            Some(&signed(&amy.vault, proto::PATH_PUSH, &garbage, now())),
        ),
        "malformed",
    );
    let huge = vec![0u8; proto::MAX_BODY_BYTES + 1];
    refused(
        http.post(
            proto::PATH_PUSH,
            &huge,
            Some(&signed(&amy.vault, proto::PATH_PUSH, &huge, now())),
        ),
        "larger",
    );
    // Bob writing a case he is not assigned: he holds a copy (an exported
    // file) and signs a change for it properly.
    let copy = amy.vault.export_automerge(&case).unwrap();
    bob.vault.import_case(&copy).unwrap();
    visit(&mut bob.vault, &case, "Bob's note");
    let bobs = queued_change(&mut bob.vault);
    assert_eq!(
        bobs.case_id,
        *uuid::Uuid::parse_str(&case).unwrap().as_bytes()
    );
    let body = push(vec![bobs]);
    refused(
        http.post(
            proto::PATH_PUSH,
            &body,
            Some(&signed(&bob.vault, proto::PATH_PUSH, &body, now())),
        ),
        "may not write",
    );
    assert!(
        matches!(bob.sync(), Err(Error::ServerRefused(_))),
        "Bob's own sync is refused too"
    );

    assert_eq!(log_rows(&server), before, "nothing refused was stored");

    // Replay: the same signed request twice is refused; the same upload
    // signed again (a retry) gets the same sequence number.
    let body = push(vec![change.clone()]);
    let auth = signed(&amy.vault, proto::PATH_PUSH, &body, now());
    let first: proto::PushResponse =
        proto::decode(&http.post(proto::PATH_PUSH, &body, Some(&auth)).unwrap()).unwrap();
    refused(
        http.post(proto::PATH_PUSH, &body, Some(&auth)),
        "already used",
    );
    let retry = signed(&amy.vault, proto::PATH_PUSH, &body, now());
    let again: proto::PushResponse =
        proto::decode(&http.post(proto::PATH_PUSH, &body, Some(&retry)).unwrap()).unwrap();
    assert_eq!(first.acks, again.acks, "same sequence number on retry");
    assert_eq!(log_rows(&server), before + 1, "stored once");
    let r = amy.sync().unwrap();
    assert_eq!(r.pushed, 1, "the queued upload is re-sent and acknowledged");
    assert_eq!(log_rows(&server), before + 1, "still once");
    // Reusing a client id for a different case is refused.
    let mut reused = change.clone();
    let other = new_case(&mut amy.vault, "Other");
    reused.case_id = *uuid::Uuid::parse_str(&other).unwrap().as_bytes();
    let body = push(vec![reused]);
    assert!(
        http.post(
            proto::PATH_PUSH,
            &body,
            Some(&signed(&amy.vault, proto::PATH_PUSH, &body, now()))
        )
        .is_err()
    );
}

#[test]
fn enrolment_codes_are_single_use_and_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let url = server.url();
    let mk = |name: &str| {
        let mut o = outreach_tests::test_options(name);
        o.team = Some("north".into());
        Vault::create(&tmp.path().join(name), outreach_tests::PASSPHRASE, o, None).unwrap()
    };
    let http = HttpTransport::new(&url, false).unwrap();
    let enroll =
        |v: &mut Vault, code: &str| outreach_core::sync::enroll(v, &http, &url, false, code);

    let mut a = mk("a");
    match enroll(&mut a, "0000-0000-0000-0000-0000") {
        Err(Error::EnrolmentRefused(m)) => assert!(m.contains("unknown"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(
        a.sync_config().unwrap().is_none(),
        "a refused enrolment leaves nothing behind"
    );

    let code = server.invite("Amy", "practitioner", Some("north"));
    enroll(&mut a, &code).unwrap();
    let mut b = mk("b");
    match enroll(&mut b, &code) {
        Err(Error::EnrolmentRefused(m)) => assert!(m.contains("already been used"), "{m}"),
        other => panic!("{other:?}"),
    }
    // An expired code (written straight into the store, an hour old).
    let storage = SqliteStorage::open(&server.data).unwrap();
    let expired = "abcd-ef01-2345-6789-abcd";
    storage
        .create_invite(
            "Amy",
            proto::Role::Practitioner,
            Some("north"),
            outreach_server::keys::code_hash(expired),
            now() - 3600,
            now() - 7200,
        )
        .unwrap();
    match enroll(&mut b, expired) {
        Err(Error::EnrolmentRefused(m)) => assert!(m.contains("expired"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Codes are compared as typed by people: case, spaces and dashes aside.
    let code = server.invite("Amy", "practitioner", Some("north"));
    enroll(&mut b, &code.to_uppercase().replace('-', " ")).unwrap();
    assert_eq!(b.sync_config().unwrap().unwrap().user_name, "Amy");
    assert!(matches!(enroll(&mut b, &code), Err(Error::AlreadyEnrolled)));
    // A user name clash with another role is refused by the admin command.
    assert!(
        server
            .admin(&[
                "invite",
                "--name",
                "Amy",
                "--role",
                "supervisor",
                "--team",
                "north"
            ])
            .is_err()
    );
    // Plain http to another machine is refused before anything is sent.
    let mut c = mk("c");
    assert!(matches!(
        outreach_core::sync::enroll(&mut c, &http, "http://10.1.2.3:8787", false, &code),
        Err(Error::InsecureServer)
    ));
}

#[test]
fn dropped_connections_and_a_killed_server_lose_and_duplicate_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("server"));
    let code = server.invite("Amy", "practitioner", Some("north"));
    let mut amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &code);
    let code = server.invite("Sue", "supervisor", Some("north"));
    let mut sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &code);
    let proxy = Proxy::start(server.addr);
    let case = new_case(&mut amy.vault, "Jess");
    amy.sync().unwrap();
    sue.sync().unwrap();

    let mut written = Vec::new();
    let faults = [
        (Fault::None, 0),
        (Fault::DropRequest, 0),
        (Fault::DropReply, 0),
        (Fault::CutReply, 20),
        (Fault::CutReply, 150),
        (Fault::CutReply, 400),
    ];
    let mut failures = 0;
    for round in 0..18 {
        written.push(visit(&mut amy.vault, &case, &format!("amy {round}")));
        written.push(visit(&mut sue.vault, &case, &format!("sue {round}")));
        let (fault, cut) = faults[round % faults.len()];
        proxy.set(fault, cut);
        for d in [&mut amy, &mut sue] {
            match d.sync_via(&proxy.url()) {
                Ok(_) => {}
                Err(Error::ServerUnreachable(_)) | Err(Error::SyncProtocol(_)) => failures += 1,
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
    }
    assert!(failures >= 10, "faults were injected ({failures})");

    // The server killed (SIGKILL) at random moments while both devices sync.
    proxy.set(Fault::None, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut kills = 0;
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(35 + (kills * 17) % 60));
                server.kill();
                thread::sleep(Duration::from_millis(20));
                server.restart();
                kills += 1;
            }
            (server, kills)
        })
    };
    for round in 0..25 {
        written.push(visit(&mut amy.vault, &case, &format!("amy k{round}")));
        written.push(visit(&mut sue.vault, &case, &format!("sue k{round}")));
        for d in [&mut amy, &mut sue] {
            match d.sync_via(&proxy.url()) {
                Ok(_) | Err(Error::ServerUnreachable(_)) | Err(Error::SyncProtocol(_)) => {}
                Err(e) => panic!("kill round {round}: unexpected {e}"),
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (server, kills) = killer.join().unwrap();
    assert!(kills >= 3, "the server was killed {kills} times");

    // Calm again: a few plain syncs settle everything.
    for _ in 0..3 {
        amy.sync().unwrap();
        sue.sync().unwrap();
    }
    for d in [&mut amy, &mut sue] {
        assert_eq!(
            d.vault.outbox_len().unwrap(),
            0,
            "every upload acknowledged"
        );
        let c = d.vault.read_case(&case).unwrap();
        assert_eq!(c.visits.len(), written.len(), "every visit, once");
        for id in &written {
            assert!(c.visits.contains_key(id), "visit {id} present");
        }
        let recorded = d
            .vault
            .history(&case)
            .unwrap()
            .iter()
            .filter(|h| h.what == "visit recorded")
            .count();
        assert_eq!(recorded, written.len(), "no change applied twice");
    }
    let a = amy.vault.export_json(&case).unwrap();
    let s = sue.vault.export_json(&case).unwrap();
    assert_eq!(
        serde_json::to_value(&a.case).unwrap(),
        serde_json::to_value(&s.case).unwrap()
    );
    let c = rusqlite::Connection::open(outreach_server::database_path(&server.data)).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let dupes: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM (SELECT 1 FROM log WHERE kind = 0 GROUP BY device_id, client_id HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dupes, 0);
    drop(server);
    assert!(
        matches!(amy.sync(), Err(Error::ServerUnreachable(_))),
        "a dead server is 'unreachable', nothing else"
    );
}

#[test]
fn a_gap_in_received_history_is_held_back_and_filled_later() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let code = server.invite("Amy", "practitioner", Some("north"));
    let mut amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &code);
    let case = new_case(&mut amy.vault, "Jess");
    amy.sync().unwrap();
    let first = visit(&mut amy.vault, &case, "first");
    amy.sync().unwrap();
    let second = visit(&mut amy.vault, &case, "second");
    amy.sync().unwrap();

    // The server loses the change carrying the first visit (say, a bad
    // restore). A supervisor's new device then receives a history with a gap.
    let db = outreach_server::database_path(&server.data);
    let c = rusqlite::Connection::open(&db).unwrap();
    let (seq, row): (i64, Vec<u8>) = c
        .query_row(
            "SELECT seq, body FROM log WHERE kind = 0 ORDER BY seq LIMIT 1 OFFSET 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    c.execute("DELETE FROM log WHERE seq = ?1", [seq]).unwrap();
    let code = server.invite("Sue", "supervisor", Some("north"));
    let mut sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &code);
    amy.sync().unwrap(); // seals the case key for Sue's new device
    let r = sue.sync().unwrap();
    assert_eq!(r.cases_changed, vec![case.clone()]);
    let seen = sue.vault.read_case(&case).unwrap();
    assert!(
        seen.visits.is_empty(),
        "the change after the gap is held back, not applied out of order"
    );

    // The missing change comes back (new sequence number): both apply.
    c.execute(
        "INSERT INTO log (kind, case_id, epoch, device_id, client_id, body, created_at)
         SELECT 0, case_id, epoch, device_id, x'00', ?1, 0 FROM log WHERE kind = 0 LIMIT 1",
        [row],
    )
    .unwrap();
    sue.sync().unwrap();
    let seen = sue.vault.read_case(&case).unwrap();
    assert!(seen.visits.contains_key(&first) && seen.visits.contains_key(&second));
    assert_eq!(
        sue.vault.cases_waiting_for_key().unwrap(),
        0,
        "the inbox is empty again"
    );
}

#[test]
fn admin_commands_refuse_bad_input_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let before = server.admin(&["devices"]).unwrap();
    let refused = |args: &[&str], needle: &str| match server.admin(args) {
        Err(m) => assert!(m.contains(needle), "{args:?}: {m}"),
        Ok(v) => panic!("{args:?} accepted: {v}"),
    };
    refused(&["revoke-device", "zz"], "32 hex digits");
    refused(
        &["revoke-device", &"ab".repeat(16)],
        "no device with that id",
    );
    refused(
        &["invite", "--name", "Amy", "--role", "practitioner"],
        "--team",
    );
    refused(&["invite", "--name", "", "--role", "admin"], "--name");
    refused(
        &[
            "invite",
            "--name",
            "Amy",
            "--role",
            "admin",
            "--expires-hours",
            "0",
        ],
        "--expires-hours",
    );
    let key = tmp.path().join("recovery.json");
    refused(
        &[
            "init",
            "--org",
            "Again",
            "--recovery-key-out",
            key.to_str().unwrap(),
        ],
        "already initialised",
    );
    assert!(!key.exists(), "no second recovery key written");
    assert_eq!(
        server.admin(&["devices"]).unwrap(),
        before,
        "nothing changed"
    );
    let log = log_rows(&server);
    assert_eq!(log, 0);
}
