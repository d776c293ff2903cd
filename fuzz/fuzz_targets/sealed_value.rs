//! Opening sealed values and case-key envelopes from bytes an attacker
//! controls (a tampered vault file, a change or envelope from the server).
//!
//! The first byte picks the path:
//! - even: `crypto::open` of the rest under the fixed key and place, and
//!   `DeviceKeys::open` (a sealed device identity) of the same bytes. Only a
//!   value the corpus generator sealed may open, in one place only, and then
//!   its plaintext starts with [`SEAL_MARKER`]; anything else is an error.
//! - odd: an HPKE case-key envelope: the second byte is the length of the
//!   encapsulated key, then `enc`, then the ciphertext, opened with the fixed
//!   recovery key (the same code path as a device's own key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_core::crypto::{self, DeviceKeys, open_envelope_with_recovery_key};
use outreach_fuzz::{
    SEAL_MARKER, envelope_aad, identity_aad, recovery_keypair, seal_aad, seal_key,
};
use outreach_protocol::ENVELOPE_INFO;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let as_change = crypto::open(seal_key(), &seal_aad(), rest);
        let as_identity = crypto::open(seal_key(), &identity_aad(), rest);
        assert!(
            as_change.is_err() || as_identity.is_err(),
            "a value opened in two places"
        );
        for plain in [as_change, as_identity].into_iter().flatten() {
            assert!(
                plain.starts_with(SEAL_MARKER),
                "a value opened that the generator did not seal"
            );
        }
        let _ = DeviceKeys::open(rest, seal_key(), &identity_aad());
    } else {
        let Some((&enc_len, rest)) = rest.split_first() else {
            return;
        };
        let (enc, ciphertext) = rest.split_at(usize::from(enc_len).min(rest.len()));
        let (sk, _) = recovery_keypair();
        let _ =
            open_envelope_with_recovery_key(sk, enc, ciphertext, ENVELOPE_INFO, &envelope_aad());
        // An envelope for another place must not open.
        let other = outreach_protocol::envelope_aad(&[0; 16], &[0; 16], 0, &[0; 16]);
        assert!(
            open_envelope_with_recovery_key(sk, enc, ciphertext, ENVELOPE_INFO, &other).is_err(),
            "an envelope opened for the wrong place"
        );
    }
});
