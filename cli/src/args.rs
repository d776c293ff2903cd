//! Command-line grammar. `--vault` and `--json` are global, so they may appear
//! before or after the subcommand.

// Parsed once per process; boxing variants would only add noise.
#![allow(clippy::large_enum_variant)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "outreach",
    version,
    about = "Outreach: encrypted case records for Pause practitioners",
    after_help = "\
Passphrase: OUTREACH_PASSPHRASE or a no-echo prompt. `passphrase change` takes the new one
from OUTREACH_NEW_PASSPHRASE or a prompt; off a terminal the variables are required.

Errors are one line on stderr; with --json also {\"error\": {\"code\": …, \"message\": …}} on stdout.
Exit codes:
  0  ok
  1  refused: an invalid value, an unknown id, not allowed, a file or server problem
  2  usage: unknown command or flag, a required flag or argument missing, a number
     that is not a number
  3  wrong passphrase
  4  the vault is gone: wiped after too many wrong passphrases, or the device was revoked
  5  recover: finished, but some cases could not be (fully) recovered: see the summary"
)]
pub struct Cli {
    /// Vault folder
    #[arg(long, global = true, env = "OUTREACH_VAULT", value_name = "DIR")]
    pub vault: Option<PathBuf>,
    /// Machine-readable JSON output
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a new vault (passphrase from OUTREACH_PASSPHRASE or a prompt)
    Init(InitArgs),
    /// Cases: new, list (caseload), show, edit, timeline
    #[command(subcommand)]
    Case(CaseCmd),
    /// Contacts and visits
    #[command(subcommand)]
    Visit(VisitCmd),
    /// Support plan goals and their actions
    #[command(subcommand)]
    Goal(GoalCmd),
    /// Signs of Safety 0–10 scaling
    #[command(subcommand)]
    Scale(ScaleCmd),
    /// Signs of Safety map: worries, what's working well, what needs to happen, danger statements
    #[command(subcommand)]
    Sos(SosCmd),
    /// Safeguarding concerns
    #[command(subcommand)]
    Concern(ConcernCmd),
    /// Consent given and withdrawn
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Referrals to other agencies
    #[command(subcommand)]
    Referral(ReferralCmd),
    /// FGC, network and professionals meetings
    #[command(subcommand)]
    Meeting(MeetingCmd),
    /// Programme events (pregnancy, proceedings, exit…)
    #[command(subcommand)]
    Event(EventCmd),
    /// Subject access export of one case
    Export(ExportArgs),
    /// Change the vault passphrase (new one from OUTREACH_NEW_PASSPHRASE or a prompt; off a terminal the variable is required)
    #[command(subcommand)]
    Passphrase(PassphraseCmd),
    /// Fields set differently on two devices, with every value
    Conflicts(CaseArg),
    /// Settle a conflict: keep one of its values (--pick N) or set a new one (--value)
    Resolve(ResolveArgs),
    /// Who changed a case, what and when
    History(CaseArg),
    /// Enrol this device with the organisation's sync server (one-time code from your admin)
    Enroll(EnrollArgs),
    /// Upload what you recorded and receive your team's changes
    Sync,
    /// This device's access log: every export made here (who, when, which case, which format)
    AccessLog,
    /// DPO: rebuild cases from a copy of the server's data with the organisation's recovery key
    /// (offline; needs no vault, never writes into the server's data)
    Recover(RecoverArgs),
    /// Supervisors: the OBA report card (how much, how well, is anyone better off) over the
    /// cases this device holds — counts and percentages only (definitions: docs/REPORTS.md)
    Report(crate::report_cmd::ReportArgs),
    /// Supervisors: this vault in your browser, on this computer only (127.0.0.1): caseload,
    /// cases, sign-off queue, concerns, conflicts, report card, sync
    Console(crate::console::ConsoleArgs),
    /// Lone working: check in before a visit (CASE --until TIME [--note TEXT]); someone is
    /// alerted if you do not check out. `checkin --extend 30m` moves the deadline
    Checkin(crate::safety_cmd::CheckinArgs),
    /// Lone working: check out after a visit (CASE needed only when checked in to several)
    Checkout(crate::safety_cmd::CheckoutArgs),
    /// Lone working: open alerts first, then active check-ins (supervisors: the team's, with
    /// their notes); `safety ack ID` acknowledges an alert
    Safety(crate::safety_cmd::SafetyArgs),
}

#[derive(Args)]
pub struct RecoverArgs {
    /// The organisation's recovery key file (written once by `outreach-server init`)
    #[arg(long, value_name = "FILE")]
    pub recovery_key: PathBuf,
    /// The server's data folder (the one holding outreach-server.db), or a copy of it; only read
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "database",
        conflicts_with = "database"
    )]
    pub server_data: Option<PathBuf>,
    /// Instead of --server-data: the server's PostgreSQL database (postgres://USER@HOST/DB), read in one read-only transaction
    #[arg(long, value_name = "URL", env = "OUTREACH_SERVER_DATABASE")]
    pub database: Option<String>,
    /// Recover only this case: a full case id or a unique prefix (repeat for several; default: all)
    #[arg(long = "case", value_name = "ID")]
    pub cases: Vec<String>,
    /// Folder for the exports, RECOVERY-SUMMARY.json and ACCESS-LOG.jsonl (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct EnrollArgs {
    /// The sync server, e.g. https://outreach.council.example
    #[arg(long)]
    pub server: String,
    /// The one-time enrolment code
    #[arg(long)]
    pub code: String,
    /// Allow plain http:// to a server that is not on this machine (test servers only)
    #[arg(long)]
    pub allow_insecure_http: bool,
}

#[derive(Args)]
pub struct AssignArgs {
    /// Case id (or a unique prefix of at least 4 characters)
    pub case: String,
    /// The user's name as the admin registered it
    #[arg(long)]
    pub to: String,
}

#[derive(Args)]
pub struct InitArgs {
    /// Your name, recorded as the author of your changes (default: $USER)
    #[arg(long)]
    pub practitioner: Option<String>,
    /// Your team
    #[arg(long)]
    pub team: Option<String>,
    /// Wrong passphrases allowed before the vault wipes itself
    #[arg(long, default_value_t = 10)]
    pub wipe_after: u32,
    /// Key-derivation cost: standard (Argon2id 64 MiB, t=3, p=4) or minimum (OWASP floor: 19 MiB, t=2, p=1; for slow test machines)
    #[arg(long, default_value = "standard")]
    pub kdf: String,
}

#[derive(Args)]
pub struct CaseArg {
    /// Case id (or a unique prefix of at least 4 characters)
    pub case: String,
}

/// Profile and programme fields shared by `case new` and `case edit`.
#[derive(Args)]
pub struct CaseFields {
    #[arg(long)]
    pub legal_name: Option<String>,
    /// Date of birth, YYYY-MM-DD
    #[arg(long)]
    pub dob: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub address: Option<String>,
    /// yes or no
    #[arg(long)]
    pub care_leaver: Option<String>,
    /// Is a text message safe? yes or no
    #[arg(long)]
    pub text_ok: Option<String>,
    /// Is a voicemail safe? yes or no
    #[arg(long)]
    pub voicemail_ok: Option<String>,
    #[arg(long)]
    pub code_word: Option<String>,
    #[arg(long)]
    pub safe_contact_notes: Option<String>,
    /// Number of children
    #[arg(long)]
    pub children: Option<u32>,
    #[arg(long)]
    pub children_ages: Option<String>,
    #[arg(long)]
    pub children_legal_status: Option<String>,
    #[arg(long)]
    pub children_contact: Option<String>,
    /// YYYY-MM-DD
    #[arg(long)]
    pub referral_date: Option<String>,
    #[arg(long)]
    pub referral_source: Option<String>,
    /// referred, engagement, programme, next-steps, closed
    #[arg(long)]
    pub phase: Option<String>,
    /// YYYY-MM-DD
    #[arg(long)]
    pub start_date: Option<String>,
    /// YYYY-MM-DD
    #[arg(long)]
    pub planned_end_date: Option<String>,
    /// Assigned practitioner (repeat for several)
    #[arg(long)]
    pub practitioner: Vec<String>,
    #[arg(long)]
    pub team: Option<String>,
    /// Days between contacts when a contact sets no next date (default 14)
    #[arg(long)]
    pub contact_every: Option<u32>,
}

#[derive(Subcommand)]
pub enum CaseCmd {
    /// Open a new case; prints its id
    New(CaseNewArgs),
    /// The caseload: who is due or overdue a contact (open cases; --all adds closed ones)
    List(CaseListArgs),
    /// One case in full
    Show(CaseArg),
    /// Change profile or programme fields
    Edit(CaseEditArgs),
    /// Everything dated in a case, newest first
    Timeline(CaseArg),
    /// Add or merge a case document from another device (an `export --format automerge` file)
    Import(ImportArgs),
    /// Share a case with a practitioner (supervisors); her devices get it on their next sync
    Assign(AssignArgs),
    /// Hand a case to another practitioner (supervisors): she holds it from now on, and it leaves the previous practitioner's devices on their next sync
    Transfer(AssignArgs),
    /// Close a case: she has left the programme (--reason)
    Close(CaseCloseArgs),
    /// Reopen a closed case
    Reopen(CaseReopenArgs),
    /// Remove a closed case, or one transferred away, from this device only (refused while anything written here is unsent)
    Forget(CaseArg),
}

#[derive(Args)]
pub struct CaseListArgs {
    /// Include closed cases
    #[arg(long)]
    pub all: bool,
}

#[derive(Args)]
pub struct CaseCloseArgs {
    pub case: String,
    /// completed, disengaged, withdrew, moved-away, pregnancy, custody, transferred, other
    #[arg(long)]
    pub reason: String,
    /// A note on the ending
    #[arg(long)]
    pub note: Option<String>,
    /// YYYY-MM-DD (default today)
    #[arg(long)]
    pub on: Option<String>,
}

#[derive(Args)]
pub struct CaseReopenArgs {
    pub case: String,
    /// Phase to reopen in: referred, engagement, programme, next-steps (default programme)
    #[arg(long)]
    pub phase: Option<String>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The Automerge file
    pub file: PathBuf,
}

#[derive(Args)]
pub struct CaseNewArgs {
    /// Preferred name
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub fields: CaseFields,
}

#[derive(Args)]
pub struct CaseEditArgs {
    pub case: String,
    /// Preferred name
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub fields: CaseFields,
}

#[derive(Subcommand)]
pub enum VisitCmd {
    /// Record a contact; prints its id
    Add(VisitAddArgs),
    /// Sign a visit off, or return it for amendment (--return --comment); supervisors of the team
    SignOff(SignOffArgs),
    /// Visits awaiting sign-off (supervisor: the team's; practitioner: her own, returned first)
    Pending,
    /// Amend a visit returned to you: the fields given replace their values
    Amend(VisitAmendArgs),
}

#[derive(Args)]
#[command(
    mut_arg("at", |a| a.required(true)),
    mut_arg("kind", |a| a.required(true)),
    mut_arg("outcome", |a| a.required(true)),
    mut_arg("note", |a| a.required(true))
)]
pub struct VisitAddArgs {
    pub case: String,
    #[command(flatten)]
    pub fields: VisitFields,
    /// Also check out of your lone-working check-in for this case (the visit's --check-in and
    /// --check-out, unless given, are the check-in's start and now)
    #[arg(long)]
    pub safety_checkout: bool,
}

#[derive(Args)]
pub struct VisitAmendArgs {
    pub case: String,
    /// Visit id (or a unique prefix of at least 4 characters)
    pub visit: String,
    #[command(flatten)]
    pub fields: VisitFields,
}

/// The contact form's flags, shared by `visit add` (where --at, --kind,
/// --outcome and --note are required) and `visit amend` (all optional).
#[derive(Args)]
pub struct VisitFields {
    /// When it happened, RFC 3339 (2026-11-27T10:30:00Z)
    #[arg(long)]
    pub at: Option<String>,
    /// home, community, office, accompanied, phone, video, text, attempted
    #[arg(long)]
    pub kind: Option<String>,
    /// completed, no-answer, cancelled, rescheduled
    #[arg(long)]
    pub outcome: Option<String>,
    /// Practitioner's note
    #[arg(long)]
    pub note: Option<String>,
    /// Next contact due, RFC 3339
    #[arg(long)]
    pub next: Option<String>,
    /// Wellbeing score 0–10
    #[arg(long, allow_negative_numbers = true)]
    pub wellbeing: Option<i64>,
    /// Her own words
    #[arg(long)]
    pub her_words: Option<String>,
    /// Actions agreed
    #[arg(long)]
    pub actions: Option<String>,
    /// Support plan domain covered (repeat for several)
    #[arg(long)]
    pub domain: Vec<String>,
    /// Who was present (repeat for several)
    #[arg(long)]
    pub present: Vec<String>,
    /// Planned time, RFC 3339
    #[arg(long)]
    pub planned: Option<String>,
    /// End time, RFC 3339
    #[arg(long)]
    pub ended: Option<String>,
    /// Lone-working check-in, RFC 3339
    #[arg(long)]
    pub check_in: Option<String>,
    /// Lone-working check-out, RFC 3339
    #[arg(long)]
    pub check_out: Option<String>,
}

#[derive(Args)]
pub struct SignOffArgs {
    pub case: String,
    pub visit: String,
    /// Return for amendment instead of signing off (needs --comment)
    #[arg(long)]
    pub r#return: bool,
    #[arg(long)]
    pub comment: Option<String>,
}

#[derive(Subcommand)]
pub enum GoalCmd {
    /// Add a support plan goal; prints its id
    Add(GoalAddArgs),
    /// Add an action to a goal; prints its id
    Action(GoalActionArgs),
    /// Mark an action done
    Done(GoalDoneArgs),
    /// Set a goal's status
    Status(GoalStatusArgs),
}

#[derive(Args)]
pub struct GoalAddArgs {
    pub case: String,
    /// housing, mental-health, physical-health, contraception, substance-use, domestic-abuse, finance, education-employment, relationships-children, legal, loss-trauma, other
    #[arg(long)]
    pub domain: String,
    /// The goal (for contraception: only "pause agreed")
    #[arg(long)]
    pub text: Option<String>,
    /// not-started, in-progress, achieved, on-hold, stopped
    #[arg(long)]
    pub status: Option<String>,
    /// Target date, YYYY-MM-DD
    #[arg(long)]
    pub target: Option<String>,
    /// Review date, YYYY-MM-DD
    #[arg(long)]
    pub review: Option<String>,
}

#[derive(Args)]
pub struct GoalActionArgs {
    pub case: String,
    pub goal: String,
    #[arg(long)]
    pub text: String,
    /// woman, practitioner, agency
    #[arg(long)]
    pub owner: Option<String>,
    /// YYYY-MM-DD
    #[arg(long)]
    pub due: Option<String>,
}

#[derive(Args)]
pub struct GoalDoneArgs {
    pub case: String,
    pub goal: String,
    pub action: String,
    /// YYYY-MM-DD (default today)
    #[arg(long)]
    pub date: Option<String>,
}

#[derive(Args)]
pub struct GoalStatusArgs {
    pub case: String,
    pub goal: String,
    /// not-started, in-progress, achieved, on-hold, stopped
    pub status: String,
}

#[derive(Subcommand)]
pub enum ScaleCmd {
    /// Add a 0–10 scaling reading; prints its id
    Add(ScaleAddArgs),
}

#[derive(Args)]
pub struct ScaleAddArgs {
    pub case: String,
    #[arg(long, allow_negative_numbers = true)]
    pub score: i64,
    /// YYYY-MM-DD (default today)
    #[arg(long)]
    pub date: Option<String>,
    /// Whose view: woman, practitioner, social-worker, other
    #[arg(long)]
    pub view: Option<String>,
    #[arg(long)]
    pub note: Option<String>,
    /// The scaling question asked
    #[arg(long)]
    pub question: Option<String>,
}

#[derive(Subcommand)]
pub enum SosCmd {
    /// Add to a column: worries, working-well, needs-to-happen
    Add(SosAddArgs),
    /// Add a danger statement with its safety goal
    Danger(SosDangerArgs),
    /// Revise an entry or danger statement, or mark it resolved / open again
    Update(SosUpdateArgs),
}

#[derive(Args)]
pub struct SosAddArgs {
    pub case: String,
    #[arg(long)]
    pub column: String,
    #[arg(long)]
    pub text: String,
    /// For worries: harm (past harm), danger (future danger), complicating (complicating factor)
    #[arg(long)]
    pub kind: Option<String>,
}

#[derive(Args)]
pub struct SosUpdateArgs {
    pub case: String,
    /// Entry id (or a unique prefix of at least 4 characters)
    pub entry: String,
    #[arg(long)]
    pub text: Option<String>,
    /// For worries: harm, danger, complicating
    #[arg(long)]
    pub kind: Option<String>,
    /// open or resolved
    #[arg(long)]
    pub status: Option<String>,
    /// Danger statements: the danger
    #[arg(long)]
    pub danger: Option<String>,
    /// Danger statements: the safety goal
    #[arg(long)]
    pub safety_goal: Option<String>,
}

#[derive(Args)]
pub struct SosDangerArgs {
    pub case: String,
    #[arg(long)]
    pub danger: String,
    #[arg(long)]
    pub safety_goal: String,
}

#[derive(Subcommand)]
pub enum ConcernCmd {
    /// Raise a concern; prints its id
    Add(ConcernAddArgs),
    /// Change a concern's status, severity or escalation
    Update(ConcernUpdateArgs),
    /// Open concerns across the caseload, most severe first
    List,
}

#[derive(Args)]
pub struct ConcernAddArgs {
    pub case: String,
    #[arg(long)]
    pub category: String,
    /// low, medium, high
    #[arg(long)]
    pub severity: String,
    #[arg(long)]
    pub text: String,
    /// Escalated to (person or body)
    #[arg(long)]
    pub escalate_to: Option<String>,
}

#[derive(Args)]
pub struct ConcernUpdateArgs {
    pub case: String,
    pub concern: String,
    /// open, escalated, monitoring, closed
    #[arg(long)]
    pub status: Option<String>,
    /// low, medium, high
    #[arg(long)]
    pub severity: Option<String>,
    #[arg(long)]
    pub escalate_to: Option<String>,
}

#[derive(Subcommand)]
pub enum ConsentCmd {
    /// Record consent; prints its id
    Add(ConsentAddArgs),
    /// Record that consent was withdrawn
    Withdraw(ConsentWithdrawArgs),
}

#[derive(Args)]
pub struct ConsentAddArgs {
    pub case: String,
    /// What was agreed
    #[arg(long)]
    pub what: String,
    /// YYYY-MM-DD (default today)
    #[arg(long)]
    pub date: Option<String>,
}

#[derive(Args)]
pub struct ConsentWithdrawArgs {
    pub case: String,
    pub consent: String,
    /// YYYY-MM-DD (default today)
    #[arg(long)]
    pub date: Option<String>,
}

#[derive(Subcommand)]
pub enum ReferralCmd {
    /// Record a referral; prints its id
    Add(ReferralAddArgs),
}

#[derive(Args)]
pub struct ReferralAddArgs {
    pub case: String,
    #[arg(long)]
    pub agency: String,
    #[arg(long)]
    pub reason: String,
    /// YYYY-MM-DD (default today)
    #[arg(long)]
    pub date: Option<String>,
    /// made, accepted, declined, completed
    #[arg(long)]
    pub status: Option<String>,
}

#[derive(Subcommand)]
pub enum MeetingCmd {
    /// Record a meeting; prints its id
    Add(MeetingAddArgs),
}

#[derive(Args)]
pub struct MeetingAddArgs {
    pub case: String,
    /// fgc, network, professionals, review
    #[arg(long)]
    pub kind: String,
    /// YYYY-MM-DD
    #[arg(long)]
    pub date: String,
    /// Attendee (repeat for several)
    #[arg(long)]
    pub attendee: Vec<String>,
    #[arg(long)]
    pub summary: Option<String>,
}

#[derive(Subcommand)]
pub enum EventCmd {
    /// Record a programme event; prints its id
    Add(EventAddArgs),
}

#[derive(Args)]
pub struct EventAddArgs {
    pub case: String,
    /// pregnancy, birth, new-proceedings, proceedings-concluded, exit, other
    #[arg(long)]
    pub kind: String,
    /// YYYY-MM-DD
    #[arg(long)]
    pub date: String,
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Args)]
pub struct ExportArgs {
    pub case: String,
    /// json (documented schema, docs/EXPORT.md) or automerge (the raw document)
    #[arg(long)]
    pub format: String,
    /// Output file (must not exist; written readable by you only)
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Subcommand)]
pub enum PassphraseCmd {
    /// Re-wrap the vault key under a new passphrase
    Change,
}

#[derive(Args)]
pub struct ResolveArgs {
    pub case: String,
    /// The conflicting field, as `outreach conflicts` prints it (e.g. profile/phone)
    #[arg(long)]
    pub field: String,
    /// Keep value number N as listed by `outreach conflicts`
    #[arg(long)]
    pub pick: Option<usize>,
    /// Set this value instead (JSON, or plain text)
    #[arg(long)]
    pub value: Option<String>,
}
