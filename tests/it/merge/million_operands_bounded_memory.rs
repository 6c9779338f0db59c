//! Reading a key with a huge number of merge operands folds them in chunks
//! of `merge_batch_size`: the extra heap a `get`, a forward scan or a
//! reverse scan needs stays bounded by the chunk size, not by the number of
//! operands, and the result is exact.
//!
//! Three layouts of the operands:
//! - all in the active memtable (no flush ever runs, so nothing collapsed
//!   them: the read must fold every one);
//! - all in one table (written by a flush with no merge operator configured,
//!   which keeps operands as they are), plus more in the memtable;
//! - spread over many small tables and the memtable, striped by live
//!   snapshots, each snapshot reading its own count.
//!
//! The heap is measured by the counting global allocator
//! (`support::heap`: current and peak bytes); the peak is reset just before
//! each measured read. Each test runs alone in a child process
//! (`support::heap::isolated`) so that no other test's allocations count in
//! its measurement, and background compaction is off so that no background
//! job allocates during one (a manual `compact` runs between measurements
//! instead).
//!
//! N = 1,000,000 operands (about 10 s in release on two cores);
//! `RILLKV_MERGE_OPERANDS=<n>` overrides.

use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, Options, WriteBatch};

use crate::support::heap::{isolated, peak_during};
use crate::support::{env_num, le, total_entries, u64_get, u64_of};

const BATCH_SIZE: usize = 100;
/// Operands per write batch while loading.
const LOAD_BATCH: u64 = 1_000;

fn n() -> u64 {
    env_num("RILLKV_MERGE_OPERANDS", 1_000_000)
}

/// The most extra heap one read of the hot key may take: 64 chunks' worth
/// of 8-byte operands plus a fixed 1 MiB for iterators, block buffers and
/// the like. Collecting every operand would take far more (see
/// [`collect_all_cost`]).
fn budget() -> usize {
    64 * BATCH_SIZE * 8 + (1 << 20)
}

/// What holding every operand at once costs: one `Bytes` handle per operand
/// in a `Vec`, each with its own 8-byte buffer — measured with the same
/// allocator, for comparison in the assertion messages.
fn collect_all_cost(n: u64) -> usize {
    let ((), peak) = peak_during(|| {
        let all: Vec<bytes::Bytes> = (0..n)
            .map(|i| bytes::Bytes::copy_from_slice(&le(i)))
            .collect();
        assert_eq!(all.len() as u64, n);
    });
    peak
}

/// The striped test's memtable: about 1,100 operands per table, so about
/// 900 tables for a million operands (each table's iterator takes a share
/// of the budget's fixed 1 MiB). A memtable charges each entry what it
/// takes in the arena skiplist (node, tower, key, value: about 80 bytes
/// for an 8-byte operand of `hot`).
const STRIPED_MEMTABLE: usize = 88 << 10;

fn opts(memtable: usize) -> Options {
    Options::default()
        .merge_operator(U64Add)
        .merge_batch_size(BATCH_SIZE)
        .merge_writeback_threshold(0)
        .memtable_size(memtable)
        // Cached blocks would count as heap the read keeps; the bound is
        // about the fold, so no cache.
        .block_cache_size(0)
        .compaction(CompactionOptions::default().background(false))
}

/// Adds `count` operands of +1 to `hot`, in batches, with a put to a
/// neighbour key every batch; `each_batch` runs after every batch with the
/// number of operands written so far.
fn load(db: &Db, count: u64, mut each_batch: impl FnMut(u64)) {
    let mut done = 0;
    while done < count {
        let mut b = WriteBatch::new();
        let take = LOAD_BATCH.min(count - done);
        for _ in 0..take {
            b.merge(b"hot", le(1));
        }
        b.put(format!("side{:08}", done / LOAD_BATCH), le(done));
        db.write(b).expect("write batch");
        done += take;
        each_batch(done);
    }
}

/// Measures a `get`, a forward scan and a reverse scan of `hot` (expected
/// `want`), asserting each stays within the budget. Returns the peaks.
fn measure_reads(db: &Db, want: u64, what: &str) -> [usize; 3] {
    // Open every table first so lazily opened readers do not count.
    let _ = db.get(b"side-warmup").expect("warm-up get");
    let (v, get_peak) = peak_during(|| db.get(b"hot").expect("get"));
    assert_eq!(u64_get(v), want, "{what}: get");
    let (v, fwd_peak) = peak_during(|| {
        let mut it = db.range(b"hot".as_slice()..=b"hot".as_slice());
        let (k, v) = it.next().expect("one key").expect("forward scan");
        assert_eq!(&k[..], b"hot");
        assert!(it.next().is_none(), "{what}: one key in range");
        v
    });
    assert_eq!(u64_of(&v), want, "{what}: forward scan");
    let (v, rev_peak) = peak_during(|| {
        let mut it = db.range(b"hot".as_slice()..=b"hot".as_slice()).rev();
        let (k, v) = it.next().expect("one key").expect("reverse scan");
        assert_eq!(&k[..], b"hot");
        assert!(it.next().is_none(), "{what}: one key in range");
        v
    });
    assert_eq!(u64_of(&v), want, "{what}: reverse scan");
    let all = collect_all_cost(want);
    let runs = db.stats().runs.len();
    eprintln!(
        "{what}: {want} operands, {runs} runs; peak extra heap get {get_peak} B, forward {fwd_peak} B, \
         reverse {rev_peak} B; budget {} B; collecting all operands would take {all} B",
        budget()
    );
    for (read, peak) in [
        ("get", get_peak),
        ("forward", fwd_peak),
        ("reverse", rev_peak),
    ] {
        assert!(
            peak < budget(),
            "{what}: {read} of {want} operands took {peak} B of extra heap, over the budget of \
             {} B (collecting all would take {all} B)",
            budget()
        );
    }
    [get_peak, fwd_peak, rev_peak]
}

#[test]
fn operands_only_in_the_active_memtable_fold_in_bounded_memory() {
    isolated(
        module_path!(),
        "operands_only_in_the_active_memtable_fold_in_bounded_memory",
        || {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = Db::open(dir.path(), opts(512 << 20)).expect("open");
            let n = n();
            load(&db, n, |_| {});
            let stats = db.stats();
            assert_eq!(stats.sealed_memtables, 0, "no memtable was sealed");
            assert!(
                stats.runs.is_empty(),
                "nothing was flushed: {:?}",
                stats.runs
            );
            measure_reads(&db, n, "active memtable");
            assert!(db.stats().counters.merge_operands_folded >= n);
            db.close().expect("close");
        },
    );
}

#[test]
fn operands_kept_in_one_table_fold_in_bounded_memory() {
    isolated(
        module_path!(),
        "operands_kept_in_one_table_fold_in_bounded_memory",
        || {
            let dir = tempfile::tempdir().expect("tempdir");
            let n = n();
            let db = Db::open(dir.path(), opts(512 << 20)).expect("open");
            load(&db, n, |_| {});
            db.close().expect("close");
            // Without an operator, the recovered memtable is flushed with every
            // operand kept as it is.
            let bare = Options::default()
                .block_cache_size(0)
                .compaction(CompactionOptions::default().background(false));
            let db = Db::open(dir.path(), bare).expect("open bare");
            db.flush().expect("flush without operator");
            let entries = total_entries(&db.stats());
            assert!(
                entries > n,
                "the table keeps all {n} operands: {entries} entries"
            );
            db.close().expect("close");

            let db = Db::open(dir.path(), opts(512 << 20)).expect("reopen");
            measure_reads(&db, n, "one table");
            // More operands in the memtable on top of the table's.
            load(&db, n / 10, |_| {});
            measure_reads(&db, n + n / 10, "one table + memtable");
            db.close().expect("close");
        },
    );
}

#[test]
fn operands_striped_by_snapshots_over_many_tables_fold_in_bounded_memory() {
    isolated(
        module_path!(),
        "operands_striped_by_snapshots_over_many_tables_fold_in_bounded_memory",
        || {
            let dir = tempfile::tempdir().expect("tempdir");
            let n = n();
            let db = Db::open(dir.path(), opts(STRIPED_MEMTABLE)).expect("open");
            // A snapshot every eighth of the way: flushes may collapse operands
            // within a stripe, never across one.
            let step = n / 8;
            let mut snapshots = Vec::new();
            load(&db, n, |done| {
                if done % step == 0 && done < n {
                    snapshots.push((done, db.snapshot()));
                }
            });
            db.flush().expect("flush");
            // A tail of operands stays in the memtable.
            load(&db, 999, |_| {});
            let total = n + 999;
            let stats = db.stats();
            assert!(
                stats.runs.len() > 8,
                "many tables hold operands: {} runs",
                stats.runs.len()
            );
            assert!(stats.active_memtable_entries > 0);
            measure_reads(&db, total, "striped tables + memtable");
            for (count, snap) in &snapshots {
                assert_eq!(u64_get(snap.get(b"hot").expect("snapshot get")), *count);
                let items: Vec<_> = snap
                    .range(b"hot".as_slice()..=b"hot".as_slice())
                    .rev()
                    .map(|r| r.expect("snapshot reverse scan"))
                    .collect();
                assert_eq!(items.len(), 1);
                assert_eq!(u64_of(&items[0].1), *count);
            }
            // Compaction keeps the stripes too.
            db.compact().expect("compact");
            measure_reads(&db, total, "compacted, snapshots alive");
            for (count, snap) in &snapshots {
                assert_eq!(u64_get(snap.get(b"hot").expect("snapshot get")), *count);
            }
            drop(snapshots);
            db.close().expect("close");
            let db = Db::open(dir.path(), opts(STRIPED_MEMTABLE)).expect("reopen");
            measure_reads(&db, total, "after reopen");
            db.compact().expect("compact");
            measure_reads(&db, total, "compacted, no snapshots");
            db.close().expect("close");
        },
    );
}
