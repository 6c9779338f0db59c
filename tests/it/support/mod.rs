//! What the scenario modules share, each helper once:
//!
//! - [`model`]: the `BTreeMap` model every scenario compares the database
//!   with, draining iterators into pairs, and the comparisons (`get`s,
//!   scans both ways and from both ends, ranges, prefixes) of a [`Db`], a
//!   [`Snapshot`] or one of their keyspaces against it;
//! - [`data`]: keys, values and the models of the built-in merge
//!   operators;
//! - [`format`]: an independent codec of the on-disk formats
//!   (`docs/format/*.md`): log framing (WAL and manifest), batch payloads,
//!   table footer, blocks and `CURRENT`, for the tests that read, build or
//!   damage files by hand;
//! - [`files`]: a database directory by file kind, whole-directory images
//!   on a `FaultFs`, and power losses;
//! - [`tree`]: the tables a database lists (`Db::stats`) against those its
//!   directory holds, and waiting for background work;
//! - [`process`]: knobs from the environment, seeds, and re-running one
//!   test of this binary in a child process;
//! - [`elle`]: an Elle-style list-append history checker for
//!   transactions (a dependency cycle is printed);
//! - [`heap`]: the counting global allocator and running a test alone in
//!   its own process so that its heap measurements are its own.
//!
//! [`Db`]: rillkv::Db
//! [`Snapshot`]: rillkv::Snapshot

pub mod data;
pub mod elle;
pub mod files;
pub mod format;
pub mod heap;
pub mod model;
pub mod process;
pub mod tree;

pub use data::*;
pub use files::*;
pub use model::*;
pub use process::*;
pub use tree::*;
