//! The [`db_ops`] fuzz body: a database on a `FaultFs` driven by a
//! sequence of operations decoded from the input, compared with a
//! `BTreeMap` model, with crashes and injected I/O faults.
//!
//! # Model (as `tests/it/api/model_proptest.rs` and `tests/it/crash/io_error_countdown.rs`)
//! An *epoch* runs from one open to the next. Within it the harness keeps
//! the model state after each acknowledged write, the index of the last
//! one that must be durable (a synced write, or a successful flush or
//! compaction), and at most one write that failed with `Io` (its record
//! may have reached the log). After such a failure the harness makes no
//! more writes until the next open, so the writes that may exist always
//! form a sequence: every state the database may show is a prefix of it.
//!
//! - Without an armed fault every call must succeed, and every read shows
//!   exactly the model.
//! - With a fault armed, calls may fail with `Io` or `Poisoned` (nothing
//!   else); a write refused as `Poisoned` never reaches the log; reads
//!   still succeed and show the acknowledged writes (or those plus the
//!   failed one).
//! - A clean reopen recovers every acknowledged write (plus maybe the
//!   failed one); after a power loss (any `CrashMode`) the state is a
//!   prefix holding every write that had to be durable, and after a
//!   process crash (`KeepAll`) every acknowledged one. Faults are cleared
//!   before the reopen (or the reopen may fail once with `Io`), and the
//!   reopen must then succeed.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::log::{DIR, options};
use super::{Input, assert_kind, show};
use crate::error::ErrorKind;
use crate::fs::{CrashMode, FaultFs};
use crate::options::{Options, WriteOptions};
use crate::table::Compression;
use crate::{Db, Snapshot, WriteBatch};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// At most this many operations are decoded from one input.
const MAX_OPS: usize = 160;
/// Plain keys (puts and deletes) and counter keys (`U64Add` merges).
const KEYS: u8 = 24;
const COUNTERS: u8 = 4;

fn key(k: u8) -> Vec<u8> {
    format!("k{:02}", k % KEYS).into_bytes()
}

fn counter(c: u8) -> Vec<u8> {
    format!("c{}", c % COUNTERS).into_bytes()
}

/// One write inside a batch.
#[derive(Debug, Clone)]
enum Write {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Merge(Vec<u8>, u64),
}

fn apply(model: &mut Model, writes: &[Write]) {
    for w in writes {
        match w {
            Write::Put(k, v) => {
                model.insert(k.clone(), v.clone());
            }
            Write::Delete(k) => {
                model.remove(k);
            }
            Write::Merge(k, d) => {
                let old = model
                    .get(k)
                    .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                    .map_or(0, u64::from_le_bytes);
                model.insert(k.clone(), old.wrapping_add(*d).to_le_bytes().to_vec());
            }
        }
    }
}

fn crash_mode(mode: u8, seed: u64) -> CrashMode {
    match mode % 5 {
        0 => CrashMode::DropUnsynced,
        1 => CrashMode::KeepPrefix { seed },
        2 => CrashMode::KeepPrefixThenZeros { seed },
        3 => CrashMode::KeepPrefixThenGarbage { seed },
        _ => CrashMode::KeepAll,
    }
}

/// What one run did, so tests can check that seeds reach every path.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    pub ops: usize,
    pub acked: usize,
    /// Calls that failed (with a fault armed).
    pub failures: usize,
    pub reopens: usize,
    pub crashes: usize,
    pub flushes: usize,
    pub compactions: usize,
}

struct Harness {
    stats: Stats,
    fs: FaultFs,
    opts: Options,
    db: Option<Db>,
    /// `states[i]`: the model after the first `i` acknowledged writes of
    /// this epoch (`states[0]` is what the epoch's open showed).
    states: Vec<Model>,
    /// `states[durable..]` are what a power loss may leave.
    durable: usize,
    /// The model with the write that failed with `Io` applied, if one did.
    failed: Option<Model>,
    /// Whether a fault was armed in this epoch.
    armed: bool,
    snapshots: Vec<(Snapshot, Model)>,
    /// Makes every written value unique.
    serial: u64,
    /// Operations so far, for messages.
    step: usize,
}

impl Harness {
    fn new(config: u8) -> Self {
        let fs = FaultFs::new();
        let mut opts = options(&fs);
        if config & 1 == 1 {
            opts = opts.compression(Compression::None);
        }
        if config & 2 == 2 {
            opts = opts.bloom_bits_per_key(0);
        }
        if config & 4 == 4 {
            opts = opts.max_sealed_memtables(1);
        }
        let db = Db::open(DIR, opts.clone()).expect("open an empty database");
        Harness {
            stats: Stats::default(),
            fs,
            opts,
            db: Some(db),
            states: vec![Model::new()],
            durable: 0,
            failed: None,
            armed: false,
            snapshots: Vec::new(),
            serial: 0,
            step: 0,
        }
    }

    fn db(&self) -> &Db {
        self.db
            .as_ref()
            .expect("the harness always holds an open database")
    }

    fn model(&self) -> &Model {
        self.states.last().expect("states is never empty")
    }

    /// The states a read may show now.
    fn allowed(&self) -> Vec<&Model> {
        std::iter::once(self.model())
            .chain(self.failed.as_ref())
            .collect()
    }

    fn ctx(&self, what: &str) -> String {
        format!("op {} ({what}), armed {}", self.step, self.armed)
    }

    /// Checks the error of a call other than a read: only with a fault
    /// armed, and only `Io` or `Poisoned`.
    fn failure(&mut self, what: &str, e: &crate::Error) {
        let ctx = self.ctx(what);
        assert!(self.armed, "{ctx}: failed without an injected fault: {e}");
        assert_kind(&ctx, e, &[ErrorKind::Io, ErrorKind::Poisoned]);
        self.stats.failures += 1;
    }

    fn value(&mut self, len: u8) -> Vec<u8> {
        self.serial += 1;
        let mut v = format!("v{}:", self.serial).into_bytes();
        let fill = b'a' + (self.serial % 26) as u8;
        v.resize(v.len() + usize::from(len) * 4, fill);
        v
    }

    fn write(&mut self, writes: Vec<Write>, sync: bool) {
        if self.failed.is_some() {
            return; // no writes after a failed one until the next open
        }
        let mut batch = WriteBatch::new();
        for w in &writes {
            match w {
                Write::Put(k, v) => batch.put(k, v),
                Write::Delete(k) => batch.delete(k),
                Write::Merge(k, d) => batch.merge(k, d.to_le_bytes()),
            };
        }
        let mut next = self.model().clone();
        apply(&mut next, &writes);
        match self
            .db()
            .write_opt(batch, &WriteOptions::default().sync(sync))
        {
            Ok(()) => {
                self.stats.acked += 1;
                self.states.push(next);
                if sync {
                    self.durable = self.states.len() - 1;
                }
                if !self.armed {
                    for w in &writes {
                        let (Write::Put(k, _) | Write::Delete(k) | Write::Merge(k, _)) = w;
                        self.check_get(k);
                    }
                }
            }
            Err(e) => {
                self.failure("write", &e);
                if e.kind() == ErrorKind::Io {
                    self.failed = Some(next);
                }
            }
        }
    }

    fn check_get(&self, k: &[u8]) {
        let ctx = self.ctx("get");
        let got = self
            .db()
            .get(k)
            .unwrap_or_else(|e| panic!("{ctx}: get({}) failed: {e}", show(k)));
        let got = got.map(|v| v.to_vec());
        assert!(
            self.allowed().iter().any(|m| m.get(k) == got.as_ref()),
            "{ctx}: get({}) = {:?}, model {:?}",
            show(k),
            got.as_deref().map(show),
            self.model().get(k).map(|v| show(v))
        );
    }

    fn check_scan(&self, kind: u8, a: u8, b: u8) {
        let ctx = self.ctx("scan");
        let (lo, hi) = (key(a), key(b));
        let (iter, bounds): (_, KeyRange) = match kind % 4 {
            0 => (self.db().iter(), (Bound::Unbounded, Bound::Unbounded)),
            1 => (
                self.db().range(lo.clone()..hi.clone()),
                (Bound::Included(lo), Bound::Excluded(hi)),
            ),
            2 => (
                self.db().range(lo.clone()..=hi.clone()),
                (Bound::Included(lo), Bound::Included(hi)),
            ),
            _ => {
                let p = if a.is_multiple_of(3) {
                    b"c".to_vec()
                } else {
                    format!("k{}", a % 3).into_bytes()
                };
                let mut end = p.clone();
                if let Some(last) = end.last_mut() {
                    *last += 1;
                }
                (
                    self.db().prefix(&p),
                    (Bound::Included(p), Bound::Excluded(end)),
                )
            }
        };
        let reverse = b & 1 == 1;
        let items: Vec<(Vec<u8>, Vec<u8>)> = if reverse {
            Box::new(iter.rev()) as Box<dyn Iterator<Item = _>>
        } else {
            Box::new(iter)
        }
        .map(|r| {
            let (k, v) = r.unwrap_or_else(|e| panic!("{ctx}: scan failed: {e}"));
            (k.to_vec(), v.to_vec())
        })
        .collect();
        let empty = match (&bounds.0, &bounds.1) {
            (Bound::Included(l), Bound::Excluded(h)) => l >= h,
            (Bound::Included(l), Bound::Included(h)) => l > h,
            _ => false,
        };
        let matches = |m: &Model| {
            let mut want: Vec<(Vec<u8>, Vec<u8>)> = if empty {
                Vec::new()
            } else {
                m.range(bounds.clone())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            if reverse {
                want.reverse();
            }
            want == items
        };
        assert!(
            self.allowed().into_iter().any(matches),
            "{ctx}: scan {bounds:?} (reverse {reverse}) = {:?}; model {:?}",
            items.iter().map(|(k, _)| show(k)).collect::<Vec<_>>(),
            self.model().keys().map(|k| show(k)).collect::<Vec<_>>()
        );
    }

    /// Everything acknowledged so far may be lost only to a power loss.
    fn made_durable(&mut self) {
        self.durable = self.states.len() - 1;
    }

    fn flush(&mut self) {
        match self.db().flush() {
            Ok(()) => {
                self.stats.flushes += 1;
                self.made_durable();
            }
            Err(e) => self.failure("flush", &e),
        }
    }

    fn compact(&mut self, full: bool, a: u8, b: u8) {
        let result = if full {
            self.db().compact()
        } else {
            self.db().compact_range(key(a.min(b))..=key(a.max(b)))
        };
        match result {
            Ok(()) => {
                self.stats.compactions += 1;
                self.made_durable();
            }
            Err(e) => self.failure("compact", &e),
        }
    }

    fn snapshot_op(&mut self, sub: u8, idx: u8) {
        match sub % 3 {
            0 if self.failed.is_none() && self.snapshots.len() < 4 => {
                let snap = self.db().snapshot();
                let frozen = self.model().clone();
                self.snapshots.push((snap, frozen));
            }
            1 if !self.snapshots.is_empty() => {
                let ctx = self.ctx("snapshot read");
                let (snap, frozen) = &self.snapshots[usize::from(idx) % self.snapshots.len()];
                let got: Model = snap
                    .iter()
                    .map(|r| {
                        let (k, v) = r.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                        (k.to_vec(), v.to_vec())
                    })
                    .collect();
                assert!(got == *frozen, "{ctx}: a snapshot changed");
            }
            2 if !self.snapshots.is_empty() => {
                let n = self.snapshots.len();
                self.snapshots.remove(usize::from(idx) % n);
            }
            _ => {}
        }
    }

    fn read_all(&self, ctx: &str) -> Model {
        self.db()
            .iter()
            .map(|r| {
                let (k, v) = r.unwrap_or_else(|e| panic!("{ctx}: scan after reopen: {e}"));
                (k.to_vec(), v.to_vec())
            })
            .collect()
    }

    /// Opens again after a close or a crash and checks that the state is
    /// `states[p]` for some `p` in `lo..`, or the failed write's state;
    /// then starts a new epoch from it.
    fn reopen_and_check(&mut self, lo: usize, keep_fault: bool, what: &str) {
        let ctx = self.ctx(what);
        let (db, still_armed) = match Db::open(DIR, self.opts.clone()) {
            Ok(db) => (db, keep_fault && self.armed),
            Err(e) if keep_fault => {
                assert_kind(&ctx, &e, &[ErrorKind::Io]);
                self.fs.clear_faults();
                let db = Db::open(DIR, self.opts.clone())
                    .unwrap_or_else(|e| panic!("{ctx}: reopen with faults cleared: {e}"));
                (db, false)
            }
            Err(e) => panic!("{ctx}: reopen failed: {e}"),
        };
        self.db = Some(db);
        let got = self.read_all(&ctx);
        let ok = self.states.get(lo..).unwrap_or_default().contains(&got)
            || self.failed.as_ref() == Some(&got);
        assert!(
            ok,
            "{ctx}: recovered state is no allowed prefix (from {lo} of {} acknowledged, \
             failed write {}): got {:?}, model {:?}",
            self.states.len() - 1,
            self.failed.is_some(),
            got.keys().map(|k| show(k)).collect::<Vec<_>>(),
            self.model().keys().map(|k| show(k)).collect::<Vec<_>>()
        );
        self.states = vec![got];
        self.durable = 0;
        self.failed = None;
        self.armed = still_armed;
        for k in (0..KEYS).map(key).chain((0..COUNTERS).map(counter)) {
            self.check_get(&k);
        }
    }

    fn reopen(&mut self, keep_fault: bool) {
        self.snapshots.clear();
        if !keep_fault {
            self.fs.clear_faults();
        }
        let db = self.db.take().expect("open database");
        if let Err(e) = db.close() {
            assert!(keep_fault, "{}: close failed: {e}", self.ctx("close"));
            self.failure("close", &e);
        }
        let lo = self.states.len() - 1;
        self.stats.reopens += 1;
        self.reopen_and_check(lo, keep_fault, "reopen");
    }

    fn crash(&mut self, mode: CrashMode) {
        self.snapshots.clear();
        let db = self.db.take().expect("open database");
        self.fs.fail_after_ops(0);
        let _ = db.close(); // on a frozen disk: reaches nothing durable
        self.fs.crash(mode);
        let lo = if mode == CrashMode::KeepAll {
            self.states.len() - 1
        } else {
            self.durable
        };
        self.stats.crashes += 1;
        self.reopen_and_check(lo, false, "recovery after a crash");
    }

    fn arm(&mut self, which: u8, n: u8) {
        let n = 1 + u64::from(n % 24);
        match which % 3 {
            0 => self.fs.fail_nth_write(n),
            1 => self.fs.fail_nth_sync(n),
            _ => self.fs.fail_after_ops(n),
        }
        self.armed = true;
    }

    fn run(&mut self, input: &mut Input<'_>) {
        while !input.is_empty() && self.step < MAX_OPS {
            self.step += 1;
            match input.below(20) {
                0..=5 => {
                    let (k, len, sync) = (input.u8(), input.u8(), input.u8() & 1 == 1);
                    let v = self.value(len);
                    self.write(vec![Write::Put(key(k), v)], sync);
                }
                6 | 7 => {
                    let (k, sync) = (input.u8(), input.u8() & 1 == 1);
                    self.write(vec![Write::Delete(key(k))], sync);
                }
                8 | 9 => {
                    let (c, d, sync) = (input.u8(), input.u8(), input.u8() & 1 == 1);
                    self.write(vec![Write::Merge(counter(c), u64::from(d))], sync);
                }
                10 => {
                    let n = 1 + input.below(6);
                    let sync = input.u8() & 1 == 1;
                    let mut writes = Vec::new();
                    for _ in 0..n {
                        let (kind, k, x) = (input.below(5), input.u8(), input.u8());
                        writes.push(match kind {
                            0 => Write::Put(key(k), self.value(x)),
                            1 => Write::Delete(key(k)),
                            2 => Write::Merge(counter(k), u64::from(x)),
                            3 => Write::Put(counter(k), u64::from(x).to_le_bytes().to_vec()),
                            _ => Write::Delete(counter(k)),
                        });
                    }
                    self.write(writes, sync);
                }
                11 => {
                    let k = input.u8();
                    let k = if k & 0x80 == 0 { key(k) } else { counter(k) };
                    self.check_get(&k);
                }
                12 => {
                    let (kind, a, b) = (input.u8(), input.u8(), input.u8());
                    self.check_scan(kind, a, b);
                }
                13 => self.flush(),
                14 => {
                    let (full, a, b) = (input.u8() & 1 == 1, input.u8(), input.u8());
                    self.compact(full, a, b);
                }
                15 => {
                    let (sub, idx) = (input.u8(), input.u8());
                    self.snapshot_op(sub, idx);
                }
                16 => {
                    let keep = input.u8() & 1 == 1;
                    self.reopen(keep);
                }
                17 => {
                    let (mode, seed) = (input.u8(), input.u8());
                    self.crash(crash_mode(mode, u64::from(seed)));
                }
                _ => {
                    let (which, n) = (input.u8(), input.u8());
                    self.arm(which, n);
                }
            }
        }
    }
}

/// Bytes as a sequence of database operations (see the module doc): a
/// configuration byte (compression, bloom filter, stall threshold), then
/// operations: puts (values up to 1 KiB, so memtables rotate), deletes,
/// `U64Add` merges, mixed batches, each maybe synced; gets, scans (full,
/// ranges, prefixes, both directions); flushes; full and range
/// compactions; snapshots (taken, re-read, dropped); clean reopens
/// (optionally with the fault still armed); crashes in every `CrashMode`;
/// faults armed with `fail_nth_write`, `fail_nth_sync`, `fail_after_ops`.
///
/// Asserts the model of the module doc after every operation, and at the
/// end that a clean reopen shows the model.
#[doc(hidden)]
pub fn db_ops(data: &[u8]) {
    run(data);
}

/// [`db_ops`], returning what the run did.
pub(crate) fn run(data: &[u8]) -> Stats {
    let mut input = Input::new(data);
    let mut h = Harness::new(input.u8());
    h.run(&mut input);
    h.step += 1;
    h.reopen(false);
    h.check_scan(0, 0, 0);
    h.snapshots.clear();
    if let Some(db) = h.db.take() {
        db.close().expect("final close");
    }
    h.stats.ops = h.step;
    h.stats
}
