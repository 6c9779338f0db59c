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

use super::{Db, DbInner};
use crate::error::{Error, Result};
use crate::filename;
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
    /// `Closed`; `Io` if a file cannot be linked, copied or written (the
    /// partial copy is removed).
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<SeqNo> {
        self.inner.checkpoint(dir.as_ref())
    }
}

/// What the locked step of a checkpoint took.
struct Taken {
    seqno: SeqNo,
    /// Tables to link; their versions are held, so none is deleted first.
    tables: Vec<u64>,
    _versions: Vec<Arc<crate::version::Version>>,
    /// The WAL being written, linked into the checkpoint under a
    /// temporary name, and how many of its bytes belong to the checkpoint.
    current_wal: (u64, PathBuf, u64),
    manifest_number: u64,
    /// The copy's manifest: the whole state as one record.
    manifest: Vec<u8>,
}

impl DbInner {
    fn checkpoint(&self, dir: &Path) -> Result<SeqNo> {
        self.check_open()?;
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
        // `close` waits for the pass; nothing of this database is deleted
        // while it lists and links.
        let _pass = self.enter()?;
        let result = self
            .take_checkpoint(dir)
            .and_then(|taken| self.write_checkpoint(dir, taken));
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
    fn take_checkpoint(&self, dir: &Path) -> Result<Taken> {
        let fs = &self.fs;
        let wal = self.wal.lock();
        self.check_open()?;
        let versions = self.versions.lock();
        let seqno = self.last_seqno();
        // Finished WALs never change again: a link is their copy.
        let finished: Vec<u64> = self.wal_files.lock().keys().copied().collect();
        for n in finished {
            let (from, to) = (filename::wal_path(&self.dir, n), filename::wal_path(dir, n));
            fs.link(&from, &to)
                .map_err(|e| Error::io("link", &from, e))?;
        }
        // The WAL being written: linked under a temporary name (so a
        // rotation and deletion do not take it away), cut to its current
        // length afterwards.
        let from = filename::wal_path(&self.dir, wal.number);
        let tmp = dir.join(format!("{:06}.wal.partial", wal.number));
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
        Ok(Taken {
            seqno,
            tables,
            _versions: pinned,
            current_wal,
            manifest_number,
            manifest,
        })
    }

    /// The unlocked step: links the tables, cuts the WAL copy, and points
    /// `CURRENT` at the copy's manifest.
    fn write_checkpoint(&self, dir: &Path, taken: Taken) -> Result<SeqNo> {
        let fs = &self.fs;
        for n in &taken.tables {
            let (from, to) = (
                filename::table_path(&self.dir, *n),
                filename::table_path(dir, *n),
            );
            fs.link(&from, &to)
                .map_err(|e| Error::io("link", &from, e))?;
        }
        // Up to the length the writer had: later records are later writes
        // (and past them lie the log's preallocated zeros).
        let (number, tmp, len) = &taken.current_wal;
        let keep = fs
            .open_random(tmp, false)
            .and_then(|f| f.read_at(0, *len as usize))
            .map_err(|e| Error::io("read", tmp, e))?;
        let to = filename::wal_path(dir, *number);
        let mut out = fs.create(&to).map_err(|e| Error::io("create", &to, e))?;
        out.append(&keep)
            .and_then(|()| out.sync())
            .map_err(|e| Error::io("write", &to, e))?;
        fs.remove_file(tmp)
            .map_err(|e| Error::io("remove", tmp, e))?;
        let path = filename::manifest_path(dir, taken.manifest_number);
        let file = fs
            .create(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        let mut log = wal::Writer::new(file);
        log.add_record(&taken.manifest)
            .and_then(|()| log.sync())
            .map_err(|e| Error::io("write", &path, e))?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
        crate::version::set::install_current(&**fs, dir, taken.manifest_number)?;
        tracing::info!(dir = %dir.display(), seqno = taken.seqno, tables = taken.tables.len(), "checkpoint written");
        Ok(taken.seqno)
    }
}
