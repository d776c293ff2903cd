//! The embedded default: one SQLite file in the data directory, WAL and
//! `synchronous=FULL` so that an acknowledged push survives a power cut.
//! The server and the admin commands open the same file; SQLite's locking
//! lets `invite`, `devices` and `revoke-device` run while the server serves.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outreach_protocol::{
    self as proto, Ack, AssignResponse, Change, Cursor, Envelope, EnvelopeNeed, ErrorCode, Id,
    Item, PageWriter, PushResponse, RECOVERY_RECIPIENT, Recipient, Rejected, Role, RotateRequest,
    RotateResponse, RotationDue, Signer, TransferResponse,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::PathBuf;

use super::group::{PushJob, PushQueue};
use super::rules::{self, ChangeEpoch, Handover, Redeem};
use super::{
    Device, DeviceListing, NewDevice, Org, PushOutcome, RejectedListing, Result, Storage,
    StorageError, User, may_access, refused,
};

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            // Another connection (an admin command, another process) held
            // the lock past the busy timeout: nothing was written.
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StorageError::Retryable
            }
            // SQLite's messages name tables and constraints, never values.
            _ => StorageError::Database(e.to_string()),
        }
    }
}

impl From<rusqlite::Error> for super::erasure::EraseError {
    fn from(e: rusqlite::Error) -> Self {
        super::erasure::EraseError::Storage(e.into())
    }
}

impl From<rusqlite::Error> for super::export::ExportError {
    fn from(e: rusqlite::Error) -> Self {
        // SQLite's messages name tables and the kind of damage, never values.
        super::export::ExportError::Damaged(e.to_string())
    }
}

const KIND_GRANT: i64 = 2;
/// Log kind 3: a case was transferred away from the user of device `target`,
/// which must delete its copy (body: `Item::Removed`).
const KIND_REMOVED: i64 = 3;

/// Erasure, retention and the admin log (log kind 4: `Item::Erased`).
mod compact;
mod erasure;
/// A private, read-only copy for offline recovery (`storage::export`).
pub(crate) mod export;
/// Pulls: pages, grants, envelope needs, rotations due.
mod pull;
/// Pushes and rotations.
mod push;
/// Lone-working safety: check-ins, alerts, webhook deliveries (v6).
mod safety;
/// The schema and its migrations.
mod schema;

use pull::{live_and_passes_removal, pull_page};
use push::{holds_key, push_in, rotate_in};
use schema::MIGRATIONS;
use schema::migrate;
#[cfg(test)]
use schema::{SCHEMA_V1, SCHEMA_V2};

/// Reports of quarantined items kept per device (the first ones; later ones
/// are counted as not stored).
const MAX_REPORTS_PER_DEVICE: i64 = 1000;

pub use super::rules::CASE_REFUSED;

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
    queue: PushQueue,
    /// When each device's `last_seen` was last noted, and the notes not yet
    /// written: they go to the database with the next group commit of pushes
    /// or with [`Storage::flush_pending`], never in a transaction of their own
    /// per request.
    touched: Mutex<Touched>,
    /// Bytes of log items one device may store (see [`schema::SCHEMA_V3`]).
    device_quota: AtomicU64,
}

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
const STATEMENT_CACHE: usize = 256;
/// WAL pages after which the writer checkpoints by itself.
const WRITER_AUTOCHECKPOINT: i64 = 10_000;

pub const DB_FILE: &str = "outreach-server.db";

/// Opens one connection with the settings every server connection shares.
///
/// The query planner stability guarantee is on: without it SQLite lets a
/// bound value choose between plans where a partial index might apply
/// (`closed_at IS NULL`, `rotate_due = 1`, `kind = 0`), marks such a
/// statement stale on every new binding and parses it again on its next
/// step — a cached statement that is re-prepared on every use. With it, a
/// statement is planned once and the cache works (measured: re-preparing
/// was 11 % of the server's CPU in the herd). Our partial indexes are all
/// chosen by literal conditions, which the guarantee does not affect.
fn open_connection(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(10))?;
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Sorts and UNIONs in memory, never in a temporary file.
    c.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(c)
}

impl SqliteStorage {
    /// Starts the writer thread now, from the calling thread.
    pub fn start_writer(&self) {
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
    }

    /// Opens (creating and migrating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|_| StorageError::Corrupt)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut conn = open_connection(&dir.join(DB_FILE))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "secure_delete", true)?;
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
                queue: PushQueue::default(),
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
                let c = open_connection(&self.path)?;
                c.pragma_update(None, "query_only", true)?;
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
        self.writer.queue.close();
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
        while let Some(jobs) = self.queue.next_group() {
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            self.commit(&mut conn, jobs);
        }
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
    rules::check_live(live)
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
    let is_assigned = assigned(tx, case_id, &by.user.user_id)?;
    rules::may_manage(&by.user, case.team.as_deref(), is_assigned)
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

/// The device that started `epoch` of the case (see [`schema::SCHEMA_V4`]).
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
                    rules::invite_matches(&u, role_, team)?;
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
            let (uid, state) = match invite {
                Some((uid, expires_at, used_at, used_by)) => (
                    Some(uid),
                    Some(rules::InviteState {
                        expires_at,
                        used_at,
                        used_by: used_by.map(id).transpose()?,
                    }),
                ),
                None => (None, None),
            };
            let outcome = rules::redeem(
                state.as_ref(),
                &device.device_id,
                || {
                    Ok(tx
                        .query_row(
                            "SELECT 1 FROM devices WHERE device_id = ?1 AND sign_pk = ?2 AND kex_pk = ?3 AND revoked_at IS NULL",
                            params![&device.device_id[..], &device.sign_pk[..], &device.kex_pk[..]],
                            |_| Ok(()),
                        )
                        .optional()?
                        .is_some())
                },
                || {
                    Ok(tx
                        .query_row(
                            "SELECT 1 FROM devices WHERE device_id = ?1",
                            [&device.device_id[..]],
                            |_| Ok(()),
                        )
                        .optional()?
                        .is_some())
                },
                now,
            )?;
            let uid = uid.ok_or(StorageError::Corrupt)?;
            if outcome == Redeem::Replay {
                // The same device retrying after a lost reply, with the same
                // keys: answer as the first time.
                let uid = id(uid)?;
                return user_by(&tx, "user_id = ?1", &&uid[..])?.ok_or(StorageError::Corrupt);
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
            *slot = Some(open_connection(&self.path)?);
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

    fn start_threads(&self) {
        self.start_writer();
    }

    fn parallel_work(&self) -> usize {
        // Reads here are CPU work on pages the OS has cached: two per core
        // keeps the cores busy while one waits on a page read, and leaves
        // the writer thread its share of CPU. Measured (herd, 1,000 devices,
        // 2 cores, ABBA × 4): p99 192–248 ms with 4, 234–399 ms with 16.
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .saturating_mul(2)
            .clamp(2, crate::MAX_BLOCKING_THREADS)
    }

    fn queues_pushes(&self) -> bool {
        // Until the writer thread has started (the first push starts it),
        // `push_queued` commits in the caller.
        self.writer_running.load(Ordering::Acquire)
    }

    fn push_queued(
        &self,
        device: &Device,
        changes: Vec<Change>,
        envelopes: Vec<Envelope>,
        now: i64,
    ) -> PushOutcome {
        self.start_writer();
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.writer.queue.enqueue(PushJob {
            device: device.clone(),
            changes,
            envelopes,
            now,
            reply,
        });
        if !self.writer_running.load(Ordering::Acquire) {
            // No writer thread: commit here (the caller may block).
            let jobs = self.writer.queue.take_all();
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

    fn compact(
        &self,
        device: &Device,
        snapshot: &Change,
        covers: u64,
        now: i64,
    ) -> Result<proto::CompactResponse> {
        let quota = self.writer.device_quota.load(Ordering::Relaxed);
        self.compact_inner(device, snapshot, covers, now, quota)
    }

    fn restart_log(&self) -> Result<Id> {
        let mut log_id = [0u8; 16];
        getrandom::fill(&mut log_id).map_err(|_| StorageError::Corrupt)?;
        self.with(|c| {
            let n = c.execute("UPDATE org SET log_id = ?1 WHERE id = 1", [&log_id[..]])?;
            if n == 0 {
                return Err(StorageError::NotInitialised);
            }
            Ok(log_id)
        })
    }

    fn purge_superseded(&self, now: i64) -> Result<u64> {
        self.purge_superseded_inner(now)
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

    fn erase_case(
        &self,
        case_id: &Id,
        by: &str,
        detail: Option<&str>,
        now: i64,
    ) -> std::result::Result<super::erasure::Erasure, super::erasure::EraseError> {
        SqliteStorage::erase_case(self, case_id, by, detail, now)
    }

    fn compact_erased(&self) -> Result<()> {
        SqliteStorage::compact_erased(self)
    }

    fn erasure(&self, case_id: &Id) -> Result<Option<super::erasure::Erasure>> {
        SqliteStorage::erasure(self, case_id)
    }

    fn retention_due(&self, before: &str) -> Result<Vec<super::erasure::RetentionCase>> {
        SqliteStorage::retention_due(self, before)
    }

    fn apply_retention(
        &self,
        before: &str,
        by: &str,
        now: i64,
    ) -> std::result::Result<Vec<super::erasure::Erasure>, super::erasure::EraseError> {
        SqliteStorage::apply_retention(self, before, by, now)
    }

    fn log_admin_action(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: i64,
    ) -> Result<()> {
        SqliteStorage::log_admin_action(self, actor, action, target, detail, now)
    }

    fn admin_log(&self) -> Result<Vec<super::erasure::AuditEntry>> {
        SqliteStorage::admin_log(self)
    }

    fn set_device_quota(&self, bytes: u64) {
        SqliteStorage::set_device_quota(self, bytes)
    }

    fn assign(&self, by: &Device, case_id: &Id, user: &str, now: i64) -> Result<AssignResponse> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &by.device_id)?;
            let case =
                case_row(&tx, case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
            may_manage(&tx, by, case_id, &case)?;
            let target =
                rules::handover_target(user_by(&tx, "name = ?1", &user)?, Handover::Assign)?;
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
    /// that passes a removal addressed to it (see [`schema::SCHEMA_V2`]); from then
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
            let target =
                rules::handover_target(user_by(&tx, "name = ?1", &user)?, Handover::Transfer)?;
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

/// The storage contract (`storage/contract.rs`), on a fresh SQLite file.
#[cfg(test)]
mod contract {
    use super::SqliteStorage;

    crate::storage_contract_tests!({
        let dir = tempfile::tempdir().unwrap();
        (SqliteStorage::open(dir.path()).unwrap(), dir)
    });
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
