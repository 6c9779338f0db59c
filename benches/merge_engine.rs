//! The K-way merge at the heart of compaction, on in-memory sorted runs of
//! 16-byte keys and 100-byte values (no I/O, no compression): rows per
//! second at K = 2..64, and the speed-up of splitting the key space across
//! two workers as the engine's sub-jobs do.
//!
//! `cargo bench --bench merge_engine --features internals`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rillkv::internals::{InternalIter, InternalKey, MergingIter, ValueKind};

const ROWS: usize = 400_000;

/// `k` sorted runs of `ROWS / k` rows each, keys interleaved across runs.
fn runs(k: usize) -> Vec<Run> {
    let value = Bytes::from(vec![b'v'; 100]);
    let mut runs: Vec<Vec<(InternalKey, Bytes)>> = vec![Vec::new(); k];
    for i in 0..ROWS {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        key[8..].copy_from_slice(&(i as u64).to_be_bytes());
        let ik = InternalKey::new(Bytes::copy_from_slice(&key), i as u64 + 1, ValueKind::Put);
        runs[i % k].push((ik, value.clone()));
    }
    for r in &mut runs {
        r.sort_by(|a, b| a.0.cmp(&b.0));
    }
    // Re-allocate the keys in run order, as a table iterator decoding its
    // blocks makes them; keys left in hash order turn every comparison into
    // a cache miss and the bench into one of DRAM latency. Every old key
    // stays alive until all are copied, so the allocator cannot hand their
    // scattered slots back for the copies.
    //
    // Values are slices of one buffer per 32 rows of a run, as a table
    // iterator's values are slices of their block: with one value shared
    // by every row, the two workers would fight over its refcount.
    runs.iter()
        .map(|r| {
            let mut block = Bytes::new();
            let fresh = r
                .iter()
                .enumerate()
                .map(|(j, (k, v))| {
                    let user_key = Bytes::copy_from_slice(&k.user_key);
                    // The first clone of a `Bytes` made from a `Vec` allocates
                    // its shared refcount; do it now, in order, rather than
                    // in the first timed merge wherever the allocator pleases.
                    drop(user_key.clone());
                    if j % 32 == 0 {
                        block = Bytes::from(v.repeat(32));
                    }
                    let at = j % 32 * v.len();
                    let value = block.slice(at..at + v.len());
                    (InternalKey::new(user_key, k.seqno, k.kind), value)
                })
                .collect();
            Arc::new(fresh)
        })
        .collect()
}

type Run = Arc<Vec<(InternalKey, Bytes)>>;

/// Streams a run's rows in `start..end` (cloning a row is two refcounts).
fn stream(run: &Run, start: usize, end: usize) -> InternalIter {
    let run = Arc::clone(run);
    Box::new((start..end).map(move |i| Ok(run[i].clone())))
}

fn merge(runs: &[Run], lo: Option<&InternalKey>, hi: Option<&InternalKey>) -> usize {
    let sources: Vec<InternalIter> = runs
        .iter()
        .map(|r| {
            let start = lo.map_or(0, |l| r.partition_point(|e| e.0 < *l));
            let end = hi.map_or(r.len(), |h| r.partition_point(|e| e.0 < *h));
            stream(r, start, end)
        })
        .collect();
    let mut n = 0;
    for e in MergingIter::new(sources, false) {
        black_box(e.expect("in-memory"));
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge_engine");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(ROWS as u64));
    for k in [2usize, 8, 16, 64] {
        let data = runs(k);
        g.bench_with_input(BenchmarkId::new("1_worker", k), &data, |b, data| {
            b.iter(|| assert_eq!(merge(data, None, None), ROWS))
        });
    }
    let data = runs(8);
    // Split at the median key of the first run, as sub-jobs split by range.
    let split = data[0][data[0].len() / 2].0.clone();
    g.bench_function(BenchmarkId::new("2_workers", 8), |b| {
        b.iter(|| {
            let (a, bb) = std::thread::scope(|s| {
                let left = s.spawn(|| merge(&data, None, Some(&split)));
                let right = s.spawn(|| merge(&data, Some(&split), None));
                (left.join().expect("left"), right.join().expect("right"))
            });
            assert_eq!(a + bb, ROWS);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
