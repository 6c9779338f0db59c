//! db_bench-style benchmarks of rillkv against RocksDB and fjall.
//!
//! `rillkv-bench` runs workloads on one engine and reports throughput,
//! latency percentiles, CPU, write and space amplification, peak RSS and a
//! per-second timeline; `compare` runs them on every engine in alternating
//! rounds and writes `BENCHMARKS.md`. See `compare/README.md`.

pub mod bench;
pub mod chart;
pub mod engine;
#[cfg(feature = "fjall")]
pub mod engine_fjall;
#[cfg(feature = "rocksdb")]
pub mod engine_rocksdb;
pub mod sys;
