//! `BackupEngine`: incremental backups made while writers and compaction
//! run, restored as normal databases; tables stored once; damage found by
//! `verify`; purge; a power loss at every step of a backup.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rillkv::fs::{CrashMode, FaultFs, Fs, StdFs};
use rillkv::{
    BackupEngine, BackupProgress, CompactionOptions, Db, ErrorKind, KeyspaceOptions, Options,
    WriteBatch,
};

use crate::support::{collect, dir_names, env_num, key, le, value};

/// The names in a backup directory's `shared/` (tables).
fn shared(fs: &dyn Fs, backups: &Path) -> BTreeSet<String> {
    dir_names(fs, &backups.join("shared")).into_iter().collect()
}

/// Every name under a backup directory's `shared/`, `private/` and
/// `meta/`.
fn stored(fs: &dyn Fs, backups: &Path) -> BTreeSet<String> {
    ["shared", "private", "meta"]
        .iter()
        .flat_map(|d| {
            dir_names(fs, &backups.join(d))
                .into_iter()
                .map(move |n| format!("{d}/{n}"))
        })
        .collect()
}

/// Options with background compaction off, so the tables stay as flushed.
fn quiet() -> Options {
    Options::default().compaction(CompactionOptions::default().background(false))
}

/// Four writers (each a counter of its own, written in order, in two
/// keyspaces per batch) and background compaction run while backups are
/// made: each restored backup opens, holds per writer a prefix of its
/// writes with every write acknowledged before the backup began (the
/// state at the backup's sequence number), both keyspaces agree batch by
/// batch, and `verify` passes on the backup and on the restored database.
#[test]
fn backups_while_four_writers_and_compaction_run() {
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
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
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
    let mut backups = BackupEngine::open(tmp.path().join("backups")).expect("open backups");
    let rounds = env_num("RILLKV_BACKUP_ROUNDS", 4);
    let mut made = Vec::new();
    for _ in 0..rounds {
        std::thread::sleep(std::time::Duration::from_millis(60));
        let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        let mut last = BackupProgress::default();
        let info = backups
            .create_with(&db, |p| last = p.clone())
            .expect("backup under load");
        assert_eq!(last.files_done, info.files, "progress reaches every file");
        assert_eq!(last.bytes_done, info.bytes, "progress reaches every byte");
        assert_eq!(last.bytes_total, info.bytes, "the total was right");
        made.push((info, before));
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    drop(mirror);
    db.close().expect("close");

    let listed = backups.list().expect("list");
    assert_eq!(
        listed,
        made.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>()
    );
    for (round, (info, before)) in made.iter().enumerate() {
        backups.verify(info.id).expect("verify");
        let dst = tmp.path().join(format!("restored{round}"));
        backups.restore(info.id, &dst).expect("restore");
        let copy = Db::open(
            &dst,
            opts().compaction(CompactionOptions::default().background(false)),
        )
        .expect("the restored backup opens");
        assert_eq!(copy.stats().last_seqno, info.seqno, "round {round}");
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
        assert_eq!(
            main.len() as u64,
            info.seqno / 2,
            "round {round}: one batch (two writes) per key up to the backup's seqno"
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
                "round {round}: writer {t} acknowledged {} before the backup, it has {}",
                before[t as usize],
                mine.len()
            );
        }
        assert!(copy.verify().expect("verify").is_ok(), "round {round}");
        eprintln!(
            "backup {}: seqno {}, {} files, {} tables, {} bytes",
            info.id, info.seqno, info.files, info.tables, info.bytes
        );
        drop(copy_mirror);
        copy.close().expect("close");
    }
}

/// A second backup stores only the tables the first did not: the shared
/// directory grows by the new flush's table, and after a full compaction
/// by its outputs only; each backup restores to its own state.
#[test]
fn a_second_backup_stores_only_new_tables() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(tmp.path().join("db"), quiet()).expect("open");
    for round in 0..3u64 {
        for i in 0..300 {
            db.put(key(round * 1000 + i), value(i, 100)).expect("put");
        }
        db.flush().expect("flush");
    }
    let root = tmp.path().join("backups");
    let mut backups = BackupEngine::open(&root).expect("open backups");
    let first = backups.create(&db).expect("first backup");
    assert_eq!(first.tables, 3);
    assert_eq!(shared(&StdFs, &root).len(), 3);
    let want_first = collect(db.iter());

    for i in 0..300 {
        db.put(key(5000 + i), value(i, 100)).expect("put");
    }
    db.flush().expect("flush");
    db.put(b"in the wal", b"only").expect("put");
    let mut last = BackupProgress::default();
    let second = backups
        .create_with(&db, |p| last = p.clone())
        .expect("second backup");
    assert_eq!(second.tables, 4);
    assert_eq!(shared(&StdFs, &root).len(), 4, "one new table stored");
    // One table, the WAL(s) and the database manifest copied.
    assert_eq!(last.files_copied, last.files_total - 3, "{last:?}");
    let want_second = collect(db.iter());

    db.compact().expect("compact");
    let third = backups.create(&db).expect("third backup");
    assert_eq!(
        shared(&StdFs, &root).len(),
        4 + third.tables,
        "the compaction's outputs are new, the old tables stay for the older backups"
    );
    let want_third = collect(db.iter());
    db.close().expect("close");

    assert!(first.seqno < second.seqno);
    assert_eq!(
        second.seqno, third.seqno,
        "a compaction writes no sequence number"
    );
    for (info, want) in [
        (&first, &want_first),
        (&second, &want_second),
        (&third, &want_third),
    ] {
        backups.verify(info.id).expect("verify");
        let dst = tmp.path().join(format!("r{}", info.id));
        backups.restore(info.id, &dst).expect("restore");
        let copy = Db::open(&dst, quiet()).expect("open restored");
        assert_eq!(&collect(copy.iter()), want, "backup {}", info.id);
        copy.close().expect("close");
    }
}

/// A flipped byte in a stored table: `verify` fails with `Corruption`
/// naming that file, `restore` refuses too and leaves the target empty;
/// the other backups are unaffected.
#[test]
fn a_damaged_table_fails_verify_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(tmp.path().join("db"), quiet()).expect("open");
    for i in 0..500 {
        db.put(key(i), value(i, 100)).expect("put");
    }
    db.flush().expect("flush");
    let root = tmp.path().join("backups");
    let mut backups = BackupEngine::open(&root).expect("open backups");
    let damaged = backups.create(&db).expect("backup");
    db.compact().expect("compact");
    for i in 0..10 {
        db.put(key(i), b"new").expect("put");
    }
    db.flush().expect("flush");
    db.compact()
        .expect("compact: no table in common with the first backup");
    let intact = backups.create(&db).expect("backup");
    db.close().expect("close");

    let first_tables = shared(&StdFs, &root);
    let victim = first_tables
        .iter()
        .min()
        .expect("a stored table")
        .to_owned();
    let path = root.join("shared").join(&victim);
    let mut bytes = std::fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).expect("write");

    let err = backups.verify(damaged.id).expect_err("damage found");
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
    assert!(err.to_string().contains(&victim), "names the file: {err}");
    let dst = tmp.path().join("restored");
    let err = backups
        .restore(damaged.id, &dst)
        .expect_err("a damaged backup is not restored");
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
    assert!(err.to_string().contains(&victim), "names the file: {err}");
    assert!(
        dir_names(&StdFs, &dst).is_empty(),
        "the failed restore removed what it wrote"
    );
    backups
        .verify(intact.id)
        .expect("the other backup is intact");
    backups
        .restore(intact.id, &dst)
        .expect("restore the intact one");
}

/// A damaged backup manifest: the engine still opens and deletes nothing
/// (which files it names is unknown), `list` and `purge` fail with
/// `Corruption` naming it, and the other backup verifies and restores.
#[test]
fn a_damaged_backup_manifest_is_reported_and_deletes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(tmp.path().join("db"), quiet()).expect("open");
    let root = tmp.path().join("backups");
    let mut backups = BackupEngine::open(&root).expect("open backups");
    for i in 0..2u64 {
        db.put(key(i), value(i, 100)).expect("put");
        db.flush().expect("flush");
        backups.create(&db).expect("backup");
    }
    db.close().expect("close");
    drop(backups);
    let meta = root.join("meta").join("000001.backup");
    let mut bytes = std::fs::read(&meta).expect("read");
    bytes[20] ^= 1;
    std::fs::write(&meta, &bytes).expect("write");
    let before = stored(&StdFs, &root);
    let mut backups = BackupEngine::open(&root).expect("opens all the same");
    assert_eq!(stored(&StdFs, &root), before, "nothing deleted");
    for err in [
        backups.list().map(|_| ()).expect_err("list"),
        backups.purge(0).map(|_| ()).expect_err("purge"),
    ] {
        assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
        assert!(err.to_string().contains("000001.backup"), "{err}");
    }
    assert_eq!(stored(&StdFs, &root), before, "nothing purged");
    backups.verify(2).expect("the other backup");
    backups
        .restore(2, tmp.path().join("r"))
        .expect("restore the other backup");
}

/// `restore` refuses a directory holding anything (a database, or any
/// file) and leaves it as it was; an unknown id is `InvalidArgument`.
#[test]
fn restore_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(tmp.path().join("db"), Options::default()).expect("open");
    db.put(b"k", b"v").expect("put");
    let mut backups = BackupEngine::open(tmp.path().join("backups")).expect("open backups");
    let info = backups.create(&db).expect("backup");
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).expect("mkdir");
    std::fs::write(busy.join("note"), b"mine").expect("write");
    let err = backups.restore(info.id, &busy).expect_err("not empty");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(dir_names(&StdFs, &busy), ["note"]);
    assert_eq!(std::fs::read(busy.join("note")).expect("kept"), b"mine");
    let err = backups
        .restore(info.id, db.path())
        .expect_err("never over a database");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = backups
        .restore(info.id + 1, tmp.path().join("new"))
        .expect_err("unknown id");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    db.close().expect("close");
}

/// `purge(1)` removes the older backups and exactly the files no
/// remaining backup names: what is left is the newest backup's files,
/// which still verify and restore; a second engine on the same directory
/// is `Locked`.
#[test]
fn purge_removes_only_unreferenced_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(tmp.path().join("db"), quiet()).expect("open");
    let root = tmp.path().join("backups");
    let mut backups = BackupEngine::open(&root).expect("open backups");
    let err = BackupEngine::open(&root).expect_err("held");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    let mut ids = Vec::new();
    for round in 0..3u64 {
        for i in 0..300 {
            db.put(key(i), value(round * 1000 + i, 80)).expect("put");
        }
        db.flush().expect("flush");
        if round == 1 {
            db.compact().expect("compact");
        }
        ids.push(backups.create(&db).expect("backup").id);
    }
    let want = collect(db.iter());
    db.close().expect("close");
    let before = stored(&StdFs, &root);
    let report = backups.purge(1).expect("purge");
    assert_eq!(report.removed, ids[..2]);
    let after = stored(&StdFs, &root);
    assert_eq!(before.len() - after.len(), report.files_deleted + 2);
    let kept = backups.list().expect("list");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, ids[2]);
    // Left: its manifest, its tables, its private files; nothing else.
    assert_eq!(
        after.len(),
        1 + kept[0].files,
        "{after:?} holds more than the newest backup's files"
    );
    assert_eq!(
        after.iter().filter(|n| n.starts_with("shared/")).count(),
        kept[0].tables
    );
    backups.verify(ids[2]).expect("verify");
    backups
        .restore(ids[2], tmp.path().join("r"))
        .expect("restore");
    let copy = Db::open(tmp.path().join("r"), quiet()).expect("open restored");
    assert_eq!(collect(copy.iter()), want);
    copy.close().expect("close");
    assert_eq!(backups.purge(1).expect("nothing to purge").files_deleted, 0);
}

/// A power loss at every step of a backup: the source loses nothing, the
/// earlier backup still verifies, and after the engine reopens the
/// interrupted backup is not listed and none of its files is left — or,
/// once its manifest was durable, it is listed and restores.
#[test]
fn a_power_loss_at_every_step_of_a_backup() {
    let mut cut = 0;
    let (mut interrupted, mut kept) = (0, 0);
    loop {
        let fs = FaultFs::new();
        let opts = || {
            Options::default()
                .fs(fs.clone())
                .memtable_size(8 << 10)
                .compaction(CompactionOptions::default().background(false))
        };
        let db = Db::open("/db", opts()).expect("open");
        for i in 0..200u64 {
            db.put(key(i), value(i, 60)).expect("put");
        }
        db.flush().expect("flush");
        let mut backups = BackupEngine::open_with_fs("/backups", fs.clone()).expect("open");
        let first = backups.create(&db).expect("first backup");
        let first_files = stored(&fs, Path::new("/backups"));
        for i in 200..300u64 {
            db.put(key(i), value(i, 60)).expect("put");
        }
        db.flush().expect("flush");
        db.put(b"wal", b"only").expect("put");
        db.sync_wal().expect("sync");
        let want = collect(db.iter());
        fs.fail_after_ops(cut);
        let done = backups.create(&db).is_ok();
        drop(backups);
        crate::support::power_loss(&fs, db, CrashMode::DropUnsynced);

        let db = Db::open("/db", opts()).expect("the source reopens");
        assert_eq!(collect(db.iter()), want, "cut {cut}: the source");
        db.close().expect("close");
        let backups = BackupEngine::open_with_fs("/backups", fs.clone()).expect("reopen");
        backups.verify(first.id).expect("the first backup");
        let listed = backups.list().expect("list");
        let files = stored(&fs, Path::new("/backups"));
        match listed.as_slice() {
            [only] => {
                assert!(!done, "cut {cut}: a finished backup was lost");
                assert_eq!(only.id, first.id);
                assert_eq!(files, first_files, "cut {cut}: leftovers not removed");
                interrupted += 1;
            }
            [_, second] => {
                backups.verify(second.id).expect("the second backup");
                backups
                    .restore(second.id, "/restored")
                    .expect("restore the second backup");
                let copy = Db::open("/restored", opts()).expect("open restored");
                assert_eq!(collect(copy.iter()), want, "cut {cut}: the restored copy");
                copy.close().expect("close");
                kept += 1;
            }
            other => panic!("cut {cut}: {other:?}"),
        }
        if done {
            break;
        }
        cut += 1;
    }
    eprintln!("{cut} crash points: backup interrupted {interrupted}, kept {kept}");
    assert!(cut > 5, "a backup has several steps");
    assert!(interrupted > 0 && kept > 0);
}
