//! Pins every constant the byte-format documents (`docs/format/*.md`) state.
//!
//! Each test reads its document at test time and, for each constant, checks
//! both that the document still states the value (the exact phrase or table
//! cell) and that the code writes or accepts that value. The table, block
//! and bloom constants live in private submodules of `table`, so they are
//! checked through the bytes `TableWriter` writes and what `Table` accepts.
//! A failure names the document and the constant: one of the two changed
//! without the other.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::batch::{self, WriteBatch};
use crate::filename::{self, FileKind};
use crate::fs::{FaultFs, Fs, WritableFile};
use crate::key::{InternalKey, MAX_SEQNO, SeqNo, ValueKind};
use crate::options::{Options, RecoveryMode};
use crate::table::{Compression, Table, TableOptions, TableWriter};
use crate::version::set::parse_current;
use crate::version::{TableMeta, VersionEdit};
use crate::wal::{self, FragmentType};

const FILES_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/files.md");
const WAL_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/wal.md");
const TABLE_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/table.md");
const BLOCK_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/block.md");
const BLOOM_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/bloom.md");
const MANIFEST_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/format/manifest.md");
const RECOVERY_RS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/recovery.rs");

// ------------------------------------------------------------------ helpers

/// A format document, its text with every run of whitespace made one
/// space (so a phrase matches however the paragraph is wrapped).
struct Doc {
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

fn flatten(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn leading_hex(line: &str) -> Vec<u8> {
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

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn ik(user_key: &[u8], seqno: SeqNo, kind: ValueKind) -> InternalKey {
    InternalKey::new(Bytes::copy_from_slice(user_key), seqno, kind)
}

const TABLE_PATH: &str = "/t/000001.rkt";

/// Writes a table of `entries` (in internal-key order) and returns its
/// bytes.
fn write_table(entries: &[(InternalKey, Vec<u8>)], opts: &TableOptions) -> Vec<u8> {
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

fn open_table(bytes: &[u8]) -> crate::Result<Arc<Table>> {
    Table::from_bytes(
        Path::new(TABLE_PATH),
        Bytes::copy_from_slice(bytes),
        1,
        None,
    )
}

fn table_opts(compression: Compression, block_size: usize, bits: u32) -> TableOptions {
    TableOptions {
        block_size,
        compression,
        bloom_bits_per_key: bits,
    }
}

/// A block handle as the footer and the index store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Handle {
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
struct Footer {
    index: Handle,
    filter: Handle,
    props: Handle,
    version: u32,
    crc: u32,
    magic: u64,
}

fn footer(file: &[u8]) -> Footer {
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
fn block_trailer(file: &[u8], h: Handle) -> (u8, u32) {
    let end = (h.offset + h.size) as usize;
    (file[end], u32_at(file, end + 1))
}

/// crc32 over the payload then the type byte, as block.md specifies.
fn stored_block_crc(payload: &[u8], ty: u8) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h.update(&[ty]);
    h.finalize()
}

/// `file` with its index block replaced by `contents` (stored with type 0)
/// and a footer re-encoded by table.md's rules with `version` and `magic`.
fn with_index(file: &[u8], contents: &[u8], version: u32, magic: u64) -> Vec<u8> {
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
struct Recording {
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
fn log_bytes(records: &[Vec<u8>]) -> Vec<u8> {
    let file = Recording::default();
    let mut w = wal::Writer::preallocated(Box::new(file.clone()));
    for r in records {
        w.add_record(r).unwrap();
    }
    file.data.lock().unwrap().clone()
}

/// The fragments of a log without damage: (offset, type, len).
fn fragments(log: &[u8]) -> Vec<(usize, u8, usize)> {
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

fn read_log(data: Vec<u8>) -> (usize, Option<wal::Damage>) {
    let mut r = wal::Reader::preallocated(Path::new("/t/000001.wal"), Bytes::from(data));
    let mut n = 0;
    while r.next_record().is_some() {
        n += 1;
    }
    (n, r.damage().cloned())
}

// -------------------------------------------------------------- files.md

#[test]
fn files_md() {
    let doc = Doc::read(FILES_MD);
    let dir = Path::new("/db");
    let name = |p: PathBuf| p.file_name().unwrap().to_str().unwrap().to_owned();

    doc.states("the lock file's name", "| `LOCK` |");
    assert_eq!(filename::LOCK, "LOCK", "files.md: LOCK");
    assert_eq!(filename::parse("LOCK"), FileKind::Lock, "files.md: LOCK");

    doc.states("the CURRENT file's name", "| `CURRENT` |");
    assert_eq!(filename::CURRENT, "CURRENT", "files.md: CURRENT");
    assert_eq!(
        filename::parse("CURRENT"),
        FileKind::Current,
        "files.md: CURRENT"
    );

    doc.states(
        "the WAL name and its digits",
        "| `NNNNNN.wal` | write-ahead log, [format](wal.md); `NNNNNN` is the file number, 6+ decimal digits |",
    );
    assert_eq!(
        name(filename::wal_path(dir, 7)),
        "000007.wal",
        "files.md: NNNNNN.wal"
    );
    assert_eq!(
        name(filename::wal_path(dir, 1_234_567)),
        "1234567.wal",
        "files.md: 6+ digits"
    );
    assert_eq!(
        filename::parse("000007.wal"),
        FileKind::Wal(7),
        "files.md: NNNNNN.wal"
    );
    assert_eq!(
        filename::parse("1234567.wal"),
        FileKind::Wal(1_234_567),
        "files.md: 6+ digits"
    );

    doc.states("the table name", "| `NNNNNN.rkt` | a table");
    assert_eq!(
        name(filename::table_path(dir, 7)),
        "000007.rkt",
        "files.md: NNNNNN.rkt"
    );
    assert_eq!(
        filename::parse("000007.rkt"),
        FileKind::Table(7),
        "files.md: NNNNNN.rkt"
    );

    doc.states(
        "the manifest name",
        "| `MANIFEST-NNNNNN` | log of version edits",
    );
    assert_eq!(
        filename::manifest_name(7),
        "MANIFEST-000007",
        "files.md: MANIFEST-NNNNNN"
    );
    assert_eq!(
        name(filename::manifest_path(dir, 7)),
        "MANIFEST-000007",
        "files.md: MANIFEST-NNNNNN"
    );
    assert_eq!(
        filename::parse("MANIFEST-000007"),
        FileKind::Manifest(7),
        "files.md: MANIFEST-NNNNNN"
    );

    doc.states(
        "the temp file name",
        "| `NNNNNN.tmp` | a `CURRENT` being written |",
    );
    doc.states(
        "CURRENT's replacement",
        "replaced atomically through `NNNNNN.tmp`",
    );
    assert_eq!(
        name(filename::temp_path(dir, 7)),
        "000007.tmp",
        "files.md: NNNNNN.tmp"
    );
    assert_eq!(
        filename::parse("000007.tmp"),
        FileKind::Temp(7),
        "files.md: NNNNNN.tmp"
    );

    doc.states(
        "the set-aside WAL name",
        "| `NNNNNN.wal.dropped` | a WAL set aside by `RecoveryMode::PointInTime`; never read again |",
    );
    // Recovery renames `wal_path(n)` with this extension (set_aside_wals);
    // the result is a name rillkv does not recognise, so it is never read.
    let recovery = std::fs::read_to_string(RECOVERY_RS).unwrap();
    assert!(
        recovery.contains("filename::wal_path(dir, number)")
            && recovery.contains(".with_extension(\"wal.dropped\")"),
        "files.md: NNNNNN.wal.dropped is no longer how recovery names a WAL set aside"
    );
    assert_eq!(
        name(filename::wal_path(dir, 7).with_extension("wal.dropped")),
        "000007.wal.dropped",
        "files.md: NNNNNN.wal.dropped"
    );
    assert_eq!(
        filename::parse("000007.wal.dropped"),
        FileKind::Other,
        "files.md: NNNNNN.wal.dropped is never read again"
    );
    doc.states(
        "unknown files",
        "Files rillkv does not recognise are left alone.",
    );
    assert_eq!(filename::parse("notes.txt"), FileKind::Other);

    doc.states(
        "the WAL growth step",
        "The file is grown 1 MiB at a time ahead of its records",
    );
    let file = Recording::default();
    let mut w = wal::Writer::preallocated(Box::new(file.clone()));
    w.add_record(b"x").unwrap();
    assert_eq!(
        *file.preallocated.lock().unwrap(),
        [1 << 20],
        "files.md: WAL grown 1 MiB at a time"
    );

    // A database directory holds exactly the documented forms.
    let tmp = tempfile::tempdir().unwrap();
    let db = crate::Db::open(tmp.path(), Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.flush().unwrap();
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    db.close().unwrap();
    let numbered = |suffix: &str| {
        names.iter().any(|n| {
            n.strip_suffix(suffix)
                .is_some_and(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    assert!(
        names.iter().any(|n| n == "LOCK"),
        "files.md: LOCK in {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "CURRENT"),
        "files.md: CURRENT in {names:?}"
    );
    assert!(numbered(".wal"), "files.md: NNNNNN.wal in {names:?}");
    assert!(numbered(".rkt"), "files.md: NNNNNN.rkt in {names:?}");
    assert!(
        names.iter().any(|n| n
            .strip_prefix("MANIFEST-")
            .is_some_and(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))),
        "files.md: MANIFEST-NNNNNN in {names:?}"
    );
    for n in &names {
        assert_ne!(
            filename::parse(n),
            FileKind::Other,
            "files.md: undocumented file {n}"
        );
    }
}

// ---------------------------------------------------------------- wal.md

#[test]
fn wal_md() {
    let doc = Doc::read(WAL_MD);

    doc.states(
        "BLOCK_SIZE",
        "A log is a sequence of 32 KiB (32,768-byte) blocks.",
    );
    doc.states("BLOCK_SIZE", "block (32768 bytes):");
    assert_eq!(wal::BLOCK_SIZE, 32_768, "wal.md: BLOCK_SIZE");

    doc.states(
        "HEADER_SIZE",
        "`7 + len` never exceeds what is left of the block",
    );
    doc.states("HEADER_SIZE", "When fewer than 7 bytes remain in a block");
    doc.states("the block trailer", "| trailer (0..6 B) |");
    doc.states(
        "the header offsets",
        " 0      4      6    7                 7+len",
    );
    doc.states("the crc width", "| `crc` | 4 |");
    doc.states("the len width", "| `len` | 2 |");
    doc.states("the type width", "| `type` | 1 |");
    assert_eq!(wal::HEADER_SIZE, 4 + 2 + 1, "wal.md: HEADER_SIZE");

    doc.states(
        "the fragment types",
        "| `type` | 1 | `1` FULL (whole record), `2` FIRST, `3` MIDDLE, `4` LAST; `0` is never written |",
    );
    assert_eq!(FragmentType::Full as u8, 1, "wal.md: FULL");
    assert_eq!(FragmentType::First as u8, 2, "wal.md: FIRST");
    assert_eq!(FragmentType::Middle as u8, 3, "wal.md: MIDDLE");
    assert_eq!(FragmentType::Last as u8, 4, "wal.md: LAST");

    // One small record: crc (type + payload), len, type FULL, payload.
    doc.states(
        "the fragment crc",
        "crc32 (IEEE, as computed by `crc32fast`) over the `type` byte followed by the payload",
    );
    let log = log_bytes(&[b"abc".to_vec()]);
    let crc = crc32fast::hash(&[&[1u8][..], b"abc"].concat());
    assert_eq!(
        log,
        [&crc.to_le_bytes()[..], &[3, 0, 1], b"abc"].concat(),
        "wal.md: fragment layout"
    );

    doc.states(
        "the empty record",
        "A record of length 0 is a single FULL fragment with `len = 0`.",
    );
    assert_eq!(
        fragments(&log_bytes(&[Vec::new()])),
        [(0, 1, 0)],
        "wal.md: empty record"
    );

    // A record spanning blocks: FIRST, MIDDLE..., LAST, each within a block.
    let per_block = wal::BLOCK_SIZE - wal::HEADER_SIZE;
    let big = vec![7u8; 100_000];
    assert_eq!(
        fragments(&log_bytes(&[big])),
        [
            (0, 2, per_block),
            (wal::BLOCK_SIZE, 3, per_block),
            (2 * wal::BLOCK_SIZE, 3, per_block),
            (3 * wal::BLOCK_SIZE, 4, 100_000 - 3 * per_block),
        ],
        "wal.md: FIRST/MIDDLE/LAST fragments never cross a block"
    );

    // Fewer than 7 bytes left: zeros, then the next block. Exactly 7: a
    // fragment header still fits there.
    for left in [1usize, 6, 7] {
        let first = vec![1u8; wal::BLOCK_SIZE - wal::HEADER_SIZE - left];
        let frags = fragments(&log_bytes(&[first, b"next".to_vec()]));
        let second = frags[1].0;
        if left < wal::HEADER_SIZE {
            assert_eq!(
                second,
                wal::BLOCK_SIZE,
                "wal.md: {left} bytes left are a trailer"
            );
        } else {
            assert_eq!(
                second,
                wal::BLOCK_SIZE - left,
                "wal.md: 7 bytes left hold a header"
            );
        }
    }

    // Preallocation: 1 MiB at a time; trimmed at a clean close.
    doc.states(
        "the preallocation step",
        "The writer grows the file ahead of its records, 1 MiB at a time, with zeros",
    );
    let file = Recording::default();
    let mut w = wal::Writer::preallocated(Box::new(file.clone()));
    for _ in 0..40 {
        w.add_record(&[5u8; 30_000]).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(
        *file.preallocated.lock().unwrap(),
        [1 << 20, 2 << 20],
        "wal.md: preallocation 1 MiB at a time"
    );
    assert_eq!(
        *file.trimmed.lock().unwrap(),
        [w.len()],
        "wal.md: a clean close trims to the last record"
    );

    // A hole: damaged bytes holding a whole 4 KiB-aligned page of zeros.
    doc.states(
        "the hole page",
        "or containing a whole 4 KiB-aligned page of zeros",
    );
    let records: Vec<Vec<u8>> = (0..30u8).map(|i| vec![i + 1; 3000]).collect();
    let clean = log_bytes(&records);
    let damaged = |zeros: std::ops::Range<usize>| {
        let mut data = clean.clone();
        data[zeros].fill(0);
        read_log(data)
    };
    let (n, d) = damaged(12_288..16_384);
    assert!(
        n < records.len() && d.unwrap().is_tail,
        "wal.md: an aligned zero page is a hole"
    );
    let (n, d) = damaged(12_289..16_385);
    assert!(
        n < records.len() && !d.unwrap().is_tail,
        "wal.md: 4 KiB of zeros not on a 4 KiB boundary is not a hole"
    );

    // The group payload: base seq u64, count u32, then entries.
    doc.states("the payload header", " 0          8        12");
    doc.states("the payload header", "| base seq | count  | entry 0 |");
    doc.states(
        "the entry widths",
        "u8      u32      key len B     u32       value len B",
    );
    assert_eq!(batch::HEADER_LEN, 8 + 4, "wal.md: payload header");
    doc.states(
        "the value kinds",
        "| `kind` | `0` Delete, `1` Put, `2` Merge (frozen; see `src/key.rs`) |",
    );
    assert_eq!(ValueKind::Delete as u8, 0, "wal.md: kind Delete");
    assert_eq!(ValueKind::Put as u8, 1, "wal.md: kind Put");
    assert_eq!(ValueKind::Merge as u8, 2, "wal.md: kind Merge");
    let mut b = WriteBatch::new();
    b.put(b"k", b"vv").delete(b"d").merge(b"m", b"o");
    let mut payload = Vec::new();
    assert_eq!(batch::encode_group(9, &[&b], &mut payload), 3);
    let want = [
        &9u64.to_le_bytes()[..],
        &3u32.to_le_bytes(),
        &[1],
        &1u32.to_le_bytes(),
        b"k",
        &2u32.to_le_bytes(),
        b"vv",
        &[0],
        &1u32.to_le_bytes(),
        b"d",
        &0u32.to_le_bytes(),
        &[2],
        &1u32.to_le_bytes(),
        b"m",
        &1u32.to_le_bytes(),
        b"o",
    ]
    .concat();
    assert_eq!(payload, want, "wal.md: WAL record payload");

    // The recovery modes and the default.
    doc.states("the default mode", "| `TolerateCorruptedTail` (default) |");
    assert_eq!(
        RecoveryMode::default(),
        RecoveryMode::TolerateCorruptedTail,
        "wal.md: default recovery mode"
    );
    for (mode, name) in [
        (RecoveryMode::PointInTime, "| `PointInTime` |"),
        (
            RecoveryMode::AbsoluteConsistency,
            "| `AbsoluteConsistency` |",
        ),
        (RecoveryMode::SkipCorrupted, "| `SkipCorrupted` |"),
    ] {
        doc.states("a recovery mode", name);
        assert!(name.contains(&format!("`{mode:?}`")), "wal.md: {name}");
    }
    doc.states("the set-aside WAL name", "(renamed `NNNNNN.wal.dropped`)");
}

// -------------------------------------------------------------- table.md

#[test]
fn table_md() {
    let doc = Doc::read(TABLE_MD);
    let entries = [
        (ik(b"abc", 1, ValueKind::Put), b"x".to_vec()),
        (ik(b"abd", 2, ValueKind::Delete), Vec::new()),
    ];
    let file = write_table(&entries, &table_opts(Compression::None, 4096, 10));
    let f = footer(&file);

    doc.states(
        "the trailer",
        "followed by an 8-byte trailer `seqno << 8 | kind` (u64 LE)",
    );
    doc.states(
        "the kinds",
        "`kind` is `0` Delete, `1` Put, `2` Merge (frozen)",
    );
    let key = ik(b"abc", 0x0102_0304, ValueKind::Merge);
    assert_eq!(key.trailer(), (0x0102_0304 << 8) | 2, "table.md: trailer");
    assert_eq!(
        MAX_SEQNO,
        u64::MAX >> 8,
        "table.md: the seqno fills the trailer above kind"
    );
    // The first data entry: shared 0, unshared = user key + 8, value 1.
    assert_eq!(&file[..3], &[0, 3 + 8, 1], "table.md: 8-byte trailer");
    assert_eq!(
        &file[6..14],
        &((1u64 << 8) | 1).to_le_bytes(),
        "table.md: trailer LE"
    );

    doc.states(
        "the block trailer",
        "followed by its 5-byte trailer (compression type + crc32)",
    );
    doc.states(
        "the block handle size",
        "**Block handle**: where a stored block lives, 16 bytes:",
    );
    doc.states("the handle layout", " 0          8          16");
    doc.states(
        "the handle's size",
        "the stored block occupies `[offset, offset + size + 5)`",
    );

    doc.states("FOOTER_LEN", "| footer (64 bytes) |");
    doc.states("FOOTER_LEN", "The last 64 bytes of the file.");
    doc.states(
        "the footer offsets",
        " 0              16             32             48        52    56        64",
    );
    doc.states(
        "the footer widths",
        "16 B           16 B           16 B         u32      u32    u64",
    );
    doc.states(
        "the index handle width",
        "| index handle | 16 | the index block |",
    );
    doc.states("the filter handle width", "| filter handle | 16 |");
    doc.states(
        "the props handle width",
        "| props handle | 16 | the properties block |",
    );

    // Layout order: data, filter, properties, index, footer; each stored
    // block is payload + 5 bytes.
    let data = Handle {
        offset: 0,
        size: f.filter.offset - 5,
    };
    assert_eq!(
        data.offset + data.size + 5,
        f.filter.offset,
        "table.md: data then filter"
    );
    assert_eq!(
        f.filter.offset + f.filter.size + 5,
        f.props.offset,
        "table.md: filter then properties"
    );
    assert_eq!(
        f.props.offset + f.props.size + 5,
        f.index.offset,
        "table.md: properties then index"
    );
    assert_eq!(
        f.index.offset + f.index.size + 5 + 64,
        file.len() as u64,
        "table.md: index then a 64-byte footer"
    );

    doc.states(
        "the format version",
        "| version | 4 | format version, currently `1` |",
    );
    assert_eq!(f.version, 1, "table.md: footer version");
    doc.states("the footer crc", "| crc | 4 | crc32 (IEEE, `crc32fast`) over bytes `0..52` (the three handles and the version) |");
    let foot = &file[file.len() - 64..];
    assert_eq!(f.crc, crc32fast::hash(&foot[..52]), "table.md: footer crc");
    doc.states("the magic", "| magic | 8 | `0x7269_6c6c_6b76_5401`");
    assert_eq!(f.magic, 0x7269_6c6c_6b76_5401, "table.md: magic");
    let magic_bytes = doc.hex_inline_after("i.e. bytes `");
    assert_eq!(&foot[56..], &magic_bytes[..], "table.md: magic bytes");

    doc.states(
        "the minimum size",
        "`Table::open` checks, in order: the file is at least 64 bytes",
    );
    assert!(open_table(&file).is_ok(), "table.md: a written table opens");
    assert!(
        open_table(&file[file.len() - 63..]).is_err(),
        "table.md: under 64 bytes"
    );
    let index = file[f.index.range()].to_vec();
    assert!(
        open_table(&with_index(&file, &index, 1, f.magic)).is_ok(),
        "table.md: re-encoded footer"
    );
    let err = open_table(&with_index(&file, &index, 2, f.magic)).unwrap_err();
    assert!(
        err.to_string().contains("unsupported table format version"),
        "table.md: version 2 is refused: {err}"
    );
    assert!(
        open_table(&with_index(&file, &index, 1, f.magic ^ 1)).is_err(),
        "table.md: another magic is refused"
    );

    doc.states(
        "the filter handle",
        "`size == 0` means the table has no filter",
    );
    let unfiltered = write_table(&entries, &table_opts(Compression::None, 4096, 0));
    assert_eq!(footer(&unfiltered).filter.size, 0, "table.md: no filter");

    doc.states(
        "the default block size",
        "once its uncompressed size reaches `block_size` (default 4096)",
    );
    assert_eq!(
        Options::default().block_size,
        4096,
        "table.md: default block_size"
    );
    assert_eq!(
        TableOptions::default().block_size,
        4096,
        "table.md: default block_size"
    );

    doc.states(
        "the data restart interval",
        "Data blocks use restart interval 16",
    );
    doc.states(
        "the index restart interval",
        "A block (restart interval 1) with one entry per data block",
    );
    let many: Vec<_> = (0..17u8)
        .map(|i| (ik(&[b'k', i], 1, ValueKind::Put), vec![i]))
        .collect();
    let one_block = write_table(&many, &table_opts(Compression::None, 4096, 0));
    let fb = footer(&one_block);
    let block = &one_block[..(fb.props.offset - 5) as usize];
    assert_eq!(
        u32_at(block, block.len() - 4),
        2,
        "table.md: 17 entries, interval 16"
    );
    let blocks = write_table(&many[..3], &table_opts(Compression::None, 1, 0));
    let fb = footer(&blocks);
    let index = &blocks[fb.index.range()];
    assert_eq!(
        u32_at(index, index.len() - 4),
        3,
        "table.md: index interval 1"
    );

    doc.states("the index value", "| the last (greatest) encoded internal key of the data block | the data block's 16-byte handle |");
    let index = &file[f.index.range()];
    let mut last = b"abd".to_vec();
    last.extend_from_slice(&(2u64 << 8).to_le_bytes());
    let mut want = vec![0, last.len() as u8, 16];
    want.extend_from_slice(&last);
    want.extend_from_slice(&0u64.to_le_bytes());
    want.extend_from_slice(&data.size.to_le_bytes());
    want.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(
        index,
        &want[..],
        "table.md: index entry = last key → 16-byte handle"
    );

    doc.states(
        "an empty table's index",
        "An empty table has an index block with no entries.",
    );
    let empty = write_table(&[], &table_opts(Compression::None, 4096, 10));
    let fe = footer(&empty);
    assert_eq!(
        &empty[fe.index.range()],
        &[0, 0, 0, 0],
        "table.md: empty index"
    );

    // Properties: layout and version.
    doc.states("the properties version", "version u32 (= 1)");
    doc.states(
        "the properties version",
        "The properties block carries its own `version` (currently `1`)",
    );
    doc.states("the properties layout", "min_seqno u64, max_seqno u64");
    doc.states(
        "the properties layout",
        "compression_type u8, compression_level i32",
    );
    doc.states(
        "raw_key_bytes",
        "sum of encoded internal key lengths (user key + 8) before prefix compression",
    );
    let props = &file[f.props.range()];
    let mut want = 1u32.to_le_bytes().to_vec();
    for k in [b"abc", b"abd"] {
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(k);
    }
    for v in [1u64, 2, 2, 1, 0, 22, 1, 1, data.size + 5] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    want.push(0);
    want.extend_from_slice(&0i32.to_le_bytes());
    want.extend_from_slice(&10u32.to_le_bytes());
    assert_eq!(props, &want[..], "table.md: properties block");
    doc.states("the compression level for none", "level 0 for none");
    doc.states(
        "the metadata blocks",
        "| filter block      |  optional (bloom.md); never compressed",
    );
    doc.states(
        "the metadata blocks",
        "| properties block  |  never compressed",
    );
    doc.states(
        "the metadata blocks",
        "| index block       |  never compressed",
    );
    let zstd = write_table(
        &entries,
        &table_opts(Compression::Zstd { level: 1 }, 4096, 10),
    );
    let fz = footer(&zstd);
    let props = &zstd[fz.props.range()];
    assert_eq!(
        (
            props[props.len() - 9],
            i32::from_le_bytes(props[props.len() - 8..props.len() - 4].try_into().unwrap())
        ),
        (1, 1),
        "table.md: compression_type and level of a zstd table"
    );
    for h in [fz.filter, fz.props, fz.index] {
        assert_eq!(
            block_trailer(&zstd, h).0,
            0,
            "table.md: metadata blocks never compressed"
        );
    }
}

// -------------------------------------------------------------- block.md

#[test]
fn block_md() {
    let doc = Doc::read(BLOCK_MD);
    let entries = [
        (ik(b"abc", 1, ValueKind::Put), b"x".to_vec()),
        (ik(b"abd", 2, ValueKind::Delete), Vec::new()),
    ];
    let file = write_table(&entries, &table_opts(Compression::None, 4096, 0));
    let f = footer(&file);

    doc.states(
        "the golden block",
        "entries `(\"abc\", seq 1, Put) = \"x\"` and `(\"abd\", seq 2, Delete) = \"\"`:",
    );
    let golden = doc.hex_block_after("Example (golden bytes");
    assert_eq!(golden.len(), 15 + 12 + 8, "block.md: golden bytes parsed");
    assert_eq!(
        &file[..golden.len()],
        &golden[..],
        "block.md: golden block bytes"
    );

    doc.states(
        "num_restarts",
        "`num_restarts` (u32, the last 4 bytes) is the number of restart points",
    );
    doc.states(
        "the empty block",
        "the block is then the 4 bytes `00 00 00 00`",
    );
    let empty = write_table(&[], &table_opts(Compression::None, 4096, 0));
    assert_eq!(
        &empty[footer(&empty).index.range()],
        &[0, 0, 0, 0],
        "block.md: empty block"
    );

    doc.states(
        "the restart intervals",
        "Data blocks start a restart interval every 16 entries; index blocks every entry.",
    );
    let many: Vec<_> = (0..33u8)
        .map(|i| (ik(&[b'k', i], 1, ValueKind::Put), vec![i]))
        .collect();
    let t = write_table(&many, &table_opts(Compression::None, 1 << 20, 0));
    let block = &t[..(footer(&t).props.offset - 5) as usize];
    assert_eq!(
        u32_at(block, block.len() - 4),
        3,
        "block.md: 33 entries, interval 16 → 3 restarts"
    );

    doc.states(
        "the trailer length",
        "every block (data, index, filter, properties) is a *payload* followed by a 5-byte trailer",
    );
    doc.states("the crc", "| `crc32` | crc32 (IEEE, `crc32fast`) over the payload bytes followed by the `type` byte |");
    let data = Handle {
        offset: 0,
        size: golden.len() as u64,
    };
    assert_eq!(f.props.offset, data.size + 5, "block.md: 5-byte trailer");
    assert_eq!(
        block_trailer(&file, data),
        (0, stored_block_crc(&golden, 0)),
        "block.md: trailer = type 0 + crc32(payload, type)"
    );

    doc.states("the compression types", "| `type` | compression of the payload: `0` none, `1` zstd, `2` LZ4. On disk: never renumber |");
    doc.states("type 1", "### Type 1: zstd");
    doc.states("type 2", "### Type 2: LZ4");
    let compressible: Vec<_> = (0..50u8)
        .map(|i| {
            (
                ik(format!("key{i:04}").as_bytes(), 1, ValueKind::Put),
                vec![b'a'; 60],
            )
        })
        .collect();
    for (compression, ty) in [
        (Compression::None, 0),
        (Compression::Zstd { level: 1 }, 1),
        (Compression::Lz4, 2),
    ] {
        let t = write_table(&compressible, &table_opts(compression, 1 << 20, 0));
        let data = Handle {
            offset: 0,
            size: footer(&t).props.offset - 5,
        };
        let (got, crc) = block_trailer(&t, data);
        assert_eq!(got, ty, "block.md: type byte of {compression:?}");
        assert_eq!(
            crc,
            stored_block_crc(&t[data.range()], ty),
            "block.md: crc of {compression:?}"
        );
        if ty != 0 {
            let declared = u32_at(&t, 0) as usize;
            let table = open_table(&t).unwrap();
            assert!(table.get(b"key0000", MAX_SEQNO).unwrap().is_some());
            assert!(
                declared > data.size as usize,
                "block.md: uncompressed_len u32 first"
            );
        }
    }

    // Stored raw unless compression saves 1/8, counting the 4-byte length.
    doc.states(
        "the 1/8 rule",
        "when the compressor does not shrink it by at least 1/8 (counting the 4-byte length)",
    );
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut raw_seen, mut lz4_seen, mut shrunk_but_raw) = (0, 0, 0);
    for random in (1200..2000).step_by(8) {
        let mut value: Vec<u8> = (0..random).map(|_| rng.u8(..)).collect();
        value.resize(2000, b'z');
        let t = write_table(
            &[(ik(b"k", 1, ValueKind::Put), value)],
            &table_opts(Compression::Lz4, 1 << 20, 0),
        );
        let data = Handle {
            offset: 0,
            size: footer(&t).props.offset - 5,
        };
        let (ty, _) = block_trailer(&t, data);
        let contents = match ty {
            0 => t[data.range()].to_vec(),
            2 => lz4_flex::block::decompress(&t[4..data.size as usize], u32_at(&t, 0) as usize)
                .unwrap(),
            other => panic!("block.md: unexpected type {other}"),
        };
        let n = contents.len();
        let c = lz4_flex::block::compress(&contents).len();
        let pays = 4 + c < n - n / 8;
        assert_eq!(
            ty == 2,
            pays,
            "block.md: 1/8 rule for a {n}-byte block compressing to {c}"
        );
        raw_seen += usize::from(ty == 0);
        lz4_seen += usize::from(ty == 2);
        shrunk_but_raw += usize::from(ty == 0 && 4 + c < n);
    }
    assert!(
        raw_seen > 0 && lz4_seen > 0 && shrunk_but_raw > 0,
        "block.md: both sides of 1/8 seen"
    );

    doc.states(
        "the decompression cap",
        "must not exceed 64 MiB (67,108,864), a guard against decompression bombs",
    );
    let t = write_table(&compressible, &table_opts(Compression::Lz4, 1 << 20, 0));
    let data = Handle {
        offset: 0,
        size: footer(&t).props.offset - 5,
    };
    let declaring = |len: u32| {
        let mut t = t.clone();
        t[..4].copy_from_slice(&len.to_le_bytes());
        let crc = stored_block_crc(&t[data.range()], 2);
        let end = data.size as usize;
        t[end + 1..end + 5].copy_from_slice(&crc.to_le_bytes());
        let err = open_table(&t)
            .and_then(|table| table.get(b"key0000", MAX_SEQNO))
            .unwrap_err();
        err.to_string()
    };
    assert!(
        !declaring(67_108_864).contains("implausible length"),
        "block.md: 64 MiB is allowed"
    );
    assert!(
        declaring(67_108_865).contains("implausible length"),
        "block.md: more than 64 MiB is refused"
    );

    // Varints: at most 5 bytes; keys at least 8 bytes.
    doc.states(
        "the varint length",
        "at most 5 bytes, and the value must fit in 32 bits",
    );
    doc.states("the key length", "so every key is at least 8 bytes");
    let index = file[f.index.range()].to_vec();
    let rest = &index[1..index.len() - 8]; // after the 1-byte `shared` 0
    let entry_with_shared = |shared: &[u8]| {
        let mut block = shared.to_vec();
        block.extend_from_slice(rest);
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        let t = with_index(&file, &block, 1, f.magic);
        open_table(&t).and_then(|table| table.get(b"abc", MAX_SEQNO))
    };
    assert!(entry_with_shared(&[0]).is_ok(), "block.md: rebuilt index");
    assert!(
        entry_with_shared(&[0x80, 0x80, 0x80, 0x80, 0]).is_ok(),
        "block.md: a 5-byte varint"
    );
    assert!(
        entry_with_shared(&[0x80, 0x80, 0x80, 0x80, 0x80, 0]).is_err(),
        "block.md: a 6-byte varint"
    );
    let mut short = vec![0, 7, 16];
    short.extend_from_slice(&[b'a'; 7]);
    short.extend_from_slice(&index[index.len() - 8 - 16..index.len() - 8]);
    short.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
    assert!(
        open_table(&with_index(&file, &short, 1, f.magic))
            .and_then(|table| table.get(b"abc", MAX_SEQNO))
            .is_err(),
        "block.md: a 7-byte key is corruption"
    );
}

// -------------------------------------------------------------- bloom.md

#[test]
fn bloom_md() {
    let doc = Doc::read(BLOOM_MD);
    let filter_of = |keys: &[&[u8]], bits: u32| {
        let entries: Vec<_> = keys
            .iter()
            .map(|k| (ik(k, 1, ValueKind::Put), b"v".to_vec()))
            .collect();
        let t = write_table(&entries, &table_opts(Compression::Lz4, 4096, bits));
        let f = footer(&t);
        assert_eq!(
            block_trailer(&t, f.filter).0,
            0,
            "bloom.md: filter stored uncompressed"
        );
        t[f.filter.range()].to_vec()
    };

    doc.states(
        "the golden keys",
        "keys `apple` and `banana` at 10 bits per key give `m = 64`, `k = 7` and the block",
    );
    let golden = doc.hex_inline_after("and the block `");
    assert_eq!(golden.len(), 64 / 8 + 1, "bloom.md: m = 64 bits + k");
    assert_eq!(
        filter_of(&[b"apple", b"banana"], 10),
        golden,
        "bloom.md: golden filter"
    );
    doc.states("the hash", "h = xxh3_64(user_key) (seed 0, xxhash-rust)");
    doc.states(
        "the golden hash",
        "`xxh3_64(\"apple\") = 0x517a430dcf1f8a00`",
    );
    assert_eq!(
        xxhash_rust::xxh3::xxh3_64(b"apple"),
        0x517a_430d_cf1f_8a00,
        "bloom.md: xxh3_64(apple)"
    );

    doc.states(
        "m",
        "The writer uses `m = max(64, n * bits_per_key)` rounded up to a multiple of 8",
    );
    doc.states("k", "`k`, the number of probes, is `round(bits_per_key * ln 2)` clamped to `1..=30` (7 for the default 10 bits per key)");
    doc.states("the probes", "delta = h rotate_left 32");
    doc.states(
        "the probes",
        "bit_i = (h + i * delta) mod m (wrapping 64-bit multiply and add)",
    );
    doc.states(
        "the bit order",
        "Bit `i` of the array is bit `i mod 8` (least significant first) of byte `i / 8`.",
    );
    assert_eq!(
        Options::default().bloom_bits_per_key,
        10,
        "bloom.md: default 10 bits per key"
    );
    assert_eq!(
        TableOptions::default().bloom_bits_per_key,
        10,
        "bloom.md: default 10 bits per key"
    );
    for (n, bits) in [
        (1usize, 10u32),
        (10, 10),
        (100, 10),
        (7, 3),
        (3, 1),
        (5, 44),
        (5, 45),
        (3, 100),
    ] {
        let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("key{i:04}").into_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let m = (n as u64 * u64::from(bits)).max(64).div_ceil(8) * 8;
        let k = ((f64::from(bits) * std::f64::consts::LN_2).round() as u8).clamp(1, 30);
        let mut want = vec![0u8; (m / 8) as usize];
        for key in &refs {
            let h = xxhash_rust::xxh3::xxh3_64(key);
            let delta = h.rotate_left(32);
            for i in 0..u64::from(k) {
                let bit = h.wrapping_add(i.wrapping_mul(delta)) % m;
                want[(bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
        want.push(k);
        assert_eq!(
            filter_of(&refs, bits),
            want,
            "bloom.md: {n} keys at {bits} bits per key"
        );
    }

    doc.states(
        "the damaged k",
        "or whose `k` is outside `1..=30` is ignored",
    );
    let entries = [(ik(b"apple", 1, ValueKind::Put), b"v".to_vec())];
    let t = write_table(&entries, &table_opts(Compression::None, 4096, 10));
    let f = footer(&t);
    let with_k = |k: u8| {
        let mut t = t.clone();
        let last = (f.filter.offset + f.filter.size - 1) as usize;
        t[last] = k;
        let crc = stored_block_crc(&t[f.filter.range()], 0);
        t[last + 2..last + 6].copy_from_slice(&crc.to_le_bytes());
        open_table(&t).unwrap().has_filter()
    };
    assert!(with_k(1) && with_k(30), "bloom.md: k in 1..=30 is used");
    assert!(
        !with_k(0) && !with_k(31),
        "bloom.md: k outside 1..=30 is ignored"
    );
}

// ----------------------------------------------------------- manifest.md

#[test]
fn manifest_md() {
    let doc = Doc::read(MANIFEST_MD);
    doc.states(
        "the log framing",
        "It uses the log framing of [wal.md](wal.md) (32 KiB blocks, crc32 per fragment)",
    );
    assert_eq!(wal::BLOCK_SIZE, 32 << 10, "manifest.md: 32 KiB blocks");

    let first_byte = |edit: VersionEdit| edit.encode()[0];
    let meta = TableMeta {
        number: 9,
        run: 4,
        size: 300,
        smallest: Bytes::from_static(b"a"),
        largest: Bytes::from_static(b"bc"),
        min_seqno: 5,
        max_seqno: 6,
        entries: 2,
    };
    let tags = [
        (
            1,
            "FORMAT_VERSION",
            "u32",
            VersionEdit {
                format_version: Some(1),
                ..Default::default()
            },
        ),
        (
            2,
            "LOG_NUMBER",
            "u64",
            VersionEdit {
                log_number: Some(1),
                ..Default::default()
            },
        ),
        (
            3,
            "NEXT_FILE_NUMBER",
            "u64",
            VersionEdit {
                next_file_number: Some(1),
                ..Default::default()
            },
        ),
        (
            4,
            "LAST_SEQNO",
            "u64",
            VersionEdit {
                last_seqno: Some(1),
                ..Default::default()
            },
        ),
        (
            5,
            "MERGE_OPERATOR",
            "bytes",
            VersionEdit {
                merge_operator: Some("op".into()),
                ..Default::default()
            },
        ),
        (
            6,
            "ADD_TABLE",
            "table",
            VersionEdit {
                added: vec![meta.clone()],
                ..Default::default()
            },
        ),
        (
            7,
            "DELETE_TABLE",
            "u64",
            VersionEdit {
                deleted: vec![1],
                ..Default::default()
            },
        ),
    ];
    for (tag, name, value, edit) in tags {
        doc.states(
            &format!("tag {name}"),
            &format!("| {tag} | `{name}` | {value} |"),
        );
        assert_eq!(first_byte(edit), tag, "manifest.md: tag of {name}");
    }
    doc.states(
        "the format version",
        "manifest format version; currently `1`",
    );

    doc.states(
        "bytes",
        "`bytes` is a u32 length followed by that many bytes.",
    );
    doc.states(
        "the table layout",
        "| number | run | size | smallest | largest | min seqno | max seqno | entries |",
    );
    doc.states(
        "the table layout",
        "u64     u64   u64    bytes      bytes      u64         u64        u64",
    );
    let encoded = VersionEdit {
        added: vec![meta],
        ..Default::default()
    }
    .encode();
    let mut want = vec![6];
    for v in [9u64, 4, 300] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    want.extend_from_slice(&1u32.to_le_bytes());
    want.extend_from_slice(b"a");
    want.extend_from_slice(&2u32.to_le_bytes());
    want.extend_from_slice(b"bc");
    for v in [5u64, 6, 2] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(encoded, want, "manifest.md: ADD_TABLE layout");

    doc.states(
        "the example",
        "Example — `LOG_NUMBER 2` then `DELETE_TABLE 5`:",
    );
    let example = doc.hex_block_after("Example — `LOG_NUMBER 2` then `DELETE_TABLE 5`:");
    let edit = VersionEdit {
        log_number: Some(2),
        deleted: vec![5],
        ..Default::default()
    };
    assert_eq!(edit.encode(), example, "manifest.md: example edit bytes");
    assert_eq!(VersionEdit::decode(&Bytes::from(example)).unwrap(), edit);
    doc.states(
        "the empty edit",
        "An empty payload is a valid edit that changes nothing.",
    );
    assert_eq!(
        VersionEdit::decode(&Bytes::new()).unwrap(),
        VersionEdit::default()
    );

    doc.states(
        "max_manifest_size",
        "When the manifest grows past `Options::max_manifest_size` (default 4 MiB)",
    );
    assert_eq!(
        Options::default().max_manifest_size,
        4 << 20,
        "manifest.md: max_manifest_size"
    );

    // CURRENT: the example line, and what an open writes.
    doc.states(
        "CURRENT's form",
        "Exactly: the manifest's file name, one space, the crc32 of the file name's bytes as 8 lowercase hex digits, and a newline.",
    );
    let at = doc.raw.find("## `CURRENT`").unwrap();
    let block = &doc.raw[at..];
    let block = &block[block.find("```").unwrap() + 3..];
    let block = &block[block.find('\n').unwrap() + 1..];
    let example = &block[..block.find("```").unwrap()];
    let example = example.trim_end_matches('\n').replace("\\n", "\n");
    let name12 = filename::manifest_name(12);
    let crc12 = crc32fast::hash(name12.as_bytes());
    let current12 = format!("{name12} {crc12:08x}\n");
    assert_eq!(
        parse_current(current12.as_bytes()),
        Some(12),
        "manifest.md: CURRENT form"
    );
    assert_eq!(
        parse_current(format!("{name12} {crc12:08X}\n").as_bytes()),
        None,
        "manifest.md: CURRENT's hex digits are lowercase"
    );
    assert_eq!(
        parse_current(current12.trim_end().as_bytes()),
        None,
        "manifest.md: CURRENT ends with a newline"
    );
    assert!(
        example.starts_with("MANIFEST-000012 ") && example.ends_with('\n'),
        "manifest.md: the CURRENT example names MANIFEST-000012: {example:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = crate::Db::open(dir, Options::default()).unwrap();
    db.close().unwrap();
    let current = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    let number = parse_current(current.as_bytes()).expect("manifest.md: CURRENT as written parses");
    let name = filename::manifest_name(number);
    assert_eq!(
        current,
        format!("{name} {:08x}\n", crc32fast::hash(name.as_bytes())),
        "manifest.md: CURRENT as written"
    );
    doc.states(
        "the first record",
        "So the first record of a valid manifest always carries `FORMAT_VERSION`",
    );
    let manifest = std::fs::read(dir.join(&name)).unwrap();
    let mut reader = wal::Reader::new(&dir.join(&name), Bytes::from(manifest));
    let (_, first) = reader.next_record().expect("a first record");
    let first = VersionEdit::decode(&first).unwrap();
    assert_eq!(
        first.format_version,
        Some(1),
        "manifest.md: FORMAT_VERSION 1 first"
    );
    assert!(
        first.log_number.is_some()
            && first.next_file_number.is_some()
            && first.last_seqno.is_some()
    );

    // Last, so that every other check has run: the example's checksum.
    assert_eq!(
        example, current12,
        "manifest.md: the CURRENT example's checksum must be crc32(\"{name12}\") = {crc12:08x}"
    );
}
