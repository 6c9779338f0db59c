//! `backup create|list|verify|restore|purge`: incremental backups
//! ([`rillkv::BackupEngine`]).
//!
//! `create` opens the database (the lock is taken and recovery runs, as
//! for any command that opens it; background compaction stays off); the
//! others touch only the backup directory, whose own lock they take.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use clap::{Args, Subcommand};
use rillkv::{BackupEngine, BackupInfo};

use crate::DbArgs;
use crate::error::CliError;
use crate::fmt::{human, plural};
use crate::open::{self, DEFAULT_KEYSPACE, Mode};
use crate::progress;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Backs up a database: tables an earlier backup stored are not
    /// copied again.
    Create(CreateArgs),
    /// Lists the backups: id, sequence number, time, files, size.
    List(DirArgs),
    /// Checks the size and crc32 of every file of a backup (exit 1 if one
    /// is damaged).
    Verify(IdArgs),
    /// Restores a backup into a new or empty directory.
    Restore(RestoreArgs),
    /// Removes all but the newest backups, and the files only they used.
    Purge(PurgeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The backup directory (created if missing).
    backup_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// The backup directory.
    backup_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The backup directory.
    backup_dir: PathBuf,
    /// The backup's id (`backup list` shows them).
    id: u64,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory.
    backup_dir: PathBuf,
    /// The backup's id (`backup list` shows them).
    id: u64,
    /// Where to restore it: a new or empty directory.
    target: PathBuf,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The backup directory.
    backup_dir: PathBuf,
    /// How many of the newest backups to keep.
    #[arg(long, value_name = "N")]
    keep: usize,
}

pub fn run(c: &BackupCommand, quiet: bool) -> Result<ExitCode, CliError> {
    match c {
        BackupCommand::Create(a) => create(a, quiet),
        BackupCommand::List(a) => list(a),
        BackupCommand::Verify(a) => verify(a),
        BackupCommand::Restore(a) => restore(a),
        BackupCommand::Purge(a) => purge(a),
    }
}

/// The backup directory `dir`, which must exist unless `create`.
fn engine(dir: &PathBuf, create: bool) -> Result<BackupEngine, CliError> {
    if !create && !dir.join("meta").is_dir() {
        return Err(CliError::usage(format!(
            "{} is not a backup directory (no meta/ in it); `rillkv backup create DB DIR` makes one",
            dir.display()
        )));
    }
    Ok(BackupEngine::open(dir)?)
}

fn describe(b: &BackupInfo) -> String {
    format!(
        "backup {}: seqno {}, {} ({}), {}",
        b.id,
        b.seqno,
        plural(b.files, "file"),
        plural(b.tables, "table"),
        human(b.bytes)
    )
}

fn create(a: &CreateArgs, quiet: bool) -> Result<ExitCode, CliError> {
    // No value is read: any operator the database records will do.
    let args = open::any_operator(&a.db, DEFAULT_KEYSPACE)?;
    let db = open::open(&args, DEFAULT_KEYSPACE, Mode::Read)?;
    let mut backups = engine(&a.backup_dir, true)?;
    let pb = progress::bytes(0, "backing up", quiet, false);
    let mut copied = (0, 0);
    let info = backups.create_with(db.db(), |p| {
        pb.set_length(p.bytes_total);
        pb.set_position(p.bytes_done);
        copied = (p.files_copied, p.bytes_copied);
    })?;
    pb.finish_and_clear();
    db.close()?;
    println!(
        "{}; copied {} ({}), the rest already stored",
        describe(&info),
        plural(copied.0, "file"),
        human(copied.1)
    );
    Ok(ExitCode::SUCCESS)
}

fn list(a: &DirArgs) -> Result<ExitCode, CliError> {
    let backups = engine(&a.backup_dir, false)?;
    let all = backups.list()?;
    println!(
        "{:>6}  {:>12}  {:<20}  {:>6}  {:>6}  {:>10}",
        "id", "seqno", "created (UTC)", "files", "tables", "size"
    );
    for b in &all {
        let secs = b
            .created
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        println!(
            "{:>6}  {:>12}  {:<20}  {:>6}  {:>6}  {:>10}",
            b.id,
            b.seqno,
            utc(secs),
            b.files,
            b.tables,
            human(b.bytes)
        );
    }
    println!("{}", plural(all.len(), "backup"));
    Ok(ExitCode::SUCCESS)
}

fn verify(a: &IdArgs) -> Result<ExitCode, CliError> {
    let backups = engine(&a.backup_dir, false)?;
    let info = backups.verify(a.id)?;
    println!("{}: every checksum matches", describe(&info));
    Ok(ExitCode::SUCCESS)
}

fn restore(a: &RestoreArgs) -> Result<ExitCode, CliError> {
    let backups = engine(&a.backup_dir, false)?;
    let info = backups.restore(a.id, &a.target)?;
    println!("{} restored to {}", describe(&info), a.target.display());
    Ok(ExitCode::SUCCESS)
}

fn purge(a: &PurgeArgs) -> Result<ExitCode, CliError> {
    let mut backups = engine(&a.backup_dir, false)?;
    let report = backups.purge(a.keep)?;
    let ids: Vec<String> = report.removed.iter().map(u64::to_string).collect();
    println!(
        "removed {}{}; deleted {} ({})",
        plural(report.removed.len(), "backup"),
        if ids.is_empty() {
            String::new()
        } else {
            format!(" ({})", ids.join(", "))
        },
        plural(report.files_deleted, "file"),
        human(report.bytes_freed)
    );
    Ok(ExitCode::SUCCESS)
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS` (UTC), by the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_764_790_245), "2025-12-03 19:30:45");
    }
}
