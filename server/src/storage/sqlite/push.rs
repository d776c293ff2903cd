//! Pushes and rotations, each inside the caller's transaction: the facts
//! are looked up here, the decisions are `storage::rules`.

use super::*;

/// One push inside the caller's transaction (a savepoint of a group commit).
pub(super) fn push_in(
    tx: &Connection,
    device: &Device,
    changes: &[Change],
    envelopes: &[Envelope],
    now: i64,
    quota: u64,
) -> Result<PushResponse> {
    check_live(tx, &device.device_id)?;
    let mut acks = Vec::with_capacity(changes.len());
    let mut stale = Vec::new();
    // Bytes this push adds to the device's share of the log.
    let mut added = 0u64;
    for change in changes {
        let case = match case_row(tx, &change.case_id)? {
            Some(case) => {
                let is_assigned = assigned(tx, &change.case_id, &device.user.user_id)?;
                let may = may_access(&device.user, case.team.as_deref(), is_assigned);
                rules::may_push_to(
                    may,
                    !may && removal_pending(tx, &change.case_id, &device.device_id)?,
                )?;
                case
            }
            None => {
                // An erased case is never registered again. A device that
                // was told of the erasure may still be uploading its last
                // changes of it: acknowledged and dropped (it deletes the
                // case on its next pull), so its sync is not stuck.
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
                // Every case key is sealed to the recovery key from the
                // start: the case is registered only together with its
                // recovery envelope, sealed by the registering device.
                rules::may_register_case(device, &change.case_id, envelopes)?;
                register_case(tx, device, &change.case_id, now)?
            }
        };
        // Sealed under an old key: readable by a device that lost the case
        // since. Refused (not stored, the rest of the push goes on) unless
        // it is the last work of a device removed from the case that has not
        // heard yet — the devices still on the case hold that old key too.
        // The device seals it again under the new key.
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
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO log (kind, case_id, epoch, device_id, client_id, body, created_at)
                 VALUES (0, ?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &change.case_id[..],
                change.epoch,
                &device.device_id[..],
                &change.client_id[..],
                body,
                now
            ])?;
        let seq: u64 = if inserted > 0 {
            added += body.len() as u64;
            tx.last_insert_rowid() as u64
        } else {
            // A retried upload: the sequence number it got the first time.
            tx.prepare_cached(
                "SELECT seq, case_id FROM log WHERE kind = 0 AND device_id = ?1 AND client_id = ?2",
            )?
            .query_row(params![&device.device_id[..], &change.client_id[..]], |r| {
                let case: Vec<u8> = r.get(1)?;
                Ok((r.get::<_, u64>(0)?, case))
            })
            .map(|(seq, case)| (case == change.case_id[..]).then_some(seq))?
            .ok_or(refused(
                ErrorCode::Malformed,
                "a change id was reused for a different case",
            ))?
        };
        acks.push(Ack {
            client_id: change.client_id,
            seq,
        });
    }
    let mut stored = 0u32;
    for env in envelopes {
        let Some(case) = case_row(tx, &env.case_id)? else {
            // The last envelopes of a case erased since, from a device told
            // of it: dropped. Otherwise the one answer.
            if erasure::erased_notice(tx, &env.case_id, &device.device_id)?
                .flatten()
                .is_some()
            {
                continue;
            }
            return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
        };
        let is_assigned = assigned(tx, &env.case_id, &device.user.user_id)?;
        // A device removed from the case that does not know yet may have
        // queued envelopes with its last changes: not a reason to refuse them.
        let removed = !may_access(&device.user, case.team.as_deref(), is_assigned);
        rules::may_push_to(
            !removed,
            removed && removal_pending(tx, &env.case_id, &device.device_id)?,
        )?;
        rules::push_envelope(env, case.epoch)?;
        if env.recipient == RECOVERY_RECIPIENT {
            let starter = epoch_starter(tx, &env.case_id, env.epoch)?;
            let keep = rules::recovery_sealer(starter, &device.device_id, || {
                Ok(tx
                    .prepare_cached(
                        "SELECT 1 FROM log WHERE kind = 1 AND case_id = ?1 AND epoch = ?2
                           AND target = ?3 AND device_id = ?4",
                    )?
                    .query_row(
                        params![
                            &env.case_id[..],
                            env.epoch,
                            &RECOVERY_RECIPIENT[..],
                            starter.as_ref().map_or(&[][..], |d| &d[..])
                        ],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some())
            })?;
            if !keep {
                continue;
            }
        } else if !device_may_read(tx, &env.recipient, &env.case_id, case.team.as_deref())? {
            if removed {
                continue; // e.g. to itself: dropped, not stored
            }
            return Err(rules::recipient_refused());
        }
        let body = proto::encode(&proto::ItemOf::Envelope(env));
        // One per (case, epoch, recipient, sealer): every sealer's envelope
        // is kept and delivered, and the recipient tries each.
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &env.case_id[..],
                env.epoch,
                &device.device_id[..],
                &env.recipient[..],
                body,
                now
            ])?;
        stored += inserted as u32;
        if inserted > 0 {
            added += body.len() as u64;
        }
        // The recipient's need is met only by a device that holds the key as
        // far as the server can tell, so a junk envelope from one that does
        // not cannot stop the real one from being sealed.
        if holds_key(tx, &env.case_id, env.epoch, &device.device_id)? {
            tx.prepare_cached(
                "DELETE FROM envelope_needs WHERE case_id = ?1 AND epoch = ?2 AND recipient = ?3",
            )?
            .execute(params![&env.case_id[..], env.epoch, &env.recipient[..]])?;
        }
    }
    if added > 0 {
        let total: u64 = tx
            .prepare_cached(
                "UPDATE devices SET stored_bytes = stored_bytes + ?2 WHERE device_id = ?1
                 RETURNING stored_bytes",
            )?
            .query_row(params![&device.device_id[..], added], |r| r.get(0))?;
        rules::within_quota(total, quota)?;
    }
    Ok(PushResponse {
        acks,
        envelopes_stored: stored,
        stale,
    })
}

/// One rotation inside the caller's transaction (see [`Storage::rotate`]).
pub(super) fn rotate_in(
    tx: &Connection,
    device: &Device,
    request: &RotateRequest,
    now: i64,
    quota: u64,
) -> Result<RotateResponse> {
    check_live(tx, &device.device_id)?;
    let case_id = request.case_id;
    let case = case_row(tx, &case_id)?.ok_or(refused(ErrorCode::Forbidden, CASE_REFUSED))?;
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
        tx.prepare_cached("UPDATE cases SET epoch = ?2, rotate_due = 0 WHERE case_id = ?1")?
            .execute(params![&case_id[..], request.epoch])?;
        tx.prepare_cached(
            "INSERT INTO case_epochs (case_id, epoch, device_id, started_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![&case_id[..], request.epoch, &device.device_id[..], now])?;
    }
    let mut stored = 0u32;
    let mut added = 0u64;
    for env in &request.envelopes {
        let body = proto::encode(&proto::ItemOf::Envelope(env));
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &case_id[..],
                env.epoch,
                &device.device_id[..],
                &env.recipient[..],
                body,
                now
            ])?;
        stored += inserted as u32;
        if inserted > 0 {
            added += body.len() as u64;
        }
    }
    // Anyone authorised the rotator did not know of (enrolled meanwhile)
    // is asked for by the usual needs; the old epochs' needs stay (history).
    let readers = authorised_devices(tx, &case_id, case.team.as_deref())?;
    for d in rules::first_needs(readers, &device.device_id) {
        add_need(tx, &case_id, request.epoch, &d)?;
    }
    if added > 0 {
        let total: u64 = tx
            .prepare_cached(
                "UPDATE devices SET stored_bytes = stored_bytes + ?2 WHERE device_id = ?1
                 RETURNING stored_bytes",
            )?
            .query_row(params![&device.device_id[..], added], |r| r.get(0))?;
        rules::within_quota(total, quota)?;
    }
    Ok(RotateResponse {
        epoch: request.epoch,
        envelopes_stored: stored,
    })
}

/// Whether this exact upload (device, client id) is already in the log: a
/// retry whose first attempt was stored before a rotation is acknowledged,
/// not refused as stale.
pub(super) fn already_stored(tx: &Connection, device: &Device, change: &Change) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM log WHERE kind = 0 AND device_id = ?1 AND client_id = ?2")?
        .query_row(
            params![&device.device_id[..], &change.client_id[..]],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Whether `sealer` holds the case key of `epoch` as far as the server can
/// tell: it registered the case, or another device sealed the key to it.
pub(super) fn holds_key(tx: &Connection, case_id: &Id, epoch: u32, sealer: &Id) -> Result<bool> {
    if epoch_starter(tx, case_id, epoch)? == Some(*sealer) {
        return Ok(true);
    }
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM log WHERE kind = 1 AND case_id = ?1 AND epoch = ?2 AND target = ?3
               AND device_id != ?3 LIMIT 1",
        )?
        .query_row(params![&case_id[..], epoch, &sealer[..]], |_| Ok(()))
        .optional()?
        .is_some())
}

/// A case first seen in a push: it belongs to the pusher's team and is
/// assigned to her; every other device that may read it needs its key
/// (`rules::first_needs`).
/// The caller has checked [`rules::may_register_case`].
pub(super) fn register_case(
    tx: &Connection,
    device: &Device,
    case_id: &Id,
    now: i64,
) -> Result<CaseRow> {
    tx.prepare_cached(
        "INSERT INTO cases (case_id, team, epoch, created_by, created_at, created_device)
         VALUES (?1, ?2, 0, ?3, ?4, ?5)",
    )?
    .execute(params![
        &case_id[..],
        device.user.team,
        &device.user.user_id[..],
        now,
        &device.device_id[..]
    ])?;
    tx.prepare_cached("INSERT INTO assignments (case_id, user_id) VALUES (?1, ?2)")?
        .execute(params![&case_id[..], &device.user.user_id[..]])?;
    tx.prepare_cached(
        "INSERT INTO case_epochs (case_id, epoch, device_id, started_at) VALUES (?1, 0, ?2, ?3)",
    )?
    .execute(params![&case_id[..], &device.device_id[..], now])?;
    let readers = authorised_devices(tx, case_id, device.user.team.as_deref())?;
    for d in rules::first_needs(readers, &device.device_id) {
        add_need(tx, case_id, 0, &d)?;
    }
    Ok(CaseRow {
        team: device.user.team.clone(),
        epoch: 0,
        rotate_due: false,
    })
}
