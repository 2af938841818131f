//! Which codec for block-compressed text (format v3 `blocks`): zstd at several levels against
//! LZ4, on the TPC-H text columns that `--encoding compact` stores in blocks, cut and laid out
//! exactly as Quiver's blocks are (4,096 rows; the rows' `u32` lengths, then their bytes).
//!
//! ```sh
//! cargo bench --bench block_codecs --features tpch -- --scale 1 --runs 5
//! ```
//!
//! Columns: every string column of the eight tables whose first 16,384 rows are more than half
//! distinct (the rule by which `compact` gives up on a dictionary and uses blocks). Measures,
//! on one core, the compressed bytes and ratio, the compression speed, and the decompression
//! speed (GB/s of block payload produced, median of `--runs` passes over all blocks): zstd
//! through the streaming decoder that Quiver's reader uses (bounded by the block's declared
//! size) and through the one-shot decoder; LZ4 (the `lz4_flex` block format, which parquet
//! already brings into the build) one-shot into a buffer of the known size.

use std::collections::HashSet;
use std::io::Read;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;

mod common;
use common::{arg, median};

/// Rows per block, as Quiver writes them (`native/blocks.rs`).
const BLOCK_ROWS: usize = 4096;
/// Rows sampled for the dictionary-or-blocks rule (`native/column_encoder.rs`).
const SAMPLE_ROWS: usize = 1 << 14;

/// Each string column's values, in row order, for columns that `compact` stores in blocks.
fn block_columns(scale: f64) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    for table in quiver_store::tpch::TABLES {
        let (schema, batches) = quiver_store::tpch::batches(table, scale, 1, 1, 65_536).unwrap();
        let strings: Vec<usize> = (0..schema.fields().len())
            .filter(|&c| {
                matches!(
                    schema.field(c).data_type(),
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                )
            })
            .collect();
        let mut columns: Vec<Vec<Vec<u8>>> = vec![Vec::new(); strings.len()];
        for batch in batches {
            let batch = batch.unwrap();
            for (i, &c) in strings.iter().enumerate() {
                let array = arrow::compute::cast(batch.column(c), &DataType::Utf8).unwrap();
                let values = array.as_string::<i32>();
                columns[i].extend((0..values.len()).map(|r| values.value(r).as_bytes().to_vec()));
            }
        }
        for (i, values) in columns.into_iter().enumerate() {
            let sample = &values[..values.len().min(SAMPLE_ROWS)];
            let distinct: HashSet<&[u8]> = sample.iter().map(Vec::as_slice).collect();
            if distinct.len() * 2 > sample.len() {
                out.push((schema.field(strings[i]).name().clone(), values));
            }
        }
    }
    out
}

/// The blocks' payloads: each block's row lengths (`u32`), then its values.
fn payloads(values: &[Vec<u8>]) -> Vec<Vec<u8>> {
    values
        .chunks(BLOCK_ROWS)
        .map(|block| {
            let mut p: Vec<u8> = block
                .iter()
                .flat_map(|v| (v.len() as u32).to_le_bytes())
                .collect();
            for v in block {
                p.extend_from_slice(v);
            }
            p
        })
        .collect()
}

/// A codec under test: its name, compression, and decompression into `out` (cleared first,
/// given the payload's size).
struct Codec {
    name: &'static str,
    compress: fn(&[u8]) -> Vec<u8>,
    decompress: fn(&[u8], usize, &mut Vec<u8>),
}

fn zstd_stream(frame: &[u8], size: usize, out: &mut Vec<u8>) {
    out.clear();
    let decoder = zstd::stream::read::Decoder::with_buffer(frame)
        .unwrap()
        .single_frame();
    decoder.take(size as u64 + 1).read_to_end(out).unwrap();
    assert_eq!(out.len(), size);
}

fn zstd_bulk(frame: &[u8], size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(size);
    zstd::bulk::Decompressor::new()
        .unwrap()
        .decompress_to_buffer(frame, out)
        .unwrap();
    assert_eq!(out.len(), size);
}

fn lz4(block: &[u8], size: usize, out: &mut Vec<u8>) {
    out.resize(size, 0);
    let n = lz4_flex::block::decompress_into(block, out).unwrap();
    assert_eq!(n, size);
}

const CODECS: [Codec; 5] = [
    Codec {
        name: "zstd 1 (stream decode)",
        compress: |p| zstd::bulk::compress(p, 1).unwrap(),
        decompress: zstd_stream,
    },
    Codec {
        name: "zstd 3 (stream decode; written today)",
        compress: |p| zstd::bulk::compress(p, 3).unwrap(),
        decompress: zstd_stream,
    },
    Codec {
        name: "zstd 3 (one-shot decode)",
        compress: |p| zstd::bulk::compress(p, 3).unwrap(),
        decompress: zstd_bulk,
    },
    Codec {
        name: "zstd 9 (stream decode)",
        compress: |p| zstd::bulk::compress(p, 9).unwrap(),
        decompress: zstd_stream,
    },
    Codec {
        name: "lz4 (lz4_flex block)",
        compress: lz4_flex::block::compress,
        decompress: lz4,
    },
];

fn main() {
    let scale: f64 = arg("--scale", 1.0);
    let runs: usize = arg("--runs", 5);
    let columns = block_columns(scale);
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!("columns stored in blocks: {}", names.join(", "));
    let blocks: Vec<Vec<u8>> = columns.iter().flat_map(|(_, v)| payloads(v)).collect();
    let raw: usize = blocks.iter().map(Vec::len).sum();
    println!(
        "TPC-H SF{scale}: {} columns, {} blocks of {BLOCK_ROWS} rows, {:.1} MiB of payload\n",
        columns.len(),
        blocks.len(),
        raw as f64 / (1 << 20) as f64
    );
    println!("| codec | compressed MiB | ratio | compress MB/s | decompress GB/s (median) |");
    println!("|---|---:|---:|---:|---:|");
    let mut out = Vec::new();
    for codec in &CODECS {
        let start = Instant::now();
        let compressed: Vec<Vec<u8>> = blocks.iter().map(|b| (codec.compress)(b)).collect();
        let compress_secs = start.elapsed().as_secs_f64();
        let stored: usize = compressed.iter().map(Vec::len).sum();
        let times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                for (c, b) in compressed.iter().zip(&blocks) {
                    (codec.decompress)(c, b.len(), &mut out);
                }
                start.elapsed()
            })
            .collect();
        println!(
            "| {} | {:.1} | {:.2} | {:.0} | {:.2} |",
            codec.name,
            stored as f64 / (1 << 20) as f64,
            raw as f64 / stored as f64,
            raw as f64 / 1e6 / compress_secs,
            raw as f64 / 1e9 / median(times).as_secs_f64()
        );
    }
}
