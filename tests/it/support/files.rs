//! A database directory by file kind, whole-directory images on a
//! `FaultFs` (to damage one image many times), and power losses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rillkv::Db;
use rillkv::fs::{CrashMode, FaultFs, Fs};

/// Every file of a database directory with its bytes, in name order.
pub type Files = Vec<(PathBuf, Vec<u8>)>;

/// The names in `dir`, sorted.
pub fn dir_names(fs: &dyn Fs, dir: &Path) -> Vec<String> {
    let mut names = fs.list_dir(dir).expect("list db dir");
    names.sort();
    names
}

/// The number in a name `NNNNNN<suffix>` (6+ digits), if it is one.
pub fn numbered(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The numbers of the `NNNNNN.rkt` tables in `dir`, ascending.
pub fn table_numbers(fs: &dyn Fs, dir: &Path) -> BTreeSet<u64> {
    dir_names(fs, dir)
        .iter()
        .filter_map(|n| numbered(n, ".rkt"))
        .collect()
}

/// The paths of the `NNNNNN.rkt` tables in `dir`, by number.
pub fn table_paths(fs: &dyn Fs, dir: &Path) -> Vec<PathBuf> {
    dir_names(fs, dir)
        .into_iter()
        .filter(|n| numbered(n, ".rkt").is_some())
        .map(|n| dir.join(n))
        .collect()
}

/// The numbers of the `NNNNNN.wal` logs in `dir`, ascending.
pub fn wal_numbers(fs: &dyn Fs, dir: &Path) -> BTreeSet<u64> {
    dir_names(fs, dir)
        .iter()
        .filter_map(|n| numbered(n, ".wal"))
        .collect()
}

/// The paths of the `NNNNNN.wal` logs in `dir`, oldest first.
pub fn wal_files(fs: &dyn Fs, dir: &Path) -> Vec<PathBuf> {
    dir_names(fs, dir)
        .into_iter()
        .filter(|n| numbered(n, ".wal").is_some())
        .map(|n| dir.join(n))
        .collect()
}

/// The `MANIFEST-NNNNNN` names in `dir`.
pub fn manifest_names(fs: &dyn Fs, dir: &Path) -> Vec<String> {
    dir_names(fs, dir)
        .into_iter()
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect()
}

/// The `.tmp` names in `dir`.
pub fn temp_names(fs: &dyn Fs, dir: &Path) -> Vec<String> {
    dir_names(fs, dir)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// The file name of `p`, for matching error messages.
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// The file names of an image, in its order.
pub fn file_names(files: &Files) -> Vec<String> {
    files.iter().map(|(p, _)| file_name(p)).collect()
}

/// Whether `path` names a WAL (`NNNNNN.wal`).
pub fn is_wal(path: &Path) -> bool {
    numbered(&file_name(path), ".wal").is_some()
}

/// The index in `files` of the newest WAL holding any bytes.
pub fn newest_nonempty_wal(files: &Files) -> usize {
    files
        .iter()
        .rposition(|(p, b)| is_wal(p) && !b.is_empty())
        .expect("a non-empty WAL")
}

/// Every file of `dir` with its bytes (WALs, and whatever else the engine
/// keeps: a manifest, tables...), except the `LOCK`, in name order.
pub fn dir_contents(fs: &FaultFs, dir: &Path) -> Files {
    dir_names(fs, dir)
        .into_iter()
        .filter(|n| n != "LOCK")
        .filter_map(|n| {
            let p = dir.join(n);
            let b = fs.file_bytes(&p)?;
            Some((p, b))
        })
        .collect()
}

/// A fresh `FaultFs` holding exactly `files` (durably): the same database
/// state, rebuilt cheaply for every damaged copy or crash point.
pub fn fault_image(dir: &Path, files: &Files) -> FaultFs {
    let fs = FaultFs::new();
    fs.create_dir_all(dir).expect("mkdir");
    for (path, bytes) in files {
        let mut f = fs.create(path).expect("create");
        f.append(bytes).expect("append");
        f.sync().expect("sync");
    }
    fs.sync_dir(dir).expect("sync dir");
    for parent in dir.ancestors().skip(1) {
        fs.sync_dir(parent).expect("sync parent dir");
    }
    fs
}

/// Copies every file of `from` (on the real filesystem; not recursive)
/// into `to`, the lock file too: copying does not lock.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for e in std::fs::read_dir(from).expect("list the database") {
        let e = e.expect("list the database");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy a file");
    }
}

/// Simulates a power loss under an open database: freezes the disk so
/// nothing more reaches it, shuts the handle down (its close fails on the
/// frozen disk, but it waits for background work, so no thread of the old
/// instance touches the files after the crash), then `crash(mode)`.
pub fn power_loss(fs: &FaultFs, db: Db, mode: CrashMode) {
    fs.fail_after_ops(0);
    let _ = db.close(); // fails on the frozen disk; that is the point
    fs.crash(mode);
}
