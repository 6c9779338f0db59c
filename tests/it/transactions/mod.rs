//! Optimistic transactions (`Db::transaction`, `Transaction`,
//! `Db::run_transaction`, `Db::compare_and_swap`).
//!
//! - `reads`: read-your-own-writes for get and iterators in both
//!   directions, merges folded over the snapshot, rollback;
//! - `isolation`: write-write conflicts, write skew allowed in snapshot
//!   isolation and prevented in serializable mode, phantoms, commutative
//!   merges, the too-old rule;
//! - `cas`: compare-and-swap from 8 threads, one winner per value;
//! - `bank`: 16 threads moving money in serializable transactions for
//!   `RILLKV_STRESS_SECS` (default 2) seconds, the total checked in
//!   snapshots during the run and after a reopen;
//! - `kill_loop`: the bank under `SIGKILL` (`RILLKV_CRASH_CYCLES`,
//!   default 20 cycles);
//! - `list_append`: an Elle-style list-append history checked for a
//!   serial order (`support::elle`);
//! - `model_proptest`: transactions interleaved with plain writes,
//!   flushes, compactions and reopens against a model.

mod bank;
mod cas;
mod isolation;
mod kill_loop;
mod list_append;
mod model_proptest;

mod reads;

/// A u64 as stored by `U64Add`.
pub fn n(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

/// A stored u64, 0 when absent.
pub fn num(v: Option<rillkv::Bytes>) -> u64 {
    v.map_or(0, |v| {
        u64::from_le_bytes(v[..8].try_into().expect("8 bytes"))
    })
}
