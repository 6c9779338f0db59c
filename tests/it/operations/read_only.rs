//! `Db::open_read_only`: reads a database (tables and WAL replayed in
//! memory) without its lock, refuses every change with `ReadOnly`, leaves
//! the directory byte-identical, and reads a consistent prefix of a
//! directory a writer holds — in this process (with flushes and
//! compaction deleting files under it) and in another.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rillkv::merge::U64Add;
use rillkv::{
    BackupEngine, CompactionOptions, Db, ErrorKind, KeyspaceOptions, Options, WriteBatch,
    WriteOptions,
};

use crate::support::{Pairs, child_command, collect, key, le, run_then_kill, u64_get, value};

fn counters() -> KeyspaceOptions {
    KeyspaceOptions::default().merge_operator(U64Add)
}

fn opts() -> Options {
    Options::default()
        .memtable_size(16 << 10)
        .keyspace("counters", counters())
}

/// Every file of `dir` with its size, modification time and contents.
fn image(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime, Vec<u8>)> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            let meta = e.metadata().expect("metadata");
            let bytes = std::fs::read(e.path()).expect("read");
            (
                e.path(),
                (meta.len(), meta.modified().expect("mtime"), bytes),
            )
        })
        .collect()
}

/// A database with tables, a WAL that recovery would replay (the writer
/// is dropped without flushing) and merges in a second keyspace.
fn make(dir: &Path) -> (Pairs, u64) {
    let db = Db::open(dir, opts()).expect("open");
    let ks = db.keyspace("counters", counters()).expect("keyspace");
    for i in 0..1_500u64 {
        let mut batch = WriteBatch::new();
        batch
            .put(key(i), value(i, 40))
            .merge_in(&ks, key(i % 5), le(1));
        db.write(batch).expect("write");
        if i == 700 {
            db.flush().expect("flush");
        }
    }
    let want = collect(db.iter());
    let seqno = db.stats().last_seqno;
    drop(ks);
    db.close().expect("close");
    (want, seqno)
}

/// Two read-only handles at once see everything, WAL included; every
/// call that would change the directory fails with `ReadOnly`, and
/// nothing in the directory changes — no file created, deleted, renamed,
/// written or touched.
#[test]
fn read_only_handles_read_everything_refuse_changes_and_write_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    let (want, seqno) = make(&dir);
    let before = image(&dir);
    // A few ms, so that an mtime changed by a write would show.
    std::thread::sleep(Duration::from_millis(20));

    let ro = Db::open_read_only(&dir, opts()).expect("open read-only");
    let other = Db::open_read_only(&dir, opts()).expect("a second read-only handle");
    for db in [&ro, &other] {
        assert_eq!(collect(db.iter()), want);
        assert_eq!(db.stats().last_seqno, seqno);
        let ks = db
            .keyspace("counters", counters())
            .expect("existing keyspace");
        assert_eq!(u64_get(ks.get(key(0)).expect("get")), 300);
        assert_eq!(collect(ks.iter()).len(), 5);
        assert!(db.verify().expect("verify").is_ok());
    }
    let refused: Vec<(&str, rillkv::Result<()>)> = vec![
        ("put", ro.put(b"k", b"v")),
        ("delete", ro.delete(key(1))),
        ("merge", ro.merge(b"k", le(1))),
        (
            "synced write",
            ro.write_opt(WriteBatch::new(), &WriteOptions::default().sync(true)),
        ),
        ("sync_wal", ro.sync_wal()),
        ("flush", ro.flush()),
        ("compact", ro.compact()),
        (
            "compact_range",
            ro.compact_range(b"a".as_slice()..b"z".as_slice()),
        ),
        (
            "checkpoint",
            ro.checkpoint(tmp.path().join("copy")).map(|_| ()),
        ),
        (
            "new keyspace",
            ro.keyspace("new", KeyspaceOptions::default()).map(|_| ()),
        ),
        ("drop keyspace", ro.drop_keyspace("counters")),
        (
            "keyspace write",
            ro.keyspace("counters", counters())
                .and_then(|ks| ks.merge(b"k", le(1))),
        ),
        ("transaction commit", {
            let txn = ro.transaction();
            txn.put(b"k", b"v");
            txn.commit()
        }),
        (
            "compare-and-swap",
            ro.compare_and_swap(b"k", None, Some(b"v")).map(|_| ()),
        ),
        (
            "backup",
            BackupEngine::open(tmp.path().join("backups"))
                .and_then(|mut b| b.create(&ro))
                .map(|_| ()),
        ),
    ];
    for (what, result) in refused {
        let err = result.expect_err(what);
        assert_eq!(err.kind(), ErrorKind::ReadOnly, "{what}: {err}");
        assert!(err.to_string().contains("read-only"), "{what}: {err}");
    }
    assert!(
        !tmp.path().join("copy").exists(),
        "the refused checkpoint made nothing"
    );
    let snap = ro.snapshot();
    drop(other);
    ro.close().expect("close");
    assert_eq!(
        snap.get(key(3)).expect_err("closed").kind(),
        ErrorKind::Closed
    );
    drop(snap);
    assert_eq!(
        image(&dir),
        before,
        "the directory changed under read-only handles"
    );
    // The writer is unaffected: it opens (lock free) and replays as usual.
    let db = Db::open(&dir, opts()).expect("open for writing");
    assert_eq!(collect(db.iter()), want);
    db.close().expect("close");
}

/// A directory with no database is refused and not created.
#[test]
fn a_read_only_open_creates_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("none");
    let err = Db::open_read_only(&missing, Options::default()).expect_err("no database");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(!missing.exists());
    let err = Db::open_read_only(tmp.path(), Options::default()).expect_err("empty directory");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).expect("list").count(), 0);
}

/// A writer in this process with small memtables and background
/// compaction (WALs flushed and deleted, tables compacted away, the
/// manifest rolled under the open) while read-only handles open again
/// and again: each sees, per writer thread, a prefix of its writes
/// holding every write acknowledged before the open, never less than the
/// handle before it, with correct values.
#[test]
fn read_only_opens_race_a_writer_flushing_and_compacting() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    let wopts = || {
        Options::default()
            .memtable_size(8 << 10)
            .max_manifest_size(4 << 10)
            .compaction(CompactionOptions::default().max_merge_files(2))
    };
    let db = Db::open(&dir, wopts()).expect("open");
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..2).map(|_| AtomicU64::new(0)).collect());
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let (db, stop, acked) = (db.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    db.put(format!("w{t}/{n:08}"), value(n, 30)).expect("put");
                    n += 1;
                    acked[t as usize].store(n, Ordering::Release);
                }
            })
        })
        .collect();
    let mut seen = [0u64; 2];
    let mut opens = 0;
    let deadline = std::time::Instant::now() + Duration::from_millis(1_500);
    while std::time::Instant::now() < deadline {
        let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        let ro = Db::open_read_only(&dir, Options::default()).expect("read-only open");
        for t in 0..2u64 {
            let mine = collect(ro.prefix(format!("w{t}/")));
            for (n, (k, v)) in mine.iter().enumerate() {
                assert_eq!(k.as_slice(), format!("w{t}/{n:08}").as_bytes(), "a hole");
                assert_eq!(v.as_slice(), value(n as u64, 30), "a wrong value");
            }
            let len = mine.len() as u64;
            assert!(
                len >= before[t as usize],
                "writer {t}: acknowledged {} before the open, read {len}",
                before[t as usize]
            );
            assert!(
                len >= seen[t as usize],
                "writer {t}: {len} after {}",
                seen[t as usize]
            );
            seen[t as usize] = len;
        }
        ro.close().expect("close");
        opens += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    let stats = db.stats();
    eprintln!(
        "{opens} read-only opens; the writer flushed {} and compacted {} times; last read {seen:?}",
        stats.counters.flushes, stats.counters.compactions
    );
    assert!(opens > 3);
    db.close().expect("close");
}

const ENV_DIR: &str = "RILLKV_READ_ONLY_CHILD_DIR";

/// The child: writes `c/N` counters (unsynced) with small memtables and
/// background compaction until killed, printing `ack N` after each.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let db = Db::open(
        &dir,
        Options::default()
            .memtable_size(16 << 10)
            .compaction(CompactionOptions::default().max_merge_files(2)),
    )
    .expect("child: open");
    let mut out = std::io::stdout().lock();
    out.write_all(b"\nstart\n").expect("stdout");
    for n in 0u64.. {
        db.put(format!("c/{n:010}"), value(n, 50))
            .expect("child: put");
        out.write_all(format!("ack {n}\n").as_bytes())
            .expect("stdout");
        out.flush().expect("stdout");
    }
}

/// Read-only handles opened again and again while a writer process holds
/// the directory (its lock taken, files changing), then after it was
/// killed: every read is a prefix `0..m` of the counters with the right
/// values, `m` never shrinks, and after the kill every acknowledged write
/// is there.
#[test]
fn read_only_while_a_writer_process_holds_the_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    Db::open(&dir, Options::default())
        .expect("create")
        .close()
        .expect("close");
    let read = |last: &mut u64| {
        let ro = Db::open_read_only(&dir, Options::default()).expect("read-only open");
        let all = collect(ro.prefix(b"c/"));
        for (n, (k, v)) in all.iter().enumerate() {
            assert_eq!(k.as_slice(), format!("c/{n:010}").as_bytes(), "a hole");
            assert_eq!(v.as_slice(), value(n as u64, 50), "a wrong value");
        }
        let len = all.len() as u64;
        assert!(len >= *last, "read {len} after {last}");
        *last = len;
        ro.close().expect("close");
    };
    let stop = AtomicBool::new(false);
    let (lines, reads, last) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut last = 0;
            let mut reads = 0;
            while !stop.load(Ordering::Acquire) {
                read(&mut last);
                reads += 1;
            }
            (reads, last)
        });
        let mut cmd = child_command(module_path!(), "child_writer");
        cmd.env(ENV_DIR, &dir);
        let lines = run_then_kill(cmd, Duration::from_millis(1_200));
        stop.store(true, Ordering::Release);
        let (reads, last) = reader.join().expect("reader");
        (lines, reads, last)
    });
    let acked = lines
        .iter()
        .filter_map(|l| l.strip_prefix("ack ")?.parse::<u64>().ok())
        .max()
        .expect("the child acknowledged writes");
    let mut after = last;
    read(&mut after);
    assert!(
        after > acked,
        "after the kill: {after} counters, {acked} was acknowledged"
    );
    eprintln!(
        "{reads} read-only opens while the writer ran (last saw {last}); {acked} acknowledged, {after} after the kill"
    );
    assert!(reads > 1 && last > 0, "the reader overlapped the writer");
    // The writer's lock was held all along: a second writer was refused
    // while it ran (checked by the lock suite); now it is free.
    Db::open(&dir, Options::default())
        .expect("open after the writer died")
        .close()
        .expect("close");
}
