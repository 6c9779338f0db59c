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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

use crate::key::{InternalKey, SeqNo, ValueKind};

/// Bytes charged per entry on top of key and value: skiplist node, trailer.
const ENTRY_OVERHEAD: usize = 48;

/// Bytes of the user key held inline in each skiplist node.
const PREFIX_LEN: usize = 16;

/// The skiplist's key: an internal key plus the first [`PREFIX_LEN`] bytes
/// of its user key, big-endian and zero-padded, inline in the skiplist node.
///
/// Searches compare prefixes without following the user key's pointer or
/// calling `memcmp` (that pair was 37 % of `fillrandom`'s profile); keys
/// that fit in the prefix never need the full comparison. The order is
/// exactly the internal order: if two prefixes differ, they differ at a byte
/// where either both keys have a byte (so the keys differ there) or the
/// shorter key ran out (so it is a prefix of the other, and smaller). Equal
/// prefixes of keys that both fit are equal keys unless one is shorter.
#[derive(Clone, PartialEq, Eq)]
struct MemKey {
    prefix: u128,
    key: InternalKey,
}

impl MemKey {
    fn new(key: InternalKey) -> Self {
        let mut head = [0u8; PREFIX_LEN];
        let n = key.user_key.len().min(PREFIX_LEN);
        head[..n].copy_from_slice(&key.user_key[..n]);
        MemKey {
            prefix: u128::from_be_bytes(head),
            key,
        }
    }
}

impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.prefix.cmp(&other.prefix).then_with(|| {
            let (a, b) = (self.key.user_key.len(), other.key.user_key.len());
            if a <= PREFIX_LEN && b <= PREFIX_LEN {
                a.cmp(&b)
                    .then_with(|| other.key.trailer().cmp(&self.key.trailer()))
            } else {
                self.key.cmp(&other.key)
            }
        })
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

fn mem_bound(bound: Bound<InternalKey>) -> Bound<MemKey> {
    match bound {
        Bound::Included(k) => Bound::Included(MemKey::new(k)),
        Bound::Excluded(k) => Bound::Excluded(MemKey::new(k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A memtable. The active one takes writes; once sealed it is read-only and
/// waits to become a table.
pub(crate) struct MemTable {
    map: SkipMap<MemKey, Bytes>,
    size: AtomicUsize,
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

/// Memtables with at least this many entries are freed on the reclaim
/// thread rather than by whichever thread drops the last reference.
const RECLAIM_MIN_ENTRIES: usize = 4096;

/// The process-wide thread that frees large skiplists. Freeing a full
/// memtable (hundreds of thousands of nodes) takes tens of milliseconds,
/// and the last reference is often dropped by a reader or the writer, not
/// by the flush that retired it: without this, that reader or writer
/// stalls. `None` if the thread could not be started (memtables are then
/// freed in place).
fn reclaimer() -> Option<&'static Sender<SkipMap<MemKey, Bytes>>> {
    static RECLAIMER: OnceLock<Option<Sender<SkipMap<MemKey, Bytes>>>> = OnceLock::new();
    RECLAIMER
        .get_or_init(|| {
            let (tx, rx) = channel::<SkipMap<MemKey, Bytes>>();
            std::thread::Builder::new()
                .name("rillkv-reclaim".into())
                .spawn(move || rx.into_iter().for_each(drop))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

impl Drop for MemTable {
    fn drop(&mut self) {
        if self.map.len() < RECLAIM_MIN_ENTRIES {
            return;
        }
        let Some(reclaimer) = reclaimer() else {
            return;
        };
        let map = std::mem::replace(&mut self.map, SkipMap::new());
        // Should the thread have stopped, `send` hands the map back and it
        // is dropped here, as it would have been without a reclaimer.
        let _ = reclaimer.send(map);
    }
}

impl MemTable {
    pub(crate) fn new(wal_number: u64) -> Self {
        MemTable {
            map: SkipMap::new(),
            size: AtomicUsize::new(0),
            wal_number,
            first_wal: AtomicU64::new(u64::MAX),
            max_seqno: AtomicU64::new(0),
        }
    }

    /// Inserts one entry.
    pub(crate) fn insert(&self, user_key: Bytes, seqno: SeqNo, kind: ValueKind, value: Bytes) {
        let charge = user_key.len() + value.len() + ENTRY_OVERHEAD;
        self.map
            .insert(MemKey::new(InternalKey::new(user_key, seqno, kind)), value);
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
        let lo = MemKey::new(InternalKey::seek_key(key.clone(), snapshot));
        let hi = MemKey::new(InternalKey::new(key, 0, ValueKind::Delete));
        self.map
            .range(lo..=hi)
            .map(|e| (e.key().key.kind, e.key().key.seqno, e.value().clone()))
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
    lower: Bound<MemKey>,
    upper: Bound<MemKey>,
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
            lower: mem_bound(lower),
            upper: mem_bound(upper),
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
                self.buf.push_back((e.key().key.clone(), e.value().clone()));
            }
            match self.buf.back() {
                Some((k, _)) => self.upper = Bound::Excluded(MemKey::new(k.clone())),
                None => self.done = true,
            }
        } else {
            for e in self.mem.map.range(range).take(batch) {
                self.buf.push_back((e.key().key.clone(), e.value().clone()));
            }
            match self.buf.back() {
                Some((k, _)) => self.lower = Bound::Excluded(MemKey::new(k.clone())),
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
    use crate::key::{MAX_SEQNO, internal_lower, internal_upper};
    use proptest::prelude::*;

    fn arb_key() -> impl Strategy<Value = InternalKey> {
        // Short keys over a tiny alphabet with zeros: prefixes tie often,
        // and "a" vs "a\0" is the padding case.
        (
            prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', 0xff]), 0..20),
            0u64..4,
            0u8..3,
        )
            .prop_map(|(k, s, kind)| {
                InternalKey::new(Bytes::from(k), s, ValueKind::from_u8(kind).unwrap())
            })
    }

    proptest! {
        #[test]
        fn mem_key_orders_exactly_like_internal_key(a in arb_key(), b in arb_key()) {
            prop_assert_eq!(MemKey::new(a.clone()).cmp(&MemKey::new(b.clone())), a.cmp(&b));
        }

        #[test]
        fn mem_key_orders_keys_sharing_a_prefix(
            a in arb_key(),
            tail in prop::collection::vec(prop::sample::select(vec![0u8, b'a']), 0..6),
            cut in 0usize..20,
            seqno in 0u64..4,
        ) {
            // b extends or truncates a: equal prefixes of every length.
            let mut user = a.user_key.to_vec();
            user.truncate(cut.max(user.len().saturating_sub(3)));
            user.extend_from_slice(&tail);
            let b = InternalKey::new(Bytes::from(user), seqno, a.kind);
            prop_assert_eq!(MemKey::new(a.clone()).cmp(&MemKey::new(b.clone())), a.cmp(&b));
            prop_assert_eq!(MemKey::new(b.clone()).cmp(&MemKey::new(a.clone())), b.cmp(&a));
        }
    }

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
    fn a_large_memtable_is_freed_off_the_dropping_thread() {
        let m = MemTable::new(1);
        for i in 0..(RECLAIM_MIN_ENTRIES as u64 + 1) {
            m.insert(b(&format!("{i:08}")), i + 1, ValueKind::Put, b("v"));
        }
        let value = m.versions(b"00000007", MAX_SEQNO).next().map(|v| v.2);
        drop(m);
        // The values' bytes outlive the map they were read from.
        assert_eq!(value, Some(b("v")));
        assert!(reclaimer().is_some(), "the reclaim thread runs");
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
