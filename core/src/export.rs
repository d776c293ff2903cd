//! The subject access export of one case, built in one place.
//!
//! Two programs produce it: a device's `outreach export` (from its vault) and
//! a DPO's `outreach recover` (from the server's data and the organisation's
//! recovery key, with no vault at all). A subject access request answered
//! after a lost phone must hold exactly what the phone would have exported,
//! so both call [`case_export`]: the same reading of the document, the same
//! judging of every sign-off against a directory, the same history and
//! conflicts. Only `exported_at` and `exported_by` differ between them.
//!
//! Pure: the document, the directory and the time are passed in; nothing is
//! read or written here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::case::doc::{CaseDoc, Conflict, HistoryEntry};
use crate::case::model::Case;
use crate::case::validate::instant_string;
use crate::error::Result;
use crate::practice::{Directory, VerifiedCache, judge_case};

/// Identifies the JSON subject access export format (see docs/EXPORT.md).
pub const EXPORT_FORMAT: &str = "outreach.case-export.v1";

/// The subject access export of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseExport {
    pub format: String,
    pub exported_at: String,
    pub exported_by: String,
    pub case: Case,
    pub history: Vec<HistoryEntry>,
    pub conflicts: Vec<Conflict>,
}

/// Builds the export of `doc`: the case as typed records with every visit's
/// review judged against `dir` (a device's directory, or the one recovery
/// builds from the server's devices and users), its whole history and every
/// open conflict. `verified` caches sign-off signatures already checked.
pub fn case_export(
    doc: &mut CaseDoc,
    dir: &Directory,
    verified: &mut VerifiedCache,
    exported_at: DateTime<Utc>,
    exported_by: &str,
) -> Result<CaseExport> {
    let mut case = doc.read()?;
    judge_case(dir, &mut case, verified);
    Ok(CaseExport {
        format: EXPORT_FORMAT.to_string(),
        exported_at: instant_string(exported_at),
        exported_by: exported_by.to_string(),
        history: doc.history(),
        conflicts: doc.conflicts(),
        case,
    })
}
