//! Valid seed inputs for every fuzz target, made by the real writers: a
//! WAL, a manifest, tables and their blocks from small databases on a
//! `FaultFs`, and operation sequences. Deterministic: the same bytes on
//! every run (background compaction is off and flushes are waited for).

use std::path::Path;
use std::sync::OnceLock;

use bytes::Bytes;

use super::log::{DIR, options};
use super::spec;
use crate::Db;
use crate::fs::{FaultFs, Fs};
use crate::options::WriteOptions;
use crate::table::Compression;
use crate::wal;

/// Files of a small real database, the image `manifest_replay` replays
/// manifests against.
pub(crate) struct SeedDb {
    /// Its tables: file name and bytes.
    pub tables: Vec<(String, Vec<u8>)>,
    /// The number of its live manifest.
    pub manifest_number: u64,
    /// The live manifest's bytes.
    pub manifest: Vec<u8>,
    /// Its live WAL, holding writes made after the last flush.
    pub wal: Vec<u8>,
}

fn le(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

/// A tiny deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

fn files(fs: &FaultFs, suffix: &str) -> Vec<(String, Vec<u8>)> {
    let mut names = fs.list_dir(Path::new(DIR)).expect("list");
    names.sort();
    names
        .into_iter()
        .filter(|n| n.ends_with(suffix))
        .map(|n| {
            let bytes = fs.read(&Path::new(DIR).join(&n)).expect("read").to_vec();
            (n, bytes)
        })
        .collect()
}

/// Puts, deletes and merges over a few rounds, each flushed (each round
/// over its own window of keys, so tables of several runs survive); a
/// range compaction; then unflushed writes left in the WAL.
fn workload(db: &Db, rounds: u64) {
    let mut rng = Rng(7);
    for round in 0..rounds {
        for i in 0..40u64 {
            let k = format!("key{:03}", round * 15 + rng.below(25));
            match rng.below(6) {
                0 => db.delete(&k).expect("delete"),
                1 | 2 => db
                    .merge(format!("cnt{}", i % 5), le(round * 100 + i))
                    .expect("merge"),
                _ => {
                    let v = format!("value-{round}-{i}-{}", "x".repeat(rng.below(90) as usize));
                    db.put(&k, v).expect("put");
                }
            }
        }
        db.flush().expect("flush");
        if round == 2 {
            db.compact_range("key020".."key030").expect("compact range");
        }
    }
    let mut batch = crate::WriteBatch::new();
    batch
        .put("batched", "1")
        .delete("key001")
        .merge("cnt0", le(5));
    db.write_opt(batch, &WriteOptions::default().sync(true))
        .expect("batch");
    db.put("tail", "unsynced").expect("put");
}

/// The database `manifest_replay` works on (built once per process).
pub(crate) fn seed_db() -> &'static SeedDb {
    static SEED: OnceLock<SeedDb> = OnceLock::new();
    SEED.get_or_init(|| {
        let fs = FaultFs::new();
        let db = Db::open(DIR, options(&fs)).expect("open seed database");
        workload(&db, 5);
        let tables = files(&fs, ".rkt");
        let current = fs
            .read(&Path::new(DIR).join("CURRENT"))
            .expect("read CURRENT");
        let name = std::str::from_utf8(&current)
            .ok()
            .and_then(|s| s.split(' ').next())
            .expect("CURRENT names a manifest")
            .to_owned();
        let manifest_number = name
            .strip_prefix("MANIFEST-")
            .and_then(|n| n.parse().ok())
            .expect("manifest number");
        let manifest = fs
            .read(&Path::new(DIR).join(&name))
            .expect("read manifest")
            .to_vec();
        let wal = files(&fs, ".wal").pop().map(|(_, b)| b).unwrap_or_default();
        db.close().expect("close seed database");
        SeedDb {
            tables,
            manifest_number,
            manifest,
            wal,
        }
    })
}

/// A WAL with every kind of write, a batch, and a record long enough to
/// cross a 32 KiB block (FIRST, MIDDLE, LAST fragments).
fn rich_wal() -> Vec<u8> {
    let fs = FaultFs::new();
    let db = Db::open(DIR, options(&fs).memtable_size(1 << 20)).expect("open");
    db.put("a", "1").expect("put");
    db.merge("n", le(3)).expect("merge");
    db.merge("n", le(4)).expect("merge");
    db.delete("a").expect("delete");
    db.put("big", vec![b'b'; 40_000]).expect("put");
    let mut batch = crate::WriteBatch::new();
    batch.put("x", "y").merge("n", le(1)).delete("zz");
    db.write_opt(batch, &WriteOptions::default().sync(true))
        .expect("write");
    db.put("", "empty key").expect("put");
    let wal = files(&fs, ".wal").pop().map(|(_, b)| b).unwrap_or_default();
    db.close().expect("close");
    wal
}

/// A table written without compression or filter.
fn plain_table() -> Vec<u8> {
    let fs = FaultFs::new();
    let opts = options(&fs)
        .compression(Compression::None)
        .bloom_bits_per_key(0);
    let db = Db::open(DIR, opts).expect("open");
    for i in 0..120u32 {
        db.put(format!("p{i:04}"), format!("v{i}")).expect("put");
        if i % 7 == 0 {
            db.delete(format!("p{:04}", i / 2)).expect("delete");
        }
    }
    db.flush().expect("flush");
    let t = files(&fs, ".rkt").pop().map(|(_, b)| b).unwrap_or_default();
    db.close().expect("close");
    t
}

/// The stored data blocks of a table (payload and trailer), found from
/// its footer and index per the spec.
fn data_blocks(file: &[u8]) -> Vec<Vec<u8>> {
    let read_u64 = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(file.get(at..at + 8)?.try_into().ok()?))
    };
    let Some(footer) = file.len().checked_sub(spec::FOOTER_LEN) else {
        return Vec::new();
    };
    let (Some(io), Some(is)) = (read_u64(footer), read_u64(footer + 8)) else {
        return Vec::new();
    };
    let Some(index) = file.get(io as usize..(io + is) as usize) else {
        return Vec::new();
    };
    spec::walk_block(index, false)
        .entries
        .iter()
        .filter_map(|e| {
            let off = u64::from_le_bytes(e.value.get(..8)?.try_into().ok()?) as usize;
            let size = u64::from_le_bytes(e.value.get(8..16)?.try_into().ok()?) as usize;
            file.get(off..off + size + spec::BLOCK_TRAILER_LEN)
                .map(<[u8]>::to_vec)
        })
        .collect()
}

fn with_mode(mode: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(body);
    v
}

/// Block seeds from one stored data block: its contents raw (mode 0) and
/// compressed by the harness (1), its zstd payload (2, zstd blocks only),
/// the stored block as is (3). Returns `(mode, rest of the input)`.
fn block_seeds(stored: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let len = stored.len().saturating_sub(spec::BLOCK_TRAILER_LEN);
    let (payload, trailer) = stored.split_at(len);
    let contents = match trailer.first() {
        Some(0) => payload.to_vec(),
        _ => {
            let declared = payload
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_le_bytes) as usize;
            let compressed = payload.get(4..).unwrap_or_default();
            if trailer.first() == Some(&2) {
                lz4_flex::block::decompress(compressed, declared)
                    .expect("a block the writer compressed with LZ4 decompresses")
            } else {
                zstd::bulk::decompress(compressed, declared)
                    .expect("a block the writer compressed decompresses")
            }
        }
    };
    let mut out = vec![(0, contents.clone()), (1, contents)];
    if trailer.first() == Some(&1) {
        out.push((2, payload.to_vec()));
    }
    out.push((3, stored.to_vec()));
    out
}

/// How many argument bytes `db_ops` reads after each opcode (`0..20`);
/// a batch (10) reads 2 plus 3 per entry.
fn arity(op: u8) -> usize {
    match op {
        0..=5 | 8 | 9 | 12 | 14 => 3,
        6 | 7 | 15 | 17..=19 => 2,
        11 | 16 => 1,
        _ => 0,
    }
}

/// An operation sequence for `db_ops`: a config byte, then `n` operations
/// drawn from `ops` with random arguments.
fn script(seed: u64, config: u8, n: usize, ops: &[u8]) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = vec![config];
    for _ in 0..n {
        let op = ops
            .get(rng.below(ops.len() as u64) as usize)
            .copied()
            .unwrap_or(0);
        out.push(op);
        if op == 10 {
            let n = rng.byte();
            out.push(n);
            out.push(rng.byte());
            for _ in 0..1 + n % 6 {
                out.extend([rng.byte(), rng.byte(), rng.byte()]);
            }
        } else {
            for _ in 0..arity(op) {
                out.push(rng.byte());
            }
        }
    }
    out
}

/// A log as the records form of `wal_recovery` and `manifest_replay`:
/// mode byte 1, then each record as a u16 length and its bytes (records
/// longer than 64 KiB are left out).
fn as_records(log: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    let mut reader = wal::Reader::new(Path::new("log"), Bytes::copy_from_slice(log));
    while let Some((_, r)) = reader.next_record() {
        if let Ok(len) = u16::try_from(r.len()) {
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&r);
        }
    }
    out
}

/// Every seed: `(target, file name, bytes)`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let seed = seed_db();
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        out.push((target, format!("seed-{name}"), bytes));
    };

    // Logs: real WALs and a manifest, whole, torn, zero-tailed, flipped.
    let wal = rich_wal();
    let mut logs = vec![
        ("wal", wal.clone()),
        ("seed-db-wal", seed.wal.clone()),
        ("manifest", seed.manifest.clone()),
        ("empty", Vec::new()),
    ];
    let cut = wal.len() * 2 / 3;
    logs.push(("wal-torn", wal.get(..cut).unwrap_or_default().to_vec()));
    let mut zeroed = wal.clone();
    zeroed
        .get_mut(cut..)
        .into_iter()
        .flatten()
        .for_each(|b| *b = 0);
    logs.push(("wal-zero-tail", zeroed));
    let mut flipped = wal.clone();
    if let Some(b) = flipped.get_mut(20) {
        *b ^= 0x10;
    }
    logs.push(("wal-bit-flip", flipped));
    for (name, bytes) in &logs {
        add("wal_reader", name, bytes.clone());
        if !name.starts_with("manifest") {
            add("wal_recovery", name, with_mode(0, bytes));
        }
    }
    add("wal_recovery", "wal-records", as_records(&wal));
    add("wal_recovery", "seed-db-wal-records", as_records(&seed.wal));

    // Manifests: as is, and as records for the harness to frame.
    add("manifest_replay", "raw", with_mode(0, &seed.manifest));
    add("manifest_replay", "records", as_records(&seed.manifest));

    // Tables and their blocks.
    let mut tables: Vec<(String, Vec<u8>)> = seed.tables.iter().take(3).cloned().collect();
    tables.push(("plain.rkt".into(), plain_table()));
    for (name, bytes) in &tables {
        add("table_scan", &format!("{name}-raw"), with_mode(0, bytes));
        add("table_scan", &format!("{name}-fixed"), with_mode(1, bytes));
        for (i, block) in data_blocks(bytes).iter().take(2).enumerate() {
            for (mode, rest) in block_seeds(block) {
                let seed = with_mode(mode, &rest);
                add(
                    "block_decoder",
                    &format!("{name}-block{i}-mode{mode}"),
                    seed,
                );
            }
        }
    }
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..40u64)
        .map(|i| {
            let kind = (i % 3) as u8;
            (
                spec::encode_key(format!("u{:02}", i / 2).as_bytes(), 1000 - i, kind),
                format!("{i}").into_bytes(),
            )
        })
        .collect();
    for interval in [1, 3, 16] {
        let block = spec::encode_block(&entries, interval);
        add(
            "block_decoder",
            &format!("spec-interval{interval}"),
            with_mode(0, &block),
        );
    }
    add("block_decoder", "empty", with_mode(0, &[0, 0, 0, 0]));

    // Operation sequences: writes only; with flushes, compactions and
    // snapshots; with reopens and crashes; with faults; every opcode.
    let writes: &[u8] = &[0, 1, 2, 6, 8, 10, 11, 12];
    let maintenance: &[u8] = &[0, 1, 2, 6, 8, 10, 11, 12, 13, 14, 15];
    let crashes: &[u8] = &[0, 1, 2, 6, 8, 10, 12, 13, 16, 17];
    let faults: &[u8] = &[0, 1, 6, 8, 10, 11, 12, 13, 14, 16, 17, 18];
    let all: Vec<u8> = (0..20).collect();
    for (name, ops, config) in [
        ("writes", writes, 0u8),
        ("maintenance", maintenance, 1),
        ("crashes", crashes, 2),
        ("faults", faults, 0),
        ("faults-stall", faults, 4),
        ("all", all.as_slice(), 3),
    ] {
        for s in 0..3u64 {
            let n = 40 + 20 * s as usize;
            add(
                "db_ops",
                &format!("{name}-{s}"),
                script(s * 31 + u64::from(config), config, n, ops),
            );
        }
    }
    out
}
