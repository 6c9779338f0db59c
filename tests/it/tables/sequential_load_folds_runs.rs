//! A sequential load never triggers a merge (no table overlaps another), so
//! its flushes would pile up as runs that every `get` checks. Lone tables
//! are folded into one run by metadata-only edits: the run count stays
//! bounded, no byte is rewritten, every key still reads back, and a reopen
//! sees the same tree.

use std::time::{Duration, Instant};

use rillkv::{CompactionOptions, Db, Options, WriteBatch};

use crate::support::{key, table_count};

#[test]
fn lone_tables_fold_into_one_run_without_rewriting() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        Options::default().memtable_size(64 << 10).compaction(
            CompactionOptions::default()
                .max_merge_files(4)
                .slowdown_runs(20),
        )
    };
    let db = Db::open(dir.path(), opts()).unwrap();
    let n = 40_000u64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut b = WriteBatch::new();
        for &i in chunk {
            b.put(key(i), i.to_le_bytes());
        }
        db.write(b).unwrap();
    }
    db.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.stats().runs.len() > 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = db.stats();
    let tables = table_count(&stats);
    assert!(tables > 10, "the load made many tables: {tables}");
    assert!(
        stats.runs.len() <= 5,
        "{} runs for {tables} lone tables",
        stats.runs.len()
    );
    assert!(stats.counters.run_folds > 0);
    assert_eq!(stats.counters.compactions, 0, "no table was rewritten");
    assert_eq!(stats.max_depth, 1);
    for i in (0..n).step_by(7) {
        assert_eq!(
            db.get(key(i)).unwrap().as_deref(),
            Some(&i.to_le_bytes()[..])
        );
    }
    let runs = stats.runs.len();
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.stats().runs.len(), runs);
    assert_eq!(db.iter().count() as u64, n);
    db.close().unwrap();
}
