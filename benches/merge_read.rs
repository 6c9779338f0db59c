//! Merge resolution on the read path, through the public API: `Db::get` of
//! a counter that has 1, 10, 100 or 1000 pending `U64Add` operands and no
//! base value, with the operands
//!
//! - `memtable`: still in the memtable;
//! - `table`: in one flushed table (LZ4, blocks in the warm block cache).
//!   A flush folds the operands of a key into one unless a snapshot
//!   separates them, so the bench holds a snapshot after each operand while
//!   flushing and drops them afterwards.
//!
//! Write-back of folded results is off (`merge_writeback_threshold(0)`)
//! and so is background compaction, so every `get` folds every operand.
//! Throughput is in operands folded per second.
//!
//! `cargo bench --bench merge_read`

mod common;

use std::hint::black_box;

use common::config;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, Options};

const OPERANDS: [u64; 4] = [1, 10, 100, 1000];

fn counter(n: u64) -> String {
    format!("counter{n:04}")
}

/// A database with `counter(n)` holding `n` operands of 1 for each `n` in
/// `OPERANDS`, in the memtable or, with `flushed`, in one table.
fn open(dir: &std::path::Path, flushed: bool) -> Db {
    let opts = Options::default()
        .merge_operator(U64Add)
        .merge_writeback_threshold(0)
        .compaction(CompactionOptions::default().background(false));
    let db = Db::open(dir, opts).expect("open");
    let mut snapshots = Vec::new();
    for n in OPERANDS {
        for _ in 0..n {
            db.merge(counter(n), 1u64.to_le_bytes()).expect("merge");
            if flushed {
                snapshots.push(db.snapshot());
            }
        }
    }
    if flushed {
        db.flush().expect("flush");
        drop(snapshots);
        let stats = db.stats();
        let entries: u64 = stats
            .runs
            .iter()
            .flat_map(|r| &r.tables)
            .map(|t| t.entries)
            .sum();
        assert_eq!(entries, OPERANDS.iter().sum::<u64>(), "operands kept apart");
        assert_eq!(stats.active_memtable_entries, 0);
    }
    db
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge_read");
    for (place, flushed) in [("memtable", false), ("table", true)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path(), flushed);
        for n in OPERANDS {
            let key = counter(n);
            let expected = n.to_le_bytes();
            // Warms the block cache too.
            assert_eq!(db.get(&key).expect("get").as_deref(), Some(&expected[..]));
            g.throughput(Throughput::Elements(n));
            g.bench_function(BenchmarkId::new(place, n), |b| {
                b.iter(|| black_box(db.get(&key).expect("get")))
            });
        }
        db.close().expect("close");
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
