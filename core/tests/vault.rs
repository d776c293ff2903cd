//! Vault lifecycle, encryption at rest, tamper and swap detection, migration.

use std::path::Path;

use outreach_core::case::model::*;
use outreach_core::crypto::KdfParams;
use outreach_core::store::V1_SCHEMA;
use outreach_core::vault::{self, ScaleInput, SoftwareKeyStore, Vault, VaultOptions, VisitInput};
use outreach_core::{Error, PlatformKeyError};
use rusqlite::Connection;

const PASS: &str = "correct horse battery";

fn options() -> VaultOptions {
    VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 4,
        practitioner: "Sam Practitioner".into(),
        team: Some("North".into()),
    }
}

fn new_vault(dir: &Path) -> Vault {
    Vault::create(dir, PASS, options(), None).unwrap()
}

fn edit(name: &str) -> CaseEdit {
    CaseEdit {
        preferred_name: Some(name.into()),
        ..Default::default()
    }
}

fn visit(note: &str) -> VisitInput {
    let mut v = VisitInput::new(
        "2026-11-20T10:00:00Z",
        ContactKind::Home,
        Outcome::Completed,
        note,
    );
    v.her_words = Some("I want my baby to know I tried".into());
    v.wellbeing = Some(6);
    v.next_contact_due = Some("2026-11-27T10:00:00Z".into());
    v
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join(vault::DB_FILE)).unwrap()
}

#[test]
fn create_lock_unlock_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Jasmine")).unwrap();
    let visit_id = v.add_visit(&id, &visit("Talked about housing")).unwrap();
    v.lock();
    assert!(matches!(v.read_case(&id), Err(Error::Locked)));
    drop(v);

    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    let case = v.read_case(&id).unwrap();
    assert_eq!(case.profile.preferred_name, "Jasmine");
    assert_eq!(
        case.programme.practitioners,
        vec!["Sam Practitioner".to_string()]
    );
    assert_eq!(case.programme.team.as_deref(), Some("North"));
    assert_eq!(case.visits[&visit_id].note, "Talked about housing");
    assert_eq!(case.visits[&visit_id].wellbeing, Some(6));
}

#[test]
fn wrong_passphrase_is_its_own_error_and_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Jasmine")).unwrap();
    drop(v);
    let before = std::fs::read(dir.join(vault::DB_FILE)).unwrap().len();

    let mut v = Vault::open(&dir).unwrap();
    match v.unlock("not the passphrase", None) {
        Err(Error::WrongPassphrase { remaining }) => assert_eq!(remaining, 3),
        other => panic!("expected WrongPassphrase, got {other:?}"),
    }
    assert_eq!(v.failed_attempts().unwrap(), 1);
    assert!(!v.is_unlocked());
    assert!(matches!(v.read_case(&id), Err(Error::Locked)));
    // The next failure is counted on top, even across a reopen.
    drop(v);
    let mut v = Vault::open(&dir).unwrap();
    assert!(matches!(
        v.unlock("still wrong", None),
        Err(Error::WrongPassphrase { remaining: 2 })
    ));
    // Success resets the counter and the case is intact.
    v.unlock(PASS, None).unwrap();
    assert_eq!(v.failed_attempts().unwrap(), 0);
    assert_eq!(v.read_case(&id).unwrap().profile.preferred_name, "Jasmine");
    let msg = Error::WrongPassphrase { remaining: 2 }.to_string();
    assert!(msg.contains("wrong passphrase"));
    assert!(before > 0);
}

#[test]
fn failure_is_counted_before_the_attempt_is_judged() {
    // The counter is on disk as soon as the attempt starts: simulate a crash
    // between counting and judging by reading the database mid-way through a
    // second vault handle after a failure.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    drop(new_vault(&dir));
    let mut v = Vault::open(&dir).unwrap();
    let _ = v.unlock("wrong passphrase", None);
    let stored: Vec<u8> = db(&dir)
        .query_row(
            "SELECT value FROM meta WHERE key = 'failed_attempts'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 1u32.to_be_bytes());
}

#[test]
fn limit_of_wrong_passphrases_wipes_the_vault() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    v.create_case(&edit("Jasmine")).unwrap();
    drop(v);
    let mut v = Vault::open(&dir).unwrap();
    for remaining in [3, 2, 1] {
        assert!(
            matches!(v.unlock("nope-nope", None), Err(Error::WrongPassphrase { remaining: r }) if r == remaining)
        );
    }
    assert!(matches!(v.unlock("nope-nope", None), Err(Error::Wiped)));
    assert!(!vault::exists(&dir));
    assert!(!dir.join("outreach.db-wal").exists());
    // Even the right passphrase can do nothing now.
    assert!(matches!(v.unlock(PASS, None), Err(Error::Wiped)));
    assert!(matches!(Vault::open(&dir), Err(Error::NoVault)));
}

#[test]
fn change_passphrase_rewraps_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Jasmine")).unwrap();
    v.add_visit(&id, &visit("first")).unwrap();
    let chunks_before: Vec<Vec<u8>> = {
        let c = db(&dir);
        let mut s = c
            .prepare("SELECT body FROM case_chunk ORDER BY seq")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(matches!(
        v.change_passphrase("short", None),
        Err(Error::Invalid(_))
    ));
    v.change_passphrase("a brand new passphrase", None).unwrap();
    drop(v);
    let chunks_after: Vec<Vec<u8>> = {
        let c = db(&dir);
        let mut s = c
            .prepare("SELECT body FROM case_chunk ORDER BY seq")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        chunks_before, chunks_after,
        "records must not be re-encrypted"
    );
    let mut v = Vault::open(&dir).unwrap();
    assert!(matches!(
        v.unlock(PASS, None),
        Err(Error::WrongPassphrase { .. })
    ));
    v.unlock("a brand new passphrase", None).unwrap();
    assert_eq!(v.read_case(&id).unwrap().visits.len(), 1);
}

#[test]
fn platform_key_is_a_second_factor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let platform = SoftwareKeyStore::new().unwrap();
    let mut v = Vault::create(&dir, PASS, options(), Some(&platform)).unwrap();
    let id = v.create_case(&edit("Jasmine")).unwrap();
    drop(v);
    let mut v = Vault::open(&dir).unwrap();
    assert!(matches!(
        v.unlock(PASS, None),
        Err(Error::PlatformKeyRequired)
    ));
    let other_device = SoftwareKeyStore::new().unwrap();
    assert!(matches!(
        v.unlock(PASS, Some(&other_device)),
        Err(Error::Platform(PlatformKeyError::Invalidated))
    ));
    assert!(matches!(
        v.unlock("wrong-pass", Some(&platform)),
        Err(Error::WrongPassphrase { .. })
    ));
    v.unlock(PASS, Some(&platform)).unwrap();
    assert_eq!(v.read_case(&id).unwrap().profile.preferred_name, "Jasmine");
}

#[test]
fn tampered_kdf_header_is_rejected_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    drop(new_vault(&dir));
    let c = db(&dir);
    let header: Vec<u8> = c
        .query_row("SELECT value FROM meta WHERE key='header'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let text = String::from_utf8(header).unwrap();
    // Ask for 4 GiB of memory.
    let evil = text.replace("\"m_kib\":19456", "\"m_kib\":4194304");
    assert_ne!(evil, text);
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key='header'",
        [evil.as_bytes()],
    )
    .unwrap();
    assert!(matches!(Vault::open(&dir), Err(Error::UnsafeKdfParams)));
    // Weakening within bounds changes the bytes bound into the wrapped key.
    let weaker = text.replace("\"t\":2", "\"t\":3");
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key='header'",
        [weaker.as_bytes()],
    )
    .unwrap();
    let mut v = Vault::open(&dir).unwrap();
    assert!(matches!(
        v.unlock(PASS, None),
        Err(Error::WrongPassphrase { .. })
    ));
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key='header'",
        [b"{not json".as_slice()],
    )
    .unwrap();
    assert!(matches!(Vault::open(&dir), Err(Error::HeaderCorrupt)));
}

/// Flips one byte in the middle of a stored blob.
fn flip(dir: &Path, sql_select: &str, sql_update: &str) {
    let c = db(dir);
    let (rowid, mut body): (i64, Vec<u8>) = c
        .query_row(sql_select, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let i = body.len() / 2;
    body[i] ^= 0x40;
    c.execute(sql_update, rusqlite::params![body, rowid])
        .unwrap();
}

#[test]
fn a_flipped_byte_in_any_kind_of_ciphertext_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    // Chunk.
    let dir = tmp.path().join("chunk");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Jasmine")).unwrap();
    drop(v);
    flip(
        &dir,
        "SELECT rowid, body FROM case_chunk LIMIT 1",
        "UPDATE case_chunk SET body = ?1 WHERE rowid = ?2",
    );
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    let err = v.read_case(&id).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CorruptRecord {
                what: "stored change",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("Jasmine"));

    // Snapshot.
    let dir = tmp.path().join("snapshot");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Jasmine")).unwrap();
    let case = v.resolve_case(&id).unwrap();
    v.compact(case).unwrap();
    drop(v);
    flip(
        &dir,
        "SELECT rowid, body FROM case_snapshot LIMIT 1",
        "UPDATE case_snapshot SET body = ?1 WHERE rowid = ?2",
    );
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    assert!(matches!(
        v.read_case(&id),
        Err(Error::CorruptRecord {
            what: "snapshot",
            ..
        })
    ));

    // Device settings.
    let dir = tmp.path().join("settings");
    drop(new_vault(&dir));
    flip(
        &dir,
        "SELECT rowid, value FROM meta WHERE key = 'settings'",
        "UPDATE meta SET value = ?1 WHERE rowid = ?2",
    );
    let mut v = Vault::open(&dir).unwrap();
    assert!(matches!(
        v.unlock(PASS, None),
        Err(Error::CorruptRecord {
            what: "device settings",
            ..
        })
    ));

    // Wrapped root key: indistinguishable from a wrong passphrase, and counted.
    let dir = tmp.path().join("drk");
    drop(new_vault(&dir));
    flip(
        &dir,
        "SELECT rowid, value FROM meta WHERE key = 'drk'",
        "UPDATE meta SET value = ?1 WHERE rowid = ?2",
    );
    let mut v = Vault::open(&dir).unwrap();
    assert!(matches!(
        v.unlock(PASS, None),
        Err(Error::WrongPassphrase { .. })
    ));
}

#[test]
fn truncated_ciphertext_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Jasmine")).unwrap();
    drop(v);
    db(&dir)
        .execute(
            "UPDATE case_chunk SET body = substr(body, 1, length(body) - 5)",
            [],
        )
        .unwrap();
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    assert!(matches!(v.read_case(&id), Err(Error::CorruptRecord { .. })));
}

#[test]
fn ciphertext_moved_to_another_row_or_case_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let a = v.create_case(&edit("Alice")).unwrap();
    let b = v.create_case(&edit("Beth")).unwrap();
    v.add_visit(&a, &visit("note a")).unwrap();
    drop(v);
    let c = db(&dir);
    let a_bytes = uuid::Uuid::parse_str(&a).unwrap().as_bytes().to_vec();
    let b_bytes = uuid::Uuid::parse_str(&b).unwrap().as_bytes().to_vec();

    // Another case: Alice's first chunk replaces Beth's first chunk.
    let alice_first: Vec<u8> = c
        .query_row(
            "SELECT body FROM case_chunk WHERE case_id=?1 AND seq=1",
            [&a_bytes],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE case_chunk SET body=?1 WHERE case_id=?2 AND seq=1",
        rusqlite::params![alice_first, b_bytes],
    )
    .unwrap();
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    assert!(matches!(v.read_case(&b), Err(Error::CorruptRecord { .. })));
    // Alice is untouched.
    assert_eq!(v.read_case(&a).unwrap().profile.preferred_name, "Alice");
    drop(v);

    // Another row of the same case: swap Alice's chunks 1 and 2.
    let second: Vec<u8> = c
        .query_row(
            "SELECT body FROM case_chunk WHERE case_id=?1 AND seq=2",
            [&a_bytes],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE case_chunk SET body=?1 WHERE case_id=?2 AND seq=1",
        rusqlite::params![second, a_bytes],
    )
    .unwrap();
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    assert!(matches!(v.read_case(&a), Err(Error::CorruptRecord { .. })));
}

#[test]
fn a_missing_chunk_is_reported_not_silently_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Alice")).unwrap();
    v.add_visit(&id, &visit("one")).unwrap();
    v.add_visit(&id, &visit("two")).unwrap();
    drop(v);
    db(&dir)
        .execute("DELETE FROM case_chunk WHERE seq = 2", [])
        .unwrap();
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    assert!(matches!(v.read_case(&id), Err(Error::CorruptRecord { .. })));
}

fn all_files_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_plaintext_in_database_wal_or_shm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let mut e = edit("Zephyrine Quackenbush");
    e.legal_name = Some("Zephyrine Q Legalname".into());
    e.phone = Some("07700900123".into());
    e.code_word = Some("marmalade-sky".into());
    let id = v.create_case(&e).unwrap();
    let mut vi = visit("VISITNOTE-hydrangea-window");
    vi.her_words = Some("HERWORDS-lighthouse".into());
    v.add_visit(&id, &vi).unwrap();
    v.add_concern(
        &id,
        &vault::ConcernInput {
            category: "CATEGORY-xylophone".into(),
            severity: Severity::High,
            description: "CONCERN-periwinkle".into(),
            escalated_to: None,
        },
    )
    .unwrap();
    // While the writer is still open the WAL and shm files exist: check them too.
    let files = all_files_bytes(&dir);
    assert!(
        files.iter().any(|(n, _)| n.ends_with("-wal")),
        "expected a WAL file"
    );
    let secrets = [
        "Zephyrine",
        "Quackenbush",
        "Legalname",
        "07700900123",
        "marmalade-sky",
        "hydrangea",
        "lighthouse",
        "xylophone",
        "periwinkle",
        "Sam Practitioner",
    ];
    for (name, bytes) in &files {
        for s in secrets {
            assert!(!contains(bytes, s.as_bytes()), "{s} readable in {name}");
        }
    }
    // And after compaction and a checkpoint.
    let case = v.resolve_case(&id).unwrap();
    v.compact(case).unwrap();
    v.store_for_diagnostics().unwrap().checkpoint().unwrap();
    for (name, bytes) in all_files_bytes(&dir) {
        for s in secrets {
            assert!(
                !contains(&bytes, s.as_bytes()),
                "{s} readable in {name} after compaction"
            );
        }
    }
}

#[test]
fn compaction_keeps_everything_and_shrinks_the_chunk_list() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Alice")).unwrap();
    let big = "x".repeat(8000);
    for i in 0..30 {
        v.add_visit(&id, &visit(&format!("{i} {big}"))).unwrap();
    }
    drop(v);
    let c = db(&dir);
    let snapshots: i64 = c
        .query_row("SELECT count(*) FROM case_snapshot", [], |r| r.get(0))
        .unwrap();
    let chunks: i64 = c
        .query_row("SELECT count(*) FROM case_chunk", [], |r| r.get(0))
        .unwrap();
    assert_eq!(snapshots, 1, "writes past the threshold compact");
    assert!(
        chunks < 30,
        "compaction removed covered chunks ({chunks} left)"
    );
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    assert_eq!(v.read_case(&id).unwrap().visits.len(), 30);
    assert!(v.integrity_check().unwrap());
}

#[test]
fn upgrade_from_schema_v1() {
    // A vault written by the first schema: build one with the current code,
    // then rewrite its file as a v1 database holding the same rows.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Alice")).unwrap();
    v.add_visit(&id, &visit("kept across the upgrade")).unwrap();
    drop(v);
    let old = db(&dir);
    let v1_dir = tmp.path().join("v1");
    std::fs::create_dir(&v1_dir).unwrap();
    let v1 = Connection::open(v1_dir.join(vault::DB_FILE)).unwrap();
    v1.execute_batch(V1_SCHEMA).unwrap();
    v1.pragma_update(None, "user_version", 1).unwrap();
    v1.execute(
        "ATTACH DATABASE ?1 AS old",
        [dir.join(vault::DB_FILE).to_str().unwrap()],
    )
    .unwrap();
    v1.execute_batch(
        "INSERT INTO meta SELECT key, value FROM old.meta;
         INSERT INTO cases SELECT case_id, created_at FROM old.cases;
         INSERT INTO case_chunk SELECT case_id, seq, body FROM old.case_chunk;
         DETACH DATABASE old;",
    )
    .unwrap();
    drop(v1);
    drop(old);

    let mut v = Vault::open(&v1_dir).unwrap();
    v.unlock(PASS, None).unwrap();
    let version: i64 = v
        .store_for_diagnostics()
        .unwrap()
        .connection()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, outreach_core::store::LATEST_VERSION);
    let chunk_bytes: i64 = v
        .store_for_diagnostics()
        .unwrap()
        .connection()
        .query_row("SELECT chunk_bytes FROM cases", [], |r| r.get(0))
        .unwrap();
    assert!(chunk_bytes > 0, "the migration computed the running total");
    let (last_seq, synced_seq): (i64, i64) = v
        .store_for_diagnostics()
        .unwrap()
        .connection()
        .query_row("SELECT last_seq, synced_seq FROM cases", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(
        (last_seq, synced_seq),
        (2, 0),
        "v3 knows the case's chunks and that none was synced"
    );
    assert_eq!(
        v.store_for_diagnostics()
            .unwrap()
            .dirty_cases()
            .unwrap()
            .len(),
        1,
        "an upgraded vault uploads its existing cases on first sync"
    );
    let case = v.read_case(&id).unwrap();
    assert_eq!(
        case.visits.values().next().unwrap().note,
        "kept across the upgrade"
    );
    v.add_visit(&id, &visit("written after the upgrade"))
        .unwrap();
    assert_eq!(v.read_case(&id).unwrap().visits.len(), 2);
}

#[test]
fn a_newer_schema_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    drop(new_vault(&dir));
    db(&dir).pragma_update(None, "user_version", 99).unwrap();
    assert!(matches!(
        Vault::open(&dir),
        Err(Error::SchemaTooNew { found: 99, .. })
    ));
}

#[test]
fn creating_over_an_existing_vault_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    drop(new_vault(&dir));
    assert!(matches!(
        Vault::create(&dir, PASS, options(), None),
        Err(Error::VaultExists)
    ));
    let mut weak = options();
    weak.kdf = KdfParams {
        m_kib: 1024,
        t: 1,
        p: 1,
    };
    assert!(matches!(
        Vault::create(&tmp.path().join("w"), PASS, weak, None),
        Err(Error::UnsafeKdfParams)
    ));
    assert!(matches!(
        Vault::create(&tmp.path().join("s"), "123", options(), None),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn scale_reading_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = new_vault(&tmp.path().join("v"));
    let id = v.create_case(&edit("Alice")).unwrap();
    let s = v
        .add_scale(
            &id,
            &ScaleInput {
                score: 7,
                date: Some("2026-11-01".into()),
                view: Some(ScaleView::Woman),
                note: None,
                question: None,
            },
        )
        .unwrap();
    let case = v.read_case(&id).unwrap();
    assert_eq!(case.scales[&s].score, 7);
    assert_eq!(case.scales[&s].view, Some(ScaleView::Woman));
}

#[test]
fn compaction_waits_for_an_idle_moment_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let id = v.create_case(&edit("Alice")).unwrap();
    let big = "y".repeat(4000);
    for i in 0..10 {
        v.add_visit(&id, &visit(&format!("{i} {big}"))).unwrap();
    }
    let count = |dir: &Path, table: &str| -> i64 {
        db(dir)
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        count(&dir, "case_snapshot"),
        0,
        "writes never wait for a compaction"
    );
    assert_eq!(count(&dir, "case_chunk"), 11);
    assert_eq!(v.compact_due().unwrap(), 1);
    assert_eq!(count(&dir, "case_snapshot"), 1);
    assert_eq!(count(&dir, "case_chunk"), 0);
    assert_eq!(v.compact_due().unwrap(), 0, "nothing left to do");
    v.add_visit(&id, &visit("after")).unwrap();
    v.lock();
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    assert_eq!(v.read_case(&id).unwrap().visits.len(), 11);
}

#[test]
fn a_file_that_is_not_a_vault_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join(vault::DB_FILE),
        b"this is not a database, just some text that is long enough",
    )
    .unwrap();
    let err = Vault::open(&dir).err().expect("garbage file must not open");
    assert!(matches!(err, Error::Storage(_)), "{err:?}");
    assert!(!err.to_string().contains('\n'));
    // An empty SQLite file (no header row) is not a vault either.
    let dir2 = tmp.path().join("empty");
    std::fs::create_dir(&dir2).unwrap();
    Connection::open(dir2.join(vault::DB_FILE))
        .unwrap()
        .execute_batch("CREATE TABLE x(y)")
        .unwrap();
    assert!(matches!(Vault::open(&dir2), Err(Error::HeaderCorrupt)));
    let tables: i64 = Connection::open(dir2.join(vault::DB_FILE))
        .unwrap()
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1, "a foreign database is left untouched");
}

#[test]
fn one_corrupt_case_does_not_hide_the_caseload() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = new_vault(&dir);
    let good = v.create_case(&edit("Good")).unwrap();
    let bad = v.create_case(&edit("Bad")).unwrap();
    drop(v);
    let bad_bytes = uuid::Uuid::parse_str(&bad).unwrap().as_bytes().to_vec();
    db(&dir)
        .execute(
            "UPDATE case_chunk SET body = zeroblob(length(body)) WHERE case_id = ?1",
            [&bad_bytes],
        )
        .unwrap();
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    let load = v.caseload(true).unwrap();
    assert_eq!(load.len(), 2);
    let g = load.iter().find(|s| s.id == good).unwrap();
    assert!(!g.unreadable && g.preferred_name == "Good");
    let b = load.iter().find(|s| s.id == bad).unwrap();
    assert!(b.unreadable && b.preferred_name.is_empty());
    assert!(v.open_concerns().unwrap().is_empty());
    assert!(matches!(
        v.read_case(&bad),
        Err(Error::CorruptRecord { .. })
    ));
}
