//! `SIGKILL` at a random moment loses no acknowledged write.
//!
//! The test re-executes its own binary as a child running only
//! [`child_writer`], which opens the database on the real filesystem and
//! writes counters `0, 1, 2, ...` (synced puts, unsynced puts, synced
//! batches), printing `ack N` after each write returns. The parent kills it
//! with `SIGKILL` after 20-200 ms, reopens the database and checks that the
//! counters form a prefix `0..=m` with every acknowledged one present and
//! nothing beyond the one write that may have been in flight; batches are
//! all there or all absent. The next cycle continues in the same directory.
//!
//! `RILLKV_CRASH_CYCLES` sets the number of cycles (default 20). Works under
//! `cargo test` and `cargo nextest` (the child is started with libtest
//! arguments, which both understand).

use std::io::Write;
use std::time::Duration;

use rillkv::{Db, Options, WriteBatch, WriteOptions};

use crate::support::{assert_pairs_eq, child_command, collect, env_num, run_then_kill, seed, show};

const ENV_DIR: &str = "RILLKV_KILL_CHILD_DIR";
/// Entries in each batch besides the counter key.
const BATCH_EXTRA: usize = 3;

/// Small enough to rotate the memtable and WAL now and then, large enough
/// that reads do not walk hundreds of memtables (there is no flush yet).
fn opts() -> Options {
    Options::default().memtable_size(32 << 10)
}

fn counter_key(n: u64) -> Vec<u8> {
    format!("c/{n:010}").into_bytes()
}

fn counter_value(n: u64) -> Vec<u8> {
    format!("value of {n} {}", "x".repeat((n % 97) as usize)).into_bytes()
}

fn batch_key(n: u64, j: usize) -> Vec<u8> {
    format!("b/{n:010}/{j}").into_bytes()
}

/// Counter `n` is written as a batch (counter key plus extra keys).
fn is_batch(n: u64) -> bool {
    n % 4 == 3
}

/// Counter `n` is written without sync (it must survive a process kill all
/// the same: its bytes are in the page cache).
fn is_unsynced(n: u64) -> bool {
    n % 4 == 1
}

/// The next counter to write: one past the largest present.
fn next_counter(db: &Db) -> u64 {
    match db.prefix(b"c/").next_back() {
        None => 0,
        Some(r) => {
            let (k, _) = r.expect("scan counters");
            let s = std::str::from_utf8(&k[2..]).expect("utf8 counter");
            s.parse::<u64>().expect("numeric counter") + 1
        }
    }
}

/// The child: writes counters until killed. Does nothing unless started by
/// the parent test with `RILLKV_KILL_CHILD_DIR` set.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let db = Db::open(&dir, opts()).expect("child: open");
    let mut out = std::io::stdout().lock();
    let mut n = next_counter(&db);
    // One write(2) per line, so the parent never sees a partial number. The
    // leading newline ends libtest's unterminated "test child_writer ... ".
    out.write_all(format!("\nstart {n}\n").as_bytes())
        .expect("stdout");
    out.flush().expect("stdout");
    loop {
        let mut batch = WriteBatch::new();
        batch.put(counter_key(n), counter_value(n));
        if is_batch(n) {
            for j in 0..BATCH_EXTRA {
                batch.put(batch_key(n, j), counter_value(n));
            }
        }
        let wo = WriteOptions::default().sync(!is_unsynced(n));
        db.write_opt(batch, &wo).expect("child: write");
        out.write_all(format!("ack {n}\n").as_bytes())
            .expect("stdout");
        out.flush().expect("stdout");
        n += 1;
    }
}

/// What one child reported before it died.
#[derive(Debug, Default)]
struct Report {
    start: Option<u64>,
    last_ack: Option<u64>,
    acks: u64,
}

/// Runs one child for a random 20-200 ms, kills it, returns what it said.
fn run_child(dir: &std::path::Path, rng: &mut fastrand::Rng) -> Report {
    let mut cmd = child_command(module_path!(), "child_writer");
    cmd.env(ENV_DIR, dir);
    let lines = run_then_kill(cmd, Duration::from_millis(rng.u64(20..=200)));
    let mut report = Report::default();
    // Only whole lines count; libtest's own lines are ignored.
    for l in &lines {
        if let Some(n) = l.strip_prefix("ack ").and_then(|s| s.parse().ok()) {
            assert!(
                report.last_ack.is_none_or(|p| p + 1 == n),
                "child acks out of order: {:?} then {n}",
                report.last_ack
            );
            report.last_ack = Some(n);
            report.acks += 1;
        } else if let Some(n) = l.strip_prefix("start ").and_then(|s| s.parse().ok()) {
            report.start = Some(n);
        }
    }
    report
}

/// Checks the recovered database; returns the largest counter present
/// (`None` when empty).
fn verify(db: &Db, report: &Report, prev_max: Option<u64>, cycle: u64) -> Option<u64> {
    let pairs = collect(db.prefix(b"c/"));
    for (i, (k, v)) in pairs.iter().enumerate() {
        let i = i as u64;
        assert_eq!(
            *k,
            counter_key(i),
            "cycle {cycle}: counters are not a prefix: hole before {}",
            show(k)
        );
        assert_eq!(
            *v,
            counter_value(i),
            "cycle {cycle}: wrong value for counter {i}"
        );
    }
    let max = (pairs.len() as u64).checked_sub(1);
    // Batch entries: exactly those of the recovered batch counters.
    let want_batch: Vec<(Vec<u8>, Vec<u8>)> = (0..pairs.len() as u64)
        .filter(|&i| is_batch(i))
        .flat_map(|i| (0..BATCH_EXTRA).map(move |j| (batch_key(i, j), counter_value(i))))
        .collect();
    assert_pairs_eq(
        &collect(db.prefix(b"b/")),
        &want_batch,
        &format!("cycle {cycle}: batch entries (torn or stray batch)"),
    );

    match report.start {
        None => assert_eq!(
            max, prev_max,
            "cycle {cycle}: the child never reached its first write, yet the state changed"
        ),
        Some(start) => {
            assert_eq!(
                Some(start),
                Some(prev_max.map_or(0, |m| m + 1)),
                "cycle {cycle}: child started from the wrong counter"
            );
            // Every acknowledged counter is there; at most the one write in
            // flight when the kill came is there on top.
            let acked = report.last_ack.or(start.checked_sub(1));
            let in_flight = report.last_ack.map_or(start, |a| a + 1);
            assert!(
                max >= acked,
                "cycle {cycle}: acknowledged write lost: last ack {acked:?}, recovered up to {max:?}"
            );
            assert!(
                max.is_none_or(|m| m <= in_flight),
                "cycle {cycle}: recovered {max:?} but the child never attempted past {in_flight}"
            );
        }
    }
    max
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let cycles = env_num("RILLKV_CRASH_CYCLES", 20);
    let seed = seed("kill_loop");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut max = None;
    let mut total_acks = 0;
    for cycle in 0..cycles {
        let report = run_child(dir.path(), &mut rng);
        total_acks += report.acks;
        let db = Db::open(dir.path(), opts()).expect("parent: reopen after kill");
        max = verify(&db, &report, max, cycle);
        db.close().expect("parent: close");
    }
    println!(
        "kill_loop: {cycles} cycles, {total_acks} acknowledged writes, {} counters recovered",
        max.map_or(0, |m| m + 1)
    );
    assert!(
        total_acks > 0,
        "no child got to acknowledge a single write in {cycles} cycles"
    );
}
