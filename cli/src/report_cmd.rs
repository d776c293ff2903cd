//! `outreach report`: the OBA report card over the cases this device holds
//! (computed by `outreach_core::report`; this file only reads the flags and
//! writes the result). Only counts and percentages leave the vault; CSV and
//! HTML hide small numbers unless `--exact`. Definitions: `docs/REPORTS.md`.

use std::path::PathBuf;

use clap::Args;
use outreach_core::ValidationError;
use outreach_core::report::{Format, ReportQuery, render};
use outreach_core::vault::Vault;
use serde_json::json;

use crate::errors::Failure;
use crate::output::Out;

#[derive(Args)]
pub struct ReportArgs {
    /// First day of the period, YYYY-MM-DD (default: three months before --to, the day after)
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day of the period, YYYY-MM-DD, included (default: today)
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Only the cases of this team
    #[arg(long)]
    pub team: Option<String>,
    /// Only the cases this practitioner holds (her name as the cases record it)
    #[arg(long, value_name = "NAME")]
    pub practitioner: Option<String>,
    /// text, json, csv or html (default: text; json with --json)
    #[arg(long)]
    pub format: Option<String>,
    /// Write the report to FILE (readable by you only, never over an existing file)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Show numbers from 1 to 4 in csv and html (they are "< 5" otherwise); not for sending on
    #[arg(long)]
    pub exact: bool,
}

impl ReportArgs {
    pub fn query(&self) -> ReportQuery {
        ReportQuery {
            from: self.from.clone(),
            to: self.to.clone(),
            team: self.team.clone(),
            practitioner: self.practitioner.clone(),
        }
    }
}

pub fn run(v: &mut Vault, a: &ReportArgs, out: &Out) -> Result<(), Failure> {
    let format = match a.format.as_deref() {
        Some(f) => Format::parse("--format", f)?,
        None if out.json => Format::Json,
        None => Format::Text,
    };
    if out.json && format != Format::Json && a.out.is_none() {
        return Err(ValidationError::new(
            "--format",
            "with --json, give --format json or write the report to a file with --out",
        )
        .into());
    }
    // The file first: nothing is computed for a report that cannot be written.
    let file = a.out.as_deref().map(crate::create_private).transpose()?;
    let report = match v.report(&a.query()) {
        Ok(r) => r,
        Err(e) => {
            if let Some(path) = &a.out {
                drop(file);
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    let text = render(&report, format, a.exact);
    match (file, &a.out) {
        (Some(file), Some(path)) => {
            crate::write_all_private(file, path, text.as_bytes())?;
            out.done(
                &format!(
                    "report card {} to {} ({}) written to {}",
                    report.period.from,
                    report.period.to,
                    format.as_str(),
                    path.display()
                ),
                json!({
                    "out": path,
                    "format": format.as_str(),
                    "bytes": text.len(),
                    "period": report.period,
                    "cases": report.cases,
                }),
            );
        }
        _ => print!("{text}"),
    }
    Ok(())
}
