//! The log: the write-ahead log (WAL) and, with the same framing, the
//! manifest.
//!
//! A log is a sequence of records cut into fragments that never cross a
//! 32 KiB block boundary, each with a crc32. The byte format is specified in
//! `docs/format/wal.md`; this module is its only implementation.

mod reader;
mod writer;

pub(crate) use reader::{Damage, Reader};
pub(crate) use writer::Writer;

/// Logs are cut into blocks of this many bytes.
pub(crate) const BLOCK_SIZE: usize = 32 * 1024;

/// Fragment header: crc32 (4) + length (2) + type (1).
pub(crate) const HEADER_SIZE: usize = 7;

/// Fragment types. On disk: never renumber. 0 is never written (zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FragmentType {
    Full = 1,
    First = 2,
    Middle = 3,
    Last = 4,
}

impl FragmentType {
    fn from_u8(t: u8) -> Option<FragmentType> {
        match t {
            1 => Some(FragmentType::Full),
            2 => Some(FragmentType::First),
            3 => Some(FragmentType::Middle),
            4 => Some(FragmentType::Last),
            _ => None,
        }
    }
}

/// The checksum of a fragment: crc32 over the type byte then the payload.
pub(crate) fn fragment_crc(ty: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[ty]);
    h.update(payload);
    h.finalize()
}

#[cfg(test)]
mod tests;
