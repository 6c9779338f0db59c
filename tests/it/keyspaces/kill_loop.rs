//! `SIGKILL` at a random moment tears no batch across keyspaces and loses
//! no acknowledged write.
//!
//! The test re-executes its own binary as a child running only
//! [`child_writer`], which opens the database on the real filesystem with
//! two keyspaces, `records` and `index`, and performs operations `start,
//! start + 1, ...`, each one batch, printing `ack N` once operation `N`
//! returns. Operation `N` is fixed by `N` alone:
//!
//! * most create record `N`: `records: r/N = value`, and its index entry
//!   `index: i/<hash of value> = N`;
//! * every fifth rewrites an older record (about `N / 2`) with a new
//!   value: it deletes the old index entry, puts the new value and the new
//!   index entry;
//! * each batch also sets `last_op = N` in the default keyspace, so one
//!   batch writes three keyspaces and the recovered state names the
//!   operation it is the state after.
//!
//! Most operations are synced, every third one is not (a killed process
//! loses none of those either: their bytes are in the page cache). The
//! keyspaces get different memtable sizes and `max_total_wal_size` is at
//! its minimum, so memtables are sealed at different moments, WALs rotate
//! and flushes run while the child is killed.
//!
//! The parent kills the child after a random 20-200 ms, reopens the
//! database and checks: every index entry points to an existing record
//! whose value it was derived from, every record has its index entry (no
//! torn batch); the state is exactly the state after operations
//! `0..=last_op`, with `last_op` at least the last acknowledged operation
//! and at most the one in flight. The next child continues from `last_op +
//! 1` in the same directory.
//!
//! `RILLKV_CRASH_CYCLES` sets the number of cycles (default 20, as
//! `crash::kill_loop`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rillkv::{Db, Keyspace, KeyspaceOptions, Options, WriteBatch, WriteOptions};

use crate::support::{
    Model, assert_pairs_eq, child_command, collect, env_num, pairs, run_then_kill, seed, show,
};

const ENV_DIR: &str = "RILLKV_KS_KILL_CHILD_DIR";
/// The default keyspace's key naming the last operation applied.
const LAST_OP: &[u8] = b"last_op";

/// Records (about 230 bytes each in a memtable) fill their 16 KiB memtable
/// several times as fast as index entries (about 75 bytes) fill their
/// 32 KiB one, so the two keyspaces seal at different moments and an index
/// memtable spans several WALs; the WAL bound at its minimum (64 KiB)
/// seals the index keyspace when it pins the oldest WAL.
/// Both keyspaces' options are registered, so an open flushes their
/// recovered writes with them.
fn opts() -> Options {
    Options::default()
        .memtable_size(16 << 10)
        .max_total_wal_size(64 << 10)
        .keyspace("records", records_opts())
        .keyspace("index", index_opts())
}

fn records_opts() -> KeyspaceOptions {
    KeyspaceOptions::default().memtable_size(16 << 10)
}

fn index_opts() -> KeyspaceOptions {
    KeyspaceOptions::default().memtable_size(32 << 10)
}

fn open_keyspaces(db: &Db) -> (Keyspace, Keyspace) {
    let records = db
        .keyspace("records", records_opts())
        .expect("keyspace records");
    let index = db.keyspace("index", index_opts()).expect("keyspace index");
    (records, index)
}

/// Operation `n` rewrites an older record rather than creating one.
fn is_rewrite(n: u64) -> bool {
    n % 5 == 4
}

/// Operation `n` is written without sync.
fn is_unsynced(n: u64) -> bool {
    n % 3 == 1
}

fn record_key(r: u64) -> Vec<u8> {
    format!("r/{r:010}").into_bytes()
}

/// The value operation `n` gives record `r`: names both, padded to a length
/// that varies with them.
fn record_value(r: u64, n: u64) -> Vec<u8> {
    let mut v = format!("record {r} by op {n} ").into_bytes();
    v.resize(
        v.len() + ((r * 31 + n * 7) % 300) as usize,
        b'a' + (n % 26) as u8,
    );
    v
}

/// FNV-1a, 64 bits: the index entry's key is derived from the value.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn index_key(value: &[u8]) -> Vec<u8> {
    format!("i/{:016x}", fnv1a(value)).into_bytes()
}

fn index_value(r: u64) -> Vec<u8> {
    r.to_string().into_bytes()
}

/// What operation `n` does: the record it writes, with its new value and
/// the value it replaces (in the state after operations `0..n`).
struct Op {
    record: u64,
    value: Vec<u8>,
    old: Option<Vec<u8>>,
}

/// The records after operations `0..=last` (`None`: no operation), by
/// number.
fn replay(last: Option<u64>) -> BTreeMap<u64, Vec<u8>> {
    let mut records = BTreeMap::new();
    for n in last.map_or(0..0, |l| 0..l + 1) {
        let op = op(n, &records);
        records.insert(op.record, op.value);
    }
    records
}

/// Operation `n` on the records left by operations `0..n`.
fn op(n: u64, records: &BTreeMap<u64, Vec<u8>>) -> Op {
    // A rewrite picks the record of the last creating operation at or
    // below `n / 2` (a rewriting operation's number names no record).
    let record = if is_rewrite(n) {
        (0..=n / 2).rev().find(|&r| !is_rewrite(r)).unwrap_or(0)
    } else {
        n
    };
    let old = records.get(&record).cloned();
    assert_eq!(
        old.is_some(),
        is_rewrite(n),
        "operation {n} rewrites exactly the records that exist (record {record})"
    );
    Op {
        record,
        value: record_value(record, n),
        old,
    }
}

/// The batch performing `op` as operation `n`.
fn op_batch(n: u64, op: &Op, records: &Keyspace, index: &Keyspace) -> WriteBatch {
    let mut b = WriteBatch::new();
    if let Some(old) = &op.old {
        b.delete_in(index, index_key(old));
    }
    b.put_in(records, record_key(op.record), &op.value)
        .put_in(index, index_key(&op.value), index_value(op.record))
        .put(LAST_OP, n.to_string());
    b
}

/// The last operation applied to `db`, if any.
fn last_op(db: &Db) -> Option<u64> {
    let v = db.get(LAST_OP).expect("read last_op")?;
    let s = std::str::from_utf8(&v).expect("utf8 last_op");
    Some(s.parse().expect("numeric last_op"))
}

/// The child: performs operations until killed. Does nothing unless
/// started by the parent test with `RILLKV_KS_KILL_CHILD_DIR` set.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let db = Db::open(&dir, opts()).expect("child: open");
    let (records_ks, index_ks) = open_keyspaces(&db);
    let start = last_op(&db).map_or(0, |l| l + 1);
    let mut records = replay(start.checked_sub(1));
    let mut out = std::io::stdout().lock();
    // One write(2) per line, so the parent never sees a partial number. The
    // leading newline ends libtest's unterminated "test child_writer ... ".
    out.write_all(format!("\nstart {start}\n").as_bytes())
        .expect("stdout");
    out.flush().expect("stdout");
    for n in start.. {
        let op = op(n, &records);
        let batch = op_batch(n, &op, &records_ks, &index_ks);
        let wo = WriteOptions::default().sync(!is_unsynced(n));
        db.write_opt(batch, &wo).expect("child: write");
        records.insert(op.record, op.value);
        out.write_all(format!("ack {n}\n").as_bytes())
            .expect("stdout");
        out.flush().expect("stdout");
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
fn run_child(dir: &Path, rng: &mut fastrand::Rng) -> Report {
    let mut cmd = child_command(module_path!(), "child_writer");
    cmd.env(ENV_DIR, dir);
    let lines = run_then_kill(cmd, Duration::from_millis(rng.u64(20..=200)));
    let mut report = Report::default();
    // Only whole lines count; libtest's own lines are ignored.
    for l in &lines {
        if let Some(n) = l.strip_prefix("ack ").and_then(|s| s.parse().ok()) {
            let expected = report.last_ack.map_or(report.start, |p| Some(p + 1));
            assert_eq!(Some(n), expected, "child acks out of order");
            report.last_ack = Some(n);
            report.acks += 1;
        } else if let Some(n) = l.strip_prefix("start ").and_then(|s| s.parse().ok()) {
            report.start = Some(n);
        }
    }
    report
}

/// Checks that the two keyspaces agree: each index entry names an existing
/// record whose value hashes to the entry's key, and each record has its
/// entry. A batch torn between the keyspaces breaks one of the two.
fn assert_index_consistent(records: &Keyspace, index: &Keyspace, cycle: u64) {
    let recs: BTreeMap<Vec<u8>, Vec<u8>> = collect(records.iter()).into_iter().collect();
    let entries = collect(index.iter());
    for (k, v) in &entries {
        let r: u64 = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("cycle {cycle}: index entry {} = {}", show(k), show(v)));
        let Some(value) = recs.get(&record_key(r)) else {
            panic!(
                "cycle {cycle}: index entry {} points to record {r}, which is missing",
                show(k)
            );
        };
        assert_eq!(
            *k,
            index_key(value),
            "cycle {cycle}: index entry for record {r} does not match its value {}",
            show(value)
        );
    }
    assert_eq!(
        entries.len(),
        recs.len(),
        "cycle {cycle}: {} records but {} index entries (a record without its entry)",
        recs.len(),
        entries.len()
    );
}

/// Checks the recovered database against the report; returns the last
/// operation applied.
fn verify(db: &Db, report: &Report, prev_last: Option<u64>, cycle: u64) -> Option<u64> {
    let last = last_op(db);
    if report.start.is_some() {
        let names = db.keyspaces();
        assert!(
            names.iter().any(|n| n == "records") && names.iter().any(|n| n == "index"),
            "cycle {cycle}: keyspaces created before the child's first write are gone: {names:?}"
        );
    }
    let (records, index) = open_keyspaces(db);
    assert_index_consistent(&records, &index, cycle);

    match report.start {
        None => assert_eq!(
            last, prev_last,
            "cycle {cycle}: the child never reached its first write, yet the state changed"
        ),
        Some(start) => {
            assert_eq!(
                start,
                prev_last.map_or(0, |l| l + 1),
                "cycle {cycle}: child started from the wrong operation"
            );
            // Every acknowledged operation is there, synced or not (a kill
            // loses no page cache); on top, at most the one in flight.
            let acked = report.last_ack.or(start.checked_sub(1));
            let in_flight = report.last_ack.map_or(start, |a| a + 1);
            assert!(
                last >= acked,
                "cycle {cycle}: acknowledged operation lost: last ack {acked:?}, recovered up to \
                 {last:?}"
            );
            assert!(
                last.is_none_or(|l| l <= in_flight),
                "cycle {cycle}: recovered {last:?} but the child never attempted past {in_flight}"
            );
        }
    }

    // The whole state is the one after operations `0..=last`: a prefix of
    // the trace, nothing torn, no value never written.
    let want = replay(last);
    let want_records: Model = want
        .iter()
        .map(|(&r, v)| (record_key(r), v.clone()))
        .collect();
    let want_index: Model = want
        .iter()
        .map(|(&r, v)| (index_key(v), index_value(r)))
        .collect();
    assert_pairs_eq(
        &collect(records.iter()),
        &pairs(&want_records),
        &format!("cycle {cycle}: records after op {last:?}"),
    );
    assert_pairs_eq(
        &collect(index.iter()),
        &pairs(&want_index),
        &format!("cycle {cycle}: index after op {last:?}"),
    );
    last
}

#[test]
fn sigkill_tears_no_batch_across_keyspaces() {
    let cycles = env_num("RILLKV_CRASH_CYCLES", 20);
    let seed = seed("keyspaces::kill_loop");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut last = None;
    let mut total_acks = 0;
    let mut runs = 0;
    for cycle in 0..cycles {
        let report = run_child(dir.path(), &mut rng);
        total_acks += report.acks;
        let db = Db::open(dir.path(), opts()).expect("parent: reopen after kill");
        last = verify(&db, &report, last, cycle);
        let (records, index) = open_keyspaces(&db);
        runs = records.stats().runs.len() + index.stats().runs.len();
        db.close().expect("parent: close");
    }
    println!(
        "keyspaces::kill_loop: {cycles} cycles, {total_acks} acknowledged operations, {} \
         recovered, {runs} runs at the end",
        last.map_or(0, |l| l + 1)
    );
    assert!(
        total_acks > 0,
        "no child got to acknowledge a single operation in {cycles} cycles"
    );
}
