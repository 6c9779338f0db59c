//! "A synced write also makes every earlier write durable" holds across a
//! reopen: writes that were acknowledged before the reopen but never
//! fsynced (the previous `Db` was poisoned, or the process was killed) and
//! that the reopen replayed are durable once a synced write made after the
//! reopen returns. Otherwise a power loss keeps the later write and loses
//! the earlier ones: a hole in the recovered prefix.

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{Db, ErrorKind, Options, WriteBatch, WriteOptions};

use crate::support::{power_loss, read_all, show};

const DIR: &str = "/db";

fn opts(fs: &FaultFs) -> Options {
    Options::default().fs(fs.clone())
}

fn put_synced(db: &Db, k: &str, v: &str) -> rillkv::Result<()> {
    let mut b = WriteBatch::new();
    b.put(k, v);
    db.write_opt(b, &WriteOptions::default().sync(true))
}

fn run(fail: impl FnOnce(&FaultFs), ctx: &str) {
    let fs = FaultFs::new();
    let db = Db::open(DIR, opts(&fs)).expect("open");
    // Acknowledged, not yet durable.
    db.put("a", "1").expect("put a");
    db.put("b", "2").expect("put b");
    // The next WAL operation fails: the database is poisoned and its close
    // does not fsync.
    fail(&fs);
    let err = put_synced(&db, "c", "3").expect_err("the write must fail");
    assert_eq!(err.kind(), ErrorKind::Io, "{ctx}: {err}");
    let err = db.put("d", "4").expect_err("poisoned");
    assert_eq!(err.kind(), ErrorKind::Poisoned, "{ctx}: {err}");
    // A poisoned database closes without fsyncing its log.
    let _ = db.close();

    // Reopen without any power loss: a and b are replayed and readable.
    let db = Db::open(DIR, opts(&fs)).expect("reopen");
    assert_eq!(
        db.get("a").expect("get").as_deref(),
        Some(&b"1"[..]),
        "{ctx}"
    );
    assert_eq!(
        db.get("b").expect("get").as_deref(),
        Some(&b"2"[..]),
        "{ctx}"
    );
    // A synced write now makes every earlier write durable...
    put_synced(&db, "e", "5").expect("synced write after reopen");

    // ...so a power loss right after it keeps a, b and e.
    power_loss(&fs, db, CrashMode::DropUnsynced);
    let db = Db::open(DIR, opts(&fs)).expect("open after power loss");
    let state = read_all(&db);
    let shown: Vec<(String, String)> = state.iter().map(|(k, v)| (show(k), show(v))).collect();
    assert_eq!(
        state.get(&b"e"[..]).map(Vec::as_slice),
        Some(&b"5"[..]),
        "{ctx}: synced e lost"
    );
    for (k, v) in [("a", "1"), ("b", "2")] {
        assert_eq!(
            state.get(k.as_bytes()).map(Vec::as_slice),
            Some(v.as_bytes()),
            "{ctx}: hole: the synced write e survived the power loss but the earlier \
             acknowledged write {k} did not; recovered {shown:?}"
        );
    }
    db.close().expect("close");
}

#[test]
fn after_a_failed_fsync_and_reopen() {
    run(|fs| fs.fail_nth_sync(1), "failed fsync");
}

#[test]
fn after_a_failed_append_and_reopen() {
    run(|fs| fs.fail_nth_write(1), "failed append");
}
