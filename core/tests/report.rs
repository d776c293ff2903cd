//! OBA report cards against a fixture team whose every figure was computed
//! by hand (the working is in the comments): contacts on time and late,
//! sign-offs judged against the directory, scaling that rises, falls and
//! stays, goals achieved and stopped, closures, a case of another team; an
//! empty vault and zero denominators; period boundaries; and no name of a
//! woman or any note in any output format.

use std::cell::Cell;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use outreach_core::case::model::*;
use outreach_core::crypto::KdfParams;
use outreach_core::report::{Format, ReportQuery, render};
use outreach_core::vault::{
    ConcernInput, GoalInput, MeetingInput, ReferralInput, ScaleInput, Vault, VaultOptions,
    VisitInput,
};
use outreach_core::{Error, ValidationError};
use outreach_protocol::{EnrollResponse, PullResponse, Role, Signer};
use serde_json::{Value, json};

const PASS: &str = "correct horse battery";
const ORG: [u8; 16] = [7; 16];

thread_local! {
    /// Every vault here reads this clock (one per test thread: tests run in
    /// parallel), so records carry the fixture's times.
    static NOW: Cell<i64> = const { Cell::new(0) };
}

fn clock() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW.with(Cell::get), 0).unwrap_or_default()
}

fn t(s: &str) -> DateTime<Utc> {
    let s = if s.len() == 10 {
        format!("{s}T09:00:00Z")
    } else {
        s.to_string()
    };
    DateTime::parse_from_rfc3339(&s).unwrap().to_utc()
}

fn set(at: DateTime<Utc>) {
    NOW.with(|n| n.set(at.timestamp()));
}

fn local_vault(dir: &Path) -> Vault {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: "Sam Jones".into(),
        team: Some("North".into()),
    };
    let mut v = Vault::create(dir, PASS, opts, None).unwrap();
    v.set_clock(clock);
    v
}

fn enrolled(dir: &Path, name: &str, role: Role, team: &str, user: u8) -> (Vault, Signer) {
    let mut v = local_vault(dir);
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

/// Women's names and every piece of free text in the fixture: none may
/// appear in any rendering of the report.
const NAMES: &[&str] = &[
    "Amelia", "Bethany", "Chloe", "Dana", "Esme", "Fay", "Gail", "Harriet",
];
const SECRET: &str = "SECRET";

fn new_case(
    v: &mut Vault,
    name: &str,
    opened: &str,
    every: Option<u32>,
    referral: Option<&str>,
) -> String {
    set(t(opened));
    v.create_case(&CaseEdit {
        preferred_name: Some(name.into()),
        legal_name: Some(format!("{name} {SECRET}-surname")),
        address: Some(format!("{SECRET}-address")),
        contact_every_days: every,
        referral_date: referral.map(Into::into),
        ..Default::default()
    })
    .unwrap()
}

/// Records a contact at `at`; it is recorded an hour later.
fn contact(
    v: &mut Vault,
    case: &str,
    at: &str,
    kind: ContactKind,
    outcome: Outcome,
    next: Option<&str>,
) -> String {
    set(t(at) + Duration::hours(1));
    let mut vi = VisitInput::new(at, kind, outcome, format!("{SECRET}-note about {case}"));
    vi.her_words = Some(format!("{SECRET}-her-words"));
    vi.actions_agreed = Some(format!("{SECRET}-actions"));
    vi.next_contact_due = next.map(Into::into);
    v.add_visit(case, &vi).unwrap()
}

fn goal(v: &mut Vault, case: &str, on: &str, domain: Domain, status: GoalStatus) -> String {
    set(t(on));
    let text = if domain == Domain::Contraception {
        String::new()
    } else {
        format!("{SECRET}-goal")
    };
    v.add_goal(
        case,
        &GoalInput {
            domain,
            text,
            status: Some(status),
            target_date: None,
            review_date: (domain == Domain::Contraception).then(|| "2026-06-01".to_string()),
        },
    )
    .unwrap()
}

fn scale(v: &mut Vault, case: &str, on: &str, score: i64) {
    v.add_scale(
        case,
        &ScaleInput {
            score,
            date: Some(on.into()),
            view: Some(ScaleView::Woman),
            note: Some(format!("{SECRET}-scale-note")),
            question: Some(format!("{SECRET}-question")),
        },
    )
    .unwrap();
}

fn meeting(v: &mut Vault, case: &str, on: &str, kind: MeetingKind) {
    v.add_meeting(
        case,
        &MeetingInput {
            kind,
            date: on.into(),
            attendees: vec![format!("{SECRET}-attendee")],
            summary: format!("{SECRET}-summary"),
        },
    )
    .unwrap();
}

fn share(from: &mut Vault, to: &mut Vault, case: &str) {
    let bytes = from.export_automerge(case).unwrap();
    to.import_case(&bytes).unwrap();
}

/// Signs a contact off (or returns it) `days` after it was recorded.
fn decide(su: &mut Vault, case: &str, visit: &str, at: &str, days: f64, d: SignOffDecision) {
    let recorded = t(at) + Duration::hours(1);
    set(recorded + Duration::seconds((days * 86_400.0) as i64));
    let comment = (d == SignOffDecision::Returned).then_some("SECRET-comment");
    su.sign_off_visit(case, visit, d, comment).unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    su: Vault,
}

/// The team (see the module's comment for what each case is for). The
/// supervisor's vault holds every case; the report runs there.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let (mut sam, sam_e) = enrolled(
        &tmp.path().join("sam"),
        "Sam Jones",
        Role::Practitioner,
        "North",
        1,
    );
    let (mut jo, jo_e) = enrolled(
        &tmp.path().join("jo"),
        "Jo Smith",
        Role::Practitioner,
        "North",
        2,
    );
    let (mut bo, bo_e) = enrolled(
        &tmp.path().join("bo"),
        "Bo Lee",
        Role::Practitioner,
        "South",
        3,
    );
    let (mut su, su_e) = enrolled(
        &tmp.path().join("ali"),
        "Ali Khan",
        Role::Supervisor,
        "North",
        4,
    );
    let all = [sam_e, jo_e, bo_e, su_e];
    for v in [&mut sam, &mut jo, &mut bo, &mut su] {
        v.apply_page(&PullResponse {
            signers: all.to_vec(),
            ..Default::default()
        })
        .unwrap();
    }
    use ContactKind::*;
    use Outcome::*;

    // A (Sam): referred 2025-11-20, opened 2025-12-01, every 14 days.
    let a = new_case(&mut sam, "Amelia", "2025-12-01", None, Some("2025-11-20"));
    contact(&mut sam, &a, "2025-12-10T10:00:00Z", Home, Completed, None);
    // due 12-24 (12-10 + 14): late
    let a2 = contact(
        &mut sam,
        &a,
        "2026-01-05T10:00:00Z",
        Home,
        Completed,
        Some("2026-01-12T10:00:00Z"),
    );
    // due 01-12T10:00 (next date set): on time
    let a3 = contact(&mut sam, &a, "2026-01-12T09:00:00Z", Phone, Completed, None);
    // due 01-26T09:00: on time (an attempt counts for the rule)
    contact(
        &mut sam,
        &a,
        "2026-01-20T10:00:00Z",
        Attempted,
        NoAnswer,
        None,
    );
    // due 02-03T10:00: late
    let a5 = contact(&mut sam, &a, "2026-02-20T10:00:00Z", Home, Completed, None);
    // at the end of March: due 03-06 → overdue
    scale(&mut sam, &a, "2026-01-05", 3);
    scale(&mut sam, &a, "2026-03-01", 6); // 3 → 6: improved
    let g = goal(
        &mut sam,
        &a,
        "2025-12-02",
        Domain::Housing,
        GoalStatus::InProgress,
    );
    sam.set_goal_status(&a, &g, GoalStatus::Achieved).unwrap();
    goal(
        &mut sam,
        &a,
        "2025-12-02",
        Domain::MentalHealth,
        GoalStatus::InProgress,
    );
    goal(
        &mut sam,
        &a,
        "2025-12-02",
        Domain::Contraception,
        GoalStatus::InProgress,
    );
    meeting(&mut sam, &a, "2026-02-10", MeetingKind::Review);
    meeting(&mut sam, &a, "2025-12-20", MeetingKind::Fgc); // before the period
    sam.add_referral(
        &a,
        &ReferralInput {
            agency: format!("{SECRET}-agency"),
            reason: format!("{SECRET}-reason"),
            date: Some("2026-01-15".into()),
            status: None,
        },
    )
    .unwrap();
    sam.add_concern(
        &a,
        &ConcernInput {
            category: format!("{SECRET}-category"),
            severity: Severity::High,
            description: format!("{SECRET}-concern"),
            escalated_to: None,
        },
    )
    .unwrap();
    sam.add_sos_entry(
        &a,
        SosColumn::Worries,
        &format!("{SECRET}-worry"),
        Some(WorryKind::Danger),
    )
    .unwrap();

    // B (Sam): opened 2026-02-01 09:00 (a new referral), every 7 days.
    let b = new_case(&mut sam, "Bethany", "2026-02-01", Some(7), None);
    // due 02-08T09:00: on time
    let b1 = contact(
        &mut sam,
        &b,
        "2026-02-05T10:00:00Z",
        Office,
        Completed,
        None,
    );
    // due 02-12T10:00: late
    let b2 = contact(&mut sam, &b, "2026-02-20T10:00:00Z", Video, Completed, None);
    // due 02-27T10:00: late; cancelled = an attempt. At the end of March
    // due 04-06: not overdue.
    contact(
        &mut sam,
        &b,
        "2026-03-30T10:00:00Z",
        Community,
        Cancelled,
        None,
    );
    scale(&mut sam, &b, "2026-02-05", 4); // one reading: not compared
    goal(
        &mut sam,
        &b,
        "2026-02-01",
        Domain::Finance,
        GoalStatus::NotStarted,
    );
    meeting(&mut sam, &b, "2026-03-05", MeetingKind::Review);

    // C (Jo): opened 2025-06-01, closed 2026-02-15 having completed.
    let c = new_case(&mut jo, "Chloe", "2025-06-01", None, None);
    contact(&mut jo, &c, "2025-12-30T10:00:00Z", Home, Completed, None);
    // due 01-13T10:00: on time; never signed off
    contact(&mut jo, &c, "2026-01-10T10:00:00Z", Home, Completed, None);
    scale(&mut jo, &c, "2025-09-01", 7);
    scale(&mut jo, &c, "2026-01-10", 5); // 7 → 5: fell
    goal(
        &mut jo,
        &c,
        "2025-06-02",
        Domain::EducationEmployment,
        GoalStatus::Achieved,
    );
    meeting(&mut jo, &c, "2026-01-20", MeetingKind::Review);
    meeting(&mut jo, &c, "2026-01-25", MeetingKind::Network);
    jo.close_case(
        &c,
        ExitReason::Completed,
        Some("SECRET-exit-note"),
        Some("2026-02-15"),
    )
    .unwrap();

    // D (Jo): closed before the period: held, but active in nothing.
    let d = new_case(&mut jo, "Dana", "2025-05-01", None, None);
    contact(&mut jo, &d, "2025-11-01T10:00:00Z", Home, Completed, None);
    jo.close_case(&d, ExitReason::Disengaged, None, Some("2025-11-30"))
        .unwrap();

    // E (Jo): referred 03-18, opened 03-20 09:00, no contact yet (due
    // 04-03: not overdue at the end of March), no plan; scaling 2 → 2.
    let e = new_case(&mut jo, "Esme", "2026-03-20", None, Some("2026-03-18"));
    scale(&mut jo, &e, "2026-03-21", 2);
    scale(&mut jo, &e, "2026-03-28", 2);

    // F (Jo): last seen 2025-12-01 (due 12-15: overdue); pause stopped,
    // a goal stopped; scaling readings all before the period.
    let f = new_case(&mut jo, "Fay", "2025-10-01", None, None);
    contact(&mut jo, &f, "2025-12-01T10:00:00Z", Home, Completed, None);
    goal(
        &mut jo,
        &f,
        "2025-10-02",
        Domain::Contraception,
        GoalStatus::Stopped,
    );
    goal(
        &mut jo,
        &f,
        "2025-10-02",
        Domain::Housing,
        GoalStatus::Stopped,
    );
    scale(&mut jo, &f, "2025-10-05", 5);
    scale(&mut jo, &f, "2025-11-05", 5);

    // G (Bo, team South): a contact in the period; left out by --team North.
    let g = new_case(&mut bo, "Gail", "2025-12-01", None, None);
    contact(&mut bo, &g, "2026-01-15T10:00:00Z", Home, Completed, None);

    for case in [&a, &b] {
        share(&mut sam, &mut su, case);
    }
    for case in [&c, &d, &e, &f] {
        share(&mut jo, &mut su, case);
    }
    share(&mut bo, &mut su, &g);

    // Sign-offs by Ali: A2 after 2 days, A3 after 5, B1 after 10, B2 after
    // 1; A5 returned (not signed off). Median of 1, 2, 5, 10 = 3.5.
    decide(
        &mut su,
        &a,
        &a2,
        "2026-01-05T10:00:00Z",
        2.0,
        SignOffDecision::SignedOff,
    );
    decide(
        &mut su,
        &a,
        &a3,
        "2026-01-12T09:00:00Z",
        5.0,
        SignOffDecision::SignedOff,
    );
    decide(
        &mut su,
        &a,
        &a5,
        "2026-02-20T10:00:00Z",
        3.0,
        SignOffDecision::Returned,
    );
    decide(
        &mut su,
        &b,
        &b1,
        "2026-02-05T10:00:00Z",
        10.0,
        SignOffDecision::SignedOff,
    );
    decide(
        &mut su,
        &b,
        &b2,
        "2026-02-20T10:00:00Z",
        1.0,
        SignOffDecision::SignedOff,
    );

    // The report is asked for on 10 April 2026.
    set(t("2026-04-10T12:00:00Z"));
    Fixture { _tmp: tmp, su }
}

fn q1(team: Option<&str>) -> ReportQuery {
    ReportQuery {
        from: Some("2026-01-01".into()),
        to: Some("2026-03-31".into()),
        team: team.map(Into::into),
        practitioner: None,
    }
}

fn kinds(pairs: &[(&str, u64)]) -> Value {
    let mut m = serde_json::Map::new();
    for k in ContactKind::ALL {
        m.insert(k.as_str().into(), json!(0));
    }
    for (k, n) in pairs {
        m.insert((*k).into(), json!(n));
    }
    Value::Object(m)
}

fn exits(pairs: &[(&str, u64)]) -> Value {
    let mut m = serde_json::Map::new();
    for k in ExitReason::ALL {
        m.insert(k.as_str().into(), json!(0));
    }
    for (k, n) in pairs {
        m.insert((*k).into(), json!(n));
    }
    Value::Object(m)
}

#[test]
fn the_fixture_team_matches_the_hand_computed_card() {
    let mut fx = fixture();
    let r = fx.su.report(&q1(Some("North"))).unwrap();
    let j = serde_json::to_value(&r).unwrap();

    assert_eq!(j["format"], "outreach.report.v1");
    assert_eq!(
        j["period"],
        json!({"from": "2026-01-01", "to": "2026-03-31"})
    );
    assert_eq!(j["team"], "North");
    assert_eq!(j["cases"], 6); // A–F; G is South
    assert_eq!(j["unreadable_cases"], 0);

    assert_eq!(
        j["how_much"],
        json!({
            "active_cases": 5,       // A, B, C, E, F (D closed before)
            "new_referrals": 2,      // B (opened 02-01), E (referred 03-18)
            "closures": 1,           // C
            "contacts_completed": 6, // A2 A3 A5, B1 B2, C1
            "contacts_attempted": 2, // A4 (attempted), B3 (cancelled)
            "contacts_by_kind": kinds(&[("home", 3), ("phone", 1), ("attempted", 1),
                ("office", 1), ("video", 1), ("community", 1)]),
            "meetings": 4,           // A review, B review, C review + network
            "referrals_made": 1,
        })
    );
    assert_eq!(
        j["how_well"],
        json!({
            "contacts_on_time_pct": 50.0,        // A3 A4, B1, C1 of 8
            "overdue_cases": 2,                  // A, F
            "visits_signed_off_pct": 50.0,       // A2 A3 B1 B2 of 8
            "median_days_to_sign_off": 3.5,      // 1, 2, 5, 10
            "plans_reviewed_in_period_pct": 75.0, // A B C of A B C F
            "denominators": {
                "contacts_on_time": 8,
                "visits_signed_off": 8,
                "median_days_to_sign_off": 4,
                "plans_reviewed_in_period": 4,
            },
        })
    );
    assert_eq!(
        j["better_off"],
        json!({
            "scaling_improved_pct": 33.3, // A of A (up), C (down), E (same)
            "scaling_fell_pct": 33.3,     // C
            "goals_achieved_pct": 40.0,   // A housing, C education of 5
            "pause_agreed_pct": 20.0,     // A of 5 active (F's stopped)
            "completed_programme": 1,     // C
            "exits_by_reason": exits(&[("completed", 1)]),
            "denominators": {"scaling": 3, "goals_achieved": 5, "pause_agreed": 5},
        })
    );

    let names: Vec<&str> = r.by_practitioner.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Jo Smith", "Sam Jones"]);
    let jo = &j["by_practitioner"][0];
    assert_eq!(jo["cases"], 4);
    assert_eq!(
        jo["how_much"],
        json!({
            "active_cases": 3, "new_referrals": 1, "closures": 1,
            "contacts_completed": 1, "contacts_attempted": 0,
            "contacts_by_kind": kinds(&[("home", 1)]),
            "meetings": 2, "referrals_made": 0,
        })
    );
    assert_eq!(
        jo["how_well"],
        json!({
            "contacts_on_time_pct": 100.0, "overdue_cases": 1,
            "visits_signed_off_pct": 0.0, "median_days_to_sign_off": null,
            "plans_reviewed_in_period_pct": 50.0,
            "denominators": {"contacts_on_time": 1, "visits_signed_off": 1,
                "median_days_to_sign_off": 0, "plans_reviewed_in_period": 2},
        })
    );
    assert_eq!(
        jo["better_off"],
        json!({
            "scaling_improved_pct": 0.0, "scaling_fell_pct": 50.0,
            "goals_achieved_pct": 50.0, "pause_agreed_pct": 0.0,
            "completed_programme": 1, "exits_by_reason": exits(&[("completed", 1)]),
            "denominators": {"scaling": 2, "goals_achieved": 2, "pause_agreed": 3},
        })
    );
    let sam = &j["by_practitioner"][1];
    assert_eq!(sam["cases"], 2);
    assert_eq!(
        sam["how_much"],
        json!({
            "active_cases": 2, "new_referrals": 1, "closures": 0,
            "contacts_completed": 5, "contacts_attempted": 2,
            "contacts_by_kind": kinds(&[("home", 2), ("phone", 1), ("attempted", 1),
                ("office", 1), ("video", 1), ("community", 1)]),
            "meetings": 2, "referrals_made": 1,
        })
    );
    assert_eq!(
        sam["how_well"],
        json!({
            "contacts_on_time_pct": 42.9, "overdue_cases": 1,
            "visits_signed_off_pct": 57.1, "median_days_to_sign_off": 3.5,
            "plans_reviewed_in_period_pct": 100.0,
            "denominators": {"contacts_on_time": 7, "visits_signed_off": 7,
                "median_days_to_sign_off": 4, "plans_reviewed_in_period": 2},
        })
    );
    assert_eq!(
        sam["better_off"],
        json!({
            "scaling_improved_pct": 100.0, "scaling_fell_pct": 0.0,
            "goals_achieved_pct": 33.3, "pause_agreed_pct": 50.0,
            "completed_programme": 0, "exits_by_reason": exits(&[]),
            "denominators": {"scaling": 1, "goals_achieved": 3, "pause_agreed": 2},
        })
    );

    assert_eq!(
        j["charts"]["contacts_by_month"],
        json!([
            {"month": "2026-01", "completed": 3, "attempted": 1},
            {"month": "2026-02", "completed": 3, "attempted": 0},
            {"month": "2026-03", "completed": 0, "attempted": 1},
        ])
    );
    assert_eq!(
        j["charts"]["scaling_by_month"],
        json!([
            {"month": "2026-01", "readings": 2, "median": 4.0},
            {"month": "2026-02", "readings": 1, "median": 4.0},
            {"month": "2026-03", "readings": 3, "median": 2.0},
        ])
    );
    assert_eq!(
        j["charts"]["sign_off_days"],
        json!([
            {"label": "0–1 days", "count": 1},
            {"label": "2–7 days", "count": 2},
            {"label": "8–14 days", "count": 1},
            {"label": "15–28 days", "count": 0},
            {"label": "over 28 days", "count": 0},
        ])
    );

    // Without the team filter, Gail's case (South) counts too.
    let all = fx.su.report(&q1(None)).unwrap();
    assert_eq!(all.cases, 7);
    assert_eq!(all.how_much.contacts_completed, 7);
    assert_eq!(all.how_much.contacts_by_kind["home"], 4);
    // One practitioner's cases.
    let only_jo = fx
        .su
        .report(&ReportQuery {
            practitioner: Some("Jo Smith".into()),
            ..q1(None)
        })
        .unwrap();
    assert_eq!(only_jo.cases, 4);
    assert_eq!(only_jo.how_much, r.by_practitioner[0].how_much);
    assert_eq!(only_jo.how_well, r.by_practitioner[0].how_well);
    assert_eq!(only_jo.better_off, r.by_practitioner[0].better_off);
}

#[test]
fn overdue_now_is_the_caseloads_overdue_and_the_default_period_is_three_months() {
    let mut fx = fixture();
    let r = fx.su.report(&ReportQuery::default()).unwrap();
    assert_eq!(r.period.to, "2026-04-10");
    assert_eq!(r.period.from, "2026-01-11");
    let caseload = fx.su.caseload(false).unwrap();
    let overdue = caseload.iter().filter(|s| s.contact.overdue).count() as u64;
    // A (due 03-06), B (04-06), E (04-03), F (12-15), G (01-29).
    assert_eq!(overdue, 5);
    assert_eq!(r.how_well.overdue_cases, overdue);
}

#[test]
fn no_name_of_a_woman_and_no_note_in_any_output() {
    let mut fx = fixture();
    for q in [q1(Some("North")), q1(None), ReportQuery::default()] {
        let r = fx.su.report(&q).unwrap();
        for format in Format::ALL {
            for exact in [false, true] {
                let out = render(&r, *format, exact);
                assert!(!out.is_empty());
                for name in NAMES {
                    assert!(
                        !out.contains(name),
                        "{name} in the {format:?} report (exact: {exact})"
                    );
                }
                assert!(
                    !out.to_ascii_uppercase().contains(SECRET),
                    "free text in the {format:?} report (exact: {exact})"
                );
                // No record or case id either.
                for id in fx.su.case_ids().unwrap() {
                    assert!(
                        !out.contains(&id[..8]),
                        "a case id in the {format:?} report"
                    );
                }
            }
        }
    }
}

#[test]
fn small_numbers_are_hidden_in_csv_and_html_unless_exact() {
    let mut fx = fixture();
    let r = fx.su.report(&q1(Some("North"))).unwrap();
    let csv = render(&r, Format::Csv, false);
    assert!(csv.starts_with("scope,question,figure,value\n"));
    assert!(csv.contains("all,how_much,active_cases,5\n"));
    assert!(csv.contains("all,how_much,closures,< 5\n"));
    assert!(csv.contains("all,how_much,contacts_completed,6\n"));
    assert!(csv.contains("all,how_much,contacts_by_kind.home,< 5\n"));
    assert!(csv.contains("all,how_much,contacts_by_kind.text,0\n"));
    // 50 % of 8 contacts is shown; 3.5 days over 4 sign-offs is not.
    assert!(csv.contains("all,how_well,contacts_on_time_pct,50\n"));
    assert!(csv.contains("all,how_well,median_days_to_sign_off,n < 5\n"));
    assert!(csv.contains("all,better_off,goals_achieved_pct,40\n"));
    assert!(csv.contains("all,better_off,scaling_improved_pct,n < 5\n"));
    // Jo's median has no sign-off at all: empty, not 0.
    assert!(csv.contains("practitioner:Jo Smith,how_well,median_days_to_sign_off,\n"));
    let exact = render(&r, Format::Csv, true);
    assert!(exact.contains("all,how_much,closures,1\n"));
    assert!(exact.contains("all,how_well,median_days_to_sign_off,3.5\n"));
    assert!(exact.contains("all,better_off,scaling_improved_pct,33.3\n"));

    let html = render(&r, Format::Html, false);
    assert!(html.starts_with("<!doctype html>"));
    for section in [
        "How much did we do?",
        "How well did we do it?",
        "Is anyone better off?",
    ] {
        assert!(html.contains(section));
    }
    for chart in ["chart-contacts", "chart-sign-off", "chart-scaling"] {
        assert!(
            html.contains(&format!("<figure id=\"{chart}\">")),
            "{chart}"
        );
    }
    assert_eq!(html.matches("<svg").count(), 3);
    // Self-contained: nothing to fetch, no script.
    for fetch in ["src=", "href=", "<script", "url(", "@import"] {
        assert!(!html.contains(fetch), "{fetch} in the HTML");
    }
    // The only address is the SVG namespace, which is never fetched.
    assert_eq!(
        html.matches("//").count(),
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    assert!(html.contains("&lt; 5"));
    assert!(!render(&r, Format::Html, true).contains("n &lt; 5"));
    // Text and JSON are exact.
    let text = render(&r, Format::Text, false);
    assert!(text.contains("Closures"));
    assert!(text.contains("3.5 (of 4)"));
}

#[test]
fn an_empty_vault_reports_zeros_and_nulls_never_nan() {
    let tmp = tempfile::tempdir().unwrap();
    set(t("2026-04-10T12:00:00Z"));
    let mut v = local_vault(&tmp.path().join("v"));
    let r = v.report(&q1(None)).unwrap();
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["cases"], 0);
    assert_eq!(j["how_much"]["active_cases"], 0);
    assert_eq!(j["how_much"]["contacts_by_kind"], kinds(&[]));
    for key in [
        "contacts_on_time_pct",
        "visits_signed_off_pct",
        "median_days_to_sign_off",
        "plans_reviewed_in_period_pct",
    ] {
        assert_eq!(j["how_well"][key], Value::Null, "{key}");
    }
    for key in [
        "scaling_improved_pct",
        "scaling_fell_pct",
        "goals_achieved_pct",
        "pause_agreed_pct",
    ] {
        assert_eq!(j["better_off"][key], Value::Null, "{key}");
    }
    assert_eq!(j["by_practitioner"], json!([]));
    for format in Format::ALL {
        for exact in [false, true] {
            let out = render(&r, *format, exact);
            assert!(!out.contains("NaN") && !out.contains("inf"), "{format:?}");
        }
    }
    assert!(render(&r, Format::Html, false).contains("no data"));
}

#[test]
fn zero_denominators_give_null_while_other_figures_count() {
    // One case with contacts but no goals, no scaling, no sign-off.
    let tmp = tempfile::tempdir().unwrap();
    let mut v = local_vault(&tmp.path().join("v"));
    let a = new_case(&mut v, "Harriet", "2026-01-02", None, None);
    contact(
        &mut v,
        &a,
        "2026-01-10T10:00:00Z",
        ContactKind::Home,
        Outcome::Completed,
        None,
    );
    set(t("2026-04-10T12:00:00Z"));
    let r = v.report(&q1(None)).unwrap();
    assert_eq!(r.how_much.active_cases, 1);
    assert_eq!(r.how_well.contacts_on_time_pct, Some(100.0));
    assert_eq!(r.how_well.visits_signed_off_pct, Some(0.0)); // 0 of 1: a real zero
    assert_eq!(r.how_well.median_days_to_sign_off, None);
    assert_eq!(r.how_well.plans_reviewed_in_period_pct, None); // no plan
    assert_eq!(r.better_off.scaling_improved_pct, None);
    assert_eq!(r.better_off.goals_achieved_pct, None);
    assert_eq!(r.better_off.pause_agreed_pct, Some(0.0));
    assert_eq!(r.how_well.overdue_cases, 1); // 01-24 due, judged 03-31
}

#[test]
fn period_boundaries_are_inclusive_days_in_utc() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = local_vault(&tmp.path().join("v"));
    let a = new_case(&mut v, "Harriet", "2025-12-01", None, None);
    for at in [
        "2025-12-31T23:59:59Z", // out
        "2026-01-01T00:00:00Z", // in: the first second of `from`
        "2026-03-31T23:59:59Z", // in: the last second of `to`
        "2026-04-01T00:00:00Z", // out
    ] {
        contact(&mut v, &a, at, ContactKind::Home, Outcome::Completed, None);
    }
    // An instant with an offset is placed by its UTC time: 00:30 on
    // 1 April in +01:00 is 23:30 on 31 March UTC: in.
    contact(
        &mut v,
        &a,
        "2026-04-01T00:30:00+01:00",
        ContactKind::Phone,
        Outcome::Completed,
        None,
    );
    scale(&mut v, &a, "2026-01-01", 2);
    scale(&mut v, &a, "2026-03-31", 4);
    scale(&mut v, &a, "2026-04-01", 1); // after `to`: not the latest
    v.add_meeting(
        &a,
        &MeetingInput {
            kind: MeetingKind::Fgc,
            date: "2026-03-31".into(),
            attendees: vec![],
            summary: String::new(),
        },
    )
    .unwrap();
    v.add_meeting(
        &a,
        &MeetingInput {
            kind: MeetingKind::Fgc,
            date: "2025-12-31".into(),
            attendees: vec![],
            summary: String::new(),
        },
    )
    .unwrap();
    set(t("2026-06-01T12:00:00Z"));
    let r = v.report(&q1(None)).unwrap();
    assert_eq!(r.how_much.contacts_completed, 3);
    assert_eq!(r.how_much.meetings, 1);
    assert_eq!(r.better_off.scaling_improved_pct, Some(100.0)); // 2 → 4
    // A case closed on the first day of the period was active in it; one
    // opened on the day after it was not.
    v.close_case(&a, ExitReason::Withdrew, None, Some("2026-01-01"))
        .unwrap();
    let _b = new_case(&mut v, "Harriet", "2026-04-01", None, None);
    set(t("2026-06-01T12:00:00Z"));
    let r = v.report(&q1(None)).unwrap();
    assert_eq!(r.cases, 2);
    assert_eq!(r.how_much.active_cases, 1);
    assert_eq!(r.how_much.closures, 1);
    assert_eq!(r.better_off.exits_by_reason["withdrew"], 1);
    // One-day period.
    let one = v
        .report(&ReportQuery {
            from: Some("2026-03-31".into()),
            to: Some("2026-03-31".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(one.how_much.contacts_completed, 2);
    assert_eq!(one.charts.contacts_by_month.len(), 1);
}

#[test]
fn bad_periods_are_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = local_vault(&tmp.path().join("v"));
    let field = |e: Error| match e {
        Error::Invalid(ValidationError { field, .. }) => field,
        other => panic!("{other}"),
    };
    let q = |from: &str, to: &str| ReportQuery {
        from: Some(from.into()),
        to: Some(to.into()),
        ..Default::default()
    };
    assert_eq!(
        field(v.report(&q("2026-04-01", "2026-03-31")).unwrap_err()),
        "from"
    );
    assert_eq!(
        field(v.report(&q("2026-13-01", "2026-03-31")).unwrap_err()),
        "from"
    );
    assert_eq!(
        field(v.report(&q("2026-01-01", "31/03/2026")).unwrap_err()),
        "to"
    );
    assert_eq!(
        field(v.report(&q("2006-01-01", "2026-03-31")).unwrap_err()),
        "from"
    );
    let e = v
        .report(&ReportQuery {
            team: Some(" ".repeat(3)),
            ..Default::default()
        })
        .err();
    // A blank filter is no filter, or refused: never a crash.
    if let Some(e) = e {
        assert_eq!(field(e), "team");
    }
}

#[test]
fn history_entered_later_counts_from_when_it_happened() {
    // A case created on a device in June, with contacts of February typed
    // in afterwards: it was active (and a new referral) in the first quarter.
    let tmp = tempfile::tempdir().unwrap();
    let mut v = local_vault(&tmp.path().join("v"));
    let a = new_case(&mut v, "Harriet", "2026-06-01", None, None);
    contact(
        &mut v,
        &a,
        "2026-02-10T10:00:00Z",
        ContactKind::Home,
        Outcome::Completed,
        None,
    );
    set(t("2026-06-02T12:00:00Z"));
    let r = v.report(&q1(None)).unwrap();
    assert_eq!(r.how_much.active_cases, 1);
    assert_eq!(r.how_much.new_referrals, 1);
    assert_eq!(r.how_much.contacts_completed, 1);
}
