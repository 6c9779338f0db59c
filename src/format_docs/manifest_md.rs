//! `docs/format/manifest.md`.

use super::*;

use bytes::Bytes;

use crate::filename::{self};
use crate::options::Options;
use crate::version::set::parse_current;
use crate::version::{ManifestRecord, TableMeta, VersionEdit};
use crate::wal::{self};

#[test]
fn manifest_md() {
    let doc = Doc::read(MANIFEST_MD);
    doc.states(
        "the log framing",
        "It uses the log framing of [wal.md](wal.md) (32 KiB blocks, crc32 per fragment)",
    );
    assert_eq!(wal::BLOCK_SIZE, 32 << 10, "manifest.md: 32 KiB blocks");

    let first_byte = |record: ManifestRecord| record.encode()[0];
    let edit = |e: VersionEdit| ManifestRecord::from(e);
    let meta = TableMeta {
        number: 9,
        run: 4,
        size: 300,
        smallest: Bytes::from_static(b"a"),
        largest: Bytes::from_static(b"bc"),
        min_seqno: 5,
        max_seqno: 6,
        entries: 2,
    };
    let tags = [
        (
            1,
            "FORMAT_VERSION",
            "u32",
            "database",
            ManifestRecord {
                format_version: Some(1),
                ..Default::default()
            },
        ),
        (
            2,
            "LOG_NUMBER",
            "u64",
            "keyspace",
            edit(VersionEdit {
                log_number: Some(1),
                ..Default::default()
            }),
        ),
        (
            3,
            "NEXT_FILE_NUMBER",
            "u64",
            "database",
            ManifestRecord {
                next_file_number: Some(1),
                ..Default::default()
            },
        ),
        (
            4,
            "LAST_SEQNO",
            "u64",
            "database",
            ManifestRecord {
                last_seqno: Some(1),
                ..Default::default()
            },
        ),
        (
            5,
            "MERGE_OPERATOR",
            "bytes",
            "keyspace",
            edit(VersionEdit {
                merge_operator: Some("op".into()),
                ..Default::default()
            }),
        ),
        (
            6,
            "ADD_TABLE",
            "table",
            "keyspace",
            edit(VersionEdit {
                added: vec![meta.clone()],
                ..Default::default()
            }),
        ),
        (
            7,
            "DELETE_TABLE",
            "u64",
            "keyspace",
            edit(VersionEdit {
                deleted: vec![1],
                ..Default::default()
            }),
        ),
        (8, "KEYSPACE", "u32", "—", edit(VersionEdit::of(3))),
        (
            11,
            "NEXT_KEYSPACE_ID",
            "u32",
            "database",
            ManifestRecord {
                next_keyspace_id: Some(2),
                ..Default::default()
            },
        ),
    ];
    for (tag, name, value, scope, record) in tags {
        doc.states(
            &format!("tag {name}"),
            &format!("| {tag} | `{name}` | {value} | {scope} |"),
        );
        assert_eq!(first_byte(record), tag, "manifest.md: tag of {name}");
    }
    // Tags that follow a KEYSPACE tag.
    let created = edit(VersionEdit {
        create: Some("ix".into()),
        ..VersionEdit::of(1)
    })
    .encode();
    doc.states(
        "tag CREATE_KEYSPACE",
        "| 9 | `CREATE_KEYSPACE` | bytes | keyspace |",
    );
    assert_eq!(created[5], 9, "manifest.md: tag of CREATE_KEYSPACE");
    let dropped = edit(VersionEdit {
        drop: true,
        ..VersionEdit::of(1)
    })
    .encode();
    doc.states(
        "tag DROP_KEYSPACE",
        "| 10 | `DROP_KEYSPACE` | nothing | keyspace |",
    );
    assert_eq!(dropped, [8, 1, 0, 0, 0, 10], "manifest.md: DROP_KEYSPACE");
    let example = doc.hex_block_after("Example — keyspace 1 created as `ix`:");
    assert_eq!(created, example, "manifest.md: keyspace example bytes");
    doc.states(
        "the format version",
        "manifest format version; currently `2` (`1` is read too)",
    );
    assert_eq!(crate::version::MANIFEST_FORMAT_VERSION, 2);

    doc.states(
        "bytes",
        "`bytes` is a u32 length followed by that many bytes.",
    );
    doc.states(
        "the table layout",
        "| number | run | size | smallest | largest | min seqno | max seqno | entries |",
    );
    doc.states(
        "the table layout",
        "u64     u64   u64    bytes      bytes      u64         u64        u64",
    );
    let encoded = edit(VersionEdit {
        added: vec![meta],
        ..Default::default()
    })
    .encode();
    let mut want = vec![6];
    for v in [9u64, 4, 300] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    want.extend_from_slice(&1u32.to_le_bytes());
    want.extend_from_slice(b"a");
    want.extend_from_slice(&2u32.to_le_bytes());
    want.extend_from_slice(b"bc");
    for v in [5u64, 6, 2] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(encoded, want, "manifest.md: ADD_TABLE layout");

    doc.states(
        "the example",
        "Example — `LOG_NUMBER 2` then `DELETE_TABLE 5`:",
    );
    let example = doc.hex_block_after("Example — `LOG_NUMBER 2` then `DELETE_TABLE 5`:");
    let record = edit(VersionEdit {
        log_number: Some(2),
        deleted: vec![5],
        ..Default::default()
    });
    assert_eq!(record.encode(), example, "manifest.md: example edit bytes");
    assert_eq!(
        ManifestRecord::decode(&Bytes::from(example)).unwrap(),
        record
    );
    doc.states(
        "the empty edit",
        "An empty payload is a valid edit that changes nothing.",
    );
    assert_eq!(
        ManifestRecord::decode(&Bytes::new()).unwrap(),
        ManifestRecord::default()
    );

    doc.states(
        "max_manifest_size",
        "When the manifest grows past `Options::max_manifest_size` (default 4 MiB)",
    );
    assert_eq!(
        Options::default().max_manifest_size,
        4 << 20,
        "manifest.md: max_manifest_size"
    );

    // CURRENT: the example line, and what an open writes.
    doc.states(
        "CURRENT's form",
        "Exactly: the manifest's file name, one space, the crc32 of the file name's bytes as 8 lowercase hex digits, and a newline.",
    );
    let at = doc.raw.find("## `CURRENT`").unwrap();
    let block = &doc.raw[at..];
    let block = &block[block.find("```").unwrap() + 3..];
    let block = &block[block.find('\n').unwrap() + 1..];
    let example = &block[..block.find("```").unwrap()];
    let example = example.trim_end_matches('\n').replace("\\n", "\n");
    let name12 = filename::manifest_name(12);
    let crc12 = crc32fast::hash(name12.as_bytes());
    let current12 = format!("{name12} {crc12:08x}\n");
    assert_eq!(
        parse_current(current12.as_bytes()),
        Some(12),
        "manifest.md: CURRENT form"
    );
    assert_eq!(
        parse_current(format!("{name12} {crc12:08X}\n").as_bytes()),
        None,
        "manifest.md: CURRENT's hex digits are lowercase"
    );
    assert_eq!(
        parse_current(current12.trim_end().as_bytes()),
        None,
        "manifest.md: CURRENT ends with a newline"
    );
    assert!(
        example.starts_with("MANIFEST-000012 ") && example.ends_with('\n'),
        "manifest.md: the CURRENT example names MANIFEST-000012: {example:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = crate::Db::open(dir, Options::default()).unwrap();
    db.close().unwrap();
    let current = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    let number = parse_current(current.as_bytes()).expect("manifest.md: CURRENT as written parses");
    let name = filename::manifest_name(number);
    assert_eq!(
        current,
        format!("{name} {:08x}\n", crc32fast::hash(name.as_bytes())),
        "manifest.md: CURRENT as written"
    );
    doc.states(
        "the first record",
        "So the first record of a valid manifest always carries `FORMAT_VERSION`",
    );
    let manifest = std::fs::read(dir.join(&name)).unwrap();
    let mut reader = wal::Reader::new(&dir.join(&name), Bytes::from(manifest));
    let (_, first) = reader.next_record().expect("a first record");
    assert_eq!(
        first[0], 1,
        "manifest.md: FORMAT_VERSION is the first field"
    );
    let first = ManifestRecord::decode(&first).unwrap();
    assert_eq!(
        first.format_version,
        Some(2),
        "manifest.md: FORMAT_VERSION 2 first"
    );
    assert!(
        first.edits[0].log_number.is_some()
            && first.next_file_number.is_some()
            && first.last_seqno.is_some()
            && first.next_keyspace_id.is_some()
    );

    // Last, so that every other check has run: the example's checksum.
    assert_eq!(
        example, current12,
        "manifest.md: the CURRENT example's checksum must be crc32(\"{name12}\") = {crc12:08x}"
    );
}
