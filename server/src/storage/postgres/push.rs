//! Pushes and rotations, each in the caller's transaction: the facts are
//! looked up here, the decisions are `storage::rules` (as in the SQLite
//! backend's `push.rs`). One difference: every statement here is a round
//! trip made by the instance's one writer thread while it holds the log
//! lock, so a push looks up each case's facts (row and assignment, in one
//! statement) and whether the pusher holds a case key once per push, not
//! once per item — a new case's first push carries its change and three or
//! four envelopes, and envelopes were half of the writer's statements.

use outreach_protocol::{
    self as proto, Ack, Change, Envelope, ErrorCode, Id, PushResponse, RECOVERY_RECIPIENT,
    RotateRequest, RotateResponse,
};

use std::collections::HashMap;

use super::rules::{self, ChangeEpoch};
use super::{
    CASE_REFUSED, CaseRow, Tx, add_needs, authorised_devices, case_from, case_row_locked,
    check_live, device_may_read, epoch_starter, erasure, may_access, refused, removal_pending,
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
    check_live(tx, &device.device_id)?;
    // The cases' rows first, in id order, before the log lock.
    share_cases(
        tx,
        changes
            .iter()
            .map(|c| c.case_id)
            .chain(envelopes.iter().map(|e| e.case_id)),
    )?;
    let mut acks = Vec::with_capacity(changes.len());
    let mut stale = Vec::new();
    let mut added = 0u64;
    let mut facts = CaseFacts::default();
    for change in changes {
        let case = match facts.get(tx, &change.case_id, &device.user.user_id)? {
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
            || already_stored(tx, device, change),
        )?;
        if verdict == ChangeEpoch::Stale {
            stale.push(change.client_id);
            continue;
        }
        let body = proto::encode(&proto::ItemOf::Change(change));
        tx.lock_log()?;
        let inserted = tx.opt(
            "INSERT INTO log (kind, case_id, epoch, device_id, client_id, body, created_at)
             VALUES (0, $1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING RETURNING seq",
            &[
                &&change.case_id[..],
                &i64::from(change.epoch),
                &&device.device_id[..],
                &&change.client_id[..],
                &body,
                &now,
            ],
        )?;
        let seq: u64 = match inserted {
            Some(r) => {
                added += body.len() as u64;
                r.try_get::<_, i64>(0)? as u64
            }
            None => {
                // A retried upload: the sequence number it got the first time.
                let r = tx.one(
                    "SELECT seq, case_id FROM log WHERE kind = 0 AND device_id = $1 AND client_id = $2",
                    &[&&device.device_id[..], &&change.client_id[..]],
                )?;
                let case: Vec<u8> = r.try_get(1)?;
                if case != change.case_id[..] {
                    return Err(refused(
                        ErrorCode::Malformed,
                        "a change id was reused for a different case",
                    ));
                }
                r.try_get::<_, i64>(0)? as u64
            }
        };
        acks.push(Ack {
            client_id: change.client_id,
            seq,
        });
    }
    let mut stored = 0u32;
    // Whether this device holds a case key (case, epoch): nothing below
    // changes it (a registration, which does, happened above).
    let mut holds: HashMap<(Id, u32), bool> = HashMap::new();
    for env in envelopes {
        let Some((case, is_assigned)) = facts.get(tx, &env.case_id, &device.user.user_id)? else {
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
        if env.recipient == RECOVERY_RECIPIENT {
            let starter = epoch_starter(tx, &env.case_id, env.epoch)?;
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
        let body = proto::encode(&proto::ItemOf::Envelope(env));
        tx.lock_log()?;
        let inserted = tx.exec(
            "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
             VALUES (1, $1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &&env.case_id[..],
                &i64::from(env.epoch),
                &&device.device_id[..],
                &&env.recipient[..],
                &body,
                &now,
            ],
        )?;
        stored += inserted as u32;
        if inserted > 0 {
            added += body.len() as u64;
        }
        let holds_this = match holds.get(&(env.case_id, env.epoch)) {
            Some(known) => *known,
            None => {
                let known = holds_key(tx, &env.case_id, env.epoch, &device.device_id)?;
                holds.insert((env.case_id, env.epoch), known);
                known
            }
        };
        if holds_this {
            tx.exec(
                "DELETE FROM envelope_needs WHERE case_id = $1 AND epoch = $2 AND recipient = $3",
                &[
                    &&env.case_id[..],
                    &i64::from(env.epoch),
                    &&env.recipient[..],
                ],
            )?;
        }
    }
    add_stored_bytes(tx, device, added, quota)?;
    Ok(PushResponse {
        acks,
        envelopes_stored: stored,
        stale,
    })
}

/// Each case's row and whether the pusher's user is assigned to it, looked
/// up once per push (one statement) and kept for its other items.
#[derive(Default)]
struct CaseFacts {
    cases: HashMap<Id, (CaseRow, bool)>,
}

impl CaseFacts {
    fn get(&mut self, tx: &Tx, case_id: &Id, user_id: &Id) -> Result<Option<(CaseRow, bool)>> {
        if let Some(known) = self.cases.get(case_id) {
            return Ok(Some(known.clone()));
        }
        let found = tx
            .opt(
                "SELECT team, epoch, rotate_due, EXISTS (
                    SELECT 1 FROM assignments WHERE case_id = $1 AND user_id = $2)
                 FROM cases WHERE case_id = $1",
                &[&&case_id[..], &&user_id[..]],
            )?
            .map(|r| Ok::<_, crate::storage::StorageError>((case_from(&r)?, r.try_get(3)?)))
            .transpose()?;
        // An unknown case is not remembered: the push may register it.
        if let Some(found) = &found {
            self.cases.insert(*case_id, found.clone());
        }
        Ok(found)
    }
}

fn add_stored_bytes(tx: &Tx, device: &Device, added: u64, quota: u64) -> Result<()> {
    if added == 0 {
        return Ok(());
    }
    let total: i64 = tx
        .one(
            "UPDATE devices SET stored_bytes = stored_bytes + $2 WHERE device_id = $1
             RETURNING stored_bytes",
            &[&&device.device_id[..], &(added as i64)],
        )?
        .try_get(0)?;
    rules::within_quota(total.max(0) as u64, quota)
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
    let mut stored = 0u32;
    let mut added = 0u64;
    for env in &request.envelopes {
        let body = proto::encode(&proto::ItemOf::Envelope(env));
        tx.lock_log()?;
        let inserted = tx.exec(
            "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
             VALUES (1, $1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &&case_id[..],
                &i64::from(env.epoch),
                &&device.device_id[..],
                &&env.recipient[..],
                &body,
                &now,
            ],
        )?;
        stored += inserted as u32;
        if inserted > 0 {
            added += body.len() as u64;
        }
    }
    let mut recipients = authorised_devices(tx, &case_id, case.team.as_deref())?;
    recipients.push(RECOVERY_RECIPIENT);
    add_needs(tx, &case_id, request.epoch, &recipients)?;
    add_stored_bytes(tx, device, added, quota)?;
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
    if epoch_starter(tx, case_id, epoch)? == Some(*sealer) {
        return Ok(true);
    }
    tx.exists(
        "SELECT 1 FROM log WHERE kind = 1 AND case_id = $1 AND epoch = $2 AND target = $3
           AND device_id <> $3 LIMIT 1",
        &[&&case_id[..], &i64::from(epoch), &&sealer[..]],
    )
}

/// A case first seen in a push: it belongs to the pusher's team and is
/// assigned to her; every device that may read it needs its key.
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
    let mut recipients = authorised_devices(tx, case_id, device.user.team.as_deref())?;
    recipients.push(RECOVERY_RECIPIENT);
    add_needs(tx, case_id, 0, &recipients)?;
    Ok(CaseRow {
        team: device.user.team.clone(),
        epoch: 0,
        rotate_due: false,
    })
}
