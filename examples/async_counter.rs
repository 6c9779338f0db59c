//! Concurrent counters from async code: 64 tokio tasks each merge 1 into
//! a few shared `U64Add` counters (and their own), through [`AsyncDb`],
//! with a flush in the middle; then the totals are read back, checked, and
//! printed. Exits non-zero if any total is wrong, also after a reopen.
//!
//! ```text
//! cargo run --release --features tokio --example async_counter [DIR]
//! ```

use std::time::Instant;

use rillkv::merge::U64Add;
use rillkv::{AsyncDb, Options};

const TASKS: u64 = 64;
const INCREMENTS: u64 = 500;
const SHARED: u64 = 4;

fn options() -> Options {
    // A small memtable, so flushes (and compactions) run meanwhile.
    Options::default()
        .merge_operator(U64Add)
        .memtable_size(256 << 10)
}

fn decode(value: Option<bytes::Bytes>) -> Result<u64, Box<dyn std::error::Error>> {
    let value = value.ok_or("a counter is missing")?;
    Ok(u64::from_le_bytes(value[..].try_into()?))
}

/// Checks every counter; returns how many are wrong.
async fn check(db: &AsyncDb) -> Result<u64, Box<dyn std::error::Error>> {
    let mut wrong = 0;
    let per_shared = TASKS / SHARED * INCREMENTS;
    for s in 0..SHARED {
        let n = decode(db.get(format!("shared:{s}")).await?)?;
        if n != per_shared {
            eprintln!("shared:{s} = {n}, expected {per_shared}");
            wrong += 1;
        }
    }
    // The per-task counters, through an async scan.
    let mut scan = db.prefix("task:");
    let (mut tasks, mut total) = (0, 0);
    while let Some(item) = scan.next().await {
        let (key, value) = item?;
        let n = decode(Some(value))?;
        if n != INCREMENTS {
            eprintln!(
                "{} = {n}, expected {INCREMENTS}",
                String::from_utf8_lossy(&key)
            );
            wrong += 1;
        }
        tasks += 1;
        total += n;
    }
    if tasks != TASKS {
        eprintln!("{tasks} task counters, expected {TASKS}");
        wrong += 1;
    }
    println!(
        "{SHARED} shared counters of {per_shared} each, {tasks} task counters totalling {total}"
    );
    Ok(wrong)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| tmp.path().join("async_counter"), Into::into);
    if std::path::Path::new(&dir).exists() {
        return Err(format!("{} exists; pass a new directory", dir.display()).into());
    }
    let db = AsyncDb::open(&dir, options()).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..INCREMENTS {
                db.merge(format!("shared:{}", t % SHARED), 1u64.to_le_bytes())
                    .await?;
                db.merge(format!("task:{t:02}"), 1u64.to_le_bytes()).await?;
                if t == 0 && i == INCREMENTS / 2 {
                    db.flush().await?;
                }
            }
            Ok::<_, rillkv::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let merges = 2 * TASKS * INCREMENTS;
    println!(
        "{TASKS} tasks, {merges} merges in {:.2} s ({:.0} merges/s)",
        elapsed.as_secs_f64(),
        merges as f64 / elapsed.as_secs_f64()
    );
    let mut wrong = check(&db).await?;
    db.close().await?;

    let db = AsyncDb::open(&dir, options()).await?;
    println!("after reopen:");
    wrong += check(&db).await?;
    db.close().await?;
    if wrong > 0 {
        eprintln!("{wrong} counters are wrong");
        std::process::exit(1);
    }
    println!("all totals correct");
    Ok(())
}
