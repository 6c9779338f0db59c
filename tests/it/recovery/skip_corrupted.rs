//! `RecoveryMode::SkipCorrupted` salvages every valid record around damage
//! in the middle of a WAL, reporting what it skipped; the default mode
//! refuses the same log with `Corruption`.

use std::path::Path;

use rillkv::fs::FaultFs;
use rillkv::{Db, ErrorKind, Options, RecoveryMode, WriteBatch, WriteOptions};

use crate::support::{dir_contents, key, newest_nonempty_wal};

const DIR: &str = "/db";
const N: u64 = 40;

/// A database whose only WAL holds `N` synced puts (one record each), left
/// without a clean close: the WAL is replayed at the next open.
fn image() -> FaultFs {
    let fs = FaultFs::new();
    let db = Db::open(DIR, Options::default().fs(fs.clone())).expect("open");
    for i in 0..N {
        let mut b = WriteBatch::new();
        b.put(key(i), format!("value-{i:03}"));
        db.write_opt(b, &WriteOptions::default().sync(true))
            .expect("put");
    }
    db.close().expect("close");
    fs
}

fn newest_wal(fs: &FaultFs) -> std::path::PathBuf {
    let files = dir_contents(fs, Path::new(DIR));
    files[newest_nonempty_wal(&files)].0.clone()
}

#[test]
fn skip_corrupted_keeps_every_valid_record_around_the_damage() {
    let fs = image();
    let wal = newest_wal(&fs);
    let mut bytes = fs.file_bytes(&wal).expect("wal");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    fs.set_file_bytes(&wal, bytes).expect("damage");

    let err = Db::open(DIR, Options::default().fs(fs.clone())).expect_err("default mode");
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");

    let opts = Options::default()
        .fs(fs.clone())
        .recovery_mode(RecoveryMode::SkipCorrupted);
    let db = Db::open(DIR, opts).expect("salvage");
    let present: Vec<u64> = (0..N)
        .filter(|&i| db.get(key(i)).expect("get").is_some())
        .collect();
    assert_eq!(
        present.len() as u64,
        N - 1,
        "exactly the damaged record is lost: {present:?}"
    );
    assert!(present.contains(&0) && present.contains(&(N - 1)));
    for &i in &present {
        assert_eq!(
            db.get(key(i)).expect("get").as_deref(),
            Some(format!("value-{i:03}").as_bytes())
        );
    }
    let dropped = db.stats().dropped_log_tails;
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    db.put("after", "salvage").expect("write after salvage");
    db.close().expect("close");
    // The salvaged state is now in tables: a default open works.
    let db = Db::open(DIR, Options::default().fs(fs)).expect("reopen");
    assert_eq!(
        db.get("after").expect("get").as_deref(),
        Some(&b"salvage"[..])
    );
    db.close().expect("close");
}
