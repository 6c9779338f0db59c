//! [`TableRegistry`] and [`TableFile`]: exactly one live object per table
//! number, and that object alone decides when the file is deleted.
//!
//! # Invariants
//! - At most one `TableFile` is alive per table number: every version that
//!   lists a table shares it, including a version where an edit moved the
//!   table to another run (a run fold deletes and re-adds the same number).
//! - A table file is deleted only by its `TableFile`, when the last
//!   reference drops, if an edit that durably removed it (and a record
//!   after it, see "Deletion lags one record" in `DESIGN.md`) marked it
//!   obsolete, and only while the database's [`Fence`] is open. After
//!   `close`, an obsolete table held by a late reader is left in place;
//!   the next open deletes it as unreferenced.
//!
//! # Thread safety
//! The registry's map is behind a mutex taken only to look up, insert or
//! forget an entry; no I/O happens under it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::TableMeta;
use crate::error::{Error, Result};
use crate::filename;
use crate::fs::{Fence, Fs};
use crate::table::{BlockCache, Table};

/// Told the number and size of each table file deleted because an edit
/// removed it (the database hands its listeners this way).
pub(crate) type OnTableDeleted = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// The live tables of one database, by number, and what opening one needs.
pub(crate) struct TableRegistry {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    cache: Option<Arc<BlockCache>>,
    /// Read tables through a mapping rather than `pread`.
    mmap: bool,
    /// Closed at `Db::close`: no file is deleted after that.
    fence: Arc<Fence>,
    on_deleted: Option<OnTableDeleted>,
    live: Mutex<HashMap<u64, Weak<TableFile>>>,
}

impl TableRegistry {
    pub(crate) fn new(
        dir: &Path,
        fs: Arc<dyn Fs>,
        cache: Option<Arc<BlockCache>>,
        mmap: bool,
        fence: Arc<Fence>,
        on_deleted: Option<OnTableDeleted>,
    ) -> Arc<Self> {
        Arc::new(TableRegistry {
            dir: dir.to_path_buf(),
            fs,
            cache,
            mmap,
            fence,
            on_deleted,
            live: Mutex::new(HashMap::new()),
        })
    }

    /// The live object for the table `meta` names, created if there is
    /// none.
    ///
    /// # Errors
    /// A message if a live object for that number describes another file
    /// (another size or key range): two manifest entries disagree.
    pub(crate) fn get_or_insert(
        self: &Arc<Self>,
        meta: &TableMeta,
    ) -> std::result::Result<Arc<TableFile>, String> {
        let mut live = self.live.lock();
        if let Some(existing) = live.get(&meta.number).and_then(Weak::upgrade) {
            let m = &existing.meta;
            if (m.size, &m.smallest, &m.largest) != (meta.size, &meta.smallest, &meta.largest) {
                return Err(format!(
                    "table {} is named twice with different sizes or key ranges",
                    meta.number
                ));
            }
            return Ok(existing);
        }
        let file = Arc::new(self.new_file(meta.clone(), true));
        live.insert(meta.number, Arc::downgrade(&file));
        Ok(file)
    }

    /// A table outside every manifest (an intermediate table of a
    /// multi-round compaction): not registered, and deleted as soon as its
    /// last reference drops.
    pub(crate) fn intermediate(self: &Arc<Self>, meta: TableMeta) -> Arc<TableFile> {
        let file = self.new_file(meta, false);
        file.obsolete.store(true, Ordering::Release);
        Arc::new(file)
    }

    fn new_file(self: &Arc<Self>, meta: TableMeta, report_deletion: bool) -> TableFile {
        TableFile {
            path: filename::table_path(&self.dir, meta.number),
            meta,
            registry: Arc::clone(self),
            opened: OnceLock::new(),
            obsolete: AtomicBool::new(false),
            report_deletion,
        }
    }

    /// Drops the map entry of `number` if it is `file` (a new object for
    /// the same number may already have replaced it).
    fn forget(&self, number: u64, file: *const TableFile) {
        let mut live = self.live.lock();
        if live
            .get(&number)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), file))
        {
            live.remove(&number);
        }
    }
}

/// A live table file: its manifest entry and, once first read, the opened
/// table (the cache of open tables is this `OnceLock`).
///
/// `meta.run` is the run the table was created in; the [`Version`]s that
/// list the table say which run holds it now (a fold moves it).
///
/// [`Version`]: super::Version
pub(crate) struct TableFile {
    pub(crate) meta: TableMeta,
    path: PathBuf,
    registry: Arc<TableRegistry>,
    opened: OnceLock<Arc<Table>>,
    /// Set once an edit durably removed the table: the file is deleted when
    /// the last reference drops.
    obsolete: AtomicBool,
    /// Whether the registry's `on_deleted` hears of the deletion (not for
    /// intermediate tables, which no manifest ever named).
    report_deletion: bool,
}

impl TableFile {
    /// The opened table, opening it on first use.
    pub(crate) fn table(&self) -> Result<Arc<Table>> {
        if let Some(t) = self.opened.get() {
            return Ok(Arc::clone(t));
        }
        let reg = &self.registry;
        let file = reg
            .fs
            .open_random(&self.path, reg.mmap)
            .map_err(|e| Error::io("open", &self.path, e))?;
        check_table_size(&self.path, self.meta.size, file.len())?;
        let table = Table::open(&self.path, file, self.meta.number, reg.cache.clone())?;
        Ok(Arc::clone(self.opened.get_or_init(|| table)))
    }

    /// The opened table, if it was opened already (no I/O).
    pub(crate) fn opened(&self) -> Option<&Arc<Table>> {
        self.opened.get()
    }

    /// Deletes the file once the last reference drops.
    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }

    /// Whether `key` lies within the table's key range.
    pub(crate) fn may_contain_key(&self, key: &[u8]) -> bool {
        self.meta.smallest.as_ref() <= key && key <= self.meta.largest.as_ref()
    }
}

impl Drop for TableFile {
    fn drop(&mut self) {
        self.registry.forget(self.meta.number, self);
        if !self.obsolete.load(Ordering::Acquire) {
            return;
        }
        let Some(_pass) = self.registry.fence.enter() else {
            tracing::debug!(file = %self.path.display(),
                "database closed; obsolete table left for the next open to remove");
            return;
        };
        match self.registry.fs.remove_file(&self.path) {
            Ok(()) => {
                tracing::debug!(file = %self.path.display(), "deleted obsolete table");
                if let (true, Some(told)) = (self.report_deletion, &self.registry.on_deleted) {
                    told(self.meta.number, self.meta.size);
                }
            }
            Err(e) => tracing::warn!(file = %self.path.display(), error = %e,
                "could not delete obsolete table; it is removed at next open"),
        }
    }
}

/// Checks that the table file at `path` holds the `recorded` number of
/// bytes its manifest entry gives it: a truncated, extended or swapped
/// table is refused before any of its bytes is trusted.
///
/// # Errors
/// `Corruption` naming the table, at the first offset where the recorded
/// and the actual file disagree.
pub(crate) fn check_table_size(path: &Path, recorded: u64, actual: u64) -> Result<()> {
    if recorded == actual {
        return Ok(());
    }
    Err(Error::corruption(
        path,
        recorded.min(actual),
        format!(
            "the manifest records {recorded} bytes for this table but the file holds {actual} \
             (truncated, extended or replaced)"
        ),
    ))
}
