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
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates (or truncates) a file for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Reads the whole file.
    fn read(&self, path: &Path) -> io::Result<Bytes>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// The names (not paths) of the files in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Takes an exclusive lock on `path` (creating it), without waiting.
    /// Returns `Ok(None)` when someone else holds it. The lock is released
    /// when the returned guard drops.
    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>>;
}

/// A file being written: append-only.
pub trait WritableFile: Send + Sync {
    /// Appends all of `data`.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fdatasync).
    fn sync(&mut self) -> io::Result<()>;
}

/// An exclusive lock on a file, released on drop.
pub struct FileLock {
    _guard: Box<dyn Send + Sync>,
}

impl FileLock {
    pub(crate) fn new(guard: impl Send + Sync + 'static) -> Self {
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
