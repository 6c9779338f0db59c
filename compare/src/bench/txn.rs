//! Transaction workloads: optimistic transactions and compare-and-swap,
//! each operation tried once (no retry), so the share that commits is the
//! engine's abort behaviour, reported as `committed N/ops`.
//!
//! - `txnrandom`: read 2 random keys of `--num`, write both (low
//!   contention);
//! - `txnhot`: the same on 16 hot keys (high contention);
//! - `txncounter`: read 2 random keys, add 1 to 2 of 16 hot counters
//!   (high contention on counters: rillkv's commutative merges never
//!   conflict; an engine without them reads and writes the counters);
//! - `casrandom`: read a random key, compare-and-swap it to a new value.
//!
//! Run them with 4 threads as `txnrandom@4`.

use std::time::Instant;

use super::{OpsOutcome, Runner, SPACE_COUNTER, SPACE_DATA};
use crate::engine::Result;

/// Keys of the high-contention workloads.
const HOT: u64 = 16;

/// The transaction workloads.
pub const WORKLOADS: &[&str] = &["txnrandom", "txnhot", "txncounter", "casrandom"];

impl Runner {
    /// Runs transaction workload `base`, or returns `None` if it is not one.
    pub(super) fn run_txn(
        &self,
        base: &str,
        label: &str,
        threads: usize,
    ) -> Result<Option<OpsOutcome>> {
        let num = self.args.num;
        let vs = self.args.value_size;
        let outcome = match base {
            "txnrandom" | "txnhot" => {
                let space = if base == "txnhot" { HOT } else { num };
                self.run_ops(label, num, threads, |r, e, c, i| {
                    let (a, b) = two(&mut c.rng, space);
                    let (mut ka, mut kb) = (Vec::new(), Vec::new());
                    r.key(SPACE_DATA, a, &mut ka);
                    r.key(SPACE_DATA, b, &mut kb);
                    let v = r.values.value(i, vs);
                    let began = Instant::now();
                    let ok = e.transaction(&[&ka, &kb], &[(&ka, v), (&kb, v)], &[])?;
                    Ok((began, Instant::now(), ok))
                })?
            }
            "txncounter" => self.run_ops(label, num, threads, |r, e, c, _| {
                let (a, b) = two(&mut c.rng, num);
                let (x, y) = two(&mut c.rng, HOT);
                let (mut ka, mut kb, mut kx, mut ky) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                r.key(SPACE_DATA, a, &mut ka);
                r.key(SPACE_DATA, b, &mut kb);
                r.key(SPACE_COUNTER, x, &mut kx);
                r.key(SPACE_COUNTER, y, &mut ky);
                let began = Instant::now();
                let ok = e.transaction(&[&ka, &kb], &[], &[&kx, &ky])?;
                Ok((began, Instant::now(), ok))
            })?,
            "casrandom" => self.run_ops(label, num, threads, |r, e, c, i| {
                let k = c.rng.below(num);
                r.key(SPACE_DATA, k, &mut c.key);
                let began = Instant::now();
                let found = e.get(&c.key, &mut c.buf)?;
                let expected = found.then_some(c.buf.as_slice());
                let ok = e.compare_and_swap(&c.key, expected, r.values.value(i, vs))?;
                Ok((began, Instant::now(), ok))
            })?,
            _ => return Ok(None),
        };
        Ok(Some(outcome))
    }
}

/// Two distinct keys below `space` (the same one when `space` is 1).
fn two(rng: &mut super::Rng, space: u64) -> (u64, u64) {
    let a = rng.below(space);
    let b = (a + 1 + rng.below(space.max(2) - 1)) % space.max(1);
    (a, b)
}
