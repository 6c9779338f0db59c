//! Helpers shared by the criterion benches: the short-run configuration and
//! the user keys the point-lookup benches probe.
//!
//! Every bench compiles its own copy of this module and uses only part of
//! it.
#![allow(
    dead_code,
    reason = "each bench binary uses a different subset; `expect` would fail in the ones that use all"
)]

use std::time::Duration;

use bytes::Bytes;
use criterion::Criterion;

/// Short measurements, no plots: each bench file runs in about a minute.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

/// The `i`th present user key: 16 bytes, sorting by `i`.
pub fn key(i: usize) -> Bytes {
    Bytes::from(format!("user{:012}", 2 * i))
}

/// A user key of the same shape that is never written, sorting between
/// `key(i)` and `key(i + 1)`.
pub fn absent_key(i: usize) -> Bytes {
    Bytes::from(format!("user{:012}", 2 * i + 1))
}
