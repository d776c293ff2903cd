//! Erasure (crypto-shredding), retention and the admin log (schema v5).
//!
//! Erasing a case deletes, in one transaction, every log item of it
//! (changes, envelopes, grants, removals) and every row of any other table
//! that names it (envelope needs, assignments, quarantine reports, epochs,
//! the `cases` row); records a tombstone (`erased`:
//! case id, when, by whom — no content) so the id is never registered again;
//! appends an [`Item::Erased`] (log kind 4) addressed to every device that
//! could hold the case, so each deletes its copy and confirms
//! (`erasure_acks`); and appends a row to the admin log. Then the bytes are
//! made gone from the files: the connection runs with `secure_delete=ON`
//! (freed pages are zeroed), the WAL is checkpointed and truncated, the
//! database is vacuumed, and the WAL truncated again.

use outreach_protocol::{self as proto, Closure, Id, Item};
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStorage, case_row, check_live, id, uuid_text};
use crate::storage::erasure::{
    AuditEntry, EraseError, Erasure, ErasureDevice, RetentionCase, date_of, parse_case_id,
};
use crate::storage::{Device, Result, may_access};

/// Log kind 4: the case was erased; the device `target` deletes its copy
/// (body: `Item::Erased`).
pub(super) const KIND_ERASED: i64 = 4;

/// Appends one row to the admin log, in the caller's transaction. The log
/// is append-only: nothing in the server updates or deletes its rows.
pub(super) fn append_admin_log(
    tx: &Connection,
    at: i64,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO admin_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![at, actor, action, target, detail])?;
    Ok(())
}

/// Logs an assignment or transfer a supervisor (or admin) made over the
/// API: who (user name and device), the case, and to whom.
pub(super) fn log_api_action(
    tx: &Connection,
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
/// item addressed to `device` (`Some(None)`: erased, and this device was
/// not told — it never held the case).
pub(super) fn erased_notice(
    tx: &Connection,
    case_id: &Id,
    device: &Id,
) -> Result<Option<Option<u64>>> {
    let erased = tx
        .prepare_cached("SELECT 1 FROM erased WHERE case_id = ?1")?
        .query_row([&case_id[..]], |_| Ok(()))
        .optional()?
        .is_some();
    if !erased {
        return Ok(None);
    }
    let seq = tx
        .prepare_cached(
            "SELECT seq FROM log WHERE target = ?2 AND kind = 4 AND case_id = ?1 LIMIT 1",
        )?
        .query_row(params![&case_id[..], &device[..]], |r| r.get::<_, u64>(0))
        .optional()?;
    Ok(Some(seq))
}

/// The tombstone of a case, if it was erased: (when, by whom).
fn tombstone(tx: &Connection, case_id: &Id) -> Result<Option<(i64, String)>> {
    Ok(tx
        .prepare_cached("SELECT erased_at, erased_by FROM erased WHERE case_id = ?1")?
        .query_row([&case_id[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The devices told of an erasure, with their user and confirmation.
fn told_devices(tx: &Connection, case_id: &Id) -> Result<Vec<ErasureDevice>> {
    let mut stmt = tx.prepare_cached(
        "SELECT l.target, COALESCE(u.name, ''), a.acked_at
         FROM log l
         LEFT JOIN devices d ON d.device_id = l.target
         LEFT JOIN users u ON u.user_id = d.user_id
         LEFT JOIN erasure_acks a ON a.case_id = l.case_id AND a.device_id = l.target
         WHERE l.case_id = ?1 AND l.kind = 4
         ORDER BY u.name, l.target",
    )?;
    let rows = stmt.query_map([&case_id[..]], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (device, user, confirmed_at) = row?;
        out.push(ErasureDevice {
            device_id: hex::encode(device),
            user,
            confirmed_at,
        });
    }
    Ok(out)
}

impl SqliteStorage {
    /// Erases a case (see the module documentation) and compacts the
    /// database so its bytes are gone from the files. `detail` is added to
    /// the admin log row (e.g. the retention rule that chose the case).
    pub fn erase_case(
        &self,
        case_id: &Id,
        by: &str,
        detail: Option<&str>,
        now: i64,
    ) -> std::result::Result<Erasure, EraseError> {
        let erasure = self.erase_uncompacted(case_id, by, detail, now)?;
        self.compact_erased()?;
        Ok(erasure)
    }

    /// The erasure itself, in one transaction, without the compaction.
    fn erase_uncompacted(
        &self,
        case_id: &Id,
        by: &str,
        detail: Option<&str>,
        now: i64,
    ) -> std::result::Result<Erasure, EraseError> {
        let case_text = uuid_text(case_id);
        self.with(|c| -> Result<std::result::Result<Erasure, EraseError>> {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Some((at, _)) = tombstone(&tx, case_id)? {
                return Ok(Err(EraseError::AlreadyErased {
                    case: case_text.clone(),
                    date: date_of(at),
                }));
            }
            let Some(case) = case_row(&tx, case_id)? else {
                return Ok(Err(EraseError::UnknownCase(case_text.clone())));
            };
            // Every live device that could hold a copy: authorised now
            // (assignment, or supervisor of the case's team), or that was
            // ever sent or wrote anything of it (an envelope, a grant, a
            // removal not yet acted on, its own changes).
            let devices: Vec<Vec<u8>> = tx
                .prepare(
                    "SELECT d.device_id FROM devices d JOIN users u ON u.user_id = d.user_id
                     WHERE d.revoked_at IS NULL AND d.device_id IN (
                        SELECT d2.device_id FROM assignments a JOIN devices d2 ON d2.user_id = a.user_id
                          WHERE a.case_id = ?1
                        UNION
                        SELECT d3.device_id FROM users u3 JOIN devices d3 ON d3.user_id = u3.user_id
                          WHERE ?2 IS NOT NULL AND u3.team = ?2 AND u3.role = 'supervisor'
                        UNION
                        SELECT target FROM log WHERE case_id = ?1 AND target IS NOT NULL
                        UNION
                        SELECT device_id FROM log WHERE case_id = ?1 AND kind IN (0, 1))
                     ORDER BY u.name, d.device_id",
                )?
                .query_map(params![&case_id[..], case.team], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            // What each device stored of the case no longer counts against
            // its quota.
            tx.execute(
                "UPDATE devices SET stored_bytes = MAX(0, stored_bytes - s.bytes)
                 FROM (SELECT device_id, SUM(length(body)) AS bytes FROM log
                       WHERE case_id = ?1 AND kind IN (0, 1) GROUP BY device_id) s
                 WHERE s.device_id = devices.device_id",
                [&case_id[..]],
            )?;
            let items = tx.execute("DELETE FROM log WHERE case_id = ?1", [&case_id[..]])?;
            tx.execute("DELETE FROM superseded WHERE case_id = ?1", [&case_id[..]])?;
            // Every other table that names the case (envelope needs,
            // assignments, quarantine reports, epochs, the `cases` row — and
            // any added later), except the tombstone and its confirmations.
            let tables: Vec<String> = tx
                .prepare(
                    "SELECT m.name FROM sqlite_master m
                     WHERE m.type = 'table' AND m.name NOT IN ('log', 'erased', 'erasure_acks')
                       AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'case_id')
                     ORDER BY m.name = 'cases', m.name",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for table in tables {
                tx.execute(
                    &format!("DELETE FROM \"{table}\" WHERE case_id = ?1"),
                    [&case_id[..]],
                )?;
            }
            tx.execute(
                "INSERT INTO erased (case_id, erased_at, erased_by) VALUES (?1, ?2, ?3)",
                params![&case_id[..], now, by],
            )?;
            let notice = proto::encode(&Item::Erased { case_id: *case_id });
            for d in &devices {
                tx.prepare_cached(
                    "INSERT INTO log (kind, case_id, epoch, device_id, target, body, created_at)
                     VALUES (?1, ?2, 0, ?3, ?3, ?4, ?5)",
                )?
                .execute(params![KIND_ERASED, &case_id[..], &d[..], notice, now])?;
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
            append_admin_log(&tx, now, by, "erase-case", Some(&case_text), Some(&note))?;
            let told = told_devices(&tx, case_id)?;
            tx.commit()?;
            Ok(Ok(Erasure {
                case_id: case_text.clone(),
                erased_at: now,
                erased_by: by.to_string(),
                items_deleted: Some(items as u64),
                devices: told,
            }))
        })?
    }

    /// Makes deleted bytes gone from the files: freed pages were zeroed
    /// (`secure_delete`), the WAL — which may still hold earlier versions of
    /// those pages — is checkpointed and truncated, the database rebuilt
    /// without free pages (`VACUUM`), and the WAL truncated again.
    pub fn compact_erased(&self) -> Result<()> {
        self.with(|c| {
            c.pragma_update(None, "secure_delete", true)?;
            truncate_wal(c)?;
            c.execute_batch("VACUUM")?;
            truncate_wal(c)?;
            Ok(())
        })
    }

    /// The tombstone of an erased case and the devices told, with their
    /// confirmations.
    pub fn erasure(&self, case_id: &Id) -> Result<Option<Erasure>> {
        self.read(|c| {
            let Some((at, by)) = tombstone(c, case_id)? else {
                return Ok(None);
            };
            Ok(Some(Erasure {
                case_id: uuid_text(case_id),
                erased_at: at,
                erased_by: by,
                items_deleted: None,
                devices: told_devices(c, case_id)?,
            }))
        })
    }

    /// Cases whose reported closure date is before `before` (`YYYY-MM-DD`),
    /// oldest closure first.
    pub fn retention_due(&self, before: &str) -> Result<Vec<RetentionCase>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT case_id, closed_on, team FROM cases
                 WHERE closed_on IS NOT NULL AND closed_on < ?1
                 ORDER BY closed_on, case_id",
            )?;
            let rows = stmt.query_map([before], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (case, closed_on, team) = row?;
                out.push(RetentionCase {
                    case_id: uuid_text(&id(case)?),
                    closed_on,
                    team,
                });
            }
            Ok(out)
        })
    }

    /// Erases every case closed before `before` (see [`Self::erase_case`]),
    /// each in its own transaction, compacts once at the end, and logs the
    /// run. Returns the erasures.
    pub fn apply_retention(
        &self,
        before: &str,
        by: &str,
        now: i64,
    ) -> std::result::Result<Vec<Erasure>, EraseError> {
        let due = self.retention_due(before)?;
        let mut done = Vec::new();
        for case in &due {
            let Some(case_id) = parse_case_id(&case.case_id) else {
                continue;
            };
            let detail = format!("retention: closed on {}, before {before}", case.closed_on);
            match self.erase_uncompacted(&case_id, by, Some(&detail), now) {
                Ok(e) => done.push(e),
                // Erased meanwhile by another admin command: nothing to do.
                Err(EraseError::AlreadyErased { .. } | EraseError::UnknownCase(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            append_admin_log(
                &tx,
                now,
                by,
                "retention",
                Some(&format!("closed before {before}")),
                Some(&format!(
                    "{} case{} erased",
                    done.len(),
                    if done.len() == 1 { "" } else { "s" }
                )),
            )?;
            tx.commit()?;
            Ok(())
        })?;
        // Always, even with nothing erased now: a run that could not compact
        // (a busy database) is completed by the next one.
        self.compact_erased()?;
        Ok(done)
    }

    /// Appends an admin action to the admin log (its own transaction).
    pub fn log_admin_action(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            append_admin_log(&tx, now, actor, action, target, detail)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The admin log, oldest first; erasures with the devices told and
    /// their confirmations.
    pub fn admin_log(&self) -> Result<Vec<AuditEntry>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, at, actor, action, target, detail FROM admin_log ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                    devices: None,
                })
            })?;
            let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            for entry in &mut out {
                if entry.action != "erase-case" {
                    continue;
                }
                if let Some(case) = entry.target.as_deref().and_then(parse_case_id) {
                    entry.devices = Some(told_devices(c, &case)?);
                }
            }
            Ok(out)
        })
    }

    /// `/v1/erased`: the device deleted its copy of these erased cases.
    /// Only a case erased and announced to this device counts; idempotent.
    pub(super) fn report_erased_inner(
        &self,
        device: &Device,
        cases: &[Id],
        now: i64,
    ) -> Result<u32> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &device.device_id)?;
            let mut stored = 0u32;
            for case in cases {
                stored += tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO erasure_acks (case_id, device_id, acked_at)
                         SELECT ?1, ?2, ?3 WHERE EXISTS (
                            SELECT 1 FROM log WHERE target = ?2 AND kind = 4 AND case_id = ?1)",
                    )?
                    .execute(params![&case[..], &device.device_id[..], now])?
                    as u32;
            }
            tx.commit()?;
            Ok(stored)
        })
    }

    /// `/v1/closure`: closure dates (already checked to be dates) of cases
    /// the device may write; the others are ignored.
    pub(super) fn report_closures_inner(
        &self,
        device: &Device,
        items: &[Closure],
        _now: i64,
    ) -> Result<u32> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_live(&tx, &device.device_id)?;
            let mut stored = 0u32;
            for item in items {
                let Some(case) = case_row(&tx, &item.case_id)? else {
                    continue;
                };
                let is_assigned = tx
                    .prepare_cached(
                        "SELECT 1 FROM assignments WHERE case_id = ?1 AND user_id = ?2",
                    )?
                    .query_row(params![&item.case_id[..], &device.user.user_id[..]], |_| {
                        Ok(())
                    })
                    .optional()?
                    .is_some();
                if !may_access(&device.user, case.team.as_deref(), is_assigned) {
                    continue;
                }
                stored += tx
                    .prepare_cached(
                        "UPDATE cases SET closed_on = ?2 WHERE case_id = ?1
                           AND closed_on IS NOT ?2",
                    )?
                    .execute(params![&item.case_id[..], item.closed_on])?
                    as u32;
            }
            tx.commit()?;
            Ok(stored)
        })
    }
}

/// `wal_checkpoint(TRUNCATE)`, retried while readers still use the WAL.
fn truncate_wal(c: &Connection) -> Result<()> {
    for _ in 0..50 {
        let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(crate::storage::StorageError::Refused(
        outreach_protocol::ErrorCode::Internal,
        "the database is busy: the erasure is done, but the files could not be compacted yet; run the same command again to compact them",
    ))
}

#[cfg(test)]
mod tests {
    use outreach_protocol::{
        Change, Cursor, Envelope, ErrorCode, PullResponse, RECOVERY_RECIPIENT, Role,
    };

    use super::*;
    use crate::storage::{NewDevice, Storage, StorageError};

    const NOW: i64 = 1_790_000_000;

    fn storage() -> (tempfile::TempDir, SqliteStorage) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        s.init_org("Org", [7; 32], NOW).unwrap();
        (dir, s)
    }

    fn enrol(s: &SqliteStorage, name: &str, role: Role, seed: u8) -> Device {
        let code = [seed; 32];
        s.create_invite(name, role, Some("north"), code, NOW + 3600, NOW)
            .unwrap();
        let device_id = [seed; 16];
        s.enroll(
            code,
            NewDevice {
                device_id,
                sign_pk: [seed; 32],
                kex_pk: [seed; 32],
            },
            NOW,
        )
        .unwrap();
        s.device(&device_id).unwrap().unwrap()
    }

    fn change(by: &Device, case: Id, ciphertext: Vec<u8>) -> Change {
        Change {
            client_id: rand_id(),
            case_id: case,
            epoch: 0,
            author: by.device_id,
            ciphertext,
            signature: vec![0; 64],
        }
    }

    fn envelope(by: &Device, case: Id, to: Id) -> Envelope {
        Envelope {
            case_id: case,
            epoch: 0,
            recipient: to,
            sealed_by: by.device_id,
            enc: vec![1; 32],
            ciphertext: vec![2; 48],
            signature: vec![0; 64],
            starts_epoch: false,
        }
    }

    fn rand_id() -> Id {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).unwrap();
        id
    }

    fn random_bytes(n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        getrandom::fill(&mut b).unwrap();
        b
    }

    /// A new case pushed by `by` (with its recovery envelope and one to
    /// itself); returns its id and the change's ciphertext.
    fn new_case(s: &SqliteStorage, by: &Device) -> (Id, Vec<u8>) {
        let case = rand_id();
        let ciphertext = random_bytes(3000);
        s.push(
            by,
            vec![change(by, case, ciphertext.clone())],
            vec![
                envelope(by, case, RECOVERY_RECIPIENT),
                envelope(by, case, by.device_id),
            ],
            NOW,
        )
        .unwrap();
        (case, ciphertext)
    }

    /// Whether any file in `dir` holds `needle`.
    fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
        std::fs::read_dir(dir).unwrap().any(|f| {
            let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
    }

    fn pull_all(s: &SqliteStorage, d: &Device) -> PullResponse {
        outreach_protocol::decode(&s.pull(d, Cursor::default(), 4 << 20).unwrap()).unwrap()
    }

    fn refused_code(e: StorageError) -> ErrorCode {
        match e {
            StorageError::Refused(code, _) => code,
            other => panic!("not a refusal: {other}"),
        }
    }

    #[test]
    fn an_erased_case_leaves_the_server_and_its_bytes_leave_the_files() {
        let (dir, s) = storage();
        let amy = enrol(&s, "Amy", Role::Practitioner, 1);
        let sue = enrol(&s, "Sue", Role::Supervisor, 2);
        let bob = enrol(&s, "Bob", Role::Practitioner, 3);
        let (case, ciphertext) = new_case(&s, &amy);
        let (other, other_bytes) = new_case(&s, &amy);
        let needle = &ciphertext[1000..1064];
        assert!(files_contain(dir.path(), needle), "stored before");

        let e = s.erase_case(&case, "admin1", None, NOW + 10).unwrap();
        assert_eq!(e.items_deleted, Some(3)); // the change and two envelopes
        let told: Vec<&str> = e.devices.iter().map(|d| d.user.as_str()).collect();
        assert_eq!(
            told,
            ["Amy", "Sue"],
            "the holder and her supervisor, not Bob"
        );
        assert_eq!(e.confirmed(), 0);
        assert!(!files_contain(dir.path(), needle), "gone from every file");
        assert!(
            files_contain(dir.path(), &other_bytes[1000..1064]),
            "the other case is untouched"
        );

        // Nothing of the case is left but the tombstone and the notices.
        s.read(|c| {
            let left: i64 = c.query_row(
                "SELECT COUNT(*) FROM log WHERE case_id = ?1 AND kind != 4",
                [&case[..]],
                |r| r.get(0),
            )?;
            assert_eq!(left, 0);
            for table in [
                "cases",
                "assignments",
                "envelope_needs",
                "case_epochs",
                "rejected",
            ] {
                let n: i64 = c.query_row(
                    &format!("SELECT COUNT(*) FROM {table} WHERE case_id = ?1"),
                    [&case[..]],
                    |r| r.get(0),
                )?;
                assert_eq!(n, 0, "{table}");
            }
            Ok(())
        })
        .unwrap();

        // Twice, and an unknown case: clear errors.
        let again = s.erase_case(&case, "admin1", None, NOW + 20).unwrap_err();
        assert!(
            again.to_string().contains("already erased on 2026-09-21"),
            "{again}"
        );
        let unknown = s.erase_case(&rand_id(), "admin1", None, NOW).unwrap_err();
        assert!(matches!(unknown, EraseError::UnknownCase(_)), "{unknown}");

        // Amy and Sue receive the notice; Bob nothing.
        for d in [&amy, &sue] {
            let page = pull_all(&s, d);
            assert!(
                page.entries
                    .iter()
                    .any(|e| matches!(e.item, Item::Erased { case_id } if case_id == case)),
                "{}",
                d.user.name
            );
        }
        assert!(pull_all(&s, &bob).entries.is_empty());

        // The id is never registered again; a device that was told may
        // still be sending its last changes: acknowledged, not stored.
        let retry = s
            .push(
                &bob,
                vec![change(&bob, case, vec![9; 100])],
                vec![envelope(&bob, case, RECOVERY_RECIPIENT)],
                NOW + 30,
            )
            .unwrap_err();
        assert_eq!(refused_code(retry), ErrorCode::Forbidden);
        let late = s
            .push(
                &amy,
                vec![change(&amy, case, vec![9; 100])],
                vec![envelope(&amy, case, sue.device_id)],
                NOW + 30,
            )
            .unwrap();
        assert_eq!(late.acks.len(), 1);
        assert_eq!(late.envelopes_stored, 0);
        s.read(|c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM log WHERE case_id = ?1 AND kind != 4",
                [&case[..]],
                |r| r.get(0),
            )?;
            assert_eq!(n, 0);
            Ok(())
        })
        .unwrap();
        for refused in [
            s.assign(&sue, &case, "Bob", NOW).unwrap_err(),
            s.transfer(&sue, &case, "Bob", NOW).unwrap_err(),
            s.refetch(&amy, &[case], NOW).unwrap_err(),
        ] {
            assert_eq!(refused_code(refused), ErrorCode::Forbidden);
        }

        // Confirmations: only from a device told, once.
        assert_eq!(s.report_erased(&amy, &[case, other], NOW + 40).unwrap(), 1);
        assert_eq!(s.report_erased(&amy, &[case], NOW + 41).unwrap(), 0);
        assert_eq!(s.report_erased(&bob, &[case], NOW + 42).unwrap(), 0);
        let listed = s.erasure(&case).unwrap().unwrap();
        assert_eq!(listed.erased_by, "admin1");
        let amy_row = listed.devices.iter().find(|d| d.user == "Amy").unwrap();
        assert_eq!(amy_row.confirmed_at, Some(NOW + 40));
        assert_eq!(listed.confirmed(), 1);
    }

    #[test]
    fn closure_dates_feed_retention_and_the_admin_log_keeps_order() {
        let (dir, s) = storage();
        let amy = enrol(&s, "Amy", Role::Practitioner, 1);
        let sue = enrol(&s, "Sue", Role::Supervisor, 2);
        let bob = enrol(&s, "Bob", Role::Practitioner, 3);
        s.log_admin_action("root", "invite", Some("Amy"), None, NOW)
            .unwrap();
        let (old, old_bytes) = new_case(&s, &amy);
        let (recent, _) = new_case(&s, &amy);
        let (open, _) = new_case(&s, &amy);
        let closure = |case: Id, on: Option<&str>| Closure {
            case_id: case,
            closed_on: on.map(str::to_string),
        };
        // Bob may not write Amy's cases: ignored.
        assert_eq!(
            s.report_closures(&bob, &[closure(old, Some("2001-01-01"))], NOW)
                .unwrap(),
            0
        );
        assert_eq!(
            s.report_closures(
                &amy,
                &[
                    closure(old, Some("2019-05-01")),
                    closure(recent, Some("2025-05-01")),
                    closure(open, Some("2018-01-01")),
                    closure(rand_id(), Some("2018-01-01")),
                ],
                NOW,
            )
            .unwrap(),
            3
        );
        // Reopened (by the supervisor's device): no closure date any more.
        assert_eq!(
            s.report_closures(&sue, &[closure(open, None)], NOW)
                .unwrap(),
            1
        );
        let due: Vec<String> = s
            .retention_due("2020-01-01")
            .unwrap()
            .into_iter()
            .map(|c| c.case_id)
            .collect();
        assert_eq!(due, [uuid_text(&old)]);
        assert!(
            s.retention_due("2019-05-01").unwrap().is_empty(),
            "before, not on"
        );

        // A supervisor's assignment over the API is logged too.
        s.assign(&sue, &recent, "Bob", NOW + 1).unwrap();
        let erased = s.apply_retention("2020-01-01", "root", NOW + 2).unwrap();
        assert_eq!(erased.len(), 1);
        assert!(!files_contain(dir.path(), &old_bytes[500..564]));
        assert!(s.retention_due("2020-01-01").unwrap().is_empty());
        let log = s.admin_log().unwrap();
        let actions: Vec<(&str, &str)> = log
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("root", "invite"),
                ("Sue", "assign"),
                ("root", "erase-case"),
                ("root", "retention"),
            ]
        );
        assert!(
            log[2]
                .detail
                .as_deref()
                .unwrap()
                .starts_with("retention: closed on 2019-05-01, before 2020-01-01"),
            "{:?}",
            log[2].detail
        );
        assert_eq!(log[2].devices.as_ref().map(Vec::len), Some(2));
        assert_eq!(log[3].detail.as_deref(), Some("1 case erased"));
        // Append-only: the schema's log is never rewritten by a second run.
        s.apply_retention("2020-01-01", "root", NOW + 3).unwrap();
        assert_eq!(s.admin_log().unwrap().len(), 5);
    }

    #[test]
    fn case_ids_parse_with_or_without_hyphens() {
        let id = [0xab; 16];
        assert_eq!(parse_case_id(&uuid_text(&id)), Some(id));
        assert_eq!(parse_case_id(&hex::encode(id)), Some(id));
        assert_eq!(parse_case_id("abab"), None);
        assert_eq!(parse_case_id(&"zz".repeat(16)), None);
    }
}
