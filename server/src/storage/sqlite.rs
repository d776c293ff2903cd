//! The embedded default: one SQLite file in the data directory, WAL and
//! `synchronous=FULL` so that an acknowledged push survives a power cut.
//! The server and the admin commands open the same file; SQLite's locking
//! lets `invite`, `devices` and `revoke-device` run while the server serves.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use outreach_protocol::{
    self as proto, Ack, AssignResponse, Change, Cursor, Envelope, EnvelopeNeed, ErrorCode, Id,
    Item, PageWriter, PushResponse, RECOVERY_RECIPIENT, Recipient, Rejected, Role, RotateRequest,
    RotateResponse, RotationDue, Signer, TransferResponse,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::PathBuf;

use super::{
    Device, DeviceListing, NewDevice, Org, PushOutcome, RejectedListing, Result, Storage,
    StorageError, User, may_access, refused,
};

const KIND_GRANT: i64 = 2;
/// Log kind 3: a case was transferred away from the user of device `target`,
/// which must delete its copy (body: `Item::Removed`).
const KIND_REMOVED: i64 = 3;

/// Erasure, retention and the admin log (log kind 4: `Item::Erased`).
mod erasure;
/// A private, read-only copy for offline recovery (`storage::export`).
pub(crate) mod export;
/// Lone-working safety: check-ins, alerts, webhook deliveries (v6).
mod safety;

const SCHEMA_V1: &str = "
CREATE TABLE org (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    org_id      BLOB NOT NULL,
    name        TEXT NOT NULL,
    recovery_pk BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE users (
    user_id    BLOB PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    team       TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX users_team ON users(team, role);
CREATE TABLE invites (
    code_hash  BLOB PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users(user_id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    used_by    BLOB
);
CREATE TABLE devices (
    device_id   BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users(user_id),
    sign_pk     BLOB NOT NULL,
    kex_pk      BLOB NOT NULL,
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER,
    last_seen   INTEGER
);
CREATE INDEX devices_user ON devices(user_id);
CREATE TABLE cases (
    case_id    BLOB PRIMARY KEY,
    team       TEXT,
    epoch      INTEGER NOT NULL DEFAULT 0,
    created_by BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX cases_team ON cases(team);
CREATE TABLE assignments (
    case_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    PRIMARY KEY (case_id, user_id)
);
CREATE INDEX assignments_user ON assignments(user_id);
-- One append-only log for every organisation: changes (kind 0), case-key
-- envelopes (1) and grants (2: deliver an existing case whole to `target`).
CREATE TABLE log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       INTEGER NOT NULL,
    case_id    BLOB NOT NULL,
    epoch      INTEGER NOT NULL,
    device_id  BLOB NOT NULL,
    target     BLOB,
    client_id  BLOB,
    body       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX log_client ON log(device_id, client_id) WHERE kind = 0;
CREATE UNIQUE INDEX log_envelope ON log(case_id, epoch, target) WHERE kind = 1;
CREATE INDEX log_case ON log(case_id, seq);
CREATE INDEX log_target ON log(target, seq);
-- Authorised recipients still without an envelope for a case's current epoch.
CREATE TABLE envelope_needs (
    case_id   BLOB NOT NULL,
    epoch     INTEGER NOT NULL,
    recipient BLOB NOT NULL,
    PRIMARY KEY (case_id, epoch, recipient)
);
";

/// v2: case transfer. Where each device has pulled to (`pulled_seq`, the
/// cursor it sent), recorded when a pull passes a removal addressed to it
/// (log kind 3) — the only time it matters, so an ordinary pull stays a
/// read. Until a device has pulled past its removal from a case, the server
/// still accepts its uploads to that case (written offline before it knew).
const SCHEMA_V2: &str = "
ALTER TABLE devices ADD COLUMN pulled_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX log_removed ON log(target, seq) WHERE kind = 3;
";

/// v3: bounded per device (issue 10).
/// - Every envelope for a recipient is kept, one per sealer (an attacker's
///   junk envelope can no longer pre-empt the real one).
/// - `devices.stored_bytes`: bytes of changes and envelopes the device has
///   stored, checked against the per-device quota on every push.
/// - `cases.created_device`: the device that registered the case, the only
///   one whose recovery envelope is accepted.
/// - `log_grant`: finds a device's pending grant of a case (refetch dedupe).
/// - `rejected`: items devices quarantined and reported (ids only).
const SCHEMA_V3: &str = "
DROP INDEX log_envelope;
CREATE UNIQUE INDEX log_envelope_sealer ON log(case_id, epoch, target, device_id) WHERE kind = 1;
CREATE INDEX log_grant ON log(target, case_id, seq) WHERE kind = 2;
ALTER TABLE devices ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE devices SET stored_bytes = s.bytes
  FROM (SELECT device_id, SUM(length(body)) AS bytes FROM log WHERE kind IN (0, 1) GROUP BY device_id) s
  WHERE s.device_id = devices.device_id;
ALTER TABLE cases ADD COLUMN created_device BLOB;
UPDATE cases SET created_device = f.device_id
  FROM (SELECT case_id, device_id, MIN(seq) FROM log WHERE kind = 0 GROUP BY case_id) f
  WHERE f.case_id = cases.case_id;
CREATE TABLE rejected (
    device_id   BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    case_id     BLOB NOT NULL,
    signer      BLOB NOT NULL,
    reason      TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
);
";

/// v4: case-key epochs (issue 11). `cases.rotate_due`: a device lost the
/// right to read the case (revoked, or the case transferred away from its
/// user); the next authorised device that holds the key starts a new epoch.
/// `case_epochs`: who started each epoch — the device that holds its key
/// first, and the only one whose recovery envelope for it is accepted (the
/// case's creator for epoch 0).
const SCHEMA_V4: &str = "
ALTER TABLE cases ADD COLUMN rotate_due INTEGER NOT NULL DEFAULT 0;
CREATE INDEX cases_rotate_due ON cases(case_id) WHERE rotate_due = 1;
CREATE TABLE case_epochs (
    case_id    BLOB NOT NULL,
    epoch      INTEGER NOT NULL,
    device_id  BLOB NOT NULL,
    started_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, epoch)
);
INSERT INTO case_epochs (case_id, epoch, device_id, started_at)
  SELECT case_id, 0, COALESCE(created_device, zeroblob(16)), created_at FROM cases;
";

/// v5: erasure, retention and the admin log (issue 11).
/// - `erased`: tombstones (no content); an erased case id is never
///   registered again.
/// - `erasure_acks`: devices that confirmed they deleted their copy.
/// - `cases.closed_on`: the closure date a device reported (metadata only).
/// - `admin_log`: append-only record of admin actions (no content).
const SCHEMA_V5: &str = "
CREATE TABLE erased (
    case_id   BLOB PRIMARY KEY,
    erased_at INTEGER NOT NULL,
    erased_by TEXT NOT NULL
);
CREATE TABLE erasure_acks (
    case_id   BLOB NOT NULL,
    device_id BLOB NOT NULL,
    acked_at  INTEGER NOT NULL,
    PRIMARY KEY (case_id, device_id)
);
ALTER TABLE cases ADD COLUMN closed_on TEXT;
CREATE TABLE admin_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
";

/// v6: lone-working safety (issue 14); see `sqlite/safety.rs`.
/// - `safety_timers`: check-ins — who, which case (`case_ref`: not named
///   `case_id`, so erasing the case does not end a live timer), start,
///   deadline, when the alert is due (deadline + grace), check-out.
/// - `safety_notes`: each check-in's note sealed under the case key; deleted
///   at check-out, and with the case when it is erased.
/// - `safety_alerts`: one per missed deadline; who acknowledged it.
/// - `safety_webhook`: deliveries to the council's alerting system, retried
///   until it answers 2xx.
const SCHEMA_V6: &str = "
CREATE TABLE safety_timers (
    timer_id   BLOB PRIMARY KEY,
    device_id  BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    team       TEXT,
    case_ref   BLOB NOT NULL,
    started_at INTEGER NOT NULL,
    until      INTEGER NOT NULL,
    alert_at   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    closed_at  INTEGER
);
CREATE INDEX safety_timers_due ON safety_timers(alert_at) WHERE closed_at IS NULL;
CREATE INDEX safety_timers_user ON safety_timers(user_id) WHERE closed_at IS NULL;
CREATE INDEX safety_timers_team ON safety_timers(team) WHERE closed_at IS NULL;
CREATE TABLE safety_notes (
    timer_id BLOB PRIMARY KEY,
    case_id  BLOB NOT NULL,
    epoch    INTEGER NOT NULL,
    body     BLOB NOT NULL
);
CREATE INDEX safety_notes_case ON safety_notes(case_id);
CREATE TABLE safety_alerts (
    alert_id  BLOB PRIMARY KEY,
    timer_id  BLOB NOT NULL,
    due       INTEGER NOT NULL,
    raised_at INTEGER NOT NULL,
    acked_at  INTEGER,
    acked_by  TEXT,
    UNIQUE (timer_id, due)
);
CREATE INDEX safety_alerts_open ON safety_alerts(raised_at) WHERE acked_at IS NULL;
CREATE TABLE safety_webhook (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id     BLOB NOT NULL,
    event        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    delivered_at INTEGER,
    last_error   TEXT
);
CREATE INDEX safety_webhook_due ON safety_webhook(next_at) WHERE delivered_at IS NULL;
";

const MIGRATIONS: &[&str] = &[
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6,
];

/// Reports of quarantined items kept per device (the first ones; later ones
/// are counted as not stored).
const MAX_REPORTS_PER_DEVICE: i64 = 1000;

/// The one answer to a request naming a case the device may not use or the
/// server does not know: the two are not told apart, so a device cannot
/// learn which case ids exist.
pub const CASE_REFUSED: &str =
    "this device may not write or read that case, or there is no such case";

/// Cases a user may read, as SQL: the same rule as [`may_access`].
/// Parameters: ?1 user id, ?2 role, ?3 team.
const READABLE_CASES: &str = "
    SELECT case_id FROM assignments WHERE user_id = ?1
    UNION
    SELECT case_id FROM cases WHERE ?2 = 'supervisor' AND team IS NOT NULL AND team = ?3";

/// [`READABLE_CASES`] with its parameters at ?3 (user id), ?4 (role), ?5 (team).
const READABLE_CASES_5: &str = "
    SELECT case_id FROM assignments WHERE user_id = ?3
    UNION
    SELECT case_id FROM cases WHERE ?4 = 'supervisor' AND team IS NOT NULL AND team = ?5";

/// One SQLite file, one writer connection, a pool of readers (WAL lets
/// pulls read while a push commits). Pushes are committed in groups by one
/// writer thread: a push is queued and its request waits (without holding a
/// thread) until the writer has committed it, together with everything
/// queued meanwhile, in one transaction — one fsync for many devices — with
/// a savepoint per push so that a refused push rolls back alone.
pub struct SqliteStorage {
    path: PathBuf,
    writer: Arc<Writer>,
    /// Started with the first push.
    writer_thread: std::sync::Once,
    writer_running: std::sync::atomic::AtomicBool,
    readers: Mutex<Vec<Connection>>,
    /// The connection that copies the WAL into the database file
    /// ([`Storage::checkpoint`]), off the writer's path.
    checkpointer: Mutex<Option<Connection>>,
}

/// What the writer thread shares with the requests.
struct Writer {
    conn: Mutex<Connection>,
    queue: Mutex<PushQueue>,
    queued: Condvar,
    /// When each device's `last_seen` was last noted, and the notes not yet
    /// written: they go to the database with the next group commit of pushes
    /// or with [`Storage::flush_pending`], never in a transaction of their own
    /// per request.
    touched: Mutex<Touched>,
    /// Bytes of log items one device may store (see [`SCHEMA_V3`]).
    device_quota: AtomicU64,
}

struct PushJob {
    device: Device,
    changes: Vec<Change>,
    envelopes: Vec<Envelope>,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Result<PushResponse>>,
}

/// Pushes waiting for the next commit.
struct PushQueue {
    jobs: Vec<PushJob>,
    /// The storage was dropped: the writer finishes the queue and stops.
    closed: bool,
}

/// A commit takes at most this many pushes (the rest wait for the next).
const MAX_GROUP: usize = 128;

#[derive(Default)]
struct Touched {
    noted: HashMap<Id, i64>,
    pending: Vec<(Id, i64)>,
}

/// Readers kept open for pulls: as many as storage calls can run at once,
/// so that no pull pays for opening a connection and preparing its
/// statements again.
const MAX_IDLE_READERS: usize = crate::MAX_BLOCKING_THREADS;
/// Seconds between two notes of a device's `last_seen`.
const LAST_SEEN_EVERY: i64 = 300;
/// Log rows a pull reads per query (the `LIMIT` of its queries).
const PULL_BATCH: usize = 256;
/// Prepared statements kept per connection (a push alone uses a dozen).
const STATEMENT_CACHE: usize = 64;
/// WAL pages after which the writer checkpoints by itself.
const WRITER_AUTOCHECKPOINT: i64 = 10_000;

pub const DB_FILE: &str = "outreach-server.db";

impl SqliteStorage {
    /// Opens (creating and migrating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|_| StorageError::Corrupt)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut conn = Connection::open(dir.join(DB_FILE))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "secure_delete", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Sorts and UNIONs in memory, never in a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // A running server copies the WAL into the database from another
        // connection every second ([`Storage::checkpoint`]), so that a
        // commit does not pay for it; the writer checkpoints itself only if
        // that falls far behind (40 MB of WAL), and admin commands as usual.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT)?;
        migrate(&mut conn)?;
        Ok(Self {
            path: dir.join(DB_FILE),
            writer: Arc::new(Writer {
                conn: Mutex::new(conn),
                queue: Mutex::new(PushQueue {
                    jobs: Vec::new(),
                    closed: false,
                }),
                queued: Condvar::new(),
                touched: Mutex::new(Touched::default()),
                device_quota: AtomicU64::new(crate::DEFAULT_DEVICE_QUOTA),
            }),
            writer_thread: std::sync::Once::new(),
            writer_running: std::sync::atomic::AtomicBool::new(false),
            readers: Mutex::new(Vec::new()),
            checkpointer: Mutex::new(None),
        })
    }

    /// Sets the per-device storage quota (bytes of changes and envelopes).
    pub fn set_device_quota(&self, bytes: u64) {
        self.writer.device_quota.store(bytes, Ordering::Relaxed);
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.busy_timeout(Duration::from_secs(10))?;
                c.pragma_update(None, "query_only", true)?;
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                c.pragma_update(None, "temp_store", "MEMORY")?;
                c
            }
        };
        let result = f(&mut conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        result
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        let mut q = self.writer.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.closed = true;
        drop(q);
        self.writer.queued.notify_all();
    }
}

impl Writer {
    fn take_touches(&self) -> Vec<(Id, i64)> {
        std::mem::take(
            &mut self
                .touched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pending,
        )
    }

    /// Puts notes back after a failed write (they go with the next one).
    fn requeue_touches(&self, notes: Vec<(Id, i64)>) {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        touched.pending.extend(notes);
    }

    /// The writer thread: commits queued pushes, a group at a time.
    fn run(&self) {
        while let Some(jobs) = self.next_group() {
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            self.commit(&mut conn, jobs);
        }
    }

    /// Waits for pushes; `None` once the storage is gone and the queue is
    /// empty.
    fn next_group(&self) -> Option<Vec<PushJob>> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        while q.jobs.is_empty() {
            if q.closed {
                return None;
            }
            q = self.queued.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        let n = q.jobs.len().min(MAX_GROUP);
        Some(q.jobs.drain(..n).collect())
    }

    /// Commits a group of pushes in one transaction (see [`SqliteStorage`]).
    fn commit(&self, conn: &mut Connection, jobs: Vec<PushJob>) {
        let mut results = Vec::with_capacity(jobs.len());
        let pending_touches = self.take_touches();
        let committed = (|| -> Result<()> {
            let mut tx =
                conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for job in &jobs {
                let sp = tx.savepoint()?;
                let quota = self.device_quota.load(Ordering::Relaxed);
                match push_in(
                    &sp,
                    &job.device,
                    &job.changes,
                    &job.envelopes,
                    job.now,
                    quota,
                ) {
                    Ok(r) => {
                        sp.commit()?;
                        results.push(Ok(r));
                    }
                    Err(e) => {
                        drop(sp); // rolls this push back, keeps the others
                        results.push(Err(e));
                    }
                }
            }
            write_last_seen(&tx, &pending_touches)?;
            tx.commit()?;
            Ok(())
        })();
        if committed.is_err() {
            self.requeue_touches(pending_touches);
        }
        match committed {
            Ok(()) => {
                for (job, r) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, pushes = jobs.len(), "push commit failed");
                for job in jobs {
                    let _ = job.reply.send(Err(StorageError::CommitFailed));
                }
            }
        }
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let latest = MIGRATIONS.len() as i64;
    if current > latest {
        return Err(StorageError::SchemaTooNew(current));
    }
    if current == latest {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

fn id(bytes: Vec<u8>) -> Result<Id> {
    bytes.try_into().map_err(|_| StorageError::Corrupt)
}

/// A case id as the devices show it (hyphenated UUID).
fn uuid_text(id: &Id) -> String {
    let h = hex::encode(id);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn key32(bytes: Vec<u8>) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| StorageError::Corrupt)
}

fn role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or(StorageError::Corrupt)
}

fn user_by(tx: &Connection, where_sql: &str, p: &dyn rusqlite::ToSql) -> Result<Option<User>> {
    let row = tx
        .query_row(
            &format!("SELECT user_id, name, role, team FROM users WHERE {where_sql}"),
            [p],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    match row {
        None => Ok(None),
        Some((uid, name, r, team)) => Ok(Some(User {
            user_id: id(uid)?,
            name,
            role: role(&r)?,
            team,
        })),
    }
}

struct CaseRow {
    team: Option<String>,
    epoch: u32,
    /// A device lost the case since its current epoch started.
    rotate_due: bool,
}

fn case_row(tx: &Connection, case_id: &Id) -> Result<Option<CaseRow>> {
    let row = tx
        .prepare_cached("SELECT team, epoch, rotate_due FROM cases WHERE case_id = ?1")?
        .query_row([&case_id[..]], |r| {
            Ok(CaseRow {
                team: r.get(0)?,
                epoch: r.get(1)?,
                rotate_due: r.get(2)?,
            })
        })
        .optional()?;
    Ok(row)
}

fn assigned(tx: &Connection, case_id: &Id, user_id: &Id) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM assignments WHERE case_id = ?1 AND user_id = ?2")?
        .query_row(params![&case_id[..], &user_id[..]], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Refuses a device that is revoked (or gone) now, inside the transaction
/// of the request's work. The HTTP layer checks signatures with keys it
/// keeps in memory; whether the device may still act is decided here, on
/// every request, so that a revocation by the admin command (another
/// process) holds from the next request on.
fn check_live(tx: &Connection, device_id: &Id) -> Result<()> {
    let live: Option<bool> = tx
        .prepare_cached("SELECT revoked_at IS NULL FROM devices WHERE device_id = ?1")?
        .query_row([&device_id[..]], |r| r.get(0))
        .optional()?;
    match live {
        Some(true) => Ok(()),
        Some(false) => Err(refused(
            ErrorCode::DeviceRevoked,
            "this device has been revoked by the organisation",
        )),
        None => Err(refused(
            ErrorCode::Unauthenticated,
            "this device is not enrolled",
        )),
    }
}

/// Writes devices' `last_seen` notes (see [`SqliteStorage::touch_device`]).
fn write_last_seen(tx: &Connection, notes: &[(Id, i64)]) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE devices SET last_seen = ?2 WHERE device_id = ?1 AND (last_seen IS NULL OR last_seen < ?2 - 60)",
    )?;
    for (device, at) in notes {
        stmt.execute(params![&device[..], at])?;
    }
    Ok(())
}

/// Whether the device's user may read the case now.
fn may_read(tx: &Connection, user: &User, case_id: &Id) -> Result<bool> {
    let Some(case) = case_row(tx, case_id)? else {
        return Ok(false);
    };
    let is_assigned = assigned(tx, case_id, &user.user_id)?;
    Ok(may_access(user, case.team.as_deref(), is_assigned))
}

/// Whether the device was removed from the case (by a transfer) and has not
/// yet pulled past that removal: it may not know, and may still be uploading
/// what it wrote offline. Its uploads to the case are accepted until then.
fn removal_pending(tx: &Connection, case_id: &Id, device_id: &Id) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM log l JOIN devices d ON d.device_id = l.target
             WHERE l.target = ?2 AND l.kind = 3 AND l.case_id = ?1 AND l.seq > d.pulled_seq
             LIMIT 1",
        )?
        .query_row(params![&case_id[..], &device_id[..]], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Whether `by` may assign or transfer the case: a supervisor of its team or
/// an admin. A device that may not even read the case gets the same answer
/// as for a case that does not exist.
fn may_manage(tx: &Connection, by: &Device, case_id: &Id, case: &CaseRow) -> Result<()> {
    let allowed = match by.user.role {
        Role::Admin => true,
        Role::Supervisor => case.team.is_some() && case.team == by.user.team,
        Role::Practitioner => false,
    };
    if allowed {
        return Ok(());
    }
    if !may_access(
        &by.user,
        case.team.as_deref(),
        assigned(tx, case_id, &by.user.user_id)?,
    ) {
        return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
    }
    Err(refused(
        ErrorCode::Forbidden,
        "only a supervisor of the case's team (or an admin) may assign or transfer it",
    ))
}

/// Every live device that may read the case (for envelope needs).
fn authorised_devices(tx: &Connection, case_id: &Id, team: Option<&str>) -> Result<Vec<Id>> {
    let mut stmt = tx.prepare_cached(
        "SELECT d.device_id FROM assignments a JOIN devices d ON d.user_id = a.user_id
         WHERE a.case_id = ?1 AND d.revoked_at IS NULL
         UNION
         SELECT d.device_id FROM users u JOIN devices d ON d.user_id = u.user_id
         WHERE ?2 IS NOT NULL AND u.team = ?2 AND u.role = 'supervisor' AND d.revoked_at IS NULL",
    )?;
    let rows = stmt.query_map(params![&case_id[..], team], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(id(r?)?);
    }
    Ok(out)
}

/// Whether `device` is one of [`authorised_devices`] of the case (the same
/// rule, asked of one device with point lookups).
fn device_may_read(tx: &Connection, device: &Id, case_id: &Id, team: Option<&str>) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM devices d JOIN users u ON u.user_id = d.user_id
             WHERE d.device_id = ?1 AND d.revoked_at IS NULL
               AND (EXISTS (SELECT 1 FROM assignments a WHERE a.case_id = ?2 AND a.user_id = d.user_id)
                    OR (?3 IS NOT NULL AND u.team = ?3 AND u.role = 'supervisor'))",
        )?
        .query_row(params![&device[..], &case_id[..], team], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The device that started `epoch` of the case (see [`SCHEMA_V4`]).
fn epoch_starter(tx: &Connection, case_id: &Id, epoch: u32) -> Result<Option<Id>> {
    tx.prepare_cached("SELECT device_id FROM case_epochs WHERE case_id = ?1 AND epoch = ?2")?
        .query_row(params![&case_id[..], epoch], |r| r.get::<_, Vec<u8>>(0))
        .optional()?
        .map(id)
        .transpose()
}

/// `recipient` needs the key of every epoch of the case (history stays
/// readable to whoever is given the case on purpose: enrolled to a user
/// who may read it, assigned, transferred).
fn add_needs_all_epochs(tx: &Connection, case_id: &Id, recipient: &Id) -> Result<()> {
    let epochs: Vec<u32> = tx
        .prepare_cached("SELECT epoch FROM case_epochs WHERE case_id = ?1")?
        .query_map([&case_id[..]], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for epoch in epochs {
        add_need(tx, case_id, epoch, recipient)?;
    }
    Ok(())
}

fn add_need(tx: &Connection, case_id: &Id, epoch: u32, recipient: &Id) -> Result<()> {
    tx.prepare_cached(
        // Met only by an envelope from a key holder (see `holds_key`).
        "INSERT OR IGNORE INTO envelope_needs (case_id, epoch, recipient)
         SELECT ?1, ?2, ?3 WHERE NOT EXISTS (
            SELECT 1 FROM log e WHERE e.kind = 1 AND e.case_id = ?1 AND e.epoch = ?2 AND e.target = ?3
              AND (e.device_id = (SELECT device_id FROM case_epochs WHERE case_id = ?1 AND epoch = ?2)
                   OR EXISTS (SELECT 1 FROM log k WHERE k.kind = 1 AND k.case_id = ?1 AND k.epoch = ?2
                                AND k.target = e.device_id AND k.device_id != e.device_id)))",
    )?
    .execute(params![&case_id[..], epoch, &recipient[..]])?;
    Ok(())
}

impl Storage for SqliteStorage {
    fn org(&self) -> Result<Option<Org>> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT org_id, name, recovery_pk FROM org WHERE id = 1",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                        ))
                    },
                )
                .optional()?;
            match row {
                None => Ok(None),
                Some((oid, name, pk)) => Ok(Some(Org {
                    org_id: id(oid)?,
                    name,
                    recovery_pk: key32(pk)?,
                })),
            }
        })
    }

    fn init_org(&self, name: &str, recovery_pk: [u8; 32], now: i64) -> Result<Org> {
        let mut org_id = [0u8; 16];
        getrandom::fill(&mut org_id).map_err(|_| StorageError::Corrupt)?;
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let exists = tx
                .query_row("SELECT 1 FROM org WHERE id = 1", [], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                return Err(StorageError::AlreadyInitialised);
            }
            tx.execute(
                "INSERT INTO org (id, org_id, name, recovery_pk, created_at) VALUES (1, ?1, ?2, ?3, ?4)",
                params![&org_id[..], name, &recovery_pk[..], now],
            )?;
            tx.commit()?;
            Ok(Org {
                org_id,
                name: name.to_string(),
                recovery_pk,
            })
        })
    }

    fn create_invite(
        &self,
        name: &str,
        role_: Role,
        team: Option<&str>,
        code_hash: [u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<User> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if tx.query_row("SELECT 1 FROM org WHERE id = 1", [], |_| Ok(())).optional()?.is_none() {
                return Err(StorageError::NotInitialised);
            }
            let user = match user_by(&tx, "name = ?1", &name)? {
                Some(u) => {
                    if u.role != role_ || u.team.as_deref() != team {
                        return Err(refused(
                            ErrorCode::Malformed,
                            "a user with that name exists with a different role or team",
                        ));
                    }
                    u
                }
                None => {
                    let mut uid = [0u8; 16];
                    getrandom::fill(&mut uid).map_err(|_| StorageError::Corrupt)?;
                    tx.execute(
                        "INSERT INTO users (user_id, name, role, team, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![&uid[..], name, role_.as_str(), team, now],
                    )?;
                    User {
                        user_id: uid,
                        name: name.to_string(),
                        role: role_,
                        team: team.map(str::to_string),
                    }
                }
            };
            tx.execute(
                "INSERT INTO invites (code_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![&code_hash[..], &user.user_id[..], expires_at],
            )?;
            tx.commit()?;
            Ok(user)
        })
    }

    fn enroll(&self, code_hash: [u8; 32], device: NewDevice, now: i64) -> Result<User> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let invite = tx
                .query_row(
                    "SELECT user_id, expires_at, used_at, used_by FROM invites WHERE code_hash = ?1",
                    [&code_hash[..]],
                    |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                            r.get::<_, Option<Vec<u8>>>(3)?,
                        ))
                    },
                )
                .optional()?;
            let (uid, expires_at, used_at, used_by) = invite.ok_or(refused(
                ErrorCode::UnknownCode,
                "unknown enrolment code: ask your admin for a new one",
            ))?;
            if used_at.is_some() && used_by.as_deref() == Some(&device.device_id[..]) {
                // The same device retrying after a lost reply, with the same
                // keys: answer as the first time.
                let same_keys = tx
                    .query_row(
                        "SELECT 1 FROM devices WHERE device_id = ?1 AND sign_pk = ?2 AND kex_pk = ?3 AND revoked_at IS NULL",
                        params![&device.device_id[..], &device.sign_pk[..], &device.kex_pk[..]],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if same_keys {
                    let uid = id(uid)?;
                    return user_by(&tx, "user_id = ?1", &&uid[..])?.ok_or(StorageError::Corrupt);
                }
            }
            if used_at.is_some() {
                return Err(refused(
                    ErrorCode::UsedCode,
                    "this enrolment code has already been used: ask your admin for a new one",
                ));
            }
            if now > expires_at {
                return Err(refused(
                    ErrorCode::ExpiredCode,
                    "this enrolment code has expired: ask your admin for a new one",
                ));
            }
            let exists = tx
                .query_row(
                    "SELECT 1 FROM devices WHERE device_id = ?1",
                    [&device.device_id[..]],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if exists {
                return Err(refused(
                    ErrorCode::DeviceExists,
                    "this device is already enrolled",
                ));
            }
            let uid = id(uid)?;
            let user = user_by(&tx, "user_id = ?1", &&uid[..])?.ok_or(StorageError::Corrupt)?;
            tx.execute(
                "INSERT INTO devices (device_id, user_id, sign_pk, kex_pk, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&device.device_id[..], &uid[..], &device.sign_pk[..], &device.kex_pk[..], now],
            )?;
            tx.execute(
                "UPDATE invites SET used_at = ?2, used_by = ?3 WHERE code_hash = ?1",
                params![&code_hash[..], now, &device.device_id[..]],
            )?;
            // The new device needs the key of every case it may read.
            tx.execute(
                &format!(
                    "INSERT OR IGNORE INTO envelope_needs (case_id, epoch, recipient)
                     SELECT ce.case_id, ce.epoch, ?4 FROM case_epochs ce
                     WHERE ce.case_id IN ({READABLE_CASES})"
                ),
                params![&uid[..], user.role.as_str(), user.team, &device.device_id[..]],
            )?;
            tx.commit()?;
            Ok(user)
        })
    }

    fn device(&self, device_id: &Id) -> Result<Option<Device>> {
        self.read(|c| {
            let row = c
                .prepare_cached(
                    "SELECT d.sign_pk, d.kex_pk, d.revoked_at IS NOT NULL, u.user_id, u.name, u.role, u.team
                     FROM devices d JOIN users u ON u.user_id = d.user_id WHERE d.device_id = ?1",
                )?
                .query_row([&device_id[..]], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })
                .optional()?;
            match row {
                None => Ok(None),
                Some((spk, kpk, revoked, uid, name, r, team)) => Ok(Some(Device {
                    device_id: *device_id,
                    user: User {
                        user_id: id(uid)?,
                        name,
                        role: role(&r)?,
                        team,
                    },
                    sign_pk: key32(spk)?,
                    kex_pk: key32(kpk)?,
                    revoked,
                })),
            }
        })
    }

    fn devices(&self) -> Result<Vec<DeviceListing>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT d.device_id, u.name, u.user_id, u.role, u.team, d.revoked_at IS NOT NULL, d.enrolled_at, d.last_seen
                 FROM users u LEFT JOIN devices d ON d.user_id = u.user_id
                 ORDER BY u.name, d.enrolled_at",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(DeviceListing {
                    device_id: r.get::<_, Option<Vec<u8>>>(0)?.map(hex::encode),
                    user: r.get(1)?,
                    user_id: hex::encode(r.get::<_, Vec<u8>>(2)?),
                    role: r.get(3)?,
                    team: r.get(4)?,
                    revoked: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                    enrolled_at: r.get(6)?,
                    last_seen: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn revoke_device(&self, device_id: &Id, now: i64) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?2) WHERE device_id = ?1",
                params![&device_id[..], now],
            )?;
            tx.execute(
                "DELETE FROM envelope_needs WHERE recipient = ?1",
                [&device_id[..]],
            )?;
            // Every case whose key it held (sealed to it, or an epoch it
            // started) gets a new key on the next authorised sync.
            tx.execute(
                "UPDATE cases SET rotate_due = 1 WHERE case_id IN (
                    SELECT case_id FROM log WHERE kind = 1 AND target = ?1
                    UNION SELECT case_id FROM case_epochs WHERE device_id = ?1)",
                [&device_id[..]],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn touch_device(&self, device_id: &Id, now: i64) -> Result<()> {
        let mut touched = self
            .writer
            .touched
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match touched.noted.get(device_id) {
            Some(t) if now - t < LAST_SEEN_EVERY => {}
            _ => {
                touched.noted.insert(*device_id, now);
                touched.pending.push((*device_id, now));
            }
        }
        Ok(())
    }

    fn checkpoint(&self) -> Result<()> {
        let mut slot = self.checkpointer.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let c = Connection::open(&self.path)?;
            c.busy_timeout(Duration::from_secs(10))?;
            *slot = Some(c);
        }
        if let Some(c) = slot.as_ref() {
            // PASSIVE: copies what no reader still needs, never waits.
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    fn flush_pending(&self) -> Result<()> {
        let pending = self.writer.take_touches();
        if pending.is_empty() {
            return Ok(());
        }
        let written = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            write_last_seen(&tx, &pending)?;
            tx.commit()?;
            Ok(())
        });
        if written.is_err() {
            self.writer.requeue_touches(pending);
        }
        written
    }

    fn push_queued(
        &self,
        device: &Device,
        changes: Vec<Change>,
        envelopes: Vec<Envelope>,
        now: i64,
    ) -> PushOutcome {
        self.writer_thread.call_once(|| {
            let writer = self.writer.clone();
            let started = std::thread::Builder::new()
                .name("outreach-writer".into())
                .spawn(move || writer.run());
            match started {
                Ok(_) => self.writer_running.store(true, Ordering::Release),
                Err(e) => tracing::error!(error = %e, "could not start the writer thread"),
            }
        });
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.writer
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .jobs
            .push(PushJob {
                device: device.clone(),
                changes,
                envelopes,
                now,
                reply,
            });
        self.writer.queued.notify_one();
        if !self.writer_running.load(Ordering::Acquire) {
            // No writer thread: commit here (the caller may block).
            let jobs = std::mem::take(
                &mut self
                    .writer
                    .queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .jobs,
            );
            let mut conn = self.writer.conn.lock().unwrap_or_else(|p| p.into_inner());
            self.writer.commit(&mut conn, jobs);
        }
        outcome
    }

    fn pull(&self, device: &Device, cursor: Cursor, max_bytes: u32) -> Result<Vec<u8>> {
        let (page, passes_removal) = self.read(|c| {
            let tx = c.transaction()?;
            let passes_removal = live_and_passes_removal(&tx, device, cursor)?;
            Ok((pull_page(&tx, device, cursor, max_bytes)?, passes_removal))
        })?;
        if passes_removal {
            self.note_pulled(device, cursor)?;
        }
        Ok(page)
    }

    fn refetch(&self, device: &Device, cases: &[Id], now: i64) -> Result<()> {
        self.refetch_inner(device, cases, now)
    }

    fn report_rejected(&self, device: &Device, items: &[Rejected], now: i64) -> Result<u32> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &device.device_id)?;
            let mut kept: i64 = tx.query_row(
                "SELECT COUNT(*) FROM rejected WHERE device_id = ?1",
                [&device.device_id[..]],
                |r| r.get(0),
            )?;
            let mut stored = 0u32;
            for item in items {
                if kept >= MAX_REPORTS_PER_DEVICE {
                    break;
                }
                // Only items that are in the log, for the case they name.
                let in_log = tx
                    .prepare_cached("SELECT case_id FROM log WHERE seq = ?1")?
                    .query_row([item.seq], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?
                    .is_some_and(|case| case == item.case_id[..]);
                if !in_log {
                    continue;
                }
                let n = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO rejected (device_id, seq, case_id, signer, reason, reported_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        &device.device_id[..],
                        item.seq,
                        &item.case_id[..],
                        &item.signer[..],
                        item.reason.as_str(),
                        now
                    ])?;
                stored += n as u32;
                kept += n as i64;
            }
            tx.commit()?;
            Ok(stored)
        })
    }

    fn rejected(&self) -> Result<Vec<RejectedListing>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT r.device_id, COALESCE(u.name, ''), r.case_id, r.seq, r.signer, r.reason, r.reported_at
                 FROM rejected r
                 LEFT JOIN devices d ON d.device_id = r.device_id
                 LEFT JOIN users u ON u.user_id = d.user_id
                 ORDER BY r.reported_at, r.device_id, r.seq",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, u64>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (device, user, case, seq, signer, reason, reported_at) = row?;
                out.push(RejectedListing {
                    device: hex::encode(&device[..device.len().min(4)]),
                    user,
                    case_id: uuid_text(&id(case)?),
                    seq,
                    signer: hex::encode(&signer[..signer.len().min(4)]),
                    reason,
                    reported_at,
                });
            }
            Ok(out)
        })
    }

    fn transfer(
        &self,
        by: &Device,
        case_id: &Id,
        user: &str,
        now: i64,
    ) -> Result<TransferResponse> {
        self.transfer_inner(by, case_id, user, now)
    }

    fn rotate(&self, device: &Device, request: &RotateRequest, now: i64) -> Result<RotateResponse> {
        let quota = self.writer.device_quota.load(Ordering::Relaxed);
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let response = rotate_in(&tx, device, request, now, quota)?;
            tx.commit()?;
            Ok(response)
        })
    }

    fn report_erased(&self, device: &Device, cases: &[Id], now: i64) -> Result<u32> {
        self.report_erased_inner(device, cases, now)
    }

    fn report_closures(&self, device: &Device, items: &[proto::Closure], now: i64) -> Result<u32> {
        self.report_closures_inner(device, items, now)
    }

    fn safety(
        &self,
        device: &Device,
        actions: &[proto::SafetyAction],
        policy: super::safety::SafetyPolicy,
        now: i64,
    ) -> Result<proto::SafetyResponse> {
        self.safety_inner(device, actions, policy, now)
    }

    fn raise_due_alerts(
        &self,
        now: i64,
        policy: super::safety::SafetyPolicy,
    ) -> Result<Vec<super::safety::RaisedAlert>> {
        self.raise_due_alerts_inner(now, policy)
    }

    fn webhook_due(&self, now: i64, limit: usize) -> Result<Vec<super::safety::WebhookDelivery>> {
        self.webhook_due_inner(now, limit)
    }

    fn webhook_attempted(
        &self,
        delivery: i64,
        error: Option<&str>,
        now: i64,
        retry_at: i64,
    ) -> Result<()> {
        self.webhook_attempted_inner(delivery, error, now, retry_at)
    }

    fn prune_safety(&self, now: i64) -> Result<()> {
        self.prune_safety_inner(now)
    }

    fn assign(&self, by: &Device, case_id: &Id, user: &str, now: i64) -> Result<AssignResponse> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &by.device_id)?;
            let case =
                case_row(&tx, case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
            may_manage(&tx, by, case_id, &case)?;
            let target = user_by(&tx, "name = ?1", &user)?.ok_or(refused(
                ErrorCode::UnknownUser,
                "no user of that name: check `outreach-server devices`",
            ))?;
            if target.role == Role::Admin {
                return Err(refused(
                    ErrorCode::Forbidden,
                    "cases are assigned to practitioners or supervisors, not admins",
                ));
            }
            let newly_assigned = tx.execute(
                "INSERT OR IGNORE INTO assignments (case_id, user_id) VALUES (?1, ?2)",
                params![&case_id[..], &target.user_id[..]],
            )? > 0;
            let devices: Vec<Vec<u8>> = tx
                .prepare("SELECT device_id FROM devices WHERE user_id = ?1 AND revoked_at IS NULL")?
                .query_map([&target.user_id[..]], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for d in &devices {
                let d = id(d.clone())?;
                if newly_assigned {
                    // Deliver the case's history whole, whatever the device's
                    // cursor (not again when she already had it: a repeated
                    // assign adds nothing to the log).
                    tx.execute(
                        "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                         VALUES (2, ?1, ?2, ?3, ?4, x'', ?5)",
                        params![&case_id[..], case.epoch, &by.device_id[..], &d[..], now],
                    )?;
                }
                add_needs_all_epochs(&tx, case_id, &d)?;
            }
            if newly_assigned {
                erasure::log_api_action(&tx, now, by, "assign", case_id, &target.name)?;
            }
            tx.commit()?;
            Ok(AssignResponse {
                user_id: target.user_id,
                devices: devices.len() as u32,
            })
        })
    }
}

impl SqliteStorage {
    /// Records that the device has applied everything up to `cursor` when
    /// that passes a removal addressed to it (see [`SCHEMA_V2`]); from then
    /// on its uploads to that case are refused.
    fn note_pulled(&self, device: &Device, cursor: Cursor) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "UPDATE devices SET pulled_seq = MAX(pulled_seq, ?2) WHERE device_id = ?1",
            )?
            .execute(params![&device.device_id[..], cursor.seq])?;
            Ok(())
        })
    }

    fn transfer_inner(
        &self,
        by: &Device,
        case_id: &Id,
        user: &str,
        now: i64,
    ) -> Result<TransferResponse> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &by.device_id)?;
            let case =
                case_row(&tx, case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
            may_manage(&tx, by, case_id, &case)?;
            let target = user_by(&tx, "name = ?1", &user)?.ok_or(refused(
                ErrorCode::UnknownUser,
                "no user of that name: check `outreach-server devices`",
            ))?;
            if target.role == Role::Admin {
                return Err(refused(
                    ErrorCode::Malformed,
                    "cases are transferred to practitioners or supervisors, not admins",
                ));
            }
            let newly_assigned = tx.execute(
                "INSERT OR IGNORE INTO assignments (case_id, user_id) VALUES (?1, ?2)",
                params![&case_id[..], &target.user_id[..]],
            )? > 0;
            let devices: Vec<Vec<u8>> = tx
                .prepare("SELECT device_id FROM devices WHERE user_id = ?1 AND revoked_at IS NULL")?
                .query_map([&target.user_id[..]], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for d in &devices {
                let d = id(d.clone())?;
                if newly_assigned {
                    // Deliver the case's history whole, whatever the device's
                    // cursor (not again on a replayed transfer).
                    tx.execute(
                        "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                         VALUES (2, ?1, ?2, ?3, ?4, x'', ?5)",
                        params![&case_id[..], case.epoch, &by.device_id[..], &d[..], now],
                    )?;
                }
                add_needs_all_epochs(&tx, case_id, &d)?;
            }
            // Everyone else holding it loses it, supervisors apart (they keep
            // their team's cases). Each of their devices is told to delete its
            // copy; a replay finds no one left to remove.
            let removed: Vec<Vec<u8>> = tx
                .prepare(
                    "SELECT a.user_id FROM assignments a JOIN users u ON u.user_id = a.user_id
                     WHERE a.case_id = ?1 AND a.user_id != ?2 AND u.role != 'supervisor'",
                )?
                .query_map(params![&case_id[..], &target.user_id[..]], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let notice = proto::encode(&Item::Removed { case_id: *case_id });
            for u in &removed {
                tx.execute(
                    "DELETE FROM assignments WHERE case_id = ?1 AND user_id = ?2",
                    params![&case_id[..], &u[..]],
                )?;
                let their: Vec<Vec<u8>> = tx
                    .prepare(
                        "SELECT device_id FROM devices WHERE user_id = ?1 AND revoked_at IS NULL",
                    )?
                    .query_map([&u[..]], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for d in &their {
                    tx.execute(
                        "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            KIND_REMOVED,
                            &case_id[..],
                            case.epoch,
                            &by.device_id[..],
                            &d[..],
                            notice,
                            now
                        ],
                    )?;
                    tx.execute(
                        "DELETE FROM envelope_needs WHERE case_id = ?1 AND recipient = ?2",
                        params![&case_id[..], &d[..]],
                    )?;
                }
            }
            if !removed.is_empty() {
                // They held the key: what is written from now on gets a new one.
                tx.execute(
                    "UPDATE cases SET rotate_due = 1 WHERE case_id = ?1",
                    [&case_id[..]],
                )?;
            }
            if newly_assigned || !removed.is_empty() {
                erasure::log_api_action(&tx, now, by, "transfer", case_id, &target.name)?;
            }
            tx.commit()?;
            Ok(TransferResponse {
                user_id: target.user_id,
                user_name: target.name,
                devices: devices.len() as u32,
            })
        })
    }

    fn refetch_inner(&self, device: &Device, cases: &[Id], now: i64) -> Result<()> {
        let mut cases = cases.to_vec();
        cases.sort_unstable();
        cases.dedup();
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &device.device_id)?;
            for case_id in &cases {
                let case = case_row(&tx, case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
                let is_assigned = assigned(&tx, case_id, &device.user.user_id)?;
                if !may_access(&device.user, case.team.as_deref(), is_assigned) {
                    return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
                }
                // A grant of this case to this device newer than everything
                // it would deliver already does the job: a repeated or
                // replayed refetch adds nothing to the log.
                let pending = tx
                    .prepare_cached(
                        "SELECT 1 FROM log g WHERE g.kind = 2 AND g.target = ?2 AND g.case_id = ?1
                           AND g.seq > (SELECT COALESCE(MAX(seq), 0) FROM log
                                        WHERE case_id = ?1 AND (kind = 0 OR (kind = 1 AND target = ?2)))
                         LIMIT 1",
                    )?
                    .query_row(params![&case_id[..], &device.device_id[..]], |_| Ok(()))
                    .optional()?
                    .is_some();
                if pending {
                    continue;
                }
                tx.execute(
                    "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                     VALUES (2, ?1, ?2, ?3, ?3, x'', ?4)",
                    params![&case_id[..], case.epoch, &device.device_id[..], now],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }
}

/// One page of a pull, read in the caller's read transaction.
fn pull_page(tx: &Connection, device: &Device, cursor: Cursor, max_bytes: u32) -> Result<Vec<u8>> {
    let budget = max_bytes.clamp(1024, proto::MAX_PULL_BYTES) as usize;
    let user = &device.user;
    let mut page = Page::new(budget);
    let mut next = cursor;
    // Resume a grant being expanded.
    if cursor.sub > 0 {
        let case: Option<Vec<u8>> = tx
            .query_row(
                "SELECT case_id FROM log WHERE seq = ?1 AND kind = 2 AND target = ?2",
                params![cursor.seq, &device.device_id[..]],
                |r| r.get(0),
            )
            .optional()?;
        let case = case.map(id).transpose()?;
        // A case the device may no longer read is not delivered.
        let case = match case {
            Some(case) if may_read(tx, user, &case)? => Some(case),
            _ => None,
        };
        next = Cursor {
            seq: cursor.seq,
            sub: 0,
        };
        if let Some(case) = case {
            // The page is empty: the first item always fits.
            if let Expansion::Partial(sub) = expand_grant(
                tx,
                &device.device_id,
                &case,
                cursor.seq,
                cursor.sub,
                &mut page,
            )? {
                next = Cursor {
                    seq: cursor.seq,
                    sub,
                };
                return page.finish(tx, device, next, true);
            }
        }
    }
    // Sizes only: each body is read once it is known to fit.
    let mut stmt = tx.prepare_cached(&format!(
        // One index seek per readable case and one for what is
        // addressed to the device: the cost follows what the device
        // may read, not everything the organisation wrote.
        "WITH readable AS ({READABLE_CASES})
         SELECT l.seq, l.kind, l.case_id, length(l.body) FROM readable r
           JOIN log l ON l.case_id = r.case_id AND l.seq > ?4
           WHERE l.kind = 0 AND l.device_id != ?5
         UNION ALL
         SELECT seq, kind, case_id, length(body) FROM log
           WHERE target = ?5 AND seq > ?4
             AND (kind IN (3, 4) OR ((kind = 2 OR (kind = 1 AND device_id != ?5))
                               AND case_id IN (SELECT case_id FROM readable)))
         ORDER BY 1 LIMIT {PULL_BATCH}"
    ))?;
    loop {
        let rows: Vec<(u64, i64, Vec<u8>, usize)> = stmt
            .query_map(
                params![
                    &user.user_id[..],
                    user.role.as_str(),
                    user.team,
                    next.seq,
                    &device.device_id[..]
                ],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        // Fewer rows than the limit: this snapshot holds no more after them.
        let last_batch = rows.len() < PULL_BATCH;
        if rows.is_empty() {
            drop(stmt);
            return page.finish(tx, device, next, false);
        }
        for (seq, kind, case, len) in rows {
            if kind == KIND_GRANT {
                // A grant's body is empty; its items are sized one by one.
                if !page.fits(1) {
                    drop(stmt);
                    return page.finish(tx, device, next, true);
                }
                let case = id(case)?;
                match expand_grant(tx, &device.device_id, &case, seq, 0, &mut page)? {
                    Expansion::Done => {}
                    Expansion::Partial(sub) => {
                        drop(stmt);
                        return page.finish(tx, device, Cursor { seq, sub }, true);
                    }
                    Expansion::NotStarted => {
                        drop(stmt);
                        return page.finish(tx, device, next, true);
                    }
                }
            } else {
                if !page.fits(len) {
                    drop(stmt);
                    return page.finish(tx, device, next, true);
                }
                page.push(tx, seq)?;
            }
            next = Cursor { seq, sub: 0 };
        }
        if last_batch {
            drop(stmt);
            return page.finish(tx, device, next, false);
        }
    }
}

/// [`check_live`] for a pull, and whether `cursor` passes a removal
/// addressed to the device that it had not pulled past before (see
/// [`SqliteStorage::note_pulled`]), in one statement.
fn live_and_passes_removal(tx: &Connection, device: &Device, cursor: Cursor) -> Result<bool> {
    let row: Option<(bool, bool)> = tx
        .prepare_cached(
            "SELECT d.revoked_at IS NULL, EXISTS (
                SELECT 1 FROM log l WHERE l.target = d.device_id AND l.kind = 3
                  AND l.seq > d.pulled_seq AND l.seq <= ?2)
             FROM devices d WHERE d.device_id = ?1",
        )?
        .query_row(params![&device.device_id[..], cursor.seq], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match row {
        Some((true, passes)) => Ok(passes),
        _ => check_live(tx, &device.device_id).map(|()| false),
    }
}

/// One push inside the caller's transaction (a savepoint of a group commit).
fn push_in(
    tx: &Connection,
    device: &Device,
    changes: &[Change],
    envelopes: &[Envelope],
    now: i64,
    quota: u64,
) -> Result<PushResponse> {
    check_live(tx, &device.device_id)?;
    let mut acks = Vec::with_capacity(changes.len());
    let mut stale = Vec::new();
    // Bytes this push adds to the device's share of the log.
    let mut added = 0u64;
    for change in changes {
        let case = match case_row(tx, &change.case_id)? {
            Some(case) => {
                let is_assigned = assigned(tx, &change.case_id, &device.user.user_id)?;
                if !may_access(&device.user, case.team.as_deref(), is_assigned)
                    && !removal_pending(tx, &change.case_id, &device.device_id)?
                {
                    return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
                }
                case
            }
            None => {
                // An erased case is never registered again. A device that
                // was told of the erasure may still be uploading its last
                // changes of it: acknowledged and dropped (it deletes the
                // case on its next pull), so its sync is not stuck.
                match erasure::erased_notice(tx, &change.case_id, &device.device_id)? {
                    Some(Some(seq)) => {
                        acks.push(Ack {
                            client_id: change.client_id,
                            seq,
                        });
                        continue;
                    }
                    Some(None) => return Err(refused(ErrorCode::Forbidden, CASE_REFUSED)),
                    None => {}
                }
                // Every case key is sealed to the recovery key from the
                // start: the case is registered only together with its
                // recovery envelope, sealed by the registering device.
                let with_recovery = envelopes.iter().any(|e| {
                    e.case_id == change.case_id
                        && e.recipient == RECOVERY_RECIPIENT
                        && e.sealed_by == device.device_id
                        && e.epoch == 0
                });
                if !with_recovery {
                    return Err(refused(
                        ErrorCode::Malformed,
                        "a new case must come with its recovery envelope in the same push",
                    ));
                }
                register_case(tx, device, &change.case_id, now)?
            }
        };
        if change.epoch > case.epoch {
            return Err(refused(
                ErrorCode::StaleEpoch,
                "a change was sealed under a case key epoch that has not started",
            ));
        }
        // Sealed under an old key: readable by a device that lost the case
        // since. Refused (not stored, the rest of the push goes on) unless
        // it is the last work of a device removed from the case that has not
        // heard yet — the devices still on the case hold that old key too.
        // The device seals it again under the new key.
        if change.epoch < case.epoch
            && !removal_pending(tx, &change.case_id, &device.device_id)?
            && !already_stored(tx, device, change)?
        {
            stale.push(change.client_id);
            continue;
        }
        let body = proto::encode(&proto::ItemOf::Change(change));
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO log (kind, case_id, epoch, device_id, client_id, body, created_at)
                 VALUES (0, ?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &change.case_id[..],
                change.epoch,
                &device.device_id[..],
                &change.client_id[..],
                body,
                now
            ])?;
        let seq: u64 = if inserted > 0 {
            added += body.len() as u64;
            tx.last_insert_rowid() as u64
        } else {
            // A retried upload: the sequence number it got the first time.
            tx.prepare_cached(
                "SELECT seq, case_id FROM log WHERE kind = 0 AND device_id = ?1 AND client_id = ?2",
            )?
            .query_row(params![&device.device_id[..], &change.client_id[..]], |r| {
                let case: Vec<u8> = r.get(1)?;
                Ok((r.get::<_, u64>(0)?, case))
            })
            .map(|(seq, case)| (case == change.case_id[..]).then_some(seq))?
            .ok_or(refused(
                ErrorCode::Malformed,
                "a change id was reused for a different case",
            ))?
        };
        acks.push(Ack {
            client_id: change.client_id,
            seq,
        });
    }
    let mut stored = 0u32;
    for env in envelopes {
        let Some(case) = case_row(tx, &env.case_id)? else {
            // The last envelopes of a case erased since, from a device told
            // of it: dropped. Otherwise the one answer.
            if erasure::erased_notice(tx, &env.case_id, &device.device_id)?
                .flatten()
                .is_some()
            {
                continue;
            }
            return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
        };
        let is_assigned = assigned(tx, &env.case_id, &device.user.user_id)?;
        // A device removed from the case that does not know yet may have
        // queued envelopes with its last changes: not a reason to refuse them.
        let removed = !may_access(&device.user, case.team.as_deref(), is_assigned);
        if removed && !removal_pending(tx, &env.case_id, &device.device_id)? {
            return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
        }
        if env.epoch > case.epoch {
            return Err(refused(
                ErrorCode::StaleEpoch,
                "an envelope was sealed for a case key epoch that has not started",
            ));
        }
        if env.starts_epoch {
            return Err(refused(
                ErrorCode::Malformed,
                "an envelope that starts an epoch travels only in a rotation",
            ));
        }
        if env.recipient == RECOVERY_RECIPIENT {
            if epoch_starter(tx, &env.case_id, env.epoch)? != Some(device.device_id) {
                return Err(refused(
                    ErrorCode::Forbidden,
                    "only the device that started a case key epoch seals its recovery envelope",
                ));
            }
        } else if !device_may_read(tx, &env.recipient, &env.case_id, case.team.as_deref())? {
            if removed {
                continue; // e.g. to itself: dropped, not stored
            }
            return Err(refused(
                ErrorCode::Forbidden,
                "an envelope is addressed to a device that may not read the case",
            ));
        }
        let body = proto::encode(&proto::ItemOf::Envelope(env));
        // One per (case, epoch, recipient, sealer): every sealer's envelope
        // is kept and delivered, and the recipient tries each.
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &env.case_id[..],
                env.epoch,
                &device.device_id[..],
                &env.recipient[..],
                body,
                now
            ])?;
        stored += inserted as u32;
        if inserted > 0 {
            added += body.len() as u64;
        }
        // The recipient's need is met only by a device that holds the key as
        // far as the server can tell, so a junk envelope from one that does
        // not cannot stop the real one from being sealed.
        if holds_key(tx, &env.case_id, env.epoch, &device.device_id)? {
            tx.prepare_cached(
                "DELETE FROM envelope_needs WHERE case_id = ?1 AND epoch = ?2 AND recipient = ?3",
            )?
            .execute(params![&env.case_id[..], env.epoch, &env.recipient[..]])?;
        }
    }
    if added > 0 {
        let total: u64 = tx
            .prepare_cached(
                "UPDATE devices SET stored_bytes = stored_bytes + ?2 WHERE device_id = ?1
                 RETURNING stored_bytes",
            )?
            .query_row(params![&device.device_id[..], added], |r| r.get(0))?;
        if total > quota {
            return Err(refused(
                ErrorCode::QuotaExceeded,
                "this device has used its storage quota on the server: ask your admin",
            ));
        }
    }
    Ok(PushResponse {
        acks,
        envelopes_stored: stored,
        stale,
    })
}

/// One rotation inside the caller's transaction (see [`Storage::rotate`]).
fn rotate_in(
    tx: &Connection,
    device: &Device,
    request: &RotateRequest,
    now: i64,
    quota: u64,
) -> Result<RotateResponse> {
    check_live(tx, &device.device_id)?;
    let case_id = request.case_id;
    let case = case_row(tx, &case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
    if !device_may_read(tx, &device.device_id, &case_id, case.team.as_deref())? {
        return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
    }
    let starter = epoch_starter(tx, &case_id, request.epoch)?;
    let retry = case.epoch == request.epoch && starter == Some(device.device_id);
    if !retry {
        if request.epoch != case.epoch.saturating_add(1) || starter.is_some() {
            return Err(refused(
                ErrorCode::StaleEpoch,
                "another device has already changed this case's key",
            ));
        }
        if !case.rotate_due {
            return Err(refused(
                ErrorCode::Forbidden,
                "no key change is due for this case",
            ));
        }
        if !holds_key(tx, &case_id, case.epoch, &device.device_id)? {
            return Err(refused(
                ErrorCode::Forbidden,
                "only a device that holds the case's current key may change it",
            ));
        }
    }
    let mut recovery = false;
    let mut seen = std::collections::HashSet::new();
    for env in &request.envelopes {
        if env.case_id != case_id
            || env.epoch != request.epoch
            || !env.starts_epoch
            || env.sealed_by != device.device_id
            || !seen.insert(env.recipient)
        {
            return Err(refused(
                ErrorCode::Malformed,
                "every envelope of a rotation is this device's, for this case and epoch, once per recipient",
            ));
        }
        if env.recipient == RECOVERY_RECIPIENT {
            recovery = true;
        } else if !device_may_read(tx, &env.recipient, &case_id, case.team.as_deref())? {
            return Err(refused(
                ErrorCode::Forbidden,
                "an envelope is addressed to a device that may not read the case",
            ));
        }
    }
    if !recovery {
        return Err(refused(
            ErrorCode::Malformed,
            "a new case key must be sealed to the recovery key too",
        ));
    }
    if !retry {
        tx.prepare_cached("UPDATE cases SET epoch = ?2, rotate_due = 0 WHERE case_id = ?1")?
            .execute(params![&case_id[..], request.epoch])?;
        tx.prepare_cached(
            "INSERT INTO case_epochs (case_id, epoch, device_id, started_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![&case_id[..], request.epoch, &device.device_id[..], now])?;
    }
    let mut stored = 0u32;
    let mut added = 0u64;
    for env in &request.envelopes {
        let body = proto::encode(&proto::ItemOf::Envelope(env));
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &case_id[..],
                env.epoch,
                &device.device_id[..],
                &env.recipient[..],
                body,
                now
            ])?;
        stored += inserted as u32;
        if inserted > 0 {
            added += body.len() as u64;
        }
    }
    // Anyone authorised the rotator did not know of (enrolled meanwhile)
    // is asked for by the usual needs; the old epochs' needs stay (history).
    for d in authorised_devices(tx, &case_id, case.team.as_deref())? {
        add_need(tx, &case_id, request.epoch, &d)?;
    }
    add_need(tx, &case_id, request.epoch, &RECOVERY_RECIPIENT)?;
    if added > 0 {
        let total: u64 = tx
            .prepare_cached(
                "UPDATE devices SET stored_bytes = stored_bytes + ?2 WHERE device_id = ?1
                 RETURNING stored_bytes",
            )?
            .query_row(params![&device.device_id[..], added], |r| r.get(0))?;
        if total > quota {
            return Err(refused(
                ErrorCode::QuotaExceeded,
                "this device has used its storage quota on the server: ask your admin",
            ));
        }
    }
    Ok(RotateResponse {
        epoch: request.epoch,
        envelopes_stored: stored,
    })
}

/// Cases whose key this device should change (see [`RotationDue`]): a
/// rotation is due, the device may read the case and holds its current key.
fn rotations_due(tx: &Connection, device: &Device) -> Result<Vec<RotationDue>> {
    let user = &device.user;
    let due: Vec<(Vec<u8>, u32, Option<String>)> = tx
        .prepare_cached(&format!(
            "SELECT c.case_id, c.epoch, c.team FROM cases c
             WHERE c.rotate_due = 1 AND c.case_id IN ({READABLE_CASES})
             LIMIT 256"
        ))?
        .query_map(
            params![&user.user_id[..], user.role.as_str(), user.team],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let recovery_pk: Vec<u8> = tx
        .prepare_cached("SELECT recovery_pk FROM org WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    let recovery_pk = key32(recovery_pk)?;
    let mut out = Vec::new();
    for (case, epoch, team) in due {
        if out.len() >= proto::MAX_ROTATIONS_PER_PULL {
            break;
        }
        let case = id(case)?;
        if !holds_key(tx, &case, epoch, &device.device_id)? {
            continue;
        }
        let mut recipients = vec![Recipient {
            device_id: RECOVERY_RECIPIENT,
            kex_pk: recovery_pk,
        }];
        for d in authorised_devices(tx, &case, team.as_deref())? {
            let pk: Vec<u8> = tx
                .prepare_cached("SELECT kex_pk FROM devices WHERE device_id = ?1")?
                .query_row([&d[..]], |r| r.get(0))?;
            recipients.push(Recipient {
                device_id: d,
                kex_pk: key32(pk)?,
            });
        }
        recipients.truncate(proto::MAX_ROTATE_ENVELOPES);
        out.push(RotationDue {
            case_id: case,
            epoch: epoch.saturating_add(1),
            recipients,
        });
    }
    Ok(out)
}

/// Whether this exact upload (device, client id) is already in the log: a
/// retry whose first attempt was stored before a rotation is acknowledged,
/// not refused as stale.
fn already_stored(tx: &Connection, device: &Device, change: &Change) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM log WHERE kind = 0 AND device_id = ?1 AND client_id = ?2")?
        .query_row(
            params![&device.device_id[..], &change.client_id[..]],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Whether `sealer` holds the case key of `epoch` as far as the server can
/// tell: it registered the case, or another device sealed the key to it.
fn holds_key(tx: &Connection, case_id: &Id, epoch: u32, sealer: &Id) -> Result<bool> {
    if epoch_starter(tx, case_id, epoch)? == Some(*sealer) {
        return Ok(true);
    }
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM log WHERE kind = 1 AND case_id = ?1 AND epoch = ?2 AND target = ?3
               AND device_id != ?3 LIMIT 1",
        )?
        .query_row(params![&case_id[..], epoch, &sealer[..]], |_| Ok(()))
        .optional()?
        .is_some())
}

/// A case first seen in a push: it belongs to the pusher's team and is
/// assigned to her; every device that may read it needs its key.
fn register_case(tx: &Connection, device: &Device, case_id: &Id, now: i64) -> Result<CaseRow> {
    if device.user.role == Role::Admin {
        return Err(refused(
            ErrorCode::Forbidden,
            "admin devices do not hold case records",
        ));
    }
    tx.prepare_cached(
        "INSERT INTO cases (case_id, team, epoch, created_by, created_at, created_device)
         VALUES (?1, ?2, 0, ?3, ?4, ?5)",
    )?
    .execute(params![
        &case_id[..],
        device.user.team,
        &device.user.user_id[..],
        now,
        &device.device_id[..]
    ])?;
    tx.prepare_cached("INSERT INTO assignments (case_id, user_id) VALUES (?1, ?2)")?
        .execute(params![&case_id[..], &device.user.user_id[..]])?;
    tx.prepare_cached(
        "INSERT INTO case_epochs (case_id, epoch, device_id, started_at) VALUES (?1, 0, ?2, ?3)",
    )?
    .execute(params![&case_id[..], &device.device_id[..], now])?;
    for d in authorised_devices(tx, case_id, device.user.team.as_deref())? {
        add_need(tx, case_id, 0, &d)?;
    }
    add_need(tx, case_id, 0, &RECOVERY_RECIPIENT)?;
    Ok(CaseRow {
        team: device.user.team.clone(),
        epoch: 0,
        rotate_due: false,
    })
}

/// How far a grant's expansion got on this page.
enum Expansion {
    /// Every item was added.
    Done,
    /// The page filled after this sequence number (resume with `sub`).
    Partial(u64),
    /// The page was already too full for its first item: the grant is left
    /// for the next page.
    NotStarted,
}

/// Adds the changes of `case` older than the grant at `grant_seq` (and newer
/// than `after`) to the page, with the envelopes addressed to the device
/// among them, its own included (a device that deleted the case when it was
/// transferred away, and is given it again, needs its key again). Sizes are
/// read first and each body only once it fits (see [`Page::fits`]).
fn expand_grant(
    tx: &Connection,
    device: &Id,
    case: &Id,
    grant_seq: u64,
    after: u64,
    page: &mut Page,
) -> Result<Expansion> {
    let mut stmt = tx.prepare_cached(
        "SELECT seq, length(body) FROM log WHERE case_id = ?1 AND seq < ?2 AND seq > ?3
           AND (kind = 0 OR (kind = 1 AND target = ?4))
         ORDER BY seq LIMIT 256", // = PULL_BATCH
    )?;
    let mut after = after;
    loop {
        let rows: Vec<(u64, usize)> = stmt
            .query_map(params![&case[..], grant_seq, after, &device[..]], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let last_batch = rows.len() < PULL_BATCH;
        if rows.is_empty() {
            return Ok(Expansion::Done);
        }
        for (seq, len) in rows {
            if !page.fits(len) {
                // `after > 0`: a grant is never left at sub 0 (which means "done").
                return Ok(if after > 0 {
                    Expansion::Partial(after)
                } else {
                    Expansion::NotStarted
                });
            }
            page.push(tx, seq)?;
            after = seq;
        }
        if last_batch {
            return Ok(Expansion::Done);
        }
    }
}

/// A pull page under construction. Sizes are read first and each stored
/// item is copied once, straight into the encoded reply, only once it fits
/// the budget: a pull holds about its budget in memory whatever the item
/// sizes — at most one item larger than the budget, and then alone (a
/// device must always make progress).
struct Page {
    budget: usize,
    writer: PageWriter,
    /// Authors and sealers of the items (the log's `device_id`).
    signers: Vec<Id>,
}

impl Page {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            writer: PageWriter::new(),
            signers: Vec::new(),
        }
    }

    /// Whether an item of `len` bytes may join the page.
    fn fits(&self, len: usize) -> bool {
        self.writer.entries() == 0 || self.writer.item_bytes().saturating_add(len) <= self.budget
    }

    /// Copies log item `seq` into the page. A stored item that is not a
    /// well-formed message (a damaged database) is left out, so that it
    /// cannot break the framing of the page for the device.
    fn push(&mut self, tx: &Connection, seq: u64) -> Result<()> {
        let (writer, signers) = (&mut self.writer, &mut self.signers);
        let added = tx
            .prepare_cached("SELECT kind, device_id, body FROM log WHERE seq = ?1")?
            .query_row([seq], |r| {
                let kind: i64 = r.get(0)?;
                let body = r.get_ref(2)?.as_blob()?;
                if !proto::item_is_well_formed(body) {
                    return Ok(false);
                }
                writer.push(seq, body);
                if kind == 0 || kind == 1 {
                    signers.push(r.get::<_, Vec<u8>>(1)?.try_into().unwrap_or_default());
                }
                Ok(true)
            })?;
        if !added {
            tracing::error!(seq, "a stored log item is damaged: left out of the page");
        }
        Ok(())
    }

    fn finish(self, tx: &Connection, device: &Device, next: Cursor, more: bool) -> Result<Vec<u8>> {
        let mut signer_ids = self.signers;
        signer_ids.sort_unstable();
        signer_ids.dedup();
        let mut signers = Vec::with_capacity(signer_ids.len());
        for d in signer_ids {
            type Row = (
                Vec<u8>,
                Vec<u8>,
                String,
                String,
                Option<String>,
                Option<i64>,
            );
            let row: Option<Row> = tx
                .prepare_cached(
                    "SELECT d.sign_pk, u.user_id, u.name, u.role, u.team, d.revoked_at
                     FROM devices d JOIN users u ON u.user_id = d.user_id
                     WHERE d.device_id = ?1",
                )?
                .query_row([&d[..]], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .optional()?;
            if let Some((pk, user_id, user_name, role_word, team, revoked_at)) = row {
                signers.push(Signer {
                    device_id: d,
                    sign_pk: key32(pk)?,
                    user_id: id(user_id)?,
                    user_name,
                    role: role(&role_word)?,
                    team,
                    revoked_at,
                });
            }
        }
        let (needs, rotations) = if more {
            (Vec::new(), Vec::new())
        } else {
            (envelope_needs(tx, device)?, rotations_due(tx, device)?)
        };
        // Every page carries the safety state: alerts reach supervisors
        // with the first page of any pull.
        let safety = safety::state(tx, device, crate::now())?;
        Ok(self
            .writer
            .finish(&signers, &needs, next, more, &rotations, &safety))
    }
}

/// Recipients still lacking an envelope, for cases whose key this device holds.
fn envelope_needs(tx: &Connection, device: &Device) -> Result<Vec<EnvelopeNeed>> {
    // Only for cases the device may still read (not one transferred away).
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT n.case_id, n.epoch, n.recipient, COALESCE(d.kex_pk, o.recovery_pk)
         FROM envelope_needs n
         LEFT JOIN devices d ON d.device_id = n.recipient AND d.revoked_at IS NULL
         JOIN org o ON o.id = 1
         WHERE n.recipient != ?1 AND (d.device_id IS NOT NULL OR n.recipient = ?2)
           AND n.case_id IN ({READABLE_CASES_5})
           -- Asked only of a device that holds the key as far as the server
           -- can tell (see `holds_key`): it created the case, or another
           -- device sealed the key to it.
           AND (EXISTS (SELECT 1 FROM case_epochs ce WHERE ce.case_id = n.case_id
                          AND ce.epoch = n.epoch AND ce.device_id = ?1)
                OR EXISTS (SELECT 1 FROM log me WHERE me.kind = 1 AND me.case_id = n.case_id
                             AND me.epoch = n.epoch AND me.target = ?1 AND me.device_id != ?1))
           -- Only the epoch's starter seals its recovery envelope.
           AND (n.recipient != ?2 OR EXISTS (
                SELECT 1 FROM case_epochs ce WHERE ce.case_id = n.case_id
                  AND ce.epoch = n.epoch AND ce.device_id = ?1))
         LIMIT 1000"
    ))?;
    let user = &device.user;
    let rows = stmt.query_map(
        params![
            &device.device_id[..],
            &RECOVERY_RECIPIENT[..],
            &user.user_id[..],
            user.role.as_str(),
            user.team
        ],
        |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (case, epoch, recipient, pk) = row?;
        out.push(EnvelopeNeed {
            case_id: id(case)?,
            epoch,
            recipient: id(recipient)?,
            kex_pk: key32(pk)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, team: Option<&str>) -> User {
        User {
            user_id: [1; 16],
            name: "u".into(),
            role,
            team: team.map(str::to_string),
        }
    }

    #[test]
    fn access_rule() {
        let p = user(Role::Practitioner, Some("north"));
        let s = user(Role::Supervisor, Some("north"));
        let a = user(Role::Admin, Some("north"));
        assert!(may_access(&p, Some("north"), true));
        assert!(!may_access(&p, Some("north"), false));
        assert!(may_access(&s, Some("north"), false));
        assert!(!may_access(&s, Some("south"), false));
        assert!(!may_access(&s, None, false));
        assert!(!may_access(&a, Some("north"), true));
    }

    #[test]
    fn v1_database_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
        c.execute_batch(SCHEMA_V1).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        drop(c);
        drop(SqliteStorage::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        c.query_row("SELECT pulled_seq FROM devices LIMIT 1", [], |_| Ok(()))
            .optional()
            .unwrap();
    }

    #[test]
    fn v2_data_is_carried_into_v3() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
        c.execute_batch(SCHEMA_V1).unwrap();
        c.execute_batch(SCHEMA_V2).unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
        c.execute_batch(
            "INSERT INTO users VALUES (x'01', 'Amy', 'practitioner', 'north', 0);
             INSERT INTO devices (device_id, user_id, sign_pk, kex_pk, enrolled_at)
               VALUES (x'0a', x'01', x'', x'', 0);
             INSERT INTO cases (case_id, team, created_by, created_at) VALUES (x'c1', 'north', x'01', 0);
             INSERT INTO log (kind, case_id, epoch, device_id, client_id, body, created_at)
               VALUES (0, x'c1', 0, x'0a', x'e1', zeroblob(100), 0);
             INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
               VALUES (1, x'c1', 0, x'0a', x'0a', zeroblob(20), 0);",
        )
        .unwrap();
        drop(c);
        drop(SqliteStorage::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let (bytes, creator): (i64, Vec<u8>) = c
            .query_row(
                "SELECT d.stored_bytes, c.created_device FROM devices d, cases c",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((bytes, creator), (120, vec![0x0a]));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStorage::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            SqliteStorage::open(dir.path()),
            Err(StorageError::SchemaTooNew(99))
        ));
    }
}
