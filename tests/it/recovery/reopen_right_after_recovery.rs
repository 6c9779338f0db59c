//! A database that was just recovered from its log can be closed (or can
//! crash) at once and still opens again with every write: recovery must
//! not leave the directory in a state the next recovery rejects, whatever
//! background work (a flush of the recovered writes) had time to finish.

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{Db, Options, WriteBatch, WriteOptions};

use crate::support::{power_loss, show};

const CYCLES: usize = 20;

fn expect_all(db: &Db, n: usize, ctx: &str) {
    for i in 0..n {
        assert_eq!(
            db.get(format!("k{i:04}")).expect("get").map(|v| show(&v)),
            Some(format!("v{i}")),
            "{ctx}: write {i} lost"
        );
    }
}

#[test]
fn open_then_close_at_once_reopens_on_the_real_filesystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut written = 0;
    for cycle in 0..CYCLES {
        // Each cycle: recover, check, add a few writes, close at once.
        let db = Db::open(dir.path(), Options::default())
            .unwrap_or_else(|e| panic!("cycle {cycle}: open after a clean close failed: {e}"));
        expect_all(&db, written, &format!("cycle {cycle}"));
        for _ in 0..3 {
            db.put(format!("k{written:04}"), format!("v{written}"))
                .expect("put");
            written += 1;
        }
        db.close().expect("close");
        // And once without writing anything: recover and close.
        let db = Db::open(dir.path(), Options::default())
            .unwrap_or_else(|e| panic!("cycle {cycle}: second open failed: {e}"));
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), Options::default()).expect("final open");
    expect_all(&db, written, "final");
    db.close().expect("close");
}

#[test]
fn power_loss_right_after_recovery_reopens() {
    for cycle in 0..CYCLES {
        let fs = FaultFs::new();
        let opts = || Options::default().fs(fs.clone());
        let db = Db::open("/db", opts()).expect("open");
        for i in 0..5 {
            let mut b = WriteBatch::new();
            b.put(format!("k{i:04}"), format!("v{i}"));
            db.write_opt(b, &WriteOptions::default().sync(true))
                .expect("synced put");
        }
        // A power loss: the synced writes stay in the log.
        power_loss(&fs, db, CrashMode::DropUnsynced);

        // Recover, then lose power again at once.
        let db = Db::open("/db", opts()).expect("first recovery");
        expect_all(&db, 5, &format!("cycle {cycle}, first recovery"));
        power_loss(&fs, db, CrashMode::DropUnsynced);

        let db = Db::open("/db", opts())
            .unwrap_or_else(|e| panic!("cycle {cycle}: second recovery failed: {e}"));
        expect_all(&db, 5, &format!("cycle {cycle}, second recovery"));
        db.close().expect("close");
    }
}
