//! The sync round's part in erasure and retention: confirm erased cases to
//! the server (`/v1/erased`) and tell it closure dates (`/v1/closure`).
//! Both are best effort, like the quarantine report: a failure leaves the
//! work for the next sync and never fails this one. Neither sends content.

use outreach_protocol as proto;

use super::{Session, VaultCell};

impl<V: VaultCell> Session<'_, V> {
    /// Confirms to the server the erased cases deleted here.
    pub(super) fn report_erasures(&mut self) {
        let Ok(cases) = self.vault.with(|v| v.unreported_erasures()) else {
            return;
        };
        for chunk in cases.chunks(proto::MAX_ERASURE_ITEMS) {
            let body = proto::encode(&proto::ErasedReport {
                cases: chunk.to_vec(),
            });
            match self.call_or_refusal(proto::PATH_ERASED, body) {
                Ok(Ok(_)) => {
                    if self
                        .vault
                        .with(|v| v.mark_erasures_reported(chunk))
                        .is_err()
                    {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// Tells the server the closure date of cases closed or reopened since
    /// it was last told (for the organisation's retention rule).
    pub(super) fn report_closures(&mut self) {
        let Ok(pending) = self.vault.with(|v| v.pending_closures()) else {
            return;
        };
        for chunk in pending.chunks(proto::MAX_ERASURE_ITEMS) {
            let body = proto::encode(&proto::ClosureReport {
                cases: chunk.iter().map(|p| p.closure.clone()).collect(),
            });
            match self.call_or_refusal(proto::PATH_CLOSURE, body) {
                Ok(Ok(_)) => {
                    if self.vault.with(|v| v.closures_reported(chunk)).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    }
}
