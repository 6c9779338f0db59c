use proptest::prelude::*;

use super::*;
use crate::merge::{Append, MergeError};

type Spec = (u8, SeqNo, ValueKind, &'static str);

fn opts(snapshots: &[SeqNo], bottom: bool, chunk: usize) -> CollapseOptions {
    CollapseOptions {
        snapshots: snapshots.to_vec(),
        bottom,
        merge_operator: Some(Arc::new(Append::new(","))),
        merge_batch_size: chunk,
    }
}

fn entries(specs: &[(u8, SeqNo, ValueKind, String)]) -> Vec<Entry> {
    let mut v: Vec<Entry> = specs
        .iter()
        .map(|(k, s, kind, val)| {
            (
                InternalKey::new(Bytes::from(vec![*k]), *s, *kind),
                Bytes::from(val.clone()),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn collapse(input: Vec<Entry>, o: CollapseOptions) -> Vec<Entry> {
    Collapse::new(input.into_iter().map(Ok), o)
        .map(|r| r.unwrap())
        .collect()
}

/// What a reader at `snap` sees for `key`, given `below` under the input.
fn resolve(es: &[Entry], key: u8, snap: SeqNo, below: Option<&str>) -> Option<String> {
    let mut ops: Vec<String> = Vec::new();
    let mut base: Option<String> = below.map(str::to_owned);
    for (k, v) in es
        .iter()
        .filter(|(k, _)| k.user_key[0] == key && k.seqno <= snap)
    {
        let v = String::from_utf8(v.to_vec()).unwrap();
        match k.kind {
            ValueKind::Merge => ops.push(v),
            ValueKind::Put => {
                base = Some(v);
                break;
            }
            ValueKind::Delete => {
                base = None;
                break;
            }
        }
    }
    if ops.is_empty() {
        return base;
    }
    let mut pieces: Vec<String> = base.into_iter().collect();
    pieces.extend(ops.into_iter().rev());
    Some(pieces.join(","))
}

fn specs(s: &[Spec]) -> Vec<(u8, SeqNo, ValueKind, String)> {
    s.iter()
        .map(|(k, q, kind, v)| (*k, *q, *kind, v.to_string()))
        .collect()
}

#[test]
fn full_merge_onto_a_base_and_partial_without() {
    use ValueKind::*;
    let input = entries(&specs(&[
        (1, 5, Merge, "c"),
        (1, 4, Merge, "b"),
        (1, 3, Put, "a"),
        (1, 1, Put, "old"),
    ]));
    let out = collapse(input, opts(&[], false, 100));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.kind, Put);
    assert_eq!(out[0].0.seqno, 5);
    assert_eq!(&out[0].1[..], b"a,b,c");

    let input = entries(&specs(&[(1, 5, Merge, "c"), (1, 4, Merge, "b")]));
    let out = collapse(input.clone(), opts(&[], false, 100));
    assert_eq!((out[0].0.kind, &out[0].1[..]), (Merge, &b"b,c"[..]));
    let out = collapse(input, opts(&[], true, 100));
    assert_eq!((out[0].0.kind, &out[0].1[..]), (Put, &b"b,c"[..]));
}

#[test]
fn never_merges_across_a_snapshot() {
    use ValueKind::*;
    let input = entries(&specs(&[
        (1, 5, Merge, "c"),
        (1, 4, Merge, "b"),
        (1, 3, Merge, "a"),
    ]));
    let out = collapse(input, opts(&[4], false, 100));
    let got: Vec<_> = out
        .iter()
        .map(|(k, v)| (k.seqno, k.kind, v.to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![(5, Merge, b"c".to_vec()), (4, Merge, b"a,b".to_vec())]
    );
}

struct Failing;

impl MergeOperator for Failing {
    fn name(&self) -> &str {
        "failing"
    }
    fn merge(&self, _: &[u8], _: Option<&[u8]>, op: &[u8]) -> Result<Vec<u8>, MergeError> {
        if op == b"bad" {
            Err(MergeError::new("bad operand"))
        } else {
            Ok(op.to_vec())
        }
    }
}

#[test]
fn a_failing_merge_keeps_the_operands() {
    use ValueKind::*;
    let input = entries(&specs(&[
        (1, 5, Merge, "x"),
        (1, 4, Merge, "bad"),
        (1, 3, Put, "a"),
    ]));
    let mut o = opts(&[], false, 100);
    o.merge_operator = Some(Arc::new(Failing));
    let out = collapse(input.clone(), o);
    assert_eq!(out, input);
}

proptest! {
    #[test]
    fn every_snapshot_reads_the_same(
        raw in prop::collection::vec((0u8..3, 0u8..3, 0u8..20), 0..60),
        snaps in prop::collection::btree_set(0u64..65, 0..5),
        bottom in any::<bool>(),
        chunk in 1usize..5,
    ) {
        let spec: Vec<(u8, SeqNo, ValueKind, String)> = raw.iter().enumerate().map(|(i, &(k, kind, v))| {
            let kind = match kind { 0 => ValueKind::Put, 1 => ValueKind::Delete, _ => ValueKind::Merge };
            let val = if kind == ValueKind::Delete { String::new() } else { format!("{v}") };
            (k, i as SeqNo + 1, kind, val)
        }).collect();
        let input = entries(&spec);
        let snaps: Vec<SeqNo> = snaps.into_iter().collect();
        let out = collapse(input.clone(), opts(&snaps, bottom, chunk));
        // Output stays sorted, each internal key once.
        for w in out.windows(2) {
            prop_assert!(w[0].0 < w[1].0);
        }
        let belows: &[Option<&str>] = if bottom { &[None] } else { &[None, Some("B")] };
        for &below in belows {
            for key in 0..3u8 {
                for &s in snaps.iter().chain([&SeqNo::MAX]) {
                    prop_assert_eq!(
                        resolve(&out, key, s, below),
                        resolve(&input, key, s, below),
                        "key {} snap {} below {:?}", key, s, below
                    );
                }
            }
        }
    }
}

#[test]
fn at_the_bottom_puts_every_snapshot_sees_get_seqno_zero() {
    use ValueKind::*;
    let input = entries(&specs(&[
        (1, 9, Put, "new"),
        (1, 3, Put, "old"),
        (2, 2, Put, "two"),
        (3, 8, Merge, "m"),
        (3, 7, Delete, ""),
        (3, 1, Put, "gone"),
    ]));
    // Snapshot 5: key 1's newest version (9) is above it and keeps its
    // seqno; everything at or below 5 that survives and is a Put gets 0.
    let got: Vec<(u8, SeqNo, ValueKind)> = collapse(input.clone(), opts(&[5], true, 8))
        .iter()
        .map(|(k, _)| (k.user_key[0], k.seqno, k.kind))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 9, Put),
            (1, 0, Put),
            (2, 0, Put),
            (3, 8, Put),
            (3, 0, Put)
        ]
    );
    // Without snapshots every surviving Put is seen by everyone.
    let got: Vec<(u8, SeqNo)> = collapse(input.clone(), opts(&[], true, 8))
        .iter()
        .map(|(k, _)| (k.user_key[0], k.seqno))
        .collect();
    assert_eq!(got, vec![(1, 0), (2, 0), (3, 0)]);
    // Above the bottom nothing is renumbered.
    assert!(
        collapse(input, opts(&[], false, 8))
            .iter()
            .all(|(k, _)| k.seqno > 0)
    );
}
