//! Nonsense options and misuse are refused with the right `ErrorKind`
//! (never a panic): a memtable size below the minimum, a missing database
//! without `create_if_missing`, an existing one with `error_if_exists`, a
//! merge without a merge operator, any use after close. And the public
//! types have the thread-safety the docs promise (checked at compile time).

use rillkv::fs::FaultFs;
use rillkv::{Db, DbIter, ErrorKind, Options, Snapshot, WriteBatch};

// Compile-time: `Db` is a cheap shareable handle; snapshots and iterators
// are owned and may move to other threads.
const _: () = {
    const fn db_is_clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    const fn send_static<T: Send + 'static>() {}
    db_is_clone_send_sync::<Db>();
    send_static::<Snapshot>();
    send_static::<DbIter>();
    send_static::<rillkv::Error>();
};

fn kind<T: std::fmt::Debug>(r: rillkv::Result<T>) -> ErrorKind {
    r.expect_err("must fail").kind()
}

#[test]
fn memtable_size_below_minimum_is_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    for size in [0, 1, 4095] {
        let err =
            Db::open(dir.path(), Options::default().memtable_size(size)).expect_err("too small");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{size}: {err}");
        assert!(
            err.to_string().contains("memtable_size"),
            "the message names the option: {err}"
        );
    }
    assert_eq!(
        kind(Db::open(
            dir.path(),
            Options::default().max_sealed_memtables(0)
        )),
        ErrorKind::InvalidArgument
    );
    Db::open(dir.path(), Options::default().memtable_size(4096))
        .expect("the minimum is accepted")
        .close()
        .expect("close");
}

#[test]
fn missing_database_without_create_if_missing_is_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let err = Db::open(&missing, Options::default().create_if_missing(false)).expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        !missing.exists(),
        "a refused open must not create the directory"
    );

    // Also on the fault-injecting filesystem.
    let fs = FaultFs::new();
    assert_eq!(
        kind(Db::open(
            "/nope",
            Options::default().fs(fs.clone()).create_if_missing(false)
        )),
        ErrorKind::InvalidArgument
    );

    // Once created, `create_if_missing(false)` opens it.
    Db::open(&missing, Options::default())
        .expect("create")
        .close()
        .expect("close");
    Db::open(&missing, Options::default().create_if_missing(false))
        .expect("existing database opens")
        .close()
        .expect("close");
}

/// An existing but empty directory holds no database: without
/// `create_if_missing` the open is refused, as the docs of `Db::open` say
/// ("a missing database with `create_if_missing(false)`").
#[test]
fn empty_directory_without_create_if_missing_is_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Db::open(dir.path(), Options::default().create_if_missing(false))
        .expect_err("an empty directory is not a database");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
    assert!(
        left.is_empty(),
        "a refused open must not create files: {left:?}"
    );
}

#[test]
fn existing_database_with_error_if_exists_is_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    Db::open(dir.path(), Options::default().error_if_exists(true))
        .expect("a new database is fine")
        .close()
        .expect("close");
    let err = Db::open(dir.path(), Options::default().error_if_exists(true)).expect_err("exists");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    // The refused open released the lock.
    Db::open(dir.path(), Options::default())
        .expect("plain open")
        .close()
        .expect("close");
}

#[test]
fn merge_without_operator_is_invalid_and_harmless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("k", "v").expect("put");
    assert_eq!(kind(db.merge("k", "+1")), ErrorKind::InvalidArgument);
    let mut batch = WriteBatch::new();
    batch.put("a", "1").merge("k", "+1");
    assert_eq!(kind(db.write(batch)), ErrorKind::InvalidArgument);
    // Nothing of the refused batch was applied and the database still writes.
    assert!(db.get("a").expect("get").is_none());
    assert_eq!(db.get("k").expect("get").as_deref(), Some(&b"v"[..]));
    db.put("b", "2").expect("not poisoned");
    db.close().expect("close");
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert!(
        db.get("a").expect("get").is_none(),
        "the refused batch is not in the WAL"
    );
    db.close().expect("close");
}

#[test]
fn every_handle_is_closed_after_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("k", "v").expect("put");
    let clone = db.clone();
    let snap = db.snapshot();
    let iter_before = db.iter();
    db.close().expect("close");

    assert_eq!(kind(clone.get("k")), ErrorKind::Closed);
    assert_eq!(kind(clone.put("k", "v2")), ErrorKind::Closed);
    assert_eq!(kind(clone.delete("k")), ErrorKind::Closed);
    assert_eq!(kind(clone.write(WriteBatch::new())), ErrorKind::Closed);
    assert_eq!(kind(snap.get("k")), ErrorKind::Closed);
    let first = clone.iter().next().expect("the iterator reports the close");
    assert_eq!(
        first.map(|_| ()).expect_err("closed").kind(),
        ErrorKind::Closed
    );
    let mut it = clone.prefix("k").rev();
    assert_eq!(
        it.next()
            .expect("error item")
            .map(|_| ())
            .expect_err("closed")
            .kind(),
        ErrorKind::Closed
    );
    assert!(it.next().is_none(), "an iterator ends after its error");
    // An iterator created before the close may finish or report Closed,
    // but never yields wrong data.
    for item in iter_before {
        match item {
            Ok((k, v)) => assert_eq!((&k[..], &v[..]), (&b"k"[..], &b"v"[..])),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Closed),
        }
    }
    assert_eq!(
        kind(clone.close()),
        ErrorKind::Closed,
        "closing twice is Closed"
    );

    // The close released the directory.
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(db.get("k").expect("get").as_deref(), Some(&b"v"[..]));
    db.close().expect("close");
}
