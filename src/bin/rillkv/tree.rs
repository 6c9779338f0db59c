//! `stats`, `shape` and `keyspaces`: each keyspace's tree as the manifest
//! describes it, offline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rillkv::CompactionOptions;
use rillkv::compaction::svg::{self, SvgOptions};
use rillkv::compaction::{
    CompactionJob, CompactionPolicy, CompactionReason, OverlapGroup, RunFold, TieredPolicy,
    fold_runs,
};
use rillkv::tools::{self, KeyspaceInfo, LiveData, TreeInfo};
use serde_json::{Map, Value, json};

use crate::error::CliError;
use crate::fmt::{human, plural, short_key, to_hex};
use crate::open::DEFAULT_KEYSPACE;
use crate::progress;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The database directory.
    dir: PathBuf,
    /// Measure space amplification by walking every table (reads all the
    /// data) instead of estimating it from the tree's shape.
    #[arg(long)]
    exact: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Only this keyspace (default: every keyspace).
    #[arg(long, value_name = "NAME")]
    keyspace: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShapeArgs {
    /// The database directory.
    dir: PathBuf,
    /// Where to write the SVG (`-` for stdout).
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Width of the picture in pixels.
    #[arg(long, default_value_t = 1200)]
    width: u32,
    /// Only this keyspace (default: every keyspace, one picture under the
    /// other).
    #[arg(long, value_name = "NAME")]
    keyspace: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeyspacesArgs {
    /// The database directory.
    dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The policy's options: rillkv does not store a database's
/// `CompactionOptions`, so the defaults stand in for them.
fn policy_options() -> CompactionOptions {
    CompactionOptions::default()
}

/// The overlap group a job works in.
fn group_of<'a>(groups: &'a [OverlapGroup], job: &CompactionJob) -> Option<&'a OverlapGroup> {
    groups.iter().find(|g| g.range == job.range)
}

/// Why the policy picked `job`, with the numbers that triggered it.
fn why(job: &CompactionJob, group: Option<&OverlapGroup>, o: &CompactionOptions) -> String {
    match job.reason {
        CompactionReason::FileCount => format!(
            "a point read in the group may probe {} tables (its depth), reaching \
             max_merge_files {}; the window of runs rewriting the fewest bytes per run removed \
             is merged",
            group.map_or(0, OverlapGroup::depth),
            o.max_merge_files
        ),
        CompactionReason::OverlapRatio => format!(
            "{:.0}% of the group's bytes lie outside its largest run (overlap ratio {:.2} > \
             overlap_ratio_trigger {}): duplicates waste space, so all its runs are merged",
            100.0 * group.map_or(0.0, OverlapGroup::overlap_ratio),
            group.map_or(0.0, OverlapGroup::overlap_ratio),
            o.overlap_ratio_trigger
        ),
        CompactionReason::SizeTiered => format!(
            "{} consecutive runs of similar size (each at most tier_size_ratio {} x the newer \
             ones together) reach min_merge_width {}",
            job.inputs.len(),
            o.tier_size_ratio,
            o.min_merge_width
        ),
        CompactionReason::Manual => "a manual compaction".to_owned(),
    }
}

fn job_line(job: &CompactionJob) -> String {
    let runs: Vec<String> = job.inputs.iter().map(|r| r.id.to_string()).collect();
    format!(
        "{}: merge runs {} ({} tables, {}) over {} .. {} into run {}{}; fan-in {}, {} round{}",
        job.reason,
        runs.join(", "),
        job.tables().count(),
        human(job.bytes()),
        short_key(&job.range.min),
        short_key(&job.range.max),
        job.output_run,
        if job.bottom {
            ", bottom (tombstones may drop)"
        } else {
            ""
        },
        job.fan_in,
        job.rounds,
        if job.rounds == 1 { "" } else { "s" }
    )
}

/// Table bytes ÷ the largest run of each overlap group: about what a full
/// compaction would divide the bytes by if each group's largest run held
/// all its live keys.
fn estimated_space_amp(groups: &[OverlapGroup]) -> f64 {
    let total: u64 = groups.iter().map(OverlapGroup::bytes).sum();
    let largest: u64 = groups
        .iter()
        .map(|g| g.runs.iter().map(|r| r.bytes).max().unwrap_or(0))
        .sum();
    if largest == 0 {
        1.0
    } else {
        total as f64 / largest as f64
    }
}

/// The keyspaces of `tree` a command shows: `only`, or every one.
fn selected<'a>(tree: &'a TreeInfo, only: Option<&str>) -> Result<Vec<&'a KeyspaceInfo>, CliError> {
    let Some(name) = only else {
        return Ok(tree.keyspaces.iter().collect());
    };
    match tree.keyspaces.iter().find(|k| k.name == name) {
        Some(k) => Ok(vec![k]),
        None => {
            let names: Vec<&str> = tree.keyspaces.iter().map(|k| k.name.as_str()).collect();
            Err(CliError::usage(format!(
                "the database at {} has no keyspace '{name}' (it has {})",
                tree.dir.display(),
                names.join(", ")
            )))
        }
    }
}

/// Bytes and entries in `tables`.
fn totals(tables: &[tools::TableInfo]) -> (u64, u64) {
    (
        tables.iter().map(|t| t.size).sum(),
        tables.iter().map(|t| t.entries).sum(),
    )
}

/// Walks the tables of each of `keyspaces` (`stats --exact`), under one
/// progress bar.
fn walk(
    tree: &TreeInfo,
    keyspaces: &[&KeyspaceInfo],
    quiet: bool,
) -> Result<Vec<LiveData>, CliError> {
    let total: u64 = keyspaces.iter().map(|k| totals(&k.tables).1).sum();
    let pb = progress::items(total, "walking", quiet, false);
    let mut done = 0;
    let mut out = Vec::with_capacity(keyspaces.len());
    for ks in keyspaces {
        // `live_data` walks a tree's (default keyspace's) tables: give it
        // this keyspace's.
        let one = TreeInfo {
            tables: ks.tables.clone(),
            ..tree.clone()
        };
        let live = tools::live_data(&one, &mut |n| pb.set_position(done + n))?;
        done += live.entries;
        out.push(live);
    }
    pb.finish_and_clear();
    Ok(out)
}

/// One keyspace's tree as `stats` shows it.
struct TreeReport<'a> {
    ks: &'a KeyspaceInfo,
    groups: Vec<OverlapGroup>,
    next: Option<CompactionJob>,
    fold: Option<RunFold>,
    exact: Option<LiveData>,
    estimate: f64,
    depth: usize,
    bytes: u64,
    entries: u64,
}

impl<'a> TreeReport<'a> {
    fn new(ks: &'a KeyspaceInfo, opts: &CompactionOptions, exact: Option<LiveData>) -> Self {
        let groups = ks.shape.overlap_groups();
        let (bytes, entries) = totals(&ks.tables);
        TreeReport {
            ks,
            next: TieredPolicy.pick(&ks.shape, opts),
            fold: fold_runs(&ks.shape, opts),
            exact,
            estimate: estimated_space_amp(&groups),
            depth: groups.iter().map(OverlapGroup::depth).max().unwrap_or(0),
            groups,
            bytes,
            entries,
        }
    }

    fn json(&self, opts: &CompactionOptions) -> Map<String, Value> {
        let (ks, groups) = (self.ks, &self.groups);
        let v = json!({
            "name": ks.name,
            "id": ks.id,
            "log_number": ks.log_number,
            "merge_operator": ks.merge_operator,
            "runs": ks.shape.runs.len(),
            "bytes": self.bytes,
            "entries": self.entries,
            "tables": ks.tables.iter().map(|t| json!({
                "number": t.number, "run": t.run, "size": t.size, "entries": t.entries,
                "min_seqno": t.min_seqno, "max_seqno": t.max_seqno,
                "smallest_hex": to_hex(&t.smallest), "largest_hex": to_hex(&t.largest),
            })).collect::<Vec<_>>(),
            "overlap_groups": groups.iter().map(|g| json!({
                "tables": g.tables(), "runs": g.runs.len(), "bytes": g.bytes(), "depth": g.depth(),
                "overlap_ratio": g.overlap_ratio(),
                "smallest_hex": to_hex(&g.range.min), "largest_hex": to_hex(&g.range.max),
            })).collect::<Vec<_>>(),
            "next_compaction": self.next.as_ref().map(|j| json!({
                "reason": j.reason.to_string(),
                "why": why(j, group_of(groups, j), opts),
                "runs": j.inputs.iter().map(|r| r.id).collect::<Vec<_>>(),
                "tables": j.tables().collect::<Vec<_>>(),
                "bytes": j.bytes(), "bottom": j.bottom, "fan_in": j.fan_in, "rounds": j.rounds,
            })),
            "max_depth": self.depth,
            "space_amplification_estimate": self.estimate,
            "space_amplification_exact": self.exact.map(|l| l.space_amplification()),
            "live_keys": self.exact.map(|l| l.live_keys),
            "write_amplification": Value::Null,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn print(&self, out: &mut impl Write, opts: &CompactionOptions) -> std::io::Result<()> {
        let ks = self.ks;
        writeln!(
            out,
            "keyspace {} (id {}): merge operator {}, log number {}",
            ks.name,
            ks.id,
            ks.merge_operator.as_deref().unwrap_or("none"),
            ks.log_number
        )?;
        writeln!(
            out,
            "tables: {} in {}, {}, {} entries",
            ks.tables.len(),
            plural(ks.shape.runs.len(), "run"),
            human(self.bytes),
            self.entries
        )?;
        writeln!(
            out,
            "{:>8} {:>8} {:>10} {:>10}  {:<21}  key range",
            "run", "table", "size", "entries", "seqnos"
        )?;
        for t in &ks.tables {
            writeln!(
                out,
                "{:>8} {:>8} {:>10} {:>10}  {:<21}  {} .. {}",
                t.run,
                t.number,
                human(t.size),
                t.entries,
                format!("{}..={}", t.min_seqno, t.max_seqno),
                short_key(&t.smallest),
                short_key(&t.largest)
            )?;
        }
        let groups = &self.groups;
        writeln!(out, "overlap groups: {}", groups.len())?;
        writeln!(
            out,
            "{:>8} {:>8} {:>6} {:>10} {:>6} {:>8}  key range",
            "group", "tables", "runs", "bytes", "depth", "overlap"
        )?;
        for (i, g) in groups.iter().enumerate() {
            writeln!(
                out,
                "{:>8} {:>8} {:>6} {:>10} {:>6} {:>8.2}  {} .. {}",
                i + 1,
                g.tables(),
                g.runs.len(),
                human(g.bytes()),
                g.depth(),
                g.overlap_ratio(),
                short_key(&g.range.min),
                short_key(&g.range.max)
            )?;
        }
        writeln!(
            out,
            "next compaction (TieredPolicy with default CompactionOptions: a database's options \
             are not stored on disk):"
        )?;
        match &self.next {
            Some(j) => {
                writeln!(out, "  {}", job_line(j))?;
                writeln!(out, "  why: {}", why(j, group_of(groups, j), opts))?;
            }
            None => writeln!(
                out,
                "  none: no group reaches max_merge_files {}, overlap_ratio_trigger {} or \
                 min_merge_width {} runs of similar size",
                opts.max_merge_files, opts.overlap_ratio_trigger, opts.min_merge_width
            )?,
        }
        if let Some(f) = &self.fold {
            writeln!(
                out,
                "  run fold (metadata only): {} lone tables move into run {}",
                f.moves.len(),
                f.target
            )?;
        }
        writeln!(out, "amplification:")?;
        match self.exact {
            Some(l) => writeln!(
                out,
                "  space  {:.2} measured: {} raw in {} entries, {} live in {} keys",
                l.space_amplification(),
                human(l.bytes),
                l.entries,
                human(l.live_bytes),
                l.live_keys
            )?,
            None => writeln!(
                out,
                "  space  {:.2} estimated: table bytes / the largest run of each overlap \
                 group, as if that run held all the group's live data (--exact measures it)",
                self.estimate
            )?,
        }
        writeln!(
            out,
            "  read   a point read probes at most {} (the deepest overlap group)",
            plural(self.depth, "table")
        )
    }
}

pub fn stats(a: &StatsArgs, quiet: bool) -> Result<ExitCode, CliError> {
    let tree = tools::load_tree(&a.dir)?;
    let chosen = selected(&tree, a.keyspace.as_deref())?;
    let opts = policy_options();
    let exact = if a.exact {
        walk(&tree, &chosen, quiet)?.into_iter().map(Some).collect()
    } else {
        vec![None; chosen.len()]
    };
    let reports: Vec<TreeReport<'_>> = chosen
        .iter()
        .zip(exact)
        .map(|(ks, live)| TreeReport::new(ks, &opts, live))
        .collect();
    let mut out = std::io::stdout().lock();
    if a.json {
        // The default keyspace's tree at the top (as before keyspaces),
        // then the database's fields, and every keyspace shown.
        let mut top = reports
            .iter()
            .find(|r| r.ks.name == DEFAULT_KEYSPACE)
            .map(|r| r.json(&opts))
            .unwrap_or_default();
        top.remove("name");
        top.remove("id");
        let db = json!({
            "dir": tree.dir.display().to_string(),
            "manifest": tree.manifest.display().to_string(),
            "log_number": tree.log_number,
            "next_file_number": tree.next_file_number,
            "last_seqno": tree.last_seqno,
            "wal_files": tree.wal_files.iter().map(|(p, s)| json!({"path": p.display().to_string(), "size": s})).collect::<Vec<_>>(),
            "keyspaces": reports.iter().map(|r| Value::Object(r.json(&opts))).collect::<Vec<_>>(),
        });
        if let Value::Object(fields) = db {
            top.extend(fields);
        }
        writeln!(out, "{}", Value::Object(top))?;
        return Ok(ExitCode::SUCCESS);
    }
    print_database(&mut out, &tree)?;
    for r in &reports {
        writeln!(out)?;
        r.print(&mut out, &opts)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "write amplification: not stored on disk: the counters live in the process that has the \
         database open (Db::stats); `rillkv compact` prints the bytes it rewrites"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// What the database's keyspaces share: manifest, WALs, sequence numbers.
fn print_database(out: &mut impl Write, tree: &TreeInfo) -> std::io::Result<()> {
    writeln!(out, "database {}", tree.dir.display())?;
    writeln!(
        out,
        "manifest {}: log number {}, next file {}, last seqno {}",
        tree.manifest.display(),
        tree.log_number,
        tree.next_file_number,
        tree.last_seqno,
    )?;
    if let Some(d) = &tree.dropped_manifest_tail {
        writeln!(
            out,
            "manifest tail damaged @{}: {} (the next open drops it)",
            d.offset, d.reason
        )?;
    }
    for (path, size) in &tree.wal_files {
        writeln!(
            out,
            "wal {} {} (writes not yet in tables; replayed at the next open)",
            path.display(),
            human(*size)
        )?;
    }
    let names: Vec<&str> = tree.keyspaces.iter().map(|k| k.name.as_str()).collect();
    writeln!(
        out,
        "{}: {}",
        plural(names.len(), "keyspace"),
        names.join(", ")
    )
}

pub fn shape(a: &ShapeArgs, quiet: bool) -> Result<ExitCode, CliError> {
    let pb = progress::spinner("reading the manifest", quiet);
    let tree = tools::load_tree(&a.dir)?;
    pb.finish_and_clear();
    let chosen = selected(&tree, a.keyspace.as_deref())?;
    let opts = policy_options();
    let mut pictures = Vec::with_capacity(chosen.len());
    let mut lines = Vec::with_capacity(chosen.len());
    for ks in &chosen {
        let next = TieredPolicy.pick(&ks.shape, &opts);
        let groups = ks.shape.overlap_groups();
        let (bytes, _) = totals(&ks.tables);
        let title = if tree.keyspaces.len() > 1 {
            format!("rillkv tree: {} · keyspace {}", tree.dir.display(), ks.name)
        } else {
            format!("rillkv tree: {}", tree.dir.display())
        };
        let svg_opts = SvgOptions {
            title,
            subtitle: vec![
                format!(
                    "{} runs, {} tables, {}, {} overlap groups, deepest {} runs; last seqno {}",
                    ks.shape.runs.len(),
                    ks.tables.len(),
                    human(bytes),
                    groups.len(),
                    groups.iter().map(OverlapGroup::depth).max().unwrap_or(0),
                    tree.last_seqno
                ),
                format!(
                    "policy: TieredPolicy, default CompactionOptions (max_merge_files {}, \
                     overlap_ratio_trigger {}, min_merge_width {}, tier_size_ratio {})",
                    opts.max_merge_files,
                    opts.overlap_ratio_trigger,
                    opts.min_merge_width,
                    opts.tier_size_ratio
                ),
            ],
            width: a.width,
            ..SvgOptions::default()
        };
        pictures.push(svg::render(&ks.shape, next.as_ref(), &svg_opts));
        lines.push(format!(
            "  {}: {}, {}, {}, next compaction: {}",
            ks.name,
            plural(ks.shape.runs.len(), "run"),
            plural(ks.tables.len(), "table"),
            plural(groups.len(), "overlap group"),
            next.as_ref()
                .map_or_else(|| "none".to_owned(), |j| j.reason.to_string())
        ));
    }
    let text = match pictures.as_slice() {
        [one] => one.clone(),
        many => stack(many),
    };
    if a.out.as_os_str() == "-" {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    } else {
        std::fs::write(&a.out, &text)
            .map_err(|e| CliError::Io(format!("cannot write {}", a.out.display()), e))?;
        println!(
            "wrote {}: {}",
            a.out.display(),
            plural(chosen.len(), "keyspace")
        );
        for l in &lines {
            println!("{l}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Standalone SVG documents (as `svg::render` writes them) as one, each
/// under the one before.
fn stack(pictures: &[String]) -> String {
    let mut body = String::new();
    let (mut width, mut y) = (0.0f64, 0.0f64);
    for p in pictures {
        // From the root element on: no second XML declaration.
        let root = p.find("<svg").and_then(|at| p.get(at..)).unwrap_or(p);
        let tag = root.split('>').next().unwrap_or_default();
        body.push_str(&root.replacen("<svg ", &format!("<svg x=\"0\" y=\"{y:.0}\" "), 1));
        width = width.max(number_attr(tag, "width"));
        y += number_attr(tag, "height");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         version=\"1.1\" width=\"{width:.0}\" height=\"{y:.0}\" viewBox=\"0 0 {width:.0} \
         {y:.0}\">\n{body}</svg>\n"
    )
}

/// The number in attribute `name="…"` of the start tag `tag` (0 without
/// one).
fn number_attr(tag: &str, name: &str) -> f64 {
    let pattern = format!(" {name}=\"");
    tag.find(&pattern)
        .and_then(|at| tag.get(at + pattern.len()..))
        .and_then(|rest| rest.split('"').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub fn keyspaces(a: &KeyspacesArgs) -> Result<ExitCode, CliError> {
    let tree = tools::load_tree(&a.dir)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        let v = json!({
            "dir": tree.dir.display().to_string(),
            "keyspaces": tree.keyspaces.iter().map(|k| {
                let (bytes, entries) = totals(&k.tables);
                json!({
                    "name": k.name, "id": k.id, "merge_operator": k.merge_operator,
                    "log_number": k.log_number, "runs": k.shape.runs.len(),
                    "tables": k.tables.len(), "bytes": bytes, "entries": entries,
                })
            }).collect::<Vec<_>>(),
        });
        writeln!(out, "{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<20} {:>5}  {:<16} {:>5} {:>7} {:>10} {:>10}",
        "keyspace", "id", "merge operator", "runs", "tables", "size", "entries"
    )?;
    for k in &tree.keyspaces {
        let (bytes, entries) = totals(&k.tables);
        writeln!(
            out,
            "{:<20} {:>5}  {:<16} {:>5} {:>7} {:>10} {:>10}",
            k.name,
            k.id,
            k.merge_operator.as_deref().unwrap_or("none"),
            k.shape.runs.len(),
            k.tables.len(),
            human(bytes),
            entries
        )?;
    }
    if !tree.wal_files.is_empty() {
        writeln!(
            out,
            "(writes in {} are not in tables yet: replayed at the next open)",
            plural(tree.wal_files.len(), "WAL file")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
