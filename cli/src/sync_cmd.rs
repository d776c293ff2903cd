//! `enroll`, `sync`, `case assign` and `case transfer`: the shell's side of sync. A progress
//! bar on a terminal (never with `--json` or when piped), one summary line.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use outreach_core::Error;
use outreach_core::sync::{self, HttpTransport, SyncObserver, SyncPhase};
use outreach_core::vault::Vault;
use serde_json::json;

use crate::args::{AssignArgs, EnrollArgs};
use crate::errors::Failure;
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
    // Lone-working actions the server refuses in this sync are reported.
    let refused_before = v.safety_status().map(|s| s.refused).unwrap_or_default();
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
    for case in &report.removal_waiting {
        text.push_str(&format!(
            "\ncase {} was transferred to another practitioner; it stays on this device until what was written here is through (submit or discard its draft, then sync)",
            case.chars().take(8).collect::<String>()
        ));
    }
    if report.keys_rotated > 0 {
        text.push_str(&format!(
            "\nchanged the key of {} case(s): a device that could read them no longer may, so what is written from now on is beyond its keys",
            report.keys_rotated
        ));
    }
    if report.uploads_waiting_for_key > 0 {
        text.push_str(&format!(
            "\n{} upload(s) wait for a case's new key (a colleague's device changed it); they are kept here and sent on a later sync",
            report.uploads_waiting_for_key
        ));
    }
    for case in &report.erased {
        text.push_str(&format!(
            "\ncase {} was erased by your organisation and deleted from this device",
            case.chars().take(8).collect::<String>()
        ));
    }
    // One line per quarantined item: the case and why, never content.
    for r in &report.rejected {
        text.push_str(&format!(
            "\nrejected an item for case {}: {} (kept aside, reported to your organisation; everything else synced)",
            r.case.chars().take(8).collect::<String>(),
            r.reason
        ));
    }
    // Lone-working alerts the pull brought come first.
    let mut value = serde_json::to_value(&report).unwrap_or_default();
    if let Ok(safety) = v.safety_status() {
        let lines = crate::safety_cmd::sync_lines(&safety);
        if !lines.is_empty() {
            text = format!("{}\n{text}", lines.join("\n"));
        }
        let refused = crate::safety_cmd::new_refusals(&refused_before, &safety.refused);
        for r in &refused {
            crate::safety_cmd::warn(&if r.starts_with("check-in") {
                format!("SAFETY: {r} — no one will be alerted for it: check in again")
            } else {
                format!("SAFETY: {r}")
            });
        }
        value["safety_alerts"] = serde_json::to_value(&safety.alerts).unwrap_or_default();
        value["safety_refused"] = serde_json::to_value(&refused).unwrap_or_default();
    }
    out.done(&text, value);
    Ok(())
}

/// `case assign` and `case transfer` need the case on the server, so they
/// sync before they ask. That sync runs here, first, so that what it
/// uploaded is reported whether the request is then granted or refused (a
/// refusal must not leave the user thinking nothing was sent, only for the
/// next `sync` to say "0 uploaded").
fn sync_then(
    v: &mut Vault,
    request: impl FnOnce(&mut Vault, &HttpTransport) -> Result<serde_json::Value, Error>,
) -> Result<(serde_json::Value, String), Failure> {
    let config = v.sync_config()?.ok_or(Error::NotEnrolled)?;
    let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
    let uploaded = sync::sync(v, &transport, &mut ())?.pushed;
    let mut value =
        request(v, &transport).map_err(|error| Failure::AfterUpload { error, uploaded })?;
    value["uploaded_first"] = json!(uploaded);
    let note = match uploaded {
        0 => String::new(),
        1 => " (1 change from this device was uploaded first)".into(),
        n => format!(" ({n} changes from this device were uploaded first)"),
    };
    Ok((value, note))
}

/// "1 device" / "2 devices" for the keys an assignment or transfer shared.
fn devices(done: &serde_json::Value) -> String {
    match done["keys_shared"].as_u64().unwrap_or(0) {
        1 => "1 device".into(),
        n => format!("{n} devices"),
    }
}

pub fn assign(v: &mut Vault, a: &AssignArgs, out: &Out) -> Result<(), Failure> {
    let (done, note) = sync_then(v, |v, t| {
        let done = sync::assign(v, t, &a.case, &a.to)?;
        Ok(serde_json::to_value(&done).unwrap_or_default())
    })?;
    out.done(
        &format!(
            "Case assigned{note}. The case key was shared with {}; they receive the case on their next sync.",
            devices(&done)
        ),
        done,
    );
    Ok(())
}

pub fn transfer(v: &mut Vault, a: &AssignArgs, out: &Out) -> Result<(), Failure> {
    let (done, note) = sync_then(v, |v, t| {
        let done = sync::transfer_case(v, t, &a.case, &a.to)?;
        Ok(serde_json::to_value(&done).unwrap_or_default())
    })?;
    out.done(
        &format!(
            "Case transferred{note}. The case key was shared with {}; they receive the case on their next sync, and it leaves the previous practitioner's devices on theirs.",
            devices(&done)
        ),
        done,
    );
    Ok(())
}
