//! Operating-system calls that are not file I/O but belong with it: the
//! one place besides `real.rs` where rillkv calls `libc`.

/// Lowers the calling thread's CPU priority by `increment` (Linux: nice
/// values are per thread). Best effort: on failure, or elsewhere, the
/// thread keeps its priority.
///
/// Compaction is throughput work that may lag a little (backpressure
/// bounds how far), while writers and readers wait on every microsecond:
/// when the cores are all busy, the scheduler should pick them first.
pub(crate) fn lower_thread_priority(increment: i32) {
    #[cfg(target_os = "linux")]
    #[expect(unsafe_code, reason = "std has no per-thread priority")]
    // SAFETY: `gettid` and `setpriority` take and return plain integers and
    // touch no memory of ours.
    unsafe {
        let tid = libc::gettid();
        let current = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, current + increment);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = increment;
}
