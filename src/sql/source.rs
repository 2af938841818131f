//! [`QuiverSource`]: a DataFusion [`DataSource`] over one version of a Quiver table.
//!
//! ```text
//!  segments ─► zones (64Ki rows) ─► prune (segment, then zone statistics) ─► partitions
//!                                                                              │
//!          open(partition): for each zone left, re-prune on dynamic filters,   │
//!          then emit zero-copy slices of `batch_size` rows of the projection ◄─┘
//! ```
//!
//! # Contract
//! - Output batches are zero-copy slices of the segment mappings, projected to the pushed
//!   projection. Columns outside the projection are never built, validated or paged in.
//! - Pruning skips whole segments and zones whose statistics prove no row can match the
//!   predicate. It never filters rows: every pushed filter is `Inexact` and DataFusion keeps
//!   its own filter above the scan. A predicate that cannot be evaluated on statistics keeps
//!   the container (counted in `pruning_errors`).
//! - Dynamic filters (TopK, hash join) pushed at run time are snapshotted each time the scan
//!   enters a segment and prune that segment's zones.
//! - `fetch` (a pushed limit) stops each partition after that many rows; without a predicate
//!   the scan also drops every zone past the first `fetch` rows at planning time.
//! - Metrics: `segments_pruned`, `zones_pruned` (planning), `zones_pruned_dynamic`,
//!   `zones_scanned`, `rows_scanned`, `pruning_errors`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, Statistics};
use datafusion::config::ConfigOptions;
use datafusion::datasource::source::DataSource;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::utils::conjunction_opt;
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, PhysicalExpr};
use datafusion::physical_expr_common::physical_expr::snapshot_physical_expr_opt;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::coop::cooperative;
use datafusion::physical_plan::execution_plan::SchedulingType;
use datafusion::physical_plan::filter_pushdown::{FilterPushdownPropagation, PushedDown};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::projection::{all_alias_free_columns, new_projections_for_columns};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayFormatType, Partitioning, SendableRecordBatchStream};

use super::external;
use super::pruning::{column_statistics, Containers};
use crate::native::footer::zone_count;
use crate::Table;

/// Rows `start..end` of zone `zone` of segment `segment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unit {
    segment: usize,
    zone: usize,
    start: usize,
    end: usize,
}

impl Unit {
    fn rows(&self) -> usize {
        self.end - self.start
    }
}

/// A scan of one table version (see the module contract).
#[derive(Debug, Clone)]
pub struct QuiverSource {
    table: Table,
    /// The table's full schema as DataFusion sees it.
    schema: SchemaRef,
    /// Table column indices to output.
    projection: Vec<usize>,
    projected_schema: SchemaRef,
    /// Zones left after planning-time pruning, in row order.
    units: Arc<Vec<Unit>>,
    /// Ranges of `units`, one per output partition.
    partitions: Vec<Range<usize>>,
    /// Conjunction of pushed filters, over the full table schema.
    predicate: Option<Arc<dyn PhysicalExpr>>,
    fetch: Option<usize>,
    batch_size: usize,
    /// Zones in the table, before pruning.
    total_zones: usize,
    metrics: ExecutionPlanMetricsSet,
}

/// Which of `containers` may hold rows matching `predicate` (all, when it cannot be evaluated).
fn prune(
    predicate: &Arc<dyn PhysicalExpr>,
    schema: &SchemaRef,
    containers: &Containers<'_>,
    errors: &Count,
) -> Vec<bool> {
    use datafusion::common::pruning::PruningStatistics;
    let all = vec![true; containers.num_containers()];
    let Some(p) = PruningPredicateBuilder::new()
        .with_file_schema(Arc::clone(schema))
        .with_error_counter(errors)
        .build(Arc::clone(predicate))
    else {
        return all;
    };
    p.prune(containers).unwrap_or_else(|_| {
        errors.add(1);
        all
    })
}

/// Splits `units` into at most `n` contiguous ranges of about equal row counts.
fn split(units: &[Unit], n: usize) -> Vec<Range<usize>> {
    let total: usize = units.iter().map(Unit::rows).sum();
    if units.is_empty() {
        // One empty partition: DataFusion expects at least one.
        return std::iter::once(0..0).collect();
    }
    let n = n.max(1).min(units.len());
    let target = total.div_ceil(n).max(1);
    let mut out = Vec::with_capacity(n);
    let (mut start, mut acc) = (0, 0);
    for (i, u) in units.iter().enumerate() {
        acc += u.rows();
        if acc >= target && out.len() + 1 < n {
            out.push(start..i + 1);
            start = i + 1;
            acc = 0;
        }
    }
    if start < units.len() {
        out.push(start..units.len());
    }
    out
}

impl QuiverSource {
    /// A scan of `table` outputting `projection` (table column indices), pruned by
    /// `predicate` (over `schema`, the full table schema), stopping after `fetch` rows.
    pub fn try_new(
        table: Table,
        schema: SchemaRef,
        projection: Vec<usize>,
        predicate: Option<Arc<dyn PhysicalExpr>>,
        fetch: Option<usize>,
        batch_size: usize,
        target_partitions: usize,
    ) -> Result<Self> {
        let projected_schema = Arc::new(schema.project(&projection)?);
        let metrics = ExecutionPlanMetricsSet::new();
        let errors = MetricBuilder::new(&metrics).global_counter("pruning_errors");
        let segments_pruned = MetricBuilder::new(&metrics).global_counter("segments_pruned");
        let zones_pruned = MetricBuilder::new(&metrics).global_counter("zones_pruned");

        let segs = table.segments();
        let mut total_zones = 0;
        let keep_segment = match &predicate {
            Some(p) => {
                let containers = Containers::new(
                    &schema,
                    segs.iter().map(|s| s.file().row_count()).collect(),
                    |c, i| segs[i].stats(c),
                );
                prune(p, &schema, &containers, &errors)
            }
            None => vec![true; segs.len()],
        };
        let mut units = Vec::new();
        for (si, seg) in segs.iter().enumerate() {
            let footer = seg.file().footer();
            let rows = footer.row_count;
            let zone_rows = footer.zone_rows;
            let zones = zone_count(rows, zone_rows) as usize;
            total_zones += zones;
            if !keep_segment[si] {
                segments_pruned.add(1);
                zones_pruned.add(zones);
                continue;
            }
            let keep_zone = match &predicate {
                Some(p) => {
                    let containers = Containers::new(
                        &schema,
                        (0..zones as u64)
                            .map(|z| (rows - z * zone_rows).min(zone_rows))
                            .collect(),
                        |c, z| seg.zone_stats(c, z),
                    );
                    prune(p, &schema, &containers, &errors)
                }
                None => vec![true; zones],
            };
            for (z, keep) in keep_zone.into_iter().enumerate() {
                let start = z as u64 * zone_rows;
                let end = (start + zone_rows).min(rows);
                if keep {
                    units.push(Unit {
                        segment: si,
                        zone: z,
                        start: start as usize,
                        end: end as usize,
                    });
                } else {
                    zones_pruned.add(1);
                }
            }
        }
        let mut source = Self {
            table,
            schema,
            projection,
            projected_schema,
            partitions: split(&units, target_partitions),
            units: Arc::new(units),
            predicate,
            fetch: None,
            batch_size: batch_size.max(1),
            total_zones,
            metrics,
        };
        source.set_fetch(fetch);
        Ok(source)
    }

    /// Applies a limit; without a predicate, zones past the first `fetch` rows are dropped.
    fn set_fetch(&mut self, fetch: Option<usize>) {
        self.fetch = fetch;
        let (Some(limit), None) = (fetch, &self.predicate) else {
            return;
        };
        let mut kept = Vec::new();
        let mut rows = 0;
        for u in self.units.iter() {
            if rows >= limit {
                break;
            }
            let mut u = *u;
            u.end = u.end.min(u.start + (limit - rows));
            rows += u.rows();
            kept.push(u);
        }
        let n = self.partitions.len();
        self.partitions = split(&kept, n);
        self.units = Arc::new(kept);
    }

    /// Table column indices this scan outputs.
    pub fn projection(&self) -> &[usize] {
        &self.projection
    }

    /// Zones the scan will read (after planning-time pruning) and zones in the table.
    pub fn zones(&self) -> (usize, usize) {
        (self.units.len(), self.total_zones)
    }

    fn statistics_of(&self, units: &[Unit]) -> Statistics {
        let segs = self.table.segments();
        let rows: usize = units.iter().map(Unit::rows).sum();
        let columns = self
            .projection
            .iter()
            .map(|&c| {
                let pieces: Vec<_> = units
                    .iter()
                    .map(|u| {
                        let z = segs[u.segment].zone_stats(c, u.zone);
                        (z, u.rows() as u64)
                    })
                    .collect();
                column_statistics(&pieces, self.schema.field(c).data_type())
            })
            .collect();
        let stats = Statistics {
            num_rows: Precision::Exact(rows),
            total_byte_size: Precision::Absent,
            column_statistics: columns,
        };
        // Exact only when the scan outputs every row of every whole zone it lists.
        if self.predicate.is_none() && self.fetch.is_none() {
            stats
        } else {
            stats.to_inexact()
        }
    }

    /// The output column for a column of the projected (output) schema.
    fn to_table_column(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(expr
            .transform(|e| {
                if let Some(col) = e.downcast_ref::<Column>() {
                    let index = self.projection.get(col.index()).copied().ok_or_else(|| {
                        DataFusionError::Internal(format!("column {col} is not in the scan output"))
                    })?;
                    return Ok(Transformed::yes(
                        Arc::new(Column::new(col.name(), index)) as Arc<dyn PhysicalExpr>
                    ));
                }
                Ok(Transformed::no(e))
            })?
            .data)
    }
}

/// The stream of one partition.
struct PartitionScan {
    source: QuiverSource,
    units: Vec<Unit>,
    next_unit: usize,
    /// Next row within the current unit.
    offset: usize,
    /// Rows left under `fetch`.
    remaining: usize,
    /// Dynamic-filter pruning of the current segment's zones: (segment, keep per zone).
    dynamic: Option<(usize, Vec<bool>)>,
    zones_scanned: Count,
    zones_pruned_dynamic: Count,
    rows_scanned: Count,
    errors: Count,
}

impl PartitionScan {
    /// Whether zone `u` survives the predicate's dynamic parts as they stand now.
    fn keep(&mut self, u: Unit) -> bool {
        let Some(predicate) = &self.source.predicate else {
            return true;
        };
        if self.dynamic.as_ref().is_none_or(|(s, _)| *s != u.segment) {
            let keep = match snapshot_physical_expr_opt(Arc::clone(predicate)) {
                // Static predicate: planning already pruned with it.
                Ok(t) if !t.transformed => None,
                Ok(t) => {
                    let segment = &self.source.table.segments()[u.segment];
                    let footer = segment.file().footer();
                    let (rows, zone_rows) = (footer.row_count, footer.zone_rows);
                    let zones = zone_count(rows, zone_rows);
                    let containers = Containers::new(
                        &self.source.schema,
                        (0..zones)
                            .map(|z| (rows - z * zone_rows).min(zone_rows))
                            .collect(),
                        |c, z| segment.zone_stats(c, z),
                    );
                    Some(prune(
                        &t.data,
                        &self.source.schema,
                        &containers,
                        &self.errors,
                    ))
                }
                Err(_) => {
                    self.errors.add(1);
                    None
                }
            };
            self.dynamic = Some((u.segment, keep.unwrap_or_default()));
        }
        match &self.dynamic {
            Some((_, keep)) if !keep.is_empty() => keep[u.zone],
            _ => true,
        }
    }
}

impl Iterator for PartitionScan {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.remaining == 0 {
                return None;
            }
            let u = *self.units.get(self.next_unit)?;
            if self.offset == 0 {
                if !self.keep(u) {
                    self.zones_pruned_dynamic.add(1);
                    self.next_unit += 1;
                    continue;
                }
                self.zones_scanned.add(1);
            }
            let start = u.start + self.offset;
            let len = (u.end - start)
                .min(self.source.batch_size)
                .min(self.remaining);
            self.offset += len;
            if start + len >= u.end {
                self.next_unit += 1;
                self.offset = 0;
            }
            self.remaining -= len;
            self.rows_scanned.add(len);
            let segment = &self.source.table.segments()[u.segment];
            let wanted: Vec<(usize, bool)> = self
                .source
                .projection
                .iter()
                .zip(self.source.projected_schema.fields())
                .map(|(&c, field)| {
                    let view =
                        matches!(field.data_type(), DataType::Utf8View | DataType::BinaryView);
                    (c, view)
                })
                .collect();
            let columns = segment
                .read_range(&wanted, start..start + len)
                .map_err(external);
            return Some(columns.and_then(|columns| {
                let options = RecordBatchOptions::new().with_row_count(Some(len));
                Ok(RecordBatch::try_new_with_options(
                    Arc::clone(&self.source.projected_schema),
                    columns,
                    &options,
                )?)
            }));
        }
    }
}

impl DataSource for QuiverSource {
    fn open(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let range = self.partitions.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("Quiver scan has no partition {partition}"))
        })?;
        let m = |name: &'static str| MetricBuilder::new(&self.metrics).counter(name, partition);
        let scan = PartitionScan {
            source: self.clone(),
            units: self.units[range].to_vec(),
            next_unit: 0,
            offset: 0,
            remaining: self.fetch.unwrap_or(usize::MAX),
            dynamic: None,
            zones_scanned: m("zones_scanned"),
            zones_pruned_dynamic: m("zones_pruned_dynamic"),
            rows_scanned: m("rows_scanned"),
            errors: MetricBuilder::new(&self.metrics).global_counter("pruning_errors"),
        };
        let stream = futures::stream::iter(scan);
        Ok(Box::pin(cooperative(RecordBatchStreamAdapter::new(
            Arc::clone(&self.projected_schema),
            stream,
        ))))
    }

    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self
            .projected_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(
                    f,
                    "QuiverSource: table={}, version={}, partitions={}, zones={}/{}, projection=[{}]",
                    self.table.path().display(),
                    self.table.version(),
                    self.partitions.len(),
                    self.units.len(),
                    self.total_zones,
                    names.join(", ")
                )?;
                if let Some(p) = &self.predicate {
                    write!(f, ", predicate={p}")?;
                }
                if let Some(n) = self.fetch {
                    write!(f, ", fetch={n}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "format=quiver")?;
                writeln!(f, "version={}", self.table.version())?;
                writeln!(f, "zones={}/{}", self.units.len(), self.total_zones)
            }
        }
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        _repartition_file_min_size: usize,
        _output_ordering: Option<LexOrdering>,
    ) -> Result<Option<Arc<dyn DataSource>>> {
        if target_partitions <= self.partitions.len() {
            return Ok(None);
        }
        let mut source = self.clone();
        source.partitions = split(&self.units, target_partitions);
        if source.partitions.len() <= self.partitions.len() {
            return Ok(None);
        }
        Ok(Some(Arc::new(source)))
    }

    fn output_partitioning(&self) -> Partitioning {
        Partitioning::UnknownPartitioning(self.partitions.len())
    }

    fn eq_properties(&self) -> EquivalenceProperties {
        EquivalenceProperties::new(Arc::clone(&self.projected_schema))
    }

    fn scheduling_type(&self) -> SchedulingType {
        SchedulingType::Cooperative
    }

    fn partition_statistics(&self, partition: Option<usize>) -> Result<Arc<Statistics>> {
        let units = match partition {
            None => &self.units[..],
            Some(p) => match self.partitions.get(p) {
                Some(r) => &self.units[r.clone()],
                None => return Ok(Arc::new(Statistics::new_unknown(&self.projected_schema))),
            },
        };
        Ok(Arc::new(self.statistics_of(units)))
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn DataSource>> {
        let mut source = self.clone();
        source.set_fetch(limit);
        Some(Arc::new(source))
    }

    fn fetch(&self) -> Option<usize> {
        self.fetch
    }

    fn metrics(&self) -> ExecutionPlanMetricsSet {
        self.metrics.clone()
    }

    fn try_swapping_with_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn DataSource>>> {
        let exprs: Vec<_> = projection.iter().cloned().collect();
        if !all_alias_free_columns(&exprs) {
            return Ok(None);
        }
        let mut source = self.clone();
        source.projection = new_projections_for_columns(&exprs, &self.projection);
        source.projected_schema = Arc::new(self.schema.project(&source.projection)?);
        Ok(Some(Arc::new(source)))
    }

    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn DataSource>>> {
        let result = vec![PushedDown::No; filters.len()];
        if filters.is_empty() {
            return Ok(FilterPushdownPropagation::with_parent_pushdown_result(
                result,
            ));
        }
        // Keep the filters for pruning (dynamic ones are re-read at run time); report them
        // unapplied, since rows are never filtered here.
        let mapped = filters
            .into_iter()
            .map(|f| self.to_table_column(f))
            .collect::<Result<Vec<_>>>()?;
        let mut source = self.clone();
        source.predicate = conjunction_opt(self.predicate.iter().cloned().chain(mapped));
        Ok(
            FilterPushdownPropagation::with_parent_pushdown_result(result)
                .with_updated_node(Arc::new(source) as Arc<dyn DataSource>),
        )
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        match &self.predicate {
            Some(p) => f(p),
            None => Ok(TreeNodeRecursion::Continue),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(rows: &[usize]) -> Vec<Unit> {
        rows.iter()
            .enumerate()
            .map(|(i, &r)| Unit {
                segment: 0,
                zone: i,
                start: 0,
                end: r,
            })
            .collect()
    }

    #[test]
    fn split_balances_rows_over_contiguous_ranges() {
        let u = units(&[10, 10, 10, 10]);
        assert_eq!(split(&u, 2), vec![0..2, 2..4]);
        assert_eq!(split(&u, 8), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(split(&units(&[100, 1, 1, 1]), 2), vec![0..1, 1..4]);
        assert_eq!(split(&[], 4), vec![0..0]);
    }
}
