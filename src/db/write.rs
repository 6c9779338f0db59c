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
//!

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::conditions::{Condition, Outcome};
use super::{DbInner, WalState};
use crate::batch::{self, BatchIter, WriteBatch};
use crate::error::{Error, Result};
use crate::event::BackgroundErrorReason;
use crate::filename;
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, MAX_SEQNO, SeqNo, ValueKind};
use crate::memtable::MemTable;
use crate::options::WriteOptions;
use crate::tree::Tree;
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

/// One writer's batch in the commit queue.
pub(super) struct Request {
    pub(super) batch: WriteBatch,
    pub(super) sync: bool,
    /// Whether the batch goes to the WAL (`WriteOptions::disable_wal`).
    pub(super) wal: bool,
    /// What must hold for the batch to commit, checked by the leader.
    pub(super) condition: Option<Condition>,
    /// Set once, by the leader.
    pub(super) result: Mutex<Option<Result<Outcome>>>,
}

/// A folded merge result to write back as the key's base value, if the
/// key has no version newer than `read_seqno` when it commits (so a
/// concurrent update is never hidden).
struct WriteBack {
    keyspace: KeyspaceId,
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
    pub(crate) fn write(&self, batch: WriteBatch, opts: &WriteOptions) -> Result<()> {
        self.check_writable("a write")?;
        check_write_options(opts)?;
        if batch.is_empty() {
            return if opts.sync { self.sync_wal() } else { Ok(()) };
        }
        self.validate(&batch)?;
        self.submit(Request {
            batch,
            sync: opts.sync,
            wal: !opts.disable_wal,
            condition: None,
            result: Mutex::new(None),
        })
        .map(|_| ())
    }

    /// Checks that every keyspace `batch` writes to exists, and that those
    /// it merges into have a merge operator.
    pub(super) fn validate(&self, batch: &WriteBatch) -> Result<()> {
        if batch.oversized() {
            return Err(Error::invalid(
                "a key or value of the batch is 4 GiB or larger, over the limit of the \
                 format (split the value over several keys)",
            ));
        }
        let mut trees = TreeCache::default();
        for entry in batch.entries() {
            let entry = entry.map_err(Error::from)?;
            // The common case: the default keyspace always exists.
            if entry.keyspace == DEFAULT_KEYSPACE && entry.kind != ValueKind::Merge {
                continue;
            }
            let tree = trees.get(self, entry.keyspace).ok_or_else(|| {
                Error::invalid(format!(
                    "the batch writes to keyspace {}, which this database does not have \
                     (dropped, or a handle of another database)",
                    entry.keyspace
                ))
            })?;
            if tree.is_dropped() {
                return Err(super::compact::dropped_error(tree.name()));
            }
            if entry.kind == ValueKind::Merge && tree.current().merge.op.is_none() {
                return Err(Error::invalid(format!(
                    "merge needs a merge operator; keyspace '{}' has none (configure one with \
                     Options::merge_operator or KeyspaceOptions::merge_operator)",
                    tree.name()
                )));
            }
        }
        Ok(())
    }

    /// Fsyncs the WAL if it holds unsynced records. Older WALs were
    /// fsynced when they were sealed, so this covers every write so far.
    pub(crate) fn sync_wal(&self) -> Result<()> {
        self.check_writable("sync_wal")?;
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
    pub(crate) fn offer_write_back(
        &self,
        keyspace: KeyspaceId,
        key: &[u8],
        value: Bytes,
        read_seqno: SeqNo,
    ) {
        if self.read_only {
            // Nothing commits it: no writer, no flush thread.
            return;
        }
        let queued = self.write_backs.offer(WriteBack {
            keyspace,
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

    pub(super) fn submit(&self, req: Request) -> Result<Outcome> {
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
                    // A refused request has its own result already.
                    r.result
                        .lock()
                        .get_or_insert_with(|| result.clone().map(|()| Outcome::Applied));
                }
                st = queue.state.lock();
                st.leader_active = false;
                queue.finished.fetch_add(1, Ordering::Release);
                queue.cv.notify_all();
                continue;
            }
            waited = true;
            if !spun && st.pending.len() <= SPINNERS {
                // Sleeping costs a wake-up (a futex and a context switch,
                // tens of microseconds on a busy 2-core machine): longer
                // than an unsynced group's commit, and for a synced group
                // the delay keeps the next group from gathering its
                // writers. So spin (yielding) first. Only a few writers
                // do; behind a long queue the wake-up is shared by a large
                // group anyway, and spinners would take the cores.
                // Measured with 4 threads (rillkv-bench, 200k ops):
                // txnrandom@4 80k -> 126k ops/s, casrandom@4 145k -> 200k;
                // fillrandom@4 unchanged.
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
        wal.seal.retain(|t| !t.is_dropped());
        match mode {
            CommitMode::Writers => {
                self.wait_for_compaction_room(&mut wal)?;
                if !wal.seal.is_empty() {
                    let seal = std::mem::take(&mut wal.seal);
                    self.rotate_memtable(&mut wal, &seal)?;
                }
            }
            // Write-backs are an optimisation: never worth a wait.
            CommitMode::NoWait if !wal.seal.is_empty() || self.writes_slowed() => {
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
            let unchanged = !write_backs.iter().any(|b| b.touches(wb.keyspace, &wb.key))
                && matches!(
                    self.newest_seqno(wb.keyspace, &wb.key),
                    Ok(newest) if newest.is_none_or(|s| s <= wb.read_seqno)
                );
            if unchanged {
                let mut batch = WriteBatch::new();
                batch.push_in(wb.keyspace, ValueKind::Put, &wb.key, &wb.value);
                write_backs.push(batch);
            }
        }
        let base = self.last_seqno() + 1;
        let decisions = self.decide(&mut wal, group, base);
        let accepted = || {
            group
                .iter()
                .enumerate()
                .filter(|(i, _)| decisions.accepted(*i))
                .map(|(_, r)| r)
        };
        // Batches written without the WAL go last, so that the WAL
        // record's sequence numbers run on from `base` without a gap.
        let logged: Vec<&WriteBatch> = write_backs
            .iter()
            .chain(accepted().filter(|r| r.wal).map(|r| &r.batch))
            .collect();
        let unlogged: Vec<&WriteBatch> = accepted().filter(|r| !r.wal).map(|r| &r.batch).collect();
        if logged.is_empty() && unlogged.is_empty() {
            return Ok(());
        }
        let count: u64 = logged
            .iter()
            .chain(&unlogged)
            .map(|b| u64::from(b.count()))
            .sum();
        if base + count > MAX_SEQNO {
            return Err(Error::invalid("sequence numbers exhausted"));
        }
        let size = |batches: &[&WriteBatch]| {
            batches.iter().map(|b| b.approximate_size()).sum::<usize>() + batch::HEADER_LEN
        };
        let mut payload = Vec::with_capacity(size(&logged));
        let logged_count = batch::encode_group(base, &logged, &mut payload);
        let wal_bytes = if logged.is_empty() { 0 } else { payload.len() };
        if !logged.is_empty() {
            let wal_path = filename::wal_path(&self.dir, wal.number);
            if let Err(e) = wal.writer.add_record(&payload) {
                let err = Error::io("append to", &wal_path, e);
                self.poison(&err, BackgroundErrorReason::Wal);
                return Err(err);
            }
            // Only logged writes ask for a sync (`write` refuses the rest).
            if accepted().any(|r| r.sync) {
                if let Err(e) = wal.writer.sync() {
                    let err = Error::io("fsync", &wal_path, e);
                    self.poison(&err, BackgroundErrorReason::Wal);
                    return Err(err);
                }
                self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut rest = Vec::new();
        if !unlogged.is_empty() {
            self.unlogged.store(true, Ordering::Release);
            rest.reserve(size(&unlogged));
            batch::encode_group(base + u64::from(logged_count), &unlogged, &mut rest);
        }

        let mut trees = TreeCache::default();
        let mut user_bytes = 0u64;
        for payload in [Bytes::from(payload), Bytes::from(rest)] {
            let Some((first, n, body)) = batch::decode_header(&payload) else {
                continue;
            };
            for (i, entry) in BatchIter::new(body, n).enumerate() {
                // The payload was encoded just above; it always decodes.
                let entry = entry.map_err(Error::from)?;
                user_bytes += (entry.key.len() + entry.value.len()) as u64;
                // A keyspace dropped since the batch was validated: the
                // write is ordered before the drop, which removes it with
                // the rest.
                let Some(mem) = trees.active(self, entry.keyspace, wal.number) else {
                    continue;
                };
                mem.insert(entry.key, first + i as u64, entry.kind, entry.value);
            }
        }
        let count = count as u32;
        self.last_seqno
            .store(base + u64::from(count) - 1, Ordering::Release);
        self.counters.record_group(count, wal_bytes, user_bytes);
        // Counted once visible: a reader that sees the count sees the base.
        self.counters
            .merge_writebacks
            .fetch_add(write_backs.len() as u64, Ordering::Release);
        self.counters
            .txn_commits
            .fetch_add(decisions.txn_commits, Ordering::Relaxed);
        self.counters
            .cas_swapped
            .fetch_add(decisions.cas_swapped, Ordering::Relaxed);
        self.plan_seals(&mut wal, &trees);
        Ok(())
    }

    /// Chooses the trees the next group seals (`wal.seal`): those whose
    /// active memtable this group filled, the largest one when all
    /// memtables together pass `max_memtable_bytes`, and those keeping
    /// the oldest WAL alive when the WALs pass `max_total_wal_size`.
    /// REQUIRES: the WAL lock.
    fn plan_seals(&self, wal: &mut WalState, written: &TreeCache) {
        let seal = |wal: &mut WalState, tree: &Arc<Tree>| {
            if !wal.seal.iter().any(|t| Arc::ptr_eq(t, tree)) {
                wal.seal.push(Arc::clone(tree));
            }
        };
        for (tree, active) in written.written() {
            if active.approximate_size() >= tree.memtable_size() {
                seal(wal, tree);
            }
        }
        let budget = self.opts.max_memtable_bytes;
        if budget > 0 {
            let trees = self.trees();
            let total: usize = trees.iter().map(|t| t.memtable_bytes()).sum();
            if total > budget
                && let Some(largest) = trees
                    .iter()
                    .filter(|t| !t.current().active.is_empty())
                    .max_by_key(|t| t.current().active.approximate_size())
            {
                seal(wal, largest);
            }
        }
        let wal_bytes = self.wal_bytes.load(Ordering::Acquire) + wal.writer.len();
        if wal_bytes > self.opts.max_total_wal_size {
            // The trees whose active memtable holds writes in the oldest
            // live WAL; sealed ones are on their way to tables already.
            let oldest = self.wal_files.lock().keys().next().copied();
            if let Some(oldest) = oldest {
                for tree in self.trees() {
                    let sv = tree.current();
                    if sv.sealed.is_empty() && sv.active.first_wal().is_some_and(|w| w <= oldest) {
                        seal(wal, &tree);
                    }
                }
            }
        }
    }

    /// Seals the active memtable of each tree in `trees` and starts a new
    /// WAL, where their new memtables start.
    /// REQUIRES: the WAL lock (proven by `wal`).
    pub(crate) fn rotate_memtable(&self, wal: &mut WalState, trees: &[Arc<Tree>]) -> Result<()> {
        let span = tracing::info_span!(
            "wal_rotation",
            old_wal = wal.number,
            new_wal = tracing::field::Empty
        );
        let _enter = span.enter();
        self.wait_for_flush_room(trees)?;
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
        let old_len = wal.writer.len();
        self.wal_files.lock().insert(wal.number, old_len);
        self.wal_bytes.fetch_add(old_len, Ordering::AcqRel);
        wal.writer = wal::Writer::preallocated(file);
        wal.number = number;
        // Published after the old WAL is listed (see `obsolete_wals`).
        self.current_wal.store(number, Ordering::Release);
        for tree in trees {
            tree.seal_active(number);
        }
        wal.seal
            .retain(|t| !trees.iter().any(|s| Arc::ptr_eq(s, t)));
        self.flush.schedule();
        tracing::debug!(wal = number, "memtables sealed, new WAL started");
        Ok(())
    }

    /// The WAL files no memtable needs once `flushed` (a sealed memtable
    /// being flushed) is in a table: every WAL below the oldest one that a
    /// memtable of some keyspace still needs, and below the WAL being
    /// written. They are taken off the live list; the caller deletes them
    /// after its manifest record (a keyspace whose recorded log number is
    /// older than them has none of its unflushed writes in them).
    pub(super) fn obsolete_wals(&self, flushed: Option<&Arc<MemTable>>) -> Vec<PathBuf> {
        // The WAL being written first: a write this misses in the trees
        // below goes to it or a later one.
        let current = self.current_wal.load(Ordering::Acquire);
        let floor = self
            .trees()
            .iter()
            .filter_map(|t| t.oldest_live_wal(flushed))
            .fold(current, u64::min);
        let mut files = self.wal_files.lock();
        let keep = files.split_off(&floor);
        let gone = std::mem::replace(&mut *files, keep);
        self.wal_bytes
            .fetch_sub(gone.values().sum::<u64>(), Ordering::AcqRel);
        gone.keys()
            .map(|&n| filename::wal_path(&self.dir, n))
            .collect()
    }
}

/// The trees a group writes to, looked up once per keyspace. The first
/// is kept inline: most groups write to one keyspace, and this runs on
/// every commit.
#[derive(Default)]
pub(super) struct TreeCache {
    first: Option<CachedTree>,
    rest: Vec<CachedTree>,
}

/// One keyspace a group writes to: its tree (`None` if it does not exist)
/// and, once the group inserts into it, its active memtable.
struct CachedTree {
    keyspace: KeyspaceId,
    tree: Option<Arc<Tree>>,
    active: Option<Arc<MemTable>>,
}

impl TreeCache {
    /// The tree of `keyspace`, if it exists.
    fn get(&mut self, db: &DbInner, keyspace: KeyspaceId) -> Option<&Arc<Tree>> {
        self.entry(db, keyspace).tree.as_ref()
    }

    /// The active memtable of `keyspace`'s tree, unless it was dropped;
    /// the first time, it is told that writes go to WAL `wal_number`.
    /// REQUIRES: the WAL lock (the active memtable does not change).
    fn active(
        &mut self,
        db: &DbInner,
        keyspace: KeyspaceId,
        wal_number: u64,
    ) -> Option<&Arc<MemTable>> {
        let cached = self.entry(db, keyspace);
        let tree = cached.tree.as_ref().filter(|t| !t.is_dropped())?;
        Some(cached.active.get_or_insert_with(|| {
            let active = Arc::clone(&tree.current().active);
            active.note_wal(wal_number);
            active
        }))
    }

    fn entry(&mut self, db: &DbInner, keyspace: KeyspaceId) -> &mut CachedTree {
        let new = |keyspace| CachedTree {
            keyspace,
            tree: db.tree(keyspace),
            active: None,
        };
        let first = self.first.get_or_insert_with(|| new(keyspace));
        if first.keyspace == keyspace {
            return first;
        }
        match self.rest.iter().position(|c| c.keyspace == keyspace) {
            Some(i) => &mut self.rest[i],
            None => {
                self.rest.push(new(keyspace));
                let last = self.rest.len() - 1;
                &mut self.rest[last]
            }
        }
    }

    /// The trees the group inserted into, with their active memtables.
    fn written(&self) -> impl Iterator<Item = (&Arc<Tree>, &Arc<MemTable>)> {
        self.first
            .iter()
            .chain(&self.rest)
            .filter_map(|c| Some((c.tree.as_ref()?, c.active.as_ref()?)))
    }
}

/// Refuses write options that make no sense together.
pub(super) fn check_write_options(opts: &WriteOptions) -> Result<()> {
    if opts.sync && opts.disable_wal {
        return Err(Error::invalid(
            "sync(true) with disable_wal(true): a write without the WAL has nothing to \
             fsync; flush the keyspace to make it durable",
        ));
    }
    Ok(())
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
