//! `outreach-bench load`: the sync server under a thousand devices, measured
//! from a separate process against the real `outreach-server` binary.
//!
//! The tool starts `outreach-server serve` itself (loopback, a fresh data
//! directory — with `--database URL`, on that empty PostgreSQL database,
//! counting PostgreSQL's CPU with the server's when `--postgres-pid` names its
//! postmaster — the defaults a user gets except the options it prints), creates
//! the users with the admin command (`outreach-server invite --json`), enrols
//! every device with raw protocol calls and then drives a realistic mix:
//!
//! - teams of eight practitioners with two devices each and one supervisor
//!   (one device) who may read every case of the team, so her pulls return
//!   data;
//! - in each device's first sync, new cases registered with their recovery
//!   envelope in the same push (the server refuses a new case without one);
//! - a visit pushed by every practitioner device in every sync, a sign-off
//!   by a supervisor in one sync out of four;
//! - the envelope needs a pull reports (the user's other device, the
//!   supervisor) sealed and pushed on the next sync, so cases are shared.
//!
//! Before anything is measured, a warm-up (three herd rounds by default)
//! registers the existing caseload (three cases per practitioner device) and
//! seals its keys; the measured runs then start with one new case per
//! practitioner device. Modes: `herd` (every device at the same instant,
//! several rounds), `steady` (each device every 10–20 s at random moments),
//! `attack` (steady honest devices while attacker devices pull their own
//! 4 MiB items back with a 1 KiB budget and push junk).
//!
//! Devices are tasks on one client thread speaking minimal HTTP/1.1 (one
//! connection per device, kept while it is used and re-opened after five
//! idle seconds, as a phone's HTTP client would). Herd requests are signed
//! before the round starts, so the client spends the round sending and
//! reading. Latency is per request, from the first byte written to the last
//! byte read; the server's CPU time comes from `/proc/<pid>/stat` (utime +
//! stime) and its peak memory from `VmHWM` (reset with `clear_refs` before
//! each measured phase).
//!
//! The client shares the machine's cores with the server: its own CPU time
//! is printed beside the server's.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use ed25519_dalek::{Signer, SigningKey};
use hpke::{Kem as _, Serializable, kem::X25519HkdfSha256};
use outreach_protocol::{self as proto, Id, Item};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Every device syncs at its own random moments, every 2/3–4/3 of the period.
    Steady,
    /// Every device syncs at the same instant, for several rounds.
    Herd,
    /// Steady honest devices while attacker devices run the pull-memory
    /// attack and junk pushes.
    Attack,
}

#[derive(Parser, Debug)]
#[command(
    name = "outreach-bench load",
    about = "Load the real outreach-server binary from this separate process"
)]
pub struct LoadArgs {
    /// The `outreach-server` binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Honest devices.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    #[arg(long, value_enum, default_value_t = Mode::Herd)]
    mode: Mode,
    /// Herd rounds.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Steady/attack: mean time between two syncs of a device (each wait is
    /// uniform in 2/3–4/3 of it: 10–20 s by default).
    #[arg(long, default_value_t = 15_000)]
    period_ms: u64,
    /// Steady/attack: how long to run.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// Attack: attacker devices.
    #[arg(long, default_value_t = 100)]
    attackers: usize,
    /// Attack: 4 MiB changes each attacker stores in its own case and pulls
    /// back, one per request, with a 1 KiB budget.
    #[arg(long, default_value_t = 2)]
    attack_items: usize,
    /// Cases each practitioner device registers during the warm-up (the
    /// existing caseload; not measured).
    #[arg(long, default_value_t = 3)]
    cases_per_device: usize,
    /// Warm-up herd rounds (registration of the caseload, then its
    /// envelopes), before anything is measured.
    #[arg(long, default_value_t = 3)]
    warmup_rounds: usize,
    /// New cases each practitioner device registers in its first measured
    /// sync (with their recovery envelopes, in the same push).
    #[arg(long, default_value_t = 1)]
    new_cases: usize,
    /// Practitioners per team (two devices each; one supervisor per team).
    #[arg(long, default_value_t = 8)]
    team_size: usize,
    /// Keep the server's data directory and log here instead of a temporary one.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Run the server (and its admin commands) on PostgreSQL:
    /// `serve --database URL`. The database must be empty (a fresh one).
    #[arg(long)]
    database: Option<String>,
    /// With `--database`: the PostgreSQL postmaster's pid (first line of
    /// `postmaster.pid`), so that the database's CPU time (the postmaster,
    /// its live backends and the ones that exited) is counted with the
    /// server's. Without it, PostgreSQL's CPU is excluded (and said so).
    #[arg(long)]
    postgres_pid: Option<u32>,
}

pub fn main(args: impl Iterator<Item = String>) {
    let args = LoadArgs::parse_from(std::iter::once("outreach-bench load".to_string()).chain(args));
    run(args);
}

// ---------------------------------------------------------------------------
// The server process.

struct ServerProc {
    child: Child,
    bin: PathBuf,
    data: PathBuf,
    addr: SocketAddr,
    options: Vec<String>,
    /// `--database URL` (PostgreSQL), passed to `serve` and the admin commands.
    database: Option<String>,
    /// PostgreSQL's postmaster, whose CPU time counts as the server's.
    postgres_pid: Option<u32>,
}

/// `--database URL` as arguments (none for SQLite).
fn database_args(database: Option<&str>) -> Vec<String> {
    database
        .map(|u| vec!["--database".to_string(), u.to_string()])
        .unwrap_or_default()
}

/// A URL with its password (if any) replaced by `***`, for printing.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

impl ServerProc {
    fn start(
        bin: &Path,
        data: &Path,
        options: Vec<String>,
        database: Option<String>,
        postgres_pid: Option<u32>,
    ) -> ServerProc {
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(database_args(database.as_deref()))
            .args(&options)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server printed its address")
                .unwrap();
            if let Some(rest) = line.strip_prefix("Listening on http://") {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        ServerProc {
            child,
            bin: bin.to_path_buf(),
            data: data.to_path_buf(),
            addr,
            options,
            database,
            postgres_pid,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `outreach-server invite --json`: a one-time code for the user.
    fn invite(
        bin: &Path,
        data: &Path,
        database: Option<&str>,
        name: &str,
        role: &str,
        team: Option<&str>,
    ) -> String {
        let mut cmd = Command::new(bin);
        cmd.args(["invite", "--json", "--data"])
            .arg(data)
            .args(database_args(database))
            .args(["--name", name, "--role", role]);
        if let Some(t) = team {
            cmd.args(["--team", t]);
        }
        let out = cmd.output().expect("run outreach-server invite");
        assert!(
            out.status.success(),
            "invite {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["code"].as_str().unwrap().to_string()
    }

    /// The server's CPU time, plus PostgreSQL's when its pid is known.
    fn cpu(&self) -> Duration {
        proc_cpu(&format!("/proc/{}/stat", self.pid()))
            + self.postgres_pid.map(postgres_cpu).unwrap_or_default()
    }

    /// Peak resident memory since the last reset, in KiB.
    fn peak_rss_kb(&self) -> u64 {
        proc_status_kb(self.pid(), "VmHWM:")
    }

    fn reset_peak(&self) {
        // "5" resets the peak resident set size (proc(5), clear_refs).
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }
}

impl Drop for ServerProc {
    /// SIGTERM (the server finishes and flushes, and a profiler wrapping it
    /// writes its data), then SIGKILL after ten seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// utime + stime of a process (all its threads) from `/proc/…/stat`.
fn proc_cpu(stat: &str) -> Duration {
    let s = std::fs::read_to_string(stat).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

/// PostgreSQL's CPU time: the postmaster's own and that of its children
/// that exited (cutime + cstime), plus every live child's (backends,
/// checkpointer, WAL writer, …).
fn postgres_cpu(postmaster: u32) -> Duration {
    let fields = |pid: &str| -> Vec<u64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        rest.split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect()
    };
    let at = |f: &[u64], i: usize| f.get(i).copied().unwrap_or(0);
    let own = fields(&postmaster.to_string());
    // After ")": state, ppid, …; utime, stime, cutime, cstime at 11..=14.
    let mut ticks = at(&own, 11) + at(&own, 12) + at(&own, 13) + at(&own, 14);
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let f = fields(pid);
        if at(&f, 1) == u64::from(postmaster) {
            ticks += at(&f, 11) + at(&f, 12);
        }
    }
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

/// Resident memory of PostgreSQL's processes (postmaster and children), in
/// KiB: shared memory is counted once per process that touched it, so this
/// overstates; printed beside the server's peak.
fn postgres_rss_kb(postmaster: u32) -> u64 {
    let mut kb = proc_status_kb(postmaster, "VmRSS:");
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(postmaster) {
            kb += proc_status_kb(pid, "VmRSS:");
        }
    }
    kb
}

fn proc_status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------
// Minimal HTTP/1.1 over one connection per device.

struct Reply {
    status: u16,
    body: Vec<u8>,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    last_used: Instant,
}

/// A connection unused for longer than this is not reused (the server
/// closes idle ones after its header timeout, 10 s by default).
const KEEP_IDLE: Duration = Duration::from_secs(5);

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            last_used: Instant::now(),
        })
    }

    /// Writes one request and reads its response (content-length framed).
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<(Reply, bool)> {
        use std::io::{Error, ErrorKind};
        self.stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(Error::new(ErrorKind::InvalidData, "header too long"));
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "closed"));
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| Error::new(ErrorKind::InvalidData, "header"))?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "status line"))?;
        let (mut len, mut close) = (None, false);
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("connection") {
                    close = v.trim().eq_ignore_ascii_case("close");
                }
            }
        }
        let len = len.ok_or_else(|| Error::new(ErrorKind::InvalidData, "no content-length"))?;
        let want = head_end + len;
        if self.buf.capacity() < want {
            self.buf.reserve(want - self.buf.len());
        }
        while self.buf.len() < want {
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "closed in body"));
            }
        }
        let body = self.buf[head_end..want].to_vec();
        self.last_used = Instant::now();
        Ok((Reply { status, body }, close))
    }
}

/// Statuses and failures of one run (shared by the tasks of one thread).
#[derive(Default)]
struct Counters {
    reconnects: AtomicU64,
    errors: AtomicU64,
    non_ok: std::sync::Mutex<Vec<(u16, String)>>,
}

// ---------------------------------------------------------------------------
// Simulated devices.

/// xorshift64*: fast, good enough for nonces' uniqueness and filler bytes.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        Rng(u64::from_le_bytes(b) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn id(&mut self) -> Id {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next().to_le_bytes());
        b[8..].copy_from_slice(&self.next().to_le_bytes());
        b
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Practitioner,
    Supervisor,
    Attacker,
}

/// A user to invite and how many devices she enrols.
struct Member {
    name: String,
    kind: Kind,
    team: String,
    devices: usize,
}

/// Teams of `team_size` practitioners (two devices each) and a supervisor
/// (one device), filled up to exactly `devices` devices.
fn population(devices: usize, team_size: usize, attackers: usize) -> Vec<Member> {
    let mut out = Vec::new();
    let mut left = devices;
    let mut t = 0;
    while left > 0 {
        let team = format!("team-{t}");
        out.push(Member {
            name: format!("sup-{t}"),
            kind: Kind::Supervisor,
            team: team.clone(),
            devices: 1,
        });
        left -= 1;
        for p in 0..team_size {
            if left == 0 {
                break;
            }
            let n = left.min(2);
            out.push(Member {
                name: format!("prac-{t}-{p}"),
                kind: Kind::Practitioner,
                team: team.clone(),
                devices: n,
            });
            left -= n;
        }
        t += 1;
    }
    for a in 0..attackers {
        out.push(Member {
            name: format!("mal-{a}"),
            kind: Kind::Attacker,
            team: "mal".into(),
            devices: 1,
        });
    }
    out
}

/// A request ready to send, signed, with what is needed to sign it again
/// (a retry on a fresh connection needs a new nonce).
struct Prepared {
    path: &'static str,
    body: Vec<u8>,
    wire: Vec<u8>,
}

struct Dev {
    id: Id,
    key: SigningKey,
    kind: Kind,
    rng: Rng,
    /// New cases still to register (first sync).
    to_register: usize,
    held: Vec<Id>,
    held_set: HashSet<Id>,
    needs: Vec<proto::EnvelopeNeed>,
    cursor: proto::Cursor,
    conn: Option<Conn>,
    addr: SocketAddr,
    counters: Arc<Counters>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReqKind {
    Push,
    Pull,
}

struct Sample {
    round: usize,
    kind: ReqKind,
    supervisor: bool,
    took: Duration,
}

impl Dev {
    async fn enrol(addr: SocketAddr, code: String, kind: Kind, counters: Arc<Counters>) -> Dev {
        let mut rng = Rng::new();
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let key = SigningKey::from_bytes(&seed);
        let (_, kex) = X25519HkdfSha256::derive_keypair(&seed);
        let id = rng.id();
        let sign_pk = key.verifying_key().to_bytes();
        let kex_pk: [u8; 32] = kex.to_bytes().into();
        let sig = key.sign(&proto::enroll_message(&code, &id, &sign_pk, &kex_pk));
        let body = proto::encode(&proto::EnrollRequest {
            code,
            device_id: id,
            sign_pk,
            kex_pk,
            signature: sig.to_bytes().to_vec(),
        });
        let mut wire = format!(
            "POST {} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {}\r\ncontent-length: {}\r\n\r\n",
            proto::PATH_ENROLL,
            proto::CONTENT_TYPE,
            body.len()
        )
        .into_bytes();
        wire.extend_from_slice(&body);
        let mut conn = Conn::open(addr).await.expect("connect for enrolment");
        let (r, _) = conn.exchange(&wire).await.expect("enrolment reply");
        assert_eq!(r.status, 200, "enrolment refused");
        Dev {
            id,
            key,
            kind,
            rng,
            to_register: 0,
            held: Vec::new(),
            held_set: HashSet::new(),
            needs: Vec::new(),
            cursor: proto::Cursor::default(),
            conn: None,
            addr,
            counters,
        }
    }

    fn sign(&mut self, path: &'static str, body: Vec<u8>) -> Prepared {
        let mut auth = proto::RequestAuth {
            device: self.id,
            ts: outreach_server::now(),
            nonce: self.rng.id(),
            body_hash: proto::body_hash(&body),
            sig: Vec::new(),
        };
        auth.sig = self
            .key
            .sign(&auth.message("POST", path))
            .to_bytes()
            .to_vec();
        let mut wire = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {}\r\n{}: {}\r\ncontent-length: {}\r\n\r\n",
            proto::CONTENT_TYPE,
            proto::AUTH_HEADER,
            auth.header(),
            body.len()
        )
        .into_bytes();
        wire.extend_from_slice(&body);
        Prepared { path, body, wire }
    }

    /// Sends a prepared request on the device's connection (re-opened if
    /// idle or closed, and then signed afresh); returns the reply and the
    /// time from the first byte written to the last byte read.
    async fn send(&mut self, mut req: Prepared) -> Option<(Reply, Duration)> {
        if self
            .conn
            .as_ref()
            .is_some_and(|c| c.last_used.elapsed() > KEEP_IDLE)
        {
            self.conn = None;
        }
        let started = Instant::now();
        for attempt in 0..6 {
            let fresh = self.conn.is_none();
            if fresh {
                match Conn::open(self.addr).await {
                    Ok(c) => self.conn = Some(c),
                    Err(_) => {
                        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
            let conn = self.conn.as_mut().unwrap();
            match conn.exchange(&req.wire).await {
                Ok((reply, close)) => {
                    if close {
                        self.conn = None;
                    }
                    return Some((reply, started.elapsed()));
                }
                Err(_) => {
                    self.conn = None;
                    self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    if attempt > 0 && !fresh {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    req = self.sign(req.path, std::mem::take(&mut req.body));
                }
            }
        }
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn change(&mut self, case: Id, size: usize) -> proto::Change {
        let client_id = self.rng.id();
        let ciphertext = self.rng.bytes(size);
        let m = proto::change_message(&case, 0, &self.id, &client_id, &ciphertext);
        proto::Change {
            client_id,
            case_id: case,
            epoch: 0,
            author: self.id,
            ciphertext,
            signature: self.key.sign(&m).to_bytes().to_vec(),
        }
    }

    /// Random bytes stand in for the HPKE envelope (32 B encapsulated key,
    /// 48 B sealed case key), which only devices open; the signature is real.
    fn envelope(&mut self, case: Id, epoch: u32, recipient: Id) -> proto::Envelope {
        let (enc, ciphertext) = (self.rng.bytes(32), self.rng.bytes(48));
        let m =
            proto::envelope_message(&case, epoch, &recipient, &self.id, false, &enc, &ciphertext);
        proto::Envelope {
            case_id: case,
            epoch,
            recipient,
            sealed_by: self.id,
            starts_epoch: false,
            enc,
            ciphertext,
            signature: self.key.sign(&m).to_bytes().to_vec(),
        }
    }

    fn hold(&mut self, case: Id) {
        if self.held_set.insert(case) {
            self.held.push(case);
        }
    }

    /// The next sync's push (if it has anything to send) and first pull.
    fn prepare(&mut self) -> (Option<Prepared>, Prepared) {
        let mut push = proto::PushRequest::default();
        if self.to_register > 0 {
            // A new case's first upload is its whole (small) document.
            for _ in 0..std::mem::take(&mut self.to_register) {
                let case = self.rng.id();
                let change = self.change(case, 2000);
                push.changes.push(change);
                let env = self.envelope(case, 0, proto::RECOVERY_RECIPIENT);
                push.envelopes.push(env);
                self.hold(case);
            }
        } else if !self.held.is_empty() {
            let case = self.held[self.rng.below(self.held.len())];
            match self.kind {
                // A visit: ~840 B of Automerge change + the seal.
                Kind::Practitioner => push.changes.push(self.change(case, 910)),
                // A sign-off, in one sync out of four.
                Kind::Supervisor if self.rng.unit() < 0.25 => {
                    push.changes.push(self.change(case, 400))
                }
                _ => {}
            }
        }
        for need in std::mem::take(&mut self.needs) {
            let env = self.envelope(need.case_id, need.epoch, need.recipient);
            push.envelopes.push(env);
        }
        let push = (!push.changes.is_empty() || !push.envelopes.is_empty())
            .then(|| self.sign(proto::PATH_PUSH, proto::encode(&push)));
        let pull = self.pull_request(proto::DEFAULT_PULL_BYTES);
        (push, pull)
    }

    fn pull_request(&mut self, max_bytes: u32) -> Prepared {
        let body = proto::encode(&proto::PullRequest {
            cursor: self.cursor,
            max_bytes,
        });
        self.sign(proto::PATH_PULL, body)
    }

    fn note_failure(&self, path: &str, r: &Reply) {
        let msg = proto::decode::<proto::ApiError>(&r.body)
            .map(|e| format!("{path}: {:?} {}", e.code, e.message))
            .unwrap_or_else(|_| format!("{path}: status {}", r.status));
        let mut list = self.counters.non_ok.lock().unwrap();
        list.push((r.status, msg));
    }

    /// One sync: the push (if any), then pulls until the last page.
    async fn sync(
        &mut self,
        (push, pull): (Option<Prepared>, Prepared),
        round: usize,
        out: &mut Vec<Sample>,
    ) {
        let supervisor = self.kind == Kind::Supervisor;
        if let Some(push) = push {
            let Some((r, took)) = self.send(push).await else {
                return;
            };
            out.push(Sample {
                round,
                kind: ReqKind::Push,
                supervisor,
                took,
            });
            if r.status != 200 {
                self.note_failure("push", &r);
            }
        }
        let mut pull = pull;
        loop {
            let Some((r, took)) = self.send(pull).await else {
                return;
            };
            out.push(Sample {
                round,
                kind: ReqKind::Pull,
                supervisor,
                took,
            });
            if r.status != 200 {
                self.note_failure("pull", &r);
                return;
            }
            let Ok(page) = proto::decode::<proto::PullResponse>(&r.body) else {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            for e in &page.entries {
                if let Item::Envelope(env) = &e.item
                    && env.recipient == self.id
                {
                    self.hold(env.case_id);
                }
            }
            self.needs = page.needs;
            self.cursor = page.next;
            if !page.more {
                return;
            }
            pull = self.pull_request(proto::DEFAULT_PULL_BYTES);
        }
    }
}

// ---------------------------------------------------------------------------
// Set-up and runs.

fn options_for(args: &LoadArgs) -> Vec<String> {
    let total = args.devices
        + if args.mode == Mode::Attack {
            args.attackers
        } else {
            0
        };
    // Every simulated device enrols from 127.0.0.1 within a minute or so:
    // the default enrolment limits (10 a minute per address, 120 in all)
    // would take hours.
    let mut o = vec![
        "--enrol-per-address".to_string(),
        (total + 100).to_string(),
        "--enrol-global".to_string(),
        (total + 100).to_string(),
    ];
    // One connection per device at once, plus a margin; the default (1000)
    // is enough for 1,000 devices unless attackers come on top.
    let conns = total + 64;
    if conns > 1000 {
        o.push("--max-connections".into());
        o.push(conns.to_string());
    }
    o
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn dist(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "p50 {} p99 {} max {} (n={})",
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.99)),
        ms(v.last().copied().unwrap_or_default()),
        v.len()
    )
}

fn run(args: LoadArgs) {
    let bin = args.server_bin.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .join("outreach-server")
    });
    assert!(
        bin.is_file(),
        "{} not found: build it first (cargo build --release -p outreach-server) or pass --server-bin",
        bin.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = args
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let data = root.join("server");
    let options = options_for(&args);
    let attackers = if args.mode == Mode::Attack {
        args.attackers
    } else {
        0
    };
    let members = population(args.devices, args.team_size, attackers);
    let teams = members
        .iter()
        .filter(|m| m.kind == Kind::Supervisor)
        .count();
    let pracs = members
        .iter()
        .filter(|m| m.kind == Kind::Practitioner)
        .count();
    println!(
        "\n== load ({:?}): {} honest devices — {teams} teams: {pracs} practitioners (two devices each), {teams} supervisors (one device) — {} attackers ==",
        args.mode, args.devices, attackers
    );
    println!("load average before: {}", loadavg());
    let server = ServerProc::start(
        &bin,
        &data,
        options,
        args.database.clone(),
        args.postgres_pid,
    );
    println!(
        "server: {} serve --listen 127.0.0.1:0 --data DIR {}{} (pid {}, listening on {}); everything else default",
        server.bin.display(),
        server
            .database
            .as_deref()
            .map(|u| format!("--database {} ", redacted(u)))
            .unwrap_or_default(),
        server.options.join(" "),
        server.pid(),
        server.addr
    );
    match (&server.database, server.postgres_pid) {
        (None, _) => println!("storage: SQLite (in the server process)"),
        (Some(_), Some(pid)) => println!(
            "storage: PostgreSQL (postmaster pid {pid}): server CPU below includes PostgreSQL's (postmaster, its backends and exited children)"
        ),
        (Some(_), None) => println!(
            "storage: PostgreSQL: its CPU is EXCLUDED from the server CPU below (pass --postgres-pid to count it)"
        ),
    }

    // Invites through the admin command, four at a time.
    let started = Instant::now();
    let mut jobs: Vec<(String, &'static str, String)> = Vec::new();
    for m in &members {
        let role = match m.kind {
            Kind::Supervisor => "supervisor",
            _ => "practitioner",
        };
        for _ in 0..m.devices {
            jobs.push((m.name.clone(), role, m.team.clone()));
        }
    }
    let codes: Vec<String> = {
        let jobs = Arc::new(jobs);
        let next = Arc::new(AtomicU64::new(0));
        let codes = Arc::new(std::sync::Mutex::new(vec![String::new(); jobs.len()]));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (jobs, next, codes) = (jobs.clone(), next.clone(), codes.clone());
                let (bin, data) = (server.bin.clone(), server.data.clone());
                let database = server.database.clone();
                std::thread::spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some((name, role, team)) = jobs.get(i) else {
                            break;
                        };
                        let code = ServerProc::invite(
                            &bin,
                            &data,
                            database.as_deref(),
                            name,
                            role,
                            Some(team),
                        );
                        codes.lock().unwrap()[i] = code;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        Arc::try_unwrap(codes).unwrap().into_inner().unwrap()
    };
    println!(
        "setup: {} invites with `outreach-server invite --json` (4 at a time) in {:.1} s",
        codes.len(),
        started.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let mut kinds = Vec::new();
    for m in &members {
        for _ in 0..m.devices {
            kinds.push(m.kind);
        }
    }
    let addr = server.addr;
    let devs: Vec<Dev> = rt.block_on(async {
        let mut out = Vec::with_capacity(codes.len());
        // Eight enrolments in flight at a time.
        let mut pending = codes.into_iter().zip(kinds.iter().copied()).peekable();
        while pending.peek().is_some() {
            let batch: Vec<_> = pending.by_ref().take(8).collect();
            let tasks: Vec<_> = batch
                .into_iter()
                .map(|(code, kind)| tokio::spawn(Dev::enrol(addr, code, kind, counters.clone())))
                .collect();
            for t in tasks {
                out.push(t.await.unwrap());
            }
        }
        out
    });
    println!(
        "setup: {} devices enrolled (raw /v1/enroll) in {:.1} s",
        devs.len(),
        started.elapsed().as_secs_f64()
    );
    let (mut honest, attackers): (Vec<Dev>, Vec<Dev>) =
        devs.into_iter().partition(|d| d.kind != Kind::Attacker);
    for d in &mut honest {
        if d.kind == Kind::Practitioner {
            d.to_register = args.cases_per_device;
        }
    }
    println!(
        "warm-up (not measured): {} herd rounds — each practitioner device registers {} case(s), then envelopes are sealed for the user's other device and the supervisor",
        args.warmup_rounds, args.cases_per_device
    );
    // Warm-up, not measured: the organisation's existing caseload is
    // registered, and its case keys sealed to every device that may read
    // it, before the measured runs.
    let (mut honest, _) = herd_rounds(&rt, &server, honest, args.warmup_rounds, "warm-up");
    if let Some(url) = &args.database {
        // A database in service has statistics. This one was created a
        // minute ago and autovacuum looks once a minute, so without this the
        // planner would still take its tables for empty and scan them.
        let analysed = postgres::Client::connect(url, postgres::NoTls)
            .and_then(|mut db| db.batch_execute("ANALYZE"));
        match analysed {
            Ok(()) => println!(
                "PostgreSQL: ANALYZE after the warm-up (statistics as a database in service has them)"
            ),
            Err(e) => {
                println!("PostgreSQL: ANALYZE after the warm-up failed ({e}); measuring anyway")
            }
        }
    }
    for d in &mut honest {
        if d.kind == Kind::Practitioner {
            d.to_register = args.new_cases;
        }
    }
    let client_cpu0 = proc_cpu("/proc/self/stat");
    let own_cpu0 = proc_cpu(&format!("/proc/{}/stat", server.pid()));
    let pg_cpu0 = server.postgres_pid.map(postgres_cpu);
    match args.mode {
        Mode::Herd => {
            println!(
                "herd (measured): all {} devices sync at the same instant (push, then pull until the last page), {} rounds; requests signed before each round; round 1 registers {} new case(s) per practitioner device",
                honest.len(),
                args.rounds,
                args.new_cases
            );
            server.reset_peak();
            let (_, samples) = herd_rounds(&rt, &server, honest, args.rounds, "round");
            report(&samples, &server, &counters);
        }
        Mode::Steady => {
            steady_phase(&rt, &server, honest, &args, &counters, None);
        }
        Mode::Attack => attack(&rt, &server, honest, attackers, &args, &counters),
    }
    let client_cpu = proc_cpu("/proc/self/stat") - client_cpu0;
    println!(
        "load generator CPU during the runs: {:.2} s; reconnects {}, failed requests {}",
        client_cpu.as_secs_f64(),
        counters.reconnects.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed)
    );
    let non_ok = counters.non_ok.lock().unwrap();
    if !non_ok.is_empty() {
        println!("honest requests refused: {}", non_ok.len());
        for (status, msg) in non_ok.iter().take(5) {
            println!("  {status} {msg}");
        }
    }
    if let (Some(pid), Some(pg0)) = (server.postgres_pid, pg_cpu0) {
        println!(
            "measured part, CPU split: outreach-server {:.2} s, PostgreSQL {:.2} s",
            (proc_cpu(&format!("/proc/{}/stat", server.pid())) - own_cpu0).as_secs_f64(),
            (postgres_cpu(pid) - pg0).as_secs_f64()
        );
        println!(
            "PostgreSQL resident memory at the end (postmaster + children, shared buffers counted per process): {:.1} MiB",
            postgres_rss_kb(pid) as f64 / 1024.0
        );
    }
    println!("load average after: {}", loadavg());
    if args.keep.is_some() {
        println!("server data and log kept in {}", root.display());
    }
}

/// `rounds` rounds in which every device syncs at the same instant; prints
/// one line per round and gives the devices back with the samples.
fn herd_rounds(
    rt: &tokio::runtime::Runtime,
    server: &ServerProc,
    devs: Vec<Dev>,
    rounds: usize,
    label: &str,
) -> (Vec<Dev>, Vec<Sample>) {
    let n = devs.len();
    let barrier = Arc::new(tokio::sync::Barrier::new(n + 1));
    rt.block_on(async {
        let tasks: Vec<_> = devs
            .into_iter()
            .map(|mut d| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let mut out = Vec::with_capacity(rounds * 2);
                    for round in 0..rounds {
                        let plan = d.prepare();
                        barrier.wait().await; // all prepared: go
                        d.sync(plan, round, &mut out).await;
                        barrier.wait().await; // all done
                    }
                    (d, out)
                })
            })
            .collect();
        let mut times = Vec::new();
        for round in 0..rounds {
            barrier.wait().await;
            let (t, cpu) = (Instant::now(), server.cpu());
            barrier.wait().await;
            times.push((round, t.elapsed(), server.cpu() - cpu));
            // The next round starts once every device has signed its requests.
        }
        let (mut devs, mut all) = (Vec::with_capacity(n), Vec::new());
        for t in tasks {
            let (d, out) = t.await.unwrap();
            devs.push(d);
            all.extend(out);
        }
        for (round, took, cpu) in &times {
            let reqs: Vec<&Sample> = all.iter().filter(|s| s.round == *round).collect();
            let push: Vec<Duration> = reqs
                .iter()
                .filter(|s| s.kind == ReqKind::Push)
                .map(|s| s.took)
                .collect();
            let pull: Vec<Duration> = reqs
                .iter()
                .filter(|s| s.kind == ReqKind::Pull)
                .map(|s| s.took)
                .collect();
            let mut every: Vec<Duration> = reqs.iter().map(|s| s.took).collect();
            every.sort();
            println!(
                "  {label} {}: {} for {} requests ({:.0}/s); p50 {} p99 {} max {}; push p99 {}, pull p99 {}; server CPU {:.0} µs/request",
                round + 1,
                ms(*took),
                reqs.len(),
                reqs.len() as f64 / took.as_secs_f64(),
                ms(percentile(&every, 0.5)),
                ms(percentile(&every, 0.99)),
                ms(every.last().copied().unwrap_or_default()),
                ms({
                    let mut p = push;
                    p.sort();
                    percentile(&p, 0.99)
                }),
                ms({
                    let mut p = pull;
                    p.sort();
                    percentile(&p, 0.99)
                }),
                cpu.as_secs_f64() * 1e6 / reqs.len().max(1) as f64
            );
        }
        let total: Duration = times.iter().map(|t| t.1).sum();
        let cpu: Duration = times.iter().map(|t| t.2).sum();
        println!(
            "  {label}s in all: {} requests in {:.2} s → {:.0} requests/s; server CPU {:.0} µs/request",
            all.len(),
            total.as_secs_f64(),
            all.len() as f64 / total.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / all.len().max(1) as f64
        );
        (devs, all)
    })
}

fn report(samples: &[Sample], server: &ServerProc, _counters: &Arc<Counters>) {
    let all: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    let later: Vec<Duration> = samples
        .iter()
        .filter(|s| s.round > 0)
        .map(|s| s.took)
        .collect();
    let sup: Vec<Duration> = samples
        .iter()
        .filter(|s| s.supervisor && s.kind == ReqKind::Pull)
        .map(|s| s.took)
        .collect();
    println!("latency, every request     : {}", dist(all));
    if !later.is_empty() {
        println!("latency, rounds 2 and later: {}", dist(later));
    }
    println!("supervisor pulls           : {}", dist(sup));
    println!(
        "server peak RSS (VmHWM, reset before the run): {:.1} MB",
        server.peak_rss_kb() as f64 / 1024.0
    );
}

/// Steady syncing for the run's duration; returns the honest samples.
fn steady_phase(
    rt: &tokio::runtime::Runtime,
    server: &ServerProc,
    devs: Vec<Dev>,
    args: &LoadArgs,
    counters: &Arc<Counters>,
    stop_after: Option<Arc<AtomicBool>>,
) -> Vec<Sample> {
    let n = devs.len();
    let period = Duration::from_millis(args.period_ms);
    let duration = Duration::from_secs(args.duration_s);
    println!(
        "steady: {n} devices, each syncing every {:.0}–{:.0} s at random moments, for {} s ({:.0} syncs/s offered)",
        period.as_secs_f64() * 2.0 / 3.0,
        period.as_secs_f64() * 4.0 / 3.0,
        args.duration_s,
        n as f64 / period.as_secs_f64()
    );
    // The server's own housekeeping (checkpoints, timers) with no request
    // at all, to set beside the per-request figure at this low rate.
    let idle = if stop_after.is_none() {
        let (c, t) = (server.cpu(), Instant::now());
        std::thread::sleep(Duration::from_secs(5));
        Some((server.cpu() - c).as_secs_f64() / t.elapsed().as_secs_f64())
    } else {
        None
    };
    server.reset_peak();
    let cpu0 = server.cpu();
    let started = Instant::now();
    let end = tokio::time::Instant::now() + duration;
    let samples: Vec<Sample> = rt.block_on(async {
        let tasks: Vec<_> = devs
            .into_iter()
            .map(|mut d| {
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    let first = period.mul_f64(d.rng.unit());
                    let mut next = tokio::time::Instant::now() + first;
                    while next < end {
                        tokio::time::sleep_until(next).await;
                        let plan = d.prepare();
                        d.sync(plan, 0, &mut out).await;
                        next += period.mul_f64(2.0 / 3.0 + d.rng.unit() * 2.0 / 3.0);
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    if let Some(stop) = stop_after {
        stop.store(true, Ordering::Relaxed);
    }
    let elapsed = started.elapsed();
    let cpu = server.cpu() - cpu0;
    println!(
        "steady: {} requests in {:.1} s → {:.0} requests/s; server CPU {:.2} s in all, {:.0} µs/request",
        samples.len(),
        elapsed.as_secs_f64(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / samples.len().max(1) as f64
    );
    if let Some(idle) = idle {
        let net = cpu.as_secs_f64() - idle * elapsed.as_secs_f64();
        println!(
            "  the server idle uses {:.1} ms of CPU a second (measured for 5 s before the run); net of that, {:.0} µs/request",
            idle * 1e3,
            net.max(0.0) * 1e6 / samples.len().max(1) as f64
        );
    }
    let push: Vec<Duration> = samples
        .iter()
        .filter(|s| s.kind == ReqKind::Push)
        .map(|s| s.took)
        .collect();
    let pull: Vec<Duration> = samples
        .iter()
        .filter(|s| s.kind == ReqKind::Pull)
        .map(|s| s.took)
        .collect();
    println!("pushes                     : {}", dist(push));
    println!("pulls                      : {}", dist(pull));
    report(&samples, server, counters);
    samples
}

/// What the attackers did, by outcome.
#[derive(Default)]
struct AttackStats {
    big_pulls: AtomicU64,
    pulled_bytes: AtomicU64,
    refetches: AtomicU64,
    junk_accepted: AtomicU64,
    junk_refused: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

fn attack(
    rt: &tokio::runtime::Runtime,
    server: &ServerProc,
    honest: Vec<Dev>,
    attackers: Vec<Dev>,
    args: &LoadArgs,
    counters: &Arc<Counters>,
) {
    let k = attackers.len();
    let items = args.attack_items;
    const ITEM: usize = proto::MAX_BLOB_BYTES - 1024;
    println!(
        "attack: {k} attacker devices each store {items} × 4 MiB in a case of their own, then loop: refetch it, pull it back with a 1 KiB budget (one 4 MiB item per page), and push junk (a signed 16 KiB change, a change with a bad signature, a malformed body)"
    );
    // Set-up: each attacker's case and its 4 MiB items (one push each).
    let started = Instant::now();
    let cases: Vec<(Dev, Id)> = rt.block_on(async {
        let mut out = Vec::new();
        let mut attackers = attackers.into_iter().peekable();
        while attackers.peek().is_some() {
            let batch: Vec<Dev> = attackers.by_ref().take(4).collect();
            let tasks: Vec<_> = batch
                .into_iter()
                .map(|mut d| {
                    tokio::spawn(async move {
                        let case = d.rng.id();
                        for i in 0..items {
                            let mut push = proto::PushRequest::default();
                            push.changes.push(d.change(case, ITEM));
                            if i == 0 {
                                let env = d.envelope(case, 0, proto::RECOVERY_RECIPIENT);
                                push.envelopes.push(env);
                            }
                            let req = d.sign(proto::PATH_PUSH, proto::encode(&push));
                            let (r, _) = d.send(req).await.expect("attacker set-up push");
                            assert_eq!(r.status, 200, "attacker set-up push");
                        }
                        // Its connection belongs to this runtime; the attack
                        // runs on another one.
                        d.conn = None;
                        (d, case)
                    })
                })
                .collect();
            for t in tasks {
                out.push(t.await.unwrap());
            }
        }
        out
    });
    println!(
        "attack set-up: {} MiB stored by the attackers in {:.1} s; server peak RSS so far {:.1} MB",
        k * items * 4,
        started.elapsed().as_secs_f64(),
        server.peak_rss_kb() as f64 / 1024.0
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(AttackStats::default());
    // The attackers run on their own client thread, so that reading their
    // 4 MiB pages does not delay the honest devices' clock.
    let attack_thread = {
        let (stop, stats) = (stop.clone(), stats.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let tasks: Vec<_> = cases
                    .into_iter()
                    .map(|(d, case)| tokio::spawn(attacker(d, case, stop.clone(), stats.clone())))
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
            })
        })
    };
    // Let the attack get going before the honest devices start.
    std::thread::sleep(Duration::from_secs(2));
    let cpu0 = server.cpu();
    let samples = steady_phase(rt, server, honest, args, counters, Some(stop.clone()));
    let cpu = server.cpu() - cpu0;
    stop.store(true, Ordering::Relaxed);
    attack_thread.join().unwrap();
    let honest_lat: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    println!(
        "attack: honest {}; attackers: {} pulls of a 4 MiB item ({:.0} MiB), {} refetches, {} junk pushes accepted, {} refused, {} refused as too many at once from one device, {} other; server CPU {:.1} s",
        dist(honest_lat),
        stats.big_pulls.load(Ordering::Relaxed),
        stats.pulled_bytes.load(Ordering::Relaxed) as f64 / (1 << 20) as f64,
        stats.refetches.load(Ordering::Relaxed),
        stats.junk_accepted.load(Ordering::Relaxed),
        stats.junk_refused.load(Ordering::Relaxed),
        stats.busy.load(Ordering::Relaxed),
        stats.other.load(Ordering::Relaxed),
        cpu.as_secs_f64()
    );
}

async fn attacker(mut d: Dev, case: Id, stop: Arc<AtomicBool>, stats: Arc<AttackStats>) {
    let count = |r: &Reply, ok: &AtomicU64, refused: &AtomicU64| match r.status {
        200 => {
            ok.fetch_add(1, Ordering::Relaxed);
        }
        429 => {
            stats.busy.fetch_add(1, Ordering::Relaxed);
        }
        400..=499 => {
            refused.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            stats.other.fetch_add(1, Ordering::Relaxed);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        // The pull-memory attack: the whole case again, one item a page.
        let body = proto::encode(&proto::RefetchRequest { cases: vec![case] });
        let req = d.sign(proto::PATH_REFETCH, body);
        let Some((r, _)) = d.send(req).await else {
            continue;
        };
        count(&r, &stats.refetches, &stats.other);
        while !stop.load(Ordering::Relaxed) {
            let req = d.pull_request(1024);
            let Some((r, _)) = d.send(req).await else {
                break;
            };
            if r.status != 200 {
                count(&r, &stats.other, &stats.other);
                break;
            }
            let Ok(page) = proto::decode::<proto::PullResponse>(&r.body) else {
                break;
            };
            if r.body.len() > 1 << 20 {
                stats.big_pulls.fetch_add(1, Ordering::Relaxed);
            }
            stats
                .pulled_bytes
                .fetch_add(r.body.len() as u64, Ordering::Relaxed);
            d.cursor = page.next;
            if !page.more {
                break;
            }
        }
        // Junk: a signed change of random bytes (accepted until the quota),
        // a change whose signature does not verify, a body that is not one.
        let mut push = proto::PushRequest::default();
        push.changes.push(d.change(case, 16 * 1024));
        let req = d.sign(proto::PATH_PUSH, proto::encode(&push));
        if let Some((r, _)) = d.send(req).await {
            count(&r, &stats.junk_accepted, &stats.junk_refused);
        }
        let mut bad = d.change(case, 1024);
        bad.signature[0] ^= 1;
        let push = proto::PushRequest {
            changes: vec![bad],
            envelopes: vec![],
        };
        let req = d.sign(proto::PATH_PUSH, proto::encode(&push));
        if let Some((r, _)) = d.send(req).await {
            count(&r, &stats.junk_accepted, &stats.junk_refused);
        }
        let junk = d.rng.bytes(4096);
        let req = d.sign(proto::PATH_PUSH, junk);
        if let Some((r, _)) = d.send(req).await {
            count(&r, &stats.junk_accepted, &stats.junk_refused);
        }
    }
}
