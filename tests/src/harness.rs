//! A real `outreach-server` process on a loopback port, its admin commands,
//! enrolled test devices, and a TCP proxy that breaks connections on demand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use outreach_core::case::model::{CaseEdit, ContactKind, Outcome};
use outreach_core::sync::{self, HttpTransport};
use outreach_core::vault::{Vault, VaultOptions, VisitInput};

use crate::{PASSPHRASE, test_options};

/// Path of a workspace binary (`outreach`, `outreach-server`), brought up to
/// date once per test process: `cargo test -p outreach-tests` alone does not
/// rebuild other packages' binaries, and a stale one would test old code.
/// `scripts/test.sh` builds every binary before any test runs and sets
/// `OUTREACH_TEST_BINARIES_BUILT` (a build here, with another package
/// selection, would compile its own variant of the workspace again).
pub fn bin(name: &str) -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        if std::env::var_os("OUTREACH_TEST_BINARIES_BUILT").is_some() {
            return;
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "outreach-server", "-p", "outreach-cli"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the server and the shell");
    });
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target profile directory")
        .join(name)
}

pub struct Server {
    pub data: PathBuf,
    pub addr: SocketAddr,
    child: Option<Child>,
    /// Extra `serve` options (limits made small for a test).
    options: Vec<String>,
    /// `--database URL` (PostgreSQL) for the server and the admin
    /// commands; `None`: the SQLite file in `data`.
    pub database: Option<String>,
}

impl Server {
    /// Starts a server on a free loopback port with an empty data directory.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// Like [`Server::start`], with extra `serve` options.
    pub fn start_with(data: &Path, options: &[&str]) -> Server {
        Server::start_on(data, None, options)
    }

    /// Like [`Server::start_with`], on PostgreSQL (`--database URL`) when
    /// `database` is given (`data` then holds only the recovery key file).
    pub fn start_on(data: &Path, database: Option<&str>, options: &[&str]) -> Server {
        let mut s = Server {
            data: data.to_path_buf(),
            addr: "127.0.0.1:0".parse().unwrap(),
            child: None,
            options: options.iter().map(|o| o.to_string()).collect(),
            database: database.map(str::to_string),
        };
        s.spawn();
        s
    }

    /// `--database URL`, if the server runs on PostgreSQL.
    fn database_args(&self) -> Vec<String> {
        match &self.database {
            Some(url) => vec!["--database".into(), url.clone()],
            None => Vec::new(),
        }
    }

    /// The server process's id (to read its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Where the server's log (stderr) goes: beside the data directory.
    pub fn log_path(&self) -> PathBuf {
        self.data.with_extension("log")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log file");
        let mut child = Command::new(bin("outreach-server"))
            .args(["serve", "--listen", &self.addr.to_string(), "--data"])
            .arg(&self.data)
            .args(self.database_args())
            .args(&self.options)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start outreach-server");
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        loop {
            let line = lines
                .next()
                .expect("server printed its address")
                .expect("read server output");
            if let Some(rest) = line.strip_prefix("Listening on http://") {
                self.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no graceful shutdown, no flush beyond what was committed.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (graceful shutdown) and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let c = self.child.as_mut().expect("server running");
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM");
        let status = c.wait().expect("wait for the server");
        self.child = None;
        status
    }

    /// Starts again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if TcpListener::bind(self.addr).is_ok() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.spawn();
    }

    /// `outreach-server <args> --data DIR --json`, parsed.
    pub fn admin(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let out = Command::new(bin("outreach-server"))
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .args(self.database_args())
            .arg("--json")
            .output()
            .expect("run outreach-server");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    pub fn invite(&self, name: &str, role: &str, team: Option<&str>) -> String {
        let mut args = vec!["invite", "--name", name, "--role", role];
        if let Some(t) = team {
            args.extend(["--team", t]);
        }
        self.admin(&args).expect("invite")["code"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A device: a vault enrolled with the server.
pub struct Device {
    pub dir: PathBuf,
    pub vault: Vault,
    pub server: String,
}

impl Device {
    /// Creates a vault in `dir` and enrols it through `server` (an URL).
    pub fn enrol(dir: &Path, name: &str, server: &str, code: &str) -> Device {
        let mut options: VaultOptions = test_options(name);
        options.team = Some("north".into());
        let mut vault = Vault::create(dir, PASSPHRASE, options, None).expect("create vault");
        let t = HttpTransport::new(server, false).unwrap();
        sync::enroll(&mut vault, &t, server, false, code).expect("enrol");
        Device {
            dir: dir.to_path_buf(),
            vault,
            server: server.to_string(),
        }
    }

    pub fn sync(&mut self) -> outreach_core::Result<sync::SyncReport> {
        self.sync_via(&self.server.clone())
    }

    /// Syncs through another address (a proxy) to the same server.
    pub fn sync_via(&mut self, url: &str) -> outreach_core::Result<sync::SyncReport> {
        let t = HttpTransport::new(url, false)?;
        sync::sync(&mut self.vault, &t, &mut ())
    }
}

/// What the proxy does to the next connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Forward everything.
    None = 0,
    /// Close before the request reaches the server.
    DropRequest = 1,
    /// Let the server answer, then close without passing the reply on
    /// (the reply to a push is lost).
    DropReply = 2,
    /// Pass part of the reply, then cut the connection.
    CutReply = 3,
}

/// A TCP proxy in front of the server that injects [`Fault`]s per connection.
pub struct Proxy {
    pub addr: SocketAddr,
    fault: Arc<AtomicU8>,
    cut_after: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    target: Arc<Mutex<SocketAddr>>,
}

impl Proxy {
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fault = Arc::new(AtomicU8::new(0));
        let cut_after = Arc::new(AtomicU64::new(40));
        let stop = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Mutex::new(target));
        let (f, c, s, t) = (
            fault.clone(),
            cut_after.clone(),
            stop.clone(),
            target.clone(),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let fault = f.load(Ordering::SeqCst);
                let cut = c.load(Ordering::SeqCst);
                let target = *t.lock().unwrap();
                thread::spawn(move || relay(client, target, fault, cut));
            }
        });
        Proxy {
            addr,
            fault,
            cut_after,
            stop,
            target,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, fault: Fault, cut_after: u64) {
        self.fault.store(fault as u8, Ordering::SeqCst);
        self.cut_after.store(cut_after, Ordering::SeqCst);
    }

    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn relay(client: TcpStream, target: SocketAddr, fault: u8, cut_after: u64) {
    if fault == Fault::DropRequest as u8 {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(server) = TcpStream::connect(target) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let limit = match fault {
        f if f == Fault::DropReply as u8 => 0,
        f if f == Fault::CutReply as u8 => cut_after,
        _ => u64::MAX,
    };
    let mut sent = 0u64;
    let mut buf = [0u8; 4096];
    loop {
        let n = match s_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed = (limit - sent).min(n as u64) as usize;
        if allowed > 0 && c_write.write_all(&buf[..allowed]).is_err() {
            break;
        }
        sent += allowed as u64;
        if sent >= limit {
            // The server has answered (at least partly): the request was
            // processed; the client never sees the whole reply.
            break;
        }
    }
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = s_read.shutdown(Shutdown::Both);
}

/// A new case with just a preferred name.
pub fn new_case(v: &mut Vault, name: &str) -> String {
    v.create_case(&CaseEdit {
        preferred_name: Some(name.into()),
        ..Default::default()
    })
    .unwrap()
}

/// A completed home visit with `note`.
pub fn visit(v: &mut Vault, case: &str, note: &str) -> String {
    v.add_visit(
        case,
        &VisitInput::new(
            "2026-11-20T10:00:00Z",
            ContactKind::Home,
            Outcome::Completed,
            note,
        ),
    )
    .unwrap()
}
