//! Recovery (issue 11): how long `outreach recover` takes for 100 cases ×
//! 200 visits — a whole organisation's subject access by the DPO.
//!
//! The server's data is built quickly and directly: one enrolled device,
//! each case uploaded as a device uploads it (the opened case as a whole
//! document, then one change per visit, each sealed under the case key and
//! signed, with the case's recovery envelope), pushed through the storage
//! API into a real `outreach-server.db`. Then: the core's recovery in this
//! process (copy of the database, every signature, every decryption, the
//! Automerge merge and the export; no files written), and the `outreach`
//! binary end to end (files written) when it is built beside this one.

use std::path::Path;
use std::time::Instant;

use outreach_core::case::doc::{Author, CaseDoc, Patch};
use outreach_core::crypto::{self, DeviceKeys, SecretKey};
use outreach_core::recover::{CaseStatus, KnownDevice, LoggedItem, Recoverer, RecoveryKey};
use outreach_core::vault::change_aad;
use outreach_protocol::{self as proto, Change, Envelope, Id, RECOVERY_RECIPIENT, Role};
use outreach_server::storage::export::{ServerData, SqliteSnapshot};
use outreach_server::storage::{NewDevice, SqliteStorage, Storage};
use serde_json::json;

use crate::visit;

fn uuid_text(id: &Id) -> String {
    let h = hex_lower(id);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A server data folder holding `cases` cases of `visits` visits each, and
/// its recovery key file. Returns (data folder, key file).
fn build(dir: &Path, cases: usize, visits: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("data");
    let key_file = dir.join("recovery-key.json");
    let storage = SqliteStorage::open(&data).unwrap();
    let recovery_pk = outreach_server::keys::write_recovery_key(&key_file, "Bench").unwrap();
    let now = outreach_server::now();
    let org = storage.init_org("Bench", recovery_pk, now).unwrap();
    let code = outreach_server::keys::new_code().unwrap();
    storage
        .create_invite(
            "Amy",
            Role::Practitioner,
            Some("north"),
            outreach_server::keys::code_hash(&code),
            now + 3600,
            now,
        )
        .unwrap();
    let keys = DeviceKeys::generate().unwrap();
    let device_id: Id = crypto::random_id().unwrap();
    storage
        .enroll(
            outreach_server::keys::code_hash(&code),
            NewDevice {
                device_id,
                sign_pk: keys.sign_pk(),
                kex_pk: keys.kex_pk(),
            },
            now,
        )
        .unwrap();
    let device = storage.device(&device_id).unwrap().unwrap();
    let author = Author {
        by: "Amy".into(),
        role: Some("practitioner".into()),
        device: hex_lower(&device_id),
    };
    let at = chrono::Utc::now();
    for c in 0..cases {
        let case: Id = crypto::random_id().unwrap();
        let mut case = case;
        case[6] = (case[6] & 0x0f) | 0x40; // a version-4 UUID, as devices make
        case[8] = (case[8] & 0x3f) | 0x80;
        let key = SecretKey::generate().unwrap();
        let mut doc = CaseDoc::create(
            &device_id,
            &uuid_text(&case),
            &author,
            at,
            &[Patch::new(
                ["profile"],
                json!({"preferred_name": format!("Case {c}")}),
            )],
        )
        .unwrap();
        let mut uploads = vec![doc.save()];
        for i in 0..visits {
            let heads = doc.heads();
            let v = visit(i);
            let value = json!({
                "kind": "home", "outcome": "completed", "at": v.at, "note": v.note,
                "her_words": v.her_words, "wellbeing": v.wellbeing,
                "next_contact_due": v.next_contact_due, "recorded_by": "Amy",
            });
            doc.apply(
                &author,
                "visit recorded",
                at,
                &[Patch::new(["visits".to_string(), format!("v{i}")], value)],
            )
            .unwrap();
            uploads.push(doc.save_after(&heads));
        }
        let changes: Vec<Change> = uploads
            .iter()
            .map(|bytes| {
                let client_id = crypto::random_id().unwrap();
                let ciphertext =
                    crypto::seal(&key, &change_aad(org.org_id, case, 0, &client_id), bytes)
                        .unwrap();
                let m = proto::change_message(&case, 0, &device_id, &client_id, &ciphertext);
                Change {
                    client_id,
                    case_id: case,
                    epoch: 0,
                    author: device_id,
                    signature: keys.sign(&m).to_vec(),
                    ciphertext,
                }
            })
            .collect();
        let aad = proto::envelope_aad(&org.org_id, &case, 0, &RECOVERY_RECIPIENT);
        let (enc, ciphertext) =
            crypto::seal_envelope(&key, &recovery_pk, proto::ENVELOPE_INFO, &aad).unwrap();
        let m = proto::envelope_message(
            &case,
            0,
            &RECOVERY_RECIPIENT,
            &device_id,
            false,
            &enc,
            &ciphertext,
        );
        let envelope = Envelope {
            case_id: case,
            epoch: 0,
            recipient: RECOVERY_RECIPIENT,
            sealed_by: device_id,
            signature: keys.sign(&m).to_vec(),
            enc,
            ciphertext,
            starts_epoch: false,
        };
        storage
            .push(&device, changes, vec![envelope], now)
            .expect("push a case");
    }
    storage.checkpoint().unwrap();
    (data, key_file)
}

pub fn bench_recover(cases: usize, visits: usize) {
    println!("\n== recover: {cases} cases × {visits} visits (outreach recover, offline) ==");
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (data, key_file) = build(tmp.path(), cases, visits);
    let db_bytes = std::fs::metadata(data.join("outreach-server.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "built the server's data: {:.1} s, database {:.1} MB, {} changes",
        t.elapsed().as_secs_f64(),
        db_bytes as f64 / 1e6,
        cases * (visits + 1)
    );

    // The core's recovery, in this process: copy, verify, decrypt, merge,
    // build each export and document (not written).
    let t = Instant::now();
    let snapshot = SqliteSnapshot::open(&data).unwrap();
    let copied = t.elapsed();
    let key_bytes = std::fs::read(&key_file).unwrap();
    let sk = outreach_server::keys::read_recovery_key(&key_bytes).unwrap();
    let org = snapshot.org().unwrap();
    let devices = snapshot
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| KnownDevice {
            device_id: d.device_id,
            sign_pk: d.sign_pk,
            user_id: d.user_id,
            user_name: d.user_name,
            role: d.role,
            team: d.team,
            revoked_at: d.revoked_at,
        })
        .collect();
    let mut r = Recoverer::new(
        RecoveryKey::from_bytes(&sk[..]).unwrap(),
        org.org_id,
        org.recovery_pk,
        devices,
    )
    .unwrap();
    let mut read = std::time::Duration::ZERO;
    let mut slowest = std::time::Duration::ZERO;
    let mut recovered = 0;
    let mut bytes_out = 0usize;
    for case in snapshot.cases().unwrap() {
        let t_read = Instant::now();
        let items: Vec<LoggedItem> = snapshot
            .case_items(&case)
            .unwrap()
            .into_iter()
            .map(|i| LoggedItem {
                seq: i.seq,
                stored_at: i.stored_at,
                body: i.body,
            })
            .collect();
        read += t_read.elapsed();
        let t_case = Instant::now();
        let out = r.recover_case(case, &items, chrono::Utc::now(), "bench");
        let json = serde_json::to_vec_pretty(&out.export).unwrap();
        bytes_out += json.len() + out.automerge.as_ref().map_or(0, Vec::len);
        slowest = slowest.max(t_case.elapsed());
        if out.status == CaseStatus::Recovered {
            recovered += 1;
        }
    }
    let total = t.elapsed();
    println!(
        "core, in process: {:.2} s for {recovered}/{cases} cases ({:.1} ms a case; private copy of the database {:.0} ms, reading items {:.0} ms; slowest case {:.0} ms; {:.1} MB of exports)",
        total.as_secs_f64(),
        total.as_secs_f64() * 1e3 / cases as f64,
        copied.as_secs_f64() * 1e3,
        read.as_secs_f64() * 1e3,
        slowest.as_secs_f64() * 1e3,
        bytes_out as f64 / 1e6
    );

    // The command end to end, if it is built beside this binary.
    let exe = std::env::current_exe().unwrap().with_file_name("outreach");
    if !exe.is_file() {
        println!("(the `outreach` binary is not built beside this one: command not timed)");
        return;
    }
    let out_dir = tmp.path().join("sar");
    let t = Instant::now();
    let status = std::process::Command::new(&exe)
        .args(["recover", "--recovery-key"])
        .arg(&key_file)
        .arg("--server-data")
        .arg(&data)
        .arg("--out")
        .arg(&out_dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    println!(
        "`outreach recover` end to end (files written): {:.2} s, exit {}",
        t.elapsed().as_secs_f64(),
        status.code().unwrap_or(-1)
    );
}
