//! A U64Add counter incremented across many memtables and tables reads the
//! exact count, forward, backward, through snapshots and after reopen.

use rillkv::merge::U64Add;
use rillkv::{Db, Options};

use crate::support::{u64_get, u64_of};

#[test]
fn counter_is_exact_across_flushes_snapshots_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        Options::default()
            .merge_operator(U64Add)
            .memtable_size(8 << 10)
            .merge_writeback_threshold(0)
            // Keep the flushed tables apart so operands span many tables.
            .compaction(rillkv::CompactionOptions::default().background(false))
    };
    let db = Db::open(dir.path(), opts()).unwrap();
    db.put(b"a", b"first").unwrap();
    let mut snap = None;
    for i in 1..=5_000u64 {
        db.merge(b"hits", 1u64.to_le_bytes()).unwrap();
        if i == 2_500 {
            snap = Some(db.snapshot());
        }
    }
    db.put(b"z", b"last").unwrap();
    assert_eq!(u64_get(db.get(b"hits").unwrap()), 5_000);
    let snap = snap.unwrap();
    db.flush().unwrap();
    assert!(db.stats().runs.len() > 3, "several tables hold operands");
    assert_eq!(u64_get(snap.get(b"hits").unwrap()), 2_500);
    let fwd: Vec<_> = db.iter().map(|r| r.unwrap()).collect();
    let rev: Vec<_> = db.iter().rev().map(|r| r.unwrap()).collect();
    assert_eq!(fwd.len(), 3);
    assert_eq!(u64_of(&fwd[1].1), 5_000);
    assert_eq!(u64_of(&rev[1].1), 5_000);
    let snap_fwd: Vec<_> = snap.iter().map(|r| r.unwrap()).collect();
    assert_eq!(u64_of(&snap_fwd[1].1), 2_500);
    drop(snap);
    db.close().unwrap();

    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(u64_get(db.get(b"hits").unwrap()), 5_000);
    db.merge(b"hits", 10u64.to_le_bytes()).unwrap();
    assert_eq!(u64_get(db.get(b"hits").unwrap()), 5_010);
    db.close().unwrap();

    // Another operator name is refused; no operator opens but reads of
    // operands say what is missing.
    let err = Db::open(
        dir.path(),
        Options::default().merge_operator(rillkv::merge::U64Max),
    )
    .unwrap_err();
    assert_eq!(err.kind(), rillkv::ErrorKind::InvalidArgument);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"first"[..]));
    let err = db.get(b"hits").unwrap_err();
    assert_eq!(err.kind(), rillkv::ErrorKind::MergeOperator);
    db.close().unwrap();
}

#[test]
fn long_folds_are_written_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options::default()
            .merge_operator(U64Add)
            .merge_writeback_threshold(100),
    )
    .unwrap();
    for _ in 0..1_000 {
        db.merge(b"n", 1u64.to_le_bytes()).unwrap();
    }
    assert_eq!(u64_get(db.get(b"n").unwrap()), 1_000);
    // The read only offers the write-back; the flush thread commits it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.stats().counters.merge_writebacks == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(db.stats().counters.merge_writebacks, 1);
    let folded = db.stats().counters.merge_operands_folded;
    // The next read stops at the written-back base.
    assert_eq!(u64_get(db.get(b"n").unwrap()), 1_000);
    assert_eq!(db.stats().counters.merge_operands_folded, folded);
    db.merge(b"n", 1u64.to_le_bytes()).unwrap();
    assert_eq!(u64_get(db.get(b"n").unwrap()), 1_001);
    db.close().unwrap();
}
