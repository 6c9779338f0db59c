//! `Db::checkpoint`: a consistent copy at one sequence number, made while
//! writers and compaction run, that opens as a normal database.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rillkv::fs::FaultFs;
use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, ErrorKind, KeyspaceOptions, Options, WriteBatch};

use crate::support::{collect, env_num, key, le, table_numbers, u64_get, value};

fn counters() -> KeyspaceOptions {
    KeyspaceOptions::default()
        .merge_operator(U64Add)
        .memtable_size(16 << 10)
}

fn opts() -> Options {
    Options::default()
        .memtable_size(16 << 10)
        .keyspace("counters", counters())
}

/// Without concurrent writes, the copy equals the source exactly, in every
/// keyspace: tables, sealed and active memtables (WAL only), merges; the
/// source is untouched and goes on; the copy's tables are links.
#[test]
fn a_quiet_checkpoint_equals_the_source_in_every_keyspace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, dst) = (tmp.path().join("db"), tmp.path().join("copy"));
    let db = Db::open(&src, opts()).expect("open");
    let ks = db.keyspace("counters", counters()).expect("keyspace");
    for i in 0..2_000u64 {
        let mut batch = WriteBatch::new();
        batch
            .put(key(i), value(i, 50))
            .merge_in(&ks, key(i % 7), le(1));
        db.write(batch).expect("write");
        if i == 1_000 {
            db.flush().expect("flush");
        }
    }
    let want_default = collect(db.iter());
    let want_counters = collect(ks.iter());
    let seqno = db.checkpoint(&dst).expect("checkpoint");
    assert_eq!(seqno, db.stats().last_seqno);
    // The source goes on, and nothing of it moved.
    db.put(b"after", b"x").expect("put after");
    assert_eq!(collect(db.iter()).len(), want_default.len() + 1);

    let copy = Db::open(&dst, opts()).expect("the checkpoint opens");
    let copy_ks = copy.keyspace("counters", counters()).expect("keyspace");
    assert_eq!(collect(copy.iter()), want_default, "default keyspace");
    assert_eq!(collect(copy_ks.iter()), want_counters, "counters keyspace");
    assert_eq!(u64_get(copy_ks.get(key(0)).expect("get")), 286);
    assert!(copy.verify().expect("verify").is_ok());
    assert_eq!(copy.keyspaces(), ["default", "counters"]);
    drop(copy_ks);
    copy.close().expect("close");
    drop(ks);
    db.close().expect("close");
    // Source reopens with everything, including the write after.
    let db = Db::open(&src, opts()).expect("reopen the source");
    assert_eq!(collect(db.iter()).len(), want_default.len() + 1);
    db.close().expect("close");
}

/// Four writers (each a counter of its own, written in order, in two
/// keyspaces per batch) and background compaction run while checkpoints
/// are taken: each copy holds, per writer, a prefix of its writes with
/// every write acknowledged before the checkpoint began, both keyspaces
/// agree batch by batch, and `verify` passes.
#[test]
fn checkpoints_while_four_writers_and_compaction_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("db");
    let opts = || {
        Options::default()
            .memtable_size(32 << 10)
            .compaction(CompactionOptions::default().max_merge_files(2))
            .keyspace("mirror", KeyspaceOptions::default().memtable_size(32 << 10))
    };
    let db = Db::open(&src, opts()).expect("open");
    let mirror = db
        .keyspace("mirror", KeyspaceOptions::default().memtable_size(32 << 10))
        .expect("keyspace");
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new(
        (0..4)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
    );
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let (db, mirror, stop, acked) =
                (db.clone(), mirror.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = format!("w{t}/{n:08}");
                    let mut batch = WriteBatch::new();
                    batch.put(&k, value(n, 40)).put_in(&mirror, &k, le(n));
                    db.write(batch).expect("write");
                    n += 1;
                    acked[t as usize].store(n, Ordering::Release);
                }
            })
        })
        .collect();
    let rounds = env_num("RILLKV_CHECKPOINT_ROUNDS", 4);
    for round in 0..rounds {
        std::thread::sleep(std::time::Duration::from_millis(60));
        let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        let dst = tmp.path().join(format!("copy{round}"));
        db.checkpoint(&dst).expect("checkpoint under load");
        let copy = Db::open(
            &dst,
            opts().compaction(CompactionOptions::default().background(false)),
        )
        .expect("the checkpoint opens");
        let copy_mirror = copy
            .keyspace("mirror", KeyspaceOptions::default())
            .expect("keyspace");
        let main: BTreeMap<_, _> = collect(copy.iter()).into_iter().collect();
        let mirrored: BTreeMap<_, _> = collect(copy_mirror.iter()).into_iter().collect();
        assert_eq!(
            main.keys().collect::<Vec<_>>(),
            mirrored.keys().collect::<Vec<_>>(),
            "round {round}: the two keyspaces of one batch disagree"
        );
        for t in 0..4u64 {
            let prefix = format!("w{t}/");
            let mine: Vec<_> = main
                .keys()
                .filter(|k| k.starts_with(prefix.as_bytes()))
                .collect();
            for (n, k) in mine.iter().enumerate() {
                assert_eq!(
                    k.as_slice(),
                    format!("w{t}/{n:08}").as_bytes(),
                    "round {round}: writer {t} has a hole"
                );
            }
            assert!(
                mine.len() as u64 >= before[t as usize],
                "round {round}: writer {t} acknowledged {} before the checkpoint, the copy has {}",
                before[t as usize],
                mine.len()
            );
        }
        assert!(copy.verify().expect("verify").is_ok(), "round {round}");
        eprintln!(
            "checkpoint {round}: {} batches, {} tables",
            main.len(),
            table_numbers(&rillkv::fs::StdFs, &dst).len()
        );
        drop(copy_mirror);
        copy.close().expect("close");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    drop(mirror);
    db.close().expect("close");
}

/// A directory that holds anything is refused and left as it was; a
/// missing one is created; on the fault-injecting filesystem (no hard
/// links: the default copies) a checkpoint works the same.
#[test]
fn checkpoint_directories_and_a_filesystem_without_links() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(tmp.path().join("db"), Options::default()).expect("open");
    db.put(b"k", b"v").expect("put");
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).expect("mkdir");
    std::fs::write(busy.join("note"), b"mine").expect("write");
    let err = db.checkpoint(&busy).expect_err("a non-empty directory");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(std::fs::read(busy.join("note")).expect("kept"), b"mine");
    db.checkpoint(tmp.path().join("a/b/c"))
        .expect("a missing directory is created");
    let copy = Db::open(tmp.path().join("a/b/c"), Options::default()).expect("open copy");
    assert_eq!(copy.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
    copy.close().expect("close");
    db.close().expect("close");

    let fs = FaultFs::new();
    let db = Db::open("/db", Options::default().fs(fs.clone()).memtable_size(4096)).expect("open");
    for i in 0..200u64 {
        db.put(key(i), value(i, 40)).expect("put");
    }
    db.checkpoint("/copy").expect("checkpoint on FaultFs");
    let copy = Db::open("/copy", Options::default().fs(fs.clone())).expect("open copy");
    assert_eq!(collect(copy.iter()), collect(db.iter()));
    copy.close().expect("close");
    db.close().expect("close");
}

/// A power loss at every step of a checkpoint: the source loses nothing
/// synced, and the copy either opens with exactly the checkpointed data
/// (its `CURRENT` was durable) or is refused (tables without `CURRENT`) or
/// holds no database at all — never a database with less in it.
#[test]
fn a_power_loss_at_every_step_of_a_checkpoint() {
    use rillkv::fs::CrashMode;
    let write = |db: &Db| {
        for i in 0..300u64 {
            db.put(key(i), value(i, 60)).expect("put");
            if i == 150 {
                db.flush().expect("flush");
            }
        }
        db.sync_wal().expect("sync");
    };
    let mut cut = 0;
    let (mut opened, mut refused, mut empty) = (0, 0, 0);
    loop {
        let fs = FaultFs::new();
        let opts = || Options::default().fs(fs.clone()).memtable_size(8 << 10);
        let db = Db::open("/db", opts()).expect("open");
        write(&db);
        let want = collect(db.iter());
        fs.fail_after_ops(cut);
        let done = db.checkpoint("/copy").is_ok();
        crate::support::power_loss(&fs, db, CrashMode::DropUnsynced);
        let db = Db::open("/db", opts()).expect("the source reopens");
        assert_eq!(collect(db.iter()), want, "cut {cut}: the source");
        db.close().expect("close");
        match Db::open("/copy", opts().create_if_missing(false)) {
            Ok(copy) => {
                assert_eq!(collect(copy.iter()), want, "cut {cut}: the copy");
                copy.close().expect("close");
                opened += 1;
            }
            Err(e) if e.kind() == ErrorKind::Corruption => {
                assert!(!done, "cut {cut}: a finished checkpoint refused: {e}");
                refused += 1;
            }
            Err(e) if e.kind() == ErrorKind::InvalidArgument => {
                assert!(
                    !done,
                    "cut {cut}: a finished checkpoint holds no database: {e}"
                );
                empty += 1;
            }
            Err(e) => panic!("cut {cut}: {e}"),
        }
        if done {
            break;
        }
        cut += 1;
    }
    eprintln!("{cut} crash points: copy opened {opened}, refused {refused}, no database {empty}");
    assert!(cut > 5, "the checkpoint has several steps");
}
