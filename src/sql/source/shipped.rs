//! A planned [`QuiverSource`] taken apart into what another process needs to run it, and put
//! back together there: the distributed plan codec (`distributed/`) ships scans this way.
//!
//! # Contract
//! - [`QuiverSource::shipped`] gives the scan's parts: the projection, the exact filter's
//!   conjuncts in evaluation order, the pruning-only predicate, the zones left after planning
//!   (with the conjuncts each still evaluates), their split into partitions, the limit and the
//!   batch size. The table (path and version) and its served schema travel beside it.
//! - [`QuiverSource::from_shipped`] rebuilds the same scan over `table` (which must be the
//!   version it was planned on) without planning again, so every partition reads exactly the
//!   rows it read where it was planned. The parts are not trusted: a column, zone, row range,
//!   conjunct set or partition range that does not fit `table` is an error naming it, never
//!   a panic. Deleted-row counts are recomputed from `table`'s own deletion vectors.
//! - [`QuiverSource::select_partitions`] restricts a scan to some of its partitions, as one
//!   task of a distributed stage runs it.
//! - Metrics of planning (`zones_pruned`, ...) stay with the planning process.

use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;

use super::QuiverSource;
use crate::sql::row_filter::RowFilter;
use crate::sql::scan_planning::unit_statistics;
use crate::sql::scan_units::Unit;
use crate::Table;

/// One zone a shipped scan reads: rows `start..end` of zone `zone` of segment `segment`, and
/// the exact filter's conjuncts still to evaluate there (bit `i` = conjunct `i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShippedUnit {
    pub(crate) segment: u64,
    pub(crate) zone: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) pending: u64,
}

/// A planned scan's parts (see the module contract).
#[derive(Debug, Clone)]
pub(crate) struct ShippedScan {
    /// Table column per output column.
    pub(crate) projection: Vec<usize>,
    /// The exact filter's conjuncts over the full table schema, in evaluation order.
    pub(crate) filters: Vec<Arc<dyn PhysicalExpr>>,
    /// The pruning-only predicate, over the full table schema.
    pub(crate) pruning: Option<Arc<dyn PhysicalExpr>>,
    pub(crate) units: Vec<ShippedUnit>,
    /// Ranges of `units`, one per output partition.
    pub(crate) partitions: Vec<Range<usize>>,
    pub(crate) fetch: Option<usize>,
    pub(crate) batch_size: usize,
    pub(crate) total_zones: usize,
}

impl QuiverSource {
    /// The table this scan reads (its path and version are what a shipped scan names).
    pub(crate) fn table(&self) -> &Table {
        &self.table
    }

    /// The table's full schema as this scan serves it.
    pub(crate) fn table_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// This scan restricted to its partitions `indices`, in that order (partition `j` of the
    /// result is partition `indices[j]` of this one): what one task of a distributed stage
    /// runs. Zones of other partitions are dropped.
    pub(crate) fn select_partitions(&self, indices: &[usize]) -> Result<Self> {
        let mut units = Vec::new();
        let mut partitions = Vec::with_capacity(indices.len());
        for &i in indices {
            let range = self.partitions.get(i).ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "Quiver scan of {} has {} partitions, not {}",
                    self.table.path().display(),
                    self.partitions.len(),
                    i + 1
                ))
            })?;
            let start = units.len();
            units.extend_from_slice(&self.units[range.clone()]);
            partitions.push(start..units.len());
        }
        // No partitions at all stays so: the task's plan expects none of this scan (a
        // `UNION` branch it does not run).
        Ok(Self {
            units: Arc::new(units),
            partitions,
            repartitionable: false,
            ..self.clone()
        })
    }

    /// This scan's parts (see the module contract).
    pub(crate) fn shipped(&self) -> ShippedScan {
        ShippedScan {
            projection: self.projection.clone(),
            filters: self
                .filter
                .iter()
                .flat_map(|f| f.conjuncts())
                .cloned()
                .collect(),
            pruning: self.pruning.clone(),
            units: self
                .units
                .iter()
                .map(|u| ShippedUnit {
                    segment: u.segment as u64,
                    zone: u.zone as u64,
                    start: u.start as u64,
                    end: u.end as u64,
                    pending: u.pending,
                })
                .collect(),
            partitions: self.partitions.clone(),
            fetch: self.fetch,
            batch_size: self.batch_size,
            total_zones: self.total_zones,
        }
    }

    /// The scan `parts` describe, over `table` served as `schema` (see the module contract).
    pub(crate) fn from_shipped(
        table: Table,
        schema: SchemaRef,
        parts: ShippedScan,
    ) -> Result<Self> {
        let at = |what: String| {
            DataFusionError::Plan(format!(
                "shipped scan of {} (version {}): {what}",
                table.path().display(),
                table.version()
            ))
        };
        let columns = schema.fields().len();
        if let Some(c) = parts.projection.iter().find(|&&c| c >= columns) {
            return Err(at(format!(
                "column {c} is out of range ({columns} columns)"
            )));
        }
        let conjuncts = parts.filters.len();
        let filter = RowFilter::try_in_order(parts.filters, &schema)?;
        let all_conjuncts = match conjuncts {
            0 => 0,
            n => u64::MAX >> (64 - n),
        };
        let units = parts
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| {
                unit_of(&table, u, all_conjuncts).map_err(|e| at(format!("zone #{i}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        check_partitions(&parts.partitions, units.len()).map_err(at)?;
        let projected_schema = Arc::new(schema.project(&parts.projection)?);
        let all_columns: Vec<usize> = (0..columns).collect();
        let table_columns = match &filter {
            Some(_) => unit_statistics(&table, &schema, &units, &all_columns),
            None => Vec::new(),
        };
        Ok(Self {
            table,
            schema,
            projection: parts.projection,
            projected_schema,
            units: Arc::new(units),
            partitions: parts.partitions,
            filter: filter.map(Arc::new),
            pruning: parts.pruning,
            table_columns: Arc::new(table_columns),
            fetch: parts.fetch,
            batch_size: parts.batch_size.max(1),
            total_zones: parts.total_zones,
            // Its partitions are the ones planned: the shipped plan's tasks name them.
            repartitionable: false,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// The unit `u` names in `table`, checked against it; `all_conjuncts` has a bit per conjunct.
fn unit_of(table: &Table, u: &ShippedUnit, all_conjuncts: u64) -> Result<Unit, String> {
    let segs = table.segments();
    let segment = below(u.segment, segs.len()).ok_or_else(|| {
        format!(
            "segment {} is out of range ({} segments)",
            u.segment,
            segs.len()
        )
    })?;
    let seg = &segs[segment];
    let zone = below(u.zone, seg.zone_count()).ok_or_else(|| {
        format!(
            "zone {} of segment {segment} is out of range ({} zones)",
            u.zone,
            seg.zone_count()
        )
    })?;
    let rows = seg.zone_range(zone);
    let (start, end) = (u.start, u.end);
    if start > end || start < rows.start as u64 || end > rows.end as u64 {
        return Err(format!(
            "rows {start}..{end} are not within zone {zone} of segment {segment} (rows {}..{})",
            rows.start, rows.end
        ));
    }
    if u.pending & !all_conjuncts != 0 {
        return Err(format!(
            "conjunct set {:#x} names conjuncts the filter does not have",
            u.pending
        ));
    }
    let (start, end) = (start as usize, end as usize);
    let deleted = table
        .deleted_rows(segment)
        .map_or(0, |d| d.deleted_in(start..end));
    Ok(Unit {
        segment,
        zone,
        start,
        end,
        pending: u.pending,
        deleted,
    })
}

/// `n` as an index below `len`, if it is one.
fn below(n: u64, len: usize) -> Option<usize> {
    usize::try_from(n).ok().filter(|&i| i < len)
}

/// Checks that `partitions` are contiguous ranges covering `0..units` in order (none at all
/// for a scan restricted to no partitions, `QuiverSource::select_partitions`).
fn check_partitions(partitions: &[Range<usize>], units: usize) -> Result<(), String> {
    let mut next = 0;
    for (p, r) in partitions.iter().enumerate() {
        if r.start != next || r.end < r.start {
            return Err(format!(
                "partition {p} covers zones {}..{}, expected a range starting at {next}",
                r.start, r.end
            ));
        }
        next = r.end;
    }
    if next != units {
        return Err(format!(
            "the partitions cover {next} zones, the scan has {units}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_must_cover_the_zones_in_order() {
        assert!(check_partitions(&[0..2, 2..5], 5).is_ok());
        assert!(check_partitions(std::slice::from_ref(&(0..0)), 0).is_ok());
        assert!(check_partitions(&[], 0).is_ok());
        assert!(check_partitions(&[], 3).is_err());
        assert!(check_partitions(&[0..2, 3..5], 5).is_err());
        assert!(check_partitions(&[0..2, 2..4], 5).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = [0..2, 2..1];
        assert!(check_partitions(&backwards, 1).is_err());
    }
}
