//! One directory, one open `Db`: a second open, from this process or from
//! another, fails with `Locked` — within 100 ms, measured inside the second
//! process; once the first is closed (or dropped, or its process is
//! SIGKILLed), the directory opens again, with every synced write of the
//! killed holder.
//!
//! The cross-process cases re-execute this test binary as children running
//! only [`child_open`] (reports the outcome of its open through its exit
//! code and, when `Locked`, how long the open took on stdout) or
//! [`child_hold`] (opens, writes synced keys, says `ready`, then sleeps
//! until it is killed).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rillkv::fs::FaultFs;
use rillkv::{Db, ErrorKind, Options, WriteBatch, WriteOptions};

use crate::support::{child_command, collect};

const ENV_DIR: &str = "RILLKV_LOCK_CHILD_DIR";
const ENV_HOLD_DIR: &str = "RILLKV_LOCK_HOLDER_DIR";
const EXIT_OPENED: i32 = 0;
const EXIT_LOCKED: i32 = 10;
const EXIT_OTHER: i32 = 11;

/// How soon a second process must be told `Locked`.
const LOCKED_WITHIN: Duration = Duration::from_millis(100);
/// Synced keys the holder writes before it is killed.
const HELD_KEYS: u32 = 100;
/// The longest the holder sleeps if nobody kills it (a failed parent must
/// not leave it behind for long).
const HOLDER_SLEEP: Duration = Duration::from_secs(60);

/// The child: tries to open the directory and exits with a code naming the
/// outcome. Does nothing unless started with `RILLKV_LOCK_CHILD_DIR`.
#[test]
fn child_open() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let start = Instant::now();
    let opened = Db::open(&dir, Options::default());
    let took = start.elapsed();
    let code = match opened {
        Ok(db) => {
            db.put("child", "was here").expect("child put");
            db.close().expect("child close");
            EXIT_OPENED
        }
        Err(e) if e.kind() == ErrorKind::Locked => {
            // The leading newline ends libtest's unterminated
            // "test child_open ... ".
            let mut out = std::io::stdout().lock();
            out.write_all(format!("\nlocked-after-us {}\n", took.as_micros()).as_bytes())
                .expect("stdout");
            out.flush().expect("stdout");
            EXIT_LOCKED
        }
        Err(e) => {
            eprintln!("child: open failed: {e}");
            EXIT_OTHER
        }
    };
    std::process::exit(code);
}

fn held_key(i: u32) -> String {
    format!("held/{i:04}")
}

fn held_value(i: u32) -> String {
    format!("value {i} written by the holder before its SIGKILL")
}

/// The holder child: opens the directory, writes [`HELD_KEYS`] synced
/// keys, prints `ready`, then sleeps until the parent kills it. Does
/// nothing unless started with `RILLKV_LOCK_HOLDER_DIR`.
#[test]
fn child_hold() {
    let Ok(dir) = std::env::var(ENV_HOLD_DIR) else {
        return;
    };
    let db = Db::open(&dir, Options::default()).expect("holder: open");
    let sync = WriteOptions::default().sync(true);
    for i in 0..HELD_KEYS {
        let mut batch = WriteBatch::new();
        batch.put(held_key(i), held_value(i));
        db.write_opt(batch, &sync).expect("holder: synced put");
    }
    let mut out = std::io::stdout().lock();
    out.write_all(b"\nready\n").expect("stdout");
    out.flush().expect("stdout");
    std::thread::sleep(HOLDER_SLEEP);
    eprintln!("holder: nobody killed me");
    std::process::exit(EXIT_OTHER);
}

/// Runs [`child_open`] on `dir`: its exit code, and how long its open took
/// when it was `Locked`.
fn open_in_child(dir: &Path) -> (i32, Option<Duration>) {
    let out = child_command(module_path!(), "child_open")
        .env(ENV_DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run child");
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "child died by signal: {}; stderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let took = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("locked-after-us ")?.parse().ok())
        .map(Duration::from_micros);
    (code, took)
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing
/// test leaves no holder behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts [`child_hold`] on `dir` and waits until it holds the directory
/// with its keys synced.
fn start_holder(dir: &Path) -> KillOnDrop {
    let child = child_command(module_path!(), "child_hold")
        .env(ENV_HOLD_DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holder");
    let mut holder = KillOnDrop(child);
    let stdout = holder.0.stdout.take().expect("holder stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "ready" {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = holder.0.kill();
        let status = holder.0.wait().expect("wait for holder");
        let mut stderr = String::new();
        if let Some(mut e) = holder.0.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        panic!("the holder never became ready ({status}); stderr:\n{stderr}");
    }
    holder
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
    let (code, took) = open_in_child(dir.path());
    assert_eq!(
        code, EXIT_LOCKED,
        "child must see Locked while we hold the db"
    );
    let took = took.expect("the child reports how long its open took");
    eprintln!("a second process was told Locked after {took:?}");
    assert!(
        took < LOCKED_WITHIN,
        "the second process waited {took:?} for Locked"
    );
    db.close().expect("close");
    assert_eq!(
        open_in_child(dir.path()).0,
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

/// A child process forked while the database is open (any thread of the
/// program spawning a subprocess: between `fork` and `exec` the child holds
/// copies of every descriptor) must not keep the directory locked once the
/// database is closed. With an `flock` lock it did: the lock lives on the
/// open file, which the child's copy kept open, and the reopen failed with
/// `Locked` (a CI run saw it when a crash test spawned its child just as a
/// lifecycle test closed and reopened). The lock is the process's now.
#[test]
#[expect(
    unsafe_code,
    reason = "fork without exec is the exact window to reproduce"
)]
fn a_forked_child_does_not_keep_the_directory_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("k", "v").expect("put");
    // SAFETY: the child calls only async-signal-safe functions (`sleep`,
    // `_exit`), so forking a multi-threaded process is sound; the parent
    // kills and reaps it below.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: as above.
        unsafe {
            libc::sleep(30);
            libc::_exit(0);
        }
    }
    assert!(child > 0, "fork failed");
    db.close().expect("close");
    let reopened = Db::open(dir.path(), Options::default());
    // SAFETY: `child` is our own child's pid; kill and waitpid touch only
    // the status integer we pass.
    unsafe {
        libc::kill(child, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(child, &mut status, 0);
    }
    let reopened = reopened.expect("reopen while a forked child still holds the old descriptor");
    assert_eq!(reopened.get("k").expect("get").as_deref(), Some(&b"v"[..]));
    // And a second open in this process is still refused.
    let err = Db::open(dir.path(), Options::default()).expect_err("second open");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    reopened.close().expect("close");
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
    assert_eq!(collect(db.iter()).len(), 30 * 20);
    db.close().expect("close");
}

/// A process holding the directory: any other process — a child, and this
/// one — is told `Locked` within 100 ms (the open is timed where it runs).
/// Once the holder is SIGKILLed (no close, no drop: the kernel releases its
/// lock), this process reopens at the first attempt and finds every synced
/// write of the holder.
#[test]
fn locked_within_100ms_and_reopen_after_the_holder_is_sigkilled() {
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut holder = start_holder(dir.path());

    let mut latencies = Vec::new();
    for attempt in 0..5 {
        let (code, took) = open_in_child(dir.path());
        assert_eq!(
            code, EXIT_LOCKED,
            "attempt {attempt}: the child was not Locked"
        );
        latencies.push(took.expect("the child reports how long its open took"));
    }
    let start = Instant::now();
    let err = Db::open(dir.path(), Options::default())
        .map(|_| ())
        .expect_err("the holder has the directory");
    let here = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    eprintln!("Locked after {latencies:?} in child processes, {here:?} in this one: {err}");
    for took in latencies.iter().chain([&here]) {
        assert!(took < &LOCKED_WITHIN, "Locked only after {took:?}");
    }

    // SIGKILL: the holder gets no chance to close anything.
    holder.0.kill().expect("SIGKILL the holder");
    let status = holder.0.wait().expect("reap the holder");
    assert_eq!(
        status.signal(),
        Some(9),
        "the holder died of SIGKILL, not by itself: {status}"
    );

    let db = Db::open(dir.path(), Options::default())
        .expect("the first reopen after the holder's SIGKILL succeeds");
    for i in 0..HELD_KEYS {
        assert_eq!(
            db.get(held_key(i)).expect("get").as_deref(),
            Some(held_value(i).as_bytes()),
            "synced write {i} of the killed holder"
        );
    }
    assert_eq!(collect(db.prefix("held/")).len(), HELD_KEYS as usize);
    db.close().expect("close");
}
