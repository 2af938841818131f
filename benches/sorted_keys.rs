//! Delta encoding of sorted keys (format v3 `delta`) against frame-of-reference packing, on
//! TPC-H tables in the order the generator gives their rows (sorted by their keys, as a
//! Parquet file written in key order imports).
//!
//! ```sh
//! cargo bench -p quiver-store --no-default-features --features tpch --bench sorted_keys -- --scale 1 --runs 5
//! ```
//!
//! Writes `lineitem`, `orders`, `part`, `partsupp` and `customer` twice into a temporary
//! directory (1 Mi-row segments): `compact` (sorted integer columns become `delta`) and
//! `compact` with every column that became `delta` forced to `packed`. Reports, per such
//! column, its bytes under each, and the decode speed of each (GB of decoded values per second,
//! one core, every segment read once from a fresh open with the decoded-column cache off,
//! median of `--runs`); then the tables' total bytes.

use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::Array;
use quiver_store::{EncodingChoice, EncodingSpec, Table, TableWriter, WriteOptions};

mod common;
use common::{arg, median};

const TABLES: [&str; 5] = ["lineitem", "orders", "part", "partsupp", "customer"];

/// Writes TPC-H `table` in generation order into `dir` under `spec`.
fn write(dir: &Path, table: &str, scale: f64, spec: EncodingSpec) {
    let (schema, batches) = quiver_store::tpch::batches(table, scale, 1, 1, 65_536).unwrap();
    let options = WriteOptions::default().with_encoding(spec);
    let mut w = TableWriter::create_with(dir, schema, options).unwrap();
    for b in batches {
        w.write(&b.unwrap()).unwrap();
    }
    w.commit().unwrap();
}

/// Column `c`'s storage over the table's segments: its encodings (distinct) and stored bytes.
fn storage(table: &Table, c: usize) -> (Vec<String>, u64) {
    let mut kinds: Vec<String> = Vec::new();
    let mut bytes = 0;
    for s in table.segments() {
        let (e, stored, _) = s.column_storage(c).unwrap();
        let kind = e.split(' ').next().unwrap_or_default().to_owned();
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
        bytes += stored;
    }
    (kinds, bytes)
}

/// Median seconds to decode column `c` of every segment of the table at `dir`, from fresh
/// opens with nothing cached; and the decoded bytes.
fn decode(dir: &Path, c: usize, runs: usize) -> (u64, Duration) {
    let mut decoded = 0;
    let times = (0..runs)
        .map(|_| {
            quiver_store::set_decoded_cache_bytes(0);
            let table = Table::open(dir).unwrap();
            decoded = 0;
            let start = Instant::now();
            for s in table.segments() {
                decoded += s.column_view(c).unwrap().get_array_memory_size() as u64;
            }
            start.elapsed()
        })
        .collect();
    quiver_store::set_decoded_cache_bytes(quiver_store::DEFAULT_DECODED_CACHE_BYTES);
    (decoded, median(times))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    let scale: f64 = arg("--scale", 1.0);
    let runs: usize = arg("--runs", 5);
    let tmp = tempfile::tempdir().unwrap();
    println!(
        "TPC-H SF{scale} in generation order, 1 Mi-row segments.\n\n\
         | column | delta MiB | packed MiB | delta / packed | delta decode GB/s | packed decode GB/s |\n\
         |---|---:|---:|---:|---:|---:|"
    );
    let (mut delta_total, mut packed_total) = (0, 0);
    for name in TABLES {
        let delta_dir = tmp.path().join(format!("{name}-delta"));
        write(
            &delta_dir,
            name,
            scale,
            EncodingSpec::all(EncodingChoice::Compact),
        );
        let table = Table::open(&delta_dir).unwrap();
        let schema = table.schema();
        let deltas: Vec<usize> = (0..schema.fields().len())
            .filter(|&c| storage(&table, c).0.iter().any(|k| k == "delta"))
            .collect();
        let mut spec = EncodingSpec::all(EncodingChoice::Compact);
        for &c in &deltas {
            spec.columns
                .push((schema.field(c).name().clone(), EncodingChoice::Packed));
        }
        let packed_dir = tmp.path().join(format!("{name}-packed"));
        write(&packed_dir, name, scale, spec);
        let packed_table = Table::open(&packed_dir).unwrap();
        for &c in &deltas {
            let (kinds, delta_bytes) = storage(&table, c);
            let (_, packed_bytes) = storage(&packed_table, c);
            let (decoded, delta_secs) = decode(&delta_dir, c, runs);
            let (_, packed_secs) = decode(&packed_dir, c, runs);
            let gbs = |d: Duration| decoded as f64 / 1e9 / d.as_secs_f64();
            println!(
                "| {} ({}) | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} |",
                schema.field(c).name(),
                kinds.join("+"),
                mib(delta_bytes),
                mib(packed_bytes),
                delta_bytes as f64 / packed_bytes as f64,
                gbs(delta_secs),
                gbs(packed_secs)
            );
        }
        let bytes = |t: &Table| -> u64 {
            (0..t.schema().fields().len())
                .map(|c| storage(t, c).1)
                .sum()
        };
        delta_total += bytes(&table);
        packed_total += bytes(&packed_table);
    }
    println!(
        "\nColumn bytes of the {} tables: {:.1} MiB with deltas, {:.1} MiB with packing only ({:.3}x).",
        TABLES.len(),
        mib(delta_total),
        mib(packed_total),
        delta_total as f64 / packed_total as f64
    );
}
