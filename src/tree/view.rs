//! [`ReadView`]: one tree as of one sequence number, and the one walk
//! down it that every read uses — point reads, merge resolution, the
//! newest-version check of a write-back, and the sources of an iterator.

use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use bytes::Bytes;

use super::SuperVersion;
use crate::error::Result;
use crate::iter::{InternalIter, RunIter};
use crate::key::{MAX_SEQNO, SeqNo, ValueKind, internal_lower, internal_upper, range_meets};
use crate::memtable::{MemIter, MemTable};
use crate::merge::MergeOperator;
use crate::merge::resolve::{NewestFirst, merge_failed, no_operator};
use crate::table::Direction;

/// How a tree combines merge operands: its operator, if any, and how many
/// operands a fold holds at once.
#[derive(Clone)]
pub(crate) struct MergeSettings {
    pub(crate) op: Option<Arc<dyn MergeOperator>>,
    pub(crate) chunk: usize,
}

/// What a point read found.
pub(crate) struct Lookup {
    /// The key's value, operands folded; `None` when it has none.
    pub(crate) value: Option<Bytes>,
    /// Merge operands folded to get it.
    pub(crate) folded: u64,
}

/// A tree as of one sequence number: a super version that holds every
/// version the number can see, the number, and how operands fold. Owned
/// and cheap to clone; it pins the memtables and tables it reads.
#[derive(Clone)]
pub(crate) struct ReadView {
    sv: Arc<SuperVersion>,
    seqno: SeqNo,
}

impl ReadView {
    pub(crate) fn new(sv: Arc<SuperVersion>, seqno: SeqNo) -> Self {
        ReadView { sv, seqno }
    }

    pub(crate) fn seqno(&self) -> SeqNo {
        self.seqno
    }

    pub(crate) fn merge(&self) -> &MergeSettings {
        &self.sv.merge
    }

    /// The value of `key` as of this view: the first version found
    /// decides, unless it is a merge operand; then operands are collected
    /// newest → oldest until a Put (base), a Delete (no base) or the end,
    /// folded in chunks of `merge.chunk`.
    ///
    /// # Errors
    /// `Corruption` or `Io` from reading tables; `MergeOperator` if the
    /// key's operands cannot be combined.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Lookup> {
        let op = self.sv.merge.op.as_deref();
        let mut fold: Option<NewestFirst<'_>> = None;
        let mut base = None;
        self.sv.walk(key, self.seqno, |kind, _, value| match kind {
            ValueKind::Put => {
                base = Some(value);
                Ok(ControlFlow::Break(()))
            }
            ValueKind::Delete => Ok(ControlFlow::Break(())),
            ValueKind::Merge => {
                let op = op.ok_or_else(|| no_operator(key))?;
                fold.get_or_insert_with(|| NewestFirst::new(op, key, self.sv.merge.chunk))
                    .push(value)
                    .map_err(|e| merge_failed(op, key, e))?;
                Ok(ControlFlow::Continue(()))
            }
        })?;
        let Some(fold) = fold else {
            return Ok(Lookup {
                value: base,
                folded: 0,
            });
        };
        let op = op.ok_or_else(|| no_operator(key))?;
        let folded = fold.count;
        let value = fold
            .finish(base.as_deref())
            .map_err(|e| merge_failed(op, key, e))?;
        Ok(Lookup {
            value: Some(Bytes::from(value)),
            folded,
        })
    }

    /// One stream per memtable and per sorted run meeting the bounds,
    /// newest first, each in `direction` (the sources of an iterator).
    pub(crate) fn sources(
        &self,
        lower: &Bound<Bytes>,
        upper: &Bound<Bytes>,
        direction: Direction,
    ) -> Vec<InternalIter> {
        let reverse = direction == Direction::Reverse;
        let lo = internal_lower(lower.as_ref());
        let hi = internal_upper(upper.as_ref());
        let mut sources: Vec<InternalIter> = self
            .sv
            .memtables()
            .map(|m| {
                let it = MemIter::new(Arc::clone(m), lo.clone(), hi.clone(), reverse);
                Box::new(it.map(Ok)) as InternalIter
            })
            .collect();
        for run in &self.sv.version.runs {
            let tables: Vec<_> = run
                .tables
                .iter()
                .filter(|t| range_meets((lower, upper), &t.meta.smallest, &t.meta.largest))
                .cloned()
                .collect();
            if !tables.is_empty() {
                let it = RunIter::new(tables, (lo.clone(), hi.clone()), direction);
                sources.push(Box::new(it));
            }
        }
        sources
    }
}

impl SuperVersion {
    /// The active memtable, then the sealed ones, newest first.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &Arc<MemTable>> {
        std::iter::once(&self.active).chain(self.sealed.iter())
    }

    /// The one walk down the tree: calls `visit` with each version of
    /// `key` whose sequence number is at most `seqno`, newest first — the
    /// active memtable, the sealed ones newest first, then in each sorted
    /// run newest first the one table whose key range holds the key (its
    /// bloom filter first) — until `visit` breaks or the versions end.
    /// A table is sought once: its versions are read on from that seek.
    ///
    /// # Errors
    /// `Corruption` or `Io` from reading tables, or `visit`'s error.
    pub(crate) fn walk(
        &self,
        key: &[u8],
        seqno: SeqNo,
        mut visit: impl FnMut(ValueKind, SeqNo, Bytes) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        for mem in self.memtables() {
            for (kind, s, value) in mem.versions(key, seqno) {
                if visit(kind, s, value)?.is_break() {
                    return Ok(());
                }
            }
        }
        for run in &self.version.runs {
            let Some(file) = run.table_for(key) else {
                continue;
            };
            if file.meta.min_seqno > seqno {
                continue;
            }
            let table = file.table()?;
            let Some(versions) = table.seek_versions(key, seqno)? else {
                continue;
            };
            for version in versions {
                let (kind, s, value) = version?;
                if visit(kind, s, value)?.is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The sequence number of the newest version of `key`, if any.
    ///
    /// # Errors
    /// As [`SuperVersion::walk`].
    pub(crate) fn newest_seqno(&self, key: &[u8]) -> Result<Option<SeqNo>> {
        let mut newest = None;
        self.walk(key, MAX_SEQNO, |_, s, _| {
            newest = Some(s);
            Ok(ControlFlow::Break(()))
        })?;
        Ok(newest)
    }
}
