//! `outreach-server`: the sync server and its admin commands.
//!
//! The admin commands open the same database as a running server (SQLite
//! locking makes that safe; on PostgreSQL, `--database URL`, any number of
//! servers and commands share it), so invites and revocations take effect
//! at once. Only `init` and `serve` create a database; every other admin
//! command refuses a data directory (or a PostgreSQL database) without one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use outreach_protocol::Role;
use outreach_server::keys;
use outreach_server::storage::erasure::{EraseError, date_of, parse_case_id, time_of};
use outreach_server::storage::postgres::{OpenError, PostgresStorage, is_postgres_url, redact_url};
use outreach_server::storage::{SqliteStorage, Storage, StorageError};

#[derive(Parser)]
#[command(
    name = "outreach-server",
    version,
    about = "Outreach sync server: stores and forwards ciphertext only"
)]
struct Cli {
    /// Data directory (database; on first start also the recovery key).
    #[arg(long, global = true, env = "OUTREACH_SERVER_DATA", default_value = outreach_server::DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// PostgreSQL instead of the embedded SQLite file: postgres://USER:PASSWORD@HOST:PORT/DATABASE (several servers may share it; --data then only holds the first run's recovery key file).
    #[arg(
        long,
        global = true,
        env = "OUTREACH_SERVER_DATABASE",
        hide_env_values = true,
        value_name = "URL"
    )]
    database: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Who is acting, for the admin log (default: your OS user name).
    #[arg(long, global = true, value_name = "NAME")]
    by: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the sync API (initialises an empty data directory first).
    Serve {
        #[arg(long, default_value = outreach_server::DEFAULT_LISTEN)]
        listen: String,
        /// Organisation name used if the data directory is empty.
        #[arg(long, default_value = "Outreach")]
        org: String,
        #[command(flatten)]
        limits: ServeLimits,
        #[command(flatten)]
        safety: SafetyArgs,
    },
    /// Create the organisation and its recovery key pair.
    Init {
        #[arg(long)]
        org: String,
        /// Where to write the recovery private key (move it offline!).
        #[arg(long)]
        recovery_key_out: PathBuf,
    },
    /// Create a one-time enrolment code for a user (new or existing).
    Invite {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["practitioner", "supervisor", "admin"])]
        role: String,
        #[arg(long)]
        team: Option<String>,
        /// Hours until the code expires.
        #[arg(long, default_value_t = outreach_server::DEFAULT_INVITE_HOURS)]
        expires_hours: u32,
    },
    /// List users and their devices.
    Devices,
    /// Revoke a device: refused at once, told to wipe on next contact.
    RevokeDevice {
        /// The device id, or its first 8 or more hex digits if no other device starts with them.
        device_id: String,
    },
    /// List items devices received but had to quarantine (ids and reasons, never content).
    Rejected,
    /// Erase a case for good: its data leaves the server and every device that holds it.
    EraseCase {
        /// The full case id (as `outreach case show` prints it).
        case: String,
        /// The same case id again, to confirm.
        #[arg(long, value_name = "CASE")]
        confirm: Option<String>,
    },
    /// List (and, without --dry-run, erase) cases closed before a date.
    Retention {
        /// Cases whose reported closure date is before this date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        closed_before: String,
        /// Only list them; erase nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The admin log: invitations, revocations, erasures, retention runs, assignments and transfers.
    Audit,
    /// After restoring the server's data from a backup (run before `serve`): every device then pulls the log again from its beginning and uploads everything it holds, so nothing written since the backup is lost.
    Restored,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error(transparent)]
    Erase(#[from] EraseError),
    #[error("{0}")]
    Usage(String),
    #[error("no server data in {0} (use --data or OUTREACH_SERVER_DATA)")]
    NoData(String),
    #[error("could not listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("server stopped with an error: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Safety(#[from] outreach_server::safety::SafetyConfigError),
    #[error(transparent)]
    Database(#[from] OpenError),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve {
            listen,
            org,
            limits,
            safety,
        } => {
            // Checked before anything is opened or created.
            let safety = safety.options()?;
            serve(
                &cli.data,
                cli.database.as_deref(),
                &listen,
                &org,
                cli.json,
                limits,
                safety,
            )
        }
        Command::Init {
            org,
            recovery_key_out,
        } => {
            let storage = open_storage(&cli.data, cli.database.as_deref())?;
            if storage.org()?.is_some() {
                return Err(StorageError::AlreadyInitialised.into());
            }
            let org = check_name("--org", &org)?;
            let pk = keys::write_recovery_key(&recovery_key_out, &org)?;
            storage.init_org(&org, pk, outreach_server::now())?;
            if cli.json {
                print_json(&serde_json::json!({
                    "organisation": org,
                    "recovery_public_key": hex::encode(pk),
                    "recovery_key_file": recovery_key_out.display().to_string(),
                }));
            } else {
                println!("Organisation '{org}' created.");
            }
            warn_recovery(&recovery_key_out);
            Ok(())
        }
        Command::Invite {
            name,
            role,
            team,
            expires_hours,
        } => {
            let storage = existing_storage(&cli.data, cli.database.as_deref())?;
            let name = check_name("--name", &name)?;
            let team = team.map(|t| check_name("--team", &t)).transpose()?;
            let role = Role::parse(&role).ok_or_else(|| CliError::Usage("unknown role".into()))?;
            if role != Role::Admin && team.is_none() {
                return Err(CliError::Usage(
                    "practitioners and supervisors need --team (cases belong to a team)".into(),
                ));
            }
            if !(1..=24 * 30).contains(&expires_hours) {
                return Err(CliError::Usage(
                    "--expires-hours must be between 1 and 720".into(),
                ));
            }
            let by = actor(cli.by.as_deref())?;
            let code = invite(&*storage, &name, role, team.as_deref(), expires_hours)?;
            storage.log_admin_action(
                &by,
                "invite",
                Some(&name),
                Some(&format!(
                    "{role}{}; code valid {expires_hours} h",
                    team.as_deref()
                        .map(|t| format!(", team {t}"))
                        .unwrap_or_default()
                )),
                outreach_server::now(),
            )?;
            if cli.json {
                print_json(&serde_json::json!({ "code": code, "expires_hours": expires_hours }));
            } else {
                println!("Enrolment code for {name} ({role}): {code}");
                println!(
                    "Valid once, for {expires_hours} hours. On the device: outreach enroll --server URL --code {code}"
                );
            }
            Ok(())
        }
        Command::Devices => {
            let storage = existing_storage(&cli.data, cli.database.as_deref())?;
            let list = storage.devices()?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else if list.is_empty() {
                println!(
                    "No users yet. Create one with: outreach-server invite --name NAME --role practitioner --team TEAM"
                );
            } else {
                println!(
                    "{:<24} {:<13} {:<12} {:<34} status",
                    "user", "role", "team", "device"
                );
                for d in list {
                    println!(
                        "{:<24} {:<13} {:<12} {:<34} {}",
                        d.user,
                        d.role,
                        d.team.as_deref().unwrap_or("-"),
                        d.device_id.as_deref().unwrap_or("(not enrolled yet)"),
                        if d.revoked {
                            "revoked"
                        } else if d.device_id.is_some() {
                            "active"
                        } else {
                            "-"
                        }
                    );
                }
            }
            Ok(())
        }
        Command::RevokeDevice { device_id } => {
            let storage = existing_storage(&cli.data, cli.database.as_deref())?;
            let by = actor(cli.by.as_deref())?;
            let id = resolve_device(&*storage, &device_id)?;
            if !storage.revoke_device(&id, outreach_server::now())? {
                return Err(CliError::Usage(
                    "no device with that id (see `outreach-server devices`)".into(),
                ));
            }
            let user = storage
                .devices()?
                .into_iter()
                .find(|d| d.device_id.as_deref() == Some(hex::encode(id).as_str()))
                .map(|d| format!("user {}", d.user));
            storage.log_admin_action(
                &by,
                "revoke-device",
                Some(&hex::encode(id)),
                user.as_deref(),
                outreach_server::now(),
            )?;
            if cli.json {
                print_json(&serde_json::json!({ "device_id": hex::encode(id), "revoked": true }));
            } else {
                println!(
                    "Device revoked. It is refused from now on and wipes its vault on its next contact."
                );
            }
            Ok(())
        }
        Command::Rejected => list_rejected(
            &*existing_storage(&cli.data, cli.database.as_deref())?,
            cli.json,
        ),
        Command::EraseCase { case, confirm } => {
            let storage = existing_storage(&cli.data, cli.database.as_deref())?;
            erase_case(
                &*storage,
                &case,
                confirm.as_deref(),
                cli.by.as_deref(),
                cli.json,
            )
        }
        Command::Retention {
            closed_before,
            dry_run,
        } => {
            let storage = existing_storage(&cli.data, cli.database.as_deref())?;
            retention(
                &*storage,
                &closed_before,
                dry_run,
                cli.by.as_deref(),
                cli.json,
            )
        }
        Command::Audit => audit(
            &*existing_storage(&cli.data, cli.database.as_deref())?,
            cli.json,
        ),
        Command::Restored => {
            let storage = existing_storage(&cli.data, cli.database.as_deref())?;
            let log_id = storage.restart_log()?;
            if cli.json {
                print_json(&serde_json::json!({ "log_id": hex::encode(log_id) }));
            } else {
                println!(
                    "Declared restored: new log {}. Start the server; each device pulls the log again \
                     from its beginning and uploads what it holds on its next sync. Devices enrolled \
                     after the backup must be enrolled again.",
                    &hex::encode(log_id)[..8]
                );
            }
            Ok(())
        }
    }
}

/// Who is acting, for the admin log: `--by NAME`, else the OS user (the
/// user who ran `sudo`, if any).
fn actor(by: Option<&str>) -> Result<String, CliError> {
    if let Some(name) = by {
        return check_name("--by", name);
    }
    for var in ["SUDO_USER", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && let Ok(name) = check_name(var, &v)
        {
            return Ok(name);
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata("/proc/self") {
            return Ok(format!("uid {}", m.uid()));
        }
    }
    Ok("unknown".into())
}

fn case_id_arg(given: &str) -> Result<outreach_protocol::Id, CliError> {
    parse_case_id(given).ok_or_else(|| {
        CliError::Usage(
            "CASE must be a full case id (32 hex digits, hyphens allowed), as `outreach case show` prints it: nothing was erased"
                .into(),
        )
    })
}

/// `outreach-server erase-case CASE --confirm CASE`.
fn erase_case(
    storage: &dyn Storage,
    case: &str,
    confirm: Option<&str>,
    by: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let id = case_id_arg(case)?;
    let Some(confirm) = confirm else {
        return Err(CliError::Usage(
            "erase-case needs --confirm with the case id repeated (erase-case CASE --confirm CASE): nothing was erased".into(),
        ));
    };
    if parse_case_id(confirm) != Some(id) {
        return Err(CliError::Usage(
            "--confirm does not repeat the case id (erase-case CASE --confirm CASE): nothing was erased".into(),
        ));
    }
    let by = actor(by)?;
    let erasure = match storage.erase_case(&id, &by, None, outreach_server::now()) {
        Ok(e) => e,
        Err(e @ EraseError::AlreadyErased { .. }) => {
            // An earlier run may have erased but not compacted (a busy
            // database): compact now, and say it was erased before.
            let _ = storage.compact_erased();
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        print_json(&serde_json::to_value(&erasure).unwrap_or_default());
        return Ok(());
    }
    println!(
        "Case {} erased: {} log item(s) deleted, the database compacted. Recorded in the admin log.",
        erasure.case_id,
        erasure.items_deleted.unwrap_or(0)
    );
    print_erasure_devices(&erasure.devices);
    Ok(())
}

fn print_erasure_devices(devices: &[outreach_server::storage::erasure::ErasureDevice]) {
    if devices.is_empty() {
        println!("No enrolled device held it.");
        return;
    }
    println!(
        "{} device(s) delete their copy on their next sync and confirm (`outreach-server audit` shows who has):",
        devices.len()
    );
    for d in devices {
        println!(
            "  {:<9} {:<24} {}",
            &d.device_id[..d.device_id.len().min(8)],
            d.user,
            match d.confirmed_at {
                Some(at) => format!("confirmed {}", time_of(at)),
                None => "waiting".into(),
            }
        );
    }
}

/// `outreach-server retention --closed-before DATE [--dry-run]`.
fn retention(
    storage: &dyn Storage,
    closed_before: &str,
    dry_run: bool,
    by: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let before = closed_before.trim();
    if !outreach_protocol::is_iso_date(before) {
        return Err(CliError::Usage(
            "--closed-before must be a date written YYYY-MM-DD (e.g. 2020-04-01): nothing was erased".into(),
        ));
    }
    let today = date_of(outreach_server::now());
    if before > today.as_str() {
        return Err(CliError::Usage(format!(
            "--closed-before {before} is after today ({today}): a retention cut-off is in the past; nothing was erased"
        )));
    }
    let due = storage.retention_due(before)?;
    let erased = if dry_run {
        Vec::new()
    } else {
        let by = actor(by)?;
        storage.apply_retention(before, &by, outreach_server::now())?
    };
    if json {
        print_json(&serde_json::json!({
            "closed_before": before,
            "dry_run": dry_run,
            "cases": due,
            "erased": erased,
        }));
        return Ok(());
    }
    if due.is_empty() {
        println!("No case was closed before {before}.");
        return Ok(());
    }
    println!(
        "{} case(s) closed before {before}{}:",
        due.len(),
        if dry_run {
            " (dry run: nothing erased)"
        } else {
            ", erased"
        }
    );
    for c in &due {
        let told = erased
            .iter()
            .find(|e| e.case_id == c.case_id)
            .map(|e| format!("  {} device(s) told", e.devices.len()))
            .unwrap_or_default();
        println!(
            "  {}  closed {}  team {}{told}",
            c.case_id,
            c.closed_on,
            c.team.as_deref().unwrap_or("-")
        );
    }
    if !dry_run {
        println!(
            "Recorded in the admin log; `outreach-server audit` shows which devices have confirmed."
        );
    }
    Ok(())
}

/// `outreach-server audit`: the admin log, oldest first.
fn audit(storage: &dyn Storage, json: bool) -> Result<(), CliError> {
    let log = storage.admin_log()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&log).unwrap_or_default());
        return Ok(());
    }
    if log.is_empty() {
        println!("The admin log is empty.");
        return Ok(());
    }
    println!(
        "{:<19}  {:<24} {:<13} {:<36} detail",
        "when (UTC)", "who", "action", "target"
    );
    for e in &log {
        println!(
            "{:<19}  {:<24} {:<13} {:<36} {}",
            time_of(e.at),
            e.actor,
            e.action,
            e.target.as_deref().unwrap_or("-"),
            e.detail.as_deref().unwrap_or("")
        );
        if let Some(devices) = &e.devices {
            for d in devices {
                println!(
                    "{:<21}device {} ({}): {}",
                    "",
                    &d.device_id[..d.device_id.len().min(8)],
                    d.user,
                    match d.confirmed_at {
                        Some(at) => format!("confirmed {}", time_of(at)),
                        None => "not confirmed yet".into(),
                    }
                );
            }
        }
    }
    Ok(())
}

/// `outreach-server rejected`: what devices reported they could not use.
fn list_rejected(storage: &dyn Storage, json: bool) -> Result<(), CliError> {
    let list = storage.rejected()?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else if list.is_empty() {
        println!("No device has reported an item it could not use.");
    } else {
        println!(
            "{:<9} {:<20} {:<36} {:>8} {:<9} {:<24} reported at",
            "device", "user", "case", "seq", "signer", "reason"
        );
        for r in list {
            println!(
                "{:<9} {:<20} {:<36} {:>8} {:<9} {:<24} {}",
                r.device, r.user, r.case_id, r.seq, r.signer, r.reason, r.reported_at
            );
        }
    }
    Ok(())
}

/// Opens the server database for an admin command, never creating one: run
/// in the wrong folder, an admin command would otherwise set up an empty
/// second database and point its user at `init` (a second organisation).
fn existing_storage(data: &Path, database: Option<&str>) -> Result<Box<dyn Storage>, CliError> {
    if let Some(url) = database {
        return Ok(Box::new(PostgresStorage::open_existing(postgres_url(
            url,
        )?)?));
    }
    if !outreach_server::database_path(data).is_file() {
        return Err(CliError::NoData(data.display().to_string()));
    }
    Ok(Box::new(SqliteStorage::open(data)?))
}

/// Opens (creating or upgrading) the database: PostgreSQL with
/// `--database`, else the SQLite file in the data directory.
fn open_storage(data: &Path, database: Option<&str>) -> Result<Box<dyn Storage>, CliError> {
    match database {
        Some(url) => Ok(Box::new(PostgresStorage::open(postgres_url(url)?)?)),
        None => Ok(Box::new(SqliteStorage::open(data)?)),
    }
}

/// Creates the data directory, readable by this user only.
fn private_dir(dir: &Path) -> Result<(), CliError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| {
        CliError::Usage(format!(
            "could not create the data directory {} ({e}): set --data",
            dir.display()
        ))
    })
}

/// `--database` must be a PostgreSQL URL (shown redacted if it is not).
fn postgres_url(url: &str) -> Result<&str, CliError> {
    if is_postgres_url(url) {
        Ok(url)
    } else {
        Err(CliError::Usage(format!(
            "--database {}: not a postgres:// URL (without --database the server uses the SQLite file in --data)",
            redact_url(url)
        )))
    }
}

/// A device by its id or a unique prefix of at least 8 hex digits (the
/// shell and the apps show device ids as their first 8).
fn resolve_device(storage: &dyn Storage, given: &str) -> Result<[u8; 16], CliError> {
    let ids: Vec<String> = storage
        .devices()?
        .into_iter()
        .filter_map(|d| d.device_id)
        .collect();
    let id = match_device(&ids, given)?;
    hex::decode(id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CliError::Usage("the stored device id is not 32 hex digits".into()))
}

fn match_device<'a>(ids: &'a [String], given: &str) -> Result<&'a str, CliError> {
    let prefix = given.trim().to_ascii_lowercase();
    if !(8..=32).contains(&prefix.len()) || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::Usage(
            "a device id is 32 hex digits; its first 8 or more are enough (see `outreach-server devices`)"
                .into(),
        ));
    }
    let mut found = ids.iter().filter(|id| id.starts_with(&prefix));
    match (found.next(), found.count()) {
        (None, _) => Err(CliError::Usage(
            "no device with that id (see `outreach-server devices`)".into(),
        )),
        (Some(id), 0) => Ok(id),
        (Some(_), more) => Err(CliError::Usage(format!(
            "{} devices have ids starting {prefix}: give more of the id (see `outreach-server devices`)",
            more + 1
        ))),
    }
}

fn check_name(flag: &str, value: &str) -> Result<String, CliError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
        return Err(CliError::Usage(format!(
            "{flag} must be 1–100 printable characters"
        )));
    }
    Ok(v.to_string())
}

fn invite(
    storage: &dyn Storage,
    name: &str,
    role: Role,
    team: Option<&str>,
    hours: u32,
) -> Result<String, CliError> {
    let code = keys::new_code()?;
    let now = outreach_server::now();
    storage.create_invite(
        name,
        role,
        team,
        keys::code_hash(&code),
        now + i64::from(hours) * 3600,
        now,
    )?;
    Ok(code)
}

fn warn_recovery(path: &Path) {
    eprintln!();
    eprintln!("!!! RECOVERY KEY written to {}", path.display());
    eprintln!("!!! It opens every case of the organisation. Move it OFFLINE now (encrypted drive");
    eprintln!("!!! or paper, in a safe) and delete it from this machine. The server keeps only");
    eprintln!("!!! the public half and never needs the file again.");
    eprintln!();
}

/// What one device or client may use of the server (`serve` options).
#[derive(clap::Args)]
struct ServeLimits {
    /// Bytes of changes and envelopes one device may store (e.g. 256MiB, 1GiB, 500MB).
    #[arg(long, env = "OUTREACH_SERVER_DEVICE_QUOTA", default_value = "256MiB", value_parser = parse_bytes)]
    device_quota: u64,
    /// Connections open at once; more wait in the accept queue (kept below the open-file limit).
    #[arg(long, env = "OUTREACH_SERVER_MAX_CONNECTIONS", default_value_t = 1000)]
    max_connections: usize,
    /// Requests handled at once; more wait.
    #[arg(long, env = "OUTREACH_SERVER_MAX_REQUESTS", default_value_t = 256)]
    max_requests: usize,
    /// Memory for large replies (pull pages of 64 KiB and more) held at once, all devices together; beyond it a large page is refused as busy (e.g. 64MiB, 256MiB).
    #[arg(long, env = "OUTREACH_SERVER_REPLY_BUFFER", default_value = "64MiB", value_parser = parse_reply_buffer)]
    reply_buffer: u64,
    /// Seconds a client has to send a request's headers (also closes idle connections).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Seconds a client has to send a request body, whole.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout: u64,
    /// Seconds without a byte moving either way before a connection is closed.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout: u64,
    /// Enrolment attempts per minute from one address.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    enrol_per_address: u32,
    /// Enrolment attempts per minute from all addresses together.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    enrol_global: u32,
    /// Seconds between summary log lines about refused attempts.
    #[arg(long, default_value_t = 60, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    rate_log_secs: u64,
}

/// Lone-working safety (`serve` options).
#[derive(clap::Args)]
struct SafetyArgs {
    /// After a check-in's deadline, how long before the alert is raised if the worker has not checked out (e.g. 15m, 90s, 0s).
    #[arg(
        long,
        env = "OUTREACH_SERVER_SAFETY_GRACE",
        default_value = "15m",
        value_name = "DURATION"
    )]
    safety_grace: String,
    /// POST each lone-working alert as JSON to this http(s) URL (the council's alerting or SMS service); retried until it answers 2xx.
    #[arg(long, env = "OUTREACH_SERVER_ALERT_WEBHOOK", value_name = "URL")]
    alert_webhook: Option<String>,
    /// Sent as `Authorization: Bearer TOKEN` with each webhook POST (set it in the environment, not on the command line).
    #[arg(
        long,
        env = "OUTREACH_SERVER_ALERT_WEBHOOK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    alert_webhook_token: Option<String>,
}

impl SafetyArgs {
    fn options(self) -> Result<outreach_server::safety::SafetyOptions, CliError> {
        use outreach_server::safety::{SafetyOptions, Webhook, parse_grace};
        Ok(SafetyOptions {
            grace: parse_grace(&self.safety_grace)?,
            webhook: self
                .alert_webhook
                .as_deref()
                .map(|url| Webhook::new(url, self.alert_webhook_token.clone()))
                .transpose()?,
        })
    }
}

/// `256MiB`, `1GiB`, `500MB`, `4096`: a byte count.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 256MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit (use B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// `--reply-buffer`: at least two of the largest pages (else a device
/// fetching one large item could be told "busy" for ever).
fn parse_reply_buffer(s: &str) -> Result<u64, String> {
    let n = parse_bytes(s)?;
    let least = 2
        * (outreach_protocol::MAX_PULL_BYTES as u64).max(outreach_protocol::MAX_BLOB_BYTES as u64);
    if n < least {
        return Err(format!("{s:?} is too small: at least {} MiB", least >> 20));
    }
    Ok(n.min(u64::from(u32::MAX) * 1024))
}

fn serve(
    data: &Path,
    database: Option<&str>,
    listen: &str,
    org_name: &str,
    json: bool,
    limits: ServeLimits,
    safety: outreach_server::safety::SafetyOptions,
) -> Result<(), CliError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .init();
    // Raise the soft open-file limit to the hard one, and keep the
    // connection limit below it (SQLite and the listener need a few too).
    #[cfg(unix)]
    let open_files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    #[cfg(not(unix))]
    let open_files = u64::MAX;
    let fd_room = usize::try_from(open_files.saturating_sub(64)).unwrap_or(usize::MAX);
    let max_connections = limits.max_connections.clamp(1, fd_room.max(1));
    if max_connections < limits.max_connections {
        tracing::warn!(
            open_files,
            max_connections,
            "--max-connections lowered to stay below the open-file limit"
        );
    }
    let options = outreach_server::ServeOptions {
        header_timeout: std::time::Duration::from_secs(limits.header_timeout),
        body_timeout: std::time::Duration::from_secs(limits.body_timeout),
        idle_timeout: std::time::Duration::from_secs(limits.idle_timeout),
        max_connections,
        max_requests: limits.max_requests.max(1),
        reply_buffer_kib: u32::try_from(limits.reply_buffer / 1024).unwrap_or(u32::MAX),
        enrol_per_address: limits.enrol_per_address,
        enrol_global: limits.enrol_global,
        rate_log_every: std::time::Duration::from_secs(limits.rate_log_secs),
        safety,
    };
    tracing::info!(
        grace_secs = options.safety.grace.as_secs(),
        webhook = options.safety.webhook.as_ref().map_or("none", |w| w.host()),
        "lone-working alerts"
    );
    let storage: Arc<dyn Storage> = open_storage(data, database)?.into();
    // The storage's own threads (SQLite's writer) start now, not on the
    // first request's path.
    storage.start_threads();
    match database {
        Some(url) => tracing::info!(database = %redact_url(url), "storage: PostgreSQL"),
        None => {
            tracing::info!(database = %outreach_server::database_path(data).display(), "storage: SQLite")
        }
    }
    storage.set_device_quota(limits.device_quota);
    if storage.org()?.is_none() {
        let org = check_name("--org", org_name)?;
        if database.is_some() {
            // On PostgreSQL the data directory holds only the key file.
            private_dir(data)?;
        }
        let key_file = data.join(outreach_server::FIRST_RUN_RECOVERY_FILE);
        let pk = keys::write_recovery_key(&key_file, &org)?;
        storage.init_org(&org, pk, outreach_server::now())?;
        warn_recovery(&key_file);
        let code = invite(
            &*storage,
            "admin",
            Role::Admin,
            None,
            outreach_server::DEFAULT_INVITE_HOURS,
        )?;
        if json {
            print_json(&serde_json::json!({ "organisation": org, "admin_code": code }));
        } else {
            match database {
                Some(url) => println!(
                    "Organisation '{org}' initialised in the database {}.",
                    redact_url(url)
                ),
                None => println!("Organisation '{org}' initialised in {}.", data.display()),
            }
            println!("First admin enrolment code: {code}");
        }
    }
    outreach_server::memory::tune();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Storage calls run here; more threads than this only thrash two cores.
        .max_blocking_threads(outreach_server::MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .map_err(CliError::Serve)?;
    // Dropped after the runtime, on this thread: the last reference to a
    // PostgreSQL storage must not be dropped by a runtime thread shutting
    // down its tasks (the blocking client's connections then panic in their
    // destructor and the process aborts instead of exiting after "stopped").
    let keep_storage = storage.clone();
    let served = runtime.block_on(async move {
        let addr: std::net::SocketAddr = tokio::net::lookup_host(listen)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| CliError::Usage(format!("--listen {listen}: not an address:port")))?;
        let listener = outreach_server::bind(addr).map_err(|e| CliError::Listen(listen.to_string(), e))?;
        let addr = listener.local_addr().map_err(CliError::Serve)?;
        tracing::info!(%addr, "listening");
        println!("Listening on http://{addr} (put TLS in front for anything but loopback: docs/DEPLOYMENT.md)");
        let state = outreach_server::AppState::new(storage, options);
        outreach_server::serve(listener, state, shutdown_signal())
            .await
            .map_err(CliError::Serve)?;
        tracing::info!("stopped");
        Ok(())
    });
    drop(runtime);
    drop(keep_storage);
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
