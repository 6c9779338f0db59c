//! [`Db::run_transaction`]: a closure run in a transaction, again after
//! each conflict, with a growing random pause, up to a limit.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::{Transaction, TransactionOptions};
use crate::db::Db;
use crate::error::{ErrorKind, Result};

impl Db {
    /// Runs `f` in a transaction with default [`TransactionOptions`] and
    /// commits it; on [`ErrorKind::Conflict`] (from the commit, or returned
    /// by `f`) runs it again in a new transaction, up to
    /// [`max_retries`](TransactionOptions::max_retries) times, pausing
    /// between attempts. `f` may run several times: keep side effects out
    /// of it.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"alice", 10u64.to_le_bytes())?;
    /// let read = |v: Option<rillkv::Bytes>| v.map_or(0, |v| u64::from_le_bytes(v[..8].try_into().unwrap()));
    /// let moved = db.run_transaction(|txn| {
    ///     let alice = read(txn.get(b"alice")?);
    ///     let bob = read(txn.get(b"bob")?);
    ///     txn.put(b"alice", (alice - 3).to_le_bytes());
    ///     txn.put(b"bob", (bob + 3).to_le_bytes());
    ///     Ok(3)
    /// })?;
    /// assert_eq!((moved, read(db.get(b"bob")?)), (3, 3));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The first error of `f` or of the commit that is not a conflict; the
    /// last conflict once the retries are spent.
    pub fn run_transaction<T, F>(&self, f: F) -> Result<T>
    where
        F: FnMut(&Transaction) -> Result<T>,
    {
        self.run_transaction_with(TransactionOptions::default(), f)
    }

    /// As [`Db::run_transaction`], with `opts` (isolation, write options,
    /// retries and their pauses).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::{Isolation, TransactionOptions};
    /// let opts = TransactionOptions::default().isolation(Isolation::Serializable).max_retries(3);
    /// let n = db.run_transaction_with(opts, |txn| {
    ///     txn.put(b"k", b"v");
    ///     Ok(txn.iter().count())
    /// })?;
    /// assert_eq!(n, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::run_transaction`].
    pub fn run_transaction_with<T, F>(&self, opts: TransactionOptions, mut f: F) -> Result<T>
    where
        F: FnMut(&Transaction) -> Result<T>,
    {
        let mut pause = opts.backoff_min;
        let mut attempt = 0u32;
        loop {
            let txn = self.transaction_with(opts.clone());
            let result = f(&txn).and_then(|value| txn.commit().map(|()| value));
            match result {
                Err(e) if e.kind() == ErrorKind::Conflict && attempt < opts.max_retries => {
                    attempt += 1;
                    std::thread::sleep(jitter(pause));
                    pause = (pause * 2).min(opts.backoff_max);
                }
                result => return result,
            }
        }
    }
}

/// A random duration between half of `d` and `d`.
fn jitter(d: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = d / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(random % nanos.max(1))
}
