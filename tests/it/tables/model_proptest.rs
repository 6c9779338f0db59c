//! With tables in play — explicit and background flushes, compactions
//! (explicit, of a key range, or in the background), compressed or plain
//! blocks, with or without bloom filters — the database behaves like a
//! `BTreeMap` under random puts, deletes, batches, snapshots, flushes,
//! compactions, reopens and scans (forward, backward, ranges, prefixes, and
//! iterators that span a flush and a compaction).
//!
//! Runs on `FaultFs` with a 4 KiB memtable so that most data lives in many
//! small tables; values up to 700 bytes, half of them incompressible, so
//! that zstd tables mix compressed and stored blocks. Snapshots keep
//! reading the model frozen when they were taken. After each case (without
//! background compaction) and a reopen, the directory holds exactly the
//! tables the version lists.
//!
//! 48 cases by default; `PROPTEST_CASES` overrides.

use std::ops::Bound;
use std::path::Path;

use proptest::prelude::*;
use rillkv::fs::FaultFs;
use rillkv::{CompactionOptions, Compression, Db, Options, Snapshot, WriteBatch};

use crate::support::{
    Model, Pairs, assert_no_orphan_tables, assert_pairs_eq, assert_prefix_matches,
    assert_range_matches, assert_view_matches, bounds_empty, collect, collect_rev, model_range,
    pairs, value,
};

const DIR: &str = "/db";
const KEYS: u16 = 160;

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: u16,
        len: u16,
    },
    Delete {
        key: u16,
    },
    /// Entries with `None` are deletes.
    Batch {
        entries: Vec<(u16, Option<u16>)>,
    },
    Get {
        key: u16,
    },
    Snapshot,
    /// Drops the snapshot at this index (modulo the number alive).
    DropSnapshot {
        idx: usize,
    },
    Flush,
    Compact,
    CompactRange {
        lo: Bound<u16>,
        hi: Bound<u16>,
    },
    Reopen,
    Scan {
        reverse: bool,
    },
    Range {
        lo: Bound<u16>,
        hi: Bound<u16>,
    },
    Prefix {
        key: u16,
        len: usize,
    },
    /// Opens an iterator, takes `take` entries, flushes (after a write, so
    /// there is something to flush) and compacts, then drains it.
    IterAcrossFlush {
        take: usize,
        reverse: bool,
    },
    CheckSnapshots,
}

/// Keys of different lengths sharing prefixes: `k` + 3 digits + 0..3 `z`.
fn varlen_key(i: u16) -> Vec<u8> {
    let mut k = format!("k{i:03}").into_bytes();
    k.extend(std::iter::repeat_n(b'z', usize::from(i % 4)));
    k
}

fn bound() -> impl Strategy<Value = Bound<u16>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0..KEYS + 2).prop_map(Bound::Included),
        (0..KEYS + 2).prop_map(Bound::Excluded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (0..KEYS, 0u16..700).prop_map(|(key, len)| Op::Put { key, len }),
        6 => (0..KEYS).prop_map(|key| Op::Delete { key }),
        5 => prop::collection::vec((0..KEYS, prop::option::weighted(0.8, 0u16..400)), 1..24)
            .prop_map(|entries| Op::Batch { entries }),
        3 => (0..KEYS + 2).prop_map(|key| Op::Get { key }),
        2 => Just(Op::Snapshot),
        1 => any::<usize>().prop_map(|idx| Op::DropSnapshot { idx }),
        3 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => (bound(), bound()).prop_map(|(lo, hi)| Op::CompactRange { lo, hi }),
        1 => Just(Op::Reopen),
        2 => any::<bool>().prop_map(|reverse| Op::Scan { reverse }),
        2 => (bound(), bound()).prop_map(|(lo, hi)| Op::Range { lo, hi }),
        1 => (0..KEYS, 1usize..5).prop_map(|(key, len)| Op::Prefix { key, len }),
        1 => (0usize..40, any::<bool>()).prop_map(|(take, reverse)| Op::IterAcrossFlush { take, reverse }),
        1 => Just(Op::CheckSnapshots),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Config {
    zstd: bool,
    block_size: usize,
    bloom_bits: u32,
    background_compaction: bool,
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<bool>(),
        prop::sample::select(vec![1024usize, 2048, 4096]),
        prop::sample::select(vec![0u32, 4, 10]),
        any::<bool>(),
    )
        .prop_map(
            |(zstd, block_size, bloom_bits, background_compaction)| Config {
                zstd,
                block_size,
                bloom_bits,
                background_compaction,
            },
        )
}

fn options(fs: &FaultFs, c: Config) -> Options {
    Options::default()
        .fs(fs.clone())
        .memtable_size(4096)
        .block_size(c.block_size)
        .bloom_bits_per_key(c.bloom_bits)
        .compression(if c.zstd {
            Compression::Zstd { level: 1 }
        } else {
            Compression::None
        })
        .compaction(CompactionOptions::default().background(c.background_compaction))
}

fn user_bound(b: &Bound<u16>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(varlen_key(*k)),
        Bound::Excluded(k) => Bound::Excluded(varlen_key(*k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn run(config: Config, ops: Vec<Op>) {
    let fs = FaultFs::new();
    let mut db = Db::open(DIR, options(&fs, config)).expect("open");
    let mut model = Model::new();
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    let mut counter = 0u64;
    let probes: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"k".to_vec(),
        varlen_key(KEYS),
        b"l".to_vec(),
    ];

    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step} {op:?}");
        match op {
            Op::Put { key: k, len } => {
                counter += 1;
                let v = value(counter, usize::from(*len));
                db.put(varlen_key(*k), &v).expect("put");
                model.insert(varlen_key(*k), v);
            }
            Op::Delete { key: k } => {
                db.delete(varlen_key(*k)).expect("delete");
                model.remove(&varlen_key(*k));
            }
            Op::Batch { entries } => {
                let mut b = WriteBatch::new();
                for (k, len) in entries {
                    match len {
                        Some(len) => {
                            counter += 1;
                            let v = value(counter, usize::from(*len));
                            b.put(varlen_key(*k), &v);
                            model.insert(varlen_key(*k), v);
                        }
                        None => {
                            b.delete(varlen_key(*k));
                            model.remove(&varlen_key(*k));
                        }
                    }
                }
                db.write(b).expect("batch");
            }
            Op::Get { key: k } => {
                assert_eq!(
                    db.get(varlen_key(*k)).expect("get").map(|v| v.to_vec()),
                    model.get(&varlen_key(*k)).cloned(),
                    "{ctx}"
                );
            }
            Op::Snapshot => snaps.push((db.snapshot(), model.clone())),
            Op::DropSnapshot { idx } => {
                if !snaps.is_empty() {
                    let i = idx % snaps.len();
                    snaps.swap_remove(i);
                }
            }
            Op::Flush => {
                db.flush().expect("flush");
                assert_eq!(
                    db.stats().sealed_memtables,
                    0,
                    "{ctx}: flush leaves no sealed memtable"
                );
            }
            Op::Compact => db.compact().expect("compact"),
            Op::CompactRange { lo, hi } => {
                let (lo, hi) = (user_bound(lo), user_bound(hi));
                if !bounds_empty(&lo, &hi) {
                    db.compact_range((lo, hi)).expect("compact_range");
                }
            }
            Op::Reopen => {
                // Snapshots end with the database.
                snaps.clear();
                db.close().expect("close");
                db = Db::open(DIR, options(&fs, config)).expect("reopen");
            }
            Op::Scan { reverse } => {
                let want = pairs(&model);
                if *reverse {
                    let mut got = collect_rev(db.iter());
                    got.reverse();
                    assert_pairs_eq(&got, &want, &ctx);
                } else {
                    assert_pairs_eq(&collect(db.iter()), &want, &ctx);
                }
            }
            Op::Range { lo, hi } => {
                assert_range_matches(&db, &model, &user_bound(lo), &user_bound(hi), &ctx);
            }
            Op::Prefix { key: k, len } => {
                let full = varlen_key(*k);
                let prefix = &full[..(*len).min(full.len())];
                assert_prefix_matches(&db, &model, prefix, &ctx);
            }
            Op::IterAcrossFlush { take, reverse } => {
                let frozen = model.clone();
                let mut it = db.iter();
                let mut got: Pairs = if *reverse {
                    collect(it.by_ref().rev().take(*take))
                } else {
                    collect(it.by_ref().take(*take))
                };
                counter += 1;
                let v = value(counter, 10);
                db.put(varlen_key(0), &v).expect("put");
                model.insert(varlen_key(0), v);
                db.flush().expect("flush");
                db.compact().expect("compact");
                if *reverse {
                    got.extend(collect(it.by_ref().rev()));
                    got.reverse();
                } else {
                    got.extend(collect(it.by_ref()));
                }
                let want = model_range(&frozen, &Bound::Unbounded, &Bound::Unbounded);
                assert_pairs_eq(&got, &want, &ctx);
            }
            Op::CheckSnapshots => {
                for (i, (snap, m)) in snaps.iter().enumerate() {
                    assert_view_matches(snap, m, &probes, &format!("{ctx}: snapshot {i}"));
                }
            }
        }
    }

    for (i, (snap, m)) in snaps.iter().enumerate() {
        assert_view_matches(snap, m, &probes, &format!("end: snapshot {i}"));
    }
    assert_view_matches(&db, &model, &probes, "end");
    snaps.clear();
    db.close().expect("close");
    let db = Db::open(DIR, options(&fs, config)).expect("final reopen");
    assert_view_matches(&db, &model, &probes, "after final reopen");
    if !config.background_compaction {
        // The open deleted every file the manifest does not need; the
        // flush of the recovered memtable adds a listed table.
        db.flush().expect("final flush");
        assert_no_orphan_tables(&db, &fs, Path::new(DIR), "after final reopen");
    }
    db.compact().expect("final compact");
    assert_view_matches(&db, &model, &probes, "after final compaction");
    assert!(
        db.stats().runs.len() <= 1,
        "a full compaction leaves one run"
    );
    db.close().expect("close");
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
    fn model_with_flushes_matches_btreemap(config in config(), ops in prop::collection::vec(op(), 1..160)) {
        run(config, ops);
    }
}
