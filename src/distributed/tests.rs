//! The plan codecs against real tables: scans and tables survive the wire and give the same
//! rows, the version is the one pinned at encoding, and hostile or stale bytes are errors.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::{collect, ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::bytes::{
    logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{DefaultPhysicalProtoConverter, PhysicalExtensionCodec};
use prost::Message;

use super::wire::{framed, unframe, ScanNode, Unframed};
use super::{physical_codec, NodeName, QuiverLogicalCodec, QuiverPhysicalCodec};
use crate::sql::QuiverTableProvider;
use crate::{TableWriter, WriteOptions};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("v", DataType::Float64, true),
    ]))
}

fn batch(from: i64, rows: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..from + rows).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("n{}", i % 37)).collect();
    let vs: Vec<Option<f64>> = ids
        .iter()
        .map(|&i| (i % 5 != 0).then_some(i as f64 / 3.0))
        .collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(Float64Array::from(vs)),
        ],
    )
    .unwrap()
}

/// A table of 3,000 rows in three segments of several zones each.
fn table(dir: &std::path::Path) {
    let options = WriteOptions::default()
        .with_segment_rows(1_000)
        .with_zone_rows(256);
    let mut w = TableWriter::create_with(dir, schema(), options).unwrap();
    w.write(&batch(0, 3_000)).unwrap();
    w.commit().unwrap();
}

/// The table of [`table`] as `t` in a plain DataFusion context (no Quiver rules: what a
/// Ballista scheduler plans with), in a temporary directory.
struct Fixture {
    tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    ctx: SessionContext,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    table(&dir);
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
    let provider = QuiverTableProvider::try_new(&dir).unwrap();
    ctx.register_table("t", Arc::new(provider)).unwrap();
    Fixture { tmp, dir, ctx }
}

/// The physical plan of `sql`.
async fn physical_plan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
    ctx.sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap()
}

fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
    let text = pretty_format_batches(batches).unwrap().to_string();
    let mut rows: Vec<String> = text.lines().skip(3).map(str::to_owned).collect();
    rows.sort();
    rows
}

/// The Quiver scan inside `plan`.
fn scan_of(plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    if plan.downcast_ref::<DataSourceExec>().is_some() {
        return Arc::clone(plan);
    }
    plan.children()
        .into_iter()
        .map(scan_of)
        .next()
        .expect("the plan has a scan")
}

/// `scan` encoded by Quiver's physical codec alone.
fn encode(scan: Arc<dyn ExecutionPlan>) -> Vec<u8> {
    let mut buf = Vec::new();
    QuiverPhysicalCodec::default()
        .try_encode(scan, &mut buf, &DefaultPhysicalProtoConverter {})
        .unwrap();
    buf
}

/// The scan of `sql`'s plan, encoded by Quiver's physical codec alone.
async fn encoded_scan(ctx: &SessionContext, sql: &str) -> Vec<u8> {
    encode(scan_of(&physical_plan(ctx, sql).await))
}

fn decode_scan(
    ctx: &SessionContext,
    buf: &[u8],
) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
    QuiverPhysicalCodec::new(NodeName::new("executor test:1")).try_decode(
        buf,
        &[],
        &ctx.task_ctx(),
        &DefaultPhysicalProtoConverter {},
    )
}

#[tokio::test]
async fn quiver_scans_survive_the_wire_with_the_same_rows_and_partitions() {
    let Fixture { tmp: _tmp, ctx, .. } = fixture();
    let codec = physical_codec(NodeName::new("test"));
    for sql in [
        "SELECT * FROM t",
        "SELECT id, name FROM t WHERE id % 7 = 3 AND name LIKE 'n1%'",
        "SELECT id, v FROM t WHERE id BETWEEN 500 AND 1700 AND v IS NOT NULL",
        "SELECT name FROM t WHERE id >= 2990 OR name IN ('n3', 'n4')",
        "SELECT id FROM t LIMIT 7",
        "SELECT name, count(*), sum(v) FROM t WHERE id > 100 GROUP BY name",
        "SELECT a.id, b.name FROM t a JOIN t b ON a.id = b.id + 1 WHERE a.v > 900",
    ] {
        let plan = physical_plan(&ctx, sql).await;
        let bytes =
            physical_plan_to_bytes_with_extension_codec(Arc::clone(&plan), codec.as_ref()).unwrap();
        let back =
            physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), codec.as_ref())
                .unwrap();
        let scan = scan_of(&plan);
        let scan_back = scan_of(&back);
        assert_eq!(
            scan.output_partitioning().partition_count(),
            scan_back.output_partitioning().partition_count(),
            "{sql}"
        );
        let want = sorted_rows(&collect(plan, ctx.task_ctx()).await.unwrap());
        let got = sorted_rows(&collect(back, ctx.task_ctx()).await.unwrap());
        assert_eq!(got, want, "{sql}");
        assert!(!want.is_empty(), "{sql} returns rows");
    }
}

#[tokio::test]
async fn hostile_scan_bytes_are_errors_never_panics() {
    let Fixture { tmp: _tmp, ctx, .. } = fixture();
    let good = encoded_scan(
        &ctx,
        "SELECT id, name FROM t WHERE id > 1200 AND name < 'n3'",
    )
    .await;
    assert!(decode_scan(&ctx, &good).is_ok());
    // Every truncation and every flipped byte: an answer or an error, never a panic.
    for len in 0..good.len() {
        let _ = decode_scan(&ctx, &good[..len]);
    }
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        let _ = decode_scan(&ctx, &bad);
    }
    // Well-formed messages that do not fit the table are errors naming what does not fit.
    let Unframed::Ours(message) = unframe(&good).unwrap() else {
        panic!("ours")
    };
    let node = ScanNode::decode(message).unwrap();
    let cases: Vec<(Box<dyn Fn(&mut ScanNode)>, &str)> = vec![
        (Box::new(|n| n.units[0].segment = 99), "segment 99"),
        (Box::new(|n| n.units[0].zone = 1 << 40), "zone"),
        (Box::new(|n| n.units[0].end = u64::MAX), "rows"),
        (Box::new(|n| n.units[0].pending = u64::MAX), "conjunct set"),
        (Box::new(|n| n.projection.push(17)), "column 17"),
        (
            Box::new(|n| n.partition_ends = vec![1 << 50]),
            "partitions cover",
        ),
        (
            Box::new(|n| n.partition_ends.clear()),
            "the partitions cover 0 zones",
        ),
        (
            Box::new(|n| n.table.as_mut().unwrap().version = 41),
            "cannot open table",
        ),
        (Box::new(|n| n.table = None), "names no table"),
    ];
    for (mutate, expected) in cases {
        let mut n = node.clone();
        mutate(&mut n);
        let mut buf = Vec::new();
        framed(&n, &mut buf);
        let err = decode_scan(&ctx, &buf).unwrap_err().to_string();
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
}

#[tokio::test]
async fn a_table_missing_on_the_executor_is_named_with_node_path_and_version() {
    let Fixture { tmp, dir, ctx } = fixture();
    let buf = encoded_scan(&ctx, "SELECT id FROM t").await;
    std::fs::rename(&dir, tmp.path().join("moved")).unwrap();
    let err = decode_scan(&ctx, &buf).unwrap_err().to_string();
    for part in ["executor test:1", dir.to_str().unwrap(), "version 1"] {
        assert!(err.contains(part), "expected {part:?} in: {err}");
    }
}

#[tokio::test]
async fn a_table_in_a_logical_plan_reads_the_version_pinned_when_it_was_encoded() {
    let Fixture {
        tmp: _tmp,
        dir,
        ctx,
    } = fixture();
    let codec = QuiverLogicalCodec::default();
    let sql = "SELECT count(*) AS n, sum(id) AS s FROM t WHERE id % 2 = 0";
    let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
    let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();
    let want = sorted_rows(&ctx.sql(sql).await.unwrap().collect().await.unwrap());
    // A commit lands after the plan was encoded (and planned): the plan still reads version 1.
    let mut w = TableWriter::append(&dir).unwrap();
    w.write(&batch(3_000, 500)).unwrap();
    w.commit().unwrap();
    let back =
        logical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec).unwrap();
    let got = sorted_rows(
        &ctx.execute_logical_plan(back)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    assert_eq!(got, want);
    let now = sorted_rows(&ctx.sql(sql).await.unwrap().collect().await.unwrap());
    assert_ne!(now, want, "the newest version has more rows");
    // Bytes that claim to be Quiver's but are not a table are an error.
    let mut bad = Vec::new();
    framed(&ScanNode::default(), &mut bad);
    bad.extend_from_slice(&[0xff, 0xff]);
    let err = codec
        .try_decode_table_provider(&bad, &"t".into(), schema(), &ctx.task_ctx())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad Quiver plan message"), "{err}");
}

#[tokio::test]
async fn a_scan_split_into_tasks_ships_exactly_the_partitions_of_each_task() {
    use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder};
    use datafusion::physical_optimizer::PhysicalOptimizerRule;
    use datafusion::physical_plan::collect_partitioned;

    let Fixture { tmp: _tmp, ctx, .. } = fixture();
    let sql = "SELECT id, name FROM t WHERE id % 3 = 1";
    let scan = scan_of(&physical_plan(&ctx, sql).await);
    let by_partition = collect_partitioned(Arc::clone(&scan), ctx.task_ctx())
        .await
        .unwrap();
    let n = by_partition.len();
    assert!(n >= 3, "the scan has several partitions");

    // Wrapped for Ballista: as many partitions, the same rows (its partitions may share
    // work within one process, as DataFusion's file scans do).
    let wrapped = super::SplittableScans
        .optimize(Arc::clone(&scan), ctx.state().config_options())
        .unwrap();
    let exec = wrapped.downcast_ref::<DataSourceExec>().unwrap();
    let config = exec.data_source().downcast_ref::<FileScanConfig>().unwrap();
    let wrapped_rows = collect_partitioned(Arc::clone(&wrapped), ctx.task_ctx())
        .await
        .unwrap();
    assert_eq!(wrapped_rows.len(), n);
    assert_eq!(
        sorted_rows(&wrapped_rows.concat()),
        sorted_rows(&by_partition.concat())
    );

    // Restricted as Ballista restricts it to a task's partitions, then shipped.
    for task in [vec![0], vec![n - 1], vec![2, 0], vec![]] {
        let groups = task
            .iter()
            .map(|&p| config.file_groups[p].clone())
            .collect();
        let restricted = FileScanConfigBuilder::from(config.clone())
            .with_file_groups(groups)
            .build();
        let buf = encode(DataSourceExec::from_data_source(restricted));
        let shipped = decode_scan(&ctx, &buf).unwrap();
        let got = collect_partitioned(shipped, ctx.task_ctx()).await.unwrap();
        assert_eq!(got.len(), task.len(), "task {task:?}");
        for (j, &p) in task.iter().enumerate() {
            assert_eq!(
                sorted_rows(&got[j]),
                sorted_rows(&by_partition[p]),
                "task {task:?}"
            );
        }
    }
}
