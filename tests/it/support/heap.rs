//! Heap measurements: a counting global allocator (current and peak bytes)
//! and [`isolated`], which runs a test alone in a child process so that
//! the process-wide counters see that test's allocations and no other's.
//!
//! The allocator forwards every call to `System`. It counts only once a
//! test has switched it on ([`isolated`] does, in the child); until then
//! each call costs one relaxed atomic load, so the other tests of the
//! binary run as they would on `System`.
// A global allocator needs `unsafe impl GlobalAlloc`; it only forwards to
// `System` and counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

use super::child_command;

/// Set in the child process [`isolated`] starts.
const ENV_ISOLATED: &str = "RILLKV_ISOLATED_CHILD";

struct Counting;

/// Whether allocations are counted (only in an isolated child).
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed since counting began (freeing a block
/// allocated before then lowers it too, so it may go below zero: only
/// differences matter).
static CURRENT: AtomicIsize = AtomicIsize::new(0);
/// The highest `CURRENT` since the last reset.
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

fn grow(n: usize) {
    let n = n as isize;
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(n: usize) {
    CURRENT.fetch_sub(n as isize, Ordering::Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's arguments; the
// counters never affect what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && counting() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && counting() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        if counting() {
            shrink(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && counting() {
            // Count the new block before freeing the old: a moving realloc
            // holds both for a moment.
            grow(new_size);
            shrink(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the peak heap growth (bytes) while
/// it ran. Only in a test run through [`isolated`].
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    assert!(
        counting(),
        "heap measurements need a process of their own: run the test through \
         support::heap::isolated"
    );
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed);
    (out, usize::try_from(peak - base).unwrap_or(0))
}

/// Runs `body`, the body of test `test` of `module` (pass `module_path!()`),
/// alone in a child process of this binary with the allocator counting, so
/// that its heap measurements ([`peak_during`]) are its own. In the child
/// (`RILLKV_ISOLATED_CHILD` set) it runs `body`; in the parent it starts
/// the child, passes on its output, and fails if the child failed or ran no
/// test.
pub fn isolated(module: &str, test: &str, body: impl FnOnce()) {
    if std::env::var_os(ENV_ISOLATED).is_some() {
        COUNTING.store(true, Ordering::SeqCst);
        body();
        return;
    }
    let out = child_command(module, test)
        .env(ENV_ISOLATED, "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "{test} failed in its own process ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "the child process ran no test named {test}:\n{stdout}\n{stderr}"
    );
}
