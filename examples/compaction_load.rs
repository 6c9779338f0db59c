//! Loads random keys with background compaction on, then reports write
//! amplification, space amplification and the tree's runs; then times a
//! full compaction with 1 and with 2 merge workers on the same data.
//!
//! ```text
//! cargo run --release --example compaction_load [KEYS]   # default 5,000,000
//! ```
//! 16-byte keys, 100-byte values (half compressible), 64 MiB memtable,
//! default compaction options.

use std::path::Path;
use std::time::{Duration, Instant};

use rillkv::{CompactionOptions, Db, Options, WriteBatch};

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Bytes this process has caused to be written to storage.
fn io_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Writes `keys` random 16-byte keys (xorshift from `seed`, made unique by
/// the index) with 100-byte values, half of each random, in batches of 1000.
fn load_random(db: &Db, keys: u64, seed: u64) -> rillkv::Result<()> {
    let mut rng = seed;
    let mut value = [0u8; 100];
    let mut batch = WriteBatch::new();
    for i in 0..keys {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&rng.to_be_bytes());
        key[8..].copy_from_slice(&i.to_be_bytes());
        for (j, b) in value.iter_mut().enumerate().take(50) {
            *b = (rng >> (j % 56)) as u8;
        }
        batch.put(key, value);
        if batch.len() == 1000 {
            db.write(std::mem::take(&mut batch))?;
        }
    }
    db.write(batch)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("load");
    let db = Db::open(&dir, Options::default())?;
    let io_before = io_write_bytes();
    let start = Instant::now();
    load_random(&db, keys, 0x2545_f491_4f6c_dd1d)?;
    let load = start.elapsed();
    // Let background compaction settle.
    let settle = Instant::now();
    db.flush()?;
    while db.stats().pending_compaction_bytes > 0 && settle.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let stats = db.stats();
    let c = &stats.counters;
    let user = c.user_bytes as f64;
    println!(
        "loaded {keys} random keys in {:.1} s ({:.0} ops/s), compaction settled {:.1} s later",
        load.as_secs_f64(),
        keys as f64 / load.as_secs_f64(),
        settle.elapsed().as_secs_f64()
    );
    println!(
        "write amplification: {:.2} (WAL + tables ÷ user bytes{})",
        c.write_amplification(),
        match (io_before, io_write_bytes()) {
            (Some(a), Some(b)) => format!("; /proc/self/io: {:.2}", (b - a) as f64 / user),
            _ => String::new(),
        }
    );
    let live = dir_bytes(&dir);
    let tables: u64 = stats
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.size)
        .sum();
    db.compact()?;
    let compacted: u64 = db
        .stats()
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.size)
        .sum();
    println!(
        "space amplification: {:.2} (tables {:.1} MiB ÷ fully compacted {:.1} MiB; directory {:.1} MiB)",
        tables as f64 / compacted.max(1) as f64,
        tables as f64 / 1048576.0,
        compacted as f64 / 1048576.0,
        live as f64 / 1048576.0
    );
    println!(
        "sorted runs after the load: {} ({} tables), deepest key range: {} runs; compactions: {}, {:.1} s",
        stats.runs.len(),
        stats.runs.iter().map(|r| r.tables.len()).sum::<usize>(),
        stats.max_depth,
        c.compactions,
        c.compaction_micros as f64 / 1e6
    );
    db.close()?;

    // Full compaction of the loaded (uncompacted) state, 1 vs 2 workers.
    // Rebuild the uncompacted state: reload into a fresh DB without
    // background compaction, then copy it so both runs start equal.
    let base = tmp.path().join("base");
    let no_bg = || Options::default().compaction(CompactionOptions::default().background(false));
    let db = Db::open(&base, no_bg())?;
    load_random(&db, keys, 0x9e37_79b9_7f4a_7c15)?;
    db.flush()?;
    let input: u64 = db
        .stats()
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.size)
        .sum();
    let runs = db.stats().runs.len();
    db.close()?;
    for workers in [1usize, 2] {
        let copy = tmp.path().join(format!("w{workers}"));
        copy_dir(&base, &copy)?;
        let opts = Options::default().compaction(
            CompactionOptions::default()
                .background(false)
                .merge_workers(workers),
        );
        let db = Db::open(&copy, opts)?;
        let t = Instant::now();
        db.compact()?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "full compaction, {workers} worker(s): {runs} runs, {:.1} MiB in {:.2} s = {:.1} MB/s of input",
            input as f64 / 1048576.0,
            secs,
            input as f64 / 1e6 / secs
        );
        db.close()?;
    }
    Ok(())
}
