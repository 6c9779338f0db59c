//! Arbitrary bytes as a WAL: opening the database must never panic, and in
//! every recovery mode either fail with a typed error or open with whatever
//! valid prefix the bytes hold.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rillkv::fs::{FaultFs, Fs};
use rillkv::{Db, Options, RecoveryMode};

fuzz_target!(|data: &[u8]| {
    let fs = FaultFs::new();
    let dir = Path::new("/db");
    fs.create_dir_all(dir).expect("mkdir");
    let mut f = fs.create(&dir.join("000001.wal")).expect("create");
    f.append(data).expect("append");
    f.sync().expect("sync");
    fs.sync_dir(dir).expect("sync dir");
    for mode in [
        RecoveryMode::TolerateCorruptedTail,
        RecoveryMode::PointInTime,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let opts = Options::default().fs(fs.clone()).recovery_mode(mode);
        if let Ok(db) = Db::open(dir, opts) {
            for item in db.iter() {
                if item.is_err() {
                    break;
                }
            }
            let _ = db.close();
        }
    }
});
