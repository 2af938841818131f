//! Sparse data: the overflow bag against the same columns stored dense and against Parquet
//! (zstd), side by side in one run — bytes on disk, write time, and the time to scan one
//! sparse key.
//!
//! ```sh
//! cargo bench -p quiver-store --bench overflow --no-default-features --features io -- --rows 1000000 --keys 200 --runs 5
//! ```
//!
//! The table has a dense `id` and `--keys` sparse keys `k000..`, each present in 1% of rows
//! (independently), typed in turn Int64, Float64, Utf8 (about 12 bytes) and Boolean. Files are
//! written under `target/quiver-bench/overflow-<rows>-<keys>/`. Prints medians.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use quiver_store::{ScanOptions, Table, TableWriter, WriteOptions};

mod common;
use common::{arg, median};

fn key_type(k: usize) -> DataType {
    [
        DataType::Int64,
        DataType::Float64,
        DataType::Utf8,
        DataType::Boolean,
    ][k % 4]
        .clone()
}

fn schema(keys: usize) -> SchemaRef {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    fields.extend((0..keys).map(|k| Field::new(format!("k{k:03}"), key_type(k), true)));
    Arc::new(Schema::new(fields))
}

/// Whether row `row` holds key `k`: a fixed pseudo-random 1%.
fn present(row: usize, k: usize) -> bool {
    let mut x = (row as u64) << 16 ^ k as u64;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 32 < (u32::MAX as u64 / 100)
}

fn batch(schema: &SchemaRef, keys: usize, start: usize, len: usize) -> RecordBatch {
    let rows = start..start + len;
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
        rows.clone().map(|r| r as i64),
    ))];
    for k in 0..keys {
        let has = |r: usize| present(r, k);
        let column: ArrayRef = match key_type(k) {
            DataType::Int64 => Arc::new(Int64Array::from_iter(
                rows.clone().map(|r| has(r).then_some(r as i64 * 3)),
            )),
            DataType::Float64 => Arc::new(Float64Array::from_iter(
                rows.clone().map(|r| has(r).then_some(r as f64 / 7.0)),
            )),
            DataType::Utf8 => Arc::new(StringArray::from_iter(
                rows.clone()
                    .map(|r| has(r).then(|| format!("value-{:06}", r % 999_983))),
            )),
            _ => Arc::new(BooleanArray::from_iter(
                rows.clone().map(|r| has(r).then_some(r % 3 == 0)),
            )),
        };
        columns.push(column);
    }
    RecordBatch::try_new(Arc::clone(schema), columns).unwrap()
}

fn batches(rows: usize, keys: usize) -> impl Iterator<Item = RecordBatch> {
    let schema = schema(keys);
    (0..rows)
        .step_by(65_536)
        .map(move |start| batch(&schema, keys, start, 65_536.min(rows - start)))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn write_quiver(dir: &Path, rows: usize, keys: usize, threshold: f64) -> Duration {
    let _ = std::fs::remove_dir_all(dir);
    let start = Instant::now();
    let options = WriteOptions::default().with_bag_threshold(threshold);
    let mut w = TableWriter::create_with(dir, schema(keys), options).unwrap();
    for b in batches(rows, keys) {
        w.write(&b).unwrap();
    }
    w.commit().unwrap();
    start.elapsed()
}

fn write_parquet(path: &Path, rows: usize, keys: usize) -> Duration {
    let start = Instant::now();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w =
        ArrowWriter::try_new(File::create(path).unwrap(), schema(keys), Some(props)).unwrap();
    for b in batches(rows, keys) {
        w.write(&b).unwrap();
    }
    w.close().unwrap();
    start.elapsed()
}

/// Opens the table and counts the non-null values of column `column` (a sparse key).
fn scan_quiver(dir: &Path, column: usize) -> usize {
    let table = Table::open(dir).unwrap();
    let options = ScanOptions::default().with_projection(vec![column]);
    table
        .scan_with(options)
        .unwrap()
        .map(|b| {
            let b = b.unwrap();
            b.num_rows() - b.column(0).null_count()
        })
        .sum()
}

fn scan_parquet(path: &Path, column: usize) -> usize {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let mask = ProjectionMask::roots(builder.parquet_schema(), [column]);
    builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .unwrap()
        .map(|b| {
            let b = b.unwrap();
            b.num_rows() - b.column(0).null_count()
        })
        .sum()
}

/// The median time of `runs` calls of `f`, and what the last call returned.
fn timed(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut out = 0;
    let times = (0..runs)
        .map(|_| {
            let start = Instant::now();
            out = f();
            start.elapsed()
        })
        .collect();
    (median(times), out)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn main() {
    let rows: usize = arg("--rows", 1_000_000);
    let keys: usize = arg("--keys", 200);
    let runs = arg("--runs", 5usize).max(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/quiver-bench")
        .join(format!("overflow-{rows}-{keys}"));
    std::fs::create_dir_all(&root).unwrap();
    let (bag, dense, parquet) = (root.join("bag"), root.join("dense"), root.join("t.parquet"));
    let t_bag = write_quiver(&bag, rows, keys, 0.05);
    let t_dense = write_quiver(&dense, rows, keys, 0.0);
    let t_parquet = write_parquet(&parquet, rows, keys);
    let sizes = [
        dir_bytes(&bag),
        dir_bytes(&dense),
        std::fs::metadata(&parquet).unwrap().len(),
    ];
    println!("{rows} rows, 1 dense + {keys} sparse keys at 1% fill, {runs} runs, medians");
    println!();
    println!("| | Quiver, overflow bag | Quiver, all dense | Parquet (zstd) |");
    println!("|---|---|---|---|");
    println!(
        "| bytes on disk | {} | {} ({:.1}x) | {} ({:.2}x) |",
        mib(sizes[0]),
        mib(sizes[1]),
        sizes[1] as f64 / sizes[0] as f64,
        mib(sizes[2]),
        sizes[2] as f64 / sizes[0] as f64
    );
    println!(
        "| write | {} | {} | {} |",
        ms(t_bag),
        ms(t_dense),
        ms(t_parquet)
    );
    // Column 1 is k000 (Int64), column 3 is k002 (Utf8).
    for (column, what) in [(1usize, "Int64"), (3, "Utf8")] {
        let (b, nb) = timed(runs, || scan_quiver(&bag, column));
        let (d, nd) = timed(runs, || scan_quiver(&dense, column));
        let (p, np) = timed(runs, || scan_parquet(&parquet, column));
        assert_eq!((nb, nd), (np, np), "the three stores disagree");
        println!(
            "| open + scan one {what} key ({nb} values) | {} | {} ({:.2}x) | {} ({:.2}x) |",
            ms(b),
            ms(d),
            d.as_secs_f64() / b.as_secs_f64(),
            ms(p),
            p.as_secs_f64() / b.as_secs_f64()
        );
    }
}
