//! Conditional writes: requests that commit only if a condition holds
//! when their group is decided.
//!
//! A request may carry a [`Condition`]: a transaction's [`Intent`] or a
//! compare-and-swap's expected value. The leader decides each one in queue
//! order, under leadership, before anything of the group is encoded: a
//! transaction is checked against the index of recent commits
//! (`WalState::commits`, which every accepted batch of the group is
//! recorded into as it is accepted, so a later request of the same group
//! sees it); a compare-and-swap reads the key's newest value and applies
//! the accepted batches of the group before it. A refused request gets its
//! own result (`Conflict`, or [`Outcome::Mismatch`]) and writes nothing;
//! the rest of the group commits as usual.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use parking_lot::Mutex;

use super::write::{Request, check_write_options};
use super::{DbInner, WalState};
use crate::batch::WriteBatch;
use crate::conflict::{Conflict, ConflictKind, Intent};
use crate::error::{Error, Result};
use crate::event::{TransactionConflictInfo, TransactionConflictKind};
use crate::key::{KeyspaceId, SeqNo, ValueKind};
use crate::options::WriteOptions;

/// What must hold, when its group commits, for a conditional write to
/// commit.
#[derive(Debug)]
pub(crate) enum Condition {
    /// A transaction: no conflicting commit after its snapshot.
    Txn(Intent),
    /// A compare-and-swap: `key`'s newest value is `expected`.
    Cas {
        keyspace: KeyspaceId,
        key: Bytes,
        expected: Option<Bytes>,
    },
}

/// What became of a write that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It committed.
    Applied,
    /// A compare-and-swap found this value instead of the expected one and
    /// wrote nothing.
    Mismatch(Option<Bytes>),
}

/// What the leader decided for each request of a group.
pub(super) struct Decisions {
    /// Whether each request commits; `None`: all do (the common case,
    /// decided without allocating).
    accepted: Option<Vec<bool>>,
    pub(super) txn_commits: u64,
    pub(super) cas_swapped: u64,
}

impl Decisions {
    /// Whether request `i` of the group commits.
    pub(super) fn accepted(&self, i: usize) -> bool {
        self.accepted
            .as_ref()
            .is_none_or(|a| a.get(i).copied().unwrap_or(false))
    }
}

impl DbInner {
    /// Commits `batch` if `condition` holds when its group is decided.
    pub(crate) fn write_if(
        &self,
        batch: WriteBatch,
        condition: Condition,
        opts: &WriteOptions,
    ) -> Result<Outcome> {
        self.check_writable("a transaction's commit or a compare-and-swap")?;
        check_write_options(opts)?;
        self.validate(&batch)?;
        self.submit(Request {
            batch,
            sync: opts.sync,
            wal: !opts.disable_wal,
            condition: Some(condition),
            result: Mutex::new(None),
        })
    }

    /// Decides each request of `group` in queue order (see the module
    /// docs), records the accepted ones' keys in the index of recent
    /// commits with stamp `base` (the group's first sequence number) while
    /// a transaction is live, and gives each refused request its result.
    /// REQUIRES: leadership and the WAL lock (proven by `wal`).
    pub(super) fn decide(
        &self,
        wal: &mut WalState,
        group: &[Arc<Request>],
        base: SeqNo,
    ) -> Decisions {
        let track = self.live_transactions.load(Ordering::SeqCst) > 0;
        if !track && group.iter().all(|r| r.condition.is_none()) {
            // Plain writes and nobody to check them for: every batch
            // commits (each holds an entry: `write` skips empty ones).
            if !group.is_empty() {
                wal.commits.forget_through(base);
            }
            return Decisions {
                accepted: None,
                txn_commits: 0,
                cas_swapped: 0,
            };
        }
        let mut accepted = Vec::with_capacity(group.len());
        let mut d = Decisions {
            accepted: None,
            txn_commits: 0,
            cas_swapped: 0,
        };
        let mut earlier: Vec<&WriteBatch> = Vec::new();
        for r in group {
            let verdict = match &r.condition {
                None => Ok(Outcome::Applied),
                Some(Condition::Txn(intent)) => match wal.commits.check(intent) {
                    Ok(()) => {
                        d.txn_commits += 1;
                        Ok(Outcome::Applied)
                    }
                    Err(c) => {
                        let counter = match c.kind {
                            ConflictKind::WriteWrite => &self.counters.txn_conflicts_write,
                            ConflictKind::ReadWrite => &self.counters.txn_conflicts_read,
                            ConflictKind::Range => &self.counters.txn_conflicts_range,
                            ConflictKind::TooOld => &self.counters.txn_conflicts_too_old,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        self.report_conflict(&c, intent.snapshot);
                        Err(Error::conflict(c.to_string()))
                    }
                },
                Some(Condition::Cas {
                    keyspace,
                    key,
                    expected,
                }) => match self.value_after(*keyspace, key, &earlier) {
                    Ok(current) if current == *expected => {
                        d.cas_swapped += 1;
                        Ok(Outcome::Applied)
                    }
                    Ok(current) => {
                        self.counters.cas_mismatched.fetch_add(1, Ordering::Relaxed);
                        Ok(Outcome::Mismatch(current))
                    }
                    Err(e) => Err(e),
                },
            };
            let ok = matches!(verdict, Ok(Outcome::Applied));
            if !ok {
                *r.result.lock() = Some(verdict);
            } else {
                if track {
                    for entry in r.batch.entries().flatten() {
                        wal.commits
                            .record(entry.keyspace, entry.key, entry.kind, base);
                    }
                }
                earlier.push(&r.batch);
            }
            accepted.push(ok);
        }
        d.accepted = Some(accepted);
        if !track && !earlier.is_empty() {
            // This group's writes are not recorded: no snapshot below
            // `base` may be checked any more (a transaction that begins
            // now sees this group, or fails as too old). Only if it
            // writes: otherwise `base` is never published, and every new
            // snapshot would be below the floor.
            wal.commits.forget_through(base);
        }
        d
    }

    /// Tells listeners about a refused transaction. REQUIRES: the WAL
    /// lock (called by the leader).
    fn report_conflict(&self, c: &Conflict, snapshot: SeqNo) {
        let Some(events) = &self.events else {
            return;
        };
        let kind = match c.kind {
            ConflictKind::WriteWrite => TransactionConflictKind::WriteWrite,
            ConflictKind::ReadWrite => TransactionConflictKind::ReadWrite,
            ConflictKind::Range => TransactionConflictKind::Range,
            ConflictKind::TooOld => TransactionConflictKind::TooOld,
        };
        let keyspace = c
            .key
            .as_ref()
            .and_then(|_| self.tree(c.keyspace))
            .map(|t| t.name().to_owned());
        events.transaction_conflict(TransactionConflictInfo {
            db_path: PathBuf::new(),
            kind,
            keyspace,
            key: c.key.as_ref().map(|k| k.to_vec()),
            snapshot,
            conflicting: c.stamp,
        });
    }

    /// The value of `key` in `keyspace` once the batches `earlier` (of
    /// the group being decided, in order) are applied over its newest
    /// committed value. REQUIRES: leadership.
    fn value_after(
        &self,
        keyspace: KeyspaceId,
        key: &[u8],
        earlier: &[&WriteBatch],
    ) -> Result<Option<Bytes>> {
        let tree = self.live_tree(keyspace)?;
        let view = tree.latest_view(|| self.last_seqno());
        let mut value = self.get(&tree, &view, key, false)?;
        for batch in earlier.iter().filter(|b| b.touches(keyspace, key)) {
            for entry in batch.entries() {
                let entry = entry.map_err(Error::from)?;
                if entry.keyspace != keyspace || entry.key != key {
                    continue;
                }
                value = match entry.kind {
                    ValueKind::Put => Some(Bytes::copy_from_slice(entry.value)),
                    ValueKind::Delete => None,
                    ValueKind::Merge => {
                        let op = view.merge().op.clone();
                        let op = op.ok_or_else(|| crate::merge::resolve::no_operator(key))?;
                        let merged = op
                            .merge(key, value.as_deref(), entry.value)
                            .map_err(|e| crate::merge::resolve::merge_failed(&*op, key, e))?;
                        Some(Bytes::from(merged))
                    }
                };
            }
        }
        Ok(value)
    }
}
