//! A throwaway PostgreSQL cluster for tests: started once per test binary
//! (in a temporary directory, as the `postgres` user when run as root, on
//! a free port, fsync off), stopped by a watcher once the test process has
//! exited. Each test gets its own schema or database.
//!
//! Without PostgreSQL's binaries the tests that need it skip with a message
//! — unless `OUTREACH_REQUIRE_POSTGRES` is set (as `scripts/test.sh` sets
//! it), when they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The running cluster of this test process.
pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(1);

/// `bin/` of the newest PostgreSQL installed from Debian's packages.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").is_file() && p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        })
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool (as `postgres` when we are root: it refuses root).
fn tool(bin: &Path, name: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(name));
        c
    } else {
        Command::new(bin.join(name))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn start() -> Option<Cluster> {
    let Some(bin) = binaries() else {
        if std::env::var_os("OUTREACH_REQUIRE_POSTGRES").is_some() {
            panic!(
                "OUTREACH_REQUIRE_POSTGRES is set but PostgreSQL is not installed: apt-get install -y postgresql"
            );
        }
        eprintln!(
            "SKIPPED: PostgreSQL tests (no /usr/lib/postgresql/*/bin; apt-get install -y postgresql, or set OUTREACH_REQUIRE_POSTGRES=1 to make this a failure)"
        );
        return None;
    };
    let mut raw = [0u8; 6];
    getrandom::fill(&mut raw).expect("random bytes");
    let dir = std::env::temp_dir().join(format!("outreach-pg-{}", hex::encode(raw)));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    if is_root() {
        let ok = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "could not hand {} to the postgres user", dir.display());
    }
    let data = dir.join("data");
    let out = tool(&bin, "initdb")
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .expect("initdb runs");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    // TLS on, with a certificate made here for 127.0.0.1 (the tests of
    // `sslmode=require` trust it through `sslrootcert`); connections that
    // do not ask for TLS stay plain.
    let tls = self_signed(&dir).map_or_else(String::new, |(cert, key)| {
        format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cert.display(),
            key.display()
        )
    });
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300{tls}",
        dir.display()
    );
    let out = tool(&bin, "pg_ctl")
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("log"))
        .args(["-w", "start"])
        .output()
        .expect("pg_ctl runs");
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(dir.join("log")).unwrap_or_default()
    );
    // Stopped (immediately) and removed once this process has exited.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {runuser}{pg_ctl} -D {data} stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        runuser = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    let _ = Command::new("sh")
        .args(["-c", &stop])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    Some(Cluster { port, dir })
}

/// A certificate and key for `127.0.0.1` made with `openssl` (installed with
/// PostgreSQL's packages), readable by the server only; `None` without it.
fn self_signed(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let _ = Command::new("chmod").arg("600").arg(&key).status();
    if is_root() {
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&cert)
            .arg(&key)
            .status();
    }
    Some((cert, key))
}

impl Cluster {
    /// The cluster's own CA (its self-signed certificate), if TLS is on.
    pub fn ca_file(&self) -> Option<PathBuf> {
        let cert = self.dir.join("server.crt");
        cert.is_file().then_some(cert)
    }
}

/// The cluster, started on first use; `None` (after a message) when
/// PostgreSQL is not installed and not required.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

impl Cluster {
    /// A URL for the `postgres` database (trust authentication).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A new, empty database; returns its URL.
    pub fn new_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(&self.admin_url(), postgres::NoTls)
            .expect("connect to the test cluster");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A new, empty schema in the `postgres` database; returns a
    /// connection string whose sessions use it.
    pub fn new_schema(&self) -> String {
        let name = format!("s{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut c = postgres::Client::connect(&self.admin_url(), postgres::NoTls)
            .expect("connect to the test cluster");
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create a test schema");
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres options='-c search_path={name}'",
            self.port
        )
    }
}

/// The id of the transaction open on `client` (one that has written).
pub fn open_xid(client: &mut postgres::Client) -> i64 {
    client
        .query_one("SELECT txid_current()", &[])
        .and_then(|r| r.try_get(0))
        .unwrap_or_default()
}

/// Waits until some backend waits for transaction `xid` (a row or key it
/// holds): other tests on the same cluster wait for their own.
pub fn wait_until_someone_waits_for(client: &mut postgres::Client, xid: i64) {
    while client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted
               AND transactionid::text::bigint = $1",
            &[&xid],
        )
        .and_then(|r| r.try_get::<_, i64>(0))
        .unwrap_or_default()
        == 0
    {
        std::thread::yield_now();
    }
}
