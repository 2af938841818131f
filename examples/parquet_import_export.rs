//! Parquet in and out: write a Parquet file, import it into a Quiver table (one atomic
//! commit), then export the table back to Parquet with zstd compression.
//!
//! Run with `cargo run --example parquet_import_export`.

use std::sync::Arc;

use arrow::array::{Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use quiver_store::io::{export_batches, export_table, import, ExportOptions, ImportOptions};
use quiver_store::Table;

fn main() -> quiver_store::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| quiver_store::Error::io("/tmp", "create", e))?;

    // A Parquet file to start from (any Parquet file would do).
    let schema = Arc::new(Schema::new(vec![
        Field::new("year", DataType::Int32, false),
        Field::new("title", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int32Array::from(vec![1969, 1977, 1984])),
            Arc::new(StringArray::from(vec![
                Some("Abbey Road"),
                None,
                Some("Purple Rain"),
            ])),
        ],
    )?;
    let source = dir.path().join("albums.parquet");
    let batches = Box::new(std::iter::once(Ok(batch)));
    export_batches(
        schema,
        batches,
        &source,
        &ExportOptions::default(),
        &mut |_| {},
    )?;

    // Import: every row goes through the one build path and commits once.
    let table_dir = dir.path().join("albums");
    let report = import(
        &[source],
        &table_dir,
        &ImportOptions::default(),
        &mut |_rows| {},
    )?;
    println!(
        "imported {} rows as version {}",
        report.rows, report.version
    );

    // Export: columns are written in the types they were imported with.
    let table = Table::open(&table_dir)?;
    let dest = dir.path().join("albums-copy.parquet");
    let options = ExportOptions::default().with_row_group_size(2);
    let rows = export_table(&table, None, &dest, &options, &mut |_| {})?;
    println!("exported {rows} rows to {}", dest.display());
    assert_eq!(rows, 3);
    Ok(())
}

/// `cargo test` runs the example (`test = true` in Cargo.toml).
#[test]
fn runs() {
    main().unwrap();
}
