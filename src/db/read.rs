//! The read path: point lookups at a sequence number, and stats.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::DbInner;
use crate::error::Result;
use crate::key::{SeqNo, ValueKind};
use crate::stats::Stats;

impl DbInner {
    /// The value of `key` as of `seqno`: the active memtable, then sealed
    /// memtables newest first; the first version found decides.
    pub(crate) fn get_at(&self, key: &[u8], seqno: SeqNo) -> Result<Option<Bytes>> {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let sv = self.current();
        let memtables = std::iter::once(&sv.active).chain(sv.sealed.iter());
        for mem in memtables {
            if let Some((kind, value)) = mem.get(key, seqno) {
                return Ok(match kind {
                    ValueKind::Put => Some(value),
                    // Merge operands cannot be written without an operator.
                    ValueKind::Delete | ValueKind::Merge => None,
                });
            }
        }
        Ok(None)
    }

    pub(crate) fn stats(&self) -> Stats {
        let sv = self.current();
        Stats {
            last_seqno: self.last_seqno(),
            active_memtable_bytes: sv.active.approximate_size() as u64,
            active_memtable_entries: sv.active.len() as u64,
            sealed_memtables: sv.sealed.len() as u64,
            sealed_memtable_bytes: sv.sealed.iter().map(|m| m.approximate_size() as u64).sum(),
            live_snapshots: self.snapshots.len() as u64,
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
