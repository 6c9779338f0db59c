//! A WAL whose last record is cut short (what a crash leaves) opens: the
//! torn tail is dropped and reported in `stats().dropped_log_tails`, every
//! earlier record is intact. `PointInTime` does the same;
//! `AbsoluteConsistency` refuses the torn tail with `Corruption`. Never a
//! panic, whatever the cut.

mod common;

use std::path::{Path, PathBuf};

use common::{
    Model, assert_view_matches, fault_image, rec_key, rec_model, rec_value, records, wal_contents,
};
use rillkv::fs::FaultFs;
use rillkv::{Db, ErrorKind, Options, RecoveryMode};

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

/// Writes the records with FaultFs and closes; returns the WAL files.
fn write_records(lens: &[usize], memtable_size: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let fs = FaultFs::new();
    let db = Db::open(
        DIR,
        Options::default()
            .memtable_size(memtable_size)
            .fs(fs.clone()),
    )
    .expect("open");
    for (i, &len) in lens.iter().enumerate() {
        db.put(rec_key(i), rec_value(i, len)).expect("put");
    }
    db.close().expect("close");
    wal_contents(&fs, Path::new(DIR))
}

fn open(fs: &FaultFs, mode: RecoveryMode) -> rillkv::Result<Db> {
    Db::open(DIR, Options::default().fs(fs.clone()).recovery_mode(mode))
}

/// The index of the newest non-empty WAL.
fn newest_nonempty(wals: &[(PathBuf, Vec<u8>)]) -> usize {
    wals.iter()
        .rposition(|(_, b)| !b.is_empty())
        .expect("a non-empty WAL")
}

fn file_name(p: &Path) -> String {
    p.file_name().expect("name").to_string_lossy().into_owned()
}

fn check_prefix(db: &Db, want: &Model, ctx: &str) {
    let probes: Vec<Vec<u8>> = (0..lens().len() + 1).map(rec_key).collect();
    assert_view_matches(db, want, &probes, ctx);
}

#[test]
fn torn_last_record_is_dropped_and_reported_at_every_cut() {
    let lens = lens();
    let wals = write_records(&lens, 64 << 20);
    let w = newest_nonempty(&wals);
    let (path, bytes) = wals[w].clone();
    let recs = records(&bytes);
    assert_eq!(recs.len(), lens.len(), "one record per put");
    let (last_start, last_end) = *recs.last().expect("records");
    assert_eq!(last_end, bytes.len());
    let all_but_last = rec_model(&lens, lens.len() - 1);

    // Every cut inside the last record: through its header, its payload,
    // the block boundary it crosses. Step to keep it fast, but include the
    // interesting edges exactly.
    let mut cuts: Vec<usize> = (last_start + 1..last_end).step_by(97).collect();
    let boundary = (last_start / common::BLOCK + 1) * common::BLOCK;
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
        let mut files = wals.clone();
        files[w].1.truncate(cut);
        let fs = fault_image(Path::new(DIR), &files);
        for mode in [
            RecoveryMode::TolerateCorruptedTail,
            RecoveryMode::PointInTime,
        ] {
            let ctx = format!("cut at {cut} of {}, {mode:?}", bytes.len());
            let db = open(&fs, mode).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
            let tails = db.stats().dropped_log_tails;
            assert_eq!(
                tails.len(),
                1,
                "{ctx}: one dropped tail expected: {tails:?}"
            );
            assert!(
                tails[0].contains(&file_name(&path)),
                "{ctx}: report should name the WAL: {tails:?}"
            );
            check_prefix(&db, &all_but_last, &ctx);
            db.close().expect("close");
        }
        let err = open(&fs, RecoveryMode::AbsoluteConsistency)
            .expect_err("AbsoluteConsistency must refuse a torn tail");
        assert_eq!(err.kind(), ErrorKind::Corruption, "cut at {cut}: {err}");
        assert!(err.to_string().contains(&file_name(&path)), "{err}");
        assert!(err.to_string().contains("offset"), "{err}");
    }
}

#[test]
fn cut_at_a_record_boundary_is_not_damage() {
    let lens = lens();
    let wals = write_records(&lens, 64 << 20);
    let w = newest_nonempty(&wals);
    let recs = records(&wals[w].1);
    for (n, &(_, end)) in recs.iter().enumerate().step_by(5) {
        let mut files = wals.clone();
        files[w].1.truncate(end);
        let fs = fault_image(Path::new(DIR), &files);
        let db = open(&fs, RecoveryMode::AbsoluteConsistency)
            .unwrap_or_else(|e| panic!("clean cut after record {n}: {e}"));
        assert!(db.stats().dropped_log_tails.is_empty());
        check_prefix(
            &db,
            &rec_model(&lens, n + 1),
            &format!("clean cut after record {n}"),
        );
        db.close().expect("close");
    }
}

#[test]
fn zero_filled_tail_is_dropped_and_reported() {
    let lens = lens();
    let wals = write_records(&lens, 64 << 20);
    let w = newest_nonempty(&wals);
    for zeros in [1, 7, 100, 5000] {
        let mut files = wals.clone();
        files[w].1.extend(std::iter::repeat_n(0u8, zeros));
        let fs = fault_image(Path::new(DIR), &files);
        let db = open(&fs, RecoveryMode::TolerateCorruptedTail)
            .unwrap_or_else(|e| panic!("{zeros} zeros: {e}"));
        // A zero tail shorter than a header may be read as a block trailer;
        // either way nothing is lost.
        assert!(db.stats().dropped_log_tails.len() <= 1);
        check_prefix(
            &db,
            &rec_model(&lens, lens.len()),
            &format!("{zeros} zeros"),
        );
        db.close().expect("close");
    }
}

#[test]
fn torn_tail_in_newest_wal_leaves_older_wals_intact() {
    // A small memtable spreads the records over several WALs.
    let lens: Vec<usize> = (0..120).map(|i| 50 + i % 70).collect();
    let wals = write_records(&lens, 4096);
    let nonempty = wals.iter().filter(|(_, b)| !b.is_empty()).count();
    assert!(
        nonempty >= 3,
        "records should span several WALs, got {nonempty}"
    );
    let w = newest_nonempty(&wals);
    let recs = records(&wals[w].1);
    let (last_start, last_end) = *recs.last().expect("records");
    let mut files = wals.clone();
    files[w].1.truncate((last_start + last_end) / 2);
    let fs = fault_image(Path::new(DIR), &files);
    let db = open(&fs, RecoveryMode::TolerateCorruptedTail).expect("open");
    assert_eq!(db.stats().dropped_log_tails.len(), 1);
    check_prefix(
        &db,
        &rec_model(&lens, lens.len() - 1),
        "multi-WAL torn tail",
    );
    db.close().expect("close");
}

#[test]
fn torn_tail_on_the_real_filesystem() {
    let lens = lens();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for (i, &len) in lens.iter().enumerate() {
        db.put(rec_key(i), rec_value(i, len)).expect("put");
    }
    db.close().expect("close");
    let wals = common::wal_files(&rillkv::fs::StdFs, dir.path());
    let path = wals
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .expect("non-empty WAL")
        .clone();
    let bytes = std::fs::read(&path).expect("read wal");
    let (last_start, _) = *records(&bytes).last().expect("records");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open wal");
    f.set_len(last_start as u64 + 100).expect("truncate");
    f.sync_all().expect("sync");
    drop(f);

    let err = Db::open(
        dir.path(),
        Options::default().recovery_mode(RecoveryMode::AbsoluteConsistency),
    )
    .expect_err("AbsoluteConsistency refuses the torn tail");
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
    assert!(
        err.to_string().contains(&file_name(&path)) && err.to_string().contains("offset"),
        "{err}"
    );

    let db = Db::open(dir.path(), Options::default()).expect("open with torn tail");
    let tails = db.stats().dropped_log_tails;
    assert_eq!(tails.len(), 1, "{tails:?}");
    assert!(tails[0].contains(&file_name(&path)), "{tails:?}");
    check_prefix(&db, &rec_model(&lens, lens.len() - 1), "real fs torn tail");
    db.close().expect("close");
}
