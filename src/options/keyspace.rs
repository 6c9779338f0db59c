//! [`KeyspaceOptions`]: how one keyspace writes, reads and compacts.

use std::fmt;
use std::sync::Arc;

use crate::compaction::CompactionOptions;
use crate::error::{Error, Result};
use crate::merge::{MergeError, MergeFn, MergeOperator};
use crate::table::Compression;

/// How one keyspace writes, reads and compacts: its merge operator,
/// memtable size, table format and compaction. A consuming builder; every
/// default is the library's (the same as [`Options`](crate::Options)'
/// setters, which configure the default keyspace).
///
/// ```
/// # fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use rillkv::{Compression, Db, KeyspaceOptions, Options, merge::U64Add};
/// let db = Db::open(dir.path(), Options::default())?;
/// let counters = db.keyspace(
///     "counters",
///     KeyspaceOptions::default()
///         .merge_operator(U64Add)
///         .memtable_size(8 << 20)
///         .compression(Compression::None),
/// )?;
/// counters.merge(b"visits", 1u64.to_le_bytes())?;
/// assert_eq!(counters.get(b"visits")?.as_deref(), Some(&1u64.to_le_bytes()[..]));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KeyspaceOptions {
    pub(crate) memtable_size: usize,
    pub(crate) block_size: usize,
    pub(crate) compression: Compression,
    pub(crate) bottommost_compression: Compression,
    pub(crate) bloom_bits_per_key: u32,
    pub(crate) merge_operator: Option<Arc<dyn MergeOperator>>,
    pub(crate) merge_batch_size: usize,
    pub(crate) compaction: CompactionOptions,
}

impl Default for KeyspaceOptions {
    fn default() -> Self {
        KeyspaceOptions {
            memtable_size: 64 << 20,
            block_size: 4096,
            compression: Compression::default(),
            bottommost_compression: Compression::Zstd { level: 1 },
            bloom_bits_per_key: 10,
            merge_operator: None,
            merge_batch_size: 100,
            compaction: CompactionOptions::default(),
        }
    }
}

impl fmt::Debug for KeyspaceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyspaceOptions")
            .field("memtable_size", &self.memtable_size)
            .field("block_size", &self.block_size)
            .field("compression", &self.compression)
            .field("bottommost_compression", &self.bottommost_compression)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field(
                "merge_operator",
                &self.merge_operator.as_ref().map(|m| m.name().to_owned()),
            )
            .field("merge_batch_size", &self.merge_batch_size)
            .field("compaction", &self.compaction)
            .finish()
    }
}

impl KeyspaceOptions {
    /// As [`Options::memtable_size`](crate::Options::memtable_size), for
    /// this keyspace. Default: 64 MiB; at least 4 KiB.
    ///
    /// ```
    /// let opts = rillkv::KeyspaceOptions::default().memtable_size(1 << 20);
    /// # drop(opts);
    /// ```
    pub fn memtable_size(mut self, bytes: usize) -> Self {
        self.memtable_size = bytes;
        self
    }

    /// As [`Options::block_size`](crate::Options::block_size). Default:
    /// 4096; 1024..=1048576.
    ///
    /// ```
    /// let opts = rillkv::KeyspaceOptions::default().block_size(16 << 10);
    /// # drop(opts);
    /// ```
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size = bytes;
        self
    }

    /// As [`Options::compression`](crate::Options::compression): sets the
    /// bottommost compression too. Default: LZ4 (zstd 1 at the bottom).
    ///
    /// ```
    /// use rillkv::{Compression, KeyspaceOptions};
    /// let opts = KeyspaceOptions::default().compression(Compression::None);
    /// # drop(opts);
    /// ```
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self.bottommost_compression = compression;
        self
    }

    /// As [`Options::bottommost_compression`](crate::Options::bottommost_compression).
    /// Default: `Zstd { level: 1 }`.
    ///
    /// ```
    /// use rillkv::{Compression, KeyspaceOptions};
    /// let opts = KeyspaceOptions::default().bottommost_compression(Compression::Zstd { level: 3 });
    /// # drop(opts);
    /// ```
    pub fn bottommost_compression(mut self, compression: Compression) -> Self {
        self.bottommost_compression = compression;
        self
    }

    /// As [`Options::bloom_bits_per_key`](crate::Options::bloom_bits_per_key).
    /// Default: 10; at most 30.
    ///
    /// ```
    /// let opts = rillkv::KeyspaceOptions::default().bloom_bits_per_key(0);
    /// # drop(opts);
    /// ```
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Self {
        self.bloom_bits_per_key = bits;
        self
    }

    /// The keyspace's merge operator. Its name is recorded when the
    /// keyspace is created; opening the keyspace later with another name
    /// is `InvalidArgument`.
    ///
    /// ```
    /// use rillkv::{KeyspaceOptions, merge::U64Add};
    /// let opts = KeyspaceOptions::default().merge_operator(U64Add);
    /// # drop(opts);
    /// ```
    pub fn merge_operator(mut self, op: impl MergeOperator) -> Self {
        self.merge_operator = Some(Arc::new(op));
        self
    }

    /// A merge operator from a closure, as
    /// [`Options::merge_fn`](crate::Options::merge_fn).
    ///
    /// ```
    /// let opts = rillkv::KeyspaceOptions::default().merge_fn("concat", |_k, old, op| {
    ///     Ok([old.unwrap_or_default(), op].concat())
    /// });
    /// # drop(opts);
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

    /// As [`Options::merge_batch_size`](crate::Options::merge_batch_size).
    /// Default: 100; at least 1.
    ///
    /// ```
    /// let opts = rillkv::KeyspaceOptions::default().merge_batch_size(10);
    /// # drop(opts);
    /// ```
    pub fn merge_batch_size(mut self, n: usize) -> Self {
        self.merge_batch_size = n;
        self
    }

    /// How the keyspace's tree is compacted. Default:
    /// [`CompactionOptions::default`].
    ///
    /// ```
    /// use rillkv::{CompactionOptions, KeyspaceOptions};
    /// let opts = KeyspaceOptions::default().compaction(CompactionOptions::default().max_merge_files(4));
    /// # drop(opts);
    /// ```
    pub fn compaction(mut self, compaction: CompactionOptions) -> Self {
        self.compaction = compaction;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.compaction.validate()?;
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
        for c in [self.compression, self.bottommost_compression] {
            if let Compression::Zstd { level } = c
                && !(-7..=22).contains(&level)
            {
                return Err(Error::invalid(format!(
                    "zstd level {level} is out of range; use -7..=22"
                )));
            }
        }
        if self.memtable_size < 4096 {
            return Err(Error::invalid(format!(
                "memtable_size {} is too small; use at least 4096 bytes",
                self.memtable_size
            )));
        }
        Ok(())
    }
}
