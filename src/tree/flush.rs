//! Flush, the tree's part: a sealed memtable written as a table.

use std::path::Path;
use std::sync::Arc;

use super::TreeOptions;
use crate::compaction::{Collapse, CollapseOptions};
use crate::error::{Error, Result};
use crate::filename;
use crate::fs::Fs;
use crate::key::SeqNo;
use crate::memtable::{MemIter, MemTable};
use crate::table::TableWriter;
use crate::version::TableMeta;

/// Writes `mem` as table `number` in a new run of the same number, keeping
/// what the `snapshots` need, and fsyncs the file and the directory.
/// Returns `None` if nothing survived collapsing (cannot happen today: the
/// newest version of each key is always kept).
pub(crate) fn write_memtable(
    dir: &Path,
    fs: &Arc<dyn Fs>,
    opts: &TreeOptions,
    mem: &Arc<MemTable>,
    number: u64,
    snapshots: Vec<SeqNo>,
) -> Result<Option<TableMeta>> {
    let path = filename::table_path(dir, number);
    let file = fs
        .create(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    let mut writer = TableWriter::new(file, &path, &opts.table);
    let entries = MemIter::new(
        Arc::clone(mem),
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        false,
    )
    .map(Ok);
    let collapse = CollapseOptions {
        snapshots,
        bottom: false,
        merge_operator: opts.merge.op.clone(),
        merge_batch_size: opts.merge.chunk,
    };
    let mut any = false;
    for entry in Collapse::new(entries, collapse) {
        let (key, value) = entry?;
        writer.add(&key, &value)?;
        any = true;
    }
    if !any {
        drop(writer);
        let _ = fs.remove_file(&path);
        return Ok(None);
    }
    let written = writer.finish()?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, e))?;
    let p = written.properties;
    Ok(Some(TableMeta {
        number,
        run: number,
        size: written.file_size,
        smallest: p.smallest_user_key,
        largest: p.largest_user_key,
        min_seqno: p.min_seqno,
        max_seqno: p.max_seqno,
        entries: p.entries,
    }))
}
