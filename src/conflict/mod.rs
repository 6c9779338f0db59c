//! Conflict detection for optimistic transactions: what a transaction
//! declares at commit ([`Intent`]: its snapshot, the keys it writes, the
//! keys and ranges it read) and the index of recent commits the commit
//! leader checks it against ([`RecentCommits`]).
//!
//! # The rule
//! A transaction with snapshot `S` commits only if no commit after `S`
//! (a commit's *stamp* is its group's first sequence number) touched:
//! - a key it writes with a put or delete, or with a merge whose operator
//!   is not commutative, or with any merge into a key it also read: any
//!   write conflicts (write-write);
//! - a key it only merges, blind, with a commutative operator: only a put
//!   or delete conflicts (two such merges commute; a put or delete does
//!   not commute with them);
//! - (serializable only) a key it read, or any key in a range an iterator
//!   of it covered: any write conflicts (read-write, and phantoms).
//!
//! The index remembers a bounded number of recent commits; its *floor* is
//! the newest stamp it has forgotten. A transaction whose snapshot is
//! below the floor cannot be checked and fails ([`ConflictKind::TooOld`]),
//! never passes unchecked.
//!
//! # Thread safety
//! Used only by the commit leader, under the WAL lock.

mod index;

use std::ops::Bound;

use bytes::Bytes;

pub(crate) use index::{RecentCommits, nonempty};

use crate::key::{KeyspaceId, SeqNo};

/// How a transaction writes one key, as validation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteClass {
    /// A put, a delete, a non-commutative merge, or a merge into a key the
    /// transaction read: conflicts with any newer write of the key.
    Overwrite,
    /// Only merges with a commutative operator, into a key the transaction
    /// did not read: conflicts only with a newer put or delete.
    CommutativeMerge,
}

/// One key a transaction writes.
#[derive(Debug, Clone)]
pub(crate) struct KeyWrite {
    pub(crate) keyspace: KeyspaceId,
    pub(crate) key: Bytes,
    pub(crate) class: WriteClass,
}

/// A key range an iterator covered: keys in `lower..upper` of `keyspace`.
#[derive(Debug, Clone)]
pub(crate) struct RangeRead {
    pub(crate) keyspace: KeyspaceId,
    pub(crate) lower: Bound<Bytes>,
    pub(crate) upper: Bound<Bytes>,
}

/// What a committing transaction did, as validation needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Intent {
    /// The sequence number its reads saw.
    pub(crate) snapshot: SeqNo,
    pub(crate) writes: Vec<KeyWrite>,
    /// Keys read with `get` (checked in serializable mode only: empty
    /// otherwise).
    pub(crate) reads: Vec<(KeyspaceId, Bytes)>,
    /// Ranges iterators covered (serializable mode only).
    pub(crate) ranges: Vec<RangeRead>,
}

/// Why validation refused a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConflictKind {
    /// A key it writes was written after its snapshot.
    WriteWrite,
    /// A key it read was written after its snapshot (serializable).
    ReadWrite,
    /// A key in a range it iterated was written after its snapshot
    /// (serializable).
    Range,
    /// Its snapshot is older than the index of recent commits.
    TooOld,
}

/// A refused transaction: the kind, and the key concerned (none for
/// [`ConflictKind::TooOld`]).
#[derive(Debug, Clone)]
pub(crate) struct Conflict {
    pub(crate) kind: ConflictKind,
    pub(crate) keyspace: KeyspaceId,
    pub(crate) key: Option<Bytes>,
    /// The stamp of the commit it lost to (the floor for `TooOld`).
    pub(crate) stamp: SeqNo,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.key.as_deref().map(show).unwrap_or_default();
        let ks = self.keyspace;
        let stamp = self.stamp;
        match self.kind {
            ConflictKind::WriteWrite => write!(
                f,
                "transaction conflict: key {key} (keyspace {ks}) it writes was written by a \
                 commit at sequence number {stamp}, after its snapshot; nothing was written, \
                 run the transaction again"
            ),
            ConflictKind::ReadWrite => write!(
                f,
                "transaction conflict: key {key} (keyspace {ks}) it read was written by a commit \
                 at sequence number {stamp}, after its snapshot; nothing was written, run the \
                 transaction again"
            ),
            ConflictKind::Range => write!(
                f,
                "transaction conflict: key {key} (keyspace {ks}), inside a range it iterated, \
                 was written by a commit at sequence number {stamp}, after its snapshot; nothing \
                 was written, run the transaction again"
            ),
            ConflictKind::TooOld => write!(
                f,
                "transaction conflict: its snapshot is older than the recent commits the \
                 database remembers (they start after sequence number {stamp}), so it cannot \
                 be checked; nothing was written, run it again, keep transactions short or \
                 raise Options::transaction_index_bytes"
            ),
        }
    }
}

/// A key for a message: printable ASCII as is, else hex; cut at 32 bytes.
fn show(key: &[u8]) -> String {
    let cut = key.get(..32).unwrap_or(key);
    let text = if cut.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(cut))
    } else {
        cut.iter().map(|b| format!("{b:02x}")).collect()
    };
    if cut.len() < key.len() {
        format!("{text}...")
    } else {
        text
    }
}
