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
}

impl Counters {
    pub(crate) fn record_group(&self, _batches: usize, entries: u32, bytes: usize) {
        self.writes.fetch_add(u64::from(entries), Ordering::Relaxed);
        self.write_groups.fetch_add(1, Ordering::Relaxed);
        self.wal_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CounterValues {
        CounterValues {
            writes: self.writes.load(Ordering::Relaxed),
            write_groups: self.write_groups.load(Ordering::Relaxed),
            wal_bytes: self.wal_bytes.load(Ordering::Relaxed),
            wal_syncs: self.wal_syncs.load(Ordering::Relaxed),
            gets: self.gets.load(Ordering::Relaxed),
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
}

/// A snapshot of the database's shape and counters, from
/// [`Db::stats`](crate::Db::stats). `Display` prints a table.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Stats {
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
    /// Counters since open.
    pub counters: CounterValues,
    /// WAL files replayed at open.
    pub recovered_wal_files: u64,
    /// Entries replayed at open.
    pub recovered_entries: u64,
    /// Damaged log tails dropped at open (file @ offset: reason).
    pub dropped_log_tails: Vec<String>,
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
        writeln!(f, "{:<28}{:>16}", "last seqno", self.last_seqno)?;
        writeln!(f, "{:<28}{:>16}", "live snapshots", self.live_snapshots)?;
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
