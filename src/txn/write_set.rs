//! [`WriteSet`]: a transaction's uncommitted writes, by keyspace and key,
//! and how a read folds them over the snapshot's value.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::conflict::nonempty;
use crate::error::Result;
use crate::key::{KeyspaceId, UserBounds, ValueKind};
use crate::merge::MergeOperator;
use crate::merge::resolve::{merge_failed, no_operator};

/// What a transaction wrote to one key, newest state only.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    /// The put (`Some(Some(v))`) or delete (`Some(None)`) the operands
    /// apply to; `None` when the transaction only merged into the key, so
    /// they apply to the snapshot's value.
    pub(crate) base: Option<Option<Bytes>>,
    /// Merge operands written after `base`, oldest first.
    pub(crate) operands: Vec<Bytes>,
}

impl Pending {
    /// Whether the transaction only merged into the key (no put or
    /// delete): the only writes that may escape write-write conflicts.
    pub(crate) fn merges_only(&self) -> bool {
        self.base.is_none()
    }

    /// The key's value as the transaction sees it: its operands folded
    /// over its own base, or over `below` (the snapshot's value) when it
    /// wrote none.
    ///
    /// # Errors
    /// `MergeOperator` if the operands cannot be folded (no operator, or it
    /// failed).
    pub(crate) fn resolve(
        &self,
        key: &[u8],
        below: Option<Bytes>,
        op: Option<&dyn MergeOperator>,
    ) -> Result<Option<Bytes>> {
        let base = match &self.base {
            Some(b) => b.clone(),
            None => below,
        };
        if self.operands.is_empty() {
            return Ok(base);
        }
        let op = op.ok_or_else(|| no_operator(key))?;
        let operands: Vec<&[u8]> = self.operands.iter().map(|o| &o[..]).collect();
        op.merge_batch(key, base.as_deref(), &operands)
            .map(|v| Some(Bytes::from(v)))
            .map_err(|e| merge_failed(op, key, e))
    }
}

/// A transaction's writes: per keyspace, per key, the newest state.
#[derive(Debug, Default)]
pub(crate) struct WriteSet {
    keyspaces: BTreeMap<KeyspaceId, BTreeMap<Bytes, Pending>>,
}

impl WriteSet {
    /// Records a put (`Some`) or delete (`None`): it replaces whatever the
    /// transaction wrote to the key before.
    pub(crate) fn set(&mut self, keyspace: KeyspaceId, key: &[u8], value: Option<Bytes>) {
        let pending = self.entry(keyspace, key);
        pending.base = Some(value);
        pending.operands.clear();
    }

    /// Records a merge operand, applied after the key's earlier writes.
    pub(crate) fn merge(&mut self, keyspace: KeyspaceId, key: &[u8], operand: Bytes) {
        self.entry(keyspace, key).operands.push(operand);
    }

    fn entry(&mut self, keyspace: KeyspaceId, key: &[u8]) -> &mut Pending {
        self.keyspaces
            .entry(keyspace)
            .or_default()
            .entry(Bytes::copy_from_slice(key))
            .or_default()
    }

    /// What the transaction wrote to `key`, if anything.
    pub(crate) fn get(&self, keyspace: KeyspaceId, key: &[u8]) -> Option<&Pending> {
        self.keyspaces.get(&keyspace)?.get(key)
    }

    /// A copy of the writes to keys within `bounds` of `keyspace`, in key
    /// order (an iterator's view of the write set when it is made).
    pub(crate) fn range(&self, keyspace: KeyspaceId, bounds: &UserBounds) -> Vec<(Bytes, Pending)> {
        let Some(map) = self.keyspaces.get(&keyspace) else {
            return Vec::new();
        };
        let (lo, hi) = (as_slice(&bounds.0), as_slice(&bounds.1));
        if !nonempty(lo, hi) {
            return Vec::new();
        }
        map.range::<[u8], _>((lo, hi))
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect()
    }

    /// Every key written, with its keyspace and what was written.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (KeyspaceId, &Bytes, &Pending)> {
        self.keyspaces
            .iter()
            .flat_map(|(ks, map)| map.iter().map(move |(k, p)| (*ks, k, p)))
    }

    /// Whether the transaction wrote nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.keyspaces.values().all(BTreeMap::is_empty)
    }

    /// The writes as one batch: per key its base, then its operands.
    pub(crate) fn to_batch(&self) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for (ks, key, p) in self.iter() {
            match &p.base {
                Some(Some(v)) => batch.push_in(ks, ValueKind::Put, key, v),
                Some(None) => batch.push_in(ks, ValueKind::Delete, key, &[]),
                None => &mut batch,
            };
            for op in &p.operands {
                batch.push_in(ks, ValueKind::Merge, key, op);
            }
        }
        batch
    }
}

pub(crate) fn as_slice(b: &Bound<Bytes>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(&k[..]),
        Bound::Excluded(k) => Bound::Excluded(&k[..]),
        Bound::Unbounded => Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::U64Add;

    fn n(v: u64) -> Bytes {
        Bytes::copy_from_slice(&v.to_le_bytes())
    }

    #[test]
    fn operands_fold_over_the_own_base_or_the_snapshot() {
        let mut ws = WriteSet::default();
        ws.merge(0, b"c", n(2));
        let p = ws.get(0, b"c").cloned().unwrap_or_default();
        assert!(p.merges_only());
        assert_eq!(
            p.resolve(b"c", Some(n(5)), Some(&U64Add)).ok(),
            Some(Some(n(7)))
        );
        ws.set(0, b"c", Some(n(10)));
        ws.merge(0, b"c", n(1));
        let p = ws.get(0, b"c").cloned().unwrap_or_default();
        assert!(!p.merges_only());
        assert_eq!(
            p.resolve(b"c", Some(n(5)), Some(&U64Add)).ok(),
            Some(Some(n(11)))
        );
        ws.set(0, b"c", None);
        let p = ws.get(0, b"c").cloned().unwrap_or_default();
        assert_eq!(p.resolve(b"c", Some(n(5)), Some(&U64Add)).ok(), Some(None));
    }

    #[test]
    fn the_batch_holds_base_then_operands_per_key() {
        let mut ws = WriteSet::default();
        ws.set(0, b"a", Some(n(1)));
        ws.merge(0, b"a", n(2));
        ws.set(3, b"b", None);
        let batch = ws.to_batch();
        let kinds: Vec<_> = batch
            .entries()
            .flatten()
            .map(|e| (e.keyspace, e.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                (0, ValueKind::Put),
                (0, ValueKind::Merge),
                (3, ValueKind::Delete)
            ]
        );
    }
}
