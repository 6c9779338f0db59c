//! [`TableIter`]: an owned cursor over a range of one table's entries, in
//! either direction.
//!
//! It walks the index block and, inside it, one data block at a time. Keys
//! are copied out (they are prefix-compressed in the block); values are
//! zero-copy slices of the decompressed block or of the mapped file.

#![deny(clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::block_iter::BlockIter;
use super::format::{compare_encoded, decode_internal_key, encoded_internal_key};
use super::reader::Table;
use crate::error::{Error, Result};
use crate::key::InternalKey;

/// Which way an iterator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Ascending internal-key order: user key ascending, newest first.
    Forward,
    /// Descending internal-key order: user key descending, oldest first.
    Reverse,
}

/// An encoded bound: the key and whether it is included.
type EncodedBound = Option<(Vec<u8>, bool)>;

fn encode_bound(bound: Bound<InternalKey>) -> EncodedBound {
    match bound {
        Bound::Included(k) => Some((encoded_internal_key(&k), true)),
        Bound::Excluded(k) => Some((encoded_internal_key(&k), false)),
        Bound::Unbounded => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unstarted,
    Running,
    Done,
}

/// Iterates the entries of one table within internal-key bounds.
///
/// Owned (`'static + Send`): it holds its [`Table`] alive. It yields
/// `Err(Corruption)` once for a damaged block and then ends.
pub(crate) struct TableIter {
    table: Arc<Table>,
    lower: EncodedBound,
    upper: EncodedBound,
    direction: Direction,
    index: BlockIter,
    /// The current data block's cursor and offset; `None` past the end.
    block: Option<(BlockIter, u64)>,
    state: State,
}

impl TableIter {
    /// An iterator over the entries of `table` within `bounds`, positioned
    /// lazily on the first call to `next`.
    pub(crate) fn new(
        table: Arc<Table>,
        bounds: (Bound<InternalKey>, Bound<InternalKey>),
        direction: Direction,
    ) -> Self {
        TableIter {
            index: table.index_iter(),
            table,
            lower: encode_bound(bounds.0),
            upper: encode_bound(bounds.1),
            direction,
            block: None,
            state: State::Unstarted,
        }
    }

    /// Loads the data block the index cursor is on; false (and no block)
    /// if the index cursor is past either end.
    fn load_block(&mut self) -> Result<bool> {
        self.block = None;
        if !self.index.valid() {
            self.index
                .status()
                .map_err(|e| self.table.index_corruption(e))?;
            return Ok(false);
        }
        let (block, offset) = self.table.read_data_block(self.index.value_bytes())?;
        self.block = Some((block.iter(), offset));
        Ok(true)
    }

    fn block_mut(&mut self) -> Option<&mut BlockIter> {
        self.block.as_mut().map(|(b, _)| b)
    }

    fn with_block(&mut self, f: impl FnOnce(&mut BlockIter)) {
        if let Some(b) = self.block_mut() {
            f(b);
        }
    }

    fn start_forward(&mut self) -> Result<()> {
        match self.lower.take() {
            None => {
                self.index.seek_to_first();
                if self.load_block()? {
                    self.with_block(BlockIter::seek_to_first);
                }
            }
            Some((key, inclusive)) => {
                self.index.seek(&key);
                if self.load_block()?
                    && let Some(b) = self.block_mut()
                {
                    b.seek(&key);
                    if !inclusive && b.valid() && b.key() == key.as_slice() {
                        b.next();
                    }
                }
            }
        }
        self.skip_empty_forward()
    }

    fn start_reverse(&mut self) -> Result<()> {
        match self.upper.take() {
            None => {
                self.index.seek_to_last();
                if self.load_block()? {
                    self.with_block(BlockIter::seek_to_last);
                }
            }
            Some((key, inclusive)) => {
                self.index.seek(&key);
                if !self.index.valid() {
                    // Every key in the table is below the bound.
                    self.index
                        .status()
                        .map_err(|e| self.table.index_corruption(e))?;
                    self.index.seek_to_last();
                    if self.load_block()? {
                        self.with_block(BlockIter::seek_to_last);
                    }
                } else if self.load_block()?
                    && let Some(b) = self.block_mut()
                {
                    b.seek(&key);
                    if b.valid() {
                        if !(inclusive && b.key() == key.as_slice()) {
                            b.prev();
                        }
                    } else {
                        // Only reachable if the index key overstates the
                        // block's last key; still answer correctly.
                        b.seek_to_last();
                    }
                }
            }
        }
        self.skip_empty_backward()
    }

    /// Moves past exhausted blocks to the next non-empty one.
    fn skip_empty_forward(&mut self) -> Result<()> {
        while let Some((b, offset)) = &self.block {
            if b.valid() {
                return Ok(());
            }
            b.status().map_err(|e| {
                Error::corruption(self.table.path(), *offset, format!("data block: {e}"))
            })?;
            self.index.next();
            if self.load_block()? {
                self.with_block(BlockIter::seek_to_first);
            }
        }
        Ok(())
    }

    /// Moves back past exhausted blocks to the previous non-empty one.
    fn skip_empty_backward(&mut self) -> Result<()> {
        while let Some((b, offset)) = &self.block {
            if b.valid() {
                return Ok(());
            }
            b.status().map_err(|e| {
                Error::corruption(self.table.path(), *offset, format!("data block: {e}"))
            })?;
            self.index.prev();
            if self.load_block()? {
                self.with_block(BlockIter::seek_to_last);
            }
        }
        Ok(())
    }

    fn advance(&mut self) -> Result<Option<(InternalKey, Bytes)>> {
        match (self.state, self.direction) {
            (State::Done, _) => return Ok(None),
            (State::Unstarted, Direction::Forward) => self.start_forward()?,
            (State::Unstarted, Direction::Reverse) => self.start_reverse()?,
            (State::Running, Direction::Forward) => {
                self.with_block(BlockIter::next);
                self.skip_empty_forward()?;
            }
            (State::Running, Direction::Reverse) => {
                self.with_block(BlockIter::prev);
                self.skip_empty_backward()?;
            }
        }
        self.state = State::Running;
        let Some((b, offset)) = &self.block else {
            self.state = State::Done;
            return Ok(None);
        };
        let (stop, exclusive_stop) = match self.direction {
            Direction::Forward => (&self.upper, Ordering::Greater),
            Direction::Reverse => (&self.lower, Ordering::Less),
        };
        if let Some((bound, inclusive)) = stop {
            let ord = compare_encoded(b.key(), bound);
            if ord == exclusive_stop || (ord == Ordering::Equal && !inclusive) {
                self.state = State::Done;
                return Ok(None);
            }
        }
        let key = decode_internal_key(b.key()).ok_or_else(|| {
            Error::corruption(
                self.table.path(),
                *offset,
                "data block: unknown value kind in a key",
            )
        })?;
        Ok(Some((key, b.value())))
    }
}

impl Iterator for TableIter {
    type Item = Result<(InternalKey, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.advance() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => None,
            Err(e) => {
                self.state = State::Done;
                self.block = None;
                Some(Err(e))
            }
        }
    }
}
