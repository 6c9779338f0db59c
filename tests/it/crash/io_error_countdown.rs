//! I/O-error countdown: the disk dies at every mutating operation of a
//! workload in turn, and whatever happened, the database loses no
//! acknowledged write, keeps none it should not, and never tears a batch.
//!
//! The workload (`workload::workload`) opens a database on a
//! `FaultFs` and makes synced and unsynced puts, deletes and `U64Add`
//! merges, some batched; flushes after every segment (each flush rotates
//! the memtable to a new WAL); a range compaction and, near the end, a full
//! `Db::compact`; the manifest (`max_manifest_size(1024)`) rolls over
//! several times. A counting pass measures its `T` mutating operations
//! (open included) and records which is which.
//!
//! **Determinism.** The countdown only means "every point" if the `n`-th
//! operation is the same on every run. Flush and compaction normally run on
//! background threads whose operations interleave with the writer's, so:
//! background compaction is off (`background(false)`; compactions are the
//! explicit `compact_range`/`compact` calls), merges use one worker, merge
//! write-backs are off, and each segment stays under `memtable_size`
//! (4096) so memtables rotate only at the explicit `Db::flush` calls, which
//! wait for the flush thread. The counting pass runs twice and checks that
//! both runs issue the same operations, and that no WAL is created inside a
//! write step.
//!
//! For every `n` in `0..=T` (`n = T`: no fault, the control run), on a fresh
//! `FaultFs` with `fail_after_ops(n)` armed before the open:
//! - the steps run in order; once one fails, nothing is acknowledged any
//!   more; every error is `Io`, `Poisoned` or `Closed`; nothing panics; the
//!   open handle still reads exactly the acknowledged writes;
//! - **reopen** (`countdown_then_reopen`): faults cleared, a probe write is
//!   made (it must be refused as `Poisoned` if a write failed with `Io`),
//!   close (may fail), reopen: the state is the model of a prefix of the
//!   writes holding every acknowledged one (and the probe, if it was
//!   acknowledged), at most the `Io`-failed in-flight writes beyond; no
//!   orphan table; the database takes writes again;
//! - **power loss** (`countdown_then_power_loss`): close on the dead disk,
//!   `crash(DropUnsynced)`, reopen: the state is a prefix holding every
//!   write acknowledged as synced (or covered by a successful flush).
//!
//! A third scenario (`one_failed_fsync`) fails exactly the `k`-th file
//! fsync after the open, for each `k` over the workload's fsyncs, and lets
//! everything else succeed: the step that issued it returns an error (no
//! fsync failure is swallowed); after a failed WAL or flush fsync the
//! database is poisoned (later writes fail with `Poisoned`) while reads
//! keep working; after a reopen (with and without a power loss) every
//! acknowledged write is there.
//!
//! A fourth scenario (`disk_full_then_space_freed`) fills the disk: after
//! the open only `b` more bytes fit, for `b` swept over the workload's
//! appended bytes. The append that does not fit writes what fits and fails
//! with `ENOSPC`; the step reports `Io` with a message saying the disk is
//! full, a failed WAL append or flush poisons the database, and once the
//! space is freed and the database reopened (with and without a power
//! loss) every acknowledged write is there.
//!
//! Knobs: `RILLKV_COUNTDOWN_STRIDE` — test every k-th `n` (and `k`);
//! default 1 (all of them: about 2 s per scenario in release). Each
//! scenario prints how many points it tried. `RILLKV_COUNTDOWN_TRACE` set:
//! print the numbered list of the workload's mutating operations.

mod workload;

use std::time::Instant;

use rillkv::fs::CrashMode;
use rillkv::{ErrorKind, WriteBatch, WriteOptions};

use self::workload::{
    CountingFs, PROBE_KEY, Run, Step, Summary, assert_gets, batches, diff, prefix_models,
    reopen_and_check, run_workload, summarize, workload,
};
use crate::support::{env_num, scan_all};

/// The profile of a fault-free run of the workload.
struct Profile {
    steps: Vec<Step>,
    /// Mutating operations of the whole workload, open included.
    total_ops: u64,
    /// Operation counts after the open and after each step.
    ops_after: Vec<u64>,
    /// File fsync counts after the open and after each step.
    syncs_after: Vec<u64>,
    /// Line `i` names mutating operation `i + 1`.
    trace: Vec<String>,
    /// Bytes appended to files after the open, by the whole workload.
    bytes_after_open: u64,
}

impl Profile {
    /// A name for mutating operation `op` (1-based).
    fn op(&self, op: u64) -> String {
        usize::try_from(op)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.trace.get(i))
            .map_or_else(|| "none".to_owned(), Clone::clone)
    }

    /// The step (0-based; `None` = the open) whose operations include
    /// operation number `op` (1-based).
    fn step_of_op(&self, op: u64) -> Option<usize> {
        self.ops_after
            .iter()
            .position(|&after| after >= op)
            .and_then(|i| i.checked_sub(1))
    }
}

fn profile_once(steps: &[Step]) -> Profile {
    let fs = CountingFs::new();
    fs.record_trace();
    let at_open = std::cell::Cell::new(0);
    let run = run_workload(&fs, steps, || at_open.set(fs.fault.bytes_appended()));
    run.open.as_ref().expect("open");
    for (i, r) in run.results.iter().enumerate() {
        let r = r.as_ref().expect("step ran");
        r.as_ref()
            .unwrap_or_else(|e| panic!("fault-free step {i} ({:?}) failed: {e}", steps[i]));
    }
    let db = run.db.as_ref().expect("db");
    let models = prefix_models(batches(steps));
    let want = models.last().expect("models");
    let got = scan_all(db).unwrap_or_else(|e| panic!("fault-free run: scan failed: {e}"));
    assert_eq!(&got, want, "fault-free run vs model");
    let profile = Profile {
        steps: steps.to_vec(),
        total_ops: fs.fault.op_count(),
        ops_after: run.ops_after.clone(),
        syncs_after: run.syncs_after.clone(),
        trace: fs.trace(),
        bytes_after_open: fs.fault.bytes_appended() - at_open.get(),
    };
    drop(run);
    profile
}

/// Runs the workload without faults, twice, and checks it is deterministic
/// and covers what it should.
fn profile() -> Profile {
    let steps = workload();
    let p = profile_once(&steps);
    let again = profile_once(&steps);
    assert_eq!(
        p.trace, again.trace,
        "the workload must issue the same mutating operations on every run"
    );
    assert_eq!(p.ops_after, again.ops_after);
    assert_eq!(
        p.total_ops,
        p.trace.len() as u64,
        "the trace names every op"
    );
    for (i, step) in p.steps.iter().enumerate() {
        let (from, to) = (p.ops_after[i] as usize, p.ops_after[i + 1] as usize);
        let ops = &p.trace[from..to];
        if step.is_write() {
            assert!(
                !ops.iter()
                    .any(|o| o.starts_with("create") && o.ends_with(".wal")),
                "step {i} ({step:?}) rotated the memtable: keep segments under \
                 memtable_size so rotations stay at the explicit flushes: {ops:?}"
            );
        }
    }
    let after_open = &p.trace[p.ops_after[0] as usize..];
    if std::env::var_os("RILLKV_COUNTDOWN_TRACE").is_some() {
        for (i, op) in p.trace.iter().enumerate() {
            eprintln!("op {}: {op} (step {:?})", i + 1, p.step_of_op(i as u64 + 1));
        }
    }
    let count = |pat: &str| after_open.iter().filter(|o| o.contains(pat)).count();
    assert!(count("create /db/MANIFEST") >= 2, "manifest rollovers");
    assert!(count("rename to /db/CURRENT") >= 2, "CURRENT replaced");
    assert!(
        count("remove") >= 4,
        "obsolete WALs, tables, manifests removed"
    );
    assert!(count(".rkt") > 0, "tables written");
    p
}

/// What one fault point ended in, for the summary line.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    open_failed: u64,
    probe_acked: u64,
    in_flight_kept: u64,
    unsynced_lost: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.open_failed += o.open_failed;
        self.probe_acked += o.probe_acked;
        self.in_flight_kept += o.in_flight_kept;
        self.unsynced_lost += o.unsynced_lost;
    }
}

/// Finishes a run after the workload: checks the live view, then either
/// clears faults, probes, closes and reopens, or closes on the dead disk,
/// loses power and reopens. Checks the reopened state (see the module doc).
fn finish(
    fs: &CountingFs,
    run: Run,
    summary: &Summary<'_>,
    power_loss: bool,
    must_poison: bool,
    ctx: &str,
) -> Tally {
    let mut tally = Tally::default();
    let models = prefix_models(summary.effective.iter().copied());
    let (acked, most) = (summary.acked, summary.effective.len());
    let mut probe = None;
    if let Some(db) = run.db {
        // Reads keep working and show exactly the acknowledged writes.
        let live = scan_all(&db).unwrap_or_else(|e| panic!("{ctx}: scan failed: {e}"));
        let want = &models[acked];
        assert!(
            live == *want,
            "{ctx}: the open handle reads something else than the {acked} acknowledged \
             writes: [{}]",
            diff(&live, want)
        );
        assert_gets(&db, &live, &format!("{ctx}: live"));
        if power_loss {
            // Closing on the dead disk reaches nothing durable.
            let _ = db.close();
            fs.fault.crash(CrashMode::DropUnsynced);
        } else {
            fs.fault.clear_faults();
            let mut b = WriteBatch::new();
            b.put(PROBE_KEY, b"probe");
            match db.write_opt(b, &WriteOptions::default().sync(true)) {
                Ok(()) => {
                    assert!(
                        !must_poison,
                        "{ctx}: a write was acknowledged after a failed WAL write, WAL \
                         fsync or flush (first failure: {:?})",
                        summary.first_failure
                    );
                    probe = Some(&b"probe"[..]);
                    tally.probe_acked = 1;
                }
                Err(e) => assert_eq!(
                    e.kind(),
                    ErrorKind::Poisoned,
                    "{ctx}: with the faults cleared a write succeeds or is refused as \
                     poisoned: {e}"
                ),
            }
            let _ = db.close(); // may report the earlier failure
        }
    } else {
        tally.open_failed = 1;
        if power_loss {
            fs.fault.crash(CrashMode::DropUnsynced);
        } else {
            fs.fault.clear_faults();
        }
    }
    let lo = if power_loss { summary.durable } else { acked };
    let kept = reopen_and_check(fs, &models, lo, most, probe, ctx);
    tally.in_flight_kept = u64::from(kept > acked);
    tally.unsynced_lost = u64::from(kept < acked);
    tally
}

/// One countdown point: the disk fails from mutating operation `n + 1` on.
fn countdown_point(p: &Profile, n: u64, power_loss: bool) -> Tally {
    let ctx = format!(
        "fail after {n} ops (op {}: {}, in step {}){}",
        n + 1,
        p.op(n + 1),
        p.step_of_op(n + 1)
            .map_or_else(|| "open".to_owned(), |s| format!("{s} {:?}", p.steps[s])),
        if power_loss { " + power loss" } else { "" }
    );
    let fs = CountingFs::new();
    fs.fault.fail_after_ops(n);
    let run = run_workload(&fs, &p.steps, || {});
    if n < p.ops_after[0] {
        let e = run
            .open
            .as_ref()
            .expect_err("the open fails on a dead disk");
        assert_eq!(e.kind(), ErrorKind::Io, "{ctx}: open failed with {e:?}");
    }
    let summary = summarize(&p.steps, &run, true, &ctx);
    if n >= p.total_ops {
        assert!(summary.first_failure.is_none(), "{ctx}: control run failed");
    }
    finish(
        &fs,
        run,
        &summary,
        power_loss,
        summary.io_failed_writes > 0,
        &ctx,
    )
}

fn countdown(power_loss: bool) {
    let started = Instant::now();
    let p = profile();
    let stride = env_num("RILLKV_COUNTDOWN_STRIDE", 1).max(1);
    let mut tried = 0;
    let mut tally = Tally::default();
    for n in (0..=p.total_ops).step_by(stride as usize) {
        tally.add(countdown_point(&p, n, power_loss));
        tried += 1;
    }
    if !p.total_ops.is_multiple_of(stride) {
        tally.add(countdown_point(&p, p.total_ops, power_loss)); // the control run
        tried += 1;
    }
    eprintln!(
        "io_error_countdown{}: T = {} mutating ops ({} steps); tried {tried} fault points \
         (stride {stride}) in {:.1?}; {tally:?}",
        if power_loss { " + power loss" } else { "" },
        p.total_ops,
        p.steps.len(),
        started.elapsed()
    );
}

#[test]
fn countdown_then_reopen() {
    countdown(false);
}

#[test]
fn countdown_then_power_loss() {
    countdown(true);
}

/// Fails the `k`-th file fsync after the open (1-based), nothing else.
/// Returns a description of the fsync if the step that issued it did not
/// report the failure.
fn failed_fsync_point(p: &Profile, k: u64, power_loss: bool) -> Option<String> {
    let target = p.syncs_after[0] + k;
    let step = p
        .syncs_after
        .iter()
        .position(|&after| after >= target)
        .and_then(|i| i.checked_sub(1))
        .expect("k is within the workload's fsyncs");
    // The fsync's op, for the message.
    let ops = &p.trace[p.ops_after[step] as usize..p.ops_after[step + 1] as usize];
    let nth_in_step = target - p.syncs_after[step];
    let what = ops
        .iter()
        .filter(|o| o.starts_with("fsync /"))
        .nth(nth_in_step as usize - 1)
        .cloned()
        .unwrap_or_default();
    let ctx = format!(
        "fsync #{k} fails ({what}, in step {step} {:?}){}",
        p.steps[step],
        if power_loss { " + power loss" } else { "" }
    );
    let fs = CountingFs::new();
    let run = run_workload(&fs, &p.steps, || fs.fault.fail_nth_sync(k));
    run.open.as_ref().expect("open");
    assert_eq!(
        run.syncs_after[0], p.syncs_after[0],
        "{ctx}: deterministic open"
    );
    for (i, r) in run.results.iter().enumerate().take(step) {
        let r = r.as_ref().expect("ran");
        assert!(r.is_ok(), "{ctx}: step {i} before the fault failed: {r:?}");
    }
    let failing = &p.steps[step];
    let failed = run.results[step].as_ref().expect("ran");
    let swallowed = failed.is_ok();
    if failing.is_write() {
        let err = failed
            .as_ref()
            .expect_err(&format!("{ctx}: the failed WAL fsync must be reported"));
        assert_eq!(err.kind(), ErrorKind::Io, "{ctx}: {err}");
    }
    // A failed WAL fsync, or a flush that fails, poisons the database; a
    // compaction may fail without (its inputs stay). A flush may also
    // succeed: the manifest's sentinel record after an edit (which only
    // releases obsolete files) is best effort, see `log_and_apply`.
    let must_poison = failing.is_write() || (matches!(failing, Step::Flush) && !swallowed);
    if must_poison {
        for (i, r) in run.results.iter().enumerate().skip(step + 1) {
            let r = r.as_ref().expect("ran");
            let e = r
                .as_ref()
                .expect_err(&format!("{ctx}: step {i} succeeded on a poisoned database"));
            assert_eq!(
                e.kind(),
                ErrorKind::Poisoned,
                "{ctx}: step {i} ({:?}) on a poisoned database: {e}",
                p.steps[i]
            );
        }
    }
    let summary = summarize(&p.steps, &run, false, &ctx);
    if power_loss {
        // Freeze the disk so that closing makes nothing more durable.
        fs.fault.fail_after_ops(0);
    }
    finish(&fs, run, &summary, power_loss, must_poison, &ctx);
    swallowed.then_some(ctx)
}

#[test]
fn one_failed_fsync() {
    let started = Instant::now();
    let p = profile();
    let stride = env_num("RILLKV_COUNTDOWN_STRIDE", 1).max(1);
    let total = p.syncs_after.last().expect("steps") - p.syncs_after[0];
    let mut tried = 0;
    let mut unreported = Vec::new();
    for k in (1..=total).step_by(stride as usize) {
        if let Some(what) = failed_fsync_point(&p, k, false) {
            unreported.push(what);
        }
        failed_fsync_point(&p, k, true);
        tried += 1;
    }
    // By design (`log_and_apply`): the fsync of the manifest's sentinel
    // record, written after an edit only to release obsolete files, may
    // fail without failing the flush or compaction; the manifest then
    // refuses further edits, so the next flush reports `Poisoned`.
    eprintln!(
        "io_error_countdown: {} failed fsyncs were not reported by the step that issued \
         them (all manifest sentinel records){}",
        unreported.len(),
        unreported
            .first()
            .map_or_else(String::new, |w| format!(", e.g. {w}"))
    );
    for what in &unreported {
        assert!(
            what.contains("MANIFEST-"),
            "a swallowed fsync failure: {what}"
        );
    }
    eprintln!(
        "io_error_countdown: {total} file fsyncs in the workload; failed each of {tried} \
         (stride {stride}), with and without power loss, in {:.1?}",
        started.elapsed()
    );
    assert!(total > 20, "the workload fsyncs WALs, tables and manifests");
}

/// The disk fills after `limit` more bytes; see the module doc.
/// Returns the tally and whether any step failed (the disk may never fill:
/// deleting obsolete files gives space back).
fn disk_full_point(p: &Profile, limit: u64, power_loss: bool) -> (Tally, bool) {
    let ctx = format!(
        "disk full after {limit} of {} bytes{}",
        p.bytes_after_open,
        if power_loss { " + power loss" } else { "" }
    );
    let fs = CountingFs::new();
    let run = run_workload(&fs, &p.steps, || fs.fault.set_space_limit(Some(limit)));
    run.open.as_ref().expect("open");
    let summary = summarize(&p.steps, &run, false, &ctx);
    if let Some((i, e)) = &summary.first_failure
        && e.kind() == ErrorKind::Io
    {
        assert!(
            e.to_string().contains("disk is full"),
            "{ctx}: step {i} failed without saying the disk is full: {e}"
        );
    }
    let filled = summary.first_failure.is_some();
    // A failed WAL append poisons; so does a failed flush (later writes are
    // refused, which `summarize` and `finish` check through the probe).
    let must_poison = summary.io_failed_writes > 0;
    if power_loss {
        fs.fault.fail_after_ops(0);
    }
    (
        finish(&fs, run, &summary, power_loss, must_poison, &ctx),
        filled,
    )
}

#[test]
fn disk_full_then_space_freed() {
    let started = Instant::now();
    let p = profile();
    // Deleting obsolete files gives space back, so the disk only fills
    // below the workload's peak usage: find it (the smallest limit that
    // never fails, by bisection), then try about 200 limits below it.
    let fills = |limit| disk_full_point(&p, limit, false).1;
    let (mut lo, mut hi) = (0, p.bytes_after_open);
    assert!(!fills(hi), "the workload fits in its own appended bytes");
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fills(mid) { lo = mid } else { hi = mid }
    }
    let peak = hi;
    let stride = env_num("RILLKV_COUNTDOWN_STRIDE", 1).max(1);
    let step = ((peak / 200).max(1) * stride) as usize;
    let mut limits: Vec<u64> = (0..peak).step_by(step).collect();
    limits.extend([1, 7, peak - 1, peak]);
    let mut tally = Tally::default();
    let mut filled = 0;
    for &limit in &limits {
        for power_loss in [false, true] {
            let (t, f) = disk_full_point(&p, limit, power_loss);
            tally.add(t);
            filled += usize::from(f);
        }
    }
    assert!(
        filled + 4 >= 2 * limits.len(),
        "limits below the peak usage fill the disk: {filled} of {}",
        2 * limits.len()
    );
    eprintln!(
        "io_error_countdown: disk full at {} limits below the peak usage of {peak} bytes \
         ({} appended; {filled} runs hit ENOSPC), with and without power loss, in {:.1?}; \
         {tally:?}",
        limits.len(),
        p.bytes_after_open,
        started.elapsed()
    );
}
