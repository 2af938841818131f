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
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
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

/// One column's description.
struct ColumnInfo {
    name: String,
    data_type: String,
    nullable: bool,
    nulls: u64,
    min: Option<String>,
    max: Option<String>,
}

/// Runs `quiver info`.
pub fn run(args: InfoArgs) -> Result<()> {
    let table = super::open(&args.table, args.version)?;
    let versions = crate::Table::versions(&args.table)?;
    let bytes: u64 = table.segments().iter().map(|s| s.file().file_len()).sum();
    let schema = table.schema();
    let source = table.source_schema();
    let columns: Vec<ColumnInfo> = source
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let read_type = schema.field(i).data_type();
            // Table-wide bounds: the segments' bounds, compared through Arrow's order.
            let stats: Vec<(&ColumnStats, u64)> = table
                .segments()
                .iter()
                .map(|s| (&s.file().footer().columns[i].stats, s.file().row_count()))
                .collect();
            let bounds = crate::arrow_bridge::stats::merge_bounds(&stats, read_type);
            ColumnInfo {
                name: field.name().clone(),
                data_type: field.data_type().to_string(),
                nullable: field.is_nullable(),
                nulls: stats.iter().map(|(s, _)| s.null_count).sum(),
                min: bounds
                    .as_ref()
                    .map(|(lo, _)| bound_text(Some(lo), read_type)),
                max: bounds
                    .as_ref()
                    .map(|(_, hi)| bound_text(Some(hi), read_type)),
            }
        })
        .collect();
    if args.json {
        let segments: Vec<serde_json::Value> = table
            .segments()
            .iter()
            .zip(&table.manifest().segments)
            .map(|(s, e)| {
                serde_json::json!({
                    "name": e.name,
                    "rows": s.file().row_count(),
                    "bytes": s.file().file_len(),
                    "zones": s.file().footer().columns.first().map_or(0, |c| c.zones.len()),
                })
            })
            .collect();
        let cols: Vec<serde_json::Value> = columns
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "type": c.data_type,
                    "nullable": c.nullable,
                    "null_count": c.nulls,
                    "min": c.min,
                    "max": c.max,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "table": args.table.display().to_string(),
            "version": table.version(),
            "versions": versions,
            "rows": table.num_rows(),
            "bytes": bytes,
            "segments": segments,
            "columns": cols,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(());
    }
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
    println!();
    println!(
        "{:<24} {:<28} {:>8} {:>10}  {:<20} {:<20}",
        "column", "type", "nullable", "nulls", "min", "max"
    );
    for c in &columns {
        println!(
            "{:<24} {:<28} {:>8} {:>10}  {:<20} {:<20}",
            c.name,
            c.data_type,
            if c.nullable { "yes" } else { "no" },
            c.nulls,
            c.min.as_deref().unwrap_or("-"),
            c.max.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
