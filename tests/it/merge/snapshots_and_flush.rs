//! Flush (and compaction) collapse a key's merge operands without changing
//! what any reader sees:
//! - snapshots taken between merges keep reading exactly their view after
//!   flushes and compactions — operands are never merged across a
//!   snapshot's boundary — for a commutative (`U64Add`) and an
//!   order-sensitive (`Append`) operator;
//! - operands flushed with no base in their table are partially merged into
//!   one operand, which later resolves against the base in an older table
//!   to the same full value as applying the operands one by one.

use rillkv::merge::{Append, U64Add};
use rillkv::{CompactionOptions, Db, Options, Snapshot};

use crate::support::{
    Model, append, assert_view_matches, collect, collect_rev, le, pairs, u64_get, u64_of,
};

/// How a test drives one operator: the operand for step `i` and the model
/// of applying it.
struct Op {
    opts: fn() -> Options,
    operand: fn(u64) -> Vec<u8>,
    apply: fn(Option<&[u8]>, &[u8]) -> Vec<u8>,
}

fn add_op() -> Op {
    Op {
        opts: || Options::default().merge_operator(U64Add),
        operand: |i| le(i + 1),
        apply: |existing, op| {
            let base = existing.map_or(0, u64_of);
            le(base.wrapping_add(u64_of(op)))
        },
    }
}

fn append_op() -> Op {
    Op {
        opts: || Options::default().merge_operator(Append::new(",")),
        operand: |i| format!("{i}").into_bytes(),
        apply: |existing, op| append(b",", existing, op),
    }
}

/// The snapshot against the model frozen when it was taken: a `get` of
/// every key (present or not), and the scans.
fn assert_snapshot(snap: &Snapshot, frozen: &Model, ctx: &str) {
    let keys = [b"hot".to_vec(), b"warm".to_vec(), b"side".to_vec()];
    assert_view_matches(snap, frozen, &keys, ctx);
}

fn snapshots_read_their_view(op: &Op) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || {
        (op.opts)()
            .memtable_size(4096)
            .merge_batch_size(3)
            .merge_writeback_threshold(0)
    };
    let db = Db::open(dir.path(), opts()).expect("open");
    let mut model = Model::new();
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    let merge = |db: &Db, model: &mut Model, key: &[u8], i: u64| {
        let operand = (op.operand)(i);
        db.merge(key, &operand).expect("merge");
        let v = (op.apply)(model.get(key).map(Vec::as_slice), &operand);
        model.insert(key.to_vec(), v);
    };
    for i in 0..600u64 {
        merge(&db, &mut model, b"hot", i);
        if i % 3 == 0 {
            merge(&db, &mut model, b"warm", i);
        }
        if i % 50 == 25 {
            // A base in the middle of the operands.
            let v = (op.operand)(1000 + i);
            db.put("warm", &v).expect("put");
            model.insert(b"warm".to_vec(), v);
            db.put("side", vec![b's'; 200]).expect("put");
            model.insert(b"side".to_vec(), vec![b's'; 200]);
        }
        if i % 97 == 96 {
            db.delete("warm").expect("delete");
            model.remove(&b"warm"[..]);
        }
        if i % 37 == 0 {
            snaps.push((db.snapshot(), model.clone()));
        }
        if i % 150 == 149 {
            db.flush().expect("flush");
            for (j, (s, m)) in snaps.iter().enumerate() {
                assert_snapshot(s, m, &format!("step {i}, snapshot {j}"));
            }
        }
    }
    db.flush().expect("flush");
    assert!(db.stats().counters.flushes > 4, "memtables were flushed");
    for (j, (s, m)) in snaps.iter().enumerate() {
        assert_snapshot(s, m, &format!("after flush, snapshot {j}"));
    }
    db.compact().expect("compact");
    for (j, (s, m)) in snaps.iter().enumerate() {
        assert_snapshot(s, m, &format!("after compaction, snapshot {j}"));
    }
    // Dropping every other snapshot merges their stripes; the rest still
    // read their own views.
    let mut kept = Vec::new();
    for (j, s) in snaps.into_iter().enumerate() {
        if j % 2 == 0 {
            kept.push(s);
        }
    }
    db.compact().expect("compact");
    for (j, (s, m)) in kept.iter().enumerate() {
        assert_snapshot(s, m, &format!("after dropping half, snapshot {j}"));
    }
    assert_eq!(collect(db.iter()), pairs(&model));
    drop(kept);
    db.compact().expect("compact");
    assert_eq!(collect(db.iter()), pairs(&model));
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("open");
    assert_eq!(collect(db.iter()), pairs(&model));
    db.close().expect("close");
}

#[test]
fn snapshots_between_counter_merges_read_their_view_after_flush() {
    snapshots_read_their_view(&add_op());
}

#[test]
fn snapshots_between_append_merges_read_their_view_after_flush() {
    snapshots_read_their_view(&append_op());
}

/// Background compaction off: these tests look at the tables flush wrote.
fn quiet(opts: Options) -> Options {
    opts.merge_writeback_threshold(0)
        .compaction(CompactionOptions::default().background(false))
}

/// Entries in each table, newest run first.
fn table_entries(db: &Db) -> Vec<u64> {
    db.stats()
        .runs
        .iter()
        .flat_map(|r| r.tables.iter().map(|t| t.entries))
        .collect()
}

#[test]
fn flush_keeps_one_operand_per_snapshot_stripe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        quiet(Options::default().merge_operator(Append::new(","))),
    )
    .expect("open");
    db.merge("k", "a").expect("merge");
    db.merge("k", "b").expect("merge");
    let s1 = db.snapshot();
    db.merge("k", "c").expect("merge");
    db.merge("k", "d").expect("merge");
    let s2 = db.snapshot();
    db.merge("k", "e").expect("merge");
    db.flush().expect("flush");
    assert_eq!(
        table_entries(&db),
        vec![3],
        "one partially merged operand per stripe"
    );
    assert_eq!(s1.get("k").expect("get").as_deref(), Some(&b"a,b"[..]));
    assert_eq!(s2.get("k").expect("get").as_deref(), Some(&b"a,b,c,d"[..]));
    assert_eq!(
        db.get("k").expect("get").as_deref(),
        Some(&b"a,b,c,d,e"[..])
    );
    assert_eq!(collect(s1.iter()), vec![(b"k".to_vec(), b"a,b".to_vec())]);
    assert_eq!(
        collect_rev(s2.iter()),
        vec![(b"k".to_vec(), b"a,b,c,d".to_vec())]
    );
    // Without s1 the two oldest stripes are one; compaction may merge them.
    drop(s1);
    db.merge("k", "f").expect("merge");
    db.flush().expect("flush");
    db.compact().expect("compact");
    assert_eq!(s2.get("k").expect("get").as_deref(), Some(&b"a,b,c,d"[..]));
    assert_eq!(
        db.get("k").expect("get").as_deref(),
        Some(&b"a,b,c,d,e,f"[..])
    );
    drop(s2);
    db.compact().expect("compact");
    assert_eq!(
        db.get("k").expect("get").as_deref(),
        Some(&b"a,b,c,d,e,f"[..])
    );
    assert_eq!(table_entries(&db), vec![1]);
    db.close().expect("close");
}

#[test]
fn operands_flushed_without_their_base_resolve_against_an_older_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || {
        quiet(
            Options::default()
                .merge_operator(Append::new(","))
                .merge_batch_size(2),
        )
    };
    let db = Db::open(dir.path(), opts()).expect("open");
    db.put("k", "base").expect("put");
    db.flush().expect("flush");
    for op in ["m1", "m2", "m3", "m4", "m5"] {
        db.merge("k", op).expect("merge");
    }
    db.flush().expect("flush");
    assert_eq!(
        table_entries(&db),
        vec![1, 1],
        "the newer table holds one partially merged operand"
    );
    // Two more tables of operands, and some in the memtable.
    for batch in [["m6", "m7"], ["m8", "m9"]] {
        for op in batch {
            db.merge("k", op).expect("merge");
        }
        db.flush().expect("flush");
    }
    db.merge("k", "m10").expect("merge");
    let want = b"base,m1,m2,m3,m4,m5,m6,m7,m8,m9,m10".to_vec();
    let check = |db: &Db, ctx: &str| {
        assert_eq!(
            db.get("k").expect("get").map(|v| v.to_vec()),
            Some(want.clone()),
            "{ctx}"
        );
        assert_eq!(
            collect(db.iter()),
            vec![(b"k".to_vec(), want.clone())],
            "{ctx}"
        );
        assert_eq!(
            collect_rev(db.iter()),
            vec![(b"k".to_vec(), want.clone())],
            "{ctx}"
        );
    };
    check(&db, "tables");
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("open");
    check(&db, "reopened");
    db.compact().expect("compact");
    check(&db, "compacted");
    db.close().expect("close");
}

#[test]
fn counter_operands_flushed_without_their_base_add_to_an_older_base() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), quiet(Options::default().merge_operator(U64Add))).expect("open");
    db.put("n", le(100)).expect("put");
    db.put("gone", le(100)).expect("put");
    db.flush().expect("flush");
    db.delete("gone").expect("delete");
    db.flush().expect("flush");
    for i in 1..=5u64 {
        db.merge("n", le(i)).expect("merge");
        db.merge("gone", le(i)).expect("merge");
    }
    db.flush().expect("flush");
    assert_eq!(u64_get(db.get("n").expect("get")), 115);
    // A tombstone in between is a missing base: the operands alone.
    assert_eq!(u64_get(db.get("gone").expect("get")), 15);
    let all = collect(db.iter());
    assert_eq!(
        all,
        vec![(b"gone".to_vec(), le(15)), (b"n".to_vec(), le(115))]
    );
    db.compact().expect("compact");
    assert_eq!(
        collect_rev(db.iter()),
        all.into_iter().rev().collect::<Vec<_>>()
    );
    db.close().expect("close");
}
