//! TPC-H data generated in-process (`tpchgen` / `tpchgen-arrow`), for the demo, the benchmarks
//! and the integration tests.
//!
//! # Contract
//! - [`batches`] yields the rows of one TPC-H table at a scale factor as Arrow batches, exactly
//!   as `tpchgen-arrow` produces them (strings as `Utf8View`, money as `Decimal128(15, 2)`).
//! - `part`/`parts` split a table into disjoint, contiguous pieces for parallel generation.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

use crate::error::{Error, Result};

/// The eight TPC-H tables, by their lowercase names.
pub const TABLES: [&str; 8] = [
    "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier",
];

/// A stream of generated batches.
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// The schema and batches of `part` (1-based) of `parts` of TPC-H table `table` at scale
/// factor `scale`, `batch_size` rows per batch.
pub fn batches(
    table: &str,
    scale: f64,
    part: i32,
    parts: i32,
    batch_size: usize,
) -> Result<(SchemaRef, Batches)> {
    fn boxed<I>(schema: SchemaRef, it: I) -> (SchemaRef, Batches)
    where
        I: Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>>
            + Send
            + 'static,
    {
        (schema, Box::new(it.map(|b| b.map_err(Error::from))))
    }
    if scale.is_nan() || scale <= 0.0 || part < 1 || part > parts {
        return Err(Error::invalid(format!(
            "TPC-H scale {scale} part {part} of {parts} is not valid"
        )));
    }
    Ok(match table {
        "customer" => boxed(
            CustomerArrow::schema_ref(),
            CustomerArrow::new(CustomerGenerator::new(scale, part, parts))
                .with_batch_size(batch_size),
        ),
        "lineitem" => boxed(
            LineItemArrow::schema_ref(),
            LineItemArrow::new(LineItemGenerator::new(scale, part, parts))
                .with_batch_size(batch_size),
        ),
        "nation" => boxed(
            NationArrow::schema_ref(),
            NationArrow::new(NationGenerator::new(scale, part, parts)).with_batch_size(batch_size),
        ),
        "orders" => boxed(
            OrderArrow::schema_ref(),
            OrderArrow::new(OrderGenerator::new(scale, part, parts)).with_batch_size(batch_size),
        ),
        "part" => boxed(
            PartArrow::schema_ref(),
            PartArrow::new(PartGenerator::new(scale, part, parts)).with_batch_size(batch_size),
        ),
        "partsupp" => boxed(
            PartSuppArrow::schema_ref(),
            PartSuppArrow::new(PartSuppGenerator::new(scale, part, parts))
                .with_batch_size(batch_size),
        ),
        "region" => boxed(
            RegionArrow::schema_ref(),
            RegionArrow::new(RegionGenerator::new(scale, part, parts)).with_batch_size(batch_size),
        ),
        "supplier" => boxed(
            SupplierArrow::schema_ref(),
            SupplierArrow::new(SupplierGenerator::new(scale, part, parts))
                .with_batch_size(batch_size),
        ),
        other => {
            return Err(Error::invalid(format!(
                "unknown TPC-H table \"{other}\" (expected one of {})",
                TABLES.join(", ")
            )))
        }
    })
}

/// Generates TPC-H table `table` at `scale` into a new Quiver table at `dir`, using up to
/// `threads` generator threads. Returns the committed version's row count.
pub fn write_table(dir: &std::path::Path, table: &str, scale: f64, threads: usize) -> Result<u64> {
    let parts = if matches!(table, "nation" | "region") {
        1
    } else {
        threads.max(1) as i32
    };
    let (schema, _) = batches(table, scale, 1, parts, 1)?;
    let mut writer = crate::TableWriter::create(dir, schema)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordBatch>>(4);
    std::thread::scope(|s| -> Result<()> {
        // Parts are generated in parallel; their batches are written in any order (row order
        // across parts is not part of TPC-H).
        for part in 1..=parts {
            let tx = tx.clone();
            s.spawn(move || {
                let it = match batches(table, scale, part, parts, 65_536) {
                    Ok((_, it)) => it,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                for b in it {
                    if tx.send(b).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for b in rx {
            writer.write(&b?)?;
        }
        Ok(())
    })?;
    let rows = writer.rows_written();
    writer.commit()?;
    Ok(rows)
}
