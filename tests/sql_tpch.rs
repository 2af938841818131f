//! SQL over Quiver matches SQL over Parquet: all 22 TPC-H queries (the standard text in
//! `../shared/data/tpch-queries`, data from `tpchgen` at scale 0.1) return the same rows over
//! Quiver tables — with strings served as `Utf8View` (the default) and as `LargeUtf8`, and over
//! tables written `--encoding compact` (dictionary codes, packed integers) — as DataFusion
//! returns over the same data in Parquet, in the order the queries specify (floating-point
//! values within a relative 1e-9).
#![cfg(all(feature = "sql", feature = "tpch"))]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use quiver_store::sql::{QueryResult, QuiverSession, QuiverTableProvider};
use quiver_store::{EncodingChoice, EncodingSpec, TableWriter};

const SCALE: f64 = 0.1;

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/tpch-queries")
}

/// Writes every TPC-H table at SCALE as a Quiver table `db/<name>`, again encoded compact as
/// `compact/<name>`, and as a Parquet file `parquet/<name>.parquet`.
async fn generate(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let db = root.join("db");
    let compact = root.join("compact");
    let pq = root.join("parquet");
    std::fs::create_dir_all(&pq).unwrap();
    let ctx = SessionContext::new();
    for name in quiver_store::tpch::TABLES {
        let (schema, batches) = quiver_store::tpch::batches(name, SCALE, 1, 1, 8192).unwrap();
        let batches: Vec<RecordBatch> = batches.map(|b| b.unwrap()).collect();
        // Several segments and zones even at this scale, so pruning and partitioning run.
        let options = quiver_store::WriteOptions::default()
            .with_segment_rows(200_000)
            .with_zone_rows(16_384);
        let encoded = options
            .clone()
            .with_encoding(EncodingSpec::all(EncodingChoice::Compact));
        for (dir, options) in [(&db, options), (&compact, encoded)] {
            let mut w =
                TableWriter::create_with(dir.join(name), Arc::clone(&schema), options).unwrap();
            for b in &batches {
                w.write(b).unwrap();
            }
            w.commit().unwrap();
        }
        ctx.read_batches(batches)
            .unwrap()
            .write_parquet(
                pq.join(format!("{name}.parquet")).to_str().unwrap(),
                DataFrameWriteOptions::new().with_single_file_output(true),
                None,
            )
            .await
            .unwrap();
    }
    (db, compact, pq)
}

/// A result as rows of display strings, floats kept as numbers for a tolerant comparison.
#[derive(Debug, PartialEq)]
enum Cell {
    Text(String),
    Float(f64),
}

fn rows(result: &QueryResult) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    let options = FormatOptions::default().with_null("NULL");
    for batch in &result.batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| match c.data_type() {
                        DataType::Float64 if c.is_valid(row) => Cell::Float(
                            c.as_primitive::<arrow::datatypes::Float64Type>().value(row),
                        ),
                        _ => Cell::Text(f.value(row).to_string()),
                    })
                    .collect(),
            );
        }
    }
    out
}

fn same(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_22_tpch_queries_match_datafusion_over_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, compact, pq) = generate(tmp.path()).await;
    // Strings as Utf8View (the default, through a database directory) and as LargeUtf8.
    let quiver = QuiverSession::open_db(&db, Default::default()).unwrap();
    let quiver_compact = QuiverSession::open_db(&compact, Default::default()).unwrap();
    let encoded = quiver_store::Table::open(compact.join("lineitem")).unwrap();
    let encodings: Vec<String> = (0..encoded.schema().fields().len())
        .filter_map(|c| encoded.segments()[0].column_storage(c))
        .map(|(e, ..)| e)
        .collect();
    assert!(
        encodings.iter().any(|e| e.starts_with("dict"))
            && encodings.iter().any(|e| e.starts_with("packed")),
        "compact lineitem: {encodings:?}"
    );
    let quiver_large = QuiverSession::default();
    for name in quiver_store::tpch::TABLES {
        let p = QuiverTableProvider::try_new(db.join(name))
            .unwrap()
            .with_string_view(false);
        quiver_large
            .context()
            .register_table(name, Arc::new(p))
            .unwrap();
    }
    let parquet = QuiverSession::default();
    for name in quiver_store::tpch::TABLES {
        parquet
            .context()
            .register_parquet(
                name,
                pq.join(format!("{name}.parquet")).to_str().unwrap(),
                ParquetReadOptions::default(),
            )
            .await
            .unwrap();
    }
    let mut compared = 0;
    let mut empty = Vec::new();
    for q in 1..=22 {
        let sql = std::fs::read_to_string(queries_dir().join(format!("q{q}.sql"))).unwrap();
        let want = parquet
            .run_script(&sql)
            .await
            .unwrap_or_else(|e| panic!("q{q} over Parquet: {e}"))
            .unwrap();
        let want = rows(&want);
        if want.is_empty() {
            empty.push(q);
        }
        for (mode, session) in [
            ("Utf8View", &quiver),
            ("LargeUtf8", &quiver_large),
            ("compact", &quiver_compact),
        ] {
            let got = session
                .run_script(&sql)
                .await
                .unwrap_or_else(|e| panic!("q{q} over Quiver ({mode}): {e}"))
                .unwrap();
            let got = rows(&got);
            assert_eq!(got.len(), want.len(), "q{q} ({mode}): row count");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    g.len() == w.len() && g.iter().zip(w).all(|(a, b)| same(a, b)),
                    "q{q} ({mode}): row {i} differs:\n quiver:  {g:?}\n parquet: {w:?}"
                );
            }
        }
        compared += 1;
    }
    assert_eq!(compared, 22);
    // Q6's filter runs in the scan: no FilterExec, and the plan's metrics account for every
    // zone (passed whole, evaluated or skipped) and the rows aggregated.
    let q6 = std::fs::read_to_string(queries_dir().join("q6.sql")).unwrap();
    let analyzed = quiver
        .run_script(&format!("EXPLAIN ANALYZE {q6}"))
        .await
        .unwrap()
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&analyzed.batches)
        .unwrap()
        .to_string();
    assert!(!text.contains("FilterExec"), "{text}");
    // ... and its aggregate runs inside the scan, over the rows the filter keeps.
    assert!(text.contains("QuiverAggregateExec"), "{text}");
    for metric in [
        "zones_passed_whole=",
        "zones_evaluated=",
        "zones_pruned=",
        "rows_aggregated=",
    ] {
        assert!(text.contains(metric), "{metric} missing:\n{text}");
    }
    // At this scale q18's threshold (sum of quantity > 300) may select nothing; every other
    // query must have rows to compare.
    assert!(
        empty.iter().all(|&q| q == 18),
        "queries with no rows: {empty:?}"
    );
}
