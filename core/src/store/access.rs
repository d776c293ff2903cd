//! The device's access log: one sealed row per export (`access_log`, schema
//! v8). Append-only by construction — this is the only code that touches the
//! table and it only inserts and lists; a wipe deletes it with everything
//! else. The row id is chosen inside the inserting transaction so the caller
//! can bind the sealed body to it (the associated data names the row).

use rusqlite::params;

use super::Store;
use crate::error::Result;

/// A stored entry: (row id, time in unix seconds, sealed body).
pub type AccessRow = (i64, i64, Vec<u8>);

impl Store {
    /// Appends one entry in one durable transaction. `seal` is given the
    /// row id the entry will have and returns the sealed body.
    pub fn append_access(
        &mut self,
        at: i64,
        seal: impl FnOnce(i64) -> Result<Vec<u8>>,
    ) -> Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM access_log", [], |r| {
            r.get(0)
        })?;
        let body = seal(id)?;
        tx.execute(
            "INSERT INTO access_log (id, at, body) VALUES (?1, ?2, ?3)",
            params![id, at, body],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Every entry, oldest first.
    pub fn access_log(&self) -> Result<Vec<AccessRow>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, at, body FROM access_log ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
