//! The caseload reads each case's small sealed summary, never its history,
//! unless the case changed since the summary was made.

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

#[test]
fn the_caseload_reads_summaries_and_refreshes_a_case_that_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = vault(&dir);
    let ids: Vec<String> = ["Jess", "Jane", "Jo"]
        .iter()
        .map(|n| {
            v.create_case(&CaseEdit {
                preferred_name: Some(n.to_string()),
                ..Default::default()
            })
            .unwrap()
        })
        .collect();
    let visit = VisitInput::new(
        "2026-11-20T10:00:00Z",
        ContactKind::Home,
        Outcome::Completed,
        "seen",
    );
    v.add_visit(&ids[0], &visit).unwrap();
    assert_eq!(v.caseload(false).unwrap().len(), 3);
    v.evict_cases();

    // Destroy Jane's history (not her summary): the caseload still lists her
    // from the summary — proof it did not read her history — while opening
    // the case itself reports the damage.
    let c = v.store_for_diagnostics().unwrap().connection();
    let jane = *uuid::Uuid::parse_str(&ids[1]).unwrap().as_bytes();
    c.execute(
        "UPDATE case_chunk SET body = zeroblob(length(body)) WHERE case_id = ?1",
        [&jane[..]],
    )
    .unwrap();
    let load = v.caseload(false).unwrap();
    let row = load.iter().find(|s| s.id == ids[1]).unwrap();
    assert!(!row.unreadable && row.preferred_name == "Jane");
    assert!(v.read_case(&ids[1]).is_err());

    // A case written since its summary is read again and shows the change.
    v.add_visit(&ids[0], &visit).unwrap();
    v.edit_case(
        &ids[2],
        &CaseEdit {
            preferred_name: Some("Joanne".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let load = v.caseload(false).unwrap();
    assert_eq!(load.iter().find(|s| s.id == ids[0]).unwrap().visits, 2);
    assert!(load.iter().any(|s| s.preferred_name == "Joanne"));

    // Summaries are sealed: no name in the file.
    drop(v);
    let db = std::fs::read(dir.join("outreach.db")).unwrap();
    assert!(!db.windows(6).any(|w| w == b"Joanne"));
}
