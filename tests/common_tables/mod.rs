//! Helpers for the scenario tests that look at tables and the files around
//! them: listing a database directory by file kind, reading a table's
//! footer (layout per `src/table/format.rs` and `docs/format/table.md`), and
//! flipping bits.
//!
//! Every test file compiles its own copy of this module and uses only part
//! of it.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rillkv::Db;
use rillkv::fs::Fs;

/// The names in `dir`, sorted.
pub fn dir_names(fs: &dyn Fs, dir: &Path) -> Vec<String> {
    let mut names = fs.list_dir(dir).expect("list db dir");
    names.sort();
    names
}

/// The number in a name `NNNNNN<suffix>` (6+ digits), if it is one.
pub fn numbered(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The numbers of the `NNNNNN.rkt` tables in `dir`, ascending.
pub fn table_numbers_in_dir(fs: &dyn Fs, dir: &Path) -> BTreeSet<u64> {
    dir_names(fs, dir)
        .iter()
        .filter_map(|n| numbered(n, ".rkt"))
        .collect()
}

/// The paths of the `NNNNNN.rkt` tables in `dir`, by number.
pub fn table_paths(fs: &dyn Fs, dir: &Path) -> Vec<PathBuf> {
    dir_names(fs, dir)
        .into_iter()
        .filter(|n| numbered(n, ".rkt").is_some())
        .map(|n| dir.join(n))
        .collect()
}

/// The numbers of the `NNNNNN.wal` logs in `dir`, ascending.
pub fn wal_numbers_in_dir(fs: &dyn Fs, dir: &Path) -> BTreeSet<u64> {
    dir_names(fs, dir)
        .iter()
        .filter_map(|n| numbered(n, ".wal"))
        .collect()
}

/// The `MANIFEST-NNNNNN` names in `dir`.
pub fn manifest_names(fs: &dyn Fs, dir: &Path) -> Vec<String> {
    dir_names(fs, dir)
        .into_iter()
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect()
}

/// The `.tmp` names in `dir`.
pub fn temp_names(fs: &dyn Fs, dir: &Path) -> Vec<String> {
    dir_names(fs, dir)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// The table numbers the database's current version lists.
pub fn live_table_numbers(db: &Db) -> BTreeSet<u64> {
    db.stats()
        .runs
        .iter()
        .flat_map(|r| r.tables.iter().map(|t| t.number))
        .collect()
}

/// Tables listed by the current version.
pub fn table_count(db: &Db) -> usize {
    db.stats().runs.iter().map(|r| r.tables.len()).sum()
}

/// Asserts that the directory holds exactly the tables the version lists
/// (no orphans, none missing). Call it when no flush is running (after
/// `Db::flush`).
pub fn assert_no_orphan_tables(db: &Db, fs: &dyn Fs, dir: &Path, ctx: &str) {
    let on_disk = table_numbers_in_dir(fs, dir);
    let live = live_table_numbers(db);
    assert_eq!(
        on_disk, live,
        "{ctx}: tables in the directory differ from the tables the version lists"
    );
}

// ---------------------------------------------------------------------------
// Table layout. Footer (last 64 bytes): index handle, filter handle,
// properties handle (each offset u64 LE + size u64 LE, size excluding the
// 5-byte block trailer), format version u32 LE, crc32 u32 LE over the 52
// bytes before it, magic u64 LE. Blocks are written in the order data
// blocks..., filter, properties, index, footer; each block is followed by
// a trailer: compression type (1) + crc32 (4).

/// Footer length.
pub const FOOTER_LEN: usize = 64;
/// Bytes after every stored block.
pub const BLOCK_TRAILER_LEN: u64 = 5;
/// The table magic number (last 8 bytes, LE).
pub const TABLE_MAGIC: u64 = 0x7269_6c6c_6b76_5401;

/// A block's place in a table file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    /// First byte of the stored payload.
    pub offset: u64,
    /// Stored payload bytes, trailer excluded.
    pub size: u64,
}

impl Handle {
    /// The byte range of payload and trailer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset as usize..(self.offset + self.size + BLOCK_TRAILER_LEN) as usize
    }
}

/// Where the parts of a table file lie.
#[derive(Debug, Clone, Copy)]
pub struct TableLayout {
    /// Bytes `0..data_end` are data blocks.
    pub data_end: u64,
    /// The filter block, if the table has one.
    pub filter: Option<Handle>,
    /// The properties block.
    pub properties: Handle,
    /// The index block.
    pub index: Handle,
    /// Where the footer starts.
    pub footer_offset: u64,
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads the footer of an intact table. Panics if `bytes` is not one.
pub fn table_layout(bytes: &[u8]) -> TableLayout {
    assert!(bytes.len() >= FOOTER_LEN, "table shorter than a footer");
    let footer_offset = bytes.len() - FOOTER_LEN;
    let f = &bytes[footer_offset..];
    assert_eq!(le_u64(f, 56), TABLE_MAGIC, "not a table (magic)");
    let handle = |i: usize| Handle {
        offset: le_u64(f, i * 16),
        size: le_u64(f, i * 16 + 8),
    };
    let (index, filter, properties) = (handle(0), handle(1), handle(2));
    let filter = (filter.size != 0).then_some(filter);
    let data_end = filter.map_or(properties.offset, |h| h.offset);
    assert!(data_end <= properties.offset && properties.offset < index.offset);
    assert_eq!(
        index.offset + index.size + BLOCK_TRAILER_LEN,
        footer_offset as u64,
        "the index block is expected right before the footer"
    );
    TableLayout {
        data_end,
        filter,
        properties,
        index,
        footer_offset: footer_offset as u64,
    }
}

/// Which part of a table a byte offset falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Region {
    /// A data block (payload or trailer).
    Data,
    /// The bloom filter block.
    Filter,
    /// The properties block.
    Properties,
    /// The index block.
    Index,
    /// The footer.
    Footer,
}

impl TableLayout {
    /// The region holding byte `offset`.
    pub fn region(&self, offset: usize) -> Region {
        let o = offset as u64;
        if o >= self.footer_offset {
            Region::Footer
        } else if self.index.range().contains(&offset) {
            Region::Index
        } else if self.properties.range().contains(&offset) {
            Region::Properties
        } else if self.filter.is_some_and(|f| f.range().contains(&offset)) {
            Region::Filter
        } else {
            assert!(o < self.data_end, "offset {offset} is in no block");
            Region::Data
        }
    }
}

/// `bytes` with bit `bit` of byte `offset` inverted.
pub fn flipped(bytes: &[u8], offset: usize, bit: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[offset] ^= 1 << (bit % 8);
    out
}

// ---------------------------------------------------------------------------
// Keys and values of a fixed shape.

/// A 16-byte key for `i`.
pub fn key16(i: u64) -> Vec<u8> {
    format!("key{i:013}").into_bytes()
}

/// A 32-byte value for key `i` at `version`.
pub fn value32(i: u64, version: u64) -> Vec<u8> {
    format!(
        "v{version:05}-{i:013}-{:011x}",
        i.wrapping_mul(0x9e37_79b9) & 0xfff_ffff_ffff
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------
// Block contents (docs/format/block.md): entries of `shared` varint32,
// `unshared` varint32, `value_len` varint32, key delta, value; then the
// restart array (u32 LE each) and its count (u32 LE). Stored blocks end in
// a trailer: type (0 none, 1 zstd: u32 LE uncompressed length + one zstd
// frame) and crc32 over payload then type.

/// The crc32 of a stored block: over the payload, then the type byte.
pub fn block_crc(payload: &[u8], ty: u8) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h.update(&[ty]);
    h.finalize()
}

/// The compression type byte of the stored block at `h`.
pub fn block_type(bytes: &[u8], h: Handle) -> u8 {
    bytes[(h.offset + h.size) as usize]
}

/// Rewrites the crc of the stored block at `h` to match its (changed)
/// payload and type byte.
pub fn reseal_block(bytes: &mut [u8], h: Handle) {
    let end = (h.offset + h.size) as usize;
    let crc = block_crc(&bytes[h.offset as usize..end], bytes[end]);
    bytes[end + 1..end + 5].copy_from_slice(&crc.to_le_bytes());
}

/// The contents of the intact stored block at `h` (crc checked,
/// decompressed). Panics on a damaged block.
pub fn block_contents(bytes: &[u8], h: Handle) -> Vec<u8> {
    let payload = &bytes[h.offset as usize..(h.offset + h.size) as usize];
    let ty = block_type(bytes, h);
    let at = (h.offset + h.size) as usize + 1;
    let crc = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(
        crc,
        block_crc(payload, ty),
        "block at {} is damaged",
        h.offset
    );
    match ty {
        0 => payload.to_vec(),
        1 => {
            let len = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes")) as usize;
            zstd::bulk::decompress(&payload[4..], len).expect("zstd block decompresses")
        }
        2 => {
            let len = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes")) as usize;
            lz4_flex::block::decompress(&payload[4..], len).expect("lz4 block decompresses")
        }
        _ => panic!("unknown block type {ty} at {}", h.offset),
    }
}

fn varint32(b: &[u8], pos: &mut usize) -> usize {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = b[*pos];
        *pos += 1;
        v |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v as usize;
        }
    }
    panic!("varint longer than 5 bytes");
}

/// The `(key, value)` entries of intact block contents, in order. Panics on
/// malformed contents (tests parse only blocks the engine wrote).
pub fn block_entries(contents: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let n = contents.len() - 4;
    let restarts = u32::from_le_bytes(contents[n..].try_into().expect("4 bytes")) as usize;
    let end = n - 4 * restarts;
    let (mut pos, mut key, mut out) = (0, Vec::new(), Vec::new());
    while pos < end {
        let shared = varint32(contents, &mut pos);
        let unshared = varint32(contents, &mut pos);
        let value_len = varint32(contents, &mut pos);
        key.truncate(shared);
        key.extend_from_slice(&contents[pos..pos + unshared]);
        pos += unshared;
        out.push((key.clone(), contents[pos..pos + value_len].to_vec()));
        pos += value_len;
    }
    out
}

/// The index of an intact table: per data block, in file order, its last
/// encoded internal key and its handle.
pub fn index_entries(bytes: &[u8], layout: &TableLayout) -> Vec<(Vec<u8>, Handle)> {
    block_entries(&block_contents(bytes, layout.index))
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(v.len(), 16, "an index value is a 16-byte handle");
            let h = Handle {
                offset: le_u64(&v, 0),
                size: le_u64(&v, 8),
            };
            (k, h)
        })
        .collect()
}

/// The user key of an encoded internal key (the key minus its 8-byte
/// trailer).
pub fn user_key(internal: &[u8]) -> &[u8] {
    &internal[..internal.len() - 8]
}
