//! The practice rules as a practitioner and a supervisor meet them: contact
//! due and overdue (the findings that started this: a stale "next contact"
//! date, and a four-month silence nobody saw), the programme clock and
//! closure, sign-off authority checked against the directory (including a
//! forged sign-off), the amend loop, Signs of Safety that can move, and
//! conflict resolution that validates like the original write.

use std::path::Path;

use chrono::{Duration, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use outreach_core::case::doc::{Author, CaseDoc, Patch};
use outreach_core::case::model::*;
use outreach_core::case::validate::{MAX_NOTE_BYTES, instant_string};
use outreach_core::crypto::KdfParams;
use outreach_core::vault::{
    CaseSummary, SosUpdate, Vault, VaultOptions, VisitDraft, VisitInput, resolve_visit,
};
use outreach_core::{Error, ValidationError};
use outreach_protocol::{EnrollResponse, PullResponse, Role, Signer};
use serde_json::json;

const PASS: &str = "correct horse battery";
const ORG: [u8; 16] = [7; 16];

fn vault(dir: &Path, who: &str) -> Vault {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: who.into(),
        team: None,
    };
    Vault::create(dir, PASS, opts, None).unwrap()
}

/// A vault enrolled as `name` (role, team) in a pretend organisation, and
/// its directory entry as the server would publish it.
fn enrolled(dir: &Path, name: &str, role: Role, team: &str, user: u8) -> (Vault, Signer) {
    let mut v = vault(dir, "typed at init");
    let req = v.enrolment_request("code").unwrap();
    let resp = EnrollResponse {
        org_id: ORG,
        org_name: "Council".into(),
        user_id: [user; 16],
        user_name: name.into(),
        role,
        team: Some(team.into()),
        recovery_pk: [9; 32],
    };
    v.finish_enrolment("http://127.0.0.1:1", true, &resp)
        .unwrap();
    let me = Signer {
        device_id: req.device_id,
        sign_pk: req.sign_pk,
        user_id: [user; 16],
        user_name: name.into(),
        role,
        team: Some(team.into()),
        revoked_at: None,
    };
    (v, me)
}

/// What a pull page teaches a device about other devices.
fn learn(v: &mut Vault, signers: &[Signer]) {
    v.apply_page(&PullResponse {
        signers: signers.to_vec(),
        ..Default::default()
    })
    .unwrap();
}

/// Hands one device's copy of a case to another (what sync does).
fn share(from: &mut Vault, to: &mut Vault, case: &str) {
    let bytes = from.export_automerge(case).unwrap();
    to.import_case(&bytes).unwrap();
}

fn edit(name: &str) -> CaseEdit {
    CaseEdit {
        preferred_name: Some(name.into()),
        ..Default::default()
    }
}

fn ago(days: i64) -> String {
    instant_string(Utc::now() - Duration::days(days))
}

fn summary(v: &mut Vault, id: &str) -> CaseSummary {
    v.caseload(true)
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap()
}

fn seen(v: &mut Vault, case: &str, days_ago: i64, next_in: Option<i64>) -> String {
    let mut vi = VisitInput::new(ago(days_ago), ContactKind::Home, Outcome::Completed, "seen");
    vi.next_contact_due = next_in.map(|d| instant_string(Utc::now() + Duration::days(d)));
    v.add_visit(case, &vi).unwrap()
}

#[test]
fn the_most_recent_contact_decides_when_the_next_is_due() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"), "Sam");

    // Finding 1a: seen 20 days ago with "next contact in 10 days' time then"
    // (10 days ago), seen again 3 days ago with no next date. The old date
    // must not make it overdue: due = 3 days ago + 14 days.
    let a = v.create_case(&edit("Seen again")).unwrap();
    seen(&mut v, &a, 20, Some(-10));
    seen(&mut v, &a, 3, None);
    let s = summary(&mut v, &a);
    assert!(!s.contact.overdue);
    let due = s.contact.next_contact_due.unwrap();
    assert_eq!(&due[..10], &ago(-11)[..10]);

    // Finding 1b: last seen four months ago, no next date → overdue, and
    // "not seen for" says how long.
    let b = v.create_case(&edit("Silent")).unwrap();
    seen(&mut v, &b, 120, None);
    let s = summary(&mut v, &b);
    assert!(s.contact.overdue);
    assert_eq!(s.contact.not_seen_days, Some(120));

    // A next date set with the most recent contact is what counts.
    let c = v.create_case(&edit("Planned")).unwrap();
    seen(&mut v, &c, 30, None);
    seen(&mut v, &c, 2, Some(5));
    let s = summary(&mut v, &c);
    assert!(!s.contact.overdue);
    assert_eq!(&s.contact.next_contact_due.unwrap()[..10], &ago(-5)[..10]);

    // Attempts count as contacts for the rule but are shown as attempts,
    // and never reset "not seen for".
    let d = v.create_case(&edit("Attempts")).unwrap();
    seen(&mut v, &d, 40, None);
    for days in [9, 2] {
        let vi = VisitInput::new(ago(days), ContactKind::Attempted, Outcome::NoAnswer, "");
        v.add_visit(&d, &vi).unwrap();
    }
    let s = summary(&mut v, &d);
    assert!(s.contact.last_contact_attempt);
    assert!(!s.contact.overdue); // 2 days ago + 14
    assert_eq!(s.contact.not_seen_days, Some(40));
    assert_eq!(&s.contact.last_seen.unwrap()[..10], &ago(40)[..10]);

    // A phone call is a contact, not "seen".
    let e = v.create_case(&edit("Phone")).unwrap();
    let vi = VisitInput::new(ago(1), ContactKind::Phone, Outcome::Completed, "call");
    v.add_visit(&e, &vi).unwrap();
    let s = summary(&mut v, &e);
    assert!(s.contact.last_seen.is_none());
    assert!(!s.contact.last_contact_attempt);

    // No contact yet: due the interval after opening; the interval is the
    // case's own when set.
    let f = v.create_case(&edit("New")).unwrap();
    let s = summary(&mut v, &f);
    assert!(!s.contact.overdue);
    assert_eq!(&s.contact.next_contact_due.unwrap()[..10], &ago(-14)[..10]);
    v.edit_case(
        &f,
        &CaseEdit {
            contact_every_days: Some(7),
            ..Default::default()
        },
    )
    .unwrap();
    let s = summary(&mut v, &f);
    assert_eq!(&s.contact.next_contact_due.unwrap()[..10], &ago(-7)[..10]);
    for bad in [0, 366] {
        let r = v.edit_case(
            &f,
            &CaseEdit {
                contact_every_days: Some(bad),
                ..Default::default()
            },
        );
        assert!(matches!(r, Err(Error::Invalid(ref e)) if e.field == "contact_every_days"));
    }

    // Overdue first.
    let order: Vec<String> = v
        .caseload(false)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(order[0], b);
}

#[test]
fn closed_cases_leave_the_caseload_and_can_be_reopened() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"), "Sam");
    let id = v.create_case(&edit("Leaving")).unwrap();
    seen(&mut v, &id, 200, None);
    assert!(summary(&mut v, &id).contact.overdue);
    v.close_case(&id, ExitReason::Completed, Some("finished well"), None)
        .unwrap();
    assert!(v.caseload(false).unwrap().iter().all(|s| s.id != id));
    let s = summary(&mut v, &id);
    assert_eq!(s.phase, Some(Phase::Closed));
    assert!(!s.contact.overdue, "a closed case is never overdue");
    let c = v.read_case(&id).unwrap();
    assert_eq!(c.programme.exit_reason.as_deref(), Some("completed"));
    assert!(c.programme.closed_on.is_some());
    assert!(matches!(
        v.close_case(&id, ExitReason::Other, None, None),
        Err(Error::CaseClosed)
    ));
    assert!(matches!(
        v.reopen_case(&id, Some(Phase::Closed)),
        Err(Error::Invalid(_))
    ));
    v.reopen_case(&id, None).unwrap();
    let c = v.read_case(&id).unwrap();
    assert_eq!(c.programme.phase, Some(Phase::Programme));
    assert!(c.programme.closed_on.is_none() && c.programme.exit_reason.is_none());
    assert!(matches!(
        v.reopen_case(&id, None),
        Err(Error::CaseNotClosed)
    ));
    let h: Vec<String> = v
        .history(&id)
        .unwrap()
        .into_iter()
        .map(|h| h.what)
        .collect();
    assert!(h.contains(&"case closed".to_string()) && h.contains(&"case reopened".to_string()));
    // An exit reason outside the vocabulary is refused.
    let r = v.edit_case(
        &id,
        &CaseEdit {
            exit_reason: Some("fed up".into()),
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(Error::Invalid(ref e)) if e.field == "exit_reason"));
}

#[test]
fn the_programme_clock_runs_eighteen_months_and_flags_the_last_eight_weeks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"), "Sam");
    let today = Utc::now().date_naive();
    let start = |months_ago: u32| {
        today
            .checked_sub_months(chrono::Months::new(months_ago))
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let near = v
        .create_case(&CaseEdit {
            start_date: Some(start(17)),
            ..edit("Near the end")
        })
        .unwrap();
    let early = v
        .create_case(&CaseEdit {
            start_date: Some(start(3)),
            ..edit("Early")
        })
        .unwrap();
    let s = summary(&mut v, &near);
    assert!(s.ending_soon);
    let end = today
        .checked_sub_months(chrono::Months::new(17))
        .unwrap()
        .checked_add_months(chrono::Months::new(18))
        .unwrap();
    assert_eq!(
        s.planned_end.as_deref(),
        Some(&*end.format("%Y-%m-%d").to_string())
    );
    assert!(!summary(&mut v, &early).ending_soon);
}

#[test]
fn sign_off_needs_a_supervisor_of_the_team_and_is_checked_on_every_device() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, pr_entry) = enrolled(
        &tmp.path().join("p"),
        "Sam Jones",
        Role::Practitioner,
        "North",
        1,
    );
    let (mut su, su_entry) = enrolled(
        &tmp.path().join("s"),
        "Ali Khan",
        Role::Supervisor,
        "North",
        2,
    );
    let (mut other, other_entry) = enrolled(
        &tmp.path().join("o"),
        "Bo Lee",
        Role::Supervisor,
        "South",
        3,
    );
    let all = [pr_entry.clone(), su_entry.clone(), other_entry.clone()];
    for v in [&mut pr, &mut su, &mut other] {
        learn(v, &all);
    }

    // Identity comes from enrolment, not the name typed at `init`.
    let case = pr.create_case(&edit("Jasmine")).unwrap();
    let c = pr.read_case(&case).unwrap();
    assert_eq!(c.programme.practitioners, vec!["Sam Jones".to_string()]);
    assert_eq!(c.programme.team.as_deref(), Some("North"));
    let visit = seen(&mut pr, &case, 1, None);
    let h = pr.history(&case).unwrap();
    assert!(
        h.iter()
            .all(|e| e.by == "Sam Jones" && e.role.as_deref() == Some("practitioner"))
    );

    // A practitioner cannot sign off (even her own visit); nothing written.
    let before = pr.history(&case).unwrap().len();
    assert!(matches!(
        pr.sign_off_visit(&case, &visit, SignOffDecision::SignedOff, None),
        Err(Error::NotSupervisor)
    ));
    assert_eq!(pr.history(&case).unwrap().len(), before);

    // Another team's supervisor cannot either.
    share(&mut pr, &mut other, &case);
    assert!(matches!(
        other.sign_off_visit(&case, &visit, SignOffDecision::SignedOff, None),
        Err(Error::NotSupervisor)
    ));

    // The team's supervisor returns it, by a visit id prefix.
    share(&mut pr, &mut su, &case);
    assert_eq!(su.pending_visits().unwrap().len(), 1);
    assert!(matches!(
        su.sign_off_visit(&case, &visit, SignOffDecision::Returned, None),
        Err(Error::Invalid(_))
    ));
    su.sign_off_visit(
        &case,
        &visit[..6],
        SignOffDecision::Returned,
        Some("Add the actions"),
    )
    .unwrap();
    assert_eq!(
        su.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::Returned
    );
    assert!(su.pending_visits().unwrap().is_empty());
    let h = su.history(&case).unwrap();
    assert_eq!(h.last().unwrap().what, "visit returned for amendment");
    assert_eq!(h.last().unwrap().by, "Ali Khan");

    // The practitioner sees it returned, first in her list, with the comment.
    share(&mut su, &mut pr, &case);
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::Returned
    );
    let mine = pr.pending_visits().unwrap();
    assert_eq!(mine[0].visit_id, visit);
    assert_eq!(mine[0].review, ReviewState::Returned);
    assert_eq!(mine[0].comment.as_deref(), Some("Add the actions"));

    // Only she can amend it, and only while it is returned.
    assert!(matches!(
        su.amend_visit(&case, &visit, &VisitDraft::default()),
        Err(Error::NotVisitAuthor)
    ));
    let bad = VisitDraft {
        wellbeing: Some(11),
        ..Default::default()
    };
    assert!(matches!(
        pr.amend_visit(&case, &visit, &bad),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        pr.amend_visit(&case, &visit, &VisitDraft::default()),
        Err(Error::Invalid(_))
    ));
    let change = VisitDraft {
        note: Some("seen; agreed to call the housing officer".into()),
        actions_agreed: Some("Call housing".into()),
        ..Default::default()
    };
    pr.amend_visit(&case, &visit, &change).unwrap();
    let v = &pr.read_case(&case).unwrap().visits[&visit];
    assert_eq!(v.review, ReviewState::Amended);
    assert_eq!(v.note, "seen; agreed to call the housing officer");
    let amendment = v.amendments.values().next().unwrap();
    assert_eq!(amendment.previous["note"], json!("seen"));
    assert_eq!(
        amendment.returned.as_ref().unwrap().comment.as_deref(),
        Some("Add the actions")
    );
    assert!(matches!(
        pr.amend_visit(&case, &visit, &change),
        Err(Error::NotReturned)
    ));

    // Back to the supervisor: awaiting again; signed off.
    share(&mut pr, &mut su, &case);
    let queue = su.pending_visits().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].review, ReviewState::Amended);
    su.sign_off_visit(&case, &visit, SignOffDecision::SignedOff, None)
        .unwrap();
    share(&mut su, &mut pr, &case);
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::SignedOff
    );
    assert_eq!(
        su.history(&case).unwrap().last().unwrap().what,
        "visit signed off"
    );

    // A supervisor cannot sign off a visit she recorded herself.
    let own = seen(&mut su, &case, 0, None);
    assert!(matches!(
        su.sign_off_visit(&case, &own, SignOffDecision::SignedOff, None),
        Err(Error::NotSupervisor)
    ));

    // A device that has not heard of the signer shows it as not valid.
    let (mut stranger, _) = enrolled(
        &tmp.path().join("x"),
        "New Starter",
        Role::Practitioner,
        "North",
        4,
    );
    share(&mut su, &mut stranger, &case);
    assert_eq!(
        stranger.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::NotValid
    );

    // A supervisor's device revoked before the decision: not valid.
    let mut revoked = su_entry.clone();
    revoked.revoked_at = Some(Utc::now().timestamp() - 3600);
    learn(&mut pr, &[revoked]);
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::NotValid
    );
    learn(&mut pr, std::slice::from_ref(&su_entry));
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::SignedOff
    );
}

#[test]
fn a_forged_sign_off_is_shown_as_not_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pr, pr_entry) = enrolled(
        &tmp.path().join("p"),
        "Sam Jones",
        Role::Practitioner,
        "North",
        1,
    );
    let (mut su, su_entry) = enrolled(
        &tmp.path().join("s"),
        "Ali Khan",
        Role::Supervisor,
        "North",
        2,
    );
    // A practitioner's colluding second "device" in the directory, with a
    // key the attacker holds but the role of a practitioner.
    let key = SigningKey::from_bytes(&[5; 32]);
    let accomplice = Signer {
        device_id: [6; 16],
        sign_pk: key.verifying_key().to_bytes(),
        user_id: [8; 16],
        user_name: "Pat Doe".into(),
        role: Role::Practitioner,
        team: Some("North".into()),
        revoked_at: None,
    };
    let all = [pr_entry, su_entry.clone(), accomplice.clone()];
    learn(&mut pr, &all);
    learn(&mut su, &all);
    let case = pr.create_case(&edit("Jasmine")).unwrap();
    let visit = seen(&mut pr, &case, 1, None);
    let case_id = uuid::Uuid::parse_str(&case).unwrap().into_bytes();
    let at = instant_string(Utc::now());

    let forge = |pr: &mut Vault, sign_off: serde_json::Value| {
        let bytes = pr.export_automerge(&case).unwrap();
        let mut doc = CaseDoc::load(&[0xee; 16], Some(&bytes), std::iter::empty()).unwrap();
        let author = Author {
            by: "Ali Khan".into(),
            role: Some("supervisor".into()),
            device: hex::encode(su_entry.device_id),
        };
        doc.apply(
            &author,
            "visit signed off",
            Utc::now(),
            &[Patch::replace(
                ["visits", visit.as_str(), "sign_off"],
                sign_off,
            )],
        )
        .unwrap();
        pr.merge_case_bytes(&case, &doc.save()).unwrap();
    };

    // 1. The supervisor's name and device, no valid signature.
    forge(
        &mut pr,
        json!({"decision": "signed-off", "by": "Ali Khan", "at": at,
               "by_user": hex::encode([2u8; 16]), "device": hex::encode(su_entry.device_id),
               "signature": hex::encode([1u8; 64])}),
    );
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::NotValid
    );
    share(&mut pr, &mut su, &case);
    assert_eq!(
        su.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::NotValid
    );
    // It stays in the supervisor's queue: it still needs a real decision.
    assert_eq!(su.pending_visits().unwrap().len(), 1);

    // 2. A correct signature, but by a practitioner's device.
    let digest = outreach_core::practice::authority::visit_digest(
        &pr.read_case(&case).unwrap().visits[&visit],
    );
    let m = outreach_protocol::sign_off_message(
        &ORG,
        &case_id,
        &visit,
        "signed-off",
        &at,
        None,
        &[8; 16],
        &[6; 16],
        &digest,
    );
    let sig = key.sign(&m).to_bytes();
    forge(
        &mut pr,
        json!({"decision": "signed-off", "by": "Ali Khan", "at": at,
               "by_user": hex::encode([8u8; 16]), "device": hex::encode([6u8; 16]),
               "signature": hex::encode(sig)}),
    );
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::NotValid
    );

    // 3. A genuine sign-off copied onto another visit does not verify there.
    let other = seen(&mut pr, &case, 0, None);
    share(&mut pr, &mut su, &case);
    su.sign_off_visit(&case, &visit, SignOffDecision::SignedOff, None)
        .unwrap();
    let genuine = su.read_case(&case).unwrap().visits[&visit]
        .sign_off
        .clone()
        .unwrap();
    assert_eq!(
        su.read_case(&case).unwrap().visits[&visit].review,
        ReviewState::SignedOff
    );
    let bytes = pr.export_automerge(&case).unwrap();
    let mut doc = CaseDoc::load(&[0xee; 16], Some(&bytes), std::iter::empty()).unwrap();
    let author = Author {
        by: "x".into(),
        role: None,
        device: "x".into(),
    };
    doc.apply(
        &author,
        "visit signed off",
        Utc::now(),
        &[Patch::replace(
            ["visits", other.as_str(), "sign_off"],
            serde_json::to_value(&genuine).unwrap(),
        )],
    )
    .unwrap();
    pr.merge_case_bytes(&case, &doc.save()).unwrap();
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&other].review,
        ReviewState::NotValid
    );

    // A stored "review" value written by a device is ignored.
    let bytes = pr.export_automerge(&case).unwrap();
    let mut doc = CaseDoc::load(&[0xef; 16], Some(&bytes), std::iter::empty()).unwrap();
    doc.apply(
        &author,
        "x",
        Utc::now(),
        &[Patch::new(
            ["visits", other.as_str()],
            json!({"review": "signed-off"}),
        )],
    )
    .unwrap();
    pr.merge_case_bytes(&case, &doc.save()).unwrap();
    assert_eq!(
        pr.read_case(&case).unwrap().visits[&other].review,
        ReviewState::NotValid
    );
}

#[test]
fn visit_ids_accept_unique_prefixes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"), "Sam");
    let case = v.create_case(&edit("Jasmine")).unwrap();
    let a = seen(&mut v, &case, 2, None);
    let c = v.read_case(&case).unwrap();
    assert_eq!(resolve_visit(&c, &a).unwrap(), a);
    assert_eq!(resolve_visit(&c, &a[..8]).unwrap(), a);
    assert_eq!(resolve_visit(&c, &a[..8].to_uppercase()).unwrap(), a);
    assert!(matches!(
        resolve_visit(&c, &a[..3]),
        Err(Error::UnknownRecord("visit"))
    ));
    assert!(matches!(
        resolve_visit(&c, "zzzz"),
        Err(Error::UnknownRecord("visit"))
    ));
    // Visit commands take the prefix the shell prints.
    v.sign_off_visit(&case, &a[..8], SignOffDecision::SignedOff, None)
        .unwrap_err();
}

#[test]
fn signs_of_safety_entries_can_be_revised_and_resolved() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"), "Sam");
    let case = v.create_case(&edit("Jasmine")).unwrap();
    let worry = v
        .add_sos_entry(
            &case,
            SosColumn::Worries,
            "Rent arrears",
            Some(WorryKind::Complicating),
        )
        .unwrap();
    let well = v
        .add_sos_entry(&case, SosColumn::WorkingWell, "Attends every visit", None)
        .unwrap();
    let danger = v
        .add_danger_statement(&case, "Eviction risk", "A stable home by March")
        .unwrap();
    assert!(matches!(
        v.add_sos_entry(&case, SosColumn::WorkingWell, "x", Some(WorryKind::Harm)),
        Err(Error::Invalid(_))
    ));
    v.update_sos(
        &case,
        &worry[..8],
        &SosUpdate {
            text: Some("Rent arrears (plan agreed)".into()),
            kind: Some(WorryKind::Danger),
            ..Default::default()
        },
    )
    .unwrap();
    v.update_sos(
        &case,
        &worry,
        &SosUpdate {
            status: Some(SosStatus::Resolved),
            ..Default::default()
        },
    )
    .unwrap();
    v.update_sos(
        &case,
        &danger,
        &SosUpdate {
            safety_goal: Some("A stable home by April".into()),
            status: Some(SosStatus::Resolved),
            ..Default::default()
        },
    )
    .unwrap();
    let sos = v.read_case(&case).unwrap().signs_of_safety;
    let w = &sos.worries[&worry];
    assert_eq!(w.text, "Rent arrears (plan agreed)");
    assert_eq!(w.kind, Some(WorryKind::Danger));
    assert_eq!(w.status, Some(SosStatus::Resolved));
    assert!(w.resolved_at.is_some());
    assert_eq!(sos.working_well[&well].status, Some(SosStatus::Open));
    assert_eq!(
        sos.danger_statements[&danger].safety_goal,
        "A stable home by April"
    );
    assert_eq!(
        sos.danger_statements[&danger].status,
        Some(SosStatus::Resolved)
    );

    // Bad input: one clear error, nothing written.
    let before = v.history(&case).unwrap().len();
    let bad: Vec<(&str, &str, SosUpdate)> = vec![
        (
            "unknown entry",
            "ffffffff",
            SosUpdate {
                status: Some(SosStatus::Open),
                ..Default::default()
            },
        ),
        ("nothing to change", worry.as_str(), SosUpdate::default()),
        (
            "empty text",
            worry.as_str(),
            SosUpdate {
                text: Some("  ".into()),
                ..Default::default()
            },
        ),
        (
            "kind on working well",
            well.as_str(),
            SosUpdate {
                kind: Some(WorryKind::Harm),
                ..Default::default()
            },
        ),
        (
            "danger on a worry",
            worry.as_str(),
            SosUpdate {
                danger: Some("x".into()),
                ..Default::default()
            },
        ),
        (
            "text on a danger statement",
            danger.as_str(),
            SosUpdate {
                text: Some("x".into()),
                ..Default::default()
            },
        ),
    ];
    for (what, entry, update) in bad {
        assert!(v.update_sos(&case, entry, &update).is_err(), "{what}");
    }
    assert_eq!(v.history(&case).unwrap().len(), before);
}

/// Makes `field` hold two concurrent values in `case`.
fn conflict(
    v: &mut Vault,
    case: &str,
    parent: &[&str],
    leaf: &str,
    a: serde_json::Value,
    b: serde_json::Value,
) {
    let bytes = v.export_automerge(case).unwrap();
    let author = Author {
        by: "x".into(),
        role: None,
        device: "x".into(),
    };
    for (actor, value) in [([0xa1u8; 16], a), ([0xb2u8; 16], b)] {
        let mut doc = CaseDoc::load(&actor, Some(&bytes), std::iter::empty()).unwrap();
        doc.apply(
            &author,
            "edit",
            Utc::now(),
            &[Patch::new(parent.to_vec(), json!({ leaf: value }))],
        )
        .unwrap();
        v.merge_case_bytes(case, &doc.save()).unwrap();
    }
}

/// (parent, leaf, conflicting a, b, a wrong value, a right value)
type Case6<'a> = (
    Vec<&'a str>,
    &'a str,
    serde_json::Value,
    serde_json::Value,
    serde_json::Value,
    serde_json::Value,
);

#[test]
fn conflict_resolution_validates_like_the_original_write() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = vault(&tmp.path().join("v"), "Sam");
    let case = v.create_case(&edit("Jasmine")).unwrap();
    let visit = seen(&mut v, &case, 1, None);
    let vp = ["visits", visit.as_str()];
    let long = "x".repeat(MAX_NOTE_BYTES + 1);
    // (parent, leaf, conflicting a, b, a wrong value, a right value)
    let cases: Vec<Case6> = vec![
        (
            vec!["programme"],
            "phase",
            json!("engagement"),
            json!("programme"),
            json!("nonsense"),
            json!("next-steps"),
        ),
        (
            vec!["profile"],
            "date_of_birth",
            json!("1990-01-01"),
            json!("1991-01-01"),
            json!("31/01/1990"),
            json!("1990-01-31"),
        ),
        (
            vp.to_vec(),
            "at",
            json!(ago(2)),
            json!(ago(3)),
            json!("yesterday"),
            json!(ago(4)),
        ),
        (
            vp.to_vec(),
            "wellbeing",
            json!(4),
            json!(5),
            json!(11),
            json!(6),
        ),
        (
            vec!["profile"],
            "care_leaver",
            json!(true),
            json!(false),
            json!("yes"),
            json!(true),
        ),
        (
            vec!["profile", "children"],
            "count",
            json!(1),
            json!(2),
            json!("three"),
            json!(3),
        ),
        (
            vec!["profile", "children"],
            "count",
            json!(1),
            json!(2),
            json!(99),
            json!(2),
        ),
        (
            vp.to_vec(),
            "kind",
            json!("community"),
            json!("office"),
            json!("teleport"),
            json!("phone"),
        ),
        (
            vec!["profile"],
            "preferred_name",
            json!("Jas"),
            json!("Minnie"),
            json!("  "),
            json!("Jazz"),
        ),
        (
            vp.to_vec(),
            "note",
            json!("a"),
            json!("b"),
            json!(long),
            json!("c"),
        ),
        (
            vec!["programme"],
            "exit_reason",
            json!("completed"),
            json!("disengaged"),
            json!("fed up"),
            json!("moved-away"),
        ),
        (
            vec!["programme"],
            "contact_every_days",
            json!(7),
            json!(10),
            json!(0),
            json!(21),
        ),
    ];
    for (parent, leaf, a, b, wrong, right) in cases {
        conflict(&mut v, &case, &parent, leaf, a, b);
        let field = format!("{}/{leaf}", parent.join("/"));
        assert!(
            v.conflicts(&case).unwrap().iter().any(|c| c.field == field),
            "{field}"
        );
        let before = v.history(&case).unwrap().len();
        let r = v.resolve_conflict(&case, &field, wrong.clone());
        assert!(
            matches!(r, Err(Error::Invalid(ValidationError { ref field, .. })) if field == leaf),
            "{field} accepted {wrong}: {r:?}"
        );
        assert_eq!(
            v.history(&case).unwrap().len(),
            before,
            "{field}: nothing written"
        );
        v.resolve_conflict(&case, &field, right).unwrap();
        assert!(v.conflicts(&case).unwrap().iter().all(|c| c.field != field));
        v.read_case(&case).expect("the case still reads");
    }
    // A list of vocabulary words, checked word by word.
    conflict(
        &mut v,
        &case,
        &vp,
        "domains",
        json!(["housing"]),
        json!(["finance"]),
    );
    let field = format!("visits/{visit}/domains");
    assert!(
        v.resolve_conflict(&case, &field, json!(["housing", "nope"]))
            .is_err()
    );
    v.resolve_conflict(&case, &field, json!(["housing", "finance"]))
        .unwrap();
    assert_eq!(
        v.read_case(&case).unwrap().visits[&visit].domains,
        vec![Domain::Housing, Domain::Finance]
    );
}

#[test]
fn visits_recorded_before_enrolment_still_belong_to_their_author() {
    let tmp = tempfile::tempdir().unwrap();
    // Ali records a visit on her vault before it is enrolled (as "Ali"),
    // then enrols as a supervisor: she still cannot sign off her own visit.
    let mut ali = vault(&tmp.path().join("a"), "Ali");
    let case = ali
        .create_case(&CaseEdit {
            team: Some("North".into()),
            ..edit("Jasmine")
        })
        .unwrap();
    let own = seen(&mut ali, &case, 1, None);
    let req = ali.enrolment_request("code").unwrap();
    let resp = EnrollResponse {
        org_id: ORG,
        org_name: "Council".into(),
        user_id: [2; 16],
        user_name: "Ali Khan".into(),
        role: Role::Supervisor,
        team: Some("North".into()),
        recovery_pk: [9; 32],
    };
    ali.finish_enrolment("http://127.0.0.1:1", true, &resp)
        .unwrap();
    assert!(matches!(
        ali.sign_off_visit(&case, &own, SignOffDecision::SignedOff, None),
        Err(Error::NotSupervisor)
    ));
    let _ = req;

    // Sam records before enrolling; after a return she can still amend it
    // and still sees it in her list.
    let (mut su, su_entry) = enrolled(
        &tmp.path().join("s"),
        "Sue Hill",
        Role::Supervisor,
        "North",
        3,
    );
    let mut sam = vault(&tmp.path().join("p"), "Sam");
    let case = sam
        .create_case(&CaseEdit {
            team: Some("North".into()),
            ..edit("Jess")
        })
        .unwrap();
    let visit = seen(&mut sam, &case, 1, None);
    sam.enrolment_request("code").unwrap();
    let resp = EnrollResponse {
        user_id: [1; 16],
        user_name: "Sam Jones".into(),
        role: Role::Practitioner,
        ..resp
    };
    sam.finish_enrolment("http://127.0.0.1:1", true, &resp)
        .unwrap();
    learn(&mut sam, std::slice::from_ref(&su_entry));
    share(&mut sam, &mut su, &case);
    su.sign_off_visit(
        &case,
        &visit,
        SignOffDecision::Returned,
        Some("More detail"),
    )
    .unwrap();
    share(&mut su, &mut sam, &case);
    assert_eq!(sam.pending_visits().unwrap()[0].visit_id, visit);
    sam.amend_visit(
        &case,
        &visit,
        &VisitDraft {
            note: Some("more detail".into()),
            ..Default::default()
        },
    )
    .unwrap();
}
