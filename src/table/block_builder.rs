//! [`BlockBuilder`]: encodes sorted entries into a block with
//! prefix-compressed keys and restart points. Byte layout:
//! `docs/format/block.md`.

use super::coding::put_varint32;
use super::format::compare_encoded;

/// Entries between restart points in data blocks.
pub(crate) const DATA_RESTART_INTERVAL: usize = 16;

/// Entries between restart points in index blocks: every entry, so a seek
/// is a pure binary search.
pub(crate) const INDEX_RESTART_INTERVAL: usize = 1;

/// Builds one block.
///
/// # Invariants
/// Keys are encoded internal keys, added in strictly increasing internal
/// order; each key and value is shorter than 4 GiB (the writer checks).
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries since the last restart point.
    counter: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    pub(crate) fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            counter: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Appends an entry.
    ///
    /// # Panics
    /// In debug builds, if `key` does not sort after the previous key.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(
            self.entries == 0 || compare_encoded(&self.last_key, key).is_lt(),
            "block keys must be added in strictly increasing order"
        );
        let shared = if self.counter == self.restart_interval || self.entries == 0 {
            // The block stays far below 4 GiB of entries before this one
            // (the writer cuts blocks at the block size), so offsets fit.
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        } else {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        let unshared = key.get(shared..).unwrap_or_default();
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, unshared.len() as u32);
        put_varint32(&mut self.buf, value.len() as u32);
        self.buf.extend_from_slice(unshared);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(unshared);
        self.counter += 1;
        self.entries += 1;
    }

    /// The size of the block if finished now.
    pub(crate) fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The last key added.
    pub(crate) fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends the restart array and count and returns the finished block.
    /// Call [`BlockBuilder::reset`] before adding to the next block.
    pub(crate) fn finish(&mut self) -> &[u8] {
        for r in &self.restarts {
            self.buf.extend_from_slice(&r.to_le_bytes());
        }
        self.buf
            .extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        &self.buf
    }

    /// Empties the builder, keeping its allocations.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
    }
}
