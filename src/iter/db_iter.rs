//! [`DbIter`]: the user-facing iterator, double-ended.
//!
//! It keeps one merged stream per direction, built lazily from the same
//! pinned sources: a forward stream from the lower bound and a reverse
//! stream from the upper bound. Each end remembers the last key it yielded;
//! the two ends stop where they meet, so mixing `next` and `next_back`
//! yields every key exactly once.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;

use super::{InternalIter, MergingIter, RunIter};
use crate::db::{Db, SuperVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::key::{InternalKey, SeqNo, ValueKind};
use crate::memtable::{MemIter, internal_lower, internal_upper};
use crate::merge::MergeOperator;
use crate::merge::resolve::{NewestFirst, OldestFirst, merge_failed, no_operator};
use crate::snapshot::SeqPin;
use crate::table::Direction;

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
    sv: Arc<SuperVersion>,
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
            .field("seqno", &self.pin.seqno)
            .field("lower", &self.lower)
            .field("upper", &self.upper)
            .finish()
    }
}

fn to_owned_bound<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<Bytes> {
    match b {
        Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k.as_ref())),
        Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k.as_ref())),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether the user-key range `[smallest, largest]` meets the bounds.
fn overlaps(lower: &Bound<Bytes>, upper: &Bound<Bytes>, smallest: &Bytes, largest: &Bytes) -> bool {
    let above_lower = match lower {
        Bound::Included(l) => largest >= l,
        Bound::Excluded(l) => largest > l,
        Bound::Unbounded => true,
    };
    let below_upper = match upper {
        Bound::Included(u) => smallest <= u,
        Bound::Excluded(u) => smallest < u,
        Bound::Unbounded => true,
    };
    above_lower && below_upper
}

/// The smallest key greater than every key starting with `prefix`, or
/// `None` when no such key exists (the prefix is all `0xff`).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Bytes> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(Bytes::from(end));
        }
    }
    None
}

impl DbIter {
    /// An iterator at `seqno` (a snapshot's), or at the newest sequence
    /// number for `None`.
    pub(crate) fn new<K: AsRef<[u8]>, R: RangeBounds<K>>(
        db: Db,
        seqno: Option<SeqNo>,
        range: R,
    ) -> Self {
        let lower = to_owned_bound(range.start_bound());
        let upper = to_owned_bound(range.end_bound());
        DbIter::with_bounds(db, seqno, lower, upper)
    }

    pub(crate) fn with_prefix(db: Db, seqno: Option<SeqNo>, prefix: &[u8]) -> Self {
        let lower = Bound::Included(Bytes::copy_from_slice(prefix));
        let upper = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        DbIter::with_bounds(db, seqno, lower, upper)
    }

    fn with_bounds(db: Db, seqno: Option<SeqNo>, lower: Bound<Bytes>, upper: Bound<Bytes>) -> Self {
        let pending_error = db.inner.check_open().err();
        // Pin first, then take the super version: it holds every version
        // the pinned sequence number can see.
        let pin = match seqno {
            Some(s) => SeqPin::new(db, s),
            None => SeqPin::latest(db),
        };
        let sv = pin.db.inner.current();
        DbIter {
            pin,
            sv,
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

    /// One stream per memtable and per sorted run, newest first.
    fn sources(&self, reverse: bool) -> Vec<InternalIter> {
        let lo = internal_lower(self.lower.as_ref());
        let hi = internal_upper(self.upper.as_ref());
        let mut sources: Vec<InternalIter> = std::iter::once(&self.sv.active)
            .chain(self.sv.sealed.iter())
            .map(|m| {
                let it = MemIter::new(Arc::clone(m), lo.clone(), hi.clone(), reverse);
                Box::new(it.map(Ok)) as InternalIter
            })
            .collect();
        let direction = if reverse {
            Direction::Reverse
        } else {
            Direction::Forward
        };
        for run in &self.sv.version.runs {
            let tables: Vec<_> = run
                .tables
                .iter()
                .filter(|t| overlaps(&self.lower, &self.upper, &t.meta.smallest, &t.meta.largest))
                .cloned()
                .collect();
            if !tables.is_empty() {
                let it = RunIter::new(tables, (lo.clone(), hi.clone()), direction);
                sources.push(Box::new(it));
            }
        }
        sources
    }

    fn merging(&self) -> Merging {
        let opts = &self.pin.db.inner.opts;
        Merging {
            op: opts.merge_operator.clone(),
            chunk: opts.merge_batch_size,
        }
    }

    /// Ends the iterator after its last item or an error — except a failed
    /// merge, which concerns one key only: iteration goes on past it.
    fn finish(&mut self, item: Option<Result<(Bytes, Bytes)>>) -> Option<Result<(Bytes, Bytes)>> {
        // A read that failed because `close` raced it reports the close.
        let item = match item {
            Some(Err(e)) if e.kind() != ErrorKind::Closed => {
                Some(Err(self.pin.db.inner.check_open().err().unwrap_or(e)))
            }
            other => other,
        };
        match &item {
            Some(Err(e)) if e.kind() == ErrorKind::MergeOperator => {}
            Some(Err(e)) => {
                self.done = true;
                self.pin
                    .db
                    .inner
                    .report_corruption(e, crate::event::CorruptionContext::Iterator);
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
        if self.done {
            return None;
        }
        if let Some(e) = self.pending_error.take() {
            return self.finish(Some(Err(e)));
        }
        // A closed database's files may be gone or reused by the next
        // open: its iterators end with `Closed` rather than read them.
        if let Err(e) = self.pin.db.inner.check_open() {
            return self.finish(Some(Err(e)));
        }
        if self.front.is_none() {
            let merged = MergingIter::new(self.sources(false), false);
            self.front = Some(Forward::new(merged, self.pin.seqno, self.merging()));
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
        if self.done {
            return None;
        }
        if let Some(e) = self.pending_error.take() {
            return self.finish(Some(Err(e)));
        }
        // A closed database's files may be gone or reused by the next
        // open: its iterators end with `Closed` rather than read them.
        if let Err(e) = self.pin.db.inner.check_open() {
            return self.finish(Some(Err(e)));
        }
        if self.back.is_none() {
            let merged = MergingIter::new(self.sources(true), true);
            self.back = Some(Backward::new(merged, self.pin.seqno, self.merging()));
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

/// How a resolver combines operands: the database's operator, if any, and
/// the chunk size.
#[derive(Clone)]
struct Merging {
    op: Option<Arc<dyn MergeOperator>>,
    chunk: usize,
}

/// Resolves the forward stream: for each user key the first version at or
/// below the snapshot decides; if it is an operand, operands are folded
/// newest → oldest down to a base.
struct Forward {
    merged: MergingIter,
    seqno: SeqNo,
    merging: Merging,
    /// The user key already decided; its older versions are skipped.
    decided: Option<Bytes>,
    peeked: Option<(InternalKey, Bytes)>,
}

impl Forward {
    fn new(merged: MergingIter, seqno: SeqNo, merging: Merging) -> Self {
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
    merging: Merging,
    peeked: Option<(InternalKey, Bytes)>,
}

impl Backward {
    fn new(merged: MergingIter, seqno: SeqNo, merging: Merging) -> Self {
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

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab").as_deref(), Some(&b"ac"[..]));
        assert_eq!(prefix_successor(b"a\xff").as_deref(), Some(&b"b"[..]));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
