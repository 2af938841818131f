//! SQL over Quiver tables: a database directory, `CREATE TABLE ... AS`, `INSERT` (one new
//! version per statement) and time travel to an older version.
//!
//! Run with `cargo run --example sql_session`.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionConfig;
use quiver_store::sql::QuiverSession;
use quiver_store::Table;

/// The one `BIGINT` value of a single-row, single-column result.
fn single_value(session: &QuiverSession, rt: &tokio::runtime::Runtime, sql: &str) -> i64 {
    let result = rt
        .block_on(session.run_script(sql))
        .expect("the query runs")
        .expect("the query returns rows");
    result.batches[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0)
}

fn main() -> quiver_store::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| quiver_store::Error::io("/tmp", "create", e))?;
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| quiver_store::Error::io("/", "start a runtime", e))?;

    // Every table directory inside `dir` is a table; CREATE TABLE ... AS makes a new one there.
    let session = QuiverSession::open_db(dir.path(), SessionConfig::new())?;
    let run = |sql: &str| {
        rt.block_on(session.run_script(sql))
            .map_err(|e| quiver_store::Error::invalid(e.to_string()))
    };
    run("CREATE TABLE readings AS SELECT * FROM (VALUES (1, 20), (2, 21), (3, 19)) AS t(sensor, celsius)")?;
    run("INSERT INTO readings VALUES (4, 25), (5, 30)")?;
    run("INSERT INTO readings VALUES (6, 18)")?;

    let path = dir.path().join("readings");
    println!("versions: {:?}", Table::versions(&path)?);
    let now = single_value(&session, &rt, "SELECT count(*) FROM readings");
    println!("rows now: {now}");
    assert_eq!(now, 6);

    // Time travel: the table as the CREATE statement left it (version 1).
    let then = single_value(
        &session,
        &rt,
        &format!(
            "SELECT count(*) FROM quiver_version('{}', 1)",
            path.display()
        ),
    );
    println!("rows at version 1: {then}");
    assert_eq!(then, 3);

    // Several statements run in order; the last result is returned. The information schema
    // is on, so SHOW TABLES works.
    let shown = run("SHOW TABLES")?.expect("SHOW TABLES returns rows");
    for batch in &shown.batches {
        // Columns: table_catalog, table_schema, table_name, table_type.
        let names = batch.column(2).as_string::<i32>();
        for name in names.iter().flatten() {
            println!("table {name}");
        }
    }
    Ok(())
}

/// `cargo test` runs the example (`test = true` in Cargo.toml).
#[test]
fn runs() {
    main().unwrap();
}
