//! Erasure, retention and the admin log (as the SQLite backend's
//! `erasure.rs`). Erasing deletes, in one transaction, every log item of the
//! case and every row of any other table that names it, keeps a tombstone,
//! and tells every device that could hold it (log kind 4). Then the tables
//! are vacuumed so that PostgreSQL may reuse the space; what that does and
//! does not remove from disk is in docs/ARCHITECTURE.md (threat model).

use outreach_protocol::{self as proto, Closure, Id, Item};

use super::{PostgresStorage, Tx, case_row_locked, check_live, id, uuid_text};
use crate::storage::erasure::{
    AuditEntry, EraseError, Erasure, ErasureDevice, RetentionCase, date_of, parse_case_id,
};
use crate::storage::{Device, Result, may_access};

/// Log kind 4: the case was erased; the device `target` deletes its copy.
const KIND_ERASED: i64 = 4;

/// Appends one row to the admin log, in the caller's transaction.
pub(super) fn append_admin_log(
    tx: &Tx,
    at: i64,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<()> {
    tx.exec(
        "INSERT INTO admin_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        &[&at, &actor, &action, &target, &detail],
    )?;
    Ok(())
}

/// Logs an assignment or transfer made over the API.
pub(super) fn log_api_action(
    tx: &Tx,
    at: i64,
    by: &Device,
    action: &str,
    case_id: &Id,
    to_user: &str,
) -> Result<()> {
    append_admin_log(
        tx,
        at,
        &by.user.name,
        action,
        Some(&uuid_text(case_id)),
        Some(&format!(
            "to {to_user}; by device {}",
            hex::encode(&by.device_id[..4])
        )),
    )
}

/// Whether `case_id` was erased, and if so the position of the erasure
/// item addressed to `device`.
pub(super) fn erased_notice(tx: &Tx, case_id: &Id, device: &Id) -> Result<Option<Option<u64>>> {
    if !tx.exists("SELECT 1 FROM erased WHERE case_id = $1", &[&&case_id[..]])? {
        return Ok(None);
    }
    let seq = tx
        .opt(
            "SELECT seq FROM log WHERE target = $2 AND kind = 4 AND case_id = $1 ORDER BY seq LIMIT 1",
            &[&&case_id[..], &&device[..]],
        )?
        .map(|r| r.try_get::<_, i64>(0))
        .transpose()?;
    Ok(Some(seq.map(|s| s as u64)))
}

fn tombstone(tx: &Tx, case_id: &Id) -> Result<Option<(i64, String)>> {
    tx.opt(
        "SELECT erased_at, erased_by FROM erased WHERE case_id = $1",
        &[&&case_id[..]],
    )?
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .transpose()
}

fn told_devices(tx: &Tx, case_id: &Id) -> Result<Vec<ErasureDevice>> {
    tx.rows(
        "SELECT l.target, COALESCE(u.name, ''), a.acked_at
         FROM log l
         LEFT JOIN devices d ON d.device_id = l.target
         LEFT JOIN users u ON u.user_id = d.user_id
         LEFT JOIN erasure_acks a ON a.case_id = l.case_id AND a.device_id = l.target
         WHERE l.case_id = $1 AND l.kind = 4
         ORDER BY 2, l.target",
        &[&&case_id[..]],
    )?
    .iter()
    .map(|r| {
        Ok(ErasureDevice {
            device_id: hex::encode(r.try_get::<_, Vec<u8>>(0)?),
            user: r.try_get(1)?,
            confirmed_at: r.try_get(2)?,
        })
    })
    .collect()
}

impl PostgresStorage {
    /// The erasure itself, in one transaction, without the compaction.
    pub(super) fn erase_uncompacted(
        &self,
        case_id: &Id,
        by: &str,
        detail: Option<&str>,
        now: i64,
    ) -> std::result::Result<Erasure, EraseError> {
        let case_text = uuid_text(case_id);
        self.write(|tx| -> Result<std::result::Result<Erasure, EraseError>> {
            // Locked first: a push, assignment or rotation of the case
            // finishes before, or finds it gone after.
            let case = case_row_locked(tx, case_id)?;
            if let Some((at, _)) = tombstone(tx, case_id)? {
                return Ok(Err(EraseError::AlreadyErased {
                    case: case_text.clone(),
                    date: date_of(at),
                }));
            }
            let Some(case) = case else {
                return Ok(Err(EraseError::UnknownCase(case_text.clone())));
            };
            let devices: Vec<Vec<u8>> = tx
                .rows(
                    "SELECT d.device_id FROM devices d JOIN users u ON u.user_id = d.user_id
                     WHERE d.revoked_at IS NULL AND d.device_id IN (
                        SELECT d2.device_id FROM assignments a JOIN devices d2 ON d2.user_id = a.user_id
                          WHERE a.case_id = $1
                        UNION
                        SELECT d3.device_id FROM users u3 JOIN devices d3 ON d3.user_id = u3.user_id
                          WHERE $2::text IS NOT NULL AND u3.team = $2::text AND u3.role = 'supervisor'
                        UNION
                        SELECT target FROM log WHERE case_id = $1 AND target IS NOT NULL
                        UNION
                        SELECT device_id FROM log WHERE case_id = $1 AND kind IN (0, 1))
                     ORDER BY u.name, d.device_id",
                    &[&&case_id[..], &case.team],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            tx.exec(
                "UPDATE devices SET stored_bytes = GREATEST(0, stored_bytes - s.bytes)
                 FROM (SELECT device_id, SUM(octet_length(body))::bigint AS bytes FROM log
                       WHERE case_id = $1 AND kind IN (0, 1) GROUP BY device_id) s
                 WHERE s.device_id = devices.device_id",
                &[&&case_id[..]],
            )?;
            let items = tx.exec("DELETE FROM log WHERE case_id = $1", &[&&case_id[..]])?;
            tx.exec("DELETE FROM superseded WHERE case_id = $1", &[&&case_id[..]])?;
            // Every other table that names the case, except the tombstone
            // and its confirmations (and any added later).
            let tables: Vec<String> = tx
                .rows(
                    "SELECT c.table_name::text FROM information_schema.columns c
                     JOIN information_schema.tables t
                       ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                     WHERE c.table_schema = current_schema() AND c.column_name = 'case_id'
                       AND t.table_type = 'BASE TABLE'
                       AND c.table_name NOT IN ('log', 'erased', 'erasure_acks')
                     ORDER BY c.table_name = 'cases', c.table_name",
                    &[],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            for table in tables {
                tx.exec(
                    &format!("DELETE FROM \"{table}\" WHERE case_id = $1"),
                    &[&&case_id[..]],
                )?;
            }
            tx.exec(
                "INSERT INTO erased (case_id, erased_at, erased_by) VALUES ($1, $2, $3)",
                &[&&case_id[..], &now, &by],
            )?;
            let notice = proto::encode(&Item::Erased { case_id: *case_id });
            for d in &devices {
                tx.lock_log()?;
                tx.exec(
                    "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                     VALUES ($1, $2, 0, $3, $3, $4, $5)",
                    &[&KIND_ERASED, &&case_id[..], d, &notice, &now],
                )?;
            }
            let mut note = format!(
                "{} log item{} deleted, {} device{} told",
                items,
                if items == 1 { "" } else { "s" },
                devices.len(),
                if devices.len() == 1 { "" } else { "s" }
            );
            if let Some(d) = detail {
                note = format!("{d}; {note}");
            }
            append_admin_log(tx, now, by, "erase-case", Some(&case_text), Some(&note))?;
            let told = told_devices(tx, case_id)?;
            Ok(Ok(Erasure {
                case_id: case_text.clone(),
                erased_at: now,
                erased_by: by.to_string(),
                items_deleted: Some(items),
                devices: told,
            }))
        })?
    }

    /// Vacuums the tables erasure deletes from, so that the dead rows'
    /// space is reclaimed and reused (outside a transaction, as PostgreSQL
    /// requires).
    pub(super) fn compact_erased_inner(&self) -> Result<()> {
        let mut conn = self.conn()?;
        conn.client.batch_execute(
            "VACUUM log, superseded, envelope_needs, assignments, rejected, case_epochs, cases, safety_notes",
        )?;
        Ok(())
    }

    pub(super) fn erasure_inner(&self, case_id: &Id) -> Result<Option<Erasure>> {
        self.read(|tx| {
            let Some((at, by)) = tombstone(tx, case_id)? else {
                return Ok(None);
            };
            Ok(Some(Erasure {
                case_id: uuid_text(case_id),
                erased_at: at,
                erased_by: by,
                items_deleted: None,
                devices: told_devices(tx, case_id)?,
            }))
        })
    }

    pub(super) fn retention_due_inner(&self, before: &str) -> Result<Vec<RetentionCase>> {
        self.read(|tx| {
            tx.rows(
                "SELECT case_id, closed_on, team FROM cases
                 WHERE closed_on IS NOT NULL AND closed_on < $1
                 ORDER BY closed_on, case_id",
                &[&before],
            )?
            .iter()
            .map(|r| {
                Ok(RetentionCase {
                    case_id: uuid_text(&id(r.try_get(0)?)?),
                    closed_on: r.try_get(1)?,
                    team: r.try_get(2)?,
                })
            })
            .collect()
        })
    }

    pub(super) fn apply_retention_inner(
        &self,
        before: &str,
        by: &str,
        now: i64,
    ) -> std::result::Result<Vec<Erasure>, EraseError> {
        let due = self.retention_due_inner(before)?;
        let mut done = Vec::new();
        for case in &due {
            let Some(case_id) = parse_case_id(&case.case_id) else {
                continue;
            };
            let detail = format!("retention: closed on {}, before {before}", case.closed_on);
            match self.erase_uncompacted(&case_id, by, Some(&detail), now) {
                Ok(e) => done.push(e),
                Err(EraseError::AlreadyErased { .. } | EraseError::UnknownCase(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.write(|tx| {
            append_admin_log(
                tx,
                now,
                by,
                "retention",
                Some(&format!("closed before {before}")),
                Some(&format!(
                    "{} case{} erased",
                    done.len(),
                    if done.len() == 1 { "" } else { "s" }
                )),
            )
        })?;
        self.compact_erased_inner()?;
        Ok(done)
    }

    pub(super) fn admin_log_inner(&self) -> Result<Vec<AuditEntry>> {
        self.read(|tx| {
            let mut out: Vec<AuditEntry> = tx
                .rows(
                    "SELECT id, at, actor, action, target, detail FROM admin_log ORDER BY id",
                    &[],
                )?
                .iter()
                .map(|r| {
                    Ok(AuditEntry {
                        id: r.try_get(0)?,
                        at: r.try_get(1)?,
                        actor: r.try_get(2)?,
                        action: r.try_get(3)?,
                        target: r.try_get(4)?,
                        detail: r.try_get(5)?,
                        devices: None,
                    })
                })
                .collect::<Result<_>>()?;
            for entry in &mut out {
                if entry.action != "erase-case" {
                    continue;
                }
                if let Some(case) = entry.target.as_deref().and_then(parse_case_id) {
                    entry.devices = Some(told_devices(tx, &case)?);
                }
            }
            Ok(out)
        })
    }

    pub(super) fn report_erased_inner(
        &self,
        device: &Device,
        cases: &[Id],
        now: i64,
    ) -> Result<u32> {
        self.write(|tx| {
            check_live(tx, &device.device_id)?;
            let mut stored = 0u32;
            for case in cases {
                stored += tx.exec(
                    "INSERT INTO erasure_acks (case_id, device_id, acked_at)
                     SELECT $1::bytea, $2::bytea, $3::bigint WHERE EXISTS (
                        SELECT 1 FROM log WHERE target = $2 AND kind = 4 AND case_id = $1)
                     ON CONFLICT DO NOTHING",
                    &[&&case[..], &&device.device_id[..], &now],
                )? as u32;
            }
            Ok(stored)
        })
    }

    pub(super) fn report_closures_inner(
        &self,
        device: &Device,
        items: &[Closure],
        _now: i64,
    ) -> Result<u32> {
        self.write(|tx| {
            check_live(tx, &device.device_id)?;
            let mut stored = 0u32;
            for item in items {
                let Some(case) = super::case_row(tx, &item.case_id)? else {
                    continue;
                };
                let is_assigned = super::assigned(tx, &item.case_id, &device.user.user_id)?;
                if !may_access(&device.user, case.team.as_deref(), is_assigned) {
                    continue;
                }
                stored += tx.exec(
                    "UPDATE cases SET closed_on = $2 WHERE case_id = $1
                       AND closed_on IS DISTINCT FROM $2",
                    &[&&item.case_id[..], &item.closed_on],
                )? as u32;
            }
            Ok(stored)
        })
    }
}
