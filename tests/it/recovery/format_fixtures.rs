//! Databases written by earlier on-disk format versions still open: each
//! directory under `tests/fixtures/` was written by the rillkv of its
//! format version and is checked in; every later build must open a copy
//! and read exactly what was written.
//!
//! `format-v1/` (manifest format version 1, table format version 1, WAL
//! records of one keyspace) was written on 2026-12-03 by commit 39bd2f7
//! with `RILLKV_WRITE_FORMAT_FIXTURE=<dir> cargo test --release
//! --all-features --test it recovery::format_fixtures`: three flushed
//! rounds of puts, `U64Add` merges and deletes (tables in several runs)
//! and a fourth round left in the WAL (replayed at open). Regenerating it
//! with a later build would write that build's format: don't; add a new
//! fixture for a new format version instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rillkv::merge::U64Add;
use rillkv::{Db, KeyspaceOptions, Options, WriteBatch};

use crate::support::{collect, copy_dir, key};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn counter(j: u64) -> Vec<u8> {
    format!("counter{j}").into_bytes()
}

/// The writes of the v1 fixture, applied to `db` (when writing it) and to
/// a model (when checking it): the same sequence either way.
trait Sink {
    fn put(&mut self, k: Vec<u8>, v: Vec<u8>);
    fn add(&mut self, k: Vec<u8>, n: u64);
    fn delete(&mut self, k: Vec<u8>);
    fn flush(&mut self);
}

fn v1_writes(sink: &mut dyn Sink) {
    for round in 0..3u64 {
        for i in round * 20..round * 20 + 40 {
            sink.put(key(i), format!("value-{round}-{i}").into_bytes());
        }
        for j in 0..5 {
            sink.add(counter(j), round + 1);
        }
        sink.delete(key(round * 7));
        sink.flush();
    }
    // Left in the WAL: the open replays it.
    for i in 100..110 {
        sink.put(key(i), format!("unflushed-{i}").into_bytes());
    }
    sink.add(counter(0), 100);
    sink.delete(key(1));
}

struct Model(BTreeMap<Vec<u8>, Vec<u8>>);

impl Sink for Model {
    fn put(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.0.insert(k, v);
    }
    fn add(&mut self, k: Vec<u8>, n: u64) {
        let old = self.0.get(&k).map_or(0, |v| {
            u64::from_le_bytes(v[..8].try_into().expect("8 bytes"))
        });
        self.0.insert(k, (old + n).to_le_bytes().to_vec());
    }
    fn delete(&mut self, k: Vec<u8>) {
        self.0.remove(&k);
    }
    fn flush(&mut self) {}
}

struct Writer<'a>(&'a Db);

impl Sink for Writer<'_> {
    fn put(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.0.put(k, v).expect("put");
    }
    fn add(&mut self, k: Vec<u8>, n: u64) {
        self.0.merge(k, n.to_le_bytes()).expect("merge");
    }
    fn delete(&mut self, k: Vec<u8>) {
        self.0.delete(k).expect("delete");
    }
    fn flush(&mut self) {
        self.0.flush().expect("flush");
    }
}

fn opts() -> Options {
    Options::default()
        .merge_operator(U64Add)
        .compaction(rillkv::CompactionOptions::default().background(false))
}

fn write_v1_fixture(dir: &Path) {
    let db = Db::open(dir, opts().error_if_exists(true)).expect("a new directory");
    v1_writes(&mut Writer(&db));
    db.close().expect("close");
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

#[test]
fn a_format_v1_database_opens_and_reads_what_was_written() {
    if let Ok(dir) = std::env::var("RILLKV_WRITE_FORMAT_FIXTURE") {
        write_v1_fixture(Path::new(&dir));
    }
    let mut model = Model(BTreeMap::new());
    v1_writes(&mut model);
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.0.into_iter().collect();

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    copy_dir(&fixture("format-v1"), &dir);
    let db = Db::open(&dir, opts().create_if_missing(false)).expect("a v1 database opens");
    assert!(
        db.stats().recovered_entries > 0,
        "the fixture's WAL was replayed"
    );
    assert!(db.stats().runs.len() >= 2, "tables in several runs");
    assert_eq!(collect(db.iter()), want, "forward scan");
    let mut rev = collect(db.iter().rev());
    rev.reverse();
    assert_eq!(rev, want, "reverse scan");
    assert_eq!(
        db.get(counter(0)).expect("get").as_deref(),
        Some(&106u64.to_le_bytes()[..]),
        "merges in tables and in the WAL"
    );
    assert!(db.verify().expect("verify").is_ok());
    assert_eq!(db.keyspaces(), ["default"], "format 1 has one keyspace");
    // It goes on working in format 2: write, add a keyspace (with a batch
    // spanning both), compact, reopen.
    db.put(b"after", b"v").expect("put");
    let ks = db
        .keyspace("added", KeyspaceOptions::default().merge_operator(U64Add))
        .expect("a keyspace in an upgraded database");
    let mut batch = WriteBatch::new();
    batch
        .put(b"both", b"default")
        .merge_in(&ks, counter(0), 5u64.to_le_bytes());
    db.write(batch).expect("a batch over both keyspaces");
    db.compact().expect("compact");
    drop(ks);
    db.close().expect("close");
    let opts = || opts().keyspace("added", KeyspaceOptions::default().merge_operator(U64Add));
    let db = Db::open(&dir, opts()).expect("reopen");
    assert_eq!(db.get(b"after").expect("get").as_deref(), Some(&b"v"[..]));
    assert_eq!(collect(db.iter()).len(), want.len() + 2);
    let ks = db
        .keyspace("added", KeyspaceOptions::default().merge_operator(U64Add))
        .expect("reopen the keyspace");
    assert_eq!(
        ks.get(counter(0)).expect("get").as_deref(),
        Some(&5u64.to_le_bytes()[..]),
        "the keyspace's own counter, apart from the default keyspace's"
    );
    assert_eq!(db.keyspaces(), ["default", "added"]);
    drop(ks);
    db.close().expect("close");
}
