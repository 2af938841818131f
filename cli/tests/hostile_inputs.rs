//! Hostile inputs through the real binary, each import in a child process capped at 2 GiB of
//! address space: truncated and bit-flipped Parquet, Arrow IPC, CSV and NDJSON files, invalid
//! UTF-8, and every file of the Parquet `bad_data/` corpus. Each import either succeeds (a
//! table that verifies) or fails with one `error:` line naming the input — never a panic, a
//! signal, or an allocation beyond the cap.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use quiver_store::io::{export_batches, ExportOptions, Format};
use rand::{Rng, SeedableRng};

/// Runs `quiver import -q input table` under a 2 GiB address-space limit; returns whether it
/// succeeded, after checking it ended the way the module contract says.
fn import_capped(input: &Path, table: &Path, format: &str) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quiver"));
    cmd.args(["import", "-q", "--format", format])
        .arg(input)
        .arg(table);
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // which is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let t = quiver_store::Table::open(table).unwrap();
            t.verify().unwrap();
            true
        }
        Some(1) => {
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
            assert_eq!(lines.len(), 1, "{}: {stderr}", input.display());
            assert!(lines[0].starts_with("error: "), "{stderr}");
            let name = input.file_name().unwrap().to_str().unwrap();
            assert!(
                lines[0].contains(name),
                "the error must name the input: {stderr}"
            );
            assert!(
                !table.exists() || quiver_store::Table::versions(table).unwrap().is_empty(),
                "a failed import published a version"
            );
            false
        }
        _ => panic!(
            "{}: import ended with {:?} (panic, abort or signal): {stderr}",
            input.display(),
            out.status
        ),
    }
}

/// A small valid input of every format, from the same batch.
fn inputs(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("x", DataType::Float64, true),
    ]));
    let n = 400;
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i % 5 != 0).then(|| format!("näme {i} 🦀"))),
            )),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| Some(i as f64 / 3.0)),
            )),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    for (format, ext, name) in [
        (Format::Parquet, "parquet", "parquet"),
        (Format::Ipc, "arrow", "ipc"),
        (Format::Csv, "csv", "csv"),
        (Format::Ndjson, "ndjson", "ndjson"),
    ] {
        let path = dir.join(format!("valid.{ext}"));
        let options = ExportOptions::default()
            .with_format(format)
            .with_row_group_size(100);
        let batches = Box::new(std::iter::once(Ok(batch.clone())));
        export_batches(Arc::clone(&schema), batches, &path, &options, &mut |_| {}).unwrap();
        out.push((path, name));
    }
    out
}

#[test]
fn truncated_and_bit_flipped_inputs_of_every_format_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    // `QUIVER_HOSTILE_ROUNDS=N` multiplies the variants for a longer local run.
    let rounds: usize = std::env::var("QUIVER_HOSTILE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (mut refused, mut imported) = (0, 0);
    for (valid, format) in inputs(dir.path()) {
        let bytes = std::fs::read(&valid).unwrap();
        assert!(import_capped(
            &valid,
            &dir.path().join(format!("ok-{format}")),
            format
        ));
        let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..16 * rounds {
            let cut = rng.random_range(0..bytes.len());
            variants.push((format!("cut{i}"), bytes[..cut].to_vec()));
        }
        for i in 0..32 * rounds {
            let mut b = bytes.clone();
            // Flips near the ends hit headers and footers more often.
            let at = match i % 3 {
                0 => rng.random_range(0..bytes.len().min(64)),
                1 => bytes.len() - 1 - rng.random_range(0..bytes.len().min(256)),
                _ => rng.random_range(0..bytes.len()),
            };
            b[at] ^= 1 << rng.random_range(0..8);
            variants.push((format!("flip{i}"), b));
        }
        for (name, content) in variants {
            if std::env::var("QUIVER_KEEP_HOSTILE").is_ok() {
                std::fs::write(format!("/tmp/hostile-{name}-{format}"), &content).unwrap();
            }
            let path = dir.path().join(format!(
                "{name}-{}",
                valid.file_name().unwrap().to_str().unwrap()
            ));
            std::fs::write(&path, content).unwrap();
            let table = dir.path().join(format!("t-{name}-{format}"));
            if import_capped(&path, &table, format) {
                imported += 1;
            } else {
                refused += 1;
            }
        }
    }
    eprintln!("{refused} damaged inputs refused cleanly, {imported} imported (damage in values)");
    assert!(refused > 40, "only {refused} refused");
}

#[test]
fn invalid_utf8_in_text_inputs_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, b"id,name\n1,ok\n2,bad \xff\xfe here\n").unwrap();
    assert!(!import_capped(&csv, &dir.path().join("t1"), "csv"));
    let json = dir.path().join("bad.ndjson");
    std::fs::write(
        &json,
        b"{\"id\": 1, \"name\": \"ok\"}\n{\"id\": 2, \"name\": \"\xc3\x28\"}\n",
    )
    .unwrap();
    assert!(!import_capped(&json, &dir.path().join("t2"), "ndjson"));
}

#[test]
fn every_bad_data_parquet_file_is_refused_or_imported_within_the_memory_cap() {
    let corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/parquet-testing/bad_data");
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "the bad_data corpus is missing: {}",
        corpus.display()
    );
    for (i, file) in files.iter().enumerate() {
        import_capped(file, &dir.path().join(format!("t{i}")), "parquet");
    }
}

/// Replaces the first occurrence of `from` in `bytes` at or after `start` with `to`.
fn patch(bytes: &mut [u8], start: usize, from: &[u8], to: &[u8]) {
    let at = start
        + bytes[start..]
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern present");
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn an_ipc_block_or_message_longer_than_the_file_is_refused_before_any_allocation() {
    // Found by the hostile-input sweep: a flipped block length made the IPC reader allocate
    // 64 GiB. Lengths are now checked against the file first.
    let dir = tempfile::tempdir().unwrap();
    let valid = inputs(dir.path())
        .into_iter()
        .find(|(_, f)| *f == "ipc")
        .unwrap()
        .0;
    let mut bytes = std::fs::read(&valid).unwrap();
    let len = bytes.len();
    let footer_len = i32::from_le_bytes(bytes[len - 10..len - 6].try_into().unwrap()) as usize;
    let footer_start = len - 10 - footer_len;
    let body = arrow::ipc::root_as_footer(&bytes[footer_start..len - 10])
        .unwrap()
        .recordBatches()
        .unwrap()
        .get(0)
        .bodyLength();
    patch(
        &mut bytes,
        footer_start,
        &body.to_le_bytes(),
        &(1i64 << 36).to_le_bytes(),
    );
    let file = dir.path().join("huge-block.arrow");
    std::fs::write(&file, &bytes).unwrap();
    assert!(!import_capped(&file, &dir.path().join("t1"), "ipc"));

    // The same batch as an IPC stream, its message claiming a 64 GiB body.
    let schema =
        arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&valid).unwrap(), None)
            .unwrap()
            .schema();
    let batches: Vec<RecordBatch> =
        arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&valid).unwrap(), None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let mut stream = Vec::new();
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut stream, &schema).unwrap();
        w.write(&batches[0]).unwrap();
        w.finish().unwrap();
    }
    // The record batch message follows the schema message; its body length is an i64 in its
    // header. Find a header whose i64 equals the distance to the next message and patch it.
    let mut patched = false;
    let mut pos = 0;
    while pos + 8 <= stream.len() && !patched {
        let meta_len = i32::from_le_bytes(stream[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if meta_len == 0 {
            break;
        }
        let meta = &stream[pos + 8..pos + 8 + meta_len];
        let message = arrow::ipc::root_as_message(meta).unwrap();
        let body = message.bodyLength();
        if body > 0 {
            patch(
                &mut stream,
                pos + 8,
                &body.to_le_bytes(),
                &(1i64 << 36).to_le_bytes(),
            );
            patched = true;
        }
        pos += 8 + meta_len + body as usize;
    }
    assert!(patched);
    let file = dir.path().join("huge-message.arrows");
    std::fs::write(&file, &stream).unwrap();
    assert!(!import_capped(&file, &dir.path().join("t2"), "ipc"));
}

/// Peak resident set size, in MiB, of the children this process waited for.
fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage writes one `rusage` into the zeroed value we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_maxrss as f64 / 1024.0
}

#[test]
fn rows_of_100000_keys_are_refused_and_wide_inputs_import_within_the_memory_cap() {
    let dir = tempfile::tempdir().unwrap();
    // One line with 100,000 keys: more columns than a table may have.
    let wide_row = dir.path().join("wide_row.ndjson");
    let keys: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\":{i}")).collect();
    std::fs::write(&wide_row, format!("{{{}}}\n", keys.join(","))).unwrap();
    assert!(!import_capped(&wide_row, &dir.path().join("t1"), "ndjson"));
    let err = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["import", "-q"])
        .arg(&wide_row)
        .arg(dir.path().join("t1"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(err.contains("100000 columns, more than the 65536"), "{err}");

    // 60,000 keys in one line (under the limit), and 10,000 columns x 500 rows of CSV and
    // NDJSON: each imports inside 2 GiB of address space.
    let keys: Vec<String> = (0..60_000).map(|i| format!("\"k{i}\":{i}")).collect();
    let under = dir.path().join("under.ndjson");
    std::fs::write(&under, format!("{{{}}}\n", keys.join(","))).unwrap();
    assert!(import_capped(&under, &dir.path().join("t2"), "ndjson"));
    assert_eq!(
        quiver_store::Table::open(dir.path().join("t2"))
            .unwrap()
            .schema()
            .fields()
            .len(),
        60_000
    );

    let columns = 10_000;
    let rows = 500;
    let header: Vec<String> = (0..columns).map(|c| format!("c{c}")).collect();
    let mut csv = header.join(",");
    csv.push('\n');
    let mut ndjson = String::new();
    for r in 0..rows {
        let values: Vec<String> = (0..columns)
            .map(|c| ((r * 7 + c) % 1000).to_string())
            .collect();
        csv.push_str(&values.join(","));
        csv.push('\n');
        let pairs: Vec<String> = (0..columns)
            .map(|c| format!("\"c{c}\":{}", (r * 7 + c) % 1000))
            .collect();
        ndjson.push_str(&format!("{{{}}}\n", pairs.join(",")));
    }
    let (wide_csv, wide_json) = (dir.path().join("wide.csv"), dir.path().join("wide.ndjson"));
    std::fs::write(&wide_csv, csv).unwrap();
    std::fs::write(&wide_json, ndjson).unwrap();
    assert!(import_capped(&wide_csv, &dir.path().join("t3"), "csv"));
    assert!(import_capped(&wide_json, &dir.path().join("t4"), "ndjson"));
    for t in ["t3", "t4"] {
        let table = quiver_store::Table::open(dir.path().join(t)).unwrap();
        assert_eq!(
            (table.num_rows(), table.schema().fields().len()),
            (rows as u64, columns)
        );
    }
    eprintln!(
        "peak RSS of the imports: {:.0} MiB",
        children_peak_rss_mib()
    );
}
