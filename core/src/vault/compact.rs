//! Server-side compaction, the device's part (see
//! `outreach_protocol::compact`). A case's history on the server grows with
//! every change; a device that joins later would download all of it. This
//! device counts the changes of each case it sends or receives since the
//! history last started again from a whole document (the case's first
//! upload, or anyone's snapshot that reached it), and past
//! [`COMPACT_AFTER`] it uploads the case's whole document to stand in for
//! everything up to its cursor.
//!
//! Only a case that is whole and settled here qualifies: nothing written
//! here waits to be sent, nothing received waits in the inbox for a missing
//! dependency, no item of the case was quarantined (the snapshot would lack
//! it, and the server would drop it), and the cursor is not inside a grant.

use outreach_protocol::{self as proto, Change, CompactRequest, Id};

use super::Vault;
use super::sync::change_aad;
use crate::crypto;
use crate::error::Result;

/// Changes of a case in its server history after which this device
/// uploads a snapshot (the default; see [`Vault::set_compaction_threshold`]).
pub const COMPACT_AFTER: i64 = 500;

/// Meta keys: the threshold when set, and the highest sequence number the
/// server gave one of this device's own changes.
const META_THRESHOLD: &str = "compact_after";
const META_LAST_ACK: &str = "last_ack_seq";

fn number(bytes: Option<Vec<u8>>) -> Option<i64> {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(i64::from_be_bytes)
}

impl Vault {
    /// Notes changes of a case sent or received; `bytes` of a received one
    /// (a whole document restarts the count).
    pub(super) fn note_history(&mut self, case: Id, bytes: Option<&[u8]>) -> Result<()> {
        let restart = bytes.is_some_and(crate::case::doc::CaseDoc::is_whole_document);
        self.store_mut()?
            .note_server_history(&case, if restart { 0 } else { 1 }, restart)
    }

    /// Notes changes of these cases the server acknowledged, with the
    /// sequence numbers it gave them.
    pub fn note_sent(&mut self, acked: &[(Id, u64)]) -> Result<()> {
        let mut last = number(self.store()?.meta_get(META_LAST_ACK)?).unwrap_or(0);
        for (case, seq) in acked {
            self.note_history(*case, None)?;
            last = last.max(i64::try_from(*seq).unwrap_or(0));
        }
        self.store_mut()?
            .meta_put(&[(META_LAST_ACK, &last.to_be_bytes())])
    }

    /// Sets after how many changes of a case's server history this device
    /// uploads a snapshot (at least 2; tests and tuning).
    pub fn set_compaction_threshold(&mut self, changes: i64) -> Result<()> {
        self.store_mut()?
            .meta_put(&[(META_THRESHOLD, &changes.max(2).to_be_bytes())])
    }

    /// Snapshots to upload now, sealed and signed: one per case whose server
    /// history is long and which is settled here (see the module docs).
    pub fn compactions_due(&mut self) -> Result<Vec<CompactRequest>> {
        // Called at the end of a sync round, after a pull to the end: every
        // change of a readable case numbered up to the cursor is here, and so
        // is every change numbered up to this device's own last upload (any
        // other device's change before it would have come in that pull).
        let cursor = self.sync_cursor()?;
        if cursor.sub != 0 {
            return Ok(Vec::new());
        }
        let last_ack = number(self.store()?.meta_get(META_LAST_ACK)?).unwrap_or(0);
        let covers = cursor.seq.max(u64::try_from(last_ack).unwrap_or(0));
        if covers == 0 {
            return Ok(Vec::new());
        }
        let threshold = number(self.store()?.meta_get(META_THRESHOLD)?).unwrap_or(COMPACT_AFTER);
        let due = self.store()?.long_server_histories(threshold)?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let (config, keys) = self.enrolled()?;
        let org = config.org_id()?;
        let me = self.device_id_bytes()?;
        let unsettled: Vec<Id> = {
            let store = self.store()?;
            let mut v = store.rejected_cases()?;
            v.extend(store.inbox_case_ids()?);
            v.extend(store.pending_removals()?);
            v
        };
        let mut out = Vec::new();
        for case in due {
            let store = self.store()?;
            if unsettled.contains(&case) || store.outbox_has(&case)? || store.case_dirty(&case)? {
                continue;
            }
            let Ok((epoch, key)) = self.current_case_key(case) else {
                continue;
            };
            let whole = self.loaded(case)?.doc.save();
            let client_id = crypto::random_id()?;
            let ciphertext = crypto::seal(&key, &change_aad(org, case, epoch, &client_id), &whole)?;
            if ciphertext.len() > proto::MAX_BLOB_BYTES {
                // Too large for one change: left as it is (counted again
                // from zero, so it is not tried on every sync).
                self.compacted(case)?;
                continue;
            }
            let message = proto::change_message(&case, epoch, &me, &client_id, &ciphertext);
            out.push(CompactRequest {
                snapshot: Change {
                    client_id,
                    case_id: case,
                    epoch,
                    author: me,
                    ciphertext,
                    signature: keys.sign(&message).to_vec(),
                },
                covers,
            });
        }
        Ok(out)
    }

    /// The server took (or refused) this case's snapshot: its history is
    /// counted from zero again.
    pub fn compacted(&mut self, case: Id) -> Result<()> {
        self.store_mut()?.note_server_history(&case, 0, true)
    }
}
