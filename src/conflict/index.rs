//! [`RecentCommits`]: the keys of recent commits with the stamp of the
//! last commit that wrote each, bounded in memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;

use bytes::Bytes;

use super::{Conflict, ConflictKind, Intent, WriteClass};
use crate::key::{KeyspaceId, SeqNo, ValueKind};

/// Memory counted per recorded key beyond its bytes: the map entry, the
/// queue record and the shared key's header.
const ENTRY_OVERHEAD: usize = 96;

/// The last commits that wrote one key.
#[derive(Debug, Clone, Copy, Default)]
struct Stamps {
    /// Any write (put, delete, merge).
    write: SeqNo,
    /// A put or delete (0: none remembered).
    overwrite: SeqNo,
}

/// Recent commits by key, per keyspace, ordered by key (so a range read is
/// checked without scanning the tree), with a queue in commit order that
/// evicts the oldest once the memory budget is spent.
///
/// # Invariants
/// - Every write committed with a stamp above `floor` is remembered: its
///   key's `write` stamp is at least its stamp (and `overwrite` too for a
///   put or delete).
/// - `bytes` is what `order` holds; eviction keeps it within `budget`
///   (one commit group may overshoot until the next record).
#[derive(Debug)]
pub(crate) struct RecentCommits {
    keys: HashMap<KeyspaceId, BTreeMap<Bytes, Stamps>>,
    order: VecDeque<(SeqNo, KeyspaceId, Bytes)>,
    bytes: usize,
    budget: usize,
    floor: SeqNo,
}

impl RecentCommits {
    /// An empty index holding at most about `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        RecentCommits {
            keys: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            budget,
            floor: 0,
        }
    }

    /// The newest stamp forgotten: snapshots below it cannot be checked.
    #[cfg(test)]
    pub(crate) fn floor(&self) -> SeqNo {
        self.floor
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Forgets every commit up to `seqno`: called while no transaction is
    /// live, so no snapshot at or below it will ever be checked (a
    /// transaction that starts now sees at least `seqno`, or fails as too
    /// old, which is safe).
    pub(crate) fn forget_through(&mut self, seqno: SeqNo) {
        if !self.order.is_empty() {
            self.keys.clear();
            self.order.clear();
            self.bytes = 0;
        }
        self.floor = self.floor.max(seqno);
    }

    /// Records that a commit stamped `stamp` wrote `key` of `keyspace`
    /// with `kind`.
    pub(crate) fn record(
        &mut self,
        keyspace: KeyspaceId,
        key: &[u8],
        kind: ValueKind,
        stamp: SeqNo,
    ) {
        let map = self.keys.entry(keyspace).or_default();
        let overwrite = kind != ValueKind::Merge;
        let shared = match map.get_key_value(key) {
            Some((k, s)) => {
                if s.write == stamp && (!overwrite || s.overwrite == stamp) {
                    return; // this group recorded it already
                }
                k.clone()
            }
            None => Bytes::copy_from_slice(key),
        };
        let stamps = map.entry(shared.clone()).or_default();
        stamps.write = stamp;
        if overwrite {
            stamps.overwrite = stamp;
        }
        self.bytes += shared.len() + ENTRY_OVERHEAD;
        self.order.push_back((stamp, keyspace, shared));
        self.evict();
    }

    /// Drops the oldest records until the budget holds, raising the floor
    /// to the newest stamp whose key is forgotten.
    fn evict(&mut self) {
        while self.bytes > self.budget {
            let Some((stamp, keyspace, key)) = self.order.pop_front() else {
                break;
            };
            self.bytes -= key.len() + ENTRY_OVERHEAD;
            let Some(map) = self.keys.get_mut(&keyspace) else {
                continue;
            };
            // A newer record of the key is further back in the queue.
            if map.get(&key).is_some_and(|s| s.write == stamp) {
                map.remove(&key);
                self.floor = self.floor.max(stamp);
            }
        }
    }

    /// Checks `intent` against every commit after its snapshot.
    ///
    /// # Errors
    /// The first [`Conflict`] found: snapshot below the floor, then writes,
    /// point reads and ranges.
    pub(crate) fn check(&self, intent: &Intent) -> Result<(), Conflict> {
        let snap = intent.snapshot;
        if snap < self.floor {
            return Err(Conflict {
                kind: ConflictKind::TooOld,
                keyspace: 0,
                key: None,
                stamp: self.floor,
            });
        }
        let conflict = |kind, keyspace, key: &Bytes, stamp| Conflict {
            kind,
            keyspace,
            key: Some(key.clone()),
            stamp,
        };
        for w in &intent.writes {
            let Some(s) = self.stamps(w.keyspace, &w.key) else {
                continue;
            };
            let newer = match w.class {
                WriteClass::Overwrite => s.write,
                WriteClass::CommutativeMerge => s.overwrite,
            };
            if newer > snap {
                return Err(conflict(
                    ConflictKind::WriteWrite,
                    w.keyspace,
                    &w.key,
                    newer,
                ));
            }
        }
        for (keyspace, key) in &intent.reads {
            if let Some(s) = self.stamps(*keyspace, key)
                && s.write > snap
            {
                return Err(conflict(ConflictKind::ReadWrite, *keyspace, key, s.write));
            }
        }
        for r in &intent.ranges {
            let Some(map) = self.keys.get(&r.keyspace) else {
                continue;
            };
            let (lo, hi) = (as_slice(&r.lower), as_slice(&r.upper));
            if !nonempty(lo, hi) {
                continue;
            }
            if let Some((key, s)) = map.range::<[u8], _>((lo, hi)).find(|(_, s)| s.write > snap) {
                return Err(conflict(ConflictKind::Range, r.keyspace, key, s.write));
            }
        }
        Ok(())
    }

    fn stamps(&self, keyspace: KeyspaceId, key: &[u8]) -> Option<Stamps> {
        self.keys.get(&keyspace)?.get(key).copied()
    }
}

fn as_slice(b: &Bound<Bytes>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(&k[..]),
        Bound::Excluded(k) => Bound::Excluded(&k[..]),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether `lo..hi` may hold a key (`BTreeMap::range` panics otherwise).
pub(crate) fn nonempty(lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a < b,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conflict::{KeyWrite, RangeRead};

    fn intent(snapshot: SeqNo) -> Intent {
        Intent {
            snapshot,
            ..Intent::default()
        }
    }

    fn write(key: &'static [u8], class: WriteClass) -> KeyWrite {
        KeyWrite {
            keyspace: 0,
            key: Bytes::from_static(key),
            class,
        }
    }

    #[test]
    fn a_newer_write_conflicts_an_older_does_not() {
        let mut idx = RecentCommits::new(1 << 20);
        idx.record(0, b"k", ValueKind::Put, 10);
        let mut t = intent(9);
        t.writes.push(write(b"k", WriteClass::Overwrite));
        let c = idx.check(&t).unwrap_err();
        assert_eq!((c.kind, c.stamp), (ConflictKind::WriteWrite, 10));
        t.snapshot = 10;
        assert!(
            idx.check(&t).is_ok(),
            "a commit the snapshot saw is no conflict"
        );
    }

    #[test]
    fn commutative_merges_conflict_only_with_puts_and_deletes() {
        let mut idx = RecentCommits::new(1 << 20);
        idx.record(0, b"n", ValueKind::Merge, 10);
        let mut t = intent(5);
        t.writes.push(write(b"n", WriteClass::CommutativeMerge));
        assert!(idx.check(&t).is_ok());
        idx.record(0, b"n", ValueKind::Delete, 11);
        assert_eq!(idx.check(&t).unwrap_err().kind, ConflictKind::WriteWrite);
    }

    #[test]
    fn ranges_see_keys_inside_them_only() {
        let mut idx = RecentCommits::new(1 << 20);
        idx.record(0, b"m", ValueKind::Put, 10);
        let mut t = intent(5);
        let range = |lo: &'static [u8], hi: &'static [u8]| RangeRead {
            keyspace: 0,
            lower: Bound::Included(Bytes::from_static(lo)),
            upper: Bound::Excluded(Bytes::from_static(hi)),
        };
        t.ranges.push(range(b"a", b"m"));
        t.ranges.push(range(b"z", b"a")); // empty: never a panic
        assert!(idx.check(&t).is_ok());
        t.ranges.push(range(b"a", b"n"));
        assert_eq!(idx.check(&t).unwrap_err().kind, ConflictKind::Range);
    }

    #[test]
    fn eviction_raises_the_floor_and_old_snapshots_fail() {
        let mut idx = RecentCommits::new(10 * (ENTRY_OVERHEAD + 4));
        for i in 0..100u64 {
            idx.record(0, &(i as u32).to_be_bytes(), ValueKind::Put, i + 1);
        }
        assert!(idx.bytes() <= 10 * (ENTRY_OVERHEAD + 4));
        assert_eq!(idx.floor(), 90);
        assert_eq!(
            idx.check(&intent(89)).unwrap_err().kind,
            ConflictKind::TooOld
        );
        let mut t = intent(90);
        t.writes.push(write(b"\0\0\0\x63", WriteClass::Overwrite));
        assert_eq!(idx.check(&t).unwrap_err().kind, ConflictKind::WriteWrite);
    }

    #[test]
    fn forgetting_with_no_transaction_live_moves_the_floor() {
        let mut idx = RecentCommits::new(1 << 20);
        idx.record(0, b"k", ValueKind::Put, 3);
        idx.forget_through(7);
        assert_eq!(idx.floor(), 7);
        assert_eq!(idx.bytes(), 0);
        assert!(idx.check(&intent(7)).is_ok());
    }
}
