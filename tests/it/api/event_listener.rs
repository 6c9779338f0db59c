//! Event listeners see what the engine does, in order and with the right
//! contents: a flush (begin, table created, end), a compaction (begin,
//! outputs created, end, then its inputs deleted), write stalls forced by
//! holding the flush or the compaction inside a listener (begin/end paired
//! per cause, with reasons and durations), a failed flush (one background
//! error), and corruption found by `get`, an iterator and `verify` in a
//! damaged table (file and offset named).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rillkv::compaction::CompactionReason;
use rillkv::event::{
    BackgroundErrorInfo, CompactionBeginInfo, CompactionEndInfo, CorruptionContext, CorruptionInfo,
    EventListener, FlushBeginInfo, FlushEndInfo, TableCreatedInfo, TableCreationReason,
    TableDeletedInfo, TableDeletionReason, WriteStallBeginInfo, WriteStallCause, WriteStallEndInfo,
};
use rillkv::fs::{FaultFs, Fs};
use rillkv::{CompactionOptions, Db, ErrorKind, Options};

use crate::support::format::{flipped, table_layout};
use crate::support::{key, live_tables, table_paths};

/// One recorded callback.
#[derive(Debug, Clone)]
enum Ev {
    FlushBegin(FlushBeginInfo),
    FlushEnd(FlushEndInfo),
    CompactionBegin(CompactionBeginInfo),
    CompactionEnd(CompactionEndInfo),
    Created(TableCreatedInfo),
    Deleted(TableDeletedInfo),
    StallBegin(WriteStallBeginInfo),
    StallEnd(WriteStallEndInfo),
    BackgroundError(BackgroundErrorInfo),
    Corruption(CorruptionInfo),
}

/// A gate a callback waits at while it is closed.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn set_closed(&self, closed: bool) {
        *self.closed.lock().expect("gate") = closed;
        self.cv.notify_all();
    }

    fn pass(&self) {
        let mut closed = self.closed.lock().expect("gate");
        while *closed {
            closed = self.cv.wait(closed).expect("gate");
        }
    }
}

/// Records every callback; can hold flushes and compactions at their
/// begin callback to force write stalls.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Ev>>,
    changed: Condvar,
    flush_gate: Gate,
    compaction_gate: Gate,
}

impl Recorder {
    fn push(&self, ev: Ev) {
        self.events.lock().expect("events").push(ev);
        self.changed.notify_all();
    }

    fn events(&self) -> Vec<Ev> {
        self.events.lock().expect("events").clone()
    }

    fn clear(&self) {
        self.events.lock().expect("events").clear();
    }

    /// Waits until some recorded event matches `pred`.
    fn wait_for(&self, what: &str, pred: impl Fn(&Ev) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut events = self.events.lock().expect("events");
        while !events.iter().any(&pred) {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no {what} event in 60 s: {events:#?}"));
            events = self.changed.wait_timeout(events, left).expect("events").0;
        }
    }
}

impl EventListener for Recorder {
    fn on_flush_begin(&self, i: &FlushBeginInfo) {
        self.push(Ev::FlushBegin(i.clone()));
        self.flush_gate.pass();
    }
    fn on_flush_end(&self, i: &FlushEndInfo) {
        self.push(Ev::FlushEnd(i.clone()));
    }
    fn on_compaction_begin(&self, i: &CompactionBeginInfo) {
        self.push(Ev::CompactionBegin(i.clone()));
        self.compaction_gate.pass();
    }
    fn on_compaction_end(&self, i: &CompactionEndInfo) {
        self.push(Ev::CompactionEnd(i.clone()));
    }
    fn on_table_created(&self, i: &TableCreatedInfo) {
        self.push(Ev::Created(i.clone()));
    }
    fn on_table_deleted(&self, i: &TableDeletedInfo) {
        self.push(Ev::Deleted(i.clone()));
    }
    fn on_write_stall_begin(&self, i: &WriteStallBeginInfo) {
        self.push(Ev::StallBegin(i.clone()));
    }
    fn on_write_stall_end(&self, i: &WriteStallEndInfo) {
        self.push(Ev::StallEnd(i.clone()));
    }
    fn on_background_error(&self, i: &BackgroundErrorInfo) {
        self.push(Ev::BackgroundError(i.clone()));
    }
    fn on_corruption(&self, i: &CorruptionInfo) {
        self.push(Ev::Corruption(i.clone()));
    }
}

fn position(events: &[Ev], what: &str, pred: impl Fn(&Ev) -> bool) -> usize {
    events
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no {what} event: {events:#?}"))
}

/// The live table numbers with their sizes.
fn live_table_sizes(db: &Db) -> Vec<(u64, u64)> {
    db.stats()
        .runs
        .iter()
        .flat_map(|r| r.tables.iter().map(|t| (t.number, t.size)))
        .collect()
}

#[test]
fn flush_then_compaction_events_come_in_order_with_their_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Arc::new(Recorder::default());
    let opts = Options::default()
        .listener(rec.clone())
        .compaction(CompactionOptions::default().background(false));
    let db = Db::open(dir.path(), opts).expect("open");

    // One flush.
    for i in 0..100 {
        db.put(key(i), b"first").expect("put");
    }
    db.flush().expect("flush");
    let events = rec.events();
    let [
        Ev::FlushBegin(begin),
        Ev::Created(created),
        Ev::FlushEnd(end),
    ] = events.as_slice()
    else {
        panic!("expected flush begin, table created, flush end: {events:#?}");
    };
    assert_eq!(begin.db_path, dir.path());
    assert_eq!(begin.memtable_entries, 100);
    assert!(begin.memtable_bytes > 0);
    assert_eq!(begin.memtable_id, end.memtable_id);
    assert_eq!(begin.table_number, end.table_number);
    assert_eq!(created.number, end.table_number);
    assert_eq!(created.reason, TableCreationReason::Flush);
    assert_eq!(created.entries, 100);
    assert_eq!(created.job_id, None);
    assert!(end.result.is_ok(), "{:?}", end.result);
    assert_eq!(end.table_size, Some(created.size));
    assert_eq!(live_table_sizes(&db), vec![(created.number, created.size)]);

    // A second, overlapping flush, then a manual compaction of both.
    for i in 50..150 {
        db.put(key(i), b"second").expect("put");
    }
    db.flush().expect("flush");
    let inputs = live_tables(&db.stats());
    assert_eq!(inputs.len(), 2);
    rec.clear();
    db.compact().expect("compact");
    let events = rec.events();

    let begin_at = position(&events, "compaction begin", |e| {
        matches!(e, Ev::CompactionBegin(_))
    });
    let end_at = position(&events, "compaction end", |e| {
        matches!(e, Ev::CompactionEnd(_))
    });
    let (Ev::CompactionBegin(begin), Ev::CompactionEnd(end)) = (&events[begin_at], &events[end_at])
    else {
        unreachable!()
    };
    assert!(begin_at < end_at);
    assert_eq!(begin.job_id, end.job_id);
    assert_eq!(begin.reason, CompactionReason::Manual);
    assert_eq!(end.reason, CompactionReason::Manual);
    assert!(begin.bottom, "a full compaction is at the bottom");
    let begin_inputs: BTreeSet<u64> = begin
        .inputs
        .iter()
        .flat_map(|r| r.tables.iter().copied())
        .collect();
    assert_eq!(begin_inputs, inputs);
    assert_eq!(
        begin.input_bytes,
        begin.inputs.iter().map(|r| r.bytes).sum::<u64>()
    );
    assert!(end.result.is_ok(), "{:?}", end.result);
    assert_eq!(end.bytes_read, begin.input_bytes);
    assert!(end.bytes_written > 0);
    assert_eq!(end.rounds, 1);

    // Outputs: created (by this job) between begin and end, and live now.
    let created: Vec<&TableCreatedInfo> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Ev::Created(c) => {
                assert!(
                    begin_at < i && i < end_at,
                    "table created outside its job: {events:#?}"
                );
                Some(c)
            }
            _ => None,
        })
        .collect();
    assert!(!created.is_empty());
    for c in &created {
        assert_eq!(c.reason, TableCreationReason::Compaction);
        assert_eq!(c.job_id, Some(begin.job_id));
    }
    let outputs: Vec<(u64, u64)> = end.outputs.iter().map(|t| (t.number, t.size)).collect();
    let created_tables: Vec<(u64, u64)> = created.iter().map(|c| (c.number, c.size)).collect();
    assert_eq!(outputs, created_tables);
    assert_eq!(live_table_sizes(&db), outputs);

    // Inputs: deleted after the end, each once, and gone from the disk.
    let deleted: BTreeSet<u64> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Ev::Deleted(d) => {
                assert!(
                    i > end_at,
                    "input deleted before the job ended: {events:#?}"
                );
                assert_eq!(d.reason, TableDeletionReason::Compacted);
                assert!(d.size > 0);
                Some(d.number)
            }
            _ => None,
        })
        .collect();
    assert_eq!(deleted, inputs);
    for n in &inputs {
        assert!(!dir.path().join(format!("{n:06}.rkt")).exists());
    }
    db.close().expect("close");
}

#[test]
fn a_memtable_stall_begins_and_ends_once_the_held_flush_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Arc::new(Recorder::default());
    let opts = Options::default()
        .listener(rec.clone())
        .memtable_size(4096)
        .max_sealed_memtables(1)
        .compaction(CompactionOptions::default().background(false));
    let db = Db::open(dir.path(), opts).expect("open");
    rec.flush_gate.set_closed(true);

    let writer = {
        let db = db.clone();
        thread::spawn(move || {
            for i in 0..400 {
                db.put(key(i), [b'v'; 100]).expect("put");
            }
        })
    };
    rec.wait_for(
        "memtable stall begin",
        |e| matches!(e, Ev::StallBegin(b) if b.cause == WriteStallCause::Memtables),
    );
    let stats = db.stats();
    assert!(stats.write_stalled, "{stats}");
    let held = Duration::from_millis(50);
    thread::sleep(held);
    assert!(!writer.is_finished(), "the writer waits for the held flush");
    rec.flush_gate.set_closed(false);
    writer.join().expect("writer");
    db.close().expect("close");

    let events = rec.events();
    let stalls: Vec<&Ev> = events
        .iter()
        .filter(|e| matches!(e, Ev::StallBegin(_) | Ev::StallEnd(_)))
        .collect();
    assert!(!stalls.is_empty());
    assert_eq!(stalls.len() % 2, 0, "every stall ends: {stalls:#?}");
    for (i, pair) in stalls.chunks(2).enumerate() {
        let [Ev::StallBegin(b), Ev::StallEnd(e)] = pair else {
            panic!("stall events do not pair up: {stalls:#?}");
        };
        assert_eq!(b.cause, WriteStallCause::Memtables);
        assert_eq!(e.cause, b.cause);
        assert_eq!(e.reason, b.reason);
        assert!(b.reason.contains("max_sealed_memtables"), "{}", b.reason);
        assert!(e.result.is_ok(), "{:?}", e.result);
        if i == 0 {
            assert!(
                e.duration >= held,
                "the first stall lasted {:?}",
                e.duration
            );
        }
    }
    // Flushes pair up too, and none failed.
    let begins = events
        .iter()
        .filter(|e| matches!(e, Ev::FlushBegin(_)))
        .count();
    let ends = events
        .iter()
        .filter(|e| matches!(e, Ev::FlushEnd(f) if f.result.is_ok()))
        .count();
    assert_eq!(begins, ends);
    assert!(begins >= 2);
}

#[test]
fn run_stalls_slow_down_then_stop_until_the_held_compaction_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Arc::new(Recorder::default());
    let opts = Options::default().listener(rec.clone()).compaction(
        CompactionOptions::default()
            .max_merge_files(2)
            .slowdown_runs(2)
            .stop_runs(3),
    );
    let db = Db::open(dir.path(), opts).expect("open");
    rec.compaction_gate.set_closed(true);
    // Three overlapping flushes: the compaction the second one triggers is
    // held, so runs pile up to 3.
    for round in 0..3 {
        for i in 0..50 {
            db.put(key(i), format!("round {round}")).expect("put");
        }
        db.flush().expect("flush");
    }
    rec.wait_for("compaction begin", |e| matches!(e, Ev::CompactionBegin(_)));
    assert_eq!(db.stats().max_depth, 3);

    let writer = {
        let db = db.clone();
        thread::spawn(move || db.put(b"after", b"stop").expect("put after the stop"))
    };
    rec.wait_for(
        "stop stall begin",
        |e| matches!(e, Ev::StallBegin(b) if b.cause == WriteStallCause::Stop),
    );
    let held = Duration::from_millis(50);
    thread::sleep(held);
    assert!(!writer.is_finished(), "the writer waits for compaction");
    let reason = db.stats().write_stall_reason.expect("a stall reason");
    assert!(reason.contains("stop_runs"), "{reason}");
    rec.compaction_gate.set_closed(false);
    writer.join().expect("writer");
    db.close().expect("close");

    let events = rec.events();
    let stalls: Vec<&Ev> = events
        .iter()
        .filter(|e| matches!(e, Ev::StallBegin(_) | Ev::StallEnd(_)))
        .collect();
    assert_eq!(stalls.len() % 2, 0, "every stall ends: {stalls:#?}");
    let mut causes = BTreeSet::new();
    for pair in stalls.chunks(2) {
        let [Ev::StallBegin(b), Ev::StallEnd(e)] = pair else {
            panic!("stall events do not pair up: {stalls:#?}");
        };
        assert_eq!(e.cause, b.cause);
        assert_eq!(e.reason, b.reason);
        assert!(e.result.is_ok(), "{:?}", e.result);
        match b.cause {
            WriteStallCause::Slowdown => assert!(b.reason.contains("slowdown_runs"), "{b:?}"),
            WriteStallCause::Stop => {
                assert!(b.reason.contains("stop_runs"), "{b:?}");
                assert!(e.duration >= held, "{e:?}");
            }
            other => panic!("unexpected stall cause {other:?}"),
        }
        causes.insert(format!("{:?}", b.cause));
    }
    assert!(
        causes.contains("Slowdown") && causes.contains("Stop"),
        "{stalls:#?}"
    );
    // The stop began after the held compaction began, and ended after it
    // finished.
    let compaction_begin = position(&events, "compaction begin", |e| {
        matches!(e, Ev::CompactionBegin(_))
    });
    let compaction_end = position(
        &events,
        "compaction end",
        |e| matches!(e, Ev::CompactionEnd(c) if c.result.is_ok()),
    );
    let stop_begin = position(
        &events,
        "stop begin",
        |e| matches!(e, Ev::StallBegin(b) if b.cause == WriteStallCause::Stop),
    );
    let stop_end = position(
        &events,
        "stop end",
        |e| matches!(e, Ev::StallEnd(b) if b.cause == WriteStallCause::Stop),
    );
    assert!(compaction_begin < stop_begin && compaction_end < stop_end);
}

#[test]
fn a_failed_flush_is_one_background_error_that_refuses_writes() {
    let fs = FaultFs::new();
    let rec = Arc::new(Recorder::default());
    let opts = Options::default()
        .fs(fs.clone())
        .listener(rec.clone())
        .compaction(CompactionOptions::default().background(false));
    let db = Db::open("/db", opts).expect("open");
    db.put(b"k", b"v").expect("put");
    fs.fail_nth_sync(2);
    let err = db.flush().expect_err("the flush fails");
    let events = rec.events();
    let errors: Vec<&BackgroundErrorInfo> = events
        .iter()
        .filter_map(|e| match e {
            Ev::BackgroundError(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{events:#?}");
    assert!(errors[0].writes_refused);
    assert_eq!(errors[0].error.message(), err.message());
    // A flush that began also ended, with the error.
    if events.iter().any(|e| matches!(e, Ev::FlushBegin(_))) {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Ev::FlushEnd(f) if f.result.is_err())),
            "{events:#?}"
        );
    }
    assert_eq!(
        db.put(b"k2", b"v").expect_err("poisoned").kind(),
        ErrorKind::Poisoned
    );
    drop(db);
}

#[test]
fn corruption_found_by_reads_and_verify_names_the_table_and_offset() {
    let fs = FaultFs::new();
    let dir = Path::new("/db");
    let opts = || {
        Options::default()
            .fs(fs.clone())
            .block_size(1024)
            .compaction(CompactionOptions::default().background(false))
    };
    let db = Db::open(dir, opts()).expect("open");
    for i in 0..500 {
        db.put(key(i), format!("value-{i}")).expect("put");
    }
    db.flush().expect("flush");
    db.close().expect("close");

    // Damage the first data block of the one table.
    let tables = table_paths(&fs, dir);
    let [table]: [PathBuf; 1] = tables.try_into().expect("one table");
    let bytes = fs.file_bytes(&table).expect("table bytes");
    let layout = table_layout(&bytes);
    assert!(layout.data_end > 20);
    fs.set_file_bytes(&table, flipped(&bytes, 10, 3))
        .expect("damage");

    let rec = Arc::new(Recorder::default());
    let db = Db::open(dir, opts().listener(rec.clone())).expect("reopen (sizes still match)");
    assert!(fs.exists(&table));
    let err = db.get(key(0)).expect_err("the damaged block");
    assert_eq!(err.kind(), ErrorKind::Corruption);
    let first = db
        .iter()
        .next()
        .expect("an item")
        .expect_err("the damaged block");
    assert_eq!(first.kind(), ErrorKind::Corruption);
    let report = db.verify().expect("verify");
    assert!(!report.is_ok(), "{report}");

    let found: Vec<CorruptionInfo> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Ev::Corruption(c) => Some(c),
            _ => None,
        })
        .collect();
    let contexts: Vec<CorruptionContext> = found.iter().map(|c| c.context).collect();
    assert_eq!(
        contexts,
        vec![
            CorruptionContext::Get,
            CorruptionContext::Iterator,
            CorruptionContext::Verify
        ],
        "{found:#?}"
    );
    for c in &found {
        assert_eq!(c.db_path, dir);
        assert_eq!(c.file, table, "{c:?}");
        assert_eq!(c.offset, 0, "the first data block starts at 0: {c:?}");
        assert!(c.message.contains("data block"), "{c:?}");
    }
    db.close().expect("close");
}
