//! Table-driven tests of the merge policy, in the style of Pebble's
//! compaction-picker `testdata/`: each file in `testdata/` describes trees
//! and the job the policy must pick for them.
//!
//! # The testdata format
//! One command per line; `#` starts a comment; blank lines are ignored.
//!
//! ```text
//! case NAME                       start a new case: empty tree, base options
//! options KEY=VALUE ...           set options (cumulative within the case)
//! run ID: NUM[MIN-MAX]:SIZE ...   add run ID holding those tables
//! expect none | FIELD=VALUE ...   TieredPolicy::pick on the tree
//! expect-full none | FIELD=VALUE  full_job on the tree
//! expect-range MIN-MAX: FIELD=... range_jobs for that key range
//! expect-shape FIELD=VALUE ...    TreeShape statistics
//! expect-group I: FIELD=VALUE ... the I-th overlap group (in key order)
//! apply NUM                       run the picked job as table NUM: inputs
//!                                 removed, one table (their key hull, their
//!                                 summed size) added to the output run
//! ```
//!
//! Keys are strings without `-`, `[` or `]`. The base options are the
//! defaults with `merge_workers=1`, so `fan_in` does not depend on the
//! machine's cores. Option keys: `max_merge_files`, `overlap_ratio_trigger`,
//! `min_merge_width`, `tier_size_ratio`, `max_memory`, `merge_workers`,
//! `max_fan_in`.
//!
//! Only the fields an `expect` line names are compared, so a case states
//! just what it is about. Job fields: `reason` (`file-count`,
//! `overlap-ratio`, `size-tiered`, `manual`), `runs`, `tables` (newest run
//! first, by key within a run), `output`, `bottom`, `fan_in`, `rounds`,
//! `range` (`MIN-MAX`), `bytes`. Shape fields: `runs`, `tables`, `bytes`,
//! `groups`, `depth` (the deepest group). Range fields: `jobs` (how
//! many), and `reason`, `runs`, `tables`, `output`, `bottom`, `range` of
//! each job, joined by `|`. Group fields: `runs`, `tables`,
//! `depth`, `ratio` (three decimals), `range`, `bytes`.
//!
//! Besides the named fields, every job the policy picks is checked against
//! the laws any correct job obeys (see [`job_law_violations`]).

use std::collections::BTreeSet;

use bytes::Bytes;

use super::*;
use crate::compaction::{RunShape, TableShape};

mod datadriven;
use datadriven::*;

/// Runs one testdata file, failing with every mismatch found in it.
macro_rules! testdata {
    ($test:ident, $file:literal) => {
        #[test]
        fn $test() {
            run_file($file, include_str!(concat!("testdata/", $file)));
        }
    };
}

testdata!(seed_demo, "seed_demo.txt");
testdata!(no_overlap, "no_overlap.txt");
testdata!(file_count, "file_count.txt");
testdata!(overlap_ratio, "overlap_ratio.txt");
testdata!(size_tiered, "size_tiered.txt");
testdata!(priority, "priority.txt");
testdata!(fan_in, "fan_in.txt");
testdata!(full, "full_job.txt");
testdata!(groups, "groups.txt");
testdata!(chain, "chain.txt");

/// Every file in `testdata/` is listed above, so none is silently skipped.
#[test]
fn every_testdata_file_is_run() {
    let listed: BTreeSet<&str> = [
        "seed_demo.txt",
        "no_overlap.txt",
        "file_count.txt",
        "overlap_ratio.txt",
        "size_tiered.txt",
        "priority.txt",
        "fan_in.txt",
        "full_job.txt",
        "groups.txt",
        "chain.txt",
    ]
    .into_iter()
    .collect();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/compaction/policy/testdata");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".txt"))
        .collect();
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(
        on_disk, listed,
        "add new testdata files to the testdata! list"
    );
}

#[test]
fn fan_in_fits_the_memory_budget() {
    const MIB: u64 = 1 << 20;
    // (max_memory, merge_workers, max_fan_in) -> fan_in, where
    // fan_in = (max_memory / workers - 4 MiB) / 256 KiB, clamped to 2..=max_fan_in.
    let cases: &[(u64, usize, usize, usize)] = &[
        (8 * MIB, 1, 32, 16),     // (8 - 4) MiB / 256 KiB
        (9 * MIB, 1, 32, 20),     // 5 MiB / 256 KiB
        (8 * MIB, 2, 32, 2),      // 4 MiB per worker leaves nothing: clamped up to 2
        (5 * MIB, 1, 32, 4),      // below the validated minimum, still well defined
        (0, 1, 32, 2),            // nothing fits: still a 2-way merge
        (256 * MIB, 1, 32, 32),   // 1008 fit: clamped to max_fan_in
        (256 * MIB, 8, 32, 32),   // 32 MiB per worker: 112 fit, clamped
        (256 * MIB, 8, 200, 112), // (32 - 4) MiB / 256 KiB
        (1024 * MIB, 1, 10_000, 4080),
        (9 * MIB, 0, 32, 20), // zero workers counts as one
        (256 * MIB, 1, 1, 2), // max_fan_in below 2 counts as 2
        (4 * MIB + (256 << 10) * 3, 1, 32, 3),
    ];
    for &(max_memory, workers, max_fan_in, want) in cases {
        let opts = CompactionOptions::default()
            .max_memory(max_memory)
            .merge_workers(workers)
            .max_fan_in(max_fan_in);
        assert_eq!(
            fan_in_for(&opts),
            want,
            "max_memory={max_memory} merge_workers={workers} max_fan_in={max_fan_in}"
        );
    }
}

#[test]
fn rounds_fit_the_fan_in() {
    // (inputs, fan_in) -> rounds. One round when every input fits.
    let cases: &[(usize, usize, usize)] = &[
        (0, 2, 1),
        (1, 2, 1),
        (2, 2, 1),
        (3, 2, 2),
        (4, 2, 2),
        (5, 2, 3),
        (8, 2, 3),
        (9, 2, 4),
        (16, 16, 1),
        (17, 16, 2),
        (256, 16, 2),
        (257, 16, 3),
        (20, 8, 2), // 20 runs at fan-in 8: two rounds
        (16, 4, 2),
        (17, 4, 3),
        (32, 32, 1),
        (33, 32, 2),
        (3, 0, 2), // a fan-in below 2 counts as 2
    ];
    for &(inputs, fan_in, want) in cases {
        assert_eq!(
            rounds_for(inputs, fan_in),
            want,
            "inputs={inputs} fan_in={fan_in}"
        );
    }
}

/// `rounds_for` never claims fewer rounds than any plan could need: with
/// fan-in F, r rounds reduce at most F^r inputs to one.
///
/// It is not always the minimum: an earlier round only makes full-width
/// merges, so `rounds_for(8, 3)` is 3 although merging 3+3+2 and then the
/// three results takes 2 (likewise `rounds_for(47, 16)` and
/// `rounds_for(95, 32)` are 3, not 2). Only the lower bound is a law.
#[test]
fn rounds_are_never_fewer_than_possible() {
    for fan_in in 2..=40usize {
        for inputs in 1..=2000usize {
            let rounds = rounds_for(inputs, fan_in);
            let mut reach = 1usize;
            let mut lower = 0usize;
            while reach < inputs {
                reach = reach.saturating_mul(fan_in);
                lower += 1;
            }
            assert!(
                rounds >= lower.max(1),
                "rounds_for({inputs}, {fan_in}) = {rounds} < {lower}"
            );
        }
    }
}

#[test]
fn overlap_ratio_is_the_share_outside_the_largest_run() {
    // (run bytes, newest first) -> ratio = 1 - largest / total.
    let cases: &[(&[u64], f64)] = &[
        (&[], 0.0),
        (&[100], 0.0),
        (&[0, 0], 0.0),
        (&[100, 100], 0.5),
        (&[30, 50, 20], 0.5),
        (&[1000, 100, 100], 1.0 - 1000.0 / 1200.0),
        (&[1, 1, 1, 1], 0.75),
        (&[64, 128, 256, 512], 1.0 - 512.0 / 960.0),
    ];
    for &(bytes, want) in cases {
        let group = OverlapGroup {
            range: KeyRange::new("a", "z"),
            runs: bytes
                .iter()
                .enumerate()
                .map(|(i, &b)| GroupRun {
                    id: (bytes.len() - i) as u64,
                    tables: vec![i as u64],
                    bytes: b,
                })
                .collect(),
            depth: bytes.len(),
        };
        assert!(
            (group.overlap_ratio() - want).abs() < 1e-12,
            "{bytes:?}: {} != {want}",
            group.overlap_ratio()
        );
        assert_eq!(group.depth(), bytes.len());
        assert_eq!(group.bytes(), bytes.iter().sum::<u64>());
    }
}

/// The policy is a pure function: the same shape and options give the same
/// job, and a shape built from runs in any order is the same shape.
#[test]
fn pick_is_a_pure_function_of_the_shape() {
    let t = |n: u64, a: &str, b: &str, size: u64| TableShape {
        number: n,
        range: KeyRange::new(Bytes::from(a.to_owned()), Bytes::from(b.to_owned())),
        size,
    };
    let runs = vec![
        RunShape {
            id: 1,
            tables: vec![t(1, "a", "z", 1000)],
        },
        RunShape {
            id: 3,
            tables: vec![t(4, "m", "z", 10), t(3, "a", "k", 10)],
        },
        RunShape {
            id: 2,
            tables: vec![t(2, "a", "z", 10)],
        },
        RunShape {
            id: 4,
            tables: vec![t(5, "a", "z", 20)],
        },
    ];
    let mut reversed = runs.clone();
    reversed.reverse();
    let (a, b) = (TreeShape::new(runs), TreeShape::new(reversed));
    assert_eq!(a, b);
    assert_eq!(
        a.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![4, 3, 2, 1]
    );
    let opts = base_options().min_merge_width(3);
    let job = TieredPolicy
        .pick(&a, &opts)
        .expect("three similar runs over a big one");
    assert_eq!(Some(&job), TieredPolicy.pick(&b, &opts).as_ref());
    assert_eq!(job.reason, CompactionReason::SizeTiered);
    assert_eq!(job.tables().collect::<Vec<_>>(), vec![5, 3, 4, 2]);
    assert_eq!(job.output_run, 4);
    assert!(!job.bottom);
    assert_eq!(job.bytes(), 50);
}

// ---------------------------------------------------------------------------
/// The law checker itself catches broken jobs, so a policy that broke them
/// would fail every testdata expectation that picks a job.
#[test]
fn laws_catch_broken_jobs() {
    let t = |n: u64, a: &str, b: &str| TableShape {
        number: n,
        range: KeyRange::new(Bytes::from(a.to_owned()), Bytes::from(b.to_owned())),
        size: 10,
    };
    let shape = TreeShape::new(vec![
        RunShape {
            id: 3,
            tables: vec![t(3, "a", "z")],
        },
        RunShape {
            id: 2,
            tables: vec![t(2, "a", "z")],
        },
        RunShape {
            id: 1,
            tables: vec![t(1, "a", "z"), t(4, "zz", "zzz")],
        },
    ]);
    let run = |id: u64, n: u64| GroupRun {
        id,
        tables: vec![n],
        bytes: 10,
    };
    let good = CompactionJob {
        reason: CompactionReason::SizeTiered,
        inputs: vec![run(3, 3), run(2, 2)],
        range: KeyRange::new("a", "z"),
        output_run: 3,
        bottom: false,
        fan_in: 32,
        rounds: 1,
    };
    assert_eq!(
        job_law_violations(&shape, &good, true),
        Vec::<String>::new()
    );
    let broken = |f: &dyn Fn(&mut CompactionJob)| {
        let mut job = good.clone();
        f(&mut job);
        job_law_violations(&shape, &job, true)
    };
    // Skipping run 2 would put run 1's versions above run 2's.
    assert!(!broken(&|j| j.inputs = vec![run(3, 3), run(1, 1)]).is_empty());
    assert!(!broken(&|j| j.output_run = 2).is_empty());
    assert!(!broken(&|j| j.bottom = true).is_empty());
    assert!(!broken(&|j| j.range = KeyRange::new("b", "z")).is_empty());
    assert!(!broken(&|j| j.inputs = vec![run(3, 3)]).is_empty());
    assert!(!broken(&|j| j.inputs = vec![run(2, 2), run(3, 3)]).is_empty());
    assert!(!broken(&|j| j.inputs[1].bytes = 11).is_empty());
    assert!(!broken(&|j| j.inputs[1].tables = vec![9]).is_empty());
    assert!(!broken(&|j| j.rounds = 2).is_empty());
    // Run 1's table 4 lies outside the inputs: the job is still at the bottom.
    let bottom = CompactionJob {
        inputs: vec![run(3, 3), run(2, 2), run(1, 1)],
        bottom: true,
        ..good.clone()
    };
    assert_eq!(
        job_law_violations(&shape, &bottom, true),
        Vec::<String>::new()
    );
}
