//! Clustered tables (`WriteOptions::sort_by`): a write's rows land in key order across all its
//! segments (NULLs last), every segment records the key, the table remembers it for later
//! appends, bad keys are refused by name, nothing of a failed or dropped write stays on disk —
//! and SQL over a clustered table skips sorts on the key and prunes range filters to zones.

mod common;

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use quiver_store::{Table, TableWriter, WriteOptions};
use rand::Rng;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("k", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

/// `rows` rows in random order: id unique, k in 0..50 with some NULLs.
fn shuffled(seed: u64, rows: usize, first_id: i64) -> RecordBatch {
    let mut rng = common::rng(seed);
    let ks: Vec<Option<i32>> = (0..rows)
        .map(|_| (!rng.random_bool(0.05)).then(|| rng.random_range(0..50)))
        .collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(
                first_id..first_id + rows as i64,
            )),
            Arc::new(Int32Array::from(ks.clone())),
            Arc::new(StringArray::from_iter(
                ks.iter().map(|k| k.map(|k| format!("v{k}"))),
            )),
        ],
    )
    .unwrap()
}

fn options() -> WriteOptions {
    WriteOptions::default()
        .with_segment_rows(700)
        .with_zone_rows(100)
        .with_sort_by(vec!["k".into(), "id".into()])
}

/// `(k, id)` of every row, in table order.
fn keys(table: &Table) -> Vec<(Option<i32>, i64)> {
    let mut out = Vec::new();
    for batch in table.scan().unwrap() {
        let batch = batch.unwrap();
        let k = batch.column(1).as_primitive::<Int32Type>();
        let id = batch.column(0).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            out.push((k.is_valid(i).then(|| k.value(i)), id.value(i)));
        }
    }
    out
}

/// Ascending on k (NULLs last), then id.
fn in_key_order(rows: &[(Option<i32>, i64)]) -> bool {
    let rank = |r: &(Option<i32>, i64)| (r.0.is_none(), r.0, r.1);
    rows.windows(2).all(|w| rank(&w[0]) <= rank(&w[1]))
}

#[test]
fn a_sorted_write_is_in_key_order_across_all_its_segments_with_nulls_last() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = TableWriter::create_with(dir.path(), schema(), options()).unwrap();
    for i in 0..5 {
        w.write(&shuffled(i, 900, i as i64 * 900)).unwrap();
    }
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    assert!(table.segments().len() > 1, "several segments");
    let rows = keys(&table);
    assert_eq!(rows.len(), 4500);
    assert!(in_key_order(&rows));
    for segment in table.segments() {
        assert_eq!(segment.sort_key(), Some(vec!["k".into(), "id".into()]));
    }
    let files = common::table_files(dir.path());
    let segments = files.iter().filter(|f| f.ends_with(".qseg")).count();
    assert_eq!(
        segments,
        table.segments().len(),
        "the sorted runs merged away are deleted: {files:?}"
    );
}

#[test]
fn appends_follow_the_table_sort_key_each_write_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = TableWriter::create_with(dir.path(), schema(), options()).unwrap();
    w.write(&shuffled(1, 1000, 0)).unwrap();
    w.commit().unwrap();
    // No sort key named: the table's applies.
    let mut w =
        TableWriter::append_with(dir.path(), WriteOptions::default().with_segment_rows(300))
            .unwrap();
    w.write(&shuffled(2, 1000, 1000)).unwrap();
    w.commit().unwrap();
    let table = Table::open(dir.path()).unwrap();
    let rows = keys(&table);
    let (first, second): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.1 < 1000);
    assert!(in_key_order(&first) && in_key_order(&second));
    assert_eq!(&rows[..1000], &first[..], "each write is one ordered run");
    for segment in table.segments() {
        assert_eq!(segment.sort_key(), Some(vec!["k".into(), "id".into()]));
    }
}

#[test]
fn a_sort_key_naming_a_missing_or_unordered_column_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let bad = WriteOptions::default().with_sort_by(vec!["nope".into()]);
    let err = TableWriter::create_with(dir.path(), schema(), bad)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("\"nope\""), "{err}");
    let twice = WriteOptions::default().with_sort_by(vec!["k".into(), "k".into()]);
    let err = TableWriter::create_with(dir.path(), schema(), twice)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("named twice"), "{err}");
}

#[test]
fn a_dropped_sorted_write_leaves_no_segment_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = TableWriter::create_with(dir.path(), schema(), options()).unwrap();
    for i in 0..3 {
        w.write(&shuffled(i, 900, i as i64 * 900)).unwrap();
    }
    drop(w);
    let files = common::table_files(dir.path());
    assert!(
        !files.iter().any(|f| f.ends_with(".qseg")),
        "nothing of an uncommitted write stays: {files:?}"
    );
}

#[cfg(feature = "sql")]
mod sql {
    use super::*;
    use datafusion::physical_plan::{collect, displayable};
    use quiver_store::sql::QuiverSession;

    #[tokio::test]
    async fn order_by_the_key_needs_no_sort_and_matches_a_sort_of_the_data() {
        // Segments meet at equal k (many rows per k): the order proven is k's alone.
        let dir = tempfile::tempdir().unwrap();
        let mut w = TableWriter::create_with(dir.path(), schema(), options()).unwrap();
        for i in 0..4 {
            w.write(&shuffled(10 + i, 1000, i as i64 * 1000)).unwrap();
        }
        w.commit().unwrap();
        let session = QuiverSession::default();
        session.register_table("t", dir.path()).unwrap();
        let df = session
            .sql("SELECT k, id FROM t WHERE k BETWEEN 10 AND 12 ORDER BY k")
            .await
            .unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let shown = displayable(plan.as_ref()).indent(true).to_string();
        assert!(!shown.contains("SortExec"), "{shown}");
        let batches = collect(Arc::clone(&plan), session.context().task_ctx())
            .await
            .unwrap();
        let mut got = Vec::new();
        for b in &batches {
            let k = b.column(0).as_primitive::<Int32Type>();
            let id = b.column(1).as_primitive::<Int64Type>();
            got.extend((0..b.num_rows()).map(|i| (Some(k.value(i)), id.value(i))));
        }
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "in k order");
        let table = Table::open(dir.path()).unwrap();
        let want: Vec<_> = keys(&table)
            .into_iter()
            .filter(|(k, _)| matches!(k, Some(10..=12)))
            .collect();
        got.sort();
        assert_eq!(got, want, "the same rows");
        // Clustered: only the zones holding k in 10..=12 are read.
        let m = common::plan_metric(&plan, "zones_pruned");
        assert!(
            m >= 30,
            "most of the 40 zones are pruned, got {m}:\n{shown}"
        );
    }
}
