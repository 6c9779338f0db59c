//! Damage that one open has already dealt with (a torn tail dropped, or a
//! point-in-time cut) does not cost the writes made after that open: they
//! survive the next `PointInTime` open. A `PointInTime` open sets aside the
//! logs *after* a damaged one; it must not take the logs written since the
//! damage was handled for such logs.

use std::path::Path;

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{Db, Options, RecoveryMode, WriteBatch, WriteOptions};

use crate::support::format::records;
use crate::support::{dir_contents, fault_image, newest_nonempty_wal, power_loss, show};

const DIR: &str = "/db";

fn opts(fs: &FaultFs, mode: RecoveryMode) -> Options {
    Options::default().fs(fs.clone()).recovery_mode(mode)
}

fn put_synced(db: &Db, k: &[u8], v: &[u8]) {
    let mut b = WriteBatch::new();
    b.put(k, v);
    db.write_opt(b, &WriteOptions::default().sync(true))
        .expect("synced put");
}

/// A database whose newest WAL ends in a torn record, as a power loss
/// during an unsynced write leaves it.
fn torn_tail_image() -> FaultFs {
    let fs = FaultFs::new();
    let db = Db::open(DIR, opts(&fs, RecoveryMode::TolerateCorruptedTail)).expect("open");
    for i in 0..10u32 {
        put_synced(&db, format!("before{i}").as_bytes(), b"v");
    }
    db.close().expect("close");
    let mut files = dir_contents(&fs, Path::new(DIR));
    let w = newest_nonempty_wal(&files);
    let (start, end) = *records(&files[w].1).last().expect("record");
    files[w].1.truncate((start + end) / 2);
    fault_image(Path::new(DIR), &files)
}

fn check_after_keys(db: &Db, ctx: &str) {
    for i in 0..9u32 {
        assert!(
            db.get(format!("before{i}")).expect("get").is_some(),
            "{ctx}: before{i} lost"
        );
    }
    for i in 0..5u32 {
        assert_eq!(
            db.get(format!("after{i}")).expect("get").map(|v| show(&v)),
            Some("synced after recovery".to_owned()),
            "{ctx}: synced write after{i}, made after the damage was handled, is lost"
        );
    }
}

#[test]
fn synced_writes_after_a_dropped_tail_survive_a_point_in_time_reopen() {
    let fs = torn_tail_image();
    let db = Db::open(DIR, opts(&fs, RecoveryMode::TolerateCorruptedTail)).expect("open");
    assert_eq!(db.stats().dropped_log_tails.len(), 1);
    for i in 0..5u32 {
        put_synced(
            &db,
            format!("after{i}").as_bytes(),
            b"synced after recovery",
        );
    }
    db.close().expect("close");

    let db = Db::open(DIR, opts(&fs, RecoveryMode::PointInTime)).expect("PointInTime reopen");
    check_after_keys(&db, "PointInTime reopen after a handled torn tail");
    db.close().expect("close");
}

#[test]
fn synced_writes_after_a_point_in_time_open_survive_the_next_one() {
    let fs = torn_tail_image();
    let db = Db::open(DIR, opts(&fs, RecoveryMode::PointInTime)).expect("first PointInTime open");
    for i in 0..5u32 {
        put_synced(
            &db,
            format!("after{i}").as_bytes(),
            b"synced after recovery",
        );
    }
    // Even a power loss right now must keep the synced writes.
    power_loss(&fs, db, CrashMode::DropUnsynced);

    let db = Db::open(DIR, opts(&fs, RecoveryMode::PointInTime)).expect("second PointInTime open");
    check_after_keys(&db, "second PointInTime open");
    db.close().expect("close");
}
