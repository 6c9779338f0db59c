//! The filesystem seam: every byte rillkv reads or writes goes through [`Fs`].
//!
//! Two implementations ship:
//! - [`StdFs`], the real filesystem (files read through `memmap2`);
//! - [`FaultFs`], an in-memory filesystem for tests that fails chosen
//!   writes and fsyncs and simulates a power loss by dropping everything that
//!   was not made durable (file bytes not covered by a file fsync, and names
//!   not covered by a directory fsync).
//!
//! Select one with [`Options::fs`](crate::Options::fs). rillkv relies only on
//! the guarantees written on [`Fs`]; `DESIGN.md` lists the assumptions about
//! the storage media.

mod fault;
mod real;

use std::fmt;
use std::io;
use std::path::Path;

use bytes::Bytes;

pub use fault::{CrashMode, FaultFs};
pub use real::StdFs;

/// A filesystem as rillkv uses it.
///
/// # Contract
/// - `create` makes a new empty file (truncating any old one); its name is
///   durable only after [`Fs::sync_dir`] on its directory.
/// - [`WritableFile::sync`] makes the bytes appended so far durable.
/// - `rename` atomically replaces the target; durable after `sync_dir`.
/// - `read` returns the whole current contents of a file. Files rillkv reads
///   are never modified afterwards (tables and finished logs are immutable),
///   so an implementation may map them.
pub trait Fs: Send + Sync + fmt::Debug + 'static {
    /// Creates `dir` and its parents if missing.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/data/app"))?;
    /// assert!(fs.list_dir(Path::new("/data/app"))?.is_empty());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Whatever the filesystem reports (permissions, a file in the way).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates (or truncates) a file for appending.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// let mut file = fs.create(Path::new("/d/x"))?;
    /// file.append(b"hello")?;
    /// assert_eq!(fs.read(Path::new("/d/x"))?, &b"hello"[..]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` if the directory does not exist; whatever else the
    /// filesystem reports.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Reads the whole file.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// fs.create(Path::new("/d/x"))?.append(b"abc")?;
    /// assert_eq!(fs.read(Path::new("/d/x"))?, &b"abc"[..]);
    /// assert_eq!(fs.read(Path::new("/d/y")).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` for a missing file; whatever else the filesystem reports.
    fn read(&self, path: &Path) -> io::Result<Bytes>;
    /// Atomically renames `from` to `to`, replacing `to`.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// fs.create(Path::new("/d/new.tmp"))?.append(b"2")?;
    /// fs.create(Path::new("/d/CURRENT"))?.append(b"1")?;
    /// fs.rename(Path::new("/d/new.tmp"), Path::new("/d/CURRENT"))?;
    /// assert_eq!(fs.read(Path::new("/d/CURRENT"))?, &b"2"[..]);
    /// assert!(!fs.exists(Path::new("/d/new.tmp")));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` if `from` is missing; whatever else the filesystem reports.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// fs.create(Path::new("/d/x"))?;
    /// fs.remove_file(Path::new("/d/x"))?;
    /// assert!(!fs.exists(Path::new("/d/x")));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` for a missing file; whatever else the filesystem reports.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// The names (not paths) of the files in `dir`.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// fs.create(Path::new("/d/b"))?;
    /// fs.create(Path::new("/d/a"))?;
    /// let mut names = fs.list_dir(Path::new("/d"))?;
    /// names.sort();
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` for a missing directory; whatever else the filesystem
    /// reports.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// use rillkv::fs::CrashMode;
    /// fs.create_dir_all(Path::new("/d"))?;
    /// fs.create(Path::new("/d/kept"))?.sync()?;
    /// fs.sync_dir(Path::new("/d"))?;
    /// fs.create(Path::new("/d/lost"))?.sync()?; // its bytes are durable, its name is not
    /// fs.crash(CrashMode::DropUnsynced);
    /// assert!(fs.exists(Path::new("/d/kept")));
    /// assert!(!fs.exists(Path::new("/d/lost")));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Whatever the filesystem reports. rillkv turns it into an `Io` error
    /// naming the file.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Whether `path` exists.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// assert!(!fs.exists(Path::new("/d/x")));
    /// fs.create(Path::new("/d/x"))?;
    /// assert!(fs.exists(Path::new("/d/x")));
    /// # Ok(()) }
    /// ```
    fn exists(&self, path: &Path) -> bool;
    /// Takes an exclusive lock on `path` (creating it), without waiting.
    /// Returns `Ok(None)` when someone else holds it. The lock is released
    /// when the returned guard drops.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// let lock = fs.try_lock(Path::new("/d/LOCK"))?;
    /// assert!(lock.is_some());
    /// assert!(fs.try_lock(Path::new("/d/LOCK"))?.is_none(), "held");
    /// drop(lock);
    /// assert!(fs.try_lock(Path::new("/d/LOCK"))?.is_some(), "released on drop");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Only for a failure other than the lock being held (for example the
    /// lock file cannot be created).
    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>>;
}

/// A file being written: append-only.
pub trait WritableFile: Send + Sync {
    /// Appends all of `data`.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// let mut file = fs.create(Path::new("/d/log"))?;
    /// file.append(b"ab")?;
    /// file.append(b"cd")?;
    /// assert_eq!(fs.read(Path::new("/d/log"))?, &b"abcd"[..]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Whatever the filesystem reports (`StorageFull` for a full disk). Part
    /// of `data` may have been written.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fdatasync).
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// use rillkv::fs::CrashMode;
    /// fs.create_dir_all(Path::new("/d"))?;
    /// let mut file = fs.create(Path::new("/d/log"))?;
    /// fs.sync_dir(Path::new("/d"))?; // make the name durable
    /// file.append(b"durable")?;
    /// file.sync()?;
    /// file.append(b" lost")?;
    /// fs.crash(CrashMode::DropUnsynced);
    /// assert_eq!(fs.read(Path::new("/d/log"))?, &b"durable"[..]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Whatever the filesystem reports. After a failed sync the file's state
    /// on disk is unknown: rillkv never retries it and refuses further writes.
    fn sync(&mut self) -> io::Result<()>;
    /// Grows the file to at least `len` bytes, the bytes past what was
    /// appended reading as zeros, without moving where the next `append`
    /// writes. The WAL preallocates this way so that a synced append need
    /// not also make a new file size durable (on ext4 that halves the cost
    /// of an fdatasync); a log's reader takes zeros up to the end of the
    /// file for its end (`docs/format/wal.md`). The default does nothing,
    /// which is always correct: preallocation only saves time.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use rillkv::fs::{Fs, StdFs, WritableFile};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("log");
    /// let mut file = StdFs.create(&path)?;
    /// file.preallocate(4096)?;
    /// file.append(b"ab")?;
    /// let data = StdFs.read(&path)?;
    /// assert_eq!((data.len(), &data[..3]), (4096, &b"ab\0"[..]));
    /// file.trim(2)?;
    /// assert_eq!(StdFs.read(&path)?, &b"ab"[..]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Whatever the filesystem reports.
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let _ = len;
        Ok(())
    }

    /// Cuts preallocated space: the file ends at `len`, which must be what
    /// was appended. The WAL trims itself when it is closed or replaced,
    /// so a cleanly closed log holds no zeros. The default does nothing.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new(); // FaultFs does not preallocate
    /// fs.create_dir_all(Path::new("/d"))?;
    /// let mut file = fs.create(Path::new("/d/log"))?;
    /// file.preallocate(4096)?;
    /// file.append(b"ab")?;
    /// file.trim(2)?;
    /// assert_eq!(fs.read(Path::new("/d/log"))?, &b"ab"[..]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Whatever the filesystem reports.
    fn trim(&mut self, len: u64) -> io::Result<()> {
        let _ = len;
        Ok(())
    }
}

/// An exclusive lock on a file, released on drop.
pub struct FileLock {
    _guard: Box<dyn Send + Sync>,
}

impl FileLock {
    /// A lock held as long as `guard` lives: what an [`Fs::try_lock`]
    /// implementation returns, with a guard that releases the lock on drop.
    ///
    /// ```
    /// use rillkv::fs::FileLock;
    /// struct Released; // a real guard unlocks in its `Drop`
    /// let lock = FileLock::new(Released);
    /// drop(lock);
    /// ```
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        FileLock {
            _guard: Box::new(guard),
        }
    }
}

impl fmt::Debug for FileLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileLock")
    }
}
