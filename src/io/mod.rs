//! Import into and export out of Quiver tables: Parquet, Arrow IPC (file and stream), CSV and
//! NDJSON.
//!
//! # Contract
//! - Import feeds the one build path: every batch of every source goes through one
//!   [`TableWriter`], which commits once at the end. On any error (a bad file, a schema that
//!   does not match, a full disk) the writer is dropped, its segments are deleted, and the table
//!   stays at its previous version. An interrupted process leaves only unreferenced files,
//!   which the next writer or `vacuum` removes.
//! - Sources stream: memory stays bounded by a few batches per decoding thread (Parquet row
//!   groups are decoded in parallel, `threads` at a time, and written in file order).
//! - Import refuses, with an error naming the file and column, any column whose Arrow type
//!   Quiver cannot store (see `arrow_bridge::types`), and any file whose schema differs from the
//!   table's.
//! - Export writes a temporary file next to the destination and renames it into place when
//!   complete: a failed export leaves no partial destination file. Columns are written in the
//!   types the table was written with (its source schema), so Parquet -> Quiver -> Parquet keeps
//!   the schema.

#![forbid(unsafe_code)]

mod parquet;
mod readers;
mod writers;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::error::{Error, ErrorKind, Result};
use crate::{ScanOptions, Table, TableWriter, WriteOptions};

pub use writers::Compression;

/// A file format Quiver reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC: the file format (`ARROW1` magic) or the stream format (read: detected).
    Ipc,
    /// Comma-separated values with a header row.
    Csv,
    /// Newline-delimited JSON objects.
    Ndjson,
}

impl Format {
    /// The format a file name's extension suggests.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "parquet" | "pq" => Format::Parquet,
            "arrow" | "arrows" | "ipc" | "feather" => Format::Ipc,
            "csv" | "tsv" => Format::Csv,
            "ndjson" | "jsonl" | "json" => Format::Ndjson,
            _ => return None,
        })
    }

    /// Parses `parquet`, `ipc` (or `arrow`), `csv`, `ndjson` (or `jsonl`, `json`).
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "parquet" => Format::Parquet,
            "ipc" | "arrow" => Format::Ipc,
            "csv" => Format::Csv,
            "ndjson" | "jsonl" | "json" => Format::Ndjson,
            other => {
                return Err(Error::invalid(format!(
                    "unknown format \"{other}\" (expected parquet, ipc, csv or ndjson)"
                )))
            }
        })
    }
}

/// What an import does to an existing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Create a new table; fail if one exists.
    #[default]
    Create,
    /// Append to an existing table with the same schema.
    Append,
    /// Replace the table's rows (and schema) with a new version; create it if missing.
    Overwrite,
}

/// CSV reading options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CsvOptions {
    /// Field delimiter (default `,`; `\t` for `.tsv` files when not set explicitly).
    pub delimiter: Option<u8>,
    /// Whether the first row names the columns (default true).
    pub has_header: bool,
    /// The schema; inferred from the first `infer_rows` rows when `None`.
    pub schema: Option<SchemaRef>,
    /// Rows read to infer a CSV schema (NDJSON schemas are inferred from every line).
    pub infer_rows: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: None,
            has_header: true,
            schema: None,
            infer_rows: 10_000,
        }
    }
}

crate::options::with_setters!(CsvOptions {
    /// Sets [`Self::delimiter`]: the field delimiter.
    with_delimiter => delimiter: u8 as Some,
    /// Sets [`Self::has_header`]: whether the first row names the columns (default true).
    with_has_header => has_header: bool,
    /// Sets [`Self::schema`]: the schema, instead of inferring it.
    with_schema => schema: SchemaRef as Some,
    /// Sets [`Self::infer_rows`]: rows read to infer a CSV schema.
    with_infer_rows => infer_rows: usize,
});

/// Options of [`import`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The input format; from each file's extension when `None`.
    pub format: Option<Format>,
    /// Create, append or overwrite.
    pub mode: Mode,
    /// Only these columns, in this order.
    pub columns: Option<Vec<String>>,
    /// CSV (and NDJSON inference) options.
    pub csv: CsvOptions,
    /// Decoding threads (Parquet row groups).
    pub threads: usize,
    /// Rows per decoded batch.
    pub batch_size: usize,
    /// Segment, zone and memory settings of the writer.
    pub write: WriteOptions,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            format: None,
            mode: Mode::Create,
            columns: None,
            csv: CsvOptions::default(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            batch_size: 65_536,
            write: WriteOptions::default(),
        }
    }
}

crate::options::with_setters!(ImportOptions {
    /// Sets [`Self::format`]: the input format, instead of each file's extension.
    with_format => format: Format as Some,
    /// Sets [`Self::mode`]: create, append or overwrite.
    with_mode => mode: Mode,
    /// Sets [`Self::columns`]: only these columns, in this order.
    with_columns => columns: Vec<String> as Some,
    /// Sets [`Self::csv`]: CSV (and NDJSON inference) options.
    with_csv => csv: CsvOptions,
    /// Sets [`Self::threads`]: decoding threads (Parquet row groups).
    with_threads => threads: usize,
    /// Sets [`Self::batch_size`]: rows per decoded batch.
    with_batch_size => batch_size: usize,
    /// Sets [`Self::write`]: segment, zone and memory settings of the writer.
    with_write => write: WriteOptions,
});

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The version the import committed.
    pub version: u64,
    /// Rows imported.
    pub rows: u64,
    /// Files read.
    pub files: usize,
}

/// A stream of batches from one source.
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// The input files named by `sources`: files as given, directories expanded to the files in
/// them (sorted by name, hidden files skipped) whose extension matches `format` (or any known
/// format when `None`).
pub fn expand_sources(sources: &[PathBuf], format: Option<Format>) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for src in sources {
        let meta = std::fs::metadata(src).map_err(|e| Error::io(src, "open", e))?;
        if !meta.is_dir() {
            files.push(src.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(src)
            .map_err(|e| Error::io(src, "list", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .filter(|p| match (Format::from_path(p), format) {
                (Some(f), Some(want)) => f == want,
                (Some(_), None) => true,
                (None, _) => false,
            })
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(Error::invalid(format!(
                "{} holds no {} files",
                src.display(),
                format.map_or("Parquet, IPC, CSV or NDJSON".to_string(), |f| format!(
                    "{f:?}"
                ))
            )));
        }
        files.extend(found);
    }
    if files.is_empty() {
        return Err(Error::invalid("no input files"));
    }
    Ok(files)
}

/// Opens one source file as a schema and a stream of batches.
pub fn open_source(path: &Path, options: &ImportOptions) -> Result<(SchemaRef, Batches)> {
    let format = match options.format.or_else(|| Format::from_path(path)) {
        Some(f) => f,
        None => {
            return Err(Error::invalid(format!(
                "cannot tell the format of {} from its name; pass --format",
                path.display()
            )))
        }
    };
    let columns = options.columns.as_deref();
    // The decoders' share of the memory the build path may use.
    let budget = options.write.memory_budget / 4;
    match format {
        Format::Parquet => parquet::open(path, columns, options.batch_size, options.threads),
        Format::Ipc => readers::open_ipc(path, columns),
        Format::Csv => readers::open_csv(path, columns, &options.csv, options.batch_size, budget),
        Format::Ndjson => {
            readers::open_ndjson(path, columns, &options.csv, options.batch_size, budget)
        }
    }
}

thread_local! {
    /// How deep the current thread is in [`guard_panics`] calls.
    static GUARDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs a third-party decoder call `f`, turning a panic in it (a decoder bug triggered by
/// damaged input) into `Err(())` for the caller to report as an input error.
pub(crate) fn guard_panics<T>(f: impl FnOnce() -> T) -> std::result::Result<T, ()> {
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result.map_err(|_| ())
}

/// Whether the current thread is inside a decoder call whose panic Quiver turns into an
/// error: a panic hook can stay quiet then (the `quiver` binary's does).
pub fn panic_is_guarded() -> bool {
    GUARDED.with(|g| g.get() > 0)
}

/// An error reading `path`.
pub(crate) fn input_error(path: &Path, detail: impl std::fmt::Display) -> Error {
    ErrorKind::Input {
        file: path.to_path_buf(),
        detail: detail.to_string(),
    }
    .into()
}

/// Column indices of `names` in `schema`, or an error naming the first unknown column.
pub(crate) fn projection(
    path: &Path,
    schema: &arrow::datatypes::Schema,
    names: &[String],
) -> Result<Vec<usize>> {
    names
        .iter()
        .map(|n| {
            schema.index_of(n).map_err(|_| {
                let available: Vec<&str> =
                    schema.fields().iter().map(|f| f.name().as_str()).collect();
                input_error(
                    path,
                    format!("has no column \"{n}\" (columns: {})", available.join(", ")),
                )
            })
        })
        .collect()
}

fn start_writer(table: &Path, schema: SchemaRef, options: &ImportOptions) -> Result<TableWriter> {
    let write = options.write.clone();
    match options.mode {
        Mode::Create => TableWriter::create_with(table, schema, write),
        Mode::Append => TableWriter::append_with(table, write),
        Mode::Overwrite => TableWriter::overwrite_with(table, schema, write),
    }
}

/// Imports `sources` (files or directories) into the table at `table` as one commit (see the
/// module contract). `progress` is called with the rows written so far.
pub fn import(
    sources: &[PathBuf],
    table: &Path,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportReport> {
    let files = expand_sources(sources, options.format)?;
    let mut writer: Option<TableWriter> = None;
    for file in &files {
        let (schema, batches) = open_source(file, options)?;
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(start_writer(table, Arc::clone(&schema), options)?),
        };
        for batch in batches {
            let batch = batch?;
            w.write(&batch).map_err(|e| match e.kind() {
                ErrorKind::SchemaMismatch { .. } | ErrorKind::Unsupported { .. } => {
                    input_error(file, e)
                }
                _ => e,
            })?;
            progress(w.rows_written());
        }
    }
    let writer = writer.ok_or_else(|| Error::invalid("no input files"))?;
    let rows = writer.rows_written();
    let version = writer.commit()?;
    Ok(ImportReport {
        version,
        rows,
        files: files.len(),
    })
}

/// Imports a stream of batches of `schema` into `table` as one commit — the API the other
/// importers are built like, for callers with their own sources. On the first error from
/// `batches` nothing is committed and the error is returned.
pub fn import_batches(
    table: &Path,
    schema: SchemaRef,
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
    options: &ImportOptions,
) -> Result<ImportReport> {
    let mut writer = start_writer(table, schema, options)?;
    for batch in batches {
        writer.write(&batch?)?;
    }
    let rows = writer.rows_written();
    let version = writer.commit()?;
    Ok(ImportReport {
        version,
        rows,
        files: 0,
    })
}

/// Options of [`export_table`] and [`export_batches`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExportOptions {
    /// The output format.
    pub format: Format,
    /// Parquet compression (default zstd level 3).
    pub compression: Compression,
    /// Most rows per Parquet row group.
    pub row_group_size: usize,
    /// Whether Parquet statistics are written (page level when true).
    pub statistics: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            format: Format::Parquet,
            compression: Compression::default(),
            row_group_size: 1 << 20,
            statistics: true,
        }
    }
}

crate::options::with_setters!(ExportOptions {
    /// Sets [`Self::format`]: the output format.
    with_format => format: Format,
    /// Sets [`Self::compression`]: Parquet compression (default zstd level 3).
    with_compression => compression: Compression,
    /// Sets [`Self::row_group_size`]: most rows per Parquet row group.
    with_row_group_size => row_group_size: usize,
    /// Sets [`Self::statistics`]: whether Parquet statistics are written.
    with_statistics => statistics: bool,
});

/// Writes `batches` of `schema` to `dest` (see the module contract). Returns the rows written.
pub fn export_batches(
    schema: SchemaRef,
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
    dest: &Path,
    options: &ExportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    writers::write_atomically(dest, |file| {
        let mut sink = writers::Sink::new(file, Arc::clone(&schema), options, dest)?;
        let mut rows = 0u64;
        for batch in batches {
            let batch = writers::to_schema(&batch?, &schema)?;
            rows += batch.num_rows() as u64;
            sink.write(&batch)?;
            progress(rows);
        }
        sink.finish()?;
        Ok(rows)
    })
}

/// Exports a table version (optionally only `columns`) to `dest`, streaming from the zero-copy
/// scan, in the types the table was written with.
pub fn export_table(
    table: &Table,
    columns: Option<&[String]>,
    dest: &Path,
    options: &ExportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let source = table.source_schema();
    let projection = match columns {
        Some(names) => projection(table.path(), &source, names)?,
        None => (0..source.fields().len()).collect(),
    };
    let schema = Arc::new(source.project(&projection)?);
    let scan = table.scan_with(ScanOptions::default().with_projection(projection))?;
    export_batches(schema, scan, dest, options, progress)
}
