//! Checkpoints: a consistent, openable copy of the database at one
//! sequence number, made while writers run.
//!
//! # How
//! Under the WAL lock (no commit in between) and the version-set lock (no
//! flush or compaction installs, no WAL is deleted: deletion happens
//! inside a manifest edit, under that lock) the checkpoint takes the last
//! sequence number, the manifest's whole state as one record, the live
//! tables (pinned by holding their versions), hard links to the finished
//! WALs and to the WAL being written, and that WAL's length. Then, with
//! the locks released: every table is hard-linked (copied across
//! filesystems), the WAL being written is copied up to that length (the
//! records after it are later writes), a fresh manifest and `CURRENT` are
//! written, and the directory is fsynced. `CURRENT` comes last: a copy
//! interrupted before it is refused by `Db::open` (tables without
//! `CURRENT`) and removed by a failed `checkpoint` call.
//!
//! The cost is one hard link per file plus one copy of the WAL being
//! written (at most a memtable's worth): independent of the data size on
//! one filesystem.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Db, DbInner};
use crate::error::{Error, Result};
use crate::filename;
use crate::fs::{FencePass, Fs};
use crate::key::SeqNo;
use crate::wal;

impl Db {
    /// Writes a checkpoint of the whole database (every keyspace) to
    /// `dir`, which must not exist or be empty: a consistent copy at one
    /// sequence number (returned), that opens as a normal database. Made
    /// while writers run (they wait only while the files are listed);
    /// tables are hard-linked (copied when `dir` is on another
    /// filesystem), so the cost does not grow with the data.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// use rillkv::{Db, Options};
    /// let db = Db::open(tmp.path().join("db"), Options::default())?;
    /// db.put(b"a", b"1")?;
    /// db.flush()?;
    /// db.put(b"b", b"2")?; // only in the WAL: in the checkpoint too
    /// let seqno = db.checkpoint(tmp.path().join("copy"))?;
    /// db.put(b"c", b"3")?; // after the checkpoint
    /// assert_eq!(seqno, 2);
    /// let copy = Db::open(tmp.path().join("copy"), Options::default())?;
    /// assert_eq!(copy.get(b"b")?.as_deref(), Some(&b"2"[..]));
    /// assert_eq!(copy.get(b"c")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` if `dir` exists and is not an empty directory;
    /// `Closed`; `ReadOnly` on a handle from
    /// [`Db::open_read_only`](crate::Db::open_read_only); `Io` if a file cannot be linked, copied or written (the
    /// partial copy is removed).
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<SeqNo> {
        self.inner.checkpoint(dir.as_ref())
    }
}

/// A consistent set of the database's files at one sequence number: what
/// a checkpoint links and a backup (`crate::backup`) copies. While it
/// lives, none of its files is deleted (its versions are held, its WALs
/// linked into a staging directory) and `close` waits (it holds a fence
/// pass).
pub(crate) struct FileSet<'a> {
    /// Every write up to this sequence number, and none after it.
    pub(crate) seqno: SeqNo,
    /// The database directory the tables are read from.
    pub(crate) source: PathBuf,
    /// The database's filesystem (the staging directory is on it too).
    pub(crate) fs: Arc<dyn Fs>,
    /// Live tables, by number, in `source`.
    pub(crate) tables: Vec<u64>,
    /// Finished WALs, linked into the staging directory under their own
    /// names (`NNNNNN.wal`): they never change again.
    pub(crate) finished_wals: Vec<(u64, PathBuf)>,
    /// The WAL being written, linked into the staging directory under a
    /// temporary name, and how many of its bytes belong to the set (the
    /// records after them are later writes; past those lie preallocated
    /// zeros).
    pub(crate) current_wal: (u64, PathBuf, u64),
    /// A file number no file of the set has: the copy's manifest's.
    pub(crate) manifest_number: u64,
    /// The copy's manifest: the whole state as one record.
    pub(crate) manifest: Vec<u8>,
    _versions: Vec<Arc<crate::version::Version>>,
    _pass: FencePass<'a>,
}

impl FileSet<'_> {
    /// The path of table `number` in the source directory.
    pub(crate) fn table_path(&self, number: u64) -> PathBuf {
        filename::table_path(&self.source, number)
    }

    /// The bytes of the WAL being written that belong to the set.
    pub(crate) fn current_wal_bytes(&self) -> Result<Bytes> {
        let (_, tmp, len) = &self.current_wal;
        let len = usize::try_from(*len).map_err(|_| {
            Error::invalid(format!(
                "{} is too large to copy on this platform",
                tmp.display()
            ))
        })?;
        self.fs
            .open_random(tmp, false)
            .and_then(|f| f.read_at(0, len))
            .map_err(|e| Error::io("read", tmp, e))
    }

    /// Removes the links the set made in its staging directory.
    pub(crate) fn remove_staged(&self) -> Result<()> {
        let staged = self
            .finished_wals
            .iter()
            .map(|(_, p)| p)
            .chain(std::iter::once(&self.current_wal.1));
        for path in staged {
            match self.fs.remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", path, e)),
            }
        }
        Ok(())
    }
}

/// Writes `record` as the only record of a new manifest at `path`, and
/// fsyncs it (not its directory).
pub(crate) fn write_manifest_file(fs: &dyn Fs, path: &Path, record: &[u8]) -> Result<()> {
    let file = fs.create(path).map_err(|e| Error::io("create", path, e))?;
    let mut log = wal::Writer::new(file);
    log.add_record(record)
        .and_then(|()| log.sync())
        .map_err(|e| Error::io("write", path, e))
}

impl Db {
    /// Fixes a consistent set of the database's files at one sequence
    /// number, linking its WALs into `staging` (an existing directory on
    /// the database's filesystem); see [`FileSet`].
    ///
    /// # Errors
    /// `Closed`; `Io` if a WAL cannot be linked.
    pub(crate) fn file_set(&self, staging: &Path) -> Result<FileSet<'_>> {
        self.inner.file_set(staging)
    }
}

impl DbInner {
    fn checkpoint(&self, dir: &Path) -> Result<SeqNo> {
        self.check_writable("checkpoint")?;
        let fs = &self.fs;
        match fs.list_dir(dir) {
            Ok(names) if !names.is_empty() => {
                return Err(Error::invalid(format!(
                    "checkpoint directory {} is not empty; give a new or empty directory",
                    dir.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs.create_dir_all(dir)
                    .map_err(|e| Error::io("create directory", dir, e))?;
                if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs.sync_dir(parent)
                        .map_err(|e| Error::io("fsync directory", parent, e))?;
                }
            }
            Err(e) => return Err(Error::io("list", dir, e)),
        }
        // The finished WALs are linked straight into the checkpoint.
        let result = self
            .file_set(dir)
            .and_then(|set| self.write_checkpoint(dir, &set));
        if result.is_err() {
            // A partial copy has no CURRENT; remove what was made.
            if let Ok(names) = fs.list_dir(dir) {
                for name in names {
                    let _ = fs.remove_file(&dir.join(name));
                }
            }
        }
        result
    }

    /// The locked step: everything a consistent copy needs, fixed at one
    /// sequence number.
    fn file_set(&self, staging: &Path) -> Result<FileSet<'_>> {
        // A read-only handle's WAL writes live in memory, not in a WAL
        // this could cut.
        self.check_writable("a checkpoint or backup")?;
        // `close` waits for the pass; nothing of this database is deleted
        // while the set is copied.
        let pass = self.enter()?;
        let fs = &self.fs;
        let wal = self.wal.lock();
        self.check_open()?;
        let versions = self.versions.lock();
        let seqno = self.last_seqno();
        // Finished WALs never change again: a link is their copy.
        let finished: Vec<u64> = self.wal_files.lock().keys().copied().collect();
        let mut finished_wals = Vec::with_capacity(finished.len());
        for n in finished {
            let (from, to) = (
                filename::wal_path(&self.dir, n),
                filename::wal_path(staging, n),
            );
            fs.link(&from, &to)
                .map_err(|e| Error::io("link", &from, e))?;
            finished_wals.push((n, to));
        }
        // The WAL being written: linked under a temporary name (so a
        // rotation and deletion do not take it away), cut to its current
        // length by whoever copies it.
        let from = filename::wal_path(&self.dir, wal.number);
        let tmp = staging.join(format!("{:06}.wal.partial", wal.number));
        fs.link(&from, &tmp)
            .map_err(|e| Error::io("link", &from, e))?;
        let current_wal = (wal.number, tmp, wal.writer.len());
        let pinned: Vec<_> = self
            .trees()
            .iter()
            .filter_map(|t| versions.version(t.id()))
            .collect();
        let tables = pinned
            .iter()
            .flat_map(|v| v.tables().map(|t| t.meta.number))
            .collect();
        // The copy's own manifest gets a number no file of it has.
        let manifest_number = self.next_file_number.fetch_add(1, Ordering::AcqRel);
        let next_file_number = self.next_file_number.load(Ordering::Acquire);
        let manifest = versions.snapshot_record(next_file_number).encode();
        drop(versions);
        drop(wal);
        Ok(FileSet {
            seqno,
            source: self.dir.clone(),
            fs: Arc::clone(fs),
            tables,
            finished_wals,
            current_wal,
            manifest_number,
            manifest,
            _versions: pinned,
            _pass: pass,
        })
    }

    /// The unlocked step: links the tables, cuts the WAL copy, and points
    /// `CURRENT` at the copy's manifest.
    fn write_checkpoint(&self, dir: &Path, set: &FileSet<'_>) -> Result<SeqNo> {
        let fs = &self.fs;
        for &n in &set.tables {
            let (from, to) = (set.table_path(n), filename::table_path(dir, n));
            fs.link(&from, &to)
                .map_err(|e| Error::io("link", &from, e))?;
        }
        // Up to the length the writer had: later records are later writes
        // (and past them lie the log's preallocated zeros).
        let keep = set.current_wal_bytes()?;
        let (number, tmp, _) = &set.current_wal;
        let to = filename::wal_path(dir, *number);
        let mut out = fs.create(&to).map_err(|e| Error::io("create", &to, e))?;
        out.append(&keep)
            .and_then(|()| out.sync())
            .map_err(|e| Error::io("write", &to, e))?;
        fs.remove_file(tmp)
            .map_err(|e| Error::io("remove", tmp, e))?;
        let path = filename::manifest_path(dir, set.manifest_number);
        write_manifest_file(&**fs, &path, &set.manifest)?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
        crate::version::set::install_current(&**fs, dir, set.manifest_number)?;
        tracing::info!(dir = %dir.display(), seqno = set.seqno, tables = set.tables.len(), "checkpoint written");
        Ok(set.seqno)
    }
}
