//! An arena skiplist of internal keys: one writer at a time, any number of
//! lock-free readers. The only `unsafe` code of the memtable lives here.
//!
//! Each entry is one *node*, carved from an arena of large chunks: a fixed
//! header (the first 16 bytes of the user key as two integers, the
//! trailer, the lengths, the height), then the node's tower of `height`
//! next-pointers, then the user key and the value, inline. A search step
//! reads one next-pointer and the next node's header, which sit in one or
//! two adjacent cache lines; keys that differ in their first 16 bytes
//! compare without touching the key bytes. Nothing is freed before the
//! whole list is: dropping it returns a few chunks to the allocator.
//!
//! # Concurrency
//! Inserts take the writer mutex (the commit leader is the only writer, so
//! it is never contended; it makes a second writer safe rather than a
//! caller's promise). A node is written completely, its tower pointed at
//! its successors, and only then published, level 0 first, by a `Release`
//! store into each predecessor's tower. Readers follow towers with
//! `Acquire` loads, so they see every node they reach whole. Published
//! nodes never change except for their towers' pointers, which only ever
//! move from a node to a newly inserted node between it and its old
//! successor: a reader that sees the old pointer misses the new node, one
//! that sees the new one finds the old successor behind it. Either is a
//! consistent list.
//!
//! # Invariants
//! - Every node pointer handed out points into a chunk owned by the list,
//!   valid until the list is dropped; a [`Cursor`] owns an `Arc` of it.
//! - A node's header, key and value are written before it is published and
//!   never after; its tower entries at levels `>= height` do not exist.
//! - `height` only grows; levels above it hold null pointers in `head`.
//! - At each level the nodes are in strictly ascending internal-key order
//!   (entries never share an internal key: sequence numbers are unique).
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cmp::Ordering;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering as AtomicOrdering};

use parking_lot::Mutex;

/// The tallest tower. With a branching factor of 2, 20 levels serve 2^20
/// (a million) entries before searches slow down — more than a memtable
/// of the default 64 MiB holds.
const MAX_HEIGHT: usize = 20;

/// One in `BRANCHING` nodes of a level also appears on the level above.
/// 2 rather than LevelDB's 4: measured, 4 made random inserts 15 % slower
/// (more nodes visited per level, each a likely cache miss).
const BRANCHING: u32 = 2;

/// Bytes of the user key held in the node header.
const PREFIX_LEN: usize = 16;

/// Every node and chunk is aligned to this (the header's integers).
const ALIGN: usize = 8;

/// The first chunk's size; each next chunk doubles, up to [`MAX_CHUNK`].
const FIRST_CHUNK: usize = 16 << 10;

/// The largest chunk: a huge page. An allocation bigger than a quarter of
/// the next chunk gets a block of its own, so chunks waste at most a
/// quarter.
const MAX_CHUNK: usize = 2 << 20;

/// The fixed part of a node; the tower, key and value follow it.
#[repr(C)]
struct Header {
    /// The first 8 bytes of the user key, big-endian, zero-padded.
    prefix_hi: u64,
    /// Bytes 8..16 of the user key, big-endian, zero-padded.
    prefix_lo: u64,
    /// `seqno << 8 | kind`.
    trailer: u64,
    /// The value's bytes, in the value arena (dangling when empty).
    value: *const u8,
    key_len: u32,
    value_len: u32,
    height: u32,
}

/// Offset of the tower within a node.
const TOWER: usize = std::mem::size_of::<Header>().next_multiple_of(ALIGN);

/// Bytes of a node of `height` whose key is `key_len` bytes long.
fn node_size(height: usize, key_len: usize) -> usize {
    (TOWER + height * std::mem::size_of::<AtomicPtr<Header>>() + key_len).next_multiple_of(ALIGN)
}

/// The first 16 bytes of `key` as two big-endian integers, zero-padded:
/// comparing the pairs orders keys as comparing their first 16 bytes does.
fn prefix(key: &[u8]) -> (u64, u64) {
    let mut head = [0u8; PREFIX_LEN];
    let n = key.len().min(PREFIX_LEN);
    head[..n].copy_from_slice(&key[..n]);
    let (hi, lo) = head.split_at(8);
    let word = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
    (word(hi), word(lo))
}

/// An internal key to search for, with its prefix computed once.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    prefix: (u64, u64),
    key: &'a [u8],
    trailer: u64,
}

impl<'a> Target<'a> {
    pub(crate) fn new(key: &'a [u8], trailer: u64) -> Self {
        Target {
            prefix: prefix(key),
            key,
            trailer,
        }
    }
}

/// A node: a pointer into one of the list's chunks.
type Node = NonNull<Header>;

/// The chunks nodes are carved from; owned by the writer.
struct Arena {
    /// Every allocation, with its layout, freed when the list drops.
    blocks: Vec<(NonNull<u8>, Layout)>,
    /// The free tail of the current chunk.
    cursor: *mut u8,
    left: usize,
    next_chunk: usize,
}

impl Arena {
    fn new() -> Self {
        Arena {
            blocks: Vec::new(),
            cursor: ptr::null_mut(),
            left: 0,
            next_chunk: FIRST_CHUNK,
        }
    }

    /// `size` bytes aligned to [`ALIGN`] (`size` a multiple of it).
    fn alloc(&mut self, size: usize) -> NonNull<u8> {
        debug_assert_eq!(size % ALIGN, 0);
        if size > self.next_chunk / 4 {
            return self.block(size);
        }
        if size > self.left {
            let chunk = self.next_chunk;
            self.next_chunk = (chunk * 2).min(MAX_CHUNK);
            self.cursor = self.block(chunk).as_ptr();
            self.left = chunk;
        }
        let at = self.cursor;
        // SAFETY: `size <= left`, so `at + size` stays within the current
        // chunk (or one past its end), which `block` allocated.
        self.cursor = unsafe { at.add(size) };
        self.left -= size;
        // SAFETY: `at` points into a live allocation, hence is not null.
        unsafe { NonNull::new_unchecked(at) }
    }

    /// A fresh allocation of `size` bytes, recorded for the drop.
    fn block(&mut self, size: usize) -> NonNull<u8> {
        // Full-size chunks are aligned to a huge page and asked to be
        // backed by one: a search's random hops then miss the TLB far
        // less often (4 KiB pages would need one entry per node visited).
        let align = if size == MAX_CHUNK { MAX_CHUNK } else { ALIGN };
        let Ok(layout) = Layout::from_size_align(size, align) else {
            // Only a size near `isize::MAX` fails: no memory would hold it.
            handle_alloc_error(Layout::new::<u64>());
        };
        // SAFETY: `layout` has a non-zero size (every node has a header).
        let raw = unsafe { alloc(layout) };
        let Some(block) = NonNull::new(raw) else {
            handle_alloc_error(layout);
        };
        #[cfg(all(target_os = "linux", not(miri)))]
        if size == MAX_CHUNK {
            // SAFETY: `block` is a live allocation of `size` bytes aligned
            // to the huge page size; the advice changes no content, and a
            // failure (no THP support) only leaves small pages.
            unsafe { libc::madvise(block.as_ptr().cast(), size, libc::MADV_HUGEPAGE) };
        }
        self.blocks.push((block, layout));
        block
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for &(block, layout) in &self.blocks {
            // SAFETY: `block` came from `alloc(layout)` and is freed once,
            // here; no node is read after the list (its owner) is dropped.
            unsafe { dealloc(block.as_ptr(), layout) };
        }
    }
}

/// What only the writer touches.
struct Writer {
    /// Nodes: headers, towers and keys, all a search touches.
    nodes: Arena,
    /// Values, apart from the nodes so that nodes sit closer together
    /// (more of them per cache line, page and TLB entry).
    values: Arena,
    /// xorshift state for tower heights.
    rng: u32,
    /// The last node inserted, and at each level the node after which it
    /// was linked (itself at levels it reaches): where an ascending insert
    /// starts its search.
    last: Option<Node>,
    splice: [Node; MAX_HEIGHT],
}

/// The skiplist. See the module docs.
pub(crate) struct SkipList {
    /// A node of [`MAX_HEIGHT`] with an empty key, before every entry.
    head: Node,
    /// The height of the tallest tower so far.
    height: AtomicUsize,
    len: AtomicUsize,
    /// Bytes of nodes (not of chunks: the tail of a chunk is not counted).
    bytes: AtomicUsize,
    writer: Mutex<Writer>,
}

// SAFETY: the raw pointers are to nodes in chunks the list owns; nodes are
// immutable once published except their towers, which are atomics; the
// arena is only touched under the `writer` mutex. So sharing the list or
// moving it to another thread is as safe as for a `Vec` of atomics.
unsafe impl Send for SkipList {}
// SAFETY: as for `Send`.
unsafe impl Sync for SkipList {}

impl SkipList {
    pub(crate) fn new() -> Self {
        let mut nodes = Arena::new();
        let mut values = Arena::new();
        let head = Self::write_node(&mut nodes, &mut values, MAX_HEIGHT, &[], 0, &[]);
        SkipList {
            head,
            height: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            writer: Mutex::new(Writer {
                nodes,
                values,
                rng: 0x2545_f491,
                last: None,
                splice: [head; MAX_HEIGHT],
            }),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(AtomicOrdering::Acquire)
    }

    /// Bytes of all nodes: headers, towers, keys and values.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    /// Inserts an entry. REQUIRES: no entry with the same internal key
    /// (`key`, `trailer`) is in the list.
    pub(crate) fn insert(&self, key: &[u8], trailer: u64, value: &[u8]) {
        let mut writer = self.writer.lock();
        let writer = &mut *writer;
        let height = random_height(&mut writer.rng);
        let target = Target::new(key, trailer);
        // Ascending inserts start where the last one was linked: at each
        // level not yet passed, the last insert's predecessor (or itself)
        // is before the target and at least as far as `x`.
        let ascending = writer
            .last
            .is_some_and(|last| compare(last, &target) == Ordering::Less);
        let mut prev = [self.head; MAX_HEIGHT];
        let top = self.height.load(AtomicOrdering::Relaxed);
        let mut x = self.head;
        let mut moved = false;
        for level in (0..top).rev() {
            if ascending && !moved {
                x = writer.splice[level];
            }
            while let Some(next) = self.next(x, level) {
                if compare(next, &target) == Ordering::Less {
                    x = next;
                    moved = true;
                } else {
                    break;
                }
            }
            prev[level] = x;
        }
        let node = Self::write_node(
            &mut writer.nodes,
            &mut writer.values,
            height,
            key,
            trailer,
            value,
        );
        if height > top {
            // Readers that load the new height before the node is linked
            // find null pointers in `head` up there and step down.
            self.height.store(height, AtomicOrdering::Relaxed);
        }
        for (level, &p) in prev.iter().enumerate().take(height) {
            // SAFETY: `p` and `node` are nodes of this list, `level` is
            // below both heights (`prev` holds `head` above `top`).
            unsafe {
                let succ = tower(p, level).load(AtomicOrdering::Relaxed);
                tower(node, level).store(succ, AtomicOrdering::Relaxed);
                tower(p, level).store(node.as_ptr(), AtomicOrdering::Release);
            }
        }
        for (level, slot) in writer.splice.iter_mut().enumerate() {
            *slot = if level < height { node } else { prev[level] };
        }
        writer.last = Some(node);
        self.len.fetch_add(1, AtomicOrdering::Release);
        let size = node_size(height, key.len()) + value.len().next_multiple_of(ALIGN);
        self.bytes.fetch_add(size, AtomicOrdering::Relaxed);
    }

    /// Carves a node from `nodes` and its value from `values`, and fills
    /// them: header, null tower, key; value.
    fn write_node(
        nodes: &mut Arena,
        values: &mut Arena,
        height: usize,
        key: &[u8],
        trailer: u64,
        value: &[u8],
    ) -> Node {
        let (Ok(key_len), Ok(value_len)) = (u32::try_from(key.len()), u32::try_from(value.len()))
        else {
            // Keys and values are bounded far below 4 GiB when batched.
            panic!("memtable entry over 4 GiB");
        };
        let value_at = match value.len() {
            0 => NonNull::dangling(),
            n => values.alloc(n.next_multiple_of(ALIGN)),
        };
        let base = nodes.alloc(node_size(height, key.len()));
        let (prefix_hi, prefix_lo) = prefix(key);
        let node = base.cast::<Header>();
        // SAFETY: `base` is a fresh, exclusive, `ALIGN`-aligned allocation
        // of `node_size` bytes: room for the header, `height` tower
        // entries, the key and the value, written here before any reader
        // can reach the node.
        unsafe {
            node.as_ptr().write(Header {
                prefix_hi,
                prefix_lo,
                trailer,
                value: value_at.as_ptr(),
                key_len,
                value_len,
                height: height as u32,
            });
            for level in 0..height {
                tower_ptr(node, level).write(AtomicPtr::new(ptr::null_mut()));
            }
            let data = base
                .as_ptr()
                .add(TOWER + height * size_of::<AtomicPtr<Header>>());
            ptr::copy_nonoverlapping(key.as_ptr(), data, key.len());
            ptr::copy_nonoverlapping(value.as_ptr(), value_at.as_ptr(), value.len());
        }
        node
    }

    /// The successor of `node` at `level`. REQUIRES: `level` below the
    /// node's height.
    fn next(&self, node: Node, level: usize) -> Option<Node> {
        // SAFETY: `node` is a node of this list (the invariant), `level`
        // is below its height (the caller's promise); the `Acquire` pairs
        // with the `Release` that published the successor.
        NonNull::new(unsafe { tower(node, level) }.load(AtomicOrdering::Acquire))
    }

    /// The first entry `>= target`, or `None`.
    fn seek(&self, target: &Target<'_>) -> Option<Node> {
        let mut x = self.head;
        let mut level = self.height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            match self.next(x, level) {
                Some(next) if compare(next, target) == Ordering::Less => x = next,
                next if level == 0 => return next,
                _ => level -= 1,
            }
        }
    }

    /// The last entry `< target` (`<= target` if `inclusive`), or `None`.
    fn seek_before(&self, target: &Target<'_>, inclusive: bool) -> Option<Node> {
        let mut x = self.head;
        let mut level = self.height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            let advance = self
                .next(x, level)
                .filter(|&next| match compare(next, target) {
                    Ordering::Less => true,
                    Ordering::Equal => inclusive,
                    Ordering::Greater => false,
                });
            match advance {
                Some(next) => x = next,
                None if level == 0 => return (x != self.head).then_some(x),
                None => level -= 1,
            }
        }
    }

    /// The first entry, or `None` when empty.
    fn first(&self) -> Option<Node> {
        self.next(self.head, 0)
    }

    /// The last entry, or `None` when empty.
    fn last(&self) -> Option<Node> {
        let mut x = self.head;
        let mut level = self.height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            match self.next(x, level) {
                Some(next) => x = next,
                None if level == 0 => return (x != self.head).then_some(x),
                None => level -= 1,
            }
        }
    }
}

/// The tower entry of `node` at `level`, as a raw pointer.
///
/// # Safety
/// `node` is a node allocation of height `> level` (its tower entry may be
/// uninitialized: this only computes the address).
unsafe fn tower_ptr(node: Node, level: usize) -> *mut AtomicPtr<Header> {
    // SAFETY: the caller's promise keeps the offset within the node.
    unsafe {
        node.as_ptr()
            .cast::<u8>()
            .add(TOWER + level * size_of::<AtomicPtr<Header>>())
            .cast()
    }
}

/// The tower entry of `node` at `level`.
///
/// # Safety
/// `node` is a node of a live list with height `> level`, written by
/// `write_node` (its tower initialized).
unsafe fn tower<'a>(node: Node, level: usize) -> &'a AtomicPtr<Header> {
    // SAFETY: initialized and aligned (`TOWER` and nodes are 8-aligned),
    // and alive as long as the list, which the caller holds.
    unsafe { &*tower_ptr(node, level) }
}

/// A node's header. SAFETY of every caller: `node` is a published node
/// of a list the caller keeps alive for `'a`.
fn header<'a>(node: Node) -> &'a Header {
    // SAFETY: see above; the header is never written after publication,
    // and the reference covers the header only (not the tower, which the
    // writer may update).
    unsafe { &*node.as_ptr() }
}

/// A node's user key and value.
fn key_value<'a>(node: Node) -> (&'a [u8], &'a [u8]) {
    let h = header(node);
    // SAFETY: the key follows the tower and the value is where the header
    // says; both were written before the node was published and never
    // again; the list, which owns their chunks, lives for `'a` (the
    // cursor's `Arc`, or a borrow of the list).
    unsafe {
        let key = node
            .as_ptr()
            .cast::<u8>()
            .add(TOWER + h.height as usize * size_of::<AtomicPtr<Header>>());
        (
            std::slice::from_raw_parts(key, h.key_len as usize),
            std::slice::from_raw_parts(h.value, h.value_len as usize),
        )
    }
}

/// Orders `node`'s internal key against `target`'s: the prefixes first;
/// when they tie, the lengths decide if both keys fit in the prefix (the
/// shorter one is a prefix of the other), else the key bytes; then the
/// trailer, descending.
fn compare(node: Node, target: &Target<'_>) -> Ordering {
    let h = header(node);
    let key_len = h.key_len as usize;
    (h.prefix_hi, h.prefix_lo)
        .cmp(&target.prefix)
        .then_with(|| {
            let by_key = if key_len <= PREFIX_LEN && target.key.len() <= PREFIX_LEN {
                key_len.cmp(&target.key.len())
            } else {
                key_value(node).0.cmp(target.key)
            };
            by_key.then_with(|| target.trailer.cmp(&h.trailer))
        })
}

/// A tower height: 1, then one more with probability 1/[`BRANCHING`] each.
fn random_height(rng: &mut u32) -> usize {
    let mut height = 1;
    while height < MAX_HEIGHT {
        // xorshift32 (Marsaglia).
        *rng ^= *rng << 13;
        *rng ^= *rng >> 17;
        *rng ^= *rng << 5;
        if !rng.is_multiple_of(BRANCHING) {
            break;
        }
        height += 1;
    }
    height
}

/// A position in a list, owning an `Arc` of it: moves forward in O(1) and
/// backward in O(log n) (a search for the last entry before it).
pub(crate) struct Cursor {
    list: Arc<SkipList>,
    node: Option<Node>,
}

// SAFETY: the node pointer is into the list the cursor owns an `Arc` of;
// reading nodes from any thread is safe (see `SkipList`'s `Sync`).
unsafe impl Send for Cursor {}
// SAFETY: as for `Send`; `&Cursor` only reads.
unsafe impl Sync for Cursor {}

impl Cursor {
    /// An unpositioned cursor over `list`.
    pub(crate) fn new(list: Arc<SkipList>) -> Self {
        Cursor { list, node: None }
    }

    /// Whether it is at an entry.
    pub(crate) fn valid(&self) -> bool {
        self.node.is_some()
    }

    /// The entry's user key, trailer and value. REQUIRES: `valid()`.
    pub(crate) fn entry(&self) -> Option<(&[u8], u64, &[u8])> {
        let node = self.node?;
        let (key, value) = key_value(node);
        Some((key, header(node).trailer, value))
    }

    /// Compares the entry with `target` (`Greater` when not valid: past
    /// every bound).
    pub(crate) fn compare(&self, target: &Target<'_>) -> Ordering {
        self.node.map_or(Ordering::Greater, |n| compare(n, target))
    }

    /// To the first entry `>= target`.
    pub(crate) fn seek(&mut self, target: &Target<'_>) {
        self.node = self.list.seek(target);
    }

    /// To the last entry `< target` (`<= target` if `inclusive`).
    pub(crate) fn seek_before(&mut self, target: &Target<'_>, inclusive: bool) {
        self.node = self.list.seek_before(target, inclusive);
    }

    pub(crate) fn seek_to_first(&mut self) {
        self.node = self.list.first();
    }

    pub(crate) fn seek_to_last(&mut self) {
        self.node = self.list.last();
    }

    /// To the next entry (invalid past the last).
    pub(crate) fn next(&mut self) {
        self.node = self.node.and_then(|n| self.list.next(n, 0));
    }

    /// To the previous entry (invalid before the first).
    pub(crate) fn prev(&mut self) {
        if let Some(node) = self.node {
            let (key, _) = key_value(node);
            let target = Target::new(key, header(node).trailer);
            self.node = self.list.seek_before(&target, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `(key, Reverse(trailer))` sorts like the internal order.
    type ModelKey = (Vec<u8>, std::cmp::Reverse<u64>);

    fn collect_forward(list: &Arc<SkipList>) -> Vec<(Vec<u8>, u64, Vec<u8>)> {
        let mut c = Cursor::new(Arc::clone(list));
        c.seek_to_first();
        let mut out = Vec::new();
        while let Some((k, t, v)) = c.entry() {
            out.push((k.to_vec(), t, v.to_vec()));
            c.next();
        }
        out
    }

    fn collect_backward(list: &Arc<SkipList>) -> Vec<(Vec<u8>, u64, Vec<u8>)> {
        let mut c = Cursor::new(Arc::clone(list));
        c.seek_to_last();
        let mut out = Vec::new();
        while let Some((k, t, v)) = c.entry() {
            out.push((k.to_vec(), t, v.to_vec()));
            c.prev();
        }
        out.reverse();
        out
    }

    /// Small keys over a tiny alphabet with zeros, some longer than the
    /// prefix: ties and padding cases on every path of `compare`.
    fn keys(n: usize, seed: u64) -> Vec<(Vec<u8>, u64)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|i| {
                let len = rng.usize(0..24);
                let key = (0..len)
                    .map(|_| *rng.choice(&[0u8, 1, b'a', 0xff]).unwrap_or(&0))
                    .collect();
                (key, ((i as u64 + 1) << 8) | rng.u64(0..3))
            })
            .collect()
    }

    #[test]
    fn orders_like_the_internal_order_both_ways() {
        let n = if cfg!(miri) { 200 } else { 5_000 };
        let list = Arc::new(SkipList::new());
        let mut model: BTreeSet<ModelKey> = BTreeSet::new();
        for (key, trailer) in keys(n, 7) {
            let value = trailer.to_le_bytes();
            list.insert(&key, trailer, &value);
            model.insert((key, std::cmp::Reverse(trailer)));
        }
        let want: Vec<_> = model
            .iter()
            .map(|(k, t)| (k.clone(), t.0, t.0.to_le_bytes().to_vec()))
            .collect();
        assert_eq!(collect_forward(&list), want);
        assert_eq!(collect_backward(&list), want);
        assert_eq!(list.len(), n);
        assert!(list.bytes() >= n * (TOWER + 8));
    }

    #[test]
    fn seeks_land_where_the_model_says() {
        let n = if cfg!(miri) { 150 } else { 2_000 };
        let list = Arc::new(SkipList::new());
        let mut model: BTreeSet<ModelKey> = BTreeSet::new();
        for (key, trailer) in keys(n, 11) {
            list.insert(&key, trailer, b"v");
            model.insert((key, std::cmp::Reverse(trailer)));
        }
        let mut c = Cursor::new(Arc::clone(&list));
        for (key, trailer) in keys(n / 2, 12) {
            let probe: ModelKey = (key.clone(), std::cmp::Reverse(trailer));
            let target = Target::new(&key, trailer);
            let at = |c: &Cursor| {
                c.entry()
                    .map(|(k, t, _)| (k.to_vec(), std::cmp::Reverse(t)))
            };
            c.seek(&target);
            assert_eq!(at(&c), model.range(probe.clone()..).next().cloned());
            c.seek_before(&target, false);
            assert_eq!(at(&c), model.range(..probe.clone()).next_back().cloned());
            c.seek_before(&target, true);
            assert_eq!(at(&c), model.range(..=probe.clone()).next_back().cloned());
        }
    }

    #[test]
    fn ascending_runs_start_from_the_last_insert() {
        // Ascending runs (the splice path) broken by smaller keys (the
        // full search), with keys sharing long prefixes.
        let n = if cfg!(miri) { 120 } else { 3_000 };
        let list = Arc::new(SkipList::new());
        let mut model: BTreeSet<ModelKey> = BTreeSet::new();
        for i in 0..n as u64 {
            let run = i / 40;
            let key = format!("shared-prefix-{:04}-{:04}", (i % 40) * 7 + run % 3, run);
            let trailer = (i + 1) << 8 | 1;
            list.insert(key.as_bytes(), trailer, b"v");
            model.insert((key.into_bytes(), std::cmp::Reverse(trailer)));
        }
        let got: Vec<ModelKey> = collect_forward(&list)
            .into_iter()
            .map(|(k, t, _)| (k, std::cmp::Reverse(t)))
            .collect();
        assert_eq!(got, model.into_iter().collect::<Vec<_>>());
        assert_eq!(collect_backward(&list).len(), n);
    }

    #[test]
    fn empty_list_has_no_positions() {
        let list = Arc::new(SkipList::new());
        let mut c = Cursor::new(Arc::clone(&list));
        c.seek_to_first();
        assert!(!c.valid());
        c.seek_to_last();
        assert!(!c.valid());
        c.seek(&Target::new(b"k", 1 << 8));
        assert!(!c.valid());
        assert_eq!(list.len(), 0);
    }

    #[test]
    fn values_and_keys_of_every_size_fit_their_chunks() {
        // Sizes around each chunk's quarter and whole, from the first
        // (small) chunk on: each must land in a block big enough.
        let sizes = [
            0,
            1,
            FIRST_CHUNK / 4,
            FIRST_CHUNK / 4 + 8,
            FIRST_CHUNK - 8,
            FIRST_CHUNK + 1,
            MAX_CHUNK / 4 + 1,
            MAX_CHUNK,
        ];
        let list = Arc::new(SkipList::new());
        let mut want = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let key = vec![b'k'; n.min(FIRST_CHUNK + 1)];
            let key = [&key[..], &[i as u8]].concat();
            let value = vec![i as u8; n];
            list.insert(&key, (i as u64 + 1) << 8, &value);
            want.push((key, value));
        }
        want.sort();
        let got: Vec<_> = collect_forward(&list)
            .into_iter()
            .map(|(k, _, v)| (k, v))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn readers_see_a_consistent_list_while_one_thread_inserts() {
        let n: u64 = if cfg!(miri) { 100 } else { 20_000 };
        let list = Arc::new(SkipList::new());
        std::thread::scope(|s| {
            for _ in 0..2 {
                let list = Arc::clone(&list);
                s.spawn(move || {
                    let mut rounds = 0;
                    while rounds < 3 || list.len() < n as usize {
                        // Keys are inserted in random order; every scan
                        // must be sorted and never shrink.
                        let seen = collect_forward(&list);
                        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
                        for (k, _, v) in &seen {
                            assert_eq!(&k[..8], &v[..]);
                        }
                        rounds += 1;
                    }
                });
            }
            let mut order: Vec<u64> = (0..n).collect();
            fastrand::Rng::with_seed(3).shuffle(&mut order);
            for (i, k) in order.into_iter().enumerate() {
                let key = k.to_be_bytes();
                list.insert(
                    &[&key[..], b"-suffix-past-prefix"].concat(),
                    (i as u64 + 1) << 8,
                    &key,
                );
            }
        });
        assert_eq!(collect_forward(&list).len(), n as usize);
    }
}
