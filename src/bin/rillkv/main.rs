//! `rillkv`: inspect, query and repair-check rillkv databases from the
//! shell (feature `cli`).
//!
//! ```text
//! rillkv stats DIR [--keyspace NAME]    each keyspace: runs, tables, overlap groups, next compaction, amplification
//! rillkv get DIR KEY                    rillkv put DIR KEY VALUE       rillkv delete DIR KEY
//! rillkv merge DIR KEY OPERAND          rillkv scan DIR [--prefix P | --from A --to B] [--limit N]
//! rillkv dump table FILE                rillkv dump wal FILE           rillkv dump manifest DIR|FILE
//! rillkv verify DIR                     rillkv compact DIR [--from A --to B]
//! rillkv shape DIR --out tree.svg       rillkv keyspaces DIR           rillkv drop-keyspace DIR NAME
//! rillkv backup create DIR BACKUPS      rillkv backup list BACKUPS     rillkv backup verify BACKUPS ID
//! rillkv backup restore BACKUPS ID NEW  rillkv backup purge BACKUPS --keep N
//! ```
//!
//! The data commands (`get`, `put`, `delete`, `merge`, `scan`, `compact`)
//! work in the default keyspace, or in the one `--keyspace NAME` names;
//! `--merge-operator` is then that keyspace's operator. A write (`put`,
//! `delete`, `merge`) creates the keyspace if it does not exist; the others
//! refuse a keyspace that does not.
//!
//! Offline commands (`stats`, `dump`, `shape`, `keyspaces`, and the first
//! pass of `verify`) read files without opening the database: no lock,
//! nothing written, no merge operator needed. The others open it, which
//! takes the lock and runs recovery like any open. `backup` commands
//! other than `create` touch only the backup directory (taking its lock).
//!
//! Exit codes: 0 success; 1 a key not found (`get`) or damage found
//! (`verify`, or a `Corruption` error from any command); 2 a usage, I/O or
//! other error, printed to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod backup;
mod data;
mod dump;
mod error;
mod fmt;
mod open;
mod progress;
mod tree;
mod verify;

use error::CliError;

/// Inspect, query and check rillkv databases.
#[derive(Debug, Parser)]
#[command(name = "rillkv", version, max_term_width = 100)]
struct Cli {
    /// Show no progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Each keyspace's tree: runs, tables, overlap groups, what the policy
    /// would compact next and why, amplification. Offline.
    Stats(tree::StatsArgs),
    /// Prints a key's value (exit 1 if it has none).
    Get(data::GetArgs),
    /// Writes a key (synced).
    Put(data::PutArgs),
    /// Deletes a key (synced).
    Delete(data::KeyArgs),
    /// Merges an operand into a key with the keyspace's merge operator
    /// (synced).
    Merge(data::MergeArgs),
    /// Prints keys and values in key order.
    Scan(data::ScanArgs),
    /// Decodes a table, WAL or manifest file. Offline.
    #[command(subcommand)]
    Dump(dump::DumpCommand),
    /// Checks every checksum of every live file (exit 1 if damaged).
    Verify(verify::VerifyArgs),
    /// Compacts the keyspace's whole tree, or the overlap groups meeting a
    /// key range.
    Compact(data::CompactArgs),
    /// Draws the tree as an SVG picture: each keyspace's, one under the
    /// other. Offline.
    Shape(tree::ShapeArgs),
    /// Lists the keyspaces: id, merge operator, runs, tables, bytes.
    /// Offline.
    Keyspaces(tree::KeyspacesArgs),
    /// Drops a keyspace and all its data.
    DropKeyspace(data::DropKeyspaceArgs),
    /// Incremental backups: create, list, verify, restore, purge.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
}

/// A database directory, and how to open it.
#[derive(Debug, Clone, Args)]
struct DbArgs {
    /// The database directory.
    dir: PathBuf,
    /// The merge operator to open the keyspace worked in with (the default
    /// keyspace, or --keyspace's): u64add, u64max, u64min, append,
    /// append:<hex delimiter>, or `none`. Required when the keyspace
    /// records one.
    #[arg(long, value_name = "NAME")]
    merge_operator: Option<String>,
}

/// The keyspace a data command works in.
#[derive(Debug, Clone, Args)]
struct KeyspaceArg {
    /// The keyspace to work in (`default`: the database's default
    /// keyspace). A write (put, delete, merge) creates it if it does not
    /// exist.
    #[arg(long, value_name = "NAME", default_value = open::DEFAULT_KEYSPACE)]
    keyspace: String,
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Stats(a) => tree::stats(&a, quiet),
        Command::Get(a) => data::get(&a),
        Command::Put(a) => data::put(&a),
        Command::Delete(a) => data::delete(&a),
        Command::Merge(a) => data::merge(&a),
        Command::Scan(a) => data::scan(&a, quiet),
        Command::Dump(c) => dump::run(&c, quiet),
        Command::Verify(a) => verify::run(&a, quiet),
        Command::Compact(a) => data::compact(&a, quiet),
        Command::Shape(a) => tree::shape(&a, quiet),
        Command::Keyspaces(a) => tree::keyspaces(&a),
        Command::DropKeyspace(a) => data::drop_keyspace(&a),
        Command::Backup(c) => backup::run(&c, quiet),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => e.report(),
    }
}
