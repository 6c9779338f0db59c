//! [`Collapse`]: drops versions that no reader can see.
//!
//! Input: internal entries in ascending internal-key order (each user key's
//! versions newest first). Output: the same order, keeping for each user key
//! exactly the versions some reader can see:
//!
//! - the newest version (what a new read sees);
//! - a version `v` whose next newer kept neighbour is `n` when a live
//!   snapshot `s` has `v.seqno <= s < n.seqno` (what that snapshot sees).
//!
//! At the bottom of the tree (no older version of any key can exist below
//! the input) a tombstone that is the oldest kept version of its key is
//! dropped too: reading "absent" needs no marker there.
//!
//! # Law
//! For every live snapshot `s` and the latest state, resolving any user key
//! over the output gives the same answer as over the input.

use bytes::Bytes;

use crate::error::Result;
use crate::key::{InternalKey, SeqNo, ValueKind};

/// Whether a snapshot in `snapshots` (sorted ascending) sees the version
/// with `seqno` when its next newer version has `newer`.
fn seen_by_snapshot(seqno: SeqNo, newer: SeqNo, snapshots: &[SeqNo]) -> bool {
    let idx = snapshots.partition_point(|&s| s < seqno);
    snapshots.get(idx).is_some_and(|&s| s < newer)
}

/// Iterator adapter that collapses versions; see the module docs.
pub(crate) struct Collapse<I> {
    input: I,
    snapshots: Vec<SeqNo>,
    bottom: bool,
    /// The user key being processed and the seqno of its last kept version.
    current: Option<(Bytes, SeqNo)>,
    /// At the bottom: a tombstone held back until we know whether an older
    /// version of its key is kept.
    held: Option<(InternalKey, Bytes)>,
    /// The next entry to emit once `held` is settled.
    ready: Option<(InternalKey, Bytes)>,
    done: bool,
}

impl<I> Collapse<I>
where
    I: Iterator<Item = Result<(InternalKey, Bytes)>>,
{
    /// `snapshots` must be sorted ascending.
    pub(crate) fn new(input: I, snapshots: Vec<SeqNo>, bottom: bool) -> Self {
        debug_assert!(snapshots.windows(2).all(|w| w[0] <= w[1]));
        Collapse {
            input,
            snapshots,
            bottom,
            current: None,
            held: None,
            ready: None,
            done: false,
        }
    }

    /// The next entry the rules keep, before tombstone holding.
    fn next_kept(&mut self) -> Option<Result<(InternalKey, Bytes)>> {
        loop {
            let (key, value) = match self.input.next()? {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
            let keep = match &self.current {
                Some((user_key, newer)) if *user_key == key.user_key => {
                    seen_by_snapshot(key.seqno, *newer, &self.snapshots)
                }
                _ => true,
            };
            if keep {
                self.current = Some((key.user_key.clone(), key.seqno));
                return Some(Ok((key, value)));
            }
        }
    }
}

impl<I> Iterator for Collapse<I>
where
    I: Iterator<Item = Result<(InternalKey, Bytes)>>,
{
    type Item = Result<(InternalKey, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.bottom {
            return self.next_kept();
        }
        loop {
            if let Some(e) = self.ready.take() {
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            let next = match self.next_kept() {
                Some(Ok(e)) => Some(e),
                Some(Err(e)) => return Some(Err(e)),
                None => None,
            };
            let Some((key, value)) = next else {
                // End of input: a held tombstone is the oldest of its key.
                self.done = true;
                self.held = None;
                continue;
            };
            // A held tombstone of another key was the oldest of its key and
            // is dropped; of the same key, an older version is kept after
            // it, so it must stay.
            if let Some((held_key, held_value)) = self.held.take()
                && held_key.user_key == key.user_key
            {
                self.hold_or_ready(key, value);
                return Some(Ok((held_key, held_value)));
            }
            self.hold_or_ready(key, value);
        }
    }
}

impl<I> Collapse<I> {
    fn hold_or_ready(&mut self, key: InternalKey, value: Bytes) {
        if key.kind == ValueKind::Delete {
            self.held = Some((key, value));
        } else {
            self.ready = Some((key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    type Entry = (u8, SeqNo, ValueKind);

    fn run(entries: &[Entry], snapshots: &[SeqNo], bottom: bool) -> Vec<Entry> {
        let mut keys: Vec<InternalKey> = entries
            .iter()
            .map(|&(k, s, kind)| InternalKey::new(Bytes::from(vec![k]), s, kind))
            .collect();
        keys.sort();
        let input = keys.into_iter().map(|k| Ok((k, Bytes::new())));
        Collapse::new(input, snapshots.to_vec(), bottom)
            .map(|r| {
                let (k, _) = r.unwrap();
                (k.user_key[0], k.seqno, k.kind)
            })
            .collect()
    }

    /// What a reader at `snap` sees for key `k`: Some(seqno of a Put) or None.
    fn resolve(entries: &[Entry], k: u8, snap: SeqNo) -> Option<SeqNo> {
        entries
            .iter()
            .filter(|e| e.0 == k && e.1 <= snap)
            .max_by_key(|e| e.1)
            .and_then(|e| (e.2 == ValueKind::Put).then_some(e.1))
    }

    #[test]
    fn keeps_newest_and_snapshot_versions() {
        use ValueKind::*;
        let input = [(1, 10, Put), (1, 7, Put), (1, 5, Delete), (1, 2, Put)];
        assert_eq!(run(&input, &[], false), vec![(1, 10, Put)]);
        assert_eq!(run(&input, &[6], false), vec![(1, 10, Put), (1, 5, Delete)]);
        assert_eq!(
            run(&input, &[3, 8], false),
            vec![(1, 10, Put), (1, 7, Put), (1, 2, Put)]
        );
    }

    #[test]
    fn bottom_drops_oldest_tombstones_only() {
        use ValueKind::*;
        assert_eq!(run(&[(1, 9, Delete), (1, 3, Put)], &[], true), vec![]);
        assert_eq!(
            run(&[(1, 9, Delete), (1, 3, Put)], &[4], true),
            vec![(1, 9, Delete), (1, 3, Put)]
        );
        assert_eq!(
            run(&[(1, 9, Delete), (2, 3, Put)], &[], true),
            vec![(2, 3, Put)]
        );
    }

    proptest! {
        #[test]
        fn every_snapshot_reads_the_same(
            raw in prop::collection::vec((0u8..4, any::<bool>()), 0..40),
            snaps in prop::collection::btree_set(0u64..45, 0..5),
            bottom in any::<bool>(),
        ) {
            let entries: Vec<Entry> = raw.iter().enumerate().map(|(i, &(k, put))| {
                (k, i as SeqNo + 1, if put { ValueKind::Put } else { ValueKind::Delete })
            }).collect();
            let snaps: Vec<SeqNo> = snaps.into_iter().collect();
            let out = run(&entries, &snaps, bottom);
            let latest = SeqNo::MAX;
            for k in 0..4u8 {
                for &s in snaps.iter().chain([&latest]) {
                    prop_assert_eq!(resolve(&out, k, s), resolve(&entries, k, s));
                }
            }
        }
    }
}
