//! Offline decoders for the `rillkv` command-line tool (feature `cli`):
//! not a stable API.
//!
//! Each function reads files of a database directory without opening the
//! database (no lock, no recovery, nothing written) and returns plain data:
//! the byte formats stay private to the modules that own them
//! (`docs/format/*.md`), and these are thin views over their decoders.
//!
//! | function | what |
//! |---|---|
//! | [`TableDump::open`] | a table's footer, properties, filter and block list; [`TableDump::read_block`] its entries |
//! | [`dump_wal`] | a WAL's records with offsets, each decoded as a write group |
//! | [`dump_manifest`] | a manifest's version edits in order |
//! | [`load_tree`] | the live tables as the manifest names them, the policy's [`TreeShape`](crate::compaction::TreeShape), the WALs to replay |
//! | [`live_data`] | walks every live table to measure live versus total entries (space amplification) |
//! | [`live_files`], [`check_file`] | every checksum of every live file, file by file, for a progress bar |

mod check;
mod log;
mod tree;

pub use check::{FileCheck, FileRole, LiveFile, check_file, live_files};
pub use log::{
    BatchDump, EditDump, LogDamage, ManifestDump, ManifestRecord, TableInfo, WalDump, WalRecord,
    dump_manifest, dump_wal,
};
pub use tree::{KeyspaceInfo, LiveData, TreeInfo, live_data, load_tree};

pub use crate::table::inspect::{
    BlockLocation, DataBlockDump, DataBlockRef, EntryDump, FilterDump, TableDump,
    TablePropertiesDump,
};
