//! Progress bars (indicatif), drawn on stderr only when it is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` bytes. Hidden with `--quiet`, or when `per_line`
/// output goes to a terminal too (lines and a bar would garble each other).
pub fn bytes(total: u64, msg: &str, quiet: bool, per_line: bool) -> ProgressBar {
    if hidden(quiet, per_line) {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg:<12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    ProgressBar::new(total)
        .with_style(style)
        .with_message(msg.to_owned())
}

/// A bar over `total` items.
pub fn items(total: u64, msg: &str, quiet: bool, per_line: bool) -> ProgressBar {
    if hidden(quiet, per_line) {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg:<12} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(total)
        .with_style(style)
        .with_message(msg.to_owned())
}

/// A spinner for work of unknown length.
pub fn spinner(msg: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let pb = ProgressBar::new_spinner()
        .with_style(style)
        .with_message(msg.to_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn hidden(quiet: bool, per_line: bool) -> bool {
    quiet || (per_line && std::io::stdout().is_terminal())
}
