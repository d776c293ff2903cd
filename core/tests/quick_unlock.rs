//! Quick unlock through the platform key store: on, off, after a passphrase
//! change, with a failing or different platform key, and a tampered wrap.

use outreach_core::case::model::CaseEdit;
use outreach_core::crypto::KdfParams;
use outreach_core::vault::{PlatformKeyStore, SoftwareKeyStore, Vault, VaultOptions};
use outreach_core::{Error, PlatformKeyError};

const PASS: &str = "correct horse battery";

struct Refusing;
impl PlatformKeyStore for Refusing {
    fn seal(&self, _: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError> {
        Err(PlatformKeyError::Unavailable)
    }
    fn open(&self, _: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError> {
        Err(PlatformKeyError::Unavailable)
    }
}

fn vault(dir: &std::path::Path) -> Vault {
    Vault::create(
        dir,
        PASS,
        VaultOptions {
            kdf: KdfParams::FLOOR,
            wipe_after: 3,
            practitioner: "Sam".into(),
            team: None,
        },
        None,
    )
    .unwrap()
}

#[test]
fn quick_unlock_opens_the_vault_without_the_passphrase_and_can_be_turned_off() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = vault(&dir);
    let case = v
        .create_case(&CaseEdit {
            preferred_name: Some("Jess".into()),
            ..Default::default()
        })
        .unwrap();
    let platform = SoftwareKeyStore::new().unwrap();
    assert!(!v.has_quick_unlock().unwrap());
    v.enable_quick_unlock(&platform).unwrap();
    v.lock();
    assert!(matches!(
        v.enable_quick_unlock(&platform),
        Err(Error::Locked)
    ));

    let mut v = Vault::open(&dir).unwrap();
    assert!(v.has_quick_unlock().unwrap());
    // The phone refuses (no biometric): an error, and not a wrong passphrase.
    assert!(matches!(
        v.unlock_quick(&Refusing),
        Err(Error::Platform(PlatformKeyError::Unavailable))
    ));
    // Another phone's key cannot open it.
    assert!(v.unlock_quick(&SoftwareKeyStore::new().unwrap()).is_err());
    assert_eq!(
        v.failed_attempts().unwrap(),
        0,
        "platform failures are not counted as guesses"
    );
    v.unlock_quick(&platform).unwrap();
    assert_eq!(v.read_case(&case).unwrap().profile.preferred_name, "Jess");

    // A passphrase change leaves quick unlock working.
    v.change_passphrase("a new passphrase", None).unwrap();
    v.lock();
    v.unlock_quick(&platform).unwrap();

    // Turned off: both halves gone, the passphrase still works.
    v.disable_quick_unlock().unwrap();
    assert!(!v.has_quick_unlock().unwrap());
    v.lock();
    assert!(matches!(
        v.unlock_quick(&platform),
        Err(Error::QuickUnlockOff)
    ));
    v.unlock("a new passphrase", None).unwrap();
}

#[test]
fn a_tampered_quick_unlock_wrap_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut v = vault(&dir);
    let platform = SoftwareKeyStore::new().unwrap();
    v.enable_quick_unlock(&platform).unwrap();
    drop(v);
    let c = rusqlite::Connection::open(dir.join(outreach_core::vault::DB_FILE)).unwrap();
    let mut wrapped: Vec<u8> = c
        .query_row("SELECT value FROM meta WHERE key = 'quick_drk'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let last = wrapped.len() - 1;
    wrapped[last] ^= 1;
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'quick_drk'",
        [wrapped],
    )
    .unwrap();
    drop(c);
    let mut v = Vault::open(&dir).unwrap();
    assert!(matches!(
        v.unlock_quick(&platform),
        Err(Error::QuickUnlockOff)
    ));
    assert!(!v.is_unlocked());
    v.unlock(PASS, None).unwrap();
}
