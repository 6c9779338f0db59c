//! The built-in merge operators end to end — through the memtable, tables,
//! both iterator directions and a reopen: `U64Max`, `U64Min`, `Append` with
//! a delimiter; merges on a deleted key (no base: the operands alone) and
//! after a put (the put is the base); a batch mixing puts, deletes and
//! merges on one key applies them in batch order; a `U64Add` operand (or
//! base) of the wrong width makes reads of that key fail with
//! `ErrorKind::MergeOperator`, and only that key.

use rillkv::merge::{Append, MergeOperator, U64Add, U64Max, U64Min};
use rillkv::{Db, ErrorKind, Options, WriteBatch};

use crate::support::{collect, collect_items, collect_rev, le, u64_get, u64_of};

fn open(dir: &std::path::Path, op: impl MergeOperator) -> Db {
    Db::open(dir, Options::default().merge_operator(op)).expect("open")
}

/// Runs `check` on the memtable, after a flush, and after a reopen with
/// `reopen`'s options.
fn at_every_layer(db: Db, reopen: impl Fn() -> Db, check: impl Fn(&Db, &str)) {
    check(&db, "memtable");
    db.flush().expect("flush");
    check(&db, "table");
    db.close().expect("close");
    let db = reopen();
    check(&db, "reopened");
    db.compact().expect("compact");
    check(&db, "compacted");
    db.close().expect("close");
}

/// The value of `key` through get, a forward and a reverse scan.
fn u64_everywhere(db: &Db, key: &str, ctx: &str) -> u64 {
    let got = u64_get(db.get(key).expect("get"));
    for (name, pairs) in [
        ("forward", collect(db.prefix(key))),
        ("reverse", collect_rev(db.prefix(key))),
    ] {
        let v = pairs
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| u64_of(v));
        assert_eq!(v, Some(got), "{ctx}: {name} scan of {key}");
    }
    got
}

#[test]
fn u64_max_keeps_the_largest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), U64Max);
    for v in [5u64, 90, 3, 90, 17] {
        db.merge("max", le(v)).expect("merge");
    }
    db.put("base", le(1000)).expect("put");
    db.merge("base", le(7)).expect("merge");
    db.merge("zero", le(0)).expect("merge");
    at_every_layer(
        db,
        || open(dir.path(), U64Max),
        |db, ctx| {
            assert_eq!(u64_everywhere(db, "max", ctx), 90, "{ctx}");
            assert_eq!(u64_everywhere(db, "base", ctx), 1000, "{ctx}");
            assert_eq!(u64_everywhere(db, "zero", ctx), 0, "{ctx}");
        },
    );
}

#[test]
fn u64_min_keeps_the_smallest_and_a_missing_value_is_the_maximum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), U64Min);
    for v in [50u64, 9, 300, 9, 12] {
        db.merge("min", le(v)).expect("merge");
    }
    db.put("base", le(4)).expect("put");
    db.merge("base", le(7)).expect("merge");
    db.merge("one", le(u64::MAX - 1)).expect("merge");
    at_every_layer(
        db,
        || open(dir.path(), U64Min),
        |db, ctx| {
            assert_eq!(u64_everywhere(db, "min", ctx), 9, "{ctx}");
            assert_eq!(u64_everywhere(db, "base", ctx), 4, "{ctx}");
            assert_eq!(u64_everywhere(db, "one", ctx), u64::MAX - 1, "{ctx}");
        },
    );
}

#[test]
fn append_joins_operands_with_the_delimiter_in_write_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = || Append::new("::");
    let db = open(dir.path(), op());
    for piece in ["c", "a", "b", "", "a"] {
        db.merge("list", piece).expect("merge");
    }
    db.put("based", "head").expect("put");
    db.merge("based", "tail").expect("merge");
    at_every_layer(
        db,
        || open(dir.path(), op()),
        |db, ctx| {
            assert_eq!(
                collect(db.iter()),
                vec![
                    (b"based".to_vec(), b"head::tail".to_vec()),
                    (b"list".to_vec(), b"c::a::b::::a".to_vec()),
                ],
                "{ctx}"
            );
            assert_eq!(
                db.get("list").expect("get").as_deref(),
                Some(&b"c::a::b::::a"[..]),
                "{ctx}"
            );
        },
    );
    // The delimiter is part of the operator's name: another one is refused.
    let err = Db::open(
        dir.path(),
        Options::default().merge_operator(Append::new(",")),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn merges_on_a_deleted_key_start_from_no_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), U64Add);
    db.put("k", le(1000)).expect("put");
    db.put("flushed", le(1000)).expect("put");
    db.flush().expect("flush");
    db.delete("flushed").expect("delete");
    db.flush().expect("flush");
    db.delete("k").expect("delete");
    db.merge("k", le(3)).expect("merge");
    db.merge("k", le(4)).expect("merge");
    db.merge("flushed", le(5)).expect("merge");
    db.merge("never", le(6)).expect("merge");
    at_every_layer(
        db,
        || open(dir.path(), U64Add),
        |db, ctx| {
            assert_eq!(u64_everywhere(db, "k", ctx), 7, "{ctx}");
            assert_eq!(u64_everywhere(db, "flushed", ctx), 5, "{ctx}");
            assert_eq!(u64_everywhere(db, "never", ctx), 6, "{ctx}");
        },
    );
}

#[test]
fn merges_after_a_put_apply_to_the_put_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), U64Add);
    db.put("k", le(10)).expect("put");
    db.merge("k", le(5)).expect("merge");
    db.merge("k", le(1)).expect("merge");
    db.put("later", le(1)).expect("put");
    db.flush().expect("flush");
    // A put after merges replaces them all.
    db.merge("later", le(1)).expect("merge");
    db.put("later", le(50)).expect("put");
    db.merge("later", le(2)).expect("merge");
    // Wrapping addition.
    db.put("wrap", le(u64::MAX)).expect("put");
    db.merge("wrap", le(2)).expect("merge");
    at_every_layer(
        db,
        || open(dir.path(), U64Add),
        |db, ctx| {
            assert_eq!(u64_everywhere(db, "k", ctx), 16, "{ctx}");
            assert_eq!(u64_everywhere(db, "later", ctx), 52, "{ctx}");
            assert_eq!(u64_everywhere(db, "wrap", ctx), 1, "{ctx}");
        },
    );
}

#[test]
fn a_batch_applies_puts_deletes_and_merges_on_one_key_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = || Append::new(",");
    let db = open(dir.path(), op());
    db.put("a", "old").expect("put");
    db.put("b", "old").expect("put");
    let mut batch = WriteBatch::new();
    // a: the merge before the put is hidden by it.
    batch.merge("a", "x").put("a", "p").merge("a", "y");
    // b: a delete inside the batch drops the base and the earlier merge.
    batch
        .merge("b", "x")
        .delete("b")
        .merge("b", "y")
        .merge("b", "z");
    // c: merge, put, merge, delete: nothing left.
    batch
        .merge("c", "x")
        .put("c", "p")
        .merge("c", "y")
        .delete("c");
    // d: only merges, interleaved with other keys.
    batch
        .merge("d", "1")
        .merge("e", "e1")
        .merge("d", "2")
        .merge("e", "e2");
    db.write(batch).expect("write");
    let want = vec![
        (b"a".to_vec(), b"p,y".to_vec()),
        (b"b".to_vec(), b"y,z".to_vec()),
        (b"d".to_vec(), b"1,2".to_vec()),
        (b"e".to_vec(), b"e1,e2".to_vec()),
    ];
    at_every_layer(
        db,
        || open(dir.path(), op()),
        |db, ctx| {
            assert_eq!(collect(db.iter()), want, "{ctx}");
            let mut rev = want.clone();
            rev.reverse();
            assert_eq!(collect_rev(db.iter()), rev, "{ctx}");
            for (k, v) in &want {
                assert_eq!(db.get(k).expect("get").as_deref(), Some(&v[..]), "{ctx}");
            }
            assert_eq!(db.get("c").expect("get"), None, "{ctx}");
        },
    );
}

#[test]
fn a_wrong_width_counter_operand_fails_reads_of_that_key_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), U64Add);
    db.merge("a", le(1)).expect("merge");
    db.merge("bad-op", le(1)).expect("merge");
    db.merge("bad-op", b"abc").expect("merge"); // 3 bytes, accepted by the write
    db.merge("bad-op", le(1)).expect("merge");
    db.put("bad-base", b"not a u64").expect("put");
    db.merge("bad-base", le(1)).expect("merge");
    db.merge("z", le(2)).expect("merge");
    at_every_layer(
        db,
        || open(dir.path(), U64Add),
        |db, ctx| {
            for key in ["bad-op", "bad-base"] {
                let err = db.get(key).expect_err("a wrong width fails the read");
                assert_eq!(err.kind(), ErrorKind::MergeOperator, "{ctx}: {key}: {err}");
            }
            assert_eq!(u64_get(db.get("a").expect("get")), 1, "{ctx}");
            assert_eq!(u64_get(db.get("z").expect("get")), 2, "{ctx}");
            let err = Err(ErrorKind::MergeOperator);
            let forward = vec![
                Ok((b"a".to_vec(), le(1))),
                err.clone(),
                err.clone(),
                Ok((b"z".to_vec(), le(2))),
            ];
            assert_eq!(collect_items(db.iter()), forward, "{ctx}: forward");
            let mut reverse = forward.clone();
            reverse.reverse();
            assert_eq!(collect_items(db.iter().rev()), reverse, "{ctx}: reverse");
        },
    );
}
