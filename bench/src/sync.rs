//! Sync benchmarks (issue 3 §6, brief §5): bytes per visit, reconnect cost,
//! first sync of 100 cases against Automerge's own per-document sync
//! protocol. The server under many devices is measured by `load.rs`, from a
//! separate process against the real binary.
//!
//! The server runs in this process on a loopback port (its own Tokio
//! runtime); a counting TCP proxy in front of it measures bytes on the wire,
//! HTTP headers included. These figures are byte counts and single-device
//! times: sharing a process with the server does not change them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use automerge::sync::SyncDoc;
use outreach_core::case::model::CaseEdit;
use outreach_core::crypto::{KdfParams, SEAL_OVERHEAD};
use outreach_core::sync::{self, HttpTransport};
use outreach_core::vault::Vault;
use outreach_protocol::{self as proto, Item, Role};
use outreach_server::storage::{PostgresStorage, SqliteStorage, Storage};

use crate::{PASS, ms, options, visit};

pub struct LocalServer {
    pub addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
    _rt: tokio::runtime::Runtime,
    /// Dropped after the runtime, so that the last reference to the
    /// storage is never dropped on a runtime thread (the blocking
    /// PostgreSQL client refuses to shut down its connections there).
    pub storage: Arc<dyn Storage>,
}

pub fn start_server(data: &Path, workers: usize) -> LocalServer {
    start_server_on(data, workers, Arc::new(SqliteStorage::open(data).unwrap()))
}

/// Like [`start_server`], on the given (empty) storage.
pub fn start_server_on(data: &Path, workers: usize, storage: Arc<dyn Storage>) -> LocalServer {
    std::fs::create_dir_all(data).unwrap();
    let pk =
        outreach_server::keys::write_recovery_key(&data.join("recovery.json"), "Bench").unwrap();
    storage
        .init_org("Bench", pk, outreach_server::now())
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        // Storage calls run here; more threads than this only thrash two cores.
        .max_blocking_threads(outreach_server::MAX_BLOCKING_THREADS)
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // Every simulated device enrols from this one address at once.
    let options = outreach_server::ServeOptions {
        enrol_per_address: 1_000_000,
        enrol_global: 1_000_000,
        max_connections: 4096,
        ..Default::default()
    };
    let state = outreach_server::AppState::new(storage.clone(), options);
    rt.spawn(outreach_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    LocalServer {
        addr,
        storage,
        _rt: rt,
        _stop: tx,
    }
}

impl LocalServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn invite(&self, name: &str, role: Role) -> String {
        let code = outreach_server::keys::new_code().unwrap();
        let now = outreach_server::now();
        self.storage
            .create_invite(
                name,
                role,
                Some("north"),
                outreach_server::keys::code_hash(&code),
                now + 3600,
                now,
            )
            .unwrap();
        code
    }
}

/// Counts bytes both ways between devices and the server.
pub struct CountingProxy {
    pub addr: SocketAddr,
    pub up: Arc<AtomicU64>,
    pub down: Arc<AtomicU64>,
}

impl CountingProxy {
    pub fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let (u, d) = (up.clone(), down.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let (u, d) = (u.clone(), d.clone());
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || pump(c2, s2, u));
                thread::spawn(move || pump(server, client, d));
            }
        });
        Self { addr, up, down }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn reset(&self) {
        self.up.store(0, Ordering::SeqCst);
        self.down.store(0, Ordering::SeqCst);
    }

    pub fn bytes(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::SeqCst),
            self.down.load(Ordering::SeqCst),
        )
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, count: Arc<AtomicU64>) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::SeqCst);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn device(dir: &Path, name: &str, server: &LocalServer, role: Role) -> Vault {
    let mut v = Vault::create(dir, PASS, options(KdfParams::FLOOR), None).unwrap();
    let code = server.invite(name, role);
    let t = HttpTransport::new(&server.url(), false).unwrap();
    sync::enroll(&mut v, &t, &server.url(), false, &code).unwrap();
    v
}

fn sync_via(v: &mut Vault, url: &str) -> sync::SyncReport {
    let t = HttpTransport::new(url, false).unwrap();
    sync::sync(v, &t, &mut ()).unwrap()
}

fn new_case(v: &mut Vault, i: usize) -> String {
    v.create_case(&CaseEdit {
        preferred_name: Some(format!("Case {i}")),
        ..Default::default()
    })
    .unwrap()
}

pub fn bench_bytes_per_visit() {
    println!("\n== bytes pushed per new visit (target ≤ 1.2 × raw change + 150 B) ==");
    let tmp = tempfile::tempdir().unwrap();
    let server = start_server(&tmp.path().join("server"), 2);
    let proxy = CountingProxy::start(server.addr);
    let mut v = device(&tmp.path().join("amy"), "Amy", &server, Role::Practitioner);
    let case = new_case(&mut v, 0);
    for i in 0..200 {
        v.add_visit(&case, &visit(i)).unwrap();
    }
    sync_via(&mut v, &server.url());
    let (mut raw, mut body, mut wire_up, mut n) = (0usize, 0usize, 0u64, 0usize);
    for i in 200..230 {
        v.add_visit(&case, &visit(i)).unwrap();
        v.prepare_uploads().unwrap();
        let batch = v.outbox_batch(usize::MAX).unwrap();
        let mut req = proto::PushRequest::default();
        for (_, item) in batch {
            if let Item::Change(c) = item {
                raw += c.ciphertext.len() - SEAL_OVERHEAD;
                req.changes.push(c);
            }
        }
        body += proto::encode(&req).len();
        proxy.reset();
        let r = sync_via(&mut v, &proxy.url());
        assert_eq!(r.pushed, 1);
        // The push request only: total up minus the pull that follows.
        let (up, _) = proxy.bytes();
        wire_up += up;
        n += 1;
    }
    let (raw, body) = (raw / n, body / n);
    println!("raw Automerge change per visit : {raw} B (a 200-visit case, note ≈ 370 chars)");
    println!(
        "push body per visit            : {body} B = {:.3} × raw + {} B (target: 1.2 × raw + 150 = {} B)",
        body as f64 / raw as f64,
        body as i64 - raw as i64,
        (1.2 * raw as f64 + 150.0) as usize
    );
    println!(
        "whole sync on the wire, up     : {} B per visit (push + pull requests, HTTP headers included)",
        wire_up / n as u64
    );
}

pub fn bench_reconnect() {
    println!(
        "\n== reconnect with nothing new (target: 1 round trip, < 1 KB, whatever the number of cases) =="
    );
    for n in [10usize, 100, 1000] {
        let tmp = tempfile::tempdir().unwrap();
        let server = start_server(&tmp.path().join("server"), 2);
        let proxy = CountingProxy::start(server.addr);
        let mut v = device(&tmp.path().join("amy"), "Amy", &server, Role::Practitioner);
        for i in 0..n {
            let c = new_case(&mut v, i);
            v.add_visit(&c, &visit(i)).unwrap();
        }
        sync_via(&mut v, &server.url());
        sync_via(&mut v, &server.url());
        proxy.reset();
        let started = Instant::now();
        let r = sync_via(&mut v, &proxy.url());
        let took = started.elapsed();
        let (up, down) = proxy.bytes();
        println!(
            "{n:>5} cases: {} round trip(s), bodies {} B up / {} B down, on the wire {} B up / {} B down ({} B total), {}",
            r.round_trips,
            r.bytes_sent,
            r.bytes_received,
            up,
            down,
            up + down,
            ms(took)
        );
    }
}

/// 100 cases of 20 visits: first sync of a new device, and a reconnect,
/// through our log protocol and through `automerge::sync`.
pub fn bench_first_sync() {
    println!(
        "\n== first sync of 100 cases (20 visits each) and reconnect: log protocol vs automerge::sync =="
    );
    let tmp = tempfile::tempdir().unwrap();
    let server = start_server(&tmp.path().join("server"), 2);
    let proxy = CountingProxy::start(server.addr);
    let mut amy = device(&tmp.path().join("amy"), "Amy", &server, Role::Practitioner);
    let mut cases = Vec::new();
    for i in 0..100 {
        let c = new_case(&mut amy, i);
        for j in 0..20 {
            amy.add_visit(&c, &visit(i * 20 + j)).unwrap();
        }
        cases.push(c);
    }
    proxy.reset();
    let started = Instant::now();
    let r = sync_via(&mut amy, &proxy.url());
    let (up, down) = proxy.bytes();
    println!(
        "log protocol, first upload  : {} round trips, {} B up / {} B down on the wire, {}",
        r.round_trips,
        up,
        down,
        ms(started.elapsed())
    );
    let mut sue = device(&tmp.path().join("sue"), "Sue", &server, Role::Supervisor);
    sync_via(&mut amy, &server.url()); // seal the 100 keys for Sue's device
    proxy.reset();
    let started = Instant::now();
    let r = sync_via(&mut sue, &proxy.url());
    let (up, down) = proxy.bytes();
    println!(
        "log protocol, new device    : {} round trips, {} B up / {} B down on the wire ({} cases), {}",
        r.round_trips,
        up,
        down,
        r.cases_changed.len(),
        ms(started.elapsed())
    );
    let db = rusqlite::Connection::open(outreach_server::database_path(&tmp.path().join("server")))
        .unwrap();
    let (changes, envelopes): (i64, i64) = db
        .query_row(
            "SELECT (SELECT SUM(length(body)) FROM log WHERE kind = 0),
                    (SELECT SUM(length(body)) FROM log WHERE kind = 1 AND target = ?1)",
            [&sue.device_id_bytes().unwrap()[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    println!(
        "  of which                  : {changes} B case data (signed ciphertext), {envelopes} B case-key envelopes for this device, {} B HTTP and framing",
        down as i64 - changes - envelopes
    );
    proxy.reset();
    let r = sync_via(&mut sue, &proxy.url());
    let (up, down) = proxy.bytes();
    println!(
        "log protocol, reconnect     : {} round trip(s), {} B on the wire",
        r.round_trips,
        up + down
    );

    // automerge::sync between two peers, one document per case.
    let docs: Vec<automerge::AutoCommit> = cases
        .iter()
        .map(|c| automerge::AutoCommit::load(&amy.export_automerge(c).unwrap()).unwrap())
        .collect();
    let (rounds, messages, bytes, states) = automerge_sync(
        docs.clone(),
        docs.iter().map(|_| automerge::AutoCommit::new()).collect(),
        None,
    );
    println!(
        "automerge::sync, new device : {rounds} rounds if all 100 docs share each round trip, {messages} messages, {bytes} B of sync messages (no HTTP, no encryption)"
    );
    let synced: Vec<automerge::AutoCommit> = docs.clone();
    let (rounds, messages, bytes, _) = automerge_sync(docs.clone(), synced.clone(), Some(states));
    println!(
        "automerge::sync, reconnect  : {rounds} rounds, {messages} messages, {bytes} B (sync states kept from last time)"
    );
    let (rounds, messages, bytes, _) = automerge_sync(docs, synced, None);
    println!(
        "automerge::sync, reconnect  : {rounds} rounds, {messages} messages, {bytes} B (fresh sync states)"
    );
}

type States = Vec<(automerge::sync::State, automerge::sync::State)>;

/// Runs the per-document sync protocol for every document pair in
/// lock-step rounds; returns (rounds, messages, bytes, final states).
fn automerge_sync(
    mut a: Vec<automerge::AutoCommit>,
    mut b: Vec<automerge::AutoCommit>,
    states: Option<States>,
) -> (usize, usize, usize, States) {
    let mut states: States =
        states.unwrap_or_else(|| a.iter().map(|_| Default::default()).collect());
    let (mut rounds, mut messages, mut bytes) = (0, 0, 0);
    loop {
        let mut any = false;
        for i in 0..a.len() {
            let (sa, sb) = &mut states[i];
            if let Some(m) = a[i].sync().generate_sync_message(sa) {
                any = true;
                messages += 1;
                let enc = m.encode();
                bytes += enc.len();
                b[i].sync()
                    .receive_sync_message(sb, automerge::sync::Message::decode(&enc).unwrap())
                    .unwrap();
            }
            if let Some(m) = b[i].sync().generate_sync_message(sb) {
                any = true;
                messages += 1;
                let enc = m.encode();
                bytes += enc.len();
                a[i].sync()
                    .receive_sync_message(sa, automerge::sync::Message::decode(&enc).unwrap())
                    .unwrap();
            }
        }
        if !any {
            break;
        }
        rounds += 1;
    }
    // After a reconnect both sides start from the states they persisted.
    for (sa, sb) in states.iter_mut() {
        *sa = automerge::sync::State::decode(&sa.encode()).unwrap();
        *sb = automerge::sync::State::decode(&sb.encode()).unwrap();
    }
    (rounds, messages, bytes, states)
}

/// What changing a case's key costs (issue 11): a case with 200 visits and
/// 5 authorised devices (its practitioner, four supervisors) after a sixth
/// device is revoked. The sync that rotates (pull, seal 6 envelopes, one
/// `/v1/rotate`) against the same device's sync with nothing new.
pub fn bench_rotation() {
    println!("\n== key rotation: a 200-visit case, 5 authorised devices, one revoked ==");
    let rounds = 20;
    let (mut plain, mut rotating, mut sealing) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = (0u64, 0u64);
    for round in 0..rounds {
        let tmp = tempfile::tempdir().unwrap();
        let server = start_server(&tmp.path().join("server"), 2);
        let mut amy = device(&tmp.path().join("amy"), "Amy", &server, Role::Practitioner);
        let mut sups: Vec<Vault> = (0..5)
            .map(|i| {
                device(
                    &tmp.path().join(format!("sup{i}")),
                    &format!("Sup{i}"),
                    &server,
                    Role::Supervisor,
                )
            })
            .collect();
        let case = new_case(&mut amy, round);
        for i in 0..200 {
            amy.add_visit(&case, &visit(i)).unwrap();
        }
        sync_via(&mut amy, &server.url());
        for s in &mut sups {
            sync_via(s, &server.url());
        }
        sync_via(&mut amy, &server.url());
        let started = Instant::now();
        sync_via(&mut amy, &server.url());
        plain.push(started.elapsed());
        let leaver = sups.pop().unwrap();
        server
            .storage
            .revoke_device(&leaver.device_id_bytes().unwrap(), outreach_server::now())
            .unwrap();
        let started = Instant::now();
        let r = sync_via(&mut amy, &server.url());
        rotating.push(started.elapsed());
        assert_eq!(r.keys_rotated, 1);
        bytes.0 += r.bytes_sent;
        bytes.1 += r.bytes_received;
        // Sealing alone: the same request built again for a due rotation.
        let due = proto::RotationDue {
            case_id: amy.resolve_case(&case).unwrap(),
            epoch: 2,
            recipients: (0..6)
                .map(|i| proto::Recipient {
                    device_id: [i + 1; 16],
                    kex_pk: outreach_core::crypto::DeviceKeys::generate()
                        .unwrap()
                        .kex_pk(),
                })
                .collect(),
        };
        let started = Instant::now();
        let req = amy.rotation_request(&due).unwrap();
        sealing.push(started.elapsed());
        assert!(req.is_some());
        for s in &mut sups {
            let r = sync_via(s, &server.url());
            assert!(r.rejected.is_empty());
        }
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "sync with nothing new           : {} (median of {rounds})",
        ms(median(&mut plain))
    );
    println!(
        "sync that rotates the key       : {} (median of {rounds}); bodies {} B up / {} B down",
        ms(median(&mut rotating)),
        bytes.0 / rounds as u64,
        bytes.1 / rounds as u64
    );
    println!(
        "sealing the new key to 6        : {} (5 devices + recovery key, HPKE)",
        ms(median(&mut sealing))
    );
}

/// A supervisor's pull as her team's caseload grows (issue 17): the server's
/// cost of one pull (storage, in process, after the page cache is warm) and
/// the device's whole sync with nothing new, at 100 and 1,000 team cases.
pub fn bench_supervisor_pull() {
    println!("\n== a supervisor's pull at 100 and 1,000 team cases ==");
    for n in [100usize, 1000] {
        let tmp = tempfile::tempdir().unwrap();
        let server = start_server(&tmp.path().join("server"), 2);
        let mut amy = device(&tmp.path().join("amy"), "Amy", &server, Role::Practitioner);
        let mut sue = device(&tmp.path().join("sue"), "Sue", &server, Role::Supervisor);
        for i in 0..n {
            let c = new_case(&mut amy, i);
            amy.add_visit(&c, &visit(i)).unwrap();
        }
        sync_via(&mut amy, &server.url());
        let first = Instant::now();
        sync_via(&mut sue, &server.url());
        let first = first.elapsed();
        sync_via(&mut sue, &server.url());
        let me = server
            .storage
            .device(&sue.device_id_bytes().unwrap())
            .unwrap()
            .unwrap();
        let cursor = sue.sync_cursor().unwrap();
        let mut pulls = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let page = server
                .storage
                .pull(&me, cursor, proto::DEFAULT_PULL_BYTES)
                .unwrap();
            pulls.push(t.elapsed());
            assert!(page.len() < 64);
        }
        pulls.sort();
        let mut syncs = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            sync_via(&mut sue, &server.url());
            syncs.push(t.elapsed());
        }
        syncs.sort();
        println!(
            "{n:>5} team cases: server pull with nothing new p50 {:.0} µs, p99 {:.0} µs; her sync with nothing new p50 {}; her first sync (every case) {}",
            pulls[pulls.len() / 2].as_secs_f64() * 1e6,
            pulls[pulls.len() * 99 / 100].as_secs_f64() * 1e6,
            ms(syncs[syncs.len() / 2]),
            ms(first)
        );
    }
}

/// `pull-log [N…]`: a practitioner who may read five cases, against an
/// organisation whose log holds N items of other teams' cases (added with
/// SQL straight into the server's SQLite log — rows she may not read, 100
/// per case, 200-byte bodies; 10k and 100k by default). Her pull is timed
/// in process through the storage (200 calls, from her cursor, which is
/// before those items), then her whole sync with nothing new over loopback.
///
/// With `database` (a PostgreSQL URL of an empty cluster's admin database),
/// each size runs on a new database created there instead.
pub fn bench_pull_vs_log(sizes: &[usize], database: Option<&str>) {
    println!(
        "\n== a practitioner's pull against the organisation's log size ({}) ==",
        if database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    for &n in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("server");
        let url = database.map(|admin| {
            let name = format!("pull_log_{n}");
            let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .unwrap();
            c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            format!("{base}/{name}")
        });
        let server = match &url {
            Some(u) => start_server_on(&data, 2, Arc::new(PostgresStorage::open(u).unwrap())),
            None => start_server(&data, 2),
        };
        let mut amy = device(&tmp.path().join("amy"), "Amy", &server, Role::Practitioner);
        for i in 0..5 {
            let c = new_case(&mut amy, i);
            amy.add_visit(&c, &visit(i)).unwrap();
        }
        sync_via(&mut amy, &server.url());
        let cursor = amy.sync_cursor().unwrap();
        let t = Instant::now();
        let cases = (n / 100).max(1);
        let rows: i64 = if let Some(u) = &url {
            let mut db = postgres::Client::connect(u, postgres::NoTls).unwrap();
            db.batch_execute(&format!(
                "BEGIN;
                 INSERT INTO log (kind, case_id, epoch, device_id, target, client_id, body, created_at)
                 SELECT 0, convert_to(lpad('c' || (i % {cases}), 16, '0'), 'UTF8'), 0,
                        convert_to(lpad('d' || (i % 97), 16, '0'), 'UTF8'), NULL,
                        decode(md5(i::text), 'hex'), decode(repeat(md5(i::text), 12), 'hex'), 0
                 FROM generate_series(0, {n} - 1) AS i;
                 INSERT INTO cases (case_id, team, created_by, created_at)
                 SELECT DISTINCT case_id, 'south', device_id, 0 FROM log WHERE kind = 0 AND created_at = 0
                 ON CONFLICT DO NOTHING;
                 COMMIT;
                 ANALYZE;"
            ))
            .unwrap();
            db.query_one("SELECT COUNT(*) FROM log", &[])
                .unwrap()
                .get(0)
        } else {
            let db = rusqlite::Connection::open(outreach_server::database_path(&data)).unwrap();
            db.execute_batch(&format!(
            "BEGIN;
             WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {n})
             INSERT INTO log (kind, case_id, epoch, device_id, target, client_id, body, created_at)
             SELECT 0, CAST(printf('c%015d', i % {cases}) AS BLOB), 0,
                    CAST(printf('d%015d', i % 97) AS BLOB), NULL, randomblob(16), randomblob(200), 0
             FROM s;
             INSERT OR IGNORE INTO cases (case_id, team, created_by, created_at)
             SELECT DISTINCT case_id, 'south', device_id, 0 FROM log WHERE kind = 0 AND created_at = 0;
             COMMIT;"
            ))
            .unwrap();
            db.query_row("SELECT COUNT(*) FROM log", [], |r| r.get(0))
                .unwrap()
        };
        let filled = t.elapsed();
        let me = server
            .storage
            .device(&amy.device_id_bytes().unwrap())
            .unwrap()
            .unwrap();
        let mut pulls = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let page = server
                .storage
                .pull(&me, cursor, proto::DEFAULT_PULL_BYTES)
                .unwrap();
            pulls.push(t.elapsed());
            assert!(page.len() < 64);
        }
        pulls.sort();
        let mut syncs = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            sync_via(&mut amy, &server.url());
            syncs.push(t.elapsed());
        }
        syncs.sort();
        println!(
            "{rows:>8} log items ({n} of other teams, added in {}): her server pull p50 {:.0} µs, p99 {:.0} µs; her sync with nothing new p50 {}",
            ms(filled),
            pulls[pulls.len() / 2].as_secs_f64() * 1e6,
            pulls[pulls.len() * 99 / 100].as_secs_f64() * 1e6,
            ms(syncs[syncs.len() / 2]),
        );
    }
}

/// Server-side compaction (issue 12): `cases` cases written over `syncs`
/// syncs (one visit per case between two syncs, as a weekly visit synced
/// the same day over two years is ~100), then the server log and a new
/// device's first sync, before and after the practitioner's device uploads
/// its snapshots.
pub fn bench_compaction(cases: usize, syncs: usize) {
    println!(
        "\n== server-side compaction: {cases} cases × {syncs} syncs (one visit per case between syncs) =="
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    let server = start_server(&data, 2);
    let proxy = CountingProxy::start(server.addr);
    let mut amy = device(&tmp.path().join("amy"), "Amy", &server, Role::Practitioner);
    amy.set_compaction_threshold(i64::MAX).unwrap();
    let ids: Vec<String> = (0..cases).map(|i| new_case(&mut amy, i)).collect();
    let started = Instant::now();
    for s in 0..syncs {
        for (i, c) in ids.iter().enumerate() {
            amy.add_visit(c, &visit(s * cases + i)).unwrap();
        }
        sync_via(&mut amy, &server.url());
    }
    println!(
        "history written: {} visits in {} syncs, {}",
        cases * syncs,
        syncs,
        ms(started.elapsed())
    );
    let log = |label: &str| {
        let db = rusqlite::Connection::open(outreach_server::database_path(&data)).unwrap();
        let (n, bytes): (i64, i64) = db
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM log WHERE kind = 0",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let kept: i64 = db
            .query_row("SELECT COUNT(*) FROM superseded", [], |r| r.get(0))
            .unwrap();
        let file = std::fs::metadata(outreach_server::database_path(&data))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "{label}: log {n} changes, {:.1} MB of change bodies; {kept} superseded kept aside; database file {:.1} MB",
            bytes as f64 / 1e6,
            file as f64 / 1e6
        );
    };
    let first_sync = |amy: &mut Vault, label: &str, n: usize| {
        // A new device of Amy's; her first device seals it the case keys.
        let mut new = device(
            &tmp.path().join(format!("new{n}")),
            "Amy",
            &server,
            Role::Practitioner,
        );
        sync_via(amy, &server.url());
        proxy.reset();
        let started = Instant::now();
        let r = sync_via(&mut new, &proxy.url());
        let took = started.elapsed();
        let (up, down) = proxy.bytes();
        let visits: usize = ids
            .iter()
            .map(|c| new.read_case(c).map(|c| c.visits.len()).unwrap_or(0))
            .sum();
        println!(
            "{label}: a new device's first sync {}, {} round trips, {:.2} MB down / {:.2} MB up, {} changes applied; {visits} visits readable",
            ms(took),
            r.round_trips,
            down as f64 / 1e6,
            up as f64 / 1e6,
            r.pulled
        );
    };
    log("before");
    first_sync(&mut amy, "before", 1);
    amy.set_compaction_threshold(2).unwrap();
    let started = Instant::now();
    proxy.reset();
    sync_via(&mut amy, &proxy.url());
    let (up, _) = proxy.bytes();
    println!(
        "the practitioner's sync that compacts every case: {}, {:.2} MB up",
        ms(started.elapsed()),
        up as f64 / 1e6
    );
    log("after");
    first_sync(&mut amy, "after", 2);
}
