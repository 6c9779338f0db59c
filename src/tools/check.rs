//! Offline checks of every live file, one file at a time (so a caller can
//! show progress): the same checks as [`Db::verify`](crate::Db::verify),
//! read-only and without opening the database.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use super::load_tree;
use super::log::current_manifest;
use crate::error::{Error, ErrorKind, Result};
use crate::filename::{self, FileKind};
use crate::fs::{Fs, StdFs};
use crate::table::{Direction, Table};
use crate::version::ManifestRecord;
use crate::wal;

/// What a live file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// `CURRENT`.
    Current,
    /// The live manifest.
    Manifest,
    /// A table the manifest lists.
    Table,
    /// A table found in the directory whose liveness is unknown (the
    /// manifest could not be read).
    UnlistedTable,
    /// A WAL recovery would replay.
    Wal,
}

/// A file to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFile {
    /// The file.
    pub path: PathBuf,
    /// What it is.
    pub role: FileRole,
    /// Its size on disk (0 if it could not be read).
    pub size: u64,
    /// The size the manifest records (tables only).
    pub expected_size: Option<u64>,
    /// The table's file number (tables only).
    pub number: u64,
}

/// The result of checking one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCheck {
    /// The file.
    pub path: PathBuf,
    /// Bytes read.
    pub bytes: u64,
    /// Entries (table entries or log records) decoded.
    pub entries: u64,
    /// Damage found, each naming the offset where known. Empty: sound.
    pub problems: Vec<String>,
    /// Things worth knowing that are not damage (a WAL's torn tail, which
    /// a crash leaves and recovery drops).
    pub notes: Vec<String>,
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Every live file of the database in `dir`: `CURRENT`, the manifest, the
/// tables it lists and the WALs recovery would replay.
///
/// When the manifest cannot be read, returns `CURRENT`, the manifest and
/// every table and WAL found in the directory, with the reason: checking
/// them still finds damage in them.
///
/// # Errors
/// `InvalidArgument` if `dir` holds no database; `Io` if it cannot be
/// listed.
pub fn live_files(dir: &Path) -> Result<(Vec<LiveFile>, Option<Error>)> {
    let current = dir.join(filename::CURRENT);
    if !current.exists() {
        return Err(Error::invalid(format!(
            "{} is not a rillkv database: it has no CURRENT file",
            dir.display()
        )));
    }
    let file = |path: PathBuf, role: FileRole, expected_size: Option<u64>, number: u64| LiveFile {
        size: size_of(&path),
        path,
        role,
        expected_size,
        number,
    };
    let mut files = vec![file(current.clone(), FileRole::Current, None, 0)];
    let manifest = current_manifest(dir).map(|(p, _)| p);
    match load_tree(dir) {
        Ok(tree) => {
            files.push(file(tree.manifest.clone(), FileRole::Manifest, None, 0));
            for t in &tree.tables {
                let path = filename::table_path(dir, t.number);
                files.push(file(path, FileRole::Table, Some(t.size), t.number));
            }
            for (path, _) in &tree.wal_files {
                files.push(file(path.clone(), FileRole::Wal, None, 0));
            }
            Ok((files, None))
        }
        Err(e) if e.kind() == ErrorKind::Corruption || e.kind() == ErrorKind::Io => {
            if let Ok(m) = manifest {
                files.push(file(m, FileRole::Manifest, None, 0));
            }
            let mut found = Vec::new();
            let listing = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
            for entry in listing {
                let entry = entry.map_err(|e| Error::io("list", dir, e))?;
                match filename::parse(&entry.file_name().to_string_lossy()) {
                    FileKind::Table(n) => found.push((0, n, FileRole::UnlistedTable)),
                    FileKind::Wal(n) => found.push((1, n, FileRole::Wal)),
                    _ => {}
                }
            }
            found.sort_unstable_by_key(|&(order, n, _)| (order, n));
            for (_, n, role) in found {
                let path = match role {
                    FileRole::Wal => filename::wal_path(dir, n),
                    _ => filename::table_path(dir, n),
                };
                files.push(file(path, role, None, n));
            }
            Ok((files, Some(e)))
        }
        Err(e) => Err(e),
    }
}

/// Checks one file: a table's size, footer, index, properties and every
/// data block's checksum and entries; a log's every record checksum and
/// payload; `CURRENT`'s form and checksum.
pub fn check_file(file: &LiveFile) -> FileCheck {
    let mut check = FileCheck {
        path: file.path.clone(),
        ..FileCheck::default()
    };
    let data = match StdFs.read(&file.path) {
        Ok(d) => d,
        Err(e) => {
            check.problems.push(format!("cannot read: {e}"));
            return check;
        }
    };
    check.bytes = data.len() as u64;
    match file.role {
        FileRole::Current => {
            if let Some(dir) = file.path.parent()
                && let Err(e) = current_manifest(dir)
            {
                check.problems.push(e.to_string());
            }
        }
        FileRole::Table | FileRole::UnlistedTable => check_table(file, data, &mut check),
        FileRole::Manifest => check_log(&file.path, data, true, &mut check),
        FileRole::Wal => check_log(&file.path, data, false, &mut check),
    }
    check
}

fn check_table(file: &LiveFile, data: bytes::Bytes, check: &mut FileCheck) {
    if let Some(expected) = file.expected_size
        && expected != data.len() as u64
    {
        check.problems.push(format!(
            "size {} differs from the {expected} bytes the manifest records",
            data.len()
        ));
    }
    // No block cache: every block is read and checked from the file.
    let table = match Table::from_bytes(&file.path, data, file.number, None) {
        Ok(t) => t,
        Err(e) => {
            check.problems.push(e.to_string());
            return;
        }
    };
    let unbounded = (Bound::Unbounded, Bound::Unbounded);
    for entry in table.iter(unbounded, Direction::Forward) {
        match entry {
            Ok(_) => check.entries += 1,
            Err(e) => {
                check.problems.push(e.to_string());
                return;
            }
        }
    }
}

/// A log's records; a WAL's torn tail is a note, not damage (recovery
/// drops it), while any damage in the manifest is reported, as
/// [`Db::verify`](crate::Db::verify) does.
fn check_log(path: &Path, data: bytes::Bytes, manifest: bool, check: &mut FileCheck) {
    let mut reader = if manifest {
        wal::Reader::new(path, data)
    } else {
        wal::Reader::preallocated(path, data)
    };
    while let Some((offset, record)) = reader.next_record() {
        check.entries += 1;
        let bad = if manifest {
            ManifestRecord::decode(&record).err()
        } else {
            crate::batch::decode_payload(&record).err().map(|b| b.0)
        };
        if let Some(why) = bad {
            check
                .problems
                .push(Error::corruption(path, offset, why).to_string());
            return;
        }
    }
    if let Some(d) = reader.damage() {
        let e = Error::corruption(path, d.offset, d.reason).to_string();
        if d.is_tail && !manifest {
            check.notes.push(format!(
                "torn tail ({} bytes; a crash leaves this and recovery drops it): {e}",
                d.dropped_bytes
            ));
        } else {
            check.problems.push(e);
        }
    }
}
