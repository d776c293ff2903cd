//! One sync round, step by step, over a [`Transport`].

mod compact;
mod erasure;
mod safety;

pub use safety::{
    acknowledge_alert, add_visit_checking_out, check_in, check_out, extend_check_in,
    refresh_safety, send_safety, submit_draft_checking_out,
};

use std::collections::BTreeSet;

use outreach_protocol::{
    self as proto, EnrollResponse, Id, Item, PullRequest, PullResponse, PushRequest, PushResponse,
};
use serde::Serialize;

use super::transport::{Transport, check_server_url, refusal_error};
use crate::error::{Error, Result};
use crate::vault::{Applied, SyncConfig, Vault};

/// Bytes of queued uploads sent per push request.
const PUSH_BATCH_BYTES: usize = 1024 * 1024;
/// Bytes asked for per pull page.
const PULL_PAGE_BYTES: u32 = proto::DEFAULT_PULL_BYTES;
/// A pull loop that keeps getting pages stops after this many (a server
/// bug must not spin a phone's battery flat); the next sync continues.
const MAX_PAGES: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    Uploading,
    Downloading,
    SharingKeys,
}

/// What a shell shows while a sync runs, and how it cancels one.
pub trait SyncObserver {
    /// `done` of `total` units (uploads, or received items); `total` is
    /// unknown while downloading.
    fn progress(&mut self, phase: SyncPhase, done: u64, total: Option<u64>);
    /// Checked between requests; a cancelled sync keeps everything done so far.
    fn cancelled(&self) -> bool {
        false
    }
}

impl SyncObserver for () {
    fn progress(&mut self, _: SyncPhase, _: u64, _: Option<u64>) {}
}

/// What one sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Local changes the server acknowledged.
    pub pushed: u64,
    /// Received changes applied.
    pub pulled: u64,
    /// Cases that received changes (ids).
    pub cases_changed: Vec<String>,
    /// Open conflicts in the cases that changed.
    pub conflicts: u64,
    /// Case keys shared with other devices.
    pub keys_shared: u64,
    /// Case keys received.
    pub keys_received: u64,
    /// Cases with received changes still waiting for their key.
    pub cases_waiting_for_key: u64,
    /// Received items quarantined (bad signature, does not open, does not
    /// apply): one per item, its case and the reason — never content. Every
    /// other item and case synced.
    pub rejected: Vec<RejectedItem>,
    pub round_trips: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Cases transferred to another practitioner and deleted from this
    /// device (ids), once everything written here about them was uploaded.
    pub removed: Vec<String>,
    /// Cases transferred away that stay until what was written here is
    /// through: queued changes, or a contact form not yet submitted.
    pub removal_waiting: Vec<String>,
    /// Cases the organisation erased: deleted from this device (ids), and
    /// confirmed to the server.
    pub erased: Vec<String>,
    /// Cases whose key this device changed because a device lost the right
    /// to read them (revoked, or the case transferred away).
    pub keys_rotated: u64,
    /// Uploads sealed under a case key another device has just replaced,
    /// kept here until the new key arrives (then sealed again and sent).
    pub uploads_waiting_for_key: u64,
}

/// One quarantined item, as a shell shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedItem {
    /// Case id.
    pub case: String,
    /// `bad-signature`, `envelope-does-not-open`, `does-not-decrypt`,
    /// `does-not-apply` or `malformed`.
    pub reason: String,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Enrols this device: creates its keys (kept sealed in the vault), presents
/// them with the one-time code, and remembers the server and account.
pub fn enroll(
    vault: &mut Vault,
    transport: &dyn Transport,
    server: &str,
    allow_insecure_http: bool,
    code: &str,
) -> Result<SyncConfig> {
    let server = check_server_url(server, allow_insecure_http)?;
    if code.trim().is_empty() || code.len() > 200 {
        return Err(crate::ValidationError::new(
            "code",
            "enter the enrolment code your admin gave you",
        )
        .into());
    }
    let request = vault.enrolment_request(code)?;
    let body = proto::encode(&request);
    let reply = transport.post(proto::PATH_ENROLL, &body, None)?;
    let response: EnrollResponse =
        proto::decode(&reply).map_err(|_| Error::SyncProtocol("malformed enrolment reply"))?;
    vault.finish_enrolment(&server, allow_insecure_http, &response)
}

/// How the engine reaches the vault: one short hold per step (prepare the
/// uploads, acknowledge a batch, apply one page…), never across a network
/// call, so the app's screens stay usable during a long first sync.
pub trait VaultCell {
    fn with<R>(&self, f: impl FnOnce(&mut Vault) -> R) -> R;
}

impl VaultCell for std::sync::Mutex<Vault> {
    fn with<R>(&self, f: impl FnOnce(&mut Vault) -> R) -> R {
        // Every vault write is one SQLite transaction, so a panic elsewhere
        // while holding the lock cannot leave it half-written.
        let mut guard = self.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

impl VaultCell for std::cell::RefCell<&mut Vault> {
    fn with<R>(&self, f: impl FnOnce(&mut Vault) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}

struct Session<'a, V: VaultCell> {
    vault: &'a V,
    transport: &'a dyn Transport,
    report: SyncReport,
    /// The server's log was restored from a backup during this round: this
    /// device started again from its beginning and uploads all it holds.
    restored: bool,
}

impl<V: VaultCell> Session<'_, V> {
    fn call(&mut self, path: &str, body: Vec<u8>) -> Result<Vec<u8>> {
        let ts = now();
        let auth = self
            .vault
            .with(|v| v.sign_request("POST", path, ts, &body))?;
        self.report.round_trips += 1;
        self.report.bytes_sent += body.len() as u64;
        let reply = self.transport.post(path, &body, Some(&auth))?;
        self.report.bytes_received += reply.len() as u64;
        Ok(reply)
    }

    /// Like [`Session::call`], with a refusal the server explained returned
    /// as its [`proto::ApiError`] for the caller to interpret.
    fn call_or_refusal(
        &mut self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<std::result::Result<Vec<u8>, proto::ApiError>> {
        let ts = now();
        let auth = self
            .vault
            .with(|v| v.sign_request("POST", path, ts, &body))?;
        self.report.round_trips += 1;
        self.report.bytes_sent += body.len() as u64;
        let reply = self.transport.post_or_refusal(path, &body, Some(&auth))?;
        if let Ok(bytes) = &reply {
            self.report.bytes_received += bytes.len() as u64;
        }
        Ok(reply)
    }

    /// Uploads what is left of cases transferred away, then deletes them.
    /// Runs before the server hears of a cursor past their removal (after
    /// which it refuses their uploads).
    fn finish_removals(
        &mut self,
        observer: &mut dyn SyncObserver,
        applied: &mut Applied,
    ) -> Result<()> {
        if !self.vault.with(|v| v.has_pending_removals())? {
            return Ok(());
        }
        self.push(observer)?;
        let mut done = Applied::default();
        done.removed
            .extend(self.vault.with(|v| v.finish_removals())?);
        applied.merge(done);
        Ok(())
    }

    fn push(&mut self, observer: &mut dyn SyncObserver) -> Result<()> {
        let total = self.vault.with(|v| {
            v.prepare_uploads()?;
            v.outbox_len()
        })?;
        let mut done = 0;
        loop {
            if observer.cancelled() {
                return Err(Error::Cancelled);
            }
            let batch = self.vault.with(|v| v.outbox_batch(PUSH_BATCH_BYTES))?;
            if batch.is_empty() {
                return Ok(());
            }
            observer.progress(SyncPhase::Uploading, done, Some(total));
            let mut request = PushRequest::default();
            let mut ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
            let mut rows_of = std::collections::BTreeMap::new();
            for (row, item) in batch {
                match item {
                    Item::Change(c) => {
                        rows_of.insert(c.client_id, row);
                        request.changes.push(c);
                    }
                    Item::Envelope(e) => request.envelopes.push(e),
                    // Only the server writes these.
                    Item::Removed { .. } | Item::Erased { .. } => {}
                }
            }
            let expected: BTreeSet<Id> = request.changes.iter().map(|c| c.client_id).collect();
            let reply = self.call(proto::PATH_PUSH, proto::encode(&request))?;
            let response: PushResponse =
                proto::decode(&reply).map_err(|_| Error::SyncProtocol("malformed push reply"))?;
            let acked: BTreeSet<Id> = response.acks.iter().map(|a| a.client_id).collect();
            let stale: BTreeSet<Id> = response.stale.iter().copied().collect();
            if !acked.is_disjoint(&stale)
                || acked.union(&stale).copied().collect::<BTreeSet<_>>() != expected
            {
                return Err(Error::SyncProtocol(
                    "the server did not acknowledge every upload",
                ));
            }
            // Sealed under a key another device has replaced: kept, sealed
            // again once the new key is here (after the pull).
            let stale_rows: Vec<i64> = stale
                .iter()
                .filter_map(|c| rows_of.get(c).copied())
                .collect();
            ids.retain(|id| !stale_rows.contains(id));
            let case_of: std::collections::BTreeMap<Id, Id> = request
                .changes
                .iter()
                .map(|c| (c.client_id, c.case_id))
                .collect();
            let sent: Vec<(Id, u64)> = response
                .acks
                .iter()
                .filter_map(|a| case_of.get(&a.client_id).map(|case| (*case, a.seq)))
                .collect();
            self.vault.with(|v| -> Result<()> {
                v.mark_stale(&stale_rows)?;
                v.acknowledge(&ids)?;
                v.note_sent(&sent)
            })?;
            self.report.pushed += acked.len() as u64;
            done += ids.len() as u64;
            observer.progress(SyncPhase::Uploading, done, Some(total));
        }
    }

    /// Tells the server (for its admins) which received items this device
    /// quarantined. Best effort: a failure leaves them to report next time
    /// and never fails the sync.
    fn report_rejected(&mut self) {
        let Ok(items) = self.vault.with(|v| v.unreported_rejections()) else {
            return;
        };
        for chunk in items.chunks(proto::MAX_REPORT_ITEMS) {
            let body = proto::encode(&proto::RejectReport {
                items: chunk.to_vec(),
            });
            match self.call_or_refusal(proto::PATH_REPORT, body) {
                Ok(Ok(_)) => {
                    let seqs: Vec<u64> = chunk.iter().map(|r| r.seq).collect();
                    if self
                        .vault
                        .with(|v| v.mark_rejections_reported(&seqs))
                        .is_err()
                    {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// Changes the key of each case the server says must change (a device
    /// lost it). A rotation another device made first is not an error: its
    /// key arrives in an envelope on the next pull.
    fn rotate(&mut self, due: &[proto::RotationDue]) -> Result<()> {
        for due in due {
            let Some(request) = self.vault.with(|v| v.rotation_request(due))? else {
                continue;
            };
            let (case, epoch) = (request.case_id, request.epoch);
            match self.call_or_refusal(proto::PATH_ROTATE, proto::encode(&request))? {
                Ok(_) => {
                    self.vault.with(|v| v.finish_rotation(case, epoch, true))?;
                    self.report.keys_rotated += 1;
                }
                Err(e) if e.code == proto::ErrorCode::StaleEpoch => {
                    self.vault.with(|v| v.finish_rotation(case, epoch, false))?;
                }
                // Refused for another reason (e.g. the case changed hands
                // meanwhile): the server asks again if it is still due.
                Err(_) => {}
            }
        }
        Ok(())
    }

    fn pull(
        &mut self,
        observer: &mut dyn SyncObserver,
        applied: &mut Applied,
    ) -> Result<PullResponse> {
        let mut received = 0;
        for _ in 0..MAX_PAGES {
            if observer.cancelled() {
                return Err(Error::Cancelled);
            }
            let cursor = self.vault.with(|v| v.sync_cursor())?;
            let request = PullRequest {
                cursor,
                max_bytes: PULL_PAGE_BYTES,
            };
            let reply = self.call(proto::PATH_PULL, proto::encode(&request))?;
            let page: PullResponse =
                proto::decode(&reply).map_err(|_| Error::SyncProtocol("malformed pull reply"))?;
            // A new log id: the server's data was restored from a backup.
            // Start again from its beginning (this page is not applied).
            if self.vault.with(|v| v.check_log_id(page.log_id))? {
                self.restored = true;
                continue;
            }
            // Every page carries the lone-working state (alerts first).
            self.vault.with(|v| v.note_safety(&page.safety))?;
            let moved = page.next.seq > cursor.seq
                || (page.next.seq == cursor.seq && page.next.sub > cursor.sub);
            if page.more && !moved {
                return Err(Error::SyncProtocol("the server's cursor did not advance"));
            }
            let removal = page
                .entries
                .iter()
                .any(|e| matches!(e.item, Item::Removed { .. }));
            // Applied and the cursor stored under one hold: a screen never
            // sees a page half-applied.
            let got = self.vault.with(|v| -> Result<Applied> {
                let got = v.apply_page(&page)?;
                // A removal left pending (uploads, unsent writes, a draft):
                // stay before it, so the server keeps taking this device's
                // uploads to the case; the page re-applies harmlessly.
                let to = match got.hold_before {
                    Some(seq) => Some(proto::Cursor {
                        seq: seq.saturating_sub(1),
                        sub: 0,
                    }),
                    None => moved.then_some(page.next),
                };
                if let Some(to) = to {
                    v.set_sync_cursor(to)?;
                }
                Ok(got)
            })?;
            let held = got.hold_before.is_some();
            received += page.entries.len() as u64;
            applied.merge(got);
            // Before the next request tells the server this device is past
            // a removal: push what is left of the case, then delete it.
            self.finish_removals(observer, applied)?;
            if held {
                if self.vault.with(|v| v.has_pending_removals())? {
                    // Still waiting (e.g. a draft): the next sync goes on.
                    observer.progress(SyncPhase::Downloading, received, None);
                    return Ok(PullResponse::default());
                }
                // Gone now: the cursor may pass the removal.
                if moved {
                    self.vault.with(|v| v.set_sync_cursor(page.next))?;
                }
            }
            observer.progress(SyncPhase::Downloading, received, None);
            // After a removal, one more request tells the server this device
            // is past it (from then on it refuses uploads to that case).
            if !page.more && !removal {
                return Ok(page);
            }
        }
        Ok(PullResponse::default())
    }
}

/// One sync round. A revoked device wipes its vault and returns
/// [`Error::DeviceRevoked`].
pub fn sync(
    vault: &mut Vault,
    transport: &dyn Transport,
    observer: &mut dyn SyncObserver,
) -> Result<SyncReport> {
    sync_shared(&std::cell::RefCell::new(vault), transport, observer)
}

/// [`sync`] for a vault shared with other threads (the mobile API): the
/// vault is held for each step only, never while waiting on the network.
pub fn sync_shared<V: VaultCell>(
    vault: &V,
    transport: &dyn Transport,
    observer: &mut dyn SyncObserver,
) -> Result<SyncReport> {
    let result = run(vault, transport, observer);
    if let Err(Error::DeviceRevoked) = result {
        vault.with(|v| v.wipe())?;
    }
    result
}

fn run<V: VaultCell>(
    vault: &V,
    transport: &dyn Transport,
    observer: &mut dyn SyncObserver,
) -> Result<SyncReport> {
    vault.with(|v| v.sync_config())?.ok_or(Error::NotEnrolled)?;
    let mut s = Session {
        vault,
        transport,
        report: SyncReport::default(),
        restored: false,
    };
    s.push(observer)?;
    // Check-ins, check-outs and acknowledgements made offline: sent before
    // anything is pulled (their cases are on the server now).
    s.send_safety(false)?;
    let mut applied = Applied::default();
    // A removal left from an interrupted sync: its uploads just went.
    s.finish_removals(observer, &mut applied)?;
    let mut last = s.pull(observer, &mut applied)?;
    if !applied.refetch.is_empty() {
        // A gap in some case's history: have the server deliver those cases
        // whole, then try the held-back changes again.
        let cases: Vec<Id> = applied.refetch.iter().copied().collect();
        for cases in cases.chunks(proto::MAX_REFETCH_CASES) {
            let cases = cases.to_vec();
            s.call(
                proto::PATH_REFETCH,
                proto::encode(&proto::RefetchRequest { cases }),
            )?;
        }
        let mut again = Applied::default();
        last = s.pull(observer, &mut again)?;
        applied.merge(again);
    }
    if s.restored {
        // Everything this device holds goes back to the restored server
        // (whole documents, with their keys for the recovery key and this
        // user's other devices), then whatever it lacks comes back.
        s.push(observer)?;
        let mut again = Applied::default();
        last = s.pull(observer, &mut again)?;
        applied.merge(again);
    }
    vault.with(|v| v.retry_inbox(&mut applied))?;
    s.report_rejected();
    s.report_erasures();
    s.report_closures();
    s.rotate(&last.rotations)?;
    // Uploads refused as sealed under a replaced key: sealed again under the
    // new one (if it is here by now) and sent.
    let (resealed, waiting) = vault.with(|v| v.reseal_stale_outbox())?;
    if resealed > 0 {
        s.push(observer)?;
    }
    s.report.uploads_waiting_for_key = waiting;
    if !last.needs.is_empty() {
        let envelopes = vault.with(|v| v.seal_for(&last.needs))?;
        if !envelopes.is_empty() {
            observer.progress(SyncPhase::SharingKeys, 0, Some(envelopes.len() as u64));
            let n = envelopes.len() as u64;
            let request = PushRequest {
                changes: Vec::new(),
                envelopes,
            };
            let reply = s.call(proto::PATH_PUSH, proto::encode(&request))?;
            let _: PushResponse =
                proto::decode(&reply).map_err(|_| Error::SyncProtocol("malformed push reply"))?;
            s.report.keys_shared = n;
            observer.progress(SyncPhase::SharingKeys, n, Some(n));
        }
    }
    s.compact_histories();
    let mut report = s.report;
    report.pulled = applied.changes;
    report.keys_received = applied.envelopes;
    report.rejected = applied
        .rejected
        .iter()
        .map(|r| RejectedItem {
            case: uuid::Uuid::from_bytes(r.case_id).to_string(),
            reason: r.reason.as_str().to_string(),
        })
        .collect();
    vault.with(|v| -> Result<()> {
        report.cases_waiting_for_key = v.cases_waiting_for_key()?;
        for case in &applied.cases_changed {
            let id = uuid::Uuid::from_bytes(*case).to_string();
            report.conflicts += v.conflicts(&id).map(|c| c.len() as u64).unwrap_or(0);
            report.cases_changed.push(id);
        }
        Ok(())
    })?;
    report.removed = applied
        .removed
        .iter()
        .map(|c| uuid::Uuid::from_bytes(*c).to_string())
        .collect();
    report.removal_waiting = applied
        .pending_removal
        .iter()
        .map(|c| uuid::Uuid::from_bytes(*c).to_string())
        .collect();
    report.erased = applied
        .erased
        .iter()
        .map(|c| uuid::Uuid::from_bytes(*c).to_string())
        .collect();
    Ok(report)
}

/// What assigning a case did.
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub case_id: String,
    /// The assignee's devices that will receive the case.
    pub devices: u32,
    /// Envelopes sealed for them in the sync that followed.
    pub keys_shared: u64,
}

/// Assigns a case to a user by name (supervisors of the case's team and
/// admins): syncs first (the case must be on the server), asks the server,
/// then syncs again so the assignee's devices get the case key at once.
pub fn assign(
    vault: &mut Vault,
    transport: &dyn Transport,
    case: &str,
    user: &str,
) -> Result<Assignment> {
    let result = (|| {
        sync(vault, transport, &mut ())?;
        let case_id = vault.resolve_case(case)?;
        let cell = std::cell::RefCell::new(&mut *vault);
        let mut s = Session {
            vault: &cell,
            transport,
            report: SyncReport::default(),
            restored: false,
        };
        let reply = s.call(
            proto::PATH_ASSIGN,
            proto::encode(&proto::AssignRequest {
                case_id,
                user: user.trim().to_string(),
            }),
        )?;
        let response: proto::AssignResponse =
            proto::decode(&reply).map_err(|_| Error::SyncProtocol("malformed assign reply"))?;
        let report = sync(vault, transport, &mut ())?;
        Ok(Assignment {
            case_id: uuid::Uuid::from_bytes(case_id).to_string(),
            devices: response.devices,
            keys_shared: report.keys_shared,
        })
    })();
    if let Err(Error::DeviceRevoked) = result
        && vault.is_unlocked()
    {
        vault.wipe()?;
    }
    result
}

/// What transferring a case did.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub case_id: String,
    /// The new practitioner, as the admin registered her.
    pub to: String,
    /// Her devices that will receive the case.
    pub devices: u32,
    /// Envelopes sealed for them in the sync that followed.
    pub keys_shared: u64,
}

/// Transfers a case to a user by name (supervisors of the case's team and
/// admins): she is assigned it and every other practitioner holding it
/// loses it (their devices delete it on their next sync, after uploading
/// anything they wrote meanwhile). Syncs first (the case must be on the
/// server), asks the server, records the new practitioner and the holding
/// history in the case, then syncs again so that change is uploaded and her
/// devices get the case key at once. Refused: [`Error::NotAllowedToTransfer`].
pub fn transfer_case(
    vault: &mut Vault,
    transport: &dyn Transport,
    case: &str,
    user: &str,
) -> Result<Transfer> {
    let result = (|| {
        sync(vault, transport, &mut ())?;
        let case_id = vault.resolve_case(case)?;
        let case_name = uuid::Uuid::from_bytes(case_id).to_string();
        let cell = std::cell::RefCell::new(&mut *vault);
        let mut s = Session {
            vault: &cell,
            transport,
            report: SyncReport::default(),
            restored: false,
        };
        let refusal = s.call_or_refusal(
            proto::PATH_TRANSFER,
            proto::encode(&proto::TransferRequest {
                case_id,
                user: user.trim().to_string(),
            }),
        )?;
        let reply = match refusal {
            Ok(reply) => reply,
            Err(e) if e.code == proto::ErrorCode::Forbidden => {
                return Err(Error::NotAllowedToTransfer);
            }
            Err(e) => return Err(refusal_error(e)),
        };
        let response: proto::TransferResponse =
            proto::decode(&reply).map_err(|_| Error::SyncProtocol("malformed transfer reply"))?;
        let to_user = hex::encode(response.user_id);
        // A replayed transfer (same practitioner already holding it) adds no
        // second holding period.
        let holds = vault
            .read_case(&case_name)?
            .programme
            .holders
            .values()
            .any(|h| h.to.is_none() && h.user_id.as_deref() == Some(to_user.as_str()));
        if !holds {
            vault.record_transfer(&case_name, &response.user_name, Some(to_user))?;
        }
        let report = sync(vault, transport, &mut ())?;
        Ok(Transfer {
            case_id: case_name,
            to: response.user_name,
            devices: response.devices,
            keys_shared: report.keys_shared,
        })
    })();
    if let Err(Error::DeviceRevoked) = result
        && vault.is_unlocked()
    {
        vault.wipe()?;
    }
    result
}
