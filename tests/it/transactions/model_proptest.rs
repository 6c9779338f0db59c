//! Transactions interleaved with plain writes, flushes, compactions and
//! reopens, against a model: a `BTreeMap` of u64 counters (`U64Add`) that
//! applies each committed transaction's writes in commit order. Each
//! transaction's reads (point reads, forward and reverse scans) must match
//! the model with its own writes applied; a plain write made after its
//! snapshot and before its commit must make the commit fail exactly when
//! the conflict rule says (write-write unless both are commutative merges
//! into a key it did not read; in serializable mode also any key it
//! read, a scan reading every key). `PROPTEST_CASES` (default 48).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rillkv::merge::U64Add;
use rillkv::{Db, ErrorKind, Isolation, Options, Transaction, TransactionOptions};

use super::{n, num};

const KEYS: u8 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Put(u64),
    Delete,
    Merge(u64),
}

#[derive(Debug, Clone)]
enum TxnOp {
    Write(u8, Write),
    Get(u8),
    Scan { reverse: bool },
}

#[derive(Debug, Clone)]
enum Op {
    Plain(u8, Write),
    Txn {
        serializable: bool,
        ops: Vec<TxnOp>,
        /// A plain write after the snapshot, before the commit.
        racing: Option<(u8, Write)>,
        commit: bool,
    },
    Flush,
    Compact,
    Reopen,
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        (0u64..100).prop_map(Write::Put),
        Just(Write::Delete),
        (1u64..10).prop_map(Write::Merge),
    ]
}

fn txn_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        4 => (0..KEYS, write()).prop_map(|(k, w)| TxnOp::Write(k, w)),
        2 => (0..KEYS).prop_map(TxnOp::Get),
        1 => any::<bool>().prop_map(|reverse| TxnOp::Scan { reverse }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..KEYS, write()).prop_map(|(k, w)| Op::Plain(k, w)),
        6 => (
            any::<bool>(),
            prop::collection::vec(txn_op(), 0..8),
            prop::option::of((0..KEYS, write())),
            prop::bool::weighted(0.9),
        )
            .prop_map(|(serializable, ops, racing, commit)| Op::Txn {
                serializable,
                ops,
                racing,
                commit,
            }),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

type Model = BTreeMap<u8, u64>;

fn apply(model: &mut Model, k: u8, w: Write) {
    match w {
        Write::Put(v) => {
            model.insert(k, v);
        }
        Write::Delete => {
            model.remove(&k);
        }
        Write::Merge(d) => {
            let v = model.get(&k).copied().unwrap_or(0).wrapping_add(d);
            model.insert(k, v);
        }
    }
}

fn key(k: u8) -> [u8; 1] {
    [b'a' + k]
}

fn write_db(db: &Db, k: u8, w: Write) {
    match w {
        Write::Put(v) => db.put(key(k), n(v)),
        Write::Delete => db.delete(key(k)),
        Write::Merge(d) => db.merge(key(k), n(d)),
    }
    .expect("plain write");
}

fn write_txn(txn: &Transaction, k: u8, w: Write) {
    match w {
        Write::Put(v) => txn.put(key(k), n(v)),
        Write::Delete => txn.delete(key(k)),
        Write::Merge(d) => txn.merge(key(k), n(d)),
    };
}

fn scan(txn: &Transaction, reverse: bool) -> Vec<(u8, u64)> {
    let items: Vec<_> = if reverse {
        txn.iter().rev().collect()
    } else {
        txn.iter().collect()
    };
    items
        .into_iter()
        .map(|r| {
            let (k, v) = r.expect("scan");
            (k[0] - b'a', num(Some(v)))
        })
        .collect()
}

fn open(dir: &std::path::Path) -> Db {
    Db::open(
        dir,
        Options::default()
            .merge_operator(U64Add)
            .memtable_size(4 << 10),
    )
    .expect("open")
}

/// Runs one transaction, checking its reads, and applies it to `model`
/// if it commits (asserting the commit fails exactly on a conflict).
fn run_txn(db: &Db, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let Op::Txn {
        serializable,
        ops,
        racing,
        commit,
    } = op
    else {
        return Ok(());
    };
    let level = if *serializable {
        Isolation::Serializable
    } else {
        Isolation::Snapshot
    };
    let txn = db.transaction_with(TransactionOptions::default().isolation(level));
    let mut view = model.clone();
    let mut writes: Vec<(u8, Write)> = Vec::new();
    let mut read: BTreeSet<u8> = BTreeSet::new();
    let mut scanned = false;
    for op in ops {
        match *op {
            TxnOp::Write(k, w) => {
                write_txn(&txn, k, w);
                apply(&mut view, k, w);
                writes.push((k, w));
            }
            TxnOp::Get(k) => {
                let got = txn.get(key(k)).expect("get").map(|v| num(Some(v)));
                prop_assert_eq!(got, view.get(&k).copied(), "get {}", k);
                // A read decided by its own put or delete reads nothing.
                if !writes
                    .iter()
                    .any(|(wk, w)| *wk == k && !matches!(w, Write::Merge(_)))
                {
                    read.insert(k);
                }
            }
            TxnOp::Scan { reverse } => {
                let mut want: Vec<(u8, u64)> = view.iter().map(|(k, v)| (*k, *v)).collect();
                if reverse {
                    want.reverse();
                }
                prop_assert_eq!(scan(&txn, reverse), want);
                scanned = true;
            }
        }
    }
    if let Some((k, w)) = *racing {
        write_db(db, k, w);
        apply(model, k, w);
    }
    if !*commit {
        txn.rollback();
        return Ok(());
    }
    let conflict = racing.is_some_and(|(rk, rw)| {
        let mine: Vec<Write> = writes
            .iter()
            .filter(|(k, _)| *k == rk)
            .map(|(_, w)| *w)
            .collect();
        let merges_only = !mine.is_empty() && mine.iter().all(|w| matches!(w, Write::Merge(_)));
        let was_read = read.contains(&rk) || scanned;
        let write_conflict =
            !mine.is_empty() && (!merges_only || was_read || !matches!(rw, Write::Merge(_)));
        let read_conflict = *serializable && was_read;
        write_conflict || (!writes.is_empty() && read_conflict)
    });
    match txn.commit() {
        Ok(()) => {
            prop_assert!(!conflict, "committed, but the rule says conflict");
            for (k, w) in writes {
                apply(model, k, w);
            }
        }
        Err(e) if e.kind() == ErrorKind::Conflict => {
            prop_assert!(conflict, "refused, but the rule says no conflict: {}", e);
        }
        Err(e) => return Err(TestCaseError::fail(format!("commit: {e}"))),
    }
    Ok(())
}

fn check_db(db: &Db, model: &Model) -> Result<(), TestCaseError> {
    for k in 0..KEYS {
        let got = db.get(key(k)).expect("get").map(|v| num(Some(v)));
        prop_assert_eq!(got, model.get(&k).copied(), "key {}", k);
    }
    Ok(())
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
    fn transactions_match_a_model_applied_in_commit_order(
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = open(dir.path());
        let mut model = Model::new();
        for op in &ops {
            match op {
                Op::Plain(k, w) => {
                    write_db(&db, *k, *w);
                    apply(&mut model, *k, *w);
                }
                Op::Txn { .. } => run_txn(&db, &mut model, op)?,
                Op::Flush => db.flush().expect("flush"),
                Op::Compact => db.compact().expect("compact"),
                Op::Reopen => {
                    db.close().expect("close");
                    db = open(dir.path());
                }
            }
            check_db(&db, &model)?;
        }
    }
}
