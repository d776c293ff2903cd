//! Pushes and rotations, each in the caller's transaction: the facts are
//! looked up here, the decisions are `storage::rules` (as in the SQLite
//! backend's `push.rs`). One difference: every statement here is a round
//! trip made by the instance's one writer thread while it holds the log
//! lock, so a push reads its cases' facts once (all of them, after their
//! share locks), looks up each key's starter and holder once, and makes
//! all its writes in one statement ([`Writes`]) — a new case's first push
//! carries its change and three or four envelopes, and those were once
//! one statement each.

use outreach_protocol::{
    self as proto, Ack, Change, Envelope, ErrorCode, Id, PushResponse, RECOVERY_RECIPIENT,
    RotateRequest, RotateResponse,
};

use std::collections::{HashMap, HashSet};

use super::rules::{self, ChangeEpoch};
use super::{
    CASE_REFUSED, CaseRow, Tx, add_needs, authorised_devices, case_from, case_row_locked,
    check_live, device_may_read, epoch_starter, erasure, id, may_access, refused, removal_pending,
    share_cases,
};
use crate::storage::{Device, Result};

/// One push in the caller's transaction.
pub(super) fn push_in(
    tx: &Tx,
    device: &Device,
    changes: &[Change],
    envelopes: &[Envelope],
    now: i64,
    quota: u64,
) -> Result<PushResponse> {
    // The cases' rows first, share-locked in id order before the log lock,
    // then read with the facts the push decides on and whether the device
    // is live.
    let mut facts = CaseFacts::default();
    let live = facts.lock_and_load(
        tx,
        device,
        changes
            .iter()
            .map(|c| c.case_id)
            .chain(envelopes.iter().map(|e| e.case_id)),
    )?;
    match live {
        Some(live) => rules::check_live(live)?,
        // No case of the push is known yet (a first push registering them).
        None => check_live(tx, &device.device_id)?,
    }
    let mut acks = Vec::with_capacity(changes.len());
    let mut stale = Vec::new();
    // The push's log items, the needs they meet and the bytes they add,
    // written in one statement once every item is checked. Nothing checked
    // here depends on the pusher's own items — a key it holds and a
    // starter's recovery envelope are another device's — but whether an
    // upload is already stored, which also asks `Writes`.
    let mut writes = Writes::default();
    for change in changes {
        let case = match facts.get(&change.case_id) {
            Some((case, is_assigned)) => {
                let may = may_access(&device.user, case.team.as_deref(), is_assigned);
                rules::may_push_to(
                    may,
                    !may && removal_pending(tx, &change.case_id, &device.device_id)?,
                )?;
                case
            }
            None => {
                match erasure::erased_notice(tx, &change.case_id, &device.device_id)? {
                    Some(Some(seq)) => {
                        acks.push(Ack {
                            client_id: change.client_id,
                            seq,
                        });
                        continue;
                    }
                    Some(None) => return Err(refused(ErrorCode::Forbidden, CASE_REFUSED)),
                    None => {}
                }
                rules::may_register_case(device, &change.case_id, envelopes)?;
                let case = register_case(tx, device, &change.case_id, now)?;
                // Hers from now on (`register_case` assigned it to her).
                facts.cases.insert(change.case_id, (case.clone(), true));
                case
            }
        };
        let verdict = rules::change_epoch(
            change.epoch,
            case.epoch,
            || removal_pending(tx, &change.case_id, &device.device_id),
            // Stored already, or earlier in this very push (written below).
            || Ok(writes.has_change(&change.client_id) || already_stored(tx, device, change)?),
        )?;
        if verdict == ChangeEpoch::Stale {
            stale.push(change.client_id);
            continue;
        }
        // Its sequence number once written (below, with the rest).
        writes.add_change(change, acks.len());
        acks.push(Ack {
            client_id: change.client_id,
            seq: 0,
        });
    }
    // Whether this device holds a case key (case, epoch), and who started
    // the epoch: nothing below changes either (a registration, which does,
    // happened above).
    let mut keys = KeyFacts::default();
    for env in envelopes {
        let Some((case, is_assigned)) = facts.get(&env.case_id) else {
            if erasure::erased_notice(tx, &env.case_id, &device.device_id)?
                .flatten()
                .is_some()
            {
                continue;
            }
            return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
        };
        let removed = !may_access(&device.user, case.team.as_deref(), is_assigned);
        rules::may_push_to(
            !removed,
            removed && removal_pending(tx, &env.case_id, &device.device_id)?,
        )?;
        rules::push_envelope(env, case.epoch)?;
        let key = (env.case_id, env.epoch);
        if env.recipient == RECOVERY_RECIPIENT {
            let starter = keys.starter(tx, key)?;
            let keep = rules::recovery_sealer(starter, &device.device_id, || {
                tx.exists(
                    "SELECT 1 FROM log WHERE kind = 1 AND case_id = $1 AND epoch = $2
                       AND target = $3 AND device_id = $4",
                    &[
                        &&env.case_id[..],
                        &i64::from(env.epoch),
                        &&RECOVERY_RECIPIENT[..],
                        &starter.as_ref().map_or(&[][..], |d| &d[..]),
                    ],
                )
            })?;
            if !keep {
                continue;
            }
        } else if !device_may_read(tx, &env.recipient, &env.case_id, case.team.as_deref())? {
            if removed {
                continue;
            }
            return Err(rules::recipient_refused());
        }
        let holds_key = keys.held_by(tx, key, &device.device_id)?;
        writes.add_envelope(env, holds_key);
    }
    let envelopes_stored = writes.write(tx, device, now, quota, &mut acks)?;
    Ok(PushResponse {
        acks,
        envelopes_stored,
        stale,
    })
}

/// Who started each case key epoch a push seals, and whether the pusher
/// holds it: looked up once per key, not once per envelope.
#[derive(Default)]
struct KeyFacts {
    starters: HashMap<(Id, u32), Option<Id>>,
    held: HashMap<(Id, u32), bool>,
}

impl KeyFacts {
    fn starter(&mut self, tx: &Tx, key: (Id, u32)) -> Result<Option<Id>> {
        if let Some(known) = self.starters.get(&key) {
            return Ok(*known);
        }
        let known = epoch_starter(tx, &key.0, key.1)?;
        self.starters.insert(key, known);
        Ok(known)
    }

    /// [`holds_key`], remembered.
    fn held_by(&mut self, tx: &Tx, key: (Id, u32), sealer: &Id) -> Result<bool> {
        if let Some(known) = self.held.get(&key) {
            return Ok(*known);
        }
        let starter = self.starter(tx, key)?;
        let known = holds_key_of(tx, starter, &key.0, key.1, sealer)?;
        self.held.insert(key, known);
        Ok(known)
    }
}

/// A push's writes, made in one statement: its changes and envelopes
/// appended to the log (one already there left as it is), the envelope
/// needs they meet deleted, the bytes they add counted against the device's
/// quota. Each was a statement of its own, and each statement is a round
/// trip made by the one writer thread.
#[derive(Default)]
struct Writes {
    /// Changes: case, epoch, client id, body, and the index of its ack.
    change_cases: Vec<Vec<u8>>,
    change_epochs: Vec<i64>,
    change_ids: Vec<Vec<u8>>,
    change_bodies: Vec<Vec<u8>>,
    change_acks: Vec<usize>,
    change_set: HashSet<Id>,
    /// Envelopes: case, epoch, recipient, body.
    env_cases: Vec<Vec<u8>>,
    env_epochs: Vec<i64>,
    env_recipients: Vec<Vec<u8>>,
    env_bodies: Vec<Vec<u8>>,
    /// The needs met (case, epoch, recipient): only a key holder's
    /// envelope meets one.
    met_cases: Vec<Vec<u8>>,
    met_epochs: Vec<i64>,
    met_recipients: Vec<Vec<u8>>,
}

/// See [`Writes`]. Data-modifying `WITH` clauses all run, to completion,
/// on the statement's snapshot; changes draw their sequence numbers in the
/// push's order; the device's row is updated only when something was
/// appended.
static WRITE_PUSH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "
    WITH ch AS (
        INSERT INTO log (kind, case_id, epoch, device_id, client_id, body, created_at)
        SELECT 0, c.case_id, c.epoch, $1, c.client_id, c.body, $2
        FROM unnest($3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[]) WITH ORDINALITY
             AS c(case_id, epoch, client_id, body, n)
        ORDER BY c.n
        ON CONFLICT DO NOTHING RETURNING client_id, seq, case_id, octet_length(body)::bigint AS len),
    env AS (
        INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
        SELECT 1, e.case_id, e.epoch, $1, e.target, e.body, $2
        FROM unnest($7::bytea[], $8::bigint[], $9::bytea[], $10::bytea[])
             AS e(case_id, epoch, target, body)
        ON CONFLICT DO NOTHING RETURNING octet_length(body)::bigint AS len),
    met AS ({met}),
    added AS (
        SELECT (SELECT coalesce(sum(len), 0) FROM ch) + (SELECT coalesce(sum(len), 0) FROM env)
               AS bytes),
    used AS (
        UPDATE devices SET stored_bytes = stored_bytes + (SELECT bytes FROM added)
        WHERE device_id = $1 AND (SELECT bytes FROM added) > 0
        RETURNING stored_bytes)
    SELECT ch.client_id, ch.seq, ch.case_id, NULL::bigint, NULL::bigint FROM ch
    UNION ALL
    SELECT NULL, NULL, NULL, (SELECT count(*) FROM env), (SELECT stored_bytes FROM used)",
        met = delete_met_needs(11, 12, 13)
    )
});

/// Deletes the envelope needs (case, epoch, recipient) given as three
/// arrays at parameters `$c`, `$e`, `$r`: each found by its key, one index
/// lookup per element. As a plain `DELETE … USING unnest(…)`, the generic
/// plan made on an empty queue — the queue is empty most of the time, and
/// that is when `ANALYZE` finds it — read the whole queue for every write
/// (4.4 ms and 8,100 buffers to delete 2 of 3,000 needs, against 0.2 ms and
/// 10 buffers this way).
pub(super) fn delete_met_needs(c: u8, e: u8, r: u8) -> String {
    format!(
        "DELETE FROM envelope_needs n WHERE n.ctid = ANY (ARRAY(
             SELECT k.ctid
             FROM unnest(${c}::bytea[], ${e}::bigint[], ${r}::bytea[]) AS m(case_id, epoch, recipient)
             CROSS JOIN LATERAL (
                 SELECT ctid FROM envelope_needs k
                 WHERE k.case_id = m.case_id AND k.epoch = m.epoch AND k.recipient = m.recipient
                 LIMIT 1) k))"
    )
}

impl Writes {
    fn add_change(&mut self, change: &Change, ack: usize) {
        self.change_cases.push(change.case_id.to_vec());
        self.change_epochs.push(i64::from(change.epoch));
        self.change_ids.push(change.client_id.to_vec());
        self.change_bodies
            .push(proto::encode(&proto::ItemOf::Change(change)));
        self.change_acks.push(ack);
        self.change_set.insert(change.client_id);
    }

    /// Whether a change with this id is among the writes already.
    fn has_change(&self, client_id: &Id) -> bool {
        self.change_set.contains(client_id)
    }

    fn add_envelope(&mut self, env: &Envelope, holds_key: bool) {
        self.env_cases.push(env.case_id.to_vec());
        self.env_epochs.push(i64::from(env.epoch));
        self.env_recipients.push(env.recipient.to_vec());
        self.env_bodies
            .push(proto::encode(&proto::ItemOf::Envelope(env)));
        if holds_key {
            self.met_cases.push(env.case_id.to_vec());
            self.met_epochs.push(i64::from(env.epoch));
            self.met_recipients.push(env.recipient.to_vec());
        }
    }

    /// Writes everything; fills in the changes' acks and returns how many
    /// envelopes were new. A change already in the log (a retried upload)
    /// is acknowledged with the number it got the first time.
    fn write(
        self,
        tx: &Tx,
        device: &Device,
        now: i64,
        quota: u64,
        acks: &mut [Ack],
    ) -> Result<u32> {
        if self.change_bodies.is_empty() && self.env_bodies.is_empty() {
            return Ok(0);
        }
        tx.lock_log()?;
        let rows = tx.rows(
            &WRITE_PUSH,
            &[
                &&device.device_id[..],
                &now,
                &self.change_cases,
                &self.change_epochs,
                &self.change_ids,
                &self.change_bodies,
                &self.env_cases,
                &self.env_epochs,
                &self.env_recipients,
                &self.env_bodies,
                &self.met_cases,
                &self.met_epochs,
                &self.met_recipients,
            ],
        )?;
        // Client id → (sequence number, case) of each change appended now.
        let mut appended: HashMap<Vec<u8>, (u64, Vec<u8>)> = HashMap::new();
        let mut envelopes_stored = 0u32;
        for r in &rows {
            match r.try_get::<_, Option<Vec<u8>>>(0)? {
                Some(client_id) => {
                    appended.insert(client_id, (r.try_get::<_, i64>(1)? as u64, r.try_get(2)?));
                }
                None => {
                    envelopes_stored = r.try_get::<_, i64>(3)?.max(0) as u32;
                    if let Some(total) = r.try_get::<_, Option<i64>>(4)? {
                        rules::within_quota(total.max(0) as u64, quota)?;
                    }
                }
            }
        }
        for (i, client_id) in self.change_ids.iter().enumerate() {
            // Appended now, or already there (a retried upload, or the same
            // id twice in this push): the number it got the first time.
            let (seq, case) = match appended.get(client_id) {
                Some(known) => known.clone(),
                None => {
                    let r = tx.one(
                        "SELECT seq, case_id FROM log WHERE kind = 0 AND device_id = $1 AND client_id = $2",
                        &[&&device.device_id[..], client_id],
                    )?;
                    (r.try_get::<_, i64>(0)? as u64, r.try_get(1)?)
                }
            };
            if case != self.change_cases[i] {
                return Err(refused(
                    ErrorCode::Malformed,
                    "a change id was reused for a different case",
                ));
            }
            if let Some(ack) = acks.get_mut(self.change_acks[i]) {
                ack.seq = seq;
            }
        }
        Ok(envelopes_stored)
    }
}

/// Each case's row and whether the pusher's user is assigned to it, read
/// once per push (with the rows' share locks) for every case the push
/// names, and kept for its items.
#[derive(Default)]
struct CaseFacts {
    cases: HashMap<Id, (CaseRow, bool)>,
}

impl CaseFacts {
    /// Share-locks the rows of these cases in id order (so that two
    /// requests never wait for each other in a cycle), then reads them: no
    /// rotation, transfer or erasure of them commits under this
    /// transaction. With the rows, whether `device` is live (`None` when
    /// none of the cases exists: then not asked).
    ///
    /// Two statements, not one: read committed gives each statement the
    /// snapshot of its start, so facts read by the locking statement would
    /// predate an assignment or transfer it waited for; the second
    /// statement sees it.
    fn lock_and_load(
        &mut self,
        tx: &Tx,
        device: &Device,
        cases: impl IntoIterator<Item = Id>,
    ) -> Result<Option<Option<bool>>> {
        let mut ids: Vec<Id> = cases.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(None);
        }
        share_cases(tx, ids.iter().copied())?;
        let wanted: Vec<&[u8]> = ids.iter().map(|c| &c[..]).collect();
        let rows = tx.rows(
            "SELECT c.team, c.epoch, c.rotate_due,
                    EXISTS (SELECT 1 FROM assignments a WHERE a.case_id = c.case_id AND a.user_id = $2),
                    c.case_id,
                    (SELECT d.revoked_at IS NULL FROM devices d WHERE d.device_id = $3)
             FROM cases c WHERE c.case_id = ANY($1)",
            &[&wanted, &&device.user.user_id[..], &&device.device_id[..]],
        )?;
        let mut live = None;
        for r in &rows {
            self.cases
                .insert(id(r.try_get(4)?)?, (case_from(r)?, r.try_get(3)?));
            live = Some(r.try_get(5)?);
        }
        Ok(live)
    }

    /// A case of the push: `None` if it did not exist when the push began
    /// and the push has not registered it.
    fn get(&self, case_id: &Id) -> Option<(CaseRow, bool)> {
        self.cases.get(case_id).cloned()
    }
}

/// One rotation in the caller's transaction.
pub(super) fn rotate_in(
    tx: &Tx,
    device: &Device,
    request: &RotateRequest,
    now: i64,
    quota: u64,
) -> Result<RotateResponse> {
    check_live(tx, &device.device_id)?;
    let case_id = request.case_id;
    // Locked: of two devices rotating at once, the second waits and then
    // finds the epoch started (`StaleEpoch`).
    let case = case_row_locked(tx, &case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
    if !device_may_read(tx, &device.device_id, &case_id, case.team.as_deref())? {
        return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
    }
    let facts = rules::RotationFacts {
        case_epoch: case.epoch,
        rotate_due: case.rotate_due,
        starter: epoch_starter(tx, &case_id, request.epoch)?,
    };
    let retry = rules::admit_rotation(facts, request.epoch, &device.device_id, || {
        holds_key(tx, &case_id, case.epoch, &device.device_id)
    })?;
    rules::rotation_envelopes(request, &device.device_id, |recipient| {
        device_may_read(tx, recipient, &case_id, case.team.as_deref())
    })?;
    if !retry {
        tx.exec(
            "UPDATE cases SET epoch = $2, rotate_due = FALSE WHERE case_id = $1",
            &[&&case_id[..], &i64::from(request.epoch)],
        )?;
        tx.exec(
            "INSERT INTO case_epochs (case_id, epoch, device_id, started_at) VALUES ($1, $2, $3, $4)",
            &[
                &&case_id[..],
                &i64::from(request.epoch),
                &&device.device_id[..],
                &now,
            ],
        )?;
    }
    // `rules::rotation_envelopes` checked that each is for this case and
    // epoch; none meets a need (the epoch's needs are added below).
    let mut writes = Writes::default();
    for env in &request.envelopes {
        writes.add_envelope(env, false);
    }
    let stored = writes.write(tx, device, now, quota, &mut [])?;
    let readers = authorised_devices(tx, &case_id, case.team.as_deref())?;
    let recipients = rules::first_needs(readers, &device.device_id);
    add_needs(tx, &case_id, request.epoch, &recipients)?;
    Ok(RotateResponse {
        epoch: request.epoch,
        envelopes_stored: stored,
    })
}

/// Whether this exact upload (device, client id) is already in the log.
fn already_stored(tx: &Tx, device: &Device, change: &Change) -> Result<bool> {
    tx.exists(
        "SELECT 1 FROM log WHERE kind = 0 AND device_id = $1 AND client_id = $2",
        &[&&device.device_id[..], &&change.client_id[..]],
    )
}

/// Whether `sealer` holds the case key of `epoch` as far as the server can
/// tell: it started the epoch, or another device sealed the key to it.
pub(super) fn holds_key(tx: &Tx, case_id: &Id, epoch: u32, sealer: &Id) -> Result<bool> {
    holds_key_of(
        tx,
        epoch_starter(tx, case_id, epoch)?,
        case_id,
        epoch,
        sealer,
    )
}

/// [`holds_key`], the epoch's starter known.
fn holds_key_of(
    tx: &Tx,
    starter: Option<Id>,
    case_id: &Id,
    epoch: u32,
    sealer: &Id,
) -> Result<bool> {
    Ok(starter == Some(*sealer) || received_key(tx, case_id, epoch, sealer)?)
}

/// Whether another device sealed the key of (`case_id`, `epoch`) to `sealer`.
fn received_key(tx: &Tx, case_id: &Id, epoch: u32, sealer: &Id) -> Result<bool> {
    tx.exists(
        "SELECT 1 FROM log WHERE kind = 1 AND case_id = $1 AND epoch = $2 AND target = $3
           AND device_id <> $3 LIMIT 1",
        &[&&case_id[..], &i64::from(epoch), &&sealer[..]],
    )
}

/// A case first seen in a push: it belongs to the pusher's team and is
/// assigned to her; every other device that may read it needs its key
/// (`rules::first_needs`).
fn register_case(tx: &Tx, device: &Device, case_id: &Id, now: i64) -> Result<CaseRow> {
    tx.exec(
        "INSERT INTO cases (case_id, team, epoch, created_by, created_at, created_device)
         VALUES ($1, $2, 0, $3, $4, $5)",
        &[
            &&case_id[..],
            &device.user.team,
            &&device.user.user_id[..],
            &now,
            &&device.device_id[..],
        ],
    )?;
    tx.exec(
        "INSERT INTO assignments (case_id, user_id) VALUES ($1, $2)",
        &[&&case_id[..], &&device.user.user_id[..]],
    )?;
    tx.exec(
        "INSERT INTO case_epochs (case_id, epoch, device_id, started_at) VALUES ($1, 0, $2, $3)",
        &[&&case_id[..], &&device.device_id[..], &now],
    )?;
    let readers = authorised_devices(tx, case_id, device.user.team.as_deref())?;
    let recipients = rules::first_needs(readers, &device.device_id);
    add_needs(tx, case_id, 0, &recipients)?;
    Ok(CaseRow {
        team: device.user.team.clone(),
        epoch: 0,
        rotate_due: false,
    })
}
