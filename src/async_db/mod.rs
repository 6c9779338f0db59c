//! [`AsyncDb`] (feature `tokio`): the [`Db`] verbs as `async fn`s, with
//! the blocking work moved off the runtime, and scans as a [`Stream`];
//! [`AsyncKeyspace`] the same for a [`Keyspace`](crate::Keyspace).
//!
//! # How
//! Every call runs the corresponding blocking [`Db`] call in
//! [`tokio::task::spawn_blocking`], so a disk read, a WAL fsync or a write
//! stall never blocks a runtime worker. A scan ([`DbStream`]) runs a
//! [`DbIter`](crate::DbIter) on a blocking task that sends chunks of pairs
//! through a bounded channel: memory stays bounded (at most a few chunks in
//! flight), and dropping the stream stops the task at the next chunk.
//!
//! Tokio never enters the core: the engine's own threads (flush,
//! compaction) are plain threads, whichever runtime drives the futures.
//!
//! # Cancellation
//! Dropping a future returned by a write does **not** cancel the write:
//! once started on its blocking task it completes (and is durable as its
//! [`WriteOptions`] say) even if nobody awaits the result.
//!
//! # Runtime
//! Every method must be called (and every stream polled) inside a Tokio
//! runtime; any flavour works, `current_thread` included.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use tokio::sync::mpsc;

use crate::Db;
use crate::batch::WriteBatch;
use crate::error::{Error, ErrorKind, Result};
use crate::key::SeqNo;
use crate::options::{Options, WriteOptions};
use crate::read::DbIter;
use crate::read::Snapshot;
use crate::stats::Stats;

/// Pairs per chunk sent from the scanning task.
const CHUNK_ENTRIES: usize = 256;
/// Bytes of keys and values after which a chunk is sent early.
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks buffered between the scanning task and the stream.
const CHANNEL_CHUNKS: usize = 2;

/// Runs `f` on the blocking pool and awaits it. A panic in `f` resumes on
/// the caller.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::new(
            ErrorKind::Closed,
            "the tokio runtime shut down before the database call ran; retry on a running runtime",
        )),
    }
}

/// An open database for async code: a [`Db`] whose verbs are `async fn`s
/// that run on Tokio's blocking pool. Cheap to clone (a `Db` inside), and
/// `Send + Sync`, so tasks can share it.
///
/// - Call it (and poll its streams) inside a Tokio runtime; any flavour
///   works, `current_thread` included.
/// - Dropping the future of a write does **not** cancel the write: once
///   started on the blocking pool it completes, durable as its
///   [`WriteOptions`] say.
/// - Each method fails as the [`Db`] call it runs, and also with
///   [`ErrorKind::Closed`] if the runtime shuts down before that call ran.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rillkv::Result<()> {
/// use rillkv::{AsyncDb, Options};
/// let dir = tempfile::tempdir()?;
/// let db = AsyncDb::open(dir.path(), Options::default()).await?;
/// db.put(b"user:1", b"alice").await?;
/// assert_eq!(db.get(b"user:1").await?.as_deref(), Some(&b"alice"[..]));
/// db.close().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncDb {
    db: Db,
}

impl From<Db> for AsyncDb {
    /// Wraps an open [`Db`].
    fn from(db: Db) -> Self {
        AsyncDb { db }
    }
}

impl AsyncDb {
    /// Opens the database in `path` (as [`Db::open`]), on the blocking
    /// pool: recovery may replay and flush large WALs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// # db.close().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::open`].
    pub async fn open(path: impl AsRef<Path>, opts: Options) -> Result<AsyncDb> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let db = blocking(move || Db::open(path, opts)).await?;
        Ok(AsyncDb { db })
    }

    /// Opens the database in `path` for reading only (as
    /// [`Db::open_read_only`]: no lock, nothing written), on the blocking
    /// pool: the open replays the WALs into memory.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{AsyncDb, ErrorKind, Options};
    /// let db = AsyncDb::open(dir.path(), Options::default()).await?;
    /// db.put(b"k", b"v").await?;
    /// let ro = AsyncDb::open_read_only(dir.path(), Options::default()).await?;
    /// assert_eq!(ro.get(b"k").await?.as_deref(), Some(&b"v"[..]));
    /// assert_eq!(ro.put(b"k", b"w").await.unwrap_err().kind(), ErrorKind::ReadOnly);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::open_read_only`].
    pub async fn open_read_only(path: impl AsRef<Path>, opts: Options) -> Result<AsyncDb> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let db = blocking(move || Db::open_read_only(path, opts)).await?;
        Ok(AsyncDb { db })
    }

    /// The blocking [`Db`] handle underneath (a clone shares the database).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// assert_eq!(db.db().path(), dir.path());
    /// # Ok(()) }
    /// ```
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Unwraps the blocking [`Db`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let blocking: rillkv::Db = db.into_inner();
    /// # drop(blocking);
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> Db {
        self.db
    }

    /// The newest value of `key` (as [`Db::get`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"k", b"v").await?;
    /// assert_eq!(db.get(b"k").await?.as_deref(), Some(&b"v"[..]));
    /// assert_eq!(db.get(b"missing").await?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::get`].
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let db = self.db.clone();
        let key = Bytes::copy_from_slice(key.as_ref());
        blocking(move || db.get(key)).await
    }

    /// Sets `key` to `value` (as [`Db::put`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"k", b"v").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::put`].
    pub async fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.write(batch).await
    }

    /// Deletes `key` (as [`Db::delete`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"k", b"v").await?;
    /// db.delete(b"k").await?;
    /// assert_eq!(db.get(b"k").await?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::delete`].
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.write(batch).await
    }

    /// Adds a merge operand for `key` (as [`Db::merge`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{AsyncDb, Options, merge::U64Add};
    /// let db = AsyncDb::open(dir.path(), Options::default().merge_operator(U64Add)).await?;
    /// db.merge(b"hits", 2u64.to_le_bytes()).await?;
    /// db.merge(b"hits", 3u64.to_le_bytes()).await?;
    /// assert_eq!(db.get(b"hits").await?.as_deref(), Some(&5u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::merge`].
    pub async fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.merge(key, operand);
        self.write(batch).await
    }

    /// Applies `batch` atomically with default [`WriteOptions`] (as
    /// [`Db::write`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.put(b"a", b"1").put(b"b", b"2");
    /// db.write(batch).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::write_opt`].
    pub async fn write(&self, batch: WriteBatch) -> Result<()> {
        self.write_opt(batch, &WriteOptions::default()).await
    }

    /// Applies `batch` atomically (as [`Db::write_opt`]); with
    /// `sync(true)` the WAL is fsynced before the future completes. The
    /// write goes on to the end even if the future is dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.put(b"a", b"1");
    /// db.write_opt(batch, &rillkv::WriteOptions::default().sync(true)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::write_opt`].
    pub async fn write_opt(&self, batch: WriteBatch, opts: &WriteOptions) -> Result<()> {
        let db = self.db.clone();
        let opts = opts.clone();
        blocking(move || db.write_opt(batch, &opts)).await
    }

    /// Seals the memtable and waits until it is written as a table (as
    /// [`Db::flush`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"k", b"v").await?;
    /// db.flush().await?;
    /// assert_eq!(db.stats().await?.runs.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::flush`].
    pub async fn flush(&self) -> Result<()> {
        let db = self.db.clone();
        blocking(move || db.flush()).await
    }

    /// Makes every write acknowledged so far durable (as [`Db::sync_wal`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"k", b"v").await?;
    /// db.sync_wal().await?;
    /// assert_eq!(db.stats().await?.counters.wal_syncs, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::sync_wal`].
    pub async fn sync_wal(&self) -> Result<()> {
        let db = self.db.clone();
        blocking(move || db.sync_wal()).await
    }

    /// Flushes, then compacts every table into one run (as
    /// [`Db::compact`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"k", b"1").await?;
    /// db.flush().await?;
    /// db.put(b"k", b"2").await?;
    /// db.compact().await?;
    /// assert_eq!(db.stats().await?.runs.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::compact`].
    pub async fn compact(&self) -> Result<()> {
        let db = self.db.clone();
        blocking(move || db.compact()).await
    }

    /// Flushes, then compacts every overlap group holding keys in `range`
    /// (as [`Db::compact_range`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"a", b"1").await?;
    /// db.compact_range(b"a".as_slice()..=b"m".as_slice()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::compact`].
    pub async fn compact_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        let db = self.db.clone();
        let bounds = owned_bounds(&range);
        blocking(move || db.compact_range(bounds)).await
    }

    /// A consistent read-only view as of now (as [`Db::snapshot`]). Taking
    /// it does not block.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"k", b"old").await?;
    /// let snap = db.snapshot();
    /// db.put(b"k", b"new").await?;
    /// assert_eq!(snap.get(b"k").await?.as_deref(), Some(&b"old"[..]));
    /// # Ok(()) }
    /// ```
    pub fn snapshot(&self) -> AsyncSnapshot {
        AsyncSnapshot {
            snap: Arc::new(self.db.snapshot()),
        }
    }

    /// Counters and shape (as [`Db::stats`]), on the blocking pool (it
    /// may wait for a manifest write).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"k", b"v").await?;
    /// assert_eq!(db.stats().await?.counters.writes, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed` only if the runtime shuts down meanwhile.
    pub async fn stats(&self) -> Result<Stats> {
        let db = self.db.clone();
        blocking(move || Ok(db.stats())).await
    }

    /// Every pair in key order, as a [`Stream`] (`.rev()` before the first
    /// poll for reverse order).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"a", b"1").await?;
    /// db.put(b"b", b"2").await?;
    /// let mut scan = db.iter();
    /// let mut keys = Vec::new();
    /// while let Some(item) = scan.next().await {
    ///     let (key, _value) = item?;
    ///     keys.push(key);
    /// }
    /// assert_eq!(keys, vec![&b"a"[..], &b"b"[..]]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> DbStream {
        DbStream::new(
            Source::Db(self.db.clone()),
            (Bound::Unbounded, Bound::Unbounded),
        )
    }

    /// The pairs with keys in `range`, as a [`Stream`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// for k in [b"a", b"b", b"c"] {
    ///     db.put(k, b"v").await?;
    /// }
    /// let pairs = db.range(b"b".as_slice()..).rev().collect_vec().await?;
    /// let keys: Vec<_> = pairs.into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, vec![&b"c"[..], &b"b"[..]]);
    /// # Ok(()) }
    /// ```
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbStream {
        DbStream::new(Source::Db(self.db.clone()), owned_bounds(&range))
    }

    /// The pairs whose keys start with `prefix`, as a [`Stream`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"user:1", b"alice").await?;
    /// db.put(b"visits", b"9").await?;
    /// assert_eq!(db.prefix(b"user:").collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbStream {
        DbStream::new(Source::Db(self.db.clone()), prefix_bounds(prefix.as_ref()))
    }

    /// Checks every checksum of every live file (as [`Db::verify`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// assert!(db.verify().await?.is_ok());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::verify`].
    pub async fn verify(&self) -> Result<crate::VerifyReport> {
        let db = self.db.clone();
        blocking(move || db.verify()).await
    }

    /// Closes the database (as [`Db::close`]): waits for the write in
    /// progress, fsyncs the WAL, joins the background threads.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.close().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::close`].
    pub async fn close(self) -> Result<()> {
        let db = self.db;
        blocking(move || db.close()).await
    }
}

/// A consistent, read-only view of an [`AsyncDb`], from
/// [`AsyncDb::snapshot`]. Cheap to clone; owned, `'static` and `Send`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
/// db.put(b"a", b"1").await?;
/// let snap = db.snapshot();
/// db.put(b"b", b"2").await?;
/// assert_eq!(snap.iter().collect_vec().await?.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncSnapshot {
    snap: Arc<Snapshot>,
}

impl AsyncSnapshot {
    /// The sequence number this snapshot sees up to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"a", b"1").await?;
    /// assert_eq!(db.snapshot().seqno(), 1);
    /// # Ok(()) }
    /// ```
    pub fn seqno(&self) -> SeqNo {
        self.snap.seqno()
    }

    /// The value of `key` as of this snapshot.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let snap = db.snapshot();
    /// db.put(b"k", b"v").await?;
    /// assert_eq!(snap.get(b"k").await?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::get`].
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let snap = Arc::clone(&self.snap);
        let key = Bytes::copy_from_slice(key.as_ref());
        blocking(move || snap.get(key)).await
    }

    /// Every pair as of this snapshot, as a [`Stream`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"a", b"1").await?;
    /// let snap = db.snapshot();
    /// db.delete(b"a").await?;
    /// assert_eq!(snap.iter().collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> DbStream {
        DbStream::new(
            Source::Snapshot(Arc::clone(&self.snap)),
            (Bound::Unbounded, Bound::Unbounded),
        )
    }

    /// The pairs with keys in `range` as of this snapshot.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"a", b"1").await?;
    /// db.put(b"b", b"2").await?;
    /// let snap = db.snapshot();
    /// assert_eq!(snap.range(b"b".as_slice()..).collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbStream {
        DbStream::new(
            Source::Snapshot(Arc::clone(&self.snap)),
            owned_bounds(&range),
        )
    }

    /// The pairs whose keys start with `prefix` as of this snapshot.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"user:1", b"alice").await?;
    /// let snap = db.snapshot();
    /// assert_eq!(snap.prefix(b"user:").collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbStream {
        DbStream::new(
            Source::Snapshot(Arc::clone(&self.snap)),
            prefix_bounds(prefix.as_ref()),
        )
    }
}

mod keyspace;
mod stream;
mod txn;

pub use keyspace::AsyncKeyspace;
pub use stream::DbStream;
use stream::{Source, owned_bounds, prefix_bounds};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}
    fn assert_send<T: Send + 'static>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<AsyncDb>();
        assert_send_sync::<AsyncSnapshot>();
        assert_send_sync::<AsyncKeyspace>();
        assert_send::<DbStream>();
    }

    #[test]
    fn a_stream_polled_outside_a_runtime_yields_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Options::default()).expect("open");
        let mut scan = AsyncDb::from(db).iter();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::new(&mut scan).poll_next(&mut cx) {
            Poll::Ready(Some(Err(e))) => assert_eq!(e.kind(), ErrorKind::InvalidArgument),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
