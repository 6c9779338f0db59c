//! The fixed parts of a table file: block handles, the footer, and the
//! encoded internal key. Byte layout: `docs/format/table.md`.

#![deny(clippy::indexing_slicing)]

use std::cmp::Ordering;

use bytes::Bytes;

use super::coding::Cursor;
use crate::fs::RandomAccessFile;
use crate::key::{InternalKey, compare_internal, unpack_trailer};

/// The table file magic number, the last 8 bytes of every table (LE).
pub(crate) const TABLE_MAGIC: u64 = 0x7269_6c6c_6b76_5401;

/// The table format version this code writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Bytes in the footer.
pub(crate) const FOOTER_LEN: usize = 64;

/// Bytes after every stored block: compression type (1) + crc32 (4).
pub(crate) const BLOCK_TRAILER_LEN: usize = 5;

/// Bytes in an encoded [`BlockHandle`].
pub(crate) const HANDLE_LEN: usize = 16;

/// Bytes in an internal key's trailer (`seqno << 8 | kind`, LE).
pub(crate) const TRAILER_LEN: usize = 8;

/// Where a block is stored: `size` bytes of stored (possibly compressed)
/// payload at `offset`, followed by the block trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    /// Appends the handle: offset u64 LE, size u64 LE.
    pub(crate) fn encode_to(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.offset.to_le_bytes());
        buf.extend_from_slice(&self.size.to_le_bytes());
    }

    /// Decodes a handle that must be exactly [`HANDLE_LEN`] bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Option<BlockHandle> {
        let mut c = Cursor::new(bytes, 0);
        let handle = BlockHandle {
            offset: c.u64()?,
            size: c.u64()?,
        };
        c.is_at_end().then_some(handle)
    }

    /// The offset just past the block's trailer; `None` on overflow.
    pub(crate) fn end(&self) -> Option<u64> {
        self.offset
            .checked_add(self.size)?
            .checked_add(BLOCK_TRAILER_LEN as u64)
    }

    /// Reads the block's payload and trailer from `file`: `Ok(None)` if
    /// they do not lie entirely before `limit` (the footer's offset).
    ///
    /// # Errors
    /// Whatever the file's read reports.
    pub(crate) fn read_from(
        &self,
        file: &dyn RandomAccessFile,
        limit: u64,
    ) -> std::io::Result<Option<Bytes>> {
        let Some(end) = self.end().filter(|&end| end <= limit) else {
            return Ok(None);
        };
        let Ok(len) = usize::try_from(end - self.offset) else {
            return Ok(None);
        };
        file.read_at(self.offset, len).map(Some)
    }

    /// The block's payload and trailer within `file`, if they lie entirely
    /// before `limit` (the footer's offset).
    #[cfg_attr(
        not(feature = "cli"),
        expect(dead_code, reason = "for tools (dump table)")
    )]
    pub(crate) fn slice_of(&self, file: &Bytes, limit: u64) -> Option<Bytes> {
        let end = self.end()?;
        if end > limit {
            return None;
        }
        let start = usize::try_from(self.offset).ok()?;
        let end = usize::try_from(end).ok()?;
        file.get(start..end)?;
        Some(file.slice(start..end))
    }
}

/// The last [`FOOTER_LEN`] bytes of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Footer {
    pub index: BlockHandle,
    /// `size == 0` means the table has no filter.
    pub filter: BlockHandle,
    pub properties: BlockHandle,
}

impl Footer {
    /// Encodes the footer with [`FORMAT_VERSION`].
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(FOOTER_LEN);
        self.index.encode_to(&mut buf);
        self.filter.encode_to(&mut buf);
        self.properties.encode_to(&mut buf);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let crc = crc32fast::hash(&buf);
        buf.extend_from_slice(&crc.to_le_bytes());
        buf.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        debug_assert_eq!(buf.len(), FOOTER_LEN);
        buf
    }

    /// Decodes and checks a footer: length, magic, crc, then version.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Footer, String> {
        if bytes.len() != FOOTER_LEN {
            return Err(format!("footer is {} bytes, not {FOOTER_LEN}", bytes.len()));
        }
        let mut c = Cursor::new(bytes, 0);
        let short = || "footer too short".to_string();
        let index =
            BlockHandle::decode(c.bytes(HANDLE_LEN).ok_or_else(short)?).ok_or_else(short)?;
        let filter =
            BlockHandle::decode(c.bytes(HANDLE_LEN).ok_or_else(short)?).ok_or_else(short)?;
        let properties =
            BlockHandle::decode(c.bytes(HANDLE_LEN).ok_or_else(short)?).ok_or_else(short)?;
        let version = c.u32().ok_or_else(short)?;
        let crc = c.u32().ok_or_else(short)?;
        let magic = c.u64().ok_or_else(short)?;
        if magic != TABLE_MAGIC {
            return Err(format!(
                "bad table magic {magic:#018x} (not a table, or truncated)"
            ));
        }
        let covered = bytes.get(..FOOTER_LEN - 12).ok_or_else(short)?;
        if crc32fast::hash(covered) != crc {
            return Err("footer checksum mismatch".to_string());
        }
        if version != FORMAT_VERSION {
            return Err(format!(
                "unsupported table format version {version} (this build reads {FORMAT_VERSION}; \
                 if a newer rillkv wrote it, open the database with that version)"
            ));
        }
        Ok(Footer {
            index,
            filter,
            properties,
        })
    }
}

/// Appends the on-disk form of an internal key: user key, then the 8-byte
/// LE trailer.
pub(crate) fn encode_internal_key(buf: &mut Vec<u8>, key: &InternalKey) {
    buf.extend_from_slice(&key.user_key);
    buf.extend_from_slice(&key.trailer().to_le_bytes());
}

/// An encoded internal key as an owned buffer.
pub(crate) fn encoded_internal_key(key: &InternalKey) -> Vec<u8> {
    let mut buf = Vec::with_capacity(key.user_key.len() + TRAILER_LEN);
    encode_internal_key(&mut buf, key);
    buf
}

/// Splits an encoded internal key into user key and trailer; `None` if it
/// is shorter than a trailer.
pub(crate) fn split_internal_key(encoded: &[u8]) -> Option<(&[u8], u64)> {
    let split = encoded.len().checked_sub(TRAILER_LEN)?;
    let (user_key, trailer) = encoded.split_at_checked(split)?;
    Some((user_key, u64::from_le_bytes(trailer.try_into().ok()?)))
}

/// Decodes an encoded internal key, copying the user key; `None` if it is
/// too short or its kind tag is unknown.
pub(crate) fn decode_internal_key(encoded: &[u8]) -> Option<InternalKey> {
    let (user_key, trailer) = split_internal_key(encoded)?;
    let (seqno, kind) = unpack_trailer(trailer)?;
    Some(InternalKey::new(
        Bytes::copy_from_slice(user_key),
        seqno,
        kind,
    ))
}

/// The internal order over encoded keys. Keys shorter than a trailer (only
/// possible in corrupt blocks, which decoding rejects first) order bytewise.
pub(crate) fn compare_encoded(a: &[u8], b: &[u8]) -> Ordering {
    match (split_internal_key(a), split_internal_key(b)) {
        (Some((ak, at)), Some((bk, bt))) => compare_internal(ak, at, bk, bt),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ValueKind;

    fn sample_footer() -> Footer {
        Footer {
            index: BlockHandle {
                offset: 0x0102,
                size: 0x30,
            },
            filter: BlockHandle {
                offset: 0x10,
                size: 0x20,
            },
            properties: BlockHandle {
                offset: 0xa0,
                size: 0x40,
            },
        }
    }

    #[test]
    fn footer_golden_bytes() {
        let bytes = sample_footer().encode();
        let mut expected = Vec::new();
        for v in [0x0102u64, 0x30, 0x10, 0x20, 0xa0, 0x40] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        expected.extend_from_slice(&1u32.to_le_bytes());
        let crc = crc32fast::hash(&expected);
        expected.extend_from_slice(&crc.to_le_bytes());
        expected.extend_from_slice(&[0x01, 0x54, 0x76, 0x6b, 0x6c, 0x6c, 0x69, 0x72]);
        assert_eq!(bytes, expected);
        // Pin the crc too, so a change of checksum algorithm is caught.
        assert_eq!(
            bytes.get(52..56),
            Some(&0x71e0_9613u32.to_le_bytes()[..]),
            "crc {:#x}",
            crc
        );
        assert_eq!(Footer::decode(&bytes), Ok(sample_footer()));
    }

    #[test]
    fn footer_rejects_every_single_bit_flip() {
        let bytes = sample_footer().encode();
        for bit in 0..FOOTER_LEN * 8 {
            let mut b = bytes.clone();
            if let Some(byte) = b.get_mut(bit / 8) {
                *byte ^= 1 << (bit % 8);
            }
            assert!(Footer::decode(&b).is_err(), "bit {bit}");
        }
        assert!(Footer::decode(&bytes[1..]).is_err());
    }

    #[test]
    fn internal_key_encoding_is_user_key_then_le_trailer() {
        let key = InternalKey::new(Bytes::from_static(b"ab"), 5, ValueKind::Put);
        assert_eq!(encoded_internal_key(&key), b"ab\x01\x05\0\0\0\0\0\0");
        assert_eq!(decode_internal_key(&encoded_internal_key(&key)), Some(key));
        assert_eq!(decode_internal_key(b"short"), None);
        assert_eq!(decode_internal_key(b"a\x07\0\0\0\0\0\0\0"), None);
    }
}
