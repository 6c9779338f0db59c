//! Reads stay exact while background work (memtable rotation, flushes,
//! compactions — whatever the engine does on its own) rewrites the data
//! underneath: a writer overwrites and deletes a small key space through a
//! 4 KiB memtable and checks every key and a full scan against a
//! `BTreeMap` every 50 writes; meanwhile two readers check that each
//! snapshot reads the same forwards, backwards and by point lookups, and
//! never changes.
//!
//! `RILLKV_BACKGROUND_OPS` sets the number of write batches (default 4000).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rillkv::{Db, Options, WriteBatch};

use crate::support::{
    Model, assert_pairs_eq, assert_view_matches, collect, collect_rev, env_num, seed, show,
};

fn reader(db: Db, stop: Arc<AtomicBool>) -> u64 {
    let mut checked = 0;
    while !stop.load(Ordering::Relaxed) {
        let snap = db.snapshot();
        let fwd = collect(snap.iter());
        let mut rev = collect_rev(snap.iter());
        rev.reverse();
        assert_pairs_eq(&rev, &fwd, "a snapshot read backwards");
        for (k, v) in fwd.iter().step_by(5) {
            assert_eq!(
                snap.get(k).expect("get").map(|g| show(&g)),
                Some(show(v)),
                "snapshot get({}) disagrees with its scan",
                show(k)
            );
        }
        std::thread::yield_now();
        let again = collect(snap.iter());
        assert_pairs_eq(&again, &fwd, "the same snapshot scanned again");
        checked += 1;
    }
    checked
}

#[test]
fn reads_match_the_model_while_background_work_runs() {
    let seed = seed("reads_match_model_during_background_work");
    let mut rng = fastrand::Rng::with_seed(seed);
    let batches = env_num("RILLKV_BACKGROUND_OPS", 4000);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().memtable_size(4096)).expect("open");
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop) = (db.clone(), Arc::clone(&stop));
            std::thread::spawn(move || reader(db, stop))
        })
        .collect();

    let mut model = Model::new();
    for op in 1..=batches {
        let mut b = WriteBatch::new();
        for _ in 0..rng.usize(1..4) {
            let k = format!("k{:03}", rng.u16(0..400)).into_bytes();
            if rng.u8(0..5) == 0 {
                b.delete(&k);
                model.remove(&k);
            } else {
                let mut v = format!("op{op}:").into_bytes();
                v.resize(v.len() + rng.usize(0..100), b'x');
                b.put(&k, &v);
                model.insert(k, v);
            }
        }
        db.write(b).unwrap_or_else(|e| panic!("batch {op}: {e}"));
        if op % 50 == 0 {
            assert_view_matches(&db, &model, &[], &format!("after {op} batches"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let scans: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    assert_view_matches(&db, &model, &[], &format!("after {batches} batches"));
    println!(
        "reads_match_model_during_background_work: {batches} batches, {scans} snapshot checks"
    );
    db.close().expect("close");

    let db = Db::open(dir.path(), Options::default().memtable_size(4096)).expect("reopen");
    assert_view_matches(
        &db,
        &model,
        &[],
        &format!("after {batches} batches, reopened"),
    );
    db.close().expect("close");
}
