//! Checking a backup, and restoring one into a new database directory.

use std::path::Path;

use super::copy::{self, Sum};
use super::manifest::EntryKind;
use super::{BackupEngine, BackupInfo, layout};
use crate::error::{Error, Result};

impl BackupEngine {
    /// Reads every file of backup `id` and checks its size and crc32
    /// against the backup manifest (whose own checksum is checked too).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// use rillkv::{BackupEngine, Db, Options};
    /// let db = Db::open(tmp.path().join("db"), Options::default())?;
    /// db.put(b"k", b"v")?;
    /// let mut backups = BackupEngine::open(tmp.path().join("backups"))?;
    /// let info = backups.create(&db)?;
    /// assert_eq!(backups.verify(info.id)?, info);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Corruption` naming the first damaged file (a table, a WAL, the
    /// database manifest or the backup manifest itself) and what is wrong
    /// with it; `InvalidArgument` for an unknown id; `Io` for a missing or
    /// unreadable file.
    pub fn verify(&self, id: u64) -> Result<BackupInfo> {
        let m = self.read_manifest(id)?;
        for e in &m.entries {
            let path = layout::stored_path(&self.dir, id, e);
            let got = copy::sum(&*self.fs, &path)?;
            let want = Sum {
                size: e.size,
                crc: e.crc,
            };
            if got != want {
                return Err(copy::mismatch(&path, want, got));
            }
        }
        Ok(BackupInfo::of(&m))
    }

    /// Restores backup `id` into `target`, which must not exist or be an
    /// empty directory: every file is copied and checked against its
    /// recorded checksum, and `CURRENT` is written last, so `target` opens
    /// as a normal database (`Db::open`, which replays the backup's WALs)
    /// holding exactly the writes up to the backup's sequence number.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// use rillkv::{BackupEngine, Db, ErrorKind, Options};
    /// let db = Db::open(tmp.path().join("db"), Options::default())?;
    /// db.put(b"k", b"v")?;
    /// let mut backups = BackupEngine::open(tmp.path().join("backups"))?;
    /// let info = backups.create(&db)?;
    /// let err = backups.restore(info.id, tmp.path().join("db")).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument, "never over a database");
    /// backups.restore(info.id, tmp.path().join("restored"))?;
    /// let restored = Db::open(tmp.path().join("restored"), Options::default())?;
    /// assert_eq!(restored.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` if `target` holds anything (it is left as it was)
    /// or `id` is unknown; `Corruption` naming a damaged file of the
    /// backup; `Io`. On error the files written to `target` are removed.
    pub fn restore(&self, id: u64, target: impl AsRef<Path>) -> Result<BackupInfo> {
        let target = target.as_ref();
        let m = self.read_manifest(id)?;
        let fs = &*self.fs;
        match fs.list_dir(target) {
            Ok(names) if !names.is_empty() => {
                return Err(Error::invalid(format!(
                    "restore target {} is not empty; give a new or empty directory",
                    target.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs.create_dir_all(target)
                    .map_err(|e| Error::io("create directory", target, e))?;
                if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs.sync_dir(parent)
                        .map_err(|e| Error::io("fsync directory", parent, e))?;
                }
            }
            Err(e) => return Err(Error::io("list", target, e)),
        }
        let mut made = Vec::new();
        let result = (|| {
            for e in &m.entries {
                let from = layout::stored_path(&self.dir, id, e);
                let to = layout::restored_path(target, e);
                made.push(to.clone());
                let want = Sum {
                    size: e.size,
                    crc: e.crc,
                };
                copy::copy(fs, &from, fs, &to, Some(want))?;
            }
            fs.sync_dir(target)
                .map_err(|e| Error::io("fsync directory", target, e))?;
            let manifest = m
                .manifest_entry()
                .filter(|e| e.kind == EntryKind::Manifest)
                .map(|e| e.number)
                .ok_or_else(|| {
                    Error::corruption(
                        &layout::meta_path(&self.dir, id),
                        0,
                        "the backup lists no database manifest",
                    )
                })?;
            made.push(crate::filename::temp_path(target, manifest));
            made.push(target.join(crate::filename::CURRENT));
            crate::version::set::install_current(fs, target, manifest)
        })();
        if let Err(e) = result {
            for path in made {
                let _ = fs.remove_file(&path);
            }
            return Err(e);
        }
        tracing::info!(
            dir = %self.dir.display(),
            id,
            target = %target.display(),
            "backup restored"
        );
        Ok(BackupInfo::of(&m))
    }
}
