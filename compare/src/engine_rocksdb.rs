//! RocksDB (through the `rocksdb` crate), configured as its tuning guide
//! suggests for a small server: leveled compaction with dynamic level
//! bytes, LZ4 for all levels and zstd for the bottommost, a 10-bit bloom
//! filter, an LRU block cache, background jobs = cores.
//!
//! When transaction workloads are requested ([`EngineConfig::transactions`])
//! the same options open an `OptimisticTransactionDB` instead of a `DB`:
//! transactions read with `get_for_update` and are validated at commit
//! (`Busy`/`TryAgain` = conflict, counted as aborted, not retried);
//! compare-and-swap, which RocksDB lacks, is such a transaction.

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, BottommostLevelCompaction, Cache, ColumnFamilyDescriptor, CompactOptions,
    DB, DBCompressionType, ErrorKind, MergeOperands, OptimisticTransactionDB, Options,
    WriteBatchWithTransaction, WriteOptions,
};

use crate::engine::{Engine, EngineConfig, KEYSPACES, Result, keyspace_name};

/// RocksDB with a u64-add associative merge operator.
pub struct RocksEngine {
    db: Handle,
    describe: String,
}

/// A plain `DB`, or the same database opened for optimistic transactions.
enum Handle {
    Plain(DB),
    Txn(OptimisticTransactionDB),
}

/// Evaluates `$body` with `$db` bound to whichever database is open (the
/// two are different types sharing most methods).
macro_rules! with_db {
    ($self:expr, $db:ident => $body:expr) => {
        match &$self.db {
            Handle::Plain($db) => $body,
            Handle::Txn($db) => $body,
        }
    };
}

/// A batch of puts, for either database's batch type.
fn batch_of<const T: bool>(pairs: &[(&[u8], &[u8])]) -> WriteBatchWithTransaction<T> {
    let mut batch = WriteBatchWithTransaction::<T>::default();
    for (k, v) in pairs {
        batch.put(k, v);
    }
    batch
}

/// Whether a commit failed because of a conflict (the transaction wrote
/// nothing and would be retried by an application).
fn conflicted(e: &rocksdb::Error) -> bool {
    matches!(e.kind(), ErrorKind::Busy | ErrorKind::TryAgain)
}

fn u64_add(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let mut sum = existing.map_or(0, decode);
    for op in operands.iter() {
        sum = sum.wrapping_add(decode(op));
    }
    Some(sum.to_le_bytes().to_vec())
}

fn decode(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(a)
}

impl RocksEngine {
    /// Opens or creates a database in `dir`.
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as i32;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.increase_parallelism(cores);
        opts.set_max_background_jobs(cores.max(2));
        opts.set_write_buffer_size(cfg.write_buffer as usize);
        opts.set_level_compaction_dynamic_level_bytes(true);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.set_bottommost_compression_type(DBCompressionType::Zstd);
        opts.set_merge_operator_associative("u64add", u64_add);
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(cfg.bloom_bits as f64, false);
        table.set_block_cache(&Cache::new_lru_cache(cfg.block_cache as usize));
        // Index and filter blocks stay in the table readers (RocksDB's
        // default). Caching them in a 64 MiB LRU cache (64 shards of
        // 1 MiB) thrashes once a table's filter block nears 1 MiB: at 5M
        // keys that made every RocksDB point read reload a filter block.
        table.set_format_version(5);
        opts.set_block_based_table_factory(&table);
        let describe = format!(
            "rocksdb {}: write_buffer_size {} MiB (max_write_buffer_number 2), LRU block cache {} MiB (index+filter blocks held by table readers, the default), bloom {} bits/key (full filter), LZ4 levels + zstd bottommost, leveled with dynamic level bytes, max_background_jobs {}, bytes_per_sync 1 MiB, WAL on (fsync only for sync writes), merge operator u64add (associative)",
            if cfg!(feature = "rocksdb-system") {
                "7.8.3 (system librocksdb)"
            } else {
                "11.8.1 (bundled)"
            },
            cfg.write_buffer >> 20,
            cfg.block_cache >> 20,
            cfg.bloom_bits,
            cores.max(2)
        );
        let describe = if cfg.transactions {
            describe
                + "; opened as OptimisticTransactionDB (transaction workloads requested; RocksDB then keeps flushed memtables up to max_write_buffer_number x write_buffer_size as conflict-check history): a transaction reads with get_pinned_for_update, puts, merges counters (a tracked merge: it conflicts like a write), commits once, Busy/TryAgain = aborted; compare_and_swap, which RocksDB lacks, is such a transaction (get_pinned_for_update, compare, put, commit)"
        } else {
            describe
        };
        opts.create_missing_column_families(true);
        // The extra keyspaces: column families with the same options. The
        // default one is listed too: left out, the crate opens it with
        // `Options::default()` (no merge operator, no bloom filter).
        let cfs = std::iter::once(ColumnFamilyDescriptor::new("default", opts.clone())).chain(
            (0..KEYSPACES).map(|i| ColumnFamilyDescriptor::new(keyspace_name(i), opts.clone())),
        );
        let db = if cfg.transactions {
            Handle::Txn(OptimisticTransactionDB::open_cf_descriptors(
                &opts, dir, cfs,
            )?)
        } else {
            Handle::Plain(DB::open_cf_descriptors(&opts, dir, cfs)?)
        };
        Ok(RocksEngine { db, describe })
    }

    fn prop(&self, name: &str) -> u64 {
        with_db!(self, db => db.property_int_value(name).ok().flatten().unwrap_or(0))
    }

    fn txn_db(&self) -> Result<&OptimisticTransactionDB> {
        match &self.db {
            Handle::Txn(db) => Ok(db),
            Handle::Plain(_) => {
                Err("RocksDB was opened without transactions (EngineConfig::transactions)".into())
            }
        }
    }
}

impl Engine for RocksEngine {
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(with_db!(self, db => db.put(key, value))?)
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        match with_db!(self, db => db.get_pinned(key).map(|v| v.map(|v| out.extend_from_slice(&v))))?
        {
            Some(()) => Ok(true),
            None => Ok(false),
        }
    }

    fn transaction(
        &self,
        reads: &[&[u8]],
        puts: &[(&[u8], &[u8])],
        adds: &[&[u8]],
    ) -> Result<bool> {
        let txn = self.txn_db()?.transaction();
        for k in reads {
            match txn.get_pinned_for_update(k, true) {
                Ok(_) => {}
                Err(e) if conflicted(&e) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        for (k, v) in puts {
            txn.put(k, v)?;
        }
        for k in adds {
            txn.merge(k, 1u64.to_le_bytes())?;
        }
        match txn.commit() {
            Ok(()) => Ok(true),
            Err(e) if conflicted(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn compare_and_swap(&self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
        let txn = self.txn_db()?.transaction();
        let matches = match txn.get_pinned_for_update(key, true) {
            Ok(current) => current.as_deref() == expected,
            Err(e) if conflicted(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if !matches {
            return Ok(false);
        }
        txn.put(key, new)?;
        match txn.commit() {
            Ok(()) => Ok(true),
            Err(e) if conflicted(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        Ok(with_db!(self, db => db.delete(key))?)
    }

    fn merge_add(&self, key: &[u8], delta: u64) -> Result<()> {
        Ok(with_db!(self, db => db.merge(key, delta.to_le_bytes()))?)
    }

    fn write_batch(&self, pairs: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        match &self.db {
            Handle::Plain(db) => db.write_opt(batch_of(pairs), &wo)?,
            Handle::Txn(db) => db.write_opt(batch_of(pairs), &wo)?,
        }
        Ok(())
    }

    fn write_batch_in(&self, entries: &[(usize, &[u8], &[u8])]) -> Result<()> {
        with_db!(self, db => {
            let mut batch = WriteBatchWithTransaction::default();
            for (ks, k, v) in entries {
                let cf = db
                    .cf_handle(&keyspace_name(*ks))
                    .ok_or("a column family is missing")?;
                batch.put_cf(cf, k, v);
            }
            db.write(batch)?;
        });
        Ok(())
    }

    fn scan(&self, start: &[u8], n: usize) -> Result<usize> {
        with_db!(self, db => scan_from(db.raw_iterator(), start, n))
    }

    fn scan_all(&self, progress: &dyn Fn(u64)) -> Result<(u64, u64)> {
        with_db!(self, db => scan_everything(db.raw_iterator(), progress))
    }

    fn flush(&self) -> Result<()> {
        Ok(with_db!(self, db => db.flush())?)
    }

    fn compact(&self) -> Result<()> {
        // Flush first, then rewrite every level including the bottommost
        // (RocksDB skips the bottommost level by default).
        let mut co = CompactOptions::default();
        co.set_exclusive_manual_compaction(true);
        co.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
        with_db!(self, db => {
            db.flush()?;
            db.compact_range_opt(None::<&[u8]>, None::<&[u8]>, &co);
        });
        Ok(())
    }

    fn busy(&self) -> bool {
        self.prop("rocksdb.num-running-compactions") > 0
            || self.prop("rocksdb.num-running-flushes") > 0
            || self.prop("rocksdb.compaction-pending") > 0
            || self.prop("rocksdb.mem-table-flush-pending") > 0
    }

    fn stall_micros(&self) -> Option<u64> {
        None
    }

    fn close(self: Box<Self>) -> Result<()> {
        with_db!(self, db => db.cancel_all_background_work(true));
        drop(self);
        Ok(())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

/// Seeks `it` to `start` and reads up to `n` entries.
fn scan_from<D: rocksdb::DBAccess>(
    mut it: rocksdb::DBRawIteratorWithThreadMode<'_, D>,
    start: &[u8],
    n: usize,
) -> Result<usize> {
    it.seek(start);
    let mut read = 0;
    while read < n && it.valid() {
        let _ = (it.key(), it.value());
        read += 1;
        if read < n {
            it.next();
        }
    }
    it.status()?;
    Ok(read)
}

/// Reads everything `it` sees, in key order; returns (entries, bytes).
fn scan_everything<D: rocksdb::DBAccess>(
    mut it: rocksdb::DBRawIteratorWithThreadMode<'_, D>,
    progress: &dyn Fn(u64),
) -> Result<(u64, u64)> {
    it.seek_to_first();
    let (mut n, mut bytes) = (0u64, 0u64);
    while it.valid() {
        bytes += (it.key().map_or(0, <[u8]>::len) + it.value().map_or(0, <[u8]>::len)) as u64;
        n += 1;
        if n % 4096 == 0 {
            progress(4096);
        }
        it.next();
    }
    it.status()?;
    Ok((n, bytes))
}

/// Linking against a system RocksDB older than the bundled one (Debian 12
/// ships 7.8.3; feature `rocksdb-system`, with `ROCKSDB_LIB_DIR` set):
/// the crate references `rocksdb_write_buffer_manager_destroy`, which 7.8
/// lacks. It is only called when a `WriteBufferManager` is dropped, and
/// this benchmark never creates one.
#[cfg(feature = "rocksdb-system")]
#[expect(unsafe_code, reason = "a C symbol the system library lacks")]
#[unsafe(no_mangle)]
pub extern "C" fn rocksdb_write_buffer_manager_destroy(_manager: *mut std::ffi::c_void) {}
