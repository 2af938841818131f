//! `quiver info`: what a table holds, from its metadata alone (no column data is read).

use std::path::PathBuf;

use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::human_bytes;
use crate::arrow_bridge::stats::decode_bound;
use crate::error::Result;
use crate::native::footer::ColumnStats;

/// Arguments of `quiver info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The table directory.
    pub table: PathBuf,
    /// The version to describe (default: the newest).
    #[arg(long)]
    pub version: Option<u64>,
}

/// A bound as Arrow displays it, or "-" when unknown.
fn bound_text(bytes: Option<&[u8]>, t: &arrow::datatypes::DataType) -> String {
    let Some(array) = bytes.and_then(|b| decode_bound(b, t)) else {
        return "-".into();
    };
    let options = FormatOptions::default();
    let text = match ArrayFormatter::try_new(array.as_ref(), &options) {
        Ok(f) => f.value(0).to_string(),
        Err(_) => "-".into(),
    };
    text
}

/// Runs `quiver info`.
pub fn run(args: InfoArgs) -> Result<()> {
    let table = super::open(&args.table, args.version)?;
    let versions = crate::Table::versions(&args.table)?;
    let bytes: u64 = table.segments().iter().map(|s| s.file().file_len()).sum();
    println!("table     {}", args.table.display());
    println!(
        "version   {} (published: {})",
        table.version(),
        crate::native::table_dir::describe_versions(&versions)
    );
    println!(
        "rows      {} in {} segments, {} on disk",
        table.num_rows(),
        table.segments().len(),
        human_bytes(bytes)
    );
    let schema = table.schema();
    let source = table.source_schema();
    println!();
    println!(
        "{:<24} {:<28} {:>8} {:>10}  {:<20} {:<20}",
        "column", "type", "nullable", "nulls", "min", "max"
    );
    for (i, field) in source.fields().iter().enumerate() {
        let read_type = schema.field(i).data_type();
        let mut nulls = 0u64;
        let (mut min, mut max) = ("-".to_string(), "-".to_string());
        // Table-wide min/max: the segments' bounds, compared through Arrow's order.
        let stats: Vec<(&ColumnStats, u64)> = table
            .segments()
            .iter()
            .map(|s| (&s.file().footer().columns[i].stats, s.file().row_count()))
            .collect();
        nulls += stats.iter().map(|(s, _)| s.null_count).sum::<u64>();
        if let Some((lo, hi)) = crate::arrow_bridge::stats::merge_bounds(&stats, read_type) {
            min = bound_text(Some(&lo), read_type);
            max = bound_text(Some(&hi), read_type);
        }
        println!(
            "{:<24} {:<28} {:>8} {:>10}  {:<20} {:<20}",
            field.name(),
            field.data_type().to_string(),
            if field.is_nullable() { "yes" } else { "no" },
            nulls,
            min,
            max
        );
    }
    Ok(())
}
