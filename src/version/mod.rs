//! Versions: the set of live tables, grouped into sorted runs, and the
//! manifest that records how that set changes.
//!
//! A [`Version`] is immutable and shared behind an `Arc`. Readers and
//! iterators pin one; a table file is deleted only when the last version
//! that lists it is dropped *and* an edit durably removed it.
//! The manifest format is specified in `docs/format/manifest.md`.

mod edit;
pub(crate) mod set;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

pub(crate) use edit::{TableMeta, VersionEdit};
pub(crate) use set::VersionSet;

use crate::compaction::{KeyRange, RunShape, TableShape, TreeShape};
use crate::error::{Error, Result};
use crate::event::{Events, TableDeletionReason};
use crate::fs::Fs;
use crate::table::{BlockCache, Table};

/// A live table file: its manifest entry and, once first read, the opened
/// table (the cache of open tables is this `OnceLock`).
pub(crate) struct TableFile {
    pub(crate) meta: TableMeta,
    path: PathBuf,
    fs: Arc<dyn Fs>,
    cache: Option<Arc<BlockCache>>,
    opened: OnceLock<Arc<Table>>,
    /// Set once an edit durably removed the table: the file is deleted when
    /// the last version holding it drops.
    obsolete: AtomicBool,
    /// Who hears of the deletion, set when it is marked obsolete.
    on_delete: OnceLock<Arc<Events>>,
}

impl TableFile {
    pub(crate) fn new(
        meta: TableMeta,
        path: PathBuf,
        fs: Arc<dyn Fs>,
        cache: Option<Arc<BlockCache>>,
    ) -> Self {
        TableFile {
            meta,
            path,
            fs,
            cache,
            opened: OnceLock::new(),
            obsolete: AtomicBool::new(false),
            on_delete: OnceLock::new(),
        }
    }

    /// The opened table, opening it on first use.
    pub(crate) fn table(&self) -> Result<Arc<Table>> {
        if let Some(t) = self.opened.get() {
            return Ok(Arc::clone(t));
        }
        let data = self
            .fs
            .read(&self.path)
            .map_err(|e| Error::io("read", &self.path, e))?;
        check_table_size(&self.path, self.meta.size, data.len() as u64)?;
        let table = Table::open(&self.path, data, self.meta.number, self.cache.clone())?;
        Ok(Arc::clone(self.opened.get_or_init(|| table)))
    }

    /// The opened table, if it was opened already (no I/O).
    pub(crate) fn opened(&self) -> Option<&Arc<Table>> {
        self.opened.get()
    }

    /// Deletes the file once the last version holding it drops, telling
    /// `events` then (intermediate tables of a compaction pass `None`).
    pub(crate) fn mark_obsolete(&self, events: Option<&Arc<Events>>) {
        if let Some(ev) = events {
            let _ = self.on_delete.set(Arc::clone(ev));
        }
        self.obsolete.store(true, Ordering::Release);
    }

    /// Whether `key` lies within the table's key range.
    pub(crate) fn may_contain_key(&self, key: &[u8]) -> bool {
        self.meta.smallest.as_ref() <= key && key <= self.meta.largest.as_ref()
    }
}

impl Drop for TableFile {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            match self.fs.remove_file(&self.path) {
                Ok(()) => {
                    tracing::debug!(file = %self.path.display(), "deleted obsolete table");
                    if let Some(ev) = self.on_delete.get() {
                        ev.table_deleted(
                            self.meta.number,
                            self.meta.size,
                            TableDeletionReason::Compacted,
                        );
                    }
                }
                Err(e) => tracing::warn!(file = %self.path.display(), error = %e,
                    "could not delete obsolete table; it is removed at next open"),
            }
        }
    }
}

/// Checks that the table file at `path` holds the `recorded` number of
/// bytes its manifest entry gives it: a truncated, extended or swapped
/// table is refused before any of its bytes is trusted.
///
/// # Errors
/// `Corruption` naming the table, at the first offset where the recorded
/// and the actual file disagree.
pub(crate) fn check_table_size(path: &Path, recorded: u64, actual: u64) -> Result<()> {
    if recorded == actual {
        return Ok(());
    }
    Err(Error::corruption(
        path,
        recorded.min(actual),
        format!(
            "the manifest records {recorded} bytes for this table but the file holds {actual} \
             (truncated, extended or replaced)"
        ),
    ))
}

/// A sorted run: tables with disjoint key ranges, sorted by key.
#[derive(Clone)]
pub(crate) struct Run {
    /// Orders runs: for any user key, a run with a larger id holds newer
    /// versions of it than a run with a smaller id.
    pub(crate) id: u64,
    pub(crate) tables: Vec<Arc<TableFile>>,
}

impl Run {
    /// The table whose key range holds `key`, if any.
    pub(crate) fn table_for(&self, key: &[u8]) -> Option<&Arc<TableFile>> {
        let idx = self
            .tables
            .partition_point(|t| t.meta.largest.as_ref() < key);
        self.tables.get(idx).filter(|t| t.may_contain_key(key))
    }
}

/// The live tables at one moment, as sorted runs newest first.
///
/// # Invariants
/// - Runs are ordered by id, descending. For every user key, the tables
///   whose key range holds it (at most one per run) hold its versions
///   newest first in that order. Flush keeps this by giving its table a new
///   run with the largest id; compaction by merging runs consecutive among
///   those holding its key range and adding the outputs to the newest input
///   run (`DESIGN.md`, "Why run order stays right").
/// - Tables inside a run have disjoint key ranges and are sorted by key.
#[derive(Clone, Default)]
pub(crate) struct Version {
    pub(crate) runs: Vec<Run>,
    /// The policy's view of this version, computed once.
    shape: Arc<TreeShape>,
    /// The most tables a point read may probe (deepest overlap group).
    max_depth: usize,
}

impl Version {
    /// Applies an edit, returning the new version. `open` turns a new
    /// manifest entry into a live table file.
    pub(crate) fn apply(
        &self,
        edit: &VersionEdit,
        mut open: impl FnMut(&TableMeta) -> Arc<TableFile>,
    ) -> std::result::Result<Version, String> {
        let mut by_run: BTreeMap<u64, Vec<Arc<TableFile>>> = BTreeMap::new();
        for run in &self.runs {
            for t in &run.tables {
                if !edit.deleted.contains(&t.meta.number) {
                    by_run.entry(run.id).or_default().push(Arc::clone(t));
                }
            }
        }
        for meta in &edit.added {
            by_run.entry(meta.run).or_default().push(open(meta));
        }
        let mut runs = Vec::with_capacity(by_run.len());
        for (id, mut tables) in by_run {
            tables.sort_by(|a, b| a.meta.smallest.cmp(&b.meta.smallest));
            for pair in tables.windows(2) {
                if let [a, b] = pair
                    && a.meta.largest >= b.meta.smallest
                {
                    return Err(format!(
                        "tables {} and {} of run {id} overlap",
                        a.meta.number, b.meta.number
                    ));
                }
            }
            runs.push(Run { id, tables });
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.id));
        let shape = Arc::new(TreeShape::new(
            runs.iter()
                .map(|r| RunShape {
                    id: r.id,
                    tables: r
                        .tables
                        .iter()
                        .map(|t| TableShape {
                            number: t.meta.number,
                            range: KeyRange::new(t.meta.smallest.clone(), t.meta.largest.clone()),
                            size: t.meta.size,
                        })
                        .collect(),
                })
                .collect(),
        ));
        let max_depth = shape.max_depth();
        Ok(Version {
            runs,
            shape,
            max_depth,
        })
    }

    /// The most tables a point read may probe: the deepest overlap group's
    /// number of runs. What backpressure calls "sorted runs".
    pub(crate) fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// The policy's view: runs, tables, ranges, sizes.
    pub(crate) fn shape(&self) -> &Arc<TreeShape> {
        &self.shape
    }

    /// Every live table.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &Arc<TableFile>> {
        self.runs.iter().flat_map(|r| r.tables.iter())
    }

    pub(crate) fn table_count(&self) -> usize {
        self.runs.iter().map(|r| r.tables.len()).sum()
    }

    /// Manifest entries of every live table, for a manifest snapshot.
    pub(crate) fn metas(&self) -> Vec<TableMeta> {
        self.tables().map(|t| t.meta.clone()).collect()
    }
}
