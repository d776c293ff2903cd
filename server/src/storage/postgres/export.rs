//! What `outreach recover` reads of a server on PostgreSQL (see
//! `storage/export.rs`): the same facts as from a SQLite copy, read in one
//! read-only transaction on one snapshot — so the database may stay in use
//! while a DPO recovers, and nothing is written to it.

use std::cell::RefCell;

use outreach_protocol::{Id, RECOVERY_RECIPIENT, Role};

use super::{connect_reason, redact_url, schema};
use crate::storage::export::{ExportError, ExportedDevice, ExportedItem, ExportedOrg, ServerData};

const KIND_CHANGE: i64 = 0;
const KIND_ENVELOPE: i64 = 1;

/// A read-only snapshot of a server's PostgreSQL database.
pub struct PostgresSnapshot {
    client: RefCell<postgres::Client>,
}

fn db(e: postgres::Error) -> ExportError {
    // The message and SQLSTATE, never the DETAIL (which may quote values).
    ExportError::Damaged(
        e.as_db_error()
            .map_or_else(|| "a query failed".to_string(), |d| d.message().to_string()),
    )
}

fn id16(bytes: Vec<u8>) -> Result<Id, ExportError> {
    bytes
        .try_into()
        .map_err(|_| ExportError::Damaged("an id of the wrong length".into()))
}

fn key32(bytes: Vec<u8>) -> Result<[u8; 32], ExportError> {
    bytes
        .try_into()
        .map_err(|_| ExportError::Damaged("a key of the wrong length".into()))
}

impl PostgresSnapshot {
    /// Connects to `url` and opens one read-only, repeatable-read
    /// transaction that every later read uses.
    pub fn open(url: &str) -> Result<Self, ExportError> {
        let shown = redact_url(url);
        let (config, tls) =
            super::tls::config(url).map_err(|e| ExportError::Connect(format!("{shown}: {e}")))?;
        let mut client = config
            .connect(tls)
            .map_err(|e| ExportError::Connect(format!("{shown}: {}", connect_reason(&e))))?;
        match schema::check(&mut client) {
            Ok(true) => {}
            Ok(false) => return Err(ExportError::NotInitialised),
            Err(crate::storage::StorageError::SchemaTooNew(v)) => {
                return Err(ExportError::SchemaTooNew(v));
            }
            Err(e) => return Err(ExportError::Damaged(e.to_string())),
        }
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(db)?;
        Ok(Self {
            client: RefCell::new(client),
        })
    }

    fn rows(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, ExportError> {
        self.client.borrow_mut().query(sql, params).map_err(db)
    }
}

impl ServerData for PostgresSnapshot {
    fn org(&self) -> Result<ExportedOrg, ExportError> {
        let rows = self.rows(
            "SELECT org_id, name, recovery_pk FROM org WHERE id = 1",
            &[],
        )?;
        let row = rows.first().ok_or(ExportError::NotInitialised)?;
        Ok(ExportedOrg {
            org_id: id16(row.try_get(0).map_err(db)?)?,
            name: row.try_get(1).map_err(db)?,
            recovery_pk: key32(row.try_get(2).map_err(db)?)?,
        })
    }

    fn devices(&self) -> Result<Vec<ExportedDevice>, ExportError> {
        self.rows(
            "SELECT d.device_id, d.sign_pk, d.revoked_at, u.user_id, u.name, u.role, u.team
             FROM devices d JOIN users u ON u.user_id = d.user_id ORDER BY d.enrolled_at",
            &[],
        )?
        .iter()
        .map(|r| {
            let role: String = r.try_get(5).map_err(db)?;
            Ok(ExportedDevice {
                device_id: id16(r.try_get(0).map_err(db)?)?,
                sign_pk: key32(r.try_get(1).map_err(db)?)?,
                revoked_at: r.try_get(2).map_err(db)?,
                user_id: id16(r.try_get(3).map_err(db)?)?,
                user_name: r.try_get(4).map_err(db)?,
                role: Role::parse(&role)
                    .ok_or_else(|| ExportError::Damaged("a user with an unknown role".into()))?,
                team: r.try_get(6).map_err(db)?,
            })
        })
        .collect()
    }

    fn cases(&self) -> Result<Vec<Id>, ExportError> {
        self.rows(
            "SELECT case_id FROM (
                 SELECT case_id, created_at AS at FROM cases
                 UNION ALL
                 SELECT case_id, MIN(created_at) FROM log WHERE kind IN ($1, $2) GROUP BY case_id) c
             GROUP BY case_id ORDER BY MIN(at), case_id",
            &[&KIND_CHANGE, &KIND_ENVELOPE],
        )?
        .iter()
        .map(|r| id16(r.try_get(0).map_err(db)?))
        .collect()
    }

    fn erased(&self) -> Result<Vec<(Id, i64)>, ExportError> {
        self.rows(
            "SELECT case_id, erased_at FROM erased ORDER BY erased_at, case_id",
            &[],
        )?
        .iter()
        .map(|r| Ok((id16(r.try_get(0).map_err(db)?)?, r.try_get(1).map_err(db)?)))
        .collect()
    }

    fn case_items(&self, case: &Id) -> Result<Vec<ExportedItem>, ExportError> {
        self.rows(
            "SELECT seq, created_at, body FROM log
             WHERE case_id = $1 AND (kind = $2 OR (kind = $3 AND target = $4))
             ORDER BY seq",
            &[
                &&case[..],
                &KIND_CHANGE,
                &KIND_ENVELOPE,
                &&RECOVERY_RECIPIENT[..],
            ],
        )?
        .iter()
        .map(|r| {
            Ok(ExportedItem {
                seq: r.try_get::<_, i64>(0).map_err(db)?.max(0) as u64,
                stored_at: r.try_get(1).map_err(db)?,
                body: r.try_get(2).map_err(db)?,
            })
        })
        .collect()
    }
}
