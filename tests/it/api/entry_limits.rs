//! Keys and values past the format's 4-byte lengths are refused, not
//! silently truncated (the encoding once cast the length to `u32`).

use rillkv::{Db, ErrorKind, Options, WriteBatch};

#[test]
fn a_value_of_4_gib_is_refused_and_the_batch_writes_nothing() {
    // A lazily mapped anonymous region: 4 GiB of address space, no memory
    // touched (the batch checks the length before copying). Where the
    // system refuses that much address space there is nothing to test.
    let Ok(huge) = memmap2::MmapOptions::new().len(1 << 32).map_anon() else {
        eprintln!("skipped: no 4 GiB anonymous mapping on this system");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut batch = WriteBatch::new();
    batch.put(b"small", b"1").put(b"huge", &huge[..]);
    let err = db
        .write(batch)
        .expect_err("an oversized value must be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("4 GiB"), "{err}");
    assert_eq!(db.get(b"small").expect("get"), None, "all or nothing");
    db.put(b"after", b"ok").expect("the database goes on");
    assert_eq!(db.get(b"after").expect("get").as_deref(), Some(&b"ok"[..]));
}
