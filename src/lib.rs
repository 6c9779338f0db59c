//! rillkv is an embedded LSM-tree key-value storage engine.
//!
//! A program opens a [`Db`] in-process, puts, gets, deletes and merges keys,
//! iterates ranges, takes snapshots, and tunes compaction. Keys and values go
//! in as anything `AsRef<[u8]>` and come out as [`bytes::Bytes`].
//!
//! ```
//! use rillkv::{Db, Options, WriteBatch, WriteOptions, CompactionOptions};
//! use rillkv::merge::U64Add;
//!
//! # fn main() -> rillkv::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("data/app");
//! let db = Db::open(&path, Options::default()
//!     .merge_operator(U64Add)                   // built-in counter operator
//!     .memtable_size(64 << 20)
//!     .compaction(CompactionOptions::default()
//!         .max_merge_files(8)                   // file-count trigger
//!         .overlap_ratio_trigger(0.5)           // overlap-ratio trigger
//!         .max_memory(256 << 20)))?;            // memory cap for one merge
//!
//! db.put(b"user:1", b"alice")?;
//! db.merge(b"visits:/home", 1u64.to_le_bytes())?;
//! let v: Option<bytes::Bytes> = db.get(b"visits:/home")?;
//! assert_eq!(v.as_deref(), Some(&1u64.to_le_bytes()[..]));
//! db.delete(b"user:1")?;
//!
//! let mut batch = WriteBatch::new();            // atomic: all or nothing
//! batch.put(b"a", b"1").merge(b"n", 5u64.to_le_bytes()).delete(b"b");
//! db.write_opt(batch, &WriteOptions::default().sync(true))?;   // durable on return
//!
//! let snap = db.snapshot();                     // owned, 'static, Send
//! for item in db.range(b"a".as_slice()..b"m".as_slice()).rev() {
//!     let (k, v) = item?;
//!     assert_eq!((&k[..], &v[..]), (&b"a"[..], &b"1"[..])); // "b" was deleted
//! }
//! for item in snap.prefix(b"user:") {
//!     let (k, v) = item?;
//!     println!("{k:?} = {v:?}");
//! }
//! assert_eq!(snap.prefix(b"user:").count(), 0, "user:1 was deleted before the snapshot");
//!
//! db.flush()?;                                  // memtable -> table, waits
//! db.compact()?;                                // full manual compaction, waits
//! println!("{}", db.stats());                   // RocksDB-style table of the tree
//! db.close()?;                                  // flush WAL, join background work
//! # Ok(()) }
//! ```
//!
//! # Keyspaces
//!
//! A database holds named [`Keyspace`]s, each a tree with its own
//! [`KeyspaceOptions`] (merge operator, memtable size, compression,
//! compaction); `Db`'s own verbs use the one named `default`. They share
//! the WAL and the sequence numbers, so one [`WriteBatch`] writes to
//! several atomically — also across a crash — and one [`Snapshot`] reads
//! them all at the same moment. The durability contract below holds for
//! the database as a whole.
//!
//! ```
//! # fn main() -> rillkv::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! use rillkv::{Db, KeyspaceOptions, Options, WriteBatch, merge::U64Add};
//! let db = Db::open(dir.path(), Options::default())?;
//! let docs = db.keyspace("docs", KeyspaceOptions::default())?;
//! let stats = db.keyspace("doc_stats", KeyspaceOptions::default().merge_operator(U64Add))?;
//! let mut batch = WriteBatch::new();
//! batch.put_in(&docs, b"d1", b"hello").merge_in(&stats, b"count", 1u64.to_le_bytes());
//! db.write(batch)?;                             // both keyspaces, or neither
//! let snap = db.snapshot();
//! assert_eq!(snap.iter_in(&docs).count(), 1);
//! assert_eq!(snap.get_in(&stats, b"count")?.as_deref(), Some(&1u64.to_le_bytes()[..]));
//! assert_eq!(db.keyspaces(), ["default", "docs", "doc_stats"]);
//! # Ok(()) }
//! ```
//!
//! # Transactions
//!
//! [`Db::transaction`] begins an optimistic [`Transaction`]: it reads a
//! snapshot plus its own uncommitted writes (also through iterators, in
//! both directions, and across keyspaces with the `*_in` verbs), and
//! [`Transaction::commit`] applies its writes as one batch — one WAL
//! record — unless a commit after its snapshot conflicts with it, which
//! fails with [`ErrorKind::Conflict`] and writes nothing.
//! [`Isolation::Snapshot`] (the default) checks the keys it writes;
//! [`Isolation::Serializable`] also the keys it read and the ranges its
//! iterators covered. Merges with a commutative operator (such as
//! [`merge::U64Add`]) into keys the transaction did not read never conflict
//! with each other, so counters never abort. [`Db::run_transaction`]
//! retries on conflicts; [`Db::compare_and_swap`] changes one key if it
//! holds an expected value, without a transaction.
//!
//! ```
//! # fn main() -> rillkv::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! use rillkv::{Db, Isolation, Options, TransactionOptions, merge::U64Add};
//! let db = Db::open(dir.path(), Options::default().merge_operator(U64Add))?;
//! db.put(b"stock:apple", 3u64.to_le_bytes())?;
//! let serializable = TransactionOptions::default().isolation(Isolation::Serializable);
//! let sold = db.run_transaction_with(serializable, |txn| {
//!     let stock = txn.get(b"stock:apple")?.map_or(0, |v| v[0] as u64);
//!     if stock == 0 {
//!         return Ok(false);
//!     }
//!     txn.put(b"stock:apple", (stock - 1).to_le_bytes());
//!     txn.merge(b"sales", 1u64.to_le_bytes()); // a counter: never a conflict
//!     Ok(true)
//! })?;
//! assert!(sold);
//! assert_eq!(db.get(b"sales")?.as_deref(), Some(&1u64.to_le_bytes()[..]));
//! # Ok(()) }
//! ```
//!
//! # Durability contract
//!
//! (For writes made with the WAL, the default; a write made with
//! [`WriteOptions::disable_wal`] is lost by a crash unless a flush wrote it
//! to a table first, and is outside the prefix property below.)
//!
//! - A write returns only after it has been appended to the write-ahead log
//!   (WAL). It then survives a crash of the process (`SIGKILL`, a panic, an
//!   `abort`), because its bytes are in the operating system's page cache.
//! - With [`WriteOptions::sync`]`(true)` the WAL is fsynced before the write
//!   returns, so the write also survives a power loss or kernel crash. A
//!   synced write also makes every earlier write durable.
//! - Concurrent writers share one WAL append and one fsync (group commit),
//!   so syncing costs less per write the more writers there are.
//! - After any crash the database recovers to a **prefix** of the
//!   acknowledged writes in commit order: no holes, never a write that was
//!   not made, never part of a [`WriteBatch`]. Every synced write is in that
//!   prefix. Writes acknowledged without sync may be missing after a power
//!   loss, but only from the end.
//! - If a WAL write or fsync fails, the database refuses further writes
//!   (`ErrorKind::Poisoned`) until reopened, because the state of the log on
//!   disk is then unknown; reads keep working.
//! - A failed fsync counts as a power loss at that moment: the kernel may
//!   have dropped the pages it covered, so writes acknowledged without sync
//!   since the last successful fsync may be missing after the next open
//!   even without a power loss (reads served them until then). Recovery
//!   still yields a prefix holding every write synced before the failure.
//! - [`Db::sync_wal`] makes every write acknowledged so far durable without
//!   writing anything (no fsync when nothing is pending).
//! - [`Db::close`] fsyncs the WAL: after a clean close, writes made
//!   without sync survive a power loss too. Once `close` returns, nothing
//!   of that handle touches the directory again: a compaction running on
//!   another clone is cancelled and waited for, and iterators and
//!   snapshots still alive return [`ErrorKind::Closed`].
//!
//! Recovery drops a damaged log *tail* (what a crash leaves) and reports it
//! in [`Db::stats`]; damage before the tail fails the open with
//! [`ErrorKind::Corruption`] naming file and offset, unless a lenient
//! [`RecoveryMode`] is chosen.
//!
//! # Threading and processes
//!
//! - **Handles.** [`Db`] is `Clone + Send + Sync`: clones are handles on one
//!   database (an `Arc` inside); share them across threads rather than
//!   opening the directory twice. [`Snapshot`]s and [`DbIter`]s own a
//!   handle too, so they are `'static + Send` and keep working across
//!   writes, flushes and compactions.
//! - **Threads.** Each open database runs two background threads:
//!   `rillkv-flush` writes sealed memtables as tables, and `rillkv-compact`
//!   runs the merge policy's jobs (a job may use up to
//!   [`merge_workers`](CompactionOptions::merge_workers) more threads while
//!   it runs). There is no writer thread: among concurrent writers, the
//!   first one leads a commit group and appends (and fsyncs) the WAL record
//!   for everyone queued behind it.
//! - **Processes.** A directory is open in one `Db` at a time, across
//!   processes: [`Db::open`] locks the directory's `LOCK` file
//!   (`File::try_lock`) and fails at once with [`ErrorKind::Locked`] if
//!   another `Db` holds it, in this process or another. The operating
//!   system drops the lock when its process dies, so a crash never leaves
//!   a stale lock behind. For several processes, let one own the `Db` and
//!   serve the others.
//! - **Closing.** [`Db::close`] waits for the write in progress, stops the
//!   background threads (a running compaction is abandoned; its inputs
//!   stay), fsyncs the WAL and releases the lock; memtables are not
//!   flushed, their WALs are replayed at the next open. Every remaining
//!   handle then fails with [`ErrorKind::Closed`]. Dropping the last handle
//!   (every clone, snapshot and iterator) closes the database the same way,
//!   best effort: it never panics and can only log a failure with
//!   `tracing`, so call `close` to see it.
//!
//! # Choosing compaction options
//!
//! Flushed memtables become sorted *runs* of tables; the merge policy
//! ([`compaction::TieredPolicy`]) merges runs inside each *overlap group*
//! (tables whose key ranges overlap) in the background. The defaults of
//! [`CompactionOptions`] suit most workloads; `DESIGN.md` ("Compaction")
//! argues each bound (`BENCHMARKS.md` measures them). Watch [`Db::stats`]:
//! `max_depth` (tables a point read may probe), `pending_compaction_bytes`,
//! `write_stall_reason` and [`CounterValues::write_amplification`].
//!
//! - [`max_merge_files`](CompactionOptions::max_merge_files) (8) bounds
//!   **read amplification**: a key range whose point reads may probe this
//!   many tables is always compacted. Lower it for faster point reads at the
//!   cost of more rewriting; raise it for write-heavy loads that read little.
//! - [`overlap_ratio_trigger`](CompactionOptions::overlap_ratio_trigger)
//!   (0.5) bounds **space amplification**: a group whose bytes outside its
//!   largest run exceed this fraction is merged whole, so duplicates cost at
//!   most `1 / (1 - ratio)` (2×). Lower it when disk space is tight and
//!   keys are overwritten often.
//! - [`min_merge_width`](CompactionOptions::min_merge_width) (4) and
//!   [`tier_size_ratio`](CompactionOptions::tier_size_ratio) (1.0) bound
//!   **write amplification**: runs of similar size are merged once that many
//!   pile up, so each byte is rewritten O(log(data ÷ memtable)) times.
//!   Raise them to rewrite less, at the cost of more runs to read.
//! - [`max_memory`](CompactionOptions::max_memory) (256 MiB) caps the memory
//!   of one compaction, all its workers together. The fan-in (runs merged at
//!   once) is `(max_memory ÷ merge_workers − 4 MiB) ÷ 256 KiB`, at most
//!   [`max_fan_in`](CompactionOptions::max_fan_in) (32); a job with more
//!   runs merges in rounds, which costs extra I/O. The default already
//!   reaches the full fan-in with 8 workers; lower it only when memory is
//!   scarce.
//! - [`merge_workers`](CompactionOptions::merge_workers) (half the cores, at
//!   most 8) threads per compaction: a big job is split by key range into
//!   sub-jobs merged in parallel. Raise it when compaction falls behind
//!   (`pending_compaction_bytes` keeps growing, writes slow down) and cores
//!   are idle; lower it to leave cores to the application.
//! - [`slowdown_runs`](CompactionOptions::slowdown_runs) (20) and
//!   [`stop_runs`](CompactionOptions::stop_runs) (36) are the
//!   **backpressure**: once a point read may probe that many tables, each
//!   commit group waits 1 ms, then writers wait for compaction. They bound
//!   read latency and memory under write bursts that outrun compaction;
//!   raise them to absorb longer bursts, keeping
//!   `max_merge_files <= slowdown_runs < stop_runs`.
//! - [`background`](CompactionOptions::background)`(false)` turns the
//!   compactor off, and with it the backpressure: call [`Db::compact`] or
//!   [`Db::compact_range`] yourself (bulk loads, tests).
//!
//! [`memtable_size`](Options::memtable_size) matters too: every flush adds
//! one run, so larger memtables mean fewer, larger runs and less rewriting.
//!
//! # Events, tracing and async
//! Register an [`EventListener`] with [`Options::listener`] to hear of
//! flushes, compactions, tables, write stalls, background errors and
//! corruption ([`TracingListener`] logs them all). rillkv emits `tracing`
//! spans and events but never installs a subscriber. With feature `tokio`,
//! `AsyncDb` offers the same verbs as `async fn`s and scans as a `Stream`.

#![warn(missing_docs)]

#[cfg(feature = "tokio")]
mod async_db;
mod backup;
mod batch;
pub mod compaction;
mod conflict;
mod db;
mod error;
pub mod event;
mod filename;
#[cfg(test)]
mod format_docs;
pub mod fs;
mod iter;
mod key;
mod memtable;
pub mod merge;
mod options;
mod read;
mod stats;
mod table;
// Offline decoders for the `rillkv` command-line tool: not a stable API.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod tools;
mod tree;
mod txn;
mod version;
mod wal;

/// Internals for the benches and fuzz targets (feature `internals`): not a
/// stable API.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::iter::{InternalIter, MergingIter};
    pub use crate::key::{InternalKey, ValueKind};

    pub mod bench;
    pub mod fuzzing;
}

#[cfg(feature = "tokio")]
pub use async_db::{AsyncDb, AsyncKeyspace, AsyncSnapshot, DbStream};
pub use backup::{BackupEngine, BackupInfo, BackupProgress, PurgeReport};
pub use batch::WriteBatch;
/// The byte buffer every read returns (re-exported so callers need not
/// depend on `bytes` themselves).
pub use bytes::Bytes;
pub use db::{Db, Keyspace, VerifyProblem, VerifyReport};
pub use error::{Error, ErrorKind, Result};
pub use event::{EventListener, TracingListener};
pub use key::SeqNo;
pub use merge::{MergeError, MergeOperator};
pub use options::{
    CompactionOptions, KeyspaceOptions, MAX_KEYSPACE_NAME, Options, RecoveryMode, WriteOptions,
};
pub use read::{DbIter, Snapshot};
pub use stats::{CounterValues, RunStats, Stats, TableStats};
pub use table::Compression;
pub use txn::{CasResult, Isolation, Transaction, TransactionIter, TransactionOptions};
