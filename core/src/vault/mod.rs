//! The vault: one practitioner's encrypted store on one device, and its
//! lifecycle — create, unlock, lock, change passphrase, wipe.
//!
//! Key hierarchy: a random 256-bit device root key (DRK) seals every record.
//! The DRK is stored only wrapped, under a key derived from the passphrase
//! with Argon2id (parameters and salt in the header), and optionally sealed
//! once more by a platform key store. Changing the passphrase re-wraps the
//! DRK and touches nothing else. Each unlock attempt is counted durably
//! before the passphrase is judged, so killing the app mid-attempt cannot buy
//! free guesses; at the configured limit the vault destroys itself.
//!
//! The case API (`cases.rs`) and queries (`queries.rs`) are further `impl
//! Vault` blocks; all of them need the vault unlocked.

mod access;
mod cases;
mod compact;
mod drafts;
mod erasure;
mod header;
mod platform;
mod queries;
mod quick;
mod safety;
mod sync;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use crate::case::contact::{VISIT_CONTENT_FIELDS, VisitDraft, VisitInput};
pub use access::{AccessEntry, ExportFormat, Exported};
pub use cases::{
    ActionInput, ConcernInput, ConcernUpdate, ConsentInput, EventInput, GoalInput, MeetingInput,
    ReferralInput, ScaleInput, SosUpdate, resolve_visit,
};
pub use compact::COMPACT_AFTER;
pub use drafts::{DraftSummary, FormDraft, FormField, FormKind};
pub use erasure::PendingClosure;
pub use header::Header;
pub use platform::{PlatformKeyStore, SoftwareKeyStore};
pub use queries::{
    CaseExport, CaseSummary, EXPORT_FORMAT, OpenConcern, PendingVisit, TimelineEntry,
};
pub use safety::{PreparedSafety, SafetyRefusal, note_aad};
pub use sync::{Applied, CaseSyncState, SyncConfig, change_aad};

use crate::case::doc::{Author, CaseDoc, DocLoadError};
use crate::crypto::{self, Aad, KdfParams, RecordKind, SecretKey};
use crate::error::{Error, Result, ValidationError};
use crate::store::Store;

/// The database file inside a vault directory.
pub const DB_FILE: &str = "outreach.db";
/// Default number of consecutive wrong passphrases before the vault wipes itself.
pub const DEFAULT_WIPE_AFTER: u32 = 10;
/// Shortest passphrase accepted.
pub const MIN_PASSPHRASE_CHARS: usize = 6;
/// Chunk bytes after which a case is due for compaction into a new snapshot
/// (and never before the chunks outweigh the snapshot itself). Due cases are
/// compacted by [`Vault::compact_due`] — on lock, or when the shell is idle —
/// so that recording a visit never waits for a whole-document save.
pub const COMPACT_AFTER_BYTES: u64 = 24 * 1024;
/// Chunk bytes after which the write path compacts at once, whatever the
/// shell does, so that opening a case stays bounded.
pub const COMPACT_NOW_BYTES: u64 = 1024 * 1024;

const META_HEADER: &str = "header";
const META_DRK: &str = "drk";
const META_FAILED: &str = "failed_attempts";
const META_SETTINGS: &str = "settings";

/// Choices made when a vault is created.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    pub kdf: KdfParams,
    pub wipe_after: u32,
    /// The practitioner this device belongs to; recorded as the author of every change.
    pub practitioner: String,
    pub team: Option<String>,
}

impl VaultOptions {
    pub fn new(practitioner: impl Into<String>) -> Self {
        Self {
            kdf: KdfParams::DEFAULT,
            wipe_after: DEFAULT_WIPE_AFTER,
            practitioner: practitioner.into(),
            team: None,
        }
    }
}

/// Who is writing (see [`Vault::identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Option<outreach_protocol::Role>,
    pub team: Option<String>,
    /// Enrolled user id (hex); `None` on a vault that was never enrolled.
    pub user_id: Option<String>,
    pub device: String,
}

/// Sealed under the DRK: who this device is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub practitioner: String,
    pub team: Option<String>,
    pub device_id: String,
    /// Automerge actor id of this install (hex).
    pub actor: String,
}

struct LoadedCase {
    doc: CaseDoc,
    last_seq: u64,
    snapshot_len: u64,
    /// Chunks outweigh the threshold: compact when idle.
    compaction_due: bool,
}

struct Unlocked {
    drk: SecretKey,
    settings: Settings,
    actor: Vec<u8>,
    cases: HashMap<[u8; 16], LoadedCase>,
    /// Sign-off signatures already verified (see `practice::authority`).
    verified: crate::practice::VerifiedCache,
}

pub struct Vault {
    dir: PathBuf,
    store: Option<Store>,
    header: Header,
    unlocked: Option<Unlocked>,
    clock: fn() -> DateTime<Utc>,
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

/// Whether a vault exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    db_path(dir).is_file()
}

fn check_passphrase(passphrase: &str) -> Result<()> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(ValidationError::new(
            "passphrase",
            format!("must be at least {MIN_PASSPHRASE_CHARS} characters"),
        )
        .into());
    }
    Ok(())
}

fn drk_aad(vault_id: [u8; 16], header_hash: &blake3::Hash) -> Aad<'_> {
    Aad::new(
        vault_id,
        [0; 16],
        RecordKind::DeviceRootKey,
        header_hash.as_bytes(),
        0,
    )
}

impl Vault {
    /// Creates a new vault in `dir` (created if missing) and leaves it unlocked.
    pub fn create(
        dir: &Path,
        passphrase: &str,
        options: VaultOptions,
        platform: Option<&dyn PlatformKeyStore>,
    ) -> Result<Vault> {
        check_passphrase(passphrase)?;
        let practitioner =
            crate::case::validate::required_short("practitioner", &options.practitioner)?;
        let team = crate::case::validate::opt_short("team", options.team.as_deref())?;
        options.kdf.validate().map_err(|_| Error::UnsafeKdfParams)?;
        if !(1..=1000).contains(&options.wipe_after) {
            return Err(ValidationError::new("wipe_after", "must be between 1 and 1000").into());
        }
        if exists(dir) {
            return Err(Error::VaultExists);
        }
        create_private_dir(dir)?;

        let vault_id = crypto::random_id()?;
        let header = Header {
            format: header::HEADER_FORMAT,
            vault_id: hex::encode(vault_id),
            kdf_algorithm: "argon2id".into(),
            kdf: options.kdf,
            salt: hex::encode(crypto::random_id()?),
            platform_bound: platform.is_some(),
            wipe_after: options.wipe_after,
        };
        let drk = SecretKey::generate()?;
        let wrapped = wrap_drk(&drk, &header, passphrase, platform)?;
        let settings = Settings {
            practitioner,
            team,
            device_id: hex::encode(crypto::random_id()?),
            actor: hex::encode(crypto::random_id()?),
        };
        let settings_bytes = Zeroizing::new(serde_json::to_vec(&settings).unwrap_or_default());
        let sealed_settings = crypto::seal(&drk, &settings_aad(vault_id), &settings_bytes)?;

        let mut store = Store::open(&db_path(dir))?;
        store.meta_put(&[
            (META_HEADER, &header.to_bytes()),
            (META_DRK, &wrapped),
            (META_FAILED, &0u32.to_be_bytes()),
            (META_SETTINGS, &sealed_settings),
        ])?;
        let actor = hex::decode(&settings.actor).map_err(|_| Error::HeaderCorrupt)?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            store: Some(store),
            header,
            unlocked: Some(Unlocked {
                drk,
                settings,
                actor,
                cases: HashMap::new(),
                verified: Default::default(),
            }),
            clock: Utc::now,
        })
    }

    /// Opens the vault in `dir`, locked.
    pub fn open(dir: &Path) -> Result<Vault> {
        if !exists(dir) {
            return Err(Error::NoVault);
        }
        let store = Store::open_existing(&db_path(dir))?;
        let header_bytes = store.meta_get(META_HEADER)?.ok_or(Error::HeaderCorrupt)?;
        let header = Header::parse(&header_bytes)?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            store: Some(store),
            header,
            unlocked: None,
            clock: Utc::now,
        })
    }

    /// Replaces the clock (tests: overdue flags and timestamps).
    pub fn set_clock(&mut self, clock: fn() -> DateTime<Utc>) {
        self.clock = clock;
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn is_unlocked(&self) -> bool {
        self.unlocked.is_some()
    }

    fn store(&self) -> Result<&Store> {
        self.store.as_ref().ok_or(Error::Wiped)
    }

    fn store_mut(&mut self) -> Result<&mut Store> {
        self.store.as_mut().ok_or(Error::Wiped)
    }

    /// Consecutive failed unlock attempts so far.
    pub fn failed_attempts(&self) -> Result<u32> {
        let bytes = self.store()?.meta_get(META_FAILED)?.unwrap_or_default();
        Ok(bytes
            .as_slice()
            .try_into()
            .map(u32::from_be_bytes)
            .unwrap_or(0))
    }

    /// Wrong passphrases allowed before the vault wipes itself.
    pub fn wipe_after(&self) -> u32 {
        self.header.wipe_after
    }

    /// Unlocks with the passphrase (and the platform key, if the vault is bound
    /// to one). A wrong passphrase is counted before it is judged; reaching
    /// the limit wipes the vault and returns [`Error::Wiped`].
    pub fn unlock(
        &mut self,
        passphrase: &str,
        platform: Option<&dyn PlatformKeyStore>,
    ) -> Result<()> {
        if self.unlocked.is_some() {
            return Ok(());
        }
        let stored = self
            .store()?
            .meta_get(META_DRK)?
            .ok_or(Error::HeaderCorrupt)?;
        let wrapped = if self.header.platform_bound {
            let platform = platform.ok_or(Error::PlatformKeyRequired)?;
            platform.open(stored)?
        } else {
            stored
        };

        let failed = self.failed_attempts()?.saturating_add(1);
        self.store_mut()?
            .meta_put(&[(META_FAILED, &failed.to_be_bytes())])?;

        let vault_id = self.header.vault_id_bytes()?;
        let header_hash = blake3::hash(&self.header.to_bytes());
        let salt = self.header.salt_bytes()?;
        let kek = crypto::derive_key(passphrase.as_bytes(), &salt, self.header.kdf)?;
        let drk = match SecretKey::unwrap_from(&wrapped, &kek, &drk_aad(vault_id, &header_hash)) {
            Ok(drk) => drk,
            Err(_) => {
                if failed >= self.header.wipe_after {
                    self.wipe()?;
                    return Err(Error::Wiped);
                }
                return Err(Error::WrongPassphrase {
                    remaining: self.header.wipe_after - failed,
                });
            }
        };
        self.store_mut()?
            .meta_put(&[(META_FAILED, &0u32.to_be_bytes())])?;
        self.finish_unlock(drk)
    }

    /// Opens the sealed settings with the root key and keeps both.
    fn finish_unlock(&mut self, drk: SecretKey) -> Result<()> {
        let vault_id = self.header.vault_id_bytes()?;
        let sealed = self
            .store()?
            .meta_get(META_SETTINGS)?
            .ok_or(Error::HeaderCorrupt)?;
        let plain = Zeroizing::new(
            crypto::open(&drk, &settings_aad(vault_id), &sealed).map_err(|_| {
                Error::CorruptRecord {
                    what: "device settings",
                    case: "-".into(),
                }
            })?,
        );
        let settings: Settings =
            serde_json::from_slice(&plain).map_err(|_| Error::CorruptRecord {
                what: "device settings",
                case: "-".into(),
            })?;
        let actor = hex::decode(&settings.actor).map_err(|_| Error::CorruptRecord {
            what: "device settings",
            case: "-".into(),
        })?;
        self.unlocked = Some(Unlocked {
            drk,
            settings,
            actor,
            cases: HashMap::new(),
            verified: Default::default(),
        });
        Ok(())
    }

    /// Compacts what is due (best effort: nothing is lost if it fails), then
    /// drops every key and every decrypted case from memory.
    pub fn lock(&mut self) {
        let _ = self.compact_due();
        self.unlocked = None;
    }

    /// Re-wraps the root key under a new passphrase (new salt, same KDF
    /// cost). No record is re-encrypted. Needs the vault unlocked.
    pub fn change_passphrase(
        &mut self,
        new_passphrase: &str,
        platform: Option<&dyn PlatformKeyStore>,
    ) -> Result<()> {
        check_passphrase(new_passphrase)?;
        let unlocked = self.unlocked.as_ref().ok_or(Error::Locked)?;
        if self.header.platform_bound && platform.is_none() {
            return Err(Error::PlatformKeyRequired);
        }
        let mut header = self.header.clone();
        header.salt = hex::encode(crypto::random_id()?);
        let wrapped = wrap_drk(&unlocked.drk, &header, new_passphrase, platform)?;
        self.store_mut()?
            .meta_put(&[(META_HEADER, &header.to_bytes()), (META_DRK, &wrapped)])?;
        self.header = header;
        Ok(())
    }

    /// Destroys the vault: overwrites the wrapped key, deletes every row,
    /// removes the files. The vault is unusable afterwards.
    pub fn wipe(&mut self) -> Result<()> {
        self.unlocked = None;
        if let Some(mut store) = self.store.take() {
            store.destroy_contents()?;
            drop(store);
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let p = self.dir.join(format!("{DB_FILE}{suffix}"));
            if p.exists() {
                std::fs::remove_file(&p)?;
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }

    /// This device's settings (practitioner, team, device id).
    pub fn settings(&self) -> Result<&Settings> {
        Ok(&self.unlocked()?.settings)
    }

    fn unlocked(&self) -> Result<&Unlocked> {
        match (&self.store, &self.unlocked) {
            (None, _) => Err(Error::Wiped),
            (_, None) => Err(Error::Locked),
            (_, Some(u)) => Ok(u),
        }
    }

    /// Who is writing. Once the vault is enrolled this is the enrolled user
    /// from the organisation's directory (name, role, team); the name typed
    /// at `init` is only a label for a vault that was never enrolled.
    pub fn identity(&self) -> Result<Identity> {
        let s = &self.unlocked()?.settings;
        Ok(match self.sync_config()? {
            Some(c) => Identity {
                name: c.user_name.clone(),
                role: c.role(),
                team: c.team.clone(),
                user_id: Some(c.user_id.clone()),
                device: s.device_id.clone(),
            },
            None => Identity {
                name: s.practitioner.clone(),
                role: None,
                team: s.team.clone(),
                user_id: None,
                device: s.device_id.clone(),
            },
        })
    }

    fn unlocked_mut(&mut self) -> Result<&mut Unlocked> {
        match (&self.store, &mut self.unlocked) {
            (None, _) => Err(Error::Wiped),
            (_, None) => Err(Error::Locked),
            (_, Some(u)) => Ok(u),
        }
    }

    fn author(&self) -> Result<Author> {
        let i = self.identity()?;
        Ok(Author {
            by: i.name,
            role: i.role.map(|r| r.as_str().to_string()),
            device: i.device,
        })
    }

    /// Runs `PRAGMA integrity_check`; true when SQLite reports "ok".
    pub fn integrity_check(&self) -> Result<bool> {
        let r: String =
            self.store()?
                .connection()
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(r == "ok")
    }

    /// The underlying store, for diagnostics and tests.
    pub fn store_for_diagnostics(&self) -> Result<&Store> {
        self.store()
    }

    // ---- case storage: load, append, compact -------------------------------

    fn vault_id(&self) -> Result<[u8; 16]> {
        self.header.vault_id_bytes()
    }

    /// Makes sure `case` is decrypted and in memory.
    fn load_case(&mut self, case: [u8; 16]) -> Result<()> {
        if self.unlocked()?.cases.contains_key(&case) {
            return Ok(());
        }
        if !self.store()?.case_exists(&case)? {
            return Err(Error::UnknownCase);
        }
        let vault_id = self.vault_id()?;
        let stored = self.store()?.load_case(&case)?;
        let unlocked = self.unlocked()?;
        let case_name = uuid::Uuid::from_bytes(case).to_string();
        let snapshot = match &stored.snapshot {
            Some((upto, body)) => Some(
                crypto::open(&unlocked.drk, &snapshot_aad(vault_id, case, *upto), body).map_err(
                    |_| Error::CorruptRecord {
                        what: "snapshot",
                        case: case_name.clone(),
                    },
                )?,
            ),
            None => None,
        };
        let stored_chunk_bytes: u64 = stored.chunks.iter().map(|(_, b)| b.len() as u64).sum();
        let mut chunks = Vec::with_capacity(stored.chunks.len());
        for (seq, body) in &stored.chunks {
            let plain = crypto::open(&unlocked.drk, &chunk_aad(vault_id, case, *seq), body)
                .map_err(|_| Error::CorruptRecord {
                    what: "stored change",
                    case: case_name.clone(),
                })?;
            chunks.push(plain);
        }
        let mut doc = CaseDoc::load(
            &unlocked.actor,
            snapshot.as_deref(),
            chunks.iter().map(Vec::as_slice),
        )
        .map_err(|e| Error::CorruptRecord {
            what: match e {
                DocLoadError::Snapshot => "snapshot",
                DocLoadError::Chunk(_) => "stored change",
            },
            case: case_name.clone(),
        })?;
        if !doc.missing_deps().is_empty() {
            return Err(Error::CorruptRecord {
                what: "change history (a stored change is missing)",
                case: case_name,
            });
        }
        let last_seq = stored
            .chunks
            .last()
            .map(|(s, _)| *s)
            .or(stored.snapshot.as_ref().map(|(s, _)| *s))
            .unwrap_or(0);
        let snapshot_len = stored
            .snapshot
            .as_ref()
            .map(|(_, b)| b.len() as u64)
            .unwrap_or(0);
        if let Some(u) = self.unlocked.as_mut() {
            u.cases.insert(
                case,
                LoadedCase {
                    doc,
                    last_seq,
                    snapshot_len,
                    compaction_due: stored_chunk_bytes > COMPACT_AFTER_BYTES.max(snapshot_len),
                },
            );
        }
        Ok(())
    }

    fn loaded(&mut self, case: [u8; 16]) -> Result<&mut LoadedCase> {
        self.load_case(case)?;
        self.unlocked
            .as_mut()
            .and_then(|u| u.cases.get_mut(&case))
            .ok_or(Error::UnknownCase)
    }

    /// Creates a case document and stores it durably.
    fn store_new_case(&mut self, case: [u8; 16], doc: CaseDoc) -> Result<()> {
        // No case has the all-zero id: a case being opened keeps its draft
        // under it, which no erasure or removal of a case may reach. (The
        // server refuses to register it; an item naming it is quarantined.)
        if case == [0u8; 16] {
            return Err(Error::Document("the case has no valid id".into()));
        }
        let mut doc = doc;
        let bytes = doc.save_after(&[]);
        let vault_id = self.vault_id()?;
        let sealed = crypto::seal(&self.unlocked()?.drk, &chunk_aad(vault_id, case, 1), &bytes)?;
        let now = self.now().timestamp();
        self.store_mut()?.create_case(&case, now, &sealed)?;
        if let Some(u) = self.unlocked.as_mut() {
            u.cases.insert(
                case,
                LoadedCase {
                    doc,
                    last_seq: 1,
                    snapshot_len: 0,
                    compaction_due: false,
                },
            );
        }
        Ok(())
    }

    /// Applies a change to a case and makes it durable: the change is sealed
    /// and appended as one chunk in one transaction. If storing fails the
    /// in-memory copy is dropped, so memory never runs ahead of the disk.
    fn write_case(
        &mut self,
        case: [u8; 16],
        change: impl FnOnce(&mut CaseDoc, &Author, DateTime<Utc>) -> Result<bool>,
    ) -> Result<()> {
        self.write_case_finishing(case, None, change)
    }

    /// [`Vault::write_case`], deleting the draft `finishing` in the same
    /// store transaction as the change (see [`Store::append_chunk_finishing`]).
    fn write_case_finishing(
        &mut self,
        case: [u8; 16],
        finishing: Option<[u8; 16]>,
        change: impl FnOnce(&mut CaseDoc, &Author, DateTime<Utc>) -> Result<bool>,
    ) -> Result<()> {
        let author = self.author()?;
        let now = self.now();
        let vault_id = self.vault_id()?;
        let loaded = self.loaded(case)?;
        let heads = loaded.doc.heads();
        if !change(&mut loaded.doc, &author, now)? {
            return Ok(());
        }
        let bytes = loaded.doc.save_after(&heads);
        let seq = loaded.last_seq + 1;
        let result = (|| -> Result<u64> {
            let unlocked = self.unlocked()?;
            let sealed = crypto::seal(&unlocked.drk, &chunk_aad(vault_id, case, seq), &bytes)?;
            self.store_mut()?
                .append_chunk_finishing(&case, seq, &sealed, finishing.as_ref())
        })();
        let chunk_bytes = match result {
            Ok(n) => n,
            Err(e) => {
                if let Some(u) = self.unlocked.as_mut() {
                    u.cases.remove(&case);
                }
                return Err(e);
            }
        };
        let loaded = self.loaded(case)?;
        loaded.last_seq = seq;
        loaded.compaction_due = chunk_bytes > COMPACT_AFTER_BYTES.max(loaded.snapshot_len);
        if chunk_bytes > COMPACT_NOW_BYTES {
            // A failed compaction loses nothing (the chunks stay); retried later.
            let _ = self.compact(case);
        }
        Ok(())
    }

    /// Compacts every loaded case whose chunks have grown past the threshold.
    /// Meant for idle moments (the app going to the background, the end of a
    /// shell command) and run by [`Vault::lock`]. Returns how many were compacted.
    pub fn compact_due(&mut self) -> Result<usize> {
        let due: Vec<[u8; 16]> = match &self.unlocked {
            Some(u) => u
                .cases
                .iter()
                .filter(|(_, c)| c.compaction_due)
                .map(|(id, _)| *id)
                .collect(),
            None => return Ok(0),
        };
        for case in &due {
            self.compact(*case)?;
        }
        self.refresh_read_caches()?;
        Ok(due.len())
    }

    /// A case's typed records from its read cache, if that is as of the
    /// case's last chunk (else `None`: read the document). Opening a long
    /// case then costs one decrypt and one parse, not a replay of its whole
    /// history; a damaged cache is ignored, never trusted.
    pub(crate) fn cached_read(
        &mut self,
        case: [u8; 16],
    ) -> Result<Option<crate::case::model::Case>> {
        let Some((upto, body)) = self.store()?.current_read_cache(&case)? else {
            return Ok(None);
        };
        if let Some(loaded) = self.unlocked()?.cases.get(&case)
            && loaded.last_seq != upto
        {
            return Ok(None);
        }
        let vault_id = self.vault_id()?;
        let Ok(plain) = crypto::open(
            &self.unlocked()?.drk,
            &read_cache_aad(vault_id, case, upto),
            &body,
        ) else {
            return Ok(None);
        };
        let plain = Zeroizing::new(plain);
        Ok(serde_json::from_slice(&plain).ok())
    }

    /// Writes the read cache of every loaded case large enough to be worth
    /// it whose cache is behind its last chunk (run at idle moments, with
    /// compaction). Returns how many were written.
    pub fn refresh_read_caches(&mut self) -> Result<usize> {
        let candidates: Vec<([u8; 16], u64)> = match &self.unlocked {
            Some(u) => u
                .cases
                .iter()
                .filter(|(_, c)| c.doc.visit_count() >= READ_CACHE_MIN_VISITS)
                .map(|(id, c)| (*id, c.last_seq))
                .collect(),
            None => return Ok(0),
        };
        let vault_id = self.vault_id()?;
        let mut written = 0;
        for (case, last_seq) in candidates {
            if self.store()?.read_cache_is_current(&case)? {
                continue;
            }
            let Ok(read) = self.loaded(case)?.doc.read() else {
                continue;
            };
            let plain = Zeroizing::new(serde_json::to_vec(&read).unwrap_or_default());
            let sealed = crypto::seal(
                &self.unlocked()?.drk,
                &read_cache_aad(vault_id, case, last_seq),
                &plain,
            )?;
            self.store_mut()?.put_read_cache(&case, last_seq, &sealed)?;
            written += 1;
        }
        Ok(written)
    }

    /// Folds a case's chunks into one new snapshot, in one transaction.
    pub fn compact(&mut self, case: [u8; 16]) -> Result<()> {
        let vault_id = self.vault_id()?;
        let loaded = self.loaded(case)?;
        let upto = loaded.last_seq;
        let bytes = loaded.doc.save();
        let sealed = crypto::seal(
            &self.unlocked()?.drk,
            &snapshot_aad(vault_id, case, upto),
            &bytes,
        )?;
        self.store_mut()?.compact(&case, upto, &sealed)?;
        if let Ok(loaded) = self.loaded(case) {
            loaded.snapshot_len = sealed.len() as u64;
            loaded.compaction_due = false;
        }
        Ok(())
    }

    /// Forgets decrypted cases (they are reloaded from disk on next use).
    pub fn evict_cases(&mut self) {
        if let Some(u) = self.unlocked.as_mut() {
            u.cases.clear();
        }
    }
}

impl Drop for Vault {
    /// Closing the vault is an idle moment: compact what is due, drop the keys.
    fn drop(&mut self) {
        self.lock();
    }
}

/// Cases with at least this many contacts get a read cache: below it,
/// loading the document is already fast (≈ 4 ms at 200 visits on the
/// benchmark machine, see docs/PERFORMANCE.md).
const READ_CACHE_MIN_VISITS: usize = 300;

fn read_cache_aad(vault_id: [u8; 16], case: [u8; 16], upto: u64) -> Aad<'static> {
    Aad::new(
        vault_id,
        case,
        RecordKind::CaseReadCache,
        b"read-cache",
        upto,
    )
}

fn settings_aad(vault_id: [u8; 16]) -> Aad<'static> {
    Aad::new(vault_id, [0; 16], RecordKind::Settings, b"settings", 0)
}

/// Associated data of a case chunk: vault, case, kind, sequence.
pub fn chunk_aad(vault_id: [u8; 16], case: [u8; 16], seq: u64) -> Aad<'static> {
    Aad::new(vault_id, case, RecordKind::CaseChunk, b"chunk", seq)
}

/// Associated data of a case snapshot covering chunks up to `upto`.
pub fn snapshot_aad(vault_id: [u8; 16], case: [u8; 16], upto: u64) -> Aad<'static> {
    Aad::new(vault_id, case, RecordKind::CaseSnapshot, b"snapshot", upto)
}

fn wrap_drk(
    drk: &SecretKey,
    header: &Header,
    passphrase: &str,
    platform: Option<&dyn PlatformKeyStore>,
) -> Result<Vec<u8>> {
    let kek = crypto::derive_key(passphrase.as_bytes(), &header.salt_bytes()?, header.kdf)?;
    let header_hash = blake3::hash(&header.to_bytes());
    let wrapped = drk.wrap(&kek, &drk_aad(header.vault_id_bytes()?, &header_hash))?;
    match platform {
        Some(p) => Ok(p.seal(wrapped)?),
        None => Ok(wrapped),
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
