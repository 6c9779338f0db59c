//! Helpers shared by the `merge_*` scenario tests: u64 codecs, a reference
//! `Append` fold, and draining iterators into plain vectors (keeping
//! per-key merge errors, which do not end an iteration).
//!
//! Every test file compiles its own copy of this module and uses only part
//! of it.
#![allow(dead_code)] // each test crate uses a different subset

use bytes::Bytes;
use rillkv::{DbIter, ErrorKind};

/// `(key, value)` pairs as plain vectors.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One iterator item with the error reduced to its kind.
pub type Item = Result<(Vec<u8>, Vec<u8>), ErrorKind>;

/// The little-endian encoding the u64 operators use.
pub fn le(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

/// Decodes a little-endian u64 value, failing the test on any other width.
pub fn u64_of(v: &[u8]) -> u64 {
    u64::from_le_bytes(v.try_into().expect("an 8-byte little-endian value"))
}

/// Decodes a present u64 value.
pub fn u64_get(v: Option<Bytes>) -> u64 {
    u64_of(&v.expect("value present"))
}

/// What `Append::new(delimiter)` makes of `existing` and one operand.
pub fn append(delimiter: &[u8], existing: Option<&[u8]>, operand: &[u8]) -> Vec<u8> {
    match existing {
        None => operand.to_vec(),
        Some(e) => [e, delimiter, operand].concat(),
    }
}

/// Drains an iterator forward, failing the test on any error.
pub fn collect(iter: DbIter) -> Pairs {
    iter.map(|r| {
        let (k, v) = r.expect("iterator yielded an error");
        (k.to_vec(), v.to_vec())
    })
    .collect()
}

/// Drains an iterator backward, failing the test on any error.
pub fn collect_rev(iter: DbIter) -> Pairs {
    collect_items(iter.rev())
        .into_iter()
        .map(|r| r.expect("iterator yielded an error"))
        .collect()
}

/// Drains any item stream, keeping errors as their kinds.
pub fn collect_items(iter: impl Iterator<Item = rillkv::Result<(Bytes, Bytes)>>) -> Vec<Item> {
    iter.map(|r| {
        r.map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(|e| e.kind())
    })
    .collect()
}

/// Drains an iterator from both ends, picking the end at random from `seed`,
/// then returns the items in key order. Mixing ends must still yield each key
/// exactly once.
pub fn collect_zigzag(mut iter: DbIter, seed: u64) -> Pairs {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut front = Vec::new();
    let mut back = Vec::new();
    loop {
        let from_front = rng.bool();
        let next = if from_front {
            iter.next()
        } else {
            iter.next_back()
        };
        match next {
            None => break,
            Some(r) => {
                let (k, v) = r.expect("iterator yielded an error");
                let pair = (k.to_vec(), v.to_vec());
                if from_front {
                    front.push(pair);
                } else {
                    back.push(pair);
                }
            }
        }
    }
    back.reverse();
    front.extend(back);
    front
}

/// Shows a key for assertion messages.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
