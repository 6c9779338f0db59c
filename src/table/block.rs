//! [`Block`]: a decoded, immutable block (data or index) and the decoding of
//! its entries. Byte layout: `docs/format/block.md`.

#![deny(clippy::indexing_slicing)]

use std::ops::Range;

use bytes::Bytes;

use super::block_iter::BlockIter;
use super::coding::Cursor;
use super::format::TRAILER_LEN;
use crate::key::ValueKind;

/// A block's contents after unsealing: entries, restart array, count.
///
/// # Invariants
/// (checked by [`Block::new`]) the restart array lies inside the block; it
/// is empty exactly when there are no entries; restart offsets start at 0,
/// increase strictly, and point into the entry region. Entries themselves
/// are checked as they are decoded.
#[derive(Clone)]
pub(crate) struct Block {
    data: Bytes,
    /// Where the restart array begins: the end of the entry region.
    restarts_offset: usize,
    num_restarts: usize,
}

impl Block {
    /// Parses the restart array of `data`.
    ///
    /// # Errors
    /// A description of the damage if the restart array is malformed.
    pub(crate) fn new(data: Bytes) -> Result<Block, &'static str> {
        let count_at = data.len().checked_sub(4).ok_or("block too short")?;
        let num_restarts = Cursor::new(&data, count_at)
            .u32()
            .ok_or("block too short")? as usize;
        let restarts_offset = num_restarts
            .checked_mul(4)
            .and_then(|len| count_at.checked_sub(len))
            .ok_or("restart count exceeds block")?;
        if (num_restarts == 0) != (restarts_offset == 0) {
            return Err("restart array does not match entries");
        }
        let block = Block {
            data,
            restarts_offset,
            num_restarts,
        };
        let mut prev = None;
        for i in 0..num_restarts {
            let r = block.restart_point(i).ok_or("restart array truncated")?;
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p && r < restarts_offset,
            };
            if !ok {
                return Err("restart points out of order");
            }
            prev = Some(r);
        }
        Ok(block)
    }

    /// An iterator over the block, positioned nowhere.
    pub(crate) fn iter(&self) -> BlockIter {
        BlockIter::new(self.clone())
    }

    pub(crate) fn data(&self) -> &Bytes {
        &self.data
    }

    /// The end of the entry region.
    pub(crate) fn restarts_offset(&self) -> usize {
        self.restarts_offset
    }

    pub(crate) fn num_restarts(&self) -> usize {
        self.num_restarts
    }

    /// The offset of the `i`th restart point.
    pub(crate) fn restart_point(&self, i: usize) -> Option<usize> {
        let at = self.restarts_offset.checked_add(i.checked_mul(4)?)?;
        Some(Cursor::new(&self.data, at).u32()? as usize)
    }

    /// Parses the entry at `offset`: its shared length, its key delta and
    /// its value's range in [`Block::data`] (whose end is the next entry's
    /// offset).
    ///
    /// # Errors
    /// The entry overruns the entry region.
    fn raw_entry(&self, offset: usize) -> Result<RawEntry<'_>, &'static str> {
        let entries = self
            .data
            .get(..self.restarts_offset)
            .ok_or("block entry region out of range")?;
        let mut c = Cursor::new(entries, offset);
        let bad = "block entry truncated";
        let shared = c.varint32().ok_or(bad)? as usize;
        let unshared = c.varint32().ok_or(bad)? as usize;
        let value_len = c.varint32().ok_or(bad)? as usize;
        let delta = c.bytes(unshared).ok_or(bad)?;
        let value_start = c.pos();
        c.bytes(value_len).ok_or(bad)?;
        Ok(RawEntry {
            shared,
            delta,
            value: value_start..c.pos(),
        })
    }

    /// The key of the entry at restart point `offset`, borrowed from the
    /// block: a restart entry shares nothing with its predecessor, so its key
    /// is stored whole and a seek can compare it without copying.
    ///
    /// # Errors
    /// As [`Block::decode_entry`], and the entry shares bytes (a restart
    /// entry must not).
    pub(crate) fn restart_key(&self, offset: usize) -> Result<&[u8], &'static str> {
        let entry = self.raw_entry(offset)?;
        if entry.shared != 0 {
            return Err("block entry at a restart point shares bytes");
        }
        check_kind(entry.delta)?;
        Ok(entry.delta)
    }

    /// Decodes the entry at `offset` into `key`, which must hold the
    /// previous entry's key (or anything, at a restart point). Returns the
    /// value's range in [`Block::data`] and the next entry's offset.
    ///
    /// # Errors
    /// The entry overruns the entry region, shares more bytes than the
    /// previous key has, its key is shorter than an internal-key trailer,
    /// or the trailer's value kind is unknown (so a lookup that only
    /// passes over such an entry reports it too, as `docs/format/block.md`
    /// requires).
    pub(crate) fn decode_entry(
        &self,
        offset: usize,
        key: &mut Vec<u8>,
    ) -> Result<(Range<usize>, usize), &'static str> {
        let entry = self.raw_entry(offset)?;
        if entry.shared > key.len() {
            return Err("block entry shares more than the previous key");
        }
        key.truncate(entry.shared);
        key.extend_from_slice(entry.delta);
        check_kind(key)?;
        let next = entry.value.end;
        Ok((entry.value, next))
    }
}

/// One entry as stored: how many bytes of the previous key it shares, the
/// rest of its key, and where its value lies in the block.
struct RawEntry<'a> {
    shared: usize,
    delta: &'a [u8],
    value: Range<usize>,
}

/// Checks that `key` ends in an internal-key trailer of a known kind.
fn check_kind(key: &[u8]) -> Result<(), &'static str> {
    // The trailer is `seqno << 8 | kind`, little-endian: kind first.
    let kind = key
        .len()
        .checked_sub(TRAILER_LEN)
        .and_then(|at| key.get(at));
    match kind {
        None => Err("block key shorter than an internal-key trailer"),
        Some(&k) if ValueKind::from_u8(k).is_none() => Err("unknown value kind in a block key"),
        Some(_) => Ok(()),
    }
}
