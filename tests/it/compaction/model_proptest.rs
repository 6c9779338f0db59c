//! With compaction in play — background jobs racing the test's own
//! operations, manual `compact` and `compact_range`, multi-round merges —
//! the database behaves like a `BTreeMap` under random puts, deletes,
//! `U64Add` merges, batches, snapshots, flushes, reopens, power losses
//! and reads (gets, scans forward, backward and from both ends, ranges,
//! iterators held across a compaction), and compactions that hit a failed
//! fsync or append.
//!
//! Runs on `FaultFs` with a 4 KiB memtable, 64 KiB output tables, fan-in
//! 2 to 4 in 8 MiB and one or two merge workers, and aggressive triggers
//! (`min_merge_width` 2, `max_merge_files` 3) so that the background
//! compactor is busy most of the time. A power loss freezes the disk, closes
//! the handle and crashes the filesystem; the reopened database must hold
//! the state after some prefix of the acknowledged writes that includes
//! every synced one (the last synced write, flush or compaction). Snapshots
//! keep reading the model frozen when they were taken. After each case the
//! database is reopened without background compaction and checked: the
//! model, well-formed runs, and exactly the tables the version lists.
//!
//! 32 cases by default; `PROPTEST_CASES` overrides.

use std::ops::Bound;
use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use rillkv::fs::{CrashMode, FaultFs};
use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Compression, Db, Options, Snapshot, WriteBatch, WriteOptions};

use crate::support::{
    Model, Pairs, add, assert_no_orphan_tables, assert_pairs_eq, assert_runs_well_formed,
    assert_view_matches, bounds_empty, collect, collect_rev, collect_zigzag, env_num, key, le,
    model_range, pairs, power_loss, read_all, value, wait_for_compactions,
};

const DIR: &str = "/db";
/// Keys holding byte strings: puts and deletes.
const KEYS: u16 = 200;
/// Keys holding u64 counters: puts of 8-byte values, deletes, merges.
const COUNTERS: u16 = 16;

fn counter(i: u16) -> Vec<u8> {
    format!("c{i:02}").into_bytes()
}

/// Every key a bound may name: counters, then keys, plus keys before,
/// between and after them.
fn bound_key(i: u16) -> Vec<u8> {
    match i {
        0 => b"a".to_vec(),
        i if i <= COUNTERS => counter(i - 1),
        i if i == COUNTERS + 1 => b"d".to_vec(),
        i if i <= COUNTERS + 1 + KEYS => key(u64::from(i - COUNTERS - 2)),
        _ => b"z".to_vec(),
    }
}

const BOUND_KEYS: u16 = COUNTERS + KEYS + 3;

#[derive(Debug, Clone)]
enum Write {
    Put { key: u16, len: u16 },
    Delete { key: u16 },
    CounterPut { counter: u16, v: u64 },
    CounterDelete { counter: u16 },
    Merge { counter: u16, delta: u64 },
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        w: Write,
        sync: bool,
    },
    /// `count` puts of `len`-byte values to consecutive keys from `start`,
    /// in one batch: enough bytes that compactions cut several output
    /// tables and split their final round into key-range sub-jobs.
    Bulk {
        start: u16,
        count: u16,
        len: u16,
    },
    Batch {
        writes: Vec<Write>,
        sync: bool,
    },
    Get {
        key: u16,
    },
    Snapshot,
    DropSnapshot {
        idx: usize,
    },
    CheckSnapshots,
    Flush,
    Compact,
    CompactRange {
        lo: u16,
        hi: Option<u16>,
    },
    WaitForBackground,
    /// Flushes, then fails the `nth` fsync (or append) from there while
    /// `compact` runs (or a background job, whichever reaches it), then
    /// reopens: nothing may be lost, and the reopen must succeed.
    FaultyCompact {
        sync: bool,
        nth: u64,
    },
    Reopen,
    Crash {
        keep_prefix: bool,
        seed: u64,
    },
    Scan {
        how: u8,
    },
    Range {
        lo: Bound<u16>,
        hi: Bound<u16>,
        reverse: bool,
    },
    IterAcrossCompaction {
        take: usize,
        reverse: bool,
        range: bool,
    },
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        10 => (0..KEYS, 0u16..600).prop_map(|(key, len)| Write::Put { key, len }),
        3 => (0..KEYS).prop_map(|key| Write::Delete { key }),
        1 => (0..COUNTERS, 0u64..1000).prop_map(|(counter, v)| Write::CounterPut { counter, v }),
        1 => (0..COUNTERS).prop_map(|counter| Write::CounterDelete { counter }),
        6 => (0..COUNTERS, 1u64..100).prop_map(|(counter, delta)| Write::Merge { counter, delta }),
    ]
}

fn bound() -> impl Strategy<Value = Bound<u16>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0..BOUND_KEYS).prop_map(Bound::Included),
        (0..BOUND_KEYS).prop_map(Bound::Excluded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (write(), prop::bool::weighted(0.05)).prop_map(|(w, sync)| Op::Write { w, sync }),
        6 => (prop::collection::vec(write(), 1..30), prop::bool::weighted(0.2))
            .prop_map(|(writes, sync)| Op::Batch { writes, sync }),
        2 => (0..KEYS, 20..KEYS, 200u16..1500)
            .prop_map(|(start, count, len)| Op::Bulk { start, count, len }),
        3 => (0..KEYS + COUNTERS).prop_map(|key| Op::Get { key }),
        2 => Just(Op::Snapshot),
        1 => any::<usize>().prop_map(|idx| Op::DropSnapshot { idx }),
        1 => Just(Op::CheckSnapshots),
        3 => Just(Op::Flush),
        2 => Just(Op::Compact),
        2 => (0..BOUND_KEYS, prop::option::weighted(0.8, 0..BOUND_KEYS))
            .prop_map(|(lo, hi)| Op::CompactRange { lo, hi }),
        1 => Just(Op::WaitForBackground),
        1 => (any::<bool>(), 1u64..40).prop_map(|(sync, nth)| Op::FaultyCompact { sync, nth }),
        1 => Just(Op::Reopen),
        1 => (any::<bool>(), any::<u64>()).prop_map(|(keep_prefix, seed)| Op::Crash { keep_prefix, seed }),
        2 => (0u8..3).prop_map(|how| Op::Scan { how }),
        2 => (bound(), bound(), any::<bool>()).prop_map(|(lo, hi, reverse)| Op::Range { lo, hi, reverse }),
        1 => (0usize..60, any::<bool>(), any::<bool>())
            .prop_map(|(take, reverse, range)| Op::IterAcrossCompaction { take, reverse, range }),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Config {
    fan_in: usize,
    workers: usize,
    zstd: bool,
}

fn config() -> impl Strategy<Value = Config> {
    (2usize..=4, 1usize..=2, any::<bool>()).prop_map(|(fan_in, workers, zstd)| Config {
        fan_in,
        workers,
        zstd,
    })
}

fn options(fs: &FaultFs, c: Config, background: bool) -> Options {
    Options::default()
        .fs(fs.clone())
        .memtable_size(4096)
        .block_size(1024)
        .merge_operator(U64Add)
        .compression(if c.zstd {
            Compression::Zstd { level: 1 }
        } else {
            Compression::None
        })
        .compaction(
            CompactionOptions::default()
                .background(background)
                .min_merge_width(2)
                .max_merge_files(3)
                .max_fan_in(c.fan_in)
                .max_memory(8 << 20)
                .merge_workers(c.workers)
                .target_table_size(64 << 10),
        )
}

/// The latest state, plus what a power loss may leave: the state as of
/// the last durable point and the state after each write group
/// acknowledged since.
#[derive(Default)]
struct Tracker {
    model: Model,
    durable: Model,
    since: Vec<Model>,
    counter: u64,
}

impl Tracker {
    /// Applies `w` to the model and adds it to `batch`.
    fn stage(&mut self, batch: &mut WriteBatch, w: &Write) {
        let model = &mut self.model;
        match *w {
            Write::Put { key: k, len } => {
                self.counter += 1;
                let v = value(self.counter, usize::from(len));
                batch.put(key(u64::from(k)), &v);
                model.insert(key(u64::from(k)), v);
            }
            Write::Delete { key: k } => {
                batch.delete(key(u64::from(k)));
                model.remove(&key(u64::from(k)));
            }
            Write::CounterPut { counter: c, v } => {
                batch.put(counter(c), le(v));
                model.insert(counter(c), le(v));
            }
            Write::CounterDelete { counter: c } => {
                batch.delete(counter(c));
                model.remove(&counter(c));
            }
            Write::Merge { counter: c, delta } => {
                batch.merge(counter(c), le(delta));
                let v = add(model.get(&counter(c)), delta);
                model.insert(counter(c), v);
            }
        }
    }

    /// Writes `writes` as one batch (one commit, all or nothing).
    fn write(&mut self, db: &Db, writes: &[Write], sync: bool) {
        let mut batch = WriteBatch::new();
        for w in writes {
            self.stage(&mut batch, w);
        }
        db.write_opt(batch, &WriteOptions::default().sync(sync))
            .expect("write");
        if sync {
            self.mark_durable();
        } else {
            self.since.push(self.model.clone());
        }
    }

    /// Everything acknowledged so far survives a power loss.
    fn mark_durable(&mut self) {
        self.durable = self.model.clone();
        self.since.clear();
    }

    /// After a power loss: `got` must be the durable state or a later
    /// acknowledged one; it becomes the model.
    fn recovered(&mut self, got: Model, ctx: &str) {
        let candidates = std::iter::once(&self.durable).chain(self.since.iter());
        let Some(which) = candidates.clone().position(|m| *m == got) else {
            let lost: Vec<_> = self
                .durable
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(*v))
                .take(3)
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .collect();
            panic!(
                "{ctx}: recovered {} keys, matching neither the durable state ({} keys; \
                 first keys missing or changed: {lost:?}) nor any of the {} states \
                 acknowledged after it",
                got.len(),
                self.durable.len(),
                self.since.len()
            );
        };
        let _ = which;
        self.model = got;
        self.mark_durable();
    }
}

fn user_bound(b: &Bound<u16>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(bound_key(*k)),
        Bound::Excluded(k) => Bound::Excluded(bound_key(*k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn probes() -> Vec<Vec<u8>> {
    vec![
        b"a".to_vec(),
        b"c".to_vec(),
        b"d".to_vec(),
        counter(COUNTERS),
        key(u64::from(KEYS)),
        b"z".to_vec(),
    ]
}

/// A snapshot against the model frozen when it was taken: a `get` of
/// every seventh key and every counter (present or not) besides every
/// model key, and the scans.
fn check_snapshot(snap: &Snapshot, model: &Model, ctx: &str) {
    let probes: Vec<Vec<u8>> = (0..u64::from(KEYS))
        .step_by(7)
        .map(key)
        .chain((0..COUNTERS).map(counter))
        .collect();
    assert_view_matches(snap, model, &probes, &format!("{ctx}: snapshot"));
}

/// Freezes the disk, drops every handle, loses power and reopens.
fn power_loss_and_reopen(fs: &FaultFs, db: Db, mode: CrashMode, c: Config) -> Db {
    // `close`, not `drop`: a background thread may hold the last handle
    // for a moment, and would then finish (and delete files) after the
    // crash. `close` joins the threads; it fails on the frozen disk.
    power_loss(fs, db, mode);
    Db::open(DIR, options(fs, c, true)).expect("reopen after a power loss")
}

fn run(c: Config, ops: &[Op]) {
    let fs = FaultFs::new();
    let mut db = Db::open(DIR, options(&fs, c, true)).expect("open");
    let mut t = Tracker::default();
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();

    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step} {op:?}");
        match op {
            Op::Write { w, sync } => t.write(&db, std::slice::from_ref(w), *sync),
            Op::Batch { writes, sync } => t.write(&db, writes, *sync),
            Op::Bulk { start, count, len } => {
                let writes: Vec<Write> = (0..*count)
                    .map(|i| Write::Put {
                        key: (start + i) % KEYS,
                        len: *len,
                    })
                    .collect();
                t.write(&db, &writes, false);
            }
            Op::Get { key: k } => {
                let k = if *k < KEYS {
                    key(u64::from(*k))
                } else {
                    counter(*k - KEYS)
                };
                assert_eq!(
                    db.get(&k).expect("get").map(|v| v.to_vec()),
                    t.model.get(&k).cloned(),
                    "{ctx}"
                );
            }
            Op::Snapshot => snaps.push((db.snapshot(), t.model.clone())),
            Op::DropSnapshot { idx } => {
                if !snaps.is_empty() {
                    let i = idx % snaps.len();
                    snaps.swap_remove(i);
                }
            }
            Op::CheckSnapshots => {
                for (i, (s, m)) in snaps.iter().enumerate() {
                    check_snapshot(s, m, &format!("{ctx} #{i}"));
                }
            }
            Op::Flush => {
                db.flush().expect("flush");
                t.mark_durable();
            }
            Op::Compact => {
                db.compact().expect("compact");
                t.mark_durable();
                let s = db.stats();
                assert!(
                    s.runs.len() <= 1,
                    "{ctx}: {} runs after compact",
                    s.runs.len()
                );
            }
            Op::CompactRange { lo, hi } => {
                let lo = bound_key(*lo);
                match hi {
                    Some(hi) => {
                        let hi = bound_key(*hi);
                        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                        db.compact_range(a..=b).expect("compact_range");
                    }
                    None => db.compact_range(lo..).expect("compact_range"),
                }
                t.mark_durable();
            }
            Op::WaitForBackground => {
                // Not asserted: with 2 s the tree normally settles, but a
                // slow machine may not; the point is to let jobs finish.
                wait_for_compactions(&db, Duration::from_secs(2));
            }
            Op::FaultyCompact { sync, nth } => {
                db.flush().expect("flush");
                t.mark_durable();
                if *sync {
                    fs.fail_nth_sync(*nth);
                } else {
                    fs.fail_nth_write(*nth);
                }
                let result = db.compact();
                fs.clear_faults();
                assert_view_matches(
                    &db,
                    &t.model,
                    &probes(),
                    &format!("{ctx}: after compact returned {result:?}"),
                );
                // A failed manifest write poisons writes: reopen.
                snaps.clear();
                let _ = db.close();
                db = Db::open(DIR, options(&fs, c, true))
                    .unwrap_or_else(|e| panic!("{ctx}: reopen after {result:?}: {e}"));
                assert_pairs_eq(&collect(db.iter()), &pairs(&t.model), &ctx);
            }
            Op::Reopen => {
                snaps.clear();
                db.close().expect("close");
                db = Db::open(DIR, options(&fs, c, true)).expect("reopen");
                t.mark_durable();
            }
            Op::Crash { keep_prefix, seed } => {
                snaps.clear();
                let mode = if *keep_prefix {
                    CrashMode::KeepPrefix { seed: *seed }
                } else {
                    CrashMode::DropUnsynced
                };
                db = power_loss_and_reopen(&fs, db, mode, c);
                t.recovered(read_all(&db), &ctx);
            }
            Op::Scan { how } => {
                let want = pairs(&t.model);
                let got = match how {
                    0 => collect(db.iter()),
                    1 => {
                        let mut got = collect_rev(db.iter());
                        got.reverse();
                        got
                    }
                    _ => collect_zigzag(db.iter(), step as u64),
                };
                assert_pairs_eq(&got, &want, &ctx);
            }
            Op::Range { lo, hi, reverse } => {
                let (lo, hi) = (user_bound(lo), user_bound(hi));
                let want = model_range(&t.model, &lo, &hi);
                if bounds_empty(&lo, &hi) {
                    continue; // an inverted range is the caller's mistake
                }
                let it = db.range((lo, hi));
                let got = if *reverse {
                    let mut got = collect_rev(it);
                    got.reverse();
                    got
                } else {
                    collect(it)
                };
                assert_pairs_eq(&got, &want, &ctx);
            }
            Op::IterAcrossCompaction {
                take,
                reverse,
                range,
            } => {
                let (lo, hi) = if *range {
                    (Bound::Included(key(20)), Bound::Excluded(key(150)))
                } else {
                    (Bound::Unbounded, Bound::Unbounded)
                };
                let want = model_range(&t.model, &lo, &hi);
                let mut it = db.range((lo, hi));
                let mut got: Pairs = Vec::new();
                for _ in 0..*take {
                    let item = if *reverse { it.next_back() } else { it.next() };
                    let Some(item) = item else { break };
                    let (k, v) = item.expect("iterator error");
                    got.push((k.to_vec(), v.to_vec()));
                }
                // Change the keys it has yet to reach, then compact.
                t.write(
                    &db,
                    &[
                        Write::Delete { key: 100 },
                        Write::Put { key: 30, len: 50 },
                        Write::Merge {
                            counter: 0,
                            delta: 1,
                        },
                    ],
                    false,
                );
                db.compact().expect("compact under an iterator");
                t.mark_durable();
                loop {
                    let item = if *reverse { it.next_back() } else { it.next() };
                    let Some(item) = item else { break };
                    let (k, v) = item.expect("iterator error after compaction");
                    got.push((k.to_vec(), v.to_vec()));
                }
                if *reverse {
                    got.reverse();
                }
                assert_pairs_eq(&got, &want, &ctx);
            }
        }
    }
    for (i, (s, m)) in snaps.iter().enumerate() {
        check_snapshot(s, m, &format!("end, snapshot #{i}"));
    }
    snaps.clear();
    assert_view_matches(&db, &t.model, &probes(), "end");
    db.close().expect("close");

    // Reopen with the compactor off: nothing changes the directory now.
    let db = Db::open(DIR, options(&fs, c, false)).expect("final reopen");
    db.flush().expect("flush");
    assert_view_matches(&db, &t.model, &probes(), "after the final reopen");
    let stats = db.stats();
    assert_runs_well_formed(&stats, "after the final reopen");
    assert_no_orphan_tables(&db, &fs, Path::new(DIR), "after the final reopen");
    db.close().expect("close");
}

proptest! {
    // No regression files: the crate's tree is shared; a failing case
    // prints its minimal input.
    #![proptest_config(ProptestConfig {
        cases: env_num("PROPTEST_CASES", 32) as u32,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    })]

    #[test]
    fn compaction_model(c in config(), ops in prop::collection::vec(op(), 1..150)) {
        run(c, &ops);
    }
}
