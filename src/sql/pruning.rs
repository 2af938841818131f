//! Segment and zone statistics as DataFusion [`PruningStatistics`], and table statistics for
//! the optimizer.
//!
//! # Contract
//! - A "container" is a segment or a zone (docs/FORMAT.md, "Statistics"). Unknown bounds are
//!   nulls in the arrays handed to DataFusion, which then keeps the container: pruning is
//!   conservative and never drops a container that might hold a matching row.
//! - [`prune`] answers which containers may hold rows matching a predicate; a predicate that
//!   cannot be evaluated on statistics keeps every container and counts a pruning error.
//! - [`column_statistics`] reports null counts and min/max as `Exact` — they were computed from
//!   every value at build time — or `Absent` when unknown.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, UInt64Array};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, ColumnStatistics, ScalarValue};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use datafusion::physical_plan::metrics::Count;

use crate::arrow_bridge::stats::{decode_bound, merge_bounds};
use crate::arrow_bridge::ColumnStats;

/// Statistics of some containers, column by column.
pub(crate) struct Containers<'a> {
    schema: &'a Schema,
    rows: Vec<u64>,
    /// `stats[column][container]`.
    stats: Vec<Vec<&'a ColumnStats>>,
}

impl<'a> Containers<'a> {
    /// Containers with these row counts; `stats_of(column, container)` gives their statistics.
    pub fn new(
        schema: &'a Schema,
        rows: Vec<u64>,
        stats_of: impl Fn(usize, usize) -> &'a ColumnStats,
    ) -> Self {
        let stats = (0..schema.fields().len())
            .map(|c| (0..rows.len()).map(|i| stats_of(c, i)).collect())
            .collect();
        Self {
            schema,
            rows,
            stats,
        }
    }

    /// Nulls of table column `column` in container `container`.
    pub fn null_count(&self, column: usize, container: usize) -> u64 {
        self.stats[column][container].null_count
    }

    fn bounds(&self, column: &Column, max: bool) -> Option<ArrayRef> {
        let index = self.schema.index_of(column.name()).ok()?;
        let data_type = self.schema.field(index).data_type();
        let values = self.stats[index].iter().map(|s| {
            let bound = if max { &s.max } else { &s.min };
            bound
                .as_deref()
                .and_then(|b| decode_bound(b, data_type))
                .and_then(|a| ScalarValue::try_from_array(&a, 0).ok())
                .map_or_else(|| ScalarValue::try_new_null(data_type), Ok)
        });
        let values: Vec<ScalarValue> = values.collect::<Result<_, _>>().ok()?;
        ScalarValue::iter_to_array(values).ok()
    }
}

impl PruningStatistics for Containers<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, false)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, true)
    }

    fn num_containers(&self) -> usize {
        self.rows.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let index = self.schema.index_of(column.name()).ok()?;
        Some(Arc::new(UInt64Array::from_iter_values(
            self.stats[index].iter().map(|s| s.null_count),
        )))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::new(UInt64Array::from(self.rows.clone())))
    }

    fn contained(
        &self,
        _column: &Column,
        _values: &std::collections::HashSet<ScalarValue>,
    ) -> Option<BooleanArray> {
        None
    }
}

/// Statistics of one column over pieces given as `(stats, rows)`; min/max `Exact` when known.
pub(crate) fn column_statistics(
    pieces: &[(&ColumnStats, u64)],
    data_type: &DataType,
) -> ColumnStatistics {
    let null_count: u64 = pieces.iter().map(|(s, _)| s.null_count).sum();
    let bound = |bytes: &[u8]| {
        decode_bound(bytes, data_type)
            .and_then(|a| ScalarValue::try_from_array(&a, 0).ok())
            .map_or(Precision::Absent, Precision::Exact)
    };
    let (min_value, max_value) = match merge_bounds(pieces, data_type) {
        Some((lo, hi)) => (bound(&lo), bound(&hi)),
        None => (Precision::Absent, Precision::Absent),
    };
    ColumnStatistics {
        null_count: Precision::Exact(null_count as usize),
        min_value,
        max_value,
        ..Default::default()
    }
}

/// Which of `containers` may hold rows matching `predicate` (all, when it cannot be evaluated).
pub(crate) fn prune(
    predicate: &Arc<dyn PhysicalExpr>,
    schema: &SchemaRef,
    containers: &Containers<'_>,
    errors: &Count,
) -> Vec<bool> {
    prune_with(
        pruner(predicate, schema, errors).as_deref(),
        containers,
        errors,
    )
}

/// `predicate` prepared for pruning many sets of containers; `None` when statistics can never
/// rule a container out (construction failures counted in `errors`).
pub(crate) fn pruner(
    predicate: &Arc<dyn PhysicalExpr>,
    schema: &SchemaRef,
    errors: &Count,
) -> Option<Arc<PruningPredicate>> {
    PruningPredicateBuilder::new()
        .with_file_schema(Arc::clone(schema))
        .with_error_counter(errors)
        .build(Arc::clone(predicate))
}

/// Which of `containers` may hold rows matching `pruner`'s predicate (all, without one or
/// when it cannot be evaluated).
pub(crate) fn prune_with(
    pruner: Option<&PruningPredicate>,
    containers: &Containers<'_>,
    errors: &Count,
) -> Vec<bool> {
    let all = vec![true; containers.num_containers()];
    let Some(p) = pruner else {
        return all;
    };
    p.prune(containers).unwrap_or_else(|_| {
        errors.add(1);
        all
    })
}
