//! `outreach-server`'s admin commands: they never create a database, and
//! `revoke-device` takes a device id by its unique prefix.

use std::path::Path;
use std::process::{Command, Output};

use outreach_tests::harness::{Device, Server, bin};

fn admin(cwd: &Path, data: Option<&Path>, env_data: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("outreach-server"));
    cmd.current_dir(cwd).args(args);
    if let Some(d) = data {
        cmd.arg("--data").arg(d);
    }
    match env_data {
        Some(d) => cmd.env("OUTREACH_SERVER_DATA", d),
        None => cmd.env_remove("OUTREACH_SERVER_DATA"),
    };
    cmd.output().unwrap()
}

const ADMIN: &[&[&str]] = &[
    &["invite", "--name", "Amy", "--role", "admin"],
    &["devices"],
    &["--json", "devices"],
    &["revoke-device", "0123456789abcdef"],
    &["rejected"],
    &[
        "erase-case",
        "0123456789abcdef0123456789abcdef",
        "--confirm",
        "0123456789abcdef0123456789abcdef",
    ],
    &["retention", "--closed-before", "2020-01-01", "--dry-run"],
    &["audit"],
    &["restored"],
];

fn refused_without_data(out: Output, shown: &str, args: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("error: no server data in {shown} (use --data or OUTREACH_SERVER_DATA)\n"),
        "{args:?}"
    );
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn admin_commands_never_create_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let missing = cwd.join("elsewhere");
    let empty = cwd.join("empty");
    std::fs::create_dir(&empty).unwrap();
    for args in ADMIN {
        // --data DIR that does not exist, or exists without a database.
        refused_without_data(
            admin(cwd, Some(&missing), None, args),
            &missing.display().to_string(),
            args,
        );
        refused_without_data(
            admin(cwd, Some(&empty), None, args),
            &empty.display().to_string(),
            args,
        );
        // OUTREACH_SERVER_DATA, and the default (./outreach-data).
        refused_without_data(
            admin(cwd, None, Some(&missing), args),
            &missing.display().to_string(),
            args,
        );
        refused_without_data(admin(cwd, None, None, args), "outreach-data", args);
    }
    assert!(!missing.exists(), "no directory created");
    assert!(
        !cwd.join("outreach-data").exists(),
        "no default directory created"
    );
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "no file created"
    );

    // `init` is the way to create one, and then the others work.
    let key = cwd.join("recovery.json");
    let out = admin(
        cwd,
        Some(&missing),
        None,
        &[
            "init",
            "--org",
            "North",
            "--recovery-key-out",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = admin(cwd, Some(&missing), None, &["devices"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn revoke_device_takes_a_unique_prefix_of_8_or_more_hex_digits() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let code = server.invite("Amy", "practitioner", Some("north"));
    let amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &code);
    let code = server.invite("Bea", "practitioner", Some("north"));
    let bea = Device::enrol(&tmp.path().join("bea"), "Bea", &server.url(), &code);
    let amy_id = amy.vault.settings().unwrap().device_id.clone();
    let bea_id = bea.vault.settings().unwrap().device_id.clone();
    let refused = |id: &str, needle: &str| match server.admin(&["revoke-device", id]) {
        Err(m) => {
            assert!(m.contains(needle), "{id}: {m}");
            assert_eq!(m.lines().count(), 1, "one line: {m}");
        }
        Ok(v) => panic!("{id} accepted: {v}"),
    };
    refused(&amy_id[..7], "first 8 or more");
    refused("not-hex!", "32 hex digits");
    let unknown = if amy_id.starts_with("00000000") || bea_id.starts_with("00000000") {
        "ffffffff"
    } else {
        "00000000"
    };
    refused(unknown, "no device with that id");

    // A second device whose id starts with the same 8 digits as Amy's (put
    // straight into the database: random ids never collide in a test).
    let mut twin = amy_id[..8].to_string();
    twin.push_str(if amy_id[8..].starts_with('0') {
        "1"
    } else {
        "0"
    });
    twin.push_str(&"0".repeat(32 - twin.len()));
    let db = rusqlite::Connection::open(outreach_server::database_path(&server.data)).unwrap();
    db.execute(
        "INSERT INTO devices (device_id, user_id, sign_pk, kex_pk, enrolled_at)
         SELECT ?1, user_id, sign_pk, kex_pk, enrolled_at FROM devices WHERE device_id = ?2",
        rusqlite::params![unhex(&twin), unhex(&amy_id)],
    )
    .unwrap();
    refused(&amy_id[..8], "2 devices have ids starting");
    let devices = || server.admin(&["devices"]).unwrap();
    let revoked = |id: &str| {
        devices()
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == id)
            .unwrap()["revoked"]
            .as_bool()
            .unwrap()
    };
    assert!(!revoked(&amy_id) && !revoked(&twin), "nothing revoked yet");

    // Unique: a longer prefix of Amy's, Bea's first 8 (upper case too).
    let out = server.admin(&["revoke-device", &amy_id[..12]]).unwrap();
    assert_eq!(out["device_id"], amy_id.as_str());
    assert!(revoked(&amy_id) && !revoked(&twin) && !revoked(&bea_id));
    server
        .admin(&["revoke-device", &bea_id[..8].to_ascii_uppercase()])
        .unwrap();
    assert!(revoked(&bea_id));
}

/// `serve --reply-buffer` smaller than two of the largest pages (a device
/// fetching one large item could be told "busy" for ever) or not a size:
/// one line naming the flag, and no server started, nothing written.
#[test]
fn a_reply_buffer_too_small_or_not_a_size_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (value, says) in [("1MiB", "too small"), ("lots", "not a size")] {
        let out = admin(
            tmp.path(),
            Some(&data),
            None,
            &["serve", "--listen", "127.0.0.1:0", "--reply-buffer", value],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--reply-buffer") && err.contains(says),
            "{err}"
        );
        assert!(!data.exists(), "nothing created");
    }
}
