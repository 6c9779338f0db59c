//! Reads records back from a log, detecting torn tails and corruption.
//!
//! # Damage rules (see `docs/format/wal.md`, "Recovery")
//! Reading stops at the first damaged fragment (bad checksum, impossible
//! length or type, truncated header or payload, or a fragment out of
//! sequence). The damage is then classified:
//! - **tail**: no complete, valid record follows it, or the damaged bytes
//!   before the next valid record are a hole (all zeros, or containing a
//!   whole zeroed 4 KiB page): what a crash leaves when unsynced writes or
//!   pages are lost. Recovery drops it and everything after it, and reports
//!   it.
//! - **corruption**: a complete, valid record follows damaged bytes that are
//!   not a hole, as a flipped bit leaves. A crash does not produce this.
//!
//! Zeros from where a record would start to the end of the file are not
//! damage: the writer preallocates the file ahead of its records, so that
//! is where a log being written (or one a crash interrupted) ends.

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{BLOCK_SIZE, FragmentType, HEADER_SIZE, fragment_crc};

/// Damage found in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// The log file.
    pub file: PathBuf,
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Bytes from `offset` to the end of the file (what is dropped).
    pub dropped_bytes: u64,
    /// What was wrong.
    pub reason: &'static str,
    /// Whether the damage is only a tail a crash could leave.
    pub is_tail: bool,
}

/// One fragment parsed at a position.
struct Fragment {
    ty: FragmentType,
    payload_start: usize,
    payload_end: usize,
}

/// Reads the records of one log held in memory.
pub(crate) struct Reader {
    data: Bytes,
    path: PathBuf,
    pos: usize,
    /// Where the zeros that run to the end of the file begin, for a log
    /// whose writer preallocates (a WAL): the clean end of the log. The
    /// end of the data for other logs (manifests), where zeros are damage.
    zero_tail: usize,
    damage: Option<Damage>,
}

impl Reader {
    /// A reader of a log whose writer does not preallocate (a manifest):
    /// zeros where a record should start are damage.
    pub(crate) fn new(path: &Path, data: Bytes) -> Self {
        Reader {
            zero_tail: data.len(),
            data,
            path: path.to_path_buf(),
            pos: 0,
            damage: None,
        }
    }

    /// A reader of a WAL, which is preallocated: zeros from where a record
    /// would start to the end of the file are its clean end
    /// (`docs/format/wal.md`, "End of the log").
    pub(crate) fn preallocated(path: &Path, data: Bytes) -> Self {
        let zero_tail = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        Reader {
            zero_tail,
            ..Reader::new(path, data)
        }
    }

    /// The damage that ended reading, if any. Set once `next_record`
    /// returned `None`.
    pub(crate) fn damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// Skips damage instead of stopping at it: resumes at the next
    /// complete, valid record. Returns the damaged regions skipped (each
    /// `dropped_bytes` up to where reading resumed), in order. The damage
    /// that ends the log, if any, is then in [`Reader::damage`].
    pub(crate) fn skip_damage(&mut self) -> Option<Damage> {
        let d = self.damage.take()?;
        let offset = usize::try_from(d.offset).unwrap_or(usize::MAX);
        match first_valid_record_after(&self.data, offset.min(self.data.len())) {
            Some(next) => {
                self.pos = next;
                Some(Damage {
                    dropped_bytes: (next - offset) as u64,
                    ..d
                })
            }
            None => {
                // Nothing valid follows: the damage ends the log.
                self.damage = Some(d);
                None
            }
        }
    }

    /// The next complete record with its offset, or `None` at the end of
    /// the valid data (see [`Reader::damage`]).
    pub(crate) fn next_record(&mut self) -> Option<(u64, Bytes)> {
        if self.damage.is_some() {
            return None;
        }
        if skip_trailer(&self.data, self.pos) >= self.zero_tail {
            // Nothing but zeros from here on (a WAL's preallocated space),
            // or the end of the data: the clean end of the log.
            self.pos = self.data.len();
            return None;
        }
        let start = self.pos;
        match read_record(&self.data, self.pos) {
            Ok(Some((record, next))) => {
                self.pos = next;
                Some((start as u64, record))
            }
            Ok(None) => {
                self.pos = self.data.len();
                None
            }
            Err((offset, reason)) => {
                let is_tail = classify_as_tail(&self.data, offset);
                self.damage = Some(Damage {
                    file: self.path.clone(),
                    offset: offset as u64,
                    dropped_bytes: (self.data.len() - offset) as u64,
                    reason,
                    is_tail,
                });
                self.pos = self.data.len();
                None
            }
        }
    }
}

/// Skips block trailers too small for a header. Returns the position of the
/// next fragment header, or `None` at the end of the data.
fn skip_trailer(data: &[u8], mut pos: usize) -> usize {
    let left = BLOCK_SIZE - pos % BLOCK_SIZE;
    if left < HEADER_SIZE {
        pos += left;
    }
    pos.min(data.len())
}

/// Parses the fragment at `pos` (which must not be inside a block trailer).
fn parse_fragment(data: &[u8], pos: usize) -> Result<Fragment, &'static str> {
    let header = data
        .get(pos..pos + HEADER_SIZE)
        .ok_or("truncated fragment header")?;
    let (crc_bytes, rest) = header.split_at(4);
    let (len_bytes, ty_bytes) = rest.split_at(2);
    let crc = u32::from_le_bytes(crc_bytes.try_into().map_err(|_| "header")?);
    let len = u16::from_le_bytes(len_bytes.try_into().map_err(|_| "header")?) as usize;
    let ty_byte = *ty_bytes.first().ok_or("header")?;
    if crc == 0 && len == 0 && ty_byte == 0 {
        return Err("zeroed bytes where a fragment should start");
    }
    let ty = FragmentType::from_u8(ty_byte).ok_or("unknown fragment type")?;
    let payload_start = pos + HEADER_SIZE;
    let payload_end = payload_start + len;
    if payload_end > pos - pos % BLOCK_SIZE + BLOCK_SIZE {
        return Err("fragment length runs past its block");
    }
    let payload = data
        .get(payload_start..payload_end)
        .ok_or("truncated fragment payload")?;
    if fragment_crc(ty_byte, payload) != crc {
        return Err("fragment checksum mismatch");
    }
    Ok(Fragment {
        ty,
        payload_start,
        payload_end,
    })
}

type RecordResult = Result<Option<(Bytes, usize)>, (usize, &'static str)>;

/// Reads one logical record starting at `pos`. `Ok(None)` at a clean end;
/// `Err((offset, reason))` at the first damaged fragment.
fn read_record(data: &Bytes, pos: usize) -> RecordResult {
    let mut pos = skip_trailer(data, pos);
    if pos >= data.len() {
        return Ok(None);
    }
    let record_start = pos;
    let mut assembled: Option<Vec<u8>> = None;
    loop {
        pos = skip_trailer(data, pos);
        if pos >= data.len() {
            return Err((record_start, "record truncated at end of log"));
        }
        let frag = parse_fragment(data, pos).map_err(|r| (pos, r))?;
        let payload = data.slice(frag.payload_start..frag.payload_end);
        let next = frag.payload_end;
        match (frag.ty, assembled.as_mut()) {
            (FragmentType::Full, None) => return Ok(Some((payload, next))),
            (FragmentType::First, None) => assembled = Some(payload.to_vec()),
            (FragmentType::Middle, Some(buf)) => buf.extend_from_slice(&payload),
            (FragmentType::Last, Some(buf)) => {
                buf.extend_from_slice(&payload);
                let record = assembled.take().unwrap_or_default();
                return Ok(Some((Bytes::from(record), next)));
            }
            (FragmentType::Middle | FragmentType::Last, None) => {
                return Err((pos, "continuation fragment without a first fragment"));
            }
            (FragmentType::Full | FragmentType::First, Some(_)) => {
                return Err((record_start, "record missing its last fragment"));
            }
        }
        pos = next;
    }
}

/// Storage pages: a crash loses unsynced writes a page at a time, and a
/// lost page reads back as zeros.
const PAGE: usize = 4096;

/// Whether damage at `offset` is a tail a crash can leave: nothing valid
/// follows, or the bytes between the damage and what follows are a hole —
/// all zeros, or holding a whole page-aligned page of zeros.
fn classify_as_tail(data: &Bytes, offset: usize) -> bool {
    let Some(next) = first_valid_record_after(data, offset) else {
        return true;
    };
    let Some(gap) = data.get(offset..next) else {
        return true;
    };
    if gap.iter().all(|&b| b == 0) {
        return true;
    }
    let first_page = offset.div_ceil(PAGE) * PAGE;
    (first_page..next.saturating_sub(PAGE - 1))
        .step_by(PAGE)
        .any(|p| {
            data.get(p..p + PAGE)
                .is_some_and(|page| page.iter().all(|&b| b == 0))
        })
}

/// The start of the first complete, valid record after `offset`: at any
/// byte of the damaged block (a corrupted length field loses the fragment
/// boundaries there), or at a later block boundary, where records
/// resynchronise (continuation fragments of the damaged record skipped).
fn first_valid_record_after(data: &Bytes, offset: usize) -> Option<usize> {
    let block_end = (offset - offset % BLOCK_SIZE + BLOCK_SIZE).min(data.len());
    for p in offset + 1..block_end {
        if plausible_record_start(data, p) && read_record(data, p).is_ok_and(|r| r.is_some()) {
            return Some(p);
        }
    }
    let mut block = offset - offset % BLOCK_SIZE + BLOCK_SIZE;
    while block < data.len() {
        let mut pos = block;
        loop {
            pos = skip_trailer(data, pos);
            if pos >= data.len() {
                break;
            }
            match parse_fragment(data, pos) {
                Ok(f) if matches!(f.ty, FragmentType::Middle | FragmentType::Last) => {
                    pos = f.payload_end;
                }
                Ok(_) => {
                    if read_record(data, pos).is_ok_and(|r| r.is_some()) {
                        return Some(pos);
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        block += BLOCK_SIZE;
    }
    None
}

/// A cheap filter before checksumming: a FULL or FIRST fragment header at
/// `p` whose length fits its block.
fn plausible_record_start(data: &[u8], p: usize) -> bool {
    let block_left = BLOCK_SIZE - p % BLOCK_SIZE;
    let Some(header) = data.get(p..p + HEADER_SIZE) else {
        return false;
    };
    let (Some(&lo), Some(&hi), Some(&ty)) = (header.get(4), header.get(5), header.get(6)) else {
        return false;
    };
    let len = usize::from(u16::from_le_bytes([lo, hi]));
    matches!(ty, 1 | 2) && HEADER_SIZE + len <= block_left
}
