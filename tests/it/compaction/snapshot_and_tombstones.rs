//! A compaction keeps exactly what live snapshots need, and once they are
//! gone a full compaction leaves one run with no tombstone and no shadowed
//! version.
//!
//! Keys get puts, deletes and `U64Add` merges in epochs separated by
//! snapshots, flushed into several runs. While snapshots are alive,
//! `compact` must leave every snapshot's reads (gets and scans both ways,
//! merged counters included) identical to what they were before, and the
//! tables must hold exactly one entry per key per snapshot stripe that has
//! writes — the stripe's newest state, operands merged — except a
//! tombstone with nothing older surviving beneath it, which a bottom
//! compaction drops (`src/compaction/collapse.rs`). Dropping snapshots one
//! by one and compacting again shrinks the tables accordingly; with none
//! left, the entry count equals the live key count.

use std::collections::BTreeMap;

use rillkv::fs::FaultFs;
use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, Options, Snapshot, WriteBatch};

use crate::support::{
    Model, Pairs, add, assert_pairs_eq, assert_view_matches, collect, collect_rev, key, le, pairs,
    show, total_entries, value,
};

const DIR: &str = "/db";

fn options(fs: &FaultFs) -> Options {
    Options::default()
        .fs(fs.clone())
        .memtable_size(1 << 20)
        .merge_operator(U64Add)
        .compaction(
            CompactionOptions::default()
                .background(false)
                .max_fan_in(3)
                .max_memory(8 << 20)
                .target_table_size(64 << 10),
        )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Delete,
    Merge,
}

/// The database's writes as a model: the latest state, and every key's
/// history of `(position, kind)` so that snapshot stripes can be counted.
#[derive(Default)]
struct Tracker {
    latest: Model,
    history: BTreeMap<Vec<u8>, Vec<(u64, Kind)>>,
    /// Single writes so far; a snapshot taken now sees positions <= this.
    position: u64,
}

impl Tracker {
    fn note(&mut self, key: &[u8], kind: Kind) {
        self.position += 1;
        self.history
            .entry(key.to_vec())
            .or_default()
            .push((self.position, kind));
    }

    fn put(&mut self, b: &mut WriteBatch, key: &[u8], v: Vec<u8>) {
        b.put(key, &v);
        self.latest.insert(key.to_vec(), v);
        self.note(key, Kind::Put);
    }

    fn delete(&mut self, b: &mut WriteBatch, key: &[u8]) {
        b.delete(key);
        self.latest.remove(key);
        self.note(key, Kind::Delete);
    }

    fn merge(&mut self, b: &mut WriteBatch, key: &[u8], delta: u64) {
        b.merge(key, le(delta));
        let v = add(self.latest.get(key), delta);
        self.latest.insert(key.to_vec(), v);
        self.note(key, Kind::Merge);
    }

    /// The entries a bottom compaction must leave with snapshots at
    /// `snapshots` (positions): per key, one per stripe with writes (its
    /// newest state), except tombstones with nothing surviving below.
    fn expected_entries(&self, snapshots: &[u64]) -> u64 {
        let mut total = 0;
        for ops in self.history.values() {
            // The newest kind in each stripe, oldest stripe first.
            let mut stripes: BTreeMap<usize, Kind> = BTreeMap::new();
            for &(pos, kind) in ops {
                let stripe = snapshots.iter().filter(|&&s| s < pos).count();
                stripes.insert(stripe, kind);
            }
            let mut below = false;
            for kind in stripes.values() {
                match kind {
                    Kind::Delete if !below => {}
                    _ => {
                        total += 1;
                        below = true;
                    }
                }
            }
        }
        total
    }

    /// What a collapse that drops only each key's oldest entry when it is a
    /// tombstone would leave (keeping tombstones stacked on it): printed to
    /// tell that known deviation from other miscounts.
    fn oldest_tombstone_only(&self, snapshots: &[u64]) -> u64 {
        let mut total = 0;
        for ops in self.history.values() {
            let mut stripes: BTreeMap<usize, Kind> = BTreeMap::new();
            for &(pos, kind) in ops {
                let stripe = snapshots.iter().filter(|&&s| s < pos).count();
                stripes.insert(stripe, kind);
            }
            total += stripes.len() as u64;
            if stripes.values().next() == Some(&Kind::Delete) {
                total -= 1;
            }
        }
        total
    }
}

fn counter(i: u64) -> Vec<u8> {
    format!("cnt-{i:02}").into_bytes()
}

const KEYS: u64 = 300;
const COUNTERS: u64 = 24;

/// One epoch of random writes in a few batches, flushed `flushes` times.
fn epoch(db: &Db, t: &mut Tracker, rng: &mut fastrand::Rng, flushes: usize) {
    for _ in 0..flushes {
        for _ in 0..6 {
            let mut b = WriteBatch::new();
            for _ in 0..20 {
                let k = key(rng.u64(0..KEYS));
                if rng.u8(0..4) == 0 {
                    t.delete(&mut b, &k);
                } else {
                    let n = t.position;
                    t.put(&mut b, &k, value(n, rng.usize(20..200)));
                }
            }
            for _ in 0..8 {
                let c = counter(rng.u64(0..COUNTERS));
                match rng.u8(0..10) {
                    0 => t.delete(&mut b, &c),
                    1 => t.put(&mut b, &c, le(rng.u64(0..1000))),
                    _ => t.merge(&mut b, &c, rng.u64(1..100)),
                }
            }
            db.write(b).expect("write");
        }
        db.flush().expect("flush");
    }
}

/// What a view shows: every key's get, and both scan directions.
struct Reads {
    gets: Vec<Option<Vec<u8>>>,
    forward: Pairs,
    reverse: Pairs,
}

fn probe_keys() -> Vec<Vec<u8>> {
    (0..KEYS)
        .map(key)
        .chain((0..COUNTERS).map(counter))
        .collect()
}

fn snapshot_reads(s: &Snapshot) -> Reads {
    Reads {
        gets: probe_keys()
            .iter()
            .map(|k| s.get(k).expect("snapshot get").map(|v| v.to_vec()))
            .collect(),
        forward: collect(s.iter()),
        reverse: collect_rev(s.iter()),
    }
}

fn assert_reads_eq(got: &Reads, want: &Reads, ctx: &str) {
    for ((k, g), w) in probe_keys().iter().zip(&got.gets).zip(&want.gets) {
        assert_eq!(
            g.as_deref().map(show),
            w.as_deref().map(show),
            "{ctx}: get({})",
            show(k)
        );
    }
    assert_pairs_eq(&got.forward, &want.forward, &format!("{ctx}: forward"));
    assert_pairs_eq(&got.reverse, &want.reverse, &format!("{ctx}: reverse"));
}

/// A snapshot, the model it must show, and its position.
struct Pinned {
    snap: Snapshot,
    model: Model,
    position: u64,
    before: Reads,
}

fn pin(db: &Db, t: &Tracker) -> Pinned {
    let snap = db.snapshot();
    let before = snapshot_reads(&snap);
    assert_pairs_eq(
        &before.forward,
        &pairs(&t.latest),
        "a fresh snapshot shows the model",
    );
    Pinned {
        snap,
        model: t.latest.clone(),
        position: t.position,
        before,
    }
}

fn check_pinned(pinned: &[Pinned], ctx: &str) {
    for (i, p) in pinned.iter().enumerate() {
        let now = snapshot_reads(&p.snap);
        assert_reads_eq(&now, &p.before, &format!("{ctx}: snapshot #{i} reads"));
        assert_pairs_eq(
            &now.forward,
            &pairs(&p.model),
            &format!("{ctx}: snapshot #{i} vs its model"),
        );
    }
}

/// Checks the entry count; a mismatch is recorded in `miscounts` (so the
/// read checks of later phases still run) and fails the test at its end.
fn check_entries(db: &Db, t: &Tracker, pinned: &[Pinned], miscounts: &mut Vec<String>, ctx: &str) {
    let positions: Vec<u64> = pinned.iter().map(|p| p.position).collect();
    let stats = db.stats();
    let expected = t.expected_entries(&positions);
    let got = total_entries(&stats);
    assert!(
        stats.runs.len() <= 1,
        "{ctx}: a full compaction leaves one run, not {}",
        stats.runs.len()
    );
    assert!(
        got >= t.latest.len() as u64,
        "{ctx}: fewer entries ({got}) than live keys ({})",
        t.latest.len()
    );
    if got != expected {
        miscounts.push(format!(
            "{ctx}: {got} entries in the tables, want {expected} with snapshots at \
             {positions:?} (live keys {}, keys ever written {}; dropping only each key's \
             oldest tombstone would leave {})",
            t.latest.len(),
            t.history.len(),
            t.oldest_tombstone_only(&positions)
        ));
    }
}

fn scenario(seed: u64) -> Vec<String> {
    let ctx = format!("seed {seed}");
    let fs = FaultFs::new();
    let db = Db::open(DIR, options(&fs)).expect("open");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut t = Tracker::default();
    let mut pinned = Vec::new();
    let mut miscounts = Vec::new();

    epoch(&db, &mut t, &mut rng, 3);
    pinned.push(pin(&db, &t));
    epoch(&db, &mut t, &mut rng, 2);
    pinned.push(pin(&db, &t));
    epoch(&db, &mut t, &mut rng, 2);
    // The newest epoch stays partly in the memtable: compact flushes it.
    let mut b = WriteBatch::new();
    t.delete(&mut b, &key(1));
    t.merge(&mut b, &counter(1), 7);
    db.write(b).expect("write");
    assert!(
        db.stats().runs.len() >= 7,
        "{ctx}: many runs before compacting"
    );

    db.compact().expect("compact with two snapshots");
    check_pinned(&pinned, &format!("{ctx}: two snapshots, compacted"));
    assert_view_matches(&db, &t.latest, &probe_keys(), &format!("{ctx}: latest"));
    check_entries(
        &db,
        &t,
        &pinned,
        &mut miscounts,
        &format!("{ctx}: two snapshots"),
    );

    // More writes on top, compacted again with both snapshots alive.
    epoch(&db, &mut t, &mut rng, 1);
    db.compact().expect("second compact");
    check_pinned(&pinned, &format!("{ctx}: two snapshots, compacted twice"));
    check_entries(
        &db,
        &t,
        &pinned,
        &mut miscounts,
        &format!("{ctx}: two snapshots, twice"),
    );

    // The newer snapshot goes: its stripe boundary disappears.
    pinned.pop();
    db.compact().expect("compact with one snapshot");
    check_pinned(&pinned, &format!("{ctx}: one snapshot"));
    assert_view_matches(&db, &t.latest, &probe_keys(), &format!("{ctx}: latest"));
    check_entries(
        &db,
        &t,
        &pinned,
        &mut miscounts,
        &format!("{ctx}: one snapshot"),
    );

    // None left: only live keys remain, no tombstone.
    pinned.clear();
    db.compact().expect("compact with no snapshot");
    let stats = db.stats();
    assert_eq!(stats.live_snapshots, 0, "{ctx}: no pins left");
    assert_eq!(stats.runs.len(), 1, "{ctx}: one run");
    assert_eq!(
        total_entries(&stats),
        t.latest.len() as u64,
        "{ctx}: entries equal live keys (no tombstone, no old version)"
    );
    assert_eq!(t.expected_entries(&[]), t.latest.len() as u64);
    assert_view_matches(&db, &t.latest, &probe_keys(), &format!("{ctx}: final"));
    for k in t.history.keys().filter(|k| !t.latest.contains_key(*k)) {
        assert_eq!(db.get(k).expect("get"), None, "{ctx}: {} deleted", show(k));
    }
    db.close().expect("close");

    // The same after a reopen.
    let db = Db::open(DIR, options(&fs)).expect("reopen");
    assert_view_matches(&db, &t.latest, &probe_keys(), &format!("{ctx}: reopened"));
    assert_eq!(total_entries(&db.stats()), t.latest.len() as u64);
    db.close().expect("close");
    miscounts
}

#[test]
fn compaction_keeps_what_snapshots_need_and_then_drops_tombstones() {
    let miscounts: Vec<String> = (1..=4).flat_map(scenario).collect();
    assert!(
        miscounts.is_empty(),
        "a compaction under snapshots kept other than what they need:\n{}",
        miscounts.join("\n")
    );
}

/// The smallest case of the rule "a tombstone with nothing surviving below
/// it is dropped at the bottom": a key deleted before a snapshot and again
/// after it. Both tombstones hide nothing, so neither may stay.
#[test]
fn tombstones_stacked_across_snapshot_stripes_over_nothing_are_dropped() {
    let fs = FaultFs::new();
    let db = Db::open(DIR, options(&fs)).expect("open");
    db.put(b"gone", b"v").expect("put");
    db.put(b"kept", b"v").expect("put");
    db.delete(b"gone").expect("delete");
    let snap = db.snapshot();
    db.delete(b"gone").expect("delete again");
    db.compact().expect("compact");
    assert_eq!(snap.get(b"gone").expect("get"), None);
    assert_eq!(db.get(b"gone").expect("get"), None);
    assert_eq!(snap.get(b"kept").expect("get").as_deref(), Some(&b"v"[..]));
    let stats = db.stats();
    assert_eq!(
        total_entries(&stats),
        1,
        "only kept=v must remain; the tables hold {:?}",
        stats.runs
    );
    drop(snap);
    db.close().expect("close");
}

/// Deleting every key and compacting with no snapshot leaves no table.
#[test]
fn deleting_everything_then_compacting_leaves_no_table() {
    let fs = FaultFs::new();
    let db = Db::open(DIR, options(&fs)).expect("open");
    let mut t = Tracker::default();
    let mut b = WriteBatch::new();
    for i in 0..200 {
        t.put(&mut b, &key(i), value(i, 100));
    }
    for i in 0..COUNTERS {
        t.merge(&mut b, &counter(i), i + 1);
    }
    db.write(b).expect("write");
    db.flush().expect("flush");
    let snap = pin(&db, &t);
    let mut b = WriteBatch::new();
    for k in t.latest.keys().cloned().collect::<Vec<_>>() {
        t.delete(&mut b, &k);
    }
    db.write(b).expect("write");
    db.compact().expect("compact with a snapshot");
    check_pinned(
        std::slice::from_ref(&snap),
        "everything deleted under a snapshot",
    );
    let mut miscounts = Vec::new();
    check_entries(
        &db,
        &t,
        std::slice::from_ref(&snap),
        &mut miscounts,
        "everything deleted",
    );
    assert!(miscounts.is_empty(), "{miscounts:?}");
    assert_eq!(
        total_entries(&db.stats()),
        2 * (200 + COUNTERS),
        "each key keeps its value (for the snapshot) and its tombstone"
    );
    drop(snap);
    db.compact().expect("compact with no snapshot");
    let stats = db.stats();
    assert_eq!(total_entries(&stats), 0, "nothing left");
    assert!(stats.runs.is_empty(), "no run left: {:?}", stats.runs);
    assert_eq!(collect(db.iter()), Vec::new());
    db.close().expect("close");
}
