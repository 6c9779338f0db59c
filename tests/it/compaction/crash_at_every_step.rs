//! A power loss at any step of `Db::compact` — its flush, the merge rounds
//! with their intermediate tables, the output tables, the manifest edit,
//! the lagged deletions — loses no synced write, resurrects no deleted
//! key, leaves no orphan table once the database is reopened, and the
//! reopened database compacts fine.
//!
//! The database is built once (background compaction off, six runs of
//! overlapping keys with puts, deletes and `U64Add` merges, every write
//! synced) and its image copied into a fresh `FaultFs` for every crash
//! point `n`: open, a few synced writes left in the memtable, let `n`
//! mutating operations of `compact` succeed and freeze the disk, drop the
//! handle, `crash(mode)`, reopen and check. The loop ends at the first `n`
//! whose compaction finishes without reaching the fault; the number of
//! crash points is printed.
//!
//! A second scenario injects one failed fsync or one failed append (no
//! crash): `compact` returns an error, every key still reads right, and the
//! database reopens cleanly with no orphan table.
//!
//! Knob: `RILLKV_CRASH_STRIDE` (test every k-th crash point for the
//! partial-keep crash modes; default 5).

use std::path::Path;

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, Options, WriteBatch, WriteOptions};

use crate::support::{
    Files, Model, add, assert_no_orphan_tables, assert_pairs_eq, assert_view_matches, collect,
    dir_contents, env_num, fault_image, key, le, pairs, value,
};

const DIR: &str = "/db";

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn options(fs: &FaultFs) -> Options {
    // Only explicit flushes seal a memtable; small blocks so a table takes
    // many appends; fan-in 2 so that six runs need three merge rounds with
    // intermediate tables; outputs cut at 64 KiB so there are several.
    Options::default()
        .fs(fs.clone())
        .memtable_size(1 << 20)
        .block_size(1024)
        .merge_operator(U64Add)
        .compaction(
            CompactionOptions::default()
                .background(false)
                .max_fan_in(2)
                .max_memory(8 << 20)
                .merge_workers(1)
                .target_table_size(64 << 10),
        )
}

fn counter(i: u64) -> Vec<u8> {
    format!("cnt-{i:02}").into_bytes()
}

/// Keys never written, looked up to catch resurrections and strays.
fn probes() -> Vec<Vec<u8>> {
    vec![b"a".to_vec(), key(9999), b"cnt-".to_vec(), b"zzz".to_vec()]
}

/// Writes one round of synced batches: overwrites, deletes and merges.
fn write_round(db: &Db, model: &mut Model, rng: &mut fastrand::Rng, counter_base: &mut u64) {
    let sync = WriteOptions::default().sync(true);
    for _ in 0..8 {
        let mut b = WriteBatch::new();
        for _ in 0..15 {
            let k = key(rng.u64(0..400));
            match rng.u8(0..10) {
                0 => {
                    b.delete(&k);
                    model.remove(&k);
                }
                _ => {
                    *counter_base += 1;
                    let v = value(*counter_base, rng.usize(60..300));
                    b.put(&k, &v);
                    model.insert(k, v);
                }
            }
        }
        for _ in 0..3 {
            let c = counter(rng.u64(0..20));
            if rng.u8(0..8) == 0 {
                b.delete(&c);
                model.remove(&c);
            } else {
                let d = rng.u64(1..1000);
                b.merge(&c, le(d));
                let v = add(model.get(&c), d);
                model.insert(c, v);
            }
        }
        db.write_opt(b, &sync).expect("synced batch");
    }
}

/// The base image: six flushed runs; the model of its contents.
fn base_image() -> (Files, Model) {
    let fs = FaultFs::new();
    let db = Db::open(DIR, options(&fs)).expect("open");
    let mut model = Model::new();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut n = 0;
    for _ in 0..6 {
        write_round(&db, &mut model, &mut rng, &mut n);
        db.flush().expect("flush");
    }
    assert!(db.stats().runs.len() >= 6, "six runs to compact");
    db.close().expect("close");
    (dir_contents(&fs, dir()), model)
}

/// Synced writes that stay in the memtable, so that the flush `compact`
/// starts with is crash-tested too.
fn tail(db: &Db, model: &mut Model) {
    let mut b = WriteBatch::new();
    for i in (0..400).step_by(37) {
        let v = value(1_000_000 + i, 40);
        b.put(key(i), &v);
        model.insert(key(i), v);
    }
    b.delete(key(5));
    model.remove(&key(5));
    b.merge(counter(3), le(5));
    let v = add(model.get(&counter(3)), 5);
    model.insert(counter(3), v);
    db.write_opt(b, &WriteOptions::default().sync(true))
        .expect("tail");
}

/// Reopens after a crash or failure and checks everything: contents,
/// no orphans, a working compaction, no orphans after another reopen.
fn check_reopened(fs: &FaultFs, model: &Model, ctx: &str) {
    let db = Db::open(DIR, options(fs)).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    // Recovered memtables are flushed in the background: wait for them.
    db.flush().unwrap_or_else(|e| panic!("{ctx}: flush: {e}"));
    assert_view_matches(&db, model, &probes(), &format!("{ctx}: after reopen"));
    assert_no_orphan_tables(&db, fs, dir(), &format!("{ctx}: after reopen"));
    db.compact()
        .unwrap_or_else(|e| panic!("{ctx}: compact after reopen: {e}"));
    assert_eq!(db.stats().runs.len(), 1, "{ctx}: one run after compact");
    assert_pairs_eq(
        &collect(db.iter()),
        &pairs(model),
        &format!("{ctx}: after a compaction following the reopen"),
    );
    db.close().expect("close");
    let db = Db::open(DIR, options(fs)).unwrap_or_else(|e| panic!("{ctx}: second reopen: {e}"));
    db.flush().expect("flush");
    assert_no_orphan_tables(&db, fs, dir(), &format!("{ctx}: after the second reopen"));
    assert_pairs_eq(
        &collect(db.iter()),
        &pairs(model),
        &format!("{ctx}: after the second reopen"),
    );
    db.close().expect("close");
}

/// Runs crash point `n` with `mode`. Returns whether `compact` finished
/// without reaching the fault (the loop's end).
fn crash_point(image: &Files, base: &Model, n: u64, mode: CrashMode) -> bool {
    let ctx = format!("crash after {n} ops ({mode:?})");
    let fs = fault_image(dir(), image);
    let db = Db::open(DIR, options(&fs)).expect("open image");
    db.flush().expect("flush after open");
    let mut model = base.clone();
    tail(&db, &mut model);
    let before = fs.op_count();
    fs.fail_after_ops(n);
    let result = db.compact();
    let used = fs.op_count() - before;
    let completed = result.is_ok() && used <= n;
    // Close while the disk is frozen (nothing it does reaches the image;
    // `close` rather than `drop`, which could leave a background thread
    // holding the last handle past the crash), then lose power.
    let _ = db.close();
    fs.crash(mode);
    check_reopened(&fs, &model, &ctx);
    completed
}

#[test]
fn power_loss_at_every_step_of_a_compaction() {
    let (image, base) = base_image();
    let stride = env_num("RILLKV_CRASH_STRIDE", 5).max(1);
    let mut n = 0;
    loop {
        let done = crash_point(&image, &base, n, CrashMode::DropUnsynced);
        if n % stride == 0 {
            crash_point(&image, &base, n, CrashMode::KeepPrefix { seed: n });
            crash_point(&image, &base, n, CrashMode::KeepSubset { seed: n });
            crash_point(&image, &base, n, CrashMode::KeepAll);
        }
        if done {
            break;
        }
        n += 1;
        assert!(n < 100_000, "compact never finished");
    }
    eprintln!("compaction crash points tested: {n} (the compaction needs {n} mutating ops)");
    assert!(
        n > 50,
        "a compaction of six runs in rounds takes many steps"
    );
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Sync,
    Write,
}

/// Fails the `n`-th fsync or append of `compact`, without a crash.
/// Returns whether the compaction succeeded (the fault was past its end).
fn failure_point(image: &Files, base: &Model, n: u64, fault: Fault) -> bool {
    let ctx = format!("{fault:?} #{n} fails");
    let fs = fault_image(dir(), image);
    let db = Db::open(DIR, options(&fs)).expect("open image");
    db.flush().expect("flush after open");
    let mut model = base.clone();
    tail(&db, &mut model);
    match fault {
        Fault::Sync => fs.fail_nth_sync(n),
        Fault::Write => fs.fail_nth_write(n),
    }
    let result = db.compact();
    fs.clear_faults();
    let ok = result.is_ok();
    // Failed or not, every key reads right on the open handle.
    assert_view_matches(
        &db,
        &model,
        &probes(),
        &format!("{ctx}: after compact returned {result:?}"),
    );
    let _ = db.close(); // may report the poisoning
    check_reopened(&fs, &model, &ctx);
    ok
}

/// Fails each `n`-th `fault` in turn until a compaction gets past them all.
fn every_failure_point(fault: Fault) {
    let (image, base) = base_image();
    let mut n = 1;
    while !failure_point(&image, &base, n, fault) {
        n += 1;
        assert!(n < 100_000, "compact never succeeded");
    }
    eprintln!("{fault:?}: {} failure points tested", n - 1);
    assert!(n > 2, "{fault:?}: a compaction has more than one");
}

#[test]
fn a_failed_fsync_during_compaction_loses_nothing() {
    every_failure_point(Fault::Sync);
}

#[test]
fn a_failed_append_during_compaction_loses_nothing() {
    every_failure_point(Fault::Write);
}
