//! Table round trips against a `BTreeMap` model, golden bytes, filter
//! quality, and damage: every flipped bit is detected or harmless.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use super::block::Block;
use super::block_builder::BlockBuilder;
use super::format::{FOOTER_LEN, Footer, encoded_internal_key};
use super::reader::FilterStats;
use super::writer::WrittenTable;
use super::*;
use crate::error::ErrorKind;
use crate::fs::{FaultFs, Fs};
use crate::key::{InternalKey, MAX_SEQNO, SeqNo, ValueKind};

type Model = BTreeMap<InternalKey, Bytes>;

const PATH: &str = "/t/000001.table";

fn ik(user_key: &[u8], seqno: SeqNo, kind: ValueKind) -> InternalKey {
    InternalKey::new(Bytes::copy_from_slice(user_key), seqno, kind)
}

fn build(model: &Model, opts: &TableOptions) -> (Bytes, WrittenTable) {
    let fs = FaultFs::new();
    fs.create_dir_all(Path::new("/t")).unwrap();
    let mut w = TableWriter::new(fs.create(Path::new(PATH)).unwrap(), Path::new(PATH), opts);
    for (k, v) in model {
        w.add(k, v).unwrap();
    }
    let estimate = w.estimated_size();
    let meta = w.finish().unwrap();
    let slack = opts.block_size as u64 + meta.file_size / 20;
    assert!(
        estimate >= meta.file_size && estimate <= meta.file_size + slack,
        "estimate {estimate} for a {}-byte table",
        meta.file_size
    );
    let bytes = fs.read(Path::new(PATH)).unwrap();
    assert_eq!(bytes.len() as u64, meta.file_size);
    (bytes, meta)
}

fn open(bytes: Bytes) -> crate::Result<Arc<Table>> {
    Table::from_bytes(Path::new(PATH), bytes, 1, None)
}

/// A model of `users` user keys with 1 to 3 versions each, of mixed kinds.
fn random_model(users: usize, seed: u64) -> Model {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut model = Model::new();
    let mut seqno = 1;
    for i in 0..users {
        let user_key = format!("key{:08}", i * 2).into_bytes();
        for _ in 0..rng.usize(1..=3) {
            let kind = match rng.u8(0..10) {
                0 => ValueKind::Delete,
                1 | 2 => ValueKind::Merge,
                _ => ValueKind::Put,
            };
            let value = if kind == ValueKind::Delete {
                Vec::new()
            } else {
                let n = rng.usize(0..40);
                format!("v{seqno}-{}", "x".repeat(n)).into_bytes()
            };
            model.insert(ik(&user_key, seqno, kind), Bytes::from(value));
            seqno += rng.u64(1..4);
        }
    }
    model
}

fn model_get(model: &Model, user_key: &[u8], seqno: SeqNo) -> Option<(ValueKind, SeqNo, Bytes)> {
    let seek = InternalKey::seek_key(Bytes::copy_from_slice(user_key), seqno.min(MAX_SEQNO));
    model
        .range(seek..)
        .next()
        .filter(|(k, _)| &k.user_key[..] == user_key)
        .map(|(k, v)| (k.kind, k.seqno, v.clone()))
}

fn collect(it: TableIter) -> Vec<(InternalKey, Bytes)> {
    it.collect::<crate::Result<Vec<_>>>().unwrap()
}

/// Every version of `user_key` at or below `seqno`, newest first, through
/// the cursor a point read uses.
fn versions(table: &Table, user_key: &[u8], seqno: u64) -> Vec<(InternalKey, Bytes)> {
    let key = Bytes::copy_from_slice(user_key);
    match table.seek_versions(user_key, seqno).unwrap() {
        None => Vec::new(),
        Some(cursor) => cursor
            .map(|v| {
                let (kind, s, value) = v.unwrap();
                (InternalKey::new(key.clone(), s, kind), value)
            })
            .collect(),
    }
}

fn model_range(
    model: &Model,
    bounds: &(Bound<InternalKey>, Bound<InternalKey>),
    direction: Direction,
) -> Vec<(InternalKey, Bytes)> {
    let (lo, hi) = bounds;
    if let (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) =
        (lo, hi)
        && (l > h || (l == h && !matches!((lo, hi), (Bound::Included(_), Bound::Included(_)))))
    {
        return Vec::new(); // BTreeMap::range panics on empty ranges.
    }
    let items = model
        .range((lo.clone(), hi.clone()))
        .map(|(k, v)| (k.clone(), v.clone()));
    match direction {
        Direction::Forward => items.collect(),
        Direction::Reverse => items.rev().collect(),
    }
}

fn options(compression: Compression, block_size: usize, bits: u32) -> TableOptions {
    TableOptions {
        block_size,
        compression,
        bloom_bits_per_key: bits,
    }
}

// ---------------------------------------------------------------- golden bytes

#[test]
fn block_golden_bytes() {
    let mut b = BlockBuilder::new(16);
    b.add(&encoded_internal_key(&ik(b"abc", 1, ValueKind::Put)), b"x");
    b.add(
        &encoded_internal_key(&ik(b"abd", 2, ValueKind::Delete)),
        b"",
    );
    let mut expected = vec![0, 11, 1, b'a', b'b', b'c', 1, 1, 0, 0, 0, 0, 0, 0, b'x'];
    expected.extend_from_slice(&[2, 9, 0, b'd', 0, 2, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(b.finish(), &expected[..]);
}

#[test]
fn tiny_table_file_is_pinned() {
    // Pins the whole file layout (blocks, filter, properties, index,
    // footer) for a fixed input. If this fails, the format changed: bump
    // FORMAT_VERSION and keep a reader for the old one.
    let mut model = Model::new();
    model.insert(ik(b"apple", 3, ValueKind::Put), Bytes::from_static(b"red"));
    model.insert(ik(b"apple", 2, ValueKind::Merge), Bytes::from_static(b"+1"));
    model.insert(ik(b"pear", 1, ValueKind::Delete), Bytes::new());
    let (bytes, meta) = build(&model, &options(Compression::None, 4096, 10));
    assert_eq!(
        (bytes.len(), crc32fast::hash(&bytes)),
        (289, 2_792_059_501),
        "{:02x?}",
        &bytes[..]
    );
    assert_eq!(meta.properties.entries, 3);
}

// ------------------------------------------------------------------ block iter

#[test]
fn block_iter_seeks_and_walks_both_ways() {
    let keys: Vec<Vec<u8>> = (0..100u64)
        .map(|i| encoded_internal_key(&ik(format!("k{:03}", i * 2).as_bytes(), 7, ValueKind::Put)))
        .collect();
    for interval in [1, 3, 16] {
        let mut b = BlockBuilder::new(interval);
        for (i, k) in keys.iter().enumerate() {
            b.add(k, format!("v{i}").as_bytes());
        }
        let block = Block::new(Bytes::copy_from_slice(b.finish())).unwrap();
        let mut it = block.iter();
        it.seek_to_first();
        for (i, k) in keys.iter().enumerate() {
            assert!(it.valid());
            assert_eq!(it.key(), &k[..]);
            assert_eq!(it.value(), Bytes::from(format!("v{i}")));
            it.next();
        }
        assert!(!it.valid());
        it.seek_to_last();
        for k in keys.iter().rev() {
            assert_eq!(it.key(), &k[..]);
            it.prev();
        }
        assert!(!it.valid());
        for i in 0..100 {
            // An absent key lands on the next one, then steps both ways.
            let absent = encoded_internal_key(&ik(
                format!("k{:03}", i * 2 + 1).as_bytes(),
                7,
                ValueKind::Put,
            ));
            it.seek(&absent);
            if i == 99 {
                assert!(!it.valid());
                continue;
            }
            assert_eq!(it.key(), &keys[i + 1][..]);
            it.prev();
            assert_eq!(it.key(), &keys[i][..]);
            it.next();
            it.next();
            if i + 2 < 100 {
                assert_eq!(it.key(), &keys[i + 2][..]);
            }
            it.seek(&keys[i]);
            assert_eq!(it.key(), &keys[i][..]);
        }
        assert!(it.status().is_ok());
    }
}

/// `docs/format/block.md`: a key whose trailer kind is unknown is damage,
/// even for a seek that only passes over it on the way to its target.
#[test]
fn block_entry_of_unknown_kind_is_damage_even_when_passed_over() {
    let mut b = BlockBuilder::new(16);
    for i in 0..4u64 {
        let key = encoded_internal_key(&ik(format!("k{i}").as_bytes(), 1, ValueKind::Put));
        b.add(&key, b"v");
    }
    let mut bytes = b.finish().to_vec();
    // Entry 0: shared 0, unshared 10 ("k0" + trailer), value length 1; its
    // trailer's kind byte follows the 3 varint bytes and the user key.
    assert_eq!(bytes[..3], [0, 10, 1]);
    assert_eq!(bytes[3 + 2], ValueKind::Put as u8);
    bytes[3 + 2] = 9;
    let block = Block::new(Bytes::from(bytes)).unwrap();
    let mut it = block.iter();
    it.seek(&encoded_internal_key(&ik(b"k2", 1, ValueKind::Put)));
    assert!(!it.valid());
    assert_eq!(it.status(), Err("unknown value kind in a block key"));
}

#[test]
fn block_decoding_never_panics_on_garbage() {
    let mut b = BlockBuilder::new(4);
    for i in 0..40u64 {
        b.add(
            &encoded_internal_key(&ik(format!("key{i:02}").as_bytes(), i, ValueKind::Put)),
            b"v",
        );
    }
    let good = b.finish().to_vec();
    let target = encoded_internal_key(&ik(b"key20", 3, ValueKind::Put));
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..5000 {
        let mut bad = good.clone();
        for _ in 0..=round % 3 {
            let at = rng.usize(..bad.len());
            bad[at] = rng.u8(..);
        }
        if round % 7 == 0 {
            bad.truncate(rng.usize(..bad.len()));
        }
        let Ok(block) = Block::new(Bytes::from(bad)) else {
            continue;
        };
        let mut it = block.iter();
        it.seek_to_first();
        let mut steps = 0;
        while it.valid() && steps < 100 {
            it.next();
            steps += 1;
        }
        it.seek_to_last();
        while it.valid() && steps < 200 {
            it.prev();
            steps += 1;
        }
        it.seek(&target);
        if it.valid() {
            it.prev();
        }
    }
}

// ------------------------------------------------------------------ round trip

#[test]
fn round_trip_100k_entries_against_model() {
    let model = random_model(50_000, 1);
    assert!(model.len() > 95_000, "{}", model.len());
    let users: Vec<Bytes> = {
        let mut u: Vec<Bytes> = model.keys().map(|k| k.user_key.clone()).collect();
        u.dedup();
        u
    };
    let max_seqno = model.keys().map(|k| k.seqno).max().unwrap();
    for compression in [Compression::None, Compression::Zstd { level: 1 }] {
        let (bytes, meta) = build(&model, &options(compression, 4096, 10));
        let p = &meta.properties;
        assert_eq!(p.entries, model.len() as u64);
        assert_eq!(
            p.tombstones,
            model.keys().filter(|k| k.kind == ValueKind::Delete).count() as u64
        );
        assert_eq!(
            p.merge_operands,
            model.keys().filter(|k| k.kind == ValueKind::Merge).count() as u64
        );
        assert_eq!(&p.smallest_user_key, users.first().unwrap());
        assert_eq!(&p.largest_user_key, users.last().unwrap());
        assert_eq!((p.min_seqno, p.max_seqno), (1, max_seqno));
        assert!(p.data_blocks > 100);
        if compression == Compression::None {
            assert!(p.data_size > p.raw_value_bytes);
        } else {
            assert!(meta.file_size < (p.raw_key_bytes + p.raw_value_bytes) / 2);
        }

        let cache = Arc::new(BlockCache::new(1 << 20));
        let table = Table::from_bytes(Path::new(PATH), bytes, 9, Some(Arc::clone(&cache))).unwrap();
        assert_eq!(table.properties(), p);
        assert_eq!((table.number(), table.file_size()), (9, meta.file_size));

        // Point lookups at several sequence numbers, present and absent.
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..20_000 {
            let user_key = users[rng.usize(..users.len())].clone();
            let seqno = match rng.u8(0..4) {
                0 => MAX_SEQNO,
                1 => u64::MAX,
                _ => rng.u64(0..=max_seqno + 1),
            };
            assert_eq!(
                table.get(&user_key, seqno).unwrap(),
                model_get(&model, &user_key, seqno)
            );
            let absent = format!("key{:08}", rng.usize(..100_000) * 2 + 1);
            assert_eq!(table.get(absent.as_bytes(), seqno).unwrap(), None);
        }
        assert_eq!(table.get(b"", MAX_SEQNO).unwrap(), None);
        assert_eq!(table.get(b"zzz", MAX_SEQNO).unwrap(), None);
        assert!(
            table.filter_stats().useful > 15_000,
            "{:?}",
            table.filter_stats()
        );
        if compression != Compression::None {
            assert!(
                cache.stats().hits > 0 && cache.stats().misses > 0,
                "{:?}",
                cache.stats()
            );
        }

        // Every version of a key, newest first.
        for user_key in users.iter().step_by(97) {
            for seqno in [0, max_seqno / 2, MAX_SEQNO] {
                let got = versions(&table, user_key, seqno);
                let lower = InternalKey::seek_key(user_key.clone(), seqno);
                let upper = InternalKey::new(user_key.clone(), 0, ValueKind::Delete);
                let bounds = (Bound::Included(lower), Bound::Included(upper));
                assert_eq!(got, model_range(&model, &bounds, Direction::Forward));
            }
        }

        // Full scans.
        let all = (Bound::Unbounded, Bound::Unbounded);
        for direction in [Direction::Forward, Direction::Reverse] {
            let got = collect(table.iter(all.clone(), direction));
            assert_eq!(got.len(), model.len());
            assert!(got == model_range(&model, &all, direction));
        }

        // Bounded scans with every kind of bound, short and long.
        let keys: Vec<&InternalKey> = model.keys().collect();
        let bound = |rng: &mut fastrand::Rng| -> Bound<InternalKey> {
            let k = if rng.bool() {
                keys[rng.usize(..keys.len())].clone()
            } else {
                // A key between versions or between user keys.
                ik(
                    format!("key{:08}", rng.usize(..100_001)).as_bytes(),
                    rng.u64(0..=max_seqno),
                    ValueKind::Put,
                )
            };
            match rng.u8(0..5) {
                0 => Bound::Unbounded,
                1 | 2 => Bound::Included(k),
                _ => Bound::Excluded(k),
            }
        };
        for i in 0..300 {
            let lo = bound(&mut rng);
            let hi = if i % 2 == 0 {
                bound(&mut rng)
            } else {
                // A short range right after the lower bound.
                match &lo {
                    Bound::Included(k) | Bound::Excluded(k) => {
                        let pos = keys.partition_point(|x| *x < k);
                        let end = (pos + rng.usize(0..40)).min(keys.len() - 1);
                        Bound::Included(keys[end].clone())
                    }
                    Bound::Unbounded => bound(&mut rng),
                }
            };
            let bounds = (lo, hi);
            for direction in [Direction::Forward, Direction::Reverse] {
                let got = collect(table.iter(bounds.clone(), direction));
                assert!(
                    got == model_range(&model, &bounds, direction),
                    "{bounds:?} {direction:?}"
                );
            }
        }
    }
}

#[test]
fn iterators_are_owned_and_send() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let model = random_model(10, 3);
    let table = open(build(&model, &TableOptions::default()).0).unwrap();
    let it = table.iter((Bound::Unbounded, Bound::Unbounded), Direction::Forward);
    assert_send_static(&it);
    drop(table);
    let handle = std::thread::spawn(move || it.count());
    assert_eq!(handle.join().unwrap(), model.len());
}

#[test]
fn empty_table_round_trips() {
    for bits in [0, 10] {
        let (bytes, meta) = build(&Model::new(), &options(Compression::default(), 4096, bits));
        assert_eq!(meta.properties.entries, 0);
        let table = open(bytes).unwrap();
        assert_eq!(table.get(b"a", MAX_SEQNO).unwrap(), None);
        assert_eq!(
            collect(table.iter((Bound::Unbounded, Bound::Unbounded), Direction::Reverse)),
            vec![]
        );
        assert_eq!(versions(&table, b"a", MAX_SEQNO), vec![]);
    }
}

#[test]
fn large_values_span_their_own_blocks() {
    let mut model = Model::new();
    for i in 0..20u64 {
        let value = vec![i as u8; if i % 3 == 0 { 100_000 } else { 10 }];
        model.insert(
            ik(format!("k{i:02}").as_bytes(), 5, ValueKind::Put),
            Bytes::from(value),
        );
    }
    for compression in [Compression::None, Compression::Zstd { level: 3 }] {
        let table = open(build(&model, &options(compression, 1024, 10)).0).unwrap();
        let all = (Bound::Unbounded, Bound::Unbounded);
        assert!(
            collect(table.iter(all.clone(), Direction::Reverse))
                == model_range(&model, &all, Direction::Reverse)
        );
        for (k, v) in &model {
            assert_eq!(
                table.get(&k.user_key, 5).unwrap().map(|(_, _, v)| v),
                Some(v.clone())
            );
        }
    }
}

#[test]
fn write_failures_surface_as_io_errors() {
    let model = random_model(2000, 4);
    for fail_sync in [false, true] {
        let fs = FaultFs::new();
        fs.create_dir_all(Path::new("/t")).unwrap();
        let file = fs.create(Path::new(PATH)).unwrap();
        if fail_sync {
            fs.fail_nth_sync(1);
        } else {
            fs.fail_nth_write(3);
        }
        let mut w = TableWriter::new(file, Path::new(PATH), &TableOptions::default());
        let result = model
            .iter()
            .try_for_each(|(k, v)| w.add(k, v))
            .and_then(|()| w.finish().map(|_| ()));
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(err.to_string().contains(PATH), "{err}");
    }
}

// ---------------------------------------------------------------------- filter

#[test]
fn filter_false_positive_rate_is_about_one_percent() {
    let n = 100_000;
    let mut model = Model::new();
    for i in 0..n {
        model.insert(
            ik(format!("present{i}").as_bytes(), 1, ValueKind::Put),
            Bytes::new(),
        );
    }
    let table = open(build(&model, &options(Compression::None, 4096, 10)).0).unwrap();
    let false_positives = (0..n)
        .filter(|i| table.may_contain(format!("absent{i}").as_bytes()))
        .count();
    let rate = false_positives as f64 / n as f64;
    println!(
        "bloom false-positive rate at 10 bits/key: {:.3}%",
        rate * 100.0
    );
    assert!(rate < 0.02, "false-positive rate {rate}");
    assert!(
        rate > 0.002,
        "implausibly low rate {rate}: is the filter probed at all?"
    );
    assert!((0..n).all(|i| table.may_contain(format!("present{i}").as_bytes())));
    // get() on absent keys counts false positives only when it reads.
    for i in 0..1000 {
        assert_eq!(table.get(format!("absent{i}").as_bytes(), 1).unwrap(), None);
    }
    let s = table.filter_stats();
    assert_eq!(
        s.useful + s.false_positives,
        n as u64 - false_positives as u64 + 1000
    );
}

#[test]
fn no_filter_when_bits_per_key_is_zero() {
    let model = random_model(100, 5);
    let (bytes, _) = build(&model, &options(Compression::None, 4096, 0));
    let footer = Footer::decode(&bytes[bytes.len() - FOOTER_LEN..]).unwrap();
    assert_eq!(footer.filter.size, 0);
    let table = open(bytes).unwrap();
    assert!(!table.has_filter());
    assert_eq!(table.get(b"absent", MAX_SEQNO).unwrap(), None);
    assert_eq!(table.filter_stats(), FilterStats::default());
}

// ---------------------------------------------------------------- corruption

/// Checks every answer `table` gives against the model: an answer is either
/// correct or a `Corruption` error. Returns whether an error was seen.
fn answers_are_correct_or_corruption(table: &Arc<Table>, model: &Model) -> bool {
    let mut saw_error = false;
    let mut check = |e: &crate::Error| {
        assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
        assert!(e.to_string().contains(PATH), "{e}");
        saw_error = true;
    };
    for direction in [Direction::Forward, Direction::Reverse] {
        let expected = model_range(model, &(Bound::Unbounded, Bound::Unbounded), direction);
        let mut n = 0;
        for item in table.iter((Bound::Unbounded, Bound::Unbounded), direction) {
            match item {
                Ok(entry) => {
                    assert!(
                        n < expected.len() && entry == expected[n],
                        "wrong entry {entry:?}"
                    );
                    n += 1;
                }
                Err(e) => check(&e),
            }
        }
    }
    for (k, _) in model.iter().step_by(3) {
        for seqno in [k.seqno, MAX_SEQNO] {
            match table.get(&k.user_key, seqno) {
                Ok(found) => assert_eq!(found, model_get(model, &k.user_key, seqno)),
                Err(e) => check(&e),
            }
        }
        match table.get(
            format!("{}x", String::from_utf8_lossy(&k.user_key)).as_bytes(),
            MAX_SEQNO,
        ) {
            Ok(found) => assert_eq!(found, None),
            Err(e) => check(&e),
        }
    }
    saw_error
}

#[test]
fn every_bit_flip_is_detected_or_harmless() {
    let model = random_model(40, 6);
    for compression in [Compression::None, Compression::Zstd { level: 1 }] {
        let (bytes, _) = build(&model, &options(compression, 256, 10));
        let footer = Footer::decode(&bytes[bytes.len() - FOOTER_LEN..]).unwrap();
        let filter = footer.filter.offset..footer.filter.end().unwrap();
        assert!(!filter.is_empty());
        for bit in 0..bytes.len() * 8 {
            let mut bad = bytes.to_vec();
            bad[bit / 8] ^= 1 << (bit % 8);
            let table = match open(Bytes::from(bad)) {
                Ok(t) => t,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Corruption, "bit {bit}: {e}");
                    continue;
                }
            };
            let detected = answers_are_correct_or_corruption(&table, &model);
            if filter.contains(&((bit / 8) as u64)) {
                assert!(!detected && !table.has_filter(), "bit {bit} in the filter");
            } else {
                assert!(detected, "bit {bit} went unnoticed");
            }
        }
    }
}

#[test]
fn damage_in_each_region_is_reported_where_it_is() {
    let model = random_model(500, 8);
    let (bytes, _) = build(&model, &TableOptions::default());
    let footer = Footer::decode(&bytes[bytes.len() - FOOTER_LEN..]).unwrap();
    let flip = |offset: u64| {
        let mut bad = bytes.to_vec();
        bad[offset as usize] ^= 0x10;
        Bytes::from(bad)
    };
    let expect_open_corruption = |offset: u64, region: &str| {
        let err = open(flip(offset)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corruption, "{region}");
        assert!(err.to_string().contains(PATH), "{err}");
    };
    expect_open_corruption(footer.index.offset + 3, "index");
    expect_open_corruption(footer.properties.offset + 3, "properties");
    expect_open_corruption(bytes.len() as u64 - 20, "footer");
    expect_open_corruption(bytes.len() as u64 - 1, "magic");

    // A data block: open succeeds; reads of that block fail, others work.
    let table = open(flip(5)).unwrap();
    let first = model.keys().next().unwrap();
    let err = table.get(&first.user_key, MAX_SEQNO).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption);
    assert!(err.to_string().contains("at offset 0"), "{err}");
    let last = model.keys().next_back().unwrap();
    assert_eq!(
        table.get(&last.user_key, MAX_SEQNO).unwrap(),
        model_get(&model, &last.user_key, MAX_SEQNO)
    );
    let mut it = table.iter((Bound::Unbounded, Bound::Unbounded), Direction::Forward);
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none(), "an iterator ends after its error");

    // The filter: dropped, answers stay right.
    let table = open(flip(footer.filter.offset + 3)).unwrap();
    assert!(!table.has_filter());
    assert!(!answers_are_correct_or_corruption(&table, &model));
}

#[test]
fn truncated_and_empty_files_fail_to_open() {
    let model = random_model(300, 9);
    let (bytes, _) = build(&model, &TableOptions::default());
    for len in [
        0,
        1,
        FOOTER_LEN - 1,
        FOOTER_LEN,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let err = open(bytes.slice(..len)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corruption, "len {len}: {err}");
    }
    // Zero-padded to its length (a crash that lost the data pages).
    let err = open(Bytes::from(vec![0u8; bytes.len()])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption);
}

// ------------------------------------------------------------------ proptest

fn arb_model() -> impl Strategy<Value = Model> {
    let entry = (
        prop::collection::vec(0u8..4, 0..6),
        0u64..50,
        0u8..3,
        prop::collection::vec(any::<u8>(), 0..30),
    );
    prop::collection::vec(entry, 0..150).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(k, s, kind, v)| {
                let kind = ValueKind::from_u8(kind).unwrap();
                (ik(&k, s, kind), Bytes::from(v))
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proptest_round_trip(
        model in arb_model(),
        block_size in 32usize..600,
        zstd in any::<bool>(),
        bits in prop::sample::select(vec![0u32, 1, 10]),
        probes in prop::collection::vec((prop::collection::vec(0u8..4, 0..6), 0u64..60), 20),
    ) {
        let compression = if zstd { Compression::Zstd { level: 1 } } else { Compression::None };
        let (bytes, _) = build(&model, &options(compression, block_size, bits));
        let table = open(bytes).unwrap();
        let all = (Bound::Unbounded, Bound::Unbounded);
        for direction in [Direction::Forward, Direction::Reverse] {
            prop_assert!(collect(table.iter(all.clone(), direction)) == model_range(&model, &all, direction));
        }
        for (user_key, seqno) in probes {
            prop_assert_eq!(table.get(&user_key, seqno).unwrap(), model_get(&model, &user_key, seqno));
            let lower = ik(&user_key, seqno, ValueKind::Put);
            let upper = ik(&user_key, 0, ValueKind::Delete);
            for bounds in [
                (Bound::Included(lower.clone()), Bound::Unbounded),
                (Bound::Unbounded, Bound::Excluded(lower.clone())),
                (Bound::Excluded(lower.clone()), Bound::Included(upper.clone())),
            ] {
                for direction in [Direction::Forward, Direction::Reverse] {
                    prop_assert!(
                        collect(table.iter(bounds.clone(), direction)) == model_range(&model, &bounds, direction)
                    );
                }
            }
        }
    }
}
