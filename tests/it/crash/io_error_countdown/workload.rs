//! The countdown's workload: a deterministic sequence of steps (writes,
//! flushes, compactions) with its `BTreeMap` model, a filesystem wrapper
//! around `FaultFs` that counts file fsyncs and can record which mutating
//! operation is which, and the checks run after a reopen.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use rillkv::fs::{FaultFs, FileLock, Fs, WritableFile};
use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, Error, ErrorKind, Options, WriteBatch, WriteOptions};

use crate::support::{Model, add, assert_no_orphan_tables, key, le, scan_all, u64_of};

/// The database directory on the fault filesystem.
pub const DIR: &str = "/db";

// ---------------------------------------------------------------------------
// The filesystem wrapper

#[derive(Debug, Default)]
struct Shared {
    /// File fsyncs attempted so far (the count `fail_nth_sync` works on).
    syncs: AtomicU64,
    /// Whether to record `trace`.
    tracing: AtomicBool,
    /// One line per mutating operation, in the order they were issued.
    trace: Mutex<Vec<String>>,
}

impl Shared {
    fn note(&self, what: &str, path: &Path) {
        if self.tracing.load(Ordering::Relaxed) {
            self.trace.lock().push(format!("{what} {}", path.display()));
        }
    }
}

/// A `FaultFs` seen through a wrapper that counts file fsyncs (`FaultFs`
/// does not expose its count) and optionally records every mutating
/// operation, so that a failure point can be named ("op 123: fsync
/// /db/000007.rkt"). Cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct CountingFs {
    /// The filesystem doing the work and injecting the faults.
    pub fault: FaultFs,
    shared: Arc<Shared>,
}

impl CountingFs {
    /// A fresh, empty filesystem.
    pub fn new() -> Self {
        CountingFs::default()
    }

    /// Starts recording the trace of mutating operations.
    pub fn record_trace(&self) {
        self.shared.tracing.store(true, Ordering::Relaxed);
    }

    /// The recorded trace: line `i` is mutating operation `i + 1`.
    pub fn trace(&self) -> Vec<String> {
        self.shared.trace.lock().clone()
    }

    /// File fsyncs issued so far.
    pub fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }
}

struct CountingFile {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    shared: Arc<Shared>,
}

impl WritableFile for CountingFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.shared.note("append to", &self.path);
        self.inner.append(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        self.shared.note("fsync", &self.path);
        self.inner.sync()
    }
}

impl Fs for CountingFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.fault.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.shared.note("create", path);
        let inner = self.fault.create(path)?;
        Ok(Box::new(CountingFile {
            inner,
            path: path.to_path_buf(),
            shared: Arc::clone(&self.shared),
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Bytes> {
        self.fault.read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.shared
            .note(&format!("rename to {}:", to.display()), from);
        self.fault.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.shared.note("remove", path);
        self.fault.remove_file(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.fault.list_dir(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.shared.note("fsync dir", dir);
        self.fault.sync_dir(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        self.fault.exists(path)
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        self.fault.try_lock(path)
    }
}

/// The options of every open. Background compaction is off and merges use
/// one worker, so that the only threads doing I/O besides the caller's are
/// the flush thread, and the caller waits for it (`Db::flush`): the
/// sequence of mutating operations is then the same on every run, and
/// "fail after `n` operations" means the same point every time.
/// Merge write-backs (a read turning into a write) are off for the same
/// reason. The policy options (fan-in 2..3) still shape `compact_range`.
pub fn options(fs: &CountingFs) -> Options {
    Options::default()
        .fs(fs.clone())
        .memtable_size(4096)
        .max_manifest_size(1024)
        .block_size(1024)
        .merge_operator(U64Add)
        .merge_writeback_threshold(0)
        .compaction(
            CompactionOptions::default()
                .min_merge_width(2)
                .max_merge_files(3)
                .merge_workers(1)
                .background(false),
        )
}

// ---------------------------------------------------------------------------
// The workload and its model

/// One write inside a batch.
#[derive(Debug, Clone)]
pub enum Op {
    /// `put(key, value)`.
    Put(Vec<u8>, Vec<u8>),
    /// `delete(key)`.
    Delete(Vec<u8>),
    /// `merge(key, le(delta))` with `U64Add`.
    Merge(Vec<u8>, u64),
}

/// One call the workload makes.
#[derive(Debug, Clone)]
pub enum Step {
    /// `write_opt(batch, sync)`: one atomic batch.
    Write {
        /// The batch.
        ops: Vec<Op>,
        /// `WriteOptions::sync`.
        sync: bool,
    },
    /// `Db::flush`: seals the memtable (a rotation: new WAL) and flushes.
    Flush,
    /// `Db::compact_range(lo..=hi)`.
    CompactRange(Vec<u8>, Vec<u8>),
    /// `Db::compact`.
    Compact,
}

impl Step {
    /// Whether the step is a write.
    pub fn is_write(&self) -> bool {
        matches!(self, Step::Write { .. })
    }
}

/// Counter keys the workload merges into (and sometimes deletes or sets).
pub fn counter(i: u64) -> Vec<u8> {
    format!("c{i}").into_bytes()
}

/// Every key the workload may touch, plus the probe key: point lookups
/// cover deleted and never-written keys too.
pub fn universe() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..30).map(key).chain((0..5).map(counter)).collect();
    keys.push(PROBE_KEY.to_vec());
    keys.push(b"zzz".to_vec());
    keys
}

/// The key of the probe write made after the faults are cleared.
pub const PROBE_KEY: &[u8] = b"probe";

fn random_op(rng: &mut fastrand::Rng, serial: &mut u64) -> Op {
    *serial += 1;
    match rng.u8(0..10) {
        0..=3 => {
            let v = format!("v{serial:04}-{}", "x".repeat(rng.usize(0..24)));
            Op::Put(key(rng.u64(0..30)), v.into_bytes())
        }
        4 => Op::Put(counter(rng.u64(0..5)), le(rng.u64(0..100))),
        5 => Op::Delete(key(rng.u64(0..30))),
        6 => Op::Delete(counter(rng.u64(0..5))),
        _ => Op::Merge(counter(rng.u64(0..5)), rng.u64(1..1000)),
    }
}

fn random_write(rng: &mut fastrand::Rng, serial: &mut u64) -> Step {
    let n = if rng.u8(0..4) == 0 {
        rng.usize(2..5)
    } else {
        1
    };
    let ops = (0..n).map(|_| random_op(rng, serial)).collect();
    Step::Write {
        ops,
        sync: rng.u8(0..4) == 0,
    }
}

/// The workload: 24 segments of eight writes (puts, deletes, `U64Add`
/// merges, some batched, a quarter synced), each ended by a flush, with a
/// range compaction after every eighth (from the fifth); then a full compaction and a few
/// writes left in the WAL. Each segment stays well under `memtable_size`,
/// so memtables rotate only at the explicit flushes (checked by the
/// counting pass); the manifest rolls over several times.
pub fn workload() -> Vec<Step> {
    let mut rng = fastrand::Rng::with_seed(0x6_c0de);
    let mut serial = 0;
    let mut steps = Vec::new();
    for segment in 0..24 {
        for _ in 0..8 {
            steps.push(random_write(&mut rng, &mut serial));
        }
        steps.push(Step::Flush);
        if segment % 8 == 4 {
            steps.push(Step::CompactRange(key(5), key(20)));
        }
    }
    steps.push(Step::Compact);
    for _ in 0..6 {
        steps.push(random_write(&mut rng, &mut serial));
    }
    // End on a synced write so that the tail's durability is tested too.
    steps.push(Step::Write {
        ops: vec![Op::Merge(counter(0), 7), Op::Put(key(1), b"last".to_vec())],
        sync: true,
    });
    steps
}

/// Applies one batch to the model.
pub fn apply(model: &mut Model, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(k, v) => {
                model.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                model.remove(k);
            }
            Op::Merge(k, d) => {
                model.insert(k.clone(), add(model.get(k), *d));
            }
        }
    }
}

/// `models[p]` is the state after the first `p` of `batches`.
pub fn prefix_models<'a>(batches: impl IntoIterator<Item = &'a [Op]>) -> Vec<Model> {
    let mut models = vec![Model::new()];
    let mut m = Model::new();
    for ops in batches {
        apply(&mut m, ops);
        models.push(m.clone());
    }
    models
}

/// The batches of the write steps among `steps`.
pub fn batches(steps: &[Step]) -> Vec<&[Op]> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Write { ops, .. } => Some(ops.as_slice()),
            _ => None,
        })
        .collect()
}

/// Runs one step.
pub fn run_step(db: &Db, step: &Step) -> rillkv::Result<()> {
    match step {
        Step::Write { ops, sync } => {
            let mut b = WriteBatch::new();
            for op in ops {
                match op {
                    Op::Put(k, v) => b.put(k, v),
                    Op::Delete(k) => b.delete(k),
                    Op::Merge(k, d) => b.merge(k, le(*d)),
                };
            }
            db.write_opt(b, &WriteOptions::default().sync(*sync))
        }
        Step::Flush => db.flush(),
        Step::CompactRange(lo, hi) => db.compact_range(lo.clone()..=hi.clone()),
        Step::Compact => db.compact(),
    }
}

/// What one run of the workload did.
pub struct Run {
    /// The open database, unless the open failed.
    pub db: Option<Db>,
    /// The open's result.
    pub open: Result<(), Error>,
    /// Each step's result (all `Closed`-free errors when the open failed:
    /// those steps were not attempted and are `None`).
    pub results: Vec<Option<Result<(), Error>>>,
    /// `fs.op_count()` after the open and after each step.
    pub ops_after: Vec<u64>,
    /// File fsyncs after the open and after each step.
    pub syncs_after: Vec<u64>,
}

/// Opens the database on `fs` and runs every step, recording results and
/// operation counts. `arm` runs right after the open succeeds (to inject a
/// fault relative to that point).
pub fn run_workload(fs: &CountingFs, steps: &[Step], arm: impl FnOnce()) -> Run {
    let open = Db::open(DIR, options(fs));
    let mut run = Run {
        db: None,
        open: Ok(()),
        results: Vec::with_capacity(steps.len()),
        ops_after: vec![fs.fault.op_count()],
        syncs_after: vec![fs.syncs()],
    };
    let db = match open {
        Ok(db) => db,
        Err(e) => {
            run.open = Err(e);
            run.results = vec![None; steps.len()];
            return run;
        }
    };
    arm();
    for step in steps {
        run.results.push(Some(run_step(&db, step)));
        run.ops_after.push(fs.fault.op_count());
        run.syncs_after.push(fs.syncs());
    }
    run.db = Some(db);
    run
}

/// What a run's results say the database may hold.
pub struct Summary<'a> {
    /// The writes that may be in the database, in commit order: the
    /// acknowledged ones, then those that failed with `Io` (their record
    /// may have reached the WAL). Writes refused as `Poisoned` or `Closed`
    /// never reach the log and are left out.
    pub effective: Vec<&'a [Op]>,
    /// How many of `effective` were acknowledged (always its prefix).
    pub acked: usize,
    /// How many of `effective` must survive a power loss: up to the last
    /// acknowledged synced write or successful flush/compaction.
    pub durable: usize,
    /// Writes that failed with `Io`.
    pub io_failed_writes: usize,
    /// The first failing step and its error.
    pub first_failure: Option<(usize, Error)>,
}

/// Checks the results of `run` step by step and summarises them. Every
/// error must be `Io`, `Poisoned` or `Closed`; no write may be acknowledged
/// after a write failed, nor (if `frozen`: every mutating operation fails
/// once one has) after any step failed.
pub fn summarize<'a>(steps: &'a [Step], run: &Run, frozen: bool, ctx: &str) -> Summary<'a> {
    let mut s = Summary {
        effective: Vec::new(),
        acked: 0,
        durable: 0,
        io_failed_writes: 0,
        first_failure: None,
    };
    let mut first_write_failure: Option<(usize, Error)> = None;
    for (i, (step, result)) in steps.iter().zip(&run.results).enumerate() {
        let Some(result) = result else { continue };
        match (step, result) {
            (Step::Write { ops, sync }, Ok(())) => {
                let earlier = if frozen {
                    s.first_failure.as_ref()
                } else {
                    first_write_failure.as_ref()
                };
                if let Some((j, e)) = earlier {
                    panic!(
                        "{ctx}: step {i} ({step:?}) was acknowledged after step {j} \
                         failed with {e}"
                    );
                }
                s.effective.push(ops);
                s.acked += 1;
                if *sync {
                    s.durable = s.acked;
                }
            }
            (_, Ok(())) => s.durable = s.acked,
            (_, Err(e)) => {
                assert!(
                    expected_failure(e.kind()),
                    "{ctx}: step {i} ({step:?}) failed with an unexpected kind: {e:?}"
                );
                if let Step::Write { ops, .. } = step {
                    if first_write_failure.is_none() {
                        first_write_failure = Some((i, e.clone()));
                    }
                    if e.kind() == ErrorKind::Io {
                        s.effective.push(ops);
                        s.io_failed_writes += 1;
                    }
                }
                if s.first_failure.is_none() {
                    s.first_failure = Some((i, e.clone()));
                }
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Reading and checking

/// Point lookups of every key of [`universe`] agree with `want`.
pub fn assert_gets(db: &Db, want: &Model, ctx: &str) {
    for k in universe() {
        let got = db
            .get(&k)
            .unwrap_or_else(|e| panic!("{ctx}: get failed: {e}"))
            .map(|v| v.to_vec());
        assert_eq!(
            got,
            want.get(&k).cloned(),
            "{ctx}: get({}) disagrees with the scan",
            String::from_utf8_lossy(&k)
        );
    }
}

/// A short description of how `got` differs from `want`.
pub fn diff(got: &Model, want: &Model) -> String {
    let mut out = Vec::new();
    let keys: BTreeSet<&Vec<u8>> = got.keys().chain(want.keys()).collect();
    for k in keys {
        let (g, w) = (got.get(k), want.get(k));
        if g != w {
            let show = |v: Option<&Vec<u8>>| match v {
                None => "absent".to_owned(),
                Some(v) if v.len() == 8 => format!("{}", u64_of(v)),
                Some(v) => String::from_utf8_lossy(v).into_owned(),
            };
            out.push(format!(
                "{}: got {} want {}",
                String::from_utf8_lossy(k),
                show(g),
                show(w)
            ));
        }
    }
    out.join("; ")
}

/// Reopens the database on `fs` and checks that its state is `models[p]`
/// (plus the probe write, if `probe` is given) for some `p` in `lo..=hi`;
/// then that there is no orphan table, that it takes a write and closes.
/// Returns the `p` found.
pub fn reopen_and_check(
    fs: &CountingFs,
    models: &[Model],
    lo: usize,
    hi: usize,
    probe: Option<&[u8]>,
    ctx: &str,
) -> usize {
    let db = Db::open(DIR, options(fs)).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    let got = scan_all(&db).unwrap_or_else(|e| panic!("{ctx}: scan failed: {e}"));
    let candidate = |p: usize| {
        let mut m = models.get(p).expect("prefix in range").clone();
        if let Some(v) = probe {
            m.insert(PROBE_KEY.to_vec(), v.to_vec());
        }
        m
    };
    let Some(p) = (lo..=hi).find(|&p| candidate(p) == got) else {
        panic!(
            "{ctx}: the reopened state is no allowed prefix of the writes \
             (allowed: {lo}..={hi} writes{}); vs {lo}: [{}]; vs {hi}: [{}]",
            if probe.is_some() { " + the probe" } else { "" },
            diff(&got, &candidate(lo)),
            diff(&got, &candidate(hi)),
        )
    };
    assert_gets(&db, &got, &format!("{ctx}: after reopen"));
    db.flush()
        .unwrap_or_else(|e| panic!("{ctx}: flush after reopen: {e}"));
    assert_no_orphan_tables(&db, fs, Path::new(DIR), &format!("{ctx}: after reopen"));
    db.put("after-reopen", "ok")
        .unwrap_or_else(|e| panic!("{ctx}: a write after reopen failed: {e}"));
    db.close()
        .unwrap_or_else(|e| panic!("{ctx}: close after reopen: {e}"));
    p
}

/// Whether `kind` is one a call may fail with once the disk has failed.
pub fn expected_failure(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Io | ErrorKind::Poisoned | ErrorKind::Closed
    )
}
