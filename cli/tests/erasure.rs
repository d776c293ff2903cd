//! `outreach case forget`, the sync line for an erased case, and the
//! admin's `outreach-server erase-case`, `retention` and `audit`, as run
//! from a terminal.

use std::path::{Path, PathBuf};
use std::process::Command;

use outreach_tests::harness::{Server, bin};
use serde_json::Value;

const PASS: &str = "correct horse battery";

struct Shell {
    vault: PathBuf,
}

impl Shell {
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
}

/// `outreach-server ARGS --data DIR` (text output): exit code, stdout, stderr.
fn admin_text(server: &Server, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin("outreach-server"))
        .args(args)
        .arg("--data")
        .arg(&server.data)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn new_case(s: &Shell, name: &str) -> String {
    s.ok(&["case", "new", "--name", name]).trim().to_string()
}

#[test]
fn forget_refuses_open_and_unsent_cases_then_removes_a_closed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let sam = Shell::enrolled(tmp.path(), &server, "Sam Jones", "practitioner");
    let case = new_case(&sam, "Jasmine");
    sam.ok(&["sync"]);

    let (code, _, err) = sam.run(&["case", "forget", &case[..8]]);
    assert_eq!(code, Some(1));
    assert!(err.starts_with("error: this case is still open"), "{err}");
    assert_eq!(err.lines().count(), 1);
    let (_, out, _) = sam.run(&["case", "forget", &case[..8], "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], "case_still_open", "{v}");

    sam.ok(&["case", "close", &case[..8], "--reason", "completed"]);
    let (code, out, err) = sam.run(&["case", "forget", &case[..8], "--json"]);
    assert_eq!(code, Some(1), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], "unsent_work", "{v}");
    assert!(err.contains("sync"), "{err}");

    sam.ok(&["sync"]);
    let done = sam.json(&["case", "forget", &case[..8]]);
    assert_eq!(done["forgotten"], case.as_str());
    assert_eq!(sam.json(&["case", "list", "--all"]), serde_json::json!([]));
    let (code, _, err) = sam.run(&["case", "forget", &case[..8]]);
    assert_eq!(
        (code, err.trim()),
        (Some(1), "error: no case matches that id")
    );
}

#[test]
fn the_admin_erases_a_case_and_the_shell_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let sam = Shell::enrolled(tmp.path(), &server, "Sam Jones", "practitioner");
    let case = new_case(&sam, "Jasmine");
    sam.ok(&[
        "case",
        "close",
        &case[..8],
        "--reason",
        "completed",
        "--on",
        "2018-02-01",
    ]);
    sam.ok(&["sync"]);

    let (code, out, err) = admin_text(
        &server,
        &["retention", "--closed-before", "2019-01-01", "--dry-run"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("dry run: nothing erased") && out.contains(&case),
        "{out}"
    );

    let (code, out, err) = admin_text(
        &server,
        &["erase-case", &case, "--confirm", &case, "--by", "dpo"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with(&format!("Case {case} erased")), "{out}");
    assert!(
        out.contains("Sam Jones") && out.contains("waiting"),
        "{out}"
    );

    let (code, _, err) = admin_text(&server, &["erase-case", &case, "--confirm", &case]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(&format!("error: case {case} was already erased on ")),
        "{err}"
    );

    let synced = sam.ok(&["sync"]);
    assert!(
        synced.contains(&format!(
            "case {} was erased by your organisation and deleted from this device",
            &case[..8]
        )),
        "{synced}"
    );
    let (code, out, _) = admin_text(&server, &["audit"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("erase-case") && out.contains("confirmed"),
        "{out}"
    );
    assert!(!out.contains("not confirmed yet"), "{out}");
}
