//! SQLite storage of opaque, already-sealed blobs.
//!
//! The store knows rows and transactions, not keys: everything it is handed
//! for a case is ciphertext produced by [`crate::crypto::seal`], and the only
//! plaintext columns are random ids, sequence numbers and sizes. Each write is
//! one durable transaction (WAL with `synchronous=FULL`), so a write that
//! returned has reached the disk and survives a killed process or a dead
//! battery. `secure_delete` overwrites freed pages, so compaction and wipe do
//! not leave old ciphertext lying in the file.

mod access;
mod erasure;
mod safety;
mod schema;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

pub use access::AccessRow;
pub use erasure::ClosureCheck;
pub use schema::{LATEST_VERSION, V1_SCHEMA};

use crate::error::Result;

/// A case's stored state: an optional snapshot and the chunks after it.
pub struct StoredCase {
    pub snapshot: Option<(u64, Vec<u8>)>,
    pub chunks: Vec<(u64, Vec<u8>)>,
}

/// A draft row: (draft id, case id, updated at, sealed body).
pub type StoredDraft = ([u8; 16], [u8; 16], i64, Vec<u8>);

/// A case as the caseload lists it: (case, last_seq, created_at, stored
/// summary (upto_seq, sealed body)).
pub type SummaryRow = ([u8; 16], u64, i64, Option<(u64, Vec<u8>)>);

/// A quarantined item as listed: (server seq, case, signer, reason).
pub type RejectionRow = (u64, [u8; 16], [u8; 16], String);

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Creates the database at `path` (or opens it) and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_inner(path, true)
    }

    /// Opens an existing vault database, refusing (and not touching) a file
    /// that was never initialised as one.
    pub fn open_existing(path: &Path) -> Result<Self> {
        Self::open_inner(path, false)
    }

    fn open_inner(path: &Path, create: bool) -> Result<Self> {
        let mut conn = Connection::open_with_flags(
            path,
            if create {
                rusqlite::OpenFlags::default()
            } else {
                rusqlite::OpenFlags::default() - rusqlite::OpenFlags::SQLITE_OPEN_CREATE
            },
        )?;
        if !create {
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version == 0 {
                return Err(crate::error::Error::HeaderCorrupt);
            }
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Self { conn })
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Writes several meta rows in one durable transaction.
    pub fn meta_put(&mut self, rows: &[(&str, &[u8])]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for (k, v) in rows {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn case_ids(&self) -> Result<Vec<[u8; 16]>> {
        self.ids("SELECT case_id FROM cases ORDER BY created_at, case_id")
    }

    /// Every case (oldest first) with its last chunk sequence, when it was
    /// first stored here, and its summary if one was stored: (case,
    /// last_seq, created_at, Some((upto_seq, sealed body))).
    pub fn case_summaries(&self) -> Result<Vec<SummaryRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.case_id, c.last_seq, c.created_at, s.upto_seq, s.body
             FROM cases c LEFT JOIN case_summary s ON s.case_id = c.case_id
             ORDER BY c.created_at, c.case_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (case, last, created, upto, body) = row?;
            let Ok(case) = <[u8; 16]>::try_from(case.as_slice()) else {
                continue;
            };
            let summary = match (upto, body) {
                (Some(u), Some(b)) => Some((u.max(0) as u64, b)),
                _ => None,
            };
            out.push((case, last.max(0) as u64, created, summary));
        }
        Ok(out)
    }

    /// Stores fresh summaries, all in one transaction (a cache: losing one
    /// only means that case is read whole again next time).
    pub fn put_case_summaries(&mut self, rows: &[([u8; 16], u64, Vec<u8>)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for (case, upto_seq, body) in rows {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO case_summary(case_id, upto_seq, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![&case[..], *upto_seq as i64, body])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn case_exists(&self, case: &[u8; 16]) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM cases WHERE case_id = ?1")?;
        Ok(stmt.exists([&case[..]])?)
    }

    /// Registers a case and stores its first chunk in one transaction.
    pub fn create_case(
        &mut self,
        case: &[u8; 16],
        created_at: i64,
        first_chunk: &[u8],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO cases(case_id, created_at, chunk_bytes, last_seq) VALUES (?1, ?2, ?3, 1)",
            params![&case[..], created_at, first_chunk.len() as i64],
        )?;
        tx.execute(
            "INSERT INTO case_chunk(case_id, seq, body) VALUES (?1, 1, ?2)",
            params![&case[..], first_chunk],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Appends one sealed chunk; returns the case's accumulated chunk bytes.
    pub fn append_chunk(&mut self, case: &[u8; 16], seq: u64, body: &[u8]) -> Result<u64> {
        self.append_chunk_finishing(case, seq, body, None)
    }

    /// [`Store::append_chunk`], deleting the draft `finishing` in the same
    /// transaction: a contact record submitted from its draft is written
    /// and its draft gone, or neither — a crash between the two can no
    /// longer leave the draft to be sent again over the recorded visit.
    pub fn append_chunk_finishing(
        &mut self,
        case: &[u8; 16],
        seq: u64,
        body: &[u8],
        finishing: Option<&[u8; 16]>,
    ) -> Result<u64> {
        let tx = self.conn.transaction()?;
        if let Some(draft) = finishing {
            tx.prepare_cached("DELETE FROM draft WHERE draft_id = ?1")?
                .execute([&draft[..]])?;
        }
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO case_chunk(case_id, seq, body) VALUES (?1, ?2, ?3)")?;
            ins.execute(params![&case[..], seq as i64, body])?;
        }
        let total: i64 = {
            let mut upd = tx.prepare_cached(
                "UPDATE cases SET chunk_bytes = chunk_bytes + ?2, last_seq = ?3 WHERE case_id = ?1 RETURNING chunk_bytes",
            )?;
            upd.query_row(params![&case[..], body.len() as i64, seq as i64], |r| {
                r.get(0)
            })?
        };
        tx.commit()?;
        Ok(total.max(0) as u64)
    }

    pub fn read_chunk(&self, case: &[u8; 16], seq: u64) -> Result<Option<Vec<u8>>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM case_chunk WHERE case_id = ?1 AND seq = ?2")?;
        Ok(stmt
            .query_row(params![&case[..], seq as i64], |r| r.get(0))
            .optional()?)
    }

    pub fn load_case(&self, case: &[u8; 16]) -> Result<StoredCase> {
        let snapshot = self
            .conn
            .prepare_cached("SELECT upto_seq, body FROM case_snapshot WHERE case_id = ?1")?
            .query_row([&case[..]], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .optional()?;
        let after = snapshot.as_ref().map(|(s, _)| *s).unwrap_or(0);
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, body FROM case_chunk WHERE case_id = ?1 AND seq > ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![&case[..], after as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })?;
        let chunks = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(StoredCase { snapshot, chunks })
    }

    /// Replaces a case's snapshot and drops the chunks it covers, atomically:
    /// a crash leaves either the old snapshot + chunks or the new snapshot.
    pub fn compact(&mut self, case: &[u8; 16], upto_seq: u64, body: &[u8]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO case_snapshot(case_id, upto_seq, body) VALUES (?1, ?2, ?3)
             ON CONFLICT(case_id) DO UPDATE SET upto_seq = excluded.upto_seq, body = excluded.body",
            params![&case[..], upto_seq as i64, body],
        )?;
        tx.execute(
            "DELETE FROM case_chunk WHERE case_id = ?1 AND seq <= ?2",
            params![&case[..], upto_seq as i64],
        )?;
        tx.execute(
            "UPDATE cases SET chunk_bytes = 0 WHERE case_id = ?1",
            [&case[..]],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Overwrites and deletes every row (secure_delete zeroes the freed pages)
    /// and checkpoints the WAL so no page of the old content remains in it.
    pub fn destroy_contents(&mut self) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("UPDATE meta SET value = zeroblob(length(value))", [])?;
        tx.execute("DELETE FROM case_chunk", [])?;
        tx.execute("DELETE FROM case_key", [])?;
        tx.execute("DELETE FROM sync_outbox", [])?;
        tx.execute("DELETE FROM sync_inbox", [])?;
        tx.execute("DELETE FROM draft", [])?;
        tx.execute("DELETE FROM pending_removal", [])?;
        tx.execute("DELETE FROM access_log", [])?;
        tx.execute("DELETE FROM safety_outbox", [])?;
        tx.execute("DELETE FROM case_snapshot", [])?;
        tx.execute("DELETE FROM cases", [])?;
        tx.execute("DELETE FROM meta", [])?;
        tx.commit()?;
        self.checkpoint()?;
        Ok(())
    }

    /// Copies the WAL into the main file and truncates the WAL.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    // ---- sync -----------------------------------------------------------

    /// Cases with local chunks not yet handed to sync.
    pub fn dirty_cases(&self) -> Result<Vec<[u8; 16]>> {
        self.ids("SELECT case_id FROM cases WHERE last_seq > synced_seq ORDER BY rowid")
    }

    /// The sealed heads last handed to sync, if any.
    pub fn synced_heads(&self, case: &[u8; 16]) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT synced_seq, synced_heads FROM cases WHERE case_id = ?1")?
            .query_row([&case[..]], |r| {
                Ok(r.get::<_, Option<Vec<u8>>>(1)?
                    .map(|h| (r.get::<_, i64>(0).unwrap_or(0) as u64, h)))
            })
            .optional()?
            .flatten())
    }

    /// Records what sync now covers of a case and, in the same transaction,
    /// queues uploads (client id, body) in the outbox.
    /// Records the heads handed to sync and queues their uploads, in one
    /// transaction. With `together`, the uploads share a group that
    /// [`Store::outbox`] never splits across two pushes.
    pub fn mark_synced(
        &mut self,
        case: &[u8; 16],
        synced_seq: u64,
        sealed_heads: &[u8],
        outbox: &[([u8; 16], Vec<u8>)],
        together: bool,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "UPDATE cases SET synced_seq = ?2, synced_heads = ?3 WHERE case_id = ?1",
        )?
        .execute(params![&case[..], synced_seq as i64, sealed_heads])?;
        let mut grp: Option<i64> = None;
        for (client_id, body) in outbox {
            tx.prepare_cached(
                "INSERT INTO sync_outbox(client_id, case_id, body, grp) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&client_id[..], &case[..], body, grp])?;
            if together && grp.is_none() {
                let id = tx.last_insert_rowid();
                tx.prepare_cached("UPDATE sync_outbox SET grp = ?1 WHERE id = ?1")?
                    .execute([id])?;
                grp = Some(id);
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Queued uploads in order: (row id, body), up to about `max_bytes` —
    /// but a group (a case's first change and its envelopes) is never split.
    pub fn outbox(&self, max_bytes: usize) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, body, grp FROM sync_outbox WHERE stale = 0 ORDER BY id")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut last_grp: Option<i64> = None;
        while let Some(r) = rows.next()? {
            let body: Vec<u8> = r.get(1)?;
            let grp: Option<i64> = r.get(2)?;
            let same_group = grp.is_some() && grp == last_grp;
            if !out.is_empty() && bytes + body.len() > max_bytes && !same_group {
                break;
            }
            bytes += body.len();
            last_grp = grp;
            out.push((r.get(0)?, body));
        }
        Ok(out)
    }

    /// Every case key an envelope offered for (case, epoch), by sealer.
    pub fn key_candidates(&self, case: &[u8; 16], epoch: u32) -> Result<Vec<([u8; 16], Vec<u8>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT sealed_by, wrapped FROM case_key_candidate WHERE case_id = ?1 AND epoch = ?2",
        )?;
        let rows = stmt.query_map(params![&case[..], epoch], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (by, wrapped) = row?;
            if let Ok(by) = <[u8; 16]>::try_from(by.as_slice()) {
                out.push((by, wrapped));
            }
        }
        Ok(out)
    }

    pub fn put_key_candidate(
        &mut self,
        case: &[u8; 16],
        epoch: u32,
        sealed_by: &[u8; 16],
        wrapped: &[u8],
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO case_key_candidate(case_id, epoch, sealed_by, wrapped)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&case[..], epoch, &sealed_by[..], wrapped])?;
        Ok(())
    }

    /// Makes one candidate the case key. The other candidates are kept: a
    /// change that does not open under the confirmed key is tried with them.
    pub fn confirm_case_key(&mut self, case: &[u8; 16], epoch: u32, wrapped: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO case_key(case_id, epoch, wrapped) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![&case[..], epoch, wrapped])?;
        Ok(())
    }

    /// Quarantines a received item (idempotent by its server sequence).
    /// See [`RejectionRow`] for what is listed back.
    pub fn reject(
        &mut self,
        seq: u64,
        case: &[u8; 16],
        signer: &[u8; 16],
        reason: &str,
        at: i64,
        sealed_body: &[u8],
    ) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO sync_rejected(seq, case_id, signer, reason, at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                seq as i64,
                &case[..],
                &signer[..],
                reason,
                at,
                sealed_body
            ])?
            > 0)
    }

    /// Quarantined items not yet reported: (seq, case, signer, reason).
    pub fn unreported_rejections(&self) -> Result<Vec<RejectionRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, case_id, signer, reason FROM sync_rejected WHERE reported = 0 ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, case, signer, reason) = row?;
            if let (Ok(case), Ok(signer)) = (
                <[u8; 16]>::try_from(case.as_slice()),
                <[u8; 16]>::try_from(signer.as_slice()),
            ) {
                out.push((seq.max(0) as u64, case, signer, reason));
            }
        }
        Ok(out)
    }

    pub fn mark_rejections_reported(&mut self, seqs: &[u64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for seq in seqs {
            tx.prepare_cached("UPDATE sync_rejected SET reported = 1 WHERE seq = ?1")?
                .execute([*seq as i64])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Cases with quarantined items.
    pub fn rejected_cases(&self) -> Result<Vec<[u8; 16]>> {
        self.ids("SELECT DISTINCT case_id FROM sync_rejected")
    }

    pub fn outbox_len(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM sync_outbox WHERE stale = 0",
                [],
                |r| r.get::<_, i64>(0),
            )?
            .max(0) as u64)
    }

    /// Cases with uploads still queued.
    pub fn outbox_cases(&self) -> Result<Vec<[u8; 16]>> {
        self.ids("SELECT DISTINCT case_id FROM sync_outbox")
    }

    /// Drops acknowledged uploads.
    pub fn outbox_delete(&mut self, ids: &[i64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.prepare_cached("DELETE FROM sync_outbox WHERE id = ?1")?
                .execute([id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Uploads the server refused as sealed under a replaced epoch: they
    /// wait (not sent) until sealed again.
    pub fn mark_outbox_stale(&mut self, ids: &[i64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.prepare_cached("UPDATE sync_outbox SET stale = 1 WHERE id = ?1")?
                .execute([id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stale uploads: (row id, body).
    pub fn stale_outbox(&self) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, body FROM sync_outbox WHERE stale = 1 ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A stale upload sealed again: it goes with the next push, in its place.
    pub fn reseal_outbox(&mut self, id: i64, body: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sync_outbox SET body = ?2, stale = 0 WHERE id = ?1")?
            .execute(params![id, body])?;
        Ok(())
    }

    /// The case's read cache, only if it is as of the case's last chunk:
    /// (upto_seq, sealed body).
    pub fn current_read_cache(&self, case: &[u8; 16]) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT r.upto_seq, r.body FROM case_read_cache r JOIN cases c ON c.case_id = r.case_id
                 WHERE r.case_id = ?1 AND r.upto_seq = c.last_seq",
            )?
            .query_row([&case[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Whether the case's read cache is as of its last chunk.
    pub fn read_cache_is_current(&self, case: &[u8; 16]) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM case_read_cache r JOIN cases c ON c.case_id = r.case_id
                 WHERE r.case_id = ?1 AND r.upto_seq = c.last_seq",
            )?
            .query_row([&case[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn put_read_cache(&mut self, case: &[u8; 16], upto: u64, body: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO case_read_cache(case_id, upto_seq, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![&case[..], upto, body])?;
        Ok(())
    }

    /// The newest epoch whose key this device holds for the case.
    pub fn current_epoch(&self, case: &[u8; 16]) -> Result<Option<u32>> {
        Ok(self
            .conn
            .prepare_cached("SELECT MAX(epoch) FROM case_key WHERE case_id = ?1")?
            .query_row([&case[..]], |r| r.get::<_, Option<u32>>(0))?)
    }

    /// The key a given device offered for (case, epoch), if any.
    pub fn key_candidate(
        &self,
        case: &[u8; 16],
        epoch: u32,
        sealed_by: &[u8; 16],
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT wrapped FROM case_key_candidate
                 WHERE case_id = ?1 AND epoch = ?2 AND sealed_by = ?3",
            )?
            .query_row(params![&case[..], epoch, &sealed_by[..]], |r| r.get(0))
            .optional()?)
    }

    pub fn delete_key_candidate(
        &mut self,
        case: &[u8; 16],
        epoch: u32,
        sealed_by: &[u8; 16],
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "DELETE FROM case_key_candidate WHERE case_id = ?1 AND epoch = ?2 AND sealed_by = ?3",
            )?
            .execute(params![&case[..], epoch, &sealed_by[..]])?;
        Ok(())
    }

    pub fn case_key(&self, case: &[u8; 16], epoch: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT wrapped FROM case_key WHERE case_id = ?1 AND epoch = ?2")?
            .query_row(params![&case[..], epoch], |r| r.get(0))
            .optional()?)
    }

    pub fn put_case_key(&mut self, case: &[u8; 16], epoch: u32, wrapped: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO case_key(case_id, epoch, wrapped) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![&case[..], epoch, wrapped])?;
        Ok(())
    }

    /// Keeps a received change whose case key has not arrived yet.
    pub fn inbox_put(&mut self, seq: u64, case: &[u8; 16], body: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO sync_inbox(seq, case_id, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![seq as i64, &case[..], body])?;
        Ok(())
    }

    pub fn inbox_for(&self, case: &[u8; 16]) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, body FROM sync_inbox WHERE case_id = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([&case[..]], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn inbox_delete(&mut self, seqs: &[u64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for s in seqs {
            tx.prepare_cached("DELETE FROM sync_inbox WHERE seq = ?1")?
                .execute([*s as i64])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Cases with received changes waiting in the inbox.
    pub fn inbox_case_ids(&self) -> Result<Vec<[u8; 16]>> {
        self.ids("SELECT DISTINCT case_id FROM sync_inbox")
    }

    // ---- removal (case transferred away) -----------------------------------

    /// Queued uploads of one case.
    pub fn outbox_has(&self, case: &[u8; 16]) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM sync_outbox WHERE case_id = ?1 LIMIT 1")?
            .exists([&case[..]])?)
    }

    /// Local chunks of one case not yet handed to sync.
    pub fn case_dirty(&self, case: &[u8; 16]) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM cases WHERE case_id = ?1 AND last_seq > synced_seq")?
            .exists([&case[..]])?)
    }

    /// Remembers that a case is to be removed once its uploads are through.
    pub fn add_pending_removal(&mut self, case: &[u8; 16]) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO pending_removal(case_id) VALUES (?1)")?
            .execute([&case[..]])?;
        Ok(())
    }

    /// Forgets a pending removal (the server gave the case back).
    pub fn cancel_pending_removal(&mut self, case: &[u8; 16]) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM pending_removal WHERE case_id = ?1")?
            .execute([&case[..]])?
            > 0)
    }

    /// Whether a case has an unsubmitted contact form on this device.
    pub fn has_drafts(&self, case: &[u8; 16]) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM draft WHERE case_id = ?1 LIMIT 1")?
            .exists([&case[..]])?)
    }

    /// The server's log was restored (see `Vault::check_log_id`): in one
    /// transaction the cursor and what was kept about the old log go, every
    /// case whose key is here is marked to be uploaded whole, and the new
    /// log id is recorded.
    pub fn restart_from_restored_log(&mut self, log_id: &[u8]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for sql in [
            "DELETE FROM meta WHERE key IN ('sync_cursor', 'last_ack_seq')",
            "DELETE FROM sync_inbox",
            "DELETE FROM server_history",
            "UPDATE cases SET synced_seq = -1, synced_heads = NULL
             WHERE case_id IN (SELECT case_id FROM case_key)",
        ] {
            tx.execute(sql, [])?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_log_id', ?1)",
            [log_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Adds `n` changes to a case's history on the server as this device
    /// knows it; `restart`: the history started again (a whole document).
    pub fn note_server_history(&mut self, case: &[u8; 16], n: i64, restart: bool) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO server_history (case_id, items) VALUES (?1, ?2)
                 ON CONFLICT (case_id) DO UPDATE SET
                   items = CASE WHEN ?3 THEN ?2 ELSE items + ?2 END",
            )?
            .execute(params![&case[..], n, restart])?;
        Ok(())
    }

    /// Cases with at least `at_least` changes in their server history.
    pub fn long_server_histories(&self, at_least: i64) -> Result<Vec<[u8; 16]>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT case_id FROM server_history WHERE items >= ?1")?;
        let rows = stmt.query_map([at_least], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            if let Ok(id) = <[u8; 16]>::try_from(row?) {
                out.push(id);
            }
        }
        Ok(out)
    }

    pub fn pending_removals(&self) -> Result<Vec<[u8; 16]>> {
        self.ids("SELECT case_id FROM pending_removal ORDER BY rowid")
    }

    /// Deletes everything this device holds of a case — its row (with the
    /// synced heads), snapshot, chunks, keys, drafts, received changes
    /// waiting in the inbox and any pending removal — in one transaction.
    /// Queued uploads are left alone: the caller removes a case only once
    /// none are left.
    pub fn delete_case(&mut self, case: &[u8; 16]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for sql in [
            "DELETE FROM case_chunk WHERE case_id = ?1",
            "DELETE FROM case_snapshot WHERE case_id = ?1",
            "DELETE FROM case_key WHERE case_id = ?1",
            // Not the drafts of a case being opened (the all-zero id).
            "DELETE FROM draft WHERE case_id = ?1 AND case_id <> zeroblob(16)",
            "DELETE FROM sync_inbox WHERE case_id = ?1",
            "DELETE FROM pending_removal WHERE case_id = ?1",
            "DELETE FROM case_key_candidate WHERE case_id = ?1",
            "DELETE FROM sync_rejected WHERE case_id = ?1 AND reported = 1",
            "DELETE FROM case_summary WHERE case_id = ?1",
            "DELETE FROM case_read_cache WHERE case_id = ?1",
            "DELETE FROM server_history WHERE case_id = ?1",
            "DELETE FROM cases WHERE case_id = ?1",
        ] {
            tx.execute(sql, [&case[..]])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes meta rows, overwriting their values first (key material).
    pub fn meta_delete(&mut self, keys: &[&str]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for key in keys {
            tx.execute(
                "UPDATE meta SET value = zeroblob(length(value)) WHERE key = ?1",
                [key],
            )?;
            tx.execute("DELETE FROM meta WHERE key = ?1", [key])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The 16-byte ids a one-column query returns (rows of another size,
    /// which this code never writes, are skipped).
    fn ids(&self, sql: &str) -> Result<Vec<[u8; 16]>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            if let Ok(id) = <[u8; 16]>::try_from(row?) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Cases waiting for a key in the inbox.
    pub fn inbox_cases(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(DISTINCT case_id) FROM sync_inbox", [], |r| {
                r.get::<_, i64>(0)
            })?
            .max(0) as u64)
    }

    // ---- drafts ----------------------------------------------------------

    pub fn put_draft(
        &mut self,
        draft: &[u8; 16],
        case: &[u8; 16],
        updated_at: i64,
        body: &[u8],
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO draft(draft_id, case_id, updated_at, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(draft_id) DO UPDATE SET case_id = excluded.case_id,
                    updated_at = excluded.updated_at, body = excluded.body",
            )?
            .execute(params![&draft[..], &case[..], updated_at, body])?;
        Ok(())
    }

    /// Every draft, newest first.
    pub fn drafts(&self) -> Result<Vec<StoredDraft>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT draft_id, case_id, updated_at, body FROM draft ORDER BY updated_at DESC, rowid DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (d, c, at, body) = row?;
            if let (Ok(d), Ok(c)) = (<[u8; 16]>::try_from(d), <[u8; 16]>::try_from(c)) {
                out.push((d, c, at, body));
            }
        }
        Ok(out)
    }

    pub fn draft(&self, draft: &[u8; 16]) -> Result<Option<([u8; 16], Vec<u8>)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT case_id, body FROM draft WHERE draft_id = ?1")?
            .query_row([&draft[..]], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()?
            .and_then(|(c, b)| <[u8; 16]>::try_from(c).ok().map(|c| (c, b))))
    }

    pub fn delete_draft(&mut self, draft: &[u8; 16]) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM draft WHERE draft_id = ?1")?
            .execute([&draft[..]])?
            > 0)
    }

    /// Access for tests, benchmarks and diagnostics (`PRAGMA integrity_check`).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}
