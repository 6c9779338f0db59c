//! Appends records to a log.

use std::io;

use super::{BLOCK_SIZE, FragmentType, HEADER_SIZE, fragment_crc};
use crate::fs::WritableFile;

/// How far ahead of the last record the log file is grown
/// ([`WritableFile::preallocate`]): a synced append then rarely changes the
/// file's size, so its fdatasync rarely has to journal one.
const PREALLOCATE: u64 = 1 << 20;

/// Writes records to a log file. Each record is framed into fragments in a
/// buffer and handed to the file in one `append`.
pub(crate) struct Writer {
    file: Box<dyn WritableFile>,
    /// Offset inside the current block.
    block_offset: usize,
    /// Total bytes appended.
    len: u64,
    /// Bytes made durable by the last successful sync.
    synced: u64,
    /// The size the file was grown to (zeros past `len`); `None` for a log
    /// that is not preallocated (a manifest, read by a reader that takes
    /// zeros for damage).
    allocated: Option<u64>,
    buf: Vec<u8>,
}

impl Writer {
    /// A writer that appends only (manifests).
    pub(crate) fn new(file: Box<dyn WritableFile>) -> Self {
        Writer {
            file,
            block_offset: 0,
            len: 0,
            synced: 0,
            allocated: None,
            buf: Vec::new(),
        }
    }

    /// A writer that grows the file [`PREALLOCATE`] bytes at a time ahead of
    /// its records (WALs, read with `Reader::preallocated`).
    pub(crate) fn preallocated(file: Box<dyn WritableFile>) -> Self {
        Writer {
            allocated: Some(0),
            ..Writer::new(file)
        }
    }

    /// Frames `payload` and appends it. On error the file may hold a torn
    /// record; the caller must stop using this writer (recovery drops it).
    pub(crate) fn add_record(&mut self, payload: &[u8]) -> io::Result<()> {
        self.buf.clear();
        let mut rest = payload;
        let mut first = true;
        loop {
            let left_in_block = BLOCK_SIZE - self.block_offset;
            if left_in_block < HEADER_SIZE {
                // Too small for a header: pad with zeros, start a new block.
                self.buf.extend(std::iter::repeat_n(0u8, left_in_block));
                self.block_offset = 0;
                continue;
            }
            let avail = left_in_block - HEADER_SIZE;
            let take = rest.len().min(avail);
            let (chunk, tail) = rest.split_at(take);
            let last = tail.is_empty();
            let ty = match (first, last) {
                (true, true) => FragmentType::Full,
                (true, false) => FragmentType::First,
                (false, false) => FragmentType::Middle,
                (false, true) => FragmentType::Last,
            } as u8;
            self.buf
                .extend_from_slice(&fragment_crc(ty, chunk).to_le_bytes());
            // `take` fits in u16: a block is 32 KiB.
            self.buf.extend_from_slice(&(take as u16).to_le_bytes());
            self.buf.push(ty);
            self.buf.extend_from_slice(chunk);
            self.block_offset += HEADER_SIZE + take;
            rest = tail;
            first = false;
            if last {
                break;
            }
        }
        let end = self.len + self.buf.len() as u64;
        if let Some(allocated) = &mut self.allocated
            && end > *allocated
        {
            let grown = end.div_ceil(PREALLOCATE) * PREALLOCATE;
            self.file.preallocate(grown)?;
            *allocated = grown;
        }
        self.file.append(&self.buf)?;
        self.len = end;
        Ok(())
    }

    /// Cuts the preallocated zeros and syncs: the log as a reader of a
    /// cleanly closed database should find it.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if let Some(allocated) = &mut self.allocated
            && *allocated > self.len
        {
            self.file.trim(self.len)?;
            *allocated = self.len;
        }
        self.sync()
    }

    /// Makes every appended record durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync()?;
        self.synced = self.len;
        Ok(())
    }

    /// Whether every appended record was made durable by a sync.
    pub(crate) fn is_synced(&self) -> bool {
        self.synced == self.len
    }

    /// Bytes appended so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}
