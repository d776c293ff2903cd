//! What erasure, retention and the admin log give the admin commands
//! (implemented by the SQLite storage in `sqlite/erasure.rs`). Ids, dates,
//! staff names and counts — never record content, never a woman's name
//! (the server has none).

use super::StorageError;

/// Why an erasure was refused.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error(
        "no case {0} on this server: check the id (the full case id, as `outreach case show` prints it)"
    )]
    UnknownCase(String),
    #[error("case {case} was already erased on {date} (see `outreach-server audit`)")]
    AlreadyErased { case: String, date: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One erased case: its tombstone and who was told to delete it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Erasure {
    pub case_id: String,
    /// Unix seconds.
    pub erased_at: i64,
    pub erased_by: String,
    /// Log items (changes, envelopes, grants, removals) deleted; `None` when
    /// listed later (the count is in the admin log's detail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_deleted: Option<u64>,
    /// Every device that could hold the case, told to delete its copy.
    pub devices: Vec<ErasureDevice>,
}

impl Erasure {
    /// Devices that have confirmed.
    pub fn confirmed(&self) -> usize {
        self.devices
            .iter()
            .filter(|d| d.confirmed_at.is_some())
            .count()
    }
}

/// A device told of an erasure, and whether it confirmed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErasureDevice {
    /// The device id (hex).
    pub device_id: String,
    /// Its user (staff), as the admin registered her.
    pub user: String,
    /// When the device confirmed it deleted its copy (unix seconds).
    pub confirmed_at: Option<i64>,
}

/// A case whose closure date is before a retention cut-off.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RetentionCase {
    pub case_id: String,
    /// `YYYY-MM-DD`, as a device reported it.
    pub closed_on: String,
    pub team: Option<String>,
}

/// One row of the admin log (`outreach-server audit`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// The admin's name (`--by`, else the OS user), or the supervisor's
    /// name for an action taken over the API.
    pub actor: String,
    /// `invite`, `revoke-device`, `erase-case`, `retention`, `assign`,
    /// `transfer`.
    pub action: String,
    /// A case id, device id or staff user name.
    pub target: Option<String>,
    pub detail: Option<String>,
    /// For `erase-case`: the devices told and which confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<ErasureDevice>>,
}

/// Parses a case id as devices print it (hyphenated UUID) or as 32 hex
/// digits.
pub fn parse_case_id(s: &str) -> Option<outreach_protocol::Id> {
    let digits: String = s.trim().chars().filter(|c| *c != '-').collect();
    if digits.len() != 32 {
        return None;
    }
    hex::decode(digits).ok()?.try_into().ok()
}

/// `YYYY-MM-DD` of a unix time (UTC).
pub fn date_of(unix: i64) -> String {
    let (y, m, d) = civil(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS` of a unix time (UTC).
pub fn time_of(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02}",
        date_of(unix),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic
/// Gregorian; H. Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_unix_times() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(time_of(951_825_600), "2000-02-29 12:00:00");
        assert_eq!(date_of(1_798_761_599), "2026-12-31");
        assert_eq!(time_of(1_798_761_600), "2027-01-01 00:00:00");
        assert_eq!(date_of(-1), "1969-12-31");
    }
}
