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

const MIGRATIONS: &[&str] = &[V1_SCHEMA, V2_UPGRADE];
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
