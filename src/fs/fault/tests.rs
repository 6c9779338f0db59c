//! `FaultFs`'s own model: durability of bytes, names and directories,
//! injected faults, the space limit and locks.

use super::*;

fn dir() -> PathBuf {
    PathBuf::from("/db")
}

/// Creates [`dir`] durably.
fn mkdir(fs: &FaultFs) {
    fs.create_dir_all(&dir()).unwrap();
    fs.sync_dir(Path::new("/")).unwrap();
}

#[test]
fn a_directory_survives_a_crash_once_its_parent_is_synced() {
    let fs = FaultFs::new();
    fs.create_dir_all(Path::new("/a/b")).unwrap();
    fs.sync_dir(Path::new("/a")).unwrap(); // b's entry, not a's
    let file = Path::new("/a/b/f");
    fs.create(file).unwrap().sync().unwrap();
    fs.sync_dir(Path::new("/a/b")).unwrap();
    fs.crash(CrashMode::KeepAll);
    assert!(
        !fs.exists(Path::new("/a")),
        "a's entry in / was never synced"
    );
    assert!(!fs.exists(file), "lost with its directory");
    fs.create_dir_all(Path::new("/a/b")).unwrap();
    fs.sync_dir(Path::new("/a")).unwrap();
    fs.sync_dir(Path::new("/")).unwrap();
    fs.create(file).unwrap().sync().unwrap();
    fs.sync_dir(Path::new("/a/b")).unwrap();
    fs.crash(CrashMode::KeepAll);
    assert!(fs.exists(file));
}

#[test]
fn crash_drops_unsynced_bytes_and_unsynced_names() {
    let fs = FaultFs::new();
    mkdir(&fs);
    let a = dir().join("a");
    let mut f = fs.create(&a).unwrap();
    f.append(b"hello").unwrap();
    f.sync().unwrap();
    f.append(b" world").unwrap();
    fs.sync_dir(&dir()).unwrap();
    let b = dir().join("b");
    let mut g = fs.create(&b).unwrap();
    g.append(b"lost").unwrap();
    g.sync().unwrap();
    fs.crash(CrashMode::DropUnsynced);
    assert_eq!(&fs.read(&a).unwrap()[..], b"hello");
    assert!(!fs.exists(&b), "name never covered by a dir fsync");
    // A stale handle cannot reach the surviving file.
    f.append(b"!!").unwrap();
    assert_eq!(&fs.read(&a).unwrap()[..], b"hello");
}

#[test]
fn unsynced_rename_and_remove_revert() {
    let fs = FaultFs::new();
    mkdir(&fs);
    let a = dir().join("a");
    fs.create(&a).unwrap().sync().unwrap();
    fs.sync_dir(&dir()).unwrap();
    fs.rename(&a, &dir().join("b")).unwrap();
    fs.crash(CrashMode::KeepAll);
    assert!(fs.exists(&a));
    fs.remove_file(&a).unwrap();
    fs.crash(CrashMode::KeepAll);
    assert!(fs.exists(&a));
}

#[test]
fn injected_faults_fire_once_and_freeze_stops_everything() {
    let fs = FaultFs::new();
    fs.create_dir_all(&dir()).unwrap();
    let mut f = fs.create(&dir().join("a")).unwrap();
    fs.fail_nth_write(2);
    f.append(b"1").unwrap();
    assert!(f.append(b"22").is_err());
    f.append(b"3").unwrap();
    fs.fail_nth_sync(1);
    assert!(f.sync().is_err());
    f.sync().unwrap();
    fs.fail_after_ops(1);
    f.append(b"4").unwrap();
    assert!(f.append(b"5").is_err());
    assert!(f.sync().is_err());
}

#[test]
fn keep_subset_keeps_some_appends_and_zeroes_lost_ones_before_them() {
    let mut seen_hole = false;
    for seed in 0..64 {
        let fs = FaultFs::new();
        mkdir(&fs);
        let a = dir().join("a");
        let mut f = fs.create(&a).unwrap();
        f.append(b"s").unwrap();
        f.sync().unwrap();
        fs.sync_dir(&dir()).unwrap();
        for chunk in [b"aa", b"bb", b"cc", b"dd"] {
            f.append(chunk).unwrap();
        }
        fs.crash(CrashMode::KeepSubset { seed });
        let got = fs.read(&a).unwrap();
        assert_eq!(got[0], b's', "synced bytes survive");
        assert!(got.len() % 2 == 1 && got.len() <= 9);
        for (i, pair) in got[1..].chunks(2).enumerate() {
            let want = [b"aa", b"bb", b"cc", b"dd"][i];
            assert!(pair == want || pair == [0, 0], "seed {seed}: {got:?}");
            seen_hole |= pair == [0, 0];
        }
    }
    assert!(seen_hole, "some seed loses an append before a kept one");
}

#[test]
fn space_limit_fails_appends_with_storage_full_until_space_is_freed() {
    let fs = FaultFs::new();
    fs.create_dir_all(&dir()).unwrap();
    let a = dir().join("a");
    let mut f = fs.create(&a).unwrap();
    f.append(b"1234").unwrap();
    fs.set_space_limit(Some(6));
    let mut g = fs.create(&dir().join("b")).unwrap();
    g.append(b"12345").unwrap();
    let err = g.append(b"678").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    assert_eq!(&fs.read(&dir().join("b")).unwrap()[..], b"123456");
    fs.remove_file(&a).unwrap();
    g.append(b"abcd").unwrap();
    assert!(g.append(b"e").is_err());
}

#[test]
fn lock_is_exclusive_until_dropped() {
    let fs = FaultFs::new();
    let p = dir().join("LOCK");
    let l = fs.try_lock(&p).unwrap();
    assert!(l.is_some());
    assert!(fs.try_lock(&p).unwrap().is_none());
    drop(l);
    assert!(fs.try_lock(&p).unwrap().is_some());
}
