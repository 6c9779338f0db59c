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
