//! [`DbIter`]: the user-facing iterator, double-ended.
//!
//! It keeps one merged stream per direction, built lazily from the same
//! pinned sources: a forward stream from the lower bound and a reverse
//! stream from the upper bound. Each end remembers the last key it yielded;
//! the two ends stop where they meet, so mixing `next` and `next_back`
//! yields every key exactly once.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::{Reader, SeqPin};
use crate::error::{Error, ErrorKind, Result};
use crate::event::CorruptionContext;
use crate::iter::MergingIter;
use crate::key::{InternalKey, KeyspaceId, SeqNo, UserBounds, ValueKind};
use crate::merge::resolve::{NewestFirst, OldestFirst, merge_failed, no_operator};
use crate::table::Direction;
use crate::tree::{MergeSettings, ReadView};

/// Iterates `(key, value)` pairs in key order, or in reverse with `.rev()`.
///
/// Owned and `'static`: it pins the sequence number and the memtables and
/// tables it reads, so it keeps working across writes, flushes and
/// compactions and sees none of them. Holding it keeps that data alive.
///
/// An error (`Corruption`, `Io`, `Closed`) is yielded once; the iterator
/// then ends. A failed merge (`MergeOperator`) concerns one key: it is
/// yielded for that key and iteration goes on.
///
/// Merge operands are resolved as in [`Db::get`](crate::Db::get), in bounded
/// memory in both directions.
pub struct DbIter {
    pin: SeqPin,
    /// `None` when the keyspace was dropped before the iterator was made
    /// (`pending_error` says so).
    view: Option<ReadView>,
    lower: Bound<Bytes>,
    upper: Bound<Bytes>,
    front: Option<Forward>,
    back: Option<Backward>,
    /// Last key yielded from the front / the back.
    front_last: Option<Bytes>,
    back_last: Option<Bytes>,
    /// An error to report before anything else (the database was closed).
    pending_error: Option<Error>,
    done: bool,
}

impl std::fmt::Debug for DbIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIter")
            .field("seqno", &self.pin.seqno())
            .field("lower", &self.lower)
            .field("upper", &self.upper)
            .finish()
    }
}

impl DbIter {
    /// An iterator over `bounds` at `seqno` (a snapshot's, pinned again
    /// here), or at the newest sequence number for `None`.
    pub(crate) fn new(
        reader: Arc<dyn Reader>,
        keyspace: KeyspaceId,
        seqno: Option<SeqNo>,
        bounds: UserBounds,
    ) -> Self {
        let mut pending_error = reader.check_open().err();
        // Pin first, then take the super version: it holds every version
        // the pinned sequence number can see.
        let pin = match seqno {
            Some(s) => SeqPin::again(reader, s),
            None => SeqPin::latest(reader),
        };
        let view = match pin.reader().view_at(keyspace, pin.seqno()) {
            Ok(view) => Some(view),
            Err(e) => {
                pending_error.get_or_insert(e);
                None
            }
        };
        let (lower, upper) = bounds;
        DbIter {
            pin,
            view,
            lower,
            upper,
            front: None,
            back: None,
            front_last: None,
            back_last: None,
            pending_error,
            done: false,
        }
    }

    /// The view's sequence number and merge settings.
    fn view_merge(&self) -> (SeqNo, MergeSettings) {
        match &self.view {
            Some(v) => (v.seqno(), v.merge().clone()),
            None => (self.pin.seqno(), MergeSettings { op: None, chunk: 1 }),
        }
    }

    fn merged(&self, direction: Direction) -> MergingIter {
        let sources = self
            .view
            .as_ref()
            .map_or_else(Vec::new, |v| v.sources(&self.lower, &self.upper, direction));
        MergingIter::new(sources, direction == Direction::Reverse)
    }

    /// What a step yields before touching a source, if anything: nothing
    /// once ended; the error the iterator was created with; `Closed` once
    /// the database is closed (its files may be gone or reused by the next
    /// open, so it is not read).
    #[expect(
        clippy::option_option,
        reason = "outer: whether the step ends early; inner: what it yields"
    )]
    fn before_step(&mut self) -> Option<Option<Result<(Bytes, Bytes)>>> {
        if self.done {
            return Some(None);
        }
        if let Some(e) = self.pending_error.take() {
            return Some(self.finish(Some(Err(e))));
        }
        if let Err(e) = self.pin.reader().check_open() {
            return Some(self.finish(Some(Err(e))));
        }
        None
    }

    /// Ends the iterator after its last item or an error — except a failed
    /// merge, which concerns one key only: iteration goes on past it.
    fn finish(&mut self, item: Option<Result<(Bytes, Bytes)>>) -> Option<Result<(Bytes, Bytes)>> {
        // A read that failed because `close` raced it reports the close.
        let item = match item {
            Some(Err(e)) if e.kind() != ErrorKind::Closed => {
                Some(Err(self.pin.reader().check_open().err().unwrap_or(e)))
            }
            other => other,
        };
        match &item {
            Some(Err(e)) if e.kind() == ErrorKind::MergeOperator => {}
            Some(Err(e)) => {
                self.done = true;
                self.pin
                    .reader()
                    .report_corruption(e, CorruptionContext::Iterator);
            }
            None => self.done = true,
            Some(Ok(_)) => {}
        }
        item
    }
}

impl Iterator for DbIter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(early) = self.before_step() {
            return early;
        }
        if self.front.is_none() {
            let merged = self.merged(Direction::Forward);
            let (seqno, merge) = self.view_merge();
            self.front = Some(Forward::new(merged, seqno, merge));
        }
        let item = self.front.as_mut().and_then(Forward::next_visible);
        let item = match item {
            Some(Ok((k, v))) => {
                if self.back_last.as_ref().is_some_and(|b| k >= *b) {
                    None
                } else {
                    self.front_last = Some(k.clone());
                    Some(Ok((k, v)))
                }
            }
            other => other,
        };
        self.finish(item)
    }
}

impl DoubleEndedIterator for DbIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if let Some(early) = self.before_step() {
            return early;
        }
        if self.back.is_none() {
            let merged = self.merged(Direction::Reverse);
            let (seqno, merge) = self.view_merge();
            self.back = Some(Backward::new(merged, seqno, merge));
        }
        let item = self.back.as_mut().and_then(Backward::next_visible);
        let item = match item {
            Some(Ok((k, v))) => {
                if self.front_last.as_ref().is_some_and(|f| k <= *f) {
                    None
                } else {
                    self.back_last = Some(k.clone());
                    Some(Ok((k, v)))
                }
            }
            other => other,
        };
        self.finish(item)
    }
}

/// Resolves the forward stream: for each user key the first version at or
/// below the snapshot decides; if it is an operand, operands are folded
/// newest → oldest down to a base.
struct Forward {
    merged: MergingIter,
    seqno: SeqNo,
    merging: MergeSettings,
    /// The user key already decided; its older versions are skipped.
    decided: Option<Bytes>,
    peeked: Option<(InternalKey, Bytes)>,
}

impl Forward {
    fn new(merged: MergingIter, seqno: SeqNo, merging: MergeSettings) -> Self {
        Forward {
            merged,
            seqno,
            merging,
            decided: None,
            peeked: None,
        }
    }

    fn next_entry(&mut self) -> Option<Result<(InternalKey, Bytes)>> {
        match self.peeked.take() {
            Some(e) => Some(Ok(e)),
            None => self.merged.next(),
        }
    }

    fn next_visible(&mut self) -> Option<Result<(Bytes, Bytes)>> {
        loop {
            let (key, value) = match self.next_entry()? {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
            if key.seqno > self.seqno || self.decided.as_ref() == Some(&key.user_key) {
                continue;
            }
            self.decided = Some(key.user_key.clone());
            match key.kind {
                ValueKind::Put => return Some(Ok((key.user_key, value))),
                ValueKind::Delete => continue,
                ValueKind::Merge => return Some(self.fold(key.user_key, value)),
            }
        }
    }

    /// Folds the operands of `user_key`, starting with its newest visible
    /// one, down to its base.
    fn fold(&mut self, user_key: Bytes, first: Bytes) -> Result<(Bytes, Bytes)> {
        let Some(op) = self.merging.op.clone() else {
            return Err(no_operator(&user_key));
        };
        let mut fold = NewestFirst::new(op.as_ref(), &user_key, self.merging.chunk);
        fold.push(first)
            .map_err(|e| merge_failed(op.as_ref(), &user_key, e))?;
        let mut base = None;
        while let Some(entry) = self.next_entry() {
            let (key, value) = entry?;
            if key.user_key != user_key {
                self.peeked = Some((key, value));
                break;
            }
            // Versions of one key come newest first: all are visible now.
            match key.kind {
                ValueKind::Merge => fold
                    .push(value)
                    .map_err(|e| merge_failed(op.as_ref(), &user_key, e))?,
                ValueKind::Put => {
                    base = Some(value);
                    break;
                }
                ValueKind::Delete => break,
            }
        }
        let value = fold
            .finish(base.as_deref())
            .map_err(|e| merge_failed(op.as_ref(), &user_key, e))?;
        Ok((user_key, Bytes::from(value)))
    }
}

/// Resolves the reverse stream, where each user key's versions arrive
/// oldest first: versions at or below the snapshot are applied in order (a
/// Put or Delete resets, operands fold in chunks), so memory stays bounded.
struct Backward {
    merged: MergingIter,
    seqno: SeqNo,
    merging: MergeSettings,
    peeked: Option<(InternalKey, Bytes)>,
}

impl Backward {
    fn new(merged: MergingIter, seqno: SeqNo, merging: MergeSettings) -> Self {
        Backward {
            merged,
            seqno,
            merging,
            peeked: None,
        }
    }

    fn next_visible(&mut self) -> Option<Result<(Bytes, Bytes)>> {
        loop {
            let (first_key, first_value) = match self.peeked.take() {
                Some(e) => e,
                None => match self.merged.next()? {
                    Ok(e) => e,
                    Err(e) => return Some(Err(e)),
                },
            };
            let user_key = first_key.user_key.clone();
            let mut state = OldestFirst::new(self.merging.op.clone(), self.merging.chunk);
            let mut apply = |key: &InternalKey, value: Bytes, seqno: SeqNo| {
                if key.seqno > seqno {
                    return;
                }
                match key.kind {
                    ValueKind::Put => state.put(value),
                    ValueKind::Delete => state.delete(),
                    ValueKind::Merge => state.merge(&key.user_key, value),
                }
            };
            apply(&first_key, first_value, self.seqno);
            loop {
                match self.merged.next() {
                    Some(Ok((k, v))) if k.user_key == user_key => apply(&k, v, self.seqno),
                    Some(Ok(other)) => {
                        self.peeked = Some(other);
                        break;
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => break,
                }
            }
            match state.finish(&user_key) {
                Ok(Some(value)) => return Some(Ok((user_key, value))),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
