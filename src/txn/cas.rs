//! [`Db::compare_and_swap`] and [`Keyspace::compare_and_swap`]: one key
//! changed only if it holds the expected value, decided atomically by the
//! commit leader (no transaction object, no snapshot).

use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::db::{Condition, Db, Keyspace, Outcome};
use crate::error::Result;
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, ValueKind};
use crate::options::WriteOptions;

/// What a [`compare_and_swap`](Db::compare_and_swap) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a compare-and-swap may not have swapped"]
pub enum CasResult {
    /// The key held the expected value and now holds the new one.
    Swapped,
    /// The key held another value (`None`: no value), which is left as it
    /// was.
    Mismatch {
        /// The key's value when the swap was decided.
        current: Option<Bytes>,
    },
}

impl CasResult {
    /// Whether the swap happened.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// assert!(db.compare_and_swap(b"k", None, Some(b"v"))?.is_swapped());
    /// assert!(!db.compare_and_swap(b"k", None, Some(b"w"))?.is_swapped());
    /// # Ok(()) }
    /// ```
    pub fn is_swapped(&self) -> bool {
        matches!(self, CasResult::Swapped)
    }
}

impl Db {
    /// Sets `key` to `new` (`None`: deletes it) if and only if its value is
    /// `expected` (`None`: it has none), atomically with respect to every
    /// other write: the check and the write happen in the commit leader,
    /// in commit order. Merge operands are folded before comparing.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// use rillkv::CasResult;
    /// db.put(b"lock", b"free")?;
    /// assert_eq!(db.compare_and_swap(b"lock", Some(b"free"), Some(b"mine"))?, CasResult::Swapped);
    /// let lost = db.compare_and_swap(b"lock", Some(b"free"), Some(b"yours"))?;
    /// assert_eq!(lost, CasResult::Mismatch { current: Some(rillkv::Bytes::from_static(b"mine")) });
    /// assert!(db.compare_and_swap(b"lock", Some(b"mine"), None)?.is_swapped()); // release
    /// assert_eq!(db.get(b"lock")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::write_opt`]; `MergeOperator` if the key's operands cannot
    /// be folded. A mismatch is not an error.
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<CasResult> {
        cas(
            self,
            DEFAULT_KEYSPACE,
            key.as_ref(),
            expected,
            new,
            &WriteOptions::default(),
        )
    }

    /// As [`Db::compare_and_swap`], with `opts` (e.g. `sync(true)`).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let synced = rillkv::WriteOptions::default().sync(true);
    /// assert!(db.compare_and_swap_opt(b"k", None, Some(b"v"), &synced)?.is_swapped());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::compare_and_swap`].
    pub fn compare_and_swap_opt(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        opts: &WriteOptions,
    ) -> Result<CasResult> {
        cas(self, DEFAULT_KEYSPACE, key.as_ref(), expected, new, opts)
    }
}

impl Keyspace {
    /// As [`Db::compare_and_swap`], in this keyspace.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let ks = db.keyspace("leases", rillkv::KeyspaceOptions::default())?;
    /// assert!(ks.compare_and_swap(b"job:1", None, Some(b"worker-a"))?.is_swapped());
    /// assert!(!ks.compare_and_swap(b"job:1", None, Some(b"worker-b"))?.is_swapped());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::compare_and_swap`]; `InvalidArgument` once the keyspace is
    /// dropped.
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<CasResult> {
        cas(
            self.db(),
            self.id(),
            key.as_ref(),
            expected,
            new,
            &WriteOptions::default(),
        )
    }
}

fn cas(
    db: &Db,
    keyspace: KeyspaceId,
    key: &[u8],
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
    opts: &WriteOptions,
) -> Result<CasResult> {
    let mut batch = WriteBatch::new();
    match new {
        Some(v) => batch.push_in(keyspace, ValueKind::Put, key, v),
        None => batch.push_in(keyspace, ValueKind::Delete, key, &[]),
    };
    let condition = Condition::Cas {
        keyspace,
        key: Bytes::copy_from_slice(key),
        expected: expected.map(Bytes::copy_from_slice),
    };
    Ok(match db.write_if(batch, condition, opts)? {
        Outcome::Applied => CasResult::Swapped,
        Outcome::Mismatch(current) => CasResult::Mismatch { current },
    })
}
