//! Backpressure bounds the memtables waiting for flush without
//! deadlocking: with a 4 KiB memtable and `max_sealed_memtables(1)`, many
//! concurrent writers (plain, synced and batched), readers and `flush`
//! callers all finish, writers stall while the flush catches up, at most
//! one sealed memtable ever waits, and every write is readable afterwards
//! and after a reopen. When the flush fails while writers are stalled, they
//! wake with an error instead of hanging, and every acknowledged write
//! survives.
//!
//! Knobs: `RILLKV_STALL_WRITES` (writes per writer, default 600),
//! `RILLKV_STALL_TIMEOUT_SECS` (how long before a hang counts as a
//! deadlock, default 120).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{CompactionOptions, Db, Options, WriteBatch, WriteOptions};

use crate::support::{Model, env_num, read_all};

/// Fails the test instead of hanging if `threads` do not all finish in
/// time (a deadlock).
fn join_all<T: Send + 'static>(threads: Vec<thread::JoinHandle<T>>, what: &str) -> Vec<T> {
    let (tx, rx) = mpsc::channel();
    let n = threads.len();
    thread::spawn(move || {
        for t in threads {
            let _ = tx.send(t.join());
        }
    });
    let timeout = Duration::from_secs(env_num("RILLKV_STALL_TIMEOUT_SECS", 120));
    (0..n)
        .map(|i| {
            rx.recv_timeout(timeout)
                .unwrap_or_else(|_| {
                    panic!("{what}: thread {i} of {n} did not finish in {timeout:?}: deadlock?")
                })
                .expect("thread panicked")
        })
        .collect()
}

/// Write `i` of writer `t`.
fn writer_key(t: usize, i: usize) -> Vec<u8> {
    format!("t{t:02}-{i:06}").into_bytes()
}

fn value(t: usize, i: usize) -> Vec<u8> {
    format!("value-{t}-{i}-{}", "p".repeat(40 + (i * 7 + t) % 60)).into_bytes()
}

fn options() -> Options {
    Options::default()
        .memtable_size(4096)
        .max_sealed_memtables(1)
}

#[test]
fn concurrent_writers_stall_and_all_finish_with_one_sealed_memtable() {
    let writers = 8usize;
    let per_writer = env_num("RILLKV_STALL_WRITES", 600) as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let done = Arc::new(AtomicBool::new(false));
    let max_sealed = Arc::new(AtomicU64::new(0));
    let saw_stalled = Arc::new(AtomicBool::new(false));

    // Watches the shape while writers run.
    let monitor = {
        let (db, done, max_sealed, saw_stalled) = (
            db.clone(),
            done.clone(),
            max_sealed.clone(),
            saw_stalled.clone(),
        );
        thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                let s = db.stats();
                max_sealed.fetch_max(s.sealed_memtables, Ordering::Relaxed);
                if s.write_stalled {
                    saw_stalled.store(true, Ordering::Relaxed);
                }
                thread::yield_now();
            }
        })
    };
    // Readers and a flusher compete with the writers.
    let helpers: Vec<_> = (0..2)
        .map(|h| {
            let (db, done) = (db.clone(), done.clone());
            thread::spawn(move || {
                let mut ops = 0u64;
                while !done.load(Ordering::Acquire) {
                    if h == 0 {
                        db.flush().expect("flush during stalls");
                    } else {
                        let _ = db.get(writer_key(ops as usize % writers, 0)).expect("get");
                        let n = db.range(writer_key(1, 0)..writer_key(1, 50)).count();
                        assert!(n <= 50);
                    }
                    ops += 1;
                    thread::sleep(Duration::from_micros(if h == 0 { 5000 } else { 200 }));
                }
                ops
            })
        })
        .collect();

    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let db = db.clone();
            thread::spawn(move || {
                let mut i = 0;
                while i < per_writer {
                    match t % 4 {
                        // Batches of 8.
                        0 => {
                            let mut b = WriteBatch::new();
                            for j in i..(i + 8).min(per_writer) {
                                b.put(writer_key(t, j), value(t, j));
                            }
                            db.write(b).expect("batch");
                            i += 8;
                        }
                        // Synced writes, every tenth.
                        1 => {
                            let sync = i.is_multiple_of(10);
                            let mut b = WriteBatch::new();
                            b.put(writer_key(t, i), value(t, i));
                            db.write_opt(b, &WriteOptions::default().sync(sync))
                                .expect("put");
                            i += 1;
                        }
                        _ => {
                            db.put(writer_key(t, i), value(t, i)).expect("put");
                            i += 1;
                        }
                    }
                }
            })
        })
        .collect();
    join_all(threads, "writers");
    done.store(true, Ordering::Release);
    let helper_ops = join_all(helpers, "helpers");
    join_all(vec![monitor], "monitor");

    let stats = db.stats();
    eprintln!(
        "{} writes: {} stalls ({} ms), {} flushes, max sealed seen {}, stalled seen {}, helper ops {helper_ops:?}",
        stats.counters.writes,
        stats.counters.stalls,
        stats.counters.stall_micros / 1000,
        stats.counters.flushes,
        max_sealed.load(Ordering::Relaxed),
        saw_stalled.load(Ordering::Relaxed)
    );
    assert!(
        max_sealed.load(Ordering::Relaxed) <= 1,
        "more sealed memtables than max_sealed_memtables(1)"
    );
    assert!(
        stats.counters.stalls > 0,
        "writers outpacing a 4 KiB memtable must stall\n{stats}"
    );
    assert!(!stats.write_stalled, "no stall once writers are done");
    assert!(stats.counters.flushes > 10, "{stats}");

    let mut model = Model::new();
    for t in 0..writers {
        for i in 0..per_writer {
            model.insert(writer_key(t, i), value(t, i));
        }
    }
    assert_eq!(read_all(&db), model, "every write is readable");
    db.close().expect("close");
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(read_all(&db), model, "every write survives a reopen");
    db.close().expect("close");
}

#[test]
fn stalled_writers_wake_with_an_error_when_the_flush_fails() {
    let writers = 6usize;
    for failing_sync in [2u64, 5, 9] {
        let fs = FaultFs::new();
        // No background compaction: the failing fsync must be a flush's.
        let opts = || {
            options()
                .fs(fs.clone())
                .compaction(CompactionOptions::default().background(false))
        };
        let db = Db::open("/db", opts()).expect("open");
        let started = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..writers)
            .map(|t| {
                let (db, started) = (db.clone(), started.clone());
                thread::spawn(move || {
                    // Acknowledged writes, and the error that ended them.
                    let mut acked = Vec::new();
                    for i in 0..20_000 {
                        started.fetch_add(1, Ordering::Relaxed);
                        match db.put(writer_key(t, i), value(t, i)) {
                            Ok(()) => acked.push(i),
                            Err(e) => return (acked, Some(e)),
                        }
                    }
                    (acked, None)
                })
            })
            .collect();
        // Let the writers get going (and stall), then fail an fsync: of a
        // WAL being sealed, a table or the manifest.
        while started.load(Ordering::Relaxed) < 200 {
            thread::yield_now();
        }
        fs.fail_nth_sync(failing_sync);
        let results = join_all(threads, "writers facing a failed flush");
        let stats = db.stats();
        let ctx = format!("fsync #{failing_sync} fails");
        let mut model = Model::new();
        let mut errors = 0;
        for (t, (acked, err)) in results.iter().enumerate() {
            for &i in acked {
                model.insert(writer_key(t, i), value(t, i));
            }
            if let Some(e) = err {
                errors += 1;
                assert!(
                    matches!(
                        e.kind(),
                        rillkv::ErrorKind::Io | rillkv::ErrorKind::Poisoned
                    ),
                    "{ctx}: writer {t}: {e}"
                );
            }
        }
        // 20k writes of ~100 bytes rotate the memtable hundreds of times:
        // the failed fsync is always reached.
        assert_eq!(
            errors, writers,
            "{ctx}: every writer saw the failure\n{stats}"
        );
        assert!(!db.stats().write_stalled, "{ctx}: nobody is left stalled");
        drop(db);
        // A process restart: every acknowledged write is there.
        fs.crash(CrashMode::KeepAll);
        let db = Db::open("/db", opts()).expect("reopen");
        assert_eq!(
            read_all(&db),
            model,
            "{ctx}: acknowledged writes after reopen"
        );
        db.put(b"after", b"reopen").expect("writes work again");
        db.flush().expect("flush works again");
        db.close().expect("close");
    }
}
