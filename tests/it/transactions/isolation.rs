//! What commit refuses, level by level: write-write conflicts in both
//! levels; write skew allowed in snapshot isolation and refused in
//! serializable mode; phantoms in ranges an iterator covered (and not
//! beyond what it reached); commutative merges never conflicting with each
//! other but conflicting with a put; a snapshot older than the index.

use rillkv::{
    Db, ErrorKind, Isolation, KeyspaceOptions, Options, Transaction, TransactionOptions,
    merge::{Append, U64Add},
};

use super::{n, num};

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default().merge_operator(U64Add)).expect("open")
}

fn serializable(db: &Db) -> Transaction {
    db.transaction_with(TransactionOptions::default().isolation(Isolation::Serializable))
}

fn conflict(r: rillkv::Result<()>) -> bool {
    match r {
        Ok(()) => false,
        Err(e) if e.kind() == ErrorKind::Conflict => true,
        Err(e) => panic!("not a conflict: {e}"),
    }
}

#[test]
fn first_committer_wins_on_a_written_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    for level in [Isolation::Snapshot, Isolation::Serializable] {
        let opts = TransactionOptions::default().isolation(level);
        let (a, b) = (db.transaction_with(opts.clone()), db.transaction_with(opts));
        a.put("k", "a");
        b.delete("k");
        a.commit().expect("first commits");
        let err = b.commit().expect_err("second conflicts");
        assert_eq!(err.kind(), ErrorKind::Conflict, "{level:?}");
        assert!(err.message().contains("\"k\""), "names the key: {err}");
        // A plain write counts as a commit too.
        let c = db.transaction_with(TransactionOptions::default().isolation(level));
        c.put("k", "c");
        db.put("k", "plain").expect("put");
        assert!(conflict(c.commit()), "{level:?}");
    }
    assert_eq!(db.get("k").expect("get").as_deref(), Some(&b"plain"[..]));
    let c = db.stats().counters;
    assert_eq!((c.txn_commits, c.txn_conflicts_write), (2, 4));
}

/// Doctors on call: each transaction checks that the other doctor is on
/// call, then goes off call. Both commit under snapshot isolation (write
/// skew: nobody is left on call); serializable refuses the second.
#[test]
fn write_skew_is_allowed_in_snapshot_isolation_and_refused_in_serializable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let go_off = |txn: &Transaction, me: &str, other: &str| {
        let other_on = txn.get(other).expect("get").as_deref() == Some(&b"on"[..]);
        assert!(other_on, "both see the other on call");
        txn.put(me, "off");
    };
    for (level, skew) in [
        (Isolation::Snapshot, true),
        (Isolation::Serializable, false),
    ] {
        db.put("alice", "on").expect("put");
        db.put("bob", "on").expect("put");
        let opts = TransactionOptions::default().isolation(level);
        let (a, b) = (db.transaction_with(opts.clone()), db.transaction_with(opts));
        go_off(&a, "alice", "bob");
        go_off(&b, "bob", "alice");
        a.commit().expect("first commits");
        let second = b.commit();
        let on_call = ["alice", "bob"]
            .iter()
            .filter(|d| db.get(d).expect("get").as_deref() == Some(&b"on"[..]))
            .count();
        if skew {
            second.expect("snapshot isolation lets the write skew through");
            assert_eq!(on_call, 0, "the anomaly happened");
        } else {
            assert!(conflict(second), "serializable refuses it");
            assert_eq!(on_call, 1, "someone stays on call");
        }
    }
    assert_eq!(db.stats().counters.txn_conflicts_read, 1);
}

#[test]
fn phantoms_in_an_iterated_range_are_conflicts_beyond_it_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    for k in ["job:1", "job:3", "job:5", "zzz"] {
        db.put(k, "x").expect("put");
    }
    // Iterated the whole prefix: a new job inside it is a phantom.
    let t = serializable(&db);
    assert_eq!(t.prefix("job:").count(), 3);
    t.put("count", "3");
    db.put("job:4", "x").expect("insert");
    assert!(conflict(t.commit()));
    // Stopped after job:1: job:4 is outside what it read.
    let t = serializable(&db);
    let mut it = t.prefix("job:");
    assert!(it.next().is_some());
    t.put("first", "job:1");
    db.put("job:6", "x").expect("insert");
    assert!(!conflict(t.commit()), "beyond the covered part");
    // From the back: covered job:6..; a write at job:9 is inside.
    let t = serializable(&db);
    assert!(t.prefix("job:").next_back().is_some());
    t.put("last", "job:6");
    db.put("job:9", "x").expect("insert");
    assert!(conflict(t.commit()));
    // Snapshot isolation does not check ranges.
    let t = db.transaction();
    assert_eq!(t.prefix("job:").count(), 6);
    t.put("count", "6");
    db.put("job:7", "x").expect("insert");
    assert!(!conflict(t.commit()));
    assert_eq!(db.stats().counters.txn_conflicts_range, 2);
}

/// Two transactions increment one counter with a commutative merge: both
/// commit and the total is right. A put to the key still conflicts with
/// a merge, and a merge into a key the transaction read is a full write.
#[test]
fn commutative_merges_never_conflict_with_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    for level in [Isolation::Snapshot, Isolation::Serializable] {
        db.put("hits", n(10)).expect("put");
        let opts = TransactionOptions::default().isolation(level);
        let (a, b) = (
            db.transaction_with(opts.clone()),
            db.transaction_with(opts.clone()),
        );
        a.merge("hits", n(1));
        b.merge("hits", n(2));
        db.merge("hits", n(100)).expect("a plain merge in between");
        a.commit().expect("a commits");
        b.commit().expect("b commits: merges commute");
        assert_eq!(num(db.get("hits").expect("get")), 113, "{level:?}");

        let c = db.transaction_with(opts.clone());
        c.merge("hits", n(1));
        db.put("hits", n(0)).expect("reset");
        assert!(conflict(c.commit()), "a merge conflicts with a newer put");

        let d = db.transaction_with(opts.clone());
        let seen = num(d.get("hits").expect("get"));
        d.merge("hits", n(1));
        db.merge("hits", n(5)).expect("merge");
        assert!(
            conflict(d.commit()),
            "read then merged: a full write ({seen})"
        );
    }
    // A non-commutative operator: merges conflict like puts.
    let log = db
        .keyspace(
            "log",
            KeyspaceOptions::default().merge_operator(Append::new(",")),
        )
        .expect("ks");
    let (a, b) = (db.transaction(), db.transaction());
    a.merge_in(&log, "l", "a");
    b.merge_in(&log, "l", "b");
    a.commit().expect("a");
    assert!(conflict(b.commit()), "append does not commute");
}

#[test]
fn a_snapshot_older_than_the_index_fails_and_retries_succeed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().transaction_index_bytes(2048)).expect("open");
    let old = db.transaction();
    old.put("mine", "1");
    for i in 0..100u32 {
        db.put(i.to_be_bytes(), "x").expect("put");
    }
    let err = old.commit().expect_err("too old");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.message().contains("transaction_index_bytes"), "{err}");
    assert_eq!(db.stats().counters.txn_conflicts_too_old, 1);
    // The retry helper runs it again on a fresh snapshot.
    let mut runs = 0;
    db.run_transaction(|t| {
        runs += 1;
        t.put("mine", "1");
        if runs == 1 {
            db.put("mine", "interfering").expect("put");
        }
        Ok(())
    })
    .expect("retried");
    assert_eq!(runs, 2);
    assert_eq!(db.get("mine").expect("get").as_deref(), Some(&b"1"[..]));
    // Without retries the conflict comes back.
    let err = db
        .run_transaction_with(TransactionOptions::default().max_retries(0), |t| {
            t.put("mine", "2");
            db.put("mine", "interfering").expect("put");
            Ok(())
        })
        .expect_err("no retry");
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

/// Regression: a group that writes nothing while no transaction is live
/// (here a mismatched compare-and-swap) once raised the index's floor to a
/// sequence number that was never published, so every later transaction
/// failed as too old until some other write came (a livelock when the
/// only writers were transactions: found by the async test's long run).
#[test]
fn a_group_that_writes_nothing_does_not_age_later_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    db.put("k", "v").expect("put");
    let lost = db.compare_and_swap("k", None, Some(b"w")).expect("cas");
    assert!(!lost.is_swapped());
    let txn = db.transaction();
    txn.put("k", "txn");
    txn.commit()
        .expect("not too old: nothing was written since its snapshot");
    assert_eq!(db.stats().counters.txn_conflicts_too_old, 0);
}

/// A transaction that wrote nothing commits without a check, even in
/// serializable mode with its reads changed since: its reads all came
/// from one snapshot, so it is serializable as of that snapshot.
#[test]
fn a_read_only_transaction_always_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    db.put("k", "old").expect("put");
    let t = serializable(&db);
    assert_eq!(t.get("k").expect("get").as_deref(), Some(&b"old"[..]));
    assert_eq!(t.iter().count(), 1);
    db.put("k", "new").expect("put");
    db.put("k2", "phantom").expect("put");
    t.commit().expect("read-only: no conflict");
    let c = db.stats().counters;
    assert_eq!((c.txn_commits, c.txn_conflicts()), (0, 0));
}
