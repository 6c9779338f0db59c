//! One directory, one open `Db`: a second open, from this process or from
//! another, fails with `Locked`; once the first is closed (or dropped), the
//! directory opens again.
//!
//! The cross-process case re-executes this test binary as a child running
//! only [`child_open`], which reports the outcome of its open through its
//! exit code.

mod common;

use std::process::Stdio;

use common::child_command;
use rillkv::fs::FaultFs;
use rillkv::{Db, ErrorKind, Options};

const ENV_DIR: &str = "RILLKV_LOCK_CHILD_DIR";
const EXIT_OPENED: i32 = 0;
const EXIT_LOCKED: i32 = 10;
const EXIT_OTHER: i32 = 11;

/// The child: tries to open the directory and exits with a code naming the
/// outcome. Does nothing unless started with `RILLKV_LOCK_CHILD_DIR`.
#[test]
fn child_open() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let code = match Db::open(&dir, Options::default()) {
        Ok(db) => {
            db.put("child", "was here").expect("child put");
            db.close().expect("child close");
            EXIT_OPENED
        }
        Err(e) if e.kind() == ErrorKind::Locked => EXIT_LOCKED,
        Err(e) => {
            eprintln!("child: open failed: {e}");
            EXIT_OTHER
        }
    };
    std::process::exit(code);
}

fn open_in_child(dir: &std::path::Path) -> i32 {
    let out = child_command("child_open")
        .env(ENV_DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run child");
    out.status.code().unwrap_or_else(|| {
        panic!(
            "child died by signal: {}; stderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn second_open_in_the_same_process_is_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("first open");
    db.put("k", "v").expect("put");
    let err = Db::open(dir.path(), Options::default()).expect_err("second open must fail");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    // The failed open changed nothing: the first handle still works.
    db.put("k2", "v2").expect("first handle still writes");
    db.close().expect("close");

    let db = Db::open(dir.path(), Options::default()).expect("open after close");
    assert_eq!(db.get("k").expect("get").as_deref(), Some(&b"v"[..]));
    assert_eq!(db.get("k2").expect("get").as_deref(), Some(&b"v2"[..]));
    db.close().expect("close");
}

#[test]
fn second_open_on_the_fault_fs_is_locked() {
    let fs = FaultFs::new();
    let opts = || Options::default().fs(fs.clone());
    let db = Db::open("/db", opts()).expect("first open");
    let err = Db::open("/db", opts()).expect_err("second open must fail");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    // Another directory on the same filesystem is independent.
    Db::open("/other", opts())
        .expect("other dir")
        .close()
        .expect("close");
    db.close().expect("close");
    Db::open("/db", opts())
        .expect("open after close")
        .close()
        .expect("close");
}

#[test]
fn open_from_another_process_is_locked_until_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert_eq!(
        open_in_child(dir.path()),
        EXIT_LOCKED,
        "child must see Locked while we hold the db"
    );
    db.close().expect("close");
    assert_eq!(
        open_in_child(dir.path()),
        EXIT_OPENED,
        "child must open after we closed"
    );

    let db = Db::open(dir.path(), Options::default()).expect("open after the child");
    assert_eq!(
        db.get("child").expect("get").as_deref(),
        Some(&b"was here"[..])
    );
    db.close().expect("close");
}

/// Dropping the last handle (without `close`) releases the directory: an
/// open right after the drop succeeds, even when the writes just made keep
/// background work (flushes) busy.
#[test]
fn dropping_the_last_handle_releases_the_lock() {
    let fs = FaultFs::new();
    let opts = || Options::default().memtable_size(4096).fs(fs.clone());
    let value = "v".repeat(500);
    for cycle in 0..30 {
        let db = Db::open("/db", opts())
            .unwrap_or_else(|e| panic!("cycle {cycle}: open right after the drop failed: {e}"));
        for i in 0..20 {
            db.put(format!("c{cycle}/k{i}"), &value).expect("put");
        }
        drop(db);
    }
    let db = Db::open("/db", opts()).expect("final open");
    assert_eq!(common::collect(db.iter()).len(), 30 * 20);
    db.close().expect("close");
}
