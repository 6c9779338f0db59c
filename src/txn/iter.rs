//! [`TransactionIter`]: a transaction's writes merged with its snapshot,
//! in both directions.
//!
//! Three sources hold the keys not yet yielded, each key in exactly one of
//! them: the snapshot's [`DbIter`] (whose two ends never yield a key
//! twice), the one key each end has taken from it but not yet yielded
//! (`front_peek`, `back_peek`), and the copy of the write set's range
//! (`pending`, consumed from both ends). When the `DbIter` is used up, an
//! end takes the other end's peeked key. So mixing `next` and `next_back`
//! yields every key exactly once.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::read_set::ReadSet;
use super::write_set::Pending;
use crate::error::Result;
use crate::merge::MergeOperator;
use crate::read::DbIter;

/// Iterates `(key, value)` pairs of a transaction: its own writes over its
/// snapshot (puts replace, deletes hide, merges fold over the snapshot's
/// value), in key order or, with `.rev()`, in reverse.
///
/// Owned and `'static`, like [`DbIter`]. It sees the transaction's writes
/// made before it was created, not later ones. As it goes it records the
/// keys it covered as read by the transaction: in
/// [`Isolation::Serializable`](crate::Isolation::Serializable) a commit
/// that writes into that part of the range before the transaction
/// commits makes it fail (no phantoms); what it never reached is not
/// read.
pub struct TransactionIter {
    tree: DbIter,
    tree_done: bool,
    front_peek: Option<(Bytes, Bytes)>,
    back_peek: Option<(Bytes, Bytes)>,
    pending: VecDeque<(Bytes, Pending)>,
    op: Option<Arc<dyn MergeOperator>>,
    reads: Arc<Mutex<ReadSet>>,
    slot: usize,
}

impl std::fmt::Debug for TransactionIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionIter")
            .field("tree", &self.tree)
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Which source an end takes its next key from.
enum Take {
    Tree,
    Pending,
    Both,
}

impl TransactionIter {
    pub(crate) fn new(
        tree: DbIter,
        pending: Vec<(Bytes, Pending)>,
        op: Option<Arc<dyn MergeOperator>>,
        reads: Arc<Mutex<ReadSet>>,
        slot: usize,
    ) -> Self {
        TransactionIter {
            tree,
            tree_done: false,
            front_peek: None,
            back_peek: None,
            pending: pending.into(),
            op,
            reads,
            slot,
        }
    }

    /// Fills the peek of one end from the tree, or from the other end's
    /// peek once the tree is used up. Returns an error the tree yielded.
    fn fill(&mut self, back: bool) -> Option<crate::Error> {
        let peek = if back {
            &self.back_peek
        } else {
            &self.front_peek
        };
        if peek.is_some() {
            return None;
        }
        if !self.tree_done {
            let item = if back {
                self.tree.next_back()
            } else {
                self.tree.next()
            };
            match item {
                Some(Ok(kv)) => {
                    if back {
                        self.back_peek = Some(kv);
                    } else {
                        self.front_peek = Some(kv);
                    }
                    return None;
                }
                Some(Err(e)) => return Some(e),
                None => self.tree_done = true,
            }
        }
        if back {
            self.back_peek = self.front_peek.take();
        } else {
            self.front_peek = self.back_peek.take();
        }
        None
    }

    /// One step from the front (`back` false) or the back.
    fn step(&mut self, back: bool) -> Option<Result<(Bytes, Bytes)>> {
        loop {
            if let Some(e) = self.fill(back) {
                return Some(Err(e));
            }
            let peek = if back {
                &self.back_peek
            } else {
                &self.front_peek
            };
            let pending = if back {
                self.pending.back()
            } else {
                self.pending.front()
            };
            let take = match (peek, pending) {
                (None, None) => {
                    self.reads.lock().reached(self.slot, back, None);
                    return None;
                }
                (Some(_), None) => Take::Tree,
                (None, Some(_)) => Take::Pending,
                (Some((tk, _)), Some((pk, _))) => match (tk.cmp(pk), back) {
                    (Ordering::Equal, _) => Take::Both,
                    (Ordering::Less, false) | (Ordering::Greater, true) => Take::Tree,
                    _ => Take::Pending,
                },
            };
            let tree_item = match take {
                Take::Tree | Take::Both if back => self.back_peek.take(),
                Take::Tree | Take::Both => self.front_peek.take(),
                Take::Pending => None,
            };
            let written = match take {
                Take::Tree => None,
                _ if back => self.pending.pop_back(),
                _ => self.pending.pop_front(),
            };
            let (key, value) = match (tree_item, written) {
                (Some(kv), None) => (kv.0, Ok(Some(kv.1))),
                (below, Some((key, p))) => {
                    let value = p.resolve(&key, below.map(|kv| kv.1), self.op.as_deref());
                    (key, value)
                }
                (None, None) => continue,
            };
            self.reads.lock().reached(self.slot, back, Some(&key));
            match value {
                Ok(Some(v)) => return Some(Ok((key, v))),
                Ok(None) => continue, // deleted by the transaction
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Iterator for TransactionIter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}

impl DoubleEndedIterator for TransactionIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}
