//! The vault's side of sync: device keys, case keys, the outbox of uploads
//! and applying what was received. No network here — the engine in
//! `crate::sync` drives these steps over a transport.
//!
//! Durability: local changes are turned into sealed, signed uploads and
//! queued in the outbox in the same transaction that records them as handed
//! to sync, so an upload is built once and re-sent byte-identical (same
//! client id) until the server acknowledges it. Received changes are stored
//! as chunks before the cursor moves past them; a change whose case key has
//! not arrived yet waits in the inbox rather than being skipped.

use std::collections::BTreeSet;

use automerge::ChangeHash;
use outreach_protocol::{
    self as proto, Change, Cursor, Envelope, EnvelopeNeed, Id, Item, PullResponse,
    RECOVERY_RECIPIENT, RejectReason, Role,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Vault, chunk_aad};
use crate::case::doc::CaseDoc;
use crate::crypto::{self, Aad, DeviceKeys, RecordKind, SecretKey};
use crate::error::{Error, Result};
use crate::practice::{Directory, DirectoryEntry};

const META_IDENTITY: &str = "sync_identity";
const META_CONFIG: &str = "sync_config";
const META_CURSOR: &str = "sync_cursor";
/// The server log's id as last seen (see [`Vault::check_log_id`]).
pub(crate) const META_LOG_ID: &str = "server_log_id";
const META_DIRECTORY: &str = "directory";

/// What enrolment taught this device; sealed under the root key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncConfig {
    pub server: String,
    pub allow_insecure_http: bool,
    pub org_id: String,
    pub org_name: String,
    pub user_id: String,
    pub user_name: String,
    pub role: String,
    pub team: Option<String>,
    pub recovery_pk: String,
}

impl SyncConfig {
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    pub(crate) fn org_id(&self) -> Result<Id> {
        hex_id(&self.org_id)
    }

    fn recovery_pk(&self) -> Result<[u8; 32]> {
        hex::decode(&self.recovery_pk)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::CorruptRecord {
                what: "sync settings",
                case: "-".into(),
            })
    }
}

fn hex_id(s: &str) -> Result<Id> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::CorruptRecord {
            what: "sync settings",
            case: "-".into(),
        })
}

/// Where a case stands with the server, for the caseload screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseSyncState {
    /// Never uploaded (or this device is not enrolled).
    NeverSynced,
    /// Changes recorded here are not yet acknowledged by the server.
    PendingUpload,
    /// Everything here is on the server.
    Synced,
    /// Synced, with fields edited differently on two devices to resolve.
    Conflict,
    /// Something received for this case was quarantined (a colleague's
    /// device sent an item that does not verify, open or apply): everything
    /// else synced; the organisation's admin sees the report.
    NeedsAttention,
}

/// What applying one page of a pull did.
#[derive(Debug, Default)]
pub struct Applied {
    pub changes: u64,
    pub envelopes: u64,
    pub waiting_for_key: u64,
    pub cases_changed: BTreeSet<Id>,
    /// Cases whose received history has a gap: ask the server for all of it.
    pub refetch: BTreeSet<Id>,
    /// Items quarantined (see [`Vault::apply_page`]).
    pub rejected: Vec<proto::Rejected>,
    /// Cases transferred to another practitioner and deleted from here.
    pub removed: BTreeSet<Id>,
    /// Cases transferred away that still have changes to upload: deleted by
    /// [`Vault::finish_removals`] once the server has them.
    pub pending_removal: BTreeSet<Id>,
    /// The lowest log position of a removal left pending: the cursor must
    /// not pass it until the case is gone (the server refuses this device's
    /// uploads to the case once it has).
    pub hold_before: Option<u64>,
    /// Cases the organisation erased, deleted from here (see `erasure.rs`).
    pub erased: BTreeSet<Id>,
}

impl Applied {
    /// Folds in what another step did; a case removed is neither changed
    /// nor to be fetched again.
    pub fn merge(&mut self, from: Applied) {
        self.changes += from.changes;
        self.envelopes += from.envelopes;
        self.waiting_for_key += from.waiting_for_key;
        self.rejected.extend(from.rejected);
        self.cases_changed.extend(from.cases_changed);
        self.refetch.extend(from.refetch);
        self.pending_removal.extend(from.pending_removal);
        self.hold_before = match (self.hold_before, from.hold_before) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for case in from.removed {
            self.note_removed(case);
        }
        for case in from.erased {
            self.note_erased(case);
        }
    }

    fn note_removed(&mut self, case: Id) {
        self.cases_changed.remove(&case);
        self.refetch.remove(&case);
        self.pending_removal.remove(&case);
        self.removed.insert(case);
    }
}

/// What applying a decrypted change came to.
enum Applying {
    Done,
    /// Its history has a gap: it waits, the case is fetched whole.
    Wait,
    Bad(RejectReason),
}

/// Runs a decoder over bytes from another device; a panic inside it (a bug
/// in a dependency that crafted input can reach) becomes `None`.
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

fn reject_reason(s: &str) -> Option<RejectReason> {
    [
        RejectReason::BadSignature,
        RejectReason::EnvelopeDoesNotOpen,
        RejectReason::DoesNotDecrypt,
        RejectReason::DoesNotApply,
        RejectReason::Malformed,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
}

fn rejected_aad(vault_id: Id, case: Id, seq: u64) -> Aad<'static> {
    Aad::new(vault_id, case, RecordKind::Rejected, b"rejected", seq)
}

fn identity_aad(vault_id: Id) -> Aad<'static> {
    Aad::new(
        vault_id,
        [0; 16],
        RecordKind::DeviceIdentity,
        b"identity",
        0,
    )
}

fn config_aad(vault_id: Id) -> Aad<'static> {
    Aad::new(vault_id, [0; 16], RecordKind::SyncState, b"config", 0)
}

fn directory_aad(vault_id: Id) -> Aad<'static> {
    Aad::new(vault_id, [0; 16], RecordKind::Settings, b"directory", 0)
}

fn heads_aad(vault_id: Id, case: Id, seq: u64) -> Aad<'static> {
    Aad::new(vault_id, case, RecordKind::SyncState, b"heads", seq)
}

fn case_key_aad(vault_id: Id, case: Id, epoch: u32) -> Aad<'static> {
    Aad::new(
        vault_id,
        case,
        RecordKind::CaseKey,
        b"case-key",
        u64::from(epoch),
    )
}

/// Where an uploaded change belongs: organisation, case, epoch, client id.
pub fn change_aad(org: Id, case: Id, epoch: u32, client_id: &Id) -> Aad<'_> {
    Aad::new(
        org,
        case,
        RecordKind::SyncChange,
        client_id,
        u64::from(epoch),
    )
}

fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes
        .chunks(32)
        .map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

impl Vault {
    /// This device's id as bytes.
    pub fn device_id_bytes(&self) -> Result<Id> {
        hex_id(&self.unlocked()?.settings.device_id)
    }

    /// The sync server and account this device enrolled with, if any.
    pub fn sync_config(&self) -> Result<Option<SyncConfig>> {
        let vault_id = self.vault_id()?;
        let Some(sealed) = self.store()?.meta_get(META_CONFIG)? else {
            return Ok(None);
        };
        let plain = Zeroizing::new(
            crypto::open(&self.unlocked()?.drk, &config_aad(vault_id), &sealed).map_err(|_| {
                Error::CorruptRecord {
                    what: "sync settings",
                    case: "-".into(),
                }
            })?,
        );
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| Error::CorruptRecord {
                what: "sync settings",
                case: "-".into(),
            })
    }

    fn device_keys(&self) -> Result<Option<DeviceKeys>> {
        let vault_id = self.vault_id()?;
        match self.store()?.meta_get(META_IDENTITY)? {
            None => Ok(None),
            Some(sealed) => {
                DeviceKeys::open(&sealed, &self.unlocked()?.drk, &identity_aad(vault_id))
                    .map(Some)
                    .map_err(|_| Error::CorruptRecord {
                        what: "device keys",
                        case: "-".into(),
                    })
            }
        }
    }

    pub(super) fn enrolled(&self) -> Result<(SyncConfig, DeviceKeys)> {
        let config = self.sync_config()?.ok_or(Error::NotEnrolled)?;
        let keys = self.device_keys()?.ok_or(Error::NotEnrolled)?;
        Ok((config, keys))
    }

    /// Builds the enrolment request. The device keys are created once and
    /// kept (sealed) before anything is sent, so retrying after a lost reply
    /// presents the same keys.
    pub fn enrolment_request(&mut self, code: &str) -> Result<proto::EnrollRequest> {
        if self.sync_config()?.is_some() {
            return Err(Error::AlreadyEnrolled);
        }
        let keys = match self.device_keys()? {
            Some(keys) => keys,
            None => {
                let keys = DeviceKeys::generate()?;
                let sealed = keys.seal(&self.unlocked()?.drk, &identity_aad(self.vault_id()?))?;
                self.store_mut()?.meta_put(&[(META_IDENTITY, &sealed)])?;
                keys
            }
        };
        let device_id = self.device_id_bytes()?;
        let code = code.trim().to_string();
        let message = proto::enroll_message(&code, &device_id, &keys.sign_pk(), &keys.kex_pk());
        Ok(proto::EnrollRequest {
            code,
            device_id,
            sign_pk: keys.sign_pk(),
            kex_pk: keys.kex_pk(),
            signature: keys.sign(&message).to_vec(),
        })
    }

    /// The organisation's directory as this device last heard it (empty on
    /// a vault that was never enrolled): what sign-offs are judged against.
    pub fn directory(&self) -> Result<Directory> {
        let vault_id = self.vault_id()?;
        let Some(sealed) = self.store()?.meta_get(META_DIRECTORY)? else {
            return Ok(Directory::default());
        };
        let corrupt = || Error::CorruptRecord {
            what: "directory",
            case: "-".into(),
        };
        let plain = Zeroizing::new(
            crypto::open(&self.unlocked()?.drk, &directory_aad(vault_id), &sealed)
                .map_err(|_| corrupt())?,
        );
        serde_json::from_slice(&plain).map_err(|_| corrupt())
    }

    fn store_directory(&mut self, dir: &Directory) -> Result<()> {
        let bytes = Zeroizing::new(serde_json::to_vec(dir).unwrap_or_default());
        let sealed = crypto::seal(
            &self.unlocked()?.drk,
            &directory_aad(self.vault_id()?),
            &bytes,
        )?;
        self.store_mut()?.meta_put(&[(META_DIRECTORY, &sealed)])
    }

    /// Adds what a pull page says about its signers to the directory
    /// (written only when something changed, e.g. a revocation).
    fn remember_signers(&mut self, org: Id, signers: &[proto::Signer]) -> Result<()> {
        if signers.is_empty() {
            return Ok(());
        }
        let mut dir = self.directory()?;
        let before = dir.clone();
        dir.org_id = Some(hex::encode(org));
        for s in signers {
            dir.devices
                .insert(hex::encode(s.device_id), DirectoryEntry::from_signer(s));
        }
        if dir != before {
            self.store_directory(&dir)?;
        }
        Ok(())
    }

    /// Remembers the server and the account after a successful enrolment.
    pub fn finish_enrolment(
        &mut self,
        server: &str,
        allow_insecure_http: bool,
        response: &proto::EnrollResponse,
    ) -> Result<SyncConfig> {
        let config = SyncConfig {
            server: server.to_string(),
            allow_insecure_http,
            org_id: hex::encode(response.org_id),
            org_name: response.org_name.clone(),
            user_id: hex::encode(response.user_id),
            user_name: response.user_name.clone(),
            role: response.role.as_str().to_string(),
            team: response.team.clone(),
            recovery_pk: hex::encode(response.recovery_pk),
        };
        let bytes = Zeroizing::new(serde_json::to_vec(&config).unwrap_or_default());
        let sealed = crypto::seal(&self.unlocked()?.drk, &config_aad(self.vault_id()?), &bytes)?;
        self.store_mut()?.meta_put(&[(META_CONFIG, &sealed)])?;
        // This device's own entry, so its own decisions verify at once.
        let keys = self.device_keys()?.ok_or(Error::NotEnrolled)?;
        let me = proto::Signer {
            device_id: self.device_id_bytes()?,
            sign_pk: keys.sign_pk(),
            user_id: response.user_id,
            user_name: response.user_name.clone(),
            role: response.role,
            team: response.team.clone(),
            revoked_at: None,
        };
        self.remember_signers(response.org_id, &[me])?;
        Ok(config)
    }

    /// Signs a supervisor's decision on a visit as this device (hex of the
    /// user id, device id and signature), or `None` on a vault that is not
    /// enrolled.
    pub(crate) fn sign_decision(
        &self,
        case: Id,
        visit: &str,
        decision: &str,
        at: &str,
        comment: Option<&str>,
        content: &[u8; 32],
    ) -> Result<Option<(String, String, String)>> {
        let (Some(config), Some(keys)) = (self.sync_config()?, self.device_keys()?) else {
            return Ok(None);
        };
        let user = hex_id(&config.user_id)?;
        let device = self.device_id_bytes()?;
        let m = proto::sign_off_message(
            &config.org_id()?,
            &case,
            visit,
            decision,
            at,
            comment,
            &user,
            &device,
            content,
        );
        Ok(Some((
            config.user_id.clone(),
            hex::encode(device),
            hex::encode(keys.sign(&m)),
        )))
    }

    /// Signs an HTTP request (method, URI with its query, body) as this
    /// device with a fresh nonce: the `authorization` header value.
    pub fn sign_request(
        &self,
        method: &str,
        uri: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String> {
        let (_, keys) = self.enrolled()?;
        let mut auth = proto::RequestAuth {
            device: self.device_id_bytes()?,
            ts: timestamp,
            // Fresh for every request, so a retry is never a replay.
            nonce: crypto::random_id()?,
            body_hash: proto::body_hash(body),
            sig: Vec::new(),
        };
        auth.sig = keys.sign(&auth.message(method, uri)).to_vec();
        Ok(auth.header())
    }

    pub fn sync_cursor(&self) -> Result<Cursor> {
        let bytes = self.store()?.meta_get(META_CURSOR)?.unwrap_or_default();
        Ok(proto::decode(&bytes).unwrap_or_default())
    }

    /// Compares the server's log id with the one this device last saw.
    /// A different one means the server's data was restored from a backup
    /// (`outreach-server restored`): the restored log may lack what this
    /// device had sent and what it had received, and numbers past its
    /// cursor may be given again. So the cursor goes back to the beginning,
    /// every case with its key here is marked to be uploaded whole, and
    /// everything kept about the old log (held-back items, compaction
    /// counts, the last acknowledged number) is dropped. Returns whether it
    /// did that.
    pub fn check_log_id(&mut self, log_id: Id) -> Result<bool> {
        let seen = self.store()?.meta_get(META_LOG_ID)?;
        match seen {
            None => {
                self.store_mut()?.meta_put(&[(META_LOG_ID, &log_id)])?;
                Ok(false)
            }
            Some(old) if old == log_id => Ok(false),
            Some(_) => {
                self.store_mut()?.restart_from_restored_log(&log_id)?;
                if let Some(u) = self.unlocked.as_mut() {
                    u.cases.clear();
                }
                Ok(true)
            }
        }
    }

    pub fn set_sync_cursor(&mut self, cursor: Cursor) -> Result<()> {
        self.store_mut()?
            .meta_put(&[(META_CURSOR, &proto::encode(&cursor))])
    }

    pub(super) fn case_key(&self, case: Id, epoch: u32) -> Result<Option<SecretKey>> {
        let Some(wrapped) = self.store()?.case_key(&case, epoch)? else {
            return Ok(None);
        };
        SecretKey::unwrap_from(
            &wrapped,
            &self.unlocked()?.drk,
            &case_key_aad(self.vault_id()?, case, epoch),
        )
        .map(Some)
        .map_err(|_| Error::CorruptRecord {
            what: "case key",
            case: uuid::Uuid::from_bytes(case).to_string(),
        })
    }

    fn store_case_key(&mut self, case: Id, epoch: u32, key: &SecretKey) -> Result<()> {
        let wrapped = key.wrap(
            &self.unlocked()?.drk,
            &case_key_aad(self.vault_id()?, case, epoch),
        )?;
        self.store_mut()?.put_case_key(&case, epoch, &wrapped)
    }

    fn seal_envelope(
        &self,
        keys: &DeviceKeys,
        org: Id,
        case_key: &SecretKey,
        to: &EnvelopeNeed,
        starts_epoch: bool,
    ) -> Result<Envelope> {
        let (case, epoch, recipient) = (to.case_id, to.epoch, to.recipient);
        let aad = proto::envelope_aad(&org, &case, epoch, &recipient);
        let (enc, ciphertext) =
            crypto::seal_envelope(case_key, &to.kex_pk, proto::ENVELOPE_INFO, &aad)?;
        let sealed_by = self.device_id_bytes()?;
        let message = proto::envelope_message(
            &case,
            epoch,
            &recipient,
            &sealed_by,
            starts_epoch,
            &enc,
            &ciphertext,
        );
        Ok(Envelope {
            case_id: case,
            epoch,
            recipient,
            sealed_by,
            enc,
            ciphertext,
            signature: keys.sign(&message).to_vec(),
            starts_epoch,
        })
    }

    /// The newest case key this device holds, with its epoch; a case never
    /// synced gets its first key (epoch 0) here.
    pub(super) fn current_case_key(&mut self, case: Id) -> Result<(u32, SecretKey)> {
        if let Some(epoch) = self.store()?.current_epoch(&case)? {
            let key = self.case_key(case, epoch)?.ok_or(Error::CorruptRecord {
                what: "case key",
                case: uuid::Uuid::from_bytes(case).to_string(),
            })?;
            return Ok((epoch, key));
        }
        let key = SecretKey::generate()?;
        self.store_case_key(case, 0, &key)?;
        Ok((0, key))
    }

    /// Builds the `/v1/rotate` request for a case whose key must change
    /// (see [`proto::RotationDue`]): a fresh key, kept as this device's own
    /// candidate for the new epoch **before** anything is sent (a retry after
    /// a lost reply or a crash presents the same key), sealed to exactly the
    /// recipients the server named — the devices still authorised and the
    /// recovery key. `None` if this device does not hold the current key
    /// (then another device rotates).
    pub fn rotation_request(
        &mut self,
        due: &proto::RotationDue,
    ) -> Result<Option<proto::RotateRequest>> {
        let (config, keys) = self.enrolled()?;
        let org = config.org_id()?;
        let case = due.case_id;
        let Some(previous) = due.epoch.checked_sub(1) else {
            return Ok(None);
        };
        if self.case_key(case, previous)?.is_none() || self.case_key(case, due.epoch)?.is_some() {
            return Ok(None);
        }
        let me = self.device_id_bytes()?;
        let key_aad = case_key_aad(self.vault_id()?, case, due.epoch);
        let key = match self.store()?.key_candidate(&case, due.epoch, &me)? {
            Some(wrapped) => SecretKey::unwrap_from(&wrapped, &self.unlocked()?.drk, &key_aad)
                .map_err(|_| Error::CorruptRecord {
                    what: "case key",
                    case: uuid::Uuid::from_bytes(case).to_string(),
                })?,
            None => {
                let key = SecretKey::generate()?;
                let wrapped = key.wrap(&self.unlocked()?.drk, &key_aad)?;
                self.store_mut()?
                    .put_key_candidate(&case, due.epoch, &me, &wrapped)?;
                key
            }
        };
        let mut envelopes = Vec::with_capacity(due.recipients.len());
        for r in &due.recipients {
            let to = EnvelopeNeed {
                case_id: case,
                epoch: due.epoch,
                recipient: r.device_id,
                kex_pk: r.kex_pk,
            };
            envelopes.push(self.seal_envelope(&keys, org, &key, &to, true)?);
        }
        Ok(Some(proto::RotateRequest {
            case_id: case,
            epoch: due.epoch,
            envelopes,
        }))
    }

    /// What the server said to this device's rotation: accepted — the new
    /// key is the case's key from now on (what this device writes next is
    /// sealed under it) — or taken by another device first (its key arrives
    /// in an envelope; this one is dropped).
    pub fn finish_rotation(&mut self, case: Id, epoch: u32, accepted: bool) -> Result<()> {
        let me = self.device_id_bytes()?;
        if let Some(wrapped) = self.store()?.key_candidate(&case, epoch, &me)?
            && accepted
        {
            self.store_mut()?.confirm_case_key(&case, epoch, &wrapped)?;
        }
        self.store_mut()?.delete_key_candidate(&case, epoch, &me)
    }

    /// Marks uploads (outbox row ids) the server refused as sealed under a
    /// replaced epoch: they stay, unsent, until sealed again.
    pub fn mark_stale(&mut self, rows: &[i64]) -> Result<()> {
        self.store_mut()?.mark_outbox_stale(rows)
    }

    /// Seals stale uploads again under the newest key this device holds for
    /// their case (same client id, same content); returns (sealed again,
    /// still waiting for the new key).
    pub fn reseal_stale_outbox(&mut self) -> Result<(u64, u64)> {
        let (config, keys) = self.enrolled()?;
        let org = config.org_id()?;
        let me = self.device_id_bytes()?;
        let (mut done, mut waiting) = (0, 0);
        for (row, body) in self.store()?.stale_outbox()? {
            let corrupt = || Error::CorruptRecord {
                what: "queued upload",
                case: "-".into(),
            };
            let Ok(Item::Change(change)) = proto::decode::<Item>(&body) else {
                return Err(corrupt());
            };
            let case = change.case_id;
            let current = self.store()?.current_epoch(&case)?;
            let (Some(current), Some(old_key)) = (current, self.case_key(case, change.epoch)?)
            else {
                waiting += 1;
                continue;
            };
            if current <= change.epoch {
                waiting += 1;
                continue;
            }
            let new_key = self.case_key(case, current)?.ok_or_else(corrupt)?;
            let plain = Zeroizing::new(
                crypto::open(
                    &old_key,
                    &change_aad(org, case, change.epoch, &change.client_id),
                    &change.ciphertext,
                )
                .map_err(|_| corrupt())?,
            );
            let ciphertext = crypto::seal(
                &new_key,
                &change_aad(org, case, current, &change.client_id),
                &plain,
            )?;
            let message =
                proto::change_message(&case, current, &me, &change.client_id, &ciphertext);
            let resealed = Change {
                epoch: current,
                signature: keys.sign(&message).to_vec(),
                ciphertext,
                ..change
            };
            self.store_mut()?
                .reseal_outbox(row, &proto::encode(&Item::Change(resealed)))?;
            done += 1;
        }
        Ok((done, waiting))
    }

    /// Turns every case's changes not yet handed to sync into sealed, signed
    /// uploads in the outbox. A case new to sync gets its key here, with
    /// envelopes for this device and the organisation's recovery key queued
    /// ahead of its first change. Returns how many uploads were queued.
    pub fn prepare_uploads(&mut self) -> Result<usize> {
        let (config, keys) = self.enrolled()?;
        let dirty = self.store()?.dirty_cases()?;
        let mut queued = 0;
        for case in dirty {
            queued += self.prepare_case_upload(&config, &keys, case)?;
        }
        Ok(queued)
    }

    fn prepare_case_upload(
        &mut self,
        config: &SyncConfig,
        keys: &DeviceKeys,
        case: Id,
    ) -> Result<usize> {
        let org = config.org_id()?;
        let vault_id = self.vault_id()?;
        let case_name = uuid::Uuid::from_bytes(case).to_string();
        let synced = match self.store()?.synced_heads(&case)? {
            Some((seq, sealed)) => {
                let plain = crypto::open(
                    &self.unlocked()?.drk,
                    &heads_aad(vault_id, case, seq),
                    &sealed,
                )
                .map_err(|_| Error::CorruptRecord {
                    what: "sync state",
                    case: case_name.clone(),
                })?;
                decode_heads(&plain).ok_or(Error::CorruptRecord {
                    what: "sync state",
                    case: case_name.clone(),
                })?
            }
            None => Vec::new(),
        };
        let mut outbox = Vec::new();
        let (epoch, case_key) = self.current_case_key(case)?;
        let me = self.device_id_bytes()?;
        let loaded = self.loaded(case)?;
        let heads = loaded.doc.heads();
        let last_seq = loaded.last_seq;
        // A case's first upload is its whole document in Automerge's
        // compressed document format (about 8× smaller than the same history
        // as individual changes); later uploads are the changes since.
        let bytes = if synced.is_empty() {
            loaded.doc.save()
        } else {
            loaded.doc.save_after(&synced)
        };
        if !bytes.is_empty() {
            let client_id = crypto::random_id()?;
            let ciphertext =
                crypto::seal(&case_key, &change_aad(org, case, epoch, &client_id), &bytes)?;
            let message = proto::change_message(&case, epoch, &me, &client_id, &ciphertext);
            let change = Change {
                client_id,
                case_id: case,
                epoch,
                author: me,
                ciphertext,
                signature: keys.sign(&message).to_vec(),
            };
            outbox.push((client_id, proto::encode(&Item::Change(change))));
        }
        if synced.is_empty() {
            // First upload of this case from here: make sure the key reaches
            // this device's other enrolments and the recovery key. Queued after
            // the change, in the same group, so they reach the server in the
            // same push (it refuses a new case without its recovery envelope).
            for (recipient, pk) in [
                (me, keys.kex_pk()),
                (RECOVERY_RECIPIENT, config.recovery_pk()?),
            ] {
                let to = EnvelopeNeed {
                    case_id: case,
                    epoch,
                    recipient,
                    kex_pk: pk,
                };
                let env = self.seal_envelope(keys, org, &case_key, &to, false)?;
                outbox.push((crypto::random_id()?, proto::encode(&Item::Envelope(env))));
            }
        }
        let sealed_heads = crypto::seal(
            &self.unlocked()?.drk,
            &heads_aad(vault_id, case, last_seq),
            &encode_heads(&heads),
        )?;
        // A first upload travels with its envelopes in one push: the server
        // registers a case only together with its recovery envelope.
        self.store_mut()?.mark_synced(
            &case,
            last_seq,
            &sealed_heads,
            &outbox,
            synced.is_empty(),
        )?;
        Ok(outbox.len())
    }

    /// Queued uploads, oldest first, up to about `max_bytes`: (row id, item).
    pub fn outbox_batch(&self, max_bytes: usize) -> Result<Vec<(i64, Item)>> {
        let rows = self.store()?.outbox(max_bytes)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, body) in rows {
            let item = proto::decode(&body).map_err(|_| Error::CorruptRecord {
                what: "queued upload",
                case: "-".into(),
            })?;
            out.push((id, item));
        }
        Ok(out)
    }

    pub fn outbox_len(&self) -> Result<u64> {
        self.store()?.outbox_len()
    }

    /// Drops uploads the server acknowledged.
    pub fn acknowledge(&mut self, ids: &[i64]) -> Result<()> {
        self.store_mut()?.outbox_delete(ids)
    }

    /// Verifies, decrypts and applies one page of a pull. Call
    /// [`Vault::set_sync_cursor`] only after this returns. An item that fails
    /// verification, decryption or application is quarantined (kept sealed
    /// with its reason in `sync_rejected`, reported to the server later) and
    /// the page goes on: one bad item from one device never stops the sync
    /// of anything else. Errors returned here are this device's own (storage).
    pub fn apply_page(&mut self, page: &PullResponse) -> Result<Applied> {
        let (config, keys) = self.enrolled()?;
        let org = config.org_id()?;
        self.remember_signers(org, &page.signers)?;
        let mut applied = Applied::default();
        for entry in &page.entries {
            if let Err(reason) = self.apply_entry(org, &keys, page, entry, &mut applied)? {
                self.quarantine(entry, reason, &mut applied)?;
            }
        }
        Ok(applied)
    }

    /// One received item. `Ok(Err(reason))`: the item is bad and must be
    /// quarantined; `Err`: this device failed (nothing is skipped then).
    fn apply_entry(
        &mut self,
        org: Id,
        keys: &DeviceKeys,
        page: &PullResponse,
        entry: &proto::Entry,
        applied: &mut Applied,
    ) -> Result<std::result::Result<(), RejectReason>> {
        // A case erased or forgotten here: whatever still arrives is dropped.
        if self.is_dropped(&entry.item)? {
            return Ok(Ok(()));
        }
        let me = self.device_id_bytes()?;
        // A revoked device's items in the log were accepted by the server
        // before it was revoked (it refuses the device at once after): its
        // earlier work is kept.
        let signer = |id: &Id| {
            page.signers
                .iter()
                .find(|s| &s.device_id == id)
                .map(|s| s.sign_pk)
        };
        match &entry.item {
            Item::Envelope(env) => {
                if env.recipient != me {
                    return Ok(Err(RejectReason::Malformed));
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
                let Some(pk) = signer(&env.sealed_by) else {
                    return Ok(Err(RejectReason::BadSignature));
                };
                if proto::verify(&pk, &m, &env.signature).is_err() {
                    return Ok(Err(RejectReason::BadSignature));
                }
                let aad = proto::envelope_aad(&org, &env.case_id, env.epoch, &me);
                let Ok(key) =
                    keys.open_envelope(&env.enc, &env.ciphertext, proto::ENVELOPE_INFO, &aad)
                else {
                    return Ok(Err(RejectReason::EnvelopeDoesNotOpen));
                };
                applied.envelopes += 1;
                if self.case_key(env.case_id, env.epoch)?.is_none() {
                    let wrapped = key.wrap(
                        &self.unlocked()?.drk,
                        &case_key_aad(self.vault_id()?, env.case_id, env.epoch),
                    )?;
                    if env.starts_epoch && env.epoch > 0 {
                        // The key of a new epoch, from the one rotation the
                        // server accepted for it (only `/v1/rotate` stores
                        // such envelopes, once per epoch): the case's key
                        // from now on, even before anyone writes under it.
                        self.store_mut()?
                            .confirm_case_key(&env.case_id, env.epoch, &wrapped)?;
                        if env.sealed_by == me {
                            // This device's own rotation, whose reply was lost.
                            self.store_mut()?
                                .delete_key_candidate(&env.case_id, env.epoch, &me)?;
                        }
                    } else {
                        // Kept as a candidate: the key is confirmed by the
                        // first change that decrypts under it, so a junk
                        // envelope from one device cannot pre-empt the real one.
                        self.store_mut()?.put_key_candidate(
                            &env.case_id,
                            env.epoch,
                            &env.sealed_by,
                            &wrapped,
                        )?;
                    }
                    // Changes that arrived before their key can be read now.
                    self.retry_case_inbox(org, env.case_id, applied)?;
                }
                Ok(Ok(()))
            }
            Item::Removed { case_id } => {
                self.apply_removal(*case_id, applied)?;
                if applied.pending_removal.contains(case_id) {
                    applied.hold_before =
                        Some(applied.hold_before.map_or(entry.seq, |s| s.min(entry.seq)));
                }
                Ok(Ok(()))
            }
            Item::Erased { case_id } => {
                self.apply_erasure(*case_id, applied)?;
                Ok(Ok(()))
            }
            Item::Change(change) => {
                // Only a case this device may read again is sent to it.
                if self.store_mut()?.cancel_pending_removal(&change.case_id)? {
                    applied.pending_removal.remove(&change.case_id);
                }
                let m = proto::change_message(
                    &change.case_id,
                    change.epoch,
                    &change.author,
                    &change.client_id,
                    &change.ciphertext,
                );
                let Some(pk) = signer(&change.author) else {
                    return Ok(Err(RejectReason::BadSignature));
                };
                if proto::verify(&pk, &m, &change.signature).is_err() {
                    return Ok(Err(RejectReason::BadSignature));
                }
                match self.open_and_apply(org, change, applied)? {
                    Some(Applying::Done) => Ok(Ok(())),
                    Some(Applying::Wait) => {
                        self.store_mut()?.inbox_put(
                            entry.seq,
                            &change.case_id,
                            &proto::encode(change),
                        )?;
                        Ok(Ok(()))
                    }
                    Some(Applying::Bad(reason)) => Ok(Err(reason)),
                    None => {
                        self.store_mut()?.inbox_put(
                            entry.seq,
                            &change.case_id,
                            &proto::encode(change),
                        )?;
                        applied.waiting_for_key += 1;
                        Ok(Ok(()))
                    }
                }
            }
        }
    }

    /// Decrypts a verified change and applies it. Tries the confirmed case
    /// key, then every key an envelope offered (kept even after one is
    /// confirmed): a key is confirmed only by a change that decrypts under
    /// it **and** applies as this case's record, so junk bytes sealed under
    /// a junk key cannot make it the case key. `None`: no key opens it yet.
    fn open_and_apply(
        &mut self,
        org: Id,
        change: &Change,
        applied: &mut Applied,
    ) -> Result<Option<Applying>> {
        let aad = change_aad(org, change.case_id, change.epoch, &change.client_id);
        let confirmed = self.case_key(change.case_id, change.epoch)?;
        if let Some(key) = &confirmed
            && let Ok(bytes) = crypto::open(key, &aad, &change.ciphertext)
        {
            let bytes = Zeroizing::new(bytes);
            return Ok(Some(self.apply_change(change, &bytes, applied)?));
        }
        let key_aad = case_key_aad(self.vault_id()?, change.case_id, change.epoch);
        let mut bad = None;
        for (_, wrapped) in self
            .store()?
            .key_candidates(&change.case_id, change.epoch)?
        {
            let Ok(key) = SecretKey::unwrap_from(&wrapped, &self.unlocked()?.drk, &key_aad) else {
                continue;
            };
            let Ok(bytes) = crypto::open(&key, &aad, &change.ciphertext) else {
                continue;
            };
            let bytes = Zeroizing::new(bytes);
            match self.apply_change(change, &bytes, applied)? {
                Applying::Done => {
                    if confirmed.is_none() {
                        self.store_mut()?.confirm_case_key(
                            &change.case_id,
                            change.epoch,
                            &wrapped,
                        )?;
                    }
                    return Ok(Some(Applying::Done));
                }
                Applying::Wait => return Ok(Some(Applying::Wait)),
                Applying::Bad(reason) => bad = Some(reason),
            }
        }
        Ok(match (bad, confirmed) {
            (Some(reason), _) => Some(Applying::Bad(reason)),
            (None, Some(_)) => Some(Applying::Bad(RejectReason::DoesNotDecrypt)),
            (None, None) => None,
        })
    }

    /// Keeps a bad item sealed under this device's key with its reason, to
    /// report (no content ever leaves: only case, position, signer, reason).
    fn quarantine(
        &mut self,
        entry: &proto::Entry,
        reason: RejectReason,
        applied: &mut Applied,
    ) -> Result<()> {
        let (case, signer) = match &entry.item {
            Item::Change(c) => (c.case_id, c.author),
            Item::Envelope(e) => (e.case_id, e.sealed_by),
            Item::Removed { case_id } | Item::Erased { case_id } => (*case_id, [0; 16]),
        };
        // Kept whole up to 64 KiB (enough to examine any real item); beyond
        // that only its hash, so an insider cannot fill a victim's phone.
        let mut body = proto::encode(&entry.item);
        if body.len() > 64 * 1024 {
            body = blake3::hash(&body).as_bytes().to_vec();
        }
        let sealed = crypto::seal(
            &self.unlocked()?.drk,
            &rejected_aad(self.vault_id()?, case, entry.seq),
            &body,
        )?;
        let now = self.now().timestamp();
        self.store_mut()?
            .reject(entry.seq, &case, &signer, reason.as_str(), now, &sealed)?;
        applied.rejected.push(proto::Rejected {
            case_id: case,
            seq: entry.seq,
            signer,
            reason,
        });
        Ok(())
    }

    /// Quarantined items not yet reported to the server.
    pub fn unreported_rejections(&self) -> Result<Vec<proto::Rejected>> {
        Ok(self
            .store()?
            .unreported_rejections()?
            .into_iter()
            .filter_map(|(seq, case_id, signer, reason)| {
                Some(proto::Rejected {
                    case_id,
                    seq,
                    signer,
                    reason: reject_reason(&reason)?,
                })
            })
            .collect())
    }

    pub fn mark_rejections_reported(&mut self, seqs: &[u64]) -> Result<()> {
        self.store_mut()?.mark_rejections_reported(seqs)
    }

    /// The server says this device no longer holds `case` (it was
    /// transferred to another practitioner). Deleted at once unless changes
    /// made here are still to be uploaded: then it is remembered and
    /// [`Vault::finish_removals`] deletes it once they are through — nothing
    /// written here is lost. A case not held here is ignored (changes of it
    /// waiting for a key are dropped).
    fn apply_removal(&mut self, case: Id, applied: &mut Applied) -> Result<()> {
        applied.refetch.remove(&case);
        if !self.store()?.case_exists(&case)? {
            return self.store_mut()?.delete_case(&case);
        }
        let store = self.store()?;
        // Queued uploads, unsent writes or an unsubmitted contact form: the
        // case stays (closed to new writes) until they are through.
        if store.outbox_has(&case)? || store.case_dirty(&case)? || store.has_drafts(&case)? {
            self.store_mut()?.add_pending_removal(&case)?;
            applied.pending_removal.insert(case);
            return Ok(());
        }
        self.delete_case_copy(case)?;
        applied.note_removed(case);
        Ok(())
    }

    /// Deletes this device's copy of a case: every row of it in one
    /// transaction, and the decrypted document in memory.
    fn delete_case_copy(&mut self, case: Id) -> Result<()> {
        self.store_mut()?.delete_case(&case)?;
        if let Some(u) = self.unlocked.as_mut() {
            u.cases.remove(&case);
        }
        Ok(())
    }

    /// Whether a case transferred away is waiting for its uploads.
    pub fn has_pending_removals(&self) -> Result<bool> {
        Ok(!self.store()?.pending_removals()?.is_empty())
    }

    /// Deletes the cases transferred away whose changes have all been
    /// uploaded (acknowledged by the server); returns them.
    pub fn finish_removals(&mut self) -> Result<Vec<Id>> {
        let mut done = Vec::new();
        for case in self.store()?.pending_removals()? {
            let store = self.store()?;
            if store.case_exists(&case)?
                && (store.outbox_has(&case)?
                    || store.case_dirty(&case)?
                    || store.has_drafts(&case)?)
            {
                continue;
            }
            self.delete_case_copy(case)?;
            done.push(case);
        }
        Ok(done)
    }

    /// Applies one verified, decrypted change. Returns false if it must
    /// wait (its history has a gap), in which case nothing was written;
    /// a change that is not Automerge of this case is quarantined by the
    /// caller (`Err` is this device's own failure).
    fn apply_change(
        &mut self,
        change: &Change,
        bytes: &[u8],
        applied: &mut Applied,
    ) -> Result<Applying> {
        let case = change.case_id;
        let case_name = uuid::Uuid::from_bytes(case).to_string();
        let actor = self.unlocked()?.actor.clone();
        if !self.store()?.case_exists(&case)? {
            // Bytes from a peer: a decoder panic inside Automerge is one bad
            // item, never a sync that fails for good.
            let decoded = guarded(|| {
                let mut doc = CaseDoc::load(&actor, None, [bytes]).ok()?;
                let missing = !doc.missing_deps().is_empty();
                let id = doc.read().ok().map(|c| c.id);
                Some((doc, missing, id))
            });
            let Some(Some((doc, missing, id))) = decoded else {
                return Ok(Applying::Bad(RejectReason::DoesNotApply));
            };
            if missing {
                applied.refetch.insert(case);
                return Ok(Applying::Wait);
            }
            if id != Some(case_name.clone()) {
                // Signed by an authorised device but not this case's record:
                // refuse it rather than store it under the wrong case.
                return Ok(Applying::Bad(RejectReason::DoesNotApply));
            }
            self.store_new_case(case, doc)?;
            self.mark_received(case)?;
            self.note_history(case, Some(bytes))?;
            applied.changes += 1;
            applied.cases_changed.insert(case);
            return Ok(Applying::Done);
        }
        // Local changes not yet handed to sync go to the outbox first, so the
        // synced heads recorded below never cover an unsent change.
        if self.store()?.dirty_cases()?.contains(&case) {
            let (config, keys) = self.enrolled()?;
            self.prepare_case_upload(&config, &keys, case)?;
        }
        let loaded = self.loaded(case)?;
        let before = loaded.doc.heads();
        let ok = guarded(|| loaded.doc.apply_changes(bytes).is_ok()).unwrap_or(false);
        let loaded = match (ok, self.loaded(case)) {
            (true, Ok(loaded)) => loaded,
            _ => {
                // The in-memory copy may be half-changed: forget it; the
                // disk is untouched and it reloads from there.
                if let Some(u) = self.unlocked.as_mut() {
                    u.cases.remove(&case);
                }
                return Ok(Applying::Bad(RejectReason::DoesNotApply));
            }
        };
        if !loaded.doc.missing_deps().is_empty() {
            // Forget the in-memory copy (it may hold queued changes); the
            // disk is unchanged. The whole case is fetched again.
            if let Some(u) = self.unlocked.as_mut() {
                u.cases.remove(&case);
            }
            applied.refetch.insert(case);
            return Ok(Applying::Wait);
        }
        if loaded.doc.heads() == before {
            // Nothing new: a re-delivered change, or bytes that are not
            // Automerge at all (which `load_incremental` skips silently).
            if !guarded(|| CaseDoc::is_automerge(bytes)).unwrap_or(false) {
                return Ok(Applying::Bad(RejectReason::DoesNotApply));
            }
            return Ok(Applying::Done);
        }
        let new = loaded.doc.save_after(&before);
        self.append_received(case, &new)?;
        self.mark_received(case)?;
        self.note_history(case, Some(bytes))?;
        applied.changes += 1;
        applied.cases_changed.insert(case);
        Ok(Applying::Done)
    }

    /// Stores received changes as a chunk (same path as a local write).
    fn append_received(&mut self, case: Id, bytes: &[u8]) -> Result<()> {
        let vault_id = self.vault_id()?;
        let loaded = self.loaded(case)?;
        let seq = loaded.last_seq + 1;
        let sealed = crypto::seal(
            &self.unlocked()?.drk,
            &chunk_aad(vault_id, case, seq),
            bytes,
        )?;
        match self.store_mut()?.append_chunk(&case, seq, &sealed) {
            Ok(_) => {
                if let Ok(loaded) = self.loaded(case) {
                    loaded.last_seq = seq;
                }
                Ok(())
            }
            Err(e) => {
                if let Some(u) = self.unlocked.as_mut() {
                    u.cases.remove(&case);
                }
                Err(e)
            }
        }
    }

    /// After applying received changes: everything in the case is either
    /// uploaded, queued, or came from the server.
    fn mark_received(&mut self, case: Id) -> Result<()> {
        let vault_id = self.vault_id()?;
        let loaded = self.loaded(case)?;
        let heads = loaded.doc.heads();
        let last_seq = loaded.last_seq;
        let sealed = crypto::seal(
            &self.unlocked()?.drk,
            &heads_aad(vault_id, case, last_seq),
            &encode_heads(&heads),
        )?;
        self.store_mut()?
            .mark_synced(&case, last_seq, &sealed, &[], false)
    }

    /// Seals this device's case keys for authorised recipients that lack them.
    pub fn seal_for(&mut self, needs: &[EnvelopeNeed]) -> Result<Vec<Envelope>> {
        let (config, keys) = self.enrolled()?;
        let org = config.org_id()?;
        let mut out = Vec::new();
        for need in needs {
            let Some(key) = self.case_key(need.case_id, need.epoch)? else {
                continue;
            };
            out.push(self.seal_envelope(&keys, org, &key, need, false)?);
        }
        Ok(out)
    }

    /// Retries received changes kept in the inbox (after a key arrived or a
    /// case was fetched again). Returns how many were applied.
    pub fn retry_inbox(&mut self, applied: &mut Applied) -> Result<u64> {
        let config = self.sync_config()?.ok_or(Error::NotEnrolled)?;
        let org = config.org_id()?;
        let mut n = 0;
        for case in self.store()?.inbox_case_ids()? {
            n += self.retry_case_inbox(org, case, applied)?;
        }
        Ok(n)
    }

    /// Retries one case's waiting changes: applied ones leave the inbox,
    /// bad ones are quarantined, the rest keep waiting.
    fn retry_case_inbox(&mut self, org: Id, case: Id, applied: &mut Applied) -> Result<u64> {
        let mut done = Vec::new();
        let mut n = 0;
        for (seq, body) in self.store()?.inbox_for(&case)? {
            let Ok(change) = proto::decode::<Change>(&body) else {
                done.push(seq);
                continue;
            };
            let entry = proto::Entry {
                seq,
                item: Item::Change(change.clone()),
            };
            let Some(outcome) = self.open_and_apply(org, &change, applied)? else {
                continue;
            };
            match outcome {
                Applying::Wait => {}
                Applying::Done => {
                    done.push(seq);
                    n += 1;
                }
                Applying::Bad(reason) => {
                    self.quarantine(&entry, reason, applied)?;
                    done.push(seq);
                }
            }
        }
        self.store_mut()?.inbox_delete(&done)?;
        Ok(n)
    }

    /// Every case's sync state (loads each case to look for conflicts).
    pub fn case_sync_states(&mut self) -> Result<Vec<(String, CaseSyncState)>> {
        let enrolled = self.sync_config()?.is_some();
        let pending = self.cases_pending_upload()?;
        let attention: BTreeSet<Id> = self.store()?.rejected_cases()?.into_iter().collect();
        let mut out = Vec::new();
        for id in self.store()?.case_ids()? {
            let name = uuid::Uuid::from_bytes(id).to_string();
            let uploaded = self.store()?.synced_heads(&id)?.is_some();
            let state = if !enrolled || !uploaded {
                CaseSyncState::NeverSynced
            } else if attention.contains(&id) {
                CaseSyncState::NeedsAttention
            } else if pending.contains(&id) {
                CaseSyncState::PendingUpload
            } else if !self.conflicts(&name).map(|c| c.is_empty()).unwrap_or(true) {
                CaseSyncState::Conflict
            } else {
                CaseSyncState::Synced
            };
            out.push((name, state));
        }
        Ok(out)
    }

    /// Received changes still waiting for a case key, counted by case.
    pub fn cases_waiting_for_key(&self) -> Result<u64> {
        self.store()?.inbox_cases()
    }

    /// Local changes not yet acknowledged by the server (queued or not yet
    /// handed to sync), counted by case.
    pub fn cases_pending_upload(&self) -> Result<BTreeSet<Id>> {
        let mut set: BTreeSet<Id> = self.store()?.dirty_cases()?.into_iter().collect();
        set.extend(self.store()?.outbox_cases()?);
        Ok(set)
    }
}
