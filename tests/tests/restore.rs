//! A server restored from a backup (issue 12): the log goes back in time,
//! while devices' cursors and acknowledged uploads are ahead of it. Without
//! a word from the admin, new changes would get numbers the devices have
//! already passed and never reach them, and what was acknowledged after the
//! backup would be gone from the server. `outreach-server restored` draws a
//! new log id; each device, seeing it, pulls the log from its beginning and
//! uploads all it holds — so every visit reaches every device and the
//! server again.

use outreach_tests::harness::{Device, Server, new_case, visit};

fn notes(d: &mut Device, case: &str) -> Vec<String> {
    let mut n: Vec<String> = d
        .vault
        .read_case(case)
        .unwrap()
        .visits
        .values()
        .map(|v| v.note.clone())
        .collect();
    n.sort();
    n
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
}

#[test]
fn after_a_restore_from_backup_nothing_written_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("server"));
    let mut amy = Device::enrol(
        &tmp.path().join("amy"),
        "Amy",
        &server.url(),
        &server.invite("Amy", "practitioner", Some("north")),
    );
    let mut sue = Device::enrol(
        &tmp.path().join("sue"),
        "Sue",
        &server.url(),
        &server.invite("Sue", "supervisor", Some("north")),
    );
    let case = new_case(&mut amy.vault, "Jess");
    visit(&mut amy.vault, &case, "1 before the backup");
    amy.sync().unwrap();
    sue.sync().unwrap();

    // Last night's backup (the server stopped cleanly, files copied).
    server.terminate();
    let backup = tmp.path().join("backup");
    copy_dir(&server.data, &backup);
    server.restart();

    // A day's work the backup does not have, acknowledged and shared.
    visit(&mut amy.vault, &case, "2 after the backup");
    amy.sync().unwrap();
    sue.sync().unwrap();
    visit(&mut sue.vault, &case, "3 by the supervisor");
    sue.sync().unwrap();
    amy.sync().unwrap();

    // The disk fails; the admin restores last night's backup and says so.
    server.terminate();
    std::fs::remove_dir_all(&server.data).unwrap();
    copy_dir(&backup, &server.data);
    let declared = server.admin(&["restored"]).unwrap();
    assert_eq!(declared["log_id"].as_str().unwrap().len(), 32);
    server.restart();

    // Work goes on.
    visit(&mut amy.vault, &case, "4 after the restore");
    amy.sync().unwrap();
    sue.sync().unwrap();
    amy.sync().unwrap();
    sue.sync().unwrap();
    let all = vec![
        "1 before the backup".to_string(),
        "2 after the backup".into(),
        "3 by the supervisor".into(),
        "4 after the restore".into(),
    ];
    assert_eq!(notes(&mut amy, &case), all, "Amy");
    assert_eq!(notes(&mut sue, &case), all, "Sue");

    // And the server holds it all again: a device enrolled now gets it.
    let mut amy2 = Device::enrol(
        &tmp.path().join("amy2"),
        "Amy",
        &server.url(),
        &server.invite("Amy", "practitioner", Some("north")),
    );
    amy2.sync().unwrap();
    amy.sync().unwrap(); // seals the case key to the new device
    amy2.sync().unwrap();
    assert_eq!(notes(&mut amy2, &case), all, "a new device");

    // Declaring again is harmless: devices start over once more.
    server.admin(&["restored"]).unwrap();
    sue.sync().unwrap();
    assert_eq!(
        notes(&mut sue, &case),
        all,
        "Sue after a second declaration"
    );
}
