//! The handle life cycle (`DESIGN.md`, "Handle life cycle"): the user
//! handle whose last drop closes the database, `close` itself, the fence
//! for work outside the background threads, and poisoning after a failed
//! write.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::DbInner;
use crate::error::{Error, Result};
use crate::event::{BackgroundErrorReason, CorruptionContext};
use crate::key::{KeyspaceId, SeqNo};
use crate::read::Reader;
use crate::tree::ReadView;

/// The user handle: what snapshots and iterators hold (as a [`Reader`]).
pub(super) struct HandleGuard {
    pub(super) inner: Arc<DbInner>,
}

impl Reader for HandleGuard {
    fn check_open(&self) -> Result<()> {
        self.inner.check_open()
    }

    fn pin_latest(&self) -> SeqNo {
        self.inner.snapshots.pin_latest(&self.inner.last_seqno)
    }

    fn pin(&self, seqno: SeqNo) {
        self.inner.snapshots.register(seqno);
    }

    fn unpin(&self, seqno: SeqNo) {
        self.inner.snapshots.release(seqno);
    }

    fn view_at(&self, keyspace: KeyspaceId, seqno: SeqNo) -> Result<ReadView> {
        Ok(self.inner.live_tree(keyspace)?.view_at(seqno))
    }

    fn get_at(&self, keyspace: KeyspaceId, key: &[u8], seqno: SeqNo) -> Result<Option<Bytes>> {
        self.inner.check_open()?;
        let tree = self.inner.live_tree(keyspace)?;
        self.inner.get(&tree, &tree.view_at(seqno), key, false)
    }

    fn report_corruption(&self, error: &Error, context: CorruptionContext) {
        self.inner.report_corruption(error, context);
    }
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        if !self.inner.closed.load(Ordering::Acquire)
            && let Err(e) = self.inner.close()
        {
            tracing::warn!(error = %e, "best-effort close on drop failed");
        }
    }
}

impl DbInner {
    pub(super) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        Ok(())
    }

    /// `check_open`, and `ReadOnly` for a read-only handle: what every
    /// call that would change the directory checks first (`what` names
    /// the call in the error).
    pub(super) fn check_writable(&self, what: &str) -> Result<()> {
        self.check_open()?;
        if self.read_only {
            return Err(Error::read_only(what, &self.dir));
        }
        Ok(())
    }

    /// Closes the database. After this returns nothing of this `DbInner`
    /// changes the directory again (see "Handle life cycle" in
    /// `DESIGN.md`): writers, background threads and manual jobs are
    /// finished or refused, and the fence stops table deletion.
    pub(super) fn close(&self) -> Result<()> {
        // Writes made without the WAL live only in memtables: a clean close
        // keeps them by flushing first (not from the flush thread itself,
        // which may drop the last handle: it would wait for itself).
        if self.unlogged.load(Ordering::Acquire) && !self.closed.load(Ordering::Acquire) {
            let on_flush_thread = self
                .flush_thread
                .lock()
                .as_ref()
                .is_some_and(|h| h.thread().id() == std::thread::current().id());
            if on_flush_thread {
                tracing::warn!(
                    "closed from the flush thread: writes made without the WAL are lost"
                );
            } else if let Err(e) = self.flush_and_wait(None) {
                tracing::warn!(error = %e, "could not flush writes made without the WAL at close");
            }
        }
        // A running compaction (background or manual) stops at its next
        // check and deletes its outputs.
        self.compaction.cancel();
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::closed());
        }
        // No writer starts after `closed` is set; wait for the one in flight.
        self.commit.wait_idle();
        self.flush.shutdown();
        self.compaction.shutdown();
        for slot in [&self.flush_thread, &self.compact_thread] {
            if let Some(handle) = slot.lock().take() {
                // The last handle may be dropped on a background thread.
                if handle.thread().id() != std::thread::current().id() && handle.join().is_err() {
                    tracing::error!("a background thread panicked");
                }
            }
        }
        // Manual compactions on other threads hold passes; wait for them
        // (cancelled above, they end soon) and refuse any later one.
        self.fence.close();
        let result = {
            let mut wal = self.wal.lock();
            if let (Some(ev), Some(stall)) = (&self.events, wal.slowdown.take()) {
                ev.write_stall_end(&stall, &Ok(()));
            }
            let poisoned = self.poison.lock().is_some();
            // A read-only handle has no WAL to trim or fsync.
            if poisoned || self.read_only {
                Ok(())
            } else {
                wal.writer.finish().map_err(|e| {
                    Error::io(
                        "trim and fsync",
                        &crate::filename::wal_path(&self.dir, wal.number),
                        e,
                    )
                })
            }
        };
        self.lock.lock().take();
        tracing::debug!(dir = %self.dir.display(), "database closed");
        result
    }

    /// A pass for work that changes the directory outside the background
    /// threads (manual compaction), or `Closed`.
    pub(super) fn enter(&self) -> Result<crate::fs::FencePass<'_>> {
        self.fence.enter().ok_or_else(Error::closed)
    }

    /// Refuses writes from now on, after `cause` (a failed WAL write, flush
    /// or manifest edit). The first poisoning is reported to listeners.
    pub(super) fn poison(&self, cause: &Error, reason: BackgroundErrorReason) {
        let first = {
            let mut p = self.poison.lock();
            let first = p.is_none();
            if first {
                tracing::error!(error = %cause, "write failed; database refuses writes until reopened");
                *p = Some(cause.to_string());
            }
            first
        };
        if first && let Some(ev) = &self.events {
            ev.background_error(reason, cause, true);
        }
    }

    pub(super) fn is_poisoned(&self) -> bool {
        self.poison.lock().is_some()
    }

    /// Tells listeners about `error` if it is a `Corruption` error.
    pub(super) fn report_corruption(&self, error: &Error, context: CorruptionContext) {
        crate::event::report_corruption(&self.events, error, context);
    }

    pub(super) fn check_poison(&self) -> Result<()> {
        match &*self.poison.lock() {
            Some(cause) => Err(Error::poisoned(cause)),
            None => Ok(()),
        }
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire)
            && let Err(e) = self.close()
        {
            tracing::warn!(error = %e, "best-effort close on drop failed");
        }
    }
}
