//! Snapshots and iterators keep their point-in-time view across flushes
//! and compactions: a snapshot taken before a flush reads exactly its
//! version afterwards (the flush keeps every version a live snapshot can
//! see, and only those), and an iterator opened before a flush — consumed
//! partly before it, partly after — yields exactly the state at its
//! creation, while the flushed memtable's WAL is deleted and tables appear
//! underneath it. Tables a compaction replaced stay on disk while an
//! iterator still reads them and are deleted once it is dropped.
//!
//! Knob: `RILLKV_SNAPSHOT_RACE_MILLIS` (how long snapshots race a writer
//! and background flushes, default 1500).

use std::ops::Bound;
use std::path::Path;

use rillkv::fs::StdFs;
use rillkv::{CompactionOptions, Db, ErrorKind, Options, Snapshot, WriteBatch};

use crate::support::{
    Model, Pairs, View, assert_no_orphan_tables, assert_pairs_eq, assert_range_matches,
    assert_view_matches, collect, env_num, key, live_tables, model_range, pairs, table_count,
    table_numbers, wal_numbers,
};

/// A memtable big enough that only explicit `flush` calls flush, and no
/// background compaction: tables change only when the test says so.
fn options() -> Options {
    Options::default()
        .memtable_size(4 << 20)
        .compaction(CompactionOptions::default().background(false))
}

fn put(db: &Db, model: &mut Model, k: Vec<u8>, v: Vec<u8>) {
    db.put(&k, &v).expect("put");
    model.insert(k, v);
}

fn del(db: &Db, model: &mut Model, k: Vec<u8>) {
    db.delete(&k).expect("delete");
    model.remove(&k);
}

/// Probes for absent keys: before, between and after the written ones.
fn probes() -> Vec<Vec<u8>> {
    vec![
        b"a".to_vec(),
        [key(0), b"x".to_vec()].concat(),
        key(9999),
        b"z".to_vec(),
    ]
}

fn check(view: &impl View, model: &Model, ctx: &str) {
    assert_view_matches(view, model, &probes(), ctx);
    let ranges = [
        (Bound::Included(key(10)), Bound::Excluded(key(60))),
        (Bound::Excluded(key(25)), Bound::Included(key(26))),
        (Bound::Unbounded, Bound::Included(key(33))),
        (Bound::Excluded(key(150)), Bound::Unbounded),
    ];
    for (lo, hi) in &ranges {
        assert_range_matches(view, model, lo, hi, ctx);
    }
}

#[test]
fn snapshots_taken_before_flushes_read_their_version_after_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let mut model = Model::new();
    for i in 0..200 {
        put(&db, &mut model, key(i), format!("v1-{i}").into_bytes());
    }
    let s1 = db.snapshot();
    let m1 = model.clone();
    for i in (0..200).step_by(2) {
        put(&db, &mut model, key(i), format!("v2-{i}").into_bytes());
    }
    for i in (0..200).step_by(5) {
        del(&db, &mut model, key(i));
    }
    let s2 = db.snapshot();
    let m2 = model.clone();
    check(&s1, &m1, "s1 before any flush");

    db.flush().expect("flush 1");
    assert_eq!(table_count(&db.stats()), 1, "one flush, one table");
    check(&s1, &m1, "s1 after flush 1");
    check(&s2, &m2, "s2 after flush 1");
    check(&db, &model, "db after flush 1");

    // Newer versions, some resurrecting deleted keys, partly flushed.
    for i in (0..200).step_by(3) {
        put(&db, &mut model, key(i), format!("v3-{i}").into_bytes());
    }
    let s3 = db.snapshot();
    let m3 = model.clone();
    db.flush().expect("flush 2");
    for i in (1..200).step_by(4) {
        put(&db, &mut model, key(i), format!("v4-{i}").into_bytes());
    }
    for i in 100..120 {
        del(&db, &mut model, key(i));
    }
    // s1..s3 now read versions spread over two tables, while the newest
    // versions sit in the memtable.
    check(&s1, &m1, "s1 after flush 2");
    check(&s2, &m2, "s2 after flush 2");
    check(&s3, &m3, "s3 after flush 2");
    check(&db, &model, "db with unflushed writes");

    db.flush().expect("flush 3");
    assert_eq!(table_count(&db.stats()), 3);
    check(&s1, &m1, "s1 after flush 3");
    check(&s2, &m2, "s2 after flush 3");
    check(&s3, &m3, "s3 after flush 3");
    check(&db, &model, "db after flush 3");

    // A full compaction keeps every version a live snapshot sees.
    db.compact().expect("compact");
    assert_eq!(db.stats().runs.len(), 1, "{}", db.stats());
    check(&s1, &m1, "s1 after compaction");
    check(&s2, &m2, "s2 after compaction");
    check(&s3, &m3, "s3 after compaction");
    check(&db, &model, "db after compaction");

    // Dropping a snapshot does not disturb the others.
    drop(s2);
    put(&db, &mut model, key(7), b"v5".to_vec());
    db.flush().expect("flush 4");
    check(&s1, &m1, "s1 after s2 dropped");
    check(&s3, &m3, "s3 after s2 dropped");
    assert_eq!(db.stats().live_snapshots, 2);
    db.compact().expect("compact without s2");
    check(&s1, &m1, "s1 after a compaction without s2");
    check(&s3, &m3, "s3 after a compaction without s2");
    check(&db, &model, "db after a compaction without s2");

    // Flushed WALs are deleted one manifest edit later: at most one is
    // left besides the active WAL.
    let wals = wal_numbers(&StdFs, dir.path());
    assert!(wals.len() <= 2, "flushed WALs are deleted: {wals:?}");

    // Closing ends every snapshot; the data survives the reopen.
    let db2 = db.clone();
    db.close().expect("close");
    let err = s1.get(key(1)).expect_err("a snapshot of a closed database");
    assert_eq!(err.kind(), ErrorKind::Closed);
    drop((s1, s3, db2));
    let db = Db::open(dir.path(), options()).expect("reopen");
    check(&db, &model, "db after reopen");
    db.close().expect("close");
}

/// The number of entries (versions) in the newest table.
fn newest_table_entries(db: &Db) -> u64 {
    let stats = db.stats();
    let newest = stats
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .max_by_key(|t| t.number)
        .expect("a table");
    newest.entries
}

#[test]
fn flush_keeps_exactly_the_versions_live_snapshots_can_see() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");

    // Ten versions of one key; a snapshot after each of the first five.
    let mut snaps: Vec<(Snapshot, Vec<u8>)> = Vec::new();
    for v in 1..=10 {
        let value = format!("hot-{v}").into_bytes();
        db.put(b"hot", &value).expect("put");
        if v <= 5 {
            snaps.push((db.snapshot(), value));
        }
    }
    db.flush().expect("flush");
    // The newest version plus one per snapshot.
    assert_eq!(newest_table_entries(&db), 6, "{}", db.stats());
    for (snap, want) in &snaps {
        assert_eq!(
            snap.get(b"hot").expect("get").as_deref(),
            Some(want.as_slice()),
            "snapshot at seqno {} after flush",
            snap.seqno()
        );
    }
    assert_eq!(
        db.get(b"hot").expect("get").as_deref(),
        Some(&b"hot-10"[..])
    );

    // A snapshot that sees a deletion keeps the tombstone alive, and one
    // taken before the key existed keeps seeing nothing.
    let before = db.snapshot();
    db.put(b"cold", b"c1").expect("put");
    db.delete(b"cold").expect("delete");
    let deleted = db.snapshot();
    db.put(b"cold", b"c2").expect("put");
    db.flush().expect("flush");
    assert_eq!(before.get(b"cold").expect("get"), None);
    assert_eq!(deleted.get(b"cold").expect("get"), None);
    assert_eq!(db.get(b"cold").expect("get").as_deref(), Some(&b"c2"[..]));
    assert_eq!(
        newest_table_entries(&db),
        2,
        "c2 and the tombstone `deleted` sees"
    );

    // Without snapshots a flush keeps only the newest version.
    drop(snaps);
    drop((before, deleted));
    for v in 11..=20 {
        db.put(b"hot", format!("hot-{v}")).expect("put");
    }
    db.flush().expect("flush");
    assert_eq!(newest_table_entries(&db), 1, "{}", db.stats());
    assert_eq!(
        db.get(b"hot").expect("get").as_deref(),
        Some(&b"hot-20"[..])
    );
    // With no snapshot left, a full compaction keeps one version per live
    // key: `hot` and `cold`.
    db.compact().expect("compact");
    let entries: u64 = db
        .stats()
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.entries)
        .sum();
    assert_eq!(entries, 2, "{}", db.stats());
    assert_eq!(
        db.get(b"hot").expect("get").as_deref(),
        Some(&b"hot-20"[..])
    );
    assert_eq!(db.get(b"cold").expect("get").as_deref(), Some(&b"c2"[..]));
    db.close().expect("close");
}

#[test]
fn iterators_opened_before_a_flush_keep_their_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: &Path = dir.path();
    let db = Db::open(path, options()).expect("open");
    let mut model = Model::new();

    // Some data already in a table, some in the memtable.
    for i in 0..300 {
        put(&db, &mut model, key(i), format!("t-{i}").into_bytes());
    }
    db.flush().expect("flush");
    for i in (0..300).step_by(2) {
        put(&db, &mut model, key(i), format!("m-{i}").into_bytes());
    }
    for i in (0..300).step_by(7) {
        del(&db, &mut model, key(i));
    }
    let frozen = model.clone();
    let wals_before = wal_numbers(&StdFs, path);
    // The tables the iterators below pin (their version's).
    let pinned = table_numbers(&StdFs, path);
    assert_eq!(pinned.len(), 1);

    // Three iterators: partly consumed from the front, from both ends, and
    // not started (its streams are built lazily, after the flush).
    let mut fwd = db.iter();
    let head: Pairs = collect(fwd.by_ref().take(50));
    let mut both = db.range(key(20)..key(280));
    let first = both.next().expect("an entry").expect("iter");
    let last = both.next_back().expect("an entry").expect("iter");
    let mut lazy = db.iter().rev();

    // Overwrite everything, delete a stretch, add new keys, and flush twice.
    for i in 0..300 {
        put(&db, &mut model, key(i), format!("new-{i}").into_bytes());
    }
    let mut b = WriteBatch::new();
    for i in 40..90 {
        b.delete(key(i));
        model.remove(&key(i));
    }
    for i in 300..340 {
        b.put(key(i), b"added");
        model.insert(key(i), b"added".to_vec());
    }
    db.write(b).expect("batch");
    db.flush().expect("flush while iterators are open");
    put(&db, &mut model, key(5), b"after".to_vec());
    db.flush().expect("second flush while iterators are open");
    assert_eq!(table_count(&db.stats()), 3);
    // Compact the three tables into new ones, then make one more manifest
    // edit (deletions lag one edit): every replaced table is obsolete, but
    // the one in the iterators' version stays on disk while they live.
    let replaced = table_numbers(&StdFs, path);
    db.compact().expect("compact while iterators are open");
    put(&db, &mut model, key(6), b"after compaction".to_vec());
    db.flush().expect("flush after compaction");
    assert!(
        replaced.is_disjoint(&live_tables(&db.stats())),
        "the compaction replaced every table"
    );
    let on_disk = table_numbers(&StdFs, path);
    let unpinned: std::collections::BTreeSet<u64> = replaced.difference(&pinned).copied().collect();
    assert!(
        on_disk.is_superset(&pinned),
        "the table open iterators read stays on disk: {pinned:?} vs {on_disk:?}"
    );
    assert!(
        on_disk.is_disjoint(&unpinned),
        "replaced tables nobody reads are deleted: {unpinned:?} vs {on_disk:?}"
    );

    // The memtable the iterators read from is gone from the directory.
    let wals_after = wal_numbers(&StdFs, path);
    assert!(
        wals_before.is_disjoint(&wals_after),
        "flushed WALs are deleted even while iterators pin their memtables: {wals_before:?} -> {wals_after:?}"
    );

    // The iterators still see the state at their creation.
    let mut rest = head;
    rest.extend(collect(fwd.by_ref()));
    assert_pairs_eq(&rest, &pairs(&frozen), "forward iterator across flushes");

    let mut got = vec![(first.0.to_vec(), first.1.to_vec())];
    let mut tail = vec![(last.0.to_vec(), last.1.to_vec())];
    let mut from_front = false;
    loop {
        let item = if from_front {
            both.next()
        } else {
            both.next_back()
        };
        let Some(item) = item else { break };
        let (k, v) = item.expect("iter");
        if from_front {
            got.push((k.to_vec(), v.to_vec()));
        } else {
            tail.push((k.to_vec(), v.to_vec()));
        }
        from_front = !from_front;
    }
    tail.reverse();
    got.extend(tail);
    let want = model_range(
        &frozen,
        &Bound::Included(key(20)),
        &Bound::Excluded(key(280)),
    );
    assert_pairs_eq(&got, &want, "double-ended iterator across flushes");

    let mut lazy_got: Pairs = collect(lazy.by_ref());
    lazy_got.reverse();
    assert_pairs_eq(
        &lazy_got,
        &pairs(&frozen),
        "iterator first advanced after flushes",
    );

    // New iterators see the new state. Once the old ones are dropped the
    // replaced tables are deleted, and the directory holds exactly the live
    // tables.
    check(&db, &model, "db after flushes");
    drop((fwd, both, lazy));
    let on_disk = table_numbers(&StdFs, path);
    assert!(
        pinned.is_disjoint(&on_disk),
        "the pinned table is deleted once no iterator reads it: {pinned:?} vs {on_disk:?}"
    );
    assert_no_orphan_tables(&db, &StdFs, path, "after iterators dropped");
    db.close().expect("close");
    let db = Db::open(path, options()).expect("reopen");
    check(&db, &model, "after reopen");
    assert_no_orphan_tables(&db, &StdFs, path, "after reopen");
    db.close().expect("close");
}

#[test]
fn snapshot_iterators_read_across_memtable_and_tables_in_both_directions() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A small memtable and background compaction: flushes and compactions
    // happen while the snapshots live.
    let db = Db::open(dir.path(), Options::default().memtable_size(16 << 10)).expect("open");
    let mut model = Model::new();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    for round in 0..8 {
        for _ in 0..400 {
            let k = key(rng.u64(0..500));
            if rng.u8(0..5) == 0 {
                del(&db, &mut model, k);
            } else {
                let v = format!("r{round}-{}", rng.u32(..)).into_bytes();
                put(&db, &mut model, k, v);
            }
        }
        snaps.push((db.snapshot(), model.clone()));
    }
    db.flush().expect("flush");
    let stats = db.stats();
    assert!(stats.counters.flushes >= 4, "{stats}");
    for (i, (snap, m)) in snaps.iter().enumerate() {
        check(snap, m, &format!("snapshot {i}"));
    }
    check(&db, &model, "db");
    db.compact().expect("compact");
    for (i, (snap, m)) in snaps.iter().enumerate() {
        check(snap, m, &format!("snapshot {i} after a full compaction"));
    }
    check(&db, &model, "db after a full compaction");
    db.close().expect("close");
}

/// Snapshots taken while one writer overwrites a key and flushes and
/// compactions run underneath: each snapshot reads exactly the value
/// written at its sequence number. (A single writer's puts take
/// consecutive sequence numbers, so the value a snapshot must see follows
/// from `Snapshot::seqno`.)
#[test]
fn snapshots_taken_during_flushes_read_exactly_their_sequence_number() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let millis = env_num("RILLKV_SNAPSHOT_RACE_MILLIS", 1500);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().memtable_size(4096)).expect("open");
    db.put(b"hot", b"start").expect("put");
    let base = db.stats().last_seqno;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                db.put(b"hot", format!("{i:08}-{}", "x".repeat(40)))
                    .expect("put");
                i += 1;
            }
            i
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut checked = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snap = db.snapshot();
                    let s = snap.seqno();
                    // Let flushes run between taking and reading.
                    std::thread::yield_now();
                    let got = snap.get(b"hot").expect("get");
                    let want = if s <= base {
                        b"start".to_vec()
                    } else {
                        format!("{:08}-{}", s - base - 1, "x".repeat(40)).into_bytes()
                    };
                    assert_eq!(
                        got.as_deref(),
                        Some(want.as_slice()),
                        "snapshot at seqno {s} (base {base}) reads another version"
                    );
                    checked += 1;
                }
                checked
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(millis));
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("writer");
    let checked: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    let stats = db.stats();
    eprintln!(
        "{writes} writes, {checked} snapshots checked, {} flushes, {} compactions",
        stats.counters.flushes, stats.counters.compactions
    );
    assert!(stats.counters.flushes > 10, "{stats}");
    db.close().expect("close");
}
