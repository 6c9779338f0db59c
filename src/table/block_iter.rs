//! [`BlockIter`]: a cursor over one [`Block`] that seeks, steps forward and
//! steps backward.
//!
//! Stepping backward decodes the restart interval before the current entry
//! once into a small buffer and then walks it, so a reverse scan costs about
//! as much as a forward one.

#![deny(clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::ops::Range;

use bytes::Bytes;

use super::block::Block;
use super::format::compare_encoded;

/// One entry of the decoded interval kept for stepping backward.
#[derive(Clone)]
struct BackEntry {
    offset: usize,
    next: usize,
    key: Range<usize>,
    value: Range<usize>,
}

/// A cursor over a block's entries.
///
/// # Invariants
/// When valid, `key` is the current entry's full key, `value` its value's
/// range in the block, `current` its offset, `next` the offset of the entry
/// after it, and `restart_index` the restart interval holding it. Once a
/// decoding error is recorded the cursor stays invalid; see
/// [`BlockIter::status`].
pub(crate) struct BlockIter {
    block: Block,
    key: Vec<u8>,
    value: Range<usize>,
    current: usize,
    next: usize,
    restart_index: usize,
    err: Option<&'static str>,
    /// The interval decoded by the last backward step; entries are
    /// identified by offset, so it never goes stale.
    back: Vec<BackEntry>,
    back_keys: Vec<u8>,
    back_restart: usize,
    scratch: Vec<u8>,
}

impl BlockIter {
    pub(crate) fn new(block: Block) -> Self {
        let end = block.restarts_offset();
        BlockIter {
            block,
            key: Vec::new(),
            value: 0..0,
            current: end,
            next: end,
            restart_index: 0,
            err: None,
            back: Vec::new(),
            back_keys: Vec::new(),
            back_restart: 0,
            scratch: Vec::new(),
        }
    }

    /// Whether the cursor is on an entry.
    pub(crate) fn valid(&self) -> bool {
        self.err.is_none() && self.current < self.block.restarts_offset()
    }

    /// The current entry's encoded internal key. REQUIRES: `valid()`.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current entry's value, a zero-copy slice of the block.
    /// REQUIRES: `valid()`.
    pub(crate) fn value(&self) -> Bytes {
        // `decode_entry` checked the range against the block.
        self.block.data().slice(self.value.clone())
    }

    /// The current value's bytes. REQUIRES: `valid()`.
    pub(crate) fn value_bytes(&self) -> &[u8] {
        self.block
            .data()
            .get(self.value.clone())
            .unwrap_or_default()
    }

    /// The decoding error that stopped the cursor, if any.
    pub(crate) fn status(&self) -> Result<(), &'static str> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn seek_to_first(&mut self) {
        if self.err.is_none() && self.block.num_restarts() > 0 {
            self.seek_to_restart(0);
            self.parse_next();
        } else {
            self.invalidate();
        }
    }

    pub(crate) fn seek_to_last(&mut self) {
        if self.err.is_some() || self.block.num_restarts() == 0 {
            self.invalidate();
            return;
        }
        let last = self.block.num_restarts() - 1;
        if self.fill_back(last, self.block.restarts_offset()) {
            self.load_back(self.back.len().wrapping_sub(1));
        }
    }

    /// Moves to the first entry whose key is `>= target` (an encoded
    /// internal key); invalid if there is none.
    pub(crate) fn seek(&mut self, target: &[u8]) {
        if self.err.is_some() || self.block.num_restarts() == 0 {
            self.invalidate();
            return;
        }
        // Find the last restart point whose key is < target.
        let (mut left, mut right) = (0, self.block.num_restarts() - 1);
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            let less = match self.block.restart_key(self.restart(mid)) {
                Ok(key) => compare_encoded(key, target) == Ordering::Less,
                Err(e) => return self.corrupt(e),
            };
            if less {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        self.seek_to_restart(left);
        while self.parse_next() {
            if compare_encoded(&self.key, target) != Ordering::Less {
                return;
            }
        }
    }

    /// Moves to the next entry. REQUIRES: `valid()`.
    pub(crate) fn next(&mut self) {
        debug_assert!(self.valid());
        self.parse_next();
    }

    /// Moves to the previous entry; invalid before the first.
    /// REQUIRES: `valid()`.
    pub(crate) fn prev(&mut self) {
        debug_assert!(self.valid());
        let target = self.current;
        if let Some(i) = self.back.iter().position(|e| e.next == target) {
            return self.load_back(i);
        }
        let mut r = self.restart_index;
        if self.restart(r) == target {
            if r == 0 {
                return self.invalidate();
            }
            r -= 1;
        }
        if self.fill_back(r, target) {
            self.load_back(self.back.len().wrapping_sub(1));
        }
    }

    /// The offset of restart point `i`; validated by [`Block::new`], so the
    /// fallback (the end of the entries) is never taken for `i` in range.
    fn restart(&self, i: usize) -> usize {
        self.block
            .restart_point(i)
            .unwrap_or(self.block.restarts_offset())
    }

    fn invalidate(&mut self) {
        self.current = self.block.restarts_offset();
        self.next = self.current;
    }

    fn corrupt(&mut self, why: &'static str) {
        self.err = Some(why);
        self.invalidate();
    }

    fn seek_to_restart(&mut self, index: usize) {
        self.key.clear();
        self.restart_index = index;
        self.next = self.restart(index);
    }

    /// Decodes the entry at `next` and makes it current; false at the end
    /// or on damage.
    fn parse_next(&mut self) -> bool {
        self.current = self.next;
        if self.current >= self.block.restarts_offset() {
            self.invalidate();
            return false;
        }
        match self.block.decode_entry(self.current, &mut self.key) {
            Ok((value, next)) => {
                self.value = value;
                self.next = next;
                while self.restart_index + 1 < self.block.num_restarts()
                    && self.restart(self.restart_index + 1) <= self.current
                {
                    self.restart_index += 1;
                }
                true
            }
            Err(e) => {
                self.corrupt(e);
                false
            }
        }
    }

    /// Decodes the entries from restart point `r` up to offset `end` into
    /// the back buffer. False (and damage recorded) if they do not end
    /// exactly at `end` or the interval is empty.
    fn fill_back(&mut self, r: usize, end: usize) -> bool {
        self.back.clear();
        self.back_keys.clear();
        self.back_restart = r;
        self.scratch.clear();
        let mut offset = self.restart(r);
        while offset < end {
            match self.block.decode_entry(offset, &mut self.scratch) {
                Ok((value, next)) => {
                    let start = self.back_keys.len();
                    self.back_keys.extend_from_slice(&self.scratch);
                    self.back.push(BackEntry {
                        offset,
                        next,
                        key: start..self.back_keys.len(),
                        value,
                    });
                    offset = next;
                }
                Err(e) => {
                    self.corrupt(e);
                    return false;
                }
            }
        }
        if offset != end || self.back.is_empty() {
            self.corrupt("block entries overrun a restart point");
            return false;
        }
        true
    }

    fn load_back(&mut self, i: usize) {
        let Some(e) = self.back.get(i).cloned() else {
            return self.corrupt("block back buffer out of range");
        };
        self.key.clear();
        self.key
            .extend_from_slice(self.back_keys.get(e.key).unwrap_or_default());
        self.value = e.value;
        self.current = e.offset;
        self.next = e.next;
        self.restart_index = self.back_restart;
    }
}
