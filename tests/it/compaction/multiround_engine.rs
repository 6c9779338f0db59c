//! A compaction of more runs than its fan-in merges them in rounds — the
//! smallest runs first into intermediate tables, then one final streamed
//! round, split into key-range sub-jobs with two workers — and the result
//! is exactly the model, in one run of disjoint tables cut at about the
//! target size. Intermediate tables never outlive the job; the inputs go
//! once the next manifest edit is durable (deletion lags one edit), or
//! when the last iterator pinning them drops.
//!
//! Forty flushes of overlapping random keys (puts, deletes, `U64Add`
//! merges) make forty runs; the compaction runs with `max_fan_in` 2, 3 and
//! 4 (`max_memory` 8 MiB per worker) and one or two merge workers; with
//! two workers and only 8 MiB the budget itself limits the fan-in to 2.

use std::collections::BTreeSet;
use std::path::Path;

use rillkv::compaction::{fan_in_for, rounds_for};
use rillkv::fs::FaultFs;
use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, Options, WriteBatch};

use crate::support::{
    Model, add, assert_no_orphan_tables, assert_runs_well_formed, assert_view_matches, collect,
    key, le, live_tables, pairs, table_numbers, total_table_bytes, value,
};

const DIR: &str = "/db";
const RUNS: usize = 40;
const TARGET: u64 = 64 << 10;

fn dir() -> &'static Path {
    Path::new(DIR)
}

/// `max_memory` is 8 MiB per worker: with less, two workers' budgets fit
/// only fan-in 2 (4 MiB per output plus 256 KiB per input), and
/// `max_fan_in` would not be what limits the merge.
fn compaction(fan_in: usize, workers: usize) -> CompactionOptions {
    CompactionOptions::default()
        .background(false)
        .max_fan_in(fan_in)
        .max_memory((8 << 20) * workers as u64)
        .merge_workers(workers)
        .target_table_size(TARGET)
}

fn options(fs: &FaultFs, c: CompactionOptions) -> Options {
    Options::default()
        .fs(fs.clone())
        .memtable_size(1 << 20)
        .merge_operator(U64Add)
        .compaction(c)
}

fn counter(i: u64) -> Vec<u8> {
    format!("cnt-{i:02}").into_bytes()
}

fn probes() -> Vec<Vec<u8>> {
    vec![b"a".to_vec(), key(99_999), b"zzz".to_vec()]
}

/// Forty flushed runs of overlapping keys. Returns the model.
fn load(db: &Db, seed: u64) -> Model {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut model = Model::new();
    let mut n = 0u64;
    for _ in 0..RUNS {
        let mut b = WriteBatch::new();
        // Runs of different sizes, so "smallest first" has a choice.
        for _ in 0..rng.usize(20..90) {
            let k = key(rng.u64(0..2000));
            if rng.u8(0..6) == 0 {
                b.delete(&k);
                model.remove(&k);
            } else {
                n += 1;
                let v = value(n, rng.usize(50..400));
                b.put(&k, &v);
                model.insert(k, v);
            }
        }
        for _ in 0..5 {
            let c = counter(rng.u64(0..30));
            let d = rng.u64(1..50);
            b.merge(&c, le(d));
            let v = add(model.get(&c), d);
            model.insert(c, v);
        }
        db.write(b).expect("write");
        db.flush().expect("flush");
    }
    model
}

fn multiround(fan_in: usize, workers: usize) {
    let ctx = format!("max_fan_in {fan_in}, {workers} worker(s)");
    let fs = FaultFs::new();
    let c = compaction(fan_in, workers);
    let effective = fan_in_for(&c);
    let rounds = rounds_for(RUNS, effective);
    assert_eq!(
        effective, fan_in,
        "{ctx}: the fan-in the memory budget allows"
    );
    assert!(
        rounds > 1,
        "{ctx}: {RUNS} runs at fan-in {effective} need rounds"
    );
    let db = Db::open(DIR, options(&fs, c)).expect("open");
    let model = load(&db, fan_in as u64 * 10 + workers as u64);
    let before = db.stats();
    assert_eq!(before.runs.len(), RUNS, "{ctx}: one run per flush");
    let inputs = live_tables(&before);
    let input_bytes = total_table_bytes(&before);
    assert_view_matches(&db, &model, &probes(), &format!("{ctx}: before"));

    db.compact().expect("compact");

    let after = db.stats();
    let ctx_after = format!("{ctx}: after compact");
    assert_runs_well_formed(&after, &ctx_after);
    assert_eq!(after.runs.len(), 1, "{ctx_after}: one run");
    assert_eq!(after.max_depth, 1, "{ctx_after}: depth");
    assert_view_matches(&db, &model, &probes(), &ctx_after);
    let outputs = live_tables(&after);
    let output_bytes = total_table_bytes(&after);
    assert!(outputs.is_disjoint(&inputs), "{ctx_after}: new tables");
    let c = &after.counters;
    eprintln!(
        "{ctx}: {RUNS} runs, fan-in {effective}, {rounds} rounds: read {} B, wrote {} B \
         ({} B of outputs in {} tables)",
        c.compaction_bytes_read,
        c.compaction_bytes_written,
        output_bytes,
        outputs.len()
    );
    assert_eq!(c.compactions, 1, "{ctx_after}: one job");
    assert_eq!(
        c.compaction_bytes_read, input_bytes,
        "{ctx_after}: bytes read"
    );
    assert!(
        c.compaction_bytes_written > output_bytes,
        "{ctx_after}: intermediate rounds write more than the outputs \
         ({} written, outputs {output_bytes})",
        c.compaction_bytes_written
    );
    assert!(
        outputs.len() as u64 >= output_bytes / (2 * TARGET),
        "{ctx_after}: outputs are cut near the target size"
    );
    for t in after.runs.iter().flat_map(|r| &r.tables) {
        assert!(
            t.size <= 2 * TARGET,
            "{ctx_after}: table {} is {} bytes, target {TARGET}",
            t.number,
            t.size
        );
    }

    // No intermediate table is left; the inputs may wait for the next edit.
    let on_disk = table_numbers(&fs, dir());
    let allowed: BTreeSet<u64> = outputs.union(&inputs).copied().collect();
    let strays: Vec<_> = on_disk.difference(&allowed).collect();
    assert!(
        strays.is_empty(),
        "{ctx_after}: tables neither live nor inputs (intermediates?): {strays:?}"
    );
    assert!(outputs.is_subset(&on_disk), "{ctx_after}: outputs exist");

    // The next edit makes the inputs deletable.
    db.put(b"after", b"1").expect("put");
    db.flush().expect("flush");
    assert_no_orphan_tables(&db, &fs, dir(), &format!("{ctx}: after the next flush"));

    db.close().expect("close");
    let db = Db::open(DIR, options(&fs, compaction(fan_in, workers))).expect("reopen");
    db.flush().expect("flush");
    assert_no_orphan_tables(&db, &fs, dir(), &format!("{ctx}: after reopen"));
    let mut model = model;
    model.insert(b"after".to_vec(), b"1".to_vec());
    assert_view_matches(&db, &model, &probes(), &format!("{ctx}: after reopen"));
    db.close().expect("close");
}

#[test]
fn multiround_fan_in_2_one_worker() {
    multiround(2, 1);
}

#[test]
fn multiround_fan_in_2_two_workers() {
    multiround(2, 2);
}

#[test]
fn multiround_fan_in_3_one_worker() {
    multiround(3, 1);
}

#[test]
fn multiround_fan_in_3_two_workers() {
    multiround(3, 2);
}

#[test]
fn multiround_fan_in_4_one_worker() {
    multiround(4, 1);
}

#[test]
fn multiround_fan_in_4_two_workers() {
    multiround(4, 2);
}

/// An iterator opened before the compaction keeps reading its inputs, and
/// they are deleted once it drops (and an edit made them obsolete).
#[test]
fn two_workers_in_8_mib_merge_two_at_a_time() {
    let c = compaction(4, 2).max_memory(8 << 20);
    assert_eq!(
        fan_in_for(&c),
        2,
        "4 MiB per worker fits one output and no more"
    );
    let fs = FaultFs::new();
    let db = Db::open(DIR, options(&fs, c)).expect("open");
    let model = load(&db, 7);
    db.compact().expect("compact");
    assert_view_matches(&db, &model, &probes(), "8 MiB, two workers");
    assert_eq!(db.stats().runs.len(), 1);
    db.close().expect("close");
}

#[test]
fn an_iterator_pins_the_inputs_until_it_drops() {
    let fs = FaultFs::new();
    let db = Db::open(DIR, options(&fs, compaction(2, 2))).expect("open");
    let model = load(&db, 99);
    let inputs = live_tables(&db.stats());
    let mut iter = db.iter();
    let first = iter.next().expect("an entry").expect("no error");
    db.put(b"zz-late", b"x").expect("put");
    db.compact().expect("compact");
    db.put(b"zz-later", b"y").expect("put");
    db.flush().expect("flush: the edit after the compaction's");
    let on_disk = table_numbers(&fs, dir());
    assert!(
        inputs.is_subset(&on_disk),
        "pinned inputs must stay while the iterator lives"
    );
    let mut got = vec![(first.0.to_vec(), first.1.to_vec())];
    got.extend(collect(iter));
    assert_eq!(
        got,
        pairs(&model),
        "the iterator shows the state it was opened on"
    );
    // `iter` was consumed above: the inputs are free now.
    assert_no_orphan_tables(&db, &fs, dir(), "after the iterator dropped");
    db.close().expect("close");
}
