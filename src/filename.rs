//! Names of the files in a database directory. `docs/format/files.md`
//! describes each file and its life cycle.

use std::path::{Path, PathBuf};

/// The lock file that keeps a second process out.
pub(crate) const LOCK: &str = "LOCK";

/// What a file in the database directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `NNNNNN.wal`: a write-ahead log.
    Wal(u64),
    /// `LOCK`.
    Lock,
    /// Anything else; left alone.
    Other,
}

/// The path of WAL number `n`.
pub(crate) fn wal_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.wal"))
}

/// Classifies a file name.
pub(crate) fn parse(name: &str) -> FileKind {
    if name == LOCK {
        return FileKind::Lock;
    }
    if let Some(stem) = name.strip_suffix(".wal")
        && !stem.is_empty()
        && stem.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = stem.parse()
    {
        return FileKind::Wal(n);
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
        assert_eq!(parse(".wal"), FileKind::Other);
        assert_eq!(parse("x1.wal"), FileKind::Other);
        assert_eq!(parse("notes.txt"), FileKind::Other);
    }
}
