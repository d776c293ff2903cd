//! Quick unlock: biometric or device PIN instead of the passphrase, through
//! the platform key store. When enabled, the root key is also wrapped under
//! a random quick-unlock key, and that key is sealed by the platform store
//! (a hardware key that only works after the user authenticates to the
//! phone). The passphrase still works and is still needed to turn quick
//! unlock on; changing the passphrase leaves quick unlock as it was;
//! disabling deletes both halves. A failed platform check is not a wrong
//! passphrase and is not counted towards the wipe limit — the phone's own
//! biometric lockout applies.

use super::{PlatformKeyStore, Vault};
use crate::crypto::{Aad, RecordKind, SecretKey};
use crate::error::{Error, Result};

const META_QUICK_KEY: &str = "quick_key";
const META_QUICK_DRK: &str = "quick_drk";

fn quick_aad(vault_id: [u8; 16]) -> Aad<'static> {
    Aad::new(
        vault_id,
        [0; 16],
        RecordKind::QuickUnlock,
        b"quick-unlock",
        0,
    )
}

impl Vault {
    /// Turns quick unlock on (the vault must be unlocked).
    pub fn enable_quick_unlock(&mut self, platform: &dyn PlatformKeyStore) -> Result<()> {
        let vault_id = self.vault_id()?;
        let quick = SecretKey::generate()?;
        let wrapped = self.unlocked()?.drk.wrap(&quick, &quick_aad(vault_id))?;
        let sealed = platform.seal(quick.bytes_for_platform().to_vec())?;
        self.store_mut()?
            .meta_put(&[(META_QUICK_KEY, &sealed), (META_QUICK_DRK, &wrapped)])
    }

    /// Turns quick unlock off: both halves are deleted.
    pub fn disable_quick_unlock(&mut self) -> Result<()> {
        self.unlocked()?;
        self.store_mut()?
            .meta_delete(&[META_QUICK_KEY, META_QUICK_DRK])
    }

    pub fn has_quick_unlock(&self) -> Result<bool> {
        Ok(self.store()?.meta_get(META_QUICK_DRK)?.is_some())
    }

    /// Unlocks with the platform key store alone (after the phone has
    /// checked the user's biometric or PIN).
    pub fn unlock_quick(&mut self, platform: &dyn PlatformKeyStore) -> Result<()> {
        if self.unlocked.is_some() {
            return Ok(());
        }
        let store = self.store()?;
        let (Some(sealed), Some(wrapped)) = (
            store.meta_get(META_QUICK_KEY)?,
            store.meta_get(META_QUICK_DRK)?,
        ) else {
            return Err(Error::QuickUnlockOff);
        };
        let mut raw = platform.open(sealed)?;
        let quick = SecretKey::from_slice(&raw).map_err(|_| Error::QuickUnlockOff);
        zeroize::Zeroize::zeroize(&mut raw);
        let quick = quick?;
        let drk = SecretKey::unwrap_from(&wrapped, &quick, &quick_aad(self.vault_id()?))
            .map_err(|_| Error::QuickUnlockOff)?;
        self.finish_unlock(drk)
    }
}
