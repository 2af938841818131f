//! Streaming Parquet decoding with row groups spread over threads, delivered in file order.
//!
//! # Contract
//! - Worker `w` of `t` decodes row groups `w, w + t, w + 2t, ...` in order and sends their
//!   batches through its own bounded channel (at most 4 batches ahead), then an
//!   end-of-row-group marker. The consumer drains row group `g` from worker `g % t`, so batches
//!   come out in file order while up to `t` row groups decode at once. Memory is bounded by a
//!   few batches per worker, whatever the file or row-group size.
//! - Each decoding thread opens the file itself (a shared descriptor would share its offset).
//! - Errors name the file; a consumer that stops early (an error downstream) drops the
//!   receivers, which stops the workers. A panic inside the Parquet decoder (a bug it has on
//!   some hostile files) ends that worker's channel and surfaces as an error, never as a crash.

use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::{guard_panics, input_error, projection, Batches};
use crate::error::Result;

enum Message {
    Batch(RecordBatch),
    EndOfRowGroup,
    Failed(crate::Error),
}

/// Opens `path` as a schema and batches of `batch_size` rows, decoding with `threads` threads.
pub(super) fn open(
    path: &Path,
    columns: Option<&[String]>,
    batch_size: usize,
    threads: usize,
) -> Result<(SchemaRef, Batches)> {
    let file = File::open(path).map_err(|e| crate::Error::io(path, "open", e))?;
    // A decoder bug must not take the process down on a hostile file: a panic while reading
    // the footer becomes an error here, and one in a worker ends its channel (an error below).
    let metadata = guard_panics(|| ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()))
        .map_err(|_| {
            input_error(
                path,
                "the Parquet footer could not be decoded (the reader panicked)",
            )
        })?
        .map_err(|e| input_error(path, e))?;
    let full = Arc::clone(metadata.schema());
    // The reader returns projected columns in file order; `reorder` puts them in the asked
    // order afterwards.
    let mut reorder: Option<Vec<usize>> = None;
    let mask = match columns {
        Some(names) => {
            let indices = projection(path, &full, names)?;
            let mut in_file_order = indices.clone();
            in_file_order.sort_unstable();
            in_file_order.dedup();
            if in_file_order.len() != indices.len() {
                return Err(input_error(path, "a column is asked for twice"));
            }
            reorder = Some(
                indices
                    .iter()
                    .map(|i| in_file_order.iter().position(|j| j == i).unwrap_or(0))
                    .collect(),
            );
            Some((
                ProjectionMask::roots(metadata.parquet_schema(), indices.clone()),
                indices,
            ))
        }
        None => None,
    };
    let schema = match &mask {
        Some((_, indices)) => Arc::new(full.project(indices)?),
        None => full,
    };
    let row_groups = metadata.metadata().num_row_groups();
    let threads = threads.clamp(1, row_groups.max(1));
    let max_rows = (0..row_groups)
        .map(|g| metadata.metadata().row_group(g).num_rows().max(0) as usize)
        .max()
        .unwrap_or(0);
    // Each worker may run this many batches ahead of the writer: enough to overlap decoding
    // with writing, few enough that memory stays far from the size of a row group.
    let bound = max_rows.div_ceil(batch_size.max(1)).clamp(1, 4);

    let mut receivers: Vec<Receiver<Message>> = Vec::with_capacity(threads);
    for worker in 0..threads {
        let (tx, rx) = sync_channel(bound);
        receivers.push(rx);
        let metadata = metadata.clone();
        let mask = mask.as_ref().map(|(m, _)| m.clone());
        let file_path = path.to_path_buf();
        std::thread::Builder::new()
            .name(format!("quiver-parquet-{worker}"))
            .spawn(move || {
                let path = file_path;
                let failure = tx.clone();
                let decoded = guard_panics(|| {
                    for group in (worker..row_groups).step_by(threads) {
                        // Each reader gets its own descriptor: a cloned one would share the file
                        // offset with the other threads' readers.
                        let handle = match File::open(&path) {
                            Ok(h) => h,
                            Err(e) => {
                                let _ =
                                    tx.send(Message::Failed(crate::Error::io(&path, "open", e)));
                                return;
                            }
                        };
                        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
                            handle,
                            metadata.clone(),
                        )
                        .with_batch_size(batch_size)
                        .with_row_groups(vec![group]);
                        if let Some(m) = &mask {
                            builder = builder.with_projection(m.clone());
                        }
                        let reader = match builder.build() {
                            Ok(r) => r,
                            Err(e) => {
                                let _ = tx.send(Message::Failed(input_error(&path, e)));
                                return;
                            }
                        };
                        for batch in reader {
                            let message = match batch {
                                Ok(b) => Message::Batch(b),
                                Err(e) => Message::Failed(input_error(
                                    &path,
                                    format!("row group {group}: {e}"),
                                )),
                            };
                            let failed = matches!(message, Message::Failed(_));
                            if tx.send(message).is_err() || failed {
                                return;
                            }
                        }
                        if tx.send(Message::EndOfRowGroup).is_err() {
                            return;
                        }
                    }
                });
                if decoded.is_err() {
                    let _ = failure.send(Message::Failed(input_error(
                        &path,
                        "the Parquet decoder panicked on damaged input",
                    )));
                }
            })
            .map_err(|e| crate::Error::io(path, "start a decoding thread", e))?;
    }
    let path = path.to_path_buf();
    let mut group = 0;
    let batches = std::iter::from_fn(move || loop {
        if group >= row_groups {
            return None;
        }
        match receivers[group % threads].recv() {
            Ok(Message::Batch(b)) => {
                return Some(match &reorder {
                    Some(order) => b.project(order).map_err(crate::Error::from),
                    None => Ok(b),
                })
            }
            Ok(Message::EndOfRowGroup) => group += 1,
            Ok(Message::Failed(e)) => {
                group = row_groups;
                return Some(Err(e));
            }
            Err(_) => {
                group = row_groups;
                return Some(Err(input_error(
                    &path,
                    "a decoding thread stopped unexpectedly",
                )));
            }
        }
    });
    Ok((schema, Box::new(batches)))
}
