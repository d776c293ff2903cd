//! Enrolment and sync for the apps: `async` (Kotlin `suspend`, Swift
//! `async`), with a progress listener implemented by the shell and a cancel
//! handle. The network work is blocking (ureq) and runs on its own thread;
//! the returned future only waits for its result, so no async runtime is
//! needed on either side. While a sync runs it holds the vault: other calls
//! wait for it (the shell shows progress meanwhile).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use outreach_core::sync::{
    self, Assignment, HttpTransport, SyncObserver, SyncPhase, SyncReport, Transfer,
};
use outreach_core::vault::CaseSyncState;

use crate::{OutreachError, OutreachVault};

/// Implemented by the shell to show sync progress. Called from the sync
/// thread; keep it quick (post to the UI thread).
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    /// `done` of `total` (unknown while downloading).
    fn on_progress(&self, phase: SyncPhase, done: u64, total: Option<u64>);
}

/// Cancels a running sync between requests; everything done so far is kept.
#[derive(uniffi::Object, Default)]
pub struct SyncCancel {
    cancelled: AtomicBool,
}

#[uniffi::export]
impl SyncCancel {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

/// The account this device is enrolled as.
#[derive(uniffi::Record)]
pub struct SyncAccount {
    pub server: String,
    pub organisation: String,
    pub user: String,
    /// practitioner, supervisor or admin
    pub role: String,
    pub team: Option<String>,
    pub device_id: String,
}

/// One case's standing with the server, for the caseload screen.
#[derive(uniffi::Record)]
pub struct CaseSyncStatus {
    pub case_id: String,
    pub state: CaseSyncState,
}

struct Observer {
    listener: Option<Arc<dyn SyncListener>>,
    cancel: Option<Arc<SyncCancel>>,
}

impl SyncObserver for Observer {
    fn progress(&mut self, phase: SyncPhase, done: u64, total: Option<u64>) {
        if let Some(l) = &self.listener {
            l.on_progress(phase, done, total);
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.cancelled.load(Ordering::SeqCst))
    }
}

/// Runs `f` on its own thread and awaits its result.
pub(crate) async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OutreachError> + Send + 'static,
) -> Result<T, OutreachError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.unwrap_or_else(|_| {
        Err(OutreachError::Internal {
            detail: "the sync thread stopped unexpectedly".into(),
        })
    })
}

impl OutreachVault {
    fn account(&self) -> Result<Option<SyncAccount>, OutreachError> {
        let vault = self.vault();
        let Some(c) = vault.sync_config()? else {
            return Ok(None);
        };
        Ok(Some(SyncAccount {
            server: c.server,
            organisation: c.org_name,
            user: c.user_name,
            role: c.role,
            team: c.team,
            device_id: vault.settings()?.device_id.clone(),
        }))
    }
}

#[uniffi::export]
impl OutreachVault {
    /// Enrols this device with the organisation's server using the one-time
    /// code from the admin. Plain `http://` only to this machine unless
    /// `allow_insecure_http` (test servers).
    pub async fn enroll(
        self: Arc<Self>,
        server: String,
        code: String,
        allow_insecure_http: bool,
    ) -> Result<SyncAccount, OutreachError> {
        off_thread(move || {
            let transport = HttpTransport::new(&server, allow_insecure_http)?;
            sync::enroll(
                &mut self.vault(),
                &transport,
                &server,
                allow_insecure_http,
                &code,
            )?;
            self.account()?.ok_or(OutreachError::Internal {
                detail: "enrolment was not recorded".into(),
            })
        })
        .await
    }

    /// The account this device is enrolled as, if any.
    pub fn sync_account(&self) -> Result<Option<SyncAccount>, OutreachError> {
        self.account()
    }

    /// One sync round: upload what is new here, receive what is new for this
    /// device, share case keys. Safe to cancel or interrupt at any point and
    /// to run again. A revoked device wipes its vault and gets `DeviceRevoked`.
    pub async fn sync(
        self: Arc<Self>,
        listener: Option<Arc<dyn SyncListener>>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> Result<SyncReport, OutreachError> {
        off_thread(move || {
            let config = self
                .vault()
                .sync_config()?
                .ok_or(outreach_core::Error::NotEnrolled)?;
            let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
            let mut observer = Observer { listener, cancel };
            // The vault is held per step, never across the network: the
            // app's screens keep working during a long first sync.
            Ok(sync::sync_shared(&self.inner, &transport, &mut observer)?)
        })
        .await
    }

    /// Assigns a case to a practitioner or supervisor by name (supervisors of
    /// the case's team, admins). Her devices get the case, key included, on
    /// their next sync.
    pub async fn assign_case(
        self: Arc<Self>,
        case_id: String,
        user: String,
    ) -> Result<Assignment, OutreachError> {
        off_thread(move || {
            let mut vault = self.vault();
            let config = vault
                .sync_config()?
                .ok_or(outreach_core::Error::NotEnrolled)?;
            let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
            Ok(sync::assign(&mut vault, &transport, &case_id, &user)?)
        })
        .await
    }

    /// Transfers a case to a practitioner by name (supervisors of the case's
    /// team, admins): she holds it from now on, and every other practitioner
    /// holding it loses it (their devices delete it on their next sync, after
    /// uploading anything written there). The case records who held it when.
    /// Refused with `NotAllowed` for anyone else.
    pub async fn transfer_case(
        self: Arc<Self>,
        case_id: String,
        to_user: String,
    ) -> Result<Transfer, OutreachError> {
        off_thread(move || {
            let mut vault = self.vault();
            let config = vault
                .sync_config()?
                .ok_or(outreach_core::Error::NotEnrolled)?;
            let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
            Ok(sync::transfer_case(
                &mut vault, &transport, &case_id, &to_user,
            )?)
        })
        .await
    }

    /// Every case's sync state: never synced, pending upload, synced, conflict.
    pub fn sync_states(&self) -> Result<Vec<CaseSyncStatus>, OutreachError> {
        Ok(self
            .vault()
            .case_sync_states()?
            .into_iter()
            .map(|(case_id, state)| CaseSyncStatus { case_id, state })
            .collect())
    }
}
