//! Iteration: the internal stream of versions, the heap merge of many
//! streams, and [`DbIter`], which turns versions into user-visible pairs.

mod db_iter;
mod merging;
mod run_iter;

pub use db_iter::DbIter;
#[cfg(feature = "tokio")]
pub(crate) use db_iter::prefix_successor;
pub use merging::MergingIter;
pub(crate) use run_iter::RunIter;

use bytes::Bytes;

use crate::error::Result;
use crate::key::InternalKey;

/// A stream of internal entries in one direction: ascending internal-key
/// order (forward) or descending (reverse).
pub type InternalIter = Box<dyn Iterator<Item = Result<(InternalKey, Bytes)>> + Send>;
