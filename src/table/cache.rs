//! [`BlockCache`]: decompressed data blocks shared by every table, bounded
//! in bytes.
//!
//! Only blocks that had to be decompressed are cached: an uncompressed block
//! is already a zero-copy slice of the mapped file, and re-verifying its
//! crc32 costs less than a cache slot.
//!
//! # Thread safety
//! `BlockCache` is `Send + Sync`; lookups and inserts take a shard lock
//! briefly. Counters are relaxed atomics, exact once threads are joined.

use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::block::Block;

/// Per-entry bookkeeping counted against the capacity besides the block
/// bytes, so many tiny blocks cannot exceed it by much.
const ENTRY_OVERHEAD: u64 = 64;

/// Cache key: (table number, block offset in that table).
type BlockKey = (u64, u64);

#[derive(Clone)]
struct BlockWeighter;

impl Weighter<BlockKey, Block> for BlockWeighter {
    fn weight(&self, _key: &BlockKey, block: &Block) -> u64 {
        block.data().len() as u64 + ENTRY_OVERHEAD
    }
}

/// A byte-bounded cache of decompressed blocks, keyed by table number and
/// block offset. Blocks are kept parsed (restart array checked), so a hit
/// costs no decoding.
pub(crate) struct BlockCache {
    cache: Cache<BlockKey, Block, BlockWeighter>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A snapshot of a [`BlockCache`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BlockCacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Bytes held, per-entry overhead included.
    pub used_bytes: u64,
    pub capacity_bytes: u64,
}

impl BlockCache {
    /// A cache holding up to `capacity_bytes` of blocks (at least one
    /// block's worth of bookkeeping).
    pub(crate) fn new(capacity_bytes: u64) -> Self {
        let capacity = capacity_bytes.max(ENTRY_OVERHEAD);
        // quick_cache sizes its tables from an item estimate: assume
        // 4 KiB blocks.
        let items = usize::try_from(capacity / 4096)
            .unwrap_or(usize::MAX)
            .max(16);
        BlockCache {
            cache: Cache::with_weighter(items, capacity, BlockWeighter),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached block of `table` at `offset`, counting a hit or a miss.
    pub(crate) fn get(&self, table: u64, offset: u64) -> Option<Block> {
        let found = self.cache.get(&(table, offset));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Caches a decompressed block. A block heavier than the whole cache is
    /// not kept.
    pub(crate) fn insert(&self, table: u64, offset: u64, block: Block) {
        self.cache.insert((table, offset), block);
    }

    pub(crate) fn stats(&self) -> BlockCacheStats {
        BlockCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            used_bytes: self.cache.weight(),
            capacity_bytes: self.cache.capacity(),
        }
    }
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    /// A parseable block of `len` bytes: one restart at 0, zero entries' worth
    /// of padding (the cache never decodes entries).
    fn block(len: usize) -> Block {
        let mut data = vec![0u8; len - 8];
        data.extend_from_slice(&0u32.to_le_bytes());
        data.extend_from_slice(&1u32.to_le_bytes());
        Block::new(Bytes::from(data)).unwrap()
    }

    #[test]
    fn counts_hits_and_misses_and_bounds_bytes() {
        let cache = BlockCache::new(64 * 1024);
        assert!(cache.get(1, 0).is_none());
        cache.insert(1, 0, block(4000));
        assert_eq!(cache.get(1, 0).map(|b| b.data().len()), Some(4000));
        assert!(cache.get(2, 0).is_none());
        for off in 0..100 {
            cache.insert(3, off, block(4000));
        }
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (1, 2));
        assert!(s.used_bytes <= s.capacity_bytes, "{s:?}");
    }
}
