//! Write a table, scan it zero-copy, and read rows by position.
//!
//! Run with `cargo run --example write_scan_take`.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use quiver_store::{ScanOptions, Table, TableWriter, WriteOptions};

fn main() -> quiver_store::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| quiver_store::Error::io("/tmp", "create", e))?;
    let path = dir.path().join("trips");

    // 1. Write: batches go through one writer and commit as one version (all or nothing).
    //    Small segments here, so the scan below crosses segment boundaries.
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("city", DataType::Utf8, true),
        Field::new("km", DataType::Float64, false),
    ]));
    let options = WriteOptions::default().with_segment_rows(4_000);
    let mut writer = TableWriter::create_with(&path, Arc::clone(&schema), options)?;
    for chunk in 0..10i64 {
        let ids: Vec<i64> = (chunk * 1_000..(chunk + 1) * 1_000).collect();
        let cities: Vec<Option<&str>> = ids
            .iter()
            .map(|i| ["Oslo", "Lima", "Kyiv"].get(*i as usize % 4).copied())
            .collect();
        let km: Vec<f64> = ids.iter().map(|&i| i as f64 * 0.5).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(cities)),
                Arc::new(Float64Array::from(km)),
            ],
        )?;
        writer.write(&batch)?;
    }
    let version = writer.commit()?;
    println!("committed version {version}");

    // 2. Open: reads only metadata, whatever the table's size.
    let table = Table::open(&path)?;
    println!(
        "{} rows in {} segments",
        table.num_rows(),
        table.segments().len()
    );

    // 3. Scan two columns: each batch's buffers are slices of the segment mappings.
    let mut total_km = 0.0;
    let scan = table.scan_with(ScanOptions::default().with_projection(vec![0, 2]))?;
    for batch in scan {
        let batch = batch?;
        total_km += batch
            .column(1)
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .sum::<f64>();
    }
    println!("total km: {total_km}");
    assert_eq!(total_km, (0..10_000).map(|i| i as f64 * 0.5).sum::<f64>());

    // 4. Take rows by position: any order, repeats allowed; strings come back as LargeUtf8.
    let rows = table.take(&[9_999, 0, 4_001])?;
    let ids = rows.column(0).as_primitive::<Int64Type>();
    let cities = rows.column(1).as_string::<i64>();
    for i in 0..rows.num_rows() {
        let city = if cities.is_null(i) {
            "NULL"
        } else {
            cities.value(i)
        };
        println!("row {}: city {city}", ids.value(i));
    }
    assert_eq!(ids.values(), &[9_999, 0, 4_001]);
    Ok(())
}

/// `cargo test` runs the example (`test = true` in Cargo.toml).
#[test]
fn runs() {
    main().unwrap();
}
