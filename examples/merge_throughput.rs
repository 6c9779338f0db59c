//! `Db::merge` throughput, and point-read throughput on keys with 1, 10,
//! 100 and 1,000 pending operands, measured in one run (U64Add counters,
//! write-back off so every read folds every operand).
//!
//! ```text
//! cargo run --release --example merge_throughput
//! ```

use std::time::Instant;

use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Db::open(
        dir.path(),
        Options::default()
            .merge_operator(U64Add)
            .merge_writeback_threshold(0)
            .compaction(CompactionOptions::default().background(false)),
    )?;
    let n = 500_000u64;
    let start = Instant::now();
    for i in 0..n {
        db.merge(format!("hot:{:04}", i % 1000), 1u64.to_le_bytes())?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "merge: {n} single merges in {:.2} s = {:.0} ops/s",
        secs,
        n as f64 / secs
    );

    println!("{:>10}{:>14}{:>14}", "operands", "reads", "reads/s");
    for operands in [1u64, 10, 100, 1000] {
        let keys = 100u64;
        for k in 0..keys {
            for _ in 0..operands {
                db.merge(format!("k{operands}:{k:03}"), 1u64.to_le_bytes())?;
            }
        }
        let reads = (200_000 / operands).max(2_000);
        let start = Instant::now();
        for r in 0..reads {
            let v = db
                .get(format!("k{operands}:{:03}", r % keys))?
                .ok_or("missing")?;
            if u64::from_le_bytes(v[..].try_into()?) != operands {
                return Err("wrong sum".into());
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{operands:>10}{reads:>14}{:>14.0}", reads as f64 / secs);
    }
    db.close()?;
    Ok(())
}
