//! `WriteOptions`: per-write durability.

/// Options for one write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub(crate) sync: bool,
    pub(crate) disable_wal: bool,
}

impl WriteOptions {
    /// Fsync the WAL before the write returns, so that it survives a power
    /// loss. Without it a write survives a process crash but maybe not a
    /// power loss. Default: `false`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::{WriteBatch, WriteOptions};
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"order:1", b"paid");
    /// db.write_opt(batch, &WriteOptions::default().sync(true))?; // fsynced on return
    /// assert_eq!(db.stats().counters.wal_syncs, 1);
    /// # Ok(()) }
    /// ```
    pub fn sync(mut self, yes: bool) -> Self {
        self.sync = yes;
        self
    }

    /// Skip the WAL: the write goes only to the memtable. For bulk loads
    /// and caches that can be rebuilt: **such a write is lost on a crash
    /// (even a process crash) unless its memtable was flushed to a table
    /// first** (`Db::flush`/`Keyspace::flush` make everything written so
    /// far durable; a clean `Db::close`, or dropping the last handle,
    /// flushes them too), and it may be missing while later logged writes
    /// survive — the prefix property of the [durability
    /// contract](crate#durability-contract) covers logged writes only.
    /// Cannot be combined with `sync(true)`. Default: `false`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::{ErrorKind, WriteBatch, WriteOptions};
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"cache:1", b"rebuildable");
    /// db.write_opt(batch.clone(), &WriteOptions::default().disable_wal(true))?;
    /// assert_eq!(db.stats().counters.wal_bytes, 0, "nothing logged");
    /// db.flush()?; // now durable
    /// let both = WriteOptions::default().disable_wal(true).sync(true);
    /// assert_eq!(db.write_opt(batch, &both).unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok(()) }
    /// ```
    pub fn disable_wal(mut self, yes: bool) -> Self {
        self.disable_wal = yes;
        self
    }
}
