//! `QuiverAggregateExec`: the execution plan node that replaces DataFusion's partial
//! `AggregateExec` over a Quiver scan.
//!
//! # Contract
//! - Output: per partition of the scan it replaces, the partial states of its rows, in the
//!   schema of the partial `AggregateExec` it stands for; DataFusion's repartitioning and
//!   final aggregation above it are untouched.
//! - A partition yields to the runtime after every zone, so a cancelled query stops within one
//!   zone's work.
//! - `EXPLAIN` shows the table, version, zones, GROUP BY, aggregates and filter; `EXPLAIN
//!   ANALYZE` adds the scan's planning metrics (`zones_pruned`, ...), `zones_passed_whole`, `zones_evaluated`, `zones_computed_wide`,
//!   `rows_scanned`, `rows_aggregated` and `output_rows` (groups).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::task::Poll;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};

use super::super::row_filter::RowFilter;
use super::super::scan_units::Unit;
use super::partition::{AggregateInput, PartitionAggregate};

/// Partial aggregation inside a Quiver scan (see the module contract).
#[derive(Debug)]
pub struct QuiverAggregateExec {
    input: Arc<AggregateInput>,
    units: Arc<Vec<Unit>>,
    partitions: Vec<Range<usize>>,
    total_zones: usize,
    group_names: Vec<String>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl QuiverAggregateExec {
    pub(super) fn new(
        input: AggregateInput,
        units: Arc<Vec<Unit>>,
        partitions: Vec<Range<usize>>,
        total_zones: usize,
        group_names: Vec<String>,
        metrics: ExecutionPlanMetricsSet,
    ) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&input.schema)),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            input: Arc::new(input),
            units,
            partitions,
            total_zones,
            group_names,
            properties: Arc::new(properties),
            metrics,
        }
    }
}

impl DisplayAs for QuiverAggregateExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let aggregates: Vec<&str> = self.input.specs.iter().map(|s| s.name.as_str()).collect();
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(
                    f,
                    "QuiverAggregateExec: table={}, version={}, partitions={}, zones={}/{}, gby=[{}], aggr=[{}]",
                    self.input.table.path().display(),
                    self.input.table.version(),
                    self.partitions.len(),
                    self.units.len(),
                    self.total_zones,
                    self.group_names.join(", "),
                    aggregates.join(", ")
                )?;
                if let Some(filter) = &self.input.filter {
                    let conjuncts: Vec<String> =
                        filter.conjuncts().map(|c| c.to_string()).collect();
                    write!(f, ", filter=[{}]", conjuncts.join(", "))?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "format=quiver")?;
                writeln!(f, "gby=[{}]", self.group_names.join(", "))?;
                writeln!(f, "aggr=[{}]", aggregates.join(", "))
            }
        }
    }
}

impl ExecutionPlan for QuiverAggregateExec {
    fn name(&self) -> &str {
        "QuiverAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        RowFilter::apply_conjuncts(self.input.filter.as_deref(), f)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let range = self.partitions.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!(
                "Quiver aggregate scan has no partition {partition}"
            ))
        })?;
        let reservation = MemoryConsumer::new(format!("QuiverAggregateExec[{partition}]"))
            .register(context.memory_pool());
        let mut work = Some(PartitionAggregate::new(
            Arc::clone(&self.input),
            self.units[range].to_vec(),
            reservation,
            &self.metrics,
            partition,
        )?);
        let stream = futures::stream::poll_fn(move |cx| {
            let Some(w) = work.as_mut() else {
                return Poll::Ready(None);
            };
            match w.step() {
                Ok(true) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Ok(false) => {
                    let batch = w.finish();
                    work = None;
                    Poll::Ready(Some(batch))
                }
                Err(e) => {
                    work = None;
                    Poll::Ready(Some(Err(e)))
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.input.schema),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
