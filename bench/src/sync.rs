//! Sync benchmarks (issue 3 §6, brief §5): bytes per visit, reconnect cost,
//! first sync of 100 cases against Automerge's own per-document sync
//! protocol, and the server under many concurrent devices.
//!
//! The server runs in this process on a loopback port (its own Tokio
//! runtime); a counting TCP proxy in front of it measures bytes on the wire,
//! HTTP headers included.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use automerge::sync::SyncDoc;
use ed25519_dalek::{Signer, SigningKey};
use hpke::{Kem as _, Serializable, kem::X25519HkdfSha256};
use outreach_core::case::model::CaseEdit;
use outreach_core::crypto::{KdfParams, SEAL_OVERHEAD};
use outreach_core::sync::{self, HttpTransport};
use outreach_core::vault::Vault;
use outreach_protocol::{self as proto, Item, Role};
use outreach_server::storage::{SqliteStorage, Storage};

use crate::{PASS, ms, options, percentile, visit};

pub struct LocalServer {
    pub addr: SocketAddr,
    pub storage: Arc<SqliteStorage>,
    _rt: tokio::runtime::Runtime,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn start_server(data: &Path, workers: usize) -> LocalServer {
    let storage = Arc::new(SqliteStorage::open(data).unwrap());
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

/// Requests a simulated device had to retry (connection reset or refused).
static RETRIES: AtomicU64 = AtomicU64::new(0);

struct SimDevice {
    id: [u8; 16],
    key: SigningKey,
    case: [u8; 16],
    cursor: proto::Cursor,
    n: u64,
}

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    b
}

impl SimDevice {
    fn enrol(server: &LocalServer, agent: &ureq::Agent, i: usize) -> Self {
        let code = server.invite(&format!("device-{i}"), Role::Practitioner);
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let key = SigningKey::from_bytes(&seed);
        let (_, kex) = X25519HkdfSha256::derive_keypair(&seed);
        let id = random16();
        let sign_pk = key.verifying_key().to_bytes();
        let kex_pk: [u8; 32] = kex.to_bytes().into();
        let sig = key.sign(&proto::enroll_message(&code, &id, &sign_pk, &kex_pk));
        let req = proto::EnrollRequest {
            code,
            device_id: id,
            sign_pk,
            kex_pk,
            signature: sig.to_bytes().to_vec(),
        };
        let mut r = agent
            .post(format!("{}{}", server.url(), proto::PATH_ENROLL))
            .header("content-type", proto::CONTENT_TYPE)
            .send(&proto::encode(&req)[..])
            .unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.body_mut().read_to_vec();
        Self {
            id,
            key,
            case: random16(),
            cursor: proto::Cursor::default(),
            n: 0,
        }
    }

    fn post(&self, agent: &ureq::Agent, url: &str, path: &str, body: Vec<u8>) -> Vec<u8> {
        // A refused connection is retried as a device would (and counted),
        // signed afresh each time (a signed request is accepted once).
        for attempt in 0.. {
            let mut auth = proto::RequestAuth {
                device: self.id,
                ts: outreach_server::now(),
                nonce: random16(),
                body_hash: proto::body_hash(&body),
                sig: Vec::new(),
            };
            auth.sig = self
                .key
                .sign(&auth.message("POST", path))
                .to_bytes()
                .to_vec();
            let sent = agent
                .post(format!("{url}{path}"))
                .header("content-type", proto::CONTENT_TYPE)
                .header(proto::AUTH_HEADER, auth.header())
                .send(&body[..]);
            match sent {
                Ok(mut r) => {
                    assert_eq!(r.status(), 200, "{path}");
                    return r.body_mut().read_to_vec().unwrap();
                }
                Err(e) if attempt < 5 => {
                    let _ = e;
                    RETRIES.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{path}: {e}"),
            }
        }
        unreachable!()
    }

    /// One sync as a device does it: push one new ~1.1 KB change, then pull.
    fn sync(&mut self, agent: &ureq::Agent, url: &str, lat: &mut Vec<Duration>) {
        let mut ciphertext = vec![0u8; 1100];
        getrandom::fill(&mut ciphertext).unwrap();
        let client_id = random16();
        self.n += 1;
        let sig = self.key.sign(&proto::change_message(
            &self.case,
            0,
            &self.id,
            &client_id,
            &ciphertext,
        ));
        // A case's first change comes with its recovery envelope (the
        // server refuses a new case without one); random bytes stand in
        // for the HPKE envelope, which only devices open.
        let mut envelopes = Vec::new();
        if self.n == 1 {
            let (mut enc, mut sealed) = (vec![0u8; 32], vec![0u8; 48]);
            getrandom::fill(&mut enc).unwrap();
            getrandom::fill(&mut sealed).unwrap();
            let m = proto::envelope_message(
                &self.case,
                0,
                &proto::RECOVERY_RECIPIENT,
                &self.id,
                &enc,
                &sealed,
            );
            envelopes.push(proto::Envelope {
                case_id: self.case,
                epoch: 0,
                recipient: proto::RECOVERY_RECIPIENT,
                sealed_by: self.id,
                enc,
                ciphertext: sealed,
                signature: self.key.sign(&m).to_bytes().to_vec(),
            });
        }
        let push = proto::PushRequest {
            changes: vec![proto::Change {
                client_id,
                case_id: self.case,
                epoch: 0,
                author: self.id,
                ciphertext,
                signature: sig.to_bytes().to_vec(),
            }],
            envelopes,
        };
        let t = Instant::now();
        self.post(agent, url, proto::PATH_PUSH, proto::encode(&push));
        lat.push(t.elapsed());
        let t = Instant::now();
        let body = proto::encode(&proto::PullRequest {
            cursor: self.cursor,
            max_bytes: proto::DEFAULT_PULL_BYTES,
        });
        let reply = self.post(agent, url, proto::PATH_PULL, body);
        lat.push(t.elapsed());
        let page: proto::PullResponse = proto::decode(&reply).unwrap();
        self.cursor = page.next;
    }
}

/// `devices` simulated devices (own keys, no vault) syncing at once:
/// every round, all of them push a new change and pull, together.
pub fn bench_server_load(devices: usize, rounds: usize) {
    println!(
        "\n== server: {devices} devices syncing concurrently (push a change + pull), {rounds} rounds, loopback (target p99 < 250 ms on 2 cores) =="
    );
    let tmp = tempfile::tempdir().unwrap();
    let server = start_server(&tmp.path().join("server"), 2);
    let url = server.url();
    let setup = ureq::Agent::new_with_defaults();
    let sims: Vec<SimDevice> = (0..devices)
        .map(|i| SimDevice::enrol(&server, &setup, i))
        .collect();
    let barrier = Arc::new(Barrier::new(devices + 1));
    let handles: Vec<_> = sims
        .into_iter()
        .map(|mut d| {
            let barrier = barrier.clone();
            let url = url.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let agent = ureq::Agent::new_with_defaults();
                    let mut lat = Vec::with_capacity(rounds * 2);
                    for _ in 0..rounds {
                        barrier.wait();
                        d.sync(&agent, &url, &mut lat);
                        barrier.wait();
                    }
                    lat
                })
                .unwrap()
        })
        .collect();
    let mut round_times = Vec::new();
    for _ in 0..rounds {
        barrier.wait();
        let t = Instant::now();
        barrier.wait();
        round_times.push(t.elapsed());
    }
    let per_device: Vec<Vec<Duration>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for r in 0..rounds {
        let mut push: Vec<Duration> = per_device.iter().map(|l| l[2 * r]).collect();
        let mut pull: Vec<Duration> = per_device.iter().map(|l| l[2 * r + 1]).collect();
        push.sort();
        pull.sort();
        println!(
            "  round {}: {} — push p50 {} p99 {}, pull p50 {} p99 {}",
            r + 1,
            ms(round_times[r]),
            ms(percentile(&push, 0.5)),
            ms(percentile(&push, 0.99)),
            ms(percentile(&pull, 0.5)),
            ms(percentile(&pull, 0.99))
        );
    }
    let mut lat: Vec<Duration> = per_device.into_iter().flatten().collect();
    lat.sort();
    let total: Duration = round_times.iter().sum();
    println!(
        "requests: {} in {:.2} s of rounds → {:.0} requests/s; latency p50 {} p99 {} max {}; slowest round (all {devices} devices done) {}",
        lat.len(),
        total.as_secs_f64(),
        lat.len() as f64 / total.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap()),
        ms(*round_times.iter().max().unwrap())
    );
    println!(
        "retried requests (connection reset under load): {}",
        RETRIES.swap(0, Ordering::Relaxed)
    );
}

/// `devices` devices, each syncing (push + pull) once every `period` at its
/// own random phase, for `duration`: the steady load of a working day.
pub fn bench_server_steady(devices: usize, period: Duration, duration: Duration) {
    println!(
        "\n== server: {devices} devices each syncing every {:.1} s at random moments for {:.0} s ({:.0} syncs/s offered) ==",
        period.as_secs_f64(),
        duration.as_secs_f64(),
        devices as f64 / period.as_secs_f64()
    );
    let tmp = tempfile::tempdir().unwrap();
    let server = start_server(&tmp.path().join("server"), 2);
    let url = server.url();
    let setup = ureq::Agent::new_with_defaults();
    let sims: Vec<SimDevice> = (0..devices)
        .map(|i| SimDevice::enrol(&server, &setup, i))
        .collect();
    let start = Instant::now() + Duration::from_millis(200);
    let handles: Vec<_> = sims
        .into_iter()
        .enumerate()
        .map(|(i, mut d)| {
            let url = url.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let agent = ureq::Agent::new_with_defaults();
                    let mut lat = Vec::new();
                    let phase = period.mul_f64((i as f64 * 0.618_034) % 1.0);
                    let mut next = start + phase;
                    while next < start + duration {
                        let now = Instant::now();
                        if next > now {
                            thread::sleep(next - now);
                        }
                        d.sync(&agent, &url, &mut lat);
                        next += period;
                    }
                    lat
                })
                .unwrap()
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    lat.sort();
    let elapsed = start.elapsed();
    println!(
        "requests: {} in {:.1} s → {:.0} requests/s; latency p50 {} p99 {} max {}",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
    println!(
        "retried requests (connection reset under load): {}",
        RETRIES.swap(0, Ordering::Relaxed)
    );
}
