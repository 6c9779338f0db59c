//! Per-block compression and the block trailer (compression type + crc32).
//!
//! A block is *sealed* into its stored form before it is written and
//! *unsealed* (checksum verified, then decompressed) after it is read.
//! Byte layout: `docs/format/block.md`, "Stored block".

#![deny(clippy::indexing_slicing)]

use std::cell::RefCell;
use std::io;

use bytes::Bytes;

use super::coding::Cursor;
use super::format::BLOCK_TRAILER_LEN;

/// How each block of a table is compressed.
///
/// The choice is recorded per block, so a reader handles tables written
/// with any setting, and a writer may store a block uncompressed when
/// compression does not pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Blocks are stored as they are.
    None,
    /// Blocks are compressed with zstd at `level`: -7 to 22, higher is
    /// smaller and slower (negative levels are faster still); 0 means
    /// zstd's default, 3. Other levels fail the open with
    /// `InvalidArgument`.
    Zstd {
        /// The zstd compression level.
        level: i32,
    },
    /// Blocks are compressed with LZ4 (the block format): several times
    /// faster than zstd to compress and to decompress, with larger output.
    Lz4,
}

impl Default for Compression {
    /// `Lz4`, the default for flushed and compacted tables: they are read
    /// and rewritten often, so decompression and compaction CPU matter
    /// most. The bottom of the tree defaults to zstd (see
    /// [`Options::bottommost_compression`](crate::Options::bottommost_compression)).
    fn default() -> Self {
        Compression::Lz4
    }
}

/// The compression type byte of a stored block. On disk: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CompressionType {
    None = 0,
    Zstd = 1,
    Lz4 = 2,
}

impl CompressionType {
    pub(crate) fn from_u8(tag: u8) -> Option<CompressionType> {
        match tag {
            0 => Some(CompressionType::None),
            1 => Some(CompressionType::Zstd),
            2 => Some(CompressionType::Lz4),
            _ => None,
        }
    }
}

/// The largest uncompressed length a compressed block may declare. Guards
/// readers against decompression bombs; writers store larger blocks
/// uncompressed.
pub(crate) const MAX_UNCOMPRESSED_BLOCK: usize = 64 << 20;

/// The checksum of a stored block: crc32 over the stored payload, then the
/// type byte.
pub(crate) fn block_crc(payload: &[u8], ty: u8) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h.update(&[ty]);
    h.finalize()
}

/// Compresses blocks for one writer, reusing one zstd context.
pub(crate) struct BlockSealer {
    compression: Compression,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
}

impl BlockSealer {
    pub(crate) fn new(compression: Compression) -> Self {
        BlockSealer {
            compression,
            zstd: None,
            scratch: Vec::new(),
        }
    }

    /// Appends the stored form of `raw` (payload + trailer) to `out`, with
    /// the configured compression if it saves at least 1/8 of the bytes.
    /// Returns the payload length (what a block handle records).
    ///
    /// # Errors
    /// The compressor could not be created or failed.
    pub(crate) fn seal(&mut self, raw: &[u8], out: &mut Vec<u8>) -> io::Result<u64> {
        let start = out.len();
        let mut ty = CompressionType::None;
        if raw.len() <= MAX_UNCOMPRESSED_BLOCK {
            self.scratch.clear();
            let compressed = match self.compression {
                Compression::None => None,
                Compression::Zstd { level } => {
                    let zstd = match &mut self.zstd {
                        Some(z) => z,
                        None => self.zstd.insert(zstd::bulk::Compressor::new(level)?),
                    };
                    self.scratch
                        .reserve(zstd::zstd_safe::compress_bound(raw.len()));
                    zstd.compress_to_buffer(raw, &mut self.scratch)?;
                    Some(CompressionType::Zstd)
                }
                Compression::Lz4 => {
                    self.scratch
                        .resize(lz4_flex::block::get_maximum_output_size(raw.len()), 0);
                    let n = lz4_flex::block::compress_into(raw, &mut self.scratch)
                        .map_err(io::Error::other)?;
                    self.scratch.truncate(n);
                    Some(CompressionType::Lz4)
                }
            };
            if let Some(compressed) = compressed
                && 4 + self.scratch.len() < raw.len() - raw.len() / 8
            {
                // Checked against MAX_UNCOMPRESSED_BLOCK above: fits a u32.
                out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                out.extend_from_slice(&self.scratch);
                ty = compressed;
            }
        }
        if ty == CompressionType::None {
            out.extend_from_slice(raw);
        }
        let payload_len = out.len() - start;
        let crc = block_crc(out.get(start..).unwrap_or_default(), ty as u8);
        out.push(ty as u8);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(payload_len as u64)
    }
}

thread_local! {
    /// One zstd decompression context per thread, created on first use.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Verifies and decompresses a stored block (payload + trailer). Returns the
/// block contents (a zero-copy slice of `stored` when it was not
/// compressed) and how it was stored.
///
/// # Errors
/// A description of the damage: checksum mismatch, unknown compression
/// type, or a payload that does not decompress to its declared length.
pub(crate) fn unseal(stored: &Bytes) -> Result<(Bytes, CompressionType), &'static str> {
    let payload_len = stored
        .len()
        .checked_sub(BLOCK_TRAILER_LEN)
        .ok_or("block shorter than its trailer")?;
    let payload = stored
        .get(..payload_len)
        .ok_or("block shorter than its trailer")?;
    let mut trailer = Cursor::new(stored, payload_len);
    let ty = trailer.u8().ok_or("block trailer truncated")?;
    let crc = trailer.u32().ok_or("block trailer truncated")?;
    if block_crc(payload, ty) != crc {
        return Err("block checksum mismatch");
    }
    let ty = CompressionType::from_u8(ty).ok_or("unknown block compression type")?;
    let contents = match ty {
        CompressionType::None => stored.slice(..payload_len),
        CompressionType::Zstd => Bytes::from(decompress_zstd(payload)?),
        CompressionType::Lz4 => Bytes::from(decompress_lz4(payload)?),
    };
    Ok((contents, ty))
}

/// Splits a compressed payload into its declared length and the
/// compressed bytes.
fn split_declared(payload: &[u8]) -> Result<(usize, &[u8]), &'static str> {
    let mut c = Cursor::new(payload, 0);
    let declared = c.u32().ok_or("compressed block missing its length")? as usize;
    if declared > MAX_UNCOMPRESSED_BLOCK {
        return Err("compressed block declares an implausible length");
    }
    let rest = payload
        .get(c.pos()..)
        .ok_or("compressed block missing its length")?;
    Ok((declared, rest))
}

fn decompress_lz4(payload: &[u8]) -> Result<Vec<u8>, &'static str> {
    let (declared, compressed) = split_declared(payload)?;
    let mut out = vec![0u8; declared];
    let n = lz4_flex::block::decompress_into(compressed, &mut out)
        .map_err(|_| "block does not decompress")?;
    if n != declared {
        return Err("block decompresses to a length other than declared");
    }
    Ok(out)
}

fn decompress_zstd(payload: &[u8]) -> Result<Vec<u8>, &'static str> {
    let (declared, frame) = split_declared(payload)?;
    let out = DECOMPRESSOR
        .with(|cell| -> io::Result<Vec<u8>> {
            let mut slot = cell.try_borrow_mut().map_err(io::Error::other)?;
            let dctx = match &mut *slot {
                Some(d) => d,
                None => slot.insert(zstd::bulk::Decompressor::new()?),
            };
            dctx.decompress(frame, declared)
        })
        .map_err(|_| "block does not decompress")?;
    if out.len() != declared {
        return Err("block decompresses to a length other than declared");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(compression: Compression, raw: &[u8]) -> (Bytes, u64) {
        let mut out = Vec::new();
        let len = BlockSealer::new(compression).seal(raw, &mut out).unwrap();
        (Bytes::from(out), len)
    }

    #[test]
    fn uncompressed_golden_bytes() {
        let (stored, len) = sealed(Compression::None, b"abc");
        assert_eq!(len, 3);
        let crc = block_crc(b"abc", 0).to_le_bytes();
        assert_eq!(
            &stored[..],
            &[b'a', b'b', b'c', 0, crc[0], crc[1], crc[2], crc[3]]
        );
        assert_eq!(
            unseal(&stored).unwrap(),
            (Bytes::from_static(b"abc"), CompressionType::None)
        );
    }

    #[test]
    fn zstd_round_trips_and_records_length() {
        let raw = b"hello hello hello hello hello hello hello hello".repeat(20);
        let (stored, len) = sealed(Compression::Zstd { level: 3 }, &raw);
        assert!((len as usize) < raw.len() / 4);
        assert_eq!(stored[len as usize], CompressionType::Zstd as u8);
        assert_eq!(&stored[..4], &(raw.len() as u32).to_le_bytes());
        assert_eq!(
            unseal(&stored).unwrap(),
            (Bytes::from(raw), CompressionType::Zstd)
        );
    }

    #[test]
    fn lz4_round_trips_and_records_length() {
        let raw = b"hello hello hello hello hello hello hello hello".repeat(20);
        let (stored, len) = sealed(Compression::Lz4, &raw);
        assert!((len as usize) < raw.len() / 4);
        assert_eq!(stored[len as usize], CompressionType::Lz4 as u8);
        assert_eq!(&stored[..4], &(raw.len() as u32).to_le_bytes());
        assert_eq!(
            unseal(&stored).unwrap(),
            (Bytes::from(raw), CompressionType::Lz4)
        );
    }

    #[test]
    fn incompressible_blocks_are_stored_raw() {
        let raw: Vec<u8> = (0..512).map(|_| fastrand::u8(..)).collect();
        let (stored, len) = sealed(Compression::Zstd { level: 1 }, &raw);
        assert_eq!(len as usize, raw.len());
        assert_eq!(stored[raw.len()], CompressionType::None as u8);
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let raw = b"some block contents, some block contents".repeat(4);
        for compression in [
            Compression::None,
            Compression::Zstd { level: 1 },
            Compression::Lz4,
        ] {
            let (stored, _) = sealed(compression, &raw);
            for bit in 0..stored.len() * 8 {
                let mut b = stored.to_vec();
                b[bit / 8] ^= 1 << (bit % 8);
                assert!(unseal(&Bytes::from(b)).is_err(), "bit {bit}");
            }
        }
    }

    #[test]
    fn bombs_and_lying_lengths_are_rejected() {
        // A valid checksum over a payload declaring a huge length.
        let mut payload = (u32::MAX).to_le_bytes().to_vec();
        payload.extend_from_slice(&zstd::bulk::compress(&[0u8; 100], 1).unwrap());
        let with_trailer = |p: &[u8], ty: u8| {
            let mut s = p.to_vec();
            s.push(ty);
            s.extend_from_slice(&block_crc(p, ty).to_le_bytes());
            Bytes::from(s)
        };
        assert!(unseal(&with_trailer(&payload, 1)).is_err());
        // Declares fewer bytes than the frame holds.
        payload[..4].copy_from_slice(&50u32.to_le_bytes());
        assert!(unseal(&with_trailer(&payload, 1)).is_err());
        // Declares more.
        payload[..4].copy_from_slice(&150u32.to_le_bytes());
        assert!(unseal(&with_trailer(&payload, 1)).is_err());
        // LZ4: lengths that lie either way, and garbage behind a valid crc.
        let lz = lz4_flex::block::compress(&[7u8; 100]);
        for declared in [50u32, 99, 101, 150, u32::MAX] {
            let mut p = declared.to_le_bytes().to_vec();
            p.extend_from_slice(&lz);
            assert!(unseal(&with_trailer(&p, 2)).is_err(), "declared {declared}");
        }
        for seed in 0..200u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut p = 100u32.to_le_bytes().to_vec();
            p.extend((0..rng.usize(0..40)).map(|_| rng.u8(..)));
            // Garbage may decode to 100 bytes by chance; it must never panic
            // or overrun, and any other length is an error.
            if let Ok((b, _)) = unseal(&with_trailer(&p, 2)) {
                assert_eq!(b.len(), 100);
            }
        }
        // Unknown type with a valid crc.
        assert!(unseal(&with_trailer(b"abc", 9)).is_err());
        assert!(unseal(&Bytes::from_static(b"abc")).is_err());
    }
}
