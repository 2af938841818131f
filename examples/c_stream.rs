//! Hand a scan to another library over the Arrow C Stream interface, without copying: the
//! consumer here is arrow-rs's own C stream reader, standing in for pyarrow, DuckDB or
//! Polars, which read the same `ArrowArrayStream` struct.
//!
//! Run with `cargo run --example c_stream`.

use std::sync::Arc;

use arrow::array::{AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::ffi_stream::ArrowArrayStreamReader;
use quiver_store::{Table, TableWriter};

fn main() -> quiver_store::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| quiver_store::Error::io("/tmp", "create", e))?;
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Int64Array::from_iter_values(0..100_000))],
    )?;
    let mut writer = TableWriter::create(dir.path(), schema)?;
    writer.write(&batch)?;
    writer.commit()?;

    let table = Table::open(dir.path())?;
    let mapping = table.segments()[0].mapping_range();

    // The producer side: a C struct with `get_schema` / `get_next` / `release` callbacks.
    let stream = quiver_store::ffi::export_scan(table.scan()?);
    // The table can go: every exported array keeps its segment mapping alive.
    drop(table);

    // The consumer side (what another library does with the struct it was handed).
    let reader = ArrowArrayStreamReader::try_new(stream)?;
    let mut sum = 0i64;
    for batch in reader {
        let batch = batch?;
        let column = batch.column(0).as_primitive::<Int64Type>();
        // Zero-copy: the values the consumer sees are in the segment file's mapping.
        let at = column.values().as_ptr() as usize;
        assert!(mapping.contains(&at), "the buffer is the mapping itself");
        sum += column.values().iter().sum::<i64>();
        println!(
            "batch of {} rows at {at:#x}, inside the mapping",
            column.len()
        );
    }
    assert_eq!(sum, (0..100_000).sum::<i64>());
    println!("sum {sum}");
    Ok(())
}

/// `cargo test` runs the example (`test = true` in Cargo.toml).
#[test]
fn runs() {
    main().unwrap();
}
