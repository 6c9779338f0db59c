//! A WAL whose last record is cut short (what a crash leaves) opens: the
//! torn tail is dropped and reported in `stats().dropped_log_tails`, every
//! earlier write is intact (whether it sits in an older log or has been
//! flushed). `PointInTime` does the same; `AbsoluteConsistency` refuses the
//! torn tail with `Corruption` naming the file and offset. Never a panic,
//! whatever the cut.
//!
//! Each case damages a copy of a whole database directory (every file, so
//! it keeps working whatever else the engine stores next to its logs) and
//! opens a fresh copy per recovery mode, since an open may repair or flush.

use std::path::Path;

use rillkv::fs::FaultFs;
use rillkv::{Db, ErrorKind, Options, RecoveryMode};

use crate::support::format::{BLOCK, records};
use crate::support::{
    Files, Model, assert_view_matches, dir_contents, fault_image, file_name, key,
    newest_nonempty_wal, rec_model, rec_value, wal_files,
};

const DIR: &str = "/db";

/// Value lengths of the records: mostly small, two spanning blocks (FIRST,
/// MIDDLE, LAST fragments), and a last record that itself spans a block
/// boundary so cuts land in every kind of fragment.
fn lens() -> Vec<usize> {
    let mut l: Vec<usize> = (0..30).map(|i| 20 + (i * 37) % 300).collect();
    l[10] = 40_000;
    l[20] = 70_000;
    l.push(50_000);
    l
}

/// Writes one put per record on FaultFs, closes, returns the directory.
fn write_records(lens: &[usize], memtable_size: usize) -> Files {
    let fs = FaultFs::new();
    let opts = Options::default()
        .memtable_size(memtable_size)
        .fs(fs.clone());
    let db = Db::open(DIR, opts).expect("open");
    for (i, &len) in lens.iter().enumerate() {
        db.put(key(i as u64), rec_value(i, len)).expect("put");
    }
    db.close().expect("close");
    dir_contents(&fs, Path::new(DIR))
}

fn open(files: &Files, mode: RecoveryMode) -> rillkv::Result<Db> {
    let fs = fault_image(Path::new(DIR), files);
    Db::open(DIR, Options::default().fs(fs).recovery_mode(mode))
}

fn check_prefix(db: &Db, n_records: usize, want: &Model, ctx: &str) {
    let probes: Vec<Vec<u8>> = (0..=n_records as u64).map(key).collect();
    assert_view_matches(db, want, &probes, ctx);
}

/// Opens `files` (whose newest WAL, `wal`, ends in a torn record) in every
/// mode and checks the outcome: `want` in the lenient modes, `Corruption`
/// in the strict one.
fn check_torn(files: &Files, wal: &Path, n_records: usize, want: &Model, ctx: &str) {
    for mode in [
        RecoveryMode::TolerateCorruptedTail,
        RecoveryMode::PointInTime,
    ] {
        let ctx = format!("{ctx}, {mode:?}");
        let db = open(files, mode).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
        let tails = db.stats().dropped_log_tails;
        assert_eq!(
            tails.len(),
            1,
            "{ctx}: one dropped tail expected: {tails:?}"
        );
        assert!(
            tails[0].contains(&file_name(wal)),
            "{ctx}: report should name the WAL: {tails:?}"
        );
        check_prefix(&db, n_records, want, &ctx);
        db.close().expect("close");
    }
    let err = open(files, RecoveryMode::AbsoluteConsistency)
        .expect_err("AbsoluteConsistency must refuse a torn tail");
    assert_eq!(err.kind(), ErrorKind::Corruption, "{ctx}: {err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&file_name(wal)) && msg.contains("offset"),
        "{ctx}: {msg}"
    );
}

#[test]
fn torn_last_record_is_dropped_and_reported_at_every_cut() {
    let lens = lens();
    let files = write_records(&lens, 64 << 20);
    let w = newest_nonempty_wal(&files);
    let (path, bytes) = files[w].clone();
    let recs = records(&bytes);
    assert_eq!(recs.len(), lens.len(), "one record per put");
    let (last_start, last_end) = *recs.last().expect("records");
    assert_eq!(last_end, bytes.len());
    let all_but_last = rec_model(&lens, lens.len() - 1);

    // Cuts through the last record's header, its payload and the block
    // boundary it crosses: a stride through it plus the edges exactly.
    let boundary = (last_start / BLOCK + 1) * BLOCK;
    let mut cuts: Vec<usize> = (last_start + 1..last_end).step_by(997).collect();
    cuts.extend([
        last_start + 1,
        last_start + 6,
        last_start + 7,
        last_start + 8,
        boundary - 1,
        boundary,
        boundary + 1,
        boundary + 7,
        boundary + 8,
        last_end - 1,
    ]);
    for cut in cuts {
        let mut damaged = files.clone();
        damaged[w].1.truncate(cut);
        let ctx = format!("cut at {cut} of {}", bytes.len());
        check_torn(&damaged, &path, lens.len(), &all_but_last, &ctx);
    }
}

#[test]
fn cut_at_a_record_boundary_is_not_damage() {
    let lens = lens();
    let files = write_records(&lens, 64 << 20);
    let w = newest_nonempty_wal(&files);
    let recs = records(&files[w].1);
    for (n, &(_, end)) in recs.iter().enumerate().step_by(5) {
        let mut cut = files.clone();
        cut[w].1.truncate(end);
        let ctx = format!("clean cut after record {n}");
        let db =
            open(&cut, RecoveryMode::AbsoluteConsistency).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(db.stats().dropped_log_tails.is_empty(), "{ctx}");
        check_prefix(&db, lens.len(), &rec_model(&lens, n + 1), &ctx);
        db.close().expect("close");
    }
}

#[test]
fn zero_filled_tail_is_dropped_and_reported() {
    let lens = lens();
    let files = write_records(&lens, 64 << 20);
    let w = newest_nonempty_wal(&files);
    for zeros in [1, 7, 100, 5000] {
        let mut padded = files.clone();
        padded[w].1.extend(std::iter::repeat_n(0u8, zeros));
        let ctx = format!("{zeros} zeros");
        let db = open(&padded, RecoveryMode::TolerateCorruptedTail)
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        // Zeros shorter than a header may read as a block trailer; either
        // way nothing is lost.
        assert!(db.stats().dropped_log_tails.len() <= 1, "{ctx}");
        check_prefix(&db, lens.len(), &rec_model(&lens, lens.len()), &ctx);
        db.close().expect("close");
    }
}

/// With a small memtable the writes spread over several memtables: older
/// logs, or tables once flushed. Tearing the newest log loses only its
/// last record.
#[test]
fn torn_tail_of_the_newest_wal_keeps_every_older_write() {
    let lens: Vec<usize> = (0..300).map(|i| 50 + i % 70).collect();
    let total: usize = lens.iter().map(|l| l + 10).sum();
    assert!(total > 4 * 4096, "the writes should fill several memtables");
    let files = write_records(&lens, 4096);
    let w = newest_nonempty_wal(&files);
    let recs = records(&files[w].1);
    let (last_start, last_end) = *recs.last().expect("records");
    let mut damaged = files.clone();
    damaged[w].1.truncate((last_start + last_end) / 2);
    let want = rec_model(&lens, lens.len() - 1);
    check_torn(
        &damaged,
        &files[w].0,
        lens.len(),
        &want,
        "newest of several",
    );
}

#[test]
fn torn_tail_on_the_real_filesystem() {
    let lens = lens();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for (i, &len) in lens.iter().enumerate() {
        db.put(key(i as u64), rec_value(i, len)).expect("put");
    }
    db.close().expect("close");
    let path = wal_files(&rillkv::fs::StdFs, dir.path())
        .into_iter()
        .rev()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .expect("non-empty WAL");
    let bytes = std::fs::read(&path).expect("read wal");
    let (last_start, _) = *records(&bytes).last().expect("records");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open wal");
    f.set_len(last_start as u64 + 100).expect("truncate");
    f.sync_all().expect("sync");
    drop(f);

    let strict = Options::default().recovery_mode(RecoveryMode::AbsoluteConsistency);
    let err = Db::open(dir.path(), strict).expect_err("AbsoluteConsistency refuses the torn tail");
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&file_name(&path)) && msg.contains("offset"),
        "{msg}"
    );

    let db = Db::open(dir.path(), Options::default()).expect("open with torn tail");
    let tails = db.stats().dropped_log_tails;
    assert_eq!(tails.len(), 1, "{tails:?}");
    assert!(tails[0].contains(&file_name(&path)), "{tails:?}");
    check_prefix(
        &db,
        lens.len(),
        &rec_model(&lens, lens.len() - 1),
        "real fs torn tail",
    );
    db.close().expect("close");
}
