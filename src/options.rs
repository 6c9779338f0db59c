//! Options for opening a database and for single calls.
//!
//! All option types are consuming builders with documented defaults.
//! [`Db::open`](crate::Db::open) validates them and returns
//! [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) on
//! nonsense.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::{Fs, StdFs};

/// How recovery treats damaged log bytes (the WAL and the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Default. A damaged *tail* of a log (a torn or partly written last
    /// record, zeros or garbage after the last good record) is dropped and
    /// reported; damage followed by good records is a
    /// [`Corruption`](crate::ErrorKind::Corruption) error naming file and
    /// offset. This is what a crash, even a power loss, can produce.
    #[default]
    TolerateCorruptedTail,
    /// Lenient: stop replay at the first damaged record anywhere and drop
    /// everything after it, in that log and in every later one. The database
    /// opens with a prefix of its history; what was dropped is reported.
    PointInTime,
    /// Strict: any damaged byte, even a torn tail, fails the open.
    AbsoluteConsistency,
}

/// Options for opening a [`Db`](crate::Db).
///
/// ```
/// use rillkv::Options;
/// let opts = Options::default().memtable_size(8 << 20).create_if_missing(true);
/// # let _ = opts;
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) create_if_missing: bool,
    pub(crate) error_if_exists: bool,
    pub(crate) memtable_size: usize,
    pub(crate) max_sealed_memtables: usize,
    pub(crate) recovery_mode: RecoveryMode,
    pub(crate) fs: Arc<dyn Fs>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            memtable_size: 64 << 20,
            max_sealed_memtables: 4,
            recovery_mode: RecoveryMode::default(),
            fs: Arc::new(StdFs),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("create_if_missing", &self.create_if_missing)
            .field("error_if_exists", &self.error_if_exists)
            .field("memtable_size", &self.memtable_size)
            .field("max_sealed_memtables", &self.max_sealed_memtables)
            .field("recovery_mode", &self.recovery_mode)
            .field("fs", &self.fs)
            .finish()
    }
}

impl Options {
    /// Creates the directory and an empty database if none exists.
    /// Default: `true`.
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }

    /// Fails the open if a database already exists. Default: `false`.
    pub fn error_if_exists(mut self, yes: bool) -> Self {
        self.error_if_exists = yes;
        self
    }

    /// Bytes of writes the active memtable takes before it is sealed and a
    /// new one (with a new WAL) starts. Default: 64 MiB. Must be at least
    /// 4 KiB.
    pub fn memtable_size(mut self, bytes: usize) -> Self {
        self.memtable_size = bytes;
        self
    }

    /// How many sealed memtables may wait for flush before writers block
    /// (backpressure bounding memory). Default: 4. Must be at least 1.
    pub fn max_sealed_memtables(mut self, n: usize) -> Self {
        self.max_sealed_memtables = n;
        self
    }

    /// How recovery treats damaged log bytes. Default:
    /// [`RecoveryMode::TolerateCorruptedTail`].
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }

    /// The filesystem to use. Default: [`StdFs`], the real one. Tests pass a
    /// [`FaultFs`](crate::fs::FaultFs) to inject failures and power loss.
    pub fn fs(mut self, fs: impl Fs) -> Self {
        self.fs = Arc::new(fs);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.memtable_size < 4096 {
            return Err(Error::invalid(format!(
                "memtable_size {} is too small; use at least 4096 bytes",
                self.memtable_size
            )));
        }
        if self.max_sealed_memtables == 0 {
            return Err(Error::invalid("max_sealed_memtables must be at least 1"));
        }
        Ok(())
    }
}

/// Options for one write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub(crate) sync: bool,
}

impl WriteOptions {
    /// Fsync the WAL before the write returns, so that it survives a power
    /// loss. Without it a write survives a process crash but maybe not a
    /// power loss. Default: `false`.
    pub fn sync(mut self, yes: bool) -> Self {
        self.sync = yes;
        self
    }
}
