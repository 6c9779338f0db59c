//! `verify DIR`: every checksum of every live file.
//!
//! Two passes. The first reads each live file offline (`rillkv::tools`),
//! read-only, with a progress bar over the bytes. If it finds damage the
//! database is left alone: opening it would run recovery, which may drop a
//! damaged log tail or refuse to open, and the report is what the user
//! needs before deciding how to recover. If it finds none (and without
//! `--offline`), the database is opened and [`rillkv::Db::verify`] checks
//! the same files again as the engine reads them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use rillkv::ErrorKind;
use rillkv::tools::{self, FileRole};

use crate::DbArgs;
use crate::error::{CliError, EXIT_NOT_OK};
use crate::fmt::human;
use crate::open::{self, DEFAULT_KEYSPACE, Mode};
use crate::progress;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Only read the files: do not open the database (no lock taken,
    /// nothing written).
    #[arg(long)]
    offline: bool,
}

/// What both passes found.
#[derive(Default)]
struct Report {
    files: u64,
    bytes: u64,
    entries: u64,
    problems: Vec<(PathBuf, String)>,
    notes: Vec<String>,
}

impl Report {
    fn problem(&mut self, file: &Path, message: String) {
        let p = (file.to_path_buf(), message);
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }
}

fn offline_pass(dir: &Path, quiet: bool, report: &mut Report) -> Result<(), CliError> {
    let (files, load_error) = tools::live_files(dir)?;
    if let Some(e) = load_error {
        let manifest = files
            .iter()
            .find(|f| f.role == FileRole::Manifest)
            .map_or_else(|| dir.join("CURRENT"), |f| f.path.clone());
        report.problem(&manifest, e.to_string());
        report.notes.push(
            "the manifest could not be read, so every table and WAL in the directory was \
             checked"
                .to_owned(),
        );
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    let pb = progress::bytes(total, "verifying", quiet, false);
    for f in &files {
        let c = tools::check_file(f);
        report.files += 1;
        report.bytes += c.bytes;
        report.entries += c.entries;
        for p in c.problems {
            report.problem(&c.path, p);
        }
        for n in c.notes {
            report.notes.push(format!("{}: {n}", c.path.display()));
        }
        pb.inc(f.size);
    }
    pb.finish_and_clear();
    Ok(())
}

fn online_pass(a: &VerifyArgs, quiet: bool, report: &mut Report) -> Result<(), CliError> {
    // Reads no values, so any built-in operator the database records, or
    // none, will do.
    let args = open::any_operator(&a.db, DEFAULT_KEYSPACE)?;
    let pb = progress::spinner("Db::verify", quiet);
    let db = match open::open(&args, DEFAULT_KEYSPACE, Mode::Read) {
        Ok(db) => db,
        Err(CliError::Db(e)) if e.kind() == ErrorKind::Corruption => {
            pb.finish_and_clear();
            report.problem(&a.db.dir, format!("the database does not open: {e}"));
            return Ok(());
        }
        Err(CliError::Usage(m)) if m.contains("locked") || m.contains("another process") => {
            pb.finish_and_clear();
            report.notes.push(format!(
                "not opened (Db::verify skipped): {m}; the offline pass above is the report"
            ));
            return Ok(());
        }
        Err(e) => {
            pb.finish_and_clear();
            return Err(e);
        }
    };
    let r = db.db().verify()?;
    pb.finish_and_clear();
    for p in &r.problems {
        report.problem(&p.file, p.message.clone());
    }
    report.notes.push(format!(
        "opened the database: Db::verify checked {} files, {} entries: {}",
        r.files_checked,
        r.entries_checked,
        if r.is_ok() { "ok" } else { "DAMAGED" }
    ));
    db.close()?;
    Ok(())
}

pub fn run(a: &VerifyArgs, quiet: bool) -> Result<ExitCode, CliError> {
    let mut report = Report::default();
    offline_pass(&a.db.dir, quiet, &mut report)?;
    if report.problems.is_empty() && !a.offline {
        online_pass(a, quiet, &mut report)?;
    } else if !report.problems.is_empty() && !a.offline {
        report.notes.push(
            "the database was not opened: recovery could change a damaged database; copy it \
             before choosing a RecoveryMode"
                .to_owned(),
        );
    }
    let ok = report.problems.is_empty();
    println!(
        "checked {} files, {}, {} entries and records: {}",
        report.files,
        human(report.bytes),
        report.entries,
        if ok { "ok" } else { "DAMAGED" }
    );
    for (file, message) in &report.problems {
        println!("corrupt: {}: {message}", file.display());
    }
    for n in &report.notes {
        println!("note: {n}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_OK)
    })
}
