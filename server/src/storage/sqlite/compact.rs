//! Server-side compaction (see `outreach_protocol::compact`): the snapshot
//! takes the row of the last change it covers — the same sequence number,
//! so no device's cursor passes it unseen — and the earlier covered changes
//! of the case move to `superseded`, out of every pull. They are kept there
//! for [`SUPERSEDED_DAYS`](crate::storage::SUPERSEDED_DAYS) (a snapshot found bad can be answered from them)
//! and then purged by the housekeeping task.

use outreach_protocol::{Change, CompactResponse, ItemOf};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStorage, assigned, case_row, check_live};
use crate::storage::{Device, Result, SUPERSEDED_DAYS, refused, rules};

impl SqliteStorage {
    pub(super) fn compact_inner(
        &self,
        device: &Device,
        snapshot: &Change,
        covers: u64,
        now: i64,
        quota: u64,
    ) -> Result<CompactResponse> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &device.device_id)?;
            let case_id = snapshot.case_id;
            let response = |seq, dropped| CompactResponse {
                case_id,
                seq,
                dropped,
            };
            // A retry of a compaction already made: the same answer.
            let done: Option<u64> = tx
                .prepare_cached(
                    "SELECT seq FROM log WHERE kind = 0 AND device_id = ?1 AND client_id = ?2",
                )?
                .query_row(params![&device.device_id[..], &snapshot.client_id[..]], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(seq) = done {
                return Ok(response(seq, 0));
            }
            let Some(case) = case_row(&tx, &case_id)? else {
                return Err(refused(
                    outreach_protocol::ErrorCode::Forbidden,
                    rules::CASE_REFUSED,
                ));
            };
            let may = rules::may_access(
                &device.user,
                case.team.as_deref(),
                assigned(&tx, &case_id, &device.user.user_id)?,
            );
            let covered: Vec<(u64, Vec<u8>, i64)> = tx
                .prepare_cached(
                    "SELECT seq, device_id, length(body) FROM log
                     WHERE case_id = ?1 AND kind = 0 AND seq <= ?2 ORDER BY seq",
                )?
                .query_map(params![&case_id[..], covers], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            if !rules::compaction(may, snapshot.epoch, case.epoch, covered.len())? {
                return Ok(response(0, 0));
            }
            let Some(&(place, _, _)) = covered.last() else {
                return Ok(response(0, 0));
            };
            // Keep the covered changes aside, then take them out of the log.
            tx.execute(
                "INSERT INTO superseded (seq, case_id, epoch, device_id, client_id, body, created_at, superseded_at, by_device)
                 SELECT seq, case_id, epoch, device_id, client_id, body, created_at, ?3, ?4
                 FROM log WHERE case_id = ?1 AND kind = 0 AND seq <= ?2",
                params![&case_id[..], place, now, &device.device_id[..]],
            )?;
            let dropped = tx.execute(
                "DELETE FROM log WHERE case_id = ?1 AND kind = 0 AND seq < ?2",
                params![&case_id[..], place],
            )?;
            let body = outreach_protocol::encode(&ItemOf::Change(snapshot));
            tx.execute(
                "UPDATE log SET epoch = ?2, device_id = ?3, client_id = ?4, body = ?5, created_at = ?6
                 WHERE seq = ?1",
                params![
                    place,
                    snapshot.epoch,
                    &device.device_id[..],
                    &snapshot.client_id[..],
                    body,
                    now
                ],
            )?;
            // Each author's share of the log shrinks by what left it; the
            // snapshot counts to the device that uploaded it.
            for (_, author, len) in &covered {
                tx.execute(
                    "UPDATE devices SET stored_bytes = MAX(0, stored_bytes - ?2) WHERE device_id = ?1",
                    params![author, len],
                )?;
            }
            let total: u64 = tx
                .prepare_cached(
                    "UPDATE devices SET stored_bytes = stored_bytes + ?2 WHERE device_id = ?1
                     RETURNING stored_bytes",
                )?
                .query_row(params![&device.device_id[..], body.len() as i64], |r| {
                    r.get(0)
                })?;
            rules::within_quota(total, quota)?;
            tx.commit()?;
            Ok(response(place, u32::try_from(dropped).unwrap_or(u32::MAX)))
        })
    }

    /// Purges superseded changes older than [`SUPERSEDED_DAYS`].
    pub(super) fn purge_superseded_inner(&self, now: i64) -> Result<u64> {
        let before = now - SUPERSEDED_DAYS * 86_400;
        self.with(|c| {
            let n = c.execute("DELETE FROM superseded WHERE superseded_at < ?1", [before])?;
            Ok(n as u64)
        })
    }
}
