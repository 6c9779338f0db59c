//! Versions: the set of live tables, grouped into sorted runs, and the
//! manifest that records how that set changes.
//!
//! A [`Version`] is immutable and shared behind an `Arc`. Readers and
//! iterators pin one. Each table has exactly one live [`TableFile`], made
//! by the [`TableRegistry`] and shared by every version listing it; the
//! file is deleted only when the last of them is dropped *and* an edit
//! durably removed it (`registry.rs`).
//! The manifest format is specified in `docs/format/manifest.md`.

mod edit;
mod key_range;
mod registry;
pub(crate) mod set;
mod shape;

use std::collections::BTreeMap;
use std::sync::Arc;

#[cfg(test)]
pub(crate) use edit::MANIFEST_FORMAT_VERSION;
pub(crate) use edit::{ManifestRecord, TableMeta, VersionEdit};
pub use key_range::{KeyRange, overlap_groups};
pub(crate) use registry::{OnTableDeleted, TableFile, TableRegistry, check_table_size};
pub(crate) use set::VersionSet;
pub use shape::{GroupRun, OverlapGroup, RunShape, TableShape, TreeShape};

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
///   run (`DESIGN.md`, section "Compaction", "Invariant (run order)").
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
    /// Applies an edit, returning the new version. A table the edit adds
    /// is the registry's live object for its number: the same object when
    /// the edit only moves it to another run.
    pub(crate) fn apply(
        &self,
        edit: &VersionEdit,
        tables: &Arc<TableRegistry>,
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
            by_run
                .entry(meta.run)
                .or_default()
                .push(tables.get_or_insert(meta)?);
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

    /// Manifest entries of every live table, for a manifest snapshot, each
    /// in the run that holds it now.
    pub(crate) fn metas(&self) -> Vec<TableMeta> {
        self.runs
            .iter()
            .flat_map(|r| {
                r.tables.iter().map(|t| TableMeta {
                    run: r.id,
                    ..t.meta.clone()
                })
            })
            .collect()
    }
}
