//! What each event reports: the info structs passed to
//! [`EventListener`](super::EventListener) callbacks.

use super::*;

/// What [`EventListener::on_flush_begin`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlushBeginInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The keyspace whose tree it is (`default` for the database's own).
    pub keyspace: String,
    /// The memtable's id: the number of its WAL.
    pub memtable_id: u64,
    /// Approximate bytes in the memtable.
    pub memtable_bytes: u64,
    /// Entries (versions) in the memtable.
    pub memtable_entries: u64,
    /// The number the output table gets (`NNNNNN.rkt`).
    pub table_number: u64,
}

/// What [`EventListener::on_flush_end`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlushEndInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The keyspace whose tree it is (`default` for the database's own).
    pub keyspace: String,
    /// The memtable's id: the number of its WAL.
    pub memtable_id: u64,
    /// Approximate bytes in the memtable.
    pub memtable_bytes: u64,
    /// Entries (versions) in the memtable.
    pub memtable_entries: u64,
    /// The output table's number.
    pub table_number: u64,
    /// The output table's size; `None` if the flush failed before the
    /// table was written.
    pub table_size: Option<u64>,
    /// Time from begin to end.
    pub duration: Duration,
    /// `Ok` once the table is live and the memtable dropped; the error
    /// otherwise (the database then refuses writes until reopened).
    pub result: Result<()>,
}

/// What [`EventListener::on_compaction_begin`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CompactionBeginInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The keyspace whose tree it is (`default` for the database's own).
    pub keyspace: String,
    /// Numbers this database's compaction jobs, from 1.
    pub job_id: u64,
    /// Why the job was picked.
    pub reason: CompactionReason,
    /// The input runs' tables (numbers) and bytes, newest run first.
    pub inputs: Vec<GroupRun>,
    /// Total input bytes.
    pub input_bytes: u64,
    /// The run the outputs join.
    pub output_run: u64,
    /// Whether the job is at the bottom of the tree for its keys
    /// (tombstones with nothing below are dropped).
    pub bottom: bool,
}

/// What [`EventListener::on_compaction_end`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CompactionEndInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The keyspace whose tree it is (`default` for the database's own).
    pub keyspace: String,
    /// The job's id, as in its begin event.
    pub job_id: u64,
    /// Why the job was picked.
    pub reason: CompactionReason,
    /// The input runs' tables and bytes, newest run first.
    pub inputs: Vec<GroupRun>,
    /// The tables written (empty if the job failed).
    pub outputs: Vec<TableStats>,
    /// Bytes of input tables read.
    pub bytes_read: u64,
    /// Bytes of tables written, intermediate rounds included.
    pub bytes_written: u64,
    /// Merge rounds run.
    pub rounds: usize,
    /// Time from begin to end.
    pub duration: Duration,
    /// `Ok` once the outputs are live; the error otherwise (the inputs stay
    /// live, nothing is lost).
    pub result: Result<()>,
}

/// Why a table was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableCreationReason {
    /// A flush of a sealed memtable.
    Flush,
    /// An output of a compaction job.
    Compaction,
    /// A memtable replayed from a WAL at open.
    Recovery,
}

/// What [`EventListener::on_table_created`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TableCreatedInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The table's file number (`NNNNNN.rkt`).
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Entries (versions) in it.
    pub entries: u64,
    /// Why it was written.
    pub reason: TableCreationReason,
    /// The compaction job that wrote it, for
    /// [`TableCreationReason::Compaction`].
    pub job_id: Option<u64>,
}

/// Why a table was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableDeletionReason {
    /// A compaction replaced it, and no reader pins it any more.
    Compacted,
    /// At open: no manifest names it (left by a crash mid-flush or
    /// mid-compaction, or deleted late).
    Unreferenced,
}

/// What [`EventListener::on_table_deleted`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TableDeletedInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The table's file number.
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Why it was deleted.
    pub reason: TableDeletionReason,
}

/// What stalls writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteStallCause {
    /// `max_sealed_memtables` memtables wait for flush: writers wait.
    Memtables,
    /// Runs pile up past `slowdown_runs`: each commit group waits 1 ms. It
    /// begins at the first slowed commit and ends at the first commit that
    /// is not slowed (or at close).
    Slowdown,
    /// Runs pile up to `stop_runs`: writers wait for compaction.
    Stop,
}

/// What [`EventListener::on_write_stall_begin`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteStallBeginInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// What stalls writers.
    pub cause: WriteStallCause,
    /// Why, in words (as [`Stats::write_stall_reason`](crate::Stats)).
    pub reason: String,
}

/// Why a transaction's commit was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionConflictKind {
    /// A key it writes was written by a commit after its snapshot.
    WriteWrite,
    /// (Serializable) a key it read was written after its snapshot.
    ReadWrite,
    /// (Serializable) a key in a range its iterator covered was written
    /// after its snapshot.
    Range,
    /// Its snapshot is older than the index of recent commits remembers.
    TooOld,
}

/// What [`EventListener::on_transaction_conflict`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransactionConflictInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// Why it was refused.
    pub kind: TransactionConflictKind,
    /// The keyspace of the key concerned (`None` for
    /// [`TooOld`](TransactionConflictKind::TooOld), or a keyspace dropped
    /// since).
    pub keyspace: Option<String>,
    /// The key concerned (`None` for `TooOld`).
    pub key: Option<Vec<u8>>,
    /// The sequence number the transaction read at.
    pub snapshot: u64,
    /// The sequence number of the commit it lost to (for `TooOld`: the
    /// newest one the index forgot).
    pub conflicting: u64,
}

/// What [`EventListener::on_write_stall_end`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteStallEndInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// What stalled writers, as in the begin event.
    pub cause: WriteStallCause,
    /// Why, in words, as in the begin event.
    pub reason: String,
    /// How long the stall lasted.
    pub duration: Duration,
    /// `Ok` if writers go on; the error they got otherwise (the flush or
    /// compaction failed, or the database closed).
    pub result: Result<()>,
}

/// Which background work failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackgroundErrorReason {
    /// A flush failed: writes are refused until reopen.
    Flush,
    /// A compaction failed (background jobs are retried after a second),
    /// or its manifest edit failed (writes are then refused).
    Compaction,
    /// A WAL append or fsync failed on the write path: writes are refused
    /// until reopen.
    Wal,
}

/// What [`EventListener::on_background_error`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BackgroundErrorInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// Which work failed.
    pub reason: BackgroundErrorReason,
    /// The error.
    pub error: Error,
    /// Whether the database now refuses writes
    /// ([`Poisoned`](crate::ErrorKind::Poisoned)) until reopened.
    pub writes_refused: bool,
}

/// Where damage was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CorruptionContext {
    /// Opening the database (the open fails).
    Open,
    /// A point read ([`Db::get`](crate::Db::get) or a snapshot's).
    Get,
    /// An iterator (or an async stream).
    Iterator,
    /// A flush.
    Flush,
    /// A compaction, reading its inputs.
    Compaction,
    /// [`Db::verify`](crate::Db::verify).
    Verify,
}

/// What [`EventListener::on_corruption`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CorruptionInfo {
    /// The database directory.
    pub db_path: PathBuf,
    /// The damaged file.
    pub file: PathBuf,
    /// The byte offset of the damage (of the damaged block or record).
    pub offset: u64,
    /// What is wrong, as the error's message says it.
    pub message: String,
    /// Where it was found.
    pub context: CorruptionContext,
}
