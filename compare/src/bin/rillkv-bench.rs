//! `rillkv-bench`: db_bench-style workloads on rillkv, RocksDB or fjall.
//!
//! ```text
//! cargo run --manifest-path compare/Cargo.toml --release --bin rillkv-bench -- \
//!     --num 1000000 --benchmarks fillrandom,readrandom [--engine rocksdb] [--json]
//! ```

use clap::Parser;
use rillkv_compare::bench::{BenchArgs, RunReport, Runner, write_timeline};

#[derive(Parser)]
#[command(
    name = "rillkv-bench",
    about = "db_bench-style benchmarks for rillkv, RocksDB and fjall"
)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli.args) {
        eprintln!("rillkv-bench: {e}");
        std::process::exit(1);
    }
}

fn run(args: BenchArgs) -> rillkv_compare::engine::Result<()> {
    let json = args.json;
    let out_dir = args.out_dir.clone();
    let engine = args.engine.name().to_string();
    let mut runner = Runner::new(args)?;
    let config = runner.describe();
    if json {
        eprintln!("{config}");
    } else {
        println!("{config}");
    }
    let outcome = runner.run_all();
    let results = runner.finish()?;
    outcome?;
    if let Some(dir) = out_dir {
        write_timeline(&dir, &engine, &results)?;
    }
    if json {
        let report = RunReport {
            engine,
            config,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            results,
        };
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
