//! Planning a Quiver scan: which zones it reads, what it still evaluates in each, and the
//! statistics it reports.
//!
//! # Contract
//! - [`plan_units`] keeps, in row order, the zones of `table` that the statistics of their
//!   segment and of the zone itself do not rule out, each with the exact filter's conjuncts
//!   left to evaluate there (`zone_proofs.rs`). Counts `segments_pruned` and `zones_pruned`.
//! - [`estimate`] is the statistics of the rows a scan outputs: exact without filters or
//!   limit; with filters, zones passed whole count exactly, the others by DataFusion's interval
//!   analysis of the filter (as `FilterExec` estimates), else by its default 20%.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, Statistics};
use datafusion::physical_expr::analysis::{analyze, AnalysisContext};
use datafusion::physical_expr::intervals::utils::check_support;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder};

use super::pruning::{column_statistics, prune_with, pruner, Containers};
use super::row_filter::RowFilter;
use super::scan_units::Unit;
use super::zone_proofs::ZoneProver;
use crate::Table;

/// `FilterExec`'s selectivity when interval analysis cannot estimate one.
const DEFAULT_SELECTIVITY: f64 = 0.2;

/// The zones of `table` a scan reads (see the module contract), and the table's zone count.
/// `predicate` prunes (the exact filter's conjuncts among its terms); `filter` is what the
/// scan applies to rows.
pub(super) fn plan_units(
    table: &Table,
    schema: &SchemaRef,
    filter: Option<&RowFilter>,
    predicate: Option<&Arc<dyn PhysicalExpr>>,
    metrics: &ExecutionPlanMetricsSet,
) -> (Vec<Unit>, usize) {
    let errors = MetricBuilder::new(metrics).global_counter("pruning_errors");
    let segments_pruned = MetricBuilder::new(metrics).global_counter("segments_pruned");
    let zones_pruned = MetricBuilder::new(metrics).global_counter("zones_pruned");
    let pruner = predicate.and_then(|p| pruner(p, schema, &errors));
    let prover = filter.map(|f| ZoneProver::new(f, schema, &errors));
    let segs = table.segments();
    let keep_segment = prune_with(
        pruner.as_deref(),
        &Containers::new(
            schema,
            segs.iter().map(|s| s.num_rows() as u64).collect(),
            |c, i| segs[i].stats(c),
        ),
        &errors,
    );
    let (mut units, mut total_zones) = (Vec::new(), 0);
    for (si, seg) in segs.iter().enumerate() {
        let zones = seg.zone_count();
        total_zones += zones;
        if !keep_segment[si] {
            segments_pruned.add(1);
            zones_pruned.add(zones);
            continue;
        }
        let containers = Containers::new(schema, seg.zone_lengths(), |c, z| seg.zone_stats(c, z));
        let keep_zone = prune_with(pruner.as_deref(), &containers, &errors);
        let pending = match &prover {
            Some(p) => p.decide(&containers, &errors),
            None => vec![Some(0); zones],
        };
        for (z, (keep, pending)) in keep_zone.into_iter().zip(pending).enumerate() {
            match pending {
                Some(pending) if keep => {
                    let rows = seg.zone_range(z);
                    let deleted = table
                        .deleted_rows(si)
                        .map_or(0, |d| d.deleted_in(rows.clone()));
                    if deleted == rows.len() {
                        zones_pruned.add(1);
                        continue;
                    }
                    units.push(Unit {
                        segment: si,
                        zone: z,
                        start: rows.start,
                        end: rows.end,
                        pending,
                        deleted,
                    });
                }
                _ => zones_pruned.add(1),
            }
        }
    }
    (units, total_zones)
}

/// Statistics of table columns `columns` (typed as in `schema`) over `units` of `table`.
pub(super) fn unit_statistics(
    table: &Table,
    schema: &SchemaRef,
    units: &[Unit],
    columns: &[usize],
) -> Vec<ColumnStatistics> {
    let segs = table.segments();
    columns
        .iter()
        .map(|&c| {
            let pieces: Vec<_> = units
                .iter()
                .map(|u| (segs[u.segment].zone_stats(c, u.zone), u.rows() as u64))
                .collect();
            let stats = column_statistics(&pieces, schema.field(c).data_type());
            // Statistics of stored rows bound the rows shown, but no longer equal them.
            if units.iter().any(|u| u.deleted > 0) {
                stats.to_inexact()
            } else {
                stats
            }
        })
        .collect()
}

/// The statistics of a scan outputting `projection` of `units` (see the module contract).
/// `table_columns` are the statistics of every table column over `units`, needed only with a
/// filter.
pub(super) fn estimate(
    units: &[Unit],
    projected: Vec<ColumnStatistics>,
    filter: Option<(&RowFilter, &SchemaRef, &[ColumnStatistics])>,
    fetch: Option<usize>,
) -> Statistics {
    let rows: usize = units.iter().map(Unit::visible_rows).sum();
    let mut stats = Statistics {
        num_rows: Precision::Exact(rows),
        total_byte_size: Precision::Absent,
        column_statistics: projected,
    };
    if let Some((filter, schema, table_columns)) = filter {
        let whole: usize = units
            .iter()
            .filter(|u| u.pending == 0)
            .map(Unit::visible_rows)
            .sum();
        let predicate = filter.conjunction();
        let selectivity = check_support(&predicate, schema)
            .then(|| {
                AnalysisContext::try_from_statistics(schema, table_columns)
                    .and_then(|ctx| analyze(&predicate, ctx, schema))
                    .ok()
                    .and_then(|ctx| ctx.selectivity)
            })
            .flatten()
            .unwrap_or(DEFAULT_SELECTIVITY);
        let evaluated = (rows - whole) as f64 * selectivity.clamp(0.0, 1.0);
        stats = stats.to_inexact();
        stats.num_rows = Precision::Inexact(whole + evaluated.round() as usize);
    }
    if let Some(n) = fetch {
        stats = stats.to_inexact();
        if let Some(&r) = stats.num_rows.get_value() {
            stats.num_rows = Precision::Inexact(r.min(n));
        }
    }
    stats
}

/// Statistics of a whole table version, for columns typed as in `schema`: exact row count,
/// null counts and min/max (inexact, as bounds, once the version has deleted rows).
pub fn table_statistics(table: &Table, schema: &SchemaRef) -> Statistics {
    let columns = (0..schema.fields().len())
        .map(|c| {
            let pieces: Vec<_> = table
                .segments()
                .iter()
                .map(|s| (s.stats(c), s.num_rows() as u64))
                .collect();
            let stats = column_statistics(&pieces, schema.field(c).data_type());
            if table.has_deletions() {
                stats.to_inexact()
            } else {
                stats
            }
        })
        .collect();
    Statistics {
        num_rows: Precision::Exact(table.num_rows() as usize),
        total_byte_size: Precision::Absent,
        column_statistics: columns,
    }
}
