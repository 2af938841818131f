//! Export sinks: Parquet (`ArrowWriter`), Arrow IPC file, CSV, NDJSON; atomic file replacement.
//!
//! # Contract
//! - [`write_atomically`] writes to `.<name>.tmp-<pid>` beside the destination, fsyncs, and
//!   renames it over the destination only when the whole export succeeded; otherwise it removes
//!   the temporary file.
//! - [`to_schema`] casts a scanned batch (strings as `LargeUtf8`, lists as `LargeList`, ...) back
//!   to the types the table was written with.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{BrotliLevel, GzipLevel, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::{ExportOptions, Format};
use crate::error::{Error, Result};

/// Parquet compression: `zstd` (level 3) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression(parquet::basic::Compression);

impl Default for Compression {
    fn default() -> Self {
        Compression(parquet::basic::Compression::ZSTD(ZstdLevel::default()))
    }
}

impl FromStr for Compression {
    type Err = Error;

    /// `none`, `snappy`, `lz4`, `zstd`, `gzip`, `brotli`, optionally with a level: `zstd(9)`.
    fn from_str(s: &str) -> Result<Self> {
        use parquet::basic::Compression as C;
        let lower = s.trim().to_ascii_lowercase();
        let c = match lower.as_str() {
            "none" | "uncompressed" => C::UNCOMPRESSED,
            "zstd" => C::ZSTD(ZstdLevel::default()),
            "gzip" => C::GZIP(GzipLevel::default()),
            "brotli" => C::BROTLI(BrotliLevel::default()),
            other => C::from_str(other).map_err(|e| {
                Error::invalid(format!(
                    "unknown compression \"{s}\" ({e}); use none, snappy, lz4, zstd, gzip or brotli, optionally with a level like zstd(9)"
                ))
            })?,
        };
        Ok(Compression(c))
    }
}

/// Runs `write` on a temporary file beside `dest`, then renames it to `dest`.
pub(super) fn write_atomically<T>(dest: &Path, write: impl FnOnce(File) -> Result<T>) -> Result<T> {
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::invalid(format!("{} is not a file name", dest.display())))?;
    let tmp: PathBuf = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
    let result = write(file).and_then(|out| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&tmp, "fsync", e))?;
        std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, "rename into place", e))?;
        Ok(out)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `batch` with its columns cast to `schema`'s types (a no-op when they already match).
pub(super) fn to_schema(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema_ref().as_ref() == schema.as_ref() {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                arrow::compute::cast(c, f.data_type()).map_err(|e| {
                    Error::invalid(format!(
                        "column \"{}\": cannot convert {} to {}: {e}",
                        f.name(),
                        c.data_type(),
                        f.data_type()
                    ))
                })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// A destination file of one format.
pub(super) enum Sink {
    Parquet(ArrowWriter<File>),
    Ipc(arrow::ipc::writer::FileWriter<BufWriter<File>>),
    Csv(arrow::csv::Writer<BufWriter<File>>),
    Ndjson(arrow::json::LineDelimitedWriter<BufWriter<File>>),
}

impl Sink {
    pub(super) fn new(
        file: File,
        schema: SchemaRef,
        options: &ExportOptions,
        dest: &Path,
    ) -> Result<Self> {
        let output = |e: &dyn std::fmt::Display| {
            Error::invalid(format!("cannot write {}: {e}", dest.display()))
        };
        Ok(match options.format {
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(options.compression.0)
                    .set_max_row_group_row_count(Some(options.row_group_size.max(1)))
                    .set_statistics_enabled(if options.statistics {
                        EnabledStatistics::Page
                    } else {
                        EnabledStatistics::None
                    })
                    .build();
                Sink::Parquet(
                    ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| output(&e))?,
                )
            }
            Format::Ipc => Sink::Ipc(
                arrow::ipc::writer::FileWriter::try_new(BufWriter::new(file), &schema)
                    .map_err(|e| output(&e))?,
            ),
            Format::Csv => Sink::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(BufWriter::new(file)),
            ),
            Format::Ndjson => {
                Sink::Ndjson(arrow::json::LineDelimitedWriter::new(BufWriter::new(file)))
            }
        })
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Parquet(w) => w
                .write(batch)
                .map_err(|e| Error::invalid(format!("Parquet writer: {e}"))),
            Sink::Ipc(w) => Ok(w.write(batch)?),
            Sink::Csv(w) => Ok(w.write(batch)?),
            Sink::Ndjson(w) => Ok(w.write(batch)?),
        }
    }

    pub(super) fn finish(self) -> Result<()> {
        let flush = |mut w: BufWriter<File>| -> Result<()> {
            w.flush()
                .map_err(|e| Error::io(Path::new("export"), "write", e))
        };
        match self {
            Sink::Parquet(w) => {
                w.close()
                    .map_err(|e| Error::invalid(format!("Parquet writer: {e}")))?;
            }
            Sink::Ipc(mut w) => {
                w.finish()?;
                flush(w.into_inner()?)?;
            }
            Sink::Csv(w) => flush(w.into_inner())?,
            Sink::Ndjson(mut w) => {
                w.finish()?;
                flush(w.into_inner())?;
            }
        }
        Ok(())
    }
}
