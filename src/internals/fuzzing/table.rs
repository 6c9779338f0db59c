//! Fuzz bodies for the table reader: [`block_decoder`] (one data block
//! behind a valid checksum, compared entry by entry with an independent
//! decoder of the spec) and [`table_scan`] (a whole table file opened
//! through the real open path on a `FaultFs`).

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::spec::{self, BlockWalk, WalkEntry, compare_keys};
use super::{Input, assert_kind, show};
use crate::error::ErrorKind;
use crate::fs::{FaultFs, Fs};
use crate::key::{InternalKey, MAX_SEQNO, ValueKind};
use crate::table::{BlockCache, Direction, Table, TableIter};
use crate::version::{TableMeta, TableRegistry};

const DIR: &str = "/fuzz";

/// Writes `file` as table 7 on a fresh `FaultFs` and opens it the way a
/// database does: through `TableFile` (read via `Fs`, then `Table::open`),
/// with a small block cache.
fn open_table(file: &[u8]) -> crate::Result<Arc<Table>> {
    let fs = FaultFs::new();
    let dir = Path::new(DIR);
    let path: PathBuf = crate::filename::table_path(dir, 7);
    fs.create_dir_all(dir).expect("mkdir");
    let mut f = fs.create(&path).expect("create");
    f.append(file).expect("append");
    f.sync().expect("sync");
    let meta = TableMeta {
        number: 7,
        run: 7,
        size: file.len() as u64,
        smallest: Bytes::new(),
        largest: Bytes::new(),
        min_seqno: 0,
        max_seqno: 0,
        entries: 0,
    };
    let cache = Arc::new(BlockCache::new(1 << 20));
    let fs: Arc<dyn Fs> = Arc::new(fs);
    let tables = TableRegistry::new(dir, fs, Some(cache), false, Arc::default(), None);
    let file = tables
        .get_or_insert(&meta)
        .expect("a fresh registry holds no other table 7");
    debug_assert_eq!(file.meta.number, 7);
    file.table()
}

fn encode(k: &InternalKey) -> Vec<u8> {
    spec::encode_key(&k.user_key, k.seqno, k.kind as u8)
}

/// What one table iterator yielded: its entries (encoded keys) and
/// whether it ended with an error.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    items: Vec<(Vec<u8>, Vec<u8>)>,
    error: bool,
}

/// Drains `it`: every error must be `Corruption` and end the iterator, and
/// it may yield at most `cap` entries (more means it loops).
fn drain(mut it: TableIter, cap: usize, what: &str) -> Scan {
    let mut s = Scan::default();
    while let Some(item) = it.next() {
        match item {
            Ok((k, v)) => {
                s.items.push((encode(&k), v.to_vec()));
                assert!(s.items.len() <= cap, "{what}: more than {cap} entries");
            }
            Err(e) => {
                assert_kind(what, &e, &[ErrorKind::Corruption]);
                assert!(it.next().is_none(), "{what}: goes on after an error");
                s.error = true;
                break;
            }
        }
    }
    s
}

/// Every version of `user_key`, newest first, through the cursor a point
/// read uses; an error must be `Corruption` and end the cursor.
fn key_versions(table: &Table, user_key: &[u8], cap: usize) -> Scan {
    let mut s = Scan::default();
    let cursor = match table.seek_versions(user_key, MAX_SEQNO) {
        Ok(Some(c)) => c,
        Ok(None) => return s,
        Err(e) => {
            assert_kind("versions", &e, &[ErrorKind::Corruption]);
            s.error = true;
            return s;
        }
    };
    for item in cursor {
        match item {
            Ok((kind, seqno, v)) => {
                s.items
                    .push((spec::encode_key(user_key, seqno, kind as u8), v.to_vec()));
                assert!(s.items.len() <= cap, "versions: more than {cap} entries");
            }
            Err(e) => {
                assert_kind("versions", &e, &[ErrorKind::Corruption]);
                s.error = true;
                break;
            }
        }
    }
    s
}

fn full(table: &Arc<Table>, direction: Direction, cap: usize, what: &str) -> Scan {
    drain(
        table.iter((Bound::Unbounded, Bound::Unbounded), direction),
        cap,
        what,
    )
}

fn pairs(entries: &[WalkEntry]) -> Vec<(Vec<u8>, Vec<u8>)> {
    entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
}

/// Arbitrary bytes as the contents of the only data block of a table that
/// is otherwise built to the spec, behind a valid checksum. The first byte
/// picks how the block is stored: 0 raw, 1 zstd-compressed by the harness,
/// 2 the rest is a zstd payload (declared length + frame) with a valid
/// checksum, 3 the rest is a whole stored block (payload, type, crc) as is.
///
/// Asserts: the table opens; a forward scan yields exactly the entries an
/// independent decoder of `block.md` finds, then an error iff that decoder
/// met a violation the spec says a reader reports; a backward scan agrees
/// whenever restart points start entries; for well-formed sorted blocks,
/// bounded scans in both directions and point lookups are exact; errors
/// are `Corruption` and end the iterator; a second pass (block cache)
/// repeats the first.
#[doc(hidden)]
pub fn block_decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.below(4);
    let rest = input.rest();
    let (stored, payload_len, contents) = match mode {
        0 => (spec::stored_block(rest, 0), rest.len(), Some(rest.to_vec())),
        1 => {
            let mut payload = (rest.len() as u32).to_le_bytes().to_vec();
            payload.extend(zstd::bulk::compress(rest, 1).expect("zstd compresses"));
            let stored = spec::stored_block(&payload, 1);
            (stored, payload.len(), Some(rest.to_vec()))
        }
        2 => (spec::stored_block(rest, 1), rest.len(), None),
        _ => {
            let len = rest.len().saturating_sub(spec::BLOCK_TRAILER_LEN);
            let (payload, trailer) = rest.split_at(len);
            let valid_raw = trailer.len() == spec::BLOCK_TRAILER_LEN
                && trailer.first() == Some(&0)
                && trailer.get(1..) == Some(&spec::block_crc(payload, 0).to_le_bytes()[..]);
            (rest.to_vec(), len, valid_raw.then(|| payload.to_vec()))
        }
    };
    let walk = contents.as_deref().map(|c| spec::walk_block(c, true));
    let well_formed = walk
        .as_ref()
        .is_some_and(|w| w.violation.is_none() && w.aligned() && w.sorted());
    let index_key = match &walk {
        Some(w) if well_formed && !w.entries.is_empty() => {
            w.entries.last().map(|e| e.key.clone()).unwrap_or_default()
        }
        _ => spec::encode_key(&[0xff; 8], 0, 0),
    };
    let file = spec::table_around(&stored, payload_len, &index_key);
    let table = open_table(&file)
        .unwrap_or_else(|e| panic!("a table built to the spec around any data block opens: {e}"));
    // Each entry takes at least 3 bytes of the block contents (at most
    // 64 MiB when the harness does not know them).
    let cap = contents.as_ref().map_or(64 << 20, Vec::len) / 3 + 2;
    let fwd = full(&table, Direction::Forward, cap, "forward scan");
    let again = full(&table, Direction::Forward, cap, "second forward scan");
    assert_eq!(fwd, again, "a second pass (block cache) differs");
    let rev = full(&table, Direction::Reverse, cap, "reverse scan");
    let Some(walk) = walk else { return };
    let expected = pairs(&walk.entries);
    assert_eq!(
        fwd.items, expected,
        "forward scan differs from the spec decoding of the block"
    );
    assert_eq!(
        fwd.error,
        walk.violation.is_some(),
        "forward scan error vs spec violation {:?}",
        walk.violation
    );
    if walk.violation.is_none() && walk.restarts_on_entries() {
        let want: Vec<_> = expected.iter().rev().cloned().collect();
        if walk.aligned() {
            assert_eq!(
                rev,
                Scan {
                    items: want,
                    error: false
                },
                "reverse scan"
            );
        } else {
            assert!(
                rev.error && want.starts_with(&rev.items),
                "reverse scan of a block whose restart entry shares bytes: {rev:?}"
            );
        }
    }
    if well_formed {
        check_seeks(&table, &walk, cap);
    }
}

/// Candidate bounds around an entry's key: the key, the key just before
/// it, the key just after it, and past every version of its user key.
fn bounds_near(key: &[u8]) -> Vec<InternalKey> {
    let Some((user, trailer)) = spec::split_key(key) else {
        return Vec::new();
    };
    let seqno = trailer >> 8;
    let kind = ValueKind::from_u8((trailer & 0xff) as u8).unwrap_or(ValueKind::Delete);
    let user = Bytes::copy_from_slice(user);
    let mut past = user.to_vec();
    past.push(0);
    vec![
        InternalKey::new(user.clone(), seqno, kind),
        InternalKey::new(user.clone(), (seqno + 1).min(MAX_SEQNO), ValueKind::Merge),
        InternalKey::new(user, seqno.saturating_sub(1), ValueKind::Delete),
        InternalKey::new(Bytes::from(past), MAX_SEQNO, ValueKind::Merge),
    ]
}

fn within(key: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    use std::cmp::Ordering::{Greater, Less};
    let above = match lo {
        Bound::Included(b) => compare_keys(key, b) != Less,
        Bound::Excluded(b) => compare_keys(key, b) == Greater,
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(b) => compare_keys(key, b) != Greater,
        Bound::Excluded(b) => compare_keys(key, b) == Less,
        Bound::Unbounded => true,
    };
    above && below
}

fn encoded_bound(b: &Bound<InternalKey>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(encode(k)),
        Bound::Excluded(k) => Bound::Excluded(encode(k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Bounded scans and point lookups of a well-formed, sorted block match
/// the spec decoding exactly.
fn check_seeks(table: &Arc<Table>, walk: &BlockWalk, cap: usize) {
    let n = walk.entries.len();
    let mut picks: Vec<usize> = [0, 1, n / 3, n / 2, n.saturating_sub(1)]
        .into_iter()
        .filter(|&i| i < n)
        .collect();
    picks.dedup();
    let keys: Vec<InternalKey> = picks
        .iter()
        .filter_map(|&i| walk.entries.get(i))
        .flat_map(|e| bounds_near(&e.key))
        .collect();
    let mut ranges = Vec::new();
    for k in &keys {
        ranges.push((Bound::Included(k.clone()), Bound::Unbounded));
        ranges.push((Bound::Excluded(k.clone()), Bound::Unbounded));
        ranges.push((Bound::Unbounded, Bound::Included(k.clone())));
        ranges.push((Bound::Unbounded, Bound::Excluded(k.clone())));
    }
    for w in keys.windows(2) {
        if let [a, b] = w {
            ranges.push((Bound::Included(a.clone()), Bound::Included(b.clone())));
            ranges.push((Bound::Excluded(a.clone()), Bound::Excluded(b.clone())));
        }
    }
    for (lo, hi) in ranges {
        let (elo, ehi) = (encoded_bound(&lo), encoded_bound(&hi));
        let want: Vec<_> = walk
            .entries
            .iter()
            .filter(|e| within(&e.key, &elo, &ehi))
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        let what = format!("scan {lo:?}..{hi:?}");
        let fwd = drain(
            table.iter((lo.clone(), hi.clone()), Direction::Forward),
            cap,
            &what,
        );
        assert_eq!(
            fwd,
            Scan {
                items: want.clone(),
                error: false
            },
            "forward {what}"
        );
        let rev = drain(table.iter((lo, hi), Direction::Reverse), cap, &what);
        let want_rev: Vec<_> = want.into_iter().rev().collect();
        assert_eq!(
            rev,
            Scan {
                items: want_rev,
                error: false
            },
            "reverse {what}"
        );
    }
    for k in &keys {
        for seqno in [k.seqno, k.seqno.saturating_sub(1), MAX_SEQNO] {
            let want = walk.entries.iter().find(|e| {
                spec::split_key(&e.key)
                    .is_some_and(|(u, t)| u == k.user_key.as_ref() && t >> 8 <= seqno)
            });
            let got = table
                .get(&k.user_key, seqno)
                .unwrap_or_else(|e| panic!("get({}, {seqno}): {e}", show(&k.user_key)));
            let got = got.map(|(kind, s, v)| (spec::encode_key(&k.user_key, s, kind as u8), v));
            let want = want.map(|e| (e.key.clone(), Bytes::copy_from_slice(&e.value)));
            assert_eq!(got, want, "get({}, {seqno})", show(&k.user_key));
        }
    }
}

/// Arbitrary bytes as a table file, opened through the real open path
/// (`TableFile` on a `FaultFs`, `Table::open`). The first byte's low bit
/// asks the harness to make the checksums valid first (footer, meta
/// blocks, data blocks named by the index), so the fuzzer reaches the
/// decoding behind them.
///
/// Asserts: open and every scan either succeed or fail with `Corruption`
/// (never a panic); an error ends the iterator; scans terminate. For a
/// table that is consistent the way the writer makes tables
/// (`spec::consistent_table`, checked independently of the reader):
/// a forward scan yields exactly its entries, so in strictly increasing
/// internal-key order, with no error; a backward scan the same reversed;
/// and a point lookup of each user key finds its newest version and
/// `versions` all of them. (An inconsistent table with forged checksums
/// may read back out of order: the reader does not cross-check.)
#[doc(hidden)]
pub fn table_scan(data: &[u8]) {
    let mut input = Input::new(data);
    let fix = input.u8() & 1 == 1;
    let mut file = input.rest().to_vec();
    if fix {
        spec::fix_checksums(&mut file);
    }
    let table = match open_table(&file) {
        Ok(t) => t,
        Err(e) => return assert_kind("table open", &e, &[ErrorKind::Corruption]),
    };
    let cap = (file.len() / 3 + 2).saturating_mul(file.len() / 3 + 2);
    let fwd = full(&table, Direction::Forward, cap, "forward scan");
    let rev = full(&table, Direction::Reverse, cap, "reverse scan");
    let Some(entries) = spec::consistent_table(&file) else {
        return;
    };
    let want = pairs(&entries);
    assert_eq!(
        fwd,
        Scan {
            items: want.clone(),
            error: false
        },
        "forward scan of a consistent table"
    );
    let want_rev: Vec<_> = want.iter().rev().cloned().collect();
    assert_eq!(
        rev,
        Scan {
            items: want_rev,
            error: false
        },
        "reverse scan of a consistent table"
    );
    let mut user_keys: Vec<&[u8]> = want
        .iter()
        .filter_map(|(k, _)| spec::split_key(k).map(|(u, _)| u))
        .collect();
    user_keys.dedup();
    for uk in user_keys.into_iter().take(64) {
        let versions: Vec<_> = want
            .iter()
            .filter(|(k, _)| spec::split_key(k).is_some_and(|(u, _)| u == uk))
            .cloned()
            .collect();
        let got = table
            .get(uk, MAX_SEQNO)
            .unwrap_or_else(|e| panic!("get({}): {e}", show(uk)))
            .map(|(kind, s, v)| (spec::encode_key(uk, s, kind as u8), v.to_vec()));
        assert_eq!(got.as_ref(), versions.first(), "get({})", show(uk));
        let listed = key_versions(&table, uk, cap);
        assert_eq!(
            listed,
            Scan {
                items: versions,
                error: false
            },
            "versions({})",
            show(uk)
        );
    }
}

/// How many entries a forward scan of `file` yields (0 if it does not
/// open), for tests of the seeds.
#[cfg(test)]
pub(crate) fn scan_count(file: &[u8]) -> usize {
    open_table(file).map_or(0, |t| {
        full(&t, Direction::Forward, usize::MAX, "count")
            .items
            .len()
    })
}
