//! Tables: immutable, sorted files of internal entries.
//!
//! A table holds prefix-compressed data blocks (each compressed on its own
//! and checksummed), a bloom filter over its user keys, a properties block,
//! an index block and a fixed footer. The byte format is specified in
//! `docs/format/table.md`, `docs/format/block.md` and
//! `docs/format/bloom.md`; this module is its only implementation.
//!
//! - [`TableWriter`] writes a table from entries in internal-key order;
//! - [`Table`] opens one (footer, index, filter and properties read at
//!   open; data blocks read on demand through a `RandomAccessFile`) for
//!   point lookups ([`Table::seek_versions`], a cursor over one key's
//!   versions);
//! - [`TableIter`] walks a range of it in either [`Direction`];
//! - [`BlockCache`] keeps decompressed blocks, shared by all tables.
//!
//! Every decoder here treats the file as untrusted: damage is reported as
//! `Corruption` naming file and offset, never a panic or a wrong value. A
//! damaged filter only makes lookups slower.

mod block;
mod block_builder;
mod block_iter;
mod bloom;
mod cache;
mod coding;
mod compression;
mod format;
#[cfg(feature = "cli")]
pub(crate) mod inspect;
mod iter;
mod properties;
mod reader;
mod writer;

pub(crate) use cache::BlockCache;
pub use compression::Compression;
pub(crate) use iter::{Direction, TableIter};
pub(crate) use reader::Table;
pub(crate) use writer::{TableOptions, TableWriter};
// Reached only by `crate::internals::bench` (the criterion benches).
#[cfg(feature = "internals")]
pub(crate) use self::{
    block::Block,
    block_builder::{BlockBuilder, DATA_RESTART_INTERVAL},
    block_iter::BlockIter,
    bloom::{Filter, FilterBuilder},
    format::encoded_internal_key,
};

#[cfg(test)]
mod tests;
