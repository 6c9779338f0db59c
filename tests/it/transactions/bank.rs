//! The bank: 16 threads move random amounts between 100 accounts in
//! serializable transactions (read both balances, write both) for
//! `RILLKV_STRESS_SECS` seconds (default 2), while a small memtable makes
//! flushes and compactions run. A checker thread sums all accounts in a
//! snapshot, over and over: the total never changes. After a clean close
//! and reopen it is still the same, and every account is non-negative.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rillkv::{Db, ErrorKind, Isolation, Options, TransactionOptions};

use super::{n, num};
use crate::support::{env_num, seed};

pub const ACCOUNTS: u64 = 100;
pub const INITIAL: u64 = 1_000;

pub fn account(i: u64) -> Vec<u8> {
    format!("acct/{i:03}").into_bytes()
}

/// Creates the accounts unless they exist (one transaction: all or none).
pub fn create_accounts(db: &Db) {
    if db.get(account(0)).expect("get").is_some() {
        return;
    }
    let txn = db.transaction();
    for i in 0..ACCOUNTS {
        txn.put(account(i), n(INITIAL));
    }
    txn.commit().expect("create accounts");
}

/// The sum of all balances in one snapshot, and the number of accounts.
pub fn total(db: &Db) -> (u64, usize) {
    let snap = db.snapshot();
    let mut sum = 0;
    let mut count = 0;
    for item in snap.prefix("acct/") {
        let (_, v) = item.expect("scan");
        sum += num(Some(v));
        count += 1;
    }
    (sum, count)
}

/// Moves a random amount between two random accounts in one serializable
/// transaction; `extra` is written in the same transaction. Returns
/// whether it committed (false: it lost every retry to conflicts).
pub fn transfer(db: &Db, rng: &mut fastrand::Rng, extra: Option<(&[u8], &[u8])>) -> bool {
    let from = rng.u64(0..ACCOUNTS);
    let to = (from + rng.u64(1..ACCOUNTS)) % ACCOUNTS;
    let amount = rng.u64(1..=100);
    let opts = TransactionOptions::default()
        .isolation(Isolation::Serializable)
        .max_retries(50);
    let result = db.run_transaction_with(opts, |txn| {
        let a = num(txn.get(account(from))?);
        let b = num(txn.get(account(to))?);
        let amount = amount.min(a);
        txn.put(account(from), n(a - amount));
        txn.put(account(to), n(b + amount));
        if let Some((k, v)) = extra {
            txn.put(k, v);
        }
        Ok(())
    });
    match result {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::Conflict => false,
        Err(e) => panic!("transfer failed: {e}"),
    }
}

pub fn opts() -> Options {
    Options::default().memtable_size(32 << 10)
}

#[test]
fn bank_total_never_changes() {
    let secs = env_num("RILLKV_STRESS_SECS", 2);
    let base_seed = seed("bank_total_never_changes");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    create_accounts(&db);
    let expected = ACCOUNTS * INITIAL;
    let stop = Arc::new(AtomicBool::new(false));
    let (committed, gave_up) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..16u64)
        .map(|t| {
            let (db, stop) = (db.clone(), Arc::clone(&stop));
            let (committed, gave_up) = (Arc::clone(&committed), Arc::clone(&gave_up));
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(base_seed ^ t);
                while !stop.load(Ordering::Relaxed) {
                    let counter = if transfer(&db, &mut rng, None) {
                        &committed
                    } else {
                        &gave_up
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut checks = 0;
    while Instant::now() < deadline {
        assert_eq!(
            total(&db),
            (expected, ACCOUNTS as usize),
            "after {checks} checks"
        );
        checks += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let c = db.stats().counters;
    let done = committed.load(Ordering::Relaxed);
    eprintln!(
        "bank: {done} transfers in {secs} s, {} given up; {} commits, {} conflicts \
         ({} read, {} write, {} too old), {checks} snapshot checks, {} flushes",
        gave_up.load(Ordering::Relaxed),
        c.txn_commits,
        c.txn_conflicts(),
        c.txn_conflicts_read,
        c.txn_conflicts_write,
        c.txn_conflicts_too_old,
        c.flushes
    );
    assert!(done > 0, "no transfer committed");
    assert_eq!(total(&db), (expected, ACCOUNTS as usize));
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(
        total(&db),
        (expected, ACCOUNTS as usize),
        "after a clean reopen"
    );
}
