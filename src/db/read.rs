//! The read path: point lookups at a sequence number, and stats.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::DbInner;
use crate::error::Result;
use crate::key::{SeqNo, ValueKind};
use crate::stats::{RunStats, Stats, TableStats};

fn resolve(kind: ValueKind, value: Bytes) -> Option<Bytes> {
    match kind {
        ValueKind::Put => Some(value),
        // Merge operands cannot be written without an operator.
        ValueKind::Delete | ValueKind::Merge => None,
    }
}

impl DbInner {
    /// The value of `key` as of `seqno`: the active memtable, then sealed
    /// memtables newest first, then each sorted run newest first (the one
    /// table whose key range holds the key; its bloom filter first). The
    /// first version found decides.
    pub(crate) fn get_at(&self, key: &[u8], seqno: SeqNo) -> Result<Option<Bytes>> {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let sv = self.current();
        let memtables = std::iter::once(&sv.active).chain(sv.sealed.iter());
        for mem in memtables {
            if let Some((kind, value)) = mem.get(key, seqno) {
                return Ok(resolve(kind, value));
            }
        }
        for run in &sv.version.runs {
            let Some(file) = run.table_for(key) else {
                continue;
            };
            if file.meta.min_seqno > seqno {
                continue;
            }
            if let Some((kind, _, value)) = file.table()?.get(key, seqno)? {
                return Ok(resolve(kind, value));
            }
        }
        Ok(None)
    }

    pub(crate) fn stats(&self) -> Stats {
        let sv = self.current();
        let cache = self
            .block_cache
            .as_ref()
            .map(|c| c.stats())
            .unwrap_or_default();
        let mut filters = (0, 0);
        for t in sv.version.tables() {
            if let Some(table) = t.opened() {
                let f = table.filter_stats();
                filters.0 += f.useful;
                filters.1 += f.false_positives;
            }
        }
        Stats {
            last_seqno: self.last_seqno(),
            active_memtable_bytes: sv.active.approximate_size() as u64,
            active_memtable_entries: sv.active.len() as u64,
            sealed_memtables: sv.sealed.len() as u64,
            sealed_memtable_bytes: sv.sealed.iter().map(|m| m.approximate_size() as u64).sum(),
            live_snapshots: self.snapshots.len() as u64,
            runs: sv
                .version
                .runs
                .iter()
                .map(|r| RunStats {
                    id: r.id,
                    tables: r
                        .tables
                        .iter()
                        .map(|t| TableStats {
                            number: t.meta.number,
                            size: t.meta.size,
                            entries: t.meta.entries,
                            smallest: t.meta.smallest.to_vec(),
                            largest: t.meta.largest.to_vec(),
                        })
                        .collect(),
                })
                .collect(),
            write_stalled: self.flush.is_stalled(),
            block_cache_hits: cache.hits,
            block_cache_misses: cache.misses,
            block_cache_bytes: cache.used_bytes,
            bloom_useful: filters.0,
            bloom_false_positives: filters.1,
            manifest_number: self.versions.lock().manifest_number(),
            counters: self.counters.snapshot(),
            recovered_wal_files: self.recovery.wal_files as u64,
            recovered_entries: self.recovery.entries,
            dropped_log_tails: self
                .recovery
                .dropped
                .iter()
                .map(|d| format!("{} @ {}: {}", d.file.display(), d.offset, d.reason))
                .collect(),
        }
    }
}
