//! SIGKILL while checkpoints and backups are being made: a child process
//! writes counters from one thread and makes checkpoints and backups in a
//! loop from another until it is killed. After each kill the source opens
//! with every acknowledged write; every checkpoint the child finished opens
//! and holds a gap-free prefix of the counters; an unfinished one either
//! opens the same way or is refused with an error (tables without
//! `CURRENT`), never a panic or a wrong value; every backup the child
//! finished is listed, verifies and restores to a prefix; an unfinished one
//! is not listed; a purge after the kill keeps what it should.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rillkv::{BackupEngine, CompactionOptions, Db, Options};

use crate::support::{child_command, collect, env_num, run_then_kill, value};

const ENV_ROOT: &str = "RILLKV_KILL_COPY_ROOT";

fn opts() -> Options {
    Options::default()
        .memtable_size(32 << 10)
        .compaction(CompactionOptions::default().max_merge_files(2))
}

fn counter(n: u64) -> String {
    format!("c/{n:010}")
}

/// Reads `db`'s counters: they must be `0..m` with the right values;
/// returns `m`.
fn prefix_len(db: &Db, what: &str) -> u64 {
    let all = collect(db.prefix(b"c/"));
    for (n, (k, v)) in all.iter().enumerate() {
        assert_eq!(k.as_slice(), counter(n as u64).as_bytes(), "{what}: a hole");
        assert_eq!(v.as_slice(), value(n as u64, 40), "{what}: a wrong value");
    }
    all.len() as u64
}

/// The child: a writer thread puts counters, printing `ack N`; this thread
/// alternates checkpoints (`cp <name>` once made) and backups (`backup
/// <id>` once made) until killed.
#[test]
fn child_copier() {
    let Ok(root) = std::env::var(ENV_ROOT) else {
        return;
    };
    let root = Path::new(&root);
    let cycle = std::env::var("RILLKV_KILL_COPY_CYCLE").unwrap_or_default();
    let db = Db::open(root.join("db"), opts()).expect("child: open");
    let mut backups = BackupEngine::open(root.join("backups")).expect("child: backups");
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = prefix_len(&db, "child start");
            for n in start.. {
                db.put(counter(n), value(n, 40)).expect("child: put");
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {n}").expect("stdout");
                out.flush().expect("stdout");
            }
        });
        for i in 0u64.. {
            let name = format!("cp-{cycle}-{i}");
            db.checkpoint(root.join(&name)).expect("child: checkpoint");
            let mut out = std::io::stdout().lock();
            writeln!(out, "cp {name}").expect("stdout");
            out.flush().expect("stdout");
            drop(out);
            let info = backups.create(&db).expect("child: backup");
            let mut out = std::io::stdout().lock();
            writeln!(out, "backup {}", info.id).expect("stdout");
            out.flush().expect("stdout");
        }
    });
}

#[test]
fn sigkill_during_checkpoints_and_backups() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    Db::open(root.join("db"), opts())
        .expect("create")
        .close()
        .expect("close");
    let cycles = env_num("RILLKV_CRASH_CYCLES", 20).min(env_num("RILLKV_COPY_KILLS", 6));
    let mut rng = fastrand::Rng::with_seed(42);
    let mut finished_backups = BTreeSet::new();
    let mut refused = 0;
    let mut total_backups = 0;
    for cycle in 0..cycles {
        let mut cmd = child_command(module_path!(), "child_copier");
        cmd.env(ENV_ROOT, root)
            .env("RILLKV_KILL_COPY_CYCLE", cycle.to_string());
        let lines = run_then_kill(cmd, Duration::from_millis(rng.u64(300..900)));
        let acked = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ack ")?.parse::<u64>().ok())
            .max();
        let finished_cps: BTreeSet<&str> =
            lines.iter().filter_map(|l| l.strip_prefix("cp ")).collect();
        finished_backups.extend(
            lines
                .iter()
                .filter_map(|l| l.strip_prefix("backup ")?.parse::<u64>().ok()),
        );
        total_backups += finished_backups.len();

        // The source: every acknowledged write.
        let db = Db::open(root.join("db"), opts()).expect("the source opens after the kill");
        let m = prefix_len(&db, "source");
        if let Some(acked) = acked {
            assert!(
                m > acked,
                "cycle {cycle}: the source lost ack {acked} (has {m})"
            );
        }
        db.close().expect("close source");

        // This cycle's checkpoints: finished ones open; unfinished ones
        // open as a prefix or are refused.
        for entry in std::fs::read_dir(root).expect("list root") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if !name.starts_with(&format!("cp-{cycle}-")) {
                continue;
            }
            let finished = finished_cps.contains(name.as_str());
            match Db::open(&path, opts()) {
                Ok(cp) => {
                    let n = prefix_len(&cp, &name);
                    assert!(n <= m, "{name}: {n} counters, more than the source's {m}");
                    cp.close().expect("close checkpoint");
                }
                Err(e) => {
                    assert!(!finished, "{name} was finished but does not open: {e}");
                    refused += 1;
                }
            }
            std::fs::remove_dir_all(&path).expect("remove checkpoint");
        }

        // Backups: the finished ones are listed and verify; the newest
        // restores to a prefix.
        let mut backups = BackupEngine::open(root.join("backups")).expect("backups open");
        let listed = backups.list().expect("list");
        let ids: BTreeSet<u64> = listed.iter().map(|b| b.id).collect();
        for id in &finished_backups {
            assert!(
                ids.contains(id),
                "cycle {cycle}: finished backup {id} is not listed"
            );
        }
        for b in &listed {
            backups.verify(b.id).expect("a listed backup verifies");
        }
        if let Some(newest) = listed.iter().max_by_key(|b| b.id) {
            let target = root.join(format!("restored-{cycle}"));
            backups.restore(newest.id, &target).expect("restore");
            let restored = Db::open(&target, opts()).expect("a restored backup opens");
            let n = prefix_len(&restored, "restored");
            assert!(n <= m, "restored {n} counters, more than the source's {m}");
            restored.close().expect("close restored");
            std::fs::remove_dir_all(&target).expect("remove restored");
        }
        // Keep the directory small for the next cycle (and purge after a
        // kill, too).
        backups.purge(2).expect("purge");
        assert!(backups.list().expect("list").len() <= 2);
        finished_backups.clear();
    }
    eprintln!(
        "{cycles} kills during checkpoints and backups: {} backups finished, {refused} unfinished checkpoints refused",
        total_backups
    );
}
