//! TPC-H through DataFusion 55, side by side in one process, warm: Quiver tables (strings as
//! `Utf8View`, the default, and as zero-copy `LargeUtf8`), DataFusion over Parquet, and DataFusion over an
//! in-memory `MemTable` of the same data; plus `SELECT SUM(l_extendedprice)` against a plain
//! Rust loop over the same values in memory (the physical limit).
//!
//! ```sh
//! cargo bench --bench tpch -- --scale 1 --runs 5
//! cargo bench --bench tpch -- --scale 1 --queries 1,6 --engines quiver,memtable
//! ```
//!
//! Data is generated once into `target/quiver-bench/sf<scale>` (or `--data DIR`) and reused.
//! Prints a Markdown table of medians (ms) and ratios; `--output FILE` also writes it there.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Decimal128Type;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionConfig};
use quiver_store::sql::{QuiverSession, QuiverTableProvider};

struct Args {
    scale: f64,
    data: PathBuf,
    runs: usize,
    queries: Vec<usize>,
    engines: Vec<String>,
    output: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        scale: 1.0,
        data: PathBuf::new(),
        runs: 3,
        queries: (1..=22).collect(),
        engines: ["quiver", "quiver-large", "parquet", "memtable"]
            .map(String::from)
            .to_vec(),
        output: None,
    };
    let mut data = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--scale" => args.scale = value().parse().expect("--scale takes a number"),
            "--data" => data = Some(PathBuf::from(value())),
            "--runs" => args.runs = value().parse().expect("--runs takes a number"),
            "--queries" => {
                args.queries = value()
                    .split(',')
                    .map(|q| q.trim().parse().expect("query number"))
                    .collect()
            }
            "--engines" => args.engines = value().split(',').map(String::from).collect(),
            "--output" => args.output = Some(PathBuf::from(value())),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    args.data = data.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/quiver-bench/sf{}", args.scale))
    });
    args
}

async fn ensure_data(args: &Args) -> (PathBuf, PathBuf) {
    let db = args.data.join("quiver");
    let pq = args.data.join("parquet");
    std::fs::create_dir_all(&pq).unwrap();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for name in quiver_store::tpch::TABLES {
        let dir = db.join(name);
        if quiver_store::Table::open(&dir).is_err() {
            let _ = std::fs::remove_dir_all(&dir);
            eprintln!("generating {name} at scale {} ...", args.scale);
            quiver_store::tpch::write_table(&dir, name, args.scale, threads).unwrap();
        }
        let file = pq.join(format!("{name}.parquet"));
        if !file.exists() {
            let s = QuiverSession::default();
            s.register_table("t", &dir).unwrap();
            s.run_script(&format!(
                "COPY (SELECT * FROM t) TO '{}' STORED AS PARQUET",
                file.display()
            ))
            .await
            .unwrap();
        }
    }
    (db, pq)
}

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/tpch-queries")
}

async fn engine(kind: &str, db: &Path, pq: &Path) -> QuiverSession {
    let session = QuiverSession::new(SessionConfig::new());
    let ctx = session.context();
    for name in quiver_store::tpch::TABLES {
        match kind {
            "quiver" => session.register_table(name, db.join(name)).unwrap(),
            "quiver-large" => {
                let p = QuiverTableProvider::try_new(db.join(name))
                    .unwrap()
                    .with_string_view(false);
                ctx.register_table(name, Arc::new(p)).unwrap();
            }
            "parquet" => ctx
                .register_parquet(
                    name,
                    pq.join(format!("{name}.parquet")).to_str().unwrap(),
                    ParquetReadOptions::default(),
                )
                .await
                .unwrap(),
            "memtable" => {
                let df = ctx
                    .read_parquet(
                        pq.join(format!("{name}.parquet")).to_str().unwrap(),
                        ParquetReadOptions::default(),
                    )
                    .await
                    .unwrap();
                let schema = Arc::new(df.schema().as_arrow().clone());
                let n = ctx.state().config().target_partitions();
                let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
                for (i, b) in df.collect().await.unwrap().into_iter().enumerate() {
                    parts[i % n].push(b);
                }
                ctx.register_table(name, Arc::new(MemTable::try_new(schema, parts).unwrap()))
                    .unwrap();
            }
            other => panic!("unknown engine {other}"),
        }
    }
    session
}

async fn time_query(session: &QuiverSession, sql: &str, runs: usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut rows = 0;
    for i in 0..=runs {
        let start = Instant::now();
        let result = session.run_script(sql).await.unwrap();
        let elapsed = start.elapsed();
        rows = result.map_or(0, |r| r.batches.iter().map(|b| b.num_rows()).sum());
        if i > 0 {
            times.push(elapsed); // run 0 warms caches
        }
    }
    times.sort();
    (times[times.len() / 2], rows)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let (db, pq) = ensure_data(&args).await;
    let mut sessions = Vec::new();
    for e in &args.engines {
        sessions.push((e.clone(), engine(e, &db, &pq).await));
    }
    let mut workloads: Vec<(String, String)> = args
        .queries
        .iter()
        .map(|q| {
            (
                format!("Q{q}"),
                std::fs::read_to_string(queries_dir().join(format!("q{q}.sql"))).unwrap(),
            )
        })
        .collect();
    workloads.push((
        "SUM(l_extendedprice)".into(),
        "SELECT SUM(l_extendedprice) FROM lineitem".into(),
    ));

    let mut out = String::new();
    let header: Vec<String> = args.engines.iter().map(|e| format!("{e} ms")).collect();
    out += &format!(
        "| query | {} | {} |\n",
        header.join(" | "),
        ratio_headers(&args.engines).join(" | ")
    );
    out += &format!(
        "|---|{}\n",
        "---:|".repeat(args.engines.len() + ratio_headers(&args.engines).len())
    );
    for (name, sql) in &workloads {
        let mut medians = Vec::new();
        let mut row_counts = Vec::new();
        for (_, s) in &sessions {
            let (t, rows) = time_query(s, sql, args.runs).await;
            medians.push(t);
            row_counts.push(rows);
        }
        assert!(
            row_counts.windows(2).all(|w| w[0] == w[1]),
            "{name}: engines disagree on row counts {row_counts:?}"
        );
        let cells: Vec<String> = medians.iter().map(|d| ms(*d)).collect();
        let ratios = ratios(&args.engines, &medians);
        let line = format!(
            "| {name} | {} | {} |\n",
            cells.join(" | "),
            ratios.join(" | ")
        );
        eprint!("{line}");
        out += &line;
    }

    // The physical limit: the same SUM as a plain loop over the values in memory.
    let table = quiver_store::Table::open(db.join("lineitem")).unwrap();
    let col = table.schema().index_of("l_extendedprice").unwrap();
    let mut values: Vec<i128> = Vec::new();
    for b in table
        .scan_with(quiver_store::ScanOptions::default().with_projection(vec![col]))
        .unwrap()
    {
        values.extend_from_slice(
            b.unwrap()
                .column(0)
                .as_primitive::<Decimal128Type>()
                .values(),
        );
    }
    let mut times = Vec::new();
    for _ in 0..=args.runs {
        let start = Instant::now();
        let v: &mut [i128] = std::hint::black_box(values.as_mut_slice());
        std::hint::black_box(v.iter().sum::<i128>());
        times.push(start.elapsed());
    }
    times.sort();
    let line = format!(
        "\nPlain Rust loop summing the same {} `l_extendedprice` values in a `Vec<i128>`: {} ms (one thread).\n",
        values.len(),
        ms(times[times.len() / 2])
    );
    out += &line;
    println!("{out}");
    if let Some(path) = &args.output {
        std::fs::write(path, &out).unwrap();
    }
}

fn ratio_headers(engines: &[String]) -> Vec<String> {
    let mut h = Vec::new();
    if engines.iter().any(|e| e == "quiver") {
        for e in engines.iter().filter(|e| *e != "quiver") {
            h.push(format!("{e} / quiver"));
        }
    }
    h
}

fn ratios(engines: &[String], medians: &[Duration]) -> Vec<String> {
    let Some(q) = engines.iter().position(|e| e == "quiver") else {
        return Vec::new();
    };
    engines
        .iter()
        .zip(medians)
        .filter(|(e, _)| *e != "quiver")
        .map(|(_, d)| format!("{:.2}", d.as_secs_f64() / medians[q].as_secs_f64()))
        .collect()
}
