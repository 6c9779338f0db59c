//! Keyspaces: many trees in one database (`Db::keyspace`, `Keyspace`,
//! `WriteBatch::put_in`, `Snapshot::get_in`, `Db::drop_keyspace`).
//!
//! - `model_proptest`: several keyspaces against a model, with
//!   cross-keyspace batches, snapshots, flushes, compactions, drops,
//!   reopens and power losses in every crash mode;
//! - `kill_loop`: SIGKILL while writing records and their index entries
//!   in two keyspaces with one batch each;
//! - `wal_bound`: a keyspace written once does not keep the WAL growing;
//! - `drop`: dropping a keyspace under live iterators and snapshots, and
//!   a crash in the middle of a drop;
//! - `options`: per-keyspace options and merge operators, names.

mod drop;
mod kill_loop;
mod model_proptest;
mod options;
mod wal_bound;
