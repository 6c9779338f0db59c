//! Internal iteration: the stream of versions ([`InternalIter`]), the heap
//! merge of many streams ([`MergingIter`]) and a sorted run read as one
//! stream ([`RunIter`]). The user-facing iterator that turns versions into
//! pairs is [`DbIter`](crate::DbIter), in `read/`.

mod merging;
mod run_iter;

pub use merging::MergingIter;
pub(crate) use run_iter::RunIter;

use bytes::Bytes;

use crate::error::Result;
use crate::key::InternalKey;

/// A stream of internal entries in one direction: ascending internal-key
/// order (forward) or descending (reverse).
pub type InternalIter = Box<dyn Iterator<Item = Result<(InternalKey, Bytes)>> + Send>;
