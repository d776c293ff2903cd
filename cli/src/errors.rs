//! How the shell reports a failure: one line on stderr (`error: …`), with
//! `--json` also `{"error": {"code": …, "message": …}}` on stdout, and a
//! stable exit code.
//!
//! Exit codes: `0` ok; `1` refused — invalid value, unknown id, not allowed,
//! file or server problem; `2` usage — the command line itself is wrong
//! (unknown command or flag, missing required flag or argument, a number that
//! is not a number; reported by the argument parser); `3` wrong passphrase;
//! `4` the vault is gone — wiped after too many wrong passphrases, or the
//! device was revoked; `5` `recover` finished but some cases could not be
//! (fully) recovered (its summary, not an error object, is the JSON output).
//!
//! The core names the field it refused (`target_date`, as the apps' forms
//! know it); the shell names the flag the user typed (`--target`): [`FLAGS`]
//! is the one place that maps them. The core's messages themselves are never
//! changed (the apps show them).

use std::io::ErrorKind;
use std::path::PathBuf;

use outreach_core::{Error, ValidationError};
use serde_json::json;

/// Everything a shell command can fail with.
#[derive(Debug)]
pub enum Failure {
    Core(Error),
    /// A file the user named could not be read or written.
    File {
        path: PathBuf,
        write: bool,
        kind: ErrorKind,
    },
    /// The request was refused after the sync that precedes it had uploaded
    /// this many changes (so the next `sync` has nothing left to upload).
    AfterUpload {
        error: Error,
        uploaded: u64,
    },
    /// `recover` (no vault involved) could not run, or did not recover
    /// every case.
    Recover(crate::recover_cmd::RecoverFailure),
    /// `console` could not serve (its port, its web server).
    Console(crate::console::ConsoleError),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl From<ValidationError> for Failure {
    fn from(e: ValidationError) -> Self {
        Failure::Core(e.into())
    }
}

/// `(command, core field, flag)`: the flag of `command` that sets the core's
/// `field`. `*` applies to every command; an entry for the command itself
/// wins over it.
pub const FLAGS: &[(&str, &str, &str)] = &[
    // case new / case edit
    ("*", "preferred_name", "--name"),
    ("*", "legal_name", "--legal-name"),
    ("*", "date_of_birth", "--dob"),
    ("*", "phone", "--phone"),
    ("*", "address", "--address"),
    ("*", "code_word", "--code-word"),
    ("*", "safe_contact_notes", "--safe-contact-notes"),
    ("*", "children_count", "--children"),
    ("*", "children_age_bands", "--children-ages"),
    ("*", "children_legal_status", "--children-legal-status"),
    ("*", "children_contact", "--children-contact"),
    ("*", "referral_date", "--referral-date"),
    ("*", "referral_source", "--referral-source"),
    ("*", "start_date", "--start-date"),
    ("*", "planned_end_date", "--planned-end-date"),
    ("*", "practitioners", "--practitioner"),
    ("*", "team", "--team"),
    ("*", "contact_every_days", "--contact-every"),
    ("*", "phase", "--phase"),
    // visit add / visit amend / visit sign-off
    ("*", "at", "--at"),
    ("*", "kind", "--kind"),
    ("*", "outcome", "--outcome"),
    ("*", "note", "--note"),
    ("*", "planned_at", "--planned"),
    ("*", "ended_at", "--ended"),
    ("*", "checked_in_at", "--check-in"),
    ("*", "checked_out_at", "--check-out"),
    ("*", "next_contact_due", "--next"),
    ("*", "present", "--present"),
    ("*", "her_words", "--her-words"),
    ("*", "wellbeing", "--wellbeing"),
    ("*", "actions_agreed", "--actions"),
    ("*", "comment", "--comment"),
    // goals, scaling, Signs of Safety, concerns, consent, referrals, meetings, events
    ("*", "text", "--text"),
    ("*", "target_date", "--target"),
    ("*", "review_date", "--review"),
    ("*", "due", "--due"),
    ("*", "score", "--score"),
    ("*", "date", "--date"),
    ("*", "question", "--question"),
    ("*", "danger", "--danger"),
    ("*", "safety_goal", "--safety-goal"),
    ("*", "category", "--category"),
    ("*", "escalated_to", "--escalate-to"),
    ("*", "what", "--what"),
    ("*", "agency", "--agency"),
    ("*", "reason", "--reason"),
    ("*", "attendees", "--attendee"),
    ("*", "summary", "--summary"),
    ("goal done", "done", "--date"),
    ("consent add", "given_on", "--date"),
    ("consent withdraw", "withdrawn_on", "--date"),
    ("case close", "on", "--on"),
    ("case close", "exit_reason", "--reason"),
    ("report", "from", "--from"),
    ("report", "to", "--to"),
    ("report", "practitioner", "--practitioner"),
    // checkin
    ("*", "until", "--until"),
    ("*", "extend", "--extend"),
    // init, enroll
    ("*", "wipe_after", "--wipe-after"),
    ("*", "code", "--code"),
];

/// The flag of `command` (e.g. `goal add`) for the core's `field`.
pub fn flag_for(command: &str, field: &str) -> Option<&'static str> {
    let find = |c: &str| {
        FLAGS
            .iter()
            .find(|(cmd, f, _)| *cmd == c && *f == field)
            .map(|e| e.2)
    };
    find(command).or_else(|| find("*"))
}

/// A failure as the shell reports it.
pub struct Report {
    /// Stable, for scripts: one per kind of error.
    pub code: &'static str,
    /// One line, no record content.
    pub message: String,
    pub exit: u8,
    /// For invalid input: the flag at fault.
    pub flag: Option<String>,
    /// Changes the preceding sync uploaded before the refusal.
    pub uploaded_first: Option<u64>,
}

impl Report {
    pub fn to_json(&self) -> serde_json::Value {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some(f) = &self.flag {
            e["field"] = json!(f);
        }
        if let Some(n) = self.uploaded_first {
            e["uploaded_first"] = json!(n);
        }
        json!({ "error": e })
    }

    /// A command line the argument parser refused (exit 2).
    pub fn usage(message: String) -> Report {
        Report {
            code: "usage",
            message,
            exit: 2,
            flag: None,
            uploaded_first: None,
        }
    }
}

/// The stable `code` of each kind of core error.
pub fn code(e: &Error) -> &'static str {
    match e {
        Error::NoVault => "no_vault",
        Error::VaultExists => "vault_exists",
        Error::WrongPassphrase { .. } => "wrong_passphrase",
        Error::Wiped => "wiped",
        Error::Locked => "locked",
        Error::PlatformKeyRequired => "platform_key_required",
        Error::Platform(_) => "platform_key",
        Error::HeaderCorrupt => "vault_corrupt",
        Error::UnsafeKdfParams => "unsafe_kdf_params",
        Error::CorruptRecord { .. } => "corrupt_record",
        Error::SchemaTooNew { .. } => "schema_too_new",
        Error::UnknownCase => "unknown_case",
        Error::AmbiguousCase => "ambiguous_case",
        Error::UnknownRecord(_) => "unknown_record",
        Error::AmbiguousRecord(_) => "ambiguous_record",
        Error::NotSupervisor => "not_supervisor",
        Error::NotVisitAuthor => "not_visit_author",
        Error::NotReturned => "not_returned",
        Error::NotAllowedToTransfer => "not_allowed_to_transfer",
        Error::CaseClosed => "case_closed",
        Error::CaseNotClosed => "case_not_closed",
        Error::ForgetOpenCase => "case_still_open",
        Error::ForgetUnsent => "unsent_work",
        Error::CaseErased => "case_erased",
        Error::Invalid(_) => "invalid_input",
        Error::NoSuchConflict => "no_such_conflict",
        Error::Document(_) => "document",
        Error::Storage(_) => "storage",
        Error::Io(_) => "file",
        Error::Crypto(_) => "crypto",
        Error::NotEnrolled => "not_enrolled",
        Error::AlreadyEnrolled => "already_enrolled",
        Error::InsecureServer => "insecure_server",
        Error::BadServerUrl => "bad_server_url",
        Error::ServerUnreachable(_) => "server_unreachable",
        Error::ServerRefused(_) => "server_refused",
        Error::EnrolmentRefused(_) => "enrolment_refused",
        Error::DeviceRevoked => "device_revoked",
        Error::SyncProtocol(_) => "sync_protocol",
        Error::Cancelled => "cancelled",
        Error::QuickUnlockOff => "quick_unlock_off",
        Error::NotCheckedIn => "not_checked_in",
        Error::AlreadyCheckedIn => "already_checked_in",
        Error::SeveralCheckIns => "several_check_ins",
        Error::UnknownAlert => "unknown_alert",
        Error::NotAllowedToAcknowledge => "not_allowed_to_acknowledge",
        Error::SafetyRefused { .. } => "safety_refused",
        #[allow(unreachable_patterns)]
        _ => "error",
    }
}

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::WrongPassphrase { .. } => 3,
        Error::Wiped | Error::DeviceRevoked => 4,
        _ => 1,
    }
}

/// What went wrong with a file, in words (`write`: it was being written).
pub fn file_problem(kind: ErrorKind, write: bool) -> String {
    match kind {
        ErrorKind::NotFound if write => "the folder does not exist".to_string(),
        ErrorKind::NotFound => "the file does not exist".to_string(),
        ErrorKind::AlreadyExists => "the file already exists; choose another name".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        ErrorKind::IsADirectory => "it is a folder, not a file".to_string(),
        ErrorKind::NotADirectory => "part of the path is not a folder".to_string(),
        ErrorKind::StorageFull => "the disk is full".to_string(),
        other => other.to_string(),
    }
}

/// How `command` (`visit add`, `enroll`…) reports `failure`.
pub fn report(failure: Failure, command: &str) -> Report {
    match failure {
        Failure::Core(e) => core_report(e, command),
        Failure::AfterUpload { error, uploaded } => {
            let mut r = core_report(error, command);
            if uploaded > 0 {
                r.message = format!(
                    "{} (before asking, this device synced: {uploaded} change{} uploaded)",
                    r.message,
                    if uploaded == 1 { "" } else { "s" }
                );
            }
            r.uploaded_first = Some(uploaded);
            r
        }
        Failure::Console(e) => {
            let (code, flag) = e.report();
            Report {
                code,
                message: e.to_string(),
                exit: 1,
                flag: flag.map(str::to_string),
                uploaded_first: None,
            }
        }
        Failure::Recover(e) => {
            let (code, flag, exit) = e.report();
            Report {
                code,
                message: e.to_string(),
                exit,
                flag: flag.map(str::to_string),
                uploaded_first: None,
            }
        }
        Failure::File { path, write, kind } => {
            let verb = if write { "write" } else { "read" };
            let problem = file_problem(kind, write);
            Report {
                code: "file",
                message: format!("cannot {verb} {}: {problem}", path.display()),
                exit: 1,
                flag: None,
                uploaded_first: None,
            }
        }
    }
}

fn core_report(e: Error, command: &str) -> Report {
    let code = code(&e);
    let exit = exit_code(&e);
    match e {
        Error::Invalid(ValidationError { field, problem }) => {
            let flag = flag_for(command, &field).map(str::to_string);
            let shown = flag.clone().unwrap_or(field);
            let message = Error::Invalid(ValidationError::new(shown.clone(), problem)).to_string();
            Report {
                code,
                message,
                exit,
                flag: shown.starts_with("--").then_some(shown),
                uploaded_first: None,
            }
        }
        // The core's wording fits a sync that can be retried later; an
        // enrolment that never reached the server did nothing at all.
        Error::ServerUnreachable(detail) if command == "enroll" => Report {
            code,
            message: format!(
                "the sync server could not be reached ({detail}): check the server address and the network connection; nothing was enrolled, try again"
            ),
            exit,
            flag: None,
            uploaded_first: None,
        },
        e => Report {
            code,
            message: e.to_string(),
            exit,
            flag: None,
            uploaded_first: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn subcommand(path: &str) -> clap::Command {
        let mut cmd = crate::args::Cli::command();
        for name in path.split(' ') {
            cmd = cmd
                .find_subcommand(name)
                .unwrap_or_else(|| panic!("no command {path}"))
                .clone();
        }
        cmd
    }

    fn leaves(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let path = format!("{prefix}{}", sub.get_name());
            if sub.has_subcommands() {
                leaves(sub, &format!("{path} "), out);
            } else {
                out.push((path, sub.clone()));
            }
        }
    }

    fn has_flag(cmd: &clap::Command, flag: &str) -> bool {
        cmd.get_arguments()
            .any(|a| a.get_long() == flag.strip_prefix("--"))
    }

    #[test]
    fn every_flag_in_the_table_exists_on_its_command() {
        let mut all = Vec::new();
        leaves(&crate::args::Cli::command(), "", &mut all);
        for (command, field, flag) in FLAGS {
            if *command == "*" {
                assert!(
                    all.iter().any(|(_, c)| has_flag(c, flag)),
                    "{field} → {flag}: no command has {flag}"
                );
            } else {
                assert!(
                    has_flag(&subcommand(command), flag),
                    "{command} has no {flag}"
                );
            }
        }
    }

    #[test]
    fn fields_become_flags_and_the_message_is_otherwise_the_cores() {
        let r = report(
            Error::from(ValidationError::new("target_date", "must be a date")).into(),
            "goal add",
        );
        assert_eq!(r.message, "invalid input: --target: must be a date");
        assert_eq!(r.flag.as_deref(), Some("--target"));
        assert_eq!(r.exit, 1);
        let r = report(
            Error::from(ValidationError::new("done", "x")).into(),
            "goal done",
        );
        assert_eq!(r.flag.as_deref(), Some("--date"));
        let r = report(
            Error::from(ValidationError::new("passphrase", "x")).into(),
            "case list",
        );
        assert_eq!(r.message, "invalid input: passphrase: x");
        assert_eq!(r.flag, None);
    }
}
