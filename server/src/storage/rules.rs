//! The authorisation rules of the server, backend-neutral: each is a pure
//! function of facts a backend looked up inside the request's transaction
//! (a case's team and epoch, whether the user is assigned, an invite's
//! state…). A backend looks the facts up, asks these functions, and writes
//! the outcome; it decides nothing of its own, so that every backend refuses
//! the same requests with the same codes and messages (the contract suite in
//! `storage/contract.rs` checks it).
//!
//! Messages name no record content.

use outreach_protocol::{Envelope, ErrorCode, Id, RECOVERY_RECIPIENT, Role, RotateRequest};

use super::{Device, Result, StorageError, User, refused};

/// The one answer to a request naming a case the device may not use or the
/// server does not know: the two are not told apart, so a device cannot
/// learn which case ids exist.
pub const CASE_REFUSED: &str =
    "this device may not write or read that case, or there is no such case";

/// The access rule: a practitioner reads and writes the cases assigned to
/// her; a supervisor also every case of her team; an admin none (admins
/// manage devices; subject access goes through the recovery key).
pub fn may_access(user: &User, case_team: Option<&str>, assigned: bool) -> bool {
    match user.role {
        Role::Admin => false,
        Role::Practitioner => assigned,
        Role::Supervisor => assigned || (case_team.is_some() && case_team == user.team.as_deref()),
    }
}

/// Whether a device's user is among those who read a case by role alone
/// (not by assignment): a supervisor of the case's team. Backends use it to
/// list the devices that need a case's key.
pub fn reads_by_team(role: Role, user_team: Option<&str>, case_team: Option<&str>) -> bool {
    role == Role::Supervisor && case_team.is_some() && case_team == user_team
}

/// The device's standing as the backend found it in the transaction:
/// `Some(true)` live, `Some(false)` revoked, `None` unknown. Whether the
/// device may still act is decided on every request, so that a revocation by
/// an admin command (another process, another instance) holds from the next
/// request on.
pub fn check_live(live: Option<bool>) -> Result<()> {
    match live {
        Some(true) => Ok(()),
        Some(false) => Err(refused(
            ErrorCode::DeviceRevoked,
            "this device has been revoked by the organisation",
        )),
        None => Err(refused(
            ErrorCode::Unauthenticated,
            "this device is not enrolled",
        )),
    }
}

/// Whether `by` may assign or transfer a case of `case_team`: a supervisor
/// of its team or an admin. A device that may not even read the case gets
/// the same answer as for a case that does not exist (`assigned`: whether
/// `by`'s user is assigned the case).
pub fn may_manage(by: &User, case_team: Option<&str>, assigned: bool) -> Result<()> {
    let allowed = match by.role {
        Role::Admin => true,
        Role::Supervisor => case_team.is_some() && case_team == by.team.as_deref(),
        Role::Practitioner => false,
    };
    if allowed {
        return Ok(());
    }
    if !may_access(by, case_team, assigned) {
        return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
    }
    Err(refused(
        ErrorCode::Forbidden,
        "only a supervisor of the case's team (or an admin) may assign or transfer it",
    ))
}

/// What is being done to a case's assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    Assign,
    Transfer,
}

/// The user a case is assigned or transferred to (`None`: no such user).
pub fn handover_target(target: Option<User>, how: Handover) -> Result<User> {
    let target = target.ok_or(refused(
        ErrorCode::UnknownUser,
        "no user of that name: check `outreach-server devices`",
    ))?;
    if target.role == Role::Admin {
        return Err(match how {
            Handover::Assign => refused(
                ErrorCode::Forbidden,
                "cases are assigned to practitioners or supervisors, not admins",
            ),
            Handover::Transfer => refused(
                ErrorCode::Malformed,
                "cases are transferred to practitioners or supervisors, not admins",
            ),
        });
    }
    Ok(target)
}

/// Whether a user assigned a case loses it when the case is transferred to
/// someone else: everyone but supervisors (they keep their team's cases).
pub fn loses_on_transfer(role: Role) -> bool {
    role != Role::Supervisor
}

/// `invite` for a name that already exists: only with the same role and team.
pub fn invite_matches(existing: &User, role: Role, team: Option<&str>) -> Result<()> {
    if existing.role != role || existing.team.as_deref() != team {
        return Err(refused(
            ErrorCode::Malformed,
            "a user with that name exists with a different role or team",
        ));
    }
    Ok(())
}

/// An enrolment code as the backend found it (locked for the transaction).
#[derive(Debug, Clone)]
pub struct InviteState {
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub used_by: Option<Id>,
}

/// What redeeming a code does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeem {
    /// Register the device and mark the code used.
    Enrol,
    /// The same device retrying after a lost reply, with the same keys:
    /// answer as the first time, write nothing.
    Replay,
}

/// The enrolment rule. `same_device_live` (asked only when the code was used
/// by this very device id): that device is enrolled, live, with the keys it
/// presents now. `device_exists` (asked only for a code still usable): a
/// device with this id is enrolled, whatever its keys.
pub fn redeem(
    invite: Option<&InviteState>,
    device_id: &Id,
    same_device_live: impl FnOnce() -> Result<bool>,
    device_exists: impl FnOnce() -> Result<bool>,
    now: i64,
) -> Result<Redeem> {
    let invite = invite.ok_or(refused(
        ErrorCode::UnknownCode,
        "unknown enrolment code: ask your admin for a new one",
    ))?;
    if invite.used_at.is_some() {
        if invite.used_by.as_ref() == Some(device_id) && same_device_live()? {
            return Ok(Redeem::Replay);
        }
        return Err(refused(
            ErrorCode::UsedCode,
            "this enrolment code has already been used: ask your admin for a new one",
        ));
    }
    if now > invite.expires_at {
        return Err(refused(
            ErrorCode::ExpiredCode,
            "this enrolment code has expired: ask your admin for a new one",
        ));
    }
    if device_exists()? {
        return Err(refused(
            ErrorCode::DeviceExists,
            "this device is already enrolled",
        ));
    }
    Ok(Redeem::Enrol)
}

/// A case first seen in a push is registered only for a device that may hold
/// records (not an admin's) and only together with its recovery envelope,
/// sealed by the registering device for epoch 0: every case key is sealed to
/// the recovery key from the start.
pub fn may_register_case(device: &Device, case_id: &Id, envelopes: &[Envelope]) -> Result<()> {
    // The all-zero id is no case's: devices keep the draft of a case being
    // opened under it, out of reach of any erasure or removal of a case.
    if *case_id == [0u8; 16] {
        return Err(refused(
            ErrorCode::Malformed,
            "a case id must not be all zeros",
        ));
    }
    let with_recovery = envelopes.iter().any(|e| {
        e.case_id == *case_id
            && e.recipient == RECOVERY_RECIPIENT
            && e.sealed_by == device.device_id
            && e.epoch == 0
    });
    if !with_recovery {
        return Err(refused(
            ErrorCode::Malformed,
            "a new case must come with its recovery envelope in the same push",
        ));
    }
    if device.user.role == Role::Admin {
        return Err(refused(
            ErrorCode::Forbidden,
            "admin devices do not hold case records",
        ));
    }
    Ok(())
}

/// A push may write to a case its user may access, or — until it has pulled
/// past its removal — one transferred away from it (`removal_pending`): it
/// may be uploading what it wrote offline before it knew.
pub fn may_push_to(may_access: bool, removal_pending: bool) -> Result<()> {
    if may_access || removal_pending {
        Ok(())
    } else {
        Err(refused(ErrorCode::Forbidden, CASE_REFUSED))
    }
}

/// A change's epoch against the case's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeEpoch {
    /// Stored (the current epoch; or an old one from a device removed from
    /// the case that has not heard yet; or a retry of an upload already
    /// stored).
    Store,
    /// Sealed under an old key, readable by a device that lost the case
    /// since: not stored (the rest of the push goes on), reported as stale;
    /// the device seals it again under the new key.
    Stale,
}

/// The epoch rule for a change. `removal_pending` and `already_stored` are
/// only asked for when the change's epoch is old.
pub fn change_epoch(
    change_epoch: u32,
    case_epoch: u32,
    removal_pending: impl FnOnce() -> Result<bool>,
    already_stored: impl FnOnce() -> Result<bool>,
) -> Result<ChangeEpoch> {
    if change_epoch > case_epoch {
        return Err(refused(
            ErrorCode::StaleEpoch,
            "a change was sealed under a case key epoch that has not started",
        ));
    }
    if change_epoch < case_epoch && !removal_pending()? && !already_stored()? {
        return Ok(ChangeEpoch::Stale);
    }
    Ok(ChangeEpoch::Store)
}

/// The checks on an envelope in a push that need no lookup beyond the
/// case's epoch.
pub fn push_envelope(env: &Envelope, case_epoch: u32) -> Result<()> {
    if env.epoch > case_epoch {
        return Err(refused(
            ErrorCode::StaleEpoch,
            "an envelope was sealed for a case key epoch that has not started",
        ));
    }
    if env.starts_epoch {
        return Err(refused(
            ErrorCode::Malformed,
            "an envelope that starts an epoch travels only in a rotation",
        ));
    }
    Ok(())
}

/// Only the device that started an epoch seals its recovery envelope: its
/// is stored; another device's is dropped (not stored, not refused) once
/// the starter's is there — a device uploading all it holds again after a
/// restore from backup sends one for every case, not knowing who started
/// it — and refused while there is none (junk must never pre-empt it).
/// Returns whether to store it.
pub fn recovery_sealer(
    starter: Option<Id>,
    device_id: &Id,
    starters_stored: impl FnOnce() -> Result<bool>,
) -> Result<bool> {
    if starter.as_ref() == Some(device_id) {
        return Ok(true);
    }
    if starters_stored()? {
        return Ok(false);
    }
    Err(refused(
        ErrorCode::Forbidden,
        "only the device that started a case key epoch seals its recovery envelope",
    ))
}

/// Who needs an envelope of a case key epoch `starter` has just started
/// (a new case, a rotation): every device that may read the case, and the
/// recovery key — not the starter, which made the key (its need could only
/// be met by a device it had first sealed the key to: an envelope for
/// nothing; after a rotation, by nobody).
pub fn first_needs(readers: Vec<Id>, starter: &Id) -> Vec<Id> {
    readers
        .into_iter()
        .filter(|d| d != starter)
        .chain([RECOVERY_RECIPIENT])
        .collect()
}

/// The refusal of an envelope addressed to a device that may not read the
/// case.
pub fn recipient_refused() -> StorageError {
    refused(
        ErrorCode::Forbidden,
        "an envelope is addressed to a device that may not read the case",
    )
}

/// Bytes a device has stored against its quota after this request.
pub fn within_quota(total: u64, quota: u64) -> Result<()> {
    if total > quota {
        return Err(refused(
            ErrorCode::QuotaExceeded,
            "this device has used its storage quota on the server: ask your admin",
        ));
    }
    Ok(())
}

/// A case's rotation state as the backend found it (locked).
#[derive(Debug, Clone, Copy)]
pub struct RotationFacts {
    pub case_epoch: u32,
    pub rotate_due: bool,
    /// The device that started the requested epoch, if it has started.
    pub starter: Option<Id>,
}

/// The `/v1/rotate` rule: accepted once per (case, epoch), only while a
/// rotation is due and from a device that holds the current key; the winner
/// retrying is answered the same, anyone else gets `StaleEpoch`. Returns
/// whether this is the winner's retry. `holds_key` is asked only when it
/// matters.
pub fn admit_rotation(
    facts: RotationFacts,
    requested: u32,
    device_id: &Id,
    holds_key: impl FnOnce() -> Result<bool>,
) -> Result<bool> {
    let retry = facts.case_epoch == requested && facts.starter.as_ref() == Some(device_id);
    if retry {
        return Ok(true);
    }
    if requested != facts.case_epoch.saturating_add(1) || facts.starter.is_some() {
        return Err(refused(
            ErrorCode::StaleEpoch,
            "another device has already changed this case's key",
        ));
    }
    if !facts.rotate_due {
        return Err(refused(
            ErrorCode::Forbidden,
            "no key change is due for this case",
        ));
    }
    if !holds_key()? {
        return Err(refused(
            ErrorCode::Forbidden,
            "only a device that holds the case's current key may change it",
        ));
    }
    Ok(false)
}

/// The envelopes of a rotation: all this device's, for this case and epoch,
/// starting it, once per recipient, the recovery key among them, and
/// otherwise only devices that may read the case (`may_read`).
pub fn rotation_envelopes(
    request: &RotateRequest,
    device_id: &Id,
    mut may_read: impl FnMut(&Id) -> Result<bool>,
) -> Result<()> {
    let mut recovery = false;
    let mut seen = std::collections::HashSet::new();
    for env in &request.envelopes {
        if env.case_id != request.case_id
            || env.epoch != request.epoch
            || !env.starts_epoch
            || env.sealed_by != *device_id
            || !seen.insert(env.recipient)
        {
            return Err(refused(
                ErrorCode::Malformed,
                "every envelope of a rotation is this device's, for this case and epoch, once per recipient",
            ));
        }
        if env.recipient == RECOVERY_RECIPIENT {
            recovery = true;
        } else if !may_read(&env.recipient)? {
            return Err(recipient_refused());
        }
    }
    if !recovery {
        return Err(refused(
            ErrorCode::Malformed,
            "a new case key must be sealed to the recovery key too",
        ));
    }
    Ok(())
}

/// What a compaction may do, from the facts: the device may read and write
/// the case (strictly — a device removed from it may not rewrite its
/// history), the snapshot is sealed under the case's current epoch (a device
/// that lost the case since cannot read it), and there are at least two
/// covered changes (else there is nothing to replace). Returns whether to
/// replace anything.
pub fn compaction(
    may_access: bool,
    snapshot_epoch: u32,
    case_epoch: u32,
    covered: usize,
) -> Result<bool> {
    if !may_access {
        return Err(refused(ErrorCode::Forbidden, CASE_REFUSED));
    }
    if snapshot_epoch != case_epoch {
        return Err(refused(
            ErrorCode::StaleEpoch,
            "a snapshot must be sealed under the case's current key: sync, then compact again",
        ));
    }
    Ok(covered >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_envelope_is_kept_only_from_the_epochs_starter() {
        let (starter, other) = ([1u8; 16], [2u8; 16]);
        let stored = |b: bool| move || -> Result<bool> { Ok(b) };
        assert!(recovery_sealer(Some(starter), &starter, stored(false)).unwrap());
        // Another device's, once the starter's is there: dropped.
        assert!(!recovery_sealer(Some(starter), &other, stored(true)).unwrap());
        // Before it (junk racing ahead): refused.
        assert!(recovery_sealer(Some(starter), &other, stored(false)).is_err());
        assert!(recovery_sealer(None, &other, stored(false)).is_err());
    }

    fn user(role: Role, team: Option<&str>) -> User {
        User {
            user_id: [1; 16],
            name: "u".into(),
            role,
            team: team.map(str::to_string),
        }
    }

    #[test]
    fn manage_rule() {
        let sup = user(Role::Supervisor, Some("north"));
        assert!(may_manage(&sup, Some("north"), false).is_ok());
        assert!(may_manage(&user(Role::Admin, None), Some("x"), false).is_ok());
        let prac = user(Role::Practitioner, Some("north"));
        // Not even readable: the one answer.
        match may_manage(&prac, Some("north"), false) {
            Err(StorageError::Refused(ErrorCode::Forbidden, m)) => assert_eq!(m, CASE_REFUSED),
            other => panic!("{other:?}"),
        }
        match may_manage(&prac, Some("north"), true) {
            Err(StorageError::Refused(ErrorCode::Forbidden, m)) => assert_ne!(m, CASE_REFUSED),
            other => panic!("{other:?}"),
        }
        assert!(may_manage(&sup, Some("south"), false).is_err());
    }

    #[test]
    fn redeem_rule() {
        let fresh = InviteState {
            expires_at: 100,
            used_at: None,
            used_by: None,
        };
        let d = [7; 16];
        assert_eq!(
            redeem(Some(&fresh), &d, || Ok(false), || Ok(false), 50).ok(),
            Some(Redeem::Enrol)
        );
        assert!(matches!(
            redeem(Some(&fresh), &d, || Ok(false), || Ok(false), 101),
            Err(StorageError::Refused(ErrorCode::ExpiredCode, _))
        ));
        assert!(matches!(
            redeem(None, &d, || Ok(false), || Ok(false), 1),
            Err(StorageError::Refused(ErrorCode::UnknownCode, _))
        ));
        assert!(matches!(
            redeem(Some(&fresh), &d, || Ok(false), || Ok(true), 1),
            Err(StorageError::Refused(ErrorCode::DeviceExists, _))
        ));
        let used = InviteState {
            used_at: Some(10),
            used_by: Some(d),
            ..fresh
        };
        // A replay is answered even after expiry.
        assert_eq!(
            redeem(Some(&used), &d, || Ok(true), || Ok(true), 500).ok(),
            Some(Redeem::Replay)
        );
        assert!(matches!(
            redeem(Some(&used), &d, || Ok(false), || Ok(true), 50),
            Err(StorageError::Refused(ErrorCode::UsedCode, _))
        ));
        assert!(matches!(
            redeem(Some(&used), &[8; 16], || Ok(true), || Ok(false), 50),
            Err(StorageError::Refused(ErrorCode::UsedCode, _))
        ));
    }

    #[test]
    fn rotation_rule() {
        let me = [3; 16];
        let due = RotationFacts {
            case_epoch: 0,
            rotate_due: true,
            starter: None,
        };
        assert_eq!(admit_rotation(due, 1, &me, || Ok(true)).ok(), Some(false));
        assert!(matches!(
            admit_rotation(due, 2, &me, || Ok(true)),
            Err(StorageError::Refused(ErrorCode::StaleEpoch, _))
        ));
        assert!(matches!(
            admit_rotation(due, 1, &me, || Ok(false)),
            Err(StorageError::Refused(ErrorCode::Forbidden, _))
        ));
        let not_due = RotationFacts {
            rotate_due: false,
            ..due
        };
        assert!(admit_rotation(not_due, 1, &me, || Ok(true)).is_err());
        let won = RotationFacts {
            case_epoch: 1,
            rotate_due: false,
            starter: Some(me),
        };
        assert_eq!(admit_rotation(won, 1, &me, || Ok(false)).ok(), Some(true));
        assert!(matches!(
            admit_rotation(won, 1, &[4; 16], || Ok(true)),
            Err(StorageError::Refused(ErrorCode::StaleEpoch, _))
        ));
    }
}
