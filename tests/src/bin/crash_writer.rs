//! A writer for the crash test: records visits as fast as it can and prints
//! `ACK <n> <visit-id>` after each write has returned (i.e. was acknowledged
//! as durable), compacting every few writes as the app does when idle. The
//! test kills it with SIGKILL at an arbitrary moment.

use std::io::Write;
use std::path::PathBuf;

use outreach_core::case::model::{CaseEdit, ContactKind, Outcome};
use outreach_core::vault::{Vault, VisitInput};
use outreach_tests::{PASSPHRASE, test_options};

fn main() {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: crash_writer VAULT_DIR");
        std::process::exit(2);
    };
    if let Err(e) = run(dir) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(dir: PathBuf) -> Result<(), outreach_core::Error> {
    let mut vault = if outreach_core::vault::exists(&dir) {
        let mut v = Vault::open(&dir)?;
        v.unlock(PASSPHRASE, None)?;
        v
    } else {
        Vault::create(&dir, PASSPHRASE, test_options("Crash Test"), None)?
    };
    let case = match vault.case_ids()?.first() {
        Some(c) => c.clone(),
        None => vault.create_case(&CaseEdit {
            preferred_name: Some("Crash".into()),
            ..Default::default()
        })?,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for n in 0..100_000u32 {
        let note = format!("write {n} {}", "lorem ipsum ".repeat(20));
        let input = VisitInput::new(
            "2026-11-20T10:00:00Z",
            ContactKind::Home,
            Outcome::Completed,
            note,
        );
        let id = vault.add_visit(&case, &input)?;
        // Acknowledge only after the write returned.
        if writeln!(out, "ACK {n} {id}")
            .and_then(|_| out.flush())
            .is_err()
        {
            break;
        }
        // Compact now and then, as the app does when idle, so that some kills
        // land in the middle of a compaction.
        if n % 10 == 9 {
            vault.compact_due()?;
        }
    }
    Ok(())
}
