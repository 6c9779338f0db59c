//! Opening a database: the lock, and replay of the WALs into memtables.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::{Mutex, RwLock};

use super::{DbInner, SuperVersion, WalState, write::CommitQueue};
use crate::batch;
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::key::SeqNo;
use crate::memtable::MemTable;
use crate::options::{Options, RecoveryMode};
use crate::snapshot::SnapshotList;
use crate::stats::Counters;
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

pub(super) fn open(dir: &Path, opts: Options) -> Result<DbInner> {
    let fs = Arc::clone(&opts.fs);
    let span = tracing::info_span!("open", dir = %dir.display());
    let _enter = span.enter();
    if !fs.exists(dir) {
        if !opts.create_if_missing {
            return Err(Error::invalid(format!(
                "no database at {}; pass Options::create_if_missing(true) to create one",
                dir.display()
            )));
        }
    }
    fs.create_dir_all(dir)
        .map_err(|e| Error::io("create directory", dir, e))?;
    let lock_path = dir.join(filename::LOCK);
    let lock = fs
        .try_lock(&lock_path)
        .map_err(|e| Error::io("lock", &lock_path, e))?
        .ok_or_else(|| Error::locked(dir))?;

    let names = fs.list_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut wals: Vec<u64> = names
        .iter()
        .filter_map(|n| match filename::parse(n) {
            FileKind::Wal(num) => Some(num),
            _ => None,
        })
        .collect();
    wals.sort_unstable();
    if !wals.is_empty() && opts.error_if_exists {
        return Err(Error::invalid(format!(
            "a database already exists at {} and error_if_exists is set",
            dir.display()
        )));
    }

    let mut report = RecoveryReport::default();
    let mut last_seqno: SeqNo = 0;
    let mut sealed = Vec::new();
    let mut stop_at: Option<usize> = None;
    for (idx, &number) in wals.iter().enumerate() {
        let path = filename::wal_path(dir, number);
        let mem = replay_wal(&*fs, &path, number, &opts, &mut last_seqno, &mut report)?;
        report.wal_files += 1;
        if !mem.is_empty() {
            sealed.push(Arc::new(mem));
        }
        if let Some(damage) = report.dropped.last()
            && damage.file == path
            && opts.recovery_mode == RecoveryMode::PointInTime
        {
            stop_at = Some(idx + 1);
            break;
        }
    }
    // In point-in-time mode, later logs are set aside, never replayed again.
    if let Some(first_dropped) = stop_at {
        for &number in wals.iter().skip(first_dropped) {
            let from = filename::wal_path(dir, number);
            let to = from.with_extension("wal.dropped");
            tracing::warn!(file = %from.display(), "point-in-time recovery set this WAL aside");
            fs.rename(&from, &to)
                .map_err(|e| Error::io("rename", &from, e))?;
        }
    }
    sealed.reverse(); // newest first

    let number = wals.last().map_or(1, |n| n + 1);
    let path = filename::wal_path(dir, number);
    let file = fs
        .create(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, e))?;
    tracing::info!(
        wal_files = report.wal_files,
        entries = report.entries,
        last_seqno,
        dropped = report.dropped.len(),
        "recovered"
    );

    Ok(DbInner {
        dir: dir.to_path_buf(),
        fs,
        lock: Mutex::new(Some(lock)),
        super_version: RwLock::new(Arc::new(SuperVersion {
            active: Arc::new(MemTable::new(number)),
            sealed,
        })),
        wal: Mutex::new(WalState {
            writer: wal::Writer::new(file),
            number,
        }),
        commit: CommitQueue::default(),
        last_seqno: AtomicU64::new(last_seqno),
        next_file_number: AtomicU64::new(number + 1),
        snapshots: SnapshotList::default(),
        closed: AtomicBool::new(false),
        poison: Mutex::new(None),
        counters: Counters::default(),
        recovery: report,
        opts,
    })
}

/// Replays one WAL into a new memtable, applying the recovery mode to any
/// damage found.
fn replay_wal(
    fs: &dyn crate::fs::Fs,
    path: &Path,
    number: u64,
    opts: &Options,
    last_seqno: &mut SeqNo,
    report: &mut RecoveryReport,
) -> Result<MemTable> {
    let data = fs.read(path).map_err(|e| Error::io("read", path, e))?;
    let mem = MemTable::new(number);
    let mut reader = wal::Reader::new(path, data);
    while let Some((offset, record)) = reader.next_record() {
        let (base, entries) = batch::decode_payload(&record).map_err(|b| {
            Error::corruption(
                path,
                offset,
                format!("record holds a malformed batch: {}", b.0),
            )
        })?;
        if base <= *last_seqno {
            return Err(Error::corruption(
                path,
                offset,
                format!("sequence number {base} does not follow {last_seqno}"),
            ));
        }
        for (i, (kind, key, value)) in entries.into_iter().enumerate() {
            mem.insert(key, base + i as u64, kind, value);
            report.entries += 1;
        }
        report.records += 1;
        *last_seqno = mem.max_seqno().max(*last_seqno);
    }
    if let Some(damage) = reader.damage() {
        let acceptable = match opts.recovery_mode {
            RecoveryMode::AbsoluteConsistency => false,
            RecoveryMode::TolerateCorruptedTail => damage.is_tail,
            RecoveryMode::PointInTime => true,
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
    Ok(mem)
}
