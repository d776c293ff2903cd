//! The PostgreSQL schema, one migration per version (`outreach_schema`),
//! run on start under an advisory lock (several instances may start at
//! once); a database of a newer version is refused.
//!
//! Version 1 is the SQLite schema v1..v6 folded into one: `BYTEA` for ids,
//! keys and bodies, `BIGINT` for every number, `BOOLEAN` for flags, and
//! `BIGSERIAL` for the log's sequence numbers (drawn only under the log
//! lock: see the module documentation).

use super::{MIGRATE_LOCK_CLASS, Result, StorageError};

pub(super) const SCHEMA_V1: &str = "
CREATE TABLE org (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    org_id      BYTEA NOT NULL,
    name        TEXT NOT NULL,
    recovery_pk BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE users (
    user_id    BYTEA PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    team       TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_team ON users(team, role);
CREATE TABLE invites (
    code_hash  BYTEA PRIMARY KEY,
    user_id    BYTEA NOT NULL REFERENCES users(user_id),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    used_by    BYTEA
);
CREATE TABLE devices (
    device_id    BYTEA PRIMARY KEY,
    user_id      BYTEA NOT NULL REFERENCES users(user_id),
    sign_pk      BYTEA NOT NULL,
    kex_pk       BYTEA NOT NULL,
    enrolled_at  BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_seen    BIGINT,
    pulled_seq   BIGINT NOT NULL DEFAULT 0,
    stored_bytes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX devices_user ON devices(user_id);
CREATE TABLE cases (
    case_id        BYTEA PRIMARY KEY,
    team           TEXT,
    epoch          BIGINT NOT NULL DEFAULT 0,
    created_by     BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    created_device BYTEA,
    rotate_due     BOOLEAN NOT NULL DEFAULT FALSE,
    closed_on      TEXT
);
CREATE INDEX cases_team ON cases(team);
CREATE INDEX cases_rotate_due ON cases(case_id) WHERE rotate_due;
CREATE TABLE assignments (
    case_id BYTEA NOT NULL,
    user_id BYTEA NOT NULL,
    PRIMARY KEY (case_id, user_id)
);
CREATE INDEX assignments_user ON assignments(user_id);
-- The organisation's append-only log: changes (kind 0), envelopes (1),
-- grants (2), removals (3), erasures (4).
CREATE TABLE log (
    seq        BIGSERIAL PRIMARY KEY,
    kind       BIGINT NOT NULL,
    case_id    BYTEA NOT NULL,
    epoch      BIGINT NOT NULL,
    device_id  BYTEA NOT NULL,
    target     BYTEA,
    client_id  BYTEA,
    body       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX log_client ON log(device_id, client_id) WHERE kind = 0;
CREATE UNIQUE INDEX log_envelope_sealer ON log(case_id, epoch, target, device_id) WHERE kind = 1;
CREATE INDEX log_case ON log(case_id, seq);
CREATE INDEX log_target ON log(target, seq);
CREATE INDEX log_removed ON log(target, seq) WHERE kind = 3;
CREATE INDEX log_grant ON log(target, case_id, seq) WHERE kind = 2;
CREATE TABLE envelope_needs (
    case_id   BYTEA NOT NULL,
    epoch     BIGINT NOT NULL,
    recipient BYTEA NOT NULL,
    PRIMARY KEY (case_id, epoch, recipient)
);
CREATE TABLE rejected (
    device_id   BYTEA NOT NULL,
    seq         BIGINT NOT NULL,
    case_id     BYTEA NOT NULL,
    signer      BYTEA NOT NULL,
    reason      TEXT NOT NULL,
    reported_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE case_epochs (
    case_id    BYTEA NOT NULL,
    epoch      BIGINT NOT NULL,
    device_id  BYTEA NOT NULL,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, epoch)
);
CREATE TABLE erased (
    case_id   BYTEA PRIMARY KEY,
    erased_at BIGINT NOT NULL,
    erased_by TEXT NOT NULL
);
CREATE TABLE erasure_acks (
    case_id   BYTEA NOT NULL,
    device_id BYTEA NOT NULL,
    acked_at  BIGINT NOT NULL,
    PRIMARY KEY (case_id, device_id)
);
CREATE TABLE admin_log (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE TABLE safety_timers (
    timer_id   BYTEA PRIMARY KEY,
    device_id  BYTEA NOT NULL,
    user_id    BYTEA NOT NULL,
    team       TEXT,
    case_ref   BYTEA NOT NULL,
    started_at BIGINT NOT NULL,
    until      BIGINT NOT NULL,
    alert_at   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at  BIGINT
);
CREATE INDEX safety_timers_due ON safety_timers(alert_at) WHERE closed_at IS NULL;
CREATE INDEX safety_timers_user ON safety_timers(user_id) WHERE closed_at IS NULL;
CREATE INDEX safety_timers_team ON safety_timers(team) WHERE closed_at IS NULL;
CREATE TABLE safety_notes (
    timer_id BYTEA PRIMARY KEY,
    case_id  BYTEA NOT NULL,
    epoch    BIGINT NOT NULL,
    body     BYTEA NOT NULL
);
CREATE INDEX safety_notes_case ON safety_notes(case_id);
CREATE TABLE safety_alerts (
    alert_id  BYTEA PRIMARY KEY,
    timer_id  BYTEA NOT NULL,
    due       BIGINT NOT NULL,
    raised_at BIGINT NOT NULL,
    acked_at  BIGINT,
    acked_by  TEXT,
    UNIQUE (timer_id, due)
);
CREATE INDEX safety_alerts_open ON safety_alerts(raised_at) WHERE acked_at IS NULL;
CREATE TABLE safety_webhook (
    id           BIGSERIAL PRIMARY KEY,
    alert_id     BYTEA NOT NULL,
    event        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error   TEXT
);
CREATE INDEX safety_webhook_due ON safety_webhook(next_at) WHERE delivered_at IS NULL;
";

/// v2: server-side compaction (as SQLite's v7): changes a snapshot
/// replaced, kept aside until purged.
pub(super) const SCHEMA_V2: &str = "
CREATE TABLE superseded (
    seq           BIGINT PRIMARY KEY,
    case_id       BYTEA NOT NULL,
    epoch         BIGINT NOT NULL,
    device_id     BYTEA NOT NULL,
    client_id     BYTEA,
    body          BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    superseded_at BIGINT NOT NULL,
    by_device     BYTEA NOT NULL
);
CREATE INDEX superseded_case ON superseded(case_id);
CREATE INDEX superseded_at ON superseded(superseded_at);
";

/// v3: signed requests' nonces, shared by every instance on the database
/// (an instance's own replay cache cannot see a request replayed to
/// another); dropped once their request could no longer pass the clock
/// check.
pub(super) const SCHEMA_V3: &str = "
CREATE TABLE request_nonces (
    device_id  BYTEA NOT NULL,
    nonce      BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX request_nonces_expiry ON request_nonces(expires_at);
";

/// v4: `org.log_id` (as SQLite's v8).
pub(super) const SCHEMA_V4: &str = "
ALTER TABLE org ADD COLUMN log_id BYTEA;
";

/// v5: a device's pull seeks each readable case's changes after its
/// cursor. With only `log_case` PostgreSQL's planner AND-ed that index with
/// the partial `log_client` (also `kind = 0`) and read the whole of
/// `log_client` for every readable case: 17.6 ms for a supervisor of 64
/// cases against 0.3–1.3 ms with this index (measured after a herd run,
/// `EXPLAIN ANALYZE`). SQLite picks one index per table and never did.
pub(super) const SCHEMA_V5: &str = "
CREATE INDEX log_case_change ON log(case_id, seq) WHERE kind = 0;
";

/// v6: a pull's envelope-needs query starts from the (case, epoch) keys the
/// device holds: those whose epoch it started are found by this index. Without
/// it the planner scanned the whole queue and `case_epochs` on every pull while
/// new cases waited for envelopes: 1.18 ms a call over 6,024 calls, 41 % of
/// PostgreSQL's statement time in a herd run (`pg_stat_statements`).
pub(super) const SCHEMA_V6: &str = "
CREATE INDEX case_epochs_device ON case_epochs(device_id);
";

pub(super) const MIGRATIONS: &[&str] = &[
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6,
];

/// The schema version this server writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS outreach_schema (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
)";

fn version(tx: &mut postgres::Transaction) -> Result<Option<i64>> {
    let present: bool = tx
        .query_one(
            "SELECT to_regclass(quote_ident(current_schema()) || '.outreach_schema') IS NOT NULL",
            &[],
        )?
        .try_get(0)?;
    if !present {
        return Ok(None);
    }
    Ok(tx
        .query_opt("SELECT version FROM outreach_schema WHERE id = 1", &[])?
        .map(|r| r.try_get(0))
        .transpose()?)
}

/// Whether the database holds an Outreach schema this server reads.
pub(super) fn check(conn: &mut postgres::Client) -> Result<bool> {
    let mut tx = conn.transaction()?;
    let v = version(&mut tx)?;
    tx.commit()?;
    match v {
        Some(v) if v > SCHEMA_VERSION => Err(StorageError::SchemaTooNew(v)),
        Some(v) if v == SCHEMA_VERSION => Ok(true),
        Some(_) => Err(StorageError::Database(
            "the database holds an older Outreach schema: start `outreach-server serve --database URL` once to upgrade it".into(),
        )),
        None => Ok(false),
    }
}

/// Creates or upgrades the schema, one transaction, under the migration
/// lock (a second instance starting at the same time waits, then finds it
/// done).
pub(super) fn migrate(conn: &mut postgres::Client) -> Result<()> {
    let mut tx = conn.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
        &[&MIGRATE_LOCK_CLASS],
    )?;
    let current = version(&mut tx)?.unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StorageError::SchemaTooNew(current));
    }
    if current == SCHEMA_VERSION {
        tx.commit()?;
        return Ok(());
    }
    tx.batch_execute(VERSION_TABLE)?;
    for step in MIGRATIONS.iter().skip(current as usize) {
        tx.batch_execute(step)?;
    }
    tx.execute(
        "INSERT INTO outreach_schema (id, version) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version",
        &[&SCHEMA_VERSION],
    )?;
    tx.commit()?;
    Ok(())
}
