//! [`TableWriter`]: writes sorted entries into a new table file.
//!
//! Data blocks are cut at the block size and appended one block per write;
//! `finish` then appends the filter, properties and index blocks and the
//! footer, and fsyncs. Byte layout: `docs/format/table.md`.

use std::path::{Path, PathBuf};

use super::block_builder::{BlockBuilder, DATA_RESTART_INTERVAL, INDEX_RESTART_INTERVAL};
use super::bloom::{DEFAULT_BITS_PER_KEY, FilterBuilder};
use super::compression::{BlockSealer, Compression};
use super::format::{
    BLOCK_TRAILER_LEN, BlockHandle, FOOTER_LEN, Footer, HANDLE_LEN, TRAILER_LEN, compare_encoded,
    encode_internal_key,
};
use super::properties::TableProperties;
use crate::error::{Error, Result};
use crate::fs::WritableFile;
use crate::key::InternalKey;

/// The largest `block_size` honoured: keeps every entry's offset within a
/// block far below the u32 limit of the restart array.
const MAX_BLOCK_SIZE: usize = 1 << 30;

/// How tables are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableOptions {
    /// Uncompressed bytes per data block before it is cut (default 4096;
    /// at most 1 GiB).
    pub block_size: usize,
    /// Per-block compression (default `Compression::default()`, LZ4; the
    /// database writes bottom tables with its `bottommost_compression`).
    pub compression: Compression,
    /// Bloom filter bits per distinct user key (default 10, about 1% false
    /// positives); 0 writes no filter.
    pub bloom_bits_per_key: u32,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size: 4096,
            compression: Compression::default(),
            bloom_bits_per_key: DEFAULT_BITS_PER_KEY,
        }
    }
}

/// What [`TableWriter::finish`] wrote: the file's size and the table's
/// properties (the manifest's entry, `version::TableMeta`, is built from
/// it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WrittenTable {
    /// The size of the whole file in bytes.
    pub file_size: u64,
    /// The table's properties, as written in its properties block.
    pub properties: TableProperties,
}

/// Writes one table.
///
/// # Invariants
/// `offset` is the number of bytes appended to `file` so far; every data
/// block written has an index entry (its last key → its handle).
///
/// After any error the writer must be dropped: the file is incomplete and
/// will not open as a table.
pub(crate) struct TableWriter {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    block_size: usize,
    sealer: BlockSealer,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    filter: Option<FilterBuilder>,
    properties: TableProperties,
    offset: u64,
    /// The encoded key of the last entry added.
    last_key: Vec<u8>,
    key_buf: Vec<u8>,
    /// The stored form of the block being written.
    out: Vec<u8>,
}

impl TableWriter {
    /// A writer appending to `file` (new and empty), named `path` in errors.
    pub(crate) fn new(file: Box<dyn WritableFile>, path: &Path, opts: &TableOptions) -> Self {
        let properties = TableProperties {
            compression: opts.compression,
            filter_bits_per_key: opts.bloom_bits_per_key,
            ..TableProperties::default()
        };
        TableWriter {
            file,
            path: path.to_path_buf(),
            block_size: opts.block_size.clamp(1, MAX_BLOCK_SIZE),
            sealer: BlockSealer::new(opts.compression),
            data_block: BlockBuilder::new(DATA_RESTART_INTERVAL),
            index_block: BlockBuilder::new(INDEX_RESTART_INTERVAL),
            filter: (opts.bloom_bits_per_key > 0)
                .then(|| FilterBuilder::new(opts.bloom_bits_per_key)),
            properties,
            offset: 0,
            last_key: Vec::new(),
            key_buf: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Adds an entry.
    ///
    /// # Errors
    /// `InvalidArgument` if the key or value is 4 GiB or longer; `Io` if a
    /// block could not be compressed or appended.
    ///
    /// # Panics
    /// In debug builds, if `key` does not sort strictly after the previous
    /// key in internal order.
    pub(crate) fn add(&mut self, key: &InternalKey, value: &[u8]) -> Result<()> {
        if key.user_key.len() >= u32::MAX as usize - TRAILER_LEN || value.len() >= u32::MAX as usize
        {
            return Err(Error::invalid(format!(
                "table entries are limited to keys and values under 4 GiB \
                 (got a {}-byte key and a {}-byte value)",
                key.user_key.len(),
                value.len()
            )));
        }
        self.key_buf.clear();
        encode_internal_key(&mut self.key_buf, key);
        debug_assert!(
            self.properties.entries == 0 || compare_encoded(&self.last_key, &self.key_buf).is_lt(),
            "table keys must be added in strictly increasing internal order"
        );
        std::mem::swap(&mut self.last_key, &mut self.key_buf);

        if let Some(filter) = &mut self.filter {
            filter.add_key(&key.user_key);
        }
        self.properties.observe(key, value.len());
        self.data_block.add(&self.last_key, value);
        if self.data_block.estimated_size() >= self.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// The size the file would have if finished now: what is written plus
    /// the pending block (uncompressed) and its index entry, filter,
    /// properties, index and footer. Callers cut their output into tables by
    /// it; it overstates by at most the savings of compressing the pending
    /// block.
    pub(crate) fn estimated_size(&self) -> u64 {
        let pending_block = if self.data_block.is_empty() {
            0
        } else {
            // The block, its trailer, and its index entry: three varints of
            // at most 5 bytes, the key, the handle, a restart point.
            self.data_block.estimated_size()
                + BLOCK_TRAILER_LEN
                + 15
                + self.last_key.len()
                + HANDLE_LEN
                + 4
        };
        let filter = self
            .filter
            .as_ref()
            .map_or(0, |f| match f.estimated_size() {
                0 => 0,
                n => n + BLOCK_TRAILER_LEN,
            });
        let meta = self.index_block.estimated_size()
            + self.properties.encoded_len()
            + 2 * BLOCK_TRAILER_LEN
            + FOOTER_LEN;
        self.offset + (pending_block + filter + meta) as u64
    }

    /// Writes the rest of the table and fsyncs it.
    ///
    /// # Errors
    /// `Io` if a write or the fsync fails.
    pub(crate) fn finish(mut self) -> Result<WrittenTable> {
        if !self.data_block.is_empty() {
            self.flush_data_block()?;
        }
        let filter = match self.filter.take() {
            Some(f) if !f.is_empty() => {
                let block = f.finish();
                self.write_meta_block(&block)?
            }
            _ => BlockHandle::default(),
        };
        let properties = self.properties.encode();
        let properties = self.write_meta_block(&properties)?;
        let index = self.index_block.finish().to_vec();
        let index = self.write_meta_block(&index)?;
        let footer = Footer {
            index,
            filter,
            properties,
        };
        self.append(&footer.encode())?;
        self.file
            .sync()
            .map_err(|e| Error::io("fsync", &self.path, e))?;
        Ok(WrittenTable {
            file_size: self.offset,
            properties: self.properties,
        })
    }

    fn flush_data_block(&mut self) -> Result<()> {
        let start = self.offset;
        self.out.clear();
        let size = self
            .sealer
            .seal(self.data_block.finish(), &mut self.out)
            .map_err(|e| Error::io("compress a block of", &self.path, e))?;
        let stored = std::mem::take(&mut self.out);
        let appended = self.append(&stored);
        self.out = stored;
        appended?;
        let handle = BlockHandle {
            offset: start,
            size,
        };
        let mut encoded = Vec::with_capacity(HANDLE_LEN);
        handle.encode_to(&mut encoded);
        self.index_block.add(self.data_block.last_key(), &encoded);
        self.data_block.reset();
        self.properties.data_blocks += 1;
        self.properties.data_size += self.offset - start;
        Ok(())
    }

    /// Writes a metadata block (never compressed: it is read once, at
    /// open) and returns its handle.
    fn write_meta_block(&mut self, raw: &[u8]) -> Result<BlockHandle> {
        let mut sealer = BlockSealer::new(Compression::None);
        let mut stored = Vec::with_capacity(raw.len() + BLOCK_TRAILER_LEN);
        let size = sealer
            .seal(raw, &mut stored)
            .map_err(|e| Error::io("compress a block of", &self.path, e))?;
        let handle = BlockHandle {
            offset: self.offset,
            size,
        };
        self.append(&stored)?;
        Ok(handle)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .append(bytes)
            .map_err(|e| Error::io("append to", &self.path, e))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }
}
