//! Operations on a running database (issue 18): `checkpoint`, incremental
//! backups (and SIGKILL while either is made), read-only opens, writes
//! without the WAL.

mod backup;
mod checkpoint;
mod disable_wal;
mod kill_during_copy;
mod read_only;
