//! Import and export throughput against arrow-rs alone, side by side in one process.
//!
//! ```sh
//! cargo bench --bench io -- --scale 1 --runs 3
//! ```
//!
//! Input: TPC-H `lineitem` at `--scale` as one zstd Parquet file (1 Mi-row row groups), built
//! once under `target/quiver-bench/io-sf<scale>`. Measures (medians):
//! - arrow-rs decoding the file (`ParquetRecordBatchReader`, one thread) — the floor for import;
//! - Quiver's parallel decode alone, and Quiver's import (decode + build + fsync + commit);
//! - Quiver's export of the table to zstd Parquet next to arrow-rs `ArrowWriter` writing the
//!   same rows from memory.
//!
//! Peak memory of an import is measured on the CLI instead (see BENCHMARKS.md), so the
//! in-memory baselines here do not count against it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use quiver_store::io::{
    export_batches, export_table, import, open_source, ExportOptions, ImportOptions,
};
use quiver_store::Table;

mod common;
use common::{arg, median};

fn main() {
    let scale: f64 = arg("--scale", 1.0);
    let runs: usize = arg("--runs", 3);
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/quiver-bench/io-sf{scale}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lineitem.parquet");
    if !file.exists() {
        eprintln!("writing {} ...", file.display());
        let (schema, batches) =
            quiver_store::tpch::batches("lineitem", scale, 1, 1, 65_536).unwrap();
        export_batches(
            schema,
            batches,
            &file,
            &ExportOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    }
    let bytes = std::fs::metadata(&file).unwrap().len();
    let time = |f: &mut dyn FnMut() -> u64| -> (Duration, u64) {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let start = Instant::now();
            rows = f();
            times.push(start.elapsed());
        }
        (median(times), rows)
    };

    let (decode, rows) = time(&mut || {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .with_batch_size(65_536)
            .build()
            .unwrap();
        reader.map(|b| b.unwrap().num_rows() as u64).sum()
    });
    let (parallel, _) = time(&mut || {
        let (_, batches) = open_source(&file, &ImportOptions::default()).unwrap();
        batches.map(|b| b.unwrap().num_rows() as u64).sum()
    });
    let table = dir.join("table");
    let (imported, _) = time(&mut || {
        let _ = std::fs::remove_dir_all(&table);
        import(
            std::slice::from_ref(&file),
            &table,
            &ImportOptions::default(),
            &mut |_| {},
        )
        .unwrap()
        .rows
    });
    let t = Table::open(&table).unwrap();
    let out = dir.join("export.parquet");
    let (exported, _) =
        time(&mut || export_table(&t, None, &out, &ExportOptions::default(), &mut |_| {}).unwrap());
    let in_memory: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .with_batch_size(65_536)
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let (written, _) = time(&mut || {
        let props = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
            .build();
        let f = std::fs::File::create(dir.join("arrow-rs.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(f, in_memory[0].schema(), Some(props)).unwrap();
        for b in &in_memory {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        0
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mb = bytes as f64 / 1e6;
    println!("input: TPC-H lineitem scale {scale}: {rows} rows, {mb:.0} MB of zstd Parquet; {runs} runs, medians\n");
    println!("| step | ms | rows/s | vs arrow-rs decode |");
    println!("|---|---:|---:|---:|");
    for (name, d) in [
        ("arrow-rs: decode the file (one thread)", decode),
        (
            "Quiver: parallel decode only (row groups over threads)",
            parallel,
        ),
        ("Quiver: import (decode, build, fsync, commit)", imported),
        ("Quiver: export the table to zstd Parquet", exported),
        (
            "arrow-rs: `ArrowWriter` of the same rows from memory, zstd",
            written,
        ),
    ] {
        println!(
            "| {name} | {:.0} | {:.1} M | {:.2} |",
            ms(d),
            rows as f64 / d.as_secs_f64() / 1e6,
            d.as_secs_f64() / decode.as_secs_f64()
        );
    }
    let _ = std::fs::remove_file(dir.join("arrow-rs.parquet"));
}
