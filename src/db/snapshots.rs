//! [`SnapshotList`]: the sequence numbers snapshots and iterators pin.

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::key::SeqNo;

/// The sequence numbers pinned by live snapshots and iterators. Compaction
/// consults it so that it never drops a version someone can still read.
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    pinned: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    pub(super) fn register(&self, seqno: SeqNo) {
        *self.pinned.lock().entry(seqno).or_insert(0) += 1;
    }

    /// Reads the newest sequence number and pins it in one step under the
    /// list's lock, so a flush or compaction that reads the list either
    /// sees the pin or started before the number was read (and then holds
    /// no version newer than it).
    pub(super) fn pin_latest(&self, last_seqno: &std::sync::atomic::AtomicU64) -> SeqNo {
        let mut pinned = self.pinned.lock();
        let seqno = last_seqno.load(std::sync::atomic::Ordering::Acquire);
        *pinned.entry(seqno).or_insert(0) += 1;
        seqno
    }

    pub(super) fn release(&self, seqno: SeqNo) {
        let mut pinned = self.pinned.lock();
        if let Some(n) = pinned.get_mut(&seqno) {
            *n -= 1;
            if *n == 0 {
                pinned.remove(&seqno);
            }
        }
    }

    /// Number of live pins.
    pub(crate) fn len(&self) -> usize {
        self.pinned.lock().values().sum()
    }

    /// The pinned sequence numbers, ascending.
    pub(crate) fn sequence_numbers(&self) -> Vec<SeqNo> {
        self.pinned.lock().keys().copied().collect()
    }
}
