//! The database behaves like a `BTreeMap` under random sequences of puts,
//! deletes, batches, snapshots, reopens, power losses and scans (forward,
//! backward, ranges, prefixes), on `FaultFs` with a 4 KiB memtable so that
//! memtables and WALs rotate often.
//!
//! Snapshots keep reading the model frozen when they were taken. A power
//! loss (`CrashMode` at random) recovers one of the model states between
//! the last synced write and the last write: the model then continues from
//! it.
//!
//! 64 cases by default; `PROPTEST_CASES` overrides.

use std::ops::Bound;

use proptest::prelude::*;
use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{Db, Options, Snapshot, WriteBatch, WriteOptions};

use crate::support::{
    Model, assert_prefix_matches, assert_range_matches, assert_view_matches, collect, power_loss,
    read_all, show,
};

const DIR: &str = "/db";
const KEYS: u8 = 40;

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: u8,
        len: u16,
        sync: bool,
    },
    Delete {
        key: u8,
        sync: bool,
    },
    /// Entries with `None` are deletes.
    Batch {
        entries: Vec<(u8, Option<u16>)>,
        sync: bool,
    },
    Get {
        key: u8,
    },
    Snapshot,
    /// Drops the snapshot at this index (modulo the number alive).
    DropSnapshot {
        idx: usize,
    },
    Reopen,
    PowerLoss {
        mode: u8,
        seed: u64,
    },
    Scan,
    Range {
        lo: Bound<u8>,
        hi: Bound<u8>,
    },
    Prefix {
        key: u8,
        len: usize,
    },
}

/// Keys of two families, so that prefixes and ranges cut across them.
fn family_key(k: u8) -> Vec<u8> {
    if k.is_multiple_of(5) {
        format!("a{k:02}").into_bytes()
    } else {
        format!("k{k:02}").into_bytes()
    }
}

fn value(op: usize, len: u16) -> Vec<u8> {
    let mut v = format!("op{op}/").into_bytes();
    v.resize(v.len() + len as usize, b'0' + (op % 10) as u8);
    v
}

fn bound() -> impl Strategy<Value = Bound<u8>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0..KEYS).prop_map(Bound::Included),
        (0..KEYS).prop_map(Bound::Excluded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let len = 0u16..400;
    prop_oneof![
        30 => (0..KEYS, len.clone(), any::<bool>()).prop_map(|(key, len, s)| Op::Put { key, len, sync: s && len.is_multiple_of(4) }),
        8 => (0..KEYS, any::<bool>()).prop_map(|(key, s)| Op::Delete { key, sync: s }),
        10 => (prop::collection::vec((0..KEYS, prop::option::weighted(0.8, len)), 1..8), any::<bool>())
            .prop_map(|(entries, sync)| Op::Batch { entries, sync }),
        5 => (0..KEYS).prop_map(|key| Op::Get { key }),
        4 => Just(Op::Snapshot),
        2 => any::<usize>().prop_map(|idx| Op::DropSnapshot { idx }),
        2 => Just(Op::Reopen),
        2 => (0u8..6, any::<u64>()).prop_map(|(mode, seed)| Op::PowerLoss { mode, seed }),
        3 => Just(Op::Scan),
        4 => (bound(), bound()).prop_map(|(lo, hi)| Op::Range { lo, hi }),
        3 => (0..KEYS, 0usize..4).prop_map(|(key, len)| Op::Prefix { key, len }),
    ]
}

fn crash_mode(mode: u8, seed: u64) -> CrashMode {
    match mode {
        0 => CrashMode::DropUnsynced,
        1 => CrashMode::KeepPrefix { seed },
        2 => CrashMode::KeepPrefixThenZeros { seed },
        3 => CrashMode::KeepPrefixThenGarbage { seed },
        4 => CrashMode::KeepSubset { seed },
        _ => CrashMode::KeepAll,
    }
}

fn byte_bound(b: &Bound<u8>) -> Bound<Vec<u8>> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(k) => Bound::Included(family_key(*k)),
        Bound::Excluded(k) => Bound::Excluded(family_key(*k)),
    }
}

struct Harness {
    fs: FaultFs,
    db: Option<Db>,
    model: Model,
    /// Model states since the last point where everything was durable;
    /// `history[durable..]` are the states a power loss may recover.
    history: Vec<Model>,
    durable: usize,
    snapshots: Vec<(Snapshot, Model)>,
    probes: Vec<Vec<u8>>,
}

impl Harness {
    fn new() -> Self {
        let fs = FaultFs::new();
        let db = Db::open(DIR, Self::opts(&fs)).expect("open");
        Harness {
            fs,
            db: Some(db),
            model: Model::new(),
            history: vec![Model::new()],
            durable: 0,
            snapshots: Vec::new(),
            probes: (0..KEYS)
                .map(family_key)
                .chain([b"".to_vec(), b"zzz".to_vec()])
                .collect(),
        }
    }

    fn opts(fs: &FaultFs) -> Options {
        Options::default().memtable_size(4096).fs(fs.clone())
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("db open")
    }

    fn write(&mut self, batch: WriteBatch, sync: bool, apply: impl FnOnce(&mut Model)) {
        self.db()
            .write_opt(batch, &WriteOptions::default().sync(sync))
            .expect("write");
        apply(&mut self.model);
        self.history.push(self.model.clone());
        if sync {
            self.durable = self.history.len() - 1;
        }
    }

    fn check_snapshots(&self, ctx: &str) {
        for (i, (snap, frozen)) in self.snapshots.iter().enumerate() {
            assert_view_matches(snap, frozen, &self.probes, &format!("{ctx}: snapshot {i}"));
        }
    }

    /// Everything is durable and the history starts over (after a clean
    /// reopen or a recovery).
    fn reset_history(&mut self) {
        self.history = vec![self.model.clone()];
        self.durable = 0;
    }

    fn apply(&mut self, i: usize, op: &Op) {
        let ctx = format!("op {i} {op:?}");
        match op {
            Op::Put { key: k, len, sync } => {
                let (k, v) = (family_key(*k), value(i, *len));
                let mut b = WriteBatch::new();
                b.put(&k, &v);
                self.write(b, *sync, |m| {
                    m.insert(k.clone(), v.clone());
                });
                assert_eq!(
                    self.db().get(&k).expect("get").as_deref(),
                    Some(&v[..]),
                    "{ctx}"
                );
            }
            Op::Delete { key: k, sync } => {
                let k = family_key(*k);
                let mut b = WriteBatch::new();
                b.delete(&k);
                self.write(b, *sync, |m| {
                    m.remove(&k);
                });
                assert!(self.db().get(&k).expect("get").is_none(), "{ctx}");
            }
            Op::Batch { entries, sync } => {
                let mut b = WriteBatch::new();
                let staged: Vec<(Vec<u8>, Option<Vec<u8>>)> = entries
                    .iter()
                    .map(|(k, len)| (family_key(*k), len.map(|l| value(i, l))))
                    .collect();
                for (k, v) in &staged {
                    match v {
                        Some(v) => b.put(k, v),
                        None => b.delete(k),
                    };
                }
                self.write(b, *sync, |m| {
                    for (k, v) in staged {
                        match v {
                            Some(v) => m.insert(k, v),
                            None => m.remove(&k),
                        };
                    }
                });
            }
            Op::Get { key: k } => {
                let k = family_key(*k);
                assert_eq!(
                    self.db().get(&k).expect("get").map(|v| v.to_vec()),
                    self.model.get(&k).cloned(),
                    "{ctx}"
                );
            }
            Op::Snapshot => {
                let snap = self.db().snapshot();
                self.snapshots.push((snap, self.model.clone()));
            }
            Op::DropSnapshot { idx } => {
                if !self.snapshots.is_empty() {
                    let (snap, frozen) = self.snapshots.remove(idx % self.snapshots.len());
                    assert_view_matches(&snap, &frozen, &self.probes, &ctx);
                }
            }
            Op::Reopen => {
                self.check_snapshots(&ctx);
                self.snapshots.clear();
                self.db.take().expect("db").close().expect("close");
                self.db = Some(Db::open(DIR, Self::opts(&self.fs)).expect("reopen"));
                self.reset_history();
                assert_view_matches(
                    self.db(),
                    &self.model,
                    &self.probes,
                    &format!("{ctx}: after reopen"),
                );
            }
            Op::PowerLoss { mode, seed } => {
                self.check_snapshots(&ctx);
                self.snapshots.clear();
                let db = self.db.take().expect("db");
                power_loss(&self.fs, db, crash_mode(*mode, *seed));
                let db = Db::open(DIR, Self::opts(&self.fs))
                    .unwrap_or_else(|e| panic!("{ctx}: reopen after power loss: {e}"));
                let state = read_all(&db);
                let found = self.history[self.durable..]
                    .iter()
                    .rev()
                    .any(|m| *m == state);
                assert!(
                    found,
                    "{ctx}: recovered state is none of the {} states since the last synced write \
                     (last synced at history {} of {}): got {:?}",
                    self.history.len() - self.durable,
                    self.durable,
                    self.history.len(),
                    state.keys().map(|k| show(k)).collect::<Vec<_>>()
                );
                self.db = Some(db);
                self.model = state;
                self.reset_history();
                assert_view_matches(
                    self.db(),
                    &self.model,
                    &self.probes,
                    &format!("{ctx}: after recovery"),
                );
            }
            Op::Scan => {
                assert_view_matches(self.db(), &self.model, &self.probes, &ctx);
                self.check_snapshots(&ctx);
            }
            Op::Range { lo, hi } => {
                let (lo, hi) = (byte_bound(lo), byte_bound(hi));
                assert_range_matches(self.db(), &self.model, &lo, &hi, &ctx);
                if let Some((snap, frozen)) = self.snapshots.last() {
                    assert_range_matches(
                        snap,
                        frozen,
                        &lo,
                        &hi,
                        &format!("{ctx}: newest snapshot"),
                    );
                }
            }
            Op::Prefix { key: k, len } => {
                let full = family_key(*k);
                let p = &full[..(*len).min(full.len())];
                assert_prefix_matches(self.db(), &self.model, p, &ctx);
                if let Some((snap, frozen)) = self.snapshots.first() {
                    assert_prefix_matches(snap, frozen, p, &format!("{ctx}: oldest snapshot"));
                }
            }
        }
    }

    fn finish(mut self) {
        self.check_snapshots("end");
        assert_view_matches(self.db(), &self.model, &self.probes, "end");
        let stats = self.db().stats();
        assert_eq!(
            stats.live_snapshots,
            self.snapshots.len() as u64,
            "{stats:?}"
        );
        self.snapshots.clear();
        let db = self.db.take().expect("db");
        assert_eq!(collect(db.iter()).len(), self.model.len());
        db.close().expect("close");
        let db = Db::open(DIR, Self::opts(&self.fs)).expect("final reopen");
        assert_view_matches(&db, &self.model, &self.probes, "final reopen");
        db.close().expect("close");
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    // No regression files: a failure prints its minimal case to replay.
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn db_matches_btreemap_model(ops in prop::collection::vec(op(), 1..150)) {
        let mut h = Harness::new();
        for (i, op) in ops.iter().enumerate() {
            h.apply(i, op);
        }
        h.finish();
    }
}
