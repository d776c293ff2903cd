//! `outreach recover`: a DPO's offline answer to a subject access request
//! when the woman's device (or every device holding her case) is lost.
//!
//! Why it lives in the shell and is this thin: reading the server's data is
//! the server crate's (`outreach_server::storage::export`, the only code
//! that knows its schema, reading a private copy so the server's folder is
//! never written), opening and merging cases is the core's
//! (`outreach_core::recover`, the same export function as `outreach
//! export`). This file checks the inputs, asks for one case at a time, and
//! writes what came back: `<case>.json`, `<case>.automerge`,
//! `RECOVERY-SUMMARY.json` (this run: what was recovered, what not and why)
//! and one line appended to `ACCESS-LOG.jsonl` (who ran it, when, on which
//! cases). It needs no vault and never unlocks one.

use std::io::Write;
use std::path::{Path, PathBuf};

use outreach_core::recover::{
    CaseRecovery, CaseStatus, KnownDevice, LoggedItem, RecoverError, Recoverer, RecoveryKey,
    RecoveryRun,
};
use outreach_server::keys::{RecoveryKeyFileError, read_recovery_key};
use outreach_server::storage::export::{ExportError, PostgresSnapshot, ServerData, SqliteSnapshot};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::args::RecoverArgs;
use crate::output::Out;

/// The summary of a run, replaced by each run into the same folder.
pub const SUMMARY_FILE: &str = "RECOVERY-SUMMARY.json";
/// Every run into the folder, one JSON object a line, appended.
pub const ACCESS_LOG_FILE: &str = "ACCESS-LOG.jsonl";
const SUMMARY_FORMAT: &str = "outreach.recovery-summary.v1";
/// A recovery key file is a few hundred bytes; anything this large is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// `RECOVERY-SUMMARY.json`: this run, then every case asked for.
#[derive(Serialize)]
struct Summary<'a> {
    format: &'static str,
    run: &'a RecoveryRun,
    cases: Vec<SummaryCase<'a>>,
}

#[derive(Serialize)]
struct SummaryCase<'a> {
    #[serde(flatten)]
    case: &'a CaseRecovery,
    /// The files written for it (none if it was not recovered).
    files: &'a [String],
}

/// Why `recover` could not run. Each names the flag to fix; none carries
/// record content or key material.
#[derive(Debug, thiserror::Error)]
pub enum RecoverFailure {
    #[error("--recovery-key: cannot read {path}: {}", crate::errors::file_problem(*kind, false))]
    KeyUnreadable {
        path: PathBuf,
        kind: std::io::ErrorKind,
    },
    #[error("--recovery-key: {path}: {error}")]
    KeyFile {
        path: PathBuf,
        error: RecoveryKeyFileError,
    },
    #[error("--recovery-key: {0}")]
    Key(RecoverError),
    #[error("--server-data: {0}")]
    Data(ExportError),
    #[error("--database: {0}")]
    Database(ExportError),
    #[error(
        "--case {0}: no such case in the server's data (give a full case id, or a unique prefix of at least 4 characters)"
    )]
    UnknownCase(String),
    #[error("--case {0}: matches more than one case; give more of it")]
    AmbiguousCase(String),
    #[error(
        "--out: {0} already exists (from an earlier recovery?): choose another folder or move it"
    )]
    Exists(PathBuf),
    #[error("--out: cannot write {path}: {}", crate::errors::file_problem(*kind, true))]
    Write {
        path: PathBuf,
        kind: std::io::ErrorKind,
    },
    /// The run finished; some cases are partial or not recovered.
    #[error(
        "{count} case(s) could not be fully recovered: see {summary} (each case's problems are listed there)"
    )]
    Incomplete { count: usize, summary: PathBuf },
}

impl RecoverFailure {
    /// The stable code for scripts, the flag at fault, and the exit code.
    pub fn report(&self) -> (&'static str, Option<&'static str>, u8) {
        match self {
            RecoverFailure::KeyUnreadable { .. } | RecoverFailure::KeyFile { .. } => {
                ("recovery_key", Some("--recovery-key"), 1)
            }
            RecoverFailure::Key(RecoverError::WrongKey) => {
                ("wrong_recovery_key", Some("--recovery-key"), 1)
            }
            RecoverFailure::Key(_) => ("recovery_key", Some("--recovery-key"), 1),
            RecoverFailure::Data(_) => ("server_data", Some("--server-data"), 1),
            RecoverFailure::Database(_) => ("server_data", Some("--database"), 1),
            RecoverFailure::UnknownCase(_) => ("unknown_case", Some("--case"), 1),
            RecoverFailure::AmbiguousCase(_) => ("ambiguous_case", Some("--case"), 1),
            RecoverFailure::Exists(_) | RecoverFailure::Write { .. } => ("file", Some("--out"), 1),
            RecoverFailure::Incomplete { .. } => ("not_all_recovered", None, 5),
        }
    }
}

fn out_err(path: &Path) -> impl Fn(std::io::Error) -> RecoverFailure + '_ {
    move |e| RecoverFailure::Write {
        path: path.to_path_buf(),
        kind: e.kind(),
    }
}

/// The operating-system user running the command (for the access log).
fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .or_else(passwd_name)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The account name of this process's user from `/etc/passwd` (a service
/// or `sudo -i` shell may have no `USER`).
#[cfg(unix)]
fn passwd_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

#[cfg(not(unix))]
fn passwd_name() -> Option<String> {
    None
}

fn case_name(id: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*id).to_string()
}

fn read_key(path: &Path) -> Result<RecoveryKey, RecoverFailure> {
    let unreadable = |kind| RecoverFailure::KeyUnreadable {
        path: path.to_path_buf(),
        kind,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.kind()))?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE {
        return Err(RecoverFailure::KeyFile {
            path: path.to_path_buf(),
            error: RecoveryKeyFileError::NotAKeyFile,
        });
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| unreadable(e.kind()))?);
    let sk = read_recovery_key(&bytes).map_err(|error| RecoverFailure::KeyFile {
        path: path.to_path_buf(),
        error,
    })?;
    RecoveryKey::from_bytes(&sk[..]).map_err(RecoverFailure::Key)
}

/// The cases asked for: each `--case` must name exactly one case the
/// server holds or erased.
fn select(wanted: &[String], known: &[[u8; 16]]) -> Result<Vec<[u8; 16]>, RecoverFailure> {
    if wanted.is_empty() {
        return Ok(known.to_vec());
    }
    let mut out = Vec::new();
    for w in wanted {
        let t = w.trim().to_ascii_lowercase();
        let hits: Vec<&[u8; 16]> = if t.len() < 4 {
            Vec::new()
        } else {
            known
                .iter()
                .filter(|id| case_name(id).starts_with(&t))
                .collect()
        };
        match hits.as_slice() {
            [one] => {
                if !out.contains(*one) {
                    out.push(**one);
                }
            }
            [] => return Err(RecoverFailure::UnknownCase(w.clone())),
            _ => return Err(RecoverFailure::AmbiguousCase(w.clone())),
        }
    }
    Ok(out)
}

/// Creates a file readable by its owner only; never over an existing one.
fn create_private(path: &Path) -> Result<std::fs::File, RecoverFailure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            RecoverFailure::Exists(path.to_path_buf())
        } else {
            out_err(path)(e)
        }
    })
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), RecoverFailure> {
    let mut f = create_private(path)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(out_err(path))
}

/// Replaces `path` whole (written beside it, then renamed).
fn replace(path: &Path, bytes: &[u8]) -> Result<(), RecoverFailure> {
    let tmp = path.with_extension("json.partial");
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(out_err(path))
}

fn append_line(path: &Path, line: &str) -> Result<(), RecoverFailure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(out_err(path))?;
    f.write_all(format!("{line}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(out_err(path))
}

fn make_out_dir(dir: &Path) -> Result<(), RecoverFailure> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(out_err(dir))
}

/// One line for a case on the terminal.
fn case_line(c: &CaseRecovery) -> String {
    let problems = || {
        c.problems
            .iter()
            .map(|p| match (p.seq, p.epoch) {
                (Some(seq), _) => format!("item {seq}: {}", p.detail),
                (None, Some(e)) => format!("epoch {e}: {}", p.detail),
                _ => p.detail.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match c.status {
        CaseStatus::Recovered => format!(
            "{}  recovered ({} change{})",
            c.case_id,
            c.changes,
            if c.changes == 1 { "" } else { "s" }
        ),
        CaseStatus::Partial => format!(
            "{}  PARTIAL: written from {} change(s); not recovered: {}",
            c.case_id,
            c.changes,
            problems()
        ),
        CaseStatus::NotRecovered => format!("{}  NOT RECOVERED: {}", c.case_id, problems()),
        CaseStatus::Erased => format!(
            "{}  erased on {}: nothing left to recover",
            c.case_id,
            c.erased_at
                .as_deref()
                .unwrap_or("?")
                .get(..10)
                .unwrap_or("?")
        ),
    }
}

/// Runs `outreach recover`.
pub fn run(a: &RecoverArgs, out: &Out) -> Result<(), RecoverFailure> {
    let key = read_key(&a.recovery_key)?;
    match (&a.database, &a.server_data) {
        (Some(url), _) => recover_from(
            &PostgresSnapshot::open(url).map_err(RecoverFailure::Database)?,
            key,
            a,
            out,
        ),
        (None, Some(dir)) => recover_from(
            &SqliteSnapshot::open(dir).map_err(RecoverFailure::Data)?,
            key,
            a,
            out,
        ),
        // clap requires one of the two.
        (None, None) => Err(RecoverFailure::Data(ExportError::NotInitialised)),
    }
}

/// The run against any source of the server's data.
fn recover_from(
    data: &dyn ServerData,
    key: RecoveryKey,
    a: &RecoverArgs,
    out: &Out,
) -> Result<(), RecoverFailure> {
    let data_err = RecoverFailure::Data;
    let org = data.org().map_err(data_err)?;
    let devices = data
        .devices()
        .map_err(data_err)?
        .into_iter()
        .map(|d| KnownDevice {
            device_id: d.device_id,
            sign_pk: d.sign_pk,
            user_id: d.user_id,
            user_name: d.user_name,
            role: d.role,
            team: d.team,
            revoked_at: d.revoked_at,
        })
        .collect();
    let mut recoverer =
        Recoverer::new(key, org.org_id, org.recovery_pk, devices).map_err(RecoverFailure::Key)?;
    let erased: std::collections::HashMap<[u8; 16], i64> =
        data.erased().map_err(data_err)?.into_iter().collect();
    let mut known = data.cases().map_err(data_err)?;
    known.retain(|c| !erased.contains_key(c));
    let selected = if a.cases.is_empty() {
        let mut all = known.clone();
        all.extend(erased.keys().copied());
        all
    } else {
        let mut any: Vec<[u8; 16]> = known.clone();
        any.extend(erased.keys().copied());
        select(&a.cases, &any)?
    };

    // Nothing is written before every input has been checked, and nothing
    // is ever written over an earlier export.
    make_out_dir(&a.out)?;
    for case in selected.iter().filter(|c| !erased.contains_key(*c)) {
        for ext in ["json", "automerge"] {
            let path = a.out.join(format!("{}.{ext}", case_name(case)));
            if path.exists() {
                return Err(RecoverFailure::Exists(path));
            }
        }
    }

    let now = chrono::Utc::now();
    let by = os_user();
    let exported_by = format!("{by} (organisation recovery key)");
    let mut results = Vec::with_capacity(selected.len());
    for case in &selected {
        let mut result = match erased.get(case) {
            Some(at) => CaseRecovery::erased(*case, *at),
            None => {
                let items: Vec<LoggedItem> = data
                    .case_items(case)
                    .map_err(data_err)?
                    .into_iter()
                    .map(|i| LoggedItem {
                        seq: i.seq,
                        stored_at: i.stored_at,
                        body: i.body,
                    })
                    .collect();
                recoverer.recover_case(*case, &items, now, &exported_by)
            }
        };
        let mut files = Vec::new();
        if let Some(export) = result.export.take() {
            let mut bytes = serde_json::to_vec_pretty(&export).unwrap_or_default();
            bytes.push(b'\n');
            let name = format!("{}.json", result.case_id);
            write_new(&a.out.join(&name), &bytes)?;
            files.push(name);
        }
        if let Some(doc) = result.automerge.take() {
            let name = format!("{}.automerge", result.case_id);
            write_new(&a.out.join(&name), &doc)?;
            files.push(name);
        }
        if !out.json {
            println!("{}", case_line(&result));
        }
        results.push((result, files));
    }

    let cases: Vec<CaseRecovery> = results.iter().map(|(c, _)| c.clone()).collect();
    // Where the data came from, for the access log: the folder, or the
    // database URL without its password.
    let source = match (&a.database, &a.server_data) {
        (Some(url), _) => outreach_server::storage::postgres::redact_url(url),
        (None, Some(dir)) => std::fs::canonicalize(dir)
            .unwrap_or_else(|_| dir.clone())
            .display()
            .to_string(),
        (None, None) => String::new(),
    };
    let run = RecoveryRun::new(
        now,
        &by,
        &org.name,
        &source,
        a.cases
            .iter()
            .map(|c| c.trim().to_ascii_lowercase())
            .collect(),
        &cases,
    );
    let summary = Summary {
        format: SUMMARY_FORMAT,
        run: &run,
        cases: results
            .iter()
            .map(|(case, files)| SummaryCase { case, files })
            .collect(),
    };
    let summary_path = a.out.join(SUMMARY_FILE);
    let mut text = serde_json::to_vec_pretty(&summary).unwrap_or_default();
    text.push(b'\n');
    replace(&summary_path, &text)?;
    let line = serde_json::to_string(&run).unwrap_or_default();
    append_line(&a.out.join(ACCESS_LOG_FILE), &line)?;

    let incomplete = run.partial.len() + run.not_recovered.len();
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    } else {
        println!(
            "{} recovered, {} partial, {} not recovered, {} erased; summary in {}",
            run.recovered.len(),
            run.partial.len(),
            run.not_recovered.len(),
            run.erased.len(),
            summary_path.display()
        );
    }
    if incomplete > 0 {
        return Err(RecoverFailure::Incomplete {
            count: incomplete,
            summary: summary_path,
        });
    }
    Ok(())
}
