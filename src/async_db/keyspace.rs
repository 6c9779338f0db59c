//! Keyspaces for async code: [`AsyncKeyspace`] wraps a [`Keyspace`] as
//! [`AsyncDb`] wraps a [`Db`]; `AsyncDb::keyspace`, `AsyncDb::keyspaces`
//! and `AsyncDb::drop_keyspace` open, list and drop them, and
//! `AsyncSnapshot::*_in` read one as of a snapshot. A batch writing to
//! several keyspaces is a [`WriteBatch`] with `put_in` (and the like) on
//! [`AsyncKeyspace::keyspace`], applied by [`AsyncDb::write`].

use super::*;
use crate::db::Keyspace;
use crate::options::KeyspaceOptions;

impl AsyncDb {
    /// Opens keyspace `name`, creating it if it does not exist, with
    /// `opts` from now on (as [`Db::keyspace`]), on the blocking pool: it
    /// may write the manifest.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{AsyncDb, KeyspaceOptions, Options, merge::U64Add};
    /// let db = AsyncDb::open(dir.path(), Options::default()).await?;
    /// let counters = db.keyspace("counters", KeyspaceOptions::default().merge_operator(U64Add)).await?;
    /// counters.merge(b"hits", 3u64.to_le_bytes()).await?;
    /// assert_eq!(counters.get(b"hits").await?.as_deref(), Some(&3u64.to_le_bytes()[..]));
    /// assert_eq!(db.get(b"hits").await?, None, "the default keyspace is another one");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::keyspace`].
    pub async fn keyspace(&self, name: &str, opts: KeyspaceOptions) -> Result<AsyncKeyspace> {
        let db = self.db.clone();
        let name = name.to_owned();
        let ks = blocking(move || db.keyspace(&name, opts)).await?;
        Ok(AsyncKeyspace { ks })
    }

    /// The names of the database's keyspaces, `default` first (as
    /// [`Db::keyspaces`]). It does not block.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.keyspace("events", rillkv::KeyspaceOptions::default()).await?;
    /// assert_eq!(db.keyspaces(), ["default", "events"]);
    /// # Ok(()) }
    /// ```
    pub fn keyspaces(&self) -> Vec<String> {
        self.db.keyspaces()
    }

    /// Drops keyspace `name` and all its data, atomically (as
    /// [`Db::drop_keyspace`]). Its handles fail with `InvalidArgument`
    /// afterwards.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// use rillkv::{ErrorKind, KeyspaceOptions};
    /// let temp = db.keyspace("temp", KeyspaceOptions::default()).await?;
    /// temp.put(b"k", b"v").await?;
    /// db.drop_keyspace("temp").await?;
    /// assert_eq!(temp.get(b"k").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// assert_eq!(db.keyspaces(), ["default"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::drop_keyspace`].
    pub async fn drop_keyspace(&self, name: &str) -> Result<()> {
        let db = self.db.clone();
        let name = name.to_owned();
        blocking(move || db.drop_keyspace(&name)).await
    }
}

/// A keyspace of an [`AsyncDb`], from [`AsyncDb::keyspace`]: the
/// [`Keyspace`] verbs as `async fn`s on the blocking pool, and its scans as
/// [`DbStream`]s. Cheap to clone, `Send + Sync`; holding one keeps the
/// database open like a clone of the [`AsyncDb`]. The same rules hold as
/// for [`AsyncDb`]: call it inside a Tokio runtime, and a write whose
/// future is dropped still completes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use rillkv::{AsyncDb, KeyspaceOptions, Options, WriteBatch};
/// let db = AsyncDb::open(dir.path(), Options::default()).await?;
/// let users = db.keyspace("users", KeyspaceOptions::default()).await?;
/// let by_email = db.keyspace("users_by_email", KeyspaceOptions::default()).await?;
/// // A record and its index entry: both or neither, even across a crash.
/// let mut batch = WriteBatch::new();
/// batch.put_in(users.keyspace(), b"u1", b"alice@example.com");
/// batch.put_in(by_email.keyspace(), b"alice@example.com", b"u1");
/// db.write(batch).await?;
/// assert_eq!(by_email.get(b"alice@example.com").await?.as_deref(), Some(&b"u1"[..]));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncKeyspace {
    ks: Keyspace,
}

impl From<Keyspace> for AsyncKeyspace {
    /// Wraps an open [`Keyspace`].
    fn from(ks: Keyspace) -> Self {
        AsyncKeyspace { ks }
    }
}

impl AsyncKeyspace {
    /// The keyspace's name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("events", rillkv::KeyspaceOptions::default()).await?;
    /// assert_eq!(ks.name(), "events");
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        self.ks.name()
    }

    /// The blocking [`Keyspace`] handle underneath: what
    /// [`WriteBatch::put_in`] and the other `*_in` calls take.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("events", rillkv::KeyspaceOptions::default()).await?;
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.put_in(ks.keyspace(), b"k", b"v");
    /// db.write(batch).await?;
    /// assert_eq!(ks.get(b"k").await?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    pub fn keyspace(&self) -> &Keyspace {
        &self.ks
    }

    /// Unwraps the blocking [`Keyspace`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("events", rillkv::KeyspaceOptions::default()).await?;
    /// let blocking: rillkv::Keyspace = ks.into_inner();
    /// assert_eq!(blocking.name(), "events");
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> Keyspace {
        self.ks
    }

    /// The newest value of `key` in this keyspace (as [`Keyspace::get`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"k", b"v").await?;
    /// assert_eq!(ks.get(b"k").await?.as_deref(), Some(&b"v"[..]));
    /// assert_eq!(ks.get(b"missing").await?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let ks = self.ks.clone();
        let key = Bytes::copy_from_slice(key.as_ref());
        blocking(move || ks.get(key)).await
    }

    /// Sets `key` to `value` in this keyspace (as [`Keyspace::put`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"k", b"v").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub async fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.put_opt(key, value, &WriteOptions::default()).await
    }

    /// As [`put`](Self::put) with [`WriteOptions`] (as
    /// [`Keyspace::put_opt`]); with `sync(true)` the WAL is fsynced before
    /// the future completes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put_opt(b"k", b"v", &rillkv::WriteOptions::default().sync(true)).await?;
    /// assert_eq!(db.stats().await?.counters.wal_syncs, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub async fn put_opt(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: &WriteOptions,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_in(&self.ks, key, value);
        self.write(batch, opts).await
    }

    /// Deletes `key` in this keyspace (as [`Keyspace::delete`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"k", b"v").await?;
    /// ks.delete(b"k").await?;
    /// assert_eq!(ks.get(b"k").await?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::delete`].
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete_in(&self.ks, key);
        self.write(batch, &WriteOptions::default()).await
    }

    /// Adds a merge operand for `key`, combined by this keyspace's merge
    /// operator (as [`Keyspace::merge`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// use rillkv::{KeyspaceOptions, merge::U64Add};
    /// let ks = db.keyspace("counters", KeyspaceOptions::default().merge_operator(U64Add)).await?;
    /// ks.merge(b"n", 2u64.to_le_bytes()).await?;
    /// ks.merge(b"n", 3u64.to_le_bytes()).await?;
    /// assert_eq!(ks.get(b"n").await?.as_deref(), Some(&5u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::merge`].
    pub async fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.merge_in(&self.ks, key, operand);
        self.write(batch, &WriteOptions::default()).await
    }

    /// Seals this keyspace's memtable and waits until it is written as a
    /// table (as [`Keyspace::flush`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"k", b"v").await?;
    /// ks.flush().await?;
    /// assert_eq!(ks.stats().await?.runs.len(), 1);
    /// assert_eq!(db.stats().await?.runs.len(), 0, "the default keyspace was not flushed");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::flush`].
    pub async fn flush(&self) -> Result<()> {
        let ks = self.ks.clone();
        blocking(move || ks.flush()).await
    }

    /// Flushes, then compacts every table of this keyspace into one run
    /// (as [`Keyspace::compact`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"k", b"1").await?;
    /// ks.flush().await?;
    /// ks.put(b"k", b"2").await?;
    /// ks.compact().await?;
    /// assert_eq!(ks.stats().await?.runs.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::compact`].
    pub async fn compact(&self) -> Result<()> {
        let ks = self.ks.clone();
        blocking(move || ks.compact()).await
    }

    /// Flushes, then compacts every overlap group of this keyspace holding
    /// keys in `range` (as [`Keyspace::compact_range`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"a", b"1").await?;
    /// ks.compact_range(b"a".as_slice()..=b"m".as_slice()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::compact_range`].
    pub async fn compact_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        let ks = self.ks.clone();
        let bounds = owned_bounds(&range);
        blocking(move || ks.compact_range(bounds)).await
    }

    /// This keyspace's memtables and runs, with the database's counters
    /// (as [`Keyspace::stats`]), on the blocking pool.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"k", b"v").await?;
    /// let stats = ks.stats().await?;
    /// assert_eq!(stats.keyspace, "ks");
    /// assert_eq!(stats.active_memtable_entries, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Closed` only if the runtime shuts down meanwhile.
    pub async fn stats(&self) -> Result<Stats> {
        let ks = self.ks.clone();
        blocking(move || Ok(ks.stats())).await
    }

    /// Every pair of this keyspace in key order, as a [`Stream`] (`.rev()`
    /// before the first poll for reverse order).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"a", b"1").await?;
    /// db.put(b"b", b"2").await?; // another keyspace
    /// let pairs = ks.iter().collect_vec().await?;
    /// assert_eq!(pairs.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> DbStream {
        DbStream::new(
            Source::Keyspace(self.ks.clone()),
            (Bound::Unbounded, Bound::Unbounded),
        )
    }

    /// The pairs of this keyspace with keys in `range`, as a [`Stream`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// for k in [b"a", b"b", b"c"] {
    ///     ks.put(k, b"v").await?;
    /// }
    /// let pairs = ks.range(b"b".as_slice()..).rev().collect_vec().await?;
    /// let keys: Vec<_> = pairs.into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, vec![&b"c"[..], &b"b"[..]]);
    /// # Ok(()) }
    /// ```
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbStream {
        DbStream::new(Source::Keyspace(self.ks.clone()), owned_bounds(&range))
    }

    /// The pairs of this keyspace whose keys start with `prefix`, as a
    /// [`Stream`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"user:1", b"alice").await?;
    /// ks.put(b"visits", b"9").await?;
    /// assert_eq!(ks.prefix(b"user:").collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbStream {
        DbStream::new(
            Source::Keyspace(self.ks.clone()),
            prefix_bounds(prefix.as_ref()),
        )
    }

    /// Applies `batch` (which writes only to this keyspace) on the
    /// blocking pool.
    async fn write(&self, batch: WriteBatch, opts: &WriteOptions) -> Result<()> {
        let db = self.ks.db().clone();
        let opts = opts.clone();
        blocking(move || db.write_opt(batch, &opts)).await
    }
}

impl AsyncSnapshot {
    /// The value of `key` in `keyspace` as of this snapshot (as
    /// [`Snapshot::get_in`]): one snapshot reads every keyspace at the
    /// same sequence number.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"k", b"old").await?;
    /// let snap = db.snapshot();
    /// ks.put(b"k", b"new").await?;
    /// assert_eq!(snap.get_in(&ks, b"k").await?.as_deref(), Some(&b"old"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Snapshot::get_in`].
    pub async fn get_in(
        &self,
        keyspace: &AsyncKeyspace,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Bytes>> {
        let snap = Arc::clone(&self.snap);
        let ks = keyspace.ks.clone();
        let key = Bytes::copy_from_slice(key.as_ref());
        blocking(move || snap.get_in(&ks, key)).await
    }

    /// Every pair of `keyspace` as of this snapshot, as a [`Stream`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"x", b"1").await?;
    /// let snap = db.snapshot();
    /// ks.put(b"y", b"2").await?;
    /// assert_eq!(snap.iter_in(&ks).collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn iter_in(&self, keyspace: &AsyncKeyspace) -> DbStream {
        self.range_in::<&[u8], _>(keyspace, ..)
    }

    /// The pairs of `keyspace` with keys in `range` as of this snapshot.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"x", b"1").await?;
    /// ks.put(b"y", b"2").await?;
    /// let snap = db.snapshot();
    /// assert_eq!(snap.range_in(&ks, b"y".as_slice()..).collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn range_in<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        keyspace: &AsyncKeyspace,
        range: R,
    ) -> DbStream {
        DbStream::new(
            Source::SnapshotIn(Arc::clone(&self.snap), keyspace.ks.clone()),
            owned_bounds(&range),
        )
    }

    /// The pairs of `keyspace` whose keys start with `prefix` as of this
    /// snapshot.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default()).await?;
    /// ks.put(b"p:1", b"").await?;
    /// ks.put(b"q:1", b"").await?;
    /// assert_eq!(db.snapshot().prefix_in(&ks, b"p:").collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn prefix_in(&self, keyspace: &AsyncKeyspace, prefix: impl AsRef<[u8]>) -> DbStream {
        DbStream::new(
            Source::SnapshotIn(Arc::clone(&self.snap), keyspace.ks.clone()),
            prefix_bounds(prefix.as_ref()),
        )
    }
}
