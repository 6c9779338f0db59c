//! The WAL is preallocated on a real filesystem (zeros past its records, so
//! a synced append seldom changes the file's size), and that never reads
//! as damage:
//!
//! - a copy of a live database directory (what a SIGKILL leaves: every
//!   appended byte, then the preallocated zeros) opens in every recovery
//!   mode, including `AbsoluteConsistency`, with every write and no
//!   dropped tail;
//! - a clean close trims the zeros, so the log ends at its last record;
//! - a log with a torn record before the zeros is still a torn tail.

use std::fs;
use std::path::Path;

use rillkv::fs::StdFs;
use rillkv::{Db, ErrorKind, Options, RecoveryMode, WriteBatch, WriteOptions};

use crate::support::{copy_dir, key, wal_files};

const MODES: [RecoveryMode; 4] = [
    RecoveryMode::TolerateCorruptedTail,
    RecoveryMode::PointInTime,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::SkipCorrupted,
];

fn batch_of(i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(key(i), format!("value-{i}"));
    b
}

/// Writes `n` synced puts into a fresh database in `dir` and returns it
/// open, with its live WAL preallocated.
fn live_db(dir: &Path, n: u64) -> Db {
    let db = Db::open(dir, Options::default()).expect("open");
    for i in 0..n {
        db.write_opt(batch_of(i), &WriteOptions::default().sync(true))
            .expect("put");
    }
    db
}

#[test]
fn a_live_preallocated_log_opens_cleanly_in_every_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let live = tmp.path().join("live");
    let db = live_db(&live, 300);
    let wal = wal_files(&StdFs, &live).pop().expect("a live WAL");
    let data = fs::read(&wal).expect("read wal");
    let end = data.iter().rposition(|&b| b != 0).expect("records") + 1;
    assert!(
        data.len() >= 1 << 20 && data.len() - end > 1000,
        "the live log is preallocated: {} bytes, records end at {end}",
        data.len()
    );
    for mode in MODES {
        let copy = tmp.path().join(format!("{mode:?}"));
        copy_dir(&live, &copy);
        let db2 = Db::open(&copy, Options::default().recovery_mode(mode))
            .unwrap_or_else(|e| panic!("{mode:?}: a preallocated log is not damage: {e}"));
        let stats = db2.stats();
        assert!(
            stats.dropped_log_tails.is_empty(),
            "{mode:?}: {:?}",
            stats.dropped_log_tails
        );
        assert_eq!(stats.recovered_entries, 300, "{mode:?}");
        for i in [0, 150, 299] {
            assert_eq!(
                db2.get(key(i)).expect("get").as_deref(),
                Some(format!("value-{i}").as_bytes()),
                "{mode:?}"
            );
        }
        db2.close().expect("close");
    }
    db.close().expect("close");
}

#[test]
fn a_clean_close_trims_the_preallocated_zeros() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    let db = live_db(&dir, 50);
    let wal = wal_files(&StdFs, &dir).pop().expect("a live WAL");
    assert!(fs::metadata(&wal).expect("stat").len() >= 1 << 20);
    db.close().expect("close");
    let data = fs::read(&wal).expect("read wal");
    assert!(!data.is_empty());
    assert_ne!(data.last(), Some(&0), "the log ends at its last record");
    assert!(data.len() < 1 << 20, "{} bytes", data.len());
    let db = Db::open(
        &dir,
        Options::default().recovery_mode(RecoveryMode::AbsoluteConsistency),
    )
    .expect("reopen");
    assert_eq!(
        db.get(key(49)).expect("get").as_deref(),
        Some(&b"value-49"[..])
    );
    db.close().expect("close");
}

#[test]
fn a_torn_record_before_the_zeros_is_still_a_torn_tail() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let live = tmp.path().join("live");
    let db = live_db(&live, 20);
    let copy = tmp.path().join("copy");
    copy_dir(&live, &copy);
    db.close().expect("close");
    // Zero the last few bytes of the last record: a write torn by a crash,
    // followed by the preallocated zeros.
    let wal = wal_files(&StdFs, &copy).pop().expect("wal");
    let mut data = fs::read(&wal).expect("read");
    let end = data.iter().rposition(|&b| b != 0).expect("records") + 1;
    for b in &mut data[end - 4..end] {
        *b = 0;
    }
    fs::write(&wal, &data).expect("write");
    let strict = Db::open(
        &copy,
        Options::default().recovery_mode(RecoveryMode::AbsoluteConsistency),
    );
    assert_eq!(
        strict.map(|_| ()).unwrap_err().kind(),
        ErrorKind::Corruption,
        "a torn record is damage even with zeros after it"
    );
    let db = Db::open(&copy, Options::default()).expect("tolerant open");
    let stats = db.stats();
    assert_eq!(stats.dropped_log_tails.len(), 1, "{stats}");
    assert_eq!(stats.recovered_entries, 19);
    assert_eq!(
        db.get(key(18)).expect("get").as_deref(),
        Some(&b"value-18"[..])
    );
    assert_eq!(db.get(key(19)).expect("get"), None);
    db.close().expect("close");
}
