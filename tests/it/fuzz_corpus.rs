//! Replays the fuzz corpora on stable Rust: every fuzz target body
//! (`rillkv::internals::fuzzing`) runs over every file in
//! `fuzz/corpus/<target>/` (seeds and kept regressions), any local
//! `fuzz/artifacts/<target>/` crash files, the seeds generated in memory,
//! and a few thousand deterministic mutations of them.
//!
//! Run: `cargo test --release --features internals --test it fuzz_corpus`.
//! A failing input is written to `$CARGO_TARGET_TMPDIR/fuzz-failures/`
//! and named in the panic message; replay it with
//! `cargo +nightly fuzz run <target> <file>` in `fuzz/`.
//!
//! Reproducers of bugs the fuzzers found are kept in the corpus as
//! `regression-*` files.
//!
//! Knobs: `RILLKV_FUZZ_MUTATIONS` scales the mutation count (default 1 =
//! the budget below); `RILLKV_WRITE_FUZZ_SEEDS` set makes
//! `write_seed_corpus` (re)write the generated seeds into `fuzz/corpus/`.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rillkv::internals::fuzzing::{TARGETS, Target, seeds};

use crate::support::env_num;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted by name; none if it does not exist.
fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = fs::read(e.path()).expect("read corpus file");
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}

fn body(target: &str) -> Target {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .expect("known target")
}

/// Runs `f` on `data`; on a panic, saves the input and fails naming it.
fn run(target: &str, label: &str, f: Target, data: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| f(data))).is_err() {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
        fs::create_dir_all(&dir).expect("mkdir");
        let safe: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{target}-{safe}"));
        fs::write(&path, data).expect("save failing input");
        panic!(
            "fuzz target {target} failed on {label}; input saved to {} \
             (replay: cd fuzz && cargo +nightly fuzz run {target} {})",
            path.display(),
            path.display()
        );
    }
}

/// One random change to `data`: bit flips, byte values, inserts, deletes,
/// truncation, duplicated chunks, splices from `other`, small integers.
fn mutate(rng: &mut fastrand::Rng, data: &mut Vec<u8>, other: &[u8]) {
    let len = data.len();
    match rng.u8(0..9) {
        0 if len > 0 => {
            let i = rng.usize(..len);
            data[i] ^= 1 << rng.u8(0..8);
        }
        1 if len > 0 => {
            let i = rng.usize(..len);
            data[i] = *rng.choice(&[0u8, 1, 0x7f, 0x80, 0xff]).expect("choices");
        }
        2 => {
            let at = rng.usize(..=len);
            let n = rng.usize(1..16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            data.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let at = rng.usize(..len);
            let n = rng.usize(1..=(len - at).min(64));
            data.drain(at..at + n);
        }
        4 if len > 0 => data.truncate(rng.usize(..len)),
        5 if len > 0 => {
            let at = rng.usize(..len);
            let n = rng.usize(1..=(len - at).min(256));
            let chunk = data[at..at + n].to_vec();
            let to = rng.usize(..=len);
            data.splice(to..to, chunk);
        }
        6 if !other.is_empty() => {
            let at = rng.usize(..other.len());
            let n = rng.usize(1..=(other.len() - at).min(512));
            let to = rng.usize(..=len);
            data.splice(to..to, other[at..at + n].iter().copied());
        }
        7 if len >= 4 => {
            let at = rng.usize(..=len - 4);
            let v: u32 = *rng
                .choice(&[0u32, 1, 0xff, 0x100, 0xffff, u32::MAX, len as u32])
                .expect("choices");
            data[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        _ => {
            let at = rng.usize(..=len);
            data.insert(at, rng.u8(..));
        }
    }
}

fn scale() -> usize {
    env_num("RILLKV_FUZZ_MUTATIONS", 1) as usize
}

/// Replays corpus, artifacts and seeds of `target`, then `mutations`
/// mutated inputs.
fn replay(target: &str, mutations: usize) {
    let started = Instant::now();
    let f = body(target);
    let mut inputs = files_in(&fuzz_dir().join("corpus").join(target));
    let on_disk = inputs.len();
    inputs.extend(
        files_in(&fuzz_dir().join("artifacts").join(target))
            .into_iter()
            .map(|(n, b)| (format!("artifact-{n}"), b)),
    );
    inputs.extend(
        seeds()
            .into_iter()
            .filter(|(t, _, _)| *t == target)
            .map(|(_, n, b)| (format!("generated-{n}"), b)),
    );
    assert!(!inputs.is_empty(), "{target}: no corpus and no seeds");
    for (name, data) in &inputs {
        run(target, name, f, data);
    }
    let mut rng = fastrand::Rng::with_seed(0x5eed_f022 ^ target.len() as u64);
    let total = mutations * scale();
    for i in 0..total {
        let (name, base) = &inputs[rng.usize(..inputs.len())];
        let (_, other) = &inputs[rng.usize(..inputs.len())];
        let mut data = base.clone();
        for _ in 0..rng.usize(1..=4) {
            mutate(&mut rng, &mut data, other);
        }
        run(target, &format!("mutation{i}-of-{name}"), f, &data);
    }
    eprintln!(
        "fuzz_corpus {target}: {} inputs ({on_disk} in fuzz/corpus) + {total} mutations \
         in {:.1?}",
        inputs.len(),
        started.elapsed()
    );
}

#[test]
fn wal_reader() {
    replay("wal_reader", 4000);
}

#[test]
fn wal_recovery() {
    replay("wal_recovery", 1500);
}

#[test]
fn manifest_replay() {
    replay("manifest_replay", 1500);
}

#[test]
fn block_decoder() {
    replay("block_decoder", 4000);
}

#[test]
fn table_scan() {
    replay("table_scan", 4000);
}

#[test]
fn db_ops() {
    replay("db_ops", 800);
}

/// Every target has a corpus directory with files in it.
#[test]
fn every_target_has_a_checked_in_corpus() {
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        assert!(
            !files_in(&dir).is_empty(),
            "{} is empty: run RILLKV_WRITE_FUZZ_SEEDS=1 cargo test --release --features \
             internals --test it fuzz_corpus::write_seed_corpus",
            dir.display()
        );
    }
}

/// With `RILLKV_WRITE_FUZZ_SEEDS` set, writes the generated seeds into
/// `fuzz/corpus/<target>/` (files named `seed-*`, replaced).
#[test]
fn write_seed_corpus() {
    if std::env::var_os("RILLKV_WRITE_FUZZ_SEEDS").is_none() {
        return;
    }
    for (target, name, bytes) in seeds() {
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join(&name), bytes).expect("write seed");
    }
}
