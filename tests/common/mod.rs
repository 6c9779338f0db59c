//! Helpers shared by the scenario tests in `tests/`: a `BTreeMap` model and
//! comparisons against it, a reader for the documented WAL framing (to
//! damage logs on purpose), and re-executing the test binary as a child
//! process.
//!
//! Every test file compiles its own copy of this module and uses only part
//! of it.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::process::Command;

use rillkv::fs::Fs;
use rillkv::{Db, DbIter, Snapshot};

/// The model every scenario compares the database with.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// A list of `(key, value)` pairs as plain vectors.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Drains an iterator, failing the test on the first error.
pub fn collect(iter: DbIter) -> Pairs {
    collect_iter(iter)
}

/// Drains an iterator backwards, failing the test on the first error.
pub fn collect_rev(iter: DbIter) -> Pairs {
    collect_iter(iter.rev())
}

fn collect_iter<K, V>(iter: impl Iterator<Item = rillkv::Result<(K, V)>>) -> Pairs
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    iter.map(|r| {
        let (k, v) = r.expect("iterator yielded an error");
        (k.as_ref().to_vec(), v.as_ref().to_vec())
    })
    .collect()
}

/// The whole database as a model, through a forward scan.
pub fn read_all(db: &Db) -> Model {
    collect(db.iter()).into_iter().collect()
}

/// The pairs of `model` within `(lo, hi)`, in key order.
pub fn model_range(model: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Pairs {
    if bounds_empty(lo, hi) {
        return Vec::new();
    }
    model
        .range::<Vec<u8>, _>((lo.clone(), hi.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Whether `(lo, hi)` is an empty (or inverted) interval, which
/// `BTreeMap::range` would panic on.
pub fn bounds_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

/// The pairs of `model` whose keys start with `prefix`.
pub fn model_prefix(model: &Model, prefix: &[u8]) -> Pairs {
    model
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn all_pairs(model: &Model) -> Pairs {
    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Something that reads like a database at one point in time: a [`Db`] or a
/// [`Snapshot`].
pub trait View {
    fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>>;
    fn range_iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> DbIter;
    fn prefix_iter(&self, prefix: &[u8]) -> DbIter;
}

impl View for Db {
    fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key).expect("get failed").map(|v| v.to_vec())
    }
    fn range_iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> DbIter {
        self.range((lo, hi))
    }
    fn prefix_iter(&self, prefix: &[u8]) -> DbIter {
        self.prefix(prefix)
    }
}

impl View for Snapshot {
    fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
            .expect("snapshot get failed")
            .map(|v| v.to_vec())
    }
    fn range_iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> DbIter {
        self.range((lo, hi))
    }
    fn prefix_iter(&self, prefix: &[u8]) -> DbIter {
        self.prefix(prefix)
    }
}

/// Checks `view` against `model` with point lookups (every model key and
/// every `probes` key), full forward and reverse scans, and interleaved
/// `next`/`next_back`.
pub fn assert_view_matches(view: &impl View, model: &Model, probes: &[Vec<u8>], ctx: &str) {
    for k in model.keys().chain(probes) {
        assert_eq!(
            view.get_vec(k),
            model.get(k).cloned(),
            "{ctx}: get({}) disagrees with the model",
            show(k)
        );
    }
    let want = all_pairs(model);
    let fwd = collect(view.range_iter(Bound::Unbounded, Bound::Unbounded));
    assert_pairs_eq(&fwd, &want, &format!("{ctx}: forward scan"));
    let mut rev = collect_rev(view.range_iter(Bound::Unbounded, Bound::Unbounded));
    rev.reverse();
    assert_pairs_eq(&rev, &want, &format!("{ctx}: reverse scan"));
    let zigzag = collect_zigzag(view.range_iter(Bound::Unbounded, Bound::Unbounded));
    assert_pairs_eq(
        &zigzag,
        &want,
        &format!("{ctx}: alternating next/next_back"),
    );
}

/// Checks one range of `view` against `model`, both directions.
pub fn assert_range_matches(
    view: &impl View,
    model: &Model,
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    ctx: &str,
) {
    let want = model_range(model, lo, hi);
    let fwd = collect(view.range_iter(lo.clone(), hi.clone()));
    assert_pairs_eq(&fwd, &want, &format!("{ctx}: range {lo:?}..{hi:?} forward"));
    let mut rev = collect_rev(view.range_iter(lo.clone(), hi.clone()));
    rev.reverse();
    assert_pairs_eq(&rev, &want, &format!("{ctx}: range {lo:?}..{hi:?} reverse"));
}

/// Checks one prefix scan of `view` against `model`, both directions.
pub fn assert_prefix_matches(view: &impl View, model: &Model, prefix: &[u8], ctx: &str) {
    let want = model_prefix(model, prefix);
    let fwd = collect(view.prefix_iter(prefix));
    assert_pairs_eq(
        &fwd,
        &want,
        &format!("{ctx}: prefix {} forward", show(prefix)),
    );
    let mut rev = collect_rev(view.prefix_iter(prefix));
    rev.reverse();
    assert_pairs_eq(
        &rev,
        &want,
        &format!("{ctx}: prefix {} reverse", show(prefix)),
    );
}

/// Takes from the front and the back in turn; returns the pairs in key order.
pub fn collect_zigzag(mut iter: DbIter) -> Pairs {
    let mut front = Vec::new();
    let mut back = Vec::new();
    let mut from_front = true;
    loop {
        let item = if from_front {
            iter.next()
        } else {
            iter.next_back()
        };
        let Some(item) = item else { break };
        let (k, v) = item.expect("iterator yielded an error");
        let pair = (k.to_vec(), v.to_vec());
        if from_front {
            front.push(pair);
        } else {
            back.push(pair);
        }
        from_front = !from_front;
    }
    back.reverse();
    front.extend(back);
    front
}

/// `assert_eq!` for pair lists with a readable first difference.
pub fn assert_pairs_eq(got: &Pairs, want: &Pairs, ctx: &str) {
    if got == want {
        return;
    }
    let first_diff = got
        .iter()
        .zip(want.iter())
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    let g = got.get(first_diff).map(|(k, v)| (show(k), show(v)));
    let w = want.get(first_diff).map(|(k, v)| (show(k), show(v)));
    panic!(
        "{ctx}: got {} pairs, want {}; first difference at #{first_diff}: got {g:?}, want {w:?}",
        got.len(),
        want.len()
    );
}

/// Bytes as a readable string.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------
// WAL files and their framing (docs: 32 KiB blocks; fragment header
// crc32 (4, LE) + length (2, LE) + type (1); types Full=1 First=2 Middle=3
// Last=4; a block tail shorter than a header is zero padding).

/// WAL block size.
pub const BLOCK: usize = 32 * 1024;
/// Fragment header size.
pub const HEADER: usize = 7;

/// The `NNNNNN.wal` files of `dir`, oldest first.
pub fn wal_files(fs: &dyn Fs, dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<String> = fs
        .list_dir(dir)
        .expect("list db dir")
        .into_iter()
        .filter(|n| {
            n.strip_suffix(".wal")
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    names.sort();
    names.into_iter().map(|n| dir.join(n)).collect()
}

/// One fragment of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of the header.
    pub offset: usize,
    /// Payload length.
    pub len: usize,
    /// Fragment type byte.
    pub ty: u8,
}

/// The fragments of a well-formed log, in order. Panics on malformed input
/// (tests only parse logs the engine wrote).
pub fn fragments(data: &[u8]) -> Vec<Fragment> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let left = BLOCK - pos % BLOCK;
        if left < HEADER {
            pos += left;
            continue;
        }
        if pos + HEADER > data.len() {
            break;
        }
        let len = u16::from_le_bytes([data[pos + 4], data[pos + 5]]) as usize;
        let ty = data[pos + 6];
        assert!(
            (1..=4).contains(&ty),
            "unexpected fragment type {ty} at {pos}"
        );
        out.push(Fragment {
            offset: pos,
            len,
            ty,
        });
        pos += HEADER + len;
    }
    out
}

/// The logical records of a well-formed log as `(start, end)` byte ranges
/// (from the first fragment's header to the end of the last payload).
pub fn records(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for f in fragments(data) {
        let end = f.offset + HEADER + f.len;
        match f.ty {
            1 => out.push((f.offset, end)),
            2 => start = Some(f.offset),
            3 => {}
            4 => {
                let s = start.take().expect("last fragment without first");
                out.push((s, end));
            }
            _ => unreachable!(),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Child processes.

/// A command that re-runs this test binary with only the test `name`
/// (libtest arguments, which `cargo nextest` binaries accept too).
pub fn child_command(name: &str) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    // The child must not inherit a nextest/cargo filter or a capture setting
    // that would stop it printing.
    cmd.env_remove("RUST_TEST_THREADS");
    cmd.env_remove("RUST_TEST_NOCAPTURE");
    cmd
}

/// A seed for randomised tests: `RILLKV_SEED` if set, else fresh; printed so
/// a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("RILLKV_SEED") {
        Ok(s) => s.parse().expect("RILLKV_SEED must be a u64"),
        Err(_) => fastrand::u64(..),
    };
    eprintln!("{test}: seed {seed} (replay with RILLKV_SEED={seed})");
    seed
}

/// An environment variable as a number, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// Building filesystem images.

/// A fresh `FaultFs` holding exactly `files` (durably), for reopening one
/// damaged image many times.
pub fn fault_image(dir: &Path, files: &[(PathBuf, Vec<u8>)]) -> rillkv::fs::FaultFs {
    let fs = rillkv::fs::FaultFs::new();
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

/// Every file of `dir` (WALs, and whatever else the engine keeps: a
/// manifest, tables...) with its bytes, except the `LOCK`, in name order.
pub fn dir_contents(fs: &rillkv::fs::FaultFs, dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut names = fs.list_dir(dir).expect("list db dir");
    names.sort();
    names
        .into_iter()
        .filter(|n| n != "LOCK")
        .filter_map(|n| {
            let p = dir.join(n);
            let b = fs.file_bytes(&p)?;
            Some((p, b))
        })
        .collect()
}

/// Whether `path` names a WAL (`NNNNNN.wal`).
pub fn is_wal(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".wal"))
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

/// The index in `files` of the newest WAL holding any bytes.
pub fn newest_nonempty_wal(files: &[(PathBuf, Vec<u8>)]) -> usize {
    files
        .iter()
        .rposition(|(p, b)| is_wal(p) && !b.is_empty())
        .expect("a non-empty WAL")
}

/// The file name of `p`, for matching error messages.
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// The key of record `i` in the simple put workloads of the WAL tests.
pub fn rec_key(i: usize) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// The value of record `i`: `len` bytes naming `i`.
pub fn rec_value(i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("value{i:05}:").into_bytes();
    v.resize(len.max(v.len()), b'a' + (i % 26) as u8);
    v
}

/// The model after the first `n` of `lens.len()` puts of [`rec_key`].
pub fn rec_model(lens: &[usize], n: usize) -> Model {
    lens.iter()
        .take(n)
        .enumerate()
        .map(|(i, &len)| (rec_key(i), rec_value(i, len)))
        .collect()
}

/// Simulates a power loss under an open database: freezes the disk so
/// nothing more reaches it, shuts the handle down (its close fails on the
/// frozen disk, but it waits for background work, so no thread of the old
/// instance touches the files after the crash), then `crash(mode)`.
pub fn power_loss(fs: &rillkv::fs::FaultFs, db: Db, mode: rillkv::fs::CrashMode) {
    fs.fail_after_ops(0);
    let _ = db.close(); // fails on the frozen disk; that is the point
    fs.crash(mode);
}
