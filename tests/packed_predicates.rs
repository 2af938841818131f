//! Comparisons on packed (frame-of-reference) columns are answered without decoding them, and
//! exactly: random `col OP literal` / `literal OP col` filters over packed integer, date,
//! timestamp and decimal columns (narrow and full-range values, references at the types'
//! edges, 0–100% nulls, literals at and past the stored bounds) return exactly the rows
//! DataFusion returns over a `MemTable` of the same data — with the decoded-column cache off
//! (every comparison runs on packed values) and on (decoded zones compared by Arrow).
//!
//! A `take` of a few rows decodes nothing either (it reads only those rows' packed values).
//! The same comparison or gather in a zone a second time (a query run again) decodes and
//! caches that zone instead, so repeated queries read decoded values.
//!
//! One test in this file, so that the process-wide decoded-column cache it watches is its own.

#![cfg(feature = "sql")]

mod common;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Int16Array, Int32Array, Int64Array, Int8Array,
    RecordBatch, TimestampMicrosecondArray, UInt32Array, UInt64Array, UInt8Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{col, lit, Expr};
use datafusion::prelude::SessionContext;
use quiver_store::sql::QuiverSession;
use quiver_store::{EncodingSpec, WriteOptions};
use rand::rngs::SmallRng;
use rand::Rng;

/// `rows` values near `base` (within `span`), as i128, each NULL with probability `nulls`.
fn values(
    rng: &mut SmallRng,
    rows: usize,
    base: i128,
    span: i128,
    nulls: f64,
) -> Vec<Option<i128>> {
    (0..rows)
        .map(|_| (!rng.random_bool(nulls)).then(|| base + rng.random_range(0..=span)))
        .collect()
}

/// A column of `t` from `v` (every value fits `t`).
fn column(t: &DataType, v: &[Option<i128>]) -> ArrayRef {
    macro_rules! of {
        ($array:ty, $native:ty) => {
            Arc::new(<$array>::from_iter(
                v.iter().map(|x| x.map(|x| x as $native)),
            ))
        };
    }
    match t {
        DataType::Int8 => of!(Int8Array, i8),
        DataType::Int16 => of!(Int16Array, i16),
        DataType::Int32 => of!(Int32Array, i32),
        DataType::Int64 => of!(Int64Array, i64),
        DataType::UInt8 => of!(UInt8Array, u8),
        DataType::UInt32 => of!(UInt32Array, u32),
        DataType::UInt64 => of!(UInt64Array, u64),
        DataType::Date32 => of!(Date32Array, i32),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            of!(TimestampMicrosecondArray, i64)
        }
        DataType::Decimal128(p, s) => Arc::new(
            Decimal128Array::from_iter(v.iter().copied())
                .with_precision_and_scale(*p, *s)
                .unwrap(),
        ),
        other => unreachable!("{other}"),
    }
}

/// The literal of type `t` for `v`.
fn scalar(t: &DataType, v: i128) -> ScalarValue {
    match t {
        DataType::Int8 => ScalarValue::Int8(Some(v as i8)),
        DataType::Int16 => ScalarValue::Int16(Some(v as i16)),
        DataType::Int32 => ScalarValue::Int32(Some(v as i32)),
        DataType::Int64 => ScalarValue::Int64(Some(v as i64)),
        DataType::UInt8 => ScalarValue::UInt8(Some(v as u8)),
        DataType::UInt32 => ScalarValue::UInt32(Some(v as u32)),
        DataType::UInt64 => ScalarValue::UInt64(Some(v as u64)),
        DataType::Date32 => ScalarValue::Date32(Some(v as i32)),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            ScalarValue::TimestampMicrosecond(Some(v as i64), None)
        }
        DataType::Decimal128(p, s) => ScalarValue::Decimal128(Some(v), *p, *s),
        other => unreachable!("{other}"),
    }
}

/// Each column's type and the range its values are drawn from: narrow ranges at and away from
/// the type's edges, and full ranges.
fn columns() -> Vec<(&'static str, DataType, i128, i128)> {
    vec![
        ("i8", DataType::Int8, -128, 255),
        ("i16", DataType::Int16, 32_000, 767),
        ("i32", DataType::Int32, -1_000, 50),
        ("i64", DataType::Int64, i64::MIN as i128, 1 << 40),
        ("u8", DataType::UInt8, 250, 5),
        ("u32", DataType::UInt32, 0, u32::MAX as i128),
        ("u64", DataType::UInt64, u64::MAX as i128 - 70_000, 70_000),
        ("day", DataType::Date32, 8_000, 2_500),
        (
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            1 << 50,
            1 << 33,
        ),
        ("dec", DataType::Decimal128(15, 2), -99_999, 200_000),
    ]
}

/// A random comparison of column `c` (type `t`, values in `base ..= base + span`) with a
/// literal at, inside or just past its range (clamped to the type), on either side.
fn comparison(rng: &mut SmallRng, name: &str, t: &DataType, base: i128, span: i128) -> Expr {
    let (lo, hi) = match t {
        DataType::Int8 => (i8::MIN as i128, i8::MAX as i128),
        DataType::Int16 => (i16::MIN as i128, i16::MAX as i128),
        DataType::Int32 | DataType::Date32 => (i32::MIN as i128, i32::MAX as i128),
        DataType::UInt8 => (0, u8::MAX as i128),
        DataType::UInt32 => (0, u32::MAX as i128),
        DataType::UInt64 => (0, u64::MAX as i128),
        DataType::Decimal128(..) => (-999_999_999_999_999, 999_999_999_999_999),
        _ => (i64::MIN as i128, i64::MAX as i128),
    };
    let v = match rng.random_range(0..5) {
        0 => base,
        1 => base + span,
        2 => base - rng.random_range(1..3),
        3 => base + span + rng.random_range(1..3),
        _ => base + rng.random_range(0..=span),
    }
    .clamp(lo, hi);
    let (c, l) = (col(name), lit(scalar(t, v)));
    let swap = rng.random_bool(0.3);
    let (a, b) = if swap { (l, c) } else { (c, l) };
    match rng.random_range(0..6) {
        0 => a.eq(b),
        1 => a.not_eq(b),
        2 => a.lt(b),
        3 => a.lt_eq(b),
        4 => a.gt(b),
        _ => a.gt_eq(b),
    }
}

async fn rows_of(ctx: &SessionContext, table: &str, filter: &Expr) -> String {
    let df = ctx
        .table(table)
        .await
        .unwrap()
        .filter(filter.clone())
        .unwrap();
    let df = df.sort(vec![col("id").sort(true, false)]).unwrap();
    let batches = df
        .select(vec![col("id")])
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{table}: {filter}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

async fn count_of(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn comparisons_on_packed_columns_decode_nothing_and_match_datafusion() {
    let mut rng = common::rng(0xF0_2026);
    let rows = 6_000;
    let specs = columns();
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(0..rows as i64))];
    for (i, (name, t, base, span)) in specs.iter().enumerate() {
        let nulls = [0.0, 0.1, 0.5, 1.0][i % 4];
        fields.push(Field::new(*name, t.clone(), true));
        arrays.push(column(t, &values(&mut rng, rows, *base, *span, nulls)));
    }
    let data = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec: Vec<String> = specs.iter().map(|(n, ..)| format!("{n}=packed")).collect();
    let options = WriteOptions::default()
        .with_segment_rows(2_500)
        .with_zone_rows(333)
        .with_encoding(EncodingSpec::parse(&spec.join(",")).unwrap());
    common::commit_piece(dir.path(), true, &data, options);

    let session = QuiverSession::default();
    session.register_table("q", dir.path()).unwrap();
    let ctx = session.context();
    let mem = MemTable::try_new(data.schema(), vec![vec![data.clone()]]).unwrap();
    ctx.register_table("m", Arc::new(mem)).unwrap();

    // A take of a few rows reads only their packed values: nothing is decoded.
    assert_eq!(quiver_store::decoded_cache_bytes(), 0);
    let table = quiver_store::Table::open(dir.path()).unwrap();
    let picks = [5_999u64, 0, 17, 2_500, 17];
    let want = data
        .project(&(0..data.num_columns()).collect::<Vec<_>>())
        .unwrap();
    let want: Vec<RecordBatch> = picks.iter().map(|&r| want.slice(r as usize, 1)).collect();
    let want = arrow::compute::concat_batches(&data.schema(), &want).unwrap();
    assert_eq!(table.take(&picks).unwrap(), want);
    assert_eq!(
        quiver_store::decoded_cache_bytes(),
        0,
        "a take decoded whole columns"
    );
    // Rows all in one zone (zone_rows 333) no take read before: gathered from packed values
    // the first time.
    let one_zone = [700u64, 710, 990];
    let want_one_zone: Vec<RecordBatch> = one_zone
        .iter()
        .map(|&r| data.slice(r as usize, 1))
        .collect();
    let want_one_zone = arrow::compute::concat_batches(&data.schema(), &want_one_zone).unwrap();
    assert_eq!(table.take(&one_zone).unwrap(), want_one_zone);
    assert_eq!(quiver_store::decoded_cache_bytes(), 0);
    // A filter-only column is compared on its packed values: nothing is decoded.
    let count = "SELECT count(*) FROM {t} WHERE i32 < -990 AND i8 >= 100";
    let want_count = count_of(ctx, &count.replace("{t}", "m")).await;
    assert!(!want_count.contains("| 0 "), "the filter keeps some rows");
    assert_eq!(count_of(ctx, &count.replace("{t}", "q")).await, want_count);
    assert_eq!(
        quiver_store::decoded_cache_bytes(),
        0,
        "a filter on packed columns decoded some"
    );
    // The same query again decodes (and caches) the zones it compared, with the same answer.
    assert_eq!(count_of(ctx, &count.replace("{t}", "q")).await, want_count);
    let after_repeat = quiver_store::decoded_cache_bytes();
    assert!(after_repeat > 0, "a repeated filter decoded nothing");
    // The same take again decodes the zone of its rows, with the same answer.
    assert_eq!(table.take(&one_zone).unwrap(), want_one_zone);
    assert!(
        quiver_store::decoded_cache_bytes() > after_repeat,
        "a repeated take in one zone decoded nothing"
    );

    let budget = quiver_store::decoded_cache_budget();
    for cache in [0, budget] {
        // The session setting sets the process-wide budget when the session next plans a scan.
        let set = format!("SET quiver.decoded_cache_bytes = {cache}");
        ctx.sql(&set).await.unwrap().collect().await.unwrap();
        assert_eq!(count_of(ctx, &count.replace("{t}", "q")).await, want_count);
        assert_eq!(quiver_store::decoded_cache_budget(), cache, "{set}");
        if cache == 0 {
            assert_eq!(quiver_store::decoded_cache_bytes(), 0, "{set}");
        }
        for _ in 0..150 {
            let (name, t, base, span) = &specs[rng.random_range(0..specs.len())];
            let mut filter = comparison(&mut rng, name, t, *base, *span);
            if rng.random_bool(0.3) {
                let (name, t, base, span) = &specs[rng.random_range(0..specs.len())];
                filter = filter.and(comparison(&mut rng, name, t, *base, *span));
            }
            let got = rows_of(ctx, "q", &filter).await;
            let want = rows_of(ctx, "m", &filter).await;
            assert_eq!(got, want, "{filter} (decoded-column cache {cache} bytes)");
        }
    }
    quiver_store::set_decoded_cache_bytes(budget);
}
