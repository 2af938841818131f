//! Imports are one atomic commit: an error in the middle of the input (injected into the batch
//! stream, or a bad second file) leaves the table at its previous version with no new files;
//! exports never leave a partial destination file.
#![cfg(feature = "io")]

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use quiver_store::io::{
    export_batches, import, import_batches, ExportOptions, ImportOptions, Mode,
};
use quiver_store::{Error, Table, WriteOptions};

mod common;
use common::table_files;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]))
}

fn batch(range: std::ops::Range<i64>) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![Arc::new(Int64Array::from_iter_values(range))],
    )
    .unwrap()
}

#[test]
fn an_error_injected_midway_through_an_import_leaves_the_previous_version() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    let options =
        ImportOptions::default().with_write(WriteOptions::default().with_segment_rows(1000));
    import_batches(&t, schema(), [Ok(batch(0..2500))], &options).unwrap();
    let before = table_files(&t);

    // Several segments are written before the stream fails.
    let append = options.clone().with_mode(Mode::Append);
    let stream = (0..10).map(|i| {
        if i == 6 {
            Err(Error::from(quiver_store::ErrorKind::InvalidArgument(
                "injected failure".into(),
            )))
        } else {
            Ok(batch(10_000 + i * 700..10_000 + (i + 1) * 700))
        }
    });
    let err = import_batches(&t, schema(), stream, &append).unwrap_err();
    assert!(err.to_string().contains("injected failure"));
    let table = Table::open(&t).unwrap();
    assert_eq!((table.version(), table.num_rows()), (1, 2500));
    assert_eq!(
        table_files(&t),
        before,
        "the failed import's segments were removed"
    );
}

#[test]
fn a_bad_second_file_aborts_the_whole_multi_file_import() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("a.parquet");
    let bad = tmp.path().join("b.parquet");
    export_batches(
        schema(),
        [Ok(batch(0..100))],
        &good,
        &ExportOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    std::fs::write(&bad, b"PAR1 truncated").unwrap();
    let t = tmp.path().join("t");
    let err = import(
        &[good.clone(), bad.clone()],
        &t,
        &ImportOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("b.parquet"), "{err}");
    assert!(Table::open(&t).is_err(), "nothing was published");
    assert!(
        table_files(&t).iter().all(|n| !n.ends_with(".qseg")),
        "no segment left behind"
    );
}

#[test]
fn a_failed_export_leaves_no_destination_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out.parquet");
    let stream = vec![
        Ok(batch(0..10)),
        Err(Error::from(quiver_store::ErrorKind::InvalidArgument(
            "stream broke".into(),
        ))),
    ];
    let err = export_batches(
        schema(),
        stream,
        &dest,
        &ExportOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("stream broke"));
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}
