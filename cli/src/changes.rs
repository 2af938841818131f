//! `quiver merge`, `quiver optimize` and `quiver rewrite`: changes that are not SQL statements
//! (SQL `DELETE` / `UPDATE` / `TRUNCATE` go through `quiver sql`).
//!
//! # Contract
//! - `merge` reads every input file (in memory), then merges it into the table by the key
//!   columns as one new version ([`quiver_store::merge`]); `optimize` compacts small and
//!   deletion-heavy segments as one new version ([`quiver_store::optimize`]); `rewrite`
//!   rewrites every segment with new column encodings as one new version (`optimize` with
//!   [`OptimizeOptions::encoding`]). Each prints what it did on stdout; old files stay for
//!   time travel until `quiver vacuum`.

use std::path::PathBuf;

use super::transfer::FormatArg;
use quiver_store::io::{self, ImportOptions};
use quiver_store::{MergeOptions, OptimizeOptions, Result};

/// Arguments of `quiver merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Input files or directories (Parquet, IPC, CSV, NDJSON), then the table directory.
    #[arg(required = true, num_args = 2..)]
    pub paths: Vec<PathBuf>,
    /// The key columns, comma-separated: a source row whose key a table row has replaces it;
    /// the others are inserted. A key with a NULL matches nothing.
    #[arg(long, required = true, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Also delete the table rows whose key no input row has.
    #[arg(long)]
    pub delete_unmatched: bool,
    /// Input format (default: from each file's extension).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

/// Arguments of `quiver optimize`.
#[derive(Debug, clap::Args)]
pub struct OptimizeArgs {
    /// The table directory.
    pub table: PathBuf,
    /// Rows per rewritten segment; segments with fewer than half as many rows are rewritten.
    #[arg(long, default_value_t = OptimizeOptions::default().target_rows)]
    pub target_rows: usize,
    /// Segments with more than this fraction of their rows deleted are rewritten.
    #[arg(long, default_value_t = OptimizeOptions::default().deleted_fraction)]
    pub deleted_fraction: f64,
}

/// Arguments of `quiver rewrite`.
#[derive(Debug, clap::Args)]
pub struct RewriteArgs {
    /// The table directory.
    pub table: PathBuf,
    /// The column encodings to rewrite with, as for `quiver import --encoding` (`raw`,
    /// `compact`, `auto`, or per column, e.g. `compact,l_comment=raw`). Remembered by the
    /// table.
    #[arg(long, value_name = "SPEC")]
    pub encoding: String,
    /// Rows per rewritten segment.
    #[arg(long, default_value_t = OptimizeOptions::default().target_rows)]
    pub target_rows: usize,
}

/// Runs `quiver rewrite`.
pub fn rewrite(args: RewriteArgs) -> Result<()> {
    let spec = quiver_store::EncodingSpec::parse(&args.encoding)
        .map_err(|e| quiver_store::Error::invalid(format!("--encoding: {e}")))?;
    let options = OptimizeOptions::default()
        .with_target_rows(args.target_rows)
        .with_encoding(spec.clone());
    let report = quiver_store::optimize(&args.table, options)?;
    println!(
        "version {}: {} segments rewritten into {} ({} rows) with encoding {spec}; run `quiver vacuum` to free the old files",
        report.version, report.segments_removed, report.segments_written, report.rows_written
    );
    Ok(())
}

/// Runs `quiver merge`.
pub fn merge(args: MergeArgs) -> Result<()> {
    let (table, sources) = args.paths.split_last().expect("clap requires two paths");
    let mut options = ImportOptions::default();
    options.format = args.format.map(Into::into);
    let mut batches = Vec::new();
    for file in io::expand_sources(sources, options.format)? {
        let (_, stream) = io::open_source(&file, &options)?;
        for batch in stream {
            batches.push(batch?);
        }
    }
    let keys: Vec<&str> = args.key.iter().map(String::as_str).collect();
    let report = quiver_store::merge(
        table,
        &batches,
        &keys,
        MergeOptions::default().with_delete_unmatched(args.delete_unmatched),
    )?;
    println!(
        "version {}: {} rows updated, {} inserted, {} deleted",
        report.version, report.updated, report.inserted, report.deleted
    );
    Ok(())
}

/// Runs `quiver optimize`.
pub fn optimize(args: OptimizeArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.deleted_fraction) {
        return Err(quiver_store::Error::invalid(format!(
            "--deleted-fraction must be between 0 and 1, not {}",
            args.deleted_fraction
        )));
    }
    let options = OptimizeOptions::default()
        .with_target_rows(args.target_rows)
        .with_deleted_fraction(args.deleted_fraction);
    let report = quiver_store::optimize(&args.table, options)?;
    if report.segments_removed == 0 {
        println!("version {}: nothing to compact", report.version);
    } else {
        println!(
            "version {}: {} segments rewritten into {} ({} rows; {} deleted rows dropped); run `quiver vacuum` to free the old files",
            report.version,
            report.segments_removed,
            report.segments_written,
            report.rows_written,
            report.deleted_rows_dropped
        );
    }
    Ok(())
}
