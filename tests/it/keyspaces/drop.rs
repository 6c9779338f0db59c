//! Dropping a keyspace: under live iterators and snapshots, with handles
//! still held, with a flush of it in flight, in a batch, across reopens and
//! with a power loss in the middle.
//!
//! - an iterator made before the drop finishes with exactly the data it
//!   saw, forwards and backwards; the keyspace's tables stay on disk while
//!   it lives and are deleted once it is gone, while the handles that
//!   failed are still held; a snapshot taken before the drop refuses to
//!   read the keyspace afterwards (`InvalidArgument`), and the dropped
//!   keyspace's unflushed writes no longer keep WALs alive;
//! - every verb of a dropped keyspace's handle fails with
//!   `InvalidArgument`; a keyspace created again under the name is a new,
//!   empty one (also to a snapshot from before the drop), and a reopen neither brings the dropped data back (not
//!   even its writes still in the WAL) nor keeps its files;
//! - a batch writing to a dropped keyspace is refused whole, also when
//!   batches from several threads race the drop (each is applied whole
//!   before it, or refused whole after it);
//! - a flush of the keyspace in flight when it is dropped leaves no table
//!   behind;
//! - a power loss at every step of the drop leaves the keyspace whole or
//!   gone, never partly there, and the next open finishes the drop.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use rillkv::event::{BackgroundErrorInfo, EventListener, FlushBeginInfo};
use rillkv::fs::{CrashMode, FaultFs, StdFs};
use rillkv::{
    CompactionOptions, Db, ErrorKind, Keyspace, KeyspaceOptions, Options, WriteBatch, WriteOptions,
};

use crate::support::{
    Model, assert_pairs_eq, collect, collect_items, collect_rev, dir_contents, dir_names, env_num,
    fault_image, key, live_tables, model_range, pairs, power_loss, table_numbers, value32,
    wal_numbers,
};

const DOOMED: &str = "doomed";
const KEPT: &str = "kept";

/// No background compaction: the tables a test records stay the tables
/// the keyspace has until it is dropped, and the directory holds no
/// compaction's output that is not live yet when a test compares it with
/// the live tables.
fn ks_opts() -> KeyspaceOptions {
    KeyspaceOptions::default().compaction(CompactionOptions::default().background(false))
}

/// The same for every keyspace from the open on (a keyspace not
/// registered at open runs with the defaults until `Db::keyspace`).
fn opts() -> Options {
    Options::default()
        .compaction(CompactionOptions::default().background(false))
        .keyspace(DOOMED, ks_opts())
        .keyspace(KEPT, ks_opts())
}

/// Fills `ks` with `rounds` flushed runs of `per_round` keys (overwriting
/// each other in part) and `unflushed` more keys left in the memtable;
/// returns what it holds.
fn fill(ks: &Keyspace, rounds: u64, per_round: u64, unflushed: u64) -> Model {
    let mut model = Model::new();
    let mut put = |i: u64, version: u64| {
        ks.put(key(i), value32(i, version)).expect("put");
        model.insert(key(i), value32(i, version));
    };
    for round in 0..rounds {
        for i in 0..per_round {
            put(i * 2 + round % 2, round);
        }
        ks.flush().expect("flush");
    }
    for i in 0..unflushed {
        put(i * 3, rounds);
    }
    model
}

fn assert_invalid<T: std::fmt::Debug>(r: rillkv::Result<T>, what: &str) {
    let err = r.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
}

/// An iterator made after the drop yields `InvalidArgument` once and ends.
fn assert_iter_refused(iter: rillkv::DbIter, what: &str) {
    assert_eq!(
        collect_items(iter),
        vec![Err(ErrorKind::InvalidArgument)],
        "{what}"
    );
}

/// The table numbers the directory holds among `tables`.
fn on_disk(dir: &Path, tables: &BTreeSet<u64>) -> BTreeSet<u64> {
    table_numbers(&StdFs, dir)
        .intersection(tables)
        .copied()
        .collect()
}

#[test]
fn an_iterator_made_before_the_drop_finishes_with_its_data_then_the_files_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    let model = fill(&doomed, 3, 200, 60);
    let kept_model = fill(&kept, 1, 50, 10);
    let tables = live_tables(&doomed.stats());
    assert_eq!(doomed.stats().runs.len(), 3, "three flushed runs");
    assert_eq!(on_disk(dir.path(), &tables), tables);

    // Made before the drop: one forward iterator ten items in, one
    // reverse, a range, and one from a snapshot.
    let want = pairs(&model);
    let mut forward = doomed.iter();
    let head: Vec<_> = collect(forward.by_ref().take(10));
    assert_pairs_eq(&head, &want[..10].to_vec(), "the first items");
    let reverse = doomed.iter();
    let (lo, hi) = (key(50), key(150));
    let range = doomed.range(lo.clone()..hi.clone());
    let snap = db.snapshot();
    let snap_iter = snap.iter_in(&doomed);
    let snap_get = snap
        .get_in(&doomed, key(0))
        .expect("get_in before the drop");
    assert_eq!(snap_get.as_deref(), model.get(&key(0)).map(Vec::as_slice));

    db.drop_keyspace(DOOMED).expect("drop");
    // Writes, a flush and a compaction of another keyspace meanwhile.
    kept.put(b"after", b"drop").expect("put kept");
    kept.flush().expect("flush kept");
    kept.compact().expect("compact kept");
    assert_eq!(
        on_disk(dir.path(), &tables),
        tables,
        "the dropped keyspace's tables went while iterators read them"
    );

    assert_pairs_eq(
        &collect(forward),
        &want[10..].to_vec(),
        "forward, after the drop",
    );
    let mut backward = want.clone();
    backward.reverse();
    assert_pairs_eq(&collect_rev(reverse), &backward, "reverse, after the drop");
    let in_range = model_range(&model, &Bound::Included(lo), &Bound::Excluded(hi));
    assert_pairs_eq(&collect(range), &in_range, "range, after the drop");
    assert_pairs_eq(
        &collect(snap_iter),
        &want,
        "snapshot iterator, after the drop",
    );

    // Reads started after the drop are refused, from the snapshot too.
    assert_invalid(
        snap.get_in(&doomed, key(0)),
        "snapshot get_in after the drop",
    );
    assert_iter_refused(snap.iter_in(&doomed), "snapshot iter_in after the drop");
    assert_iter_refused(snap.prefix_in(&doomed, b"key"), "snapshot prefix_in");

    // Every iterator is gone (they were consumed): the tables go, though
    // the snapshot and the handle, which fails every call, are still held
    // (neither can read them any more).
    assert_eq!(
        on_disk(dir.path(), &tables),
        BTreeSet::new(),
        "the dropped keyspace's tables outlived the last iterator reading them (the dropped \
         keyspace's handle is still held)"
    );
    // Its unflushed writes no longer pin WALs: once the other keyspaces
    // are flushed, only the WAL being written is left.
    db.flush().expect("flush every keyspace");
    let wals = wal_numbers(&StdFs, dir.path());
    assert_eq!(
        wals.len(),
        1,
        "WALs left after the drop and a flush: {wals:?}"
    );

    assert_pairs_eq(
        &collect(snap.iter_in(&kept)),
        &pairs(&kept_model),
        "the other keyspace, from the snapshot",
    );
    let mut kept_model = kept_model;
    kept_model.insert(b"after".to_vec(), b"drop".to_vec());
    assert_pairs_eq(
        &collect(kept.iter()),
        &pairs(&kept_model),
        "the other keyspace",
    );
    drop((snap, doomed, kept));
    db.close().expect("close");
}

#[test]
fn a_dropped_keyspace_refuses_every_verb_and_its_name_starts_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    // Tables, and writes only in the WAL (the reopen below must not replay
    // them into anything).
    fill(&doomed, 2, 100, 40);
    let kept_model = fill(&kept, 1, 30, 5);
    let tables = live_tables(&doomed.stats());
    let clone = doomed.clone();
    let snap = db.snapshot();

    db.drop_keyspace(DOOMED).expect("drop");
    for ks in [&doomed, &clone] {
        assert_invalid(ks.put(b"k", b"v"), "put");
        assert_invalid(
            ks.put_opt(b"k", b"v", &WriteOptions::default().sync(true)),
            "put_opt",
        );
        assert_invalid(ks.get(key(0)), "get");
        assert_invalid(ks.delete(key(0)), "delete");
        assert_invalid(ks.merge(key(0), b"x"), "merge");
        assert_invalid(ks.flush(), "flush");
        assert_invalid(ks.compact(), "compact");
        assert_invalid(ks.compact_range(key(0)..key(9)), "compact_range");
        assert_iter_refused(ks.iter(), "iter");
        assert_iter_refused(ks.range(key(0)..key(9)), "range");
        assert_iter_refused(ks.prefix(b"key"), "prefix");
        assert_eq!(ks.name(), DOOMED);
    }
    assert_invalid(db.drop_keyspace(DOOMED), "a second drop");
    assert_invalid(
        db.drop_keyspace("never-made"),
        "dropping a keyspace that never was",
    );
    assert_invalid(db.drop_keyspace("default"), "dropping the default keyspace");
    assert_eq!(db.keyspaces(), ["default", KEPT]);

    // The name again: a new, empty keyspace; the old handles stay dropped.
    let fresh = db.keyspace(DOOMED, ks_opts()).expect("create again");
    assert_eq!(
        collect(fresh.iter()),
        Vec::new(),
        "the new keyspace is empty"
    );
    assert_eq!(fresh.get(key(0)).expect("get"), None);
    let stats = fresh.stats();
    assert!(stats.runs.is_empty(), "{:?}", stats.runs);
    assert_eq!(stats.active_memtable_entries, 0);
    fresh.put(b"new", b"life").expect("put new");
    // A snapshot from before the drop sees the new keyspace as it was
    // then (not there: empty), not the old one's data under its name.
    assert_eq!(snap.get_in(&fresh, key(0)).expect("get_in"), None);
    assert_eq!(snap.get_in(&fresh, b"new").expect("get_in"), None);
    assert_eq!(
        collect(snap.iter_in(&fresh)),
        Vec::new(),
        "snapshot of the new keyspace"
    );
    assert_invalid(snap.get_in(&doomed, key(0)), "snapshot of the old keyspace");
    drop(snap);
    assert_invalid(
        doomed.get(b"new"),
        "the old handle after the name was reused",
    );
    assert_eq!(db.keyspaces(), ["default", KEPT, DOOMED]);
    drop((doomed, clone));
    assert_eq!(
        on_disk(dir.path(), &tables),
        BTreeSet::new(),
        "nothing reads the dropped tables, yet they are on disk"
    );
    drop((fresh, kept));
    db.close().expect("close");

    // A reopen replays the WAL, which still holds the dropped keyspace's
    // unflushed writes: they belong to no keyspace now.
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(db.keyspaces(), ["default", KEPT, DOOMED]);
    let fresh = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    assert_eq!(
        collect(fresh.iter()),
        vec![(b"new".to_vec(), b"life".to_vec())],
        "the re-created keyspace holds only its own write"
    );
    assert_pairs_eq(&collect(kept.iter()), &pairs(&kept_model), "kept, reopened");
    assert_eq!(on_disk(dir.path(), &tables), BTreeSet::new());

    // Dropped and reopened: gone, and no table but the others' is left.
    db.drop_keyspace(DOOMED).expect("drop again");
    drop((fresh, kept));
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(db.keyspaces(), ["default", KEPT]);
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    assert_pairs_eq(
        &collect(kept.iter()),
        &pairs(&kept_model),
        "kept, reopened again",
    );
    let mut live = live_tables(&kept.stats());
    live.extend(live_tables(&db.stats()));
    assert_eq!(
        table_numbers(&StdFs, dir.path()),
        live,
        "the directory holds exactly the live keyspaces' tables"
    );
    drop(kept);
    db.close().expect("close");
}

#[test]
fn a_batch_writing_to_a_dropped_keyspace_is_refused_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    kept.put(b"k", b"before").expect("put");
    db.drop_keyspace(DOOMED).expect("drop");
    let seqno = db.stats().last_seqno;

    for sync in [false, true] {
        let mut batch = WriteBatch::new();
        batch
            .put_in(&kept, b"k", b"after")
            .put(b"default", b"after")
            .put_in(&doomed, b"k", b"after")
            .delete_in(&kept, b"gone?");
        assert_invalid(
            db.write_opt(batch, &WriteOptions::default().sync(sync)),
            "a batch with a dropped keyspace",
        );
    }
    // Even when the dropped keyspace is only deleted from.
    let mut batch = WriteBatch::new();
    batch.put_in(&kept, b"k", b"after").delete_in(&doomed, b"k");
    assert_invalid(db.write(batch), "a batch deleting in a dropped keyspace");

    let check = |db: &Db, kept: &Keyspace, ctx: &str| {
        assert_eq!(
            kept.get(b"k").expect("get").as_deref(),
            Some(&b"before"[..]),
            "{ctx}"
        );
        assert_eq!(db.get(b"default").expect("get"), None, "{ctx}");
    };
    check(&db, &kept, "after the refused batches");
    assert_eq!(
        db.stats().last_seqno,
        seqno,
        "a refused batch took sequence numbers"
    );
    drop((doomed, kept));
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("reopen");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    check(&db, &kept, "after a reopen");
    drop(kept);
    db.close().expect("close");
}

/// What one writer thread's batches got: `Ok` or the error kind, in order.
type Outcomes = Vec<Result<(), ErrorKind>>;

fn race_key(t: usize, i: usize) -> Vec<u8> {
    format!("t{t}/{i:06}").into_bytes()
}

#[test]
fn batches_racing_the_drop_apply_whole_or_not_at_all() {
    const THREADS: usize = 4;
    const BATCHES: usize = 1500;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, doomed, kept, acked) =
                (db.clone(), doomed.clone(), kept.clone(), acked.clone());
            std::thread::spawn(move || -> Outcomes {
                (0..BATCHES)
                    .map(|i| {
                        let mut batch = WriteBatch::new();
                        batch
                            .put_in(&kept, race_key(t, i), b"kept")
                            .put_in(&doomed, race_key(t, i), b"doomed")
                            .put(race_key(t, i), b"default");
                        let r = db.write_opt(batch, &WriteOptions::default().sync(i % 8 == 0));
                        acked.fetch_add(usize::from(r.is_ok()), Ordering::Relaxed);
                        r.map_err(|e| e.kind())
                    })
                    .collect()
            })
        })
        .collect();
    // Drop once the writers are well under way.
    while acked.load(Ordering::Relaxed) < THREADS * BATCHES / 8 {
        std::thread::yield_now();
    }
    db.drop_keyspace(DOOMED).expect("drop");
    let outcomes: Vec<Outcomes> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();

    let check = |db: &Db, kept: &Keyspace, ctx: &str| {
        let (mut applied, mut refused) = (0, 0);
        for (t, outcomes) in outcomes.iter().enumerate() {
            let first_refused = outcomes.iter().position(Result::is_err);
            for (i, r) in outcomes.iter().enumerate() {
                let in_kept = kept.get(race_key(t, i)).expect("get kept");
                let in_default = db.get(race_key(t, i)).expect("get default");
                match r {
                    Ok(()) => {
                        applied += 1;
                        assert!(
                            first_refused.is_none_or(|f| i < f),
                            "{ctx}: thread {t}: batch {i} applied after batch {first_refused:?} \
                             was refused"
                        );
                        assert_eq!(in_kept.as_deref(), Some(&b"kept"[..]), "{ctx}: {t}/{i}");
                        assert_eq!(
                            in_default.as_deref(),
                            Some(&b"default"[..]),
                            "{ctx}: {t}/{i}"
                        );
                    }
                    Err(kind) => {
                        refused += 1;
                        assert_eq!(*kind, ErrorKind::InvalidArgument, "{ctx}: {t}/{i}");
                        assert_eq!(
                            in_kept, None,
                            "{ctx}: refused batch {t}/{i} applied in part"
                        );
                        assert_eq!(
                            in_default, None,
                            "{ctx}: refused batch {t}/{i} applied in part"
                        );
                    }
                }
            }
        }
        (applied, refused)
    };
    let (applied, refused) = check(&db, &kept, "live");
    assert!(
        applied > 0 && refused > 0,
        "the drop did not land among the batches: {applied} applied, {refused} refused"
    );
    drop((doomed, kept));
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("reopen");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    assert_eq!(check(&db, &kept, "reopened"), (applied, refused));
    assert_eq!(db.keyspaces(), ["default", KEPT]);
    drop(kept);
    db.close().expect("close");
}

/// Holds the first flush of keyspace `DOOMED` at its begin event until the
/// test has dropped the keyspace.
struct HoldFlush {
    armed: AtomicBool,
    /// Met by the flush thread at the begin event, and by the test.
    entered: Barrier,
    /// Met by the test once the drop is done, and by the flush thread.
    release: Barrier,
}

impl EventListener for HoldFlush {
    fn on_flush_begin(&self, info: &FlushBeginInfo) {
        if info.keyspace == DOOMED && self.armed.swap(false, Ordering::AcqRel) {
            self.entered.wait();
            self.release.wait();
        }
    }
}

#[test]
fn a_flush_in_flight_when_the_keyspace_is_dropped_leaves_no_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hold = Arc::new(HoldFlush {
        armed: AtomicBool::new(false),
        entered: Barrier::new(2),
        release: Barrier::new(2),
    });
    let db = Db::open(dir.path(), opts().listener(hold.clone())).expect("open");
    let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    let kept_model = fill(&kept, 1, 40, 0);
    fill(&doomed, 1, 100, 100);
    let tables = live_tables(&doomed.stats());

    hold.armed.store(true, Ordering::Release);
    let flusher = {
        let doomed = doomed.clone();
        std::thread::spawn(move || doomed.flush())
    };
    hold.entered.wait();
    db.drop_keyspace(DOOMED).expect("drop during its flush");
    hold.release.wait();
    // The flush ends one way or the other: done (the keyspace is gone) or
    // refused as dropped; never another error.
    if let Err(e) = flusher.join().expect("flusher") {
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    // `Db::flush` waits for the flush thread, which is then past the
    // dropped keyspace's flush. (The handle goes first: while held, it
    // keeps the keyspace's older tables, see the first test.)
    drop(doomed);
    kept.put(b"sync", b"point").expect("put");
    db.flush().expect("flush");
    let mut live = live_tables(&kept.stats());
    live.extend(live_tables(&db.stats()));
    assert_eq!(
        table_numbers(&StdFs, dir.path()),
        live,
        "tables of the dropped keyspace ({tables:?}) or of its interrupted flush are left"
    );
    drop(kept);
    db.close().expect("close");

    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(db.keyspaces(), ["default", KEPT]);
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    let mut want = kept_model;
    want.insert(b"sync".to_vec(), b"point".to_vec());
    assert_pairs_eq(&collect(kept.iter()), &pairs(&want), "after a reopen");
    drop(kept);
    db.close().expect("close");
}

/// Records background errors.
#[derive(Default)]
struct BackgroundErrors(std::sync::Mutex<Vec<String>>);

impl EventListener for BackgroundErrors {
    fn on_background_error(&self, info: &BackgroundErrorInfo) {
        let mut errors = self.0.lock().expect("errors");
        errors.push(format!("{:?}: {}", info.reason, info.error));
    }
}

/// A keyspace dropped while the background compactor works on it: the
/// job is moot, not failed. (It was reported as a failed compaction, set
/// `Stats::last_compaction_error` and made the compactor back off for a
/// second; a writer held at `stop_runs` then failed with `Io`.)
#[test]
fn a_drop_during_a_background_compaction_is_no_compaction_failure() {
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let errors = Arc::new(BackgroundErrors::default());
        let db = Db::open(dir.path(), Options::default().listener(errors.clone())).expect("open");
        let busy = db
            .keyspace(
                "busy",
                KeyspaceOptions::default()
                    .memtable_size(4096)
                    .compaction(CompactionOptions::default().max_merge_files(2)),
            )
            .expect("keyspace");
        for i in 0..300u64 {
            busy.put(key(i % 50), value32(i, i)).expect("put");
        }
        db.drop_keyspace("busy").expect("drop");
        drop(busy);
        // Whatever the compactor was doing ends; another keyspace compacts.
        let other = db
            .keyspace("other", KeyspaceOptions::default())
            .expect("keyspace");
        for r in 0..3u64 {
            other.put(key(r), value32(r, r)).expect("put");
            other.flush().expect("flush");
        }
        other.compact().expect("compact");
        assert_eq!(
            errors.0.lock().expect("errors").as_slice(),
            &[] as &[String],
            "round {round}: background errors"
        );
        assert_eq!(db.stats().last_compaction_error, None, "round {round}");
        drop(other);
        db.close().expect("close");
    }
}

// ---------------------------------------------------------------------------
// A power loss during the drop.

const FAULT_DIR: &str = "/db";

fn fault_opts(fs: &FaultFs) -> Options {
    opts().fs(fs.clone())
}

/// The keys each keyspace holds in the crash image, and the synced writes
/// made on top of it before the drop (in the WAL only).
struct Image {
    files: crate::support::Files,
    doomed: Model,
    kept: Model,
    /// The dropped keyspace's tables in the image.
    tables: BTreeSet<u64>,
}

fn crash_image() -> Image {
    let fs = FaultFs::new();
    let dir = Path::new(FAULT_DIR);
    let db = Db::open(dir, fault_opts(&fs)).expect("open");
    let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    let doomed_model = fill(&doomed, 2, 60, 20);
    let kept_model = fill(&kept, 1, 30, 10);
    doomed.flush().expect("flush");
    let tables = live_tables(&doomed.stats());
    drop((doomed, kept));
    db.close().expect("close");
    Image {
        files: dir_contents(&fs, dir),
        doomed: doomed_model,
        kept: kept_model,
        tables,
    }
}

/// Synced writes on top of the image, so that the drop happens with some
/// of both keyspaces' data in the WAL only.
fn wal_writes(db: &Db, doomed: &Keyspace, kept: &Keyspace, img: &Image) -> (Model, Model) {
    let (mut d, mut k) = (img.doomed.clone(), img.kept.clone());
    let mut batch = WriteBatch::new();
    for i in 0..5 {
        batch.put_in(doomed, key(1000 + i), value32(i, 9));
        batch.put_in(kept, key(1000 + i), value32(i, 9));
        d.insert(key(1000 + i), value32(i, 9));
        k.insert(key(1000 + i), value32(i, 9));
    }
    db.write_opt(batch, &WriteOptions::default().sync(true))
        .expect("synced write before the drop");
    (d, k)
}

fn modes(seeds: u64) -> Vec<CrashMode> {
    let mut m = vec![CrashMode::DropUnsynced, CrashMode::KeepAll];
    for s in 1..=seeds {
        m.push(CrashMode::KeepPrefix { seed: s });
        m.push(CrashMode::KeepPrefixThenZeros { seed: s * 7919 });
        m.push(CrashMode::KeepPrefixThenGarbage { seed: s * 104_729 });
        m.push(CrashMode::KeepSubset {
            seed: s * 15_485_863,
        });
    }
    m
}

/// Opens `fs` and checks the aftermath of a drop that was cut short:
/// the other keyspace whole, the dropped one whole or gone (with no table
/// left); returns whether it is gone.
fn check_after_crash(fs: &FaultFs, img: &Image, want: &(Model, Model), ctx: &str) -> bool {
    let dir = Path::new(FAULT_DIR);
    let db = Db::open(dir, fault_opts(fs)).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    let names = db.keyspaces();
    let gone = !names.iter().any(|n| n == DOOMED);
    assert!(names.iter().any(|n| n == KEPT), "{ctx}: {names:?}");
    let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
    assert_pairs_eq(
        &collect(kept.iter()),
        &pairs(&want.1),
        &format!("{ctx}: the kept keyspace"),
    );
    let mut live = live_tables(&kept.stats());
    live.extend(live_tables(&db.stats()));
    if gone {
        let left: BTreeSet<u64> = table_numbers(fs, dir)
            .intersection(&img.tables)
            .copied()
            .collect();
        assert!(
            left.is_empty(),
            "{ctx}: dropped, but its tables {left:?} are left"
        );
    } else {
        let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
        assert_pairs_eq(
            &collect(doomed.iter()),
            &pairs(&want.0),
            &format!("{ctx}: the keyspace survived the crash in part"),
        );
        live.extend(live_tables(&doomed.stats()));
        drop(doomed);
    }
    assert_eq!(
        table_numbers(fs, dir),
        live,
        "{ctx}: the directory's tables are not the live ones; directory {:?}, keyspaces {names:?}, \
         recovered {} entries from {} WALs",
        dir_names(fs, dir),
        db.stats().recovered_entries,
        db.stats().recovered_wal_files,
    );
    drop(kept);
    db.close().unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    gone
}

#[test]
fn a_power_loss_during_the_drop_leaves_the_keyspace_whole_or_gone() {
    let img = crash_image();
    let dir = Path::new(FAULT_DIR);
    // How many mutating operations the drop takes, from a freshly opened
    // image with the writes on top.
    let drop_ops = {
        let fs = fault_image(dir, &img.files);
        let db = Db::open(dir, fault_opts(&fs)).expect("open");
        let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
        let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
        wal_writes(&db, &doomed, &kept, &img);
        let before = fs.op_count();
        db.drop_keyspace(DOOMED).expect("unfaulted drop");
        drop((doomed, kept));
        let ops = fs.op_count() - before;
        db.close().expect("close");
        ops
    };
    assert!(
        drop_ops >= 2,
        "a drop is at least a manifest append and fsync"
    );

    let (mut whole, mut gone) = (0u64, 0u64);
    for n in 0..=drop_ops {
        for &mode in &modes(env_num("RILLKV_CRASH_SEEDS", 2)) {
            let ctx = format!("crash after {n} of the drop's {drop_ops} ops, {mode:?}");
            let fs = fault_image(dir, &img.files);
            let db = Db::open(dir, fault_opts(&fs)).expect("open the image");
            let doomed = db.keyspace(DOOMED, ks_opts()).expect("keyspace");
            let kept = db.keyspace(KEPT, ks_opts()).expect("keyspace");
            let want = wal_writes(&db, &doomed, &kept, &img);
            fs.fail_after_ops(n);
            let result = db.drop_keyspace(DOOMED);
            drop((doomed, kept));
            power_loss(&fs, db, mode);

            let is_gone = check_after_crash(&fs, &img, &want, &ctx);
            if result.is_ok() {
                assert!(
                    is_gone,
                    "{ctx}: the drop returned Ok, yet the keyspace is back"
                );
            }
            // A second open agrees with the first, and finishes the drop
            // if that one was interrupted before removing the files.
            assert_eq!(
                check_after_crash(&fs, &img, &want, &format!("{ctx}, second open")),
                is_gone,
                "{ctx}: the second open disagrees"
            );
            if is_gone {
                gone += 1;
            } else {
                whole += 1;
            }
        }
    }
    println!(
        "keyspaces::drop: {drop_ops} crash points: keyspace whole after {whole} crash images, \
         gone after {gone}"
    );
    assert!(
        whole > 0 && gone > 0,
        "both outcomes are reached: whole {whole}, gone {gone}"
    );
}
