//! SQL over overflow-bag columns: NDJSON with a few dense and many sparse keys, imported with
//! the bag and fully dense, answers every query alike — filters, GROUP BY and SELECT * on
//! sparse keys, mixed-type keys widened — and bag keys prune zones by their min/max.
#![cfg(all(feature = "sql", feature = "io"))]

mod common;

use std::fmt::Write as _;
use std::path::Path;

use arrow::array::RecordBatch;
use common::{assert_batches_equal, concat};
use datafusion::physical_plan::collect;
use quiver_store::io::{import, ImportOptions};
use quiver_store::sql::QuiverSession;
use quiver_store::Placement;
use quiver_store::{Table, WriteOptions};

const ROWS: usize = 6_000;

/// One JSON object per line: `id`, `name`, `score` in every row; `rare_key` ('x'/'y'/'z') in
/// ~1% of rows; `mixed` (ints and floats) in ~2%; 30 keys `p0..p29` (ints, unicode strings,
/// booleans) under 1% each; a unicode key name.
fn ndjson() -> String {
    let mut out = String::new();
    for i in 0..ROWS {
        write!(
            out,
            r#"{{"id": {i}, "name": "n{}", "score": {}.5"#,
            i % 13,
            i % 50
        )
        .unwrap();
        if i % 97 == 0 {
            write!(out, r#", "rare_key": "{}""#, ["x", "y", "z"][i % 3]).unwrap();
        }
        if i % 50 == 1 {
            if i % 100 == 1 {
                write!(out, r#", "mixed": {}"#, i).unwrap();
            } else {
                write!(out, r#", "mixed": {}.25"#, i).unwrap();
            }
        }
        for j in 0..30 {
            if (i * 31 + j * 17) % 150 == 0 {
                match j % 3 {
                    0 => write!(out, r#", "p{j}": {}"#, i as i64 - 3000).unwrap(),
                    1 => write!(out, r#", "p{j}": "värde 🎯 {}""#, i % 7).unwrap(),
                    _ => write!(out, r#", "p{j}": {}"#, i % 2 == 0).unwrap(),
                }
            }
        }
        if i % 100 == 42 {
            write!(out, r#", "ünïcode_ключ": "значение {i}""#).unwrap();
        }
        out.push_str("}\n");
    }
    out
}

fn import_json(file: &Path, table: &Path, bag_threshold: f64) {
    let options = ImportOptions::default().with_write(
        WriteOptions::default()
            .with_segment_rows(2_500)
            .with_zone_rows(500)
            .with_bag_threshold(bag_threshold),
    );
    import(&[file.to_path_buf()], table, &options, &mut |_| {}).unwrap();
}

async fn query(session: &QuiverSession, sql: &str) -> RecordBatch {
    let df = session.sql(sql).await.unwrap();
    let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.unwrap();
    concat(&schema, &batches)
}

#[tokio::test]
async fn sparse_keys_answer_like_dense_columns_through_sql() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, ndjson()).unwrap();
    let (bag, dense) = (dir.path().join("bag"), dir.path().join("dense"));
    import_json(&file, &bag, 0.05);
    import_json(&file, &dense, 0.0);

    let table = Table::open(&bag).unwrap();
    let schema = table.schema();
    let index = |name: &str| schema.index_of(name).unwrap();
    for s in table.segments() {
        assert!(matches!(s.placement(index("rare_key")), Placement::Bag(_)));
        assert!(matches!(s.placement(index("p4")), Placement::Bag(_)));
        assert!(matches!(s.placement(index("id")), Placement::Dense(_)));
    }
    assert_eq!(
        schema.field(index("mixed")).data_type(),
        &arrow::datatypes::DataType::Float64
    );
    let dense_table = Table::open(&dense).unwrap();
    assert!(dense_table.segments()[0].file().footer().bag.is_none());
    let bag_bytes: u64 = table.segments().iter().map(|s| s.file().file_len()).sum();
    let dense_bytes: u64 = dense_table
        .segments()
        .iter()
        .map(|s| s.file().file_len())
        .sum();
    assert!(bag_bytes * 2 < dense_bytes, "{bag_bytes} vs {dense_bytes}");

    let session = QuiverSession::new(Default::default());
    session.register_table("b", &bag).unwrap();
    session.register_table("d", &dense).unwrap();
    let queries = [
        "SELECT id, rare_key FROM {t} WHERE rare_key = 'x' ORDER BY id",
        "SELECT rare_key, count(*) AS n FROM {t} GROUP BY rare_key ORDER BY rare_key NULLS FIRST",
        "SELECT * FROM {t} ORDER BY id",
        "SELECT count(*), sum(mixed), min(\"ünïcode_ключ\"), max(p3), count(p4) FROM {t}",
        "SELECT p1, count(*) FROM {t} WHERE p1 IS NOT NULL GROUP BY p1 ORDER BY p1",
        "SELECT id, p0, p2 FROM {t} WHERE p0 > 1000 OR p2 ORDER BY id",
        "SELECT name, avg(score), count(p5) FROM {t} GROUP BY name ORDER BY name",
    ];
    for q in queries {
        let got = query(&session, &q.replace("{t}", "b")).await;
        let want = query(&session, &q.replace("{t}", "d")).await;
        assert!(want.num_rows() > 0, "{q}: no rows to compare");
        assert_batches_equal(&got, &want, q);
    }
    let x = query(&session, "SELECT count(*) FROM b WHERE rare_key = 'x'").await;
    let n = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(x.column(0));
    assert_eq!(
        n.value(0),
        (0..ROWS).filter(|i| i % 97 == 0 && i % 3 == 0).count() as i64
    );
}

#[tokio::test]
async fn a_filter_on_a_bag_key_prunes_zones_by_its_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, ndjson()).unwrap();
    let bag = dir.path().join("bag");
    import_json(&file, &bag, 0.05);
    let session = QuiverSession::new(Default::default());
    session.register_table("b", &bag).unwrap();
    // p0 is an int key holding i - 3000: only the last zones can hold values above 2500.
    let df = session
        .sql("SELECT id FROM b WHERE p0 > 2500")
        .await
        .unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let task = session.context().task_ctx();
    let batches = collect(std::sync::Arc::clone(&plan), task).await.unwrap();
    assert!(batches.iter().map(|b| b.num_rows()).sum::<usize>() > 0);
    let pruned = common::plan_metric(&plan, "zones_pruned");
    assert!(pruned >= 8, "only {pruned} zones pruned");
}
