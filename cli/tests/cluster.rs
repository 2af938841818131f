//! A real Ballista cluster of `quiver` processes on loopback (feature `distributed`): a
//! scheduler and two executors as separate processes answer all 22 TPC-H queries (scale 0.1)
//! as local `quiver sql` does; writes are refused with a message saying they are local-only;
//! a table an executor cannot open fails the query naming the executor, path and version; a
//! query keeps the version it was planned at while a commit lands; an executor killed
//! mid-query ends that query and the next one is right; `quiver serve --cluster` answers a
//! Flight SQL client from the cluster. Every process is killed when its test ends; every wait
//! is bounded.
#![cfg(feature = "distributed")]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SCALE: f64 = 0.1;

/// A `quiver` process, killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn quiver() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quiver"))
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most 60 s) until something accepts connections on `port`.
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `quiver cluster ARGS` in `cwd` and waits for its `listening` line.
fn start(cwd: &Path, args: &[&str]) -> Node {
    let mut child = quiver()
        .current_dir(cwd)
        .env("QUIVER_LOG", "error")
        .arg("cluster")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    assert!(
        line.contains("listening"),
        "quiver cluster {args:?} said {line:?}"
    );
    Node(child)
}

/// A scheduler in `cwd` (with `extra` arguments); returns it and its port.
fn scheduler(cwd: &Path, extra: &[&str]) -> (Node, u16) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut args = vec!["scheduler", "--bind", &bind];
    args.extend_from_slice(extra);
    let node = start(cwd, &args);
    wait_for_port(port);
    (node, port)
}

/// An executor in `cwd` for the scheduler on `port`, running `concurrency` tasks at once.
fn executor(cwd: &Path, port: u16, concurrency: usize) -> Node {
    let (flight, grpc) = (free_port(), free_port());
    let node = start(
        cwd,
        &[
            "executor",
            "--scheduler",
            &format!("127.0.0.1:{port}"),
            "--bind",
            &format!("127.0.0.1:{flight}"),
            "--grpc-port",
            &grpc.to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ],
    );
    wait_for_port(flight);
    // It registers with its first call to the scheduler, right after it listens.
    std::thread::sleep(Duration::from_secs(2));
    node
}

/// A scheduler (in `cwd`) and one executor of two task slots per entry of `executor_dirs`
/// (run in that directory); returns the nodes and the cluster's `df://` address.
fn cluster(cwd: &Path, executor_dirs: &[&Path]) -> (Vec<Node>, String) {
    let (node, port) = scheduler(cwd, &[]);
    let mut nodes = vec![node];
    for dir in executor_dirs {
        nodes.push(executor(dir, port, 2));
    }
    (nodes, format!("df://127.0.0.1:{port}"))
}

/// A table `db/t` in `root` of `rows` rows, `x` = 1..=rows.
fn numbers(root: &Path, rows: usize) {
    let create = format!("CREATE TABLE t AS SELECT value AS x FROM generate_series(1, {rows})");
    stdout_of(sql(root, &[&create]), "CREATE TABLE t");
}

/// A query over `t` that keeps a 2-core machine busy for several seconds (a self-join of
/// 150,000 rows on 100 keys: 112,425,000 result pairs).
const SLOW: &str = "SELECT count(*) AS pairs FROM t a JOIN t b ON a.x % 100 = b.x % 100 \
                    WHERE a.x < b.x AND a.x <= 150000 AND b.x <= 150000";

/// Every TPC-H table at SCALE under `root/db`.
fn tpch_db(root: &Path) -> PathBuf {
    let db = root.join("db");
    for name in quiver_store::tpch::TABLES {
        quiver_store::tpch::write_table(&db.join(name), name, SCALE, 2).unwrap();
    }
    db
}

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/tpch-queries")
}

/// A running `quiver sql --db db --format ndjson ARGS`, its output read as it comes.
struct RunningSql {
    child: Child,
    args: Vec<String>,
    output: std::thread::JoinHandle<(Vec<u8>, Vec<u8>)>,
}

/// Starts `quiver sql --db db --format ndjson ARGS` in `cwd`.
fn start_sql(cwd: &Path, args: &[&str]) -> RunningSql {
    let mut child = quiver()
        .current_dir(cwd)
        .args(["sql", "--db", "db", "--format", "ndjson"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let output = std::thread::spawn(move || {
        let err_reader = std::thread::spawn(move || {
            let mut e = Vec::new();
            std::io::Read::read_to_end(&mut err, &mut e).map(|_| e)
        });
        let mut o = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut o).unwrap();
        (o, err_reader.join().unwrap().unwrap())
    });
    RunningSql {
        child,
        args: args.iter().map(|a| a.to_string()).collect(),
        output,
    }
}

impl RunningSql {
    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Its output once it exits; killed, and the test failed, if that takes over `limit`.
    fn finish(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("quiver sql {:?} ran for more than {limit:?}", self.args);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = self.output.join().unwrap();
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

/// `quiver sql --db db --format ndjson ARGS` in `cwd`, killed after 5 minutes.
fn sql(cwd: &Path, args: &[&str]) -> Output {
    start_sql(cwd, args).finish(Duration::from_secs(300))
}

fn stdout_of(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// An NDJSON result as rows of cells, sorted (rows compared as a multiset).
fn rows(ndjson: &str) -> Vec<Vec<serde_json::Value>> {
    let mut rows: Vec<Vec<serde_json::Value>> = ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(l).unwrap();
            row.into_iter().map(|(_, v)| v).collect()
        })
        .collect();
    rows.sort_by_key(|r| {
        r.iter()
            .map(|c| match c.as_f64() {
                Some(x) if c.is_f64() => format!("{x:.6e}"),
                _ => c.to_string(),
            })
            .collect::<Vec<_>>()
    });
    rows
}

/// Equal cells: floats within a relative 1e-9, the rest exactly.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_f64() || b.is_f64() => {
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        _ => a == b,
    }
}

#[test]
fn all_22_tpch_queries_on_a_scheduler_and_two_executors_match_local_quiver_sql() {
    let tmp = tempfile::tempdir().unwrap();
    tpch_db(tmp.path());
    let root = tmp.path();
    let (_nodes, url) = cluster(root, &[root, root]);
    let mut empty = Vec::new();
    for q in 1..=22 {
        let file = queries_dir().join(format!("q{q}.sql"));
        let file = file.to_str().unwrap();
        let local = rows(&stdout_of(
            sql(root, &["--threads", "2", "-f", file]),
            &format!("local q{q}"),
        ));
        let remote = rows(&stdout_of(
            // Four partitions per scan on the cluster: stages split into several tasks.
            sql(root, &["--cluster", &url, "--threads", "4", "-f", file]),
            &format!("cluster q{q}"),
        ));
        assert_eq!(local.len(), remote.len(), "q{q}: row counts differ");
        for (l, r) in local.iter().zip(&remote) {
            assert!(
                l.len() == r.len() && l.iter().zip(r).all(|(a, b)| same(a, b)),
                "q{q}: local {l:?} vs cluster {r:?}"
            );
        }
        if local.is_empty() {
            empty.push(q);
        }
    }
    assert!(empty.len() <= 1, "queries with no rows: {empty:?}");
}

#[test]
fn writes_on_a_cluster_are_refused_as_local_only_and_a_missing_table_names_executor_path_and_version(
) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("with-table");
    let elsewhere = tmp.path().join("without-table");
    std::fs::create_dir_all(&elsewhere).unwrap();
    quiver_store::tpch::write_table(&root.join("db/nation"), "nation", SCALE, 1).unwrap();
    // The table path is relative (`db/nation`): the executor, run elsewhere, does not have it.
    let (nodes, url) = cluster(&root, &[&elsewhere]);
    for write in [
        "INSERT INTO nation SELECT * FROM nation",
        "CREATE TABLE copy AS SELECT * FROM nation",
        "DELETE FROM nation WHERE n_nationkey = 1",
    ] {
        let out = sql(&root, &["--cluster", &url, write]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{write} succeeded on a cluster");
        assert!(err.contains("local-only"), "{write}: {err}");
    }
    assert!(!root.join("db/copy").exists());
    // (Not `count(*)`: the planner answers that from statistics, without a scan.)
    let query = "SELECT sum(n_regionkey) FROM nation WHERE n_name LIKE '%A%'";
    let out = sql(&root, &["--cluster", &url, query]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the executor read a table it does not have"
    );
    for part in [
        "executor 127.0.0.1:",
        "cannot open table db/nation",
        "version 1",
    ] {
        assert!(err.contains(part), "expected {part:?} in: {err}");
    }
    drop(nodes);
}

#[test]
fn a_query_planned_at_version_n_reads_n_while_a_commit_lands_before_its_tasks_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    numbers(root, 100_000);
    let query = "SELECT count(*) AS n, sum(x) AS s FROM t";
    let (_scheduler, port) = scheduler(root, &[]);
    let url = format!("df://127.0.0.1:{port}");
    // No executor yet: the scheduler plans the query (at version 1) and holds its tasks.
    let mut planned = start_sql(root, &["--cluster", &url, query]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(planned.is_running(), "the query waits for an executor");
    // Version 2 commits while the query is in flight; then an executor runs its tasks.
    stdout_of(sql(root, &["INSERT INTO t VALUES (1000000)"]), "INSERT");
    let _executor = executor(root, port, 2);
    let out = planned.finish(Duration::from_secs(120));
    let got = rows(&stdout_of(out, "the query planned at version 1"));
    assert_eq!(
        got,
        rows(r#"{"n":100000,"s":5000050000}"#),
        "version 1's rows"
    );
    // The next query sees version 2.
    let next = rows(&stdout_of(
        sql(root, &["--cluster", &url, query]),
        "the next query",
    ));
    assert_eq!(
        next,
        rows(r#"{"n":100001,"s":5001050000}"#),
        "version 2's rows"
    );
}

#[test]
fn an_executor_killed_mid_query_ends_that_query_and_the_cluster_answers_the_next_one_right() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    numbers(root, 150_000);
    let want = rows(&stdout_of(sql(root, &["--threads", "2", SLOW]), "local"));
    let (_scheduler, port) = scheduler(root, &["--executor-timeout", "10"]);
    let url = format!("df://127.0.0.1:{port}");
    let _survivor = executor(root, port, 1);
    let mut doomed = executor(root, port, 1);
    let mut query = start_sql(root, &["--threads", "4", "--cluster", &url, SLOW]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(query.is_running(), "the query is still running");
    doomed.0.kill().unwrap();
    // The scheduler counts the executor dead after 10 s and reruns its tasks on the
    // survivor: the query ends (docs/DISTRIBUTED.md, "Failure behaviour", for its answer).
    let out = query.finish(Duration::from_secs(240));
    eprintln!(
        "query during which an executor died: {}, {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim()
    );
    // The next query, multi-stage as well, runs on the survivor and is right.
    let next = sql(root, &["--cluster", &url, "--threads", "4", SLOW]);
    assert_eq!(rows(&stdout_of(next, "the next query")), want);
}

#[test]
fn serve_table_and_stored_as_quiver_work_on_a_cluster_and_flight_sql_writes_are_refused() {
    use arrow::array::{AsArray, RecordBatch};
    use arrow::datatypes::Int64Type;
    use arrow_flight::sql::client::FlightSqlServiceClient;
    use futures::TryStreamExt;

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    numbers(root, 10_000);
    let (nodes, url) = cluster(root, &[root]);
    let listen = format!("127.0.0.1:{}", free_port());
    let mut serve = quiver()
        .current_dir(root)
        .args([
            "serve",
            "--db",
            "db",
            "--cluster",
            &url,
            "--listen",
            &listen,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(line.contains("listening on grpc://"), "serve said {line:?}");
    let _serve = Node(serve);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{listen}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = FlightSqlServiceClient::new(channel);
        let info = client
            .execute("SELECT sum(x) AS s FROM t WHERE x > 9000".into(), None)
            .await
            .unwrap();
        let mut batches: Vec<RecordBatch> = Vec::new();
        for endpoint in info.endpoint {
            let stream = client.do_get(endpoint.ticket.unwrap()).await.unwrap();
            batches.extend(stream.try_collect::<Vec<_>>().await.unwrap());
        }
        let sum: i64 = batches
            .iter()
            .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
            .sum();
        assert_eq!(sum, (9001..=10_000).sum::<i64>());
        let err = client
            .execute_update("INSERT INTO t VALUES (1)".into(), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("local-only"), "{err}");
    });
    // The same table named with --table and with CREATE EXTERNAL TABLE, on the cluster.
    let want = rows(&format!(r#"{{"s":{}}}"#, (9001..=10_000).sum::<i64>()));
    let by_table = sql(
        root,
        &[
            "--table",
            "tt=db/t",
            "--cluster",
            &url,
            "SELECT sum(x) AS s FROM tt WHERE x > 9000",
        ],
    );
    assert_eq!(rows(&stdout_of(by_table, "--table on the cluster")), want);
    let external = "CREATE EXTERNAL TABLE e STORED AS QUIVER LOCATION 'db/t'; \
                    SELECT sum(x) AS s FROM e WHERE x > 9000;";
    let by_external = sql(root, &["--cluster", &url, external]);
    assert_eq!(
        rows(&stdout_of(by_external, "STORED AS QUIVER on the cluster")),
        want
    );
    drop(nodes);
}
