//! rillkv is an embedded LSM-tree key-value storage engine.
//!
//! A program opens a [`Db`] in-process, puts, gets, deletes and merges keys,
//! iterates ranges, and takes snapshots.
//!
//! ```
//! use rillkv::{Db, Options, WriteBatch, WriteOptions};
//!
//! # fn main() -> rillkv::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! db.put(b"user:1", b"alice")?;
//! assert_eq!(db.get(b"user:1")?.as_deref(), Some(&b"alice"[..]));
//!
//! let mut batch = WriteBatch::new(); // atomic: all or nothing
//! batch.put(b"user:2", b"bob").delete(b"user:1");
//! db.write_opt(batch, &WriteOptions::default().sync(true))?; // durable on return
//!
//! let snap = db.snapshot(); // owned, 'static, Send
//! for item in snap.prefix(b"user:") {
//!     let (key, value) = item?;
//!     println!("{key:?} = {value:?}");
//! }
//! db.close()?;
//! # Ok(()) }
//! ```
//!
//! # Durability contract
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
//!
//! Recovery drops a damaged log *tail* (what a crash leaves) and reports it
//! in [`Db::stats`]; damage before the tail fails the open with
//! [`ErrorKind::Corruption`] naming file and offset, unless a lenient
//! [`RecoveryMode`] is chosen.
//!
//! # Concurrency
//! [`Db`] is `Clone + Send + Sync`; clones share one database. Snapshots and
//! iterators are owned (`'static + Send`). A directory can be opened by one
//! `Db` at a time: a second open, from this process or another, fails with
//! [`ErrorKind::Locked`].
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
mod batch;
pub mod compaction;
mod db;
mod error;
pub mod event;
mod filename;
pub mod fs;
mod iter;
mod key;
mod memtable;
pub mod merge;
mod options;
mod snapshot;
mod stats;
mod table;
// Offline decoders for the `rillkv` command-line tool: not a stable API.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod tools;
mod version;
mod wal;

/// Internals for the benches and fuzz targets (feature `internals`): not a
/// stable API.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::iter::{InternalIter, MergingIter};
    pub use crate::key::{InternalKey, ValueKind};

    pub mod fuzzing;
}

#[cfg(feature = "tokio")]
pub use async_db::{AsyncDb, AsyncSnapshot, DbStream};
pub use batch::WriteBatch;
pub use db::{Db, VerifyProblem, VerifyReport};
pub use error::{Error, ErrorKind, Result};
pub use event::{EventListener, TracingListener};
pub use iter::DbIter;
pub use key::SeqNo;
pub use merge::{MergeError, MergeOperator};
pub use options::{CompactionOptions, Options, RecoveryMode, WriteOptions};
pub use snapshot::Snapshot;
pub use stats::{CounterValues, RunStats, Stats, TableStats};
pub use table::Compression;
