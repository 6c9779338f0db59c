//! `Db::verify` reads every live file and reports each damaged one by name,
//! without failing the call, and finds nothing wrong in a sound database.

use std::path::Path;

use rillkv::fs::FaultFs;
use rillkv::{CompactionOptions, Compression, Db, Options};

use crate::support::table_paths;

const DIR: &str = "/db";

fn opts(fs: &FaultFs) -> Options {
    Options::default()
        .fs(fs.clone())
        .memtable_size(16 << 10)
        .compression(Compression::None)
        .block_cache_size(0)
        .compaction(CompactionOptions::default().background(false))
}

fn build() -> (FaultFs, Db) {
    let fs = FaultFs::new();
    let db = Db::open(DIR, opts(&fs)).expect("setup");
    for i in 0..3_000u32 {
        db.put(
            format!("key{i:06}"),
            format!("value-{i}-{}", "x".repeat(40)),
        )
        .expect("setup");
    }
    db.flush().expect("setup");
    (fs, db)
}

#[test]
fn a_sound_database_verifies_clean() {
    let (_fs, db) = build();
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.files_checked >= 3, "{report}");
    assert_eq!(
        report.entries_checked,
        3_000 - db.stats().active_memtable_entries
    );
    db.close().unwrap();
}

#[test]
fn a_flipped_bit_in_a_data_block_is_reported_by_file() {
    let (fs, db) = build();
    let victim = table_paths(&fs, Path::new(DIR))[0].clone();
    let mut bytes = fs.file_bytes(&victim).unwrap();
    bytes[100] ^= 0x08; // inside the first data block
    fs.set_file_bytes(&victim, bytes).unwrap();
    let report = db.verify().unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.problems.len(), 1, "{report}");
    assert_eq!(report.problems[0].file, victim);
    assert!(report.problems[0].message.contains("offset"), "{report}");
    assert!(report.to_string().contains("DAMAGED"));
    db.close().unwrap();
}

#[test]
fn a_truncated_table_is_reported() {
    let (fs, db) = build();
    let victim = table_paths(&fs, Path::new(DIR))[1].clone();
    let mut bytes = fs.file_bytes(&victim).unwrap();
    bytes.truncate(bytes.len() - 10);
    fs.set_file_bytes(&victim, bytes).unwrap();
    let report = db.verify().unwrap();
    assert!(report.problems.iter().any(|p| p.file == victim), "{report}");
    db.close().unwrap();
}

/// `verify` while a writer appends, rotates WALs and flushes, on the real
/// filesystem: a live database is sound, so every report must be clean.
/// The logs are read only up to what their writers had appended (a read
/// racing an append can see a later page written before an earlier one),
/// and a WAL retired and deleted between its lookup and its read is not a
/// problem.
#[test]
fn verify_during_writes_reports_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        Options::default()
            .memtable_size(64 << 10)
            .compaction(CompactionOptions::default().background(true)),
    )
    .expect("open");
    let stop = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    // At least this many verifies, and on until the writer has made this
    // many puts (about 15 MB: many WAL rotations and flushes).
    let rounds = crate::support::env_num("RILLKV_VERIFY_ROUNDS", 200);
    let puts = crate::support::env_num("RILLKV_VERIFY_PUTS", 30_000);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Values of a few hundred bytes: appends cross pages often.
                let value = vec![b'a' + (i % 26) as u8; 100 + (i as usize * 37) % 900];
                db.put(format!("key{:06}", i % 5_000), value).expect("put");
                i += 1;
                written.store(i, Ordering::Relaxed);
            }
        });
        // Stops the writer however this thread leaves (a failed assertion
        // included), so the scope can end.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        let mut round = 0;
        while round < rounds || written.load(Ordering::Relaxed) < puts {
            let report = db.verify().expect("verify");
            assert!(report.is_ok(), "round {round}: {report}");
            round += 1;
        }
    });
    db.close().expect("close");
}
