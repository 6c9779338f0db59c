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

/// Runs `cmd` (a [`child_command`]) with piped output for `after`, then
/// `SIGKILL`s it and returns the whole lines it printed (a line cut by the
/// kill is not one). Panics, showing its stderr, if the child exited on
/// its own first: a writer that stops early tests nothing.
pub fn run_then_kill(mut cmd: Command, after: std::time::Duration) -> Vec<String> {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut stderr = child.stderr.take().expect("child stderr");
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            match line.strip_suffix('\n') {
                Some(l) => lines.push(l.to_owned()),
                None => break,
            }
        }
        lines
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    std::thread::sleep(after);
    let early_exit = child.try_wait().expect("try_wait");
    if early_exit.is_none() {
        child.kill().expect("SIGKILL the child");
    }
    let status = child.wait().expect("wait for child");
    let lines = reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    assert!(
        early_exit.is_none(),
        "the child exited by itself ({status}) instead of being killed; stderr:\n{stderr}"
    );
    lines
}
