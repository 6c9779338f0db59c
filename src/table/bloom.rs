//! The bloom filter over a table's user keys: [`FilterBuilder`] and
//! [`Filter`]. Bit layout, hash and probe sequence:
//! `docs/format/bloom.md`.

#![deny(clippy::indexing_slicing)]

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

/// Default filter bits per key: about 1% false positives.
pub(crate) const DEFAULT_BITS_PER_KEY: u32 = 10;

/// The most probes a filter may use.
pub(crate) const MAX_PROBES: u8 = 30;

/// The filter hash of a user key: xxh3-64 with seed 0. On disk: never
/// change.
pub(crate) fn filter_hash(user_key: &[u8]) -> u64 {
    xxh3_64(user_key)
}

/// The probe count for `bits_per_key`: `round(bits_per_key * ln 2)`,
/// clamped to `1..=30`.
pub(crate) fn probes_for(bits_per_key: u32) -> u8 {
    let k = (f64::from(bits_per_key) * std::f64::consts::LN_2).round();
    k.clamp(1.0, f64::from(MAX_PROBES)) as u8
}

/// The bit positions a key with `hash` sets in a filter of `num_bits`
/// bits: `(h + i * delta) mod num_bits` for `i` in `0..k`, in wrapping
/// 64-bit arithmetic, with `delta = h.rotate_left(32)`.
fn probe_positions(hash: u64, k: u8, num_bits: u64) -> impl Iterator<Item = u64> {
    let delta = hash.rotate_left(32);
    (0..u64::from(k)).map(move |i| hash.wrapping_add(i.wrapping_mul(delta)) % num_bits)
}

/// Collects the hashes of a table's user keys and builds its filter.
pub(crate) struct FilterBuilder {
    bits_per_key: u32,
    hashes: Vec<u64>,
}

impl FilterBuilder {
    /// REQUIRES: `bits_per_key > 0`.
    pub(crate) fn new(bits_per_key: u32) -> Self {
        FilterBuilder {
            bits_per_key: bits_per_key.max(1),
            hashes: Vec::new(),
        }
    }

    /// Records a user key. Versions of one key arrive consecutively and
    /// are recorded once.
    pub(crate) fn add_key(&mut self, user_key: &[u8]) {
        let h = filter_hash(user_key);
        if self.hashes.last() != Some(&h) {
            self.hashes.push(h);
        }
    }

    fn num_bits(&self) -> u64 {
        let bits = (self.hashes.len() as u64).saturating_mul(u64::from(self.bits_per_key));
        bits.max(64).div_ceil(8) * 8
    }

    /// The size of the filter block if built now (without its trailer).
    pub(crate) fn estimated_size(&self) -> usize {
        if self.hashes.is_empty() {
            0
        } else {
            (self.num_bits() / 8) as usize + 1
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The filter block: the bit array, then one byte holding k.
    pub(crate) fn finish(&self) -> Vec<u8> {
        let num_bits = self.num_bits();
        let k = probes_for(self.bits_per_key);
        let mut out = vec![0u8; (num_bits / 8) as usize];
        for &h in &self.hashes {
            for bit in probe_positions(h, k, num_bits) {
                if let Some(byte) = out.get_mut((bit / 8) as usize) {
                    *byte |= 1 << (bit % 8);
                }
            }
        }
        out.push(k);
        out
    }
}

/// A table's decoded filter.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    bits: Bytes,
    num_bits: u64,
    k: u8,
}

impl Filter {
    /// Decodes a filter block; `None` if it is malformed (no bits, or k
    /// outside `1..=30`), in which case the table has to be read as if it
    /// had no filter.
    pub(crate) fn decode(block: Bytes) -> Option<Filter> {
        let (&k, bits) = block.split_last()?;
        if bits.is_empty() || !(1..=MAX_PROBES).contains(&k) {
            return None;
        }
        let num_bits = (bits.len() as u64).checked_mul(8)?;
        Some(Filter {
            bits: block.slice(..bits.len()),
            num_bits,
            k,
        })
    }

    /// False only if `user_key` is certainly not in the table.
    pub(crate) fn may_contain(&self, user_key: &[u8]) -> bool {
        probe_positions(filter_hash(user_key), self.k, self.num_bits).all(|bit| {
            self.bits
                .get((bit / 8) as usize)
                .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(keys: &[&[u8]], bits_per_key: u32) -> Vec<u8> {
        let mut b = FilterBuilder::new(bits_per_key);
        for k in keys {
            b.add_key(k);
        }
        b.finish()
    }

    #[test]
    fn probe_count_follows_bits_per_key() {
        assert_eq!(probes_for(1), 1);
        assert_eq!(probes_for(10), 7);
        assert_eq!(probes_for(20), 14);
        assert_eq!(probes_for(100), 30);
    }

    #[test]
    fn golden_bits_for_a_tiny_filter() {
        // Pins the hash, the probe sequence and the bit order: changing any
        // of them makes every existing filter answer wrongly.
        assert_eq!(
            filter_hash(b"apple"),
            0x517a_430d_cf1f_8a00,
            "{:#x}",
            filter_hash(b"apple")
        );
        let block = build(&[b"apple", b"banana"], 10);
        assert_eq!(block.len(), 8 + 1);
        assert_eq!(
            block,
            [0x03, 0x70, 0x42, 0x04, 0x88, 0x01, 0x10, 0x84, 7],
            "{block:02x?}"
        );
    }

    #[test]
    fn no_false_negatives_and_versions_count_once() {
        let keys: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| format!("key{i}").into_bytes())
            .collect();
        let mut b = FilterBuilder::new(10);
        for k in &keys {
            b.add_key(k);
            b.add_key(k);
        }
        assert_eq!(b.hashes.len(), 1000);
        let filter = Filter::decode(Bytes::from(b.finish())).unwrap();
        assert!(keys.iter().all(|k| filter.may_contain(k)));
    }

    #[test]
    fn malformed_blocks_are_refused() {
        assert!(Filter::decode(Bytes::new()).is_none());
        assert!(Filter::decode(Bytes::from_static(&[7])).is_none());
        assert!(Filter::decode(Bytes::from_static(&[0xff, 0])).is_none());
        assert!(Filter::decode(Bytes::from_static(&[0xff, 31])).is_none());
    }
}
