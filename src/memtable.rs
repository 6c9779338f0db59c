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

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

use crate::key::{InternalKey, MAX_SEQNO, SeqNo, ValueKind};

/// Bytes charged per entry on top of key and value: skiplist node, trailer.
const ENTRY_OVERHEAD: usize = 48;

/// A memtable. The active one takes writes; once sealed it is read-only and
/// waits to become a table.
pub(crate) struct MemTable {
    map: SkipMap<InternalKey, Bytes>,
    size: AtomicUsize,
    /// The WAL that holds this memtable's writes.
    wal_number: u64,
    /// Largest sequence number inserted (0 when empty).
    max_seqno: AtomicU64,
}

impl MemTable {
    pub(crate) fn new(wal_number: u64) -> Self {
        MemTable {
            map: SkipMap::new(),
            size: AtomicUsize::new(0),
            wal_number,
            max_seqno: AtomicU64::new(0),
        }
    }

    /// Inserts one entry.
    pub(crate) fn insert(&self, user_key: Bytes, seqno: SeqNo, kind: ValueKind, value: Bytes) {
        let charge = user_key.len() + value.len() + ENTRY_OVERHEAD;
        self.map
            .insert(InternalKey::new(user_key, seqno, kind), value);
        self.size.fetch_add(charge, Ordering::Relaxed);
        self.max_seqno.fetch_max(seqno, Ordering::Release);
    }

    /// Every version of `user_key` with a sequence number `<= snapshot`,
    /// newest first.
    pub(crate) fn versions(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
    ) -> impl Iterator<Item = (ValueKind, SeqNo, Bytes)> + '_ {
        let key = Bytes::copy_from_slice(user_key);
        let lo = InternalKey::seek_key(key.clone(), snapshot);
        let hi = InternalKey::new(key, 0, ValueKind::Delete);
        self.map
            .range(lo..=hi)
            .map(|e| (e.key().kind, e.key().seqno, e.value().clone()))
    }

    pub(crate) fn approximate_size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn wal_number(&self) -> u64 {
        self.wal_number
    }

    pub(crate) fn max_seqno(&self) -> SeqNo {
        self.max_seqno.load(Ordering::Acquire)
    }
}

/// Converts user-key bounds into internal-key bounds covering every version.
pub(crate) fn internal_lower(bound: Bound<&Bytes>) -> Bound<InternalKey> {
    match bound {
        Bound::Included(k) => {
            Bound::Included(InternalKey::new(k.clone(), MAX_SEQNO, ValueKind::Merge))
        }
        Bound::Excluded(k) => Bound::Excluded(InternalKey::new(k.clone(), 0, ValueKind::Delete)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Converts user-key bounds into internal-key bounds covering every version.
pub(crate) fn internal_upper(bound: Bound<&Bytes>) -> Bound<InternalKey> {
    match bound {
        Bound::Included(k) => Bound::Included(InternalKey::new(k.clone(), 0, ValueKind::Delete)),
        Bound::Excluded(k) => {
            Bound::Excluded(InternalKey::new(k.clone(), MAX_SEQNO, ValueKind::Merge))
        }
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Entries fetched by the first refill of a [`MemIter`]: a seek followed by
/// a few `next`s (the common short scan) copies little.
const FIRST_REFILL: usize = 8;

/// The most entries fetched per refill: each later refill doubles up to it,
/// so long scans re-seek rarely.
const REFILL: usize = 64;

/// An owned iterator over a memtable's entries within internal-key bounds,
/// in one direction. It holds an `Arc` to the memtable and re-seeks after
/// each batch it copies ([`FIRST_REFILL`] entries, doubling up to
/// [`REFILL`]), so it borrows nothing.
pub(crate) struct MemIter {
    mem: Arc<MemTable>,
    lower: Bound<InternalKey>,
    upper: Bound<InternalKey>,
    reverse: bool,
    buf: VecDeque<(InternalKey, Bytes)>,
    /// Entries the next refill copies.
    batch: usize,
    done: bool,
}

impl MemIter {
    pub(crate) fn new(
        mem: Arc<MemTable>,
        lower: Bound<InternalKey>,
        upper: Bound<InternalKey>,
        reverse: bool,
    ) -> Self {
        MemIter {
            mem,
            lower,
            upper,
            reverse,
            buf: VecDeque::with_capacity(FIRST_REFILL),
            batch: FIRST_REFILL,
            done: false,
        }
    }

    fn refill(&mut self) {
        let range = (self.lower.clone(), self.upper.clone());
        let batch = self.batch;
        self.batch = (batch * 2).min(REFILL);
        if self.reverse {
            for e in self.mem.map.range(range).rev().take(batch) {
                self.buf.push_back((e.key().clone(), e.value().clone()));
            }
            match self.buf.back() {
                Some((k, _)) => self.upper = Bound::Excluded(k.clone()),
                None => self.done = true,
            }
        } else {
            for e in self.mem.map.range(range).take(batch) {
                self.buf.push_back((e.key().clone(), e.value().clone()));
            }
            match self.buf.back() {
                Some((k, _)) => self.lower = Bound::Excluded(k.clone()),
                None => self.done = true,
            }
        }
    }
}

impl Iterator for MemIter {
    type Item = (InternalKey, Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() && !self.done {
            self.refill();
        }
        self.buf.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn versions_are_the_visible_ones_newest_first() {
        let m = MemTable::new(1);
        m.insert(b("k"), 1, ValueKind::Put, b("v1"));
        m.insert(b("k"), 3, ValueKind::Merge, b("v3"));
        m.insert(b("k"), 5, ValueKind::Delete, Bytes::new());
        let seqs = |key: &[u8], snap| m.versions(key, snap).map(|v| v.1).collect::<Vec<_>>();
        assert_eq!(seqs(b"k", 0), Vec::<SeqNo>::new());
        assert_eq!(seqs(b"k", 2), vec![1]);
        assert_eq!(seqs(b"k", 4), vec![3, 1]);
        assert_eq!(seqs(b"k", 9), vec![5, 3, 1]);
        assert!(seqs(b"j", 9).is_empty());
        assert!(seqs(b"ka", 9).is_empty());
        assert_eq!(
            m.versions(b"k", 4).next(),
            Some((ValueKind::Merge, 3, b("v3")))
        );
        assert!(m.approximate_size() > 0);
    }

    #[test]
    fn iterates_both_ways_across_refills() {
        let m = Arc::new(MemTable::new(1));
        for i in 0..500u64 {
            m.insert(b(&format!("{i:04}")), i + 1, ValueKind::Put, b("v"));
        }
        let fwd: Vec<_> = MemIter::new(Arc::clone(&m), Bound::Unbounded, Bound::Unbounded, false)
            .map(|(k, _)| k.seqno)
            .collect();
        assert_eq!(fwd, (1..=500).collect::<Vec<_>>());
        let lo = b("0100");
        let hi = b("0200");
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
