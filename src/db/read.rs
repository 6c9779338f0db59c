//! The read path at the database's level: point reads (counted, with
//! corruption reported and long merge folds offered for write-back), and
//! stats. The walk itself is the tree's ([`ReadView::get`]).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::DbInner;
use crate::compaction::{CompactionPolicy, TieredPolicy};
use crate::error::Result;
use crate::event::CorruptionContext;
use crate::key::{KeyspaceId, SeqNo};
use crate::stats::{RunStats, Stats, TableStats};
use crate::tree::{ReadView, Tree};

impl DbInner {
    /// The value of `key` in `view`. With `latest` (a `Db::get`, not a
    /// snapshot's), a fold of more than `merge_writeback_threshold`
    /// operands is offered for write-back (never waiting: see `write.rs`).
    pub(super) fn get(
        &self,
        tree: &Tree,
        view: &ReadView,
        key: &[u8],
        latest: bool,
    ) -> Result<Option<Bytes>> {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let lookup = match view.get(key) {
            Ok(lookup) => lookup,
            Err(e) => {
                self.report_corruption(&e, CorruptionContext::Get);
                return Err(e);
            }
        };
        if lookup.folded > 0 {
            self.counters
                .merge_operands_folded
                .fetch_add(lookup.folded, Ordering::Relaxed);
            let threshold = self.opts.merge_writeback_threshold as u64;
            if let (true, true, Some(value)) = (
                latest,
                threshold > 0 && lookup.folded > threshold,
                &lookup.value,
            ) {
                self.offer_write_back(tree.id(), key, value.clone(), view.seqno());
            }
        }
        Ok(lookup.value)
    }

    /// The sequence number of the newest version of `key` in `keyspace`,
    /// if any (none in a dropped keyspace).
    pub(super) fn newest_seqno(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<SeqNo>> {
        match self.tree(keyspace) {
            Some(tree) => tree.current().newest_seqno(key),
            None => Ok(None),
        }
    }

    /// The stats of `tree`, with the database's counters.
    pub(super) fn stats(&self, tree: &Tree) -> Stats {
        let sv = tree.current();
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
            keyspace: tree.name().to_owned(),
            keyspaces: self.trees().iter().map(|t| t.name().to_owned()).collect(),
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
            write_stall_reason: if self.flush.is_stalled() {
                Some("waiting for flush: max_sealed_memtables reached".to_owned())
            } else {
                self.compaction.stall_reason()
            },
            overlap_groups: sv.version.shape().overlap_groups().len() as u64,
            max_depth: sv.version.max_depth() as u64,
            pending_compaction_bytes: TieredPolicy
                .pick(sv.version.shape(), &tree.opts().compaction)
                .map_or(0, |j| j.bytes()),
            last_compaction_error: self.compaction.last_error(),
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
