//! Point-read (hit and miss) and scan throughput over tables, and the bloom
//! filter's measured false-positive rate, in one run.
//!
//! ```text
//! cargo run --release --example read_throughput [KEYS]
//! ```
//! Loads KEYS (default 1,000,000) 16-byte keys with 100-byte values, flushes
//! everything to tables, then reads.

use std::time::Instant;

use rillkv::{Db, Options, WriteBatch};

fn key(i: u64) -> [u8; 16] {
    // Even numbers exist; odd numbers are misses inside the key range.
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(b"key:____");
    k[8..].copy_from_slice(&(i * 2).to_be_bytes());
    k
}

fn missing(i: u64) -> [u8; 16] {
    let mut k = key(i);
    k[15] |= 1;
    k
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn rate(what: &str, n: u64, start: Instant) {
    let s = start.elapsed().as_secs_f64();
    println!(
        "{what:<22}{n:>10} ops in {:>8.1} ms  {:>12.0} ops/s",
        s * 1e3,
        n as f64 / s
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let db = Db::open(dir.path(), Options::default().memtable_size(16 << 20))?;
    let value = [b'v'; 100];
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut b = WriteBatch::new();
        for &i in chunk {
            b.put(key(i), value);
        }
        db.write(b)?;
    }
    db.flush()?;
    rate("load + flush", n, start);
    // Reopen so that reads start with a cold block cache.
    db.close()?;
    let db = Db::open(dir.path(), Options::default())?;
    let tables: usize = db.stats().runs.iter().map(|r| r.tables.len()).sum();
    println!("{tables} tables, {} runs", db.stats().runs.len());

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let reads = n.min(500_000);
    let start = Instant::now();
    for _ in 0..reads {
        let i = rng.below(n);
        if db.get(key(i))?.is_none() {
            return Err(format!("key {i} missing").into());
        }
    }
    rate("readrandom (hit)", reads, start);

    let before = db.stats();
    let start = Instant::now();
    for _ in 0..reads {
        let i = rng.below(n);
        if db.get(missing(i))?.is_some() {
            return Err("a missing key was found".into());
        }
    }
    rate("readmissing", reads, start);
    let after = db.stats();
    let useful = after.bloom_useful - before.bloom_useful;
    let fp = after.bloom_false_positives - before.bloom_false_positives;
    println!(
        "bloom: {useful} lookups skipped, {fp} false positives -> false-positive rate {:.3}%",
        100.0 * fp as f64 / (useful + fp).max(1) as f64
    );

    let start = Instant::now();
    let count = db.iter().count() as u64;
    rate("scan forward", count, start);
    let start = Instant::now();
    let count = db.iter().rev().count() as u64;
    rate("scan reverse", count, start);
    db.close()?;
    Ok(())
}
