//! Table-driven tests of the merge policy, in the style of Pebble's
//! compaction-picker `testdata/`: each file in `testdata/` describes trees
//! and the job the policy must pick for them.
//!
//! # The testdata format
//! One command per line; `#` starts a comment; blank lines are ignored.
//!
//! ```text
//! case NAME                       start a new case: empty tree, base options
//! options KEY=VALUE ...           set options (cumulative within the case)
//! run ID: NUM[MIN-MAX]:SIZE ...   add run ID holding those tables
//! expect none | FIELD=VALUE ...   TieredPolicy::pick on the tree
//! expect-full none | FIELD=VALUE  full_job on the tree
//! expect-range MIN-MAX: FIELD=... range_jobs for that key range
//! expect-shape FIELD=VALUE ...    TreeShape statistics
//! expect-group I: FIELD=VALUE ... the I-th overlap group (in key order)
//! apply NUM                       run the picked job as table NUM: inputs
//!                                 removed, one table (their key hull, their
//!                                 summed size) added to the output run
//! ```
//!
//! Keys are strings without `-`, `[` or `]`. The base options are the
//! defaults with `merge_workers=1`, so `fan_in` does not depend on the
//! machine's cores. Option keys: `max_merge_files`, `overlap_ratio_trigger`,
//! `min_merge_width`, `tier_size_ratio`, `max_memory`, `merge_workers`,
//! `max_fan_in`.
//!
//! Only the fields an `expect` line names are compared, so a case states
//! just what it is about. Job fields: `reason` (`file-count`,
//! `overlap-ratio`, `size-tiered`, `manual`), `runs`, `tables` (newest run
//! first, by key within a run), `output`, `bottom`, `fan_in`, `rounds`,
//! `range` (`MIN-MAX`), `bytes`. Shape fields: `runs`, `tables`, `bytes`,
//! `groups`, `depth` (the deepest group). Range fields: `jobs` (how
//! many), and `reason`, `runs`, `tables`, `output`, `bottom`, `range` of
//! each job, joined by `|`. Group fields: `runs`, `tables`,
//! `depth`, `ratio` (three decimals), `range`, `bytes`.
//!
//! Besides the named fields, every job the policy picks is checked against
//! the laws any correct job obeys (see [`job_law_violations`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use bytes::Bytes;

use super::*;
use crate::compaction::{RunShape, TableShape};

/// Runs one testdata file, failing with every mismatch found in it.
macro_rules! testdata {
    ($test:ident, $file:literal) => {
        #[test]
        fn $test() {
            run_file($file, include_str!(concat!("testdata/", $file)));
        }
    };
}

testdata!(seed_demo, "seed_demo.txt");
testdata!(no_overlap, "no_overlap.txt");
testdata!(file_count, "file_count.txt");
testdata!(overlap_ratio, "overlap_ratio.txt");
testdata!(size_tiered, "size_tiered.txt");
testdata!(priority, "priority.txt");
testdata!(fan_in, "fan_in.txt");
testdata!(full, "full_job.txt");
testdata!(groups, "groups.txt");
testdata!(chain, "chain.txt");

/// Every file in `testdata/` is listed above, so none is silently skipped.
#[test]
fn every_testdata_file_is_run() {
    let listed: BTreeSet<&str> = [
        "seed_demo.txt",
        "no_overlap.txt",
        "file_count.txt",
        "overlap_ratio.txt",
        "size_tiered.txt",
        "priority.txt",
        "fan_in.txt",
        "full_job.txt",
        "groups.txt",
        "chain.txt",
    ]
    .into_iter()
    .collect();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/compaction/policy/testdata");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".txt"))
        .collect();
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(
        on_disk, listed,
        "add new testdata files to the testdata! list"
    );
}

#[test]
fn fan_in_fits_the_memory_budget() {
    const MIB: u64 = 1 << 20;
    // (max_memory, merge_workers, max_fan_in) -> fan_in, where
    // fan_in = (max_memory / workers - 4 MiB) / 256 KiB, clamped to 2..=max_fan_in.
    let cases: &[(u64, usize, usize, usize)] = &[
        (8 * MIB, 1, 32, 16),     // (8 - 4) MiB / 256 KiB
        (9 * MIB, 1, 32, 20),     // 5 MiB / 256 KiB
        (8 * MIB, 2, 32, 2),      // 4 MiB per worker leaves nothing: clamped up to 2
        (5 * MIB, 1, 32, 4),      // below the validated minimum, still well defined
        (0, 1, 32, 2),            // nothing fits: still a 2-way merge
        (256 * MIB, 1, 32, 32),   // 1008 fit: clamped to max_fan_in
        (256 * MIB, 8, 32, 32),   // 32 MiB per worker: 112 fit, clamped
        (256 * MIB, 8, 200, 112), // (32 - 4) MiB / 256 KiB
        (1024 * MIB, 1, 10_000, 4080),
        (9 * MIB, 0, 32, 20), // zero workers counts as one
        (256 * MIB, 1, 1, 2), // max_fan_in below 2 counts as 2
        (4 * MIB + (256 << 10) * 3, 1, 32, 3),
    ];
    for &(max_memory, workers, max_fan_in, want) in cases {
        let opts = CompactionOptions::default()
            .max_memory(max_memory)
            .merge_workers(workers)
            .max_fan_in(max_fan_in);
        assert_eq!(
            fan_in_for(&opts),
            want,
            "max_memory={max_memory} merge_workers={workers} max_fan_in={max_fan_in}"
        );
    }
}

#[test]
fn rounds_fit_the_fan_in() {
    // (inputs, fan_in) -> rounds. One round when every input fits.
    let cases: &[(usize, usize, usize)] = &[
        (0, 2, 1),
        (1, 2, 1),
        (2, 2, 1),
        (3, 2, 2),
        (4, 2, 2),
        (5, 2, 3),
        (8, 2, 3),
        (9, 2, 4),
        (16, 16, 1),
        (17, 16, 2),
        (256, 16, 2),
        (257, 16, 3),
        (20, 8, 2), // the seed's Rec-3 example: 20 runs at fan-in 8
        (16, 4, 2),
        (17, 4, 3),
        (32, 32, 1),
        (33, 32, 2),
        (3, 0, 2), // a fan-in below 2 counts as 2
    ];
    for &(inputs, fan_in, want) in cases {
        assert_eq!(
            rounds_for(inputs, fan_in),
            want,
            "inputs={inputs} fan_in={fan_in}"
        );
    }
}

/// `rounds_for` never claims fewer rounds than any plan could need: with
/// fan-in F, r rounds reduce at most F^r inputs to one.
///
/// It is not always the minimum: an earlier round only makes full-width
/// merges, so `rounds_for(8, 3)` is 3 although merging 3+3+2 and then the
/// three results takes 2 (likewise `rounds_for(47, 16)` and
/// `rounds_for(95, 32)` are 3, not 2). Only the lower bound is a law.
#[test]
fn rounds_are_never_fewer_than_possible() {
    for fan_in in 2..=40usize {
        for inputs in 1..=2000usize {
            let rounds = rounds_for(inputs, fan_in);
            let mut reach = 1usize;
            let mut lower = 0usize;
            while reach < inputs {
                reach = reach.saturating_mul(fan_in);
                lower += 1;
            }
            assert!(
                rounds >= lower.max(1),
                "rounds_for({inputs}, {fan_in}) = {rounds} < {lower}"
            );
        }
    }
}

#[test]
fn overlap_ratio_is_the_share_outside_the_largest_run() {
    // (run bytes, newest first) -> ratio = 1 - largest / total.
    let cases: &[(&[u64], f64)] = &[
        (&[], 0.0),
        (&[100], 0.0),
        (&[0, 0], 0.0),
        (&[100, 100], 0.5),
        (&[30, 50, 20], 0.5),
        (&[1000, 100, 100], 1.0 - 1000.0 / 1200.0),
        (&[1, 1, 1, 1], 0.75),
        (&[64, 128, 256, 512], 1.0 - 512.0 / 960.0),
    ];
    for &(bytes, want) in cases {
        let group = OverlapGroup {
            range: KeyRange::new("a", "z"),
            runs: bytes
                .iter()
                .enumerate()
                .map(|(i, &b)| GroupRun {
                    id: (bytes.len() - i) as u64,
                    tables: vec![i as u64],
                    bytes: b,
                })
                .collect(),
            depth: bytes.len(),
        };
        assert!(
            (group.overlap_ratio() - want).abs() < 1e-12,
            "{bytes:?}: {} != {want}",
            group.overlap_ratio()
        );
        assert_eq!(group.depth(), bytes.len());
        assert_eq!(group.bytes(), bytes.iter().sum::<u64>());
    }
}

/// The policy is a pure function: the same shape and options give the same
/// job, and a shape built from runs in any order is the same shape.
#[test]
fn pick_is_a_pure_function_of_the_shape() {
    let t = |n: u64, a: &str, b: &str, size: u64| TableShape {
        number: n,
        range: KeyRange::new(Bytes::from(a.to_owned()), Bytes::from(b.to_owned())),
        size,
    };
    let runs = vec![
        RunShape {
            id: 1,
            tables: vec![t(1, "a", "z", 1000)],
        },
        RunShape {
            id: 3,
            tables: vec![t(4, "m", "z", 10), t(3, "a", "k", 10)],
        },
        RunShape {
            id: 2,
            tables: vec![t(2, "a", "z", 10)],
        },
        RunShape {
            id: 4,
            tables: vec![t(5, "a", "z", 20)],
        },
    ];
    let mut reversed = runs.clone();
    reversed.reverse();
    let (a, b) = (TreeShape::new(runs), TreeShape::new(reversed));
    assert_eq!(a, b);
    assert_eq!(
        a.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![4, 3, 2, 1]
    );
    let opts = base_options().min_merge_width(3);
    let job = TieredPolicy
        .pick(&a, &opts)
        .expect("three similar runs over a big one");
    assert_eq!(Some(&job), TieredPolicy.pick(&b, &opts).as_ref());
    assert_eq!(job.reason, CompactionReason::SizeTiered);
    assert_eq!(job.tables().collect::<Vec<_>>(), vec![5, 3, 4, 2]);
    assert_eq!(job.output_run, 4);
    assert!(!job.bottom);
    assert_eq!(job.bytes(), 50);
}

// ---------------------------------------------------------------------------
// The runner.

fn base_options() -> CompactionOptions {
    CompactionOptions::default().merge_workers(1)
}

fn run_file(name: &str, text: &str) {
    let mut runner = Runner::new(name);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Err(e) = runner.command(line) {
            runner.failures.push(format!(
                "{name}:{}: case `{}`: {line}\n    {e}",
                i + 1,
                runner.case
            ));
        }
    }
    assert!(runner.expectations > 0, "{name}: no expectations");
    assert!(
        runner.failures.is_empty(),
        "{} of {} expectations failed in {name}:\n{}",
        runner.failures.len(),
        runner.expectations,
        runner.failures.join("\n")
    );
}

struct Runner {
    case: String,
    opts: CompactionOptions,
    runs: Vec<RunShape>,
    expectations: usize,
    failures: Vec<String>,
}

impl Runner {
    fn new(file: &str) -> Self {
        Runner {
            case: format!("(top of {file})"),
            opts: base_options(),
            runs: Vec::new(),
            expectations: 0,
            failures: Vec::new(),
        }
    }

    fn shape(&self) -> TreeShape {
        TreeShape::new(self.runs.clone())
    }

    fn command(&mut self, line: &str) -> Result<(), String> {
        let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match cmd {
            "case" => {
                self.case = rest.to_owned();
                self.opts = base_options();
                self.runs.clear();
                Ok(())
            }
            "options" => {
                for (k, v) in fields(rest)? {
                    self.opts = set_option(self.opts.clone(), k, v)?;
                }
                Ok(())
            }
            "run" => self.add_run(rest),
            "expect" => {
                self.expectations += 1;
                let shape = self.shape();
                let job = TieredPolicy.pick(&shape, &self.opts);
                if let Some(job) = &job {
                    let broken = job_law_violations(&shape, job, true);
                    if !broken.is_empty() {
                        return Err(format!("picked {}: {}", render_job(job), broken.join("; ")));
                    }
                }
                compare_job(rest, job.as_ref())
            }
            "expect-full" => {
                self.expectations += 1;
                let shape = self.shape();
                let job = full_job(&shape, &self.opts);
                if let Some(job) = &job {
                    let broken = job_law_violations(&shape, job, false);
                    if !broken.is_empty() {
                        return Err(format!(
                            "full job {}: {}",
                            render_job(job),
                            broken.join("; ")
                        ));
                    }
                }
                compare_job(rest, job.as_ref())
            }
            "expect-range" => {
                self.expectations += 1;
                let (range, want) = rest
                    .split_once(':')
                    .ok_or("expect-range MIN-MAX: FIELD=VALUE ...")?;
                let (min, max) = range.trim().split_once('-').ok_or("range: want MIN-MAX")?;
                let range = KeyRange::new(Bytes::from(min.to_owned()), Bytes::from(max.to_owned()));
                let shape = self.shape();
                let jobs = range_jobs(&shape, &range, &self.opts);
                for job in &jobs {
                    let broken = job_law_violations(&shape, job, false);
                    if !broken.is_empty() {
                        return Err(format!(
                            "range job {}: {}",
                            render_job(job),
                            broken.join("; ")
                        ));
                    }
                }
                let each = |field: &str| {
                    jobs.iter()
                        .map(|j| {
                            job_fields(j)
                                .into_iter()
                                .find(|(k, _)| *k == field)
                                .map_or(String::new(), |(_, v)| v)
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                };
                let actual: Vec<(&str, String)> = std::iter::once(("jobs", jobs.len().to_string()))
                    .chain(
                        ["reason", "runs", "tables", "output", "bottom", "range"]
                            .into_iter()
                            .map(|f| (f, each(f))),
                    )
                    .collect();
                compare(want, &actual)
            }
            "expect-shape" => {
                self.expectations += 1;
                let shape = self.shape();
                let groups = shape.overlap_groups();
                let actual = vec![
                    ("runs", shape.runs.len().to_string()),
                    ("tables", shape.table_count().to_string()),
                    ("bytes", shape.bytes().to_string()),
                    ("groups", groups.len().to_string()),
                    ("depth", shape.max_depth().to_string()),
                ];
                compare(rest, &actual)
            }
            "expect-group" => {
                self.expectations += 1;
                let (index, want) = rest
                    .split_once(':')
                    .ok_or("expect-group I: FIELD=VALUE ...")?;
                let index: usize = index
                    .trim()
                    .parse()
                    .map_err(|e| format!("group index: {e}"))?;
                let groups = self.shape().overlap_groups();
                let group = groups
                    .get(index)
                    .ok_or_else(|| format!("no group {index}: the tree has {}", groups.len()))?;
                compare(want, &render_group(group))
            }
            "apply" => {
                let number: u64 = rest.parse().map_err(|e| format!("apply NUM: {e}"))?;
                let job = TieredPolicy
                    .pick(&self.shape(), &self.opts)
                    .ok_or("apply: the policy picked nothing")?;
                self.apply(&job, number)
            }
            other => Err(format!("unknown command `{other}`")),
        }
    }

    fn add_run(&mut self, rest: &str) -> Result<(), String> {
        let (id, tables) = rest
            .split_once(':')
            .ok_or("run ID: NUM[MIN-MAX]:SIZE ...")?;
        let id: u64 = id.trim().parse().map_err(|e| format!("run id: {e}"))?;
        if self.runs.iter().any(|r| r.id == id) {
            return Err(format!("run {id} given twice"));
        }
        let tables = tables
            .split_whitespace()
            .map(parse_table)
            .collect::<Result<Vec<_>, _>>()?;
        if tables.is_empty() {
            return Err(format!("run {id} has no tables"));
        }
        self.runs.push(RunShape { id, tables });
        Ok(())
    }

    /// Runs `job` as the engine would, writing one table `number`.
    fn apply(&mut self, job: &CompactionJob, number: u64) -> Result<(), String> {
        let inputs: BTreeSet<u64> = job.tables().collect();
        let mut hull: Option<KeyRange> = None;
        let mut size = 0;
        for run in &mut self.runs {
            run.tables.retain(|t| {
                if !inputs.contains(&t.number) {
                    return true;
                }
                hull = Some(
                    hull.as_ref()
                        .map_or_else(|| t.range.clone(), |h| h.union(&t.range)),
                );
                size += t.size;
                false
            });
        }
        let range = hull.ok_or("apply: the job has no input tables")?;
        let run = self
            .runs
            .iter_mut()
            .find(|r| r.id == job.output_run)
            .ok_or_else(|| format!("apply: output run {} does not exist", job.output_run))?;
        if let Some(t) = run.tables.iter().find(|t| t.range.overlaps(&range)) {
            return Err(format!(
                "apply: output overlaps table {} of run {}",
                t.number, run.id
            ));
        }
        run.tables.push(TableShape {
            number,
            range,
            size,
        });
        self.runs.retain(|r| !r.tables.is_empty());
        Ok(())
    }
}

/// What any job must satisfy, whatever triggered it; empty when it does.
///
/// - inputs newest run first, at least two runs for a policy pick, each
///   input run's tables existing in that run with the stated bytes;
/// - `output_run` is the newest input run;
/// - `range` covers every input table;
/// - no run between the oldest and newest input runs holds a table
///   overlapping an input table (else its versions would end up below
///   older ones);
/// - no table of the output run outside the job overlaps the inputs' hull
///   (the outputs must fit in the run);
/// - `bottom` only if no older run holds a table overlapping an input;
/// - `fan_in`/`rounds` as `fan_in_for`/`rounds_for` give them.
fn job_law_violations(shape: &TreeShape, job: &CompactionJob, pick: bool) -> Vec<String> {
    let mut broken = Vec::new();
    let ids: Vec<u64> = job.inputs.iter().map(|r| r.id).collect();
    if pick && ids.len() < 2 {
        broken.push("a pick merges fewer than two runs".to_owned());
    }
    if !ids.windows(2).all(|w| w[0] > w[1]) {
        broken.push(format!("input runs {ids:?} are not newest first"));
    }
    if ids.first() != Some(&job.output_run) {
        broken.push(format!(
            "output run {} is not the newest input",
            job.output_run
        ));
    }
    let mut input_tables: Vec<&TableShape> = Vec::new();
    for input in &job.inputs {
        let Some(run) = shape.runs.iter().find(|r| r.id == input.id) else {
            broken.push(format!("input run {} is not in the tree", input.id));
            continue;
        };
        let mut bytes = 0;
        for n in &input.tables {
            match run.tables.iter().find(|t| t.number == *n) {
                Some(t) => {
                    bytes += t.size;
                    input_tables.push(t);
                    if !(job.range.min <= t.range.min && t.range.max <= job.range.max) {
                        broken.push(format!("range does not cover table {n}"));
                    }
                }
                None => broken.push(format!("table {n} is not in run {}", input.id)),
            }
        }
        if bytes != input.bytes {
            broken.push(format!(
                "run {} inputs have {bytes} bytes, not {}",
                input.id, input.bytes
            ));
        }
    }
    let (Some(&newest), Some(&oldest)) = (ids.first(), ids.last()) else {
        broken.push("no inputs".to_owned());
        return broken;
    };
    let overlaps_input = |t: &TableShape| input_tables.iter().any(|i| i.range.overlaps(&t.range));
    for run in &shape.runs {
        let touching = run.tables.iter().any(&overlaps_input);
        if run.id < newest && run.id > oldest && !ids.contains(&run.id) && touching {
            broken.push(format!(
                "run {} lies between inputs but is left out",
                run.id
            ));
        }
        if run.id < oldest && touching && job.bottom {
            broken.push(format!(
                "bottom, yet older run {} overlaps the inputs",
                run.id
            ));
        }
    }
    let hull = input_tables
        .iter()
        .map(|t| t.range.clone())
        .reduce(|a, b| a.union(&b));
    if let (Some(hull), Some(out)) = (hull, shape.runs.iter().find(|r| r.id == job.output_run)) {
        let taken: BTreeSet<u64> = job.tables().collect();
        for t in &out.tables {
            if !taken.contains(&t.number) && t.range.overlaps(&hull) {
                broken.push(format!(
                    "outputs would overlap table {} of the output run",
                    t.number
                ));
            }
        }
    }
    // `fan_in`/`rounds` are compared against options in the testdata; here
    // only that they agree with each other.
    if job.rounds != rounds_for(job.inputs.len(), job.fan_in) {
        broken.push(format!(
            "rounds {} disagree with fan_in {}",
            job.rounds, job.fan_in
        ));
    }
    broken
}

fn parse_table(s: &str) -> Result<TableShape, String> {
    let bad = || format!("table `{s}`: want NUM[MIN-MAX]:SIZE");
    let (number, rest) = s.split_once('[').ok_or_else(bad)?;
    let (range, size) = rest.split_once("]:").ok_or_else(bad)?;
    let (min, max) = range.split_once('-').ok_or_else(bad)?;
    if min > max {
        return Err(format!("table `{s}`: min above max"));
    }
    Ok(TableShape {
        number: number.parse().map_err(|_| bad())?,
        range: KeyRange::new(Bytes::from(min.to_owned()), Bytes::from(max.to_owned())),
        size: size.parse().map_err(|_| bad())?,
    })
}

fn fields(s: &str) -> Result<Vec<(&str, &str)>, String> {
    s.split_whitespace()
        .map(|f| {
            f.split_once('=')
                .ok_or_else(|| format!("`{f}`: want FIELD=VALUE"))
        })
        .collect()
}

fn set_option(o: CompactionOptions, key: &str, value: &str) -> Result<CompactionOptions, String> {
    fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
        v.parse()
            .map_err(|_| format!("option {key}: bad value `{v}`"))
    }
    Ok(match key {
        "max_merge_files" => o.max_merge_files(num(key, value)?),
        "overlap_ratio_trigger" => o.overlap_ratio_trigger(num(key, value)?),
        "min_merge_width" => o.min_merge_width(num(key, value)?),
        "tier_size_ratio" => o.tier_size_ratio(num(key, value)?),
        "max_memory" => o.max_memory(num(key, value)?),
        "merge_workers" => o.merge_workers(num(key, value)?),
        "max_fan_in" => o.max_fan_in(num(key, value)?),
        _ => return Err(format!("unknown option `{key}`")),
    })
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn render_range(r: &KeyRange) -> String {
    format!(
        "{}-{}",
        String::from_utf8_lossy(&r.min),
        String::from_utf8_lossy(&r.max)
    )
}

fn reason_name(r: CompactionReason) -> &'static str {
    match r {
        CompactionReason::FileCount => "file-count",
        CompactionReason::OverlapRatio => "overlap-ratio",
        CompactionReason::SizeTiered => "size-tiered",
        CompactionReason::Manual => "manual",
    }
}

fn job_fields(job: &CompactionJob) -> Vec<(&'static str, String)> {
    vec![
        ("reason", reason_name(job.reason).to_owned()),
        ("runs", join(job.inputs.iter().map(|r| r.id))),
        ("tables", join(job.tables())),
        ("output", job.output_run.to_string()),
        ("bottom", job.bottom.to_string()),
        ("fan_in", job.fan_in.to_string()),
        ("rounds", job.rounds.to_string()),
        ("range", render_range(&job.range)),
        ("bytes", job.bytes().to_string()),
    ]
}

fn render_job(job: &CompactionJob) -> String {
    let mut s = String::new();
    for (k, v) in job_fields(job) {
        let _ = write!(s, "{k}={v} ");
    }
    s.trim_end().to_owned()
}

fn render_group(g: &OverlapGroup) -> Vec<(&'static str, String)> {
    vec![
        ("runs", join(g.runs.iter().map(|r| r.id))),
        ("tables", join(g.runs.iter().flat_map(|r| r.tables.iter()))),
        ("depth", g.depth().to_string()),
        ("ratio", format!("{:.3}", g.overlap_ratio())),
        ("range", render_range(&g.range)),
        ("bytes", g.bytes().to_string()),
    ]
}

fn compare_job(want: &str, job: Option<&CompactionJob>) -> Result<(), String> {
    match (want.trim(), job) {
        ("none", None) => Ok(()),
        ("none", Some(job)) => Err(format!("want none, got {}", render_job(job))),
        (_, None) => Err("want a job, got none".to_owned()),
        (want, Some(job)) => compare(want, &job_fields(job))
            .map_err(|e| format!("{e}\n    got: {}", render_job(job))),
    }
}

/// Compares each `FIELD=VALUE` of `want` with `actual`'s field.
fn compare(want: &str, actual: &[(&str, String)]) -> Result<(), String> {
    let want = fields(want)?;
    if want.is_empty() {
        return Err("nothing to expect".to_owned());
    }
    let mut wrong = Vec::new();
    for (k, v) in want {
        match actual.iter().find(|(name, _)| *name == k) {
            None => return Err(format!("unknown field `{k}`")),
            Some((_, got)) if got != v => wrong.push(format!("{k}: want {v}, got {got}")),
            Some(_) => {}
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

/// The law checker itself catches broken jobs, so a policy that broke them
/// would fail every testdata expectation that picks a job.
#[test]
fn laws_catch_broken_jobs() {
    let t = |n: u64, a: &str, b: &str| TableShape {
        number: n,
        range: KeyRange::new(Bytes::from(a.to_owned()), Bytes::from(b.to_owned())),
        size: 10,
    };
    let shape = TreeShape::new(vec![
        RunShape {
            id: 3,
            tables: vec![t(3, "a", "z")],
        },
        RunShape {
            id: 2,
            tables: vec![t(2, "a", "z")],
        },
        RunShape {
            id: 1,
            tables: vec![t(1, "a", "z"), t(4, "zz", "zzz")],
        },
    ]);
    let run = |id: u64, n: u64| GroupRun {
        id,
        tables: vec![n],
        bytes: 10,
    };
    let good = CompactionJob {
        reason: CompactionReason::SizeTiered,
        inputs: vec![run(3, 3), run(2, 2)],
        range: KeyRange::new("a", "z"),
        output_run: 3,
        bottom: false,
        fan_in: 32,
        rounds: 1,
    };
    assert_eq!(
        job_law_violations(&shape, &good, true),
        Vec::<String>::new()
    );
    let broken = |f: &dyn Fn(&mut CompactionJob)| {
        let mut job = good.clone();
        f(&mut job);
        job_law_violations(&shape, &job, true)
    };
    // Skipping run 2 would put run 1's versions above run 2's.
    assert!(!broken(&|j| j.inputs = vec![run(3, 3), run(1, 1)]).is_empty());
    assert!(!broken(&|j| j.output_run = 2).is_empty());
    assert!(!broken(&|j| j.bottom = true).is_empty());
    assert!(!broken(&|j| j.range = KeyRange::new("b", "z")).is_empty());
    assert!(!broken(&|j| j.inputs = vec![run(3, 3)]).is_empty());
    assert!(!broken(&|j| j.inputs = vec![run(2, 2), run(3, 3)]).is_empty());
    assert!(!broken(&|j| j.inputs[1].bytes = 11).is_empty());
    assert!(!broken(&|j| j.inputs[1].tables = vec![9]).is_empty());
    assert!(!broken(&|j| j.rounds = 2).is_empty());
    // Run 1's table 4 lies outside the inputs: the job is still at the bottom.
    let bottom = CompactionJob {
        inputs: vec![run(3, 3), run(2, 2), run(1, 1)],
        bottom: true,
        ..good.clone()
    };
    assert_eq!(
        job_law_violations(&shape, &bottom, true),
        Vec::<String>::new()
    );
}
