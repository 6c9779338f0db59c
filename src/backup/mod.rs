//! Incremental backups: [`BackupEngine`].
//!
//! A backup directory holds any number of backups of a database. Each
//! backup is the consistent file set of a checkpoint (every write up to
//! one sequence number, taken while writers run: `Db::checkpoint`'s
//! machinery), copied: tables into `shared/`, named by their number and
//! the crc32 of their whole contents, so a table that did not change
//! between two backups is stored once; the WALs and the database manifest
//! into `private/`; and last, atomically, a backup manifest in `meta/`
//! listing every file with its size and crc32. A backup exists exactly
//! when its backup manifest does: a crash before that leaves files no
//! manifest names, which the next [`BackupEngine::open`] removes.
//!
//! Layout and byte format: `docs/format/backup.md`; design:
//! `DESIGN.md`, "Backups".
//!
//! # Thread safety
//! One `BackupEngine` per backup directory, in any process: it holds the
//! directory's `LOCK` until dropped. Making and purging backups take
//! `&mut self`; listing, verifying and restoring take `&self`.

mod copy;
mod create;
mod layout;
pub(crate) mod manifest;
mod restore;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::fs::{FileLock, Fs, StdFs};
use crate::key::SeqNo;
use manifest::BackupManifest;

#[cfg(test)]
pub(crate) use layout::{meta_path, stored_name};
#[cfg(test)]
pub(crate) use manifest::{
    BACKUP_FORMAT_VERSION, BACKUP_MAGIC, ENTRY_LEN, Entry, EntryKind, HEADER_LEN, TRAILER_LEN,
};

/// Makes, lists, verifies, restores and purges the backups in one
/// backup directory.
///
/// ```
/// # fn main() -> rillkv::Result<()> {
/// # let tmp = tempfile::tempdir()?;
/// use rillkv::{BackupEngine, Db, Options};
/// let db = Db::open(tmp.path().join("db"), Options::default())?;
/// db.put(b"k", b"v1")?;
/// let mut backups = BackupEngine::open(tmp.path().join("backups"))?;
/// let first = backups.create(&db)?;
/// db.put(b"k", b"v2")?;
/// backups.create(&db)?;
/// assert_eq!(backups.list()?.len(), 2);
/// backups.verify(first.id)?;
/// backups.restore(first.id, tmp.path().join("restored"))?;
/// let restored = Db::open(tmp.path().join("restored"), Options::default())?;
/// assert_eq!(restored.get(b"k")?.as_deref(), Some(&b"v1"[..]));
/// # Ok(()) }
/// ```
pub struct BackupEngine {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    _lock: FileLock,
}

impl std::fmt::Debug for BackupEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupEngine")
            .field("dir", &self.dir)
            .finish()
    }
}

/// One backup, as [`BackupEngine::list`] and the other calls describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupInfo {
    /// The backup's id: ids grow with each backup and are never reused
    /// while a newer backup exists.
    pub id: u64,
    /// The backup holds every write up to this sequence number and none
    /// after it.
    pub seqno: SeqNo,
    /// When the backup was made.
    pub created: SystemTime,
    /// Its files (tables, WALs, the database manifest).
    pub files: usize,
    /// How many of them are tables (stored in `shared/`, possibly shared
    /// with other backups).
    pub tables: usize,
    /// The total size of its files, shared ones included.
    pub bytes: u64,
}

impl BackupInfo {
    fn of(m: &BackupManifest) -> BackupInfo {
        BackupInfo {
            id: m.id,
            seqno: m.seqno,
            created: UNIX_EPOCH + Duration::from_millis(m.created_ms),
            files: m.entries.len(),
            tables: m
                .entries
                .iter()
                .filter(|e| e.kind == manifest::EntryKind::Table)
                .count(),
            bytes: m.bytes(),
        }
    }
}

/// How far [`BackupEngine::create_with`] is, reported after each file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupProgress {
    /// Files handled so far (copied, or found already stored).
    pub files_done: usize,
    /// Files of the backup.
    pub files_total: usize,
    /// Bytes of the files handled so far.
    pub bytes_done: u64,
    /// Bytes of every file of the backup.
    pub bytes_total: u64,
    /// Files copied so far: not already stored by an earlier backup.
    pub files_copied: usize,
    /// Bytes copied so far.
    pub bytes_copied: u64,
}

/// What [`BackupEngine::purge`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Ids of the backups removed, oldest first.
    pub removed: Vec<u64>,
    /// Files deleted: the removed backups' own files and the tables no
    /// remaining backup uses.
    pub files_deleted: usize,
    /// Their total size.
    pub bytes_freed: u64,
}

impl BackupEngine {
    /// Opens (creating if missing) the backup directory `dir` on the real
    /// filesystem, takes its lock, and removes what an interrupted backup
    /// or purge left behind: files no backup manifest names.
    ///
    /// # Errors
    /// `Locked` if another `BackupEngine` holds the directory; `Io` if it
    /// cannot be created or read. A damaged backup manifest does not fail
    /// the open: nothing is removed then (which files it names is
    /// unknown), `list` and `purge` report it as `Corruption`, and the
    /// other backups still verify and restore.
    pub fn open(dir: impl AsRef<Path>) -> Result<BackupEngine> {
        Self::open_with_fs(dir, StdFs)
    }

    /// [`BackupEngine::open`] on another filesystem: the one the backed-up
    /// databases use (`Options::fs`), since a backup's WALs are linked
    /// through the database's filesystem into the backup directory while
    /// it is made. Tests pass a `FaultFs` to inject failures.
    ///
    /// # Errors
    /// As [`BackupEngine::open`].
    pub fn open_with_fs(dir: impl AsRef<Path>, fs: impl Fs) -> Result<BackupEngine> {
        let dir = dir.as_ref().to_path_buf();
        let fs: Arc<dyn Fs> = Arc::new(fs);
        let missing = !fs.exists(&dir);
        for sub in [layout::META, layout::SHARED, layout::PRIVATE, layout::TMP] {
            let path = dir.join(sub);
            fs.create_dir_all(&path)
                .map_err(|e| Error::io("create directory", &path, e))?;
        }
        fs.sync_dir(&dir)
            .map_err(|e| Error::io("fsync directory", &dir, e))?;
        if missing && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent)
                .map_err(|e| Error::io("fsync directory", parent, e))?;
        }
        let lock_path = dir.join(layout::LOCK);
        let lock = fs
            .try_lock(&lock_path)
            .map_err(|e| Error::io("lock", &lock_path, e))?
            .ok_or_else(|| {
                Error::new(
                    crate::error::ErrorKind::Locked,
                    format!(
                        "backup directory {} is in use by another BackupEngine (this process \
                         or another); drop it first",
                        dir.display()
                    ),
                )
            })?;
        let engine = BackupEngine {
            dir,
            fs,
            _lock: lock,
        };
        engine.remove_leftovers()?;
        Ok(engine)
    }

    /// The backup directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Every backup, oldest first.
    ///
    /// # Errors
    /// `Corruption` naming a damaged backup manifest; `Io`.
    pub fn list(&self) -> Result<Vec<BackupInfo>> {
        Ok(self.manifests()?.values().map(BackupInfo::of).collect())
    }

    /// Removes every backup but the newest `keep_last_n`, and then every
    /// stored file no remaining backup names. A backup is gone once its
    /// backup manifest is deleted (first); an interruption after that
    /// leaves files the next [`BackupEngine::open`] removes.
    ///
    /// # Errors
    /// `Corruption` if a backup manifest is damaged (nothing is removed);
    /// `Io`.
    pub fn purge(&mut self, keep_last_n: usize) -> Result<PurgeReport> {
        let manifests = self.manifests()?;
        let remove = manifests.len().saturating_sub(keep_last_n);
        let mut report = PurgeReport::default();
        let meta_dir = self.dir.join(layout::META);
        for id in manifests.keys().take(remove) {
            let path = layout::meta_path(&self.dir, *id);
            self.fs
                .remove_file(&path)
                .map_err(|e| Error::io("remove", &path, e))?;
            report.removed.push(*id);
        }
        if remove > 0 {
            self.fs
                .sync_dir(&meta_dir)
                .map_err(|e| Error::io("fsync directory", &meta_dir, e))?;
        }
        let kept: Vec<&BackupManifest> = manifests.values().skip(remove).collect();
        let (files, bytes) = self.remove_unreferenced(&kept)?;
        report.files_deleted = files;
        report.bytes_freed = bytes;
        tracing::info!(
            dir = %self.dir.display(),
            removed = report.removed.len(),
            files = files,
            bytes = bytes,
            "backups purged"
        );
        Ok(report)
    }

    /// Every backup manifest, by id.
    fn manifests(&self) -> Result<BTreeMap<u64, BackupManifest>> {
        let meta_dir = self.dir.join(layout::META);
        let mut out = BTreeMap::new();
        for name in self.names_in(&meta_dir)? {
            let Some(id) = layout::parse_meta(&name) else {
                continue;
            };
            let m = self.read_manifest(id)?;
            out.insert(id, m);
        }
        Ok(out)
    }

    /// Backup `id`'s manifest.
    fn read_manifest(&self, id: u64) -> Result<BackupManifest> {
        let path = layout::meta_path(&self.dir, id);
        let data = self.fs.read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::invalid(format!(
                    "no backup {id} in {}; `list` shows the backups there",
                    self.dir.display()
                ))
            } else {
                Error::io("read", &path, e)
            }
        })?;
        let m = BackupManifest::decode(&path, &data)?;
        if m.id != id {
            return Err(Error::corruption(
                &path,
                0,
                format!("the file names backup {id} but holds backup {}", m.id),
            ));
        }
        Ok(m)
    }

    /// The names in `dir` (missing: none).
    fn names_in(&self, dir: &Path) -> Result<Vec<String>> {
        match self.fs.list_dir(dir) {
            Ok(names) => Ok(names),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io("list", dir, e)),
        }
    }

    /// At open: empties `tmp/`, removes backup manifests being written,
    /// and every stored file no backup manifest names.
    fn remove_leftovers(&self) -> Result<()> {
        let tmp = self.dir.join(layout::TMP);
        for name in self.names_in(&tmp)? {
            let path = tmp.join(name);
            self.fs
                .remove_file(&path)
                .map_err(|e| Error::io("remove", &path, e))?;
        }
        let meta_dir = self.dir.join(layout::META);
        for name in self.names_in(&meta_dir)? {
            if layout::parse_meta(&name).is_none() {
                let path = meta_dir.join(name);
                self.fs
                    .remove_file(&path)
                    .map_err(|e| Error::io("remove", &path, e))?;
            }
        }
        let manifests = match self.manifests() {
            Ok(m) => m,
            // Which files it names is unknown: delete none. `list` and
            // `purge` report it; the other backups verify and restore.
            Err(e) if e.kind() == crate::error::ErrorKind::Corruption => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "a backup manifest is damaged; no leftover file removed");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let kept: Vec<&BackupManifest> = manifests.values().collect();
        let (files, _) = self.remove_unreferenced(&kept)?;
        if files > 0 {
            tracing::info!(dir = %self.dir.display(), files, "removed files of an interrupted backup or purge");
        }
        Ok(())
    }

    /// Deletes every file in `shared/` and `private/` that none of `kept`
    /// names; returns how many and their size.
    fn remove_unreferenced(&self, kept: &[&BackupManifest]) -> Result<(usize, u64)> {
        let live: HashSet<String> = kept
            .iter()
            .flat_map(|m| m.entries.iter().map(|e| layout::stored_name(m.id, e)))
            .collect();
        let (mut files, mut bytes) = (0, 0);
        for sub in [layout::SHARED, layout::PRIVATE] {
            let dir = self.dir.join(sub);
            let mut removed = false;
            for name in self.names_in(&dir)? {
                if live.contains(&name) {
                    continue;
                }
                let path = dir.join(&name);
                bytes += self.fs.file_size(&path).unwrap_or(0);
                self.fs
                    .remove_file(&path)
                    .map_err(|e| Error::io("remove", &path, e))?;
                files += 1;
                removed = true;
            }
            if removed {
                self.fs
                    .sync_dir(&dir)
                    .map_err(|e| Error::io("fsync directory", &dir, e))?;
            }
        }
        Ok((files, bytes))
    }
}
