//! The table byte formats re-implemented from their specs
//! (`docs/format/block.md`, `docs/format/table.md`), independently of
//! `src/table/`: a decoder the reader is compared with, and encoders that
//! build tables around fuzzed blocks. If a spec and the code drift apart,
//! the fuzz bodies fail on their seeds.

use std::cmp::Ordering;

/// Bytes of an internal-key trailer (`seqno << 8 | kind`, LE).
pub(crate) const TRAILER_LEN: usize = 8;
/// Bytes of the table footer.
pub(crate) const FOOTER_LEN: usize = 64;
/// The table magic, the last 8 bytes of every table (LE).
pub(crate) const MAGIC: u64 = 0x7269_6c6c_6b76_5401;
/// Bytes after each stored block's payload: type (1) + crc32 (4).
pub(crate) const BLOCK_TRAILER_LEN: usize = 5;

/// The internal order over encoded keys: user key ascending, then trailer
/// descending. Keys shorter than a trailer order bytewise.
pub(crate) fn compare_keys(a: &[u8], b: &[u8]) -> Ordering {
    match (split_key(a), split_key(b)) {
        (Some((ak, at)), Some((bk, bt))) => ak.cmp(bk).then_with(|| bt.cmp(&at)),
        _ => a.cmp(b),
    }
}

/// An encoded internal key's user key and trailer.
pub(crate) fn split_key(key: &[u8]) -> Option<(&[u8], u64)> {
    let at = key.len().checked_sub(TRAILER_LEN)?;
    let (user, trailer) = key.split_at(at);
    Some((user, u64::from_le_bytes(trailer.try_into().ok()?)))
}

/// An encoded internal key.
pub(crate) fn encode_key(user_key: &[u8], seqno: u64, kind: u8) -> Vec<u8> {
    let mut k = user_key.to_vec();
    k.extend_from_slice(&((seqno << 8) | u64::from(kind)).to_le_bytes());
    k
}

/// One entry decoded from a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalkEntry {
    pub offset: usize,
    pub shared: usize,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// A block decoded the way a forward scan reads it: from the first entry
/// on, each key built from the previous one, up to the end of the entries
/// or the first violation of the rules `block.md` ("Validity") says a
/// reader reports as corruption.
#[derive(Debug, Default)]
pub(crate) struct BlockWalk {
    pub entries: Vec<WalkEntry>,
    /// The violation that ended the walk, if any.
    pub violation: Option<&'static str>,
    /// The restart offsets (empty when the restart array is invalid).
    pub restarts: Vec<usize>,
}

impl BlockWalk {
    /// Every restart point is the offset of an entry that shares nothing:
    /// then a backward scan, which decodes each restart interval from its
    /// restart point, sees the same entries as a forward one.
    pub(crate) fn aligned(&self) -> bool {
        self.restarts
            .iter()
            .all(|&r| self.entries.iter().any(|e| e.offset == r && e.shared == 0))
    }

    /// Every restart point is the offset of an entry (it may share bytes).
    pub(crate) fn restarts_on_entries(&self) -> bool {
        self.restarts
            .iter()
            .all(|&r| self.entries.iter().any(|e| e.offset == r))
    }

    /// Keys strictly increase in internal order.
    pub(crate) fn sorted(&self) -> bool {
        self.entries
            .windows(2)
            .all(|w| matches!(w, [a, b] if compare_keys(&a.key, &b.key) == Ordering::Less))
    }
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// A LEB128 varint of at most 5 bytes that fits in 32 bits.
fn varint(b: &[u8], pos: &mut usize) -> Option<usize> {
    let mut v: u64 = 0;
    for i in 0..5 {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return u32::try_from(v).ok().map(|v| v as usize);
        }
    }
    None
}

/// Walks a block's contents (see [`BlockWalk`]). With `data_keys`, a key
/// whose trailer has an unknown kind is a violation too (a table reader
/// decodes data-block keys as internal keys; index keys it does not).
pub(crate) fn walk_block(b: &[u8], data_keys: bool) -> BlockWalk {
    let mut walk = BlockWalk::default();
    let Some(count_at) = b.len().checked_sub(4) else {
        walk.violation = Some("block shorter than 4 bytes");
        return walk;
    };
    let Some(n) = le_u32(b, count_at) else {
        walk.violation = Some("block shorter than 4 bytes");
        return walk;
    };
    let Some(end) = (n as usize)
        .checked_mul(4)
        .and_then(|len| count_at.checked_sub(len))
    else {
        walk.violation = Some("restart array does not fit");
        return walk;
    };
    if (n == 0) != (end == 0) {
        walk.violation = Some("restart array empty iff entries");
        return walk;
    }
    let mut restarts = Vec::new();
    for i in 0..n as usize {
        let Some(r) = le_u32(b, end + 4 * i) else {
            walk.violation = Some("restart array truncated");
            return walk;
        };
        let r = r as usize;
        let ok = match restarts.last() {
            None => r == 0,
            Some(&p) => r > p && r < end,
        };
        if !ok {
            walk.violation = Some("restart points not 0, increasing, inside the entries");
            return walk;
        }
        restarts.push(r);
    }
    walk.restarts = restarts;
    let entries = b.get(..end).unwrap_or_default();
    let mut offset = 0;
    let mut key: Vec<u8> = Vec::new();
    while offset < end {
        let mut pos = offset;
        let fields = (|| {
            let shared = varint(entries, &mut pos)?;
            let unshared = varint(entries, &mut pos)?;
            let value_len = varint(entries, &mut pos)?;
            Some((shared, unshared, value_len))
        })();
        let Some((shared, unshared, value_len)) = fields else {
            walk.violation = Some("entry varint truncated or too long");
            return walk;
        };
        if shared > key.len() {
            walk.violation = Some("entry shares more than the previous key");
            return walk;
        }
        let delta_end = pos.checked_add(unshared).filter(|&e| e <= end);
        let value_end = delta_end
            .and_then(|d| d.checked_add(value_len))
            .filter(|&e| e <= end);
        let (Some(delta_end), Some(value_end)) = (delta_end, value_end) else {
            walk.violation = Some("entry runs past the entries");
            return walk;
        };
        key.truncate(shared);
        key.extend_from_slice(entries.get(pos..delta_end).unwrap_or_default());
        if key.len() < TRAILER_LEN {
            walk.violation = Some("key shorter than a trailer");
            return walk;
        }
        if data_keys && split_key(&key).is_none_or(|(_, t)| t & 0xff > 2) {
            walk.violation = Some("unknown kind in a key trailer");
            return walk;
        }
        walk.entries.push(WalkEntry {
            offset,
            shared,
            key: key.clone(),
            value: entries
                .get(delta_end..value_end)
                .unwrap_or_default()
                .to_vec(),
        });
        offset = value_end;
    }
    walk
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Block contents holding `entries` (keys sorted by the caller), a restart
/// point every `interval` entries.
pub(crate) fn encode_block(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut restarts = Vec::new();
    let mut prev: &[u8] = &[];
    for (i, (k, v)) in entries.iter().enumerate() {
        let shared = if i % interval.max(1) == 0 {
            restarts.push(out.len() as u32);
            0
        } else {
            prev.iter().zip(k).take_while(|(a, b)| a == b).count()
        };
        put_varint(&mut out, shared);
        put_varint(&mut out, k.len() - shared);
        put_varint(&mut out, v.len());
        out.extend_from_slice(k.get(shared..).unwrap_or_default());
        out.extend_from_slice(v);
        prev = k;
    }
    for r in &restarts {
        out.extend_from_slice(&r.to_le_bytes());
    }
    out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    out
}

/// The crc32 of a stored block: over the payload, then the type byte.
pub(crate) fn block_crc(payload: &[u8], ty: u8) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h.update(&[ty]);
    h.finalize()
}

/// A stored block: payload, type byte, crc32.
pub(crate) fn stored_block(payload: &[u8], ty: u8) -> Vec<u8> {
    let mut out = payload.to_vec();
    out.push(ty);
    out.extend_from_slice(&block_crc(payload, ty).to_le_bytes());
    out
}

/// A 16-byte block handle.
pub(crate) fn handle(offset: u64, size: u64) -> Vec<u8> {
    let mut out = offset.to_le_bytes().to_vec();
    out.extend_from_slice(&size.to_le_bytes());
    out
}

/// The properties block of an empty table (version 1, every field 0).
pub(crate) fn empty_properties() -> Vec<u8> {
    let mut out = 1u32.to_le_bytes().to_vec();
    out.extend_from_slice(&[0; 8]); // two empty keys
    out.extend_from_slice(&[0; 9 * 8]);
    out.push(0); // compression type: none
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

/// A footer for the three handles `(offset, size)`, format version 1.
pub(crate) fn footer(index: (u64, u64), filter: (u64, u64), props: (u64, u64)) -> Vec<u8> {
    let mut out = handle(index.0, index.1);
    out.extend_from_slice(&handle(filter.0, filter.1));
    out.extend_from_slice(&handle(props.0, props.1));
    out.extend_from_slice(&1u32.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out
}

/// A table whose only data block is `stored` (payload of `payload_len`
/// bytes plus its trailer), indexed under `index_key`; no filter.
pub(crate) fn table_around(stored: &[u8], payload_len: usize, index_key: &[u8]) -> Vec<u8> {
    let mut file = stored.to_vec();
    let props_at = file.len() as u64;
    let props = empty_properties();
    file.extend_from_slice(&stored_block(&props, 0));
    let index_at = file.len() as u64;
    let index = encode_block(&[(index_key.to_vec(), handle(0, payload_len as u64))], 1);
    file.extend_from_slice(&stored_block(&index, 0));
    file.extend_from_slice(&footer(
        (index_at, index.len() as u64),
        (0, 0),
        (props_at, props.len() as u64),
    ));
    file
}

/// The payload of a stored block at `h` = (offset, size) in `file`, if
/// its payload and trailer lie before `limit`.
fn block_range(h: (u64, u64), limit: usize) -> Option<(usize, usize)> {
    let start = usize::try_from(h.0).ok()?;
    let end = start.checked_add(usize::try_from(h.1).ok()?)?;
    (end.checked_add(BLOCK_TRAILER_LEN)? <= limit).then_some((start, end))
}

fn read_handle(b: &[u8], at: usize) -> Option<(u64, u64)> {
    let h = b.get(at..at.checked_add(16)?)?;
    Some((
        u64::from_le_bytes(h.get(..8)?.try_into().ok()?),
        u64::from_le_bytes(h.get(8..)?.try_into().ok()?),
    ))
}

/// Recomputes the crc of the stored block at `h` in place, if it lies in
/// the file before `limit`. Returns its payload range.
fn fix_block(file: &mut [u8], h: (u64, u64), limit: usize) -> Option<(usize, usize)> {
    let (start, end) = block_range(h, limit)?;
    let ty = *file.get(end)?;
    let crc = block_crc(file.get(start..end)?, ty);
    file.get_mut(end + 1..end + 5)?
        .copy_from_slice(&crc.to_le_bytes());
    Some((start, end))
}

/// Makes every checksum of a table file valid where the layout allows:
/// the footer (magic too), the blocks its handles name, and the data
/// blocks an uncompressed index names. Lets the fuzzer reach the decoding
/// behind the checksums.
pub(crate) fn fix_checksums(file: &mut [u8]) {
    let Some(footer_at) = file.len().checked_sub(FOOTER_LEN) else {
        return;
    };
    let Some(foot) = file.get_mut(footer_at..) else {
        return;
    };
    let crc = crc32fast::hash(foot.get(..52).unwrap_or_default());
    if let Some(c) = foot.get_mut(52..56) {
        c.copy_from_slice(&crc.to_le_bytes());
    }
    if let Some(m) = foot.get_mut(56..64) {
        m.copy_from_slice(&MAGIC.to_le_bytes());
    }
    let handles: Vec<(u64, u64)> = (0..3)
        .filter_map(|i| read_handle(file, footer_at + 16 * i))
        .collect();
    let data_handles: Vec<(u64, u64)> = match handles.first() {
        Some(&index) => match fix_block(file, index, footer_at) {
            Some((start, end)) if file.get(end) == Some(&0) => {
                let walk = walk_block(file.get(start..end).unwrap_or_default(), false);
                walk.entries
                    .iter()
                    .filter_map(|e| read_handle(&e.value, 0).filter(|_| e.value.len() == 16))
                    .take(4096)
                    .collect()
            }
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    for h in data_handles.into_iter().chain(handles.into_iter().skip(1)) {
        fix_block(file, h, footer_at);
    }
}

/// The contents of the stored block at `h` = (offset, size), if it lies
/// before `limit`, its checksum holds and it decodes (type 0 raw; type 1
/// a u32 length of at most 64 MiB then a zstd frame of exactly that many
/// bytes); `None` if it is damaged.
fn unseal(file: &[u8], h: (u64, u64), limit: usize) -> Option<Vec<u8>> {
    let (start, end) = block_range(h, limit)?;
    let payload = file.get(start..end)?;
    let ty = *file.get(end)?;
    let crc = le_u32(file, end + 1)?;
    if block_crc(payload, ty) != crc {
        return None;
    }
    match ty {
        0 => Some(payload.to_vec()),
        1 => {
            let declared = le_u32(payload, 0)? as usize;
            if declared > 64 << 20 {
                return None;
            }
            let out = zstd::bulk::decompress(payload.get(4..)?, declared).ok()?;
            (out.len() == declared).then_some(out)
        }
        2 => {
            let declared = le_u32(payload, 0)? as usize;
            if declared > 64 << 20 {
                return None;
            }
            let out = lz4_flex::block::decompress(payload.get(4..)?, declared).ok()?;
            (out.len() == declared).then_some(out)
        }
        _ => None,
    }
}

/// Whether a filter block (`bloom.md`: bit array, then `k`) says
/// `user_key` may be present; `None` if the block is malformed (ignored).
fn bloom_may_contain(filter: &[u8], user_key: &[u8]) -> Option<bool> {
    let (&k, bits) = filter.split_last()?;
    if bits.is_empty() || !(1..=30).contains(&k) {
        return None;
    }
    let m = bits.len() as u64 * 8;
    let h = xxhash_rust::xxh3::xxh3_64(user_key);
    let delta = h.rotate_left(32);
    Some((0..u64::from(k)).all(|i| {
        let bit = h.wrapping_add(i.wrapping_mul(delta)) % m;
        bits.get((bit / 8) as usize)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0)
    }))
}

/// The entries of a table file, if it is *consistent*: everything the
/// writer guarantees holds — footer, index and data blocks intact; index
/// entries one per data block, each keyed by its block's last key, in
/// order; data blocks non-empty, well-formed, sorted and aligned, their
/// keys increasing across blocks; a valid filter (if any) admits every
/// user key. Checksums alone do not prove this: a fuzzer can forge them
/// (libFuzzer's comparison tracing finds crc32 values), and the reader
/// trusts checksum-valid structure (no format requires it to cross-check
/// index keys or key order). `None` for anything else.
pub(crate) fn consistent_table(file: &[u8]) -> Option<Vec<WalkEntry>> {
    let footer_at = file.len().checked_sub(FOOTER_LEN)?;
    let foot = file.get(footer_at..)?;
    let crc_ok = le_u32(foot, 52)? == crc32fast::hash(foot.get(..52)?);
    let magic_ok = foot.get(56..)? == MAGIC.to_le_bytes().as_slice();
    if !crc_ok || !magic_ok || le_u32(foot, 48)? != 1 {
        return None;
    }
    let index_h = read_handle(foot, 0)?;
    let filter_h = read_handle(foot, 16)?;
    let index = unseal(file, index_h, footer_at)?;
    let iw = walk_block(&index, true);
    if iw.violation.is_some() || !iw.aligned() || !iw.sorted() {
        return None;
    }
    let mut entries: Vec<WalkEntry> = Vec::new();
    for ie in &iw.entries {
        if ie.value.len() != 16 {
            return None;
        }
        let data = unseal(file, read_handle(&ie.value, 0)?, footer_at)?;
        let w = walk_block(&data, true);
        let (first, last) = (w.entries.first()?, w.entries.last()?);
        let ordered = entries
            .last()
            .is_none_or(|p| compare_keys(&p.key, &first.key).is_lt());
        if w.violation.is_some() || !w.aligned() || !w.sorted() || !ordered || last.key != ie.key {
            return None;
        }
        entries.extend(w.entries);
    }
    if filter_h.1 > 0
        && let Some(filter) = unseal(file, filter_h, footer_at)
    {
        for e in &entries {
            let (user, _) = split_key(&e.key)?;
            if bloom_may_contain(&filter, user) == Some(false) {
                return None;
            }
        }
    }
    Some(entries)
}
