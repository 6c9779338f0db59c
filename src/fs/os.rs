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

/// Takes a POSIX record lock (`fcntl(F_SETLK)`, write lock over the whole
/// file) on `file`; `Ok(false)` if another process holds it.
///
/// Record locks belong to the process, not to the open file: a child
/// forked by any thread of this process does not inherit them, so a
/// subprocess spawned while a database closes cannot keep its directory
/// locked (an `flock` lock lives on in every forked copy of the
/// descriptor until the child execs). The price is that closing *any*
/// descriptor of the file drops the lock, and a second lock from the same
/// process always succeeds: callers must keep an in-process registry and
/// never open a file this process has locked (see `real.rs`).
pub(crate) fn lock_file(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    #[expect(unsafe_code, reason = "std has no process-owned record lock")]
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a
    // valid value; `fcntl(F_SETLK)` reads it through the pointer for the
    // duration of the call only, and `fd` is open for as long as `file`
    // is borrowed.
    let rc = unsafe {
        let mut lock: libc::flock = std::mem::zeroed();
        lock.l_type = libc::F_WRLCK as _;
        lock.l_whence = libc::SEEK_SET as _;
        lock.l_start = 0;
        lock.l_len = 0; // to the end of the file, however long it grows
        libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock)
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}
