//! Helpers shared by the `compaction_*` scenario tests: a `BTreeMap` model
//! with u64 counters (for the `U64Add` merge operator), draining iterators
//! in both directions, looking at the tables a database lists and the
//! tables its directory holds, filesystem images for crash loops, and
//! waiting for background compaction to settle.
//!
//! Every test file compiles its own copy of this module and uses only part
//! of it.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rillkv::fs::{FaultFs, Fs};
use rillkv::{Db, DbIter, Stats};

/// The model every scenario compares the database with.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// `(key, value)` pairs as plain vectors.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

// ---------------------------------------------------------------------------
// Values.

/// The little-endian encoding `U64Add` uses.
pub fn le(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// Decodes an 8-byte little-endian value.
pub fn u64_of(v: &[u8]) -> u64 {
    u64::from_le_bytes(v.try_into().expect("an 8-byte little-endian value"))
}

/// What `U64Add` makes of `existing` plus `delta` (a missing value is 0).
pub fn add(existing: Option<&Vec<u8>>, delta: u64) -> Vec<u8> {
    le(existing.map_or(0, |e| u64_of(e)).wrapping_add(delta))
}

/// A value of `len` bytes unique to `counter`: compressible for even
/// counters, pseudo-random for odd ones (so tables have real sizes).
pub fn value(counter: u64, len: usize) -> Vec<u8> {
    let mut v = format!("#{counter}:").into_bytes();
    let mut rng = fastrand::Rng::with_seed(counter);
    while v.len() < len {
        v.push(if counter.is_multiple_of(2) {
            b'a' + (v.len() % 7) as u8
        } else {
            rng.u8(..)
        });
    }
    v
}

// ---------------------------------------------------------------------------
// Reading.

/// Drains an iterator forward, failing the test on the first error.
pub fn collect(iter: DbIter) -> Pairs {
    iter.map(|r| {
        let (k, v) = r.expect("iterator yielded an error");
        (k.to_vec(), v.to_vec())
    })
    .collect()
}

/// Drains an iterator backward and returns the pairs in key order.
pub fn collect_rev(iter: DbIter) -> Pairs {
    let mut out: Pairs = iter
        .rev()
        .map(|r| {
            let (k, v) = r.expect("reverse iterator yielded an error");
            (k.to_vec(), v.to_vec())
        })
        .collect();
    out.reverse();
    out
}

/// Drains an iterator from both ends, picking the end at random from
/// `seed`; returns the pairs in key order.
pub fn collect_zigzag(mut iter: DbIter, seed: u64) -> Pairs {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut front = Vec::new();
    let mut back = Vec::new();
    loop {
        let from_front = rng.bool();
        let item = if from_front {
            iter.next()
        } else {
            iter.next_back()
        };
        let Some(item) = item else { break };
        let (k, v) = item.expect("iterator yielded an error");
        if from_front {
            front.push((k.to_vec(), v.to_vec()));
        } else {
            back.push((k.to_vec(), v.to_vec()));
        }
    }
    back.reverse();
    front.extend(back);
    front
}

/// The pairs of `model` in key order.
pub fn pairs(model: &Model) -> Pairs {
    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The whole database as a model, through a forward scan.
pub fn read_all(db: &Db) -> Model {
    collect(db.iter()).into_iter().collect()
}

/// Bytes as a readable string (hex for 8-byte counters).
pub fn show(b: &[u8]) -> String {
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        let s = String::from_utf8_lossy(b);
        if s.len() > 40 {
            format!("{}…({} bytes)", &s[..40], b.len())
        } else {
            s.into_owned()
        }
    } else if b.len() == 8 {
        format!("u64:{}", u64_of(b))
    } else {
        let hex: String = b.iter().take(16).map(|c| format!("{c:02x}")).collect();
        format!("0x{hex}…({} bytes)", b.len())
    }
}

/// `assert_eq!` for pair lists with a readable first difference.
pub fn assert_pairs_eq(got: &Pairs, want: &Pairs, ctx: &str) {
    if got == want {
        return;
    }
    let first = got
        .iter()
        .zip(want.iter())
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    let g = got.get(first).map(|(k, v)| (show(k), show(v)));
    let w = want.get(first).map(|(k, v)| (show(k), show(v)));
    panic!(
        "{ctx}: got {} pairs, want {}; first difference at #{first}: got {g:?}, want {w:?}",
        got.len(),
        want.len()
    );
}

/// Checks the database against `model`: a get of every model key and of
/// every `probes` key, and full scans forward, backward and from both ends.
pub fn assert_db_matches(db: &Db, model: &Model, probes: &[Vec<u8>], ctx: &str) {
    for k in model.keys().chain(probes) {
        let got = db.get(k).expect("get").map(|v| v.to_vec());
        assert_eq!(
            got.as_deref().map(show),
            model.get(k).map(|v| show(v)),
            "{ctx}: get({})",
            show(k)
        );
        assert_eq!(got.as_ref(), model.get(k), "{ctx}: get({}) bytes", show(k));
    }
    let want = pairs(model);
    assert_pairs_eq(&collect(db.iter()), &want, &format!("{ctx}: forward scan"));
    assert_pairs_eq(
        &collect_rev(db.iter()),
        &want,
        &format!("{ctx}: reverse scan"),
    );
    assert_pairs_eq(
        &collect_zigzag(db.iter(), want.len() as u64),
        &want,
        &format!("{ctx}: scan from both ends"),
    );
}

// ---------------------------------------------------------------------------
// Tables: what the version lists, what the directory holds.

/// The number in a name `NNNNNN<suffix>` (6+ digits), if it is one.
pub fn numbered(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The numbers of the `NNNNNN.rkt` tables in `dir`.
pub fn tables_in_dir(fs: &dyn Fs, dir: &Path) -> BTreeSet<u64> {
    fs.list_dir(dir)
        .expect("list db dir")
        .iter()
        .filter_map(|n| numbered(n, ".rkt"))
        .collect()
}

/// The table numbers a stats snapshot lists.
pub fn live_tables(stats: &Stats) -> BTreeSet<u64> {
    stats
        .runs
        .iter()
        .flat_map(|r| r.tables.iter().map(|t| t.number))
        .collect()
}

/// Asserts that the directory holds exactly the tables the version lists:
/// no orphan (a leftover output, intermediate or input), none missing.
/// Call it when no flush or compaction is running.
pub fn assert_no_orphan_tables(db: &Db, fs: &dyn Fs, dir: &Path, ctx: &str) {
    let on_disk = tables_in_dir(fs, dir);
    let live = live_tables(&db.stats());
    let orphans: Vec<_> = on_disk.difference(&live).collect();
    let missing: Vec<_> = live.difference(&on_disk).collect();
    assert!(
        orphans.is_empty() && missing.is_empty(),
        "{ctx}: the directory's tables differ from the version's: orphans {orphans:?}, \
         missing {missing:?}"
    );
}

/// Entries (versions) in every table.
pub fn total_entries(stats: &Stats) -> u64 {
    stats
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.entries)
        .sum()
}

/// Bytes of every table.
pub fn total_table_bytes(stats: &Stats) -> u64 {
    stats
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.size)
        .sum()
}

/// Number of tables.
pub fn table_count(stats: &Stats) -> usize {
    stats.runs.iter().map(|r| r.tables.len()).sum()
}

/// Checks the structural invariants `Stats::runs` exposes: runs newest
/// first with distinct ids, each run's tables sorted and disjoint.
pub fn assert_runs_well_formed(stats: &Stats, ctx: &str) {
    for pair in stats.runs.windows(2) {
        assert!(
            pair[0].id > pair[1].id,
            "{ctx}: runs not newest first: {} then {}",
            pair[0].id,
            pair[1].id
        );
    }
    for run in &stats.runs {
        for t in &run.tables {
            assert!(
                t.smallest <= t.largest,
                "{ctx}: table {} inverted",
                t.number
            );
        }
        for pair in run.tables.windows(2) {
            assert!(
                pair[0].largest < pair[1].smallest,
                "{ctx}: tables {} and {} of run {} overlap or are unsorted",
                pair[0].number,
                pair[1].number,
                run.id
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Waiting for background work.

/// Polls `stats()` until no memtable waits for flush and the policy has no
/// compaction to run (`pending_compaction_bytes == 0`), or `timeout`.
/// Returns whether the tree settled.
pub fn wait_for_compactions(db: &Db, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let s = db.stats();
        if s.sealed_memtables == 0 && s.pending_compaction_bytes == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Filesystem images.

/// Every file of `dir` with its bytes, except the `LOCK`.
pub fn image_of(fs: &FaultFs, dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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

/// A fresh `FaultFs` holding exactly `files`, durably: the same database
/// state, rebuilt cheaply for every iteration of a crash loop.
pub fn fs_from_image(dir: &Path, files: &[(PathBuf, Vec<u8>)]) -> FaultFs {
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

// ---------------------------------------------------------------------------
// Knobs.

/// An environment variable as a number, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A seed: `RILLKV_SEED` if set, else fresh; printed for replay.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("RILLKV_SEED") {
        Ok(s) => s.parse().expect("RILLKV_SEED must be a u64"),
        Err(_) => fastrand::u64(..),
    };
    eprintln!("{test}: seed {seed} (replay with RILLKV_SEED={seed})");
    seed
}
