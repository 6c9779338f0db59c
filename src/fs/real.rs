//! The real filesystem.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use bytes::Bytes;

use super::{FileLock, Fs, WritableFile};

/// The operating system's filesystem. Reads map files with `memmap2`, so a
/// value read from a table is a zero-copy slice of the mapping.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

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
            #[allow(unsafe_code)]
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
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Bytes::new());
        }
        // SAFETY: rillkv maps only files it never modifies once written
        // (finished logs and tables), inside a directory it holds the lock
        // on. Another program truncating them would break that assumption,
        // which DESIGN.md states as an assumption about the storage.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Bytes::from_owner(map))
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

    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock::new(file))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
