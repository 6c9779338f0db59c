//! Checkpoints, incremental backups and a restore, while a writer runs;
//! then a read-only look at the restored copy.
//!
//! ```text
//! cargo run --release --example backup
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rillkv::{BackupEngine, Db, Options};

fn main() -> rillkv::Result<()> {
    let tmp = tempfile::tempdir()?;
    let db = Db::open(tmp.path().join("db"), Options::default())?;
    for i in 0..100_000u32 {
        db.put(format!("user:{i:08}"), format!("profile {i}"))?;
    }
    db.flush()?;

    // A writer keeps going while we copy.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        std::thread::spawn(move || -> rillkv::Result<u32> {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                db.put(format!("event:{n:08}"), b"clicked")?;
                n += 1;
            }
            Ok(n)
        })
    };

    // A checkpoint: hard links on one filesystem, so it costs the same
    // whatever the size of the data.
    let started = Instant::now();
    let seqno = db.checkpoint(tmp.path().join("checkpoint"))?;
    println!(
        "checkpoint at seqno {seqno} in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    // Backups: the first copies every table, the next only new ones.
    let mut backups = BackupEngine::open(tmp.path().join("backups"))?;
    for round in 1..=3 {
        let started = Instant::now();
        let mut copied = (0, 0);
        let info = backups.create_with(&db, |p| copied = (p.files_copied, p.bytes_copied))?;
        println!(
            "backup {} at seqno {}: {} files, {} bytes; copied {} files, {} bytes in {:.1} ms",
            info.id,
            info.seqno,
            info.files,
            info.bytes,
            copied.0,
            copied.1,
            started.elapsed().as_secs_f64() * 1e3
        );
        if round == 2 {
            db.flush()?; // a new table for the third backup
        }
    }
    stop.store(true, Ordering::Relaxed);
    let events = writer.join().expect("the writer thread")?;
    println!("the writer made {events} writes meanwhile");

    let newest = backups.list()?.pop().expect("three backups");
    backups.verify(newest.id)?;
    let report = backups.purge(1)?;
    println!(
        "purged backups {:?}: {} files, {} bytes freed",
        report.removed, report.files_deleted, report.bytes_freed
    );

    // Restore into a new directory: it opens as a normal database, here
    // read-only (no lock, nothing written).
    let restored_dir = tmp.path().join("restored");
    backups.restore(newest.id, &restored_dir)?;
    let restored = Db::open_read_only(&restored_dir, Options::default())?;
    let events_restored = restored.prefix(b"event:").count();
    println!(
        "restored backup {}: {} users, {events_restored} events (seqno {})",
        newest.id,
        restored.prefix(b"user:").count(),
        restored.stats().last_seqno
    );
    assert_eq!(restored.stats().last_seqno, newest.seqno);
    let checkpoint = Db::open(tmp.path().join("checkpoint"), Options::default())?;
    assert_eq!(checkpoint.prefix(b"user:").count(), 100_000);
    checkpoint.close()?;
    restored.close()?;
    db.close()?;
    Ok(())
}
