//! Concurrency stress: 16 threads (32 with `RILLKV_STRESS_THREADS=32`) on a
//! real directory with 16 KiB memtables, two sealed memtables at most,
//! compaction of every 2–3 overlapping runs (writes slowed at 6 runs,
//! stopped at 10), a tiny block cache and manifest, and `U64Add` counters
//! written back after 4 operands, while snapshots and iterators stay open
//! across flushes and compactions.
//!
//! **Workload.** Each writer owns a key space `wNN/`: 48 groups of a header
//! and 4 members, a counter and a batch marker. Its batch `b` is a pure
//! function of `(seed, writer, b)`: it bumps the version of 1–3 groups —
//! every key of a group gets the same version `v` and batch `b` in its
//! value; some versions delete the members, the header always stays — may
//! merge `+1` into the counter, may be synced, and puts `b` into the
//! marker `wNN/~last`. Since the history is a function of `b`, any thread
//! can recompute a writer's exact state after batches `1..=b` (`Sim`).
//!
//! **Checks**, on every view a thread takes (a snapshot, a long-lived
//! iterator read a little at a time, or point reads):
//! - *batch atomicity*: a group's keys all carry the header's version and
//!   batch, or (deleted) none is there; no key shows a batch newer than the
//!   writer's marker;
//! - *prefix, no lost write*: the writer's keys equal exactly its state
//!   after batches `1..=marker`, with the marker at least the batch
//!   acknowledged before the view was taken and at most the one issued;
//! - *monotonic versions*: a thread never sees a group's version, a
//!   counter or a marker go back; point reads (no snapshot) of a group
//!   are at least as new as the last acknowledged batch, and a member read
//!   after its header is at least as new as that header;
//! - *stable snapshots*: a snapshot scanned again (forward, backward or
//!   zigzag, plus point gets) after a compaction finished, or held for up
//!   to 2 s and rescanned, gives identical results.
//!
//! A compactor thread calls `flush`, `compact` and `compact_range`. At the
//! end the database equals the writers' final states (counters = the
//! acknowledged increments), before and after a clean close and reopen.
//!
//! **Watchdog.** If a role (writers, snapshot readers, iterators, point
//! readers, compactor) makes no progress for `RILLKV_WATCHDOG_SECS`
//! (default 60), or the run or its final phase overruns by that much, the
//! watchdog prints every progress counter and the last `Db::stats` and
//! aborts the process, so a deadlock fails CI instead of hanging it.
//!
//! `RILLKV_STRESS_SECS` sets the duration (default 6; long runs e.g. 600),
//! `RILLKV_STRESS_THREADS` the worker threads (default 16), `RILLKV_SEED`
//! replays the writers' histories.
//!
//! Under ThreadSanitizer (nightly, outside CI; raise the watchdog, TSan
//! slows everything down):
//!
//! ```text
//! rustup +nightly component add rust-src
//! RILLKV_WATCHDOG_SECS=300 RUSTFLAGS="-Zsanitizer=thread" \
//!   CARGO_TARGET_DIR=/tmp/tsan-target cargo +nightly test -Zbuild-std \
//!   --target x86_64-unknown-linux-gnu --release --test it \
//!   concurrency::stress
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, DbIter, Options, WriteBatch, WriteOptions};

use crate::support::{
    Model, Pairs, assert_pairs_eq, assert_view_matches, collect, collect_alternating, collect_rev,
    env_num, pairs, seed, show,
};

/// Groups per writer.
const GROUPS: usize = 48;
/// Member keys per group (besides the header).
const MEMBERS: usize = 4;
/// How long a long-held snapshot lives at most.
const LONG_HOLD: Duration = Duration::from_secs(2);

fn options() -> Options {
    Options::default()
        .memtable_size(16 << 10)
        .max_sealed_memtables(2)
        .merge_operator(U64Add)
        .merge_writeback_threshold(4)
        .block_size(1024)
        .block_cache_size(256 << 10)
        .max_manifest_size(16 << 10)
        .compaction(
            CompactionOptions::default()
                .background(true)
                .min_merge_width(2)
                .max_merge_files(3)
                .max_fan_in(3)
                .max_memory(8 << 20)
                .merge_workers(2)
                .target_table_size(64 << 10)
                .slowdown_runs(6)
                .stop_runs(10),
        )
}

// ---------------------------------------------------------------------------
// Keys, values and the deterministic history.

fn prefix(w: usize) -> Vec<u8> {
    format!("w{w:02}/").into_bytes()
}

fn header_key(w: usize, g: usize) -> Vec<u8> {
    format!("w{w:02}/g{g:02}/h").into_bytes()
}

fn member_key(w: usize, g: usize, k: usize) -> Vec<u8> {
    format!("w{w:02}/g{g:02}/m{k}").into_bytes()
}

fn counter_key(w: usize) -> Vec<u8> {
    format!("w{w:02}/~ctr").into_bytes()
}

fn last_key(w: usize) -> Vec<u8> {
    format!("w{w:02}/~last").into_bytes()
}

/// splitmix64 of `a` combined with `b`.
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn writer_seed(seed: u64, w: usize) -> u64 {
    mix(seed, 0x1000 + w as u64)
}

/// What batch `b` of writer `w` does.
struct Plan {
    groups: Vec<usize>,
    merge: bool,
    sync: bool,
}

fn plan(seed: u64, w: usize, b: u64) -> Plan {
    let mut x = mix(writer_seed(seed, w), b);
    let n = 1 + (x % 3) as usize;
    let mut groups = Vec::with_capacity(n);
    while groups.len() < n {
        x = mix(x, 1);
        let g = (x % GROUPS as u64) as usize;
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    x = mix(x, 2);
    let merge = x.is_multiple_of(3);
    x = mix(x, 3);
    let sync = x.is_multiple_of(64);
    Plan {
        groups,
        merge,
        sync,
    }
}

/// Whether version `v` of group `g` deletes the members.
fn is_delete(seed: u64, w: usize, g: usize, v: u64) -> bool {
    mix(writer_seed(seed, w), (g as u64) << 40 | v).is_multiple_of(8)
}

fn header_value(w: usize, g: usize, v: u64, b: u64, deleted: bool) -> Vec<u8> {
    let state = if deleted { 'D' } else { 'P' };
    format!("{w}:{g}:h:{v}:{b}:{state}").into_bytes()
}

fn member_value(seed: u64, w: usize, g: usize, k: usize, v: u64, b: u64) -> Vec<u8> {
    let mut out = format!("{w}:{g}:m{k}:{v}:{b}:").into_bytes();
    let h = mix(
        writer_seed(seed, w),
        (g as u64) << 48 | (k as u64) << 40 | v,
    );
    let len = (h % 120) as usize;
    let mut x = h;
    for _ in 0..len {
        x = mix(x, 7);
        out.push(b'a' + (x % 26) as u8);
    }
    out
}

/// A writer's state after batches `1..=b`, recomputed from its history.
#[derive(Clone)]
struct Sim {
    seed: u64,
    w: usize,
    b: u64,
    version: Vec<u64>,
    batch_of: Vec<u64>,
    counter: u64,
}

impl Sim {
    fn new(seed: u64, w: usize) -> Self {
        Sim {
            seed,
            w,
            b: 0,
            version: vec![0; GROUPS],
            batch_of: vec![0; GROUPS],
            counter: 0,
        }
    }

    /// Applies the next batch; returns its plan.
    fn step(&mut self) -> Plan {
        self.b += 1;
        let p = plan(self.seed, self.w, self.b);
        for &g in &p.groups {
            self.version[g] += 1;
            self.batch_of[g] = self.b;
        }
        if p.merge {
            self.counter += 1;
        }
        p
    }

    fn advance_to(&mut self, b: u64) {
        while self.b < b {
            self.step();
        }
    }

    fn deleted(&self, g: usize) -> bool {
        is_delete(self.seed, self.w, g, self.version[g])
    }

    /// The writer's keys and values in this state.
    fn model(&self) -> Model {
        let mut m = Model::new();
        let w = self.w;
        for g in 0..GROUPS {
            let (v, b) = (self.version[g], self.batch_of[g]);
            if v == 0 {
                continue;
            }
            let deleted = self.deleted(g);
            m.insert(header_key(w, g), header_value(w, g, v, b, deleted));
            if !deleted {
                for k in 0..MEMBERS {
                    m.insert(member_key(w, g, k), member_value(self.seed, w, g, k, v, b));
                }
            }
        }
        if self.counter > 0 {
            m.insert(counter_key(w), self.counter.to_le_bytes().to_vec());
        }
        if self.b > 0 {
            m.insert(last_key(w), self.b.to_string().into_bytes());
        }
        m
    }
}

// ---------------------------------------------------------------------------
// Parsing what a view shows.

/// What a key of writer `w` names.
enum KeyKind {
    Header(usize),
    Member(usize, usize),
    Counter,
    Last,
}

/// `(writer, kind)` of a key, or `None` for a key no writer writes.
fn parse_key(key: &[u8]) -> Option<(usize, KeyKind)> {
    let s = std::str::from_utf8(key).ok()?;
    let (w, rest) = s.strip_prefix('w')?.split_once('/')?;
    let w: usize = w.parse().ok()?;
    let kind = match rest {
        "~ctr" => KeyKind::Counter,
        "~last" => KeyKind::Last,
        _ => {
            let (g, what) = rest.strip_prefix('g')?.split_once('/')?;
            let g: usize = g.parse().ok()?;
            if g >= GROUPS {
                return None;
            }
            match what {
                "h" => KeyKind::Header(g),
                m => {
                    let k: usize = m.strip_prefix('m')?.parse().ok()?;
                    if k >= MEMBERS {
                        return None;
                    }
                    KeyKind::Member(g, k)
                }
            }
        }
    };
    Some((w, kind))
}

/// `(version, batch)` from a header or member value, checking that the
/// value is byte for byte what that write stored.
fn parse_versioned(
    seed: u64,
    w: usize,
    key: &[u8],
    kind: &KeyKind,
    value: &[u8],
    ctx: &str,
) -> (u64, u64, bool) {
    let text = String::from_utf8_lossy(value);
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let num = |i: usize| -> u64 {
        parts
            .get(i)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{ctx}: {} has a malformed value {text:?}", show(key)))
    };
    let (v, b) = (num(3), num(4));
    let (want, deleted) = match *kind {
        KeyKind::Header(g) => {
            let deleted = parts.get(5) == Some(&"D");
            (header_value(w, g, v, b, deleted), deleted)
        }
        KeyKind::Member(g, k) => (member_value(seed, w, g, k, v, b), false),
        KeyKind::Counter | KeyKind::Last => unreachable!("not a versioned key"),
    };
    assert!(
        want == value,
        "{ctx}: {} holds {text:?}, which no write stored (version {v}, batch {b} wrote {:?})",
        show(key),
        show(&want)
    );
    (v, b, deleted)
}

fn text_u64(key: &[u8], value: &[u8], ctx: &str) -> u64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{ctx}: {} has a malformed value {}", show(key), show(value)))
}

fn le_u64(key: &[u8], value: &[u8], ctx: &str) -> u64 {
    let arr: [u8; 8] = value.try_into().unwrap_or_else(|_| {
        panic!(
            "{ctx}: counter {} is {} bytes, not 8",
            show(key),
            value.len()
        )
    });
    u64::from_le_bytes(arr)
}

// ---------------------------------------------------------------------------
// Shared state, progress and the watchdog.

/// Progress counters: what every role has done so far.
#[derive(Default)]
struct Progress {
    batches: AtomicU64,
    puts: AtomicU64,
    deletes: AtomicU64,
    merges: AtomicU64,
    synced: AtomicU64,
    snapshot_scans: AtomicU64,
    snapshot_compares: AtomicU64,
    compares_across_compaction: AtomicU64,
    long_holds: AtomicU64,
    iter_items: AtomicU64,
    iters_done: AtomicU64,
    iters_across_compaction: AtomicU64,
    point_gets: AtomicU64,
    flush_calls: AtomicU64,
    compact_calls: AtomicU64,
    compact_range_calls: AtomicU64,
    slowest_manual_micros: AtomicU64,
}

impl Progress {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    fn dump(&self) -> String {
        let g = Self::get;
        format!(
            "batches {} (puts {}, deletes {}, merges {}, synced {}); snapshot scans {}, \
             snapshot re-scans compared {} ({} across a compaction, {} long holds); \
             iterator items {}, iterators finished {} ({} across a compaction); point gets {}; \
             flush calls {}, compact calls {}, compact_range calls {} (slowest {} ms)",
            g(&self.batches),
            g(&self.puts),
            g(&self.deletes),
            g(&self.merges),
            g(&self.synced),
            g(&self.snapshot_scans),
            g(&self.snapshot_compares),
            g(&self.compares_across_compaction),
            g(&self.long_holds),
            g(&self.iter_items),
            g(&self.iters_done),
            g(&self.iters_across_compaction),
            g(&self.point_gets),
            g(&self.flush_calls),
            g(&self.compact_calls),
            g(&self.compact_range_calls),
            g(&self.slowest_manual_micros) / 1000,
        )
    }
}

const RUNNING: u8 = 0;
const FINAL: u8 = 1;
const DONE: u8 = 2;

struct Shared {
    seed: u64,
    writers: usize,
    stop: AtomicBool,
    /// Per writer: the batch being written (or last written).
    issued: Vec<AtomicU64>,
    /// Per writer: the last acknowledged batch.
    acked: Vec<AtomicU64>,
    progress: Progress,
    phase: AtomicU8,
    /// The main thread's last `Db::stats()`, and when it was taken.
    last_stats: Mutex<(Instant, String)>,
}

impl Shared {
    fn acked_all(&self) -> Vec<u64> {
        self.acked
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .collect()
    }

    fn issued_all(&self) -> Vec<u64> {
        self.issued
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .collect()
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps up to `d` in small steps; returns early once stopped.
    fn nap(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
}

/// Which counter shows that a role makes progress.
struct Role {
    name: &'static str,
    threads: usize,
    counter: fn(&Progress) -> u64,
}

/// Aborts the process (a panic in this thread would not end the test)
/// with every counter and the last stats, written straight to stderr so
/// that the test harness's output capture cannot swallow them.
fn watchdog_fail(shared: &Shared, why: &str) -> ! {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "\nstress_concurrency WATCHDOG: {why}");
    let _ = writeln!(e, "progress: {}", shared.progress.dump());
    let _ = writeln!(
        e,
        "acked batches per writer: {:?}\nissued batches per writer: {:?}",
        shared.acked_all(),
        shared.issued_all()
    );
    match shared.last_stats.try_lock() {
        Ok(s) => {
            let _ = writeln!(
                e,
                "last Db::stats(), taken {:?} ago:\n{}",
                s.0.elapsed(),
                s.1
            );
        }
        Err(_) => {
            let _ = writeln!(e, "(last stats unavailable: lock busy)");
        }
    }
    let _ = writeln!(
        e,
        "aborting so the run fails instead of hanging; replay with RILLKV_SEED={} \
         (attach a debugger to see the stuck threads)",
        shared.seed
    );
    let _ = e.flush();
    std::process::abort();
}

fn watchdog(shared: Arc<Shared>, roles: Vec<Role>, stall: Duration, run_for: Duration) {
    let started = Instant::now();
    let mut last: Vec<(u64, Instant)> = roles
        .iter()
        .map(|r| ((r.counter)(&shared.progress), started))
        .collect();
    let mut final_since: Option<Instant> = None;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        match shared.phase.load(Ordering::SeqCst) {
            DONE => return,
            FINAL => {
                let since = *final_since.get_or_insert_with(Instant::now);
                if since.elapsed() > stall {
                    watchdog_fail(
                        &shared,
                        &format!(
                            "the final phase (stop, join, compare, close, reopen) has run \
                             for {:?}: something is stuck",
                            since.elapsed()
                        ),
                    );
                }
            }
            _ => {
                let now = Instant::now();
                for (role, (value, changed)) in roles.iter().zip(last.iter_mut()) {
                    let v = (role.counter)(&shared.progress);
                    if v != *value {
                        *value = v;
                        *changed = now;
                    } else if role.threads > 0 && now.duration_since(*changed) > stall {
                        watchdog_fail(
                            &shared,
                            &format!(
                                "no progress by the {} {} thread(s) for {:?} (stuck at {v}): \
                                 deadlock or livelock",
                                role.threads,
                                role.name,
                                now.duration_since(*changed)
                            ),
                        );
                    }
                }
                if started.elapsed() > run_for + stall {
                    watchdog_fail(
                        &shared,
                        &format!(
                            "the workload should have stopped after {run_for:?} but is still \
                             running after {:?}",
                            started.elapsed()
                        ),
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Checking a view.

/// What one thread has seen so far, to check that nothing goes back.
struct Seen {
    seed: u64,
    /// Per writer: its state at the newest batch this thread saw.
    sims: Vec<Sim>,
    /// Per writer, per group: the newest header version seen.
    versions: Vec<Vec<u64>>,
    counters: Vec<u64>,
}

impl Seen {
    fn new(seed: u64, writers: usize) -> Self {
        Seen {
            seed,
            sims: (0..writers).map(|w| Sim::new(seed, w)).collect(),
            versions: vec![vec![0; GROUPS]; writers],
            counters: vec![0; writers],
        }
    }

    /// Checks a consistent view (a snapshot's or an iterator's pairs, in
    /// key order) of every writer, or of writer `only`. `lo`/`hi`: batches
    /// acknowledged before / issued after the view was pinned.
    fn check_view(
        &mut self,
        pairs: &Pairs,
        only: Option<usize>,
        lo: &[u64],
        hi: &[u64],
        ctx: &str,
    ) {
        for p in pairs.windows(2) {
            assert!(
                p[0].0 < p[1].0,
                "{ctx}: keys out of order: {} then {}",
                show(&p[0].0),
                show(&p[1].0)
            );
        }
        let writers = self.sims.len();
        let mut parts = vec![Model::new(); writers];
        for (k, v) in pairs {
            let w = match parse_key(k) {
                Some((w, _)) if w < writers => w,
                _ => panic!("{ctx}: a key no writer wrote: {}", show(k)),
            };
            assert!(
                only.is_none_or(|o| o == w),
                "{ctx}: {} is outside the iterated prefix {}",
                show(k),
                show(&prefix(only.unwrap_or(w)))
            );
            parts[w].insert(k.clone(), v.clone());
        }
        for (w, part) in parts.iter().enumerate() {
            if only.is_none_or(|o| o == w) {
                self.check_writer(w, part, lo[w], hi[w], ctx);
            }
        }
    }

    fn check_writer(&mut self, w: usize, part: &Model, lo: u64, hi: u64, ctx: &str) {
        let last = part
            .get(&last_key(w))
            .map_or(0, |v| text_u64(&last_key(w), v, ctx));
        let ctx = format!("{ctx}, writer {w} at batch {last}");
        assert!(
            last >= lo,
            "{ctx}: batch {lo} was acknowledged before the view was taken, \
             but the view ends at batch {last}: a lost write"
        );
        assert!(
            last <= hi,
            "{ctx}: the view shows batch {last}, but only {hi} had been issued"
        );
        let before = self.sims[w].b;
        assert!(
            last >= before,
            "{ctx}: this thread saw batch {before} in an earlier view: time went backwards"
        );

        // Batch atomicity, straight from the values.
        let mut headers: BTreeMap<usize, (u64, u64, bool)> = BTreeMap::new();
        let mut members: BTreeMap<usize, Vec<(usize, u64, u64)>> = BTreeMap::new();
        for (k, v) in part {
            let Some((_, kind)) = parse_key(k) else {
                unreachable!("checked by the caller")
            };
            match kind {
                KeyKind::Header(g) => {
                    let (ver, b, deleted) = parse_versioned(self.seed, w, k, &kind, v, &ctx);
                    headers.insert(g, (ver, b, deleted));
                }
                KeyKind::Member(g, m) => {
                    let (ver, b, _) = parse_versioned(self.seed, w, k, &kind, v, &ctx);
                    members.entry(g).or_default().push((m, ver, b));
                }
                KeyKind::Counter => {
                    let c = le_u64(k, v, &ctx);
                    assert!(
                        c >= self.counters[w],
                        "{ctx}: the counter reads {c}, this thread saw {} before",
                        self.counters[w]
                    );
                    self.counters[w] = c;
                }
                KeyKind::Last => {}
            }
        }
        for (&g, &(ver, b, _)) in &headers {
            assert!(
                b <= last,
                "{ctx}: group {g} shows batch {b} but the writer's marker shows batch {last}: \
                 part of batch {b} is missing (torn batch)"
            );
            assert!(
                ver >= self.versions[w][g],
                "{ctx}: group {g} is at version {ver}, this thread saw version {} before",
                self.versions[w][g]
            );
            self.versions[w][g] = ver;
        }
        for (&g, ms) in &members {
            match headers.get(&g) {
                None => panic!(
                    "{ctx}: group {g} has members {ms:?} (member, version, batch) but no \
                     header: torn batch"
                ),
                Some(&(ver, b, true)) => panic!(
                    "{ctx}: group {g}'s header says version {ver} (batch {b}) deleted the \
                     members, yet members {ms:?} are visible: torn batch"
                ),
                Some(&(ver, b, false)) => {
                    for &(m, mv, mb) in ms {
                        assert!(
                            (mv, mb) == (ver, b),
                            "{ctx}: group {g}'s header is at version {ver} (batch {b}) but \
                             member {m} is at version {mv} (batch {mb}): torn batch"
                        );
                    }
                }
            }
        }
        for (&g, &(ver, b, deleted)) in &headers {
            let n = members.get(&g).map_or(0, Vec::len);
            assert!(
                deleted || n == MEMBERS,
                "{ctx}: group {g} at version {ver} (batch {b}) shows {n} of its {MEMBERS} \
                 members: torn batch"
            );
        }

        // The exact state after batches 1..=last: no hole, nothing extra.
        self.sims[w].advance_to(last);
        let want = pairs(&self.sims[w].model());
        let got = pairs(part);
        assert_pairs_eq(
            &got,
            &want,
            &format!("{ctx}: the view differs from the writer's state after batches 1..={last}"),
        );
    }
}

// ---------------------------------------------------------------------------
// The roles.

fn writer(db: Db, w: usize, shared: Arc<Shared>) -> Sim {
    let p = &shared.progress;
    let seed = shared.seed;
    let mut sim = Sim::new(seed, w);
    while !shared.stopped() {
        let b = sim.b + 1;
        shared.issued[w].store(b, Ordering::SeqCst);
        let plan = sim.step();
        let mut batch = WriteBatch::new();
        let (mut puts, mut deletes) = (1, 0); // the marker
        for &g in &plan.groups {
            let v = sim.version[g];
            let deleted = sim.deleted(g);
            batch.put(header_key(w, g), header_value(w, g, v, b, deleted));
            puts += 1;
            for k in 0..MEMBERS {
                if deleted {
                    batch.delete(member_key(w, g, k));
                    deletes += 1;
                } else {
                    batch.put(member_key(w, g, k), member_value(seed, w, g, k, v, b));
                    puts += 1;
                }
            }
        }
        if plan.merge {
            batch.merge(counter_key(w), 1u64.to_le_bytes());
        }
        batch.put(last_key(w), b.to_string());
        db.write_opt(batch, &WriteOptions::default().sync(plan.sync))
            .unwrap_or_else(|e| panic!("writer {w}: batch {b} failed: {e}"));
        shared.acked[w].store(b, Ordering::SeqCst);
        Progress::add(&p.batches, 1);
        Progress::add(&p.puts, puts);
        Progress::add(&p.deletes, deletes);
        Progress::add(&p.merges, u64::from(plan.merge));
        Progress::add(&p.synced, u64::from(plan.sync));
        if b.is_multiple_of(16) {
            // Read-your-writes: nobody else writes these keys.
            let got = db.get(last_key(w)).expect("get");
            assert_eq!(
                got.as_deref(),
                Some(b.to_string().as_bytes()),
                "writer {w} does not read back its marker after batch {b}"
            );
            let g = plan.groups[0];
            let got = db.get(header_key(w, g)).expect("get");
            let want = header_value(w, g, sim.version[g], b, sim.deleted(g));
            assert_eq!(
                got.as_deref(),
                Some(want.as_slice()),
                "writer {w} does not read back group {g} after batch {b}"
            );
        }
    }
    sim
}

/// Waits until a compaction finishes after `since` compactions, the
/// deadline passes or the run stops; returns whether one finished.
fn wait_for_compaction(db: &Db, shared: &Shared, since: u64, deadline: Instant) -> bool {
    loop {
        if db.stats().counters.compactions > since {
            return true;
        }
        if shared.stopped() || Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Takes a snapshot, checks it, then scans it again (in another
/// direction, after a compaction if one comes soon) and compares; one
/// snapshot in four is held up to [`LONG_HOLD`] and rescanned several
/// times.
fn snapshot_reader(db: Db, id: usize, shared: Arc<Shared>) {
    let p = &shared.progress;
    let mut rng = fastrand::Rng::with_seed(mix(shared.seed, 0x2000 + id as u64));
    let mut seen = Seen::new(shared.seed, shared.writers);
    while !shared.stopped() {
        let lo = shared.acked_all();
        let snap = db.snapshot();
        let hi = shared.issued_all();
        let compactions_at_open = db.stats().counters.compactions;
        let ctx = format!("snapshot reader {id}, snapshot at seqno {}", snap.seqno());
        let first = collect(snap.iter());
        seen.check_view(&first, None, &lo, &hi, &ctx);
        Progress::add(&p.snapshot_scans, 1);
        let first_model: Model = first.iter().cloned().collect();

        let long = rng.u8(0..4) == 0;
        let rescans = if long { 6 } else { 1 };
        let hold = if long {
            LONG_HOLD
        } else {
            Duration::from_millis(rng.u64(50..500))
        };
        let opened = Instant::now();
        let mut compactions = compactions_at_open;
        for round in 1..=rescans {
            let deadline = opened + hold * round / rescans;
            wait_for_compaction(&db, &shared, compactions, deadline);
            if long {
                shared.nap(deadline.saturating_duration_since(Instant::now()));
            }
            let now_compactions = db.stats().counters.compactions;
            let (how, again) = match rng.u8(0..3) {
                0 => ("forward", collect(snap.iter())),
                1 => {
                    let mut r = collect_rev(snap.iter());
                    r.reverse();
                    ("backward", r)
                }
                _ => ("zigzag", collect_alternating(snap.iter())),
            };
            let across = now_compactions - compactions_at_open;
            assert_pairs_eq(
                &again,
                &first,
                &format!(
                    "{ctx}: rescan #{round} ({how}) after {:?} and {across} compactions",
                    opened.elapsed()
                ),
            );
            for _ in 0..8 {
                let key = if !first.is_empty() && rng.bool() {
                    first[rng.usize(0..first.len())].0.clone()
                } else {
                    let w = rng.usize(0..shared.writers);
                    member_key(w, rng.usize(0..GROUPS), rng.usize(0..MEMBERS))
                };
                let got = snap.get(&key).expect("snapshot get").map(|v| v.to_vec());
                assert_eq!(
                    got.as_ref(),
                    first_model.get(&key),
                    "{ctx}: get({}) after {across} compactions disagrees with the first scan",
                    show(&key)
                );
            }
            Progress::add(&p.snapshot_compares, 1);
            if across > 0 {
                Progress::add(&p.compares_across_compaction, 1);
            }
            compactions = now_compactions;
            if shared.stopped() {
                break;
            }
        }
        if long {
            Progress::add(&p.long_holds, 1);
        }
    }
}

/// Opens an iterator (everything or one writer's prefix) and reads it a
/// few items at a time with pauses, in one direction or alternating ends,
/// so that flushes and compactions happen while it is open; then checks
/// what it yielded as one consistent view.
fn iterator_holder(db: Db, id: usize, shared: Arc<Shared>) {
    let p = &shared.progress;
    let mut rng = fastrand::Rng::with_seed(mix(shared.seed, 0x3000 + id as u64));
    let mut seen = Seen::new(shared.seed, shared.writers);
    while !shared.stopped() {
        let only = rng.bool().then(|| rng.usize(0..shared.writers));
        let mode = rng.u8(0..3); // forward, backward, alternating
        let lo = shared.acked_all();
        let mut iter: DbIter = match only {
            Some(w) => db.prefix(prefix(w)),
            None => db.iter(),
        };
        let hi = shared.issued_all();
        let compactions_at_open = db.stats().counters.compactions;
        let opened = Instant::now();
        let (mut front, mut back) = (Vec::new(), Vec::new());
        let mut from_front = mode != 1;
        'read: loop {
            let chunk = rng.usize(1..40);
            for _ in 0..chunk {
                let item = if from_front {
                    iter.next()
                } else {
                    iter.next_back()
                };
                let Some(item) = item else { break 'read };
                let (k, v) = item.expect("iterator yielded an error");
                let pair = (k.to_vec(), v.to_vec());
                if from_front {
                    front.push(pair);
                } else {
                    back.push(pair);
                }
                if mode == 2 {
                    from_front = !from_front;
                }
            }
            Progress::add(&p.iter_items, chunk as u64);
            if !shared.stopped() {
                std::thread::sleep(Duration::from_millis(rng.u64(2..15)));
            }
        }
        back.reverse();
        front.extend(back);
        let across = db.stats().counters.compactions - compactions_at_open;
        let ctx = format!(
            "iterator holder {id}: {} iterator over {}, open {:?} across {across} compactions",
            ["forward", "backward", "alternating"][mode as usize],
            only.map_or("everything".to_owned(), |w| show(&prefix(w))),
            opened.elapsed()
        );
        seen.check_view(&front, only, &lo, &hi, &ctx);
        Progress::add(&p.iters_done, 1);
        if across > 0 {
            Progress::add(&p.iters_across_compaction, 1);
        }
    }
}

/// Point reads of one group, its counter and its marker, with no
/// snapshot: each must be at least as new as what was acknowledged before
/// the read and what this thread saw before, and a member read after its
/// header is at least as new as that header.
fn point_reader(db: Db, id: usize, shared: Arc<Shared>) {
    let p = &shared.progress;
    let seed = shared.seed;
    let writers = shared.writers;
    let mut rng = fastrand::Rng::with_seed(mix(seed, 0x4000 + id as u64));
    let mut floor: Vec<Sim> = (0..writers).map(|w| Sim::new(seed, w)).collect();
    let mut seen_header = vec![vec![0u64; GROUPS]; writers];
    let mut seen_member = vec![vec![[0u64; MEMBERS]; GROUPS]; writers];
    let mut seen_counter = vec![0u64; writers];
    let mut seen_last = vec![0u64; writers];
    let mut rounds = 0u64;
    while !shared.stopped() {
        let w = rng.usize(0..writers);
        let g = rng.usize(0..GROUPS);
        let lo = shared.acked[w].load(Ordering::SeqCst);
        let ctx = format!("point reader {id}, writer {w} group {g}, batch {lo} acknowledged");
        floor[w].advance_to(lo);
        let floor_version = floor[w].version[g];

        let hk = header_key(w, g);
        let header = db.get(&hk).expect("get").map(|v| v.to_vec());
        let mut header_version = 0;
        match header {
            Some(v) => {
                let (ver, b, _) = parse_versioned(seed, w, &hk, &KeyKind::Header(g), &v, &ctx);
                assert!(
                    ver >= floor_version && ver >= seen_header[w][g],
                    "{ctx}: header at version {ver}, below the acknowledged {floor_version} \
                     or the {} this thread saw",
                    seen_header[w][g]
                );
                assert!(
                    b <= shared.issued[w].load(Ordering::SeqCst),
                    "{ctx}: header from batch {b}, never issued"
                );
                seen_header[w][g] = ver;
                header_version = ver;
            }
            None => assert!(
                floor_version == 0 && seen_header[w][g] == 0,
                "{ctx}: header missing, but version {floor_version} was acknowledged \
                 (this thread saw {})",
                seen_header[w][g]
            ),
        }
        for (k, seen) in seen_member[w][g].iter_mut().enumerate() {
            let mk = member_key(w, g, k);
            if let Some(v) = db.get(&mk).expect("get") {
                let (ver, _, _) = parse_versioned(seed, w, &mk, &KeyKind::Member(g, k), &v, &ctx);
                assert!(
                    ver >= header_version && ver >= *seen,
                    "{ctx}: member {k} at version {ver}, read after the header at version \
                     {header_version} (this thread saw {seen} before)"
                );
                *seen = ver;
            }
        }
        let ck = counter_key(w);
        let c = db
            .get(&ck)
            .expect("get")
            .map_or(0, |v| le_u64(&ck, &v, &ctx));
        assert!(
            c >= floor[w].counter && c >= seen_counter[w],
            "{ctx}: counter {c}, below the {} increments acknowledged or the {} this thread saw",
            floor[w].counter,
            seen_counter[w]
        );
        seen_counter[w] = c;
        let lk = last_key(w);
        let last = db
            .get(&lk)
            .expect("get")
            .map_or(0, |v| text_u64(&lk, &v, &ctx));
        let hi = shared.issued[w].load(Ordering::SeqCst);
        assert!(
            last >= lo && last >= seen_last[w] && last <= hi && c <= hi,
            "{ctx}: marker {last} (this thread saw {}; {hi} issued), counter {c}",
            seen_last[w]
        );
        seen_last[w] = last;
        Progress::add(&p.point_gets, 3 + MEMBERS as u64);
        rounds += 1;
        if rounds.is_multiple_of(32) {
            // Leave the two cores of a CI runner to the other roles too.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Calls `flush`, `compact` and `compact_range` at random moments.
fn compactor(db: Db, shared: Arc<Shared>) {
    let p = &shared.progress;
    let mut rng = fastrand::Rng::with_seed(mix(shared.seed, 0x5000));
    while !shared.stopped() {
        shared.nap(Duration::from_millis(rng.u64(20..250)));
        if shared.stopped() {
            break;
        }
        let started = Instant::now();
        let w = rng.usize(0..shared.writers);
        match rng.u8(0..6) {
            0 | 1 => {
                db.flush().expect("flush");
                Progress::add(&p.flush_calls, 1);
            }
            2 => {
                db.compact().expect("compact");
                Progress::add(&p.compact_calls, 1);
            }
            3 | 4 => {
                let hi = prefix(w + 1);
                db.compact_range(prefix(w)..hi).expect("compact_range");
                Progress::add(&p.compact_range_calls, 1);
            }
            _ => {
                db.compact_range(prefix(w)..).expect("compact_range from");
                Progress::add(&p.compact_range_calls, 1);
            }
        }
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        p.slowest_manual_micros.fetch_max(micros, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------

fn spawn<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> (String, JoinHandle<T>) {
    let h = std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .expect("spawn thread");
    (name, h)
}

/// The whole database against the writers' final states: a scan and
/// point reads of every counter and marker.
fn assert_db_matches(db: &Db, sims: &[Sim], ctx: &str) {
    let mut want = Model::new();
    for s in sims {
        want.extend(s.model());
    }
    assert_view_matches(db, &want, &[], ctx);
    for s in sims {
        let c = db.get(counter_key(s.w)).expect("get").map(|v| v.to_vec());
        let want_c = (s.counter > 0).then(|| s.counter.to_le_bytes().to_vec());
        assert_eq!(
            c, want_c,
            "{ctx}: writer {}'s counter after {} acknowledged increments",
            s.w, s.counter
        );
        let last = db.get(last_key(s.w)).expect("get").map(|v| v.to_vec());
        assert_eq!(
            last,
            (s.b > 0).then(|| s.b.to_string().into_bytes()),
            "{ctx}: writer {}'s marker",
            s.w
        );
        for g in 0..GROUPS {
            let h = db.get(header_key(s.w, g)).expect("get").map(|v| v.to_vec());
            let want_h = (s.version[g] > 0)
                .then(|| header_value(s.w, g, s.version[g], s.batch_of[g], s.deleted(g)));
            assert_eq!(h, want_h, "{ctx}: writer {} group {g}'s header", s.w);
        }
    }
}

#[test]
fn threads_see_atomic_batches_stable_snapshots_and_monotonic_versions() {
    let secs = env_num("RILLKV_STRESS_SECS", 6);
    let threads = env_num("RILLKV_STRESS_THREADS", 16).max(5) as usize;
    let stall = Duration::from_secs(env_num("RILLKV_WATCHDOG_SECS", 60));
    let seed = seed("stress_concurrency");

    let writers = (threads * 3 / 8).max(2);
    let iterators = (threads / 8).max(1);
    let points = (threads / 8).max(1);
    let snapshots = threads
        .saturating_sub(1 + writers + iterators + points)
        .max(1);

    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let shared = Arc::new(Shared {
        seed,
        writers,
        stop: AtomicBool::new(false),
        issued: (0..writers).map(|_| AtomicU64::new(0)).collect(),
        acked: (0..writers).map(|_| AtomicU64::new(0)).collect(),
        progress: Progress::default(),
        phase: AtomicU8::new(RUNNING),
        last_stats: Mutex::new((Instant::now(), String::new())),
    });

    let roles = vec![
        Role {
            name: "writer",
            threads: writers,
            counter: |p| Progress::get(&p.batches),
        },
        Role {
            name: "snapshot reader",
            threads: snapshots,
            counter: |p| Progress::get(&p.snapshot_scans) + Progress::get(&p.snapshot_compares),
        },
        Role {
            name: "iterator holder",
            threads: iterators,
            counter: |p| Progress::get(&p.iter_items),
        },
        Role {
            name: "point reader",
            threads: points,
            counter: |p| Progress::get(&p.point_gets),
        },
        Role {
            name: "compactor",
            threads: 1,
            counter: |p| {
                Progress::get(&p.flush_calls)
                    + Progress::get(&p.compact_calls)
                    + Progress::get(&p.compact_range_calls)
            },
        },
    ];
    let run_for = Duration::from_secs(secs);
    let dog = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || watchdog(shared, roles, stall, run_for))
            .expect("spawn watchdog")
    };

    let started = Instant::now();
    let writer_handles: Vec<_> = (0..writers)
        .map(|w| {
            let (db, sh) = (db.clone(), Arc::clone(&shared));
            spawn(format!("writer {w}"), move || writer(db, w, sh))
        })
        .collect();
    let mut others = Vec::new();
    for id in 0..snapshots {
        let (db, sh) = (db.clone(), Arc::clone(&shared));
        others.push(spawn(format!("snapshot reader {id}"), move || {
            snapshot_reader(db, id, sh)
        }));
    }
    for id in 0..iterators {
        let (db, sh) = (db.clone(), Arc::clone(&shared));
        others.push(spawn(format!("iterator holder {id}"), move || {
            iterator_holder(db, id, sh)
        }));
    }
    for id in 0..points {
        let (db, sh) = (db.clone(), Arc::clone(&shared));
        others.push(spawn(format!("point reader {id}"), move || {
            point_reader(db, id, sh)
        }));
    }
    {
        let (db, sh) = (db.clone(), Arc::clone(&shared));
        others.push(spawn("compactor".into(), move || compactor(db, sh)));
    }

    // Watch the tree while the roles run.
    let mut deepest = 0;
    let mut most_runs = 0;
    let mut most_pins = 0;
    let mut stalled_samples = 0u64;
    let mut samples = 0u64;
    let mut stall_reasons = std::collections::BTreeSet::new();
    while started.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(100));
        let s = db.stats();
        samples += 1;
        deepest = deepest.max(s.max_depth);
        most_runs = most_runs.max(s.runs.len());
        most_pins = most_pins.max(s.live_snapshots);
        if s.write_stalled || s.write_stall_reason.is_some() {
            stalled_samples += 1;
        }
        if let Some(r) = &s.write_stall_reason {
            // Keep the reason's kind, not its changing numbers.
            let kind: String = r.chars().take_while(|c| !c.is_ascii_digit()).collect();
            stall_reasons.insert(kind.trim().to_owned());
        }
        *shared.last_stats.lock().expect("stats lock") = (Instant::now(), s.to_string());
        let any_ended = writer_handles.iter().any(|(_, h)| h.is_finished())
            || others.iter().any(|(_, h)| h.is_finished());
        if any_ended {
            break; // a thread panicked: stop and report it below
        }
    }
    let ran = started.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    shared.phase.store(FINAL, Ordering::SeqCst);
    let mut failed = Vec::new();
    let mut sims = Vec::new();
    for (name, h) in writer_handles {
        match h.join() {
            Ok(sim) => sims.push(sim),
            Err(_) => failed.push(name),
        }
    }
    for (name, h) in others {
        if h.join().is_err() {
            failed.push(name);
        }
    }
    assert!(
        failed.is_empty(),
        "thread(s) {failed:?} panicked (messages above); replay with RILLKV_SEED={seed}"
    );
    for s in &sims {
        assert_eq!(
            s.b,
            shared.acked[s.w].load(Ordering::SeqCst),
            "writer {}'s acknowledged batches",
            s.w
        );
    }

    assert_db_matches(&db, &sims, "after the run");
    let stats = db.stats();
    let c = &stats.counters;
    let p = &shared.progress;
    let g = Progress::get;
    eprintln!(
        "stress_concurrency: {threads} threads ({writers} writers, {snapshots} snapshot \
         readers, {iterators} iterator holders, {points} point readers, 1 compactor) for \
         {ran:.1?}, seed {seed}\n  {}\n  engine: {} writes in {} commit groups, {} WAL fsyncs, \
         {} flushes, {} compactions (read {} KiB, wrote {} KiB, {} ms), {} run folds, \
         {} merge write-backs, write amplification {:.2}\n  stalls: {} stalls ({} ms), \
         {} slowdowns; {stalled_samples}/{samples} samples stalled or slowed {stall_reasons:?}; \
         deepest {deepest} runs, most runs {most_runs}, most pinned snapshots/iterators \
         {most_pins}",
        p.dump(),
        c.writes,
        c.write_groups,
        c.wal_syncs,
        c.flushes,
        c.compactions,
        c.compaction_bytes_read >> 10,
        c.compaction_bytes_written >> 10,
        c.compaction_micros / 1000,
        c.run_folds,
        c.merge_writebacks,
        c.write_amplification(),
        c.stalls,
        c.stall_micros / 1000,
        c.slowdowns,
    );
    assert_eq!(
        stats.last_compaction_error, None,
        "a background compaction failed"
    );
    assert!(
        c.flushes > 0 && c.compactions > 0,
        "flushes and compactions ran"
    );
    assert!(g(&p.snapshot_compares) > 0, "snapshots were rescanned");
    assert!(
        g(&p.compares_across_compaction) > 0,
        "a snapshot was rescanned across a compaction"
    );
    assert!(g(&p.iters_done) > 0, "iterators were read to the end");
    db.close().expect("close");

    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_db_matches(&db, &sims, "after a clean close and reopen");
    let report = db.verify().expect("verify");
    assert!(report.is_ok(), "after reopen: {report}");
    db.close().expect("close after reopen");

    shared.phase.store(DONE, Ordering::SeqCst);
    dog.join().expect("watchdog");
}
