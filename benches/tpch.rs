//! TPC-H through DataFusion 55, side by side in one process, warm: Quiver tables (strings as
//! `Utf8View`, the default, and as zero-copy `LargeUtf8`), DataFusion over Parquet, and DataFusion over an
//! in-memory `MemTable` of the same data; plus `SELECT SUM(l_extendedprice)` against a plain
//! Rust loop over the same values in memory (the physical limit).
//!
//! Engine `quiver-compact` reads the same tables written with `--encoding compact` (into
//! `quiver-compact/`, from a scan of the raw tables); asking for it also prints the bytes on
//! disk of raw, compact and Parquet, the time to write each table raw and compact from the
//! same scan, and the decode speed of each encoding (GB/s of decoded Arrow bytes, one core).
//! Engine `quiver-dynamic-off` is `quiver` with `SET quiver.dynamic_filter_rows = false`
//! (join and TopK filters only prune zones, never rows). Any engine may carry settings of its
//! own (`quiver@KEY=VALUE@...`, run as `SET` in its session); `--set KEY=VALUE` gives one to
//! every engine.
//!
//! ```sh
//! cargo bench --bench tpch -- --scale 1 --runs 5
//! cargo bench --bench tpch -- --scale 1 --queries 1,6 --engines quiver,memtable
//! cargo bench --bench tpch -- --scale 1 --runs 5 --engines quiver,quiver-compact,parquet
//! cargo bench --bench tpch -- --scale 1 --queries 17 --engines quiver --explain
//! cargo bench --bench tpch -- --scale 1 --engines quiver,quiver@datafusion.execution.batch_size=16384
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
    /// Print each engine's `EXPLAIN ANALYZE` of each query (after the timed runs).
    explain: bool,
    /// `SET key = value` statements run in every engine's session before the queries.
    settings: Vec<(String, String)>,
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
        explain: false,
        settings: Vec::new(),
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
            "--explain" => args.explain = true,
            "--set" => {
                let setting = value();
                let (key, v) = setting.split_once('=').expect("--set takes KEY=VALUE");
                args.settings.push((key.trim().into(), v.trim().into()));
            }
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    args.data = data.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/quiver-bench/sf{}", args.scale))
    });
    args
}

/// Bytes of the files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => bytes_under(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// Writes table `from` again into `to` with `encoding`, from a scan; returns the seconds taken.
fn rewrite(from: &Path, to: &Path, encoding: quiver_store::EncodingSpec) -> f64 {
    let _ = std::fs::remove_dir_all(to);
    let table = quiver_store::Table::open(from).unwrap();
    let start = Instant::now();
    let options = quiver_store::WriteOptions::default().with_encoding(encoding);
    let mut w = quiver_store::TableWriter::create_with(to, table.source_schema(), options).unwrap();
    for b in table.scan().unwrap() {
        w.write(&b.unwrap()).unwrap();
    }
    w.commit().unwrap();
    start.elapsed().as_secs_f64()
}

/// Writes the compact tables (if missing) and reports sizes and write times.
fn ensure_compact(args: &Args, db: &Path, pq: &Path) -> (PathBuf, String) {
    use quiver_store::{EncodingChoice, EncodingSpec};
    let compact = args.data.join("quiver-compact");
    let scratch = args.data.join("quiver-rewrite-raw");
    let mut out = String::from(
        "| table | raw MiB | compact MiB | parquet MiB | compact / parquet | write raw s | write compact s | compact / raw write |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let (mut raw_total, mut compact_total, mut pq_total) = (0, 0, 0);
    for name in quiver_store::tpch::TABLES {
        let dir = compact.join(name);
        // Both writes from the same scan of the raw table, so the ratio is the encoder's cost.
        let raw_s = rewrite(&db.join(name), &scratch, EncodingSpec::default());
        let _ = std::fs::remove_dir_all(&scratch);
        let compact_s = rewrite(
            &db.join(name),
            &dir,
            EncodingSpec::all(EncodingChoice::Compact),
        );
        let (raw, small) = (bytes_under(&db.join(name)), bytes_under(&dir));
        let parquet = std::fs::metadata(pq.join(format!("{name}.parquet"))).map_or(0, |m| m.len());
        raw_total += raw;
        compact_total += small;
        pq_total += parquet;
        out += &format!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.2} | {raw_s:.2} | {compact_s:.2} | {:.2} |\n",
            mib(raw),
            mib(small),
            mib(parquet),
            small as f64 / parquet as f64,
            compact_s / raw_s
        );
    }
    out += &format!(
        "| all | {:.1} | {:.1} | {:.1} | {:.2} | | | |\n",
        mib(raw_total),
        mib(compact_total),
        mib(pq_total),
        compact_total as f64 / pq_total as f64
    );
    (compact, out)
}

/// Decode speed per encoding over the compact tables: every dense column of every segment
/// decoded once, from a fresh open with the decoded-column cache off, timed on one thread
/// (strings in their view form, as SQL reads them; `raw` is building views over the mapping).
fn decode_speeds(compact: &Path) -> String {
    use arrow::array::Array;
    let mut by_kind: std::collections::BTreeMap<String, (u64, f64)> = Default::default();
    // Nothing kept between opens, so every read decodes.
    quiver_store::set_decoded_cache_bytes(0);
    for name in quiver_store::tpch::TABLES {
        let table = quiver_store::Table::open(compact.join(name)).unwrap();
        for c in 0..table.schema().fields().len() {
            for s in table.segments() {
                let Some((encoding, ..)) = s.column_storage(c) else {
                    continue;
                };
                let kind = encoding.split(' ').next().unwrap_or_default().to_owned();
                let fresh = quiver_store::Table::open(compact.join(name)).unwrap();
                let segment = fresh
                    .segments()
                    .iter()
                    .find(|f| f.path() == s.path())
                    .unwrap();
                // Views for strings (what SQL reads), the array itself otherwise.
                let start = Instant::now();
                let array = segment.column_view(c).unwrap();
                let secs = start.elapsed().as_secs_f64();
                let e = by_kind.entry(kind).or_default();
                e.0 += array.get_array_memory_size() as u64;
                e.1 += secs;
            }
        }
    }
    quiver_store::set_decoded_cache_bytes(quiver_store::DEFAULT_DECODED_CACHE_BYTES);
    let mut out = String::from(
        "| storage | decoded GB | seconds | GB/s (one core) |\n|---|---:|---:|---:|\n",
    );
    for (kind, (bytes, secs)) in by_kind {
        out += &format!(
            "| {kind} | {:.2} | {secs:.3} | {:.1} |\n",
            bytes as f64 / 1e9,
            bytes as f64 / 1e9 / secs
        );
    }
    out
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

/// The session of engine `spec`: a kind (`quiver`, `parquet`, ...), optionally followed by
/// `@key=value` settings for that engine alone (`quiver@datafusion.execution.batch_size=16384`).
async fn engine(args: &Args, spec: &str, db: &Path, pq: &Path, compact: &Path) -> QuiverSession {
    let mut parts = spec.split('@');
    let kind = parts.next().unwrap_or_default();
    let mut settings = args.settings.clone();
    for setting in parts {
        let (key, v) = setting
            .split_once('=')
            .expect("engine settings are @KEY=VALUE");
        settings.push((key.into(), v.into()));
    }
    let session = QuiverSession::new(SessionConfig::new());
    let ctx = session.context();
    for name in quiver_store::tpch::TABLES {
        match kind {
            "quiver" | "quiver-dynamic-off" => session.register_table(name, db.join(name)).unwrap(),
            "quiver-compact" => session.register_table(name, compact.join(name)).unwrap(),
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
    if kind == "quiver-dynamic-off" {
        settings.push(("quiver.dynamic_filter_rows".into(), "false".into()));
    }
    for (key, value) in settings {
        let set = format!("SET {key} = '{value}'");
        ctx.sql(&set).await.unwrap().collect().await.unwrap();
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

/// `EXPLAIN ANALYZE` of the last query of `sql` (a `SELECT`); the statements around it run
/// before and after it (Q15's view).
async fn explain_analyze(session: &QuiverSession, sql: &str) -> String {
    let statements: Vec<&str> = sql.split(';').filter(|s| !s.trim().is_empty()).collect();
    let is_query = |s: &&str| {
        let code = s.lines().filter(|l| !l.trim_start().starts_with("--"));
        code.collect::<String>()
            .trim_start()
            .to_lowercase()
            .starts_with("select")
    };
    let at = statements.iter().rposition(is_query).expect("a query");
    let ctx = session.context();
    for s in &statements[..at] {
        ctx.sql(s).await.unwrap().collect().await.unwrap();
    }
    let batches = ctx
        .sql(&format!("EXPLAIN ANALYZE {}", statements[at]))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    for s in &statements[at + 1..] {
        ctx.sql(s).await.unwrap().collect().await.unwrap();
    }
    arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let (db, pq) = ensure_data(&args).await;
    let mut preamble = String::new();
    let mut compact = args.data.join("quiver-compact");
    if args.engines.iter().any(|e| e == "quiver-compact") {
        let (dir, sizes) = ensure_compact(&args, &db, &pq);
        compact = dir;
        let speeds = decode_speeds(&compact);
        eprint!("{sizes}\n{speeds}\n");
        preamble = format!("{sizes}\n{speeds}\n");
    }
    let mut sessions = Vec::new();
    for e in &args.engines {
        sessions.push((e.clone(), engine(&args, e, &db, &pq, &compact).await));
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

    let mut out = preamble;
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
        if args.explain {
            for (engine, s) in &sessions {
                eprintln!("{name} on {engine}:\n{}", explain_analyze(s, sql).await);
            }
        }
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

    if args.engines.iter().any(|e| e == "quiver-compact") {
        let line = format!(
            "\nDecoded columns of the compact tables held after the runs: {:.0} MiB (the cache's budget: {:.0} MiB).\n",
            quiver_store::decoded_cache_bytes() as f64 / (1 << 20) as f64,
            quiver_store::DEFAULT_DECODED_CACHE_BYTES as f64 / (1 << 20) as f64
        );
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
