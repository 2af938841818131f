//! [`QuiverSource`]: a DataFusion [`DataSource`] over one version of a Quiver table — the
//! planning half (partitions, statistics, projection/filter/limit pushdown); the zones it
//! reads and what it evaluates in each are `scan_planning.rs`, each partition's stream
//! `partition_scan.rs`.
//!
//! ```text
//!  segments ─► zones (64Ki rows) ─► prove per zone (segment, then zone statistics):
//!              no row matches (skip) │ every row matches (pass whole) │ evaluate ─► partitions
//!                                                                                     │
//!   open(partition): per zone left, re-prune on dynamic filters, then emit the        │
//!   projection: zero-copy slices where a zone passes whole, else the rows that pass ◄─┘
//!   the filter (`row_filter.rs`), coalesced to `batch_size`
//! ```
//!
//! # Contract
//! - The scan applies [`ScanRequest::filters`] to rows exactly (DataFusion's own evaluation),
//!   and prunes with them and with [`ScanRequest::pruning`] (which it does not apply).
//! - Rows come out in table order within a partition; a clustered table's key order is
//!   declared to DataFusion where it holds (`ordering.rs`). Zones passed whole, and evaluated
//!   chunks where every row survives, are zero-copy slices of the segment mappings; other
//!   batches are gathered copies of the surviving rows. Columns outside the projection and
//!   the filter are never built, validated or paged in.
//! - A predicate that cannot be evaluated on statistics keeps the container (counted in
//!   `pruning_errors`).
//! - Dynamic filters (TopK, hash join) pushed at run time are snapshotted each time the scan
//!   enters a segment and prune that segment's zones; they are also applied to rows while
//!   they pay for themselves (`dynamic_rows.rs`; `SET quiver.dynamic_filter_rows = false`
//!   turns that off). They are reported unapplied: the operator that pushed one still
//!   applies it.
//! - `fetch` (a pushed limit) stops each partition after that many output rows; at planning
//!   the scan also drops the zones past the first `fetch` rows that zones passed whole are
//!   sure to give (unless dynamic filters may prune).
//! - Metrics: `segments_pruned`, `zones_pruned` (planning), `zones_pruned_dynamic`,
//!   `zones_passed_whole`, `zones_evaluated`, `rows_scanned` (rows of the zones read),
//!   `rows_materialized` (rows output), `pruning_errors`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{ColumnStatistics, DataFusionError, Result, Statistics};
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
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::projection::{all_alias_free_columns, new_projections_for_columns};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayFormatType, Partitioning, SendableRecordBatchStream};

use super::options::QuiverOptions;
use super::ordering::output_ordering;
use super::partition_scan::{PartitionInput, PartitionScan};
use super::row_filter::RowFilter;
use super::scan_planning::{estimate, plan_units, table_statistics, unit_statistics};
use super::scan_units::{split, Unit};
use crate::arrow_bridge::Placement;
use crate::Table;

#[cfg(feature = "distributed")]
mod shipped;
#[cfg(feature = "distributed")]
pub(crate) use shipped::{ShippedScan, ShippedUnit};

/// What a query asks of a [`QuiverSource`]: built from `Default` and the `with_*` setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanRequest {
    /// Table column indices to output (all columns when `None`).
    pub projection: Option<Vec<usize>>,
    /// Filters the scan applies to rows, exactly (over the full table schema).
    pub filters: Vec<Arc<dyn PhysicalExpr>>,
    /// Filters the scan only prunes with; whoever planned the scan applies them to rows.
    pub pruning: Vec<Arc<dyn PhysicalExpr>>,
    /// Most rows to output.
    pub fetch: Option<usize>,
    /// Most rows per output batch.
    pub batch_size: usize,
    /// Output partitions wanted.
    pub target_partitions: usize,
}

impl Default for ScanRequest {
    fn default() -> Self {
        Self {
            projection: None,
            filters: Vec::new(),
            pruning: Vec::new(),
            fetch: None,
            batch_size: crate::DEFAULT_BATCH_SIZE,
            target_partitions: 1,
        }
    }
}

crate::options::with_setters!(ScanRequest {
    /// Table column indices to output.
    with_projection => projection: Vec<usize> as Some,
    /// Filters applied to rows exactly.
    with_filters => filters: Vec<Arc<dyn PhysicalExpr>>,
    /// Filters used only to prune.
    with_pruning => pruning: Vec<Arc<dyn PhysicalExpr>>,
    /// Most rows to output.
    with_fetch => fetch: Option<usize>,
    /// Most rows per output batch.
    with_batch_size => batch_size: usize,
    /// Output partitions wanted.
    with_target_partitions => target_partitions: usize,
});

/// The row filter applying `filters` (over `schema`, the table's schema as the scan serves
/// it) to rows of `table`, ranked by the table's statistics; `None` without filters.
pub(super) fn row_filter_for(
    table: &Table,
    schema: &SchemaRef,
    filters: &[Arc<dyn PhysicalExpr>],
) -> Result<Option<RowFilter>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let whole_table = table_statistics(table, schema).column_statistics;
    let segs = table.segments();
    let in_bag = |c| {
        segs.iter()
            .any(|s| matches!(s.placement(c), Placement::Bag(_)))
    };
    RowFilter::try_new(filters, schema, &whole_table, in_bag)
}

/// The planned parts of a scan that an aggregate scan reuses ([`QuiverSource::aggregate_parts`]).
pub(super) struct ScanParts {
    pub(super) table: Table,
    /// Table column per output column.
    pub(super) projection: Vec<usize>,
    pub(super) projected_schema: SchemaRef,
    pub(super) units: Arc<Vec<Unit>>,
    pub(super) partitions: Vec<Range<usize>>,
    pub(super) filter: Option<Arc<RowFilter>>,
    pub(super) total_zones: usize,
    pub(super) batch_size: usize,
    /// The scan's metrics, holding what planning counted (`zones_pruned`, ...).
    pub(super) metrics: ExecutionPlanMetricsSet,
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
    /// The filter applied to rows.
    filter: Option<Arc<RowFilter>>,
    /// Filters only pruned with (not applied to rows; dynamic filters among them), over the
    /// full table schema.
    pruning: Option<Arc<dyn PhysicalExpr>>,
    /// Statistics of every table column over `units` (for estimates under a filter).
    table_columns: Arc<Vec<ColumnStatistics>>,
    fetch: Option<usize>,
    batch_size: usize,
    /// Zones in the table, before pruning.
    total_zones: usize,
    /// Whether `repartitioned` may split the scan further (not once its partitions were
    /// handed out to tasks, `source/shipped.rs`).
    repartitionable: bool,
    metrics: ExecutionPlanMetricsSet,
}

impl QuiverSource {
    /// A scan of `table` (whose full schema DataFusion sees as `schema`) as `request` asks.
    pub fn try_new(table: Table, schema: SchemaRef, request: ScanRequest) -> Result<Self> {
        let projection = request
            .projection
            .unwrap_or_else(|| (0..schema.fields().len()).collect());
        let projected_schema = Arc::new(schema.project(&projection)?);
        let metrics = ExecutionPlanMetricsSet::new();
        let all_columns: Vec<usize> = (0..schema.fields().len()).collect();
        let filter = row_filter_for(&table, &schema, &request.filters)?;
        let pruning = conjunction_opt(request.pruning);
        let predicate = conjunction_opt(
            filter
                .iter()
                .map(|f| f.conjunction())
                .chain(pruning.clone()),
        );
        let (units, total_zones) = plan_units(
            &table,
            &schema,
            filter.as_ref(),
            predicate.as_ref(),
            &metrics,
        );
        let table_columns = match &filter {
            Some(_) => unit_statistics(&table, &schema, &units, &all_columns),
            None => Vec::new(),
        };
        let mut source = Self {
            table,
            schema,
            projection,
            projected_schema,
            partitions: split(&units, request.target_partitions),
            units: Arc::new(units),
            filter: filter.map(Arc::new),
            pruning,
            table_columns: Arc::new(table_columns),
            fetch: None,
            batch_size: request.batch_size.max(1),
            total_zones,
            repartitionable: true,
            metrics,
        };
        source.set_fetch(request.fetch);
        Ok(source)
    }

    /// Applies a limit. Unless rows are pruned at run time, units past the first `fetch` rows
    /// that zones passed whole are sure to output are dropped: counted over the whole scan
    /// when any rows will do, per partition when partitions declare an order (each must then
    /// yield its own first rows, for DataFusion to merge).
    fn set_fetch(&mut self, fetch: Option<usize>) {
        self.fetch = fetch;
        let (Some(limit), None) = (fetch, &self.pruning) else {
            return;
        };
        let ordered = output_ordering(
            &self.table,
            &self.units,
            &self.partitions,
            &self.projection,
            &self.projected_schema,
        )
        .is_some();
        let whole = std::iter::once(0..self.units.len()).collect::<Vec<_>>();
        let groups = if ordered { &self.partitions } else { &whole };
        let mut kept = Vec::new();
        let mut ranges = Vec::new();
        for range in groups {
            let start = kept.len();
            let mut sure = 0;
            for u in &self.units[range.clone()] {
                if sure >= limit {
                    break;
                }
                let mut u = *u;
                // A zone with deleted rows is sure of fewer rows than it holds: never cut.
                if u.pending == 0 && u.deleted == 0 {
                    u.end = u.end.min(u.start + (limit - sure));
                    sure += u.rows();
                }
                kept.push(u);
            }
            ranges.push(start..kept.len());
        }
        self.partitions = if ordered {
            ranges
        } else {
            split(&kept, self.partitions.len())
        };
        self.units = Arc::new(kept);
    }

    /// What an aggregate over this scan reads (`aggregate/`): the table, the scan's output
    /// columns, its zones and partitions, and the row filter. `None` under a limit, and when
    /// the scan carries pruning-only filters (a join's dynamic filter, which prunes the scan
    /// at run time: DataFusion's own aggregate then keeps that benefit).
    pub(super) fn aggregate_parts(&self) -> Option<ScanParts> {
        if self.fetch.is_some() || self.pruning.is_some() {
            return None;
        }
        Some(ScanParts {
            table: self.table.clone(),
            projection: self.projection.clone(),
            projected_schema: Arc::clone(&self.projected_schema),
            units: Arc::clone(&self.units),
            partitions: self.partitions.clone(),
            filter: self.filter.clone(),
            total_zones: self.total_zones,
            batch_size: self.batch_size,
            metrics: self.metrics.clone(),
        })
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
        let projected = unit_statistics(&self.table, &self.schema, units, &self.projection);
        let filter = self
            .filter
            .as_deref()
            .map(|f| (f, &self.schema, &self.table_columns[..]));
        let stats = estimate(units, projected, filter, self.fetch);
        // Rows pruned at run time (dynamic filters) make every figure an upper bound.
        if self.pruning.is_some() {
            stats.to_inexact()
        } else {
            stats
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

/// Whether the session applies dynamic filters to rows, and what it takes a dropped row to
/// save (`SET quiver.dynamic_filter_rows`, `quiver.dynamic_filter_saved_ns`).
fn dynamic_filter_rows(context: &TaskContext) -> Option<f64> {
    let options = QuiverOptions::of(context.session_config().options());
    options
        .dynamic_filter_rows
        .then_some(options.dynamic_filter_saved_ns as f64)
}

impl DataSource for QuiverSource {
    fn open(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let range = self.partitions.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("Quiver scan has no partition {partition}"))
        })?;
        let input = PartitionInput {
            table: self.table.clone(),
            schema: Arc::clone(&self.schema),
            projection: self.projection.clone(),
            projected_schema: Arc::clone(&self.projected_schema),
            filter: self.filter.clone(),
            pruning: self.pruning.clone(),
            batch_size: self.batch_size,
            fetch: self.fetch,
            dynamic_filter_rows: dynamic_filter_rows(&context),
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
                if let Some(filter) = &self.filter {
                    let conjuncts: Vec<String> =
                        filter.conjuncts().map(|c| c.to_string()).collect();
                    write!(f, ", filter=[{}]", conjuncts.join(", "))?;
                }
                if let Some(p) = &self.pruning {
                    write!(f, ", pruning_predicate={p}")?;
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
        if !self.repartitionable || target_partitions <= self.partitions.len() {
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
        let schema = Arc::clone(&self.projected_schema);
        match output_ordering(
            &self.table,
            &self.units,
            &self.partitions,
            &self.projection,
            &self.projected_schema,
        ) {
            Some(ordering) => EquivalenceProperties::new_with_orderings(schema, [ordering]),
            None => EquivalenceProperties::new(schema),
        }
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
        // Keep the filters for pruning (dynamic ones are re-read at run time, and applied to
        // rows where they pay); report them unapplied: static ones are never applied to rows
        // here, and dynamic ones not always.
        let mapped = filters
            .into_iter()
            .map(|f| self.to_table_column(f))
            .collect::<Result<Vec<_>>>()?;
        let mut source = self.clone();
        source.pruning = conjunction_opt(self.pruning.iter().cloned().chain(mapped));
        Ok(
            FilterPushdownPropagation::with_parent_pushdown_result(result)
                .with_updated_node(Arc::new(source) as Arc<dyn DataSource>),
        )
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        if RowFilter::apply_conjuncts(self.filter.as_deref(), f)? == TreeNodeRecursion::Stop {
            return Ok(TreeNodeRecursion::Stop);
        }
        match &self.pruning {
            Some(p) => f(p),
            None => Ok(TreeNodeRecursion::Continue),
        }
    }
}
