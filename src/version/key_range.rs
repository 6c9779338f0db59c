//! [`KeyRange`] and overlap groups.
//!
//! An **overlap group** is a maximal set of tables whose key ranges overlap
//! transitively. Found by sort-and-sweep in O(N log N): sort by smallest
//! key, then extend the current group while the next table starts at or
//! before the group's largest key so far.

use bytes::Bytes;

/// A closed range of user keys `[min, max]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRange {
    /// The smallest key in the range.
    pub min: Bytes,
    /// The largest key in the range (`min <= max`).
    pub max: Bytes,
}

impl KeyRange {
    /// A range from `min` to `max` inclusive.
    ///
    /// ```
    /// use rillkv::compaction::KeyRange;
    /// let r = KeyRange::new("user:1", "user:9");
    /// assert_eq!(r.min, "user:1");
    /// assert_eq!(r.max, "user:9");
    /// ```
    pub fn new(min: impl Into<Bytes>, max: impl Into<Bytes>) -> Self {
        KeyRange {
            min: min.into(),
            max: max.into(),
        }
    }

    /// Whether the two ranges share at least one key.
    ///
    /// ```
    /// use rillkv::compaction::KeyRange;
    /// let ac = KeyRange::new("a", "c");
    /// assert!(ac.overlaps(&KeyRange::new("c", "d")), "closed ranges: both hold c");
    /// assert!(!ac.overlaps(&KeyRange::new("d", "e")));
    /// ```
    pub fn overlaps(&self, other: &KeyRange) -> bool {
        self.min <= other.max && other.min <= self.max
    }

    /// Whether `key` lies in the range.
    ///
    /// ```
    /// use rillkv::compaction::KeyRange;
    /// let r = KeyRange::new("a", "c");
    /// assert!(r.contains(b"a") && r.contains(b"bzz") && r.contains(b"c"));
    /// assert!(!r.contains(b"ca"));
    /// ```
    pub fn contains(&self, key: &[u8]) -> bool {
        self.min.as_ref() <= key && key <= self.max.as_ref()
    }

    /// The smallest range covering both.
    ///
    /// ```
    /// use rillkv::compaction::KeyRange;
    /// let u = KeyRange::new("a", "c").union(&KeyRange::new("x", "z"));
    /// assert_eq!(u, KeyRange::new("a", "z"));
    /// ```
    pub fn union(&self, other: &KeyRange) -> KeyRange {
        KeyRange {
            min: self.min.clone().min(other.min.clone()),
            max: self.max.clone().max(other.max.clone()),
        }
    }
}

/// Partitions `ranges` into overlap groups. Returns groups of indices into
/// `ranges`, each sorted by the ranges' smallest key; groups are ordered by
/// key. O(N log N).
///
/// ```
/// use rillkv::compaction::{KeyRange, overlap_groups};
/// let ranges = [
///     KeyRange::new("key_000", "key_120"),
///     KeyRange::new("key_500", "key_599"),
///     KeyRange::new("key_100", "key_220"),
///     KeyRange::new("key_200", "key_299"), // overlaps the first only through the third
/// ];
/// assert_eq!(overlap_groups(&ranges), vec![vec![0, 2, 3], vec![1]]);
/// ```
pub fn overlap_groups(ranges: &[KeyRange]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&ranges[a], &ranges[b]);
        ra.min.cmp(&rb.min).then_with(|| ra.max.cmp(&rb.max))
    });
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_max: Option<&Bytes> = None;
    for idx in order {
        let r = &ranges[idx];
        match (groups.last_mut(), group_max) {
            (Some(g), Some(max)) if r.min <= *max => {
                g.push(idx);
                if r.max > *max {
                    group_max = Some(&r.max);
                }
            }
            _ => {
                groups.push(vec![idx]);
                group_max = Some(&r.max);
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn r(a: &str, b: &str) -> KeyRange {
        KeyRange::new(a.as_bytes().to_vec(), b.as_bytes().to_vec())
    }

    #[test]
    fn the_seed_demo_groups() {
        // Three tables over key_000..key_299 overlapping, one apart.
        let ranges = [
            r("key_000", "key_120"),
            r("key_100", "key_220"),
            r("key_200", "key_299"),
            r("key_500", "key_599"),
        ];
        assert_eq!(overlap_groups(&ranges), vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn range_ops() {
        assert!(r("a", "c").overlaps(&r("c", "d")));
        assert!(!r("a", "b").overlaps(&r("c", "d")));
        assert!(r("a", "c").contains(b"b"));
        assert!(!r("a", "c").contains(b"d"));
        assert_eq!(r("a", "c").union(&r("b", "e")), r("a", "e"));
    }

    proptest! {
        #[test]
        fn groups_match_the_quadratic_definition(
            raw in prop::collection::vec((0u8..50, 0u8..10), 0..40)
        ) {
            let ranges: Vec<KeyRange> = raw.iter()
                .map(|&(a, len)| KeyRange::new(vec![a], vec![a.saturating_add(len)]))
                .collect();
            let groups = overlap_groups(&ranges);
            // A partition of all indices.
            let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..ranges.len()).collect::<Vec<_>>());
            // Same group iff connected through overlaps (union-find, O(N^2)).
            let mut parent: Vec<usize> = (0..ranges.len()).collect();
            fn find(p: &mut [usize], x: usize) -> usize {
                let mut x = x;
                while p[x] != x { x = p[x]; }
                x
            }
            for i in 0..ranges.len() {
                for j in 0..ranges.len() {
                    if ranges[i].overlaps(&ranges[j]) {
                        let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                        parent[a] = b;
                    }
                }
            }
            let group_of = |x: usize| groups.iter().position(|g| g.contains(&x)).unwrap();
            for i in 0..ranges.len() {
                for j in 0..ranges.len() {
                    let same = find(&mut parent, i) == find(&mut parent, j);
                    prop_assert_eq!(same, group_of(i) == group_of(j));
                }
            }
        }
    }
}
