//! Pulls, read on one snapshot (a repeatable-read, read-only transaction):
//! a page of the log after a device's cursor, grants expanded, envelopes
//! addressed to it; the envelope needs and rotations due on the last page.
//! The same queries as the SQLite backend's `pull.rs`, but for round trips:
//! a first statement ([`head`]) says which of the last page's lists can
//! have anything, and a page's bodies are read with their signers, a chunk
//! at a time.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use outreach_protocol::{
    self as proto, Cursor, EnvelopeNeed, Id, PageWriter, RECOVERY_RECIPIENT, Recipient,
    RotationDue, Signer,
};

use super::push::holds_key;
use super::{
    KIND_GRANT, PULL_BATCH, Tx, authorised_devices, id, key32, may_read, readable_cases, role,
    rules, safety,
};
use crate::storage::{Device, Result, StorageError};

/// One page of a pull.
pub(super) fn pull_page(
    tx: &Tx,
    device: &Device,
    cursor: Cursor,
    max_bytes: u32,
    head: &Head,
) -> Result<Vec<u8>> {
    let budget = max_bytes.clamp(1024, proto::MAX_PULL_BYTES) as usize;
    let user = &device.user;
    let mut page = Page::new(budget);
    let mut next = cursor;
    if cursor.sub > 0 {
        let case = tx
            .opt(
                "SELECT case_id FROM log WHERE seq = $1 AND kind = 2 AND target = $2",
                &[&(cursor.seq as i64), &&device.device_id[..]],
            )?
            .map(|r| id(r.try_get(0)?))
            .transpose()?;
        let case = match case {
            Some(case) if may_read(tx, user, &case)? => Some(case),
            _ => None,
        };
        next = Cursor {
            seq: cursor.seq,
            sub: 0,
        };
        if let Some(case) = case
            && let Expansion::Partial(sub) = expand_grant(
                tx,
                &device.device_id,
                &case,
                cursor.seq,
                cursor.sub,
                &mut page,
            )?
        {
            next = Cursor {
                seq: cursor.seq,
                sub,
            };
            return page.finish(tx, device, head, next, true);
        }
    }
    // Sizes only: each body is read once it is known to fit.
    let sql = format!(
        // One index seek per readable case (LATERAL: the planner may not
        // choose instead to walk the whole log after the cursor and hash it
        // against the readable cases, which costs what the organisation
        // wrote, not what the device may read).
        "WITH readable AS ({})
         SELECT l.seq, l.kind, l.case_id, l.len FROM readable r CROSS JOIN LATERAL (
             SELECT seq, kind, case_id, octet_length(body)::bigint AS len FROM log
             WHERE case_id = r.case_id AND seq > $4 AND kind = 0 AND device_id <> $5
             ORDER BY seq LIMIT {PULL_BATCH}) l
         UNION ALL
         SELECT seq, kind, case_id, octet_length(body)::bigint FROM log
           WHERE target = $5 AND seq > $4
             AND (kind IN (3, 4) OR ((kind = 2 OR (kind = 1 AND device_id <> $5))
                               AND case_id IN (SELECT case_id FROM readable)))
         ORDER BY 1 LIMIT {PULL_BATCH}",
        readable_cases(1, 2, 3)
    );
    loop {
        let rows = tx.rows(
            &sql,
            &[
                &&user.user_id[..],
                &user.role.as_str(),
                &user.team,
                &(next.seq as i64),
                &&device.device_id[..],
            ],
        )?;
        let last_batch = rows.len() < PULL_BATCH;
        if rows.is_empty() {
            return page.finish(tx, device, head, next, false);
        }
        for r in rows {
            let seq = r.try_get::<_, i64>(0)? as u64;
            let kind: i64 = r.try_get(1)?;
            let len = r.try_get::<_, i64>(3)? as usize;
            if kind == KIND_GRANT {
                if !page.fits(1) {
                    return page.finish(tx, device, head, next, true);
                }
                let case = id(r.try_get(2)?)?;
                match expand_grant(tx, &device.device_id, &case, seq, 0, &mut page)? {
                    Expansion::Done => {}
                    Expansion::Partial(sub) => {
                        return page.finish(tx, device, head, Cursor { seq, sub }, true);
                    }
                    Expansion::NotStarted => return page.finish(tx, device, head, next, true),
                }
            } else {
                if !page.fits(len) {
                    return page.finish(tx, device, head, next, true);
                }
                page.push(seq, len);
            }
            next = Cursor { seq, sub: 0 };
        }
        if last_batch {
            return page.finish(tx, device, head, next, false);
        }
    }
}

/// What a pull learns in its first statement: one round trip where there
/// were four (measured in a PostgreSQL herd, every statement costs the two
/// processes about 84 µs of CPU together, most of it not the query).
pub(super) struct Head {
    /// Whether `cursor` passes a removal addressed to the device that it
    /// had not pulled past before.
    pub(super) passes_removal: bool,
    log_id: Id,
    /// Whether the envelope-need queue has any row at all (nearly always
    /// not).
    needs_queued: bool,
    /// Whether a case the user may read has a key change due.
    rotation_flagged: bool,
    safety: safety::Listed,
    now: i64,
}

/// [`check_live`] for a pull, with the facts its last page needs.
pub(super) fn head(tx: &Tx, device: &Device, cursor: Cursor, now: i64) -> Result<Head> {
    let user = &device.user;
    let row = tx.opt(
        &format!(
            "SELECT d.revoked_at IS NULL,
                    EXISTS (SELECT 1 FROM log l WHERE l.target = d.device_id AND l.kind = 3
                              AND l.seq > d.pulled_seq AND l.seq <= $2),
                    (SELECT log_id FROM org WHERE id = 1),
                    EXISTS (SELECT 1 FROM envelope_needs),
                    EXISTS (SELECT 1 FROM cases c WHERE c.rotate_due AND c.case_id IN ({})),
                    {}
             FROM devices d WHERE d.device_id = $1",
            readable_cases(3, 4, 5),
            safety::listed_columns(3, 4, 5, 6)
        ),
        &[
            &&device.device_id[..],
            &(cursor.seq as i64),
            &&user.user_id[..],
            &user.role.as_str(),
            &user.team,
            &safety::acked_listed_since(now),
        ],
    )?;
    let live = row.as_ref().map(|r| r.try_get(0)).transpose()?;
    rules::check_live(live)?;
    let Some(r) = row else {
        return Err(StorageError::Corrupt);
    };
    Ok(Head {
        passes_removal: r.try_get(1)?,
        log_id: r
            .try_get::<_, Option<Vec<u8>>>(2)?
            .map(id)
            .transpose()?
            .unwrap_or_default(),
        needs_queued: r.try_get(3)?,
        rotation_flagged: r.try_get(4)?,
        safety: safety::Listed {
            timers: r.try_get(5)?,
            alerts: r.try_get(6)?,
        },
        now,
    })
}

/// Cases whose key this device should change.
fn rotations_due(tx: &Tx, device: &Device, head: &Head) -> Result<Vec<RotationDue>> {
    if !head.rotation_flagged {
        return Ok(Vec::new());
    }
    let user = &device.user;
    let due = tx.rows(
        &format!(
            "SELECT c.case_id, c.epoch, c.team FROM cases c
             WHERE c.rotate_due AND c.case_id IN ({})
             ORDER BY c.case_id LIMIT 256",
            readable_cases(1, 2, 3)
        ),
        &[&&user.user_id[..], &user.role.as_str(), &user.team],
    )?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let recovery_pk = key32(
        tx.one("SELECT recovery_pk FROM org WHERE id = 1", &[])?
            .try_get(0)?,
    )?;
    let mut out = Vec::new();
    for r in due {
        if out.len() >= proto::MAX_ROTATIONS_PER_PULL {
            break;
        }
        let case = id(r.try_get(0)?)?;
        let epoch = r.try_get::<_, i64>(1)? as u32;
        let team: Option<String> = r.try_get(2)?;
        if !holds_key(tx, &case, epoch, &device.device_id)? {
            continue;
        }
        let mut recipients = vec![Recipient {
            device_id: RECOVERY_RECIPIENT,
            kex_pk: recovery_pk,
        }];
        for d in authorised_devices(tx, &case, team.as_deref())? {
            let pk = tx
                .one(
                    "SELECT kex_pk FROM devices WHERE device_id = $1",
                    &[&&d[..]],
                )?
                .try_get(0)?;
            recipients.push(Recipient {
                device_id: d,
                kex_pk: key32(pk)?,
            });
        }
        recipients.truncate(proto::MAX_ROTATE_ENVELOPES);
        out.push(RotationDue {
            case_id: case,
            epoch: epoch.saturating_add(1),
            recipients,
        });
    }
    Ok(out)
}

enum Expansion {
    Done,
    Partial(u64),
    NotStarted,
}

/// Adds the changes of `case` older than the grant at `grant_seq` (and
/// newer than `after`) to the page, with the envelopes addressed to the
/// device among them.
fn expand_grant(
    tx: &Tx,
    device: &Id,
    case: &Id,
    grant_seq: u64,
    after: u64,
    page: &mut Page,
) -> Result<Expansion> {
    let mut after = after;
    loop {
        let rows = tx.rows(
            &format!(
                "SELECT seq, octet_length(body)::bigint FROM log
                 WHERE case_id = $1 AND seq < $2 AND seq > $3
                   AND (kind = 0 OR (kind = 1 AND target = $4))
                 ORDER BY seq LIMIT {PULL_BATCH}"
            ),
            &[
                &&case[..],
                &(grant_seq as i64),
                &(after as i64),
                &&device[..],
            ],
        )?;
        let last_batch = rows.len() < PULL_BATCH;
        if rows.is_empty() {
            return Ok(Expansion::Done);
        }
        for r in rows {
            let seq = r.try_get::<_, i64>(0)? as u64;
            let len = r.try_get::<_, i64>(1)? as usize;
            if !page.fits(len) {
                return Ok(if after > 0 {
                    Expansion::Partial(after)
                } else {
                    Expansion::NotStarted
                });
            }
            page.push(seq, len);
            after = seq;
        }
        if last_batch {
            return Ok(Expansion::Done);
        }
    }
}

/// Bodies fetched in one statement, at most: so many items, or so many
/// bytes (an item larger than that comes alone). The rows of one statement
/// are held beside the page being written, so this bounds what a pull holds
/// above its budget.
const FETCH_CHUNK: usize = 256;
const FETCH_CHUNK_BYTES: usize = 256 * 1024;

/// A pull page under construction (see the SQLite backend's `Page`).
///
/// Unlike SQLite's, it reads the bodies that fit in one statement when the
/// page is finished, not one statement per item: over a network connection
/// each statement is a round trip (32,369 single-row reads in one herd run).
/// The page's order is the order items were added.
struct Page {
    budget: usize,
    writer: PageWriter,
    /// The signers of the items written, by device id (the order a page
    /// lists them in).
    signers: BTreeMap<Id, Signer>,
    /// Items known to fit (sequence number, body bytes), in page order, not
    /// read yet.
    pending: Vec<(u64, usize)>,
    /// Their bodies' bytes.
    pending_bytes: usize,
}

impl Page {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            writer: PageWriter::new(),
            signers: BTreeMap::new(),
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    fn fits(&self, len: usize) -> bool {
        (self.writer.entries() == 0 && self.pending.is_empty())
            || self
                .writer
                .item_bytes()
                .saturating_add(self.pending_bytes)
                .saturating_add(len)
                <= self.budget
    }

    /// Adds the item at `seq`, of `len` bytes, to the page.
    fn push(&mut self, seq: u64, len: usize) {
        self.pending.push((seq, len));
        self.pending_bytes = self.pending_bytes.saturating_add(len);
    }

    /// Reads the pending items' bodies and writes them in page order.
    fn flush(&mut self, tx: &Tx) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let mut rest = &pending[..];
        while !rest.is_empty() {
            let mut n = 0;
            let mut bytes = 0usize;
            while n < rest.len()
                && n < FETCH_CHUNK
                && (n == 0 || bytes.saturating_add(rest[n].1) <= FETCH_CHUNK_BYTES)
            {
                bytes = bytes.saturating_add(rest[n].1);
                n += 1;
            }
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            self.write_chunk(tx, chunk)?;
        }
        Ok(())
    }

    /// Writes a chunk's items, read with their signers in one statement
    /// (each signer's columns repeat on every item she signed; a page
    /// rarely has more than a few signers).
    fn write_chunk(&mut self, tx: &Tx, chunk: &[(u64, usize)]) -> Result<()> {
        let seqs: Vec<i64> = chunk.iter().map(|&(s, _)| s as i64).collect();
        let rows = tx.rows(
            // LATERAL … LIMIT 1: one index lookup per item. As a plain
            // join, the generic plan hashed every device of the
            // organisation on each call (1 ms with 1,000 devices).
            "SELECT l.seq, l.kind, l.body, s.device_id, s.sign_pk, s.user_id, s.name, s.role,
                    s.team, s.revoked_at
             FROM log l
             LEFT JOIN LATERAL (
                 SELECT d.device_id, d.sign_pk, u.user_id, u.name, u.role, u.team, d.revoked_at
                 FROM devices d JOIN users u ON u.user_id = d.user_id
                 WHERE l.kind IN (0, 1) AND d.device_id = l.device_id LIMIT 1) s ON TRUE
             WHERE l.seq = ANY($1)",
            &[&seqs],
        )?;
        let mut by_seq = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            by_seq.insert(r.try_get::<_, i64>(0)? as u64, r);
        }
        for &(seq, _) in chunk {
            // Read on the snapshot its size came from: a row missing now is
            // a damaged database, and skipping it would move the device's
            // cursor past an item it never got.
            let Some(r) = by_seq.get(&seq) else {
                tracing::error!(seq, "a log item listed in this pull's snapshot is missing");
                return Err(StorageError::Corrupt);
            };
            let body: &[u8] = r.try_get(2)?;
            if !proto::item_is_well_formed(body) {
                tracing::error!(seq, "a stored log item is damaged: left out of the page");
                continue;
            }
            self.writer.push(seq, body);
            // A change's or an envelope's author (grants and notices have
            // none); an author whose row is gone is not listed, as before.
            if let Some(signer) = r.try_get::<_, Option<Vec<u8>>>(3)? {
                let signer = id(signer)?;
                if let Entry::Vacant(new) = self.signers.entry(signer) {
                    new.insert(Signer {
                        device_id: signer,
                        sign_pk: key32(r.try_get(4)?)?,
                        user_id: id(r.try_get(5)?)?,
                        user_name: r.try_get(6)?,
                        role: role(&r.try_get::<_, String>(7)?)?,
                        team: r.try_get(8)?,
                        revoked_at: r.try_get(9)?,
                    });
                }
            }
        }
        Ok(())
    }

    fn finish(
        mut self,
        tx: &Tx,
        device: &Device,
        head: &Head,
        next: Cursor,
        more: bool,
    ) -> Result<Vec<u8>> {
        self.flush(tx)?;
        let signers: Vec<Signer> = std::mem::take(&mut self.signers).into_values().collect();
        let (needs, rotations) = if more {
            (Vec::new(), Vec::new())
        } else {
            (
                envelope_needs(tx, device, head)?,
                rotations_due(tx, device, head)?,
            )
        };
        let safety = safety::state_listing(tx, device, head.now, head.safety)?;
        let log_id = head.log_id;
        Ok(self.writer.finish(&proto::PageTail {
            signers: &signers,
            needs: &needs,
            next,
            more,
            rotations: &rotations,
            safety: &safety,
            log_id: &log_id,
        }))
    }
}

/// Recipients still lacking an envelope, for cases whose key this device holds.
fn envelope_needs(tx: &Tx, device: &Device, head: &Head) -> Result<Vec<EnvelopeNeed>> {
    if !head.needs_queued {
        return Ok(Vec::new());
    }
    let user = &device.user;
    // From the cases the user may read to the queue's rows for them (one
    // index seek per case, LATERAL so that the generic plan cannot hash the
    // whole queue instead), kept where the device holds the key: it started
    // the epoch, or another device sealed the key to it. The recovery
    // envelope only from the epoch's starter. What this reads grows with
    // the caseload, not with the keys a device was ever sealed.
    let rows = tx.rows(
        &format!(
            "SELECT n.case_id, n.epoch, n.recipient, n.kex_pk
             FROM ({}) r CROSS JOIN LATERAL (
                 SELECT n.case_id, n.epoch, n.recipient, COALESCE(d.kex_pk, o.recovery_pk) AS kex_pk
                 FROM envelope_needs n
                 LEFT JOIN devices d ON d.device_id = n.recipient AND d.revoked_at IS NULL
                 JOIN org o ON o.id = 1
                 WHERE n.case_id = r.case_id
                   AND n.recipient <> $1 AND (d.device_id IS NOT NULL OR n.recipient = $2)
                   AND (EXISTS (SELECT 1 FROM case_epochs ce WHERE ce.case_id = n.case_id
                                  AND ce.epoch = n.epoch AND ce.device_id = $1)
                        OR (n.recipient <> $2 AND EXISTS (
                            SELECT 1 FROM log k WHERE k.kind = 1 AND k.case_id = n.case_id
                              AND k.epoch = n.epoch AND k.target = $1 AND k.device_id <> $1)))
                 OFFSET 0) n
             ORDER BY n.case_id, n.epoch, n.recipient
             LIMIT 1000",
            readable_cases(3, 4, 5)
        ),
        &[
            &&device.device_id[..],
            &&RECOVERY_RECIPIENT[..],
            &&user.user_id[..],
            &user.role.as_str(),
            &user.team,
        ],
    )?;
    rows.iter()
        .map(|r| {
            Ok(EnvelopeNeed {
                case_id: id(r.try_get(0)?)?,
                epoch: r.try_get::<_, i64>(1)? as u32,
                recipient: id(r.try_get(2)?)?,
                kex_pk: key32(r.try_get(3)?)?,
            })
        })
        .collect()
}
