//! `DbStream`: a scan run by a blocking task and fed to async code in
//! bounded chunks through a channel.

use super::*;
use crate::db::Keyspace;

/// What a stream scans.
#[derive(Clone)]
pub(super) enum Source {
    Db(Db),
    Snapshot(Arc<Snapshot>),
    Keyspace(Keyspace),
    /// A keyspace as of a snapshot.
    SnapshotIn(Arc<Snapshot>, Keyspace),
}

impl Source {
    fn scan(&self, bounds: (Bound<Bytes>, Bound<Bytes>)) -> DbIter {
        match self {
            Source::Db(db) => db.range(bounds),
            Source::Snapshot(snap) => snap.range(bounds),
            Source::Keyspace(ks) => ks.range(bounds),
            Source::SnapshotIn(snap, ks) => snap.range_in(ks, bounds),
        }
    }
}

type Chunk = Vec<Result<(Bytes, Bytes)>>;

enum State {
    /// Not polled yet: `rev` may still change the direction.
    Idle {
        source: Source,
        bounds: (Bound<Bytes>, Bound<Bytes>),
    },
    Running {
        rx: mpsc::Receiver<Chunk>,
        buffered: VecDeque<Result<(Bytes, Bytes)>>,
    },
    Done,
}

/// An async scan: a [`Stream`] of `Result<(Bytes, Bytes)>` in key order
/// (or reverse order after [`rev`](Self::rev)), from [`AsyncDb::iter`],
/// [`AsyncDb::range`], [`AsyncDb::prefix`], the same on an
/// [`AsyncKeyspace`], or on an [`AsyncSnapshot`] (`iter_in` and the like
/// for a keyspace).
///
/// The scan starts at the first poll, on a blocking task that reads a
/// [`DbIter`](crate::DbIter) (so it sees the database as of that moment, or
/// as of its snapshot) and sends chunks of up to 256 pairs (or 256 KiB)
/// through a bounded channel: at most a few chunks are buffered, and
/// dropping the stream stops the task. Items are as [`DbIter`]'s: an error
/// ends the stream, except a failed merge, which concerns one key. Must be
/// polled inside a Tokio runtime.
///
/// Use it with any `Stream` combinator library, or with the inherent
/// [`next`](Self::next) and [`collect_vec`](Self::collect_vec).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rillkv::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
/// db.put(b"a", b"1").await?;
/// db.put(b"b", b"2").await?;
/// let mut scan = db.iter().rev();
/// let (first, _) = scan.next().await.expect("one pair")?;
/// assert_eq!(first, &b"b"[..]);
/// # Ok(()) }
/// ```
pub struct DbStream {
    state: State,
    reverse: bool,
}

impl std::fmt::Debug for DbStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Idle { .. } => "idle",
            State::Running { .. } => "running",
            State::Done => "done",
        };
        f.debug_struct("DbStream")
            .field("state", &state)
            .field("reverse", &self.reverse)
            .finish()
    }
}

impl DbStream {
    pub(super) fn new(source: Source, bounds: (Bound<Bytes>, Bound<Bytes>)) -> Self {
        DbStream {
            state: State::Idle { source, bounds },
            reverse: false,
        }
    }

    /// Yields the pairs in reverse key order. Only before the first poll:
    /// a started scan keeps its direction.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"a", b"1").await?;
    /// db.put(b"b", b"2").await?;
    /// let keys: Vec<_> = db.iter().rev().collect_vec().await?.into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, vec![&b"b"[..], &b"a"[..]]);
    /// # Ok(()) }
    /// ```
    pub fn rev(mut self) -> Self {
        if matches!(self.state, State::Idle { .. }) {
            self.reverse = !self.reverse;
        }
        self
    }

    /// The next pair, or `None` at the end (the same as
    /// `futures::StreamExt::next`, without the dependency).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"a", b"1").await?;
    /// let mut scan = db.iter();
    /// assert!(scan.next().await.is_some());
    /// assert!(scan.next().await.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn next(&mut self) -> Option<Result<(Bytes, Bytes)>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Every remaining pair, or the first error other than a failed merge.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> rillkv::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let db = rillkv::AsyncDb::open(dir.path(), rillkv::Options::default()).await?;
    /// db.put(b"a", b"1").await?;
    /// assert_eq!(db.iter().collect_vec().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The first error the scan yields (`Corruption`, `Io`, `Closed`,
    /// `MergeOperator`).
    pub async fn collect_vec(mut self) -> Result<Vec<(Bytes, Bytes)>> {
        let mut out = Vec::new();
        while let Some(item) = self.next().await {
            out.push(item?);
        }
        Ok(out)
    }

    /// Starts the scanning task.
    fn start(source: Source, bounds: (Bound<Bytes>, Bound<Bytes>), reverse: bool) -> State {
        let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(h) => h,
            Err(_) => {
                let err = Error::new(
                    ErrorKind::InvalidArgument,
                    "a DbStream must be polled inside a tokio runtime",
                );
                return State::Running {
                    rx,
                    buffered: VecDeque::from([Err(err)]),
                };
            }
        };
        // Detached: it ends at the scan's end, or when the stream (the
        // receiver) is dropped.
        drop(handle.spawn_blocking(move || {
            let iter = source.scan(bounds);
            if reverse {
                feed(iter.rev(), &tx);
            } else {
                feed(iter, &tx);
            }
        }));
        State::Running {
            rx,
            buffered: VecDeque::new(),
        }
    }
}

/// Sends `iter`'s items in chunks until it ends or the receiver is gone.
fn feed(iter: impl Iterator<Item = Result<(Bytes, Bytes)>>, tx: &mpsc::Sender<Chunk>) {
    let mut chunk = Vec::with_capacity(CHUNK_ENTRIES);
    let mut bytes = 0;
    for item in iter {
        if let Ok((k, v)) = &item {
            bytes += k.len() + v.len();
        }
        chunk.push(item);
        if chunk.len() >= CHUNK_ENTRIES || bytes >= CHUNK_BYTES {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ENTRIES));
            bytes = 0;
            if tx.blocking_send(full).is_err() {
                return; // the stream was dropped
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(chunk);
    }
}

impl Stream for DbStream {
    type Item = Result<(Bytes, Bytes)>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Idle { .. } => {
                    let State::Idle { source, bounds } =
                        std::mem::replace(&mut this.state, State::Done)
                    else {
                        continue;
                    };
                    this.state = DbStream::start(source, bounds, this.reverse);
                }
                State::Running { rx, buffered } => {
                    if let Some(item) = buffered.pop_front() {
                        return Poll::Ready(Some(item));
                    }
                    match rx.poll_recv(cx) {
                        Poll::Ready(Some(chunk)) => buffered.extend(chunk),
                        Poll::Ready(None) => this.state = State::Done,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl FusedStream for DbStream {
    /// Whether the scan has ended (polling again yields `None`).
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

fn owned_bound<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<Bytes> {
    match b {
        Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k.as_ref())),
        Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k.as_ref())),
        Bound::Unbounded => Bound::Unbounded,
    }
}

pub(super) fn owned_bounds<K: AsRef<[u8]>, R: RangeBounds<K>>(
    range: &R,
) -> (Bound<Bytes>, Bound<Bytes>) {
    (
        owned_bound(range.start_bound()),
        owned_bound(range.end_bound()),
    )
}

pub(super) fn prefix_bounds(prefix: &[u8]) -> (Bound<Bytes>, Bound<Bytes>) {
    let lower = Bound::Included(Bytes::copy_from_slice(prefix));
    let upper = crate::key::prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (lower, upper)
}
