//! Knobs from the environment, seeds, and re-running one test of this
//! binary in a child process.

use std::process::Command;

/// An environment variable as a number, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A seed for randomised tests: `RILLKV_SEED` if set, else fresh; printed so
/// a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("RILLKV_SEED") {
        Ok(s) => s.parse().expect("RILLKV_SEED must be a u64"),
        Err(_) => fastrand::u64(..),
    };
    eprintln!("{test}: seed {seed} (replay with RILLKV_SEED={seed})");
    seed
}

/// The name libtest knows test `test` of module `module` by: its path
/// without the crate, e.g. `crash::kill_loop::child_writer` for
/// `module_path!()` = `it::crash::kill_loop`.
fn test_name(module: &str, test: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    }
}

/// A command that re-runs this test binary with only test `test` of
/// `module` (pass `module_path!()`), by its exact name (libtest arguments,
/// which `cargo nextest` binaries accept too).
pub fn child_command(module: &str, test: &str) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        &test_name(module, test),
        "--nocapture",
        "--test-threads=1",
    ]);
    // The child must not inherit a nextest/cargo filter or a capture setting
    // that would stop it printing.
    cmd.env_remove("RUST_TEST_THREADS");
    cmd.env_remove("RUST_TEST_NOCAPTURE");
    cmd
}
