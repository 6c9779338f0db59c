//! Fuzz bodies for the log framing and what recovery builds on it:
//! [`wal_reader`] (the reader itself), [`wal_recovery`] (a WAL replayed by
//! `Db::open`, compared with a model of the records) and
//! [`manifest_replay`] (a manifest replayed by `Db::open`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use bytes::Bytes;

use super::{Input, assert_kind, seeds, show};
use crate::batch::{self, OwnedEntry};
use crate::error::ErrorKind;
use crate::fs::{FaultFs, Fs};
use crate::key::ValueKind;
use crate::merge::U64Add;
use crate::options::{CompactionOptions, Options, RecoveryMode};
use crate::version::ManifestRecord;
use crate::wal::{self, HEADER_SIZE};
use crate::{Db, WriteBatch};

/// The database directory on the fuzz filesystem.
pub(crate) const DIR: &str = "/db";

/// The options every body opens with: `U64Add` merges, small blocks and
/// manifests, and no background compaction or merge write-backs, so that
/// what a body does is deterministic.
pub(crate) fn options(fs: &FaultFs) -> Options {
    Options::default()
        .fs(fs.clone())
        .memtable_size(8192)
        .block_size(1024)
        .max_manifest_size(1024)
        .block_cache_size(1 << 20)
        .merge_operator(U64Add)
        .merge_writeback_threshold(0)
        .compaction(
            CompactionOptions::default()
                .min_merge_width(2)
                .max_merge_files(3)
                .merge_workers(1)
                .background(false),
        )
}

/// Reads every record of `data` as a log, checking the reader's own
/// invariants; returns the records and the damage that ended the log.
fn read_checked(path: &Path, data: &Bytes) -> (Vec<(u64, Bytes)>, Option<wal::Damage>) {
    let len = data.len() as u64;
    let mut reader = wal::Reader::preallocated(path, data.clone());
    let mut records: Vec<(u64, Bytes)> = Vec::new();
    while let Some((offset, record)) = reader.next_record() {
        if let Some((prev, _)) = records.last() {
            assert!(offset > *prev, "record offsets must increase");
        }
        assert!(
            offset + (HEADER_SIZE + record.len()) as u64 <= len,
            "a record of {} bytes at {offset} does not fit a {len}-byte log",
            record.len()
        );
        records.push((offset, record));
    }
    assert!(reader.next_record().is_none(), "the reader is not fused");
    let damage = reader.damage().cloned();
    if let Some(d) = &damage {
        assert_eq!(d.file, path);
        assert!(d.offset <= len, "damage past the end: {d:?}");
        assert_eq!(d.dropped_bytes, len - d.offset, "{d:?}");
        if let Some((last, _)) = records.last() {
            assert!(
                d.offset > *last,
                "damage before a record it returned: {d:?}"
            );
        }
        let skipped = reader.skip_damage();
        assert!(
            d.is_tail || skipped.is_some(),
            "damage classified as corruption but no valid record follows it: {d:?}"
        );
    }
    (records, damage)
}

/// Reads `data` the way `RecoveryMode::SkipCorrupted` does: resuming after
/// each damaged region. Checks that it makes progress and returns the
/// records.
fn read_skipping(path: &Path, data: &Bytes) -> Vec<Bytes> {
    let len = data.len() as u64;
    let mut reader = wal::Reader::preallocated(path, data.clone());
    let mut out = Vec::new();
    let mut last_offset = None;
    let mut resume_floor = 0u64;
    for _ in 0..=2 * data.len() + 2 {
        match reader.next_record() {
            Some((offset, record)) => {
                assert!(
                    last_offset.is_none_or(|l| offset > l) && offset >= resume_floor,
                    "skipping reader went backwards to {offset}"
                );
                last_offset = Some(offset);
                out.push(record);
            }
            None => match reader.skip_damage() {
                Some(skipped) => {
                    assert!(
                        skipped.dropped_bytes > 0,
                        "skip made no progress: {skipped:?}"
                    );
                    let resume = skipped.offset + skipped.dropped_bytes;
                    assert!(resume <= len, "skip resumes past the end: {skipped:?}");
                    resume_floor = resume;
                }
                None => return out,
            },
        }
    }
    panic!("the skipping reader does not terminate");
}

/// Checks a record's contents: a write-group payload that decodes must
/// re-encode to the same bytes; a version edit that decodes must survive
/// an encode/decode round trip.
fn check_payload(record: &Bytes) {
    if let Ok((base, entries)) = batch::decode_payload(record) {
        let mut b = WriteBatch::new();
        for (keyspace, kind, k, v) in &entries {
            b.push_in(*keyspace, *kind, k, v);
        }
        // Deletes are written with empty values; the decoder accepts any.
        if entries
            .iter()
            .all(|(_, kind, _, v)| *kind != ValueKind::Delete || v.is_empty())
        {
            let mut out = Vec::new();
            let n = batch::encode_group(base, &[&b], &mut out);
            assert_eq!(n as usize, entries.len());
            assert_eq!(out, record.as_ref(), "write group does not re-encode");
        }
    }
    if let Ok(edit) = ManifestRecord::decode(record) {
        let again = ManifestRecord::decode(&Bytes::from(edit.encode()))
            .unwrap_or_else(|e| panic!("a re-encoded version edit fails to decode: {e}"));
        assert_eq!(again, edit, "version edit round trip");
    }
}

/// Arbitrary bytes as a log file (the WAL and manifest framing).
///
/// Asserts: reading never panics and stops at the first damage, with
/// increasing record offsets and consistent damage bounds; damage called
/// corruption has a valid record after it; the skipping reader makes
/// progress, terminates and starts with the same records; the records,
/// framed again by the writer, read back identically with no damage; each
/// record that decodes as a write group or a version edit round-trips.
#[doc(hidden)]
pub fn wal_reader(data: &[u8]) {
    let path = Path::new("/fuzz/000001.wal");
    let bytes = Bytes::copy_from_slice(data);
    let (records, _) = read_checked(path, &bytes);
    let skipping = read_skipping(path, &bytes);
    assert!(
        skipping.len() >= records.len() && records.iter().zip(&skipping).all(|((_, a), b)| a == b),
        "the skipping reader does not start with the strict reader's records"
    );
    let fs = FaultFs::new();
    fs.create_dir_all(Path::new("/fuzz")).expect("mkdir");
    let again = Path::new("/fuzz/000002.wal");
    let mut writer = wal::Writer::new(fs.create(again).expect("create"));
    for (_, r) in &records {
        writer.add_record(r).expect("append");
        check_payload(r);
    }
    let written = fs.read(again).expect("read");
    assert_eq!(written.len() as u64, writer.len());
    let (back, damage) = read_checked(again, &written);
    assert!(damage.is_none(), "re-framed log is damaged: {damage:?}");
    assert!(
        back.len() == records.len() && back.iter().zip(&records).all(|(a, b)| a.1 == b.1),
        "re-framed log reads back differently"
    );
}

/// What a key should read as after recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    Absent,
    Known(Vec<u8>),
    /// A merge with a malformed operand or base: reads may fail.
    Unknown,
}

/// What opening an empty database with one WAL should give.
#[derive(Debug)]
pub(crate) struct Expect {
    pub opens: bool,
    state: BTreeMap<Vec<u8>, Val>,
}

impl Expect {
    /// Keys with a value after recovery.
    #[cfg(test)]
    pub(crate) fn live_keys(&self) -> usize {
        self.state
            .values()
            .filter(|v| matches!(v, Val::Known(_)))
            .count()
    }
}

fn apply(state: &mut BTreeMap<Vec<u8>, Val>, entry: &OwnedEntry) {
    let (_keyspace, kind, key, value) = entry;
    let new = match kind {
        ValueKind::Put => Val::Known(value.to_vec()),
        ValueKind::Delete => Val::Absent,
        ValueKind::Merge => {
            let old = match state.get(key.as_ref()) {
                None | Some(Val::Absent) => Some(0u64),
                Some(Val::Known(v)) => <[u8; 8]>::try_from(v.as_slice())
                    .ok()
                    .map(u64::from_le_bytes),
                Some(Val::Unknown) => None,
            };
            match (old, <[u8; 8]>::try_from(value.as_ref())) {
                (Some(old), Ok(op)) => Val::Known(
                    old.wrapping_add(u64::from_le_bytes(op))
                        .to_le_bytes()
                        .to_vec(),
                ),
                _ => Val::Unknown,
            }
        }
    };
    state.insert(key.to_vec(), new);
}

/// The recovery the docs describe (`wal.md`, "Recovery"), for one WAL in
/// `mode`: which records are replayed, whether the open fails, and what
/// every key then reads as.
pub(crate) fn expect_recovery(data: &Bytes, mode: RecoveryMode) -> Expect {
    let skip = mode == RecoveryMode::SkipCorrupted;
    let fails = Expect {
        opens: false,
        state: BTreeMap::new(),
    };
    let mut reader = wal::Reader::preallocated(Path::new("/model.wal"), data.clone());
    let mut state = BTreeMap::new();
    let mut last_seqno = 0u64;
    loop {
        let Some((_, record)) = reader.next_record() else {
            if skip && reader.skip_damage().is_some() {
                continue;
            }
            break;
        };
        let (base, entries) = match batch::decode_payload(&record) {
            Ok((base, entries)) if base > last_seqno => (base, entries),
            _ if skip => continue,
            _ => return fails,
        };
        for e in &entries {
            apply(&mut state, e);
        }
        if !entries.is_empty() {
            last_seqno = last_seqno.max(base.saturating_add(entries.len() as u64 - 1));
        }
    }
    if let Some(d) = reader.damage() {
        let ok = match mode {
            RecoveryMode::AbsoluteConsistency => false,
            RecoveryMode::TolerateCorruptedTail => d.is_tail,
            _ => true,
        };
        if !ok {
            return fails;
        }
    }
    Expect { opens: true, state }
}

/// Reads the whole database forward and backward, and every key of the
/// model with `get`, against the model. Returns what the forward scan
/// yielded.
fn check_against(db: &Db, state: &BTreeMap<Vec<u8>, Val>, ctx: &str) -> Vec<(Bytes, Bytes)> {
    let may_fail = state.values().any(|v| *v == Val::Unknown);
    let mut fwd = Vec::new();
    for item in db.iter() {
        match item {
            Ok((k, v)) => {
                if let Some((prev, _)) = fwd.last() {
                    assert!(*prev < k, "{ctx}: scan out of order at {}", show(&k));
                }
                match state.get(k.as_ref()) {
                    Some(Val::Known(want)) => {
                        assert_eq!(v.as_ref(), want.as_slice(), "{ctx}: value of {}", show(&k));
                    }
                    Some(Val::Unknown) => {}
                    _ => panic!("{ctx}: {} is in the database but not written", show(&k)),
                }
                fwd.push((k, v));
            }
            Err(e) => {
                assert_kind(ctx, &e, &[ErrorKind::MergeOperator]);
                assert!(
                    may_fail,
                    "{ctx}: a merge failed with well-formed operands: {e}"
                );
            }
        }
    }
    let known = state
        .values()
        .filter(|v| matches!(v, Val::Known(_)))
        .count();
    let found = fwd
        .iter()
        .filter(|(k, _)| matches!(state.get(k.as_ref()), Some(Val::Known(_))))
        .count();
    assert_eq!(found, known, "{ctx}: keys missing from the scan");
    let mut rev: Vec<(Bytes, Bytes)> = db.iter().rev().filter_map(Result::ok).collect();
    rev.reverse();
    assert_eq!(rev, fwd, "{ctx}: reverse scan differs");
    for (k, want) in state.iter().take(256) {
        match (db.get(k), want) {
            (Ok(got), Val::Known(v)) => assert_eq!(got.as_deref(), Some(v.as_slice())),
            (Ok(got), Val::Absent) => assert!(got.is_none(), "{ctx}: {} was deleted", show(k)),
            (Ok(_), Val::Unknown) => {}
            (Err(e), Val::Unknown) => assert_kind(ctx, &e, &[ErrorKind::MergeOperator]),
            (Err(e), _) => panic!("{ctx}: get({}) failed: {e}", show(k)),
        }
    }
    fwd
}

/// The files of a new, empty database (`CURRENT`, its manifest, its
/// empty WAL), made once per process.
fn empty_db_files() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let fs = FaultFs::new();
        Db::open(DIR, options(&fs))
            .and_then(Db::close)
            .expect("create an empty database");
        let dir = Path::new(DIR);
        let mut names = fs.list_dir(dir).expect("list");
        names.sort();
        names
            .into_iter()
            .filter(|n| n != "LOCK")
            .map(|n| {
                let bytes = fs.read(&dir.join(&n)).expect("read").to_vec();
                (n, bytes)
            })
            .collect()
    })
}

/// The image of an empty database whose WAL holds `wal`.
fn wal_image(wal: &[u8]) -> FaultFs {
    let fs = FaultFs::new();
    let dir = Path::new(DIR);
    fs.create_dir_all(dir).expect("mkdir");
    for (name, bytes) in empty_db_files() {
        let mut f = fs.create(&dir.join(name)).expect("create");
        f.append(if name.ends_with(".wal") { wal } else { bytes })
            .expect("append");
        f.sync().expect("sync");
    }
    fs.sync_dir(dir).expect("sync dir");
    fs
}

/// Frames `records` with the log writer: a log with every checksum valid.
fn frame(records: &[Vec<u8>]) -> Vec<u8> {
    let fs = FaultFs::new();
    fs.create_dir_all(Path::new("/frame")).expect("mkdir");
    let path = Path::new("/frame/log");
    let mut w = wal::Writer::new(fs.create(path).expect("create"));
    for r in records {
        w.add_record(r).expect("append");
    }
    fs.read(path).expect("read").to_vec()
}

/// The WAL a `wal_recovery` input stands for.
pub(crate) fn wal_of(data: &[u8]) -> Vec<u8> {
    let mut input = Input::new(data);
    if input.u8() & 1 == 1 {
        frame(&split_records(&mut input))
    } else {
        input.rest().to_vec()
    }
}

/// Arbitrary bytes as the WAL of an empty database, opened in every
/// recovery mode (each on a fresh image). The first byte's low bit picks
/// the form: 0, the rest is the WAL file as is; 1, the rest is a list of
/// records (u16 length, bytes) that the harness frames with the log
/// writer, so every checksum is valid and the fuzzer reaches the write
/// groups inside (sequence numbers, counts, entries).
///
/// Asserts: `Db::open` never panics; it fails (with `Corruption`) exactly
/// when `wal.md` says the mode refuses the damage or a record is malformed
/// or regresses; otherwise scans, reverse scans and `get` show exactly the
/// replayed writes (puts, deletes, `U64Add` merges; keys whose merges are
/// malformed may only fail with `MergeOperator`); and a clean close and
/// reopen shows the same data again.
#[doc(hidden)]
pub fn wal_recovery(data: &[u8]) {
    let wal = wal_of(data);
    let data = wal.as_slice();
    let bytes = Bytes::copy_from_slice(data);
    for (i, mode) in [
        RecoveryMode::TolerateCorruptedTail,
        RecoveryMode::PointInTime,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::SkipCorrupted,
    ]
    .into_iter()
    .enumerate()
    {
        let ctx = format!("{mode:?}");
        let expect = expect_recovery(&bytes, mode);
        let fs = wal_image(data);
        let opts = options(&fs).recovery_mode(mode);
        let db = match Db::open(DIR, opts.clone()) {
            Ok(db) => db,
            Err(e) => {
                assert_kind(&ctx, &e, &[ErrorKind::Corruption]);
                assert!(!expect.opens, "{ctx}: open failed: {e}");
                continue;
            }
        };
        assert!(expect.opens, "{ctx}: opened a log the mode must refuse");
        let seen = check_against(&db, &expect.state, &ctx);
        db.close()
            .unwrap_or_else(|e| panic!("{ctx}: close failed: {e}"));
        if i > 0 {
            continue;
        }
        let db = Db::open(DIR, opts).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        let again = check_against(&db, &expect.state, &format!("{ctx}: reopened"));
        assert_eq!(again, seen, "{ctx}: reopen shows other data");
        db.close()
            .unwrap_or_else(|e| panic!("{ctx}: close after reopen failed: {e}"));
    }
}

/// Splits the records form of `wal_recovery` and `manifest_replay` input:
/// each record a u16 length then that many bytes.
pub(crate) fn split_records(input: &mut Input<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let len = input.u16() as usize;
        out.push(input.take(len).to_vec());
    }
    out
}

/// Drains a database scan, checking error kinds; returns the entries and
/// whether any error occurred.
fn scan_typed(db: &Db, ctx: &str) -> (Vec<(Bytes, Bytes)>, bool) {
    let mut out = Vec::new();
    let mut failed = false;
    for item in db.iter().take(1 << 16) {
        match item {
            Ok(kv) => out.push(kv),
            Err(e) => {
                assert_kind(ctx, &e, &[ErrorKind::Corruption, ErrorKind::MergeOperator]);
                failed = true;
            }
        }
    }
    (out, failed)
}

/// Arbitrary bytes as the live manifest of a database whose tables are
/// those of a small real database (`seeds::seed_db`), with a valid
/// `CURRENT` naming it. The first byte's low bit picks the form: 0, the
/// rest is the manifest file as is; 1, the rest is a list of records (u16
/// length, bytes) that the harness frames with the log writer, so every
/// checksum is valid and the fuzzer reaches the version edits.
///
/// Asserts: `Db::open` never panics and fails only with `Corruption` or
/// `InvalidArgument` (a foreign merge operator); scans fail only with
/// `Corruption` or `MergeOperator`; a database that opened closes cleanly
/// and reopens (from the manifest the first open wrote) showing the same
/// data if the first scan was clean; a full compaction then never panics.
#[doc(hidden)]
pub fn manifest_replay(data: &[u8]) {
    replay_manifest(data);
}

/// [`manifest_replay`], returning how many entries the first scan saw if
/// the database opened.
pub(crate) fn replay_manifest(data: &[u8]) -> Option<usize> {
    let seed = seeds::seed_db();
    let mut input = Input::new(data);
    let framed = input.u8() & 1 == 1;
    let fs = FaultFs::new();
    let dir = Path::new(DIR);
    fs.create_dir_all(dir).expect("mkdir");
    for (name, bytes) in &seed.tables {
        let mut f = fs.create(&dir.join(name)).expect("create");
        f.append(bytes).expect("append");
        f.sync().expect("sync");
    }
    let name = format!("MANIFEST-{:06}", seed.manifest_number);
    let mut f = fs.create(&dir.join(&name)).expect("create");
    if framed {
        let mut w = wal::Writer::new(f);
        for r in split_records(&mut input) {
            w.add_record(&r).expect("append");
        }
        w.sync().expect("sync");
    } else {
        f.append(input.rest()).expect("append");
        f.sync().expect("sync");
    }
    let mut f = fs.create(&dir.join("CURRENT")).expect("create");
    let crc = crc32fast::hash(name.as_bytes());
    f.append(format!("{name} {crc:08x}\n").as_bytes())
        .expect("append");
    f.sync().expect("sync");
    fs.sync_dir(dir).expect("sync dir");

    let opts = options(&fs);
    let db = match Db::open(DIR, opts.clone()) {
        Ok(db) => db,
        Err(e) => {
            assert_kind(
                "open",
                &e,
                &[ErrorKind::Corruption, ErrorKind::InvalidArgument],
            );
            return None;
        }
    };
    let (first, failed) = scan_typed(&db, "scan");
    for (k, _) in first.iter().take(64) {
        if let Err(e) = db.get(k) {
            assert_kind(
                "get",
                &e,
                &[ErrorKind::Corruption, ErrorKind::MergeOperator],
            );
        }
    }
    db.close().unwrap_or_else(|e| panic!("close failed: {e}"));
    let db = Db::open(DIR, opts).unwrap_or_else(|e| panic!("reopen failed: {e}"));
    let (second, _) = scan_typed(&db, "scan after reopen");
    if !failed {
        assert_eq!(second, first, "reopen shows other data");
    }
    if let Err(e) = db.compact() {
        assert_kind(
            "compact",
            &e,
            &[ErrorKind::Corruption, ErrorKind::MergeOperator],
        );
    }
    let _ = scan_typed(&db, "scan after compaction");
    db.close()
        .unwrap_or_else(|e| panic!("close after compaction failed: {e}"));
    Some(first.len())
}
