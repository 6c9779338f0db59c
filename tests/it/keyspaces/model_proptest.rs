//! Several keyspaces behave like one `BTreeMap` each under random puts,
//! deletes and merges, batches spanning two or three keyspaces, snapshots
//! (read back through `Snapshot::get_in`, `range_in`, `prefix_in`),
//! flushes of the database or of one keyspace, compactions (whole or of a
//! range), drops, clean reopens and power losses in every `CrashMode`.
//!
//! Four keyspaces on `FaultFs`, each with a 4 KiB memtable so that flushes
//! also happen on their own: `default` (merge operator `Append`), `docs`
//! (plain blocks, no bloom filter), `index` (1 KiB blocks, compaction only
//! when asked) and `counters` (`U64Add`, folding two operands at a time).
//! They share their keys, so a write that lands in the wrong keyspace
//! shows. The named ones are registered with `Options::keyspace` and
//! opened again with the same options after every reopen.
//!
//! Writes are synced at random. A power loss recovers one of the model
//! states between the last durable point (a synced write, `Db::flush`, a
//! reopen) and the last write — every keyspace at the same prefix of the
//! writes — and the model continues from it; the keyspaces it lists are
//! exactly those created and not dropped (manifest records, durable at
//! once). A drop clears the keyspace in the model, in every state a power
//! loss may still recover and in every live snapshot's frozen state (a
//! snapshot reads the keyspace re-created under that name as empty); the
//! dropped handle's verbs and a batch naming it fail with
//! `InvalidArgument`, and the keyspace is re-created empty — sometimes
//! after a power loss, which must leave it dropped (the open has its
//! options registered, which does not create it).
//!
//! At every check point (flushes, compactions, drops, reopens, power
//! losses, scans and the end) each keyspace, and each keyspace of each live
//! snapshot, is compared with its model in full: a `get` of every key and
//! of absent ones, scans forward, backward and from both ends.
//!
//! 96 cases by default; `PROPTEST_CASES` overrides. No regression files: a
//! failure prints its minimal case to replay.

use std::ops::Bound;

use proptest::prelude::*;
use rillkv::fs::{CrashMode, FaultFs};
use rillkv::merge::{Append, U64Add};
use rillkv::{
    CompactionOptions, Compression, Db, ErrorKind, Keyspace, KeyspaceOptions, Options, Snapshot,
    Stats, WriteBatch, WriteOptions,
};

use crate::support::{
    Model, SnapshotIn, View, add, append, assert_pairs_eq, assert_prefix_matches,
    assert_range_matches, assert_view_matches, bounds_empty, collect, collect_items, collect_rev,
    env_num, key, le, pairs, power_loss, read_all, show, u64_of, value,
};

const DIR: &str = "/db";
/// The keyspaces, by index: 0 is the default one.
const NAMES: [&str; 4] = ["default", "docs", "index", "counters"];
const KS: usize = NAMES.len();
const ALL: [usize; KS] = [0, 1, 2, 3];
/// The keyspace with `U64Add`; the default one has `Append`.
const COUNTERS: usize = 3;
const KEYS: u8 = 24;
const DELIM: &[u8] = b",";

/// Every keyspace's model, by index.
type State = [Model; KS];

#[derive(Debug, Clone, Copy)]
enum Write {
    /// A value of this many bytes (an 8-byte counter in `counters`).
    Put(u16),
    Delete,
    /// An operand naming this number (the delta in `counters`).
    Merge(u16),
}

#[derive(Debug, Clone)]
enum Op {
    /// One write through the keyspace's own verbs, or, when synced, a
    /// one-entry batch with `sync(true)`.
    Write {
        ks: usize,
        key: u8,
        write: Write,
        sync: bool,
    },
    /// Entries in two or three keyspaces, interleaved.
    Batch {
        entries: Vec<(usize, u8, Write)>,
        sync: bool,
    },
    Get {
        ks: usize,
        key: u8,
    },
    Snapshot,
    /// Checks, then drops, the snapshot at this index (modulo the number
    /// alive).
    DropSnapshot {
        idx: usize,
    },
    /// `Db::flush`: every keyspace.
    Flush,
    /// `Keyspace::flush` of a named keyspace.
    FlushKeyspace {
        ks: usize,
    },
    Compact {
        ks: usize,
    },
    CompactRange {
        ks: usize,
        lo: Bound<u8>,
        hi: Bound<u8>,
    },
    /// Drops a named keyspace and creates it again; with `crash`, loses
    /// power in between.
    DropKeyspace {
        ks: usize,
        crash: Option<CrashMode>,
    },
    Reopen,
    PowerLoss {
        mode: CrashMode,
    },
    /// One keyspace, live and in every snapshot.
    Scan {
        ks: usize,
    },
    Range {
        ks: usize,
        lo: Bound<u8>,
        hi: Bound<u8>,
    },
    Prefix {
        ks: usize,
        key: u8,
        len: usize,
    },
}

/// A write with its bytes: what goes into the batch and into the model.
#[derive(Debug)]
enum Staged {
    Put(Vec<u8>),
    Delete,
    Merge(Vec<u8>),
}

fn has_merge_operator(ks: usize) -> bool {
    ks == 0 || ks == COUNTERS
}

fn write(ks: usize) -> BoxedStrategy<Write> {
    let put = (0u16..300).prop_map(Write::Put);
    if has_merge_operator(ks) {
        prop_oneof![
            3 => put,
            1 => Just(Write::Delete),
            4 => (1u16..1000).prop_map(Write::Merge),
        ]
        .boxed()
    } else {
        prop_oneof![3 => put, 1 => Just(Write::Delete)].boxed()
    }
}

/// Entries in two or three distinct keyspaces, one to three each, in a
/// random order.
fn batch_entries() -> impl Strategy<Value = Vec<(usize, u8, Write)>> {
    prop::sample::subsequence(ALL.to_vec(), 2..=3)
        .prop_flat_map(|keyspaces| {
            keyspaces
                .into_iter()
                .map(|ks| prop::collection::vec((Just(ks), 0..KEYS, write(ks)), 1..4))
                .collect::<Vec<_>>()
        })
        .prop_map(|groups| groups.into_iter().flatten().collect::<Vec<_>>())
        .prop_shuffle()
}

fn bound() -> impl Strategy<Value = Bound<u8>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0..KEYS + 1).prop_map(Bound::Included),
        (0..KEYS + 1).prop_map(Bound::Excluded),
    ]
}

fn crash_mode() -> impl Strategy<Value = CrashMode> {
    prop_oneof![
        Just(CrashMode::DropUnsynced),
        Just(CrashMode::KeepAll),
        any::<u64>().prop_map(|seed| CrashMode::KeepPrefix { seed }),
        any::<u64>().prop_map(|seed| CrashMode::KeepPrefixThenZeros { seed }),
        any::<u64>().prop_map(|seed| CrashMode::KeepPrefixThenGarbage { seed }),
        any::<u64>().prop_map(|seed| CrashMode::KeepSubset { seed }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let any_ks = 0..KS;
    let named = 1..KS;
    prop_oneof![
        40 => any_ks.clone().prop_flat_map(|ks| (Just(ks), 0..KEYS, write(ks), prop::bool::weighted(0.2)))
            .prop_map(|(ks, key, write, sync)| Op::Write { ks, key, write, sync }),
        12 => (batch_entries(), prop::bool::weighted(0.3))
            .prop_map(|(entries, sync)| Op::Batch { entries, sync }),
        5 => (any_ks.clone(), 0..KEYS + 1).prop_map(|(ks, key)| Op::Get { ks, key }),
        3 => Just(Op::Snapshot),
        2 => any::<usize>().prop_map(|idx| Op::DropSnapshot { idx }),
        2 => Just(Op::Flush),
        3 => named.clone().prop_map(|ks| Op::FlushKeyspace { ks }),
        2 => any_ks.clone().prop_map(|ks| Op::Compact { ks }),
        1 => (any_ks.clone(), bound(), bound()).prop_map(|(ks, lo, hi)| Op::CompactRange { ks, lo, hi }),
        2 => (named, prop::option::weighted(0.3, crash_mode()))
            .prop_map(|(ks, crash)| Op::DropKeyspace { ks, crash }),
        2 => Just(Op::Reopen),
        3 => crash_mode().prop_map(|mode| Op::PowerLoss { mode }),
        2 => any_ks.clone().prop_map(|ks| Op::Scan { ks }),
        3 => (any_ks.clone(), bound(), bound()).prop_map(|(ks, lo, hi)| Op::Range { ks, lo, hi }),
        2 => (any_ks, 0..KEYS, prop::sample::select(vec![0usize, 3, 14, 15, 16]))
            .prop_map(|(ks, key, len)| Op::Prefix { ks, key, len }),
    ]
}

fn user_key(k: u8) -> Vec<u8> {
    key(u64::from(k))
}

fn user_bound(b: &Bound<u8>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(user_key(*k)),
        Bound::Excluded(k) => Bound::Excluded(user_key(*k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The options of named keyspace `ks`: at open (`Options::keyspace`) and
/// in every `Db::keyspace` call.
fn keyspace_options(ks: usize) -> KeyspaceOptions {
    let opts = KeyspaceOptions::default().memtable_size(4096);
    match ks {
        1 => opts.compression(Compression::None).bloom_bits_per_key(0),
        2 => opts
            .block_size(1024)
            .compaction(CompactionOptions::default().background(false)),
        COUNTERS => opts.merge_operator(U64Add).merge_batch_size(2),
        _ => unreachable!("keyspace {ks} is not a named one"),
    }
}

fn options(fs: &FaultFs) -> Options {
    (1..KS).fold(
        Options::default()
            .fs(fs.clone())
            .memtable_size(4096)
            .merge_operator(Append::new(DELIM)),
        |opts, ks| opts.keyspace(NAMES[ks], keyspace_options(ks)),
    )
}

/// Opens (or creates) every named keyspace, by index from 1.
fn open_keyspaces(db: &Db) -> Vec<Keyspace> {
    (1..KS)
        .map(|ks| {
            db.keyspace(NAMES[ks], keyspace_options(ks))
                .unwrap_or_else(|e| panic!("open keyspace {}: {e}", NAMES[ks]))
        })
        .collect()
}

fn apply_staged(model: &mut Model, ks: usize, k: Vec<u8>, staged: &Staged) {
    match staged {
        Staged::Put(v) => {
            model.insert(k, v.clone());
        }
        Staged::Delete => {
            model.remove(&k);
        }
        Staged::Merge(operand) => {
            let v = if ks == COUNTERS {
                add(model.get(&k), u64_of(operand))
            } else {
                append(DELIM, model.get(&k).map(Vec::as_slice), operand)
            };
            model.insert(k, v);
        }
    }
}

struct Harness {
    fs: FaultFs,
    db: Option<Db>,
    /// Handles of the named keyspaces: `handles[ks - 1]`.
    handles: Vec<Keyspace>,
    model: State,
    /// Model states since the last point where everything was durable;
    /// `history[durable..]` are the states a power loss may recover.
    history: Vec<State>,
    durable: usize,
    snapshots: Vec<(Snapshot, State)>,
    /// Makes every value unique.
    counter: u64,
    probes: Vec<Vec<u8>>,
}

impl Harness {
    fn new() -> Self {
        let fs = FaultFs::new();
        let db = Db::open(DIR, options(&fs)).expect("open");
        let handles = open_keyspaces(&db);
        let h = Harness {
            fs,
            db: Some(db),
            handles,
            model: State::default(),
            history: vec![State::default()],
            durable: 0,
            snapshots: Vec::new(),
            counter: 0,
            probes: vec![b"".to_vec(), user_key(KEYS), b"zzz".to_vec()],
        };
        h.assert_keyspace_list(None, "new");
        h
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("db open")
    }

    fn handle(&self, ks: usize) -> &Keyspace {
        &self.handles[ks - 1]
    }

    fn stats(&self, ks: usize) -> Stats {
        if ks == 0 {
            self.db().stats()
        } else {
            self.handle(ks).stats()
        }
    }

    /// Keyspace `ks` of the database.
    fn live(&self, ks: usize) -> &dyn View {
        if ks == 0 { self.db() } else { self.handle(ks) }
    }

    fn stage(&mut self, ks: usize, write: Write) -> Staged {
        self.counter += 1;
        let c = self.counter;
        match write {
            Write::Put(_) if ks == COUNTERS => Staged::Put(le(c)),
            Write::Put(len) => Staged::Put(value(c, usize::from(len))),
            Write::Delete => Staged::Delete,
            Write::Merge(n) if ks == COUNTERS => Staged::Merge(le(u64::from(n))),
            Write::Merge(n) => Staged::Merge(format!("m{c}.{n}").into_bytes()),
        }
    }

    fn add_to_batch(&self, batch: &mut WriteBatch, ks: usize, k: &[u8], staged: &Staged) {
        match (ks, staged) {
            (0, Staged::Put(v)) => batch.put(k, v),
            (0, Staged::Delete) => batch.delete(k),
            (0, Staged::Merge(operand)) => batch.merge(k, operand),
            (_, Staged::Put(v)) => batch.put_in(self.handle(ks), k, v),
            (_, Staged::Delete) => batch.delete_in(self.handle(ks), k),
            (_, Staged::Merge(operand)) => batch.merge_in(self.handle(ks), k, operand),
        };
    }

    /// Records an acknowledged write's model state.
    fn written(&mut self, sync: bool) {
        self.history.push(self.model.clone());
        if sync {
            self.durable = self.history.len() - 1;
        }
    }

    /// Everything is durable and the history starts over.
    fn reset_history(&mut self) {
        self.history = vec![self.model.clone()];
        self.durable = 0;
    }

    /// The database lists every keyspace but `missing`, `default` first.
    fn assert_keyspace_list(&self, missing: Option<usize>, ctx: &str) {
        let mut names = self.db().keyspaces();
        assert_eq!(
            names.first().map(String::as_str),
            Some("default"),
            "{ctx}: keyspaces {names:?}"
        );
        names.sort();
        let mut want: Vec<String> = (0..KS)
            .filter(|&ks| Some(ks) != missing)
            .map(|ks| NAMES[ks].to_owned())
            .collect();
        want.sort();
        assert_eq!(names, want, "{ctx}: keyspaces");
    }

    fn assert_keyspace(&self, ks: usize, ctx: &str) {
        assert_view_matches(
            self.live(ks),
            &self.model[ks],
            &self.probes,
            &format!("{ctx}: keyspace {}", NAMES[ks]),
        );
    }

    /// `keyspaces` of `snap` against their frozen models.
    fn assert_snapshot(
        &self,
        snap: &Snapshot,
        frozen: &State,
        keyspaces: impl IntoIterator<Item = usize>,
        ctx: &str,
    ) {
        for ks in keyspaces {
            let ctx = format!("{ctx}, keyspace {}", NAMES[ks]);
            if ks == 0 {
                assert_view_matches(snap, &frozen[ks], &self.probes, &ctx);
            } else {
                let handle = self.handle(ks);
                assert_view_matches(&SnapshotIn(snap, handle), &frozen[ks], &self.probes, &ctx);
                // `iter_in` itself, both ways (the view scans `range_in`).
                let want = pairs(&frozen[ks]);
                let mut rev = collect_rev(snap.iter_in(handle));
                rev.reverse();
                assert_pairs_eq(&rev, &want, &format!("{ctx}: iter_in reverse"));
                assert_pairs_eq(&collect(snap.iter_in(handle)), &want, &ctx);
            }
        }
    }

    /// `keyspaces` of every live snapshot.
    fn assert_snapshots(&self, keyspaces: &[usize], ctx: &str) {
        for (i, (snap, frozen)) in self.snapshots.iter().enumerate() {
            let ctx = format!("{ctx}: snapshot {i}");
            self.assert_snapshot(snap, frozen, keyspaces.iter().copied(), &ctx);
        }
    }

    /// Every keyspace, live and in every snapshot, and the keyspace list.
    fn assert_all(&self, ctx: &str) {
        for ks in 0..KS {
            self.assert_keyspace(ks, ctx);
        }
        self.assert_snapshots(&ALL, ctx);
        self.assert_keyspace_list(None, ctx);
    }

    fn drop_keyspace(&mut self, ks: usize, crash: Option<CrashMode>, ctx: &str) {
        let name = NAMES[ks];
        let old = self.handle(ks).clone();
        let k = user_key(0);
        self.db().drop_keyspace(name).expect("drop keyspace");
        self.assert_keyspace_list(Some(ks), ctx);
        let invalid = ErrorKind::InvalidArgument;
        let kind = |r: rillkv::Result<()>| r.err().map(|e| e.kind());
        assert_eq!(kind(old.get(&k).map(drop)), Some(invalid), "{ctx}: get");
        assert_eq!(kind(old.put(&k, b"x")), Some(invalid), "{ctx}: put");
        assert_eq!(kind(old.delete(&k)), Some(invalid), "{ctx}: delete");
        assert_eq!(kind(old.flush()), Some(invalid), "{ctx}: flush");
        assert_eq!(kind(old.compact()), Some(invalid), "{ctx}: compact");
        assert_eq!(
            collect_items(old.iter()),
            vec![Err(invalid)],
            "{ctx}: iter of a dropped keyspace"
        );
        for (i, (snap, _)) in self.snapshots.iter().enumerate() {
            assert_eq!(
                kind(snap.get_in(&old, &k).map(drop)),
                Some(invalid),
                "{ctx}: snapshot {i}: get_in"
            );
        }
        // A batch naming the dropped keyspace is refused whole: its
        // default-keyspace entry is not written (checked below).
        let mut batch = WriteBatch::new();
        batch.put(&k, b"refused").put_in(&old, &k, b"refused");
        assert_eq!(kind(self.db().write(batch)), Some(invalid), "{ctx}: batch");
        assert_eq!(
            kind(self.db().drop_keyspace(name)),
            Some(invalid),
            "{ctx}: dropped twice"
        );

        drop(old);

        self.model[ks].clear();
        for state in &mut self.history {
            state[ks].clear();
        }
        for (_, frozen) in &mut self.snapshots {
            frozen[ks].clear();
        }
        match crash {
            // The keyspace stays dropped (the drop is a synced manifest
            // record); `reopen` creates it again.
            Some(mode) => self.reopen(Some(mode), Some(ks), &format!("{ctx}: power loss")),
            None => {
                self.handles[ks - 1] = self
                    .db()
                    .keyspace(name, keyspace_options(ks))
                    .expect("re-create keyspace");
                self.assert_all(&format!("{ctx}: re-created"));
            }
        }
    }

    /// Closes the database or loses power under it, then opens it again,
    /// where keyspace `dropped` (if any) must be missing until it is
    /// created again.
    fn reopen(&mut self, crash: Option<CrashMode>, dropped: Option<usize>, ctx: &str) {
        self.snapshots.clear();
        self.handles.clear();
        let db = self.db.take().expect("db");
        match crash {
            Some(mode) => power_loss(&self.fs, db, mode),
            None => db.close().expect("close"),
        }
        let db = Db::open(DIR, options(&self.fs)).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
        self.db = Some(db);
        // Before `Db::keyspace`, which would create a missing one.
        self.assert_keyspace_list(dropped, &format!("{ctx}: after reopen"));
        self.handles = open_keyspaces(self.db());
        if crash.is_some() {
            let state: State = std::array::from_fn(|ks| {
                if ks == 0 {
                    read_all(self.db())
                } else {
                    collect(self.handle(ks).iter()).into_iter().collect()
                }
            });
            let found = self.history[self.durable..]
                .iter()
                .rev()
                .any(|s| *s == state);
            assert!(
                found,
                "{ctx}: recovered state is none of the {} states since the last durable point \
                 (history {} of {}): got {}",
                self.history.len() - self.durable,
                self.durable,
                self.history.len(),
                describe(&state)
            );
            self.model = state;
        }
        self.reset_history();
        self.assert_all(&format!("{ctx}: after reopen"));
    }

    fn apply(&mut self, i: usize, op: &Op) {
        let ctx = format!("op {i} {op:?}");
        match op {
            Op::Write {
                ks,
                key: k,
                write,
                sync,
            } => {
                let (ks, k) = (*ks, user_key(*k));
                let staged = self.stage(ks, *write);
                if *sync {
                    let mut batch = WriteBatch::new();
                    self.add_to_batch(&mut batch, ks, &k, &staged);
                    self.db()
                        .write_opt(batch, &WriteOptions::default().sync(true))
                        .expect("synced write");
                } else {
                    let db = self.db();
                    match (ks, &staged) {
                        (0, Staged::Put(v)) => db.put(&k, v),
                        (0, Staged::Delete) => db.delete(&k),
                        (0, Staged::Merge(operand)) => db.merge(&k, operand),
                        (_, Staged::Put(v)) => self.handle(ks).put(&k, v),
                        (_, Staged::Delete) => self.handle(ks).delete(&k),
                        (_, Staged::Merge(operand)) => self.handle(ks).merge(&k, operand),
                    }
                    .expect("write");
                }
                apply_staged(&mut self.model[ks], ks, k.clone(), &staged);
                self.written(*sync);
                assert_eq!(
                    self.live(ks).get_vec(&k),
                    self.model[ks].get(&k).cloned(),
                    "{ctx}: read back"
                );
            }
            Op::Batch { entries, sync } => {
                let mut batch = WriteBatch::new();
                let mut staged = Vec::new();
                for &(ks, k, write) in entries {
                    let s = self.stage(ks, write);
                    self.add_to_batch(&mut batch, ks, &user_key(k), &s);
                    staged.push((ks, user_key(k), s));
                }
                self.db()
                    .write_opt(batch, &WriteOptions::default().sync(*sync))
                    .expect("batch");
                for (ks, k, s) in staged {
                    apply_staged(&mut self.model[ks], ks, k, &s);
                }
                self.written(*sync);
            }
            Op::Get { ks, key: k } => {
                let k = user_key(*k);
                assert_eq!(
                    self.live(*ks).get_vec(&k),
                    self.model[*ks].get(&k).cloned(),
                    "{ctx}"
                );
            }
            Op::Snapshot => {
                let snap = self.db().snapshot();
                self.snapshots.push((snap, self.model.clone()));
            }
            Op::DropSnapshot { idx } => {
                if !self.snapshots.is_empty() {
                    let (snap, frozen) = self.snapshots.remove(idx % self.snapshots.len());
                    self.assert_snapshot(&snap, &frozen, 0..KS, &ctx);
                }
            }
            Op::Flush => {
                self.db().flush().expect("flush");
                for (ks, name) in NAMES.iter().enumerate() {
                    let stats = self.stats(ks);
                    assert_eq!(stats.keyspace, *name, "{ctx}");
                    assert_eq!(
                        (stats.sealed_memtables, stats.active_memtable_entries),
                        (0, 0),
                        "{ctx}: keyspace {name} not flushed"
                    );
                }
                // Every write is in a table now.
                self.durable = self.history.len() - 1;
                self.assert_all(&ctx);
            }
            Op::FlushKeyspace { ks } => {
                self.handle(*ks).flush().expect("flush keyspace");
                let stats = self.stats(*ks);
                assert_eq!(stats.keyspace, NAMES[*ks], "{ctx}");
                assert_eq!(
                    (stats.sealed_memtables, stats.active_memtable_entries),
                    (0, 0),
                    "{ctx}: not flushed"
                );
                self.assert_keyspace(*ks, &ctx);
                self.assert_snapshots(&[*ks], &ctx);
            }
            Op::Compact { ks } => {
                if *ks == 0 {
                    self.db().compact().expect("compact");
                } else {
                    self.handle(*ks).compact().expect("compact keyspace");
                }
                self.assert_all(&ctx);
            }
            Op::CompactRange { ks, lo, hi } => {
                let (lo, hi) = (user_bound(lo), user_bound(hi));
                if !bounds_empty(&lo, &hi) {
                    if *ks == 0 {
                        self.db().compact_range((lo, hi)).expect("compact_range");
                    } else {
                        self.handle(*ks)
                            .compact_range((lo, hi))
                            .expect("compact_range of a keyspace");
                    }
                }
                self.assert_keyspace(*ks, &ctx);
                self.assert_snapshots(&[*ks], &ctx);
            }
            Op::DropKeyspace { ks, crash } => self.drop_keyspace(*ks, *crash, &ctx),
            Op::Reopen => {
                self.assert_all(&ctx);
                self.reopen(None, None, &ctx);
            }
            Op::PowerLoss { mode } => {
                self.assert_all(&ctx);
                self.reopen(Some(*mode), None, &ctx);
            }
            Op::Scan { ks } => {
                self.assert_keyspace(*ks, &ctx);
                self.assert_snapshots(&[*ks], &ctx);
            }
            Op::Range { ks, lo, hi } => {
                let (lo, hi) = (user_bound(lo), user_bound(hi));
                assert_range_matches(self.live(*ks), &self.model[*ks], &lo, &hi, &ctx);
                if let Some((snap, frozen)) = self.snapshots.last() {
                    let ctx = format!("{ctx}: newest snapshot");
                    if *ks == 0 {
                        assert_range_matches(snap, &frozen[0], &lo, &hi, &ctx);
                    } else {
                        let view = SnapshotIn(snap, self.handle(*ks));
                        assert_range_matches(&view, &frozen[*ks], &lo, &hi, &ctx);
                    }
                }
            }
            Op::Prefix { ks, key: k, len } => {
                let full = user_key(*k);
                let prefix = &full[..(*len).min(full.len())];
                assert_prefix_matches(self.live(*ks), &self.model[*ks], prefix, &ctx);
                if let Some((snap, frozen)) = self.snapshots.first() {
                    let ctx = format!("{ctx}: oldest snapshot");
                    if *ks == 0 {
                        assert_prefix_matches(snap, &frozen[0], prefix, &ctx);
                    } else {
                        let view = SnapshotIn(snap, self.handle(*ks));
                        assert_prefix_matches(&view, &frozen[*ks], prefix, &ctx);
                    }
                }
            }
        }
    }

    fn finish(mut self) {
        self.assert_all("end");
        assert_eq!(
            self.db().stats().live_snapshots,
            self.snapshots.len() as u64,
            "end: live snapshots"
        );
        self.db().flush().expect("final flush");
        self.assert_all("end, after flush");
        self.reopen(None, None, "final reopen");
        for ks in 0..KS {
            if ks == 0 {
                self.db().compact().expect("final compact");
            } else {
                self.handle(ks).compact().expect("final compact");
            }
        }
        self.assert_all("final compaction");
        self.handles.clear();
        self.db.take().expect("db").close().expect("close");
    }
}

/// A recovered state, keyspace by keyspace, for a failure message.
fn describe(state: &State) -> String {
    NAMES
        .iter()
        .zip(state)
        .map(|(name, model)| {
            let pairs: Vec<_> = model.iter().map(|(k, v)| (show(k), show(v))).collect();
            format!("\n  {name}: {pairs:?}")
        })
        .collect()
}

proptest! {
    // No regression files: a failure prints its minimal case to replay.
    #![proptest_config(ProptestConfig {
        cases: env_num("PROPTEST_CASES", 96) as u32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn keyspaces_match_a_model_across_drops_reopens_and_power_losses(
        ops in prop::collection::vec(op(), 1..150),
    ) {
        let mut h = Harness::new();
        for (i, op) in ops.iter().enumerate() {
            h.apply(i, op);
        }
        h.finish();
    }
}
