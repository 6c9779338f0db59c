//! `docs/format/bloom.md`.

use super::*;

use crate::key::ValueKind;
use crate::options::Options;
use crate::table::{Compression, TableOptions};

#[test]
fn bloom_md() {
    let doc = Doc::read(BLOOM_MD);
    let filter_of = |keys: &[&[u8]], bits: u32| {
        let entries: Vec<_> = keys
            .iter()
            .map(|k| (ik(k, 1, ValueKind::Put), b"v".to_vec()))
            .collect();
        let t = write_table(&entries, &table_opts(Compression::Lz4, 4096, bits));
        let f = footer(&t);
        assert_eq!(
            block_trailer(&t, f.filter).0,
            0,
            "bloom.md: filter stored uncompressed"
        );
        t[f.filter.range()].to_vec()
    };

    doc.states(
        "the golden keys",
        "keys `apple` and `banana` at 10 bits per key give `m = 64`, `k = 7` and the block",
    );
    let golden = doc.hex_inline_after("and the block `");
    assert_eq!(golden.len(), 64 / 8 + 1, "bloom.md: m = 64 bits + k");
    assert_eq!(
        filter_of(&[b"apple", b"banana"], 10),
        golden,
        "bloom.md: golden filter"
    );
    doc.states("the hash", "h = xxh3_64(user_key) (seed 0, xxhash-rust)");
    doc.states(
        "the golden hash",
        "`xxh3_64(\"apple\") = 0x517a430dcf1f8a00`",
    );
    assert_eq!(
        xxhash_rust::xxh3::xxh3_64(b"apple"),
        0x517a_430d_cf1f_8a00,
        "bloom.md: xxh3_64(apple)"
    );

    doc.states(
        "m",
        "The writer uses `m = max(64, n * bits_per_key)` rounded up to a multiple of 8",
    );
    doc.states("k", "`k`, the number of probes, is `round(bits_per_key * ln 2)` clamped to `1..=30` (7 for the default 10 bits per key)");
    doc.states("the probes", "delta = h rotate_left 32");
    doc.states(
        "the probes",
        "bit_i = (h + i * delta) mod m (wrapping 64-bit multiply and add)",
    );
    doc.states(
        "the bit order",
        "Bit `i` of the array is bit `i mod 8` (least significant first) of byte `i / 8`.",
    );
    assert_eq!(
        Options::default().default_keyspace().bloom_bits_per_key,
        10,
        "bloom.md: default 10 bits per key"
    );
    assert_eq!(
        TableOptions::default().bloom_bits_per_key,
        10,
        "bloom.md: default 10 bits per key"
    );
    for (n, bits) in [
        (1usize, 10u32),
        (10, 10),
        (100, 10),
        (7, 3),
        (3, 1),
        (5, 44),
        (5, 45),
        (3, 100),
    ] {
        let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("key{i:04}").into_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let m = (n as u64 * u64::from(bits)).max(64).div_ceil(8) * 8;
        let k = ((f64::from(bits) * std::f64::consts::LN_2).round() as u8).clamp(1, 30);
        let mut want = vec![0u8; (m / 8) as usize];
        for key in &refs {
            let h = xxhash_rust::xxh3::xxh3_64(key);
            let delta = h.rotate_left(32);
            for i in 0..u64::from(k) {
                let bit = h.wrapping_add(i.wrapping_mul(delta)) % m;
                want[(bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
        want.push(k);
        assert_eq!(
            filter_of(&refs, bits),
            want,
            "bloom.md: {n} keys at {bits} bits per key"
        );
    }

    doc.states(
        "the damaged k",
        "or whose `k` is outside `1..=30` is ignored",
    );
    let entries = [(ik(b"apple", 1, ValueKind::Put), b"v".to_vec())];
    let t = write_table(&entries, &table_opts(Compression::None, 4096, 10));
    let f = footer(&t);
    let with_k = |k: u8| {
        let mut t = t.clone();
        let last = (f.filter.offset + f.filter.size - 1) as usize;
        t[last] = k;
        let crc = stored_block_crc(&t[f.filter.range()], 0);
        t[last + 2..last + 6].copy_from_slice(&crc.to_le_bytes());
        open_table(&t).unwrap().has_filter()
    };
    assert!(with_k(1) && with_k(30), "bloom.md: k in 1..=30 is used");
    assert!(
        !with_k(0) && !with_k(31),
        "bloom.md: k outside 1..=30 is ignored"
    );
}
