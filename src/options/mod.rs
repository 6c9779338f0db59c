//! Options for opening a database and for single calls.
//!
//! All option types are consuming builders with documented defaults.
//! [`Db::open`](crate::Db::open) validates them and returns
//! [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) on
//! nonsense.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::event::EventListener;
use crate::fs::{Fs, StdFs};
use crate::merge::{MergeError, MergeOperator};
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
    /// Most lenient (RocksDB's `kSkipAnyCorruptedRecords`): skip every
    /// damaged record, anywhere, and replay every valid one. The database
    /// opens with as much as survived — which may **not** be a prefix of
    /// its history (a write in the middle can be missing while later ones
    /// are there). Every skipped region is reported. For salvage only.
    SkipCorrupted,
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
    /// The default keyspace's options (the per-tree setters below).
    pub(crate) keyspace: KeyspaceOptions,
    /// Options of named keyspaces, applied when the database opens.
    pub(crate) keyspaces: std::collections::BTreeMap<String, KeyspaceOptions>,
    pub(crate) max_sealed_memtables: usize,
    pub(crate) max_total_wal_size: u64,
    pub(crate) max_memtable_bytes: usize,
    pub(crate) recovery_mode: RecoveryMode,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) block_cache_size: u64,
    pub(crate) mmap_reads: bool,
    pub(crate) max_manifest_size: u64,
    pub(crate) merge_writeback_threshold: usize,
    pub(crate) transaction_index_bytes: usize,
    pub(crate) listeners: Vec<Arc<dyn EventListener>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            keyspace: KeyspaceOptions::default(),
            keyspaces: std::collections::BTreeMap::new(),
            max_sealed_memtables: 4,
            max_total_wal_size: 1 << 30,
            max_memtable_bytes: 0,
            recovery_mode: RecoveryMode::default(),
            fs: Arc::new(StdFs),
            block_cache_size: 64 << 20,
            mmap_reads: false,
            max_manifest_size: 4 << 20,
            merge_writeback_threshold: 1000,
            transaction_index_bytes: 8 << 20,
            listeners: Vec::new(),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("create_if_missing", &self.create_if_missing)
            .field("error_if_exists", &self.error_if_exists)
            .field("keyspace", &self.keyspace)
            .field("keyspaces", &self.keyspaces)
            .field("max_sealed_memtables", &self.max_sealed_memtables)
            .field("max_total_wal_size", &self.max_total_wal_size)
            .field("max_memtable_bytes", &self.max_memtable_bytes)
            .field("recovery_mode", &self.recovery_mode)
            .field("fs", &self.fs)
            .field("block_cache_size", &self.block_cache_size)
            .field("mmap_reads", &self.mmap_reads)
            .field("max_manifest_size", &self.max_manifest_size)
            .field("merge_writeback_threshold", &self.merge_writeback_threshold)
            .field("transaction_index_bytes", &self.transaction_index_bytes)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl Options {
    /// Creates the directory and an empty database if none exists.
    /// Default: `true`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options};
    /// let missing = dir.path().join("nothing here");
    /// let err = Db::open(&missing, Options::default().create_if_missing(false)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// assert!(!missing.exists(), "a refused open creates nothing");
    /// # Ok(()) }
    /// ```
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }

    /// Fails the open if a database already exists. Default: `false`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options};
    /// let fresh = Options::default().error_if_exists(true);
    /// Db::open(dir.path(), fresh.clone())?.close()?; // creates it
    /// let err = Db::open(dir.path(), fresh).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// # Ok(()) }
    /// ```
    pub fn error_if_exists(mut self, yes: bool) -> Self {
        self.error_if_exists = yes;
        self
    }

    /// Bytes of writes the active memtable takes before it is sealed and a
    /// new one (with a new WAL) starts. Default: 64 MiB. Must be at least
    /// 4 KiB.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default().memtable_size(4096))?;
    /// for i in 0..100u32 {
    ///     db.put(i.to_be_bytes(), [0u8; 100])?; // about 10 KiB in all
    /// }
    /// db.flush()?;
    /// assert!(db.stats().counters.flushes >= 3, "several small memtables were flushed");
    /// # Ok(()) }
    /// ```
    pub fn memtable_size(mut self, bytes: usize) -> Self {
        self.keyspace.memtable_size = bytes;
        self
    }

    /// How many sealed memtables may wait for flush before writers block
    /// (backpressure bounding memory). Default: 4. Must be at least 1.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options};
    /// let err = Db::open(dir.path(), Options::default().max_sealed_memtables(0)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// let db = Db::open(dir.path(), Options::default().max_sealed_memtables(2))?;
    /// # drop(db);
    /// # Ok(()) }
    /// ```
    pub fn max_sealed_memtables(mut self, n: usize) -> Self {
        self.max_sealed_memtables = n;
        self
    }

    /// How recovery treats damaged log bytes. Default:
    /// [`RecoveryMode::TolerateCorruptedTail`].
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options, RecoveryMode};
    /// let db = Db::open(dir.path(), Options::default())?;
    /// db.put(b"k", b"v")?;
    /// db.close()?;
    /// // A cleanly closed database has no damaged byte, so even the strict mode opens it.
    /// let strict = Options::default().recovery_mode(RecoveryMode::AbsoluteConsistency);
    /// let db = Db::open(dir.path(), strict)?;
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }

    /// The filesystem to use. Default: [`StdFs`], the real one. Tests pass a
    /// [`FaultFs`](crate::fs::FaultFs) to inject failures and power loss.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use std::path::Path;
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new(); // in memory: nothing touches the disk
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// db.put(b"k", b"v")?;
    /// assert!(fs.file_bytes(Path::new("/db/CURRENT")).is_some());
    /// # Ok(()) }
    /// ```
    pub fn fs(mut self, fs: impl Fs) -> Self {
        self.fs = Arc::new(fs);
        self
    }

    /// Target size of a table's data block before compression. Default:
    /// 4096 bytes. Must be between 1 KiB and 1 MiB.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options};
    /// let err = Db::open(dir.path(), Options::default().block_size(512)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// let db = Db::open(dir.path(), Options::default().block_size(16 << 10))?;
    /// # drop(db);
    /// # Ok(()) }
    /// ```
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.keyspace.block_size = bytes;
        self
    }

    /// How table blocks are compressed, everywhere: this sets
    /// [`bottommost_compression`](Options::bottommost_compression) too, so
    /// call that one after it to treat the bottom differently. Default:
    /// LZ4, with zstd level 1 at the bottom (see [`Compression`]).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Compression, Db, Options};
    /// let db = Db::open(dir.path(), Options::default().compression(Compression::None))?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    pub fn compression(mut self, compression: Compression) -> Self {
        self.keyspace = self.keyspace.compression(compression);
        self
    }

    /// How the tables of a compaction that reaches the bottom of the tree
    /// are compressed (its inputs include the oldest run of their key
    /// range, so most data ends up there and is rewritten least): the
    /// place for a slower, smaller format. Default: `Zstd { level: 1 }`.
    /// Set it after [`compression`](Options::compression), which resets it.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Compression, Db, Options};
    /// let opts = Options::default()
    ///     .compression(Compression::Lz4)
    ///     .bottommost_compression(Compression::Zstd { level: 3 });
    /// let db = Db::open(dir.path(), opts)?;
    /// db.put(b"k", b"v")?;
    /// db.compact()?;
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    pub fn bottommost_compression(mut self, compression: Compression) -> Self {
        self.keyspace.bottommost_compression = compression;
        self
    }

    /// Bloom filter bits per key in each table; 0 disables filters.
    /// Default: 10 (about 1% false positives). At most 30.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options};
    /// let err = Db::open(dir.path(), Options::default().bloom_bits_per_key(31)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// let filtered = Db::open(dir.path().join("f"), Options::default())?;
    /// let unfiltered = Db::open(dir.path().join("u"), Options::default().bloom_bits_per_key(0))?;
    /// for db in [&filtered, &unfiltered] {
    ///     db.put(b"a", b"1")?;
    ///     db.put(b"c", b"3")?;
    ///     db.flush()?;
    ///     assert_eq!(db.get(b"b")?, None); // within the table's key range
    /// }
    /// assert_eq!(filtered.stats().bloom_useful, 1, "the filter spared a block read");
    /// assert_eq!(unfiltered.stats().bloom_useful, 0);
    /// # Ok(()) }
    /// ```
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Self {
        self.keyspace.bloom_bits_per_key = bits;
        self
    }

    /// Bytes of decompressed blocks kept in the shared block cache; 0
    /// disables it. Default: 64 MiB.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options};
    /// let cached = Db::open(dir.path().join("c"), Options::default())?;
    /// let uncached = Db::open(dir.path().join("u"), Options::default().block_cache_size(0))?;
    /// for db in [&cached, &uncached] {
    ///     db.put(b"k", [b'x'; 1000])?;
    ///     db.flush()?;
    ///     assert!(db.get(b"k")?.is_some()); // reads and decompresses a block
    /// }
    /// assert!(cached.stats().block_cache_bytes > 0);
    /// assert_eq!(uncached.stats().block_cache_bytes, 0);
    /// # Ok(()) }
    /// ```
    pub fn block_cache_size(mut self, bytes: u64) -> Self {
        self.block_cache_size = bytes;
        self
    }

    /// Reads tables through a read-only memory mapping instead of
    /// positional reads (`pread`) into the block cache. Default: `false`.
    ///
    /// With mapping, values of uncompressed blocks are zero-copy slices of
    /// the mapping and cached file pages count in the process's memory; a
    /// disk that fails under a mapped page raises `SIGBUS` (the process
    /// dies) instead of returning an `Io` error. Without it (the default,
    /// as in RocksDB and fjall), every table read is a copy into the block
    /// cache, an I/O error is an error, and memory follows
    /// [`block_cache_size`](Options::block_cache_size). Only tables are
    /// ever mapped, and a table never changes once written (see
    /// `DESIGN.md`, "Handle life cycle").
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default().mmap_reads(true))?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    pub fn mmap_reads(mut self, mmap: bool) -> Self {
        self.mmap_reads = mmap;
        self
    }

    /// The manifest is rewritten as a snapshot once it grows past this many
    /// bytes. Default: 4 MiB. At least 1 KiB.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options};
    /// let err = Db::open(dir.path(), Options::default().max_manifest_size(100)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// let db = Db::open(dir.path(), Options::default().max_manifest_size(64 << 10))?;
    /// # drop(db);
    /// # Ok(()) }
    /// ```
    pub fn max_manifest_size(mut self, bytes: u64) -> Self {
        self.max_manifest_size = bytes;
        self
    }

    /// The merge operator that combines [`Db::merge`](crate::Db::merge)
    /// operands. Its name is stored in the database; reopening with an
    /// operator of another name fails. Default: none (merges are refused).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options, merge::{U64Add, U64Max}};
    /// let db = Db::open(dir.path(), Options::default().merge_operator(U64Max))?;
    /// db.merge(b"high", 3u64.to_le_bytes())?;
    /// db.merge(b"high", 9u64.to_le_bytes())?;
    /// db.merge(b"high", 5u64.to_le_bytes())?;
    /// assert_eq!(db.get(b"high")?.as_deref(), Some(&9u64.to_le_bytes()[..]));
    /// db.close()?;
    /// // The operator's name is stored: another operator is refused.
    /// let err = Db::open(dir.path(), Options::default().merge_operator(U64Add)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// # Ok(()) }
    /// ```
    pub fn merge_operator(mut self, op: impl MergeOperator) -> Self {
        self.keyspace.merge_operator = Some(Arc::new(op));
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
        self.keyspace = self.keyspace.merge_fn(name, f);
        self
    }

    /// How many operands a read, flush or compaction folds in one
    /// `merge_batch` call; memory for one key's operands stays bounded by
    /// this. Default: 100. Must be at least 1.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options, merge::U64Add};
    /// let opts = Options::default().merge_operator(U64Add).merge_batch_size(2);
    /// let db = Db::open(dir.path(), opts)?;
    /// for _ in 0..5 {
    ///     db.merge(b"n", 1u64.to_le_bytes())?;
    /// }
    /// // Folded two operands at a time; the associativity law makes it the same sum.
    /// assert_eq!(db.get(b"n")?.as_deref(), Some(&5u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    pub fn merge_batch_size(mut self, n: usize) -> Self {
        self.keyspace.merge_batch_size = n;
        self
    }

    /// When a point read folds more than this many operands for one key, it
    /// offers the result to be written back as a new base value, so hot
    /// counters do not re-fold their history. The read itself never writes
    /// or waits: the next commit group, or the flush thread, writes it back
    /// — only if no newer write to the key happened meanwhile, and not at
    /// all if that would mean waiting for a write stall. 0 disables.
    /// Default: 1000.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options, merge::U64Add};
    /// let opts = Options::default().merge_operator(U64Add).merge_writeback_threshold(3);
    /// let db = Db::open(dir.path(), opts)?;
    /// for _ in 0..5 {
    ///     db.merge(b"n", 1u64.to_le_bytes())?;
    /// }
    /// assert_eq!(db.get(b"n")?.as_deref(), Some(&5u64.to_le_bytes()[..]));
    /// db.put(b"other", b"x")?; // the next commit group takes the write-back
    /// assert_eq!(db.stats().counters.merge_writebacks, 1, "5 operands > 3: written back");
    /// # Ok(()) }
    /// ```
    pub fn merge_writeback_threshold(mut self, n: usize) -> Self {
        self.merge_writeback_threshold = n;
        self
    }

    /// Memory for the index of recent commits that transactions are
    /// checked against (keys written, with the sequence number of their
    /// last commit; kept only while a transaction is live). When it is
    /// full the oldest commits are forgotten, and a transaction whose
    /// snapshot is older than what is remembered fails with
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) (it is never
    /// accepted unchecked). Each key written costs its length plus about
    /// 100 bytes. Default: 8 MiB (about 60 000 recent keys of 32 bytes).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options};
    /// let db = Db::open(dir.path(), Options::default().transaction_index_bytes(4096))?;
    /// let slow = db.transaction();
    /// slow.put(b"mine", b"1");
    /// for i in 0..100u32 {
    ///     db.put(i.to_be_bytes(), b"x")?; // pushes the oldest commits out
    /// }
    /// assert_eq!(slow.commit().unwrap_err().kind(), ErrorKind::Conflict);
    /// # Ok(()) }
    /// ```
    pub fn transaction_index_bytes(mut self, bytes: usize) -> Self {
        self.transaction_index_bytes = bytes;
        self
    }

    /// How the tree is compacted. Default: [`CompactionOptions::default`].
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{CompactionOptions, Db, ErrorKind, Options};
    /// let opts = Options::default().compaction(CompactionOptions::default().max_merge_files(4));
    /// let db = Db::open(dir.path(), opts)?;
    /// # drop(db);
    /// // Compaction options are validated at open too.
    /// let bad = Options::default().compaction(CompactionOptions::default().max_merge_files(1));
    /// assert_eq!(Db::open(dir.path(), bad).unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok(()) }
    /// ```
    pub fn compaction(mut self, compaction: CompactionOptions) -> Self {
        self.keyspace.compaction = compaction;
        self
    }

    /// Adds an [`EventListener`] that is told about flushes, compactions,
    /// tables, write stalls, background errors and corruption. Several may
    /// be added; they are called in the order added. Callbacks run on the
    /// engine's threads: they must return quickly, may read the database,
    /// and must never write to it (see [`crate::event`] for the rules).
    /// Default: none (events cost nothing).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let opts = rillkv::Options::default().listener(Arc::new(rillkv::event::TracingListener));
    /// # let _ = opts;
    /// ```
    pub fn listener(mut self, listener: Arc<dyn EventListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Options for keyspace `name`, applied when the database opens: its
    /// recovered writes are flushed, its merge operator's recorded name
    /// checked, and its background work done with them before the program
    /// calls [`Db::keyspace`], whose options replace them from then on.
    /// Without them, an existing keyspace runs with the defaults (and no
    /// merge operator) until that call. Registering a keyspace does not
    /// create it.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, KeyspaceOptions, Options, merge::{U64Add, U64Max}};
    /// let opts = || Options::default().keyspace("counters", KeyspaceOptions::default().merge_operator(U64Add));
    /// let db = Db::open(dir.path(), opts())?;
    /// let counters = db.keyspace("counters", KeyspaceOptions::default().merge_operator(U64Add))?;
    /// counters.merge(b"n", 2u64.to_le_bytes())?;
    /// db.close()?;
    /// // The recorded operator is checked at open, naming the keyspace.
    /// let swapped = Options::default().keyspace("counters", KeyspaceOptions::default().merge_operator(U64Max));
    /// let err = Db::open(dir.path(), swapped).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// assert!(err.to_string().contains("counters"), "{err}");
    /// # Ok(()) }
    /// ```
    ///
    /// [`Db::keyspace`]: crate::Db::keyspace
    pub fn keyspace(mut self, name: impl Into<String>, opts: KeyspaceOptions) -> Self {
        self.keyspaces.insert(name.into(), opts);
        self
    }

    /// The most bytes the WAL files may hold together. Past it, the
    /// keyspaces whose unflushed writes keep the oldest WAL alive are
    /// flushed, so a keyspace written rarely does not keep every WAL since
    /// its last write (RocksDB's `max_total_wal_size`). Default: 1 GiB; at
    /// least 64 KiB.
    ///
    /// ```
    /// let opts = rillkv::Options::default().max_total_wal_size(256 << 20);
    /// # drop(opts);
    /// ```
    pub fn max_total_wal_size(mut self, bytes: u64) -> Self {
        self.max_total_wal_size = bytes;
        self
    }

    /// A budget for the memtables of all keyspaces together, active and
    /// sealed: past it, the largest active memtable is sealed and flushed
    /// (RocksDB's write buffer manager). 0, the default, sets no total:
    /// each keyspace is bounded by its own
    /// [`memtable_size`](KeyspaceOptions::memtable_size) and
    /// [`max_sealed_memtables`](Options::max_sealed_memtables).
    ///
    /// ```
    /// let opts = rillkv::Options::default().max_memtable_bytes(256 << 20);
    /// # drop(opts);
    /// ```
    pub fn max_memtable_bytes(mut self, bytes: usize) -> Self {
        self.max_memtable_bytes = bytes;
        self
    }

    /// The options of the default keyspace, as the setters above left
    /// them.
    pub(crate) fn default_keyspace(&self) -> &KeyspaceOptions {
        &self.keyspace
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.keyspace.validate()?;
        for (name, ks) in &self.keyspaces {
            crate::options::keyspace_name_valid(name)?;
            ks.validate()
                .map_err(|e| Error::invalid(format!("keyspace '{name}': {e}")))?;
        }
        if self.max_manifest_size < 1024 {
            return Err(Error::invalid(
                "max_manifest_size must be at least 1024 bytes",
            ));
        }
        if self.max_sealed_memtables == 0 {
            return Err(Error::invalid("max_sealed_memtables must be at least 1"));
        }
        if self.max_total_wal_size < 64 << 10 {
            return Err(Error::invalid(
                "max_total_wal_size must be at least 65536 bytes",
            ));
        }
        Ok(())
    }
}

/// The longest keyspace name, in bytes.
pub const MAX_KEYSPACE_NAME: usize = 255;

/// Checks a keyspace name: 1 to 255 bytes of letters, digits, `_`, `-`,
/// `.`, not starting with `.` (names starting with `.` or `rillkv` are
/// reserved), and not the default keyspace's name.
pub(crate) fn keyspace_name_valid(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_KEYSPACE_NAME {
        Some("is longer than 255 bytes")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        Some("has a character other than ASCII letters, digits, '_', '-' and '.'")
    } else if name.starts_with('.') || name.starts_with("rillkv") {
        Some("is reserved (names starting with '.' or 'rillkv')")
    } else if name == "default" {
        Some("is the default keyspace's, which every database has (use the Db's own verbs)")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::invalid(format!(
            "keyspace name '{}' {why}",
            name.escape_debug()
        ))),
        None => Ok(()),
    }
}

mod keyspace;
mod write;

pub use crate::compaction::CompactionOptions;
pub use keyspace::KeyspaceOptions;
pub use write::WriteOptions;
