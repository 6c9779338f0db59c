//! The built-in listener that emits every event as a `tracing` event.

use super::*;

/// Emits a `tracing` event for every callback (target `rillkv::event`):
/// `debug` for begins, `info` for ends and tables, `warn` for stalls and
/// failed jobs, `error` for background errors and corruption. The library
/// never installs a subscriber; the program chooses one.
///
/// ```
/// use std::sync::Arc;
/// # fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let opts = rillkv::Options::default().listener(Arc::new(rillkv::event::TracingListener));
/// let db = rillkv::Db::open(dir.path(), opts)?;
/// db.put(b"k", b"v")?;
/// db.flush()?; // "flush finished" at info level, if a subscriber listens
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingListener;

fn outcome(result: &Result<()>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    }
}

impl EventListener for TracingListener {
    fn on_flush_begin(&self, i: &FlushBeginInfo) {
        tracing::debug!(
            db = %i.db_path.display(),
            memtable = i.memtable_id,
            bytes = i.memtable_bytes,
            entries = i.memtable_entries,
            table = i.table_number,
            "flush started"
        );
    }

    fn on_flush_end(&self, i: &FlushEndInfo) {
        let millis = i.duration.as_millis() as u64;
        if i.result.is_ok() {
            tracing::info!(
                db = %i.db_path.display(),
                memtable = i.memtable_id,
                entries = i.memtable_entries,
                table = i.table_number,
                size = i.table_size,
                millis,
                "flush finished"
            );
        } else {
            tracing::warn!(
                db = %i.db_path.display(),
                memtable = i.memtable_id,
                millis,
                result = %outcome(&i.result),
                "flush failed"
            );
        }
    }

    fn on_compaction_begin(&self, i: &CompactionBeginInfo) {
        tracing::debug!(
            db = %i.db_path.display(),
            job = i.job_id,
            reason = %i.reason,
            runs = i.inputs.len(),
            tables = i.inputs.iter().map(|r| r.tables.len()).sum::<usize>(),
            bytes = i.input_bytes,
            "compaction started"
        );
    }

    fn on_compaction_end(&self, i: &CompactionEndInfo) {
        let millis = i.duration.as_millis() as u64;
        if i.result.is_ok() {
            tracing::info!(
                db = %i.db_path.display(),
                job = i.job_id,
                reason = %i.reason,
                outputs = i.outputs.len(),
                read = i.bytes_read,
                written = i.bytes_written,
                rounds = i.rounds,
                millis,
                "compaction finished"
            );
        } else {
            tracing::warn!(
                db = %i.db_path.display(),
                job = i.job_id,
                reason = %i.reason,
                millis,
                result = %outcome(&i.result),
                "compaction failed"
            );
        }
    }

    fn on_table_created(&self, i: &TableCreatedInfo) {
        tracing::info!(
            db = %i.db_path.display(),
            table = i.number,
            size = i.size,
            entries = i.entries,
            reason = ?i.reason,
            job = i.job_id,
            "table created"
        );
    }

    fn on_table_deleted(&self, i: &TableDeletedInfo) {
        tracing::info!(
            db = %i.db_path.display(),
            table = i.number,
            size = i.size,
            reason = ?i.reason,
            "table deleted"
        );
    }

    fn on_transaction_conflict(&self, i: &TransactionConflictInfo) {
        tracing::debug!(
            db = %i.db_path.display(),
            kind = ?i.kind,
            keyspace = ?i.keyspace,
            key = ?i.key.as_deref().map(String::from_utf8_lossy),
            snapshot = i.snapshot,
            conflicting = i.conflicting,
            "transaction conflict"
        );
    }

    fn on_write_stall_begin(&self, i: &WriteStallBeginInfo) {
        tracing::warn!(
            db = %i.db_path.display(),
            cause = ?i.cause,
            reason = %i.reason,
            "write stall began"
        );
    }

    fn on_write_stall_end(&self, i: &WriteStallEndInfo) {
        tracing::warn!(
            db = %i.db_path.display(),
            cause = ?i.cause,
            reason = %i.reason,
            micros = i.duration.as_micros() as u64,
            result = %outcome(&i.result),
            "write stall ended"
        );
    }

    fn on_background_error(&self, i: &BackgroundErrorInfo) {
        tracing::error!(
            db = %i.db_path.display(),
            reason = ?i.reason,
            error = %i.error,
            writes_refused = i.writes_refused,
            "background error"
        );
    }

    fn on_corruption(&self, i: &CorruptionInfo) {
        tracing::error!(
            db = %i.db_path.display(),
            file = %i.file.display(),
            offset = i.offset,
            context = ?i.context,
            message = %i.message,
            "corruption found"
        );
    }
}
