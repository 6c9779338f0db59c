//! Per-keyspace options, merge operators and names.
//!
//! - keyspaces with different merge operators (`U64Add`, `U64Max`) fold
//!   the same operands each its own way, through flushes, a compaction and
//!   reopens, and the database's own keyspace has none;
//! - the recorded operator is checked: a reopen with one swapped (through
//!   `Options::keyspace`) fails with `InvalidArgument` naming the keyspace
//!   and changes nothing; `Db::keyspace` with another operator on a live
//!   database fails the same way and leaves the keyspace as it was; an
//!   operator first given after creation is recorded then; a
//!   keyspace opened without its operator keeps its operands and fails
//!   clearly on reading them until the operator is given again;
//! - per-keyspace options take effect, each keyspace its own: memtable
//!   size (runs per amount written), compression (table bytes), with
//!   `Options`' own setters for the default keyspace only, `Db::keyspace`
//!   replacing a keyspace's options, and `Options::keyspace` applying to
//!   the flush of writes recovered at open;
//! - names: what is valid, what is refused, through `Db::keyspace`,
//!   `Options::keyspace` and `Db::drop_keyspace`;
//! - `Db::keyspaces` (and `Stats::keyspaces`) after creating, dropping and
//!   reopening; `Stats::keyspace`; flush and compaction events name their
//!   keyspace.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rillkv::event::{
    CompactionBeginInfo, CompactionEndInfo, EventListener, FlushBeginInfo, FlushEndInfo,
};
use rillkv::merge::{U64Add, U64Max};
use rillkv::{CompactionOptions, Compression, Db, ErrorKind, Keyspace, KeyspaceOptions, Options};

use crate::support::{le, total_table_bytes, u64_get, value};

fn adds_opts() -> KeyspaceOptions {
    KeyspaceOptions::default().merge_operator(U64Add)
}

fn maxes_opts() -> KeyspaceOptions {
    KeyspaceOptions::default().merge_operator(U64Max)
}

/// Both keyspaces registered at open with their operators.
fn merge_opts() -> Options {
    Options::default()
        .keyspace("adds", adds_opts())
        .keyspace("maxes", maxes_opts())
}

fn assert_invalid_naming<T: std::fmt::Debug>(r: rillkv::Result<T>, name: &str, what: &str) {
    let err = r.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
    assert!(
        err.to_string().contains(name),
        "{what}: the error does not name keyspace '{name}': {err}"
    );
}

/// The values of counters `c0..c3` in `ks`.
fn counters(ks: &Keyspace) -> Vec<u64> {
    (0..4)
        .map(|c| u64_get(ks.get(format!("c{c}")).expect("get counter")))
        .collect()
}

/// Merges the same operands into both keyspaces, and into what each must
/// then hold (`sums`, `maxs`).
fn merge_round(adds: &Keyspace, maxes: &Keyspace, round: u64, sums: &mut [u64], maxs: &mut [u64]) {
    for c in 0..4u64 {
        for j in 0..5u64 {
            let operand = (round * 37 + c * 11 + j * 7) % 50;
            adds.merge(format!("c{c}"), le(operand)).expect("merge add");
            maxes
                .merge(format!("c{c}"), le(operand))
                .expect("merge max");
            sums[c as usize] += operand;
            maxs[c as usize] = maxs[c as usize].max(operand);
        }
    }
}

#[test]
fn merge_operators_per_keyspace_side_by_side_and_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut sums, mut maxs) = (vec![0; 4], vec![0; 4]);
    let db = Db::open(dir.path(), merge_opts()).expect("open");
    let adds = db.keyspace("adds", adds_opts()).expect("adds");
    let maxes = db.keyspace("maxes", maxes_opts()).expect("maxes");
    for round in 0..3 {
        merge_round(&adds, &maxes, round, &mut sums, &mut maxs);
        if round < 2 {
            adds.flush().expect("flush adds");
            maxes.flush().expect("flush maxes");
        }
    }
    assert_eq!(counters(&adds), sums, "sums, before reopen");
    assert_eq!(counters(&maxes), maxs, "maxima, before reopen");
    assert_ne!(sums, maxs, "the workload tells the operators apart");
    // The default keyspace has no operator.
    let err = db
        .merge(b"c0", le(1))
        .expect_err("merge without an operator");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    drop((adds, maxes));
    db.close().expect("close");

    // Reopened with the operators registered: the writes still in the WAL
    // are flushed with them, and the folds go on.
    let db = Db::open(dir.path(), merge_opts()).expect("reopen");
    let adds = db.keyspace("adds", adds_opts()).expect("adds");
    let maxes = db.keyspace("maxes", maxes_opts()).expect("maxes");
    assert_eq!(counters(&adds), sums, "sums, after reopen");
    assert_eq!(counters(&maxes), maxs, "maxima, after reopen");
    merge_round(&adds, &maxes, 3, &mut sums, &mut maxs);
    adds.compact().expect("compact adds");
    maxes.compact().expect("compact maxes");
    assert_eq!(adds.stats().runs.len(), 1);
    assert_eq!(counters(&adds), sums, "sums, after compaction");
    assert_eq!(counters(&maxes), maxs, "maxima, after compaction");
    // Operands on top of the folded values, left in the WAL.
    merge_round(&adds, &maxes, 4, &mut sums, &mut maxs);
    drop((adds, maxes));
    db.close().expect("close");

    // Reopened without registering them: the keyspaces run without an
    // operator until `Db::keyspace` gives it; the operands recovered are
    // kept (flushed as operands), and reading them fails clearly.
    let db = Db::open(dir.path(), Options::default()).expect("reopen bare");
    let bare = db
        .keyspace("adds", KeyspaceOptions::default())
        .expect("a keyspace may be opened without its operator");
    let err = bare
        .merge(b"c0", le(1000))
        .expect_err("merge without an operator");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = bare.get(b"c0").expect_err("operands without an operator");
    assert_eq!(err.kind(), ErrorKind::MergeOperator, "{err}");
    let adds = db
        .keyspace("adds", adds_opts())
        .expect("adds, with its operator");
    assert_eq!(
        counters(&adds),
        sums,
        "sums, once the operator is given again"
    );
    let maxes = db.keyspace("maxes", maxes_opts()).expect("maxes");
    assert_eq!(
        counters(&maxes),
        maxs,
        "maxima, once the operator is given again"
    );
    drop((bare, adds, maxes));
    db.close().expect("close");
}

#[test]
fn another_merge_operator_is_refused_naming_the_keyspace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), merge_opts()).expect("open");
    let adds = db.keyspace("adds", adds_opts()).expect("adds");
    let maxes = db.keyspace("maxes", maxes_opts()).expect("maxes");
    for v in [5u64, 3, 7] {
        adds.merge(b"n", le(v)).expect("merge");
        maxes.merge(b"n", le(v)).expect("merge");
    }
    adds.flush().expect("flush");

    // On the live database: refused, and the keyspace keeps its operator.
    assert_invalid_naming(
        db.keyspace("maxes", adds_opts()),
        "maxes",
        "U64Add for maxes",
    );
    assert_invalid_naming(
        db.keyspace(
            "adds",
            KeyspaceOptions::default().merge_fn("u64add-lookalike", |_, _, op| Ok(op.to_vec())),
        ),
        "adds",
        "a closure for adds",
    );
    maxes.merge(b"n", le(6)).expect("merge");
    assert_eq!(
        u64_get(maxes.get(b"n").expect("get")),
        7,
        "maxes still takes maxima"
    );
    adds.merge(b"n", le(6)).expect("merge");
    assert_eq!(u64_get(adds.get(b"n").expect("get")), 21, "adds still adds");
    drop((adds, maxes));
    db.close().expect("close");

    // At open: refused, naming the keyspace, whether the operator is
    // swapped or another one; the refused opens change nothing.
    let adds_swapped = Options::default()
        .keyspace("adds", maxes_opts())
        .keyspace("maxes", maxes_opts());
    assert_invalid_naming(Db::open(dir.path(), adds_swapped), "adds", "adds swapped");
    let maxes_swapped = Options::default()
        .keyspace("adds", adds_opts())
        .keyspace("maxes", adds_opts());
    assert_invalid_naming(
        Db::open(dir.path(), maxes_swapped),
        "maxes",
        "maxes swapped",
    );
    let db = Db::open(dir.path(), merge_opts()).expect("reopen with the right operators");
    let adds = db.keyspace("adds", adds_opts()).expect("adds");
    let maxes = db.keyspace("maxes", maxes_opts()).expect("maxes");
    assert_eq!(u64_get(adds.get(b"n").expect("get")), 21);
    assert_eq!(u64_get(maxes.get(b"n").expect("get")), 7);
    drop((adds, maxes));
    db.close().expect("close");
}

#[test]
fn an_operator_given_after_creation_is_recorded_then_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let late = db
        .keyspace("late", KeyspaceOptions::default())
        .expect("created without an operator");
    late.put(b"n", le(5)).expect("put");
    // The first operator given is recorded...
    let late = db.keyspace("late", maxes_opts()).expect("given U64Max");
    late.merge(b"n", le(3)).expect("merge");
    assert_eq!(u64_get(late.get(b"n").expect("get")), 5);
    // ...and from then on another one is refused, live and at open.
    assert_invalid_naming(
        db.keyspace("late", adds_opts()),
        "late",
        "U64Add after U64Max",
    );
    drop(late);
    db.close().expect("close");
    let opts = Options::default().keyspace("late", adds_opts());
    assert_invalid_naming(Db::open(dir.path(), opts), "late", "U64Add at open");
    let opts = || Options::default().keyspace("late", maxes_opts());
    let db = Db::open(dir.path(), opts()).expect("reopen with U64Max");
    let late = db.keyspace("late", maxes_opts()).expect("late");
    late.merge(b"n", le(9)).expect("merge");
    assert_eq!(u64_get(late.get(b"n").expect("get")), 9);
    drop(late);
    db.close().expect("close");
}

/// No background compaction, so runs count flushes.
fn no_compaction() -> CompactionOptions {
    CompactionOptions::default().background(false)
}

/// `n` compressible values of about 1 KiB each (even counters: `value`
/// makes those compressible).
fn put_compressible(ks: &Keyspace, n: u64) {
    for i in 0..n {
        ks.put(format!("k{i:06}"), value(i * 2, 1024)).expect("put");
    }
}

#[test]
fn per_keyspace_memtable_size_and_compression_take_effect() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The default keyspace's own setters: no compression, small memtable.
    let opts = Options::default()
        .compression(Compression::None)
        .memtable_size(16 << 10)
        .compaction(no_compaction());
    let db = Db::open(dir.path(), opts).expect("open");
    let small = db
        .keyspace(
            "small",
            KeyspaceOptions::default()
                .memtable_size(16 << 10)
                .compaction(no_compaction()),
        )
        .expect("small");
    let large = db
        .keyspace(
            "large",
            KeyspaceOptions::default()
                .memtable_size(1 << 20)
                .compaction(no_compaction()),
        )
        .expect("large");
    let plain = db
        .keyspace(
            "plain",
            KeyspaceOptions::default()
                .compression(Compression::None)
                .compaction(no_compaction()),
        )
        .expect("plain");

    // 256 KiB into each: the small memtable fills 16 times, the large one
    // never; one flush at the end seals what is left.
    for ks in [&small, &large, &plain] {
        put_compressible(ks, 256);
    }
    for i in 0..256u64 {
        db.put(format!("k{i:06}"), value(i * 2, 1024))
            .expect("put default");
    }
    db.flush().expect("flush every keyspace");
    let runs = |ks: &Keyspace| ks.stats().runs.len();
    assert!(runs(&small) >= 12, "small memtables: {} runs", runs(&small));
    assert_eq!(runs(&large), 1, "a large memtable: one run, from the flush");
    assert_eq!(runs(&plain), 1, "plain has the default memtable size");
    assert!(
        db.stats().runs.len() >= 12,
        "the default keyspace's small memtable"
    );

    // Compression: `large` compresses (the default), `plain` does not, nor
    // does the default keyspace, whose setting `large` does not inherit.
    let (packed, stored, default) = (
        total_table_bytes(&large.stats()),
        total_table_bytes(&plain.stats()),
        total_table_bytes(&db.stats()),
    );
    assert!(
        stored > 2 * packed,
        "plain tables {stored} bytes, compressed ones {packed}"
    );
    assert!(
        default > 2 * packed,
        "default keyspace's tables {default} bytes (uncompressed), compressed ones {packed}"
    );

    // Opening `large` again with a small memtable replaces its options,
    // for the handle held since too.
    let resized = db
        .keyspace(
            "large",
            KeyspaceOptions::default()
                .memtable_size(16 << 10)
                .compaction(no_compaction()),
        )
        .expect("large, resized");
    put_compressible(&large, 256);
    resized.flush().expect("flush");
    assert!(
        runs(&large) > 12,
        "after the resize, small memtables: {} runs (one from before)",
        runs(&large)
    );
    drop((small, large, plain, resized));
    db.close().expect("close");
}

/// Writes values to keyspace `name` and leaves them in the WAL; reopens
/// with `opts`; returns the table bytes the recovered writes became.
fn recovered_table_bytes(dir: &Path, name: &str, opts: Options) -> u64 {
    let db = Db::open(dir, Options::default()).expect("open");
    let ks = db
        .keyspace(name, KeyspaceOptions::default())
        .expect("keyspace");
    put_compressible(&ks, 128);
    drop(ks);
    db.close().expect("close");
    let db = Db::open(dir, opts).expect("reopen");
    let ks = db
        .keyspace(name, KeyspaceOptions::default())
        .expect("keyspace");
    assert_eq!(ks.iter().count(), 128, "the recovered writes");
    let bytes = total_table_bytes(&ks.stats());
    drop(ks);
    db.close().expect("close");
    bytes
}

#[test]
fn options_registered_at_open_apply_to_the_recovered_writes() {
    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let registered = recovered_table_bytes(
        a.path(),
        "logs",
        Options::default().keyspace(
            "logs",
            KeyspaceOptions::default().compression(Compression::None),
        ),
    );
    let defaults = recovered_table_bytes(b.path(), "logs", Options::default());
    assert!(
        registered > 2 * defaults,
        "recovered with Compression::None registered: {registered} bytes; with the defaults: \
         {defaults}"
    );
}

#[test]
fn keyspace_names_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let longest = "n".repeat(255);
    let valid = [
        "a",
        "Users_2024-v1.0",
        "x.y",
        "rillk",
        "my-rillkv",
        longest.as_str(),
    ];
    for name in valid {
        let ks = db
            .keyspace(name, KeyspaceOptions::default())
            .unwrap_or_else(|e| panic!("{name:?} is a valid name: {e}"));
        assert_eq!(ks.name(), name);
    }
    let too_long = "n".repeat(256);
    let invalid = [
        "",
        too_long.as_str(),
        "default",
        ".hidden",
        ".",
        "rillkv",
        "rillkv-internal",
        "a/b",
        "a\\b",
        "a b",
        "tab\t",
        "nul\0",
        "caf\u{e9}",
        "..",
    ];
    for name in invalid {
        let err = db
            .keyspace(name, KeyspaceOptions::default())
            .expect_err(name);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name:?}: {err}");
    }
    let mut names = vec!["default".to_owned()];
    names.extend(valid.iter().map(|s| (*s).to_owned()));
    assert_eq!(db.keyspaces(), names, "refused names created nothing");

    // Dropping: the default keyspace, and a name that is no keyspace.
    for name in ["default", "missing", "", ".hidden"] {
        let err = db.drop_keyspace(name).expect_err(name);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name:?}: {err}");
    }
    db.close().expect("close");

    // Registered at open: a bad name, or bad options, refuse the open.
    for name in ["", "default", "rillkv.x", "a/b"] {
        let opts = Options::default().keyspace(name, KeyspaceOptions::default());
        let err = Db::open(dir.path(), opts).expect_err(name);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name:?}: {err}");
    }
    let bad = Options::default().keyspace("blocky", KeyspaceOptions::default().block_size(10));
    assert_invalid_naming(Db::open(dir.path(), bad), "blocky", "a bad block size");
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    let err = db
        .keyspace("a", KeyspaceOptions::default().memtable_size(1))
        .expect_err("a tiny memtable");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(db.keyspaces(), names, "names after the refused opens");
    db.close().expect("close");
}

#[test]
fn keyspaces_are_listed_after_create_drop_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Registering options does not create a keyspace.
    let opts = || Options::default().keyspace("ghost", KeyspaceOptions::default());
    let db = Db::open(dir.path(), opts()).expect("open");
    assert_eq!(db.keyspaces(), ["default"]);
    for name in ["b", "a", "c"] {
        db.keyspace(name, KeyspaceOptions::default())
            .expect("create");
    }
    // Opening an existing one again creates nothing.
    db.keyspace("a", KeyspaceOptions::default())
        .expect("open again");
    assert_eq!(db.keyspaces(), ["default", "b", "a", "c"]);
    db.drop_keyspace("a").expect("drop a");
    db.keyspace("a", KeyspaceOptions::default())
        .expect("create a again");
    db.drop_keyspace("b").expect("drop b");
    let listed = ["default", "c", "a"];
    assert_eq!(db.keyspaces(), listed);
    assert_eq!(db.stats().keyspaces, listed);
    db.close().expect("close");

    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(db.keyspaces(), listed, "after reopen");
    let c = db.keyspace("c", KeyspaceOptions::default()).expect("c");
    assert_eq!(c.stats().keyspaces, listed);
    db.drop_keyspace("c").expect("drop c");
    drop(c);
    db.close().expect("close");
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(
        db.keyspaces(),
        ["default", "a"],
        "after a drop and a reopen"
    );
    db.close().expect("close");
}

/// Flush and compaction events as `(event, keyspace)`.
#[derive(Default)]
struct KeyspaceEvents(Mutex<Vec<(&'static str, String)>>);

impl KeyspaceEvents {
    fn push(&self, what: &'static str, keyspace: &str) {
        self.0
            .lock()
            .expect("events")
            .push((what, keyspace.to_owned()));
    }

    /// The keyspaces named by events `what`, in order, once there are
    /// `n` of them (a flush's end event may follow the wake-up of the
    /// `flush` call waiting for it), or after 10 s.
    fn wait_for(&self, what: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.of(what);
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The keyspaces named by events `what`, in order.
    fn of(&self, what: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("events")
            .iter()
            .filter(|(w, _)| *w == what)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

impl EventListener for KeyspaceEvents {
    fn on_flush_begin(&self, i: &FlushBeginInfo) {
        self.push("flush begin", &i.keyspace);
    }
    fn on_flush_end(&self, i: &FlushEndInfo) {
        self.push("flush end", &i.keyspace);
    }
    fn on_compaction_begin(&self, i: &CompactionBeginInfo) {
        self.push("compaction begin", &i.keyspace);
    }
    fn on_compaction_end(&self, i: &CompactionEndInfo) {
        self.push("compaction end", &i.keyspace);
    }
}

#[test]
fn stats_and_events_name_their_keyspace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = Arc::new(KeyspaceEvents::default());
    let opts = Options::default()
        .listener(events.clone())
        .compaction(no_compaction());
    let db = Db::open(dir.path(), opts).expect("open");
    let ks = db
        .keyspace(
            "events",
            KeyspaceOptions::default().compaction(no_compaction()),
        )
        .expect("keyspace");
    assert_eq!(db.stats().keyspace, "default");
    assert_eq!(ks.stats().keyspace, "events");
    assert_eq!(ks.stats().keyspaces, ["default", "events"]);

    for round in 0..2 {
        ks.put(format!("k{round}"), b"v").expect("put");
        ks.flush().expect("flush");
    }
    assert_eq!(events.wait_for("flush end", 2), ["events", "events"]);
    assert_eq!(events.of("flush begin"), ["events", "events"]);
    ks.compact().expect("compact");
    assert_eq!(events.wait_for("compaction end", 1), ["events"]);
    assert_eq!(events.of("compaction begin"), ["events"]);

    // The default keyspace's flush and compaction.
    for round in 0..2 {
        db.put(format!("k{round}"), b"v").expect("put");
        db.flush().expect("flush");
    }
    db.compact().expect("compact");
    let flushed = ["events", "events", "default", "default"];
    assert_eq!(events.wait_for("flush end", 4), flushed);
    assert_eq!(events.of("flush begin"), flushed);
    assert_eq!(events.wait_for("compaction end", 2), ["events", "default"]);
    assert_eq!(events.of("compaction begin"), ["events", "default"]);
    assert_eq!(db.stats().runs.len(), 1);
    assert_eq!(ks.stats().runs.len(), 1);
    drop(ks);
    db.close().expect("close");
}
