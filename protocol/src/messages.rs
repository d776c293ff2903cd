//! Request and response bodies. Every field here is visible to the server;
//! record content only ever travels inside `ciphertext` fields.

use serde::{Deserialize, Serialize};

use crate::Id;

/// What a user may do. Supervisors read and write every case of their team;
/// practitioners the cases assigned to them; admins manage devices only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Practitioner,
    Supervisor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Practitioner => "practitioner",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "practitioner" => Some(Role::Practitioner),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/enroll` (not signed by a registered device: the code is the
/// credential, and `signature` proves possession of the new signing key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub code: String,
    pub device_id: Id,
    pub sign_pk: [u8; 32],
    pub kex_pk: [u8; 32],
    /// Ed25519 over [`crate::enroll_message`].
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub org_id: Id,
    pub org_name: String,
    pub user_id: Id,
    pub user_name: String,
    pub role: Role,
    pub team: Option<String>,
    /// The organisation's recovery public key (X25519, HPKE); every case key
    /// is also sealed to it.
    pub recovery_pk: [u8; 32],
}

/// An encrypted, signed batch of Automerge changes of one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// Chosen by the device; the idempotency key of the upload.
    pub client_id: Id,
    pub case_id: Id,
    pub epoch: u32,
    pub author: Id,
    pub ciphertext: Vec<u8>,
    /// Ed25519 by `author` over [`crate::change_message`].
    pub signature: Vec<u8>,
}

/// A case key sealed with HPKE to one device (or to the recovery key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub case_id: Id,
    pub epoch: u32,
    /// Device id, or [`crate::RECOVERY_RECIPIENT`].
    pub recipient: Id,
    pub sealed_by: Id,
    /// HPKE encapsulated key.
    pub enc: Vec<u8>,
    pub ciphertext: Vec<u8>,
    /// Ed25519 by `sealed_by` over [`crate::envelope_message`].
    pub signature: Vec<u8>,
    /// Sealed by the device that started this epoch, in the one
    /// `/v1/rotate` the server accepted for it (never in a push): the
    /// recipient takes the key as the epoch's key at once, without waiting
    /// for a change to confirm it (see [`RotateRequest`]).
    pub starts_epoch: bool,
}

/// `POST /v1/push`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PushRequest {
    pub changes: Vec<Change>,
    pub envelopes: Vec<Envelope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub client_id: Id,
    /// Server sequence number; the same on every retry of the same upload.
    pub seq: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PushResponse {
    pub acks: Vec<Ack>,
    pub envelopes_stored: u32,
    /// Client ids of changes not stored because they were sealed under a
    /// case-key epoch that is no longer current (another device started a
    /// new one): the device keeps them, and seals them again under the new
    /// key once its envelope arrives. Every other change is acknowledged.
    pub stale: Vec<Id>,
}

/// Where a device is in the server's log. `sub` is non-zero only while a
/// case shared with the device later is being delivered whole (see
/// [`Item::Grant`] in `docs/SYNC-API.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub seq: u64,
    pub sub: u64,
}

/// `POST /v1/pull`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PullRequest {
    pub cursor: Cursor,
    pub max_bytes: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Item {
    Change(Change),
    Envelope(Envelope),
    /// Addressed to one device: the case was transferred away from its user,
    /// so the device no longer holds it and deletes its copy (once its own
    /// unsent changes of the case have been pushed). Never stored as an
    /// upload; only the server appends it (`/v1/transfer`).
    Removed {
        case_id: Id,
    },
    /// Addressed to one device: the organisation erased the case
    /// (`outreach-server erase-case` or `retention`). The device deletes
    /// everything it holds of it — whatever its state, unsent changes and
    /// drafts included — drops anything that still arrives for it, and
    /// confirms with `/v1/erased`. Only the server appends it.
    Erased {
        case_id: Id,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub item: Item,
}

/// The signing key of a device that authored or sealed something in a page,
/// with its directory entry (who it belongs to, their role and team, and
/// when it was revoked), so that devices can judge authority — a sign-off is
/// valid only from a supervisor of the case's team — without asking again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signer {
    pub device_id: Id,
    pub sign_pk: [u8; 32],
    pub user_id: Id,
    pub user_name: String,
    pub role: Role,
    pub team: Option<String>,
    /// Unix seconds; `None` while the device is in good standing.
    pub revoked_at: Option<i64>,
}

/// An authorised recipient that has no envelope yet for a case whose key the
/// requesting device holds: the device seals one for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeNeed {
    pub case_id: Id,
    pub epoch: u32,
    pub recipient: Id,
    pub kex_pk: [u8; 32],
}

/// A device that could read the case, and the key to seal to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// Device id, or [`crate::RECOVERY_RECIPIENT`].
    pub device_id: Id,
    pub kex_pk: [u8; 32],
}

/// A case whose key must change: a device that could read it no longer may
/// (revoked, or the case was transferred away from its user). The device
/// that receives this holds the current key; it may start `epoch` with a
/// fresh key sealed to exactly `recipients` (the devices still authorised
/// and the recovery key) via `/v1/rotate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotationDue {
    pub case_id: Id,
    /// The epoch to start (the current one + 1).
    pub epoch: u32,
    pub recipients: Vec<Recipient>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PullResponse {
    pub entries: Vec<Entry>,
    pub signers: Vec<Signer>,
    /// Only on the last page.
    pub needs: Vec<EnvelopeNeed>,
    pub next: Cursor,
    pub more: bool,
    /// Only on the last page: cases whose key this device should rotate.
    pub rotations: Vec<RotationDue>,
    /// On every page: the lone-working safety state this device may see
    /// (open alerts first), as `/v1/safety` answers it.
    pub safety: crate::SafetyState,
    /// On every page: which log this is. All zeros until an admin declares
    /// the server's data restored from a backup (`outreach-server
    /// restored`), which draws a new one: a device that sees it change
    /// starts again from the beginning of the log and uploads everything it
    /// holds, since the restored log may lack what it had acknowledged.
    pub log_id: crate::Id,
}

/// `POST /v1/rotate`: start a new case-key epoch. Accepted once per (case,
/// epoch) — the first device wins, a second gets [`ErrorCode::StaleEpoch`]
/// and takes the winner's key from its envelope — and only while a rotation
/// is due. `envelopes` must all be for `epoch`, sealed by the requester with
/// `starts_epoch`, include the recovery key, and address only devices that
/// may read the case. Retrying an accepted rotation is answered the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateRequest {
    pub case_id: Id,
    pub epoch: u32,
    pub envelopes: Vec<Envelope>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RotateResponse {
    pub epoch: u32,
    pub envelopes_stored: u32,
}

/// `POST /v1/assign` (supervisors and admins).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignRequest {
    pub case_id: Id,
    pub user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignResponse {
    pub user_id: Id,
    pub devices: u32,
}

/// `POST /v1/transfer` (supervisors of the case's team and admins): the
/// case passes to `user`, and every other practitioner holding it loses it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRequest {
    pub case_id: Id,
    pub user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferResponse {
    pub user_id: Id,
    /// The new holder's name as the admin registered it.
    pub user_name: String,
    /// Her devices that will receive the case.
    pub devices: u32,
}

/// `POST /v1/refetch`: deliver these cases whole on the next pull (the
/// device found a gap in their history).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefetchRequest {
    pub cases: Vec<Id>,
}

/// Why a device quarantined an item it received (no content, ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// The item's signature does not verify, or its signer is unknown or
    /// not authorised for that case.
    BadSignature,
    /// A case-key envelope that does not open with this device's key.
    EnvelopeDoesNotOpen,
    /// A change that does not decrypt under its case key.
    DoesNotDecrypt,
    /// Decrypted, but not Automerge changes of this case.
    DoesNotApply,
    /// The item is not a well-formed message.
    Malformed,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::BadSignature => "bad-signature",
            RejectReason::EnvelopeDoesNotOpen => "envelope-does-not-open",
            RejectReason::DoesNotDecrypt => "does-not-decrypt",
            RejectReason::DoesNotApply => "does-not-apply",
            RejectReason::Malformed => "malformed",
        }
    }
}

/// One quarantined item: which case, which log position, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub case_id: Id,
    /// The item's server sequence number.
    pub seq: u64,
    /// Who signed (or claimed to sign) it.
    pub signer: Id,
    pub reason: RejectReason,
}

/// `POST /v1/report`: items this device quarantined (idempotent by
/// (device, seq)).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RejectReport {
    pub items: Vec<Rejected>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct RejectReportResponse {
    pub stored: u32,
}

/// Machine-readable reason of a refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    Malformed,
    TooLarge,
    Unauthenticated,
    BadSignature,
    ClockSkew,
    DeviceRevoked,
    Forbidden,
    UnknownCode,
    ExpiredCode,
    UsedCode,
    UnknownUser,
    DeviceExists,
    NotFound,
    Internal,
    /// The device's storage quota on the server is used up.
    QuotaExceeded,
    /// Too many attempts; try again later.
    RateLimited,
    /// This exact signed request was already used.
    Replayed,
    /// Sealed under a case-key epoch that is no longer current, or a
    /// rotation another device already made.
    StaleEpoch,
}

/// Body of every non-2xx response (postcard, like everything else).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    /// One line for logs and admins; never record content.
    pub message: String,
}
