//! Merge operators: the built-in ones, a failing one, counters across
//! flushes, snapshots, write-backs, bounded memory for a million operands,
//! and a model test.

mod builtin_operators;
mod counter_across_flushes;
mod failing_operator;
mod million_operands_bounded_memory;
mod model_proptest;
mod snapshots_and_flush;
mod writeback_no_lost_update;
