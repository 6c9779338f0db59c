//! Opening a database from the command line: the merge operator flag
//! checked against the name the keyspace worked in records, and
//! [`Opened`], the database with that keyspace.

use std::ops::Bound;
use std::path::Path;

use rillkv::merge::{Append, U64Add, U64Max, U64Min};
use rillkv::tools::{self, TreeInfo};
use rillkv::{
    Bytes, CompactionOptions, Db, DbIter, ErrorKind, Keyspace, KeyspaceOptions, Options, Stats,
    WriteBatch, WriteOptions,
};

use crate::DbArgs;
use crate::error::CliError;
use crate::fmt::from_hex;

/// The operators `--merge-operator` names.
pub const BUILT_INS: &str = "u64add, u64max, u64min, append, append:<hex delimiter>";

/// The name of the database's default keyspace (what `--keyspace`
/// defaults to).
pub const DEFAULT_KEYSPACE: &str = "default";

/// A merge operator the CLI provides.
#[derive(Debug, Clone)]
enum BuiltIn {
    U64Add,
    U64Max,
    U64Min,
    /// With its delimiter (empty: none).
    Append(Vec<u8>),
}

impl BuiltIn {
    /// The built-in operator `name`, or `None` if there is none by that
    /// name.
    fn parse(name: &str) -> Option<BuiltIn> {
        Some(match name {
            "u64add" => BuiltIn::U64Add,
            "u64max" => BuiltIn::U64Max,
            "u64min" => BuiltIn::U64Min,
            "append" => BuiltIn::Append(Vec::new()),
            _ => {
                let delimiter = from_hex(name.strip_prefix("append:")?).ok()?;
                if delimiter.is_empty() {
                    return None;
                }
                BuiltIn::Append(delimiter)
            }
        })
    }

    /// `opts` with this operator for the default keyspace.
    fn on_default(self, opts: Options) -> Options {
        match self {
            BuiltIn::U64Add => opts.merge_operator(U64Add),
            BuiltIn::U64Max => opts.merge_operator(U64Max),
            BuiltIn::U64Min => opts.merge_operator(U64Min),
            BuiltIn::Append(d) => opts.merge_operator(Append::new(d)),
        }
    }

    /// `opts` with this operator for a named keyspace.
    fn on_keyspace(self, opts: KeyspaceOptions) -> KeyspaceOptions {
        match self {
            BuiltIn::U64Add => opts.merge_operator(U64Add),
            BuiltIn::U64Max => opts.merge_operator(U64Max),
            BuiltIn::U64Min => opts.merge_operator(U64Min),
            BuiltIn::Append(d) => opts.merge_operator(Append::new(d)),
        }
    }
}

/// Whether `name` is an operator the CLI provides.
pub fn is_built_in(name: &str) -> bool {
    BuiltIn::parse(name).is_some()
}

/// The manifest's view of the database in `dir`; `None` for no database
/// yet.
fn load(dir: &Path) -> Result<Option<TreeInfo>, CliError> {
    if !dir.join("CURRENT").exists() {
        return Ok(None);
    }
    Ok(Some(tools::load_tree(dir)?))
}

/// The merge operator `keyspace` of `tree` records.
fn recorded_in(tree: Option<&TreeInfo>, keyspace: &str) -> Option<String> {
    tree?
        .keyspaces
        .iter()
        .find(|k| k.name == keyspace)?
        .merge_operator
        .clone()
}

/// The merge operator keyspace `keyspace` of the database in `dir`
/// records, read from its manifest; `None` for a keyspace without one, or
/// no such keyspace or database yet.
pub fn recorded_operator(dir: &Path, keyspace: &str) -> Result<Option<String>, CliError> {
    Ok(recorded_in(load(dir)?.as_ref(), keyspace))
}

/// `args` for a command that reads no values in `keyspace` (`verify`,
/// `drop-keyspace`): unless `--merge-operator` is given, the operator
/// `keyspace` records when the CLI provides it, or none.
pub fn any_operator(args: &DbArgs, keyspace: &str) -> Result<DbArgs, CliError> {
    let operator = match &args.merge_operator {
        Some(flag) => flag.clone(),
        None => recorded_operator(&args.dir, keyspace)?
            .filter(|r| is_built_in(r))
            .unwrap_or_else(|| "none".to_owned()),
    };
    Ok(DbArgs {
        dir: args.dir.clone(),
        merge_operator: Some(operator),
    })
}

/// The operator to open `keyspace` with: the flag checked against the
/// recorded operator, with a message saying what to pass when they do not
/// fit. `None`: no operator.
fn operator(
    args: &DbArgs,
    keyspace: &str,
    recorded: Option<&str>,
) -> Result<Option<BuiltIn>, CliError> {
    let dir = args.dir.display();
    let what = if keyspace == DEFAULT_KEYSPACE {
        format!("the database at {dir}")
    } else {
        format!("keyspace '{keyspace}' of the database at {dir}")
    };
    let flag = args.merge_operator.as_deref();
    if flag == Some("none") {
        return Ok(None);
    }
    if let Some(r) = recorded {
        if !is_built_in(r) {
            return Err(CliError::usage(format!(
                "{what} uses merge operator '{r}', which the rillkv CLI does not provide (it has \
                 {BUILT_INS}); open it from a program that registers '{r}', or pass \
                 --merge-operator none to open it without one: merges are then refused and \
                 reading a key that holds merge operands fails"
            )));
        }
        match flag {
            None => {
                return Err(CliError::usage(format!(
                    "{what} uses merge operator '{r}': pass --merge-operator {r} (or \
                     --merge-operator none to open it without one: merges are then refused and \
                     reading a key that holds merge operands fails)"
                )));
            }
            Some(f) if f != r => {
                return Err(CliError::usage(format!(
                    "{what} uses merge operator '{r}', not '{f}': pass --merge-operator {r}"
                )));
            }
            Some(_) => {}
        }
    }
    match flag {
        None => Ok(None),
        Some(f) => BuiltIn::parse(f).map(Some).ok_or_else(|| {
            CliError::usage(format!(
                "unknown merge operator '{f}': the CLI provides {BUILT_INS}, or `none`"
            ))
        }),
    }
}

/// How a command uses the database it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads only: no new database or keyspace, no background compaction
    /// (the command is short and should change nothing it need not).
    Read,
    /// Writes: a new database, or keyspace, is made if there is none, and
    /// the background compactor runs as in any program.
    Write,
    /// `compact`, `drop-keyspace`: an existing database and keyspace,
    /// changed on request.
    Compact,
}

/// An open database and the keyspace a command works in.
pub struct Opened {
    db: Db,
    /// `None`: the default keyspace.
    keyspace: Option<Keyspace>,
}

impl Opened {
    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The keyspace's name.
    pub fn name(&self) -> &str {
        self.keyspace
            .as_ref()
            .map_or(DEFAULT_KEYSPACE, Keyspace::name)
    }

    /// The newest value of `key`.
    pub fn get(&self, key: &[u8]) -> rillkv::Result<Option<Bytes>> {
        match &self.keyspace {
            Some(ks) => ks.get(key),
            None => self.db.get(key),
        }
    }

    /// The pairs with keys within `bounds`.
    pub fn range(&self, bounds: (Bound<Vec<u8>>, Bound<Vec<u8>>)) -> DbIter {
        match &self.keyspace {
            Some(ks) => ks.range(bounds),
            None => self.db.range(bounds),
        }
    }

    /// The pairs whose keys start with `prefix`.
    pub fn prefix(&self, prefix: &[u8]) -> DbIter {
        match &self.keyspace {
            Some(ks) => ks.prefix(prefix),
            None => self.db.prefix(prefix),
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8], opts: &WriteOptions) -> rillkv::Result<()> {
        let mut batch = WriteBatch::new();
        match &self.keyspace {
            Some(ks) => batch.put_in(ks, key, value),
            None => batch.put(key, value),
        };
        self.db.write_opt(batch, opts)
    }

    /// Deletes `key`.
    pub fn delete(&self, key: &[u8], opts: &WriteOptions) -> rillkv::Result<()> {
        let mut batch = WriteBatch::new();
        match &self.keyspace {
            Some(ks) => batch.delete_in(ks, key),
            None => batch.delete(key),
        };
        self.db.write_opt(batch, opts)
    }

    /// Adds a merge operand for `key`.
    pub fn merge(&self, key: &[u8], operand: &[u8], opts: &WriteOptions) -> rillkv::Result<()> {
        let mut batch = WriteBatch::new();
        match &self.keyspace {
            Some(ks) => batch.merge_in(ks, key, operand),
            None => batch.merge(key, operand),
        };
        self.db.write_opt(batch, opts)
    }

    /// Flushes, then compacts every table into one run.
    pub fn compact(&self) -> rillkv::Result<()> {
        match &self.keyspace {
            Some(ks) => ks.compact(),
            None => self.db.compact(),
        }
    }

    /// Flushes, then compacts every overlap group holding keys within
    /// `bounds`.
    pub fn compact_range(&self, bounds: (Bound<Vec<u8>>, Bound<Vec<u8>>)) -> rillkv::Result<()> {
        match &self.keyspace {
            Some(ks) => ks.compact_range(bounds),
            None => self.db.compact_range(bounds),
        }
    }

    /// The keyspace's memtables and runs, with the database's counters.
    pub fn stats(&self) -> Stats {
        match &self.keyspace {
            Some(ks) => ks.stats(),
            None => self.db.stats(),
        }
    }

    /// Closes the database.
    pub fn close(self) -> Result<(), CliError> {
        drop(self.keyspace);
        self.db.close().map_err(CliError::Db)
    }
}

/// Opens the database in `args.dir`, and in it keyspace `keyspace`
/// (`default`: the default keyspace), whose merge operator is the flag's.
/// Every other keyspace runs with the operator it records when the CLI
/// provides it (background work folds its operands), or none.
pub fn open(args: &DbArgs, keyspace: &str, mode: Mode) -> Result<Opened, CliError> {
    let tree = load(&args.dir)?;
    let target = (keyspace != DEFAULT_KEYSPACE).then_some(keyspace);
    if let (Some(name), Some(tree)) = (target, &tree)
        && mode != Mode::Write
        && !tree.keyspaces.iter().any(|k| k.name == name)
    {
        let names: Vec<&str> = tree.keyspaces.iter().map(|k| k.name.as_str()).collect();
        let hint = if mode == Mode::Read {
            "; a write (put, delete, merge) creates it"
        } else {
            ""
        };
        return Err(CliError::usage(format!(
            "the database at {} has no keyspace '{name}' (it has {}){hint}",
            args.dir.display(),
            names.join(", ")
        )));
    }
    let chosen = operator(
        args,
        keyspace,
        recorded_in(tree.as_ref(), keyspace).as_deref(),
    )?;
    let background = CompactionOptions::default().background(mode != Mode::Read);
    let base = || KeyspaceOptions::default().compaction(background.clone());
    let mut opts = Options::default()
        .create_if_missing(mode == Mode::Write)
        .compaction(background.clone());
    for ks in tree.iter().flat_map(|t| &t.keyspaces) {
        if ks.name == keyspace {
            continue;
        }
        let recorded = ks.merge_operator.as_deref().and_then(BuiltIn::parse);
        if ks.name == DEFAULT_KEYSPACE {
            if let Some(op) = recorded {
                opts = op.on_default(opts);
            }
        } else {
            let ks_opts = recorded.map_or_else(base, |op| op.on_keyspace(base()));
            opts = opts.keyspace(ks.name.clone(), ks_opts);
        }
    }
    let ks_opts = match (target, chosen) {
        (None, Some(op)) => {
            opts = op.on_default(opts);
            None
        }
        (None, None) => None,
        (Some(name), op) => {
            let ks_opts = op.map_or_else(base, |op| op.on_keyspace(base()));
            opts = opts.keyspace(name, ks_opts.clone());
            Some((name, ks_opts))
        }
    };
    let db = Db::open(&args.dir, opts).map_err(|e| match e.kind() {
        ErrorKind::Locked => CliError::usage(format!(
            "{e} (the database is open in another process; offline commands — stats, shape, \
             keyspaces, dump, verify --offline — still work)"
        )),
        _ => CliError::Db(e),
    })?;
    let keyspace = match ks_opts {
        Some((name, ks_opts)) => Some(db.keyspace(name, ks_opts)?),
        None => None,
    };
    Ok(Opened { db, keyspace })
}
