//! The write path: group commit, the WAL append, memtable insert, and
//! memtable rotation.
//!
//! # Group commit
//! Writers queue their batches. The first writer to find no leader becomes
//! the leader: if it will fsync and writers are evidently concurrent, it
//! first gives them up to [`GATHER`] to join (see [`gather`]); then it
//! takes every queued batch (up to [`MAX_GROUP_BYTES`]),
//! assigns consecutive sequence numbers in queue order, appends them to the
//! WAL as **one record** (so a crash keeps all of the group or none of it),
//! fsyncs once if any writer asked for sync, inserts into the memtable,
//! publishes the last sequence number, and wakes the group. Followers just
//! wait for their result.
//!
//! # Invariants
//! - At most one leader at a time; only it touches the WAL writer.
//! - Sequence numbers follow WAL order; a write is visible to reads only
//!   after every earlier write is.
//! - Before a new WAL receives its first record, the previous WAL is fsynced,
//!   so a power loss can never keep a later WAL's writes and lose an earlier
//!   one's (the prefix property across files).
//!
//! # Merge write-backs
//! A read that folds many merge operands *offers* its result
//! ([`WriteBacks::offer`]): a bounded queue, a short lock, never a wait.
//! The next commit group takes the queue and commits, ahead of its own
//! batches, each offer whose key has no version newer than the read,
//! checked under leadership. When no
//! writer comes, the flush thread commits them as a group of their own
//! ([`DbInner::commit_write_backs`]), but only if that needs no waiting: a
//! reader never waits for writers, and a background thread never waits for
//! itself.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::{DbInner, WalState};
use crate::batch::{self, BatchIter, WriteBatch};
use crate::error::{Error, Result};
use crate::event::BackgroundErrorReason;
use crate::filename;
use crate::key::{MAX_SEQNO, SeqNo};
use crate::wal;

/// Who leads a commit group, and so whether it may wait.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CommitMode {
    /// A writer: waits for stalls and seals a full memtable.
    Writers,
    /// The flush thread committing write-backs: never waits; skips the
    /// group instead.
    NoWait,
}

/// A leader stops adding batches to its group past this many bytes.
const MAX_GROUP_BYTES: usize = 1 << 20;

struct Request {
    batch: WriteBatch,
    sync: bool,
    result: Mutex<Option<Result<()>>>,
}

/// A folded merge result to write back as the key's base value, if the
/// key has no version newer than `read_seqno` when it commits (so a
/// concurrent update is never hidden).
struct WriteBack {
    key: Bytes,
    value: Bytes,
    read_seqno: SeqNo,
}

/// At most this many write-backs wait; later offers are dropped (the next
/// long read offers again).
const MAX_WRITE_BACKS: usize = 64;

/// Merge write-backs offered by reads, waiting for a commit group.
#[derive(Default)]
pub(super) struct WriteBacks {
    queue: Mutex<VecDeque<WriteBack>>,
}

impl WriteBacks {
    /// Queues a write-back unless the queue is full. Never blocks beyond
    /// the queue's short lock. Returns whether it was queued.
    fn offer(&self, wb: WriteBack) -> bool {
        let mut q = self.queue.lock();
        if q.len() >= MAX_WRITE_BACKS {
            return false;
        }
        q.push_back(wb);
        true
    }

    fn take(&self) -> VecDeque<WriteBack> {
        std::mem::take(&mut *self.queue.lock())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.lock().is_empty()
    }
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<Arc<Request>>,
    leader_active: bool,
    /// Writers in the last group committed.
    last_group: usize,
}

/// How long a leader of a synced group waits for other writers to join
/// when writers are evidently concurrent (see [`gather`]).
const GATHER: std::time::Duration = std::time::Duration::from_micros(50);

/// The queue of writers waiting to commit.
#[derive(Default)]
pub(super) struct CommitQueue {
    state: Mutex<QueueState>,
    cv: Condvar,
    /// Groups finished so far: a follower spinning with the lock released
    /// (see [`spin_for_result`]) stops when it changes.
    finished: AtomicU64,
}

/// How long a writer waiting on a synced group spins before it sleeps.
const SPIN: std::time::Duration = std::time::Duration::from_micros(250);

/// Writers spin only while at most this many are queued.
const SPINNERS: usize = 2;

impl CommitQueue {
    /// Waits until no leader is committing and nobody is queued.
    pub(super) fn wait_idle(&self) {
        let mut st = self.state.lock();
        while st.leader_active || !st.pending.is_empty() {
            self.cv.wait(&mut st);
        }
    }
}

impl DbInner {
    pub(crate) fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        self.check_open()?;
        if batch.is_empty() {
            return if sync { self.sync_wal() } else { Ok(()) };
        }
        batch.validate(self.opts.merge_operator.is_some())?;
        self.submit(Request {
            batch,
            sync,
            result: Mutex::new(None),
        })
    }

    /// Fsyncs the WAL if it holds unsynced records. Older WALs were
    /// fsynced when they were sealed, so this covers every write so far.
    pub(crate) fn sync_wal(&self) -> Result<()> {
        self.check_open()?;
        // The WAL lock excludes the commit leader for the fsync's length.
        let mut wal = self.wal.lock();
        self.check_open()?;
        self.check_poison()?;
        if wal.writer.is_synced() {
            return Ok(());
        }
        if let Err(e) = wal.writer.sync() {
            let err = Error::io("fsync", &filename::wal_path(&self.dir, wal.number), e);
            self.poison(&err, BackgroundErrorReason::Wal);
            return Err(err);
        }
        self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Offers a folded merge result to be written back as the key's base
    /// value, unless a newer write to the key commits after `read_seqno`.
    /// Never blocks: the write happens with a later commit group, or on the
    /// flush thread, or not at all (the queue was full, or writes would
    /// have to wait). The read that offered it is unaffected.
    pub(crate) fn offer_write_back(&self, key: &[u8], value: Bytes, read_seqno: SeqNo) {
        let queued = self.write_backs.offer(WriteBack {
            key: Bytes::copy_from_slice(key),
            value,
            read_seqno,
        });
        if queued {
            self.flush.schedule();
        } else {
            tracing::debug!("merge write-back dropped: the queue is full");
        }
    }

    /// Commits the offered write-backs as a group of their own, if no
    /// writer leads now (a leader takes them itself) and committing needs
    /// no wait (no stall, no memtable to seal). Called on the flush thread.
    pub(super) fn commit_write_backs(&self) {
        let queue = &self.commit;
        {
            let mut st = queue.state.lock();
            if st.leader_active || !st.pending.is_empty() {
                return;
            }
            st.leader_active = true;
        }
        let result = self.commit_group(&[], CommitMode::NoWait);
        let mut st = queue.state.lock();
        st.leader_active = false;
        queue.finished.fetch_add(1, Ordering::Release);
        queue.cv.notify_all();
        drop(st);
        if let Err(e) = result {
            tracing::debug!(error = %e, "merge write-backs skipped");
        }
    }

    fn submit(&self, req: Request) -> Result<()> {
        let req = Arc::new(req);
        let queue = &self.commit;
        let mut st = queue.state.lock();
        st.pending.push_back(Arc::clone(&req));
        let mut waited = false;
        let mut spun = false;
        loop {
            if let Some(result) = req.result.lock().take() {
                return result;
            }
            if !st.leader_active {
                // Lead a group: take queued requests, commit without the lock.
                st.leader_active = true;
                if req.sync && (waited || st.last_group > 1) {
                    gather(&mut st);
                }
                let group = take_group(&mut st.pending);
                st.last_group = group.len();
                drop(st);
                let result = self.commit_group(&group, CommitMode::Writers);
                for r in &group {
                    *r.result.lock() = Some(result.clone());
                }
                st = queue.state.lock();
                st.leader_active = false;
                queue.finished.fetch_add(1, Ordering::Release);
                queue.cv.notify_all();
                continue;
            }
            waited = true;
            if req.sync && !spun && st.pending.len() <= SPINNERS {
                // A synced group's fsync takes long enough that sleeping
                // through it costs a wake-up, and that delay keeps the next
                // group from gathering its writers: spin first. Only a few
                // writers do; behind a long queue the wake-up is shared by
                // a large group anyway, and spinners would take the cores.
                let finished = queue.finished.load(Ordering::Acquire);
                parking_lot::MutexGuard::unlocked(&mut st, || {
                    spin_for_result(&req, &queue.finished, finished);
                });
                spun = true;
                continue;
            }
            queue.cv.wait(&mut st);
            spun = false;
        }
    }

    /// Commits one group, with the write-backs offered so far. Runs on
    /// the leader only.
    fn commit_group(&self, group: &[Arc<Request>], mode: CommitMode) -> Result<()> {
        let mut wal = self.wal.lock();
        // `close` sets `closed` before it takes the WAL lock to fsync, so a
        // group that gets the lock after that fsync is refused here.
        self.check_open()?;
        self.check_poison()?;
        let full = self.tree.current().active.approximate_size() >= self.tree.opts().memtable_size;
        match mode {
            CommitMode::Writers => {
                self.wait_for_compaction_room(&mut wal)?;
                if full {
                    self.rotate_memtable(&mut wal)?;
                }
            }
            // Write-backs are an optimisation: never worth a wait.
            CommitMode::NoWait if full || self.writes_slowed() => {
                drop(self.write_backs.take());
                return Ok(());
            }
            CommitMode::NoWait => {}
        }
        // Write-backs go first: each was read before any batch of this
        // group was committed, so it may commit ahead of them as long as
        // nothing newer than its read is committed already. Leadership
        // excludes other writers, so this check and the commit below are
        // atomic with respect to writes to the key. A key offered twice is
        // written once.
        let offered = self.write_backs.take();
        let mut write_backs: Vec<WriteBatch> = Vec::with_capacity(offered.len());
        for wb in offered {
            let unchanged = !write_backs.iter().any(|b| b.touches(&wb.key))
                && matches!(
                    self.newest_seqno(&wb.key),
                    Ok(newest) if newest.is_none_or(|s| s <= wb.read_seqno)
                );
            if unchanged {
                let mut batch = WriteBatch::new();
                batch.put(&wb.key, &wb.value);
                write_backs.push(batch);
            }
        }
        self.counters
            .merge_writebacks
            .fetch_add(write_backs.len() as u64, Ordering::Relaxed);
        let batches: Vec<&WriteBatch> = write_backs
            .iter()
            .chain(group.iter().map(|r| &r.batch))
            .collect();
        if batches.is_empty() {
            return Ok(());
        }
        let total: usize = batches.iter().map(|b| b.approximate_size()).sum();
        let base = self.last_seqno() + 1;
        let count: u64 = batches.iter().map(|b| u64::from(b.count())).sum();
        if base + count > MAX_SEQNO {
            return Err(Error::invalid("sequence numbers exhausted"));
        }
        let mut payload = Vec::with_capacity(total + batch::HEADER_LEN);
        let count = batch::encode_group(base, &batches, &mut payload);

        let wal_path = filename::wal_path(&self.dir, wal.number);
        if let Err(e) = wal.writer.add_record(&payload) {
            let err = Error::io("append to", &wal_path, e);
            self.poison(&err, BackgroundErrorReason::Wal);
            return Err(err);
        }
        let sync = group.iter().any(|r| r.sync);
        if sync {
            if let Err(e) = wal.writer.sync() {
                let err = Error::io("fsync", &wal_path, e);
                self.poison(&err, BackgroundErrorReason::Wal);
                return Err(err);
            }
            self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
        }

        let payload = Bytes::from(payload);
        let body = payload.get(batch::HEADER_LEN..).unwrap_or_default();
        let mem = Arc::clone(&self.tree.current().active);
        let mut user_bytes = 0u64;
        for (i, entry) in BatchIter::new(body, count).enumerate() {
            // The payload was encoded just above; it always decodes.
            let entry = entry.map_err(Error::from)?;
            user_bytes += (entry.key.len() + entry.value.len()) as u64;
            mem.insert(
                payload.slice_ref(entry.key),
                base + i as u64,
                entry.kind,
                payload.slice_ref(entry.value),
            );
        }
        self.last_seqno
            .store(base + u64::from(count) - 1, Ordering::Release);
        self.counters.record_group(count, payload.len(), user_bytes);
        Ok(())
    }

    /// Seals the active memtable and starts a new one with a new WAL.
    /// REQUIRES: the WAL lock (proven by `wal`).
    pub(crate) fn rotate_memtable(&self, wal: &mut WalState) -> Result<()> {
        let span = tracing::info_span!(
            "wal_rotation",
            old_wal = wal.number,
            new_wal = tracing::field::Empty
        );
        let _enter = span.enter();
        self.wait_for_flush_room()?;
        let old_path = filename::wal_path(&self.dir, wal.number);
        if let Err(e) = wal.writer.finish() {
            let err = Error::io("trim and fsync", &old_path, e);
            self.poison(&err, BackgroundErrorReason::Wal);
            return Err(err);
        }
        let number = self.next_file_number.fetch_add(1, Ordering::AcqRel);
        span.record("new_wal", number);
        let path = filename::wal_path(&self.dir, number);
        let file = self
            .fs
            .create(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync directory", &self.dir, e))?;
        wal.writer = wal::Writer::preallocated(file);
        wal.number = number;
        self.tree.seal_active(number);
        self.flush.schedule();
        tracing::debug!(wal = number, "memtable sealed, new WAL started");
        Ok(())
    }
}

/// Lets other writers join a synced group before it is taken: a group
/// costs one fsync however many writers it holds, and with two or more
/// synchronous writers the one just acknowledged is about to write again.
/// Without this, two such writers alternate in groups of one (each arrives
/// during the other's fsync) and gain nothing from group commit. Called
/// only when writers are evidently concurrent (this leader had to wait, or
/// the last group held several), so a lone writer never waits. Returns
/// once someone joined or after [`GATHER`].
fn gather(st: &mut parking_lot::MutexGuard<'_, QueueState>) {
    let deadline = std::time::Instant::now() + GATHER;
    while st.pending.len() < 2 && std::time::Instant::now() < deadline {
        parking_lot::MutexGuard::unlocked(st, std::thread::yield_now);
    }
}

/// Spins (yielding the core) until `req` has its result, a group finishes
/// (`finished` moves past `seen`), or [`SPIN`] passes. Called without the
/// queue lock; the caller re-checks everything under it afterwards, so
/// returning early or late loses no wake-up.
fn spin_for_result(req: &Request, finished: &AtomicU64, seen: u64) {
    let deadline = std::time::Instant::now() + SPIN;
    while req.result.lock().is_none()
        && finished.load(Ordering::Acquire) == seen
        && std::time::Instant::now() < deadline
    {
        std::thread::yield_now();
    }
}

/// Takes queued requests from the front, up to [`MAX_GROUP_BYTES`] (always
/// at least one).
fn take_group(pending: &mut VecDeque<Arc<Request>>) -> Vec<Arc<Request>> {
    let mut group = Vec::new();
    let mut bytes = 0;
    while let Some(front) = pending.front() {
        let size = front.batch.approximate_size();
        if !group.is_empty() && bytes + size > MAX_GROUP_BYTES {
            break;
        }
        bytes += size;
        if let Some(r) = pending.pop_front() {
            group.push(r);
        }
    }
    group
}
