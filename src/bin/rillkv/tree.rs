//! `stats` and `shape`: the tree as the manifest describes it, offline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rillkv::CompactionOptions;
use rillkv::compaction::svg::{self, SvgOptions};
use rillkv::compaction::{
    CompactionJob, CompactionPolicy, CompactionReason, OverlapGroup, TieredPolicy, fold_runs,
};
use rillkv::tools::{self, TreeInfo};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::fmt::{human, plural, short_key, to_hex};
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

pub fn stats(a: &StatsArgs, quiet: bool) -> Result<ExitCode, CliError> {
    let tree = tools::load_tree(&a.dir)?;
    let opts = policy_options();
    let groups = tree.shape.overlap_groups();
    let next = TieredPolicy.pick(&tree.shape, &opts);
    let fold = fold_runs(&tree.shape, &opts);
    let exact = if a.exact {
        let total: u64 = tree.tables.iter().map(|t| t.entries).sum();
        let pb = progress::items(total, "walking", quiet, false);
        let live = tools::live_data(&tree, &mut |n| pb.set_position(n))?;
        pb.finish_and_clear();
        Some(live)
    } else {
        None
    };
    let estimate = estimated_space_amp(&groups);
    let depth = groups.iter().map(OverlapGroup::depth).max().unwrap_or(0);
    let bytes: u64 = tree.tables.iter().map(|t| t.size).sum();
    let entries: u64 = tree.tables.iter().map(|t| t.entries).sum();
    let mut out = std::io::stdout().lock();
    if a.json {
        let v = json!({
            "dir": tree.dir.display().to_string(),
            "manifest": tree.manifest.display().to_string(),
            "log_number": tree.log_number,
            "next_file_number": tree.next_file_number,
            "last_seqno": tree.last_seqno,
            "merge_operator": tree.merge_operator,
            "wal_files": tree.wal_files.iter().map(|(p, s)| json!({"path": p.display().to_string(), "size": s})).collect::<Vec<_>>(),
            "runs": tree.shape.runs.len(),
            "bytes": bytes,
            "entries": entries,
            "tables": tree.tables.iter().map(|t| json!({
                "number": t.number, "run": t.run, "size": t.size, "entries": t.entries,
                "min_seqno": t.min_seqno, "max_seqno": t.max_seqno,
                "smallest_hex": to_hex(&t.smallest), "largest_hex": to_hex(&t.largest),
            })).collect::<Vec<_>>(),
            "overlap_groups": groups.iter().map(|g| json!({
                "tables": g.tables(), "runs": g.runs.len(), "bytes": g.bytes(), "depth": g.depth(),
                "overlap_ratio": g.overlap_ratio(),
                "smallest_hex": to_hex(&g.range.min), "largest_hex": to_hex(&g.range.max),
            })).collect::<Vec<_>>(),
            "next_compaction": next.as_ref().map(|j| json!({
                "reason": j.reason.to_string(),
                "why": why(j, group_of(&groups, j), &opts),
                "runs": j.inputs.iter().map(|r| r.id).collect::<Vec<_>>(),
                "tables": j.tables().collect::<Vec<_>>(),
                "bytes": j.bytes(), "bottom": j.bottom, "fan_in": j.fan_in, "rounds": j.rounds,
            })),
            "max_depth": depth,
            "space_amplification_estimate": estimate,
            "space_amplification_exact": exact.map(|l| l.space_amplification()),
            "live_keys": exact.map(|l| l.live_keys),
            "write_amplification": Value::Null,
        });
        writeln!(out, "{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    print_stats(&mut out, &tree, &groups, next.as_ref(), &opts)?;
    if let Some(f) = &fold {
        writeln!(
            out,
            "  run fold (metadata only): {} lone tables move into run {}",
            f.moves.len(),
            f.target
        )?;
    }
    writeln!(out, "amplification:")?;
    match exact {
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
            "  space  {estimate:.2} estimated: table bytes / the largest run of each overlap \
             group, as if that run held all the group's live data (--exact measures it)"
        )?,
    }
    writeln!(
        out,
        "  read   a point read probes at most {} (the deepest overlap group)",
        plural(depth, "table")
    )?;
    writeln!(
        out,
        "  write  not stored on disk: the counters live in the process that has the database \
         open (Db::stats); `rillkv compact` prints the bytes it rewrites"
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_stats(
    out: &mut impl Write,
    tree: &TreeInfo,
    groups: &[OverlapGroup],
    next: Option<&CompactionJob>,
    opts: &CompactionOptions,
) -> std::io::Result<()> {
    let bytes: u64 = tree.tables.iter().map(|t| t.size).sum();
    let entries: u64 = tree.tables.iter().map(|t| t.entries).sum();
    writeln!(out, "database {}", tree.dir.display())?;
    writeln!(
        out,
        "manifest {}: log number {}, next file {}, last seqno {}, merge operator {}",
        tree.manifest.display(),
        tree.log_number,
        tree.next_file_number,
        tree.last_seqno,
        tree.merge_operator.as_deref().unwrap_or("none")
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
    writeln!(
        out,
        "tables: {} in {}, {}, {} entries",
        tree.tables.len(),
        plural(tree.shape.runs.len(), "run"),
        human(bytes),
        entries
    )?;
    writeln!(
        out,
        "{:>8} {:>8} {:>10} {:>10}  {:<21}  key range",
        "run", "table", "size", "entries", "seqnos"
    )?;
    for t in &tree.tables {
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
        "next compaction (TieredPolicy with default CompactionOptions: a database's options are \
         not stored on disk):"
    )?;
    match next {
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
    Ok(())
}

pub fn shape(a: &ShapeArgs, quiet: bool) -> Result<ExitCode, CliError> {
    let pb = progress::spinner("reading the manifest", quiet);
    let tree = tools::load_tree(&a.dir)?;
    pb.finish_and_clear();
    let opts = policy_options();
    let next = TieredPolicy.pick(&tree.shape, &opts);
    let groups = tree.shape.overlap_groups();
    let bytes: u64 = tree.tables.iter().map(|t| t.size).sum();
    let svg_opts = SvgOptions {
        title: format!("rillkv tree: {}", tree.dir.display()),
        subtitle: vec![
            format!(
                "{} runs, {} tables, {}, {} overlap groups, deepest {} runs; last seqno {}",
                tree.shape.runs.len(),
                tree.tables.len(),
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
    let text = svg::render(&tree.shape, next.as_ref(), &svg_opts);
    if a.out.as_os_str() == "-" {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    } else {
        std::fs::write(&a.out, &text)
            .map_err(|e| CliError::Io(format!("cannot write {}", a.out.display()), e))?;
        println!(
            "wrote {}: {}, {}, {}, next compaction: {}",
            a.out.display(),
            plural(tree.shape.runs.len(), "run"),
            plural(tree.tables.len(), "table"),
            plural(groups.len(), "overlap group"),
            next.as_ref()
                .map_or_else(|| "none".to_owned(), |j| j.reason.to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}
