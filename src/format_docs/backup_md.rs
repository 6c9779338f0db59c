//! `docs/format/backup.md`.

use super::*;

use crate::backup::manifest::BackupManifest;
use crate::backup::{
    BACKUP_FORMAT_VERSION, BACKUP_MAGIC, ENTRY_LEN, Entry, EntryKind, HEADER_LEN, TRAILER_LEN,
    meta_path, stored_name,
};

#[test]
fn backup_md() {
    let doc = Doc::read(BACKUP_MD);
    doc.states("the magic", "the 8 bytes `72 6b 76 62 6b 75 70 00`");
    assert_eq!(
        BACKUP_MAGIC,
        [0x72, 0x6b, 0x76, 0x62, 0x6b, 0x75, 0x70, 0x00]
    );
    doc.states(
        "the format version",
        "the backup manifest format version, currently `1`",
    );
    assert_eq!(BACKUP_FORMAT_VERSION, 1, "backup.md: version");
    doc.states(
        "the header widths",
        "8 B     u32       u64  u64     u64       u32                            u32",
    );
    assert_eq!(HEADER_LEN, 8 + 4 + 8 + 8 + 8 + 4, "backup.md: header");
    assert_eq!(TRAILER_LEN, 4, "backup.md: trailer");
    doc.states("the entry widths", "u8     u64      u64    u32");
    doc.states("the entry size", "count x entry (21 B)");
    assert_eq!(ENTRY_LEN, 21, "backup.md: entry");

    let entry = |kind, number| Entry {
        kind,
        number,
        size: 3,
        crc: 0x0102_0304,
    };
    for (kind, code, stored) in [
        (EntryKind::Table, 0, "`shared/NNNNNN-CCCCCCCC.rkt`"),
        (EntryKind::Wal, 1, "`private/IIIIII-NNNNNN.wal`"),
        (EntryKind::Manifest, 2, "`private/IIIIII-MANIFEST-NNNNNN`"),
    ] {
        doc.states("an entry kind", &format!("| {code} |"));
        doc.states("where an entry kind is stored", stored);
        assert_eq!(kind as u8, code, "backup.md: kind {code}");
    }
    assert_eq!(
        stored_name(7, &entry(EntryKind::Table, 12)),
        "000012-01020304.rkt"
    );
    assert_eq!(
        stored_name(7, &entry(EntryKind::Wal, 12)),
        "000007-000012.wal"
    );
    assert_eq!(
        stored_name(7, &entry(EntryKind::Manifest, 12)),
        "000007-MANIFEST-000012"
    );
    assert_eq!(
        meta_path(Path::new("/b"), 7),
        Path::new("/b/meta/000007.backup"),
        "backup.md: meta/IIIIII.backup"
    );

    let example = BackupManifest {
        id: 1,
        seqno: 2,
        created_ms: 1,
        entries: vec![entry(EntryKind::Wal, 5), entry(EntryKind::Manifest, 6)],
    };
    let bytes = example.encode();
    assert_eq!(
        doc.hex_block_after("Example — backup 1"),
        bytes,
        "backup.md: the example's bytes (crc32 {:02x?})",
        &bytes[bytes.len() - 4..]
    );
    assert_eq!(
        BackupManifest::decode(Path::new("/b/meta/000001.backup"), &bytes).unwrap(),
        example
    );
}
