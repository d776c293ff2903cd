//! Erasure and retention: what devices tell the server about them. Ids and
//! dates only, never content.

use serde::{Deserialize, Serialize};

use crate::Id;

/// A device confirms it deleted its copy of cases the organisation erased.
pub const PATH_ERASED: &str = "/v1/erased";
/// A device tells the server when cases were closed (or reopened).
pub const PATH_CLOSURE: &str = "/v1/closure";

/// Most cases one `/v1/erased` or `/v1/closure` request may name.
pub const MAX_ERASURE_ITEMS: usize = 256;

/// `POST /v1/erased`: this device has deleted its copy of these cases (each
/// had reached it as an [`crate::Item::Erased`]). Idempotent by (case,
/// device); a case that was not erased is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedReport {
    pub cases: Vec<Id>,
}

/// How many confirmations were new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedReportResponse {
    pub stored: u32,
}

/// One case's closure as the device's record says: the date it was closed
/// (`YYYY-MM-DD`), or `None` once it is open again. Metadata only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub case_id: Id,
    pub closed_on: Option<String>,
}

/// `POST /v1/closure`: closure dates of cases this device may write (the
/// server keeps them for `outreach-server retention`). A case the device may
/// not write, or that does not exist, is ignored (not refused); a date that
/// is not `YYYY-MM-DD` is `400 Malformed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosureReport {
    pub cases: Vec<Closure>,
}

/// How many cases' closure was stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosureReportResponse {
    pub stored: u32,
}

/// Whether `s` is a calendar date written `YYYY-MM-DD` (years 1900–9999).
/// Both sides use it: the server refuses anything else, the device sends
/// nothing else.
pub fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1900 && (1..=days).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for ok in ["2026-11-30", "2024-02-29", "2000-02-29", "1900-01-01"] {
            assert!(is_iso_date(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-11-31",
            "2023-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "26-11-30",
            "2026/11/30",
            "2026-11-3x",
            "+026-11-30",
            "1899-12-31",
            "2026-11-30 ",
        ] {
            assert!(!is_iso_date(bad), "{bad}");
        }
    }

    #[test]
    fn messages_round_trip() {
        let r = ClosureReport {
            cases: vec![
                Closure {
                    case_id: [1; 16],
                    closed_on: Some("2026-01-02".into()),
                },
                Closure {
                    case_id: [2; 16],
                    closed_on: None,
                },
            ],
        };
        assert_eq!(crate::decode::<ClosureReport>(&crate::encode(&r)), Ok(r));
        let e = ErasedReport {
            cases: vec![[3; 16]],
        };
        assert_eq!(crate::decode::<ErasedReport>(&crate::encode(&e)), Ok(e));
    }
}
