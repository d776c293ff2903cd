//! Case records: typed writes, validation (bad input changes nothing),
//! history, conflicts and their resolution, queries, export.

use std::path::Path;

use outreach_core::case::doc::{Author, CaseDoc};
use outreach_core::case::model::*;
use outreach_core::crypto::KdfParams;
use outreach_core::vault::{
    ActionInput, ConcernInput, ConcernUpdate, ConsentInput, EXPORT_FORMAT, EventInput, GoalInput,
    MeetingInput, ReferralInput, ScaleInput, Vault, VaultOptions, VisitInput,
};
use outreach_core::{Error, case::validate::MAX_NOTE_BYTES};

const PASS: &str = "correct horse battery";

fn vault_for(dir: &Path, who: &str) -> Vault {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: who.into(),
        team: None,
    };
    Vault::create(dir, PASS, opts, None).unwrap()
}

fn edit(name: &str) -> CaseEdit {
    CaseEdit {
        preferred_name: Some(name.into()),
        ..Default::default()
    }
}

fn visit(at: &str, note: &str) -> VisitInput {
    VisitInput::new(at, ContactKind::Home, Outcome::Completed, note)
}

/// Row counts and every blob, to prove a rejected input wrote nothing.
fn fingerprint(v: &Vault) -> Vec<(i64, Vec<u8>)> {
    let c = v.store_for_diagnostics().unwrap().connection();
    let mut s = c
        .prepare("SELECT seq, body FROM case_chunk UNION ALL SELECT upto_seq, body FROM case_snapshot ORDER BY 1, 2")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn bad_input_gives_a_clear_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault_for(&tmp.path().join("v"), "Sam");
    let id = v.create_case(&edit("Alice")).unwrap();
    let before = fingerprint(&v);
    let case_before = v.read_case(&id).unwrap();

    let mut cases: Vec<(&str, Result<(), Error>)> = Vec::new();
    let long_note = "x".repeat(MAX_NOTE_BYTES + 1);

    cases.push((
        "unknown case",
        v.add_visit(
            "00000000-0000-4000-8000-000000000000",
            &visit("2026-11-20T10:00:00Z", "n"),
        )
        .map(drop),
    ));
    cases.push((
        "garbage case id",
        v.add_visit("not-an-id!", &visit("2026-11-20T10:00:00Z", "n"))
            .map(drop),
    ));
    cases.push((
        "unparseable time",
        v.add_visit(&id, &visit("20/11/2026 10am", "n")).map(drop),
    ));
    let mut ends_first = visit("2026-11-20T10:00:00Z", "n");
    ends_first.ended_at = Some("2026-11-20T09:00:00Z".into());
    cases.push((
        "ends before it starts",
        v.add_visit(&id, &ends_first).map(drop),
    ));
    let mut next_before = visit("2026-11-20T10:00:00Z", "n");
    next_before.next_contact_due = Some("2026-11-19T10:00:00Z".into());
    cases.push((
        "next contact before this one",
        v.add_visit(&id, &next_before).map(drop),
    ));
    let mut checkout_first = visit("2026-11-20T10:00:00Z", "n");
    checkout_first.checked_in_at = Some("2026-11-20T10:00:00Z".into());
    checkout_first.checked_out_at = Some("2026-11-20T09:59:00Z".into());
    cases.push((
        "check-out before check-in",
        v.add_visit(&id, &checkout_first).map(drop),
    ));
    let mut bad_wellbeing = visit("2026-11-20T10:00:00Z", "n");
    bad_wellbeing.wellbeing = Some(11);
    cases.push(("wellbeing 11", v.add_visit(&id, &bad_wellbeing).map(drop)));
    cases.push((
        "empty note on a completed visit",
        v.add_visit(&id, &visit("2026-11-20T10:00:00Z", "   "))
            .map(drop),
    ));
    cases.push((
        "note over the limit",
        v.add_visit(&id, &visit("2026-11-20T10:00:00Z", &long_note))
            .map(drop),
    ));
    cases.push((
        "scale -1",
        v.add_scale(
            &id,
            &ScaleInput {
                score: -1,
                date: None,
                view: None,
                note: None,
                question: None,
            },
        )
        .map(drop),
    ));
    cases.push((
        "scale 11",
        v.add_scale(
            &id,
            &ScaleInput {
                score: 11,
                date: None,
                view: None,
                note: None,
                question: None,
            },
        )
        .map(drop),
    ));
    cases.push((
        "scale bad date",
        v.add_scale(
            &id,
            &ScaleInput {
                score: 5,
                date: Some("2026-02-30".into()),
                view: None,
                note: None,
                question: None,
            },
        )
        .map(drop),
    ));
    cases.push((
        "empty concern text",
        v.add_concern(
            &id,
            &ConcernInput {
                category: "housing".into(),
                severity: Severity::Low,
                description: " ".into(),
                escalated_to: None,
            },
        )
        .map(drop),
    ));
    cases.push((
        "empty concern category",
        v.add_concern(
            &id,
            &ConcernInput {
                category: "".into(),
                severity: Severity::Low,
                description: "d".into(),
                escalated_to: None,
            },
        )
        .map(drop),
    ));
    cases.push((
        "empty goal text",
        v.add_goal(
            &id,
            &GoalInput {
                domain: Domain::Housing,
                text: "".into(),
                status: None,
                target_date: None,
                review_date: None,
            },
        )
        .map(drop),
    ));
    cases.push((
        "contraception details",
        v.add_goal(
            &id,
            &GoalInput {
                domain: Domain::Contraception,
                text: "implant fitted at clinic".into(),
                status: None,
                target_date: None,
                review_date: Some("2027-01-01".into()),
            },
        )
        .map(drop),
    ));
    cases.push((
        "contraception without review date",
        v.add_goal(
            &id,
            &GoalInput {
                domain: Domain::Contraception,
                text: "pause agreed".into(),
                status: None,
                target_date: None,
                review_date: None,
            },
        )
        .map(drop),
    ));
    cases.push((
        "action on unknown goal",
        v.add_action(
            &id,
            "no-such-goal",
            &ActionInput {
                text: "call".into(),
                owner: None,
                due: None,
            },
        )
        .map(drop),
    ));
    cases.push((
        "sign off unknown visit",
        v.sign_off_visit(&id, "nope", SignOffDecision::SignedOff, None),
    ));
    cases.push(("empty name edit", v.edit_case(&id, &edit("  "))));
    cases.push((
        "dob in the future",
        v.edit_case(
            &id,
            &CaseEdit {
                date_of_birth: Some("2999-01-01".into()),
                ..Default::default()
            },
        ),
    ));
    cases.push((
        "dob not a date",
        v.edit_case(
            &id,
            &CaseEdit {
                date_of_birth: Some("Alice Smith".into()),
                ..Default::default()
            },
        ),
    ));
    cases.push((
        "programme ends before it starts",
        v.edit_case(
            &id,
            &CaseEdit {
                start_date: Some("2026-05-01".into()),
                planned_end_date: Some("2026-01-01".into()),
                ..Default::default()
            },
        ),
    ));
    cases.push((
        "meeting bad date",
        v.add_meeting(
            &id,
            &MeetingInput {
                kind: MeetingKind::Fgc,
                date: "soon".into(),
                attendees: vec![],
                summary: "".into(),
            },
        )
        .map(drop),
    ));
    cases.push(("create with no name", v.create_case(&edit("")).map(drop)));

    for (what, result) in cases {
        let err = result.expect_err(what);
        let msg = err.to_string();
        assert!(
            !msg.is_empty() && !msg.contains('\n'),
            "{what}: one line: {msg}"
        );
        assert!(!msg.contains("Alice"), "{what}: no personal data in {msg}");
    }
    assert_eq!(fingerprint(&v), before, "rejected input wrote nothing");
    assert_eq!(v.case_ids().unwrap().len(), 1);
    v.evict_cases();
    assert_eq!(v.read_case(&id).unwrap(), case_before);
}

#[test]
fn every_record_kind_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = vault_for(&dir, "Sam");
    let id = v
        .create_case(&CaseEdit {
            preferred_name: Some("Alice".into()),
            date_of_birth: Some("1995-03-04".into()),
            text_ok: Some(false),
            code_word: Some("blue".into()),
            children_count: Some(2),
            phase: Some(Phase::Engagement),
            ..Default::default()
        })
        .unwrap();
    let mut vi = visit("2026-11-20T10:00:00+00:00", "Went well");
    vi.domains = vec![Domain::Housing, Domain::MentalHealth];
    vi.present = vec!["Alice".into(), "Sam".into()];
    vi.her_words = Some("I felt heard".into());
    vi.checked_in_at = Some("2026-11-20T09:55:00Z".into());
    vi.checked_out_at = Some("2026-11-20T11:05:00Z".into());
    let visit_id = v.add_visit(&id, &vi).unwrap();
    // A vault that was never enrolled has no directory, so no one on it
    // has a supervisor's authority: the return is refused, nothing written.
    assert!(matches!(
        v.sign_off_visit(
            &id,
            &visit_id,
            SignOffDecision::Returned,
            Some("Please add the actions agreed"),
        ),
        Err(Error::NotSupervisor)
    ));
    let goal = v
        .add_goal(
            &id,
            &GoalInput {
                domain: Domain::Housing,
                text: "Secure a tenancy".into(),
                status: None,
                target_date: Some("2027-03-01".into()),
                review_date: None,
            },
        )
        .unwrap();
    let action = v
        .add_action(
            &id,
            &goal,
            &ActionInput {
                text: "Call the housing officer".into(),
                owner: Some(ActionOwner::Practitioner),
                due: Some("2026-12-01".into()),
            },
        )
        .unwrap();
    v.complete_action(&id, &goal, &action, Some("2026-11-25"))
        .unwrap();
    v.set_goal_status(&id, &goal, GoalStatus::InProgress)
        .unwrap();
    let pause = v
        .add_goal(
            &id,
            &GoalInput {
                domain: Domain::Contraception,
                text: "Pause agreed".into(),
                status: None,
                target_date: None,
                review_date: Some("2027-05-01".into()),
            },
        )
        .unwrap();
    v.add_sos_entry(
        &id,
        SosColumn::Worries,
        "Rent arrears",
        Some(WorryKind::Danger),
    )
    .unwrap();
    v.add_sos_entry(&id, SosColumn::WorkingWell, "Attends every visit", None)
        .unwrap();
    v.add_danger_statement(&id, "Eviction risk", "Stable home by March")
        .unwrap();
    let concern = v
        .add_concern(
            &id,
            &ConcernInput {
                category: "domestic abuse".into(),
                severity: Severity::High,
                description: "Ex-partner seen nearby".into(),
                escalated_to: None,
            },
        )
        .unwrap();
    v.update_concern(
        &id,
        &concern,
        &ConcernUpdate {
            escalated_to: Some("MARAC".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let consent = v
        .add_consent(
            &id,
            &ConsentInput {
                what: "Share with GP".into(),
                given_on: None,
            },
        )
        .unwrap();
    v.withdraw_consent(&id, &consent, Some("2026-11-26"))
        .unwrap();
    v.add_referral(
        &id,
        &ReferralInput {
            agency: "Women's Aid".into(),
            reason: "Support".into(),
            date: None,
            status: None,
        },
    )
    .unwrap();
    v.add_meeting(
        &id,
        &MeetingInput {
            kind: MeetingKind::Fgc,
            date: "2026-11-22".into(),
            attendees: vec!["Alice".into()],
            summary: "Plan agreed".into(),
        },
    )
    .unwrap();
    v.add_event(
        &id,
        &EventInput {
            kind: EventKind::Pregnancy,
            date: "2026-11-23".into(),
            note: None,
        },
    )
    .unwrap();
    drop(v);

    let mut v = Vault::open(&dir).unwrap();
    v.unlock(PASS, None).unwrap();
    let c = v.read_case(&id).unwrap();
    assert_eq!(c.profile.date_of_birth.as_deref(), Some("1995-03-04"));
    assert_eq!(c.profile.safe_contact.text_ok, Some(false));
    assert_eq!(c.profile.children.count, Some(2));
    assert_eq!(c.programme.phase, Some(Phase::Engagement));
    let visit = &c.visits[&visit_id];
    assert_eq!(visit.at, "2026-11-20T10:00:00Z");
    assert_eq!(visit.domains, vec![Domain::Housing, Domain::MentalHealth]);
    assert_eq!(visit.her_words.as_deref(), Some("I felt heard"));
    assert_eq!(visit.recorded_by.as_deref(), Some("Sam"));
    assert!(visit.sign_off.is_none());
    assert_eq!(visit.review, ReviewState::Awaiting);
    assert_eq!(c.goals[&goal].status, Some(GoalStatus::InProgress));
    assert_eq!(
        c.goals[&goal].actions[&action].done.as_deref(),
        Some("2026-11-25")
    );
    assert_eq!(c.goals[&pause].text, "pause agreed");
    assert_eq!(c.signs_of_safety.worries.len(), 1);
    assert_eq!(c.signs_of_safety.working_well.len(), 1);
    assert_eq!(c.signs_of_safety.danger_statements.len(), 1);
    assert_eq!(c.concerns[&concern].status, Some(ConcernStatus::Escalated));
    assert_eq!(c.concerns[&concern].escalated_to.as_deref(), Some("MARAC"));
    assert_eq!(
        c.consents[&consent].withdrawn_on.as_deref(),
        Some("2026-11-26")
    );
    assert_eq!(c.referrals.len(), 1);
    assert_eq!(c.meetings.len(), 1);
    assert_eq!(c.events.len(), 1);

    let history = v.history(&id).unwrap();
    assert!(history.len() >= 15);
    assert!(
        history
            .iter()
            .all(|h| h.by == "Sam" && h.device.len() == 32 && !h.at.is_empty())
    );
    assert!(history.iter().any(|h| h.what == "visit recorded"));
    let timeline = v.timeline(&id).unwrap();
    assert!(
        timeline.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first"
    );
    assert!(timeline.iter().any(|t| t.kind == "visit"));

    let export = v.export_json(&id).unwrap();
    assert_eq!(export.format, EXPORT_FORMAT);
    assert_eq!(export.case, c);
    let raw = v.export_automerge(&id).unwrap();
    let reloaded = CaseDoc::load(&[9; 16], Some(&raw), std::iter::empty()).unwrap();
    assert_eq!(reloaded.read().unwrap(), c);
}

#[test]
fn unchanged_edit_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault_for(&tmp.path().join("v"), "Sam");
    let id = v.create_case(&edit("Alice")).unwrap();
    let before = fingerprint(&v);
    v.edit_case(&id, &edit("Alice")).unwrap();
    assert_eq!(fingerprint(&v), before);
    v.edit_case(&id, &edit("Ally")).unwrap();
    assert_ne!(fingerprint(&v), before);
}

fn now_fixed() -> chrono::DateTime<chrono::Utc> {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

#[test]
fn caseload_orders_by_next_contact_and_flags_overdue() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault_for(&tmp.path().join("v"), "Sam");
    v.set_clock(now_fixed);
    let none = v.create_case(&edit("No plan")).unwrap();
    let later = v.create_case(&edit("Later")).unwrap();
    let overdue = v.create_case(&edit("Overdue")).unwrap();
    let closed = v
        .create_case(&CaseEdit {
            preferred_name: Some("Closed".into()),
            phase: Some(Phase::Closed),
            ..Default::default()
        })
        .unwrap();
    let mut a = visit("2026-11-01T10:00:00Z", "n");
    a.next_contact_due = Some("2026-11-20T10:00:00Z".into());
    v.add_visit(&overdue, &a).unwrap();
    let mut b = visit("2026-11-20T10:00:00Z", "n");
    b.next_contact_due = Some("2026-12-04T10:00:00Z".into());
    v.add_visit(&later, &b).unwrap();
    v.add_concern(
        &later,
        &ConcernInput {
            category: "c".into(),
            severity: Severity::Medium,
            description: "d".into(),
            escalated_to: None,
        },
    )
    .unwrap();
    let high = v
        .add_concern(
            &overdue,
            &ConcernInput {
                category: "c".into(),
                severity: Severity::High,
                description: "d".into(),
                escalated_to: None,
            },
        )
        .unwrap();
    let closed_concern = v
        .add_concern(
            &none,
            &ConcernInput {
                category: "c".into(),
                severity: Severity::High,
                description: "d".into(),
                escalated_to: None,
            },
        )
        .unwrap();
    v.update_concern(
        &none,
        &closed_concern,
        &ConcernUpdate {
            status: Some(ConcernStatus::Closed),
            ..Default::default()
        },
    )
    .unwrap();

    let open: Vec<String> = v
        .caseload(false)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(open, vec![overdue.clone(), later.clone(), none.clone()]);
    let load = v.caseload(true).unwrap();
    let order: Vec<&str> = load.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        order,
        vec![
            overdue.as_str(),
            later.as_str(),
            none.as_str(),
            closed.as_str()
        ]
    );
    assert!(load[0].contact.overdue);
    assert!(!load[1].contact.overdue);
    assert_eq!(load[0].highest_open_severity, Some(Severity::High));
    assert_eq!(load[2].open_concerns, 0);

    let concerns = v.open_concerns().unwrap();
    assert_eq!(concerns.len(), 2);
    assert_eq!(concerns[0].concern_id, high);
    assert_eq!(concerns[0].severity, Severity::High);
}

fn author(by: &str, device: &str) -> Author {
    Author {
        by: by.into(),
        role: None,
        device: device.into(),
    }
}

#[test]
fn concurrent_edits_keep_both_sides_and_report_conflicts() {
    use outreach_core::case::doc::Patch;
    use serde_json::json;
    let t1 = now_fixed();
    let mut a = CaseDoc::create(&[1; 16], "case-1", &author("Sam", "dev-a"), t1, &[]).unwrap();
    let mut b = a.fork(&[2; 16]);
    // Different additions on both sides, and the same field set differently.
    a.apply(&author("Sam", "dev-a"), "visit recorded", t1, &[Patch::new(["visits", "va"], json!({"kind":"home","outcome":"completed","at":"2026-11-20T10:00:00Z","note":"from A"}))]).unwrap();
    b.apply(&author("Kim", "dev-b"), "visit recorded", t1, &[Patch::new(["visits", "vb"], json!({"kind":"phone","outcome":"completed","at":"2026-11-21T10:00:00Z","note":"from B"}))]).unwrap();
    a.apply(
        &author("Sam", "dev-a"),
        "profile edited",
        t1,
        &[Patch::new(["profile"], json!({"phone": "0111"}))],
    )
    .unwrap();
    b.apply(
        &author("Kim", "dev-b"),
        "profile edited",
        t1,
        &[Patch::new(["profile"], json!({"phone": "0222"}))],
    )
    .unwrap();

    let mut ab = a.fork(&[3; 16]);
    let mut b2 = b.fork(&[4; 16]);
    ab.merge(&mut b2).unwrap();
    let mut ba = b.fork(&[5; 16]);
    let mut a2 = a.fork(&[6; 16]);
    ba.merge(&mut a2).unwrap();
    assert_eq!(ab.to_json(), ba.to_json(), "merge order does not matter");
    let case = ab.read().unwrap();
    assert!(case.visits.contains_key("va") && case.visits.contains_key("vb"));

    let conflicts = ab.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!(c.field, "profile/phone");
    let mut values: Vec<_> = c
        .values
        .iter()
        .map(|v| (v.value.clone(), v.by.clone(), v.device.clone()))
        .collect();
    values.sort_by_key(|v| v.0.to_string());
    assert_eq!(
        values,
        vec![
            (json!("0111"), "Sam".into(), "dev-a".into()),
            (json!("0222"), "Kim".into(), "dev-b".into())
        ]
    );
    assert!(c.values.iter().all(|v| v.at == "2026-11-27T12:00:00Z"));

    ab.resolve(&author("Sup", "dev-s"), t1, "profile/phone", json!("0222"))
        .unwrap();
    assert!(ab.conflicts().is_empty());
    assert_eq!(ab.read().unwrap().profile.phone.as_deref(), Some("0222"));
    assert!(matches!(
        ab.resolve(&author("Sup", "dev-s"), t1, "profile/phone", json!("x")),
        Err(Error::NoSuchConflict)
    ));
    assert!(matches!(
        ab.resolve(&author("Sup", "dev-s"), t1, "nowhere/at/all", json!("x")),
        Err(Error::NoSuchConflict)
    ));
}

#[test]
fn vault_merge_and_resolve_conflict() {
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    let mut sam = vault_for(&tmp.path().join("sam"), "Sam");
    let id = sam.create_case(&edit("Alice")).unwrap();
    let mut kim = vault_for(&tmp.path().join("kim"), "Kim");
    // Kim's device receives the case (what sync will do), then both edit offline.
    let bytes = sam.export_automerge(&id).unwrap();
    kim.import_case(&bytes).unwrap();
    sam.edit_case(
        &id,
        &CaseEdit {
            phone: Some("0111".into()),
            ..Default::default()
        },
    )
    .unwrap();
    kim.edit_case(
        &id,
        &CaseEdit {
            phone: Some("0222".into()),
            ..Default::default()
        },
    )
    .unwrap();
    kim.add_visit(&id, &visit("2026-11-20T10:00:00Z", "Kim's visit"))
        .unwrap();
    let from_kim = kim.export_automerge(&id).unwrap();
    sam.merge_case_bytes(&id, &from_kim).unwrap();
    let conflicts = sam.conflicts(&id).unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field, "profile/phone");
    assert_eq!(sam.read_case(&id).unwrap().visits.len(), 1);
    assert!(matches!(
        sam.resolve_conflict(&id, "profile/name", json!("x")),
        Err(Error::NoSuchConflict)
    ));
    sam.resolve_conflict(&id, "profile/phone", json!("0111"))
        .unwrap();
    assert!(sam.conflicts(&id).unwrap().is_empty());
    // Durable: survives a reload from disk.
    sam.evict_cases();
    assert!(sam.conflicts(&id).unwrap().is_empty());
    assert_eq!(
        sam.read_case(&id).unwrap().profile.phone.as_deref(),
        Some("0111")
    );
    let hist = sam.history(&id).unwrap();
    assert!(hist.iter().any(|h| h.by == "Kim"));
    assert!(hist.iter().any(|h| h.what.starts_with("conflict resolved")));
}

#[test]
fn a_record_this_version_cannot_read_is_listed_not_fatal() {
    use outreach_core::case::doc::Patch;
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault_for(&tmp.path().join("v"), "Sam");
    let id = v.create_case(&edit("Alice")).unwrap();
    v.add_visit(&id, &visit("2026-11-20T10:00:00Z", "fine"))
        .unwrap();
    // Another device (a newer version) writes a visit of a kind this one does not know.
    let mut other = CaseDoc::load(
        &[7; 16],
        Some(&v.export_automerge(&id).unwrap()),
        std::iter::empty(),
    )
    .unwrap();
    other
        .apply(
            &author("Kim", "dev-k"),
            "visit recorded",
            now_fixed(),
            &[Patch::new(
                ["visits", "future"],
                json!({"kind": "hologram", "outcome": "completed", "at": "2026-11-21T10:00:00Z"}),
            )],
        )
        .unwrap();
    v.merge_case_bytes(&id, &other.save()).unwrap();
    let case = v.read_case(&id).unwrap();
    assert_eq!(case.visits.len(), 1, "the readable visit is still there");
    assert_eq!(case.unreadable, vec!["visits/future".to_string()]);
    // The raw export still holds it: nothing is dropped from the document.
    let raw = CaseDoc::load(
        &[8; 16],
        Some(&v.export_automerge(&id).unwrap()),
        std::iter::empty(),
    )
    .unwrap();
    assert_eq!(raw.to_json()["visits"]["future"]["kind"], "hologram");
}

#[test]
fn garbage_bytes_are_refused_by_import_and_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault_for(&tmp.path().join("v"), "Sam");
    let id = v.create_case(&edit("Alice")).unwrap();
    let before = fingerprint(&v);
    assert!(matches!(
        v.import_case(b"definitely not automerge"),
        Err(Error::Document(_))
    ));
    assert!(matches!(
        v.merge_case_bytes(&id, b"\x85\x6f\x4a\x83garbage"),
        Err(Error::Document(_))
    ));
    assert_eq!(fingerprint(&v), before);
}
