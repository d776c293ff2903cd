//! The SQLite schema, one migration per version (`PRAGMA user_version`),
//! run on open; a database of a newer version is refused.

use rusqlite::Connection;

use super::{Result, StorageError};

pub(super) const SCHEMA_V1: &str = "
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
pub(super) const SCHEMA_V2: &str = "
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
pub(super) const SCHEMA_V3: &str = "
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
pub(super) const SCHEMA_V4: &str = "
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
pub(super) const SCHEMA_V5: &str = "
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
pub(super) const SCHEMA_V6: &str = "
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

/// v7: server-side compaction. Changes a snapshot replaced, kept aside
/// (out of every pull) until purged; same columns as their log rows, and
/// when and by which device they were superseded.
pub(super) const SCHEMA_V7: &str = "
CREATE TABLE superseded (
    seq           INTEGER PRIMARY KEY,
    case_id       BLOB NOT NULL,
    epoch         INTEGER NOT NULL,
    device_id     BLOB NOT NULL,
    client_id     BLOB,
    body          BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    superseded_at INTEGER NOT NULL,
    by_device     BLOB NOT NULL
);
CREATE INDEX superseded_case ON superseded(case_id);
CREATE INDEX superseded_at ON superseded(superseded_at);
";

/// v8: `org.log_id`, which log this is: NULL (all zeros to devices) until
/// an admin declares the data restored from a backup
/// (`outreach-server restored`), which draws a new one.
pub(super) const SCHEMA_V8: &str = "
ALTER TABLE org ADD COLUMN log_id BLOB;
";

pub(super) const MIGRATIONS: &[&str] = &[
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
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
