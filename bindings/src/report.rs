//! The OBA report card for the apps: `report(query)` as records and
//! `reportHtml(query, exact)` as the self-contained HTML file (for a web
//! view or to share). One core call each; definitions in `docs/REPORTS.md`.

use std::collections::{BTreeMap, HashMap};

use outreach_core::report::{
    BetterOff, BetterOffBase, Bucket, Charts, Format, HowMuch, HowWell, HowWellBase, MonthContacts,
    MonthScaling, Period, PractitionerCard, Report, ReportQuery, render,
};

use crate::{OutreachError, OutreachVault};

/// Counts by word (contact kind, exit reason).
pub type CountMap = BTreeMap<String, u64>;
uniffi::custom_type!(CountMap, HashMap<String, u64>, {
    remote,
    lower: |map| map.into_iter().collect(),
    try_lift: |map| Ok(map.into_iter().collect()),
});

#[uniffi::remote(Record)]
pub struct ReportQuery {
    #[uniffi(default)]
    pub from: Option<String>,
    #[uniffi(default)]
    pub to: Option<String>,
    #[uniffi(default)]
    pub team: Option<String>,
    #[uniffi(default)]
    pub practitioner: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Period {
    pub from: String,
    pub to: String,
}

#[uniffi::remote(Record)]
pub struct HowMuch {
    pub active_cases: u64,
    pub new_referrals: u64,
    pub closures: u64,
    pub contacts_completed: u64,
    pub contacts_attempted: u64,
    pub contacts_by_kind: CountMap,
    pub meetings: u64,
    pub referrals_made: u64,
}

#[uniffi::remote(Record)]
pub struct HowWellBase {
    pub contacts_on_time: u64,
    pub visits_signed_off: u64,
    pub median_days_to_sign_off: u64,
    pub plans_reviewed_in_period: u64,
}

#[uniffi::remote(Record)]
pub struct HowWell {
    pub contacts_on_time_pct: Option<f64>,
    pub overdue_cases: u64,
    pub visits_signed_off_pct: Option<f64>,
    pub median_days_to_sign_off: Option<f64>,
    pub plans_reviewed_in_period_pct: Option<f64>,
    pub denominators: HowWellBase,
}

#[uniffi::remote(Record)]
pub struct BetterOffBase {
    pub scaling: u64,
    pub goals_achieved: u64,
    pub pause_agreed: u64,
}

#[uniffi::remote(Record)]
pub struct BetterOff {
    pub scaling_improved_pct: Option<f64>,
    pub scaling_fell_pct: Option<f64>,
    pub goals_achieved_pct: Option<f64>,
    pub pause_agreed_pct: Option<f64>,
    pub completed_programme: u64,
    pub exits_by_reason: CountMap,
    pub denominators: BetterOffBase,
}

#[uniffi::remote(Record)]
pub struct PractitionerCard {
    pub name: String,
    pub cases: u64,
    pub how_much: HowMuch,
    pub how_well: HowWell,
    pub better_off: BetterOff,
}

#[uniffi::remote(Record)]
pub struct MonthContacts {
    pub month: String,
    pub completed: u64,
    pub attempted: u64,
}

#[uniffi::remote(Record)]
pub struct MonthScaling {
    pub month: String,
    pub readings: u64,
    pub median: Option<f64>,
}

#[uniffi::remote(Record)]
pub struct Bucket {
    pub label: String,
    pub count: u64,
}

#[uniffi::remote(Record)]
pub struct Charts {
    pub contacts_by_month: Vec<MonthContacts>,
    pub scaling_by_month: Vec<MonthScaling>,
    pub sign_off_days: Vec<Bucket>,
}

#[uniffi::remote(Record)]
pub struct Report {
    pub format: String,
    pub generated_at: String,
    pub period: Period,
    pub team: Option<String>,
    pub practitioner: Option<String>,
    pub cases: u64,
    pub unreadable_cases: u64,
    pub how_much: HowMuch,
    pub how_well: HowWell,
    pub better_off: BetterOff,
    pub by_practitioner: Vec<PractitionerCard>,
    pub charts: Charts,
}

#[uniffi::export]
impl OutreachVault {
    /// The OBA report card over the cases this device holds: how much, how
    /// well, is anyone better off — counts and percentages only (a
    /// percentage is null when its denominator is zero). `InvalidInput`
    /// names the field (`from`, `to`, `team`, `practitioner`).
    pub fn report(&self, query: ReportQuery) -> Result<Report, OutreachError> {
        Ok(self.vault().report(&query)?)
    }

    /// The same card as one self-contained HTML file (inline SVG charts, no
    /// script, nothing fetched). Numbers from 1 to 4 read "< 5" unless
    /// `exact`.
    pub fn report_html(&self, query: ReportQuery, exact: bool) -> Result<String, OutreachError> {
        let report = self.vault().report(&query)?;
        Ok(render(&report, Format::Html, exact))
    }
}
