//! On the device, without a server: an erasure notice deletes every trace
//! of a case whatever its state, later items for it are dropped (not
//! quarantined), and closure dates are reported once per change.

mod common;

use std::path::Path;

use outreach_core::case::model::{CaseEdit, ExitReason};
use outreach_core::crypto::{KdfParams, SecretKey};
use outreach_core::vault::{Vault, VaultOptions, VisitDraft};

use common::*;
use outreach_protocol::{EnrollResponse, Item, Role};

/// An enrolled vault and its X25519 public key.
fn enrolled(dir: &Path) -> (Vault, [u8; 32]) {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: "Sam".into(),
        team: None,
    };
    let mut v = Vault::create(dir, PASS, opts, None).unwrap();
    let req = v.enrolment_request("code").unwrap();
    let resp = EnrollResponse {
        org_id: ORG,
        org_name: "Council".into(),
        user_id: [1; 16],
        user_name: "Sam".into(),
        role: Role::Practitioner,
        team: Some("North".into()),
        recovery_pk: [9; 32],
    };
    v.finish_enrolment("http://127.0.0.1:1", true, &resp)
        .unwrap();
    (v, req.kex_pk)
}

fn new_case(v: &mut Vault, name: &str) -> String {
    v.create_case(&CaseEdit {
        preferred_name: Some(name.into()),
        ..Default::default()
    })
    .unwrap()
}

/// A new case, closed, with every change acknowledged by the server (what
/// `forget` asks for).
fn closed_and_uploaded(v: &mut Vault, name: &str) -> String {
    let case = new_case(v, name);
    v.close_case(&case, ExitReason::Completed, None, None)
        .unwrap();
    v.prepare_uploads().unwrap();
    let rows: Vec<i64> = v
        .outbox_batch(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    v.acknowledge(&rows).unwrap();
    case
}

fn id(case: &str) -> [u8; 16] {
    *uuid::Uuid::parse_str(case).unwrap().as_bytes()
}

/// Rows that name `case` in any table of the vault's database, per table
/// (the `case_forgotten` marker apart).
fn rows_of(dir: &Path, case: [u8; 16]) -> Vec<(String, i64)> {
    let db = rusqlite::Connection::open(dir.join(outreach_core::vault::DB_FILE)).unwrap();
    let tables: Vec<String> = db
        .prepare(
            "SELECT m.name FROM sqlite_master m WHERE m.type = 'table'
               AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'case_id')",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for t in tables {
        if t == "case_forgotten" {
            continue;
        }
        let n: i64 = db
            .query_row(
                &format!("SELECT COUNT(*) FROM {t} WHERE case_id = ?1"),
                [&case[..]],
                |r| r.get(0),
            )
            .unwrap();
        if n > 0 {
            out.push((t, n));
        }
    }
    out
}

fn files_contain(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|f| {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[test]
fn an_erasure_deletes_every_trace_of_the_case_whatever_its_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let (mut v, kex) = enrolled(&dir);
    let me = v.device_id_bytes().unwrap();
    let sue = peer(5, Role::Supervisor, "North");

    // Case A, written here: queued uploads never acknowledged, a draft, a
    // quarantined item.
    let a = new_case(&mut v, "Jasmine");
    v.add_visit(
        &a,
        &outreach_core::vault::VisitInput::new(
            "2026-11-20T10:00:00Z",
            outreach_core::case::model::ContactKind::Home,
            outreach_core::case::model::Outcome::Completed,
            "Talked about the tenancy",
        ),
    )
    .unwrap();
    v.prepare_uploads().unwrap();
    assert!(v.outbox_len().unwrap() > 0);
    v.save_draft(None, &a, &VisitDraft::default()).unwrap();
    let key_a = SecretKey::generate().unwrap();
    let mut bad = change(&sue, id(&a), &key_a, b"x");
    if let Item::Change(c) = &mut bad {
        c.signature = vec![0; 64];
    }
    let got = v.apply_page(&page(&[&sue.signer], vec![bad], 10)).unwrap();
    assert_eq!(got.rejected.len(), 1);

    // Case B, from a colleague: a key offered (a candidate), and a change
    // whose key has not arrived (held back in the inbox).
    let b = uuid::Uuid::new_v4().to_string();
    let (key_b, other_key) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let items = vec![
        envelope(&sue, id(&b), me, &kex, &other_key),
        change(&sue, id(&b), &key_b, b"not yet readable"),
    ];
    v.apply_page(&page(&[&sue.signer], items, 20)).unwrap();
    assert!(!rows_of(&dir, id(&b)).is_empty());

    // Case C: transferred away, kept for its draft (a pending removal).
    let c = new_case(&mut v, "Mo");
    v.prepare_uploads().unwrap();
    let all: Vec<i64> = v
        .outbox_batch(usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, item)| {
            matches!(item, Item::Change(ch) if ch.case_id == id(&c))
                || matches!(item, Item::Envelope(e) if e.case_id == id(&c))
        })
        .map(|(row, _)| row)
        .collect();
    v.acknowledge(&all).unwrap();
    v.save_draft(None, &c, &VisitDraft::default()).unwrap();
    let got = v
        .apply_page(&page(&[], vec![Item::Removed { case_id: id(&c) }], 30))
        .unwrap();
    assert!(got.pending_removal.contains(&id(&c)));

    let sealed_chunk: Vec<u8> = {
        let db = rusqlite::Connection::open(dir.join(outreach_core::vault::DB_FILE)).unwrap();
        db.query_row(
            "SELECT body FROM case_chunk WHERE case_id = ?1 ORDER BY seq DESC LIMIT 1",
            [&id(&a)[..]],
            |r| r.get(0),
        )
        .unwrap()
    };
    let needle = &sealed_chunk[sealed_chunk.len() / 2..sealed_chunk.len() / 2 + 32];

    let erased = v
        .apply_page(&page(
            &[],
            [&a, &b, &c]
                .iter()
                .map(|x| Item::Erased { case_id: id(x) })
                .collect(),
            40,
        ))
        .unwrap();
    assert_eq!(erased.erased.len(), 3);
    assert!(erased.rejected.is_empty());
    assert!(erased.pending_removal.is_empty());
    for x in [&a, &b, &c] {
        assert_eq!(rows_of(&dir, id(x)), Vec::<(String, i64)>::new(), "{x}");
    }
    // The device's own access log says what left it (cases it held: A and
    // C; B was never readable here).
    let log = v.access_log().unwrap();
    let erased_here: Vec<&str> = log
        .iter()
        .filter(|e| e.action == "erased")
        .map(|e| e.case_id.as_str())
        .collect();
    assert_eq!(erased_here, [a.as_str(), c.as_str()]);
    assert_eq!(v.outbox_len().unwrap(), 0);
    assert!(v.drafts().unwrap().is_empty());
    assert!(v.case_ids().unwrap().is_empty());
    assert!(!v.has_pending_removals().unwrap());
    assert!(v.unreported_rejections().unwrap().is_empty());
    assert!(
        !files_contain(&dir, needle),
        "the sealed chunk is gone from the files"
    );

    // Later items for them are dropped silently, never quarantined.
    let later = v
        .apply_page(&page(
            &[&sue.signer],
            vec![
                change(&sue, id(&a), &key_a, b"late"),
                envelope(&sue, id(&b), me, &kex, &key_b),
                Item::Removed { case_id: id(&c) },
            ],
            50,
        ))
        .unwrap();
    assert!(later.rejected.is_empty() && later.changes == 0 && later.envelopes == 0);
    for x in [&a, &b, &c] {
        assert!(rows_of(&dir, id(x)).is_empty());
    }

    // Confirmed once.
    let mut told = v.unreported_erasures().unwrap();
    told.sort();
    let mut want = vec![id(&a), id(&b), id(&c)];
    want.sort();
    assert_eq!(told, want);
    v.mark_erasures_reported(&told).unwrap();
    assert!(v.unreported_erasures().unwrap().is_empty());
}

#[test]
fn closure_dates_are_reported_once_per_change() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut v, _) = enrolled(&tmp.path().join("v"));
    let case = new_case(&mut v, "Jasmine");
    let synced = |v: &mut Vault| {
        v.prepare_uploads().unwrap();
        let rows: Vec<i64> = v
            .outbox_batch(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        v.acknowledge(&rows).unwrap();
    };
    // Not on the server yet: nothing to say about it.
    assert!(v.pending_closures().unwrap().is_empty());
    synced(&mut v);
    assert!(
        v.pending_closures().unwrap().is_empty(),
        "open, as the server assumes"
    );
    assert!(v.pending_closures().unwrap().is_empty());

    v.close_case(&case, ExitReason::Completed, None, Some("2019-03-01"))
        .unwrap();
    synced(&mut v);
    let p = v.pending_closures().unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].closure.closed_on.as_deref(), Some("2019-03-01"));
    // Not confirmed by the server: asked again.
    assert_eq!(v.pending_closures().unwrap().len(), 1);
    v.closures_reported(&p).unwrap();
    assert!(v.pending_closures().unwrap().is_empty());

    v.reopen_case(&case, None).unwrap();
    synced(&mut v);
    let p = v.pending_closures().unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].closure.closed_on, None);
    v.closures_reported(&p).unwrap();
    assert!(v.pending_closures().unwrap().is_empty());
}

#[test]
fn an_erased_case_is_not_imported_again_and_a_forgotten_one_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut v, _) = enrolled(&tmp.path().join("v"));
    let case = new_case(&mut v, "Jasmine");
    let copy = v.export_automerge(&case).unwrap();
    v.apply_page(&page(&[], vec![Item::Erased { case_id: id(&case) }], 5))
        .unwrap();
    assert!(matches!(
        v.import_case(&copy),
        Err(outreach_core::Error::CaseErased)
    ));

    let other = closed_and_uploaded(&mut v, "Mo");
    let copy = v.export_automerge(&other).unwrap();
    v.forget_case(&other).unwrap();
    assert!(
        v.access_log()
            .unwrap()
            .iter()
            .any(|e| e.action == "forgotten" && e.case_id == other)
    );
    assert_eq!(v.import_case(&copy).unwrap(), other);
    assert_eq!(v.read_case(&other).unwrap().profile.preferred_name, "Mo");
}

#[test]
fn erasing_or_forgetting_a_case_never_deletes_the_draft_of_a_case_being_opened() {
    use outreach_core::vault::{FormDraft, FormField, FormKind};
    let tmp = tempfile::tempdir().unwrap();
    let (mut v, _) = enrolled(&tmp.path().join("v"));
    let opening = v
        .save_form_draft(
            None,
            "",
            &FormDraft {
                form: FormKind::OpenCase,
                fields: vec![FormField {
                    name: "preferred_name".into(),
                    value: "Leah".into(),
                }],
            },
        )
        .unwrap();
    // Erased: a case with a draft of its own, and (a server's mistake) the
    // all-zero id the draft is kept under.
    let erased = new_case(&mut v, "Jasmine");
    v.save_draft(None, &erased, &VisitDraft::default()).unwrap();
    v.apply_page(&page(
        &[],
        vec![
            Item::Erased {
                case_id: id(&erased),
            },
            Item::Erased { case_id: [0; 16] },
        ],
        5,
    ))
    .unwrap();
    // Forgotten: a closed case, everything on the server.
    let other = closed_and_uploaded(&mut v, "Mo");
    v.forget_case(&other).unwrap();
    let left = v.drafts().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        (left[0].draft_id.as_str(), left[0].case_id.as_str()),
        (opening.as_str(), "")
    );
    assert_eq!(
        v.form_draft(&opening).unwrap().1.fields[0].value,
        "Leah",
        "still opens"
    );
}
