//! `compare`: runs the same workloads on rillkv, RocksDB and fjall in
//! alternating rounds (A B C, A B C, ...), each run a fresh
//! `rillkv-bench` process, takes the medians, prints rillkv's ratio to
//! each peer, checks the issue's targets and writes `BENCHMARKS.md` and an
//! SVG chart of the ratios.
//!
//! ```text
//! cargo build --manifest-path compare/Cargo.toml --release --features rocksdb,fjall
//! compare/target/release/compare --num 500000 --rounds 3 --md BENCHMARKS.md --svg docs/bench-ratios.svg
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Parser;
use rillkv_compare::bench::{PhaseResult, RunReport};
use rillkv_compare::chart::ratios_svg;
use rillkv_compare::engine::Result;
use rillkv_compare::sys;

const DEFAULT_BENCHMARKS: &str = "fillseq,fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readwhilewriting,mergerandom,readmerged,compact,fillsync,fillsync@2,openwal,fillrandom4ks";

#[derive(Parser, Debug)]
#[command(
    name = "compare",
    about = "rillkv vs RocksDB vs fjall, alternating rounds, medians"
)]
struct Args {
    /// Keys per workload.
    #[arg(long, default_value_t = 500_000)]
    num: u64,
    /// Rounds; each runs every engine once, in the same order.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Engines, comma-separated; the first is the one the ratios are of.
    #[arg(long, default_value = "rillkv,rocksdb,fjall")]
    engines: String,
    /// Workloads, comma-separated (rillkv-bench names, `@N` for threads).
    #[arg(long, default_value = DEFAULT_BENCHMARKS)]
    benchmarks: String,
    /// The rillkv-bench binary (default: next to this one).
    #[arg(long)]
    bench_bin: Option<PathBuf>,
    /// Where the databases go (one directory per run, removed after).
    #[arg(long, default_value = "/tmp/rillkv-compare")]
    db_root: PathBuf,
    /// Markdown file to write (the part between the GENERATED markers is
    /// replaced; the rest is kept).
    #[arg(long)]
    md: Option<PathBuf>,
    /// SVG chart of the ratios.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Raw results of every run, as JSON.
    #[arg(long)]
    raw_json: Option<PathBuf>,
    /// Directory for the timelines of round 1 (JSON + SVG per engine).
    #[arg(long)]
    timeline_dir: Option<PathBuf>,
    /// Name of the generated section: several runs (say the 500k and the
    /// 5M one) can each own a section of the same Markdown file.
    #[arg(long, default_value = "main")]
    section: String,
    /// Heading of the generated section.
    #[arg(long, default_value = "Last run")]
    title: String,
    /// The command line that ran this comparison, for the report.
    #[arg(long)]
    command_note: Option<String>,
    /// Do not run anything: rebuild the report, chart and targets from a
    /// `--raw-json` file of an earlier run (give the same --num/--rounds).
    #[arg(long)]
    from_json: Option<PathBuf>,
    /// The date to print (default: now), e.g. the date of the --from-json run.
    #[arg(long)]
    date: Option<String>,
    /// Extra arguments for every rillkv-bench run (after `--`).
    #[arg(last = true)]
    extra: Vec<String>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}

/// Medians of one (engine, workload) over the rounds.
#[derive(Debug, Clone, Default)]
struct Agg {
    ops_per_sec: f64,
    mb_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us_worst: f64,
    cpu_secs: f64,
    write_amp: Option<f64>,
    space_amp: Option<f64>,
    disk_mb: f64,
    peak_rss_mb: f64,
    peak_rss_worst: f64,
    stall_ms: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn aggregate(rs: &[&PhaseResult]) -> Agg {
    let m = |f: &dyn Fn(&PhaseResult) -> f64| median(rs.iter().map(|r| f(r)).collect());
    let mo = |f: &dyn Fn(&PhaseResult) -> Option<f64>| {
        let v: Vec<f64> = rs.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| median(v))
    };
    Agg {
        ops_per_sec: m(&|r| r.ops_per_sec),
        mb_per_sec: m(&|r| r.mb_per_sec),
        p50_us: m(&|r| r.p50_us),
        p99_us: m(&|r| r.p99_us),
        p999_us: m(&|r| r.p999_us),
        max_us_worst: rs.iter().map(|r| r.max_us).fold(0.0, f64::max),
        cpu_secs: m(&|r| r.cpu_secs),
        write_amp: mo(&|r| r.write_amp),
        space_amp: mo(&|r| r.space_amp),
        disk_mb: m(&|r| r.disk_bytes as f64 / 1e6),
        peak_rss_mb: m(&|r| r.peak_rss_mb),
        peak_rss_worst: rs.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max),
        stall_ms: mo(&|r| r.stall_ms),
    }
}

/// The throughput a ratio is taken of: MB/s for compact, ops/s otherwise
/// (for openwal, 1 / reopen time).
fn throughput(bench: &str, a: &Agg) -> f64 {
    if bench == "compact" {
        a.mb_per_sec
    } else {
        a.ops_per_sec
    }
}

fn run(args: Args) -> Result<()> {
    let engines: Vec<String> = args
        .engines
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let benches: Vec<String> = args
        .benchmarks
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let bench_bin = match &args.bench_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("no parent directory of the compare binary")?
            .join("rillkv-bench"),
    };
    let started = Instant::now();
    let date = args.date.clone().unwrap_or_else(utc_now);
    let mut runs: Vec<(usize, RunReport)> = Vec::new();
    let mut configs: BTreeMap<String, String> = BTreeMap::new();
    let mut commands: Vec<String> = Vec::new();
    if let Some(path) = &args.from_json {
        let all: Vec<RunReport> = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        for (i, report) in all.into_iter().enumerate() {
            configs.insert(report.engine.clone(), report.config.clone());
            if i < engines.len() {
                // argv[0] is a path: keep the binary's name only.
                let rest = report.command.split_once(' ').map_or("", |(_, r)| r);
                commands.push(format!("rillkv-bench {rest}"));
            }
            runs.push((i / engines.len().max(1), report));
        }
    }
    let rounds = if args.from_json.is_some() {
        0
    } else {
        args.rounds
    };
    for round in 0..rounds {
        for engine in &engines {
            let db = args.db_root.join(format!("{engine}-{round}"));
            let mut cmd_args: Vec<String> = vec![
                "--engine".into(),
                engine.clone(),
                "--num".into(),
                args.num.to_string(),
                "--benchmarks".into(),
                benches.join(","),
                "--json".into(),
                "--quiet".into(),
                "--db".into(),
                db.display().to_string(),
            ];
            if round == 0
                && let Some(dir) = &args.timeline_dir
            {
                cmd_args.push("--out-dir".into());
                cmd_args.push(dir.display().to_string());
            }
            cmd_args.extend(args.extra.iter().cloned());
            eprintln!(
                "== round {}/{} {engine} ({:.0} s so far)",
                round + 1,
                args.rounds,
                started.elapsed().as_secs_f64()
            );
            if round == 0 {
                commands.push(format!("rillkv-bench {}", cmd_args.join(" ")));
            }
            let out = Command::new(&bench_bin)
                .args(&cmd_args)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()?;
            let _ = std::fs::remove_dir_all(&db);
            if !out.status.success() {
                return Err(format!("{engine} round {} failed ({})", round + 1, out.status).into());
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().last().ok_or("rillkv-bench printed nothing")?;
            let report: RunReport = serde_json::from_str(line)?;
            configs.insert(engine.clone(), report.config.clone());
            runs.push((round, report));
        }
    }
    let total_secs = started.elapsed().as_secs_f64();

    // Medians per (engine, benchmark).
    let mut aggs: BTreeMap<(String, String), Agg> = BTreeMap::new();
    for engine in &engines {
        for bench in &benches {
            let rs: Vec<&PhaseResult> = runs
                .iter()
                .filter(|(_, r)| &r.engine == engine)
                .flat_map(|(_, r)| r.results.iter().filter(|p| &p.benchmark == bench))
                .collect();
            if !rs.is_empty() {
                aggs.insert((engine.clone(), bench.clone()), aggregate(&rs));
            }
        }
    }
    let base = engines.first().cloned().unwrap_or_default();
    let peers: Vec<String> = engines.iter().skip(1).cloned().collect();
    let get = |e: &str, b: &str| aggs.get(&(e.to_string(), b.to_string()));
    let ratio = |b: &str, peer: &str| -> Option<f64> {
        let (a, p) = (get(&base, b)?, get(peer, b)?);
        let pt = throughput(b, p);
        (pt > 0.0).then(|| throughput(b, a) / pt)
    };

    // Console table.
    println!(
        "\n{:<18}{}",
        "workload",
        peers
            .iter()
            .map(|p| format!("{:>16}", format!("{base}/{p}")))
            .collect::<String>()
    );
    let mut rows = Vec::new();
    for b in &benches {
        let rs: Vec<Option<f64>> = peers.iter().map(|p| ratio(b, p)).collect();
        println!(
            "{b:<18}{}",
            rs.iter()
                .map(|r| format!("{:>16}", r.map_or("-".into(), |v| format!("{v:.2}x"))))
                .collect::<String>()
        );
        rows.push((b.clone(), rs));
    }

    if let Some(svg) = &args.svg {
        if let Some(parent) = svg.parent() {
            std::fs::create_dir_all(parent)?;
        }
        ratios_svg(
            svg,
            &format!(
                "{base} / peer, median of {} rounds, {} keys",
                args.rounds, args.num
            ),
            &rows,
            &peers,
        )?;
    }
    if let Some(path) = &args.raw_json {
        let all: Vec<&RunReport> = runs.iter().map(|(_, r)| r).collect();
        std::fs::write(path, serde_json::to_string_pretty(&all)?)?;
    }

    // Markdown.
    let mut md = String::new();
    let (begin, end) = markers(&args.section);
    let _ = writeln!(
        md,
        "{} by compare/src/bin/compare.rs: edits here are overwritten -->",
        begin.trim_end_matches(" by")
    );
    let _ = writeln!(md, "## {}\n", args.title);
    let _ = writeln!(md, "- Date: {date}");
    let _ = writeln!(md, "- Machine: {}", sys::machine());
    let _ = writeln!(
        md,
        "- Keys: {} ({}-round medians, engines alternating {} per round; {})",
        args.num,
        args.rounds,
        engines.join(" → "),
        match &args.from_json {
            Some(p) => format!("tables re-rendered from {}", p.display()),
            None => format!("comparison took {total_secs:.0} s"),
        }
    );
    if let Some(note) = &args.command_note {
        let _ = writeln!(md, "- Command: `{note}`");
    }
    let _ = writeln!(md, "- Each run, one process per engine and round:");
    for c in &commands {
        let _ = writeln!(md, "  - `{c}`");
    }
    let _ = writeln!(md, "\n### Configuration\n");
    for (e, c) in &configs {
        let _ = writeln!(md, "- **{e}**: {c}");
    }
    let _ = writeln!(
        md,
        "\n### {base}'s ratio to each peer (throughput; > 1 means {base} is faster)\n"
    );
    let _ = writeln!(
        md,
        "| workload | {} |",
        peers
            .iter()
            .map(|p| format!("{base} / {p}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(md, "|---|{}", "---:|".repeat(peers.len()));
    for (b, rs) in &rows {
        let _ = writeln!(
            md,
            "| {b} | {} |",
            rs.iter()
                .map(|r| r.map_or("–".into(), |v| format!("{v:.2}×")))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    if let Some(svg) = &args.svg {
        let _ = writeln!(md, "\n![ratios]({})", svg.display());
    }
    let _ = writeln!(md, "\n### Medians per engine\n");
    let _ = writeln!(
        md,
        "Throughput is ops/s (compact: MB/s of live user data compacted, its p50 = its duration; openwal: 1 / reopen seconds, its p50 = the reopen time). Latencies in µs; max is the worst round. W-amp = bytes sent to storage (`/proc/self/io`, incl. settle) ÷ user bytes written; S-amp = directory size ÷ live user bytes.\n"
    );
    let _ = writeln!(
        md,
        "| workload | engine | ops/s | MB/s | p50 | p99 | p99.9 | max | CPU s | W-amp | S-amp | disk MB | peak RSS MiB | stalled ms |"
    );
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for b in &benches {
        for e in &engines {
            if let Some(a) = get(e, b) {
                let opt = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
                let _ = writeln!(
                    md,
                    "| {b} | {e} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} | {} | {} | {:.0} | {:.0} | {} |",
                    a.ops_per_sec,
                    a.mb_per_sec,
                    a.p50_us,
                    a.p99_us,
                    a.p999_us,
                    a.max_us_worst,
                    a.cpu_secs,
                    opt(a.write_amp),
                    opt(a.space_amp),
                    a.disk_mb,
                    a.peak_rss_mb,
                    a.stall_ms.map_or("–".into(), |v| format!("{v:.0}"))
                );
            }
        }
    }

    // Targets.
    let _ = writeln!(md, "\n### Targets of the issue\n");
    let _ = writeln!(md, "| target | measured | status |");
    let _ = writeln!(md, "|---|---|---|");
    let mut targets: Vec<(String, Option<f64>, String, bool)> = Vec::new();
    let mut ratio_target = |b: &str, peer: &str, min: f64| {
        let r = ratio(b, peer);
        targets.push((
            format!("{b} ≥ {min}× {peer}"),
            r,
            r.map_or("not measured".into(), |v| format!("{v:.2}×")),
            r.is_some_and(|v| v >= min),
        ));
    };
    for b in ["fillrandom", "overwrite"] {
        ratio_target(b, "rocksdb", 1.2);
        ratio_target(b, "fjall", 1.0);
    }
    for b in ["readrandom", "readmissing", "seekrandom"] {
        ratio_target(b, "rocksdb", 1.0);
        ratio_target(b, "fjall", 1.0);
    }
    ratio_target("mergerandom", "rocksdb", 1.5);
    ratio_target("mergerandom", "fjall", 2.0);
    ratio_target("readmerged", "rocksdb", 1.0);
    ratio_target("readmerged", "fjall", 2.0);
    ratio_target("fillsync", "rocksdb", 1.0);
    ratio_target("fillsync", "fjall", 1.0);
    ratio_target("compact", "rocksdb", 1.5);
    ratio_target("openwal", "rocksdb", 1.0);
    // The keyspaces issue: atomic 2-keyspace batches over 4 keyspaces.
    ratio_target("fillrandom4ks", "rocksdb", 1.2);
    ratio_target("fillrandom4ks", "fjall", 1.0);
    for (name, r, measured, ok) in &targets {
        let _ = writeln!(md, "| {name} | {measured} | {} |", status(r.is_some(), *ok));
    }
    let scale = |b: &str| get(&base, b).map(|a| a.ops_per_sec);
    if let (Some(one), Some(two)) = (scale("fillsync"), scale("fillsync@2")) {
        let r = two / one;
        let _ = writeln!(
            md,
            "| {base} fillsync with 2 threads ≥ 1.8× one thread | {r:.2}× | {} |",
            status(true, r >= 1.8)
        );
    }
    if let (Some(a), Some(p)) = (get(&base, "fillrandom"), get("rocksdb", "fillrandom"))
        && let (Some(wa), Some(wp)) = (a.write_amp, p.write_amp)
    {
        let _ = writeln!(
            md,
            "| write amp after fillrandom + settle ≤ rocksdb's | {wa:.2} vs {wp:.2} (settle ≤ 30 s) | {} |",
            status(true, wa <= wp)
        );
    }
    if let (Some(a), Some(p)) = (get(&base, "compact"), get("rocksdb", "compact")) {
        let r = a.disk_mb / p.disk_mb;
        let _ = writeln!(
            md,
            "| space after full compaction ≤ 1.1× rocksdb's | {:.1} MB vs {:.1} MB = {r:.2}× | {} |",
            a.disk_mb,
            p.disk_mb,
            status(true, r <= 1.1)
        );
    }
    if let Some(a) = get(&base, "fillrandom") {
        let budget = 64.0 * 5.0 + 64.0 + 256.0 + 64.0;
        let scale_note = if args.num == 5_000_000 {
            String::new()
        } else {
            format!(" (at {} keys; the target is at 5M)", args.num)
        };
        let _ = writeln!(
            md,
            "| fillrandom: no write waits > 100 ms{scale_note} | worst op {:.1} ms | {} |",
            a.max_us_worst / 1e3,
            status(true, a.max_us_worst <= 100_000.0)
        );
        let _ = writeln!(
            md,
            "| fillrandom: p99.9 ≤ 10× p50{scale_note} | {:.1} µs vs {:.1} µs = {:.1}× | {} |",
            a.p999_us,
            a.p50_us,
            a.p999_us / a.p50_us.max(1e-9),
            status(true, a.p999_us <= 10.0 * a.p50_us)
        );
        let _ = writeln!(
            md,
            "| fillrandom: peak RSS ≤ memtables (5 × 64) + cache 64 + max_memory 256 + 64 = {budget:.0} MiB{scale_note} | {:.0} MiB (worst round) | {} |",
            a.peak_rss_worst,
            status(true, a.peak_rss_worst <= budget)
        );
    }
    let _ = writeln!(md, "{end}");

    if let Some(path) = &args.md {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let new = match (old.find(&begin), old.find(&end)) {
            (Some(a), Some(b)) if a < b => {
                let stop = b + end.len();
                format!("{}{}{}", &old[..a], md.trim_end(), &old[stop..])
            }
            _ if old.is_empty() => format!("# Benchmarks\n\n{md}"),
            _ => format!("{}\n\n{md}", old.trim_end()),
        };
        std::fs::write(path, new)?;
        eprintln!("wrote {}", path.display());
    } else {
        println!("\n{md}");
    }
    Ok(())
}

/// The comment lines that delimit a generated section.
fn markers(section: &str) -> (String, String) {
    if section == "main" {
        (
            "<!-- BEGIN GENERATED by".into(),
            "<!-- END GENERATED -->".into(),
        )
    } else {
        (
            format!("<!-- BEGIN GENERATED {section}"),
            format!("<!-- END GENERATED {section} -->"),
        )
    }
}

fn status(measured: bool, ok: bool) -> &'static str {
    match (measured, ok) {
        (false, _) => "not measured",
        (true, true) => "met",
        (true, false) => "**missed**",
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}
