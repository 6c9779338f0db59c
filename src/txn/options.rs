//! [`TransactionOptions`] and [`Isolation`].

use std::time::Duration;

use crate::options::WriteOptions;

/// What a transaction is checked for when it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Isolation {
    /// Snapshot isolation: reads see the snapshot taken when the
    /// transaction began, and commit fails if a key it writes was written
    /// by another commit since (first committer wins). Write skew is
    /// possible: two transactions that each read what the other writes
    /// both commit.
    #[default]
    Snapshot,
    /// Serializable: as [`Snapshot`](Isolation::Snapshot), and commit also
    /// fails if a key it read, or any key in a range its iterators
    /// covered, was written since. Committed transactions are then
    /// equivalent to running one at a time, in commit order.
    Serializable,
}

/// How a transaction reads, commits and is retried.
///
/// ```
/// # fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use std::time::Duration;
/// use rillkv::{Db, Isolation, Options, TransactionOptions, WriteOptions};
/// let db = Db::open(dir.path(), Options::default())?;
/// let opts = TransactionOptions::default()
///     .isolation(Isolation::Serializable)
///     .write_options(WriteOptions::default().sync(true))
///     .max_retries(20)
///     .retry_backoff(Duration::from_micros(50), Duration::from_millis(5));
/// let txn = db.transaction_with(opts);
/// txn.put(b"k", b"v");
/// txn.commit()?; // fsynced before it returns
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TransactionOptions {
    pub(crate) isolation: Isolation,
    pub(crate) write: WriteOptions,
    pub(crate) max_retries: u32,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
}

impl Default for TransactionOptions {
    fn default() -> Self {
        TransactionOptions {
            isolation: Isolation::Snapshot,
            write: WriteOptions::default(),
            max_retries: 16,
            backoff_min: Duration::from_micros(20),
            backoff_max: Duration::from_millis(10),
        }
    }
}

impl TransactionOptions {
    /// The isolation level. Default: [`Isolation::Snapshot`].
    ///
    /// ```
    /// use rillkv::{Isolation, TransactionOptions};
    /// let opts = TransactionOptions::default().isolation(Isolation::Serializable);
    /// # let _ = opts;
    /// ```
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// How [`Transaction::commit`](crate::Transaction::commit) writes
    /// (`sync`, `disable_wal`). Default: [`WriteOptions::default`].
    ///
    /// ```
    /// use rillkv::{TransactionOptions, WriteOptions};
    /// let opts = TransactionOptions::default().write_options(WriteOptions::default().sync(true));
    /// # let _ = opts;
    /// ```
    pub fn write_options(mut self, write: WriteOptions) -> Self {
        self.write = write;
        self
    }

    /// How many times [`Db::run_transaction`](crate::Db::run_transaction)
    /// runs a transaction again after a conflict before it returns the
    /// conflict. Default: 16.
    ///
    /// ```
    /// use rillkv::TransactionOptions;
    /// let no_retries = TransactionOptions::default().max_retries(0);
    /// # let _ = no_retries;
    /// ```
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The pause before each retry: `min` before the first, doubling up to
    /// `max`, each one a random time between half and all of it (so
    /// conflicting transactions do not retry in lockstep). Default: 20 µs
    /// to 10 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rillkv::TransactionOptions;
    /// let opts = TransactionOptions::default()
    ///     .retry_backoff(Duration::from_micros(100), Duration::from_millis(50));
    /// # let _ = opts;
    /// ```
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self
    }
}
