//! The pieces of a table, each on its own, then a whole table's point
//! lookups:
//!
//! - `block`: encoding a ~4 KiB data block (16-byte user keys, 100-byte
//!   values), decoding it (restart array plus a full scan), and seeking in
//!   it;
//! - `bloom`: building a filter over 100,000 keys at 10 bits per key, and
//!   probing it with present and absent keys. Before the timings the
//!   measured false-positive rate is printed for several bits-per-key
//!   settings beside the theoretical one (a figure, not an assertion);
//! - `table_get`: point lookups in a 100,000-entry table (about 11 MB),
//!   hits and misses (absent keys sort between present ones), for a zstd
//!   table whose blocks are all in a warm block cache and for an
//!   uncompressed table (no cache: each read re-verifies the block's
//!   crc32 in the mapped file).
//!
//! `cargo bench --bench table --features internals`

mod common;

use std::hint::black_box;

use bytes::Bytes;
use common::{absent_key, config, key};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rillkv::Compression;
use rillkv::internals::bench::{
    Block, BlockBuilder, BlockCache, Filter, FilterBuilder, Table, build_table, encode_key,
};
use rillkv::internals::{InternalKey, ValueKind};

const VALUE_LEN: usize = 100;
const BLOOM_KEYS: usize = 100_000;
const TABLE_KEYS: usize = 100_000;
/// Lookups per timed iteration of the `table_get` benchmarks.
const LOOKUPS: usize = 1_000;

/// A 100-byte value that zstd shrinks to about half: 50 random bytes, then
/// 50 repeated ones.
fn value(rng: &mut fastrand::Rng) -> Bytes {
    let mut v: Vec<u8> = (0..VALUE_LEN / 2).map(|_| rng.u8(..)).collect();
    v.resize(VALUE_LEN, b'v');
    Bytes::from(v)
}

/// Sorted entries `0..n`, each a `Put` with its own sequence number.
fn entries(n: usize) -> Vec<(InternalKey, Bytes)> {
    let mut rng = fastrand::Rng::with_seed(1);
    (0..n)
        .map(|i| {
            let k = InternalKey::new(key(i), i as u64 + 1, ValueKind::Put);
            (k, value(&mut rng))
        })
        .collect()
}

fn bench_block(c: &mut Criterion) {
    // As many entries as the table writer puts in one 4 KiB block.
    let mut builder = BlockBuilder::new();
    let mut rows: Vec<(Vec<u8>, Bytes)> = Vec::new();
    for (k, v) in entries(1_000) {
        let encoded = encode_key(&k);
        builder.add(&encoded, &v);
        rows.push((encoded, v));
        if builder.estimated_size() >= 4096 {
            break;
        }
    }
    let block_bytes = Bytes::copy_from_slice(builder.finish());
    let n = rows.len();
    println!(
        "block: {n} entries of {}-byte keys and {VALUE_LEN}-byte values in {} bytes",
        rows.first().map_or(0, |r| r.0.len()),
        block_bytes.len()
    );

    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Bytes(block_bytes.len() as u64));
    g.bench_function("encode", |b| {
        // One builder reused across blocks, as the table writer does.
        let mut builder = BlockBuilder::new();
        b.iter(|| {
            builder.reset();
            for (k, v) in &rows {
                builder.add(k, v);
            }
            black_box(builder.finish().len())
        })
    });
    g.bench_function("decode_scan", |b| {
        b.iter(|| {
            let block = Block::decode(block_bytes.clone()).expect("valid block");
            let mut it = block.iter();
            it.seek_to_first();
            let mut count = 0;
            while it.valid() {
                black_box((it.key(), it.value()));
                count += 1;
                it.next();
            }
            assert_eq!(count, n);
        })
    });
    // Seeks to every key of the block in a shuffled order.
    let mut targets: Vec<&[u8]> = rows.iter().map(|r| r.0.as_slice()).collect();
    fastrand::Rng::with_seed(2).shuffle(&mut targets);
    let block = Block::decode(block_bytes.clone()).expect("valid block");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("seek", |b| {
        let mut it = block.iter();
        b.iter(|| {
            for t in &targets {
                it.seek(t);
                assert!(it.valid());
                black_box(it.value());
            }
        })
    });
    g.finish();
}

/// The false-positive rate of a filter over `BLOOM_KEYS` keys, measured
/// on a million absent keys, for several bits per key.
fn print_bloom_false_positives(keys: &[Bytes]) {
    const PROBES: usize = 1_000_000;
    println!(
        "bloom: false-positive rate over {PROBES} absent keys ({BLOOM_KEYS} keys in the filter)"
    );
    for bits in [5u32, 10, 15, 20] {
        let mut builder = FilterBuilder::new(bits);
        for k in keys {
            builder.add_key(k);
        }
        let filter = Filter::decode(Bytes::from(builder.finish())).expect("valid filter");
        let fp = (0..PROBES)
            .filter(|&i| filter.may_contain(&absent_key(i)))
            .count();
        // k = round(bits * ln 2) probes; FP ≈ (1 - e^(-k / bits))^k.
        let k = (f64::from(bits) * std::f64::consts::LN_2).round();
        let theory = (1.0 - (-k / f64::from(bits)).exp()).powf(k);
        println!(
            "bloom:   {bits:2} bits/key, k = {k}: measured {:.3}%, theory {:.3}%",
            100.0 * fp as f64 / PROBES as f64,
            100.0 * theory
        );
    }
}

fn bench_bloom(c: &mut Criterion) {
    let keys: Vec<Bytes> = (0..BLOOM_KEYS).map(key).collect();
    let absent: Vec<Bytes> = (0..BLOOM_KEYS).map(absent_key).collect();
    print_bloom_false_positives(&keys);

    let mut g = c.benchmark_group("bloom");
    g.throughput(Throughput::Elements(BLOOM_KEYS as u64));
    g.bench_function("build", |b| {
        b.iter(|| {
            let mut builder = FilterBuilder::new(10);
            for k in &keys {
                builder.add_key(k);
            }
            black_box(builder.finish())
        })
    });
    let mut builder = FilterBuilder::new(10);
    for k in &keys {
        builder.add_key(k);
    }
    let filter = Filter::decode(Bytes::from(builder.finish())).expect("valid filter");
    g.bench_function("probe_hit", |b| {
        b.iter(|| {
            for k in &keys {
                assert!(filter.may_contain(k));
            }
        })
    });
    g.bench_function("probe_miss", |b| {
        b.iter(|| absent.iter().filter(|k| filter.may_contain(k)).count())
    });
    g.finish();
}

/// Looks up every key of `keys`; returns how many were found.
fn lookups(table: &Table, keys: &[Bytes]) -> usize {
    keys.iter()
        .filter(|k| {
            let found = table.get(k, u64::MAX >> 8).expect("valid table");
            black_box(found).is_some()
        })
        .count()
}

fn bench_table_get(c: &mut Criterion) {
    let data = entries(TABLE_KEYS);
    let cache = BlockCache::new(64 << 20);
    let zstd =
        build_table(&data, Compression::Zstd { level: 1 }, 10, Some(&cache)).expect("build table");
    let plain = build_table(&data, Compression::None, 10, None).expect("build table");
    drop(data);
    let all: Vec<Bytes> = (0..TABLE_KEYS).map(key).collect();
    // Warm the cache with every block of the zstd table.
    assert_eq!(lookups(&zstd, &all), TABLE_KEYS);
    let (hits, misses) = cache.hits_and_misses();
    println!(
        "table_get: zstd table {} bytes, uncompressed table {} bytes; \
         warming the cache: {hits} hits, {misses} misses",
        zstd.file_size(),
        plain.file_size()
    );

    let mut rng = fastrand::Rng::with_seed(3);
    let present: Vec<Bytes> = (0..LOOKUPS).map(|_| key(rng.usize(..TABLE_KEYS))).collect();
    let absent: Vec<Bytes> = (0..LOOKUPS)
        .map(|_| absent_key(rng.usize(..TABLE_KEYS)))
        .collect();

    let mut g = c.benchmark_group("table_get");
    g.throughput(Throughput::Elements(LOOKUPS as u64));
    for (name, table) in [("zstd_cached", &zstd), ("uncompressed", &plain)] {
        g.bench_with_input(BenchmarkId::new("hit", name), table, |b, t| {
            b.iter(|| assert_eq!(lookups(t, &present), LOOKUPS))
        });
        g.bench_with_input(BenchmarkId::new("miss", name), table, |b, t| {
            b.iter(|| lookups(t, &absent))
        });
    }
    g.finish();
    let (hits, misses) = cache.hits_and_misses();
    println!("table_get: block cache after the runs: {hits} hits, {misses} misses");
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_block, bench_bloom, bench_table_get
}
criterion_main!(benches);
