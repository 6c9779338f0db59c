//! Events: callbacks that tell a program what the engine does in the
//! background — flushes, compactions, tables created and deleted, write
//! stalls, background errors and corruption found.
//!
//! Implement [`EventListener`] (every method has a no-op default, so
//! implement only what you need) and register it with
//! [`Options::listener`](crate::Options::listener). [`TracingListener`]
//! turns every event into a `tracing` event.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use rillkv::event::{EventListener, FlushEndInfo};
//! use rillkv::{Db, Options};
//!
//! #[derive(Default)]
//! struct CountFlushes(AtomicU64);
//!
//! impl EventListener for CountFlushes {
//!     fn on_flush_end(&self, info: &FlushEndInfo) {
//!         if info.result.is_ok() {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! # fn main() -> rillkv::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let flushes = Arc::new(CountFlushes::default());
//! let db = Db::open(dir.path(), Options::default().listener(flushes.clone()))?;
//! db.put(b"k", b"v")?;
//! db.flush()?;
//! assert_eq!(flushes.0.load(Ordering::Relaxed), 1);
//! # Ok(()) }
//! ```
//!
//! # Where callbacks run, and what they may do
//! Callbacks run **synchronously on the engine's threads**: the flush
//! thread, the compaction thread (or the thread calling
//! [`Db::compact`](crate::Db::compact)), the writer that leads a commit
//! group (write stalls, WAL failures), a reader whose read found corruption,
//! and whichever thread drops the last reference to an obsolete table
//! (table deleted). Listeners are called in registration order; a panic in
//! one is caught and logged, and the others still run.
//!
//! - **Return quickly.** A slow callback delays flushes and compactions, and
//!   a write-stall callback delays every writer. Hand slow work (network,
//!   disk, locks others hold long) to another thread through a channel.
//! - **Reading the same database is allowed**: `get`, iterators, snapshots
//!   and `stats` never wait for the thread a callback runs on.
//! - **Never write to or manage the same database from a callback**: `put`,
//!   `delete`, `merge`, `write`, `flush`, `compact`, `compact_range`,
//!   `verify` and `close` may wait for the very thread the callback runs on (a stall
//!   waits for the flush thread; a write-stall callback runs while the
//!   commit leader holds the WAL) and deadlock. Send a message to another
//!   thread that does it instead.
//! - **Do not keep a [`Db`](crate::Db) inside a listener**: the database
//!   holds its listeners, so the cycle would keep it from closing on drop.
//!
//! With no listener registered the engine builds no event and takes no
//! lock for them: the write path pays nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::compaction::{CompactionReason, GroupRun};
use crate::error::{Error, ErrorKind, Result};
use crate::stats::TableStats;

/// Receives the engine's events. Every method has a default that does
/// nothing. See the [module docs](self) for the threads callbacks run on and
/// what they may do: return quickly, read but never write the same
/// database.
///
/// The trait is object safe: listeners are registered as
/// `Arc<dyn EventListener>` with
/// [`Options::listener`](crate::Options::listener).
pub trait EventListener: Send + Sync {
    /// A flush starts writing a sealed memtable as a table. (Memtables
    /// replayed from WALs at open are written without flush events; their
    /// tables are reported with [`TableCreationReason::Recovery`].)
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{EventListener, FlushBeginInfo};
    ///
    /// #[derive(Default)]
    /// struct Entries(Mutex<Vec<u64>>);
    ///
    /// impl EventListener for Entries {
    ///     fn on_flush_begin(&self, info: &FlushBeginInfo) {
    ///         self.0.lock().unwrap().push(info.memtable_entries);
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let seen = Arc::new(Entries::default());
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default().listener(seen.clone()))?;
    /// db.put(b"a", b"1")?;
    /// db.put(b"b", b"2")?;
    /// db.flush()?;
    /// assert_eq!(*seen.0.lock().unwrap(), vec![2]);
    /// # Ok(()) }
    /// ```
    fn on_flush_begin(&self, _info: &FlushBeginInfo) {}

    /// A flush ended, successfully or not. Always follows its
    /// [`on_flush_begin`](Self::on_flush_begin).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{EventListener, FlushEndInfo};
    ///
    /// #[derive(Default)]
    /// struct Flushed(Mutex<Vec<(bool, Option<u64>)>>);
    ///
    /// impl EventListener for Flushed {
    ///     fn on_flush_end(&self, info: &FlushEndInfo) {
    ///         self.0.lock().unwrap().push((info.result.is_ok(), info.table_size));
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let flushed = Arc::new(Flushed::default());
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default().listener(flushed.clone()))?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// let table = &db.stats().runs[0].tables[0];
    /// assert_eq!(*flushed.0.lock().unwrap(), vec![(true, Some(table.size))]);
    /// # Ok(()) }
    /// ```
    fn on_flush_end(&self, _info: &FlushEndInfo) {}

    /// A compaction job starts.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::compaction::CompactionReason;
    /// use rillkv::event::{CompactionBeginInfo, EventListener};
    ///
    /// #[derive(Default)]
    /// struct Jobs(Mutex<Vec<(CompactionReason, usize)>>);
    ///
    /// impl EventListener for Jobs {
    ///     fn on_compaction_begin(&self, info: &CompactionBeginInfo) {
    ///         self.0.lock().unwrap().push((info.reason, info.inputs.len()));
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let jobs = Arc::new(Jobs::default());
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default().listener(jobs.clone()))?;
    /// for round in ["1", "2"] {
    ///     db.put(b"k", round)?;
    ///     db.flush()?;
    /// }
    /// db.compact()?;
    /// assert_eq!(*jobs.0.lock().unwrap(), vec![(CompactionReason::Manual, 2)]);
    /// # Ok(()) }
    /// ```
    fn on_compaction_begin(&self, _info: &CompactionBeginInfo) {}

    /// A compaction job ended, successfully or not. Always follows its
    /// [`on_compaction_begin`](Self::on_compaction_begin); its outputs'
    /// [`on_table_created`](Self::on_table_created) come before it, and
    /// its inputs' [`on_table_deleted`](Self::on_table_deleted) after it
    /// (once no reader pins them).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{CompactionEndInfo, EventListener};
    ///
    /// #[derive(Default)]
    /// struct Outputs(Mutex<Vec<u64>>);
    ///
    /// impl EventListener for Outputs {
    ///     fn on_compaction_end(&self, info: &CompactionEndInfo) {
    ///         if info.result.is_ok() {
    ///             self.0.lock().unwrap().extend(info.outputs.iter().map(|t| t.number));
    ///         }
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let outputs = Arc::new(Outputs::default());
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default().listener(outputs.clone()))?;
    /// for round in ["1", "2"] {
    ///     db.put(b"k", round)?;
    ///     db.flush()?;
    /// }
    /// db.compact()?;
    /// let live: Vec<u64> = db.stats().runs.iter().flat_map(|r| r.tables.iter().map(|t| t.number)).collect();
    /// assert_eq!(*outputs.0.lock().unwrap(), live);
    /// # Ok(()) }
    /// ```
    fn on_compaction_end(&self, _info: &CompactionEndInfo) {}

    /// A table was written and fsynced (by a flush, a compaction or
    /// recovery), before the manifest edit that makes it live.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{EventListener, TableCreatedInfo, TableCreationReason};
    ///
    /// #[derive(Default)]
    /// struct Created(Mutex<Vec<TableCreationReason>>);
    ///
    /// impl EventListener for Created {
    ///     fn on_table_created(&self, info: &TableCreatedInfo) {
    ///         self.0.lock().unwrap().push(info.reason);
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let created = Arc::new(Created::default());
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default().listener(created.clone()))?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// assert_eq!(*created.0.lock().unwrap(), vec![TableCreationReason::Flush]);
    /// # Ok(()) }
    /// ```
    fn on_table_created(&self, _info: &TableCreatedInfo) {}

    /// A table file was deleted.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{EventListener, TableDeletedInfo, TableDeletionReason};
    ///
    /// #[derive(Default)]
    /// struct Deleted(Mutex<Vec<(u64, TableDeletionReason)>>);
    ///
    /// impl EventListener for Deleted {
    ///     fn on_table_deleted(&self, info: &TableDeletedInfo) {
    ///         self.0.lock().unwrap().push((info.number, info.reason));
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let deleted = Arc::new(Deleted::default());
    /// let db = rillkv::Db::open(dir.path(), rillkv::Options::default().listener(deleted.clone()))?;
    /// let mut inputs = Vec::new();
    /// for round in ["1", "2"] {
    ///     db.put(b"k", round)?;
    ///     db.flush()?;
    ///     inputs.push(db.stats().runs[0].tables[0].number);
    /// }
    /// db.compact()?; // replaces both tables
    /// let mut gone = deleted.0.lock().unwrap().clone();
    /// gone.sort_by_key(|&(number, _)| number);
    /// let compacted = TableDeletionReason::Compacted;
    /// assert_eq!(gone, vec![(inputs[0], compacted), (inputs[1], compacted)]);
    /// # Ok(()) }
    /// ```
    fn on_table_deleted(&self, _info: &TableDeletedInfo) {}

    /// Writers started waiting (or being slowed down).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{CompactionBeginInfo, EventListener, WriteStallCause};
    /// use rillkv::event::{WriteStallBeginInfo, WriteStallEndInfo};
    /// use rillkv::{CompactionOptions, Db, Options};
    ///
    /// #[derive(Default)]
    /// struct Stalls {
    ///     /// Compactions wait at their start while the example holds this.
    ///     gate: Mutex<()>,
    ///     begun: Mutex<Vec<WriteStallCause>>,
    ///     ended: Mutex<Vec<WriteStallCause>>,
    /// }
    ///
    /// impl EventListener for Stalls {
    ///     fn on_compaction_begin(&self, _: &CompactionBeginInfo) {
    ///         drop(self.gate.lock().unwrap());
    ///     }
    ///     fn on_write_stall_begin(&self, info: &WriteStallBeginInfo) {
    ///         self.begun.lock().unwrap().push(info.cause);
    ///     }
    ///     fn on_write_stall_end(&self, info: &WriteStallEndInfo) {
    ///         self.ended.lock().unwrap().push(info.cause);
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let stalls = Arc::new(Stalls::default());
    /// let c = CompactionOptions::default().max_merge_files(2).slowdown_runs(2).stop_runs(4);
    /// let db = Db::open(dir.path(), Options::default().compaction(c).listener(stalls.clone()))?;
    /// let gate = stalls.gate.lock().unwrap(); // hold compaction back
    /// for round in ["1", "2"] {
    ///     db.put(b"k", round)?;
    ///     db.flush()?; // two overlapping runs: depth 2 reaches slowdown_runs
    /// }
    /// db.put(b"k", b"3")?; // waits 1 ms first
    /// assert_eq!(*stalls.begun.lock().unwrap(), vec![WriteStallCause::Slowdown]);
    /// drop(gate);
    /// # Ok(()) }
    /// ```
    fn on_write_stall_begin(&self, _info: &WriteStallBeginInfo) {}

    /// A write stall ended. Paired with the
    /// [`on_write_stall_begin`](Self::on_write_stall_begin) of the same
    /// cause.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{CompactionBeginInfo, EventListener, WriteStallCause};
    /// use rillkv::event::{WriteStallBeginInfo, WriteStallEndInfo};
    /// use rillkv::{CompactionOptions, Db, Options};
    ///
    /// #[derive(Default)]
    /// struct Stalls {
    ///     /// Compactions wait at their start while the example holds this.
    ///     gate: Mutex<()>,
    ///     begun: Mutex<Vec<WriteStallCause>>,
    ///     ended: Mutex<Vec<WriteStallCause>>,
    /// }
    ///
    /// impl EventListener for Stalls {
    ///     fn on_compaction_begin(&self, _: &CompactionBeginInfo) {
    ///         drop(self.gate.lock().unwrap());
    ///     }
    ///     fn on_write_stall_begin(&self, info: &WriteStallBeginInfo) {
    ///         self.begun.lock().unwrap().push(info.cause);
    ///     }
    ///     fn on_write_stall_end(&self, info: &WriteStallEndInfo) {
    ///         self.ended.lock().unwrap().push(info.cause);
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let stalls = Arc::new(Stalls::default());
    /// let c = CompactionOptions::default().max_merge_files(2).slowdown_runs(2).stop_runs(4);
    /// let db = Db::open(dir.path(), Options::default().compaction(c).listener(stalls.clone()))?;
    /// let gate = stalls.gate.lock().unwrap(); // hold compaction back
    /// for round in ["1", "2"] {
    ///     db.put(b"k", round)?;
    ///     db.flush()?; // two overlapping runs: depth 2 reaches slowdown_runs
    /// }
    /// db.put(b"k", b"3")?; // waits 1 ms first
    /// assert!(stalls.ended.lock().unwrap().is_empty());
    /// drop(gate);
    /// db.compact()?; // waits for the held compaction, then compacts the rest
    /// db.put(b"k", b"4")?; // one run left: not slowed, so the stall ends
    /// assert_eq!(*stalls.ended.lock().unwrap(), vec![WriteStallCause::Slowdown]);
    /// # Ok(()) }
    /// ```
    fn on_write_stall_end(&self, _info: &WriteStallEndInfo) {}

    /// Background work failed, or a failure made the database refuse
    /// writes.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{BackgroundErrorInfo, BackgroundErrorReason, EventListener};
    /// use rillkv::{Db, ErrorKind, Options, WriteBatch, WriteOptions, fs::FaultFs};
    ///
    /// #[derive(Default)]
    /// struct Errors(Mutex<Vec<(BackgroundErrorReason, bool)>>);
    ///
    /// impl EventListener for Errors {
    ///     fn on_background_error(&self, info: &BackgroundErrorInfo) {
    ///         self.0.lock().unwrap().push((info.reason, info.writes_refused));
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// let fs = FaultFs::new();
    /// let errors = Arc::new(Errors::default());
    /// let db = Db::open("/db", Options::default().fs(fs.clone()).listener(errors.clone()))?;
    /// fs.fail_nth_sync(1); // the next fsync fails: the WAL's
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"k", b"v");
    /// let err = db.write_opt(batch, &WriteOptions::default().sync(true)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Io);
    /// assert_eq!(*errors.0.lock().unwrap(), vec![(BackgroundErrorReason::Wal, true)]);
    /// assert_eq!(db.put(b"k", b"v").unwrap_err().kind(), ErrorKind::Poisoned);
    /// # Ok(()) }
    /// ```
    fn on_background_error(&self, _info: &BackgroundErrorInfo) {}

    /// Damaged bytes were found in a database file.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{CorruptionContext, CorruptionInfo, EventListener};
    /// use rillkv::fs::{FaultFs, Fs};
    /// use rillkv::{Db, ErrorKind, Options};
    ///
    /// #[derive(Default)]
    /// struct Damage(Mutex<Vec<(CorruptionContext, u64)>>);
    ///
    /// impl EventListener for Damage {
    ///     fn on_corruption(&self, info: &CorruptionInfo) {
    ///         self.0.lock().unwrap().push((info.context, info.offset));
    ///     }
    /// }
    ///
    /// # fn main() -> rillkv::Result<()> {
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// db.put(b"k", b"v")?;
    /// db.flush()?;
    /// db.close()?;
    /// // Flip the first byte of the table's first data block.
    /// let name = fs.list_dir(Path::new("/db"))?.into_iter().find(|n| n.ends_with(".rkt"));
    /// let table = Path::new("/db").join(name.expect("one table"));
    /// let mut bytes = fs.file_bytes(&table).expect("the table's bytes");
    /// bytes[0] ^= 0xff;
    /// fs.set_file_bytes(&table, bytes)?;
    ///
    /// let damage = Arc::new(Damage::default());
    /// let db = Db::open("/db", Options::default().fs(fs.clone()).listener(damage.clone()))?;
    /// assert_eq!(db.get(b"k").unwrap_err().kind(), ErrorKind::Corruption);
    /// assert_eq!(*damage.0.lock().unwrap(), vec![(CorruptionContext::Get, 0)]);
    /// # Ok(()) }
    /// ```
    fn on_corruption(&self, _info: &CorruptionInfo) {}
}

/// What [`EventListener::on_flush_begin`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlushBeginInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The memtable's id: the number of its WAL.
    pub memtable_id: u64,
    /// Approximate bytes in the memtable.
    pub memtable_bytes: u64,
    /// Entries (versions) in the memtable.
    pub memtable_entries: u64,
    /// The number the output table gets (`NNNNNN.rkt`).
    pub table_number: u64,
}

/// What [`EventListener::on_flush_end`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlushEndInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The memtable's id: the number of its WAL.
    pub memtable_id: u64,
    /// Approximate bytes in the memtable.
    pub memtable_bytes: u64,
    /// Entries (versions) in the memtable.
    pub memtable_entries: u64,
    /// The output table's number.
    pub table_number: u64,
    /// The output table's size; `None` if the flush failed before the
    /// table was written.
    pub table_size: Option<u64>,
    /// Time from begin to end.
    pub duration: Duration,
    /// `Ok` once the table is live and the memtable dropped; the error
    /// otherwise (the database then refuses writes until reopened).
    pub result: Result<()>,
}

/// What [`EventListener::on_compaction_begin`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CompactionBeginInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// Numbers this database's compaction jobs, from 1.
    pub job_id: u64,
    /// Why the job was picked.
    pub reason: CompactionReason,
    /// The input runs' tables (numbers) and bytes, newest run first.
    pub inputs: Vec<GroupRun>,
    /// Total input bytes.
    pub input_bytes: u64,
    /// The run the outputs join.
    pub output_run: u64,
    /// Whether the job is at the bottom of the tree for its keys
    /// (tombstones with nothing below are dropped).
    pub bottom: bool,
}

/// What [`EventListener::on_compaction_end`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CompactionEndInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The job's id, as in its begin event.
    pub job_id: u64,
    /// Why the job was picked.
    pub reason: CompactionReason,
    /// The input runs' tables and bytes, newest run first.
    pub inputs: Vec<GroupRun>,
    /// The tables written (empty if the job failed).
    pub outputs: Vec<TableStats>,
    /// Bytes of input tables read.
    pub bytes_read: u64,
    /// Bytes of tables written, intermediate rounds included.
    pub bytes_written: u64,
    /// Merge rounds run.
    pub rounds: usize,
    /// Time from begin to end.
    pub duration: Duration,
    /// `Ok` once the outputs are live; the error otherwise (the inputs stay
    /// live, nothing is lost).
    pub result: Result<()>,
}

/// Why a table was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableCreationReason {
    /// A flush of a sealed memtable.
    Flush,
    /// An output of a compaction job.
    Compaction,
    /// A memtable replayed from a WAL at open.
    Recovery,
}

/// What [`EventListener::on_table_created`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TableCreatedInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The table's file number (`NNNNNN.rkt`).
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Entries (versions) in it.
    pub entries: u64,
    /// Why it was written.
    pub reason: TableCreationReason,
    /// The compaction job that wrote it, for
    /// [`TableCreationReason::Compaction`].
    pub job_id: Option<u64>,
}

/// Why a table was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableDeletionReason {
    /// A compaction replaced it, and no reader pins it any more.
    Compacted,
    /// At open: no manifest names it (left by a crash mid-flush or
    /// mid-compaction, or deleted late).
    Unreferenced,
}

/// What [`EventListener::on_table_deleted`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TableDeletedInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The table's file number.
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Why it was deleted.
    pub reason: TableDeletionReason,
}

/// What stalls writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteStallCause {
    /// `max_sealed_memtables` memtables wait for flush: writers wait.
    Memtables,
    /// Runs pile up past `slowdown_runs`: each commit group waits 1 ms. It
    /// begins at the first slowed commit and ends at the first commit that
    /// is not slowed (or at close).
    Slowdown,
    /// Runs pile up to `stop_runs`: writers wait for compaction.
    Stop,
}

/// What [`EventListener::on_write_stall_begin`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteStallBeginInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// What stalls writers.
    pub cause: WriteStallCause,
    /// Why, in words (as [`Stats::write_stall_reason`](crate::Stats)).
    pub reason: String,
}

/// What [`EventListener::on_write_stall_end`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteStallEndInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// What stalled writers, as in the begin event.
    pub cause: WriteStallCause,
    /// Why, in words, as in the begin event.
    pub reason: String,
    /// How long the stall lasted.
    pub duration: Duration,
    /// `Ok` if writers go on; the error they got otherwise (the flush or
    /// compaction failed, or the database closed).
    pub result: Result<()>,
}

/// Which background work failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackgroundErrorReason {
    /// A flush failed: writes are refused until reopen.
    Flush,
    /// A compaction failed (background jobs are retried after a second),
    /// or its manifest edit failed (writes are then refused).
    Compaction,
    /// A WAL append or fsync failed on the write path: writes are refused
    /// until reopen.
    Wal,
}

/// What [`EventListener::on_background_error`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BackgroundErrorInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// Which work failed.
    pub reason: BackgroundErrorReason,
    /// The error.
    pub error: Error,
    /// Whether the database now refuses writes
    /// ([`Poisoned`](crate::ErrorKind::Poisoned)) until reopened.
    pub writes_refused: bool,
}

/// Where damage was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CorruptionContext {
    /// Opening the database (the open fails).
    Open,
    /// A point read ([`Db::get`](crate::Db::get) or a snapshot's).
    Get,
    /// An iterator (or an async stream).
    Iterator,
    /// A flush.
    Flush,
    /// A compaction, reading its inputs.
    Compaction,
    /// [`Db::verify`](crate::Db::verify).
    Verify,
}

/// What [`EventListener::on_corruption`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CorruptionInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The damaged file.
    pub file: PathBuf,
    /// The byte offset of the damage (of the damaged block or record).
    pub offset: u64,
    /// What is wrong, as the error's message says it.
    pub message: String,
    /// Where it was found.
    pub context: CorruptionContext,
}

/// Emits a `tracing` event for every callback (target `rillkv::event`):
/// `debug` for begins, `info` for ends and tables, `warn` for stalls and
/// failed jobs, `error` for background errors and corruption. The library
/// never installs a subscriber; the program chooses one.
///
/// ```
/// use std::sync::Arc;
/// # fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let opts = rillkv::Options::default().listener(Arc::new(rillkv::event::TracingListener));
/// let db = rillkv::Db::open(dir.path(), opts)?;
/// db.put(b"k", b"v")?;
/// db.flush()?; // "flush finished" at info level, if a subscriber listens
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingListener;

fn outcome(result: &Result<()>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    }
}

impl EventListener for TracingListener {
    fn on_flush_begin(&self, i: &FlushBeginInfo) {
        tracing::debug!(
            db = %i.db_path.display(),
            memtable = i.memtable_id,
            bytes = i.memtable_bytes,
            entries = i.memtable_entries,
            table = i.table_number,
            "flush started"
        );
    }

    fn on_flush_end(&self, i: &FlushEndInfo) {
        let millis = i.duration.as_millis() as u64;
        if i.result.is_ok() {
            tracing::info!(
                db = %i.db_path.display(),
                memtable = i.memtable_id,
                entries = i.memtable_entries,
                table = i.table_number,
                size = i.table_size,
                millis,
                "flush finished"
            );
        } else {
            tracing::warn!(
                db = %i.db_path.display(),
                memtable = i.memtable_id,
                millis,
                result = %outcome(&i.result),
                "flush failed"
            );
        }
    }

    fn on_compaction_begin(&self, i: &CompactionBeginInfo) {
        tracing::debug!(
            db = %i.db_path.display(),
            job = i.job_id,
            reason = %i.reason,
            runs = i.inputs.len(),
            tables = i.inputs.iter().map(|r| r.tables.len()).sum::<usize>(),
            bytes = i.input_bytes,
            "compaction started"
        );
    }

    fn on_compaction_end(&self, i: &CompactionEndInfo) {
        let millis = i.duration.as_millis() as u64;
        if i.result.is_ok() {
            tracing::info!(
                db = %i.db_path.display(),
                job = i.job_id,
                reason = %i.reason,
                outputs = i.outputs.len(),
                read = i.bytes_read,
                written = i.bytes_written,
                rounds = i.rounds,
                millis,
                "compaction finished"
            );
        } else {
            tracing::warn!(
                db = %i.db_path.display(),
                job = i.job_id,
                reason = %i.reason,
                millis,
                result = %outcome(&i.result),
                "compaction failed"
            );
        }
    }

    fn on_table_created(&self, i: &TableCreatedInfo) {
        tracing::info!(
            db = %i.db_path.display(),
            table = i.number,
            size = i.size,
            entries = i.entries,
            reason = ?i.reason,
            job = i.job_id,
            "table created"
        );
    }

    fn on_table_deleted(&self, i: &TableDeletedInfo) {
        tracing::info!(
            db = %i.db_path.display(),
            table = i.number,
            size = i.size,
            reason = ?i.reason,
            "table deleted"
        );
    }

    fn on_write_stall_begin(&self, i: &WriteStallBeginInfo) {
        tracing::warn!(
            db = %i.db_path.display(),
            cause = ?i.cause,
            reason = %i.reason,
            "write stall began"
        );
    }

    fn on_write_stall_end(&self, i: &WriteStallEndInfo) {
        tracing::warn!(
            db = %i.db_path.display(),
            cause = ?i.cause,
            reason = %i.reason,
            micros = i.duration.as_micros() as u64,
            result = %outcome(&i.result),
            "write stall ended"
        );
    }

    fn on_background_error(&self, i: &BackgroundErrorInfo) {
        tracing::error!(
            db = %i.db_path.display(),
            reason = ?i.reason,
            error = %i.error,
            writes_refused = i.writes_refused,
            "background error"
        );
    }

    fn on_corruption(&self, i: &CorruptionInfo) {
        tracing::error!(
            db = %i.db_path.display(),
            file = %i.file.display(),
            offset = i.offset,
            context = ?i.context,
            message = %i.message,
            "corruption found"
        );
    }
}

/// The listeners of one open database, with its path. Exists only when at
/// least one listener is registered (`Option<Arc<Events>>` elsewhere), so
/// that "no listener" costs one `None` check.
pub(crate) struct Events {
    db_path: PathBuf,
    listeners: Vec<Arc<dyn EventListener>>,
}

impl Events {
    /// `None` when `listeners` is empty.
    pub(crate) fn new(dir: &Path, listeners: &[Arc<dyn EventListener>]) -> Option<Arc<Events>> {
        if listeners.is_empty() {
            return None;
        }
        Some(Arc::new(Events {
            db_path: dir.to_path_buf(),
            listeners: listeners.to_vec(),
        }))
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.db_path.clone()
    }

    /// Calls `f` on every listener in registration order; a panicking
    /// listener is logged and skipped.
    fn each(&self, callback: &str, f: impl Fn(&dyn EventListener)) {
        for listener in &self.listeners {
            if catch_unwind(AssertUnwindSafe(|| f(listener.as_ref()))).is_err() {
                tracing::error!(callback, "an event listener panicked; the panic was caught");
            }
        }
    }

    pub(crate) fn flush_begin(&self, info: FlushBeginInfo) {
        self.each("on_flush_begin", |l| l.on_flush_begin(&info));
    }

    pub(crate) fn flush_end(&self, info: FlushEndInfo) {
        self.each("on_flush_end", |l| l.on_flush_end(&info));
    }

    pub(crate) fn compaction_begin(&self, info: CompactionBeginInfo) {
        self.each("on_compaction_begin", |l| l.on_compaction_begin(&info));
    }

    pub(crate) fn compaction_end(&self, info: CompactionEndInfo) {
        self.each("on_compaction_end", |l| l.on_compaction_end(&info));
    }

    pub(crate) fn table_created(
        &self,
        number: u64,
        size: u64,
        entries: u64,
        reason: TableCreationReason,
        job_id: Option<u64>,
    ) {
        let info = TableCreatedInfo {
            db_path: self.db_path(),
            number,
            size,
            entries,
            reason,
            job_id,
        };
        self.each("on_table_created", |l| l.on_table_created(&info));
    }

    pub(crate) fn table_deleted(&self, number: u64, size: u64, reason: TableDeletionReason) {
        let info = TableDeletedInfo {
            db_path: self.db_path(),
            number,
            size,
            reason,
        };
        self.each("on_table_deleted", |l| l.on_table_deleted(&info));
    }

    pub(crate) fn write_stall_begin(&self, cause: WriteStallCause, reason: &str) {
        let info = WriteStallBeginInfo {
            db_path: self.db_path(),
            cause,
            reason: reason.to_owned(),
        };
        self.each("on_write_stall_begin", |l| l.on_write_stall_begin(&info));
    }

    pub(crate) fn write_stall_end(&self, stall: &ActiveStall, result: &Result<()>) {
        let info = WriteStallEndInfo {
            db_path: self.db_path(),
            cause: stall.cause,
            reason: stall.reason.clone(),
            duration: stall.started.elapsed(),
            result: result.clone(),
        };
        self.each("on_write_stall_end", |l| l.on_write_stall_end(&info));
    }

    pub(crate) fn background_error(
        &self,
        reason: BackgroundErrorReason,
        error: &Error,
        writes_refused: bool,
    ) {
        let info = BackgroundErrorInfo {
            db_path: self.db_path(),
            reason,
            error: error.clone(),
            writes_refused,
        };
        self.each("on_background_error", |l| l.on_background_error(&info));
    }

    /// Reports `error` if it is a `Corruption` error.
    pub(crate) fn corruption(&self, error: &Error, context: CorruptionContext) {
        if error.kind() != ErrorKind::Corruption {
            return;
        }
        let (file, offset) = error
            .location()
            .map_or((PathBuf::new(), 0), |(f, o)| (f.to_path_buf(), o));
        let info = CorruptionInfo {
            db_path: self.db_path(),
            file,
            offset,
            message: error.message().to_owned(),
            context,
        };
        self.each("on_corruption", |l| l.on_corruption(&info));
    }
}

/// A write stall in progress, as its begin event described it.
pub(crate) struct ActiveStall {
    pub(crate) cause: WriteStallCause,
    pub(crate) reason: String,
    pub(crate) started: std::time::Instant,
}

impl ActiveStall {
    /// Starts a stall and reports its beginning.
    pub(crate) fn begin(events: &Events, cause: WriteStallCause, reason: String) -> ActiveStall {
        events.write_stall_begin(cause, &reason);
        ActiveStall {
            cause,
            reason,
            started: std::time::Instant::now(),
        }
    }
}

/// Reports `error` as corruption found in `context`, if it is one and
/// anyone listens.
pub(crate) fn report_corruption(
    events: &Option<Arc<Events>>,
    error: &Error,
    context: CorruptionContext,
) {
    if let Some(ev) = events
        && error.kind() == ErrorKind::Corruption
    {
        ev.corruption(error, context);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Panics;
    impl EventListener for Panics {
        fn on_table_deleted(&self, _info: &TableDeletedInfo) {
            panic!("listener bug");
        }
    }

    #[derive(Default)]
    struct Counts(std::sync::atomic::AtomicU64);
    impl EventListener for Counts {
        fn on_table_deleted(&self, _info: &TableDeletedInfo) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn no_listener_means_no_events() {
        assert!(Events::new(Path::new("/db"), &[]).is_none());
    }

    #[test]
    fn a_panicking_listener_does_not_stop_the_others() {
        let counts = Arc::new(Counts::default());
        let listeners: Vec<Arc<dyn EventListener>> = vec![Arc::new(Panics), counts.clone()];
        let events = Events::new(Path::new("/db"), &listeners).expect("listeners");
        events.table_deleted(7, 100, TableDeletionReason::Compacted);
        assert_eq!(counts.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn corruption_events_carry_file_and_offset() {
        struct Keep(parking_lot::Mutex<Vec<CorruptionInfo>>);
        impl EventListener for Keep {
            fn on_corruption(&self, info: &CorruptionInfo) {
                self.0.lock().push(info.clone());
            }
        }
        let keep = Arc::new(Keep(parking_lot::Mutex::new(Vec::new())));
        let events = Events::new(Path::new("/db"), &[keep.clone() as Arc<dyn EventListener>]);
        let err = Error::corruption(Path::new("/db/000009.rkt"), 4096, "bad checksum");
        report_corruption(&events, &err, CorruptionContext::Get);
        report_corruption(&events, &Error::closed(), CorruptionContext::Get);
        let seen = keep.0.lock();
        assert_eq!(seen.len(), 1, "only corruption is reported");
        assert_eq!(seen[0].file, Path::new("/db/000009.rkt"));
        assert_eq!(seen[0].offset, 4096);
        assert!(seen[0].message.contains("bad checksum"));
    }
}
