//! [`MergingIter`] on its own: a heap merge of K in-memory sorted streams
//! (no I/O, no decoding) of 262,144 rows in all, 16-byte keys and 100-byte
//! values, at K = 2, 4, 8, 16, 32 and 64, for two shapes of input:
//!
//! - `overlapping`: every row goes to a random stream, so consecutive
//!   output rows come from different streams (every step sifts the heap);
//! - `disjoint`: each stream holds one contiguous key range, so the top of
//!   the heap stays put for a whole stream (the best case).
//!
//! `cargo bench --bench merging_iter --features internals`

mod common;

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use common::config;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rillkv::internals::{InternalIter, InternalKey, MergingIter, ValueKind};

const ROWS: usize = 1 << 18;
const FAN_INS: [usize; 6] = [2, 4, 8, 16, 32, 64];

type Stream = Arc<Vec<(InternalKey, Bytes)>>;

/// All rows, sorted: hashed 16-byte keys, one version each.
fn rows() -> Vec<(InternalKey, Bytes)> {
    let value = Bytes::from(vec![b'v'; 100]);
    let mut rows: Vec<(InternalKey, Bytes)> = (0..ROWS as u64)
        .map(|i| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
            key[8..].copy_from_slice(&i.to_be_bytes());
            let k = InternalKey::new(Bytes::copy_from_slice(&key), i + 1, ValueKind::Put);
            (k, value.clone())
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// Deals sorted `rows` into `k` streams, at random or in `k` contiguous
/// ranges.
fn streams(rows: &[(InternalKey, Bytes)], k: usize, overlapping: bool) -> Vec<Stream> {
    let mut out: Vec<Vec<(InternalKey, Bytes)>> = vec![Vec::new(); k];
    let mut rng = fastrand::Rng::with_seed(k as u64);
    let per_stream = rows.len().div_ceil(k);
    for (i, row) in rows.iter().enumerate() {
        let s = if overlapping {
            rng.usize(..k)
        } else {
            i / per_stream
        };
        out[s].push(row.clone());
    }
    // Copy each stream's keys into fresh allocations in stream order, as a
    // table iterator decoding its blocks would make them; otherwise every
    // key comparison is a cache miss on keys allocated in hash order.
    out.into_iter()
        .map(|rows| {
            let fresh = rows
                .into_iter()
                .map(|(k, v)| {
                    let user_key = Bytes::copy_from_slice(&k.user_key);
                    // The first clone of a `Bytes` made from a `Vec` allocates
                    // its shared refcount; do it now, in order, rather than
                    // in the first timed merge wherever the allocator pleases.
                    drop(user_key.clone());
                    (InternalKey::new(user_key, k.seqno, k.kind), v)
                })
                .collect();
            Arc::new(fresh)
        })
        .collect()
}

/// Streams one source's rows (cloning a row is two refcounts).
fn stream(s: &Stream) -> InternalIter {
    let s = Arc::clone(s);
    Box::new((0..s.len()).map(move |i| Ok(s[i].clone())))
}

fn merge(streams: &[Stream]) -> usize {
    let sources = streams.iter().map(stream).collect();
    let mut n = 0;
    for e in MergingIter::new(sources, false) {
        black_box(e.expect("in-memory"));
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let all = rows();
    let mut g = c.benchmark_group("merging_iter");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    for (shape, overlapping) in [("overlapping", true), ("disjoint", false)] {
        for k in FAN_INS {
            let input = streams(&all, k, overlapping);
            g.bench_with_input(BenchmarkId::new(shape, k), &input, |b, input| {
                b.iter(|| assert_eq!(merge(input), ROWS))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
