//! [`QuiverSource`]: a DataFusion [`DataSource`] over one version of a Quiver table — the
//! planning half (pruning at plan time, partitions, statistics, pushdown); each partition's
//! stream is `partition_scan.rs`, the planning units and their split `scan_units.rs`.
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

use arrow::datatypes::SchemaRef;
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
use datafusion::physical_plan::coop::cooperative;
use datafusion::physical_plan::execution_plan::SchedulingType;
use datafusion::physical_plan::filter_pushdown::{FilterPushdownPropagation, PushedDown};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::projection::{all_alias_free_columns, new_projections_for_columns};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayFormatType, Partitioning, SendableRecordBatchStream};

use super::partition_scan::{PartitionInput, PartitionScan};
use super::pruning::{column_statistics, prune, Containers};
use super::scan_units::{split, Unit};
use crate::Table;

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
                    segs.iter().map(|s| s.num_rows() as u64).collect(),
                    |c, i| segs[i].stats(c),
                );
                prune(p, &schema, &containers, &errors)
            }
            None => vec![true; segs.len()],
        };
        let mut units = Vec::new();
        for (si, seg) in segs.iter().enumerate() {
            let zones = seg.zone_count();
            total_zones += zones;
            if !keep_segment[si] {
                segments_pruned.add(1);
                zones_pruned.add(zones);
                continue;
            }
            let keep_zone = match &predicate {
                Some(p) => {
                    let containers =
                        Containers::new(&schema, seg.zone_lengths(), |c, z| seg.zone_stats(c, z));
                    prune(p, &schema, &containers, &errors)
                }
                None => vec![true; zones],
            };
            for (z, keep) in keep_zone.into_iter().enumerate() {
                if keep {
                    let rows = seg.zone_range(z);
                    units.push(Unit {
                        segment: si,
                        zone: z,
                        start: rows.start,
                        end: rows.end,
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

impl DataSource for QuiverSource {
    fn open(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let range = self.partitions.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("Quiver scan has no partition {partition}"))
        })?;
        let input = PartitionInput {
            table: self.table.clone(),
            schema: Arc::clone(&self.schema),
            projection: self.projection.clone(),
            projected_schema: Arc::clone(&self.projected_schema),
            predicate: self.predicate.clone(),
            batch_size: self.batch_size,
            fetch: self.fetch,
        };
        let scan = PartitionScan::new(input, self.units[range].to_vec(), &self.metrics, partition);
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
