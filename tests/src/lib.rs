//! Helpers shared by the end-to-end tests (the crate's tests live in `tests/`).

pub mod harness;
pub mod http;

use outreach_core::crypto::KdfParams;
use outreach_core::vault::VaultOptions;

/// The passphrase the test processes use.
pub const PASSPHRASE: &str = "correct horse battery";

/// Vault options with the cheapest KDF the vault accepts, for tests.
pub fn test_options(practitioner: &str) -> VaultOptions {
    VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: practitioner.into(),
        team: None,
    }
}
