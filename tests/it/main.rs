//! rillkv's integration tests, in one test binary: `cargo test --release
//! --test it [filter]`, e.g. `cargo test --release --test it crash::` or
//! `cargo test --release --test it -- --exact
//! crash::kill_loop::sigkill_loses_no_acknowledged_write`.
//!
//! One module per scenario, grouped by area (`wal`, `recovery`, `crash`,
//! `tables`, `compaction`, `merge`, `corruption`, `api`, `concurrency`, `keyspaces`,
//! `lifecycle`), `layers` (the module-arrow check against `DESIGN.md`),
//! and [`support`], the helpers they share — each helper once, and each one used (no `dead_code` allowance: a helper nobody uses
//! any more is a warning, so it goes). A module is named after the
//! `tests/*.rs` file it was, without the area's prefix: `wal_torn_tail.rs`
//! is `wal::torn_tail`, `stress_concurrency.rs` is `concurrency::stress`,
//! `model_with_flush_proptest.rs` is `tables::model_proptest`; test
//! functions kept their names.
//!
//! This is the only integration-test binary. No scenario needs a process
//! of its own for the whole run: the ones that do for a single test get
//! one at run time (below).
//!
//! # Features
//!
//! The suites that need a cargo feature are modules of this crate, compiled
//! only with their feature: `cli` (feature `cli`: runs the `rillkv`
//! binary), `async_db` (feature `tokio`) and `fuzz_corpus` (feature
//! `internals`). `cargo test --release` builds and runs everything else;
//! `cargo test --release --all-features` (the README's test command, and
//! CI's) builds this crate with the features and runs everything. One
//! crate rather than a binary per feature keeps them on the same helpers,
//! and one build with every feature serves the unit tests, this binary,
//! the CLI's tests and the doctests.
//!
//! # Child processes
//!
//! Some tests re-run this binary as a child process running one test, by
//! its full name (`support::child_command(module_path!(), name)`): the kill
//! loops (`crash::kill_loop*::child_writer`,
//! `keyspaces::kill_loop::child_writer`), the lock tests
//! (`lifecycle::lock_second_open::child_open`, `child_hold`), the `verify`
//! child (`lifecycle::verify_on_a_live_database_does_not_kill_the_process`)
//! and the read-only check run as `nobody` (`corruption::bad_inputs::
//! read_only_child`). Those child tests do nothing unless started that way.
//!
//! # Heap measurements
//!
//! The binary's global allocator is `support::heap`'s counting allocator.
//! It counts only in a process that runs one test alone: the tests that
//! bound the heap (`corruption::bad_inputs`,
//! `merge::million_operands_bounded_memory`) run their bodies through
//! `support::heap::isolated`, which starts this binary again with only that
//! test, so no other test's allocations reach their counters. Everywhere
//! else the allocator only forwards to `System`.
//!
//! # Knobs and regressions
//!
//! The environment variables the scenarios read keep their names
//! (`RILLKV_CRASH_CYCLES`, `RILLKV_STRESS_SECS`, `RILLKV_SEED`,
//! `PROPTEST_CASES`, ...; see each module's documentation). The proptests
//! that keep regression files (`tables::model_proptest`,
//! `merge::model_proptest`) write and replay them next to this crate's
//! directory: `tests/proptest-regressions/<area>/<module>.txt`.

mod support;

mod api;
mod compaction;
mod concurrency;
mod corruption;
mod crash;
mod keyspaces;
mod layers;
mod lifecycle;
mod merge;
mod operations;
mod recovery;
mod tables;
mod transactions;
mod wal;

#[cfg(feature = "tokio")]
mod async_db;
#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "internals")]
mod fuzz_corpus;
