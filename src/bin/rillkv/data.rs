//! Commands that open the database: get, put, delete, merge, scan,
//! compact, each in one keyspace; drop-keyspace.

use std::io::{BufWriter, IsTerminal, Write};
use std::ops::Bound;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use clap::Args;
use rillkv::{Stats, WriteOptions};

use crate::error::{CliError, EXIT_NOT_OK};
use crate::fmt::{Encoding, human, plural};
use crate::open::{self, DEFAULT_KEYSPACE, Mode};
use crate::progress;
use crate::{DbArgs, KeyspaceArg};

/// `get DIR KEY`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    ks: KeyspaceArg,
    /// The key.
    key: String,
    #[command(flatten)]
    enc: Encoding,
}

/// `put DIR KEY VALUE`.
#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    ks: KeyspaceArg,
    /// The key.
    key: String,
    /// The value.
    value: String,
    #[command(flatten)]
    enc: Encoding,
}

/// `delete DIR KEY`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    ks: KeyspaceArg,
    /// The key.
    key: String,
    #[command(flatten)]
    enc: Encoding,
}

/// `merge DIR KEY OPERAND`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    ks: KeyspaceArg,
    /// The key.
    key: String,
    /// The operand; with a u64 operator (u64add, u64max, u64min) a decimal
    /// number unless --hex is given.
    operand: String,
    #[command(flatten)]
    enc: Encoding,
}

/// `scan DIR`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    ks: KeyspaceArg,
    /// Only keys starting with this prefix.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    prefix: Option<String>,
    /// Start at this key (inclusive).
    #[arg(long)]
    from: Option<String>,
    /// Stop before this key (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Print at most this many keys.
    #[arg(long)]
    limit: Option<usize>,
    /// Largest key first (descending order).
    #[arg(long)]
    reverse: bool,
    /// Print keys only.
    #[arg(long)]
    keys_only: bool,
    #[command(flatten)]
    enc: Encoding,
}

/// `compact DIR`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    ks: KeyspaceArg,
    /// Compact only the overlap groups holding keys from this key on.
    #[arg(long)]
    from: Option<String>,
    /// Compact only the overlap groups holding keys up to this key.
    #[arg(long)]
    to: Option<String>,
    /// --from and --to are hex.
    #[arg(long)]
    hex: bool,
}

fn synced() -> WriteOptions {
    WriteOptions::default().sync(true)
}

/// `drop-keyspace DIR NAME`.
#[derive(Debug, Args)]
pub struct DropKeyspaceArgs {
    /// The database directory.
    dir: PathBuf,
    /// The keyspace to drop, with all its data.
    name: String,
}

pub fn get(a: &GetArgs) -> Result<ExitCode, CliError> {
    let key = a.enc.key(&a.key)?;
    let db = open::open(&a.db, &a.ks.keyspace, Mode::Read)?;
    let value = db.get(&key)?;
    db.close()?;
    let mut out = std::io::stdout().lock();
    if a.enc.json {
        writeln!(out, "{}", a.enc.json_pair(&key, value.as_deref()))?;
    } else if let Some(v) = &value {
        writeln!(out, "{}", a.enc.show_value(v))?;
    }
    if value.is_none() {
        if !a.enc.json {
            eprintln!("rillkv: not found: {}", a.enc.show_key(&key));
        }
        return Ok(ExitCode::from(EXIT_NOT_OK));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn put(a: &PutArgs) -> Result<ExitCode, CliError> {
    let (key, value) = (a.enc.key(&a.key)?, a.enc.value(&a.value)?);
    let db = open::open(&a.db, &a.ks.keyspace, Mode::Write)?;
    db.put(&key, &value, &synced())?;
    db.close()?;
    Ok(ExitCode::SUCCESS)
}

pub fn delete(a: &KeyArgs) -> Result<ExitCode, CliError> {
    let key = a.enc.key(&a.key)?;
    let db = open::open(&a.db, &a.ks.keyspace, Mode::Write)?;
    db.delete(&key, &synced())?;
    db.close()?;
    Ok(ExitCode::SUCCESS)
}

pub fn merge(a: &MergeArgs) -> Result<ExitCode, CliError> {
    let key = a.enc.key(&a.key)?;
    let recorded = open::recorded_operator(&a.db.dir, &a.ks.keyspace)?;
    let operator =
        a.db.merge_operator
            .clone()
            .or(recorded)
            .filter(|n| n != "none");
    let Some(operator) = operator else {
        let what = if a.ks.keyspace == DEFAULT_KEYSPACE {
            format!("the database at {}", a.db.dir.display())
        } else {
            format!(
                "keyspace '{}' of the database at {}",
                a.ks.keyspace,
                a.db.dir.display()
            )
        };
        return Err(CliError::usage(format!(
            "merge needs a merge operator, and {what} is opened without one: pass \
             --merge-operator NAME ({})",
            open::BUILT_INS
        )));
    };
    // A u64 operator's operands are numbers.
    let enc = Encoding {
        u64: a.enc.u64 || (operator.starts_with("u64") && !a.enc.hex),
        ..a.enc
    };
    let operand = enc.value(&a.operand)?;
    let db = open::open(&a.db, &a.ks.keyspace, Mode::Write)?;
    db.merge(&key, &operand, &synced())?;
    db.close()?;
    Ok(ExitCode::SUCCESS)
}

pub fn scan(a: &ScanArgs, quiet: bool) -> Result<ExitCode, CliError> {
    let bound = |k: &Option<String>, upper: bool| -> Result<Bound<Vec<u8>>, CliError> {
        Ok(match k {
            Some(k) if upper => Bound::Excluded(a.enc.key(k)?),
            Some(k) => Bound::Included(a.enc.key(k)?),
            None => Bound::Unbounded,
        })
    };
    let (from, to) = (bound(&a.from, false)?, bound(&a.to, true)?);
    let prefix = a.prefix.as_deref().map(|p| a.enc.key(p)).transpose()?;
    let db = open::open(&a.db, &a.ks.keyspace, Mode::Read)?;
    let iter = match &prefix {
        Some(p) => db.prefix(p),
        None => db.range((from, to)),
    };
    let iter: Box<dyn Iterator<Item = _>> = if a.reverse {
        Box::new(iter.rev())
    } else {
        Box::new(iter)
    };
    let pb = progress::spinner("scanning", quiet || std::io::stdout().is_terminal());
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut n = 0u64;
    for item in iter.take(a.limit.unwrap_or(usize::MAX)) {
        let (key, value) = item?;
        if a.enc.json {
            let v = (!a.keys_only).then_some(&value[..]);
            let mut pair = a.enc.json_pair(&key, v);
            if a.keys_only
                && let Some(obj) = pair.as_object_mut()
            {
                obj.remove("value");
            }
            writeln!(out, "{pair}")?;
        } else if a.keys_only {
            writeln!(out, "{}", a.enc.show_key(&key))?;
        } else {
            writeln!(
                out,
                "{}\t{}",
                a.enc.show_key(&key),
                a.enc.show_value(&value)
            )?;
        }
        n += 1;
        if n.is_multiple_of(4096) {
            pb.set_message(format!("scanning: {n} keys"));
        }
    }
    out.flush()?;
    pb.finish_and_clear();
    drop(out);
    db.close()?;
    Ok(ExitCode::SUCCESS)
}

fn tree_line(s: &Stats) -> String {
    let tables: usize = s.runs.iter().map(|r| r.tables.len()).sum();
    let bytes: u64 = s.runs.iter().flat_map(|r| &r.tables).map(|t| t.size).sum();
    format!(
        "{} in {} ({}, deepest key range {})",
        plural(tables, "table"),
        plural(s.runs.len(), "run"),
        human(bytes),
        plural(s.max_depth as usize, "run")
    )
}

pub fn compact(a: &CompactArgs, quiet: bool) -> Result<ExitCode, CliError> {
    let key = |k: &Option<String>| -> Result<Option<Vec<u8>>, CliError> {
        let enc = Encoding {
            hex: a.hex,
            ..Encoding::default()
        };
        k.as_deref().map(|k| enc.key(k)).transpose()
    };
    let (from, to) = (key(&a.from)?, key(&a.to)?);
    let db = open::open(&a.db, &a.ks.keyspace, Mode::Compact)?;
    let before = db.stats();
    let pb = progress::spinner("compacting", quiet);
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        // The compaction is one call; show its counters as they move.
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let c = db.db().stats().counters;
                pb.set_message(format!(
                    "compacting: {} jobs done, {} read, {} written",
                    c.compactions,
                    human(c.compaction_bytes_read),
                    human(c.compaction_bytes_written)
                ));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = match (&from, &to) {
            (None, None) => db.compact(),
            _ => db.compact_range((
                from.clone().map_or(Bound::Unbounded, Bound::Included),
                to.clone().map_or(Bound::Unbounded, Bound::Included),
            )),
        };
        done.store(true, Ordering::Release);
        r
    });
    pb.finish_and_clear();
    result?;
    let after = db.stats();
    let c = &after.counters;
    let what = if db.name() == DEFAULT_KEYSPACE {
        String::new()
    } else {
        format!(" keyspace {}", db.name())
    };
    println!(
        "compacted{what} in {:.2} s: {} -> {}; {} read {}, wrote {}",
        started.elapsed().as_secs_f64(),
        tree_line(&before),
        tree_line(&after),
        plural(c.compactions as usize, "compaction"),
        human(c.compaction_bytes_read),
        human(c.compaction_bytes_written)
    );
    db.close()?;
    Ok(ExitCode::SUCCESS)
}

pub fn drop_keyspace(a: &DropKeyspaceArgs) -> Result<ExitCode, CliError> {
    // No value is read or written: any operator the keyspace records will
    // do.
    let args = open::any_operator(
        &DbArgs {
            dir: a.dir.clone(),
            merge_operator: None,
        },
        &a.name,
    )?;
    let db = open::open(&args, &a.name, Mode::Compact)?;
    let s = db.stats();
    let tables: usize = s.runs.iter().map(|r| r.tables.len()).sum();
    let bytes: u64 = s.runs.iter().flat_map(|r| &r.tables).map(|t| t.size).sum();
    db.db().drop_keyspace(&a.name)?;
    let left = db.db().keyspaces();
    db.close()?;
    println!(
        "dropped keyspace {} ({}, {}); left: {}",
        a.name,
        plural(tables, "table"),
        human(bytes),
        left.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
