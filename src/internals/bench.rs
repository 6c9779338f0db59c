//! Thin handles on crate-private pieces for the criterion benches in
//! `benches/` (feature `internals`; not a stable API).
//!
//! Each type wraps one internal type and forwards to it, adding nothing
//! that would show up in a measurement: [`BlockBuilder`], [`Block`] and
//! [`BlockIter`] (`docs/format/block.md`), [`FilterBuilder`] and [`Filter`]
//! (`docs/format/bloom.md`), [`MemTable`], and [`Table`] with its
//! [`BlockCache`], built in memory by [`build_table`].

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::fs::{FaultFs, Fs};
use crate::key::{InternalKey, SeqNo, ValueKind};
use crate::table::{self, Compression, TableOptions, TableWriter};

/// The on-disk form of an internal key (user key, then the 8-byte
/// little-endian trailer): what blocks hold and [`BlockIter::seek`] takes.
pub fn encode_key(key: &InternalKey) -> Vec<u8> {
    table::encoded_internal_key(key)
}

/// Builds one data block (restart interval as tables use).
pub struct BlockBuilder(table::BlockBuilder);

impl BlockBuilder {
    /// An empty builder with the data-block restart interval.
    pub fn new() -> Self {
        BlockBuilder(table::BlockBuilder::new(table::DATA_RESTART_INTERVAL))
    }

    /// Appends an entry. REQUIRES: `key` is an encoded internal key
    /// ([`encode_key`]) sorting after the previous one.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        self.0.add(key, value);
    }

    /// The size of the block if finished now.
    pub fn estimated_size(&self) -> usize {
        self.0.estimated_size()
    }

    /// Appends the restart array and returns the finished block.
    pub fn finish(&mut self) -> &[u8] {
        self.0.finish()
    }

    /// Empties the builder, keeping its allocations.
    pub fn reset(&mut self) {
        self.0.reset();
    }
}

impl Default for BlockBuilder {
    fn default() -> Self {
        BlockBuilder::new()
    }
}

/// A decoded block.
#[derive(Clone)]
pub struct Block(table::Block);

impl Block {
    /// Parses a finished block's restart array; `None` if it is malformed.
    pub fn decode(data: Bytes) -> Option<Block> {
        table::Block::new(data).ok().map(Block)
    }

    /// A cursor over the block, positioned nowhere.
    pub fn iter(&self) -> BlockIter {
        BlockIter(self.0.iter())
    }
}

/// A cursor over one block.
pub struct BlockIter(table::BlockIter);

impl BlockIter {
    /// Whether the cursor is on an entry.
    pub fn valid(&self) -> bool {
        self.0.valid()
    }

    /// The current encoded key. REQUIRES: `valid()`.
    pub fn key(&self) -> &[u8] {
        self.0.key()
    }

    /// The current value's bytes. REQUIRES: `valid()`.
    pub fn value(&self) -> &[u8] {
        self.0.value_bytes()
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        self.0.seek_to_first();
    }

    /// Moves to the first entry `>= target` (an encoded internal key).
    pub fn seek(&mut self, target: &[u8]) {
        self.0.seek(target);
    }

    /// Moves to the next entry. REQUIRES: `valid()`.
    pub fn next(&mut self) {
        self.0.next();
    }
}

/// Builds a bloom filter over user keys.
pub struct FilterBuilder(table::FilterBuilder);

impl FilterBuilder {
    /// An empty builder. REQUIRES: `bits_per_key > 0`.
    pub fn new(bits_per_key: u32) -> Self {
        FilterBuilder(table::FilterBuilder::new(bits_per_key))
    }

    /// Records a user key (consecutive repeats count once).
    pub fn add_key(&mut self, user_key: &[u8]) {
        self.0.add_key(user_key);
    }

    /// The filter block: bit array, then the probe count.
    pub fn finish(&self) -> Vec<u8> {
        self.0.finish()
    }
}

/// A decoded bloom filter.
pub struct Filter(table::Filter);

impl Filter {
    /// Decodes a filter block; `None` if it is malformed.
    pub fn decode(block: Bytes) -> Option<Filter> {
        table::Filter::decode(block).map(Filter)
    }

    /// False only if `user_key` is certainly absent.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.0.may_contain(user_key)
    }
}

/// A memtable (the skiplist of recent writes).
pub struct MemTable(Arc<crate::memtable::MemTable>);

impl MemTable {
    /// An empty memtable.
    pub fn new() -> Self {
        MemTable(Arc::new(crate::memtable::MemTable::new(1)))
    }

    /// Inserts one version. REQUIRES: `seqno` unique.
    pub fn insert(&self, user_key: Bytes, seqno: SeqNo, kind: ValueKind, value: Bytes) {
        self.0.insert(&user_key, seqno, kind, &value);
    }

    /// The newest version of `user_key` visible at `snapshot`, as a point
    /// read sees it first.
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Option<(ValueKind, SeqNo, Bytes)> {
        self.0.versions(user_key, snapshot).next()
    }

    /// Reads up to `n` entries from the first one at or after `user_key`
    /// (every version), forward or backward as a `DbIter` over the
    /// memtable does; returns how many it read.
    pub fn scan(&self, user_key: &[u8], n: usize, reverse: bool) -> usize {
        let mem = Arc::clone(&self.0);
        let from = Bytes::copy_from_slice(user_key);
        let (lower, upper) = if reverse {
            (
                std::ops::Bound::Unbounded,
                crate::key::internal_upper(std::ops::Bound::Included(&from)),
            )
        } else {
            (
                crate::key::internal_lower(std::ops::Bound::Included(&from)),
                std::ops::Bound::Unbounded,
            )
        };
        crate::memtable::MemIter::new(mem, lower, upper, reverse)
            .take(n)
            .count()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for MemTable {
    fn default() -> Self {
        MemTable::new()
    }
}

/// The shared cache of decompressed data blocks.
#[derive(Clone)]
pub struct BlockCache(Arc<table::BlockCache>);

impl BlockCache {
    /// A cache holding up to `capacity_bytes`.
    pub fn new(capacity_bytes: u64) -> Self {
        BlockCache(Arc::new(table::BlockCache::new(capacity_bytes)))
    }

    /// Lookups that found their block, and lookups that did not.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        let s = self.0.stats();
        (s.hits, s.misses)
    }
}

/// An open table.
pub struct Table(Arc<table::Table>);

impl Table {
    /// The newest version of `user_key` with a sequence number `<= seqno`.
    ///
    /// # Errors
    /// `Corruption` if a block on the path is damaged.
    pub fn get(&self, user_key: &[u8], seqno: SeqNo) -> Result<Option<(ValueKind, SeqNo, Bytes)>> {
        self.0.get(user_key, seqno)
    }

    /// The file's size in bytes.
    pub fn file_size(&self) -> u64 {
        self.0.file_size()
    }
}

/// Writes `entries` (in internal-key order) as a table in memory, with
/// 4 KiB blocks, then opens it over `cache` as a database would.
///
/// # Errors
/// As the table writer and reader; never for valid sorted input.
pub fn build_table(
    entries: &[(InternalKey, Bytes)],
    compression: Compression,
    bloom_bits_per_key: u32,
    cache: Option<&BlockCache>,
) -> Result<Table> {
    let fs = FaultFs::new();
    let path = Path::new("/bench/000001.rkt");
    fs.create_dir_all(Path::new("/bench"))
        .map_err(|e| Error::io("create", path, e))?;
    let file = fs.create(path).map_err(|e| Error::io("create", path, e))?;
    let opts = TableOptions {
        block_size: 4096,
        compression,
        bloom_bits_per_key,
    };
    let mut writer = TableWriter::new(file, path, &opts);
    for (key, value) in entries {
        writer.add(key, value)?;
    }
    writer.finish()?;
    let data = fs.read(path).map_err(|e| Error::io("read", path, e))?;
    let cache = cache.map(|c| Arc::clone(&c.0));
    table::Table::from_bytes(path, data, 1, cache).map(Table)
}
