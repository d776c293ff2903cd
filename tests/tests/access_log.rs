//! The access log: an export is recorded on the exporting device (sealed,
//! `outreach access-log`) and in the case, which syncs to the supervisor's
//! device like any change — who, when, which format, never content.

use std::path::Path;
use std::process::Command;

use outreach_core::Error;
use outreach_core::case::model::EventKind;
use outreach_core::vault::{EventInput, ExportFormat, Exported};
use outreach_tests::PASSPHRASE;
use outreach_tests::harness::{Device, Server, bin, new_case, visit};
use serde_json::Value;

fn shell(vault: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin("outreach"))
        .args(args)
        .env("OUTREACH_VAULT", vault)
        .env("OUTREACH_PASSPHRASE", PASSPHRASE)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_export_is_logged_here_and_reaches_the_supervisor_in_the_case() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let mut amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &amy_code);
    let mut sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &sue_code);
    let jess = new_case(&mut amy.vault, "Jess");
    visit(&mut amy.vault, &jess, "a note that must not reach any log");
    amy.sync().unwrap();
    sue.sync().unwrap();
    amy.sync().unwrap();
    sue.sync().unwrap();
    assert!(amy.vault.access_log().unwrap().is_empty());

    // A read for comparison is not an export; the export is.
    amy.vault.export_json(&jess).unwrap();
    assert!(amy.vault.access_log().unwrap().is_empty());
    let Exported::Json(export) = amy.vault.export(&jess, ExportFormat::Json).unwrap() else {
        panic!("a JSON export");
    };
    let amy_device = amy.vault.identity().unwrap().device;
    let log = amy.vault.access_log().unwrap();
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    assert_eq!(
        (entry.id, entry.action.as_str(), entry.case_id.as_str()),
        (1, "export", jess.as_str())
    );
    assert_eq!(entry.format.as_deref(), Some("json"));
    assert_eq!(entry.by, "Amy");
    assert_eq!(entry.device, amy_device);
    assert!(entry.by_user.is_some());
    // The export holds its own record.
    assert!(
        export
            .case
            .events
            .values()
            .any(|e| e.kind == EventKind::RecordExported)
    );
    assert!(
        export
            .history
            .iter()
            .any(|h| h.what == "record exported (json)")
    );

    // It syncs like any change: the supervisor's device sees who, when, how.
    amy.sync().unwrap();
    sue.sync().unwrap();
    let seen = sue.vault.read_case(&jess).unwrap();
    let events: Vec<_> = seen
        .events
        .values()
        .filter(|e| e.kind == EventKind::RecordExported)
        .collect();
    assert_eq!(events.len(), 1);
    let e = events[0];
    assert_eq!(e.by.as_deref(), Some("Amy"));
    assert_eq!(e.device.as_deref(), Some(amy_device.as_str()));
    assert_eq!(e.format.as_deref(), Some("json"));
    assert_eq!(e.at.as_deref(), Some(entry.at.as_str()));
    assert!(e.note.is_none(), "no content in the record");
    // Sue's own log is hers: she exported nothing.
    assert!(sue.vault.access_log().unwrap().is_empty());

    // Nobody can type one in.
    let typed = amy.vault.add_event(
        &jess,
        &EventInput {
            kind: EventKind::RecordExported,
            date: "2026-11-20".into(),
            note: None,
        },
    );
    assert!(matches!(typed, Err(Error::Invalid(_))), "{typed:?}");

    // The shell lists the log; an Automerge export is logged too.
    let amy_dir = amy.dir.clone();
    drop(amy);
    let file = tmp.path().join("jess.automerge");
    let (code, _, err) = shell(
        &amy_dir,
        &[
            "export",
            &jess,
            "--format",
            "automerge",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    // An export that cannot be written is not logged.
    let (code, _, _) = shell(
        &amy_dir,
        &[
            "export",
            &jess,
            "--format",
            "json",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1));
    let (code, out, err) = shell(&amy_dir, &["access-log", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1]["format"], "automerge");
    assert_eq!(listed[1]["case_id"], jess.as_str());
    let (_, text, _) = shell(&amy_dir, &["access-log"]);
    assert!(text.contains("export") && text.contains(&jess), "{text}");
    assert!(!text.contains("Jess") && !text.contains("note"), "{text}");
}
