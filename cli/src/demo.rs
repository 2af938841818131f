//! `quiver demo`: the README's main job. Generates the TPC-H tables in-process, stores them as
//! Quiver tables and as Parquet files, times what Quiver is for — opening, scanning a column,
//! random access — next to the same values held in an in-memory `Vec` (the physical limit), then
//! runs TPC-H queries over Quiver and over the Parquet files side by side.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Decimal128Type;

use super::human_bytes;
use datafusion::prelude::ParquetReadOptions;

use quiver_store::sql::{QueryResult, QuiverSession};
use quiver_store::{Error, Result};
use quiver_store::{ScanOptions, Table};

/// Arguments of `quiver demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// TPC-H scale factor (1.0 is 6M lineitem rows, about 1.5 GB as Quiver tables).
    #[arg(long, default_value_t = 0.1)]
    pub scale: f64,
    /// Directory for the tables (default: a temporary directory, removed afterwards). Tables
    /// already there are reused.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Generator threads.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(2, |n| n.get()))]
    pub threads: usize,
}

/// Median wall time of `runs` calls of `f`.
fn median_time<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(std::hint::black_box(f()?));
        times.push(start.elapsed());
    }
    times.sort();
    let out = last.ok_or_else(|| Error::invalid("at least one run is needed"))?;
    Ok((times[times.len() / 2], out))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// TPC-H queries the demo runs (see `queries/README.md`).
const QUERIES: [(&str, &str); 7] = [
    ("Q1", include_str!("queries/q1.sql")),
    ("Q3", include_str!("queries/q3.sql")),
    ("Q5", include_str!("queries/q5.sql")),
    ("Q6", include_str!("queries/q6.sql")),
    ("Q10", include_str!("queries/q10.sql")),
    ("Q12", include_str!("queries/q12.sql")),
    ("Q14", include_str!("queries/q14.sql")),
];

/// Runs `quiver demo`.
pub fn run(args: DemoArgs, quiet: bool) -> Result<()> {
    let tmp;
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("quiver-demo-")
                .tempdir()
                .map_err(|e| Error::io(std::env::temp_dir(), "create a directory in", e))?;
            tmp.path().to_path_buf()
        }
    };
    let db = root.join("quiver");
    let pq = root.join("parquet");
    std::fs::create_dir_all(&pq).map_err(|e| Error::io(&pq, "create directory", e))?;
    let start = Instant::now();
    let mut total_rows = 0;
    for name in quiver_store::tpch::TABLES {
        let dir = db.join(name);
        if Table::open(&dir).is_err() {
            if !quiet {
                eprintln!("generating TPC-H {name} at scale {} ...", args.scale);
            }
            let _ = std::fs::remove_dir_all(&dir);
            total_rows += quiver_store::tpch::write_table(&dir, name, args.scale, args.threads)?;
        }
    }
    let build = start.elapsed();
    let start = Instant::now();
    for name in quiver_store::tpch::TABLES {
        let file = pq.join(format!("{name}.parquet"));
        if !file.exists() {
            let table = Table::open(db.join(name))?;
            quiver_store::io::export_table(&table, None, &file, &Default::default(), &mut |_| {})?;
        }
    }
    let export = start.elapsed();

    let dir = db.join("lineitem");
    let (open, table) = median_time(5, || Table::open(&dir))?;
    let rows = table.num_rows();
    let bytes: u64 = table.segments().iter().map(|s| s.file_len()).sum();
    let price = table
        .schema()
        .index_of("l_extendedprice")
        .map_err(|e| Error::invalid(e.to_string()))?;

    // The same values in memory: the physical limit for a scan.
    let mut in_memory: Vec<i128> = Vec::with_capacity(rows as usize);
    for batch in table.scan_with(ScanOptions::default().with_projection(vec![price]))? {
        in_memory.extend_from_slice(batch?.column(0).as_primitive::<Decimal128Type>().values());
    }
    let (quiver_scan, quiver_sum) = median_time(5, || {
        let mut sum = 0i128;
        for batch in table.scan_with(ScanOptions::default().with_projection(vec![price]))? {
            sum += batch?
                .column(0)
                .as_primitive::<Decimal128Type>()
                .values()
                .iter()
                .sum::<i128>();
        }
        Ok(sum)
    })?;
    let (vec_scan, vec_sum) = median_time(5, || {
        // `&mut` through black_box: the optimizer must assume the values changed between runs.
        let values: &mut [i128] = std::hint::black_box(in_memory.as_mut_slice());
        Ok(values.iter().sum::<i128>())
    })?;
    if quiver_sum != vec_sum {
        return Err(Error::invalid(format!(
            "internal error: Quiver's sum {quiver_sum} differs from the in-memory sum {vec_sum}"
        )));
    }
    // 100 pseudo-random rows (a fixed LCG, so runs are comparable).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let picks: Vec<u64> = (0..100)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) % rows.max(1)
        })
        .collect();
    let (take, taken) = median_time(5, || table.take(&picks))?;

    println!("TPC-H scale {}: 8 tables in {}", args.scale, root.display());
    if total_rows > 0 {
        println!(
            "  generate + write + commit {total_rows} rows   {}",
            ms(build)
        );
        println!("  export to Parquet (zstd)                {}", ms(export));
    }
    println!("lineitem: {rows} rows, {} on disk", human_bytes(bytes));
    println!("  open                               {}", ms(open));
    println!(
        "  SUM(l_extendedprice), Quiver scan  {}  ({:.2} GB/s)",
        ms(quiver_scan),
        (rows as f64 * 16.0) / quiver_scan.as_secs_f64() / 1e9
    );
    println!(
        "  same sum over an in-memory Vec     {}  (Quiver / Vec = {:.2}x)",
        ms(vec_scan),
        quiver_scan.as_secs_f64() / vec_scan.as_secs_f64().max(1e-12)
    );
    println!(
        "  take 100 random rows (16 columns)  {}  ({} rows)",
        ms(take),
        taken.num_rows()
    );
    println!();
    run_queries(&db, &pq)
}

/// Runs the demo's TPC-H queries over Quiver and over Parquet, prints Q1's result and the
/// timings side by side.
fn run_queries(db: &std::path::Path, pq: &std::path::Path) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io(db, "start the query runtime", e))?;
    let df = super::sql::external;
    let quiver = QuiverSession::open_db(db, Default::default())?;
    let parquet = QuiverSession::default();
    for name in quiver_store::tpch::TABLES {
        let file = pq.join(format!("{name}.parquet"));
        rt.block_on(parquet.context().register_parquet(
            name,
            file.to_string_lossy().as_ref(),
            ParquetReadOptions::default(),
        ))
        .map_err(df)?;
    }
    let mut lines = Vec::new();
    for (i, (name, sql)) in QUERIES.iter().enumerate() {
        let time = |s: &QuiverSession| -> Result<(Duration, Option<QueryResult>)> {
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..4 {
                let start = Instant::now();
                last = rt.block_on(s.run_script(sql)).map_err(df)?;
                times.push(start.elapsed());
            }
            times.remove(0); // warm-up
            times.sort();
            Ok((times[times.len() / 2], last))
        };
        let (q, result) = time(&quiver)?;
        let (p, _) = time(&parquet)?;
        if i == 0 {
            if let Some(r) = &result {
                println!("TPC-H Q1 over Quiver:");
                println!(
                    "{}",
                    arrow::util::pretty::pretty_format_batches(&r.batches)?
                );
            }
        }
        lines.push(format!(
            "  {name:<4} {:>12} {:>12} {:>9.2}x",
            ms(q),
            ms(p),
            p.as_secs_f64() / q.as_secs_f64().max(1e-12)
        ));
    }
    println!("TPC-H queries, median of 3 warm runs (DataFusion 55 over each):");
    println!(
        "  {:<4} {:>12} {:>12} {:>10}",
        "", "Quiver", "Parquet", "Parquet/Q"
    );
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
