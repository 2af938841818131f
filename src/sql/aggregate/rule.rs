//! The physical optimizer rule that moves partial aggregates into Quiver scans.
//!
//! # Contract
//! - [`AggregatePushdown`] replaces `AggregateExec(Partial) ← [ProjectionExec] ←
//!   [RepartitionExec(round robin)] ← DataSourceExec(QuiverSource)` with a
//!   [`QuiverAggregateExec`] over the same zones, partitions (the scan's, not the round
//!   robin's: the operators above take any number) and row filter, when: there are no grouping sets, per-aggregate `FILTER`
//!   clauses or group limits, and the input is not read in GROUP BY order (an aggregate over
//!   ordered input may promise ordered output); every GROUP BY expression is a column of the scan; every
//!   aggregate compiles (`spec.rs`); and every `Float64` sum is proven exact from the table's
//!   statistics. `AggregateExec(Single)` over a one-partition scan becomes the same node under
//!   a final `AggregateExec`. Every other plan is left untouched.
//! - Off when the session sets `quiver.aggregate_pushdown = false` (`options.rs`).
//! - Nothing depends on table or column names: only on the plan's shape and types.

use std::sync::Arc;

use arrow::datatypes::Schema;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, InputOrderMode, Partitioning,
};

use super::super::options::QuiverOptions;
use super::super::read_as_view;
use super::super::source::{QuiverSource, ScanParts};
use super::exec::QuiverAggregateExec;
use super::partition::{bounds_range, AggregateInput};
use super::program::{Interval, Slots};
use super::spec::AggregateSpec;
use crate::arrow_bridge::stats::merge_bounds;

/// Partial aggregation inside Quiver scans (see the module contract).
#[derive(Debug, Default)]
pub struct AggregatePushdown;

impl PhysicalOptimizerRule for AggregatePushdown {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !QuiverOptions::of(config).aggregate_pushdown {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            Ok(match replacement(&node)? {
                Some(new) => Transformed::yes(new),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "quiver_aggregate_pushdown"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `expr` over the projection's input instead of its output.
fn inline(
    expr: &Arc<dyn PhysicalExpr>,
    projection: Option<&[ProjectionExpr]>,
) -> Option<Arc<dyn PhysicalExpr>> {
    let Some(projection) = projection else {
        return Some(Arc::clone(expr));
    };
    Arc::clone(expr)
        .transform(|e| {
            if let Some(c) = e.downcast_ref::<Column>() {
                return match projection.get(c.index()) {
                    Some(p) => Ok(Transformed::yes(Arc::clone(&p.expr))),
                    None => Err(datafusion::common::DataFusionError::Internal(format!(
                        "column {c} is not in the projection"
                    ))),
                };
            }
            Ok(Transformed::no(e))
        })
        .ok()
        .map(|t| t.data)
}

fn replacement(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(agg) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let single = match agg.mode() {
        AggregateMode::Partial => false,
        AggregateMode::Single => true,
        _ => return Ok(None),
    };
    // An aggregate over ordered input may promise ordered output, which this scan does not.
    if !agg.group_expr().is_single()
        || *agg.input_order_mode() != InputOrderMode::Linear
        || agg.limit_options().is_some()
        || agg.filter_expr().iter().any(Option::is_some)
    {
        return Ok(None);
    }
    let mut below = agg.input();
    let mut projection = None;
    if let Some(p) = below.downcast_ref::<ProjectionExec>() {
        projection = Some(p.expr());
        below = p.input();
    }
    // A round-robin repartition only spreads the scan's batches over more partial
    // aggregates; the aggregate scan runs on the scan's own partitions instead.
    if let Some(r) = below.downcast_ref::<RepartitionExec>() {
        if !matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)) || single {
            return Ok(None);
        }
        below = r.input();
    }
    let Some(source) = below
        .downcast_ref::<DataSourceExec>()
        .and_then(|ds| ds.data_source().downcast_ref::<QuiverSource>())
    else {
        return Ok(None);
    };
    let Some(parts) = source.aggregate_parts() else {
        return Ok(None);
    };
    if single && parts.partitions.len() != 1 {
        return Ok(None);
    }
    let scan_schema = Arc::clone(&parts.projected_schema);
    let as_read = |c: usize| {
        (
            parts.projection[c],
            read_as_view(scan_schema.field(c).data_type()),
        )
    };
    let mut group_columns = Vec::new();
    let mut group_names = Vec::new();
    for (expr, name) in agg.group_expr().expr() {
        let Some(column) =
            inline(expr, projection).and_then(|e| e.downcast_ref::<Column>().cloned())
        else {
            return Ok(None);
        };
        group_columns.push(as_read(column.index()));
        group_names.push(name.clone());
    }
    let mut slots = Slots::default();
    let mut specs = Vec::new();
    for aggregate in agg.aggr_expr() {
        let args = aggregate.expressions();
        let [arg] = args.as_slice() else {
            return Ok(None);
        };
        let Some(arg) = inline(arg, projection) else {
            return Ok(None);
        };
        match AggregateSpec::compile(aggregate, &arg, &scan_schema, &mut slots) {
            Some(spec) => specs.push(spec),
            None => return Ok(None),
        }
    }
    if !float_sums_exact(&parts, &slots, &specs) {
        return Ok(None);
    }
    let partial_schema = if single {
        let partial = AggregateExec::try_new(
            AggregateMode::Partial,
            agg.group_expr().clone(),
            agg.aggr_expr().to_vec(),
            agg.filter_expr().to_vec(),
            Arc::clone(agg.input()),
            agg.input_schema(),
        )?;
        partial.schema()
    } else {
        agg.schema()
    };
    let groups = group_columns.len();
    let group_schema = Arc::new(Schema::new(partial_schema.fields()[..groups].to_vec()));
    let input = AggregateInput {
        table: parts.table.clone(),
        filter: parts.filter.clone(),
        slots: slots.columns.iter().map(|&c| as_read(c)).collect(),
        group_columns,
        group_schema,
        specs,
        schema: partial_schema,
        chunk_rows: parts.batch_size,
    };
    let exec: Arc<dyn ExecutionPlan> = Arc::new(QuiverAggregateExec::new(
        input,
        Arc::clone(&parts.units),
        parts.partitions.clone(),
        parts.total_zones,
        group_names,
        parts.metrics.clone(),
    ));
    if !single {
        return Ok(Some(exec));
    }
    debug_assert_eq!(exec.output_partitioning().partition_count(), 1);
    let last = AggregateExec::try_new(
        AggregateMode::Final,
        agg.group_expr().as_final(),
        agg.aggr_expr().to_vec(),
        agg.filter_expr().to_vec(),
        exec,
        agg.input_schema(),
    )?;
    Ok(Some(Arc::new(last)))
}

/// Whether every `Float64` sum is exact over the whole table: its values, bounded by segment
/// statistics, can never add up to 2^53.
fn float_sums_exact(parts: &ScanParts, slots: &Slots, specs: &[AggregateSpec]) -> bool {
    if specs.iter().all(|s| !s.float) {
        return true;
    }
    let segments = parts.table.segments();
    let rows: u64 = segments.iter().map(|s| s.num_rows() as u64).sum();
    let ranges: Vec<Option<Interval>> = slots
        .columns
        .iter()
        .map(|&c| {
            let column = parts.projection[c];
            let pieces: Vec<_> = segments
                .iter()
                .map(|s| (s.stats(column), s.num_rows() as u64))
                .collect();
            if pieces.iter().all(|(s, rows)| s.null_count >= *rows) {
                return Some(Interval::new(0, 0)); // no value anywhere
            }
            let read_type = parts.projected_schema.field(c).data_type();
            let (min, max) = merge_bounds(&pieces, read_type)?;
            bounds_range(&min, &max, read_type)
        })
        .collect();
    specs.iter().all(|s| s.float_sum_exact(&ranges, rows))
}
