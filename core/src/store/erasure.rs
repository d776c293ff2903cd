//! Cases removed from this device for good — erased by the organisation,
//! or forgotten on purpose (`case forget`) — and the closure dates told to
//! the server for retention (schema v8 `case_forgotten`, `case_closure`; v9
//! `case_closure.upto_seq`).

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::Result;

/// A case whose closure may differ from what the server was told: (case,
/// its `last_seq`, the closure date last told — `None` if none or never).
pub type ClosureCheck = ([u8; 16], u64, Option<String>);

/// Every table that holds something of a case, except the outbox and the
/// quarantine (which differ between erasure and forgetting).
const CASE_TABLES: &[&str] = &[
    "DELETE FROM case_chunk WHERE case_id = ?1",
    "DELETE FROM case_snapshot WHERE case_id = ?1",
    "DELETE FROM case_key WHERE case_id = ?1",
    "DELETE FROM case_key_candidate WHERE case_id = ?1",
    // Never the drafts kept under the all-zero id (a case being opened:
    // no case yet), even if an erasure names that id.
    "DELETE FROM draft WHERE case_id = ?1 AND case_id <> zeroblob(16)",
    "DELETE FROM sync_inbox WHERE case_id = ?1",
    "DELETE FROM pending_removal WHERE case_id = ?1",
    "DELETE FROM case_summary WHERE case_id = ?1",
    "DELETE FROM case_read_cache WHERE case_id = ?1",
    "DELETE FROM server_history WHERE case_id = ?1",
    "DELETE FROM case_closure WHERE case_id = ?1",
    "DELETE FROM cases WHERE case_id = ?1",
];

impl Store {
    /// The organisation erased the case: everything this device holds of it
    /// goes — snapshot, chunks, keys and key candidates, summary, drafts,
    /// queued uploads, held-back and quarantined items, a pending removal —
    /// in one transaction, and it is remembered as erased (to confirm to the
    /// server, and so that anything still arriving for it is dropped). The
    /// WAL is then checkpointed and truncated, so no earlier page of it is
    /// left there either (`secure_delete` zeroes the freed pages).
    pub fn erase_case(&mut self, case: &[u8; 16], at: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for sql in CASE_TABLES {
            tx.execute(sql, [&case[..]])?;
        }
        tx.execute("DELETE FROM sync_outbox WHERE case_id = ?1", [&case[..]])?;
        tx.execute("DELETE FROM sync_rejected WHERE case_id = ?1", [&case[..]])?;
        tx.execute(
            "INSERT INTO case_forgotten (case_id, at, erased, reported) VALUES (?1, ?2, 1, 0)
             ON CONFLICT(case_id) DO UPDATE SET erased = 1, reported = 0",
            params![&case[..], at],
        )?;
        tx.commit()?;
        self.checkpoint()
    }

    /// This device lets go of a case (the caller checked nothing of it is
    /// unsent): deleted as [`Store::erase_case`] does, and remembered as
    /// forgotten so that items still arriving for it are dropped. Quarantine
    /// reports not yet sent stay until they are.
    pub fn forget_case(&mut self, case: &[u8; 16], at: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for sql in CASE_TABLES {
            tx.execute(sql, [&case[..]])?;
        }
        tx.execute(
            "DELETE FROM sync_rejected WHERE case_id = ?1 AND reported = 1",
            [&case[..]],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO case_forgotten (case_id, at, erased, reported)
             VALUES (?1, ?2, 0, 0)",
            params![&case[..], at],
        )?;
        tx.commit()?;
        self.checkpoint()
    }

    /// Whether the case was erased or forgotten here.
    pub fn is_forgotten(&self, case: &[u8; 16]) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM case_forgotten WHERE case_id = ?1")?
            .query_row([&case[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Whether the case was forgotten here: `Some(true)` if erased by the
    /// organisation, `Some(false)` if forgotten on purpose.
    pub fn forgotten(&self, case: &[u8; 16]) -> Result<Option<bool>> {
        Ok(self
            .conn
            .prepare_cached("SELECT erased != 0 FROM case_forgotten WHERE case_id = ?1")?
            .query_row([&case[..]], |r| r.get(0))
            .optional()?)
    }

    /// Takes back a case forgotten on purpose (never an erased one).
    pub fn unforget(&mut self, case: &[u8; 16]) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM case_forgotten WHERE case_id = ?1 AND erased = 0")?
            .execute([&case[..]])?;
        Ok(())
    }

    /// Erased cases not yet confirmed to the server.
    pub fn unreported_erasures(&self) -> Result<Vec<[u8; 16]>> {
        self.ids("SELECT case_id FROM case_forgotten WHERE erased = 1 AND reported = 0 ORDER BY at")
    }

    pub fn mark_erasures_reported(&mut self, cases: &[[u8; 16]]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for case in cases {
            tx.prepare_cached("UPDATE case_forgotten SET reported = 1 WHERE case_id = ?1")?
                .execute([&case[..]])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Cases on the server that were written (or received) since their
    /// closure was last compared with what the server was told.
    pub fn closures_to_check(&self) -> Result<Vec<ClosureCheck>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.case_id, c.last_seq, k.closed_on FROM cases c
             LEFT JOIN case_closure k ON k.case_id = c.case_id
             WHERE c.synced_heads IS NOT NULL AND (k.case_id IS NULL OR k.upto_seq != c.last_seq)
             ORDER BY c.rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (case, last_seq, closed_on) = row?;
            if let Ok(case) = <[u8; 16]>::try_from(case) {
                out.push((case, last_seq.max(0) as u64, closed_on));
            }
        }
        Ok(out)
    }

    /// Records, per case, the closure date the server now has and the
    /// `last_seq` it was read at.
    pub fn record_closures(&mut self, rows: &[([u8; 16], Option<String>, u64)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for (case, closed_on, upto) in rows {
            tx.prepare_cached(
                "INSERT INTO case_closure (case_id, closed_on, upto_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT(case_id) DO UPDATE SET closed_on = excluded.closed_on,
                    upto_seq = excluded.upto_seq",
            )?
            .execute(params![&case[..], closed_on, *upto as i64])?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table that names a case is emptied of it by an erasure, a
    /// forget and a removal alike — the read cache and the server-history
    /// count included (the read cache was once left behind).
    #[test]
    fn every_case_table_is_emptied_of_the_case() {
        let tmp = tempfile::tempdir().unwrap();
        let case = [7u8; 16];
        for how in ["erase", "forget", "delete"] {
            let mut s = Store::open(&tmp.path().join(format!("{how}.db"))).unwrap();
            s.put_read_cache(&case, 1, b"sealed records").unwrap();
            s.note_server_history(&case, 3, false).unwrap();
            match how {
                "erase" => s.erase_case(&case, 1).unwrap(),
                "forget" => s.forget_case(&case, 1).unwrap(),
                _ => s.delete_case(&case).unwrap(),
            }
            for table in ["case_read_cache", "server_history"] {
                let n: i64 = s
                    .conn
                    .query_row(
                        &format!("SELECT COUNT(*) FROM {table} WHERE case_id = ?1"),
                        [&case[..]],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(n, 0, "{how} left {table}");
            }
        }
    }
}
