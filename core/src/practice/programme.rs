//! The programme clock: Pause works with a woman for 18 months; a planned end
//! is computed from the start date unless one was set by hand, and the
//! caseload flags cases within eight weeks of it so that next steps and the
//! ending are planned with her, not discovered late.

use chrono::{Months, NaiveDate};

use crate::case::model::{Phase, Programme};

pub const PROGRAMME_MONTHS: u32 = 18;
/// A case is "ending soon" from this many days before its planned end.
pub const ENDING_SOON_DAYS: i64 = 56;

/// The planned end: as recorded, or the start date plus 18 months.
pub fn planned_end(p: &Programme) -> Option<NaiveDate> {
    let date = |s: &Option<String>| {
        s.as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    date(&p.planned_end_date).or_else(|| {
        date(&p.start_date).and_then(|s| s.checked_add_months(Months::new(PROGRAMME_MONTHS)))
    })
}

/// Open and within [`ENDING_SOON_DAYS`] of its planned end (or past it).
pub fn ending_soon(p: &Programme, today: NaiveDate) -> bool {
    ending_soon_at(planned_end(p), p.phase == Some(Phase::Closed), today)
}

/// The same rule on the planned end date itself.
pub fn ending_soon_at(end: Option<NaiveDate>, closed: bool, today: NaiveDate) -> bool {
    !closed && end.is_some_and(|end| (end - today).num_days() <= ENDING_SOON_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(start: Option<&str>, end: Option<&str>) -> Programme {
        Programme {
            start_date: start.map(Into::into),
            planned_end_date: end.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn eighteen_months_from_the_start_unless_set() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert_eq!(
            planned_end(&prog(Some("2025-08-31"), None)),
            d("2027-02-28")
        );
        assert_eq!(
            planned_end(&prog(Some("2025-01-10"), Some("2026-01-01"))),
            d("2026-01-01")
        );
        assert_eq!(planned_end(&prog(None, None)), None);
        // Starts 2025-01-01, so ends 2026-07-01.
        let p = prog(Some("2025-01-01"), None);
        assert!(!ending_soon(
            &p,
            NaiveDate::from_ymd_opt(2026, 5, 1).unwrap_or_default()
        )); // 61 days
        assert!(ending_soon(
            &p,
            NaiveDate::from_ymd_opt(2026, 5, 6).unwrap_or_default()
        )); // 56 days
        assert!(ending_soon(
            &p,
            NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default()
        )); // past it
        let closed = Programme {
            phase: Some(Phase::Closed),
            ..p
        };
        assert!(!ending_soon(
            &closed,
            NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default()
        ));
    }
}
