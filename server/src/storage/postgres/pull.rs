//! Pulls, each read on one snapshot: a page of the log after a device's
//! cursor, grants expanded, envelopes addressed to it; the envelope needs
//! and rotations due on the last page. The same queries as the SQLite
//! backend's `pull.rs`, but for round trips. Most pulls are answered by one
//! statement ([`pull_at_once`], its own snapshot, shared with the pulls that
//! arrived with it); a page that needs more —
//! a grant to expand, more than a batch, a rotation due, a safety list — is
//! read in a repeatable-read, read-only transaction, where a first
//! statement ([`head`]) says which of the last page's lists can have
//! anything and a page's bodies are read with their signers, a chunk at a
//! time.

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
        "WITH readable AS ({}) {}",
        readable_cases(1, 2, 3),
        listing(5, 4)
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

/// A page's listing after the cursor, as SQL over a `readable` CTE (the
/// cases the user may read), with the device at `$d` and the cursor at
/// `$c`: sequence number, kind, case and body size of at most a batch of
/// items, in log order. One index seek per readable case (LATERAL: the
/// planner may not choose instead to walk the whole log after the cursor
/// and hash it against the readable cases, which costs what the
/// organisation wrote, not what the device may read).
fn listing(d: u8, c: u8) -> String {
    format!(
        "SELECT l.seq, l.kind, l.case_id, l.len FROM readable r CROSS JOIN LATERAL (
             SELECT seq, kind, case_id, octet_length(body)::bigint AS len FROM log
             WHERE case_id = r.case_id AND seq > ${c} AND kind = 0 AND device_id <> ${d}
             ORDER BY seq LIMIT {PULL_BATCH}) l
         UNION ALL
         SELECT seq, kind, case_id, octet_length(body)::bigint FROM log
           WHERE target = ${d} AND seq > ${c}
             AND (kind IN (3, 4) OR ((kind = 2 OR (kind = 1 AND device_id <> ${d}))
                               AND case_id IN (SELECT case_id FROM readable)))
         ORDER BY 1 LIMIT {PULL_BATCH}"
    )
}

/// The author of the log item `l` — a change's or an envelope's; grants
/// and notices have none — as seven columns (device, signing key, user,
/// name, role, team, revoked) of `s`: one index lookup per item (as a plain
/// join, the generic plan hashed every device of the organisation on each
/// call: 1 ms with 1,000 devices).
const SIGNER_OF_ITEM: &str = "LEFT JOIN LATERAL (
     SELECT d.device_id, d.sign_pk, u.user_id, u.name, u.role, u.team, d.revoked_at
     FROM devices d JOIN users u ON u.user_id = d.user_id
     WHERE l.kind IN (0, 1) AND d.device_id = l.device_id LIMIT 1) s ON TRUE";

/// Notes the signer in `r`'s columns `at..at + 7` (see [`SIGNER_OF_ITEM`]),
/// once per device; an author whose row is gone is not listed.
fn note_signer(signers: &mut BTreeMap<Id, Signer>, r: &postgres::Row, at: usize) -> Result<()> {
    let Some(signer) = r.try_get::<_, Option<Vec<u8>>>(at)? else {
        return Ok(());
    };
    let signer = id(signer)?;
    if let Entry::Vacant(new) = signers.entry(signer) {
        new.insert(Signer {
            device_id: signer,
            sign_pk: key32(r.try_get(at + 1)?)?,
            user_id: id(r.try_get(at + 2)?)?,
            user_name: r.try_get(at + 3)?,
            role: role(&r.try_get::<_, String>(at + 4)?)?,
            team: r.try_get(at + 5)?,
            revoked_at: r.try_get(at + 6)?,
        });
    }
    Ok(())
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
            &format!(
                "SELECT l.seq, l.kind, l.body, s.* FROM log l {SIGNER_OF_ITEM}
                 WHERE l.seq = ANY($1)"
            ),
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
            note_signer(&mut self.signers, r, 3)?;
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
        &needs_query(1, 2, &readable_cases(3, 4, 5)),
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

/// The envelope needs a device is asked to meet, as SQL (see
/// [`envelope_needs`]), with the device and the recovery recipient at
/// parameters `$d` and `$rec`, for the cases `readable` lists (SQL with a
/// `case_id` column); columns case, epoch, recipient, public key, in that
/// order.
fn needs_query(d: u8, rec: u8, readable: &str) -> String {
    format!(
        "SELECT n.case_id, n.epoch, n.recipient, n.kex_pk
         FROM ({}) r CROSS JOIN LATERAL (
             SELECT n.case_id, n.epoch, n.recipient, COALESCE(d.kex_pk, o.recovery_pk) AS kex_pk
             FROM envelope_needs n
             LEFT JOIN devices d ON d.device_id = n.recipient AND d.revoked_at IS NULL
             JOIN org o ON o.id = 1
             WHERE n.case_id = r.case_id
               AND n.recipient <> ${d} AND (d.device_id IS NOT NULL OR n.recipient = ${rec})
               AND (EXISTS (SELECT 1 FROM case_epochs ce WHERE ce.case_id = n.case_id
                              AND ce.epoch = n.epoch AND ce.device_id = ${d})
                    OR (n.recipient <> ${rec} AND EXISTS (
                        SELECT 1 FROM log k WHERE k.kind = 1 AND k.case_id = n.case_id
                          AND k.epoch = n.epoch AND k.target = ${d} AND k.device_id <> ${d})))
             OFFSET 0) n
         ORDER BY n.case_id, n.epoch, n.recipient
         LIMIT 1000",
        readable
    )
}

/// A pull for [`pull_at_once`]: the device, where it is and its budget,
/// and the time it asked.
pub(super) struct Ask {
    pub device: Device,
    pub cursor: Cursor,
    pub max_bytes: u32,
    pub now: i64,
}

/// A pull's page and whether it passes a removal notice, or `None` if the
/// full path must answer it.
pub(super) type Answer = Result<Option<(Vec<u8>, bool)>>;

/// Pulls answered by one statement, outside any transaction (a statement
/// is its own snapshot): for each, the device's liveness and the last
/// page's flags, the page's items with their bodies and signers, and the
/// envelope needs. `None` for a pull whose page needs more than that — a
/// grant to expand, a page past [`PULL_BATCH`] items, a continued grant, a
/// rotation due, a safety list — and then [`pull_page`] answers it, in a
/// transaction. The statement decides that itself and then reads no
/// bodies. The answers are in the order of `asks`.
///
/// Why: a herd pull was five to six statements, each a round trip that
/// wakes a backend and a server thread (about 84 µs of CPU between them,
/// measured), and one in two requests is a pull; and then, as one
/// statement each, most of a pull's cost was starting that statement
/// (see the pull threads, `run_puller`), so the pulls that arrive together
/// are one statement.
pub(super) fn pull_at_once(conn: &mut super::PgConn, asks: &[Ask]) -> Vec<Answer> {
    // A continued grant is the full path's; the rest are asked, numbered
    // from 1 in the statement (its `k`).
    let asked: Vec<usize> = (0..asks.len())
        .filter(|&i| asks[i].cursor.sub == 0)
        .collect();
    let mut answers: Vec<Answer> = asks.iter().map(|_| Ok(None)).collect();
    if asked.is_empty() {
        return answers;
    }
    let column =
        |f: &dyn Fn(&Ask) -> i64| -> Vec<i64> { asked.iter().map(|&i| f(&asks[i])).collect() };
    let devices: Vec<&[u8]> = asked
        .iter()
        .map(|&i| &asks[i].device.device_id[..])
        .collect();
    let users: Vec<&[u8]> = asked
        .iter()
        .map(|&i| &asks[i].device.user.user_id[..])
        .collect();
    let roles: Vec<&str> = asked
        .iter()
        .map(|&i| asks[i].device.user.role.as_str())
        .collect();
    let teams: Vec<Option<&str>> = asked
        .iter()
        .map(|&i| asks[i].device.user.team.as_deref())
        .collect();
    let cursors = column(&|a| a.cursor.seq as i64);
    let since = column(&|a| safety::acked_listed_since(a.now));
    let budgets = column(&|a| i64::from(a.max_bytes.clamp(1024, proto::MAX_PULL_BYTES)));
    let rows = match conn.query_alone(
        &PULL_AT_ONCE,
        &[
            &devices,
            &cursors,
            &users,
            &roles,
            &teams,
            &since,
            &budgets,
            &&RECOVERY_RECIPIENT[..],
        ],
    ) {
        Ok(rows) => rows,
        Err(e) => {
            for &i in &asked {
                answers[i] = Err(e.clone());
            }
            return answers;
        }
    };
    // Rows come a pull at a time (`k`, the last column), each pull's head
    // row first; a pull with no rows is a device that is not known.
    let mut rest = &rows[..];
    for (k, &i) in asked.iter().enumerate() {
        let k = k as i64 + 1;
        let n = rest
            .iter()
            .take_while(|r| r.try_get::<_, i64>(K).is_ok_and(|rk| rk == k))
            .count();
        let (mine, after) = rest.split_at(n);
        rest = after;
        answers[i] = answer(mine, asks[i].cursor);
    }
    if !rest.is_empty() {
        // A row out of order or of no pull: none of the answers is trusted.
        for &i in &asked {
            answers[i] = Err(StorageError::Corrupt);
        }
    }
    answers
}

/// The column of [`PULL_AT_ONCE`]'s rows that says which pull they answer.
const K: usize = 17;

/// One pull's page from its rows of [`PULL_AT_ONCE`].
fn answer(rows: &[postgres::Row], cursor: Cursor) -> Answer {
    // The head's row comes first (no sequence number); none if the device
    // is unknown.
    let head = match rows.first() {
        Some(r) if r.try_get::<_, Option<i64>>(8)?.is_none() => r,
        _ => {
            rules::check_live(None)?;
            return Err(StorageError::Corrupt);
        }
    };
    rules::check_live(Some(head.try_get::<_, Option<bool>>(0)?.unwrap_or(false)))?;
    if !head.try_get::<_, Option<bool>>(3)?.unwrap_or(false) {
        return Ok(None);
    }
    let passes_removal = head.try_get::<_, Option<bool>>(1)?.unwrap_or(false);
    let log_id = head
        .try_get::<_, Option<Vec<u8>>>(2)?
        .map(id)
        .transpose()?
        .unwrap_or_default();
    let mut writer = PageWriter::new();
    let mut signers: BTreeMap<Id, Signer> = BTreeMap::new();
    let mut next = cursor;
    let mut more = false;
    for r in &rows[1..] {
        let Some(seq) = r.try_get::<_, Option<i64>>(8)? else {
            return Err(StorageError::Corrupt);
        };
        let seq = seq as u64;
        // Past the budget (the first item always fits): the page ends.
        let Some(body) = r.try_get::<_, Option<&[u8]>>(9)? else {
            more = true;
            break;
        };
        next = Cursor { seq, sub: 0 };
        if !proto::item_is_well_formed(body) {
            tracing::error!(seq, "a stored log item is damaged: left out of the page");
            continue;
        }
        writer.push(seq, body);
        note_signer(&mut signers, r, 10)?;
    }
    let needs = if more {
        Vec::new()
    } else {
        let cases: Option<Vec<Vec<u8>>> = head.try_get(4)?;
        let epochs: Option<Vec<i64>> = head.try_get(5)?;
        let recipients: Option<Vec<Vec<u8>>> = head.try_get(6)?;
        let pks: Option<Vec<Vec<u8>>> = head.try_get(7)?;
        let (cases, epochs, recipients, pks) = (
            cases.unwrap_or_default(),
            epochs.unwrap_or_default(),
            recipients.unwrap_or_default(),
            pks.unwrap_or_default(),
        );
        if epochs.len() != cases.len()
            || recipients.len() != cases.len()
            || pks.len() != cases.len()
        {
            return Err(StorageError::Corrupt);
        }
        cases
            .into_iter()
            .zip(epochs)
            .zip(recipients.into_iter().zip(pks))
            .map(|((case, epoch), (recipient, pk))| {
                Ok(EnvelopeNeed {
                    case_id: id(case)?,
                    epoch: epoch as u32,
                    recipient: id(recipient)?,
                    kex_pk: key32(pk)?,
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    let signers: Vec<Signer> = signers.into_values().collect();
    let page = writer.finish(&proto::PageTail {
        signers: &signers,
        needs: &needs,
        next,
        more,
        rotations: &[],
        safety: &proto::SafetyState::default(),
        log_id: &log_id,
    });
    Ok(Some((page, passes_removal)))
}

/// [`pull_at_once`]'s statement: for each pull, the statement that answers
/// it alone (its parameters as below), joined laterally to the pull's row
/// of the arrays. Parameters: the pulls' devices, cursors, users, roles,
/// teams, times alerts are listed since and budgets, as seven arrays; the
/// recovery recipient. A pull's first row is its head (columns 0–7: live,
/// passes a removal, log id, whether this statement answers the pull, the
/// needs as four arrays — only when this is the last page); then, if it
/// answers, the page's items in log order (8–16: seq, body if it fits,
/// signer); column 17 ([`K`]) numbers the pull from 1. The same queries as
/// [`head`], [`pull_page`]'s listing, a page's bodies and
/// [`envelope_needs`].
static PULL_AT_ONCE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let readable = readable_cases(3, 4, 5);
    let one = format!(
        "WITH readable AS ({readable}),
         items AS ({listing}),
         sized AS (
             SELECT items.*, (sum(len) OVER (ORDER BY seq))::bigint AS upto,
                    row_number() OVER (ORDER BY seq) AS n
             FROM items),
         head(live, passes_removal, log_id, answers, last) AS (
             SELECT d.revoked_at IS NULL,
                    EXISTS (SELECT 1 FROM log l WHERE l.target = d.device_id AND l.kind = 3
                              AND l.seq > d.pulled_seq AND l.seq <= $2),
                    (SELECT log_id FROM org WHERE id = 1),
                    -- Nothing the full path must do: no grant, at most a
                    -- batch, no rotation due, no safety list.
                    NOT (EXISTS (SELECT 1 FROM cases c WHERE c.rotate_due
                                   AND c.case_id IN (SELECT case_id FROM readable))
                         OR (SELECT count(*) FROM sized) >= {PULL_BATCH}
                         OR EXISTS (SELECT 1 FROM sized WHERE kind = 2)
                         OR {safety_any}),
                    NOT EXISTS (SELECT 1 FROM sized WHERE upto > $8 AND n > 1)
             FROM devices d WHERE d.device_id = $1),
         needs AS (
             SELECT array_agg(n.case_id ORDER BY n.case_id, n.epoch, n.recipient) AS cases,
                    array_agg(n.epoch ORDER BY n.case_id, n.epoch, n.recipient) AS epochs,
                    array_agg(n.recipient ORDER BY n.case_id, n.epoch, n.recipient) AS recipients,
                    array_agg(n.kex_pk ORDER BY n.case_id, n.epoch, n.recipient) AS pks
             FROM ({needs}) n
             WHERE EXISTS (SELECT 1 FROM envelope_needs)
               AND (SELECT live AND answers AND last FROM head))
         SELECT h.live, h.passes_removal, h.log_id, h.answers,
                nd.cases, nd.epochs, nd.recipients, nd.pks,
                NULL::bigint AS seq, NULL::bytea, NULL::bytea, NULL::bytea, NULL::bytea, NULL::text,
                NULL::text, NULL::text, NULL::bigint
         FROM head h CROSS JOIN needs nd
         UNION ALL
         SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                i.seq,
                CASE WHEN i.upto <= $8::bigint OR i.n = 1 THEN l.body END,
                s.device_id, s.sign_pk, s.user_id, s.name, s.role, s.team, s.revoked_at
         FROM sized i
         JOIN log l ON l.seq = i.seq
         {SIGNER_OF_ITEM}
         WHERE (SELECT live AND answers FROM head)",
        listing = listing(1, 2),
        safety_any = safety::listed_any(3, 4, 5, 6),
        // The cases of the statement's `readable`, not computed again.
        needs = needs_query(1, 7, "SELECT case_id FROM readable"),
    );
    // Written for one pull with parameters $1–$8; each pull's own value
    // then comes from its row `q`, the recovery recipient stays a parameter.
    let one = per_row(
        &one,
        &[
            (1, "q.device"),
            (2, "q.cursor"),
            (3, "q.user_id"),
            (4, "q.role"),
            (5, "q.team"),
            (6, "q.since"),
            (7, "$8"),
            (8, "q.budget"),
        ],
    );
    format!(
        "SELECT p.*, q.k FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::text[],
                                    $5::text[], $6::bigint[], $7::bigint[])
                           WITH ORDINALITY AS q(device, cursor, user_id, role, team, since, budget, k)
         CROSS JOIN LATERAL ({one}) p
         ORDER BY q.k, p.seq NULLS FIRST"
    )
});

/// `sql` with each parameter `$n` named in `values` replaced by its value
/// (an SQL expression); other parameters are left as they are. One pass, so
/// a value may itself name a parameter.
fn per_row(sql: &str, values: &[(u32, &str)]) -> String {
    let mut out = String::with_capacity(sql.len() + 256);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let number = rest[at + 1..at + 1 + digits].parse::<u32>().ok();
        match number.and_then(|n| values.iter().find(|(p, _)| *p == n)) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[at..at + 1 + digits]),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    out
}
