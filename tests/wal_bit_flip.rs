//! A flipped bit in an early WAL record, followed by good records, is not
//! crash damage: the default open fails with `Corruption` naming the WAL
//! and the offset of the damaged record, and so does
//! `AbsoluteConsistency`; `PointInTime` opens with exactly the records
//! before the damage. No flip anywhere in the record may make the open
//! silently drop the good records after it, or panic.

mod common;

use std::path::{Path, PathBuf};

use common::{
    Model, assert_view_matches, fault_image, rec_key, rec_model, rec_value, records, wal_contents,
};
use rillkv::fs::FaultFs;
use rillkv::{Db, ErrorKind, Options, RecoveryMode};

const DIR: &str = "/db";
/// The damaged record; records after it are good.
const VICTIM: usize = 5;

fn lens() -> Vec<usize> {
    (0..40).map(|i| 30 + (i * 53) % 200).collect()
}

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
        .into_iter()
        .filter(|(_, b)| !b.is_empty())
        .collect()
}

fn open(fs: &FaultFs, mode: RecoveryMode) -> rillkv::Result<Db> {
    Db::open(DIR, Options::default().fs(fs.clone()).recovery_mode(mode))
}

fn file_name(p: &Path) -> String {
    p.file_name().expect("name").to_string_lossy().into_owned()
}

fn check(db: &Db, want: &Model, n: usize, ctx: &str) {
    let probes: Vec<Vec<u8>> = (0..n + 1).map(rec_key).collect();
    assert_view_matches(db, want, &probes, ctx);
}

fn assert_corruption(err: &rillkv::Error, wal: &Path, offset: Option<usize>, ctx: &str) {
    assert_eq!(err.kind(), ErrorKind::Corruption, "{ctx}: {err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&file_name(wal)),
        "{ctx}: message should name the WAL: {msg}"
    );
    assert!(
        msg.contains("offset"),
        "{ctx}: message should give the offset: {msg}"
    );
    if let Some(off) = offset {
        assert!(
            msg.contains(&format!("offset {off}")),
            "{ctx}: damage is at offset {off}: {msg}"
        );
    }
}

#[test]
fn bit_flip_in_an_early_record_is_corruption() {
    let lens = lens();
    let wals = write_records(&lens, 64 << 20);
    assert_eq!(wals.len(), 1);
    let (path, bytes) = wals[0].clone();
    let recs = records(&bytes);
    assert_eq!(recs.len(), lens.len());
    let (start, end) = recs[VICTIM];
    // A bit in the middle of the value.
    let mut damaged = bytes.clone();
    damaged[(start + end) / 2 + 3] ^= 0x10;
    let fs = fault_image(Path::new(DIR), &[(path.clone(), damaged)]);

    for mode in [
        RecoveryMode::TolerateCorruptedTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let err =
            open(&fs, mode).expect_err("a flipped bit before good records must fail the open");
        assert_corruption(&err, &path, Some(start), &format!("{mode:?}"));
    }

    let db = open(&fs, RecoveryMode::PointInTime).expect("PointInTime opens");
    assert_eq!(db.stats().dropped_log_tails.len(), 1, "{:?}", db.stats());
    check(&db, &rec_model(&lens, VICTIM), lens.len(), "PointInTime");
    db.close().expect("close");
}

#[test]
fn bit_flip_on_the_real_filesystem_is_corruption() {
    let lens = lens();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for (i, &len) in lens.iter().enumerate() {
        db.put(rec_key(i), rec_value(i, len)).expect("put");
    }
    db.close().expect("close");
    let path = common::wal_files(&rillkv::fs::StdFs, dir.path())
        .into_iter()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .expect("non-empty WAL");
    let mut bytes = std::fs::read(&path).expect("read");
    let (start, end) = records(&bytes)[VICTIM];
    bytes[end - 2] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write damaged WAL");

    let err = Db::open(dir.path(), Options::default()).expect_err("corruption");
    assert_corruption(&err, &path, Some(start), "real fs");
    let db = Db::open(
        dir.path(),
        Options::default().recovery_mode(RecoveryMode::PointInTime),
    )
    .expect("PointInTime opens");
    check(
        &db,
        &rec_model(&lens, VICTIM),
        lens.len(),
        "real fs PointInTime",
    );
    db.close().expect("close");
}

/// Every single-bit flip anywhere in the victim record (its fragment
/// header and payload) must be detected: the default open fails with
/// `Corruption`, never opens with the good records after it silently
/// dropped; `PointInTime` opens with exactly the records before it.
#[test]
fn every_bit_flip_in_an_early_record_is_detected() {
    let lens = lens();
    let wals = write_records(&lens, 64 << 20);
    let (path, bytes) = wals[0].clone();
    let (start, end) = records(&bytes)[VICTIM];
    let before = rec_model(&lens, VICTIM);
    let mut silent_loss = Vec::new();
    for byte in start..end {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[byte] ^= 1 << bit;
            let fs = fault_image(Path::new(DIR), &[(path.clone(), damaged)]);
            let ctx = format!("bit {bit} of byte {byte} (record {VICTIM} spans {start}..{end})");
            match open(&fs, RecoveryMode::TolerateCorruptedTail) {
                Err(e) => assert_corruption(&e, &path, None, &ctx),
                Ok(db) => {
                    let got = common::read_all(&db);
                    silent_loss.push(format!(
                        "{ctx}: opened with {} of {} records, tails {:?}",
                        got.len(),
                        lens.len(),
                        db.stats().dropped_log_tails
                    ));
                }
            }
            let db = open(&fs, RecoveryMode::PointInTime)
                .unwrap_or_else(|e| panic!("{ctx}: PointInTime failed: {e}"));
            check(&db, &before, lens.len(), &format!("{ctx}, PointInTime"));
        }
    }
    assert!(
        silent_loss.is_empty(),
        "{} of {} bit flips were taken for a torn tail, silently dropping the {} good records \
         after the damage:\n{}",
        silent_loss.len(),
        (end - start) * 8,
        lens.len() - VICTIM - 1,
        silent_loss.join("\n")
    );
}

#[test]
fn bit_flip_in_an_older_wal_is_corruption() {
    let lens: Vec<usize> = (0..120).map(|i| 50 + i % 70).collect();
    let wals = write_records(&lens, 4096);
    assert!(wals.len() >= 3, "records should span several WALs");
    let (path, bytes) = wals[0].clone();
    let recs = records(&bytes);
    let (start, end) = recs[1];
    let mut files = wals.clone();
    files[0].1[end - 1] ^= 0x80;
    let fs = fault_image(Path::new(DIR), &files);
    let err = open(&fs, RecoveryMode::TolerateCorruptedTail).expect_err("corruption");
    assert_corruption(&err, &path, Some(start), "older WAL");

    // PointInTime keeps only what precedes the damage, in every WAL.
    let db = open(&fs, RecoveryMode::PointInTime).expect("PointInTime opens");
    check(
        &db,
        &rec_model(&lens, 1),
        lens.len(),
        "older WAL, PointInTime",
    );
    db.close().expect("close");
    assert!(
        fs.file_bytes(&path.with_extension("wal.dropped")).is_none(),
        "the damaged WAL itself is not set aside, only later ones"
    );
    let set_aside = wals[1].0.with_extension("wal.dropped");
    assert!(
        fs.file_bytes(&set_aside).is_some(),
        "later WALs are set aside as .wal.dropped"
    );
    let _ = bytes;
}
