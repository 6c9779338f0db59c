//! [`Stats`]: counters and the shape of the database, printable as a table.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated without locks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) writes: AtomicU64,
    pub(crate) write_groups: AtomicU64,
    pub(crate) wal_bytes: AtomicU64,
    pub(crate) wal_syncs: AtomicU64,
    pub(crate) gets: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) table_bytes_written: AtomicU64,
    pub(crate) stalls: AtomicU64,
    pub(crate) stall_micros: AtomicU64,
    pub(crate) merge_operands_folded: AtomicU64,
    pub(crate) merge_writebacks: AtomicU64,
    pub(crate) user_bytes: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compaction_bytes_read: AtomicU64,
    pub(crate) compaction_bytes_written: AtomicU64,
    pub(crate) compaction_micros: AtomicU64,
    pub(crate) slowdowns: AtomicU64,
    pub(crate) run_folds: AtomicU64,
    pub(crate) txn_commits: AtomicU64,
    pub(crate) txn_conflicts_write: AtomicU64,
    pub(crate) txn_conflicts_read: AtomicU64,
    pub(crate) txn_conflicts_range: AtomicU64,
    pub(crate) txn_conflicts_too_old: AtomicU64,
    pub(crate) cas_swapped: AtomicU64,
    pub(crate) cas_mismatched: AtomicU64,
}

impl Counters {
    pub(crate) fn record_group(&self, entries: u32, wal_bytes: usize, user_bytes: u64) {
        self.writes.fetch_add(u64::from(entries), Ordering::Relaxed);
        self.write_groups.fetch_add(1, Ordering::Relaxed);
        self.wal_bytes
            .fetch_add(wal_bytes as u64, Ordering::Relaxed);
        self.user_bytes.fetch_add(user_bytes, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CounterValues {
        CounterValues {
            writes: self.writes.load(Ordering::Relaxed),
            write_groups: self.write_groups.load(Ordering::Relaxed),
            wal_bytes: self.wal_bytes.load(Ordering::Relaxed),
            wal_syncs: self.wal_syncs.load(Ordering::Relaxed),
            gets: self.gets.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            table_bytes_written: self.table_bytes_written.load(Ordering::Relaxed),
            stalls: self.stalls.load(Ordering::Relaxed),
            stall_micros: self.stall_micros.load(Ordering::Relaxed),
            merge_operands_folded: self.merge_operands_folded.load(Ordering::Relaxed),
            merge_writebacks: self.merge_writebacks.load(Ordering::Acquire),
            user_bytes: self.user_bytes.load(Ordering::Relaxed),
            compactions: self.compactions.load(Ordering::Relaxed),
            compaction_bytes_read: self.compaction_bytes_read.load(Ordering::Relaxed),
            compaction_bytes_written: self.compaction_bytes_written.load(Ordering::Relaxed),
            compaction_micros: self.compaction_micros.load(Ordering::Relaxed),
            slowdowns: self.slowdowns.load(Ordering::Relaxed),
            run_folds: self.run_folds.load(Ordering::Relaxed),
            txn_commits: self.txn_commits.load(Ordering::Relaxed),
            txn_conflicts_write: self.txn_conflicts_write.load(Ordering::Relaxed),
            txn_conflicts_read: self.txn_conflicts_read.load(Ordering::Relaxed),
            txn_conflicts_range: self.txn_conflicts_range.load(Ordering::Relaxed),
            txn_conflicts_too_old: self.txn_conflicts_too_old.load(Ordering::Relaxed),
            cas_swapped: self.cas_swapped.load(Ordering::Relaxed),
            cas_mismatched: self.cas_mismatched.load(Ordering::Relaxed),
        }
    }
}

/// Counter values at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CounterValues {
    /// Single writes committed since open (each entry of a batch counts).
    pub writes: u64,
    /// WAL records written: one per commit group.
    pub write_groups: u64,
    /// Bytes of WAL payload written.
    pub wal_bytes: u64,
    /// WAL fsyncs on the write path.
    pub wal_syncs: u64,
    /// Point lookups served.
    pub gets: u64,
    /// Memtables flushed to tables.
    pub flushes: u64,
    /// Bytes of tables written (flush and compaction).
    pub table_bytes_written: u64,
    /// Write stalls: times a writer waited for a flush to make room.
    pub stalls: u64,
    /// Total time writers spent stalled, in microseconds.
    pub stall_micros: u64,
    /// Merge operands folded by point reads.
    pub merge_operands_folded: u64,
    /// Folded values written back as a new base by point reads.
    pub merge_writebacks: u64,
    /// Bytes of keys and values written by the user since open.
    pub user_bytes: u64,
    /// Compactions finished.
    pub compactions: u64,
    /// Bytes of tables compaction read.
    pub compaction_bytes_read: u64,
    /// Bytes of tables compaction wrote (outputs and intermediate runs).
    pub compaction_bytes_written: u64,
    /// Time spent compacting, in microseconds.
    pub compaction_micros: u64,
    /// Commit groups delayed 1 ms because runs piled up.
    pub slowdowns: u64,
    /// Metadata-only edits that moved lone tables into one run.
    pub run_folds: u64,
    /// Transactions committed with writes (a transaction that wrote
    /// nothing commits without a check and is not counted).
    pub txn_commits: u64,
    /// Transactions refused because a key they write was written after
    /// their snapshot.
    pub txn_conflicts_write: u64,
    /// Serializable transactions refused because a key they read was
    /// written after their snapshot.
    pub txn_conflicts_read: u64,
    /// Serializable transactions refused because a key in a range they
    /// iterated was written after their snapshot.
    pub txn_conflicts_range: u64,
    /// Transactions refused because their snapshot was older than the
    /// index of recent commits
    /// ([`Options::transaction_index_bytes`](crate::Options::transaction_index_bytes)).
    pub txn_conflicts_too_old: u64,
    /// `compare_and_swap` calls that swapped.
    pub cas_swapped: u64,
    /// `compare_and_swap` calls that found another value and wrote nothing.
    pub cas_mismatched: u64,
}

impl CounterValues {
    /// Transactions refused at commit, all kinds together.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// let a = db.transaction();
    /// let b = db.transaction();
    /// a.put(b"k", b"a");
    /// b.put(b"k", b"b");
    /// a.commit()?;
    /// assert!(b.commit().is_err());
    /// let c = db.stats().counters;
    /// assert_eq!((c.txn_commits, c.txn_conflicts()), (1, 1));
    /// # Ok(()) }
    /// ```
    pub fn txn_conflicts(&self) -> u64 {
        self.txn_conflicts_write
            + self.txn_conflicts_read
            + self.txn_conflicts_range
            + self.txn_conflicts_too_old
    }
}

impl CounterValues {
    /// Bytes written to disk (WAL and tables) ÷ bytes the user wrote, since
    /// open. 0 before any write.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::Db::open(dir.path(), rillkv::Options::default())?;
    /// assert_eq!(db.stats().counters.write_amplification(), 0.0);
    /// db.put(b"key", b"value")?;
    /// db.flush()?; // the WAL, then a table: written twice, plus framing
    /// assert!(db.stats().counters.write_amplification() > 2.0);
    /// # Ok(()) }
    /// ```
    pub fn write_amplification(&self) -> f64 {
        if self.user_bytes == 0 {
            return 0.0;
        }
        (self.wal_bytes + self.table_bytes_written) as f64 / self.user_bytes as f64
    }
}

/// One table, as [`Stats`] shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableStats {
    /// File number (`NNNNNN.rkt`).
    pub number: u64,
    /// File size in bytes.
    pub size: u64,
    /// Entries (versions) in the table.
    pub entries: u64,
    /// Smallest user key.
    pub smallest: Vec<u8>,
    /// Largest user key.
    pub largest: Vec<u8>,
}

/// One sorted run, newest first in [`Stats::runs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunStats {
    /// The run's id.
    pub id: u64,
    /// Its tables, sorted by key.
    pub tables: Vec<TableStats>,
}

/// A snapshot of the database's shape and counters, from
/// [`Db::stats`](crate::Db::stats). `Display` prints a table.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Stats {
    /// The keyspace whose memtables, runs and tables these are (the
    /// counters are the whole database's).
    pub keyspace: String,
    /// Every keyspace of the database, `default` first.
    pub keyspaces: Vec<String>,
    /// The newest sequence number.
    pub last_seqno: u64,
    /// Approximate bytes in the active memtable.
    pub active_memtable_bytes: u64,
    /// Entries in the active memtable.
    pub active_memtable_entries: u64,
    /// Sealed memtables waiting to be flushed.
    pub sealed_memtables: u64,
    /// Approximate bytes in sealed memtables.
    pub sealed_memtable_bytes: u64,
    /// Snapshots and iterators currently pinning a sequence number.
    pub live_snapshots: u64,
    /// Sorted runs of tables, newest first.
    pub runs: Vec<RunStats>,
    /// Whether writers are currently stalled waiting for flush.
    pub write_stalled: bool,
    /// Why writes are slowed or stopped right now, if they are.
    pub write_stall_reason: Option<String>,
    /// Overlap groups in the tree.
    pub overlap_groups: u64,
    /// The most tables a point read may probe (the deepest group's runs).
    pub max_depth: u64,
    /// Bytes the compaction the policy would run next would read (0: the
    /// tree needs no compaction).
    pub pending_compaction_bytes: u64,
    /// The last background compaction failure, until one succeeds.
    pub last_compaction_error: Option<String>,
    /// Block cache hits.
    pub block_cache_hits: u64,
    /// Block cache misses.
    pub block_cache_misses: u64,
    /// Bytes of decompressed blocks held by the block cache.
    pub block_cache_bytes: u64,
    /// Lookups a bloom filter answered "absent" (no block read).
    pub bloom_useful: u64,
    /// Lookups a bloom filter let through for a key the table did not hold.
    pub bloom_false_positives: u64,
    /// The current manifest file number.
    pub manifest_number: u64,
    /// Counters since open.
    pub counters: CounterValues,
    /// WAL files replayed at open.
    pub recovered_wal_files: u64,
    /// Entries replayed at open.
    pub recovered_entries: u64,
    /// Damaged log tails dropped at open (file @ offset: reason).
    pub dropped_log_tails: Vec<String>,
}

/// A key for display: text when printable, hex otherwise, cut at 24 bytes.
fn show_key(key: &[u8]) -> String {
    let cut = key.get(..24).unwrap_or(key);
    let more = if cut.len() < key.len() { "…" } else { "" };
    if cut.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{}{more}", String::from_utf8_lossy(cut))
    } else {
        let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}{more}")
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{bytes} {name}")
    } else {
        format!("{v:.1} {name}")
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        writeln!(f, "** rillkv stats **")?;
        writeln!(f, "{:<28}{:>16}", "keyspace", self.keyspace)?;
        if self.keyspaces.len() > 1 {
            writeln!(f, "{:<28}{:>16}", "keyspaces", self.keyspaces.join(", "))?;
        }
        writeln!(f, "{:<28}{:>16}", "last seqno", self.last_seqno)?;
        writeln!(f, "{:<28}{:>16}", "live snapshots", self.live_snapshots)?;
        let tables: usize = self.runs.iter().map(|r| r.tables.len()).sum();
        let bytes: u64 = self
            .runs
            .iter()
            .flat_map(|r| &r.tables)
            .map(|t| t.size)
            .sum();
        writeln!(f, "-- tables --")?;
        writeln!(
            f,
            "{:<28}{:>16}  ({tables} tables in {} runs)",
            "total",
            human(bytes),
            self.runs.len()
        )?;
        writeln!(
            f,
            "{:>6} {:>8} {:>10} {:>10}  key range",
            "run", "table", "size", "entries"
        )?;
        for run in &self.runs {
            for t in &run.tables {
                writeln!(
                    f,
                    "{:>6} {:>8} {:>10} {:>10}  {} .. {}",
                    run.id,
                    t.number,
                    human(t.size),
                    t.entries,
                    show_key(&t.smallest),
                    show_key(&t.largest)
                )?;
            }
        }
        writeln!(
            f,
            "{:<28}{:>16}  (deepest: {} runs; pending compaction {})",
            "overlap groups",
            self.overlap_groups,
            self.max_depth,
            human(self.pending_compaction_bytes)
        )?;
        writeln!(f, "-- memtables --")?;
        writeln!(
            f,
            "{:<28}{:>16}  ({} entries)",
            "active",
            human(self.active_memtable_bytes),
            self.active_memtable_entries
        )?;
        writeln!(
            f,
            "{:<28}{:>16}  ({} memtables)",
            "sealed",
            human(self.sealed_memtable_bytes),
            self.sealed_memtables
        )?;
        writeln!(f, "-- writes since open --")?;
        writeln!(f, "{:<28}{:>16}", "writes", c.writes)?;
        let per_group = if c.write_groups == 0 {
            0.0
        } else {
            c.writes as f64 / c.write_groups as f64
        };
        writeln!(
            f,
            "{:<28}{:>16}  ({per_group:.2} writes/group)",
            "commit groups", c.write_groups
        )?;
        writeln!(f, "{:<28}{:>16}", "wal bytes", human(c.wal_bytes))?;
        writeln!(f, "{:<28}{:>16}", "wal fsyncs", c.wal_syncs)?;
        writeln!(f, "{:<28}{:>16}", "gets", c.gets)?;
        writeln!(f, "{:<28}{:>16}", "flushes", c.flushes)?;
        writeln!(
            f,
            "{:<28}{:>16}  ({} written back)",
            "merge operands folded", c.merge_operands_folded, c.merge_writebacks
        )?;
        writeln!(
            f,
            "{:<28}{:>16}  ({} conflicts: {} write, {} read, {} range, {} too old)",
            "transactions committed",
            c.txn_commits,
            c.txn_conflicts(),
            c.txn_conflicts_write,
            c.txn_conflicts_read,
            c.txn_conflicts_range,
            c.txn_conflicts_too_old
        )?;
        writeln!(
            f,
            "{:<28}{:>16}  ({} mismatched)",
            "compare-and-swaps", c.cas_swapped, c.cas_mismatched
        )?;
        writeln!(
            f,
            "{:<28}{:>16}",
            "table bytes written",
            human(c.table_bytes_written)
        )?;
        writeln!(
            f,
            "{:<28}{:>16}  ({:.1} ms stalled{})",
            "write stalls",
            c.stalls,
            c.stall_micros as f64 / 1e3,
            if self.write_stalled {
                ", stalled now: waiting for flush"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "{:<28}{:>16}  ({} read, {} written, {:.1} s)",
            "compactions",
            c.compactions,
            human(c.compaction_bytes_read),
            human(c.compaction_bytes_written),
            c.compaction_micros as f64 / 1e6
        )?;
        writeln!(
            f,
            "{:<28}{:>16.2}  (wal + tables ÷ user bytes {})",
            "write amplification",
            c.write_amplification(),
            human(c.user_bytes)
        )?;
        if let Some(r) = &self.write_stall_reason {
            writeln!(f, "write stall now: {r}")?;
        }
        if let Some(e) = &self.last_compaction_error {
            writeln!(f, "last compaction error: {e}")?;
        }
        writeln!(f, "-- reads --")?;
        let lookups = self.block_cache_hits + self.block_cache_misses;
        let hit_rate = if lookups == 0 {
            0.0
        } else {
            100.0 * self.block_cache_hits as f64 / lookups as f64
        };
        writeln!(
            f,
            "{:<28}{:>15.1}%  ({} hits, {} misses, {} cached)",
            "block cache hit rate",
            hit_rate,
            self.block_cache_hits,
            self.block_cache_misses,
            human(self.block_cache_bytes)
        )?;
        writeln!(
            f,
            "{:<28}{:>16}  ({} false positives)",
            "bloom filter skips", self.bloom_useful, self.bloom_false_positives
        )?;
        writeln!(f, "-- recovery --")?;
        writeln!(
            f,
            "{:<28}{:>16}  ({} entries)",
            "wal files replayed", self.recovered_wal_files, self.recovered_entries
        )?;
        if self.dropped_log_tails.is_empty() {
            writeln!(f, "{:<28}{:>16}", "damaged tails dropped", 0)?;
        } else {
            for d in &self.dropped_log_tails {
                writeln!(f, "dropped tail: {d}")?;
            }
        }
        Ok(())
    }
}
