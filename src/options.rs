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
use crate::merge::{MergeError, MergeFn, MergeOperator};
use crate::table::Compression;

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
    pub(crate) block_size: usize,
    pub(crate) compression: Compression,
    pub(crate) bloom_bits_per_key: u32,
    pub(crate) block_cache_size: u64,
    pub(crate) max_manifest_size: u64,
    pub(crate) merge_operator: Option<Arc<dyn MergeOperator>>,
    pub(crate) merge_batch_size: usize,
    pub(crate) merge_writeback_threshold: usize,
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
            block_size: 4096,
            compression: Compression::default(),
            bloom_bits_per_key: 10,
            block_cache_size: 64 << 20,
            max_manifest_size: 4 << 20,
            merge_operator: None,
            merge_batch_size: 100,
            merge_writeback_threshold: 1000,
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
            .field("block_size", &self.block_size)
            .field("compression", &self.compression)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("block_cache_size", &self.block_cache_size)
            .field("max_manifest_size", &self.max_manifest_size)
            .field(
                "merge_operator",
                &self.merge_operator.as_ref().map(|m| m.name().to_owned()),
            )
            .field("merge_batch_size", &self.merge_batch_size)
            .field("merge_writeback_threshold", &self.merge_writeback_threshold)
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

    /// Target size of a table's data block before compression. Default:
    /// 4096 bytes. Must be between 1 KiB and 1 MiB.
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size = bytes;
        self
    }

    /// How table blocks are compressed. Default: zstd (see
    /// [`Compression`]).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Bloom filter bits per key in each table; 0 disables filters.
    /// Default: 10 (about 1% false positives). At most 30.
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Self {
        self.bloom_bits_per_key = bits;
        self
    }

    /// Bytes of decompressed blocks kept in the shared block cache; 0
    /// disables it. Default: 64 MiB.
    pub fn block_cache_size(mut self, bytes: u64) -> Self {
        self.block_cache_size = bytes;
        self
    }

    /// The manifest is rewritten as a snapshot once it grows past this many
    /// bytes. Default: 4 MiB. At least 1 KiB.
    pub fn max_manifest_size(mut self, bytes: u64) -> Self {
        self.max_manifest_size = bytes;
        self
    }

    /// The merge operator that combines [`Db::merge`](crate::Db::merge)
    /// operands. Its name is stored in the database; reopening with an
    /// operator of another name fails. Default: none (merges are refused).
    pub fn merge_operator(mut self, op: impl MergeOperator) -> Self {
        self.merge_operator = Some(Arc::new(op));
        self
    }

    /// A merge operator from a closure `f(key, existing, operand)`. The
    /// closure must obey the associativity law of [`crate::merge`].
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options};
    /// let opts = Options::default().merge_fn("concat", |_key, existing, op| {
    ///     let mut v = existing.unwrap_or_default().to_vec();
    ///     v.extend_from_slice(op);
    ///     Ok(v)
    /// });
    /// let db = Db::open(dir.path(), opts)?;
    /// db.merge(b"k", b"ab")?;
    /// db.merge(b"k", b"cd")?;
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"abcd"[..]));
    /// # Ok(()) }
    /// ```
    pub fn merge_fn<F>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(&[u8], Option<&[u8]>, &[u8]) -> std::result::Result<Vec<u8>, MergeError>
            + Send
            + Sync
            + 'static,
    {
        self.merge_operator = Some(Arc::new(MergeFn {
            name: name.into(),
            f,
        }));
        self
    }

    /// How many operands a read, flush or compaction folds in one
    /// `merge_batch` call; memory for one key's operands stays bounded by
    /// this. Default: 100. Must be at least 1.
    pub fn merge_batch_size(mut self, n: usize) -> Self {
        self.merge_batch_size = n;
        self
    }

    /// When a point read folds more than this many operands for one key, it
    /// writes the result back as a new base value (only if no newer write to
    /// the key happened meanwhile), so hot counters do not re-fold their
    /// history. 0 disables. Default: 1000.
    pub fn merge_writeback_threshold(mut self, n: usize) -> Self {
        self.merge_writeback_threshold = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.merge_batch_size == 0 {
            return Err(Error::invalid("merge_batch_size must be at least 1"));
        }
        if let Some(op) = &self.merge_operator
            && op.name().is_empty()
        {
            return Err(Error::invalid("a merge operator needs a non-empty name"));
        }
        if !(1024..=1 << 20).contains(&self.block_size) {
            return Err(Error::invalid(format!(
                "block_size {} is out of range; use 1024..=1048576 bytes",
                self.block_size
            )));
        }
        if self.bloom_bits_per_key > 30 {
            return Err(Error::invalid(format!(
                "bloom_bits_per_key {} is too large; use 0..=30",
                self.bloom_bits_per_key
            )));
        }
        if self.max_manifest_size < 1024 {
            return Err(Error::invalid(
                "max_manifest_size must be at least 1024 bytes",
            ));
        }
        if let Compression::Zstd { level } = self.compression
            && !(-7..=22).contains(&level)
        {
            return Err(Error::invalid(format!(
                "zstd level {level} is out of range; use -7..=22"
            )));
        }
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
