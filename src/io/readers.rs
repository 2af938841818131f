//! Arrow IPC (file and stream), CSV and NDJSON sources.
//!
//! # Contract
//! - IPC: the file format is recognised by its `ARROW1` magic, anything else is read as a
//!   stream. Dictionary-encoded columns are decoded by the writer like any other.
//! - CSV: the schema is the one given, or inferred from the first `infer_rows` rows; a header
//!   row is expected unless `has_header` is false; `.tsv` files default to tab delimiters.
//! - NDJSON: one JSON object per line; the schema is inferred from every line (a key that
//!   appears once, anywhere, is a column: sparse keys are what the overflow bag is for), with
//!   arrow-json's widening (int + float -> float, other mixes -> string; numbers and booleans
//!   under a string key are kept as their JSON text). Keys missing from a line are nulls.
//! - Every error names the file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use super::{input_error, projection, Batches, CsvOptions};
use crate::error::{Error, Result};

fn open_file(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::io(path, "open", e))
}

fn map_errors<I>(path: &Path, it: I) -> Batches
where
    I: Iterator<Item = std::result::Result<arrow::array::RecordBatch, arrow::error::ArrowError>>
        + Send
        + 'static,
{
    let path = path.to_path_buf();
    Box::new(it.map(move |b| b.map_err(|e| input_error(&path, e))))
}

/// Projects batches to `indices` when a projection was asked for.
fn project(
    path: &Path,
    schema: SchemaRef,
    columns: Option<&[String]>,
    batches: Batches,
) -> Result<(SchemaRef, Batches)> {
    let Some(names) = columns else {
        return Ok((schema, batches));
    };
    let indices = projection(path, &schema, names)?;
    let projected = Arc::new(schema.project(&indices)?);
    Ok((
        projected,
        Box::new(batches.map(move |b| b.and_then(|b| Ok(b.project(&indices)?)))),
    ))
}

/// An Arrow IPC file or stream.
pub(super) fn open_ipc(path: &Path, columns: Option<&[String]>) -> Result<(SchemaRef, Batches)> {
    let mut file = open_file(path)?;
    let mut magic = [0u8; 6];
    let is_file = file.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, "seek", e))?;
    if is_file {
        let reader = arrow::ipc::reader::FileReader::try_new(file, None)
            .map_err(|e| input_error(path, e))?;
        let schema = reader.schema();
        project(path, schema, columns, map_errors(path, reader))
    } else {
        let reader = arrow::ipc::reader::StreamReader::try_new(BufReader::new(file), None)
            .map_err(|e| input_error(path, e))?;
        let schema = reader.schema();
        project(path, schema, columns, map_errors(path, reader))
    }
}

/// A CSV file.
pub(super) fn open_csv(
    path: &Path,
    columns: Option<&[String]>,
    options: &CsvOptions,
    batch_size: usize,
) -> Result<(SchemaRef, Batches)> {
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let delimiter = options.delimiter.unwrap_or(if tsv { b'\t' } else { b',' });
    let format = arrow::csv::reader::Format::default()
        .with_header(options.has_header)
        .with_delimiter(delimiter);
    let schema: SchemaRef = match &options.schema {
        Some(s) => Arc::clone(s),
        None => {
            let (schema, _) = format
                .infer_schema(BufReader::new(open_file(path)?), Some(options.infer_rows))
                .map_err(|e| input_error(path, e))?;
            Arc::new(schema)
        }
    };
    let reader = arrow::csv::ReaderBuilder::new(Arc::clone(&schema))
        .with_format(format)
        .with_batch_size(batch_size)
        .build(BufReader::new(open_file(path)?))
        .map_err(|e| input_error(path, e))?;
    project(path, schema, columns, map_errors(path, reader))
}

/// A newline-delimited JSON file.
pub(super) fn open_ndjson(
    path: &Path,
    columns: Option<&[String]>,
    options: &CsvOptions,
    batch_size: usize,
) -> Result<(SchemaRef, Batches)> {
    let schema: SchemaRef = match &options.schema {
        Some(s) => Arc::clone(s),
        None => {
            let mut reader = BufReader::new(open_file(path)?);
            let (schema, _) = arrow::json::reader::infer_json_schema(&mut reader, None)
                .map_err(|e| input_error(path, e))?;
            Arc::new(schema)
        }
    };
    if schema.fields().is_empty() {
        return Err(input_error(path, "holds no JSON objects with keys"));
    }
    let reader = arrow::json::ReaderBuilder::new(Arc::clone(&schema))
        .with_batch_size(batch_size)
        .with_coerce_primitive(true)
        .build(BufReader::new(open_file(path)?))
        .map_err(|e| input_error(path, e))?;
    project(path, schema, columns, map_errors(path, reader))
}
