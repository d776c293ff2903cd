//! The access log: every export of a record is recorded, twice.
//!
//! Why twice. On this device, in the sealed, append-only `access_log` table,
//! so the device can always say what left it (`outreach access-log`,
//! `accessLog()`). And in the case itself, as a `record-exported` entry of
//! the case's `events` collection, so that it syncs like any change to the
//! case's supervisors and to the organisation's recovery key: a DPO sees who
//! exported what, and when, even after the device is lost. The event goes
//! into the existing `events` map (one new key per export) rather than a new
//! top-level container, because two devices creating the same container
//! concurrently would lose one of them. Neither record holds any content:
//! who (the enrolled user and device), when, which case, which format.
//!
//! Both are written *before* the export is built, so the export holds its
//! own record (an export made later, or recovered from the server, shows
//! it too). Two transactions: the local entry first, so a crash between
//! them leaves an export recorded here but not yet in the case, never the
//! reverse.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Vault;
use crate::case::doc::Patch;
use crate::case::model::{EventKind, ProgrammeEvent};
use crate::case::validate::instant_string;
use crate::crypto::{self, Aad, RecordKind};
use crate::error::{Error, Result, ValidationError};
use crate::export::CaseExport;

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// `outreach.case-export.v1` (docs/EXPORT.md).
    Json,
    /// The raw Automerge document.
    Automerge,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Automerge => "automerge",
        }
    }

    /// Parses `json` or `automerge`; `field` names the input in the error.
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(ExportFormat::Json),
            "automerge" => Ok(ExportFormat::Automerge),
            _ => Err(ValidationError::new(
                field,
                "must be one of: json, automerge",
            )),
        }
    }
}

/// An export, recorded.
#[derive(Debug, Clone)]
pub enum Exported {
    Json(Box<CaseExport>),
    Automerge(Vec<u8>),
}

/// One entry of this device's access log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// Position in the log (1, 2, …).
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `export`; `erased` (the organisation erased the case and this device
    /// deleted its copy) or `forgotten` (removed here with `case forget`).
    pub action: String,
    pub case_id: String,
    /// `json` or `automerge`, for an export.
    pub format: Option<String>,
    /// The enrolled user's name (or the vault's label if never enrolled).
    pub by: String,
    /// The enrolled user's id (hex).
    pub by_user: Option<String>,
    /// This device's id (hex).
    pub device: String,
}

/// What is sealed for one entry (its id is the row's, bound by the AAD).
#[derive(Serialize, Deserialize)]
struct SealedEntry {
    at: String,
    action: String,
    case_id: String,
    format: Option<String>,
    by: String,
    by_user: Option<String>,
    device: String,
}

/// Binds an entry to this vault, its row and its plaintext time column.
fn access_record(at: i64) -> Vec<u8> {
    format!("access-log:{at}").into_bytes()
}

fn corrupt() -> Error {
    Error::CorruptRecord {
        what: "access log",
        case: "-".into(),
    }
}

impl Vault {
    /// The subject access export of one case, recorded first in this
    /// device's access log and in the case (see the module doc).
    pub fn export(&mut self, case: &str, format: ExportFormat) -> Result<Exported> {
        let id = self.resolve_case(case)?;
        self.record_access(id, "export", Some(format))?;
        let name = uuid::Uuid::from_bytes(id).to_string();
        Ok(match format {
            ExportFormat::Json => Exported::Json(Box::new(self.export_json(&name)?)),
            ExportFormat::Automerge => Exported::Automerge(self.export_automerge(&name)?),
        })
    }

    /// Appends an entry to the local log and a `record-exported` event to
    /// the case.
    fn record_access(
        &mut self,
        case: [u8; 16],
        action: &str,
        format: Option<ExportFormat>,
    ) -> Result<()> {
        let (sealed, now) = self.log_access_locally(case, action, format)?;
        let me = self.identity()?;
        let event = ProgrammeEvent {
            kind: EventKind::RecordExported,
            date: now.date_naive().format("%Y-%m-%d").to_string(),
            note: None,
            at: Some(sealed.at),
            by: Some(me.name),
            by_user: me.user_id,
            device: Some(me.device),
            format: sealed.format.clone(),
        };
        let value = serde_json::to_value(&event).map_err(|_| corrupt())?;
        let key = uuid::Uuid::new_v4().to_string();
        let what = match &sealed.format {
            Some(f) => format!("record exported ({f})"),
            None => "record exported".to_string(),
        };
        self.write_case(case, |doc, author, at| {
            doc.apply(
                author,
                &what,
                at,
                &[Patch::new(["events", key.as_str()], value)],
            )
        })
    }

    /// Appends an entry to this device's local access log only: for what
    /// happens to a case that is leaving the device (`erased` by the
    /// organisation, `forgotten` here), where no event can go into the case.
    pub(super) fn log_case_left(&mut self, case: [u8; 16], action: &str) -> Result<()> {
        self.log_access_locally(case, action, None).map(|_| ())
    }

    fn log_access_locally(
        &mut self,
        case: [u8; 16],
        action: &str,
        format: Option<ExportFormat>,
    ) -> Result<(SealedEntry, DateTime<Utc>)> {
        let me = self.identity()?;
        let now: DateTime<Utc> = self.now();
        let sealed = SealedEntry {
            at: instant_string(now),
            action: action.to_string(),
            case_id: uuid::Uuid::from_bytes(case).to_string(),
            format: format.map(|f| f.as_str().to_string()),
            by: me.name.clone(),
            by_user: me.user_id.clone(),
            device: me.device.clone(),
        };
        let plain = Zeroizing::new(serde_json::to_vec(&sealed).map_err(|_| corrupt())?);
        let vault_id = self.vault_id()?;
        let at = now.timestamp();
        let record = access_record(at);
        let (Some(store), Some(unlocked)) = (self.store.as_mut(), self.unlocked.as_ref()) else {
            return Err(Error::Locked);
        };
        store.append_access(at, |id| {
            let aad = Aad::new(vault_id, [0; 16], RecordKind::AccessLog, &record, id as u64);
            Ok(crypto::seal(&unlocked.drk, &aad, &plain)?)
        })?;
        Ok((sealed, now))
    }

    /// This device's access log, oldest first. An entry that does not open
    /// (altered, or moved from another row or vault) is reported as
    /// corruption, never skipped.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>> {
        let vault_id = self.vault_id()?;
        let drk = &self.unlocked()?.drk;
        let mut out = Vec::new();
        for (id, at, body) in self.store()?.access_log()? {
            let record = access_record(at);
            let aad = Aad::new(vault_id, [0; 16], RecordKind::AccessLog, &record, id as u64);
            let plain = Zeroizing::new(crypto::open(drk, &aad, &body).map_err(|_| corrupt())?);
            let e: SealedEntry = serde_json::from_slice(&plain).map_err(|_| corrupt())?;
            out.push(AccessEntry {
                id,
                at: e.at,
                action: e.action,
                case_id: e.case_id,
                format: e.format,
                by: e.by,
                by_user: e.by_user,
                device: e.device,
            });
        }
        Ok(out)
    }
}
