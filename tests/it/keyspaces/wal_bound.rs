//! A keyspace written once and never again does not keep the WAL growing.
//!
//! Keyspaces share one WAL, and a WAL can go only once every keyspace's
//! writes in it are in tables. A keyspace written a few times and then left
//! alone never fills its memtable, so without a bound it would pin the WAL
//! of its first write, and every later one, forever.
//! `Options::max_total_wal_size` is that bound: past it, the keyspaces
//! whose unflushed writes are in the oldest WAL are sealed and flushed.
//!
//! - `a_keyspace_written_once_does_not_keep_wals_alive`: with the bound at
//!   256 KiB, 4 MiB written to another keyspace keep the WAL files
//!   within the bound plus the memtables on their way to tables (derived
//!   below), sampled as the writes go; the keys written once are still
//!   there, in a table, and after a reopen;
//! - `the_default_keyspace_written_once_does_not_keep_wals_alive`: the
//!   same when the keys written once are the default keyspace's;
//! - `below_the_bound_pinned_wals_are_kept_and_replayed`: with the default
//!   bound (1 GiB) that keyspace does pin every WAL since its write (the
//!   growth the bound exists for), and a reopen replays them all: nothing
//!   is lost;
//! - `max_total_wal_size_has_a_floor`: 64 KiB.

use std::path::Path;

use rillkv::{Db, Keyspace, KeyspaceOptions, Options};

use crate::support::{collect, numbered, total_entries, value};

/// The bound under test.
const MAX_WAL: u64 = 256 << 10;
/// The written keyspace's memtable size.
const HOT_MEMTABLE: usize = 64 << 10;
/// Sealed memtables a keyspace may have waiting for flush.
const MAX_SEALED: usize = 2;
/// Bytes of each value written to the busy keyspace.
const VALUE_LEN: usize = 1024;
/// The keys written once.
const COLD_KEYS: u64 = 5;

/// The bytes the WAL files of `dir` hold: each file up to its last
/// non-zero byte. The WAL being written is preallocated 1 MiB at a time
/// with zeros (`docs/format/wal.md`, "Preallocation"), which hold nothing;
/// a WAL switched away from is trimmed to its last record. A file deleted
/// while listed counts for nothing.
fn wal_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).expect("list the database") {
        let e = e.expect("list the database");
        if numbered(&e.file_name().to_string_lossy(), ".wal").is_none() {
            continue;
        }
        match std::fs::read(e.path()) {
            Ok(bytes) => total += bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1) as u64,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => panic!("read {}: {err}", e.path().display()),
        }
    }
    total
}

fn cold_key(i: u64) -> Vec<u8> {
    format!("cold/{i}").into_bytes()
}

fn cold_value(i: u64) -> Vec<u8> {
    format!("written once, {i}").into_bytes()
}

fn hot_key(i: u64) -> Vec<u8> {
    format!("hot/{i:08}").into_bytes()
}

/// An open database with its busy keyspace and, unless the keys written
/// once go to the database's own keyspace, theirs.
struct Handles {
    db: Db,
    cold: Option<Keyspace>,
    hot: Keyspace,
}

impl Handles {
    /// Opens `dir`; the keys written once go to keyspace `cold` when
    /// `named`, else to the default keyspace.
    fn open(dir: &Path, opts: Options, named: bool) -> Handles {
        let db = Db::open(dir, opts).expect("open");
        let cold = named.then(|| {
            db.keyspace("cold", KeyspaceOptions::default())
                .expect("keyspace cold")
        });
        let hot = db
            .keyspace(
                "hot",
                KeyspaceOptions::default().memtable_size(HOT_MEMTABLE),
            )
            .expect("keyspace hot");
        Handles { db, cold, hot }
    }

    fn write_cold(&self) {
        for i in 0..COLD_KEYS {
            match &self.cold {
                Some(ks) => ks.put(cold_key(i), cold_value(i)),
                None => self.db.put(cold_key(i), cold_value(i)),
            }
            .expect("put cold");
        }
    }

    fn cold_runs(&self) -> usize {
        match &self.cold {
            Some(ks) => ks.stats().runs.len(),
            None => self.db.stats().runs.len(),
        }
    }

    fn assert_cold_intact(&self, ctx: &str) {
        let want: Vec<_> = (0..COLD_KEYS)
            .map(|i| (cold_key(i), cold_value(i)))
            .collect();
        let got = match &self.cold {
            Some(ks) => collect(ks.iter()),
            None => collect(self.db.iter()),
        };
        assert_eq!(got, want, "{ctx}: the keys written once");
    }

    fn close(self) {
        drop((self.cold, self.hot));
        self.db.close().expect("close");
    }
}

/// Writes `n` values to `hot`, sampling the WAL bytes every `every`
/// writes; returns the largest sample.
fn write_hot(dir: &Path, hot: &Keyspace, n: u64, every: u64) -> u64 {
    let mut peak = wal_bytes(dir);
    for i in 0..n {
        hot.put(hot_key(i), value(i, VALUE_LEN)).expect("put hot");
        if i % every == every - 1 {
            peak = peak.max(wal_bytes(dir));
        }
    }
    peak
}

fn assert_hot_intact(hot: &Keyspace, n: u64, ctx: &str) {
    let mut count = 0;
    for (i, (k, v)) in collect(hot.iter()).into_iter().enumerate() {
        let i = i as u64;
        assert_eq!(k, hot_key(i), "{ctx}: hot key {i}");
        assert_eq!(v, value(i, VALUE_LEN), "{ctx}: hot value {i}");
        count += 1;
    }
    assert_eq!(count, n, "{ctx}: hot keys");
}

/// Writes a few keys once (to keyspace `cold` if `named`, else to the
/// default keyspace), then 4 MiB to keyspace `hot`, sampling the WAL
/// bytes; checks they stay bounded and the keys written once survive.
fn wals_stay_bounded(named: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || {
        Options::default()
            .max_total_wal_size(MAX_WAL)
            .max_sealed_memtables(MAX_SEALED)
    };
    let h = Handles::open(dir.path(), opts(), named);
    h.write_cold();
    // 4 MiB: 16 times the bound, 64 memtables of the busy keyspace;
    // sampled every 16 KiB, a quarter of a memtable.
    let n = (4 << 20) / VALUE_LEN as u64;
    let peak = write_hot(dir.path(), &h.hot, n, 16);

    // The bound. Past `MAX_WAL` (checked after every commit) the keyspace
    // pinning the oldest WAL is sealed; from then on the WALs alive are
    // those holding memtables not yet in tables: the busy keyspace's
    // active one and at most `MAX_SEALED` sealed ones (writers wait for
    // flush past that), plus the cold one's sealed memtable, flushed first
    // (its WAL is the oldest). Each memtable's WAL holds at most
    // `HOT_MEMTABLE` plus the commit that filled it. So at the peak: the
    // bound, the commit that crossed it, and `MAX_SEALED + 1` memtables
    // written while the cold one waits for its flush and its WALs'
    // deletion (which lags one manifest record).
    let commit = (VALUE_LEN + 64) as u64;
    let memtable_wal = HOT_MEMTABLE as u64 + commit;
    let bound = MAX_WAL + commit + (MAX_SEALED as u64 + 1) * memtable_wal;
    println!(
        "wal_bound (written once to {}): peak {peak} bytes of WAL for {} bytes written; bound \
         {bound}",
        if named {
            "a keyspace"
        } else {
            "the default keyspace"
        },
        n * VALUE_LEN as u64
    );
    assert!(
        peak <= bound,
        "the WAL files held {peak} bytes, past {bound} (max_total_wal_size {MAX_WAL} plus \
         {MAX_SEALED} + 1 memtables of {HOT_MEMTABLE} bytes)"
    );
    assert!(
        h.cold_runs() > 0,
        "the keys written once were never flushed, yet the WALs stayed bounded?"
    );
    h.assert_cold_intact("before reopen");
    assert_hot_intact(&h.hot, n, "before reopen");
    h.close();

    let h = Handles::open(dir.path(), opts(), named);
    h.assert_cold_intact("after reopen");
    assert_hot_intact(&h.hot, n, "after reopen");
    h.close();
}

#[test]
fn a_keyspace_written_once_does_not_keep_wals_alive() {
    wals_stay_bounded(true);
}

#[test]
fn the_default_keyspace_written_once_does_not_keep_wals_alive() {
    wals_stay_bounded(false);
}

#[test]
fn below_the_bound_pinned_wals_are_kept_and_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || Options::default().max_sealed_memtables(MAX_SEALED);
    let h = Handles::open(dir.path(), opts(), true);
    h.write_cold();
    let n = (2 << 20) / VALUE_LEN as u64;
    let written = n * VALUE_LEN as u64;
    write_hot(dir.path(), &h.hot, n, n);
    h.hot.flush().expect("flush hot");
    // Every memtable of the busy keyspace is in a table, but the keys
    // written once are not: every WAL since them is kept.
    assert_eq!(h.cold_runs(), 0);
    assert_eq!(
        total_entries(&h.hot.stats()),
        n,
        "the busy keyspace's tables"
    );
    let kept = wal_bytes(dir.path());
    assert!(
        kept >= written,
        "the WALs hold {kept} bytes, less than the {written} written since the pinning write"
    );
    h.close();

    // The reopen replays them all (the keys written once, and the busy
    // keyspace's writes whose tables already hold them), then deletes them.
    let h = Handles::open(dir.path(), opts(), true);
    h.assert_cold_intact("after reopen");
    assert_hot_intact(&h.hot, n, "after reopen");
    assert_eq!(h.cold_runs(), 1, "the replayed writes became a table");
    let left = wal_bytes(dir.path());
    assert!(
        left < MAX_WAL,
        "the reopen kept {left} bytes of WAL it had replayed"
    );
    h.close();
}

#[test]
fn max_total_wal_size_has_a_floor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Db::open(
        dir.path(),
        Options::default().max_total_wal_size((64 << 10) - 1),
    )
    .expect_err("a bound under 64 KiB");
    assert_eq!(err.kind(), rillkv::ErrorKind::InvalidArgument, "{err}");
    Db::open(dir.path(), Options::default().max_total_wal_size(64 << 10))
        .expect("64 KiB")
        .close()
        .expect("close");
}
