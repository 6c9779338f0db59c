//! Overlap-group detection and the merge policy's pick on large trees.
//!
//! ```text
//! cargo bench --bench overlap_groups
//! ```
//!
//! Tables get random key ranges (8-byte big-endian keys) covering on average
//! 0.7 of the key space between them, so most groups hold one to a few
//! tables and some chain further. For the [`TreeShape`] benchmarks the
//! tables are dealt into runs greedily (each table into the oldest run it
//! does not overlap), so every run's tables are disjoint, as in a real tree.
//! Measured: the free function [`overlap_groups`] over bare ranges,
//! [`TreeShape::overlap_groups`] (which also sums each group's runs), and
//! [`TieredPolicy`]'s `pick` on a 100,000-table tree.
//!
//! Sample sizes and times are small so the whole run takes well under a
//! minute.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use rillkv::CompactionOptions;
use rillkv::compaction::{
    CompactionPolicy, KeyRange, RunShape, TableShape, TieredPolicy, TreeShape, overlap_groups,
};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// `n` random ranges over the u64 key space, covering 0.7 of it on average.
fn random_ranges(n: usize, seed: u64) -> Vec<(u64, u64)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mean_len = u64::MAX / n as u64 / 10 * 7;
    (0..n)
        .map(|_| {
            let min = rng.u64(..);
            let max = min.saturating_add(rng.u64(0..=mean_len.saturating_mul(2)));
            (min, max)
        })
        .collect()
}

fn key_range((min, max): (u64, u64)) -> KeyRange {
    KeyRange::new(min.to_be_bytes().to_vec(), max.to_be_bytes().to_vec())
}

/// Deals the ranges into runs with disjoint tables: sorted by smallest key,
/// each goes to the oldest run whose last table ends before it starts.
fn tree(ranges: &[(u64, u64)]) -> TreeShape {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut runs: Vec<(u64, Vec<TableShape>)> = Vec::new();
    for (number, r) in sorted.into_iter().enumerate() {
        let table = TableShape {
            number: number as u64,
            range: key_range(r),
            size: 1 << 20,
        };
        match runs.iter_mut().find(|(end, _)| *end < r.0) {
            Some((end, tables)) => {
                *end = r.1;
                tables.push(table);
            }
            None => runs.push((r.1, vec![table])),
        }
    }
    TreeShape::new(
        runs.into_iter()
            .enumerate()
            .map(|(i, (_, tables))| RunShape {
                // The first run dealt to holds the most tables: the oldest.
                id: i as u64 + 1,
                tables,
            })
            .collect(),
    )
}

fn bench_overlap_groups(c: &mut Criterion) {
    let mut group = c.benchmark_group("overlap_groups");
    // Flat sampling: the 100,000-table cases take tens of milliseconds an
    // iteration, too slow for criterion's default linear sampling.
    group.sampling_mode(SamplingMode::Flat);
    for n in SIZES {
        let raw = random_ranges(n, 42);
        let ranges: Vec<KeyRange> = raw.iter().copied().map(key_range).collect();
        let shape = tree(&raw);
        assert_eq!(shape.table_count(), n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("ranges", n), &ranges, |b, ranges| {
            b.iter(|| black_box(overlap_groups(black_box(ranges))))
        });
        group.bench_with_input(BenchmarkId::new("tree_shape", n), &shape, |b, shape| {
            b.iter(|| black_box(black_box(shape).overlap_groups()))
        });
    }
    group.finish();
}

fn bench_pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("tiered_pick");
    // Flat sampling: the 100,000-table cases take tens of milliseconds an
    // iteration, too slow for criterion's default linear sampling in 2 s.
    group.sampling_mode(SamplingMode::Flat);
    let n = 100_000;
    let shape = tree(&random_ranges(n, 7));
    let opts = CompactionOptions::default();
    group.throughput(Throughput::Elements(n as u64));
    group.bench_with_input(BenchmarkId::new("pick", n), &shape, |b, shape| {
        b.iter(|| black_box(TieredPolicy.pick(black_box(shape), &opts)))
    });
    group.finish();
}

/// Small samples, short times, no plots and fewer bootstrap resamples: the
/// whole run stays well under a minute even on a busy two-core machine.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .nresamples(10_000)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_overlap_groups, bench_pick
}
criterion_main!(benches);
