//! Operations on a running database (issue 18): `checkpoint`, incremental
//! backups, read-only opens, writes without the WAL.

mod backup;
mod checkpoint;
mod disable_wal;
mod read_only;
