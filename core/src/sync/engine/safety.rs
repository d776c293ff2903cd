//! The sync engine's part in lone-working safety: send the queued check-ins,
//! extensions, check-outs and acknowledgements (`/v1/safety`), keep the state
//! the server answers with, and the one-step calls the shell and the apps
//! use (queue, then try to send at once; say plainly when it could not be
//! sent — then **no one is alerted** until it is).
//!
//! A sync round sends the queue right after its uploads (a check-in's case
//! is then on the server) and before it pulls; every pull page carries the
//! state too.

use outreach_protocol::{self as proto, ErrorCode, Id, SafetyRequest, SafetyResponse};

use super::{Session, SyncReport, VaultCell};
use crate::error::{Error, Result};
use crate::safety::{AcknowledgeReceipt, SafetyReceipt, SafetyStatus};
use crate::sync::transport::{Transport, refusal_error};
use crate::vault::{SafetyRefusal, Vault, VisitInput};

/// Requests of one exchange, at most (a queue is a handful of actions).
const MAX_REQUESTS: usize = 64;

impl<V: VaultCell> Session<'_, V> {
    /// Sends the queued safety actions, oldest first. With `always`, asks
    /// for the state even when nothing is queued. A refused action leaves
    /// the queue (returned, and kept for the views); a network failure
    /// leaves everything queued and is returned as the error.
    pub(super) fn send_safety(&mut self, always: bool) -> Result<Vec<SafetyRefusal>> {
        let mut refusals = Vec::new();
        for n in 0..MAX_REQUESTS {
            let prepared = self.vault.with(|v| v.safety_request())?;
            let body = match &prepared {
                Some(p) => proto::encode(&p.request),
                None if always && n == 0 => proto::encode(&SafetyRequest::default()),
                None => break,
            };
            match self.call_or_refusal(proto::PATH_SAFETY, body)? {
                Ok(reply) => {
                    let response: SafetyResponse = proto::decode(&reply)
                        .map_err(|_| Error::SyncProtocol("malformed safety reply"))?;
                    let Some(p) = prepared else {
                        self.vault.with(|v| v.note_safety(&response.state))?;
                        break;
                    };
                    if response.outcomes.len() != p.request.actions.len() {
                        return Err(Error::SyncProtocol(
                            "the server did not answer every safety action",
                        ));
                    }
                    refusals.extend(self.vault.with(|v| v.safety_answered(&p, &response))?);
                }
                // This server will never take these actions as they are:
                // they leave the queue (refused) rather than block it.
                Err(e) if matches!(e.code, ErrorCode::Malformed | ErrorCode::TooLarge) => {
                    let Some(p) = prepared else {
                        return Err(refusal_error(e));
                    };
                    refusals.extend(
                        self.vault
                            .with(|v| v.safety_refused_whole(&p, &e.message))?,
                    );
                }
                Err(e) => return Err(refusal_error(e)),
            }
        }
        Ok(refusals)
    }
}

/// Uploads first if a queued check-in's case was never uploaded, then sends
/// the queue (and asks for the state).
fn exchange(vault: &mut Vault, transport: &dyn Transport) -> Result<Vec<SafetyRefusal>> {
    vault.sync_config()?.ok_or(Error::NotEnrolled)?;
    let cell = std::cell::RefCell::new(&mut *vault);
    let mut s = Session {
        vault: &cell,
        transport,
        report: SyncReport::default(),
        restored: false,
    };
    if s.vault.with(|v| v.safety_needs_push())? {
        s.push(&mut ())?;
    }
    s.send_safety(true)
}

/// Sends the queued safety actions now and refreshes the state; returns
/// the actions the server refused. A revoked device wipes its vault.
pub fn send_safety(vault: &mut Vault, transport: &dyn Transport) -> Result<Vec<SafetyRefusal>> {
    let result = exchange(vault, transport);
    if let Err(Error::DeviceRevoked) = result
        && vault.is_unlocked()
    {
        vault.wipe()?;
    }
    result
}

/// [`send_safety`], then the state as [`Vault::safety_status`] gives it.
pub fn refresh_safety(vault: &mut Vault, transport: &dyn Transport) -> Result<SafetyStatus> {
    send_safety(vault, transport)?;
    vault.safety_status()
}

/// Whether a failed send leaves the action queued for later (the network or
/// the server), rather than being this device's own failure.
fn retry_later(e: &Error) -> bool {
    matches!(
        e,
        Error::ServerUnreachable(_)
            | Error::ServerRefused(_)
            | Error::SyncProtocol(_)
            | Error::Cancelled
    )
}

/// Why an action stayed queued, in a few words.
fn why_not_sent(e: &Error) -> String {
    match e {
        Error::ServerUnreachable(detail) => format!("no connection to the server: {detail}"),
        other => other.to_string(),
    }
}

/// Tries to send the action about `id` (queued already) and says whether
/// the server has it.
fn deliver(vault: &mut Vault, transport: &dyn Transport, id: Id) -> Result<SafetyReceipt> {
    let mut receipt = vault.safety_receipt(&id, None)?;
    match send_safety(vault, transport) {
        Ok(refused) => {
            if let Some(r) = refused.iter().find(|r| r.id == id) {
                return Err(Error::SafetyRefused {
                    what: r.what,
                    reason: r.reason.clone(),
                });
            }
            let after = vault.safety_receipt(&id, None)?;
            receipt.sent = after.sent;
            receipt.alert_at = after.alert_at;
            receipt.not_sent_because = after.not_sent_because;
        }
        // Queued still; `alert_at` stays what the server last said (a
        // check-out not sent does not stop that alert).
        Err(e) if retry_later(&e) => {
            receipt.sent = false;
            receipt.not_sent_because = Some(why_not_sent(&e));
        }
        Err(e) => return Err(e),
    }
    Ok(receipt)
}

/// Checks in before a visit (see [`Vault::check_in`]) and sends it at once
/// if there is a connection. An input refused, or a check-in the server
/// refuses, is an error and nothing is kept; without a connection the
/// receipt says `sent: false` — no one will be alerted until it is sent
/// (by the next sync, or any later safety call).
pub fn check_in(
    vault: &mut Vault,
    transport: &dyn Transport,
    case: &str,
    until: &str,
    note: Option<&str>,
) -> Result<SafetyReceipt> {
    let id = vault.check_in(case, until, note)?;
    deliver(vault, transport, id)
}

/// Extends this user's check-in (see [`Vault::extend_check_in`]) and sends
/// it at once if there is a connection.
pub fn extend_check_in(
    vault: &mut Vault,
    transport: &dyn Transport,
    case: Option<&str>,
    by: &str,
) -> Result<SafetyReceipt> {
    let id = vault.extend_check_in(case, by)?;
    deliver(vault, transport, id)
}

/// Checks out (see [`Vault::check_out`]) and sends it at once if there is a
/// connection. Not sent: the alert will still be raised unless the
/// check-out reaches the server before the alert time.
pub fn check_out(
    vault: &mut Vault,
    transport: &dyn Transport,
    case: Option<&str>,
) -> Result<SafetyReceipt> {
    let id = vault.check_out(case, None)?;
    deliver(vault, transport, id)
}

/// Records a visit and checks out in one step (see
/// [`Vault::add_visit_checking_out`]); returns the visit id and the receipt.
pub fn add_visit_checking_out(
    vault: &mut Vault,
    transport: &dyn Transport,
    case: &str,
    input: &VisitInput,
) -> Result<(String, SafetyReceipt)> {
    let (visit, id) = vault.add_visit_checking_out(case, input)?;
    Ok((visit, deliver_after_visit(vault, transport, id)?))
}

/// [`deliver`] once a visit is already recorded: whatever the server says
/// of the check-out, the visit stays recorded, so a refusal is reported in
/// the receipt (`sent: false` and why) rather than as an error, which the
/// apps would read as "nothing recorded, the draft kept".
fn deliver_after_visit(
    vault: &mut Vault,
    transport: &dyn Transport,
    id: Id,
) -> Result<SafetyReceipt> {
    match deliver(vault, transport, id) {
        Ok(receipt) => Ok(receipt),
        Err(e) => {
            let mut receipt = vault.safety_receipt(&id, None)?;
            receipt.sent = false;
            receipt.not_sent_because = Some(e.to_string());
            Ok(receipt)
        }
    }
}

/// [`Vault::submit_draft_checking_out`], the check-out sent at once if there
/// is a connection.
pub fn submit_draft_checking_out(
    vault: &mut Vault,
    transport: &dyn Transport,
    draft_id: &str,
) -> Result<(String, SafetyReceipt)> {
    let (visit, id) = vault.submit_draft_checking_out(draft_id)?;
    Ok((visit, deliver_after_visit(vault, transport, id)?))
}

/// Acknowledges an alert (see [`Vault::acknowledge_alert`]), sent at once
/// if there is a connection.
pub fn acknowledge_alert(
    vault: &mut Vault,
    transport: &dyn Transport,
    alert: &str,
) -> Result<AcknowledgeReceipt> {
    let id = vault.acknowledge_alert(alert)?;
    let mut receipt = AcknowledgeReceipt {
        alert_id: hex::encode(id),
        sent: false,
        not_sent_because: None,
    };
    match send_safety(vault, transport) {
        Ok(refused) => {
            if let Some(r) = refused.iter().find(|r| r.id == id) {
                if r.reason.contains("only a supervisor") {
                    return Err(Error::NotAllowedToAcknowledge);
                }
                return Err(Error::SafetyRefused {
                    what: r.what,
                    reason: r.reason.clone(),
                });
            }
            receipt.sent = !vault.safety_queued(&id)?;
        }
        Err(e) if retry_later(&e) => receipt.not_sent_because = Some(why_not_sent(&e)),
        Err(e) => return Err(e),
    }
    Ok(receipt)
}
