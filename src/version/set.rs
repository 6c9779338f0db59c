//! [`VersionSet`]: the current version, the manifest it is logged to, and
//! `CURRENT`, which names the live manifest.
//!
//! # Ordering rules
//! - A table is fsynced and its directory entry fsynced before an edit
//!   naming it is appended to the manifest.
//! - An edit is fsynced before anything it makes obsolete (WALs, tables) is
//!   deleted.
//! - `CURRENT` is replaced by writing a temporary file, fsyncing it,
//!   renaming it over `CURRENT` and fsyncing the directory; the old manifest
//!   is deleted only after that.
//! - After a failed manifest write the set is *broken*: it never appends
//!   again (the manifest may end in a torn record) until the database is
//!   reopened.
//! - **Deletion lags one record.** The files an edit makes obsolete (input
//!   tables, flushed WALs) are deleted only once another record follows it
//!   durably: an empty edit appended and fsynced right after it (or, if
//!   that fails, the next open's new manifest). Recovery drops a damaged
//!   last record as a torn tail; because nothing that record made obsolete
//!   was deleted yet, dropping it — torn by a crash or flipped by bit rot —
//!   never loses data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::edit::{MANIFEST_FORMAT_VERSION, is_supported};
use super::{ManifestRecord, TableFile, TableRegistry, Version, VersionEdit};
use crate::error::{Error, Result};
use crate::filename;
use crate::fs::Fs;
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, SeqNo};
use crate::wal::{self, Damage};

/// The name of the keyspace every database has.
pub(crate) const DEFAULT_KEYSPACE_NAME: &str = "default";

/// What the manifest records about one keyspace besides its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyspaceMeta {
    pub(crate) name: String,
    /// The merge operator's name, fixed when the keyspace is created.
    pub(crate) merge_operator: Option<String>,
    /// WALs below this number hold no write of the keyspace that is not in
    /// its tables.
    pub(crate) log_number: u64,
}

impl KeyspaceMeta {
    fn default_keyspace() -> Self {
        KeyspaceMeta {
            name: DEFAULT_KEYSPACE_NAME.to_owned(),
            merge_operator: None,
            log_number: 0,
        }
    }
}

/// One keyspace's durable state.
#[derive(Clone)]
pub(crate) struct KeyspaceState<V> {
    pub(crate) meta: KeyspaceMeta,
    pub(crate) version: V,
}

/// The durable state the manifest describes, as loaded at open.
pub(crate) struct LoadedState {
    /// Every live keyspace, the default one included.
    pub(crate) keyspaces: BTreeMap<KeyspaceId, KeyspaceState<Version>>,
    pub(crate) next_file_number: u64,
    pub(crate) last_seqno: SeqNo,
    pub(crate) next_keyspace_id: KeyspaceId,
    pub(crate) dropped: Option<Damage>,
}

impl LoadedState {
    /// The state of a database that has no manifest yet.
    pub(crate) fn new_database() -> Self {
        LoadedState {
            keyspaces: BTreeMap::from([(
                DEFAULT_KEYSPACE,
                KeyspaceState {
                    meta: KeyspaceMeta::default_keyspace(),
                    version: Version::default(),
                },
            )]),
            next_file_number: 1,
            last_seqno: 0,
            next_keyspace_id: DEFAULT_KEYSPACE + 1,
            dropped: None,
        }
    }

    /// The smallest log number of any keyspace: WALs below it are in
    /// tables.
    pub(crate) fn min_log_number(&self) -> u64 {
        self.keyspaces
            .values()
            .map(|k| k.meta.log_number)
            .min()
            .unwrap_or(0)
    }
}

/// Applies `edit` to `keyspaces`: creates, drops, or changes one keyspace.
/// Returns the tables a drop removed. The error says which invariant the
/// edit breaks.
fn apply_edit<V: Clone>(
    keyspaces: &mut BTreeMap<KeyspaceId, KeyspaceState<V>>,
    edit: &VersionEdit,
    empty: impl FnOnce() -> V,
    apply: impl FnOnce(&V, &VersionEdit) -> std::result::Result<V, String>,
) -> std::result::Result<Option<V>, String> {
    let id = edit.keyspace;
    if let Some(name) = &edit.create {
        if keyspaces.contains_key(&id) {
            return Err(format!("keyspace {id} created twice"));
        }
        if keyspaces.values().any(|k| &k.meta.name == name) {
            return Err(format!("two keyspaces named '{name}'"));
        }
        keyspaces.insert(
            id,
            KeyspaceState {
                meta: KeyspaceMeta {
                    name: name.clone(),
                    merge_operator: None,
                    log_number: 0,
                },
                version: empty(),
            },
        );
    }
    let Some(ks) = keyspaces.get_mut(&id) else {
        return Err(format!("edit of keyspace {id}, which does not exist"));
    };
    ks.version = apply(&ks.version, edit)?;
    if let Some(n) = edit.log_number {
        ks.meta.log_number = ks.meta.log_number.max(n);
    }
    if let Some(name) = &edit.merge_operator {
        ks.meta.merge_operator = Some(name.clone());
    }
    if edit.drop {
        return Ok(keyspaces.remove(&id).map(|k| k.version));
    }
    Ok(None)
}

/// The current version of every keyspace and the manifest they are logged
/// to. Lives behind a mutex in the database; flush, compaction and the
/// keyspace verbs install their edits through it.
pub(crate) struct VersionSet {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    tables: Arc<TableRegistry>,
    manifest: wal::Writer,
    manifest_number: u64,
    max_manifest_size: u64,
    keyspaces: BTreeMap<KeyspaceId, KeyspaceState<Arc<Version>>>,
    next_keyspace_id: KeyspaceId,
    last_seqno: SeqNo,
    broken: bool,
    /// Tables the last record removed: made obsolete (deleted once no
    /// version uses them) once a following record is durable.
    deferred_tables: Vec<Arc<TableFile>>,
    /// Other files (WALs) the last record made obsolete, deleted after the
    /// next record is durable.
    deferred_files: Vec<PathBuf>,
}

/// What a new manifest starts with (see [`VersionSet::create`]).
pub(crate) struct NewManifest {
    pub(crate) dir: PathBuf,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) tables: Arc<TableRegistry>,
    /// Every keyspace with its live tables.
    pub(crate) keyspaces: BTreeMap<KeyspaceId, KeyspaceState<Version>>,
    pub(crate) last_seqno: SeqNo,
    pub(crate) next_keyspace_id: KeyspaceId,
    /// The new manifest's own file number.
    pub(crate) manifest_number: u64,
    pub(crate) next_file_number: u64,
    /// Roll to a new manifest past this many bytes.
    pub(crate) max_manifest_size: u64,
}

/// Encodes `CURRENT`'s content: the manifest's name, a space, and the crc32
/// of the name in 8 hex digits, then a newline.
fn current_content(manifest_number: u64) -> String {
    let name = filename::manifest_name(manifest_number);
    let crc = crc32fast::hash(name.as_bytes());
    format!("{name} {crc:08x}\n")
}

/// Points `CURRENT` in `dir` at manifest `number`: temp file, fsync,
/// rename, directory fsync.
pub(crate) fn install_current(fs: &dyn Fs, dir: &Path, number: u64) -> Result<()> {
    let tmp = filename::temp_path(dir, number);
    let current = dir.join(filename::CURRENT);
    let mut f = fs.create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.append(current_content(number).as_bytes())
        .and_then(|()| f.sync())
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs.rename(&tmp, &current)
        .map_err(|e| Error::io("rename", &tmp, e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Parses `CURRENT`; `None` if it is not exactly what we write.
pub(crate) fn parse_current(data: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(data).ok()?;
    let line = text.strip_suffix('\n')?;
    let (name, crc) = line.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    if crc != crc32fast::hash(name.as_bytes()) {
        return None;
    }
    match filename::parse(name) {
        // Exactly the bytes we write: no other spelling of the same number.
        filename::FileKind::Manifest(n) if current_content(n).as_bytes() == data => Some(n),
        _ => None,
    }
}

/// Loads the durable state from `CURRENT` and the manifest it names, or
/// `None` when the directory has no `CURRENT` (a new database).
pub(crate) fn load(
    dir: &Path,
    fs: &Arc<dyn Fs>,
    tables: &Arc<TableRegistry>,
) -> Result<Option<LoadedState>> {
    let current_path = dir.join(filename::CURRENT);
    if !fs.exists(&current_path) {
        return Ok(None);
    }
    let data = fs
        .read(&current_path)
        .map_err(|e| Error::io("read", &current_path, e))?;
    let number = parse_current(&data).ok_or_else(|| {
        Error::corruption(
            &current_path,
            0,
            "CURRENT is not one line naming a manifest with its valid checksum",
        )
    })?;
    let path = filename::manifest_path(dir, number);
    if !fs.exists(&path) {
        return Err(Error::corruption(
            &current_path,
            0,
            format!("CURRENT names {} which does not exist", path.display()),
        ));
    }
    let data = fs.read(&path).map_err(|e| Error::io("read", &path, e))?;
    let mut reader = wal::Reader::new(&path, data);
    let mut state = LoadedState::new_database();
    state.next_file_number = number + 1;
    let mut saw_version = false;
    while let Some((offset, record)) = reader.next_record() {
        // The version first: a newer format's fields would not decode.
        if let Some(v) = ManifestRecord::leading_format_version(&record)
            && !is_supported(v)
        {
            return Err(unsupported_version(&path, offset, v));
        }
        let record = ManifestRecord::decode(&record)
            .map_err(|why| Error::corruption(&path, offset, format!("bad version edit: {why}")))?;
        if let Some(v) = record.format_version {
            if !is_supported(v) {
                return Err(unsupported_version(&path, offset, v));
            }
            saw_version = true;
        }
        if !saw_version {
            return Err(Error::corruption(
                &path,
                offset,
                "manifest does not start with its format version",
            ));
        }
        apply_scalars(&mut state, &record);
        for edit in &record.edits {
            apply_edit(&mut state.keyspaces, edit, Version::default, |v, e| {
                v.apply(e, tables)
            })
            .map_err(|why| Error::corruption(&path, offset, why))?;
        }
    }
    if let Some(damage) = reader.damage() {
        // A torn manifest tail is an edit that was never acknowledged (its
        // fsync did not return), and nothing it made obsolete was deleted
        // ("Deletion lags one record"): a crash, not damage, in every
        // recovery mode — the modes are about acknowledged writes, which
        // live in the WAL. Anything else loses tables.
        if !damage.is_tail {
            return Err(Error::corruption(&path, damage.offset, damage.reason));
        }
        tracing::warn!(file = %path.display(), offset = damage.offset, "dropped a torn manifest tail");
        state.dropped = Some(damage.clone());
    }
    if !saw_version {
        // Nothing valid at all: an empty file, or one whose first bytes are
        // already damaged (or not a manifest).
        return Err(match &state.dropped {
            Some(d) => Error::corruption(
                &path,
                d.offset,
                format!("manifest holds no valid record ({})", d.reason),
            ),
            None => Error::corruption(&path, 0, "manifest is empty"),
        });
    }
    Ok(Some(state))
}

/// A manifest of a format version this build does not read.
fn unsupported_version(path: &Path, offset: u64, version: u32) -> Error {
    Error::corruption(
        path,
        offset,
        format!(
            "manifest format version {version} is not supported (this build reads \
             {} to {MANIFEST_FORMAT_VERSION}; if a newer rillkv wrote it, open the database \
             with that version)",
            super::edit::OLDEST_FORMAT_VERSION
        ),
    )
}

fn apply_scalars(state: &mut LoadedState, record: &ManifestRecord) {
    if let Some(n) = record.next_file_number {
        state.next_file_number = state.next_file_number.max(n);
    }
    if let Some(s) = record.last_seqno {
        state.last_seqno = state.last_seqno.max(s);
    }
    if let Some(n) = record.next_keyspace_id {
        state.next_keyspace_id = state.next_keyspace_id.max(n);
    }
}

impl VersionSet {
    /// Starts a new manifest holding `state` as one snapshot record and
    /// points `CURRENT` at it. Used at every open, so a manifest damaged at
    /// its tail is never appended to.
    pub(crate) fn create(state: NewManifest) -> Result<VersionSet> {
        let NewManifest {
            dir,
            fs,
            tables,
            keyspaces,
            last_seqno,
            next_keyspace_id,
            manifest_number,
            next_file_number,
            max_manifest_size,
        } = state;
        let dir = dir.as_path();
        let path = filename::manifest_path(dir, manifest_number);
        let file = fs
            .create(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        let mut set = VersionSet {
            dir: dir.to_path_buf(),
            fs,
            tables,
            manifest: wal::Writer::new(file),
            manifest_number,
            max_manifest_size,
            keyspaces: shared_versions(keyspaces),
            next_keyspace_id,
            last_seqno,
            broken: false,
            deferred_tables: Vec::new(),
            deferred_files: Vec::new(),
        };
        set.write_snapshot(next_file_number)?;
        set.install_current()?;
        Ok(set)
    }

    /// The state `state` (loaded from manifest `manifest_number`) held in
    /// memory only, for a read-only handle: no manifest is written, and
    /// [`VersionSet::log_and_apply`] refuses every record (the set is
    /// born broken).
    pub(crate) fn read_only(
        dir: &Path,
        fs: Arc<dyn Fs>,
        tables: Arc<TableRegistry>,
        state: LoadedState,
        manifest_number: u64,
    ) -> VersionSet {
        VersionSet {
            dir: dir.to_path_buf(),
            fs,
            tables,
            manifest: wal::Writer::new(Box::new(crate::fs::NoWrites)),
            manifest_number,
            max_manifest_size: u64::MAX,
            keyspaces: shared_versions(state.keyspaces),
            next_keyspace_id: state.next_keyspace_id,
            last_seqno: state.last_seqno,
            broken: true,
            deferred_tables: Vec::new(),
            deferred_files: Vec::new(),
        }
    }

    /// The record that describes the whole state: what a manifest starts
    /// with (also a checkpoint's).
    pub(crate) fn snapshot_record(&self, next_file_number: u64) -> ManifestRecord {
        ManifestRecord {
            format_version: Some(MANIFEST_FORMAT_VERSION),
            next_file_number: Some(next_file_number),
            last_seqno: Some(self.last_seqno),
            next_keyspace_id: Some(self.next_keyspace_id),
            edits: self
                .keyspaces
                .iter()
                .map(|(&id, k)| VersionEdit {
                    keyspace: id,
                    create: (id != DEFAULT_KEYSPACE).then(|| k.meta.name.clone()),
                    drop: false,
                    log_number: Some(k.meta.log_number),
                    merge_operator: k.meta.merge_operator.clone(),
                    added: k.version.metas(),
                    deleted: Vec::new(),
                })
                .collect(),
        }
    }

    fn write_snapshot(&mut self, next_file_number: u64) -> Result<()> {
        let record = self.snapshot_record(next_file_number);
        let path = filename::manifest_path(&self.dir, self.manifest_number);
        self.manifest
            .add_record(&record.encode())
            .and_then(|()| self.manifest.sync())
            .map_err(|e| Error::io("write", &path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync directory", &self.dir, e))
    }

    /// Points `CURRENT` at this set's manifest: temp file, fsync, rename,
    /// directory fsync.
    fn install_current(&mut self) -> Result<()> {
        install_current(&*self.fs, &self.dir, self.manifest_number)
    }

    /// The current version of keyspace `id`, if it exists.
    pub(crate) fn version(&self, id: KeyspaceId) -> Option<Arc<Version>> {
        self.keyspaces.get(&id).map(|k| Arc::clone(&k.version))
    }

    /// What the manifest records about keyspace `id`.
    pub(crate) fn keyspace_meta(&self, id: KeyspaceId) -> Option<&KeyspaceMeta> {
        self.keyspaces.get(&id).map(|k| &k.meta)
    }

    /// Every live keyspace, by id.
    pub(crate) fn keyspaces(&self) -> impl Iterator<Item = (KeyspaceId, &KeyspaceMeta)> {
        self.keyspaces.iter().map(|(&id, k)| (id, &k.meta))
    }

    /// The id the next created keyspace gets.
    pub(crate) fn next_keyspace_id(&self) -> KeyspaceId {
        self.next_keyspace_id
    }

    pub(crate) fn manifest_number(&self) -> u64 {
        self.manifest_number
    }

    /// Bytes appended to the current manifest (the file's length: each
    /// manifest is written from empty).
    pub(crate) fn manifest_len(&self) -> u64 {
        self.manifest.len()
    }

    /// Durably applies `record` and installs the resulting versions (read
    /// them back with [`VersionSet::version`]). `next_file_number`
    /// allocates a number when the manifest is rolled. `obsolete_files`
    /// (flushed WALs) are deleted once a following record (an empty one)
    /// is durable.
    ///
    /// # Errors
    /// `Io` if the manifest cannot be written (the set is then broken);
    /// `Corruption` if the record would break a version invariant.
    pub(crate) fn log_and_apply(
        &mut self,
        record: impl Into<ManifestRecord>,
        next_file_number: &std::sync::atomic::AtomicU64,
        obsolete_files: Vec<PathBuf>,
    ) -> Result<()> {
        use std::sync::atomic::Ordering;
        let mut record = record.into();
        if self.broken {
            return Err(Error::poisoned("an earlier manifest write failed"));
        }
        let manifest = filename::manifest_path(&self.dir, self.manifest_number);
        let mut keyspaces = self.keyspaces.clone();
        let mut removed: Vec<Arc<TableFile>> = Vec::new();
        for edit in &record.edits {
            let before = keyspaces
                .get(&edit.keyspace)
                .map(|k| Arc::clone(&k.version));
            let dropped = apply_edit(&mut keyspaces, edit, Arc::default, |v, e| {
                v.apply(e, &self.tables).map(Arc::new)
            })
            .map_err(|why| Error::corruption(&manifest, 0, why))?;
            match dropped {
                Some(version) => removed.extend(version.tables().cloned()),
                // A table both deleted and added only moved to another run.
                None => removed.extend(before.iter().flat_map(|v| {
                    v.tables()
                        .filter(|t| edit.deleted.contains(&t.meta.number))
                        .filter(|t| !edit.added.iter().any(|a| a.number == t.meta.number))
                        .cloned()
                        .collect::<Vec<_>>()
                })),
            }
        }
        if self.manifest.len() >= self.max_manifest_size {
            let number = next_file_number.fetch_add(1, Ordering::AcqRel);
            self.roll_manifest(number, next_file_number.load(Ordering::Acquire))?;
        }
        record.next_file_number = Some(next_file_number.load(Ordering::Acquire));
        let path = filename::manifest_path(&self.dir, self.manifest_number);
        if let Err(e) = self
            .manifest
            .add_record(&record.encode())
            .and_then(|()| self.manifest.sync())
        {
            self.broken = true;
            return Err(Error::io("write", &path, e));
        }
        if let Some(s) = record.last_seqno {
            self.last_seqno = self.last_seqno.max(s);
        }
        if let Some(n) = record.next_keyspace_id {
            self.next_keyspace_id = self.next_keyspace_id.max(n);
        }
        // This record is durable, but its deletions wait for the next one.
        self.deferred_tables = removed;
        self.deferred_files = obsolete_files;
        self.keyspaces = keyspaces;
        if !self.deferred_tables.is_empty() || !self.deferred_files.is_empty() {
            // That next record: an empty one. Once it is durable this
            // record is no longer the last, so its deletions can go ahead;
            // and if it fails, they just wait for the next open.
            let sentinel = self
                .manifest
                .add_record(&[])
                .and_then(|()| self.manifest.sync());
            match sentinel {
                Ok(()) => self.release_deferred(),
                Err(e) => {
                    self.broken = true;
                    tracing::error!(file = %path.display(), error = %e,
                        "manifest write failed; obsolete files are kept until the next open");
                }
            }
        }
        Ok(())
    }

    /// Deletes what the second-to-last record made obsolete.
    fn release_deferred(&mut self) {
        for t in std::mem::take(&mut self.deferred_tables) {
            t.mark_obsolete();
        }
        for path in std::mem::take(&mut self.deferred_files) {
            match self.fs.remove_file(&path) {
                Ok(()) => tracing::debug!(file = %path.display(), "deleted obsolete file"),
                Err(e) => tracing::warn!(file = %path.display(), error = %e,
                    "could not delete obsolete file; it is removed at next open"),
            }
        }
    }

    /// Starts manifest `number` with a snapshot of the current state.
    fn roll_manifest(&mut self, number: u64, next_file_number: u64) -> Result<()> {
        let old = filename::manifest_path(&self.dir, self.manifest_number);
        let path = filename::manifest_path(&self.dir, number);
        let file = self
            .fs
            .create(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        self.manifest = wal::Writer::new(file);
        self.manifest_number = number;
        let result = self
            .write_snapshot(next_file_number)
            .and_then(|()| self.install_current());
        if let Err(e) = result {
            // CURRENT may name either manifest now: stop writing.
            self.broken = true;
            return Err(e);
        }
        if let Err(e) = self.fs.remove_file(&old) {
            tracing::warn!(file = %old.display(), error = %e, "could not delete old manifest");
        }
        tracing::debug!(manifest = number, "manifest rolled over");
        Ok(())
    }
}

/// Loaded keyspace states with their versions behind an `Arc`, as a live
/// set holds them.
fn shared_versions(
    keyspaces: BTreeMap<KeyspaceId, KeyspaceState<Version>>,
) -> BTreeMap<KeyspaceId, KeyspaceState<Arc<Version>>> {
    keyspaces
        .into_iter()
        .map(|(id, k)| {
            let state = KeyspaceState {
                meta: k.meta,
                version: Arc::new(k.version),
            };
            (id, state)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_golden_and_checked() {
        let c = current_content(5);
        assert_eq!(
            c,
            format!(
                "MANIFEST-000005 {:08x}\n",
                crc32fast::hash(b"MANIFEST-000005")
            )
        );
        assert_eq!(parse_current(c.as_bytes()), Some(5));
        for i in 0..c.len() {
            for bit in 0..8 {
                let mut b = c.clone().into_bytes();
                b[i] ^= 1 << bit;
                assert_eq!(parse_current(&b), None, "flip at {i}:{bit} accepted");
            }
        }
        assert_eq!(parse_current(b""), None);
    }
}
