//! The tree as the manifest describes it, read offline, and a walk over
//! every live table to measure how much of it is live.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::log::current_manifest;
use super::{LogDamage, TableInfo};
use crate::compaction::TreeShape;
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::fs::{Fs, StdFs};
use crate::iter::{InternalIter, MergingIter};
use crate::key::ValueKind;
use crate::table::{Direction, Table};
use crate::version::TableRegistry;

/// The durable state of a database, as its manifest describes it.
#[derive(Debug, Clone)]
pub struct TreeInfo {
    /// The database directory.
    pub dir: PathBuf,
    /// The live manifest.
    pub manifest: PathBuf,
    /// WALs numbered below this are in tables (the smallest log number of
    /// any keyspace).
    pub log_number: u64,
    /// The next unused file number.
    pub next_file_number: u64,
    /// The largest sequence number in tables.
    pub last_seqno: u64,
    /// The merge operator the default keyspace was created with.
    pub merge_operator: Option<String>,
    /// Every live table of the default keyspace, newest run first, each
    /// run's tables by key.
    pub tables: Vec<TableInfo>,
    /// The merge policy's view of the default keyspace's tree.
    pub shape: TreeShape,
    /// Every keyspace, the default one first.
    pub keyspaces: Vec<KeyspaceInfo>,
    /// WALs recovery would replay (numbered at least `log_number`), with
    /// their sizes: writes not yet in tables.
    pub wal_files: Vec<(PathBuf, u64)>,
    /// A torn manifest tail recovery would drop.
    pub dropped_manifest_tail: Option<LogDamage>,
}

/// One keyspace as the manifest describes it.
#[derive(Debug, Clone)]
pub struct KeyspaceInfo {
    /// Its id (0: the default keyspace).
    pub id: u32,
    /// Its name.
    pub name: String,
    /// WALs numbered below this hold none of its writes that are not in
    /// its tables.
    pub log_number: u64,
    /// The merge operator it was created with.
    pub merge_operator: Option<String>,
    /// Every live table, newest run first, each run's tables by key.
    pub tables: Vec<TableInfo>,
    /// The merge policy's view of its tree.
    pub shape: TreeShape,
}

/// Loads the live state of the database in `dir` from its manifest, as
/// recovery would, without opening the database.
///
/// # Errors
/// `InvalidArgument` if `dir` holds no database; `Corruption` if
/// `CURRENT` or the manifest is damaged before its tail; `Io`.
pub fn load_tree(dir: &Path) -> Result<TreeInfo> {
    let (manifest, _) = current_manifest(dir)?;
    let fs: Arc<dyn Fs> = Arc::new(StdFs);
    // Read only: nothing is marked obsolete, so nothing is ever deleted.
    let tables = TableRegistry::new(dir, Arc::clone(&fs), None, false, Arc::default(), None);
    let state = crate::version::set::load(dir, &fs, &tables)?
        .ok_or_else(|| Error::invalid(format!("{} is not a rillkv database", dir.display())))?;
    let keyspaces: Vec<KeyspaceInfo> = state
        .keyspaces
        .iter()
        .map(|(&id, ks)| {
            let mut tables: Vec<TableInfo> =
                ks.version.metas().iter().map(TableInfo::from).collect();
            tables.sort_by(|a, b| b.run.cmp(&a.run).then_with(|| a.smallest.cmp(&b.smallest)));
            KeyspaceInfo {
                id,
                name: ks.meta.name.clone(),
                log_number: ks.meta.log_number,
                merge_operator: ks.meta.merge_operator.clone(),
                tables,
                shape: (**ks.version.shape()).clone(),
            }
        })
        .collect();
    let log_number = state.min_log_number();
    let default = keyspaces
        .first()
        .cloned()
        .ok_or_else(|| Error::invalid("the manifest holds no default keyspace"))?;
    let mut wal_files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        if let FileKind::Wal(n) = filename::parse(&name.to_string_lossy())
            && n >= log_number
        {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            wal_files.push((n, entry.path(), size));
        }
    }
    wal_files.sort();
    Ok(TreeInfo {
        dir: dir.to_path_buf(),
        manifest,
        log_number,
        next_file_number: state.next_file_number,
        last_seqno: state.last_seqno,
        merge_operator: default.merge_operator,
        tables: default.tables,
        shape: default.shape,
        keyspaces,
        wal_files: wal_files.into_iter().map(|(_, p, s)| (p, s)).collect(),
        dropped_manifest_tail: state.dropped.as_ref().map(LogDamage::from),
    })
}

/// Live versus total data in the tables, from [`live_data`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveData {
    /// Entries (versions) in all tables.
    pub entries: u64,
    /// Raw bytes (user key + 8-byte trailer + value) of all entries.
    pub bytes: u64,
    /// Distinct user keys whose newest version is not a delete.
    pub live_keys: u64,
    /// Raw bytes of those newest versions.
    pub live_bytes: u64,
}

impl LiveData {
    /// Raw bytes stored ÷ raw bytes live: what a full compaction with no
    /// snapshot would divide the data by (1 when nothing is dead). A merge
    /// chain counts as its newest operand, an estimate of its folded value.
    pub fn space_amplification(&self) -> f64 {
        if self.live_bytes == 0 {
            return if self.bytes == 0 { 1.0 } else { f64::INFINITY };
        }
        self.bytes as f64 / self.live_bytes as f64
    }
}

/// Walks every table of `tree` in key order (one merged stream, newest
/// version of each key first) and counts live versus total data.
/// `progress` is called with the entries walked so far, every 64 Ki
/// entries and at the end.
///
/// # Errors
/// `Io` or `Corruption` from reading a table.
pub fn live_data(tree: &TreeInfo, progress: &mut dyn FnMut(u64)) -> Result<LiveData> {
    let mut sources: Vec<InternalIter> = Vec::with_capacity(tree.tables.len());
    for t in &tree.tables {
        let path = filename::table_path(&tree.dir, t.number);
        let file = StdFs
            .open_random(&path, false)
            .map_err(|e| Error::io("open", &path, e))?;
        let table = Table::open(&path, file, t.number, None)?;
        sources.push(Box::new(
            table.iter((Bound::Unbounded, Bound::Unbounded), Direction::Forward),
        ));
    }
    let mut out = LiveData::default();
    let mut last_key: Option<Bytes> = None;
    for item in MergingIter::new(sources, false) {
        let (key, value) = item?;
        let raw = key.user_key.len() as u64 + 8 + value.len() as u64;
        out.entries += 1;
        out.bytes += raw;
        // Internal key order: a user key's newest version comes first.
        if last_key.as_ref() != Some(&key.user_key) {
            if key.kind != ValueKind::Delete {
                out.live_keys += 1;
                out.live_bytes += raw;
            }
            last_key = Some(key.user_key);
        }
        if out.entries.is_multiple_of(64 << 10) {
            progress(out.entries);
        }
    }
    progress(out.entries);
    Ok(out)
}
