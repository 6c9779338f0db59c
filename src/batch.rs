//! [`WriteBatch`]: several writes applied atomically, and its encoding.
//!
//! A batch is kept in its encoded form, the same bytes the WAL stores, so a
//! write copies each key and value once. The encoding is specified in
//! `docs/format/wal.md` ("WAL record payload: a write group").

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, MAX_SEQNO, SeqNo, ValueKind};

/// Set in an entry's kind byte when a keyspace id (u32) follows it; an
/// entry of the default keyspace has no id (its bytes are format 1's).
const IN_KEYSPACE: u8 = 0x80;

/// Size of the batch header: base sequence number (u64) and count (u32).
pub(crate) const HEADER_LEN: usize = 12;

/// A group of writes that is applied all or nothing, even across a crash.
///
/// ```
/// use rillkv::WriteBatch;
/// let mut batch = WriteBatch::new();
/// batch.put(b"a", b"1").delete(b"b");
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    /// Header (zeroed until commit) followed by the entries.
    rep: Vec<u8>,
    count: u32,
    /// A key or value did not fit the encoding's 4-byte length: the entry
    /// was left out and committing the batch fails.
    oversized: bool,
}

impl Default for WriteBatch {
    fn default() -> Self {
        WriteBatch::new()
    }
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("count", &self.count)
            .field("bytes", &self.rep.len())
            .finish()
    }
}

impl WriteBatch {
    /// An empty batch.
    ///
    /// ```
    /// let batch = rillkv::WriteBatch::new();
    /// assert!(batch.is_empty());
    /// assert_eq!(batch.len(), 0);
    /// ```
    pub fn new() -> Self {
        WriteBatch {
            rep: vec![0; HEADER_LEN],
            count: 0,
            oversized: false,
        }
    }

    /// Sets `key` to `value`. Returns the batch, so calls chain.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.put(b"a", b"1").put(b"b", b"2");
    /// db.write(batch)?;
    /// assert_eq!(db.get(b"b")?.as_deref(), Some(&b"2"[..]));
    /// # Ok(()) }
    /// ```
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.push(ValueKind::Put, key.as_ref(), value.as_ref())
    }

    /// Deletes `key`. Later writes in the same batch win: a `put` after the
    /// `delete` sets the key again.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.delete(b"a");
    /// db.write(batch)?;
    /// assert_eq!(db.get(b"a")?, None);
    /// # Ok(()) }
    /// ```
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.push(ValueKind::Delete, key.as_ref(), &[])
    }

    /// Adds a merge operand for `key`, combined with older versions by the
    /// database's merge operator. Committing a batch with merges fails with
    /// `InvalidArgument` when no merge operator is configured.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options, WriteBatch, merge::U64Add};
    /// let db = Db::open(dir.path(), Options::default().merge_operator(U64Add))?;
    /// let mut batch = WriteBatch::new();
    /// batch.merge(b"n", 5u64.to_le_bytes()).merge(b"n", 2u64.to_le_bytes());
    /// db.write(batch.clone())?;
    /// assert_eq!(db.get(b"n")?.as_deref(), Some(&7u64.to_le_bytes()[..]));
    /// db.close()?;
    ///
    /// // Without a merge operator the whole batch is refused.
    /// let db = Db::open(dir.path().join("plain"), Options::default())?;
    /// assert_eq!(db.write(batch).unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok(()) }
    /// ```
    pub fn merge(&mut self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> &mut Self {
        self.push(ValueKind::Merge, key.as_ref(), operand.as_ref())
    }

    /// Number of writes in the batch (each put, delete and merge counts,
    /// even several to one key).
    ///
    /// ```
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.put(b"a", b"1").put(b"a", b"2").delete(b"b");
    /// assert_eq!(batch.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the batch holds no writes. Writing an empty batch does
    /// nothing.
    ///
    /// ```
    /// let mut batch = rillkv::WriteBatch::new();
    /// assert!(batch.is_empty());
    /// batch.delete(b"a");
    /// assert!(!batch.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every write, keeping the allocation, so one batch can be
    /// reused.
    ///
    /// ```
    /// let mut batch = rillkv::WriteBatch::new();
    /// batch.put(b"a", b"1");
    /// batch.clear();
    /// assert!(batch.is_empty());
    /// assert_eq!(batch.approximate_size(), rillkv::WriteBatch::new().approximate_size());
    /// ```
    pub fn clear(&mut self) {
        self.rep.truncate(HEADER_LEN);
        self.count = 0;
    }

    /// Encoded size in bytes: about what the WAL will store for the batch,
    /// before the log's own framing.
    ///
    /// ```
    /// let mut batch = rillkv::WriteBatch::new();
    /// let empty = batch.approximate_size();
    /// batch.put(b"key", b"value");
    /// assert!(batch.approximate_size() >= empty + b"key".len() + b"value".len());
    /// ```
    pub fn approximate_size(&self) -> usize {
        self.rep.len()
    }

    fn push(&mut self, kind: ValueKind, key: &[u8], value: &[u8]) -> &mut Self {
        self.push_in(DEFAULT_KEYSPACE, kind, key, value)
    }

    /// Adds an entry for keyspace `keyspace`.
    pub(crate) fn push_in(
        &mut self,
        keyspace: KeyspaceId,
        kind: ValueKind,
        key: &[u8],
        value: &[u8],
    ) -> &mut Self {
        if u32::try_from(key.len()).is_err() || u32::try_from(value.len()).is_err() {
            self.oversized = true;
            return self;
        }
        self.rep.reserve(13 + key.len() + value.len());
        if keyspace == DEFAULT_KEYSPACE {
            self.rep.push(kind as u8);
        } else {
            self.rep.push(kind as u8 | IN_KEYSPACE);
            self.rep.extend_from_slice(&keyspace.to_le_bytes());
        }
        self.rep
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.rep.extend_from_slice(key);
        self.rep
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.rep.extend_from_slice(value);
        self.count += 1;
        self
    }

    /// The encoded entries, without the header.
    pub(crate) fn entries_bytes(&self) -> &[u8] {
        self.rep.get(HEADER_LEN..).unwrap_or_default()
    }

    /// Whether an entry was left out for a key or value of 4 GiB or more.
    pub(crate) fn oversized(&self) -> bool {
        self.oversized
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// Whether any write of the batch is to `key` in `keyspace`.
    pub(crate) fn touches(&self, keyspace: KeyspaceId, key: &[u8]) -> bool {
        self.entries()
            .any(|e| e.is_ok_and(|e| e.keyspace == keyspace && e.key == key))
    }

    /// The decoded entries.
    pub(crate) fn entries(&self) -> BatchIter<'_> {
        BatchIter::new(self.entries_bytes(), self.count)
    }
}

/// Builds one WAL payload from several batches: header with the base
/// sequence number and total count, then every batch's entries in order.
pub(crate) fn encode_group(base: SeqNo, batches: &[&WriteBatch], out: &mut Vec<u8>) -> u32 {
    let count: u32 = batches.iter().map(|b| b.count).sum();
    out.clear();
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    for b in batches {
        out.extend_from_slice(b.entries_bytes());
    }
    count
}

/// One decoded entry of a batch payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchEntry<'a> {
    pub keyspace: KeyspaceId,
    pub kind: ValueKind,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// A decoded payload header.
pub(crate) fn decode_header(payload: &[u8]) -> Option<(SeqNo, u32, &[u8])> {
    let seq = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let count = u32::from_le_bytes(payload.get(8..12)?.try_into().ok()?);
    Some((seq, count, payload.get(HEADER_LEN..)?))
}

/// Iterates the entries of an encoded payload, checking every length.
pub(crate) struct BatchIter<'a> {
    rest: &'a [u8],
    remaining: u32,
}

/// Why an encoded payload did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadBatch(pub &'static str);

impl From<BadBatch> for Error {
    fn from(b: BadBatch) -> Error {
        Error::invalid(format!("malformed write batch: {}", b.0))
    }
}

impl<'a> BatchIter<'a> {
    pub(crate) fn new(entries: &'a [u8], count: u32) -> Self {
        BatchIter {
            rest: entries,
            remaining: count,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BadBatch> {
        if self.rest.len() < n {
            return Err(BadBatch("entry runs past the end"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn take_len(&mut self) -> Result<usize, BadBatch> {
        let b = self.take(4)?;
        let arr: [u8; 4] = b.try_into().map_err(|_| BadBatch("short length"))?;
        Ok(u32::from_le_bytes(arr) as usize)
    }

    fn decode_one(&mut self) -> Result<BatchEntry<'a>, BadBatch> {
        let tag = *self.take(1)?.first().ok_or(BadBatch("missing tag"))?;
        let kind = ValueKind::from_u8(tag & !IN_KEYSPACE).ok_or(BadBatch("unknown entry kind"))?;
        let keyspace = if tag & IN_KEYSPACE == 0 {
            DEFAULT_KEYSPACE
        } else {
            let id = self.take_len()? as KeyspaceId;
            if id == DEFAULT_KEYSPACE {
                // One spelling per entry: the default keyspace has no id.
                return Err(BadBatch("the default keyspace written with an id"));
            }
            id
        };
        let klen = self.take_len()?;
        let key = self.take(klen)?;
        let vlen = self.take_len()?;
        let value = self.take(vlen)?;
        Ok(BatchEntry {
            keyspace,
            kind,
            key,
            value,
        })
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchEntry<'a>, BadBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            if !self.rest.is_empty() {
                self.rest = &[];
                return Some(Err(BadBatch("trailing bytes after the last entry")));
            }
            return None;
        }
        self.remaining -= 1;
        match self.decode_one() {
            Ok(e) => Some(Ok(e)),
            Err(e) => {
                self.remaining = 0;
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The smallest encoded entry: kind (1), key length (4), value length (4).
const MIN_ENTRY_LEN: usize = 9;

/// One decoded entry with zero-copy key and value.
pub(crate) type OwnedEntry = (KeyspaceId, ValueKind, Bytes, Bytes);

/// Decodes a whole payload into owned entries; used by recovery.
pub(crate) fn decode_payload(payload: &Bytes) -> Result<(SeqNo, Vec<OwnedEntry>), BadBatch> {
    let (base, count, body) = decode_header(payload).ok_or(BadBatch("short header"))?;
    // Sequence numbers come from disk too: the group's last one must fit a
    // key's 56-bit trailer (a checksum-valid forged record must not wrap).
    let last = base.checked_add(u64::from(count.saturating_sub(1)));
    if last.is_none_or(|last| last > MAX_SEQNO) {
        return Err(BadBatch("sequence numbers out of range"));
    }
    // `count` comes from disk: reserve no more entries than the body can
    // hold (each takes at least a kind and two lengths), so a damaged count
    // near u32::MAX fails decoding instead of allocating hundreds of GiB.
    let fits = body.len() / MIN_ENTRY_LEN;
    let mut out = Vec::with_capacity((count as usize).min(fits));
    for e in BatchIter::new(body, count) {
        let e = e?;
        out.push((
            e.keyspace,
            e.kind,
            payload.slice_ref(e.key),
            payload.slice_ref(e.value),
        ));
    }
    Ok((base, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_past_the_trailer_are_rejected() {
        // Found by the `wal_recovery` fuzz target: checksum-valid groups
        // whose seqnos pass MAX_SEQNO (or overflow u64) were replayed.
        let mut b = WriteBatch::new();
        b.put(b"k", b"v").put(b"l", b"w");
        let mut out = Vec::new();
        for (base, ok) in [
            (1, true),
            (MAX_SEQNO - 1, true),
            (MAX_SEQNO, false),
            (u64::MAX, false),
        ] {
            encode_group(base, &[&b], &mut out);
            let got = decode_payload(&Bytes::from(out.clone()));
            assert_eq!(got.is_ok(), ok, "base {base}");
        }
    }

    #[test]
    fn golden_bytes_of_a_group_payload() {
        let mut b = WriteBatch::new();
        b.put(b"k", b"vv").delete(b"d");
        let mut out = Vec::new();
        let n = encode_group(7, &[&b], &mut out);
        assert_eq!(n, 2);
        #[rustfmt::skip]
        let want: &[u8] = &[
            7, 0, 0, 0, 0, 0, 0, 0, // base seqno
            2, 0, 0, 0,             // count
            1, 1, 0, 0, 0, b'k', 2, 0, 0, 0, b'v', b'v', // put k vv
            0, 1, 0, 0, 0, b'd', 0, 0, 0, 0,             // delete d
        ];
        assert_eq!(out, want);
        let (base, entries) = decode_payload(&Bytes::from(out)).unwrap();
        assert_eq!(base, 7);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].1, ValueKind::Put);
        assert_eq!(&entries[0].3[..], b"vv");
        assert_eq!(entries[1].1, ValueKind::Delete);
    }

    #[test]
    fn group_concatenates_batches_in_order() {
        let mut a = WriteBatch::new();
        a.put(b"a", b"1");
        let mut b = WriteBatch::new();
        b.put(b"b", b"2").merge(b"c", b"3");
        let mut out = Vec::new();
        assert_eq!(encode_group(100, &[&a, &b], &mut out), 3);
        let (_, entries) = decode_payload(&Bytes::from(out)).unwrap();
        let keys: Vec<&[u8]> = entries.iter().map(|e| &e.2[..]).collect();
        assert_eq!(keys, vec![&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn golden_bytes_of_an_entry_in_a_keyspace() {
        let mut b = WriteBatch::new();
        b.push_in(3, ValueKind::Merge, b"k", b"v");
        b.push_in(DEFAULT_KEYSPACE, ValueKind::Put, b"d", b"");
        let mut out = Vec::new();
        encode_group(1, &[&b], &mut out);
        #[rustfmt::skip]
        let want: &[u8] = &[
            1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
            0x82, 3, 0, 0, 0, 1, 0, 0, 0, b'k', 1, 0, 0, 0, b'v', // merge in keyspace 3
            1, 1, 0, 0, 0, b'd', 0, 0, 0, 0,                      // put in the default keyspace
        ];
        assert_eq!(out, want);
        let (_, entries) = decode_payload(&Bytes::from(out.clone())).unwrap();
        assert_eq!((entries[0].0, entries[0].1), (3, ValueKind::Merge));
        assert_eq!(
            (entries[1].0, entries[1].1),
            (DEFAULT_KEYSPACE, ValueKind::Put)
        );
        // Keyspace 0 spelled with an id is refused: one encoding per entry.
        let mut zero = out;
        zero[13..17].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode_payload(&Bytes::from(zero)).is_err());
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        let mut b = WriteBatch::new();
        b.put(b"key", b"value");
        let mut out = Vec::new();
        encode_group(1, &[&b], &mut out);
        for cut in 0..out.len() {
            let r = decode_payload(&Bytes::copy_from_slice(&out[..cut]));
            assert!(r.is_err(), "cut at {cut} decoded");
        }
        let mut huge = out.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            decode_payload(&Bytes::from(huge)).is_err(),
            "a count near u32::MAX fails decoding (without reserving for it)"
        );
        let mut bad = out.clone();
        bad[12] = 9; // unknown kind
        assert!(decode_payload(&Bytes::from(bad)).is_err());
        let mut extra = out;
        extra.push(0);
        assert!(decode_payload(&Bytes::from(extra)).is_err());
    }
}
