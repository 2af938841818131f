//! `quiver import` and `quiver export`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::ValueEnum;

use super::progress::Progress;
use quiver_store::io::{self, Compression, ExportOptions, Format, ImportOptions, Mode};
use quiver_store::{Error, Result};

/// A file format, as the command line names it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC (file or stream).
    Ipc,
    /// CSV with a header row.
    Csv,
    /// Newline-delimited JSON.
    Ndjson,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Parquet => Format::Parquet,
            FormatArg::Ipc => Format::Ipc,
            FormatArg::Csv => Format::Csv,
            FormatArg::Ndjson => Format::Ndjson,
        }
    }
}

/// What an import does to an existing table.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Create a new table; fail if one exists.
    Create,
    /// Append to the table (same schema).
    Append,
    /// Replace the table's contents with a new version.
    Overwrite,
}

fn columns(list: &Option<String>) -> Option<Vec<String>> {
    list.as_ref().map(|s| {
        s.split(',')
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    })
}

/// Arguments of `quiver import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Input files or directories, then the table directory.
    #[arg(required = true, num_args = 2..)]
    pub paths: Vec<PathBuf>,
    /// Input format (default: from each file's extension).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// What to do if the table exists.
    #[arg(long, value_enum, default_value = "create")]
    pub mode: ModeArg,
    /// Only these columns, comma-separated, in this order.
    #[arg(long)]
    pub columns: Option<String>,
    /// CSV: the field delimiter (default `,`, or tab for .tsv).
    #[arg(long)]
    pub delimiter: Option<char>,
    /// CSV: the first row is data, not column names.
    #[arg(long)]
    pub no_header: bool,
    /// CSV/NDJSON: the schema, as `name:type,...` (types: bool, int8..int64, uint8..uint64,
    /// float32, float64, utf8, date32, timestamp_ms, timestamp_us); inferred when absent.
    #[arg(long)]
    pub schema: Option<String>,
    /// Decoding threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Fill rate (0 to 1) under which a nullable column goes to a segment's overflow bag
    /// instead of a dense column; 0 keeps every column dense. Default: the table's setting,
    /// 0.05 for a new table. Remembered by the table.
    #[arg(long)]
    pub bag_threshold: Option<f64>,
    /// Most rows per segment (default 1,048,576; segments are also cut at about 256 MiB).
    #[arg(long)]
    pub segment_rows: Option<usize>,
    /// Appending: accept new columns (older rows read as null), missing nullable columns, and
    /// widened types (int + float -> float, anything + string -> string).
    #[arg(long)]
    pub merge_schema: bool,
    /// Write rows in the order of these columns (comma-separated; ascending, NULLs last), so
    /// range filters on them skip whole zones and ORDER BY on them skips sorts. Remembered by
    /// the table: later appends keep each write in this order.
    #[arg(long, value_delimiter = ',')]
    pub sort_by: Option<Vec<String>>,
    /// Compact automatically once the table holds N small segments (after a commit, inside
    /// the committing writer; 0 turns it off). Remembered by the table.
    #[arg(long, value_name = "N")]
    pub auto_optimize: Option<usize>,
    /// How columns are stored: `raw` (zero-copy from the file, the default for a new table),
    /// `compact` (dictionary codes, packed integers, deltas of sorted integers or zstd blocks
    /// of text, wherever smaller), `auto` (only where that saves at least 25%), or per column,
    /// e.g. `compact,l_comment=raw,l_shipmode=dict` (`dict`, `packed`, `delta`, `zstd`).
    /// Remembered by the table.
    #[arg(long, value_name = "SPEC")]
    pub encoding: Option<String>,
}

fn parse_schema(spec: &str) -> Result<arrow::datatypes::SchemaRef> {
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let fields = spec
        .split(',')
        .map(|part| {
            let (name, t) = part.split_once(':').ok_or_else(|| {
                Error::invalid(format!("schema entry \"{part}\" is not name:type"))
            })?;
            let t = match t.trim().to_ascii_lowercase().as_str() {
                "bool" | "boolean" => DataType::Boolean,
                "int8" => DataType::Int8,
                "int16" => DataType::Int16,
                "int32" | "int" => DataType::Int32,
                "int64" | "bigint" => DataType::Int64,
                "uint8" => DataType::UInt8,
                "uint16" => DataType::UInt16,
                "uint32" => DataType::UInt32,
                "uint64" => DataType::UInt64,
                "float32" | "float" => DataType::Float32,
                "float64" | "double" => DataType::Float64,
                "utf8" | "string" | "text" => DataType::Utf8,
                "date32" | "date" => DataType::Date32,
                "timestamp_ms" => DataType::Timestamp(TimeUnit::Millisecond, None),
                "timestamp_us" | "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
                other => {
                    return Err(Error::invalid(format!(
                        "unknown type \"{other}\" in --schema"
                    )))
                }
            };
            Ok(Field::new(name.trim(), t, true))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// Runs `quiver import`.
pub fn import(args: ImportArgs, quiet: bool) -> Result<()> {
    let (table, sources) = args.paths.split_last().expect("clap requires two paths");
    let mut options = ImportOptions::default().with_mode(match args.mode {
        ModeArg::Create => Mode::Create,
        ModeArg::Append => Mode::Append,
        ModeArg::Overwrite => Mode::Overwrite,
    });
    options.format = args.format.map(Format::from);
    options.columns = columns(&args.columns);
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    options.write.bag_threshold = args.bag_threshold;
    if let Some(rows) = args.segment_rows {
        options.write.segment_rows = rows;
    }
    options.write.merge_schema = args.merge_schema;
    options.write.sort_by = args.sort_by.clone();
    options.write.auto_optimize = args.auto_optimize;
    if let Some(spec) = &args.encoding {
        options.write.encoding = Some(
            quiver_store::EncodingSpec::parse(spec)
                .map_err(|e| Error::invalid(format!("--encoding: {e}")))?,
        );
    }
    if let Some(d) = args.delimiter {
        options.csv.delimiter =
            Some(u8::try_from(d).map_err(|_| Error::invalid("the delimiter must be one byte"))?);
    }
    options.csv.has_header = !args.no_header;
    if let Some(spec) = &args.schema {
        options.csv.schema = Some(parse_schema(spec)?);
    }
    let total = parquet_rows(sources, options.format);
    let progress = Progress::new(quiet, total, "rows");
    let start = std::time::Instant::now();
    let report = io::import(sources, table, &options, &mut |rows| progress.set(rows));
    progress.finish();
    let report = report?;
    if !quiet {
        eprintln!(
            "imported {} rows from {} file{} into {} (version {}) in {:.2}s",
            report.rows,
            report.files,
            if report.files == 1 { "" } else { "s" },
            table.display(),
            report.version,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Total rows of the Parquet inputs, from their footers (for the progress bar).
fn parquet_rows(sources: &[PathBuf], format: Option<Format>) -> Option<u64> {
    let files = io::expand_sources(sources, format).ok()?;
    let mut total = 0u64;
    for f in files {
        if format.or_else(|| Format::from_path(&f)) != Some(Format::Parquet) {
            return None;
        }
        let file = std::fs::File::open(&f).ok()?;
        let reader = parquet::file::reader::SerializedFileReader::new(file).ok()?;
        use parquet::file::reader::FileReader;
        total += reader.metadata().file_metadata().num_rows().max(0) as u64;
    }
    Some(total)
}

/// Arguments of `quiver export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The table directory.
    pub table: PathBuf,
    /// The file to write.
    pub dest: PathBuf,
    /// Output format (default: from DEST's extension, else parquet).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Parquet compression: none, snappy, lz4, zstd, gzip, brotli, or with a level: zstd(9).
    #[arg(long, default_value = "zstd")]
    pub compression: String,
    /// Parquet: most rows per row group.
    #[arg(long, default_value_t = 1 << 20)]
    pub row_group_size: usize,
    /// Parquet: write no statistics.
    #[arg(long)]
    pub no_statistics: bool,
    /// The version to export (default: the newest).
    #[arg(long)]
    pub version: Option<u64>,
    /// Only these columns, comma-separated, in this order.
    #[arg(long, conflicts_with = "query")]
    pub columns: Option<String>,
    /// Export the result of this SQL query instead, with the table registered as `t`.
    #[arg(long)]
    pub query: Option<String>,
}

/// Runs `quiver export`.
pub fn export(args: ExportArgs, quiet: bool) -> Result<()> {
    let format = args
        .format
        .map(Format::from)
        .or_else(|| Format::from_path(&args.dest))
        .unwrap_or(Format::Parquet);
    let options = ExportOptions::default()
        .with_format(format)
        .with_compression(args.compression.parse::<Compression>()?)
        .with_row_group_size(args.row_group_size)
        .with_statistics(!args.no_statistics);
    let table = super::open(&args.table, args.version)?;
    let start = std::time::Instant::now();
    let rows = match &args.query {
        None => {
            let progress = Progress::new(quiet, Some(table.num_rows()), "rows");
            let rows = io::export_table(
                &table,
                columns(&args.columns).as_deref(),
                &args.dest,
                &options,
                &mut |n| progress.set(n),
            );
            progress.finish();
            rows?
        }
        Some(sql) => {
            super::sql::export_query(&args.table, args.version, sql, &args.dest, &options, quiet)?
        }
    };
    if !quiet {
        eprintln!(
            "exported {rows} rows to {} in {:.2}s",
            args.dest.display(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
