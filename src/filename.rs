//! Names of the files in a database directory. `docs/format/files.md`
//! describes each file and its life cycle.

use std::path::{Path, PathBuf};

/// The lock file that keeps a second process out.
pub(crate) const LOCK: &str = "LOCK";

/// The file naming the live manifest.
pub(crate) const CURRENT: &str = "CURRENT";

/// The largest file number a valid database uses. Numbers are allocated one
/// by one from 1, so no real database gets near it; a manifest naming one
/// above it is corrupt, and the headroom keeps number arithmetic from
/// overflowing.
pub(crate) const MAX_FILE_NUMBER: u64 = 1 << 62;

/// What a file in the database directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `NNNNNN.wal`: a write-ahead log.
    Wal(u64),
    /// `NNNNNN.rkt`: a table.
    Table(u64),
    /// `MANIFEST-NNNNNN`: a manifest.
    Manifest(u64),
    /// `NNNNNN.tmp`: a temporary file (a `CURRENT` being replaced).
    Temp(u64),
    /// `CURRENT`.
    Current,
    /// `LOCK`.
    Lock,
    /// Anything else; left alone.
    Other,
}

/// The path of WAL number `n`.
pub(crate) fn wal_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.wal"))
}

/// The path of table number `n`.
pub(crate) fn table_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.rkt"))
}

/// The path of manifest number `n`.
pub(crate) fn manifest_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(manifest_name(n))
}

/// The file name of manifest number `n`, as `CURRENT` holds it.
pub(crate) fn manifest_name(n: u64) -> String {
    format!("MANIFEST-{n:06}")
}

/// The path of temporary file number `n`.
pub(crate) fn temp_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.tmp"))
}

fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Classifies a file name.
pub(crate) fn parse(name: &str) -> FileKind {
    match name {
        LOCK => return FileKind::Lock,
        CURRENT => return FileKind::Current,
        _ => {}
    }
    if let Some(n) = name.strip_suffix(".wal").and_then(number) {
        return FileKind::Wal(n);
    }
    if let Some(n) = name.strip_suffix(".rkt").and_then(number) {
        return FileKind::Table(n);
    }
    if let Some(n) = name.strip_suffix(".tmp").and_then(number) {
        return FileKind::Temp(n);
    }
    if let Some(n) = name.strip_prefix("MANIFEST-").and_then(number) {
        return FileKind::Manifest(n);
    }
    FileKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let p = wal_path(Path::new("/d"), 42);
        assert_eq!(p, Path::new("/d/000042.wal"));
        assert_eq!(parse("000042.wal"), FileKind::Wal(42));
        assert_eq!(parse("12345678.wal"), FileKind::Wal(12_345_678));
        assert_eq!(parse("LOCK"), FileKind::Lock);
        assert_eq!(parse("CURRENT"), FileKind::Current);
        assert_eq!(parse("000007.rkt"), FileKind::Table(7));
        assert_eq!(parse("000008.tmp"), FileKind::Temp(8));
        assert_eq!(parse("MANIFEST-000003"), FileKind::Manifest(3));
        assert_eq!(parse("MANIFEST-"), FileKind::Other);
        assert_eq!(table_path(Path::new("/d"), 7), Path::new("/d/000007.rkt"));
        assert_eq!(parse(".wal"), FileKind::Other);
        assert_eq!(parse("x1.wal"), FileKind::Other);
        assert_eq!(parse("notes.txt"), FileKind::Other);
    }
}
