//! Background compaction running flat out never shows a reader anything
//! but a state some write produced, in order: writers, point readers,
//! range scanners and long-lived iterators and snapshots all run at once
//! on a real directory for a few seconds, and the database equals the
//! writers' models after a close and a reopen.
//!
//! Each writer owns its keys, so it knows their exact state. Every write
//! to a key has a generation `g` (1, 2, ...) that fixes what it does
//! (delete or put of a value that spells out `g`); counters get `U64Add`
//! merges of a known delta per generation. The writer publishes the
//! generation it is about to write (`issued`) and the one acknowledged
//! (`acked`). A reader that loads `acked`, reads, then loads `issued` must
//! see the state of some generation between the two. Writers also hold an
//! iterator and a snapshot over their keys across many compactions, read
//! from it a little at a time, and compare with the model frozen when it
//! was opened.
//!
//! Triggers are aggressive (`min_merge_width` 2, `max_merge_files` 3,
//! 32 KiB memtables, 64 KiB tables, fan-in 3 with two workers).
//!
//! A second, narrower scenario races flushes against compactions as hard
//! as it can (4 KiB memtables on `FaultFs`, every two runs merged) and
//! checks one hot key: a read never goes back below the generation
//! acknowledged before it, and a manual `compact` leaves one run.
//!
//! `RILLKV_STRESS_SECS` sets each scenario's duration (default 5).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rillkv::fs::StdFs;
use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, DbIter, Options, Snapshot, WriteBatch};

use crate::support::{
    Model, assert_runs_well_formed, collect, collect_rev, env_num, le, live_tables, pairs, seed,
    show, table_numbers, u64_of,
};

const WRITERS: usize = 2;
const READERS: usize = 2;
const KEYS: usize = 400;
const COUNTERS: usize = 12;

fn options() -> Options {
    Options::default()
        .memtable_size(32 << 10)
        .merge_operator(U64Add)
        .compaction(
            CompactionOptions::default()
                .background(true)
                .min_merge_width(2)
                .max_merge_files(3)
                .max_fan_in(3)
                .max_memory(16 << 20)
                .merge_workers(2)
                .target_table_size(64 << 10),
        )
}

/// Key `i` of writer `w` (each writer owns the keys under `w{w}-`).
fn writer_key(w: usize, i: usize) -> Vec<u8> {
    format!("w{w}-k{i:04}").into_bytes()
}

fn counter(w: usize, i: usize) -> Vec<u8> {
    format!("w{w}-c{i:02}").into_bytes()
}

fn mix(w: usize, i: usize, g: u64) -> u64 {
    let mut x = (w as u64) << 48 ^ (i as u64) << 32 ^ g;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

/// Generation `g` of key `i` deletes it.
fn is_delete(w: usize, i: usize, g: u64) -> bool {
    g > 0 && mix(w, i, g).is_multiple_of(5)
}

/// The value generation `g` of key `i` puts.
fn value_of(w: usize, i: usize, g: u64) -> Vec<u8> {
    let mut v = format!("{w}:{i}:{g}:").into_bytes();
    let len = 30 + (mix(w, i, g) % 300) as usize;
    let mut x = mix(w, i, g);
    while v.len() < len {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        v.push((x >> 56) as u8);
    }
    v
}

/// The state generation `g` of key `i` leaves (generation 0: never
/// written).
fn state_of(w: usize, i: usize, g: u64) -> Option<Vec<u8>> {
    (g > 0 && !is_delete(w, i, g)).then(|| value_of(w, i, g))
}

/// Generation `g` of a counter adds this.
fn delta(g: u64) -> u64 {
    g % 7 + 1
}

/// A counter's value after generations `1..=g`.
fn counter_sum(g: u64) -> u64 {
    (1..=g).map(delta).sum()
}

/// Published generations of one writer's keys and counters.
struct Published {
    issued: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
    counter_issued: Vec<AtomicU64>,
    counter_acked: Vec<AtomicU64>,
}

impl Published {
    fn new() -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        Published {
            issued: zeros(KEYS),
            acked: zeros(KEYS),
            counter_issued: zeros(COUNTERS),
            counter_acked: zeros(COUNTERS),
        }
    }
}

/// Checks that `got` for key `i` of writer `w` is the state of some
/// generation in `lo..=hi`.
fn check_key(w: usize, i: usize, got: Option<&[u8]>, lo: u64, hi: u64, ctx: &str) {
    match got {
        Some(v) => {
            let text = String::from_utf8_lossy(v.get(..24.min(v.len())).unwrap_or_default());
            let g: u64 = text
                .split(':')
                .nth(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    panic!("{ctx}: key {i} of writer {w}: malformed value {text:?}")
                });
            assert!(
                (lo..=hi).contains(&g),
                "{ctx}: key {i} of writer {w} shows generation {g}, outside acked {lo} .. issued {hi}"
            );
            assert_eq!(
                state_of(w, i, g).as_deref(),
                Some(v),
                "{ctx}: key {i} of writer {w}: generation {g} did not write this value"
            );
        }
        None => assert!(
            (lo..=hi).any(|g| state_of(w, i, g).is_none()),
            "{ctx}: key {i} of writer {w} is absent, but generations {lo}..={hi} all put a value"
        ),
    }
}

fn check_counter(w: usize, i: usize, got: Option<&[u8]>, lo: u64, hi: u64, ctx: &str) {
    let v = got.map_or(0, u64_of);
    assert!(
        (lo..=hi).any(|g| counter_sum(g) == v),
        "{ctx}: counter {i} of writer {w} is {v}, no generation in {lo}..={hi} sums to that"
    );
}

/// A snapshot and an iterator over one writer's keys, opened together,
/// with the model of those keys when they were opened.
struct Pinned {
    snap: Snapshot,
    iter: DbIter,
    reverse: bool,
    model: Model,
    got: Vec<(Vec<u8>, Vec<u8>)>,
    compactions_at_open: u64,
    opened: Instant,
}

impl Pinned {
    fn open(db: &Db, w: usize, model: &Model, reverse: bool) -> Self {
        let prefix = format!("w{w}-").into_bytes();
        Pinned {
            snap: db.snapshot(),
            iter: db.prefix(&prefix),
            reverse,
            model: model.clone(),
            got: Vec::new(),
            compactions_at_open: db.stats().counters.compactions,
            opened: Instant::now(),
        }
    }

    /// Reads one more item; returns `false` at the end.
    fn step(&mut self) -> bool {
        let item = if self.reverse {
            self.iter.next_back()
        } else {
            self.iter.next()
        };
        match item {
            Some(r) => {
                let (k, v) = r.expect("pinned iterator error");
                self.got.push((k.to_vec(), v.to_vec()));
                true
            }
            None => false,
        }
    }

    /// Drains the iterator and checks it and the snapshot against the
    /// frozen model. Returns how many compactions it lived through.
    fn finish(mut self, db: &Db, w: usize) -> u64 {
        while self.step() {}
        if self.reverse {
            self.got.reverse();
        }
        let ctx = format!(
            "writer {w}: iterator held {:?} across {} compactions",
            self.opened.elapsed(),
            db.stats().counters.compactions - self.compactions_at_open
        );
        let want = pairs(&self.model);
        assert!(
            self.got == want,
            "{ctx}: {} pairs, want {}",
            self.got.len(),
            want.len()
        );
        let prefix = format!("w{w}-").into_bytes();
        let mut snap = collect_rev(self.snap.prefix(&prefix));
        snap.reverse();
        assert!(
            snap == want,
            "{ctx}: snapshot scan differs from the frozen model"
        );
        for (k, v) in self.model.iter().step_by(11) {
            assert_eq!(
                self.snap.get(k).expect("snapshot get").as_deref(),
                Some(v.as_slice()),
                "{ctx}: snapshot get({})",
                show(k)
            );
        }
        db.stats().counters.compactions - self.compactions_at_open
    }
}

/// One writer: random generations on its own keys, single writes and
/// batches, with a pinned iterator and snapshot always open.
fn writer(db: Db, w: usize, p: Arc<Published>, stop: Arc<AtomicBool>, seed: u64) -> (Model, u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut model = Model::new();
    let mut gens = [0u64; KEYS];
    let mut counter_gens = [0u64; COUNTERS];
    let mut pinned = Some(Pinned::open(&db, w, &model, false));
    let mut most_compactions_pinned = 0;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let mut batch = WriteBatch::new();
        let mut touched = Vec::new();
        let mut touched_counters = Vec::new();
        for _ in 0..rng.usize(1..12) {
            if rng.u8(0..5) == 0 {
                let c = rng.usize(0..COUNTERS);
                counter_gens[c] += 1;
                let g = counter_gens[c];
                p.counter_issued[c].store(g, Ordering::SeqCst);
                batch.merge(counter(w, c), le(delta(g)));
                model.insert(counter(w, c), le(counter_sum(g)));
                touched_counters.push(c);
            } else {
                let i = rng.usize(0..KEYS);
                gens[i] += 1;
                let g = gens[i];
                p.issued[i].store(g, Ordering::SeqCst);
                match state_of(w, i, g) {
                    Some(v) => {
                        batch.put(writer_key(w, i), &v);
                        model.insert(writer_key(w, i), v);
                    }
                    None => {
                        batch.delete(writer_key(w, i));
                        model.remove(&writer_key(w, i));
                    }
                }
                touched.push(i);
            }
        }
        db.write(batch).expect("write");
        for i in touched {
            p.acked[i].store(gens[i], Ordering::SeqCst);
        }
        for c in touched_counters {
            p.counter_acked[c].store(counter_gens[c], Ordering::SeqCst);
        }
        // Read the pinned iterator a little at a time; renew it once it
        // has lived through several compactions.
        if let Some(pin) = pinned.as_mut() {
            pin.step();
            let lived = db.stats().counters.compactions - pin.compactions_at_open;
            if lived >= 4 || pin.opened.elapsed() > Duration::from_secs(3) {
                if let Some(pin) = pinned.take() {
                    most_compactions_pinned = most_compactions_pinned.max(pin.finish(&db, w));
                }
                pinned = Some(Pinned::open(&db, w, &model, n.is_multiple_of(2)));
            }
        }
    }
    if let Some(pin) = pinned.take() {
        most_compactions_pinned = most_compactions_pinned.max(pin.finish(&db, w));
    }
    (model, most_compactions_pinned)
}

/// One reader: point gets and range scans of random writers' keys.
fn reader(db: Db, published: Arc<Vec<Arc<Published>>>, stop: Arc<AtomicBool>, seed: u64) -> u64 {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut checks = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let w = rng.usize(0..WRITERS);
        let p = &published[w];
        match rng.u8(0..4) {
            0 | 1 => {
                let i = rng.usize(0..KEYS);
                let lo = p.acked[i].load(Ordering::SeqCst);
                let got = db.get(writer_key(w, i)).expect("get");
                let hi = p.issued[i].load(Ordering::SeqCst);
                check_key(w, i, got.as_deref(), lo, hi, "get");
                let c = rng.usize(0..COUNTERS);
                let lo = p.counter_acked[c].load(Ordering::SeqCst);
                let got = db.get(counter(w, c)).expect("get");
                let hi = p.counter_issued[c].load(Ordering::SeqCst);
                check_counter(w, c, got.as_deref(), lo, hi, "counter get");
                checks += 2;
            }
            _ => {
                let a = rng.usize(0..KEYS);
                let b = (a + rng.usize(1..80)).min(KEYS);
                let reverse = rng.bool();
                let lo: Vec<u64> = (a..b).map(|i| p.acked[i].load(Ordering::SeqCst)).collect();
                let it = db.range(writer_key(w, a)..writer_key(w, b));
                let items = if reverse {
                    let mut items = collect_rev(it);
                    items.reverse();
                    items
                } else {
                    collect(it)
                };
                let hi: Vec<u64> = (a..b).map(|i| p.issued[i].load(Ordering::SeqCst)).collect();
                let found: BTreeMap<Vec<u8>, Vec<u8>> = items.into_iter().collect();
                for (j, i) in (a..b).enumerate() {
                    let k = writer_key(w, i);
                    check_key(w, i, found.get(&k).map(Vec::as_slice), lo[j], hi[j], "scan");
                }
                assert!(
                    found
                        .keys()
                        .all(|k| k >= &writer_key(w, a) && k < &writer_key(w, b)),
                    "scan returned a key outside its range"
                );
                checks += (b - a) as u64;
            }
        }
    }
    checks
}

#[test]
fn readers_and_pinned_iterators_see_consistent_states_while_compaction_runs() {
    let secs = env_num("RILLKV_STRESS_SECS", 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let stop = Arc::new(AtomicBool::new(false));
    let published: Arc<Vec<Arc<Published>>> =
        Arc::new((0..WRITERS).map(|_| Arc::new(Published::new())).collect());
    let seed = seed("compaction_concurrent_with_readers");

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, p, stop) = (db.clone(), Arc::clone(&published[w]), Arc::clone(&stop));
            std::thread::spawn(move || writer(db, w, p, stop, seed ^ w as u64))
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (db, p, stop) = (db.clone(), Arc::clone(&published), Arc::clone(&stop));
            std::thread::spawn(move || reader(db, p, stop, seed ^ (100 + r as u64)))
        })
        .collect();

    // Watch the tree while it runs.
    let started = Instant::now();
    let mut deepest = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(50));
        let s = db.stats();
        assert_runs_well_formed(&s, "while running");
        deepest = deepest.max(s.max_depth);
        if writers.iter().any(|h| h.is_finished()) || readers.iter().any(|h| h.is_finished()) {
            break; // a thread panicked: stop and report it below
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut models = Vec::new();
    let mut pinned_across = Vec::new();
    for h in writers {
        let (m, c) = h.join().expect("writer panicked");
        models.push(m);
        pinned_across.push(c);
    }
    let checks: u64 = readers
        .into_iter()
        .map(|h| h.join().expect("reader panicked"))
        .sum();
    let stats = db.stats();
    let c = &stats.counters;
    eprintln!(
        "{secs} s: {} writes, {checks} reader checks, {} flushes, {} compactions \
         (read {} B, wrote {} B), deepest {deepest} runs, pinned iterators lived through \
         up to {pinned_across:?} compactions, write amplification {:.2}, \
         {} slowdowns, {} stalls",
        c.writes,
        c.flushes,
        c.compactions,
        c.compaction_bytes_read,
        c.compaction_bytes_written,
        c.write_amplification(),
        c.slowdowns,
        c.stalls
    );
    assert!(c.compactions > 0, "background compaction ran");
    assert!(checks > 0, "readers checked something");
    assert!(
        pinned_across.iter().any(|&n| n > 0),
        "an iterator was held across a compaction"
    );
    assert_eq!(stats.last_compaction_error, None, "no compaction failed");
    db.close().expect("close");

    // Everything after a reopen, and exactly the listed tables on disk.
    let db = Db::open(
        dir.path(),
        options().compaction(CompactionOptions::default().background(false)),
    )
    .expect("reopen");
    db.flush().expect("flush");
    let mut want = Model::new();
    for m in models {
        want.extend(m);
    }
    let got = collect(db.iter());
    let want = pairs(&want);
    assert_eq!(got.len(), want.len(), "keys after reopen");
    assert!(
        got == want,
        "contents after reopen differ from the writers' models"
    );
    let on_disk = table_numbers(&StdFs, dir.path());
    assert_eq!(
        on_disk,
        live_tables(&db.stats()),
        "no orphan tables after reopen"
    );
    db.close().expect("close");
}

/// Installing a compaction's version must never hide a flush that
/// finished meanwhile. One writer bumps a hot key's generation while
/// filler writes force a flush every few kilobytes and the compactor merges
/// runs flat out; readers check that the hot key never goes back below the
/// generation acknowledged before their read, and after a manual
/// `compact` there is exactly one run.
#[test]
fn a_flush_racing_a_compaction_stays_visible() {
    let secs = env_num("RILLKV_STRESS_SECS", 5);
    let fs = rillkv::fs::FaultFs::new();
    let opts = Options::default()
        .fs(fs.clone())
        .memtable_size(4096)
        .compaction(
            CompactionOptions::default()
                .background(true)
                .min_merge_width(2)
                .max_merge_files(2)
                .max_fan_in(2)
                .max_memory(8 << 20)
                .merge_workers(1)
                .target_table_size(64 << 10),
        );
    let db = Db::open("/db", opts).expect("open");
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (db, acked, stop) = (db.clone(), Arc::clone(&acked), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let before = acked.load(Ordering::SeqCst);
                    let got = db.get(b"hot").expect("get").map_or(0, |v| u64_of(&v));
                    assert!(
                        got >= before,
                        "the hot key reads generation {got} after {before} was acknowledged \
                         ({} flushes, {} compactions so far)",
                        db.stats().counters.flushes,
                        db.stats().counters.compactions
                    );
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let started = Instant::now();
    let mut generation = 0u64;
    let mut manual = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        if readers.iter().any(|h| h.is_finished()) {
            break;
        }
        generation += 1;
        let mut b = WriteBatch::new();
        b.put(b"hot", le(generation));
        b.put(format!("filler-{:03}", generation % 512), [b'x'; 200]);
        db.write(b).expect("write");
        acked.store(generation, Ordering::SeqCst);
        if generation.is_multiple_of(5000) {
            db.compact().expect("compact");
            manual += 1;
            let runs = db.stats().runs.len();
            // Writes are paused here, so nothing can add a run.
            assert_eq!(runs, 1, "after compact #{manual}: {runs} runs");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers
        .into_iter()
        .map(|h| h.join().expect("reader panicked"))
        .sum();
    let c = db.stats().counters;
    eprintln!(
        "{generation} generations, {reads} reads, {} flushes, {} compactions",
        c.flushes, c.compactions
    );
    assert!(c.compactions > 0 && c.flushes > 0);
    assert_eq!(
        db.get(b"hot").expect("get").map(|v| u64_of(&v)),
        Some(generation)
    );
    db.close().expect("close");
}
