//! Compaction: bounds on the tree's shape, multi-round merges, what
//! snapshots keep, crashes at every step, concurrent readers, and a model
//! test.

mod bounds_runs;
mod concurrent_with_readers;
mod crash_at_every_step;
mod model_proptest;
mod multiround_engine;
mod snapshot_and_tombstones;
