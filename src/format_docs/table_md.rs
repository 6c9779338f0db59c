//! `docs/format/table.md`.

use super::*;

use crate::key::{MAX_SEQNO, ValueKind};
use crate::options::Options;
use crate::table::{Compression, TableOptions};

#[test]
fn table_md() {
    let doc = Doc::read(TABLE_MD);
    let entries = [
        (ik(b"abc", 1, ValueKind::Put), b"x".to_vec()),
        (ik(b"abd", 2, ValueKind::Delete), Vec::new()),
    ];
    let file = write_table(&entries, &table_opts(Compression::None, 4096, 10));
    let f = footer(&file);

    doc.states(
        "the trailer",
        "followed by an 8-byte trailer `seqno << 8 | kind` (u64 LE)",
    );
    doc.states(
        "the kinds",
        "`kind` is `0` Delete, `1` Put, `2` Merge (frozen)",
    );
    let key = ik(b"abc", 0x0102_0304, ValueKind::Merge);
    assert_eq!(key.trailer(), (0x0102_0304 << 8) | 2, "table.md: trailer");
    assert_eq!(
        MAX_SEQNO,
        u64::MAX >> 8,
        "table.md: the seqno fills the trailer above kind"
    );
    // The first data entry: shared 0, unshared = user key + 8, value 1.
    assert_eq!(&file[..3], &[0, 3 + 8, 1], "table.md: 8-byte trailer");
    assert_eq!(
        &file[6..14],
        &((1u64 << 8) | 1).to_le_bytes(),
        "table.md: trailer LE"
    );

    doc.states(
        "the block trailer",
        "followed by its 5-byte trailer (compression type + crc32)",
    );
    doc.states(
        "the block handle size",
        "**Block handle**: where a stored block lives, 16 bytes:",
    );
    doc.states("the handle layout", " 0          8          16");
    doc.states(
        "the handle's size",
        "the stored block occupies `[offset, offset + size + 5)`",
    );

    doc.states("FOOTER_LEN", "| footer (64 bytes) |");
    doc.states("FOOTER_LEN", "The last 64 bytes of the file.");
    doc.states(
        "the footer offsets",
        " 0              16             32             48        52    56        64",
    );
    doc.states(
        "the footer widths",
        "16 B           16 B           16 B         u32      u32    u64",
    );
    doc.states(
        "the index handle width",
        "| index handle | 16 | the index block |",
    );
    doc.states("the filter handle width", "| filter handle | 16 |");
    doc.states(
        "the props handle width",
        "| props handle | 16 | the properties block |",
    );

    // Layout order: data, filter, properties, index, footer; each stored
    // block is payload + 5 bytes.
    let data = Handle {
        offset: 0,
        size: f.filter.offset - 5,
    };
    assert_eq!(
        data.offset + data.size + 5,
        f.filter.offset,
        "table.md: data then filter"
    );
    assert_eq!(
        f.filter.offset + f.filter.size + 5,
        f.props.offset,
        "table.md: filter then properties"
    );
    assert_eq!(
        f.props.offset + f.props.size + 5,
        f.index.offset,
        "table.md: properties then index"
    );
    assert_eq!(
        f.index.offset + f.index.size + 5 + 64,
        file.len() as u64,
        "table.md: index then a 64-byte footer"
    );

    doc.states(
        "the format version",
        "| version | 4 | format version, currently `1` |",
    );
    assert_eq!(f.version, 1, "table.md: footer version");
    doc.states("the footer crc", "| crc | 4 | crc32 (IEEE, `crc32fast`) over bytes `0..52` (the three handles and the version) |");
    let foot = &file[file.len() - 64..];
    assert_eq!(f.crc, crc32fast::hash(&foot[..52]), "table.md: footer crc");
    doc.states("the magic", "| magic | 8 | `0x7269_6c6c_6b76_5401`");
    assert_eq!(f.magic, 0x7269_6c6c_6b76_5401, "table.md: magic");
    let magic_bytes = doc.hex_inline_after("i.e. bytes `");
    assert_eq!(&foot[56..], &magic_bytes[..], "table.md: magic bytes");

    doc.states(
        "the minimum size",
        "`Table::open` checks, in order: the file is at least 64 bytes",
    );
    assert!(open_table(&file).is_ok(), "table.md: a written table opens");
    assert!(
        open_table(&file[file.len() - 63..]).is_err(),
        "table.md: under 64 bytes"
    );
    let index = file[f.index.range()].to_vec();
    assert!(
        open_table(&with_index(&file, &index, 1, f.magic)).is_ok(),
        "table.md: re-encoded footer"
    );
    let err = open_table(&with_index(&file, &index, 2, f.magic)).unwrap_err();
    assert!(
        err.to_string().contains("unsupported table format version"),
        "table.md: version 2 is refused: {err}"
    );
    assert!(
        open_table(&with_index(&file, &index, 1, f.magic ^ 1)).is_err(),
        "table.md: another magic is refused"
    );

    doc.states(
        "the filter handle",
        "`size == 0` means the table has no filter",
    );
    let unfiltered = write_table(&entries, &table_opts(Compression::None, 4096, 0));
    assert_eq!(footer(&unfiltered).filter.size, 0, "table.md: no filter");

    doc.states(
        "the default block size",
        "once its uncompressed size reaches `block_size` (default 4096)",
    );
    assert_eq!(
        Options::default().default_keyspace().block_size,
        4096,
        "table.md: default block_size"
    );
    assert_eq!(
        TableOptions::default().block_size,
        4096,
        "table.md: default block_size"
    );

    doc.states(
        "the data restart interval",
        "Data blocks use restart interval 16",
    );
    doc.states(
        "the index restart interval",
        "A block (restart interval 1) with one entry per data block",
    );
    let many: Vec<_> = (0..17u8)
        .map(|i| (ik(&[b'k', i], 1, ValueKind::Put), vec![i]))
        .collect();
    let one_block = write_table(&many, &table_opts(Compression::None, 4096, 0));
    let fb = footer(&one_block);
    let block = &one_block[..(fb.props.offset - 5) as usize];
    assert_eq!(
        u32_at(block, block.len() - 4),
        2,
        "table.md: 17 entries, interval 16"
    );
    let blocks = write_table(&many[..3], &table_opts(Compression::None, 1, 0));
    let fb = footer(&blocks);
    let index = &blocks[fb.index.range()];
    assert_eq!(
        u32_at(index, index.len() - 4),
        3,
        "table.md: index interval 1"
    );

    doc.states("the index value", "| the last (greatest) encoded internal key of the data block | the data block's 16-byte handle |");
    let index = &file[f.index.range()];
    let mut last = b"abd".to_vec();
    last.extend_from_slice(&(2u64 << 8).to_le_bytes());
    let mut want = vec![0, last.len() as u8, 16];
    want.extend_from_slice(&last);
    want.extend_from_slice(&0u64.to_le_bytes());
    want.extend_from_slice(&data.size.to_le_bytes());
    want.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(
        index,
        &want[..],
        "table.md: index entry = last key → 16-byte handle"
    );

    doc.states(
        "an empty table's index",
        "An empty table has an index block with no entries.",
    );
    let empty = write_table(&[], &table_opts(Compression::None, 4096, 10));
    let fe = footer(&empty);
    assert_eq!(
        &empty[fe.index.range()],
        &[0, 0, 0, 0],
        "table.md: empty index"
    );

    // Properties: layout and version.
    doc.states("the properties version", "version u32 (= 1)");
    doc.states(
        "the properties version",
        "The properties block carries its own `version` (currently `1`)",
    );
    doc.states("the properties layout", "min_seqno u64, max_seqno u64");
    doc.states(
        "the properties layout",
        "compression_type u8, compression_level i32",
    );
    doc.states(
        "raw_key_bytes",
        "sum of encoded internal key lengths (user key + 8) before prefix compression",
    );
    let props = &file[f.props.range()];
    let mut want = 1u32.to_le_bytes().to_vec();
    for k in [b"abc", b"abd"] {
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(k);
    }
    for v in [1u64, 2, 2, 1, 0, 22, 1, 1, data.size + 5] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    want.push(0);
    want.extend_from_slice(&0i32.to_le_bytes());
    want.extend_from_slice(&10u32.to_le_bytes());
    assert_eq!(props, &want[..], "table.md: properties block");
    doc.states("the compression level for none", "level 0 for none");
    doc.states(
        "the metadata blocks",
        "| filter block      |  optional (bloom.md); never compressed",
    );
    doc.states(
        "the metadata blocks",
        "| properties block  |  never compressed",
    );
    doc.states(
        "the metadata blocks",
        "| index block       |  never compressed",
    );
    let zstd = write_table(
        &entries,
        &table_opts(Compression::Zstd { level: 1 }, 4096, 10),
    );
    let fz = footer(&zstd);
    let props = &zstd[fz.props.range()];
    assert_eq!(
        (
            props[props.len() - 9],
            i32::from_le_bytes(props[props.len() - 8..props.len() - 4].try_into().unwrap())
        ),
        (1, 1),
        "table.md: compression_type and level of a zstd table"
    );
    for h in [fz.filter, fz.props, fz.index] {
        assert_eq!(
            block_trailer(&zstd, h).0,
            0,
            "table.md: metadata blocks never compressed"
        );
    }
}
