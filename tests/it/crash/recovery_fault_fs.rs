//! Power loss at every point of a workload recovers a prefix of the
//! acknowledged writes: every acknowledged synced write is there, nothing
//! after a hole, never part of a batch, never a value that was not written.
//!
//! For each crash point `n` the workload runs on a fresh `FaultFs` whose
//! disk freezes after `n` mutating operations (every later append, fsync,
//! create... fails), the database handle is dropped, and `crash(mode)`
//! produces the image a reboot would see, for every `CrashMode` and a few
//! seeds. The image is reopened and compared with the model states after
//! each prefix of the operations. Then a few synced writes go on top and a
//! second crash checks that the recovered database recovers again.
//!
//! Knobs: `RILLKV_CRASH_OPS` (workload length, default 100),
//! `RILLKV_CRASH_SEEDS` (seeds per partial-keep mode, default 2),
//! `RILLKV_SEED` (workload seed), `RILLKV_CRASH_ONCE=1` (skip the second
//! crash, to look at first recoveries alone).

use std::path::Path;

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{Db, ErrorKind, Options, WriteBatch, WriteOptions};

use crate::support::{Model, env_num, power_loss, read_all, seed, show};

const DIR: &str = "/db";
/// Keys of one batch group: a batch writes all of them or none.
const GROUP_WIDTH: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        sync: bool,
    },
    Delete {
        key: Vec<u8>,
        sync: bool,
    },
    /// Writes every key of group `group` with `value`, or deletes them all.
    Batch {
        group: u8,
        value: Option<Vec<u8>>,
        sync: bool,
    },
}

impl Op {
    fn sync(&self) -> bool {
        match self {
            Op::Put { sync, .. } | Op::Delete { sync, .. } | Op::Batch { sync, .. } => *sync,
        }
    }

    fn apply(&self, model: &mut Model) {
        match self {
            Op::Put { key, value, .. } => {
                model.insert(key.clone(), value.clone());
            }
            Op::Delete { key, .. } => {
                model.remove(key);
            }
            Op::Batch { group, value, .. } => {
                for key in group_keys(*group) {
                    match value {
                        Some(v) => model.insert(key, v.clone()),
                        None => model.remove(&key),
                    };
                }
            }
        }
    }

    fn run(&self, db: &Db) -> rillkv::Result<()> {
        let wo = WriteOptions::default().sync(self.sync());
        let mut batch = WriteBatch::new();
        match self {
            Op::Put { key, value, .. } => {
                batch.put(key, value);
            }
            Op::Delete { key, .. } => {
                batch.delete(key);
            }
            Op::Batch { group, value, .. } => {
                for key in group_keys(*group) {
                    match value {
                        Some(v) => batch.put(&key, v),
                        None => batch.delete(&key),
                    };
                }
            }
        }
        db.write_opt(batch, &wo)
    }
}

fn group_keys(group: u8) -> Vec<Vec<u8>> {
    (0..GROUP_WIDTH)
        .map(|i| format!("g{group}/{i}").into_bytes())
        .collect()
}

/// Values name the operation that wrote them, padded so that the workload
/// rotates the 4 KiB memtable (and its WAL) several times.
fn value(op: usize, rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut v = format!("op{op};").into_bytes();
    v.extend(std::iter::repeat_n(b'.', rng.usize(20..160)));
    v
}

fn workload(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len)
        .map(|i| {
            let sync = rng.u8(0..4) == 0;
            match rng.u8(0..10) {
                0..=4 => Op::Put {
                    key: format!("s{:02}", rng.u8(0..24)).into_bytes(),
                    value: value(i, &mut rng),
                    sync,
                },
                5 => Op::Delete {
                    key: format!("s{:02}", rng.u8(0..24)).into_bytes(),
                    sync,
                },
                6 if rng.bool() => Op::Batch {
                    group: rng.u8(0..6),
                    value: None,
                    sync,
                },
                _ => Op::Batch {
                    group: rng.u8(0..6),
                    value: Some(value(i, &mut rng)),
                    sync,
                },
            }
        })
        .collect()
}

fn opts(fs: &FaultFs) -> Options {
    Options::default().memtable_size(4096).fs(fs.clone())
}

/// What the workload got to before the disk froze.
#[derive(Debug)]
struct Outcome {
    /// Operations acknowledged (a prefix of the workload).
    acked: usize,
    /// Operations up to and including the last acknowledged synced one.
    durable: usize,
    /// Whether the first failed operation may have reached the log (an
    /// `Io` error leaves its outcome unknown).
    maybe_one_more: bool,
}

/// Runs `ops` on `fs` until the first failure, then drops the handle while
/// the disk is frozen, as a power loss would leave it.
fn run_until_failure(fs: &FaultFs, ops: &[Op]) -> Outcome {
    let mut out = Outcome {
        acked: 0,
        durable: 0,
        maybe_one_more: false,
    };
    let db = match Db::open(DIR, opts(fs)) {
        Ok(db) => db,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Io, "open on a frozen disk: {e}");
            return out;
        }
    };
    for op in ops {
        match op.run(&db) {
            Ok(()) => {
                out.acked += 1;
                if op.sync() {
                    out.durable = out.acked;
                }
            }
            // `Io`: this write failed on the frozen disk and may have
            // reached the log. `Poisoned`: background work (a flush)
            // failed first, and this write was refused before the log.
            Err(e) => {
                match e.kind() {
                    ErrorKind::Io => out.maybe_one_more = true,
                    ErrorKind::Poisoned => {}
                    _ => panic!("first failure must be Io or Poisoned: {e}"),
                }
                break;
            }
        }
    }
    // Shut the handle down on the frozen disk: its close fails, and no
    // background work of this instance outlives it.
    fs.fail_after_ops(0);
    let _ = db.close();
    out
}

/// Reopens after a crash and returns the recovered state.
fn recover(fs: &FaultFs, ctx: &str) -> (Db, Model) {
    let db = Db::open(DIR, opts(fs)).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    let state = read_all(&db);
    (db, state)
}

/// Explains why `state` matches no allowed model state.
fn diagnose(state: &Model, states: &[Model], ops: &[Op], out: &Outcome) -> String {
    let mut written: std::collections::BTreeMap<Vec<u8>, Vec<Vec<u8>>> = Default::default();
    for s in states {
        for (k, v) in s {
            written.entry(k.clone()).or_default().push(v.clone());
        }
    }
    let mut msg = format!("{out:?}\n");
    for (k, v) in state {
        if !written.get(k).is_some_and(|vs| vs.contains(v)) {
            msg += &format!("  value never written: {} = {}\n", show(k), show(v));
        }
    }
    let lo = out.durable;
    let hi = (out.acked + usize::from(out.maybe_one_more)).min(ops.len());
    for (j, want) in states.iter().enumerate().take(hi + 1).skip(lo) {
        let missing: Vec<_> = want
            .keys()
            .filter(|k| !state.contains_key(*k))
            .map(|k| show(k))
            .collect();
        let extra: Vec<_> = state
            .keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| show(k))
            .collect();
        let differ: Vec<_> = want
            .iter()
            .filter(|(k, v)| state.get(*k).is_some_and(|s| s != *v))
            .map(|(k, _)| show(k))
            .collect();
        msg += &format!(
            "  vs state after {j} ops: missing {missing:?}, extra {extra:?}, differ {differ:?}\n"
        );
    }
    msg
}

fn check(state: &Model, states: &[Model], ops: &[Op], out: &Outcome, ctx: &str) -> usize {
    let lo = out.durable;
    let hi = (out.acked + usize::from(out.maybe_one_more)).min(ops.len());
    // Search from the newest allowed state: recovery keeps what it can.
    (lo..=hi)
        .rev()
        .find(|&j| states[j] == *state)
        .unwrap_or_else(|| {
            panic!(
                "{ctx}: recovered state is not the state after any allowed prefix \
                 ({lo}..={hi} ops):\n{}",
                diagnose(state, states, ops, out)
            )
        })
}

fn modes(seeds: u64) -> Vec<CrashMode> {
    let mut m = vec![CrashMode::DropUnsynced, CrashMode::KeepAll];
    for s in 1..=seeds {
        m.push(CrashMode::KeepPrefix { seed: s });
        m.push(CrashMode::KeepPrefixThenZeros { seed: s * 7919 });
        m.push(CrashMode::KeepPrefixThenGarbage { seed: s * 104_729 });
        m.push(CrashMode::KeepSubset {
            seed: s * 15_485_863,
        });
    }
    m
}

#[test]
fn crash_at_every_point_recovers_a_prefix_of_acknowledged_writes() {
    let seed = seed("crash_recovery_fault_fs");
    let len = env_num("RILLKV_CRASH_OPS", 100) as usize;
    let ops = workload(seed, len);
    let mut states = vec![Model::new()];
    for op in &ops {
        let mut next = states.last().cloned().unwrap_or_default();
        op.apply(&mut next);
        states.push(next);
    }

    // How many mutating operations the whole workload takes.
    let total_ops = {
        let fs = FaultFs::new();
        let db = Db::open(DIR, opts(&fs)).expect("open");
        for op in &ops {
            op.run(&db).expect("unfaulted run");
        }
        let stats = db.stats();
        assert!(
            stats.counters.wal_bytes > 4 * 4096,
            "the workload should fill several memtables: {stats:?}"
        );
        db.close().expect("close");
        fs.op_count()
    };

    let modes = modes(env_num("RILLKV_CRASH_SEEDS", 2));
    let once = env_num("RILLKV_CRASH_ONCE", 0) == 1;
    let mut images = 0u64;
    let mut recovered_with_tail = 0u64;
    for n in 0..=total_ops {
        for &mode in &modes {
            let ctx = format!("seed {seed}, crash after {n} ops, {mode:?}");
            let fs = FaultFs::new();
            fs.fail_after_ops(n);
            let out = run_until_failure(&fs, &ops);
            fs.crash(mode);
            let (db, state) = recover(&fs, &ctx);
            images += 1;
            if !db.stats().dropped_log_tails.is_empty() {
                recovered_with_tail += 1;
            }
            let j = check(&state, &states, &ops, &out, &ctx);
            if once {
                db.close().expect("close");
                continue;
            }

            // Synced writes on top of a recovered database survive a second
            // power loss, along with everything recovered the first time.
            let mut want = states[j].clone();
            for i in 0..3 {
                let (k, v) = (
                    format!("after{i}").into_bytes(),
                    format!("second life {i}").into_bytes(),
                );
                db.write_opt(
                    {
                        let mut b = WriteBatch::new();
                        b.put(&k, &v);
                        b
                    },
                    &WriteOptions::default().sync(true),
                )
                .unwrap_or_else(|e| panic!("{ctx}: write after recovery: {e}"));
                want.insert(k, v);
            }
            power_loss(&fs, db, mode);
            let (db, again) = recover(&fs, &format!("{ctx}, second crash"));
            images += 1;
            assert!(
                again == want,
                "{ctx}: second crash lost or invented data:\n{}",
                diagnose(
                    &again,
                    &[want.clone()],
                    &ops,
                    &Outcome {
                        acked: 0,
                        durable: 0,
                        maybe_one_more: false
                    }
                )
            );
            db.close().expect("close");
        }
    }
    assert!(Path::new(DIR).is_absolute());
    assert!(
        recovered_with_tail > 0,
        "some crash images should hold a damaged tail"
    );
    println!(
        "crash_recovery_fault_fs: {images} crash images checked ({} crash points x {} modes x {} crashes, \
         {recovered_with_tail} recovered by dropping a damaged tail)",
        total_ops + 1,
        modes.len(),
        if once { 1 } else { 2 }
    );
}
