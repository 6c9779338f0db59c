//! Keys, values, and models of the built-in merge operators.

use bytes::Bytes;

use super::Model;

/// The key of index `i`: 16 bytes, `key` and `i` in 13 decimal digits, so
/// that keys sort in index order.
pub fn key(i: u64) -> Vec<u8> {
    format!("key{i:013}").into_bytes()
}

/// A value of `len` bytes unique to `counter`: compressible for even
/// counters, pseudo-random for odd ones (so tables have real sizes and zstd
/// tables mix compressed and stored blocks).
pub fn value(counter: u64, len: usize) -> Vec<u8> {
    let mut v = format!("#{counter}:").into_bytes();
    let mut rng = fastrand::Rng::with_seed(counter);
    while v.len() < len {
        v.push(if counter.is_multiple_of(2) {
            b'a' + (v.len() % 7) as u8
        } else {
            rng.u8(..)
        });
    }
    v
}

/// A 32-byte value for key `i` at `version`.
pub fn value32(i: u64, version: u64) -> Vec<u8> {
    format!(
        "v{version:05}-{i:013}-{:011x}",
        i.wrapping_mul(0x9e37_79b9) & 0xfff_ffff_ffff
    )
    .into_bytes()
}

/// The value of record `i` in the one-put-per-record workloads of the WAL
/// tests: `len` bytes naming `i`.
pub fn rec_value(i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("value{i:05}:").into_bytes();
    v.resize(len.max(v.len()), b'a' + (i % 26) as u8);
    v
}

/// The model after the first `n` of `lens.len()` puts of `key(i)` =
/// `rec_value(i, lens[i])`.
pub fn rec_model(lens: &[usize], n: usize) -> Model {
    lens.iter()
        .take(n)
        .enumerate()
        .map(|(i, &len)| (key(i as u64), rec_value(i, len)))
        .collect()
}

// ---------------------------------------------------------------------------
// The merge operators' values.

/// The little-endian encoding the u64 operators (`U64Add`, `U64Max`,
/// `U64Min`) use.
pub fn le(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// Decodes a little-endian u64 value, failing the test on any other width.
pub fn u64_of(v: &[u8]) -> u64 {
    u64::from_le_bytes(v.try_into().expect("an 8-byte little-endian value"))
}

/// Decodes a present u64 value.
pub fn u64_get(v: Option<Bytes>) -> u64 {
    u64_of(&v.expect("value present"))
}

/// What `U64Add` makes of `existing` plus `delta` (a missing value is 0).
pub fn add(existing: Option<&Vec<u8>>, delta: u64) -> Vec<u8> {
    le(existing.map_or(0, |e| u64_of(e)).wrapping_add(delta))
}

/// What `Append::new(delimiter)` makes of `existing` and one operand.
pub fn append(delimiter: &[u8], existing: Option<&[u8]>, operand: &[u8]) -> Vec<u8> {
    match existing {
        None => operand.to_vec(),
        Some(e) => [e, delimiter, operand].concat(),
    }
}
