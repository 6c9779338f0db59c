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
//!   and `stats` never wait for the thread a callback runs on. (A `get`
//!   that folds many merge operands only *offers* its result for
//!   write-back; it never writes, so it never waits for a stall.)
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

    /// A transaction's commit was refused with
    /// [`ErrorKind::Conflict`]. Called by the
    /// commit leader, holding the WAL lock: keep it short and do not write
    /// to the database.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use std::sync::{Arc, Mutex};
    /// use rillkv::event::{EventListener, TransactionConflictInfo, TransactionConflictKind};
    /// use rillkv::{Db, Options};
    /// #[derive(Default)]
    /// struct Conflicts(Mutex<Vec<(TransactionConflictKind, Option<Vec<u8>>)>>);
    /// impl EventListener for Conflicts {
    ///     fn on_transaction_conflict(&self, info: &TransactionConflictInfo) {
    ///         self.0.lock().unwrap().push((info.kind, info.key.clone()));
    ///     }
    /// }
    /// let seen = Arc::new(Conflicts::default());
    /// let db = Db::open(dir.path(), Options::default().listener(seen.clone()))?;
    /// let txn = db.transaction();
    /// txn.put(b"k", b"mine");
    /// db.put(b"k", b"theirs")?;
    /// assert!(txn.commit().is_err());
    /// let got = seen.0.lock().unwrap().clone();
    /// assert_eq!(got, [(TransactionConflictKind::WriteWrite, Some(b"k".to_vec()))]);
    /// # Ok(()) }
    /// ```
    fn on_transaction_conflict(&self, _info: &TransactionConflictInfo) {}

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

mod dispatch;
mod info;
mod tracing_listener;

pub(crate) use dispatch::{ActiveStall, Events, report_corruption};
pub use info::*;
pub use tracing_listener::TracingListener;

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
