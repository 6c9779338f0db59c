//! Little-endian fixed-width and LEB128 varint primitives for the table
//! formats, with a bounds-checked [`Cursor`] for decoding.
//!
//! Decoding never panics: every read returns `None` when the bytes run out.

#![deny(clippy::indexing_slicing)]

/// Appends `v` as an unsigned LEB128 varint (1 to 5 bytes): seven bits per
/// byte, least significant group first, high bit set on every byte but the
/// last.
pub(crate) fn put_varint32(buf: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A read position over a byte slice. Every read checks its length.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at byte `pos` of `data`.
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Cursor { data, pos }
    }

    /// The offset of the next unread byte.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub(crate) fn is_at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let [byte] = self.array()?;
        Some(byte)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    /// An unsigned LEB128 varint of at most 5 bytes; `None` if it is
    /// truncated, longer, or overflows 32 bits.
    pub(crate) fn varint32(&mut self) -> Option<u32> {
        let mut value: u32 = 0;
        for shift in [0u32, 7, 14, 21, 28] {
            let byte = self.u8()?;
            let group = u32::from(byte & 0x7f);
            if shift == 28 && group > 0x0f {
                return None;
            }
            value |= group << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_at_group_boundaries() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            1 << 21,
            (1 << 28) - 1,
            1 << 28,
            u32::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint32(&mut buf, v);
            let mut c = Cursor::new(&buf, 0);
            assert_eq!(c.varint32(), Some(v));
            assert!(c.is_at_end());
        }
    }

    #[test]
    fn varint_rejects_truncated_overlong_and_overflowing() {
        assert_eq!(Cursor::new(&[0x80], 0).varint32(), None);
        assert_eq!(
            Cursor::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0).varint32(),
            None
        );
        assert_eq!(
            Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0x1f], 0).varint32(),
            None
        );
        assert_eq!(
            Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0x0f], 0).varint32(),
            Some(u32::MAX)
        );
    }

    #[test]
    fn fixed_reads_are_little_endian_and_bounded() {
        let data = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
        let mut c = Cursor::new(&data, 0);
        assert_eq!(c.u32(), Some(1));
        assert_eq!(c.u64(), Some(2));
        assert_eq!(c.u8(), None);
        assert_eq!(Cursor::new(&data, 100).bytes(1), None);
        assert_eq!(Cursor::new(&data, 0).bytes(usize::MAX), None);
    }
}
