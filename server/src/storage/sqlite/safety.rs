//! Lone-working safety (schema v6): check-ins, alerts, acknowledgements and
//! webhook deliveries. See `storage/safety.rs` for what is stored and why.
//!
//! A check-in's case is kept as `case_ref`, not `case_id`: erasing a case
//! deletes every row of a table with a `case_id` column, and a live safety
//! timer must outlive that (the worker is still on her visit). Its note, in
//! `safety_notes`, does carry `case_id`, so it goes with the case — and is
//! deleted anyway as soon as she checks out.

use outreach_protocol::{
    self as proto, CheckIn, ErrorCode, Id, SafetyAction, SafetyAlert, SafetyOutcome,
    SafetyResponse, SafetyState, SafetyTimer, SealedNote,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::erasure::append_admin_log;
use super::{CASE_REFUSED, SqliteStorage, check_live, id, may_read};
use crate::storage::erasure::time_of;
use crate::storage::safety::{
    RaisedAlert, SAFETY_KEEP_SECS, SafetyPolicy, WebhookDelivery, WebhookEvent,
};
use crate::storage::{Device, Result, StorageError, refused};
use outreach_protocol::Role;

/// Who the admin log names for what the server does by itself.
const SERVER_ACTOR: &str = "outreach-server";

/// A check-in started more than this long before it reaches the server is
/// refused as implausible (seconds).
const MAX_QUEUED_SECS: i64 = 7 * 24 * 3600;

/// Open check-ins one user may have at once (a visit each; more is a
/// device misbehaving, and would crowd her supervisors' lists).
const MAX_OPEN_PER_USER: i64 = 16;

/// An active timer as the rules need it.
struct TimerRow {
    device_id: Id,
    user_id: Id,
    case_ref: Id,
    started_at: i64,
    until: i64,
    closed: bool,
}

fn timer(tx: &Connection, timer_id: &Id) -> Result<Option<TimerRow>> {
    let row = tx
        .prepare_cached(
            "SELECT device_id, user_id, case_ref, started_at, until, closed_at IS NOT NULL
             FROM safety_timers WHERE timer_id = ?1",
        )?
        .query_row([&timer_id[..]], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((device_id, user_id, case_ref, started_at, until, closed)) => Ok(Some(TimerRow {
            device_id: id(device_id)?,
            user_id: id(user_id)?,
            case_ref: id(case_ref)?,
            started_at,
            until,
            closed,
        })),
    }
}

/// A deadline the rules accept: after the start, at most
/// [`proto::MAX_SAFETY_WINDOW_SECS`] after it.
fn check_window(started_at: i64, until: i64) -> Result<()> {
    if until <= started_at || until - started_at > proto::MAX_SAFETY_WINDOW_SECS {
        return Err(refused(
            ErrorCode::Malformed,
            "a check-in's deadline must be after its start and at most 24 hours later",
        ));
    }
    Ok(())
}

fn check_in(
    tx: &Connection,
    device: &Device,
    c: &CheckIn,
    policy: SafetyPolicy,
    now: i64,
) -> Result<()> {
    if device.user.role == Role::Admin {
        return Err(refused(
            ErrorCode::Forbidden,
            "admins do not visit cases: check-ins are for practitioners and supervisors",
        ));
    }
    if let Some(existing) = timer(tx, &c.timer_id)? {
        // A retry of a check-in already stored changes nothing.
        if existing.device_id == device.device_id && existing.case_ref == c.case_id {
            return Ok(());
        }
        return Err(refused(
            ErrorCode::Malformed,
            "that check-in id is already in use",
        ));
    }
    check_window(c.started_at, c.until)?;
    if c.started_at > now + proto::MAX_CLOCK_SKEW_SECS || c.started_at < now - MAX_QUEUED_SECS {
        return Err(refused(
            ErrorCode::Malformed,
            "the check-in's time is not plausible: check the device's clock",
        ));
    }
    if let Some(note) = &c.note
        && note.ciphertext.len() > proto::MAX_SAFETY_NOTE_BYTES
    {
        return Err(refused(
            ErrorCode::TooLarge,
            "the check-in note is larger than the server accepts",
        ));
    }
    if !may_read(tx, &device.user, &c.case_id)? {
        return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
    }
    let open: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM safety_timers WHERE user_id = ?1 AND closed_at IS NULL",
        )?
        .query_row([&device.user.user_id[..]], |r| r.get(0))?;
    if open >= MAX_OPEN_PER_USER {
        return Err(refused(
            ErrorCode::RateLimited,
            "this user has 16 open check-ins: check out of the visits that are over first",
        ));
    }
    let alert_at = c.until.saturating_add(policy.grace_secs);
    tx.prepare_cached(
        "INSERT INTO safety_timers (timer_id, device_id, user_id, team, case_ref, started_at,
                                    until, alert_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        &c.timer_id[..],
        &device.device_id[..],
        &device.user.user_id[..],
        device.user.team,
        &c.case_id[..],
        c.started_at,
        c.until,
        alert_at,
        now
    ])?;
    if let Some(note) = &c.note {
        tx.prepare_cached(
            "INSERT INTO safety_notes (timer_id, case_id, epoch, body) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            &c.timer_id[..],
            &c.case_id[..],
            note.epoch,
            note.ciphertext
        ])?;
    }
    Ok(())
}

/// The worker's own timer (any of her devices), or the one answer.
fn own_timer(tx: &Connection, device: &Device, timer_id: &Id) -> Result<TimerRow> {
    match timer(tx, timer_id)? {
        Some(t) if t.user_id == device.user.user_id => Ok(t),
        _ => Err(refused(
            ErrorCode::NotFound,
            "no such check-in of this user on the server",
        )),
    }
}

fn extend(
    tx: &Connection,
    device: &Device,
    timer_id: &Id,
    until: i64,
    policy: SafetyPolicy,
) -> Result<()> {
    let t = own_timer(tx, device, timer_id)?;
    if t.closed {
        return Err(refused(
            ErrorCode::NotFound,
            "that check-in has ended (checked out): check in again",
        ));
    }
    if t.until == until {
        return Ok(());
    }
    check_window(t.started_at, until)?;
    tx.prepare_cached("UPDATE safety_timers SET until = ?2, alert_at = ?3 WHERE timer_id = ?1")?
        .execute(params![
            &timer_id[..],
            until,
            until.saturating_add(policy.grace_secs)
        ])?;
    Ok(())
}

fn check_out(
    tx: &Connection,
    device: &Device,
    timer_id: &Id,
    at: i64,
    policy: SafetyPolicy,
    now: i64,
) -> Result<()> {
    let t = own_timer(tx, device, timer_id)?;
    if t.closed {
        return Ok(());
    }
    let at = at.clamp(t.started_at, now);
    tx.prepare_cached("UPDATE safety_timers SET closed_at = ?2 WHERE timer_id = ?1")?
        .execute(params![&timer_id[..], at])?;
    // The note is not needed any more.
    tx.prepare_cached("DELETE FROM safety_notes WHERE timer_id = ?1")?
        .execute([&timer_id[..]])?;
    // Whoever was alerted hears that she checked out.
    if policy.webhook {
        tx.prepare_cached(
            "INSERT INTO safety_webhook (alert_id, event, created_at, next_at)
             SELECT alert_id, 'checked-out', ?2, ?2 FROM safety_alerts WHERE timer_id = ?1",
        )?
        .execute(params![&timer_id[..], now])?;
    }
    Ok(())
}

fn acknowledge(tx: &Connection, device: &Device, alert_id: &Id, now: i64) -> Result<()> {
    let row: Option<(Option<String>, String, Option<i64>)> = tx
        .prepare_cached(
            "SELECT t.team, u.name, a.acked_at FROM safety_alerts a
             JOIN safety_timers t ON t.timer_id = a.timer_id
             JOIN users u ON u.user_id = t.user_id
             WHERE a.alert_id = ?1",
        )?
        .query_row([&alert_id[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((team, worker, acked_at)) = row else {
        return Err(refused(ErrorCode::NotFound, "no such safety alert"));
    };
    let user = &device.user;
    let allowed = match user.role {
        Role::Admin => true,
        Role::Supervisor => team.is_some() && team == user.team,
        Role::Practitioner => false,
    };
    if !allowed {
        return Err(refused(
            ErrorCode::Forbidden,
            "only a supervisor of the worker's team (or an admin) can acknowledge a safety alert",
        ));
    }
    if acked_at.is_some() {
        // The first acknowledgement stands.
        return Ok(());
    }
    tx.prepare_cached("UPDATE safety_alerts SET acked_at = ?2, acked_by = ?3 WHERE alert_id = ?1")?
        .execute(params![&alert_id[..], now, user.name])?;
    append_admin_log(
        tx,
        now,
        &user.name,
        "safety-ack",
        Some(&hex::encode(alert_id)),
        Some(&format!(
            "worker {worker}{}; by device {}",
            team.as_deref()
                .map(|t| format!(", team {t}"))
                .unwrap_or_default(),
            hex::encode(&device.device_id[..4])
        )),
    )
}

fn apply(
    tx: &Connection,
    device: &Device,
    action: &SafetyAction,
    policy: SafetyPolicy,
    now: i64,
) -> Result<()> {
    match action {
        SafetyAction::CheckIn(c) => check_in(tx, device, c, policy, now),
        SafetyAction::Extend {
            timer_id, until, ..
        } => extend(tx, device, timer_id, *until, policy),
        SafetyAction::CheckOut { timer_id, at } => {
            check_out(tx, device, timer_id, *at, policy, now)
        }
        SafetyAction::Acknowledge { alert_id } => acknowledge(tx, device, alert_id, now),
    }
}

/// The safety state `device` may see (see [`SafetyState`]): the worker her
/// own check-ins and alerts, a supervisor her team's, an admin every alert.
pub(super) fn state(tx: &Connection, device: &Device, now: i64) -> Result<SafetyState> {
    let user = &device.user;
    let limit = proto::MAX_SAFETY_LISTED as i64;
    let mut timers = Vec::new();
    if user.role != Role::Admin {
        let mut stmt = tx.prepare_cached(
            "SELECT t.timer_id, t.case_ref, t.user_id, u.name, t.team, t.device_id,
                    t.started_at, t.until, t.alert_at, n.epoch, n.body
             FROM safety_timers t JOIN users u ON u.user_id = t.user_id
             LEFT JOIN safety_notes n ON n.timer_id = t.timer_id
             WHERE t.closed_at IS NULL
               AND (t.user_id = ?1 OR (?2 = 'supervisor' AND t.team IS NOT NULL AND t.team = ?3))
             ORDER BY t.alert_at, t.timer_id LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![&user.user_id[..], user.role.as_str(), user.team, limit],
            |r| {
                Ok((
                    (
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Vec<u8>>(5)?,
                    ),
                    (
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, Option<u32>>(9)?,
                        r.get::<_, Option<Vec<u8>>>(10)?,
                    ),
                ))
            },
        )?;
        for row in rows {
            let (
                (timer_id, case_ref, user_id, user_name, team, device_id),
                (started_at, until, alert_at, epoch, body),
            ) = row?;
            timers.push(SafetyTimer {
                timer_id: id(timer_id)?,
                case_id: id(case_ref)?,
                user_id: id(user_id)?,
                user_name,
                team,
                device_id: id(device_id)?,
                started_at,
                until,
                alert_at,
                note: match (epoch, body) {
                    (Some(epoch), Some(ciphertext)) => Some(SealedNote { epoch, ciphertext }),
                    _ => None,
                },
            });
        }
    }
    let mut stmt = tx.prepare_cached(
        "SELECT a.alert_id, a.timer_id, t.case_ref, t.user_id, u.name, t.team, a.due,
                a.raised_at, t.closed_at, a.acked_at, a.acked_by
         FROM safety_alerts a JOIN safety_timers t ON t.timer_id = a.timer_id
         JOIN users u ON u.user_id = t.user_id
         WHERE (a.acked_at IS NULL OR a.acked_at > ?4)
           AND (?2 = 'admin' OR t.user_id = ?1
                OR (?2 = 'supervisor' AND t.team IS NOT NULL AND t.team = ?3))
         ORDER BY a.acked_at IS NOT NULL, a.raised_at, a.alert_id LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            &user.user_id[..],
            user.role.as_str(),
            user.team,
            now - proto::ACKED_ALERT_LISTED_SECS,
            limit
        ],
        |r| {
            Ok((
                (
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ),
                (
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<i64>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ),
            ))
        },
    )?;
    let mut alerts = Vec::new();
    for row in rows {
        let (
            (alert_id, timer_id, case_ref, user_id, user_name, team),
            (due, raised_at, checked_out_at, acked_at, acked_by),
        ) = row?;
        alerts.push(SafetyAlert {
            alert_id: id(alert_id)?,
            timer_id: id(timer_id)?,
            case_id: id(case_ref)?,
            user_id: id(user_id)?,
            user_name,
            team,
            due,
            raised_at,
            checked_out_at,
            acked_at,
            acked_by,
        });
    }
    Ok(SafetyState { alerts, timers })
}

/// A fresh random alert id.
fn new_alert_id() -> Result<Id> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|_| StorageError::CommitFailed)?;
    Ok(id)
}

/// Timers whose alert time has passed without a check-out and without an
/// alert for their current deadline.
const DUE_TIMERS: &str = "
    SELECT t.timer_id, t.until, t.team, u.name
    FROM safety_timers t JOIN users u ON u.user_id = t.user_id
    WHERE t.closed_at IS NULL AND t.alert_at <= ?1
      AND NOT EXISTS (SELECT 1 FROM safety_alerts a WHERE a.timer_id = t.timer_id AND a.due = t.until)
    ORDER BY t.alert_at";

impl SqliteStorage {
    /// `/v1/safety` (see [`crate::Storage::safety`]).
    pub(super) fn safety_inner(
        &self,
        device: &Device,
        actions: &[SafetyAction],
        policy: SafetyPolicy,
        now: i64,
    ) -> Result<SafetyResponse> {
        self.with(|c| {
            let mut tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &device.device_id)?;
            let mut outcomes = Vec::with_capacity(actions.len());
            for action in actions {
                let sp = tx.savepoint()?;
                match apply(&sp, device, action, policy, now) {
                    Ok(()) => {
                        sp.commit()?;
                        outcomes.push(SafetyOutcome::Done);
                    }
                    Err(StorageError::Refused(code, message)) => {
                        drop(sp); // this action only
                        outcomes.push(SafetyOutcome::Refused {
                            code,
                            message: message.to_string(),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            let state = state(&tx, device, now)?;
            tx.commit()?;
            Ok(SafetyResponse { outcomes, state })
        })
    }

    /// Raises the alerts that are due (see [`crate::Storage::raise_due_alerts`]).
    pub(super) fn raise_due_alerts_inner(
        &self,
        now: i64,
        policy: SafetyPolicy,
    ) -> Result<Vec<RaisedAlert>> {
        // Almost always nothing is due: asked of a reader, without taking
        // the write lock.
        let any = self.read(|c| {
            Ok(c.prepare_cached(DUE_TIMERS)?
                .query_row([now], |_| Ok(()))
                .optional()?
                .is_some())
        })?;
        if !any {
            return Ok(Vec::new());
        }
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let due: Vec<(Vec<u8>, i64, Option<String>, String)> = tx
                .prepare_cached(DUE_TIMERS)?
                .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut raised = Vec::with_capacity(due.len());
            for (timer_id, until, team, worker) in due {
                let alert_id = new_alert_id()?;
                tx.prepare_cached(
                    "INSERT INTO safety_alerts (alert_id, timer_id, due, raised_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![&alert_id[..], timer_id, until, now])?;
                if policy.webhook {
                    tx.prepare_cached(
                        "INSERT INTO safety_webhook (alert_id, event, created_at, next_at)
                         VALUES (?1, 'alert', ?2, ?2)",
                    )?
                    .execute(params![&alert_id[..], now])?;
                }
                append_admin_log(
                    &tx,
                    now,
                    SERVER_ACTOR,
                    "safety-alert",
                    Some(&hex::encode(alert_id)),
                    Some(&format!(
                        "worker {worker}{}; due {} UTC, not checked out",
                        team.as_deref()
                            .map(|t| format!(", team {t}"))
                            .unwrap_or_default(),
                        time_of(until)
                    )),
                )?;
                raised.push(RaisedAlert {
                    alert_id,
                    team,
                    due: until,
                });
            }
            tx.commit()?;
            Ok(raised)
        })
    }

    /// Webhook deliveries due at `now`, oldest first.
    pub(super) fn webhook_due_inner(&self, now: i64, limit: usize) -> Result<Vec<WebhookDelivery>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT w.id, w.event, w.attempts, a.alert_id, a.due, a.raised_at, t.closed_at,
                        u.name, t.team, o.name
                 FROM safety_webhook w
                 JOIN safety_alerts a ON a.alert_id = w.alert_id
                 JOIN safety_timers t ON t.timer_id = a.timer_id
                 JOIN users u ON u.user_id = t.user_id
                 JOIN org o ON o.id = 1
                 WHERE w.delivered_at IS NULL AND w.next_at <= ?1
                 ORDER BY w.next_at, w.id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now, limit as i64], |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, i64>(4)?,
                    ),
                    (
                        r.get::<_, i64>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, String>(9)?,
                    ),
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (
                    (row_id, event, attempts, alert_id, due),
                    (raised_at, checked_out_at, worker, team, organisation),
                ) = row?;
                let Some(event) = WebhookEvent::parse(&event) else {
                    continue;
                };
                out.push(WebhookDelivery {
                    id: row_id,
                    event,
                    alert_id: id(alert_id)?,
                    organisation,
                    worker,
                    team,
                    due,
                    raised_at,
                    checked_out_at,
                    attempts,
                });
            }
            Ok(out)
        })
    }

    /// Records one delivery attempt (see [`crate::Storage::webhook_attempted`]).
    pub(super) fn webhook_attempted_inner(
        &self,
        delivery: i64,
        error: Option<&str>,
        now: i64,
        retry_at: i64,
    ) -> Result<()> {
        self.with(|c| {
            match error {
                None => c
                    .prepare_cached(
                        "UPDATE safety_webhook SET attempts = attempts + 1, delivered_at = ?2,
                                last_error = NULL WHERE id = ?1",
                    )?
                    .execute(params![delivery, now])?,
                Some(e) => c
                    .prepare_cached(
                        "UPDATE safety_webhook SET attempts = attempts + 1, next_at = ?2,
                                last_error = ?3 WHERE id = ?1",
                    )?
                    .execute(params![delivery, retry_at, e])?,
            };
            Ok(())
        })
    }

    /// Deletes what is kept no longer (see [`SAFETY_KEEP_SECS`]).
    pub(super) fn prune_safety_inner(&self, now: i64) -> Result<()> {
        let before = now - SAFETY_KEEP_SECS;
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM safety_webhook WHERE delivered_at IS NOT NULL AND delivered_at < ?1",
                [before],
            )?;
            tx.execute(
                "DELETE FROM safety_alerts WHERE acked_at IS NOT NULL AND acked_at < ?1
                   AND alert_id NOT IN (SELECT alert_id FROM safety_webhook)
                   AND timer_id IN (SELECT timer_id FROM safety_timers WHERE closed_at IS NOT NULL)",
                [before],
            )?;
            tx.execute(
                "DELETE FROM safety_timers WHERE closed_at IS NOT NULL AND closed_at < ?1
                   AND timer_id NOT IN (SELECT timer_id FROM safety_alerts)",
                [before],
            )?;
            tx.commit()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{NewDevice, Storage};

    struct Fixture {
        _tmp: tempfile::TempDir,
        s: SqliteStorage,
        amy: Device,
        sue: Device,
        kim: Device,
        ola: Device,
        admin: Device,
        case: Id,
    }

    fn enrol(s: &SqliteStorage, name: &str, role: Role, team: Option<&str>, n: u8) -> Device {
        let code = [n; 32];
        s.create_invite(name, role, team, code, i64::MAX, 0)
            .unwrap();
        s.enroll(
            code,
            NewDevice {
                device_id: [n; 16],
                sign_pk: [n; 32],
                kex_pk: [n; 32],
            },
            0,
        )
        .unwrap();
        s.device(&[n; 16]).unwrap().unwrap()
    }

    /// Amy (practitioner, north) holds a case; Sue supervises north; Kim is
    /// a practitioner and Ola a supervisor of south.
    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(tmp.path()).unwrap();
        s.init_org("Org", [9; 32], 0).unwrap();
        let amy = enrol(&s, "Amy", Role::Practitioner, Some("north"), 1);
        let sue = enrol(&s, "Sue", Role::Supervisor, Some("north"), 2);
        let kim = enrol(&s, "Kim", Role::Practitioner, Some("south"), 3);
        let ola = enrol(&s, "Ola", Role::Supervisor, Some("south"), 4);
        let admin = enrol(&s, "Ada", Role::Admin, None, 5);
        let case = [7; 16];
        s.with(|c| {
            c.execute(
                "INSERT INTO cases (case_id, team, epoch, created_by, created_at) VALUES (?1, 'north', 0, ?2, 0)",
                params![&case[..], &amy.user.user_id[..]],
            )?;
            c.execute(
                "INSERT INTO assignments (case_id, user_id) VALUES (?1, ?2)",
                params![&case[..], &amy.user.user_id[..]],
            )?;
            Ok(())
        })
        .unwrap();
        Fixture {
            _tmp: tmp,
            s,
            amy,
            sue,
            kim,
            ola,
            admin,
            case,
        }
    }

    const NOW: i64 = 1_800_000_000;
    const POLICY: SafetyPolicy = SafetyPolicy {
        grace_secs: 60,
        webhook: true,
    };

    fn checkin(case: Id, timer: u8, until: i64) -> SafetyAction {
        SafetyAction::CheckIn(CheckIn {
            timer_id: [timer; 16],
            case_id: case,
            started_at: NOW,
            until,
            note: Some(SealedNote {
                epoch: 0,
                ciphertext: vec![0xee; 64],
            }),
        })
    }

    fn refused_code(o: &SafetyOutcome) -> Option<ErrorCode> {
        match o {
            SafetyOutcome::Refused { code, .. } => Some(*code),
            SafetyOutcome::Done => None,
        }
    }

    #[test]
    fn check_in_escalate_acknowledge() {
        let f = fixture();
        let r =
            f.s.safety(&f.amy, &[checkin(f.case, 1, NOW + 600)], POLICY, NOW)
                .unwrap();
        assert_eq!(r.outcomes, vec![SafetyOutcome::Done]);
        assert_eq!(r.state.timers.len(), 1);
        assert_eq!(r.state.timers[0].alert_at, NOW + 660);
        assert!(r.state.timers[0].note.is_some());
        // A retry is accepted and changes nothing.
        let r =
            f.s.safety(&f.amy, &[checkin(f.case, 1, NOW + 600)], POLICY, NOW)
                .unwrap();
        assert_eq!(r.outcomes, vec![SafetyOutcome::Done]);
        // The supervisor of her team sees it; the other team does not.
        let sees = |d: &Device, now| f.s.safety(d, &[], POLICY, now).unwrap().state;
        assert_eq!(sees(&f.sue, NOW).timers.len(), 1);
        assert!(sees(&f.kim, NOW).timers.is_empty());
        assert!(sees(&f.ola, NOW).timers.is_empty());
        assert!(sees(&f.admin, NOW).timers.is_empty());
        // Not due before the grace has passed; once after it.
        assert!(f.s.raise_due_alerts(NOW + 659, POLICY).unwrap().is_empty());
        let raised = f.s.raise_due_alerts(NOW + 660, POLICY).unwrap();
        assert_eq!(raised.len(), 1);
        assert!(f.s.raise_due_alerts(NOW + 700, POLICY).unwrap().is_empty());
        let alert = raised[0].alert_id;
        assert_eq!(sees(&f.sue, NOW + 700).alerts.len(), 1);
        assert_eq!(sees(&f.admin, NOW + 700).alerts.len(), 1);
        assert_eq!(sees(&f.amy, NOW + 700).alerts.len(), 1);
        assert!(sees(&f.kim, NOW + 700).alerts.is_empty());
        assert!(sees(&f.ola, NOW + 700).alerts.is_empty());
        // One webhook delivery, due at once.
        let due = f.s.webhook_due(NOW + 700, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].worker, "Amy");
        assert_eq!(due[0].event, WebhookEvent::Alert);
        f.s.webhook_attempted(due[0].id, Some("HTTP 500"), NOW + 700, NOW + 701)
            .unwrap();
        assert!(f.s.webhook_due(NOW + 700, 10).unwrap().is_empty());
        let again = f.s.webhook_due(NOW + 701, 10).unwrap();
        assert_eq!(again[0].attempts, 1);
        f.s.webhook_attempted(again[0].id, None, NOW + 701, 0)
            .unwrap();
        assert!(f.s.webhook_due(NOW + 10_000, 10).unwrap().is_empty());
        // Only a supervisor of her team, or an admin, acknowledges.
        let ack = SafetyAction::Acknowledge { alert_id: alert };
        for d in [&f.amy, &f.kim, &f.ola] {
            let r =
                f.s.safety(d, std::slice::from_ref(&ack), POLICY, NOW + 800)
                    .unwrap();
            assert_eq!(refused_code(&r.outcomes[0]), Some(ErrorCode::Forbidden));
        }
        let r =
            f.s.safety(&f.sue, std::slice::from_ref(&ack), POLICY, NOW + 800)
                .unwrap();
        assert_eq!(r.outcomes, vec![SafetyOutcome::Done]);
        assert_eq!(r.state.alerts[0].acked_by.as_deref(), Some("Sue"));
        let log = f.s.admin_log().unwrap();
        assert!(log.iter().any(|e| e.action == "safety-alert"));
        assert!(
            log.iter()
                .any(|e| e.action == "safety-ack" && e.actor == "Sue")
        );
        // Checking out late tells the webhook, and drops the note.
        let out = SafetyAction::CheckOut {
            timer_id: [1; 16],
            at: NOW + 900,
        };
        let r = f.s.safety(&f.amy, &[out], POLICY, NOW + 900).unwrap();
        assert_eq!(r.outcomes, vec![SafetyOutcome::Done]);
        assert!(r.state.timers.is_empty());
        let due = f.s.webhook_due(NOW + 900, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].event, WebhookEvent::CheckedOut);
        let notes: i64 =
            f.s.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM safety_notes", [], |r| r.get(0))?))
                .unwrap();
        assert_eq!(notes, 0);
    }

    #[test]
    fn checked_out_or_extended_in_time_raises_nothing() {
        let f = fixture();
        let actions = [
            checkin(f.case, 1, NOW + 10),
            SafetyAction::CheckOut {
                timer_id: [1; 16],
                at: NOW + 5,
            },
            checkin(f.case, 2, NOW + 10),
            SafetyAction::Extend {
                timer_id: [2; 16],
                until: NOW + 100,
                at: NOW + 5,
            },
        ];
        let r = f.s.safety(&f.amy, &actions, POLICY, NOW).unwrap();
        assert!(r.outcomes.iter().all(|o| *o == SafetyOutcome::Done));
        assert!(f.s.raise_due_alerts(NOW + 150, POLICY).unwrap().is_empty());
        assert_eq!(f.s.raise_due_alerts(NOW + 160, POLICY).unwrap().len(), 1);
    }

    #[test]
    fn refusals_store_nothing() {
        let f = fixture();
        let unknown_case = checkin([8; 16], 1, NOW + 600);
        let past = checkin(f.case, 2, NOW - 1);
        let too_long = checkin(f.case, 3, NOW + 25 * 3600);
        let checkout = SafetyAction::CheckOut {
            timer_id: [4; 16],
            at: NOW,
        };
        let ack = SafetyAction::Acknowledge { alert_id: [5; 16] };
        let r =
            f.s.safety(
                &f.amy,
                &[unknown_case, past, too_long, checkout, ack],
                POLICY,
                NOW,
            )
            .unwrap();
        let codes: Vec<_> = r.outcomes.iter().map(refused_code).collect();
        assert_eq!(
            codes,
            vec![
                Some(ErrorCode::Forbidden),
                Some(ErrorCode::Malformed),
                Some(ErrorCode::Malformed),
                Some(ErrorCode::NotFound),
                Some(ErrorCode::NotFound),
            ]
        );
        // Sixteen open check-ins at most per user.
        let many: Vec<SafetyAction> = (10..27).map(|n| checkin(f.case, n, NOW + 600)).collect();
        let r = f.s.safety(&f.amy, &many, POLICY, NOW).unwrap();
        assert!(r.outcomes[..16].iter().all(|o| *o == SafetyOutcome::Done));
        assert_eq!(refused_code(&r.outcomes[16]), Some(ErrorCode::RateLimited));
        f.s.with(|c| Ok(c.execute("DELETE FROM safety_timers", [])?))
            .unwrap();
        // Another team's practitioner may not check in on the case.
        let r =
            f.s.safety(&f.kim, &[checkin(f.case, 6, NOW + 600)], POLICY, NOW)
                .unwrap();
        assert_eq!(refused_code(&r.outcomes[0]), Some(ErrorCode::Forbidden));
        let timers: i64 =
            f.s.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM safety_timers", [], |r| r.get(0))?))
                .unwrap();
        assert_eq!(timers, 0);
    }

    #[test]
    fn erasing_the_case_keeps_the_timer_and_drops_the_note() {
        let f = fixture();
        f.s.safety(&f.amy, &[checkin(f.case, 1, NOW + 600)], POLICY, NOW)
            .unwrap();
        f.s.erase_case(&f.case, "DPO", None, NOW).unwrap();
        let state = f.s.safety(&f.sue, &[], POLICY, NOW).unwrap().state;
        assert_eq!(state.timers.len(), 1);
        assert_eq!(state.timers[0].note, None);
        assert_eq!(f.s.raise_due_alerts(NOW + 660, POLICY).unwrap().len(), 1);
    }
}
