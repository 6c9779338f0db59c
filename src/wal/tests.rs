use std::path::Path;

use bytes::Bytes;

use super::*;
use crate::fs::{FaultFs, Fs};

fn write_log(records: &[Vec<u8>]) -> Vec<u8> {
    let fs = FaultFs::new();
    let dir = Path::new("/t");
    fs.create_dir_all(dir).unwrap();
    let path = dir.join("log");
    let mut w = Writer::preallocated(fs.create(&path).unwrap());
    for r in records {
        w.add_record(r).unwrap();
    }
    fs.file_bytes(&path).unwrap()
}

fn read_all(data: Vec<u8>) -> (Vec<Vec<u8>>, Option<Damage>) {
    let mut r = Reader::preallocated(Path::new("/t/log"), Bytes::from(data));
    let mut out = Vec::new();
    while let Some((_, rec)) = r.next_record() {
        out.push(rec.to_vec());
    }
    (out, r.damage().cloned())
}

fn sample_records() -> Vec<Vec<u8>> {
    // Small, block-spanning and multi-block records, and an empty one.
    vec![
        b"hello".to_vec(),
        vec![7u8; 40_000],
        Vec::new(),
        vec![9u8; 100_000],
        b"tail".to_vec(),
    ]
}

#[test]
fn golden_bytes_of_a_small_record() {
    let data = write_log(&[b"abc".to_vec()]);
    let crc = fragment_crc(1, b"abc").to_le_bytes();
    let want = [&crc[..], &[3, 0], &[1], b"abc"].concat();
    assert_eq!(data, want);
}

#[test]
fn round_trips_records_of_every_size() {
    let recs = sample_records();
    let (got, damage) = read_all(write_log(&recs));
    assert_eq!(got, recs);
    assert_eq!(damage, None);
}

#[test]
fn every_truncation_is_a_tail_and_keeps_a_prefix() {
    let recs = sample_records();
    let data = write_log(&recs);
    for cut in (0..data.len()).step_by(97).chain([data.len() - 1]) {
        let (got, damage) = read_all(data[..cut].to_vec());
        assert!(got.len() <= recs.len());
        assert_eq!(got[..], recs[..got.len()], "cut {cut} is not a prefix");
        if got.len() < recs.len() && cut > 0 {
            let d = damage.unwrap_or_else(|| panic!("cut {cut}: damage not reported"));
            assert!(d.is_tail, "cut {cut}: truncation classified as corruption");
        }
    }
}

#[test]
fn zeros_to_the_end_are_preallocated_space_and_garbage_is_a_tail() {
    let recs = sample_records();
    let mut data = write_log(&recs);
    let n = data.len();
    for zeros in [1, 6, 7, 5000, BLOCK_SIZE + 3] {
        data.truncate(n);
        data.extend(std::iter::repeat_n(0u8, zeros));
        let (got, d) = read_all(data.clone());
        assert_eq!(got, recs, "{zeros} zeros");
        assert_eq!(d, None, "{zeros} zeros are the clean end, not damage");
    }
    // A record cut short before the zeros is still a torn tail.
    data.truncate(n - 3);
    data.extend(std::iter::repeat_n(0u8, 5000));
    let (got, d) = read_all(data.clone());
    assert_eq!(got[..], recs[..recs.len() - 1]);
    assert!(d.unwrap().is_tail);
    let mut data = write_log(&recs);
    data.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let (got, d) = read_all(data);
    assert_eq!(got, recs);
    assert!(d.unwrap().is_tail);
}

#[test]
fn flipped_bit_before_the_tail_is_corruption_with_offset() {
    let recs = sample_records();
    let clean = write_log(&recs);
    // Flip one bit inside the first record's payload (offset 7).
    for at in [0usize, 5, 7, 9, 20_000, 33_000] {
        let mut data = clean.clone();
        data[at] ^= 0x10;
        let (got, d) = read_all(data);
        let d = d.unwrap_or_else(|| panic!("flip at {at} not detected"));
        assert!(!d.is_tail, "flip at {at} taken for a tail");
        assert!(got.len() < recs.len());
        assert_eq!(got[..], recs[..got.len()]);
        assert!(d.offset <= at as u64 + 1);
    }
}

#[test]
fn zeroed_hole_followed_by_records_is_a_tail() {
    // Writes lost in a crash read back as zeros; what follows them was not
    // acknowledged durably either, so the hole ends the log.
    let recs: Vec<Vec<u8>> = (0..50).map(|i| vec![i as u8; 3000]).collect();
    let mut data = write_log(&recs);
    for b in &mut data[40_000..70_000] {
        *b = 0;
    }
    let (got, d) = read_all(data);
    assert_eq!(got[..], recs[..got.len()]);
    assert!(d.unwrap().is_tail);
}
