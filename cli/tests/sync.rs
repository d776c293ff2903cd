//! The shell against a real `outreach-server`: enrolment, sharing, supervision,
//! as the README's sync walk-through does it.

use std::path::{Path, PathBuf};
use std::process::Command;

use outreach_tests::harness::Server;
use serde_json::Value;

const PASS: &str = "correct horse battery";

/// One person's device: a vault driven through the `outreach` binary.
struct Shell {
    vault: PathBuf,
}

impl Shell {
    /// A new vault for `name`, enrolled with `server` using a fresh invitation.
    fn enrolled(dir: &Path, server: &Server, name: &str, role: &str) -> Shell {
        let shell = Shell {
            vault: dir.join(name.replace(' ', "-")),
        };
        shell.ok(&[
            "init",
            "--practitioner",
            name,
            "--team",
            "North",
            "--kdf",
            "minimum",
        ]);
        let code = server.invite(name, role, Some("North"));
        shell.ok(&["enroll", "--server", &server.url(), "--code", &code]);
        shell
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_outreach"))
            .args(args)
            .env("OUTREACH_VAULT", &self.vault)
            .env("OUTREACH_PASSPHRASE", PASS)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.run(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(&[args, &["--json"]].concat())).unwrap()
    }

    /// `sync --json`: how many changes it uploaded.
    fn sync(&self) -> u64 {
        self.json(&["sync"])["pushed"].as_u64().unwrap()
    }
}

fn new_case(s: &Shell) -> String {
    s.ok(&["case", "new", "--name", "Jasmine"])
        .trim()
        .to_string()
}

fn add_visit(s: &Shell, case: &str) -> String {
    s.ok(&[
        "visit",
        "add",
        case,
        "--at",
        "2026-11-24T10:00:00Z",
        "--kind",
        "home",
        "--outcome",
        "completed",
        "--note",
        "Talked through the tenancy letter",
    ])
    .trim()
    .to_string()
}

#[test]
fn a_refused_assign_reports_what_the_sync_before_it_uploaded() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let sam = Shell::enrolled(tmp.path(), &server, "Sam Jones", "practitioner");
    let case = new_case(&sam);
    add_visit(&sam, &case);

    // Not allowed (a practitioner), after the sync that had to come first.
    let (code, stdout, stderr) = sam.run(&["--json", "case", "assign", &case, "--to", "Jo Smith"]);
    assert_eq!(code, Some(1), "{stderr}");
    let error = &serde_json::from_str::<Value>(&stdout).unwrap()["error"];
    assert_eq!(error["code"], "server_refused", "{error}");
    assert_eq!(
        error["uploaded_first"], 1,
        "the new case went up first: {error}"
    );
    assert!(
        stderr.contains("(before asking, this device synced: 1 change uploaded)"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // So the next sync rightly has nothing left to upload.
    assert_eq!(sam.sync(), 0);
    // The same for a refused transfer.
    add_visit(&sam, &case);
    let (code, stdout, stderr) =
        sam.run(&["--json", "case", "transfer", &case, "--to", "Jo Smith"]);
    assert_eq!(code, Some(1), "{stderr}");
    let error = &serde_json::from_str::<Value>(&stdout).unwrap()["error"];
    assert_eq!(error["code"], "not_allowed_to_transfer", "{error}");
    assert_eq!(error["uploaded_first"], 1, "{error}");
    assert!(stderr.contains("1 change uploaded)"), "{stderr}");
    assert_eq!(sam.sync(), 0);

    // A supervisor's refused request (no such user) reports the same way;
    // a granted one reports what went up first too.
    let ali = Shell::enrolled(tmp.path(), &server, "Ali Khan", "supervisor");
    ali.sync();
    sam.sync(); // Sam's device shares the case key with Ali's
    ali.sync();
    ali.ok(&[
        "concern",
        "add",
        &case,
        "--category",
        "housing",
        "--severity",
        "low",
        "--text",
        "Arrears",
    ]);
    let (code, _, stderr) = ali.run(&["case", "assign", &case, "--to", "Nobody Known"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("1 change uploaded)"), "{stderr}");
    assert_eq!(ali.sync(), 0);
    server.invite("Jo Smith", "practitioner", Some("North"));
    let done = ali.json(&["case", "assign", &case, "--to", "Jo Smith"]);
    assert_eq!(done["uploaded_first"], 0, "{done}");
}

#[test]
fn supervision_through_the_shell_by_id_prefix_with_true_history() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let sam = Shell::enrolled(tmp.path(), &server, "Sam Jones", "practitioner");
    let case = new_case(&sam);
    let visit = add_visit(&sam, &case);
    sam.sync();
    let ali = Shell::enrolled(tmp.path(), &server, "Ali Khan", "supervisor");
    // Ali's device gets the case key only once a device holding it syncs again.
    let first = ali.json(&["sync"]);
    assert_eq!(first["cases_waiting_for_key"], 1, "{first}");
    assert!(
        ali.ok(&["sync"])
            .contains("1 case(s) waiting for a colleague's device to share the key")
    );
    assert!(sam.json(&["sync"])["keys_shared"].as_u64().unwrap() >= 1);
    ali.sync();

    let pending = ali.json(&["visit", "pending"]);
    assert_eq!(pending[0]["visit_id"], visit.as_str(), "{pending}");
    let short = &visit[..8];
    ali.ok(&[
        "visit",
        "sign-off",
        &case[..4],
        short,
        "--return",
        "--comment",
        "Please add the actions agreed",
    ]);
    let history = ali.ok(&["history", &case]);
    assert!(
        history.contains("visit returned for amendment"),
        "{history}"
    );
    assert!(!history.contains("visit signed off"), "{history}");
    ali.sync();
    sam.sync();
    let history = sam.ok(&["history", &case]);
    assert!(
        history.contains("visit returned for amendment"),
        "{history}"
    );
    assert!(!history.contains("visit signed off"), "{history}");
    let pending = sam.ok(&["visit", "pending"]);
    assert!(
        pending.contains("Please add the actions agreed"),
        "{pending}"
    );
    sam.ok(&[
        "visit",
        "amend",
        &case,
        short,
        "--actions",
        "Call the housing officer",
    ]);
    sam.sync();
    ali.sync();
    ali.ok(&["visit", "sign-off", &case, short]);
    let history = ali.ok(&["history", &case]);
    assert!(history.contains("visit signed off"), "{history}");
    assert!(history.contains("visit amended"), "{history}");
}
