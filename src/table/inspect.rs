//! [`TableDump`]: a table file's layout as plain data, for `rillkv dump
//! table` (feature `cli`, reached through `rillkv::tools`). Byte layout:
//! `docs/format/table.md` and `docs/format/block.md`; this file only reads
//! it, with the decoders the reader uses.
//!
//! Unlike [`Table::open`](super::Table::open), opening a dump tolerates a
//! damaged properties or filter block (each is reported in its field) so
//! that a damaged table can still be looked at; the footer and the index
//! must decode, since without them no block can be found. Every data block
//! is checked (checksum, decompression, restart array, each entry) when it
//! is read with [`TableDump::read_block`].

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::block::Block;
use super::compression::{CompressionType, unseal};
use super::format::{BLOCK_TRAILER_LEN, BlockHandle, FORMAT_VERSION, split_internal_key};
use super::properties::TableProperties;
use super::reader::{read_footer, read_meta_block};
use super::{Compression, bloom};
use crate::error::{Error, Result};
use crate::fs::InMemoryFile;
use crate::key::unpack_trailer;

/// Where a stored block lives: `size` payload bytes at `offset`, then the
/// 5-byte trailer (compression type and crc32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLocation {
    /// File offset of the payload's first byte.
    pub offset: u64,
    /// Payload bytes, trailer excluded.
    pub size: u64,
}

impl From<BlockHandle> for BlockLocation {
    fn from(h: BlockHandle) -> Self {
        BlockLocation {
            offset: h.offset,
            size: h.size,
        }
    }
}

/// The properties block, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePropertiesDump {
    /// Smallest user key (empty for an empty table).
    pub smallest: Vec<u8>,
    /// Largest user key.
    pub largest: Vec<u8>,
    /// Smallest sequence number.
    pub min_seqno: u64,
    /// Largest sequence number.
    pub max_seqno: u64,
    /// Entries of every kind.
    pub entries: u64,
    /// Entries of kind Delete.
    pub tombstones: u64,
    /// Entries of kind Merge.
    pub merge_operands: u64,
    /// Encoded internal key bytes before prefix compression.
    pub raw_key_bytes: u64,
    /// Value bytes before compression.
    pub raw_value_bytes: u64,
    /// Data blocks.
    pub data_blocks: u64,
    /// Bytes of data blocks in the file, trailers included.
    pub data_size: u64,
    /// The writer's compression setting, e.g. `zstd(1)` or `none`.
    pub compression: String,
    /// Filter bits per key (0: no filter).
    pub filter_bits_per_key: u32,
}

impl From<&TableProperties> for TablePropertiesDump {
    fn from(p: &TableProperties) -> Self {
        TablePropertiesDump {
            smallest: p.smallest_user_key.to_vec(),
            largest: p.largest_user_key.to_vec(),
            min_seqno: p.min_seqno,
            max_seqno: p.max_seqno,
            entries: p.entries,
            tombstones: p.tombstones,
            merge_operands: p.merge_operands,
            raw_key_bytes: p.raw_key_bytes,
            raw_value_bytes: p.raw_value_bytes,
            data_blocks: p.data_blocks,
            data_size: p.data_size,
            compression: match p.compression {
                Compression::None => "none".to_owned(),
                Compression::Zstd { level } => format!("zstd({level})"),
                Compression::Lz4 => "lz4".to_owned(),
            },
            filter_bits_per_key: p.filter_bits_per_key,
        }
    }
}

/// The bloom filter block, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterDump {
    /// Bits in the filter.
    pub bits: u64,
    /// Probes per key.
    pub probes: u8,
}

/// One data block as the index names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlockRef {
    /// Where it is stored.
    pub location: BlockLocation,
    /// The user key of its last entry (the index key).
    pub last_key: Vec<u8>,
    /// The sequence number of its last entry.
    pub last_seqno: u64,
}

/// One entry of a data block or of a WAL record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDump {
    /// The keyspace id a WAL entry writes to (0: the default keyspace). A
    /// table belongs to one keyspace, named by the manifest; its entries
    /// say 0.
    pub keyspace: u32,
    /// The user key.
    pub key: Vec<u8>,
    /// The entry's sequence number.
    pub seqno: u64,
    /// `"put"`, `"delete"` or `"merge"`.
    pub kind: &'static str,
    /// The value (empty for most deletes).
    pub value: Vec<u8>,
}

/// One data block, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlockDump {
    /// How the block is stored: `"none"` or `"zstd"`.
    pub compression: &'static str,
    /// Bytes of the block contents after decompression.
    pub uncompressed_size: u64,
    /// Restart points in the block.
    pub restarts: u64,
    /// Its entries, in order.
    pub entries: Vec<EntryDump>,
}

/// A table file's footer, properties, filter and block list.
#[derive(Debug, Clone)]
pub struct TableDump {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub file_size: u64,
    /// The footer's format version.
    pub format_version: u32,
    /// The index block.
    pub index: BlockLocation,
    /// The filter block (`size == 0`: none).
    pub filter: BlockLocation,
    /// The properties block.
    pub properties_block: BlockLocation,
    /// The properties, or what is wrong with their block.
    pub properties: std::result::Result<TablePropertiesDump, String>,
    /// The filter: `None` when the table has none, else the filter or
    /// what is wrong with its block (a damaged filter is ignored by reads).
    pub filter_info: Option<std::result::Result<FilterDump, String>>,
    /// The data blocks, in file order, as the index lists them.
    pub blocks: Vec<DataBlockRef>,
    data: Bytes,
    footer_offset: u64,
}

impl TableDump {
    /// Reads and decodes the footer, index, properties and filter of the
    /// table at `path`.
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `Corruption` (naming the file and
    /// offset) if the footer or the index block is damaged.
    pub fn open(path: &Path) -> Result<TableDump> {
        let data = Bytes::from(std::fs::read(path).map_err(|e| Error::io("read", path, e))?);
        let file_size = data.len() as u64;
        let file = InMemoryFile::new(data.clone());
        let (footer, footer_offset) = read_footer(path, &file)?;
        let meta = |handle: BlockHandle, what: &str| {
            read_meta_block(path, &file, handle, footer_offset, what)
        };
        let index = Block::new(meta(footer.index, "index")?).map_err(|e| {
            Error::corruption(path, footer.index.offset, format!("index block: {e}"))
        })?;
        let mut blocks = Vec::new();
        let mut it = index.iter();
        it.seek_to_first();
        while it.valid() {
            let handle = BlockHandle::decode(it.value_bytes()).ok_or_else(|| {
                Error::corruption(path, footer.index.offset, "index block: malformed handle")
            })?;
            let (key, trailer) = split_internal_key(it.key()).unwrap_or((&[], 0));
            blocks.push(DataBlockRef {
                location: handle.into(),
                last_key: key.to_vec(),
                last_seqno: trailer >> 8,
            });
            it.next();
        }
        it.status().map_err(|e| {
            Error::corruption(path, footer.index.offset, format!("index block: {e}"))
        })?;
        let properties = meta(footer.properties, "properties")
            .map_err(|e| e.to_string())
            .and_then(|b| {
                TableProperties::decode(&b)
                    .map(|p| TablePropertiesDump::from(&p))
                    .map_err(|e| {
                        Error::corruption(
                            path,
                            footer.properties.offset,
                            format!("properties block: {e}"),
                        )
                        .to_string()
                    })
            });
        let filter_info = (footer.filter.size != 0).then(|| {
            let block = meta(footer.filter, "filter").map_err(|e| e.to_string())?;
            let bits = (block.len() as u64).saturating_sub(1) * 8;
            let probes = block.last().copied().unwrap_or(0);
            bloom::Filter::decode(block)
                .map(|_| FilterDump { bits, probes })
                .ok_or_else(|| "malformed filter block (ignored by reads)".to_owned())
        });
        Ok(TableDump {
            path: path.to_path_buf(),
            file_size,
            format_version: FORMAT_VERSION,
            index: footer.index.into(),
            filter: footer.filter.into(),
            properties_block: footer.properties.into(),
            properties,
            filter_info,
            blocks,
            data,
            footer_offset,
        })
    }

    /// Bytes each stored block takes after its payload: type and crc32.
    pub const BLOCK_TRAILER: u64 = BLOCK_TRAILER_LEN as u64;

    /// Reads, checks and decodes data block `i` (an index into
    /// [`TableDump::blocks`]).
    ///
    /// # Errors
    /// `InvalidArgument` for an `i` out of range; `Corruption` naming the
    /// file and the block's offset if the block is damaged.
    pub fn read_block(&self, i: usize) -> Result<DataBlockDump> {
        let r = self
            .blocks
            .get(i)
            .ok_or_else(|| Error::invalid(format!("the table has no block {i}")))?;
        let offset = r.location.offset;
        let corrupt = |e: &str| Error::corruption(&self.path, offset, format!("data block: {e}"));
        let handle = BlockHandle {
            offset,
            size: r.location.size,
        };
        let stored = handle
            .slice_of(&self.data, self.footer_offset)
            .ok_or_else(|| corrupt("block handle out of range"))?;
        let (contents, ty) = unseal(&stored).map_err(corrupt)?;
        let uncompressed_size = contents.len() as u64;
        let block = Block::new(contents).map_err(corrupt)?;
        let mut entries = Vec::new();
        let mut it = block.iter();
        it.seek_to_first();
        while it.valid() {
            let (key, trailer) =
                split_internal_key(it.key()).ok_or_else(|| corrupt("key shorter than trailer"))?;
            let (seqno, kind) =
                unpack_trailer(trailer).ok_or_else(|| corrupt("unknown value kind"))?;
            entries.push(EntryDump {
                keyspace: 0,
                key: key.to_vec(),
                seqno,
                kind: match kind {
                    crate::key::ValueKind::Delete => "delete",
                    crate::key::ValueKind::Put => "put",
                    crate::key::ValueKind::Merge => "merge",
                },
                value: it.value_bytes().to_vec(),
            });
            it.next();
        }
        it.status().map_err(corrupt)?;
        Ok(DataBlockDump {
            compression: match ty {
                CompressionType::None => "none",
                CompressionType::Zstd => "zstd",
                CompressionType::Lz4 => "lz4",
            },
            uncompressed_size,
            restarts: block.num_restarts() as u64,
            entries,
        })
    }
}
