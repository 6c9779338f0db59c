//! Process measurements from `/proc` and `getrusage`: bytes written to
//! storage, CPU time, peak resident memory, and directory sizes.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes this process caused to be sent to storage so far
/// (`write_bytes` of `/proc/self/io`; counts background threads too).
/// `None` where `/proc/self/io` is unavailable.
pub fn io_write_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// User + system CPU seconds of the whole process (all threads).
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    #[expect(unsafe_code, reason = "std has no getrusage")]
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

/// Peak resident set size in bytes (`VmHWM` of `/proc/self/status`).
pub fn peak_rss_bytes() -> u64 {
    status_kib("VmHWM:") * 1024
}

/// Current resident set size in bytes (`VmRSS`).
pub fn rss_bytes() -> u64 {
    status_kib("VmRSS:") * 1024
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix(field)
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Resets the peak-RSS mark to the current RSS (Linux >= 4.0), so that
/// `peak_rss_bytes` measures one phase, and the sampled peaks of its
/// anonymous and file-backed parts. Ignored where unsupported.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    PEAK_ANON_KIB.store(0, Ordering::Relaxed);
    PEAK_FILE_KIB.store(0, Ordering::Relaxed);
    sample_rss_split();
}

static PEAK_ANON_KIB: AtomicU64 = AtomicU64::new(0);
static PEAK_FILE_KIB: AtomicU64 = AtomicU64::new(0);

/// Samples `RssAnon` (heap, caches an engine allocates) and `RssFile`
/// (mapped file pages, e.g. mmapped tables) and keeps each one's peak since
/// the last [`reset_peak_rss`]. The kernel keeps no peak for them, so the
/// benchmark samples them every 50 ms while a workload runs: the peaks
/// may fall at different moments and miss a spike shorter than that.
pub fn sample_rss_split() {
    PEAK_ANON_KIB.fetch_max(status_kib("RssAnon:"), Ordering::Relaxed);
    PEAK_FILE_KIB.fetch_max(status_kib("RssFile:"), Ordering::Relaxed);
}

/// The sampled peaks of `RssAnon` and `RssFile` in bytes.
pub fn peak_rss_split_bytes() -> (u64, u64) {
    sample_rss_split();
    (
        PEAK_ANON_KIB.load(Ordering::Relaxed) * 1024,
        PEAK_FILE_KIB.load(Ordering::Relaxed) * 1024,
    )
}

/// Total size of the regular files under `dir`, recursively.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One line describing the machine: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores (nproc), {mem_gib:.1} GiB RAM, Linux {kernel}")
}
