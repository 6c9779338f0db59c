//! After a clean close, reopening (real filesystem) yields exactly the state
//! the writes left: puts, overwrites, deletes and batches spread over many
//! memtable rotations, checked against a `BTreeMap` with point lookups,
//! forward and reverse scans, ranges and prefixes.
//!
//! `RILLKV_REOPEN_OPS` sets the operations per round (default 1500).

use std::collections::BTreeSet;
use std::ops::Bound;

use rillkv::{Db, Options, WriteBatch, WriteOptions};

use crate::support::{
    Model, assert_prefix_matches, assert_range_matches, assert_view_matches, env_num, seed,
};

const ROUNDS: usize = 3;

fn opts() -> Options {
    Options::default().memtable_size(4096)
}

fn random_key(rng: &mut fastrand::Rng) -> Vec<u8> {
    match rng.u8(0..10) {
        0..=3 => format!("user:{:03}", rng.u16(0..200)).into_bytes(),
        4..=6 => format!("item:{:03}", rng.u16(0..150)).into_bytes(),
        7 => format!("u{}", rng.u8(0..20)).into_bytes(),
        // Keys with 0x00 and 0xff bytes exercise prefix successors.
        8 => vec![0xff, 0xff, rng.u8(..)],
        _ => vec![b'b', 0x00, rng.u8(0..8)],
    }
}

fn random_value(rng: &mut fastrand::Rng, op: usize) -> Vec<u8> {
    let mut v = format!("op{op}:").into_bytes();
    let pad = rng.usize(0..180);
    v.extend(std::iter::repeat_n(b'a' + (op % 26) as u8, pad));
    v
}

fn random_bound(rng: &mut fastrand::Rng) -> Bound<Vec<u8>> {
    match rng.u8(0..3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(random_key(rng)),
        _ => Bound::Excluded(random_key(rng)),
    }
}

/// Runs `ops` random writes, updating `model`; records every key touched.
fn write_round(
    db: &Db,
    model: &mut Model,
    touched: &mut BTreeSet<Vec<u8>>,
    rng: &mut fastrand::Rng,
    first_op: usize,
    ops: usize,
) {
    for op in first_op..first_op + ops {
        let sync = rng.u8(0..20) == 0;
        let wo = WriteOptions::default().sync(sync);
        match rng.u8(0..20) {
            0..=10 => {
                let (k, v) = (random_key(rng), random_value(rng, op));
                db.put(&k, &v).expect("put");
                touched.insert(k.clone());
                model.insert(k, v);
            }
            11..=13 => {
                // Overwrite an existing key when there is one.
                let k = model
                    .keys()
                    .nth(rng.usize(0..model.len().max(1)))
                    .cloned()
                    .unwrap_or_else(|| random_key(rng));
                let v = random_value(rng, op);
                db.write_opt(
                    {
                        let mut b = WriteBatch::new();
                        b.put(&k, &v);
                        b
                    },
                    &wo,
                )
                .expect("overwrite");
                touched.insert(k.clone());
                model.insert(k, v);
            }
            14..=16 => {
                let k = if rng.bool() {
                    model
                        .keys()
                        .nth(rng.usize(0..model.len().max(1)))
                        .cloned()
                        .unwrap_or_else(|| random_key(rng))
                } else {
                    random_key(rng)
                };
                db.delete(&k).expect("delete");
                touched.insert(k.clone());
                model.remove(&k);
            }
            _ => {
                let mut batch = WriteBatch::new();
                let mut staged = Vec::new();
                for _ in 0..rng.usize(2..9) {
                    let k = random_key(rng);
                    if rng.u8(0..4) == 0 {
                        batch.delete(&k);
                        staged.push((k, None));
                    } else {
                        let v = random_value(rng, op);
                        batch.put(&k, &v);
                        staged.push((k, Some(v)));
                    }
                }
                db.write_opt(batch, &wo).expect("batch");
                // Later entries of a batch win over earlier ones.
                for (k, v) in staged {
                    touched.insert(k.clone());
                    match v {
                        Some(v) => model.insert(k, v),
                        None => model.remove(&k),
                    };
                }
            }
        }
    }
}

fn verify(db: &Db, model: &Model, touched: &BTreeSet<Vec<u8>>, rng: &mut fastrand::Rng, ctx: &str) {
    let probes: Vec<Vec<u8>> = touched
        .iter()
        .cloned()
        .chain([b"".to_vec(), b"absent".to_vec(), vec![0xff; 4]])
        .collect();
    assert_view_matches(db, model, &probes, ctx);
    for _ in 0..40 {
        let (lo, hi) = (random_bound(rng), random_bound(rng));
        assert_range_matches(db, model, &lo, &hi, ctx);
    }
    // A range that starts and ends on the same key, and an inverted one.
    let k = b"user:050".to_vec();
    assert_range_matches(
        db,
        model,
        &Bound::Included(k.clone()),
        &Bound::Included(k.clone()),
        ctx,
    );
    assert_range_matches(
        db,
        model,
        &Bound::Included(k.clone()),
        &Bound::Excluded(k),
        ctx,
    );
    for p in [
        &b"user:"[..],
        b"user:1",
        b"item:",
        b"u1",
        b"u",
        b"",
        b"\xff",
        b"\xff\xff",
        b"b\x00",
        b"nothing",
    ] {
        assert_prefix_matches(db, model, p, ctx);
    }
}

#[test]
fn reopen_after_clean_close_restores_every_write() {
    let seed = seed("reopen_after_clean_close");
    let mut rng = fastrand::Rng::with_seed(seed);
    let ops = env_num("RILLKV_REOPEN_OPS", 1500) as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = Model::new();
    let mut touched = BTreeSet::new();
    let mut bytes_written = 0;

    for round in 0..ROUNDS {
        let db = Db::open(dir.path(), opts()).expect("open");
        verify(
            &db,
            &model,
            &touched,
            &mut rng,
            &format!("round {round} after reopen"),
        );
        write_round(&db, &mut model, &mut touched, &mut rng, round * ops, ops);
        bytes_written += db.stats().counters.wal_bytes;
        verify(
            &db,
            &model,
            &touched,
            &mut rng,
            &format!("round {round} before close"),
        );
        db.close().expect("close");
    }
    // A self-check of the workload: it must fill many memtables.
    assert!(
        bytes_written > 20 * 4096,
        "the workload should fill many 4 KiB memtables ({bytes_written} bytes written)"
    );

    let db = Db::open(dir.path(), opts()).expect("final open");
    let stats = db.stats();
    assert!(
        stats.dropped_log_tails.is_empty(),
        "a clean close leaves no damaged tail: {stats:?}"
    );
    verify(&db, &model, &touched, &mut rng, "final reopen");
    db.close().expect("close");
}
