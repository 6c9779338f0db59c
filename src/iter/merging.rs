//! [`MergingIter`]: a heap merge of K sorted streams into one.
//!
//! # Law
//! The output is exactly the sorted union of the inputs (in the direction
//! the inputs run), each entry once. Entries with equal internal keys (which
//! the engine never produces) come out in source order: lower index first,
//! and sources are passed newest first.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;

use bytes::Bytes;

use super::InternalIter;
use crate::error::{Error, Result};
use crate::key::InternalKey;

struct HeapItem {
    key: InternalKey,
    value: Bytes,
    source: usize,
    reverse: bool,
}

impl Ord for HeapItem {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops the greatest: make the next entry to emit the
        // greatest.
        let by_key = if self.reverse {
            self.key.cmp(&other.key)
        } else {
            other.key.cmp(&self.key)
        };
        by_key.then_with(|| other.source.cmp(&self.source))
    }
}

impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for HeapItem {}

/// Merges sorted internal streams. All inputs must run in the same
/// direction, given by `reverse`.
pub struct MergingIter {
    sources: Vec<InternalIter>,
    heap: BinaryHeap<HeapItem>,
    reverse: bool,
    error: Option<Error>,
    started: bool,
}

impl MergingIter {
    /// Merges `sources`, all running forward, or all in reverse.
    pub fn new(sources: Vec<InternalIter>, reverse: bool) -> Self {
        MergingIter {
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            reverse,
            error: None,
            started: false,
        }
    }

    fn pull(&mut self, source: usize) {
        let Some(it) = self.sources.get_mut(source) else {
            return;
        };
        match it.next() {
            Some(Ok((key, value))) => self.heap.push(HeapItem {
                key,
                value,
                source,
                reverse: self.reverse,
            }),
            Some(Err(e)) if self.error.is_none() => self.error = Some(e),
            Some(Err(_)) => {}
            None => {}
        }
    }
}

impl Iterator for MergingIter {
    type Item = Result<(InternalKey, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                self.pull(i);
            }
        }
        if let Some(e) = self.error.take() {
            // An input failed: stop for good after reporting it.
            self.heap.clear();
            self.sources.clear();
            return Some(Err(e));
        }
        // Replace the top in place (one sift) rather than pop and push.
        let mut top = self.heap.peek_mut()?;
        let source = top.source;
        let next = self.sources.get_mut(source).and_then(Iterator::next);
        let out = match next {
            Some(Ok((key, value))) => std::mem::replace(
                &mut *top,
                HeapItem {
                    key,
                    value,
                    source,
                    reverse: self.reverse,
                },
            ),
            Some(Err(e)) => {
                self.error = Some(e);
                PeekMut::pop(top)
            }
            None => PeekMut::pop(top),
        };
        Some(Ok((out.key, out.value)))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::key::ValueKind;

    fn stream(entries: Vec<(Vec<u8>, u64)>, reverse: bool) -> InternalIter {
        let mut keys: Vec<InternalKey> = entries
            .into_iter()
            .map(|(k, s)| InternalKey::new(Bytes::from(k), s, ValueKind::Put))
            .collect();
        keys.sort();
        if reverse {
            keys.reverse();
        }
        Box::new(keys.into_iter().map(|k| Ok((k, Bytes::new()))))
    }

    proptest! {
        #[test]
        fn yields_the_sorted_union(
            inputs in prop::collection::vec(
                prop::collection::vec((prop::collection::vec(0u8..4, 0..3), 0u64..1000), 0..20),
                0..8),
            reverse in any::<bool>(),
        ) {
            // Unique seqnos, as the engine guarantees.
            let mut seq = 0;
            let inputs: Vec<Vec<(Vec<u8>, u64)>> = inputs.into_iter().map(|v| {
                v.into_iter().map(|(k, _)| { seq += 1; (k, seq) }).collect()
            }).collect();
            let mut want: Vec<InternalKey> = inputs.iter().flatten()
                .map(|(k, s)| InternalKey::new(Bytes::from(k.clone()), *s, ValueKind::Put))
                .collect();
            want.sort();
            if reverse { want.reverse(); }
            let sources = inputs.into_iter().map(|v| stream(v, reverse)).collect();
            let got: Vec<InternalKey> = MergingIter::new(sources, reverse)
                .map(|r| r.unwrap().0).collect();
            prop_assert_eq!(got, want);
        }
    }
}
