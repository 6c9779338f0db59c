//! A flipped bit in an early WAL record, followed by good records, is not
//! crash damage: the default open fails with `Corruption` naming the WAL
//! and the offset of the damaged record, and so does
//! `AbsoluteConsistency`; `PointInTime` opens with exactly the writes
//! before the damaged record. No flip anywhere in the record may make the
//! open silently drop the good records after it, or panic.
//!
//! Each case damages a copy of the whole database directory and opens a
//! fresh copy per recovery mode.

use std::path::Path;

use rillkv::fs::FaultFs;
use rillkv::{Db, ErrorKind, Options, RecoveryMode};

use crate::support::format::{BATCH_KEY_LEN_AT, HEADER, get_u32, records};
use crate::support::{
    Files, Model, assert_view_matches, dir_contents, fault_image, file_name, key,
    newest_nonempty_wal, read_all, rec_model, rec_value, wal_files,
};

const DIR: &str = "/db";
/// The damaged record; records after it are good.
const VICTIM: usize = 5;

fn lens() -> Vec<usize> {
    (0..40).map(|i| 30 + (i * 53) % 200).collect()
}

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

fn check(db: &Db, want: &Model, n: usize, ctx: &str) {
    let probes: Vec<Vec<u8>> = (0..=n as u64).map(key).collect();
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
            "{ctx}: the damage is at offset {off}: {msg}"
        );
    }
}

/// The index of the put held by a one-fragment record: its key, decoded
/// from the documented payload (7-byte fragment header, 12-byte batch
/// header, kind, key length, key).
fn put_index(data: &[u8], (start, end): (usize, usize)) -> usize {
    let payload = &data[start + HEADER..end];
    let klen = get_u32(payload, BATCH_KEY_LEN_AT) as usize;
    let at = BATCH_KEY_LEN_AT + 4;
    let key = std::str::from_utf8(&payload[at..at + klen]).expect("utf8 key");
    key.strip_prefix("key")
        .and_then(|n| n.parse().ok())
        .expect("a support::key")
}

/// Checks the three modes on an image (written with value lengths `lens`)
/// whose WAL `wal` has a damaged record at `offset` holding put
/// `first_lost`.
fn check_flip(
    files: &Files,
    wal: &Path,
    offset: usize,
    lens: &[usize],
    first_lost: usize,
    ctx: &str,
) {
    for mode in [
        RecoveryMode::TolerateCorruptedTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let err = open(files, mode).expect_err("a flipped bit before good records fails the open");
        assert_corruption(&err, wal, Some(offset), &format!("{ctx}, {mode:?}"));
    }
    let db = open(files, RecoveryMode::PointInTime).expect("PointInTime opens");
    assert_eq!(
        db.stats().dropped_log_tails.len(),
        1,
        "{ctx}: {:?}",
        db.stats()
    );
    let want = rec_model(lens, first_lost);
    check(&db, &want, lens.len(), &format!("{ctx}, PointInTime"));
    db.close().expect("close");
}

fn many_lens() -> Vec<usize> {
    (0..150).map(|i| 40 + i % 60).collect()
}

#[test]
fn bit_flip_in_an_early_record_is_corruption() {
    let lens = lens();
    let files = write_records(&lens, 64 << 20);
    let w = newest_nonempty_wal(&files);
    let (path, bytes) = files[w].clone();
    let recs = records(&bytes);
    assert_eq!(recs.len(), lens.len());
    let (start, end) = recs[VICTIM];
    let mut damaged = files.clone();
    damaged[w].1[(start + end) / 2 + 3] ^= 0x10; // inside the value
    check_flip(&damaged, &path, start, &lens, VICTIM, "value bit");
}

/// With a small memtable the older writes sit in older logs or in tables;
/// a flip early in the newest log keeps all of them in `PointInTime`.
#[test]
fn bit_flip_after_older_memtables_is_corruption() {
    let lens = many_lens();
    let files = write_records(&lens, 4096);
    let w = newest_nonempty_wal(&files);
    let (path, bytes) = files[w].clone();
    let recs = records(&bytes);
    assert!(
        recs.len() >= 3,
        "the newest WAL should hold a few records: {}",
        recs.len()
    );
    let victim = recs[1];
    let first_lost = put_index(&bytes, victim);
    assert!(first_lost > 0);
    let mut damaged = files.clone();
    damaged[w].1[victim.1 - 1] ^= 0x80;
    check_flip(
        &damaged,
        &path,
        victim.0,
        &lens,
        first_lost,
        "newest of several",
    );
}

#[test]
fn bit_flip_on_the_real_filesystem_is_corruption() {
    let lens = lens();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for (i, &len) in lens.iter().enumerate() {
        db.put(key(i as u64), rec_value(i, len)).expect("put");
    }
    db.close().expect("close");
    let path = wal_files(&rillkv::fs::StdFs, dir.path())
        .into_iter()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .expect("non-empty WAL");
    let mut bytes = std::fs::read(&path).expect("read");
    let (start, end) = records(&bytes)[VICTIM];
    bytes[end - 2] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write damaged WAL");

    let err = Db::open(dir.path(), Options::default()).expect_err("corruption");
    assert_corruption(&err, &path, Some(start), "real fs");
    let lenient = Options::default().recovery_mode(RecoveryMode::PointInTime);
    let db = Db::open(dir.path(), lenient).expect("PointInTime opens");
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
    let files = write_records(&lens, 64 << 20);
    let w = newest_nonempty_wal(&files);
    let (path, bytes) = files[w].clone();
    let (start, end) = records(&bytes)[VICTIM];
    let before = rec_model(&lens, VICTIM);
    let mut silent_loss = Vec::new();
    for byte in start..end {
        for bit in 0..8 {
            let mut damaged = files.clone();
            damaged[w].1[byte] ^= 1 << bit;
            let ctx = format!("bit {bit} of byte {byte} (record {VICTIM} spans {start}..{end})");
            match open(&damaged, RecoveryMode::TolerateCorruptedTail) {
                Err(e) => assert_corruption(&e, &path, None, &ctx),
                Ok(db) => {
                    let got = read_all(&db);
                    silent_loss.push(format!(
                        "{ctx}: opened with {} of {} records, tails {:?}",
                        got.len(),
                        lens.len(),
                        db.stats().dropped_log_tails
                    ));
                }
            }
            let db = open(&damaged, RecoveryMode::PointInTime)
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
