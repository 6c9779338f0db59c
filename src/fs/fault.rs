//! An in-memory filesystem that injects faults and simulates power loss.
//!
//! # Model
//! Each file is an inode holding its bytes and how many of them are durable
//! (`synced_len`, advanced by [`WritableFile::sync`]). Names live in two
//! maps: the current namespace, and the durable namespace as of the last
//! [`Fs::sync_dir`] of each directory. [`FaultFs::crash`] replaces the
//! current namespace by the durable one and cuts every inode back according
//! to a [`CrashMode`]: exactly what a power loss may leave on a filesystem
//! that honours fsync and nothing more. A directory made by
//! [`Fs::create_dir_all`] is durable once its parent is synced after it was
//! made (a root always is); a crash loses a directory that is not, with
//! every name in it.
//!
//! # Thread safety
//! All state sits behind one mutex; handles may be used from any thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{FileLock, Fs, WritableFile};

/// What a simulated power loss leaves of bytes that were written but not
/// fsynced. Names not covered by a directory fsync are always reverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced byte is lost.
    DropUnsynced,
    /// A pseudo-random prefix of each file's unsynced bytes survives
    /// (chosen from `seed`), the rest is lost.
    KeepPrefix {
        /// Seed for the per-file choice.
        seed: u64,
    },
    /// Like `KeepPrefix`, then the rest of the unsynced region reads as zeros.
    KeepPrefixThenZeros {
        /// Seed for the per-file choice.
        seed: u64,
    },
    /// Like `KeepPrefix`, then the rest of the unsynced region is garbage.
    KeepPrefixThenGarbage {
        /// Seed for the per-file choice and the garbage.
        seed: u64,
    },
    /// Each unsynced append survives or not, independently (chosen from
    /// `seed`): the disk wrote some of the pages in any order. The file ends
    /// at the last surviving append; lost appends before it read as zeros,
    /// as unwritten extents of a real filesystem do.
    KeepSubset {
        /// Seed for the per-append choice.
        seed: u64,
    },
    /// Every byte written survives (a process crash, not a power loss).
    KeepAll,
}

/// The in-memory, fault-injecting filesystem. Cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct FaultFs {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    /// Directories whose entry in their parent was made durable (by a
    /// `sync_dir` of the parent after they were created). A root has no
    /// parent and is always durable.
    durable_dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
    /// Mutating operations so far (appends, syncs, creates, renames, removes).
    ops: u64,
    /// Fail every mutating operation once `ops` reaches this (a frozen disk).
    fail_from_op: Option<u64>,
    fail_write_at: Option<u64>,
    fail_sync_at: Option<u64>,
    writes: u64,
    syncs: u64,
    /// Bytes appended so far, to every file.
    bytes_appended: u64,
    /// Free space in bytes, if limited: appends past it fail with
    /// `StorageFull` after writing what fits.
    space_left: Option<u64>,
}

#[derive(Debug, Default, Clone)]
struct Inode {
    data: Vec<u8>,
    synced_len: usize,
    /// Start offsets of the appends since the last sync, in order: the
    /// units a [`CrashMode::KeepSubset`] crash keeps or loses.
    unsynced_appends: Vec<usize>,
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

impl State {
    /// Counts one mutating operation and fails it if a fault is armed.
    fn mutating_op(&mut self, what: &str) -> io::Result<()> {
        self.ops += 1;
        match self.fail_from_op {
            Some(limit) if self.ops > limit => Err(injected(what)),
            _ => Ok(()),
        }
    }
}

impl FaultFs {
    /// A new empty filesystem.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use std::path::Path;
    /// use rillkv::{Db, Options, fs::{FaultFs, Fs}};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?; // a clone shares the files
    /// db.put(b"k", b"v")?;
    /// assert!(fs.exists(Path::new("/db/CURRENT")));
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        FaultFs::default()
    }

    /// Mutating operations performed so far (appends, syncs, creates,
    /// renames, removals, directory syncs).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// let before = fs.op_count();
    /// db.put(b"k", b"v")?; // one WAL append
    /// assert_eq!(fs.op_count(), before + 1);
    /// # Ok(()) }
    /// ```
    pub fn op_count(&self) -> u64 {
        self.state.lock().ops
    }

    /// Bytes appended so far to every file, for sizing a space limit.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// let before = fs.bytes_appended();
    /// db.put(b"key", [7u8; 100])?;
    /// assert!(fs.bytes_appended() >= before + 103);
    /// # Ok(()) }
    /// ```
    pub fn bytes_appended(&self) -> u64 {
        self.state.lock().bytes_appended
    }

    /// Lets `n` more mutating operations succeed, then fails every one after
    /// them, as if the machine lost power at that point. Follow with
    /// [`FaultFs::crash`] to get the image a reboot would see.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, ErrorKind, Options, WriteBatch, WriteOptions, fs::{CrashMode, FaultFs}};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"synced", b"1");
    /// db.write_opt(batch, &WriteOptions::default().sync(true))?;
    /// fs.fail_after_ops(0); // the power goes out now
    /// assert_eq!(db.put(b"lost", b"2").unwrap_err().kind(), ErrorKind::Io);
    /// drop(db);
    /// fs.crash(CrashMode::DropUnsynced); // reboot
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// assert_eq!(db.get(b"synced")?.as_deref(), Some(&b"1"[..]));
    /// assert_eq!(db.get(b"lost")?, None);
    /// # Ok(()) }
    /// ```
    pub fn fail_after_ops(&self, n: u64) {
        let mut st = self.state.lock();
        st.fail_from_op = Some(st.ops + n);
    }

    /// Fails the `n`-th append from now (1 = the next one); later ones pass.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// use rillkv::ErrorKind;
    /// fs.fail_nth_write(1);
    /// assert_eq!(db.put(b"k", b"v").unwrap_err().kind(), ErrorKind::Io);
    /// // The WAL may now hold a torn record: the database refuses writes until reopened.
    /// assert_eq!(db.put(b"k", b"v").unwrap_err().kind(), ErrorKind::Poisoned);
    /// # Ok(()) }
    /// ```
    pub fn fail_nth_write(&self, n: u64) {
        let mut st = self.state.lock();
        st.fail_write_at = Some(st.writes + n);
    }

    /// Fails the `n`-th file fsync from now (1 = the next one).
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// use rillkv::{ErrorKind, WriteBatch, WriteOptions};
    /// db.put(b"before", b"1")?;
    /// fs.fail_nth_sync(1);
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"k", b"v");
    /// let err = db.write_opt(batch, &WriteOptions::default().sync(true)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Io);
    /// assert_eq!(db.get(b"before")?.as_deref(), Some(&b"1"[..]), "reads keep working");
    /// # Ok(()) }
    /// ```
    pub fn fail_nth_sync(&self, n: u64) {
        let mut st = self.state.lock();
        st.fail_sync_at = Some(st.syncs + n);
    }

    /// Limits the free space to `bytes` from now (`None`: unlimited). An
    /// append that does not fit writes what fits and fails with
    /// [`io::ErrorKind::StorageFull`] (`ENOSPC`), as a full disk does;
    /// removing files gives their space back.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// use rillkv::ErrorKind;
    /// fs.set_space_limit(Some(10));
    /// let err = db.put(b"k", [0u8; 100]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Io);
    /// assert!(err.message().contains("disk is full"), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn set_space_limit(&self, bytes: Option<u64>) {
        self.state.lock().space_left = bytes;
    }

    /// Clears every armed fault, including a space limit.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// fs.fail_nth_write(1);
    /// fs.set_space_limit(Some(0));
    /// fs.clear_faults();
    /// db.put(b"k", b"v")?; // nothing fails
    /// # Ok(()) }
    /// ```
    pub fn clear_faults(&self) {
        let mut st = self.state.lock();
        st.fail_from_op = None;
        st.fail_write_at = None;
        st.fail_sync_at = None;
        st.space_left = None;
    }

    /// Simulates a power loss followed by a reboot: names revert to their
    /// last directory fsync, unsynced bytes are treated per `mode`, locks are
    /// released and armed faults cleared. Handles still open keep working on
    /// orphaned inodes, which no path reaches any more.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// use rillkv::{WriteBatch, WriteOptions, fs::CrashMode};
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"synced", b"1");
    /// db.write_opt(batch, &WriteOptions::default().sync(true))?;
    /// db.put(b"unsynced", b"2")?; // in the WAL, not yet fsynced
    /// fs.crash(CrashMode::DropUnsynced); // power loss, then reboot
    /// drop(db); // the old handle writes only to orphaned files
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// assert_eq!(db.get(b"synced")?.as_deref(), Some(&b"1"[..]));
    /// assert_eq!(db.get(b"unsynced")?, None);
    /// # Ok(()) }
    /// ```
    pub fn crash(&self, mode: CrashMode) {
        let mut st = self.state.lock();
        // A directory survives if its entry, and every ancestor's, is
        // durable; names inside a lost directory are lost with it.
        let dirs: BTreeSet<PathBuf> = st
            .dirs
            .iter()
            .filter(|d| {
                d.ancestors()
                    .all(|a| a.parent().is_none() || st.durable_dirs.contains(a))
            })
            .cloned()
            .collect();
        st.names = st
            .durable_names
            .iter()
            .filter(|(p, _)| p.parent().is_none_or(|parent| dirs.contains(parent)))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        st.durable_dirs.retain(|d| dirs.contains(d));
        st.dirs = dirs;
        st.locks.clear();
        st.fail_from_op = None;
        st.fail_write_at = None;
        st.fail_sync_at = None;
        st.space_left = None;
        let live: BTreeSet<u64> = st.names.values().copied().collect();
        // Orphaned inodes (open handles) are detached: give them fresh copies
        // so that writes through stale handles cannot reach surviving files.
        let mut survivors = HashMap::new();
        for (ino, inode) in st.inodes.drain() {
            if live.contains(&ino) {
                survivors.insert(ino, inode);
            }
        }
        for (ino, inode) in survivors.iter_mut() {
            cut_unsynced(inode, mode, *ino);
        }
        let next = st.next_inode;
        // Re-number surviving inodes past every live handle's number.
        let mut renumbered = HashMap::new();
        let mut map = HashMap::new();
        for (i, (old, inode)) in survivors.into_iter().enumerate() {
            let new = next + i as u64;
            map.insert(old, new);
            renumbered.insert(new, inode);
        }
        st.next_inode = next + renumbered.len() as u64;
        st.inodes = renumbered;
        for ino in st.names.values_mut() {
            if let Some(new) = map.get(ino) {
                *ino = *new;
            }
        }
        st.durable_names = st.names.clone();
    }

    /// The current bytes of a file, for tests that corrupt files.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// use std::path::Path;
    /// let current = fs.file_bytes(Path::new("/db/CURRENT")).expect("CURRENT exists");
    /// assert!(current.starts_with(b"MANIFEST-"));
    /// assert_eq!(fs.file_bytes(Path::new("/db/missing")), None);
    /// # drop(db);
    /// # Ok(()) }
    /// ```
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state.lock();
        let ino = st.names.get(path)?;
        st.inodes.get(ino).map(|i| i.data.clone())
    }

    /// Replaces a file's bytes (durably), for tests that corrupt files.
    ///
    /// ```
    /// # fn main() -> rillkv::Result<()> {
    /// use rillkv::{Db, Options, fs::FaultFs};
    /// let fs = FaultFs::new();
    /// let db = Db::open("/db", Options::default().fs(fs.clone()))?;
    /// use std::path::Path;
    /// use rillkv::ErrorKind;
    /// db.close()?;
    /// fs.set_file_bytes(Path::new("/db/CURRENT"), b"garbage".to_vec())?;
    /// let err = Db::open("/db", Options::default().fs(fs.clone())).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Corruption);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound` if no file has that path.
    pub fn set_file_bytes(&self, path: &Path, data: Vec<u8>) -> io::Result<()> {
        let mut st = self.state.lock();
        let ino = *st
            .names
            .get(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        let inode = st
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such inode"))?;
        inode.synced_len = data.len();
        inode.data = data;
        inode.unsynced_appends.clear();
        Ok(())
    }
}

/// A tiny deterministic generator (splitmix64) so the library needs no
/// random-number dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn cut_unsynced(inode: &mut Inode, mode: CrashMode, ino: u64) {
    let synced = inode.synced_len.min(inode.data.len());
    let unsynced = inode.data.len() - synced;
    let (seed, tail) = match mode {
        CrashMode::KeepAll => {
            inode.synced_len = inode.data.len();
            inode.unsynced_appends.clear();
            return;
        }
        CrashMode::DropUnsynced => {
            inode.data.truncate(synced);
            inode.unsynced_appends.clear();
            return;
        }
        CrashMode::KeepSubset { seed } => {
            keep_subset(inode, seed ^ ino.wrapping_mul(0x2545_f491_4f6c_dd1d));
            return;
        }
        CrashMode::KeepPrefix { seed } => (seed, 0u8),
        CrashMode::KeepPrefixThenZeros { seed } => (seed, 1),
        CrashMode::KeepPrefixThenGarbage { seed } => (seed, 2),
    };
    let mut rng = seed ^ ino.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let keep = if unsynced == 0 {
        0
    } else {
        (splitmix(&mut rng) % (unsynced as u64 + 1)) as usize
    };
    let cut = synced + keep;
    match tail {
        0 => inode.data.truncate(cut),
        1 => {
            for b in inode.data.iter_mut().skip(cut) {
                *b = 0;
            }
        }
        _ => {
            for b in inode.data.iter_mut().skip(cut) {
                *b = splitmix(&mut rng) as u8;
            }
        }
    }
    inode.synced_len = inode.data.len();
    inode.unsynced_appends.clear();
}

/// Keeps each unsynced append with probability one half; the file ends at
/// the last kept one and lost appends before it become zeros.
fn keep_subset(inode: &mut Inode, mut rng: u64) {
    let synced = inode.synced_len.min(inode.data.len());
    let starts: Vec<usize> = inode
        .unsynced_appends
        .drain(..)
        .filter(|&s| s >= synced)
        .collect();
    let mut extents = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(inode.data.len());
        extents.push((start, end, splitmix(&mut rng) & 1 == 1));
    }
    let end = extents
        .iter()
        .rev()
        .find(|e| e.2)
        .map_or(synced, |&(_, end, _)| end);
    inode.data.truncate(end);
    for &(start, stop, kept) in &extents {
        if !kept && start < end {
            let stop = stop.min(end);
            if let Some(lost) = inode.data.get_mut(start..stop) {
                lost.fill(0);
            }
        }
    }
    inode.synced_len = inode.data.len();
}

struct FaultFile {
    state: Arc<Mutex<State>>,
    ino: u64,
}

impl WritableFile for FaultFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut st = self.state.lock();
        st.mutating_op("append")?;
        st.writes += 1;
        if st.fail_write_at == Some(st.writes) {
            // A failed write may still have written part of its bytes.
            let half = data.get(..data.len() / 2).unwrap_or_default();
            self.extend(&mut st, half);
            return Err(injected("write"));
        }
        if let Some(left) = st.space_left {
            let fits = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
            st.space_left = Some(left - fits as u64);
            if fits < data.len() {
                self.extend(&mut st, data.get(..fits).unwrap_or_default());
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "injected fault: no space left on device",
                ));
            }
        }
        self.extend(&mut st, data);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut st = self.state.lock();
        st.mutating_op("fsync")?;
        st.syncs += 1;
        if st.fail_sync_at == Some(st.syncs) {
            return Err(injected("fsync"));
        }
        if let Some(inode) = st.inodes.get_mut(&self.ino) {
            inode.synced_len = inode.data.len();
            inode.unsynced_appends.clear();
        }
        Ok(())
    }
}

impl FaultFile {
    /// Appends `data` to the inode, remembering where the append started.
    fn extend(&self, st: &mut State, data: &[u8]) {
        if let Some(inode) = st.inodes.get_mut(&self.ino)
            && !data.is_empty()
        {
            inode.unsynced_appends.push(inode.data.len());
            inode.data.extend_from_slice(data);
            st.bytes_appended += data.len() as u64;
        }
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl Fs for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        for anc in dir.ancestors() {
            st.dirs.insert(anc.to_path_buf());
        }
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut st = self.state.lock();
        if let Some(parent) = path.parent()
            && !st.dirs.contains(parent)
        {
            return Err(not_found(parent));
        }
        st.mutating_op("create")?;
        let ino = st.next_inode;
        st.next_inode += 1;
        st.inodes.insert(ino, Inode::default());
        st.names.insert(path.to_path_buf(), ino);
        Ok(Box::new(FaultFile {
            state: Arc::clone(&self.state),
            ino,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Bytes> {
        let st = self.state.lock();
        let ino = st.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = st.inodes.get(ino).ok_or_else(|| not_found(path))?;
        Ok(Bytes::copy_from_slice(&inode.data))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.mutating_op("rename")?;
        let ino = st.names.remove(from).ok_or_else(|| not_found(from))?;
        st.names.insert(to.to_path_buf(), ino);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.mutating_op("remove")?;
        let ino = st.names.remove(path).ok_or_else(|| not_found(path))?;
        // The space comes back once no name reaches the file (open handles
        // are not tracked: a real filesystem would wait for them too).
        if let Some(left) = st.space_left
            && !st.names.values().any(|&i| i == ino)
        {
            let size = st.inodes.get(&ino).map_or(0, |i| i.data.len() as u64);
            st.space_left = Some(left.saturating_add(size));
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.state.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.mutating_op("sync dir")?;
        let st = &mut *st;
        for d in &st.dirs {
            if d.parent() == Some(dir) {
                st.durable_dirs.insert(d.clone());
            }
        }
        st.durable_names.retain(|p, _| p.parent() != Some(dir));
        for (p, ino) in &st.names {
            if p.parent() == Some(dir) {
                st.durable_names.insert(p.clone(), *ino);
            }
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let st = self.state.lock();
        st.names.contains_key(path) || st.dirs.contains(path)
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        let mut st = self.state.lock();
        if !st.locks.insert(path.to_path_buf()) {
            return Ok(None);
        }
        Ok(Some(FileLock::new(LockGuard {
            state: Arc::clone(&self.state),
            path: path.to_path_buf(),
        })))
    }
}

struct LockGuard {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.path);
    }
}

#[cfg(test)]
mod tests;
