//! The `outreach` shell as a user (or a script) drives it.

use std::path::Path;
use std::process::{Command, Output};

const PASS: &str = "correct horse battery";

fn outreach(vault: &Path, pass: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_outreach"));
    cmd.args(args)
        .env("OUTREACH_VAULT", vault)
        .env_remove("OUTREACH_NEW_PASSPHRASE");
    match pass {
        Some(p) => cmd.env("OUTREACH_PASSPHRASE", p),
        None => cmd.env_remove("OUTREACH_PASSPHRASE"),
    };
    cmd.stdin(std::process::Stdio::null());
    cmd.output().unwrap()
}

fn ok(vault: &Path, args: &[&str]) -> String {
    let out = outreach(vault, Some(PASS), args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Fails with exit `code` and exactly one line on stderr.
fn fails(vault: &Path, pass: Option<&str>, args: &[&str], code: i32) -> String {
    let out = outreach(vault, pass, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn init(dir: &Path, extra: &[&str]) {
    let mut args = vec!["init", "--practitioner", "Sam Jones", "--kdf", "minimum"];
    args.extend_from_slice(extra);
    ok(dir, &args);
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn walk_through_with_global_flags_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    // --json before and after the subcommand, --vault after it.
    let id = json(&ok(
        &v,
        &[
            "--json",
            "case",
            "new",
            "--name",
            "Jasmine",
            "--dob",
            "1996-04-02",
        ],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_outreach"))
        .args(["case", "show", &id, "--json", "--vault"])
        .arg(&v)
        .env("OUTREACH_PASSPHRASE", PASS)
        .env_remove("OUTREACH_VAULT")
        .output()
        .unwrap();
    assert!(out.status.success());
    let case = json(std::str::from_utf8(&out.stdout).unwrap());
    assert_eq!(case["profile"]["preferred_name"], "Jasmine");

    let visit = ok(
        &v,
        &[
            "visit",
            "add",
            &id,
            "--at",
            "2026-11-20T10:00:00Z",
            "--kind",
            "home",
            "--outcome",
            "completed",
            "--note",
            "Talked about housing",
            "--next",
            "2026-11-27T10:00:00Z",
            "--wellbeing",
            "6",
            "--domain",
            "housing",
        ],
    );
    let visit = visit.trim();
    assert_eq!(visit.len(), 36, "prints the visit id: {visit}");
    let goal = json(&ok(
        &v,
        &[
            "goal", "add", &id, "--domain", "housing", "--text", "Tenancy", "--json",
        ],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &v,
        &[
            "goal",
            "action",
            &id,
            &goal,
            "--text",
            "Call housing",
            "--owner",
            "practitioner",
        ],
    );
    ok(
        &v,
        &["scale", "add", &id, "--score", "7", "--view", "woman"],
    );
    ok(
        &v,
        &[
            "sos",
            "add",
            &id,
            "--column",
            "working-well",
            "--text",
            "Keeps appointments",
        ],
    );
    ok(
        &v,
        &[
            "concern",
            "add",
            &id,
            "--category",
            "housing",
            "--severity",
            "medium",
            "--text",
            "Arrears letter",
        ],
    );
    ok(&v, &["consent", "add", &id, "--what", "Share with GP"]);
    ok(
        &v,
        &[
            "referral",
            "add",
            &id,
            "--agency",
            "Citizens Advice",
            "--reason",
            "Debt",
        ],
    );
    ok(
        &v,
        &[
            "meeting",
            "add",
            &id,
            "--kind",
            "fgc",
            "--date",
            "2026-11-22",
            "--attendee",
            "Jasmine",
        ],
    );
    ok(
        &v,
        &[
            "event",
            "add",
            &id,
            "--kind",
            "pregnancy",
            "--date",
            "2026-11-23",
        ],
    );
    // Not enrolled: no one here has a supervisor's authority.
    let err = fails(
        &v,
        Some(PASS),
        &[
            "visit",
            "sign-off",
            &id,
            &visit[..8],
            "--return",
            "--comment",
            "Add actions agreed",
        ],
        1,
    );
    assert!(
        err.contains("only a supervisor of the case's team"),
        "{err}"
    );
    ok(
        &v,
        &[
            "case",
            "edit",
            &id,
            "--phone",
            "07700900000",
            "--phase",
            "programme",
        ],
    );

    let list = json(&ok(&v, &["case", "list", "--json"]));
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["next_contact_due"], "2026-11-27T10:00:00Z");
    assert_eq!(list[0]["awaiting_sign_off"], 1);
    assert_eq!(list[0]["phase"], "programme");
    let text = ok(&v, &["case", "list"]);
    assert!(text.contains("Jasmine"));
    let concerns = json(&ok(&v, &["concern", "list", "--json"]));
    assert_eq!(concerns.as_array().unwrap().len(), 1);
    let history = json(&ok(&v, &["history", &id, "--json"]));
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["by"] == "Sam Jones")
    );
    let timeline = json(&ok(&v, &["case", "timeline", &id, "--json"]));
    assert!(timeline.as_array().unwrap().len() >= 6);

    let out_json = tmp.path().join("export.json");
    ok(
        &v,
        &[
            "export",
            &id,
            "--format",
            "json",
            "--out",
            out_json.to_str().unwrap(),
        ],
    );
    let export = json(&std::fs::read_to_string(&out_json).unwrap());
    assert_eq!(export["format"], "outreach.case-export.v1");
    assert_eq!(
        export["case"]["visits"][visit]["note"],
        "Talked about housing"
    );
    // Refuses to overwrite.
    fails(
        &v,
        Some(PASS),
        &[
            "export",
            &id,
            "--format",
            "json",
            "--out",
            out_json.to_str().unwrap(),
        ],
        1,
    );
    let out_am = tmp.path().join("export.automerge");
    ok(
        &v,
        &[
            "export",
            &id,
            "--format",
            "automerge",
            "--out",
            out_am.to_str().unwrap(),
        ],
    );
    assert!(std::fs::metadata(&out_am).unwrap().len() > 100);
}

#[test]
fn wrong_passphrase_exits_3_and_the_limit_wipes() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &["--wipe-after", "3"]);
    ok(&v, &["case", "new", "--name", "Jasmine"]);
    let err = fails(&v, Some("not it at all"), &["case", "list"], 3);
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(err.contains("2 attempts left"), "{err}");
    fails(&v, Some("not it at all"), &["case", "list"], 3);
    let err = fails(&v, Some("not it at all"), &["case", "list"], 4);
    assert!(err.contains("wiped"), "{err}");
    assert!(!v.join("outreach.db").exists());
    fails(&v, Some(PASS), &["case", "list"], 1);
}

#[test]
fn no_passphrase_and_no_terminal_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let err = fails(&v, None, &["case", "list"], 1);
    assert!(err.contains("OUTREACH_PASSPHRASE"), "{err}");
    let err = fails(&tmp.path().join("none"), Some(PASS), &["case", "list"], 1);
    assert!(err.contains("outreach init"), "{err}");
    // A second init over the same vault is refused.
    fails(&v, Some(PASS), &["init", "--kdf", "minimum"], 1);
}

#[test]
fn bad_input_exits_1_with_one_line_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let id = ok(&v, &["case", "new", "--name", "Jasmine"])
        .trim()
        .to_string();
    let before = ok(&v, &["history", &id, "--json"]);
    let bad: &[&[&str]] = &[
        &[
            "visit",
            "add",
            &id,
            "--at",
            "tomorrow",
            "--kind",
            "home",
            "--outcome",
            "completed",
            "--note",
            "n",
        ],
        &[
            "visit",
            "add",
            &id,
            "--at",
            "2026-11-20T10:00:00Z",
            "--kind",
            "castle",
            "--outcome",
            "completed",
            "--note",
            "n",
        ],
        &[
            "visit",
            "add",
            &id,
            "--at",
            "2026-11-20T10:00:00Z",
            "--kind",
            "home",
            "--outcome",
            "great",
            "--note",
            "n",
        ],
        &[
            "visit",
            "add",
            &id,
            "--at",
            "2026-11-20T10:00:00Z",
            "--ended",
            "2026-11-20T09:00:00Z",
            "--kind",
            "home",
            "--outcome",
            "completed",
            "--note",
            "n",
        ],
        &[
            "visit",
            "add",
            &id,
            "--at",
            "2026-11-20T10:00:00Z",
            "--kind",
            "home",
            "--outcome",
            "completed",
            "--note",
            "n",
            "--wellbeing",
            "11",
        ],
        &[
            "visit",
            "add",
            "ffffffff",
            "--at",
            "2026-11-20T10:00:00Z",
            "--kind",
            "home",
            "--outcome",
            "completed",
            "--note",
            "n",
        ],
        &["scale", "add", &id, "--score", "-1"],
        &["scale", "add", &id, "--score", "11"],
        &["goal", "add", &id, "--domain", "astrology", "--text", "x"],
        &[
            "goal",
            "add",
            &id,
            "--domain",
            "contraception",
            "--text",
            "coil fitted",
            "--review",
            "2027-01-01",
        ],
        &[
            "concern",
            "add",
            &id,
            "--category",
            "x",
            "--severity",
            "extreme",
            "--text",
            "t",
        ],
        &[
            "concern",
            "add",
            &id,
            "--category",
            "x",
            "--severity",
            "low",
            "--text",
            "",
        ],
        &["case", "edit", &id, "--dob", "31/12/1990"],
        &["case", "edit", &id, "--text-ok", "perhaps"],
        &["case", "new", "--name", " "],
        &[
            "export",
            &id,
            "--format",
            "pdf",
            "--out",
            "/tmp/never-written",
        ],
        &["resolve", &id, "--field", "profile/phone", "--pick", "1"],
    ];
    for args in bad {
        let err = fails(&v, Some(PASS), args, 1);
        assert!(!err.contains("Jasmine"), "{err}");
    }
    assert_eq!(
        ok(&v, &["history", &id, "--json"]),
        before,
        "nothing written"
    );
    assert_eq!(
        json(&ok(&v, &["case", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A missing required flag is a usage error (exit 2).
    let out = outreach(&v, Some(PASS), &["visit", "add", &id, "--kind", "home"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn passphrase_change() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_outreach"))
        .args(["passphrase", "change"])
        .env("OUTREACH_VAULT", &v)
        .env("OUTREACH_PASSPHRASE", PASS)
        .env("OUTREACH_NEW_PASSPHRASE", "another long passphrase")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fails(&v, Some(PASS), &["case", "list"], 3);
    let out = outreach(&v, Some("another long passphrase"), &["case", "list"]);
    assert!(out.status.success());
}

#[test]
fn conflicts_listed_and_resolved_from_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let sam = tmp.path().join("sam");
    let kim = tmp.path().join("kim");
    init(&sam, &[]);
    ok(
        &kim,
        &["init", "--practitioner", "Kim Lee", "--kdf", "minimum"],
    );
    let id = ok(&sam, &["case", "new", "--name", "Jasmine"])
        .trim()
        .to_string();
    let file = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    ok(
        &sam,
        &["export", &id, "--format", "automerge", "--out", &file("a1")],
    );
    ok(&kim, &["case", "import", &file("a1")]);
    ok(&sam, &["case", "edit", &id, "--phone", "0111"]);
    ok(&kim, &["case", "edit", &id, "--phone", "0222"]);
    ok(
        &kim,
        &["export", &id, "--format", "automerge", "--out", &file("k1")],
    );
    ok(&sam, &["case", "import", &file("k1")]);
    let conflicts = json(&ok(&sam, &["conflicts", &id, "--json"]));
    let c = &conflicts.as_array().unwrap()[0];
    assert_eq!(c["field"], "profile/phone");
    let values: Vec<_> = c["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].clone())
        .collect();
    assert!(
        values.contains(&serde_json::json!("0111")) && values.contains(&serde_json::json!("0222"))
    );
    let bys: Vec<_> = c["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["by"].as_str().unwrap().to_string())
        .collect();
    assert!(bys.contains(&"Kim Lee".to_string()) && bys.contains(&"Sam Jones".to_string()));
    let text = ok(&sam, &["conflicts", &id]);
    assert!(text.contains("profile/phone") && text.contains("1. "));
    fails(
        &sam,
        Some(PASS),
        &["resolve", &id, "--field", "profile/phone", "--pick", "9"],
        1,
    );
    ok(
        &sam,
        &[
            "resolve",
            &id,
            "--field",
            "profile/phone",
            "--value",
            "0333",
        ],
    );
    assert_eq!(
        json(&ok(&sam, &["conflicts", &id, "--json"])),
        serde_json::json!([])
    );
    let case = json(&ok(&sam, &["case", "show", &id, "--json"]));
    assert_eq!(case["profile"]["phone"], "0333");
}

fn ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn caseload_due_dates_closure_and_the_practice_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let new_case = |name: &str| {
        json(&ok(&v, &["--json", "case", "new", "--name", name]))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let visit = |case: &str, at: &str, next: Option<&str>| {
        let mut args = vec![
            "visit",
            "add",
            case,
            "--at",
            at,
            "--kind",
            "home",
            "--outcome",
            "completed",
            "--note",
            "seen",
            "--json",
        ];
        if let Some(n) = next {
            args.extend(["--next", n]);
        }
        json(&ok(&v, &args))["id"].as_str().unwrap().to_string()
    };
    // Seen 17 days ago (next due 7 days ago), seen again 3 days ago with no
    // next date: not overdue. Seen 120 days ago: overdue, not seen for 120 days.
    let again = new_case("Seen again");
    visit(&again, &ago(17), Some(&ago(7)));
    let last = visit(&again, &ago(3), None);
    let silent = new_case("Silent");
    visit(&silent, &ago(120), None);
    let list = json(&ok(&v, &["case", "list", "--json"]));
    let row = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(row(&again)["overdue"], false);
    assert_eq!(row(&silent)["overdue"], true);
    assert_eq!(row(&silent)["not_seen_days"], 120);
    assert_eq!(list[0]["id"], silent.as_str(), "overdue first");
    let text = ok(&v, &["case", "list"]);
    assert!(
        text.contains("OVERDUE") && text.contains("120 days"),
        "{text}"
    );

    // Visit ids by prefix; the practitioner's own pending list.
    let shown = ok(&v, &["case", "show", &again]);
    assert!(shown.contains(&last[..8]), "{shown}");
    let pending = json(&ok(&v, &["visit", "pending", "--json"]));
    assert_eq!(pending.as_array().unwrap().len(), 3);
    // Amending needs a return first.
    let err = fails(
        &v,
        Some(PASS),
        &["visit", "amend", &again, &last[..8], "--note", "x"],
        1,
    );
    assert!(err.contains("returned"), "{err}");
    fails(
        &v,
        Some(PASS),
        &["visit", "amend", &again, "zzzz", "--note", "x"],
        1,
    );

    // Signs of Safety that can move; scaling with its question.
    let worry = json(&ok(
        &v,
        &[
            "--json",
            "sos",
            "add",
            &again,
            "--column",
            "worries",
            "--kind",
            "harm",
            "--text",
            "Past eviction",
        ],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &v,
        &["sos", "update", &again, &worry[..8], "--status", "resolved"],
    );
    fails(
        &v,
        Some(PASS),
        &["sos", "update", &again, &worry[..8], "--status", "gone"],
        1,
    );
    fails(
        &v,
        Some(PASS),
        &[
            "sos",
            "add",
            &again,
            "--column",
            "working-well",
            "--kind",
            "harm",
            "--text",
            "x",
        ],
        1,
    );
    ok(
        &v,
        &[
            "scale",
            "add",
            &again,
            "--score",
            "6",
            "--view",
            "woman",
            "--question",
            "10 = safe at home",
        ],
    );
    ok(
        &v,
        &[
            "case",
            "edit",
            &again,
            "--code-word",
            "bluebell",
            "--children",
            "2",
            "--contact-every",
            "7",
        ],
    );
    fails(
        &v,
        Some(PASS),
        &["case", "edit", &again, "--contact-every", "0"],
        1,
    );
    let shown = ok(&v, &["case", "show", &again]);
    for expected in [
        "bluebell",
        "Children:        2",
        "Worry",
        "resolved, harm",
        "6/10",
        "10 = safe at home",
        "Contact every:   7 days",
    ] {
        assert!(shown.contains(expected), "{expected} missing from: {shown}");
    }

    // Closure: leaves the caseload, shown with --all, reopened.
    let err = fails(
        &v,
        Some(PASS),
        &["case", "close", &silent, "--reason", "fed-up"],
        1,
    );
    assert!(err.contains("--reason"), "{err}");
    ok(&v, &["case", "close", &silent, "--reason", "moved-away"]);
    fails(
        &v,
        Some(PASS),
        &["case", "close", &silent, "--reason", "other"],
        1,
    );
    let open = json(&ok(&v, &["case", "list", "--json"]));
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != silent.as_str())
    );
    let all = json(&ok(&v, &["case", "list", "--all", "--json"]));
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == silent.as_str() && r["overdue"] == false)
    );
    ok(&v, &["case", "reopen", &silent]);
    let open = json(&ok(&v, &["case", "list", "--json"]));
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == silent.as_str())
    );
}

/// Runs `args` and returns (exit code, stdout, stderr).
fn run(vault: &Path, pass: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    let out = outreach(vault, pass, args);
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn errors_name_the_flag_the_user_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let id = ok(&v, &["case", "new", "--name", "Jasmine"])
        .trim()
        .to_string();
    let goal = ok(
        &v,
        &["goal", "add", &id, "--domain", "housing", "--text", "t"],
    )
    .trim()
    .to_string();
    let action = ok(&v, &["goal", "action", &id, &goal, "--text", "a"])
        .trim()
        .to_string();
    let visit = |extra: &[&'static str]| {
        let mut a: Vec<String> = [
            "visit",
            "add",
            &id,
            "--at",
            "2026-11-20T10:00:00Z",
            "--kind",
            "home",
            "--outcome",
            "completed",
            "--note",
            "n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // (command line, the flag the error must name, the core's field it must not)
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            strings(&[
                "goal", "add", &id, "--domain", "housing", "--text", "t", "--target", "March",
            ]),
            "--target",
            "target_date",
        ),
        (
            strings(&[
                "goal", "add", &id, "--domain", "housing", "--text", "t", "--review", "soon",
            ]),
            "--review",
            "review_date",
        ),
        (
            strings(&["case", "edit", &id, "--dob", "1990-13-01"]),
            "--dob",
            "date_of_birth",
        ),
        (
            strings(&["case", "new", "--name", "  "]),
            "--name",
            "preferred_name",
        ),
        (
            strings(&["case", "edit", &id, "--children", "99"]),
            "--children",
            "children_count",
        ),
        (
            strings(&["case", "edit", &id, "--contact-every", "0"]),
            "--contact-every",
            "contact_every_days",
        ),
        (
            strings(&[
                "case",
                "edit",
                &id,
                "--start-date",
                "2026-01-01",
                "--planned-end-date",
                "2025-01-01",
            ]),
            "--planned-end-date",
            "planned_end_date",
        ),
        (
            visit(&["--next", "2026-11-19T10:00:00Z"]),
            "--next",
            "next_contact_due",
        ),
        (visit(&["--wellbeing", "11"]), "--wellbeing", "wellbeing"),
        (visit(&["--planned", "Tuesday"]), "--planned", "planned_at"),
        (
            visit(&["--ended", "2026-11-20T09:00:00Z"]),
            "--ended",
            "ended_at",
        ),
        (
            visit(&["--check-in", "noon"]),
            "--check-in",
            "checked_in_at",
        ),
        (
            visit(&[
                "--check-in",
                "2026-11-20T10:00:00Z",
                "--check-out",
                "2026-11-20T09:00:00Z",
            ]),
            "--check-out",
            "checked_out_at",
        ),
        (
            strings(&[
                "goal", "action", &id, &goal, "--text", "a", "--due", "never",
            ]),
            "--due",
            "due",
        ),
        (
            strings(&["goal", "done", &id, &goal, &action, "--date", "today"]),
            "--date",
            "done",
        ),
        (
            strings(&["consent", "add", &id, "--what", "x", "--date", "1/1/2026"]),
            "--date",
            "given_on",
        ),
        (
            strings(&[
                "case",
                "close",
                &id,
                "--reason",
                "completed",
                "--on",
                "later",
            ]),
            "--on",
            "on",
        ),
        (
            strings(&["scale", "add", &id, "--score", "5", "--date", "x"]),
            "--date",
            "date",
        ),
        (
            strings(&[
                "concern",
                "add",
                &id,
                "--category",
                "c",
                "--severity",
                "low",
                "--text",
                "t",
                "--escalate-to",
                &"x".repeat(1000),
            ]),
            "--escalate-to",
            "escalated_to",
        ),
    ];
    for (args, flag, field) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = fails(&v, Some(PASS), &args, 1);
        assert!(
            err.contains(&format!("invalid input: {flag}: ")),
            "{args:?} should name {flag}: {err}"
        );
        assert!(
            !err.contains(&format!("input: {field}:")),
            "{args:?} names the core's field: {err}"
        );
        let (_, stdout, _) = run(&v, Some(PASS), &[&args[..], &["--json"]].concat());
        let e = json(&stdout);
        assert_eq!(e["error"]["code"], "invalid_input", "{args:?}");
        assert_eq!(e["error"]["field"], *flag, "{args:?}");
    }
}

#[test]
fn a_file_that_cannot_be_written_or_read_is_named_with_its_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let id = ok(&v, &["case", "new", "--name", "Jasmine"])
        .trim()
        .to_string();
    let err = fails(
        &v,
        Some(PASS),
        &[
            "export",
            &id,
            "--format",
            "json",
            "--out",
            "/no/such/dir/x.json",
        ],
        1,
    );
    assert_eq!(
        err.trim_end(),
        "error: cannot write /no/such/dir/x.json: the folder does not exist"
    );
    let (code, stdout, _) = run(
        &v,
        Some(PASS),
        &[
            "--json",
            "export",
            &id,
            "--format",
            "json",
            "--out",
            "/no/such/dir/x.json",
        ],
    );
    assert_eq!(code, Some(1));
    assert_eq!(json(&stdout)["error"]["code"], "file");
    // An existing file is never overwritten, and says so.
    let file = tmp.path().join("taken.json");
    std::fs::write(&file, "x").unwrap();
    let err = fails(
        &v,
        Some(PASS),
        &[
            "export",
            &id,
            "--format",
            "json",
            "--out",
            file.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("taken.json: the file already exists"), "{err}");
    assert!(!err.contains("Jasmine"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    let missing = tmp.path().join("nothing.automerge");
    let err = fails(
        &v,
        Some(PASS),
        &["case", "import", missing.to_str().unwrap()],
        1,
    );
    assert!(
        err.contains("nothing.automerge: the file does not exist"),
        "{err}"
    );
}

#[test]
fn enrolling_against_an_unreachable_server_says_nothing_was_enrolled() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    // A loopback port with nothing listening on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let args = [
        "enroll",
        "--server",
        &server,
        "--code",
        "4a50-7daa-5352-29f9-55ca",
    ];
    let err = fails(&v, Some(PASS), &args, 1);
    assert!(err.contains("could not be reached"), "{err}");
    assert!(err.contains("check the server address"), "{err}");
    assert!(err.contains("nothing was enrolled, try again"), "{err}");
    assert!(!err.contains("sync again"), "{err}");
    let (code, stdout, _) = run(&v, Some(PASS), &[&args[..], &["--json"]].concat());
    assert_eq!(code, Some(1));
    assert_eq!(json(&stdout)["error"]["code"], "server_unreachable");
    let err = fails(&v, Some(PASS), &["sync"], 1);
    assert!(err.contains("not enrolled"), "{err}");
}

#[test]
fn json_errors_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &["--wipe-after", "2"]);
    let id = ok(&v, &["case", "new", "--name", "Jasmine"])
        .trim()
        .to_string();
    // With --json: exactly one JSON object on stdout, the same exit code,
    // the line still on stderr.
    let json_error = |pass: &str, args: &[&str], exit: i32, code: &str| {
        let (status, stdout, stderr) = run(&v, Some(pass), args);
        assert_eq!(status, Some(exit), "{args:?}: {stderr}");
        let e = json(&stdout);
        assert_eq!(e["error"]["code"], code, "{args:?}: {stdout}");
        let message = e["error"]["message"].as_str().unwrap();
        // The same line on stderr (after a usage error, clap's hint follows it).
        assert_eq!(
            stderr.lines().next().unwrap(),
            format!("error: {message}"),
            "{args:?}"
        );
        if exit != 2 {
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        }
        assert_eq!(e.as_object().unwrap().len(), 1);
        message.to_string()
    };
    json_error(
        PASS,
        &["--json", "case", "show", "ffffffff"],
        1,
        "unknown_case",
    );
    json_error(
        PASS,
        &["case", "edit", &id, "--dob", "x", "--json"],
        1,
        "invalid_input",
    );
    json_error(
        PASS,
        &["--json", "visit", "amend", &id, "zzzz", "--note", "x"],
        1,
        "unknown_record",
    );
    json_error(PASS, &["--json", "sync"], 1, "not_enrolled");
    json_error(
        PASS,
        &["--json", "case", "reopen", &id],
        1,
        "case_not_closed",
    );
    let m = json_error(PASS, &["--json", "case", "frobnicate"], 2, "usage");
    assert!(m.contains("frobnicate"), "{m}");
    json_error(
        PASS,
        &["--json", "visit", "add", &id, "--kind", "home"],
        2,
        "usage",
    );
    json_error(
        PASS,
        &["--json", "scale", "add", &id, "--score", "five"],
        2,
        "usage",
    );
    // Usage errors without --json: clap's message, exit 2.
    let (status, stdout, _) = run(&v, Some(PASS), &["case", "frobnicate"]);
    assert_eq!((status, stdout.as_str()), (Some(2), ""));
    // Bad input is refused (1), not a usage error (2).
    assert_eq!(
        run(&v, Some(PASS), &["case", "edit", &id, "--dob", "x"]).0,
        Some(1)
    );
    let m = json_error(
        "wrong one",
        &["--json", "case", "list"],
        3,
        "wrong_passphrase",
    );
    assert!(m.contains("1 attempts left"), "{m}");
    json_error("wrong one", &["--json", "case", "list"], 4, "wiped");
    json_error(PASS, &["--json", "case", "list"], 1, "no_vault");
    // Documented where a user looks.
    let help = ok(&v, &["--help"]);
    for expected in [
        "Exit codes:\n  0  ok\n  1  refused",
        "2  usage",
        "3  wrong passphrase",
        "4  the vault is gone",
        "OUTREACH_NEW_PASSPHRASE",
        "\"error\"",
    ] {
        assert!(help.contains(expected), "--help lacks {expected}: {help}");
    }
}

#[test]
fn passphrase_change_off_a_terminal_needs_the_new_one_in_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let err = fails(&v, Some(PASS), &["passphrase", "change"], 1);
    assert!(err.contains("OUTREACH_NEW_PASSPHRASE"), "{err}");
    ok(&v, &["case", "list"]);
}

#[test]
fn case_show_counts_in_words_and_shows_the_map_and_scaling() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let id = ok(&v, &["case", "new", "--name", "Jasmine"])
        .trim()
        .to_string();
    ok(
        &v,
        &[
            "visit",
            "add",
            &id,
            "--at",
            "2026-11-20T10:00:00Z",
            "--kind",
            "home",
            "--outcome",
            "completed",
            "--note",
            "n",
        ],
    );
    ok(
        &v,
        &[
            "concern",
            "add",
            &id,
            "--category",
            "c",
            "--severity",
            "low",
            "--text",
            "t",
        ],
    );
    ok(
        &v,
        &[
            "sos",
            "add",
            &id,
            "--column",
            "needs-to-happen",
            "--text",
            "A safe address",
        ],
    );
    ok(
        &v,
        &[
            "sos",
            "danger",
            &id,
            "--danger",
            "Eviction",
            "--safety-goal",
            "Rent paid",
        ],
    );
    ok(
        &v,
        &[
            "scale",
            "add",
            &id,
            "--score",
            "4",
            "--view",
            "practitioner",
        ],
    );
    let shown = ok(&v, &["case", "show", &id]);
    assert!(
        shown.contains("Records:         1 visit, 0 goals, 1 concern, 1 scale reading"),
        "{shown}"
    );
    for expected in [
        "Needs to happen",
        "A safe address",
        "Danger statement",
        "Rent paid",
        "4/10 (practitioner)",
    ] {
        assert!(shown.contains(expected), "{expected} missing: {shown}");
    }
}

/// The caseload's columns line up whatever a row holds: the widest value of
/// each column (a programme end date in full, "next-steps", a due date
/// marked as an attempt) does not push the concerns out from under their
/// heading.
#[test]
fn caseload_columns_line_up() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    init(&v, &[]);
    let new_case = |name: &str, phase: &str| {
        json(&ok(
            &v,
            &["--json", "case", "new", "--name", name, "--phase", phase],
        ))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ending = new_case("A name of twenty-five chars", "next-steps");
    ok(&v, &["case", "edit", &ending, "--start-date", "2026-01-01"]);
    ok(
        &v,
        &[
            "visit",
            "add",
            &ending,
            "--at",
            "2026-11-20T10:00:00Z",
            "--kind",
            "home",
            "--outcome",
            "no-answer",
            "--note",
            "",
        ],
    );
    ok(
        &v,
        &[
            "concern",
            "add",
            &ending,
            "--category",
            "housing",
            "--severity",
            "high",
            "--text",
            "arrears",
        ],
    );
    let plain = new_case("Bo", "referred");
    ok(
        &v,
        &[
            "concern",
            "add",
            &plain,
            "--category",
            "housing",
            "--severity",
            "low",
            "--text",
            "letter",
        ],
    );
    let text = ok(&v, &["case", "list"]);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    // In characters, as a terminal shows them (a truncated name ends in "…").
    let col = |line: &str, what: &str| line.find(what).map(|at| line[..at].chars().count());
    let column = col(header, "CONCERNS").unwrap();
    let rows: Vec<&str> = lines.filter(|l| l.contains(" open (highest ")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows.iter().any(|r| r.contains("ends 2027-07-01")), "{text}");
    for row in rows {
        assert_eq!(col(row, "1 open (highest "), Some(column), "{text}");
    }
}
