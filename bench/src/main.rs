//! Benchmarks against the design brief's targets (§5). A plain binary rather
//! than a timing test: it measures and prints, it never fails on speed.
//!
//!   cargo run --release -p outreach-bench [-- visit|open|caseload|store|kdf|sync|rotation|recover|report|server [N]|all]
//!   cargo run --release -p outreach-bench -- load --help   (the server under load, from this process)
//!
//! Results, with the machine, go in docs/PERFORMANCE.md.

mod load;
mod recover;
mod report;
mod sync;

use std::time::{Duration, Instant};

use outreach_core::case::doc::{Author, CaseDoc, Patch};
use outreach_core::case::model::{CaseEdit, ContactKind, Outcome};
use outreach_core::crypto::{self, Aad, KdfParams, RecordKind, SecretKey};
use outreach_core::store::Store;
use outreach_core::vault::{Vault, VaultOptions, VisitInput};
use serde_json::json;

const PASS: &str = "benchmark passphrase";

/// Counts live heap bytes, to measure the memory a loaded caseload holds.
struct Counting;
static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}
#[global_allocator]
static ALLOC: Counting = Counting;

fn live_bytes() -> i64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) as i64
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let all = which == "all";
    if all || which == "visit" {
        bench_record_visit();
    }
    if all || which == "open" {
        bench_open_case();
    }
    if all || which == "caseload" {
        bench_caseload();
    }
    if all || which == "store" {
        bench_store();
    }
    if which == "store-one" {
        store_one(&std::env::args().nth(2).unwrap_or_default());
        return;
    }
    if which == "profile" {
        profile_open();
        profile_write();
        profile_seal();
    }
    if all || which == "kdf" {
        bench_kdf();
    }
    if all || which == "sync" {
        sync::bench_bytes_per_visit();
        sync::bench_reconnect();
        sync::bench_first_sync();
        sync::bench_rotation();
    }
    if which == "rotation" {
        sync::bench_rotation();
    }
    if all || which == "supervisor" {
        sync::bench_supervisor_pull();
    }
    if which == "compaction" {
        // `compaction [CASES [SYNCS]]`: 100 × 100 unless told otherwise.
        let n = |i: usize, default: usize| {
            std::env::args()
                .nth(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or(default)
        };
        sync::bench_compaction(n(2, 100), n(3, 100));
    }
    if which == "pull-log" {
        // `pull-log [N…] [--database URL]`: log sizes (10k and 100k unless
        // told otherwise).
        // `--database URL` (a PostgreSQL admin database): one new database
        // a size there instead of SQLite.
        let args: Vec<String> = std::env::args().skip(2).collect();
        let database = args
            .iter()
            .position(|a| a == "--database")
            .and_then(|i| args.get(i + 1).cloned());
        let mut sizes: Vec<usize> = args.iter().filter_map(|s| s.parse().ok()).collect();
        if sizes.is_empty() {
            sizes = vec![10_000, 100_000];
        }
        sync::bench_pull_vs_log(&sizes, database.as_deref());
    }
    if all || which == "recover" {
        // `recover [CASES [VISITS]]`: 100 × 200 unless told otherwise.
        let n = |i: usize, default: usize| {
            std::env::args()
                .nth(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or(default)
        };
        recover::bench_recover(n(2, 100), n(3, 200));
    }
    if all || which == "report" {
        // `report [CASES [VISITS]]`: 100 × 200 unless told otherwise.
        let n = |i: usize, default: usize| {
            std::env::args()
                .nth(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or(default)
        };
        report::bench_report(n(2, 100), n(3, 200));
    }
    if which == "load" {
        load::main(std::env::args().skip(2));
        return;
    }
    if all || which == "server" {
        // Herd and steady, the real server binary loaded from this process
        // (`load --help` for every option).
        let devices = std::env::args().nth(2).unwrap_or_else(|| "1000".into());
        let server = std::env::current_exe()
            .unwrap()
            .with_file_name("outreach-server");
        if !server.is_file() {
            println!(
                "\n(server load skipped: build the server first: cargo build --release -p outreach-server)"
            );
            return;
        }
        for mode in ["herd", "steady"] {
            load::main(
                ["--devices", &devices, "--mode", mode]
                    .into_iter()
                    .map(str::to_string),
            );
        }
    }
}

fn options(kdf: KdfParams) -> VaultOptions {
    VaultOptions {
        kdf,
        wipe_after: 10,
        practitioner: "Bench Practitioner".into(),
        team: Some("Bench".into()),
    }
}

fn visit(i: usize) -> VisitInput {
    let mut v = VisitInput::new(
        format!("2026-{:02}-{:02}T10:00:00Z", 1 + (i / 28) % 12, 1 + i % 28),
        ContactKind::Home,
        Outcome::Completed,
        format!(
            "Visit {i}: talked about housing, benefits and contact with the children. {}",
            "Notes. ".repeat(40)
        ),
    );
    v.her_words = Some("I want to get it right this time".into());
    v.wellbeing = Some((i % 11) as i64);
    v.next_contact_due = Some(format!(
        "2027-{:02}-{:02}T10:00:00Z",
        1 + (i / 28) % 12,
        1 + i % 28
    ));
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A case document with `n` visits built in memory (fast set-up for the
/// read-side benchmarks), as a saved Automerge document.
fn case_bytes(n: usize, actor: u8) -> Vec<u8> {
    let author = Author {
        by: "Bench".into(),
        role: None,
        device: "bench".into(),
    };
    let at = chrono::Utc::now();
    let id = format!(
        "00000000-0000-4000-8000-{:012x}",
        actor as u64 * 1_000_003 + n as u64
    );
    let mut doc = CaseDoc::create(
        &[actor; 16],
        &id,
        &author,
        at,
        &[Patch::new(
            ["profile"],
            json!({"preferred_name": format!("Case {actor}")}),
        )],
    )
    .unwrap();
    for i in 0..n {
        let v = visit(i);
        let value = json!({
            "kind": "home", "outcome": "completed", "at": v.at, "note": v.note,
            "her_words": v.her_words, "wellbeing": v.wellbeing, "next_contact_due": v.next_contact_due,
            "recorded_by": "Bench",
        });
        doc.apply(
            &author,
            "visit recorded",
            at,
            &[Patch::new(["visits".to_string(), format!("v{i}")], value)],
        )
        .unwrap();
    }
    doc.save()
}

fn bench_record_visit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut vault =
        Vault::create(&tmp.path().join("v"), PASS, options(KdfParams::FLOOR), None).unwrap();
    let case = vault
        .create_case(&CaseEdit {
            preferred_name: Some("Bench".into()),
            ..Default::default()
        })
        .unwrap();
    for i in 0..200 {
        vault.add_visit(&case, &visit(i)).unwrap();
    }
    let n = 2000;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let v = visit(200 + i);
        let t = Instant::now();
        vault.add_visit(&case, &v).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "record a visit (change + seal + durable commit), case of 200–{} visits, n={n}: p50 {}, p90 {}, p95 {}, p99 {}, max {}; {} over 5 ms",
        200 + n,
        us(percentile(&times, 0.5)),
        us(percentile(&times, 0.9)),
        us(percentile(&times, 0.95)),
        us(percentile(&times, 0.99)),
        us(*times.last().unwrap()),
        times.iter().filter(|t| t.as_millis() >= 5).count()
    );
    // The same without the durable commit cost: how much is the fsync?
    let sealed = crypto::seal(
        &SecretKey::generate().unwrap(),
        &Aad::new([0; 16], [0; 16], RecordKind::CaseChunk, b"chunk", 1),
        &[0u8; 1100],
    )
    .unwrap();
    let mut fsync = Vec::new();
    let store_dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&store_dir.path().join("s.db")).unwrap();
    store.create_case(&[1; 16], 0, &sealed).unwrap();
    for seq in 2..500u64 {
        let t = Instant::now();
        store.append_chunk(&[1; 16], seq, &sealed).unwrap();
        fsync.push(t.elapsed());
    }
    fsync.sort();
    println!(
        "  of which one durable SQLite commit of a 1.1 KB chunk: p50 {}",
        us(percentile(&fsync, 0.5))
    );
}

/// Opening a case at the sizes a Pause case reaches over 18 months (200,
/// 500 and 2,000 visits): cold (nothing in memory), as a screen opens it.
fn bench_open_curve() {
    for n in [200usize, 500, 2000] {
        let tmp = tempfile::tempdir().unwrap();
        let mut vault =
            Vault::create(&tmp.path().join("v"), PASS, options(KdfParams::FLOOR), None).unwrap();
        let id = vault.import_case(&case_bytes(n, 1)).unwrap();
        let raw = vault.resolve_case(&id).unwrap();
        vault.compact(raw).unwrap();
        // A write, then an idle moment (the app in the background, the end
        // of a shell command): what the next open finds on disk.
        vault.add_visit(&id, &visit(n + 1)).unwrap();
        vault.compact_due().unwrap();
        let conn = vault.store_for_diagnostics().unwrap().connection();
        let (snapshot, cache): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT max(length(body)) FROM case_snapshot),
                        (SELECT coalesce(max(length(body)), 0) FROM case_read_cache)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        println!("  {n} visits: sealed snapshot {snapshot} B, read cache {cache} B");
        let mut times = Vec::new();
        for _ in 0..30 {
            vault.evict_cases();
            let t = Instant::now();
            let c = vault.read_case(&id).unwrap();
            times.push(t.elapsed());
            assert_eq!(c.visits.len(), n + 1);
        }
        times.sort();
        let mut whole = Vec::new();
        for _ in 0..10 {
            vault.evict_cases();
            let t = Instant::now();
            vault.conflicts(&id).unwrap();
            whole.push(t.elapsed());
        }
        whole.sort();
        println!(
            "open a {n:>4}-visit case (cold, as a screen reads it), n=30: p50 {}, p99 {}; loading its whole Automerge history (for a write or conflicts): p50 {}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(percentile(&whole, 0.5))
        );
    }
}

fn bench_open_case() {
    bench_open_curve();
    let tmp = tempfile::tempdir().unwrap();
    let mut vault =
        Vault::create(&tmp.path().join("v"), PASS, options(KdfParams::FLOOR), None).unwrap();
    let id = vault.import_case(&case_bytes(200, 1)).unwrap();
    let raw = vault.resolve_case(&id).unwrap();
    vault.compact(raw).unwrap();
    let mut times = Vec::new();
    for _ in 0..50 {
        vault.evict_cases();
        let t = Instant::now();
        let c = vault.read_case(&id).unwrap();
        times.push(t.elapsed());
        assert_eq!(c.visits.len(), 200);
    }
    times.sort();
    println!(
        "open a 200-visit case from storage (read + decrypt + Automerge load + typed read), n=50: p50 {}, p99 {}",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );
    // The same case stored as a snapshot plus 20 incremental chunks (about
    // what accumulates before compaction is due).
    for i in 0..20 {
        vault.add_visit(&id, &visit(1000 + i)).unwrap();
    }
    let c = vault.store_for_diagnostics().unwrap().connection();
    let chunks: i64 = c
        .query_row("SELECT count(*) FROM case_chunk", [], |r| r.get(0))
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..50 {
        vault.evict_cases();
        let t = Instant::now();
        vault.read_case(&id).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "  with {chunks} chunks after the snapshot: p50 {}",
        ms(percentile(&times, 0.5))
    );
    let t = Instant::now();
    let raw = vault.resolve_case(&id).unwrap();
    vault.compact(raw).unwrap();
    println!(
        "  compacting it (save + seal + one transaction), off the write path: {}",
        ms(t.elapsed())
    );
}

/// Unlock + caseload at the sizes users reach: 100 and 500 cases, 200 and
/// 2,000 visits each. "cold" is the first caseload after an upgrade (no
/// summaries yet: every case read whole once); "warm" every one after.
fn bench_caseload() {
    for (cases, visits) in [(100usize, 200usize), (500, 200), (100, 2000)] {
        caseload_at(cases, visits);
    }
}

fn caseload_at(cases: usize, visits: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut vault = Vault::create(&dir, PASS, options(KdfParams::FLOOR), None).unwrap();
    // One history, given a new case id per copy (cheaper than building each).
    let template = case_bytes(visits, 1);
    let author = Author {
        by: "Bench".into(),
        role: None,
        device: "bench".into(),
    };
    for i in 0..cases {
        let mut doc = CaseDoc::load(&[2; 16], Some(&template), std::iter::empty()).unwrap();
        let id = format!("00000000-0000-4000-9000-{i:012x}");
        doc.apply(
            &author,
            "copy",
            chrono::Utc::now(),
            &[Patch::new(Vec::<String>::new(), json!({ "id": id }))],
        )
        .unwrap();
        let id = vault.import_case(&doc.save()).unwrap();
        let raw = vault.resolve_case(&id).unwrap();
        vault.compact(raw).unwrap();
    }
    drop(vault);
    let mut kdf = Vec::new();
    let mut total = Vec::new();
    let mut cold = None;
    let mut per_case_mem = 0;
    for round in 0..6 {
        let t = Instant::now();
        outreach_core::crypto::derive_key(PASS.as_bytes(), &[0; 16], KdfParams::FLOOR).unwrap();
        kdf.push(t.elapsed());
        let before = live_bytes();
        let t = Instant::now();
        let mut v = Vault::open(&dir).unwrap();
        v.unlock(PASS, None).unwrap();
        let load = v.caseload(true).unwrap();
        let took = t.elapsed();
        assert_eq!(load.len(), cases);
        per_case_mem = (live_bytes() - before).max(0) / cases as i64;
        if round == 0 {
            cold = Some(took);
        } else {
            total.push(took);
        }
    }
    kdf.sort();
    total.sort();
    let kdf_med = kdf[kdf.len() / 2];
    let tot_med = total[total.len() / 2];
    println!(
        "unlock + caseload, {cases} cases × {visits} visits: warm {} excluding the KDF ({} with it), cold {} (first after an upgrade); memory held ≈ {} KiB per case",
        ms(tot_med.saturating_sub(kdf_med)),
        ms(tot_med),
        ms(cold.unwrap_or_default().saturating_sub(kdf_med)),
        per_case_mem / 1024
    );
}

fn bench_kdf() {
    for (name, p) in [
        ("default (64 MiB, t=3, p=4)", KdfParams::DEFAULT),
        ("floor (19 MiB, t=2, p=1)", KdfParams::FLOOR),
    ] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            outreach_core::crypto::derive_key(PASS.as_bytes(), &[0; 16], p).unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        println!("Argon2id {name}: median {}", ms(times[2]));
    }
}

/// 20,000 records of 1 KiB, one durable transaction each, through the same
/// `Store` code, plain vs sealed; then 200,000 random reads of each. Both are
/// alternated between the stores (writes record by record, reads in blocks)
/// so that drift in this VM's disk and CPU speed falls on both equally.
/// Store throughput, plain SQLite against the encrypted store. Each run is
/// its own process with its own database (`store-one plain|sealed`), run in
/// ABBA order; two plain runs per round give an A/A control printed beside
/// every ratio — in one process, identical work on a second database read
/// 1.8× faster than on the first, which says nothing about the code.
fn bench_store() {
    let exe = std::env::current_exe().unwrap();
    let run = |kind: &str| -> (f64, f64) {
        let out = std::process::Command::new(&exe)
            .args(["store-one", kind])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    };
    println!(
        "store, 20,000 × 1 KiB written (one durable transaction each), 200,000 random reads; one process and one database per run, ABBA order:"
    );
    for round in 0..2 {
        let a = run("plain");
        let s1 = run("sealed");
        let s2 = run("sealed");
        let b = run("plain");
        let plain = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        let sealed = ((s1.0 + s2.0) / 2.0, (s1.1 + s2.1) / 2.0);
        println!(
            "  round {}: plain A {:.0}/{:.0}, sealed {:.0}/{:.0} and {:.0}/{:.0}, plain B {:.0}/{:.0} (writes/s / reads/s)",
            round + 1,
            a.0,
            a.1,
            s1.0,
            s1.1,
            s2.0,
            s2.1,
            b.0,
            b.1
        );
        println!(
            "    sealed/plain: {:.2}× writes, {:.2}× reads   (A/A control, B/A: {:.2}× writes, {:.2}× reads)",
            sealed.0 / plain.0,
            sealed.1 / plain.1,
            b.0 / a.0,
            b.1 / a.1
        );
    }
}

/// One store run in this process: prints writes/s and reads/s.
fn store_one(kind: &str) {
    const N: u64 = 20_000;
    const READS: usize = 200_000;
    let sealed = kind == "sealed";
    let payload: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let key = SecretKey::generate().unwrap();
    let case = [3u8; 16];
    let vault_id = [9u8; 16];
    let aad = |seq: u64| Aad::new(vault_id, case, RecordKind::CaseChunk, b"chunk", seq);
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(&tmp.path().join("store.db")).unwrap();
    let body = |seq: u64| {
        if sealed {
            crypto::seal(&key, &aad(seq), &payload).unwrap()
        } else {
            payload.clone()
        }
    };
    store.create_case(&case, 0, &body(1)).unwrap();
    let t = Instant::now();
    for seq in 2..=N {
        let b = body(seq);
        store.append_chunk(&case, seq, &b).unwrap();
    }
    let writes = (N - 1) as f64 / t.elapsed().as_secs_f64();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut total = 0usize;
    let t = Instant::now();
    for _ in 0..READS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let seq = 1 + x % N;
        let stored = store.read_chunk(&case, seq).unwrap().unwrap();
        total += if sealed {
            crypto::open(&key, &aad(seq), &stored).unwrap().len()
        } else {
            stored.len()
        };
    }
    let reads = READS as f64 / t.elapsed().as_secs_f64();
    assert_eq!(total, READS * payload.len());
    println!("{writes:.1} {reads:.1}");
}

#[allow(dead_code)]
pub fn profile_open() {
    let bytes = case_bytes(200, 1);
    let t = Instant::now();
    let mut doc = CaseDoc::load(&[1; 16], Some(&bytes), std::iter::empty()).unwrap();
    let load = t.elapsed();
    let t = Instant::now();
    let _ = doc.missing_deps();
    let deps = t.elapsed();
    let t = Instant::now();
    let j = doc.to_json();
    let to_json = t.elapsed();
    let t = Instant::now();
    let _c: outreach_core::case::model::Case = serde_json::from_value(j).unwrap();
    let typed = t.elapsed();
    let t = Instant::now();
    let _ = doc.read().unwrap();
    let read = t.elapsed();
    println!(
        "profile open: {} bytes, load {}, missing_deps {}, to_json {}, from_value {}, read {}",
        bytes.len(),
        ms(load),
        ms(deps),
        ms(to_json),
        ms(typed),
        ms(read)
    );
}

#[allow(dead_code)]
pub fn profile_write() {
    let bytes = case_bytes(200, 1);
    let mut doc = CaseDoc::load(&[1; 16], Some(&bytes), std::iter::empty()).unwrap();
    let author = Author {
        by: "B".into(),
        role: None,
        device: "d".into(),
    };
    let now = chrono::Utc::now();
    let (mut ta, mut ts, mut th) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let n = 500;
    for i in 0..n {
        let v = visit(300 + i);
        let value = json!({
            "kind": "home", "outcome": "completed", "at": v.at, "note": v.note,
            "her_words": v.her_words, "wellbeing": v.wellbeing, "next_contact_due": v.next_contact_due,
            "recorded_by": "Bench", "recorded_at": "2026-11-27T10:00:00Z",
        });
        let t = Instant::now();
        let heads = doc.heads();
        th += t.elapsed();
        let t = Instant::now();
        doc.apply(
            &author,
            "visit",
            now,
            &[Patch::new(["visits".to_string(), format!("w{i}")], value)],
        )
        .unwrap();
        ta += t.elapsed();
        let t = Instant::now();
        let b = doc.save_after(&heads);
        ts += t.elapsed();
        assert!(!b.is_empty());
    }
    let per = |d: Duration| us(d / n as u32);
    println!(
        "profile write: heads {}, apply {}, save_after {}",
        per(th),
        per(ta),
        per(ts)
    );
}

#[allow(dead_code)]
pub fn profile_seal() {
    let key = SecretKey::generate().unwrap();
    let payload = vec![7u8; 1024];
    let aad = Aad::new([1; 16], [2; 16], RecordKind::CaseChunk, b"chunk", 5);
    let sealed = crypto::seal(&key, &aad, &payload).unwrap();
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(crypto::seal(&key, &aad, &payload).unwrap());
    }
    let s = t.elapsed();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(crypto::open(&key, &aad, &sealed).unwrap());
    }
    let o = t.elapsed();
    println!(
        "seal 1 KiB: {:.2} µs, open 1 KiB: {:.2} µs",
        s.as_secs_f64() * 1e6 / n as f64,
        o.as_secs_f64() * 1e6 / n as f64
    );
}
