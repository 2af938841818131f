//! Storage-level benchmarks, side by side in one process: opening a table, scanning one column,
//! random `take`, and building — each next to the closest arrow-rs baselines: the same values
//! in memory (`Vec`s, a heap `RecordBatch`), and the same batches in an Arrow IPC file read
//! zero-copy through `FileDecoder` over a memory map (arrow-rs's own mmap path).
//!
//! ```sh
//! cargo bench --bench storage -- --rows 10000000 --runs 7
//! ```
//!
//! The table (`id: Int64`, `value: Float64`, `name: Utf8` of ~80 bytes) is about 1 GB at 10M
//! rows; it is built under `target/quiver-bench/storage-<rows>` (and the IPC file beside it)
//! and reused. Prints medians.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use quiver_store::{ScanOptions, Table, TableWriter};

mod common;
use common::{arg, median};

/// An Arrow IPC file mapped into memory and decoded zero-copy, block by block (arrow-rs's
/// `zero_copy_ipc` pattern): the baseline for opening and scanning a mapped file.
struct MappedIpc {
    buffer: arrow::buffer::Buffer,
    decoder: arrow::ipc::reader::FileDecoder,
    blocks: Vec<arrow::ipc::Block>,
}

impl MappedIpc {
    /// Maps `path` and reads its footer; batches decode only `projection` (all columns when
    /// `None`), as a reader with projection pushdown would.
    fn open(path: &Path, projection: Option<Vec<usize>>) -> Self {
        let file = std::fs::File::open(path).unwrap();
        // SAFETY: the benchmark's own file, not modified while mapped.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let buffer = arrow::buffer::Buffer::from(bytes::Bytes::from_owner(map));
        let trailer = buffer.len() - 10;
        let footer_len =
            arrow::ipc::reader::read_footer_length(buffer[trailer..].try_into().unwrap()).unwrap();
        let footer = arrow::ipc::root_as_footer(&buffer[trailer - footer_len..trailer]).unwrap();
        let schema = arrow::ipc::convert::fb_to_schema(footer.schema().unwrap());
        let mut decoder = arrow::ipc::reader::FileDecoder::new(Arc::new(schema), footer.version());
        if let Some(projection) = projection {
            decoder = decoder.with_projection(projection);
        }
        let blocks = footer
            .recordBatches()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        Self {
            buffer,
            decoder,
            blocks,
        }
    }

    fn batch(&self, i: usize) -> RecordBatch {
        let block = &self.blocks[i];
        let len = block.bodyLength() as usize + block.metaDataLength() as usize;
        let data = self.buffer.slice_with_length(block.offset() as usize, len);
        self.decoder
            .read_record_batch(block, &data)
            .unwrap()
            .unwrap()
    }

    fn batches(&self) -> impl Iterator<Item = RecordBatch> + '_ {
        (0..self.blocks.len()).map(|i| self.batch(i))
    }
}

/// Writes `batches` as an uncompressed Arrow IPC file at `path` and fsyncs it.
fn write_ipc(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = arrow::ipc::writer::FileWriter::try_new(&file, schema).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    file.sync_all().unwrap();
}

/// The sum the scans compute for column `col` of `batch` (its first column).
fn column_sum(col: usize, batch: &RecordBatch) -> usize {
    match col {
        0 => batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .sum::<i64>() as usize,
        1 => batch
            .column(0)
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .sum::<f64>() as usize,
        _ => batch
            .column(0)
            .as_string::<i64>()
            .iter()
            .flatten()
            .map(str::len)
            .sum(),
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("value", DataType::Float64, true),
        Field::new("name", DataType::Utf8, false),
    ]))
}

fn batch(start: usize, len: usize) -> RecordBatch {
    const WORDS: [&str; 8] = [
        "quiver", "arrow", "segment", "mapping", "zone", "column", "offset", "bitmap",
    ];
    let ids = Int64Array::from_iter_values((start..start + len).map(|i| i as i64));
    let values = Float64Array::from_iter(
        (start..start + len).map(|i| (i % 97 != 0).then_some(i as f64 * 0.5)),
    );
    let names = StringArray::from_iter_values((start..start + len).map(|i| {
        let mut s = String::with_capacity(90);
        let mut x = i as u64;
        while s.len() < 72 {
            s.push_str(WORDS[(x % 8) as usize]);
            s.push(' ');
            x = x / 8 + 7;
        }
        s.push_str(&i.to_string());
        s
    }));
    RecordBatch::try_new(
        schema(),
        vec![Arc::new(ids), Arc::new(values), Arc::new(names)],
    )
    .unwrap()
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let _ = std::hint::black_box(f()); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed()
            })
            .collect(),
    )
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn build(dir: &Path, rows: usize) -> Duration {
    let start = Instant::now();
    let mut w = TableWriter::create(dir, schema()).unwrap();
    for s in (0..rows).step_by(65_536) {
        w.write(&batch(s, 65_536.min(rows - s))).unwrap();
    }
    w.commit().unwrap();
    start.elapsed()
}

fn main() {
    let rows: usize = arg("--rows", 10_000_000);
    let runs: usize = arg("--runs", 7);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/quiver-bench/storage-{rows}"));
    if Table::open(&dir).is_err() {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("building {rows} rows in {} ...", dir.display());
        build(&dir, rows);
    }
    let bytes: u64 = Table::open(&dir)
        .unwrap()
        .segments()
        .iter()
        .map(|s| s.file().file_len())
        .sum();
    println!(
        "table: {rows} rows, {:.2} GB on disk, {runs} runs, medians\n",
        bytes as f64 / 1e9
    );
    // The same batches as an Arrow IPC file, for the mapped-IPC baseline.
    let ipc_path = dir.with_extension("arrow");
    if !ipc_path.exists() {
        let table = Table::open(&dir).unwrap();
        let batches: Vec<RecordBatch> = table.scan().unwrap().map(|b| b.unwrap()).collect();
        write_ipc(&ipc_path, &table.schema(), &batches);
    }
    println!("| measurement | Quiver | in-memory baseline | Quiver / baseline | Arrow IPC `FileDecoder` over mmap | Quiver / IPC |");
    println!("|---|---:|---:|---:|---:|---:|");

    let open = time(runs, || Table::open(&dir).unwrap());
    let first = time(runs, || {
        Table::open(&dir)
            .unwrap()
            .scan()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
    });
    let ipc_open = time(runs, || MappedIpc::open(&ipc_path, None));
    let ipc_first = time(runs, || MappedIpc::open(&ipc_path, None).batch(0));
    println!(
        "| open (to schema) | {} | - | - | {} | {:.2} |",
        fmt(open),
        fmt(ipc_open),
        open.as_secs_f64() / ipc_open.as_secs_f64()
    );
    println!(
        "| open + first batch (all columns) | {} | - | - | {} | {:.2} |",
        fmt(first),
        fmt(ipc_first),
        first.as_secs_f64() / ipc_first.as_secs_f64()
    );

    // In-memory copies of the same values: the physical limit.
    let table = Table::open(&dir).unwrap();
    let all: Vec<RecordBatch> = table.scan().unwrap().map(|b| b.unwrap()).collect();
    let in_memory = concat_batches(&table.schema(), &all).unwrap();
    // Deep copy so the baseline does not read through the mapping.
    let ids: Vec<i64> = in_memory
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    let values: Vec<f64> = in_memory
        .column(1)
        .as_primitive::<Float64Type>()
        .values()
        .to_vec();
    drop(all);

    let table_ref = &table;
    let scan = |col: usize| {
        move || {
            table_ref
                .scan_with(ScanOptions::default().with_projection(vec![col]))
                .unwrap()
                .map(|b| column_sum(col, &b.unwrap()))
                .sum::<usize>()
        }
    };
    // Like Quiver's scans, each IPC scan opens the file and decodes only its column (arrow-rs
    // validates each decoded array, strings' UTF-8 included; Quiver validates a segment's
    // column once per open table).
    let ipc_path_ref = &ipc_path;
    let ipc_scan = |col: usize| {
        move || {
            MappedIpc::open(ipc_path_ref, Some(vec![col]))
                .batches()
                .map(|b| column_sum(col, &b))
                .sum::<usize>()
        }
    };
    let row = |label: &str, col: usize, baseline: &str, b: Duration| {
        let q = time(runs, scan(col));
        let i = time(runs, ipc_scan(col));
        println!(
            "| {label} | {} | {} ({baseline}) | {:.2} | {} | {:.2} |",
            fmt(q),
            fmt(b),
            q.as_secs_f64() / b.as_secs_f64(),
            fmt(i),
            q.as_secs_f64() / i.as_secs_f64()
        );
    };
    let (mut v_ids, mut v_values) = (ids, values);
    let b = time(runs, || {
        std::hint::black_box(v_ids.as_mut_slice())
            .iter()
            .sum::<i64>()
    });
    row("scan SUM(id) Int64", 0, "`Vec<i64>` loop", b);
    let b = time(runs, || {
        std::hint::black_box(v_values.as_mut_slice())
            .iter()
            .sum::<f64>()
    });
    row("scan SUM(value) Float64", 1, "`Vec<f64>` loop", b);
    let names = in_memory.column(2).clone();
    let b = time(runs, || {
        names
            .as_string::<i64>()
            .iter()
            .flatten()
            .map(str::len)
            .sum::<usize>()
    });
    row(
        "scan total length of name (Utf8)",
        2,
        "heap `LargeStringArray`",
        b,
    );

    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for k in [1usize, 100, 10_000] {
        let picks: Vec<u64> = (0..k)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % rows as u64
            })
            .collect();
        let idx = UInt64Array::from(picks.clone());
        let q = time(runs, || table.take(&picks).unwrap());
        let b = time(runs, || take_record_batch(&in_memory, &idx).unwrap());
        println!(
            "| take {k} random rows (3 columns) | {} | {} (arrow `take` on a heap batch) | {:.2} | - | - |",
            fmt(q),
            fmt(b),
            q.as_secs_f64() / b.as_secs_f64()
        );
    }

    let tmp = dir.with_extension("rebuild");
    let small = rows.min(2_000_000);
    let _ = std::fs::remove_dir_all(&tmp);
    let start = Instant::now();
    let batches: Vec<RecordBatch> = (0..small)
        .step_by(65_536)
        .map(|s| batch(s, 65_536.min(small - s)))
        .collect();
    let gen = start.elapsed();
    let mb = batches
        .iter()
        .map(|b| b.get_array_memory_size())
        .sum::<usize>() as f64
        / 1e6;
    let start = Instant::now();
    let mut w = TableWriter::create(&tmp, schema()).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.commit().unwrap();
    let write = start.elapsed();
    let _ = std::fs::remove_dir_all(&tmp);
    let ipc_tmp = tmp.with_extension("arrow");
    let start = Instant::now();
    write_ipc(&ipc_tmp, &schema(), &batches);
    let ipc_write = start.elapsed();
    let _ = std::fs::remove_file(&ipc_tmp);
    println!(
        "| build {small} rows (write + fsync + commit) | {} ({:.0} MB/s of Arrow data) | - | - | {} (IPC `FileWriter` + fsync) | {:.2} |",
        fmt(write),
        mb / write.as_secs_f64(),
        fmt(ipc_write),
        write.as_secs_f64() / ipc_write.as_secs_f64()
    );
    let _ = (gen, names.len());
}
