//! [`Db`]: opening, closing, and the shared state behind every handle.
//!
//! The write path lives in `write.rs` (group commit), the read path in
//! `read.rs`, recovery in `recovery.rs`.

mod checkpoint;
mod compact;
mod conditions;
mod flush;
mod read;
mod read_only;
mod recovery;
mod snapshots;
mod verify;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::batch::WriteBatch;
use crate::conflict::RecentCommits;
use crate::error::{Error, Result};
use crate::event::{ActiveStall, CorruptionContext, Events};
use crate::fs::{Fence, FileLock, Fs};
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, SeqNo, owned_bounds, prefix_bounds};
use crate::options::{Options, WriteOptions};
use crate::read::{DbIter, Reader, Snapshot};
use crate::stats::{Counters, Stats};
use crate::table::BlockCache;
use crate::tree::Tree;

mod keyspace;
mod lifecycle;
use crate::version::VersionSet;
use crate::wal;
pub(crate) use checkpoint::{FileSet, write_manifest_file};
pub use keyspace::Keyspace;
use lifecycle::HandleGuard;

use compact::CompactionControl;
pub(crate) use conditions::{Condition, Outcome};
use flush::FlushControl;
use recovery::RecoveryReport;
use snapshots::SnapshotList;
pub use verify::{VerifyProblem, VerifyReport};
use write::{CommitQueue, WriteBacks};

/// An open database. Cheap to clone: every clone is a handle on the same
/// database (an `Arc` inside), and `Db` is `Send + Sync`.
///
/// ```
/// # fn main() -> rillkv::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
/// db.put(b"k", b"v")?;
/// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
/// db.close()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
    /// Shared by user-facing handles only (clones, snapshots, iterators),
    /// never by background threads: when the last one drops, the database
    /// closes at once and its lock is released.
    handle: Arc<HandleGuard>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.inner.dir).finish()
    }
}

/// The WAL being appended to. Locked only by the commit leader.
struct WalState {
    writer: wal::Writer,
    number: u64,
    /// Trees whose active memtable the next commit group seals (full, or
    /// chosen to free memory or WALs).
    seal: Vec<Arc<Tree>>,
    /// A run-count slowdown in progress, reported to listeners when it
    /// ends (only tracked when someone listens).
    slowdown: Option<ActiveStall>,
    /// Recent commits by key, which transactions are validated against
    /// (kept only while a transaction is live).
    commits: RecentCommits,
}

/// State shared by every handle: what the trees share (the directory, the
/// WAL and group commit, sequence numbers, snapshots, the manifest,
/// background threads, events, the life cycle) and the tree itself. No
/// field is visible outside `db/`.
struct DbInner {
    dir: PathBuf,
    opts: Options,
    fs: Arc<dyn Fs>,
    lock: Mutex<Option<FileLock>>,
    /// The default keyspace's tree (never dropped): what `Db`'s own verbs
    /// use, without a lookup.
    default: Arc<Tree>,
    /// Every live keyspace's tree, the default one included. Changed under
    /// the version-set lock (create) or the WAL and version-set locks
    /// (drop).
    trees: RwLock<BTreeMap<KeyspaceId, Arc<Tree>>>,
    wal: Mutex<WalState>,
    /// The number of the WAL being written, published after each rotation.
    current_wal: AtomicU64,
    /// Older WALs that may still hold unflushed writes, with their sizes.
    wal_files: Mutex<BTreeMap<u64, u64>>,
    /// Their total size.
    wal_bytes: AtomicU64,
    commit: CommitQueue,
    /// Merge write-backs offered by reads, committed in the background.
    write_backs: WriteBacks,
    /// Closed by `close`: no directory change of this handle after it.
    fence: Arc<Fence>,
    /// The newest sequence number visible to reads.
    last_seqno: AtomicU64,
    next_file_number: AtomicU64,
    snapshots: SnapshotList,
    closed: AtomicBool,
    /// Transactions begun and not yet finished: while there are none, the
    /// commit leader records no commits for them.
    live_transactions: AtomicUsize,
    /// Set by the first write made without the WAL: `close` flushes then.
    unlogged: AtomicBool,
    /// Set by the first failed WAL write or fsync; refuses later writes.
    poison: Mutex<Option<String>>,
    counters: Counters,
    recovery: RecoveryReport,
    /// The manifest and current version; REQUIRES holding it to change the
    /// set of tables.
    versions: Mutex<VersionSet>,
    block_cache: Option<Arc<BlockCache>>,
    flush: Arc<FlushControl>,
    flush_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    compaction: Arc<CompactionControl>,
    compact_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The registered event listeners; `None` when there are none, so the
    /// hot paths pay one check.
    events: Option<Arc<Events>>,
    /// Opened by `Db::open_read_only`: no lock, no background thread, no
    /// WAL or manifest; every change is refused (`check_writable`).
    read_only: bool,
}

impl Db {
    /// Opens the database in `path`, creating it if `Options` allow, and
    /// replays its WAL. Starts the database's background threads (one
    /// flush thread, one compaction thread).
    ///
    /// A directory is open in one `Db` at a time, in any process: its
    /// `LOCK` file stays locked until the `Db` closes (or the process
    /// exits). Share the `Db` by cloning it instead of opening it twice.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, ErrorKind, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let second = Db::open(dir.path(), Options::default());
    /// assert_eq!(second.unwrap_err().kind(), ErrorKind::Locked);
    /// db.close()?; // releases the lock
    /// let db = Db::open(dir.path(), Options::default())?;
    /// # db.close()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// - `Locked` if another open `Db` holds the directory;
    /// - `InvalidArgument` for bad options, a path that is a file, a
    ///   missing database with `create_if_missing(false)`, an existing
    ///   one with `error_if_exists(true)`, or a merge operator whose name
    ///   differs from the one the database was created with;
    /// - `Corruption` if a log is damaged before its tail (see
    ///   [`RecoveryMode`](crate::RecoveryMode)), if `CURRENT` or the
    ///   manifest is damaged or missing next to tables, or if a table the
    ///   manifest names is missing or of another size. A failed open
    ///   changes nothing in the directory;
    /// - `Io` if the filesystem fails.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        opts.validate()?;
        let events = Events::new(path.as_ref(), &opts.listeners);
        let inner = match recovery::open(path.as_ref(), opts) {
            Ok(inner) => Arc::new(inner),
            Err(e) => {
                crate::event::report_corruption(&events, &e, CorruptionContext::Open);
                return Err(e);
            }
        };
        inner.refresh_backpressure();
        let handle = flush::spawn(&inner)?;
        *inner.flush_thread.lock() = Some(handle);
        let handle = compact::spawn(&inner)?;
        *inner.compact_thread.lock() = Some(handle);
        // Recovered memtables are flushed, and the tree compacted, in the
        // background.
        inner.flush.schedule();
        inner.compaction.schedule();
        Ok(Db {
            handle: Arc::new(HandleGuard {
                inner: Arc::clone(&inner),
            }),
            inner,
        })
    }

    /// Flushes the memtables, then compacts every table into one sorted
    /// run, dropping every version no snapshot needs and every tombstone no
    /// snapshot needs. Waits for a background compaction in progress first.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// db.flush()?;
    /// db.delete(b"a")?;
    /// db.compact()?;
    /// assert_eq!(db.stats().runs.len(), 0, "the tombstone and the value are gone");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed`, `Poisoned`, `Io` or `Corruption` from reading inputs or
    /// writing outputs (nothing is lost: inputs stay until the result is
    /// durable).
    pub fn compact(&self) -> Result<()> {
        self.inner.compact_all(&self.inner.default)
    }

    /// Flushes, then compacts every overlap group that holds keys in
    /// `range` into one run each, and waits. Tables outside those groups
    /// are left alone. An excluded end bound is treated as included.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// for round in ["1", "2"] {
    ///     db.put(b"a", round)?;
    ///     db.put(b"c", round)?;
    ///     db.flush()?; // each flush adds a run
    /// }
    /// assert_eq!(db.stats().runs.len(), 2);
    /// db.compact_range(b"a".as_slice()..=b"b".as_slice())?;
    /// assert_eq!(db.stats().runs.len(), 1);
    /// assert_eq!(db.get(b"c")?.as_deref(), Some(&b"2"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::compact`].
    pub fn compact_range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> Result<()> {
        self.inner.compact_range(&self.inner.default, range)
    }

    /// Seals the active memtable of every keyspace and waits until every
    /// sealed memtable has been written to a table. Afterwards the WAL
    /// holds nothing that is not also in a table. ([`Keyspace::flush`]
    /// flushes one keyspace.)
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// let stats = db.stats();
    /// assert_eq!(stats.active_memtable_entries, 0);
    /// assert_eq!(stats.runs.len(), 1, "one new table, in a run of its own");
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed`, `Poisoned`, or the `Io`/`Corruption` error that stopped the
    /// flush; `ReadOnly` on a handle from [`Db::open_read_only`].
    pub fn flush(&self) -> Result<()> {
        self.inner.flush_and_wait(None)
    }

    /// Sets `key` to `value`. Returns once the write is in the WAL (see the
    /// [durability contract](crate#durability-contract)); use
    /// [`Db::write_opt`] with `sync(true)` to wait for an fsync too.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"user:1", b"alice")?;
    /// db.put(b"user:1", b"bob")?; // the newest write wins
    /// assert_eq!(db.get(b"user:1")?.as_deref(), Some(&b"bob"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::write_opt`]: `Closed`, `Poisoned` after an earlier write
    /// failure, `Io`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.write(batch)
    }

    /// Deletes `key` (writes a tombstone). Deleting a missing key is not an
    /// error.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"k", b"v")?;
    /// db.delete(b"k")?;
    /// assert_eq!(db.get(b"k")?, None);
    /// db.delete(b"never written")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.write(batch)
    }

    /// Adds a merge operand for `key`: the database's
    /// [`MergeOperator`](crate::MergeOperator) combines it with the key's
    /// older value when the key is read, flushed or compacted. No read
    /// happens here.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options, merge::U64Add};
    /// let db = Db::open(dir.path(), Options::default().merge_operator(U64Add))?;
    /// db.merge(b"visits", 1u64.to_le_bytes())?;
    /// db.merge(b"visits", 2u64.to_le_bytes())?;
    /// assert_eq!(db.get(b"visits")?.as_deref(), Some(&3u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` when no merge operator is configured; otherwise as
    /// [`Db::put`].
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.merge(key, operand);
        self.write(batch)
    }

    /// Applies `batch` atomically with default [`WriteOptions`] (no fsync).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"from", b"10")?;
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.delete(b"from").put(b"to", b"10"); // a move: both or neither
    /// db.write(batch)?;
    /// assert_eq!(db.get(b"from")?, None);
    /// assert_eq!(db.get(b"to")?.as_deref(), Some(&b"10"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::write_opt`].
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.write_opt(batch, &WriteOptions::default())
    }

    /// Applies `batch` atomically: after a crash either every write of the
    /// batch is there or none is. With `sync(true)` the WAL is fsynced
    /// before this returns. Several concurrent writers share one WAL append
    /// and fsync (group commit).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::{WriteBatch, WriteOptions};
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"a", b"1").put(b"b", b"2");
    /// db.write_opt(batch, &WriteOptions::default().sync(true))?; // survives power loss
    /// assert_eq!(db.stats().counters.wal_syncs, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed` (also if the database closes while the write waits);
    /// `Poisoned` after an earlier write failure; `Io` if the WAL append or
    /// fsync fails (the database is then poisoned for writes), or if writes
    /// are stopped at [`stop_runs`](crate::CompactionOptions::stop_runs)
    /// while background compaction is failing; `InvalidArgument` for a
    /// merge without a merge operator; `ReadOnly` on a handle from
    /// [`Db::open_read_only`]. The batch is then not applied, or
    /// (after an `Io` error) may appear after a reopen, but never in part.
    pub fn write_opt(&self, batch: WriteBatch, opts: &WriteOptions) -> Result<()> {
        self.inner.write(batch, opts)
    }

    /// Makes every write acknowledged so far durable: fsyncs the WAL if it
    /// holds writes not yet synced, and returns at once otherwise. Use it
    /// after a run of unsynced writes (`WriteOptions::sync(false)`) to get
    /// the guarantee of a synced write without writing anything; an empty
    /// batch written with `sync(true)` does the same.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?; // in the WAL, not yet fsynced
    /// db.put(b"b", b"2")?;
    /// db.sync_wal()?; // both now survive a power loss
    /// assert_eq!(db.stats().counters.wal_syncs, 1);
    /// db.sync_wal()?; // nothing new: no fsync
    /// assert_eq!(db.stats().counters.wal_syncs, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed`; `Poisoned` after an earlier write failure (the writes it
    /// covered may be lost to a power loss, see the [durability
    /// contract](crate#durability-contract)); `Io` if the fsync fails (the
    /// database is then poisoned for writes).
    pub fn sync_wal(&self) -> Result<()> {
        self.inner.sync_wal()
    }

    /// The newest value of `key`, or `None` if it has none.
    ///
    /// The returned `Bytes` shares memory with the memtable or a cached
    /// block; holding it keeps that memory alive.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"k", b"v")?;
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// assert_eq!(db.get(b"missing")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed`; `Corruption` or `Io` from reading tables;
    /// `MergeOperator` if the key's merge operands cannot be combined (the
    /// operator failed, or none is configured), for that key only.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get_latest(&self.inner.default, key.as_ref())
    }

    /// A consistent, read-only view of the database as of now. It is owned,
    /// `'static` and `Send`: keep it as long as needed; it pins the data it
    /// sees until dropped.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"k", b"old")?;
    /// let snap = db.snapshot();
    /// db.put(b"k", b"new")?;
    /// let reader = std::thread::spawn(move || snap.get(b"k")); // Send + 'static
    /// assert_eq!(reader.join().unwrap()?.as_deref(), Some(&b"old"[..]));
    /// # Ok(()) }
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.reader())
    }

    /// Iterates every key in order; `.rev()` for reverse order. The
    /// iterator sees the database as of this call.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"b", b"2")?;
    /// db.put(b"a", b"1")?;
    /// use bytes::Bytes;
    /// let pairs = db.iter().collect::<rillkv::Result<Vec<_>>>()?;
    /// assert_eq!(pairs, [
    ///     (Bytes::from_static(b"a"), Bytes::from_static(b"1")),
    ///     (Bytes::from_static(b"b"), Bytes::from_static(b"2")),
    /// ]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> DbIter {
        self.range::<&[u8], _>(..)
    }

    /// Iterates keys within `range`, forward or (`.rev()`) backward.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// db.put(b"b", b"2")?;
    /// db.put(b"c", b"3")?;
    /// let keys: Vec<_> = db
    ///     .range(b"b".as_slice()..)
    ///     .rev()
    ///     .map(|r| r.map(|(k, _)| k))
    ///     .collect::<rillkv::Result<_>>()?;
    /// assert_eq!(keys, vec![&b"c"[..], &b"b"[..]]);
    /// # Ok(()) }
    /// ```
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> DbIter {
        DbIter::new(self.reader(), DEFAULT_KEYSPACE, None, owned_bounds(&range))
    }

    /// Iterates the keys that start with `prefix`, forward or (`.rev()`)
    /// backward.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"user:1", b"alice")?;
    /// db.put(b"user:2", b"bob")?;
    /// db.put(b"visits", b"7")?;
    /// let users: Vec<_> = db
    ///     .prefix(b"user:")
    ///     .map(|r| r.map(|(k, _)| k))
    ///     .collect::<rillkv::Result<_>>()?;
    /// assert_eq!(users, vec![&b"user:1"[..], &b"user:2"[..]]);
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIter {
        DbIter::new(
            self.reader(),
            DEFAULT_KEYSPACE,
            None,
            prefix_bounds(prefix.as_ref()),
        )
    }

    /// Reads every live file from disk and checks every checksum: each
    /// table's footer, index, filter, properties and every data block (no
    /// block cache), the manifest's records, and the WAL being written.
    /// Damage is reported, not returned as an error, so one call lists
    /// everything wrong.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// let report = db.verify()?;
    /// assert!(report.is_ok(), "{report}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed` only; I/O failures and corruption are listed in the report.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.inner.verify()
    }

    /// A snapshot of the database's counters and shape. Its `Display` prints
    /// a table.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// db.put(b"b", b"2")?;
    /// let stats = db.stats();
    /// assert_eq!(stats.counters.writes, 2);
    /// assert_eq!(stats.active_memtable_entries, 2);
    /// println!("{stats}");
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Stats {
        self.inner.stats(&self.inner.default)
    }

    /// The directory the database lives in.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// let dir = tempfile::tempdir()?;
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// assert_eq!(db.path(), dir.path());
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Closes the database: waits for the write in progress, fsyncs the WAL
    /// and releases the directory lock. Every other handle (clones,
    /// snapshots, iterators) then fails with `Closed`.
    ///
    /// Dropping the last handle (every clone, snapshot and iterator) closes
    /// the database too, but can only log a failure; call `close` to see it.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let other = db.clone();
    /// db.put(b"k", b"v")?;
    /// db.close()?;
    /// assert_eq!(other.get(b"k").unwrap_err().kind(), rillkv::ErrorKind::Closed);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Io` if the final fsync fails (writes acknowledged without `sync`
    /// may then be lost to a power loss; none is lost to a process exit);
    /// `Closed` if another handle already closed the database.
    pub fn close(self) -> Result<()> {
        self.inner.close()
    }
}

impl Db {
    /// This handle as snapshots and iterators hold it.
    fn reader(&self) -> Arc<dyn Reader> {
        Arc::clone(&self.handle) as Arc<dyn Reader>
    }

    /// Commits `batch` if `condition` holds when its commit group is
    /// decided (transactions, compare-and-swap).
    pub(crate) fn write_if(
        &self,
        batch: WriteBatch,
        condition: Condition,
        opts: &WriteOptions,
    ) -> Result<Outcome> {
        self.inner.write_if(batch, condition, opts)
    }

    /// Counts a transaction as live: from now until
    /// [`end_transaction`](Db::end_transaction) the commit leader records
    /// commits for validation. Call before taking its snapshot.
    pub(crate) fn begin_transaction(&self) {
        self.inner.live_transactions.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a transaction begun with `begin_transaction` as finished.
    pub(crate) fn end_transaction(&self) {
        self.inner.live_transactions.fetch_sub(1, Ordering::SeqCst);
    }

    /// The merge operator of `keyspace`, if it has one.
    ///
    /// # Errors
    /// `InvalidArgument` if the keyspace was dropped.
    pub(crate) fn merge_operator_of(
        &self,
        keyspace: KeyspaceId,
    ) -> Result<Option<Arc<dyn crate::merge::MergeOperator>>> {
        Ok(self.inner.live_tree(keyspace)?.current().merge.op.clone())
    }
}

impl DbInner {
    /// The tree of `keyspace`, if it exists.
    fn tree(&self, keyspace: KeyspaceId) -> Option<Arc<Tree>> {
        if keyspace == DEFAULT_KEYSPACE {
            return Some(Arc::clone(&self.default));
        }
        self.trees.read().get(&keyspace).cloned()
    }

    /// The tree of `keyspace`, or the error for a dropped keyspace.
    fn live_tree(&self, keyspace: KeyspaceId) -> Result<Arc<Tree>> {
        self.tree(keyspace).ok_or_else(|| {
            Error::invalid(format!(
                "keyspace {keyspace} was dropped; open it again with Db::keyspace to create \
                 a new one"
            ))
        })
    }

    /// Every live keyspace's tree, by id.
    fn trees(&self) -> Vec<Arc<Tree>> {
        self.trees.read().values().cloned().collect()
    }

    /// The newest value of `key` in `tree` (a `get` of `Db` or `Keyspace`).
    fn get_latest(&self, tree: &Arc<Tree>, key: &[u8]) -> Result<Option<Bytes>> {
        self.check_open()?;
        if tree.is_dropped() {
            return Err(compact::dropped_error(tree.name()));
        }
        let view = tree.latest_view(|| self.last_seqno());
        self.get(tree, &view, key, true)
    }

    /// `compact_range` of `Db` or `Keyspace`.
    fn compact_range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(
        &self,
        tree: &Arc<Tree>,
        range: R,
    ) -> Result<()> {
        use std::ops::Bound;
        let lo = match range.start_bound() {
            Bound::Included(k) | Bound::Excluded(k) => Bytes::copy_from_slice(k.as_ref()),
            Bound::Unbounded => Bytes::new(),
        };
        let hi = match range.end_bound() {
            Bound::Included(k) | Bound::Excluded(k) => Bytes::copy_from_slice(k.as_ref()),
            Bound::Unbounded => return self.compact_key_range_from(tree, lo),
        };
        self.compact_key_range(tree, crate::compaction::KeyRange::new(lo, hi))
    }

    fn last_seqno(&self) -> SeqNo {
        self.last_seqno.load(Ordering::Acquire)
    }
}
