//! Names of the files in a backup directory (`docs/format/backup.md`,
//! "Layout").
//!
//! ```text
//! LOCK                          held by the open BackupEngine
//! meta/IIIIII.backup            one backup manifest per backup (written last)
//! meta/IIIIII.backup.tmp        a backup manifest being written
//! shared/NNNNNN-CCCCCCCC.rkt    a table, stored once for every backup
//! private/IIIIII-NNNNNN.wal     a backup's WAL
//! private/IIIIII-MANIFEST-NNNNNN  a backup's database manifest
//! tmp/                          WALs linked while a backup is made
//! ```
//!
//! `IIIIII` is the backup id, `NNNNNN` the file's number in the database,
//! `CCCCCCCC` the crc32 of the whole table in hex: a table's name is its
//! content address.

use std::path::{Path, PathBuf};

use super::manifest::{Entry, EntryKind};
use crate::filename;

/// The lock file of a backup directory.
pub(crate) const LOCK: &str = "LOCK";
/// Backup manifests.
pub(crate) const META: &str = "meta";
/// Tables, shared by every backup.
pub(crate) const SHARED: &str = "shared";
/// Each backup's own files.
pub(crate) const PRIVATE: &str = "private";
/// Staging for a backup being made.
pub(crate) const TMP: &str = "tmp";

/// The suffix of a backup manifest.
const BACKUP_SUFFIX: &str = ".backup";

/// The path of backup `id`'s manifest.
pub(crate) fn meta_path(root: &Path, id: u64) -> PathBuf {
    root.join(META).join(format!("{id:06}{BACKUP_SUFFIX}"))
}

/// The path a backup manifest is written to before its rename.
pub(crate) fn meta_temp_path(root: &Path, id: u64) -> PathBuf {
    root.join(META).join(format!("{id:06}{BACKUP_SUFFIX}.tmp"))
}

/// The id a backup manifest's file name holds, if it is one.
pub(crate) fn parse_meta(name: &str) -> Option<u64> {
    digits(name.strip_suffix(BACKUP_SUFFIX)?)
}

/// The name a file of backup `id` has in the backup directory's
/// `shared/` (tables) or `private/` (the others) directory.
pub(crate) fn stored_name(id: u64, e: &Entry) -> String {
    match e.kind {
        EntryKind::Table => format!("{:06}-{:08x}.rkt", e.number, e.crc),
        EntryKind::Wal => format!("{id:06}-{:06}.wal", e.number),
        EntryKind::Manifest => format!("{id:06}-{}", filename::manifest_name(e.number)),
    }
}

/// The path of backup `id`'s file `e` in the backup directory.
pub(crate) fn stored_path(root: &Path, id: u64, e: &Entry) -> PathBuf {
    let dir = match e.kind {
        EntryKind::Table => SHARED,
        EntryKind::Wal | EntryKind::Manifest => PRIVATE,
    };
    root.join(dir).join(stored_name(id, e))
}

/// The path file `e` has in a restored database directory.
pub(crate) fn restored_path(dir: &Path, e: &Entry) -> PathBuf {
    match e.kind {
        EntryKind::Table => filename::table_path(dir, e.number),
        EntryKind::Wal => filename::wal_path(dir, e.number),
        EntryKind::Manifest => filename::manifest_path(dir, e.number),
    }
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let root = Path::new("/b");
        let table = Entry {
            kind: EntryKind::Table,
            number: 12,
            size: 1,
            crc: 0x0a0b_0c0d,
        };
        let wal = Entry {
            kind: EntryKind::Wal,
            ..table
        };
        let manifest = Entry {
            kind: EntryKind::Manifest,
            ..table
        };
        assert_eq!(
            stored_path(root, 3, &table),
            Path::new("/b/shared/000012-0a0b0c0d.rkt")
        );
        assert_eq!(
            stored_path(root, 3, &wal),
            Path::new("/b/private/000003-000012.wal")
        );
        assert_eq!(
            stored_path(root, 3, &manifest),
            Path::new("/b/private/000003-MANIFEST-000012")
        );
        assert_eq!(meta_path(root, 3), Path::new("/b/meta/000003.backup"));
        assert_eq!(parse_meta("000003.backup"), Some(3));
        assert_eq!(parse_meta("000003.backup.tmp"), None);
        assert_eq!(
            restored_path(Path::new("/d"), &manifest),
            Path::new("/d/MANIFEST-000012")
        );
    }
}
