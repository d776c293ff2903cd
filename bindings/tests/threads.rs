//! The exported vault object is `Send + Sync` and usable from several threads.

use std::sync::Arc;

use outreach_core::case::model::{CaseEdit, ContactKind, Outcome};
use outreach_core::vault::VisitInput;
use outreach_ffi::{OutreachError, OutreachVault};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn vault_is_shared_across_threads() {
    assert_send_sync::<OutreachVault>();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v").to_str().unwrap().to_string();
    let vault = OutreachVault::create(
        dir,
        "correct horse battery".into(),
        "Sam".into(),
        None,
        None,
    )
    .unwrap();
    let case = vault
        .create_case(CaseEdit {
            preferred_name: Some("Alice".into()),
            ..Default::default()
        })
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let vault = Arc::clone(&vault);
            let case = case.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    let input = VisitInput::new(
                        "2026-11-20T10:00:00Z",
                        ContactKind::Phone,
                        Outcome::Completed,
                        format!("thread {t} visit {i}"),
                    );
                    vault.add_visit(case.clone(), input).unwrap();
                    vault.caseload(true).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(vault.read_case(case.clone()).unwrap().visits.len(), 20);
    vault.lock();
    assert!(matches!(vault.read_case(case), Err(OutreachError::Locked)));
}
