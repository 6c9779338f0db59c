//! Flush: sealed memtables become tables, oldest first, on a background
//! thread; and the backpressure that keeps sealed memtables bounded.
//!
//! # Order of durable steps (one flush)
//! 1. write the table, fsync it, fsync the directory;
//! 2. append an edit (table added, `log_number` past the memtable's WAL,
//!    `last_seqno`) to the manifest and fsync it;
//! 3. install the new version and drop the memtable from the super version;
//! 4. only then delete the memtable's WAL.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::DbInner;
use crate::error::{Error, Result};
use crate::event::{
    ActiveStall, BackgroundErrorReason, CorruptionContext, FlushBeginInfo, FlushEndInfo,
    TableCreationReason, WriteStallCause,
};
use crate::filename;
use crate::memtable::MemTable;
use crate::tree::{Tree, write_memtable};
use crate::version::{ManifestRecord, TableMeta, VersionEdit};

/// Coordination between writers, `Db::flush` and the flush thread.
#[derive(Default)]
pub(crate) struct FlushControl {
    state: Mutex<FlushState>,
    /// Signals the flush thread: work or shutdown.
    work: Condvar,
    /// Signals waiters: a flush finished or failed.
    done: Condvar,
}

#[derive(Default)]
struct FlushState {
    shutdown: bool,
    /// Set by `schedule`, cleared by the flush thread: no lost wake-ups.
    work_pending: bool,
    /// The first background error; flushing stops after it.
    error: Option<Error>,
    /// Whether writers are waiting for a flush (a write stall).
    stalled: bool,
}

impl FlushControl {
    /// Wakes the flush thread.
    pub(crate) fn schedule(&self) {
        let mut st = self.state.lock();
        st.work_pending = true;
        self.work.notify_one();
    }

    pub(crate) fn is_stalled(&self) -> bool {
        self.state.lock().stalled
    }

    pub(crate) fn shutdown(&self) {
        let mut st = self.state.lock();
        st.shutdown = true;
        self.work.notify_all();
        self.done.notify_all();
    }
}

/// Starts the flush thread. It holds only a `Weak` to the database, so
/// dropping every handle still closes it.
pub(crate) fn spawn(db: &Arc<DbInner>) -> Result<JoinHandle<()>> {
    let weak = Arc::downgrade(db);
    let control = Arc::clone(&db.flush);
    std::thread::Builder::new()
        .name("rillkv-flush".into())
        .spawn(move || flush_loop(weak, control))
        .map_err(|e| Error::io("spawn flush thread for", &db.dir, e))
}

fn flush_loop(weak: Weak<DbInner>, control: Arc<FlushControl>) {
    loop {
        let Some(db) = weak.upgrade() else { return };
        if db.trees().iter().any(|t| !t.current().sealed.is_empty()) {
            let result = db.flush_oldest();
            if result.is_ok() {
                db.compaction.schedule();
            }
            if let Err(e) = &result {
                tracing::error!(error = %e, "flush failed; writes stop until reopen");
                // Listeners hear of it outside the flush state lock.
                db.report_corruption(e, CorruptionContext::Flush);
                db.poison(e, BackgroundErrorReason::Flush);
            }
            {
                let mut st = control.state.lock();
                if let Err(e) = &result {
                    st.error = Some(e.clone());
                }
                control.done.notify_all();
            }
            // Dropped outside the lock: it may be the last handle, whose
            // drop closes the database and takes that lock.
            drop(db);
            if result.is_err() {
                return;
            }
            continue;
        }
        if !db.write_backs.is_empty() {
            db.commit_write_backs();
        }
        drop(db);
        let mut st = control.state.lock();
        if !st.work_pending && !st.shutdown {
            control.work.wait(&mut st);
        }
        st.work_pending = false;
        if st.shutdown || st.error.is_some() {
            return;
        }
    }
}

impl DbInner {
    /// Flushes the oldest sealed memtable of any keyspace (the one
    /// holding the oldest WAL). Returns whether there was one. Runs on the
    /// flush thread only, so flushes never race each other.
    pub(crate) fn flush_oldest(&self) -> Result<bool> {
        let oldest = self
            .trees()
            .into_iter()
            .filter_map(|t| {
                let mem = t.current().sealed.last().cloned()?;
                Some((t, mem))
            })
            .min_by_key(|(_, mem)| mem.wal_number());
        let Some((tree, mem)) = oldest else {
            return Ok(false);
        };
        let started = Instant::now();
        let span = tracing::info_span!(
            "flush",
            memtable = mem.wal_number(),
            entries = mem.len(),
            table = tracing::field::Empty,
            table_bytes = tracing::field::Empty,
        );
        let _enter = span.enter();
        let number = self.next_file_number.fetch_add(1, Ordering::AcqRel);
        span.record("table", number);
        if let Some(ev) = &self.events {
            ev.flush_begin(FlushBeginInfo {
                db_path: ev.db_path(),
                keyspace: tree.name().to_owned(),
                memtable_id: mem.wal_number(),
                memtable_bytes: mem.approximate_size() as u64,
                memtable_entries: mem.len() as u64,
                table_number: number,
            });
        }
        let mut table_size = None;
        let result = self.flush_memtable(&tree, &mem, number, &mut table_size);
        if let Some(size) = table_size {
            span.record("table_bytes", size);
        }
        if let Some(ev) = &self.events {
            ev.flush_end(FlushEndInfo {
                db_path: ev.db_path(),
                keyspace: tree.name().to_owned(),
                memtable_id: mem.wal_number(),
                memtable_bytes: mem.approximate_size() as u64,
                memtable_entries: mem.len() as u64,
                table_number: number,
                table_size,
                duration: started.elapsed(),
                result: result.clone(),
            });
        }
        result?;
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            table = number,
            entries = mem.len(),
            millis = started.elapsed().as_millis() as u64,
            "flushed memtable"
        );
        Ok(true)
    }

    /// Writes `mem` as table `number` and installs it, dropping `mem` from
    /// the super version. Sets `table_size` once the table is written.
    fn flush_memtable(
        &self,
        tree: &Arc<Tree>,
        mem: &Arc<MemTable>,
        number: u64,
        table_size: &mut Option<u64>,
    ) -> Result<()> {
        let meta = self.write_table(tree, mem, number)?;
        if let Some(m) = &meta {
            *table_size = Some(m.size);
            if let Some(ev) = &self.events {
                ev.table_created(
                    m.number,
                    m.size,
                    m.entries,
                    TableCreationReason::Flush,
                    None,
                );
            }
        }
        // The keyspace's writes from the memtable after this one on are in
        // that memtable's first WAL or later ones.
        let sv = tree.current();
        let successor = match sv.sealed.len() {
            0 | 1 => &sv.active,
            n => &sv.sealed[n - 2],
        };
        let record = ManifestRecord {
            last_seqno: Some(mem.max_seqno()),
            ..ManifestRecord::from(VersionEdit {
                log_number: Some(successor.wal_number()),
                added: meta.clone().into_iter().collect(),
                ..VersionEdit::of(tree.id())
            })
        };
        // The version-set lock is held until the super version is swapped,
        // so versions are installed in manifest order (lock order: versions,
        // then super version).
        let mut versions = self.versions.lock();
        if tree.is_dropped() {
            // Dropped meanwhile (the drop holds this lock): the table is
            // nobody's. Its file goes now, or at the next open.
            drop(versions);
            if let Some(m) = meta {
                let _ = self
                    .fs
                    .remove_file(&filename::table_path(&self.dir, m.number));
            }
            return Ok(());
        }
        let obsolete = self.obsolete_wals(Some(mem));
        versions.log_and_apply(record, &self.next_file_number, obsolete)?;
        let version = versions
            .version(tree.id())
            .ok_or_else(|| super::compact::dropped_error(tree.name()))?;
        let old = tree.install(version, Some(mem));
        drop(versions);
        self.refresh_backpressure();
        // Dropped outside the locks (a table's deletion event may go with
        // the last reference to it).
        drop(old);
        Ok(())
    }

    /// Writes `mem` as table `number` (see [`write_memtable`]).
    fn write_table(
        &self,
        tree: &Tree,
        mem: &Arc<MemTable>,
        number: u64,
    ) -> Result<Option<TableMeta>> {
        let meta = write_memtable(
            &self.dir,
            &self.fs,
            &tree.opts(),
            mem,
            number,
            self.snapshots.sequence_numbers(),
        )?;
        if let Some(m) = &meta {
            self.counters
                .table_bytes_written
                .fetch_add(m.size, Ordering::Relaxed);
        }
        Ok(meta)
    }

    /// Blocks the commit leader while too many memtables of a tree in
    /// `trees` (those about to be sealed) wait for flush.
    /// REQUIRES: the WAL lock (the caller is rotating the memtable).
    pub(crate) fn wait_for_flush_room(&self, trees: &[Arc<Tree>]) -> Result<()> {
        let limit = self.opts.max_sealed_memtables;
        let full = || trees.iter().any(|t| t.current().sealed.len() >= limit);
        if !full() {
            return Ok(());
        }
        let started = Instant::now();
        let control = &self.flush;
        control.state.lock().stalled = true;
        tracing::warn!(sealed = limit, "write stall: waiting for flush");
        self.counters.stalls.fetch_add(1, Ordering::Relaxed);
        // Told outside the flush state lock (a listener may read stats).
        let stall = self.events.as_ref().map(|ev| {
            ActiveStall::begin(
                ev,
                WriteStallCause::Memtables,
                format!("waiting for flush: max_sealed_memtables ({limit}) reached"),
            )
        });
        let mut st = control.state.lock();
        let result = loop {
            if let Some(e) = &st.error {
                break Err(e.clone());
            }
            if st.shutdown {
                break Err(Error::closed());
            }
            if !full() {
                break Ok(());
            }
            st.work_pending = true;
            control.work.notify_one();
            control.done.wait(&mut st);
        };
        st.stalled = false;
        drop(st);
        if let (Some(ev), Some(stall)) = (&self.events, &stall) {
            ev.write_stall_end(stall, &result);
        }
        let micros = started.elapsed().as_micros() as u64;
        self.counters
            .stall_micros
            .fetch_add(micros, Ordering::Relaxed);
        tracing::info!(micros, "write stall ended");
        result
    }

    /// Seals the active memtable of `tree` (of every keyspace when
    /// `None`) if it holds anything, and waits until every memtable sealed
    /// so far is flushed.
    pub(crate) fn flush_and_wait(&self, tree: Option<&Arc<Tree>>) -> Result<()> {
        self.check_writable("flush")?;
        let trees = match tree {
            Some(t) => vec![Arc::clone(t)],
            None => self.trees(),
        };
        {
            let mut wal = self.wal.lock();
            // Under the WAL lock: `close` takes it after setting `closed`,
            // so no WAL is created once `close` has finished with the log.
            self.check_open()?;
            self.check_poison()?;
            let seal: Vec<Arc<Tree>> = trees
                .iter()
                .filter(|t| !t.current().active.is_empty())
                .cloned()
                .collect();
            if !seal.is_empty() {
                self.rotate_memtable(&mut wal, &seal)?;
            }
        }
        // Per tree, the newest memtable sealed now: done once it is gone.
        let targets: Vec<(Arc<Tree>, u64)> = trees
            .into_iter()
            .filter_map(|t| {
                let newest = t.current().sealed.first().map(|m| m.wal_number())?;
                Some((t, newest))
            })
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let control = &self.flush;
        let mut st = control.state.lock();
        st.work_pending = true;
        control.work.notify_one();
        loop {
            if let Some(e) = &st.error {
                return Err(e.clone());
            }
            if st.shutdown {
                return Err(Error::closed());
            }
            let flushed = targets.iter().all(|(t, target)| {
                t.is_dropped()
                    || t.current()
                        .sealed
                        .last()
                        .is_none_or(|oldest| oldest.wal_number() > *target)
            });
            if flushed {
                return Ok(());
            }
            control.done.wait(&mut st);
        }
    }
}
