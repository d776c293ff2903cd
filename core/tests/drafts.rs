//! Drafts: saved on every edit, encrypted, restored after a kill, and a visit
//! only once submitted.

use outreach_core::Error;
use outreach_core::case::model::{CaseEdit, ContactKind, Domain, Outcome};
use outreach_core::crypto::KdfParams;
use outreach_core::vault::{self, Vault, VaultOptions, VisitDraft};

const PASS: &str = "correct horse battery";

fn vault_in(dir: &std::path::Path) -> Vault {
    Vault::create(
        dir,
        PASS,
        VaultOptions {
            kdf: KdfParams::FLOOR,
            wipe_after: 5,
            practitioner: "Sam".into(),
            team: None,
        },
        None,
    )
    .unwrap()
}

/// A vault in `dir` with one case ("Jess").
fn vault_with_case(dir: &std::path::Path) -> (Vault, String) {
    let mut v = vault_in(dir);
    let case = v
        .create_case(&CaseEdit {
            preferred_name: Some("Jess".into()),
            ..Default::default()
        })
        .unwrap();
    (v, case)
}

#[test]
fn a_draft_survives_a_killed_app_and_becomes_one_visit_on_submit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let (mut v, case) = vault_with_case(&dir);
    let mut d = VisitDraft {
        kind: Some(ContactKind::Home),
        note: Some("Started typing: she mentioned the DRAFTSECRET letter".into()),
        ..Default::default()
    };
    let id = v.save_draft(None, &case, &d).unwrap();
    d.domains.push(Domain::Housing);
    assert_eq!(
        v.save_draft(Some(&id), &case, &d).unwrap(),
        id,
        "saving again overwrites"
    );
    // The app is killed: nothing but the files remain.
    drop(v);
    let raw = std::fs::read(dir.join(vault::DB_FILE)).unwrap();
    assert!(
        !raw.windows(11).any(|w| w == b"DRAFTSECRET"),
        "drafts are sealed"
    );
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    let list = v.drafts().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].draft_id.as_str(), list[0].case_id.as_str()),
        (id.as_str(), case.as_str())
    );
    let (for_case, restored) = v.draft(&id).unwrap();
    assert_eq!((for_case, &restored), (case.clone(), &d));
    assert!(
        v.read_case(&case).unwrap().visits.is_empty(),
        "a draft is not a visit"
    );

    // Incomplete: refused, draft kept, nothing written.
    match v.submit_draft(&id) {
        Err(Error::Invalid(e)) => assert_eq!(e.field, "at"),
        other => panic!("{other:?}"),
    }
    assert_eq!(v.drafts().unwrap().len(), 1);
    let mut done = restored;
    done.at = Some("2026-11-27T10:00:00Z".into());
    done.outcome = Some(Outcome::Completed);
    v.save_draft(Some(&id), &case, &done).unwrap();
    let visit = v.submit_draft(&id).unwrap();
    assert_eq!(visit, id, "the visit keeps the draft's id");
    let c = v.read_case(&case).unwrap();
    assert_eq!(c.visits.len(), 1);
    assert!(c.visits[&id].note.contains("DRAFTSECRET"));
    assert!(v.drafts().unwrap().is_empty());
    assert!(matches!(
        v.submit_draft(&id),
        Err(Error::UnknownRecord("draft"))
    ));
    // A draft may not be made again under the recorded visit's id (its
    // words would be stranded: a draft never writes over a visit).
    let mut over = done.clone();
    over.note = Some("Written over the recorded visit".into());
    match v.save_draft(Some(&id), &case, &over) {
        Err(Error::Invalid(e)) => assert_eq!(e.field, "draft_id"),
        other => panic!("{other:?}"),
    }
    assert!(v.drafts().unwrap().is_empty(), "nothing saved");
    assert!(
        v.read_case(&case).unwrap().visits[&id]
            .note
            .contains("DRAFTSECRET")
    );
}

#[test]
fn drafts_are_checked_and_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut v, case) = vault_with_case(&tmp.path().join("v"));
    let too_long = VisitDraft {
        note: Some("x".repeat(17 * 1024)),
        ..Default::default()
    };
    assert!(matches!(
        v.save_draft(None, &case, &too_long),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        v.save_draft(None, "no-such-case", &VisitDraft::default()),
        Err(Error::UnknownCase)
    ));
    assert!(matches!(
        v.save_draft(Some("not-an-id"), &case, &VisitDraft::default()),
        Err(Error::Invalid(_))
    ));
    assert!(
        v.drafts().unwrap().is_empty(),
        "nothing written by refused saves"
    );
    let id = v.save_draft(None, &case, &VisitDraft::default()).unwrap();
    v.discard_draft(&id).unwrap();
    assert!(v.drafts().unwrap().is_empty());
    assert!(matches!(
        v.discard_draft(&id),
        Err(Error::UnknownRecord("draft"))
    ));
    v.lock();
    assert!(matches!(v.drafts(), Err(Error::Locked)));
}

#[test]
fn a_form_draft_of_every_kind_survives_a_killed_app_sealed() {
    use outreach_core::vault::{FormDraft, FormField, FormKind};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let (mut v, case) = vault_with_case(&dir);
    let kinds = [
        FormKind::Referral,
        FormKind::Meeting,
        FormKind::Consent,
        FormKind::DangerStatement,
        FormKind::Concern,
        FormKind::CheckIn,
        FormKind::Revision,
        FormKind::ConcernUpdate,
        FormKind::Closure,
        FormKind::Goal,
        FormKind::Action,
        FormKind::Scaling,
        FormKind::MapEntry,
        FormKind::ReturnComment,
        FormKind::Amendment,
    ];
    let form = |kind: FormKind, text: &str| FormDraft {
        form: kind,
        fields: vec![
            FormField {
                name: "note".into(),
                value: text.into(),
            },
            FormField {
                name: "agency".into(),
                value: "Women's Aid".into(),
            },
        ],
    };
    let ids: Vec<String> = kinds
        .iter()
        .map(|&k| {
            let first = v
                .save_form_draft(None, &case, &form(k, "half a sentence"))
                .unwrap();
            // Saved again on the next keystroke: overwritten, same id.
            let again = v
                .save_form_draft(Some(&first), &case, &form(k, "FORMSECRET typed on"))
                .unwrap();
            assert_eq!(again, first);
            again
        })
        .collect();
    drop(v); // the app is killed
    let raw = std::fs::read(dir.join(vault::DB_FILE)).unwrap();
    assert!(
        !raw.windows(10).any(|w| w == b"FORMSECRET"),
        "form drafts are sealed"
    );
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    let list = v.drafts().unwrap();
    assert_eq!(list.len(), kinds.len());
    for (id, kind) in ids.iter().zip(kinds) {
        let summary = list.iter().find(|d| &d.draft_id == id).unwrap();
        assert_eq!(summary.form, Some(kind));
        assert_eq!(summary.kind, None);
        let (case_id, restored) = v.form_draft(id).unwrap();
        assert_eq!(case_id, case);
        assert_eq!(restored, form(kind, "FORMSECRET typed on"));
        // Not a contact record: neither restored nor submitted as one.
        assert!(matches!(v.draft(id), Err(Error::UnknownRecord(_))));
        assert!(matches!(v.submit_draft(id), Err(Error::UnknownRecord(_))));
        v.discard_draft(id).unwrap();
    }
    assert!(v.drafts().unwrap().is_empty());
    assert!(v.read_case(&case).unwrap().visits.is_empty());
}

#[test]
fn form_kinds_keep_their_stored_words_and_the_new_ones_read_back() {
    use outreach_core::vault::FormKind;
    // Drafts already on phones hold these words: they never change, and the
    // kinds added for revisions, concern updates, closures, the plan's
    // forms (goal, action, scaling, map entry), opening a case and the
    // sign-off screen's comment and amendment add words.
    let words = [
        (FormKind::Referral, "referral"),
        (FormKind::Meeting, "meeting"),
        (FormKind::Consent, "consent"),
        (FormKind::DangerStatement, "danger_statement"),
        (FormKind::Concern, "concern"),
        (FormKind::CheckIn, "check_in"),
        (FormKind::Revision, "revision"),
        (FormKind::ConcernUpdate, "concern_update"),
        (FormKind::Closure, "closure"),
        (FormKind::Goal, "goal"),
        (FormKind::Action, "action"),
        (FormKind::Scaling, "scaling"),
        (FormKind::MapEntry, "map_entry"),
        (FormKind::OpenCase, "open_case"),
        (FormKind::ReturnComment, "return_comment"),
        (FormKind::Amendment, "amendment"),
    ];
    for (kind, word) in words {
        let json = format!("\"{word}\"");
        assert_eq!(serde_json::to_string(&kind).unwrap(), json);
        assert_eq!(serde_json::from_str::<FormKind>(&json).unwrap(), kind);
    }
}

#[test]
fn bad_form_drafts_are_refused_and_nothing_is_written() {
    use outreach_core::vault::{FormDraft, FormField, FormKind};
    let tmp = tempfile::tempdir().unwrap();
    let (mut v, case) = vault_with_case(&tmp.path().join("v"));
    let field = |name: &str, value: String| FormField {
        name: name.into(),
        value,
    };
    let bad = [
        (
            FormDraft {
                form: FormKind::Referral,
                fields: (0..33)
                    .map(|i| field(&format!("f{i}"), "x".into()))
                    .collect(),
            },
            "fields",
        ),
        (
            FormDraft {
                form: FormKind::Meeting,
                fields: vec![field("", "x".into())],
            },
            "fields",
        ),
        (
            FormDraft {
                form: FormKind::Consent,
                fields: vec![field("note", "x".repeat(17 * 1024))],
            },
            "note",
        ),
    ];
    for (form, named) in bad {
        match v.save_form_draft(None, &case, &form) {
            Err(Error::Invalid(e)) => assert_eq!(e.field, named, "{e}"),
            other => panic!("expected a validation error naming {named}, got {other:?}"),
        }
    }
    assert!(v.drafts().unwrap().is_empty(), "nothing written");
    // A contact draft and a form draft do not overwrite each other.
    let visit = v
        .save_draft(
            None,
            &case,
            &VisitDraft {
                note: Some("typing".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let ok_form = FormDraft {
        form: FormKind::CheckIn,
        fields: vec![field("note", "at the flat".into())],
    };
    assert!(matches!(
        v.save_form_draft(Some(&visit), &case, &ok_form),
        Err(Error::UnknownRecord(_))
    ));
    let form_id = v.save_form_draft(None, &case, &ok_form).unwrap();
    assert!(matches!(
        v.save_draft(Some(&form_id), &case, &VisitDraft::default()),
        Err(Error::UnknownRecord(_))
    ));
    assert_eq!(v.form_draft(&form_id).unwrap().1, ok_form);
    assert_eq!(v.draft(&visit).unwrap().1.note.as_deref(), Some("typing"));
}

#[test]
fn the_form_that_opens_a_case_keeps_a_draft_with_no_case() {
    use outreach_core::vault::{FormDraft, FormField, FormKind};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = vault_in(&dir);
    let form = |name: &str| FormDraft {
        form: FormKind::OpenCase,
        fields: vec![
            FormField {
                name: "preferred_name".into(),
                value: name.into(),
            },
            FormField {
                name: "code_word".into(),
                value: "OPENSECRET".into(),
            },
        ],
    };
    let id = v.save_form_draft(None, "", &form("Le")).unwrap();
    assert_eq!(v.save_form_draft(Some(&id), "", &form("Leah")).unwrap(), id);
    drop(v); // the app is killed
    let raw = std::fs::read(dir.join(vault::DB_FILE)).unwrap();
    assert!(
        !raw.windows(10).any(|w| w == b"OPENSECRET"),
        "sealed like any draft"
    );
    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    let list = v.drafts().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].draft_id.as_str(), list[0].case_id.as_str()),
        (id.as_str(), ""),
        "no case: an empty case id"
    );
    assert_eq!(list[0].form, Some(FormKind::OpenCase));
    assert_eq!(v.form_draft(&id).unwrap(), (String::new(), form("Leah")));
    assert!(matches!(v.draft(&id), Err(Error::UnknownRecord(_))));
    assert!(matches!(v.submit_draft(&id), Err(Error::UnknownRecord(_))));
    // Submitted: the case is opened with its own call, then the draft goes.
    let case = v
        .create_case(&CaseEdit {
            preferred_name: Some("Leah".into()),
            ..Default::default()
        })
        .unwrap();
    v.discard_draft(&id).unwrap();
    assert!(v.drafts().unwrap().is_empty());
    assert_eq!(v.case_ids().unwrap(), std::slice::from_ref(&case));

    // Any other form needs its case: refused naming case_id, nothing written.
    let referral = FormDraft {
        form: FormKind::Referral,
        fields: vec![FormField {
            name: "agency".into(),
            value: "Women's Aid".into(),
        }],
    };
    for no_case in ["", "  "] {
        match v.save_form_draft(None, no_case, &referral) {
            Err(Error::Invalid(e)) => assert_eq!(e.field, "case_id", "{e}"),
            other => panic!("expected case_id refused, got {other:?}"),
        }
    }
    // And the form that opens a case takes no case id.
    match v.save_form_draft(None, &case, &form("Leah")) {
        Err(Error::Invalid(e)) => assert_eq!(e.field, "case_id", "{e}"),
        other => panic!("expected case_id refused, got {other:?}"),
    }
    assert!(v.drafts().unwrap().is_empty(), "nothing written");
    // Locked: refused like any draft.
    v.lock();
    assert!(matches!(
        v.save_form_draft(None, "", &form("Leah")),
        Err(Error::Locked)
    ));
}

#[test]
fn a_case_file_claiming_the_all_zero_id_is_refused_and_nothing_is_written() {
    // The all-zero id is no case's: the draft of a case being opened is kept
    // under it, out of reach of erasure, removal and transfer of a case.
    let tmp = tempfile::tempdir().unwrap();
    let (mut v, case) = vault_with_case(&tmp.path().join("v"));
    let bytes = v.export_automerge(&case).unwrap();
    let mut doc = outreach_core::case::doc::CaseDoc::load(
        b"crafted-actor-00",
        Some(&bytes),
        std::iter::empty(),
    )
    .unwrap();
    let author = outreach_core::case::doc::Author {
        by: "X".into(),
        role: None,
        device: "00".into(),
    };
    doc.apply(
        &author,
        "id",
        chrono::Utc::now(),
        &[outreach_core::case::doc::Patch::replace(
            ["id"],
            serde_json::json!("00000000-0000-0000-0000-000000000000"),
        )],
    )
    .unwrap();
    let before = v.case_ids().unwrap();
    let imported = v.import_case(&doc.save());
    assert!(matches!(imported, Err(Error::Document(_))), "{imported:?}");
    assert_eq!(v.case_ids().unwrap(), before);
}
