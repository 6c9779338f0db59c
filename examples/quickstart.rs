//! The quickstart: open a database with three keyspaces — user records,
//! an index over them, and counters with their own merge operator — write
//! a few hundred thousand records with their index entries atomically,
//! merge counters, read everything back, reopen, verify, compact, and
//! print what happened and the stats.
//!
//! ```text
//! cargo run --release --example quickstart [DIR]
//! ```
//! DIR defaults to `./rillkv-quickstart`. Running it again reuses the
//! database: the records are rewritten with the same values, and the
//! counters go on counting.

use std::time::Instant;

use rillkv::merge::U64Add;
use rillkv::{Db, Keyspace, KeyspaceOptions, Options, WriteBatch, WriteOptions};

const KEYS: u64 = 300_000;
const BATCH: u64 = 1_000;
const COUNTERS: u64 = 100;
const CITIES: u64 = 50;

fn key(i: u64) -> String {
    format!("user:{i:08}")
}

fn city(i: u64) -> u64 {
    i * 7 % CITIES
}

fn value(i: u64) -> String {
    format!("city={:02};bio={}", city(i), "x".repeat((i % 64) as usize))
}

/// The index entry of record `i`: its city, then its key (empty value).
fn index_key(i: u64) -> String {
    format!("city:{:02}/{}", city(i), key(i))
}

/// The options of each keyspace: at open (so its recovered writes and its
/// merge operator are checked with them) and when the program opens it.
fn users_opts() -> KeyspaceOptions {
    KeyspaceOptions::default().memtable_size(8 << 20)
}

fn counters_opts() -> KeyspaceOptions {
    KeyspaceOptions::default().merge_operator(U64Add)
}

struct Keyspaces {
    users: Keyspace,
    by_city: Keyspace,
    counters: Keyspace,
}

fn open(dir: &str) -> rillkv::Result<(Db, Keyspaces)> {
    let db = Db::open(
        dir,
        Options::default()
            .keyspace("users", users_opts())
            .keyspace("users_by_city", KeyspaceOptions::default())
            .keyspace("counters", counters_opts()),
    )?;
    let ks = Keyspaces {
        users: db.keyspace("users", users_opts())?,
        by_city: db.keyspace("users_by_city", KeyspaceOptions::default())?,
        counters: db.keyspace("counters", counters_opts())?,
    };
    Ok((db, ks))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "rillkv-quickstart".to_owned());

    let (db, ks) = open(&dir)?;
    println!("opened {dir}: keyspaces {:?}", db.keyspaces());

    // A record and its index entry in one batch: both or neither, even
    // across a crash.
    let t = Instant::now();
    for start in (0..KEYS).step_by(BATCH as usize) {
        let mut batch = WriteBatch::new();
        for i in start..start + BATCH {
            batch.put_in(&ks.users, key(i), value(i));
            batch.put_in(&ks.by_city, index_key(i), b"");
        }
        db.write(batch)?;
    }
    // One synced write makes everything before it durable too.
    let mut last = WriteBatch::new();
    last.put("meta:last-run", format!("{KEYS} records"));
    db.write_opt(last, &WriteOptions::default().sync(true))?;
    report("wrote records + index", KEYS, t);

    // Counters: one merge per visit, no read-modify-write.
    let before: Vec<u64> = (0..COUNTERS)
        .map(|c| counter(&ks.counters, c))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    for start in (0..KEYS).step_by(BATCH as usize) {
        let mut batch = WriteBatch::new();
        for i in start..start + BATCH {
            let visits = format!("visits:{:03}", i % COUNTERS);
            batch.merge_in(&ks.counters, visits, 1u64.to_le_bytes());
        }
        db.write(batch)?;
    }
    report("merged", KEYS, t);

    let t = Instant::now();
    for i in 0..KEYS {
        let got = ks.users.get(key(i))?;
        if got.as_deref() != Some(value(i).as_bytes()) {
            return Err(mismatch(i));
        }
    }
    report("read back", KEYS, t);

    // Deleting a record deletes its index entry in the same batch.
    let mut batch = WriteBatch::new();
    batch.delete_in(&ks.users, key(0));
    batch.delete_in(&ks.by_city, index_key(0));
    db.write(batch)?;
    drop(ks);
    db.close()?;

    let t = Instant::now();
    let (db, ks) = open(&dir)?;
    println!("reopened in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);

    let t = Instant::now();
    if ks.users.get(key(0))?.is_some() {
        return Err(mismatch(0));
    }
    for i in 1..KEYS {
        if ks.users.get(key(i))?.as_deref() != Some(value(i).as_bytes()) {
            return Err(mismatch(i));
        }
    }
    report("verified after reopen", KEYS, t);

    // A query through the index, at one snapshot of both keyspaces.
    let t = Instant::now();
    let snap = db.snapshot();
    let mut found = 0;
    for entry in snap.prefix_in(&ks.by_city, "city:07/") {
        let (index_key, _) = entry?;
        let user = &index_key["city:07/".len()..];
        let record = snap
            .get_in(&ks.users, user)?
            .ok_or("an index entry without its record")?;
        if !record.starts_with(b"city=07;") {
            return Err("an index entry pointing to a record of another city".into());
        }
        found += 1;
    }
    drop(snap);
    report("index query city 07", found, t);
    if found != KEYS / CITIES {
        return Err(format!("the index finds {found} users in city 07").into());
    }

    let t = Instant::now();
    for c in 0..COUNTERS {
        let want = before[c as usize] + KEYS / COUNTERS;
        let got = counter(&ks.counters, c)?;
        if got != want {
            return Err(format!("counter {c} is {got}, expected {want}").into());
        }
    }
    report("counters verified", COUNTERS, t);
    for c in 0..3 {
        println!("  visits:{c:03} = {}", counter(&ks.counters, c)?);
    }

    let t = Instant::now();
    let scanned = ks.users.prefix("user:").count() as u64;
    report("scanned", scanned, t);
    if scanned != KEYS - 1 {
        return Err(format!("prefix scan found {scanned} keys, expected {}", KEYS - 1).into());
    }
    let last = ks.users.prefix("user:").next_back().transpose()?;
    println!(
        "last key: {}",
        last.map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .unwrap_or_default()
    );

    // Compaction: the background compactor merges runs as they pile up;
    // a manual compaction merges everything into one sorted run.
    let before = ks.users.stats();
    let t = Instant::now();
    ks.users.compact()?;
    let after = ks.users.stats();
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
        if ks.users.get(key(i))?.as_deref() != Some(value(i).as_bytes()).filter(|_| i != 0) {
            return Err(mismatch(i));
        }
    }

    println!("\n{}", ks.users.stats());
    drop(ks);
    db.close()?;
    Ok(())
}

fn counter(counters: &Keyspace, c: u64) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(match counters.get(format!("visits:{c:03}"))? {
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
