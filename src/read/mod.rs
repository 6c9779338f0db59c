//! Reading outside the database's own module: [`DbIter`] and
//! [`Snapshot`], the owned, `'static` readers a caller holds.
//!
//! They depend on a [`ReadView`](crate::tree::ReadView) (one tree at one
//! sequence number) and on a [`Reader`]: the few things they need from the
//! database — is it open, pin and unpin a sequence number, the current view
//! at a pinned number, where to report corruption — behind a trait the
//! database implements. So nothing here names the database type, and a
//! reader's handle keeps the database open exactly as a clone of `Db`
//! would.

mod iter;
mod snapshot;

use std::sync::Arc;

use bytes::Bytes;

pub use iter::DbIter;
pub use snapshot::Snapshot;

use crate::error::{Error, Result};
use crate::event::CorruptionContext;
use crate::key::{KeyspaceId, SeqNo};
use crate::tree::ReadView;

/// What a reader needs from the database. Implemented by the database's
/// user handle, whose last drop closes it.
pub(crate) trait Reader: Send + Sync {
    /// `Closed` once the database is closed.
    fn check_open(&self) -> Result<()>;
    /// Pins the newest sequence number (atomically with reading it) and
    /// returns it.
    fn pin_latest(&self) -> SeqNo;
    /// Pins `seqno` again (it is pinned already, or older than a pin).
    fn pin(&self, seqno: SeqNo);
    /// Releases one pin of `seqno`.
    fn unpin(&self, seqno: SeqNo);
    /// The view of `keyspace` at a pinned `seqno` over its current super
    /// version, which holds every version that number can see.
    ///
    /// # Errors
    /// `InvalidArgument` if the keyspace was dropped.
    fn view_at(&self, keyspace: KeyspaceId, seqno: SeqNo) -> Result<ReadView>;
    /// A point read of `keyspace` at a pinned `seqno`, counted and, on
    /// corruption, reported like any read.
    ///
    /// # Errors
    /// As [`Db::get`](crate::Db::get); `InvalidArgument` if the keyspace
    /// was dropped.
    fn get_at(&self, keyspace: KeyspaceId, key: &[u8], seqno: SeqNo) -> Result<Option<Bytes>>;
    /// Tells listeners about a `Corruption` error.
    fn report_corruption(&self, error: &Error, context: CorruptionContext);
}

/// A pinned sequence number, released on drop; it holds the reader (and so
/// keeps the database open).
pub(crate) struct SeqPin {
    reader: Arc<dyn Reader>,
    seqno: SeqNo,
}

impl SeqPin {
    /// Pins the newest sequence number.
    pub(crate) fn latest(reader: Arc<dyn Reader>) -> Self {
        let seqno = reader.pin_latest();
        SeqPin { reader, seqno }
    }

    /// Pins an already-pinned or older sequence number again.
    pub(crate) fn again(reader: Arc<dyn Reader>, seqno: SeqNo) -> Self {
        reader.pin(seqno);
        SeqPin { reader, seqno }
    }

    pub(crate) fn seqno(&self) -> SeqNo {
        self.seqno
    }

    pub(crate) fn reader(&self) -> &Arc<dyn Reader> {
        &self.reader
    }
}

impl Drop for SeqPin {
    fn drop(&mut self) {
        self.reader.unpin(self.seqno);
    }
}
