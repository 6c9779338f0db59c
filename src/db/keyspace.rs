//! Keyspaces: named trees in one database, sharing its WAL, sequence
//! numbers, snapshots, manifest and background threads. [`Keyspace`] is
//! the handle; `Db::keyspace`, `Db::keyspaces` and `Db::drop_keyspace`
//! open, list and drop them; `WriteBatch::*_in` and `Snapshot::*_in`
//! address them from a batch or a snapshot.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::{Db, DbInner, compact::dropped_error};
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::key::{KeyspaceId, ValueKind, owned_bounds, prefix_bounds};
use crate::options::{KeyspaceOptions, WriteOptions, keyspace_name_valid};
use crate::read::{DbIter, Snapshot};
use crate::stats::Stats;
use crate::table::TableOptions;
use crate::tree::{MergeSettings, Tree, TreeOptions};
use crate::version::{ManifestRecord, VersionEdit, set::DEFAULT_KEYSPACE_NAME};

/// How a tree writes, reads and compacts, from its keyspace's options.
pub(super) fn tree_options(ks: &KeyspaceOptions) -> TreeOptions {
    TreeOptions {
        memtable_size: ks.memtable_size,
        table: TableOptions {
            block_size: ks.block_size,
            compression: ks.compression,
            bloom_bits_per_key: ks.bloom_bits_per_key,
        },
        bottommost_compression: ks.bottommost_compression,
        merge: MergeSettings {
            op: ks.merge_operator.clone(),
            chunk: ks.merge_batch_size,
        },
        compaction: ks.compaction.clone(),
    }
}

/// The merge operator name to record for a keyspace: the one it was
/// created with must match the configured one. A keyspace with a recorded
/// operator may be opened without one (reads of operands then fail
/// clearly).
pub(super) fn check_merge_operator(
    dir: &Path,
    keyspace: &str,
    recorded: Option<&str>,
    configured: Option<&str>,
) -> Result<Option<String>> {
    match (recorded, configured) {
        (Some(r), Some(c)) if r != c => Err(Error::invalid(format!(
            "keyspace '{keyspace}' of the database at {} was created with merge operator '{r}' \
             but is opened with '{c}'; open it with the same operator",
            dir.display()
        ))),
        (Some(r), _) => Ok(Some(r.to_owned())),
        (None, c) => Ok(c.map(str::to_owned)),
    }
}

/// A keyspace of an open database: a tree of its own, with its own
/// options and merge operator, sharing the database's WAL, sequence
/// numbers and snapshots — so one [`WriteBatch`] writes to several
/// keyspaces atomically and one [`Snapshot`] reads them all at the same
/// moment. Cheap to clone, `Send + Sync`, and holding one keeps the
/// database open like a clone of [`Db`].
///
/// ```
/// # fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use rillkv::{Db, KeyspaceOptions, Options, WriteBatch};
/// let db = Db::open(dir.path(), Options::default())?;
/// let users = db.keyspace("users", KeyspaceOptions::default())?;
/// let by_email = db.keyspace("users_by_email", KeyspaceOptions::default())?;
/// // A record and its index entry: both or neither, even across a crash.
/// let mut batch = WriteBatch::new();
/// batch.put_in(&users, b"u1", b"alice@example.com");
/// batch.put_in(&by_email, b"alice@example.com", b"u1");
/// db.write(batch)?;
/// assert_eq!(by_email.get(b"alice@example.com")?.as_deref(), Some(&b"u1"[..]));
/// assert_eq!(db.get(b"u1")?, None, "the default keyspace is another one");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Keyspace {
    db: Db,
    tree: Arc<Tree>,
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.tree.name())
            .field("db", &self.db)
            .finish()
    }
}

impl Db {
    /// Opens keyspace `name`, creating it if it does not exist, with
    /// `opts` from now on (they replace the ones it had: new memtables and
    /// tables follow them). The merge operator's name is recorded when the
    /// keyspace is created; opening it later with another one is
    /// `InvalidArgument`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, KeyspaceOptions, Options, merge::{U64Add, U64Max}};
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let counters = db.keyspace("counters", KeyspaceOptions::default().merge_operator(U64Add))?;
    /// counters.merge(b"hits", 3u64.to_le_bytes())?;
    /// let again = db.keyspace("counters", KeyspaceOptions::default().merge_operator(U64Max));
    /// assert_eq!(again.unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// for bad in ["", "default", ".hidden", "a/b"] {
    ///     let err = db.keyspace(bad, KeyspaceOptions::default()).unwrap_err();
    ///     assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name (empty, longer than 255 bytes,
    /// characters other than ASCII letters, digits, `_`, `-`, `.`, or
    /// reserved: `default`, or starting with `.` or `rillkv`), bad options
    /// or another merge operator; `Closed`; `Io` if the manifest cannot be
    /// written.
    pub fn keyspace(&self, name: &str, opts: KeyspaceOptions) -> Result<Keyspace> {
        keyspace_name_valid(name)?;
        opts.validate()?;
        let tree = self.inner.open_keyspace(name, opts)?;
        Ok(Keyspace {
            db: self.clone(),
            tree,
        })
    }

    /// The names of the database's keyspaces, `default` first.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, KeyspaceOptions, Options};
    /// let db = Db::open(dir.path(), Options::default())?;
    /// db.keyspace("b", KeyspaceOptions::default())?;
    /// db.keyspace("a", KeyspaceOptions::default())?;
    /// assert_eq!(db.keyspaces(), ["default", "b", "a"]);
    /// # Ok(()) }
    /// ```
    pub fn keyspaces(&self) -> Vec<String> {
        self.inner
            .trees()
            .iter()
            .map(|t| t.name().to_owned())
            .collect()
    }

    /// Drops keyspace `name` and all its data, atomically (one manifest
    /// record: after a crash it is either all there or all gone). Its files
    /// are deleted once no snapshot or iterator reads them; an iterator
    /// made before the drop finishes with the data it saw. Handles of the
    /// keyspace fail with `InvalidArgument` afterwards, and a batch that
    /// writes to it is refused.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, KeyspaceOptions, Options};
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let temp = db.keyspace("temp", KeyspaceOptions::default())?;
    /// temp.put(b"k", b"v")?;
    /// db.drop_keyspace("temp")?;
    /// assert_eq!(temp.get(b"k").unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// assert_eq!(db.keyspaces(), ["default"]);
    /// let fresh = db.keyspace("temp", KeyspaceOptions::default())?;
    /// assert_eq!(fresh.get(b"k")?, None, "a new keyspace of that name starts empty");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` if there is no keyspace of that name, or for
    /// `default`; `Closed`; `Poisoned`/`Io` if the manifest cannot be
    /// written.
    pub fn drop_keyspace(&self, name: &str) -> Result<()> {
        self.inner.drop_keyspace(name)
    }
}

impl DbInner {
    /// Opens or creates keyspace `name` with `opts`.
    fn open_keyspace(&self, name: &str, opts: KeyspaceOptions) -> Result<Arc<Tree>> {
        self.check_open()?;
        let configured = opts.merge_operator.as_ref().map(|op| op.name().to_owned());
        let mut versions = self.versions.lock();
        self.check_open()?;
        let existing = self.trees().into_iter().find(|t| t.name() == name);
        if let Some(tree) = existing {
            let meta = versions
                .keyspace_meta(tree.id())
                .ok_or_else(|| dropped_error(name))?;
            let recorded = meta.merge_operator.clone();
            let name_to_record =
                check_merge_operator(&self.dir, name, recorded.as_deref(), configured.as_deref())?;
            // A read-only handle records nothing: the name is checked only.
            if recorded.is_none() && name_to_record.is_some() && !self.read_only {
                let edit = VersionEdit {
                    merge_operator: name_to_record,
                    ..VersionEdit::of(tree.id())
                };
                versions.log_and_apply(edit, &self.next_file_number, Vec::new())?;
            }
            tree.set_options(tree_options(&opts));
            drop(versions);
            self.refresh_backpressure();
            return Ok(tree);
        }
        if self.read_only {
            return Err(Error::read_only(
                &format!("creating keyspace '{name}'"),
                &self.dir,
            ));
        }
        let id: KeyspaceId = versions.next_keyspace_id();
        let next = id
            .checked_add(1)
            .ok_or_else(|| Error::invalid("keyspace ids exhausted"))?;
        // Its writes go to this WAL or a later one.
        let wal = self.current_wal.load(std::sync::atomic::Ordering::Acquire);
        let record = ManifestRecord {
            next_keyspace_id: Some(next),
            ..ManifestRecord::from(VersionEdit {
                create: Some(name.to_owned()),
                log_number: Some(wal),
                merge_operator: configured,
                ..VersionEdit::of(id)
            })
        };
        versions.log_and_apply(record, &self.next_file_number, Vec::new())?;
        let version = versions.version(id).unwrap_or_default();
        let tree = Arc::new(Tree::new(
            id,
            name.to_owned(),
            tree_options(&opts),
            version,
            wal,
            Arc::clone(self.default.tables()),
        ));
        self.trees.write().insert(id, Arc::clone(&tree));
        drop(versions);
        self.refresh_backpressure();
        tracing::info!(keyspace = name, id, "keyspace created");
        Ok(tree)
    }

    fn drop_keyspace(&self, name: &str) -> Result<()> {
        if name == DEFAULT_KEYSPACE_NAME {
            return Err(Error::invalid(
                "the default keyspace cannot be dropped; delete its keys instead",
            ));
        }
        self.check_writable("dropping a keyspace")?;
        let tree = self
            .trees()
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| Error::invalid(format!("there is no keyspace named '{name}'")))?;
        // The WAL lock: no commit group inserts into the tree from now on.
        // The versions lock: no flush or compaction of it installs after.
        let wal = self.wal.lock();
        self.check_open()?;
        let mut versions = self.versions.lock();
        let edit = VersionEdit {
            drop: true,
            ..VersionEdit::of(tree.id())
        };
        versions.log_and_apply(edit, &self.next_file_number, Vec::new())?;
        let old = tree.mark_dropped();
        self.trees.write().remove(&tree.id());
        drop(versions);
        drop(wal);
        self.refresh_backpressure();
        // Outside the locks: the last reference to its tables may go with
        // it, and their deletion tells listeners.
        drop(old);
        tracing::info!(keyspace = name, id = tree.id(), "keyspace dropped");
        Ok(())
    }
}

impl Keyspace {
    /// The keyspace's name.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("events", rillkv::KeyspaceOptions::default())?;
    /// assert_eq!(ks.name(), "events");
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        self.tree.name()
    }

    pub(crate) fn id(&self) -> KeyspaceId {
        self.tree.id()
    }

    /// The database the keyspace belongs to.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("events", rillkv::KeyspaceOptions::default())?;
    /// assert_eq!(ks.db().path(), db.path());
    /// # Ok(()) }
    /// ```
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// As [`Db::put`], in this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// ks.put(b"k", b"v")?;
    /// assert_eq!(ks.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::put`]; `InvalidArgument` once the keyspace is dropped.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_in(self, key, value);
        self.db.write(batch)
    }

    /// As [`Db::delete`], in this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// ks.put(b"k", b"v")?;
    /// ks.delete(b"k")?;
    /// assert_eq!(ks.get(b"k")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete_in(self, key);
        self.db.write(batch)
    }

    /// As [`Db::merge`], with this keyspace's merge operator.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::{KeyspaceOptions, merge::U64Add};
    /// let ks = db.keyspace("counters", KeyspaceOptions::default().merge_operator(U64Add))?;
    /// ks.merge(b"n", 2u64.to_le_bytes())?;
    /// ks.merge(b"n", 3u64.to_le_bytes())?;
    /// assert_eq!(ks.get(b"n")?.as_deref(), Some(&5u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` when the keyspace has no merge operator;
    /// otherwise as [`Keyspace::put`].
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.merge_in(self, key, operand);
        self.db.write(batch)
    }

    /// As [`Keyspace::put`] with [`WriteOptions`] (e.g. `sync(true)`).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// ks.put_opt(b"k", b"v", &rillkv::WriteOptions::default().sync(true))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn put_opt(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: &WriteOptions,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_in(self, key, value);
        self.db.write_opt(batch, opts)
    }

    /// As [`Db::get`], in this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// assert_eq!(ks.get(b"missing")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::get`]; `InvalidArgument` once the keyspace is dropped.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.db.inner.get_latest(&self.tree, key.as_ref())
    }

    /// As [`Db::iter`], over this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// ks.put(b"a", b"1")?;
    /// db.put(b"b", b"2")?; // another keyspace
    /// assert_eq!(ks.iter().count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> DbIter {
        self.range::<&[u8], _>(..)
    }

    /// As [`Db::range`], over this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// for k in [b"a", b"b", b"c"] {
    ///     ks.put(k, b"")?;
    /// }
    /// assert_eq!(ks.range(b"b".as_slice()..).count(), 2);
    /// # Ok(()) }
    /// ```
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> DbIter {
        DbIter::new(self.db.reader(), self.id(), None, owned_bounds(&range))
    }

    /// As [`Db::prefix`], over this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// ks.put(b"user:1", b"")?;
    /// ks.put(b"visits", b"")?;
    /// assert_eq!(ks.prefix(b"user:").count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIter {
        DbIter::new(
            self.db.reader(),
            self.id(),
            None,
            prefix_bounds(prefix.as_ref()),
        )
    }

    /// Seals this keyspace's active memtable and waits until its sealed
    /// memtables are written to tables.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// ks.put(b"k", b"v")?;
    /// ks.flush()?;
    /// assert_eq!(ks.stats().runs.len(), 1);
    /// assert_eq!(db.stats().runs.len(), 0, "the default keyspace was not flushed");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::flush`]; `InvalidArgument` once the keyspace is dropped.
    pub fn flush(&self) -> Result<()> {
        self.check_live()?;
        self.db.inner.flush_and_wait(Some(&self.tree))
    }

    /// As [`Db::compact`], for this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// for round in ["1", "2"] {
    ///     ks.put(b"k", round)?;
    ///     ks.flush()?;
    /// }
    /// ks.compact()?;
    /// assert_eq!(ks.stats().runs.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::compact`]; `InvalidArgument` once the keyspace is dropped.
    pub fn compact(&self) -> Result<()> {
        self.check_live()?;
        self.db.inner.compact_all(&self.tree)
    }

    /// As [`Db::compact_range`], for this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// ks.put(b"a", b"1")?;
    /// ks.compact_range(b"a".as_slice()..=b"z".as_slice())?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::compact`].
    pub fn compact_range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> Result<()> {
        self.check_live()?;
        self.db.inner.compact_range(&self.tree, range)
    }

    /// As [`Db::stats`]: this keyspace's memtables and runs, with the
    /// database's counters.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("ks", rillkv::KeyspaceOptions::default())?;
    /// ks.put(b"k", b"v")?;
    /// let stats = ks.stats();
    /// assert_eq!(stats.keyspace, "ks");
    /// assert_eq!(stats.active_memtable_entries, 1);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Stats {
        self.db.inner.stats(&self.tree)
    }

    fn check_live(&self) -> Result<()> {
        if self.tree.is_dropped() {
            return Err(dropped_error(self.tree.name()));
        }
        Ok(())
    }
}

impl WriteBatch {
    /// Sets `key` to `value` in `keyspace`. A batch may write to several
    /// keyspaces: it is still one atomic write.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let a = db.keyspace("a", rillkv::KeyspaceOptions::default())?;
    /// let b = db.keyspace("b", rillkv::KeyspaceOptions::default())?;
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.put_in(&a, b"k", b"1").put_in(&b, b"k", b"2").put(b"k", b"3");
    /// db.write(batch)?;
    /// assert_eq!(b.get(b"k")?.as_deref(), Some(&b"2"[..]));
    /// # Ok(()) }
    /// ```
    pub fn put_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> &mut Self {
        self.push_in(keyspace.id(), ValueKind::Put, key.as_ref(), value.as_ref())
    }

    /// Deletes `key` in `keyspace`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let a = db.keyspace("a", rillkv::KeyspaceOptions::default())?;
    /// a.put(b"k", b"v")?;
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.delete_in(&a, b"k");
    /// db.write(batch)?;
    /// assert_eq!(a.get(b"k")?, None);
    /// # Ok(()) }
    /// ```
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> &mut Self {
        self.push_in(keyspace.id(), ValueKind::Delete, key.as_ref(), &[])
    }

    /// Adds a merge operand for `key` in `keyspace`, combined by that
    /// keyspace's merge operator.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::{KeyspaceOptions, WriteBatch, merge::U64Add};
    /// let docs = db.keyspace("docs", KeyspaceOptions::default())?;
    /// let counts = db.keyspace("counts", KeyspaceOptions::default().merge_operator(U64Add))?;
    /// let mut batch = WriteBatch::new();
    /// batch.put_in(&docs, b"d1", b"hello").merge_in(&counts, b"docs", 1u64.to_le_bytes());
    /// db.write(batch)?;
    /// assert_eq!(counts.get(b"docs")?.as_deref(), Some(&1u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    pub fn merge_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        operand: impl AsRef<[u8]>,
    ) -> &mut Self {
        self.push_in(
            keyspace.id(),
            ValueKind::Merge,
            key.as_ref(),
            operand.as_ref(),
        )
    }
}

impl Snapshot {
    /// The value of `key` in `keyspace` as of this snapshot: one snapshot
    /// reads every keyspace at the same sequence number.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let a = db.keyspace("a", rillkv::KeyspaceOptions::default())?;
    /// a.put(b"k", b"old")?;
    /// let snap = db.snapshot();
    /// a.put(b"k", b"new")?;
    /// assert_eq!(snap.get_in(&a, b"k")?.as_deref(), Some(&b"old"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::get`]; `InvalidArgument` if the keyspace was dropped.
    pub fn get_in(&self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.get_in_keyspace(keyspace.id(), key.as_ref())
    }

    /// Iterates every key of `keyspace` as of this snapshot.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let a = db.keyspace("a", rillkv::KeyspaceOptions::default())?;
    /// a.put(b"x", b"1")?;
    /// let snap = db.snapshot();
    /// a.put(b"y", b"2")?;
    /// assert_eq!(snap.iter_in(&a).count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn iter_in(&self, keyspace: &Keyspace) -> DbIter {
        self.range_in::<&[u8], _>(keyspace, ..)
    }

    /// Iterates keys of `keyspace` within `range` as of this snapshot.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let a = db.keyspace("a", rillkv::KeyspaceOptions::default())?;
    /// a.put(b"x", b"1")?;
    /// a.put(b"y", b"2")?;
    /// let snap = db.snapshot();
    /// assert_eq!(snap.range_in(&a, b"y".as_slice()..).count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn range_in<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(
        &self,
        keyspace: &Keyspace,
        range: R,
    ) -> DbIter {
        self.iter_in_keyspace(keyspace.id(), owned_bounds(&range))
    }

    /// Iterates keys of `keyspace` starting with `prefix` as of this
    /// snapshot.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let a = db.keyspace("a", rillkv::KeyspaceOptions::default())?;
    /// a.put(b"p:1", b"")?;
    /// a.put(b"q:1", b"")?;
    /// assert_eq!(db.snapshot().prefix_in(&a, b"p:").count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn prefix_in(&self, keyspace: &Keyspace, prefix: impl AsRef<[u8]>) -> DbIter {
        self.iter_in_keyspace(keyspace.id(), prefix_bounds(prefix.as_ref()))
    }
}
