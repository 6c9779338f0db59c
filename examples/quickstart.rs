//! The quickstart: open a database, write a few hundred thousand keys and
//! merge counters, read them back, reopen, verify, and print what happened
//! and the stats.
//!
//! ```text
//! cargo run --release --example quickstart [DIR]
//! ```
//! DIR defaults to `./rillkv-quickstart`. Running it again reuses the
//! database: the keys are rewritten with the same values.

use std::time::Instant;

use rillkv::merge::U64Add;
use rillkv::{Db, Options, WriteBatch, WriteOptions};

const KEYS: u64 = 300_000;
const BATCH: u64 = 1_000;
const COUNTERS: u64 = 100;

fn key(i: u64) -> String {
    format!("user:{i:08}")
}

fn value(i: u64) -> String {
    format!("value-{i}-{}", "x".repeat((i % 64) as usize))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "rillkv-quickstart".to_owned());
    let opts = || {
        Options::default()
            .memtable_size(8 << 20)
            .merge_operator(U64Add)
    };

    let db = Db::open(&dir, opts())?;
    println!("opened {dir}");

    let t = Instant::now();
    for start in (0..KEYS).step_by(BATCH as usize) {
        let mut batch = WriteBatch::new();
        for i in start..start + BATCH {
            batch.put(key(i), value(i));
        }
        db.write(batch)?;
    }
    // One synced write makes everything before it durable too.
    db.write_opt(
        {
            let mut b = WriteBatch::new();
            b.put("meta:last-run", format!("{KEYS} keys"));
            b
        },
        &WriteOptions::default().sync(true),
    )?;
    report("wrote", KEYS, t);

    // Counters: one merge per visit, no read-modify-write.
    let before: Vec<u64> = (0..COUNTERS)
        .map(|c| counter(&db, c))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    for start in (0..KEYS).step_by(BATCH as usize) {
        let mut batch = WriteBatch::new();
        for i in start..start + BATCH {
            batch.merge(format!("visits:{:03}", i % COUNTERS), 1u64.to_le_bytes());
        }
        db.write(batch)?;
    }
    report("merged", KEYS, t);

    let t = Instant::now();
    for i in 0..KEYS {
        let got = db.get(key(i))?;
        if got.as_deref() != Some(value(i).as_bytes()) {
            return Err(mismatch(i));
        }
    }
    report("read back", KEYS, t);

    db.delete(key(0))?;
    db.close()?;

    let t = Instant::now();
    let db = Db::open(&dir, opts())?;
    println!("reopened in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);

    let t = Instant::now();
    if db.get(key(0))?.is_some() {
        return Err(mismatch(0));
    }
    for i in 1..KEYS {
        if db.get(key(i))?.as_deref() != Some(value(i).as_bytes()) {
            return Err(mismatch(i));
        }
    }
    report("verified after reopen", KEYS, t);

    let t = Instant::now();
    for c in 0..COUNTERS {
        let want = before[c as usize] + KEYS / COUNTERS;
        let got = counter(&db, c)?;
        if got != want {
            return Err(format!("counter {c} is {got}, expected {want}").into());
        }
    }
    report("counters verified", COUNTERS, t);
    for c in 0..3 {
        println!("  visits:{c:03} = {}", counter(&db, c)?);
    }

    let t = Instant::now();
    let scanned = db.prefix("user:").count() as u64;
    report("scanned", scanned, t);
    if scanned != KEYS - 1 {
        return Err(format!("prefix scan found {scanned} keys, expected {}", KEYS - 1).into());
    }
    let last = db.prefix("user:").next_back().transpose()?;
    println!(
        "last key: {}",
        last.map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .unwrap_or_default()
    );

    // Compaction: the background compactor merges runs as they pile up;
    // a manual compaction merges everything into one sorted run.
    let before = db.stats();
    let t = Instant::now();
    db.compact()?;
    let after = db.stats();
    println!(
        "compacted {} tables in {} runs (deepest key range: {} runs) into {} tables in {} run in {:.1} ms",
        before.runs.iter().map(|r| r.tables.len()).sum::<usize>(),
        before.runs.len(),
        before.max_depth,
        after.runs.iter().map(|r| r.tables.len()).sum::<usize>(),
        after.runs.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    for i in (0..KEYS).step_by(997) {
        if db.get(key(i))?.as_deref() != Some(value(i).as_bytes()).filter(|_| i != 0) {
            return Err(mismatch(i));
        }
    }

    println!("\n{}", db.stats());
    db.close()?;
    Ok(())
}

fn counter(db: &Db, c: u64) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(match db.get(format!("visits:{c:03}"))? {
        Some(v) => u64::from_le_bytes(v[..].try_into()?),
        None => 0,
    })
}

fn report(what: &str, n: u64, t: Instant) {
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{what:<24}{n:>9} keys in {:>8.1} ms ({:.0} ops/s)",
        secs * 1e3,
        n as f64 / secs
    );
}

fn mismatch(i: u64) -> Box<dyn std::error::Error> {
    format!("key {} read back wrong", key(i)).into()
}
