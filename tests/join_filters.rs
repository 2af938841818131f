//! Join and TopK filters that DataFusion pushes into a running scan, applied to rows
//! (`SET quiver.dynamic_filter_rows`, on by default), never change an answer: hundreds of
//! random joins (inner, semi, anti, `NOT IN`, left, right; integer, string and two-column
//! keys with NULLs and duplicates; build sides from empty to every key, small enough for an
//! `IN` list and too large for one; collect-left and partitioned hash joins; grouped
//! aggregates and `ORDER BY ... LIMIT` over them) give the same rows with the rows filter on,
//! with it off, and over DataFusion `MemTable`s of the same data. Selective joins drop rows in
//! the scan; joins that keep nearly every row stop evaluating the filter.
#![cfg(feature = "sql")]

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, Int8Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use quiver_store::sql::QuiverSession;
use quiver_store::WriteOptions;
use rand::rngs::SmallRng;
use rand::Rng;

/// The fact table: `id`, keys `k1` (Int32) and `k2` (Utf8) drawn from `0..keys` with
/// NULLs, a value `v` and a string `s`.
fn fact_table(rng: &mut SmallRng, rows: usize, keys: i32) -> RecordBatch {
    let null_rate = [0.0, 0.05, 0.5][rng.random_range(0..3)];
    let k1: Vec<Option<i32>> = (0..rows)
        .map(|_| (!rng.random_bool(null_rate)).then(|| rng.random_range(0..keys)))
        .collect();
    let k2: Vec<Option<String>> = (0..rows)
        .map(|i| match k1[i] {
            Some(k) if rng.random_bool(0.9) => Some(format!("key{k}")),
            _ => (!rng.random_bool(null_rate)).then(|| format!("key{}", rng.random_range(0..keys))),
        })
        .collect();
    let v: Vec<Option<i64>> = (0..rows)
        .map(|_| (!rng.random_bool(0.1)).then(|| rng.random_range(-1000..1000)))
        .collect();
    let s: Vec<String> = (0..rows).map(|i| format!("s{}", i % 97)).collect();
    batch(vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..rows as i64))),
        ("k1", Arc::new(Int32Array::from(k1))),
        ("k2", Arc::new(StringArray::from(k2))),
        ("v", Arc::new(Int64Array::from(v))),
        ("s", Arc::new(StringArray::from(s))),
    ])
}

/// The dimension table: one row per key of `0..keys` (some missing, some twice, one NULL
/// key), an attribute `attr` in `0..10` to filter on, and a `name`.
fn dim_table(rng: &mut SmallRng, keys: i32) -> RecordBatch {
    let mut dk: Vec<Option<i32>> = (0..keys)
        .filter(|_| rng.random_bool(0.9))
        .map(Some)
        .collect();
    for _ in 0..keys / 20 {
        dk.push(Some(rng.random_range(0..keys)));
    }
    dk.push(None);
    let n = dk.len();
    let dk2: Vec<Option<String>> = dk.iter().map(|k| k.map(|k| format!("key{k}"))).collect();
    let attr: Vec<i8> = (0..n).map(|_| rng.random_range(0..10)).collect();
    let name: Vec<String> = (0..n).map(|i| format!("n{}", i % 13)).collect();
    batch(vec![
        ("dk1", Arc::new(Int32Array::from(dk))),
        ("dk2", Arc::new(StringArray::from(dk2))),
        ("attr", Arc::new(Int8Array::from(attr))),
        ("name", Arc::new(StringArray::from(name))),
    ])
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

/// Writes `data` as a Quiver table in random pieces, segments, zones and encodings.
fn write_quiver(rng: &mut SmallRng, dir: &std::path::Path, data: &RecordBatch) {
    common::write_in_random_pieces(rng, dir, data, 500..8000, 64..2000, None);
}

/// A `MemTable` of `data` as the Quiver provider serves `schema`, in `parts` partitions.
fn mem_table(data: &RecordBatch, schema: &SchemaRef, parts: usize) -> MemTable {
    let served = common::as_read_batch(data, schema);
    let per = served.num_rows().div_ceil(parts).max(1);
    let partitions = (0..parts)
        .map(|p| {
            let start = (p * per).min(served.num_rows());
            let len = per.min(served.num_rows() - start);
            vec![served.slice(start, len)]
        })
        .collect();
    MemTable::try_new(Arc::clone(schema), partitions).unwrap()
}

/// A random filter on the dimension table `d`: from nothing kept to everything kept.
fn dim_filter(rng: &mut SmallRng) -> String {
    match rng.random_range(0..5) {
        0 => format!("d.attr < {}", rng.random_range(0..=10)),
        1 => format!(
            "d.attr IN ({}, {})",
            rng.random_range(0..10),
            rng.random_range(0..10)
        ),
        2 => format!("d.name LIKE 'n{}%'", rng.random_range(0..13)),
        3 => format!("d.dk1 < {}", rng.random_range(0..60)),
        _ => "true".into(),
    }
}

/// A random query over fact table `{F}` and dimension table `{D}`.
fn random_query(rng: &mut SmallRng) -> String {
    let on = [
        "f.k1 = d.dk1",
        "f.k2 = d.dk2",
        "f.k1 = d.dk1 AND f.k2 = d.dk2",
    ][rng.random_range(0..3)];
    let filter = dim_filter(rng);
    let limit = rng.random_range(0..30);
    match rng.random_range(0..9) {
        0 => format!(
            "SELECT count(*), sum(f.v), min(f.s), max(d.name) FROM {{F}} f JOIN {{D}} d ON {on} WHERE {filter}"
        ),
        1 => format!(
            "SELECT count(*), sum(f.v) FROM {{F}} f WHERE f.k1 IN (SELECT d.dk1 FROM {{D}} d WHERE {filter})"
        ),
        2 => format!(
            "SELECT count(*), sum(f.v) FROM {{F}} f WHERE NOT EXISTS (SELECT 1 FROM {{D}} d WHERE {on} AND {filter})"
        ),
        3 => format!(
            "SELECT count(*), sum(f.v) FROM {{F}} f WHERE f.k2 NOT IN (SELECT d.dk2 FROM {{D}} d WHERE {filter})"
        ),
        4 => format!(
            "SELECT count(*), count(d.name), sum(f.v) FROM {{F}} f LEFT JOIN {{D}} d ON {on} AND {filter}"
        ),
        5 => format!(
            "SELECT count(*), count(f.id), sum(f.v) FROM {{F}} f RIGHT JOIN (SELECT * FROM {{D}} d WHERE {filter}) d ON {on}"
        ),
        6 => format!(
            "SELECT d.attr, count(*), sum(f.v) FROM {{F}} f JOIN {{D}} d ON {on} WHERE {filter} GROUP BY d.attr ORDER BY d.attr"
        ),
        7 => format!(
            "SELECT f.id, f.v, d.name FROM {{F}} f JOIN {{D}} d ON {on} WHERE {filter} ORDER BY f.v DESC NULLS LAST, f.id, d.name LIMIT {limit}"
        ),
        _ => format!("SELECT id, v, k2 FROM {{F}} ORDER BY v NULLS FIRST, id LIMIT {limit}"),
    }
}

/// The query's rows (as text) and the sum of `rows_dropped_dynamic` over its plan.
async fn run(ctx: &SessionContext, sql: &str) -> (String, usize) {
    let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let plan: Arc<dyn ExecutionPlan> = df.create_physical_plan().await.unwrap();
    let batches = collect(Arc::clone(&plan), ctx.task_ctx())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = pretty_format_batches(&batches).unwrap().to_string();
    (text, common::plan_metric(&plan, "rows_dropped_dynamic"))
}

async fn set(ctx: &SessionContext, setting: &str) {
    ctx.sql(&format!("SET {setting}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
}

/// A session over Quiver tables `f`, `d` and `MemTable`s `mf`, `md` of the same data.
async fn session(
    rng: &mut SmallRng,
    dirs: (&std::path::Path, &std::path::Path),
    fact: &RecordBatch,
    dim: &RecordBatch,
) -> QuiverSession {
    let partitions = rng.random_range(1..=4);
    let session = QuiverSession::new(SessionConfig::new().with_target_partitions(partitions));
    session.register_table("f", dirs.0).unwrap();
    session.register_table("d", dirs.1).unwrap();
    let ctx = session.context();
    for (quiver, mem, data) in [("f", "mf", fact), ("d", "md", dim)] {
        let served = ctx.table(quiver).await.unwrap().schema().inner().clone();
        let table = mem_table(data, &served, partitions);
        ctx.register_table(mem, Arc::new(table)).unwrap();
    }
    // Filters stay applied whatever they cost (an unoptimized build evaluates slowly).
    set(ctx, "quiver.dynamic_filter_saved_ns = 1000000000").await;
    if rng.random_bool(0.5) {
        // Partitioned hash joins (a CASE over hash partitions as the pushed filter).
        set(
            ctx,
            "datafusion.optimizer.hash_join_single_partition_threshold = 0",
        )
        .await;
        set(
            ctx,
            "datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
        )
        .await;
    }
    session
}

#[tokio::test]
async fn random_joins_answer_the_same_with_join_filters_on_rows_off_and_over_memtables() {
    let mut dropped = 0;
    for seed in 0..6u64 {
        let mut rng = common::rng(0x701F + seed);
        // Few keys: build sides fit an IN list; many: a hash-table lookup.
        let keys = [40, 120, 3000][rng.random_range(0..3)];
        let rows = rng.random_range(3000..20000);
        let fact = fact_table(&mut rng, rows, keys);
        let dim = dim_table(&mut rng, keys);
        let (fd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_quiver(&mut rng, fd.path(), &fact);
        write_quiver(&mut rng, dd.path(), &dim);
        let session = session(&mut rng, (fd.path(), dd.path()), &fact, &dim).await;
        let ctx = session.context();
        for _ in 0..40 {
            let query = random_query(&mut rng);
            let quiver = query.replace("{F}", "f").replace("{D}", "d");
            let mem = query.replace("{F}", "mf").replace("{D}", "md");
            set(ctx, "quiver.dynamic_filter_rows = true").await;
            let (on, on_dropped) = run(ctx, &quiver).await;
            set(ctx, "quiver.dynamic_filter_rows = false").await;
            let (off, off_dropped) = run(ctx, &quiver).await;
            let (want, _) = run(ctx, &mem).await;
            assert_eq!(on, want, "seed {seed}: {quiver} (rows filter on)");
            assert_eq!(off, want, "seed {seed}: {quiver} (rows filter off)");
            assert_eq!(off_dropped, 0, "{quiver}: nothing dropped when off");
            dropped += on_dropped;
        }
    }
    assert!(dropped > 0, "no query dropped a row in the scan");
}

/// A table keyed `k` over `keys`, in one raw segment.
fn keyed(dir: &std::path::Path, keys: impl Iterator<Item = i64>) {
    let k: Vec<i64> = keys.collect();
    let v: Vec<i64> = k.iter().map(|k| k % 7).collect();
    let data = batch(vec![
        ("k", Arc::new(Int64Array::from(k))),
        ("v", Arc::new(Int64Array::from(v))),
    ]);
    common::commit_piece(dir, true, &data, WriteOptions::default());
}

/// Metric `name` summed over the plan of `sql` after running it, and its rows.
async fn metric_after(ctx: &SessionContext, sql: &str, name: &str) -> (usize, String) {
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let batches = collect(Arc::clone(&plan), ctx.task_ctx()).await.unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    (common::plan_metric(&plan, name), text)
}

#[tokio::test]
async fn a_selective_join_drops_rows_in_the_scan_and_a_join_keeping_every_row_stops_evaluating() {
    let (big, small) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    keyed(big.path(), 0..300_000);
    // 300 keys spread over the whole range: the filter's bounds prune no zone.
    keyed(small.path(), (0..300).map(|i| i * 1000 + 777));
    let session = QuiverSession::new(SessionConfig::new().with_target_partitions(1));
    session.register_table("big", big.path()).unwrap();
    session.register_table("small", small.path()).unwrap();
    let ctx = session.context();
    // Judged on what it drops only (an unoptimized build evaluates slowly).
    set(ctx, "quiver.dynamic_filter_saved_ns = 1000000000").await;
    let selective = "SELECT count(*), sum(big.v) FROM small JOIN big ON big.k = small.k";
    let (dropped, rows) = metric_after(ctx, selective, "rows_dropped_dynamic").await;
    assert_eq!(dropped, 300_000 - 300);
    assert!(rows.contains("| 300 "), "{rows}");
    let (stopped, _) = metric_after(ctx, selective, "dynamic_filters_stopped").await;
    assert_eq!(stopped, 0);
    set(ctx, "quiver.dynamic_filter_rows = false").await;
    let (dropped_off, rows_off) = metric_after(ctx, selective, "rows_dropped_dynamic").await;
    assert_eq!((dropped_off, &rows_off), (0, &rows));
    set(ctx, "quiver.dynamic_filter_rows = true").await;
    // A filter that keeps every row of a large probe side stops after being judged.
    let (big2, same) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    keyed(big2.path(), 0..300_000);
    keyed(same.path(), 0..300_000);
    session.register_table("big2", big2.path()).unwrap();
    session.register_table("same", same.path()).unwrap();
    let all = "SELECT count(*), sum(big2.v) FROM same JOIN big2 ON big2.k = same.k";
    let (stopped, rows) = metric_after(ctx, all, "dynamic_filters_stopped").await;
    assert_eq!(stopped, 1, "a filter keeping every row was never stopped");
    assert!(rows.contains("300000"), "{rows}");
    let (evaluated, _) = metric_after(ctx, all, "rows_evaluated_dynamic").await;
    assert!(
        (65_536..100_000).contains(&evaluated),
        "evaluated {evaluated} rows: it should stop once judged"
    );
}
