//! `docs/format/files.md`.

use super::*;
use std::path::{Path, PathBuf};

use crate::filename::{self, FileKind};
use crate::options::Options;
use crate::wal::{self};

#[test]
fn files_md() {
    let doc = Doc::read(FILES_MD);
    let dir = Path::new("/db");
    let name = |p: PathBuf| p.file_name().unwrap().to_str().unwrap().to_owned();

    doc.states("the lock file's name", "| `LOCK` |");
    assert_eq!(filename::LOCK, "LOCK", "files.md: LOCK");
    assert_eq!(filename::parse("LOCK"), FileKind::Lock, "files.md: LOCK");

    doc.states("the CURRENT file's name", "| `CURRENT` |");
    assert_eq!(filename::CURRENT, "CURRENT", "files.md: CURRENT");
    assert_eq!(
        filename::parse("CURRENT"),
        FileKind::Current,
        "files.md: CURRENT"
    );

    doc.states(
        "the WAL name and its digits",
        "| `NNNNNN.wal` | write-ahead log, [format](wal.md); `NNNNNN` is the file number, 6+ decimal digits |",
    );
    assert_eq!(
        name(filename::wal_path(dir, 7)),
        "000007.wal",
        "files.md: NNNNNN.wal"
    );
    assert_eq!(
        name(filename::wal_path(dir, 1_234_567)),
        "1234567.wal",
        "files.md: 6+ digits"
    );
    assert_eq!(
        filename::parse("000007.wal"),
        FileKind::Wal(7),
        "files.md: NNNNNN.wal"
    );
    assert_eq!(
        filename::parse("1234567.wal"),
        FileKind::Wal(1_234_567),
        "files.md: 6+ digits"
    );

    doc.states("the table name", "| `NNNNNN.rkt` | a table");
    assert_eq!(
        name(filename::table_path(dir, 7)),
        "000007.rkt",
        "files.md: NNNNNN.rkt"
    );
    assert_eq!(
        filename::parse("000007.rkt"),
        FileKind::Table(7),
        "files.md: NNNNNN.rkt"
    );

    doc.states(
        "the manifest name",
        "| `MANIFEST-NNNNNN` | log of version edits",
    );
    assert_eq!(
        filename::manifest_name(7),
        "MANIFEST-000007",
        "files.md: MANIFEST-NNNNNN"
    );
    assert_eq!(
        name(filename::manifest_path(dir, 7)),
        "MANIFEST-000007",
        "files.md: MANIFEST-NNNNNN"
    );
    assert_eq!(
        filename::parse("MANIFEST-000007"),
        FileKind::Manifest(7),
        "files.md: MANIFEST-NNNNNN"
    );

    doc.states(
        "the temp file name",
        "| `NNNNNN.tmp` | a `CURRENT` being written |",
    );
    doc.states(
        "CURRENT's replacement",
        "replaced atomically through `NNNNNN.tmp`",
    );
    assert_eq!(
        name(filename::temp_path(dir, 7)),
        "000007.tmp",
        "files.md: NNNNNN.tmp"
    );
    assert_eq!(
        filename::parse("000007.tmp"),
        FileKind::Temp(7),
        "files.md: NNNNNN.tmp"
    );

    doc.states(
        "the set-aside WAL name",
        "| `NNNNNN.wal.dropped` | a WAL set aside by `RecoveryMode::PointInTime`; never read again |",
    );
    // Recovery renames `wal_path(n)` with this extension (set_aside_wals);
    // the result is a name rillkv does not recognise, so it is never read.
    let recovery = std::fs::read_to_string(RECOVERY_RS).unwrap();
    assert!(
        recovery.contains("filename::wal_path(dir, number)")
            && recovery.contains(".with_extension(\"wal.dropped\")"),
        "files.md: NNNNNN.wal.dropped is no longer how recovery names a WAL set aside"
    );
    assert_eq!(
        name(filename::wal_path(dir, 7).with_extension("wal.dropped")),
        "000007.wal.dropped",
        "files.md: NNNNNN.wal.dropped"
    );
    assert_eq!(
        filename::parse("000007.wal.dropped"),
        FileKind::Other,
        "files.md: NNNNNN.wal.dropped is never read again"
    );
    doc.states(
        "unknown files",
        "Files rillkv does not recognise are left alone.",
    );
    assert_eq!(filename::parse("notes.txt"), FileKind::Other);

    doc.states(
        "the WAL growth step",
        "The file is grown 1 MiB at a time ahead of its records",
    );
    let file = Recording::default();
    let mut w = wal::Writer::preallocated(Box::new(file.clone()));
    w.add_record(b"x").unwrap();
    assert_eq!(
        *file.preallocated.lock().unwrap(),
        [1 << 20],
        "files.md: WAL grown 1 MiB at a time"
    );

    // A database directory holds exactly the documented forms.
    let tmp = tempfile::tempdir().unwrap();
    let db = crate::Db::open(tmp.path(), Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.flush().unwrap();
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    db.close().unwrap();
    let numbered = |suffix: &str| {
        names.iter().any(|n| {
            n.strip_suffix(suffix)
                .is_some_and(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    assert!(
        names.iter().any(|n| n == "LOCK"),
        "files.md: LOCK in {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "CURRENT"),
        "files.md: CURRENT in {names:?}"
    );
    assert!(numbered(".wal"), "files.md: NNNNNN.wal in {names:?}");
    assert!(numbered(".rkt"), "files.md: NNNNNN.rkt in {names:?}");
    assert!(
        names.iter().any(|n| n
            .strip_prefix("MANIFEST-")
            .is_some_and(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))),
        "files.md: MANIFEST-NNNNNN in {names:?}"
    );
    for n in &names {
        assert_ne!(
            filename::parse(n),
            FileKind::Other,
            "files.md: undocumented file {n}"
        );
    }
}
