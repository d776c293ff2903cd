//! uniffi exports of the Outreach core for the Android, iOS and Python shells.
//!
//! A thin layer: one exported object (`OutreachVault`) over the core `Vault`
//! behind a mutex (so it is `Send + Sync` without any `unsafe impl`), core
//! value types exported as remote records and enums (mirrored definitions,
//! no conversion code), and one public error enum mapped from the core error
//! in one place (`error.rs`). Everything crossing the boundary is owned.

uniffi::setup_scaffolding!();

mod case_api;
mod error;
mod platform;
mod report;
mod safety;
mod sync;
mod types;
mod vocabulary;

use std::sync::{Arc, Mutex, MutexGuard};

use zeroize::Zeroizing;

use outreach_core::case::model::{CaseEdit, Visit};
use outreach_core::vault::{
    CaseSummary, ConcernInput, GoalInput, OpenConcern, ScaleInput, Vault, VaultOptions, VisitInput,
};

pub use error::{OutreachError, PlatformKeyError};
use platform::ForeignKeyStore;
pub use platform::PlatformKeyStore;
pub use sync::{SyncCancel, SyncListener};

/// One visit with its id.
#[derive(uniffi::Record)]
pub struct VisitEntry {
    pub id: String,
    pub visit: Visit,
}

/// One case as the app's case screen shows it. The complete record (every
/// collection) is available as JSON through `case_json`.
#[derive(uniffi::Record)]
pub struct CaseDetails {
    pub id: String,
    pub preferred_name: String,
    pub date_of_birth: Option<String>,
    pub phone: Option<String>,
    pub text_ok: Option<bool>,
    pub voicemail_ok: Option<bool>,
    pub phase: Option<outreach_core::case::model::Phase>,
    pub practitioners: Vec<String>,
    pub team: Option<String>,
    /// Newest first.
    pub visits: Vec<VisitEntry>,
    pub conflicts: u32,
}

/// An encrypted vault on this device. Safe to share between threads; calls
/// are serialised.
#[derive(uniffi::Object)]
pub struct OutreachVault {
    inner: Mutex<Vault>,
}

impl OutreachVault {
    fn vault(&self) -> MutexGuard<'_, Vault> {
        // A panic while holding the lock cannot leave the vault half-written
        // (every write is one SQLite transaction), so a poisoned lock is safe to reuse.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `f` with the shell's platform key store (if any) seen as the core's trait.
fn with_platform<R>(
    platform: Option<Arc<dyn PlatformKeyStore>>,
    f: impl FnOnce(Option<&dyn outreach_core::vault::PlatformKeyStore>) -> R,
) -> R {
    let adapted = platform.map(ForeignKeyStore);
    f(adapted
        .as_ref()
        .map(|p| p as &dyn outreach_core::vault::PlatformKeyStore))
}

#[uniffi::export]
impl OutreachVault {
    /// Creates a new vault in `dir` and returns it unlocked. `platform_key`
    /// adds the device's hardware-held key as a second factor.
    #[uniffi::constructor]
    pub fn create(
        dir: String,
        passphrase: String,
        practitioner: String,
        team: Option<String>,
        platform_key: Option<Arc<dyn PlatformKeyStore>>,
    ) -> Result<Arc<Self>, OutreachError> {
        let passphrase = Zeroizing::new(passphrase);
        let mut options = VaultOptions::new(practitioner);
        options.team = team;
        let vault = with_platform(platform_key, |platform| {
            Vault::create(std::path::Path::new(&dir), &passphrase, options, platform)
        })?;
        Ok(Arc::new(Self {
            inner: Mutex::new(vault),
        }))
    }

    /// Opens the vault in `dir`, locked.
    #[uniffi::constructor]
    pub fn open(dir: String) -> Result<Arc<Self>, OutreachError> {
        Ok(Arc::new(Self {
            inner: Mutex::new(Vault::open(std::path::Path::new(&dir))?),
        }))
    }

    pub fn unlock(
        &self,
        passphrase: String,
        platform_key: Option<Arc<dyn PlatformKeyStore>>,
    ) -> Result<(), OutreachError> {
        let passphrase = Zeroizing::new(passphrase);
        with_platform(platform_key, |platform| {
            self.vault().unlock(&passphrase, platform)
        })?;
        Ok(())
    }

    /// Quick unlock (biometric / device PIN): the root key is also wrapped
    /// under a key sealed by `platform_key`, which the phone releases only
    /// after the user authenticates. Needs the vault unlocked.
    pub fn enable_quick_unlock(
        &self,
        platform_key: Arc<dyn PlatformKeyStore>,
    ) -> Result<(), OutreachError> {
        with_platform(Some(platform_key), |platform| match platform {
            Some(p) => self.vault().enable_quick_unlock(p),
            None => Err(outreach_core::Error::PlatformKeyRequired),
        })?;
        Ok(())
    }

    pub fn disable_quick_unlock(&self) -> Result<(), OutreachError> {
        Ok(self.vault().disable_quick_unlock()?)
    }

    pub fn has_quick_unlock(&self) -> Result<bool, OutreachError> {
        Ok(self.vault().has_quick_unlock()?)
    }

    /// Unlocks without the passphrase, through the platform key store. A
    /// refusal by the phone is an error, not a counted wrong passphrase.
    pub fn unlock_quick(
        &self,
        platform_key: Arc<dyn PlatformKeyStore>,
    ) -> Result<(), OutreachError> {
        with_platform(Some(platform_key), |platform| match platform {
            Some(p) => self.vault().unlock_quick(p),
            None => Err(outreach_core::Error::PlatformKeyRequired),
        })?;
        Ok(())
    }

    pub fn lock(&self) {
        self.vault().lock();
    }

    pub fn is_unlocked(&self) -> bool {
        self.vault().is_unlocked()
    }

    pub fn change_passphrase(
        &self,
        new_passphrase: String,
        platform_key: Option<Arc<dyn PlatformKeyStore>>,
    ) -> Result<(), OutreachError> {
        let new_passphrase = Zeroizing::new(new_passphrase);
        with_platform(platform_key, |platform| {
            self.vault().change_passphrase(&new_passphrase, platform)
        })?;
        Ok(())
    }

    /// Destroys the vault and everything in it.
    pub fn wipe(&self) -> Result<(), OutreachError> {
        self.vault().wipe()?;
        Ok(())
    }

    pub fn failed_attempts(&self) -> Result<u32, OutreachError> {
        Ok(self.vault().failed_attempts()?)
    }

    pub fn wipe_after(&self) -> u32 {
        self.vault().wipe_after()
    }

    /// Opens a case; returns its id.
    pub fn create_case(&self, fields: CaseEdit) -> Result<String, OutreachError> {
        Ok(self.vault().create_case(&fields)?)
    }

    pub fn edit_case(&self, case_id: String, fields: CaseEdit) -> Result<(), OutreachError> {
        Ok(self.vault().edit_case(&case_id, &fields)?)
    }

    /// Records a contact; returns the visit id.
    pub fn add_visit(&self, case_id: String, visit: VisitInput) -> Result<String, OutreachError> {
        Ok(self.vault().add_visit(&case_id, &visit)?)
    }

    pub fn add_goal(&self, case_id: String, goal: GoalInput) -> Result<String, OutreachError> {
        Ok(self.vault().add_goal(&case_id, &goal)?)
    }

    pub fn add_scale(&self, case_id: String, reading: ScaleInput) -> Result<String, OutreachError> {
        Ok(self.vault().add_scale(&case_id, &reading)?)
    }

    pub fn add_concern(
        &self,
        case_id: String,
        concern: ConcernInput,
    ) -> Result<String, OutreachError> {
        Ok(self.vault().add_concern(&case_id, &concern)?)
    }

    pub fn read_case(&self, case_id: String) -> Result<CaseDetails, OutreachError> {
        let mut vault = self.vault();
        let case = vault.read_case(&case_id)?;
        let conflicts = vault.conflicts(&case_id)?.len() as u32;
        let mut visits: Vec<VisitEntry> = case
            .visits
            .into_iter()
            .map(|(id, visit)| VisitEntry { id, visit })
            .collect();
        visits.sort_by(|a, b| b.visit.at.cmp(&a.visit.at));
        Ok(CaseDetails {
            id: case.id,
            preferred_name: case.profile.preferred_name,
            date_of_birth: case.profile.date_of_birth,
            phone: case.profile.phone,
            text_ok: case.profile.safe_contact.text_ok,
            voicemail_ok: case.profile.safe_contact.voicemail_ok,
            phase: case.programme.phase,
            practitioners: case.programme.practitioners,
            team: case.programme.team,
            visits,
            conflicts,
        })
    }

    /// The complete case as JSON (the subject access export format),
    /// recorded as an export like `exportCaseJson`.
    pub fn case_json(&self, case_id: String) -> Result<String, OutreachError> {
        let failed = || OutreachError::Internal {
            detail: "the case could not be serialised".into(),
        };
        match self
            .vault()
            .export(&case_id, outreach_core::vault::ExportFormat::Json)?
        {
            outreach_core::vault::Exported::Json(export) => {
                serde_json::to_string(&export).map_err(|_| failed())
            }
            outreach_core::vault::Exported::Automerge(_) => Err(failed()),
        }
    }

    /// The caseload, ordered by next contact due (overdue first); closed
    /// cases only with `include_closed`.
    pub fn caseload(&self, include_closed: bool) -> Result<Vec<CaseSummary>, OutreachError> {
        Ok(self.vault().caseload(include_closed)?)
    }

    /// Open concerns across the caseload, most severe first.
    pub fn open_concerns(&self) -> Result<Vec<OpenConcern>, OutreachError> {
        Ok(self.vault().open_concerns()?)
    }
}
