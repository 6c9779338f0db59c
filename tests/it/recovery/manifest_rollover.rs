//! A manifest that outgrows `max_manifest_size` is rolled over: a new
//! manifest starts with a snapshot of the live tables, `CURRENT` moves to
//! it, the old one is deleted — so the directory always holds exactly one
//! manifest, the one `CURRENT` names — and reopening finds every table.
//! A power loss at any step of a flush that rolls the manifest loses no
//! synced write and still leaves one manifest after reopen.

use std::collections::BTreeSet;
use std::path::Path;

use rillkv::fs::{CrashMode, FaultFs, Fs, StdFs};
use rillkv::{CompactionOptions, Db, Options, WriteBatch, WriteOptions};

use crate::support::format::current_naming;
use crate::support::{
    Model, assert_no_orphan_tables, key, live_tables, manifest_names, read_all, table_count,
    temp_names,
};

/// Checks that `dir` holds exactly one manifest, numbered `number`, and
/// that `CURRENT` names it with a valid checksum.
fn assert_single_manifest(fs: &dyn Fs, dir: &Path, number: u64, ctx: &str) {
    let names = manifest_names(fs, dir);
    let want = format!("MANIFEST-{number:06}");
    assert_eq!(
        names,
        vec![want.clone()],
        "{ctx}: manifests in the directory"
    );
    let current = fs.read(&dir.join("CURRENT")).expect("read CURRENT");
    assert_eq!(current[..], current_naming(&want), "{ctx}: CURRENT");
    assert!(
        temp_names(fs, dir).is_empty(),
        "{ctx}: temporary files left"
    );
}

/// One round: new keys and overwrites, then a flush (one table, one
/// manifest edit).
fn round(db: &Db, model: &mut Model, r: u64) {
    let mut b = WriteBatch::new();
    for i in 0..20 {
        let k = key(r * 10 + i);
        let v = format!("round-{r}-{i}").into_bytes();
        b.put(&k, &v);
        model.insert(k, v);
    }
    if r.is_multiple_of(3) {
        b.delete(key(r * 5));
        model.remove(&key(r * 5));
    }
    db.write_opt(b, &WriteOptions::default().sync(true))
        .expect("write");
    db.flush().expect("flush");
}

#[test]
fn many_flushes_roll_the_manifest_and_keep_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    // Background compaction would merge the tables (and its edits would
    // roll the manifest too); this scenario keeps one table per flush.
    let opts = || {
        Options::default()
            .max_manifest_size(1024)
            .compaction(CompactionOptions::default().background(false))
    };
    let db = Db::open(path, opts()).expect("open");
    let mut model = Model::new();
    let mut manifests = BTreeSet::new();
    let first = db.stats().manifest_number;
    manifests.insert(first);
    for r in 0..60 {
        round(&db, &mut model, r);
        let number = db.stats().manifest_number;
        manifests.insert(number);
        let ctx = format!("after flush {r}");
        assert_single_manifest(&StdFs, path, number, &ctx);
        let size = std::fs::metadata(path.join(format!("MANIFEST-{number:06}")))
            .expect("manifest metadata")
            .len();
        // Rolled once it reached the limit: at most a snapshot plus an edit
        // beyond it (a snapshot of many tables alone may exceed it).
        let tables = table_count(&db.stats()) as u64;
        assert!(
            size < 1024 + 200 * (tables + 2),
            "{ctx}: manifest of {size} bytes for {tables} tables"
        );
    }
    assert!(
        manifests.len() >= 5,
        "60 flushes with a 1 KiB limit roll the manifest repeatedly: {manifests:?}"
    );
    assert_eq!(table_count(&db.stats()), 60);
    // Manifests and tables share the file-number counter: no collisions.
    let tables = live_tables(&db.stats());
    assert!(
        tables.is_disjoint(&manifests),
        "{tables:?} vs {manifests:?}"
    );
    assert_no_orphan_tables(&db, &StdFs, path, "before reopen");
    assert_eq!(read_all(&db), model);
    db.close().expect("close");

    let db = Db::open(path, opts()).expect("reopen");
    assert_eq!(
        live_tables(&db.stats()),
        tables,
        "every table survives the reopen"
    );
    assert_eq!(read_all(&db), model, "all data after reopen");
    let number = db.stats().manifest_number;
    assert!(
        !manifests.contains(&number),
        "every open starts a new manifest"
    );
    assert_single_manifest(&StdFs, path, number, "after reopen");
    // And it keeps rolling after the reopen.
    for r in 60..70 {
        round(&db, &mut model, r);
    }
    let after = db.stats().manifest_number;
    assert_ne!(after, number, "the reopened manifest rolls too");
    assert_single_manifest(&StdFs, path, after, "after more flushes");
    db.close().expect("close");
    let db = Db::open(path, opts()).expect("reopen");
    assert_eq!(read_all(&db), model);
    assert_eq!(table_count(&db.stats()), 70);
    db.close().expect("close");
}

const DIR: &str = "/db";

fn fault_options(fs: &FaultFs) -> Options {
    Options::default()
        .fs(fs.clone())
        .max_manifest_size(1024)
        .compaction(CompactionOptions::default().background(false))
}

/// A database whose manifest is past its limit: its next flush rolls it.
fn build(fs: &FaultFs) -> (Db, Model) {
    let db = Db::open(DIR, fault_options(fs)).expect("open");
    let mut model = Model::new();
    let manifest_len = || {
        let number = db.stats().manifest_number;
        let path = Path::new(DIR).join(format!("MANIFEST-{number:06}"));
        fs.file_bytes(&path).expect("manifest").len()
    };
    let mut r = 0;
    while manifest_len() < 1024 {
        round(&db, &mut model, r);
        r += 1;
    }
    let mut b = WriteBatch::new();
    for i in 0..50 {
        b.put(key(9000 + i), b"pending");
        model.insert(key(9000 + i), b"pending".to_vec());
    }
    db.write_opt(b, &WriteOptions::default().sync(true))
        .expect("write");
    (db, model)
}

#[test]
fn power_loss_while_rolling_the_manifest_loses_nothing() {
    // How many operations the rolling flush takes.
    let (total, rolled) = {
        let fs = FaultFs::new();
        let (db, _) = build(&fs);
        let before_number = db.stats().manifest_number;
        let before = fs.op_count();
        db.flush().expect("flush");
        let total = fs.op_count() - before;
        let rolled = db.stats().manifest_number != before_number;
        db.close().expect("close");
        (total, rolled)
    };
    assert!(rolled, "the flush under test rolls the manifest");
    for n in 0..=total {
        for mode in [CrashMode::DropUnsynced, CrashMode::KeepAll] {
            let fs = FaultFs::new();
            let (db, model) = build(&fs);
            fs.fail_after_ops(n);
            let _ = db.flush();
            drop(db);
            fs.crash(mode);
            let ctx = format!("power loss after {n} of {total} operations, {mode:?}");
            let db = Db::open(DIR, fault_options(&fs))
                .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            assert_eq!(read_all(&db), model, "{ctx}");
            db.flush().unwrap_or_else(|e| panic!("{ctx}: flush: {e}"));
            let number = db.stats().manifest_number;
            assert_single_manifest(&fs, Path::new(DIR), number, &ctx);
            assert_no_orphan_tables(&db, &fs, Path::new(DIR), &ctx);
            db.close().expect("close");
        }
    }
}
