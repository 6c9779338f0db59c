//! With an order-sensitive merge operator (`Append` with a `,` delimiter),
//! the database behaves like a `BTreeMap` holding each key's resolved value
//! under random puts, deletes, merges, mixed batches, snapshots, flushes,
//! reopens, point reads and scans (forward, backward, ranges, both ends at
//! once).
//!
//! A 4 KiB memtable makes flushes (and so collapsing across snapshot
//! stripes) frequent; a random `merge_batch_size` in 1..5 makes every fold
//! run in several chunks; a random write-back threshold (0 = off) makes
//! reads write folded values back. Snapshots keep the model frozen when they
//! were taken and are checked again after later flushes.
//!
//! 48 cases by default; `PROPTEST_CASES` overrides.

use std::ops::Bound;

use proptest::prelude::*;
use rillkv::fs::FaultFs;
use rillkv::merge::Append;
use rillkv::{Db, Options, Snapshot, WriteBatch};

use crate::support::{
    Model, View, append, assert_view_matches, collect, collect_rev, collect_zigzag, key,
    model_range, pairs,
};

const DIR: &str = "/db";
const KEYS: u8 = 6;
const DELIM: &[u8] = b",";

#[derive(Debug, Clone, Copy)]
enum Write {
    Put(u16),
    Delete,
    Merge,
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: u8,
        len: u16,
    },
    Delete {
        key: u8,
    },
    Merge {
        key: u8,
    },
    Batch {
        entries: Vec<(u8, Write)>,
    },
    Get {
        key: u8,
    },
    Snapshot,
    DropSnapshot {
        idx: usize,
    },
    Flush,
    Compact,
    Reopen,
    Scan,
    Range {
        lo: Bound<u8>,
        hi: Bound<u8>,
        rev: bool,
    },
    Zigzag {
        seed: u64,
    },
}

/// A unique operand per write, so any reordering or loss shows.
fn operand(op: usize, sub: usize) -> Vec<u8> {
    format!("m{op}.{sub}").into_bytes()
}

/// Puts are padded so memtables fill up.
fn value(op: usize, sub: usize, len: u16) -> Vec<u8> {
    let mut v = format!("p{op}.{sub}/").into_bytes();
    v.resize(v.len() + len as usize, b'x');
    v
}

fn bound() -> impl Strategy<Value = Bound<u8>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0..KEYS).prop_map(Bound::Included),
        (0..KEYS).prop_map(Bound::Excluded),
    ]
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        2 => (0u16..300).prop_map(Write::Put),
        1 => Just(Write::Delete),
        5 => Just(Write::Merge),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..KEYS, 0u16..300).prop_map(|(key, len)| Op::Put { key, len }),
        4 => (0..KEYS).prop_map(|key| Op::Delete { key }),
        30 => (0..KEYS).prop_map(|key| Op::Merge { key }),
        10 => prop::collection::vec((0..KEYS, write()), 1..8).prop_map(|entries| Op::Batch { entries }),
        6 => (0..KEYS).prop_map(|key| Op::Get { key }),
        5 => Just(Op::Snapshot),
        2 => any::<usize>().prop_map(|idx| Op::DropSnapshot { idx }),
        4 => Just(Op::Flush),
        2 => Just(Op::Compact),
        2 => Just(Op::Reopen),
        3 => Just(Op::Scan),
        4 => (bound(), bound(), any::<bool>()).prop_map(|(lo, hi, rev)| Op::Range { lo, hi, rev }),
        2 => any::<u64>().prop_map(|seed| Op::Zigzag { seed }),
    ]
}

fn byte_bound(b: &Bound<u8>) -> Bound<Vec<u8>> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(k) => Bound::Included(key(u64::from(*k))),
        Bound::Excluded(k) => Bound::Excluded(key(u64::from(*k))),
    }
}

/// Every key read alone (and an absent one), then the whole view forward,
/// backward and from both ends.
fn assert_view(view: &impl View, model: &Model, ctx: &str) {
    let probes: Vec<Vec<u8>> = (0..u64::from(KEYS))
        .map(key)
        .chain([b"absent".to_vec()])
        .collect();
    assert_view_matches(view, model, &probes, ctx);
}

struct Harness {
    db: Option<Db>,
    opts: Options,
    model: Model,
    snapshots: Vec<(Snapshot, Model)>,
}

impl Harness {
    fn new(batch_size: usize, writeback: usize) -> Self {
        let fs = FaultFs::new();
        let opts = Options::default()
            .merge_operator(Append::new(DELIM))
            .memtable_size(4096)
            .merge_batch_size(batch_size)
            .merge_writeback_threshold(writeback)
            .fs(fs);
        let db = Db::open(DIR, opts.clone()).expect("open");
        Harness {
            db: Some(db),
            opts,
            model: Model::new(),
            snapshots: Vec::new(),
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("db open")
    }

    fn check_snapshots(&self, ctx: &str) {
        for (i, (snap, frozen)) in self.snapshots.iter().enumerate() {
            assert_view(snap, frozen, &format!("{ctx}: snapshot {i}"));
        }
    }

    fn apply_write(model: &mut Model, k: Vec<u8>, w: Write, op: usize, sub: usize) {
        match w {
            Write::Put(len) => {
                model.insert(k, value(op, sub, len));
            }
            Write::Delete => {
                model.remove(&k);
            }
            Write::Merge => {
                let v = append(DELIM, model.get(&k).map(Vec::as_slice), &operand(op, sub));
                model.insert(k, v);
            }
        }
    }

    fn apply(&mut self, i: usize, op: &Op) {
        let ctx = format!("op {i} {op:?}");
        match op {
            Op::Put { key: k, len } => {
                let (k, v) = (key(u64::from(*k)), value(i, 0, *len));
                self.db().put(&k, &v).expect("put");
                Self::apply_write(&mut self.model, k, Write::Put(*len), i, 0);
            }
            Op::Delete { key: k } => {
                self.db().delete(key(u64::from(*k))).expect("delete");
                Self::apply_write(&mut self.model, key(u64::from(*k)), Write::Delete, i, 0);
            }
            Op::Merge { key: k } => {
                self.db()
                    .merge(key(u64::from(*k)), operand(i, 0))
                    .expect("merge");
                Self::apply_write(&mut self.model, key(u64::from(*k)), Write::Merge, i, 0);
                let k = key(u64::from(*k));
                assert_eq!(self.db().get_vec(&k), self.model.get(&k).cloned(), "{ctx}");
            }
            Op::Batch { entries } => {
                let mut b = WriteBatch::new();
                for (sub, (k, w)) in entries.iter().enumerate() {
                    match w {
                        Write::Put(len) => b.put(key(u64::from(*k)), value(i, sub, *len)),
                        Write::Delete => b.delete(key(u64::from(*k))),
                        Write::Merge => b.merge(key(u64::from(*k)), operand(i, sub)),
                    };
                }
                self.db().write(b).expect("write batch");
                for (sub, (k, w)) in entries.iter().enumerate() {
                    Self::apply_write(&mut self.model, key(u64::from(*k)), *w, i, sub);
                }
            }
            Op::Get { key: k } => {
                let k = key(u64::from(*k));
                assert_eq!(self.db().get_vec(&k), self.model.get(&k).cloned(), "{ctx}");
            }
            Op::Snapshot => {
                let snap = self.db().snapshot();
                self.snapshots.push((snap, self.model.clone()));
            }
            Op::DropSnapshot { idx } => {
                if !self.snapshots.is_empty() {
                    let (snap, frozen) = self.snapshots.remove(idx % self.snapshots.len());
                    assert_view(&snap, &frozen, &ctx);
                }
            }
            Op::Flush => {
                self.db().flush().expect("flush");
                self.check_snapshots(&ctx);
            }
            Op::Compact => {
                self.db().compact().expect("compact");
                self.check_snapshots(&ctx);
                assert_view(self.db(), &self.model, &ctx);
            }
            Op::Reopen => {
                self.check_snapshots(&ctx);
                self.snapshots.clear();
                self.db.take().expect("db").close().expect("close");
                self.db = Some(Db::open(DIR, self.opts.clone()).expect("reopen"));
                assert_view(self.db(), &self.model, &format!("{ctx}: after reopen"));
            }
            Op::Scan => {
                assert_view(self.db(), &self.model, &ctx);
                self.check_snapshots(&ctx);
            }
            Op::Range { lo, hi, rev } => {
                let (lo, hi) = (byte_bound(lo), byte_bound(hi));
                let mut want = model_range(&self.model, &lo, &hi);
                let got = if *rev {
                    want.reverse();
                    collect_rev(self.db().range_iter(lo.clone(), hi.clone()))
                } else {
                    collect(self.db().range_iter(lo.clone(), hi.clone()))
                };
                assert_eq!(got, want, "{ctx}");
                if let Some((snap, frozen)) = self.snapshots.first() {
                    let mut want = model_range(frozen, &lo, &hi);
                    let got = if *rev {
                        want.reverse();
                        collect_rev(snap.range_iter(lo, hi))
                    } else {
                        collect(snap.range_iter(lo, hi))
                    };
                    assert_eq!(got, want, "{ctx}: oldest snapshot");
                }
            }
            Op::Zigzag { seed } => {
                assert_eq!(
                    collect_zigzag(self.db().iter(), *seed),
                    pairs(&self.model),
                    "{ctx}"
                );
                if let Some((snap, frozen)) = self.snapshots.last() {
                    assert_eq!(
                        collect_zigzag(snap.iter(), *seed),
                        pairs(frozen),
                        "{ctx}: newest snapshot"
                    );
                }
            }
        }
    }

    fn finish(mut self) {
        self.check_snapshots("end");
        assert_view(self.db(), &self.model, "end");
        self.db().flush().expect("final flush");
        self.check_snapshots("end, after flush");
        assert_view(self.db(), &self.model, "end, after flush");
        self.snapshots.clear();
        self.db.take().expect("db").close().expect("close");
        let db = Db::open(DIR, self.opts.clone()).expect("final reopen");
        assert_view(&db, &self.model, "final reopen");
        db.close().expect("close");
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn merges_match_a_model_of_resolved_values(
        batch_size in 1usize..5,
        writeback in prop_oneof![Just(0usize), Just(1), Just(3), Just(1000)],
        ops in prop::collection::vec(op(), 1..150),
    ) {
        let mut h = Harness::new(batch_size, writeback);
        for (i, op) in ops.iter().enumerate() {
            h.apply(i, op);
        }
        h.finish();
    }
}
