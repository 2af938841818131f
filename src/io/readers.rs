//! Arrow IPC (file and stream), CSV and NDJSON sources.
//!
//! # Contract
//! - IPC: the file format is recognised by its `ARROW1` magic, anything else is read as a
//!   stream. Dictionary-encoded columns are decoded by the writer like any other. Before
//!   reading, every block of a file's footer and every message of a stream is checked to lie
//!   inside the file, so a corrupt length is an error rather than a huge allocation; a panic in
//!   the decoder becomes an error naming the file.
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

use super::{guard_panics, input_error, projection, Batches, CsvOptions};
use crate::error::{Error, Result};
use crate::native::schema::{too_many_columns, MAX_COLUMNS};

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

/// Yields `it`'s items, turning a panic inside it into an error naming `path` (and ending).
fn panics_as_errors(path: &Path, it: Batches) -> Batches {
    let path = path.to_path_buf();
    let mut it = Some(it);
    Box::new(std::iter::from_fn(move || {
        let inner = it.as_mut()?;
        match guard_panics(|| inner.next()) {
            Ok(item) => item,
            Err(()) => {
                it = None;
                Some(Err(input_error(
                    &path,
                    "the decoder panicked on damaged input",
                )))
            }
        }
    }))
}

fn read_at(file: &mut File, path: &Path, at: u64, buf: &mut [u8]) -> Result<()> {
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.read_exact(buf))
        .map_err(|e| Error::io(path, "read", e))
}

/// Checks that every block an IPC file's footer lists lies inside the file (`len` bytes).
fn check_ipc_file(path: &Path, file: &mut File, len: u64) -> Result<()> {
    if len < 6 + 4 + 6 {
        return Err(input_error(path, "is too short for an Arrow IPC file"));
    }
    let mut tail = [0u8; 4];
    read_at(file, path, len - 10, &mut tail)?;
    let footer_len = i32::from_le_bytes(tail);
    if footer_len < 0 || footer_len as u64 + 10 > len - 6 {
        return Err(input_error(
            path,
            format!("IPC footer length {footer_len} does not fit the {len}-byte file"),
        ));
    }
    let mut footer = vec![0u8; footer_len as usize];
    read_at(file, path, len - 10 - footer_len as u64, &mut footer)?;
    let footer = arrow::ipc::root_as_footer(&footer)
        .map_err(|e| input_error(path, format!("IPC footer: {e}")))?;
    let blocks = footer.dictionaries().into_iter().flatten();
    for (i, b) in blocks
        .chain(footer.recordBatches().into_iter().flatten())
        .enumerate()
    {
        let end = b.offset() as i128 + b.metaDataLength() as i128 + b.bodyLength() as i128;
        if b.offset() < 0 || b.metaDataLength() < 0 || b.bodyLength() < 0 || end > len as i128 {
            return Err(input_error(
                path,
                format!(
                    "IPC block {i} (offset {}, {} + {} bytes) lies outside the {len}-byte file",
                    b.offset(),
                    b.metaDataLength(),
                    b.bodyLength()
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that every message of an IPC stream (`len` bytes) lies inside the file.
fn check_ipc_stream(path: &Path, file: &mut File, len: u64) -> Result<()> {
    let mut pos = 0u64;
    while pos + 4 <= len {
        let mut word = [0u8; 4];
        read_at(file, path, pos, &mut word)?;
        let mut header = 4;
        if word == [0xff; 4] {
            if pos + 8 > len {
                break;
            }
            read_at(file, path, pos + 4, &mut word)?;
            header = 8;
        }
        let meta_len = i32::from_le_bytes(word);
        if meta_len == 0 {
            return Ok(()); // end of stream
        }
        let outside = |what: String| {
            input_error(
                path,
                format!("IPC message at byte {pos}: {what} lies outside the {len}-byte file"),
            )
        };
        if meta_len < 0 || pos + header + meta_len as u64 > len {
            return Err(outside(format!("its {meta_len}-byte header")));
        }
        let mut meta = vec![0u8; meta_len as usize];
        read_at(file, path, pos + header, &mut meta)?;
        let message = arrow::ipc::root_as_message(&meta)
            .map_err(|e| input_error(path, format!("IPC message at byte {pos}: {e}")))?;
        let body = message.bodyLength();
        let end = pos as i128 + header as i128 + meta_len as i128 + body as i128;
        if body < 0 || end > len as i128 {
            return Err(outside(format!("its {body}-byte body")));
        }
        pos = end as u64;
    }
    Ok(())
}

/// An Arrow IPC file or stream.
pub(super) fn open_ipc(path: &Path, columns: Option<&[String]>) -> Result<(SchemaRef, Batches)> {
    let mut file = open_file(path)?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat", e))?
        .len();
    let mut magic = [0u8; 6];
    let is_file = file.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
    if is_file {
        check_ipc_file(path, &mut file, len)?;
    } else {
        check_ipc_stream(path, &mut file, len)?;
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, "seek", e))?;
    let opened = guard_panics(|| -> Result<(SchemaRef, Batches)> {
        if is_file {
            let reader = arrow::ipc::reader::FileReader::try_new(file, None)
                .map_err(|e| input_error(path, e))?;
            Ok((reader.schema(), map_errors(path, reader)))
        } else {
            let reader = arrow::ipc::reader::StreamReader::try_new(BufReader::new(file), None)
                .map_err(|e| input_error(path, e))?;
            Ok((reader.schema(), map_errors(path, reader)))
        }
    });
    let (schema, batches) = opened.map_err(|()| {
        input_error(
            path,
            "the IPC schema could not be decoded (the reader panicked)",
        )
    })??;
    project(path, schema, columns, panics_as_errors(path, batches))
}

/// Refuses a text input with more columns than a table may have, naming the file and the count.
fn check_columns(path: &Path, schema: &SchemaRef) -> Result<()> {
    let count = schema.fields().len();
    if count > MAX_COLUMNS {
        return Err(input_error(
            path,
            format!("it has {}", too_many_columns(count)),
        ));
    }
    Ok(())
}

/// Rows per decoded batch of a text format with `columns` columns: `batch_size`, fewer when
/// the decoder's per-(row, column) state (arrow-csv's and arrow-json's tapes reserve about
/// 16 bytes for each) would exceed `budget` bytes — so a 100,000-key row decodes in batches of
/// a few rows instead of asking for 100 GB up front.
fn rows_within(budget: usize, columns: usize, batch_size: usize) -> usize {
    const BYTES_PER_CELL: usize = 16;
    let per_row = BYTES_PER_CELL.saturating_mul(columns.max(1));
    (budget / per_row).clamp(1, batch_size.max(1))
}

/// A CSV file.
pub(super) fn open_csv(
    path: &Path,
    columns: Option<&[String]>,
    options: &CsvOptions,
    batch_size: usize,
    budget: usize,
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
    check_columns(path, &schema)?;
    let batch_size = rows_within(budget, schema.fields().len(), batch_size);
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
    budget: usize,
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
    check_columns(path, &schema)?;
    let batch_size = rows_within(budget, schema.fields().len(), batch_size);
    let reader = arrow::json::ReaderBuilder::new(Arc::clone(&schema))
        .with_batch_size(batch_size)
        .with_coerce_primitive(true)
        .build(BufReader::new(open_file(path)?))
        .map_err(|e| input_error(path, e))?;
    project(path, schema, columns, map_errors(path, reader))
}
