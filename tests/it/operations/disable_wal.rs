//! `WriteOptions::disable_wal`: writes that skip the WAL are readable at
//! once, cost no WAL bytes, are lost by a crash unless flushed, never
//! break the logged writes around them, and survive a clean close.

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{Db, ErrorKind, KeyspaceOptions, Options, WriteBatch, WriteOptions};

use crate::support::{collect, key, power_loss, value};

fn unlogged() -> WriteOptions {
    WriteOptions::default().disable_wal(true)
}

fn put(db: &Db, k: &[u8], v: &[u8], opts: &WriteOptions) {
    let mut batch = WriteBatch::new();
    batch.put(k, v);
    db.write_opt(batch, opts).expect("write");
}

#[test]
fn unlogged_writes_are_lost_by_a_crash_unless_flushed() {
    let fs = FaultFs::new();
    let opts = || Options::default().fs(fs.clone());
    let db = Db::open("/db", opts()).expect("open");
    put(&db, b"flushed", b"1", &unlogged());
    db.flush().expect("flush");
    put(
        &db,
        b"logged-before",
        b"2",
        &WriteOptions::default().sync(true),
    );
    put(&db, b"unlogged", b"3", &unlogged());
    put(
        &db,
        b"logged-after",
        b"4",
        &WriteOptions::default().sync(true),
    );
    assert_eq!(
        db.get(b"unlogged").expect("get").as_deref(),
        Some(&b"3"[..])
    );
    let wal_bytes = db.stats().counters.wal_bytes;
    put(&db, b"unlogged-2", b"5", &unlogged());
    assert_eq!(db.stats().counters.wal_bytes, wal_bytes, "no WAL bytes");
    power_loss(&fs, db, CrashMode::DropUnsynced);

    // Strict recovery: the WAL around the unlogged writes is whole.
    let db = Db::open(
        "/db",
        opts().recovery_mode(rillkv::RecoveryMode::AbsoluteConsistency),
    )
    .expect("reopen");
    let got = collect(db.iter());
    let keys: Vec<&[u8]> = got.iter().map(|(k, _)| &k[..]).collect();
    assert_eq!(
        keys,
        [&b"flushed"[..], b"logged-after", b"logged-before"],
        "flushed and logged writes survive; unlogged ones after the flush are gone"
    );
    db.close().expect("close");
}

#[test]
fn a_clean_close_keeps_unlogged_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let ks = db
        .keyspace("cache", KeyspaceOptions::default())
        .expect("ks");
    for i in 0..1_000u64 {
        let mut batch = WriteBatch::new();
        batch.put_in(&ks, key(i), value(i, 30)).put(key(i), b"d");
        db.write_opt(batch, &unlogged()).expect("write");
    }
    drop(ks);
    db.close().expect("close");
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    let ks = db
        .keyspace("cache", KeyspaceOptions::default())
        .expect("ks");
    assert_eq!(collect(ks.iter()).len(), 1_000);
    assert_eq!(collect(db.iter()).len(), 1_000);
    drop(ks);
    // Dropping the last handle closes too.
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(collect(db.iter()).len(), 1_000);
    db.close().expect("close");
}

/// Concurrent writers mixing logged and unlogged batches share commit
/// groups; after a power loss every synced logged write is there, the
/// logged ones form a gap-free sequence per writer, and a strict reopen
/// finds the WAL whole.
#[test]
fn mixed_groups_keep_the_logged_writes_whole() {
    let fs = FaultFs::new();
    let opts = || Options::default().fs(fs.clone()).memtable_size(16 << 10);
    let db = Db::open("/db", opts()).expect("open");
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for n in 0..500u64 {
                    let logged = n % 3 != 1;
                    let k = format!("{}/{t}/{n:05}", if logged { "l" } else { "u" });
                    let opts = if logged {
                        WriteOptions::default().sync(n % 10 == 0)
                    } else {
                        unlogged()
                    };
                    put(&db, k.as_bytes(), b"v", &opts);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    db.sync_wal().expect("sync");
    power_loss(&fs, db, CrashMode::DropUnsynced);
    let db = Db::open(
        "/db",
        opts().recovery_mode(rillkv::RecoveryMode::AbsoluteConsistency),
    )
    .expect("reopen");
    for t in 0..4u64 {
        let logged: Vec<_> = collect(db.prefix(format!("l/{t}/")));
        let want: Vec<String> = (0..500u64)
            .filter(|n| n % 3 != 1)
            .map(|n| format!("l/{t}/{n:05}"))
            .collect();
        let got: Vec<String> = logged
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(
            got, want,
            "writer {t}: every logged write (all synced by sync_wal)"
        );
    }
    db.close().expect("close");
}

#[test]
fn sync_and_disable_wal_together_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut batch = WriteBatch::new();
    batch.put(b"k", b"v");
    let err = db
        .write_opt(batch, &WriteOptions::default().sync(true).disable_wal(true))
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(db.get(b"k").expect("get"), None, "nothing applied");
    db.close().expect("close");
}
