//! Compaction, the tree's part: a merge policy's job run over the tree's
//! tables, and a run fold, each turned into the version edit that installs
//! it. Logging the edit and swapping the super version are the database's.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use super::Tree;
use crate::compaction::engine::{Engine, EngineInput, EngineReport};
use crate::compaction::{CollapseOptions, CompactionJob, RunFold};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::key::SeqNo;
use crate::table::TableOptions;
use crate::version::{TableMeta, VersionEdit};

/// What a compaction needs from the database around the tree.
pub(crate) struct JobContext<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) fs: &'a Arc<dyn Fs>,
    pub(crate) next_file_number: &'a AtomicU64,
    /// Sequence numbers live snapshots and iterators pin.
    pub(crate) snapshots: Vec<SeqNo>,
    /// Set at close: the job stops at its next check.
    pub(crate) cancel: &'a AtomicBool,
}

/// Runs `job` over the tree's current tables: merges its inputs into new
/// tables (written and fsynced, not yet in any manifest). Returns the
/// engine's report and the edit that installs the outputs and removes the
/// inputs.
///
/// # Errors
/// `InvalidArgument` if the job's inputs are no longer the tree's (the
/// caller must hold the compaction lock, so they cannot be); `Io` or
/// `Corruption` from reading inputs or writing outputs (nothing is
/// lost: inputs stay until the edit is durable).
pub(crate) fn run_job(
    tree: &Tree,
    job: &CompactionJob,
    ctx: JobContext<'_>,
) -> Result<(EngineReport, VersionEdit)> {
    let version = tree.current().version.clone();
    let mut inputs = Vec::with_capacity(job.inputs.len());
    for part in &job.inputs {
        let run = version
            .runs
            .iter()
            .find(|r| r.id == part.id)
            .ok_or_else(|| Error::invalid(format!("compaction input run {} is gone", part.id)))?;
        let tables: Vec<_> = run
            .tables
            .iter()
            .filter(|t| part.tables.contains(&t.meta.number))
            .cloned()
            .collect();
        if tables.len() != part.tables.len() {
            return Err(Error::invalid("compaction input tables changed"));
        }
        inputs.push(EngineInput {
            tables,
            bytes: part.bytes,
        });
    }
    let opts = tree.opts();
    let c = &opts.compaction;
    let table = TableOptions {
        compression: if job.bottom {
            opts.bottommost_compression
        } else {
            opts.table.compression
        },
        ..opts.table.clone()
    };
    let engine = Engine {
        dir: ctx.dir,
        fs: ctx.fs,
        tables: tree.tables(),
        next_file_number: ctx.next_file_number,
        table,
        collapse: CollapseOptions {
            snapshots: ctx.snapshots,
            bottom: job.bottom,
            merge_operator: opts.merge.op.clone(),
            merge_batch_size: opts.merge.chunk,
        },
        target_table_size: c.target_table_size,
        workers: c.merge_workers,
        fan_in: job.fan_in,
        output_run: job.output_run,
        cancel: ctx.cancel,
    };
    let report = engine.run(inputs)?;
    let edit = VersionEdit {
        deleted: job.tables().collect(),
        added: report.outputs.clone(),
        ..VersionEdit::of(tree.id())
    };
    Ok((report, edit))
}

/// The edit that moves lone tables into one run (`fold`): no data
/// written, the same table numbers deleted from their runs and added to
/// the target.
///
/// # Errors
/// `InvalidArgument` if a table to fold is no longer the tree's.
pub(crate) fn fold_edit(tree: &Tree, fold: &RunFold) -> Result<VersionEdit> {
    let version = tree.current().version.clone();
    let mut added = Vec::with_capacity(fold.moves.len());
    for &(run, number) in &fold.moves {
        let meta = version
            .runs
            .iter()
            .filter(|r| r.id == run)
            .flat_map(|r| r.tables.iter())
            .find(|t| t.meta.number == number)
            .map(|t| t.meta.clone())
            .ok_or_else(|| Error::invalid(format!("table {number} to fold is gone")))?;
        added.push(TableMeta {
            run: fold.target,
            ..meta
        });
    }
    Ok(VersionEdit {
        deleted: fold.moves.iter().map(|&(_, n)| n).collect(),
        added,
        ..VersionEdit::of(tree.id())
    })
}
