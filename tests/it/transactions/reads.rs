//! A transaction reads its own writes over its snapshot: point reads,
//! merges folded over the snapshot's value, and iterators that merge the
//! write set with the tree in both directions; rollback and drop discard.

use rillkv::{Bytes, Db, KeyspaceOptions, Options, merge::U64Add};

use super::{n, num};

fn keys(items: impl Iterator<Item = rillkv::Result<(Bytes, Bytes)>>) -> Vec<String> {
    items
        .map(|r| {
            let (k, v) = r.expect("item");
            format!(
                "{}={}",
                String::from_utf8_lossy(&k),
                String::from_utf8_lossy(&v)
            )
        })
        .collect()
}

#[test]
fn iterators_merge_writes_with_the_snapshot_in_both_directions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for k in ["a", "c", "e", "g"] {
        db.put(k, k.to_uppercase()).expect("put");
    }
    db.flush().expect("flush"); // some in a table, some in the memtable
    db.put("i", "I").expect("put");
    let txn = db.transaction();
    txn.put("b", "b1")
        .put("c", "c1")
        .delete("e")
        .put("h", "h1")
        .delete("zz");
    db.put("d", "D").expect("put after the snapshot: not seen");
    let want = ["a=A", "b=b1", "c=c1", "g=G", "h=h1", "i=I"];
    assert_eq!(keys(txn.iter()), want);
    let mut rev = want.to_vec();
    rev.reverse();
    assert_eq!(keys(txn.iter().rev()), rev);
    assert_eq!(keys(txn.range("b".."h")), ["b=b1", "c=c1", "g=G"]);
    assert_eq!(
        keys(txn.range("b"..="h").rev()),
        ["h=h1", "g=G", "c=c1", "b=b1"]
    );
    // Both ends at once: every key exactly once, whichever end takes it.
    for pattern in 0u32..64 {
        let mut it = txn.iter();
        let (mut front, mut back) = (Vec::new(), Vec::new());
        for step in 0.. {
            let item = if (pattern >> (step % 6)) & 1 == 0 {
                it.next().map(|r| (true, r))
            } else {
                it.next_back().map(|r| (false, r))
            };
            let Some((from_front, r)) = item else { break };
            let (k, _) = r.expect("item");
            if from_front {
                front.push(k);
            } else {
                back.push(k);
            }
        }
        back.reverse();
        front.extend(back);
        let got: Vec<_> = front
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(got, ["a", "b", "c", "g", "h", "i"], "pattern {pattern:06b}");
    }
}

#[test]
fn merges_fold_over_the_snapshot_value_in_reads_and_iterators() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().merge_operator(U64Add)).expect("open");
    db.put("n", n(5)).expect("put");
    db.merge("m", n(1)).expect("merge");
    let txn = db.transaction();
    txn.merge("n", n(2))
        .merge("n", n(3))
        .merge("m", n(10))
        .merge("new", n(7));
    assert_eq!(num(txn.get("n").expect("get")), 10);
    assert_eq!(num(txn.get("m").expect("get")), 11);
    assert_eq!(num(txn.get("new").expect("get")), 7);
    let values: Vec<u64> = txn.iter().map(|r| num(Some(r.expect("item").1))).collect();
    assert_eq!(values, [11, 10, 7]); // m, n, new
    let back: Vec<u64> = txn
        .iter()
        .rev()
        .map(|r| num(Some(r.expect("item").1)))
        .collect();
    assert_eq!(back, [7, 10, 11]);
    txn.put("n", n(100)).merge("n", n(1));
    assert_eq!(num(txn.get("n").expect("get")), 101, "over its own put");
    txn.commit().expect("commit");
    assert_eq!(num(db.get("n").expect("get")), 101);
    assert_eq!(num(db.get("m").expect("get")), 11);
}

#[test]
fn keyspaces_rollback_and_drop_discard_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let docs = db.keyspace("docs", KeyspaceOptions::default()).expect("ks");
    let txn = db.transaction();
    txn.put_in(&docs, "d", "1").put("d", "default");
    assert_eq!(keys(txn.iter_in(&docs)), ["d=1"]);
    assert_eq!(keys(txn.prefix_in(&docs, "d")), ["d=1"]);
    txn.rollback();
    assert_eq!(docs.get("d").expect("get"), None);
    {
        let txn = db.transaction();
        txn.put_in(&docs, "d", "2");
    } // dropped: rolled back
    assert_eq!(docs.get("d").expect("get"), None);
    assert_eq!(db.iter().count(), 0);
    let txn = db.transaction();
    txn.put_in(&docs, "d", "3").put("d", "default");
    txn.commit().expect("commit");
    assert_eq!(docs.get("d").expect("get").as_deref(), Some(&b"3"[..]));
    assert_eq!(
        db.stats().counters.write_groups,
        1,
        "one commit group, one WAL record"
    );
    drop(docs);
    db.close().expect("close");
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    let docs = db.keyspace("docs", KeyspaceOptions::default()).expect("ks");
    assert_eq!(docs.get("d").expect("get").as_deref(), Some(&b"3"[..]));
    assert_eq!(db.get("d").expect("get").as_deref(), Some(&b"default"[..]));
}
