//! Lone-working safety on the device: check in before a visit, extend, check
//! out, acknowledge an alert — each queued durably first (one transaction:
//! the action, sealed under the DRK, and this device's record of its
//! check-ins), then sent by the sync engine (`/v1/safety`) when there is a
//! connection. Until an action is sent the server does not know it: the
//! views say so ([`CheckInState::NotSent`], [`CheckInState::CheckOutNotSent`]).
//!
//! The note is kept sealed under the DRK while queued and sealed under the
//! case's current key only when sent (so a key rotation meanwhile, or a case
//! uploaded for the first time in the same sync, is no problem); the server
//! forwards it to the worker's and her supervisors' devices, which open it
//! with the case key. The server's answer (and every pull page) carries the
//! safety state this device may see; it is kept sealed (`meta`
//! `safety_server`) for the views, offline included.

use chrono::{DateTime, TimeDelta, Utc};
use outreach_protocol::{
    self as proto, CheckIn, ErrorCode, Id, SafetyAction, SafetyOutcome, SafetyResponse,
    SafetyState, SealedNote,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Vault;
use crate::case::validate::instant_string;
use crate::crypto::{self, Aad, RecordKind};
use crate::error::{Error, Result, ValidationError};
use crate::safety::{
    AlertView, CheckInState, CheckInView, MAX_NOTE_CHARS, SafetyReceipt, SafetyStatus,
    check_deadline, parse_extension, parse_until,
};
use crate::vault::VisitInput;

const META_SAFETY: &str = "safety";
const META_SAFETY_SERVER: &str = "safety_server";
/// Refusals kept for the views.
const MAX_REFUSED_KEPT: usize = 10;
/// Bytes of actions sent per request (the server reads 64 KiB).
const MAX_REQUEST_BYTES: usize = 48 * 1024;
/// The state a pull page carries is written again at most this often when
/// it has not changed (its "as of" time moves).
const STATE_REFRESH_SECS: i64 = 30;

/// One of this device's check-ins, until the server knows it is over.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Own {
    timer_id: Id,
    case_id: Id,
    started_at: i64,
    until: i64,
    note: Option<String>,
    /// The server has the check-in.
    sent: bool,
    /// Checked out here (unix seconds); the entry goes once the server has it.
    checked_out_at: Option<i64>,
    /// The visit recorded with the check-out.
    visit_id: Option<String>,
}

/// One of this user's check-ins that is not over.
#[derive(Debug, Clone)]
struct Mine {
    timer_id: Id,
    case_id: Id,
    started_at: i64,
    until: i64,
}

/// This device's check-ins and what the server refused (sealed, `meta`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LocalSafety {
    own: Vec<Own>,
    refused: Vec<String>,
}

/// An action waiting for a connection (sealed, one `safety_outbox` row).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Queued {
    CheckIn {
        timer_id: Id,
        case_id: Id,
        started_at: i64,
        until: i64,
        note: Option<String>,
    },
    Extend {
        timer_id: Id,
        until: i64,
        at: i64,
    },
    CheckOut {
        timer_id: Id,
        at: i64,
    },
    Acknowledge {
        alert_id: Id,
    },
}

impl Queued {
    /// The check-in or alert it is about.
    fn subject(&self) -> Id {
        match self {
            Queued::CheckIn { timer_id, .. }
            | Queued::Extend { timer_id, .. }
            | Queued::CheckOut { timer_id, .. } => *timer_id,
            Queued::Acknowledge { alert_id } => *alert_id,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Queued::CheckIn { .. } => "check-in",
            Queued::Extend { .. } => "extension",
            Queued::CheckOut { .. } => "check-out",
            Queued::Acknowledge { .. } => "acknowledgement",
        }
    }
}

/// An action the server refused: what, about which check-in or alert, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyRefusal {
    /// `check-in`, `extension`, `check-out` or `acknowledgement`.
    pub what: &'static str,
    /// The check-in's (or alert's) id.
    pub id: Id,
    pub reason: String,
}

/// Queued actions turned into one request: their rows, and what they were.
pub struct PreparedSafety {
    pub rows: Vec<i64>,
    pub request: proto::SafetyRequest,
    queued: Vec<Queued>,
}

fn corrupt() -> Error {
    Error::CorruptRecord {
        what: "lone-working safety state",
        case: "-".into(),
    }
}

fn local_aad(vault_id: Id) -> Aad<'static> {
    Aad::new(vault_id, [0; 16], RecordKind::SafetyState, b"safety", 0)
}

fn server_aad(vault_id: Id) -> Aad<'static> {
    Aad::new(
        vault_id,
        [0; 16],
        RecordKind::SafetyState,
        b"safety-server",
        0,
    )
}

fn queued_aad(vault_id: Id, row: i64) -> Aad<'static> {
    Aad::new(
        vault_id,
        [0; 16],
        RecordKind::SafetyState,
        b"safety-outbox",
        row as u64,
    )
}

/// What a note is bound to: the check-in and the worker's device.
fn note_record(timer_id: &Id, device: &Id) -> [u8; 32] {
    let mut r = [0u8; 32];
    r[..16].copy_from_slice(timer_id);
    r[16..].copy_from_slice(device);
    r
}

/// Where a check-in note belongs: organisation, case, check-in, worker's
/// device, case-key epoch.
pub fn note_aad<'a>(org: Id, case: Id, epoch: u32, record: &'a [u8; 32]) -> Aad<'a> {
    Aad::new(org, case, RecordKind::SafetyNote, record, u64::from(epoch))
}

fn utc(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

fn time(unix: i64) -> String {
    instant_string(utc(unix))
}

fn uuid(id: &Id) -> String {
    uuid::Uuid::from_bytes(*id).to_string()
}

impl Vault {
    fn safety_local(&self) -> Result<LocalSafety> {
        let Some(sealed) = self.store()?.meta_get(META_SAFETY)? else {
            return Ok(LocalSafety::default());
        };
        let plain = Zeroizing::new(
            crypto::open(&self.unlocked()?.drk, &local_aad(self.vault_id()?), &sealed)
                .map_err(|_| corrupt())?,
        );
        serde_json::from_slice(&plain).map_err(|_| corrupt())
    }

    fn seal_local(&self, local: &LocalSafety) -> Result<Vec<u8>> {
        let plain = Zeroizing::new(serde_json::to_vec(local).map_err(|_| corrupt())?);
        Ok(crypto::seal(
            &self.unlocked()?.drk,
            &local_aad(self.vault_id()?),
            &plain,
        )?)
    }

    /// The last state the server sent, and when (unix seconds).
    fn safety_server(&self) -> Result<Option<(i64, SafetyState)>> {
        let Some(sealed) = self.store()?.meta_get(META_SAFETY_SERVER)? else {
            return Ok(None);
        };
        let plain = crypto::open(
            &self.unlocked()?.drk,
            &server_aad(self.vault_id()?),
            &sealed,
        )
        .map_err(|_| corrupt())?;
        proto::decode(&plain).map(Some).map_err(|_| corrupt())
    }

    fn seal_server(&self, at: i64, state: &SafetyState) -> Result<Vec<u8>> {
        Ok(crypto::seal(
            &self.unlocked()?.drk,
            &server_aad(self.vault_id()?),
            &proto::encode(&(at, state)),
        )?)
    }

    fn safety_queue(&self) -> Result<Vec<(i64, Queued)>> {
        let vault_id = self.vault_id()?;
        let drk = &self.unlocked()?.drk;
        let mut out = Vec::new();
        for (row, body) in self.store()?.safety_outbox()? {
            let plain = Zeroizing::new(
                crypto::open(drk, &queued_aad(vault_id, row), &body).map_err(|_| corrupt())?,
            );
            out.push((row, serde_json::from_slice(&plain).map_err(|_| corrupt())?));
        }
        Ok(out)
    }

    /// Queues `action` and stores `local`, in one durable transaction.
    fn enqueue(&mut self, action: &Queued, local: &LocalSafety) -> Result<()> {
        let plain = Zeroizing::new(serde_json::to_vec(action).map_err(|_| corrupt())?);
        let meta = self.seal_local(local)?;
        let vault_id = self.vault_id()?;
        let (Some(store), Some(unlocked)) = (self.store.as_mut(), self.unlocked.as_ref()) else {
            return Err(Error::Locked);
        };
        store.safety_enqueue(&[(META_SAFETY, &meta)], |row| {
            Ok(crypto::seal(
                &unlocked.drk,
                &queued_aad(vault_id, row),
                &plain,
            )?)
        })?;
        Ok(())
    }

    /// The enrolled user's id, or `NotEnrolled`: lone-working alerts need
    /// the organisation's server.
    fn safety_user(&self) -> Result<Id> {
        let config = self.sync_config()?.ok_or(Error::NotEnrolled)?;
        hex::decode(&config.user_id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(corrupt)
    }

    /// This user's check-ins that are not over: this device's (not checked
    /// out here) and those the server lists for her from her other devices.
    fn active_mine(&self) -> Result<Vec<Mine>> {
        let me = self.safety_user()?;
        let local = self.safety_local()?;
        let mut out: Vec<Mine> = local
            .own
            .iter()
            .filter(|o| o.checked_out_at.is_none())
            .map(|o| Mine {
                timer_id: o.timer_id,
                case_id: o.case_id,
                started_at: o.started_at,
                until: o.until,
            })
            .collect();
        let ended: Vec<Id> = local
            .own
            .iter()
            .filter(|o| o.checked_out_at.is_some())
            .map(|o| o.timer_id)
            .collect();
        if let Some((_, state)) = self.safety_server()? {
            for t in state.timers {
                if t.user_id == me
                    && !ended.contains(&t.timer_id)
                    && !out.iter().any(|o| o.timer_id == t.timer_id)
                {
                    out.push(Mine {
                        timer_id: t.timer_id,
                        case_id: t.case_id,
                        started_at: t.started_at,
                        until: t.until,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The one active check-in `case` names (or the only one, without a
    /// case).
    fn pick_mine(&self, case: Option<&str>) -> Result<Mine> {
        let mine = self.active_mine()?;
        let chosen: Vec<_> = match case {
            Some(c) => {
                let id = self.resolve_case(c).or_else(|e| {
                    // A case no longer on this device may still have a
                    // check-in (e.g. erased meanwhile): match its id.
                    let c = c.trim().to_ascii_lowercase();
                    let hits: Vec<_> = mine
                        .iter()
                        .filter(|m| c.len() >= 4 && uuid(&m.case_id).starts_with(&c))
                        .collect();
                    match hits.as_slice() {
                        [one] => Ok(one.case_id),
                        _ => Err(e),
                    }
                })?;
                mine.into_iter().filter(|m| m.case_id == id).collect()
            }
            None => mine,
        };
        match chosen.as_slice() {
            [] => Err(Error::NotCheckedIn),
            [one] => Ok(one.clone()),
            _ => Err(Error::SeveralCheckIns),
        }
    }

    /// Checks in before a visit to `case`, until `until` (`HH:MM` today,
    /// a full timestamp, or `+90m`), with an optional note (address details,
    /// who may be present: sealed under the case key). Queued durably; the
    /// sync engine sends it (`sync::check_in` does at once). Nothing is
    /// stored if an input is refused. Returns the check-in's id.
    pub fn check_in(&mut self, case: &str, until: &str, note: Option<&str>) -> Result<Id> {
        self.safety_user()?;
        let case_id = self.resolve_case(case)?;
        let now = self.now();
        let until = parse_until("until", until, now.with_timezone(&chrono::Local))?;
        let note = match note.map(str::trim) {
            None | Some("") => None,
            Some(n) if n.chars().count() > MAX_NOTE_CHARS => {
                return Err(ValidationError::new(
                    "note",
                    format!("must be at most {MAX_NOTE_CHARS} characters"),
                )
                .into());
            }
            Some(n) => Some(n.to_string()),
        };
        if self.active_mine()?.iter().any(|m| m.case_id == case_id) {
            return Err(Error::AlreadyCheckedIn);
        }
        let timer_id = crypto::random_id()?;
        let mut local = self.safety_local()?;
        local.own.push(Own {
            timer_id,
            case_id,
            started_at: now.timestamp(),
            until: until.timestamp(),
            note: note.clone(),
            sent: false,
            checked_out_at: None,
            visit_id: None,
        });
        let action = Queued::CheckIn {
            timer_id,
            case_id,
            started_at: now.timestamp(),
            until: until.timestamp(),
            note,
        };
        self.enqueue(&action, &local)?;
        Ok(timer_id)
    }

    /// Moves the deadline of this user's check-in (to `case`, or her only
    /// one) by `by` (`30m`, `1h`): from the deadline, or from now if it has
    /// passed. Returns the check-in's id.
    pub fn extend_check_in(&mut self, case: Option<&str>, by: &str) -> Result<Id> {
        let by = parse_extension("extend", by)?;
        let Mine {
            timer_id,
            case_id,
            started_at,
            until,
        } = self.pick_mine(case)?;
        let now = self.now();
        let new_until = utc(until).max(now) + by;
        check_deadline("extend", new_until, now)?;
        if new_until - utc(started_at) > TimeDelta::hours(24) {
            return Err(ValidationError::new(
                "extend",
                "a check-in lasts at most 24 hours from its start: check out and check in again",
            )
            .into());
        }
        let mut local = self.safety_local()?;
        match local.own.iter_mut().find(|o| o.timer_id == timer_id) {
            Some(o) => o.until = new_until.timestamp(),
            // Made on another of her devices: followed here from now on.
            None => local.own.push(Own {
                timer_id,
                case_id,
                started_at,
                until: new_until.timestamp(),
                note: None,
                sent: true,
                checked_out_at: None,
                visit_id: None,
            }),
        }
        let action = Queued::Extend {
            timer_id,
            until: new_until.timestamp(),
            at: now.timestamp(),
        };
        self.enqueue(&action, &local)?;
        Ok(timer_id)
    }

    /// Checks out of this user's check-in (to `case`, or her only one),
    /// optionally linking the visit recorded for it. Returns its id.
    pub fn check_out(&mut self, case: Option<&str>, visit_id: Option<&str>) -> Result<Id> {
        let Mine {
            timer_id,
            case_id,
            started_at,
            until,
        } = self.pick_mine(case)?;
        let now = self.now().timestamp();
        let mut local = self.safety_local()?;
        match local.own.iter_mut().find(|o| o.timer_id == timer_id) {
            Some(o) => {
                o.checked_out_at = Some(now);
                o.visit_id = visit_id.map(str::to_string);
            }
            None => local.own.push(Own {
                timer_id,
                case_id,
                started_at,
                until,
                note: None,
                sent: true,
                checked_out_at: Some(now),
                visit_id: visit_id.map(str::to_string),
            }),
        }
        self.enqueue(&Queued::CheckOut { timer_id, at: now }, &local)?;
        Ok(timer_id)
    }

    /// Records a visit and checks out of the case's check-in in one step:
    /// the visit's check-in and check-out times (unless given) are the
    /// check-in's start and now, and the check-out names the visit. Refused
    /// before anything is written when she is not checked in to the case.
    /// Returns (visit id, check-in id).
    pub fn add_visit_checking_out(
        &mut self,
        case: &str,
        input: &VisitInput,
    ) -> Result<(String, Id)> {
        let input = self.with_check_in_times(case, input)?;
        let visit = self.add_visit(case, &input)?;
        let timer = self.check_out(Some(case), Some(&visit))?;
        Ok((visit, timer))
    }

    /// [`Vault::add_visit_checking_out`] for the contact form's saved
    /// draft: the visit takes the draft's id, as [`Vault::submit_draft`]
    /// does: the visit is written and the draft deleted in one transaction,
    /// so the contact can never be recorded twice, and a visit already
    /// recorded under that id is never written over.
    pub fn submit_draft_checking_out(&mut self, draft_id: &str) -> Result<(String, Id)> {
        let (case, visit) = self.submit_draft_with(draft_id, |vault, case, input| {
            vault.with_check_in_times(case, &input)
        })?;
        let timer = self.check_out(Some(&case), Some(&visit))?;
        Ok((visit, timer))
    }

    /// The visit's check-in and check-out times, unless given: her open
    /// check-in's start, and now. Refused when she is not checked in to
    /// the case (nothing is written).
    fn with_check_in_times(&self, case: &str, input: &VisitInput) -> Result<VisitInput> {
        let started_at = self.pick_mine(Some(case))?.started_at;
        let mut input = input.clone();
        if input.checked_in_at.is_none() {
            input.checked_in_at = Some(time(started_at));
        }
        if input.checked_out_at.is_none() {
            input.checked_out_at = Some(instant_string(self.now()));
        }
        Ok(input)
    }

    /// Acknowledges an alert (a unique prefix of 4+ hex digits of its id, as
    /// the views list it): supervisors of the worker's team and admins.
    /// Queued and sent like the other actions. Returns the alert's id.
    pub fn acknowledge_alert(&mut self, alert: &str) -> Result<Id> {
        self.safety_user()?;
        let config = self.sync_config()?.ok_or(Error::NotEnrolled)?;
        if config.role() == Some(proto::Role::Practitioner) {
            return Err(Error::NotAllowedToAcknowledge);
        }
        let given = alert.trim().to_ascii_lowercase();
        if given.len() < 4 || !given.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::UnknownAlert);
        }
        let alerts = self
            .safety_server()?
            .map(|(_, s)| s.alerts)
            .unwrap_or_default();
        let hits: Vec<Id> = alerts
            .iter()
            .filter(|a| hex::encode(a.alert_id).starts_with(&given))
            .map(|a| a.alert_id)
            .collect();
        let alert_id = match hits.as_slice() {
            [] => return Err(Error::UnknownAlert),
            [one] => *one,
            _ => return Err(Error::AmbiguousRecord("safety alert")),
        };
        let local = self.safety_local()?;
        self.enqueue(&Queued::Acknowledge { alert_id }, &local)?;
        Ok(alert_id)
    }

    /// Safety actions waiting for a connection.
    pub fn safety_unsent(&self) -> Result<u64> {
        self.store()?.safety_outbox_len()
    }

    /// Whether an action about `id` (a check-in or alert) is still queued.
    pub fn safety_queued(&self, id: &Id) -> Result<bool> {
        Ok(self.safety_queue()?.iter().any(|(_, q)| q.subject() == *id))
    }

    /// Whether a queued check-in is for a case never uploaded (the server
    /// would not know it: push first).
    pub fn safety_needs_push(&self) -> Result<bool> {
        for (_, q) in self.safety_queue()? {
            if let Queued::CheckIn { case_id, .. } = q
                && self.store()?.case_exists(&case_id)?
                && self.store()?.synced_heads(&case_id)?.is_none()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The queued actions as one request (oldest first, up to the request
    /// size), notes sealed under their case's current key; `None` when
    /// nothing is queued.
    pub fn safety_request(&mut self) -> Result<Option<PreparedSafety>> {
        let queue = self.safety_queue()?;
        if queue.is_empty() {
            return Ok(None);
        }
        let (config, _) = self.enrolled()?;
        let org = config.org_id()?;
        let me = self.device_id_bytes()?;
        let mut prepared = PreparedSafety {
            rows: Vec::new(),
            request: proto::SafetyRequest::default(),
            queued: Vec::new(),
        };
        let mut bytes = 0;
        for (row, q) in queue {
            let action = match &q {
                Queued::CheckIn {
                    timer_id,
                    case_id,
                    started_at,
                    until,
                    note,
                } => {
                    let note = match note {
                        // A case no longer here (erased, transferred): sent
                        // without its note (the server refuses a case it
                        // does not know anyway).
                        Some(text) if self.store()?.case_exists(case_id)? => {
                            let (epoch, key) = self.current_case_key(*case_id)?;
                            let record = note_record(timer_id, &me);
                            let ciphertext = crypto::seal(
                                &key,
                                &note_aad(org, *case_id, epoch, &record),
                                text.as_bytes(),
                            )?;
                            Some(SealedNote { epoch, ciphertext })
                        }
                        _ => None,
                    };
                    SafetyAction::CheckIn(CheckIn {
                        timer_id: *timer_id,
                        case_id: *case_id,
                        started_at: *started_at,
                        until: *until,
                        note,
                    })
                }
                Queued::Extend {
                    timer_id,
                    until,
                    at,
                } => SafetyAction::Extend {
                    timer_id: *timer_id,
                    until: *until,
                    at: *at,
                },
                Queued::CheckOut { timer_id, at } => SafetyAction::CheckOut {
                    timer_id: *timer_id,
                    at: *at,
                },
                Queued::Acknowledge { alert_id } => SafetyAction::Acknowledge {
                    alert_id: *alert_id,
                },
            };
            let size = proto::encode(&action).len();
            if !prepared.rows.is_empty()
                && (bytes + size > MAX_REQUEST_BYTES
                    || prepared.rows.len() >= proto::MAX_SAFETY_ACTIONS)
            {
                break;
            }
            bytes += size;
            prepared.rows.push(row);
            prepared.request.actions.push(action);
            prepared.queued.push(q);
        }
        Ok(Some(prepared))
    }

    /// What the server answered to a prepared request: done actions leave
    /// the queue (a check-in is then known to the server, a check-out ends
    /// the check-in here), refused ones too — recorded for the views and
    /// returned. The state it sent is kept. One transaction.
    pub fn safety_answered(
        &mut self,
        sent: &PreparedSafety,
        response: &SafetyResponse,
    ) -> Result<Vec<SafetyRefusal>> {
        let refusals = sent
            .queued
            .iter()
            .zip(&response.outcomes)
            .filter_map(|(q, o)| match o {
                SafetyOutcome::Done => None,
                SafetyOutcome::Refused { code, message } => Some((q, *code, message.clone())),
            })
            .map(|(q, code, reason)| (q.clone(), code, reason))
            .collect::<Vec<_>>();
        let done: Vec<&Queued> = sent
            .queued
            .iter()
            .zip(&response.outcomes)
            .filter(|(_, o)| **o == SafetyOutcome::Done)
            .map(|(q, _)| q)
            .collect();
        self.answer(&sent.rows, &done, &refusals, &response.state)
    }

    /// The whole request was refused (it is malformed or too large for this
    /// server): its actions leave the queue as refused, so they cannot block
    /// the ones after them.
    pub fn safety_refused_whole(
        &mut self,
        sent: &PreparedSafety,
        reason: &str,
    ) -> Result<Vec<SafetyRefusal>> {
        let refusals: Vec<_> = sent
            .queued
            .iter()
            .map(|q| (q.clone(), ErrorCode::Malformed, reason.to_string()))
            .collect();
        let state = self.safety_server()?.map(|(_, s)| s).unwrap_or_default();
        self.answer(&sent.rows, &[], &refusals, &state)
    }

    fn answer(
        &mut self,
        rows: &[i64],
        done: &[&Queued],
        refused: &[(Queued, ErrorCode, String)],
        state: &SafetyState,
    ) -> Result<Vec<SafetyRefusal>> {
        let mut local = self.safety_local()?;
        for q in done {
            match q {
                Queued::CheckIn { timer_id, .. } => {
                    if let Some(o) = local.own.iter_mut().find(|o| o.timer_id == *timer_id) {
                        o.sent = true;
                    }
                }
                Queued::CheckOut { timer_id, .. } => local.own.retain(|o| o.timer_id != *timer_id),
                Queued::Extend { .. } | Queued::Acknowledge { .. } => {}
            }
        }
        let mut out = Vec::new();
        for (q, code, reason) in refused {
            let subject = q.subject();
            match q {
                // A check-in the server refused does not exist: no one
                // would be alerted, so it is not kept as if it did.
                Queued::CheckIn { .. } => local.own.retain(|o| o.timer_id != subject),
                // The server has no such open check-in: nothing to end.
                Queued::CheckOut { .. } if *code == ErrorCode::NotFound => {
                    local.own.retain(|o| o.timer_id != subject)
                }
                _ => {}
            }
            let line = format!(
                "{} {} refused by the server: {reason}",
                q.what(),
                hex::encode(&subject[..4])
            );
            local.refused.push(line);
            out.push(SafetyRefusal {
                what: q.what(),
                id: subject,
                reason: reason.clone(),
            });
        }
        let excess = local.refused.len().saturating_sub(MAX_REFUSED_KEPT);
        local.refused.drain(..excess);
        let still_queued: Vec<Id> = self
            .safety_queue()?
            .into_iter()
            .filter(|(row, _)| !rows.contains(row))
            .map(|(_, q)| q.subject())
            .collect();
        reconcile(&mut local, state, &still_queued);
        let now = self.now().timestamp();
        let meta = self.seal_local(&local)?;
        let server = self.seal_server(now, state)?;
        self.store_mut()?
            .safety_answered(rows, &[(META_SAFETY, &meta), (META_SAFETY_SERVER, &server)])?;
        Ok(out)
    }

    /// Keeps the safety state a pull page carried (written only when it
    /// changed, or every 30 s so its "as of" time stays true).
    pub fn note_safety(&mut self, state: &SafetyState) -> Result<()> {
        let now = self.now().timestamp();
        if let Some((at, stored)) = self.safety_server()?
            && stored == *state
            && now - at < STATE_REFRESH_SECS
        {
            return Ok(());
        }
        let mut local = self.safety_local()?;
        let queued: Vec<Id> = self
            .safety_queue()?
            .into_iter()
            .map(|(_, q)| q.subject())
            .collect();
        reconcile(&mut local, state, &queued);
        let meta = self.seal_local(&local)?;
        let server = self.seal_server(now, state)?;
        self.store_mut()?.meta_put(&[
            (META_SAFETY, meta.as_slice()),
            (META_SAFETY_SERVER, server.as_slice()),
        ])
    }

    /// What this device knows of lone-working: alerts (open first), active
    /// check-ins with their notes opened where this device holds the case
    /// key, what is not sent yet, what the server refused.
    pub fn safety_status(&self) -> Result<SafetyStatus> {
        let me = self.safety_user().ok();
        let my_name = self.identity()?.name;
        let org = self.sync_config()?.map(|c| c.org_id()).transpose()?;
        let local = self.safety_local()?;
        let server = self.safety_server()?;
        let now = self.now();
        let (as_of, state) = match server {
            Some((at, s)) => (Some(time(at)), s),
            None => (None, SafetyState::default()),
        };
        let own = |id: &Id| local.own.iter().find(|o| o.timer_id == *id);
        let mut check_ins = Vec::new();
        for t in &state.timers {
            let mine = Some(t.user_id) == me;
            let local_own = own(&t.timer_id);
            let (note, unreadable) = match (local_own.and_then(|o| o.note.clone()), &t.note) {
                (Some(n), _) => (Some(n), false),
                (None, None) => (None, false),
                (None, Some(sealed)) => match org.and_then(|org| self.open_note(org, t, sealed)) {
                    Some(n) => (Some(n), false),
                    None => (None, true),
                },
            };
            let until = local_own.map_or(t.until, |o| o.until);
            let state = if local_own.is_some_and(|o| o.checked_out_at.is_some()) {
                CheckInState::CheckOutNotSent
            } else if utc(until) <= now {
                CheckInState::Overdue
            } else {
                CheckInState::Active
            };
            check_ins.push(CheckInView {
                timer_id: hex::encode(t.timer_id),
                case_id: uuid(&t.case_id),
                worker: t.user_name.clone(),
                team: t.team.clone(),
                mine,
                started_at: time(t.started_at),
                until: time(until),
                alert_at: Some(time(t.alert_at)),
                note,
                note_unreadable: unreadable,
                state,
            });
        }
        for o in &local.own {
            if state.timers.iter().any(|t| t.timer_id == o.timer_id) {
                continue;
            }
            // Checked in and out before either reached the server: over,
            // and no one will be alerted.
            if o.checked_out_at.is_some() && !o.sent {
                continue;
            }
            check_ins.push(CheckInView {
                timer_id: hex::encode(o.timer_id),
                case_id: uuid(&o.case_id),
                worker: my_name.clone(),
                team: self.sync_config()?.and_then(|c| c.team),
                mine: true,
                started_at: time(o.started_at),
                until: time(o.until),
                alert_at: None,
                note: o.note.clone(),
                note_unreadable: false,
                state: if !o.sent {
                    CheckInState::NotSent
                } else if o.checked_out_at.is_some() {
                    CheckInState::CheckOutNotSent
                } else if utc(o.until) <= now {
                    CheckInState::Overdue
                } else {
                    CheckInState::Active
                },
            });
        }
        // Not sent first (nobody knows), then the soonest alert.
        check_ins.sort_by(|a, b| {
            let rank = |c: &CheckInView| match c.state {
                CheckInState::NotSent | CheckInState::CheckOutNotSent => 0,
                _ => 1,
            };
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.alert_at.cmp(&b.alert_at))
                .then_with(|| a.until.cmp(&b.until))
        });
        let alerts = state
            .alerts
            .iter()
            .map(|a| {
                let end = a.checked_out_at.map_or(now, utc);
                AlertView {
                    alert_id: hex::encode(a.alert_id),
                    case_id: uuid(&a.case_id),
                    worker: a.user_name.clone(),
                    team: a.team.clone(),
                    due: time(a.due),
                    raised_at: time(a.raised_at),
                    minutes_overdue: ((end - utc(a.due)).num_minutes()).max(0),
                    checked_out_at: a.checked_out_at.map(time),
                    acknowledged_at: a.acked_at.map(time),
                    acknowledged_by: a.acked_by.clone(),
                    mine: Some(a.user_id) == me,
                }
            })
            .collect();
        Ok(SafetyStatus {
            alerts,
            check_ins,
            unsent: u32::try_from(self.safety_unsent()?).unwrap_or(u32::MAX),
            as_of,
            refused: local.refused,
        })
    }

    /// Opens a check-in note with the case key of its epoch, if this device
    /// holds it.
    fn open_note(&self, org: Id, t: &proto::SafetyTimer, sealed: &SealedNote) -> Option<String> {
        let key = self.case_key(t.case_id, sealed.epoch).ok()??;
        let record = note_record(&t.timer_id, &t.device_id);
        let plain = crypto::open(
            &key,
            &note_aad(org, t.case_id, sealed.epoch, &record),
            &sealed.ciphertext,
        )
        .ok()?;
        String::from_utf8(plain).ok()
    }

    /// A receipt for the check-in `timer_id` (after a send attempt).
    pub fn safety_receipt(
        &self,
        timer_id: &Id,
        not_sent_because: Option<String>,
    ) -> Result<SafetyReceipt> {
        let local = self.safety_local()?;
        let server = self.safety_server()?.map(|(_, s)| s).unwrap_or_default();
        let on_server = server.timers.iter().find(|t| t.timer_id == *timer_id);
        let own = local.own.iter().find(|o| o.timer_id == *timer_id);
        let (case_id, until) = match (own, on_server) {
            (Some(o), _) => (o.case_id, o.until),
            (None, Some(t)) => (t.case_id, t.until),
            (None, None) => ([0; 16], 0),
        };
        let sent = !self.safety_queued(timer_id)?;
        Ok(SafetyReceipt {
            timer_id: hex::encode(timer_id),
            case_id: uuid(&case_id),
            until: time(until),
            sent,
            alert_at: on_server.map(|t| time(t.alert_at)),
            not_sent_because: if sent { None } else { not_sent_because },
        })
    }
}

/// Brings this device's record of its check-ins in line with the server's
/// state: a check-in the server has and no longer lists (and about which
/// nothing is queued) is over — checked out from another device.
fn reconcile(local: &mut LocalSafety, state: &SafetyState, queued: &[Id]) {
    local.own.retain(|o| {
        !o.sent
            || queued.contains(&o.timer_id)
            || state.timers.iter().any(|t| t.timer_id == o.timer_id)
    });
    for o in &mut local.own {
        if let Some(t) = state.timers.iter().find(|t| t.timer_id == o.timer_id)
            && !queued.contains(&o.timer_id)
        {
            o.until = t.until;
        }
    }
}
