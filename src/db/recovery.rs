//! Opening a database: the lock, and replay of the WALs into memtables.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

use parking_lot::{Mutex, RwLock};

use super::keyspace::tree_options;
use super::snapshots::SnapshotList;
use super::write::{CommitQueue, WriteBacks};
use super::{DbInner, WalState};
use crate::batch;
use crate::conflict::RecentCommits;
use crate::error::{Error, Result};
use crate::event::{Events, TableCreationReason, TableDeletionReason};
use crate::filename::{self, FileKind};
use crate::fs::{Fence, FileLock, Fs, WritableFile};
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, SeqNo};
use crate::memtable::MemTable;
use crate::options::{KeyspaceOptions, Options, RecoveryMode};
use crate::stats::Counters;
use crate::table::BlockCache;
use crate::tree::{Tree, TreeOptions, write_memtable};
use crate::version::set::{LoadedState, NewManifest};
use crate::version::{
    OnTableDeleted, TableMeta, TableRegistry, Version, VersionEdit, VersionSet, check_table_size,
    set,
};
use crate::wal::{self, Damage};

/// What recovery found, kept for [`Db::stats`](crate::Db::stats).
#[derive(Debug, Clone, Default)]
pub(crate) struct RecoveryReport {
    /// WAL files replayed.
    pub wal_files: usize,
    /// Records (write groups) replayed.
    pub records: u64,
    /// Entries (single writes) replayed.
    pub entries: u64,
    /// Damaged log regions that were dropped.
    pub dropped: Vec<Damage>,
}

/// Opens the database in `dir`: the steps of "Recovery" in `DESIGN.md`,
/// each a function below.
pub(super) fn open(dir: &Path, opts: Options) -> Result<DbInner> {
    let fs = Arc::clone(&opts.fs);
    let span = tracing::info_span!(
        "open",
        dir = %dir.display(),
        wal_files = tracing::field::Empty,
        replayed_entries = tracing::field::Empty,
    );
    let _enter = span.enter();
    let events = Events::new(dir, &opts.listeners);
    check_new_database_allowed(&*fs, dir, &opts)?;
    create_dir_durably(&*fs, dir)?;
    let lock_path = dir.join(filename::LOCK);
    let lock = fs
        .try_lock(&lock_path)
        .map_err(|e| Error::io("lock", &lock_path, e))?
        .ok_or_else(|| Error::locked(dir))?;
    let shared = Shared::new(dir, &opts, &events);
    let tables = Arc::clone(&shared.tables);
    let kinds = list_files(&*fs, dir)?;
    let opening = Opening {
        dir,
        fs: &fs,
        opts: &opts,
        events: &events,
        tables: &tables,
    };
    let mut report = RecoveryReport::default();
    let mut state = load_manifest(&opening, &kinds, &mut report)?;
    for ks in state.keyspaces.values() {
        check_tables_present(&*fs, dir, &ks.version)?;
    }
    let replay = replay_wals(dir, &*fs, &opts, &kinds, &mut state, &mut report)?;
    let (versions, number, file, manifest_number) = write_state(&opening, state, &replay.sealed)?;
    set_aside_wals(&*fs, dir, &replay.set_aside);
    let kinds: Vec<(String, FileKind)> = kinds
        .into_iter()
        .filter(|(_, k)| !matches!(k, FileKind::Wal(n) if replay.set_aside.contains(n)))
        .collect();
    let mut trees = BTreeMap::new();
    for (id, meta) in versions.keyspaces() {
        let version = versions.version(id).unwrap_or_default();
        let tree = Tree::new(
            id,
            meta.name.clone(),
            tree_options_at_open(&opts, id, &meta.name),
            version,
            number,
            Arc::clone(&tables),
        );
        trees.insert(id, Arc::new(tree));
    }
    let live: std::collections::HashSet<u64> = trees
        .values()
        .flat_map(|t| {
            t.current()
                .version
                .tables()
                .map(|t| t.meta.number)
                .collect::<Vec<_>>()
        })
        .collect();
    remove_obsolete_files(
        &*fs,
        dir,
        &kinds,
        &live,
        (number, manifest_number),
        events.as_deref(),
    );
    span.record("wal_files", report.wal_files);
    span.record("replayed_entries", report.entries);
    tracing::info!(
        wal_files = report.wal_files,
        entries = report.entries,
        tables = live.len(),
        keyspaces = trees.len(),
        last_seqno = replay.last_seqno,
        dropped = report.dropped.len(),
        "recovered"
    );

    shared.into_inner(Recovered {
        dir,
        lock: Some(lock),
        trees,
        wal: (wal::Writer::preallocated(file), number),
        last_seqno: replay.last_seqno,
        next_file_number: number + 1,
        report,
        versions,
        events,
        opts,
        read_only: false,
    })
}

/// The names in `dir`, each with its kind.
pub(super) fn list_files(fs: &dyn Fs, dir: &Path) -> Result<Vec<(String, FileKind)>> {
    Ok(fs
        .list_dir(dir)
        .map_err(|e| Error::io("list", dir, e))?
        .into_iter()
        .map(|n| {
            let k = filename::parse(&n);
            (n, k)
        })
        .collect())
}

/// What every handle of a database shares from the start, made before
/// the manifest is read: the filesystem, the block cache, the fence and
/// the table registry.
pub(super) struct Shared {
    fs: Arc<dyn Fs>,
    block_cache: Option<Arc<BlockCache>>,
    fence: Arc<Fence>,
    pub(super) tables: Arc<TableRegistry>,
}

/// What an open recovered, to become a [`DbInner`].
pub(super) struct Recovered<'a> {
    pub(super) dir: &'a Path,
    pub(super) lock: Option<FileLock>,
    pub(super) trees: BTreeMap<KeyspaceId, Arc<Tree>>,
    /// The WAL writer and its number.
    pub(super) wal: (wal::Writer, u64),
    pub(super) last_seqno: SeqNo,
    pub(super) next_file_number: u64,
    pub(super) report: RecoveryReport,
    pub(super) versions: VersionSet,
    pub(super) events: Option<Arc<Events>>,
    pub(super) opts: Options,
    pub(super) read_only: bool,
}

impl Shared {
    pub(super) fn new(dir: &Path, opts: &Options, events: &Option<Arc<Events>>) -> Shared {
        let fs = Arc::clone(&opts.fs);
        let block_cache =
            (opts.block_cache_size > 0).then(|| Arc::new(BlockCache::new(opts.block_cache_size)));
        let fence = Arc::new(Fence::default());
        let tables = TableRegistry::new(
            dir,
            Arc::clone(&fs),
            block_cache.clone(),
            opts.mmap_reads,
            Arc::clone(&fence),
            events.clone().map(|ev| -> OnTableDeleted {
                Arc::new(move |number, size| {
                    ev.table_deleted(number, size, TableDeletionReason::Compacted);
                })
            }),
        );
        Shared {
            fs,
            block_cache,
            fence,
            tables,
        }
    }

    /// The database handle's shared state.
    pub(super) fn into_inner(self, r: Recovered<'_>) -> Result<DbInner> {
        let (writer, number) = r.wal;
        Ok(DbInner {
            dir: r.dir.to_path_buf(),
            fs: self.fs,
            lock: Mutex::new(r.lock),
            write_backs: WriteBacks::default(),
            fence: self.fence,
            default: Arc::clone(r.trees.get(&DEFAULT_KEYSPACE).ok_or_else(|| {
                Error::corruption(
                    &r.dir.join(filename::CURRENT),
                    0,
                    "the default keyspace is missing",
                )
            })?),
            trees: RwLock::new(r.trees),
            wal: Mutex::new(WalState {
                writer,
                number,
                seal: Vec::new(),
                slowdown: None,
                commits: RecentCommits::new(r.opts.transaction_index_bytes),
            }),
            current_wal: AtomicU64::new(number),
            wal_files: Mutex::new(BTreeMap::new()),
            wal_bytes: AtomicU64::new(0),
            commit: CommitQueue::default(),
            last_seqno: AtomicU64::new(r.last_seqno),
            next_file_number: AtomicU64::new(r.next_file_number),
            snapshots: SnapshotList::default(),
            closed: AtomicBool::new(false),
            live_transactions: AtomicUsize::new(0),
            unlogged: AtomicBool::new(false),
            poison: Mutex::new(None),
            counters: Counters::default(),
            recovery: r.report,
            versions: Mutex::new(r.versions),
            block_cache: self.block_cache,
            flush: Arc::default(),
            flush_thread: Mutex::new(None),
            compaction: Arc::default(),
            compact_thread: Mutex::new(None),
            events: r.events,
            opts: r.opts,
            read_only: r.read_only,
        })
    }
}

/// Step 1a. Without `CURRENT` the directory is a new database — unless it
/// holds tables or WALs, which only an existing database writes (after its
/// first `CURRENT` is durable): then `CURRENT` was lost, and creating a new
/// database there would delete them as unreferenced files.
fn check_new_database_allowed(fs: &dyn Fs, dir: &Path, opts: &Options) -> Result<()> {
    let current = dir.join(filename::CURRENT);
    if fs.exists(&current) {
        return Ok(());
    }
    match fs.list_dir(dir) {
        Ok(names) => {
            let data: Vec<&String> = names
                .iter()
                .filter(|n| matches!(filename::parse(n), FileKind::Wal(_) | FileKind::Table(_)))
                .collect();
            if let Some(first) = data.first() {
                return Err(Error::corruption(
                    &current,
                    0,
                    format!(
                        "the file is missing but {} holds {} table and WAL files \
                         (first {first}); it is not opened as a new database, which would \
                         delete them",
                        dir.display(),
                        data.len()
                    ),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(not_a_directory(dir, e));
        }
        // Missing: created next if the options allow.
        Err(_) => {}
    }
    if !opts.create_if_missing {
        return Err(Error::invalid(format!(
            "{} holds no database (no CURRENT file); pass Options::create_if_missing(true) \
             to create one",
            dir.display()
        )));
    }
    Ok(())
}

/// What every step of an open needs: where, how, and who hears of it.
pub(super) struct Opening<'a> {
    pub(super) dir: &'a Path,
    pub(super) fs: &'a Arc<dyn Fs>,
    pub(super) opts: &'a Options,
    pub(super) events: &'a Option<Arc<Events>>,
    pub(super) tables: &'a Arc<TableRegistry>,
}

/// Step 2. Loads `CURRENT` and the manifest it names (a torn last record
/// dropped and reported), checks the options against it
/// (`error_if_exists`, the merge operator's name), and never reuses a
/// number a file in the directory already has.
pub(super) fn load_manifest(
    open: &Opening<'_>,
    kinds: &[(String, FileKind)],
    report: &mut RecoveryReport,
) -> Result<LoadedState> {
    let dir = open.dir;
    let loaded = set::load(dir, open.fs, open.tables)?;
    let has_wals = kinds.iter().any(|(_, k)| matches!(k, FileKind::Wal(_)));
    if (loaded.is_some() || has_wals) && open.opts.error_if_exists {
        return Err(Error::invalid(format!(
            "a database already exists at {} and error_if_exists is set",
            dir.display()
        )));
    }
    let mut state = loaded.unwrap_or_else(LoadedState::new_database);
    if let Some(d) = state.dropped.take() {
        report.dropped.push(d);
    }
    for (&id, ks) in &mut state.keyspaces {
        let configured = keyspace_options(open.opts, id, &ks.meta.name)
            .and_then(|o| o.merge_operator.as_ref())
            .map(|op| op.name().to_owned());
        ks.meta.merge_operator = super::keyspace::check_merge_operator(
            dir,
            &ks.meta.name,
            ks.meta.merge_operator.as_deref(),
            configured.as_deref(),
        )?;
    }
    let max_seen = kinds
        .iter()
        .filter_map(|(_, k)| match *k {
            FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n) | FileKind::Temp(n) => {
                Some(n)
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);
    state.next_file_number = state.next_file_number.max(max_seen + 1);
    Ok(state)
}

/// Step 2b. Every table the manifest names must exist, with the size it
/// records (a truncated, extended or swapped table is refused here, before
/// the open writes anything). Their contents are checked when first read.
pub(super) fn check_tables_present(fs: &dyn Fs, dir: &Path, version: &Version) -> Result<()> {
    for t in version.tables() {
        let path = filename::table_path(dir, t.meta.number);
        let size = match fs.file_size(&path) {
            Ok(size) => size,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let current = dir.join(filename::CURRENT);
                return Err(Error::corruption(
                    &current,
                    0,
                    format!(
                        "the manifest names table {} which is missing; restore it from a backup",
                        path.display()
                    ),
                ));
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        check_table_size(&path, t.meta.size, size)?;
    }
    Ok(())
}

/// What replaying the WALs produced.
pub(super) struct Replayed {
    /// One memtable per keyspace and WAL that held its writes, oldest
    /// first.
    pub(super) sealed: Vec<(KeyspaceId, Arc<MemTable>)>,
    /// WALs after point-in-time damage: renamed once the new manifest is
    /// durable (so a failed open renames nothing), never replayed again.
    pub(super) set_aside: Vec<u64>,
    pub(super) last_seqno: SeqNo,
}

/// Step 3. Replays every WAL numbered at least the smallest keyspace log
/// number, oldest first, each into one memtable per keyspace, applying the
/// recovery mode to damage. A write is replayed only into a keyspace that
/// exists and whose log number is at most its WAL's (older ones are in
/// its tables; a dropped keyspace's are gone with it).
pub(super) fn replay_wals(
    dir: &Path,
    fs: &dyn Fs,
    opts: &Options,
    kinds: &[(String, FileKind)],
    state: &mut LoadedState,
    report: &mut RecoveryReport,
) -> Result<Replayed> {
    let floor = state.min_log_number();
    let mut wals: Vec<u64> = kinds
        .iter()
        .filter_map(|(_, k)| match *k {
            FileKind::Wal(n) if n >= floor => Some(n),
            _ => None,
        })
        .collect();
    wals.sort_unstable();
    let log_numbers: BTreeMap<KeyspaceId, u64> = state
        .keyspaces
        .iter()
        .map(|(&id, k)| (id, k.meta.log_number))
        .collect();
    let mut sealed = Vec::new();
    let mut stop_at: Option<usize> = None;
    // Records follow each other in sequence order across every WAL.
    let mut replayed_seqno = 0;
    for (idx, &number) in wals.iter().enumerate() {
        let path = filename::wal_path(dir, number);
        let mems = replay_wal(
            fs,
            &path,
            number,
            opts,
            &log_numbers,
            &mut replayed_seqno,
            report,
        )?;
        report.wal_files += 1;
        sealed.extend(
            mems.into_iter()
                .filter(|(_, m)| !m.is_empty())
                .map(|(id, m)| (id, Arc::new(m))),
        );
        if let Some(damage) = report.dropped.last()
            && damage.file == path
            && opts.recovery_mode == RecoveryMode::PointInTime
        {
            stop_at = Some(idx + 1);
            break;
        }
    }
    state.last_seqno = state.last_seqno.max(replayed_seqno);
    let set_aside = stop_at.map_or_else(Vec::new, |first_dropped| {
        wals.iter().skip(first_dropped).copied().collect()
    });
    Ok(Replayed {
        sealed,
        set_aside,
        last_seqno: state.last_seqno,
    })
}

/// Step 5 (point-in-time only). Renames the WALs set aside to
/// `NNNNNN.wal.dropped`, for inspection; the new manifest already puts them
/// below its log number.
fn set_aside_wals(fs: &dyn Fs, dir: &Path, numbers: &[u64]) {
    for &number in numbers {
        let from = filename::wal_path(dir, number);
        let to = from.with_extension("wal.dropped");
        tracing::warn!(file = %from.display(), "point-in-time recovery set this WAL aside");
        if let Err(e) = fs.rename(&from, &to) {
            tracing::warn!(file = %from.display(), error = %e, "could not set the WAL aside");
        }
    }
}

/// The options `opts` give keyspace `id` named `name` at open: the
/// default keyspace's own, or those registered with `Options::keyspace`.
fn keyspace_options<'o>(
    opts: &'o Options,
    id: KeyspaceId,
    name: &str,
) -> Option<&'o KeyspaceOptions> {
    if id == DEFAULT_KEYSPACE {
        Some(opts.default_keyspace())
    } else {
        opts.keyspaces.get(name)
    }
}

/// The tree options of keyspace `id` at open (defaults for a keyspace the
/// options do not name).
pub(super) fn tree_options_at_open(opts: &Options, id: KeyspaceId, name: &str) -> TreeOptions {
    match keyspace_options(opts, id, name) {
        Some(ks) => tree_options(ks),
        None => tree_options(&KeyspaceOptions::default()),
    }
}

/// Step 4. Writes the recovered state: each replayed memtable as a table,
/// then a new manifest holding the whole state (every replayed WAL below
/// its log number) and `CURRENT` naming it, then a fresh WAL. Returns the
/// version set, the new WAL's number and file, and the manifest's number.
/// If it fails before `CURRENT` names the new manifest, it removes the
/// files it wrote: a failed open changes nothing.
///
/// Replayed writes become tables now, so that no recovered log — possibly
/// unsynced, possibly damaged at its tail — outlives this open: the next
/// open, after a crash or not, never meets that damage again, and a synced
/// write made after this open cannot outlive an earlier, replayed one.
fn write_state(
    open: &Opening<'_>,
    state: LoadedState,
    sealed: &[(KeyspaceId, Arc<MemTable>)],
) -> Result<(VersionSet, u64, Box<dyn WritableFile>, u64)> {
    let (dir, fs) = (open.dir, open.fs);
    let mut written = Vec::new();
    let result = write_state_files(open, state, sealed, &mut written);
    if result.is_err() {
        // Unless CURRENT already names the new manifest (a failure after
        // its rename): then the open happened and its files are live.
        let installed = fs
            .read(&dir.join(filename::CURRENT))
            .ok()
            .and_then(|data| set::parse_current(&data))
            .is_some_and(|n| written.contains(&filename::manifest_path(dir, n)));
        if !installed {
            for path in &written {
                let _ = fs.remove_file(path);
            }
        }
    }
    result
}

/// [`write_state`]'s work; every file it creates is pushed to `written`
/// first.
fn write_state_files(
    open: &Opening<'_>,
    state: LoadedState,
    sealed: &[(KeyspaceId, Arc<MemTable>)],
    written: &mut Vec<std::path::PathBuf>,
) -> Result<(VersionSet, u64, Box<dyn WritableFile>, u64)> {
    let Opening {
        dir,
        fs,
        opts,
        events,
        tables,
    } = *open;
    let LoadedState {
        mut keyspaces,
        next_file_number,
        last_seqno,
        next_keyspace_id,
        dropped: _,
    } = state;
    let mut next_file = next_file_number;
    let mut added: BTreeMap<KeyspaceId, Vec<TableMeta>> = BTreeMap::new();
    for (id, mem) in sealed {
        let Some(ks) = keyspaces.get(id) else {
            continue;
        };
        let tree_opts = tree_options_at_open(opts, *id, &ks.meta.name);
        let number = next_file;
        next_file += 1;
        written.push(filename::table_path(dir, number));
        if let Some(meta) = write_memtable(dir, fs, &tree_opts, mem, number, Vec::new())? {
            if let Some(ev) = events {
                ev.table_created(
                    meta.number,
                    meta.size,
                    meta.entries,
                    TableCreationReason::Recovery,
                    None,
                );
            }
            added.entry(*id).or_default().push(meta);
        }
    }
    let manifest_number = next_file;
    let number = next_file + 1;
    for (id, ks) in &mut keyspaces {
        let edit = VersionEdit {
            added: added.remove(id).unwrap_or_default(),
            ..VersionEdit::of(*id)
        };
        ks.version = ks
            .version
            .apply(&edit, tables)
            .map_err(|why| Error::corruption(&dir.join(filename::CURRENT), 0, why))?;
        // Every write so far is in a table now.
        ks.meta.log_number = number;
    }
    written.push(filename::manifest_path(dir, manifest_number));
    written.push(filename::temp_path(dir, manifest_number));
    let versions = VersionSet::create(NewManifest {
        dir: dir.to_path_buf(),
        fs: Arc::clone(fs),
        tables: Arc::clone(tables),
        keyspaces,
        last_seqno,
        next_keyspace_id,
        manifest_number,
        next_file_number: next_file + 2,
        max_manifest_size: opts.max_manifest_size,
    })?;
    // CURRENT names the new manifest now: the open has happened, whatever
    // fails next (the next open replays the same WALs again).
    written.clear();
    let path = filename::wal_path(dir, number);
    let file = fs
        .create(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, e))?;
    Ok((versions, number, file, manifest_number))
}

/// Creates `dir` (and missing parents) so that it survives a power loss:
/// after `create_dir_all`, the parent of each directory it made is
/// fsynced, deepest first — otherwise a power loss could drop the new
/// database with synced writes in it.
fn create_dir_durably(fs: &dyn Fs, dir: &Path) -> Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|a| !fs.exists(a)).collect();
    fs.create_dir_all(dir).map_err(|e| match e.kind() {
        // The path, or one of its parents, is a file.
        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
            not_a_directory(dir, e)
        }
        _ => Error::io("create directory", dir, e),
    })?;
    for made in missing {
        if let Some(parent) = made.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent)
                .map_err(|e| Error::io("fsync directory", parent, e))?;
        }
    }
    Ok(())
}

/// The error for a database path that is a file, or lies under one.
fn not_a_directory(dir: &Path, err: std::io::Error) -> Error {
    Error::invalid(format!(
        "{} is not a directory (it, or a parent, is a file: {err}); pass the path of a \
         database directory",
        dir.display()
    ))
    .with_source(err)
}

/// Deletes files the new manifest does not need: tables it does not list,
/// WALs below its log number, other manifests and temporary files (left by
/// a crash mid-flush or mid-rename). Failures are logged, not fatal.
/// `(log_number, manifest_number)` are the new manifest's.
fn remove_obsolete_files(
    fs: &dyn Fs,
    dir: &Path,
    kinds: &[(String, FileKind)],
    live: &std::collections::HashSet<u64>,
    (log_number, manifest_number): (u64, u64),
    events: Option<&Events>,
) {
    for (name, kind) in kinds {
        let obsolete = match *kind {
            FileKind::Table(n) => !live.contains(&n),
            FileKind::Wal(n) => n < log_number,
            FileKind::Manifest(n) => n != manifest_number,
            FileKind::Temp(_) => true,
            FileKind::Current | FileKind::Lock | FileKind::Other => false,
        };
        if obsolete {
            let path = dir.join(name);
            // The size, for the listeners only.
            let size = match (events, kind) {
                (Some(_), FileKind::Table(_)) => fs.file_size(&path).unwrap_or(0),
                _ => 0,
            };
            match fs.remove_file(&path) {
                Ok(()) => {
                    tracing::debug!(file = %path.display(), "removed obsolete file");
                    if let (Some(ev), FileKind::Table(n)) = (events, kind) {
                        ev.table_deleted(*n, size, TableDeletionReason::Unreferenced);
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "could not remove obsolete file")
                }
            }
        }
    }
}

/// Replays one WAL into a new memtable per keyspace (see
/// [`replay_wals`] for which writes count), applying the recovery mode to
/// any damage found. `replayed_seqno` is the last sequence number replayed
/// so far: each record must follow it.
fn replay_wal(
    fs: &dyn Fs,
    path: &Path,
    number: u64,
    opts: &Options,
    log_numbers: &BTreeMap<KeyspaceId, u64>,
    replayed_seqno: &mut SeqNo,
    report: &mut RecoveryReport,
) -> Result<BTreeMap<KeyspaceId, MemTable>> {
    let data = fs.read(path).map_err(|e| Error::io("read", path, e))?;
    let mut mems: BTreeMap<KeyspaceId, MemTable> = BTreeMap::new();
    let mut reader = wal::Reader::preallocated(path, data);
    loop {
        let Some((offset, record)) = reader.next_record() else {
            if opts.recovery_mode == RecoveryMode::SkipCorrupted
                && let Some(skipped) = reader.skip_damage()
            {
                tracing::warn!(
                    file = %path.display(),
                    offset = skipped.offset,
                    skipped_bytes = skipped.dropped_bytes,
                    reason = skipped.reason,
                    "skipped a damaged log region"
                );
                report.dropped.push(skipped);
                continue;
            }
            break;
        };
        let decoded = match batch::decode_payload(&record) {
            Ok((base, _)) if base <= *replayed_seqno => Err(format!(
                "sequence number {base} does not follow {replayed_seqno}"
            )),
            Ok(d) => Ok(d),
            Err(b) => Err(format!("record holds a malformed batch: {}", b.0)),
        };
        let (base, entries) = match decoded {
            Ok(d) => d,
            Err(why) if opts.recovery_mode == RecoveryMode::SkipCorrupted => {
                tracing::warn!(file = %path.display(), offset, reason = %why, "skipped a bad record");
                report.dropped.push(Damage {
                    file: path.to_path_buf(),
                    offset,
                    dropped_bytes: record.len() as u64,
                    reason: "record with a valid checksum but bad contents",
                    is_tail: false,
                });
                continue;
            }
            Err(why) => return Err(Error::corruption(path, offset, why)),
        };
        let count = entries.len() as u64;
        for (i, (keyspace, kind, key, value)) in entries.into_iter().enumerate() {
            let wanted = log_numbers.get(&keyspace).is_some_and(|&log| number >= log);
            if wanted {
                mems.entry(keyspace)
                    .or_insert_with(|| MemTable::new(number))
                    .insert(&key, base + i as u64, kind, &value);
                report.entries += 1;
            }
        }
        report.records += 1;
        *replayed_seqno = (base + count.max(1) - 1).max(*replayed_seqno);
    }
    if let Some(damage) = reader.damage() {
        let acceptable = match opts.recovery_mode {
            RecoveryMode::AbsoluteConsistency => false,
            RecoveryMode::TolerateCorruptedTail => damage.is_tail,
            RecoveryMode::PointInTime | RecoveryMode::SkipCorrupted => true,
        };
        if !acceptable {
            return Err(Error::corruption(path, damage.offset, damage.reason));
        }
        tracing::warn!(
            file = %path.display(),
            offset = damage.offset,
            dropped_bytes = damage.dropped_bytes,
            reason = damage.reason,
            "dropped a damaged log tail"
        );
        report.dropped.push(damage.clone());
    }
    Ok(mems)
}
