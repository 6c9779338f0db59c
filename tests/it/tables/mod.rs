//! Data in tables: many flushes, snapshots and iterators across them, run
//! folds, and a model test with flushes and compactions.

mod million_keys_across_flushes;
mod model_proptest;
mod sequential_load_folds_runs;
mod snapshot_across_flush;
