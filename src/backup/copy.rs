//! Copying and checksumming whole files in bounded memory.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fs::Fs;

/// Bytes read at a time.
const CHUNK: u64 = 1 << 20;

/// A file's length and the crc32 of its whole contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sum {
    pub(super) size: u64,
    pub(super) crc: u32,
}

/// Reads `path` through and sums it.
pub(super) fn sum(fs: &dyn Fs, path: &Path) -> Result<Sum> {
    stream(fs, path, |_| Ok(()))
}

/// Copies `from` (on `src`) to a new file `to` (on `dst`), fsynced (not
/// its directory), and returns what it copied. With `expect`, a copy of
/// another size or checksum is `Corruption` naming `from` (the partial
/// `to` is removed).
pub(super) fn copy(
    src: &dyn Fs,
    from: &Path,
    dst: &dyn Fs,
    to: &Path,
    expect: Option<Sum>,
) -> Result<Sum> {
    let mut out = dst.create(to).map_err(|e| Error::io("create", to, e))?;
    let copied = stream(src, from, |chunk| {
        out.append(chunk).map_err(|e| Error::io("write", to, e))
    })
    .and_then(|got| {
        out.sync().map_err(|e| Error::io("fsync", to, e))?;
        match expect {
            Some(want) if want != got => Err(mismatch(from, want, got)),
            _ => Ok(got),
        }
    });
    if copied.is_err() {
        drop(out);
        let _ = dst.remove_file(to);
    }
    copied
}

/// Writes `data` to a new file `to`, fsynced (not its directory).
pub(super) fn write(fs: &dyn Fs, to: &Path, data: &[u8]) -> Result<Sum> {
    let mut out = fs.create(to).map_err(|e| Error::io("create", to, e))?;
    out.append(data)
        .and_then(|()| out.sync())
        .map_err(|e| Error::io("write", to, e))?;
    Ok(Sum {
        size: data.len() as u64,
        crc: crc32fast::hash(data),
    })
}

/// The error for a stored file whose contents are not what the backup
/// manifest records.
pub(super) fn mismatch(path: &Path, want: Sum, got: Sum) -> Error {
    let what = if want.size == got.size {
        format!(
            "checksum mismatch: the backup manifest records crc32 {:08x}, the file has {:08x}",
            want.crc, got.crc
        )
    } else {
        format!(
            "size mismatch: the backup manifest records {} bytes, the file has {}",
            want.size, got.size
        )
    };
    Error::corruption(path, 0, what)
}

/// Reads `path` in chunks, handing each to `each`, and sums it.
fn stream(fs: &dyn Fs, path: &Path, mut each: impl FnMut(&[u8]) -> Result<()>) -> Result<Sum> {
    let file = fs
        .open_random(path, false)
        .map_err(|e| Error::io("open", path, e))?;
    let size = file.len();
    let mut hasher = crc32fast::Hasher::new();
    let mut offset = 0;
    while offset < size {
        let len = (size - offset).min(CHUNK);
        // `len` <= CHUNK, so it fits a usize.
        let chunk = file
            .read_at(offset, len as usize)
            .map_err(|e| Error::io("read", path, e))?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(&chunk);
        each(&chunk)?;
        offset += chunk.len() as u64;
    }
    Ok(Sum {
        size: offset,
        crc: hasher.finalize(),
    })
}
