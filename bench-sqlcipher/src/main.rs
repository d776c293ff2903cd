//! The store benchmark's workload (20,000 × 1 KiB records, one durable
//! transaction each, then 200,000 random reads) against SQLCipher 4 with a
//! raw 256-bit key, using the same schema, pragmas and statements as
//! `outreach_core::store::Store`. Medians of 3 rounds.

use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};

const N: i64 = 20_000;
const READS: usize = 200_000;

fn main() {
    let payload: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut w = Vec::new();
    let mut r = Vec::new();
    for round in 0..3u64 {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = round_once(&tmp.path().join("c.db"), &payload, round);
        w.push(a);
        r.push(b);
    }
    w.sort_by(|a, b| a.total_cmp(b));
    r.sort_by(|a, b| a.total_cmp(b));
    let version: String = Connection::open_in_memory()
        .unwrap()
        .query_row("PRAGMA cipher_version", [], |r| r.get(0))
        .unwrap_or_else(|_| "?".into());
    println!("SQLCipher {version}, raw key: {:.0} writes/s, {:.0} random reads/s", w[1], r[1]);
}

fn round_once(path: &std::path::Path, payload: &[u8], round: u64) -> (f64, f64) {
    let mut conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA key = \"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'\";")
        .unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.pragma_update(None, "secure_delete", "ON").unwrap();
    conn.execute_batch(
        "CREATE TABLE cases (case_id BLOB PRIMARY KEY, created_at INTEGER NOT NULL, chunk_bytes INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE case_chunk (case_id BLOB NOT NULL REFERENCES cases(case_id), seq INTEGER NOT NULL,
                                  body BLOB NOT NULL, PRIMARY KEY (case_id, seq));",
    )
    .unwrap();
    let case = [3u8; 16];
    conn.execute("INSERT INTO cases(case_id, created_at) VALUES (?1, 0)", [&case[..]]).unwrap();
    let t = Instant::now();
    for seq in 1..=N {
        let tx = conn.transaction().unwrap();
        tx.prepare_cached("INSERT INTO case_chunk(case_id, seq, body) VALUES (?1, ?2, ?3)")
            .unwrap()
            .execute(params![&case[..], seq, payload])
            .unwrap();
        let _: i64 = tx
            .prepare_cached("UPDATE cases SET chunk_bytes = chunk_bytes + ?2 WHERE case_id = ?1 RETURNING chunk_bytes")
            .unwrap()
            .query_row(params![&case[..], payload.len() as i64], |r| r.get(0))
            .unwrap();
        tx.commit().unwrap();
    }
    let writes = N as f64 / t.elapsed().as_secs_f64();
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ round;
    let t = Instant::now();
    let mut total = 0usize;
    let mut stmt = conn.prepare_cached("SELECT body FROM case_chunk WHERE case_id = ?1 AND seq = ?2").unwrap();
    for _ in 0..READS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let seq = 1 + (x % N as u64) as i64;
        let body: Option<Vec<u8>> = stmt.query_row(params![&case[..], seq], |r| r.get(0)).optional().unwrap();
        total += body.unwrap().len();
    }
    let reads = READS as f64 / t.elapsed().as_secs_f64();
    assert_eq!(total, READS * payload.len());
    (writes, reads)
}
