//! `quiver info`: what a table holds, from its metadata alone (no column data is read).

use std::path::PathBuf;

use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::human_bytes;
use quiver_store::stats::decode_bound;
use quiver_store::ColumnStats;
use quiver_store::Placement;
use quiver_store::Result;

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
    /// Segments holding the column dense, in the overflow bag, and not at all.
    dense: usize,
    bag: usize,
    absent: usize,
    /// Per segment holding the column dense: its encoding, stored and raw-layout bytes.
    encodings: Vec<(String, u64, u64)>,
}

impl ColumnInfo {
    /// The dense segments' encoding: one description if they agree (`packed 12-bit`), else
    /// each kind with its segment count (`dict 4, raw 1`).
    fn encoding(&self) -> String {
        let Some((first, ..)) = self.encodings.first() else {
            return "-".into();
        };
        if self.encodings.iter().all(|(e, ..)| e == first) {
            return first.clone();
        }
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for (e, ..) in &self.encodings {
            let kind = e.split(' ').next().unwrap_or_default();
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind, 1)),
            }
        }
        if let [(kind, _)] = kinds[..] {
            return kind.to_owned();
        }
        let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        parts.join(", ")
    }

    /// Bytes of the dense storage in the files, and in the raw layout.
    fn bytes(&self) -> (u64, u64) {
        self.encodings
            .iter()
            .fold((0, 0), |(s, r), (_, stored, raw)| (s + stored, r + raw))
    }

    /// Stored bytes as a share of the raw layout's ("-" without dense storage).
    fn ratio(&self) -> String {
        match self.bytes() {
            (_, 0) => "-".into(),
            (stored, raw) => format!("{:.2}", stored as f64 / raw as f64),
        }
    }

    /// "dense", "bag", or e.g. "bag 3/5" when segments differ.
    fn storage(&self) -> String {
        let total = self.dense + self.bag + self.absent;
        match (self.dense, self.bag) {
            (_, 0) => "dense".into(),
            (0, b) if b == total => "bag".into(),
            (_, b) => format!("bag {b}/{total}"),
        }
    }
}

/// Runs `quiver info`.
pub fn run(args: InfoArgs) -> Result<()> {
    let table = super::open(&args.table, args.version)?;
    let versions = quiver_store::Table::versions(&args.table)?;
    let bytes: u64 = table.segments().iter().map(|s| s.file_len()).sum();
    // Statistics describe stored rows, deleted ones included.
    let stored_rows: u64 = table.segments().iter().map(|s| s.num_rows() as u64).sum();
    let deleted = |s: usize| table.deleted_rows(s).map_or(0, |d| d.deleted() as u64);
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
                .map(|s| (s.stats(i), s.num_rows() as u64))
                .collect();
            let count = |f: fn(Placement) -> bool| {
                table
                    .segments()
                    .iter()
                    .filter(|s| f(s.placement(i)))
                    .count()
            };
            let bounds = quiver_store::stats::merge_bounds(&stats, read_type);
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
                dense: count(|s| matches!(s, Placement::Dense(_))),
                bag: count(|s| matches!(s, Placement::Bag(_))),
                absent: count(|s| s == Placement::Absent),
                encodings: table
                    .segments()
                    .iter()
                    .filter_map(|s| s.column_storage(i))
                    .collect(),
            }
        })
        .collect();
    if args.json {
        let segments: Vec<serde_json::Value> = table
            .segments()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                serde_json::json!({
                    "name": s.path().file_name().map(|n| n.to_string_lossy()),
                    "rows": s.num_rows() as u64 - deleted(i),
                    "deleted_rows": deleted(i),
                    "bytes": s.file_len(),
                    "zones": s.zone_count(),
                    "bag_keys": s.bag_key_count(),
                    "sort_key": s.sort_key(),
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
                    "fill_rate": fill_rate(c.nulls, stored_rows),
                    "encoding": c.encoding(),
                    "bytes": c.bytes().0,
                    "raw_bytes": c.bytes().1,
                    "storage": {
                        "dense_segments": c.dense,
                        "bag_segments": c.bag,
                        "absent_segments": c.absent,
                    },
                })
            })
            .collect();
        let doc = serde_json::json!({
            "table": args.table.display().to_string(),
            "version": table.version(),
            "versions": versions,
            "rows": table.num_rows(),
            "deleted_rows": stored_rows - table.num_rows(),
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
        quiver_store::describe_versions(&versions)
    );
    println!(
        "rows      {} in {} segments, {} on disk",
        table.num_rows(),
        table.segments().len(),
        human_bytes(bytes)
    );
    let with_deletions: Vec<usize> = (0..table.segments().len())
        .filter(|&i| deleted(i) > 0)
        .collect();
    if !with_deletions.is_empty() {
        println!(
            "deleted   {} rows hidden by deletion vectors in {} of {} segments (the null counts and min/max below still count them; `quiver optimize` drops them)",
            stored_rows - table.num_rows(),
            with_deletions.len(),
            table.segments().len()
        );
        for i in with_deletions {
            let segment = &table.segments()[i];
            println!(
                "          {}: {} of {} rows deleted",
                segment
                    .path()
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                deleted(i),
                segment.num_rows()
            );
        }
    }
    let sorted = table
        .segments()
        .iter()
        .filter(|s| s.sort_key().is_some())
        .count();
    if let Some(key) = table.segments().iter().find_map(|s| s.sort_key()) {
        println!(
            "sorted    {sorted} of {} segments by {}",
            table.segments().len(),
            key.join(", ")
        );
    }
    let in_bag = columns.iter().filter(|c| c.bag > 0).count();
    if in_bag > 0 {
        println!("overflow  {in_bag} columns live in the overflow bag (fill rate under the threshold in a segment)");
    }
    println!();
    let mut grid = comfy_table::Table::new();
    grid.load_preset(comfy_table::presets::UTF8_HORIZONTAL_ONLY)
        .set_header([
            "column", "type", "nullable", "nulls", "fill", "storage", "encoding", "bytes", "ratio",
            "min", "max",
        ]);
    for c in &columns {
        grid.add_row([
            c.name.clone(),
            c.data_type.clone(),
            if c.nullable { "yes" } else { "no" }.to_owned(),
            c.nulls.to_string(),
            format!("{:.2}%", 100.0 * fill_rate(c.nulls, stored_rows)),
            c.storage(),
            c.encoding(),
            human_bytes(c.bytes().0),
            c.ratio(),
            c.min.clone().unwrap_or_else(|| "-".into()),
            c.max.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    for numeric in [3, 4, 7, 8] {
        if let Some(column) = grid.column_mut(numeric) {
            column.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    println!("{grid}");
    Ok(())
}

/// Share of rows holding a value (1 for an empty table).
fn fill_rate(nulls: u64, rows: u64) -> f64 {
    if rows == 0 {
        1.0
    } else {
        1.0 - nulls as f64 / rows as f64
    }
}
