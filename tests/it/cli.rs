//! The `rillkv` binary, run as a child process: every subcommand on a small
//! database, exit codes (0 ok, 1 not found or damaged, 2 usage), the merge
//! operator flag, `verify` on a damaged copy, `shape` writing a
//! well-formed SVG with one `<rect class="table">` per table, and
//! keyspaces: the data commands in the one `--keyspace` names (the same
//! key holding a value in each), its merge operator flag, `keyspaces`,
//! `drop-keyspace`, and `stats` and `shape` showing every keyspace;
//! `backup create|list|verify|restore|purge`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rillkv::merge::U64Add;
use rillkv::{CompactionOptions, Db, KeyspaceOptions, Options, WriteBatch};

use crate::support::copy_dir;

const BIN: &str = env!("CARGO_BIN_EXE_rillkv");
const OP: [&str; 2] = ["--merge-operator", "u64add"];

fn rillkv(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run the rillkv binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let o = rillkv(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "rillkv {args:?} failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[track_caller]
fn code(args: &[&str]) -> (i32, String, String) {
    let o = rillkv(args);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

fn with_op<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(OP);
    v
}

/// The user key the CLI tests write and look for: `user:` and 6 digits.
fn user_key(i: u32) -> String {
    format!("user:{i:06}")
}

fn value(i: u32) -> String {
    format!("value-{i}")
}

/// A database with a u64add operator and five runs: four flushes of
/// overlapping keys, counters, a delete; the background compactor is off
/// so the shape stays as written.
fn make_db(dir: &Path) {
    let opts = Options::default()
        .merge_operator(U64Add)
        .compaction(CompactionOptions::default().background(false));
    let db = Db::open(dir, opts).expect("open");
    for round in 0..4u32 {
        let mut batch = WriteBatch::new();
        for i in (round * 1000)..(round * 1000 + 3000) {
            batch.put(user_key(i), value(i));
        }
        batch.merge("visits", 1u64.to_le_bytes());
        db.write(batch).expect("write");
        db.flush().expect("flush");
    }
    db.delete(user_key(7)).expect("delete");
    db.flush().expect("flush");
    db.close().expect("close");
}

fn db_dir(tmp: &tempfile::TempDir) -> (PathBuf, String) {
    let dir = tmp.path().join("db");
    make_db(&dir);
    let s = dir.to_str().expect("a UTF-8 path").to_owned();
    (dir, s)
}

fn tables(dir: &Path) -> Vec<PathBuf> {
    let tree = rillkv::tools::load_tree(dir).expect("load the tree");
    tree.tables
        .iter()
        .map(|t| dir.join(format!("{:06}.rkt", t.number)))
        .collect()
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(code(&[]).0, 2);
    assert_eq!(code(&["frobnicate"]).0, 2);
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none");
    let (c, _, err) = code(&["stats", missing.to_str().unwrap()]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("rillkv: error:"), "{err}");
}

#[test]
fn stats_shows_runs_groups_next_compaction_and_amplification() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = db_dir(&tmp);
    let out = ok(&["stats", &d]);
    for want in [
        "tables: 5 in 5 runs",
        "overlap groups: 1",
        "next compaction",
        "why:",
        "overlap ratio: merge runs",
        "space",
        "merge operator u64add",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    for t in tables(&dir) {
        let n: u64 = t.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        assert!(out.contains(&format!(" {n} ")), "table {n} missing:\n{out}");
    }
    let exact = ok(&["stats", &d, "--exact", "--quiet"]);
    assert!(exact.contains("measured"), "{exact}");
    let json = ok(&["stats", &d, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["tables"].as_array().unwrap().len(), 5);
    assert_eq!(v["next_compaction"]["reason"], "overlap ratio");
}

#[test]
fn get_put_delete_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, d) = db_dir(&tmp);
    assert_eq!(ok(&with_op(&["get", &d, "user:000042"])), "value-42\n");
    let (c, out, err) = code(&with_op(&["get", &d, "user:000007"]));
    assert_eq!((c, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("not found"), "{err}");
    assert_eq!(ok(&with_op(&["get", &d, "visits", "--u64"])), "4\n");

    ok(&with_op(&["put", &d, "greeting", "hello world"]));
    assert_eq!(ok(&with_op(&["get", &d, "greeting"])), "hello world\n");
    assert_eq!(
        ok(&with_op(&["get", &d, "greeting", "--json"])),
        "{\"key\":\"greeting\",\"value\":\"hello world\"}\n"
    );
    // --hex: "k\x00" = "ff01".
    ok(&with_op(&["put", &d, "6b00", "ff01", "--hex"]));
    assert_eq!(ok(&with_op(&["get", &d, "6b00", "--hex"])), "ff01\n");
    assert_eq!(ok(&with_op(&["get", &d, "6b00", "--hex"])), "ff01\n");
    assert_eq!(
        ok(&with_op(&["get", &d, "6b00", "--json", "--hex"])),
        "{\"key_hex\":\"6b00\",\"value_hex\":\"ff01\"}\n"
    );

    ok(&with_op(&["delete", &d, "greeting"]));
    assert_eq!(code(&with_op(&["get", &d, "greeting"])).0, 1);
    let (c, out, _) = code(&with_op(&["get", &d, "greeting", "--json"]));
    assert_eq!(
        (c, out.as_str()),
        (1, "{\"key\":\"greeting\",\"value\":null}\n")
    );

    // A u64 operator's operand is a decimal number.
    ok(&with_op(&["merge", &d, "visits", "10"]));
    assert_eq!(ok(&with_op(&["get", &d, "visits", "--u64"])), "14\n");
    assert_eq!(
        ok(&with_op(&["get", &d, "visits", "--u64", "--json"])),
        "{\"key\":\"visits\",\"value\":14}\n"
    );
}

#[test]
fn merge_operator_flag_is_checked_against_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, d) = db_dir(&tmp);
    let (c, _, err) = code(&["get", &d, "user:000001"]);
    assert_eq!(c, 2);
    assert!(err.contains("pass --merge-operator u64add"), "{err}");
    let (c, _, err) = code(&["get", &d, "user:000001", "--merge-operator", "u64max"]);
    assert_eq!(c, 2);
    assert!(
        err.contains("not 'u64max'") && err.contains("u64add"),
        "{err}"
    );
    let (c, _, err) = code(&["get", &d, "user:000001", "--merge-operator", "nope"]);
    assert_eq!(c, 2, "{err}");
    // `none` opens it without an operator: plain keys still read.
    assert_eq!(
        ok(&["get", &d, "user:000001", "--merge-operator", "none"]),
        "value-1\n"
    );
    // Offline commands never need it.
    ok(&["stats", &d]);

    // A custom operator the CLI does not have: it says what to do.
    let custom = tmp.path().join("custom");
    let opts = Options::default().merge_fn("concat", |_k, e, op| {
        let mut v = e.unwrap_or_default().to_vec();
        v.extend_from_slice(op);
        Ok(v)
    });
    let db = Db::open(&custom, opts).unwrap();
    db.put("a", "1").unwrap();
    db.close().unwrap();
    let c = custom.to_str().unwrap();
    let (code_, _, err) = code(&["get", c, "a"]);
    assert_eq!(code_, 2);
    assert!(
        err.contains("'concat'") && err.contains("--merge-operator none"),
        "{err}"
    );
    assert_eq!(ok(&["get", c, "a", "--merge-operator", "none"]), "1\n");
}

#[test]
fn scan_with_prefix_range_limit_reverse_hex_json() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, d) = db_dir(&tmp);
    let out = ok(&with_op(&[
        "scan",
        &d,
        "--prefix",
        "user:00001",
        "--limit",
        "3",
    ]));
    assert_eq!(
        out,
        "user:000010\tvalue-10\nuser:000011\tvalue-11\nuser:000012\tvalue-12\n"
    );
    let out = ok(&with_op(&[
        "scan",
        &d,
        "--from",
        "user:000005",
        "--to",
        "user:000009",
        "--keys-only",
    ]));
    // user:000007 is deleted; --to is exclusive.
    assert_eq!(out, "user:000005\nuser:000006\nuser:000008\n");
    let out = ok(&with_op(&[
        "scan",
        &d,
        "--reverse",
        "--limit",
        "2",
        "--u64",
    ]));
    assert_eq!(out, "visits\t4\nuser:005999\tvalue-5999\n");
    let out = ok(&with_op(&["scan", &d, "--prefix", "7669", "--hex"]));
    assert_eq!(out, "766973697473\t0400000000000000\n");
    let out = ok(&with_op(&["scan", &d, "--prefix", "user:0000", "--json"]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 99, "100 keys, one deleted");
    assert_eq!(lines[0]["key"], "user:000000");
    assert_eq!(lines[0]["value"], "value-0");
    let all = ok(&with_op(&["scan", &d, "--keys-only"]));
    assert_eq!(all.lines().count(), 6000);
}

#[test]
fn dump_table_wal_and_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = db_dir(&tmp);
    let table = tables(&dir).pop().unwrap();
    let out = ok(&["dump", "table", table.to_str().unwrap(), "--limit", "3"]);
    for want in [
        "format version 1",
        "footer: index @",
        "properties:",
        "entries      3001",
        "compression  lz4",
        "filter:",
        "block 0 @0 +",
        "put    @",
        "user:000000 = value-0",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert_eq!(out.matches(" = value-").count(), 3, "--limit 3");
    let out = ok(&["dump", "table", table.to_str().unwrap(), "--no-entries"]);
    assert!(!out.contains(" = value-"));

    // A write through the CLI stays in the WAL until the next open.
    ok(&with_op(&["put", &d, "walkey", "walvalue"]));
    ok(&with_op(&["merge", &d, "visits", "2"]));
    let wal = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "wal") && std::fs::metadata(p).unwrap().len() > 0
        })
        .expect("a WAL with records");
    let out = ok(&["dump", "wal", wal.to_str().unwrap()]);
    assert!(out.contains("1 records, 1 entries"), "{out}");
    assert!(out.contains("record @0"), "{out}");
    assert!(out.contains("merge  @"), "{out}");
    assert!(out.contains("visits = \\x02\\x00"), "{out}");

    let out = ok(&["dump", "manifest", &d]);
    for want in [
        "CURRENT: MANIFEST-",
        "edit 0 @0",
        "format version 2",
        "merge operator u64add",
        "add table",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn verify_clean_then_damaged_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = db_dir(&tmp);
    let out = ok(&["verify", &d]);
    assert!(out.contains(": ok"), "{out}");
    assert!(out.contains("Db::verify"), "{out}");
    assert!(ok(&["verify", &d, "--offline"]).contains(": ok"));

    // Flip one byte inside the first data block of a table of a copy.
    let bad = tmp.path().join("bad");
    copy_dir(&dir, &bad);
    let victim = tables(&bad).pop().unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();
    let name = victim.file_name().unwrap().to_str().unwrap();
    let (c, out, err) = code(&["verify", bad.to_str().unwrap()]);
    assert_eq!(c, 1, "{out}{err}");
    assert!(out.contains("DAMAGED"), "{out}");
    assert!(
        out.contains(&format!("corrupt: {}", victim.display())),
        "{out}"
    );
    assert!(out.contains(name) && out.contains("offset 0"), "{out}");
    assert!(out.contains("was not opened"), "{out}");
    // Dumping the damaged table reports the block, exit 1.
    let (c, out, _) = code(&["dump", "table", victim.to_str().unwrap()]);
    assert_eq!(c, 1);
    assert!(
        out.contains("block 0 @0") && out.contains("DAMAGED"),
        "{out}"
    );
}

#[test]
fn compact_all_and_a_range() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = db_dir(&tmp);
    let out = ok(&with_op(&[
        "compact",
        &d,
        "--from",
        "user:001000",
        "--to",
        "user:002000",
    ]));
    assert!(out.starts_with("compacted in"), "{out}");
    let out = ok(&with_op(&["compact", &d]));
    assert!(out.contains("-> 1 table in 1 run "), "{out}");
    assert_eq!(tables(&dir).len(), 1);
    assert_eq!(ok(&with_op(&["get", &d, "user:004321"])), "value-4321\n");
    assert_eq!(ok(&with_op(&["get", &d, "visits", "--u64"])), "4\n");
}

/// A small XML well-formedness check: tags balance, attributes are
/// quoted, entities are known, one root. Returns the root's name and the
/// start tags seen.
fn parse_xml(text: &str) -> (String, Vec<String>) {
    let mut stack: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let mut root: Option<String> = None;
    let mut rest = text;
    let check_text = |t: &str| {
        let mut s = t;
        while let Some(i) = s.find('&') {
            s = &s[i + 1..];
            let end = s.find(';').expect("unterminated entity");
            let ent = &s[..end];
            assert!(
                ["amp", "lt", "gt", "quot", "apos"].contains(&ent) || ent.starts_with('#'),
                "unknown entity &{ent};"
            );
        }
    };
    while let Some(i) = rest.find('<') {
        check_text(&rest[..i]);
        if stack.is_empty() {
            assert!(rest[..i].trim().is_empty(), "text outside the root element");
        }
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>").expect("unterminated <?") + 2..];
            continue;
        }
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->").expect("unterminated comment") + 3..];
            continue;
        }
        // Find the tag's end outside quoted attribute values.
        let mut quote = None;
        let mut end = None;
        for (j, c) in rest.char_indices().skip(1) {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '<') => panic!("< inside a tag: {}", &rest[..j]),
                (None, '>') => {
                    end = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let end = end.expect("unterminated tag");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().expect("close tag without open");
            assert_eq!(open, name.trim(), "mismatched tags");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        assert!(!name.is_empty(), "empty tag name");
        // Attributes: name="value" pairs.
        let mut attrs = body[name.len()..].trim();
        while !attrs.is_empty() {
            let eq = attrs.find('=').expect("attribute without =");
            let after = attrs[eq + 1..].trim_start();
            let q = after.chars().next().expect("attribute without value");
            assert!(q == '"' || q == '\'', "unquoted attribute in <{tag}>");
            let close = after[1..].find(q).expect("unterminated attribute");
            check_text(&after[1..1 + close]);
            attrs = after[close + 2..].trim_start();
        }
        if stack.is_empty() {
            assert!(root.is_none(), "second root element <{name}>");
            root = Some(name.clone());
        }
        tags.push(tag.to_owned());
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    (root.expect("no root element"), tags)
}

#[test]
fn xml_checker_catches_bad_documents() {
    assert_eq!(parse_xml("<?xml v?><a x=\"1\"><b/>t&amp;</a>\n").0, "a");
    for bad in [
        "<a><b></a>",
        "<a>",
        "<a x=1/>",
        "<a/><b/>",
        "<a>&bogus;</a>",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_xml(bad)).is_err(),
            "accepted {bad}"
        );
    }
}

#[test]
fn shape_writes_a_well_formed_svg_with_one_rect_per_table() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = db_dir(&tmp);
    let svg = tmp.path().join("tree.svg");
    let out = ok(&["shape", &d, "--out", svg.to_str().unwrap()]);
    assert!(
        out.contains("wrote") && out.contains("next compaction: overlap ratio"),
        "{out}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    let (root, tags) = parse_xml(&text);
    assert_eq!(root, "svg");
    assert!(
        tags.iter()
            .any(|t| t.starts_with("svg ") && t.contains("xmlns="))
    );
    let rects = tags
        .iter()
        .filter(|t| t.starts_with("rect ") && t.contains("class=\"table\""))
        .count();
    assert_eq!(rects, tables(&dir).len());
    assert_eq!(
        tags.iter().filter(|t| t.contains("class=\"next\"")).count(),
        1,
        "the next job is outlined"
    );
    // To stdout too.
    let out = ok(&["shape", &d, "--out", "-"]);
    assert_eq!(parse_xml(&out).0, "svg");
}

#[test]
fn data_commands_work_in_the_keyspace_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = db_dir(&tmp);
    let users = ["--keyspace", "users"];
    let other = ["--keyspace", "other"];
    // A write creates the keyspace; the default keyspace's operator is
    // not asked for, since the command does not work in it.
    ok(&[&["put", &d, "user:000042", "alice"][..], &users].concat());
    ok(&[&["put", &d, "user:000042", "bob"][..], &other].concat());
    assert_eq!(
        ok(&[&["get", &d, "user:000042"][..], &users].concat()),
        "alice\n"
    );
    assert_eq!(
        ok(&[&["get", &d, "user:000042"][..], &other].concat()),
        "bob\n"
    );
    assert_eq!(ok(&with_op(&["get", &d, "user:000042"])), "value-42\n");
    assert_eq!(
        ok(&with_op(&[
            "get",
            &d,
            "user:000042",
            "--keyspace",
            "default"
        ])),
        "value-42\n",
        "`default` names the default keyspace"
    );
    let (c, _, err) = code(&[&["get", &d, "user:000001"][..], &users].concat());
    assert_eq!(c, 1, "{err}");

    // Scans see only their keyspace.
    ok(&[&["put", &d, "user:000043", "carol"][..], &users].concat());
    assert_eq!(
        ok(&[&["scan", &d][..], &users].concat()),
        "user:000042\talice\nuser:000043\tcarol\n"
    );
    assert_eq!(
        ok(&[
            &["scan", &d, "--prefix", "user:000043", "--json"][..],
            &users
        ]
        .concat()),
        "{\"key\":\"user:000043\",\"value\":\"carol\"}\n"
    );
    assert_eq!(
        ok(&[
            &["scan", &d, "--reverse", "--keys-only", "--limit", "1"][..],
            &users
        ]
        .concat()),
        "user:000043\n"
    );
    ok(&[&["delete", &d, "user:000042"][..], &users].concat());
    assert_eq!(
        code(&[&["get", &d, "user:000042"][..], &users].concat()).0,
        1
    );
    assert_eq!(
        ok(&[&["get", &d, "user:000042"][..], &other].concat()),
        "bob\n",
        "a delete in one keyspace leaves the others"
    );

    // A keyspace's merge operator is its own, recorded when a write
    // creates it and checked like the database's.
    let counters = ["--keyspace", "counters", "--merge-operator", "u64max"];
    ok(&[&["merge", &d, "visits", "5"][..], &counters].concat());
    ok(&[&["merge", &d, "visits", "3"][..], &counters].concat());
    assert_eq!(
        ok(&[&["get", &d, "visits", "--u64"][..], &counters].concat()),
        "5\n"
    );
    assert_eq!(
        ok(&with_op(&["get", &d, "visits", "--u64"])),
        "4\n",
        "the default keyspace's counter, with u64add"
    );
    let (c, _, err) = code(&["get", &d, "visits", "--keyspace", "counters"]);
    assert_eq!(c, 2);
    assert!(
        err.contains("keyspace 'counters'") && err.contains("pass --merge-operator u64max"),
        "{err}"
    );
    let (c, _, err) = code(&with_op(&[
        "merge",
        &d,
        "visits",
        "1",
        "--keyspace",
        "counters",
    ]));
    assert_eq!(c, 2);
    assert!(err.contains("not 'u64add'"), "{err}");
    let (c, _, err) = code(&[&["merge", &d, "n", "1"][..], &users].concat());
    assert_eq!(c, 2);
    assert!(
        err.contains("keyspace 'users'") && err.contains("--merge-operator NAME"),
        "{err}"
    );

    // Reads do not create a keyspace; a bad name is refused.
    let (c, _, err) = code(&["get", &d, "k", "--keyspace", "nope"]);
    assert_eq!(c, 2);
    assert!(err.contains("no keyspace 'nope'"), "{err}");
    assert_eq!(code(&["scan", &d, "--keyspace", "nope"]).0, 2);
    let (c, _, err) = code(&["put", &d, "k", "v", "--keyspace", "a/b"]);
    assert_eq!(c, 2);
    assert!(err.contains("a/b"), "{err}");

    let out = ok(&[&["compact", &d][..], &users].concat());
    assert!(out.starts_with("compacted keyspace users in"), "{out}");
    let out = ok(&["keyspaces", &d]);
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| !w.starts_with('('))
        .collect();
    assert_eq!(names, ["default", "users", "other", "counters"], "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("counters") && l.contains("u64max")),
        "{out}"
    );

    // The library sees what the CLI wrote.
    let db = Db::open(&dir, Options::default().merge_operator(U64Add)).unwrap();
    assert_eq!(db.keyspaces(), ["default", "users", "other", "counters"]);
    let ks = db.keyspace("other", KeyspaceOptions::default()).unwrap();
    assert_eq!(ks.get("user:000042").unwrap().as_deref(), Some(&b"bob"[..]));
    drop(ks);
    db.close().unwrap();

    let out = ok(&["drop-keyspace", &d, "other"]);
    assert!(out.contains("dropped keyspace other"), "{out}");
    assert_eq!(
        code(&[&["get", &d, "user:000042"][..], &other].concat()).0,
        2
    );
    let (c, _, err) = code(&["drop-keyspace", &d, "default"]);
    assert_eq!(c, 2);
    assert!(err.contains("cannot be dropped"), "{err}");
    assert_eq!(code(&["drop-keyspace", &d, "other"]).0, 2);
    let json = ok(&["keyspaces", &d, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = v["keyspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "users", "counters"]);
    assert!(ok(&["verify", &d]).contains(": ok"));
}

/// A database with the default keyspace (1 table) and two more: `users`
/// (3 runs of 1 table) and `counters` (u64add, 1 table).
fn make_keyspaces_db(dir: &Path) {
    let off = CompactionOptions::default().background(false);
    let db = Db::open(dir, Options::default().compaction(off.clone())).expect("open");
    let users = db
        .keyspace("users", KeyspaceOptions::default().compaction(off.clone()))
        .expect("users");
    let counters = db
        .keyspace(
            "counters",
            KeyspaceOptions::default()
                .merge_operator(U64Add)
                .compaction(off),
        )
        .expect("counters");
    for round in 0..3u32 {
        let mut batch = WriteBatch::new();
        for i in (round * 100)..(round * 100 + 200) {
            batch.put_in(&users, user_key(i), value(i));
        }
        batch.merge_in(&counters, "visits", 1u64.to_le_bytes());
        db.write(batch).expect("write");
        users.flush().expect("flush");
    }
    counters.flush().expect("flush");
    db.put("k", "default").expect("put");
    db.flush().expect("flush");
    drop((users, counters));
    db.close().expect("close");
}

#[test]
fn stats_shape_and_keyspaces_show_every_keyspace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_keyspaces_db(&dir);
    let d = dir.to_str().unwrap();

    let out = ok(&["stats", d]);
    for want in [
        "3 keyspaces: default, users, counters",
        "keyspace default (id 0): merge operator none",
        "keyspace users (id 1): merge operator none",
        "keyspace counters (id 2): merge operator u64add",
        "tables: 3 in 3 runs",
        "write amplification",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert_eq!(out.matches("tables: 1 in 1 run,").count(), 2, "{out}");
    assert_eq!(out.matches("next compaction (").count(), 3, "{out}");
    let tree = rillkv::tools::load_tree(&dir).unwrap();
    for ks in &tree.keyspaces {
        for t in &ks.tables {
            let n = t.number;
            assert!(out.contains(&format!(" {n} ")), "table {n} missing:\n{out}");
        }
    }
    let only = ok(&["stats", d, "--keyspace", "users", "--exact", "--quiet"]);
    assert!(only.contains("keyspace users (id 1)"), "{only}");
    assert!(!only.contains("keyspace default ("), "{only}");
    assert!(
        only.contains("measured") && only.contains("in 400 keys"),
        "{only}"
    );
    let (c, _, err) = code(&["stats", d, "--keyspace", "nope"]);
    assert_eq!(c, 2);
    assert!(err.contains("no keyspace 'nope'"), "{err}");

    let v: serde_json::Value = serde_json::from_str(&ok(&["stats", d, "--json"])).unwrap();
    assert_eq!(v["tables"].as_array().unwrap().len(), 1, "the default's");
    let keyspaces = v["keyspaces"].as_array().unwrap();
    let runs: Vec<(&str, u64)> = keyspaces
        .iter()
        .map(|k| (k["name"].as_str().unwrap(), k["runs"].as_u64().unwrap()))
        .collect();
    assert_eq!(runs, [("default", 1), ("users", 3), ("counters", 1)]);
    assert_eq!(keyspaces[2]["merge_operator"], "u64add");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["stats", d, "--json", "--keyspace", "counters"])).unwrap();
    assert_eq!(v["keyspaces"].as_array().unwrap().len(), 1);
    assert!(v.get("tables").is_none(), "no default keyspace shown: {v}");

    // One picture per keyspace, one under the other, in one document.
    let svg = tmp.path().join("tree.svg");
    let out = ok(&["shape", d, "--out", svg.to_str().unwrap()]);
    for want in [
        "3 keyspaces",
        "  default: 1 run, 1 table",
        "  users: 3 runs, 3 tables",
        "  counters: 1 run, 1 table",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    let (root, tags) = parse_xml(&text);
    assert_eq!(root, "svg");
    let count = |tags: &[String], what: &str| tags.iter().filter(|t| t.starts_with(what)).count();
    assert_eq!(count(&tags, "svg "), 4, "the document and 3 pictures");
    assert_eq!(count(&tags, "rect class=\"table\""), 5);
    assert!(text.contains("keyspace users"));
    let one = ok(&["shape", d, "--out", "-", "--keyspace", "users"]);
    let (_, tags) = parse_xml(&one);
    assert_eq!(count(&tags, "svg "), 1);
    assert_eq!(count(&tags, "rect class=\"table\""), 3);

    let out = ok(&["keyspaces", d]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("users") && l.split_whitespace().nth(3) == Some("3")),
        "users: 3 runs, 3 tables:\n{out}"
    );
}

#[test]
fn backup_create_list_verify_restore_purge() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, d) = db_dir(&tmp);
    let backups = tmp.path().join("backups");
    let b = backups.to_str().unwrap();
    let (c, _, err) = code(&["backup", "list", b]);
    assert_eq!(c, 2, "no backup directory yet: {err}");
    assert!(err.contains("not a backup directory"), "{err}");

    let out = ok(&["backup", "create", &d, b]);
    assert!(out.starts_with("backup 1: seqno "), "{out}");
    assert!(out.contains("5 tables"), "{out}");
    // Nothing changed: only the WAL and the database manifest are copied.
    let out = ok(&["backup", "create", &d, b]);
    assert!(out.starts_with("backup 2: "), "{out}");
    assert!(out.contains("copied 2 files"), "{out}");
    let out = ok(&["backup", "list", b]);
    assert!(out.contains("2 backups"), "{out}");
    assert_eq!(
        out.lines().count(),
        4,
        "a header, two backups, a total: {out}"
    );
    assert!(ok(&["backup", "verify", b, "1"]).contains("every checksum matches"));

    let restored = tmp.path().join("restored");
    let r = restored.to_str().unwrap();
    let out = ok(&["backup", "restore", b, "1", r]);
    assert!(out.contains("restored to"), "{out}");
    assert_eq!(
        ok(&with_op(&["get", r, &user_key(3500)])).trim(),
        value(3500)
    );
    let (c, _, err) = code(&["backup", "restore", b, "1", r]);
    assert_eq!(c, 2, "a non-empty target: {err}");
    assert!(err.contains("not empty"), "{err}");

    // Damage a stored table: verify names it, exit 1.
    let shared = backups.join("shared");
    let victim = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();
    let (c, out, err) = code(&["backup", "verify", b, "2"]);
    assert_eq!(c, 1, "{out}{err}");
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains(name) && err.contains("checksum mismatch"),
        "{err}"
    );

    let out = ok(&["backup", "purge", b, "--keep", "1"]);
    assert!(
        out.starts_with("removed 1 backup (1); deleted 2 files"),
        "{out}"
    );
    assert!(ok(&["backup", "list", b]).contains("1 backup"));
}
