//! `outreach`: the terminal shell on the core.
//!
//! Every command takes `--vault DIR` (or `OUTREACH_VAULT`) and `--json`
//! anywhere on the line. The passphrase is never an argument (it would sit in
//! shell history and `ps`): it comes from `OUTREACH_PASSPHRASE` or a no-echo
//! prompt. Errors are one line on stderr (and with `--json` a JSON object on
//! stdout); exit codes are stable for scripts: see [`errors`].

mod args;
mod console;
mod errors;
mod output;
mod recover_cmd;
mod report_cmd;
mod safety_cmd;
mod sync_cmd;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use outreach_core::case::model::*;
use outreach_core::crypto::KdfParams;
use outreach_core::vault::{
    ActionInput, ConcernInput, ConcernUpdate, ConsentInput, EventInput, ExportFormat, Exported,
    GoalInput, MeetingInput, ReferralInput, ScaleInput, SosUpdate, Vault, VaultOptions, VisitDraft,
};
use outreach_core::{Error, ValidationError};
use serde_json::json;
use zeroize::Zeroizing;

use args::*;
use errors::{Failure, Report};
use output::Out;

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, command_path(&m))));
    let (cli, command) = match parsed {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Before parsing succeeded `--json` is only known from the raw arguments.
            if std::env::args()
                .take_while(|a| a != "--")
                .any(|a| a == "--json")
            {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or("invalid command line");
                let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
                print_json_error(&Report::usage(message));
            }
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let out = Out { json: cli.json };
    match run(cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let report = errors::report(failure, &command);
            // `recover` printed its summary as the JSON output already.
            if out.json && report.exit != 5 {
                print_json_error(&report);
            }
            eprintln!("error: {}", report.message);
            ExitCode::from(report.exit)
        }
    }
}

fn print_json_error(report: &Report) {
    println!(
        "{}",
        serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
    );
}

/// The subcommand path the user typed: `visit add`, `enroll`.
fn command_path(m: &clap::ArgMatches) -> String {
    let mut path = Vec::new();
    let mut m = m;
    while let Some((name, sub)) = m.subcommand() {
        path.push(name);
        m = sub;
    }
    path.join(" ")
}

fn vault_dir(cli: &Cli) -> Result<PathBuf, Error> {
    cli.vault.clone().ok_or_else(|| {
        ValidationError::new(
            "--vault",
            "give the vault folder with --vault DIR or OUTREACH_VAULT",
        )
        .into()
    })
}

/// The passphrase from `var`, or a no-echo prompt on a terminal.
fn read_secret(var: &str, prompt: &str) -> Result<Zeroizing<String>, Error> {
    if let Ok(p) = std::env::var(var) {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(ValidationError::new(
            "passphrase",
            format!("set {var} or run in a terminal to be asked"),
        )
        .into());
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|_| {
            ValidationError::new("passphrase", "could not be read from the terminal").into()
        })
}

fn unlock(cli: &Cli) -> Result<Vault, Error> {
    let mut vault = Vault::open(&vault_dir(cli)?)?;
    let pass = read_secret("OUTREACH_PASSPHRASE", "Passphrase: ")?;
    vault.unlock(&pass, None)?;
    Ok(vault)
}

fn run(cli: Cli, out: &Out) -> Result<(), Failure> {
    match &cli.command {
        Command::Init(a) => Ok(init(&cli, a, out)?),
        Command::Case(c) => {
            let mut v = unlock(&cli)?;
            case_cmd(&mut v, c, out)
        }
        Command::Visit(c) => Ok(visit_cmd(&mut unlock(&cli)?, c, out)?),
        Command::Goal(c) => Ok(goal_cmd(&mut unlock(&cli)?, c, out)?),
        Command::Scale(ScaleCmd::Add(a)) => {
            let mut v = unlock(&cli)?;
            let id = v.add_scale(
                &a.case,
                &ScaleInput {
                    score: a.score,
                    date: a.date.clone(),
                    view: a
                        .view
                        .as_deref()
                        .map(|s| ScaleView::parse("--view", s))
                        .transpose()?,
                    note: a.note.clone(),
                    question: a.question.clone(),
                },
            )?;
            out.id(&id);
            Ok(())
        }
        Command::Sos(c) => Ok(sos_cmd(&mut unlock(&cli)?, c, out)?),
        Command::Concern(c) => Ok(concern_cmd(&mut unlock(&cli)?, c, out)?),
        Command::Consent(c) => Ok(consent_cmd(&mut unlock(&cli)?, c, out)?),
        Command::Referral(ReferralCmd::Add(a)) => {
            let mut v = unlock(&cli)?;
            let id = v.add_referral(
                &a.case,
                &ReferralInput {
                    agency: a.agency.clone(),
                    reason: a.reason.clone(),
                    date: a.date.clone(),
                    status: a
                        .status
                        .as_deref()
                        .map(|s| ReferralStatus::parse("--status", s))
                        .transpose()?,
                },
            )?;
            out.id(&id);
            Ok(())
        }
        Command::Meeting(MeetingCmd::Add(a)) => {
            let mut v = unlock(&cli)?;
            let id = v.add_meeting(
                &a.case,
                &MeetingInput {
                    kind: MeetingKind::parse("--kind", &a.kind)?,
                    date: a.date.clone(),
                    attendees: a.attendee.clone(),
                    summary: a.summary.clone().unwrap_or_default(),
                },
            )?;
            out.id(&id);
            Ok(())
        }
        Command::Event(EventCmd::Add(a)) => {
            let mut v = unlock(&cli)?;
            let id = v.add_event(
                &a.case,
                &EventInput {
                    kind: EventKind::parse("--kind", &a.kind)?,
                    date: a.date.clone(),
                    note: a.note.clone(),
                },
            )?;
            out.id(&id);
            Ok(())
        }
        Command::Export(a) => export(&mut unlock(&cli)?, a, out),
        Command::Passphrase(PassphraseCmd::Change) => {
            let mut v = unlock(&cli)?;
            let new = read_secret("OUTREACH_NEW_PASSPHRASE", "New passphrase: ")?;
            if std::env::var("OUTREACH_NEW_PASSPHRASE").is_err() {
                let again = read_secret("OUTREACH_NEW_PASSPHRASE", "Repeat new passphrase: ")?;
                if *again != *new {
                    return Err(
                        ValidationError::new("passphrase", "the two entries do not match").into(),
                    );
                }
            }
            v.change_passphrase(&new, None)?;
            out.done("passphrase changed", json!({"changed": true}));
            Ok(())
        }
        Command::Conflicts(a) => {
            let mut v = unlock(&cli)?;
            let conflicts = v.conflicts(&a.case)?;
            out.conflicts(&conflicts);
            Ok(())
        }
        Command::Resolve(a) => Ok(resolve(&mut unlock(&cli)?, a, out)?),
        Command::History(a) => {
            let mut v = unlock(&cli)?;
            out.history(&v.history(&a.case)?);
            Ok(())
        }
        Command::Enroll(a) => Ok(sync_cmd::enroll(&mut unlock(&cli)?, a, out)?),
        Command::Sync => Ok(sync_cmd::sync(&mut unlock(&cli)?, out)?),
        Command::AccessLog => {
            let v = unlock(&cli)?;
            out.access_log(&v.access_log()?);
            Ok(())
        }
        // No vault: the DPO's machine has none, and none is opened.
        Command::Recover(a) => recover_cmd::run(a, out).map_err(Failure::Recover),
        Command::Report(a) => report_cmd::run(&mut unlock(&cli)?, a, out),
        Command::Console(a) => console::run(unlock(&cli)?, a, out).map_err(|e| match e {
            console::ConsoleError::Core(e) => Failure::Core(e),
            e => Failure::Console(e),
        }),
        Command::Checkin(a) => Ok(safety_cmd::checkin(&mut unlock(&cli)?, a, out)?),
        Command::Checkout(a) => Ok(safety_cmd::checkout(&mut unlock(&cli)?, a, out)?),
        Command::Safety(a) => Ok(safety_cmd::safety(&mut unlock(&cli)?, a, out)?),
    }
}

fn init(cli: &Cli, a: &InitArgs, out: &Out) -> Result<(), Error> {
    let dir = vault_dir(cli)?;
    if outreach_core::vault::exists(&dir) {
        return Err(Error::VaultExists);
    }
    let pass = read_secret("OUTREACH_PASSPHRASE", "New passphrase: ")?;
    if std::env::var("OUTREACH_PASSPHRASE").is_err() {
        let again = read_secret("OUTREACH_PASSPHRASE", "Repeat passphrase: ")?;
        if *again != *pass {
            return Err(ValidationError::new("passphrase", "the two entries do not match").into());
        }
    }
    let practitioner = a
        .practitioner
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let options = VaultOptions {
        kdf: match a.kdf.as_str() {
            "standard" => KdfParams::DEFAULT,
            "minimum" => KdfParams::FLOOR,
            _ => {
                return Err(
                    ValidationError::new("--kdf", "must be one of: standard, minimum").into(),
                );
            }
        },
        wipe_after: a.wipe_after,
        practitioner,
        team: a.team.clone(),
    };
    let v = Vault::create(&dir, &pass, options, None)?;
    let s = v.settings()?;
    out.done(
        &format!(
            "vault created for {} (device {})",
            s.practitioner,
            s.device_id.chars().take(8).collect::<String>()
        ),
        json!({"created": true, "device_id": s.device_id}),
    );
    Ok(())
}

fn yes_no(field: &str, s: &Option<String>) -> Result<Option<bool>, Error> {
    match s.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(t) if matches!(t.as_str(), "yes" | "y" | "true") => Ok(Some(true)),
        Some(t) if matches!(t.as_str(), "no" | "n" | "false") => Ok(Some(false)),
        Some(_) => Err(ValidationError::new(field, "must be yes or no").into()),
    }
}

fn case_edit(a: &CaseFields, name: Option<String>) -> Result<CaseEdit, Error> {
    Ok(CaseEdit {
        preferred_name: name,
        legal_name: a.legal_name.clone(),
        date_of_birth: a.dob.clone(),
        phone: a.phone.clone(),
        address: a.address.clone(),
        care_leaver: yes_no("--care-leaver", &a.care_leaver)?,
        text_ok: yes_no("--text-ok", &a.text_ok)?,
        voicemail_ok: yes_no("--voicemail-ok", &a.voicemail_ok)?,
        code_word: a.code_word.clone(),
        safe_contact_notes: a.safe_contact_notes.clone(),
        children_count: a.children,
        children_age_bands: a.children_ages.clone(),
        children_legal_status: a.children_legal_status.clone(),
        children_contact: a.children_contact.clone(),
        referral_date: a.referral_date.clone(),
        referral_source: a.referral_source.clone(),
        phase: a
            .phase
            .as_deref()
            .map(|p| Phase::parse("--phase", p))
            .transpose()?,
        start_date: a.start_date.clone(),
        planned_end_date: a.planned_end_date.clone(),
        practitioners: if a.practitioner.is_empty() {
            None
        } else {
            Some(a.practitioner.clone())
        },
        team: a.team.clone(),
        exit_reason: None,
        contact_every_days: a.contact_every,
    })
}

fn case_cmd(v: &mut Vault, c: &CaseCmd, out: &Out) -> Result<(), Failure> {
    match c {
        CaseCmd::New(a) => {
            let id = v.create_case(&case_edit(&a.fields, Some(a.name.clone()))?)?;
            out.id(&id);
        }
        CaseCmd::List(a) => out.caseload(&v.caseload(a.all)?),
        CaseCmd::Show(a) => {
            let case = v.read_case(&a.case)?;
            let conflicts = v.conflicts(&a.case)?.len();
            out.case(&case, conflicts);
        }
        CaseCmd::Edit(a) => {
            v.edit_case(&a.case, &case_edit(&a.fields, a.name.clone())?)?;
            out.done("case updated", json!({"updated": true}));
        }
        CaseCmd::Timeline(a) => out.timeline(&v.timeline(&a.case)?),
        CaseCmd::Import(a) => {
            let bytes = std::fs::read(&a.file).map_err(|e| Failure::File {
                path: a.file.clone(),
                write: false,
                kind: e.kind(),
            })?;
            let id = v.import_case(&bytes)?;
            out.id(&id);
        }
        CaseCmd::Assign(a) => sync_cmd::assign(v, a, out)?,
        CaseCmd::Transfer(a) => sync_cmd::transfer(v, a, out)?,
        CaseCmd::Close(a) => {
            let reason = ExitReason::parse("--reason", &a.reason)?;
            v.close_case(&a.case, reason, a.note.as_deref(), a.on.as_deref())?;
            out.done(
                "case closed",
                json!({"closed": true, "reason": reason.as_str()}),
            );
        }
        CaseCmd::Reopen(a) => {
            let phase = a
                .phase
                .as_deref()
                .map(|p| Phase::parse("--phase", p))
                .transpose()?;
            v.reopen_case(&a.case, phase)?;
            out.done("case reopened", json!({"reopened": true}));
        }
        CaseCmd::Forget(a) => {
            let id = v.forget_case(&a.case)?;
            out.done(
                "case removed from this device, with its keys; other devices and the server keep it, and anything still sent here for it is dropped",
                json!({"forgotten": id}),
            );
        }
    }
    Ok(())
}

/// The contact form's flags as a draft (every field optional); `visit add`
/// then requires the form to be complete, `visit amend` lays it over the
/// visit as recorded.
fn visit_draft(a: &VisitFields) -> Result<VisitDraft, Error> {
    Ok(VisitDraft {
        at: a.at.clone(),
        kind: a
            .kind
            .as_deref()
            .map(|k| ContactKind::parse("--kind", k))
            .transpose()?,
        outcome: a
            .outcome
            .as_deref()
            .map(|o| Outcome::parse("--outcome", o))
            .transpose()?,
        note: a.note.clone(),
        planned_at: a.planned.clone(),
        ended_at: a.ended.clone(),
        present: a.present.clone(),
        domains: a
            .domain
            .iter()
            .map(|d| Domain::parse("--domain", d))
            .collect::<Result<_, _>>()?,
        her_words: a.her_words.clone(),
        wellbeing: a.wellbeing,
        actions_agreed: a.actions.clone(),
        next_contact_due: a.next.clone(),
        checked_in_at: a.check_in.clone(),
        checked_out_at: a.check_out.clone(),
    })
}

fn visit_cmd(v: &mut Vault, c: &VisitCmd, out: &Out) -> Result<(), Error> {
    match c {
        VisitCmd::Add(a) => {
            for (flag, given) in [
                ("--at", a.fields.at.is_some()),
                ("--kind", a.fields.kind.is_some()),
                ("--outcome", a.fields.outcome.is_some()),
                ("--note", a.fields.note.is_some()),
            ] {
                if !given {
                    return Err(
                        ValidationError::new(flag, "is required to record a contact").into(),
                    );
                }
            }
            let input = visit_draft(&a.fields)?.complete()?;
            if a.safety_checkout {
                return safety_cmd::visit_and_checkout(v, &a.case, &input, out);
            }
            let id = v.add_visit(&a.case, &input)?;
            out.id(&id);
        }
        VisitCmd::Pending => out.pending(&v.pending_visits()?),
        VisitCmd::Amend(a) => {
            let id = v.amend_visit(&a.case, &a.visit, &visit_draft(&a.fields)?)?;
            out.done(
                "visit amended: awaiting sign-off again",
                json!({"visit": id, "review": "amended-awaiting-sign-off"}),
            );
        }
        VisitCmd::SignOff(a) => {
            let decision = if a.r#return {
                SignOffDecision::Returned
            } else {
                SignOffDecision::SignedOff
            };
            v.sign_off_visit(&a.case, &a.visit, decision, a.comment.as_deref())?;
            out.done(
                match decision {
                    SignOffDecision::Returned => "visit returned for amendment",
                    _ => "visit signed off",
                },
                json!({"decision": decision.as_str()}),
            );
        }
    }
    Ok(())
}

fn goal_cmd(v: &mut Vault, c: &GoalCmd, out: &Out) -> Result<(), Error> {
    match c {
        GoalCmd::Add(a) => {
            let id = v.add_goal(
                &a.case,
                &GoalInput {
                    domain: Domain::parse("--domain", &a.domain)?,
                    text: a.text.clone().unwrap_or_default(),
                    status: a
                        .status
                        .as_deref()
                        .map(|s| GoalStatus::parse("--status", s))
                        .transpose()?,
                    target_date: a.target.clone(),
                    review_date: a.review.clone(),
                },
            )?;
            out.id(&id);
        }
        GoalCmd::Action(a) => {
            let id = v.add_action(
                &a.case,
                &a.goal,
                &ActionInput {
                    text: a.text.clone(),
                    owner: a
                        .owner
                        .as_deref()
                        .map(|s| ActionOwner::parse("--owner", s))
                        .transpose()?,
                    due: a.due.clone(),
                },
            )?;
            out.id(&id);
        }
        GoalCmd::Done(a) => {
            v.complete_action(&a.case, &a.goal, &a.action, a.date.as_deref())?;
            out.done("action marked done", json!({"done": true}));
        }
        GoalCmd::Status(a) => {
            v.set_goal_status(&a.case, &a.goal, GoalStatus::parse("STATUS", &a.status)?)?;
            out.done("goal status changed", json!({"updated": true}));
        }
    }
    Ok(())
}

fn sos_cmd(v: &mut Vault, c: &SosCmd, out: &Out) -> Result<(), Error> {
    let id = match c {
        SosCmd::Add(a) => v.add_sos_entry(
            &a.case,
            SosColumn::parse("--column", &a.column)?,
            &a.text,
            a.kind
                .as_deref()
                .map(|k| WorryKind::parse("--kind", k))
                .transpose()?,
        )?,
        SosCmd::Danger(a) => v.add_danger_statement(&a.case, &a.danger, &a.safety_goal)?,
        SosCmd::Update(a) => v.update_sos(
            &a.case,
            &a.entry,
            &SosUpdate {
                text: a.text.clone(),
                kind: a
                    .kind
                    .as_deref()
                    .map(|k| WorryKind::parse("--kind", k))
                    .transpose()?,
                status: a
                    .status
                    .as_deref()
                    .map(|k| SosStatus::parse("--status", k))
                    .transpose()?,
                danger: a.danger.clone(),
                safety_goal: a.safety_goal.clone(),
            },
        )?,
    };
    out.id(&id);
    Ok(())
}

fn concern_cmd(v: &mut Vault, c: &ConcernCmd, out: &Out) -> Result<(), Error> {
    match c {
        ConcernCmd::Add(a) => {
            let id = v.add_concern(
                &a.case,
                &ConcernInput {
                    category: a.category.clone(),
                    severity: Severity::parse("--severity", &a.severity)?,
                    description: a.text.clone(),
                    escalated_to: a.escalate_to.clone(),
                },
            )?;
            out.id(&id);
        }
        ConcernCmd::Update(a) => {
            v.update_concern(
                &a.case,
                &a.concern,
                &ConcernUpdate {
                    status: a
                        .status
                        .as_deref()
                        .map(|s| ConcernStatus::parse("--status", s))
                        .transpose()?,
                    severity: a
                        .severity
                        .as_deref()
                        .map(|s| Severity::parse("--severity", s))
                        .transpose()?,
                    escalated_to: a.escalate_to.clone(),
                },
            )?;
            out.done("concern updated", json!({"updated": true}));
        }
        ConcernCmd::List => out.concerns(&v.open_concerns()?),
    }
    Ok(())
}

fn consent_cmd(v: &mut Vault, c: &ConsentCmd, out: &Out) -> Result<(), Error> {
    match c {
        ConsentCmd::Add(a) => {
            let id = v.add_consent(
                &a.case,
                &ConsentInput {
                    what: a.what.clone(),
                    given_on: a.date.clone(),
                },
            )?;
            out.id(&id);
        }
        ConsentCmd::Withdraw(a) => {
            v.withdraw_consent(&a.case, &a.consent, a.date.as_deref())?;
            out.done("consent withdrawn", json!({"withdrawn": true}));
        }
    }
    Ok(())
}

fn export(v: &mut Vault, a: &ExportArgs, out: &Out) -> Result<(), Failure> {
    let format = ExportFormat::parse("--format", &a.format)?;
    // The file first: an export that cannot be written is not recorded.
    let file = create_private(&a.out)?;
    let bytes = (|| -> Result<Vec<u8>, Failure> {
        Ok(match v.export(&a.case, format)? {
            Exported::Json(export) => {
                let mut b =
                    serde_json::to_vec_pretty(&export).map_err(|e| Error::Io(e.to_string()))?;
                b.push(b'\n');
                b
            }
            Exported::Automerge(bytes) => bytes,
        })
    })();
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(&a.out);
            return Err(e);
        }
    };
    write_all_private(file, &a.out, &bytes)?;
    out.done(
        &format!("exported {} bytes to {}", bytes.len(), a.out.display()),
        json!({"bytes": bytes.len(), "out": a.out}),
    );
    Ok(())
}

/// Creates an export file readable by its owner only, never over an
/// existing one.
fn create_private(path: &std::path::Path) -> Result<std::fs::File, Failure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| Failure::File {
        path: path.to_path_buf(),
        write: true,
        kind: e.kind(),
    })
}

/// Writes and syncs an export; never leaves a partial file behind.
fn write_all_private(
    mut f: std::fs::File,
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<(), Failure> {
    use std::io::Write;
    if let Err(e) = f.write_all(bytes).and_then(|()| f.sync_all()) {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(Failure::File {
            path: path.to_path_buf(),
            write: true,
            kind: e.kind(),
        });
    }
    Ok(())
}

fn resolve(v: &mut Vault, a: &ResolveArgs, out: &Out) -> Result<(), Error> {
    let value = match (&a.pick, &a.value) {
        (Some(n), None) => {
            let conflicts = v.conflicts(&a.case)?;
            let c = conflicts
                .iter()
                .find(|c| c.field == a.field)
                .ok_or(Error::NoSuchConflict)?;
            let idx = n
                .checked_sub(1)
                .filter(|i| *i < c.values.len())
                .ok_or_else(|| {
                    ValidationError::new(
                        "--pick",
                        format!("must be between 1 and {}", c.values.len()),
                    )
                })?;
            c.values[idx].value.clone()
        }
        (None, Some(text)) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
        _ => {
            return Err(
                ValidationError::new("--pick", "give either --pick N or --value VALUE").into(),
            );
        }
    };
    v.resolve_conflict(&a.case, &a.field, value)?;
    out.done("conflict resolved", json!({"resolved": a.field}));
    Ok(())
}
