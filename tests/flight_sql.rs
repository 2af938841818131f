//! The Flight SQL server answers a real Flight SQL client (arrow-flight's
//! `FlightSqlServiceClient` over loopback gRPC) exactly as the in-process session does:
//! statements, prepared statements with parameters, updates, the metadata calls, errors as
//! statuses with DataFusion's message, and a client that disconnects mid-stream frees its
//! query. (The ADBC driver from PyPI is exercised by `python/tests/test_flight_sql.py`.)
#![cfg(all(feature = "flight", feature = "tpch"))]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow::util::pretty::pretty_format_batches;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};
use arrow_flight::FlightInfo;
use futures::TryStreamExt;
use quiver_store::flight::{serve, QuiverFlightSqlService, ServedPaths};
use quiver_store::sql::QuiverSession;
use tonic::transport::Channel;

const SCALE: f64 = 0.01;

struct Server {
    address: String,
    active: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _db: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A database of the TPC-H tables at SCALE, served on a free loopback port.
async fn start() -> Server {
    let db = tempfile::tempdir().unwrap();
    for name in ["lineitem", "orders", "nation", "region"] {
        quiver_store::tpch::write_table(&db.path().join(name), name, SCALE, 1).unwrap();
    }
    let session = QuiverSession::open_db(db.path(), Default::default()).unwrap();
    let served = ServedPaths::new([db.path().to_path_buf()]).unwrap();
    let service = QuiverFlightSqlService::new(session).with_served_paths(served);
    let active = service.active_queries();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        serve(listener, service, Default::default(), async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        address,
        active,
        shutdown: Some(tx),
        _db: db,
    }
}

async fn client(server: &Server) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(server.address.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightSqlServiceClient::new(channel)
}

/// Every batch of every endpoint of `info`.
async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("an endpoint has a ticket");
        let stream = client.do_get(ticket).await.unwrap();
        batches.extend(stream.try_collect::<Vec<_>>().await.unwrap());
    }
    batches
}

async fn local(db: &Path, sql: &str) -> Vec<RecordBatch> {
    let session = QuiverSession::open_db(db, Default::default()).unwrap();
    session.run_script(sql).await.unwrap().unwrap().batches
}

fn text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_and_ddl_return_what_the_session_returns_and_bad_sql_is_an_invalid_argument() {
    let server = start().await;
    let mut client = client(&server).await;
    for q in [1, 6] {
        let sql = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../shared/data/tpch-queries/q{q}.sql")),
        )
        .unwrap();
        let info = client.execute(sql.clone(), None).await.unwrap();
        let got = fetch(&mut client, info).await;
        let want = local(server._db.path(), &sql).await;
        assert_eq!(text(&got), text(&want), "TPC-H Q{q}");
    }

    // DDL runs when executed, even if its empty result is never fetched.
    let info = client
        .execute(
            "CREATE VIEW big_orders AS SELECT * FROM orders WHERE o_totalprice > 400000".into(),
            None,
        )
        .await
        .unwrap();
    assert!(info.endpoint.is_empty(), "DDL answers no endpoint");
    let info = client
        .execute("SELECT count(*) FROM big_orders".into(), None)
        .await
        .unwrap();
    let got = fetch(&mut client, info).await;
    let want = local(
        server._db.path(),
        "SELECT count(*) FROM orders WHERE o_totalprice > 400000",
    )
    .await;
    assert_eq!(text(&got), text(&want));

    let err = client
        .execute("SELECT nope FROM lineitem".into(), None)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("InvalidArgument") || message.contains("invalid"),
        "{message}"
    );
    assert!(
        message.contains("nope"),
        "the status names the column: {message}"
    );
    let err = client
        .execute("SELECT * FROM no_such_table".into(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_parameters_and_updates_count_rows() {
    let server = start().await;
    let mut client = client(&server).await;
    let mut prepared = client
        .prepare(
            "SELECT count(*) AS n FROM orders WHERE o_custkey < $1".into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(prepared.parameter_schema().unwrap().fields().len(), 1);
    for limit in [10_i64, 500] {
        let params = RecordBatch::try_from_iter([(
            "$1",
            Arc::new(Int64Array::from(vec![limit])) as Arc<dyn Array>,
        )])
        .unwrap();
        prepared.set_parameters(params).unwrap();
        let info = prepared.execute().await.unwrap();
        let got = fetch(&mut client, info).await;
        let want = local(
            server._db.path(),
            &format!("SELECT count(*) AS n FROM orders WHERE o_custkey < {limit}"),
        )
        .await;
        assert_eq!(text(&got), text(&want), "o_custkey < {limit}");
    }
    prepared.close().await.unwrap();

    let created = client
        .execute_update(
            "CREATE TABLE small_orders AS SELECT * FROM orders WHERE o_orderkey < 100".into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(created, 0, "DDL writes no counted rows");
    let inserted = client
        .execute_update(
            "INSERT INTO small_orders SELECT * FROM orders WHERE o_orderkey < 100".into(),
            None,
        )
        .await
        .unwrap();
    let info = client
        .execute("SELECT count(*) FROM small_orders".into(), None)
        .await
        .unwrap();
    let total = fetch(&mut client, info).await;
    let total = total[0].column(0).as_primitive::<Int64Type>().value(0);
    assert!(inserted > 0);
    assert_eq!(total, 2 * inserted, "the insert doubled the created table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_calls_list_the_database_tables_with_their_schemas() {
    let server = start().await;
    let mut client = client(&server).await;
    let info = client.get_catalogs().await.unwrap();
    let catalogs = text(&fetch(&mut client, info).await);
    assert!(catalogs.contains("datafusion"), "{catalogs}");

    let info = client
        .get_db_schemas(CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: None,
        })
        .await
        .unwrap();
    let schemas = text(&fetch(&mut client, info).await);
    assert!(schemas.contains("public"), "{schemas}");

    let info = client
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: None,
            table_name_filter_pattern: Some("%item".into()),
            table_types: vec![],
            include_schema: true,
        })
        .await
        .unwrap();
    let tables = fetch(&mut client, info).await;
    let tables = arrow::compute::concat_batches(&tables[0].schema(), &tables).unwrap();
    assert_eq!(tables.num_rows(), 1, "only lineitem matches %item");
    let names = tables
        .column_by_name("table_name")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(names.value(0), "lineitem");
    let schema_bytes = tables
        .column_by_name("table_schema")
        .unwrap()
        .as_binary::<i32>();
    let schema = arrow::ipc::convert::try_schema_from_ipc_buffer(schema_bytes.value(0)).unwrap();
    assert!(
        schema.field_with_name("l_extendedprice").is_ok(),
        "{schema:?}"
    );

    let info = client.get_table_types().await.unwrap();
    let types = text(&fetch(&mut client, info).await);
    assert!(types.contains("TABLE") && types.contains("VIEW"), "{types}");
    let info = client.get_sql_info(vec![]).await.unwrap();
    assert!(!fetch(&mut client, info).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_disconnecting_mid_stream_frees_its_query() {
    let server = start().await;
    let mut client = client(&server).await;
    // Billions of rows: the query can only end by being dropped.
    let info = client
        .execute(
            "SELECT a.l_orderkey, b.l_partkey FROM lineitem a CROSS JOIN lineitem b".into(),
            None,
        )
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = client.do_get(ticket).await.unwrap();
    let first = stream.try_next().await.unwrap().expect("a first batch");
    assert!(first.num_rows() > 0);
    assert_eq!(
        server.active.load(Ordering::SeqCst),
        1,
        "the query is running"
    );
    drop(stream);
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.active.load(Ordering::SeqCst) != 0 {
        assert!(Instant::now() < deadline, "the query outlived its client");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server still answers.
    let mut client = self::client(&server).await;
    let info = client
        .execute("SELECT count(*) FROM region".into(), None)
        .await
        .unwrap();
    let count = fetch(&mut client, info).await;
    assert_eq!(count[0].column(0).as_primitive::<Int64Type>().value(0), 5);
}

/// Statements may name files only under the served directory: `CREATE EXTERNAL TABLE`,
/// `COPY … TO` and `quiver_version` elsewhere are `PermissionDenied` and do nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_naming_paths_outside_the_served_directory_are_refused() {
    let server = start().await;
    let mut client = client(&server).await;
    let db = server._db.path();
    let elsewhere = tempfile::tempdir().unwrap();
    let other = elsewhere.path().join("nation");
    quiver_store::tpch::write_table(&other, "nation", SCALE, 1).unwrap();
    let out = elsewhere.path().join("out.csv");
    let refused = [
        format!(
            "SELECT count(*) FROM quiver_version('{}', 1)",
            other.display()
        ),
        format!(
            "SELECT count(*) FROM nation WHERE n_nationkey IN \
             (SELECT n_nationkey FROM quiver_version('{}', 1))",
            other.display()
        ),
        format!("COPY (SELECT 1 AS x) TO '{}'", out.display()),
        format!(
            "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{}'",
            elsewhere.path().display()
        ),
        format!(
            "COPY (SELECT 1 AS x) TO '{}/../{}/out.csv'",
            db.display(),
            elsewhere.path().file_name().unwrap().to_string_lossy()
        ),
    ];
    for sql in &refused {
        let err = client.execute(sql.clone(), None).await.unwrap_err();
        let arrow_flight::error::FlightError::Tonic(status) = &err else {
            panic!("{sql}: {err}");
        };
        assert_eq!(
            status.code(),
            tonic::Code::PermissionDenied,
            "{sql}: {status}"
        );
        assert!(status
            .message()
            .contains("outside the directories this server serves"));
    }
    assert!(!out.exists(), "nothing was written outside");
    // The same statements under the served directory run.
    let inside = format!(
        "SELECT count(*) FROM quiver_version('{}', 1)",
        db.join("nation").display()
    );
    let info = client.execute(inside, None).await.unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(
        batches[0].column(0).as_primitive::<Int64Type>().value(0),
        25
    );
    let copy = format!("COPY (SELECT 1 AS x) TO '{}'", db.join("out.csv").display());
    let info = client.execute(copy, None).await.unwrap();
    let _ = fetch(&mut client, info).await;
    assert!(db.join("out.csv").exists());
}
