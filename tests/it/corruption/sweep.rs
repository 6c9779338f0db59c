//! Corruption of every file kind, swept at random, with per-key
//! expectations: a read that touches the damage fails with `Corruption`
//! naming the file and the damaged block's offset, every other read answers
//! exactly as the model says, and nothing panics or returns a wrong value.
//!
//! `corruption::detected` already flips targeted bytes of each table
//! region, sweeps one table with a fixed stride, flips every byte of the
//! manifest and of `CURRENT`, and truncates or deletes a table. This file
//! adds:
//!
//! - a **seeded random sweep** (`RILLKV_SEED`, default [`DEFAULT_SEED`];
//!   `RILLKV_FLIPS` flips, default [`DEFAULT_FLIPS`]) over the data, index,
//!   filter, properties and footer regions of every table of two images
//!   (uncompressed and zstd), and over the middle and the last record of a
//!   manifest. Each flip gets a fresh in-memory `FaultFs` holding the
//!   damaged image; the database is opened, every key is read with `get`
//!   (each answer checked against which block that lookup reads) and with a
//!   forward and a reverse scan. A per-region summary is printed at the end
//!   (`cargo test --release --test it corruption::sweep -- --nocapture`);
//! - a data block whose **crc is right but whose zstd payload is garbage**;
//! - a **compaction over a corrupt input**: it fails, drops no key, and
//!   after the file is repaired every key reads back;
//! - **`CURRENT`** missing, naming (with a valid checksum) a manifest that
//!   does not exist, or naming one that was deleted or is empty, with
//!   `create_if_missing` on and off: the open fails and the directory is
//!   left as it was, never replaced by an empty database;
//! - an **orphan table** (valid, foreign or garbage) next to the live ones:
//!   ignored and removed.
//!
//! A table named by the manifest but deleted is covered by
//! `corruption::detected`. Two tests are regressions for bugs this suite
//! found in `src/` (see their doc comments).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rillkv::fs::{FaultFs, Fs};
use rillkv::{CompactionOptions, Compression, Db, Error, ErrorKind, Options};

use crate::support::format::{
    HEADER, Handle, Region, TableLayout, block_contents, block_crc, block_entries, block_type,
    current_naming, flipped, index_entries, records, reseal_block, table_layout, user_key,
};
use crate::support::{
    Files, Model, assert_no_orphan_tables, dir_contents, env_num, fault_image, file_name, key,
    live_tables, manifest_names, numbered, show, table_paths, value32, wal_files,
};

const DIR: &str = "/db";

/// The sweep's seed unless `RILLKV_SEED` is set.
const DEFAULT_SEED: u64 = 0x5eed_f11b;

/// Flips per run unless `RILLKV_FLIPS` is set: at least 1,000 per CI run
/// across tables and manifest. 2,000 flips take about 6 s in release on
/// the 2-core dev machine under a load average of 8 (the summary prints
/// the time of each run).
const DEFAULT_FLIPS: u64 = 2_000;

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn options(fs: &FaultFs, compression: Compression) -> Options {
    // No background compaction: the three flushed tables stay as they are.
    // Small blocks: many data blocks per table.
    Options::default()
        .fs(fs.clone())
        .memtable_size(1 << 20)
        .block_size(1024)
        .compression(compression)
        .compaction(CompactionOptions::default().background(false))
}

/// The sweep's seed, printed so a failure can be replayed.
fn sweep_seed(test: &str) -> u64 {
    let seed = env_num("RILLKV_SEED", DEFAULT_SEED);
    eprintln!("{test}: seed {seed} (replay with RILLKV_SEED={seed})");
    seed
}

// ---------------------------------------------------------------------------
// The database under test and where each key lives.

/// One table of the image: where its blocks are and which user keys it
/// holds (any version, tombstones included).
struct TableMap {
    path: PathBuf,
    name: String,
    layout: TableLayout,
    /// Per data block in file order: its last user key and its handle.
    blocks: Vec<(Vec<u8>, Handle)>,
    keys: BTreeSet<Vec<u8>>,
    smallest: Vec<u8>,
    largest: Vec<u8>,
}

impl TableMap {
    fn new(path: PathBuf, bytes: &[u8]) -> TableMap {
        let layout = table_layout(bytes);
        let mut keys = BTreeSet::new();
        let mut blocks = Vec::new();
        let mut data_end = 0;
        for (last, h) in index_entries(bytes, &layout) {
            assert_eq!(h.offset, data_end, "data blocks are contiguous");
            data_end = h.range().end as u64;
            for (k, _) in block_entries(&block_contents(bytes, h)) {
                keys.insert(user_key(&k).to_vec());
            }
            blocks.push((user_key(&last).to_vec(), h));
        }
        assert_eq!(
            data_end, layout.data_end,
            "the index covers every data block"
        );
        let smallest = keys.first().expect("a non-empty table").clone();
        let largest = keys.last().expect("a non-empty table").clone();
        TableMap {
            name: file_name(&path),
            path,
            layout,
            blocks,
            keys,
            smallest,
            largest,
        }
    }

    /// The data block a lookup of `key` reads: the first whose last key is
    /// at or after it (`docs/format/table.md`, "Index block").
    fn block_for(&self, key: &[u8]) -> Option<usize> {
        let b = self
            .blocks
            .partition_point(|(last, _)| last.as_slice() < key);
        (b < self.blocks.len()).then_some(b)
    }

    /// The data block holding byte `offset`.
    fn block_at(&self, offset: usize) -> usize {
        self.blocks
            .iter()
            .position(|(_, h)| h.range().contains(&offset))
            .expect("offset in a data block")
    }
}

/// One table a lookup of a key visits, newest table first: the data block
/// it reads there, and whether that table holds the key (which ends the
/// lookup).
#[derive(Debug, Clone, Copy)]
struct Stop {
    table: usize,
    block: Option<usize>,
    holds: bool,
}

/// An image of a closed database and everything the checks need to know
/// about it.
struct Base {
    compression: Compression,
    /// The directory after the last flush and a clean close.
    files: Files,
    /// The same directory as if the process had died after the last flush's
    /// manifest edit became durable and before the empty record that
    /// follows it: the manifest ends with that edit and the flushed WAL is
    /// still there. Its last record is a real edit, so dropping it as a
    /// tail must lose nothing.
    manifest_files: Files,
    model: Model,
    /// Every key ever written (deleted ones too) and some never written.
    universe: Vec<Vec<u8>>,
    /// The tables, newest first (each flush made its own run).
    tables: Vec<TableMap>,
    /// Per key of `universe`: the tables its lookup visits, in order.
    routes: Vec<Vec<Stop>>,
}

impl Base {
    fn bytes_of(&self, path: &Path) -> &[u8] {
        &self
            .files
            .iter()
            .find(|(p, _)| p == path)
            .expect("file in the image")
            .1
    }

    /// The clean image with `path` replaced by `bytes`.
    fn with_file(&self, path: &Path, bytes: Vec<u8>) -> Files {
        let mut files = self.files.clone();
        let slot = files
            .iter_mut()
            .find(|(p, _)| p == path)
            .expect("file in the image");
        slot.1 = bytes;
        files
    }
}

/// Three flushes into a closed database: keys 0..1200, then overwrites of
/// 600..1500 and tombstones for every 7th key below 1200, then 1400..2000
/// and tombstones for 1450..1460. The tables overlap in part, so lookups
/// pass through newer tables that lack the key.
fn build(compression: Compression) -> Base {
    let fs = FaultFs::new();
    let db = Db::open(DIR, options(&fs, compression)).expect("open");
    let mut model = Model::new();
    let mut written = BTreeSet::new();
    let mut flushed_wal = None;
    let rounds: [(std::ops::Range<u64>, std::ops::Range<u64>, usize); 3] = [
        (0..1200, 0..0, 1),
        (600..1500, 0..1200, 7),
        (1400..2000, 1450..1460, 1),
    ];
    for (version, (puts, deletes, step)) in rounds.into_iter().enumerate() {
        for i in puts {
            let v = value32(i, version as u64);
            db.put(key(i), &v).expect("put");
            model.insert(key(i), v);
            written.insert(key(i));
        }
        for i in deletes.step_by(step) {
            db.delete(key(i)).expect("delete");
            model.remove(&key(i));
            written.insert(key(i));
        }
        if version == 2 {
            let wal = wal_files(&fs, dir()).pop().expect("a WAL");
            let bytes = fs.file_bytes(&wal).expect("WAL bytes");
            flushed_wal = Some((wal, bytes));
        }
        db.flush().expect("flush");
    }
    db.close().expect("close");
    let files = dir_contents(&fs, dir());

    let (wal, wal_bytes) = flushed_wal.expect("captured");
    assert!(
        files.iter().all(|(p, _)| *p != wal),
        "the flushed WAL was deleted"
    );
    let names = manifest_names(&fs, dir());
    assert_eq!(names.len(), 1, "{names:?}");
    let manifest = dir().join(&names[0]);
    let mut manifest_files = files.clone();
    for (p, b) in &mut manifest_files {
        if *p == manifest {
            let recs = records(b);
            let &(start, end) = recs.last().expect("records");
            assert_eq!(end - start, HEADER, "the last record is empty");
            let &(prev_start, prev_end) = &recs[recs.len() - 2];
            assert!(prev_end - prev_start > HEADER, "an edit precedes it");
            b.truncate(start);
        }
    }
    manifest_files.push((wal, wal_bytes));

    let mut tables: Vec<TableMap> = table_paths(&fs, dir())
        .into_iter()
        .map(|p| {
            let bytes = fs.file_bytes(&p).expect("table");
            TableMap::new(p, &bytes)
        })
        .collect();
    tables.reverse();
    assert_eq!(tables.len(), 3);

    let mut universe: Vec<Vec<u8>> = written.into_iter().collect();
    universe.extend([b"".to_vec(), b"a".to_vec(), key(99_999)]);
    for i in (0..2100).step_by(97) {
        let mut k = key(i);
        k.push(b'~'); // between key i and key i + 1
        universe.push(k);
    }
    let routes = universe
        .iter()
        .map(|k| {
            let mut route = Vec::new();
            for (t, table) in tables.iter().enumerate() {
                if table.smallest.as_slice() <= k.as_slice()
                    && k.as_slice() <= table.largest.as_slice()
                {
                    let holds = table.keys.contains(k);
                    route.push(Stop {
                        table: t,
                        block: table.block_for(k),
                        holds,
                    });
                    if holds {
                        break;
                    }
                }
            }
            route
        })
        .collect();
    Base {
        compression,
        files,
        manifest_files,
        model,
        universe,
        tables,
        routes,
    }
}

// ---------------------------------------------------------------------------
// Damage, and what each read may answer.

/// What is damaged in a table, as far as reads are concerned.
#[derive(Debug, Clone, Copy)]
enum Site {
    /// Nothing a read can notice (a filter block: ignored when damaged).
    Nothing,
    /// One data block: lookups that read it fail, the rest answer.
    Block { table: usize, block: usize },
    /// A block the table cannot open without (index, properties, footer):
    /// every lookup that reaches the table fails. `offset` is where the
    /// error must say the damage is.
    Table { table: usize, offset: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The right answer, no error.
    Exact,
    /// The right answer or `Corruption` (the bloom filter may or may not
    /// send the lookup into the damaged block).
    MayFail,
    /// `Corruption`: the lookup must read the damaged bytes.
    MustFail,
}

impl Site {
    /// The damaged file and the offset errors must name.
    fn file_and_offset(self, base: &Base) -> Option<(&str, u64)> {
        match self {
            Site::Nothing => None,
            Site::Block { table, block } => {
                let t = &base.tables[table];
                Some((&t.name, t.blocks[block].1.offset))
            }
            Site::Table { table, offset } => Some((&base.tables[table].name, offset)),
        }
    }

    fn expect(self, route: &[Stop]) -> Expect {
        let hit = |table: usize, block: Option<usize>| {
            route
                .iter()
                .find(|s| s.table == table && (block.is_none() || s.block == block))
        };
        let stop = match self {
            Site::Nothing => None,
            Site::Block { table, block } => hit(table, Some(block)).copied(),
            // Opening the table comes before its filter is consulted.
            Site::Table { table, .. } => hit(table, None).map(|s| Stop { holds: true, ..*s }),
        };
        match stop {
            None => Expect::Exact,
            Some(s) if s.holds => Expect::MustFail,
            Some(_) => Expect::MayFail,
        }
    }
}

/// The offset an error message names (`... at offset N: ...`).
fn error_offset(e: &Error) -> Option<u64> {
    let rest = e.message().split(" at offset ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Why `e` is not a `Corruption` error naming `file` at an offset in
/// `offsets`, if it is not.
fn corruption_problem(
    e: &Error,
    file: &str,
    offsets: std::ops::RangeInclusive<u64>,
) -> Option<String> {
    if e.kind() != ErrorKind::Corruption {
        return Some(format!("not a corruption error: {e}"));
    }
    if !e.message().contains(file) {
        return Some(format!("does not name {file}: {e}"));
    }
    match error_offset(e) {
        Some(o) if offsets.contains(&o) => None,
        o => Some(format!("names offset {o:?}, want {offsets:?}: {e}")),
    }
}

/// What reading a damaged database gave.
#[derive(Debug, Default)]
struct Verdict {
    /// At least one read (or the open) failed with the expected
    /// `Corruption`.
    detected: bool,
    /// Wrong answers: the worst outcome.
    wrong: Vec<String>,
    /// Anything else not allowed: an unexpected error, damage read without
    /// an error, an error naming the wrong file or offset.
    problems: Vec<String>,
    /// Point lookups answered right, and failed with `Corruption`.
    gets_right: u64,
    gets_failed: u64,
}

impl Verdict {
    fn clean(&self) -> bool {
        self.wrong.is_empty() && self.problems.is_empty()
    }

    fn summary(&self) -> String {
        let mut all: Vec<&String> = self.wrong.iter().chain(&self.problems).collect();
        all.truncate(3);
        format!(
            "{} wrong, {} other problems, e.g. {all:?}",
            self.wrong.len(),
            self.problems.len()
        )
    }
}

/// Reads every key of `base.universe` with `get`, then the whole database
/// forward and backward, checking each answer against `site`.
fn read_and_check(db: &Db, base: &Base, site: Site, out: &mut Verdict) {
    let target = site.file_and_offset(base);
    let check_error = |e: &Error, out: &mut Verdict, what: &str| match target {
        None => out.problems.push(format!("{what}: unexpected error {e}")),
        Some((file, offset)) => match corruption_problem(e, file, offset..=offset) {
            Some(p) => out.problems.push(format!("{what}: {p}")),
            None => out.detected = true,
        },
    };
    for (k, route) in base.universe.iter().zip(&base.routes) {
        let expect = site.expect(route);
        let want = base.model.get(k).map(Vec::as_slice);
        match db.get(k) {
            Ok(v) if v.as_deref() != want => out.wrong.push(format!(
                "get({}) = {:?}, want {:?}",
                show(k),
                v.as_deref().map(show),
                want.map(show)
            )),
            Ok(_) if expect == Expect::MustFail => out.problems.push(format!(
                "get({}) read the damaged block without an error",
                show(k)
            )),
            Ok(_) => out.gets_right += 1,
            Err(e) => {
                if expect == Expect::Exact {
                    out.problems.push(format!(
                        "get({}) does not touch the damage but failed: {e}",
                        show(k)
                    ));
                } else {
                    out.gets_failed += 1;
                    check_error(&e, out, &format!("get({})", show(k)));
                }
            }
        }
    }
    for reverse in [false, true] {
        let mut want: Vec<(&Vec<u8>, &Vec<u8>)> = base.model.iter().collect();
        let iter: Box<dyn Iterator<Item = rillkv::Result<_>>> = if reverse {
            want.reverse();
            Box::new(db.iter().rev())
        } else {
            Box::new(db.iter())
        };
        let what = if reverse {
            "reverse scan"
        } else {
            "forward scan"
        };
        let mut n = 0;
        let mut failed = false;
        for item in iter {
            match item {
                Ok((k, v)) => {
                    let right = want.get(n).is_some_and(|(wk, wv)| {
                        k.as_ref() == wk.as_slice() && v.as_ref() == wv.as_slice()
                    });
                    if !right {
                        out.wrong.push(format!(
                            "{what} #{n}: got {} = {}, want {:?}",
                            show(&k),
                            show(&v),
                            want.get(n).map(|(wk, wv)| (show(wk), show(wv)))
                        ));
                        failed = true;
                        break;
                    }
                    n += 1;
                }
                Err(e) => {
                    check_error(&e, out, what);
                    failed = true;
                    break;
                }
            }
        }
        if !failed && n != want.len() {
            out.wrong
                .push(format!("{what} ended after {n} of {} pairs", want.len()));
        }
        // A full scan reads every block of every table.
        if !failed && target.is_some() {
            out.problems.push(format!(
                "{what} read every block without noticing the damage"
            ));
        }
    }
}

/// Opens `files` and reads everything, expecting the damage `site`.
fn table_case(base: &Base, files: &Files, site: Site) -> Verdict {
    let fs = fault_image(dir(), files);
    let mut out = Verdict::default();
    let db = match Db::open(DIR, options(&fs, base.compression)) {
        Ok(db) => db,
        Err(e) => {
            // Tables are opened on first read: the open must not fail.
            out.problems.push(format!("open failed: {e}"));
            return out;
        }
    };
    read_and_check(&db, base, site, &mut out);
    if let Err(e) = db.close() {
        out.problems.push(format!("close failed: {e}"));
    }
    out
}

/// Opens a damaged manifest image: the open either fails with `Corruption`
/// naming the manifest at an offset within `record`, or (only if
/// `tail_ok`) succeeds with every read exactly right.
fn manifest_case(
    base: &Base,
    files: &Files,
    name: &str,
    record: (usize, usize),
    tail_ok: bool,
) -> Verdict {
    let fs = fault_image(dir(), files);
    let mut out = Verdict::default();
    match Db::open(DIR, options(&fs, base.compression)) {
        Err(e) => match corruption_problem(&e, name, record.0 as u64..=record.1 as u64) {
            Some(p) => out.problems.push(format!("open: {p}")),
            None => out.detected = true,
        },
        Ok(db) => {
            if !tail_ok {
                out.problems
                    .push("the open succeeded over a damaged record followed by good ones".into());
            }
            // Whatever the open decided, no read may answer wrong or be
            // missing a key (an empty or partial database).
            read_and_check(&db, base, Site::Nothing, &mut out);
            if let Err(e) = db.close() {
                out.problems.push(format!("close failed: {e}"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The random sweep.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Area {
    Data,
    Index,
    Filter,
    Properties,
    Footer,
    ManifestMiddle,
    ManifestTail,
}

impl Area {
    fn label(self) -> &'static str {
        match self {
            Area::Data => "table data block",
            Area::Index => "table index block",
            Area::Filter => "table filter block",
            Area::Properties => "table properties",
            Area::Footer => "table footer",
            Area::ManifestMiddle => "manifest middle rec",
            Area::ManifestTail => "manifest last rec",
        }
    }
}

/// How often each area is picked: data blocks are most of a table and the
/// only area with per-block (not per-table) outcomes, so they get more.
const AREAS: [(Area, u32); 7] = [
    (Area::Data, 4),
    (Area::Index, 1),
    (Area::Filter, 1),
    (Area::Properties, 1),
    (Area::Footer, 1),
    (Area::ManifestMiddle, 1),
    (Area::ManifestTail, 1),
];

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    tried: u64,
    detected: u64,
    harmless: u64,
    wrong: u64,
    panics: u64,
    other: u64,
    gets_right: u64,
    gets_failed: u64,
}

fn pick_area(rng: &mut fastrand::Rng) -> Area {
    let total: u32 = AREAS.iter().map(|&(_, w)| w).sum();
    let mut r = rng.u32(..total);
    for (area, w) in AREAS {
        if r < w {
            return area;
        }
        r -= w;
    }
    unreachable!()
}

/// One flip: where it went, and what reading gave.
struct Flip {
    ctx: String,
    verdict: Verdict,
}

/// Picks a random bit in `area` of a random image and checks it.
fn one_flip(bases: &[Base], area: Area, rng: &mut fastrand::Rng) -> Flip {
    let base = &bases[rng.usize(..bases.len())];
    let bit = rng.u8(..8);
    let comp = format!("{:?}", base.compression);
    if matches!(area, Area::ManifestMiddle | Area::ManifestTail) {
        let (path, bytes) = base
            .manifest_files
            .iter()
            .find(|(p, _)| file_name(p).starts_with("MANIFEST-"))
            .expect("a manifest");
        let recs = records(bytes);
        let r = match area {
            Area::ManifestTail => recs.len() - 1,
            _ => rng.usize(..recs.len() - 1),
        };
        let (start, end) = recs[r];
        let offset = rng.usize(start..end);
        let name = file_name(path);
        let ctx = format!(
            "{comp} {name} record {r} of {} (bytes {start}..{end}) byte {offset} bit {bit}",
            recs.len()
        );
        let mut files = base.manifest_files.clone();
        for (p, b) in &mut files {
            if p == path {
                *b = flipped(b, offset, bit);
            }
        }
        let verdict = manifest_case(
            base,
            &files,
            &name,
            (start, end),
            area == Area::ManifestTail,
        );
        return Flip { ctx, verdict };
    }
    let t = rng.usize(..base.tables.len());
    let table = &base.tables[t];
    let bytes = base.bytes_of(&table.path);
    let l = &table.layout;
    let (range, region) = match area {
        Area::Data => (0..l.data_end as usize, Region::Data),
        Area::Index => (l.index.range(), Region::Index),
        Area::Filter => (l.filter.expect("a filter").range(), Region::Filter),
        Area::Properties => (l.properties.range(), Region::Properties),
        _ => (l.footer_offset as usize..bytes.len(), Region::Footer),
    };
    let offset = rng.usize(range);
    assert_eq!(l.region(offset), region, "byte {offset} of {}", table.name);
    // Every region but the filter is covered by a crc32 that the reader
    // checks before using a byte (a single-bit flip always changes a
    // crc32), and the footer's magic and crc are checked at table open: so
    // a flip anywhere else must be detected. A damaged filter is dropped,
    // so a flip there must change no answer and raise no error.
    let site = match region {
        Region::Data => Site::Block {
            table: t,
            block: table.block_at(offset),
        },
        Region::Index => Site::Table {
            table: t,
            offset: l.index.offset,
        },
        Region::Properties => Site::Table {
            table: t,
            offset: l.properties.offset,
        },
        Region::Footer => Site::Table {
            table: t,
            offset: l.footer_offset,
        },
        Region::Filter => Site::Nothing,
    };
    let ctx = format!(
        "{comp} {} byte {offset} bit {bit} ({region:?}, {site:?})",
        table.name
    );
    let files = base.with_file(&table.path, flipped(bytes, offset, bit));
    Flip {
        ctx,
        verdict: table_case(base, &files, site),
    }
}

#[test]
fn random_bit_flips_in_tables_and_manifest_are_detected_per_key() {
    let seed = sweep_seed("random_bit_flips_in_tables_and_manifest_are_detected_per_key");
    let flips = env_num("RILLKV_FLIPS", DEFAULT_FLIPS);
    let started = Instant::now();
    let bases = [
        build(Compression::None),
        build(Compression::Zstd { level: 1 }),
        build(Compression::Lz4),
    ];
    for base in &bases {
        // The undamaged image reads right, and a lookup reaches every table.
        let v = table_case(base, &base.files, Site::Nothing);
        assert!(v.clean() && !v.detected, "undamaged: {}", v.summary());
        for t in 0..base.tables.len() {
            assert!(
                base.routes
                    .iter()
                    .any(|r| r.iter().any(|s| s.table == t && s.holds))
            );
        }
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally: BTreeMap<Area, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for n in 0..flips {
        let area = pick_area(&mut rng);
        // Each flip draws from its own generator, so flip `n` is the same
        // whatever happened before it.
        let mut flip_rng = fastrand::Rng::with_seed(rng.u64(..));
        let t = tally.entry(area).or_default();
        t.tried += 1;
        let result = catch_unwind(AssertUnwindSafe(|| one_flip(&bases, area, &mut flip_rng)));
        let flip = match result {
            Ok(flip) => flip,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                t.panics += 1;
                failures.push(format!("flip #{n} ({area:?}): PANIC {msg}"));
                continue;
            }
        };
        let v = &flip.verdict;
        t.gets_right += v.gets_right;
        t.gets_failed += v.gets_failed;
        // What may go unnoticed: a flip in a filter block must (the table
        // is read without its filter); a flip in the manifest's last
        // record may (it is dropped as a torn tail, which loses nothing:
        // deletion lags one record, so the WAL it retired is still there).
        // Everything else is behind a checked crc32 and must be detected.
        let allowed = match area {
            Area::Filter => !v.detected,
            Area::ManifestTail => true,
            _ => v.detected,
        };
        if !v.wrong.is_empty() {
            t.wrong += 1;
        } else if !v.problems.is_empty() || !allowed {
            t.other += 1;
        } else if v.detected {
            t.detected += 1;
        } else {
            t.harmless += 1;
        }
        if !v.clean() || !allowed {
            failures.push(format!(
                "flip #{n}: {}: detected {}, {}",
                flip.ctx,
                v.detected,
                v.summary()
            ));
        }
    }
    let elapsed = started.elapsed();
    let total = tally.values().fold(Tally::default(), |a, t| Tally {
        tried: a.tried + t.tried,
        detected: a.detected + t.detected,
        harmless: a.harmless + t.harmless,
        wrong: a.wrong + t.wrong,
        panics: a.panics + t.panics,
        other: a.other + t.other,
        gets_right: a.gets_right + t.gets_right,
        gets_failed: a.gets_failed + t.gets_failed,
    });
    let mut table = format!(
        "corruption sweep: seed {seed}, {flips} flips (RILLKV_FLIPS), {:.1} s\n\
         {:<20} {:>6} {:>9} {:>9} {:>6} {:>7} {:>6} {:>11} {:>11}\n",
        elapsed.as_secs_f64(),
        "region",
        "tried",
        "detected",
        "harmless",
        "wrong",
        "panics",
        "other",
        "gets right",
        "gets failed"
    );
    let rows = tally
        .iter()
        .map(|(a, t)| (a.label(), t))
        .chain([("total", &total)]);
    for (label, t) in rows {
        table.push_str(&format!(
            "{label:<20} {:>6} {:>9} {:>9} {:>6} {:>7} {:>6} {:>11} {:>11}\n",
            t.tried,
            t.detected,
            t.harmless,
            t.wrong,
            t.panics,
            t.other,
            t.gets_right,
            t.gets_failed
        ));
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "{} of {flips} flips broke the contract (seed {seed}), first 10:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    assert_eq!(total.tried, flips);
}

// ---------------------------------------------------------------------------
// A stored block whose crc is right but whose zstd payload is garbage.

/// A zstd skippable frame of exactly `len` bytes (at least 8): magic, u32
/// length, then filler. Decoders skip it; used to keep a rewritten payload
/// at its original size.
fn skippable_frame(len: usize) -> Vec<u8> {
    assert!(len >= 8, "a skippable frame is at least 8 bytes");
    let mut f = 0x184D_2A50u32.to_le_bytes().to_vec();
    f.extend_from_slice(&((len - 8) as u32).to_le_bytes());
    f.resize(len, 0xa5);
    f
}

/// Ways to make a zstd data block's payload garbage behind a valid crc.
///
/// Not included: a valid frame of *well-formed* block contents that are
/// simply other entries. Every check a reader has (crc, zstd, block
/// structure) passes on those, so they are undetectable by design; garbage
/// is detectable only where it breaks the framing or the block structure,
/// which each variant here does.
#[derive(Debug, Clone, Copy)]
enum Garbage {
    /// Everything after the declared length is random bytes.
    RandomFrame,
    /// The zstd frame's magic and header kept, the rest random.
    RandomAfterFrameHeader,
    /// The declared uncompressed length one too small.
    LengthShort,
    /// The declared uncompressed length one too large.
    LengthLong,
    /// The declared length past the 64 MiB bomb guard.
    LengthBomb,
    /// A valid zstd frame of contents whose restart count exceeds the block.
    FrameOfBadRestarts,
    /// A valid zstd frame of contents with a sound restart array and an
    /// entry whose varint never ends.
    FrameOfBadEntry,
}

const GARBAGE: [Garbage; 7] = [
    Garbage::RandomFrame,
    Garbage::RandomAfterFrameHeader,
    Garbage::LengthShort,
    Garbage::LengthLong,
    Garbage::LengthBomb,
    Garbage::FrameOfBadRestarts,
    Garbage::FrameOfBadEntry,
];

/// `payload` (a compressed stored payload: u32 length + frame) rewritten
/// per `g`, at the same size. The `RandomAfterFrameHeader` and `FrameOf*`
/// kinds assume zstd.
fn garbage_payload(payload: &[u8], g: Garbage, rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut p = payload.to_vec();
    let set_len = |p: &mut Vec<u8>, n: u32| p[..4].copy_from_slice(&n.to_le_bytes());
    let declared = u32::from_le_bytes(p[..4].try_into().expect("4 bytes"));
    let frame_of = |contents: Vec<u8>| {
        let frame = zstd::bulk::compress(&contents, 1).expect("compress");
        let mut p = (contents.len() as u32).to_le_bytes().to_vec();
        p.extend_from_slice(&frame);
        p.extend_from_slice(&skippable_frame(payload.len() - p.len()));
        // The rewritten payload really is a valid zstd payload of
        // `contents`: only the block decoding can object.
        assert_eq!(
            zstd::bulk::decompress(&p[4..], contents.len()).expect("valid frame"),
            contents
        );
        p
    };
    match g {
        Garbage::RandomFrame => rng.fill(&mut p[4..]),
        Garbage::RandomAfterFrameHeader => rng.fill(&mut p[4 + 6..]),
        Garbage::LengthShort => set_len(&mut p, declared - 1),
        Garbage::LengthLong => set_len(&mut p, declared + 1),
        Garbage::LengthBomb => set_len(&mut p, (64 << 20) + 1),
        Garbage::FrameOfBadRestarts => {
            let mut c = vec![0u8; 64];
            rng.fill(&mut c);
            c.extend_from_slice(&u32::MAX.to_le_bytes());
            p = frame_of(c);
        }
        Garbage::FrameOfBadEntry => {
            let mut c = vec![0xffu8; 40]; // `shared` varint: never ends
            c.extend_from_slice(&0u32.to_le_bytes()); // restart[0] = 0
            c.extend_from_slice(&1u32.to_le_bytes()); // one restart
            p = frame_of(c);
        }
    }
    assert_eq!(p.len(), payload.len());
    p
}

#[test]
fn a_zstd_block_with_a_valid_crc_and_a_garbage_payload_is_corruption() {
    let seed = sweep_seed("a_zstd_block_with_a_valid_crc_and_a_garbage_payload_is_corruption");
    garbage_behind_valid_crcs(Compression::Zstd { level: 1 }, 1, &GARBAGE, seed);
}

#[test]
fn an_lz4_block_with_a_valid_crc_and_a_garbage_payload_is_corruption() {
    let seed = sweep_seed("an_lz4_block_with_a_valid_crc_and_a_garbage_payload_is_corruption");
    // The kinds that do not depend on zstd's frame layout.
    let kinds = [
        Garbage::RandomFrame,
        Garbage::LengthShort,
        Garbage::LengthLong,
        Garbage::LengthBomb,
    ];
    garbage_behind_valid_crcs(Compression::Lz4, 2, &kinds, seed);
}

/// Rewrites the payloads of compressed blocks (type `ty`) per `kinds`,
/// reseals their crcs, and checks every lookup routed there reports
/// corruption.
fn garbage_behind_valid_crcs(compression: Compression, ty: u8, kinds: &[Garbage], seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let base = build(compression);
    let mut tried = 0;
    let mut failures = Vec::new();
    for (t, table) in base.tables.iter().enumerate() {
        let bytes = base.bytes_of(&table.path);
        let zstd_blocks: Vec<usize> = (0..table.blocks.len())
            .filter(|&b| block_type(bytes, table.blocks[b].1) == ty)
            .collect();
        assert!(
            zstd_blocks.len() * 2 > table.blocks.len(),
            "most data blocks of {} are {compression:?}",
            table.name
        );
        let picks = [
            zstd_blocks[0],
            zstd_blocks[zstd_blocks.len() / 2],
            zstd_blocks[zstd_blocks.len() - 1],
        ];
        for block in picks {
            let h = table.blocks[block].1;
            let payload = h.offset as usize..(h.offset + h.size) as usize;
            for &g in kinds {
                let mut damaged = bytes.to_vec();
                let garbage = garbage_payload(&damaged[payload.clone()], g, &mut rng);
                damaged[payload.clone()].copy_from_slice(&garbage);
                reseal_block(&mut damaged, h);
                let at = payload.end + 1;
                assert_eq!(
                    damaged[at..at + 4],
                    block_crc(&garbage, ty).to_le_bytes(),
                    "the crc is right"
                );
                let files = base.with_file(&table.path, damaged);
                let v = table_case(&base, &files, Site::Block { table: t, block });
                tried += 1;
                if !v.clean() || !v.detected {
                    failures.push(format!(
                        "{} block {block} (offset {}) {g:?}: detected {}, {}",
                        table.name,
                        h.offset,
                        v.detected,
                        v.summary()
                    ));
                }
            }
        }
    }
    eprintln!(
        "{compression:?} garbage behind a valid crc: {tried} blocks tried, {} not reported as corruption",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Regression (found by this suite, fixed in `src/table/block.rs`): a
/// point lookup used to check the kind only of the entry it lands on, so it
/// passed over an entry of unknown kind in the same restart interval and
/// answered. `docs/format/block.md` ("Validity") makes any unknown kind
/// `Corruption`; every decoded entry is now checked.
#[test]
fn a_lookup_passing_over_an_entry_of_unknown_kind_is_corruption() {
    let base = build(Compression::None);
    // The oldest table holds keys 0..1200 at version 0; keys 2 and 3 are
    // neither overwritten nor deleted later, and share block 0's first
    // restart interval.
    let table = base.tables.last().expect("tables");
    let mut bytes = base.bytes_of(&table.path).to_vec();
    let h = table.blocks[0].1;
    let value = value32(2, 0);
    let at = bytes[..h.range().end]
        .windows(value.len())
        .position(|w| w == value.as_slice())
        .expect("key 2's value in block 0");
    // The key delta ends with the 8-byte trailer (kind first), then the value.
    assert_eq!(bytes[at - 8], 1, "key 2 is a Put");
    bytes[at - 8] = 9;
    reseal_block(&mut bytes, h);
    let fs = fault_image(dir(), &base.with_file(&table.path, bytes));
    let db = Db::open(DIR, options(&fs, base.compression)).expect("open");
    let e = db
        .get(key(2))
        .expect_err("the entry of unknown kind itself");
    assert!(corruption_problem(&e, &table.name, 0..=0).is_none(), "{e}");
    let next = db.get(key(3));
    db.close().expect("close");
    match next {
        Err(e) => assert!(corruption_problem(&e, &table.name, 0..=0).is_none(), "{e}"),
        Ok(v) => panic!(
            "get(key 3) passed over key 2's entry of unknown kind 9 and answered {:?}",
            v.as_deref().map(show)
        ),
    }
}

// ---------------------------------------------------------------------------
// A compaction over a corrupt input.

#[test]
fn a_compaction_over_a_corrupt_input_fails_and_drops_no_key() {
    let base = build(Compression::Zstd { level: 1 });
    // A data block of each table, and the index of the middle one.
    let mut sites: Vec<(Site, usize)> = base
        .tables
        .iter()
        .enumerate()
        .map(|(t, table)| {
            let block = table.blocks.len() / 2;
            let byte = table.blocks[block].1.offset as usize + 7;
            (Site::Block { table: t, block }, byte)
        })
        .collect();
    let index = base.tables[1].layout.index;
    sites.push((
        Site::Table {
            table: 1,
            offset: index.offset,
        },
        index.offset as usize + 3,
    ));
    for (site, byte) in sites {
        let table = match site {
            Site::Block { table, .. } | Site::Table { table, .. } => &base.tables[table],
            Site::Nothing => unreachable!(),
        };
        let (file, offset) = site.file_and_offset(&base).expect("a damaged file");
        let ctx = format!("{} byte {byte} ({site:?})", table.name);
        let original = base.bytes_of(&table.path).to_vec();
        let fs = fault_image(
            dir(),
            &base.with_file(&table.path, flipped(&original, byte, 3)),
        );
        let opts = || options(&fs, base.compression);
        let check = |db: &Db, site: Site, what: &str| {
            let mut v = Verdict::default();
            read_and_check(db, &base, site, &mut v);
            let damaged = !matches!(site, Site::Nothing);
            assert!(
                v.clean() && v.detected == damaged,
                "{ctx}: {what}: detected {}, {}",
                v.detected,
                v.summary()
            );
        };

        let db = Db::open(DIR, opts()).expect("open");
        let live = live_tables(&db.stats());
        assert_eq!(live.len(), 3, "{ctx}");
        for attempt in 1..=2 {
            let e = db
                .compact()
                .expect_err("a compaction reading a damaged block must fail");
            if let Some(p) = corruption_problem(&e, file, offset..=offset) {
                panic!("{ctx}: compaction attempt {attempt}: {p}");
            }
            assert_eq!(
                live_tables(&db.stats()),
                live,
                "{ctx}: a failed compaction changed the version"
            );
            check(&db, site, &format!("after failed compaction {attempt}"));
        }
        db.close().expect("close");

        // Reopened as it is: the manifest still lists every input, and the
        // failed compaction's partial outputs are gone.
        let db = Db::open(DIR, opts()).expect("reopen damaged");
        assert_eq!(live_tables(&db.stats()), live, "{ctx}: reopened");
        assert_no_orphan_tables(&db, &fs, dir(), &ctx);
        check(&db, site, "reopened damaged");
        db.close().expect("close");

        // Repaired: every key reads back, and the compaction now succeeds.
        fs.set_file_bytes(&table.path, original)
            .expect("restore the table");
        let db = Db::open(DIR, opts()).expect("reopen repaired");
        assert_eq!(live_tables(&db.stats()), live, "{ctx}: repaired");
        check(&db, Site::Nothing, "repaired");
        db.compact().expect("compaction of the repaired database");
        assert_eq!(db.stats().runs.len(), 1, "{ctx}: compacted into one run");
        check(&db, Site::Nothing, "repaired and compacted");
        db.close().expect("close");
    }
}

// ---------------------------------------------------------------------------
// CURRENT and the manifest it names.

/// Opens `files` with `create_if_missing(create)`, expecting a failure
/// that leaves the directory exactly as it was. Returns the error.
fn open_must_fail_untouched(base: &Base, files: &Files, create: bool, ctx: &str) -> Error {
    let fs = fault_image(dir(), files);
    let before = dir_contents(&fs, dir());
    match Db::open(
        DIR,
        options(&fs, base.compression).create_if_missing(create),
    ) {
        Ok(db) => {
            let keys = db.iter().count();
            let _ = db.close();
            let after = dir_contents(&fs, dir());
            let gone = before
                .iter()
                .filter(|(p, _)| !after.iter().any(|(q, _)| q == p))
                .count();
            panic!(
                "{ctx}, create_if_missing({create}): the open succeeded as a database of {keys} \
                 keys (want {}); {gone} of the {} files there before are gone",
                base.model.len(),
                before.len()
            );
        }
        Err(e) => {
            assert_eq!(
                dir_contents(&fs, dir()),
                before,
                "{ctx}, create_if_missing({create}): a failed open changed the directory ({e})"
            );
            e
        }
    }
}

#[test]
fn current_naming_a_missing_or_empty_manifest_fails_the_open_and_changes_nothing() {
    let base = build(Compression::default());
    let current = dir().join("CURRENT");
    let manifest = base
        .files
        .iter()
        .find(|(p, _)| file_name(p).starts_with("MANIFEST-"))
        .expect("a manifest")
        .0
        .clone();
    let number = numbered(
        file_name(&manifest)
            .strip_prefix("MANIFEST-")
            .expect("prefix"),
        "",
    )
    .expect("manifest number");
    assert_eq!(
        base.bytes_of(&current),
        current_naming(&format!("MANIFEST-{number:06}"))
    );
    let without = |path: &Path| -> Files {
        base.files
            .iter()
            .filter(|(p, _)| p != path)
            .cloned()
            .collect()
    };
    let cases: [(&str, Files, &str); 4] = [
        (
            "CURRENT names a manifest that never existed",
            base.with_file(
                &current,
                current_naming(&format!("MANIFEST-{:06}", number + 1000)),
            ),
            "CURRENT",
        ),
        (
            "CURRENT names an older, deleted manifest",
            base.with_file(
                &current,
                current_naming(&format!("MANIFEST-{:06}", number - 1)),
            ),
            "CURRENT",
        ),
        (
            "the manifest CURRENT names is deleted",
            without(&manifest),
            "CURRENT",
        ),
        (
            "the manifest CURRENT names is empty",
            base.with_file(&manifest, Vec::new()),
            &file_name(&manifest),
        ),
    ];
    for (ctx, files, names) in &cases {
        for create in [false, true] {
            let e = open_must_fail_untouched(&base, files, create, ctx);
            assert!(
                e.kind() == ErrorKind::Corruption && e.message().contains(names),
                "{ctx}, create_if_missing({create}): want Corruption naming {names}, got {e}"
            );
        }
    }
    // The intact image opens, and reads right.
    let v = table_case(&base, &base.files, Site::Nothing);
    assert!(v.clean(), "intact: {}", v.summary());
}

/// Regression (found by this suite, fixed in `src/db/recovery.rs`): with
/// `CURRENT` missing, the open used to treat the directory as new, so with
/// `create_if_missing(true)` (the default) it created an empty database and
/// then deleted the manifest and tables as unreferenced files: every key
/// lost, silently. It must fail with `Corruption` naming `CURRENT` when the
/// directory holds tables or WALs, and change nothing.
#[test]
fn missing_current_next_to_a_manifest_and_tables_is_not_a_new_database() {
    let base = build(Compression::default());
    let current = dir().join("CURRENT");
    let files: Files = base
        .files
        .iter()
        .filter(|(p, _)| *p != current)
        .cloned()
        .collect();
    for create in [false, true] {
        let e = open_must_fail_untouched(&base, &files, create, "CURRENT deleted");
        let ok = match e.kind() {
            ErrorKind::Corruption => e.message().contains("CURRENT"),
            ErrorKind::InvalidArgument => !create,
            _ => false,
        };
        assert!(ok, "CURRENT deleted, create_if_missing({create}): {e}");
    }
}

// ---------------------------------------------------------------------------
// A table no manifest names.

#[test]
fn an_orphan_table_is_ignored_and_removed_at_open() {
    let base = build(Compression::default());
    // A valid table of another database: every third key with other
    // values, and a key this database never had.
    let foreign = {
        let fs = FaultFs::new();
        let db = Db::open(DIR, options(&fs, base.compression)).expect("open other");
        for i in (0..2000).step_by(3) {
            db.put(key(i), value32(i, 99)).expect("put");
        }
        db.put(b"orphan-only", b"x").expect("put");
        db.flush().expect("flush");
        db.close().expect("close");
        let tables = table_paths(&fs, dir());
        assert_eq!(tables.len(), 1);
        fs.file_bytes(&tables[0]).expect("table")
    };
    let mut garbage = vec![0u8; 5000];
    fastrand::Rng::with_seed(7).fill(&mut garbage);
    let copy = base.bytes_of(&base.tables[0].path).to_vec();
    let used: BTreeSet<u64> = base
        .files
        .iter()
        .filter_map(|(p, _)| {
            let n = file_name(p);
            numbered(&n, ".rkt")
                .or_else(|| numbered(&n, ".wal"))
                .or_else(|| n.strip_prefix("MANIFEST-").and_then(|d| numbered(d, "")))
        })
        .collect();
    let low = (1..).find(|n| !used.contains(n)).expect("a free number");
    let high = used.last().expect("numbers") + 1000;
    let orphans = [
        ("a table of another database", foreign),
        ("garbage", garbage),
        ("a copy of a live table", copy),
    ];
    for (what, bytes) in &orphans {
        for number in [low, high] {
            let ctx = format!("orphan {number:06}.rkt: {what}");
            let path = dir().join(format!("{number:06}.rkt"));
            let mut files = base.files.clone();
            files.push((path.clone(), bytes.clone()));
            let fs = fault_image(dir(), &files);
            let db = Db::open(DIR, options(&fs, base.compression)).expect("open");
            assert!(!fs.exists(&path), "{ctx}: not removed at open");
            let mut v = Verdict::default();
            read_and_check(&db, &base, Site::Nothing, &mut v);
            assert!(v.clean(), "{ctx}: {}", v.summary());
            assert_eq!(db.get(b"orphan-only").expect("get"), None, "{ctx}");
            // New tables never take the orphan's place wrongly.
            db.put(key(5000), b"after").expect("put");
            db.flush().expect("flush");
            db.close().expect("close");
            let db = Db::open(DIR, options(&fs, base.compression)).expect("reopen");
            assert_eq!(
                db.get(key(5000)).expect("get").as_deref(),
                Some(&b"after"[..]),
                "{ctx}"
            );
            assert_no_orphan_tables(&db, &fs, dir(), &ctx);
            db.close().expect("close");
        }
    }
}
