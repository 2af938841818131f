//! The `quiver` command-line tool: argument definitions and the commands behind them.
//!
//! # Contract
//! - Every subcommand has `--help`. A failure prints one line, `error: <message>`, on stderr
//!   and exits with status 1 (`verify` also exits 1 when it finds damage); usage errors exit 2.
//! - Commands never leave a table half-changed: they go through [`quiver_store::TableWriter`], whose
//!   commits are atomic.

#![forbid(unsafe_code)]

mod changes;
#[cfg(feature = "distributed")]
mod cluster;
mod demo;
mod info;
mod progress;
mod serve;
mod sql;
mod transfer;
mod users;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use quiver_store::Result;

/// Quiver: an embedded, Arrow-native columnar store.
#[derive(Debug, Parser)]
#[command(name = "quiver", version, about, long_about = None)]
pub struct Cli {
    /// No progress output.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate TPC-H data in-process, store it in Quiver tables, and time opening, scanning
    /// and random access against the same data held in memory.
    Demo(demo::DemoArgs),
    /// Import Parquet, Arrow IPC, CSV or NDJSON files into a table, as one atomic commit.
    Import(transfer::ImportArgs),
    /// Export a table (any version, any columns, or a SQL query's result) to a file.
    Export(transfer::ExportArgs),
    /// Run SQL over Quiver tables; an interactive prompt when no SQL is given.
    Sql(sql::SqlArgs),
    /// Serve the tables over Arrow Flight SQL (JDBC, ADBC and Flight SQL clients).
    Serve(serve::ServeArgs),
    /// Run a scheduler or an executor of a Ballista cluster serving Quiver tables (feature
    /// `distributed`; docs/DISTRIBUTED.md).
    #[cfg(feature = "distributed")]
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Edit the users file of `quiver serve --users`: add users, issue tokens.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Show a table's schema, versions, segments, size, null counts and min/max.
    Info(info::InfoArgs),
    /// Check every checksum and structure of a table version; exit 1 naming what is broken.
    Verify {
        /// The table directory.
        table: PathBuf,
        /// The version to check (default: the newest).
        #[arg(long)]
        version: Option<u64>,
    },
    /// Merge input files into a table by key columns (update matched rows, insert the others,
    /// optionally delete unmatched ones) as one new version.
    Merge(changes::MergeArgs),
    /// Rewrite small and deletion-heavy segments into full ones as one new version.
    Optimize(changes::OptimizeArgs),
    /// Rewrite every segment with other column encodings (e.g. `--encoding compact`) as one
    /// new version.
    Rewrite(changes::RewriteArgs),
    /// Delete the files only versions older than the newest KEEP use.
    Vacuum {
        /// The table directory.
        table: PathBuf,
        /// How many of the newest versions to keep.
        #[arg(long, default_value_t = 1)]
        keep: usize,
    },
}

fn open(table: &std::path::Path, version: Option<u64>) -> Result<quiver_store::Table> {
    match version {
        Some(v) => quiver_store::Table::open_version(table, v),
        None => quiver_store::Table::open(table),
    }
}

impl Command {
    /// Whether the command is a long-running server (`serve`, `cluster`).
    pub fn is_server(&self) -> bool {
        match self {
            Command::Serve(_) => true,
            #[cfg(feature = "distributed")]
            Command::Cluster(_) => true,
            _ => false,
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args, cli.quiet),
        Command::Import(args) => transfer::import(args, cli.quiet),
        Command::Export(args) => transfer::export(args, cli.quiet),
        Command::Sql(args) => sql::run(args),
        Command::Serve(args) => serve::run(args, cli.quiet),
        #[cfg(feature = "distributed")]
        Command::Cluster(command) => cluster::run(command),
        Command::Users(command) => users::run(command),
        Command::Info(args) => info::run(args),
        Command::Merge(args) => changes::merge(args),
        Command::Optimize(args) => changes::optimize(args),
        Command::Rewrite(args) => changes::rewrite(args),
        Command::Verify { table, version } => {
            let t = open(&table, version)?;
            t.verify()?;
            println!(
                "ok: {} version {}: {} segments, {} deletion vectors, {} rows, every checksum and structure verified",
                table.display(),
                t.version(),
                t.segments().len(),
                (0..t.segments().len()).filter(|&s| t.deleted_rows(s).is_some()).count(),
                t.num_rows()
            );
            Ok(())
        }
        Command::Vacuum { table, keep } => {
            let r = quiver_store::vacuum(&table, keep)?;
            println!(
                "removed {} versions and {} files ({} bytes){}",
                r.removed_versions.len(),
                r.removed_files.len(),
                r.bytes_freed,
                if r.skipped_leftovers {
                    "; a writer is live, so files of unfinished writes were left alone"
                } else {
                    ""
                }
            );
            Ok(())
        }
    }
}

/// Formats a byte count for people ("1.5 GiB").
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
