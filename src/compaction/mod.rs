//! Compaction: the merge policy (what to merge), the K-way merge engine
//! (how), and the collapsing step that both flush and compaction use to
//! drop versions no reader can see.
//!
//! The policy is a pure function of a [`TreeShape`] (a version's runs,
//! tables, key ranges and sizes), so it can be simulated and tested
//! without I/O; see `examples/compaction_sim.rs`.

mod collapse;
pub(crate) mod engine;
mod options;
pub(crate) mod policy;
#[cfg(feature = "viz")]
pub mod svg;

pub(crate) use collapse::{Collapse, CollapseOptions};
pub use options::CompactionOptions;
pub use policy::{
    CompactionJob, CompactionPolicy, CompactionReason, MEMORY_PER_INPUT, MEMORY_PER_OUTPUT,
    RunFold, TieredPolicy, fan_in_for, fold_runs, full_job, range_jobs, round_widths, rounds_for,
};
// The policy's view of a version lives with the version; re-exported
// here, where users of the policy look for it.
pub use crate::version::{
    GroupRun, KeyRange, OverlapGroup, RunShape, TableShape, TreeShape, overlap_groups,
};
