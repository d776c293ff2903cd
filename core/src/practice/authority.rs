//! Whose sign-off counts. A sign-off or return is a supervisor's decision,
//! and supervisors, inspectors and courts rely on it, so a typed name is not
//! enough: the deciding device signs the decision (Ed25519 over
//! `outreach_protocol::sign_off_message`) and every device that shows it
//! checks it against the organisation's directory as the server published it
//! (device → user → role, team, revocation). A decision is valid only if the
//! signature verifies, the device belonged to that user and was not revoked
//! when it was made, the user is a supervisor of the case's team, and she did
//! not record the visit herself. Anything else is shown as *not valid* —
//! never as signed off. Users' role and team are fixed when they are invited
//! (there is no command that changes them), so "the directory as it stood
//! when the decision was made" is the entry plus its revocation time.

use std::collections::BTreeMap;

use chrono::DateTime;
use outreach_protocol::{Id, Role, Signer};
use serde::{Deserialize, Serialize};

use crate::case::model::{Case, ReviewState, SignOff, SignOffDecision, Visit};

/// One device in the organisation's directory, as this device last heard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub user_id: String,
    pub user_name: String,
    pub role: String,
    pub team: Option<String>,
    pub sign_pk: String,
    pub revoked_at: Option<i64>,
}

impl DirectoryEntry {
    pub fn from_signer(s: &Signer) -> Self {
        Self {
            user_id: hex::encode(s.user_id),
            user_name: s.user_name.clone(),
            role: s.role.as_str().to_string(),
            team: s.team.clone(),
            sign_pk: hex::encode(s.sign_pk),
            revoked_at: s.revoked_at,
        }
    }
}

/// The directory (device id hex → entry) and the organisation it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    pub org_id: Option<String>,
    pub devices: BTreeMap<String, DirectoryEntry>,
}

fn id16(s: &str) -> Option<Id> {
    hex::decode(s).ok()?.try_into().ok()
}

/// May this user (per the directory) decide on visits of this case?
pub fn may_sign_off(entry: &DirectoryEntry, case: &Case, visit: &Visit) -> bool {
    entry.role == Role::Supervisor.as_str()
        && entry.team.is_some()
        && entry.team == case.programme.team
        && !recorded_by(visit, Some(&entry.user_id), &[&entry.user_name])
}

/// Did this user record the visit? By user id when the visit has one; a
/// visit recorded before its device was enrolled has only a name, so then
/// by name (any of `names`: the directory's, or the label typed at `init`).
pub fn recorded_by(visit: &Visit, user_id: Option<&str>, names: &[&str]) -> bool {
    match (&visit.recorded_by_user, user_id) {
        (Some(a), Some(b)) => a == b,
        (Some(_), None) => false,
        (None, _) => visit
            .recorded_by
            .as_deref()
            .is_some_and(|n| names.contains(&n)),
    }
}

/// Signatures already verified on this device (a BLAKE3 hash of key,
/// message and signature): a case with hundreds of signed-off visits is
/// read often, and each Ed25519 verification costs ~50 µs. Only successes
/// are kept, so the cache can never make a bad signature pass; the other
/// checks (role, team, revocation) run on every read.
pub type VerifiedCache = std::collections::HashSet<[u8; 32]>;

/// A digest of what a supervisor decides on: every content field of the
/// visit (the one list in `case::contact`), who recorded it and when, and
/// its amendments. A decision signs it, so changing the visit afterwards —
/// by anyone, on any device — leaves the decision not covering it.
pub fn visit_digest(visit: &Visit) -> [u8; 32] {
    let json = serde_json::to_value(visit).unwrap_or_default();
    let mut h = blake3::Hasher::new();
    h.update(b"outreach-visit-content-v1");
    let fields = crate::case::contact::VISIT_CONTENT_FIELDS
        .iter()
        .chain(&["recorded_by_user", "recorded_at"]);
    for field in fields {
        let value = json.get(*field).cloned().unwrap_or_default();
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        h.update(field.as_bytes());
        h.update(&(bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    for id in visit.amendments.keys() {
        h.update(b"amendment");
        h.update(id.as_bytes());
    }
    *h.finalize().as_bytes()
}

/// Is this recorded decision valid, judged by `dir`?
pub fn sign_off_valid(
    dir: &Directory,
    case: &Case,
    visit_id: &str,
    visit: &Visit,
    s: &SignOff,
    verified: &mut VerifiedCache,
) -> bool {
    let mut check = || -> Option<bool> {
        let org = id16(dir.org_id.as_deref()?)?;
        let case_id = uuid::Uuid::parse_str(&case.id).ok()?.into_bytes();
        let device_hex = s.device.as_deref()?;
        let entry = dir.devices.get(device_hex)?;
        let user = id16(s.by_user.as_deref()?)?;
        let device = id16(device_hex)?;
        if entry.user_id != hex::encode(user) || !may_sign_off(entry, case, visit) {
            return Some(false);
        }
        let at = DateTime::parse_from_rfc3339(&s.at).ok()?.timestamp();
        if entry.revoked_at.is_some_and(|r| at >= r) {
            return Some(false);
        }
        // A decision dated before the visit was recorded is backdated.
        let recorded = visit
            .recorded_at
            .as_deref()
            .and_then(|r| DateTime::parse_from_rfc3339(r).ok())
            .map(|r| r.timestamp());
        if recorded.is_some_and(|r| at < r) {
            return Some(false);
        }
        let pk: [u8; 32] = hex::decode(&entry.sign_pk).ok()?.try_into().ok()?;
        let sig = hex::decode(s.signature.as_deref()?).ok()?;
        let m = outreach_protocol::sign_off_message(
            &org,
            &case_id,
            visit_id,
            s.decision.as_str(),
            &s.at,
            s.comment.as_deref(),
            &user,
            &device,
            &visit_digest(visit),
        );
        let mut h = blake3::Hasher::new();
        h.update(&pk);
        h.update(&(m.len() as u64).to_be_bytes());
        h.update(&m);
        h.update(&sig);
        let key = *h.finalize().as_bytes();
        if verified.contains(&key) {
            return Some(true);
        }
        let ok = outreach_protocol::verify(&pk, &m, &sig).is_ok();
        if ok {
            verified.insert(key);
        }
        Some(ok)
    };
    check().unwrap_or(false)
}

/// Where a visit stands in the supervision loop, as this device judges it.
pub fn review_state(
    dir: &Directory,
    case: &Case,
    visit_id: &str,
    visit: &Visit,
    verified: &mut VerifiedCache,
) -> ReviewState {
    match &visit.sign_off {
        None if visit.amendments.is_empty() => ReviewState::Awaiting,
        None => ReviewState::Amended,
        Some(s) if !sign_off_valid(dir, case, visit_id, visit, s, verified) => {
            ReviewState::NotValid
        }
        Some(s) => match s.decision {
            SignOffDecision::SignedOff => ReviewState::SignedOff,
            SignOffDecision::Returned => ReviewState::Returned,
        },
    }
}

/// Sets every visit's `review` from the directory (stored values ignored).
/// A valid decision shows the decider's name from the directory, not the
/// name the document carries (which any writer could change).
pub fn judge_case(dir: &Directory, case: &mut Case, verified: &mut VerifiedCache) {
    let states: Vec<(String, ReviewState)> = case
        .visits
        .iter()
        .map(|(id, v)| (id.clone(), review_state(dir, case, id, v, verified)))
        .collect();
    for (id, state) in states {
        if let Some(v) = case.visits.get_mut(&id) {
            v.review = state;
            if matches!(state, ReviewState::SignedOff | ReviewState::Returned)
                && let Some(s) = v.sign_off.as_mut()
                && let Some(entry) = s.device.as_deref().and_then(|d| dir.devices.get(d))
            {
                s.by = entry.user_name.clone();
            }
        }
    }
}
