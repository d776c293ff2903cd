//! Pulls: a page of the log after a device's cursor (what it may read,
//! grants expanded, envelopes addressed to it), the envelope needs and the
//! rotations due it is asked for on the last page.

use super::*;

/// One page of a pull, read in the caller's read transaction.
pub(super) fn pull_page(
    tx: &Connection,
    device: &Device,
    cursor: Cursor,
    max_bytes: u32,
) -> Result<Vec<u8>> {
    let budget = max_bytes.clamp(1024, proto::MAX_PULL_BYTES) as usize;
    let user = &device.user;
    let mut page = Page::new(budget);
    let mut next = cursor;
    // Resume a grant being expanded.
    if cursor.sub > 0 {
        let case: Option<Vec<u8>> = tx
            .query_row(
                "SELECT case_id FROM log WHERE seq = ?1 AND kind = 2 AND target = ?2",
                params![cursor.seq, &device.device_id[..]],
                |r| r.get(0),
            )
            .optional()?;
        let case = case.map(id).transpose()?;
        // A case the device may no longer read is not delivered.
        let case = match case {
            Some(case) if may_read(tx, user, &case)? => Some(case),
            _ => None,
        };
        next = Cursor {
            seq: cursor.seq,
            sub: 0,
        };
        if let Some(case) = case {
            // The page is empty: the first item always fits.
            if let Expansion::Partial(sub) = expand_grant(
                tx,
                &device.device_id,
                &case,
                cursor.seq,
                cursor.sub,
                &mut page,
            )? {
                next = Cursor {
                    seq: cursor.seq,
                    sub,
                };
                return page.finish(tx, device, next, true);
            }
        }
    }
    // Sizes only: each body is read once it is known to fit.
    let mut stmt = tx.prepare_cached(&format!(
        // One index seek per readable case and one for what is
        // addressed to the device: the cost follows what the device
        // may read, not everything the organisation wrote.
        "WITH readable AS ({READABLE_CASES})
         SELECT l.seq, l.kind, l.case_id, length(l.body) FROM readable r
           JOIN log l ON l.case_id = r.case_id AND l.seq > ?4
           WHERE l.kind = 0 AND l.device_id != ?5
         UNION ALL
         SELECT seq, kind, case_id, length(body) FROM log
           WHERE target = ?5 AND seq > ?4
             AND (kind IN (3, 4) OR ((kind = 2 OR (kind = 1 AND device_id != ?5))
                               AND case_id IN (SELECT case_id FROM readable)))
         ORDER BY 1 LIMIT {PULL_BATCH}"
    ))?;
    loop {
        let rows: Vec<(u64, i64, Vec<u8>, usize)> = stmt
            .query_map(
                params![
                    &user.user_id[..],
                    user.role.as_str(),
                    user.team,
                    next.seq,
                    &device.device_id[..]
                ],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        // Fewer rows than the limit: this snapshot holds no more after them.
        let last_batch = rows.len() < PULL_BATCH;
        if rows.is_empty() {
            drop(stmt);
            return page.finish(tx, device, next, false);
        }
        for (seq, kind, case, len) in rows {
            if kind == KIND_GRANT {
                // A grant's body is empty; its items are sized one by one.
                if !page.fits(1) {
                    drop(stmt);
                    return page.finish(tx, device, next, true);
                }
                let case = id(case)?;
                match expand_grant(tx, &device.device_id, &case, seq, 0, &mut page)? {
                    Expansion::Done => {}
                    Expansion::Partial(sub) => {
                        drop(stmt);
                        return page.finish(tx, device, Cursor { seq, sub }, true);
                    }
                    Expansion::NotStarted => {
                        drop(stmt);
                        return page.finish(tx, device, next, true);
                    }
                }
            } else {
                if !page.fits(len) {
                    drop(stmt);
                    return page.finish(tx, device, next, true);
                }
                page.push(tx, seq)?;
            }
            next = Cursor { seq, sub: 0 };
        }
        if last_batch {
            drop(stmt);
            return page.finish(tx, device, next, false);
        }
    }
}

/// [`check_live`] for a pull, and whether `cursor` passes a removal
/// addressed to the device that it had not pulled past before (see
/// [`SqliteStorage::note_pulled`]), in one statement.
pub(super) fn live_and_passes_removal(
    tx: &Connection,
    device: &Device,
    cursor: Cursor,
) -> Result<bool> {
    let row: Option<(bool, bool)> = tx
        .prepare_cached(
            "SELECT d.revoked_at IS NULL, EXISTS (
                SELECT 1 FROM log l WHERE l.target = d.device_id AND l.kind = 3
                  AND l.seq > d.pulled_seq AND l.seq <= ?2)
             FROM devices d WHERE d.device_id = ?1",
        )?
        .query_row(params![&device.device_id[..], cursor.seq], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match row {
        Some((true, passes)) => Ok(passes),
        _ => check_live(tx, &device.device_id).map(|()| false),
    }
}

/// Cases whose key this device should change (see [`RotationDue`]): a
/// rotation is due, the device may read the case and holds its current key.
pub(super) fn rotations_due(tx: &Connection, device: &Device) -> Result<Vec<RotationDue>> {
    // Cases due first (a partial index: nearly always none), then the
    // device's right to each — so a pull pays nothing for rotations while
    // none is due, whatever the size of a supervisor's team.
    let due: Vec<(Vec<u8>, u32, Option<String>)> = tx
        .prepare_cached(
            "SELECT case_id, epoch, team FROM cases
             WHERE rotate_due = 1 LIMIT 4096",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let recovery_pk: Vec<u8> = tx
        .prepare_cached("SELECT recovery_pk FROM org WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    let recovery_pk = key32(recovery_pk)?;
    let mut out = Vec::new();
    for (case, epoch, team) in due {
        if out.len() >= proto::MAX_ROTATIONS_PER_PULL {
            break;
        }
        let case = id(case)?;
        if !device_may_read(tx, &device.device_id, &case, team.as_deref())?
            || !holds_key(tx, &case, epoch, &device.device_id)?
        {
            continue;
        }
        let mut recipients = vec![Recipient {
            device_id: RECOVERY_RECIPIENT,
            kex_pk: recovery_pk,
        }];
        for d in authorised_devices(tx, &case, team.as_deref())? {
            let pk: Vec<u8> = tx
                .prepare_cached("SELECT kex_pk FROM devices WHERE device_id = ?1")?
                .query_row([&d[..]], |r| r.get(0))?;
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

/// How far a grant's expansion got on this page.
pub(super) enum Expansion {
    /// Every item was added.
    Done,
    /// The page filled after this sequence number (resume with `sub`).
    Partial(u64),
    /// The page was already too full for its first item: the grant is left
    /// for the next page.
    NotStarted,
}

/// Adds the changes of `case` older than the grant at `grant_seq` (and newer
/// than `after`) to the page, with the envelopes addressed to the device
/// among them, its own included (a device that deleted the case when it was
/// transferred away, and is given it again, needs its key again). Sizes are
/// read first and each body only once it fits (see [`Page::fits`]).
pub(super) fn expand_grant(
    tx: &Connection,
    device: &Id,
    case: &Id,
    grant_seq: u64,
    after: u64,
    page: &mut Page,
) -> Result<Expansion> {
    let mut stmt = tx.prepare_cached(
        "SELECT seq, length(body) FROM log WHERE case_id = ?1 AND seq < ?2 AND seq > ?3
           AND (kind = 0 OR (kind = 1 AND target = ?4))
         ORDER BY seq LIMIT 256", // = PULL_BATCH
    )?;
    let mut after = after;
    loop {
        let rows: Vec<(u64, usize)> = stmt
            .query_map(params![&case[..], grant_seq, after, &device[..]], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let last_batch = rows.len() < PULL_BATCH;
        if rows.is_empty() {
            return Ok(Expansion::Done);
        }
        for (seq, len) in rows {
            if !page.fits(len) {
                // `after > 0`: a grant is never left at sub 0 (which means "done").
                return Ok(if after > 0 {
                    Expansion::Partial(after)
                } else {
                    Expansion::NotStarted
                });
            }
            page.push(tx, seq)?;
            after = seq;
        }
        if last_batch {
            return Ok(Expansion::Done);
        }
    }
}

/// A pull page under construction. Sizes are read first and each stored
/// item is copied once, straight into the encoded reply, only once it fits
/// the budget: a pull holds about its budget in memory whatever the item
/// sizes — at most one item larger than the budget, and then alone (a
/// device must always make progress).
pub(super) struct Page {
    budget: usize,
    writer: PageWriter,
    /// Authors and sealers of the items (the log's `device_id`).
    signers: Vec<Id>,
}

impl Page {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            writer: PageWriter::new(),
            signers: Vec::new(),
        }
    }

    /// Whether an item of `len` bytes may join the page.
    fn fits(&self, len: usize) -> bool {
        self.writer.entries() == 0 || self.writer.item_bytes().saturating_add(len) <= self.budget
    }

    /// Copies log item `seq` into the page. A stored item that is not a
    /// well-formed message (a damaged database) is left out, so that it
    /// cannot break the framing of the page for the device.
    fn push(&mut self, tx: &Connection, seq: u64) -> Result<()> {
        let (writer, signers) = (&mut self.writer, &mut self.signers);
        let added = tx
            .prepare_cached("SELECT kind, device_id, body FROM log WHERE seq = ?1")?
            .query_row([seq], |r| {
                let kind: i64 = r.get(0)?;
                let body = r.get_ref(2)?.as_blob()?;
                if !proto::item_is_well_formed(body) {
                    return Ok(false);
                }
                writer.push(seq, body);
                if kind == 0 || kind == 1 {
                    signers.push(r.get::<_, Vec<u8>>(1)?.try_into().unwrap_or_default());
                }
                Ok(true)
            })?;
        if !added {
            tracing::error!(seq, "a stored log item is damaged: left out of the page");
        }
        Ok(())
    }

    fn finish(self, tx: &Connection, device: &Device, next: Cursor, more: bool) -> Result<Vec<u8>> {
        let mut signer_ids = self.signers;
        signer_ids.sort_unstable();
        signer_ids.dedup();
        let mut signers = Vec::with_capacity(signer_ids.len());
        for d in signer_ids {
            type Row = (
                Vec<u8>,
                Vec<u8>,
                String,
                String,
                Option<String>,
                Option<i64>,
            );
            let row: Option<Row> = tx
                .prepare_cached(
                    "SELECT d.sign_pk, u.user_id, u.name, u.role, u.team, d.revoked_at
                     FROM devices d JOIN users u ON u.user_id = d.user_id
                     WHERE d.device_id = ?1",
                )?
                .query_row([&d[..]], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .optional()?;
            if let Some((pk, user_id, user_name, role_word, team, revoked_at)) = row {
                signers.push(Signer {
                    device_id: d,
                    sign_pk: key32(pk)?,
                    user_id: id(user_id)?,
                    user_name,
                    role: role(&role_word)?,
                    team,
                    revoked_at,
                });
            }
        }
        let (needs, rotations) = if more {
            (Vec::new(), Vec::new())
        } else {
            (envelope_needs(tx, device)?, rotations_due(tx, device)?)
        };
        // Every page carries the safety state: alerts reach supervisors
        // with the first page of any pull.
        let safety = safety::state(tx, device, crate::now())?;
        let log_id: Option<Vec<u8>> = tx
            .prepare_cached("SELECT log_id FROM org WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?
            .flatten();
        let log_id = log_id.map(id).transpose()?.unwrap_or_default();
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
pub(super) fn envelope_needs(tx: &Connection, device: &Device) -> Result<Vec<EnvelopeNeed>> {
    // Nearly always nothing is missing: one look at the table's first page.
    let any: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM envelope_needs)")?
        .query_row([], |r| r.get(0))?;
    if !any {
        return Ok(Vec::new());
    }
    // Whether the device holds the key is decided once per (case, epoch)
    // with something missing, not once per missing recipient.
    let mut stmt = tx.prepare_cached(&format!(
        "WITH held AS MATERIALIZED (
           SELECT p.case_id, p.epoch, EXISTS (
                    SELECT 1 FROM case_epochs ce WHERE ce.case_id = p.case_id
                      AND ce.epoch = p.epoch AND ce.device_id = ?1) AS started
           -- Only for cases the device may still read (not one transferred away).
           FROM (SELECT DISTINCT case_id, epoch FROM envelope_needs
                 WHERE case_id IN ({READABLE_CASES_5})) p
           -- Asked only of a device that holds the key as far as the server
           -- can tell (see `holds_key`): it started the epoch, or another
           -- device sealed the key to it.
           WHERE started OR EXISTS (
                    SELECT 1 FROM log me WHERE me.kind = 1 AND me.case_id = p.case_id
                      AND me.epoch = p.epoch AND me.target = ?1 AND me.device_id != ?1))
         SELECT n.case_id, n.epoch, n.recipient, COALESCE(d.kex_pk, o.recovery_pk)
         FROM held h
         JOIN envelope_needs n ON n.case_id = h.case_id AND n.epoch = h.epoch
         LEFT JOIN devices d ON d.device_id = n.recipient AND d.revoked_at IS NULL
         JOIN org o ON o.id = 1
         WHERE n.recipient != ?1 AND (d.device_id IS NOT NULL OR n.recipient = ?2)
           -- Only the epoch's starter seals its recovery envelope.
           AND (n.recipient != ?2 OR h.started)
         LIMIT 1000"
    ))?;
    let user = &device.user;
    let rows = stmt.query_map(
        params![
            &device.device_id[..],
            &RECOVERY_RECIPIENT[..],
            &user.user_id[..],
            user.role.as_str(),
            user.team
        ],
        |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (case, epoch, recipient, pk) = row?;
        out.push(EnvelopeNeed {
            case_id: id(case)?,
            epoch,
            recipient: id(recipient)?,
            kex_pk: key32(pk)?,
        });
    }
    Ok(out)
}
