//! The PostgreSQL backend (`outreach-server serve --database postgres://…`):
//! several server instances may share one database. The same rules as the
//! SQLite backend (`storage::rules` decides everything), the same contract
//! suite; what differs is concurrency, which SQLite's single writer hides:
//!
//! - **The cursor invariant** (see `storage/mod.rs`): every transaction
//!   that appends to the log takes the organisation's advisory lock
//!   (`pg_advisory_xact_lock`, [`LOG_LOCK_CLASS`] and the schema) before its
//!   first log write and holds it to commit. A sequence number is drawn
//!   only under that lock, so numbers are drawn in commit order and a row
//!   becomes visible only after every row with a smaller number that will
//!   ever commit (PostgreSQL makes a commit visible before it releases the
//!   transaction's locks). A pull reads on one snapshot — one statement, or
//!   a repeatable-read transaction — so it sees a prefix of the log.
//! - **Races**: rows a request decides on are locked first (`SELECT … FOR
//!   UPDATE` on an invite or a case, `FOR SHARE` on the cases a push
//!   writes, in id order, before the log lock), inserts that may meet a
//!   concurrent twin use `ON CONFLICT DO NOTHING`, and whatever PostgreSQL
//!   still refuses as a conflict (serialisation failure, deadlock, a
//!   unique key taken meanwhile) is [`StorageError::Retryable`]: nothing
//!   was written and the same request may be sent again.
//!
//! Driver: the blocking `postgres` client with an `r2d2` pool — the trait is
//! synchronous and always called on the blocking pool, so an async driver
//! would only add a runtime hop per call.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use outreach_protocol::{
    self as proto, AssignResponse, Change, Cursor, Envelope, ErrorCode, Id, Item, Rejected, Role,
    RotateRequest, RotateResponse, TransferResponse,
};
use postgres::types::ToSql;
use postgres::{GenericClient, IsolationLevel, Row};
use r2d2_postgres::PostgresConnectionManager;

use super::group::{PushJob, PushQueue, Queue};
use super::rules::{self, Handover, Redeem};
use super::{
    Device, DeviceListing, NewDevice, Org, PullOutcome, PushOutcome, QueuedPull, RejectedListing,
    Result, Storage, StorageError, User, may_access, refused,
};

pub use super::rules::CASE_REFUSED;

/// Erasure, retention and the admin log.
mod compact;
mod erasure;
pub(crate) mod export;
/// A push group's common pushes, checked and written together.
mod group_push;
/// Request nonces, a batch at a time.
mod nonces;
/// Pulls: pages, grants, envelope needs, rotations due.
mod pull;
/// Pushes and rotations.
mod push;
/// Lone-working safety.
mod safety;
/// The schema and its migrations.
mod schema;
/// A throwaway PostgreSQL cluster for tests (this crate's and the
/// end-to-end tests').
#[doc(hidden)]
pub mod testdb;
#[cfg(test)]
mod tests;
pub(crate) mod tls;

pub use schema::SCHEMA_VERSION;

/// The first key of the advisory lock that serialises log appends (the
/// second is the hash of the schema, i.e. of the organisation).
pub const LOG_LOCK_CLASS: i32 = 0x6f75_7472; // "outr"
/// The first key of the advisory lock that serialises migrations.
const MIGRATE_LOCK_CLASS: i32 = 0x6f75_746d; // "outm"

const KIND_GRANT: i64 = 2;
/// Log kind 3: a case was transferred away from the user of device `target`.
const KIND_REMOVED: i64 = 3;
/// Reports of quarantined items kept per device.
const MAX_REPORTS_PER_DEVICE: i64 = 1000;
/// Seconds between two notes of a device's `last_seen`.
const LAST_SEEN_EVERY: i64 = 300;
/// Log rows a pull reads per query.
const PULL_BATCH: usize = 256;
/// Connections one server keeps to the database at most: as many as
/// storage calls can run at once.
const POOL_SIZE: u32 = crate::MAX_BLOCKING_THREADS as u32;

/// SQLSTATEs after which the same request may simply be sent again.
fn retryable(code: &postgres::error::SqlState) -> bool {
    use postgres::error::SqlState;
    [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
        // A unique key a concurrent transaction took first (two devices
        // registering the same case id, one device enrolling with two codes
        // at once): the retry sees that row and is answered by the rules.
        SqlState::UNIQUE_VIOLATION,
    ]
    .contains(code)
}

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) if retryable(db.code()) => StorageError::Retryable,
            // The code and message only: a DETAIL line may quote key values.
            Some(db) => StorageError::Database(format!("{} ({})", db.message(), db.code().code())),
            // Connection and protocol errors name no values and no password.
            None => StorageError::Database(e.to_string()),
        }
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(_: r2d2::Error) -> Self {
        StorageError::Database(
            "no connection to PostgreSQL could be had within 30 s: check that the database is up and --database is right"
                .into(),
        )
    }
}

impl From<postgres::Error> for super::erasure::EraseError {
    fn from(e: postgres::Error) -> Self {
        super::erasure::EraseError::Storage(e.into())
    }
}

/// Why `--database` could not be used. One line, the password never shown.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "--database {0}: not a PostgreSQL connection URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE)"
    )]
    BadUrl(String),
    #[error(
        "--database {url}: could not connect to PostgreSQL ({reason}); check the host, port, user and password"
    )]
    Connect { url: String, reason: String },
    #[error(
        "--database {0}: this database holds no Outreach server yet; run `outreach-server init --database URL …` or `serve --database URL` first"
    )]
    NoSchema(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// `url` with any password replaced by `***` (URL userinfo, a `password=`
/// query parameter, or a `password=` key of a key/value connection string).
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme) = out.find("://") {
        let start = scheme + 3;
        let end = out[start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..end].rfind('@') {
            let userinfo = &out[start..start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(start + colon + 1..start + at, "***");
            }
        }
    }
    // `password=…` anywhere (query parameter or key/value form).
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.to_ascii_lowercase().find("password=") {
        let value = i + "password=".len();
        result.push_str(&rest[..value]);
        result.push_str("***");
        let tail = &rest[value..];
        let stop = tail.find(['&', ' ']).unwrap_or(tail.len());
        rest = &tail[stop..];
    }
    result.push_str(rest);
    result
}

/// Whether `--database` names PostgreSQL (rather than a SQLite folder).
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

type Pool = r2d2::Pool<Manager>;

/// Dead rows in `envelope_needs` past which the server vacuums it itself.
const VACUUM_NEEDS_DEAD_ROWS: i64 = 1000;

/// Pull threads: one per two cores. The other half serves the requests
/// themselves (HTTP, signatures) and the pushes; fewer threads make larger
/// batches. Measured (herd, 1,000 devices, 2 cores, 4 ABBA pairs, when
/// pulls were batched on the requests' own threads): one batch at a time
/// against two, less CPU a request in all four pairs (297–323 µs against
/// 309–388) and a lower p99 in three.
fn pull_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .clamp(1, 8)
}

/// Pulls in one statement at most. The queue holds no more than the
/// requests waiting, each in a work slot (`api::Run::Page`), so the pages
/// in memory stay bounded by the slots.
const PULLS_AT_ONCE: usize = 64;

/// A pull waiting for a pull thread.
struct PullJob {
    ask: pull::Ask,
    reply: tokio::sync::oneshot::Sender<Result<QueuedPull>>,
}

/// A pull thread: answers the pulls queued meanwhile with one statement
/// ([`pull::pull_at_once`]), again and again.
///
/// Why: with a statement per pull, starting the executor on that plan of
/// some sixty nodes was a quarter of PostgreSQL's CPU in a herd (a
/// profile); one statement for eight pulls costs about what two cost alone
/// (`pgbench`, one client: 325 µs a pull alone, 92 µs in eights). And a
/// thread of its own rather than the requests' blocking threads taking
/// turns to batch: a pull then waits without a thread, where it took five
/// context switches (measured: 27,000 on the blocking threads for 5,000
/// pulls).
fn run_puller(pool: Pool, queue: Arc<Queue<PullJob>>) {
    while let Some(jobs) = queue.next_group_of(PULLS_AT_ONCE) {
        let (asks, replies): (Vec<pull::Ask>, Vec<_>) =
            jobs.into_iter().map(|j| (j.ask, j.reply)).unzip();
        let answers = match pool.get() {
            Ok(mut conn) => pull::pull_at_once(&mut conn, &asks),
            Err(e) => {
                let e = StorageError::from(e);
                asks.iter().map(|_| Err(e.clone())).collect()
            }
        };
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A request that has gone (its client hung up) needs no answer.
            let _ = reply.send(answer.map(|answered| match answered {
                Some((page, false)) => QueuedPull::Page(page),
                // A removal passed is written by the full path.
                _ => QueuedPull::Full,
            }));
        }
    }
}

/// Statements kept prepared per connection (beyond, the cache starts over).
const STATEMENT_CACHE: usize = 256;

/// A pooled connection with the statements prepared on it. Every query
/// otherwise costs a parse and a plan on the server (measured: planning
/// 1.3 ms against 1.5 ms of execution for a supervisor's pull), and a
/// round trip more for the client.
pub(crate) struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl PgConn {
    /// Runs one statement that returns rows on its own, as its own
    /// transaction: one round trip, where [`PostgresStorage::write`] costs
    /// three (begin, statement, commit). For a single statement the outcome
    /// is the same.
    fn query_alone(&mut self, sql: &str, p: &[Param]) -> Result<Vec<Row>> {
        let statement = prepared(&mut self.statements, &mut self.client, sql)?;
        Ok(self.client.query(&statement, p)?)
    }
}

/// `sql` prepared on `client`'s connection, once: kept in `cache` (which
/// starts over past [`STATEMENT_CACHE`]).
fn prepared(
    cache: &mut HashMap<String, postgres::Statement>,
    client: &mut impl GenericClient,
    sql: &str,
) -> Result<postgres::Statement> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let statement = client.prepare(sql)?;
    if cache.len() >= STATEMENT_CACHE {
        cache.clear();
    }
    cache.insert(sql.to_string(), statement.clone());
    Ok(statement)
}

/// r2d2's manager for [`PgConn`]: `r2d2_postgres`'s, with the cache.
pub(crate) struct Manager(PostgresConnectionManager<tls::Tls>);

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        let mut client = self.0.connect()?;
        // A prepared statement is otherwise planned again on every call
        // while PostgreSQL keeps judging a custom plan cheaper than the
        // generic one, which it did for the pull's statements: in a herd run
        // the database spent a third of its CPU planning (perf: the planner's
        // functions on top). The generic plans of these statements use the
        // same indexes (`EXPLAIN` in PERFORMANCE.md); measured, PostgreSQL's
        // CPU per herd fell from 13.1–13.4 s to 8.5 s. A generic plan's
        // estimates are coarse, and past `jit_above_cost` PostgreSQL would
        // compile it with LLVM on every call: 180 ms a pull against a log of
        // a million items, 0.5 ms without. Short statements never gain from
        // JIT, so it is off for the server's sessions.
        client.batch_execute("SET plan_cache_mode = force_generic_plan; SET jit = off")?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}
type Param<'a> = &'a (dyn ToSql + Sync);

/// One PostgreSQL database (one organisation per schema), shared by any
/// number of server instances and admin commands.
pub struct PostgresStorage {
    pool: Pool,
    /// Devices' `last_seen` notes not yet written (as in the SQLite backend).
    touched: Mutex<Touched>,
    device_quota: Arc<AtomicU64>,
    /// Pushes for the writer thread's group commits (see `storage::group`).
    pushes: Arc<PushQueue>,
    /// Request nonces for the nonce thread's batches.
    nonces: Arc<nonces::NonceQueue>,
    /// Pulls that arrive together, answered by one statement.
    /// Pulls for the pull threads' statements.
    pulls: Arc<Queue<PullJob>>,
    pulls_running: AtomicBool,
    writer_started: Once,
    writer_running: AtomicBool,
    nonces_running: AtomicBool,
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        self.pushes.close();
        self.nonces.close();
        self.pulls.close();
    }
}

/// The writer thread: commits queued pushes a group at a time, each group
/// in one transaction that takes the log lock once.
fn run_writer(pool: Pool, queue: Arc<PushQueue>, quota: Arc<AtomicU64>) {
    while let Some(jobs) = queue.next_group() {
        commit_group(&pool, jobs, quota.load(Ordering::Relaxed));
    }
}

/// Commits a group of pushes: the common ones checked and written together,
/// any other in its own savepoint (`group_push`). A group whose
/// commit fails as retryable (a serialisation failure, a key taken by
/// another instance meanwhile) is tried again whole: pushes are idempotent
/// by client id, and nothing of a failed commit was kept.
fn commit_group(pool: &Pool, jobs: Vec<PushJob>, quota: u64) {
    let attempt = || -> Result<Vec<Result<outreach_protocol::PushResponse>>> {
        let mut conn = pool.get()?;
        let tx = Tx::begin(&mut conn, false)?;
        let decided = group_push::push_group(&tx, &jobs, quota)?;
        tx.commit()?;
        Ok(decided.results)
    };
    let mut outcome = attempt();
    for _ in 0..2 {
        if !matches!(outcome, Err(StorageError::Retryable)) {
            break;
        }
        outcome = attempt();
    }
    match outcome {
        Ok(results) => {
            for (job, r) in jobs.into_iter().zip(results) {
                let _ = job.reply.send(r);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, pushes = jobs.len(), "push commit failed");
            let retryable = matches!(e, StorageError::Retryable);
            for job in jobs {
                let _ = job.reply.send(Err(if retryable {
                    StorageError::Retryable
                } else {
                    StorageError::CommitFailed
                }));
            }
        }
    }
}

#[derive(Default)]
struct Touched {
    noted: HashMap<Id, i64>,
    pending: Vec<(Id, i64)>,
}

/// A transaction with interior mutability, so that the helpers and the
/// rules' closures can share it as the SQLite ones share a `&Connection`.
pub(super) struct Tx<'c> {
    tx: RefCell<postgres::Transaction<'c>>,
    statements: RefCell<&'c mut HashMap<String, postgres::Statement>>,
    log_locked: Cell<bool>,
    savepoints: Cell<u32>,
    /// A savepoint that succeeded and is not released yet.
    unreleased: Cell<Option<u32>>,
}

impl<'c> Tx<'c> {
    /// A transaction on `conn`: read-committed, or read-only on one
    /// snapshot.
    fn begin(conn: &'c mut PgConn, snapshot: bool) -> Result<Self> {
        let PgConn { client, statements } = conn;
        let tx = if snapshot {
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?
        } else {
            client.transaction()?
        };
        Ok(Self {
            tx: RefCell::new(tx),
            statements: RefCell::new(statements),
            log_locked: Cell::new(false),
            savepoints: Cell::new(0),
            unreleased: Cell::new(None),
        })
    }

    /// `sql` prepared on this connection, once.
    fn statement(&self, sql: &str) -> Result<postgres::Statement> {
        prepared(
            &mut self.statements.borrow_mut(),
            &mut *self.tx.borrow_mut(),
            sql,
        )
    }

    pub(super) fn rows(&self, sql: &str, p: &[Param]) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(self.tx.borrow_mut().query(&s, p)?)
    }

    pub(super) fn opt(&self, sql: &str, p: &[Param]) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(self.tx.borrow_mut().query_opt(&s, p)?)
    }

    pub(super) fn one(&self, sql: &str, p: &[Param]) -> Result<Row> {
        let s = self.statement(sql)?;
        Ok(self.tx.borrow_mut().query_one(&s, p)?)
    }

    pub(super) fn exec(&self, sql: &str, p: &[Param]) -> Result<u64> {
        let s = self.statement(sql)?;
        Ok(self.tx.borrow_mut().execute(&s, p)?)
    }

    pub(super) fn exists(&self, sql: &str, p: &[Param]) -> Result<bool> {
        Ok(!self.rows(sql, p)?.is_empty())
    }

    pub(super) fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.tx.borrow_mut().batch_execute(sql)?)
    }

    /// Takes the organisation's log lock (once per transaction): called
    /// before every log insert, so that no sequence number is drawn
    /// without it (the cursor invariant).
    pub(super) fn lock_log(&self) -> Result<()> {
        if !self.log_locked.get() {
            self.exec(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
                &[&LOG_LOCK_CLASS],
            )?;
            self.log_locked.set(true);
        }
        Ok(())
    }

    /// Runs `f` in a savepoint: rolled back alone if it fails.
    ///
    /// A savepoint that succeeded is released together with the next one's
    /// start, in one round trip (a push group opens one per push), or by
    /// the commit; until then later statements run inside it, which changes
    /// nothing, since only a failing savepoint is ever rolled back to.
    pub(super) fn savepoint<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let n = self.savepoints.get() + 1;
        self.savepoints.set(n);
        match self.unreleased.take() {
            Some(m) => self.batch(&format!("RELEASE SAVEPOINT sp{m}; SAVEPOINT sp{n}"))?,
            None => self.batch(&format!("SAVEPOINT sp{n}"))?,
        }
        let log_locked = self.log_locked.get();
        let out = f();
        match &out {
            // Releasing it releases any left inside it by `f`.
            Ok(_) => self.unreleased.set(Some(n)),
            Err(_) => {
                // Rolling back to it destroys any left inside it by `f`,
                // and releases the locks taken since — the log lock too, if
                // `f` took it: the next append must take it again.
                self.unreleased.set(None);
                self.batch(&format!(
                    "ROLLBACK TO SAVEPOINT sp{n}; RELEASE SAVEPOINT sp{n}"
                ))?;
                self.log_locked.set(log_locked);
            }
        }
        out
    }

    fn commit(self) -> Result<()> {
        Ok(self.tx.into_inner().commit()?)
    }
}

impl PostgresStorage {
    /// Connects to `url`, creating or upgrading the schema if needed (a
    /// newer schema is refused).
    pub fn open(url: &str) -> std::result::Result<Self, OpenError> {
        Self::open_with(url, POOL_SIZE, true)
    }

    /// Connects to `url` for an admin command: never creates the schema.
    pub fn open_existing(url: &str) -> std::result::Result<Self, OpenError> {
        Self::open_with(url, 2, false)
    }

    pub(crate) fn open_with(
        url: &str,
        pool_size: u32,
        create: bool,
    ) -> std::result::Result<Self, OpenError> {
        let shown = redact_url(url);
        let (config, tls) = tls::config(url).map_err(|reason| OpenError::Connect {
            url: shown.clone(),
            reason,
        })?;
        let manager = Manager(PostgresConnectionManager::new(config, tls));
        // One connection first, so that a wrong URL fails now with its reason.
        let mut first =
            r2d2::ManageConnection::connect(&manager).map_err(|e| OpenError::Connect {
                url: shown.clone(),
                reason: connect_reason(&e),
            })?;
        if create {
            schema::migrate(&mut first.client)?;
        } else if !schema::check(&mut first.client)? {
            return Err(OpenError::NoSchema(shown));
        }
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .build(manager)
            .map_err(|e| OpenError::Connect {
                url: shown,
                reason: e.to_string(),
            })?;
        Ok(Self {
            pool,
            touched: Mutex::new(Touched::default()),
            device_quota: Arc::new(AtomicU64::new(crate::DEFAULT_DEVICE_QUOTA)),
            pushes: Arc::new(PushQueue::default()),
            nonces: Arc::new(nonces::NonceQueue::default()),
            pulls: Arc::new(Queue::default()),
            pulls_running: AtomicBool::new(false),
            writer_started: Once::new(),
            writer_running: AtomicBool::new(false),
            nonces_running: AtomicBool::new(false),
        })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` in a read-committed transaction and commits it.
    pub(super) fn write<T>(&self, f: impl FnOnce(&Tx) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let tx = Tx::begin(&mut conn, false)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in a read-only transaction on one snapshot.
    pub(super) fn read<T>(&self, f: impl FnOnce(&Tx) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let tx = Tx::begin(&mut conn, true)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// `envelope_needs` is a queue: a row for each device that needs a
    /// case's key, deleted when its envelope arrives. After a morning's new
    /// cases it holds thousands of dead rows, and every pull's last page
    /// looks into it: measured in a herd, `SELECT 1 FROM envelope_needs
    /// LIMIT 1` read 71 pages of them (15,142 dead rows, none live) until
    /// autovacuum, which looks once a minute, came by. Checked each second,
    /// vacuumed here past a thousand (a few ms; `SKIP_LOCKED`, so two
    /// instances never wait for each other).
    fn vacuum_needs(&self) -> Result<()> {
        let mut conn = self.conn()?;
        let dead: i64 = conn
            .client
            .query_opt(
                "SELECT n_dead_tup FROM pg_stat_user_tables
                 WHERE relid = 'envelope_needs'::regclass",
                &[],
            )?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
        if dead >= VACUUM_NEEDS_DEAD_ROWS {
            conn.client
                .batch_execute("VACUUM (SKIP_LOCKED, TRUNCATE false) envelope_needs")?;
        }
        Ok(())
    }

    fn take_touches(&self) -> Vec<(Id, i64)> {
        std::mem::take(
            &mut self
                .touched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pending,
        )
    }
}

/// Why the first connection failed, without the URL (and so the password).
fn connect_reason(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s = format!("{s}: {inner}");
                source = inner.source();
            }
            s
        }
    }
}

pub(super) fn id(bytes: Vec<u8>) -> Result<Id> {
    bytes.try_into().map_err(|_| StorageError::Corrupt)
}

pub(super) fn key32(bytes: Vec<u8>) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| StorageError::Corrupt)
}

fn role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or(StorageError::Corrupt)
}

/// A case id as the devices show it (hyphenated UUID).
pub(super) fn uuid_text(id: &Id) -> String {
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

/// Cases a user may read, as SQL (the rule of [`may_access`]), with the
/// user id, role and team at parameters `$u`, `$r`, `$t`.
pub(super) fn readable_cases(u: u8, r: u8, t: u8) -> String {
    format!(
        "SELECT case_id FROM assignments WHERE user_id = ${u}
         UNION
         SELECT case_id FROM cases WHERE ${r}::text = 'supervisor' AND team IS NOT NULL AND team = ${t}::text"
    )
}

fn user_from(r: &Row) -> Result<User> {
    Ok(User {
        user_id: id(r.try_get(0)?)?,
        name: r.try_get(1)?,
        role: role(&r.try_get::<_, String>(2)?)?,
        team: r.try_get(3)?,
    })
}

fn user_by_name(tx: &Tx, name: &str) -> Result<Option<User>> {
    tx.opt(
        "SELECT user_id, name, role, team FROM users WHERE name = $1",
        &[&name],
    )?
    .map(|r| user_from(&r))
    .transpose()
}

fn user_by_id(tx: &Tx, user_id: &Id) -> Result<Option<User>> {
    tx.opt(
        "SELECT user_id, name, role, team FROM users WHERE user_id = $1",
        &[&&user_id[..]],
    )?
    .map(|r| user_from(&r))
    .transpose()
}

#[derive(Clone)]
pub(super) struct CaseRow {
    pub(super) team: Option<String>,
    pub(super) epoch: u32,
    pub(super) rotate_due: bool,
}

pub(super) fn case_from(r: &Row) -> Result<CaseRow> {
    Ok(CaseRow {
        team: r.try_get(0)?,
        epoch: u32::try_from(r.try_get::<_, i64>(1)?).map_err(|_| StorageError::Corrupt)?,
        rotate_due: r.try_get(2)?,
    })
}

pub(super) fn case_row(tx: &Tx, case_id: &Id) -> Result<Option<CaseRow>> {
    tx.opt(
        "SELECT team, epoch, rotate_due FROM cases WHERE case_id = $1",
        &[&&case_id[..]],
    )?
    .map(|r| case_from(&r))
    .transpose()
}

/// [`case_row`], the row locked for this transaction (an assignment, a
/// transfer, a rotation or an erasure of the same case waits for it).
pub(super) fn case_row_locked(tx: &Tx, case_id: &Id) -> Result<Option<CaseRow>> {
    tx.opt(
        "SELECT team, epoch, rotate_due FROM cases WHERE case_id = $1 FOR UPDATE",
        &[&&case_id[..]],
    )?
    .map(|r| case_from(&r))
    .transpose()
}

/// Share-locks the rows of these cases, in id order (so that two requests
/// never wait for each other in a cycle), before any log write: no
/// rotation, transfer or erasure of them commits under this transaction.
pub(super) fn share_cases(tx: &Tx, cases: impl IntoIterator<Item = Id>) -> Result<()> {
    let mut ids: Vec<Vec<u8>> = cases.into_iter().map(|c| c.to_vec()).collect();
    ids.sort_unstable();
    ids.dedup();
    if !ids.is_empty() {
        tx.rows(
            "SELECT 1 FROM cases WHERE case_id = ANY($1) ORDER BY case_id FOR SHARE",
            &[&ids],
        )?;
    }
    Ok(())
}

pub(super) fn assigned(tx: &Tx, case_id: &Id, user_id: &Id) -> Result<bool> {
    tx.exists(
        "SELECT 1 FROM assignments WHERE case_id = $1 AND user_id = $2",
        &[&&case_id[..], &&user_id[..]],
    )
}

/// Refuses a device that is revoked (or gone) now, inside the request's
/// transaction (see the SQLite backend's `check_live`).
pub(super) fn check_live(tx: &Tx, device_id: &Id) -> Result<()> {
    let live: Option<bool> = tx
        .opt(
            "SELECT revoked_at IS NULL FROM devices WHERE device_id = $1",
            &[&&device_id[..]],
        )?
        .map(|r| r.try_get(0))
        .transpose()?;
    rules::check_live(live)
}

fn write_last_seen(tx: &Tx, notes: &[(Id, i64)]) -> Result<()> {
    for (device, at) in notes {
        tx.exec(
            "UPDATE devices SET last_seen = $2 WHERE device_id = $1 AND (last_seen IS NULL OR last_seen < $2 - 60)",
            &[&&device[..], at],
        )?;
    }
    Ok(())
}

/// Whether the user may read the case now.
pub(super) fn may_read(tx: &Tx, user: &User, case_id: &Id) -> Result<bool> {
    let Some(case) = case_row(tx, case_id)? else {
        return Ok(false);
    };
    let is_assigned = assigned(tx, case_id, &user.user_id)?;
    Ok(may_access(user, case.team.as_deref(), is_assigned))
}

/// Whether the device was removed from the case and has not yet pulled
/// past that removal.
pub(super) fn removal_pending(tx: &Tx, case_id: &Id, device_id: &Id) -> Result<bool> {
    tx.exists(
        "SELECT 1 FROM log l JOIN devices d ON d.device_id = l.target
         WHERE l.target = $2 AND l.kind = 3 AND l.case_id = $1 AND l.seq > d.pulled_seq
         LIMIT 1",
        &[&&case_id[..], &&device_id[..]],
    )
}

fn may_manage(tx: &Tx, by: &Device, case_id: &Id, case: &CaseRow) -> Result<()> {
    let is_assigned = assigned(tx, case_id, &by.user.user_id)?;
    rules::may_manage(&by.user, case.team.as_deref(), is_assigned)
}

/// Every live device that may read the case.
pub(super) fn authorised_devices(tx: &Tx, case_id: &Id, team: Option<&str>) -> Result<Vec<Id>> {
    tx.rows(
        "SELECT d.device_id FROM assignments a JOIN devices d ON d.user_id = a.user_id
         WHERE a.case_id = $1 AND d.revoked_at IS NULL
         UNION
         SELECT d.device_id FROM users u JOIN devices d ON d.user_id = u.user_id
         WHERE $2::text IS NOT NULL AND u.team = $2::text AND u.role = 'supervisor' AND d.revoked_at IS NULL
         ORDER BY 1",
        &[&&case_id[..], &team],
    )?
    .iter()
    .map(|r| id(r.try_get(0)?))
    .collect()
}

/// Whether `device` is one of [`authorised_devices`] of the case.
pub(super) fn device_may_read(
    tx: &Tx,
    device: &Id,
    case_id: &Id,
    team: Option<&str>,
) -> Result<bool> {
    tx.exists(
        // The user through EXISTS, not a join: the generic plan of the join
        // read every user of the organisation.
        "SELECT 1 FROM devices d
         WHERE d.device_id = $1 AND d.revoked_at IS NULL
           AND (EXISTS (SELECT 1 FROM assignments a WHERE a.case_id = $2 AND a.user_id = d.user_id)
                OR ($3::text IS NOT NULL AND EXISTS (
                    SELECT 1 FROM users u WHERE u.user_id = d.user_id
                      AND u.team = $3::text AND u.role = 'supervisor')))",
        &[&&device[..], &&case_id[..], &team],
    )
}

/// The device that started `epoch` of the case.
pub(super) fn epoch_starter(tx: &Tx, case_id: &Id, epoch: u32) -> Result<Option<Id>> {
    tx.opt(
        "SELECT device_id FROM case_epochs WHERE case_id = $1 AND epoch = $2",
        &[&&case_id[..], &i64::from(epoch)],
    )?
    .map(|r| id(r.try_get(0)?))
    .transpose()
}

/// `recipient` needs the key of every epoch of the case.
fn add_needs_all_epochs(tx: &Tx, case_id: &Id, recipient: &Id) -> Result<()> {
    let epochs: Vec<i64> = tx
        .rows(
            "SELECT epoch FROM case_epochs WHERE case_id = $1",
            &[&&case_id[..]],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    for epoch in epochs {
        add_need(tx, case_id, epoch as u32, recipient)?;
    }
    Ok(())
}

pub(super) fn add_need(tx: &Tx, case_id: &Id, epoch: u32, recipient: &Id) -> Result<()> {
    add_needs(tx, case_id, epoch, &[*recipient])
}

/// [`add_need`] for several recipients in one statement (one round trip of
/// the writer's: a new case needs its key sealed to four or five).
pub(super) fn add_needs(tx: &Tx, case_id: &Id, epoch: u32, recipients: &[Id]) -> Result<()> {
    let recipients: Vec<&[u8]> = recipients.iter().map(|r| &r[..]).collect();
    tx.exec(
        // Met only by an envelope from a key holder (see `holds_key`).
        "INSERT INTO envelope_needs (case_id, epoch, recipient)
         SELECT $1::bytea, $2::bigint, r.id FROM unnest($3::bytea[]) AS r(id) WHERE NOT EXISTS (
            SELECT 1 FROM log e WHERE e.kind = 1 AND e.case_id = $1 AND e.epoch = $2 AND e.target = r.id
              AND (e.device_id = (SELECT device_id FROM case_epochs WHERE case_id = $1 AND epoch = $2)
                   OR EXISTS (SELECT 1 FROM log k WHERE k.kind = 1 AND k.case_id = $1 AND k.epoch = $2
                                AND k.target = e.device_id AND k.device_id <> e.device_id)))
         ON CONFLICT DO NOTHING",
        &[&&case_id[..], &i64::from(epoch), &recipients],
    )?;
    Ok(())
}

/// Appends a grant (log kind 2: deliver the case whole to `target`).
fn append_grant(tx: &Tx, case_id: &Id, epoch: u32, by: &Id, target: &Id, now: i64) -> Result<()> {
    tx.lock_log()?;
    tx.exec(
        "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
         VALUES (2, $1, $2, $3, $4, ''::bytea, $5)",
        &[
            &&case_id[..],
            &i64::from(epoch),
            &&by[..],
            &&target[..],
            &now,
        ],
    )?;
    Ok(())
}

fn live_devices_of(tx: &Tx, user_id: &[u8]) -> Result<Vec<Id>> {
    tx.rows(
        "SELECT device_id FROM devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY device_id",
        &[&user_id],
    )?
    .iter()
    .map(|r| id(r.try_get(0)?))
    .collect()
}

impl Storage for PostgresStorage {
    fn org(&self) -> Result<Option<Org>> {
        self.read(|tx| {
            tx.opt(
                "SELECT org_id, name, recovery_pk FROM org WHERE id = 1",
                &[],
            )?
            .map(|r| {
                Ok(Org {
                    org_id: id(r.try_get(0)?)?,
                    name: r.try_get(1)?,
                    recovery_pk: key32(r.try_get(2)?)?,
                })
            })
            .transpose()
        })
    }

    fn init_org(&self, name: &str, recovery_pk: [u8; 32], now: i64) -> Result<Org> {
        let mut org_id = [0u8; 16];
        getrandom::fill(&mut org_id).map_err(|_| StorageError::Corrupt)?;
        self.write(|tx| {
            // Two instances starting on an empty database: one wins.
            let n = tx.exec(
                "INSERT INTO org (id, org_id, name, recovery_pk, created_at) VALUES (1, $1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&&org_id[..], &name, &&recovery_pk[..], &now],
            )?;
            if n == 0 {
                return Err(StorageError::AlreadyInitialised);
            }
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
        self.write(|tx| {
            if !tx.exists("SELECT 1 FROM org WHERE id = 1", &[])? {
                return Err(StorageError::NotInitialised);
            }
            let user = match user_by_name(tx, name)? {
                Some(u) => u,
                None => {
                    let mut uid = [0u8; 16];
                    getrandom::fill(&mut uid).map_err(|_| StorageError::Corrupt)?;
                    // A concurrent invite for the same new name: the second
                    // waits for the first and then finds its user.
                    let inserted = tx.exec(
                        "INSERT INTO users (user_id, name, role, team, created_at) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (name) DO NOTHING",
                        &[&&uid[..], &name, &role_.as_str(), &team, &now],
                    )?;
                    if inserted == 1 {
                        User {
                            user_id: uid,
                            name: name.to_string(),
                            role: role_,
                            team: team.map(str::to_string),
                        }
                    } else {
                        user_by_name(tx, name)?.ok_or(StorageError::Retryable)?
                    }
                }
            };
            rules::invite_matches(&user, role_, team)?;
            tx.exec(
                "INSERT INTO invites (code_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                &[&&code_hash[..], &&user.user_id[..], &expires_at],
            )?;
            Ok(user)
        })
    }

    fn enroll(&self, code_hash: [u8; 32], device: NewDevice, now: i64) -> Result<User> {
        self.write(|tx| {
            // Locked: a second enrolment with the same code waits here and
            // then sees it used.
            let invite = tx.opt(
                "SELECT user_id, expires_at, used_at, used_by FROM invites WHERE code_hash = $1 FOR UPDATE",
                &[&&code_hash[..]],
            )?;
            let (uid, state) = match invite {
                Some(r) => (
                    Some(id(r.try_get(0)?)?),
                    Some(rules::InviteState {
                        expires_at: r.try_get(1)?,
                        used_at: r.try_get(2)?,
                        used_by: r.try_get::<_, Option<Vec<u8>>>(3)?.map(id).transpose()?,
                    }),
                ),
                None => (None, None),
            };
            let outcome = rules::redeem(
                state.as_ref(),
                &device.device_id,
                || {
                    tx.exists(
                        "SELECT 1 FROM devices WHERE device_id = $1 AND sign_pk = $2 AND kex_pk = $3 AND revoked_at IS NULL",
                        &[&&device.device_id[..], &&device.sign_pk[..], &&device.kex_pk[..]],
                    )
                },
                || {
                    tx.exists(
                        "SELECT 1 FROM devices WHERE device_id = $1",
                        &[&&device.device_id[..]],
                    )
                },
                now,
            )?;
            let uid = uid.ok_or(StorageError::Corrupt)?;
            let user = user_by_id(tx, &uid)?.ok_or(StorageError::Corrupt)?;
            if outcome == Redeem::Replay {
                return Ok(user);
            }
            tx.exec(
                "INSERT INTO devices (device_id, user_id, sign_pk, kex_pk, enrolled_at) VALUES ($1, $2, $3, $4, $5)",
                &[&&device.device_id[..], &&uid[..], &&device.sign_pk[..], &&device.kex_pk[..], &now],
            )?;
            tx.exec(
                "UPDATE invites SET used_at = $2, used_by = $3 WHERE code_hash = $1",
                &[&&code_hash[..], &now, &&device.device_id[..]],
            )?;
            // The new device needs the key of every case it may read.
            tx.exec(
                &format!(
                    "INSERT INTO envelope_needs (case_id, epoch, recipient)
                     SELECT ce.case_id, ce.epoch, $4::bytea FROM case_epochs ce
                     WHERE ce.case_id IN ({})
                     ON CONFLICT DO NOTHING",
                    readable_cases(1, 2, 3)
                ),
                &[&&uid[..], &user.role.as_str(), &user.team, &&device.device_id[..]],
            )?;
            Ok(user)
        })
    }

    fn device(&self, device_id: &Id) -> Result<Option<Device>> {
        self.read(|tx| {
            let Some(r) = tx.opt(
                "SELECT d.sign_pk, d.kex_pk, d.revoked_at IS NOT NULL, u.user_id, u.name, u.role, u.team
                 FROM devices d JOIN users u ON u.user_id = d.user_id WHERE d.device_id = $1",
                &[&&device_id[..]],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(Device {
                device_id: *device_id,
                user: User {
                    user_id: id(r.try_get(3)?)?,
                    name: r.try_get(4)?,
                    role: role(&r.try_get::<_, String>(5)?)?,
                    team: r.try_get(6)?,
                },
                sign_pk: key32(r.try_get(0)?)?,
                kex_pk: key32(r.try_get(1)?)?,
                revoked: r.try_get(2)?,
            }))
        })
    }

    fn devices(&self) -> Result<Vec<DeviceListing>> {
        self.read(|tx| {
            tx.rows(
                "SELECT d.device_id, u.name, u.user_id, u.role, u.team, d.revoked_at IS NOT NULL, d.enrolled_at, d.last_seen
                 FROM users u LEFT JOIN devices d ON d.user_id = u.user_id
                 ORDER BY u.name, d.enrolled_at",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(DeviceListing {
                    device_id: r.try_get::<_, Option<Vec<u8>>>(0)?.map(hex::encode),
                    user: r.try_get(1)?,
                    user_id: hex::encode(r.try_get::<_, Vec<u8>>(2)?),
                    role: r.try_get(3)?,
                    team: r.try_get(4)?,
                    revoked: r.try_get::<_, Option<bool>>(5)?.unwrap_or(false),
                    enrolled_at: r.try_get(6)?,
                    last_seen: r.try_get(7)?,
                })
            })
            .collect()
        })
    }

    fn revoke_device(&self, device_id: &Id, now: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx.exec(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, $2) WHERE device_id = $1",
                &[&&device_id[..], &now],
            )?;
            tx.exec(
                "DELETE FROM envelope_needs WHERE recipient = $1",
                &[&&device_id[..]],
            )?;
            tx.exec(
                "UPDATE cases SET rotate_due = TRUE WHERE case_id IN (
                    SELECT case_id FROM log WHERE kind = 1 AND target = $1
                    UNION SELECT case_id FROM case_epochs WHERE device_id = $1)",
                &[&&device_id[..]],
            )?;
            Ok(n > 0)
        })
    }

    fn touch_device(&self, device_id: &Id, now: i64) -> Result<()> {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        match touched.noted.get(device_id) {
            Some(t) if now - t < LAST_SEEN_EVERY => {}
            _ => {
                touched.noted.insert(*device_id, now);
                touched.pending.push((*device_id, now));
            }
        }
        Ok(())
    }

    fn flush_pending(&self) -> Result<()> {
        let pending = self.take_touches();
        if pending.is_empty() {
            return Ok(());
        }
        let written = self.write(|tx| write_last_seen(tx, &pending));
        if written.is_err() {
            self.touched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pending
                .extend(pending);
        }
        written
    }

    /// PostgreSQL checkpoints by itself.
    /// PostgreSQL checkpoints by itself; this drops expired request
    /// nonces (called every second by the housekeeping task).
    fn checkpoint(&self) -> Result<()> {
        self.write(|tx| {
            tx.exec(
                "DELETE FROM request_nonces WHERE expires_at < $1",
                &[&crate::now()],
            )
        })?;
        // Care of a queue table, not correctness: a failure (a role that
        // may not vacuum, a statement timeout) is logged and left.
        // Said once per process, not every second.
        static WARNED: AtomicBool = AtomicBool::new(false);
        if let Err(e) = self.vacuum_needs()
            && !WARNED.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(error = %e, "housekeeping: vacuum of envelope_needs failed (said once)");
        }
        Ok(())
    }

    fn shares_nonces(&self) -> bool {
        true
    }

    fn admit_nonce(
        &self,
        device: &Id,
        nonce: &[u8; proto::NONCE_LEN],
        expires_at: i64,
    ) -> Result<bool> {
        self.start_threads();
        if self.nonces_running.load(Ordering::Acquire) {
            return nonces::admit(&self.nonces, device, nonce, expires_at);
        }
        // Without the thread: a batch of one, here.
        nonces::admit_here(&self.pool, device, nonce, expires_at)
    }

    fn admit_nonce_queued(
        &self,
        device: &Id,
        nonce: &[u8; proto::NONCE_LEN],
        expires_at: i64,
    ) -> Option<crate::storage::NonceOutcome> {
        self.start_threads();
        self.nonces_running
            .load(Ordering::Acquire)
            .then(|| nonces::admit_queued(&self.nonces, device, nonce, expires_at))
    }

    fn compact(
        &self,
        device: &Device,
        snapshot: &Change,
        covers: u64,
        now: i64,
    ) -> Result<proto::CompactResponse> {
        let quota = self.device_quota.load(Ordering::Relaxed);
        self.compact_inner(device, snapshot, covers, now, quota)
    }

    fn restart_log(&self) -> Result<Id> {
        let mut log_id = [0u8; 16];
        getrandom::fill(&mut log_id).map_err(|_| StorageError::Corrupt)?;
        self.write(|tx| {
            let n = tx.exec("UPDATE org SET log_id = $1 WHERE id = 1", &[&&log_id[..]])?;
            if n == 0 {
                return Err(StorageError::NotInitialised);
            }
            Ok(log_id)
        })
    }

    fn purge_superseded(&self, now: i64) -> Result<u64> {
        self.purge_superseded_inner(now)
    }

    fn start_threads(&self) {
        self.writer_started.call_once(|| {
            let (pool, queue, quota) = (
                self.pool.clone(),
                self.pushes.clone(),
                self.device_quota.clone(),
            );
            let started = std::thread::Builder::new()
                .name("outreach-writer".into())
                .spawn(move || run_writer(pool, queue, quota));
            match started {
                Ok(_) => self.writer_running.store(true, Ordering::Release),
                Err(e) => tracing::error!(error = %e, "could not start the writer thread"),
            }
            let (pool, queue) = (self.pool.clone(), self.nonces.clone());
            let started = std::thread::Builder::new()
                .name("outreach-nonces".into())
                .spawn(move || nonces::run(pool, queue));
            match started {
                Ok(_) => self.nonces_running.store(true, Ordering::Release),
                Err(e) => tracing::error!(error = %e, "could not start the nonce thread"),
            }
            for _ in 0..pull_threads() {
                let (pool, queue) = (self.pool.clone(), self.pulls.clone());
                let started = std::thread::Builder::new()
                    .name("outreach-pulls".into())
                    .spawn(move || run_puller(pool, queue));
                match started {
                    Ok(_) => self.pulls_running.store(true, Ordering::Release),
                    Err(e) => tracing::error!(error = %e, "could not start a pull thread"),
                }
            }
        });
    }

    fn queues_pushes(&self) -> bool {
        self.writer_running.load(Ordering::Acquire)
    }

    /// Queued for the writer thread's next group commit; without a writer
    /// thread (admin commands, tests), committed here.
    fn push_queued(
        &self,
        device: &Device,
        changes: Vec<Change>,
        envelopes: Vec<Envelope>,
        now: i64,
    ) -> PushOutcome {
        self.start_threads();
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.pushes.enqueue(PushJob {
            device: device.clone(),
            changes,
            envelopes,
            now,
            reply,
        });
        if !self.writer_running.load(Ordering::Acquire) {
            commit_group(
                &self.pool,
                self.pushes.take_all(),
                self.device_quota.load(Ordering::Relaxed),
            );
        }
        outcome
    }

    fn pull(&self, device: &Device, cursor: Cursor, max_bytes: u32) -> Result<Vec<u8>> {
        if cursor.sub == 0 {
            let answered = match self.pull_queued(device, cursor, max_bytes) {
                Some(outcome) => outcome.blocking_recv().unwrap_or_else(|_| {
                    Err(StorageError::Database("a pull thread stopped".into()))
                })?,
                // No pull thread: a batch of one, here.
                None => {
                    let ask = pull::Ask {
                        device: device.clone(),
                        cursor,
                        max_bytes,
                        now: crate::now(),
                    };
                    match pull::pull_at_once(&mut *self.conn()?, &[ask]).pop() {
                        Some(Ok(Some((page, false)))) => QueuedPull::Page(page),
                        Some(Err(e)) => return Err(e),
                        _ => QueuedPull::Full,
                    }
                }
            };
            if let QueuedPull::Page(page) = answered {
                return Ok(page);
            }
        }
        self.pull_full(device, cursor, max_bytes)
    }

    /// Queued for the pull threads (started here if not yet); `None`
    /// without them. A continued grant is the full path's at once.
    fn pull_queued(&self, device: &Device, cursor: Cursor, max_bytes: u32) -> Option<PullOutcome> {
        self.start_threads();
        if !self.pulls_running.load(Ordering::Acquire) {
            return None;
        }
        let (reply, outcome) = tokio::sync::oneshot::channel();
        if cursor.sub > 0 {
            let _ = reply.send(Ok(QueuedPull::Full));
        } else {
            self.pulls.enqueue(PullJob {
                ask: pull::Ask {
                    device: device.clone(),
                    cursor,
                    max_bytes,
                    now: crate::now(),
                },
                reply,
            });
        }
        Some(outcome)
    }

    /// The full path, in a read-only transaction, and the removal passed
    /// written.
    fn pull_full(&self, device: &Device, cursor: Cursor, max_bytes: u32) -> Result<Vec<u8>> {
        let now = crate::now();
        let (page, passes_removal) = self.read(|tx| {
            let head = pull::head(tx, device, cursor, now)?;
            Ok((
                pull::pull_page(tx, device, cursor, max_bytes, &head)?,
                head.passes_removal,
            ))
        })?;
        if passes_removal {
            self.write(|tx| {
                tx.exec(
                    "UPDATE devices SET pulled_seq = GREATEST(pulled_seq, $2) WHERE device_id = $1",
                    &[&&device.device_id[..], &(cursor.seq as i64)],
                )?;
                Ok(())
            })?;
        }
        Ok(page)
    }

    fn assign(&self, by: &Device, case_id: &Id, user: &str, now: i64) -> Result<AssignResponse> {
        self.write(|tx| {
            check_live(tx, &by.device_id)?;
            let case =
                case_row_locked(tx, case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
            may_manage(tx, by, case_id, &case)?;
            let target = rules::handover_target(user_by_name(tx, user)?, Handover::Assign)?;
            let newly_assigned = tx.exec(
                "INSERT INTO assignments (case_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&&case_id[..], &&target.user_id[..]],
            )? > 0;
            let devices = live_devices_of(tx, &target.user_id)?;
            for d in &devices {
                if newly_assigned {
                    append_grant(tx, case_id, case.epoch, &by.device_id, d, now)?;
                }
                add_needs_all_epochs(tx, case_id, d)?;
            }
            if newly_assigned {
                erasure::log_api_action(tx, now, by, "assign", case_id, &target.name)?;
            }
            Ok(AssignResponse {
                user_id: target.user_id,
                devices: devices.len() as u32,
            })
        })
    }

    fn refetch(&self, device: &Device, cases: &[Id], now: i64) -> Result<()> {
        let mut cases = cases.to_vec();
        cases.sort_unstable();
        cases.dedup();
        self.write(|tx| {
            check_live(tx, &device.device_id)?;
            share_cases(tx, cases.iter().copied())?;
            for case_id in &cases {
                let case =
                    case_row(tx, case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
                let is_assigned = assigned(tx, case_id, &device.user.user_id)?;
                if !may_access(&device.user, case.team.as_deref(), is_assigned) {
                    return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
                }
                // Asked under the log lock, so that a concurrent refetch of
                // the same case sees this one's grant.
                tx.lock_log()?;
                let pending = tx.exists(
                    "SELECT 1 FROM log g WHERE g.kind = 2 AND g.target = $2 AND g.case_id = $1
                       AND g.seq > (SELECT COALESCE(MAX(seq), 0) FROM log
                                    WHERE case_id = $1 AND (kind = 0 OR (kind = 1 AND target = $2)))
                     LIMIT 1",
                    &[&&case_id[..], &&device.device_id[..]],
                )?;
                if pending {
                    continue;
                }
                append_grant(
                    tx,
                    case_id,
                    case.epoch,
                    &device.device_id,
                    &device.device_id,
                    now,
                )?;
            }
            Ok(())
        })
    }

    fn transfer(
        &self,
        by: &Device,
        case_id: &Id,
        user: &str,
        now: i64,
    ) -> Result<TransferResponse> {
        self.write(|tx| {
            check_live(tx, &by.device_id)?;
            let case =
                case_row_locked(tx, case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
            may_manage(tx, by, case_id, &case)?;
            let target = rules::handover_target(user_by_name(tx, user)?, Handover::Transfer)?;
            let newly_assigned = tx.exec(
                "INSERT INTO assignments (case_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&&case_id[..], &&target.user_id[..]],
            )? > 0;
            let devices = live_devices_of(tx, &target.user_id)?;
            for d in &devices {
                if newly_assigned {
                    append_grant(tx, case_id, case.epoch, &by.device_id, d, now)?;
                }
                add_needs_all_epochs(tx, case_id, d)?;
            }
            let removed: Vec<Vec<u8>> = tx
                .rows(
                    "SELECT a.user_id FROM assignments a JOIN users u ON u.user_id = a.user_id
                     WHERE a.case_id = $1 AND a.user_id <> $2 AND u.role <> 'supervisor'
                     ORDER BY a.user_id",
                    &[&&case_id[..], &&target.user_id[..]],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            let notice = proto::encode(&Item::Removed { case_id: *case_id });
            for u in &removed {
                tx.exec(
                    "DELETE FROM assignments WHERE case_id = $1 AND user_id = $2",
                    &[&&case_id[..], u],
                )?;
                for d in live_devices_of(tx, u)? {
                    tx.lock_log()?;
                    tx.exec(
                        "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[
                            &KIND_REMOVED,
                            &&case_id[..],
                            &i64::from(case.epoch),
                            &&by.device_id[..],
                            &&d[..],
                            &notice,
                            &now,
                        ],
                    )?;
                    tx.exec(
                        "DELETE FROM envelope_needs WHERE case_id = $1 AND recipient = $2",
                        &[&&case_id[..], &&d[..]],
                    )?;
                }
            }
            if !removed.is_empty() {
                tx.exec(
                    "UPDATE cases SET rotate_due = TRUE WHERE case_id = $1",
                    &[&&case_id[..]],
                )?;
            }
            if newly_assigned || !removed.is_empty() {
                erasure::log_api_action(tx, now, by, "transfer", case_id, &target.name)?;
            }
            Ok(TransferResponse {
                user_id: target.user_id,
                user_name: target.name,
                devices: devices.len() as u32,
            })
        })
    }

    fn report_rejected(&self, device: &Device, items: &[Rejected], now: i64) -> Result<u32> {
        self.write(|tx| {
            check_live(tx, &device.device_id)?;
            // Serialises one device's reports (the bound holds under races).
            tx.rows(
                "SELECT 1 FROM devices WHERE device_id = $1 FOR UPDATE",
                &[&&device.device_id[..]],
            )?;
            let mut kept: i64 = tx
                .one(
                    "SELECT COUNT(*) FROM rejected WHERE device_id = $1",
                    &[&&device.device_id[..]],
                )?
                .try_get(0)?;
            let mut stored = 0u32;
            for item in items {
                if kept >= MAX_REPORTS_PER_DEVICE {
                    break;
                }
                let in_log = tx
                    .opt(
                        "SELECT case_id FROM log WHERE seq = $1",
                        &[&(item.seq as i64)],
                    )?
                    .map(|r| r.try_get::<_, Vec<u8>>(0))
                    .transpose()?
                    .is_some_and(|case| case == item.case_id[..]);
                if !in_log {
                    continue;
                }
                let n = tx.exec(
                    "INSERT INTO rejected (device_id, seq, case_id, signer, reason, reported_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        &&device.device_id[..],
                        &(item.seq as i64),
                        &&item.case_id[..],
                        &&item.signer[..],
                        &item.reason.as_str(),
                        &now,
                    ],
                )?;
                stored += n as u32;
                kept += n as i64;
            }
            Ok(stored)
        })
    }

    fn rejected(&self) -> Result<Vec<RejectedListing>> {
        self.read(|tx| {
            tx.rows(
                "SELECT r.device_id, COALESCE(u.name, ''), r.case_id, r.seq, r.signer, r.reason, r.reported_at
                 FROM rejected r
                 LEFT JOIN devices d ON d.device_id = r.device_id
                 LEFT JOIN users u ON u.user_id = d.user_id
                 ORDER BY r.reported_at, r.device_id, r.seq",
                &[],
            )?
            .iter()
            .map(|r| {
                let device: Vec<u8> = r.try_get(0)?;
                let signer: Vec<u8> = r.try_get(4)?;
                Ok(RejectedListing {
                    device: hex::encode(&device[..device.len().min(4)]),
                    user: r.try_get(1)?,
                    case_id: uuid_text(&id(r.try_get(2)?)?),
                    seq: r.try_get::<_, i64>(3)?.max(0) as u64,
                    signer: hex::encode(&signer[..signer.len().min(4)]),
                    reason: r.try_get(5)?,
                    reported_at: r.try_get(6)?,
                })
            })
            .collect()
        })
    }

    fn report_erased(&self, device: &Device, cases: &[Id], now: i64) -> Result<u32> {
        self.report_erased_inner(device, cases, now)
    }

    fn report_closures(&self, device: &Device, items: &[proto::Closure], now: i64) -> Result<u32> {
        self.report_closures_inner(device, items, now)
    }

    fn rotate(&self, device: &Device, request: &RotateRequest, now: i64) -> Result<RotateResponse> {
        let quota = self.device_quota.load(Ordering::Relaxed);
        self.write(|tx| push::rotate_in(tx, device, request, now, quota))
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
        let erasure = self.erase_uncompacted(case_id, by, detail, now)?;
        self.compact_erased()?;
        Ok(erasure)
    }

    fn compact_erased(&self) -> Result<()> {
        self.compact_erased_inner()
    }

    fn erasure(&self, case_id: &Id) -> Result<Option<super::erasure::Erasure>> {
        self.erasure_inner(case_id)
    }

    fn retention_due(&self, before: &str) -> Result<Vec<super::erasure::RetentionCase>> {
        self.retention_due_inner(before)
    }

    fn apply_retention(
        &self,
        before: &str,
        by: &str,
        now: i64,
    ) -> std::result::Result<Vec<super::erasure::Erasure>, super::erasure::EraseError> {
        self.apply_retention_inner(before, by, now)
    }

    fn log_admin_action(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| erasure::append_admin_log(tx, now, actor, action, target, detail))
    }

    fn admin_log(&self) -> Result<Vec<super::erasure::AuditEntry>> {
        self.admin_log_inner()
    }

    fn set_device_quota(&self, bytes: u64) {
        self.device_quota.store(bytes, Ordering::Relaxed);
    }
}
