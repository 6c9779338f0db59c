//! The K-way merge engine: merges a job's input runs into output tables.
//!
//! # Plan
//! - **Fan-in fitted to memory**: the job's `fan_in` comes from
//!   `max_memory` ([`super::fan_in_for`]), so a merge never needs more
//!   memory than it was given.
//! - **One round when memory allows**: with at most `fan_in` inputs the
//!   merge is a single streaming pass, so every byte is written once.
//! - **Small runs first**: otherwise each earlier round merges the
//!   smallest inputs, `fan_in` at a time, in parallel on `merge_workers`
//!   threads, into intermediate runs — plain merges that keep every version,
//!   since the runs merged need not be adjacent in age.
//! - **Last round streamed**: the final round feeds the merged
//!   stream through [`Collapse`] straight into the output tables; no
//!   intermediate file.
//! - **Sub-jobs by key range**: the final round is split at user keys into
//!   `merge_workers` ranges of about equal bytes, merged on separate threads.
//!
//! Output tables are cut at about `target_table_size`, only between two
//! user keys, so one key's versions never straddle two tables.
//!
//! Intermediate runs are tables outside the manifest, marked obsolete from
//! birth: they are deleted as soon as the job drops them, on success and on
//! failure alike (and at open, if a crash interrupts the job). Outputs of a
//! failed job are deleted before the error is returned.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;

use super::{Collapse, CollapseOptions};
use crate::error::{Error, Result};
use crate::filename;
use crate::fs::Fs;
use crate::iter::{InternalIter, MergingIter, RunIter};
use crate::key::InternalKey;
use crate::key::{UserBounds, internal_lower, internal_upper};
use crate::table::{Direction, TableOptions, TableWriter};
use crate::version::{TableFile, TableMeta, TableRegistry};

/// One input: a run's tables (disjoint, sorted by key) and their bytes.
pub(crate) struct EngineInput {
    pub(crate) tables: Vec<Arc<TableFile>>,
    pub(crate) bytes: u64,
}

/// Everything the engine needs besides its inputs.
pub(crate) struct Engine<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) fs: &'a Arc<dyn Fs>,
    /// Makes the intermediate tables of a multi-round job.
    pub(crate) tables: &'a Arc<TableRegistry>,
    pub(crate) next_file_number: &'a AtomicU64,
    pub(crate) table: TableOptions,
    pub(crate) collapse: CollapseOptions,
    pub(crate) target_table_size: u64,
    pub(crate) workers: usize,
    pub(crate) fan_in: usize,
    /// The run the outputs join.
    pub(crate) output_run: u64,
    /// Set when the database closes: the job stops with `Closed`.
    pub(crate) cancel: &'a AtomicBool,
}

/// Entries between two looks at the cancel flag.
const CANCEL_CHECK_EVERY: u32 = 4096;

/// What a job did.
#[derive(Debug, Default)]
pub(crate) struct EngineReport {
    pub(crate) outputs: Vec<TableMeta>,
    pub(crate) bytes_read: u64,
    pub(crate) bytes_written: u64,
    pub(crate) rounds: usize,
    pub(crate) sub_jobs: usize,
}

impl Engine<'_> {
    /// Runs the merge. On error, every file it wrote is deleted.
    pub(crate) fn run(&self, mut inputs: Vec<EngineInput>) -> Result<EngineReport> {
        let mut report = EngineReport {
            bytes_read: inputs.iter().map(|i| i.bytes).sum(),
            ..EngineReport::default()
        };
        let fan_in = self.fan_in.max(2);
        while inputs.len() > fan_in {
            inputs = self.round(inputs, fan_in, &mut report)?;
            report.rounds += 1;
        }
        report.rounds += 1;
        let ranges = self.split_ranges(&inputs)?;
        report.sub_jobs = ranges.len();
        let results: Vec<Result<Vec<TableMeta>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|bounds| {
                    let inputs = &inputs;
                    scope.spawn(move || self.final_merge(inputs, bounds))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::invalid("a merge worker panicked")))
                })
                .collect()
        });
        let mut first_error = None;
        for r in results {
            match r {
                Ok(metas) => report.outputs.extend(metas),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            self.remove_outputs(&report.outputs);
            return Err(e);
        }
        report.bytes_written += report.outputs.iter().map(|m| m.size).sum::<u64>();
        self.fs
            .sync_dir(self.dir)
            .map_err(|e| Error::io("fsync directory", self.dir, e))?;
        Ok(report)
    }

    /// One earlier round: merges the smallest inputs, `fan_in` at a time,
    /// just enough of them that the next round has fewer inputs (small runs
    /// first: the bytes rewritten by the extra rounds are the fewest).
    fn round(
        &self,
        mut inputs: Vec<EngineInput>,
        fan_in: usize,
        report: &mut EngineReport,
    ) -> Result<Vec<EngineInput>> {
        inputs.sort_by_key(|i| i.bytes);
        let widths = super::policy::round_widths(inputs.len(), fan_in);
        let consumed: usize = widths.iter().sum();
        let rest = inputs.split_off(consumed.min(inputs.len()));
        let mut groups: Vec<Vec<EngineInput>> = Vec::new();
        let mut iter = inputs.into_iter();
        // The narrowest merge takes the very smallest inputs.
        for &w in widths.iter().rev() {
            groups.push(iter.by_ref().take(w).collect());
        }
        let workers = self.workers.max(1);
        let mut merged: Vec<Result<EngineInput>> = Vec::new();
        for batch in groups.chunks(workers) {
            let out: Vec<Result<EngineInput>> = std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|g| scope.spawn(move || self.intermediate(g)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(Error::invalid("a merge worker panicked")))
                    })
                    .collect()
            });
            merged.extend(out);
        }
        let mut next = rest;
        for m in merged {
            let m = m?;
            report.bytes_written += m.bytes;
            next.push(m);
        }
        Ok(next)
    }

    /// Merges `group` into one intermediate table, keeping every version.
    fn intermediate(&self, group: &[EngineInput]) -> Result<EngineInput> {
        let sources = group
            .iter()
            .map(|i| run_source(i, &(Bound::Unbounded, Bound::Unbounded)))
            .collect();
        let merged = MergingIter::new(sources, false);
        let number = self.next_file_number.fetch_add(1, Ordering::AcqRel);
        let path = filename::table_path(self.dir, number);
        let file = self
            .fs
            .create(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        let mut writer = TableWriter::new(file, &path, &self.table);
        let result = (|| {
            let mut n = 0u32;
            for entry in merged {
                let (key, value) = entry?;
                writer.add(&key, &value)?;
                n = n.wrapping_add(1);
                if n.is_multiple_of(CANCEL_CHECK_EVERY) {
                    self.check_cancel()?;
                }
            }
            writer.finish()
        })();
        let written = match result {
            Ok(w) => w,
            Err(e) => {
                self.remove_path(&path);
                return Err(e);
            }
        };
        let meta = TableMeta {
            number,
            run: 0,
            size: written.file_size,
            smallest: written.properties.smallest_user_key.clone(),
            largest: written.properties.largest_user_key.clone(),
            min_seqno: written.properties.min_seqno,
            max_seqno: written.properties.max_seqno,
            entries: written.properties.entries,
        };
        // Not in any manifest: deleted as soon as the job lets go of it.
        let file = self.tables.intermediate(meta);
        Ok(EngineInput {
            bytes: written.file_size,
            tables: vec![file],
        })
    }

    /// Splits the key space into up to `workers` ranges of about equal
    /// input bytes, at block boundaries of the inputs.
    fn split_ranges(&self, inputs: &[EngineInput]) -> Result<Vec<UserBounds>> {
        let whole = vec![(Bound::Unbounded, Bound::Unbounded)];
        let total: u64 = inputs.iter().map(|i| i.bytes).sum();
        let workers = self.workers.max(1);
        if workers == 1 || total < 4 * self.target_table_size.min(16 << 20) {
            return Ok(whole);
        }
        // Sample points: every data block's last key, weighted by the
        // table's average block size.
        let mut samples: Vec<(Bytes, u64)> = Vec::new();
        for input in inputs {
            for t in &input.tables {
                let table = t.table()?;
                let keys = table.block_boundaries();
                let weight = t.meta.size / keys.len().max(1) as u64;
                samples.extend(keys.into_iter().map(|k| (k, weight)));
            }
        }
        samples.sort_by(|a, b| a.0.cmp(&b.0));
        let per_range = total / workers as u64;
        let mut splits: Vec<Bytes> = Vec::new();
        let mut acc = 0u64;
        for (key, weight) in samples {
            acc += weight;
            if acc >= per_range * (splits.len() as u64 + 1)
                && splits.len() + 1 < workers
                && splits.last() != Some(&key)
            {
                splits.push(key);
            }
        }
        if splits.is_empty() {
            return Ok(whole);
        }
        // Range i covers (split[i-1], split[i]]: a split key ends its range.
        let mut ranges = Vec::with_capacity(splits.len() + 1);
        let mut lower = Bound::Unbounded;
        for s in splits {
            ranges.push((lower, Bound::Included(s.clone())));
            lower = Bound::Excluded(s);
        }
        ranges.push((lower, Bound::Unbounded));
        Ok(ranges)
    }

    /// The final round for one key range: merge, collapse, write outputs.
    fn final_merge(&self, inputs: &[EngineInput], bounds: &UserBounds) -> Result<Vec<TableMeta>> {
        let sources = inputs.iter().map(|i| run_source(i, bounds)).collect();
        let merged = MergingIter::new(sources, false);
        let stream = Collapse::new(merged, self.collapse.clone());
        let mut outputs: Vec<TableMeta> = Vec::new();
        let mut current: Option<OpenOutput> = None;
        let result = (|| -> Result<()> {
            let mut n = 0u32;
            for entry in stream {
                let (key, value) = entry?;
                n = n.wrapping_add(1);
                if n.is_multiple_of(CANCEL_CHECK_EVERY) {
                    self.check_cancel()?;
                }
                let full = current.as_ref().is_some_and(|o| {
                    o.writer.estimated_size() >= self.target_table_size
                        && o.last_user_key.as_ref() != Some(&key.user_key)
                });
                if full && let Some(done) = current.take() {
                    outputs.push(self.finish_output(done)?);
                }
                let out = match current.as_mut() {
                    Some(o) => o,
                    None => current.insert(self.open_output()?),
                };
                out.writer.add(&key, &value)?;
                out.last_user_key = Some(key.user_key);
            }
            if let Some(done) = current.take() {
                outputs.push(self.finish_output(done)?);
            }
            Ok(())
        })();
        if let Err(e) = result {
            if let Some(o) = current {
                self.remove_path(&o.path);
            }
            self.remove_outputs(&outputs);
            return Err(e);
        }
        Ok(outputs)
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        Ok(())
    }

    fn open_output(&self) -> Result<OpenOutput> {
        let number = self.next_file_number.fetch_add(1, Ordering::AcqRel);
        let path = filename::table_path(self.dir, number);
        let file = self
            .fs
            .create(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        Ok(OpenOutput {
            writer: TableWriter::new(file, &path, &self.table),
            number,
            path,
            last_user_key: None,
        })
    }

    fn finish_output(&self, out: OpenOutput) -> Result<TableMeta> {
        let path = out.path.clone();
        match out.writer.finish() {
            Ok(w) => Ok(TableMeta {
                number: out.number,
                run: self.output_run,
                size: w.file_size,
                smallest: w.properties.smallest_user_key.clone(),
                largest: w.properties.largest_user_key.clone(),
                min_seqno: w.properties.min_seqno,
                max_seqno: w.properties.max_seqno,
                entries: w.properties.entries,
            }),
            Err(e) => {
                self.remove_path(&path);
                Err(e)
            }
        }
    }

    fn remove_outputs(&self, outputs: &[TableMeta]) {
        for m in outputs {
            self.remove_path(&filename::table_path(self.dir, m.number));
        }
    }

    fn remove_path(&self, path: &Path) {
        if let Err(e) = self.fs.remove_file(path) {
            tracing::warn!(file = %path.display(), error = %e, "could not remove a compaction output; it is removed at next open");
        }
    }
}

struct OpenOutput {
    writer: TableWriter,
    number: u64,
    path: PathBuf,
    last_user_key: Option<Bytes>,
}

/// A stream over one input's tables within user-key bounds.
fn run_source(input: &EngineInput, bounds: &UserBounds) -> InternalIter {
    let (lo, hi) = bounds;
    let tables: Vec<Arc<TableFile>> = input
        .tables
        .iter()
        .filter(|t| {
            let above = match lo {
                Bound::Included(k) => t.meta.largest >= *k,
                Bound::Excluded(k) => t.meta.largest > *k,
                Bound::Unbounded => true,
            };
            let below = match hi {
                Bound::Included(k) => t.meta.smallest <= *k,
                Bound::Excluded(k) => t.meta.smallest < *k,
                Bound::Unbounded => true,
            };
            above && below
        })
        .cloned()
        .collect();
    let ibounds: (Bound<InternalKey>, Bound<InternalKey>) =
        (internal_lower(lo.as_ref()), internal_upper(hi.as_ref()));
    Box::new(RunIter::new(tables, ibounds, Direction::Forward))
}
