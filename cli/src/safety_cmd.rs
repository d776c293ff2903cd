//! Lone working: `checkin`, `checkout`, `safety` (and `safety ack`), and
//! the check-out of `visit add --safety-checkout`.
//!
//! Every action is kept on this device first and sent at once when there
//! is a connection. When it could not be sent the command says so plainly,
//! in red on a terminal: **no one will be alerted** (a check-in), or the
//! alert **will** still be raised (a check-out) — until it reaches the
//! server with the next sync. That is not an error (exit 0): it was stored.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use outreach_core::Error;
use outreach_core::safety::{CheckInState, SafetyReceipt, SafetyStatus, local_time};
use outreach_core::sync::{self, HttpTransport};
use outreach_core::vault::{Vault, VisitInput};
use serde_json::json;

use crate::output::Out;

#[derive(Args)]
pub struct CheckinArgs {
    /// Case id (or a unique prefix of at least 4 characters); with --extend, needed only when
    /// checked in to more than one case
    pub case: Option<String>,
    /// When you expect to be out: HH:MM (today), a date and time (2026-11-30T14:30:00Z or
    /// "2026-11-30 14:30"), or +DURATION from now (+90m)
    #[arg(long, value_name = "TIME", conflicts_with = "extend")]
    pub until: Option<String>,
    /// Address details, who may be present: sent sealed — only you and your team's supervisors
    /// can read it, never the server
    #[arg(long, conflicts_with = "extend")]
    pub note: Option<String>,
    /// Move the deadline of your check-in by DURATION (30m, 1h): from the deadline, or from now
    /// if it has passed
    #[arg(long, value_name = "DURATION")]
    pub extend: Option<String>,
}

#[derive(Args)]
pub struct CheckoutArgs {
    /// Case id (or a unique prefix); needed only when checked in to more than one case
    pub case: Option<String>,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SafetyArgs {
    #[command(subcommand)]
    pub command: Option<SafetyCmd>,
}

#[derive(Subcommand)]
pub enum SafetyCmd {
    /// Acknowledge an alert: you have it in hand (supervisors of the worker's team, admins;
    /// recorded in the admin log)
    Ack(AckArgs),
}

#[derive(Args)]
pub struct AckArgs {
    /// The alert's id, or a unique prefix of 4 or more characters (as `outreach safety` lists it)
    pub alert: String,
}

/// The server this device is enrolled with.
fn transport(v: &Vault) -> Result<HttpTransport, Error> {
    let config = v.sync_config()?.ok_or(Error::NotEnrolled)?;
    HttpTransport::new(&config.server, config.allow_insecure_http)
}

fn parse(rfc: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(rfc)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `14:30` (local time), with the date when not today.
fn when(rfc: &str) -> String {
    match parse(rfc) {
        Some(t) => local_time(t, Utc::now()),
        None => rfc.to_string(),
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// A warning line on stderr, red and bold on a terminal.
pub fn warn(text: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("\x1b[1;31m{text}\x1b[0m");
    } else {
        eprintln!("{text}");
    }
}

/// Prints a receipt: one line on stdout, and when not sent a warning.
fn receipt(out: &Out, r: &SafetyReceipt, done: &str, warning: Option<String>) {
    let mut value = serde_json::to_value(r).unwrap_or_default();
    if let Some(w) = &warning {
        value["warning"] = json!(w);
    }
    out.done(done, value);
    if let Some(w) = warning {
        warn(&w);
    }
}

fn because(r: &SafetyReceipt) -> String {
    r.not_sent_because
        .as_deref()
        .map(|b| format!(" ({b})"))
        .unwrap_or_default()
}

pub fn checkin(v: &mut Vault, a: &CheckinArgs, out: &Out) -> Result<(), Error> {
    if let Some(by) = &a.extend {
        let t = transport(v)?;
        let r = sync::extend_check_in(v, &t, a.case.as_deref(), by)?;
        let warning = (!r.sent).then(|| {
            format!(
                "NOT SENT{}: the server still has your earlier deadline{}. Your team's supervisors WILL BE ALERTED then unless this reaches the server first: run `outreach sync` as soon as you have a signal, or phone your supervisor.",
                because(&r),
                r.alert_at
                    .as_deref()
                    .map(|at| format!(" (alert at {})", when(at)))
                    .unwrap_or_default()
            )
        });
        let text = match (&r.alert_at, r.sent) {
            (Some(at), true) => format!(
                "Deadline moved to {} (case {}). If you have not checked out by {}, your team's supervisors are alerted.",
                when(&r.until),
                short(&r.case_id),
                when(at)
            ),
            _ => format!(
                "Deadline moved to {} on this device (case {}).",
                when(&r.until),
                short(&r.case_id)
            ),
        };
        receipt(out, &r, &text, warning);
        return Ok(());
    }
    let Some(until) = &a.until else {
        return Err(outreach_core::ValidationError::new(
            "--until",
            "is required to check in (when you expect to be out: HH:MM, or +90m); --extend DURATION moves a deadline",
        )
        .into());
    };
    let Some(case) = &a.case else {
        return Err(outreach_core::ValidationError::new(
            "CASE",
            "give the case you are visiting (its id, or a unique prefix)",
        )
        .into());
    };
    let t = transport(v)?;
    let r = sync::check_in(v, &t, case, until, a.note.as_deref())?;
    if r.sent {
        let alert = r.alert_at.as_deref().map(when).unwrap_or_default();
        receipt(
            out,
            &r,
            &format!(
                "Checked in to case {} until {}. If you have not checked out by {alert}, your team's supervisors are alerted.",
                short(&r.case_id),
                when(&r.until)
            ),
            None,
        );
    } else {
        receipt(
            out,
            &r,
            &format!(
                "Checked in on this device only (case {}, until {}).",
                short(&r.case_id),
                when(&r.until)
            ),
            Some(format!(
                "NOT SENT{}: NO ONE WILL BE ALERTED if you do not check out. The check-in is kept on this device and sent by the next `outreach sync` once there is a signal; until then, tell someone where you are by phone.",
                because(&r)
            )),
        );
    }
    Ok(())
}

pub fn checkout(v: &mut Vault, a: &CheckoutArgs, out: &Out) -> Result<(), Error> {
    let t = transport(v)?;
    let r = sync::check_out(v, &t, a.case.as_deref())?;
    checked_out(out, &r, None);
    Ok(())
}

fn checked_out(out: &Out, r: &SafetyReceipt, visit: Option<&str>) {
    let (text, warning) = checked_out_text(r);
    let mut value = serde_json::to_value(r).unwrap_or_default();
    if let Some(id) = visit {
        value["id"] = json!(id);
    }
    if let Some(w) = &warning {
        value["warning"] = json!(w);
    }
    if !out.json
        && let Some(id) = visit
    {
        // The visit's id first, as `visit add` prints it.
        println!("{id}");
    }
    out.done(&text, value);
    if let Some(w) = warning {
        warn(&w);
    }
}

/// The line for a check-out, and the warning when it was not sent.
fn checked_out_text(r: &SafetyReceipt) -> (String, Option<String>) {
    if r.sent {
        return (format!("Checked out of case {}.", short(&r.case_id)), None);
    }
    let warning = match &r.alert_at {
        Some(at) => format!(
            "NOT SENT{}: the server does not know you are out, so your team's supervisors WILL BE ALERTED at {} unless this reaches the server first: run `outreach sync` as soon as you have a signal, or phone your supervisor.",
            because(r),
            when(at)
        ),
        None => format!(
            "NOT SENT{}: kept on this device and sent by the next `outreach sync`.",
            because(r)
        ),
    };
    (
        format!("Checked out on this device (case {}).", short(&r.case_id)),
        Some(warning),
    )
}

/// `visit add … --safety-checkout`: the visit and the check-out in one step.
pub fn visit_and_checkout(
    v: &mut Vault,
    case: &str,
    input: &VisitInput,
    out: &Out,
) -> Result<(), Error> {
    let t = transport(v)?;
    let (visit, r) = sync::add_visit_checking_out(v, &t, case, input)?;
    checked_out(out, &r, Some(&visit));
    Ok(())
}

pub fn safety(v: &mut Vault, a: &SafetyArgs, out: &Out) -> Result<(), Error> {
    if let Some(SafetyCmd::Ack(ack)) = &a.command {
        let t = transport(v)?;
        let r = sync::acknowledge_alert(v, &t, &ack.alert)?;
        let mut value = serde_json::to_value(&r).unwrap_or_default();
        if r.sent {
            out.done(
                &format!(
                    "Alert {} acknowledged: your team sees that you have it in hand (recorded in the admin log).",
                    short(&r.alert_id)
                ),
                value,
            );
        } else {
            let w = format!(
                "NOT SENT{}: the acknowledgement is kept on this device and sent by the next `outreach sync`; until then the alert shows as open to your team.",
                r.not_sent_because
                    .as_deref()
                    .map(|b| format!(" ({b})"))
                    .unwrap_or_default()
            );
            value["warning"] = json!(w);
            out.done(
                &format!("Alert {} acknowledged on this device.", short(&r.alert_id)),
                value,
            );
            warn(&w);
        }
        return Ok(());
    }
    // The freshest view: a whole sync (alerts, check-ins, and the case keys
    // that open the notes); offline, what this device knew.
    let config = v.sync_config()?.ok_or(Error::NotEnrolled)?;
    let t = HttpTransport::new(&config.server, config.allow_insecure_http)?;
    let offline = match sync::sync(v, &t, &mut ()) {
        Ok(_) => None,
        Err(e @ (Error::DeviceRevoked | Error::Locked)) => return Err(e),
        Err(e) => Some(e.to_string()),
    };
    let status = v.safety_status()?;
    if out.json {
        let mut value = serde_json::to_value(&status).unwrap_or_default();
        value["offline"] = json!(offline);
        out.done("", value);
    } else {
        print_status(&status);
    }
    if let Some(why) = offline {
        warn(&format!(
            "Not up to date: {why}. Shown: what this device knew{}.",
            status
                .as_of
                .as_deref()
                .map(|t| format!(" as of {}", when(t)))
                .unwrap_or_default()
        ));
    }
    Ok(())
}

/// The alert and not-sent lines a `sync` puts first.
pub fn sync_lines(status: &SafetyStatus) -> Vec<String> {
    let mut lines = Vec::new();
    for a in status.alerts.iter().filter(|a| a.acknowledged_at.is_none()) {
        lines.push(match &a.checked_out_at {
            Some(at) => format!(
                "SAFETY ALERT {}: {}{} checked out late, at {} (due {}): acknowledge with `outreach safety ack {}`",
                short(&a.alert_id),
                a.worker,
                team(&a.team),
                when(at),
                when(&a.due),
                short(&a.alert_id)
            ),
            None => format!(
                "SAFETY ALERT {}: {}{} has not checked out of a visit due to end at {} ({} min overdue): `outreach safety`",
                short(&a.alert_id),
                a.worker,
                team(&a.team),
                when(&a.due),
                a.minutes_overdue
            ),
        });
    }
    lines
}

/// Refusals recorded since `before` was read (the list keeps the last ten,
/// oldest first).
pub fn new_refusals(before: &[String], after: &[String]) -> Vec<String> {
    // The longest tail of `before` that `after` starts with was there already.
    let kept = (0..=before.len())
        .find(|&i| after.starts_with(&before[i..]))
        .map_or(0, |i| before.len() - i);
    after[kept..].to_vec()
}

fn team(t: &Option<String>) -> String {
    t.as_deref()
        .map(|t| format!(" (team {t})"))
        .unwrap_or_default()
}

fn print_status(s: &SafetyStatus) {
    let open: Vec<_> = s
        .alerts
        .iter()
        .filter(|a| a.acknowledged_at.is_none())
        .collect();
    if !open.is_empty() {
        println!("OPEN ALERTS");
        for a in open {
            let state = match &a.checked_out_at {
                Some(at) => format!("checked out late at {}", when(at)),
                None => format!("NOT CHECKED OUT, {} min overdue", a.minutes_overdue),
            };
            println!(
                "  ! {}  {}{}  case {}  due {}  {}",
                short(&a.alert_id),
                a.worker,
                team(&a.team),
                short(&a.case_id),
                when(&a.due),
                state
            );
        }
        println!("  acknowledge one with `outreach safety ack ID` once you have it in hand");
    }
    let acked: Vec<_> = s
        .alerts
        .iter()
        .filter(|a| a.acknowledged_at.is_some())
        .collect();
    if !acked.is_empty() {
        println!("ACKNOWLEDGED ALERTS");
        for a in acked {
            println!(
                "    {}  {}{}  case {}  due {}  acknowledged by {} at {}{}",
                short(&a.alert_id),
                a.worker,
                team(&a.team),
                short(&a.case_id),
                when(&a.due),
                a.acknowledged_by.as_deref().unwrap_or("-"),
                a.acknowledged_at.as_deref().map(when).unwrap_or_default(),
                a.checked_out_at
                    .as_deref()
                    .map(|t| format!(", checked out at {}", when(t)))
                    .unwrap_or_default()
            );
        }
    }
    if !s.check_ins.is_empty() {
        println!("CHECK-INS");
        for c in &s.check_ins {
            let who = if c.mine {
                "you".to_string()
            } else {
                format!("{}{}", c.worker, team(&c.team))
            };
            let state = match c.state {
                CheckInState::Active => c
                    .alert_at
                    .as_deref()
                    .map(|t| format!("alert at {}", when(t)))
                    .unwrap_or_default(),
                CheckInState::Overdue => format!(
                    "OVERDUE, alert at {}",
                    c.alert_at.as_deref().map(when).unwrap_or_default()
                ),
                CheckInState::NotSent => {
                    "NOT SENT: no one will be alerted until it reaches the server".into()
                }
                CheckInState::CheckOutNotSent => format!(
                    "CHECK-OUT NOT SENT: alert at {} unless it reaches the server first",
                    c.alert_at.as_deref().map(when).unwrap_or_default()
                ),
            };
            println!(
                "  {}  case {}  until {}  {}",
                who,
                short(&c.case_id),
                when(&c.until),
                state
            );
            match (&c.note, c.note_unreadable) {
                (Some(n), _) => println!("      note: {}", n.replace('\n', " ")),
                (None, true) => {
                    println!("      note: (this device does not hold the case's key yet: sync)")
                }
                _ => {}
            }
        }
    }
    if s.alerts.is_empty() && s.check_ins.is_empty() {
        println!("No alerts and no active check-ins.");
    }
    for r in &s.refused {
        println!("refused: {r}");
    }
    let as_of = s
        .as_of
        .as_deref()
        .map(|t| format!("as of {}", when(t)))
        .unwrap_or_else(|| "never received from the server".into());
    match s.unsent {
        0 => println!("({as_of})"),
        n => println!(
            "({as_of}; {n} action{} waiting on this device for a connection)",
            if n == 1 { "" } else { "s" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::new_refusals;

    #[test]
    fn only_new_refusals_are_reported() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(new_refusals(&s(&[]), &s(&["a"])), s(&["a"]));
        assert_eq!(new_refusals(&s(&["a", "b"]), &s(&["a", "b"])), s(&[]));
        assert_eq!(
            new_refusals(&s(&["a", "b"]), &s(&["a", "b", "c"])),
            s(&["c"])
        );
        // The oldest fell off the list of ten.
        assert_eq!(
            new_refusals(&s(&["a", "b"]), &s(&["b", "c", "d"])),
            s(&["c", "d"])
        );
        assert_eq!(new_refusals(&s(&["a"]), &s(&["x"])), s(&["x"]));
    }
}
