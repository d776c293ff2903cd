//! Server-side compaction on PostgreSQL: as `sqlite/compact.rs`, with the
//! case's row locked so that two compactions of one case, or a compaction
//! and a push to it, take turns. No sequence number is drawn (the snapshot
//! takes the row of the last change it covers), so the log lock is not
//! needed.

use outreach_protocol::{Change, CompactResponse, ErrorCode, ItemOf};

use super::{PostgresStorage, assigned, case_row_locked, check_live};
use crate::storage::{Device, Result, SUPERSEDED_DAYS, refused, rules};

impl PostgresStorage {
    pub(super) fn compact_inner(
        &self,
        device: &Device,
        snapshot: &Change,
        covers: u64,
        now: i64,
        quota: u64,
    ) -> Result<CompactResponse> {
        self.write(|tx| {
            check_live(tx, &device.device_id)?;
            let case_id = snapshot.case_id;
            let response = |seq, dropped| CompactResponse {
                case_id,
                seq,
                dropped,
            };
            let Some(case) = case_row_locked(tx, &case_id)? else {
                return Err(refused(ErrorCode::Forbidden, rules::CASE_REFUSED));
            };
            if let Some(row) = tx.opt(
                "SELECT seq FROM log WHERE kind = 0 AND device_id = $1 AND client_id = $2",
                &[&&device.device_id[..], &&snapshot.client_id[..]],
            )? {
                return Ok(response(row.try_get::<_, i64>(0)? as u64, 0));
            }
            let may = rules::may_access(
                &device.user,
                case.team.as_deref(),
                assigned(tx, &case_id, &device.user.user_id)?,
            );
            let covered: Vec<(i64, Vec<u8>, i64)> = tx
                .rows(
                    "SELECT seq, device_id, octet_length(body)::bigint FROM log
                     WHERE case_id = $1 AND kind = 0 AND seq <= $2 ORDER BY seq",
                    &[&&case_id[..], &(covers.min(i64::MAX as u64) as i64)],
                )?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<_>>()?;
            if !rules::compaction(may, snapshot.epoch, case.epoch, covered.len())? {
                return Ok(response(0, 0));
            }
            let Some(&(place, _, _)) = covered.last() else {
                return Ok(response(0, 0));
            };
            tx.exec(
                "INSERT INTO superseded (seq, case_id, epoch, device_id, client_id, body, created_at, superseded_at, by_device)
                 SELECT seq, case_id, epoch, device_id, client_id, body, created_at, $3, $4
                 FROM log WHERE case_id = $1 AND kind = 0 AND seq <= $2",
                &[&&case_id[..], &place, &now, &&device.device_id[..]],
            )?;
            let dropped = tx.exec(
                "DELETE FROM log WHERE case_id = $1 AND kind = 0 AND seq < $2",
                &[&&case_id[..], &place],
            )?;
            let body = outreach_protocol::encode(&ItemOf::Change(snapshot));
            tx.exec(
                "UPDATE log SET epoch = $2, device_id = $3, client_id = $4, body = $5, created_at = $6
                 WHERE seq = $1",
                &[
                    &place,
                    &i64::from(snapshot.epoch),
                    &&device.device_id[..],
                    &&snapshot.client_id[..],
                    &body,
                    &now,
                ],
            )?;
            for (_, author, len) in &covered {
                tx.exec(
                    "UPDATE devices SET stored_bytes = GREATEST(0, stored_bytes - $2) WHERE device_id = $1",
                    &[author, len],
                )?;
            }
            let total: i64 = tx
                .one(
                    "UPDATE devices SET stored_bytes = stored_bytes + $2 WHERE device_id = $1
                     RETURNING stored_bytes",
                    &[&&device.device_id[..], &(body.len() as i64)],
                )?
                .try_get(0)?;
            rules::within_quota(total.max(0) as u64, quota)?;
            Ok(response(place as u64, u32::try_from(dropped).unwrap_or(u32::MAX)))
        })
    }

    pub(super) fn purge_superseded_inner(&self, now: i64) -> Result<u64> {
        let before = now - SUPERSEDED_DAYS * 86_400;
        self.write(|tx| {
            tx.exec(
                "DELETE FROM superseded WHERE superseded_at < $1",
                &[&before],
            )
        })
    }
}
