//! Operations on a running database (issue 18): `checkpoint`, writes
//! without the WAL.

mod checkpoint;
mod disable_wal;
