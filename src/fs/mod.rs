//! The filesystem seam: every byte rillkv reads or writes goes through [`Fs`].
//!
//! Two implementations ship:
//! - [`StdFs`], the real filesystem: logs are read with plain reads,
//!   tables with positional reads (`pread`) or, on request, through a
//!   read-only mapping (see [`Fs::open_random`]);
//! - `FaultFs`, an in-memory filesystem for tests that fails chosen
//!   writes and fsyncs and simulates a power loss by dropping everything that
//!   was not made durable (file bytes not covered by a file fsync, and names
//!   not covered by a directory fsync). It is test support, hidden from the
//!   documentation: usable, but not a stable API.
//!
//! Select one with [`Options::fs`](crate::Options::fs). rillkv relies only on
//! the guarantees written on [`Fs`]; `DESIGN.md` lists the assumptions about
//! the storage media.

mod fault;
mod fence;
mod os;
mod real;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

// Test support: public so the crate's own integration tests (and anyone
// testing crash behaviour) can use it, hidden because it is not a stable API.
#[doc(hidden)]
pub use fault::{CrashMode, FaultFs};
pub(crate) use fence::{Fence, FencePass};
pub(crate) use os::lower_thread_priority;
pub use real::StdFs;

/// A filesystem as rillkv uses it.
///
/// # Contract
/// - `create` makes a new empty file (truncating any old one); its name is
///   durable only after [`Fs::sync_dir`] on its directory.
/// - [`WritableFile::sync`] makes the bytes appended so far durable.
/// - `rename` atomically replaces the target; durable after `sync_dir`.
/// - `read` returns a copy of the whole current contents of a file. It may
///   be called on a file another thread is appending to or truncating (the
///   WAL being written, when `Db::verify` checks it): it must then return
///   some prefix of the file, or an error, never fault. So it must not map
///   the file.
/// - [`Fs::open_random`] opens a table, which is never modified once its
///   name is in a manifest (written, fsynced, then only read and finally
///   unlinked). Only there may an implementation map the file.
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
    /// Reads the whole file into memory (a copy: see the contract above).
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
    /// Makes `to` a second name of the file `from` (a hard link), or, where
    /// the filesystem cannot (another device), a copy of it, fsynced.
    /// Either way `to` keeps `from`'s content when `from` is later removed;
    /// the caller fsyncs the directory of `to`. For files that no longer
    /// change (tables, finished logs). The default copies.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// fs.create(Path::new("/d/a"))?.append(b"table")?;
    /// fs.link(Path::new("/d/a"), Path::new("/d/b"))?;
    /// fs.remove_file(Path::new("/d/a"))?;
    /// assert_eq!(fs.read(Path::new("/d/b"))?, &b"table"[..]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` if `from` is missing; `AlreadyExists` if `to` exists;
    /// whatever else the filesystem reports.
    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        if self.exists(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        let data = self.read(from)?;
        let mut out = self.create(to)?;
        out.append(&data)?;
        out.sync()
    }

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
    /// fs.sync_dir(Path::new("/"))?; // "/d" itself survives a crash now
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
    /// Opens an immutable file (a table) for reads at any offset. With
    /// `mmap`, an implementation may map the file and serve reads as
    /// zero-copy slices of the mapping; otherwise each read is a copy
    /// (`pread`). The default reads the whole file with [`Fs::read`] and
    /// serves slices of that copy.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// fs.create(Path::new("/d/t"))?.append(b"hello world")?;
    /// let file = fs.open_random(Path::new("/d/t"), false)?;
    /// assert_eq!(file.len(), 11);
    /// assert_eq!(file.read_at(6, 5)?, &b"world"[..]);
    /// assert!(file.read_at(8, 5).is_err(), "past the end");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` for a missing file; whatever else the filesystem reports.
    fn open_random(&self, path: &Path, mmap: bool) -> io::Result<Arc<dyn RandomAccessFile>> {
        let _ = mmap;
        Ok(Arc::new(InMemoryFile::new(self.read(path)?)))
    }

    /// The size of a file in bytes. The default reads the file.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::path::Path;
    /// use rillkv::fs::{FaultFs, Fs, WritableFile};
    /// let fs = FaultFs::new();
    /// fs.create_dir_all(Path::new("/d"))?;
    /// fs.create(Path::new("/d/t"))?.append(b"abc")?;
    /// assert_eq!(fs.file_size(Path::new("/d/t"))?, 3);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` for a missing file; whatever else the filesystem reports.
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(self.read(path)?.len() as u64)
    }

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
    /// fs.sync_dir(Path::new("/"))?; // make the directory durable
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

/// An immutable file opened for reads at any offset: a table. Shared by
/// every reader of the table (`Send + Sync`).
pub trait RandomAccessFile: Send + Sync + fmt::Debug {
    /// The file's size in bytes when it was opened.
    fn len(&self) -> u64;

    /// Whether the file is empty.
    ///
    /// ```
    /// use rillkv::fs::{InMemoryFile, RandomAccessFile};
    /// assert!(InMemoryFile::new(bytes::Bytes::new()).is_empty());
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exactly `len` bytes at `offset`.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use rillkv::fs::{InMemoryFile, RandomAccessFile};
    /// let file = InMemoryFile::new(bytes::Bytes::from_static(b"0123456789"));
    /// assert_eq!(file.read_at(2, 3)?, &b"234"[..]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `UnexpectedEof` if the range passes the end of the file; whatever
    /// the filesystem reports (a failing disk is an error here, never a
    /// signal).
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes>;

    /// Whether reads are zero-copy slices of a mapping (then a block cache
    /// need not hold uncompressed blocks: the mapping already does).
    ///
    /// ```
    /// use rillkv::fs::{InMemoryFile, RandomAccessFile};
    /// assert!(InMemoryFile::new(bytes::Bytes::new()).is_zero_copy());
    /// ```
    fn is_zero_copy(&self) -> bool {
        false
    }
}

/// A [`RandomAccessFile`] over bytes already in memory: what the default
/// [`Fs::open_random`] returns, and how tests and tools hand a table's bytes
/// to the reader.
#[derive(Debug, Clone)]
pub struct InMemoryFile {
    data: Bytes,
}

impl InMemoryFile {
    /// A file holding `data`.
    ///
    /// ```
    /// use rillkv::fs::{InMemoryFile, RandomAccessFile};
    /// assert_eq!(InMemoryFile::new(bytes::Bytes::from_static(b"ab")).len(), 2);
    /// ```
    pub fn new(data: Bytes) -> Self {
        InMemoryFile { data }
    }
}

impl RandomAccessFile for InMemoryFile {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let start = usize::try_from(offset).map_err(|_| past_end(offset, len))?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| past_end(offset, len))?;
        if end > self.data.len() {
            return Err(past_end(offset, len));
        }
        Ok(self.data.slice(start..end))
    }

    fn is_zero_copy(&self) -> bool {
        true
    }
}

/// The error for a read past the end of a file.
pub(crate) fn past_end(offset: u64, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("read of {len} bytes at offset {offset} passes the end of the file"),
    )
}

/// The log writer of a read-only handle (`Db::open_read_only`), which has
/// no WAL or manifest to write: every append and fsync fails. The handle
/// refuses changes before they get here; this is the second line.
#[derive(Debug, Default)]
pub(crate) struct NoWrites;

impl WritableFile for NoWrites {
    fn append(&mut self, _data: &[u8]) -> io::Result<()> {
        Err(no_writes())
    }

    fn sync(&mut self) -> io::Result<()> {
        Err(no_writes())
    }
}

fn no_writes() -> io::Error {
    io::Error::new(
        io::ErrorKind::ReadOnlyFilesystem,
        "a read-only handle writes nothing",
    )
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
