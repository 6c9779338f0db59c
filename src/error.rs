//! The one public error type.
//!
//! Every fallible call returns [`Error`]. Callers branch on [`Error::kind`];
//! the message says what happened and what to do about it, and
//! [`std::error::Error::source`] leads to the underlying cause (an
//! `std::io::Error`, a merge-operator failure, ...).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::filename::{self, FileKind};

/// A specialised `Result` for rillkv.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarsely: enough to decide what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system failed a read, write, fsync, rename or similar.
    /// The data already acknowledged is safe. A write that fails this way
    /// may or may not appear after a reopen (its record may have reached the
    /// disk before the failure was seen), but never torn.
    Io,
    /// Bytes on disk do not match their checksum or format. The message names
    /// the file and offset. Nothing corrupt is ever returned as data.
    Corruption,
    /// The caller passed an option or argument that makes no sense.
    InvalidArgument,
    /// Another `Db` (in this process or another) holds the directory's lock.
    Locked,
    /// A merge operator failed to combine operands for a key. The operands
    /// are kept as they were; no data is lost.
    MergeOperator,
    /// The database was closed; the handle can no longer be used.
    Closed,
    /// An earlier write or fsync failed, so the database refuses further
    /// writes until it is reopened. Reads keep working.
    Poisoned,
    /// The handle was opened with `Db::open_read_only`: it reads, and
    /// refuses every call that would change the directory (writes, flush,
    /// compaction, checkpoints, creating or dropping a keyspace). Open the
    /// database with `Db::open` to change it.
    ReadOnly,
    /// A transaction (or compare-and-swap) lost a race: something it read
    /// or wrote was changed by a commit after its snapshot, or its snapshot
    /// is older than the commits the database still remembers. Nothing was
    /// written; run it again (see `Db::run_transaction`).
    Conflict,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Io => "i/o error",
            ErrorKind::Corruption => "corruption",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Locked => "locked",
            ErrorKind::MergeOperator => "merge operator failed",
            ErrorKind::Closed => "closed",
            ErrorKind::Poisoned => "poisoned",
            ErrorKind::ReadOnly => "read-only",
            ErrorKind::Conflict => "conflict",
        })
    }
}

/// The error returned by every fallible rillkv call.
///
/// `Error` is `Send + Sync + 'static`, cheap to move (one box) and to clone,
/// and its `Display` is a lowercase sentence that says what to do.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    /// The damaged file and byte offset, for `Corruption` errors.
    location: Option<(PathBuf, u64)>,
}

impl Error {
    /// Builds an error of `kind` with a message.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                source: None,
                location: None,
            }),
        }
    }

    /// Attaches the underlying cause.
    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.inner.source = Some(Arc::from(source.into()));
        self
    }

    /// The coarse category: what the caller can do about it.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, ErrorKind, Options};
    /// let err = Db::open(dir.path(), Options::default().block_size(10)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// # Ok(()) }
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The human-readable message without the source chain: lowercase,
    /// saying what went wrong and what to do. `Display` prints the same.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use rillkv::{Db, Options};
    /// let err = Db::open(dir.path(), Options::default().block_size(10)).unwrap_err();
    /// assert!(err.message().contains("block_size"), "{err}");
    /// assert_eq!(err.message(), err.to_string());
    /// # Ok(()) }
    /// ```
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// An I/O failure while doing `what` on `path`.
    pub(crate) fn io(what: &str, path: &Path, err: std::io::Error) -> Self {
        let hint = match err.kind() {
            std::io::ErrorKind::StorageFull => {
                "; the disk is full: free space, then reopen the database (acknowledged \
                 writes are safe)"
            }
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                "; check the directory's permissions and that its filesystem is writable"
            }
            _ => "",
        };
        Error::new(
            ErrorKind::Io,
            format!("{what} {} failed: {err}{hint}", path.display()),
        )
        .with_source(err)
    }

    /// Corrupt bytes in `file` at byte `offset`. The advice depends on the
    /// file: damage in a WAL can be skipped by a lenient
    /// [`RecoveryMode`](crate::RecoveryMode); damage anywhere else (tables,
    /// manifest, `CURRENT`) cannot, since skipping it could lose tables.
    pub(crate) fn corruption(file: &Path, offset: u64, what: impl fmt::Display) -> Self {
        let is_wal = file
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| matches!(filename::parse(n), FileKind::Wal(_)));
        let advice = if is_wal {
            "restore the file from a backup, or open with RecoveryMode::PointInTime to keep \
             the writes before the damage"
        } else {
            "restore the file from a backup (recovery modes only skip damage in WAL files)"
        };
        let mut err = Error::new(
            ErrorKind::Corruption,
            format!(
                "corruption in {} at offset {offset}: {what}; {advice}",
                file.display()
            ),
        );
        err.inner.location = Some((file.to_path_buf(), offset));
        err
    }

    /// The damaged file and offset of a `Corruption` error.
    pub(crate) fn location(&self) -> Option<(&Path, u64)> {
        self.inner
            .location
            .as_ref()
            .map(|(file, offset)| (file.as_path(), *offset))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// A transaction refused at commit: `message` says what changed.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Conflict, message)
    }

    pub(crate) fn closed() -> Self {
        Error::new(
            ErrorKind::Closed,
            "the database is closed; open it again to keep using it",
        )
    }

    pub(crate) fn locked(path: &Path) -> Self {
        Error::new(
            ErrorKind::Locked,
            format!(
                "{} is locked by another open database (this process or another); \
                 close the other handle first",
                path.display()
            ),
        )
    }

    /// `what` refused on a read-only handle of the database in `dir`.
    pub(crate) fn read_only(what: &str, dir: &Path) -> Self {
        Error::new(
            ErrorKind::ReadOnly,
            format!(
                "{what} refused: {} was opened read-only (Db::open_read_only); open it with \
                 Db::open to change it",
                dir.display()
            ),
        )
    }

    pub(crate) fn poisoned(cause: &str) -> Self {
        Error::new(
            ErrorKind::Poisoned,
            format!(
                "writes are refused after an earlier failure ({cause}); reads still work, \
                 reopen the database to write again"
            ),
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.inner.kind);
        s.field("message", &self.inner.message);
        if let Some(src) = &self.inner.source {
            s.field("source", src);
        }
        s.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl From<std::io::Error> for Error {
    /// Wraps an I/O error from outside rillkv (for example creating a
    /// directory before opening a database) so `?` works in mixed code.
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("i/o error: {err}")).with_source(err)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_traits<T: Send + Sync + 'static + std::error::Error>() {}
        assert_traits::<Error>();
    }

    #[test]
    fn io_error_keeps_source_and_names_path() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::io("fsync", Path::new("/db/000001.wal"), io);
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(err.to_string().contains("/db/000001.wal"));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn corruption_names_file_and_offset() {
        let err = Error::corruption(Path::new("x.wal"), 4096, "bad checksum");
        assert_eq!(err.kind(), ErrorKind::Corruption);
        assert!(err.to_string().contains("x.wal at offset 4096"));
    }

    #[test]
    fn corruption_advice_depends_on_the_file() {
        let wal = Error::corruption(Path::new("/db/000007.wal"), 0, "bad checksum");
        assert!(
            wal.to_string().contains("RecoveryMode::PointInTime"),
            "{wal}"
        );
        for file in ["/db/000007.rkt", "/db/MANIFEST-000003", "/db/CURRENT"] {
            let err = Error::corruption(Path::new(file), 0, "bad checksum");
            assert!(!err.to_string().contains("PointInTime"), "{err}");
            assert!(err.to_string().contains("restore the file from a backup"));
        }
    }
}
