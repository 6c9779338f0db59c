//! The memtable (a lock-free skiplist of internal keys): inserting 100,000
//! entries (16-byte user keys, 100-byte values) into an empty memtable in
//! random and in ascending key order, and point reads (the newest visible
//! version, as `Db::get` asks) of present and absent keys (absent keys sort
//! between present ones) in a memtable of 100,000 entries, and a seek
//! followed by 10 steps in either direction (the memtable cursor).
//!
//! `cargo bench --bench memtable --features internals`

mod common;

use std::hint::black_box;

use bytes::Bytes;
use common::{absent_key, config, key};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rillkv::internals::ValueKind;
use rillkv::internals::bench::MemTable;

const ENTRIES: usize = 100_000;
/// Reads per timed iteration of the `get` benchmarks.
const READS: usize = 10_000;

fn fill(mem: &MemTable, keys: &[Bytes], value: &Bytes) {
    for (seqno, k) in (1..).zip(keys) {
        mem.insert(k.clone(), seqno, ValueKind::Put, value.clone());
    }
}

fn bench_insert(c: &mut Criterion) {
    let value = Bytes::from(vec![b'v'; 100]);
    let ascending: Vec<Bytes> = (0..ENTRIES).map(key).collect();
    let mut random = ascending.clone();
    fastrand::Rng::with_seed(1).shuffle(&mut random);

    let mut g = c.benchmark_group("memtable_insert");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ENTRIES as u64));
    for (order, keys) in [("random", &random), ("ascending", &ascending)] {
        g.bench_with_input(BenchmarkId::new(order, ENTRIES), keys, |b, keys| {
            // A fresh memtable per iteration; its drop is not timed
            // (criterion drops batched outputs after the measurement).
            b.iter_batched(
                MemTable::new,
                |mem| {
                    fill(&mem, keys, &value);
                    mem
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn bench_get(c: &mut Criterion) {
    let value = Bytes::from(vec![b'v'; 100]);
    let mut keys: Vec<Bytes> = (0..ENTRIES).map(key).collect();
    fastrand::Rng::with_seed(2).shuffle(&mut keys);
    let mem = MemTable::new();
    fill(&mem, &keys, &value);
    assert_eq!(mem.len(), ENTRIES);

    let mut rng = fastrand::Rng::with_seed(3);
    let present: Vec<Bytes> = (0..READS).map(|_| key(rng.usize(..ENTRIES))).collect();
    let absent: Vec<Bytes> = (0..READS)
        .map(|_| absent_key(rng.usize(..ENTRIES)))
        .collect();
    let snapshot = u64::MAX >> 8;

    let mut g = c.benchmark_group("memtable_get");
    g.throughput(Throughput::Elements(READS as u64));
    g.bench_function(BenchmarkId::new("hit", ENTRIES), |b| {
        b.iter(|| {
            for k in &present {
                assert!(black_box(mem.get(k, snapshot)).is_some());
            }
        })
    });
    g.bench_function(BenchmarkId::new("miss", ENTRIES), |b| {
        b.iter(|| {
            for k in &absent {
                assert!(black_box(mem.get(k, snapshot)).is_none());
            }
        })
    });
    g.finish();
}

/// A seek and 10 steps (a `seekrandom` over the memtable), forward and
/// backward: the cursor's search, then its steps (forward one pointer
/// each, backward a search each).
fn bench_seek(c: &mut Criterion) {
    let value = Bytes::from(vec![b'v'; 100]);
    let mut keys: Vec<Bytes> = (0..ENTRIES).map(key).collect();
    fastrand::Rng::with_seed(4).shuffle(&mut keys);
    let mem = MemTable::new();
    fill(&mem, &keys, &value);
    let mut rng = fastrand::Rng::with_seed(5);
    let starts: Vec<Bytes> = (0..READS).map(|_| key(rng.usize(..ENTRIES - 20))).collect();

    let mut g = c.benchmark_group("memtable_seek_10");
    g.throughput(Throughput::Elements(READS as u64));
    for (direction, reverse) in [("forward", false), ("reverse", true)] {
        g.bench_function(BenchmarkId::new(direction, ENTRIES), |b| {
            b.iter(|| {
                for k in &starts {
                    assert_eq!(black_box(mem.scan(k, 11, reverse)), 11);
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_insert, bench_get, bench_seek
}
criterion_main!(benches);
