//! Making a backup: a checkpoint's file set, copied.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::copy::{self, Sum};
use super::manifest::{BackupManifest, Entry, EntryKind};
use super::{BackupEngine, BackupInfo, BackupProgress, layout};
use crate::db::{Db, FileSet, write_manifest_file};
use crate::error::{Error, Result};

impl BackupEngine {
    /// Backs up `db` (every keyspace) while it runs: see
    /// [`BackupEngine::create_with`].
    ///
    /// # Errors
    /// As [`BackupEngine::create_with`].
    pub fn create(&mut self, db: &Db) -> Result<BackupInfo> {
        self.create_with(db, |_| {})
    }

    /// Backs up `db` (every keyspace) at one sequence number while
    /// writers, flushes and compactions go on, calling `progress` after
    /// each file. Only tables no earlier backup stored are copied; the
    /// WALs and the database manifest are copied every time (at most a
    /// few memtables' worth). Writers wait only while the files are
    /// listed, as for [`Db::checkpoint`]; `Db::close` waits for a backup
    /// in progress. The new backup is listed only once complete and
    /// durable.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// use rillkv::{BackupEngine, Db, Options};
    /// let db = Db::open(tmp.path().join("db"), Options::default())?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// let mut backups = BackupEngine::open(tmp.path().join("backups"))?;
    /// let first = backups.create(&db)?;
    /// db.put(b"k2", b"v2")?;
    /// let mut copied = 0;
    /// backups.create_with(&db, |p| copied = p.files_copied)?;
    /// // The table was stored by the first backup: only the WAL and the
    /// // database manifest are copied again.
    /// assert_eq!(first.tables, 1);
    /// assert_eq!(copied, 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed`; `Io` if a file cannot be read or written (what the
    /// attempt wrote is removed; the database is untouched).
    pub fn create_with(
        &mut self,
        db: &Db,
        mut progress: impl FnMut(&BackupProgress),
    ) -> Result<BackupInfo> {
        let id = self.next_id()?;
        let staging = self.dir.join(layout::TMP);
        let set = db.file_set(&staging)?;
        let mut made = Vec::new();
        let result = self.copy_set(id, &set, &mut made, &mut progress);
        let cleaned = set.remove_staged();
        drop(set);
        match result.and_then(|m| cleaned.map(|()| m)) {
            Ok(m) => {
                let info = BackupInfo::of(&m);
                tracing::info!(
                    dir = %self.dir.display(),
                    id,
                    seqno = m.seqno,
                    files = info.files,
                    bytes = info.bytes,
                    "backup made"
                );
                Ok(info)
            }
            Err(e) => {
                for path in made {
                    let _ = self.fs.remove_file(&path);
                }
                Err(e)
            }
        }
    }

    /// One more than the newest backup's id.
    fn next_id(&self) -> Result<u64> {
        let meta_dir = self.dir.join(layout::META);
        let newest = self
            .names_in(&meta_dir)?
            .iter()
            .filter_map(|n| layout::parse_meta(n))
            .max()
            .unwrap_or(0);
        Ok(newest + 1)
    }

    /// Copies the set's files, then writes the backup manifest. Every file
    /// it creates is pushed to `made` first.
    fn copy_set(
        &self,
        id: u64,
        set: &FileSet<'_>,
        made: &mut Vec<PathBuf>,
        progress: &mut impl FnMut(&BackupProgress),
    ) -> Result<BackupManifest> {
        let src = &*set.fs;
        let dst = &*self.fs;
        let root = &self.dir;
        let mut p = BackupProgress {
            files_total: set.tables.len() + set.finished_wals.len() + 2,
            ..BackupProgress::default()
        };
        p.bytes_total = set.current_wal.2 + set.manifest.len() as u64;
        for &n in &set.tables {
            let path = set.table_path(n);
            p.bytes_total += src
                .file_size(&path)
                .map_err(|e| Error::io("stat", &path, e))?;
        }
        for (_, path) in &set.finished_wals {
            p.bytes_total += src
                .file_size(path)
                .map_err(|e| Error::io("stat", path, e))?;
        }
        let mut entries = Vec::new();
        // Tables: summed where they are; copied only if no backup stored
        // these bytes under this number yet.
        for &number in &set.tables {
            let from = set.table_path(number);
            let Sum { size, crc } = copy::sum(src, &from)?;
            let entry = Entry {
                kind: EntryKind::Table,
                number,
                size,
                crc,
            };
            let to = layout::stored_path(root, id, &entry);
            let stored = dst.file_size(&to).ok() == Some(size);
            if !stored {
                let tmp = to.with_extension("rkt.tmp");
                made.push(tmp.clone());
                copy::copy(src, &from, dst, &tmp, Some(Sum { size, crc }))?;
                made.push(to.clone());
                dst.rename(&tmp, &to)
                    .map_err(|e| Error::io("rename", &tmp, e))?;
                p.files_copied += 1;
                p.bytes_copied += size;
            }
            entries.push(entry);
            p.files_done += 1;
            p.bytes_done += size;
            progress(&p);
        }
        // Finished WALs: linked into the staging directory, copied out.
        for (number, from) in &set.finished_wals {
            let sum = copy::sum(src, from)?;
            let entry = private(EntryKind::Wal, *number, sum);
            let to = layout::stored_path(root, id, &entry);
            made.push(to.clone());
            copy::copy(src, from, dst, &to, Some(sum))?;
            entries.push(entry);
            p.add_copied(sum.size);
            progress(&p);
        }
        // The WAL being written, cut to the set's length.
        let (number, _, _) = set.current_wal;
        let bytes = set.current_wal_bytes()?;
        let entry = private(
            EntryKind::Wal,
            number,
            Sum {
                size: bytes.len() as u64,
                crc: crc32fast::hash(&bytes),
            },
        );
        let to = layout::stored_path(root, id, &entry);
        made.push(to.clone());
        copy::write(dst, &to, &bytes)?;
        entries.push(entry);
        p.add_copied(bytes.len() as u64);
        progress(&p);
        // The database manifest, framed as a manifest file.
        let probe = private(
            EntryKind::Manifest,
            set.manifest_number,
            Sum { size: 0, crc: 0 },
        );
        let to = layout::stored_path(root, id, &probe);
        made.push(to.clone());
        write_manifest_file(dst, &to, &set.manifest)?;
        let entry = private(
            EntryKind::Manifest,
            set.manifest_number,
            copy::sum(dst, &to)?,
        );
        entries.push(entry);
        // The total counted the record; the file frames it.
        p.bytes_total = p.bytes_total - set.manifest.len() as u64 + entry.size;
        p.add_copied(entry.size);
        progress(&p);
        for sub in [layout::SHARED, layout::PRIVATE] {
            let dir = root.join(sub);
            dst.sync_dir(&dir)
                .map_err(|e| Error::io("fsync directory", &dir, e))?;
        }
        let manifest = BackupManifest {
            id,
            seqno: set.seqno,
            created_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            entries,
        };
        self.install_manifest(&manifest, made)?;
        Ok(manifest)
    }

    /// Writes the backup manifest: temp file, fsync, rename, directory
    /// fsync. The backup exists from the rename on.
    fn install_manifest(&self, m: &BackupManifest, made: &mut Vec<PathBuf>) -> Result<()> {
        let fs = &*self.fs;
        let tmp = layout::meta_temp_path(&self.dir, m.id);
        let to = layout::meta_path(&self.dir, m.id);
        made.push(tmp.clone());
        copy::write(fs, &tmp, &m.encode())?;
        made.push(to.clone());
        fs.rename(&tmp, &to)
            .map_err(|e| Error::io("rename", &tmp, e))?;
        let meta_dir = self.dir.join(layout::META);
        fs.sync_dir(&meta_dir)
            .map_err(|e| Error::io("fsync directory", &meta_dir, e))
    }
}

/// The entry of a file kept in `private/`.
fn private(kind: EntryKind, number: u64, sum: Sum) -> Entry {
    Entry {
        kind,
        number,
        size: sum.size,
        crc: sum.crc,
    }
}

impl BackupProgress {
    fn add_copied(&mut self, bytes: u64) {
        self.files_done += 1;
        self.bytes_done += bytes;
        self.files_copied += 1;
        self.bytes_copied += bytes;
    }
}
