//! Damaged table, manifest and `CURRENT` bytes are detected: reopening and
//! reading every key either answers correctly or fails with
//! `ErrorKind::Corruption` naming the damaged file — never a panic, never a
//! wrong value. A damaged bloom filter is the one exception that is not an
//! error: the table is read without it and answers stay correct.
//!
//! The database is built on a `FaultFs` (three tables, then closed) and
//! damaged through `set_file_bytes`; table regions are found from the
//! footer (see `support::format`). Targeted flips hit each region of a
//! table, a record in the middle of the manifest, and `CURRENT`; a sweep
//! flips one bit every `RILLKV_FLIP_STRIDE` bytes (default 17) across a whole
//! table, for both compression settings, and checks that every flip outside
//! the filter is detected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rillkv::fs::{FaultFs, Fs};
use rillkv::{CompactionOptions, Compression, Db, Error, ErrorKind, Options};

use crate::support::format::{Region, flipped, records, table_layout};
use crate::support::{
    Files, Model, dir_contents, dir_names, env_num, file_name, key, manifest_names, show,
    table_paths,
};

const DIR: &str = "/db";

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn options(fs: &FaultFs, compression: Compression) -> Options {
    // No background compaction: the layout under test (three flushed
    // tables, a manifest of four records) stays fixed.
    Options::default()
        .fs(fs.clone())
        .memtable_size(1 << 20)
        .block_size(1024)
        .compression(compression)
        .compaction(CompactionOptions::default().background(false))
}

/// A database with three tables (each flushed explicitly, so the last
/// session's manifest is a snapshot followed by three edits), closed.
fn build(compression: Compression) -> (FaultFs, Model) {
    let fs = FaultFs::new();
    let mut model = Model::new();
    let db = Db::open(DIR, options(&fs, compression)).expect("open");
    for round in 0..3u64 {
        for i in 0..600 {
            // Each round overwrites part of the keys and adds new ones.
            let i = i + round * 300;
            let value = format!(
                "value-{i:05}-round-{round}-{}",
                "x".repeat((i % 40) as usize)
            );
            db.put(key(i), &value).expect("put");
            model.insert(key(i), value.into_bytes());
        }
        for i in (round * 100..round * 100 + 50).step_by(3) {
            db.delete(key(i)).expect("delete");
            model.remove(&key(i));
        }
        db.flush().expect("flush");
    }
    db.close().expect("close");
    (fs, model)
}

/// What reading the whole database gave.
#[derive(Debug, Default)]
struct Outcome {
    /// Every error seen, at open or while reading.
    errors: Vec<Error>,
    /// Wrong answers: the worst outcome.
    wrong: Vec<String>,
}

impl Outcome {
    fn assert_clean(&self, ctx: &str) {
        assert!(
            self.wrong.is_empty(),
            "{ctx}: wrong answers {:?}",
            self.wrong
        );
        assert!(
            self.errors.is_empty(),
            "{ctx}: unexpected errors {:?}",
            self.errors
        );
    }

    /// Why this is not "at least one error, all of them `Corruption`
    /// naming `file`, and no wrong answer", if it is not.
    fn corruption_problem(&self, file: &str) -> Option<String> {
        if !self.wrong.is_empty() {
            return Some(format!("wrong answers: {:?}", self.wrong));
        }
        if self.errors.is_empty() {
            return Some(format!("damage in {file} went unnoticed"));
        }
        self.errors.iter().find_map(|e| {
            (e.kind() != ErrorKind::Corruption || !e.message().contains(file))
                .then(|| format!("not a corruption error naming {file}: {e}"))
        })
    }

    fn assert_corruption_in(&self, file: &str, ctx: &str) {
        if let Some(problem) = self.corruption_problem(file) {
            panic!("{ctx}: {problem}");
        }
    }
}

/// Opens the database and reads everything: a lookup of every model key
/// (and of absent keys), a forward and a reverse scan. Values read must be
/// the model's; scans must yield a prefix of the model's order before any
/// error.
fn read_everything(fs: &FaultFs, compression: Compression, model: &Model, ctx: &str) -> Outcome {
    read_all_with(fs, compression, model, 1, ctx)
}

/// As [`read_everything`], with point lookups of only every
/// `lookup_stride`-th key (the scans still read every block).
fn read_all_with(
    fs: &FaultFs,
    compression: Compression,
    model: &Model,
    lookup_stride: usize,
    ctx: &str,
) -> Outcome {
    let mut out = Outcome::default();
    let db = match Db::open(DIR, options(fs, compression)) {
        Ok(db) => db,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    // Absent keys, and deleted keys (present in older tables, shadowed by
    // tombstones).
    let mut absent = vec![key(5000), b"a".to_vec(), [key(1), b"x".to_vec()].concat()];
    absent.extend((0..300).step_by(3).map(key));
    for k in model.keys().step_by(lookup_stride).chain(absent.iter()) {
        match db.get(k) {
            Ok(v) if v.as_deref() != model.get(k).map(Vec::as_slice) => {
                out.wrong.push(format!(
                    "get({}) = {:?}, want {:?}",
                    show(k),
                    v.as_deref().map(show),
                    model.get(k).map(|v| show(v))
                ));
            }
            Ok(_) => {}
            Err(e) => out.errors.push(e),
        }
    }
    let want: Vec<(&Vec<u8>, &Vec<u8>)> = model.iter().collect();
    for reverse in [false, true] {
        let iter: Box<dyn Iterator<Item = rillkv::Result<_>>> = if reverse {
            Box::new(db.iter().rev())
        } else {
            Box::new(db.iter())
        };
        let mut expected: Box<dyn Iterator<Item = &(&Vec<u8>, &Vec<u8>)>> = if reverse {
            Box::new(want.iter().rev())
        } else {
            Box::new(want.iter())
        };
        let mut ended_clean = true;
        for (n, item) in iter.enumerate() {
            match item {
                Ok((k, v)) => {
                    let want = expected.next();
                    let right = want.is_some_and(|(wk, wv)| {
                        k.as_ref() == wk.as_slice() && v.as_ref() == wv.as_slice()
                    });
                    if !right {
                        out.wrong.push(format!(
                            "scan (reverse: {reverse}) #{n}: got {} = {}, want {:?}",
                            show(&k),
                            show(&v),
                            want.map(|(wk, wv)| (show(wk), show(wv)))
                        ));
                        ended_clean = false;
                        break;
                    }
                }
                Err(e) => {
                    out.errors.push(e);
                    ended_clean = false;
                    break;
                }
            }
        }
        if ended_clean && let Some((wk, _)) = expected.next() {
            out.wrong.push(format!(
                "scan (reverse: {reverse}) ended early, missing {}",
                show(wk)
            ));
        }
    }
    if let Err(e) = db.close() {
        panic!("{ctx}: close failed: {e}");
    }
    out
}

/// Puts the directory back exactly as `image` (an open may have written a
/// new manifest and WAL, or deleted files).
fn restore_image(fs: &FaultFs, image: &Files) {
    for name in dir_names(fs, dir()) {
        if !image.iter().any(|(p, _)| file_name(p) == name) {
            fs.remove_file(&dir().join(&name)).expect("remove");
        }
    }
    for (path, bytes) in image {
        if fs.exists(path) {
            fs.set_file_bytes(path, bytes.clone()).expect("restore");
        } else {
            let mut f = fs.create(path).expect("create");
            f.append(bytes).expect("append");
            f.sync().expect("sync");
        }
    }
}

/// Runs `check` with `path` replaced by `damaged`, then restores every file
/// of the directory.
fn with_damaged<R>(fs: &FaultFs, path: &Path, damaged: Vec<u8>, check: impl FnOnce() -> R) -> R {
    let image = dir_contents(fs, dir());
    fs.set_file_bytes(path, damaged).expect("damage");
    let r = check();
    restore_image(fs, &image);
    r
}

/// The newest (largest-numbered) table.
fn newest_table(fs: &FaultFs) -> PathBuf {
    table_paths(fs, dir()).pop().expect("a table")
}

#[test]
fn a_bit_flip_in_each_table_region_is_detected_or_harmless() {
    for compression in [Compression::None, Compression::Zstd { level: 1 }] {
        let (fs, model) = build(compression);
        let tables = table_paths(&fs, dir());
        assert_eq!(tables.len(), 3, "{tables:?}");
        read_everything(&fs, compression, &model, "undamaged").assert_clean("undamaged");

        for path in &tables {
            let name = file_name(path);
            let bytes = fs.file_bytes(path).expect("table");
            let layout = table_layout(&bytes);
            let filter = layout
                .filter
                .expect("tables have a bloom filter by default");
            let targets = [
                ("first data block", Region::Data, 3),
                (
                    "middle data block",
                    Region::Data,
                    layout.data_end as usize / 2,
                ),
                (
                    "last data block trailer",
                    Region::Data,
                    layout.data_end as usize - 1,
                ),
                ("filter block", Region::Filter, filter.offset as usize + 1),
                (
                    "filter block trailer",
                    Region::Filter,
                    filter.range().end - 2,
                ),
                (
                    "properties block",
                    Region::Properties,
                    layout.properties.offset as usize + 2,
                ),
                (
                    "index block",
                    Region::Index,
                    layout.index.offset as usize + 4,
                ),
                (
                    "index block trailer",
                    Region::Index,
                    layout.index.range().end - 1,
                ),
                (
                    "footer handle",
                    Region::Footer,
                    layout.footer_offset as usize + 3,
                ),
                ("footer magic", Region::Footer, bytes.len() - 1),
            ];
            for (what, region, offset) in targets {
                assert_eq!(layout.region(offset), region, "{what} at {offset}");
                let ctx = format!("{compression:?} {name}: {what} (byte {offset})");
                let out = with_damaged(&fs, path, flipped(&bytes, offset, 5), || {
                    read_everything(&fs, compression, &model, &ctx)
                });
                if region == Region::Filter {
                    out.assert_clean(&ctx);
                } else {
                    out.assert_corruption_in(&name, &ctx);
                }
            }
        }
    }
}

#[test]
fn truncated_empty_or_missing_tables_fail_reads_never_answer_wrong() {
    let compression = Compression::default();
    let (fs, model) = build(compression);
    let path = newest_table(&fs);
    let name = file_name(&path);
    let bytes = fs.file_bytes(&path).expect("table");
    let len = bytes.len();
    for cut in [0, 1, 10, 63, 64, 65, len / 2, len - 64, len - 8, len - 1] {
        let ctx = format!("{name} truncated to {cut} of {len} bytes");
        let out = with_damaged(&fs, &path, bytes[..cut].to_vec(), || {
            read_everything(&fs, compression, &model, &ctx)
        });
        out.assert_corruption_in(&name, &ctx);
    }
    // Trailing garbage moves the footer: also detected.
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0u8; 7]);
    let ctx = format!("{name} with 7 zero bytes appended");
    let out = with_damaged(&fs, &path, longer, || {
        read_everything(&fs, compression, &model, &ctx)
    });
    out.assert_corruption_in(&name, &ctx);

    // A missing table is an error too (Io: the file cannot be read).
    fs.remove_file(&path).expect("remove");
    let out = read_everything(&fs, compression, &model, "missing table");
    assert!(!out.errors.is_empty(), "a missing table went unnoticed");
    for e in &out.errors {
        assert!(
            matches!(e.kind(), ErrorKind::Io | ErrorKind::Corruption),
            "missing table: {e}"
        );
        assert!(
            e.message().contains(&name),
            "the error does not name {name}: {e}"
        );
    }
}

/// The live manifest's path.
fn manifest(fs: &FaultFs) -> PathBuf {
    let names = manifest_names(fs, dir());
    assert_eq!(names.len(), 1, "{names:?}");
    dir().join(&names[0])
}

#[test]
fn a_bit_flip_in_the_manifest_before_good_records_fails_the_open() {
    let compression = Compression::default();
    let (fs, model) = build(compression);
    let path = manifest(&fs);
    let name = file_name(&path);
    let bytes = fs.file_bytes(&path).expect("manifest");
    let recs = records(&bytes);
    // Each flush edit is followed by an empty record that lets the files it
    // made obsolete be deleted.
    assert_eq!(
        recs.len(),
        7,
        "a snapshot and three flush edits, each followed by an empty record: {recs:?}"
    );
    // Every record but the last is followed by good records: damage there
    // is corruption, not a torn tail. Flip one bit of every byte: header
    // (crc 0..4, length 4..6, type 6) and payload.
    let mut problems = Vec::new();
    let mut flips = 0;
    for (r, &(start, end)) in recs.iter().enumerate().take(recs.len() - 1) {
        for offset in start..end {
            let ctx = format!(
                "{name} record {r} (bytes {start}..{end}) byte +{}",
                offset - start
            );
            let out = with_damaged(&fs, &path, flipped(&bytes, offset, offset as u8), || {
                read_all_with(&fs, compression, &model, 8, &ctx)
            });
            flips += 1;
            if let Some(problem) = out.corruption_problem(&name) {
                problems.push(format!("{ctx}: {problem}"));
            }
        }
    }
    eprintln!(
        "{flips} manifest flips, {} not detected as corruption",
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{} of {flips} flips before good records were not reported as corruption:\n{}",
        problems.len(),
        problems[..problems.len().min(6)].join("\n")
    );
    read_everything(&fs, compression, &model, "restored").assert_clean("restored");
}

/// The last manifest record is the edit of the last flush. A damaged last
/// record cannot be told from a torn one, so recovery may drop it — but
/// only if that loses nothing: the flushed WAL must still be there to
/// replay. Every flip there must fail the open with `Corruption` naming the
/// manifest, or leave every read answering correctly.
#[test]
fn a_bit_flip_in_the_last_manifest_record_never_loses_a_flushed_table() {
    let compression = Compression::default();
    let (fs, model) = build(compression);
    let path = manifest(&fs);
    let name = file_name(&path);
    let bytes = fs.file_bytes(&path).expect("manifest");
    let &(start, end) = records(&bytes).last().expect("records");
    let mut problems = Vec::new();
    let mut dropped = 0;
    for offset in start..end {
        let ctx = format!(
            "{name} last record (bytes {start}..{end}) byte +{}",
            offset - start
        );
        let outcome = with_damaged(&fs, &path, flipped(&bytes, offset, offset as u8), || {
            read_all_with(&fs, compression, &model, 8, &ctx)
        });
        if !outcome.wrong.is_empty() {
            problems.push(format!(
                "{ctx}: wrong answers, e.g. {:?}",
                outcome.wrong.first()
            ));
        } else if outcome.errors.is_empty() {
            dropped += 1;
        } else if let Some(problem) = outcome.corruption_problem(&name) {
            problems.push(format!("{ctx}: {problem}"));
        }
    }
    eprintln!(
        "{} flips of the last manifest record: {dropped} dropped as a tail without loss",
        end - start
    );
    assert!(
        problems.is_empty(),
        "{} problems in {} flips of the last manifest record (first 6 shown):\n{}",
        problems.len(),
        end - start,
        problems[..problems.len().min(6)].join("\n")
    );
}

#[test]
fn damaged_current_fails_the_open_naming_it() {
    let compression = Compression::default();
    let (fs, model) = build(compression);
    let path = dir().join("CURRENT");
    let bytes = fs.file_bytes(&path).expect("CURRENT");
    for offset in 0..bytes.len() {
        let ctx = format!("CURRENT byte {offset}");
        let out = with_damaged(&fs, &path, flipped(&bytes, offset, offset as u8), || {
            read_everything(&fs, compression, &model, &ctx)
        });
        out.assert_corruption_in("CURRENT", &ctx);
    }
    for damaged in [
        Vec::new(),
        bytes[..bytes.len() - 1].to_vec(),
        b"MANIFEST-999999 0\n".to_vec(),
    ] {
        let ctx = format!("CURRENT = {:?}", show(&damaged));
        let out = with_damaged(&fs, &path, damaged, || {
            read_everything(&fs, compression, &model, &ctx)
        });
        out.assert_corruption_in("CURRENT", &ctx);
    }
    read_everything(&fs, compression, &model, "restored").assert_clean("restored");
}

#[test]
fn bit_flip_sweep_across_a_table_is_always_detected_outside_the_filter() {
    let stride = env_num("RILLKV_FLIP_STRIDE", 17).max(1) as usize;
    for compression in [Compression::None, Compression::Zstd { level: 3 }] {
        let (fs, model) = build(compression);
        let path = newest_table(&fs);
        let name = file_name(&path);
        let bytes = fs.file_bytes(&path).expect("table");
        let layout = table_layout(&bytes);
        // Per region: (flips, flips detected).
        let mut tally: BTreeMap<Region, (u32, u32)> = BTreeMap::new();
        for offset in (0..bytes.len()).step_by(stride) {
            let region = layout.region(offset);
            let bit = (offset / stride % 8) as u8;
            let ctx = format!("{compression:?} {name} byte {offset} bit {bit} ({region:?})");
            let out = with_damaged(&fs, &path, flipped(&bytes, offset, bit), || {
                read_all_with(&fs, compression, &model, 16, &ctx)
            });
            let entry = tally.entry(region).or_default();
            entry.0 += 1;
            if region == Region::Filter {
                out.assert_clean(&ctx);
            } else {
                out.assert_corruption_in(&name, &ctx);
                entry.1 += 1;
            }
        }
        eprintln!(
            "{compression:?}: {} bytes, stride {stride}: (flips, detected) per region {tally:?}",
            bytes.len()
        );
        assert!(
            tally.len() >= 4,
            "the sweep reached every region: {tally:?}"
        );
    }
}
