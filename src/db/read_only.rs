//! Read-only opens: the recovery steps that read (`CURRENT`, the manifest,
//! the tables, WAL replay into memtables), and none that write.
//!
//! # What a read-only handle is
//! - **No lock** is taken: any number of read-only handles, in any
//!   process, may open a directory, with or without a writer holding it.
//! - **Nothing is written**: no file is created, deleted, renamed or
//!   appended to, no manifest edit is made, no flush or compaction thread
//!   runs. WALs are replayed into memtables that stay in memory; every
//!   table is opened at open (its descriptor, or mapping, keeps it
//!   readable if a writer deletes it afterwards).
//! - **A fixed view**: the handle sees the database as of its open, a
//!   prefix of the writer's acknowledged writes, and never changes
//!   afterwards; open again to see newer writes.
//! - Every call that would change the directory fails with
//!   `ErrorKind::ReadOnly`.
//!
//! # Reading a directory a writer holds
//! The writer may roll its manifest, flush a WAL and delete it, or delete
//! compacted tables while the open reads. The open lists the directory
//! first, then reads `CURRENT` and the manifest, opens every table, and
//! replays the listed WALs the manifest still needs. A WAL is deleted
//! only after a manifest record that no longer needs it is durable, so
//! either the manifest read needs it (and it was listed) or its writes are
//! in the tables; WALs created after the listing hold only later writes,
//! so what is replayed is a prefix. A file that vanishes between the
//! steps (a manifest replaced, a table compacted away, a WAL flushed),
//! or a `CURRENT` that changed meanwhile, makes the open start over, up
//! to [`ATTEMPTS`] times.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::recovery::{
    Opening, Recovered, RecoveryReport, Shared, check_tables_present, list_files, load_manifest,
    replay_wals, tree_options_at_open,
};
use super::{Db, DbInner, lifecycle::HandleGuard};
use crate::error::{Error, ErrorKind, Result};
use crate::event::{CorruptionContext, Events};
use crate::filename::{self, FileKind};
use crate::fs::NoWrites;
use crate::key::KeyspaceId;
use crate::memtable::MemTable;
use crate::options::Options;
use crate::tree::Tree;
use crate::version::VersionSet;
use crate::version::set::parse_current;
use crate::wal;

/// How many times an open that raced a writer starts over.
const ATTEMPTS: u32 = 40;

/// The pause before the `n`th new attempt: 1 ms doubling up to 32 ms
/// (about a second in all), so that a writer rotating WALs faster than an
/// open reads them (small memtables) leaves a gap one attempt fits in.
fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(1 << attempt.saturating_sub(1).min(5))
}

impl Db {
    /// Opens the database in `path` for reading only, without taking its
    /// lock: any number of read-only handles may be open at once, in this
    /// and other processes, and a writer (`Db::open`) may hold the
    /// directory meanwhile. The handle sees the database as of this call
    /// — the tables the manifest lists and the writes its WALs hold,
    /// replayed into memory — and nothing written after it. Nothing in
    /// the directory is created, deleted, renamed or written, and no
    /// background thread runs.
    ///
    /// Writes, `flush`, `compact`, `checkpoint`, `sync_wal`, creating or
    /// dropping a keyspace fail with `ErrorKind::ReadOnly`; reads,
    /// snapshots, iterators, `stats` and `verify` work as usual, and
    /// `Db::keyspace` opens an existing keyspace. Options that shape
    /// writes are ignored; the merge operators must match the recorded
    /// ones, as for `Db::open`. A damaged WAL is handled per
    /// [`RecoveryMode`](crate::RecoveryMode); a writer's record being
    /// appended looks like a torn tail, which every mode but
    /// `AbsoluteConsistency` drops.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, ErrorKind, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// db.put(b"k", b"v")?; // in the WAL only
    /// // The writer still holds the directory.
    /// let ro = Db::open_read_only(dir.path(), Options::default())?;
    /// let another = Db::open_read_only(dir.path(), Options::default())?;
    /// assert_eq!(ro.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// assert_eq!(ro.put(b"k", b"w").unwrap_err().kind(), ErrorKind::ReadOnly);
    /// db.put(b"later", b"x")?;
    /// assert_eq!(another.get(b"later")?, None, "a fixed view as of its open");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` for bad options, a directory without a database
    /// (nothing is created), or a merge operator whose name differs from
    /// the recorded one; `Corruption` as for [`Db::open`]; `Io`; and, if
    /// a writer kept changing the files under the open for every attempt,
    /// the error of the last attempt.
    pub fn open_read_only(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = path.as_ref();
        opts.validate()?;
        let events = Events::new(dir, &opts.listeners);
        let mut attempt = 0;
        let inner = loop {
            attempt += 1;
            match open(dir, &opts, &events) {
                Ok(inner) => break inner,
                Err(Retry::Again(e)) if attempt < ATTEMPTS => {
                    tracing::debug!(dir = %dir.display(), attempt, error = %e, "read-only open raced a writer; starting over");
                    std::thread::sleep(backoff(attempt));
                }
                Err(Retry::Again(e) | Retry::Fail(e)) => {
                    crate::event::report_corruption(&events, &e, CorruptionContext::Open);
                    return Err(e);
                }
            }
        };
        let inner = Arc::new(inner);
        Ok(Db {
            handle: Arc::new(HandleGuard {
                inner: Arc::clone(&inner),
            }),
            inner,
        })
    }
}

/// Why an attempt failed.
enum Retry {
    /// The files changed under it (a writer is at work): start over.
    Again(Error),
    /// For good.
    Fail(Error),
}

/// `CURRENT`'s manifest number, or `None` when there is no `CURRENT`.
fn current(dir: &Path, opts: &Options) -> Result<Option<u64>> {
    let path = dir.join(filename::CURRENT);
    match opts.fs.read(&path) {
        Ok(data) => parse_current(&data).map(Some).ok_or_else(|| {
            Error::corruption(
                &path,
                0,
                "CURRENT is not one line naming a manifest with its valid checksum",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

/// What tells a writer's change apart from damage: `CURRENT`'s manifest
/// and that manifest's length.
fn marker(dir: &Path, opts: &Options) -> Result<Option<(u64, u64)>> {
    let Some(number) = current(dir, opts)? else {
        return Ok(None);
    };
    let len = opts
        .fs
        .file_size(&filename::manifest_path(dir, number))
        .unwrap_or(0);
    Ok(Some((number, len)))
}

/// One attempt.
fn open(
    dir: &Path,
    opts: &Options,
    events: &Option<Arc<Events>>,
) -> std::result::Result<DbInner, Retry> {
    let fs = &opts.fs;
    if !fs.exists(dir) {
        return Err(Retry::Fail(no_database(dir)));
    }
    let kinds = list_files(&**fs, dir).map_err(Retry::Fail)?;
    let Some(before) = marker(dir, opts).map_err(Retry::Fail)? else {
        return Err(Retry::Fail(no_database(dir)));
    };
    let newest_wal = newest_wal(&kinds).map(|n| filename::wal_path(dir, n));
    attempt(dir, opts, events, &kinds, before.0).map_err(|e| {
        // A writer at work: the manifest was replaced or appended to, a
        // file it named vanished (an Io error: not found), or the WAL it
        // appends to was read while a page of it was half copied (a
        // regular file's read is atomic per page, not per write: zeros
        // between records it wrote).
        let moved = marker(dir, opts).ok().flatten() != Some(before);
        let appended = e
            .location()
            .is_some_and(|(file, _)| Some(file) == newest_wal.as_deref());
        if moved || appended || e.kind() == ErrorKind::Io {
            Retry::Again(e)
        } else {
            Retry::Fail(e)
        }
    })
}

/// The read-only recovery: load the manifest named by `CURRENT`
/// (`manifest_number`), open every table, replay the WALs in `kinds` it
/// needs into memtables kept as each tree's sealed memtables.
fn attempt(
    dir: &Path,
    opts: &Options,
    events: &Option<Arc<Events>>,
    kinds: &[(String, FileKind)],
    manifest_number: u64,
) -> Result<DbInner> {
    let fs = &opts.fs;
    let shared = Shared::new(dir, opts, events);
    let tables = Arc::clone(&shared.tables);
    let opening = Opening {
        dir,
        fs,
        opts,
        events,
        tables: &tables,
    };
    let mut report = RecoveryReport::default();
    let mut state = load_manifest(&opening, kinds, &mut report)?;
    for ks in state.keyspaces.values() {
        check_tables_present(&**fs, dir, &ks.version)?;
        // Open now: an open table stays readable if a writer deletes it.
        for t in ks.version.tables() {
            t.table()?;
        }
    }
    let replay = replay_wals(dir, &**fs, opts, kinds, &mut state, &mut report)?;
    let newest_wal = newest_wal(kinds).unwrap_or(0);
    // Replayed oldest first; a tree lists its sealed memtables newest
    // first.
    let mut sealed: BTreeMap<KeyspaceId, Vec<Arc<MemTable>>> = BTreeMap::new();
    for (id, mem) in replay.sealed {
        sealed.entry(id).or_default().insert(0, mem);
    }
    let mut trees = BTreeMap::new();
    for (&id, ks) in &state.keyspaces {
        let tree = Tree::new(
            id,
            ks.meta.name.clone(),
            tree_options_at_open(opts, id, &ks.meta.name),
            Arc::new(ks.version.clone()),
            newest_wal,
            Arc::clone(&tables),
        )
        .with_sealed(sealed.remove(&id).unwrap_or_default());
        trees.insert(id, Arc::new(tree));
    }
    let next_file_number = state.next_file_number;
    let last_seqno = replay.last_seqno;
    tracing::info!(
        dir = %dir.display(),
        wal_files = report.wal_files,
        entries = report.entries,
        last_seqno,
        "opened read-only"
    );
    let versions = VersionSet::read_only(dir, Arc::clone(fs), tables, state, manifest_number);
    shared.into_inner(Recovered {
        dir,
        lock: None,
        trees,
        wal: (wal::Writer::new(Box::new(NoWrites)), newest_wal),
        last_seqno,
        next_file_number,
        report,
        versions,
        events: events.clone(),
        opts: opts.clone(),
        read_only: true,
    })
}

/// The number of the newest WAL among `kinds`: the one a writer may be
/// appending to.
fn newest_wal(kinds: &[(String, FileKind)]) -> Option<u64> {
    kinds
        .iter()
        .filter_map(|(_, k)| match k {
            FileKind::Wal(n) => Some(*n),
            _ => None,
        })
        .max()
}

fn no_database(dir: &Path) -> Error {
    Error::invalid(format!(
        "{} holds no database (no CURRENT file); a read-only open creates nothing",
        dir.display()
    ))
}
