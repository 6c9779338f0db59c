//! Put throughput with and without `sync`, with 1 and 2 writer threads
//! (group commit), measured side by side in one run.
//!
//! ```text
//! cargo run --release --example put_throughput [KEYS_PER_CASE] [SYNC_KEYS_PER_CASE]
//! ```

use std::sync::Arc;
use std::time::Instant;

use rillkv::{Db, Options, WriteOptions};

fn run(threads: usize, sync: bool, keys: u64) -> Result<(f64, f64), rillkv::Error> {
    let dir = tempfile::tempdir()?;
    let db = Db::open(dir.path(), Options::default())?;
    let wo = Arc::new(WriteOptions::default().sync(sync));
    let per_thread = keys / threads as u64;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let db = db.clone();
            let wo = Arc::clone(&wo);
            std::thread::spawn(move || -> rillkv::Result<()> {
                let value = [b'v'; 100];
                for i in 0..per_thread {
                    let key = format!("{t:02}{i:014}");
                    let mut b = rillkv::WriteBatch::new();
                    b.put(key, value);
                    db.write_opt(b, &wo)?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread panicked")?;
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = db.stats();
    let per_group = stats.counters.writes as f64 / stats.counters.write_groups.max(1) as f64;
    db.close()?;
    Ok((per_thread as f64 * threads as f64 / secs, per_group))
}

fn main() -> Result<(), rillkv::Error> {
    let mut args = std::env::args().skip(1);
    let keys: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let sync_keys: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    println!("16-byte keys, 100-byte values, one put per call");
    println!(
        "{:<8}{:>9}{:>10}{:>14}{:>14}",
        "sync", "threads", "keys", "ops/s", "writes/group"
    );
    for sync in [false, true] {
        for threads in [1, 2] {
            let n = if sync { sync_keys } else { keys };
            let (ops, per_group) = run(threads, sync, n)?;
            println!("{:<8}{threads:>9}{n:>10}{ops:>14.0}{per_group:>14.2}", sync);
        }
    }
    Ok(())
}
