//! Folding a key's operands in bounded chunks.
//!
//! Reads meet operands **newest → oldest** (forward iteration, point reads,
//! flush and compaction) or **oldest → newest** (reverse iteration). Either
//! way at most `chunk_size` operands are held at once: by the associativity
//! law (see [`crate::merge`]), a chunk can be merged with no base into one
//! operand and the fold goes on.

use std::sync::Arc;

use bytes::Bytes;

use super::{MergeError, MergeOperator};
use crate::error::{Error, ErrorKind};

/// The error a read returns when a merge fails.
pub(crate) fn merge_failed(op: &dyn MergeOperator, key: &[u8], e: MergeError) -> Error {
    Error::new(
        ErrorKind::MergeOperator,
        format!(
            "merge operator '{}' failed for key {}: {e}; the operands are kept, fix the operator \
             or overwrite the key",
            op.name(),
            show(key)
        ),
    )
    .with_source(e)
}

/// The error a read returns when it meets operands but no operator is set.
pub(crate) fn no_operator(key: &[u8]) -> Error {
    Error::new(
        ErrorKind::MergeOperator,
        format!(
            "key {} has merge operands but no merge operator is configured; open the database \
             with Options::merge_operator",
            show(key)
        ),
    )
}

fn show(key: &[u8]) -> String {
    let cut = key.get(..32).unwrap_or(key);
    format!("{:?}", String::from_utf8_lossy(cut))
}

/// Folds operands met newest → oldest. Holds one chunk of operands plus one
/// accumulated operand standing for every newer chunk. The one chunked fold
/// of the crate: point reads and forward iteration fold values (`T =
/// Bytes`); flush and compaction collapse fold whole entries, so that after
/// a failed merge they can write the operands back as they were
/// ([`NewestFirst::into_parts`]).
pub(crate) struct NewestFirst<'a, T = Bytes> {
    op: &'a dyn MergeOperator,
    key: &'a [u8],
    chunk_size: usize,
    /// Operands of the current chunk, newest first.
    chunk: Vec<T>,
    /// Partial merge of all operands newer than `chunk`.
    acc: Option<Vec<u8>>,
    /// Operands pushed so far.
    pub(crate) count: u64,
}

impl<'a, T: AsRef<[u8]>> NewestFirst<'a, T> {
    pub(crate) fn new(op: &'a dyn MergeOperator, key: &'a [u8], chunk_size: usize) -> Self {
        NewestFirst {
            op,
            key,
            chunk_size: chunk_size.max(1),
            chunk: Vec::new(),
            acc: None,
            count: 0,
        }
    }

    /// Adds the next (older) operand. When it would overfill the chunk,
    /// the full chunk is first merged with no base, together with the
    /// accumulated newer part, into the new accumulated part; so a lone
    /// operand is never merged on its own. On error nothing is lost: the
    /// chunk still holds every operand not merged (see
    /// [`NewestFirst::into_parts`]).
    pub(crate) fn push(&mut self, operand: T) -> Result<(), MergeError> {
        self.count += 1;
        if self.chunk.len() >= self.chunk_size {
            let merged = match self.finish(None) {
                Ok(m) => m,
                Err(e) => {
                    self.chunk.push(operand);
                    return Err(e);
                }
            };
            self.acc = Some(merged);
            self.chunk.clear();
        }
        self.chunk.push(operand);
        Ok(())
    }

    /// Every operand so far applied to `base` (`None`: a partial merge, or
    /// a full merge onto nothing). Oldest → newest: the chunk reversed,
    /// then the accumulated newer part.
    pub(crate) fn finish(&self, base: Option<&[u8]>) -> Result<Vec<u8>, MergeError> {
        let mut ops: Vec<&[u8]> = self.chunk.iter().rev().map(AsRef::as_ref).collect();
        if let Some(acc) = &self.acc {
            ops.push(acc);
        }
        self.op.merge_batch(self.key, base, &ops)
    }

    /// Whether exactly one operand was pushed (nothing to merge).
    pub(crate) fn is_single(&self) -> bool {
        self.acc.is_none() && self.chunk.len() == 1
    }

    /// The accumulated merge of the newer chunks, and the current chunk's
    /// operands as pushed: what a failed fold leaves.
    pub(crate) fn into_parts(self) -> (Option<Vec<u8>>, Vec<T>) {
        (self.acc, self.chunk)
    }
}

/// Folds versions met oldest → newest (reverse iteration): a Put or Delete
/// resets the value, operands are applied in chunks.
pub(crate) struct OldestFirst {
    op: Option<Arc<dyn MergeOperator>>,
    chunk_size: usize,
    value: Option<Bytes>,
    exists: bool,
    chunk: Vec<Bytes>,
    failed: Option<Error>,
}

impl OldestFirst {
    pub(crate) fn new(op: Option<Arc<dyn MergeOperator>>, chunk_size: usize) -> Self {
        OldestFirst {
            op,
            chunk_size: chunk_size.max(1),
            value: None,
            exists: false,
            chunk: Vec::new(),
            failed: None,
        }
    }

    pub(crate) fn put(&mut self, value: Bytes) {
        self.value = Some(value);
        self.exists = true;
        self.chunk.clear();
        self.failed = None;
    }

    pub(crate) fn delete(&mut self) {
        self.value = None;
        self.exists = false;
        self.chunk.clear();
        self.failed = None;
    }

    pub(crate) fn merge(&mut self, key: &[u8], operand: Bytes) {
        self.exists = true;
        if self.failed.is_some() {
            return;
        }
        self.chunk.push(operand);
        if self.chunk.len() >= self.chunk_size {
            match self.apply(key) {
                Ok(v) => {
                    self.value = Some(v);
                    self.chunk.clear();
                }
                Err(e) => self.failed = Some(e),
            }
        }
    }

    fn apply(&self, key: &[u8]) -> Result<Bytes, Error> {
        let Some(op) = &self.op else {
            return Err(no_operator(key));
        };
        let ops: Vec<&[u8]> = self.chunk.iter().map(|b| b.as_ref()).collect();
        op.merge_batch(key, self.value.as_deref(), &ops)
            .map(Bytes::from)
            .map_err(|e| merge_failed(op.as_ref(), key, e))
    }

    /// The key's value: `Ok(None)` when deleted or never written.
    pub(crate) fn finish(self, key: &[u8]) -> Result<Option<Bytes>, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if !self.exists {
            return Ok(None);
        }
        if self.chunk.is_empty() {
            return Ok(self.value);
        }
        self.apply(key).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{Append, U64Add};

    fn le(v: u64) -> Bytes {
        Bytes::copy_from_slice(&v.to_le_bytes())
    }

    #[test]
    fn newest_first_matches_a_plain_fold_at_every_chunk_size() {
        let op = Append::new(",");
        let ops: Vec<Bytes> = (0..37).map(|i| Bytes::from(format!("{i}"))).collect();
        let want = {
            let refs: Vec<&[u8]> = ops.iter().map(|b| b.as_ref()).collect();
            op.merge_batch(b"k", Some(b"base"), &refs).unwrap()
        };
        for chunk in 1..40 {
            let mut f = NewestFirst::new(&op, b"k", chunk);
            for o in ops.iter().rev() {
                f.push(o.clone()).unwrap();
            }
            assert_eq!(f.finish(Some(b"base")).unwrap(), want, "chunk {chunk}");
        }
    }

    /// The seed's cases: 250 operands (2.5 × the default batch size), and
    /// 150 on a base, at every chunk size from 1 to 500.
    #[test]
    fn seed_cases_fold_the_same_at_every_chunk_size() {
        let op = U64Add;
        for (count, base) in [(250u64, None), (150, Some(1000u64))] {
            let ops: Vec<Bytes> = (1..=count).map(le).collect();
            let base_bytes = base.map(le);
            let want = count * (count + 1) / 2 + base.unwrap_or(0);
            for chunk in 1..=500 {
                let mut f = NewestFirst::new(&op, b"k", chunk);
                for o in ops.iter().rev() {
                    f.push(o.clone()).unwrap();
                }
                let got = f.finish(base_bytes.as_deref()).unwrap();
                assert_eq!(got, want.to_le_bytes(), "{count} operands, chunk {chunk}");
                let mut g = OldestFirst::new(Some(Arc::new(U64Add)), chunk);
                if let Some(b) = &base_bytes {
                    g.put(b.clone());
                }
                for o in &ops {
                    g.merge(b"k", o.clone());
                }
                assert_eq!(g.finish(b"k").unwrap(), Some(le(want)));
            }
        }
    }

    #[test]
    fn oldest_first_resets_on_put_and_delete() {
        let mut f = OldestFirst::new(Some(Arc::new(U64Add)), 3);
        f.merge(b"k", le(1));
        f.put(le(10));
        for _ in 0..7 {
            f.merge(b"k", le(1));
        }
        assert_eq!(f.finish(b"k").unwrap(), Some(le(17)));
        let mut f = OldestFirst::new(Some(Arc::new(U64Add)), 3);
        f.put(le(10));
        f.delete();
        assert_eq!(f.finish(b"k").unwrap(), None);
        let mut f = OldestFirst::new(None, 3);
        f.merge(b"k", le(1));
        assert_eq!(f.finish(b"k").unwrap_err().kind(), ErrorKind::MergeOperator);
    }
}
