//! Optimistic transactions: [`Transaction`] reads a snapshot and its own
//! uncommitted writes, and commits them as one [`WriteBatch`] if no
//! conflicting commit came after its snapshot (checked by the commit
//! leader against the index of recent commits: see `crate::conflict`).
//! Also [`compare_and_swap`](Db::compare_and_swap) (`cas.rs`) and the retry
//! loop [`Db::run_transaction`] (`retry.rs`).
//!
//! # Thread safety
//! A `Transaction` is `Send + Sync`: its write set and read set sit behind
//! short locks, so it can be moved to another thread or shared by
//! reference; its reads never wait for writers.
//!
//! # Invariants
//! - The database counts the transaction as live from before its snapshot
//!   is taken until it is dropped, so every commit after its snapshot is
//!   recorded for its validation (or it fails as too old).
//! - Nothing is written before `commit`; a commit is one batch, so one WAL
//!   record: after a crash all of it or none.

mod cas;
mod iter;
mod options;
mod read_set;
mod retry;
mod write_set;

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

pub use cas::CasResult;
pub use iter::TransactionIter;
pub use options::{Isolation, TransactionOptions};

use crate::conflict::{Intent, KeyWrite, WriteClass};
use crate::db::{Condition, Db, Keyspace, Outcome};
use crate::error::Result;
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, SeqNo, UserBounds, owned_bounds, prefix_bounds};
use crate::options::WriteOptions;
use crate::read::Snapshot;
use read_set::ReadSet;
use write_set::WriteSet;

/// An optimistic transaction: reads see a snapshot taken when it began
/// plus its own writes; writes are buffered and applied atomically by
/// [`commit`](Transaction::commit), which fails with
/// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) if a conflicting
/// commit came after the snapshot (see [`Isolation`]). Dropping it without
/// committing rolls it back.
///
/// Merges into a key the transaction did not read, with a commutative
/// merge operator ([`MergeOperator::is_commutative`](crate::MergeOperator::is_commutative),
/// e.g. [`U64Add`](crate::merge::U64Add)), never conflict with other
/// merges: concurrent counters all commit.
///
/// ```
/// # fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use rillkv::{Db, ErrorKind, Options};
/// let db = Db::open(dir.path(), Options::default())?;
/// db.put(b"alice", b"10")?;
/// let txn = db.transaction();
/// let balance = txn.get(b"alice")?; // the snapshot's value
/// txn.put(b"alice", b"7");
/// txn.put(b"bob", b"3");
/// assert_eq!(txn.get(b"alice")?.as_deref(), Some(&b"7"[..]), "reads its own writes");
/// assert_eq!(db.get(b"bob")?, None, "nothing is written before commit");
/// # let _ = balance;
/// txn.commit()?;
/// assert_eq!(db.get(b"bob")?.as_deref(), Some(&b"3"[..]));
///
/// let (a, b) = (db.transaction(), db.transaction());
/// a.put(b"alice", b"1");
/// b.put(b"alice", b"2");
/// a.commit()?;
/// assert_eq!(b.commit().unwrap_err().kind(), ErrorKind::Conflict, "first committer wins");
/// # Ok(()) }
/// ```
pub struct Transaction {
    db: Db,
    snapshot: Snapshot,
    opts: TransactionOptions,
    writes: Mutex<WriteSet>,
    reads: Arc<Mutex<ReadSet>>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("seqno", &self.snapshot.seqno())
            .field("isolation", &self.opts.isolation)
            .finish()
    }
}

impl Db {
    /// Begins a transaction with default [`TransactionOptions`] (snapshot
    /// isolation). See [`Transaction`].
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let txn = db.transaction();
    /// txn.put(b"k", b"v");
    /// txn.commit()?;
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    pub fn transaction(&self) -> Transaction {
        self.transaction_with(TransactionOptions::default())
    }

    /// Begins a transaction with `opts`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::{Isolation, TransactionOptions};
    /// let txn = db.transaction_with(TransactionOptions::default().isolation(Isolation::Serializable));
    /// assert_eq!(txn.isolation(), Isolation::Serializable);
    /// # Ok(()) }
    /// ```
    pub fn transaction_with(&self, opts: TransactionOptions) -> Transaction {
        // Live before the snapshot: every commit after it is recorded.
        self.begin_transaction();
        Transaction {
            db: self.clone(),
            snapshot: self.snapshot(),
            opts,
            writes: Mutex::new(WriteSet::default()),
            reads: Arc::new(Mutex::new(ReadSet::default())),
        }
    }
}

impl Transaction {
    /// The sequence number of the snapshot the transaction reads.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// let txn = db.transaction();
    /// assert_eq!(txn.seqno(), db.stats().last_seqno);
    /// # Ok(()) }
    /// ```
    pub fn seqno(&self) -> SeqNo {
        self.snapshot.seqno()
    }

    /// The isolation level it was begun with.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// assert_eq!(db.transaction().isolation(), rillkv::Isolation::Snapshot);
    /// # Ok(()) }
    /// ```
    pub fn isolation(&self) -> Isolation {
        self.opts.isolation
    }

    /// The value of `key` as the transaction sees it: its own writes over
    /// its snapshot. Records `key` as read.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options, merge::U64Add};
    /// let db = Db::open(dir.path(), Options::default().merge_operator(U64Add))?;
    /// db.put(b"n", 5u64.to_le_bytes())?;
    /// let txn = db.transaction();
    /// txn.merge(b"n", 2u64.to_le_bytes());
    /// assert_eq!(txn.get(b"n")?.as_deref(), Some(&7u64.to_le_bytes()[..]), "folded over the snapshot");
    /// txn.delete(b"n");
    /// assert_eq!(txn.get(b"n")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Snapshot::get`]; `MergeOperator` if its merges cannot be
    /// folded.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.get_at(DEFAULT_KEYSPACE, key.as_ref())
    }

    /// As [`Transaction::get`], in `keyspace`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let docs = db.keyspace("docs", rillkv::KeyspaceOptions::default())?;
    /// let txn = db.transaction();
    /// txn.put_in(&docs, b"d1", b"hello");
    /// assert_eq!(txn.get_in(&docs, b"d1")?.as_deref(), Some(&b"hello"[..]));
    /// assert_eq!(txn.get(b"d1")?, None, "the default keyspace is another one");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Transaction::get`]; `InvalidArgument` if the keyspace was
    /// dropped.
    pub fn get_in(&self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.get_at(keyspace.id(), key.as_ref())
    }

    fn get_at(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        let pending = self.writes.lock().get(keyspace, key).cloned();
        let op = match &pending {
            Some(p) if !p.operands.is_empty() => self.db.merge_operator_of(keyspace)?,
            _ => None,
        };
        match pending {
            // Its own put or delete decides: nothing of the snapshot read.
            Some(p) if !p.merges_only() => p.resolve(key, None, op.as_deref()),
            pending => {
                self.reads.lock().key(keyspace, key);
                let below = self.snapshot.get_in_keyspace(keyspace, key)?;
                match pending {
                    Some(p) => p.resolve(key, below, op.as_deref()),
                    None => Ok(below),
                }
            }
        }
    }

    /// Sets `key` to `value` when the transaction commits.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let txn = db.transaction();
    /// txn.put(b"a", b"1").put(b"b", b"2");
    /// txn.commit()?;
    /// assert_eq!(db.get(b"b")?.as_deref(), Some(&b"2"[..]));
    /// # Ok(()) }
    /// ```
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &Self {
        self.set(DEFAULT_KEYSPACE, key.as_ref(), Some(value.as_ref()))
    }

    /// As [`Transaction::put`], in `keyspace`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let docs = db.keyspace("docs", rillkv::KeyspaceOptions::default())?;
    /// let txn = db.transaction();
    /// txn.put_in(&docs, b"d1", b"hello");
    /// txn.commit()?;
    /// assert_eq!(docs.get(b"d1")?.as_deref(), Some(&b"hello"[..]));
    /// # Ok(()) }
    /// ```
    pub fn put_in(
        &self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> &Self {
        self.set(keyspace.id(), key.as_ref(), Some(value.as_ref()))
    }

    /// Deletes `key` when the transaction commits.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"k", b"v")?;
    /// let txn = db.transaction();
    /// txn.delete(b"k");
    /// assert_eq!(txn.get(b"k")?, None);
    /// assert!(db.get(b"k")?.is_some(), "not before commit");
    /// txn.commit()?;
    /// assert_eq!(db.get(b"k")?, None);
    /// # Ok(()) }
    /// ```
    pub fn delete(&self, key: impl AsRef<[u8]>) -> &Self {
        self.set(DEFAULT_KEYSPACE, key.as_ref(), None)
    }

    /// As [`Transaction::delete`], in `keyspace`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let docs = db.keyspace("docs", rillkv::KeyspaceOptions::default())?;
    /// docs.put(b"d1", b"x")?;
    /// let txn = db.transaction();
    /// txn.delete_in(&docs, b"d1");
    /// txn.commit()?;
    /// assert_eq!(docs.get(b"d1")?, None);
    /// # Ok(()) }
    /// ```
    pub fn delete_in(&self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> &Self {
        self.set(keyspace.id(), key.as_ref(), None)
    }

    fn set(&self, keyspace: KeyspaceId, key: &[u8], value: Option<&[u8]>) -> &Self {
        self.writes
            .lock()
            .set(keyspace, key, value.map(Bytes::copy_from_slice));
        self
    }

    /// Adds a merge operand for `key` when the transaction commits; reads
    /// in the transaction fold it over the key's value. With a
    /// commutative operator and a key the transaction did not read, this
    /// write never conflicts with other merges (see [`Transaction`]). A
    /// keyspace with no merge operator fails the commit with
    /// `InvalidArgument`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options, merge::U64Add};
    /// let db = Db::open(dir.path(), Options::default().merge_operator(U64Add))?;
    /// let (a, b) = (db.transaction(), db.transaction());
    /// a.merge(b"hits", 1u64.to_le_bytes());
    /// b.merge(b"hits", 1u64.to_le_bytes());
    /// a.commit()?;
    /// b.commit()?; // commutative merges into an unread key: no conflict
    /// assert_eq!(db.get(b"hits")?.as_deref(), Some(&2u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> &Self {
        self.merge_at(DEFAULT_KEYSPACE, key.as_ref(), operand.as_ref())
    }

    /// As [`Transaction::merge`], in `keyspace`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::{KeyspaceOptions, merge::U64Add};
    /// let hits = db.keyspace("hits", KeyspaceOptions::default().merge_operator(U64Add))?;
    /// let txn = db.transaction();
    /// txn.merge_in(&hits, b"doc:7", 1u64.to_le_bytes());
    /// txn.commit()?;
    /// assert_eq!(hits.get(b"doc:7")?.as_deref(), Some(&1u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    pub fn merge_in(
        &self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        operand: impl AsRef<[u8]>,
    ) -> &Self {
        self.merge_at(keyspace.id(), key.as_ref(), operand.as_ref())
    }

    fn merge_at(&self, keyspace: KeyspaceId, key: &[u8], operand: &[u8]) -> &Self {
        self.writes
            .lock()
            .merge(keyspace, key, Bytes::copy_from_slice(operand));
        self
    }

    /// Iterates every key as the transaction sees it; `.rev()` for reverse
    /// order. See [`TransactionIter`].
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// db.put(b"b", b"2")?;
    /// let txn = db.transaction();
    /// txn.delete(b"a").put(b"c", b"3");
    /// let keys: Vec<_> = txn.iter().rev().map(|r| r.map(|(k, _)| k)).collect::<rillkv::Result<_>>()?;
    /// assert_eq!(keys, [&b"c"[..], &b"b"[..]]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> TransactionIter {
        self.iter_at(DEFAULT_KEYSPACE, owned_bounds::<&[u8], _>(&..))
    }

    /// Iterates keys within `range` as the transaction sees it.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// let txn = db.transaction();
    /// txn.put(b"b", b"2");
    /// assert_eq!(txn.range(b"a".as_slice()..b"c".as_slice()).count(), 2);
    /// # Ok(()) }
    /// ```
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> TransactionIter {
        self.iter_at(DEFAULT_KEYSPACE, owned_bounds(&range))
    }

    /// Iterates keys starting with `prefix` as the transaction sees it.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"user:1", b"alice")?;
    /// let txn = db.transaction();
    /// txn.put(b"user:2", b"bob").put(b"visits", b"7");
    /// assert_eq!(txn.prefix(b"user:").count(), 2);
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> TransactionIter {
        self.iter_at(DEFAULT_KEYSPACE, prefix_bounds(prefix.as_ref()))
    }

    /// As [`Transaction::iter`], in `keyspace`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let docs = db.keyspace("docs", rillkv::KeyspaceOptions::default())?;
    /// let txn = db.transaction();
    /// txn.put_in(&docs, b"d1", b"x");
    /// assert_eq!(txn.iter_in(&docs).count(), 1);
    /// assert_eq!(txn.iter().count(), 0);
    /// # Ok(()) }
    /// ```
    pub fn iter_in(&self, keyspace: &Keyspace) -> TransactionIter {
        self.iter_at(keyspace.id(), owned_bounds::<&[u8], _>(&..))
    }

    /// As [`Transaction::range`], in `keyspace`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let docs = db.keyspace("docs", rillkv::KeyspaceOptions::default())?;
    /// let txn = db.transaction();
    /// txn.put_in(&docs, b"a", b"x").put_in(&docs, b"z", b"y");
    /// assert_eq!(txn.range_in(&docs, b"a".as_slice()..b"m".as_slice()).count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn range_in<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(
        &self,
        keyspace: &Keyspace,
        range: R,
    ) -> TransactionIter {
        self.iter_at(keyspace.id(), owned_bounds(&range))
    }

    /// As [`Transaction::prefix`], in `keyspace`.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let docs = db.keyspace("docs", rillkv::KeyspaceOptions::default())?;
    /// let txn = db.transaction();
    /// txn.put_in(&docs, b"doc:1", b"x").put_in(&docs, b"tag:1", b"y");
    /// assert_eq!(txn.prefix_in(&docs, b"doc:").count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn prefix_in(&self, keyspace: &Keyspace, prefix: impl AsRef<[u8]>) -> TransactionIter {
        self.iter_at(keyspace.id(), prefix_bounds(prefix.as_ref()))
    }

    fn iter_at(&self, keyspace: KeyspaceId, bounds: UserBounds) -> TransactionIter {
        let pending = self.writes.lock().range(keyspace, &bounds);
        // An error here (a dropped keyspace) comes out of the tree's
        // iterator too, as its first item.
        let op = self.db.merge_operator_of(keyspace).ok().flatten();
        let slot = self.reads.lock().range(keyspace, &bounds);
        let tree = self.snapshot.iter_in_keyspace(keyspace, bounds);
        TransactionIter::new(tree, pending, op, Arc::clone(&self.reads), slot)
    }

    /// Commits the transaction's writes atomically, with the
    /// [`WriteOptions`] of its [`TransactionOptions`]. A transaction that
    /// wrote nothing commits at once (its reads came from one snapshot, so
    /// it is serializable as of that snapshot).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let txn = db.transaction();
    /// txn.put(b"a", b"1").put(b"b", b"2");
    /// txn.commit()?; // one WAL record: both or neither after a crash
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `Conflict` if a commit after its snapshot conflicts with it (see
    /// [`Isolation`]) or its snapshot is too old to check
    /// ([`Options::transaction_index_bytes`](crate::Options::transaction_index_bytes)):
    /// nothing was written, run it again (or use [`Db::run_transaction`]);
    /// otherwise as [`Db::write_opt`] (`InvalidArgument` for a merge into a
    /// keyspace without a merge operator, or a dropped keyspace).
    pub fn commit(self) -> Result<()> {
        let opts = self.opts.write.clone();
        self.commit_with(&opts)
    }

    /// As [`Transaction::commit`], with `opts` (e.g. `sync(true)`).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let txn = db.transaction();
    /// txn.put(b"k", b"v");
    /// txn.commit_with(&rillkv::WriteOptions::default().sync(true))?;
    /// assert_eq!(db.stats().counters.wal_syncs, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Transaction::commit`].
    pub fn commit_with(self, opts: &WriteOptions) -> Result<()> {
        let (batch, intent) = {
            let writes = self.writes.lock();
            if writes.is_empty() {
                return Ok(());
            }
            (writes.to_batch(), self.intent(&writes)?)
        };
        // A transaction is refused with an error, never a mismatch.
        self.db
            .write_if(batch, Condition::Txn(intent), opts)
            .map(|_: Outcome| ())
    }

    /// What validation needs: the snapshot, each key written and how, and
    /// (serializable) the reads.
    fn intent(&self, writes: &WriteSet) -> Result<Intent> {
        let reads = self.reads.lock();
        let mut commutative: Vec<(KeyspaceId, bool)> = Vec::new();
        let mut out = Vec::new();
        for (keyspace, key, pending) in writes.iter() {
            let class = if pending.merges_only() && !reads.contains(keyspace, key) {
                let known = commutative.iter().find(|(ks, _)| *ks == keyspace);
                let yes = match known {
                    Some((_, yes)) => *yes,
                    None => {
                        let op = self.db.merge_operator_of(keyspace)?;
                        let yes = op.is_some_and(|op| op.is_commutative());
                        commutative.push((keyspace, yes));
                        yes
                    }
                };
                if yes {
                    WriteClass::CommutativeMerge
                } else {
                    WriteClass::Overwrite
                }
            } else {
                WriteClass::Overwrite
            };
            out.push(KeyWrite {
                keyspace,
                key: key.clone(),
                class,
            });
        }
        let serializable = self.opts.isolation == Isolation::Serializable;
        Ok(Intent {
            snapshot: self.snapshot.seqno(),
            writes: out,
            reads: if serializable {
                reads.keys()
            } else {
                Vec::new()
            },
            ranges: if serializable {
                reads.ranges()
            } else {
                Vec::new()
            },
        })
    }

    /// Discards the transaction's writes. Dropping it does the same.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let txn = db.transaction();
    /// txn.put(b"k", b"v");
    /// txn.rollback();
    /// assert_eq!(db.get(b"k")?, None);
    /// # Ok(()) }
    /// ```
    pub fn rollback(self) {
        drop(self);
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.db.end_transaction();
    }
}

/// The batch a transaction would commit (for tests of the encoding).
#[cfg(test)]
fn batch_of(txn: &Transaction) -> crate::batch::WriteBatch {
    txn.writes.lock().to_batch()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_are_send_and_sync() {
        fn shared<T: Send + Sync + 'static>() {}
        fn owned<T: Send + 'static>() {}
        shared::<Transaction>();
        owned::<TransactionIter>();
    }

    #[test]
    fn a_transaction_is_one_batch() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = Db::open(dir.path(), crate::Options::default())?;
        let txn = db.transaction();
        txn.put(b"a", b"1").put(b"b", b"2").delete(b"c");
        assert_eq!(batch_of(&txn).len(), 3);
        txn.commit()?;
        assert_eq!(db.stats().counters.write_groups, 1);
        Ok(())
    }
}
