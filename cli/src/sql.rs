//! `quiver sql`: run SQL over Quiver tables and print the result; an interactive prompt when
//! no SQL is given.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use clap::ValueEnum;
use futures::StreamExt;

use super::progress::Progress;
use quiver_store::io::{self, ExportOptions};
use quiver_store::sql::{QueryResult, QuiverSession, SessionLimits};
use quiver_store::{Error, Result};

/// How results are printed.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned table.
    Table,
    /// A header row, then plain values.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// The tables a SQL session sees: shared by `quiver sql` and `quiver serve`.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// A database directory: every table directory inside it is a table named after it, and
    /// `CREATE TABLE ... AS` creates new ones there.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Register a table: NAME=DIR, or NAME=DIR@VERSION for an older version.
    #[arg(long = "table", value_name = "NAME=DIR[@VERSION]")]
    pub tables: Vec<String>,
    /// Read every `--table` at this version (unless it names its own with @VERSION).
    #[arg(long)]
    pub version: Option<u64>,
    /// Memory the queries may hold at once, e.g. 512MiB or 4GiB (default: unbounded). Sorts,
    /// aggregates and joins spill to --spill-dir beyond it; a query that cannot stay within
    /// it fails with an error and the process lives on.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub memory_limit: Option<usize>,
    /// Memory for decoded columns of tables stored encoded (`--encoding compact`), shared by
    /// every query of the process, e.g. 1GiB (default 4GiB). Beyond it the least recently
    /// used are decoded again when next read; raw columns are read from the file and never
    /// count.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub decoded_cache: Option<usize>,
    /// Where queries spill to (default: the system temp directory).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Threads (partitions) per query and in the runtime (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run the queries on the Ballista cluster whose scheduler is at df://HOST:PORT (writes
    /// stay local-only and are refused; docs/DISTRIBUTED.md).
    #[cfg(feature = "distributed")]
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

impl SessionArgs {
    /// The session limits these arguments state.
    pub fn limits(&self) -> SessionLimits {
        SessionLimits {
            memory_limit: self.memory_limit,
            spill_dir: self.spill_dir.clone(),
            threads: self.threads,
        }
    }
}

/// Parses a byte size: a number with an optional unit, B, KiB, MiB, GiB or TiB (K, M, G, T
/// and KB, MB, GB, TB mean the same powers of 1024).
pub fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 512MiB or 4GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    number
        .checked_mul(1usize << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is zero or too large"))
}

/// Arguments of `quiver sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The tables.
    #[command(flatten)]
    pub session: SessionArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Read the SQL from this file.
    #[arg(long, short = 'f', conflicts_with = "query")]
    pub file: Option<PathBuf>,
    /// The SQL: one or more statements separated by `;`. The result of the last statement
    /// that returns rows is printed. Without it (and without --file), an interactive prompt.
    /// It may start with a `--` comment (it is never taken for an option).
    #[arg(allow_hyphen_values = true)]
    pub query: Option<String>,
}

/// A DataFusion error as a Quiver error (Quiver's own errors come back out unchanged).
pub(super) fn external(e: datafusion::error::DataFusionError) -> Error {
    // Keep Quiver's own errors as they are; DataFusion's become one-line invalid-argument errors.
    match e {
        datafusion::error::DataFusionError::External(inner) => match inner.downcast::<Error>() {
            Ok(q) => *q,
            Err(other) => Error::invalid(other.to_string()),
        },
        other => Error::invalid(
            other
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
    }
}

pub(super) fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| Error::io(Path::new("."), "start the query runtime", e))
}

/// The session `args` describe.
pub(super) fn session(args: &SessionArgs) -> Result<QuiverSession> {
    if let Some(bytes) = args.decoded_cache {
        quiver_store::set_decoded_cache_bytes(bytes);
    }
    let limits = args.limits();
    let session = match &args.db {
        Some(db) => QuiverSession::open_db_with_limits(db, Default::default(), &limits)?,
        None => QuiverSession::with_limits(Default::default(), &limits)?,
    };
    // On a cluster, before any table is registered (the session then serves them for it).
    #[cfg(feature = "distributed")]
    let session = match &args.cluster {
        Some(cluster) => session.on_cluster(cluster)?,
        None => session,
    };
    for spec in &args.tables {
        let (name, dir, version) = table_spec(spec, args.version)?;
        match version {
            Some(v) => session.register_table_version(name, dir, v),
            None => session.register_table(name, dir),
        }
        .map_err(external)?;
    }
    Ok(session)
}

/// The parts of a `--table NAME=DIR[@VERSION]` argument (`default_version` without `@`).
fn table_spec(spec: &str, default_version: Option<u64>) -> Result<(&str, &str, Option<u64>)> {
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| Error::invalid(format!("--table {spec}: expected NAME=DIR")))?;
    Ok(match rest.rsplit_once('@') {
        Some((d, v)) if v.parse::<u64>().is_ok() => (name, d, v.parse().ok()),
        _ => (name, rest, default_version),
    })
}

/// The directories a session of `args` reads: its `--db` and each `--table` directory.
pub(super) fn served_dirs(args: &SessionArgs) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = args.db.iter().cloned().collect();
    for spec in &args.tables {
        dirs.push(PathBuf::from(table_spec(spec, None)?.1));
    }
    Ok(dirs)
}

/// Prints a result in `format` to stdout.
pub fn print(result: &QueryResult, format: OutputFormat) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let write_err = |e: std::io::Error| Error::io(Path::new("<stdout>"), "write", e);
    match format {
        OutputFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(&result.batches)?;
            if result.batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = result
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                writeln!(out, "(0 rows; columns: {})", names.join(", ")).map_err(write_err)?;
            } else {
                writeln!(out, "{text}").map_err(write_err)?;
            }
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if result.batches.is_empty() {
                w.write(&RecordBatch::new_empty(Arc::clone(&result.schema)))?;
            }
            for b in &result.batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            for b in &result.batches {
                w.write(b)?;
            }
            w.finish()?;
            writeln!(out).map_err(write_err)?;
        }
        OutputFormat::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in &result.batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    out.flush().map_err(write_err)
}

/// Runs `quiver sql`.
pub fn run(args: SqlArgs) -> Result<()> {
    let rt = runtime(args.session.threads)?;
    let session = session(&args.session)?;
    let sql = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| Error::io(f, "read", e))?,
        (None, None) => return repl(&rt, &session, args.format),
    };
    let result = rt.block_on(session.run_script(&sql)).map_err(external)?;
    if let Some(result) = result {
        print(&result, args.format)?;
    }
    Ok(())
}

fn repl(rt: &tokio::runtime::Runtime, session: &QuiverSession, format: OutputFormat) -> Result<()> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Error::invalid(format!("cannot start the prompt: {e}")))?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".quiver_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "Quiver SQL. End statements with ';'. \\d lists tables, \\d NAME a table's columns, \\q quits; Ctrl-C cancels a running query."
    );
    let mut buffer = String::new();
    // Set by a Ctrl-C at an empty prompt: a second one in a row exits.
    let mut interrupted = false;
    loop {
        let prompt = if buffer.is_empty() {
            "quiver> "
        } else {
            "   ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                interrupted = false;
                let trimmed = line.trim();
                if buffer.is_empty() && matches!(trimmed, "\\q" | "quit" | "exit") {
                    break;
                }
                match (buffer.is_empty(), meta_command(trimmed)) {
                    (true, Some(sql)) => buffer = sql,
                    _ => {
                        buffer.push_str(&line);
                        buffer.push('\n');
                    }
                }
                if !buffer.trim_end().ends_with(';') {
                    continue;
                }
                let _ = editor.add_history_entry(buffer.trim());
                let start = std::time::Instant::now();
                // Ctrl-C while the query runs cancels it: dropping the script's future drops
                // its streams, which stops DataFusion's tasks. (At the prompt the terminal is in
                // raw mode and Ctrl-C reaches `readline` as a key, not as a signal.)
                let outcome = rt.block_on(async {
                    tokio::select! {
                        result = session.run_script(&buffer) => Some(result),
                        _ = tokio::signal::ctrl_c() => None,
                    }
                });
                let Some(outcome) = outcome else {
                    println!("cancelled after {:.3}s", start.elapsed().as_secs_f64());
                    buffer.clear();
                    continue;
                };
                match outcome {
                    Ok(Some(result)) => {
                        let rows: usize = result.batches.iter().map(|b| b.num_rows()).sum();
                        if let Err(e) = print(&result, format) {
                            eprintln!("error: {e}");
                        }
                        println!("{rows} rows in {:.3}s", start.elapsed().as_secs_f64());
                    }
                    Ok(None) => println!("ok ({:.3}s)", start.elapsed().as_secs_f64()),
                    Err(e) => eprintln!("error: {}", external(e)),
                }
                buffer.clear();
            }
            Err(ReadlineError::Interrupted) if buffer.is_empty() => {
                if interrupted {
                    break;
                }
                interrupted = true;
                println!("(Ctrl-C again or \\q to quit)");
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::invalid(format!("prompt: {e}"))),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// The SQL behind a prompt command: `\d` lists the tables, `\d NAME` shows a table's columns.
fn meta_command(line: &str) -> Option<String> {
    let rest = line.strip_prefix("\\d")?;
    if rest.is_empty() {
        return Some("SHOW TABLES;".into());
    }
    let name = rest.strip_prefix(char::is_whitespace)?.trim();
    Some(format!("SHOW COLUMNS FROM {name};"))
}

/// Streams the result of `sql` (with the table at `dir` registered as `t`) into `dest`.
pub fn export_query(
    dir: &Path,
    version: Option<u64>,
    sql: &str,
    dest: &Path,
    options: &ExportOptions,
    quiet: bool,
) -> Result<u64> {
    let rt = runtime(None)?;
    let session = QuiverSession::default();
    match version {
        Some(v) => session.register_table_version("t", dir, v),
        None => session.register_table("t", dir),
    }
    .map_err(external)?;
    let df = rt.block_on(session.sql(sql)).map_err(external)?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let stream = rt.block_on(df.execute_stream()).map_err(external)?;
    // Poll the stream from this (non-runtime) thread; DataFusion's tasks run on the runtime.
    let _guard = rt.enter();
    let batches = futures::executor::block_on_stream(stream.map(|b| b.map_err(external)));
    let progress = Progress::new(quiet, None, "rows");
    let rows = io::export_batches(schema, batches, dest, options, &mut |n| progress.set(n));
    progress.finish();
    rows
}
