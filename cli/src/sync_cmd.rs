//! `enroll`, `sync`, `case assign` and `case transfer`: the shell's side of sync. A progress
//! bar on a terminal (never with `--json` or when piped), one summary line.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use outreach_core::Error;
use outreach_core::sync::{self, HttpTransport, SyncObserver, SyncPhase};
use outreach_core::vault::Vault;
use serde_json::json;

use crate::args::{AssignArgs, EnrollArgs};
use crate::output::Out;

pub fn enroll(v: &mut Vault, a: &EnrollArgs, out: &Out) -> Result<(), Error> {
    let transport = HttpTransport::new(&a.server, a.allow_insecure_http)?;
    let config = sync::enroll(v, &transport, &a.server, a.allow_insecure_http, &a.code)?;
    out.done(
        &format!(
            "Enrolled with {} as {} ({}{}). Run `outreach sync` to upload and receive cases.",
            config.org_name,
            config.user_name,
            config.role,
            config
                .team
                .as_deref()
                .map(|t| format!(", team {t}"))
                .unwrap_or_default()
        ),
        json!({
            "organisation": config.org_name,
            "user": config.user_name,
            "role": config.role,
            "team": config.team,
            "device_id": v.settings()?.device_id,
            "server": config.server,
        }),
    );
    Ok(())
}

struct Bar(Option<ProgressBar>);

impl SyncObserver for Bar {
    fn progress(&mut self, phase: SyncPhase, done: u64, total: Option<u64>) {
        let Some(bar) = &self.0 else { return };
        let label = match phase {
            SyncPhase::Uploading => "uploading",
            SyncPhase::Downloading => "receiving",
            SyncPhase::SharingKeys => "sharing keys",
        };
        bar.set_message(label);
        match total {
            Some(t) => {
                bar.set_length(t);
                bar.set_position(done);
            }
            None => {
                bar.set_length(done.max(1));
                bar.set_position(done);
            }
        }
    }
}

pub fn sync(v: &mut Vault, out: &Out) -> Result<(), Error> {
    let config = v.sync_config()?.ok_or(Error::NotEnrolled)?;
    let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
    let bar = (!out.json && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg:>12} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let mut observer = Bar(bar);
    let result = sync::sync(v, &transport, &mut observer);
    if let Some(b) = &observer.0 {
        b.finish_and_clear();
    }
    let report = result?;
    let text = format!(
        "Synced: {} uploaded, {} received in {} case{}, {} conflict{} to resolve{}{}.",
        report.pushed,
        report.pulled,
        report.cases_changed.len(),
        if report.cases_changed.len() == 1 {
            ""
        } else {
            "s"
        },
        report.conflicts,
        if report.conflicts == 1 { "" } else { "s" },
        if report.keys_shared > 0 {
            format!(", case keys shared with {} device(s)", report.keys_shared)
        } else {
            String::new()
        },
        if report.cases_waiting_for_key > 0 {
            format!(
                "; {} case(s) waiting for a colleague's device to share the key",
                report.cases_waiting_for_key
            )
        } else {
            String::new()
        },
    );
    let mut text = text;
    for case in &report.removed {
        text.push_str(&format!(
            "\ncase {} was transferred to another practitioner and removed from this device",
            case.chars().take(8).collect::<String>()
        ));
    }
    out.done(&text, serde_json::to_value(&report).unwrap_or_default());
    Ok(())
}

pub fn assign(v: &mut Vault, a: &AssignArgs, out: &Out) -> Result<(), Error> {
    let config = v.sync_config()?.ok_or(Error::NotEnrolled)?;
    let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
    let done = sync::assign(v, &transport, &a.case, &a.to)?;
    out.done(
        &format!(
            "Case assigned. The case key was shared with {} device(s); they receive the case on their next sync.",
            done.keys_shared
        ),
        serde_json::to_value(&done).unwrap_or_default(),
    );
    Ok(())
}

pub fn transfer(v: &mut Vault, a: &AssignArgs, out: &Out) -> Result<(), Error> {
    let config = v.sync_config()?.ok_or(Error::NotEnrolled)?;
    let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
    let done = sync::transfer_case(v, &transport, &a.case, &a.to)?;
    out.done(
        &format!(
            "Case transferred. The case key was shared with {} device(s); they receive the case on their next sync, and it leaves the previous practitioner's devices on theirs.",
            done.keys_shared
        ),
        serde_json::to_value(&done).unwrap_or_default(),
    );
    Ok(())
}
