//! `docs/format/wal.md`.

use super::*;

use crate::batch::{self, WriteBatch};
use crate::key::ValueKind;
use crate::options::RecoveryMode;
use crate::wal::{self, FragmentType};

#[test]
fn wal_md() {
    let doc = Doc::read(WAL_MD);

    doc.states(
        "BLOCK_SIZE",
        "A log is a sequence of 32 KiB (32,768-byte) blocks.",
    );
    doc.states("BLOCK_SIZE", "block (32768 bytes):");
    assert_eq!(wal::BLOCK_SIZE, 32_768, "wal.md: BLOCK_SIZE");

    doc.states(
        "HEADER_SIZE",
        "`7 + len` never exceeds what is left of the block",
    );
    doc.states("HEADER_SIZE", "When fewer than 7 bytes remain in a block");
    doc.states("the block trailer", "| trailer (0..6 B) |");
    doc.states(
        "the header offsets",
        " 0      4      6    7                 7+len",
    );
    doc.states("the crc width", "| `crc` | 4 |");
    doc.states("the len width", "| `len` | 2 |");
    doc.states("the type width", "| `type` | 1 |");
    assert_eq!(wal::HEADER_SIZE, 4 + 2 + 1, "wal.md: HEADER_SIZE");

    doc.states(
        "the fragment types",
        "| `type` | 1 | `1` FULL (whole record), `2` FIRST, `3` MIDDLE, `4` LAST; `0` is never written |",
    );
    assert_eq!(FragmentType::Full as u8, 1, "wal.md: FULL");
    assert_eq!(FragmentType::First as u8, 2, "wal.md: FIRST");
    assert_eq!(FragmentType::Middle as u8, 3, "wal.md: MIDDLE");
    assert_eq!(FragmentType::Last as u8, 4, "wal.md: LAST");

    // One small record: crc (type + payload), len, type FULL, payload.
    doc.states(
        "the fragment crc",
        "crc32 (IEEE, as computed by `crc32fast`) over the `type` byte followed by the payload",
    );
    let log = log_bytes(&[b"abc".to_vec()]);
    let crc = crc32fast::hash(&[&[1u8][..], b"abc"].concat());
    assert_eq!(
        log,
        [&crc.to_le_bytes()[..], &[3, 0, 1], b"abc"].concat(),
        "wal.md: fragment layout"
    );

    doc.states(
        "the empty record",
        "A record of length 0 is a single FULL fragment with `len = 0`.",
    );
    assert_eq!(
        fragments(&log_bytes(&[Vec::new()])),
        [(0, 1, 0)],
        "wal.md: empty record"
    );

    // A record spanning blocks: FIRST, MIDDLE..., LAST, each within a block.
    let per_block = wal::BLOCK_SIZE - wal::HEADER_SIZE;
    let big = vec![7u8; 100_000];
    assert_eq!(
        fragments(&log_bytes(&[big])),
        [
            (0, 2, per_block),
            (wal::BLOCK_SIZE, 3, per_block),
            (2 * wal::BLOCK_SIZE, 3, per_block),
            (3 * wal::BLOCK_SIZE, 4, 100_000 - 3 * per_block),
        ],
        "wal.md: FIRST/MIDDLE/LAST fragments never cross a block"
    );

    // Fewer than 7 bytes left: zeros, then the next block. Exactly 7: a
    // fragment header still fits there.
    for left in [1usize, 6, 7] {
        let first = vec![1u8; wal::BLOCK_SIZE - wal::HEADER_SIZE - left];
        let frags = fragments(&log_bytes(&[first, b"next".to_vec()]));
        let second = frags[1].0;
        if left < wal::HEADER_SIZE {
            assert_eq!(
                second,
                wal::BLOCK_SIZE,
                "wal.md: {left} bytes left are a trailer"
            );
        } else {
            assert_eq!(
                second,
                wal::BLOCK_SIZE - left,
                "wal.md: 7 bytes left hold a header"
            );
        }
    }

    // Preallocation: 1 MiB at a time; trimmed at a clean close.
    doc.states(
        "the preallocation step",
        "The writer grows the file ahead of its records, 1 MiB at a time, with zeros",
    );
    let file = Recording::default();
    let mut w = wal::Writer::preallocated(Box::new(file.clone()));
    for _ in 0..40 {
        w.add_record(&[5u8; 30_000]).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(
        *file.preallocated.lock().unwrap(),
        [1 << 20, 2 << 20],
        "wal.md: preallocation 1 MiB at a time"
    );
    assert_eq!(
        *file.trimmed.lock().unwrap(),
        [w.len()],
        "wal.md: a clean close trims to the last record"
    );

    // A hole: damaged bytes holding a whole 4 KiB-aligned page of zeros.
    doc.states(
        "the hole page",
        "or containing a whole 4 KiB-aligned page of zeros",
    );
    let records: Vec<Vec<u8>> = (0..30u8).map(|i| vec![i + 1; 3000]).collect();
    let clean = log_bytes(&records);
    let damaged = |zeros: std::ops::Range<usize>| {
        let mut data = clean.clone();
        data[zeros].fill(0);
        read_log(data)
    };
    let (n, d) = damaged(12_288..16_384);
    assert!(
        n < records.len() && d.unwrap().is_tail,
        "wal.md: an aligned zero page is a hole"
    );
    let (n, d) = damaged(12_289..16_385);
    assert!(
        n < records.len() && !d.unwrap().is_tail,
        "wal.md: 4 KiB of zeros not on a 4 KiB boundary is not a hole"
    );

    // The group payload: base seq u64, count u32, then entries.
    doc.states("the payload header", " 0          8        12");
    doc.states("the payload header", "| base seq | count  | entry 0 |");
    doc.states(
        "the entry widths",
        "u8      u32          u32      key len B     u32       value len B",
    );
    assert_eq!(batch::HEADER_LEN, 8 + 4, "wal.md: payload header");
    doc.states(
        "the value kinds",
        "| `kind` | low 7 bits: `0` Delete, `1` Put, `2` Merge (frozen; see `src/key.rs`); bit 7 (`0x80`): a keyspace id follows |",
    );
    let mut in_keyspace = WriteBatch::new();
    in_keyspace.push_in(3, ValueKind::Merge, b"k", b"v");
    let mut payload = Vec::new();
    batch::encode_group(1, &[&in_keyspace], &mut payload);
    let example =
        doc.hex_block_after("Example — a Merge of `k` = `v` in keyspace 3 (after the header):");
    assert_eq!(
        &payload[batch::HEADER_LEN..],
        &example[..],
        "wal.md: an entry in a keyspace"
    );
    assert_eq!(ValueKind::Delete as u8, 0, "wal.md: kind Delete");
    assert_eq!(ValueKind::Put as u8, 1, "wal.md: kind Put");
    assert_eq!(ValueKind::Merge as u8, 2, "wal.md: kind Merge");
    let mut b = WriteBatch::new();
    b.put(b"k", b"vv").delete(b"d").merge(b"m", b"o");
    let mut payload = Vec::new();
    assert_eq!(batch::encode_group(9, &[&b], &mut payload), 3);
    let want = [
        &9u64.to_le_bytes()[..],
        &3u32.to_le_bytes(),
        &[1],
        &1u32.to_le_bytes(),
        b"k",
        &2u32.to_le_bytes(),
        b"vv",
        &[0],
        &1u32.to_le_bytes(),
        b"d",
        &0u32.to_le_bytes(),
        &[2],
        &1u32.to_le_bytes(),
        b"m",
        &1u32.to_le_bytes(),
        b"o",
    ]
    .concat();
    assert_eq!(payload, want, "wal.md: WAL record payload");

    // The recovery modes and the default.
    doc.states("the default mode", "| `TolerateCorruptedTail` (default) |");
    assert_eq!(
        RecoveryMode::default(),
        RecoveryMode::TolerateCorruptedTail,
        "wal.md: default recovery mode"
    );
    for (mode, name) in [
        (RecoveryMode::PointInTime, "| `PointInTime` |"),
        (
            RecoveryMode::AbsoluteConsistency,
            "| `AbsoluteConsistency` |",
        ),
        (RecoveryMode::SkipCorrupted, "| `SkipCorrupted` |"),
    ] {
        doc.states("a recovery mode", name);
        assert!(name.contains(&format!("`{mode:?}`")), "wal.md: {name}");
    }
    doc.states("the set-aside WAL name", "(renamed `NNNNNN.wal.dropped`)");
}
