//! An independent codec of the on-disk formats (`docs/format/*.md`), for
//! the tests that read, build or damage files by hand. It calls no engine
//! code, so a change of a format that the documents do not follow shows up
//! as a test failure.
//!
//! - **Log framing** (WAL and manifest, `docs/format/wal.md`): 32 KiB
//!   blocks; a fragment is a header — crc32 (u32 LE, over the type byte then
//!   the payload), payload length (u16 LE), type (Full 1, First 2, Middle 3,
//!   Last 4) — and its payload; a block tail shorter than a header is zero
//!   padding.
//! - **Batch payload** (a WAL record): base seqno u64, count u32, then
//!   entries of kind u8, key length u32, key, value length u32, value.
//! - **Manifest records** (`docs/format/manifest.md`): version edits made of
//!   tagged fields.
//! - **Tables** (`docs/format/table.md`): blocks `data..., filter,
//!   properties, index`, each followed by a 5-byte trailer (compression type
//!   u8: 0 none, 1 zstd, 2 lz4; crc32 u32 LE over the payload then the
//!   type); then a 64-byte footer: index, filter and properties handles
//!   (offset u64 LE + size u64 LE each, size without the trailer), format
//!   version u32 LE, crc32 u32 LE over the 52 bytes before it, magic u64 LE.
//! - **Blocks** (`docs/format/block.md`): entries of `shared` varint32,
//!   `unshared` varint32, `value_len` varint32, key delta, value; then the
//!   restart array (u32 LE each) and its count (u32 LE). A compressed payload
//!   is the uncompressed length (u32 LE) and one zstd or lz4 frame.
//! - **`CURRENT`**: one line, the manifest's name, a space, the crc32 of the
//!   name in 8 hex digits.

// ---------------------------------------------------------------------------
// Log framing.

/// Log block size.
pub const BLOCK: usize = 32 * 1024;
/// Fragment header size.
pub const HEADER: usize = 7;

/// One fragment of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of the header.
    pub offset: usize,
    /// Payload length.
    pub len: usize,
    /// Fragment type byte.
    pub ty: u8,
}

/// The fragments of a well-formed log, in order. Panics on malformed input
/// (tests only parse logs the engine wrote).
pub fn fragments(data: &[u8]) -> Vec<Fragment> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let left = BLOCK - pos % BLOCK;
        if left < HEADER {
            pos += left;
            continue;
        }
        if pos + HEADER > data.len() {
            break;
        }
        let len = u16::from_le_bytes([data[pos + 4], data[pos + 5]]) as usize;
        let ty = data[pos + 6];
        assert!(
            (1..=4).contains(&ty),
            "unexpected fragment type {ty} at {pos}"
        );
        out.push(Fragment {
            offset: pos,
            len,
            ty,
        });
        pos += HEADER + len;
    }
    out
}

/// The logical records of a well-formed log as `(start, end)` byte ranges
/// (from the first fragment's header to the end of the last payload).
pub fn records(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for f in fragments(data) {
        let end = f.offset + HEADER + f.len;
        match f.ty {
            1 => out.push((f.offset, end)),
            2 => start = Some(f.offset),
            3 => {}
            4 => {
                let s = start.take().expect("last fragment without first");
                out.push((s, end));
            }
            _ => unreachable!(),
        }
    }
    out
}

/// The record payloads of a well-formed log.
pub fn log_payloads(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut partial: Option<Vec<u8>> = None;
    for f in fragments(data) {
        let p = &data[f.offset + HEADER..f.offset + HEADER + f.len];
        match f.ty {
            1 => out.push(p.to_vec()),
            2 => partial = Some(p.to_vec()),
            3 => partial.as_mut().expect("first").extend_from_slice(p),
            _ => {
                let mut r = partial.take().expect("first");
                r.extend_from_slice(p);
                out.push(r);
            }
        }
    }
    out
}

/// Appends one fragment of type `ty` holding `payload`, with a valid crc.
pub fn fragment(out: &mut Vec<u8>, ty: u8, payload: &[u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&[ty]);
    h.update(payload);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.push(ty);
    out.extend_from_slice(payload);
}

/// Frames record payloads as the log writer does.
pub fn frame_log(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        let mut rest = &p[..];
        let mut first = true;
        loop {
            let left = BLOCK - out.len() % BLOCK;
            if left < HEADER {
                out.resize(out.len() + left, 0);
                continue;
            }
            let (chunk, tail) = rest.split_at(rest.len().min(left - HEADER));
            let ty = match (first, tail.is_empty()) {
                (true, true) => 1,
                (true, false) => 2,
                (false, false) => 3,
                (false, true) => 4,
            };
            fragment(&mut out, ty, chunk);
            rest = tail;
            first = false;
            if matches!(ty, 1 | 4) {
                break;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Record payloads.

/// Where a batch payload's entry count (u32 LE) is.
pub const BATCH_COUNT_AT: usize = 8;
/// Where the first entry's kind byte is.
pub const BATCH_KIND_AT: usize = 12;
/// Where the first entry's key length (u32 LE) is; its key follows.
pub const BATCH_KEY_LEN_AT: usize = 13;

/// Version edit field tag: the manifest format version (u32 LE).
pub const TAG_FORMAT_VERSION: u8 = 1;
/// Version edit field tag: the merge operator's name (`bytes`: a u32 LE
/// length, then the bytes).
pub const TAG_MERGE_OPERATOR: u8 = 5;
/// Version edit field tag: a table becomes live (number, run and size as
/// u64 LE, smallest and largest key as `bytes`, then min and max seqno and
/// entries as u64 LE).
pub const TAG_ADD_TABLE: u8 = 6;

/// Writes `v` as u32 LE at `at`.
pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Reads a u32 LE at `at`.
pub fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

// ---------------------------------------------------------------------------
// Tables.

/// Footer length.
pub const FOOTER_LEN: usize = 64;
/// Bytes after every stored block.
pub const BLOCK_TRAILER_LEN: u64 = 5;
/// The table magic number (last 8 bytes, LE).
pub const TABLE_MAGIC: u64 = 0x7269_6c6c_6b76_5401;

/// A block's place in a table file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    /// First byte of the stored payload.
    pub offset: u64,
    /// Stored payload bytes, trailer excluded.
    pub size: u64,
}

impl Handle {
    /// The byte range of payload and trailer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset as usize..(self.offset + self.size + BLOCK_TRAILER_LEN) as usize
    }
}

/// Where the parts of a table file lie.
#[derive(Debug, Clone, Copy)]
pub struct TableLayout {
    /// Bytes `0..data_end` are data blocks.
    pub data_end: u64,
    /// The filter block, if the table has one.
    pub filter: Option<Handle>,
    /// The properties block.
    pub properties: Handle,
    /// The index block.
    pub index: Handle,
    /// Where the footer starts.
    pub footer_offset: u64,
}

/// Reads the footer of an intact table. Panics if `bytes` is not one.
pub fn table_layout(bytes: &[u8]) -> TableLayout {
    assert!(bytes.len() >= FOOTER_LEN, "table shorter than a footer");
    let footer_offset = bytes.len() - FOOTER_LEN;
    let f = &bytes[footer_offset..];
    assert_eq!(get_u64(f, 56), TABLE_MAGIC, "not a table (magic)");
    let handle = |i: usize| Handle {
        offset: get_u64(f, i * 16),
        size: get_u64(f, i * 16 + 8),
    };
    let (index, filter, properties) = (handle(0), handle(1), handle(2));
    let filter = (filter.size != 0).then_some(filter);
    let data_end = filter.map_or(properties.offset, |h| h.offset);
    assert!(data_end <= properties.offset && properties.offset < index.offset);
    assert_eq!(
        index.offset + index.size + BLOCK_TRAILER_LEN,
        footer_offset as u64,
        "the index block is expected right before the footer"
    );
    TableLayout {
        data_end,
        filter,
        properties,
        index,
        footer_offset: footer_offset as u64,
    }
}

/// Which part of a table a byte offset falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Region {
    /// A data block (payload or trailer).
    Data,
    /// The bloom filter block.
    Filter,
    /// The properties block.
    Properties,
    /// The index block.
    Index,
    /// The footer.
    Footer,
}

impl TableLayout {
    /// The region holding byte `offset`.
    pub fn region(&self, offset: usize) -> Region {
        let o = offset as u64;
        if o >= self.footer_offset {
            Region::Footer
        } else if self.index.range().contains(&offset) {
            Region::Index
        } else if self.properties.range().contains(&offset) {
            Region::Properties
        } else if self.filter.is_some_and(|f| f.range().contains(&offset)) {
            Region::Filter
        } else {
            assert!(o < self.data_end, "offset {offset} is in no block");
            Region::Data
        }
    }
}

/// Edits the footer of `table` in place and fixes its crc.
pub fn edit_footer(table: &mut [u8], edit: impl FnOnce(&mut [u8])) {
    let at = table.len() - FOOTER_LEN;
    let footer = &mut table[at..];
    edit(footer);
    let crc = crc32fast::hash(&footer[..52]);
    put_u32(footer, 52, crc);
}

// ---------------------------------------------------------------------------
// Blocks.

/// The crc32 of a stored block: over the payload, then the type byte.
pub fn block_crc(payload: &[u8], ty: u8) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h.update(&[ty]);
    h.finalize()
}

/// The compression type byte of the stored block at `h`.
pub fn block_type(bytes: &[u8], h: Handle) -> u8 {
    bytes[(h.offset + h.size) as usize]
}

/// Rewrites the crc of the stored block at `h` to match its (changed)
/// payload and type byte.
pub fn reseal_block(bytes: &mut [u8], h: Handle) {
    let end = (h.offset + h.size) as usize;
    let crc = block_crc(&bytes[h.offset as usize..end], bytes[end]);
    put_u32(bytes, end + 1, crc);
}

/// Edits the payload of the stored block at `h` in place (same length),
/// sets its compression type byte to `ty` if given, and reseals it.
pub fn edit_block(bytes: &mut [u8], h: Handle, ty: Option<u8>, edit: impl FnOnce(&mut [u8])) {
    let (start, end) = (h.offset as usize, (h.offset + h.size) as usize);
    edit(&mut bytes[start..end]);
    if let Some(ty) = ty {
        bytes[end] = ty;
    }
    reseal_block(bytes, h);
}

/// The contents of the intact stored block at `h` (crc checked,
/// decompressed). Panics on a damaged block.
pub fn block_contents(bytes: &[u8], h: Handle) -> Vec<u8> {
    let payload = &bytes[h.offset as usize..(h.offset + h.size) as usize];
    let ty = block_type(bytes, h);
    let crc = get_u32(bytes, (h.offset + h.size) as usize + 1);
    assert_eq!(
        crc,
        block_crc(payload, ty),
        "block at {} is damaged",
        h.offset
    );
    match ty {
        0 => payload.to_vec(),
        1 => {
            let len = get_u32(payload, 0) as usize;
            zstd::bulk::decompress(&payload[4..], len).expect("zstd block decompresses")
        }
        2 => {
            let len = get_u32(payload, 0) as usize;
            lz4_flex::block::decompress(&payload[4..], len).expect("lz4 block decompresses")
        }
        _ => panic!("unknown block type {ty} at {}", h.offset),
    }
}

/// Decodes an unsigned LEB128 varint32 at `*pos`, advancing it.
pub fn varint32(b: &[u8], pos: &mut usize) -> u32 {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = b[*pos];
        *pos += 1;
        v |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint longer than 5 bytes");
}

/// The `(key, value)` entries of intact block contents, in order. Panics on
/// malformed contents (tests parse only blocks the engine wrote).
pub fn block_entries(contents: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let n = contents.len() - 4;
    let restarts = get_u32(contents, n) as usize;
    let end = n - 4 * restarts;
    let (mut pos, mut key, mut out) = (0, Vec::new(), Vec::new());
    while pos < end {
        let shared = varint32(contents, &mut pos) as usize;
        let unshared = varint32(contents, &mut pos) as usize;
        let value_len = varint32(contents, &mut pos) as usize;
        key.truncate(shared);
        key.extend_from_slice(&contents[pos..pos + unshared]);
        pos += unshared;
        out.push((key.clone(), contents[pos..pos + value_len].to_vec()));
        pos += value_len;
    }
    out
}

/// The index of an intact table: per data block, in file order, its last
/// encoded internal key and its handle.
pub fn index_entries(bytes: &[u8], layout: &TableLayout) -> Vec<(Vec<u8>, Handle)> {
    block_entries(&block_contents(bytes, layout.index))
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(v.len(), 16, "an index value is a 16-byte handle");
            let h = Handle {
                offset: get_u64(&v, 0),
                size: get_u64(&v, 8),
            };
            (k, h)
        })
        .collect()
}

/// The handle of the first data block of an intact table.
pub fn first_data_block(table: &[u8]) -> Handle {
    index_entries(table, &table_layout(table))[0].1
}

/// The user key of an encoded internal key (the key minus its 8-byte
/// trailer, whose first byte is the value kind).
pub fn user_key(internal: &[u8]) -> &[u8] {
    &internal[..internal.len() - 8]
}

// ---------------------------------------------------------------------------
// Damage, and `CURRENT`.

/// `bytes` with bit `bit` of byte `offset` inverted.
pub fn flipped(bytes: &[u8], offset: usize, bit: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[offset] ^= 1 << (bit % 8);
    out
}

/// A `CURRENT` naming `manifest_name`, with a valid crc.
pub fn current_naming(manifest_name: &str) -> Vec<u8> {
    let crc = crc32fast::hash(manifest_name.as_bytes());
    format!("{manifest_name} {crc:08x}\n").into_bytes()
}
