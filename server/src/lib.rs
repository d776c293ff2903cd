//! The Outreach sync server. It stores and forwards ciphertext: it checks
//! device signatures and who may fetch what, and never holds a key that
//! opens a case. See `docs/SYNC-API.md` for the wire protocol and
//! `docs/ARCHITECTURE.md` for the threat model.

pub mod api;
pub mod keys;
pub mod memory;
pub mod safety;
pub mod storage;

use std::path::{Path, PathBuf};

pub use api::{AppState, ServeOptions, router, serve};
pub use storage::{SqliteStorage, Storage, StorageError};

/// Where `serve` keeps its data unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "outreach-data";
/// Where `serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// Name of the recovery key file written inside the data directory when
/// `serve` initialises an empty one.
pub const FIRST_RUN_RECOVERY_FILE: &str = "RECOVERY-KEY-MOVE-THIS-OFFLINE.json";
/// Threads for storage work (SQLite and signature checks). Pushes are
/// committed in groups, so a few threads keep the disk busy; hundreds would
/// only add context switches.
pub const MAX_BLOCKING_THREADS: usize = 16;
/// Bytes of changes and envelopes one device may store unless told
/// otherwise (`serve --device-quota`).
pub const DEFAULT_DEVICE_QUOTA: u64 = 256 * 1024 * 1024;
/// Hours an enrolment code stays valid unless told otherwise.
pub const DEFAULT_INVITE_HOURS: u32 = 72;

/// Binds the listening socket with a deep accept queue (4096): when a
/// thousand phones reconnect at once, the kernel queues them instead of
/// resetting the connections it cannot hand over fast enough.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The data directory's database path (for tests and diagnostics).
pub fn database_path(data: &Path) -> PathBuf {
    data.join(storage::sqlite::DB_FILE)
}
