//! `WriteOptions`: per-write durability.

/// Options for one write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub(crate) sync: bool,
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
}
