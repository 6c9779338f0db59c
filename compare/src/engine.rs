//! The `Engine` trait the workloads drive, and how each engine is opened
//! with the settings its users would choose.

use std::path::Path;

/// Errors from any engine, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result with a boxed error.
pub type Result<T> = std::result::Result<T, BoxError>;

/// Which engine to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// rillkv, this repository (path dependency).
    Rillkv,
    /// RocksDB through the `rocksdb` crate (feature `rocksdb`).
    Rocksdb,
    /// fjall 3 (feature `fjall`).
    Fjall,
}

impl EngineKind {
    /// The lowercase name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Rillkv => "rillkv",
            EngineKind::Rocksdb => "rocksdb",
            EngineKind::Fjall => "fjall",
        }
    }
}

/// Settings common to all engines, plus rillkv's own knobs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Write buffer (memtable) size in bytes. Default 64 MiB.
    pub write_buffer: u64,
    /// Block cache size in bytes. Default 64 MiB.
    pub block_cache: u64,
    /// Bloom filter bits per key. Default 10.
    pub bloom_bits: u32,
    /// rillkv: compaction options.
    pub rillkv_compaction: rillkv::CompactionOptions,
    /// rillkv: table compression (`None` = rillkv's default).
    pub rillkv_compression: Option<rillkv::Compression>,
    /// rillkv: compression at the bottom of the tree (`None` = rillkv's
    /// default, or `rillkv_compression` when that is set).
    pub rillkv_bottommost_compression: Option<rillkv::Compression>,
    /// rillkv: map tables instead of reading them with `pread`.
    pub rillkv_mmap_reads: bool,
    /// Transaction workloads will run: RocksDB is then opened as an
    /// `OptimisticTransactionDB` (which also keeps flushed memtables as
    /// conflict-check history), a plain `DB` otherwise.
    pub transactions: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            write_buffer: 64 << 20,
            block_cache: 64 << 20,
            bloom_bits: 10,
            rillkv_compaction: rillkv::CompactionOptions::default(),
            rillkv_compression: None,
            rillkv_bottommost_compression: None,
            rillkv_mmap_reads: false,
            transactions: false,
        }
    }
}

/// What the benchmark needs from a key-value engine. Every method takes
/// `&self` so that threads can share one engine.
pub trait Engine: Send + Sync {
    /// Inserts or overwrites a key (WAL on, no fsync).
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Reads a key into `out`; returns whether it was found.
    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool>;
    /// Deletes a key.
    fn delete(&self, key: &[u8]) -> Result<()>;
    /// Adds `delta` to a little-endian u64 counter: a merge where the
    /// engine has a merge operator, a read-modify-write where it has not.
    fn merge_add(&self, key: &[u8], delta: u64) -> Result<()>;
    /// Writes the pairs as one atomic batch; with `sync` the WAL is
    /// fsynced before returning.
    fn write_batch(&self, pairs: &[(&[u8], &[u8])], sync: bool) -> Result<()>;
    /// Writes `(keyspace, key, value)` entries as one atomic batch across
    /// the engine's [`KEYSPACES`] extra keyspaces (rillkv keyspaces,
    /// RocksDB column families, fjall keyspaces), each opened with the
    /// same options as the main one.
    fn write_batch_in(&self, entries: &[(usize, &[u8], &[u8])]) -> Result<()>;
    /// Seeks to the first key `>= start` and reads up to `n` entries
    /// (the seek's entry plus `n - 1` nexts); returns how many it read.
    fn scan(&self, start: &[u8], n: usize) -> Result<usize>;
    /// Reads the whole database in key order; returns (entries, bytes).
    fn scan_all(&self, progress: &dyn Fn(u64)) -> Result<(u64, u64)>;
    /// Flushes memtables to tables and waits.
    fn flush(&self) -> Result<()>;
    /// Compacts the whole key range and waits.
    fn compact(&self) -> Result<()>;
    /// Whether flushes or compactions are running or pending.
    fn busy(&self) -> bool;
    /// Total microseconds writers have been stalled, where the engine
    /// reports it.
    fn stall_micros(&self) -> Option<u64>;
    /// One optimistic transaction, tried once: reads `reads`, puts `puts`
    /// and adds 1 to each little-endian u64 counter of `adds` (a merge
    /// where the engine has a commutative merge operator, a read and a
    /// write in the transaction otherwise). Returns whether it committed
    /// (`false`: it conflicted and wrote nothing).
    fn transaction(
        &self,
        reads: &[&[u8]],
        puts: &[(&[u8], &[u8])],
        adds: &[&[u8]],
    ) -> Result<bool> {
        let _ = (reads, puts, adds);
        Err(format!(
            "transactions are not implemented for {} in rillkv-bench yet",
            self.describe()
        )
        .into())
    }
    /// Sets `key` to `new` if its value is `expected` (`None`: absent),
    /// atomically; returns whether it swapped.
    fn compare_and_swap(&self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
        let _ = (key, expected, new);
        Err(format!(
            "compare-and-swap is not implemented for {} in rillkv-bench yet",
            self.describe()
        )
        .into())
    }
    /// Closes the engine, waiting for background work to stop.
    fn close(self: Box<Self>) -> Result<()>;
    /// How this engine was configured, for the report.
    fn describe(&self) -> String;
}

/// How many extra keyspaces every engine opens (`ks0`, `ks1`, ...), for
/// the `fillrandom4ks` workload.
pub const KEYSPACES: usize = 4;

/// The name of extra keyspace `i`.
pub fn keyspace_name(i: usize) -> String {
    format!("ks{i}")
}

/// Opens `kind` in `dir` (created if missing).
pub fn open(kind: EngineKind, dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
    match kind {
        EngineKind::Rillkv => Ok(Box::new(RillkvEngine::open(dir, cfg)?)),
        #[cfg(feature = "rocksdb")]
        EngineKind::Rocksdb => Ok(Box::new(crate::engine_rocksdb::RocksEngine::open(
            dir, cfg,
        )?)),
        #[cfg(feature = "fjall")]
        EngineKind::Fjall => Ok(Box::new(crate::engine_fjall::FjallEngine::open(dir, cfg)?)),
        #[allow(
            unreachable_patterns,
            reason = "reachable only when an engine's feature is off; `expect` would fail with all on"
        )]
        other => Err(format!(
            "engine {} is not compiled in: rebuild with --features {}",
            other.name(),
            other.name()
        )
        .into()),
    }
}

/// rillkv with `merge_operator(U64Add)`.
pub struct RillkvEngine {
    db: rillkv::Db,
    /// The [`KEYSPACES`] extra keyspaces.
    keyspaces: Vec<rillkv::Keyspace>,
    describe: String,
}

impl RillkvEngine {
    fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let mut opts = rillkv::Options::default()
            .merge_operator(rillkv::merge::U64Add)
            .memtable_size(cfg.write_buffer as usize)
            .block_cache_size(cfg.block_cache)
            .bloom_bits_per_key(cfg.bloom_bits)
            .compaction(cfg.rillkv_compaction.clone())
            .mmap_reads(cfg.rillkv_mmap_reads);
        let mut ks_opts = rillkv::KeyspaceOptions::default()
            .memtable_size(cfg.write_buffer as usize)
            .bloom_bits_per_key(cfg.bloom_bits)
            .compaction(cfg.rillkv_compaction.clone());
        if let Some(c) = cfg.rillkv_compression {
            opts = opts.compression(c);
            ks_opts = ks_opts.compression(c);
        }
        if let Some(c) = cfg.rillkv_bottommost_compression {
            opts = opts.bottommost_compression(c);
            ks_opts = ks_opts.bottommost_compression(c);
        }
        for i in 0..KEYSPACES {
            opts = opts.keyspace(keyspace_name(i), ks_opts.clone());
        }
        let describe = format!(
            "rillkv: memtable {} MiB, block cache {} MiB, bloom {} bits/key, compression {}, tables read with {}, WAL on (fsync only for sync writes), merge_operator(U64Add), {:?}",
            cfg.write_buffer >> 20,
            cfg.block_cache >> 20,
            cfg.bloom_bits,
            match (cfg.rillkv_compression, cfg.rillkv_bottommost_compression) {
                (None, None) => "LZ4, zstd level 1 at the bottom (defaults)".to_owned(),
                (c, b) => format!("{c:?}, bottom {b:?}"),
            },
            if cfg.rillkv_mmap_reads {
                "mmap"
            } else {
                "pread (default)"
            },
            cfg.rillkv_compaction
        );
        let db = rillkv::Db::open(dir, opts)?;
        let keyspaces = (0..KEYSPACES)
            .map(|i| db.keyspace(&keyspace_name(i), ks_opts.clone()))
            .collect::<rillkv::Result<_>>()?;
        Ok(RillkvEngine {
            db,
            keyspaces,
            describe,
        })
    }

    /// The underlying database (for stats).
    pub fn db(&self) -> &rillkv::Db {
        &self.db
    }
}

impl Engine for RillkvEngine {
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.db.put(key, value)?)
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        match self.db.get(key)? {
            Some(v) => {
                out.extend_from_slice(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        Ok(self.db.delete(key)?)
    }

    fn merge_add(&self, key: &[u8], delta: u64) -> Result<()> {
        Ok(self.db.merge(key, delta.to_le_bytes())?)
    }

    fn write_batch(&self, pairs: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        let mut batch = rillkv::WriteBatch::new();
        for (k, v) in pairs {
            batch.put(k, v);
        }
        Ok(self
            .db
            .write_opt(batch, &rillkv::WriteOptions::default().sync(sync))?)
    }

    fn transaction(
        &self,
        reads: &[&[u8]],
        puts: &[(&[u8], &[u8])],
        adds: &[&[u8]],
    ) -> Result<bool> {
        let txn = self.db.transaction();
        for k in reads {
            txn.get(k)?;
        }
        for (k, v) in puts {
            txn.put(k, v);
        }
        for k in adds {
            txn.merge(k, 1u64.to_le_bytes());
        }
        match txn.commit() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == rillkv::ErrorKind::Conflict => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn compare_and_swap(&self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
        Ok(self
            .db
            .compare_and_swap(key, expected, Some(new))?
            .is_swapped())
    }

    fn write_batch_in(&self, entries: &[(usize, &[u8], &[u8])]) -> Result<()> {
        let mut batch = rillkv::WriteBatch::new();
        for (ks, k, v) in entries {
            batch.put_in(&self.keyspaces[*ks], k, v);
        }
        Ok(self.db.write(batch)?)
    }

    fn scan(&self, start: &[u8], n: usize) -> Result<usize> {
        let mut read = 0;
        for item in self.db.range(start..).take(n) {
            item?;
            read += 1;
        }
        Ok(read)
    }

    fn scan_all(&self, progress: &dyn Fn(u64)) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for item in self.db.iter() {
            let (k, v) = item?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
            if n % 4096 == 0 {
                progress(4096);
            }
        }
        Ok((n, bytes))
    }

    fn flush(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }

    fn compact(&self) -> Result<()> {
        self.db.flush()?;
        Ok(self.db.compact()?)
    }

    fn busy(&self) -> bool {
        std::iter::once(self.db.stats())
            .chain(self.keyspaces.iter().map(rillkv::Keyspace::stats))
            .any(|s| s.sealed_memtables > 0 || s.pending_compaction_bytes > 0)
    }

    fn stall_micros(&self) -> Option<u64> {
        Some(self.db.stats().counters.stall_micros)
    }

    fn close(self: Box<Self>) -> Result<()> {
        let RillkvEngine { db, keyspaces, .. } = *self;
        drop(keyspaces);
        Ok(db.close()?)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
