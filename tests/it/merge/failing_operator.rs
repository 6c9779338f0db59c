//! A merge operator that refuses one operand (`bad`) makes reads of that
//! key — and only that key — fail with `ErrorKind::MergeOperator`;
//! iterators yield the error for that key and go on, in both directions;
//! flush and compaction succeed and keep the operands they cannot merge; a
//! put over the key makes it readable again; a reopen loses nothing.
//!
//! "Nothing lost" is checked by reopening with an operator of the same name
//! that accepts `bad`: it must see every operand, in order.

use std::path::Path;

use rillkv::merge::MergeError;
use rillkv::{Db, ErrorKind, Options};

use crate::support::{Item, append, collect, collect_items, collect_rev};

const NAME: &str = "picky-append";

fn picky(_key: &[u8], existing: Option<&[u8]>, op: &[u8]) -> Result<Vec<u8>, MergeError> {
    if op == b"bad" {
        return Err(MergeError::new("operand 'bad' is refused"));
    }
    Ok(append(b",", existing, op))
}

fn tolerant(_key: &[u8], existing: Option<&[u8]>, op: &[u8]) -> Result<Vec<u8>, MergeError> {
    Ok(append(b",", existing, op))
}

/// The refusing operator, folding in chunks of two so that failures happen
/// after part of a key's operands were already merged.
fn opts() -> Options {
    Options::default()
        .merge_fn(NAME, picky)
        .merge_batch_size(2)
        .merge_writeback_threshold(0)
}

/// The same name, accepting everything: shows what is stored.
fn tolerant_opts() -> Options {
    Options::default()
        .merge_fn(NAME, tolerant)
        .merge_batch_size(2)
        .merge_writeback_threshold(0)
}

fn ok(k: &str, v: &str) -> Item {
    Ok((k.as_bytes().to_vec(), v.as_bytes().to_vec()))
}

fn get_kind(db: &Db, key: &str) -> ErrorKind {
    db.get(key).expect_err("the merge must fail").kind()
}

/// `o0 .. o9` with `bad` in place of `o5`.
fn operands() -> Vec<String> {
    (0..10)
        .map(|i| {
            if i == 5 {
                "bad".into()
            } else {
                format!("o{i}")
            }
        })
        .collect()
}

/// a: merges only; b: merges including `bad`; c: a base then a merge;
/// d: merges only, after b in key order.
fn load(db: &Db) {
    db.merge("a", "x").expect("merge");
    db.merge("a", "y").expect("merge");
    for op in operands() {
        db.merge("b", op).expect("merge");
    }
    db.put("c", "base").expect("put");
    db.merge("c", "z").expect("merge");
    db.merge("d", "w").expect("merge");
}

fn assert_others_fine(db: &Db, ctx: &str) {
    assert_eq!(
        db.get("a").expect("get").as_deref(),
        Some(&b"x,y"[..]),
        "{ctx}"
    );
    assert_eq!(
        db.get("c").expect("get").as_deref(),
        Some(&b"base,z"[..]),
        "{ctx}"
    );
    assert_eq!(
        db.get("d").expect("get").as_deref(),
        Some(&b"w"[..]),
        "{ctx}"
    );
}

fn assert_iterators_skip_past_b(db: &Db, ctx: &str) {
    let err = Err(ErrorKind::MergeOperator);
    let forward = vec![ok("a", "x,y"), err.clone(), ok("c", "base,z"), ok("d", "w")];
    assert_eq!(collect_items(db.iter()), forward, "{ctx}: forward");
    let mut reverse = forward.clone();
    reverse.reverse();
    assert_eq!(collect_items(db.iter().rev()), reverse, "{ctx}: reverse");
    assert_eq!(
        collect_items(db.range("b".."d")),
        vec![err.clone(), ok("c", "base,z")],
        "{ctx}: range starting at the failing key"
    );
    assert_eq!(
        collect_items(db.range("a"..="b").rev()),
        vec![err.clone(), ok("a", "x,y")],
        "{ctx}: reverse range ending at the failing key"
    );
    let snap = db.snapshot();
    assert_eq!(
        collect_items(snap.iter()),
        forward,
        "{ctx}: snapshot forward"
    );
    assert_eq!(
        collect_items(snap.iter().rev()),
        reverse,
        "{ctx}: snapshot reverse"
    );
}

/// Reopens `dir` with the tolerant operator and checks every operand of
/// `b` is there, in order.
fn assert_nothing_lost(dir: &Path, ctx: &str) {
    let db = Db::open(dir, tolerant_opts()).expect("open");
    let want = operands().join(",");
    assert_eq!(
        db.get("b").expect("get").as_deref(),
        Some(want.as_bytes()),
        "{ctx}"
    );
    assert_others_fine(&db, ctx);
    db.close().expect("close");
}

#[test]
fn get_fails_only_for_the_key_whose_operand_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    load(&db);
    assert_eq!(get_kind(&db, "b"), ErrorKind::MergeOperator);
    assert_others_fine(&db, "memtable");
    let snap = db.snapshot();
    assert_eq!(snap.get("b").unwrap_err().kind(), ErrorKind::MergeOperator);
    db.close().expect("close");
}

#[test]
fn iterators_yield_the_error_for_that_key_and_go_on_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    load(&db);
    assert_iterators_skip_past_b(&db, "memtable");
    db.flush().expect("flush");
    assert_iterators_skip_past_b(&db, "after flush");
    // Operands of b on both sides of a table boundary.
    db.merge("b", "o10").expect("merge");
    assert_eq!(get_kind(&db, "b"), ErrorKind::MergeOperator);
    let items = collect_items(db.iter());
    assert_eq!(items.len(), 4);
    assert_eq!(items[1], Err(ErrorKind::MergeOperator));
    assert_eq!(items[3], ok("d", "w"));
    db.close().expect("close");
}

#[test]
fn flush_and_compaction_keep_operands_they_cannot_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    load(&db);
    db.flush()
        .expect("a flush meeting a refused operand succeeds");
    assert_eq!(get_kind(&db, "b"), ErrorKind::MergeOperator);
    assert_others_fine(&db, "after flush");
    db.compact()
        .expect("a compaction meeting a refused operand succeeds");
    assert_eq!(get_kind(&db, "b"), ErrorKind::MergeOperator);
    assert_others_fine(&db, "after compaction");
    db.close().expect("close");
    assert_nothing_lost(dir.path(), "flushed and compacted");
}

#[test]
fn flush_keeps_refused_operands_above_a_base_and_across_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    db.put("b", "base").expect("put");
    let mut snaps = Vec::new();
    for (i, op) in operands().into_iter().enumerate() {
        db.merge("b", op).expect("merge");
        if i == 3 || i == 7 {
            snaps.push(db.snapshot());
        }
    }
    db.flush().expect("flush");
    // Before `bad` the snapshot reads fine; after it, the merge fails.
    assert_eq!(
        snaps[0].get("b").expect("get").as_deref(),
        Some(&b"base,o0,o1,o2,o3"[..])
    );
    assert_eq!(
        snaps[1].get("b").unwrap_err().kind(),
        ErrorKind::MergeOperator
    );
    assert_eq!(get_kind(&db, "b"), ErrorKind::MergeOperator);
    db.compact().expect("compact");
    assert_eq!(
        snaps[0].get("b").expect("get").as_deref(),
        Some(&b"base,o0,o1,o2,o3"[..])
    );
    drop(snaps);
    db.compact().expect("compact");
    db.close().expect("close");
    let db = Db::open(dir.path(), tolerant_opts()).expect("open");
    let want = format!("base,{}", operands().join(","));
    assert_eq!(db.get("b").expect("get").as_deref(), Some(want.as_bytes()));
    db.close().expect("close");
}

#[test]
fn a_put_over_the_key_makes_it_readable_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    load(&db);
    db.flush().expect("flush");
    assert_eq!(get_kind(&db, "b"), ErrorKind::MergeOperator);
    db.put("b", "fresh").expect("put");
    assert_eq!(db.get("b").expect("get").as_deref(), Some(&b"fresh"[..]));
    db.merge("b", "more").expect("merge");
    assert_eq!(
        db.get("b").expect("get").as_deref(),
        Some(&b"fresh,more"[..])
    );
    let want = vec![
        (b"a".to_vec(), b"x,y".to_vec()),
        (b"b".to_vec(), b"fresh,more".to_vec()),
        (b"c".to_vec(), b"base,z".to_vec()),
        (b"d".to_vec(), b"w".to_vec()),
    ];
    assert_eq!(collect(db.iter()), want);
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(collect_rev(db.iter()), rev);
    db.flush().expect("flush");
    db.compact().expect("compact");
    assert_eq!(collect(db.iter()), want);
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("open");
    assert_eq!(collect(db.iter()), want);
    db.close().expect("close");
}

#[test]
fn reopen_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    load(&db);
    db.close().expect("close");
    // Replayed from the WAL.
    let db = Db::open(dir.path(), opts()).expect("open");
    assert_eq!(get_kind(&db, "b"), ErrorKind::MergeOperator);
    assert_others_fine(&db, "after reopen");
    assert_iterators_skip_past_b(&db, "after reopen");
    db.flush().expect("flush");
    db.close().expect("close");
    // Read from the table.
    let db = Db::open(dir.path(), opts()).expect("open");
    assert_eq!(get_kind(&db, "b"), ErrorKind::MergeOperator);
    assert_iterators_skip_past_b(&db, "after flush and reopen");
    db.close().expect("close");
    assert_nothing_lost(dir.path(), "after reopens");
}
