//! Server-side compaction end to end (issue 12): a practitioner's device,
//! past its threshold, uploads the case's whole document; the server puts it
//! in the place of the history it covers. A new device then downloads the
//! snapshot instead of every change; a supervisor who had synced halfway
//! receives the snapshot and ends with the same case; the one who had
//! everything receives nothing again. Nothing written is lost.

use outreach_tests::harness::{Device, Server, new_case, visit};

fn changes_in_log(server: &Server, case: &str) -> (i64, i64) {
    let db = rusqlite::Connection::open(outreach_server::database_path(&server.data)).unwrap();
    let id = uuid::Uuid::parse_str(case).unwrap();
    let log: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM log WHERE kind = 0 AND case_id = ?1",
            [&id.as_bytes()[..]],
            |r| r.get(0),
        )
        .unwrap();
    let superseded: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM superseded WHERE case_id = ?1",
            [&id.as_bytes()[..]],
            |r| r.get(0),
        )
        .unwrap();
    (log, superseded)
}

#[test]
fn a_snapshot_replaces_the_history_and_every_device_ends_with_the_same_case() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let mut amy = Device::enrol(
        &tmp.path().join("amy"),
        "Amy",
        &server.url(),
        &server.invite("Amy", "practitioner", Some("north")),
    );
    let mut sue = Device::enrol(
        &tmp.path().join("sue"),
        "Sue",
        &server.url(),
        &server.invite("Sue", "supervisor", Some("north")),
    );
    amy.vault.set_compaction_threshold(6).unwrap();
    sue.vault.set_compaction_threshold(1_000_000).unwrap();

    let case = new_case(&mut amy.vault, "Jess");
    let mut notes = Vec::new();
    for i in 0..5 {
        notes.push(format!("visit {i}"));
        visit(&mut amy.vault, &case, &notes[i]);
        amy.sync().unwrap();
        if i == 2 {
            // Sue reads the case halfway.
            sue.sync().unwrap();
            assert_eq!(sue.vault.read_case(&case).unwrap().visits.len(), 3);
        }
    }
    let (before, none) = changes_in_log(&server, &case);
    assert_eq!(
        (before, none),
        (5, 0),
        "one change per sync, nothing superseded yet"
    );
    // The sixth change crosses the threshold: the same sync uploads the
    // snapshot.
    notes.push("visit 5".into());
    visit(&mut amy.vault, &case, &notes[5]);
    amy.sync().unwrap();
    let (after, superseded) = changes_in_log(&server, &case);
    assert_eq!(after, 1, "the snapshot alone stands for the history");
    assert_eq!(superseded, 6, "the replaced changes are kept aside");
    // Writing goes on after it.
    notes.push("visit 6".into());
    visit(&mut amy.vault, &case, &notes[6]);
    amy.sync().unwrap();
    assert_eq!(changes_in_log(&server, &case).0, 2);

    // A new device of Amy's: the snapshot and the one change after it.
    let mut amy2 = Device::enrol(
        &tmp.path().join("amy2"),
        "Amy",
        &server.url(),
        &server.invite("Amy", "practitioner", Some("north")),
    );
    let first = amy2.sync().unwrap();
    // Its key arrives once Amy's first device has sealed it for it.
    if amy2.vault.read_case(&case).is_err() {
        amy.sync().unwrap();
        amy2.sync().unwrap();
    }
    assert!(first.pulled <= 2, "pulled {} changes", first.pulled);
    // Sue, halfway: the snapshot, then what came after.
    sue.sync().unwrap();
    let mut seen = Vec::new();
    for dev in [&mut amy, &mut amy2, &mut sue] {
        let record = dev.vault.read_case(&case).unwrap();
        let mut got: Vec<String> = record.visits.values().map(|v| v.note.clone()).collect();
        got.sort();
        seen.push(got);
    }
    let mut want = notes.clone();
    want.sort();
    for got in &seen {
        assert_eq!(got, &want, "every visit on every device");
    }
}
