//! Lone-working safety actions waiting for a connection (`safety_outbox`,
//! schema v10), oldest first, and the sealed `meta` rows that describe this
//! device's check-ins. Rows are sealed by the vault; the row id is chosen
//! inside the inserting transaction so the sealed body can be bound to it.

use rusqlite::params;

use super::Store;
use crate::error::Result;

impl Store {
    /// Queues one action and rewrites the `meta` rows describing this
    /// device's check-ins, in one durable transaction. `seal` is given the
    /// row id the action will have and returns its sealed body.
    pub fn safety_enqueue(
        &mut self,
        meta: &[(&str, &[u8])],
        seal: impl FnOnce(i64) -> Result<Vec<u8>>,
    ) -> Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id: i64 = tx.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM safety_outbox",
            [],
            |r| r.get(0),
        )?;
        let body = seal(id)?;
        tx.execute(
            "INSERT INTO safety_outbox (id, body) VALUES (?1, ?2)",
            params![id, body],
        )?;
        for (k, v) in meta {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Queued actions, oldest first: (row id, sealed body).
    pub fn safety_outbox(&self) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, body FROM safety_outbox ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn safety_outbox_len(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM safety_outbox", [], |r| {
                r.get::<_, i64>(0)
            })?
            .max(0) as u64)
    }

    /// Deletes actions the server answered (done or refused) and rewrites
    /// the `meta` rows, in one durable transaction.
    pub fn safety_answered(&mut self, ids: &[i64], meta: &[(&str, &[u8])]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.prepare_cached("DELETE FROM safety_outbox WHERE id = ?1")?
                .execute([id])?;
        }
        for (k, v) in meta {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
