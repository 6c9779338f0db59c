//! The compactor: a background thread that runs the merge policy's jobs,
//! `Db::compact`/`compact_range`, and the run-count backpressure.
//!
//! # Concurrency
//! One job runs at a time (`CompactionControl::running` is held for the
//! whole job, background or manual), so no table is ever in two jobs. A
//! job's result is one manifest edit: outputs added to the job's output
//! run, inputs removed. Inputs are deleted only when the last version that
//! lists them is dropped (readers may still pin them).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{DbInner, WalState};
use crate::compaction::engine::EngineReport;
use crate::compaction::{
    CompactionJob, CompactionPolicy, KeyRange, RunFold, TieredPolicy, fold_runs, full_job,
    range_jobs,
};
use crate::error::{Error, Result};
use crate::event::{
    ActiveStall, BackgroundErrorReason, CompactionBeginInfo, CompactionEndInfo, CorruptionContext,
    TableCreationReason, WriteStallCause,
};
use crate::stats::TableStats;
use crate::tree::{JobContext, Tree, fold_edit, run_job};
use crate::version::VersionEdit;

/// Coordination between the compactor thread, manual compactions and
/// stalled writers.
#[derive(Default)]
pub(crate) struct CompactionControl {
    state: Mutex<CompactState>,
    /// Wakes the compactor: a flush or compaction changed the tree.
    work: Condvar,
    /// Wakes stalled writers: a compaction finished or failed.
    done: Condvar,
    /// Held while a job runs.
    pub(crate) running: Mutex<()>,
    /// Set at close: a running job stops early (its outputs are deleted).
    cancelled: AtomicBool,
    /// The last compaction job id handed out (ids start at 1).
    last_job_id: AtomicU64,
    /// Whose turn it is among the keyspaces (an ever-growing counter).
    next_turn: std::sync::atomic::AtomicUsize,
    /// Whether some tree with background compaction is at or past its
    /// `slowdown_runs`: refreshed whenever a version is installed, so that
    /// a commit looks at no tree while writes are not slowed.
    slowed: AtomicBool,
}

#[derive(Default)]
struct CompactState {
    shutdown: bool,
    work_pending: bool,
    /// The last background job's error, cleared by the next success.
    last_error: Option<Error>,
    /// Why writers are stalled now, if they are.
    stall_reason: Option<String>,
}

impl CompactionControl {
    pub(crate) fn schedule(&self) {
        let mut st = self.state.lock();
        st.work_pending = true;
        self.work.notify_one();
    }

    /// Asks a running job to stop; nothing more starts.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub(crate) fn shutdown(&self) {
        let mut st = self.state.lock();
        st.shutdown = true;
        self.work.notify_all();
        self.done.notify_all();
    }

    pub(crate) fn stall_reason(&self) -> Option<String> {
        self.state.lock().stall_reason.clone()
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.state
            .lock()
            .last_error
            .as_ref()
            .map(ToString::to_string)
    }
}

/// Starts the compactor thread (holding only a `Weak` to the database).
pub(crate) fn spawn(db: &Arc<DbInner>) -> Result<JoinHandle<()>> {
    let weak = Arc::downgrade(db);
    let control = Arc::clone(&db.compaction);
    std::thread::Builder::new()
        .name("rillkv-compact".into())
        .spawn(move || compact_loop(weak, control))
        .map_err(|e| Error::io("spawn compaction thread for", &db.dir, e))
}

/// How much lower than the caller's threads background compaction runs
/// (a `nice` increment; the merge workers it starts inherit it).
const COMPACTION_NICE: i32 = 10;

fn compact_loop(weak: Weak<DbInner>, control: Arc<CompactionControl>) {
    crate::fs::lower_thread_priority(COMPACTION_NICE);
    loop {
        let Some(db) = weak.upgrade() else { return };
        let result = if db.check_open().is_ok() {
            db.compact_once()
        } else {
            Ok(false)
        };
        let did_work = matches!(result, Ok(true));
        if let (Err(e), Some(ev)) = (&result, &db.events) {
            // A failure that poisoned the database was reported then.
            if !db.is_poisoned() {
                ev.background_error(BackgroundErrorReason::Compaction, e, false);
            }
        }
        {
            let mut st = control.state.lock();
            match result {
                Ok(_) => st.last_error = None,
                Err(e) => {
                    tracing::error!(error = %e, "background compaction failed; retrying in 1 s");
                    st.last_error = Some(e);
                }
            }
            control.done.notify_all();
        }
        drop(db);
        let mut st = control.state.lock();
        if st.shutdown {
            return;
        }
        if did_work {
            continue;
        }
        if st.last_error.is_some() {
            control.work.wait_for(&mut st, Duration::from_secs(1));
        } else if !st.work_pending {
            control.work.wait(&mut st);
        }
        st.work_pending = false;
        if st.shutdown {
            return;
        }
    }
}

impl DbInner {
    /// Runs the policy's next job in some keyspace with background
    /// compaction, if any: keyspaces take turns, so a busy one does not
    /// starve the others. Returns whether one ran.
    fn compact_once(&self) -> Result<bool> {
        let _running = self.compaction.running.lock();
        let trees = self.trees();
        let start = self.compaction.next_turn.fetch_add(1, Ordering::Relaxed);
        for i in 0..trees.len() {
            let tree = &trees[(start + i) % trees.len()];
            let opts = tree.opts();
            if !opts.compaction.background {
                continue;
            }
            let version = tree.current().version.clone();
            let result = if let Some(job) = TieredPolicy.pick(version.shape(), &opts.compaction) {
                self.run_job(tree, &job)
            } else if let Some(fold) = fold_runs(version.shape(), &opts.compaction) {
                self.enter().and_then(|_pass| self.apply_fold(tree, &fold))
            } else {
                continue;
            };
            return match result {
                // Dropped while the job ran: its work is moot, not failed.
                Err(_) if tree.is_dropped() => Ok(true),
                other => other.map(|()| true),
            };
        }
        Ok(false)
    }

    /// Moves lone tables into one run: one manifest edit, no data written.
    /// REQUIRES: `compaction.running` held, and a fence pass.
    fn apply_fold(&self, tree: &Arc<Tree>, fold: &RunFold) -> Result<()> {
        let edit = fold_edit(tree, fold)?;
        self.install_edit(tree, edit)?;
        self.counters.run_folds.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            tables = fold.moves.len(),
            target = fold.target,
            "folded lone tables into one run"
        );
        self.compaction.schedule();
        Ok(())
    }

    /// Flushes `tree`, then merges every table of it into one run.
    pub(crate) fn compact_all(&self, tree: &Arc<Tree>) -> Result<()> {
        self.check_writable("compaction")?;
        self.flush_and_wait(Some(tree))?;
        let _running = self.compaction.running.lock();
        let version = tree.current().version.clone();
        if let Some(job) = full_job(version.shape(), &tree.opts().compaction) {
            self.run_job(tree, &job)?;
        }
        Ok(())
    }

    /// Flushes `tree`, then merges every overlap group meeting `range`.
    pub(crate) fn compact_key_range(&self, tree: &Arc<Tree>, range: KeyRange) -> Result<()> {
        self.check_writable("compaction")?;
        self.flush_and_wait(Some(tree))?;
        let _running = self.compaction.running.lock();
        let version = tree.current().version.clone();
        for job in range_jobs(version.shape(), &range, &tree.opts().compaction) {
            self.run_job(tree, &job)?;
        }
        Ok(())
    }

    /// Compacts every group of `tree` holding keys at or after `from`.
    pub(crate) fn compact_key_range_from(
        &self,
        tree: &Arc<Tree>,
        from: bytes::Bytes,
    ) -> Result<()> {
        self.check_writable("compaction")?;
        let version = tree.current().version.clone();
        let max = version
            .shape()
            .runs
            .iter()
            .flat_map(|r| r.tables.iter().map(|t| t.range.max.clone()))
            .max();
        match max {
            Some(max) if max >= from => self.compact_key_range(tree, KeyRange::new(from, max)),
            _ => self.flush_and_wait(Some(tree)),
        }
    }

    /// Runs one job and installs its result, telling listeners.
    /// REQUIRES: `compaction.running` held.
    fn run_job(&self, tree: &Arc<Tree>, job: &CompactionJob) -> Result<()> {
        self.check_open()?;
        if tree.is_dropped() {
            return Err(dropped_error(tree.name()));
        }
        let job_id = self.compaction.last_job_id.fetch_add(1, Ordering::Relaxed) + 1;
        let span = tracing::info_span!(
            "compaction",
            job = job_id,
            reason = %job.reason,
            runs = job.inputs.len(),
            tables = job.tables().count(),
            bytes = job.bytes(),
            outputs = tracing::field::Empty,
            written = tracing::field::Empty,
        );
        let _enter = span.enter();
        let started = Instant::now();
        if let Some(ev) = &self.events {
            ev.compaction_begin(CompactionBeginInfo {
                db_path: ev.db_path(),
                keyspace: tree.name().to_owned(),
                job_id,
                reason: job.reason,
                inputs: job.inputs.clone(),
                input_bytes: job.bytes(),
                output_run: job.output_run,
                bottom: job.bottom,
            });
        }
        // The pass is taken after the begin event, whose listener may block
        // (a `close` meanwhile must not wait for it), and held until the
        // edit is installed: `close` waits for it, and a job that starts
        // after `close` writes nothing.
        let result = self
            .enter()
            .and_then(|_pass| self.run_job_inner(tree, job, job_id, started));
        let (outputs, bytes_written, rounds) = match &result {
            Ok(report) => (
                report.outputs.as_slice(),
                report.bytes_written,
                report.rounds,
            ),
            Err(_) => (&[][..], 0, 0),
        };
        span.record("outputs", outputs.len());
        span.record("written", bytes_written);
        if let Err(e) = &result {
            self.report_corruption(e, CorruptionContext::Compaction);
        }
        if let Some(ev) = &self.events {
            ev.compaction_end(CompactionEndInfo {
                db_path: ev.db_path(),
                keyspace: tree.name().to_owned(),
                job_id,
                reason: job.reason,
                inputs: job.inputs.clone(),
                outputs: outputs
                    .iter()
                    .map(|m| TableStats {
                        number: m.number,
                        size: m.size,
                        entries: m.entries,
                        smallest: m.smallest.to_vec(),
                        largest: m.largest.to_vec(),
                    })
                    .collect(),
                bytes_read: job.bytes(),
                bytes_written,
                rounds,
                duration: started.elapsed(),
                result: result.as_ref().map(|_| ()).map_err(Clone::clone),
            });
        }
        result.map(|_| ())
    }

    /// Merges the job's inputs and installs the outputs (one manifest
    /// edit). REQUIRES: `compaction.running` held, and a fence pass.
    fn run_job_inner(
        &self,
        tree: &Arc<Tree>,
        job: &CompactionJob,
        job_id: u64,
        started: Instant,
    ) -> Result<EngineReport> {
        let ctx = JobContext {
            dir: &self.dir,
            fs: &self.fs,
            next_file_number: &self.next_file_number,
            snapshots: self.snapshots.sequence_numbers(),
            cancel: &self.compaction.cancelled,
        };
        let (report, edit) = run_job(tree, job, ctx)?;
        if let Some(ev) = &self.events {
            for m in &report.outputs {
                ev.table_created(
                    m.number,
                    m.size,
                    m.entries,
                    TableCreationReason::Compaction,
                    Some(job_id),
                );
            }
        }
        // On failure the edit may have reached the disk: the outputs are
        // kept. If it did not, they are unreferenced and removed at next open.
        self.install_edit(tree, edit)?;
        let counters = &self.counters;
        counters.compactions.fetch_add(1, Ordering::Relaxed);
        counters
            .compaction_bytes_read
            .fetch_add(report.bytes_read, Ordering::Relaxed);
        counters
            .compaction_bytes_written
            .fetch_add(report.bytes_written, Ordering::Relaxed);
        counters
            .table_bytes_written
            .fetch_add(report.bytes_written, Ordering::Relaxed);
        let micros = started.elapsed().as_micros() as u64;
        counters
            .compaction_micros
            .fetch_add(micros, Ordering::Relaxed);
        tracing::info!(
            outputs = report.outputs.len(),
            rounds = report.rounds,
            sub_jobs = report.sub_jobs,
            read = report.bytes_read,
            written = report.bytes_written,
            millis = micros / 1000,
            "compaction finished"
        );
        self.compaction.schedule();
        Ok(report)
    }

    /// Whether run-count backpressure would slow or stop a commit now.
    pub(crate) fn writes_slowed(&self) -> bool {
        self.compaction.slowed.load(Ordering::Acquire)
    }

    /// Recomputes [`DbInner::writes_slowed`]; called after every change
    /// of a tree's version, options or the set of trees.
    pub(crate) fn refresh_backpressure(&self) {
        let slowed = self.deepest().is_some_and(|d| d.depth >= d.slowdown_runs);
        self.compaction.slowed.store(slowed, Ordering::Release);
    }

    /// The keyspace with background compaction whose tree is deepest
    /// relative to its limits, if any: run-count backpressure follows it.
    fn deepest(&self) -> Option<Depth> {
        // On every commit: no allocation, one read lock.
        self.trees
            .read()
            .values()
            .filter_map(|t| {
                let opts = t.opts();
                let c = &opts.compaction;
                c.background.then(|| Depth {
                    depth: t.current().version.max_depth(),
                    slowdown_runs: c.slowdown_runs,
                    stop_runs: c.stop_runs,
                })
            })
            .max_by_key(|d| (d.depth >= d.stop_runs, d.depth >= d.slowdown_runs, d.depth))
    }

    /// Slows or stops the commit leader while too many runs overlap, and
    /// reports stalls to listeners: a stop is one begin/end pair; a
    /// slowdown begins at the first slowed commit and ends at the first
    /// commit that is not slowed (tracked in `wal.slowdown`).
    /// REQUIRES: the WAL lock (proven by `wal`; called by the commit leader).
    pub(crate) fn wait_for_compaction_room(&self, wal: &mut WalState) -> Result<()> {
        let deepest = if self.writes_slowed() {
            self.deepest()
        } else {
            None
        };
        let Some(c) = deepest.filter(|d| d.depth >= d.slowdown_runs) else {
            if let Some(ev) = &self.events
                && let Some(stall) = wal.slowdown.take()
            {
                ev.write_stall_end(&stall, &Ok(()));
            }
            return Ok(());
        };
        let depth = c.depth;
        if depth < c.slowdown_runs {
            if let Some(ev) = &self.events
                && let Some(stall) = wal.slowdown.take()
            {
                ev.write_stall_end(&stall, &Ok(()));
            }
            return Ok(());
        }
        let started = Instant::now();
        let control = &self.compaction;
        let result = if depth < c.stop_runs {
            self.counters.slowdowns.fetch_add(1, Ordering::Relaxed);
            let reason = format!(
                "slowdown: {depth} overlapping runs (slowdown_runs {})",
                c.slowdown_runs
            );
            control.state.lock().stall_reason = Some(reason.clone());
            if let Some(ev) = &self.events
                && wal.slowdown.is_none()
            {
                wal.slowdown = Some(ActiveStall::begin(ev, WriteStallCause::Slowdown, reason));
            }
            control.schedule();
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        } else {
            self.counters.stalls.fetch_add(1, Ordering::Relaxed);
            let reason = format!(
                "stopped: {depth} overlapping runs (stop_runs {})",
                c.stop_runs
            );
            tracing::warn!(reason, "write stall: waiting for compaction");
            control.state.lock().stall_reason = Some(reason.clone());
            let stall = self.events.as_ref().map(|ev| {
                if let Some(slowdown) = wal.slowdown.take() {
                    ev.write_stall_end(&slowdown, &Ok(()));
                }
                ActiveStall::begin(ev, WriteStallCause::Stop, reason)
            });
            let mut st = control.state.lock();
            let result = loop {
                if st.shutdown {
                    break Err(Error::closed());
                }
                if let Some(e) = &st.last_error {
                    break Err(Error::new(
                        crate::ErrorKind::Io,
                        format!("writes are stopped and compaction is failing: {e}"),
                    ));
                }
                if self.deepest().is_none_or(|d| d.depth < d.stop_runs) {
                    break Ok(());
                }
                st.work_pending = true;
                control.work.notify_one();
                control.done.wait_for(&mut st, Duration::from_millis(100));
            };
            drop(st);
            if let (Some(ev), Some(stall)) = (&self.events, &stall) {
                ev.write_stall_end(stall, &result);
            }
            result
        };
        control.state.lock().stall_reason = None;
        self.counters
            .stall_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        result
    }
}

impl DbInner {
    /// Logs `edit` in the manifest and installs the resulting version in a
    /// new super version; a failed manifest write poisons the database.
    /// The versions lock is held until the super version is swapped, so
    /// versions are installed in manifest order (lock order: versions, then
    /// super version). The replaced super version is dropped outside both
    /// locks: the last reference to a table may go with it, and its
    /// deletion event must not run under them.
    fn install_edit(&self, tree: &Arc<Tree>, edit: VersionEdit) -> Result<()> {
        let mut versions = self.versions.lock();
        // Checked under the versions lock, which a drop holds: the edit of
        // a dropped keyspace is not logged (its outputs become unreferenced
        // files, removed now by their obsolete-from-birth state or at the
        // next open).
        if tree.is_dropped() {
            drop(versions);
            // The job's outputs are nobody's (a fold's tables went with the
            // drop's own record, and stay until their readers are done).
            for n in edit.added.iter().map(|t| t.number) {
                if !edit.deleted.contains(&n) {
                    let _ = self
                        .fs
                        .remove_file(&crate::filename::table_path(&self.dir, n));
                }
            }
            return Err(dropped_error(tree.name()));
        }
        if let Err(e) = versions.log_and_apply(edit, &self.next_file_number, Vec::new()) {
            self.poison(&e, BackgroundErrorReason::Compaction);
            return Err(e);
        }
        let version = versions
            .version(tree.id())
            .ok_or_else(|| dropped_error(tree.name()))?;
        let old = tree.install(version, None);
        drop(versions);
        self.refresh_backpressure();
        drop(old);
        Ok(())
    }
}

/// How deep the deepest tree is, and its limits.
struct Depth {
    depth: usize,
    slowdown_runs: usize,
    stop_runs: usize,
}

/// The error for work on a keyspace that was dropped.
pub(super) fn dropped_error(name: &str) -> Error {
    Error::invalid(format!(
        "keyspace '{name}' was dropped; open it again with Db::keyspace to create a new one"
    ))
}
