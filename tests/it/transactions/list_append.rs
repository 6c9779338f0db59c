//! A list-append history (Elle's workload): 4 threads run serializable
//! transactions that read some of 6 lists and append unique values to
//! others (an `Append` merge, so appends are blind writes); every
//! attempt is recorded, committed or refused. The history, with a final
//! read of every list, must admit a serial order (`support::elle`): any
//! cycle of dependencies fails the test and is printed.

use std::sync::{Arc, Mutex};

use rillkv::merge::Append;
use rillkv::{Db, ErrorKind, Isolation, KeyspaceOptions, Options, TransactionOptions};

use crate::support::elle::{Op, Txn, check};
use crate::support::{env_num, seed};

const KEYS: u64 = 6;
const THREADS: u64 = 4;

fn parse(v: Option<rillkv::Bytes>) -> Vec<u64> {
    let Some(v) = v else { return Vec::new() };
    std::str::from_utf8(&v)
        .expect("utf8 list")
        .split(',')
        .map(|s| s.parse().expect("numeric element"))
        .collect()
}

#[test]
fn serializable_list_append_history_has_a_serial_order() {
    let per_thread = env_num("RILLKV_TXN_HISTORY", 400);
    let base = seed("list_append");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().memtable_size(16 << 10)).expect("open");
    let lists = db
        .keyspace(
            "lists",
            KeyspaceOptions::default().merge_operator(Append::new(",")),
        )
        .expect("ks");
    let opts = TransactionOptions::default().isolation(Isolation::Serializable);
    let history = Arc::new(Mutex::new((Vec::<Txn>::new(), Vec::<u64>::new())));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, lists, opts) = (db.clone(), lists.clone(), opts.clone());
            let history = Arc::clone(&history);
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(base ^ t);
                for i in 0..per_thread {
                    let txn = db.transaction_with(opts.clone());
                    let mut ops = Vec::new();
                    for _ in 0..rng.usize(1..=3) {
                        let k = rng.u64(0..KEYS);
                        ops.push(Op::Read(
                            k,
                            parse(txn.get_in(&lists, k.to_string()).expect("get")),
                        ));
                    }
                    for j in 0..rng.u64(0..=2) {
                        let (k, v) = (rng.u64(0..KEYS), (t * 1_000_000 + i) * 10 + j);
                        txn.merge_in(&lists, k.to_string(), v.to_string());
                        ops.push(Op::Append(k, v));
                    }
                    let result = txn.commit();
                    let mut h = history.lock().expect("history");
                    match result {
                        Ok(()) => h.0.push(Txn { ops }),
                        Err(e) if e.kind() == ErrorKind::Conflict => {
                            h.1.extend(ops.iter().filter_map(|op| match op {
                                Op::Append(_, v) => Some(*v),
                                Op::Read(..) => None,
                            }));
                        }
                        Err(e) => panic!("commit: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let (mut committed, aborted) = Arc::try_unwrap(history)
        .expect("sole owner")
        .into_inner()
        .expect("history");
    let last = db.transaction();
    committed.push(Txn {
        ops: (0..KEYS)
            .map(|k| Op::Read(k, parse(last.get_in(&lists, k.to_string()).expect("get"))))
            .collect(),
    });
    eprintln!(
        "list append: {} committed, {} appends refused",
        committed.len() - 1,
        aborted.len()
    );
    assert!(committed.len() > 1, "nothing committed");
    if let Err(anomaly) = check(&committed, &aborted) {
        panic!("serializable history with an anomaly: {anomaly}");
    }
}
