//! `outreach recover` end to end: two devices write cases and sync with a
//! real server; a DPO runs the built `outreach` binary on a copy of the
//! server's data with the organisation's recovery key, and gets what the
//! devices export — case, history and conflicts equal, the Automerge
//! document with the same content — without writing a byte into the data.
//! Then every bad input: wrong key, not a key file, no server data, unknown
//! case, truncated database, one flipped byte in one stored change, a case
//! without its recovery envelope, an erased case.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use outreach_core::case::doc::CaseDoc;
use outreach_core::case::model::{CaseEdit, SignOffDecision};
use outreach_core::vault::Vault;
use outreach_tests::PASSPHRASE;
use outreach_tests::harness::{Device, Server, bin, new_case, visit};
use serde_json::Value;

/// What the devices wrote, and a stopped server's data.
struct Fixture {
    tmp: tempfile::TempDir,
    server: Server,
    amy: PathBuf,
    sue: PathBuf,
    jess: String,
    jane: String,
    kim: String,
}

impl Fixture {
    fn key(&self) -> PathBuf {
        self.server
            .data
            .join(outreach_server::FIRST_RUN_RECOVERY_FILE)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// A copy of the server's data (the DPO's copy).
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.path(name);
        copy_dir(&self.server.data, &to);
        to
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Every file of a folder with its bytes.
fn digest(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn outreach(args: &[&str], vault: Option<&Path>) -> Run {
    let mut cmd = Command::new(bin("outreach"));
    cmd.args(args)
        .env_remove("OUTREACH_VAULT")
        .env("OUTREACH_PASSPHRASE", PASSPHRASE)
        .env("USER", "dpo-tester")
        .stdin(std::process::Stdio::null());
    if let Some(v) = vault {
        cmd.env("OUTREACH_VAULT", v);
    }
    let out = cmd.output().expect("run outreach");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(args: &[&str], vault: Option<&Path>) -> String {
    let r = outreach(args, vault);
    assert_eq!(r.code, Some(0), "{args:?}: {}{}", r.stdout, r.stderr);
    r.stdout
}

fn recover(key: &Path, data: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "recover",
        "--recovery-key",
        key.to_str().unwrap(),
        "--server-data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    outreach(&args, None)
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn case_id(case: &str) -> [u8; 16] {
    *uuid::Uuid::parse_str(case).unwrap().as_bytes()
}

/// Amy (practitioner) writes Jess and Jane, Sue (supervisor) writes Kim and
/// signs off one of Jess's visits; both set Jess's phone at once (a
/// conflict). Everything synced; each device exports its cases with the
/// shell (`outreach export`, which records the export and syncs it); the
/// server is then stopped with SIGKILL, leaving its WAL behind.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("server"));
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let amy_dir = tmp.path().join("amy");
    let sue_dir = tmp.path().join("sue");
    let mut amy = Device::enrol(&amy_dir, "Amy", &server.url(), &amy_code);
    let mut sue = Device::enrol(&sue_dir, "Sue", &server.url(), &sue_code);

    let jess = new_case(&mut amy.vault, "Jess");
    let first = visit(&mut amy.vault, &jess, "first visit: talked about housing");
    visit(&mut amy.vault, &jess, "second visit");
    let jane = new_case(&mut amy.vault, "Jane");
    visit(&mut amy.vault, &jane, "Jane's first visit");
    amy.sync().unwrap();
    sue.sync().unwrap();
    amy.sync().unwrap(); // shares the keys with Sue's device
    sue.sync().unwrap();

    let kim = new_case(&mut sue.vault, "Kim");
    visit(&mut sue.vault, &kim, "Kim, met at the office");
    sue.vault
        .sign_off_visit(&jess, &first, SignOffDecision::SignedOff, None)
        .unwrap();
    let phone = |p: &str| CaseEdit {
        phone: Some(p.into()),
        ..Default::default()
    };
    amy.vault.edit_case(&jess, &phone("0111")).unwrap();
    sue.vault.edit_case(&jess, &phone("0222")).unwrap();
    for _ in 0..2 {
        amy.sync().unwrap();
        sue.sync().unwrap();
    }
    assert_eq!(amy.vault.conflicts(&jess).unwrap().len(), 1);
    drop(amy);
    drop(sue);

    // The devices' own subject access exports, through the shell.
    for (vault, case) in [(&amy_dir, &jess), (&amy_dir, &jane), (&sue_dir, &kim)] {
        let out = tmp.path().join(format!("device-{case}.json"));
        ok(
            &[
                "export",
                case,
                "--format",
                "json",
                "--out",
                out.to_str().unwrap(),
            ],
            Some(vault),
        );
    }
    ok(&["sync"], Some(&amy_dir));
    ok(&["sync"], Some(&sue_dir));
    server.kill();
    Fixture {
        tmp,
        server,
        amy: amy_dir,
        sue: sue_dir,
        jess,
        jane,
        kim,
    }
}

fn unlock(dir: &Path) -> Vault {
    let mut v = Vault::open(dir).unwrap();
    v.unlock(PASSPHRASE, None).unwrap();
    v
}

#[test]
fn recover_gives_what_the_devices_export_and_writes_nothing_into_the_data() {
    let mut f = fixture();
    let data = f.copy("dpo-copy");
    assert!(
        data.join("outreach-server.db-wal").exists(),
        "the copy has a WAL to read"
    );
    let before = digest(&data);
    let out = f.path("sar");
    let r = recover(&f.key(), &data, &out, &[]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert_eq!(digest(&data), before, "the server's data is untouched");

    // One readable line per case, and no content in it.
    for case in [&f.jess, &f.jane, &f.kim] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(case.as_str()) && l.contains("recovered")),
            "{}",
            r.stdout
        );
    }
    assert!(!r.stdout.contains("Jess") && !r.stdout.contains("housing"));

    // Each case as its device exports it: only the exporter and time differ.
    let mut devices = [unlock(&f.amy), unlock(&f.sue)];
    for (case, d) in [(&f.jess, 0), (&f.jane, 0), (&f.kim, 1)] {
        let device = &mut devices[d];
        let exported = json_file(&f.path(&format!("device-{case}.json")));
        let recovered = json_file(&out.join(format!("{case}.json")));
        for field in ["format", "case", "history", "conflicts"] {
            assert_eq!(recovered[field], exported[field], "{case}: {field}");
        }
        assert_eq!(
            recovered["exported_by"],
            "dpo-tester (organisation recovery key)"
        );
        // The recovery holds the record of the device's export too.
        let events = recovered["case"]["events"].as_object().unwrap();
        assert!(
            events.values().any(|e| e["kind"] == "record-exported"),
            "{case}"
        );
        // The Automerge document loads to the same content and history.
        let bytes = std::fs::read(out.join(format!("{case}.automerge"))).unwrap();
        let mut from_recovery = CaseDoc::load(&[7; 16], Some(&bytes), std::iter::empty()).unwrap();
        let own = device.export_automerge(case).unwrap();
        let mut from_device = CaseDoc::load(&[8; 16], Some(&own), std::iter::empty()).unwrap();
        assert_eq!(from_recovery.to_json(), from_device.to_json(), "{case}");
        assert_eq!(from_recovery.history(), from_device.history(), "{case}");
    }
    let jess = json_file(&out.join(format!("{}.json", f.jess)));
    assert_eq!(jess["conflicts"][0]["field"], "profile/phone");
    let reviews: Vec<&Value> = jess["case"]["visits"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| &v["review"])
        .collect();
    assert!(reviews.contains(&&Value::from("signed-off")), "{reviews:?}");

    // The summary and the access log of the run.
    let summary = json_file(&out.join("RECOVERY-SUMMARY.json"));
    assert_eq!(summary["format"], "outreach.recovery-summary.v1");
    assert_eq!(summary["run"]["by"], "dpo-tester");
    assert_eq!(summary["run"]["recovered"].as_array().unwrap().len(), 3);
    for c in summary["cases"].as_array().unwrap() {
        assert_eq!(c["status"], "recovered", "{c}");
        assert_eq!(c["epochs"], serde_json::json!([0]));
        assert_eq!(c["files"].as_array().unwrap().len(), 2);
    }
    let log = std::fs::read_to_string(out.join("ACCESS-LOG.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1);
    let line: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["action"], "recover");
    assert_eq!(line["by"], "dpo-tester");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join(format!("{}.json", f.jess)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Again into the same folder, one case: the earlier export is never
    // overwritten; another case goes in beside it and the log grows.
    let again = recover(&f.key(), &data, &out, &["--case", &f.jess]);
    assert_eq!(again.code, Some(1));
    assert!(
        again.stderr.contains("--out") && again.stderr.contains("already exists"),
        "{}",
        again.stderr
    );
    std::fs::remove_file(out.join(format!("{}.json", f.jess))).unwrap();
    std::fs::remove_file(out.join(format!("{}.automerge", f.jess))).unwrap();
    let again = recover(&f.key(), &data, &out, &["--case", &f.jess[..8], "--json"]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let summary: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(summary["cases"].as_array().unwrap().len(), 1);
    let log = std::fs::read_to_string(out.join("ACCESS-LOG.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2);
    assert_eq!(digest(&data), before);

    // The live data folder of a running server works as well.
    f.server.restart();
    let live = f.path("sar-live");
    let r = recover(&f.key(), &f.server.data, &live, &["--case", &f.kim]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let exported = json_file(&f.path(&format!("device-{}.json", f.kim)));
    let recovered = json_file(&live.join(format!("{}.json", f.kim)));
    assert_eq!(recovered["case"], exported["case"]);
}

#[test]
fn bad_input_is_one_clear_line_and_one_bad_item_spoils_only_its_case() {
    let f = fixture();
    let data = f.copy("dpo-copy");
    let before = digest(&data);
    let out = f.path("sar");
    let nothing_written = |out: &Path| {
        !out.exists()
            || std::fs::read_dir(out)
                .unwrap()
                .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".json"))
    };

    // A recovery key of another organisation.
    let other = f.path("other-key.json");
    outreach_server::keys::write_recovery_key(&other, "Elsewhere").unwrap();
    let r = recover(&other, &data, &out, &[]);
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr.trim(),
        "error: --recovery-key: this recovery key is not the organisation's: its public half does not match the one the server holds"
    );
    assert!(nothing_written(&out));

    // Not a key file at all; a missing one.
    let junk = f.path("notes.txt");
    std::fs::write(&junk, "shopping list").unwrap();
    let r = recover(&junk, &data, &out, &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("--recovery-key")
            && r.stderr
                .contains("not an Outreach recovery key file (format outreach.recovery-key.v1)"),
        "{}",
        r.stderr
    );
    let r = recover(&f.path("nope.json"), &data, &out, &["--json"]);
    assert_eq!(r.code, Some(1));
    let err: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(err["error"]["field"], "--recovery-key");

    // No --server-data; a folder that holds no server data.
    let r = outreach(
        &[
            "recover",
            "--recovery-key",
            f.key().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("--server-data"), "{}", r.stderr);
    let empty = f.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r = recover(&f.key(), &empty, &out, &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("--server-data: no server database"),
        "{}",
        r.stderr
    );
    assert!(nothing_written(&out));

    // A case the server never held.
    let r = recover(
        &f.key(),
        &data,
        &out,
        &["--case", "00000000-0000-4000-8000-000000000000"],
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("--case 00000000-0000-4000-8000-000000000000: no such case"),
        "{}",
        r.stderr
    );
    assert!(nothing_written(&out));
    assert_eq!(digest(&data), before, "no bad run wrote into the data");

    // A truncated database.
    let cut = f.copy("truncated");
    let db = cut.join("outreach-server.db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let _ = std::fs::remove_file(cut.join("outreach-server.db-wal"));
    let _ = std::fs::remove_file(cut.join("outreach-server.db-shm"));
    let r = recover(&f.key(), &cut, &out, &[]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("--server-data: the server's database is damaged or truncated"),
        "{}",
        r.stderr
    );
    assert!(nothing_written(&out));

    // One flipped byte in one stored change of Jess's case: Jess is
    // reported (the item, why), written from the rest; the others whole.
    let tampered = f.copy("tampered");
    let conn = rusqlite::Connection::open(tampered.join("outreach-server.db")).unwrap();
    let (seq, mut body): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT seq, body FROM log WHERE kind = 0 AND case_id = ?1 ORDER BY seq DESC LIMIT 1",
            [&case_id(&f.jess)[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let n = body.len();
    body[n - 100] ^= 0x01;
    conn.execute(
        "UPDATE log SET body = ?1 WHERE seq = ?2",
        rusqlite::params![body, seq],
    )
    .unwrap();
    // And Jane's recovery envelope is gone.
    let gone = conn
        .execute(
            "DELETE FROM log WHERE kind = 1 AND case_id = ?1 AND target = ?2",
            rusqlite::params![&case_id(&f.jane)[..], &[0u8; 16][..]],
        )
        .unwrap();
    assert_eq!(gone, 1);
    drop(conn);
    let out2 = f.path("sar-tampered");
    let r = recover(&f.key(), &tampered, &out2, &[]);
    assert_eq!(r.code, Some(5), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("2 case(s) could not be fully recovered"),
        "{}",
        r.stderr
    );
    let line = |case: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(case))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(&f.jess).contains("PARTIAL")
            && line(&f.jess).contains(&format!("item {seq}"))
            && line(&f.jess).contains("signature does not verify"),
        "{}",
        r.stdout
    );
    assert!(
        line(&f.jane).contains("NOT RECOVERED")
            && line(&f.jane).contains("no envelope for the recovery key"),
        "{}",
        r.stdout
    );
    assert!(line(&f.kim).contains("recovered"), "{}", r.stdout);
    let summary = json_file(&out2.join("RECOVERY-SUMMARY.json"));
    let by_case = |case: &str| {
        summary["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["case_id"] == case)
            .unwrap()
            .clone()
    };
    let jess = by_case(&f.jess);
    assert_eq!(jess["status"], "partial");
    assert_eq!(jess["problems"][0]["seq"], seq);
    assert_eq!(jess["problems"][0]["reason"], "tampered");
    let jane = by_case(&f.jane);
    assert_eq!(jane["status"], "not-recovered");
    assert_eq!(jane["problems"][0]["reason"], "no-recovery-envelope");
    assert_eq!(jane["files"], serde_json::json!([]));
    assert_eq!(by_case(&f.kim)["status"], "recovered");
    assert!(out2.join(format!("{}.json", f.jess)).exists());
    assert!(!out2.join(format!("{}.json", f.jane)).exists());
    let kim = json_file(&out2.join(format!("{}.json", f.kim)));
    let exported = json_file(&f.path(&format!("device-{}.json", f.kim)));
    assert_eq!(kim["case"], exported["case"]);

    // An erased case is reported as erased, with its date, not as unknown.
    let erased = f.copy("erased");
    let conn = rusqlite::Connection::open(erased.join("outreach-server.db")).unwrap();
    let jane_id = &case_id(&f.jane)[..];
    conn.execute("DELETE FROM log WHERE case_id = ?1", [jane_id])
        .unwrap();
    conn.execute("DELETE FROM cases WHERE case_id = ?1", [jane_id])
        .unwrap();
    conn.execute(
        "INSERT INTO erased (case_id, erased_at, erased_by) VALUES (?1, 1795000000, 'admin')",
        [jane_id],
    )
    .unwrap();
    drop(conn);
    let out3 = f.path("sar-erased");
    let r = recover(&f.key(), &erased, &out3, &["--case", &f.jane]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("{}  erased on 2026-11-18", f.jane)),
        "{}",
        r.stdout
    );
    let summary = json_file(&out3.join("RECOVERY-SUMMARY.json"));
    assert_eq!(summary["cases"][0]["status"], "erased");
    assert!(!out3.join(format!("{}.json", f.jane)).exists());
    assert_eq!(digest(&data), before);
}
