//! Appends records to a log.

use std::io;

use super::{BLOCK_SIZE, FragmentType, HEADER_SIZE, fragment_crc};
use crate::fs::WritableFile;

/// Writes records to a log file. Each record is framed into fragments in a
/// buffer and handed to the file in one `append`.
pub(crate) struct Writer {
    file: Box<dyn WritableFile>,
    /// Offset inside the current block.
    block_offset: usize,
    /// Total bytes appended.
    len: u64,
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(file: Box<dyn WritableFile>) -> Self {
        Writer {
            file,
            block_offset: 0,
            len: 0,
            buf: Vec::new(),
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
        self.file.append(&self.buf)?;
        self.len += self.buf.len() as u64;
        Ok(())
    }

    /// Makes every appended record durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync()
    }

    /// Bytes appended so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}
