//! OBA report cards: *How much did we do? How well did we do it? Is anyone
//! better off?* — computed on the device that holds the cases (the server
//! only ever has ciphertext), over the cases this vault holds.
//!
//! Only counts, percentages and medians leave this module: no name of a
//! woman, no free text, no record id. Practitioners' and the team's names
//! (staff, from the case's programme) label the breakdown. Every figure is
//! defined once, here, and in `docs/REPORTS.md`; the rules it leans on are
//! the practice rules (`practice::due` for "on time" and "overdue", the
//! sign-off judgement `practice::authority` applied by `Vault::read_case`),
//! never re-derived.
//!
//! Percentages are `None` (JSON `null`) when their denominator is zero —
//! never 0, never NaN. Renderings (`render`) are text, JSON, CSV and one
//! self-contained HTML file with inline SVG charts; CSV and HTML show small
//! numbers (1–4, and figures based on fewer than 5) as "< 5" unless exact.

mod chart;
mod render;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::case::model::{
    Case, ContactKind, Domain, ExitReason, GoalStatus, MeetingKind, Phase, ReviewState,
};
use crate::case::validate as v;
use crate::error::{Error, Result, ValidationError};
use crate::practice;
use crate::vault::Vault;

pub use render::{FIGURES, Figure, Format, render};

/// The `format` field of a JSON report.
pub const REPORT_FORMAT: &str = "outreach.report.v1";
/// Counts below this (from 1) are shown as "< 5" in CSV and HTML unless exact.
pub const SMALL_NUMBER: u64 = 5;
/// The longest period a report covers (its charts have one bar a month).
pub const MAX_PERIOD_MONTHS: u32 = 120;
/// Default period: the three months ending `to`.
pub const DEFAULT_PERIOD_MONTHS: u32 = 3;

/// What to report on. Dates are `YYYY-MM-DD`, both inclusive; `None`
/// takes the default (`to`: today; `from`: three months before `to`, the
/// day after). `team` and `practitioner` keep only the cases whose
/// programme names them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub team: Option<String>,
    pub practitioner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub from: String,
    pub to: String,
}

/// How much did we do?
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HowMuch {
    pub active_cases: u64,
    pub new_referrals: u64,
    pub closures: u64,
    pub contacts_completed: u64,
    pub contacts_attempted: u64,
    /// Every contact kind of the vocabulary, zeros included.
    pub contacts_by_kind: BTreeMap<String, u64>,
    pub meetings: u64,
    pub referrals_made: u64,
}

/// The number each percentage or median of [`HowWell`] is taken over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HowWellBase {
    /// Contacts in the period whose due moment is known.
    pub contacts_on_time: u64,
    /// Contacts in the period.
    pub visits_signed_off: u64,
    /// Contacts in the period signed off (validly).
    pub median_days_to_sign_off: u64,
    /// Active cases with a support plan.
    pub plans_reviewed_in_period: u64,
}

/// How well did we do it?
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HowWell {
    pub contacts_on_time_pct: Option<f64>,
    pub overdue_cases: u64,
    pub visits_signed_off_pct: Option<f64>,
    pub median_days_to_sign_off: Option<f64>,
    pub plans_reviewed_in_period_pct: Option<f64>,
    pub denominators: HowWellBase,
}

/// The number each percentage of [`BetterOff`] is taken over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BetterOffBase {
    /// Active cases with two scaling readings to compare.
    pub scaling: u64,
    /// Goals (not contraception) of active cases.
    pub goals_achieved: u64,
    /// Active cases.
    pub pause_agreed: u64,
}

/// Is anyone better off?
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BetterOff {
    pub scaling_improved_pct: Option<f64>,
    pub scaling_fell_pct: Option<f64>,
    pub goals_achieved_pct: Option<f64>,
    pub pause_agreed_pct: Option<f64>,
    pub completed_programme: u64,
    /// Closures in the period by exit reason (every reason, zeros included).
    pub exits_by_reason: BTreeMap<String, u64>,
    pub denominators: BetterOffBase,
}

/// The same three groups for the cases one practitioner holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PractitionerCard {
    pub name: String,
    pub cases: u64,
    pub how_much: HowMuch,
    pub how_well: HowWell,
    pub better_off: BetterOff,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthContacts {
    /// `YYYY-MM`
    pub month: String,
    pub completed: u64,
    pub attempted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthScaling {
    pub month: String,
    /// Scaling readings dated in the month.
    pub readings: u64,
    /// Their median score (0–10), `None` without readings.
    pub median: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub label: String,
    pub count: u64,
}

/// The series the HTML report draws.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Charts {
    pub contacts_by_month: Vec<MonthContacts>,
    pub scaling_by_month: Vec<MonthScaling>,
    pub sign_off_days: Vec<Bucket>,
}

/// One report card (see `docs/REPORTS.md` for every figure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format: String,
    pub generated_at: String,
    pub period: Period,
    pub team: Option<String>,
    pub practitioner: Option<String>,
    /// Cases this device holds that match the filters (any period).
    pub cases: u64,
    /// Cases that failed their integrity check (not counted anywhere else).
    pub unreadable_cases: u64,
    pub how_much: HowMuch,
    pub how_well: HowWell,
    pub better_off: BetterOff,
    pub by_practitioner: Vec<PractitionerCard>,
    pub charts: Charts,
}

/// Sign-off time buckets, in whole days: (label, lowest, highest).
const SIGN_OFF_BUCKETS: &[(&str, i64, i64)] = &[
    ("0–1 days", 0, 1),
    ("2–7 days", 2, 7),
    ("8–14 days", 8, 14),
    ("15–28 days", 15, 28),
    ("over 28 days", 29, i64::MAX),
];

/// The query, checked and resolved against the clock.
struct Spec {
    from: NaiveDate,
    to: NaiveDate,
    /// The period's instants: `[start, end)`.
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// When "overdue" is judged: the end of the period, or now if earlier.
    as_of: DateTime<Utc>,
    team: Option<String>,
    practitioner: Option<String>,
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

impl Spec {
    fn new(q: &ReportQuery, now: DateTime<Utc>) -> Result<Spec> {
        let to = match q.to.as_deref() {
            Some(t) => v::date("to", t)?,
            None => now.date_naive(),
        };
        let from = match q.from.as_deref() {
            Some(f) => v::date("from", f)?,
            None => to
                .checked_sub_months(Months::new(DEFAULT_PERIOD_MONTHS))
                .and_then(|d| d.succ_opt())
                .unwrap_or(to),
        };
        if from > to {
            return Err(ValidationError::new("from", "is after the end of the period (to)").into());
        }
        if from.checked_add_months(Months::new(MAX_PERIOD_MONTHS)) <= Some(to) {
            return Err(ValidationError::new(
                "from",
                format!("the period can be at most {} years", MAX_PERIOD_MONTHS / 12),
            )
            .into());
        }
        let start = midnight(from);
        let end = midnight(to) + Duration::days(1);
        Ok(Spec {
            from,
            to,
            start,
            end,
            as_of: (end - Duration::seconds(1)).min(now),
            team: v::opt_short("team", q.team.as_deref())?,
            practitioner: v::opt_short("practitioner", q.practitioner.as_deref())?,
        })
    }

    fn matches(&self, c: &Case) -> bool {
        self.team
            .as_ref()
            .is_none_or(|t| c.programme.team.as_ref() == Some(t))
            && self
                .practitioner
                .as_ref()
                .is_none_or(|p| c.programme.practitioners.contains(p))
    }

    fn day_in(&self, d: NaiveDate) -> bool {
        self.from <= d && d <= self.to
    }

    fn months(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut m = NaiveDate::from_ymd_opt(self.from.year(), self.from.month(), 1);
        while let Some(d) = m.filter(|d| *d <= self.to) {
            out.push(month_key(d));
            m = d.checked_add_months(Months::new(1));
        }
        out
    }
}

fn month_key(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

/// An instant (RFC 3339), or a date read as its midnight UTC.
fn instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| day(s).map(midnight))
}

/// A date (`YYYY-MM-DD`), or the UTC date of an instant.
fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.to_utc().date_naive())
    })
}

/// Created on or before `to` (an undated record counts as older).
fn exists_by(created: Option<&str>, to: NaiveDate) -> bool {
    created.and_then(day).is_none_or(|d| d <= to)
}

/// What one case contributes to every figure, computed once (a case counts
/// for the team and for each of its practitioners).
#[derive(Default)]
struct CaseFacts {
    active: bool,
    new_referral: bool,
    /// Closed in the period, for this reason.
    closed: Option<ExitReason>,
    completed: u64,
    attempted: u64,
    by_kind: BTreeMap<ContactKind, u64>,
    meetings: u64,
    referrals_made: u64,
    on_time: u64,
    on_time_known: u64,
    overdue: bool,
    contacts: u64,
    signed_off: u64,
    sign_off_days: Vec<f64>,
    has_plan: bool,
    plan_reviewed: bool,
    /// Compared scaling: latest score against the first.
    scaling: Option<std::cmp::Ordering>,
    goals: u64,
    goals_achieved: u64,
    pause_agreed: bool,
    months: BTreeMap<String, (u64, u64)>,
    month_scores: Vec<(String, u8)>,
}

fn case_facts(c: &Case, s: &Spec) -> CaseFacts {
    let p = &c.programme;
    let mut f = CaseFacts::default();
    // Opened: as the contact rule has it, or earlier if the record says so
    // (a referral, a start or a contact recorded before the case was
    // opened on a device: history entered afterwards).
    let opened = [
        practice::due::opened_at(c, None).map(|t| t.date_naive()),
        p.referral_date.as_deref().and_then(day),
        p.start_date.as_deref().and_then(day),
        c.visits.values().filter_map(|v| day(&v.at)).min(),
    ]
    .into_iter()
    .flatten()
    .min();
    let closed_on = if p.phase == Some(Phase::Closed) {
        // Closed without a date (an old record): closed before any period.
        Some(p.closed_on.as_deref().and_then(day))
    } else {
        None
    };
    f.active = opened.is_none_or(|o| o <= s.to)
        && match closed_on {
            None => true,
            Some(Some(d)) => d >= s.from,
            Some(None) => false,
        };
    f.new_referral = p
        .referral_date
        .as_deref()
        .and_then(day)
        .or(opened)
        .is_some_and(|d| s.day_in(d));
    if let Some(Some(d)) = closed_on
        && s.day_in(d)
    {
        let reason = p
            .exit_reason
            .as_deref()
            .and_then(|r| ExitReason::parse("exit_reason", r).ok())
            .unwrap_or(ExitReason::Other);
        f.closed = Some(reason);
    }

    // Contacts in time order (ties by id, as the contact rule orders them).
    let mut visits: Vec<_> = c
        .visits
        .iter()
        .filter_map(|(id, v)| instant(&v.at).map(|t| (t, id, v)))
        .collect();
    visits.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    // The contact rule as it stood before each contact: the rule reads the
    // most recent contact only, so a case holding just the previous one
    // (and the programme: interval, opening) gives its due moment then.
    let mut before = Case {
        programme: p.clone(),
        ..Default::default()
    };
    let due_at = |before: &Case, at: DateTime<Utc>| {
        let mut facts = practice::contact_facts(before, None);
        facts.closed = false;
        practice::contact_due_from(&facts, at)
    };
    let mut latest_by_as_of = None;
    for (t, id, visit) in &visits {
        if *t <= s.as_of {
            latest_by_as_of = Some((*id, *visit));
        }
        if s.start <= *t && *t < s.end {
            f.contacts += 1;
            if practice::due::is_attempt(visit) {
                f.attempted += 1;
            } else {
                f.completed += 1;
            }
            *f.by_kind.entry(visit.kind).or_default() += 1;
            let m = f.months.entry(month_key(t.date_naive())).or_default();
            if practice::due::is_attempt(visit) {
                m.1 += 1;
            } else {
                m.0 += 1;
            }
            let due = due_at(&before, *t);
            if due.next_contact_due.is_some() {
                f.on_time_known += 1;
                if !due.overdue {
                    f.on_time += 1;
                }
            }
            if visit.review == ReviewState::SignedOff
                && let Some(so) = &visit.sign_off
            {
                f.signed_off += 1;
                let recorded = visit.recorded_at.as_deref().unwrap_or(&visit.at);
                if let (Some(a), Some(b)) = (instant(recorded), instant(&so.at)) {
                    f.sign_off_days
                        .push(((b - a).num_seconds().max(0) as f64) / 86_400.0);
                }
            }
        }
        before.visits.clear();
        before.visits.insert((*id).clone(), (*visit).clone());
    }
    // Overdue as the period ends: open then, judged by the contact before it.
    let open_at_end = opened.is_none_or(|o| o <= s.as_of.date_naive())
        && match closed_on {
            None => true,
            Some(Some(d)) => d > s.as_of.date_naive(),
            Some(None) => false,
        };
    if open_at_end {
        let mut at_end = Case {
            programme: p.clone(),
            ..Default::default()
        };
        if let Some((id, visit)) = latest_by_as_of {
            at_end.visits.insert(id.clone(), visit.clone());
        }
        f.overdue = due_at(&at_end, s.as_of).overdue;
    }

    f.meetings = c
        .meetings
        .values()
        .filter(|m| day(&m.date).is_some_and(|d| s.day_in(d)))
        .count() as u64;
    f.referrals_made = c
        .referrals
        .values()
        .filter(|r| day(&r.date).is_some_and(|d| s.day_in(d)))
        .count() as u64;

    // Scaling readings in date order (ties by id), up to the period's end.
    let mut scales: Vec<_> = c
        .scales
        .iter()
        .filter_map(|(id, r)| day(&r.date).map(|d| (d, id, r.score)))
        .filter(|(d, _, _)| *d <= s.to)
        .collect();
    scales.sort();
    for (d, _, score) in &scales {
        if s.day_in(*d) {
            f.month_scores.push((month_key(*d), *score));
        }
    }

    if f.active {
        let goals_by_end: Vec<_> = c
            .goals
            .values()
            .filter(|g| exists_by(g.created_at.as_deref(), s.to))
            .collect();
        f.has_plan = !goals_by_end.is_empty();
        f.plan_reviewed = f.has_plan
            && c.meetings.values().any(|m| {
                m.kind == MeetingKind::Review && day(&m.date).is_some_and(|d| s.day_in(d))
            });
        if let (Some(first), Some(last)) = (scales.first(), scales.last())
            && scales.len() >= 2
            && s.day_in(last.0)
        {
            f.scaling = Some(last.2.cmp(&first.2));
        }
        for g in &goals_by_end {
            if g.domain == Domain::Contraception {
                f.pause_agreed |= g.status != Some(GoalStatus::Stopped);
            } else {
                f.goals += 1;
                if g.status == Some(GoalStatus::Achieved) {
                    f.goals_achieved += 1;
                }
            }
        }
    }
    f
}

/// `n` of `d` as a percentage to one decimal; `None` when `d` is zero.
pub fn pct(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| ((n as f64) * 1000.0 / (d as f64)).round() / 10.0)
}

/// The median to one decimal; `None` for no values.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let m = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Some((m * 10.0).round() / 10.0)
}

/// The three groups over a set of cases.
fn groups(facts: &[&CaseFacts]) -> (HowMuch, HowWell, BetterOff) {
    let sum = |f: &dyn Fn(&CaseFacts) -> u64| facts.iter().map(|c| f(c)).sum::<u64>();
    let count = |f: &dyn Fn(&CaseFacts) -> bool| facts.iter().filter(|c| f(c)).count() as u64;

    let mut by_kind: BTreeMap<String, u64> = ContactKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), 0))
        .collect();
    for c in facts {
        for (k, n) in &c.by_kind {
            *by_kind.entry(k.as_str().to_string()).or_default() += n;
        }
    }
    let how_much = HowMuch {
        active_cases: count(&|c| c.active),
        new_referrals: count(&|c| c.new_referral),
        closures: count(&|c| c.closed.is_some()),
        contacts_completed: sum(&|c| c.completed),
        contacts_attempted: sum(&|c| c.attempted),
        contacts_by_kind: by_kind,
        meetings: sum(&|c| c.meetings),
        referrals_made: sum(&|c| c.referrals_made),
    };

    let mut days: Vec<f64> = facts
        .iter()
        .flat_map(|c| c.sign_off_days.iter().copied())
        .collect();
    let base = HowWellBase {
        contacts_on_time: sum(&|c| c.on_time_known),
        visits_signed_off: sum(&|c| c.contacts),
        median_days_to_sign_off: days.len() as u64,
        plans_reviewed_in_period: count(&|c| c.has_plan),
    };
    let how_well = HowWell {
        contacts_on_time_pct: pct(sum(&|c| c.on_time), base.contacts_on_time),
        overdue_cases: count(&|c| c.overdue),
        visits_signed_off_pct: pct(sum(&|c| c.signed_off), base.visits_signed_off),
        median_days_to_sign_off: median(&mut days),
        plans_reviewed_in_period_pct: pct(
            count(&|c| c.plan_reviewed),
            base.plans_reviewed_in_period,
        ),
        denominators: base,
    };

    let mut exits: BTreeMap<String, u64> = ExitReason::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), 0))
        .collect();
    for c in facts {
        if let Some(r) = c.closed {
            *exits.entry(r.as_str().to_string()).or_default() += 1;
        }
    }
    let base = BetterOffBase {
        scaling: count(&|c| c.scaling.is_some()),
        goals_achieved: sum(&|c| c.goals),
        pause_agreed: how_much.active_cases,
    };
    let better_off = BetterOff {
        scaling_improved_pct: pct(
            count(&|c| c.scaling == Some(std::cmp::Ordering::Greater)),
            base.scaling,
        ),
        scaling_fell_pct: pct(
            count(&|c| c.scaling == Some(std::cmp::Ordering::Less)),
            base.scaling,
        ),
        goals_achieved_pct: pct(sum(&|c| c.goals_achieved), base.goals_achieved),
        pause_agreed_pct: pct(count(&|c| c.active && c.pause_agreed), base.pause_agreed),
        completed_programme: count(&|c| c.closed == Some(ExitReason::Completed)),
        exits_by_reason: exits,
        denominators: base,
    };
    (how_much, how_well, better_off)
}

fn charts(s: &Spec, facts: &[&CaseFacts]) -> Charts {
    let months = s.months();
    let contacts_by_month = months
        .iter()
        .map(|m| {
            let (completed, attempted) = facts
                .iter()
                .filter_map(|c| c.months.get(m))
                .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
            MonthContacts {
                month: m.clone(),
                completed,
                attempted,
            }
        })
        .collect();
    let scaling_by_month = months
        .iter()
        .map(|m| {
            let mut scores: Vec<f64> = facts
                .iter()
                .flat_map(|c| c.month_scores.iter())
                .filter(|(k, _)| k == m)
                .map(|(_, s)| f64::from(*s))
                .collect();
            MonthScaling {
                month: m.clone(),
                readings: scores.len() as u64,
                median: median(&mut scores),
            }
        })
        .collect();
    let sign_off_days = SIGN_OFF_BUCKETS
        .iter()
        .map(|(label, lo, hi)| Bucket {
            label: label.to_string(),
            count: facts
                .iter()
                .flat_map(|c| c.sign_off_days.iter())
                .filter(|d| {
                    let whole = d.floor() as i64;
                    *lo <= whole && whole <= *hi
                })
                .count() as u64,
        })
        .collect();
    Charts {
        contacts_by_month,
        scaling_by_month,
        sign_off_days,
    }
}

/// The report over `cases` (already read and judged), as of `now`.
/// `unreadable` is the number of cases that could not be read.
pub fn report_from_cases(
    cases: &[Case],
    unreadable: u64,
    q: &ReportQuery,
    now: DateTime<Utc>,
) -> Result<Report> {
    let s = Spec::new(q, now)?;
    let kept: Vec<&Case> = cases.iter().filter(|c| s.matches(c)).collect();
    let facts: Vec<CaseFacts> = kept.iter().map(|c| case_facts(c, &s)).collect();
    Ok(assemble(&s, &kept, &facts, unreadable, now))
}

fn assemble(
    s: &Spec,
    kept: &[&Case],
    facts: &[CaseFacts],
    unreadable: u64,
    now: DateTime<Utc>,
) -> Report {
    let all: Vec<&CaseFacts> = facts.iter().collect();
    let (how_much, how_well, better_off) = groups(&all);
    let names: BTreeSet<&String> = kept
        .iter()
        .flat_map(|c| c.programme.practitioners.iter())
        .collect();
    let by_practitioner = names
        .into_iter()
        .map(|name| {
            let hers: Vec<&CaseFacts> = kept
                .iter()
                .zip(facts)
                .filter(|(c, _)| c.programme.practitioners.contains(name))
                .map(|(_, f)| f)
                .collect();
            let (how_much, how_well, better_off) = groups(&hers);
            PractitionerCard {
                name: name.clone(),
                cases: hers.len() as u64,
                how_much,
                how_well,
                better_off,
            }
        })
        .collect();
    Report {
        format: REPORT_FORMAT.to_string(),
        generated_at: v::instant_string(now),
        period: Period {
            from: s.from.format("%Y-%m-%d").to_string(),
            to: s.to.format("%Y-%m-%d").to_string(),
        },
        team: s.team.clone(),
        practitioner: s.practitioner.clone(),
        cases: kept.len() as u64,
        unreadable_cases: unreadable,
        how_much,
        how_well,
        better_off,
        by_practitioner,
        charts: charts(s, &all),
    }
}

impl Vault {
    /// The OBA report card over the cases this vault holds (each read, and
    /// its sign-offs judged, by [`Vault::read_case`]). A case that fails its
    /// integrity check is counted in `unreadable_cases` and nowhere else.
    /// Invalid input names the field (`from`, `to`, `team`,
    /// `practitioner`); nothing is written.
    pub fn report(&mut self, q: &ReportQuery) -> Result<Report> {
        let now = self.now();
        let s = Spec::new(q, now)?;
        let mut kept = Vec::new();
        let mut unreadable = 0;
        for id in self.case_ids()? {
            match self.read_case(&id) {
                Ok(c) if s.matches(&c) => kept.push(c),
                Ok(_) => {}
                Err(Error::CorruptRecord { .. } | Error::Document(_)) => unreadable += 1,
                Err(e) => return Err(e),
            }
        }
        let refs: Vec<&Case> = kept.iter().collect();
        let facts: Vec<CaseFacts> = kept.iter().map(|c| case_facts(c, &s)).collect();
        Ok(assemble(&s, &refs, &facts, unreadable, now))
    }
}
