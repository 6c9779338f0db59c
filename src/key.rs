//! Sequence numbers, value kinds and the internal key order.
//!
//! An *internal key* is `(user_key, seqno, kind)`. Internal keys order by user
//! key ascending, then seqno descending, so that for one user key the newest
//! version comes first. Encoded on disk (tables) as the user key followed by
//! an 8-byte little-endian trailer `seqno << 8 | kind`; see
//! `docs/format/table.md`.

use std::cmp::Ordering;

use bytes::Bytes;

/// A sequence number. Every write (every entry of a batch) gets the next one.
pub type SeqNo = u64;

/// The largest sequence number that fits in an internal-key trailer.
pub const MAX_SEQNO: SeqNo = (1 << 56) - 1;

/// A keyspace's number: given once at creation, never reused (a dropped
/// keyspace's writes may still sit in a WAL). On disk in WAL entries and
/// manifest edits.
pub(crate) type KeyspaceId = u32;

/// The keyspace every database has, named `default`: what the verbs of
/// `Db` act on, and what every write of a format-1 database belongs to.
pub(crate) const DEFAULT_KEYSPACE: KeyspaceId = 0;

/// What an entry does to its key.
///
/// On disk: never renumber. Retired tags stay listed here as comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key has no value from here on (older versions hidden).
    Delete = 0,
    /// A full value that replaces everything older.
    Put = 1,
    /// A merge operand, combined with older versions by the merge operator.
    Merge = 2,
}

impl ValueKind {
    /// Decodes a persisted tag; `None` for an unknown tag (corruption).
    pub fn from_u8(tag: u8) -> Option<ValueKind> {
        match tag {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            2 => Some(ValueKind::Merge),
            _ => None,
        }
    }
}

/// An owned internal key, as held by the memtable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalKey {
    /// The key the user wrote.
    pub user_key: Bytes,
    /// The write's sequence number.
    pub seqno: SeqNo,
    /// The write's kind.
    pub kind: ValueKind,
}

impl InternalKey {
    /// Builds an internal key.
    pub fn new(user_key: Bytes, seqno: SeqNo, kind: ValueKind) -> Self {
        InternalKey {
            user_key,
            seqno,
            kind,
        }
    }

    /// The smallest internal key for `user_key` visible at `seqno`: seeking
    /// to it lands on the newest version with a sequence number `<= seqno`.
    #[cfg(test)]
    pub fn seek_key(user_key: Bytes, seqno: SeqNo) -> Self {
        InternalKey::new(user_key, seqno, SEEK_KIND)
    }

    /// The packed trailer `seqno << 8 | kind`.
    pub fn trailer(&self) -> u64 {
        pack_trailer(self.seqno, self.kind)
    }
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal(
            &self.user_key,
            self.trailer(),
            &other.user_key,
            other.trailer(),
        )
    }
}

impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The kind of a seek key: the largest, so that its trailer is the largest
/// of `seqno`'s and the seek lands on a version at `seqno` itself.
pub(crate) const SEEK_KIND: ValueKind = ValueKind::Merge;

/// Packs a sequence number and kind into the 8-byte trailer.
pub fn pack_trailer(seqno: SeqNo, kind: ValueKind) -> u64 {
    debug_assert!(seqno <= MAX_SEQNO);
    (seqno << 8) | kind as u64
}

/// Splits a trailer into sequence number and kind; `None` for an unknown kind.
pub fn unpack_trailer(trailer: u64) -> Option<(SeqNo, ValueKind)> {
    let kind = ValueKind::from_u8((trailer & 0xff) as u8)?;
    Some((trailer >> 8, kind))
}

/// The internal order: user key ascending, then trailer descending.
pub fn compare_internal(a_key: &[u8], a_trailer: u64, b_key: &[u8], b_trailer: u64) -> Ordering {
    a_key.cmp(b_key).then_with(|| b_trailer.cmp(&a_trailer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ik(k: &str, s: SeqNo, kind: ValueKind) -> InternalKey {
        InternalKey::new(Bytes::copy_from_slice(k.as_bytes()), s, kind)
    }

    #[test]
    fn orders_user_key_then_newest_first() {
        let mut keys = [
            ik("b", 1, ValueKind::Put),
            ik("a", 1, ValueKind::Put),
            ik("a", 5, ValueKind::Delete),
            ik("a", 3, ValueKind::Merge),
        ];
        keys.sort();
        let got: Vec<(String, SeqNo)> = keys
            .iter()
            .map(|k| (String::from_utf8_lossy(&k.user_key).into_owned(), k.seqno))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), 5),
                ("a".into(), 3),
                ("a".into(), 1),
                ("b".into(), 1)
            ]
        );
    }

    #[test]
    fn seek_key_precedes_every_visible_version() {
        let seek = InternalKey::seek_key(Bytes::from_static(b"a"), 3);
        assert!(seek <= ik("a", 3, ValueKind::Merge));
        assert!(seek < ik("a", 3, ValueKind::Put));
        assert!(seek < ik("a", 2, ValueKind::Delete));
        assert!(seek > ik("a", 4, ValueKind::Put));
    }

    #[test]
    fn trailer_round_trips_and_tags_are_frozen() {
        assert_eq!(ValueKind::Delete as u8, 0);
        assert_eq!(ValueKind::Put as u8, 1);
        assert_eq!(ValueKind::Merge as u8, 2);
        let t = pack_trailer(MAX_SEQNO, ValueKind::Merge);
        assert_eq!(unpack_trailer(t), Some((MAX_SEQNO, ValueKind::Merge)));
        assert_eq!(unpack_trailer(7), None);
    }
}

// ---------------------------------------------------------------------------
// Bounds: user-key ranges as the read path and compaction need them.

/// User-key bounds, owned.
pub(crate) type UserBounds = (std::ops::Bound<Bytes>, std::ops::Bound<Bytes>);

/// Copies a range's bounds into owned user-key bounds.
pub(crate) fn owned_bounds<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(range: &R) -> UserBounds {
    use std::ops::Bound;
    let own = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k.as_ref())),
        Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k.as_ref())),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

/// The bounds of every key starting with `prefix`.
pub(crate) fn prefix_bounds(prefix: &[u8]) -> UserBounds {
    use std::ops::Bound;
    let lower = Bound::Included(Bytes::copy_from_slice(prefix));
    let upper = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (lower, upper)
}

/// The smallest key greater than every key starting with `prefix`, or
/// `None` when no such key exists (the prefix is all `0xff`).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Bytes> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(Bytes::from(end));
        }
    }
    None
}

/// Whether the user-key range `[smallest, largest]` meets the bounds.
pub(crate) fn range_meets(
    (lower, upper): (&std::ops::Bound<Bytes>, &std::ops::Bound<Bytes>),
    smallest: &[u8],
    largest: &[u8],
) -> bool {
    use std::ops::Bound;
    let above_lower = match lower {
        Bound::Included(l) => largest >= l.as_ref(),
        Bound::Excluded(l) => largest > l.as_ref(),
        Bound::Unbounded => true,
    };
    let below_upper = match upper {
        Bound::Included(u) => smallest <= u.as_ref(),
        Bound::Excluded(u) => smallest < u.as_ref(),
        Bound::Unbounded => true,
    };
    above_lower && below_upper
}

/// Converts a user-key lower bound into an internal-key bound covering
/// every version.
pub(crate) fn internal_lower(bound: std::ops::Bound<&Bytes>) -> std::ops::Bound<InternalKey> {
    use std::ops::Bound;
    match bound {
        Bound::Included(k) => {
            Bound::Included(InternalKey::new(k.clone(), MAX_SEQNO, ValueKind::Merge))
        }
        Bound::Excluded(k) => Bound::Excluded(InternalKey::new(k.clone(), 0, ValueKind::Delete)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Converts a user-key upper bound into an internal-key bound covering
/// every version.
pub(crate) fn internal_upper(bound: std::ops::Bound<&Bytes>) -> std::ops::Bound<InternalKey> {
    use std::ops::Bound;
    match bound {
        Bound::Included(k) => Bound::Included(InternalKey::new(k.clone(), 0, ValueKind::Delete)),
        Bound::Excluded(k) => {
            Bound::Excluded(InternalKey::new(k.clone(), MAX_SEQNO, ValueKind::Merge))
        }
        Bound::Unbounded => Bound::Unbounded,
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;
    use std::ops::Bound;

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab").as_deref(), Some(&b"ac"[..]));
        assert_eq!(prefix_successor(b"a\xff").as_deref(), Some(&b"b"[..]));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn range_meets_respects_every_bound_kind() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        let inc = Bound::Included(b("c"));
        let exc = Bound::Excluded(b("c"));
        let all = Bound::Unbounded;
        assert!(range_meets((&inc, &all), b"a", b"c"));
        assert!(!range_meets((&exc, &all), b"a", b"c"));
        assert!(range_meets((&all, &inc), b"c", b"d"));
        assert!(!range_meets((&all, &exc), b"c", b"d"));
        assert!(range_meets((&all, &all), b"", b""));
    }
}
