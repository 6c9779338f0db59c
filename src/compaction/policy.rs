//! The merge policy: which tables to compact together, as a pure function
//! of the tree's shape. No I/O; the simulator (`examples/compaction_sim.rs`)
//! and the table-driven tests drive it directly. `DESIGN.md` ("Compaction")
//! states what it aims for and why, with measured figures.
//!
//! # Rules (`TieredPolicy`)
//! The tree is cut into **overlap groups** (tables whose key ranges overlap
//! transitively). Only a group's runs can hold the same keys, so each group
//! is judged on its own. Inside a group, its runs (newest first) are the
//! unit: a job always merges a window of runs that are consecutive among
//! the group's runs, which keeps every key's versions ordered by run id.
//! Candidate jobs, by priority:
//!
//! 1. **File count** (read amplification): a group whose depth (the most
//!    of its tables holding one same key: what a point read may probe)
//!    reaches `max_merge_files` merges its cheapest window: the one with the
//!    fewest bytes per run removed.
//! 2. **Overlap ratio** (space amplification): a group whose overlap ratio
//!    (the fraction of its bytes outside its largest run) exceeds
//!    `overlap_ratio_trigger` merges all its runs.
//! 3. **Size tiers** (write amplification): starting at each run, a window
//!    grows while the next older run is at most `tier_size_ratio` × the
//!    window's bytes so far; a window of at least `min_merge_width` runs of
//!    similar size is merged.
//!
//! Within a priority the cheapest job per run removed wins.

use super::CompactionOptions;
use crate::version::{GroupRun, KeyRange, OverlapGroup, TreeShape};

/// Why a job was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CompactionReason {
    /// A group's depth reached `max_merge_files`.
    FileCount,
    /// A group's overlap ratio exceeded `overlap_ratio_trigger`.
    OverlapRatio,
    /// Runs of similar size accumulated (`min_merge_width`).
    SizeTiered,
    /// `Db::compact` or `Db::compact_range`.
    Manual,
}

impl std::fmt::Display for CompactionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CompactionReason::FileCount => "file count",
            CompactionReason::OverlapRatio => "overlap ratio",
            CompactionReason::SizeTiered => "size tiered",
            CompactionReason::Manual => "manual",
        })
    }
}

/// A compaction to run: a window of runs' parts inside one key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionJob {
    /// Why.
    pub reason: CompactionReason,
    /// The input runs' parts, newest run first (consecutive among the runs
    /// that hold keys in `range`).
    pub inputs: Vec<GroupRun>,
    /// The range covering every input table.
    pub range: KeyRange,
    /// The run the outputs join: the newest input run.
    pub output_run: u64,
    /// Whether no older version of the inputs' keys exists outside the job
    /// (the oldest run of the range is an input): tombstones may be dropped
    /// and operands full-merged.
    pub bottom: bool,
    /// Inputs merged at once, fitted to `max_memory`.
    pub fan_in: usize,
    /// Merge rounds: 1 when every input fits in one merge.
    pub rounds: usize,
}

impl CompactionJob {
    /// Bytes of input.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// use rillkv::{CompactionOptions, compaction::full_job};
    /// let shape = TreeShape::new(vec![run(2, &[(20, "a", "c", 100)]), run(1, &[(10, "b", "z", 300)])]);
    /// let job = full_job(&shape, &CompactionOptions::default()).expect("a job");
    /// assert_eq!(job.bytes(), 400);
    /// ```
    pub fn bytes(&self) -> u64 {
        self.inputs.iter().map(|r| r.bytes).sum()
    }

    /// Input table numbers.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// use rillkv::{CompactionOptions, compaction::full_job};
    /// let shape = TreeShape::new(vec![
    ///     run(2, &[(20, "a", "c", 100)]),
    ///     run(1, &[(10, "b", "m", 300), (11, "n", "z", 300)]),
    /// ]);
    /// let job = full_job(&shape, &CompactionOptions::default()).expect("a job");
    /// assert_eq!(job.tables().collect::<Vec<_>>(), vec![20, 10, 11]);
    /// ```
    pub fn tables(&self) -> impl Iterator<Item = u64> + '_ {
        self.inputs.iter().flat_map(|r| r.tables.iter().copied())
    }
}

/// Decides what to compact. Implementations must be pure functions of
/// their arguments.
pub trait CompactionPolicy: Send + Sync + 'static {
    /// The job to run next, or `None` when the tree needs no compaction.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// use rillkv::CompactionOptions;
    /// use rillkv::compaction::{CompactionPolicy, CompactionReason, TieredPolicy};
    /// let opts = CompactionOptions::default();
    /// assert_eq!(TieredPolicy.pick(&TreeShape::default(), &opts), None);
    /// // Eight runs over the same keys: a point read may probe eight tables.
    /// let shape = TreeShape::new((1..=8).map(|id| run(id, &[(id, "a", "z", 100)])).collect());
    /// let job = TieredPolicy.pick(&shape, &opts).expect("a job");
    /// assert_eq!(job.reason, CompactionReason::FileCount);
    /// assert_eq!(job.output_run, 8, "outputs join the newest input run");
    /// ```
    fn pick(&self, shape: &TreeShape, opts: &CompactionOptions) -> Option<CompactionJob>;
}

/// The default policy: size-tiered merging inside overlap groups, with the
/// file-count (depth) and overlap-ratio triggers. See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct TieredPolicy;

/// Memory budgeted per merge input: the decompressed current block, the
/// iterator and heap state, and read-ahead.
pub const MEMORY_PER_INPUT: u64 = 256 << 10;
/// Memory budgeted per merge for its output: block buffer, index and filter
/// builders of the table being written, and the zstd context.
pub const MEMORY_PER_OUTPUT: u64 = 4 << 20;

/// The largest fan-in whose merges fit `max_memory` when `workers` run at
/// once, clamped to `2..=max_fan_in`.
///
/// ```
/// use rillkv::{CompactionOptions, compaction::fan_in_for};
/// // (max_memory / merge_workers - 4 MiB for the output) / 256 KiB per input.
/// let c = CompactionOptions::default().max_memory(32 << 20).merge_workers(2);
/// assert_eq!(fan_in_for(&c), 48_usize.min(c.max_fan_in)); // 32, the default max_fan_in
/// assert_eq!(fan_in_for(&c.max_memory(8 << 20)), 2, "never below 2");
/// ```
pub fn fan_in_for(opts: &CompactionOptions) -> usize {
    let workers = opts.merge_workers.max(1) as u64;
    let per_worker = opts.max_memory / workers;
    let fit = per_worker.saturating_sub(MEMORY_PER_OUTPUT) / MEMORY_PER_INPUT;
    (fit as usize).clamp(2, opts.max_fan_in.max(2))
}

/// Rounds a merge of `inputs` runs needs at `fan_in`: one when they all
/// fit; otherwise each earlier round merges the smallest runs first until
/// one final round remains.
///
/// ```
/// use rillkv::compaction::rounds_for;
/// assert_eq!(rounds_for(32, 32), 1, "every input fits one merge");
/// assert_eq!(rounds_for(33, 32), 2, "one small pre-merge, then the last round");
/// assert_eq!(rounds_for(100, 4), 4);
/// ```
pub fn rounds_for(inputs: usize, fan_in: usize) -> usize {
    let fan_in = fan_in.max(2);
    let mut n = inputs.max(1);
    let mut rounds = 1;
    while n > fan_in {
        let widths = round_widths(n, fan_in);
        n -= widths.iter().map(|w| w - 1).sum::<usize>();
        rounds += 1;
    }
    rounds
}

/// The widths of the merges of one earlier round over `n > fan_in`
/// inputs: as few merges as bring the count down to `fan_in` in this
/// round if the inputs suffice (the last one only as wide as needed),
/// else as many full-width merges as the inputs allow.
pub fn round_widths(n: usize, fan_in: usize) -> Vec<usize> {
    let fan_in = fan_in.max(2);
    let excess = n.saturating_sub(fan_in);
    let needed = excess.div_ceil(fan_in - 1);
    if excess + needed <= n {
        // Enough inputs: `needed` merges, the last trimmed to the excess.
        let mut widths = vec![fan_in; needed.saturating_sub(1)];
        let done = (needed.saturating_sub(1)) * (fan_in - 1);
        widths.push(excess - done + 1);
        widths.retain(|&w| w >= 2);
        widths
    } else {
        vec![fan_in; (n / fan_in).max(1)]
    }
}

/// Builds the job merging `group.runs[start..end]`.
pub(crate) fn job_for(
    group: &OverlapGroup,
    start: usize,
    end: usize,
    reason: CompactionReason,
    opts: &CompactionOptions,
) -> Option<CompactionJob> {
    let inputs: Vec<GroupRun> = group.runs.get(start..end)?.to_vec();
    let output_run = inputs.first()?.id;
    let fan_in = fan_in_for(opts);
    Some(CompactionJob {
        reason,
        rounds: rounds_for(inputs.len(), fan_in),
        range: group.range.clone(),
        bottom: end == group.runs.len(),
        output_run,
        fan_in,
        inputs,
    })
}

/// Bytes rewritten per run removed: what the policy minimises.
fn cost(job: &CompactionJob) -> f64 {
    job.bytes() as f64 / (job.inputs.len().saturating_sub(1).max(1)) as f64
}

impl TieredPolicy {
    /// Every triggered job, unsorted.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// use std::collections::BTreeSet;
    /// use rillkv::CompactionOptions;
    /// use rillkv::compaction::{CompactionPolicy, CompactionReason, TieredPolicy};
    /// let shape = TreeShape::new((1..=8).map(|id| run(id, &[(id, "a", "z", 100)])).collect());
    /// let opts = CompactionOptions::default();
    /// let reasons: BTreeSet<CompactionReason> =
    ///     TieredPolicy.candidates(&shape, &opts).iter().map(|j| j.reason).collect();
    /// assert!(reasons.contains(&CompactionReason::FileCount));
    /// assert!(reasons.contains(&CompactionReason::OverlapRatio));
    /// assert!(reasons.contains(&CompactionReason::SizeTiered));
    /// // `pick` takes the highest priority, then the cheapest job.
    /// assert_eq!(TieredPolicy.pick(&shape, &opts).map(|j| j.reason), Some(CompactionReason::FileCount));
    /// ```
    pub fn candidates(&self, shape: &TreeShape, opts: &CompactionOptions) -> Vec<CompactionJob> {
        let mut jobs = Vec::new();
        for group in shape.overlap_groups() {
            let m = group.runs.len();
            if m < 2 {
                continue;
            }
            if group.depth() >= opts.max_merge_files {
                let best = (0..m)
                    .flat_map(|s| (s + 2..=m).map(move |e| (s, e)))
                    .filter_map(|(s, e)| job_for(&group, s, e, CompactionReason::FileCount, opts))
                    .min_by(|a, b| cost(a).total_cmp(&cost(b)));
                jobs.extend(best);
            }
            if group.overlap_ratio() > opts.overlap_ratio_trigger {
                jobs.extend(job_for(&group, 0, m, CompactionReason::OverlapRatio, opts));
            }
            for start in 0..m {
                let mut sum = 0u64;
                let mut end = start;
                while let Some(run) = group.runs.get(end) {
                    if end > start && run.bytes as f64 > opts.tier_size_ratio * sum as f64 {
                        break;
                    }
                    sum += run.bytes;
                    end += 1;
                }
                if end - start >= opts.min_merge_width.max(2) {
                    jobs.extend(job_for(
                        &group,
                        start,
                        end,
                        CompactionReason::SizeTiered,
                        opts,
                    ));
                }
            }
        }
        jobs
    }
}

impl CompactionPolicy for TieredPolicy {
    fn pick(&self, shape: &TreeShape, opts: &CompactionOptions) -> Option<CompactionJob> {
        self.candidates(shape, opts)
            .into_iter()
            .min_by(|a, b| a.reason.cmp(&b.reason).then(cost(a).total_cmp(&cost(b))))
    }
}

/// One job per overlap group meeting `range`, merging all of the group's
/// runs: `Db::compact_range`.
///
/// ```
/// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
/// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
/// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
/// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
/// #     }).collect();
/// #     RunShape { id, tables }
/// # }
/// use rillkv::{CompactionOptions, compaction::{CompactionReason, range_jobs}};
/// let shape = TreeShape::new(vec![
///     run(2, &[(20, "a", "c", 100), (21, "x", "z", 100)]),
///     run(1, &[(10, "b", "d", 100), (11, "w", "y", 100)]),
/// ]);
/// let jobs = range_jobs(&shape, &KeyRange::new("b", "b"), &CompactionOptions::default());
/// assert_eq!(jobs.len(), 1, "only the group holding b");
/// assert_eq!(jobs[0].reason, CompactionReason::Manual);
/// assert_eq!(jobs[0].tables().collect::<Vec<_>>(), vec![20, 10]);
/// ```
pub fn range_jobs(
    shape: &TreeShape,
    range: &KeyRange,
    opts: &CompactionOptions,
) -> Vec<CompactionJob> {
    shape
        .overlap_groups()
        .iter()
        .filter(|g| range.overlaps(&g.range))
        .filter_map(|g| job_for(g, 0, g.runs.len(), CompactionReason::Manual, opts))
        .collect()
}

/// The job merging every table into one run: `Db::compact`. `None` for an
/// empty tree.
///
/// ```
/// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
/// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
/// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
/// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
/// #     }).collect();
/// #     RunShape { id, tables }
/// # }
/// use rillkv::{CompactionOptions, compaction::full_job};
/// let opts = CompactionOptions::default();
/// assert!(full_job(&TreeShape::default(), &opts).is_none());
/// let shape = TreeShape::new(vec![run(2, &[(20, "a", "c", 100)]), run(1, &[(10, "x", "z", 100)])]);
/// let job = full_job(&shape, &opts).expect("a job");
/// assert_eq!(job.inputs.len(), 2, "every run, overlapping or not");
/// assert!(job.bottom, "nothing older exists: tombstones can go");
/// assert_eq!(job.range, KeyRange::new("a", "z"));
/// ```
pub fn full_job(shape: &TreeShape, opts: &CompactionOptions) -> Option<CompactionJob> {
    let mut range: Option<KeyRange> = None;
    let inputs: Vec<GroupRun> = shape
        .runs
        .iter()
        .filter(|r| !r.tables.is_empty())
        .map(|r| {
            for t in &r.tables {
                range = Some(match range.take() {
                    Some(x) => x.union(&t.range),
                    None => t.range.clone(),
                });
            }
            GroupRun {
                id: r.id,
                tables: r.tables.iter().map(|t| t.number).collect(),
                bytes: r.tables.iter().map(|t| t.size).sum(),
            }
        })
        .collect();
    let group = OverlapGroup {
        range: range?,
        depth: inputs.len(),
        runs: inputs,
    };
    job_for(&group, 0, group.runs.len(), CompactionReason::Manual, opts)
}

/// A metadata-only change: tables that overlap no other table move into
/// one run, so that runs made only of such tables disappear. Their bytes
/// are not rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFold {
    /// The run the tables join.
    pub target: u64,
    /// `(run id, table number)` of each table that moves.
    pub moves: Vec<(u64, u64)>,
}

/// Folds runs made only of *lone* tables (tables whose range overlaps no
/// other table's) into one run, once the tree has more than
/// `max_merge_files` runs. A lone table holds every version of its keys,
/// so its run's position in the run order does not matter: moving it
/// changes no read. Sequential loads, which never trigger a merge, thereby
/// keep a bounded number of runs for `get` to check. `None` when nothing
/// would fold.
///
/// ```
/// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
/// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
/// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
/// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
/// #     }).collect();
/// #     RunShape { id, tables }
/// # }
/// use rillkv::{CompactionOptions, compaction::fold_runs};
/// // A sequential load: ten flushes, each a run of one table over new keys.
/// let key = |i: u64| format!("key{i:03}");
/// let shape = TreeShape::new(
///     (1..=10).map(|i| run(i, &[(i, &key(i * 10), &key(i * 10 + 9), 100)])).collect(),
/// );
/// let opts = CompactionOptions::default(); // max_merge_files: 8
/// let fold = fold_runs(&shape, &opts).expect("more than 8 runs");
/// assert_eq!(fold.moves.len(), 9, "nine tables move into the tenth's run");
/// assert!(fold_runs(&shape, &opts.max_merge_files(10)).is_none());
/// ```
pub fn fold_runs(shape: &TreeShape, opts: &CompactionOptions) -> Option<RunFold> {
    if shape.runs.len() <= opts.max_merge_files {
        return None;
    }
    let lone: std::collections::HashSet<u64> = shape
        .overlap_groups()
        .iter()
        .filter(|g| g.tables() == 1)
        .flat_map(|g| g.runs.iter().flat_map(|r| r.tables.iter().copied()))
        .collect();
    // Runs made only of lone tables; the one with the most tables stays.
    let mut all_lone: Vec<&super::RunShape> = shape
        .runs
        .iter()
        .filter(|r| !r.tables.is_empty() && r.tables.iter().all(|t| lone.contains(&t.number)))
        .collect();
    if all_lone.len() < 2 {
        return None;
    }
    all_lone.sort_by_key(|r| (std::cmp::Reverse(r.tables.len()), std::cmp::Reverse(r.id)));
    let target = all_lone.first()?.id;
    let moves = all_lone
        .iter()
        .skip(1)
        .flat_map(|r| r.tables.iter().map(move |t| (r.id, t.number)))
        .collect();
    Some(RunFold { target, moves })
}

#[cfg(test)]
mod tests;
