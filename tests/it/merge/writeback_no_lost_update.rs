//! A read that folds many operands writes the result back as the key's base
//! value — conditionally: never over an operand committed after the read.
//! With writer threads incrementing a hot counter while reader threads keep
//! reading it (write-back threshold 8, so nearly every read writes back),
//! the final value equals the number of increments exactly, each reader
//! sees the counter never go down, and write-backs did happen.
//!
//! 3 writers × 10,000 increments by default (a second or two in release);
//! `RILLKV_BIG=1` runs 3 × 100,000. The scenario runs on a large memtable
//! (operands and write-backs in the active memtable) and on a 64 KiB one
//! (flushes and compactions race with the reads and write-backs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rillkv::merge::U64Add;
use rillkv::{Db, Options};

use crate::support::{le, u64_get};

const WRITERS: u64 = 3;
const READERS: usize = 2;
const THRESHOLD: usize = 8;

fn per_writer() -> u64 {
    if std::env::var_os("RILLKV_BIG").is_some_and(|v| v == "1") {
        100_000
    } else {
        10_000
    }
}

fn hammer(memtable: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || {
        Options::default()
            .merge_operator(U64Add)
            .merge_writeback_threshold(THRESHOLD)
            .memtable_size(memtable)
    };
    let db = Db::open(dir.path(), opts()).expect("open");
    let per_writer = per_writer();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let db = db.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut last = 0u64;
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) {
                    let now = db.get("hot").expect("get").map_or(0, |v| u64_get(Some(v)));
                    assert!(now >= last, "the counter went down: {last} then {now}");
                    last = now;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..per_writer {
                    db.merge("hot", le(1)).expect("merge");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer panicked");
    }
    done.store(true, Ordering::Release);
    let reads: u64 = readers
        .into_iter()
        .map(|r| r.join().expect("reader panicked"))
        .sum();
    let during = db.stats().counters.merge_writebacks;
    assert_eq!(
        u64_get(db.get("hot").expect("get")),
        WRITERS * per_writer,
        "increments lost: {during} write-backs during {reads} reads"
    );
    // A read only offers its write-back; under three writers hammering the
    // same key most offers lose to a newer operand (as they must). With the
    // writers done, a read that folds more than the threshold has no
    // competitor: the flush thread commits its write-back.
    for _ in 0..=THRESHOLD {
        db.merge("hot", le(1)).expect("merge");
    }
    let total = WRITERS * per_writer + THRESHOLD as u64 + 1;
    assert_eq!(u64_get(db.get("hot").expect("get")), total);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.stats().counters.merge_writebacks == during && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let stats = db.stats();
    println!(
        "{} write-backs during {reads} contended reads, {} in all",
        during, stats.counters.merge_writebacks
    );
    assert!(
        stats.counters.merge_writebacks > during,
        "reads wrote folded values back ({reads} reads)"
    );
    assert_eq!(
        u64_get(db.get("hot").expect("get")),
        total,
        "the written-back value is the exact total"
    );
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("open");
    assert_eq!(u64_get(db.get("hot").expect("get")), total, "after reopen");
    db.close().expect("close");
}

#[test]
fn write_back_never_hides_a_concurrent_increment_in_the_memtable() {
    hammer(64 << 20);
}

#[test]
fn write_back_never_hides_a_concurrent_increment_across_flushes() {
    hammer(64 << 10);
}
