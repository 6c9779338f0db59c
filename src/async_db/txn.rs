//! Transactions and compare-and-swap on [`AsyncDb`] and
//! [`AsyncKeyspace`]. A [`Transaction`]'s reads may wait for the disk, so
//! the async form runs the whole transaction — the closure, the commit and
//! its retries — on one blocking task: [`AsyncDb::run_transaction`].

use bytes::Bytes;

use super::{AsyncDb, AsyncKeyspace, blocking};
use crate::error::Result;
use crate::txn::{CasResult, Transaction, TransactionOptions};

impl AsyncDb {
    /// Runs `f` in a transaction and commits it, retrying on conflicts, on
    /// a blocking task (as [`Db::run_transaction`](crate::Db::run_transaction)).
    /// `f` may run several times.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{AsyncDb, Options, merge::U64Add};
    /// let db = AsyncDb::open(dir.path(), Options::default().merge_operator(U64Add)).await?;
    /// let before = db
    ///     .run_transaction(|txn| {
    ///         let seen = txn.get(b"hits")?;
    ///         txn.merge(b"hits", 1u64.to_le_bytes());
    ///         Ok(seen)
    ///     })
    ///     .await?;
    /// assert_eq!(before, None);
    /// assert_eq!(db.get(b"hits").await?.as_deref(), Some(&1u64.to_le_bytes()[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::run_transaction`](crate::Db::run_transaction).
    pub async fn run_transaction<T, F>(&self, f: F) -> Result<T>
    where
        F: FnMut(&Transaction) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.run_transaction_with(TransactionOptions::default(), f)
            .await
    }

    /// As [`run_transaction`](Self::run_transaction), with `opts`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// use rillkv::{Isolation, TransactionOptions};
    /// let opts = TransactionOptions::default().isolation(Isolation::Serializable);
    /// db.run_transaction_with(opts, |txn| {
    ///     txn.put(b"k", b"v");
    ///     Ok(())
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::run_transaction`](crate::Db::run_transaction).
    pub async fn run_transaction_with<T, F>(&self, opts: TransactionOptions, f: F) -> Result<T>
    where
        F: FnMut(&Transaction) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.db().clone();
        blocking(move || db.run_transaction_with(opts, f)).await
    }

    /// As [`Db::compare_and_swap`](crate::Db::compare_and_swap).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// assert!(db.compare_and_swap(b"k", None, Some(b"v")).await?.is_swapped());
    /// assert!(!db.compare_and_swap(b"k", None, Some(b"w")).await?.is_swapped());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::compare_and_swap`](crate::Db::compare_and_swap).
    pub async fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<CasResult> {
        let db = self.db().clone();
        let (key, expected, new) = owned(key.as_ref(), expected, new);
        blocking(move || db.compare_and_swap(key, expected.as_deref(), new.as_deref())).await
    }
}

impl AsyncKeyspace {
    /// As [`Keyspace::compare_and_swap`](crate::Keyspace::compare_and_swap).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// let ks = db.keyspace("leases", rillkv::KeyspaceOptions::default()).await?;
    /// assert!(ks.compare_and_swap(b"job", None, Some(b"me")).await?.is_swapped());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Keyspace::compare_and_swap`](crate::Keyspace::compare_and_swap).
    pub async fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<CasResult> {
        let ks = self.keyspace().clone();
        let (key, expected, new) = owned(key.as_ref(), expected, new);
        blocking(move || ks.compare_and_swap(key, expected.as_deref(), new.as_deref())).await
    }
}

/// Owned copies of a compare-and-swap's arguments, for the blocking task.
fn owned(
    key: &[u8],
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
) -> (Bytes, Option<Bytes>, Option<Bytes>) {
    (
        Bytes::copy_from_slice(key),
        expected.map(Bytes::copy_from_slice),
        new.map(Bytes::copy_from_slice),
    )
}
