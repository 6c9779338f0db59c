//! [`Table`]: an open, immutable table: point lookups and the blocks its
//! iterators read. Byte layout: `docs/format/table.md`.
//!
//! # Thread safety
//! `Table` is `Send + Sync` and shared as `Arc<Table>`; every method takes
//! `&self`. Its counters are relaxed atomics.

#![deny(clippy::indexing_slicing)]

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::block::Block;
use super::block_iter::BlockIter;
use super::bloom::Filter;
use super::cache::BlockCache;
use super::compression::{CompressionType, unseal};
use super::format::{BlockHandle, FOOTER_LEN, Footer, TRAILER_LEN, split_internal_key};
use super::iter::{Direction, TableIter};
use super::properties::TableProperties;
use crate::error::{Error, Result};
use crate::fs::{InMemoryFile, RandomAccessFile};
use crate::key::{InternalKey, MAX_SEQNO, SeqNo, ValueKind, pack_trailer, unpack_trailer};

/// How useful a table's filter has been.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FilterStats {
    /// Lookups the filter answered "absent", skipping every block read.
    pub useful: u64,
    /// Point lookups the filter let through that found no version of the
    /// key visible at the lookup's sequence number (mostly absent keys; a
    /// key whose every version is newer than the lookup counts too).
    pub false_positives: u64,
}

/// An open table.
///
/// # Invariants
/// The footer, index block and properties block were verified at open; the
/// filter was verified too or is absent (a damaged filter is dropped, so
/// lookups read blocks instead of trusting it). Data blocks are verified
/// when read.
pub(crate) struct Table {
    path: PathBuf,
    number: u64,
    file: Arc<dyn RandomAccessFile>,
    /// Where the footer starts; every block lies before it.
    footer_offset: u64,
    index: Block,
    index_offset: u64,
    filter: Option<Filter>,
    properties: TableProperties,
    cache: Option<Arc<BlockCache>>,
    filter_useful: AtomicU64,
    filter_false_positives: AtomicU64,
}

impl Table {
    /// Opens the table in `file`, read from `path`. `number` identifies
    /// the table in the block cache. Reads the footer, the index, the
    /// filter and the properties; data blocks are read when needed.
    ///
    /// # Errors
    /// `Corruption` if the file is shorter than a footer (truncated or
    /// empty), or its footer, index block or properties block is damaged;
    /// `Io` if a read fails. A damaged filter block is not an error: the
    /// table opens without it.
    pub(crate) fn open(
        path: &Path,
        file: Arc<dyn RandomAccessFile>,
        number: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        let (footer, footer_offset) = read_footer(path, &*file)?;
        let meta = |handle: BlockHandle, what: &str| {
            read_meta_block(path, &*file, handle, footer_offset, what)
        };
        let index = Block::new(meta(footer.index, "index")?).map_err(|e| {
            Error::corruption(path, footer.index.offset, format!("index block: {e}"))
        })?;
        let properties =
            TableProperties::decode(&meta(footer.properties, "properties")?).map_err(|e| {
                Error::corruption(
                    path,
                    footer.properties.offset,
                    format!("properties block: {e}"),
                )
            })?;
        let filter = if footer.filter.size == 0 {
            None
        } else {
            let filter = meta(footer.filter, "filter").ok().and_then(Filter::decode);
            if filter.is_none() {
                tracing::warn!(
                    table = %path.display(),
                    offset = footer.filter.offset,
                    "damaged filter block ignored; lookups in this table read its blocks"
                );
            }
            filter
        };
        Ok(Arc::new(Table {
            path: path.to_path_buf(),
            number,
            file,
            footer_offset,
            index,
            index_offset: footer.index.offset,
            filter,
            properties,
            cache,
            filter_useful: AtomicU64::new(0),
            filter_false_positives: AtomicU64::new(0),
        }))
    }

    /// Opens a table whose whole file is already in memory (`verify` of a
    /// copy, tools, tests).
    ///
    /// # Errors
    /// As [`Table::open`].
    #[cfg_attr(
        not(any(test, feature = "cli", feature = "internals")),
        expect(dead_code, reason = "for tools, benches and tests")
    )]
    pub(crate) fn from_bytes(
        path: &Path,
        data: Bytes,
        number: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        Table::open(path, Arc::new(InMemoryFile::new(data)), number, cache)
    }

    /// The newest version of `user_key` with a sequence number `<= seqno`:
    /// its kind, sequence number and value (a zero-copy slice of the block).
    ///
    /// # Errors
    /// `Corruption` if a block on the path is damaged; `Io` if a read fails.
    #[cfg_attr(
        not(any(test, feature = "internals")),
        expect(
            dead_code,
            reason = "reads walk with `seek_versions`; for tests and benches"
        )
    )]
    pub(crate) fn get(
        &self,
        user_key: &[u8],
        seqno: SeqNo,
    ) -> Result<Option<(ValueKind, SeqNo, Bytes)>> {
        match self.seek_versions(user_key, seqno)? {
            Some(mut cursor) => cursor.next().transpose(),
            None => Ok(None),
        }
    }

    /// A cursor positioned at the newest version of `user_key` with a
    /// sequence number `<= seqno`, yielding it and then the key's older
    /// versions, newest first, from the same seek (a merge read needs
    /// them all). `None` if the table holds no such version (the filter
    /// said so, or the seek found none).
    ///
    /// # Errors
    /// `Corruption` if a block on the path is damaged; `Io` if a read fails.
    pub(crate) fn seek_versions<'k>(
        &self,
        user_key: &'k [u8],
        seqno: SeqNo,
    ) -> Result<Option<KeyVersions<'_, 'k>>> {
        if !self.may_contain(user_key) {
            return Ok(None);
        }
        // The encoded `InternalKey::seek_key(user_key, seqno)`.
        let mut target = Vec::with_capacity(user_key.len() + TRAILER_LEN);
        target.extend_from_slice(user_key);
        let trailer = pack_trailer(seqno.min(MAX_SEQNO), ValueKind::Merge);
        target.extend_from_slice(&trailer.to_le_bytes());
        let mut index = self.index.iter();
        index.seek(&target);
        if !index.valid() {
            index.status().map_err(|e| self.index_corruption(e))?;
            return Ok(self.not_found());
        }
        let (block, offset) = self.read_data_block(index.value_bytes())?;
        let mut entries = block.iter();
        entries.seek(&target);
        let cursor = KeyVersions {
            table: self,
            user_key,
            index,
            entries,
            offset,
        };
        // The index key is the block's last key, so the seek finds an entry
        // here unless the block is damaged.
        if !cursor.entries.valid() {
            cursor
                .entries
                .status()
                .map_err(|e| cursor.block_corruption(e))?;
            return Ok(self.not_found());
        }
        match split_internal_key(cursor.entries.key()) {
            Some((found, _)) if found == user_key => Ok(Some(cursor)),
            _ => Ok(self.not_found()),
        }
    }

    /// An iterator over the entries within `bounds` (internal keys), in
    /// `direction`.
    pub(crate) fn iter(
        self: &Arc<Self>,
        bounds: (Bound<InternalKey>, Bound<InternalKey>),
        direction: Direction,
    ) -> TableIter {
        TableIter::new(Arc::clone(self), bounds, direction)
    }

    /// False only if the table certainly holds no version of `user_key`.
    /// Counts a useful filter answer.
    pub(crate) fn may_contain(&self, user_key: &[u8]) -> bool {
        match &self.filter {
            Some(f) if !f.may_contain(user_key) => {
                self.filter_useful.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => true,
        }
    }

    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for tools (dump table) and tests")
    )]
    pub(crate) fn properties(&self) -> &TableProperties {
        &self.properties
    }

    /// The table's file number.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for tools (dump table) and tests")
    )]
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    pub(crate) fn file_size(&self) -> u64 {
        self.file.len()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the table has a usable filter.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for tools (dump table) and tests")
    )]
    pub(crate) fn has_filter(&self) -> bool {
        self.filter.is_some()
    }

    pub(crate) fn filter_stats(&self) -> FilterStats {
        FilterStats {
            useful: self.filter_useful.load(Ordering::Relaxed),
            false_positives: self.filter_false_positives.load(Ordering::Relaxed),
        }
    }

    /// The user key ending each data block, in order: sample points that
    /// split the table into pieces of about one block each.
    pub(crate) fn block_boundaries(&self) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut it = self.index.iter();
        it.seek_to_first();
        while it.valid() {
            if let Some((user_key, _)) = split_internal_key(it.key()) {
                out.push(Bytes::copy_from_slice(user_key));
            }
            it.next();
        }
        out
    }

    /// A cursor over the index block: last key of each data block → the
    /// block's handle.
    pub(super) fn index_iter(&self) -> BlockIter {
        self.index.iter()
    }

    /// The corruption error for damage found while decoding the index.
    pub(super) fn index_corruption(&self, why: &'static str) -> Error {
        Error::corruption(&self.path, self.index_offset, format!("index block: {why}"))
    }

    /// Reads the data block whose encoded handle is `handle` (an index
    /// value), through the block cache. Returns the block and its offset.
    ///
    /// # Errors
    /// `Corruption` if the handle is malformed or out of range, or the block
    /// fails its checksum, decompression or restart-array check; `Io` if
    /// the read fails.
    pub(super) fn read_data_block(&self, handle: &[u8]) -> Result<(Block, u64)> {
        let handle = BlockHandle::decode(handle)
            .ok_or_else(|| self.index_corruption("malformed block handle"))?;
        let offset = handle.offset;
        let corrupt = |e: &str| Error::corruption(&self.path, offset, format!("data block: {e}"));
        if let Some(cache) = &self.cache
            && let Some(block) = cache.get(self.number, offset)
        {
            return Ok((block, offset));
        }
        let stored = handle
            .read_from(&*self.file, self.footer_offset)
            .map_err(|e| Error::io("read", &self.path, e))?
            .ok_or_else(|| self.index_corruption("block handle out of range"))?;
        let (contents, ty) = unseal(&stored).map_err(corrupt)?;
        let block = Block::new(contents).map_err(corrupt)?;
        // An uncompressed block of a mapped file is a slice of the mapping:
        // caching it would only count the same pages twice.
        let zero_copy = ty == CompressionType::None && self.file.is_zero_copy();
        if !zero_copy && let Some(cache) = &self.cache {
            cache.insert(self.number, offset, block.clone());
        }
        Ok((block, offset))
    }

    fn not_found<T>(&self) -> Option<T> {
        if self.filter.is_some() {
            self.filter_false_positives.fetch_add(1, Ordering::Relaxed);
        }
        None
    }
}

/// Reads and decodes the footer of the table in `file`; returns it and
/// the offset where it starts (every block lies before it). Shared by
/// [`Table::open`] and the dump of `rillkv dump table`.
///
/// # Errors
/// `Corruption` if the file is shorter than a footer or the footer is
/// damaged; `Io` if the read fails.
pub(super) fn read_footer(path: &Path, file: &dyn RandomAccessFile) -> Result<(Footer, u64)> {
    let file_len = file.len();
    let footer_offset = file_len.checked_sub(FOOTER_LEN as u64).ok_or_else(|| {
        Error::corruption(
            path,
            0,
            format!("the file is {file_len} bytes, too short for a table footer"),
        )
    })?;
    let footer_bytes = file
        .read_at(footer_offset, FOOTER_LEN)
        .map_err(|e| Error::io("read", path, e))?;
    let footer =
        Footer::decode(&footer_bytes).map_err(|e| Error::corruption(path, footer_offset, e))?;
    Ok((footer, footer_offset))
}

/// Reads a meta block (index, filter, properties: `what`) and checks its
/// trailer; returns its decompressed contents.
///
/// # Errors
/// `Corruption` naming the block if its handle is out of range or its
/// checksum or compression is bad; `Io` if the read fails.
pub(super) fn read_meta_block(
    path: &Path,
    file: &dyn RandomAccessFile,
    handle: BlockHandle,
    footer_offset: u64,
    what: &str,
) -> Result<Bytes> {
    let stored = handle
        .read_from(file, footer_offset)
        .map_err(|e| Error::io("read", path, e))?
        .ok_or_else(|| {
            Error::corruption(
                path,
                footer_offset,
                format!("{what} block handle out of range"),
            )
        })?;
    unseal(&stored)
        .map(|(contents, _)| contents)
        .map_err(|e| Error::corruption(path, handle.offset, format!("{what} block: {e}")))
}

/// The versions of one user key in one table, newest first, read on from
/// the position of the seek that found the first (see
/// [`Table::seek_versions`]). Crosses into later blocks when a key's
/// versions span them.
pub(crate) struct KeyVersions<'t, 'k> {
    table: &'t Table,
    user_key: &'k [u8],
    /// At the current block's index entry.
    index: BlockIter,
    /// At the next version to yield, or invalid at the end of its block.
    entries: BlockIter,
    /// The current block's offset, for errors.
    offset: u64,
}

impl KeyVersions<'_, '_> {
    fn block_corruption(&self, why: &str) -> Error {
        Error::corruption(self.table.path(), self.offset, format!("data block: {why}"))
    }

    /// Moves to the first entry of the next block, if the key's versions
    /// may go on there. Returns whether an entry is now current.
    fn next_block(&mut self) -> Result<bool> {
        self.entries
            .status()
            .map_err(|e| self.block_corruption(e))?;
        self.index.next();
        if !self.index.valid() {
            self.index
                .status()
                .map_err(|e| self.table.index_corruption(e))?;
            return Ok(false);
        }
        let (block, offset) = self.table.read_data_block(self.index.value_bytes())?;
        self.offset = offset;
        self.entries = block.iter();
        self.entries.seek_to_first();
        Ok(self.entries.valid())
    }
}

impl Iterator for KeyVersions<'_, '_> {
    type Item = Result<(ValueKind, SeqNo, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.entries.valid() {
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        let (found, trailer) = split_internal_key(self.entries.key())?;
        if found != self.user_key {
            return None;
        }
        let Some((seqno, kind)) = unpack_trailer(trailer) else {
            return Some(Err(self.block_corruption("unknown value kind in a key")));
        };
        let value = self.entries.value();
        self.entries.next();
        Some(Ok((kind, seqno, value)))
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.path)
            .field("number", &self.number)
            .field("file_size", &self.file_size())
            .field("entries", &self.properties.entries)
            .finish()
    }
}
