//! `Db::verify`: every checksum of every live file, read from disk.

use std::path::PathBuf;

use super::DbInner;
use crate::error::{Error, Result};
use crate::event::CorruptionContext;
use crate::filename;
use crate::table::{Direction, Table};
use crate::version::ManifestRecord;
use crate::wal;

/// What [`Db::verify`](crate::Db::verify) checked and found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Files read: live tables, the manifest and the WAL being written.
    pub files_checked: u64,
    /// Bytes read.
    pub bytes_checked: u64,
    /// Table entries decoded.
    pub entries_checked: u64,
    /// Every problem found; empty when the database is sound.
    pub problems: Vec<VerifyProblem>,
}

/// One damaged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyProblem {
    /// The file.
    pub file: PathBuf,
    /// What is wrong, with the offset where known.
    pub message: String,
}

impl VerifyReport {
    /// Whether no problem was found.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// let report = db.verify()?;
    /// assert!(report.is_ok(), "{report}");
    /// assert!(report.problems.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, file: PathBuf, message: impl Into<String>) {
        self.problems.push(VerifyProblem {
            file,
            message: message.into(),
        });
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "checked {} files, {} bytes, {} entries: {}",
            self.files_checked,
            self.bytes_checked,
            self.entries_checked,
            if self.is_ok() { "ok" } else { "DAMAGED" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {}: {}", p.file.display(), p.message)?;
        }
        Ok(())
    }
}

impl DbInner {
    pub(crate) fn verify(&self) -> Result<VerifyReport> {
        self.check_open()?;
        let mut report = VerifyReport::default();
        let versions: Vec<_> = self
            .trees()
            .iter()
            .map(|t| t.current().version.clone())
            .collect();
        for t in versions.iter().flat_map(|v| v.tables()) {
            let path = filename::table_path(&self.dir, t.meta.number);
            report.files_checked += 1;
            // Positional reads, never a mapping, no block cache: every block
            // is read and checked from the file, and a failing disk is an
            // error in the report.
            let file = match self.fs.open_random(&path, false) {
                Ok(f) => f,
                Err(e) => {
                    report.problem(path, format!("cannot read: {e}"));
                    continue;
                }
            };
            report.bytes_checked += file.len();
            if file.len() != t.meta.size {
                let message = format!(
                    "size {} differs from the {} bytes the manifest records",
                    file.len(),
                    t.meta.size
                );
                if self.events.is_some() {
                    let offset = t.meta.size.min(file.len());
                    let e = Error::corruption(&path, offset, &message);
                    self.report_corruption(&e, CorruptionContext::Verify);
                }
                report.problem(path.clone(), message);
            }
            let table = match Table::open(&path, file, t.meta.number, None) {
                Ok(t) => t,
                Err(e) => {
                    self.report_corruption(&e, CorruptionContext::Verify);
                    report.problem(path, e.to_string());
                    continue;
                }
            };
            let unbounded = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
            for entry in table.iter(unbounded, Direction::Forward) {
                match entry {
                    Ok(_) => report.entries_checked += 1,
                    Err(e) => {
                        self.report_corruption(&e, CorruptionContext::Verify);
                        report.problem(path.clone(), e.to_string());
                        break;
                    }
                }
            }
        }
        // The logs are read up to what their writers had appended when
        // this looked (a read-only handle writes neither: whole files). A
        // read racing an append can see a later page of the file written
        // and an earlier one not yet (the kernel copies page by page), so
        // the unbounded tail would look like zeros between records.
        let (manifest_number, manifest_len) = {
            let v = self.versions.lock();
            (v.manifest_number(), v.manifest_len())
        };
        let manifest = filename::manifest_path(&self.dir, manifest_number);
        let bound = (!self.read_only).then_some(manifest_len);
        self.verify_log(&manifest, true, bound, &mut report);
        let (wal_number, wal_len) = {
            let w = self.wal.lock();
            (w.number, w.writer.len())
        };
        let wal = filename::wal_path(&self.dir, wal_number);
        let bound = (!self.read_only).then_some(wal_len);
        self.verify_log(&wal, false, bound, &mut report);
        Ok(report)
    }

    /// Checks a log's records up to `bound` bytes (all of it if `None`);
    /// a damaged tail of the log being written is expected (a record may
    /// be mid-append) and not reported. The log is read as a copy
    /// (`Fs::read`), never mapped: the WAL being written may be trimmed by
    /// a rotation or `close` while this reads it. A WAL retired and
    /// deleted since it was looked up is not a problem: its writes are in
    /// a table, which the next `verify` checks.
    fn verify_log(
        &self,
        path: &std::path::Path,
        manifest: bool,
        bound: Option<u64>,
        report: &mut VerifyReport,
    ) {
        let data = match self.fs.read(path) {
            Ok(d) => d,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && !manifest
                    && self.wal_retired(path) =>
            {
                return;
            }
            Err(e) => {
                report.files_checked += 1;
                report.problem(path.to_path_buf(), format!("cannot read: {e}"));
                return;
            }
        };
        report.files_checked += 1;
        let data = match bound {
            Some(len) => data.slice(..data.len().min(usize::try_from(len).unwrap_or(usize::MAX))),
            None => data,
        };
        report.bytes_checked += data.len() as u64;
        let mut reader = if manifest {
            wal::Reader::new(path, data)
        } else {
            wal::Reader::preallocated(path, data)
        };
        while let Some((offset, record)) = reader.next_record() {
            let bad = if manifest {
                ManifestRecord::decode(&record).err()
            } else {
                crate::batch::decode_payload(&record).err().map(|b| b.0)
            };
            if let Some(why) = bad {
                let e = Error::corruption(path, offset, why);
                self.report_corruption(&e, CorruptionContext::Verify);
                report.problem(path.to_path_buf(), e.to_string());
                return;
            }
        }
        if let Some(d) = reader.damage()
            && (!d.is_tail || manifest)
        {
            let e = Error::corruption(path, d.offset, d.reason);
            self.report_corruption(&e, CorruptionContext::Verify);
            report.problem(path.to_path_buf(), e.to_string());
        }
    }

    /// Whether the WAL at `path` is no longer the one being written.
    fn wal_retired(&self, path: &std::path::Path) -> bool {
        let current = filename::wal_path(&self.dir, self.wal.lock().number);
        current != path
    }
}
