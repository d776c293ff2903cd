//! Schema versions and migrations, keyed on `PRAGMA user_version`.
//!
//! A fresh database is built by running every migration from v1, so a new
//! install and an upgraded one end up with exactly the same schema; the
//! upgrade test opens a database written with [`V1_SCHEMA`] alone.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The first released schema, kept verbatim for the upgrade test.
pub const V1_SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE cases (
    case_id    BLOB PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE case_snapshot (
    case_id  BLOB PRIMARY KEY REFERENCES cases(case_id),
    upto_seq INTEGER NOT NULL,
    body     BLOB NOT NULL
);
CREATE TABLE case_chunk (
    case_id BLOB NOT NULL REFERENCES cases(case_id),
    seq     INTEGER NOT NULL,
    body    BLOB NOT NULL,
    PRIMARY KEY (case_id, seq)
);
";

/// v2: per-case running total of chunk bytes, so the write path can decide to
/// compact without reading the chunks back.
const V2_UPGRADE: &str = "
ALTER TABLE cases ADD COLUMN chunk_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE cases SET chunk_bytes =
    (SELECT COALESCE(SUM(length(body)), 0) FROM case_chunk WHERE case_chunk.case_id = cases.case_id);
";

/// v3: sync. Per case, the last local chunk sequence and what of it has been
/// handed to sync (`synced_seq`, and the document heads at that point, sealed),
/// so finding what to upload never loads an unchanged case. Case keys
/// (wrapped), the outbox of uploads not yet acknowledged, and an inbox of
/// received changes whose case key has not arrived yet.
const V3_UPGRADE: &str = "
ALTER TABLE cases ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
UPDATE cases SET last_seq = MAX(
    COALESCE((SELECT upto_seq FROM case_snapshot s WHERE s.case_id = cases.case_id), 0),
    COALESCE((SELECT MAX(seq) FROM case_chunk c WHERE c.case_id = cases.case_id), 0));
ALTER TABLE cases ADD COLUMN synced_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN synced_heads BLOB;
CREATE TABLE case_key (
    case_id BLOB NOT NULL,
    epoch   INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    PRIMARY KEY (case_id, epoch)
);
CREATE TABLE sync_outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id BLOB NOT NULL UNIQUE,
    case_id   BLOB NOT NULL,
    body      BLOB NOT NULL
);
CREATE TABLE sync_inbox (
    seq     INTEGER PRIMARY KEY,
    case_id BLOB NOT NULL,
    body    BLOB NOT NULL
);
CREATE INDEX sync_inbox_case ON sync_inbox(case_id);
";

/// v4: drafts of contact records, sealed, saved on every edit in the app.
const V4_UPGRADE: &str = "
CREATE TABLE draft (
    draft_id   BLOB PRIMARY KEY,
    case_id    BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    body       BLOB NOT NULL
);
";

/// v5: cases the server said this device no longer holds (transferred to
/// another practitioner) but that still have changes to upload: deleted
/// once those are acknowledged.
const V5_UPGRADE: &str = "
CREATE TABLE pending_removal (
    case_id BLOB PRIMARY KEY
);
";

/// v6: sync that no single device can break. Received items that fail
/// verification, decryption or application are quarantined (`sync_rejected`:
/// the item sealed under the DRK, its case, signer and reason; reported to
/// the server once); every case key that an envelope offered is kept as a
/// candidate until a change decrypts under one (`case_key_candidate`), so a
/// junk envelope cannot pre-empt the real one; uploads that must reach the
/// server in one push (a case's first change and its envelopes) share a
/// `grp`.
const V6_UPGRADE: &str = "
CREATE TABLE sync_rejected (
    seq      INTEGER PRIMARY KEY,
    case_id  BLOB NOT NULL,
    signer   BLOB NOT NULL,
    reason   TEXT NOT NULL,
    at       INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0,
    body     BLOB NOT NULL
);
CREATE INDEX sync_rejected_case ON sync_rejected(case_id);
CREATE TABLE case_key_candidate (
    case_id   BLOB NOT NULL,
    epoch     INTEGER NOT NULL,
    sealed_by BLOB NOT NULL,
    wrapped   BLOB NOT NULL,
    PRIMARY KEY (case_id, epoch, sealed_by)
);
ALTER TABLE sync_outbox ADD COLUMN grp INTEGER;
";

/// v7: a small sealed summary per case (what the caseload shows), valid for
/// the case as of chunk `upto_seq`: the caseload reads summaries, and only a
/// case written since (its `last_seq` moved) is read whole again.
const V7_UPGRADE: &str = "
CREATE TABLE case_summary (
    case_id  BLOB PRIMARY KEY,
    upto_seq INTEGER NOT NULL,
    body     BLOB NOT NULL
);
";

/// v8: keys that follow people and the organisation's duties (issue 11).
/// - `access_log`: every export (and recovery or erasure this device did),
///   sealed under the DRK, append-only: rows are only ever inserted.
/// - `case_forgotten`: cases this device removed on purpose (`case forget`)
///   or because the organisation erased them; items that still arrive for
///   them are dropped, not quarantined.
/// - `case_closure`: the closure date last told to the server (retention),
///   so a change is reported once.
/// - `case_read_cache`: a case's typed records (sealed JSON) as of chunk
///   `upto_seq`, made at an idle moment, so opening a long case reads one
///   blob instead of replaying its whole Automerge history (issue 17).
/// - `sync_outbox.stale`: an upload the server did not take because it was
///   sealed under a case-key epoch another device has since replaced; kept,
///   and sealed again under the new key once it arrives.
const V8_UPGRADE: &str = "
ALTER TABLE sync_outbox ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;
CREATE TABLE case_read_cache (
    case_id  BLOB PRIMARY KEY,
    upto_seq INTEGER NOT NULL,
    body     BLOB NOT NULL
);
CREATE TABLE access_log (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at   INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE case_forgotten (
    case_id BLOB PRIMARY KEY,
    at      INTEGER NOT NULL,
    erased  INTEGER NOT NULL DEFAULT 0,
    reported INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE case_closure (
    case_id   BLOB PRIMARY KEY,
    closed_on TEXT
);
";

/// v9: retention. `case_closure.upto_seq`: the case's `last_seq` when its
/// closure was last compared with what the server was told, so a sync reads
/// again only the cases written since (see `vault/erasure.rs`).
const V9_UPGRADE: &str = "
ALTER TABLE case_closure ADD COLUMN upto_seq INTEGER NOT NULL DEFAULT 0;
";

/// v10: lone-working safety (issue 14). `safety_outbox`: check-ins,
/// extensions, check-outs and acknowledgements not yet sent, oldest first,
/// each sealed under the DRK (its note too: sealed under the case key only
/// when sent). This device's check-ins and the last state the server sent
/// are sealed rows of `meta` (`safety`, `safety_server`).
const V10_UPGRADE: &str = "
CREATE TABLE safety_outbox (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL
);
";

/// v11: server-side compaction. `server_history`: per case, how many
/// changes this device has sent or received since the case's history on the
/// server last started again from a whole document (its first upload, or a
/// snapshot); at a threshold the device uploads a snapshot (see
/// `vault/compact.rs`). Counts only, no content.
const V11_UPGRADE: &str = "
CREATE TABLE server_history (
    case_id BLOB PRIMARY KEY,
    items   INTEGER NOT NULL DEFAULT 0
);
";

const MIGRATIONS: &[&str] = &[
    V1_SCHEMA,
    V2_UPGRADE,
    V3_UPGRADE,
    V4_UPGRADE,
    V5_UPGRADE,
    V6_UPGRADE,
    V7_UPGRADE,
    V8_UPGRADE,
    V9_UPGRADE,
    V10_UPGRADE,
    V11_UPGRADE,
];
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST_VERSION {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: LATEST_VERSION,
        });
    }
    if current == LATEST_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}
