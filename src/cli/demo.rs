//! `quiver demo`: the README's main job. Generates TPC-H `lineitem` in-process, stores it as a
//! Quiver table, and times what Quiver is for — opening, scanning a column, random access —
//! next to the same values held in an in-memory `Vec` (the physical limit).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Decimal128Type;

use super::human_bytes;
use crate::error::{Error, Result};
use crate::{ScanOptions, Table};

/// Arguments of `quiver demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// TPC-H scale factor (1.0 is 6M lineitem rows).
    #[arg(long, default_value_t = 0.1)]
    pub scale: f64,
    /// Directory for the tables (default: a temporary directory, removed afterwards).
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

/// Runs `quiver demo`.
pub fn run(args: DemoArgs, quiet: bool) -> Result<()> {
    let tmp;
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempdir()?;
            tmp.0.clone()
        }
    };
    let dir = root.join("lineitem");
    if !quiet {
        eprintln!(
            "generating TPC-H lineitem at scale {} into {} ...",
            args.scale,
            dir.display()
        );
    }
    let start = Instant::now();
    let rows = crate::tpch::write_table(&dir, "lineitem", args.scale, args.threads)?;
    let build = start.elapsed();

    let (open, table) = median_time(5, || Table::open(&dir))?;
    let bytes: u64 = table.segments().iter().map(|s| s.file().file_len()).sum();
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

    println!(
        "TPC-H lineitem, scale {}: {rows} rows, {} on disk",
        args.scale,
        human_bytes(bytes)
    );
    println!("  build (generate + write + commit)  {}", ms(build));
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
    println!(
        "  sum = {}.{:02}",
        quiver_sum / 100,
        (quiver_sum % 100).abs()
    );
    Ok(())
}

/// A temporary directory removed on drop (std has none; `tempfile` is a dev-dependency only).
struct TempDir(PathBuf);

fn tempdir() -> Result<TempDir> {
    let path = std::env::temp_dir().join(format!(
        "quiver-demo-{}-{}",
        std::process::id(),
        crate::native::table_dir::now_micros()
    ));
    std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, "create directory", e))?;
    Ok(TempDir(path))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
