//! [`ReadSet`]: the keys a transaction read and the key ranges its
//! iterators covered, for serializable validation and for telling a blind
//! merge from a read-modify-write.

use std::collections::HashSet;
use std::ops::Bound;

use bytes::Bytes;

use crate::conflict::RangeRead;
use crate::key::{KeyspaceId, UserBounds};

/// How far one end of an iterator has read.
#[derive(Debug, Clone)]
enum Reach {
    /// Nothing yet.
    Nothing,
    /// Up to this key, included (from the front: every key of the range up
    /// to it; from the back: every key from it on).
    Key(Bytes),
    /// To the other end of the range.
    All,
}

/// What one iterator covered of its range.
#[derive(Debug, Clone)]
struct Covered {
    keyspace: KeyspaceId,
    lower: Bound<Bytes>,
    upper: Bound<Bytes>,
    front: Reach,
    back: Reach,
}

impl Covered {
    /// The covered parts as ranges (none, one or two).
    fn pieces(&self) -> Vec<RangeRead> {
        let piece = |lower: Bound<Bytes>, upper: Bound<Bytes>| RangeRead {
            keyspace: self.keyspace,
            lower,
            upper,
        };
        if matches!(self.front, Reach::All) || matches!(self.back, Reach::All) {
            return vec![piece(self.lower.clone(), self.upper.clone())];
        }
        let mut out = Vec::new();
        if let Reach::Key(k) = &self.front {
            out.push(piece(self.lower.clone(), Bound::Included(k.clone())));
        }
        if let Reach::Key(k) = &self.back {
            out.push(piece(Bound::Included(k.clone()), self.upper.clone()));
        }
        out
    }
}

/// The reads of one transaction.
#[derive(Debug, Default)]
pub(crate) struct ReadSet {
    keys: HashSet<(KeyspaceId, Bytes)>,
    ranges: Vec<Covered>,
}

impl ReadSet {
    /// Records a point read of `key`.
    pub(crate) fn key(&mut self, keyspace: KeyspaceId, key: &[u8]) {
        self.keys.insert((keyspace, Bytes::copy_from_slice(key)));
    }

    /// Registers an iterator over `bounds`, which has covered nothing yet;
    /// returns its slot for [`ReadSet::reached`].
    pub(crate) fn range(&mut self, keyspace: KeyspaceId, bounds: &UserBounds) -> usize {
        self.ranges.push(Covered {
            keyspace,
            lower: bounds.0.clone(),
            upper: bounds.1.clone(),
            front: Reach::Nothing,
            back: Reach::Nothing,
        });
        self.ranges.len() - 1
    }

    /// Iterator `slot` has read from its front (`back` false) or back up to
    /// `key`, or (`None`) to the end.
    pub(crate) fn reached(&mut self, slot: usize, back: bool, key: Option<&Bytes>) {
        let Some(c) = self.ranges.get_mut(slot) else {
            return;
        };
        let reach = key.map_or(Reach::All, |k| Reach::Key(k.clone()));
        if back {
            c.back = reach;
        } else {
            c.front = reach;
        }
    }

    /// Whether the transaction read `key`, by a point read or an iterator.
    pub(crate) fn contains(&self, keyspace: KeyspaceId, key: &Bytes) -> bool {
        self.keys.contains(&(keyspace, key.clone()))
            || self
                .ranges
                .iter()
                .filter(|c| c.keyspace == keyspace)
                .flat_map(Covered::pieces)
                .any(|p| std::ops::RangeBounds::<Bytes>::contains(&(p.lower, p.upper), key))
    }

    /// The point reads, for validation.
    pub(crate) fn keys(&self) -> Vec<(KeyspaceId, Bytes)> {
        self.keys.iter().cloned().collect()
    }

    /// The covered ranges, for validation.
    pub(crate) fn ranges(&self) -> Vec<RangeRead> {
        self.ranges.iter().flat_map(Covered::pieces).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }

    #[test]
    fn an_iterator_covers_what_it_reached_from_each_end() {
        let mut rs = ReadSet::default();
        let slot = rs.range(0, &(Bound::Included(b(b"a")), Bound::Excluded(b(b"z"))));
        assert!(rs.ranges().is_empty(), "nothing read yet");
        rs.reached(slot, false, Some(&b(b"c")));
        rs.reached(slot, true, Some(&b(b"x")));
        assert!(rs.contains(0, &b(b"b")));
        assert!(rs.contains(0, &b(b"y")));
        assert!(!rs.contains(0, &b(b"m")), "between the ends: not read");
        assert!(!rs.contains(1, &b(b"b")), "another keyspace");
        rs.reached(slot, false, None);
        assert!(rs.contains(0, &b(b"m")));
        assert!(!rs.contains(0, &b(b"z")), "the excluded bound");
    }
}
