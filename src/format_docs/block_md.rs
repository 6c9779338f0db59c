//! `docs/format/block.md`.

use super::*;

use crate::key::{MAX_SEQNO, ValueKind};
use crate::table::Compression;

#[test]
fn block_md() {
    let doc = Doc::read(BLOCK_MD);
    let entries = [
        (ik(b"abc", 1, ValueKind::Put), b"x".to_vec()),
        (ik(b"abd", 2, ValueKind::Delete), Vec::new()),
    ];
    let file = write_table(&entries, &table_opts(Compression::None, 4096, 0));
    let f = footer(&file);

    doc.states(
        "the golden block",
        "entries `(\"abc\", seq 1, Put) = \"x\"` and `(\"abd\", seq 2, Delete) = \"\"`:",
    );
    let golden = doc.hex_block_after("Example (golden bytes");
    assert_eq!(golden.len(), 15 + 12 + 8, "block.md: golden bytes parsed");
    assert_eq!(
        &file[..golden.len()],
        &golden[..],
        "block.md: golden block bytes"
    );

    doc.states(
        "num_restarts",
        "`num_restarts` (u32, the last 4 bytes) is the number of restart points",
    );
    doc.states(
        "the empty block",
        "the block is then the 4 bytes `00 00 00 00`",
    );
    let empty = write_table(&[], &table_opts(Compression::None, 4096, 0));
    assert_eq!(
        &empty[footer(&empty).index.range()],
        &[0, 0, 0, 0],
        "block.md: empty block"
    );

    doc.states(
        "the restart intervals",
        "Data blocks start a restart interval every 16 entries; index blocks every entry.",
    );
    let many: Vec<_> = (0..33u8)
        .map(|i| (ik(&[b'k', i], 1, ValueKind::Put), vec![i]))
        .collect();
    let t = write_table(&many, &table_opts(Compression::None, 1 << 20, 0));
    let block = &t[..(footer(&t).props.offset - 5) as usize];
    assert_eq!(
        u32_at(block, block.len() - 4),
        3,
        "block.md: 33 entries, interval 16 → 3 restarts"
    );

    doc.states(
        "the trailer length",
        "every block (data, index, filter, properties) is a *payload* followed by a 5-byte trailer",
    );
    doc.states("the crc", "| `crc32` | crc32 (IEEE, `crc32fast`) over the payload bytes followed by the `type` byte |");
    let data = Handle {
        offset: 0,
        size: golden.len() as u64,
    };
    assert_eq!(f.props.offset, data.size + 5, "block.md: 5-byte trailer");
    assert_eq!(
        block_trailer(&file, data),
        (0, stored_block_crc(&golden, 0)),
        "block.md: trailer = type 0 + crc32(payload, type)"
    );

    doc.states("the compression types", "| `type` | compression of the payload: `0` none, `1` zstd, `2` LZ4. On disk: never renumber |");
    doc.states("type 1", "### Type 1: zstd");
    doc.states("type 2", "### Type 2: LZ4");
    let compressible: Vec<_> = (0..50u8)
        .map(|i| {
            (
                ik(format!("key{i:04}").as_bytes(), 1, ValueKind::Put),
                vec![b'a'; 60],
            )
        })
        .collect();
    for (compression, ty) in [
        (Compression::None, 0),
        (Compression::Zstd { level: 1 }, 1),
        (Compression::Lz4, 2),
    ] {
        let t = write_table(&compressible, &table_opts(compression, 1 << 20, 0));
        let data = Handle {
            offset: 0,
            size: footer(&t).props.offset - 5,
        };
        let (got, crc) = block_trailer(&t, data);
        assert_eq!(got, ty, "block.md: type byte of {compression:?}");
        assert_eq!(
            crc,
            stored_block_crc(&t[data.range()], ty),
            "block.md: crc of {compression:?}"
        );
        if ty != 0 {
            let declared = u32_at(&t, 0) as usize;
            let table = open_table(&t).unwrap();
            assert!(table.get(b"key0000", MAX_SEQNO).unwrap().is_some());
            assert!(
                declared > data.size as usize,
                "block.md: uncompressed_len u32 first"
            );
        }
    }

    // Stored raw unless compression saves 1/8, counting the 4-byte length.
    doc.states(
        "the 1/8 rule",
        "when the compressor does not shrink it by at least 1/8 (counting the 4-byte length)",
    );
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut raw_seen, mut lz4_seen, mut shrunk_but_raw) = (0, 0, 0);
    for random in (1200..2000).step_by(8) {
        let mut value: Vec<u8> = (0..random).map(|_| rng.u8(..)).collect();
        value.resize(2000, b'z');
        let t = write_table(
            &[(ik(b"k", 1, ValueKind::Put), value)],
            &table_opts(Compression::Lz4, 1 << 20, 0),
        );
        let data = Handle {
            offset: 0,
            size: footer(&t).props.offset - 5,
        };
        let (ty, _) = block_trailer(&t, data);
        let contents = match ty {
            0 => t[data.range()].to_vec(),
            2 => lz4_flex::block::decompress(&t[4..data.size as usize], u32_at(&t, 0) as usize)
                .unwrap(),
            other => panic!("block.md: unexpected type {other}"),
        };
        let n = contents.len();
        let c = lz4_flex::block::compress(&contents).len();
        let pays = 4 + c < n - n / 8;
        assert_eq!(
            ty == 2,
            pays,
            "block.md: 1/8 rule for a {n}-byte block compressing to {c}"
        );
        raw_seen += usize::from(ty == 0);
        lz4_seen += usize::from(ty == 2);
        shrunk_but_raw += usize::from(ty == 0 && 4 + c < n);
    }
    assert!(
        raw_seen > 0 && lz4_seen > 0 && shrunk_but_raw > 0,
        "block.md: both sides of 1/8 seen"
    );

    doc.states(
        "the decompression cap",
        "must not exceed 64 MiB (67,108,864), a guard against decompression bombs",
    );
    let t = write_table(&compressible, &table_opts(Compression::Lz4, 1 << 20, 0));
    let data = Handle {
        offset: 0,
        size: footer(&t).props.offset - 5,
    };
    let declaring = |len: u32| {
        let mut t = t.clone();
        t[..4].copy_from_slice(&len.to_le_bytes());
        let crc = stored_block_crc(&t[data.range()], 2);
        let end = data.size as usize;
        t[end + 1..end + 5].copy_from_slice(&crc.to_le_bytes());
        let err = open_table(&t)
            .and_then(|table| table.get(b"key0000", MAX_SEQNO))
            .unwrap_err();
        err.to_string()
    };
    assert!(
        !declaring(67_108_864).contains("implausible length"),
        "block.md: 64 MiB is allowed"
    );
    assert!(
        declaring(67_108_865).contains("implausible length"),
        "block.md: more than 64 MiB is refused"
    );

    // Varints: at most 5 bytes; keys at least 8 bytes.
    doc.states(
        "the varint length",
        "at most 5 bytes, and the value must fit in 32 bits",
    );
    doc.states("the key length", "so every key is at least 8 bytes");
    let index = file[f.index.range()].to_vec();
    let rest = &index[1..index.len() - 8]; // after the 1-byte `shared` 0
    let entry_with_shared = |shared: &[u8]| {
        let mut block = shared.to_vec();
        block.extend_from_slice(rest);
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        let t = with_index(&file, &block, 1, f.magic);
        open_table(&t).and_then(|table| table.get(b"abc", MAX_SEQNO))
    };
    assert!(entry_with_shared(&[0]).is_ok(), "block.md: rebuilt index");
    assert!(
        entry_with_shared(&[0x80, 0x80, 0x80, 0x80, 0]).is_ok(),
        "block.md: a 5-byte varint"
    );
    assert!(
        entry_with_shared(&[0x80, 0x80, 0x80, 0x80, 0x80, 0]).is_err(),
        "block.md: a 6-byte varint"
    );
    let mut short = vec![0, 7, 16];
    short.extend_from_slice(&[b'a'; 7]);
    short.extend_from_slice(&index[index.len() - 8 - 16..index.len() - 8]);
    short.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
    assert!(
        open_table(&with_index(&file, &short, 1, f.magic))
            .and_then(|table| table.get(b"abc", MAX_SEQNO))
            .is_err(),
        "block.md: a 7-byte key is corruption"
    );
}
