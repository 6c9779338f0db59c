//! [`TableProperties`]: what a table holds, recorded in its properties
//! block. Encoding: `docs/format/table.md`, "Properties block".

#![deny(clippy::indexing_slicing)]

use bytes::Bytes;

use super::coding::Cursor;
use super::compression::{Compression, CompressionType};
use crate::key::{InternalKey, SeqNo, ValueKind};

/// The properties encoding version this code writes and reads.
pub(crate) const PROPERTIES_VERSION: u32 = 1;

/// Facts about one table, fixed when it is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TableProperties {
    /// The smallest user key (empty if the table is empty).
    pub smallest_user_key: Bytes,
    /// The largest user key (empty if the table is empty).
    pub largest_user_key: Bytes,
    /// The smallest sequence number of any entry (0 if empty).
    pub min_seqno: SeqNo,
    /// The largest sequence number of any entry (0 if empty).
    pub max_seqno: SeqNo,
    /// Entries (versions) of every kind.
    pub entries: u64,
    /// Entries of kind `Delete`.
    pub tombstones: u64,
    /// Entries of kind `Merge`.
    pub merge_operands: u64,
    /// Bytes of encoded internal keys (user key + 8-byte trailer each)
    /// before prefix compression.
    pub raw_key_bytes: u64,
    /// Bytes of values before compression.
    pub raw_value_bytes: u64,
    /// Data blocks.
    pub data_blocks: u64,
    /// Bytes the data blocks occupy in the file, trailers included.
    pub data_size: u64,
    /// The compression the writer was configured with (single blocks may
    /// still be stored uncompressed).
    pub compression: Compression,
    /// Filter bits per key; 0 if the table has no filter.
    pub filter_bits_per_key: u32,
}

impl TableProperties {
    /// Accounts for one added entry. REQUIRES: entries arrive in internal
    /// key order.
    pub(crate) fn observe(&mut self, key: &InternalKey, value_len: usize) {
        if self.entries == 0 {
            self.smallest_user_key = key.user_key.clone();
            self.min_seqno = key.seqno;
            self.max_seqno = key.seqno;
        }
        if self.largest_user_key != key.user_key {
            self.largest_user_key = key.user_key.clone();
        }
        self.min_seqno = self.min_seqno.min(key.seqno);
        self.max_seqno = self.max_seqno.max(key.seqno);
        self.entries += 1;
        match key.kind {
            ValueKind::Delete => self.tombstones += 1,
            ValueKind::Merge => self.merge_operands += 1,
            ValueKind::Put => {}
        }
        self.raw_key_bytes += key.user_key.len() as u64 + 8;
        self.raw_value_bytes += value_len as u64;
    }

    /// The length of [`TableProperties::encode`]'s output.
    pub(crate) fn encoded_len(&self) -> usize {
        4 + 4 + self.smallest_user_key.len() + 4 + self.largest_user_key.len() + 9 * 8 + 1 + 4 + 4
    }

    /// The properties block contents.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        buf.extend_from_slice(&PROPERTIES_VERSION.to_le_bytes());
        for key in [&self.smallest_user_key, &self.largest_user_key] {
            // User keys are shorter than 4 GiB (the writer checks).
            buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
            buf.extend_from_slice(key);
        }
        for v in [
            self.min_seqno,
            self.max_seqno,
            self.entries,
            self.tombstones,
            self.merge_operands,
            self.raw_key_bytes,
            self.raw_value_bytes,
            self.data_blocks,
            self.data_size,
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        let (ty, level) = match self.compression {
            Compression::None => (CompressionType::None, 0),
            Compression::Zstd { level } => (CompressionType::Zstd, level),
            Compression::Lz4 => (CompressionType::Lz4, 0),
        };
        buf.push(ty as u8);
        buf.extend_from_slice(&level.to_le_bytes());
        buf.extend_from_slice(&self.filter_bits_per_key.to_le_bytes());
        buf
    }

    /// Decodes a properties block.
    ///
    /// # Errors
    /// A description of the damage: unknown version, truncation, trailing
    /// bytes, an unknown compression type, or inconsistent counts.
    pub(crate) fn decode(block: &Bytes) -> Result<TableProperties, &'static str> {
        let mut c = Cursor::new(block, 0);
        let short = "properties block truncated";
        if c.u32().ok_or(short)? != PROPERTIES_VERSION {
            return Err(
                "unsupported properties version (if a newer rillkv wrote it, open the \
                 database with that version)",
            );
        }
        let mut key = || -> Result<Bytes, &'static str> {
            let len = c.u32().ok_or(short)? as usize;
            let start = c.pos();
            c.bytes(len).ok_or(short)?;
            Ok(block.slice(start..start + len))
        };
        let smallest_user_key = key()?;
        let largest_user_key = key()?;
        let mut u64s = [0u64; 9];
        for v in &mut u64s {
            *v = c.u64().ok_or(short)?;
        }
        let [
            min_seqno,
            max_seqno,
            entries,
            tombstones,
            merge_operands,
            raw_key_bytes,
            raw_value_bytes,
            data_blocks,
            data_size,
        ] = u64s;
        let ty = c.u8().ok_or(short)?;
        let level = c.i32().ok_or(short)?;
        let compression = match CompressionType::from_u8(ty) {
            Some(CompressionType::None) => Compression::None,
            Some(CompressionType::Zstd) => Compression::Zstd { level },
            Some(CompressionType::Lz4) => Compression::Lz4,
            None => return Err("unknown compression type in properties"),
        };
        let filter_bits_per_key = c.u32().ok_or(short)?;
        if !c.is_at_end() {
            return Err("trailing bytes in properties block");
        }
        if tombstones
            .checked_add(merge_operands)
            .is_none_or(|n| n > entries)
            || min_seqno > max_seqno
            || smallest_user_key > largest_user_key
        {
            return Err("inconsistent table properties");
        }
        Ok(TableProperties {
            smallest_user_key,
            largest_user_key,
            min_seqno,
            max_seqno,
            entries,
            tombstones,
            merge_operands,
            raw_key_bytes,
            raw_value_bytes,
            data_blocks,
            data_size,
            compression,
            filter_bits_per_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TableProperties {
        let mut p = TableProperties {
            compression: Compression::Zstd { level: 3 },
            filter_bits_per_key: 10,
            data_blocks: 1,
            data_size: 77,
            ..TableProperties::default()
        };
        let ik = |k: &'static [u8], s, kind| InternalKey::new(Bytes::from_static(k), s, kind);
        p.observe(&ik(b"a", 9, ValueKind::Put), 3);
        p.observe(&ik(b"a", 4, ValueKind::Merge), 1);
        p.observe(&ik(b"b", 7, ValueKind::Delete), 0);
        p
    }

    #[test]
    fn observe_tracks_range_and_counts() {
        let p = sample();
        assert_eq!(&p.smallest_user_key[..], b"a");
        assert_eq!(&p.largest_user_key[..], b"b");
        assert_eq!((p.min_seqno, p.max_seqno), (4, 9));
        assert_eq!((p.entries, p.tombstones, p.merge_operands), (3, 1, 1));
        assert_eq!((p.raw_key_bytes, p.raw_value_bytes), (27, 4));
    }

    #[test]
    fn golden_bytes_and_round_trip() {
        let p = sample();
        let bytes = p.encode();
        let mut expected = vec![1, 0, 0, 0, 1, 0, 0, 0, b'a', 1, 0, 0, 0, b'b'];
        for v in [4u64, 9, 3, 1, 1, 27, 4, 1, 77] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        expected.extend_from_slice(&[1, 3, 0, 0, 0, 10, 0, 0, 0]);
        assert_eq!(bytes, expected);
        assert_eq!(bytes.len(), p.encoded_len());
        assert_eq!(TableProperties::decode(&Bytes::from(bytes)), Ok(p));
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(TableProperties::decode(&Bytes::copy_from_slice(&bytes[..len])).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(TableProperties::decode(&Bytes::from(longer)).is_err());
        let mut huge_key = bytes.clone();
        huge_key[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(TableProperties::decode(&Bytes::from(huge_key)).is_err());
    }
}
