//! The backup manifest: one small file per backup listing every file the
//! backup holds, with its size and crc32. Byte layout:
//! `docs/format/backup.md`.

#![deny(clippy::indexing_slicing)]

use std::path::Path;

use crate::error::{Error, Result};
use crate::key::SeqNo;

/// The first 8 bytes of every backup manifest.
pub(crate) const BACKUP_MAGIC: [u8; 8] = *b"rkvbkup\0";

/// The backup manifest format version this code writes and reads.
pub(crate) const BACKUP_FORMAT_VERSION: u32 = 1;

/// Bytes before the first entry: magic, version, id, seqno, created,
/// entry count.
pub(crate) const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 8 + 4;

/// Bytes in one entry: kind, number, size, crc32.
pub(crate) const ENTRY_LEN: usize = 1 + 8 + 8 + 4;

/// Bytes after the last entry: the crc32 of everything before it.
pub(crate) const TRAILER_LEN: usize = 4;

/// What a file of a backup is, and so where the backup keeps it and what
/// it is called once restored. On disk: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum EntryKind {
    /// A table: kept once for every backup in `shared/`, restored as
    /// `NNNNNN.rkt`.
    Table = 0,
    /// A WAL (the one being written cut to the backup's sequence number):
    /// kept in `private/`, restored as `NNNNNN.wal`.
    Wal = 1,
    /// The manifest of the restored database: kept in `private/`,
    /// restored as `MANIFEST-NNNNNN` and named by `CURRENT`.
    Manifest = 2,
}

impl EntryKind {
    fn from_u8(b: u8) -> Option<EntryKind> {
        match b {
            0 => Some(EntryKind::Table),
            1 => Some(EntryKind::Wal),
            2 => Some(EntryKind::Manifest),
            _ => None,
        }
    }
}

/// One file of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    pub(crate) kind: EntryKind,
    /// The file's number in the database it was copied from.
    pub(crate) number: u64,
    /// Its length in bytes.
    pub(crate) size: u64,
    /// crc32 (`crc32fast`) of its whole contents.
    pub(crate) crc: u32,
}

/// A decoded backup manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupManifest {
    /// The backup's id: its manifest is `meta/<id, 6+ digits>.backup`.
    pub(crate) id: u64,
    /// The backup holds every write up to this sequence number.
    pub(crate) seqno: SeqNo,
    /// When the backup was made, in milliseconds since the Unix epoch.
    pub(crate) created_ms: u64,
    /// Its files; exactly one is a manifest.
    pub(crate) entries: Vec<Entry>,
}

impl BackupManifest {
    /// The bytes of the manifest file.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.entries.len() * ENTRY_LEN + TRAILER_LEN);
        out.extend_from_slice(&BACKUP_MAGIC);
        out.extend_from_slice(&BACKUP_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.seqno.to_le_bytes());
        out.extend_from_slice(&self.created_ms.to_le_bytes());
        let count = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for e in &self.entries {
            out.push(e.kind as u8);
            out.extend_from_slice(&e.number.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&e.crc.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes the manifest file at `path` (named in errors).
    ///
    /// # Errors
    /// `Corruption` naming `path` and the offset for a wrong magic, an
    /// unknown format version, a checksum mismatch, a truncated or
    /// extended file, an unknown entry kind, or not exactly one manifest
    /// entry.
    pub(crate) fn decode(path: &Path, data: &[u8]) -> Result<BackupManifest> {
        let bad = |offset: usize, what: &str| Error::corruption(path, offset as u64, what);
        let body_len = data
            .len()
            .checked_sub(TRAILER_LEN)
            .filter(|&n| n >= HEADER_LEN)
            .ok_or_else(|| bad(0, "backup manifest truncated: shorter than its header"))?;
        let (body, trailer) = data.split_at(body_len);
        let mut c = Reader { data: body, pos: 0 };
        if c.take::<8>() != Some(BACKUP_MAGIC) {
            return Err(bad(0, "not a backup manifest (wrong magic)"));
        }
        let version = c.u32().unwrap_or(0);
        if version != BACKUP_FORMAT_VERSION {
            return Err(bad(
                8,
                &format!(
                    "backup manifest format version {version} is not supported (this build reads {BACKUP_FORMAT_VERSION})"
                ),
            ));
        }
        let want = trailer
            .first_chunk::<4>()
            .map(|b| u32::from_le_bytes(*b))
            .unwrap_or(0);
        if crc32fast::hash(body) != want {
            return Err(bad(body_len, "backup manifest checksum mismatch"));
        }
        let header = (c.u64(), c.u64(), c.u64(), c.u32());
        let (Some(id), Some(seqno), Some(created_ms), Some(count)) = header else {
            return Err(bad(c.pos, "backup manifest header truncated"));
        };
        let count = count as usize;
        if body.len() != HEADER_LEN + count.saturating_mul(ENTRY_LEN) {
            return Err(bad(
                HEADER_LEN,
                &format!(
                    "backup manifest holds {} bytes of entries, not {count} entries",
                    body.len() - HEADER_LEN
                ),
            ));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let at = c.pos;
            let fields = (c.u8(), c.u64(), c.u64(), c.u32());
            let (Some(kind), Some(number), Some(size), Some(crc)) = fields else {
                return Err(bad(at, "backup manifest entry truncated"));
            };
            let kind = EntryKind::from_u8(kind)
                .ok_or_else(|| bad(at, &format!("unknown backup entry kind {kind}")))?;
            entries.push(Entry {
                kind,
                number,
                size,
                crc,
            });
        }
        let manifests = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Manifest)
            .count();
        if manifests != 1 {
            return Err(bad(
                HEADER_LEN,
                &format!("backup manifest lists {manifests} database manifests, not one"),
            ));
        }
        Ok(BackupManifest {
            id,
            seqno,
            created_ms,
            entries,
        })
    }

    /// The entry of the database manifest.
    pub(crate) fn manifest_entry(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.kind == EntryKind::Manifest)
    }

    /// The total size of the backup's files.
    pub(crate) fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// Little-endian fields from a byte slice; `None` past its end.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let rest = self.data.get(self.pos..)?;
        let chunk = *rest.first_chunk::<N>()?;
        self.pos += N;
        Some(chunk)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn sample() -> BackupManifest {
        BackupManifest {
            id: 3,
            seqno: 1234,
            created_ms: 1_700_000_000_000,
            entries: vec![
                Entry {
                    kind: EntryKind::Table,
                    number: 7,
                    size: 4096,
                    crc: 0xdead_beef,
                },
                Entry {
                    kind: EntryKind::Wal,
                    number: 9,
                    size: 100,
                    crc: 1,
                },
                Entry {
                    kind: EntryKind::Manifest,
                    number: 10,
                    size: 60,
                    crc: 2,
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        let bytes = m.encode();
        assert_eq!(bytes.len(), HEADER_LEN + 3 * ENTRY_LEN + TRAILER_LEN);
        assert_eq!(
            BackupManifest::decode(Path::new("m"), &bytes).expect("decode"),
            m
        );
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_corruption() {
        let bytes = sample().encode();
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                if let Some(x) = b.get_mut(at) {
                    *x ^= 1 << bit;
                }
                let err = BackupManifest::decode(Path::new("m"), &b).expect_err("flipped");
                assert_eq!(err.kind(), ErrorKind::Corruption, "byte {at} bit {bit}");
            }
        }
        for len in 0..bytes.len() {
            let err = BackupManifest::decode(Path::new("m"), bytes.get(..len).unwrap_or(&[]))
                .expect_err("truncated");
            assert_eq!(err.kind(), ErrorKind::Corruption, "length {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(BackupManifest::decode(Path::new("m"), &longer).is_err());
    }

    #[test]
    fn a_manifest_needs_exactly_one_database_manifest() {
        let mut m = sample();
        m.entries.retain(|e| e.kind != EntryKind::Manifest);
        let err = BackupManifest::decode(Path::new("m"), &m.encode()).expect_err("none");
        assert!(err.to_string().contains("0 database manifests"), "{err}");
    }
}
