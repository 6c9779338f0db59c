//! A failed WAL fsync (or append) poisons the database: the failing write
//! returns `Io`, every later write returns `Poisoned`, reads (gets, scans,
//! snapshots) keep working, and a reopen restores writing with every
//! acknowledged write in place, also after a power loss for the synced ones.

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{Db, ErrorKind, Options, WriteBatch, WriteOptions};

use crate::support::{Model, assert_view_matches, power_loss, read_all};

const DIR: &str = "/db";

/// A memtable large enough that no flush runs: the only fsyncs and
/// appends are the WAL's, so the injected fault hits the write path.
fn opts(fs: &FaultFs) -> Options {
    Options::default().fs(fs.clone())
}

fn synced(k: &str, v: &str) -> (WriteBatch, WriteOptions) {
    let mut b = WriteBatch::new();
    b.put(k, v);
    (b, WriteOptions::default().sync(true))
}

/// Writes some puts, a few synced, all acknowledged; returns the model.
fn fill(db: &Db) -> Model {
    let mut model = Model::new();
    for i in 0..60 {
        let (k, v) = (format!("k{i:03}"), format!("value {i} {}", "x".repeat(100)));
        if i % 10 == 9 {
            let (b, wo) = synced(&k, &v);
            db.write_opt(b, &wo).expect("synced put");
        } else {
            db.put(&k, &v).expect("put");
        }
        model.insert(k.into_bytes(), v.into_bytes());
    }
    model
}

fn assert_poisoned(db: &Db, model: &Model) {
    for r in [
        db.put("new", "v"),
        db.delete("k000"),
        {
            let (b, wo) = synced("new", "v");
            db.write_opt(b, &wo)
        },
        db.write({
            let mut b = WriteBatch::new();
            b.put("x", "1").put("y", "2");
            b
        }),
    ] {
        let err = r.expect_err("writes after a failed WAL write are refused");
        assert_eq!(err.kind(), ErrorKind::Poisoned, "{err}");
        assert!(
            err.to_string().contains("reopen"),
            "the message says what to do: {err}"
        );
    }
    // Reads work: gets, scans both ways, snapshots.
    let probes: Vec<Vec<u8>> = vec![b"new".to_vec(), b"x".to_vec()];
    assert_view_matches(db, model, &probes, "poisoned db");
    let snap = db.snapshot();
    assert_view_matches(&snap, model, &probes, "snapshot of a poisoned db");
}

/// Everything in `model` is in `db`; `maybe` may or may not be.
fn assert_recovered(db: &Db, model: &Model, maybe: (&str, &str), ctx: &str) {
    let mut state = read_all(db);
    if let Some(v) = state.remove(maybe.0.as_bytes()) {
        assert_eq!(
            v,
            maybe.1.as_bytes(),
            "{ctx}: the failed write, if kept, is whole"
        );
    }
    assert!(
        state == *model,
        "{ctx}: recovered state differs from the acknowledged writes"
    );
}

#[test]
fn failed_fsync_poisons_writes_but_not_reads() {
    let fs = FaultFs::new();
    let db = Db::open(DIR, opts(&fs)).expect("open");
    let model = fill(&db);

    fs.fail_nth_sync(1);
    let (b, wo) = synced("doomed", "value");
    let err = db.write_opt(b, &wo).expect_err("the fsync fails");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(
        err.to_string().contains(".wal"),
        "the error names the WAL: {err}"
    );
    // The fault fired once; the database stays poisoned regardless.
    assert_poisoned(&db, &model);
    drop(db.close());

    let db = Db::open(DIR, opts(&fs)).expect("reopen");
    assert_recovered(&db, &model, ("doomed", "value"), "reopen");
    db.put("after", "reopen")
        .expect("writes work again after reopen");
    assert_eq!(
        db.get("after").expect("get").as_deref(),
        Some(&b"reopen"[..])
    );
    db.close().expect("close");
}

#[test]
fn failed_fsync_then_power_loss_keeps_synced_writes() {
    let fs = FaultFs::new();
    let db = Db::open(DIR, opts(&fs)).expect("open");
    let mut model = fill(&db);
    let (b, wo) = synced("last-synced", "yes");
    db.write_opt(b, &wo).expect("synced put");
    model.insert(b"last-synced".to_vec(), b"yes".to_vec());

    fs.fail_nth_sync(1);
    let (b, wo) = synced("doomed", "value");
    assert_eq!(
        db.write_opt(b, &wo).expect_err("fsync fails").kind(),
        ErrorKind::Io
    );
    assert_poisoned(&db, &model);
    power_loss(&fs, db, CrashMode::DropUnsynced);

    let db = Db::open(DIR, opts(&fs)).expect("open after power loss");
    // Everything was synced before the failure, so nothing may be missing.
    assert_recovered(&db, &model, ("doomed", "value"), "after power loss");
    db.close().expect("close");
}

#[test]
fn failed_append_poisons_writes_but_not_reads() {
    let fs = FaultFs::new();
    let db = Db::open(DIR, opts(&fs)).expect("open");
    let model = fill(&db);

    fs.fail_nth_write(1);
    let err = db.put("doomed", "value").expect_err("the append fails");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_poisoned(&db, &model);
    drop(db.close());

    // The half-written record is a torn tail: dropped and reported.
    let db = Db::open(DIR, opts(&fs)).expect("reopen");
    assert_eq!(db.stats().dropped_log_tails.len(), 1, "{:?}", db.stats());
    assert_recovered(
        &db,
        &model,
        ("doomed", "value"),
        "reopen after failed append",
    );
    db.put("after", "reopen")
        .expect("writes work again after reopen");
    db.close().expect("close");
}
