//! [`Snapshot`]: a read-only view pinned at one sequence number.

use std::collections::BTreeMap;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::db::Db;
use crate::error::Result;
use crate::iter::DbIter;
use crate::key::SeqNo;

/// The sequence numbers pinned by live snapshots and iterators. Compaction
/// consults it so that it never drops a version someone can still read.
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    pinned: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    fn register(&self, seqno: SeqNo) {
        *self.pinned.lock().entry(seqno).or_insert(0) += 1;
    }

    /// Reads the newest sequence number and pins it in one step under the
    /// list's lock, so a flush or compaction that reads the list either
    /// sees the pin or started before the number was read (and then holds
    /// no version newer than it).
    fn pin_latest(&self, last_seqno: &std::sync::atomic::AtomicU64) -> SeqNo {
        let mut pinned = self.pinned.lock();
        let seqno = last_seqno.load(std::sync::atomic::Ordering::Acquire);
        *pinned.entry(seqno).or_insert(0) += 1;
        seqno
    }

    fn release(&self, seqno: SeqNo) {
        let mut pinned = self.pinned.lock();
        if let Some(n) = pinned.get_mut(&seqno) {
            *n -= 1;
            if *n == 0 {
                pinned.remove(&seqno);
            }
        }
    }

    /// Number of live pins.
    pub(crate) fn len(&self) -> usize {
        self.pinned.lock().values().sum()
    }

    /// The pinned sequence numbers, ascending.
    pub(crate) fn sequence_numbers(&self) -> Vec<SeqNo> {
        self.pinned.lock().keys().copied().collect()
    }
}

/// A registration of `seqno` in the snapshot list, released on drop.
pub(crate) struct SeqPin {
    pub(crate) db: Db,
    pub(crate) seqno: SeqNo,
}

impl SeqPin {
    /// Pins an already-pinned or older sequence number again.
    pub(crate) fn new(db: Db, seqno: SeqNo) -> Self {
        db.inner.snapshots.register(seqno);
        SeqPin { db, seqno }
    }

    /// Pins the newest sequence number.
    pub(crate) fn latest(db: Db) -> Self {
        let seqno = db.inner.snapshots.pin_latest(&db.inner.last_seqno);
        SeqPin { db, seqno }
    }
}

impl Drop for SeqPin {
    fn drop(&mut self) {
        self.db.inner.snapshots.release(self.seqno);
    }
}

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
            .field("seqno", &self.pin.seqno)
            .finish()
    }
}

impl Snapshot {
    pub(crate) fn new(db: Db) -> Self {
        Snapshot {
            pin: SeqPin::latest(db),
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
        self.pin.seqno
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
    /// As [`Db::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let inner = &self.pin.db.inner;
        inner.check_open()?;
        let result = inner.get_at(key.as_ref(), self.pin.seqno, inner.current(), false);
        if let Err(e) = &result {
            inner.report_corruption(e, crate::event::CorruptionContext::Get);
        }
        result
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
        DbIter::new(self.pin.db.clone(), Some(self.pin.seqno), range)
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
        DbIter::with_prefix(self.pin.db.clone(), Some(self.pin.seqno), prefix.as_ref())
    }
}
