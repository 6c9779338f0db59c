//! A large key set written through a small memtable lands in many tables,
//! and after overwrites and deletes spread across those flushes and a
//! reopen, every point lookup, full scan (both directions) and bounded range
//! agrees with a `BTreeMap` model.
//!
//! Keys are 16 bytes, values 32. The keys are written in a shuffled order
//! so that every table spans most of the key space and reads must merge
//! overlapping runs; overwrites and deletes of subsets land in later tables
//! (shadowing older versions across tables), and some deleted keys are
//! written again. Background compaction runs throughout (default options);
//! at the end a full compaction must preserve everything too.
//!
//! Knobs: `RILLKV_KEYS` (default 200,000; `RILLKV_BIG=1` makes it
//! 1,000,000), `RILLKV_SEED`.

use std::ops::Bound;
use std::path::Path;
use std::time::Instant;

use rillkv::{Db, Options, WriteBatch};

use crate::support::{
    Model, assert_pairs_eq, collect, collect_rev, env_num, key, model_prefix, model_range, seed,
    show, table_count, total_entries, total_table_bytes, value32,
};

fn key_count() -> u64 {
    let default = if std::env::var_os("RILLKV_BIG").is_some() {
        1_000_000
    } else {
        200_000
    };
    env_num("RILLKV_KEYS", default)
}

fn options() -> Options {
    Options::default()
        .memtable_size(1 << 20)
        .max_sealed_memtables(2)
}

/// Applies `ops` (key index, `Some(version)` to put, `None` to delete) in
/// batches of `batch` writes, to both the database and the model.
fn apply(db: &Db, model: &mut Model, ops: &[(u64, Option<u64>)], batch: usize) {
    for chunk in ops.chunks(batch) {
        let mut b = WriteBatch::new();
        for &(i, version) in chunk {
            let key = key(i);
            match version {
                Some(v) => {
                    let value = value32(i, v);
                    b.put(&key, &value);
                    model.insert(key, value);
                }
                None => {
                    b.delete(&key);
                    model.remove(&key);
                }
            }
        }
        db.write(b).expect("write batch");
    }
}

/// Every `step`-th key ever written (present or not) gets the model's
/// answer.
fn check_point_lookups(db: &Db, model: &Model, n: u64, step: usize, ctx: &str) {
    for i in (0..n).step_by(step) {
        let key = key(i);
        let got = db.get(&key).expect("get");
        let want = model.get(&key);
        assert_eq!(
            got.as_deref(),
            want.map(Vec::as_slice),
            "{ctx}: get({}) disagrees with the model",
            show(&key)
        );
    }
    // Keys that were never written, between and beyond the written ones.
    for probe in [b"key".to_vec(), b"kex".to_vec(), b"kez".to_vec(), key(n)] {
        assert_eq!(db.get(&probe).expect("get"), None, "{ctx}: phantom key");
    }
}

/// Full scans compared entry by entry (without collecting the database side
/// into a second map, to keep memory flat).
fn check_scans(db: &Db, model: &Model, ctx: &str) {
    let mut want = model.iter();
    let mut count = 0usize;
    for item in db.iter() {
        let (k, v) = item.expect("forward scan");
        let (wk, wv) = want
            .next()
            .unwrap_or_else(|| panic!("{ctx}: forward scan yields extra key {}", show(&k)));
        assert!(
            k.as_ref() == wk.as_slice() && v.as_ref() == wv.as_slice(),
            "{ctx}: forward scan #{count}: got {} = {}, want {} = {}",
            show(&k),
            show(&v),
            show(wk),
            show(wv)
        );
        count += 1;
    }
    assert!(
        want.next().is_none(),
        "{ctx}: forward scan ended early at #{count}"
    );

    let mut want = model.iter().rev();
    count = 0;
    for item in db.iter().rev() {
        let (k, v) = item.expect("reverse scan");
        let (wk, wv) = want
            .next()
            .unwrap_or_else(|| panic!("{ctx}: reverse scan yields extra key {}", show(&k)));
        assert!(
            k.as_ref() == wk.as_slice() && v.as_ref() == wv.as_slice(),
            "{ctx}: reverse scan #{count}: got {} = {}, want {} = {}",
            show(&k),
            show(&v),
            show(wk),
            show(wv)
        );
        count += 1;
    }
    assert!(
        want.next().is_none(),
        "{ctx}: reverse scan ended early at #{count}"
    );
}

/// Bounded ranges of every bound kind, some empty, some straddling deleted
/// keys, both directions. Most are short (up to a few hundred keys); every
/// eighth spans a random, long stretch.
fn check_ranges(db: &Db, model: &Model, n: u64, rng: &mut fastrand::Rng, ctx: &str) {
    let bound = |rng: &mut fastrand::Rng, i: u64| {
        let key = key(i);
        match rng.u8(0..2) {
            0 => Bound::Included(key),
            _ => Bound::Excluded(key),
        }
    };
    for r in 0..32 {
        let start = rng.u64(0..n + 1);
        let len = if r % 8 == 7 {
            rng.u64(0..n)
        } else {
            rng.u64(0..400)
        };
        let lo = match r % 8 {
            3 => Bound::Unbounded,
            _ => bound(rng, start),
        };
        let hi = match r % 8 {
            3 => bound(rng, len),
            5 => Bound::Unbounded,
            // Inverted: empty.
            6 => bound(rng, start.saturating_sub(len)),
            _ => bound(rng, start + len),
        };
        let lo = if r % 8 == 5 {
            bound(rng, n.saturating_sub(len))
        } else {
            lo
        };
        let want = model_range(model, &lo, &hi);
        let got = collect(db.range((lo.clone(), hi.clone())));
        assert_pairs_eq(&got, &want, &format!("{ctx}: range #{r} forward"));
        let mut got = collect_rev(db.range((lo.clone(), hi.clone())));
        got.reverse();
        assert_pairs_eq(&got, &want, &format!("{ctx}: range #{r} reverse"));
    }
    // A prefix covering a tenth of the keys.
    let prefix = &key(n / 2)[..12];
    let want = model_prefix(model, prefix);
    let got = collect(db.prefix(prefix));
    assert_pairs_eq(&got, &want, &format!("{ctx}: prefix scan"));
}

fn check_all(db: &Db, model: &Model, n: u64, rng: &mut fastrand::Rng, ctx: &str) {
    let t = Instant::now();
    check_point_lookups(db, model, n, 1, ctx);
    let lookups = t.elapsed();
    let t = Instant::now();
    check_scans(db, model, ctx);
    let scans = t.elapsed();
    let t = Instant::now();
    check_ranges(db, model, n, rng, ctx);
    let ranges = t.elapsed();
    eprintln!(
        "{ctx}: {n} lookups in {lookups:?}, two full scans in {scans:?}, ranges in {ranges:?}"
    );
}

#[test]
fn million_keys_across_flushes_read_back_after_reopen() {
    let n = key_count();
    let seed = seed("million_keys_across_flushes");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let path: &Path = dir.path();
    let mut model = Model::new();
    let started = Instant::now();

    let db = Db::open(path, options()).expect("open");
    // 1. Every key once, in shuffled order; mostly batches, some single puts.
    let mut order: Vec<u64> = (0..n).collect();
    rng.shuffle(&mut order);
    let inserts: Vec<(u64, Option<u64>)> = order.iter().map(|&i| (i, Some(0))).collect();
    let (batched, singles) = inserts.split_at(inserts.len() - inserts.len() / 20);
    apply(&db, &mut model, batched, 256);
    apply(&db, &mut model, singles, 1);
    let after_inserts = db.stats().counters.flushes;
    assert!(
        after_inserts >= 3,
        "a 1 MiB memtable must have flushed several times, flushed {after_inserts}"
    );

    // 2. Three rounds of overwrites and deletes of subsets, each followed by
    //    an explicit flush so that every round lands in its own tables.
    for round in 1..=3u64 {
        let mut ops = Vec::new();
        for i in 0..n {
            let h = i
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(17 + round as u32)
                % 16;
            match h {
                0 | 1 => ops.push((i, Some(round))),
                2 => ops.push((i, None)),
                // Resurrect keys deleted in an earlier round.
                3 if round > 1 => ops.push((i, Some(round + 10))),
                _ => {}
            }
        }
        rng.shuffle(&mut ops);
        apply(&db, &mut model, &ops, 64);
        db.flush().expect("flush");
    }
    // Some writes stay in the memtable (WAL) across the reopen.
    let tail: Vec<(u64, Option<u64>)> = (0..n)
        .step_by(97)
        .map(|i| (i, if i.is_multiple_of(2) { Some(99) } else { None }))
        .collect();
    apply(&db, &mut model, &tail, 16);

    let stats = db.stats();
    let tables = table_count(&stats);
    let table_bytes = total_table_bytes(&stats);
    eprintln!(
        "wrote {n} keys + overwrites in {:?}: {} flushes, {tables} tables in {} runs, {} table bytes, {} live keys",
        started.elapsed(),
        stats.counters.flushes,
        stats.runs.len(),
        table_bytes,
        model.len()
    );
    assert!(
        stats.counters.flushes >= 6 && tables >= 1,
        "expected many flushes\n{stats}"
    );
    assert!(
        model.len() < n as usize && model.len() > n as usize / 2,
        "the workload deletes a subset"
    );
    check_all(&db, &model, n, &mut rng, "before reopen");
    db.close().expect("close");

    let db = Db::open(path, options()).expect("reopen");
    check_all(&db, &model, n, &mut rng, "after reopen");
    // (Point lookups again below, after the replayed tail is flushed.)
    db.flush().expect("flush after reopen");
    let stats = db.stats();
    assert!(
        stats.recovered_entries > 0 && stats.sealed_memtables == 0,
        "the WAL tail was replayed and is in a table now\n{stats}"
    );
    check_point_lookups(&db, &model, n, 4, "after reopen and flush");
    let t = Instant::now();
    db.compact().expect("full compaction");
    let compacted = db.stats();
    eprintln!(
        "full compaction in {:?}: {} tables in {} runs",
        t.elapsed(),
        table_count(&db.stats()),
        compacted.runs.len()
    );
    assert_eq!(compacted.runs.len(), 1, "{compacted}");
    assert_eq!(
        total_entries(&compacted),
        model.len() as u64,
        "with no snapshot, one version per live key and no tombstone is left"
    );
    check_scans(&db, &model, "after full compaction");
    check_point_lookups(&db, &model, n, 1, "after full compaction");
    let stats = db.stats();
    assert!(
        stats.block_cache_hits + stats.block_cache_misses > 0,
        "zstd tables read through the block cache"
    );
    assert!(stats.bloom_useful > 0, "bloom filters skip tables");
    eprintln!("{stats}");
    db.close().expect("close");
    eprintln!("total {:?}", started.elapsed());
}
