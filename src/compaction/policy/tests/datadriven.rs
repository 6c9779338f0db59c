//! The data-driven runner behind the picker tests: parses the testdata
//! format (see the parent module's docs), runs each command against the
//! policy, and checks every picked job against the laws any correct job
//! obeys.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use bytes::Bytes;

use super::super::*;
use crate::compaction::{RunShape, TableShape};

pub(super) fn base_options() -> CompactionOptions {
    CompactionOptions::default().merge_workers(1)
}

pub(super) fn run_file(name: &str, text: &str) {
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

pub(super) struct Runner {
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
pub(super) fn job_law_violations(
    shape: &TreeShape,
    job: &CompactionJob,
    pick: bool,
) -> Vec<String> {
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

pub(super) fn parse_table(s: &str) -> Result<TableShape, String> {
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

pub(super) fn fields(s: &str) -> Result<Vec<(&str, &str)>, String> {
    s.split_whitespace()
        .map(|f| {
            f.split_once('=')
                .ok_or_else(|| format!("`{f}`: want FIELD=VALUE"))
        })
        .collect()
}

pub(super) fn set_option(
    o: CompactionOptions,
    key: &str,
    value: &str,
) -> Result<CompactionOptions, String> {
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

pub(super) fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn render_range(r: &KeyRange) -> String {
    format!(
        "{}-{}",
        String::from_utf8_lossy(&r.min),
        String::from_utf8_lossy(&r.max)
    )
}

pub(super) fn reason_name(r: CompactionReason) -> &'static str {
    match r {
        CompactionReason::FileCount => "file-count",
        CompactionReason::OverlapRatio => "overlap-ratio",
        CompactionReason::SizeTiered => "size-tiered",
        CompactionReason::Manual => "manual",
    }
}

pub(super) fn job_fields(job: &CompactionJob) -> Vec<(&'static str, String)> {
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

pub(super) fn render_job(job: &CompactionJob) -> String {
    let mut s = String::new();
    for (k, v) in job_fields(job) {
        let _ = write!(s, "{k}={v} ");
    }
    s.trim_end().to_owned()
}

pub(super) fn render_group(g: &OverlapGroup) -> Vec<(&'static str, String)> {
    vec![
        ("runs", join(g.runs.iter().map(|r| r.id))),
        ("tables", join(g.runs.iter().flat_map(|r| r.tables.iter()))),
        ("depth", g.depth().to_string()),
        ("ratio", format!("{:.3}", g.overlap_ratio())),
        ("range", render_range(&g.range)),
        ("bytes", g.bytes().to_string()),
    ]
}

pub(super) fn compare_job(want: &str, job: Option<&CompactionJob>) -> Result<(), String> {
    match (want.trim(), job) {
        ("none", None) => Ok(()),
        ("none", Some(job)) => Err(format!("want none, got {}", render_job(job))),
        (_, None) => Err("want a job, got none".to_owned()),
        (want, Some(job)) => compare(want, &job_fields(job))
            .map_err(|e| format!("{e}\n    got: {}", render_job(job))),
    }
}

/// Compares each `FIELD=VALUE` of `want` with `actual`'s field.
pub(super) fn compare(want: &str, actual: &[(&str, String)]) -> Result<(), String> {
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
