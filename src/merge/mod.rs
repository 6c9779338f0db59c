//! Merge operators: read-modify-write without the read.
//!
//! [`Db::merge`](crate::Db::merge) stores an *operand*; the database's
//! [`MergeOperator`] combines a key's operands with its older value when the
//! key is read, flushed or compacted.
//!
//! # The law
//!
//! Operands are always passed **oldest → newest**. A merge operator must be
//! *associative* in this sense: merging a run of operands with no existing
//! value, and then applying the result as a single operand, gives the same
//! value as applying the operands one by one:
//!
//! ```text
//! merge_batch(k, base, [a, b, c, d])
//!   == merge_batch(k, base, [merge_batch(k, None, [a, b])?, c, d])
//!   == merge_batch(k, base, [a, merge_batch(k, None, [b, c, d])?])
//! ```
//!
//! and `merge_batch` must equal folding `merge` pairwise (its default). This
//! law is what lets rillkv fold any number of operands in bounded memory
//! (chunks of [`Options::merge_batch_size`](crate::Options::merge_batch_size))
//! and collapse operands in flush and compaction before the key's base value
//! is known. The operator need not be commutative: order is always kept.
//!
//! Built-in operators: [`U64Add`], [`U64Max`], [`U64Min`], [`Append`]. A
//! closure works too: [`Options::merge_fn`](crate::Options::merge_fn).
//!
//! ```
//! # fn main() -> rillkv::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! use rillkv::{Db, Options, merge::U64Add};
//! let db = Db::open(dir.path(), Options::default().merge_operator(U64Add))?;
//! db.merge(b"visits", 1u64.to_le_bytes())?;
//! db.merge(b"visits", 2u64.to_le_bytes())?;
//! let v = db.get(b"visits")?.expect("merged");
//! assert_eq!(u64::from_le_bytes(v[..].try_into().unwrap()), 3);
//! # Ok(()) }
//! ```

mod builtin;
pub(crate) mod resolve;

use std::fmt;

pub use builtin::{Append, U64Add, U64Max, U64Min};

/// Why a merge operator could not combine its inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError {
    message: String,
}

impl MergeError {
    /// A merge failure with a message (shown to the caller of the read).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options, merge::MergeError};
    /// let opts = Options::default().merge_fn("strict-add", |_key, existing, op| {
    ///     let op: [u8; 8] = op.try_into().map_err(|_| MergeError::new("operands are 8 bytes"))?;
    ///     let old = existing.map_or(Ok([0; 8]), |e| e.try_into()).map_err(|_| MergeError::new("bad value"))?;
    ///     Ok((u64::from_le_bytes(old) + u64::from_le_bytes(op)).to_le_bytes().to_vec())
    /// });
    /// let db = Db::open(dir.path(), opts)?;
    /// db.merge(b"n", b"short")?; // stored as is: operators run on read
    /// let err = db.get(b"n").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::MergeOperator);
    /// assert!(err.message().contains("operands are 8 bytes"), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        MergeError {
            message: message.into(),
        }
    }
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MergeError {}

/// Combines a key's merge operands with its existing value.
///
/// # Contract
/// - `name` is persisted when the database is created; opening it later
///   with an operator of another name fails with `InvalidArgument`.
/// - Operands are passed oldest → newest; `existing` is the key's value
///   before the first of them, or `None` (never written, or deleted).
/// - The associativity law in the [module docs](self) must hold.
/// - Must not panic; return [`MergeError`] instead. A failed merge never
///   loses data: reads of that key return `ErrorKind::MergeOperator`, and
///   flush and compaction keep the operands as they were.
pub trait MergeOperator: Send + Sync + 'static {
    /// The operator's persistent name.
    ///
    /// ```
    /// use rillkv::MergeOperator;
    /// use rillkv::merge::{Append, U64Add};
    /// assert_eq!(U64Add.name(), "u64add");
    /// assert_eq!(Append::new("").name(), "append");
    /// assert_eq!(Append::new(",").name(), "append:2c", "the delimiter is part of the name");
    /// ```
    fn name(&self) -> &str;

    /// Applies one operand to the existing value.
    ///
    /// ```
    /// use rillkv::MergeOperator;
    /// use rillkv::merge::U64Add;
    /// let five = 5u64.to_le_bytes();
    /// let sum = U64Add.merge(b"counter", Some(&five[..]), &2u64.to_le_bytes()).unwrap();
    /// assert_eq!(sum, 7u64.to_le_bytes());
    /// assert!(U64Add.merge(b"counter", None, b"not 8 bytes").is_err());
    /// ```
    ///
    /// # Errors
    /// [`MergeError`] when the operand or the existing value is malformed.
    fn merge(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operand: &[u8],
    ) -> Result<Vec<u8>, MergeError>;

    /// Applies several operands (oldest → newest) at once. The default folds
    /// [`merge`](MergeOperator::merge) pairwise; override it when a batch
    /// can be done in one pass (a counter sums them).
    ///
    /// ```
    /// use rillkv::MergeOperator;
    /// use rillkv::merge::Append;
    /// let op = Append::new("+");
    /// let (a, b, c) = (&b"a"[..], &b"b"[..], &b"c"[..]);
    /// let all = op.merge_batch(b"k", Some(a), &[b, c]).unwrap();
    /// assert_eq!(all, b"a+b+c");
    /// // The law: a chunk merged with no base, then applied as one operand.
    /// let chunk = op.merge_batch(b"k", None, &[b, c]).unwrap();
    /// assert_eq!(op.merge_batch(b"k", Some(a), &[chunk.as_slice()]).unwrap(), all);
    /// ```
    ///
    /// # Errors
    /// As [`merge`](MergeOperator::merge).
    fn merge_batch(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Result<Vec<u8>, MergeError> {
        let mut acc: Option<Vec<u8>> = existing.map(<[u8]>::to_vec);
        for op in operands {
            acc = Some(self.merge(key, acc.as_deref(), op)?);
        }
        acc.ok_or_else(|| MergeError::new("merge_batch called with no operands and no value"))
    }

    /// Whether any two operands may be applied in either order with the
    /// same result (`merge(merge(v, a), b) == merge(merge(v, b), a)` for
    /// every `v`, `a`, `b`): a counter's additions, a maximum. Default:
    /// `false`.
    ///
    /// Transactions rely on it: a transaction's merge into a key it did not
    /// read is then never a conflict with other merges into that key
    /// (they commute, so either commit order gives the same value). It
    /// still conflicts with a concurrent put or delete of the key. Say
    /// `true` only when the law holds: otherwise concurrent transactions
    /// may commit in an order neither of them saw.
    ///
    /// ```
    /// use rillkv::MergeOperator;
    /// use rillkv::merge::{Append, U64Add, U64Max};
    /// assert!(U64Add.is_commutative());
    /// assert!(U64Max.is_commutative());
    /// assert!(!Append::new(",").is_commutative(), "order matters to an append");
    /// ```
    fn is_commutative(&self) -> bool {
        false
    }
}

/// A merge operator made from a closure; see
/// [`Options::merge_fn`](crate::Options::merge_fn).
pub(crate) struct MergeFn<F> {
    pub(crate) name: String,
    pub(crate) f: F,
}

impl<F> MergeOperator for MergeFn<F>
where
    F: Fn(&[u8], Option<&[u8]>, &[u8]) -> Result<Vec<u8>, MergeError> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn merge(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operand: &[u8],
    ) -> Result<Vec<u8>, MergeError> {
        (self.f)(key, existing, operand)
    }
}
