//! Opening a database from the command line: the merge operator flag
//! checked against the name the database records.

use std::path::Path;

use rillkv::merge::{Append, U64Add, U64Max, U64Min};
use rillkv::{CompactionOptions, Db, ErrorKind, Options};

use crate::DbArgs;
use crate::error::CliError;
use crate::fmt::from_hex;

/// The operators `--merge-operator` names.
pub const BUILT_INS: &str = "u64add, u64max, u64min, append, append:<hex delimiter>";

/// `opts` with the built-in operator `name`, or `None` if there is none
/// by that name.
fn with_operator(opts: Options, name: &str) -> Option<Options> {
    Some(match name {
        "u64add" => opts.merge_operator(U64Add),
        "u64max" => opts.merge_operator(U64Max),
        "u64min" => opts.merge_operator(U64Min),
        "append" => opts.merge_operator(Append::new(Vec::new())),
        _ => {
            let delimiter = from_hex(name.strip_prefix("append:")?).ok()?;
            if delimiter.is_empty() {
                return None;
            }
            opts.merge_operator(Append::new(delimiter))
        }
    })
}

/// Whether `name` is an operator the CLI provides.
pub fn is_built_in(name: &str) -> bool {
    with_operator(Options::default(), name).is_some()
}

/// The merge operator the database in `dir` records, read from its
/// manifest; `None` for a database without one or no database yet.
pub fn recorded_operator(dir: &Path) -> Result<Option<String>, CliError> {
    if !dir.join("CURRENT").exists() {
        return Ok(None);
    }
    Ok(rillkv::tools::load_tree(dir)?.merge_operator)
}

/// The options to open `args.dir` with: the flag checked against the
/// recorded operator, with a message saying what to pass when they do not
/// fit.
pub fn options(args: &DbArgs, recorded: Option<&str>) -> Result<Options, CliError> {
    let dir = args.dir.display();
    let opts = Options::default();
    let flag = args.merge_operator.as_deref();
    if flag == Some("none") {
        return Ok(opts);
    }
    if let Some(r) = recorded {
        if !is_built_in(r) {
            return Err(CliError::usage(format!(
                "the database at {dir} uses merge operator '{r}', which the rillkv CLI does not \
                 provide (it has {BUILT_INS}); open it from a program that registers '{r}', or \
                 pass --merge-operator none to open it without one: merges are then refused and \
                 reading a key that holds merge operands fails"
            )));
        }
        match flag {
            None => {
                return Err(CliError::usage(format!(
                    "the database at {dir} uses merge operator '{r}': pass --merge-operator {r} \
                     (or --merge-operator none to open it without one: merges are then refused \
                     and reading a key that holds merge operands fails)"
                )));
            }
            Some(f) if f != r => {
                return Err(CliError::usage(format!(
                    "the database at {dir} uses merge operator '{r}', not '{f}': pass \
                     --merge-operator {r}"
                )));
            }
            Some(_) => {}
        }
    }
    match flag {
        None => Ok(opts),
        Some(f) => with_operator(opts, f).ok_or_else(|| {
            CliError::usage(format!(
                "unknown merge operator '{f}': the CLI provides {BUILT_INS}, or `none`"
            ))
        }),
    }
}

/// How a command uses the database it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads only: no new database, no background compaction (the command
    /// is short and should change nothing it need not).
    Read,
    /// Writes: a new database is made if the directory holds none, and the
    /// background compactor runs as in any program.
    Write,
    /// `compact`: an existing database, compacted on request.
    Compact,
}

/// Opens the database in `args.dir`.
pub fn open(args: &DbArgs, mode: Mode) -> Result<Db, CliError> {
    let recorded = recorded_operator(&args.dir)?;
    let mut opts = options(args, recorded.as_deref())?.create_if_missing(mode == Mode::Write);
    if mode == Mode::Read {
        opts = opts.compaction(CompactionOptions::default().background(false));
    }
    Db::open(&args.dir, opts).map_err(|e| match e.kind() {
        ErrorKind::Locked => CliError::usage(format!(
            "{e} (the database is open in another process; offline commands — stats, dump, \
             shape, verify --offline — still work)"
        )),
        _ => CliError::Db(e),
    })
}
