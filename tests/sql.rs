//! SQL over Quiver tables: pruning is observable in plan metrics, pushdowns show in EXPLAIN,
//! untouched columns are never validated, statistics answer COUNT/MIN/MAX, INSERT commits one
//! version per statement, CREATE TABLE AS / STORED AS QUIVER / quiver_version work, and a
//! running query keeps its snapshot while an INSERT commits.
#![cfg(feature = "sql")]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::{collect, ExecutionPlan};
use futures::StreamExt;
use quiver_store::sql::QuiverSession;
use quiver_store::{Table, TableWriter, WriteOptions};

/// `t(x BIGINT, s VARCHAR)` with x = 0..rows ascending, in segments of 10k rows and zones of
/// 1000 rows.
fn sorted_table(dir: &Path, rows: i64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
    ]));
    let options = WriteOptions::default()
        .with_segment_rows(10_000)
        .with_zone_rows(1_000);
    let mut w = TableWriter::create_with(dir, Arc::clone(&schema), options).unwrap();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows)),
            Arc::new(StringArray::from_iter(
                (0..rows).map(|i| (i % 7 != 0).then(|| format!("s{}", i % 100))),
            )),
        ],
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
}

fn metric(plan: &Arc<dyn ExecutionPlan>, name: &str) -> usize {
    let mut total = 0;
    // The scan's metrics, also when an aggregate runs inside it (it reports them).
    if plan.downcast_ref::<DataSourceExec>().is_some() || plan.name() == "QuiverAggregateExec" {
        if let Some(m) = plan.metrics() {
            total += m.sum_by_name(name).map_or(0, |v| v.as_usize());
        }
    }
    for child in plan.children() {
        total += metric(child, name);
    }
    total
}

async fn run(session: &QuiverSession, sql: &str) -> (Arc<dyn ExecutionPlan>, Vec<RecordBatch>) {
    let df = session.sql(sql).await.unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let batches = collect(Arc::clone(&plan), session.context().task_ctx())
        .await
        .unwrap();
    (plan, batches)
}

fn single_i64(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

async fn explain(session: &QuiverSession, sql: &str) -> String {
    let batches = session
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn selective_filter_on_a_sorted_column_reads_only_the_matching_segment_and_zone() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(dir.path(), 100_000);
    let s = QuiverSession::default();
    s.register_table("t", dir.path()).unwrap();
    let (plan, batches) = run(&s, "SELECT count(*) FROM t WHERE x >= 52000 AND x < 52500").await;
    assert_eq!(single_i64(&batches), 500);
    assert_eq!(
        metric(&plan, "segments_pruned"),
        9,
        "9 of 10 segments skipped"
    );
    assert_eq!(metric(&plan, "zones_pruned"), 99, "99 of 100 zones skipped");
    assert_eq!(metric(&plan, "zones_evaluated"), 1);
    assert_eq!(metric(&plan, "zones_passed_whole"), 0);
    assert_eq!(metric(&plan, "rows_scanned"), 1000);
    // The count runs inside the scan: the rows it counts are the rows the filter kept.
    assert_eq!(metric(&plan, "rows_aggregated"), 500);
}

#[tokio::test]
async fn zones_whose_statistics_prove_every_row_matches_pass_whole_without_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(dir.path(), 100_000);
    let s = QuiverSession::default();
    s.register_table("t", dir.path()).unwrap();
    // Zones are 1000 rows: [52000, 54000) is zones 52 and 53 whole, [54000, 54500) half of 54.
    let (plan, batches) = run(&s, "SELECT count(s) FROM t WHERE x >= 52000 AND x < 54500").await;
    let non_null = (52000..54500).filter(|i| i % 7 != 0).count() as i64;
    assert_eq!(single_i64(&batches), non_null);
    assert_eq!(metric(&plan, "zones_passed_whole"), 2);
    assert_eq!(metric(&plan, "zones_evaluated"), 1);
    assert_eq!(metric(&plan, "zones_pruned"), 97);
    assert_eq!(metric(&plan, "rows_aggregated"), 2500);
    let shown = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    assert!(!shown.contains("FilterExec"), "{shown}");
}

#[tokio::test]
async fn explain_shows_pushed_projection_filter_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(dir.path(), 5_000);
    let s = QuiverSession::default();
    s.register_table("t", dir.path()).unwrap();
    let plan = explain(&s, "SELECT s FROM t WHERE x > 4500").await;
    assert!(plan.contains("QuiverSource"), "{plan}");
    assert!(plan.contains("projection=[s]"), "{plan}");
    assert!(plan.contains("filter=[x@0 > 4500]"), "{plan}");
    assert!(
        !plan.contains("FilterExec"),
        "the scan applies the filter: {plan}"
    );
    assert!(
        plan.contains("zones=1/5"),
        "planning pruned 4 of 5 zones: {plan}"
    );
    let plan = explain(&s, "SELECT s FROM t LIMIT 7").await;
    assert!(
        plan.contains("projection=[s]") && plan.contains("fetch=7"),
        "{plan}"
    );
    let (plan, batches) = run(&s, "SELECT s FROM t LIMIT 7").await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 7);
    assert_eq!(metric(&plan, "rows_scanned"), 7, "a LIMIT 7 reads 7 rows");
}

#[tokio::test]
async fn count_min_max_on_an_unfiltered_table_are_answered_from_statistics() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(dir.path(), 25_000);
    let s = QuiverSession::default();
    s.register_table("t", dir.path()).unwrap();
    let plan = explain(&s, "SELECT count(*), min(x), max(x) FROM t").await;
    assert!(!plan.contains("QuiverSource"), "no scan needed: {plan}");
    let batches = s
        .sql("SELECT count(*), min(x), max(x) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let b = &batches[0];
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 25_000);
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 0);
    assert_eq!(b.column(2).as_primitive::<Int64Type>().value(0), 24_999);
}

#[tokio::test]
async fn a_query_on_two_of_sixteen_columns_never_validates_the_other_fourteen() {
    let dir = tempfile::tempdir().unwrap();
    let fields: Vec<Field> = (0..16)
        .map(|i| Field::new(format!("c{i}"), DataType::Utf8, false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let columns = (0..16)
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                (0..100).map(|r| format!("v{i}-{r}")),
            )) as _
        })
        .collect();
    let mut w = TableWriter::create(dir.path(), Arc::clone(&schema)).unwrap();
    w.write(&RecordBatch::try_new(schema, columns).unwrap())
        .unwrap();
    w.commit().unwrap();
    // Break column c9's UTF-8 in place (its footer stays valid; contents are checked on use).
    let table = Table::open(dir.path()).unwrap();
    let seg = table.segments()[0].file();
    let data = seg.footer().columns[9].regions.data.unwrap();
    let path = seg.path().to_path_buf();
    drop(table);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[data.offset as usize] = 0xff;
    std::fs::write(&path, bytes).unwrap();

    let s = QuiverSession::default();
    s.register_table("t", dir.path()).unwrap();
    let ok = s
        .sql("SELECT c0, c1 FROM t WHERE c1 <> 'x'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ok.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
    let err = s
        .sql("SELECT c9 FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column \"c9\", region data") && err.contains("invalid UTF-8"),
        "{err}"
    );
}

#[tokio::test]
async fn insert_commits_one_version_per_statement_and_the_next_query_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(dir.path(), 10);
    let s = QuiverSession::default();
    s.register_table("t", dir.path()).unwrap();
    let (_, out) = run(&s, "INSERT INTO t VALUES (100, 'a'), (101, NULL)").await;
    assert_eq!(
        out[0]
            .column(0)
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .value(0),
        2
    );
    assert_eq!(Table::open(dir.path()).unwrap().version(), 2);
    run(&s, "INSERT INTO t SELECT x + 1000, s FROM t WHERE x < 3").await;
    assert_eq!(Table::open(dir.path()).unwrap().version(), 3);
    let (_, b) = run(&s, "SELECT count(*), count(s), max(x) FROM t").await;
    assert_eq!(single_i64(&b), 15);
    // s is null where x % 7 == 0: x = 0 and 7 of the first ten, the inserted NULL, and the
    // copy of x = 0.
    assert_eq!(b[0].column(1).as_primitive::<Int64Type>().value(0), 11);
    assert_eq!(b[0].column(2).as_primitive::<Int64Type>().value(0), 1002);
    // Time travel: version 1 is still there.
    let (_, b) = run(
        &s,
        &format!(
            "SELECT count(*) FROM quiver_version('{}', 1)",
            dir.path().display()
        ),
    )
    .await;
    assert_eq!(single_i64(&b), 10);
}

#[tokio::test]
async fn a_running_query_keeps_its_snapshot_while_an_insert_commits() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(dir.path(), 20_000);
    let config = datafusion::prelude::SessionConfig::new()
        .with_target_partitions(1)
        .with_batch_size(1000);
    let s = QuiverSession::new(config);
    s.register_table("t", dir.path()).unwrap();
    let mut stream = s
        .sql("SELECT x FROM t")
        .await
        .unwrap()
        .execute_stream()
        .await
        .unwrap();
    let mut seen = stream.next().await.unwrap().unwrap().num_rows();
    run(&s, "INSERT INTO t VALUES (-1, 'new')").await;
    while let Some(b) = stream.next().await {
        seen += b.unwrap().num_rows();
    }
    assert_eq!(seen, 20_000, "the running query read its own version");
    let (_, b) = run(&s, "SELECT count(*) FROM t").await;
    assert_eq!(single_i64(&b), 20_001, "the next query sees the insert");
}

#[tokio::test]
async fn create_table_as_select_in_a_database_creates_a_quiver_table() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(&dir.path().join("src"), 1_000);
    let s = QuiverSession::open_db(dir.path(), Default::default()).unwrap();
    s.run_script("CREATE TABLE evens AS SELECT x, s FROM src WHERE x % 2 = 0; CREATE TABLE empty_one (a INT, b VARCHAR);")
        .await
        .unwrap();
    let t = Table::open(dir.path().join("evens")).unwrap();
    assert_eq!((t.version(), t.num_rows()), (1, 500));
    assert_eq!(
        Table::open(dir.path().join("empty_one"))
            .unwrap()
            .num_rows(),
        0
    );
    let (_, b) = run(&s, "SELECT sum(x) FROM evens").await;
    assert_eq!(
        single_i64(&b),
        (0..1000).filter(|x| x % 2 == 0).sum::<i64>()
    );
    let names = s
        .context()
        .catalog("datafusion")
        .unwrap()
        .schema("public")
        .unwrap()
        .table_names();
    assert_eq!(names, vec!["empty_one", "evens", "src"]);
    let err = s.sql("DROP TABLE evens").await.err().map(|e| e.to_string());
    assert!(
        err.as_ref()
            .is_some_and(|e| e.contains("DROP does not delete data")),
        "{err:?}"
    );
    assert!(dir.path().join("evens").is_dir());
}

#[tokio::test]
async fn create_external_table_stored_as_quiver_reads_and_creates_tables() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(&dir.path().join("t"), 300);
    let s = QuiverSession::default();
    let t = dir.path().join("t");
    s.run_script(&format!(
        "CREATE EXTERNAL TABLE t STORED AS QUIVER LOCATION '{}'",
        t.display()
    ))
    .await
    .unwrap();
    let (_, b) = run(&s, "SELECT count(*) FROM t WHERE s IS NULL").await;
    assert_eq!(
        single_i64(&b),
        (0..300).filter(|i| i % 7 == 0).count() as i64
    );
    let fresh = dir.path().join("fresh");
    s.run_script(&format!(
        "CREATE EXTERNAL TABLE f (id BIGINT, name VARCHAR) STORED AS QUIVER LOCATION '{}'; INSERT INTO f VALUES (1, 'one');",
        fresh.display()
    ))
    .await
    .unwrap();
    let table = Table::open(&fresh).unwrap();
    assert_eq!((table.version(), table.num_rows()), (2, 1));
}

#[tokio::test]
async fn topk_dynamic_filter_prunes_zones_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    sorted_table(dir.path(), 100_000);
    let config = datafusion::prelude::SessionConfig::new().with_target_partitions(1);
    let s = QuiverSession::new(config);
    s.register_table("t", dir.path()).unwrap();
    let (plan, b) = run(&s, "SELECT x FROM t ORDER BY x LIMIT 3").await;
    assert_eq!(
        b[0].column(0).as_primitive::<Int64Type>().values(),
        &[0, 1, 2]
    );
    let pruned = metric(&plan, "zones_pruned_dynamic");
    assert!(
        pruned >= 90,
        "the TopK filter (x < 3) should skip nearly every zone after the first, skipped {pruned}"
    );
    let _ = b[0].column(0).len();
}

/// A sort on a string column whose bytes exceed the memory limit completes by spilling: each
/// scanned batch is charged its own rows' strings and views, not the whole column's.
#[tokio::test]
async fn a_sort_on_a_string_column_larger_than_the_memory_limit_spills_and_answers() {
    use quiver_store::sql::SessionLimits;
    let dir = tempfile::tempdir().unwrap();
    let rows = 300_000_i64;
    let text = |i: i64| format!("{:08} {}", (i * 7919) % rows, "x".repeat(90));
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, false),
        Field::new("s", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows)),
            Arc::new(StringArray::from_iter_values((0..rows).map(text))),
        ],
    )
    .unwrap();
    let table = dir.path().join("t");
    let mut w = TableWriter::create(&table, schema).unwrap();
    w.write(&batch).unwrap();
    w.commit().unwrap();
    // One segment: about 30 MB of strings and 4.8 MB of views in one column.
    assert_eq!(Table::open(&table).unwrap().segments().len(), 1);
    let limits = SessionLimits {
        memory_limit: Some(24 << 20),
        spill_dir: Some(dir.path().to_path_buf()),
        threads: Some(1),
    };
    let config = datafusion::prelude::SessionConfig::new();
    let session = QuiverSession::with_limits(config, &limits).unwrap();
    session.register_table("t", &table).unwrap();
    let sql = "SELECT rn, s FROM (SELECT s, row_number() OVER (ORDER BY s) AS rn FROM t) \
               WHERE rn IN (1, 150000, 300000) ORDER BY rn";
    let (plan, batches) = run(&session, sql).await;
    let mut sorted: Vec<String> = (0..rows).map(text).collect();
    sorted.sort();
    let got: Vec<(i64, String)> = batches
        .iter()
        .flat_map(|b| {
            let rn = b
                .column(0)
                .as_primitive::<arrow::datatypes::UInt64Type>()
                .clone();
            let s = arrow::compute::cast(b.column(1), &DataType::Utf8).unwrap();
            let s = s.as_string::<i32>().clone();
            (0..b.num_rows()).map(move |i| (rn.value(i) as i64, s.value(i).to_string()))
        })
        .collect();
    let want: Vec<(i64, String)> = [1, 150_000, 300_000]
        .into_iter()
        .map(|rn| (rn, sorted[rn as usize - 1].clone()))
        .collect();
    assert_eq!(got, want);
    fn spills(plan: &Arc<dyn ExecutionPlan>) -> usize {
        let own = plan
            .metrics()
            .and_then(|m| m.spill_count())
            .unwrap_or_default();
        own + plan.children().into_iter().map(spills).sum::<usize>()
    }
    assert!(spills(&plan) > 0, "the sort spilled");
}
