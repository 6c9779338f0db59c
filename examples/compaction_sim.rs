//! Drives the merge policy ([`TieredPolicy`]) on synthetic flushes, with no
//! I/O, and prints the tree's shape as it evolves plus its amplification.
//!
//! Each table is modelled by its sorted keys (`u32`) with the flush that
//! wrote each key's version, so merges compute real output sizes (the union
//! of their inputs' keys, newest version kept) and real key ranges. Outputs
//! are split at `target_table_size` on key boundaries and join the job's
//! output run; each flush is a new run, newer than every other. After each
//! flush the policy runs to a fixed point (pick and apply until it picks
//! nothing). At the end the simulator checks that every key reads its
//! newest version and that versions only get older from newer to older runs
//! — what a wrong window choice would break.
//!
//! Workloads (each `--flushes` flushes of `--keys` keys drawn from a
//! universe of `--universe` keys):
//! - `sequential`: consecutive keys, each flush after the last;
//! - `uniform`: keys drawn uniformly at random;
//! - `skewed`: Zipf-like (log-uniform ranks): a hot range at the low keys
//!   with a long cold tail;
//! - `late` (not in the default set): sequential with 2% of each flush's
//!   keys arriving late, inside the previous flush's range, as in
//!   time-series data.
//!
//! ```text
//! cargo run --release --features viz --example compaction_sim                 # all three, summary
//! cargo run --release --features viz --example compaction_sim -- uniform --flushes 500 --quiet
//! cargo run --release --features viz --example compaction_sim -- skewed --min-merge-width 3 \
//!     --tier-size-ratio 1.5 --max-merge-files 10 --overlap-ratio 0.6
//! cargo run --release --features viz --example compaction_sim -- uniform --svg /tmp/sim --svg-every 25
//! ```
//!
//! `--svg DIR` draws the tree with `rillkv::compaction::svg` (the drawing
//! `rillkv shape` makes of a real database) into
//! `DIR/<workload>/step-NNN.svg` right after flush NNN, before the policy
//! runs, so the job it is about to pick is outlined.
//!
//! Figures:
//! - **write amplification**: bytes written by flushes and compactions ÷
//!   bytes flushed;
//! - **runs**: sorted runs in the tree (max over the simulation, final);
//! - **depth**: the deepest overlap group's run count (`TreeShape::max_depth`,
//!   what backpressure sees), and **probe**: the most tables whose key range
//!   holds one key — the tables a point read may probe without filters;
//! - **space amplification**: total table bytes ÷ bytes of the unique live
//!   keys (max over the simulation, final).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rillkv::CompactionOptions;
use rillkv::compaction::svg::{self, SvgOptions};
use rillkv::compaction::{
    CompactionJob, CompactionPolicy, CompactionReason, KeyRange, RunShape, TableShape,
    TieredPolicy, TreeShape,
};

const USAGE: &str = "\
usage: compaction_sim [WORKLOAD...] [OPTIONS]

workloads: sequential uniform skewed late all   (default: sequential uniform skewed)

options:
  --flushes N              flushes per workload (default 200)
  --keys N                 keys per flush (default 10000)
  --universe N             distinct keys a workload draws from (default 2000000)
  --entry-bytes N          bytes per key-value entry on disk (default 116)
  --seed N                 random seed (default 1)
  --min-merge-width N      CompactionOptions overrides (defaults from
  --tier-size-ratio X        CompactionOptions::default())
  --max-merge-files N
  --overlap-ratio X
  --target-table-size N
  --draw-every K           draw the whole tree every K flushes (default 50, 0: never)
  --quiet                  print only the summary
  --max-picks N            cap on jobs per fixed point (default 1000)
  --svg DIR                draw the tree as SVG (rillkv::compaction::svg) into
                           DIR/<workload>/step-NNN.svg, right after flush NNN and
                           before the policy runs, so the job it picks next is outlined
  --svg-every K            draw every K flushes (default 10) and after the last";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Sequential,
    Uniform,
    Skewed,
    Late,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Sequential => "sequential",
            Workload::Uniform => "uniform",
            Workload::Skewed => "skewed",
            Workload::Late => "late",
        }
    }
}

#[derive(Debug, Clone)]
struct Config {
    workloads: Vec<Workload>,
    flushes: u32,
    keys: u32,
    universe: u32,
    entry_bytes: u64,
    seed: u64,
    draw_every: u32,
    quiet: bool,
    max_picks: usize,
    svg_dir: Option<PathBuf>,
    svg_every: u32,
    opts: CompactionOptions,
}

fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut cfg = Config {
        workloads: Vec::new(),
        flushes: 200,
        keys: 10_000,
        universe: 2_000_000,
        entry_bytes: 116,
        seed: 1,
        draw_every: 50,
        quiet: false,
        max_picks: 1000,
        svg_dir: None,
        svg_every: 10,
        opts: CompactionOptions::default(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<String, String> {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
            v.parse().map_err(|_| format!("{name}: bad value `{v}`"))
        }
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "sequential" => cfg.workloads.push(Workload::Sequential),
            "uniform" => cfg.workloads.push(Workload::Uniform),
            "skewed" => cfg.workloads.push(Workload::Skewed),
            "late" => cfg.workloads.push(Workload::Late),
            "all" => cfg.workloads.extend([
                Workload::Sequential,
                Workload::Uniform,
                Workload::Skewed,
                Workload::Late,
            ]),
            "--flushes" | "-n" => cfg.flushes = num(arg, &value(arg)?)?,
            "--keys" | "-k" => cfg.keys = num(arg, &value(arg)?)?,
            "--universe" => cfg.universe = num(arg, &value(arg)?)?,
            "--entry-bytes" => cfg.entry_bytes = num(arg, &value(arg)?)?,
            "--seed" => cfg.seed = num(arg, &value(arg)?)?,
            "--draw-every" => cfg.draw_every = num(arg, &value(arg)?)?,
            "--max-picks" => cfg.max_picks = num(arg, &value(arg)?)?,
            "--quiet" | "-q" => cfg.quiet = true,
            "--svg" => cfg.svg_dir = Some(PathBuf::from(value(arg)?)),
            "--svg-every" => cfg.svg_every = num(arg, &value(arg)?)?,
            "--min-merge-width" => {
                cfg.opts = cfg.opts.min_merge_width(num(arg, &value(arg)?)?);
            }
            "--tier-size-ratio" => {
                cfg.opts = cfg.opts.tier_size_ratio(num(arg, &value(arg)?)?);
            }
            "--max-merge-files" => {
                cfg.opts = cfg.opts.max_merge_files(num(arg, &value(arg)?)?);
            }
            "--overlap-ratio" => {
                cfg.opts = cfg.opts.overlap_ratio_trigger(num(arg, &value(arg)?)?);
            }
            "--target-table-size" => {
                cfg.opts = cfg.opts.target_table_size(num(arg, &value(arg)?)?);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if cfg.workloads.is_empty() {
        cfg.workloads = vec![Workload::Sequential, Workload::Uniform, Workload::Skewed];
    }
    let o = &cfg.opts;
    if cfg.keys == 0 || cfg.universe == 0 || cfg.entry_bytes == 0 {
        return Err("--keys, --universe and --entry-bytes must be positive".into());
    }
    if o.min_merge_width < 2 || o.max_merge_files < 2 {
        return Err("--min-merge-width and --max-merge-files must be at least 2".into());
    }
    if !(o.overlap_ratio_trigger > 0.0 && o.overlap_ratio_trigger < 1.0) {
        return Err("--overlap-ratio must be between 0 and 1".into());
    }
    if !(o.tier_size_ratio.is_finite() && o.tier_size_ratio > 0.0) {
        return Err("--tier-size-ratio must be positive".into());
    }
    Ok(cfg)
}

// ---------------------------------------------------------------------------
// The model tree.

/// One entry: key in the high 32 bits, the version (flush number that wrote
/// it) in the low 32, so a table's entries sort by key.
type Entry = u64;

fn key_of(e: Entry) -> u32 {
    (e >> 32) as u32
}

fn version_of(e: Entry) -> u32 {
    e as u32
}

fn entry(key: u32, version: u32) -> Entry {
    (u64::from(key) << 32) | u64::from(version)
}

/// Keys as big-endian bytes, so byte order is numeric order.
fn key_bytes(key: u32) -> Vec<u8> {
    key.to_be_bytes().to_vec()
}

struct SimTable {
    number: u64,
    /// Sorted by key, one entry per key.
    entries: Vec<Entry>,
}

impl SimTable {
    fn min(&self) -> u32 {
        self.entries.first().map_or(0, |&e| key_of(e))
    }
    fn max(&self) -> u32 {
        self.entries.last().map_or(0, |&e| key_of(e))
    }
}

struct SimRun {
    id: u64,
    /// Sorted by key, disjoint.
    tables: Vec<SimTable>,
}

#[derive(Default)]
struct Counters {
    flushed_bytes: u64,
    compacted_bytes: u64,
    jobs: [u64; 4],
    job_bytes: [u64; 4],
}

fn reason_index(r: CompactionReason) -> usize {
    match r {
        CompactionReason::FileCount => 0,
        CompactionReason::OverlapRatio => 1,
        CompactionReason::SizeTiered => 2,
        CompactionReason::Manual => 3,
    }
}

fn reason_letter(r: CompactionReason) -> char {
    ['F', 'O', 'S', 'M'][reason_index(r)]
}

struct Tree {
    entry_bytes: u64,
    keys_per_table: usize,
    /// Newest first.
    runs: Vec<SimRun>,
    next_run: u64,
    next_table: u64,
    counters: Counters,
}

impl Tree {
    fn new(entry_bytes: u64, target_table_size: u64) -> Self {
        Tree {
            entry_bytes,
            keys_per_table: (target_table_size / entry_bytes).max(1) as usize,
            runs: Vec::new(),
            next_run: 1,
            next_table: 1,
            counters: Counters::default(),
        }
    }

    fn table_bytes(&self, t: &SimTable) -> u64 {
        t.entries.len() as u64 * self.entry_bytes
    }

    fn shape(&self) -> TreeShape {
        TreeShape::new(
            self.runs
                .iter()
                .map(|r| RunShape {
                    id: r.id,
                    tables: r
                        .tables
                        .iter()
                        .map(|t| TableShape {
                            number: t.number,
                            range: KeyRange::new(key_bytes(t.min()), key_bytes(t.max())),
                            size: self.table_bytes(t),
                        })
                        .collect(),
                })
                .collect(),
        )
    }

    /// Splits sorted, deduplicated entries into tables of at most
    /// `keys_per_table` keys.
    fn split(&mut self, entries: &[Entry]) -> Vec<SimTable> {
        entries
            .chunks(self.keys_per_table)
            .map(|chunk| {
                let number = self.next_table;
                self.next_table += 1;
                SimTable {
                    number,
                    entries: chunk.to_vec(),
                }
            })
            .collect()
    }

    /// Flushes sorted unique `keys` written at `version` as a new run.
    fn flush(&mut self, keys: &[u32], version: u32) {
        let entries: Vec<Entry> = keys.iter().map(|&k| entry(k, version)).collect();
        let tables = self.split(&entries);
        self.counters.flushed_bytes += entries.len() as u64 * self.entry_bytes;
        let id = self.next_run;
        self.next_run += 1;
        self.runs.insert(0, SimRun { id, tables });
    }

    /// Runs `job`: merges its input tables (newest version of each key
    /// wins), writes the outputs into `job.output_run`.
    fn apply(&mut self, job: &CompactionJob) -> Result<(), String> {
        let inputs: HashSet<u64> = job.tables().collect();
        let mut merged: Vec<u64> = Vec::new();
        let mut found = 0;
        for run in &mut self.runs {
            run.tables.retain(|t| {
                if !inputs.contains(&t.number) {
                    return true;
                }
                found += 1;
                // Newest version first within a key: sort on !version.
                merged.extend(t.entries.iter().map(|&e| e ^ u64::from(u32::MAX)));
                false
            });
        }
        if found != inputs.len() {
            return Err(format!("job names {} tables, {found} exist", inputs.len()));
        }
        merged.sort_unstable();
        merged.dedup_by(|later, first| key_of(*later) == key_of(*first));
        for e in &mut merged {
            *e ^= u64::from(u32::MAX);
        }
        let outputs = self.split(&merged);
        self.counters.compacted_bytes += merged.len() as u64 * self.entry_bytes;
        let i = reason_index(job.reason);
        self.counters.jobs[i] += 1;
        self.counters.job_bytes[i] += merged.len() as u64 * self.entry_bytes;
        let run = self
            .runs
            .iter_mut()
            .find(|r| r.id == job.output_run)
            .ok_or_else(|| format!("output run {} does not exist", job.output_run))?;
        run.tables.extend(outputs);
        run.tables.sort_by_key(SimTable::min);
        if let Some(w) = run.tables.windows(2).find(|w| w[0].max() >= w[1].min()) {
            return Err(format!(
                "run {} now has overlapping tables {} and {}",
                run.id, w[0].number, w[1].number
            ));
        }
        self.runs.retain(|r| !r.tables.is_empty());
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.runs
            .iter()
            .flat_map(|r| &r.tables)
            .map(|t| self.table_bytes(t))
            .sum()
    }

    fn table_count(&self) -> usize {
        self.runs.iter().map(|r| r.tables.len()).sum()
    }

    /// The most tables whose key range holds one key (sweep over ranges).
    fn probe_depth(&self) -> usize {
        let mut events: Vec<(u32, i32)> = Vec::new();
        for t in self.runs.iter().flat_map(|r| &r.tables) {
            events.push((t.min(), 1));
            // Closed range: the table leaves after its max key.
            events.push((t.max().saturating_add(1), -1));
        }
        // Leaving before entering at the same key.
        events.sort_unstable();
        let (mut depth, mut max) = (0i32, 0i32);
        for (_, d) in events {
            depth += d;
            max = max.max(depth);
        }
        max as usize
    }

    /// Checks that every written key reads its newest version and that a
    /// key's versions get strictly older from newer runs to older ones.
    fn check_versions(&self, latest: &[u32]) -> Result<(), String> {
        const NONE: u32 = u32::MAX;
        let mut seen = vec![NONE; latest.len()];
        for run in &self.runs {
            for t in &run.tables {
                for &e in &t.entries {
                    let (k, v) = (key_of(e) as usize, version_of(e));
                    let Some(slot) = seen.get_mut(k) else {
                        return Err(format!("key {k} outside the universe"));
                    };
                    if *slot == NONE {
                        if latest.get(k) != Some(&v) {
                            return Err(format!(
                                "key {k} reads version {v}, newest is {:?} (run {})",
                                latest.get(k),
                                run.id
                            ));
                        }
                    } else if v >= *slot {
                        return Err(format!(
                            "key {k}: version {v} in run {} under version {}",
                            run.id, *slot
                        ));
                    }
                    *slot = v;
                }
            }
        }
        let missing = latest
            .iter()
            .zip(&seen)
            .filter(|&(&l, &s)| l != NONE && s == NONE)
            .count();
        if missing > 0 {
            return Err(format!("{missing} written keys are missing"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Workloads.

struct KeyGen {
    workload: Workload,
    rng: fastrand::Rng,
    universe: u32,
    keys: u32,
}

impl KeyGen {
    /// The sorted, unique keys of flush `i` (a memtable holds one version
    /// per key).
    fn flush_keys(&mut self, i: u32) -> Vec<u32> {
        let u = u64::from(self.universe);
        let start = u64::from(i) * u64::from(self.keys);
        let seq = |j: u64| ((start + j) % u) as u32;
        let mut keys: Vec<u32> = match self.workload {
            Workload::Sequential => (0..u64::from(self.keys)).map(seq).collect(),
            Workload::Uniform => (0..self.keys)
                .map(|_| self.rng.u32(0..self.universe))
                .collect(),
            Workload::Skewed => {
                // Log-uniform ranks: density ~ 1/rank, Zipf with s = 1.
                let ln_u = (u as f64).ln();
                (0..self.keys)
                    .map(|_| {
                        let r = (self.rng.f64() * ln_u).exp() - 1.0;
                        (r as u32).min(self.universe - 1)
                    })
                    .collect()
            }
            Workload::Late => {
                let keys = u64::from(self.keys);
                let late = keys / 50;
                let mut v: Vec<u32> = (0..keys - late).map(seq).collect();
                if i > 0 {
                    let prev = start.saturating_sub(keys);
                    v.extend((0..late).map(|_| ((prev + self.rng.u64(0..keys)) % u) as u32));
                }
                v
            }
        };
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

// ---------------------------------------------------------------------------
// Printing.

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 100.0 || unit == 0 {
        format!("{v:.0}{}", UNITS[unit])
    } else if v >= 10.0 {
        format!("{v:.1}{}", UNITS[unit])
    } else {
        format!("{v:.2}{}", UNITS[unit])
    }
}

/// Run sizes, newest first, capped.
fn sketch(tree: &Tree) -> String {
    const SHOWN: usize = 10;
    let mut s = String::new();
    for r in tree.runs.iter().take(SHOWN) {
        let bytes: u64 = r.tables.iter().map(|t| tree.table_bytes(t)).sum();
        let _ = write!(s, " {}", human(bytes));
        if r.tables.len() > 1 {
            let _ = write!(s, "/{}", r.tables.len());
        }
    }
    if tree.runs.len() > SHOWN {
        let _ = write!(s, " … +{} runs", tree.runs.len() - SHOWN);
    }
    s
}

/// Every run as a bar over the key universe: `#` where the run has tables,
/// `|` where a table starts, `.` where it has none.
fn draw(tree: &Tree, universe: u32) {
    const COLS: u64 = 64;
    const HEAD: usize = 16;
    const TAIL: usize = 4;
    let u = u64::from(universe);
    let col = |k: u32| ((u64::from(k) * COLS / u) as usize).min(COLS as usize - 1);
    let n = tree.runs.len();
    println!(
        "    {:>6} {:>6} {:>8}  keys 0 .. {universe}",
        "run", "tables", "bytes"
    );
    for (i, r) in tree.runs.iter().enumerate() {
        if n > HEAD + TAIL && i == HEAD {
            println!("    {:>6} ({} runs)", "…", n - HEAD - TAIL);
        }
        if n > HEAD + TAIL && (HEAD..n - TAIL).contains(&i) {
            continue;
        }
        let mut bar = vec!['.'; COLS as usize];
        for t in &r.tables {
            for c in bar.iter_mut().take(col(t.max()) + 1).skip(col(t.min())) {
                *c = '#';
            }
        }
        if r.tables.len() > 1 {
            for t in r.tables.iter().skip(1) {
                if let Some(c) = bar.get_mut(col(t.min())) {
                    *c = '|';
                }
            }
        }
        let bytes: u64 = r.tables.iter().map(|t| tree.table_bytes(t)).sum();
        println!(
            "    {:>6} {:>6} {:>8}  {}",
            r.id,
            r.tables.len(),
            human(bytes),
            bar.into_iter().collect::<String>()
        );
    }
}

// ---------------------------------------------------------------------------
// The simulation.

struct Summary {
    workload: Workload,
    unique_keys: u64,
    flushed: u64,
    written: u64,
    max_runs: usize,
    final_runs: usize,
    final_tables: usize,
    max_depth: usize,
    final_depth: usize,
    max_probe: usize,
    max_space_amp: f64,
    final_space_amp: f64,
    jobs: [u64; 4],
    job_bytes: [u64; 4],
    capped: u32,
    millis: u128,
}

impl Summary {
    fn write_amp(&self) -> f64 {
        self.written as f64 / self.flushed.max(1) as f64
    }
}

fn simulate(cfg: &Config, workload: Workload) -> Result<Summary, String> {
    let started = Instant::now();
    let policy = TieredPolicy;
    let mut tree = Tree::new(cfg.entry_bytes, cfg.opts.target_table_size);
    let mut keygen = KeyGen {
        workload,
        rng: fastrand::Rng::with_seed(cfg.seed),
        universe: cfg.universe,
        keys: cfg.keys,
    };
    let mut latest = vec![u32::MAX; cfg.universe as usize];
    let mut unique_keys = 0u64;
    let (mut max_runs, mut max_depth, mut max_probe, mut capped) = (0, 0, 0, 0);
    let mut max_space_amp = 0f64;
    if !cfg.quiet {
        println!(
            "== {} · {} flushes × {} keys, universe {}, {} B/entry ==",
            workload.name(),
            cfg.flushes,
            cfg.keys,
            cfg.universe,
            cfg.entry_bytes
        );
        println!(
            "   step  runs tables depth probe space  jobs        | run sizes, newest first (size/tables)"
        );
    }
    for i in 0..cfg.flushes {
        let keys = keygen.flush_keys(i);
        for &k in &keys {
            if let Some(slot) = latest.get_mut(k as usize) {
                if *slot == u32::MAX {
                    unique_keys += 1;
                }
                *slot = i;
            }
        }
        tree.flush(&keys, i);
        if let Some(dir) = &cfg.svg_dir {
            let step = i + 1;
            if step % cfg.svg_every.max(1) == 0 || step == cfg.flushes {
                write_svg(cfg, dir, workload, step, &tree.shape())?;
            }
        }
        let mut jobs = String::new();
        let mut picks = 0;
        loop {
            let shape = tree.shape();
            let Some(job) = policy.pick(&shape, &cfg.opts) else {
                break;
            };
            if picks == cfg.max_picks {
                capped += 1;
                let _ = write!(jobs, " CAPPED");
                break;
            }
            picks += 1;
            let _ = write!(jobs, " {}{}", reason_letter(job.reason), job.inputs.len());
            tree.apply(&job)
                .map_err(|e| format!("{} flush {i}: job {job:?}: {e}", workload.name()))?;
        }
        let shape = tree.shape();
        let depth = shape.max_depth();
        let probe = tree.probe_depth();
        let space_amp = tree.bytes() as f64 / (unique_keys * cfg.entry_bytes) as f64;
        max_runs = max_runs.max(tree.runs.len());
        max_depth = max_depth.max(depth);
        max_probe = max_probe.max(probe);
        max_space_amp = max_space_amp.max(space_amp);
        if !cfg.quiet {
            let jobs = if jobs.is_empty() {
                " -".to_owned()
            } else {
                jobs
            };
            println!(
                "  {:>5} {:>5} {:>6} {:>5} {:>5} {:>5.2} {:<12}|{}",
                i + 1,
                tree.runs.len(),
                tree.table_count(),
                depth,
                probe,
                space_amp,
                jobs,
                sketch(&tree)
            );
            let last = i + 1 == cfg.flushes;
            if last || (cfg.draw_every > 0 && (i + 1) % cfg.draw_every == 0) {
                draw(&tree, cfg.universe);
            }
        }
    }
    tree.check_versions(&latest)
        .map_err(|e| format!("{}: versions out of order: {e}", workload.name()))?;
    let c = &tree.counters;
    Ok(Summary {
        workload,
        unique_keys,
        flushed: c.flushed_bytes,
        written: c.flushed_bytes + c.compacted_bytes,
        max_runs,
        final_runs: tree.runs.len(),
        final_tables: tree.table_count(),
        max_depth,
        final_depth: tree.shape().max_depth(),
        max_probe,
        max_space_amp,
        final_space_amp: tree.bytes() as f64 / (unique_keys * cfg.entry_bytes).max(1) as f64,
        jobs: c.jobs,
        job_bytes: c.job_bytes,
        capped,
        millis: started.elapsed().as_millis(),
    })
}

/// Keys are big-endian u32s: label them in decimal.
fn sim_key_label(key: &[u8]) -> String {
    match <[u8; 4]>::try_from(key) {
        Ok(b) => u32::from_be_bytes(b).to_string(),
        Err(_) => svg::key_label(key),
    }
}

/// Draws the tree right after flush `step`, with the job the policy is
/// about to pick outlined.
fn write_svg(
    cfg: &Config,
    dir: &Path,
    workload: Workload,
    step: u32,
    shape: &TreeShape,
) -> Result<(), String> {
    let next = TieredPolicy.pick(shape, &cfg.opts);
    let o = &cfg.opts;
    let opts = SvgOptions {
        title: format!("compaction_sim · {} · after flush {step}", workload.name()),
        subtitle: vec![
            format!(
                "{} runs, {} tables, {}; {} keys per flush from a universe of {}, {} B/entry",
                shape.runs.len(),
                shape.table_count(),
                svg::human_bytes(shape.bytes()),
                cfg.keys,
                cfg.universe,
                cfg.entry_bytes
            ),
            format!(
                "TieredPolicy: max_merge_files {}, overlap_ratio_trigger {}, min_merge_width {}, \
                 tier_size_ratio {}",
                o.max_merge_files, o.overlap_ratio_trigger, o.min_merge_width, o.tier_size_ratio
            ),
        ],
        key_label: sim_key_label,
        ..SvgOptions::default()
    };
    let dir = dir.join(workload.name());
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("step-{step:03}.svg"));
    std::fs::write(&path, svg::render(shape, next.as_ref(), &opts))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn print_summary(cfg: &Config, rows: &[Summary]) {
    let o = &cfg.opts;
    println!();
    println!(
        "summary: {} flushes × {} keys, universe {}, {} B/entry; max_merge_files={} \
         overlap_ratio_trigger={} min_merge_width={} tier_size_ratio={} target_table_size={}",
        cfg.flushes,
        cfg.keys,
        cfg.universe,
        cfg.entry_bytes,
        o.max_merge_files,
        o.overlap_ratio_trigger,
        o.min_merge_width,
        o.tier_size_ratio,
        human(o.target_table_size)
    );
    println!(
        "{:<11} {:>8} {:>8} {:>8} {:>6} {:>9} {:>7} {:>10} {:>6} {:>12} {:>16} {:>6}",
        "workload",
        "unique",
        "flushed",
        "written",
        "w-amp",
        "runs max/",
        "tables",
        "depth max/",
        "probe",
        "space amp",
        "jobs F/O/S",
        "ms"
    );
    println!(
        "{:<11} {:>8} {:>8} {:>8} {:>6} {:>9} {:>7} {:>10} {:>6} {:>12} {:>16} {:>6}",
        "", "keys", "", "", "", "final", "final", "final", "max", "max/final", "", ""
    );
    for r in rows {
        println!(
            "{:<11} {:>8} {:>8} {:>8} {:>6.2} {:>9} {:>7} {:>10} {:>6} {:>12} {:>16} {:>6}",
            r.workload.name(),
            r.unique_keys,
            human(r.flushed),
            human(r.written),
            r.write_amp(),
            format!("{}/{}", r.max_runs, r.final_runs),
            r.final_tables,
            format!("{}/{}", r.max_depth, r.final_depth),
            r.max_probe,
            format!("{:.2}/{:.2}", r.max_space_amp, r.final_space_amp),
            format!("{}/{}/{}", r.jobs[0], r.jobs[1], r.jobs[2]),
            r.millis
        );
    }
    println!();
    println!("bytes written by compaction, by trigger (file count / overlap ratio / size tiers):");
    for r in rows {
        println!(
            "  {:<11} {} / {} / {}{}",
            r.workload.name(),
            human(r.job_bytes[0]),
            human(r.job_bytes[1]),
            human(r.job_bytes[2]),
            if r.capped > 0 {
                format!("  ({} fixed points hit --max-picks)", r.capped)
            } else {
                String::new()
            }
        );
    }
    println!(
        "\nw-amp = (flushed + compacted bytes) / flushed bytes; depth = deepest overlap group \
         (runs); probe = most tables holding one key; space amp = table bytes / unique live \
         key bytes. Versions were checked: every key reads its newest version."
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let mut rows = Vec::new();
    for &w in &cfg.workloads {
        match simulate(&cfg, w) {
            Ok(s) => rows.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    print_summary(&cfg, &rows);
    ExitCode::SUCCESS
}
