//! Recovery: rebuilding cases from the server's data with the organisation's
//! recovery key — offline, on a DPO's machine, with no vault.
//!
//! Why it exists: a subject access request for a woman whose only phone was
//! lost must still be answered, and the server cannot read a record. Every
//! case key is sealed (HPKE) to the organisation's recovery key as well as to
//! devices, so whoever holds that key file and a copy of the server's data
//! can open every case. This module is that opening, and nothing else.
//!
//! Why it is pure: the caller (`outreach recover`) reads the server's data
//! through the server crate's read-only export module (which alone knows the
//! server's schema) and hands over plain values — the organisation, its
//! devices, and each case's log items as the server stored them (postcard
//! `Item`s). Nothing here touches a file, a database or the network, so a
//! later PostgreSQL source changes the reader, not this.
//!
//! Each item is judged as a device judges what it pulls
//! (`vault/sync.rs`): every signature is verified against the signer's key
//! from the server's device table (a revoked device's items stored before
//! its revocation count, as on a device; one stored after it does not);
//! every recovery envelope opened is kept as a *candidate* key for its
//! (case, epoch), and the one under which a change decrypts is confirmed;
//! each change is decrypted with a key of **its own epoch** and merged with
//! Automerge. One bad item is reported with its log position and the case is
//! rebuilt from the rest (marked partial); one bad case never stops another.
//! The export is built by [`crate::export::case_export`], the function
//! `outreach export` uses, against a directory built from the server's
//! devices and users — so it holds what the devices would export.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use outreach_protocol::{self as proto, Change, Id, Item, RECOVERY_RECIPIENT, Role};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::case::doc::CaseDoc;
use crate::case::validate::instant_string;
use crate::crypto::{self, SecretKey};
use crate::export::{CaseExport, case_export};
use crate::practice::{Directory, DirectoryEntry, VerifiedCache};
use crate::vault::change_aad;

/// Why recovery cannot start at all (one line, no personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    #[error("the recovery key is malformed: it is not a 32-byte X25519 private key")]
    MalformedKey,
    #[error(
        "this recovery key is not the organisation's: its public half does not match the one the server holds"
    )]
    WrongKey,
}

/// The organisation's recovery private key (zeroized on drop).
pub struct RecoveryKey {
    sk: Zeroizing<[u8; 32]>,
    pk: [u8; 32],
}

impl RecoveryKey {
    /// From the 32 private-key bytes of a recovery key file.
    pub fn from_bytes(sk: &[u8]) -> Result<Self, RecoverError> {
        let arr: [u8; 32] = sk.try_into().map_err(|_| RecoverError::MalformedKey)?;
        let pk = crypto::recovery_public_key(&arr).map_err(|_| RecoverError::MalformedKey)?;
        Ok(Self {
            sk: Zeroizing::new(arr),
            pk,
        })
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.pk
    }
}

/// A device as the server's directory lists it (device and user tables).
#[derive(Debug, Clone)]
pub struct KnownDevice {
    pub device_id: Id,
    pub sign_pk: [u8; 32],
    pub user_id: Id,
    pub user_name: String,
    pub role: Role,
    pub team: Option<String>,
    /// Unix seconds, server time.
    pub revoked_at: Option<i64>,
}

/// One stored log item of a case: its position, when the server stored it
/// (server time), and its bytes as stored (a postcard `Item`).
#[derive(Debug, Clone)]
pub struct LoggedItem {
    pub seq: u64,
    pub stored_at: i64,
    pub body: Vec<u8>,
}

/// What became of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseStatus {
    /// Every item verified, decrypted and applied.
    Recovered,
    /// Written from the items that could be recovered; `problems` says what
    /// is missing and why.
    Partial,
    /// Nothing could be written.
    NotRecovered,
    /// The organisation erased the case: nothing of it is left to recover.
    Erased,
}

/// Why an item (or a whole epoch) could not be recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// No envelope sealed to the recovery key for this epoch.
    NoRecoveryEnvelope,
    /// Not a well-formed item, or an item naming another case.
    Malformed,
    /// Signed by a device the server does not list.
    UnknownSigner,
    /// The signature does not verify.
    BadSignature,
    /// Stored after its signing device was revoked.
    StoredAfterRevocation,
    /// A recovery envelope that does not open with this key.
    EnvelopeDoesNotOpen,
    /// A change that decrypts under no recovery key of its epoch.
    DoesNotDecrypt,
    /// Decrypted, but not Automerge changes of this case's record.
    DoesNotApply,
    /// Changes that depend on history that could not be recovered.
    MissingHistory,
    /// The server holds no change of this case.
    NoChanges,
}

impl Problem {
    /// One line for the summary and the terminal.
    pub fn describe(self) -> &'static str {
        match self {
            Problem::NoRecoveryEnvelope => {
                "no envelope for the recovery key: this epoch's case key cannot be opened"
            }
            Problem::Malformed => "not a well-formed item of this case (damaged or tampered with)",
            Problem::UnknownSigner => {
                "signed by a device the server does not list (damaged or tampered with)"
            }
            Problem::BadSignature => {
                "its signature does not verify: altered after it was signed (damaged or tampered with)"
            }
            Problem::StoredAfterRevocation => {
                "stored after its device was revoked, which the server never accepts (tampered with)"
            }
            Problem::EnvelopeDoesNotOpen => {
                "a recovery envelope that does not open with this key (sealed to another key, or damaged)"
            }
            Problem::DoesNotDecrypt => {
                "a change that does not decrypt under its case key (damaged or tampered with)"
            }
            Problem::DoesNotApply => {
                "decrypted, but not changes of this case's record (damaged or tampered with)"
            }
            Problem::MissingHistory => {
                "later changes depend on changes that could not be recovered"
            }
            Problem::NoChanges => "the server holds no change of this case",
        }
    }

    /// The reason in the summary's words: `no-recovery-envelope`,
    /// `wrong-key`, `tampered`, `incomplete`, `no-data`.
    pub fn reason(self) -> &'static str {
        match self {
            Problem::NoRecoveryEnvelope => "no-recovery-envelope",
            Problem::EnvelopeDoesNotOpen => "wrong-key",
            Problem::MissingHistory => "incomplete",
            Problem::NoChanges => "no-data",
            _ => "tampered",
        }
    }
}

/// One problem: the log position of the item (when it is about one item),
/// the epoch (when it is about a key), what, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemProblem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    pub problem: Problem,
    pub reason: &'static str,
    pub detail: &'static str,
}

impl ItemProblem {
    fn new(seq: Option<u64>, epoch: Option<u32>, problem: Problem) -> Self {
        Self {
            seq,
            epoch,
            problem,
            reason: problem.reason(),
            detail: problem.describe(),
        }
    }
}

/// The outcome for one case: its status and problems (what the summary
/// lists), and what to write (the export and the Automerge document).
#[derive(Debug, Clone, Serialize)]
pub struct CaseRecovery {
    pub case_id: String,
    pub status: CaseStatus,
    /// Changes verified, decrypted and applied.
    pub changes: usize,
    /// Key epochs the case's changes were sealed under.
    pub epochs: Vec<u32>,
    pub problems: Vec<ItemProblem>,
    /// When the organisation erased it (RFC 3339), for an erased case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<String>,
    #[serde(skip)]
    pub export: Option<CaseExport>,
    #[serde(skip)]
    pub automerge: Option<Vec<u8>>,
}

impl CaseRecovery {
    /// A case the organisation erased (its tombstone: id and time only).
    pub fn erased(case_id: Id, erased_at: i64) -> Self {
        Self {
            case_id: case_name(case_id),
            status: CaseStatus::Erased,
            changes: 0,
            epochs: Vec::new(),
            problems: Vec::new(),
            erased_at: Some(
                DateTime::<Utc>::from_timestamp(erased_at, 0)
                    .map(instant_string)
                    .unwrap_or_default(),
            ),
            export: None,
            automerge: None,
        }
    }

    fn failed(case_id: Id, problems: Vec<ItemProblem>, epochs: Vec<u32>) -> Self {
        Self {
            case_id: case_name(case_id),
            status: CaseStatus::NotRecovered,
            changes: 0,
            epochs,
            problems,
            erased_at: None,
            export: None,
            automerge: None,
        }
    }
}

fn case_name(id: Id) -> String {
    uuid::Uuid::from_bytes(id).to_string()
}

/// The keys recovery envelopes offered for one (case, epoch).
#[derive(Default)]
struct EpochKeys {
    candidates: Vec<SecretKey>,
    /// The candidate a change decrypted under.
    confirmed: Option<usize>,
}

impl EpochKeys {
    /// Decrypts with the confirmed key first, then every other candidate;
    /// the first that opens it is confirmed.
    fn open(&mut self, aad: &crypto::Aad<'_>, ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let order = self
            .confirmed
            .into_iter()
            .chain((0..self.candidates.len()).filter(|i| Some(*i) != self.confirmed));
        for i in order {
            if let Ok(bytes) = crypto::open(&self.candidates[i], aad, ciphertext) {
                self.confirmed.get_or_insert(i);
                return Some(Zeroizing::new(bytes));
            }
        }
        None
    }
}

/// Opens cases with the recovery key against one organisation's directory.
pub struct Recoverer {
    key: RecoveryKey,
    org_id: Id,
    devices: HashMap<Id, KnownDevice>,
    directory: Directory,
    verified: VerifiedCache,
}

impl Recoverer {
    /// Checks the key against the organisation's recovery public key (the
    /// server's `org` row) before anything is opened with it.
    pub fn new(
        key: RecoveryKey,
        org_id: Id,
        recovery_pk: [u8; 32],
        devices: Vec<KnownDevice>,
    ) -> Result<Self, RecoverError> {
        if key.public_key() != recovery_pk {
            return Err(RecoverError::WrongKey);
        }
        let directory = Directory {
            org_id: Some(hex::encode(org_id)),
            devices: devices
                .iter()
                .map(|d| {
                    (
                        hex::encode(d.device_id),
                        DirectoryEntry {
                            user_id: hex::encode(d.user_id),
                            user_name: d.user_name.clone(),
                            role: d.role.as_str().to_string(),
                            team: d.team.clone(),
                            sign_pk: hex::encode(d.sign_pk),
                            revoked_at: d.revoked_at,
                        },
                    )
                })
                .collect(),
        };
        Ok(Self {
            key,
            org_id,
            devices: devices.into_iter().map(|d| (d.device_id, d)).collect(),
            directory,
            verified: VerifiedCache::default(),
        })
    }

    /// The directory sign-offs are judged against (from the server's
    /// devices and users, as devices receive it in pull pages).
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Checks an item's signature by its signer's key; a revoked device's
    /// item counts only if the server stored it before the revocation.
    fn verify(
        &self,
        signer: &Id,
        message: &[u8],
        signature: &[u8],
        stored_at: i64,
    ) -> Result<(), Problem> {
        let device = self.devices.get(signer).ok_or(Problem::UnknownSigner)?;
        proto::verify(&device.sign_pk, message, signature).map_err(|_| Problem::BadSignature)?;
        if device.revoked_at.is_some_and(|r| stored_at > r) {
            return Err(Problem::StoredAfterRevocation);
        }
        Ok(())
    }

    /// Rebuilds one case from its log items (any order; changes and the
    /// envelopes addressed to the recovery key — others are ignored).
    pub fn recover_case(
        &mut self,
        case_id: Id,
        items: &[LoggedItem],
        exported_at: DateTime<Utc>,
        exported_by: &str,
    ) -> CaseRecovery {
        let mut problems = Vec::new();
        let mut keys: BTreeMap<u32, EpochKeys> = BTreeMap::new();
        let mut changes: Vec<(u64, Change)> = Vec::new();
        let mut sorted: Vec<&LoggedItem> = items.iter().collect();
        sorted.sort_by_key(|i| i.seq);

        // Envelopes first: a case's first change is logged before the
        // envelopes pushed with it.
        for item in sorted {
            let seq = Some(item.seq);
            let Ok(decoded) = proto::decode::<Item>(&item.body) else {
                problems.push(ItemProblem::new(seq, None, Problem::Malformed));
                continue;
            };
            match decoded {
                Item::Envelope(env) => {
                    if env.recipient != RECOVERY_RECIPIENT {
                        continue;
                    }
                    let epoch = Some(env.epoch);
                    if env.case_id != case_id {
                        problems.push(ItemProblem::new(seq, epoch, Problem::Malformed));
                        continue;
                    }
                    let m = proto::envelope_message(
                        &env.case_id,
                        env.epoch,
                        &env.recipient,
                        &env.sealed_by,
                        env.starts_epoch,
                        &env.enc,
                        &env.ciphertext,
                    );
                    if let Err(p) = self.verify(&env.sealed_by, &m, &env.signature, item.stored_at)
                    {
                        problems.push(ItemProblem::new(seq, epoch, p));
                        continue;
                    }
                    let aad =
                        proto::envelope_aad(&self.org_id, &case_id, env.epoch, &RECOVERY_RECIPIENT);
                    match crypto::open_envelope_with_recovery_key(
                        &self.key.sk[..],
                        &env.enc,
                        &env.ciphertext,
                        proto::ENVELOPE_INFO,
                        &aad,
                    ) {
                        Ok(key) => keys.entry(env.epoch).or_default().candidates.push(key),
                        Err(_) => problems.push(ItemProblem::new(
                            seq,
                            epoch,
                            Problem::EnvelopeDoesNotOpen,
                        )),
                    }
                }
                Item::Change(change) => {
                    let epoch = Some(change.epoch);
                    if change.case_id != case_id {
                        problems.push(ItemProblem::new(seq, epoch, Problem::Malformed));
                        continue;
                    }
                    let m = proto::change_message(
                        &change.case_id,
                        change.epoch,
                        &change.author,
                        &change.client_id,
                        &change.ciphertext,
                    );
                    match self.verify(&change.author, &m, &change.signature, item.stored_at) {
                        Ok(()) => changes.push((item.seq, change)),
                        Err(p) => problems.push(ItemProblem::new(seq, epoch, p)),
                    }
                }
                // Server bookkeeping (removals, erasures), not content.
                _ => {}
            }
        }

        let epochs: Vec<u32> = changes
            .iter()
            .map(|(_, c)| c.epoch)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut plain: Vec<(u64, Zeroizing<Vec<u8>>)> = Vec::with_capacity(changes.len());
        let mut keyless = BTreeSet::new();
        for (seq, change) in &changes {
            let Some(epoch_keys) = keys.get_mut(&change.epoch) else {
                keyless.insert(change.epoch);
                continue;
            };
            let aad = change_aad(self.org_id, case_id, change.epoch, &change.client_id);
            match epoch_keys.open(&aad, &change.ciphertext) {
                Some(bytes) => plain.push((*seq, bytes)),
                None => problems.push(ItemProblem::new(
                    Some(*seq),
                    Some(change.epoch),
                    Problem::DoesNotDecrypt,
                )),
            }
        }
        for epoch in keyless {
            problems.push(ItemProblem::new(
                None,
                Some(epoch),
                Problem::NoRecoveryEnvelope,
            ));
        }
        if changes.is_empty() && problems.is_empty() {
            problems.push(ItemProblem::new(None, None, Problem::NoChanges));
        }

        let Some((mut doc, applied)) = merge(&plain, &mut problems) else {
            return CaseRecovery::failed(case_id, problems, epochs);
        };
        if applied == 0 {
            return CaseRecovery::failed(case_id, problems, epochs);
        }
        // Bytes from the server's data: a decoder panic inside Automerge is
        // this case not recovered, never a recovery run that stops.
        let (directory, verified) = (&self.directory, &mut self.verified);
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let readable = doc.read().ok().is_some_and(|c| c.id == case_name(case_id));
            if !readable {
                return None;
            }
            let export =
                case_export(&mut doc, directory, verified, exported_at, exported_by).ok()?;
            Some((export, doc.save()))
        }));
        let Ok(Some((export, automerge))) = built else {
            problems.push(ItemProblem::new(None, None, Problem::DoesNotApply));
            return CaseRecovery::failed(case_id, problems, epochs);
        };
        CaseRecovery {
            case_id: case_name(case_id),
            status: if problems.is_empty() {
                CaseStatus::Recovered
            } else {
                CaseStatus::Partial
            },
            changes: applied,
            epochs,
            problems,
            erased_at: None,
            automerge: Some(automerge),
            export: Some(export),
        }
    }
}

/// Merges decrypted changes, in log order, into one document, as a device
/// applies what it pulls: a change that does not apply is reported and the
/// document rebuilt from the ones that did. Returns the document and how
/// many changes applied (`None` only if Automerge cannot start a document).
fn merge(
    plain: &[(u64, Zeroizing<Vec<u8>>)],
    problems: &mut Vec<ItemProblem>,
) -> Option<(CaseDoc, usize)> {
    // Recovery never writes to a document: any actor id will do.
    const ACTOR: [u8; 16] = [0; 16];
    let mut doc = CaseDoc::load(&ACTOR, None, std::iter::empty()).ok()?;
    let mut good: Vec<&[u8]> = Vec::with_capacity(plain.len());
    for (seq, bytes) in plain {
        let before = doc.heads();
        if doc.apply_changes(bytes).is_err() {
            problems.push(ItemProblem::new(Some(*seq), None, Problem::DoesNotApply));
            // The document may be half-changed: rebuild it from the rest.
            doc = CaseDoc::load(&ACTOR, None, good.iter().copied()).ok()?;
            continue;
        }
        // Automerge skips what it cannot parse: a change that changed
        // nothing, waits for nothing and is not Automerge is garbage.
        if doc.heads() == before && doc.missing_deps().is_empty() && !CaseDoc::is_automerge(bytes) {
            problems.push(ItemProblem::new(Some(*seq), None, Problem::DoesNotApply));
            continue;
        }
        good.push(bytes);
    }
    if !doc.missing_deps().is_empty() {
        problems.push(ItemProblem::new(None, None, Problem::MissingHistory));
    }
    let applied = good.len();
    Some((doc, applied))
}

/// Recovery's own record of a run (for the summary and `ACCESS-LOG.jsonl`):
/// who ran it, when, on which cases — no content.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryRun {
    pub action: &'static str,
    pub at: String,
    /// The operating-system user who ran it.
    pub by: String,
    pub organisation: String,
    /// Where the server's data was read from (a folder, later a database).
    pub source: String,
    /// The cases asked for (`--case`), or empty for all.
    pub requested: Vec<String>,
    pub recovered: Vec<String>,
    pub partial: Vec<String>,
    pub not_recovered: Vec<String>,
    pub erased: Vec<String>,
}

impl RecoveryRun {
    pub fn new(
        at: DateTime<Utc>,
        by: &str,
        organisation: &str,
        source: &str,
        requested: Vec<String>,
        cases: &[CaseRecovery],
    ) -> Self {
        let with = |s: CaseStatus| {
            cases
                .iter()
                .filter(|c| c.status == s)
                .map(|c| c.case_id.clone())
                .collect()
        };
        Self {
            action: "recover",
            at: instant_string(at),
            by: by.to_string(),
            organisation: organisation.to_string(),
            source: source.to_string(),
            requested,
            recovered: with(CaseStatus::Recovered),
            partial: with(CaseStatus::Partial),
            not_recovered: with(CaseStatus::NotRecovered),
            erased: with(CaseStatus::Erased),
        }
    }
}
