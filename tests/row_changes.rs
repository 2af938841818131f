//! Row-level changes (DELETE, UPDATE, TRUNCATE, merge, optimize, `delete_rows`): random
//! sequences applied to a Quiver table and to a DataFusion `MemTable` give the same rows after
//! every step, and every older version still reads as it was; statements whose whole `WHERE`
//! would not reach the table are refused without touching it.
#![cfg(feature = "sql")]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use quiver_store::sql::{QuiverSession, QuiverTableProvider};
use quiver_store::{
    merge, optimize, vacuum, MergeOptions, OptimizeOptions, Table, TableWriter, WriteOptions,
};
use rand::rngs::SmallRng;
use rand::Rng;

mod common;

/// One row of the test table `t(id, a, s, f, b, sp)`; `sp` is sparse (mostly NULL), so it lands
/// in the overflow bag of the segments where it is rare.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    a: Option<i32>,
    s: Option<String>,
    f: Option<f64>,
    b: Option<bool>,
    sp: Option<String>,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("a", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("f", DataType::Float64, true),
        Field::new("b", DataType::Boolean, true),
        Field::new("sp", DataType::Utf8, true),
    ]))
}

fn random_row(rng: &mut SmallRng, id: i64) -> Row {
    const WORDS: [&str; 6] = ["x", "xy", "y", "z", "", "näme"];
    let maybe = |rng: &mut SmallRng, p: f64| rng.random_bool(p);
    Row {
        id,
        a: maybe(rng, 0.85).then(|| rng.random_range(0..20)),
        s: maybe(rng, 0.8).then(|| WORDS[rng.random_range(0..WORDS.len())].to_owned()),
        // Multiples of 0.5: sums are exact whatever the order.
        f: maybe(rng, 0.8).then(|| f64::from(rng.random_range(0..200)) / 2.0),
        b: maybe(rng, 0.8).then(|| rng.random_bool(0.5)),
        sp: maybe(rng, 0.03).then(|| format!("p{}", rng.random_range(0..5))),
    }
}

fn batch_of(rows: &[Row]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.a))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.s.clone()))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.f))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.b))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.sp.clone()))),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

fn sql_literal<T: ToString>(v: &Option<T>, quote: bool) -> String {
    match v {
        None => "NULL".into(),
        Some(v) if quote => format!("'{}'", v.to_string()),
        Some(v) => v.to_string(),
    }
}

fn insert_sql(rows: &[Row]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            let f = r.f.map(|f| format!("{f:?}"));
            format!(
                "({}, {}, {}, {}, {}, {})",
                r.id,
                sql_literal(&r.a, false),
                sql_literal(&r.s, true),
                sql_literal(&f, false),
                sql_literal(&r.b, false),
                sql_literal(&r.sp, true),
            )
        })
        .collect();
    format!("INSERT INTO t VALUES {}", values.join(", "))
}

/// A random `WHERE` condition over `t` (NULLs, the bag column, ORs and NOTs included).
fn predicate(rng: &mut SmallRng, max_id: i64, depth: usize) -> String {
    let v = rng.random_range(0..20);
    match rng.random_range(0..if depth > 0 { 14 } else { 12 }) {
        0 => format!(
            "id % {} = {}",
            rng.random_range(2..7),
            rng.random_range(0..2)
        ),
        1 => "a IS NULL".into(),
        2 => format!("a > {v}"),
        3 => "s LIKE 'x%'".into(),
        4 => format!("f < {v} OR a IS NULL"),
        5 => format!("NOT (a > {v})"),
        6 => "sp IS NOT NULL".into(),
        7 => {
            let lo = rng.random_range(0..=max_id.max(1));
            format!("id BETWEEN {lo} AND {}", lo + rng.random_range(0..40))
        }
        8 => format!("a IN ({v}, {}, {})", v + 1, v + 7),
        9 => ["s = 'x'", "s <> 'y'", "s IS NULL", "sp = 'p1'"][rng.random_range(0..4)].into(),
        10 => ["b", "NOT b", "b IS NULL"][rng.random_range(0..3)].into(),
        11 => format!("f >= {}.5 AND f <= {}", v, v * 3),
        12 => format!(
            "({}) AND ({})",
            predicate(rng, max_id, depth - 1),
            predicate(rng, max_id, depth - 1)
        ),
        _ => format!(
            "({}) OR ({})",
            predicate(rng, max_id, depth - 1),
            predicate(rng, max_id, depth - 1)
        ),
    }
}

fn assignments(rng: &mut SmallRng) -> String {
    const SETS: [&str; 8] = [
        "a = a + 1",
        "a = NULL",
        "s = concat(s, 'u')",
        "f = f * 2",
        "b = NOT b",
        "sp = 'up'",
        "s = CASE WHEN a > 5 THEN 'big' ELSE s END",
        "sp = NULL",
    ];
    let n = rng.random_range(1..=3);
    let mut chosen: Vec<&str> = Vec::new();
    while chosen.len() < n {
        let set = SETS[rng.random_range(0..SETS.len())];
        let column = set.split(' ').next().unwrap();
        if !chosen
            .iter()
            .any(|c| c.split(' ').next().unwrap() == column)
        {
            chosen.push(set);
        }
    }
    chosen.join(", ")
}

async fn rows_text(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

/// What a reader sees of `t`: every row, and aggregates (which run inside the scan).
async fn contents(ctx: &SessionContext) -> String {
    let mut out = rows_text(ctx, "SELECT * FROM t ORDER BY id").await;
    for sql in [
        "SELECT count(*), count(a), sum(a), min(a), max(a), min(id), max(id), sum(f), count(sp) FROM t",
        "SELECT a % 3 AS g, count(*) AS n, count(s) AS ns, sum(f) AS sf, min(s) AS mn, max(s) AS mx FROM t GROUP BY a % 3 ORDER BY g",
    ] {
        out.push_str(&rows_text(ctx, sql).await);
    }
    out
}

/// Runs the DML statement `sql`; returns its count of rows.
async fn changed_rows(ctx: &SessionContext, sql: &str) -> u64 {
    let batches = match ctx.sql(sql).await {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches[0]
        .column(0)
        .as_primitive::<arrow::datatypes::UInt64Type>()
        .value(0)
}

fn ids_of(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

/// The Quiver side and the model side of one differential run.
struct Pair {
    dir: std::path::PathBuf,
    quiver: QuiverSession,
    model: SessionContext,
}

impl Pair {
    async fn new(dir: &Path, initial: &[Row]) -> Self {
        let options = WriteOptions::default()
            .with_segment_rows(150)
            .with_zone_rows(40);
        let mut w = TableWriter::create_with(dir, schema(), options).unwrap();
        w.write(&batch_of(initial)).unwrap();
        w.commit().unwrap();
        let quiver = QuiverSession::default();
        quiver.register_table("t", dir).unwrap();
        let model = SessionContext::new();
        let table = MemTable::try_new(schema(), vec![vec![batch_of(initial)]]).unwrap();
        model.register_table("t", Arc::new(table)).unwrap();
        Self {
            dir: dir.to_path_buf(),
            quiver,
            model,
        }
    }

    /// Runs the DML statement `sql` on both sides; their row counts must agree. Returns it.
    async fn both(&self, sql: &str) -> u64 {
        let got = changed_rows(self.quiver.context(), sql).await;
        let want = changed_rows(&self.model, sql).await;
        assert_eq!(got, want, "rows changed by {sql}");
        got
    }

    async fn model_ids(&self, sql: &str) -> Vec<i64> {
        ids_of(&self.model.sql(sql).await.unwrap().collect().await.unwrap())
    }

    async fn model_exec(&self, sql: &str) {
        self.model.sql(sql).await.unwrap().collect().await.unwrap();
    }
}

fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the steps of a run did, to show that they did something.
#[derive(Default, Debug)]
struct Tally {
    /// Rows deleted or updated by SQL statements.
    sql_rows_changed: u64,
    /// Versions that had deletion vectors.
    versions_with_deletions: usize,
    /// Segments optimize rewrote.
    segments_compacted: usize,
}

/// One random step on both sides; returns what it did, for failure messages.
async fn random_step(
    rng: &mut SmallRng,
    pair: &Pair,
    next_id: &mut i64,
    tally: &mut Tally,
) -> String {
    let max_id = *next_id;
    match rng.random_range(0..20) {
        0..=3 => {
            let n = if rng.random_bool(0.6) {
                1
            } else {
                rng.random_range(2..60)
            };
            let rows: Vec<Row> = (0..n)
                .map(|i| random_row(rng, *next_id + i))
                .collect::<Vec<_>>();
            *next_id += n;
            let sql = insert_sql(&rows);
            pair.both(&sql).await;
            format!("insert of {n} rows")
        }
        4..=8 => {
            let sql = match rng.random_range(0..10) {
                0 => "DELETE FROM t".to_owned(),
                _ => format!("DELETE FROM t WHERE {}", predicate(rng, max_id, 2)),
            };
            let n = pair.both(&sql).await;
            tally.sql_rows_changed += n;
            format!("{sql}: {n} rows")
        }
        9..=13 => {
            let sql = format!(
                "UPDATE t SET {} WHERE {}",
                assignments(rng),
                predicate(rng, max_id, 2)
            );
            let n = pair.both(&sql).await;
            tally.sql_rows_changed += n;
            format!("{sql}: {n} rows")
        }
        14..=15 => {
            // Merge: some existing keys (updated), some new ones (inserted).
            let existing = pair.model_ids("SELECT id FROM t ORDER BY id").await;
            let mut keys: Vec<i64> = existing
                .iter()
                .copied()
                .filter(|_| rng.random_bool(0.1))
                .collect();
            let fresh = rng.random_range(0..10);
            keys.extend(*next_id..*next_id + fresh);
            *next_id += fresh;
            let rows: Vec<Row> = keys.iter().map(|&id| random_row(rng, id)).collect();
            let report = merge(
                &pair.dir,
                &[batch_of(&rows)],
                &["id"],
                MergeOptions::default(),
            )
            .unwrap();
            let matched = keys.iter().filter(|k| existing.contains(k)).count() as u64;
            assert_eq!(
                (report.updated, report.inserted),
                (matched, rows.len() as u64 - matched)
            );
            if !keys.is_empty() {
                let model_keys = id_list(&keys);
                pair.model_exec(&format!("DELETE FROM t WHERE id IN ({model_keys})"))
                    .await;
                pair.model_exec(&insert_sql(&rows)).await;
            }
            format!("merge of {} rows ({matched} matched)", rows.len())
        }
        16..=17 => {
            // Deleting by position: positions count the version's visible rows.
            let table = Table::open(&pair.dir).unwrap();
            if table.num_rows() == 0 {
                return "delete_rows on an empty table: skipped".into();
            }
            let positions: Vec<u64> = (0..rng.random_range(1..8))
                .map(|_| rng.random_range(0..table.num_rows()))
                .collect();
            let taken = table.take(&positions).unwrap();
            let ids = ids_of(&[taken]);
            table.delete_rows(&positions).unwrap();
            pair.model_exec(&format!("DELETE FROM t WHERE id IN ({})", id_list(&ids)))
                .await;
            format!("delete_rows at {positions:?} (ids {ids:?})")
        }
        _ => {
            let target = rng.random_range(20..400);
            let report = optimize(
                &pair.dir,
                OptimizeOptions::default()
                    .with_target_rows(target)
                    .with_deleted_fraction(0.2),
            )
            .unwrap();
            tally.segments_compacted += report.segments_removed;
            format!("optimize to {target} rows: {report:?}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_changes_leave_the_same_rows_as_a_memtable_and_old_versions_unchanged() {
    for seed in 0..3u64 {
        let mut rng = common::rng(seed);
        let dir = tempfile::tempdir().unwrap();
        let initial: Vec<Row> = (0..400).map(|id| random_row(&mut rng, id)).collect();
        let pair = Pair::new(dir.path(), &initial).await;
        let mut next_id = 400;
        let mut snapshots: Vec<(u64, String)> = Vec::new();
        let mut log = Vec::new();
        let mut tally = Tally::default();
        for step in 0..60 {
            log.push(random_step(&mut rng, &pair, &mut next_id, &mut tally).await);
            let got = contents(pair.quiver.context()).await;
            let want = contents(&pair.model).await;
            assert_eq!(
                got,
                want,
                "seed {seed}, step {step}; steps so far:\n{}",
                log.join("\n")
            );
            let table = Table::open(dir.path()).unwrap();
            table.verify().unwrap();
            tally.versions_with_deletions += usize::from(table.has_deletions());
            snapshots.push((table.version(), got));
        }
        assert!(
            tally.sql_rows_changed > 100
                && tally.versions_with_deletions > 10
                && tally.segments_compacted > 0,
            "seed {seed}: the run changed too little to prove anything: {tally:?}"
        );
        eprintln!("seed {seed}: {tally:?}");
        // Every version a step produced still reads as it did then.
        for (version, want) in &snapshots {
            let old = QuiverSession::default();
            old.register_table_version("t", dir.path(), *version)
                .unwrap();
            assert_eq!(
                &contents(old.context()).await,
                want,
                "seed {seed}, version {version}"
            );
        }
    }
}

/// A table `t` of ids 0..100 (`s` = 's{id}') in a Quiver session.
fn hundred_rows(dir: &Path) -> QuiverSession {
    let rows: Vec<Row> = (0..100)
        .map(|id| Row {
            id,
            a: Some((id % 10) as i32),
            s: Some(format!("s{id}")),
            f: None,
            b: None,
            sp: None,
        })
        .collect();
    let mut w = TableWriter::create(dir, schema()).unwrap();
    w.write(&batch_of(&rows)).unwrap();
    w.commit().unwrap();
    let session = QuiverSession::default();
    session.register_table("t", dir).unwrap();
    session
}

async fn count(session: &QuiverSession, sql: &str) -> u64 {
    let batches = session.sql(sql).await.unwrap().collect().await.unwrap();
    let column = batches[0].column(0);
    match column.data_type() {
        DataType::UInt64 => column
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .value(0),
        _ => column.as_primitive::<Int64Type>().value(0) as u64,
    }
}

#[tokio::test]
async fn where_clauses_with_subqueries_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let session = hundred_rows(dir.path());
    let other = tempfile::tempdir().unwrap();
    {
        let mut w = TableWriter::create(other.path(), schema()).unwrap();
        w.write(&batch_of(&[Row {
            id: 3,
            a: None,
            s: None,
            f: None,
            b: None,
            sp: None,
        }]))
        .unwrap();
        w.commit().unwrap();
    }
    session.register_table("o", other.path()).unwrap();
    for sql in [
        "DELETE FROM t WHERE id IN (SELECT id FROM o)",
        "DELETE FROM t WHERE id NOT IN (SELECT id FROM o)",
        "DELETE FROM t WHERE EXISTS (SELECT 1 FROM o WHERE o.id = t.id)",
        "DELETE FROM t WHERE NOT EXISTS (SELECT 1 FROM o WHERE o.id = t.id)",
        "DELETE FROM t WHERE id = (SELECT max(id) FROM o)",
        "DELETE FROM t WHERE a > 3 AND id IN (SELECT id FROM o)",
        "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE a = 1)",
        "UPDATE t SET a = 0 WHERE id IN (SELECT id FROM o)",
        "UPDATE t SET a = (SELECT max(a) FROM o) WHERE id = 5",
        "UPDATE t SET a = 0 WHERE EXISTS (SELECT 1 FROM o)",
    ] {
        let outcome = match session.sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let error = outcome.expect_err(sql).to_string();
        assert!(
            error.contains("nothing was changed"),
            "{sql} failed with an unexpected message: {error}"
        );
        let table = Table::open(dir.path()).unwrap();
        assert_eq!((table.version(), table.num_rows()), (1, 100), "{sql}");
    }
}

#[tokio::test]
async fn where_clauses_folded_to_false_change_no_row_and_publish_no_version() {
    let dir = tempfile::tempdir().unwrap();
    let session = hundred_rows(dir.path());
    for sql in [
        "DELETE FROM t WHERE false",
        "DELETE FROM t WHERE 1 = 2",
        "DELETE FROM t WHERE id = 3 AND false",
        "DELETE FROM t WHERE NULL",
        "DELETE FROM t WHERE id IS NULL",
        "DELETE FROM t WHERE id = 1000",
        // DataFusion folds an IN over an empty subquery to false: no row, as the WHERE says.
        "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE false)",
        "UPDATE t SET a = 1 WHERE false",
        "UPDATE t SET a = 1 WHERE a > 5 AND 1 = 0",
    ] {
        assert_eq!(count(&session, sql).await, 0, "{sql}");
        let table = Table::open(dir.path()).unwrap();
        assert_eq!((table.version(), table.num_rows()), (1, 100), "{sql}");
    }
    // EXPLAIN plans the change without doing it.
    for sql in [
        "EXPLAIN DELETE FROM t WHERE id = 3",
        "EXPLAIN UPDATE t SET a = 1 WHERE id = 4",
    ] {
        session.sql(sql).await.unwrap().collect().await.unwrap();
        assert_eq!(Table::latest_version(dir.path()).unwrap(), 1, "{sql}");
    }
    // Exactly the selected rows go, each statement one version.
    assert_eq!(count(&session, "DELETE FROM t WHERE id = 3").await, 1);
    assert_eq!(
        count(&session, "UPDATE t SET s = 'new' WHERE id = 4 OR id = 3").await,
        1
    );
    assert_eq!(
        count(&session, "SELECT count(*) FROM t WHERE s = 'new'").await,
        1
    );
    assert_eq!(count(&session, "SELECT count(*) FROM t").await, 99);
    assert_eq!(Table::latest_version(dir.path()).unwrap(), 3);
    assert_eq!(count(&session, "TRUNCATE TABLE t").await, 99);
    assert_eq!(count(&session, "SELECT count(*) FROM t").await, 0);
    assert_eq!(Table::open_version(dir.path(), 3).unwrap().num_rows(), 99);
}

#[tokio::test]
async fn a_session_without_quivers_planner_cannot_delete_or_update() {
    let dir = tempfile::tempdir().unwrap();
    hundred_rows(dir.path());
    let ctx = SessionContext::new();
    let provider = QuiverTableProvider::try_new(dir.path()).unwrap();
    ctx.register_table("t", Arc::new(provider)).unwrap();
    for sql in [
        "DELETE FROM t WHERE id IN (SELECT 1)",
        "DELETE FROM t WHERE id = 1",
        "UPDATE t SET a = 1 WHERE id = 2",
    ] {
        let outcome = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let error = outcome.expect_err(sql).to_string();
        assert!(error.contains("QuiverSession"), "{sql}: {error}");
    }
    assert_eq!(Table::latest_version(dir.path()).unwrap(), 1);
}

#[tokio::test]
async fn time_travel_providers_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    hundred_rows(dir.path());
    let session = QuiverSession::default();
    session
        .register_table_version("old", dir.path(), 1)
        .unwrap();
    let error = match session.sql("DELETE FROM old WHERE id = 1").await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(e) => Err(e),
    }
    .unwrap_err()
    .to_string();
    assert!(error.contains("read-only"), "{error}");
}

#[test]
fn optimize_merges_many_single_row_commits_into_one_segment_and_keeps_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = (0..50)
        .map(|id| random_row(&mut common::rng(id as u64), id))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let mut w = if i == 0 {
            TableWriter::create(dir.path(), schema()).unwrap()
        } else {
            TableWriter::append(dir.path()).unwrap()
        };
        w.write(&batch_of(std::slice::from_ref(row))).unwrap();
        w.commit().unwrap();
    }
    let before = Table::open(dir.path()).unwrap();
    assert_eq!((before.version(), before.segments().len()), (50, 50));
    // A segment left with no visible row leaves the version.
    before.delete_rows(&[7, 8]).unwrap();
    assert_eq!(Table::open(dir.path()).unwrap().segments().len(), 48);
    let report = optimize(dir.path(), OptimizeOptions::default()).unwrap();
    assert_eq!(
        (
            report.segments_removed,
            report.segments_written,
            report.rows_written
        ),
        (48, 1, 48)
    );
    let after = Table::open(dir.path()).unwrap();
    assert_eq!((after.segments().len(), after.num_rows()), (1, 48));
    assert!(!after.has_deletions());
    let want: Vec<i64> = (0..50).filter(|i| *i != 7 && *i != 8).collect();
    assert_eq!(
        ids_of(&[after.take(&(0..48).collect::<Vec<_>>()).unwrap()]),
        want
    );
    // Nothing left to do: no new version.
    let again = optimize(dir.path(), OptimizeOptions::default()).unwrap();
    assert_eq!(
        (again.version, again.segments_removed),
        (after.version(), 0)
    );
    // Older versions read as they were until vacuumed.
    assert_eq!(Table::open_version(dir.path(), 50).unwrap().num_rows(), 50);
    assert_eq!(Table::open_version(dir.path(), 51).unwrap().num_rows(), 48);
    let files_before = common::table_files(dir.path()).len();
    vacuum(dir.path(), 1).unwrap();
    let files_after = common::table_files(dir.path());
    assert!(files_after.len() < files_before);
    assert_eq!(
        files_after.len(),
        2,
        "one segment and one manifest: {files_after:?}"
    );
    assert_eq!(Table::open(dir.path()).unwrap().num_rows(), 48);
    assert!(Table::open_version(dir.path(), 50).is_err());
}

#[test]
fn merge_with_delete_unmatched_makes_the_table_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = (0..30)
        .map(|id| random_row(&mut common::rng(9), id))
        .collect();
    let mut w = TableWriter::create(dir.path(), schema()).unwrap();
    w.write(&batch_of(&rows)).unwrap();
    w.commit().unwrap();
    let mut rng = common::rng(10);
    let mut source: Vec<Row> = (20..40).map(|id| random_row(&mut rng, id)).collect();
    source.push(Row {
        id: 5,
        ..random_row(&mut rng, 5)
    });
    let report = merge(
        dir.path(),
        &[batch_of(&source)],
        &["id"],
        MergeOptions::default().with_delete_unmatched(true),
    )
    .unwrap();
    assert_eq!(
        (report.updated, report.inserted, report.deleted),
        (11, 10, 19)
    );
    let table = Table::open(dir.path()).unwrap();
    let mut got = ids_of(
        &table
            .scan()
            .unwrap()
            .map(|b| b.unwrap())
            .collect::<Vec<_>>(),
    );
    got.sort();
    let mut want: Vec<i64> = source.iter().map(|r| r.id).collect();
    want.sort();
    assert_eq!(got, want);
    // A key twice in the source is refused; nothing is published.
    let twice = batch_of(&[random_row(&mut rng, 1), random_row(&mut rng, 1)]);
    let error = merge(dir.path(), &[twice], &["id"], MergeOptions::default()).unwrap_err();
    assert!(error.to_string().contains("twice"), "{error}");
    assert_eq!(Table::latest_version(dir.path()).unwrap(), report.version);
}

#[test]
fn deletes_merges_and_compaction_keep_every_storable_type_intact() {
    let mut rng = common::rng(77);
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<Field> = common::storable_types()
        .into_iter()
        .enumerate()
        .map(|(i, t)| Field::new(format!("c{i}"), t, true))
        .collect();
    let values = Arc::new(Schema::new(values));
    let mut fields = vec![Arc::new(Field::new("key", DataType::Int64, false))];
    fields.extend(values.fields().iter().cloned());
    let schema = Arc::new(Schema::new(fields));
    let piece = |rng: &mut SmallRng, keys: std::ops::Range<i64>| {
        let body = common::random_batch(rng, &values, keys.clone().count(), 0.2);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(keys))];
        columns.extend(body.columns().iter().cloned());
        RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()
    };
    let options = WriteOptions::default().with_segment_rows(64);
    let first = piece(&mut rng, 0..200);
    common::commit_piece(dir.path(), true, &first, options.clone());
    // The model: the rows the table should show, in scan order.
    let mut model = vec![first];
    for step in 0..12 {
        let table = Table::open(dir.path()).unwrap();
        let read_schema = table.schema();
        let shown = common::concat(
            &read_schema,
            &model
                .iter()
                .map(|b| common::as_read_batch(b, &read_schema))
                .collect::<Vec<_>>(),
        );
        let scanned: Vec<RecordBatch> = table.scan().unwrap().map(|b| b.unwrap()).collect();
        common::assert_batches_equal(
            &common::concat(&read_schema, &scanned),
            &shown,
            &format!("step {step}"),
        );
        let all = common::concat(&schema, &model);
        let n = all.num_rows() as u64;
        match step % 3 {
            0 => {
                let positions: Vec<u64> = (0..n).filter(|_| rng.random_bool(0.15)).collect();
                table.delete_rows(&positions).unwrap();
                let keep = BooleanArray::from_iter((0..n).map(|i| Some(!positions.contains(&i))));
                model = vec![arrow::compute::filter_record_batch(&all, &keep).unwrap()];
            }
            1 => {
                let keys = all.column(0).as_primitive::<Int64Type>();
                let start = 1000 * step as i64;
                let source = {
                    let mut b = piece(&mut rng, start..start + 40);
                    // Half of the source keys replace existing rows.
                    let mut ids: Vec<i64> = (start..start + 20).collect();
                    ids.extend(keys.values().iter().step_by(7).take(20));
                    let mut columns = b.columns().to_vec();
                    columns[0] = Arc::new(Int64Array::from(ids));
                    b = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
                    b
                };
                let source_keys: Vec<i64> = source
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec();
                merge(
                    dir.path(),
                    std::slice::from_ref(&source),
                    &["key"],
                    MergeOptions::default(),
                )
                .unwrap();
                let keep = BooleanArray::from_iter(
                    keys.values().iter().map(|k| Some(!source_keys.contains(k))),
                );
                model = vec![
                    arrow::compute::filter_record_batch(&all, &keep).unwrap(),
                    source,
                ];
            }
            _ => {
                optimize(dir.path(), OptimizeOptions::default().with_target_rows(100)).unwrap();
            }
        }
        Table::open(dir.path()).unwrap().verify().unwrap();
    }
}

/// What a writer thread of the concurrency test committed: the version and the ids it added
/// (`true`) or removed (`false`).
type Committed = Vec<(u64, bool, Vec<i64>)>;

fn scanned_ids(table: &Table) -> Vec<i64> {
    let options = quiver_store::ScanOptions::default().with_projection(vec![0]);
    let batches: Vec<RecordBatch> = table
        .scan_with(options)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let mut ids = ids_of(&batches);
    ids.sort_unstable();
    ids
}

#[test]
fn a_deleter_an_appender_an_optimizer_and_readers_at_once_lose_no_change() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = common::rng(5);
    let initial: Vec<Row> = (0..500).map(|id| random_row(&mut rng, id)).collect();
    let options = WriteOptions::default().with_segment_rows(100);
    let mut w = TableWriter::create_with(dir.path(), schema(), options).unwrap();
    w.write(&batch_of(&initial)).unwrap();
    w.commit().unwrap();
    let path = dir.path();
    let done = AtomicBool::new(false);
    let (appended, deleted, seen) = std::thread::scope(|s| {
        let appender = s.spawn(|| {
            let mut rng = common::rng(6);
            let mut log: Committed = Vec::new();
            for a in 0..30 {
                let rows: Vec<Row> = (0..20)
                    .map(|i| random_row(&mut rng, 10_000 + a * 20 + i))
                    .collect();
                let mut w = TableWriter::append(path).unwrap();
                w.write(&batch_of(&rows)).unwrap();
                log.push((
                    w.commit().unwrap(),
                    true,
                    rows.iter().map(|r| r.id).collect(),
                ));
            }
            log
        });
        let deleter = s.spawn(|| {
            let mut rng = common::rng(7);
            let (mut log, mut conflicts): (Committed, usize) = (Vec::new(), 0);
            while log.len() < 30 {
                assert!(conflicts < 1_000, "the deleter never wins");
                let table = Table::open(path).unwrap();
                let positions: Vec<u64> = (0..3)
                    .map(|_| rng.random_range(0..table.num_rows()))
                    .collect();
                let ids = ids_of(&[table.take(&positions).unwrap()]);
                match table.delete_rows(&positions) {
                    Ok(report) => log.push((report.version, false, ids)),
                    Err(e)
                        if matches!(e.kind(), quiver_store::ErrorKind::ChangeConflict { .. }) =>
                    {
                        conflicts += 1
                    }
                    Err(e) => panic!("delete: {e}"),
                }
            }
            log
        });
        let optimizer = s.spawn(|| {
            for _ in 0..15 {
                let options = OptimizeOptions::default().with_target_rows(300);
                match optimize(path, options) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(e.kind(), quiver_store::ErrorKind::ChangeConflict { .. }) => {}
                    Err(e) => panic!("optimize: {e}"),
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let readers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut seen: Vec<(u64, Vec<i64>)> = Vec::new();
                    while !done.load(Ordering::Acquire) {
                        let table = Table::open(path).unwrap();
                        let ids = scanned_ids(&table);
                        assert_eq!(ids.len() as u64, table.num_rows());
                        assert!(ids.windows(2).all(|w| w[0] < w[1]), "an id shows twice");
                        seen.push((table.version(), ids));
                    }
                    seen
                })
            })
            .collect();
        let appended = appender.join().unwrap();
        let deleted = deleter.join().unwrap();
        optimizer.join().unwrap();
        done.store(true, Ordering::Release);
        let seen: Vec<(u64, Vec<i64>)> = readers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        (appended, deleted, seen)
    });
    // Replaying the commits in version order gives every version's rows; optimize changes none.
    let mut changes: Committed = appended.into_iter().chain(deleted).collect();
    changes.sort_by_key(|c| c.0);
    let mut ids: std::collections::BTreeSet<i64> = (0..500).collect();
    let mut expected = vec![(1u64, ids.iter().copied().collect::<Vec<_>>())];
    for (version, added, list) in &changes {
        for id in list {
            if *added {
                assert!(ids.insert(*id));
            } else {
                ids.remove(id);
            }
        }
        expected.push((*version, ids.iter().copied().collect()));
    }
    let expected_at = |v: u64| {
        let i = expected.partition_point(|(ev, _)| *ev <= v);
        &expected[i - 1].1
    };
    for version in Table::versions(path).unwrap() {
        let table = Table::open_version(path, version).unwrap();
        assert_eq!(
            &scanned_ids(&table),
            expected_at(version),
            "version {version}"
        );
    }
    for (version, ids) in &seen {
        assert_eq!(
            ids,
            expected_at(*version),
            "a reader's view of version {version}"
        );
    }
    let newest = Table::open(path).unwrap();
    assert_eq!(scanned_ids(&newest).len(), ids.len());
    assert!(!seen.is_empty());
}

#[test]
fn automatic_compaction_keeps_the_segment_count_bounded_under_single_row_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = common::rng(11);
    let options = WriteOptions::default()
        .with_segment_rows(64)
        .with_auto_optimize(8);
    let mut most_segments = 0;
    for id in 0..200 {
        let row = batch_of(&[random_row(&mut rng, id)]);
        // The setting is the table's: later writers do not repeat it.
        let write = if id == 0 {
            options.clone()
        } else {
            WriteOptions::default().with_segment_rows(64)
        };
        common::commit_piece(dir.path(), id == 0, &row, write);
        let table = Table::open(dir.path()).unwrap();
        most_segments = most_segments.max(table.segments().len());
        assert_eq!(table.num_rows(), id as u64 + 1);
    }
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(scanned_ids(&table), (0..200).collect::<Vec<_>>());
    // Small segments never pile up past the trigger; full ones (64 rows) stay as they are.
    assert!(
        most_segments <= 8 + 200 / 32,
        "{most_segments} segments at most"
    );
    assert!(
        table.segments().len() < 16,
        "{} segments",
        table.segments().len()
    );
    assert!(
        Table::versions(dir.path()).unwrap().len() > 200,
        "compactions are versions"
    );
    // Off again (0): single-row commits pile up.
    common::commit_piece(
        dir.path(),
        false,
        &batch_of(&[random_row(&mut rng, 200)]),
        WriteOptions::default().with_auto_optimize(0),
    );
    let before = Table::open(dir.path()).unwrap().segments().len();
    for id in 201..211 {
        common::commit_piece(
            dir.path(),
            false,
            &batch_of(&[random_row(&mut rng, id)]),
            WriteOptions::default(),
        );
    }
    assert_eq!(
        Table::open(dir.path()).unwrap().segments().len(),
        before + 10
    );
}

/// A row of the `MERGE INTO` source `src(id, a, s)`.
#[derive(Debug, Clone)]
struct SourceRow {
    id: Option<i64>,
    a: Option<i32>,
    s: Option<String>,
}

fn source_table(rows: &[SourceRow]) -> Arc<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("a", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.id))),
            Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.a))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.s.clone()))),
        ],
    )
    .unwrap();
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
}

/// `rows` as a MemTable `t` in a fresh context: the model side of a comparison.
fn model_of(rows: &[Row]) -> SessionContext {
    let ctx = SessionContext::new();
    let table = MemTable::try_new(schema(), vec![vec![batch_of(rows)]]).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    ctx
}

const MERGE: &str = "MERGE INTO t USING src ON t.id = src.id AND src.a IS NOT NULL \
    WHEN MATCHED AND src.a > 15 THEN DELETE \
    WHEN MATCHED THEN UPDATE SET a = src.a, s = src.s \
    WHEN NOT MATCHED AND src.id IS NOT NULL THEN INSERT (id, a, s) VALUES (src.id, src.a, src.s) \
    WHEN NOT MATCHED BY SOURCE AND t.a IS NULL THEN UPDATE SET s = 'orphan'";

/// [`MERGE`] applied to `target` in plain Rust: the new rows and the count of rows changed.
fn merge_model(target: &[Row], source: &[SourceRow]) -> (Vec<Row>, u64) {
    let matches = |t: &Row, s: &SourceRow| s.id == Some(t.id) && s.a.is_some();
    let (mut out, mut changed) = (Vec::new(), 0);
    for t in target {
        match source.iter().find(|s| matches(t, s)) {
            Some(s) if s.a > Some(15) => changed += 1,
            Some(s) => {
                out.push(Row {
                    a: s.a,
                    s: s.s.clone(),
                    ..t.clone()
                });
                changed += 1;
            }
            None if t.a.is_none() => {
                out.push(Row {
                    s: Some("orphan".into()),
                    ..t.clone()
                });
                changed += 1;
            }
            None => out.push(t.clone()),
        }
    }
    for s in source {
        if let (Some(id), false) = (s.id, target.iter().any(|t| matches(t, s))) {
            out.push(Row {
                id,
                a: s.a,
                s: s.s.clone(),
                f: None,
                b: None,
                sp: None,
            });
            changed += 1;
        }
    }
    (out, changed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_merge_into_matches_a_model_of_its_clauses_on_random_sources() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = common::rng(21);
    let mut rows: Vec<Row> = (0..300).map(|id| random_row(&mut rng, id)).collect();
    let options = WriteOptions::default().with_segment_rows(70);
    let mut w = TableWriter::create_with(dir.path(), schema(), options).unwrap();
    w.write(&batch_of(&rows)).unwrap();
    w.commit().unwrap();
    let session = QuiverSession::default();
    session.register_table("t", dir.path()).unwrap();
    let order = "SELECT * FROM t ORDER BY id, a, s, f, b, sp";
    for round in 0..6 {
        // Unique non-NULL source ids: some existing, some new, some NULL.
        let mut ids: Vec<i64> = (0..400).filter(|_| rng.random_bool(0.15)).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut source: Vec<SourceRow> = ids
            .into_iter()
            .map(|id| SourceRow {
                id: Some(id + 1000 * round),
                a: rng.random_bool(0.8).then(|| rng.random_range(0..20)),
                s: rng.random_bool(0.8).then(|| format!("m{round}")),
            })
            .collect();
        source.push(SourceRow {
            id: None,
            a: Some(1),
            s: None,
        });
        // Existing ids are 0..300 at first; later rounds merge with offset ids too.
        for s in source.iter_mut().filter(|_| rng.random_bool(0.5)) {
            s.id = s.id.map(|id| id % 1000);
        }
        source.sort_by_key(|s| s.id);
        source.dedup_by_key(|s| s.id);
        let _ = session.context().deregister_table("src");
        session
            .context()
            .register_table("src", source_table(&source))
            .unwrap();
        let got = changed_rows(session.context(), MERGE).await;
        let (expected, changed) = merge_model(&rows, &source);
        assert_eq!(got, changed, "round {round}: rows changed");
        rows = expected;
        assert_eq!(
            rows_text(session.context(), order).await,
            rows_text(&model_of(&rows), order).await,
            "round {round}"
        );
        Table::open(dir.path()).unwrap().verify().unwrap();
    }
}

#[tokio::test]
async fn sql_merge_into_refuses_ambiguous_matches_and_conditions_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let session = hundred_rows(dir.path());
    let twice = [
        SourceRow {
            id: Some(1),
            a: Some(1),
            s: None,
        },
        SourceRow {
            id: Some(1),
            a: Some(2),
            s: None,
        },
    ];
    session
        .context()
        .register_table("src", source_table(&twice))
        .unwrap();
    for (sql, message) in [
        (
            "MERGE INTO t USING src ON t.id = src.id WHEN MATCHED THEN DELETE",
            "more than one source row",
        ),
        (
            "MERGE INTO t USING src ON t.a < src.a WHEN MATCHED THEN DELETE",
            "needs an equality",
        ),
    ] {
        let outcome = match session.sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let error = outcome.expect_err(sql).to_string();
        assert!(error.contains(message), "{sql}: {error}");
        assert_eq!(Table::latest_version(dir.path()).unwrap(), 1, "{sql}");
    }
    // A target alias works as the table's name.
    let n = changed_rows(
        session.context(),
        "MERGE INTO t AS tg USING (SELECT 5 AS k) AS s ON tg.id = s.k WHEN MATCHED THEN UPDATE SET s = 'five'",
    )
    .await;
    assert_eq!(n, 1);
    assert_eq!(
        count(
            &session,
            "SELECT count(*) FROM t WHERE s = 'five' AND id = 5"
        )
        .await,
        1
    );
}

#[test]
fn export_and_the_c_stream_see_a_table_minus_its_deleted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = common::rng(31);
    let rows: Vec<Row> = (0..500).map(|id| random_row(&mut rng, id)).collect();
    common::commit_piece(
        dir.path(),
        true,
        &batch_of(&rows),
        WriteOptions::default().with_segment_rows(128),
    );
    let table = Table::open(dir.path()).unwrap();
    let gone: Vec<u64> = (0..500).step_by(3).collect();
    table.delete_rows(&gone).unwrap();
    let table = Table::open(dir.path()).unwrap();
    let want: Vec<i64> = (0..500).filter(|i| i % 3 != 0).collect();
    // Parquet export, read back through an import.
    let file = dir.path().join("out.parquet");
    let exported = quiver_store::io::export_table(
        &table,
        None,
        &file,
        &quiver_store::io::ExportOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(exported, want.len() as u64);
    let back = dir.path().join("back");
    quiver_store::io::import(
        &[file],
        &back,
        &quiver_store::io::ImportOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(scanned_ids(&Table::open(&back).unwrap()), want);
    // The Arrow C stream of a scan.
    let stream = quiver_store::ffi::export_scan(table.scan().unwrap());
    let reader = arrow::ffi_stream::ArrowArrayStreamReader::try_new(stream).unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let mut got = ids_of(&batches);
    got.sort_unstable();
    assert_eq!(got, want);
}
