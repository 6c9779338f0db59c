//! fjall 3, configured through its builder as its users would: leveled
//! compaction (its default), LZ4 on every level, 10-bit bloom filters on
//! every level, 64 MiB memtable, 64 MiB block cache, journal flushed to
//! the OS on every write (its default), fsynced for sync writes. fjall has
//! no merge operator, so counters are read-modify-write.

use std::path::Path;

use fjall::config::{BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::engine::{Engine, EngineConfig, KEYSPACES, Result, keyspace_name};

/// One fjall database with one main keyspace and
/// [`KEYSPACES`](crate::engine::KEYSPACES) extra ones.
pub struct FjallEngine {
    db: Database,
    ks: Keyspace,
    extra: Vec<Keyspace>,
    describe: String,
}

impl FjallEngine {
    /// Opens or creates a database in `dir`.
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = Database::builder(dir).cache_size(cfg.block_cache).open()?;
        let bloom =
            FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(cfg.bloom_bits as f32));
        let write_buffer = cfg.write_buffer;
        let options = || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(write_buffer)
                .filter_policy(FilterPolicy::all(bloom))
                .data_block_compression_policy(CompressionPolicy::all(fjall::CompressionType::Lz4))
        };
        let ks = db.keyspace("bench", options)?;
        let extra = (0..KEYSPACES)
            .map(|i| db.keyspace(&keyspace_name(i), options))
            .collect::<std::result::Result<_, _>>()?;
        let describe = format!(
            "fjall 3.1: memtable {} MiB, block cache {} MiB, bloom {} bits/key on all levels, LZ4 on all levels, leveled compaction (default), journal flushed to the OS per write (default), SyncData for sync writes, no merge operator (read-modify-write)",
            cfg.write_buffer >> 20,
            cfg.block_cache >> 20,
            cfg.bloom_bits
        );
        Ok(FjallEngine {
            db,
            ks,
            extra,
            describe,
        })
    }
}

impl Engine for FjallEngine {
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.ks.insert(key, value)?)
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        match self.ks.get(key)? {
            Some(v) => {
                out.extend_from_slice(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        Ok(self.ks.remove(key)?)
    }

    fn merge_add(&self, key: &[u8], delta: u64) -> Result<()> {
        let old = match self.ks.get(key)? {
            Some(v) if v.len() >= 8 => {
                u64::from_le_bytes(v[..8].try_into().map_err(|_| "short counter")?)
            }
            _ => 0,
        };
        Ok(self.ks.insert(key, old.wrapping_add(delta).to_le_bytes())?)
    }

    fn write_batch(&self, pairs: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        let mut batch = self.db.batch();
        if sync {
            batch = batch.durability(Some(PersistMode::SyncData));
        }
        for (k, v) in pairs {
            batch.insert(&self.ks, *k, *v);
        }
        Ok(batch.commit()?)
    }

    fn write_batch_in(&self, entries: &[(usize, &[u8], &[u8])]) -> Result<()> {
        let mut batch = self.db.batch();
        for (ks, k, v) in entries {
            batch.insert(&self.extra[*ks], *k, *v);
        }
        Ok(batch.commit()?)
    }

    fn scan(&self, start: &[u8], n: usize) -> Result<usize> {
        let mut read = 0;
        for guard in self.ks.range(start..).take(n) {
            guard.into_inner()?;
            read += 1;
        }
        Ok(read)
    }

    fn scan_all(&self, progress: &dyn Fn(u64)) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for guard in self.ks.iter() {
            let (k, v) = guard.into_inner()?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
            if n % 4096 == 0 {
                progress(4096);
            }
        }
        Ok((n, bytes))
    }

    fn flush(&self) -> Result<()> {
        Ok(self.ks.rotate_memtable_and_wait()?)
    }

    fn compact(&self) -> Result<()> {
        self.ks.rotate_memtable_and_wait()?;
        Ok(self.ks.major_compact()?)
    }

    fn busy(&self) -> bool {
        self.db.active_compactions() > 0 || self.db.outstanding_flushes() > 0
    }

    fn stall_micros(&self) -> Option<u64> {
        None
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        drop(self);
        Ok(())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
