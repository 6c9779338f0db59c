//! Background compaction keeps the tree shallow at a sane cost: after a
//! load of random keys (drawn with replacement, so about a third of the
//! writes overwrite a key) settles, no key range has more than
//! `max_merge_files` runs, write amplification stays below 15 and space
//! amplification — table bytes ÷ the bytes of the same data fully
//! compacted — is printed and stays below the `1 / (1 - 0.5)` that the
//! default overlap-ratio trigger promises; every key reads back. A load of
//! increasing keys needs no compaction at all: every flush is a table of
//! its own key range, so each overlap group is one run deep.
//!
//! 200 000 writes by default (64 KiB memtables, 1 MiB tables);
//! `RILLKV_BOUNDS_KEYS` sets the count.

use std::time::{Duration, Instant};

use rillkv::{CompactionOptions, Db, Options, Stats};

use crate::support::{env_num, key, table_count, total_table_bytes, wait_for_compactions};

const MAX_MERGE_FILES: usize = 6;

fn options() -> Options {
    Options::default().memtable_size(64 << 10).compaction(
        CompactionOptions::default()
            .background(true)
            .max_merge_files(MAX_MERGE_FILES)
            .target_table_size(1 << 20)
            .max_memory(64 << 20)
            .merge_workers(2),
    )
}

/// A 48-byte value for key `i` at `version`, half of it compressible.
fn value(i: u64, version: u64) -> Vec<u8> {
    let mut v = format!("value-{i:09}-{version:07}-").into_bytes();
    let mut x = (i ^ version << 32).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while v.len() < 48 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v
}

fn report(what: &str, s: &Stats, elapsed: Duration) {
    let c = &s.counters;
    eprintln!(
        "{what}: {:.1} s, {} writes, {} flushes, {} compactions (read {} KiB, wrote {} KiB), \
         {} runs / {} tables, {} overlap groups, depth {}, write amplification {:.2}, \
         {} slowdowns, {} stalls ({} ms)",
        elapsed.as_secs_f64(),
        c.writes,
        c.flushes,
        c.compactions,
        c.compaction_bytes_read >> 10,
        c.compaction_bytes_written >> 10,
        s.runs.len(),
        table_count(s),
        s.overlap_groups,
        s.max_depth,
        c.write_amplification(),
        c.slowdowns,
        c.stalls,
        c.stall_micros / 1000
    );
}

#[test]
fn random_keys_stay_within_max_merge_files_at_bounded_write_amplification() {
    let n = env_num("RILLKV_BOUNDS_KEYS", 200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(42);
    let mut latest: Vec<Option<u64>> = vec![None; n as usize];
    let mut deepest_while_loading = 0;
    for version in 0..n {
        let i = rng.u64(0..n);
        db.put(key(i), value(i, version)).expect("put");
        latest[i as usize] = Some(version);
        if version.is_multiple_of(10_000) {
            deepest_while_loading = deepest_while_loading.max(db.stats().max_depth);
        }
    }
    db.flush().expect("flush");
    let settled = wait_for_compactions(&db, Duration::from_secs(60));
    let s = db.stats();
    report("random keys", &s, started.elapsed());
    eprintln!("deepest key range while loading: {deepest_while_loading} runs");
    assert!(settled, "compaction did not settle in 60 s: {s}");
    assert_eq!(s.last_compaction_error, None);
    assert!(s.counters.compactions > 0, "random keys need compaction");
    assert!(
        s.max_depth as usize <= MAX_MERGE_FILES,
        "depth {} > max_merge_files {MAX_MERGE_FILES}",
        s.max_depth
    );
    let wa = s.counters.write_amplification();
    assert!(wa > 1.0 && wa < 15.0, "write amplification {wa:.2}");

    // Space amplification: the tables now ÷ the same data compacted into
    // one run with no shadowed version.
    let before = total_table_bytes(&s);
    db.compact().expect("compact");
    let live = total_table_bytes(&db.stats());
    let space_amp = before as f64 / live as f64;
    let distinct = latest.iter().flatten().count();
    eprintln!(
        "space amplification {space_amp:.3} ({before} B in tables, {live} B after a full \
         compaction; {distinct} distinct keys of {n} writes)"
    );
    assert!(
        (0.95..2.0).contains(&space_amp),
        "space amplification {space_amp:.3}"
    );

    for (i, version) in latest.iter().enumerate() {
        let i = i as u64;
        let got = db.get(key(i)).expect("get");
        let want = version.map(|v| value(i, v));
        assert_eq!(got.as_deref(), want.as_deref(), "key {i}");
    }
    let mut count = 0u64;
    let mut last: Option<Vec<u8>> = None;
    for r in db.iter() {
        let (k, _) = r.expect("scan");
        assert!(
            last.as_deref().is_none_or(|l| l < k.as_ref()),
            "a scan yields keys in order, once each"
        );
        last = Some(k.to_vec());
        count += 1;
    }
    assert_eq!(count as usize, distinct, "a scan sees every key once");
    db.close().expect("close");
}

#[test]
fn increasing_keys_need_no_compaction() {
    let n = env_num("RILLKV_BOUNDS_KEYS", 200_000) / 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let started = Instant::now();
    for i in 0..n {
        db.put(key(i), value(i, 0)).expect("put");
    }
    db.flush().expect("flush");
    let settled = wait_for_compactions(&db, Duration::from_secs(30));
    let s = db.stats();
    report("increasing keys", &s, started.elapsed());
    assert!(settled, "nothing to compact, yet pending: {s}");
    assert!(s.counters.flushes > 10, "many flushes");
    assert_eq!(
        s.counters.compactions, 0,
        "disjoint tables need no compaction"
    );
    assert_eq!(s.max_depth, 1, "every key range is one run deep");
    assert_eq!(
        s.overlap_groups as usize,
        table_count(&s),
        "every table is its own overlap group"
    );
    let wa = s.counters.write_amplification();
    assert!(wa < 3.0, "write amplification {wa:.2}: WAL and flush only");
    for i in (0..n).step_by(97) {
        assert_eq!(
            db.get(key(i)).expect("get").as_deref(),
            Some(value(i, 0).as_slice()),
            "key {i}"
        );
    }
    db.close().expect("close");
}
