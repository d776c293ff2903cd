//! `outreach report` as a supervisor (or a script) runs it: every format,
//! to stdout and to a file, small numbers hidden unless `--exact`, errors
//! that name the flag, and no name or note in anything it writes.

use std::path::Path;
use std::process::{Command, Output};

const PASS: &str = "correct horse battery";

fn outreach(vault: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outreach"))
        .args(args)
        .env("OUTREACH_VAULT", vault)
        .env("OUTREACH_PASSPHRASE", PASS)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn ok(vault: &Path, args: &[&str]) -> String {
    let out = outreach(vault, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(vault: &Path, args: &[&str]) -> (String, serde_json::Value) {
    let out = outreach(vault, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (err, json)
}

#[test]
fn every_format_counts_and_never_names() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    ok(
        &v,
        &[
            "init",
            "--practitioner",
            "Sam Jones",
            "--team",
            "North",
            "--kdf",
            "minimum",
        ],
    );
    for name in ["Zelda", "Yasmin"] {
        let case = ok(&v, &["case", "new", "--name", name]);
        let case = case.trim();
        for day in ["05", "12", "19"] {
            ok(
                &v,
                &[
                    "visit",
                    "add",
                    case,
                    "--at",
                    &format!("2026-03-{day}T10:00:00Z"),
                    "--kind",
                    "home",
                    "--outcome",
                    "completed",
                    "--note",
                    "Private note PRIVATE-TEXT",
                    "--her-words",
                    "PRIVATE-WORDS",
                ],
            );
        }
        ok(
            &v,
            &["scale", "add", case, "--score", "4", "--date", "2026-03-05"],
        );
    }
    let period = ["--from", "2026-03-01", "--to", "2026-03-31"];
    let run = |extra: &[&str]| {
        let mut args = vec!["report"];
        args.extend_from_slice(&period);
        args.extend_from_slice(extra);
        ok(&v, &args)
    };

    let text = run(&[]);
    assert!(text.contains("How much did we do?"), "{text}");
    assert!(text.contains("Contacts completed         6"), "{text}");
    let j: serde_json::Value = serde_json::from_str(&run(&["--json"])).unwrap();
    assert_eq!(j["how_much"]["contacts_completed"], 6);
    assert_eq!(j["period"]["from"], "2026-03-01");
    assert_eq!(
        j["how_well"]["median_days_to_sign_off"],
        serde_json::Value::Null
    );
    let j2: serde_json::Value = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    assert_eq!(j2["how_much"], j["how_much"]);

    let csv = run(&["--format", "csv"]);
    assert!(csv.contains("all,how_much,active_cases,< 5\n"), "{csv}");
    assert!(csv.contains("all,how_much,contacts_completed,6\n"), "{csv}");
    let exact = run(&["--format", "csv", "--exact"]);
    assert!(exact.contains("all,how_much,active_cases,2\n"), "{exact}");

    let file = tmp.path().join("card.html");
    let done: serde_json::Value = serde_json::from_str(&run(&[
        "--format",
        "html",
        "--out",
        file.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(done["format"], "html");
    let html = std::fs::read_to_string(&file).unwrap();
    assert_eq!(done["bytes"], html.len());
    assert!(html.contains("<figure id=\"chart-contacts\">"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the report file is the owner's only");
    }
    // Never over an existing file.
    let (err, _) = fails(
        &v,
        &[
            "report",
            "--format",
            "html",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(err.contains("already exists"), "{err}");

    for out in [&text, &csv, &exact, &html, &run(&["--json"])] {
        for secret in ["Zelda", "Yasmin", "PRIVATE"] {
            assert!(!out.contains(secret), "{secret} in a report");
        }
    }
}

#[test]
fn bad_input_names_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("vault");
    ok(
        &v,
        &["init", "--practitioner", "Sam Jones", "--kdf", "minimum"],
    );
    let (err, j) = fails(
        &v,
        &[
            "--json",
            "report",
            "--from",
            "2026-04-01",
            "--to",
            "2026-03-01",
        ],
    );
    assert!(err.contains("--from"), "{err}");
    assert_eq!(j["error"]["field"], "--from");
    let (err, _) = fails(&v, &["report", "--to", "yesterday"]);
    assert!(err.contains("--to"), "{err}");
    let (err, _) = fails(&v, &["report", "--format", "pdf"]);
    assert!(err.contains("--format"), "{err}");
    // --json promises JSON on stdout: another format needs --out.
    let (err, j) = fails(&v, &["--json", "report", "--format", "csv"]);
    assert!(err.contains("--format"), "{err}");
    assert_eq!(j["error"]["code"], "invalid_input");
    // Nothing is left behind by a refused report.
    let file = tmp.path().join("r.csv");
    fails(
        &v,
        &[
            "report",
            "--format",
            "csv",
            "--out",
            file.to_str().unwrap(),
            "--from",
            "2026-05-01",
            "--to",
            "2026-04-01",
        ],
    );
    assert!(!file.exists());
}
