//! `AsyncDb` (feature `tokio`) on a multi-threaded runtime: every verb
//! does what the blocking one does; `Stream` scans (forward, reverse,
//! range, prefix, snapshot) match a `BTreeMap` model across many chunks
//! and flushes; dropping a scan early stops it; many concurrent tasks
//! writing, merging and scanning all finish with the right totals; a
//! `current_thread` runtime works too; and keyspaces: every `AsyncKeyspace`
//! verb stays in its keyspace, its scans and a snapshot's `*_in` scans
//! match a model, a keyspace is dropped and reopened, and a batch across
//! keyspaces is seen whole or not at all by concurrent snapshots.

use std::ops::Bound;
use std::pin::Pin;

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use rillkv::merge::U64Add;
use rillkv::{
    AsyncDb, AsyncKeyspace, CompactionOptions, DbStream, ErrorKind, KeyspaceOptions, Options,
    WriteBatch, WriteOptions,
};

use crate::support::{Model, Pairs, key};

fn options() -> Options {
    Options::default()
        .merge_operator(U64Add)
        .memtable_size(64 << 10)
}

/// A collected scan as plain pairs.
fn owned_pairs(v: Vec<(Bytes, Bytes)>) -> Pairs {
    v.into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

fn model_pairs<'a>(it: impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)>) -> Pairs {
    it.map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Drains a stream through the `Stream` trait itself (not the inherent
/// helpers), as a combinator library would.
async fn drain_via_trait(mut s: DbStream) -> rillkv::Result<Vec<(Bytes, Bytes)>> {
    let mut out = Vec::new();
    while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await {
        out.push(item?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_does_what_the_blocking_one_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AsyncDb::open(dir.path(), options()).await.expect("open");

    db.put(b"a", b"1").await.expect("put");
    assert_eq!(db.get(b"a").await.expect("get").as_deref(), Some(&b"1"[..]));
    db.delete(b"a").await.expect("delete");
    assert_eq!(db.get(b"a").await.expect("get"), None);

    db.merge(b"n", 5u64.to_le_bytes()).await.expect("merge");
    db.merge(b"n", 7u64.to_le_bytes()).await.expect("merge");
    assert_eq!(
        db.get(b"n").await.expect("get").as_deref(),
        Some(&12u64.to_le_bytes()[..])
    );

    let mut batch = WriteBatch::new();
    batch.put(b"b", b"2").put(b"c", b"3").delete(b"missing");
    db.write(batch).await.expect("write");
    let mut batch = WriteBatch::new();
    batch.put(b"d", b"4");
    db.write_opt(batch, &WriteOptions::default().sync(true))
        .await
        .expect("write_opt");
    assert!(db.stats().await.expect("stats").counters.wal_syncs >= 1);

    let snap = db.snapshot();
    db.put(b"b", b"changed").await.expect("put");
    assert_eq!(
        snap.get(b"b").await.expect("snap get").as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        db.get(b"b").await.expect("get").as_deref(),
        Some(&b"changed"[..])
    );
    assert_eq!(
        owned_pairs(snap.iter().collect_vec().await.expect("snap iter")),
        vec![
            (b"b".to_vec(), b"2".to_vec()),
            (b"c".to_vec(), b"3".to_vec()),
            (b"d".to_vec(), b"4".to_vec()),
            (b"n".to_vec(), 12u64.to_le_bytes().to_vec()),
        ]
    );
    assert_eq!(
        snap.range(b"c".as_slice()..b"n".as_slice())
            .collect_vec()
            .await
            .expect("range")
            .len(),
        2
    );
    assert_eq!(
        snap.prefix(b"n").collect_vec().await.expect("prefix").len(),
        1
    );
    assert!(snap.seqno() > 0);

    db.flush().await.expect("flush");
    let stats = db.stats().await.expect("stats");
    assert_eq!(stats.runs.len(), 1, "{stats}");
    db.put(b"b", b"again").await.expect("put");
    db.flush().await.expect("flush");
    db.compact_range(b"a".as_slice()..=b"c".as_slice())
        .await
        .expect("compact_range");
    db.put(b"e", b"5").await.expect("put");
    db.compact().await.expect("compact");
    let stats = db.stats().await.expect("stats");
    assert_eq!(stats.runs.len(), 1, "{stats}");
    assert!(stats.counters.compactions >= 1, "{stats}");
    assert!(db.verify().await.expect("verify").is_ok());
    drop(snap);

    let expected = vec![
        (b"b".to_vec(), b"again".to_vec()),
        (b"c".to_vec(), b"3".to_vec()),
        (b"d".to_vec(), b"4".to_vec()),
        (b"e".to_vec(), b"5".to_vec()),
        (b"n".to_vec(), 12u64.to_le_bytes().to_vec()),
    ];
    assert_eq!(
        owned_pairs(db.iter().collect_vec().await.expect("iter")),
        expected
    );
    let other = db.clone();
    db.close().await.expect("close");
    assert_eq!(
        other.get(b"b").await.expect_err("closed").kind(),
        ErrorKind::Closed
    );
    let scan_after_close = other.iter().collect_vec().await;
    assert_eq!(
        scan_after_close.expect_err("closed").kind(),
        ErrorKind::Closed
    );
    drop(other);

    let db = AsyncDb::open(dir.path(), options()).await.expect("reopen");
    assert_eq!(
        owned_pairs(db.iter().collect_vec().await.expect("iter")),
        expected
    );
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_scans_match_a_model_across_chunks_and_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AsyncDb::open(dir.path(), options()).await.expect("open");
    let mut model = Model::new();
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..4u64 {
        let mut batch = WriteBatch::new();
        for _ in 0..1500 {
            let k = key(rng.u64(0..3000));
            if rng.u8(0..10) == 0 {
                batch.delete(&k);
                model.remove(&k);
            } else {
                let v = format!("v{round}-{}", "x".repeat(rng.usize(0..200))).into_bytes();
                batch.put(&k, &v);
                model.insert(k, v);
            }
        }
        db.write(batch).await.expect("write");
        if round % 2 == 1 {
            db.flush().await.expect("flush");
        }
    }
    assert!(model.len() > 1000, "more pairs than one chunk");

    let all = owned_pairs(db.iter().collect_vec().await.expect("iter"));
    assert_eq!(all, model_pairs(model.iter()));
    let rev = owned_pairs(drain_via_trait(db.iter().rev()).await.expect("rev"));
    assert_eq!(rev, model_pairs(model.iter().rev()));

    let (lo, hi) = (key(500), key(2200));
    let range = owned_pairs(
        db.range(lo.as_slice()..hi.as_slice())
            .collect_vec()
            .await
            .expect("range"),
    );
    assert_eq!(range, model_pairs(model.range(lo.clone()..hi.clone())));
    let range_rev = owned_pairs(
        db.range::<&[u8], _>((
            Bound::Excluded(lo.as_slice()),
            Bound::Included(hi.as_slice()),
        ))
        .rev()
        .collect_vec()
        .await
        .expect("range rev"),
    );
    assert_eq!(
        range_rev,
        model_pairs(
            model
                .range::<Vec<u8>, _>((Bound::Excluded(lo), Bound::Included(hi)))
                .rev()
        )
    );
    // The keys 1200..=1299: `key(1200)` without its last two digits.
    let key_12xx = &key(1200)[..14];
    let prefix = owned_pairs(db.prefix(key_12xx).collect_vec().await.expect("prefix"));
    assert_eq!(
        prefix,
        model_pairs(model.iter().filter(|(k, _)| k.starts_with(key_12xx)))
    );
    assert!(!prefix.is_empty());

    // A snapshot's scan ignores later writes, even while they happen.
    let snap = db.snapshot();
    let frozen = model_pairs(model.iter());
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..500 {
                db.put(key(i), b"later").await.expect("put");
            }
        })
    };
    let seen = owned_pairs(snap.iter().collect_vec().await.expect("snap iter"));
    writer.await.expect("writer");
    assert_eq!(seen, frozen);

    // A scan dropped early stops; the database goes on.
    let mut partial = db.iter();
    for _ in 0..10 {
        partial.next().await.expect("an item").expect("ok");
    }
    drop(partial);
    drop(snap);
    db.put(b"after", b"drop").await.expect("put");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_tasks_write_merge_and_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AsyncDb::open(dir.path(), options()).await.expect("open");
    let tasks = 64u64;
    let per_task = 200u64;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                db.put(format!("t{t:02}-{i:04}"), format!("{t}-{i}"))
                    .await
                    .expect("put");
                db.merge(format!("counter-{}", t % 8), 1u64.to_le_bytes())
                    .await
                    .expect("merge");
                if i % 50 == 0 {
                    // Scans run alongside the writers.
                    let mine = db
                        .prefix(format!("t{t:02}-"))
                        .collect_vec()
                        .await
                        .expect("scan");
                    assert_eq!(mine.len() as u64, i + 1, "task {t} sees its own writes");
                }
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    for c in 0..8 {
        let v = db
            .get(format!("counter-{c}"))
            .await
            .expect("get")
            .expect("counter");
        let n = u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes"));
        assert_eq!(n, tasks / 8 * per_task, "counter {c}");
    }
    let all = db.prefix(b"t").collect_vec().await.expect("scan");
    assert_eq!(all.len() as u64, tasks * per_task);
    let stats = db.stats().await.expect("stats");
    // Reads may have written folded counters back: at least every write.
    assert!(stats.counters.writes >= 2 * tasks * per_task, "{stats}");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "current_thread")]
async fn a_current_thread_runtime_works_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AsyncDb::open(dir.path(), options()).await.expect("open");
    for i in 0..2000 {
        db.put(key(i), b"v").await.expect("put");
    }
    // Several chunks through the channel, with the only worker thread
    // awaiting them.
    assert_eq!(db.iter().collect_vec().await.expect("iter").len(), 2000);
    assert_eq!(
        drain_via_trait(db.iter().rev()).await.expect("rev").len(),
        2000
    );
    let mut scan = db.prefix(key(1999));
    assert!(!scan.is_terminated());
    assert!(scan.next().await.is_some());
    assert!(scan.next().await.is_none());
    assert!(scan.is_terminated(), "a FusedStream once it ends");
    db.close().await.expect("close");
}

/// Keyspace options for the tests: small memtables, so data reaches
/// tables (but each round of 800 pairs fits one: a table per explicit
/// flush), and no background compaction, so runs stay as flushed.
fn ks_options() -> KeyspaceOptions {
    KeyspaceOptions::default()
        .memtable_size(128 << 10)
        .compaction(CompactionOptions::default().background(false))
}

async fn get_u64(ks: &AsyncKeyspace, k: &[u8]) -> Option<u64> {
    let v = ks.get(k).await.expect("get")?;
    Some(u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyspace_verbs_stay_in_their_keyspace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AsyncDb::open(dir.path(), options()).await.expect("open");
    let users = db.keyspace("users", ks_options()).await.expect("users");
    let counters = db
        .keyspace("counters", ks_options().merge_operator(U64Add))
        .await
        .expect("counters");
    assert_eq!(users.name(), "users");
    assert_eq!(db.keyspaces(), ["default", "users", "counters"]);

    // The same key in three keyspaces holds three values.
    db.put(b"k", b"default").await.expect("put");
    users.put(b"k", b"users").await.expect("put");
    counters
        .merge(b"k", 2u64.to_le_bytes())
        .await
        .expect("merge");
    counters
        .merge(b"k", 5u64.to_le_bytes())
        .await
        .expect("merge");
    assert_eq!(
        db.get(b"k").await.expect("get").as_deref(),
        Some(&b"default"[..])
    );
    assert_eq!(
        users.get(b"k").await.expect("get").as_deref(),
        Some(&b"users"[..])
    );
    assert_eq!(get_u64(&counters, b"k").await, Some(7));
    users
        .put_opt(b"synced", b"1", &WriteOptions::default().sync(true))
        .await
        .expect("put_opt");
    assert!(db.stats().await.expect("stats").counters.wal_syncs >= 1);
    users.delete(b"k").await.expect("delete");
    assert_eq!(users.get(b"k").await.expect("get"), None);
    assert_eq!(
        db.get(b"k").await.expect("get").as_deref(),
        Some(&b"default"[..]),
        "a delete in one keyspace leaves the others"
    );
    // Merges need the keyspace's own operator, not the default's.
    assert_eq!(
        users
            .merge(b"n", 1u64.to_le_bytes())
            .await
            .expect_err("users has no merge operator")
            .kind(),
        ErrorKind::InvalidArgument
    );

    // Enough pairs for several chunks and tables; the model is `users`.
    let mut model = Model::new();
    model.insert(b"synced".to_vec(), b"1".to_vec());
    for round in 0..3u64 {
        for i in 0..800 {
            let (k, v) = (key(i * 3 + round), format!("u{round}-{i}").into_bytes());
            users.put(&k, &v).await.expect("put");
            model.insert(k, v);
        }
        users.flush().await.expect("flush");
    }
    let stats = users.stats().await.expect("stats");
    assert_eq!(stats.keyspace, "users");
    assert_eq!(stats.runs.len(), 3, "{stats}");
    assert!(
        db.stats().await.expect("stats").runs.is_empty(),
        "the default keyspace was not flushed"
    );
    let snap = db.snapshot();
    users.put(b"later", b"x").await.expect("put");
    let frozen = model_pairs(model.iter());
    model.insert(b"later".to_vec(), b"x".to_vec());

    assert_eq!(
        owned_pairs(users.iter().collect_vec().await.expect("iter")),
        model_pairs(model.iter())
    );
    assert_eq!(
        owned_pairs(drain_via_trait(users.iter().rev()).await.expect("rev")),
        model_pairs(model.iter().rev())
    );
    let (lo, hi) = (key(300), key(1900));
    assert_eq!(
        owned_pairs(
            users
                .range(lo.as_slice()..hi.as_slice())
                .collect_vec()
                .await
                .expect("range")
        ),
        model_pairs(model.range(lo.clone()..hi.clone()))
    );
    let key_12xx = &key(1200)[..14];
    let prefix = owned_pairs(users.prefix(key_12xx).collect_vec().await.expect("prefix"));
    assert_eq!(
        prefix,
        model_pairs(model.iter().filter(|(k, _)| k.starts_with(key_12xx)))
    );
    assert!(!prefix.is_empty());

    // The snapshot reads every keyspace at one moment.
    assert_eq!(
        owned_pairs(snap.iter_in(&users).collect_vec().await.expect("iter_in")),
        frozen
    );
    assert_eq!(snap.get_in(&users, b"later").await.expect("get_in"), None);
    assert_eq!(
        snap.get_in(&counters, b"k")
            .await
            .expect("get_in")
            .as_deref(),
        Some(&7u64.to_le_bytes()[..])
    );
    assert_eq!(
        owned_pairs(
            snap.range_in(&users, lo.as_slice()..hi.as_slice())
                .rev()
                .collect_vec()
                .await
                .expect("range_in")
        ),
        model_pairs(model.range(lo..hi).rev())
    );
    assert_eq!(
        snap.prefix_in(&users, key_12xx)
            .collect_vec()
            .await
            .expect("prefix_in")
            .len(),
        prefix.len()
    );
    assert_eq!(
        snap.iter().collect_vec().await.expect("iter").len(),
        1,
        "the default keyspace holds one key"
    );
    drop(snap);

    users
        .compact_range(key(0).as_slice()..=key(100).as_slice())
        .await
        .expect("compact_range");
    users.compact().await.expect("compact");
    assert_eq!(users.stats().await.expect("stats").runs.len(), 1);
    assert_eq!(
        owned_pairs(users.iter().collect_vec().await.expect("iter")),
        model_pairs(model.iter())
    );

    // Dropped: its handles fail, its name is free again.
    db.drop_keyspace("counters").await.expect("drop");
    assert_eq!(db.keyspaces(), ["default", "users"]);
    assert_eq!(
        counters.get(b"k").await.expect_err("dropped").kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        counters
            .merge(b"k", 1u64.to_le_bytes())
            .await
            .expect_err("dropped")
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        db.drop_keyspace("counters")
            .await
            .expect_err("already dropped")
            .kind(),
        ErrorKind::InvalidArgument
    );
    let fresh = db.keyspace("counters", ks_options()).await.expect("again");
    assert_eq!(fresh.get(b"k").await.expect("get"), None);
    drop((users, counters, fresh));
    db.close().await.expect("close");

    // Everything but the dropped keyspace is there after a reopen.
    let db = AsyncDb::open(dir.path(), options()).await.expect("reopen");
    assert_eq!(db.keyspaces(), ["default", "users", "counters"]);
    let users = db.keyspace("users", ks_options()).await.expect("users");
    assert_eq!(
        owned_pairs(users.iter().collect_vec().await.expect("iter")),
        model_pairs(model.iter())
    );
    assert_eq!(
        users.into_inner().get(b"later").expect("get").as_deref(),
        Some(&b"x"[..])
    );
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_across_keyspaces_is_seen_whole_by_every_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AsyncDb::open(dir.path(), options()).await.expect("open");
    let users = db.keyspace("users", ks_options()).await.expect("users");
    let by_email = db.keyspace("by_email", ks_options()).await.expect("index");
    let count = db
        .keyspace("count", ks_options().merge_operator(U64Add))
        .await
        .expect("count");
    let n = 2000u64;
    let writer = {
        let (db, users, by_email, count) =
            (db.clone(), users.clone(), by_email.clone(), count.clone());
        tokio::spawn(async move {
            for i in 0..n {
                let email = format!("user{i}@example.com");
                let mut batch = WriteBatch::new();
                batch
                    .put_in(users.keyspace(), key(i), &email)
                    .put_in(by_email.keyspace(), &email, key(i))
                    .merge_in(count.keyspace(), b"users", 1u64.to_le_bytes())
                    .merge(b"batches", 1u64.to_le_bytes());
                db.write(batch).await.expect("write");
                if i % 700 == 0 {
                    users.flush().await.expect("flush");
                }
            }
        })
    };
    // Readers: every snapshot sees the same number of writes in each
    // keyspace, whatever moment it was taken at.
    let mut checks = 0;
    loop {
        let done = writer.is_finished();
        let snap = db.snapshot();
        let in_users = snap.iter_in(&users).collect_vec().await.expect("users");
        let in_index = snap.iter_in(&by_email).collect_vec().await.expect("index");
        let counted = snap
            .get_in(&count, b"users")
            .await
            .expect("count")
            .map_or(0, |v| {
                u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes"))
            });
        let batches = snap.get(b"batches").await.expect("batches").map_or(0, |v| {
            u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes"))
        });
        assert_eq!(in_users.len(), in_index.len(), "at seqno {}", snap.seqno());
        assert_eq!(in_users.len() as u64, counted, "at seqno {}", snap.seqno());
        assert_eq!(counted, batches, "at seqno {}", snap.seqno());
        checks += 1;
        if done {
            assert_eq!(counted, n);
            break;
        }
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer");
    assert!(checks > 1, "the readers ran alongside the writer");
    let (k, email) = users
        .prefix(key(1234))
        .next()
        .await
        .expect("a pair")
        .expect("ok");
    assert_eq!(k, key(1234));
    assert_eq!(
        by_email.get(&email).await.expect("get").as_deref(),
        Some(key(1234).as_slice())
    );
    drop((users, by_email, count));
    db.close().await.expect("close");
}

/// 32 tasks on a multi-threaded runtime each run 20 serializable
/// read-modify-write transactions on one counter (retried on conflict) and
/// 20 commutative merges into another (never a conflict), and
/// compare-and-swap one slot: every increment lands, one task wins the slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_from_many_tasks_lose_no_increment() {
    use rillkv::{Isolation, TransactionOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AsyncDb::open(dir.path(), options()).await.expect("open");
    let read =
        |v: Option<Bytes>| v.map_or(0, |v| u64::from_le_bytes(v[..8].try_into().expect("u64")));
    let tasks: Vec<_> = (0..32u64)
        .map(|t| {
            let db = db.clone();
            tokio::spawn(async move {
                let opts = TransactionOptions::default()
                    .isolation(Isolation::Serializable)
                    .max_retries(1_000);
                for _ in 0..20 {
                    db.run_transaction_with(opts.clone(), move |txn| {
                        let n = read(txn.get("rmw")?);
                        txn.put("rmw", (n + 1).to_le_bytes());
                        txn.merge("blind", 1u64.to_le_bytes());
                        Ok(())
                    })
                    .await
                    .expect("transaction");
                }
                db.compare_and_swap("slot", None, Some(&t.to_le_bytes()))
                    .await
                    .expect("cas")
                    .is_swapped()
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += u32::from(task.await.expect("task"));
    }
    assert_eq!(winners, 1, "one task swaps the empty slot");
    assert_eq!(read(db.get("rmw").await.expect("get")), 640);
    assert_eq!(read(db.get("blind").await.expect("get")), 640);
    let c = db.stats().await.expect("stats").counters;
    assert_eq!(c.txn_commits, 640);
    eprintln!("async: {} conflicts for 640 commits", c.txn_conflicts());
}
