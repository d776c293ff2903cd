//! Cases leaving this device for good, and the closure dates the
//! organisation's retention rule needs.
//!
//! - **Erased** by the organisation (`outreach-server erase-case` or
//!   `retention`): the server sends an [`Item::Erased`]; the case is
//!   deleted whatever its state — unsent changes and drafts included, the
//!   organisation decided — and confirmed to the server (`/v1/erased`).
//! - **Forgotten** here (`case forget`): a case this device no longer needs
//!   (closed, or transferred away), deleted only when nothing written here
//!   is unsent.
//!
//! Either way a `case_forgotten` row stays, so anything that still arrives
//! for the case is dropped silently, never quarantined.
//! - **Closure dates**: each sync tells the server the closure date of the
//!   cases whose closure differs from what it was last told (metadata only:
//!   case id and date); only cases written since the last check are read.

use outreach_protocol::{self as proto, Id, Item};

use super::Vault;
use super::sync::Applied;
use crate::case::model::Phase;
use crate::error::{Error, Result};

/// A closure to tell the server, and the case's `last_seq` it was read at.
#[derive(Debug, Clone)]
pub struct PendingClosure {
    pub closure: proto::Closure,
    pub upto_seq: u64,
}

impl Applied {
    /// A case erased here is neither changed, nor to be fetched, removed or
    /// waiting for removal.
    pub(super) fn note_erased(&mut self, case: Id) {
        self.cases_changed.remove(&case);
        self.refetch.remove(&case);
        self.pending_removal.remove(&case);
        self.removed.remove(&case);
        self.erased.insert(case);
    }
}

impl Vault {
    /// The organisation erased `case`: deleted here at once, whatever its
    /// state, in one transaction; remembered to confirm to the server.
    pub(super) fn apply_erasure(&mut self, case: Id, applied: &mut Applied) -> Result<()> {
        let now = self.now().timestamp();
        let held = self.store()?.case_exists(&case)?;
        self.store_mut()?.erase_case(&case, now)?;
        if let Some(u) = self.unlocked.as_mut() {
            u.cases.remove(&case);
        }
        if held {
            self.log_case_left(case, "erased")?;
        }
        applied.note_erased(case);
        Ok(())
    }

    /// Whether a received item is for a case erased or forgotten here: it
    /// is then dropped (an erasure notice itself always applies).
    pub(super) fn is_dropped(&self, item: &Item) -> Result<bool> {
        let case = match item {
            Item::Change(c) => c.case_id,
            Item::Envelope(e) => e.case_id,
            Item::Removed { case_id } => *case_id,
            Item::Erased { .. } => return Ok(false),
        };
        self.store()?.is_forgotten(&case)
    }

    /// Removes a case this device no longer needs — closed, or transferred
    /// away from this device's user — with its keys, drafts and sync state.
    /// Refused while anything written here is not on the server (changes
    /// not uploaded, a contact form not submitted): nothing written is lost.
    /// Other devices keep their copies; what still arrives for it here is
    /// dropped. Returns the case id.
    pub fn forget_case(&mut self, case: &str) -> Result<String> {
        let id = self.resolve_case(case)?;
        let name = uuid::Uuid::from_bytes(id).to_string();
        let record = self.read_case(&name)?;
        let closed = record.programme.phase == Some(Phase::Closed);
        let me = self.identity()?.user_id;
        let held_by_me = |done: bool| {
            record.programme.holders.values().any(|h| {
                me.is_some() && h.user_id.as_deref() == me.as_deref() && h.to.is_some() == done
            })
        };
        // Transferred away: the server said so (a removal waiting for its
        // uploads), or the case's holding history shows her holding ended
        // and no new one began.
        let transferred = self.store()?.pending_removals()?.contains(&id)
            || (held_by_me(true) && !held_by_me(false));
        if !closed && !transferred {
            return Err(Error::ForgetOpenCase);
        }
        let store = self.store()?;
        if store.outbox_has(&id)?
            || store.case_dirty(&id)?
            || store.has_drafts(&id)?
            || store.synced_heads(&id)?.is_none()
        {
            return Err(Error::ForgetUnsent);
        }
        let now = self.now().timestamp();
        self.store_mut()?.forget_case(&id, now)?;
        self.log_case_left(id, "forgotten")?;
        if let Some(u) = self.unlocked.as_mut() {
            u.cases.remove(&id);
        }
        Ok(name)
    }

    /// A case imported from a file: never one the organisation erased; one
    /// forgotten here is taken back (what arrives for it applies again).
    pub(super) fn admit_import(&mut self, case: &Id) -> Result<()> {
        match self.store()?.forgotten(case)? {
            Some(true) => Err(Error::CaseErased),
            Some(false) => self.store_mut()?.unforget(case),
            None => Ok(()),
        }
    }

    /// Erased cases not yet confirmed to the server.
    pub fn unreported_erasures(&self) -> Result<Vec<Id>> {
        self.store()?.unreported_erasures()
    }

    pub fn mark_erasures_reported(&mut self, cases: &[Id]) -> Result<()> {
        self.store_mut()?.mark_erasures_reported(cases)
    }

    /// Closures to tell the server: cases written since their closure was
    /// last compared, whose closure date now differs from what the server
    /// was told. Cases whose closure did not change are recorded as checked
    /// here (no request needed).
    pub fn pending_closures(&mut self) -> Result<Vec<PendingClosure>> {
        let mut out = Vec::new();
        let mut unchanged = Vec::new();
        for (case, upto_seq, told) in self.store()?.closures_to_check()? {
            let name = uuid::Uuid::from_bytes(case).to_string();
            let was_loaded = self.unlocked()?.cases.contains_key(&case);
            let now = match self.read_case(&name) {
                Ok(c) if c.programme.phase == Some(Phase::Closed) => {
                    c.programme.closed_on.filter(|d| proto::is_iso_date(d))
                }
                Ok(_) => None,
                // A case that cannot be read says nothing new about its
                // closure; it is looked at again once it changes.
                Err(Error::CorruptRecord { .. } | Error::Document(_)) => told.clone(),
                Err(e) => return Err(e),
            };
            if !was_loaded && let Some(u) = self.unlocked.as_mut() {
                u.cases.remove(&case);
            }
            if now == told {
                unchanged.push((case, told, upto_seq));
            } else {
                out.push(PendingClosure {
                    closure: proto::Closure {
                        case_id: case,
                        closed_on: now,
                    },
                    upto_seq,
                });
            }
        }
        if !unchanged.is_empty() {
            self.store_mut()?.record_closures(&unchanged)?;
        }
        Ok(out)
    }

    /// The server has these closures.
    pub fn closures_reported(&mut self, done: &[PendingClosure]) -> Result<()> {
        let rows: Vec<_> = done
            .iter()
            .map(|p| (p.closure.case_id, p.closure.closed_on.clone(), p.upto_seq))
            .collect();
        self.store_mut()?.record_closures(&rows)
    }
}
