//! [`Collapse`]: rewrites a sorted stream of versions into fewer versions
//! without changing what any reader can see. Used by flush (and compaction).
//!
//! Input: internal entries in ascending internal-key order (each user key's
//! versions newest first). A key's versions are cut into **stripes** at
//! snapshot boundaries: two neighbouring versions `newer`, `older` are in
//! different stripes when a live snapshot `s` has `older <= s < newer`.
//! Every reader sees, per stripe, only the stripe's newest state, so within
//! a stripe:
//!
//! - a Put or Delete hides every older version of the stripe;
//! - operands above a Put/Delete (the *base*) are **full-merged** with it
//!   into one Put, at the newest operand's sequence number;
//! - operands with no base in the stripe are **partially merged** into one
//!   operand (the associativity law of [`crate::merge`]), or, at the bottom
//!   of the tree in the key's oldest stripe, full-merged with no base.
//!
//! Nothing is ever merged across a stripe boundary. Operands are folded in
//! chunks of `merge_batch_size`, so memory stays bounded however many
//! operands a key has. A failing merge loses nothing: the stripe's
//! operands that were not yet merged are written out unchanged (an already
//! merged newer part stays one operand, which is equivalent by the law).
//!
//! At the bottom (no older version of any key can exist below the input)
//! tombstones with no surviving older version of their key are dropped:
//! "absent" needs no marker there, whatever snapshot reads it; and a Put
//! that every live snapshot sees is written with sequence number 0.
//!
//! # Law
//! For every live snapshot and for the latest state, resolving any user key
//! over the output gives the same answer as over the input.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;
use crate::key::{InternalKey, SeqNo, ValueKind};
use crate::merge::MergeOperator;
use crate::merge::resolve::NewestFirst;

type Entry = (InternalKey, Bytes);

/// A merge-operand entry as the fold sees it: its value.
struct Operand(Entry);

impl AsRef<[u8]> for Operand {
    fn as_ref(&self) -> &[u8] {
        &self.0.1
    }
}

/// Whether a snapshot in `snapshots` (sorted ascending) separates the
/// version `older` from the next newer one, `newer`.
fn snapshot_between(older: SeqNo, newer: SeqNo, snapshots: &[SeqNo]) -> bool {
    let idx = snapshots.partition_point(|&s| s < older);
    snapshots.get(idx).is_some_and(|&s| s < newer)
}

/// What to do with the next entry of the current stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The next entry starts a stripe.
    Start,
    /// The rest of the stripe is hidden: drop it.
    Skip,
    /// A merge failed: copy the stripe's operands unchanged.
    Copy,
}

/// How collapsing is configured.
#[derive(Clone)]
pub(crate) struct CollapseOptions {
    /// Live snapshot sequence numbers, sorted ascending.
    pub snapshots: Vec<SeqNo>,
    /// Whether no older version of any key exists below the input.
    pub bottom: bool,
    pub merge_operator: Option<Arc<dyn MergeOperator>>,
    pub merge_batch_size: usize,
}

/// Iterator adapter that collapses versions; see the module docs.
pub(crate) struct Collapse<I> {
    input: I,
    peeked: Option<Entry>,
    opts: CollapseOptions,
    out: VecDeque<Entry>,
    /// The user key being processed and its previous version's seqno.
    current: Option<(Bytes, SeqNo)>,
    mode: Mode,
    /// At the bottom: tombstones held until we know whether an older
    /// version of their key survives (at most one per stripe).
    held: Vec<Entry>,
    /// Entries released by the bottom logic, in order.
    ready: VecDeque<Entry>,
    failed: bool,
}

impl<I> Collapse<I>
where
    I: Iterator<Item = Result<Entry>>,
{
    pub(crate) fn new(input: I, opts: CollapseOptions) -> Self {
        debug_assert!(opts.snapshots.windows(2).all(|w| w[0] <= w[1]));
        Collapse {
            input,
            peeked: None,
            opts,
            out: VecDeque::new(),
            current: None,
            mode: Mode::Start,
            held: Vec::new(),
            ready: VecDeque::new(),
            failed: false,
        }
    }

    fn peek(&mut self) -> Result<Option<&Entry>> {
        if self.peeked.is_none() {
            self.peeked = self.input.next().transpose()?;
        }
        Ok(self.peeked.as_ref())
    }

    /// Takes the peeked entry, tracking stripes: returns it and whether it
    /// starts a new stripe (or key).
    fn take(&mut self) -> Option<(Entry, bool)> {
        let entry = self.peeked.take()?;
        let starts = match &self.current {
            Some((key, newer)) if *key == entry.0.user_key => {
                snapshot_between(entry.0.seqno, *newer, &self.opts.snapshots)
            }
            _ => true,
        };
        self.current = Some((entry.0.user_key.clone(), entry.0.seqno));
        Some((entry, starts))
    }

    /// Whether the peeked entry continues the current stripe.
    fn continues_stripe(&mut self) -> Result<bool> {
        let snapshots = &self.opts.snapshots;
        let current = &self.current;
        Ok(match (self.peeked.as_ref(), current) {
            (Some((k, _)), Some((key, newer))) => {
                *key == k.user_key && !snapshot_between(k.seqno, *newer, snapshots)
            }
            _ => false,
        })
    }

    /// Produces the collapsed output for the stream's next entries into
    /// `out`. Returns `false` at the end of the input.
    fn step(&mut self) -> Result<bool> {
        if self.peek()?.is_none() {
            return Ok(false);
        }
        let Some((entry, starts)) = self.take() else {
            return Ok(false);
        };
        if starts {
            self.mode = Mode::Start;
        }
        match self.mode {
            Mode::Skip => {}
            Mode::Copy => {
                if entry.0.kind != ValueKind::Merge {
                    self.mode = Mode::Skip;
                }
                self.out.push_back(entry);
            }
            Mode::Start => match entry.0.kind {
                ValueKind::Put | ValueKind::Delete => {
                    self.out.push_back(entry);
                    self.mode = Mode::Skip;
                }
                ValueKind::Merge => match self.opts.merge_operator.clone() {
                    Some(op) => self.fold_stripe(op.as_ref(), entry)?,
                    None => {
                        // No operator (opened without one): keep operands.
                        self.out.push_back(entry);
                        self.mode = Mode::Copy;
                    }
                },
            },
        }
        Ok(true)
    }

    /// Folds a stripe that starts with the operand `first`, with the
    /// crate's one chunked fold ([`NewestFirst`]) over whole entries.
    fn fold_stripe(&mut self, op: &dyn MergeOperator, first: Entry) -> Result<()> {
        let user_key = first.0.user_key.clone();
        let newest = first.0.seqno;
        let mut fold = NewestFirst::new(op, &user_key, self.opts.merge_batch_size);
        if let Err(e) = fold.push(Operand(first)) {
            self.keep_unmerged(&user_key, newest, fold, &e);
            self.mode = Mode::Copy;
            return Ok(());
        }
        loop {
            self.peek()?;
            if !self.continues_stripe()? {
                break;
            }
            let Some((entry, _)) = self.take() else { break };
            match entry.0.kind {
                ValueKind::Merge => {
                    if let Err(e) = fold.push(Operand(entry)) {
                        self.keep_unmerged(&user_key, newest, fold, &e);
                        self.mode = Mode::Copy;
                        return Ok(());
                    }
                }
                ValueKind::Put | ValueKind::Delete => {
                    let base = (entry.0.kind == ValueKind::Put).then_some(entry.1.as_ref());
                    match fold.finish(base) {
                        Ok(v) => self.emit(&user_key, newest, ValueKind::Put, v),
                        Err(e) => {
                            self.keep_unmerged(&user_key, newest, fold, &e);
                            self.out.push_back(entry);
                        }
                    }
                    self.mode = Mode::Skip;
                    return Ok(());
                }
            }
        }
        // No base in the stripe.
        let key_ends = self
            .peeked
            .as_ref()
            .is_none_or(|(k, _)| k.user_key != user_key);
        let kind = if self.opts.bottom && key_ends {
            ValueKind::Put
        } else if fold.is_single() {
            let (_, chunk) = fold.into_parts();
            self.out.extend(chunk.into_iter().map(|o| o.0));
            self.mode = Mode::Start;
            return Ok(());
        } else {
            ValueKind::Merge
        };
        match fold.finish(None) {
            Ok(v) => self.emit(&user_key, newest, kind, v),
            Err(e) => self.keep_unmerged(&user_key, newest, fold, &e),
        }
        self.mode = Mode::Start;
        Ok(())
    }

    fn emit(&mut self, user_key: &Bytes, seqno: SeqNo, kind: ValueKind, value: Vec<u8>) {
        self.out.push_back((
            InternalKey::new(user_key.clone(), seqno, kind),
            Bytes::from(value),
        ));
    }

    /// After a failed merge: the merged newer part as one operand, then the
    /// unmerged operands as they were.
    fn keep_unmerged(
        &mut self,
        user_key: &Bytes,
        newest: SeqNo,
        fold: NewestFirst<'_, Operand>,
        err: &crate::merge::MergeError,
    ) {
        tracing::warn!(error = %err, "merge failed while collapsing; operands kept as they were");
        let (acc, chunk) = fold.into_parts();
        if let Some(a) = acc {
            self.emit(user_key, newest, ValueKind::Merge, a);
        }
        self.out.extend(chunk.into_iter().map(|o| o.0));
    }

    /// At the bottom, a Put that every live snapshot sees (its sequence
    /// number is at or below the oldest one) gets sequence number 0: no
    /// reader can tell the difference, it is the key's only version at or
    /// below that snapshot (the stripe's newest state hides the rest), and
    /// zeros compress: the trailers of a fully compacted tree then cost
    /// next to nothing on disk (RocksDB does the same). Operands keep
    /// theirs: a failed merge may leave several, which must stay distinct.
    fn zero_seqno(&self, mut entry: Entry) -> Entry {
        if entry.0.kind == ValueKind::Put
            && self
                .opts
                .snapshots
                .first()
                .is_none_or(|&oldest| entry.0.seqno <= oldest)
        {
            entry.0.seqno = 0;
        }
        entry
    }

    /// The next collapsed entry, before bottom tombstone dropping.
    fn next_collapsed(&mut self) -> Option<Result<Entry>> {
        loop {
            if let Some(e) = self.out.pop_front() {
                return Some(Ok(e));
            }
            match self.step() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<I> Iterator for Collapse<I>
where
    I: Iterator<Item = Result<Entry>>,
{
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if !self.opts.bottom {
            let r = self.next_collapsed();
            self.failed = matches!(r, Some(Err(_)));
            return r;
        }
        // At the bottom, tombstones are held until the key's next surviving
        // version shows whether they hide anything: a Put or operand below
        // keeps them all; the end of the key means only "absent" lies below,
        // so every held tombstone is redundant and dropped.
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(Ok(e));
            }
            let entry = match self.next_collapsed() {
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                None => {
                    self.held.clear();
                    return None;
                }
            };
            if self
                .held
                .first()
                .is_some_and(|(k, _)| k.user_key != entry.0.user_key)
            {
                self.held.clear();
            }
            if entry.0.kind == ValueKind::Delete {
                self.held.push(entry);
            } else {
                self.ready.extend(self.held.drain(..));
                let entry = self.zero_seqno(entry);
                self.ready.push_back(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests;
