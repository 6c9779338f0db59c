//! The read path: point lookups at a sequence number, and stats.

use std::sync::atomic::Ordering;

use std::sync::Arc;

use bytes::Bytes;

use super::{DbInner, SuperVersion};
use crate::compaction::{CompactionPolicy, TieredPolicy};
use crate::error::Result;
use crate::key::{MAX_SEQNO, SeqNo, ValueKind};
use crate::merge::resolve::{NewestFirst, merge_failed, no_operator};
use crate::stats::{RunStats, Stats, TableStats};

impl DbInner {
    /// The value of `key` as of `seqno`: the active memtable, then sealed
    /// memtables newest first, then each sorted run newest first (the one
    /// table whose key range holds the key; its bloom filter first).
    ///
    /// The first version found decides, unless it is a merge operand: then
    /// operands are collected newest → oldest until a Put (base), a Delete
    /// (no base) or the end of the key's history, folded in chunks of
    /// `merge_batch_size`. With `latest`, a long fold is offered for
    /// write-back (never waiting: see `write.rs`).
    pub(crate) fn get_at(
        &self,
        key: &[u8],
        seqno: SeqNo,
        sv: Arc<SuperVersion>,
        latest: bool,
    ) -> Result<Option<Bytes>> {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let op = self.opts.merge_operator.as_deref();
        let mut fold: Option<NewestFirst<'_>> = None;
        // `Ok(Some(base))` ends the search at a Put or a Delete.
        let mut visit = |kind: ValueKind, value: Bytes| -> Result<Option<Option<Bytes>>> {
            match kind {
                ValueKind::Put => Ok(Some(Some(value))),
                ValueKind::Delete => Ok(Some(None)),
                ValueKind::Merge => {
                    let op = op.ok_or_else(|| no_operator(key))?;
                    fold.get_or_insert_with(|| {
                        NewestFirst::new(op, key, self.opts.merge_batch_size)
                    })
                    .push(value)
                    .map_err(|e| merge_failed(op, key, e))?;
                    Ok(None)
                }
            }
        };
        let mut found = None;
        'search: {
            for mem in std::iter::once(&sv.active).chain(sv.sealed.iter()) {
                for (kind, _, value) in mem.versions(key, seqno) {
                    if let Some(f) = visit(kind, value)? {
                        found = Some(f);
                        break 'search;
                    }
                }
            }
            for run in &sv.version.runs {
                let Some(file) = run.table_for(key) else {
                    continue;
                };
                if file.meta.min_seqno > seqno {
                    continue;
                }
                let table = file.table()?;
                match table.get(key, seqno)? {
                    None => continue,
                    Some((ValueKind::Merge, _, _)) => {
                        for entry in table.versions(key, seqno) {
                            let (k, value) = entry?;
                            if let Some(f) = visit(k.kind, value)? {
                                found = Some(f);
                                break 'search;
                            }
                        }
                    }
                    Some((kind, _, value)) => {
                        if let Some(f) = visit(kind, value)? {
                            found = Some(f);
                            break 'search;
                        }
                    }
                }
            }
        }
        let base = found.flatten();
        let Some(fold) = fold else {
            return Ok(base);
        };
        let Some(op) = op else {
            return Err(no_operator(key));
        };
        let folded = fold.count;
        let value = Bytes::from(
            fold.finish(base.as_deref())
                .map_err(|e| merge_failed(op, key, e))?,
        );
        self.counters
            .merge_operands_folded
            .fetch_add(folded, Ordering::Relaxed);
        let threshold = self.opts.merge_writeback_threshold as u64;
        if latest && threshold > 0 && folded > threshold {
            self.offer_write_back(key, value.clone(), seqno);
        }
        Ok(Some(value))
    }

    /// The sequence number of the newest version of `key`, if any.
    pub(crate) fn newest_seqno(&self, key: &[u8]) -> Result<Option<SeqNo>> {
        let sv = self.current();
        for mem in std::iter::once(&sv.active).chain(sv.sealed.iter()) {
            if let Some((_, seqno, _)) = mem.versions(key, MAX_SEQNO).next() {
                return Ok(Some(seqno));
            }
        }
        for run in &sv.version.runs {
            if let Some(file) = run.table_for(key)
                && let Some((_, seqno, _)) = file.table()?.get(key, MAX_SEQNO)?
            {
                return Ok(Some(seqno));
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
            write_stall_reason: if self.flush.is_stalled() {
                Some("waiting for flush: max_sealed_memtables reached".to_owned())
            } else {
                self.compaction.stall_reason()
            },
            overlap_groups: sv.version.shape().overlap_groups().len() as u64,
            max_depth: sv.version.max_depth() as u64,
            pending_compaction_bytes: TieredPolicy
                .pick(sv.version.shape(), &self.opts.compaction)
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
