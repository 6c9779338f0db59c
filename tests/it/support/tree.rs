//! The tree a database lists (`Db::stats`): its tables, their sizes and
//! entries, its shape; the tables its directory holds against those; and
//! waiting for background work to settle.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use rillkv::fs::Fs;
use rillkv::{Db, Stats};

use super::table_numbers;

/// The table numbers a stats snapshot lists.
pub fn live_tables(stats: &Stats) -> BTreeSet<u64> {
    stats
        .runs
        .iter()
        .flat_map(|r| r.tables.iter().map(|t| t.number))
        .collect()
}

/// Number of tables.
pub fn table_count(stats: &Stats) -> usize {
    stats.runs.iter().map(|r| r.tables.len()).sum()
}

/// Entries (versions) in every table.
pub fn total_entries(stats: &Stats) -> u64 {
    stats
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.entries)
        .sum()
}

/// Bytes of every table.
pub fn total_table_bytes(stats: &Stats) -> u64 {
    stats
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.size)
        .sum()
}

/// Checks the structural invariants `Stats::runs` exposes: runs newest
/// first with distinct ids, each run's tables sorted and disjoint.
pub fn assert_runs_well_formed(stats: &Stats, ctx: &str) {
    for pair in stats.runs.windows(2) {
        assert!(
            pair[0].id > pair[1].id,
            "{ctx}: runs not newest first: {} then {}",
            pair[0].id,
            pair[1].id
        );
    }
    for run in &stats.runs {
        for t in &run.tables {
            assert!(
                t.smallest <= t.largest,
                "{ctx}: table {} inverted",
                t.number
            );
        }
        for pair in run.tables.windows(2) {
            assert!(
                pair[0].largest < pair[1].smallest,
                "{ctx}: tables {} and {} of run {} overlap or are unsorted",
                pair[0].number,
                pair[1].number,
                run.id
            );
        }
    }
}

/// Asserts that the directory holds exactly the tables the version lists:
/// no orphan (a leftover flush or compaction output, intermediate or
/// input), none missing. Call it when no flush or compaction is running
/// (after `Db::flush`).
pub fn assert_no_orphan_tables(db: &Db, fs: &dyn Fs, dir: &Path, ctx: &str) {
    let on_disk = table_numbers(fs, dir);
    let live = live_tables(&db.stats());
    let orphans: Vec<_> = on_disk.difference(&live).collect();
    let missing: Vec<_> = live.difference(&on_disk).collect();
    assert!(
        orphans.is_empty() && missing.is_empty(),
        "{ctx}: the directory's tables differ from the version's: orphans {orphans:?}, \
         missing {missing:?}"
    );
}

/// Polls `stats()` until no memtable waits for flush and the policy has no
/// compaction to run (`pending_compaction_bytes == 0`), or `timeout`.
/// Returns whether the tree settled.
pub fn wait_for_compactions(db: &Db, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let s = db.stats();
        if s.sealed_memtables == 0 && s.pending_compaction_bytes == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
