//! Bad inputs are refused with a typed [`rillkv::Error`] of the right
//! [`ErrorKind`] and a message that names the file (and the offset, where
//! one applies) and says what to do — never a panic, an abort on a huge
//! allocation, a wrong answer, or damage to the user's files.
//!
//! Where each field lives (`docs/format/*.md`):
//! - **table**: magic and format version in the footer (version covered by
//!   the footer crc, magic not); properties version first in the
//!   properties block; key lengths (u32) in the properties block; varint
//!   lengths in data and index blocks; `num_restarts` (u32) at the end of
//!   every block; a declared uncompressed length (u32) before each zstd
//!   frame; a compression type byte in every block trailer; the value kind
//!   in every key's trailer. The manifest records each table's size.
//! - **WAL**: no magic and no version field: a log that is garbage from
//!   its first byte is what a crash leaves and is dropped as a torn tail
//!   (`wal::torn_tail`), so "wrong magic" and "future version" do
//!   not apply. Fragment type byte; inside a record the batch `count`,
//!   entry kind, key and value lengths (u32).
//! - **manifest**: no magic; `FORMAT_VERSION` leads its first record;
//!   field tags; `bytes` lengths (u32); the log framing's fragment types.
//! - **CURRENT**: one line naming the manifest, with a crc. A missing
//!   `CURRENT` next to tables or WALs is a lost one, not a new database.
//!
//! Every damaged field is written with valid checksums around it, so it is
//! the field itself that the reader has to refuse. Files are crafted on a
//! `FaultFs`; each refused open must leave every file of the directory as it
//! was (listing and bytes). Table damage that leaves the file's size alone
//! is found when the table is first read (tables are opened lazily, see
//! `DESIGN.md`): the open succeeds, every read of that table fails with
//! `Corruption`, no read answers wrong, and once the table's bytes are put
//! back every key reads again (the open lost nothing).
//!
//! Allocation is bounded: the counting global allocator
//! (`support::heap`) checks that no refused open or read takes more than
//! 64 MiB of heap, whatever a length field claims (up to `u32::MAX`). Each
//! test that measures runs alone in a child process
//! (`support::heap::isolated`), so that no other test's allocations count
//! in its peak.
//!
//! Path problems use real temporary directories: a path that is a file,
//! a read-only directory (as root, which ignores permissions, the check
//! runs in a child process as user `nobody`, or is skipped with a note if
//! that is not possible), a missing directory with and without
//! `create_if_missing`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rillkv::fs::{FaultFs, Fs};
use rillkv::{CompactionOptions, Compression, Db, Error, ErrorKind, Options, WriteOptions};

use crate::support::format::{
    BATCH_COUNT_AT, BATCH_KEY_LEN_AT, BATCH_KIND_AT, FOOTER_LEN, HEADER, TAG_ADD_TABLE,
    TAG_FORMAT_VERSION, TAG_MERGE_OPERATOR, current_naming, edit_block, edit_footer,
    first_data_block, fragment, frame_log, get_u32, log_payloads, put_u32, records, table_layout,
    varint32,
};
use crate::support::heap::{isolated, peak_during};
use crate::support::{
    Files, Model, child_command, dir_contents, dir_names, file_name, file_names, key,
    manifest_names, read_all, show, table_paths, wal_files,
};

/// The most heap a refused open (with the reads after it) may add, whatever
/// a length field claims.
const MAX_EXTRA_HEAP: usize = 64 << 20;

/// The longest a refused open (with its reads) may take: it must fail at
/// once, not grind through a huge length.
const MAX_TIME: Duration = Duration::from_secs(5);

/// Runs `f`, checking that it stays within [`MAX_EXTRA_HEAP`] and
/// [`MAX_TIME`].
fn bounded<T>(case: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let (out, extra) = peak_during(f);
    let took = start.elapsed();
    eprintln!(
        "{case}: peak extra heap {} KiB, {} ms",
        extra >> 10,
        took.as_millis()
    );
    assert!(
        extra < MAX_EXTRA_HEAP,
        "{case}: took {extra} bytes of heap (limit {MAX_EXTRA_HEAP})"
    );
    assert!(took < MAX_TIME, "{case}: took {took:?}");
    out
}

// ---------------------------------------------------------------------------
// The database under test.

const DIR: &str = "/db";

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn options(fs: &FaultFs) -> Options {
    // No background compaction: the one table under test stays as built.
    Options::default()
        .fs(fs.clone())
        .compaction(CompactionOptions::default().background(false))
}

fn value(i: u64, salt: &str) -> Vec<u8> {
    format!("value-{i:05}-{salt}-{}", "x".repeat(40)).into_bytes()
}

/// Keys in the table: `0..TABLE_KEYS`; in the WAL: `TABLE_KEYS..ALL_KEYS`.
const TABLE_KEYS: u64 = 200;
const ALL_KEYS: u64 = 260;

/// A closed database: one table holding keys `0..TABLE_KEYS` (flushed),
/// and a WAL holding keys `TABLE_KEYS..ALL_KEYS`, one synced put per
/// record. Its manifest is [snapshot, flush edit, empty edit].
fn build(compression: Compression, salt: &str) -> (FaultFs, Model) {
    let fs = FaultFs::new();
    let mut model = Model::new();
    let db = Db::open(DIR, options(&fs).compression(compression)).expect("open");
    for i in 0..TABLE_KEYS {
        db.put(key(i), value(i, salt)).expect("put");
        model.insert(key(i), value(i, salt));
    }
    db.flush().expect("flush");
    let sync = WriteOptions::default().sync(true);
    for i in TABLE_KEYS..ALL_KEYS {
        let mut batch = rillkv::WriteBatch::new();
        batch.put(key(i), value(i, salt));
        db.write_opt(batch, &sync).expect("synced put");
        model.insert(key(i), value(i, salt));
    }
    db.close().expect("close");
    // Sanity: the files have the shape the cases rely on, and the log
    // framing helpers reproduce the engine's bytes exactly.
    assert_eq!(
        table_paths(&fs, dir()).len(),
        1,
        "{:?}",
        dir_names(&fs, dir())
    );
    for path in [wal(&fs), manifest(&fs)] {
        let bytes = fs.file_bytes(&path).expect("log");
        assert_eq!(
            frame_log(&log_payloads(&bytes)),
            bytes,
            "{}",
            path.display()
        );
    }
    assert_eq!(log_payloads(&read(&fs, &manifest(&fs))).len(), 3);
    assert_eq!(
        log_payloads(&read(&fs, &wal(&fs))).len(),
        (ALL_KEYS - TABLE_KEYS) as usize
    );
    (fs, model)
}

fn read(fs: &FaultFs, path: &Path) -> Vec<u8> {
    fs.file_bytes(path)
        .unwrap_or_else(|| panic!("{} is missing", path.display()))
}

fn write(fs: &FaultFs, path: &Path, bytes: Vec<u8>) {
    fs.set_file_bytes(path, bytes).expect("set_file_bytes");
}

/// The database's one table.
fn table(fs: &FaultFs) -> PathBuf {
    table_paths(fs, dir()).pop().expect("a table")
}

/// The database's one WAL.
fn wal(fs: &FaultFs) -> PathBuf {
    let wals = wal_files(fs, dir());
    assert_eq!(wals.len(), 1, "{wals:?}");
    wals[0].clone()
}

/// The database's manifest.
fn manifest(fs: &FaultFs) -> PathBuf {
    let names = manifest_names(fs, dir());
    assert_eq!(names.len(), 1, "{names:?}");
    dir().join(&names[0])
}

fn current() -> PathBuf {
    dir().join("CURRENT")
}

fn assert_same_listing(before: &Files, after: &Files, case: &str) {
    assert_eq!(
        file_names(before),
        file_names(after),
        "{case}: the failed open changed the directory"
    );
    for ((p, bytes), (_, now)) in before.iter().zip(after) {
        assert!(
            now == bytes,
            "{case}: the failed open changed the bytes of {}",
            file_name(p)
        );
    }
}

/// What one case must produce.
struct Want<'a> {
    kind: ErrorKind,
    /// A file name the message must contain.
    file: &'a str,
    /// The offset the message must name, if any.
    offset: Option<u64>,
    /// Words of the message saying what happened.
    what: &'a str,
    /// Words of the message saying what to do.
    advice: &'a str,
}

fn check_error(err: &Error, want: &Want, case: &str) {
    let msg = err.to_string();
    assert_eq!(err.kind(), want.kind, "{case}: {msg}");
    assert!(
        msg.contains(want.file),
        "{case}: not naming {}: {msg}",
        want.file
    );
    if let Some(offset) = want.offset {
        assert!(
            msg.contains(&format!("offset {offset}")),
            "{case}: not naming offset {offset}: {msg}"
        );
    }
    assert!(
        msg.contains(want.what),
        "{case}: not saying {:?}: {msg}",
        want.what
    );
    assert!(
        msg.contains(want.advice),
        "{case}: not advising {:?}: {msg}",
        want.advice
    );
    eprintln!("{case}: {:?}: {msg}", err.kind());
}

/// Opens the damaged database, which must be refused as `want` says,
/// within the heap and time bounds, without changing any file.
fn refused_open(fs: &FaultFs, want: &Want, case: &str) {
    refused_open_with(fs, options(fs), want, case);
}

/// [`refused_open`] with `opts`.
fn refused_open_with(fs: &FaultFs, opts: Options, want: &Want, case: &str) {
    let before = dir_contents(fs, dir());
    let result = bounded(case, || Db::open(DIR, opts));
    let err = match result {
        Ok(db) => {
            let _ = db.close();
            panic!("{case}: the open succeeded");
        }
        Err(e) => e,
    };
    check_error(&err, want, case);
    assert_same_listing(&before, &dir_contents(fs, dir()), case);
}

/// What reading everything gave.
#[derive(Default)]
struct Reads {
    errors: Vec<Error>,
    wrong: Vec<String>,
    right: usize,
}

/// Reads every key of `model` (and a few absent ones) and scans both ways;
/// records right answers, wrong answers and errors.
fn read_everything(db: &Db, model: &Model) -> Reads {
    let mut out = Reads::default();
    let absent = [b"a".to_vec(), key(99_999), [key(1), b"x".to_vec()].concat()];
    for k in model.keys().chain(absent.iter()) {
        match db.get(k) {
            Ok(v) if v.as_deref() == model.get(k).map(Vec::as_slice) => out.right += 1,
            Ok(v) => out
                .wrong
                .push(format!("get({}) = {:?}", show(k), v.as_deref().map(show))),
            Err(e) => out.errors.push(e),
        }
    }
    for reverse in [false, true] {
        let iter: Box<dyn Iterator<Item = rillkv::Result<_>>> = if reverse {
            Box::new(db.iter().rev())
        } else {
            Box::new(db.iter())
        };
        let mut expected: Box<dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>> = if reverse {
            Box::new(model.iter().rev())
        } else {
            Box::new(model.iter())
        };
        for item in iter {
            match item {
                Ok((k, v)) => {
                    if expected.next() != Some((&k.to_vec(), &v.to_vec())) {
                        out.wrong.push(format!(
                            "scan (reverse {reverse}) yielded {} = {}",
                            show(&k),
                            show(&v)
                        ));
                        break;
                    }
                }
                Err(e) => {
                    out.errors.push(e);
                    break;
                }
            }
        }
    }
    out
}

/// The table of the database was damaged without changing its size: the
/// open succeeds, reads of the table fail as `want` says (no wrong
/// answer), within the heap and time bounds; the table's bytes are left
/// alone; putting the original bytes back makes every key readable again.
fn refused_reads(fs: &FaultFs, model: &Model, original: &[u8], want: &Want, case: &str) {
    let path = table(fs);
    let damaged = read(fs, &path);
    let reads = bounded(case, || {
        let db = Db::open(DIR, options(fs))
            .unwrap_or_else(|e| panic!("{case}: open failed before any read: {e}"));
        let reads = read_everything(&db, model);
        db.close().expect("close");
        reads
    });
    assert!(
        reads.wrong.is_empty(),
        "{case}: wrong answers {:?}",
        reads.wrong
    );
    let first = reads
        .errors
        .first()
        .unwrap_or_else(|| panic!("{case}: the damage went unnoticed"));
    check_error(first, want, case);
    for e in &reads.errors {
        assert_eq!(e.kind(), want.kind, "{case}: {e}");
        assert!(e.message().contains(want.file), "{case}: {e}");
    }
    assert_eq!(
        read(fs, &path),
        damaged,
        "{case}: the open changed the damaged table"
    );
    // Nothing was lost: with the table restored, everything reads.
    write(fs, &path, original.to_vec());
    let db = Db::open(DIR, options(fs)).expect("reopen with the table restored");
    let reads = read_everything(&db, model);
    assert!(
        reads.errors.is_empty() && reads.wrong.is_empty(),
        "{case}: after restoring the table: errors {:?}, wrong {:?}",
        reads.errors,
        reads.wrong
    );
    db.close().expect("close");
}

// ---------------------------------------------------------------------------
// Crafting bytes with valid checksums (the codec: `support::format`).

/// Rewrites the log at `path` with record `i`'s payload edited (its length
/// may change); returns the offset of record `i` in the new log.
fn edit_record(fs: &FaultFs, path: &Path, i: usize, edit: impl FnOnce(&mut Vec<u8>)) -> u64 {
    let mut payloads = log_payloads(&read(fs, path));
    edit(&mut payloads[i]);
    let bytes = frame_log(&payloads);
    let offset = records(&bytes)[i].0 as u64;
    write(fs, path, bytes);
    offset
}

/// Gives record `i` of the log at `path` (a single fragment) the type byte
/// `ty`, with a valid crc; returns its offset.
fn retype_record(fs: &FaultFs, path: &Path, i: usize, ty: u8) -> u64 {
    let mut bytes = read(fs, path);
    let (start, end) = records(&bytes)[i];
    let mut f = Vec::new();
    fragment(&mut f, ty, &bytes[start + HEADER..end]);
    bytes[start..end].copy_from_slice(&f);
    write(fs, path, bytes);
    start as u64
}

// ---------------------------------------------------------------------------
// Tables.

const TABLE_ADVICE: &str = "restore the file from a backup";

#[test]
fn table_of_another_size_than_the_manifest_records_fails_the_open() {
    isolated(
        module_path!(),
        "table_of_another_size_than_the_manifest_records_fails_the_open",
        || {
            // A valid table of another database, of another size.
            let other_table = {
                let (fs, _) = build(Compression::default(), "other");
                read(&fs, &table(&fs))
            };
            let (fs, _) = build(Compression::None, "mine");
            let path = table(&fs);
            let original = read(&fs, &path);
            let len = original.len();
            assert_ne!(other_table.len(), len);
            let cases: Vec<(&str, Vec<u8>)> = vec![
                ("zero-length table", Vec::new()),
                (
                    "table shorter than its footer",
                    original[..FOOTER_LEN - 1].to_vec(),
                ),
                ("table cut by one byte", original[..len - 1].to_vec()),
                ("table with one byte appended", {
                    let mut b = original.clone();
                    b.push(0);
                    b
                }),
                ("table replaced by another valid table", other_table),
            ];
            for (case, bytes) in cases {
                let offset = bytes.len().min(len) as u64;
                write(&fs, &path, bytes);
                refused_open(
                    &fs,
                    &Want {
                        kind: ErrorKind::Corruption,
                        file: &file_name(&path),
                        offset: Some(offset),
                        what: &format!("manifest records {len} bytes"),
                        advice: TABLE_ADVICE,
                    },
                    case,
                );
                write(&fs, &path, original.clone());
            }
            Db::open(DIR, options(&fs))
                .expect("the restored table opens")
                .close()
                .expect("close");
        },
    );
}

/// One table damage that keeps the file's size: `edit` changes the bytes;
/// the first read error must be as `what` says, at `offset`.
fn table_case(
    compression: Compression,
    case: &str,
    what: &str,
    offset: impl FnOnce(&[u8]) -> u64,
    edit: impl FnOnce(&mut Vec<u8>),
) {
    let (fs, model) = build(compression, "v");
    let path = table(&fs);
    let original = read(&fs, &path);
    let offset = offset(&original);
    let mut bytes = original.clone();
    edit(&mut bytes);
    assert_eq!(bytes.len(), original.len(), "{case}: the size is kept");
    write(&fs, &path, bytes);
    refused_reads(
        &fs,
        &model,
        &original,
        &Want {
            kind: ErrorKind::Corruption,
            file: &file_name(&path),
            offset: Some(offset),
            what,
            advice: TABLE_ADVICE,
        },
        case,
    );
}

fn footer_offset(t: &[u8]) -> u64 {
    (t.len() - FOOTER_LEN) as u64
}

#[test]
fn table_with_wrong_magic_fails_its_reads() {
    isolated(
        module_path!(),
        "table_with_wrong_magic_fails_its_reads",
        || {
            table_case(
                Compression::None,
                "table with wrong magic",
                "bad table magic",
                footer_offset,
                |t| {
                    let n = t.len();
                    t[n - 8..].copy_from_slice(b"NOTATABL");
                },
            );
        },
    );
}

#[test]
fn table_from_a_future_format_version_fails_its_reads() {
    isolated(
        module_path!(),
        "table_from_a_future_format_version_fails_its_reads",
        || {
            table_case(
                Compression::None,
                "table footer version 2",
                "unsupported table format version 2",
                footer_offset,
                |t| edit_footer(t, |f| put_u32(f, 48, 2)),
            );
            table_case(
                Compression::None,
                "table properties version 2",
                "unsupported properties version",
                |t| table_layout(t).properties.offset,
                |t| {
                    let h = table_layout(t).properties;
                    edit_block(t, h, None, |p| put_u32(p, 0, 2));
                },
            );
        },
    );
}

#[test]
fn table_blocks_of_unknown_types_fail_their_reads() {
    isolated(
        module_path!(),
        "table_blocks_of_unknown_types_fail_their_reads",
        || {
            table_case(
                Compression::None,
                "index block with compression type 7",
                "unknown block compression type",
                |t| table_layout(t).index.offset,
                |t| {
                    let h = table_layout(t).index;
                    edit_block(t, h, Some(7), |_| {});
                },
            );
            table_case(
                Compression::None,
                "data block with compression type 200",
                "unknown block compression type",
                |t| first_data_block(t).offset,
                |t| {
                    let h = first_data_block(t);
                    edit_block(t, h, Some(200), |_| {});
                },
            );
            // The first entry's key: shared 0, unshared n, value length, then the
            // key, whose last 8 bytes are the trailer: kind byte first (LE).
            table_case(
                Compression::None,
                "data block key of value kind 9",
                "data block: unknown value kind",
                |t| first_data_block(t).offset,
                |t| {
                    let h = first_data_block(t);
                    edit_block(t, h, None, |p| {
                        let mut pos = 0;
                        assert_eq!(varint32(p, &mut pos), 0);
                        let unshared = varint32(p, &mut pos) as usize;
                        varint32(p, &mut pos);
                        p[pos + unshared - 8] = 9;
                    });
                },
            );
        },
    );
}

#[test]
fn table_length_fields_near_u32_max_fail_their_reads_without_allocating() {
    isolated(
        module_path!(),
        "table_length_fields_near_u32_max_fail_their_reads_without_allocating",
        || {
            table_case(
                Compression::None,
                "properties key length u32::MAX",
                "properties block",
                |t| table_layout(t).properties.offset,
                |t| {
                    let h = table_layout(t).properties;
                    edit_block(t, h, None, |p| put_u32(p, 4, u32::MAX));
                },
            );
            table_case(
                Compression::None,
                "index block num_restarts u32::MAX",
                "restart",
                |t| table_layout(t).index.offset,
                |t| {
                    let h = table_layout(t).index;
                    edit_block(t, h, None, |p| {
                        let n = p.len();
                        put_u32(p, n - 4, u32::MAX);
                    });
                },
            );
            table_case(
                Compression::None,
                "data block num_restarts u32::MAX - 1",
                "data block",
                |t| first_data_block(t).offset,
                |t| {
                    let h = first_data_block(t);
                    edit_block(t, h, None, |p| {
                        let n = p.len();
                        put_u32(p, n - 4, u32::MAX - 1);
                    });
                },
            );
            // The first entry's unshared-key-length varint becomes u32::MAX (5
            // bytes, overwriting the start of the key).
            table_case(
                Compression::None,
                "data block key length u32::MAX",
                "data block: block entry truncated",
                |t| first_data_block(t).offset,
                |t| {
                    let h = first_data_block(t);
                    edit_block(t, h, None, |p| {
                        p[1..6].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
                    });
                },
            );
            // A zstd block declares its uncompressed length first (u32).
            table_case(
                Compression::Zstd { level: 1 },
                "zstd block declaring u32::MAX bytes",
                "implausible length",
                |t| first_data_block(t).offset,
                |t| {
                    let h = first_data_block(t);
                    let trailer = (h.offset + h.size) as usize;
                    assert_eq!(t[trailer], 1, "the first data block is compressed");
                    assert!(get_u32(t, h.offset as usize) < 1 << 20);
                    edit_block(t, h, None, |p| put_u32(p, 0, u32::MAX));
                },
            );
            // The index handle claims a block of 2^64 - 1 bytes.
            table_case(
                Compression::None,
                "index handle of size u64::MAX",
                "out of range",
                footer_offset,
                |t| edit_footer(t, |f| f[8..16].copy_from_slice(&u64::MAX.to_le_bytes())),
            );
        },
    );
}

// ---------------------------------------------------------------------------
// WAL.

const WAL_ADVICE: &str = "RecoveryMode::PointInTime";

/// One WAL damage: `edit` rewrites the log and returns the damaged
/// record's offset. The damaged record is followed by good ones, so it is
/// not a torn tail: the default open is refused.
fn wal_case(case: &str, what: &str, edit: impl FnOnce(&FaultFs, &Path) -> u64) {
    let (fs, _) = build(Compression::None, "v");
    let path = wal(&fs);
    let offset = edit(&fs, &path);
    assert!(offset > 0, "{case}: damage an inner record");
    refused_open(
        &fs,
        &Want {
            kind: ErrorKind::Corruption,
            file: &file_name(&path),
            offset: Some(offset),
            what,
            advice: WAL_ADVICE,
        },
        case,
    );
}

/// Record payload layout (`docs/format/wal.md`, `support::format`): base
/// seq u64, count u32, then entries of kind u8, key length u32, key, value
/// length u32, value.
const COUNT_AT: usize = BATCH_COUNT_AT;
const KIND_AT: usize = BATCH_KIND_AT;
const KEY_LEN_AT: usize = BATCH_KEY_LEN_AT;

#[test]
fn wal_records_of_unknown_types_fail_the_open() {
    isolated(
        module_path!(),
        "wal_records_of_unknown_types_fail_the_open",
        || {
            wal_case(
                "WAL fragment of type 5",
                "unknown fragment type",
                |fs, path| retype_record(fs, path, 3, 5),
            );
            wal_case(
                "WAL fragment of type 0xff",
                "unknown fragment type",
                |fs, path| retype_record(fs, path, 7, 0xff),
            );
            wal_case("WAL entry of kind 9", "unknown entry kind", |fs, path| {
                edit_record(fs, path, 3, |p| p[KIND_AT] = 9)
            });
        },
    );
}

#[test]
fn wal_length_fields_near_u32_max_fail_the_open_without_allocating() {
    isolated(
        module_path!(),
        "wal_length_fields_near_u32_max_fail_the_open_without_allocating",
        || {
            wal_case(
                "WAL record count u32::MAX",
                "malformed batch",
                |fs, path| edit_record(fs, path, 3, |p| put_u32(p, COUNT_AT, u32::MAX)),
            );
            wal_case(
                "WAL record count u32::MAX, entries cut",
                "malformed batch",
                |fs, path| {
                    edit_record(fs, path, 3, |p| {
                        put_u32(p, COUNT_AT, u32::MAX);
                        p.truncate(KIND_AT);
                    })
                },
            );
            wal_case(
                "WAL key length u32::MAX - 1",
                "malformed batch",
                |fs, path| edit_record(fs, path, 3, |p| put_u32(p, KEY_LEN_AT, u32::MAX - 1)),
            );
            wal_case(
                "WAL value length u32::MAX",
                "malformed batch",
                |fs, path| {
                    edit_record(fs, path, 3, |p| {
                        let klen = get_u32(p, KEY_LEN_AT) as usize;
                        put_u32(p, KEY_LEN_AT + 4 + klen, u32::MAX);
                    })
                },
            );
        },
    );
}

/// A zero-length WAL is what a crash right after creating a log leaves: it
/// holds nothing, and the open goes on with every table intact.
#[test]
fn zero_length_wals_open_and_lose_nothing_else() {
    isolated(
        module_path!(),
        "zero_length_wals_open_and_lose_nothing_else",
        || {
            let (fs, model) = build(Compression::None, "v");
            let path = wal(&fs);
            write(&fs, &path, Vec::new());
            // And a newer, empty log after it.
            let number: u64 = file_name(&path)
                .strip_suffix(".wal")
                .and_then(|n| n.parse().ok())
                .expect("wal number");
            let newer = dir().join(format!("{:06}.wal", number + 1));
            let mut f = fs.create(&newer).expect("create");
            f.sync().expect("sync");
            fs.sync_dir(dir()).expect("sync dir");

            let table_model: Model = model
                .into_iter()
                .filter(|(k, _)| k < &key(TABLE_KEYS))
                .collect();
            let db = bounded("zero-length WALs", || Db::open(DIR, options(&fs)))
                .expect("empty logs are no damage");
            let reads = read_everything(&db, &table_model);
            assert!(
                reads.errors.is_empty() && reads.wrong.is_empty(),
                "errors {:?}, wrong {:?}",
                reads.errors,
                reads.wrong
            );
            assert_eq!(reads.right, table_model.len() + 3);
            db.close().expect("close");
        },
    );
}

// ---------------------------------------------------------------------------
// Manifest.

const MANIFEST_ADVICE: &str = "restore the file from a backup";

fn manifest_case(
    case: &str,
    what: &str,
    offset: Option<u64>,
    edit: impl FnOnce(&FaultFs, &Path) -> Option<u64>,
) {
    let (fs, _) = build(Compression::None, "v");
    let path = manifest(&fs);
    let edited = edit(&fs, &path);
    refused_open(
        &fs,
        &Want {
            kind: ErrorKind::Corruption,
            file: &file_name(&path),
            offset: offset.or(edited),
            what,
            advice: MANIFEST_ADVICE,
        },
        case,
    );
}

#[test]
fn manifest_empty_or_not_a_manifest_fails_the_open() {
    isolated(
        module_path!(),
        "manifest_empty_or_not_a_manifest_fails_the_open",
        || {
            manifest_case(
                "zero-length manifest",
                "manifest is empty",
                Some(0),
                |fs, p| {
                    write(fs, p, Vec::new());
                    None
                },
            );
            // No magic: a file of another kind reads as a log with no valid record.
            manifest_case(
                "manifest holding a table's bytes",
                "no valid record",
                Some(0),
                |fs, p| {
                    write(fs, p, read(fs, &table(fs)));
                    None
                },
            );
            manifest_case("manifest of zeros", "no valid record", Some(0), |fs, p| {
                write(fs, p, vec![0; 4096]);
                None
            });
        },
    );
}

#[test]
fn manifest_from_a_future_format_version_fails_the_open() {
    isolated(
        module_path!(),
        "manifest_from_a_future_format_version_fails_the_open",
        || {
            manifest_case(
                "manifest format version 3",
                "manifest format version 3 is not supported",
                None,
                |fs, p| {
                    Some(edit_record(fs, p, 0, |r| {
                        assert_eq!(r[0], TAG_FORMAT_VERSION);
                        put_u32(r, 1, 3);
                    }))
                },
            );
            // A newer format would also bring fields this build does not know:
            // the version is what the message must name, not the unknown field.
            manifest_case(
                "manifest format version 7 with a new field",
                "manifest format version 7 is not supported",
                None,
                |fs, p| {
                    Some(edit_record(fs, p, 0, |r| {
                        put_u32(r, 1, 7);
                        r.extend_from_slice(&[200, 1, 2, 3]);
                    }))
                },
            );
        },
    );
}

#[test]
fn manifest_records_of_unknown_types_fail_the_open() {
    isolated(
        module_path!(),
        "manifest_records_of_unknown_types_fail_the_open",
        || {
            manifest_case(
                "manifest edit with field tag 99",
                "unknown field tag",
                None,
                |fs, p| Some(edit_record(fs, p, 1, |r| r.push(99))),
            );
            manifest_case(
                "manifest fragment of type 9",
                "unknown fragment type",
                None,
                |fs, p| Some(retype_record(fs, p, 1, 9)),
            );
        },
    );
}

#[test]
fn manifest_length_fields_near_u32_max_fail_the_open_without_allocating() {
    isolated(
        module_path!(),
        "manifest_length_fields_near_u32_max_fail_the_open_without_allocating",
        || {
            manifest_case(
                "manifest merge operator name of u32::MAX bytes",
                "runs past the record",
                None,
                |fs, p| {
                    Some(edit_record(fs, p, 1, |r| {
                        r.push(TAG_MERGE_OPERATOR);
                        r.extend_from_slice(&u32::MAX.to_le_bytes());
                        r.extend_from_slice(b"u64add");
                    }))
                },
            );
            manifest_case(
                "manifest table key of u32::MAX - 8 bytes",
                "runs past the record",
                None,
                |fs, p| {
                    Some(edit_record(fs, p, 1, |r| {
                        r.push(TAG_ADD_TABLE);
                        for v in [999u64, 999, 4096] {
                            r.extend_from_slice(&v.to_le_bytes());
                        }
                        r.extend_from_slice(&(u32::MAX - 8).to_le_bytes());
                        r.extend_from_slice(b"key");
                    }))
                },
            );
        },
    );
}

// ---------------------------------------------------------------------------
// CURRENT (its damage in general: `corruption::detected`).

#[test]
fn bad_current_fails_the_open_and_changes_nothing() {
    isolated(
        module_path!(),
        "bad_current_fails_the_open_and_changes_nothing",
        || {
            let cases: Vec<(&str, Vec<u8>, &str)> = vec![
                (
                    "zero-length CURRENT",
                    Vec::new(),
                    "is not one line naming a manifest",
                ),
                (
                    "CURRENT naming manifest u64::MAX",
                    current_naming(&format!("MANIFEST-{}", u64::MAX)),
                    "does not exist",
                ),
                (
                    "CURRENT naming a manifest number past u64",
                    current_naming("MANIFEST-99999999999999999999999"),
                    "is not one line naming a manifest",
                ),
                (
                    "CURRENT naming a table",
                    current_naming("000001.rkt"),
                    "is not one line naming a manifest",
                ),
                (
                    "CURRENT of 1 MiB",
                    vec![b'M'; 1 << 20],
                    "is not one line naming a manifest",
                ),
            ];
            for (case, bytes, what) in cases {
                let (fs, _) = build(Compression::None, "v");
                write(&fs, &current(), bytes);
                refused_open(
                    &fs,
                    &Want {
                        kind: ErrorKind::Corruption,
                        file: "CURRENT",
                        offset: Some(0),
                        what,
                        advice: "restore",
                    },
                    case,
                );
            }
        },
    );
}

/// Without `CURRENT`, a directory holding tables or WALs is a database that
/// lost it, not a place for a new one (which would delete them as
/// unreferenced files): the open is refused, whatever `create_if_missing`
/// says. A manifest alone (a first open that crashed before `CURRENT`
/// was written) holds no data: the directory opens as a new database.
#[test]
fn missing_current_next_to_data_files_fails_the_open() {
    isolated(
        module_path!(),
        "missing_current_next_to_data_files_fails_the_open",
        || {
            for create in [true, false] {
                let (fs, _) = build(Compression::None, "v");
                fs.remove_file(&current()).expect("remove CURRENT");
                refused_open_with(
                    &fs,
                    options(&fs).create_if_missing(create),
                    &Want {
                        kind: ErrorKind::Corruption,
                        file: "CURRENT",
                        offset: Some(0),
                        what: "it is not opened as a new database",
                        advice: "restore the file from a backup",
                    },
                    &format!("CURRENT missing, create_if_missing({create})"),
                );
            }
            let (fs, _) = build(Compression::None, "v");
            for name in dir_names(&fs, dir()) {
                if !name.starts_with("MANIFEST-") && name != "LOCK" {
                    fs.remove_file(&dir().join(&name)).expect("remove");
                }
            }
            let db = Db::open(DIR, options(&fs)).expect("a lone manifest holds no data");
            assert!(db.iter().next().is_none(), "a new, empty database");
            db.close().expect("close");
        },
    );
}

// ---------------------------------------------------------------------------
// Paths on the real filesystem.

/// Every file under `dir` (recursively) with its bytes.
fn real_listing(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(path, bytes);
            }
        }
    }
    out
}

#[test]
fn a_path_that_is_a_file_is_invalid_and_left_alone() {
    isolated(
        module_path!(),
        "a_path_that_is_a_file_is_invalid_and_left_alone",
        || {
            let tmp = tempfile::tempdir().expect("tempdir");
            let file = tmp.path().join("not-a-dir");
            std::fs::write(&file, b"user data").expect("write");
            let before = real_listing(tmp.path());
            let cases = [
                ("the path is a file", file.clone(), true),
                (
                    "the path is a file, create_if_missing(false)",
                    file.clone(),
                    false,
                ),
                ("a parent of the path is a file", file.join("db"), true),
            ];
            for (case, path, create) in cases {
                let err = bounded(case, || {
                    Db::open(&path, Options::default().create_if_missing(create))
                })
                .map(|_| ())
                .expect_err("a file is no database directory");
                let advice = "pass the path of a database directory";
                check_error(
                    &err,
                    &Want {
                        kind: ErrorKind::InvalidArgument,
                        file: &path.display().to_string(),
                        offset: None,
                        what: "not a directory",
                        advice,
                    },
                    case,
                );
                assert_eq!(real_listing(tmp.path()), before, "{case}: files changed");
            }
        },
    );
}

#[test]
fn a_missing_directory_is_created_only_when_asked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("a").join("b").join("db");
    let err = Db::open(&missing, Options::default().create_if_missing(false))
        .map(|_| ())
        .expect_err("missing");
    check_error(
        &err,
        &Want {
            kind: ErrorKind::InvalidArgument,
            file: &missing.display().to_string(),
            offset: None,
            what: "no database",
            advice: "create_if_missing(true)",
        },
        "missing directory, create_if_missing(false)",
    );
    assert!(
        !tmp.path().join("a").exists(),
        "a refused open must not create any directory"
    );
    let db = Db::open(&missing, Options::default().create_if_missing(true))
        .expect("create_if_missing creates the directory and its parents");
    db.put("k", "v").expect("put");
    db.close().expect("close");
    let db = Db::open(&missing, Options::default().create_if_missing(false)).expect("reopen");
    assert_eq!(db.get("k").expect("get").as_deref(), Some(&b"v"[..]));
    db.close().expect("close");
}

/// Set by the parent when it runs [`read_only_child`] as another user.
const ENV_READ_ONLY_CHILD: &str = "RILLKV_BAD_INPUTS_READ_ONLY_CHILD";
/// Printed by a run of the read-only checks that could not check.
const SKIPPED: &str = "READ-ONLY CHECK SKIPPED";
/// User and group `nobody`.
const NOBODY: u32 = 65534;

/// Whether this process ignores directory permissions (root).
fn permissions_ignored() -> bool {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let probe = tmp.path().join("ro");
    std::fs::create_dir(&probe).expect("mkdir");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let ignored = std::fs::write(probe.join("probe"), b"").is_ok();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    ignored
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Opening in a read-only directory fails with `Io` naming the file it
/// could not create and saying to check permissions, and changes nothing:
/// an empty directory gets no file, an existing database (with writes
/// still in its WAL, which an open would flush) keeps every byte; made
/// writable again, it opens with every write.
fn read_only_checks() {
    if permissions_ignored() {
        println!("\n{SKIPPED}: this process ignores directory permissions (root)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let advice = "permission";

    // A new database in an empty read-only directory.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    set_mode(&empty, 0o555);
    let err = bounded("read-only empty directory", || {
        Db::open(&empty, Options::default())
    })
    .map(|_| ())
    .expect_err("nothing can be created");
    check_error(
        &err,
        &Want {
            kind: ErrorKind::Io,
            file: &empty.display().to_string(),
            offset: None,
            what: "denied",
            advice,
        },
        "read-only empty directory",
    );
    assert!(real_listing(&empty).is_empty(), "no file was created");

    // An existing database, with writes in its WAL.
    let existing = tmp.path().join("db");
    let db = Db::open(&existing, Options::default()).expect("open");
    let mut model = Model::new();
    for i in 0..50 {
        db.put(key(i), value(i, "ro")).expect("put");
        model.insert(key(i), value(i, "ro"));
    }
    db.flush().expect("flush");
    for i in 50..80 {
        db.put(key(i), value(i, "ro")).expect("put");
        model.insert(key(i), value(i, "ro"));
    }
    db.close().expect("close");
    let before = real_listing(&existing);
    set_mode(&existing, 0o555);
    let err = bounded("read-only database directory", || {
        Db::open(&existing, Options::default())
    })
    .map(|_| ())
    .expect_err("the replayed WAL cannot be flushed");
    check_error(
        &err,
        &Want {
            kind: ErrorKind::Io,
            file: &existing.display().to_string(),
            offset: None,
            what: "denied",
            advice,
        },
        "read-only database directory",
    );
    assert_eq!(
        real_listing(&existing),
        before,
        "the failed open changed files"
    );
    set_mode(&existing, 0o755);
    let db = Db::open(&existing, Options::default()).expect("writable again");
    assert_eq!(read_all(&db), model);
    db.close().expect("close");
}

/// The read-only checks, run as user `nobody` by
/// [`a_read_only_directory_is_an_io_error_and_left_alone`] when this
/// process runs as root. Does nothing unless started that way.
#[test]
fn read_only_child() {
    if std::env::var_os(ENV_READ_ONLY_CHILD).is_none() {
        return;
    }
    isolated(module_path!(), "read_only_child", read_only_checks);
}

#[test]
fn a_read_only_directory_is_an_io_error_and_left_alone() {
    isolated(
        module_path!(),
        "a_read_only_directory_is_an_io_error_and_left_alone",
        || {
            if !permissions_ignored() {
                read_only_checks();
                return;
            }
            // Root ignores permissions: check as `nobody` in a child process.
            use std::os::unix::process::CommandExt;
            let out = child_command(module_path!(), "read_only_child")
                .env(ENV_READ_ONLY_CHILD, "1")
                .env("TMPDIR", std::env::temp_dir())
                .uid(NOBODY)
                .gid(NOBODY)
                .stdin(std::process::Stdio::null())
                .output();
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    println!("{SKIPPED}: running as root and cannot start a child as nobody: {e}");
                    return;
                }
            };
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "the read-only checks failed as nobody ({}):\n{stdout}\n{stderr}",
                out.status
            );
            assert!(
                stdout.contains("1 passed"),
                "the child ran no test:\n{stdout}\n{stderr}"
            );
            if stdout.contains(SKIPPED) {
                println!("{SKIPPED} (as nobody too)");
            }
            // The child's report of each case.
            eprint!("{stderr}");
        },
    );
}
