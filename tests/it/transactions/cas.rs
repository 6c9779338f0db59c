//! `compare_and_swap` from 8 threads on one key: every thread tries to
//! move the value from `i` to `i + 1` for each `i` it reads; exactly one
//! swap per expected value wins, and the losers see the current value.

use std::sync::{Arc, Barrier};

use rillkv::{CasResult, Db, KeyspaceOptions, Options};

use super::{n, num};

const THREADS: usize = 8;
const STEPS: u64 = 2_000;

#[test]
fn eight_threads_one_winner_per_expected_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().memtable_size(64 << 10)).expect("open");
    let ks = db.keyspace("cas", KeyspaceOptions::default()).expect("ks");
    assert!(
        ks.compare_and_swap("v", None, Some(&n(0)))
            .expect("cas")
            .is_swapped()
    );
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (ks, barrier) = (ks.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut won = Vec::new();
                let mut seen = num(ks.get("v").expect("get"));
                while seen < STEPS {
                    match ks
                        .compare_and_swap("v", Some(&n(seen)), Some(&n(seen + 1)))
                        .expect("cas")
                    {
                        CasResult::Swapped => {
                            won.push(seen);
                            seen += 1;
                            // Let the others race for the next value.
                            std::thread::yield_now();
                        }
                        CasResult::Mismatch { current } => {
                            let now = num(current);
                            assert!(now > seen, "the value only grows: {now} after {seen}");
                            seen = now;
                        }
                    }
                }
                won
            })
        })
        .collect();
    let mut wins: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    wins.sort_unstable();
    assert_eq!(wins, (0..STEPS).collect::<Vec<_>>(), "one winner per value");
    assert_eq!(num(ks.get("v").expect("get")), STEPS);
    let c = db.stats().counters;
    assert_eq!(c.cas_swapped, STEPS + 1);
    eprintln!(
        "cas: {} swapped, {} mismatched",
        c.cas_swapped, c.cas_mismatched
    );
    // A delete through CAS, and an expected absence.
    assert!(
        db.compare_and_swap("x", None, Some(b"1"))
            .expect("cas")
            .is_swapped()
    );
    assert!(
        db.compare_and_swap("x", Some(b"1"), None)
            .expect("cas")
            .is_swapped()
    );
    assert_eq!(
        db.compare_and_swap("x", Some(b"1"), Some(b"2"))
            .expect("cas"),
        CasResult::Mismatch { current: None }
    );
}
