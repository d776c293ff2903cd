//! Opening a long case reads its sealed read cache — the typed records as of
//! its last chunk, written at an idle moment — instead of replaying its whole
//! Automerge history; the cache is never trusted when it is behind the case
//! or damaged.

use outreach_core::case::model::{CaseEdit, ContactKind, Outcome};
use outreach_core::crypto::KdfParams;
use outreach_core::vault::{Vault, VaultOptions, VisitInput};

fn vault(dir: &std::path::Path) -> Vault {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: "Sam".into(),
        team: None,
    };
    Vault::create(dir, "correct horse battery", opts, None).unwrap()
}

/// A case past the number of contacts at which a read cache is kept.
fn long_case(v: &mut Vault, visits: usize) -> String {
    let case = v
        .create_case(&CaseEdit {
            preferred_name: Some("Jess".into()),
            ..Default::default()
        })
        .unwrap();
    for i in 0..visits {
        let note: String = (0..12)
            .map(|k| blake3::hash(format!("{i}-{k}").as_bytes()).to_hex()[..24].to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let mut input = VisitInput::new(
            format!("2026-{:02}-{:02}T10:00:00Z", 1 + (i / 28) % 12, 1 + i % 28),
            ContactKind::Home,
            Outcome::Completed,
            note,
        );
        input.wellbeing = Some((i % 10) as i64);
        v.add_visit(&case, &input).unwrap();
    }
    case
}

fn cache_rows(v: &Vault) -> i64 {
    v.store_for_diagnostics()
        .unwrap()
        .connection()
        .query_row("SELECT count(*) FROM case_read_cache", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_long_case_opens_from_its_read_cache_with_exactly_what_the_document_says() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"));
    let case = long_case(&mut v, 400);
    let from_document = v.read_case(&case).unwrap();
    assert_eq!(cache_rows(&v), 0, "nothing cached on the write path");

    // An idle moment (the app in the background, the end of a command).
    v.compact_due().unwrap();
    assert_eq!(cache_rows(&v), 1);
    v.evict_cases();
    assert_eq!(v.read_case(&case).unwrap(), from_document);

    // Proof the cache is what was read: with the history destroyed, the
    // case still opens (the cache is authenticated; it is its own record).
    let raw = *uuid::Uuid::parse_str(&case).unwrap().as_bytes();
    let c = v.store_for_diagnostics().unwrap().connection();
    c.execute(
        "UPDATE case_snapshot SET body = zeroblob(length(body)) WHERE case_id = ?1",
        [&raw[..]],
    )
    .unwrap();
    c.execute(
        "UPDATE case_chunk SET body = zeroblob(length(body)) WHERE case_id = ?1",
        [&raw[..]],
    )
    .unwrap();
    v.evict_cases();
    assert_eq!(v.read_case(&case).unwrap().visits.len(), 400);
}

#[test]
fn a_cache_behind_the_case_or_damaged_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"));
    let case = long_case(&mut v, 400);
    v.compact_due().unwrap();
    assert_eq!(cache_rows(&v), 1);

    // A write moves the case past its cache: the next open shows the write.
    v.edit_case(
        &case,
        &CaseEdit {
            preferred_name: Some("Jessie".into()),
            ..Default::default()
        },
    )
    .unwrap();
    v.evict_cases();
    assert_eq!(v.read_case(&case).unwrap().profile.preferred_name, "Jessie");

    // Refreshed at the next idle moment, then damaged on disk: ignored, and
    // the case is read from its document.
    v.compact_due().unwrap();
    let c = v.store_for_diagnostics().unwrap().connection();
    c.execute(
        "UPDATE case_read_cache SET body = zeroblob(length(body))",
        [],
    )
    .unwrap();
    v.evict_cases();
    let read = v.read_case(&case).unwrap();
    assert_eq!(read.profile.preferred_name, "Jessie");
    assert_eq!(read.visits.len(), 400);
}

#[test]
fn a_short_case_keeps_no_read_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"));
    long_case(&mut v, 20);
    v.compact_due().unwrap();
    assert_eq!(cache_rows(&v), 0);
}
