//! Each `RecoveryMode` keeps its promise, exactly, for every kind of WAL
//! damage, and recovery never appends after torn bytes.
//!
//! | damage | `TolerateCorruptedTail` | `PointInTime` | `SkipCorrupted` | `AbsoluteConsistency` |
//! |---|---|---|---|---|
//! | cut inside one of the last three records | the records before the cut, tail reported | same | same | `Corruption` |
//! | cut at a record boundary | every record, nothing reported | same | same | same |
//! | zeros appended (preallocated space) | every record, nothing reported | same | same | same |
//! | random bytes appended | every record, tail reported | same | same | `Corruption` |
//! | one bit flipped in a middle record | `Corruption` naming file and offset | the records before it | every record but it | `Corruption` |
//!
//! The log holds one put per record; the last three records straddle a
//! 32 KiB block boundary, so the cuts go through FIRST, MIDDLE and LAST
//! fragments, headers and block padding. Every byte offset of the last
//! three records is cut (`RILLKV_RECOVERY_STRIDE` tests every k-th one).
//!
//! **Nothing appended after torn bytes.** After each lenient open, three
//! synced puts are written, the disk loses power, and the database is
//! reopened in `AbsoluteConsistency`: it must open with the recovered
//! records plus the new puts. A strict open succeeding proves that the new
//! writes did not land after the damage (the damaged log was replayed into
//! a table and retired) and that a second recovery finds nothing to drop.

use std::path::Path;

use rillkv::fs::{CrashMode, FaultFs};
use rillkv::{Db, ErrorKind, Options, RecoveryMode, WriteBatch, WriteOptions};

use crate::support::format::{BLOCK, HEADER, records};
use crate::support::{
    Files, Model, assert_view_matches, dir_contents, env_num, fault_image, file_name, key,
    newest_nonempty_wal, power_loss, read_all, rec_model, rec_value,
};

const DIR: &str = "/db";

const MODES: [RecoveryMode; 4] = [
    RecoveryMode::TolerateCorruptedTail,
    RecoveryMode::PointInTime,
    RecoveryMode::SkipCorrupted,
    RecoveryMode::AbsoluteConsistency,
];

/// Record value lengths: ten records fill most of the first block, the
/// last three (about 1.3 KiB) cross into the second.
fn lens() -> Vec<usize> {
    let mut l = vec![3_150; 10];
    l.extend([420, 700, 160]);
    l
}

/// The database after one put per record, closed cleanly with its log
/// still holding every record (a clean close does not flush).
fn base() -> (Files, usize) {
    let fs = FaultFs::new();
    let db = Db::open(DIR, Options::default().fs(fs.clone())).expect("open");
    for (i, &len) in lens().iter().enumerate() {
        db.put(key(i as u64), rec_value(i, len)).expect("put");
    }
    db.close().expect("close");
    let files = dir_contents(&fs, Path::new(DIR));
    let w = newest_nonempty_wal(&files);
    (files, w)
}

/// The expected outcome of opening a damaged image.
#[derive(Debug, Clone)]
enum Want {
    /// Opens with exactly this model; `dropped` says whether damage is
    /// reported in `stats().dropped_log_tails`.
    Opens { model: Model, dropped: bool },
    /// Fails with `Corruption` naming the log (and this offset, if given).
    Corrupt { offset: Option<usize> },
}

/// Probes: every record key and one past the end.
fn probes() -> Vec<Vec<u8>> {
    (0..=lens().len() as u64).map(key).collect()
}

/// Opens `files` in `mode` and checks the outcome; if it opened, writes
/// three synced puts, loses power and checks a strict reopen.
fn check(files: &Files, wal: &Path, mode: RecoveryMode, want: &Want, ctx: &str) {
    let ctx = format!("{ctx}, {mode:?}");
    let fs = fault_image(Path::new(DIR), files);
    let opened = Db::open(DIR, Options::default().fs(fs.clone()).recovery_mode(mode));
    match (want, opened) {
        (Want::Corrupt { offset }, Err(e)) => {
            assert_eq!(e.kind(), ErrorKind::Corruption, "{ctx}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(&file_name(wal)), "{ctx}: names the log: {msg}");
            if let Some(off) = offset {
                assert!(
                    msg.contains(&format!("offset {off}")),
                    "{ctx}: names offset {off}: {msg}"
                );
            }
            // A refused open changes nothing on disk.
            assert_eq!(
                &dir_contents(&fs, Path::new(DIR)),
                files,
                "{ctx}: a failed open modified the directory"
            );
        }
        (Want::Corrupt { .. }, Ok(db)) => {
            panic!(
                "{ctx}: opened with {} keys, expected Corruption",
                read_all(&db).len()
            )
        }
        (Want::Opens { .. }, Err(e)) => panic!("{ctx}: open failed: {e}"),
        (Want::Opens { model, dropped }, Ok(db)) => {
            assert_view_matches(&db, model, &probes(), &ctx);
            let reported = !db.stats().dropped_log_tails.is_empty();
            assert_eq!(
                reported,
                *dropped,
                "{ctx}: damage reported: {:?}",
                db.stats().dropped_log_tails
            );
            write_more_then_strict_reopen(&fs, db, model, &ctx);
        }
    }
}

/// Three synced puts on top of a recovered database, a power loss, and a
/// reopen in `AbsoluteConsistency` that must find no damage at all.
fn write_more_then_strict_reopen(fs: &FaultFs, db: Db, model: &Model, ctx: &str) {
    let mut want = model.clone();
    for i in 0..3 {
        let (k, v) = (
            format!("after{i}").into_bytes(),
            format!("more{i}").into_bytes(),
        );
        let mut b = WriteBatch::new();
        b.put(&k, &v);
        db.write_opt(b, &WriteOptions::default().sync(true))
            .unwrap_or_else(|e| panic!("{ctx}: write after recovery: {e}"));
        want.insert(k, v);
    }
    power_loss(fs, db, CrashMode::DropUnsynced);
    let opts = Options::default()
        .fs(fs.clone())
        .recovery_mode(RecoveryMode::AbsoluteConsistency);
    let db = Db::open(DIR, opts).unwrap_or_else(|e| {
        panic!("{ctx}: strict reopen after writing on a recovered database: {e}")
    });
    let mut probes = probes();
    probes.extend((0..3).map(|i| format!("after{i}").into_bytes()));
    assert_view_matches(&db, &want, &probes, &format!("{ctx}, strict reopen"));
    assert!(db.stats().dropped_log_tails.is_empty());
    db.close().expect("close");
}

#[test]
fn cut_at_every_byte_of_the_last_three_records() {
    let lens = lens();
    let (files, w) = base();
    let (wal, bytes) = files[w].clone();
    let recs = records(&bytes);
    assert_eq!(recs.len(), lens.len(), "one record per put");
    let first_cut = recs[recs.len() - 3].0;
    assert!(
        first_cut < BLOCK && bytes.len() > BLOCK,
        "the last three records cross a block boundary"
    );
    let stride = env_num("RILLKV_RECOVERY_STRIDE", 1).max(1) as usize;
    let mut cuts = 0;
    let mut torn_cuts = 0;
    for cut in (first_cut..=bytes.len()).step_by(stride) {
        let complete = recs.iter().filter(|r| r.1 <= cut).count();
        let end = if complete == 0 {
            0
        } else {
            recs[complete - 1].1
        };
        // Zeros after the last complete record (block padding, or a header
        // cut after zero bytes) read as the clean end of the log.
        let torn = cut > end && !bytes[end..cut].iter().all(|&b| b == 0);
        let mut damaged = files.clone();
        damaged[w].1.truncate(cut);
        let ctx = format!(
            "cut at {cut} of {} ({complete} complete records)",
            bytes.len()
        );
        let model = rec_model(&lens, complete);
        for mode in MODES {
            let want = if torn && mode == RecoveryMode::AbsoluteConsistency {
                Want::Corrupt { offset: None }
            } else {
                Want::Opens {
                    model: model.clone(),
                    dropped: torn,
                }
            };
            check(&damaged, &wal, mode, &want, &ctx);
        }
        cuts += 1;
        torn_cuts += usize::from(torn);
    }
    eprintln!(
        "recovery_modes: {cuts} cuts ({torn_cuts} torn) x {} modes, each followed by writes, \
         a power loss and a strict reopen",
        MODES.len()
    );
}

#[test]
fn zeros_or_random_bytes_after_the_last_record() {
    let lens = lens();
    let (files, w) = base();
    let wal = files[w].0.clone();
    let all = rec_model(&lens, lens.len());
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut cases = 0;
    for n in [1, 6, 7, 8, 100, 4096, BLOCK + 5] {
        for garbage in [false, true] {
            let mut damaged = files.clone();
            let tail: Vec<u8> = if garbage {
                (0..n).map(|_| rng.u8(..)).collect()
            } else {
                vec![0; n]
            };
            damaged[w].1.extend_from_slice(&tail);
            let ctx = format!(
                "{n} {} bytes appended",
                if garbage { "random" } else { "zero" }
            );
            for mode in MODES {
                // Zeros to the end of the file are where a preallocated
                // log ends, in every mode; garbage is a torn tail.
                let want = if garbage && mode == RecoveryMode::AbsoluteConsistency {
                    Want::Corrupt { offset: None }
                } else {
                    Want::Opens {
                        model: all.clone(),
                        dropped: garbage,
                    }
                };
                check(&damaged, &wal, mode, &want, &ctx);
                cases += 1;
            }
        }
    }
    eprintln!("recovery_modes: {cases} appended-tail cases");
}

#[test]
fn one_bit_flipped_in_a_middle_record() {
    let lens = lens();
    let (files, w) = base();
    let (wal, bytes) = files[w].clone();
    let recs = records(&bytes);
    let victim = recs.len() / 2;
    let (start, end) = recs[victim];
    let all_but_victim: Model = rec_model(&lens, lens.len())
        .into_iter()
        .filter(|(k, _)| *k != key(victim as u64))
        .collect();
    // Every header byte, then a stride through the payload.
    let stride = env_num("RILLKV_RECOVERY_STRIDE", 1).max(1) as usize;
    let mut positions: Vec<usize> = (start..start + HEADER).collect();
    positions.extend((start + HEADER..end).step_by(7 * stride));
    positions.push(end - 1);
    for &pos in &positions {
        let bit = pos % 8;
        let mut damaged = files.clone();
        damaged[w].1[pos] ^= 1 << bit;
        let ctx = format!("bit {bit} of byte {pos} flipped (record {victim} at {start}..{end})");
        for mode in MODES {
            let want = match mode {
                RecoveryMode::PointInTime => Want::Opens {
                    model: rec_model(&lens, victim),
                    dropped: true,
                },
                RecoveryMode::SkipCorrupted => Want::Opens {
                    model: all_but_victim.clone(),
                    dropped: true,
                },
                _ => Want::Corrupt {
                    offset: Some(start),
                },
            };
            check(&damaged, &wal, mode, &want, &ctx);
        }
    }
    eprintln!(
        "recovery_modes: {} flips in record {victim}, each in {} modes",
        positions.len(),
        MODES.len()
    );
}
