//! End-to-end on PostgreSQL: a real `outreach-server serve --database URL`
//! on a throwaway cluster, the admin commands against the same database,
//! and two devices that sync through it. Skipped (with a message) without
//! PostgreSQL's binaries unless `OUTREACH_REQUIRE_POSTGRES` is set.

use outreach_server::storage::postgres::testdb;
use outreach_tests::harness::{Device, Server, bin, new_case, visit};

#[test]
fn two_devices_sync_through_a_server_on_postgres() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    // The cluster trusts local connections, so the password is ignored; it
    // is there to check that nothing prints it.
    let url = cluster
        .new_database()
        .replacen("postgres@", "postgres:not-shown-anywhere@", 1);
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_on(&tmp.path().join("server"), Some(&url), &[]);
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let mut amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &amy_code);
    let mut sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &sue_code);

    let case = new_case(&mut amy.vault, "Jess");
    let note = visit(&mut amy.vault, &case, "Went with her to the GP");
    let pushed = amy.sync().unwrap();
    assert_eq!(pushed.pushed, 1);
    let got = sue.sync().unwrap();
    assert_eq!(got.cases_changed, vec![case.clone()]);
    assert_eq!(
        sue.vault.read_case(&case).unwrap().visits[&note].note,
        "Went with her to the GP"
    );
    // And back: Sue's visit reaches Amy.
    let second = visit(&mut sue.vault, &case, "Phoned her, all well");
    sue.sync().unwrap();
    amy.sync().unwrap();
    assert_eq!(
        amy.vault.read_case(&case).unwrap().visits[&second].note,
        "Phoned her, all well"
    );

    // The admin commands read the same database.
    let devices = server.admin(&["devices"]).unwrap();
    assert_eq!(devices.as_array().unwrap().len(), 3, "{devices}");
    // Nothing the server printed names the password.
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(log.contains("PostgreSQL"), "{log}");
    assert!(!log.contains("not-shown-anywhere"), "{log}");
    // A wrong URL is one line, redacted, naming the flag.
    let out = std::process::Command::new(bin("outreach-server"))
        .args([
            "devices",
            "--database",
            "postgres://x:also-secret@127.0.0.1:1/none",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--database"), "{err}");
    assert!(!err.contains("also-secret"), "{err}");
}

/// `outreach recover --database URL`: the DPO's recovery reads a server on
/// PostgreSQL (one read-only transaction) and gives back every visit; a
/// wrong URL is one line naming the flag, with no password in it.
#[test]
fn recover_reads_a_server_on_postgres() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let url = cluster.new_database();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_on(&tmp.path().join("server"), Some(&url), &[]);
    let mut amy = Device::enrol(
        &tmp.path().join("amy"),
        "Amy",
        &server.url(),
        &server.invite("Amy", "practitioner", Some("north")),
    );
    let case = new_case(&mut amy.vault, "Jess");
    let notes = ["Went with her to the GP", "Phoned her, all well"];
    for n in notes {
        visit(&mut amy.vault, &case, n);
        amy.sync().unwrap();
    }
    let key = server.data.join(outreach_server::FIRST_RUN_RECOVERY_FILE);
    let out = tmp.path().join("sar");
    let run = |database: &str| {
        std::process::Command::new(bin("outreach"))
            .args(["recover", "--recovery-key"])
            .arg(&key)
            .args(["--database", database, "--out"])
            .arg(&out)
            .env_remove("OUTREACH_VAULT")
            .env_remove("OUTREACH_SERVER_DATABASE")
            .env("USER", "dpo-tester")
            .output()
            .unwrap()
    };
    let done = run(&url);
    assert!(
        done.status.success(),
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    let recovered: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(format!("{case}.json"))).unwrap()).unwrap();
    let mut got: Vec<String> = recovered["case"]["visits"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["note"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want: Vec<String> = notes.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(got, want);

    let wrong = run("postgres://dpo:secret-word@127.0.0.1:1/none");
    assert_eq!(wrong.status.code(), Some(1));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("--database"), "{err}");
    assert!(!err.contains("secret-word"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
