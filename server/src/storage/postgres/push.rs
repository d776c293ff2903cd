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

/// A push's or a push group's writes, in one statement: changes appended
/// in the order given, envelopes, the needs they meet deleted, cases
/// registered (with their assignment, first epoch and needs), each
/// device's bytes counted. Data-modifying `WITH` clauses all run, to
/// completion, on the statement's snapshot; a device's row is updated only
/// when it added something. Rows: one per change appended (device, client
/// id, sequence number, case), one per device that added bytes (device,
/// envelopes appended, bytes stored now). Parameters: changes (time,
/// device, case, epoch, client id, body), envelopes (device, case, epoch,
/// recipient, body, time), needs met (case, epoch, recipient), new cases
/// (case, team, user, device, time), their needs (case, recipient).
pub(super) static WRITE_ITEMS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "
    WITH ch AS (
        INSERT INTO log (kind, case_id, epoch, device_id, client_id, body, created_at)
        SELECT 0, c.case_id, c.epoch, c.device_id, c.client_id, c.body, c.at
        FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[])
             WITH ORDINALITY AS c(at, device_id, case_id, epoch, client_id, body, n)
        ORDER BY c.n
        ON CONFLICT DO NOTHING
        RETURNING device_id, client_id, seq, case_id, octet_length(body)::bigint AS len),
    env AS (
        INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
        SELECT 1, e.case_id, e.epoch, e.device_id, e.target, e.body, e.at
        FROM unnest($7::bytea[], $8::bytea[], $9::bigint[], $10::bytea[], $11::bytea[], $12::bigint[])
             AS e(device_id, case_id, epoch, target, body, at)
        ON CONFLICT DO NOTHING
        RETURNING device_id, octet_length(body)::bigint AS len),
    met AS ({met}),
    added AS (
        SELECT a.device_id, sum(a.len)::bigint AS bytes, count(*) FILTER (WHERE a.envelope) AS envelopes
        FROM (SELECT device_id, len, FALSE AS envelope FROM ch
              UNION ALL SELECT device_id, len, TRUE FROM env) a
        GROUP BY a.device_id),
    used AS (
        UPDATE devices d SET stored_bytes = d.stored_bytes + a.bytes
        FROM added a WHERE d.device_id = a.device_id
        RETURNING d.device_id, d.stored_bytes),
    new_cases AS (
        INSERT INTO cases (case_id, team, epoch, created_by, created_at, created_device)
        SELECT n.case_id, n.team, 0, n.user_id, n.at, n.device_id
        FROM unnest($16::bytea[], $17::text[], $18::bytea[], $19::bytea[], $20::bigint[])
             AS n(case_id, team, user_id, device_id, at)),
    new_assignments AS (
        INSERT INTO assignments (case_id, user_id)
        SELECT * FROM unnest($16::bytea[], $18::bytea[])),
    new_epochs AS (
        INSERT INTO case_epochs (case_id, epoch, device_id, started_at)
        SELECT n.case_id, 0, n.device_id, n.at
        FROM unnest($16::bytea[], $19::bytea[], $20::bigint[]) AS n(case_id, device_id, at)),
    new_needs AS (
        INSERT INTO envelope_needs (case_id, epoch, recipient)
        SELECT n.case_id, 0, n.recipient FROM unnest($21::bytea[], $22::bytea[]) AS n(case_id, recipient)
        ON CONFLICT DO NOTHING)
    SELECT 0, ch.device_id, ch.client_id, ch.seq, NULL::bigint, NULL::bigint, ch.case_id FROM ch
    UNION ALL
    SELECT 1, a.device_id, NULL, NULL, a.envelopes, u.stored_bytes, NULL
    FROM added a JOIN used u ON u.device_id = a.device_id",
        met = delete_met_needs(13, 14, 15)
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

/// A change as the log stores it.
pub(super) fn change_body(change: &Change) -> Vec<u8> {
    proto::encode(&proto::ItemOf::Change(change))
}

/// An envelope as the log stores it.
pub(super) fn envelope_body(env: &Envelope) -> Vec<u8> {
    proto::encode(&proto::ItemOf::Envelope(env))
}

impl Writes {
    fn add_change(&mut self, change: &Change, ack: usize) {
        self.change_cases.push(change.case_id.to_vec());
        self.change_epochs.push(i64::from(change.epoch));
        self.change_ids.push(change.client_id.to_vec());
        self.change_bodies.push(change_body(change));
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
        self.env_bodies.push(envelope_body(env));
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
        let device_id = device.device_id.to_vec();
        let (changes, envelopes) = (self.change_bodies.len(), self.env_bodies.len());
        let (none, no_teams, no_times): (Vec<Vec<u8>>, Vec<Option<String>>, Vec<i64>) =
            Default::default();
        let rows = tx.rows(
            &WRITE_ITEMS,
            &[
                &vec![now; changes],
                &vec![device_id.clone(); changes],
                &self.change_cases,
                &self.change_epochs,
                &self.change_ids,
                &self.change_bodies,
                &vec![device_id; envelopes],
                &self.env_cases,
                &self.env_epochs,
                &self.env_recipients,
                &self.env_bodies,
                &vec![now; envelopes],
                &self.met_cases,
                &self.met_epochs,
                &self.met_recipients,
                &none,
                &no_teams,
                &none,
                &none,
                &no_times,
                &none,
                &none,
            ],
        )?;
        // Client id → (sequence number, case) of each change appended now.
        let mut appended: HashMap<Vec<u8>, (u64, Vec<u8>)> = HashMap::new();
        let mut envelopes_stored = 0u32;
        for r in &rows {
            match r.try_get::<_, Option<Vec<u8>>>(2)? {
                Some(client_id) => {
                    appended.insert(client_id, (r.try_get::<_, i64>(3)? as u64, r.try_get(6)?));
                }
                // The device added bytes: within its quota?
                None => {
                    envelopes_stored = r.try_get::<_, i64>(4)?.max(0) as u32;
                    rules::within_quota(r.try_get::<_, i64>(5)?.max(0) as u64, quota)?;
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
