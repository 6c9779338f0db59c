//! Calling the registered listeners from the engine: one `Events` per open
//! database, panics caught, nothing built when no listener is registered.

use super::*;

/// The listeners of one open database, with its path. Exists only when at
/// least one listener is registered (`Option<Arc<Events>>` elsewhere), so
/// that "no listener" costs one `None` check.
pub(crate) struct Events {
    db_path: PathBuf,
    listeners: Vec<Arc<dyn EventListener>>,
}

impl Events {
    /// `None` when `listeners` is empty.
    pub(crate) fn new(dir: &Path, listeners: &[Arc<dyn EventListener>]) -> Option<Arc<Events>> {
        if listeners.is_empty() {
            return None;
        }
        Some(Arc::new(Events {
            db_path: dir.to_path_buf(),
            listeners: listeners.to_vec(),
        }))
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.db_path.clone()
    }

    /// Calls `f` on every listener in registration order; a panicking
    /// listener is logged and skipped.
    fn each(&self, callback: &str, f: impl Fn(&dyn EventListener)) {
        for listener in &self.listeners {
            if catch_unwind(AssertUnwindSafe(|| f(listener.as_ref()))).is_err() {
                tracing::error!(callback, "an event listener panicked; the panic was caught");
            }
        }
    }

    pub(crate) fn flush_begin(&self, info: FlushBeginInfo) {
        self.each("on_flush_begin", |l| l.on_flush_begin(&info));
    }

    pub(crate) fn flush_end(&self, info: FlushEndInfo) {
        self.each("on_flush_end", |l| l.on_flush_end(&info));
    }

    pub(crate) fn compaction_begin(&self, info: CompactionBeginInfo) {
        self.each("on_compaction_begin", |l| l.on_compaction_begin(&info));
    }

    pub(crate) fn compaction_end(&self, info: CompactionEndInfo) {
        self.each("on_compaction_end", |l| l.on_compaction_end(&info));
    }

    pub(crate) fn table_created(
        &self,
        number: u64,
        size: u64,
        entries: u64,
        reason: TableCreationReason,
        job_id: Option<u64>,
    ) {
        let info = TableCreatedInfo {
            db_path: self.db_path(),
            number,
            size,
            entries,
            reason,
            job_id,
        };
        self.each("on_table_created", |l| l.on_table_created(&info));
    }

    pub(crate) fn table_deleted(&self, number: u64, size: u64, reason: TableDeletionReason) {
        let info = TableDeletedInfo {
            db_path: self.db_path(),
            number,
            size,
            reason,
        };
        self.each("on_table_deleted", |l| l.on_table_deleted(&info));
    }

    pub(crate) fn write_stall_begin(&self, cause: WriteStallCause, reason: &str) {
        let info = WriteStallBeginInfo {
            db_path: self.db_path(),
            cause,
            reason: reason.to_owned(),
        };
        self.each("on_write_stall_begin", |l| l.on_write_stall_begin(&info));
    }

    pub(crate) fn transaction_conflict(&self, info: TransactionConflictInfo) {
        let info = TransactionConflictInfo {
            db_path: self.db_path(),
            ..info
        };
        self.each("on_transaction_conflict", |l| {
            l.on_transaction_conflict(&info);
        });
    }

    pub(crate) fn write_stall_end(&self, stall: &ActiveStall, result: &Result<()>) {
        let info = WriteStallEndInfo {
            db_path: self.db_path(),
            cause: stall.cause,
            reason: stall.reason.clone(),
            duration: stall.started.elapsed(),
            result: result.clone(),
        };
        self.each("on_write_stall_end", |l| l.on_write_stall_end(&info));
    }

    pub(crate) fn background_error(
        &self,
        reason: BackgroundErrorReason,
        error: &Error,
        writes_refused: bool,
    ) {
        let info = BackgroundErrorInfo {
            db_path: self.db_path(),
            reason,
            error: error.clone(),
            writes_refused,
        };
        self.each("on_background_error", |l| l.on_background_error(&info));
    }

    /// Reports `error` if it is a `Corruption` error.
    pub(crate) fn corruption(&self, error: &Error, context: CorruptionContext) {
        if error.kind() != ErrorKind::Corruption {
            return;
        }
        let (file, offset) = error
            .location()
            .map_or((PathBuf::new(), 0), |(f, o)| (f.to_path_buf(), o));
        let info = CorruptionInfo {
            db_path: self.db_path(),
            file,
            offset,
            message: error.message().to_owned(),
            context,
        };
        self.each("on_corruption", |l| l.on_corruption(&info));
    }
}

/// A write stall in progress, as its begin event described it.
pub(crate) struct ActiveStall {
    pub(crate) cause: WriteStallCause,
    pub(crate) reason: String,
    pub(crate) started: std::time::Instant,
}

impl ActiveStall {
    /// Starts a stall and reports its beginning.
    pub(crate) fn begin(events: &Events, cause: WriteStallCause, reason: String) -> ActiveStall {
        events.write_stall_begin(cause, &reason);
        ActiveStall {
            cause,
            reason,
            started: std::time::Instant::now(),
        }
    }
}

/// Reports `error` as corruption found in `context`, if it is one and
/// anyone listens.
pub(crate) fn report_corruption(
    events: &Option<Arc<Events>>,
    error: &Error,
    context: CorruptionContext,
) {
    if let Some(ev) = events
        && error.kind() == ErrorKind::Corruption
    {
        ev.corruption(error, context);
    }
}
