//! The sync round's part in server-side compaction (see
//! `vault/compact.rs`): snapshots of cases with long server histories, sent
//! last, best effort — a failure leaves them for the next sync and never
//! fails this one.

use outreach_protocol as proto;

use super::{Session, VaultCell};

impl<V: VaultCell> Session<'_, V> {
    pub(super) fn compact_histories(&mut self) {
        let Ok(requests) = self.vault.with(|v| v.compactions_due()) else {
            return;
        };
        for request in requests {
            let case = request.snapshot.case_id;
            match self.call_or_refusal(proto::PATH_COMPACT, proto::encode(&request)) {
                // Taken, or refused (the case moved away, its key changed):
                // either way it is counted from zero again.
                Ok(_) => {
                    if self.vault.with(|v| v.compacted(case)).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}
