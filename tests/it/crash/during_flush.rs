//! Power loss or an I/O failure at any step of a flush loses no
//! acknowledged synced write, leaves no orphan table behind once the
//! database is reopened, and the reopened database keeps working.
//!
//! A flush seals the memtable (fsync the WAL, create the next one, fsync
//! the directory), writes the table (create, appends, fsync, directory
//! fsync), appends the edit to the manifest (append, fsync) and deletes the
//! WAL the previous edit retired (deletions lag one edit). For every `n`, a fresh `FaultFs` lets `n` mutating operations of
//! `Db::flush` succeed and freezes the disk after them; the handle is
//! dropped, `crash(mode)` makes the image a reboot sees, and the image is
//! reopened. The same is done for single failed writes and fsyncs (the
//! process then restarts without a power loss, or with one), and for an
//! open that recovers a memtable and writes it to a table.
//!
//! Knob: `RILLKV_CRASH_SEEDS` (seeds for the partial-keep crash modes,
//! default 2).

use std::path::Path;

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{CompactionOptions, Db, Options, WriteBatch, WriteOptions};

use crate::support::{
    Model, assert_no_orphan_tables, env_num, key, manifest_names, read_all, show, table_count,
    temp_names,
};

const DIR: &str = "/db";

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn options(fs: &FaultFs) -> Options {
    // Big enough that only explicit flushes seal a memtable; small blocks
    // so that a table takes many appends; no background compaction, so that
    // the operations counted are the flush's alone.
    Options::default()
        .fs(fs.clone())
        .memtable_size(256 << 10)
        .block_size(1024)
        .compaction(CompactionOptions::default().background(false))
}

fn value(i: u64, round: u32) -> Vec<u8> {
    format!("value-{i:04}-{round}-{}", "v".repeat((i % 29) as usize)).into_bytes()
}

/// The database states a recovery may legitimately produce: the state
/// after all synced writes, then after each unsynced write on top.
struct Expected {
    states: Vec<Model>,
}

impl Expected {
    fn synced(&self) -> &Model {
        &self.states[0]
    }

    /// Which state `got` is; panics with the first difference from the
    /// synced state if it is none of them.
    fn position(&self, got: &Model, ctx: &str) -> usize {
        if let Some(i) = self.states.iter().position(|s| s == got) {
            return i;
        }
        let synced = self.synced();
        let lost = synced
            .iter()
            .find(|(k, v)| got.get(*k) != Some(*v))
            .map(|(k, v)| format!("{} = {} is missing or changed", show(k), show(v)));
        let extra = got
            .iter()
            .find(|(k, _)| self.states.iter().all(|s| !s.contains_key(*k)))
            .map(|(k, v)| format!("{} = {} was never written", show(k), show(v)));
        panic!(
            "{ctx}: recovered {} keys matching no acknowledged prefix ({} states); {:?} {:?}",
            got.len(),
            self.states.len(),
            lost,
            extra
        );
    }
}

/// Opens a fresh database on `fs`, flushes a first round of synced writes
/// into a table, then makes synced overwrites and deletes and a few
/// unsynced writes that stay in the memtable. Returns the open handle.
fn build(fs: &FaultFs) -> (Db, Expected) {
    let db = Db::open(DIR, options(fs)).expect("open");
    let sync = WriteOptions::default().sync(true);
    let mut model = Model::new();
    for chunk in (0..300u64).collect::<Vec<_>>().chunks(10) {
        let mut b = WriteBatch::new();
        for &i in chunk {
            b.put(key(i), value(i, 0));
            model.insert(key(i), value(i, 0));
        }
        db.write_opt(b, &sync).expect("write");
    }
    db.flush().expect("first flush");
    for i in (0..300u64).step_by(3) {
        db.put(key(i), value(i, 1)).expect("put");
        model.insert(key(i), value(i, 1));
    }
    for i in (1..300u64).step_by(7) {
        db.delete(key(i)).expect("delete");
        model.remove(&key(i));
    }
    for i in 300..360u64 {
        db.put(key(i), value(i, 1)).expect("put");
        model.insert(key(i), value(i, 1));
    }
    // One synced write covers every earlier one.
    let mut marker = WriteBatch::new();
    marker.put(b"marker", b"synced");
    db.write_opt(marker, &sync).expect("synced marker");
    model.insert(b"marker".to_vec(), b"synced".to_vec());
    let mut states = vec![model.clone()];
    for i in 0..5u64 {
        db.put(key(1000 + i), b"unsynced").expect("put");
        model.insert(key(1000 + i), b"unsynced".to_vec());
        states.push(model.clone());
    }
    (db, Expected { states })
}

fn crash_modes() -> Vec<CrashMode> {
    let mut modes = vec![CrashMode::DropUnsynced, CrashMode::KeepAll];
    for seed in 0..env_num("RILLKV_CRASH_SEEDS", 2) {
        modes.push(CrashMode::KeepPrefix { seed });
        modes.push(CrashMode::KeepPrefixThenGarbage { seed });
        modes.push(CrashMode::KeepSubset { seed });
    }
    modes
}

/// Reopens after a crash and checks everything: a legitimate state, no
/// orphans once the recovered memtables are flushed, exactly one manifest,
/// no temporary files, and that writes, flushes and another reopen work.
/// Returns which state was recovered.
fn reopen_and_check(fs: &FaultFs, expected: &Expected, ctx: &str) -> usize {
    let db = Db::open(DIR, options(fs)).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    let got = read_all(&db);
    let which = expected.position(&got, ctx);
    for (k, v) in expected.synced() {
        assert_eq!(
            db.get(k).expect("get").as_deref(),
            Some(v.as_slice()),
            "{ctx}: synced key {} lost",
            show(k)
        );
    }
    db.flush()
        .unwrap_or_else(|e| panic!("{ctx}: flush after reopen failed: {e}"));
    assert_no_orphan_tables(&db, fs, dir(), ctx);
    assert_eq!(manifest_names(fs, dir()).len(), 1, "{ctx}: manifests");
    assert!(
        temp_names(fs, dir()).is_empty(),
        "{ctx}: temporary files left"
    );
    assert!(
        table_count(&db.stats()) >= 1,
        "{ctx}: the first flush's table survives"
    );

    // The database keeps working: more synced writes, a flush, a reopen.
    let mut model = got;
    let sync = WriteOptions::default().sync(true);
    for i in 0..20u64 {
        let mut b = WriteBatch::new();
        b.put(key(i * 11), b"after-crash").delete(key(i * 11 + 1));
        db.write_opt(b, &sync)
            .unwrap_or_else(|e| panic!("{ctx}: write after reopen failed: {e}"));
        model.insert(key(i * 11), b"after-crash".to_vec());
        model.remove(&key(i * 11 + 1));
    }
    db.flush()
        .unwrap_or_else(|e| panic!("{ctx}: second flush after reopen failed: {e}"));
    assert_eq!(
        read_all(&db),
        model,
        "{ctx}: after writes on the recovered db"
    );
    db.close().expect("close");
    let db = Db::open(DIR, options(fs)).unwrap_or_else(|e| panic!("{ctx}: second reopen: {e}"));
    assert_eq!(read_all(&db), model, "{ctx}: after the second reopen");
    db.flush().expect("flush");
    assert_no_orphan_tables(&db, fs, dir(), ctx);
    db.close().expect("close");
    which
}

/// Mutating operations a fault-free `Db::flush` of the built state takes.
fn flush_op_count() -> u64 {
    let fs = FaultFs::new();
    let (db, _) = build(&fs);
    let before = fs.op_count();
    db.flush().expect("flush");
    let ops = fs.op_count() - before;
    db.close().expect("close");
    ops
}

#[test]
fn power_loss_at_every_step_of_a_flush_loses_no_synced_write() {
    let total = flush_op_count();
    assert!(total >= 12, "a flush takes many steps, took {total}");
    let mut cases = 0;
    let mut recovered_states = std::collections::BTreeSet::new();
    for n in 0..=total {
        for mode in crash_modes() {
            let fs = FaultFs::new();
            let (db, expected) = build(&fs);
            fs.fail_after_ops(n);
            let result = db.flush();
            if n >= total {
                result.expect("the flush needs only `total` operations");
            } else if n + 3 < total {
                // (The last three steps — the empty manifest record that
                // releases the retired WAL, its fsync, and deleting the
                // WAL — are best effort: a WAL left behind is deleted at
                // the next open.)
                assert!(
                    result.is_err(),
                    "n = {n}: the frozen disk must fail the flush"
                );
            }
            drop(db);
            fs.crash(mode);
            let ctx = format!("power loss after {n} of {total} flush operations, {mode:?}");
            recovered_states.insert(reopen_and_check(&fs, &expected, &ctx));
            cases += 1;
        }
    }
    eprintln!(
        "{cases} crash cases over {total} flush operations; recovered unsynced prefixes {recovered_states:?}"
    );
    assert!(
        recovered_states.contains(&0),
        "some crash lost the unsynced writes"
    );
}

#[test]
fn a_failed_write_or_fsync_during_flush_loses_nothing() {
    let total = flush_op_count();
    let mut failures = 0;
    for which in ["write", "sync"] {
        for k in 1..=total {
            for crash in [false, true] {
                let fs = FaultFs::new();
                let (db, expected) = build(&fs);
                match which {
                    "write" => fs.fail_nth_write(k),
                    _ => fs.fail_nth_sync(k),
                }
                let result = db.flush();
                fs.clear_faults();
                let ctx = format!("{which} #{k} of the flush fails, power loss: {crash}");
                if let Err(e) = &result {
                    failures += 1;
                    // The failure is reported, and later writes are refused
                    // until the database is reopened.
                    let again = db.put(b"after", b"failure");
                    assert!(
                        again.is_err(),
                        "{ctx}: a write after a failed flush ({e}) succeeded"
                    );
                }
                drop(db);
                if crash {
                    fs.crash(CrashMode::DropUnsynced);
                } else {
                    // A process restart: every byte written survives.
                    fs.crash(CrashMode::KeepAll);
                }
                let which_state = reopen_and_check(&fs, &expected, &ctx);
                if result.is_ok() || !crash {
                    assert_eq!(
                        which_state,
                        expected.states.len() - 1,
                        "{ctx}: nothing acknowledged may be lost without a power loss"
                    );
                }
            }
        }
    }
    assert!(failures > 0, "some injected faults hit the flush");
    eprintln!("{failures} failed flushes recovered");
}

/// An open replays the WAL and writes the recovered memtable to a table. A
/// power loss or a killed process at any step of that open (and of the
/// flush that follows it) must leave a database that opens again with
/// every write.
#[test]
fn power_loss_while_flushing_recovered_memtables_loses_nothing() {
    let prepare = || {
        let fs = FaultFs::new();
        let (db, expected) = build(&fs);
        db.close().expect("close");
        (fs, expected)
    };
    // Mutating operations of an open that recovers one memtable (and of a
    // flush right after it).
    let total = {
        let (fs, _) = prepare();
        let before = fs.op_count();
        let db = Db::open(DIR, options(&fs)).expect("open");
        db.flush().expect("flush");
        let ops = fs.op_count() - before;
        db.close().expect("close");
        ops
    };
    let mut failed = Vec::new();
    let mut first_failure = None;
    for n in 0..=total {
        for mode in [CrashMode::DropUnsynced, CrashMode::KeepAll] {
            let (fs, expected) = prepare();
            fs.fail_after_ops(n);
            if let Ok(db) = Db::open(DIR, options(&fs)) {
                // Flushes anything the open left in memtables.
                let _ = db.flush();
                drop(db);
            }
            fs.crash(mode);
            let ctx =
                format!("crash after {n} of {total} operations of open + recovery flush, {mode:?}");
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                reopen_and_check(&fs, &expected, &ctx)
            }));
            match result {
                // Closing fsynced the WAL: nothing may be lost.
                Ok(which) => assert_eq!(which, expected.states.len() - 1, "{ctx}"),
                Err(panic) => {
                    failed.push((n, mode));
                    if first_failure.is_none() {
                        let msg = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        first_failure = Some(msg);
                    }
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} crash points failed: {failed:?}\nfirst failure: {}",
        failed.len(),
        2 * (total + 1),
        first_failure.unwrap_or_default()
    );
}
