//! The memtable: recent writes in a lock-free skiplist, ordered by internal key.
//!
//! # Thread safety
//! Inserts come from one thread at a time (the commit leader); reads and
//! iterators run concurrently with them without locks.
//!
//! # Invariants
//! - Every entry's sequence number is unique across the database, so two
//!   entries never share an internal key.
//! - `approximate_size` only grows.

mod skiplist;

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::key::{InternalKey, SEEK_KIND, SeqNo, ValueKind, pack_trailer, unpack_trailer};
use skiplist::{Cursor, SkipList, Target};

/// A memtable. The active one takes writes; once sealed it is read-only and
/// waits to become a table.
pub(crate) struct MemTable {
    list: Arc<SkipList>,
    /// The WAL that was being written when this memtable was made: its
    /// writes are in this WAL or later ones, and the memtable made when it
    /// is sealed starts at the new WAL that sealing creates.
    wal_number: u64,
    /// The WAL its first write went to (`u64::MAX` while empty): the
    /// oldest WAL this memtable needs. Several trees share the WAL, so a
    /// memtable that stays empty while others rotate pins none.
    first_wal: AtomicU64,
    /// Largest sequence number inserted (0 when empty).
    max_seqno: AtomicU64,
}

impl MemTable {
    pub(crate) fn new(wal_number: u64) -> Self {
        MemTable {
            list: Arc::new(SkipList::new()),
            wal_number,
            first_wal: AtomicU64::new(u64::MAX),
            max_seqno: AtomicU64::new(0),
        }
    }

    /// Inserts one entry, copying the key and value into the memtable.
    pub(crate) fn insert(&self, user_key: &[u8], seqno: SeqNo, kind: ValueKind, value: &[u8]) {
        self.list.insert(user_key, pack_trailer(seqno, kind), value);
        self.max_seqno.fetch_max(seqno, Ordering::Release);
    }

    /// Every version of `user_key` with a sequence number `<= snapshot`,
    /// newest first.
    pub(crate) fn versions<'a>(
        &self,
        user_key: &'a [u8],
        snapshot: SeqNo,
    ) -> impl Iterator<Item = (ValueKind, SeqNo, Bytes)> + 'a {
        let mut cursor = Cursor::new(Arc::clone(&self.list));
        cursor.seek(&Target::new(user_key, pack_trailer(snapshot, SEEK_KIND)));
        std::iter::from_fn(move || {
            let (key, trailer, value) = cursor.entry()?;
            if key != user_key {
                return None;
            }
            let (seqno, kind) = unpack_trailer(trailer)?;
            let version = (kind, seqno, Bytes::copy_from_slice(value));
            cursor.next();
            Some(version)
        })
    }

    /// Bytes the entries take: keys, values and the skiplist's nodes.
    pub(crate) fn approximate_size(&self) -> usize {
        self.list.bytes()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn wal_number(&self) -> u64 {
        self.wal_number
    }

    /// Records that writes go to WAL `number` from now on, before they are
    /// inserted; only the first call counts. REQUIRES: the WAL lock.
    pub(crate) fn note_wal(&self, number: u64) {
        if self.first_wal.load(Ordering::Relaxed) == u64::MAX {
            self.first_wal.store(number, Ordering::Release);
        }
    }

    /// The oldest WAL holding writes of this memtable, or `None` if none
    /// was written (see [`MemTable::note_wal`]); recovery's memtables count
    /// their own WAL.
    pub(crate) fn first_wal(&self) -> Option<u64> {
        match self.first_wal.load(Ordering::Acquire) {
            u64::MAX if self.is_empty() => None,
            u64::MAX => Some(self.wal_number),
            n => Some(n),
        }
    }

    pub(crate) fn max_seqno(&self) -> SeqNo {
        self.max_seqno.load(Ordering::Acquire)
    }
}

/// An internal-key bound, owned: the iterator compares each entry with it.
struct Limit {
    key: Bytes,
    trailer: u64,
    inclusive: bool,
}

impl Limit {
    fn new(bound: Bound<InternalKey>) -> Option<Limit> {
        let (key, inclusive) = match bound {
            Bound::Included(k) => (k, true),
            Bound::Excluded(k) => (k, false),
            Bound::Unbounded => return None,
        };
        Some(Limit {
            trailer: key.trailer(),
            key: key.user_key,
            inclusive,
        })
    }

    fn target(&self) -> Target<'_> {
        Target::new(&self.key, self.trailer)
    }
}

/// An owned iterator over a memtable's entries within internal-key bounds,
/// in one direction: a live cursor on the skiplist (it owns an `Arc` of
/// it), so a seek costs one search and each step forward one pointer;
/// each step back is a search. Keys and values are copied out as they are
/// yielded.
pub(crate) struct MemIter {
    cursor: Cursor,
    lower: Option<Limit>,
    upper: Option<Limit>,
    reverse: bool,
    started: bool,
    /// Past the last entry or the bound: stays there.
    done: bool,
    /// The user key last yielded: the versions of one key share it rather
    /// than each copying it.
    last_key: Bytes,
}

impl MemIter {
    pub(crate) fn new(
        mem: Arc<MemTable>,
        lower: Bound<InternalKey>,
        upper: Bound<InternalKey>,
        reverse: bool,
    ) -> Self {
        MemIter {
            cursor: Cursor::new(Arc::clone(&mem.list)),
            lower: Limit::new(lower),
            upper: Limit::new(upper),
            reverse,
            started: false,
            done: false,
            last_key: Bytes::new(),
        }
    }

    /// Positions the cursor at the first entry in the iteration order.
    fn start(&mut self) {
        if self.reverse {
            match &self.upper {
                Some(u) => self.cursor.seek_before(&u.target(), u.inclusive),
                None => self.cursor.seek_to_last(),
            }
        } else {
            match &self.lower {
                Some(l) => {
                    self.cursor.seek(&l.target());
                    if !l.inclusive && self.cursor.compare(&l.target()).is_eq() {
                        self.cursor.next();
                    }
                }
                None => self.cursor.seek_to_first(),
            }
        }
    }

    /// Whether the cursor's entry is within the bound it moves towards.
    fn in_bounds(&self) -> bool {
        if self.reverse {
            self.lower
                .as_ref()
                .is_none_or(|l| match self.cursor.compare(&l.target()) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Equal => l.inclusive,
                    std::cmp::Ordering::Less => false,
                })
        } else {
            self.upper
                .as_ref()
                .is_none_or(|u| match self.cursor.compare(&u.target()) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Equal => u.inclusive,
                    std::cmp::Ordering::Greater => false,
                })
        }
    }
}

impl Iterator for MemIter {
    type Item = (InternalKey, Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.started {
            if self.reverse {
                self.cursor.prev();
            } else {
                self.cursor.next();
            }
        } else {
            self.started = true;
            self.start();
        }
        if !self.cursor.valid() || !self.in_bounds() {
            self.done = true;
            return None;
        }
        let (key, trailer, value) = self.cursor.entry()?;
        let (seqno, kind) = unpack_trailer(trailer)?;
        if key != self.last_key {
            self.last_key = Bytes::copy_from_slice(key);
        }
        Some((
            InternalKey::new(self.last_key.clone(), seqno, kind),
            Bytes::copy_from_slice(value),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{MAX_SEQNO, internal_lower, internal_upper};
    use proptest::prelude::*;

    fn arb_key() -> impl Strategy<Value = InternalKey> {
        // Short keys over a tiny alphabet with zeros: prefixes tie often,
        // "a" vs "a\0" is the padding case, and some keys pass the 16
        // bytes the skiplist holds in its nodes.
        (
            prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', 0xff]), 0..20),
            0u64..6,
            0u8..3,
        )
            .prop_map(|(k, s, kind)| {
                InternalKey::new(Bytes::from(k), s, ValueKind::from_u8(kind).unwrap())
            })
    }

    fn arb_bound() -> impl Strategy<Value = Bound<InternalKey>> {
        prop_oneof![
            Just(Bound::Unbounded),
            arb_key().prop_map(Bound::Included),
            arb_key().prop_map(Bound::Excluded),
        ]
    }

    proptest! {
        /// A memtable iterates, in both directions and within any bounds,
        /// exactly the entries a sorted set of internal keys holds.
        #[test]
        fn iterates_like_a_sorted_set(
            keys in prop::collection::vec(arb_key(), 0..80),
            lower in arb_bound(),
            upper in arb_bound(),
        ) {
            let mem = Arc::new(MemTable::new(1));
            let mut model = std::collections::BTreeSet::new();
            for k in keys {
                if model.insert(k.clone()) {
                    mem.insert(&k.user_key, k.seqno, k.kind, &k.seqno.to_le_bytes());
                }
            }
            let want: Vec<InternalKey> = model
                .iter()
                .filter(|k| match &lower {
                    Bound::Included(l) => *k >= l,
                    Bound::Excluded(l) => *k > l,
                    Bound::Unbounded => true,
                })
                .filter(|k| match &upper {
                    Bound::Included(u) => *k <= u,
                    Bound::Excluded(u) => *k < u,
                    Bound::Unbounded => true,
                })
                .cloned()
                .collect();
            let fwd: Vec<InternalKey> =
                MemIter::new(Arc::clone(&mem), lower.clone(), upper.clone(), false)
                    .map(|(k, v)| {
                        assert_eq!(v, Bytes::copy_from_slice(&k.seqno.to_le_bytes()));
                        k
                    })
                    .collect();
            prop_assert_eq!(&fwd, &want);
            let mut rev: Vec<InternalKey> =
                MemIter::new(mem, lower, upper, true).map(|(k, _)| k).collect();
            rev.reverse();
            prop_assert_eq!(&rev, &want);
        }
    }

    #[test]
    fn versions_are_the_visible_ones_newest_first() {
        let m = MemTable::new(1);
        m.insert(b"k", 1, ValueKind::Put, b"v1");
        m.insert(b"k", 3, ValueKind::Merge, b"v3");
        m.insert(b"k", 5, ValueKind::Delete, b"");
        let seqs = |key: &[u8], snap| m.versions(key, snap).map(|v| v.1).collect::<Vec<_>>();
        assert_eq!(seqs(b"k", 0), Vec::<SeqNo>::new());
        assert_eq!(seqs(b"k", 2), vec![1]);
        assert_eq!(seqs(b"k", 4), vec![3, 1]);
        assert_eq!(seqs(b"k", 9), vec![5, 3, 1]);
        assert!(seqs(b"j", 9).is_empty());
        assert!(seqs(b"ka", 9).is_empty());
        assert_eq!(
            m.versions(b"k", 4).next(),
            Some((ValueKind::Merge, 3, Bytes::from_static(b"v3")))
        );
        assert!(m.approximate_size() > 0);
    }

    #[test]
    fn values_outlive_their_memtable() {
        let m = MemTable::new(1);
        for i in 0..10_000u64 {
            m.insert(format!("{i:08}").as_bytes(), i + 1, ValueKind::Put, b"v");
        }
        let value = m.versions(b"00000007", MAX_SEQNO).next().map(|v| v.2);
        drop(m);
        assert_eq!(value, Some(Bytes::from_static(b"v")));
    }

    #[test]
    fn iterates_both_ways_within_bounds() {
        let m = Arc::new(MemTable::new(1));
        for i in 0..500u64 {
            m.insert(format!("{i:04}").as_bytes(), i + 1, ValueKind::Put, b"v");
        }
        let fwd: Vec<_> = MemIter::new(Arc::clone(&m), Bound::Unbounded, Bound::Unbounded, false)
            .map(|(k, _)| k.seqno)
            .collect();
        assert_eq!(fwd, (1..=500).collect::<Vec<_>>());
        let lo = Bytes::from_static(b"0100");
        let hi = Bytes::from_static(b"0200");
        let rev: Vec<_> = MemIter::new(
            m,
            internal_lower(Bound::Included(&lo)),
            internal_upper(Bound::Excluded(&hi)),
            true,
        )
        .map(|(k, _)| k.seqno)
        .collect();
        assert_eq!(rev, (101..=200).rev().collect::<Vec<_>>());
    }
}
