//! [`Tree`]: one LSM tree — its memtables and its live tables, seen
//! together through a [`SuperVersion`], the read path over them
//! ([`ReadView`]), and what flush and compaction do to it
//! (`flush.rs`: a memtable written as a table; `job.rs`: a compaction job
//! or a run fold turned into a version edit).
//!
//! The database (`db/`) owns what trees share: the directory and its lock,
//! the WAL and group commit, sequence numbers, snapshots, the manifest,
//! background threads, events and the handle life cycle. A tree does no
//! logging and installs nothing by itself: it writes tables and computes
//! edits; the database logs each edit in the manifest and then swaps the
//! tree's super version ([`Tree::install`]).
//!
//! # Thread safety
//! The super version is an `Arc` swapped under a short write lock; readers
//! clone it and read without locks. REQUIRES for every swap: the caller
//! holds the database's version-set lock (flush and compaction installs)
//! or the WAL lock (memtable rotation), which orders the swaps.

mod flush;
mod job;
mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::RwLock;

pub(crate) use flush::write_memtable;
pub(crate) use job::{JobContext, fold_edit, run_job};
pub(crate) use view::{MergeSettings, ReadView};

use crate::compaction::CompactionOptions;
use crate::key::{KeyspaceId, SeqNo};
use crate::memtable::MemTable;
use crate::table::{Compression, TableOptions};
use crate::version::{TableRegistry, Version};

/// Everything a read of one tree sees — memtables and the table version —
/// swapped as one unit.
pub(crate) struct SuperVersion {
    /// Takes writes.
    pub(crate) active: Arc<MemTable>,
    /// Sealed memtables, newest first.
    pub(crate) sealed: Vec<Arc<MemTable>>,
    /// The live tables.
    pub(crate) version: Arc<Version>,
    /// How the tree folds merge operands: carried by every super version
    /// so that a read view costs one `Arc` clone, not two.
    pub(crate) merge: Arc<MergeSettings>,
}

/// How one tree writes, reads and compacts.
#[derive(Clone)]
pub(crate) struct TreeOptions {
    pub(crate) memtable_size: usize,
    /// Tables above the bottom of the tree.
    pub(crate) table: TableOptions,
    /// Compression of tables a bottom compaction writes.
    pub(crate) bottommost_compression: Compression,
    pub(crate) merge: MergeSettings,
    pub(crate) compaction: CompactionOptions,
}

/// One LSM tree: the data of one keyspace.
pub(crate) struct Tree {
    id: KeyspaceId,
    name: String,
    /// Replaced as a whole when the keyspace is opened with new options.
    opts: RwLock<Arc<TreeOptions>>,
    /// `opts.memtable_size`, read on every commit without a lock.
    memtable_size: AtomicUsize,
    super_version: RwLock<Arc<SuperVersion>>,
    /// The one live object of each of its tables (shared by every tree of
    /// the database: table numbers are the database's).
    tables: Arc<TableRegistry>,
    /// Set when the keyspace is dropped: no write reaches it after that.
    dropped: AtomicBool,
}

impl Tree {
    /// The tree of keyspace `id`, whose live tables are `version` and
    /// whose (empty) active memtable starts at WAL `wal_number`.
    pub(crate) fn new(
        id: KeyspaceId,
        name: String,
        opts: TreeOptions,
        version: Arc<Version>,
        wal_number: u64,
        tables: Arc<TableRegistry>,
    ) -> Tree {
        let merge = opts.merge.clone();
        Tree {
            id,
            name,
            memtable_size: AtomicUsize::new(opts.memtable_size),
            opts: RwLock::new(Arc::new(opts)),
            super_version: RwLock::new(Arc::new(SuperVersion {
                active: Arc::new(MemTable::new(wal_number)),
                sealed: Vec::new(),
                version,
                merge: Arc::new(merge),
            })),
            tables,
            dropped: AtomicBool::new(false),
        }
    }

    /// The tree with `sealed` (newest first) as its sealed memtables: WALs
    /// replayed by a read-only open, which writes no table.
    pub(crate) fn with_sealed(self, sealed: Vec<Arc<MemTable>>) -> Tree {
        {
            let mut sv = self.super_version.write();
            let current = Arc::clone(&sv);
            *sv = Arc::new(SuperVersion {
                active: Arc::clone(&current.active),
                sealed,
                version: Arc::clone(&current.version),
                merge: Arc::clone(&current.merge),
            });
        }
        self
    }

    pub(crate) fn id(&self) -> KeyspaceId {
        self.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The options in force now.
    pub(crate) fn opts(&self) -> Arc<TreeOptions> {
        Arc::clone(&self.opts.read())
    }

    /// Replaces the options: new memtables and tables follow them, and
    /// reads from now on fold merges with the new merge settings.
    /// REQUIRES: the version-set lock (it orders super-version swaps).
    pub(crate) fn set_options(&self, opts: TreeOptions) {
        let merge = Arc::new(opts.merge.clone());
        self.memtable_size
            .store(opts.memtable_size, Ordering::Relaxed);
        *self.opts.write() = Arc::new(opts);
        let mut sv = self.super_version.write();
        *sv = Arc::new(SuperVersion {
            active: Arc::clone(&sv.active),
            sealed: sv.sealed.clone(),
            version: Arc::clone(&sv.version),
            merge,
        });
    }

    /// Bytes the active memtable takes before it is sealed.
    pub(crate) fn memtable_size(&self) -> usize {
        self.memtable_size.load(Ordering::Relaxed)
    }

    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    /// Marks the keyspace dropped and empties the tree: its memtables and
    /// tables stay alive only as long as views taken before (iterators)
    /// hold them, not as long as a handle of the keyspace does. Returns
    /// the replaced super version, for the caller to drop outside its
    /// locks. REQUIRES: the WAL lock, so that no commit group inserts into
    /// it afterwards, and the version-set lock.
    #[must_use = "drop the replaced super version outside the locks"]
    pub(crate) fn mark_dropped(&self) -> Arc<SuperVersion> {
        self.dropped.store(true, Ordering::Release);
        let mut sv = self.super_version.write();
        let empty = Arc::new(SuperVersion {
            active: Arc::new(MemTable::new(sv.active.wal_number())),
            sealed: Vec::new(),
            version: Arc::default(),
            merge: Arc::clone(&sv.merge),
        });
        std::mem::replace(&mut *sv, empty)
    }

    /// The oldest WAL holding a write of this tree that is in no table
    /// yet once `flushed` (a sealed memtable being flushed) is, or `None`
    /// if every write is in tables then.
    pub(crate) fn oldest_live_wal(&self, flushed: Option<&Arc<MemTable>>) -> Option<u64> {
        let sv = self.current();
        let oldest = sv
            .sealed
            .iter()
            .rev()
            .find(|m| flushed.is_none_or(|f| !Arc::ptr_eq(m, f)));
        match oldest {
            Some(m) => Some(m.first_wal().unwrap_or(m.wal_number())),
            None => sv.active.first_wal(),
        }
    }

    /// Bytes in its memtables, active and sealed.
    pub(crate) fn memtable_bytes(&self) -> usize {
        let sv = self.current();
        sv.active.approximate_size()
            + sv.sealed
                .iter()
                .map(|m| m.approximate_size())
                .sum::<usize>()
    }

    pub(crate) fn tables(&self) -> &Arc<TableRegistry> {
        &self.tables
    }

    /// The current super version.
    pub(crate) fn current(&self) -> Arc<SuperVersion> {
        Arc::clone(&self.super_version.read())
    }

    /// The current super version, read together with `last_seqno` under
    /// the super-version lock: every version that number can see is in
    /// that super version, whatever flush or compaction installs next.
    pub(crate) fn latest_view(&self, last_seqno: impl FnOnce() -> SeqNo) -> ReadView {
        let sv = self.super_version.read();
        let seqno = last_seqno();
        ReadView::new(Arc::clone(&sv), seqno)
    }

    /// A view at `seqno` (pinned by the caller) over the current super
    /// version, which holds every version `seqno` can see.
    pub(crate) fn view_at(&self, seqno: SeqNo) -> ReadView {
        ReadView::new(self.current(), seqno)
    }

    /// Seals the active memtable and starts an empty one logging to WAL
    /// `wal_number`. REQUIRES: the WAL lock.
    pub(crate) fn seal_active(&self, wal_number: u64) {
        let mut sv = self.super_version.write();
        let mut sealed = Vec::with_capacity(sv.sealed.len() + 1);
        sealed.push(Arc::clone(&sv.active));
        sealed.extend(sv.sealed.iter().cloned());
        *sv = Arc::new(SuperVersion {
            active: Arc::new(MemTable::new(wal_number)),
            sealed,
            version: Arc::clone(&sv.version),
            merge: Arc::clone(&sv.merge),
        });
    }

    /// Installs `version` (already logged in the manifest), dropping the
    /// sealed memtable `flushed` if given. Returns the replaced super
    /// version, for the caller to drop outside its locks (the last
    /// reference to an obsolete table may go with it, and its deletion
    /// must not run under them). REQUIRES: the version-set lock.
    #[must_use = "drop the replaced super version outside the locks"]
    pub(crate) fn install(
        &self,
        version: Arc<Version>,
        flushed: Option<&Arc<MemTable>>,
    ) -> Arc<SuperVersion> {
        let mut cur = self.super_version.write();
        let sealed = cur
            .sealed
            .iter()
            .filter(|m| flushed.is_none_or(|f| !Arc::ptr_eq(m, f)))
            .cloned()
            .collect();
        let new = Arc::new(SuperVersion {
            active: Arc::clone(&cur.active),
            sealed,
            version,
            merge: Arc::clone(&cur.merge),
        });
        std::mem::replace(&mut *cur, new)
    }
}
