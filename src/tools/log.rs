//! WAL and manifest dumps: records with their offsets, decoded. Formats:
//! `docs/format/wal.md` (framing, write groups) and
//! `docs/format/manifest.md` (version edits, `CURRENT`).

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::EntryDump;
use crate::error::{Error, Result};
use crate::filename;
use crate::key::ValueKind;
use crate::version::TableMeta;
use crate::version::set::parse_current;
use crate::wal;

/// Damage that ended the reading of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDamage {
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub dropped_bytes: u64,
    /// What is wrong.
    pub reason: &'static str,
    /// Whether it is only a tail a crash could leave (see
    /// `docs/format/wal.md`, "Recovery").
    pub is_tail: bool,
}

impl From<&wal::Damage> for LogDamage {
    fn from(d: &wal::Damage) -> Self {
        LogDamage {
            offset: d.offset,
            dropped_bytes: d.dropped_bytes,
            reason: d.reason,
            is_tail: d.is_tail,
        }
    }
}

/// One write group (a WAL record's payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDump {
    /// Sequence number of the first entry; entry `i` has `base + i`.
    pub base_seqno: u64,
    /// The entries, each with its own sequence number.
    pub entries: Vec<EntryDump>,
}

/// One WAL record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    /// Offset of the record's first fragment.
    pub offset: u64,
    /// Payload bytes.
    pub len: u64,
    /// The decoded write group, or why it does not decode.
    pub batch: std::result::Result<BatchDump, String>,
}

/// A WAL file, record by record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalDump {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub file_size: u64,
    /// Every complete, valid record before any damage.
    pub records: Vec<WalRecord>,
    /// The damage that ended reading, if any.
    pub damage: Option<LogDamage>,
}

fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Delete => "delete",
        ValueKind::Put => "put",
        ValueKind::Merge => "merge",
    }
}

fn read(path: &Path) -> Result<Bytes> {
    std::fs::read(path)
        .map(Bytes::from)
        .map_err(|e| Error::io("read", path, e))
}

/// Reads every record of the WAL at `path` and decodes each write group.
///
/// # Errors
/// `Io` if the file cannot be read. Damage is reported in the dump.
pub fn dump_wal(path: &Path) -> Result<WalDump> {
    let data = read(path)?;
    let file_size = data.len() as u64;
    let mut reader = wal::Reader::preallocated(path, data);
    let mut records = Vec::new();
    while let Some((offset, payload)) = reader.next_record() {
        let batch = crate::batch::decode_payload(&payload)
            .map(|(base, entries)| BatchDump {
                base_seqno: base,
                entries: entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, (keyspace, kind, key, value))| EntryDump {
                        keyspace,
                        key: key.to_vec(),
                        seqno: base.wrapping_add(i as u64),
                        kind: kind_name(kind),
                        value: value.to_vec(),
                    })
                    .collect(),
            })
            .map_err(|b| format!("malformed write group: {}", b.0));
        records.push(WalRecord {
            offset,
            len: payload.len() as u64,
            batch,
        });
    }
    Ok(WalDump {
        path: path.to_path_buf(),
        file_size,
        records,
        damage: reader.damage().map(LogDamage::from),
    })
}

/// What the manifest records about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// File number (`NNNNNN.rkt`).
    pub number: u64,
    /// The sorted run it belongs to.
    pub run: u64,
    /// File size in bytes.
    pub size: u64,
    /// Smallest user key.
    pub smallest: Vec<u8>,
    /// Largest user key.
    pub largest: Vec<u8>,
    /// Smallest sequence number.
    pub min_seqno: u64,
    /// Largest sequence number.
    pub max_seqno: u64,
    /// Entries (versions).
    pub entries: u64,
}

impl From<&TableMeta> for TableInfo {
    fn from(m: &TableMeta) -> Self {
        TableInfo {
            number: m.number,
            run: m.run,
            size: m.size,
            smallest: m.smallest.to_vec(),
            largest: m.largest.to_vec(),
            min_seqno: m.min_seqno,
            max_seqno: m.max_seqno,
            entries: m.entries,
        }
    }
}

/// One version edit: a record's database-wide fields (on its first edit)
/// and one keyspace's changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditDump {
    /// `FORMAT_VERSION`.
    pub format_version: Option<u32>,
    /// `NEXT_FILE_NUMBER`.
    pub next_file_number: Option<u64>,
    /// `LAST_SEQNO`.
    pub last_seqno: Option<u64>,
    /// `NEXT_KEYSPACE_ID`.
    pub next_keyspace_id: Option<u32>,
    /// The keyspace changed (`KEYSPACE`; 0 is the default keyspace).
    pub keyspace: u32,
    /// `CREATE_KEYSPACE`: its name.
    pub create: Option<String>,
    /// `DROP_KEYSPACE`.
    pub drop: bool,
    /// `LOG_NUMBER`: the keyspace's writes in WALs below it are in tables.
    pub log_number: Option<u64>,
    /// `MERGE_OPERATOR`.
    pub merge_operator: Option<String>,
    /// `ADD_TABLE` fields.
    pub added: Vec<TableInfo>,
    /// `DELETE_TABLE` fields.
    pub deleted: Vec<u64>,
}

impl EditDump {
    /// Whether the edit has no field (the empty edit that lets deletions
    /// lag one record).
    pub fn is_empty(&self) -> bool {
        *self == EditDump::default()
    }
}

/// One manifest record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    /// Offset of the record's first fragment.
    pub offset: u64,
    /// Payload bytes.
    pub len: u64,
    /// The decoded edits (none for an empty record), or why it does not
    /// decode.
    pub edits: std::result::Result<Vec<EditDump>, String>,
}

/// A manifest, edit by edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestDump {
    /// The manifest file.
    pub path: PathBuf,
    /// `CURRENT`'s content (when a directory was given).
    pub current: Option<String>,
    /// The manifest's size.
    pub file_size: u64,
    /// Every complete, valid record before any damage, in order.
    pub records: Vec<ManifestRecord>,
    /// The damage that ended reading, if any.
    pub damage: Option<LogDamage>,
}

/// The manifest `CURRENT` names in `dir`, with `CURRENT`'s content.
///
/// # Errors
/// `InvalidArgument` if `dir` has no `CURRENT` (not a database);
/// `Corruption` if `CURRENT` is malformed; `Io` if it cannot be read.
pub(crate) fn current_manifest(dir: &Path) -> Result<(PathBuf, String)> {
    let current = dir.join(filename::CURRENT);
    if !current.exists() {
        return Err(Error::invalid(format!(
            "{} is not a rillkv database: it has no CURRENT file",
            dir.display()
        )));
    }
    let data = read(&current)?;
    let number = parse_current(&data).ok_or_else(|| {
        Error::corruption(
            &current,
            0,
            "CURRENT is not one line naming a manifest with its valid checksum",
        )
    })?;
    Ok((
        filename::manifest_path(dir, number),
        String::from_utf8_lossy(&data).trim_end().to_owned(),
    ))
}

/// Reads every edit of a manifest: `path` is a database directory (its
/// `CURRENT` names the manifest) or a manifest file.
///
/// # Errors
/// `Io` if a file cannot be read; `InvalidArgument` or `Corruption` as
/// for a bad `CURRENT`. Damage inside the manifest is reported in the dump.
pub fn dump_manifest(path: &Path) -> Result<ManifestDump> {
    let (file, current) = if path.is_dir() {
        let (file, current) = current_manifest(path)?;
        (file, Some(current))
    } else {
        (path.to_path_buf(), None)
    };
    let data = read(&file)?;
    let file_size = data.len() as u64;
    let mut reader = wal::Reader::new(&file, data);
    let mut records = Vec::new();
    while let Some((offset, payload)) = reader.next_record() {
        let edits = crate::version::ManifestRecord::decode(&payload)
            .map(|r| {
                let global = EditDump {
                    format_version: r.format_version,
                    next_file_number: r.next_file_number,
                    last_seqno: r.last_seqno,
                    next_keyspace_id: r.next_keyspace_id,
                    ..EditDump::default()
                };
                let mut edits: Vec<EditDump> = r
                    .edits
                    .into_iter()
                    .map(|e| EditDump {
                        keyspace: e.keyspace,
                        create: e.create,
                        drop: e.drop,
                        log_number: e.log_number,
                        merge_operator: e.merge_operator,
                        added: e.added.iter().map(TableInfo::from).collect(),
                        deleted: e.deleted,
                        ..EditDump::default()
                    })
                    .collect();
                match edits.first_mut() {
                    Some(first) => {
                        first.format_version = global.format_version;
                        first.next_file_number = global.next_file_number;
                        first.last_seqno = global.last_seqno;
                        first.next_keyspace_id = global.next_keyspace_id;
                    }
                    None if !global.is_empty() => edits.push(global),
                    None => {}
                }
                edits
            })
            .map_err(|why| format!("bad version edit: {why}"));
        records.push(ManifestRecord {
            offset,
            len: payload.len() as u64,
            edits,
        });
    }
    Ok(ManifestDump {
        path: file,
        current,
        file_size,
        records,
        damage: reader.damage().map(LogDamage::from),
    })
}
