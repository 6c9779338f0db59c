//! Pins every constant the byte-format documents (`docs/format/*.md`) state.
//!
//! Each test reads its document at test time and, for each constant, checks
//! both that the document still states the value (the exact phrase or table
//! cell) and that the code writes or accepts that value. The table, block
//! and bloom constants live in private submodules of `table`, so they are
//! checked through the bytes `TableWriter` writes and what `Table` accepts.
//! A failure names the document and the constant: one of the two changed
//! without the other.
//!
//! One file per document; the helpers they share are below.

mod backup_md;
mod block_md;
mod bloom_md;
mod files_md;
mod manifest_md;
mod table_md;
mod wal_md;

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::fs::{FaultFs, Fs, WritableFile};
use crate::key::{InternalKey, SeqNo, ValueKind};
use crate::table::{Compression, Table, TableOptions, TableWriter};
use crate::wal::{self};

pub(super) const BACKUP_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/backup.md");
pub(super) const FILES_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/files.md");
pub(super) const WAL_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/wal.md");
pub(super) const TABLE_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/table.md");
pub(super) const BLOCK_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/block.md");
pub(super) const BLOOM_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/bloom.md");
pub(super) const MANIFEST_MD: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/manifest.md");
pub(super) const RECOVERY_RS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/recovery.rs");

// ------------------------------------------------------------------ helpers

/// A format document, its text with every run of whitespace made one
/// space (so a phrase matches however the paragraph is wrapped).
pub(super) struct Doc {
    name: String,
    raw: String,
    flat: String,
}

impl Doc {
    fn read(path: &str) -> Doc {
        let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let name = path.rsplit_once("/docs/").map_or(path, |(_, n)| n);
        Doc {
            name: format!("docs/{name}"),
            flat: flatten(&raw),
            raw,
        }
    }

    /// Asserts that the document states `phrase` (whitespace-insensitive).
    fn states(&self, constant: &str, phrase: &str) {
        assert!(
            self.flat.contains(&flatten(phrase)),
            "{}: no longer states {constant}: expected the text {phrase:?}",
            self.name
        );
    }

    /// The hex bytes of the first fenced code block after `marker`: on
    /// each line, the leading tokens that are two hex digits.
    fn hex_block_after(&self, marker: &str) -> Vec<u8> {
        let at = self
            .raw
            .find(marker)
            .unwrap_or_else(|| panic!("{}: no {marker:?}", self.name));
        let rest = &self.raw[at..];
        let open = rest.find("```").expect("a code block follows");
        let body = &rest[open + 3..];
        let body = &body[body.find('\n').expect("fence line") + 1..];
        let body = &body[..body.find("```").expect("the code block ends")];
        body.lines().flat_map(leading_hex).collect()
    }

    /// The hex bytes between `before` and the next backtick.
    fn hex_inline_after(&self, before: &str) -> Vec<u8> {
        let at = self
            .flat
            .find(before)
            .unwrap_or_else(|| panic!("{}: no {before:?}", self.name));
        let rest = &self.flat[at + before.len()..];
        let end = rest.find('`').expect("closing backtick");
        let bytes = leading_hex(&rest[..end]);
        assert_eq!(bytes.len(), rest[..end].split_whitespace().count());
        bytes
    }
}

pub(super) fn flatten(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn leading_hex(line: &str) -> Vec<u8> {
    line.split_whitespace()
        .map_while(|t| {
            if t.len() == 2 {
                u8::from_str_radix(t, 16).ok()
            } else {
                None
            }
        })
        .collect()
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

pub(super) fn ik(user_key: &[u8], seqno: SeqNo, kind: ValueKind) -> InternalKey {
    InternalKey::new(Bytes::copy_from_slice(user_key), seqno, kind)
}

pub(super) const TABLE_PATH: &str = "/t/000001.rkt";

/// Writes a table of `entries` (in internal-key order) and returns its
/// bytes.
pub(super) fn write_table(entries: &[(InternalKey, Vec<u8>)], opts: &TableOptions) -> Vec<u8> {
    let fs = FaultFs::new();
    fs.create_dir_all(Path::new("/t")).unwrap();
    let path = Path::new(TABLE_PATH);
    let mut w = TableWriter::new(fs.create(path).unwrap(), path, opts);
    for (k, v) in entries {
        w.add(k, v).unwrap();
    }
    w.finish().unwrap();
    fs.file_bytes(path).unwrap()
}

pub(super) fn open_table(bytes: &[u8]) -> crate::Result<Arc<Table>> {
    Table::from_bytes(
        Path::new(TABLE_PATH),
        Bytes::copy_from_slice(bytes),
        1,
        None,
    )
}

pub(super) fn table_opts(compression: Compression, block_size: usize, bits: u32) -> TableOptions {
    TableOptions {
        block_size,
        compression,
        bloom_bits_per_key: bits,
    }
}

/// A block handle as the footer and the index store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Handle {
    offset: u64,
    size: u64,
}

impl Handle {
    fn at(b: &[u8], at: usize) -> Handle {
        Handle {
            offset: u64_at(b, at),
            size: u64_at(b, at + 8),
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.offset as usize..(self.offset + self.size) as usize
    }
}

/// The footer's parts, read at the offsets table.md gives.
pub(super) struct Footer {
    index: Handle,
    filter: Handle,
    props: Handle,
    version: u32,
    crc: u32,
    magic: u64,
}

pub(super) fn footer(file: &[u8]) -> Footer {
    let f = &file[file.len() - 64..];
    Footer {
        index: Handle::at(f, 0),
        filter: Handle::at(f, 16),
        props: Handle::at(f, 32),
        version: u32_at(f, 48),
        crc: u32_at(f, 52),
        magic: u64_at(f, 56),
    }
}

/// A stored block's trailer: (type byte, crc32).
pub(super) fn block_trailer(file: &[u8], h: Handle) -> (u8, u32) {
    let end = (h.offset + h.size) as usize;
    (file[end], u32_at(file, end + 1))
}

/// crc32 over the payload then the type byte, as block.md specifies.
pub(super) fn stored_block_crc(payload: &[u8], ty: u8) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h.update(&[ty]);
    h.finalize()
}

/// `file` with its index block replaced by `contents` (stored with type 0)
/// and a footer re-encoded by table.md's rules with `version` and `magic`.
pub(super) fn with_index(file: &[u8], contents: &[u8], version: u32, magic: u64) -> Vec<u8> {
    let f = footer(file);
    let mut out = file[..f.index.offset as usize].to_vec();
    out.extend_from_slice(contents);
    out.push(0);
    out.extend_from_slice(&stored_block_crc(contents, 0).to_le_bytes());
    let mut foot = Vec::new();
    for h in [
        Handle {
            offset: f.index.offset,
            size: contents.len() as u64,
        },
        f.filter,
        f.props,
    ] {
        foot.extend_from_slice(&h.offset.to_le_bytes());
        foot.extend_from_slice(&h.size.to_le_bytes());
    }
    foot.extend_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&foot);
    foot.extend_from_slice(&crc.to_le_bytes());
    foot.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&foot);
    out
}

/// Records what the WAL writer hands its file.
#[derive(Clone, Default)]
pub(super) struct Recording {
    data: Arc<Mutex<Vec<u8>>>,
    preallocated: Arc<Mutex<Vec<u64>>>,
    trimmed: Arc<Mutex<Vec<u64>>>,
}

impl WritableFile for Recording {
    fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.data.lock().unwrap().extend_from_slice(data);
        Ok(())
    }
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn preallocate(&mut self, len: u64) -> std::io::Result<()> {
        self.preallocated.lock().unwrap().push(len);
        Ok(())
    }
    fn trim(&mut self, len: u64) -> std::io::Result<()> {
        self.trimmed.lock().unwrap().push(len);
        Ok(())
    }
}

/// The bytes of a log holding `records`, as the WAL writer frames them.
pub(super) fn log_bytes(records: &[Vec<u8>]) -> Vec<u8> {
    let file = Recording::default();
    let mut w = wal::Writer::preallocated(Box::new(file.clone()));
    for r in records {
        w.add_record(r).unwrap();
    }
    file.data.lock().unwrap().clone()
}

/// The fragments of a log without damage: (offset, type, len).
pub(super) fn fragments(log: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < log.len() {
        if wal::BLOCK_SIZE - pos % wal::BLOCK_SIZE < wal::HEADER_SIZE {
            assert!(
                log[pos..pos.next_multiple_of(wal::BLOCK_SIZE)]
                    .iter()
                    .all(|&b| b == 0),
                "a block trailer is zeros"
            );
            pos = pos.next_multiple_of(wal::BLOCK_SIZE);
            continue;
        }
        let len = usize::from(u16::from_le_bytes([log[pos + 4], log[pos + 5]]));
        out.push((pos, log[pos + 6], len));
        pos += wal::HEADER_SIZE + len;
    }
    out
}

pub(super) fn read_log(data: Vec<u8>) -> (usize, Option<wal::Damage>) {
    let mut r = wal::Reader::preallocated(Path::new("/t/000001.wal"), Bytes::from(data));
    let mut n = 0;
    while r.next_record().is_some() {
        n += 1;
    }
    (n, r.damage().cloned())
}
