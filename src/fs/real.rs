//! The real filesystem.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{FileLock, Fs, RandomAccessFile, WritableFile, past_end};

/// The operating system's filesystem.
///
/// Logs are read with plain reads into memory. Tables are read with
/// positional reads (`pread`) into the block cache by default, so an I/O
/// error is an error and memory follows the cache size; with
/// [`Options::mmap_reads`](crate::Options::mmap_reads) they are mapped
/// read-only instead and values are zero-copy slices of the mapping. Only
/// tables are ever mapped: a table never changes once its name is in a
/// manifest (it is written, fsynced, read, and finally unlinked, which
/// leaves a mapping valid), so a mapping never loses its pages to a
/// truncation. A disk that fails under a mapping still raises `SIGBUS`;
/// that is the price of the option.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

/// A table read with `pread`.
#[derive(Debug)]
struct PreadFile {
    file: File,
    len: u64,
}

impl RandomAccessFile for PreadFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(past_end(offset, len));
        }
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    }
}

/// Appended bytes after which a file's new range is handed to the kernel's
/// writeback (see [`StdFile::start_writeback`]).
const WRITEBACK_CHUNK: u64 = 1 << 20;

struct StdFile {
    file: File,
    /// Bytes appended.
    written: u64,
    /// Where the range not yet handed to writeback starts.
    unflushed: u64,
}

impl StdFile {
    /// Starts writing back the appended range not yet started, without
    /// waiting (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`, RocksDB's
    /// `bytes_per_sync`). A later fsync then finds at most about
    /// [`WRITEBACK_CHUNK`] dirty: without it, the fsync that retires a
    /// 64 MiB WAL at memtable rotation wrote the whole log while the
    /// writer waited. Best effort: an error here resurfaces at the fsync.
    fn start_writeback(&mut self) {
        let len = self.written - self.unflushed;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            #[expect(unsafe_code, reason = "std has no sync_file_range")]
            // SAFETY: a plain syscall on a descriptor this struct owns; it
            // reads no memory of ours.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.unflushed as libc::off64_t,
                    len as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = len;
        self.unflushed = self.written;
    }
}

impl WritableFile for StdFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.written += data.len() as u64;
        if self.written - self.unflushed >= WRITEBACK_CHUNK {
            self.start_writeback();
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        // `set_len` leaves the write position where it is. The grown range
        // is sparse: blocks are allocated as appends fill it.
        if len > self.file.metadata()?.len() {
            self.file.set_len(len)?;
        }
        Ok(())
    }

    fn trim(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

impl Fs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(StdFile {
            file,
            written: 0,
            unflushed: 0,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Bytes> {
        // A copy, never a mapping: the file may be the WAL being appended
        // to and trimmed (see the `Fs` contract).
        fs::read(path).map(Bytes::from)
    }

    fn open_random(&self, path: &Path, mmap: bool) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if !mmap || len == 0 {
            return Ok(Arc::new(PreadFile { file, len }));
        }
        // SAFETY: `open_random` is called only for tables (the `Fs`
        // contract), and a table is never written, truncated or extended
        // once its name is in a manifest: rillkv writes it whole, fsyncs
        // it and only then names it, and later only unlinks it, which
        // leaves the mapping valid. Another program truncating it would
        // break this, which DESIGN.md states as an assumption about the
        // storage; a failing disk under the mapping raises SIGBUS, which
        // is why mapping is an option and not the default.
        #[expect(unsafe_code, reason = "memmap2's map is unsafe: see SAFETY")]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Arc::new(super::InMemoryFile::new(Bytes::from_owner(map))))
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        match fs::hard_link(from, to) {
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                // Another filesystem: a copy, made durable.
                let mut out = OpenOptions::new().write(true).create_new(true).open(to)?;
                io::copy(&mut File::open(from)?, &mut out)?;
                out.sync_all()
            }
            other => other,
        }
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        // Held in this process already: do not even open the file, as
        // closing that descriptor would drop the process's record lock.
        let key = lock_key(path)?;
        if !LOCKED.lock().insert(key.clone()) {
            return Ok(None);
        }
        let mut claim = LockClaim { key, file: None };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if !super::os::lock_file(&file)? {
            return Ok(None);
        }
        claim.file = Some(file);
        Ok(Some(FileLock::new(claim)))
    }
}

/// `LOCK` files this process holds (or is taking), by canonical path.
static LOCKED: parking_lot::Mutex<BTreeSet<PathBuf>> = parking_lot::Mutex::new(BTreeSet::new());

/// The registry key of a lock file: its directory resolved, so two
/// spellings of one directory meet.
fn lock_key(path: &Path) -> io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default();
    Ok(fs::canonicalize(dir)?.join(name))
}

/// One entry of [`LOCKED`] and, once locked, the open `LOCK` file. Drop
/// closes the file (which releases the record lock) before it gives up the
/// entry, so no other open in this process can touch the file while the
/// lock is still held.
struct LockClaim {
    key: PathBuf,
    file: Option<File>,
}

impl Drop for LockClaim {
    fn drop(&mut self) {
        drop(self.file.take());
        LOCKED.lock().remove(&self.key);
    }
}
