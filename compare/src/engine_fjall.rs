//! fjall 3, configured through its builder as its users would: leveled
//! compaction (its default), LZ4 on every level, 10-bit bloom filters on
//! every level, 64 MiB memtable, 64 MiB block cache, journal flushed to
//! the OS on every write (its default), fsynced for sync writes. fjall has
//! no merge operator, so counters are read-modify-write.
//!
//! The database is opened as fjall's `OptimisticTxDatabase` (the same
//! database and write path plus a commit oracle): transactions are its
//! `WriteTransaction`s (reads marked for conflict checking, commit
//! validated, `Conflict` = aborted, not retried), and compare-and-swap,
//! which fjall lacks, is such a transaction. The non-transactional
//! operations use the plain keyspace and database inside it (fjall's
//! `inner()` escape hatch), so they cost what they cost in a plain
//! `Database`; fjall's own non-transactional calls on a transactional
//! keyspace would wrap every write in a transaction.

use std::path::Path;

use fjall::config::{BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry};
use fjall::{
    Keyspace, KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, PersistMode,
    Readable,
};

use crate::engine::{Engine, EngineConfig, KEYSPACES, Result, keyspace_name};

/// One fjall database with one main keyspace and
/// [`KEYSPACES`](crate::engine::KEYSPACES) extra ones.
pub struct FjallEngine {
    db: OptimisticTxDatabase,
    /// The main keyspace, for transactions.
    tx_ks: OptimisticTxKeyspace,
    /// The same keyspace, for everything else.
    ks: Keyspace,
    extra: Vec<Keyspace>,
    describe: String,
}

impl FjallEngine {
    /// Opens or creates a database in `dir`.
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = OptimisticTxDatabase::builder(dir)
            .cache_size(cfg.block_cache)
            .open()?;
        let bloom =
            FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(cfg.bloom_bits as f32));
        let write_buffer = cfg.write_buffer;
        let options = || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(write_buffer)
                .filter_policy(FilterPolicy::all(bloom))
                .data_block_compression_policy(CompressionPolicy::all(fjall::CompressionType::Lz4))
        };
        let tx_ks = db.keyspace("bench", options)?;
        let ks = tx_ks.inner().clone();
        let extra = (0..KEYSPACES)
            .map(|i| {
                db.keyspace(&keyspace_name(i), options)
                    .map(|k| k.inner().clone())
            })
            .collect::<std::result::Result<_, _>>()?;
        let describe = format!(
            "fjall 3.1: memtable {} MiB, block cache {} MiB, bloom {} bits/key on all levels, LZ4 on all levels, leveled compaction (default), journal flushed to the OS per write (default), SyncData for sync writes, no merge operator (read-modify-write); opened as OptimisticTxDatabase: a transaction is a WriteTransaction (get marks reads, counters read and written in it), committed once, Conflict = aborted; compare_and_swap, which fjall lacks, is such a transaction (get, compare, insert, commit)",
            cfg.write_buffer >> 20,
            cfg.block_cache >> 20,
            cfg.bloom_bits
        );
        Ok(FjallEngine {
            db,
            tx_ks,
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

    fn transaction(
        &self,
        reads: &[&[u8]],
        puts: &[(&[u8], &[u8])],
        adds: &[&[u8]],
    ) -> Result<bool> {
        let mut tx = self.db.write_tx()?;
        for k in reads {
            tx.get(&self.tx_ks, k)?;
        }
        for (k, v) in puts {
            tx.insert(&self.tx_ks, *k, *v);
        }
        for k in adds {
            let old = tx.get(&self.tx_ks, k)?.map_or(0, |v| counter(&v));
            tx.insert(&self.tx_ks, *k, old.wrapping_add(1).to_le_bytes());
        }
        Ok(tx.commit()?.is_ok())
    }

    fn compare_and_swap(&self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
        let mut tx = self.db.write_tx()?;
        if tx.get(&self.tx_ks, key)?.as_deref() != expected {
            return Ok(false);
        }
        tx.insert(&self.tx_ks, key, new);
        Ok(tx.commit()?.is_ok())
    }

    fn write_batch(&self, pairs: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        let mut batch = self.db.inner().batch();
        if sync {
            batch = batch.durability(Some(PersistMode::SyncData));
        }
        for (k, v) in pairs {
            batch.insert(&self.ks, *k, *v);
        }
        Ok(batch.commit()?)
    }

    fn write_batch_in(&self, entries: &[(usize, &[u8], &[u8])]) -> Result<()> {
        let mut batch = self.db.inner().batch();
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
        self.db.inner().active_compactions() > 0 || self.db.inner().outstanding_flushes() > 0
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

/// A little-endian u64 counter (shorter values zero-extended).
fn counter(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(a)
}
