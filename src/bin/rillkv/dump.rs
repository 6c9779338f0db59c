//! `dump table|wal|manifest`: files decoded, offline.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rillkv::tools::{self, EditDump, EntryDump, LogDamage, TableDump};

use crate::error::{CliError, EXIT_NOT_OK};
use crate::fmt::{Encoding, escape, human, human_exact};
use crate::progress;

#[derive(Debug, Subcommand)]
pub enum DumpCommand {
    /// A table file: footer, properties, filter, every block (offset,
    /// size, compression) and its entries (seqno, kind).
    Table(DumpArgs),
    /// A WAL file: every record (offset) and its write group (seqnos,
    /// entries), and any damage.
    Wal(DumpArgs),
    /// The version edits of a manifest, in order: FILE is a database
    /// directory (its CURRENT names the manifest) or a manifest file.
    Manifest(DumpManifestArgs),
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The file.
    file: PathBuf,
    /// List blocks or records without their entries.
    #[arg(long)]
    no_entries: bool,
    /// Print at most this many entries.
    #[arg(long)]
    limit: Option<u64>,
    /// Keys and values as hex.
    #[arg(long)]
    hex: bool,
}

#[derive(Debug, Args)]
pub struct DumpManifestArgs {
    /// A database directory or a manifest file.
    path: PathBuf,
    /// Keys as hex.
    #[arg(long)]
    hex: bool,
}

pub fn run(c: &DumpCommand, quiet: bool) -> Result<ExitCode, CliError> {
    match c {
        DumpCommand::Table(a) => table(a, quiet),
        DumpCommand::Wal(a) => wal(a),
        DumpCommand::Manifest(a) => manifest(a),
    }
}

fn enc(hex: bool) -> Encoding {
    Encoding {
        hex,
        ..Encoding::default()
    }
}

/// Prints entries (unless `--no-entries`) until `--limit` is reached.
struct Entries {
    enc: Encoding,
    left: u64,
    show: bool,
}

impl Entries {
    fn print(&mut self, out: &mut impl Write, e: &EntryDump) -> std::io::Result<()> {
        if !self.show || self.left == 0 {
            return Ok(());
        }
        self.left -= 1;
        let value = if e.kind == "delete" && e.value.is_empty() {
            String::new()
        } else {
            format!(" = {}", self.enc.show_value(&e.value))
        };
        writeln!(
            out,
            "    {:<6} @{:<8} {}{value}",
            e.kind,
            e.seqno,
            self.enc.show_key(&e.key)
        )
    }
}

fn table(a: &DumpArgs, quiet: bool) -> Result<ExitCode, CliError> {
    let t = TableDump::open(&a.file)?;
    let enc = enc(a.hex);
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "table {}: {}, format version {}",
        t.path.display(),
        human_exact(t.file_size),
        t.format_version
    )?;
    writeln!(
        out,
        "footer: index @{} +{}, filter @{} +{}, properties @{} +{} (sizes without the {}-byte block trailer)",
        t.index.offset,
        t.index.size,
        t.filter.offset,
        t.filter.size,
        t.properties_block.offset,
        t.properties_block.size,
        TableDump::BLOCK_TRAILER
    )?;
    let mut damaged = false;
    match &t.properties {
        Ok(p) => {
            writeln!(out, "properties:")?;
            writeln!(
                out,
                "  keys         {} .. {}",
                enc.show_key(&p.smallest),
                enc.show_key(&p.largest)
            )?;
            writeln!(out, "  seqnos       {} .. {}", p.min_seqno, p.max_seqno)?;
            writeln!(
                out,
                "  entries      {} ({} deletes, {} merge operands)",
                p.entries, p.tombstones, p.merge_operands
            )?;
            writeln!(
                out,
                "  raw bytes    keys {} (with 8-byte trailers), values {}",
                human(p.raw_key_bytes),
                human(p.raw_value_bytes)
            )?;
            writeln!(
                out,
                "  data blocks  {} ({} with trailers)",
                p.data_blocks,
                human(p.data_size)
            )?;
            writeln!(out, "  compression  {}", p.compression)?;
            writeln!(out, "  filter       {} bits per key", p.filter_bits_per_key)?;
        }
        Err(e) => {
            damaged = true;
            writeln!(out, "properties: DAMAGED: {e}")?;
        }
    }
    match &t.filter_info {
        None => writeln!(out, "filter: none")?,
        Some(Ok(f)) => writeln!(out, "filter: {} bits, {} probes per key", f.bits, f.probes)?,
        Some(Err(e)) => writeln!(out, "filter: DAMAGED (reads ignore it): {e}")?,
    }
    writeln!(out, "blocks: {}", t.blocks.len())?;
    let total: u64 = t.blocks.iter().map(|b| b.location.size).sum();
    let pb = progress::bytes(total, "reading", quiet, true);
    let mut entries = Entries {
        enc,
        left: a.limit.unwrap_or(u64::MAX),
        show: !a.no_entries,
    };
    for (i, b) in t.blocks.iter().enumerate() {
        let head = format!("block {i} @{} +{}", b.location.offset, b.location.size);
        match t.read_block(i) {
            Ok(d) => {
                writeln!(
                    out,
                    "{head} {} -> {} B, {} entries, {} restarts, last key {} @{}",
                    d.compression,
                    d.uncompressed_size,
                    d.entries.len(),
                    d.restarts,
                    enc.show_key(&b.last_key),
                    b.last_seqno
                )?;
                for e in &d.entries {
                    entries.print(&mut out, e)?;
                }
            }
            Err(e) => {
                damaged = true;
                writeln!(out, "{head} DAMAGED: {e}")?;
            }
        }
        pb.inc(b.location.size);
    }
    pb.finish_and_clear();
    out.flush()?;
    Ok(if damaged {
        ExitCode::from(EXIT_NOT_OK)
    } else {
        ExitCode::SUCCESS
    })
}

fn damage_line(d: &LogDamage) -> String {
    format!(
        "damage @{}: {} ({}; {} bytes to the end)",
        d.offset,
        d.reason,
        if d.is_tail {
            "a torn tail, as a crash leaves: recovery drops it"
        } else {
            "corruption: valid records follow"
        },
        d.dropped_bytes
    )
}

fn wal(a: &DumpArgs) -> Result<ExitCode, CliError> {
    let w = tools::dump_wal(&a.file)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let entries_total: usize = w
        .records
        .iter()
        .filter_map(|r| r.batch.as_ref().ok())
        .map(|b| b.entries.len())
        .sum();
    writeln!(
        out,
        "wal {}: {}, {} records, {} entries",
        w.path.display(),
        human_exact(w.file_size),
        w.records.len(),
        entries_total
    )?;
    let mut entries = Entries {
        enc: enc(a.hex),
        left: a.limit.unwrap_or(u64::MAX),
        show: !a.no_entries,
    };
    let mut damaged = false;
    for r in &w.records {
        match &r.batch {
            Ok(b) => {
                let last = b.base_seqno + (b.entries.len() as u64).saturating_sub(1);
                writeln!(
                    out,
                    "record @{} ({} B): seqnos {}..={}, {} entries",
                    r.offset,
                    r.len,
                    b.base_seqno,
                    last,
                    b.entries.len()
                )?;
                for e in &b.entries {
                    entries.print(&mut out, e)?;
                }
            }
            Err(e) => {
                damaged = true;
                writeln!(out, "record @{} ({} B): DAMAGED: {e}", r.offset, r.len)?;
            }
        }
    }
    if let Some(d) = &w.damage {
        damaged |= !d.is_tail;
        writeln!(out, "{}", damage_line(d))?;
    }
    out.flush()?;
    Ok(if damaged {
        ExitCode::from(EXIT_NOT_OK)
    } else {
        ExitCode::SUCCESS
    })
}

fn edit_line(e: &EditDump) -> String {
    if e.is_empty() {
        return "empty (it follows an edit that made files obsolete, which may now be deleted)"
            .to_owned();
    }
    let mut parts = Vec::new();
    if let Some(v) = e.format_version {
        parts.push(format!("format version {v}"));
    }
    if let Some(v) = e.next_keyspace_id {
        parts.push(format!("next keyspace id {v}"));
    }
    if e.keyspace != 0 || e.create.is_some() {
        parts.push(format!("keyspace {}", e.keyspace));
    }
    if let Some(name) = &e.create {
        parts.push(format!("created as {}", escape(name.as_bytes())));
    }
    if e.drop {
        parts.push("dropped".to_owned());
    }
    if let Some(v) = e.log_number {
        parts.push(format!("log number {v}"));
    }
    if let Some(v) = e.next_file_number {
        parts.push(format!("next file {v}"));
    }
    if let Some(v) = e.last_seqno {
        parts.push(format!("last seqno {v}"));
    }
    if let Some(v) = &e.merge_operator {
        parts.push(format!("merge operator {}", escape(v.as_bytes())));
    }
    if !e.added.is_empty() {
        parts.push(format!("{} tables added", e.added.len()));
    }
    if !e.deleted.is_empty() {
        parts.push(format!("{} tables deleted", e.deleted.len()));
    }
    parts.join(", ")
}

fn manifest(a: &DumpManifestArgs) -> Result<ExitCode, CliError> {
    let m = tools::dump_manifest(&a.path)?;
    let enc = enc(a.hex);
    let mut out = BufWriter::new(std::io::stdout().lock());
    if let Some(c) = &m.current {
        writeln!(out, "CURRENT: {c}")?;
    }
    writeln!(
        out,
        "manifest {}: {}, {} edits",
        m.path.display(),
        human_exact(m.file_size),
        m.records.len()
    )?;
    let mut damaged = false;
    for (i, r) in m.records.iter().enumerate() {
        match &r.edits {
            Ok(edits) if edits.is_empty() => {
                let line = edit_line(&EditDump::default());
                writeln!(out, "edit {i} @{} ({} B): {line}", r.offset, r.len)?;
            }
            Ok(edits) => {
                for e in edits {
                    print_edit(&mut out, i, r, e, &enc)?;
                }
            }
            Err(e) => {
                damaged = true;
                writeln!(out, "edit {i} @{} ({} B): DAMAGED: {e}", r.offset, r.len)?;
            }
        }
    }
    if let Some(d) = &m.damage {
        damaged = true;
        writeln!(out, "{}", damage_line(d))?;
    }
    out.flush()?;
    Ok(if damaged {
        ExitCode::from(EXIT_NOT_OK)
    } else {
        ExitCode::SUCCESS
    })
}

/// One keyspace edit of manifest record `i`, with its tables.
fn print_edit(
    out: &mut impl Write,
    i: usize,
    r: &tools::ManifestRecord,
    e: &EditDump,
    enc: &Encoding,
) -> Result<(), CliError> {
    writeln!(
        out,
        "edit {i} @{} ({} B): {}",
        r.offset,
        r.len,
        edit_line(e)
    )?;
    for t in &e.added {
        writeln!(
            out,
            "    add table {} run {}: {}, {} entries, seqnos {}..={}, keys {} .. {}",
            t.number,
            t.run,
            human_exact(t.size),
            t.entries,
            t.min_seqno,
            t.max_seqno,
            enc.show_key(&t.smallest),
            enc.show_key(&t.largest)
        )?;
    }
    for n in &e.deleted {
        writeln!(out, "    delete table {n}")?;
    }
    Ok(())
}
