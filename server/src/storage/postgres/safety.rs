//! Lone-working safety: check-ins, alerts, acknowledgements and webhook
//! deliveries (as the SQLite backend's `safety.rs`; see `storage/safety.rs`
//! for what is stored and why).

use outreach_protocol::{
    self as proto, CheckIn, ErrorCode, Id, Role, SafetyAction, SafetyAlert, SafetyOutcome,
    SafetyResponse, SafetyState, SafetyTimer, SealedNote,
};
use postgres::Row;

use super::erasure::append_admin_log;
use super::{CASE_REFUSED, PostgresStorage, Tx, check_live, id, may_read};
use crate::storage::erasure::time_of;
use crate::storage::safety::{
    RaisedAlert, SAFETY_KEEP_SECS, SafetyPolicy, WebhookDelivery, WebhookEvent,
};
use crate::storage::{Device, Result, StorageError, refused};

const SERVER_ACTOR: &str = "outreach-server";
const MAX_QUEUED_SECS: i64 = 7 * 24 * 3600;
const MAX_OPEN_PER_USER: i64 = 16;

struct TimerRow {
    device_id: Id,
    user_id: Id,
    case_ref: Id,
    started_at: i64,
    until: i64,
    closed: bool,
}

/// The timer, locked for the transaction (a check-out and an extension
/// from two devices of the same worker apply one after the other).
fn timer(tx: &Tx, timer_id: &Id) -> Result<Option<TimerRow>> {
    tx.opt(
        "SELECT device_id, user_id, case_ref, started_at, until, closed_at IS NOT NULL
         FROM safety_timers WHERE timer_id = $1 FOR UPDATE",
        &[&&timer_id[..]],
    )?
    .map(|r| {
        Ok(TimerRow {
            device_id: id(r.try_get(0)?)?,
            user_id: id(r.try_get(1)?)?,
            case_ref: id(r.try_get(2)?)?,
            started_at: r.try_get(3)?,
            until: r.try_get(4)?,
            closed: r.try_get(5)?,
        })
    })
    .transpose()
}

fn check_window(started_at: i64, until: i64) -> Result<()> {
    if until <= started_at || until - started_at > proto::MAX_SAFETY_WINDOW_SECS {
        return Err(refused(
            ErrorCode::Malformed,
            "a check-in's deadline must be after its start and at most 24 hours later",
        ));
    }
    Ok(())
}

fn check_in(tx: &Tx, device: &Device, c: &CheckIn, policy: SafetyPolicy, now: i64) -> Result<()> {
    if device.user.role == Role::Admin {
        return Err(refused(
            ErrorCode::Forbidden,
            "admins do not visit cases: check-ins are for practitioners and supervisors",
        ));
    }
    if let Some(existing) = timer(tx, &c.timer_id)? {
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
    // The user's row locked: two devices of hers checking in at once
    // count each other's check-ins.
    tx.rows(
        "SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE",
        &[&&device.user.user_id[..]],
    )?;
    let open: i64 = tx
        .one(
            "SELECT COUNT(*) FROM safety_timers WHERE user_id = $1 AND closed_at IS NULL",
            &[&&device.user.user_id[..]],
        )?
        .try_get(0)?;
    if open >= MAX_OPEN_PER_USER {
        return Err(refused(
            ErrorCode::RateLimited,
            "this user has 16 open check-ins: check out of the visits that are over first",
        ));
    }
    let alert_at = c.until.saturating_add(policy.grace_secs);
    tx.exec(
        "INSERT INTO safety_timers (timer_id, device_id, user_id, team, case_ref, started_at,
                                    until, alert_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &&c.timer_id[..],
            &&device.device_id[..],
            &&device.user.user_id[..],
            &device.user.team,
            &&c.case_id[..],
            &c.started_at,
            &c.until,
            &alert_at,
            &now,
        ],
    )?;
    if let Some(note) = &c.note {
        tx.exec(
            "INSERT INTO safety_notes (timer_id, case_id, epoch, body) VALUES ($1, $2, $3, $4)",
            &[
                &&c.timer_id[..],
                &&c.case_id[..],
                &i64::from(note.epoch),
                &note.ciphertext,
            ],
        )?;
    }
    Ok(())
}

fn own_timer(tx: &Tx, device: &Device, timer_id: &Id) -> Result<TimerRow> {
    match timer(tx, timer_id)? {
        Some(t) if t.user_id == device.user.user_id => Ok(t),
        _ => Err(refused(
            ErrorCode::NotFound,
            "no such check-in of this user on the server",
        )),
    }
}

fn extend(tx: &Tx, device: &Device, timer_id: &Id, until: i64, policy: SafetyPolicy) -> Result<()> {
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
    tx.exec(
        "UPDATE safety_timers SET until = $2, alert_at = $3 WHERE timer_id = $1",
        &[
            &&timer_id[..],
            &until,
            &until.saturating_add(policy.grace_secs),
        ],
    )?;
    Ok(())
}

fn check_out(
    tx: &Tx,
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
    tx.exec(
        "UPDATE safety_timers SET closed_at = $2 WHERE timer_id = $1",
        &[&&timer_id[..], &at],
    )?;
    tx.exec(
        "DELETE FROM safety_notes WHERE timer_id = $1",
        &[&&timer_id[..]],
    )?;
    if policy.webhook {
        tx.exec(
            "INSERT INTO safety_webhook (alert_id, event, created_at, next_at)
             SELECT alert_id, 'checked-out', $2::bigint, $2::bigint FROM safety_alerts WHERE timer_id = $1",
            &[&&timer_id[..], &now],
        )?;
    }
    Ok(())
}

fn acknowledge(tx: &Tx, device: &Device, alert_id: &Id, now: i64) -> Result<()> {
    let Some(r) = tx.opt(
        "SELECT t.team, u.name, a.acked_at FROM safety_alerts a
         JOIN safety_timers t ON t.timer_id = a.timer_id
         JOIN users u ON u.user_id = t.user_id
         WHERE a.alert_id = $1 FOR UPDATE OF a",
        &[&&alert_id[..]],
    )?
    else {
        return Err(refused(ErrorCode::NotFound, "no such safety alert"));
    };
    let team: Option<String> = r.try_get(0)?;
    let worker: String = r.try_get(1)?;
    let acked_at: Option<i64> = r.try_get(2)?;
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
        return Ok(());
    }
    tx.exec(
        "UPDATE safety_alerts SET acked_at = $2, acked_by = $3 WHERE alert_id = $1",
        &[&&alert_id[..], &now, &user.name],
    )?;
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
    tx: &Tx,
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

fn timer_from(r: &Row) -> Result<SafetyTimer> {
    let epoch: Option<i64> = r.try_get(9)?;
    let body: Option<Vec<u8>> = r.try_get(10)?;
    Ok(SafetyTimer {
        timer_id: id(r.try_get(0)?)?,
        case_id: id(r.try_get(1)?)?,
        user_id: id(r.try_get(2)?)?,
        user_name: r.try_get(3)?,
        team: r.try_get(4)?,
        device_id: id(r.try_get(5)?)?,
        started_at: r.try_get(6)?,
        until: r.try_get(7)?,
        alert_at: r.try_get(8)?,
        note: match (epoch, body) {
            (Some(epoch), Some(ciphertext)) => Some(SealedNote {
                epoch: epoch as u32,
                ciphertext,
            }),
            _ => None,
        },
    })
}

fn alert_from(r: &Row) -> Result<SafetyAlert> {
    Ok(SafetyAlert {
        alert_id: id(r.try_get(0)?)?,
        timer_id: id(r.try_get(1)?)?,
        case_id: id(r.try_get(2)?)?,
        user_id: id(r.try_get(3)?)?,
        user_name: r.try_get(4)?,
        team: r.try_get(5)?,
        due: r.try_get(6)?,
        raised_at: r.try_get(7)?,
        checked_out_at: r.try_get(8)?,
        acked_at: r.try_get(9)?,
        acked_by: r.try_get(10)?,
    })
}

/// The open timers a user sees: her own, and her team's for a supervisor
/// (user id, role and team at parameters `$u`, `$r`, `$t`; timers as `t`).
fn timers_seen(u: u8, r: u8, t: u8) -> String {
    format!(
        "t.closed_at IS NULL
         AND (t.user_id = ${u} OR (${r}::text = 'supervisor' AND t.team IS NOT NULL AND t.team = ${t}::text))"
    )
}

/// The alerts a user sees: unacknowledged, or acknowledged after `$since`;
/// every one for an admin, her own, and her team's for a supervisor
/// (alerts as `a`, their timers as `t`).
fn alerts_seen(u: u8, r: u8, t: u8, since: u8) -> String {
    format!(
        "(a.acked_at IS NULL OR a.acked_at > ${since})
         AND (${r}::text = 'admin' OR t.user_id = ${u}
              OR (${r}::text = 'supervisor' AND t.team IS NOT NULL AND t.team = ${t}::text))"
    )
}

/// Which of a pull's two safety lists may have anything in them.
#[derive(Clone, Copy)]
pub(super) struct Listed {
    pub(super) timers: bool,
    pub(super) alerts: bool,
}

impl Listed {
    const BOTH: Listed = Listed {
        timers: true,
        alerts: true,
    };
}

/// Two SQL columns, whether [`timers_seen`] and [`alerts_seen`] find
/// anything, for a statement that answers several questions at once (a
/// pull's first): nearly always both are false, and then a pull reads
/// neither list.
pub(super) fn listed_columns(u: u8, r: u8, t: u8, since: u8) -> String {
    format!("{}, {}", any_timer(u, r, t), any_alert(u, r, t, since))
}

/// Whether either of [`listed_columns`] would be true, as one SQL
/// expression.
pub(super) fn listed_any(u: u8, r: u8, t: u8, since: u8) -> String {
    format!("({} OR {})", any_timer(u, r, t), any_alert(u, r, t, since))
}

fn any_timer(u: u8, r: u8, t: u8) -> String {
    format!(
        "EXISTS (SELECT 1 FROM safety_timers t WHERE {})",
        timers_seen(u, r, t)
    )
}

fn any_alert(u: u8, r: u8, t: u8, since: u8) -> String {
    format!(
        "EXISTS (SELECT 1 FROM safety_alerts a JOIN safety_timers t ON t.timer_id = a.timer_id
                 WHERE {})",
        alerts_seen(u, r, t, since)
    )
}

/// When alerts acknowledged earlier than this are no longer listed.
pub(super) fn acked_listed_since(now: i64) -> i64 {
    now - proto::ACKED_ALERT_LISTED_SECS
}

/// The safety state `device` may see.
pub(super) fn state(tx: &Tx, device: &Device, now: i64) -> Result<SafetyState> {
    state_listing(tx, device, now, Listed::BOTH)
}

/// [`state`], reading only the lists `listed` says may have anything.
pub(super) fn state_listing(
    tx: &Tx,
    device: &Device,
    now: i64,
    listed: Listed,
) -> Result<SafetyState> {
    let user = &device.user;
    let limit = proto::MAX_SAFETY_LISTED as i64;
    let mut timers = Vec::new();
    if user.role != Role::Admin && listed.timers {
        for r in tx.rows(
            &format!(
                "SELECT t.timer_id, t.case_ref, t.user_id, u.name, t.team, t.device_id,
                        t.started_at, t.until, t.alert_at, n.epoch, n.body
                 FROM safety_timers t JOIN users u ON u.user_id = t.user_id
                 LEFT JOIN safety_notes n ON n.timer_id = t.timer_id
                 WHERE {}
                 ORDER BY t.alert_at, t.timer_id LIMIT $4",
                timers_seen(1, 2, 3)
            ),
            &[&&user.user_id[..], &user.role.as_str(), &user.team, &limit],
        )? {
            timers.push(timer_from(&r)?);
        }
    }
    let mut alerts = Vec::new();
    if listed.alerts {
        for r in tx.rows(
            &format!(
                "SELECT a.alert_id, a.timer_id, t.case_ref, t.user_id, u.name, t.team, a.due,
                        a.raised_at, t.closed_at, a.acked_at, a.acked_by
                 FROM safety_alerts a JOIN safety_timers t ON t.timer_id = a.timer_id
                 JOIN users u ON u.user_id = t.user_id
                 WHERE {}
                 ORDER BY a.acked_at IS NOT NULL, a.raised_at, a.alert_id LIMIT $5",
                alerts_seen(1, 2, 3, 4)
            ),
            &[
                &&user.user_id[..],
                &user.role.as_str(),
                &user.team,
                &acked_listed_since(now),
                &limit,
            ],
        )? {
            alerts.push(alert_from(&r)?);
        }
    }
    Ok(SafetyState { alerts, timers })
}

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
    WHERE t.closed_at IS NULL AND t.alert_at <= $1
      AND NOT EXISTS (SELECT 1 FROM safety_alerts a WHERE a.timer_id = t.timer_id AND a.due = t.until)
    ORDER BY t.alert_at, t.timer_id";

impl PostgresStorage {
    pub(super) fn safety_inner(
        &self,
        device: &Device,
        actions: &[SafetyAction],
        policy: SafetyPolicy,
        now: i64,
    ) -> Result<SafetyResponse> {
        self.write(|tx| {
            check_live(tx, &device.device_id)?;
            let mut outcomes = Vec::with_capacity(actions.len());
            for action in actions {
                match tx.savepoint(|| apply(tx, device, action, policy, now)) {
                    Ok(()) => outcomes.push(SafetyOutcome::Done),
                    Err(StorageError::Refused(code, message)) => {
                        outcomes.push(SafetyOutcome::Refused {
                            code,
                            message: message.to_string(),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            let state = state(tx, device, now)?;
            Ok(SafetyResponse { outcomes, state })
        })
    }

    /// Raises the alerts that are due. Several instances run this every
    /// few seconds: the timers are locked (`SKIP LOCKED`: one instance
    /// raises a given alert, the others pass it by) and the alert's
    /// `UNIQUE (timer_id, due)` holds whatever happens.
    pub(super) fn raise_due_alerts_inner(
        &self,
        now: i64,
        policy: SafetyPolicy,
    ) -> Result<Vec<RaisedAlert>> {
        let any = self.read(|tx| tx.exists(DUE_TIMERS, &[&now]))?;
        if !any {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let due = tx.rows(
                &format!("{DUE_TIMERS} FOR UPDATE OF t SKIP LOCKED"),
                &[&now],
            )?;
            let mut raised = Vec::with_capacity(due.len());
            for r in due {
                let timer_id: Vec<u8> = r.try_get(0)?;
                let until: i64 = r.try_get(1)?;
                let team: Option<String> = r.try_get(2)?;
                let worker: String = r.try_get(3)?;
                let alert_id = new_alert_id()?;
                let inserted = tx.exec(
                    "INSERT INTO safety_alerts (alert_id, timer_id, due, raised_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (timer_id, due) DO NOTHING",
                    &[&&alert_id[..], &timer_id, &until, &now],
                )?;
                if inserted == 0 {
                    continue;
                }
                if policy.webhook {
                    tx.exec(
                        "INSERT INTO safety_webhook (alert_id, event, created_at, next_at)
                         VALUES ($1, 'alert', $2, $2)",
                        &[&&alert_id[..], &now],
                    )?;
                }
                append_admin_log(
                    tx,
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
            Ok(raised)
        })
    }

    pub(super) fn webhook_due_inner(&self, now: i64, limit: usize) -> Result<Vec<WebhookDelivery>> {
        self.read(|tx| {
            let mut out = Vec::new();
            for r in tx.rows(
                "SELECT w.id, w.event, w.attempts, a.alert_id, a.due, a.raised_at, t.closed_at,
                        u.name, t.team, o.name
                 FROM safety_webhook w
                 JOIN safety_alerts a ON a.alert_id = w.alert_id
                 JOIN safety_timers t ON t.timer_id = a.timer_id
                 JOIN users u ON u.user_id = t.user_id
                 JOIN org o ON o.id = 1
                 WHERE w.delivered_at IS NULL AND w.next_at <= $1
                 ORDER BY w.next_at, w.id LIMIT $2",
                &[&now, &(limit as i64)],
            )? {
                let Some(event) = WebhookEvent::parse(&r.try_get::<_, String>(1)?) else {
                    continue;
                };
                out.push(WebhookDelivery {
                    id: r.try_get(0)?,
                    event,
                    attempts: r.try_get::<_, i64>(2)? as u32,
                    alert_id: id(r.try_get(3)?)?,
                    due: r.try_get(4)?,
                    raised_at: r.try_get(5)?,
                    checked_out_at: r.try_get(6)?,
                    worker: r.try_get(7)?,
                    team: r.try_get(8)?,
                    organisation: r.try_get(9)?,
                });
            }
            Ok(out)
        })
    }

    pub(super) fn webhook_attempted_inner(
        &self,
        delivery: i64,
        error: Option<&str>,
        now: i64,
        retry_at: i64,
    ) -> Result<()> {
        self.write(|tx| {
            match error {
                None => tx.exec(
                    "UPDATE safety_webhook SET attempts = attempts + 1, delivered_at = $2,
                            last_error = NULL WHERE id = $1",
                    &[&delivery, &now],
                )?,
                Some(e) => tx.exec(
                    "UPDATE safety_webhook SET attempts = attempts + 1, next_at = $2,
                            last_error = $3 WHERE id = $1",
                    &[&delivery, &retry_at, &e],
                )?,
            };
            Ok(())
        })
    }

    pub(super) fn prune_safety_inner(&self, now: i64) -> Result<()> {
        let before = now - SAFETY_KEEP_SECS;
        self.write(|tx| {
            tx.exec(
                "DELETE FROM safety_webhook WHERE delivered_at IS NOT NULL AND delivered_at < $1",
                &[&before],
            )?;
            tx.exec(
                "DELETE FROM safety_alerts WHERE acked_at IS NOT NULL AND acked_at < $1
                   AND alert_id NOT IN (SELECT alert_id FROM safety_webhook)
                   AND timer_id IN (SELECT timer_id FROM safety_timers WHERE closed_at IS NOT NULL)",
                &[&before],
            )?;
            tx.exec(
                "DELETE FROM safety_timers WHERE closed_at IS NOT NULL AND closed_at < $1
                   AND timer_id NOT IN (SELECT timer_id FROM safety_alerts)",
                &[&before],
            )?;
            Ok(())
        })
    }
}
