//! `SIGKILL` while flushes and compactions run constantly loses no
//! acknowledged synced put, merge or batch, and counters built from merge
//! operands recover exactly.
//!
//! The test re-executes its own binary as a child running only
//! [`child_writer`]. The child opens the database on the real filesystem
//! (a tiny memtable, a merge policy that merges as soon as two runs exist,
//! 64 KiB tables) and performs operations `start, start + 1, ...`, every one
//! synced, printing `ack <i> <kind> <key> <value>` once operation `i`
//! returns. The kind of operation `i` is fixed by `i`:
//!
//! * `put`: one put of `p/<i>`;
//! * `merge`: `+1` (`U64Add`, little-endian u64) on one of a few counters
//!   `n/<c>`;
//! * `batch`: puts of `b/<i>/<j>` for a few `j` and `+1` on a counter, in
//!   one atomic batch.
//!
//! Every key except the counters is written by exactly one operation, so the
//! database after operations `0..m` is a function of `m` alone. The parent
//! kills the child with `SIGKILL` after a random 30-300 ms, reopens the
//! database and finds the one `m` that explains it: every acknowledged
//! operation is in, plus possibly the single operation in flight (written
//! but not yet acknowledged; the child is single-threaded, so there is at
//! most one). Each counter therefore lies in `[acked, acked + in_flight]`
//! with `in_flight` 1 only for the counter the in-flight operation touches,
//! and 0 otherwise. A full scan then must equal the state after `0..m`
//! exactly: a prefix of the trace, nothing torn, no value never written.
//! The next child continues from operation `m` (passed through the
//! environment) in the same directory.
//!
//! `RILLKV_CRASH_CYCLES` sets the number of cycles (default 50; 1000 for a
//! long run). Works under `cargo test` and `cargo nextest` (the child is
//! started with libtest arguments, which both understand).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, Options, WriteBatch, WriteOptions};

use crate::support::{child_command, env_num, le, run_then_kill, seed, show, table_count, u64_of};

const ENV_DIR: &str = "RILLKV_CRASH_CHILD_DIR";
const ENV_START: &str = "RILLKV_CRASH_CHILD_START";
/// Number of counter keys the merges spread over.
const COUNTERS: u64 = 4;
/// Puts in each batch besides its merge.
const BATCH_PUTS: u64 = 3;

/// Flush every few dozen operations and merge runs as soon as two exist, so
/// that the kill lands in flushes and compactions often.
fn opts() -> Options {
    Options::default()
        .memtable_size(16 << 10)
        .merge_operator(U64Add)
        .compaction(
            CompactionOptions::default()
                .min_merge_width(2)
                .max_merge_files(3)
                .target_table_size(64 << 10),
        )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Merge,
    Batch,
}

impl Kind {
    fn of(i: u64) -> Kind {
        match i % 4 {
            1 => Kind::Merge,
            3 => Kind::Batch,
            _ => Kind::Put,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Put => "put",
            Kind::Merge => "merge",
            Kind::Batch => "batch",
        }
    }
}

/// The counter operation `i` increments, if any.
fn counter_of(i: u64) -> Option<u64> {
    match Kind::of(i) {
        Kind::Put => None,
        Kind::Merge | Kind::Batch => Some((i / 2) % COUNTERS),
    }
}

fn counter_key(c: u64) -> Vec<u8> {
    format!("n/{c}").into_bytes()
}

fn put_key(i: u64) -> Vec<u8> {
    format!("p/{i:010}").into_bytes()
}

fn batch_key(i: u64, j: u64) -> Vec<u8> {
    format!("b/{i:010}/{j}").into_bytes()
}

/// A value naming its operation (no spaces, so an ack line splits cleanly),
/// of varying length so tables fill at different rates.
fn value(i: u64, j: u64) -> Vec<u8> {
    let mut v = format!("v{i}.{j}.").into_bytes();
    v.resize(
        v.len() + ((i * 7 + j * 13) % 200) as usize,
        b'a' + (i % 26) as u8,
    );
    v
}

/// The batch performing operation `i`.
fn op_batch(i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    match Kind::of(i) {
        Kind::Put => {
            b.put(put_key(i), value(i, 0));
        }
        Kind::Merge => {
            let c = counter_of(i).expect("a merge has a counter");
            b.merge(counter_key(c), le(1));
        }
        Kind::Batch => {
            for j in 0..BATCH_PUTS {
                b.put(batch_key(i, j), value(i, j));
            }
            let c = counter_of(i).expect("a batch has a counter");
            b.merge(counter_key(c), le(1));
        }
    }
    b
}

/// The ack line of operation `i`.
fn ack_line(i: u64) -> String {
    let kind = Kind::of(i);
    let (key, val) = match kind {
        Kind::Put => (put_key(i), value(i, 0)),
        Kind::Merge => (counter_key(counter_of(i).expect("counter")), b"+1".to_vec()),
        Kind::Batch => (
            batch_key(i, 0),
            format!(
                "{}x{BATCH_PUTS}+{}:+1",
                show(&value(i, 0)),
                show(&counter_key(counter_of(i).expect("counter")))
            )
            .into_bytes(),
        ),
    };
    format!("ack {i} {} {} {}\n", kind.name(), show(&key), show(&val))
}

/// The child: performs operations from `RILLKV_CRASH_CHILD_START` on until
/// killed. Does nothing unless started by the parent test.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let start: u64 = std::env::var(ENV_START)
        .expect("child: start index")
        .parse()
        .expect("child: numeric start index");
    let db = Db::open(&dir, opts()).expect("child: open");
    let mut out = std::io::stdout().lock();
    // One write(2) per line, so the parent never sees half a line it takes
    // for whole. The leading newline ends libtest's unterminated
    // "test child_writer ... ".
    out.write_all(format!("\nstart {start}\n").as_bytes())
        .expect("stdout");
    out.flush().expect("stdout");
    let synced = WriteOptions::default().sync(true);
    for i in start.. {
        db.write_opt(op_batch(i), &synced).expect("child: write");
        out.write_all(ack_line(i).as_bytes()).expect("stdout");
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

/// Runs one child from operation `start` for a random 30-300 ms, kills it,
/// returns what it said.
fn run_child(dir: &Path, start: u64, rng: &mut fastrand::Rng) -> Report {
    let mut cmd = child_command(module_path!(), "child_writer");
    cmd.env(ENV_DIR, dir).env(ENV_START, start.to_string());
    let lines = run_then_kill(cmd, Duration::from_millis(rng.u64(30..=300)));
    let mut report = Report::default();
    // Only whole lines count; libtest's own lines are ignored.
    for l in &lines {
        if let Some(rest) = l.strip_prefix("ack ") {
            let i: u64 = rest
                .split(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("ack line with an index");
            let first = report.last_ack.map_or(report.start, |p| Some(p + 1));
            assert_eq!(Some(i), first, "child acks out of order");
            assert_eq!(
                format!("{l}\n"),
                ack_line(i),
                "child acknowledged something else than operation {i}"
            );
            report.last_ack = Some(i);
            report.acks += 1;
        } else if let Some(n) = l.strip_prefix("start ").and_then(|s| s.parse().ok()) {
            report.start = Some(n);
        }
    }
    report
}

/// The counters after a prefix `0..len` of the trace, kept incrementally.
#[derive(Debug, Clone, Default)]
struct Trace {
    len: u64,
    counters: [u64; COUNTERS as usize],
}

impl Trace {
    fn advance_to(&mut self, len: u64) {
        for i in self.len..len {
            if let Some(c) = counter_of(i) {
                self.counters[c as usize] += 1;
            }
        }
        self.len = len.max(self.len);
    }

    /// Every pair the database holds after operations `0..len`, in key
    /// order: batch puts (`b/`), counters (`n/`), then puts (`p/`).
    fn pairs(&self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
        let len = self.len;
        let batches = (0..len)
            .filter(|&i| Kind::of(i) == Kind::Batch)
            .flat_map(|i| (0..BATCH_PUTS).map(move |j| (batch_key(i, j), value(i, j))));
        let counters = (0..COUNTERS)
            .filter(|&c| self.counters[c as usize] > 0)
            .map(|c| (counter_key(c), le(self.counters[c as usize])));
        let puts = (0..len)
            .filter(|&i| Kind::of(i) == Kind::Put)
            .map(|i| (put_key(i), value(i, 0)));
        batches.chain(counters).chain(puts)
    }
}

/// Whether operation `i` (of the trace extended to `i`, `before`) is in the
/// database; checks the counters against `[acked, acked + in_flight]`.
fn in_flight_landed(db: &Db, before: &Trace, i: u64, cycle: u64) -> bool {
    let get = |k: &[u8]| db.get(k).expect("get").map(|v| v.to_vec());
    for c in 0..COUNTERS {
        let acked = before.counters[c as usize];
        let in_flight = u64::from(counter_of(i) == Some(c));
        let got = get(&counter_key(c)).map_or(0, |v| u64_of(&v));
        assert!(
            (acked..=acked + in_flight).contains(&got),
            "cycle {cycle}: counter {c} is {got}, but {acked} increments were \
             acknowledged and {in_flight} more may have been in flight \
             (operation {i}, a {})",
            Kind::of(i).name()
        );
    }
    match Kind::of(i) {
        Kind::Put => get(&put_key(i)).is_some(),
        Kind::Batch => get(&batch_key(i, 0)).is_some(),
        Kind::Merge => {
            let c = counter_of(i).expect("counter");
            let got = get(&counter_key(c)).map_or(0, |v| u64_of(&v));
            got > before.counters[c as usize]
        }
    }
}

/// Checks that a full scan is exactly the state after `trace`.
fn assert_state(db: &Db, trace: &Trace, cycle: u64) {
    let mut want = trace.pairs();
    let mut n = 0u64;
    for r in db.iter() {
        let (k, v) = r.expect("scan");
        let w = want.next();
        let ok = w
            .as_ref()
            .is_some_and(|(wk, wv)| wk[..] == k[..] && wv[..] == v[..]);
        assert!(
            ok,
            "cycle {cycle}: after the first {} operations, pair #{n} is {} = {:?}, want {:?}",
            trace.len,
            show(&k),
            show(&v),
            w.map(|(wk, wv)| (show(&wk), show(&wv)))
        );
        n += 1;
    }
    if let Some((wk, wv)) = want.next() {
        panic!(
            "cycle {cycle}: after the first {} operations, the scan ends after {n} pairs; \
             missing {} = {:?}",
            trace.len,
            show(&wk),
            show(&wv)
        );
    }
}

/// Reopens after a kill, finds the prefix the database holds, checks it and
/// returns the trace of that prefix.
fn verify(db: &Db, report: &Report, prev: &Trace, cycle: u64) -> Trace {
    let Some(start) = report.start else {
        // Killed before its first write: nothing may have changed.
        assert_state(db, prev, cycle);
        return prev.clone();
    };
    assert_eq!(start, prev.len, "cycle {cycle}: child started elsewhere");
    let in_flight = report.last_ack.map_or(start, |a| a + 1);
    let mut trace = prev.clone();
    trace.advance_to(in_flight);
    if in_flight_landed(db, &trace, in_flight, cycle) {
        trace.advance_to(in_flight + 1);
    }
    assert_state(db, &trace, cycle);
    trace
}

#[test]
fn sigkill_during_merges_and_compaction_loses_no_acknowledged_write() {
    let began = Instant::now();
    let cycles = env_num("RILLKV_CRASH_CYCLES", 50);
    let seed = seed("kill_loop_merges_compaction");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut trace = Trace::default();
    let mut total_acks = 0;
    let mut landed = 0;
    for cycle in 0..cycles {
        let report = run_child(dir.path(), trace.len, &mut rng);
        total_acks += report.acks;
        let db = Db::open(dir.path(), opts()).expect("parent: reopen after kill");
        let next = verify(&db, &report, &trace, cycle);
        if let Some(start) = report.start
            && next.len > report.last_ack.map_or(start, |a| a + 1)
        {
            landed += 1;
        }
        trace = next;
        db.close().expect("parent: close");
    }

    let db = Db::open(dir.path(), opts()).expect("parent: final reopen");
    assert_state(&db, &trace, cycles);
    let report = db.verify().expect("verify");
    assert!(report.is_ok(), "final database damaged: {report}");
    let stats = db.stats();
    let tables = table_count(&stats);
    db.close().expect("parent: close");
    println!(
        "kill_loop_merges_compaction: {cycles} cycles, {total_acks} acknowledged ops, \
         {} ops recovered ({landed} unacknowledged in-flight ops landed), \
         counters {:?}, {} runs / {tables} tables after the last reopen, {:.1?}",
        trace.len,
        trace.counters,
        stats.runs.len(),
        began.elapsed()
    );
    assert!(
        total_acks > 0,
        "no child got to acknowledge a single operation in {cycles} cycles"
    );
}
