//! The workloads, with db_bench's names and semantics, and their
//! measurement.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::engine::{self, Engine, EngineConfig, EngineKind, Result};
use crate::sys;

/// Every workload, in the order `--benchmarks all` runs them.
pub const ALL: &[&str] = &[
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readmissing",
    "seekrandom",
    "readseq",
    "readwhilewriting",
    "mergerandom",
    "readmerged",
    "compact",
    "fillsync",
    "openwal",
    "fillrandom4ks",
    "txnrandom",
    "txnhot",
    "txncounter",
    "casrandom",
];

mod txn;

/// Command-line options of `rillkv-bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Engine to run.
    #[arg(long, value_enum, default_value = "rillkv")]
    pub engine: EngineKind,
    /// Comma-separated workloads, run in order (`all` for every one). A
    /// name may end in `@N` to run it with N threads, e.g. `fillsync@2`.
    #[arg(
        long,
        default_value = "fillseq,fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readwhilewriting,mergerandom,readmerged,compact,fillsync"
    )]
    pub benchmarks: String,
    /// Number of keys (and of operations per workload).
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Operations of the read workloads (default: --num).
    #[arg(long)]
    pub reads: Option<u64>,
    /// Key size in bytes (at least 9).
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Fraction of each value that is random (db_bench's
    /// `compression_ratio`): 0.5 compresses to about half.
    #[arg(long, default_value_t = 0.5)]
    pub compressibility: f64,
    /// Threads per workload (the operations are split among them; in
    /// readwhilewriting these are the readers, plus one writer).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// fsync the WAL on every write of the fill and overwrite workloads.
    #[arg(long)]
    pub sync: bool,
    /// Database directory (default: a fresh directory under /tmp, removed
    /// at the end).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Keep what `--db` holds (db_bench's `use_existing_db`): read
    /// workloads then run on a database filled by an earlier invocation
    /// with the same `--num`, e.g. to profile them alone. Fill workloads
    /// still start fresh.
    #[arg(long, requires = "db")]
    pub use_existing_db: bool,
    /// Print the results as JSON on stdout (human lines go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Directory for the per-second timeline (`<engine>-timeline.json`)
    /// and its chart (`<engine>-timeline.svg`).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// After a write workload, wait up to this many seconds for flushes
    /// and compactions to finish; write amplification includes them.
    #[arg(long, default_value_t = 30.0)]
    pub settle_secs: f64,
    /// Distinct counters of mergerandom and readmerged (default: num / 10).
    #[arg(long)]
    pub merge_keys: Option<u64>,
    /// Rounds of readmerged's setup: each adds 1 to every counter, then
    /// flushes, so operands spread over this many tables.
    #[arg(long, default_value_t = 8)]
    pub merge_rounds: u64,
    /// Writes of fillsync (default: max(num / 1000, 1000), like db_bench's
    /// num / 1000).
    #[arg(long)]
    pub sync_num: Option<u64>,
    /// User bytes written before openwal closes and times the reopen.
    #[arg(long, default_value_t = 64 << 20)]
    pub openwal_bytes: u64,
    /// Random seed.
    #[arg(long, default_value_t = 301)]
    pub seed: u64,
    /// Hide the progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Write buffer (memtable) size in MiB, all engines.
    #[arg(long, default_value_t = 64)]
    pub memtable_mb: u64,
    /// Block cache size in MiB, all engines.
    #[arg(long, default_value_t = 64)]
    pub block_cache_mb: u64,
    /// Bloom filter bits per key, all engines.
    #[arg(long, default_value_t = 10)]
    pub bloom_bits: u32,
    /// rillkv: compression of table blocks: `lz4`, `zstd` (level 1),
    /// `zstd:N` or `none`; everywhere, unless `--bottommost-compression`
    /// says otherwise for the bottom. Default: rillkv's defaults (LZ4, with
    /// zstd level 1 at the bottom).
    #[arg(long, value_parser = parse_compression)]
    pub compression: Option<rillkv::Compression>,
    /// rillkv: compression of tables written at the bottom of the tree
    /// (same syntax as `--compression`).
    #[arg(long, value_parser = parse_compression)]
    pub bottommost_compression: Option<rillkv::Compression>,
    /// rillkv: compaction `max_merge_files`.
    #[arg(long)]
    pub max_merge_files: Option<usize>,
    /// rillkv: compaction `overlap_ratio_trigger`.
    #[arg(long)]
    pub overlap_ratio: Option<f64>,
    /// rillkv: compaction `max_memory` in MiB.
    #[arg(long)]
    pub max_memory_mb: Option<u64>,
    /// rillkv: compaction `min_merge_width`.
    #[arg(long)]
    pub min_merge_width: Option<usize>,
    /// rillkv: compaction `tier_size_ratio`.
    #[arg(long)]
    pub tier_size_ratio: Option<f64>,
    /// rillkv: compaction `merge_workers`.
    #[arg(long)]
    pub merge_workers: Option<usize>,
    /// rillkv: compaction `target_table_size` in MiB.
    #[arg(long)]
    pub target_table_mb: Option<u64>,
    /// rillkv: compaction `slowdown_runs`.
    #[arg(long)]
    pub slowdown_runs: Option<usize>,
    /// rillkv: compaction `stop_runs`.
    #[arg(long)]
    pub stop_runs: Option<usize>,
    /// rillkv: read tables through a memory map (`Options::mmap_reads`)
    /// instead of `pread` into the block cache.
    #[arg(long)]
    pub mmap_reads: bool,
}

impl BenchArgs {
    /// The engine configuration these options describe.
    pub fn engine_config(&self) -> EngineConfig {
        let mut c = rillkv::CompactionOptions::default();
        if let Some(v) = self.max_merge_files {
            c = c.max_merge_files(v);
        }
        if let Some(v) = self.overlap_ratio {
            c = c.overlap_ratio_trigger(v);
        }
        if let Some(v) = self.max_memory_mb {
            c = c.max_memory(v << 20);
        }
        if let Some(v) = self.min_merge_width {
            c = c.min_merge_width(v);
        }
        if let Some(v) = self.tier_size_ratio {
            c = c.tier_size_ratio(v);
        }
        if let Some(v) = self.merge_workers {
            c = c.merge_workers(v);
        }
        if let Some(v) = self.target_table_mb {
            c = c.target_table_size(v << 20);
        }
        if let Some(v) = self.slowdown_runs {
            c = c.slowdown_runs(v);
        }
        if let Some(v) = self.stop_runs {
            c = c.stop_runs(v);
        }
        EngineConfig {
            write_buffer: self.memtable_mb << 20,
            block_cache: self.block_cache_mb << 20,
            bloom_bits: self.bloom_bits,
            rillkv_compaction: c,
            rillkv_compression: self.compression,
            rillkv_bottommost_compression: self.bottommost_compression,
            rillkv_mmap_reads: self.mmap_reads,
            transactions: self.benchmarks == "all"
                || self.benchmarks.split(',').any(|name| {
                    let base = name.split('@').next().unwrap_or_default().trim();
                    txn::WORKLOADS.contains(&base)
                }),
        }
    }
}

/// One second of a workload.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Second {
    /// Seconds since the workload started.
    pub t: u64,
    /// Operations completed in that second.
    pub ops: u64,
    /// 99.9th percentile latency of that second's operations, µs.
    pub p999_us: f64,
    /// Milliseconds writers were stalled in that second (rillkv only).
    pub stall_ms: Option<f64>,
}

/// The measurements of one workload.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PhaseResult {
    /// Engine name.
    pub engine: String,
    /// Workload name (with `@N` if run with a thread override).
    pub benchmark: String,
    /// Threads.
    pub threads: usize,
    /// Operations timed.
    pub ops: u64,
    /// Reads that found their key (read workloads).
    pub found: u64,
    /// Wall-clock seconds of the timed part.
    pub secs: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// User MB (10^6 bytes of key + value) per second; for compact, live
    /// user bytes compacted per second.
    pub mb_per_sec: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// 99.9th percentile latency, µs.
    pub p999_us: f64,
    /// Slowest operation, µs.
    pub max_us: f64,
    /// CPU seconds of the process (all threads, background work too),
    /// including the settle time.
    pub cpu_secs: f64,
    /// Seconds waited after the timed part for background work to finish.
    pub settle_secs: f64,
    /// User bytes written (key + value, or key + 8 for a counter).
    pub user_bytes: u64,
    /// Bytes sent to storage (`/proc/self/io` write_bytes), timed part
    /// plus settle.
    pub disk_write_bytes: u64,
    /// disk_write_bytes / user_bytes (write workloads).
    pub write_amp: Option<f64>,
    /// Size of the database directory at the end.
    pub disk_bytes: u64,
    /// Live user bytes (distinct keys × (key + value)).
    pub live_bytes: u64,
    /// disk_bytes / live_bytes.
    pub space_amp: Option<f64>,
    /// Peak RSS during the workload, MiB.
    pub peak_rss_mb: f64,
    /// Peak anonymous RSS (`RssAnon`: heap, block cache, memtables),
    /// sampled every 50 ms, MiB.
    #[serde(default)]
    pub peak_rss_anon_mb: f64,
    /// Peak file-backed RSS (`RssFile`: mapped files), sampled likewise,
    /// MiB.
    #[serde(default)]
    pub peak_rss_file_mb: f64,
    /// Milliseconds writers were stalled (rillkv's stall counter).
    pub stall_ms: Option<f64>,
    /// Per-second timeline.
    pub timeline: Vec<Second>,
}

/// All results of one `rillkv-bench` run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunReport {
    /// Engine name.
    pub engine: String,
    /// How the engine was configured.
    pub config: String,
    /// The command line.
    pub command: String,
    /// One entry per workload.
    pub results: Vec<PhaseResult>,
}

const SPACE_DATA: u8 = b'd';
const SPACE_COUNTER: u8 = b'c';
const SPACE_MERGED: u8 = b'm';
const SPACE_WAL: u8 = b'w';

/// xorshift64*: fast, and good enough to pick keys.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

/// Values like db_bench's `RandomGenerator`: a 1 MiB buffer where each
/// 100-byte piece is `compressibility × 100` random bytes repeated.
struct ValueGen {
    data: Vec<u8>,
}

impl ValueGen {
    fn new(compressibility: f64, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0xABCD);
        let mut data = Vec::with_capacity(1 << 20);
        while data.len() < 1 << 20 {
            let raw = ((100.0 * compressibility) as usize).clamp(1, 100);
            let piece: Vec<u8> = (0..raw).map(|_| b' ' + (rng.below(95)) as u8).collect();
            let mut filled = 0;
            while filled < 100 {
                let take = (100 - filled).min(raw);
                data.extend_from_slice(&piece[..take]);
                filled += take;
            }
        }
        ValueGen { data }
    }
    fn value(&self, i: u64, len: usize) -> &[u8] {
        let span = self.data.len() - len.min(self.data.len());
        let start = (i.wrapping_mul(7919) % span.max(1) as u64) as usize;
        &self.data[start..start + len.min(self.data.len())]
    }
}

/// A set of key indexes, shared by threads, to count live keys.
struct BitSet(Vec<AtomicU64>);

impl BitSet {
    fn new(n: u64) -> Self {
        BitSet((0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
    }
    fn insert(&self, i: u64) {
        if let Some(w) = self.0.get((i / 64) as usize) {
            w.fetch_or(1 << (i % 64), Ordering::Relaxed);
        }
    }
    fn count(&self) -> u64 {
        self.0
            .iter()
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum()
    }
    fn clear(&self) {
        for w in &self.0 {
            w.store(0, Ordering::Relaxed);
        }
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Latencies of one thread: the whole workload and the current second.
struct Recorder<'a> {
    total: Histogram<u64>,
    second: Histogram<u64>,
    current: u64,
    start: Instant,
    shared: &'a Mutex<Vec<Histogram<u64>>>,
    counter: &'a AtomicU64,
    pending: u64,
}

impl<'a> Recorder<'a> {
    fn new(start: Instant, shared: &'a Mutex<Vec<Histogram<u64>>>, counter: &'a AtomicU64) -> Self {
        Recorder {
            total: new_hist(),
            second: new_hist(),
            current: 0,
            start,
            shared,
            counter,
            pending: 0,
        }
    }

    fn record(&mut self, began: Instant, ended: Instant) {
        let nanos = (ended - began).as_nanos().max(1) as u64;
        let _ = self.total.record(nanos.min(3_600_000_000_000));
        let sec = (ended - self.start).as_secs();
        if sec != self.current {
            self.publish();
            self.current = sec;
        }
        let _ = self.second.record(nanos.min(3_600_000_000_000));
        self.pending += 1;
        if self.pending == 64 {
            self.counter.fetch_add(64, Ordering::Relaxed);
            self.pending = 0;
        }
    }

    fn publish(&mut self) {
        if self.second.is_empty() {
            return;
        }
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        while shared.len() <= self.current as usize {
            shared.push(new_hist());
        }
        let _ = shared[self.current as usize].add(&self.second);
        self.second.reset();
    }

    fn finish(mut self) -> Histogram<u64> {
        self.publish();
        self.counter.fetch_add(self.pending, Ordering::Relaxed);
        self.total
    }
}

/// Per-thread state handed to an operation.
pub struct Ctx {
    rng: Rng,
    key: Vec<u8>,
    buf: Vec<u8>,
}

/// What one workload's operations produced.
struct OpsOutcome {
    hist: Histogram<u64>,
    found: u64,
    secs: f64,
    seconds: Vec<Second>,
    stall_ms: Option<f64>,
}

/// Runs workloads against one engine.
pub struct Runner {
    args: BenchArgs,
    cfg: EngineConfig,
    dir: PathBuf,
    remove_dir: bool,
    engine: Option<Box<dyn Engine>>,
    values: ValueGen,
    data_live: BitSet,
    counters_live: BitSet,
    merged_live: BitSet,
    merged_rounds: u64,
    /// Results so far.
    pub results: Vec<PhaseResult>,
    verbose_to_stderr: bool,
}

impl Runner {
    /// Opens the engine in `--db` (or a fresh temporary directory).
    pub fn new(args: BenchArgs) -> Result<Self> {
        if args.key_size < 9 {
            return Err("--key-size must be at least 9".into());
        }
        let (dir, remove_dir) = match &args.db {
            Some(d) => (d.clone(), false),
            None => (
                std::env::temp_dir().join(format!(
                    "rillkv-bench-{}-{}",
                    args.engine.name(),
                    std::process::id()
                )),
                true,
            ),
        };
        if !args.use_existing_db {
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir)?;
        let cfg = args.engine_config();
        let merge_keys = args.merge_keys.unwrap_or((args.num / 10).max(1));
        let runner = Runner {
            values: ValueGen::new(args.compressibility, args.seed),
            data_live: BitSet::new(args.num),
            counters_live: BitSet::new(merge_keys),
            merged_live: BitSet::new(merge_keys),
            merged_rounds: 0,
            engine: Some(engine::open(args.engine, &dir.join("db"), &cfg)?),
            verbose_to_stderr: args.json,
            cfg,
            dir,
            remove_dir,
            args,
            results: Vec::new(),
        };
        Ok(runner)
    }

    /// How the engine is configured.
    pub fn describe(&self) -> String {
        self.engine
            .as_ref()
            .map(|e| e.describe())
            .unwrap_or_default()
    }

    fn engine(&self) -> &dyn Engine {
        self.engine
            .as_deref()
            .expect("engine is open between workloads")
    }

    fn say(&self, line: &str) {
        if self.verbose_to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    fn merge_keys(&self) -> u64 {
        self.args.merge_keys.unwrap_or((self.args.num / 10).max(1))
    }

    fn key(&self, space: u8, i: u64, out: &mut Vec<u8>) {
        out.clear();
        out.push(space);
        out.extend_from_slice(&i.to_be_bytes());
        out.resize(self.args.key_size, b'0');
    }

    fn live_bytes(&self) -> u64 {
        let ks = self.args.key_size as u64;
        self.data_live.count() * (ks + self.args.value_size as u64)
            + (self.counters_live.count() + self.merged_live.count()) * (ks + 8)
    }

    /// Closes the engine, wipes the directory and opens a fresh one.
    fn fresh(&mut self) -> Result<()> {
        if let Some(e) = self.engine.take() {
            e.close()?;
        }
        std::fs::remove_dir_all(self.dir.join("db"))?;
        self.data_live.clear();
        self.counters_live.clear();
        self.merged_live.clear();
        self.merged_rounds = 0;
        self.engine = Some(engine::open(
            self.args.engine,
            &self.dir.join("db"),
            &self.cfg,
        )?);
        Ok(())
    }

    /// Runs every workload of `--benchmarks`.
    pub fn run_all(&mut self) -> Result<()> {
        let list = if self.args.benchmarks == "all" {
            ALL.join(",")
        } else {
            self.args.benchmarks.clone()
        };
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (base, threads) = match name.split_once('@') {
                Some((b, t)) => (
                    b,
                    t.parse()
                        .map_err(|_| format!("bad thread count in {name}"))?,
                ),
                None => (name, self.args.threads),
            };
            let result = self.run_one(base, name, threads.max(1))?;
            self.say(&format_line(&result));
            self.results.push(result);
        }
        Ok(())
    }

    /// Closes the engine and removes a temporary directory.
    pub fn finish(mut self) -> Result<Vec<PhaseResult>> {
        if let Some(e) = self.engine.take() {
            e.close()?;
        }
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        Ok(self.results)
    }

    fn run_one(&mut self, base: &str, label: &str, threads: usize) -> Result<PhaseResult> {
        let num = self.args.num;
        let reads = self.args.reads.unwrap_or(num);
        let kv = (self.args.key_size + self.args.value_size) as u64;
        let counter_bytes = self.args.key_size as u64 + 8;
        if matches!(
            base,
            "fillseq" | "fillrandom" | "fillsync" | "fillrandom4ks"
        ) {
            self.fresh()?;
        }
        // Setup that is not timed.
        if base == "readmerged" {
            self.setup_readmerged()?;
        }
        sys::reset_peak_rss();
        let io0 = sys::io_write_bytes().unwrap_or(0);
        let cpu0 = sys::cpu_seconds();
        let sync = self.args.sync;
        let vs = self.args.value_size;
        let mut user_bytes = 0;
        let mut settle = false;
        let mut mb_bytes = None;
        let outcome = match base {
            "fillseq" | "fillrandom" | "overwrite" | "fillsync" => {
                let random = base != "fillseq";
                let sync = sync || base == "fillsync";
                let ops = if base == "fillsync" {
                    self.args.sync_num.unwrap_or((num / 1000).max(1000))
                } else {
                    num
                };
                user_bytes = ops * kv;
                settle = !sync;
                self.run_ops(label, ops, threads, |r, e, c, i| {
                    let k = if random { c.rng.below(num) } else { i };
                    r.key(SPACE_DATA, k, &mut c.key);
                    let v = r.values.value(i, vs);
                    let began = Instant::now();
                    e.write_batch(&[(&c.key, v)], sync)?;
                    let ended = Instant::now();
                    r.data_live.insert(k);
                    Ok((began, ended, false))
                })?
            }
            "fillrandom4ks" => {
                // Atomic 2-keyspace batches: a random key written to keyspace
                // `i % 4` and to the next one (a record and its index entry);
                // `num` keys in all, in `num / 2` batches (one op each).
                let ops = (num / 2).max(1);
                user_bytes = ops * 2 * kv;
                settle = true;
                self.run_ops(label, ops, threads, |r, e, c, i| {
                    let k = c.rng.below(num);
                    r.key(SPACE_DATA, k, &mut c.key);
                    let v = r.values.value(i, vs);
                    let a = (i as usize) % engine::KEYSPACES;
                    let b = (a + 1) % engine::KEYSPACES;
                    let began = Instant::now();
                    e.write_batch_in(&[(a, &c.key, v), (b, &c.key, v)])?;
                    Ok((began, Instant::now(), false))
                })?
            }
            "readrandom" => self.run_ops(label, reads, threads, |r, e, c, _| {
                let k = c.rng.below(num);
                r.key(SPACE_DATA, k, &mut c.key);
                let began = Instant::now();
                let found = e.get(&c.key, &mut c.buf)?;
                Ok((began, Instant::now(), found))
            })?,
            "readmissing" => self.run_ops(label, reads, threads, |r, e, c, _| {
                let k = c.rng.below(num);
                r.key(SPACE_DATA, k, &mut c.key);
                c.key.push(b'.');
                let began = Instant::now();
                let found = e.get(&c.key, &mut c.buf)?;
                Ok((began, Instant::now(), found))
            })?,
            "seekrandom" => self.run_ops(label, reads, threads, |r, e, c, _| {
                let k = c.rng.below(num);
                r.key(SPACE_DATA, k, &mut c.key);
                let began = Instant::now();
                let n = e.scan(&c.key, 11)?;
                Ok((began, Instant::now(), n > 0))
            })?,
            "readseq" => self.run_readseq()?,
            "readwhilewriting" => self.run_readwhilewriting(label, reads, threads)?,
            "mergerandom" => {
                let keys = self.merge_keys();
                user_bytes = num * counter_bytes;
                settle = true;
                self.run_ops(label, num, threads, |r, e, c, _| {
                    let k = c.rng.below(keys);
                    r.key(SPACE_COUNTER, k, &mut c.key);
                    let began = Instant::now();
                    e.merge_add(&c.key, 1)?;
                    let ended = Instant::now();
                    r.counters_live.insert(k);
                    Ok((began, ended, false))
                })?
            }
            "readmerged" => {
                let keys = self.merge_keys();
                let expect = self.merged_rounds;
                self.run_ops(label, reads, threads, |r, e, c, _| {
                    let k = c.rng.below(keys);
                    r.key(SPACE_MERGED, k, &mut c.key);
                    let began = Instant::now();
                    let found = e.get(&c.key, &mut c.buf)?;
                    let ended = Instant::now();
                    let got = c
                        .buf
                        .get(..8)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_le_bytes);
                    if got != Some(expect) {
                        return Err(format!(
                            "readmerged: counter {k} is {got:?}, expected {expect}"
                        )
                        .into());
                    }
                    Ok((began, ended, found))
                })?
            }
            "compact" => {
                // MB/s of live user data, the same numerator for every
                // engine (directory sizes include preallocated journals).
                mb_bytes = Some(self.live_bytes());
                self.timed_single(label, |e| e.compact())?
            }
            "openwal" => self.run_openwal(label)?,
            other => match self.run_txn(other, label, threads)? {
                Some(outcome) => outcome,
                None => {
                    return Err(
                        format!("unknown benchmark {other}; known: {}", ALL.join(", ")).into(),
                    );
                }
            },
        };
        let settle_started = Instant::now();
        if settle {
            self.settle();
        }
        let settle_secs = if settle {
            settle_started.elapsed().as_secs_f64()
        } else {
            0.0
        };
        let cpu_secs = sys::cpu_seconds() - cpu0;
        let disk_write_bytes = sys::io_write_bytes().unwrap_or(0).saturating_sub(io0);
        let peak_rss_mb = sys::peak_rss_bytes() as f64 / (1 << 20) as f64;
        let (anon, file) = sys::peak_rss_split_bytes();
        let (peak_rss_anon_mb, peak_rss_file_mb) = (
            anon as f64 / (1 << 20) as f64,
            file as f64 / (1 << 20) as f64,
        );
        let disk_bytes = if base == "openwal" {
            sys::dir_size(&self.dir.join("openwal"))
        } else {
            sys::dir_size(&self.dir.join("db"))
        };
        let live_bytes = if base == "openwal" {
            self.args.openwal_bytes
        } else {
            self.live_bytes()
        };
        let ops = outcome.hist.len();
        let secs = outcome.secs.max(1e-9);
        let q = |p: f64| outcome.hist.value_at_quantile(p) as f64 / 1e3;
        Ok(PhaseResult {
            engine: self.args.engine.name().to_string(),
            benchmark: label.to_string(),
            threads,
            ops,
            found: outcome.found,
            secs,
            ops_per_sec: ops as f64 / secs,
            mb_per_sec: mb_bytes.unwrap_or(if user_bytes > 0 { user_bytes } else { ops * kv })
                as f64
                / 1e6
                / secs,
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: outcome.hist.max() as f64 / 1e3,
            cpu_secs,
            settle_secs,
            user_bytes,
            disk_write_bytes,
            write_amp: (user_bytes > 0).then(|| disk_write_bytes as f64 / user_bytes as f64),
            disk_bytes,
            live_bytes,
            space_amp: (live_bytes > 0).then(|| disk_bytes as f64 / live_bytes as f64),
            peak_rss_mb,
            peak_rss_anon_mb,
            peak_rss_file_mb,
            stall_ms: outcome.stall_ms,
            timeline: outcome.seconds,
        })
    }

    /// Waits until the engine reports no pending flush or compaction and
    /// the process has written nothing for a second, at most
    /// `--settle-secs`.
    fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs_f64(self.args.settle_secs);
        let mut last = sys::io_write_bytes().unwrap_or(0);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1000));
            let now = sys::io_write_bytes().unwrap_or(0);
            if now == last && !self.engine().busy() {
                return;
            }
            last = now;
        }
    }

    fn progress(&self, label: &str, total: u64) -> ProgressBar {
        let pb = if self.args.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4))
        };
        pb.set_style(
            ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_prefix(format!("{} {label}", self.args.engine.name()));
        pb
    }

    /// Runs `total` operations split over `threads` threads; `op` does one
    /// operation and returns when it began and ended and whether it found
    /// something.
    fn run_ops<F>(&self, label: &str, total: u64, threads: usize, op: F) -> Result<OpsOutcome>
    where
        F: Fn(&Runner, &dyn Engine, &mut Ctx, u64) -> Result<(Instant, Instant, bool)> + Sync,
    {
        let engine = self.engine();
        let shared = Mutex::new(Vec::new());
        let counter = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let pb = self.progress(label, total);
        let stalls = Mutex::new(Vec::new());
        let start = Instant::now();
        let per = total.div_ceil(threads as u64);
        let found = AtomicU64::new(0);
        let hists = std::thread::scope(|s| -> Result<Vec<Histogram<u64>>> {
            s.spawn(|| sample(engine, &done, &counter, &pb, &stalls));
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (shared, counter, op, found) = (&shared, &counter, &op, &found);
                    s.spawn(move || -> Result<Histogram<u64>> {
                        let mut rec = Recorder::new(start, shared, counter);
                        let mut ctx = Ctx {
                            rng: Rng::new(self.args.seed + 1000 * t as u64 + label.len() as u64),
                            key: Vec::new(),
                            buf: Vec::new(),
                        };
                        let (from, to) = (t as u64 * per, ((t as u64 + 1) * per).min(total));
                        let mut hits = 0;
                        for i in from..to {
                            let (b, e, f) = op(self, engine, &mut ctx, i)?;
                            rec.record(b, e);
                            hits += u64::from(f);
                        }
                        found.fetch_add(hits, Ordering::Relaxed);
                        Ok(rec.finish())
                    })
                })
                .collect();
            let results: Vec<_> = handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("benchmark thread panicked".into()))
                })
                .collect();
            done.store(true, Ordering::Relaxed);
            results.into_iter().collect()
        })?;
        let secs = start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let mut hist = new_hist();
        for h in &hists {
            hist.add(h)?;
        }
        let per_second = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        let stalls = stalls.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(OpsOutcome {
            found: found.load(Ordering::Relaxed),
            secs,
            stall_ms: stall_total(engine, &stalls),
            seconds: timeline(&per_second, &stalls),
            hist,
        })
    }

    fn timed_single(
        &self,
        label: &str,
        f: impl FnOnce(&dyn Engine) -> Result<()>,
    ) -> Result<OpsOutcome> {
        let engine = self.engine();
        let pb = self.progress(label, 1);
        let done = AtomicBool::new(false);
        let counter = AtomicU64::new(0);
        let stalls = Mutex::new(Vec::new());
        let start = Instant::now();
        std::thread::scope(|s| -> Result<()> {
            s.spawn(|| sample(engine, &done, &counter, &pb, &stalls));
            let r = f(engine);
            done.store(true, Ordering::Relaxed);
            r
        })?;
        let elapsed = start.elapsed();
        pb.finish_and_clear();
        let mut hist = new_hist();
        hist.record(elapsed.as_nanos().max(1) as u64)?;
        let stalls = stalls.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(OpsOutcome {
            found: 0,
            secs: elapsed.as_secs_f64(),
            stall_ms: stall_total(engine, &stalls),
            seconds: timeline(&[], &stalls),
            hist,
        })
    }

    fn run_readseq(&self) -> Result<OpsOutcome> {
        let engine = self.engine();
        let pb = self.progress(
            "readseq",
            self.data_live.count() + self.counters_live.count() + self.merged_live.count(),
        );
        let start = Instant::now();
        let (n, _bytes) = engine.scan_all(&|d| pb.inc(d))?;
        let elapsed = start.elapsed();
        pb.finish_and_clear();
        // One "operation" per entry; the latency recorded is the mean.
        let mut hist = new_hist();
        let mean = (elapsed.as_nanos() as u64 / n.max(1)).max(1);
        hist.record_n(mean, n.max(1))?;
        Ok(OpsOutcome {
            found: n,
            secs: elapsed.as_secs_f64(),
            stall_ms: None,
            seconds: Vec::new(),
            hist,
        })
    }

    fn run_readwhilewriting(&self, label: &str, reads: u64, threads: usize) -> Result<OpsOutcome> {
        let stop = AtomicBool::new(false);
        let writes = AtomicU64::new(0);
        let num = self.args.num;
        let vs = self.args.value_size;
        std::thread::scope(|s| -> Result<OpsOutcome> {
            let writer = s.spawn(|| -> Result<()> {
                let mut rng = Rng::new(self.args.seed ^ 0x5157);
                let mut key = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = rng.below(num);
                    self.key(SPACE_DATA, k, &mut key);
                    self.engine().put(&key, self.values.value(i, vs))?;
                    self.data_live.insert(k);
                    i += 1;
                }
                writes.store(i, Ordering::Relaxed);
                Ok(())
            });
            let out = self.run_ops(label, reads, threads, |r, e, c, _| {
                let k = c.rng.below(num);
                r.key(SPACE_DATA, k, &mut c.key);
                let began = Instant::now();
                let found = e.get(&c.key, &mut c.buf)?;
                Ok((began, Instant::now(), found))
            });
            stop.store(true, Ordering::Relaxed);
            writer
                .join()
                .unwrap_or_else(|_| Err("writer panicked".into()))?;
            let out = out?;
            self.say(&format!(
                "  readwhilewriting: the writer did {} puts ({:.0}/s) meanwhile",
                writes.load(Ordering::Relaxed),
                writes.load(Ordering::Relaxed) as f64 / out.secs.max(1e-9)
            ));
            Ok(out)
        })
    }

    /// Adds 1 to every counter of the readmerged key space
    /// `--merge-rounds` times, flushing after each round, so that each
    /// counter has operands in that many tables.
    fn setup_readmerged(&mut self) -> Result<()> {
        let keys = self.merge_keys();
        let rounds = self.args.merge_rounds;
        let pb = self.progress("readmerged setup", keys * rounds);
        let mut key = Vec::new();
        for _ in 0..rounds {
            for k in 0..keys {
                self.key(SPACE_MERGED, k, &mut key);
                self.engine().merge_add(&key, 1)?;
                self.merged_live.insert(k);
                if k % 4096 == 0 {
                    pb.inc(4096.min(keys - k));
                }
            }
            self.engine().flush()?;
            self.merged_rounds += 1;
        }
        pb.finish_and_clear();
        Ok(())
    }

    /// Writes `--openwal-bytes` of puts into a fresh database with a
    /// memtable large enough to hold them all, closes it (so they exist
    /// only in the WAL), then times the reopen and one read.
    fn run_openwal(&self, label: &str) -> Result<OpsOutcome> {
        let dir = self.dir.join("openwal");
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = self.cfg.clone();
        cfg.write_buffer = (self.args.openwal_bytes * 4).max(256 << 20);
        let kv = (self.args.key_size + self.args.value_size) as u64;
        let n = self.args.openwal_bytes / kv;
        let e = engine::open(self.args.engine, &dir, &cfg)?;
        let pb = self.progress(&format!("{label} load"), n);
        let mut key = Vec::new();
        let mut rng = Rng::new(self.args.seed ^ 0x0FE1);
        for i in 0..n {
            self.key(SPACE_WAL, rng.below(n), &mut key);
            e.put(&key, self.values.value(i, self.args.value_size))?;
            if i % 4096 == 0 {
                pb.inc(4096);
            }
        }
        pb.finish_and_clear();
        e.close()?;
        let mut buf = Vec::new();
        self.key(SPACE_WAL, 0, &mut key);
        let start = Instant::now();
        let e = engine::open(self.args.engine, &dir, &cfg)?;
        e.get(&key, &mut buf)?;
        let elapsed = start.elapsed();
        e.close()?;
        let mut hist = new_hist();
        hist.record(elapsed.as_nanos().max(1) as u64)?;
        Ok(OpsOutcome {
            found: 0,
            secs: elapsed.as_secs_f64(),
            stall_ms: None,
            seconds: Vec::new(),
            hist,
        })
    }
}

/// Once a second: progress bar, and the engine's stall counter.
fn sample(
    engine: &dyn Engine,
    done: &AtomicBool,
    counter: &AtomicU64,
    pb: &ProgressBar,
    stalls: &Mutex<Vec<u64>>,
) {
    let mut last_tick = Instant::now();
    let first = engine.stall_micros();
    if let Some(v) = first {
        stalls.lock().unwrap_or_else(|e| e.into_inner()).push(v);
    }
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        pb.set_position(counter.load(Ordering::Relaxed));
        sys::sample_rss_split();
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick += Duration::from_secs(1);
            if first.is_some()
                && let Some(v) = engine.stall_micros()
            {
                stalls.lock().unwrap_or_else(|e| e.into_inner()).push(v);
            }
        }
    }
}

fn stall_total(engine: &dyn Engine, stalls: &[u64]) -> Option<f64> {
    let first = *stalls.first()?;
    let last = engine.stall_micros()?;
    Some(last.saturating_sub(first) as f64 / 1e3)
}

fn timeline(per_second: &[Histogram<u64>], stalls: &[u64]) -> Vec<Second> {
    let n = per_second.len().max(stalls.len().saturating_sub(1));
    (0..n)
        .map(|t| {
            let h = per_second.get(t);
            Second {
                t: t as u64,
                ops: h.map_or(0, |h| h.len()),
                p999_us: h.map_or(0.0, |h| h.value_at_quantile(0.999) as f64 / 1e3),
                stall_ms: match (stalls.get(t), stalls.get(t + 1)) {
                    (Some(a), Some(b)) => Some(b.saturating_sub(*a) as f64 / 1e3),
                    _ => None,
                },
            }
        })
        .collect()
}

/// One db_bench-like line for a result.
pub fn format_line(r: &PhaseResult) -> String {
    let mut s = format!(
        "{:<20}: {:>10.3} micros/op {:>10.0} ops/sec {:>8.1} MB/s; p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.0} us; cpu {:.1} s",
        r.benchmark,
        1e6 / r.ops_per_sec.max(1e-9),
        r.ops_per_sec,
        r.mb_per_sec,
        r.p50_us,
        r.p99_us,
        r.p999_us,
        r.max_us,
        r.cpu_secs
    );
    let base = r.benchmark.split('@').next().unwrap_or_default();
    if txn::WORKLOADS.contains(&base) {
        let aborted = 100.0 * (1.0 - r.found as f64 / r.ops.max(1) as f64);
        s += &format!("; committed {}/{} ({aborted:.1}% aborted)", r.found, r.ops);
    } else if r.found > 0 && r.user_bytes == 0 {
        s += &format!("; found {}/{}", r.found, r.ops);
    }
    if let Some(w) = r.write_amp {
        s += &format!("; write-amp {w:.2} (settle {:.1} s)", r.settle_secs);
    }
    if let Some(a) = r.space_amp {
        s += &format!("; space-amp {a:.2} ({:.1} MB)", r.disk_bytes as f64 / 1e6);
    }
    if let Some(ms) = r.stall_ms {
        s += &format!("; stalled {ms:.0} ms");
    }
    s += &format!(
        "; peak RSS {:.0} MiB (anon {:.0}, file {:.0})",
        r.peak_rss_mb, r.peak_rss_anon_mb, r.peak_rss_file_mb
    );
    s
}

/// Writes the timeline JSON and its chart into `dir`.
pub fn write_timeline(dir: &Path, engine: &str, results: &[PhaseResult]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let series: Vec<_> = results
        .iter()
        .map(|r| serde_json::json!({"benchmark": r.benchmark, "seconds": r.timeline}))
        .collect();
    std::fs::write(
        dir.join(format!("{engine}-timeline.json")),
        serde_json::to_string_pretty(&series)?,
    )?;
    crate::chart::timeline_svg(&dir.join(format!("{engine}-timeline.svg")), engine, results)
}

/// Parses `lz4`, `zstd`, `zstd:N` or `none`.
fn parse_compression(s: &str) -> std::result::Result<rillkv::Compression, String> {
    match s {
        "none" => Ok(rillkv::Compression::None),
        "lz4" => Ok(rillkv::Compression::Lz4),
        "zstd" => Ok(rillkv::Compression::Zstd { level: 1 }),
        _ => match s.strip_prefix("zstd:").map(str::parse::<i32>) {
            Some(Ok(level)) => Ok(rillkv::Compression::Zstd { level }),
            _ => Err(format!(
                "unknown compression {s:?}: use lz4, zstd, zstd:N or none"
            )),
        },
    }
}
