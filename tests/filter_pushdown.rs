//! Filters applied inside the scan give exactly DataFusion's answers: hundreds of random
//! predicates (comparisons with random and boundary literals and NULL, BETWEEN, IN lists with
//! NULLs, IS [NOT] NULL, LIKE prefixes and infixes, column-to-column comparisons, nested
//! AND / OR / NOT) over random tables (every stored type, dense and overflow-bag columns,
//! 0–100% nulls, varied segment and zone sizes) return the same rows from a Quiver table as
//! from a DataFusion `MemTable` of the same data — and DataFusion plans no `FilterExec` for
//! them — on default and clustered (`sort_by`) layouts alike, raw or encoded (dictionary
//! codes, packed integers: a random encoding per table). Sorted `LIMIT` queries (dynamic
//! TopK filters over an exact filter) agree too.
#![cfg(feature = "sql")]

mod common;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
    Int64Array, Int8Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::pretty::pretty_format_batches;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{col, lit, Expr};
use datafusion::physical_plan::displayable;
use datafusion::prelude::SessionContext;
use quiver_store::sql::QuiverSession;
use rand::rngs::SmallRng;
use rand::Rng;

const LOW_CARDINALITY: [&str; 9] = [
    "", "AIR", "AIR REG", "MAIL", "SHIP", "TRUCK", "FOB", "RAIL", "é🦀",
];

/// A random table: fixed columns with shapes that exercise zone proofs (sorted, clustered,
/// low-cardinality, sparse enough for the overflow bag), plus random columns of random
/// stored types.
fn random_table(rng: &mut SmallRng, rows: usize) -> RecordBatch {
    let null_rate = |rng: &mut SmallRng| [0.0, 0.0, 0.1, 0.5, 1.0][rng.random_range(0..5)];
    let valid = |rng: &mut SmallRng, rate: f64| !rng.random_bool(rate);
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(0..rows as i64))];
    let mut push = |name: &str, a: ArrayRef| {
        fields.push(Field::new(name, a.data_type().clone(), true));
        columns.push(a);
    };
    let r = null_rate(rng);
    push(
        "seq",
        Arc::new(Int32Array::from_iter(
            (0..rows).map(|i| valid(rng, r).then_some(i as i32 / 37)),
        )),
    );
    let r = null_rate(rng);
    push(
        "small",
        Arc::new(Int8Array::from_iter(
            (0..rows).map(|_| valid(rng, r).then(|| rng.random_range(0..5))),
        )),
    );
    let r = null_rate(rng);
    let specials = [
        -1.5,
        -0.0,
        0.0,
        2.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    push(
        "f",
        Arc::new(Float64Array::from_iter((0..rows).map(|_| {
            valid(rng, r).then(|| {
                if rng.random_bool(0.5) {
                    specials[rng.random_range(0..specials.len())]
                } else {
                    rng.random_range(-10.0..10.0)
                }
            })
        }))),
    );
    let r = null_rate(rng);
    push(
        "d",
        Arc::new(Date32Array::from_iter(
            (0..rows).map(|i| valid(rng, r).then_some(9000 + i as i32 / 50)),
        )),
    );
    let r = null_rate(rng);
    push(
        "dec",
        Arc::new(
            Decimal128Array::from_iter(
                (0..rows).map(|_| valid(rng, r).then(|| rng.random_range(-500..500))),
            )
            .with_precision_and_scale(12, 2)
            .unwrap(),
        ),
    );
    let r = null_rate(rng);
    push(
        "s",
        Arc::new(StringArray::from_iter((0..rows).map(|_| {
            valid(rng, r).then(|| LOW_CARDINALITY[rng.random_range(0..LOW_CARDINALITY.len())])
        }))),
    );
    // Low-cardinality and non-nullable (as TPC-H's strings are): see `NOT_NULL` below.
    push(
        "sn",
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|_| LOW_CARDINALITY[rng.random_range(0..4)]),
        )),
    );
    let r = null_rate(rng);
    push(
        "b",
        Arc::new(BooleanArray::from_iter(
            (0..rows).map(|_| valid(rng, r).then(|| rng.random())),
        )),
    );
    // Sparse: under the 5% fill rate, these go to the overflow bag.
    push(
        "sp",
        Arc::new(Int64Array::from_iter(
            (0..rows).map(|_| rng.random_bool(0.03).then(|| rng.random_range(-3..3))),
        )),
    );
    push(
        "sps",
        Arc::new(StringArray::from_iter((0..rows).map(|_| {
            rng.random_bool(0.02)
                .then(|| LOW_CARDINALITY[rng.random_range(0..LOW_CARDINALITY.len())])
        }))),
    );
    let types = common::storable_types();
    for i in 0..4 {
        let t = &types[rng.random_range(0..types.len())];
        let r = null_rate(rng);
        push(&format!("r{i}"), common::random_array(rng, t, rows, r));
    }
    const NOT_NULL: [&str; 2] = ["id", "sn"];
    let fields: Vec<Field> = fields
        .into_iter()
        .map(|f| {
            let nullable = !NOT_NULL.contains(&f.name().as_str());
            f.with_nullable(nullable)
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// A literal for column `c`: a value of some row (possibly NULL), or a typed NULL.
fn literal(rng: &mut SmallRng, data: &RecordBatch, c: usize) -> Expr {
    let a = data.column(c);
    let v = ScalarValue::try_from_array(a, rng.random_range(0..a.len())).unwrap();
    if rng.random_bool(0.05) {
        return lit(ScalarValue::try_new_null(a.data_type()).unwrap());
    }
    lit(v)
}

/// A random atom over one column (or two of one type).
fn atom(rng: &mut SmallRng, data: &RecordBatch) -> Expr {
    let schema = data.schema();
    let c = rng.random_range(0..schema.fields().len());
    let field = schema.field(c);
    let column = col(field.name());
    let t = field.data_type();
    let comparable = !t.is_nested() && !matches!(t, DataType::Null);
    let choice = if comparable {
        rng.random_range(0..10)
    } else {
        0
    };
    match choice {
        0 => {
            if rng.random_bool(0.5) {
                column.is_null()
            } else {
                column.is_not_null()
            }
        }
        1 => column.eq(literal(rng, data, c)),
        2 => column.not_eq(literal(rng, data, c)),
        3 => column.lt(literal(rng, data, c)),
        4 => column.gt_eq(literal(rng, data, c)),
        5 => {
            let (lo, hi) = (literal(rng, data, c), literal(rng, data, c));
            if rng.random_bool(0.7) {
                column.between(lo, hi)
            } else {
                column.not_between(lo, hi)
            }
        }
        6 => {
            let list = (0..rng.random_range(1..5))
                .map(|_| literal(rng, data, c))
                .collect();
            column.in_list(list, rng.random_bool(0.3))
        }
        7 if matches!(t, DataType::Utf8) => {
            let v = LOW_CARDINALITY[rng.random_range(0..LOW_CARDINALITY.len())];
            let cut = v
                .char_indices()
                .nth(rng.random_range(0..3))
                .map_or(v.len(), |(i, _)| i);
            let pattern = match rng.random_range(0..3) {
                0 => format!("{}%", &v[..cut]),
                1 => format!("%{}%", &v[cut..]),
                _ => v.to_string(),
            };
            if rng.random_bool(0.7) {
                column.like(lit(pattern))
            } else {
                column.not_like(lit(pattern))
            }
        }
        8 if matches!(t, DataType::Boolean) => match rng.random_range(0..3) {
            0 => column,
            1 => !column,
            _ => column.is_not_false(),
        },
        9 => {
            // Another column of the same type, when there is one.
            let other = (0..schema.fields().len())
                .find(|&o| o != c && schema.field(o).data_type() == t)
                .unwrap_or(c);
            column.lt_eq(col(schema.field(other).name()))
        }
        _ => column.lt_eq(literal(rng, data, c)),
    }
}

/// A random predicate: atoms under nested AND / OR / NOT.
fn predicate(rng: &mut SmallRng, data: &RecordBatch, depth: usize) -> Expr {
    if depth == 0 || rng.random_bool(0.35) {
        return atom(rng, data);
    }
    let (l, r) = (
        predicate(rng, data, depth - 1),
        predicate(rng, data, depth - 1),
    );
    match rng.random_range(0..5) {
        0 | 1 => l.and(r),
        2 | 3 => l.or(r),
        _ => !l.and(r),
    }
}

/// Writes `data` as a Quiver table in a few appends with random segment and zone sizes,
/// clustered (`sort_by`) on one or two of the fixed columns when `clustered`.
fn write_quiver(rng: &mut SmallRng, dir: &std::path::Path, data: &RecordBatch, clustered: bool) {
    const KEYS: [&str; 7] = ["seq", "small", "f", "d", "dec", "s", "b"];
    let first_key = rng.random_range(0..KEYS.len());
    let sort_by: Vec<String> = (0..rng.random_range(1..3))
        .map(|i| KEYS[(first_key + i) % KEYS.len()].to_string())
        .collect();
    let sort_by = clustered.then_some(sort_by);
    common::write_in_random_pieces(rng, dir, data, 200..3000, 16..700, sort_by);
}

async fn rows_of(df: datafusion::dataframe::DataFrame) -> datafusion::common::Result<String> {
    let batches = df.collect().await?;
    Ok(pretty_format_batches(&batches)?.to_string())
}

/// Runs `filter` over the Quiver table `q` and the MemTable `m` of `ctx`, ordered by id and
/// possibly limited; `None` when DataFusion itself cannot evaluate it over the MemTable.
async fn compare(ctx: &SessionContext, filter: &Expr, limit: Option<usize>) -> Option<()> {
    let run = |table: &'static str| {
        let filter = filter.clone();
        async move {
            let df = ctx.table(table).await?.filter(filter)?;
            let df = df.sort(vec![col("id").sort(true, false)])?;
            let df = match limit {
                Some(n) => df.limit(0, Some(n))?,
                None => df,
            };
            Ok::<_, datafusion::common::DataFusionError>(df)
        }
    };
    let want = match run("m").await {
        Ok(df) => rows_of(df).await.ok()?,
        Err(_) => return None,
    };
    let df = run("q").await.unwrap();
    let plan = df.clone().create_physical_plan().await.unwrap();
    let shown = displayable(plan.as_ref()).indent(true).to_string();
    assert!(
        !shown.contains("FilterExec"),
        "filter {filter} should be applied by the scan:\n{shown}"
    );
    let got = rows_of(df)
        .await
        .unwrap_or_else(|e| panic!("filter {filter}: Quiver failed: {e}"));
    assert_eq!(got, want, "filter {filter} (limit {limit:?})");
    Some(())
}

#[tokio::test]
async fn random_predicates_return_exactly_the_rows_datafusion_returns_over_a_memtable() {
    let mut evaluated = 0;
    let mut total = 0;
    for seed in 0..6u64 {
        let mut rng = common::rng(0xF117E5 + seed);
        let rows = rng.random_range(1500..5000);
        let data = random_table(&mut rng, rows);
        let dir = tempfile::tempdir().unwrap();
        // Half the tables clustered: the same answers, whatever the layout.
        write_quiver(&mut rng, dir.path(), &data, seed % 2 == 1);
        let session = QuiverSession::default();
        session.register_table("q", dir.path()).unwrap();
        let ctx = session.context();
        let served = ctx.table("q").await.unwrap().schema().inner().clone();
        let mem = MemTable::try_new(
            Arc::clone(&served),
            vec![vec![common::as_read_batch(&data, &served)]],
        )
        .unwrap();
        ctx.register_table("m", Arc::new(mem)).unwrap();
        for _ in 0..80 {
            let filter = predicate(&mut rng, &data, 3);
            let limit = rng.random_bool(0.2).then(|| rng.random_range(0..40));
            total += 1;
            if compare(ctx, &filter, limit).await.is_some() {
                evaluated += 1;
            }
        }
    }
    // DataFusion cannot compare some types (e.g. intervals with some literals); those are
    // skipped, but most predicates must have run.
    assert!(
        evaluated * 10 >= total * 8,
        "only {evaluated} of {total} predicates ran"
    );
}

/// Zone statistics prune encoded columns before any decode: with a zstd block of the last
/// zone damaged, a filter whose zones are all before it answers exactly as over the raw
/// table, and one that reaches that zone fails naming the column.
#[tokio::test]
async fn zones_pruned_by_statistics_are_never_decoded() {
    use common::encoded::*;
    let batch = three_encodings_batch(40_000);
    let (raw_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_one_segment(raw_dir.path(), &batch, 8_192, "raw");
    write_one_segment(dir.path(), &batch, 8_192, "id=packed,mode=dict,note=zstd");
    damage_last_block(dir.path(), 2);
    let session = QuiverSession::default();
    session.register_table("raw", raw_dir.path()).unwrap();
    session.register_table("enc", dir.path()).unwrap();
    let ctx = session.context();
    let query = |t: &str, filter: &str| {
        format!("SELECT id, mode, note FROM {t} WHERE {filter} ORDER BY id, note")
    };
    for filter in [
        "id < 1000",
        "id BETWEEN 60000 AND 60100 OR id = 4",
        "id < 0",
    ] {
        let got = rows_of(ctx.sql(&query("enc", filter)).await.unwrap()).await;
        let want = rows_of(ctx.sql(&query("raw", filter)).await.unwrap()).await;
        assert_eq!(got.unwrap(), want.unwrap(), "{filter}");
    }
    let reaching = rows_of(ctx.sql(&query("enc", "id > 275000")).await.unwrap()).await;
    let err = reaching.unwrap_err().to_string();
    assert!(err.contains("column \"note\""), "{err}");
}
