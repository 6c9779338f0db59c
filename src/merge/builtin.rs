//! The built-in merge operators.

use super::{MergeError, MergeOperator};

fn read_u64(what: &str, bytes: &[u8]) -> Result<u64, MergeError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| {
        MergeError::new(format!(
            "{what} is {} bytes; u64 operators need exactly 8 (little-endian)",
            bytes.len()
        ))
    })?;
    Ok(u64::from_le_bytes(arr))
}

fn fold_u64(
    existing: Option<&[u8]>,
    operands: &[&[u8]],
    init: u64,
    f: impl Fn(u64, u64) -> u64,
) -> Result<Vec<u8>, MergeError> {
    let mut acc = match existing {
        Some(e) => read_u64("the existing value", e)?,
        None => init,
    };
    for op in operands {
        acc = f(acc, read_u64("an operand", op)?);
    }
    Ok(acc.to_le_bytes().to_vec())
}

/// Defines a u64 merge operator: `merge` and `merge_batch` both fold the
/// operands with `$op` in one pass, starting from `$init` when there is no
/// existing value.
macro_rules! u64_operator {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $init:expr, $op:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl MergeOperator for $ty {
            fn name(&self) -> &str {
                $name
            }

            /// Addition, maximum and minimum commute.
            fn is_commutative(&self) -> bool {
                true
            }

            fn merge(
                &self,
                _key: &[u8],
                existing: Option<&[u8]>,
                operand: &[u8],
            ) -> Result<Vec<u8>, MergeError> {
                fold_u64(existing, &[operand], $init, $op)
            }

            /// Folds the whole batch in one pass.
            fn merge_batch(
                &self,
                _key: &[u8],
                existing: Option<&[u8]>,
                operands: &[&[u8]],
            ) -> Result<Vec<u8>, MergeError> {
                fold_u64(existing, operands, $init, $op)
            }
        }
    };
}

u64_operator!(
    /// A counter: little-endian u64 values, added with wrapping. A missing
    /// value counts as 0. Name: `"u64add"`.
    U64Add, "u64add", 0, u64::wrapping_add
);
u64_operator!(
    /// The maximum of little-endian u64 values. A missing value counts as 0.
    /// Name: `"u64max"`.
    U64Max, "u64max", 0, u64::max
);
u64_operator!(
    /// The minimum of little-endian u64 values. A missing value counts as
    /// `u64::MAX`. Name: `"u64min"`.
    U64Min, "u64min", u64::MAX, u64::min
);

/// Byte-string append: each operand is appended to the value, separated by
/// `delimiter` (none if empty). Order-sensitive. Name: `"append"`, or
/// `"append:<hex delimiter>"` with a delimiter, so that two databases
/// appending with different delimiters are never confused.
#[derive(Debug, Clone)]
pub struct Append {
    /// Bytes put between two appended pieces. Private, so that the
    /// persisted name (derived from it) can never go stale.
    delimiter: Vec<u8>,
    name: String,
}

impl Default for Append {
    /// Appends with no delimiter (name `"append"`).
    fn default() -> Self {
        Append::new(Vec::new())
    }
}

impl Append {
    /// An append operator with `delimiter` between pieces.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, MergeOperator, Options, merge::Append};
    /// let tags = Append::new(",");
    /// assert_eq!(tags.name(), "append:2c");
    /// let db = Db::open(dir.path(), Options::default().merge_operator(tags))?;
    /// db.put(b"tags", b"red")?;
    /// db.merge(b"tags", b"green")?;
    /// db.merge(b"tags", b"blue")?;
    /// assert_eq!(db.get(b"tags")?.as_deref(), Some(&b"red,green,blue"[..]));
    /// # Ok(()) }
    /// ```
    pub fn new(delimiter: impl Into<Vec<u8>>) -> Self {
        let delimiter = delimiter.into();
        let name = if delimiter.is_empty() {
            "append".to_owned()
        } else {
            let hex: String = delimiter.iter().map(|b| format!("{b:02x}")).collect();
            format!("append:{hex}")
        };
        Append { delimiter, name }
    }

    /// The bytes put between two appended pieces.
    ///
    /// ```
    /// use rillkv::merge::Append;
    /// assert_eq!(Append::new("; ").delimiter(), b"; ");
    /// assert_eq!(Append::default().delimiter(), b"");
    /// ```
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }
}

impl MergeOperator for Append {
    fn name(&self) -> &str {
        &self.name
    }

    fn merge(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operand: &[u8],
    ) -> Result<Vec<u8>, MergeError> {
        self.merge_batch(key, existing, &[operand])
    }

    /// Sizes the result once and copies every piece into it.
    fn merge_batch(
        &self,
        _key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Result<Vec<u8>, MergeError> {
        let pieces = existing.into_iter().chain(operands.iter().copied());
        let total: usize = existing.map_or(0, <[u8]>::len)
            + operands.iter().map(|o| o.len()).sum::<usize>()
            + self.delimiter.len() * operands.len();
        let mut out = Vec::with_capacity(total);
        for (i, piece) in pieces.enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.delimiter);
            }
            out.extend_from_slice(piece);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn le(v: u64) -> Vec<u8> {
        v.to_le_bytes().to_vec()
    }

    fn pairwise(op: &dyn MergeOperator, base: Option<&[u8]>, ops: &[Vec<u8>]) -> Vec<u8> {
        let mut acc = base.map(<[u8]>::to_vec);
        for o in ops {
            acc = Some(op.merge(b"k", acc.as_deref(), o).unwrap());
        }
        acc.unwrap()
    }

    fn check_laws(op: &dyn MergeOperator, base: Option<Vec<u8>>, ops: Vec<Vec<u8>>, split: usize) {
        let refs: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
        let whole = op.merge_batch(b"k", base.as_deref(), &refs).unwrap();
        // merge_batch == pairwise fold of merge.
        assert_eq!(whole, pairwise(op, base.as_deref(), &ops));
        // Associativity: partial-merge a chunk, then apply it as one operand.
        let split = split % (ops.len() + 1);
        if split >= 1 {
            let (a, b) = refs.split_at(split);
            let partial = op.merge_batch(b"k", None, a).unwrap();
            let mut rest: Vec<&[u8]> = vec![&partial];
            rest.extend_from_slice(b);
            assert_eq!(op.merge_batch(b"k", base.as_deref(), &rest).unwrap(), whole);
        }
    }

    proptest! {
        #[test]
        fn u64_operators_obey_the_laws(
            base in proptest::option::of(any::<u64>()),
            ops in prop::collection::vec(any::<u64>(), 1..20),
            split in any::<usize>(),
        ) {
            let ops: Vec<Vec<u8>> = ops.into_iter().map(le).collect();
            for op in [&U64Add as &dyn MergeOperator, &U64Max, &U64Min] {
                check_laws(op, base.map(le), ops.clone(), split);
            }
        }

        #[test]
        fn append_obeys_the_laws(
            base in proptest::option::of(prop::collection::vec(any::<u8>(), 0..5)),
            ops in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..5), 1..10),
            split in any::<usize>(),
            delim in prop::collection::vec(any::<u8>(), 0..2),
        ) {
            check_laws(&Append::new(delim), base, ops, split);
        }
    }

    #[test]
    fn counters_wrap_and_reject_bad_widths() {
        let r = U64Add
            .merge_batch(b"k", Some(&le(u64::MAX)), &[&le(2)])
            .unwrap();
        assert_eq!(r, le(1));
        assert!(U64Add.merge(b"k", None, b"abc").is_err());
        assert!(U64Max.merge(b"k", Some(b"x"), &le(1)).is_err());
        assert_eq!(
            U64Min.merge_batch(b"k", None, &[&le(5), &le(3)]).unwrap(),
            le(3)
        );
    }

    #[test]
    fn append_names_carry_the_delimiter() {
        assert_eq!(Append::default().name(), "append");
        assert_eq!(Append::new(",").name(), "append:2c");
        let r = Append::new(",")
            .merge_batch(b"k", Some(b"a"), &[b"b", b"c"])
            .unwrap();
        assert_eq!(r, b"a,b,c");
        let r = Append::new(",")
            .merge_batch(b"k", None, &[b"b", b"c"])
            .unwrap();
        assert_eq!(r, b"b,c");
    }
}
