//! A writer killed with SIGKILL mid-stream leaves a database that passes
//! `PRAGMA integrity_check` and holds every write it acknowledged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outreach_core::vault::Vault;
use outreach_tests::PASSPHRASE;

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let mut acked: Vec<String> = Vec::new();
    // Several rounds on the same vault: each kill lands at a different point
    // (mid-transaction, mid-compaction, between writes).
    for round in 0..4u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let start = Instant::now();
        let run_for = Duration::from_millis(300 + 170 * round);
        let mut this_round = 0;
        while start.elapsed() < run_for {
            match lines.next() {
                Some(Ok(line)) => {
                    let mut parts = line.split_whitespace();
                    assert_eq!(parts.next(), Some("ACK"));
                    parts.next();
                    acked.push(parts.next().unwrap().to_string());
                    this_round += 1;
                }
                _ => break,
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Lines already written before the kill were acknowledged too.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.split_whitespace().nth(2) {
                acked.push(id.to_string());
            }
        }
        assert!(this_round > 0, "round {round}: the writer made progress");

        let mut vault = Vault::open(&dir).unwrap();
        assert!(
            vault.integrity_check().unwrap(),
            "round {round}: integrity_check"
        );
        vault.unlock(PASSPHRASE, None).unwrap();
        let case = vault.case_ids().unwrap()[0].clone();
        let visits = vault.read_case(&case).unwrap().visits;
        for id in &acked {
            assert!(
                visits.contains_key(id),
                "round {round}: acknowledged visit {id} lost"
            );
        }
    }
    assert!(
        acked.len() > 100,
        "enough writes to cross compactions: {}",
        acked.len()
    );
    let vault = Vault::open(&dir).unwrap();
    let snapshots: i64 = vault
        .store_for_diagnostics()
        .unwrap()
        .connection()
        .query_row("SELECT count(*) FROM case_snapshot", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        snapshots, 1,
        "the writer compacted while it was being killed"
    );
}
