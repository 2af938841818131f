//! Parquet -> Quiver -> Parquet keeps schema, values, nulls and field metadata on Apache's
//! conformance corpus (`../shared/data/parquet-testing/data`): every file either round-trips
//! exactly or is refused with a clear error listed below as a known limitation, with its
//! reason. Every file in `bad_data/` is refused with an error, never a panic.
#![cfg(feature = "io")]

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use quiver_store::io::{export_table, import, ExportOptions, ImportOptions};
use quiver_store::Table;

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/parquet-testing")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

/// Files of the corpus Quiver refuses: (file, reason, a fragment of the error it gives). In each
/// case the reference reader (arrow-rs 59's `ParquetRecordBatchReader`) cannot decode the file
/// either; Quiver reports the file and the decoder's message.
const KNOWN_LIMITATIONS: &[(&str, &str, &str)] = &[
    (
        "dict-page-offset-zero.parquet",
        "its column chunk records dictionary page offset 0; arrow-rs 59 fails to parse the page header there",
        "Expected list element type",
    ),
    (
        "large_string_map.brotli.parquet",
        "one string column chunk holds more than 2 GiB, more than Arrow `Utf8` (32-bit offsets) can address; arrow-rs 59 stops decoding",
        "index overflow decoding byte array",
    ),
    (
        "nation.dict-malformed.parquet",
        "malformed on purpose: its dictionary page header cannot be parsed",
        "Invalid page header",
    ),
];

/// Files of `bad_data/` that arrow-rs 59 decodes without complaint, so Quiver imports them as
/// decoded: (file, why it is accepted).
const ACCEPTED_BAD_DATA: &[(&str, &str)] = &[(
    "ARROW-GH-43605.parquet",
    "valid data: its one column chunk has a dictionary page of exactly one value (0) and one \
     RLE_DICTIONARY data page whose indices use bit width 0 — the right width for a one-entry \
     dictionary (every index is 0). arrow-rs 59 decodes 21,186 rows of 0, which is what the \
     file holds; it is in bad_data/ because it crashed the Go reader. Refusing it would reject \
     a valid file.",
)];

fn read_all(path: &Path) -> Result<(arrow::datatypes::SchemaRef, RecordBatch), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| e.to_string())?;
    let batches: Vec<RecordBatch> = reader
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let all = concat_batches(&schema, &batches).map_err(|e| e.to_string())?;
    Ok((schema, all))
}

#[test]
fn conformance_corpus_round_trips_or_is_refused_as_a_known_limitation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut round_tripped = Vec::new();
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    let files = corpus("data");
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_str().unwrap();
        let table = tmp.path().join(format!("t{i}"));
        let imported = import(
            std::slice::from_ref(file),
            &table,
            &ImportOptions::default(),
            &mut |_| {},
        );
        let known = KNOWN_LIMITATIONS.iter().find(|(f, _, _)| *f == name);
        match (imported, known) {
            (Err(e), Some((_, _, fragment))) => {
                let msg = e.to_string();
                if !msg.contains(name) || !msg.contains(fragment) {
                    failures.push(format!(
                        "{name}: refused, but with an unexpected error: {msg}"
                    ));
                }
                refused.push(name);
                continue;
            }
            (Err(e), None) => {
                failures.push(format!("{name}: import failed: {e}"));
                continue;
            }
            (Ok(_), Some(_)) => {
                failures.push(format!("{name}: listed as a known limitation but imported"));
            }
            (Ok(_), None) => {}
        }
        let out = tmp.path().join(format!("out{i}.parquet"));
        let t = Table::open(&table).unwrap();
        if let Err(e) = export_table(&t, None, &out, &ExportOptions::default(), &mut |_| {}) {
            failures.push(format!("{name}: export failed: {e}"));
            continue;
        }
        let (want_schema, want) =
            read_all(file).expect("the reference reader reads the corpus file");
        let (got_schema, got) = read_all(&out).unwrap();
        if got_schema != want_schema {
            failures.push(format!(
                "{name}: schema differs\n  original: {want_schema:?}\n  exported: {got_schema:?}"
            ));
            continue;
        }
        if got != want {
            failures.push(format!("{name}: values differ"));
            continue;
        }
        round_tripped.push(name);
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        round_tripped.len() >= 40,
        "only {} files round-tripped",
        round_tripped.len()
    );
    eprintln!(
        "{} round-tripped, {} refused as known limitations",
        round_tripped.len(),
        refused.len()
    );
}

#[test]
fn every_bad_data_file_is_refused_with_an_error_naming_it_or_is_a_listed_exception() {
    let tmp = tempfile::tempdir().unwrap();
    let files = corpus("bad_data");
    assert!(!files.is_empty());
    for (i, file) in files.iter().enumerate() {
        let table = tmp.path().join(format!("t{i}"));
        let name = file.file_name().unwrap().to_str().unwrap();
        let accepted = ACCEPTED_BAD_DATA.iter().any(|(f, _)| *f == name);
        match import(
            std::slice::from_ref(file),
            &table,
            &ImportOptions::default(),
            &mut |_| {},
        ) {
            Ok(r) if accepted => {
                let (_, want) = read_all(file).unwrap();
                assert_eq!(r.rows as usize, want.num_rows(), "{name}");
            }
            Ok(r) => panic!("{name}: imported {} rows from a corrupt file", r.rows),
            Err(e) => {
                assert!(
                    !accepted,
                    "{name} is decodable by arrow-rs but was refused: {e}"
                );
                assert!(e.to_string().contains(name), "{name}: {e}");
                // Nothing was published.
                assert!(Table::open(&table).is_err());
            }
        }
    }
}
