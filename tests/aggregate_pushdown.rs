//! Aggregates computed inside the scan give exactly the answers DataFusion's own aggregate
//! gives: hundreds of random single-table aggregate queries (random COUNT / SUM / AVG / MIN /
//! MAX over columns and arithmetic of columns and literals, GROUP BY sets of low- and
//! high-cardinality columns or none, WHERE clauses from the pushdown grammar or none) over
//! random tables (0–100% NULLs, overflow-bag columns, decimals near their precision limit,
//! values that make 64-bit sums wrap and 128-bit arithmetic overflow, empty and one-row
//! results, one and several partitions, raw or encoded storage) return the same rows, or the same error, with
//! `quiver.aggregate_pushdown` on and off in one session — and the rule does replace the
//! partial aggregate for most of them.
#![cfg(feature = "sql")]

mod common;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, UInt8Array,
};
use arrow::datatypes::{Field, Schema};
use arrow::util::pretty::pretty_format_batches;
use datafusion::execution::context::SessionConfig;
use quiver_store::sql::QuiverSession;
use rand::rngs::SmallRng;
use rand::Rng;

const FLAGS: [&str; 4] = ["A", "N", "R", "é🦀"];

/// A random table of the types aggregates run on.
fn random_table(rng: &mut SmallRng, rows: usize) -> RecordBatch {
    let rate = |rng: &mut SmallRng| [0.0, 0.0, 0.05, 0.3, 1.0][rng.random_range(0..5)];
    let huge = rng.random_bool(0.3);
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut push = |name: &str, a: ArrayRef| {
        fields.push(Field::new(name, a.data_type().clone(), true));
        columns.push(a);
    };
    push("id", Arc::new(Int64Array::from_iter_values(0..rows as i64)));
    let r = rate(rng);
    push(
        "flag",
        Arc::new(StringArray::from_iter((0..rows).map(|_| {
            (!rng.random_bool(r)).then(|| FLAGS[rng.random_range(0..FLAGS.len())])
        }))),
    );
    let r = rate(rng);
    push(
        "k",
        Arc::new(Int32Array::from_iter(
            (0..rows).map(|_| (!rng.random_bool(r)).then(|| rng.random_range(0..7))),
        )),
    );
    push(
        "name",
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("name-{}", (i * 7919) % 401)),
        )),
    );
    let r = rate(rng);
    push(
        "i",
        Arc::new(Int32Array::from_iter((0..rows).map(|_| {
            (!rng.random_bool(r)).then(|| match huge {
                true => rng.random_range(i32::MIN..=i32::MAX),
                false => rng.random_range(-1000..1000),
            })
        }))),
    );
    let r = rate(rng);
    push(
        "l",
        Arc::new(Int64Array::from_iter((0..rows).map(|_| {
            (!rng.random_bool(r)).then(|| match huge {
                true => rng.random_range(i64::MAX / 4..=i64::MAX),
                false => rng.random_range(-100_000..100_000),
            })
        }))),
    );
    let r = rate(rng);
    push(
        "u",
        Arc::new(UInt8Array::from_iter(
            (0..rows).map(|_| (!rng.random_bool(r)).then(|| rng.random())),
        )),
    );
    let r = rate(rng);
    push(
        "d",
        Arc::new(Date32Array::from_iter((0..rows).map(|_| {
            (!rng.random_bool(r)).then(|| rng.random_range(8000..11000))
        }))),
    );
    let r = rate(rng);
    push(
        "price",
        Arc::new(
            Decimal128Array::from_iter((0..rows).map(|_| {
                (!rng.random_bool(r)).then(|| rng.random_range(-100_000_000i128..100_000_000))
            }))
            .with_precision_and_scale(15, 2)
            .unwrap(),
        ),
    );
    let r = rate(rng);
    push(
        "disc",
        Arc::new(
            Decimal128Array::from_iter(
                (0..rows).map(|_| (!rng.random_bool(r)).then(|| rng.random_range(0i128..=10))),
            )
            .with_precision_and_scale(15, 2)
            .unwrap(),
        ),
    );
    // Near the precision limit: arithmetic on it overflows 128 bits.
    let r = rate(rng);
    let limit = 10i128.pow(38) - 1;
    push(
        "big",
        Arc::new(
            Decimal128Array::from_iter((0..rows).map(|_| {
                (!rng.random_bool(r)).then(|| match huge {
                    true => rng.random_range(limit - 1000..=limit),
                    false => rng.random_range(-limit..=limit) / 1_000_000_000_000_000_000_000,
                })
            }))
            .with_precision_and_scale(38, 4)
            .unwrap(),
        ),
    );
    let r = rate(rng);
    push(
        "f",
        Arc::new(Float64Array::from_iter((0..rows).map(|_| {
            (!rng.random_bool(r)).then(|| rng.random_range(-5.0..5.0))
        }))),
    );
    // Sparse: stored in the overflow bag.
    push(
        "sparse",
        Arc::new(Int64Array::from_iter((0..rows).map(|_| {
            rng.random_bool(0.03).then(|| rng.random_range(-50..50))
        }))),
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn write_table(rng: &mut SmallRng, dir: &std::path::Path, data: &RecordBatch) {
    common::write_in_random_pieces(rng, dir, data, 100..3000, 16..900, None);
}

fn pick<'a>(rng: &mut SmallRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// A random numeric argument: columns, literals, `+ - *` and casts.
fn argument(rng: &mut SmallRng, depth: usize) -> String {
    const LEAVES: [&str; 9] = ["i", "l", "u", "price", "disc", "big", "sparse", "k", "1"];
    if depth == 0 || rng.random_bool(0.4) {
        return match rng.random_range(0..10) {
            0 => "CAST(i AS BIGINT)".into(),
            1 => "CAST(k AS DECIMAL(10, 2))".into(),
            2 => "(1 - disc)".into(),
            3 => "CAST('2.5' AS DECIMAL(4, 2))".into(),
            _ => pick(rng, &LEAVES).into(),
        };
    }
    let op = pick(rng, &["+", "-", "*"]);
    format!(
        "({} {op} {})",
        argument(rng, depth - 1),
        argument(rng, depth - 1)
    )
}

fn aggregate(rng: &mut SmallRng) -> String {
    match rng.random_range(0..12) {
        0 => "COUNT(*)".into(),
        1 => format!(
            "COUNT({})",
            pick(rng, &["flag", "i", "f", "sparse", "name", "d"])
        ),
        2 => format!("MIN({})", pick(rng, &["d", "i", "price", "u"])),
        3 => format!("MAX({})", pick(rng, &["d", "l", "big", "sparse"])),
        4 => format!("MIN({})", argument(rng, 2)),
        5 => format!("MAX({})", argument(rng, 2)),
        6 | 7 => format!("AVG({})", argument(rng, 2)),
        8 => format!("SUM({})", pick(rng, &["f", "i", "u"])),
        _ => format!("SUM({})", argument(rng, 3)),
    }
}

fn predicate(rng: &mut SmallRng, depth: usize) -> String {
    if depth == 0 || rng.random_bool(0.5) {
        return match rng.random_range(0..9) {
            0 => format!("i > {}", rng.random_range(-1200..1200)),
            1 => format!("flag = '{}'", pick(rng, &FLAGS)),
            2 => "flag IN ('A', 'R')".into(),
            3 => format!("d BETWEEN {} AND {}", date(rng), date(rng)),
            4 => format!(
                "price < {}.{:02}",
                rng.random_range(-1_000_000..1_000_000),
                rng.random_range(0..100)
            ),
            5 => "i IS NULL".into(),
            6 => format!("k <> {}", rng.random_range(0..7)),
            7 => "id < 0".into(),
            _ => format!("name LIKE 'name-{}%'", rng.random_range(0..40)),
        };
    }
    let op = pick(rng, &["AND", "OR"]);
    let p = format!(
        "({} {op} {})",
        predicate(rng, depth - 1),
        predicate(rng, depth - 1)
    );
    match rng.random_bool(0.2) {
        true => format!("NOT {p}"),
        false => p,
    }
}

fn date(rng: &mut SmallRng) -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = rng.random_range(7900i64..11100) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("DATE '{year:04}-{month:02}-{day:02}'")
}

fn query(rng: &mut SmallRng) -> String {
    let groups = pick(
        rng,
        &[
            "",
            "",
            "flag",
            "k",
            "flag, k",
            "name",
            "flag, name",
            "u",
            "d",
            "sparse",
            "flag, d",
        ],
    );
    let mut calls: Vec<String> = (0..rng.random_range(1..5))
        .map(|_| aggregate(rng))
        .collect();
    calls.sort();
    calls.dedup();
    let aggregates: Vec<String> = calls
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{a} AS a{i}"))
        .collect();
    let select = match groups {
        "" => aggregates.join(", "),
        g => format!("{g}, {}", aggregates.join(", ")),
    };
    let mut sql = format!("SELECT {select} FROM t");
    if rng.random_bool(0.6) {
        sql += &format!(" WHERE {}", predicate(rng, 2));
    }
    if !groups.is_empty() {
        sql += &format!(" GROUP BY {groups} ORDER BY {groups} NULLS FIRST");
    }
    sql
}

/// The query's rows (or its error) with the rule `on` or off.
async fn answer(session: &QuiverSession, sql: &str, on: bool) -> Result<RecordBatch, String> {
    let set = format!("SET quiver.aggregate_pushdown = {on}");
    session.sql(&set).await.unwrap().collect().await.unwrap();
    let run = async {
        let df = session.sql(sql).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok::<_, datafusion::common::DataFusionError>(arrow::compute::concat_batches(
            &schema, &batches,
        )?)
    };
    run.await.map_err(|e| e.strip_backtrace())
}

/// Whether two answers agree: exactly, except that `Float64` sums that DataFusion itself
/// adds up in a run-dependent order (partials merged as partitions finish) agree to 1e-9.
fn same(a: &RecordBatch, b: &RecordBatch) -> bool {
    if a.schema() != b.schema() || a.num_rows() != b.num_rows() {
        return false;
    }
    a.columns().iter().zip(b.columns()).all(|(x, y)| {
        match (
            x.as_any().downcast_ref::<Float64Array>(),
            y.as_any().downcast_ref::<Float64Array>(),
        ) {
            (Some(x), Some(y)) => x.iter().zip(y.iter()).all(|(p, q)| match (p, q) {
                (Some(p), Some(q)) => p == q || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()),
                (None, None) => true,
                _ => false,
            }),
            _ => x == y,
        }
    })
}

async fn replaced(session: &QuiverSession, sql: &str) -> bool {
    let df = session
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let plan = df
        .create_physical_plan()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let shown = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    shown.contains("QuiverAggregateExec")
}

#[tokio::test]
async fn random_aggregates_answer_exactly_as_datafusion_with_the_rule_on_and_off() {
    let (mut total, mut fired, mut failed, mut skipped) = (0, 0, 0, 0);
    for seed in 0..8u64 {
        let mut rng = common::rng(0xA66 + seed);
        let rows = match seed {
            0 => 1,
            1 => 0,
            _ => rng.random_range(500..6000),
        };
        let data = random_table(&mut rng, rows);
        let dir = tempfile::tempdir().unwrap();
        write_table(&mut rng, dir.path(), &data);
        let partitions = [1, 2, 3][rng.random_range(0..3)];
        let session = QuiverSession::new(SessionConfig::new().with_target_partitions(partitions));
        session.register_table("t", dir.path()).unwrap();
        for _ in 0..50 {
            let sql = query(&mut rng);
            // DataFusion refuses some generated SQL outright (e.g. two aggregates it names
            // alike); those are not comparisons.
            if session.sql(&sql).await.is_err() {
                skipped += 1;
                continue;
            }
            let on = answer(&session, &sql, true).await;
            let is_replaced = replaced(&session, &sql).await;
            let off = answer(&session, &sql, false).await;
            assert!(
                !replaced(&session, &sql).await,
                "the setting turns the rule off: {sql}"
            );
            total += 1;
            fired += usize::from(is_replaced);
            if !is_replaced && std::env::var("SHOW_UNREPLACED").is_ok() {
                eprintln!("UNREPLACED {sql}");
            }
            match (&on, &off) {
                (Ok(a), Ok(b)) => assert!(
                    same(a, b),
                    "{sql} (rows: {rows}):\n{}\nvs\n{}",
                    pretty_format_batches(std::slice::from_ref(a)).unwrap(),
                    pretty_format_batches(std::slice::from_ref(b)).unwrap()
                ),
                (Err(a), Err(b)) => {
                    failed += 1;
                    let overflow = |e: &str| e.to_lowercase().contains("overflow");
                    assert!(a == b || (overflow(a) && overflow(b)), "{sql}: {a} vs {b}");
                }
                _ => panic!("{sql}: with the rule {on:?}, without {off:?}"),
            }
        }
    }
    assert!(
        fired * 10 >= total * 6,
        "the rule replaced only {fired} of {total} aggregates"
    );
    assert!(
        failed * 4 < total,
        "{failed} of {total} queries failed both ways"
    );
    assert!(
        skipped * 10 < total,
        "{skipped} queries did not plan, {total} ran"
    );
}

#[tokio::test]
async fn explain_analyze_shows_the_aggregate_scan_and_its_metrics() {
    let mut rng = common::rng(7);
    let data = random_table(&mut rng, 3000);
    let dir = tempfile::tempdir().unwrap();
    write_table(&mut rng, dir.path(), &data);
    let session = QuiverSession::default();
    session.register_table("t", dir.path()).unwrap();
    let sql = "EXPLAIN ANALYZE SELECT flag, SUM(price * (1 - disc)), COUNT(*) FROM t \
               WHERE i > 0 GROUP BY flag";
    let batches = session.sql(sql).await.unwrap().collect().await.unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains("QuiverAggregateExec"), "{text}");
    for metric in [
        "zones_evaluated",
        "rows_aggregated",
        "rows_scanned",
        "output_rows",
    ] {
        assert!(text.contains(metric), "{metric} missing:\n{text}");
    }
    assert!(!text.contains("mode=Partial"), "{text}");
}
