//! [`Snapshot`]: a read-only view pinned at one sequence number.

use std::sync::Arc;

use bytes::Bytes;

use super::{DbIter, Reader, SeqPin};
use crate::error::Result;
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, SeqNo, UserBounds, owned_bounds, prefix_bounds};

/// A consistent read-only view of the database at the moment it was taken.
///
/// Owned, `'static` and `Send`: it holds a handle on the database rather
/// than borrowing it. It sees exactly the writes with a sequence number up to
/// its own, however many writes, flushes or compactions come later.
///
/// ```
/// # fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
/// db.put(b"k", b"old")?;
/// let snap = db.snapshot();
/// db.put(b"k", b"new")?;
/// assert_eq!(snap.get(b"k")?.as_deref(), Some(&b"old"[..]));
/// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"new"[..]));
/// # Ok(()) }
/// ```
pub struct Snapshot {
    pin: SeqPin,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("seqno", &self.pin.seqno())
            .finish()
    }
}

impl Snapshot {
    pub(crate) fn new(reader: Arc<dyn Reader>) -> Self {
        Snapshot {
            pin: SeqPin::latest(reader),
        }
    }

    /// The sequence number this snapshot sees up to: every write with a
    /// sequence number at most this one, and no other.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// let snap = db.snapshot();
    /// assert_eq!(snap.seqno(), db.stats().last_seqno);
    /// db.put(b"b", b"2")?;
    /// assert_eq!(db.stats().last_seqno, snap.seqno() + 1);
    /// # Ok(()) }
    /// ```
    pub fn seqno(&self) -> SeqNo {
        self.pin.seqno()
    }

    /// The value of `key` as of this snapshot.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"k", b"v")?;
    /// let snap = db.snapshot();
    /// db.delete(b"k")?;
    /// db.flush()?; // flushes and compactions keep what a snapshot sees
    /// assert_eq!(snap.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// assert_eq!(db.get(b"k")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::get`](crate::Db::get).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.get_in_keyspace(DEFAULT_KEYSPACE, key.as_ref())
    }

    /// Iterates every key as of this snapshot; `.rev()` for reverse order.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// let snap = db.snapshot();
    /// db.put(b"b", b"2")?;
    /// assert_eq!(snap.iter().count(), 1);
    /// assert_eq!(db.iter().count(), 2);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> DbIter {
        self.range::<&[u8], _>(..)
    }

    /// Iterates keys within `range` as of this snapshot, forward or
    /// (`.rev()`) backward.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// for k in [b"a", b"b", b"c"] {
    ///     db.put(k, b"old")?;
    /// }
    /// let snap = db.snapshot();
    /// db.put(b"b", b"new")?;
    /// let (key, value) = snap.range(b"b".as_slice()..b"c".as_slice()).next().unwrap()?;
    /// assert_eq!((&key[..], &value[..]), (&b"b"[..], &b"old"[..]));
    /// # Ok(()) }
    /// ```
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> DbIter {
        self.iter_in_keyspace(DEFAULT_KEYSPACE, owned_bounds(&range))
    }

    /// Iterates keys starting with `prefix` as of this snapshot.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"user:1", b"alice")?;
    /// let snap = db.snapshot();
    /// db.put(b"user:2", b"bob")?;
    /// let users = snap.prefix(b"user:").collect::<rillkv::Result<Vec<_>>>()?;
    /// assert_eq!(users.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIter {
        self.iter_in_keyspace(DEFAULT_KEYSPACE, prefix_bounds(prefix.as_ref()))
    }

    /// The value of `key` in `keyspace` as of this snapshot.
    pub(crate) fn get_in_keyspace(
        &self,
        keyspace: KeyspaceId,
        key: &[u8],
    ) -> Result<Option<Bytes>> {
        self.pin.reader().get_at(keyspace, key, self.pin.seqno())
    }

    /// Iterates `bounds` of `keyspace` as of this snapshot.
    pub(crate) fn iter_in_keyspace(&self, keyspace: KeyspaceId, bounds: UserBounds) -> DbIter {
        let reader = Arc::clone(self.pin.reader());
        DbIter::new(reader, keyspace, Some(self.pin.seqno()), bounds)
    }
}
