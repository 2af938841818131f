//! Crash safety and disk-full, proven on the real binary: imports, SQL `DELETE` / `UPDATE`
//! and `optimize` killed with SIGKILL at random points leave the table openable at exactly its
//! last committed version with every committed row intact (and a change either wholly there or
//! not at all), and their leftovers are removed by the next writer or `vacuum`; an
//! import that hits a file-size limit (RLIMIT_FSIZE) fails with a clear error and leaves the
//! previous version intact.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use quiver_store::io::{export_batches, ExportOptions};
use quiver_store::{vacuum, Table};
use rand::{Rng, SeedableRng};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quiver"))
}

/// TPC-H `orders` at scale 0.01 (15,000 rows) as a Parquet file.
fn orders_parquet(dir: &Path) -> PathBuf {
    let (schema, batches) = quiver_store::tpch::batches("orders", 0.01, 1, 1, 2_000).unwrap();
    let path = dir.join("orders.parquet");
    let options = ExportOptions::default().with_row_group_size(3_000);
    export_batches(schema, batches, &path, &options, &mut |_| {}).unwrap();
    path
}

/// `quiver import -q input table`, which must succeed.
fn import_new(input: &Path, table: &Path) {
    let status = Command::new(binary())
        .args(["import", "-q"])
        .arg(input)
        .arg(table)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `quiver import -q --mode append --segment-rows 1500 input table` (not yet started).
fn append_command(input: &Path, table: &Path) -> Command {
    let mut c = Command::new(binary());
    c.args(["import", "-q", "--mode", "append", "--segment-rows", "1500"])
        .arg(input)
        .arg(table)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Rows and the sum of `o_orderkey` of the newest version, after a full `verify`.
fn content(table: &Path) -> (u64, u64, i64) {
    let t = Table::open(table).unwrap_or_else(|e| panic!("the table must open: {e}"));
    t.verify()
        .unwrap_or_else(|e| panic!("version {} must verify: {e}", t.version()));
    let key = t.schema().index_of("o_orderkey").unwrap();
    let options = quiver_store::ScanOptions::default().with_projection(vec![key]);
    let sum: i64 = t
        .scan_with(options)
        .unwrap()
        .map(|b| {
            let b = b.unwrap();
            b.column(0)
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .sum::<i64>()
        })
        .sum();
    (t.version(), t.num_rows(), sum)
}

/// Files no published manifest accounts for: temp files, spill files, unreferenced segments.
fn leftovers(table: &Path) -> Vec<String> {
    let mut referenced = std::collections::HashSet::new();
    for v in Table::versions(table).unwrap() {
        for s in &Table::open_version(table, v).unwrap().manifest().segments {
            referenced.insert(s.name.clone());
            if let Some(d) = &s.deletions {
                referenced.insert(d.name.clone());
            }
        }
    }
    std::fs::read_dir(table)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| {
            !n.starts_with(".quiver-") && !n.ends_with(".manifest") && !referenced.contains(n)
        })
        .collect()
}

#[test]
fn imports_killed_at_random_points_leave_the_last_committed_version_intact() {
    let dir = tempfile::tempdir().unwrap();
    let input = orders_parquet(dir.path());
    let table = dir.path().join("t");
    import_new(&input, &table);
    let (v1, rows_per_import, sum_per_import) = content(&table);
    assert_eq!((v1, rows_per_import), (1, 15_000));

    // How long an uninterrupted append takes (median of 3), to spread the kills over it.
    let mut times: Vec<Duration> = (0..3)
        .map(|_| {
            let start = Instant::now();
            assert!(append_command(&input, &table).status().unwrap().success());
            start.elapsed()
        })
        .collect();
    times.sort();
    let full = times[1];
    let mut committed = 4u64;

    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x51_61_4b);
    let (mut killed_mid_run, mut finished, mut left_files) = (0, 0, 0);
    // Until 50 kills have landed mid-import (however fast or slow this machine is today).
    let mut run = 0;
    while killed_mid_run < 50 {
        assert!(
            run < 200,
            "only {killed_mid_run} of {run} kills landed mid-import"
        );
        run += 1;
        let delay = full.mul_f64(rng.random_range(0.0..1.1));
        let mut child = append_command(&input, &table).spawn().unwrap();
        std::thread::sleep(delay);
        let ended_alone = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if ended_alone {
            assert!(
                out.status.success(),
                "run {run}: the import failed on its own: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            finished += 1;
        } else {
            killed_mid_run += 1;
        }
        let (version, rows, sum) = content(&table);
        // Killed before publishing: the previous version; after: the new one. Nothing else.
        assert!(
            version == committed || version == committed + 1,
            "run {run}: version {version} after version {committed}"
        );
        committed = version;
        assert_eq!(rows, committed * rows_per_import, "run {run}: rows");
        assert_eq!(
            sum,
            committed as i64 * sum_per_import,
            "run {run}: checksum"
        );
        if !leftovers(&table).is_empty() {
            left_files += 1;
        }
    }
    assert!(
        killed_mid_run >= 50,
        "only {killed_mid_run} kills landed mid-import"
    );
    assert!(
        left_files > 0,
        "no kill ever left a file behind: the kills missed the writes"
    );
    eprintln!(
        "{killed_mid_run} imports killed mid-run, {finished} finished first, {left_files} runs \
         left files behind; {committed} versions committed"
    );

    // The next writer removes what crashed writers left (no other writer is live).
    assert!(append_command(&input, &table).status().unwrap().success());
    assert_eq!(leftovers(&table), Vec::<String>::new());
    let (version, rows, _) = content(&table);
    assert_eq!(
        (version, rows),
        (committed + 1, (committed + 1) * rows_per_import)
    );
}

#[test]
fn kill_leftovers_are_removed_by_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let input = orders_parquet(dir.path());
    let table = dir.path().join("t");
    import_new(&input, &table);
    // Kill appends until one leaves files behind.
    let mut delay = Duration::from_millis(5);
    for _ in 0..40 {
        let mut child = append_command(&input, &table).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        if !leftovers(&table).is_empty() {
            break;
        }
        delay += Duration::from_millis(5);
    }
    assert!(!leftovers(&table).is_empty(), "no kill left files behind");
    let report = vacuum(&table, usize::MAX).unwrap();
    assert!(!report.skipped_leftovers);
    assert_eq!(leftovers(&table), Vec::<String>::new());
    content(&table);
}

#[test]
fn an_import_that_hits_the_file_size_limit_fails_clearly_and_keeps_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let input = orders_parquet(dir.path());
    let table = dir.path().join("t");
    import_new(&input, &table);
    let before = content(&table);
    let mut cmd = append_command(&input, &table);
    // SAFETY: the closure runs in the forked child before exec and calls only setrlimit and
    // signal, both async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            // A file may grow to 64 KiB: a segment of 1,500 orders rows (~130 KB) cannot.
            let limit = libc::rlimit {
                rlim_cur: 64 << 10,
                rlim_max: 64 << 10,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Without this the kernel kills the process with SIGXFSZ instead of failing write.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(
        stderr.contains(table.to_str().unwrap()),
        "names the table: {stderr}"
    );
    assert_eq!(content(&table), before);
    // Nothing of the failed import is left: its writer removed its own files on the way out.
    assert_eq!(leftovers(&table), Vec::<String>::new());
}

/// The version and the `(o_orderkey, o_custkey)` pairs of the newest version (sorted), after
/// a full `verify`.
fn key_pairs(table: &Path) -> (u64, Vec<(i64, i64)>) {
    let t = Table::open(table).unwrap_or_else(|e| panic!("the table must open: {e}"));
    t.verify()
        .unwrap_or_else(|e| panic!("version {} must verify: {e}", t.version()));
    let schema = t.schema();
    let columns = vec![
        schema.index_of("o_orderkey").unwrap(),
        schema.index_of("o_custkey").unwrap(),
    ];
    let options = quiver_store::ScanOptions::default().with_projection(columns);
    let mut pairs = Vec::new();
    for batch in t.scan_with(options).unwrap() {
        let batch = batch.unwrap();
        let keys = batch.column(0).as_primitive::<Int64Type>();
        let customers = batch.column(1).as_primitive::<Int64Type>();
        pairs.extend(
            keys.values()
                .iter()
                .copied()
                .zip(customers.values().iter().copied()),
        );
    }
    pairs.sort_unstable();
    (t.version(), pairs)
}

/// One row-level change the test kills: the command and the rows it leaves when it commits.
struct Change {
    command: Command,
    after: Vec<(i64, i64)>,
}

/// Change number `run` of the cycle DELETE, UPDATE, optimize, on a table now holding `rows`.
fn change(run: usize, rng: &mut impl Rng, table: &Path, rows: &[(i64, i64)]) -> Change {
    let mut command = Command::new(binary());
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let r = rng.random_range(0..41);
    let after = match run % 3 {
        0 => {
            command
                .args(["sql", "--table"])
                .arg(format!("t={}", table.display()))
                .arg(format!("DELETE FROM t WHERE o_orderkey % 41 = {r}"));
            rows.iter().copied().filter(|(k, _)| k % 41 != r).collect()
        }
        1 => {
            command
                .args(["sql", "--table"])
                .arg(format!("t={}", table.display()))
                .arg(format!(
                    "UPDATE t SET o_custkey = o_custkey + 1 WHERE o_orderkey % 7 = {}",
                    r % 7
                ));
            let mut after: Vec<(i64, i64)> = rows
                .iter()
                .map(|&(k, c)| (k, if k % 7 == r % 7 { c + 1 } else { c }))
                .collect();
            after.sort_unstable();
            after
        }
        _ => {
            command
                .args([
                    "optimize",
                    "--target-rows",
                    "6000",
                    "--deleted-fraction",
                    "0.02",
                ])
                .arg(table);
            rows.to_vec()
        }
    };
    Change { command, after }
}

#[test]
fn deletes_updates_and_optimize_killed_at_random_points_commit_wholly_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let input = orders_parquet(dir.path());
    let table = dir.path().join("t");
    let status = Command::new(binary())
        .args(["import", "-q", "--segment-rows", "1500"])
        .arg(&input)
        .arg(&table)
        .status()
        .unwrap();
    assert!(status.success());
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0xde1e7e);
    let (mut version, mut rows) = key_pairs(&table);
    // How long each kind of change takes uninterrupted, to spread the kills over it.
    let mut full = Vec::new();
    for run in 0..3 {
        let mut c = change(run, &mut rng, &table, &rows);
        let start = Instant::now();
        let out = c.command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        full.push(start.elapsed());
        (version, rows) = key_pairs(&table);
        assert_eq!(rows, c.after, "uninterrupted change {run}");
    }
    let (mut kept, mut committed, mut left_files) = (0, 0, 0);
    for run in 0..60 {
        let mut c = change(run, &mut rng, &table, &rows);
        let delay = full[run % 3].mul_f64(rng.random_range(0.0..1.1));
        let mut child = c.command.spawn().unwrap();
        std::thread::sleep(delay);
        let ended_alone = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if ended_alone {
            assert!(
                out.status.success(),
                "run {run}: the change failed on its own: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (now, now_rows) = key_pairs(&table);
        if now == version {
            assert_eq!(
                now_rows, rows,
                "run {run}: killed before its commit, yet rows changed"
            );
            kept += 1;
        } else {
            assert_eq!(now, version + 1, "run {run}: version {now} after {version}");
            assert_eq!(
                now_rows, c.after,
                "run {run}: the committed change is not whole"
            );
            committed += 1;
        }
        (version, rows) = (now, now_rows);
        if !leftovers(&table).is_empty() {
            left_files += 1;
        }
    }
    eprintln!(
        "60 killed changes: {kept} left the previous version, {committed} committed, \
         {left_files} left files behind"
    );
    assert!(
        kept > 0 && committed > 0,
        "{kept} kept, {committed} committed"
    );
    // The next writer (or vacuum) removes what the killed ones left.
    vacuum(&table, usize::MAX).unwrap();
    assert_eq!(leftovers(&table), Vec::<String>::new());
    assert_eq!(key_pairs(&table), (version, rows));
}
