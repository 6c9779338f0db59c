//! The bodies of the fuzz targets in `fuzz/fuzz_targets/` (feature
//! `internals`; not a stable API).
//!
//! Each target is one function taking the fuzzer's bytes, so the same body
//! runs under `cargo fuzz` (one-line targets) and under the stable test
//! `tests/it/fuzz_corpus.rs`, which replays the checked-in corpora and
//! deterministic mutations of them. A body *asserts*: a panic is a finding.
//! `fuzz/README.md` lists what each one checks.
//!
//! | target | input | module |
//! |---|---|---|
//! | [`wal_reader`] | a log file (WAL or manifest framing) | `log` |
//! | [`wal_recovery`] | the WAL of an empty database | `log` |
//! | [`manifest_replay`] | the live manifest of a database | `log` |
//! | [`block_decoder`] | a data block behind a valid checksum | `table` |
//! | [`table_scan`] | a table file | `table` (`spec`: the formats re-implemented) |
//! | [`db_ops()`] | a sequence of operations and injected faults | `db_ops` |
//!
//! [`seeds()`] builds valid inputs for every target (real logs, blocks,
//! tables, manifests, operation sequences); `tests/it/fuzz_corpus.rs` writes
//! them to `fuzz/corpus/<target>/` when `RILLKV_WRITE_FUZZ_SEEDS` is set.

mod db_ops;
mod log;
mod seeds;
mod spec;
mod table;

pub use db_ops::db_ops;
pub use log::{manifest_replay, wal_reader, wal_recovery};
pub use seeds::seeds;
pub use table::{block_decoder, table_scan};

use crate::error::{Error, ErrorKind};

/// A fuzz target body: panics when a property fails.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz/fuzz_targets/*.rs` binary
/// and of its corpus directory).
pub const TARGETS: &[(&str, Target)] = &[
    ("wal_reader", wal_reader),
    ("wal_recovery", wal_recovery),
    ("manifest_replay", manifest_replay),
    ("block_decoder", block_decoder),
    ("table_scan", table_scan),
    ("db_ops", db_ops),
];

/// Reads fuzz input as a stream of small numbers. Past the end every read
/// returns zero, so any input is a complete program.
pub(crate) struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A number in `0..n` (`n > 0`) from one byte.
    pub(crate) fn below(&mut self, n: u8) -> u8 {
        self.u8() % n.max(1)
    }

    /// Up to `n` of the next bytes (fewer at the end).
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        self.data.get(start..end).unwrap_or_default()
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        self.data.get(start..).unwrap_or_default()
    }
}

/// Panics unless `err` is of one of the `allowed` kinds.
pub(crate) fn assert_kind(what: &str, err: &Error, allowed: &[ErrorKind]) {
    assert!(
        allowed.contains(&err.kind()),
        "{what}: unexpected error kind {:?} (allowed {allowed:?}): {err}",
        err.kind()
    );
}

/// A short printable form of a key for assertion messages.
pub(crate) fn show(bytes: &[u8]) -> String {
    let s: String = bytes
        .iter()
        .take(24)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if bytes.len() > 24 {
        format!("{s}..({} bytes)", bytes.len())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds_of(target: &str) -> Vec<Vec<u8>> {
        seeds()
            .into_iter()
            .filter(|(t, _, _)| *t == target)
            .map(|(_, _, b)| b)
            .collect()
    }

    #[test]
    fn every_seed_passes_its_target() {
        for (target, name, bytes) in seeds() {
            let (_, f) = TARGETS
                .iter()
                .find(|(t, _)| *t == target)
                .expect("known target");
            eprintln!("{target} {name}");
            f(&bytes);
        }
    }

    #[test]
    fn the_seed_database_has_tables_in_several_runs() {
        let s = seeds::seed_db();
        assert!(s.tables.len() >= 3, "{} tables", s.tables.len());
        assert!(!s.wal.is_empty() && !s.manifest.is_empty());
    }

    #[test]
    fn table_and_block_seeds_reach_past_the_checksums() {
        let tables = seeds_of("table_scan");
        assert!(tables.len() >= 6);
        for t in tables.iter().filter(|t| t.first() == Some(&0)) {
            let file = t.get(1..).unwrap_or_default();
            assert!(table::scan_count(file) > 10);
            let entries = spec::consistent_table(file).expect("a table the writer made");
            assert_eq!(entries.len(), table::scan_count(file));
        }
        let blocks = seeds_of("block_decoder");
        let raw: Vec<_> = blocks.iter().filter(|b| b.first() == Some(&0)).collect();
        assert!(raw.len() >= 5);
        for b in raw {
            let walk = spec::walk_block(b.get(1..).unwrap_or_default(), true);
            assert!(walk.violation.is_none() && walk.aligned() && walk.sorted());
        }
    }

    #[test]
    fn manifest_seeds_open_the_seed_database() {
        for m in seeds_of("manifest_replay") {
            let n = log::replay_manifest(&m);
            assert!(n.is_some_and(|n| n > 20), "{n:?}");
        }
    }

    #[test]
    fn wal_seeds_replay_writes() {
        let mut live = 0;
        for w in seeds_of("wal_recovery") {
            let e = log::expect_recovery(
                &bytes::Bytes::from(log::wal_of(&w)),
                crate::options::RecoveryMode::TolerateCorruptedTail,
            );
            live += if e.opens { e.live_keys() } else { 0 };
        }
        assert!(live > 10, "{live} keys");
    }

    #[test]
    fn db_ops_seeds_reach_every_path() {
        let mut total = db_ops::Stats::default();
        for s in seeds_of("db_ops") {
            let st = db_ops::run(&s);
            total.ops += st.ops;
            total.acked += st.acked;
            total.failures += st.failures;
            total.reopens += st.reopens;
            total.crashes += st.crashes;
            total.flushes += st.flushes;
            total.compactions += st.compactions;
        }
        eprintln!("{total:?}");
        assert!(total.acked > 200, "{total:?}");
        assert!(total.failures > 5, "{total:?}");
        assert!(total.reopens > 10 && total.crashes > 5, "{total:?}");
        assert!(total.flushes > 5 && total.compactions > 5, "{total:?}");
    }
}
