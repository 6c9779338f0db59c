//! The model every scenario compares the database with — a `BTreeMap` from
//! user keys to resolved values — and the one set of helpers that read a
//! database or a snapshot into plain pairs and compare them with it.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use rillkv::{Db, DbIter, ErrorKind, Keyspace, Snapshot};

/// User keys to resolved values: what the database must show.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// A list of `(key, value)` pairs as plain vectors.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One iterator item with the error reduced to its kind (per-key merge
/// errors do not end an iteration).
pub type Item = Result<(Vec<u8>, Vec<u8>), ErrorKind>;

/// The pairs of `model` in key order.
pub fn pairs(model: &Model) -> Pairs {
    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

// ---------------------------------------------------------------------------
// Draining iterators.

/// Drains `items` (an iterator, or part of one) in the order they come,
/// failing the test on the first error.
pub fn collect(items: impl IntoIterator<Item = rillkv::Result<(Bytes, Bytes)>>) -> Pairs {
    items
        .into_iter()
        .map(|r| {
            let (k, v) = r.expect("iterator yielded an error");
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// Drains an iterator backwards: the pairs in descending key order.
pub fn collect_rev(iter: DbIter) -> Pairs {
    collect(iter.rev())
}

/// Drains any item stream, keeping errors as their kinds.
pub fn collect_items(iter: impl Iterator<Item = rillkv::Result<(Bytes, Bytes)>>) -> Vec<Item> {
    iter.map(|r| {
        r.map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(|e| e.kind())
    })
    .collect()
}

/// Takes from the front and the back in turn; returns the pairs in key
/// order.
pub fn collect_alternating(iter: DbIter) -> Pairs {
    let mut from_front = false;
    collect_both_ends(iter, || {
        from_front = !from_front;
        from_front
    })
}

/// Takes from the front or the back, picking the end at random from
/// `seed`; returns the pairs in key order. Mixing ends must still yield
/// each key exactly once.
pub fn collect_zigzag(iter: DbIter, seed: u64) -> Pairs {
    let mut rng = fastrand::Rng::with_seed(seed);
    collect_both_ends(iter, || rng.bool())
}

/// Drains `iter` from the front when `front()` says so, else from the
/// back; returns the pairs in key order.
fn collect_both_ends(mut iter: DbIter, mut front: impl FnMut() -> bool) -> Pairs {
    let mut head = Vec::new();
    let mut tail = Vec::new();
    loop {
        let from_front = front();
        let item = if from_front {
            iter.next()
        } else {
            iter.next_back()
        };
        let Some(item) = item else { break };
        let (k, v) = item.expect("iterator yielded an error");
        let pair = (k.to_vec(), v.to_vec());
        if from_front {
            head.push(pair);
        } else {
            tail.push(pair);
        }
    }
    tail.reverse();
    head.extend(tail);
    head
}

/// The whole database as a model, through a forward scan; a scan error
/// fails the test.
pub fn read_all(db: &Db) -> Model {
    collect(db.iter()).into_iter().collect()
}

/// The whole database as a model, through a forward scan, or the first
/// scan error.
pub fn scan_all(db: &Db) -> rillkv::Result<Model> {
    db.iter()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect()
}

// ---------------------------------------------------------------------------
// The model side.

/// Whether `(lo, hi)` is an empty (or inverted) interval, which
/// `BTreeMap::range` would panic on.
pub fn bounds_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

/// The pairs of `model` within `(lo, hi)`, in key order.
pub fn model_range(model: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Pairs {
    if bounds_empty(lo, hi) {
        return Vec::new();
    }
    model
        .range::<Vec<u8>, _>((lo.clone(), hi.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The pairs of `model` whose keys start with `prefix`.
pub fn model_prefix(model: &Model, prefix: &[u8]) -> Pairs {
    model
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------
// Comparing a view with the model.

/// Something that reads like a database at one point in time: a [`Db`] or a
/// [`Snapshot`] (their default keyspace), a [`Keyspace`], or one keyspace
/// of a snapshot ([`SnapshotIn`]).
pub trait View {
    /// A point lookup; an error fails the test.
    fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// An iterator over `(lo, hi)`.
    fn range_iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> DbIter;
    /// An iterator over the keys starting with `prefix`.
    fn prefix_iter(&self, prefix: &[u8]) -> DbIter;
}

impl View for Db {
    fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key).expect("get failed").map(|v| v.to_vec())
    }
    fn range_iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> DbIter {
        self.range((lo, hi))
    }
    fn prefix_iter(&self, prefix: &[u8]) -> DbIter {
        self.prefix(prefix)
    }
}

impl View for Snapshot {
    fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
            .expect("snapshot get failed")
            .map(|v| v.to_vec())
    }
    fn range_iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> DbIter {
        self.range((lo, hi))
    }
    fn prefix_iter(&self, prefix: &[u8]) -> DbIter {
        self.prefix(prefix)
    }
}

impl View for Keyspace {
    fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
            .expect("keyspace get failed")
            .map(|v| v.to_vec())
    }
    fn range_iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> DbIter {
        self.range((lo, hi))
    }
    fn prefix_iter(&self, prefix: &[u8]) -> DbIter {
        self.prefix(prefix)
    }
}

/// One keyspace of a snapshot (`Snapshot::get_in`, `range_in`,
/// `prefix_in`), read as a view.
pub struct SnapshotIn<'a>(pub &'a Snapshot, pub &'a Keyspace);

impl View for SnapshotIn<'_> {
    fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0
            .get_in(self.1, key)
            .expect("snapshot get_in failed")
            .map(|v| v.to_vec())
    }
    fn range_iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> DbIter {
        self.0.range_in(self.1, (lo, hi))
    }
    fn prefix_iter(&self, prefix: &[u8]) -> DbIter {
        self.0.prefix_in(self.1, prefix)
    }
}

/// Checks `view` against `model`: a point lookup of every model key and of
/// every `probes` key, full forward and reverse scans, and scans taking
/// from both ends (in turn, and at random).
pub fn assert_view_matches(
    view: &(impl View + ?Sized),
    model: &Model,
    probes: &[Vec<u8>],
    ctx: &str,
) {
    for k in model.keys().chain(probes) {
        let got = view.get_vec(k);
        let want = model.get(k);
        assert!(
            got.as_ref() == want,
            "{ctx}: get({}) = {:?} disagrees with the model's {:?}",
            show(k),
            got.as_deref().map(show),
            want.map(|v| show(v))
        );
    }
    let want = pairs(model);
    let all = || view.range_iter(Bound::Unbounded, Bound::Unbounded);
    assert_pairs_eq(&collect(all()), &want, &format!("{ctx}: forward scan"));
    let mut rev = collect_rev(all());
    rev.reverse();
    assert_pairs_eq(&rev, &want, &format!("{ctx}: reverse scan"));
    assert_pairs_eq(
        &collect_alternating(all()),
        &want,
        &format!("{ctx}: alternating next/next_back"),
    );
    assert_pairs_eq(
        &collect_zigzag(all(), want.len() as u64),
        &want,
        &format!("{ctx}: scan from both ends at random"),
    );
}

/// Checks one range of `view` against `model`, both directions.
pub fn assert_range_matches(
    view: &(impl View + ?Sized),
    model: &Model,
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    ctx: &str,
) {
    let want = model_range(model, lo, hi);
    let fwd = collect(view.range_iter(lo.clone(), hi.clone()));
    assert_pairs_eq(&fwd, &want, &format!("{ctx}: range {lo:?}..{hi:?} forward"));
    let mut rev = collect_rev(view.range_iter(lo.clone(), hi.clone()));
    rev.reverse();
    assert_pairs_eq(&rev, &want, &format!("{ctx}: range {lo:?}..{hi:?} reverse"));
}

/// Checks one prefix scan of `view` against `model`, both directions.
pub fn assert_prefix_matches(view: &(impl View + ?Sized), model: &Model, prefix: &[u8], ctx: &str) {
    let want = model_prefix(model, prefix);
    let fwd = collect(view.prefix_iter(prefix));
    assert_pairs_eq(
        &fwd,
        &want,
        &format!("{ctx}: prefix {} forward", show(prefix)),
    );
    let mut rev = collect_rev(view.prefix_iter(prefix));
    rev.reverse();
    assert_pairs_eq(
        &rev,
        &want,
        &format!("{ctx}: prefix {} reverse", show(prefix)),
    );
}

/// `assert_eq!` for pair lists with a readable first difference.
pub fn assert_pairs_eq(got: &Pairs, want: &Pairs, ctx: &str) {
    if got == want {
        return;
    }
    let first = got
        .iter()
        .zip(want.iter())
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    let g = got.get(first).map(|(k, v)| (show(k), show(v)));
    let w = want.get(first).map(|(k, v)| (show(k), show(v)));
    panic!(
        "{ctx}: got {} pairs, want {}; first difference at #{first}: got {g:?}, want {w:?}",
        got.len(),
        want.len()
    );
}

/// Bytes as a readable string: printable ASCII as it is, an 8-byte binary
/// value as the `u64` it encodes (little-endian, as the counters), other
/// bytes as hex (the first 16, and the length).
pub fn show(b: &[u8]) -> String {
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        String::from_utf8_lossy(b).into_owned()
    } else if b.len() == 8 {
        format!("u64:{}", u64::from_le_bytes(b.try_into().expect("8 bytes")))
    } else {
        let hex: String = b.iter().take(16).map(|c| format!("{c:02x}")).collect();
        format!("0x{hex}…({} bytes)", b.len())
    }
}
