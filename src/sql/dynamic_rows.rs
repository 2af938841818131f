//! Run-time filters applied to rows: the filters DataFusion pushes into a running scan (a hash
//! join's build-side keys, a TopK's current bound), evaluated on the rows of each chunk so
//! rows that no join or TopK can use never leave the scan — while they keep paying for
//! themselves.
//!
//! # Contract
//! - Only the conjuncts of the scan's pruning predicate that hold a dynamic filter are
//!   applied, as their current snapshot; static pruning-only filters are left to the operator
//!   that pushed them. A snapshot that is literally `true` (a filter not yet filled) is skipped.
//! - A row is dropped only where the snapshot evaluates to `false` or NULL. DataFusion pushes
//!   a dynamic filter only where every row it rejects is useless to the operator that pushed
//!   it (its Parquet scan applies them to rows the same way), so answers are unchanged.
//! - Snapshots are taken again each time the scan enters a segment ([`DynamicRows::refresh`]);
//!   a changed snapshot is applied from then on.
//! - It runs only on the rows the scan's own filter kept (a selection list of them unless
//!   nearly all of the chunk survives).
//! - Adaptive, per filter: the filters that kept the smallest fraction of their rows so far
//!   run first, each on the rows the ones before it kept; after [`JUDGE_AFTER_ROWS`]
//!   evaluated rows, a filter that kept more than [`KEEP_LIMIT`] of them, or whose measured
//!   time per row exceeds what a dropped row saves (`quiver.dynamic_filter_saved_ns`,
//!   default 60 ns of one core) times the fraction it drops, is no
//!   longer evaluated until its snapshot changes (it then costs more than it saves
//!   downstream). Which rows reach the operators above may thus vary with the machine's
//!   speed; answers never do.
//! - `SET quiver.dynamic_filter_rows = false` turns this off (zones are still pruned).
//!   The default saving per dropped row comes from TPC-H SF1 (BENCHMARKS.md, "Join filters
//!   on rows"): below it, filters into hash tables much larger than the caches (100+ ns a
//!   row) kept costing more than the repartitions and probes they spared.
//! - Metrics: `rows_dropped_dynamic`, `rows_evaluated_dynamic`, `dynamic_filters_stopped`.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use datafusion::common::{ColumnStatistics, Result, ScalarValue};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::{split_conjunction, PhysicalExpr};
use datafusion::physical_expr_common::physical_expr::snapshot_physical_expr_opt;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};

use super::row_filter::{RowFilter, Survivors};
use crate::arrow_bridge::SegmentReader;

/// Above this fraction of rows kept, a run-time filter stops being evaluated on rows: its
/// hash lookups then cost more than the gathers and downstream work it saves
/// (BENCHMARKS.md, "Join filters on rows").
pub(super) const KEEP_LIMIT: f64 = 0.8;

/// Below this fraction of a chunk's rows still alive, a run-time filter is evaluated on a
/// selection list of them rather than on the whole chunk: its hash lookups cost far more per
/// row than gathering the key columns.
const SPARSE_FRACTION: f64 = 0.9;

/// Rows a snapshot is evaluated on before it is judged.
pub(super) const JUDGE_AFTER_ROWS: usize = 65_536;

/// The run-time filters of one partition's scan (see the module contract).
pub(super) struct DynamicRows {
    /// The conjuncts of the pruning predicate, over the full table schema.
    conjuncts: Vec<Arc<dyn PhysicalExpr>>,
    /// What a dropped row is taken to save downstream, in nanoseconds.
    saved_ns: f64,
    schema: SchemaRef,
    /// Unknown statistics per table column (conjuncts are ranked without them).
    unknown: Vec<ColumnStatistics>,
    /// The snapshots last taken, and the filters applied, one per snapshot.
    snapshots: Vec<Arc<dyn PhysicalExpr>>,
    applied: Vec<Applied>,
    metrics: Metrics,
}

/// One run-time filter as applied, with what it did so far.
struct Applied {
    filter: RowFilter,
    /// Rows it was evaluated on, and kept; time spent evaluating it.
    evaluated: usize,
    kept: usize,
    spent: Duration,
    stopped: bool,
}

impl Applied {
    /// The fraction of rows it kept so far (0 before any: it is tried first).
    fn keeps(&self) -> f64 {
        match self.evaluated {
            0 => 0.0,
            n => self.kept as f64 / n as f64,
        }
    }

    /// Whether it has shown that it costs more than it saves.
    fn costs_more_than_it_saves(&self, saved_ns: f64) -> bool {
        costs_more_than_it_saves(self.evaluated, self.kept, self.spent, saved_ns)
    }
}

/// Whether a filter that kept `kept` of `evaluated` rows in `spent` has shown that it costs
/// more than it saves, a dropped row saving `saved_ns` (judged from [`JUDGE_AFTER_ROWS`] on).
fn costs_more_than_it_saves(evaluated: usize, kept: usize, spent: Duration, saved_ns: f64) -> bool {
    if evaluated < JUDGE_AFTER_ROWS {
        return false;
    }
    let keeps = kept as f64 / evaluated as f64;
    let ns_per_row = spent.as_nanos() as f64 / evaluated as f64;
    keeps > KEEP_LIMIT || ns_per_row > saved_ns * (1.0 - keeps)
}

struct Metrics {
    rows_dropped: Count,
    rows_evaluated: Count,
    stopped: Count,
}

impl DynamicRows {
    /// The run-time filters among the conjuncts of `pruning` (over `schema`, the full table
    /// schema), counting into partition `partition` of `metrics`, judged as if a dropped row
    /// saved `saved_ns` nanoseconds; `None` without a predicate.
    pub(super) fn new(
        pruning: Option<&Arc<dyn PhysicalExpr>>,
        saved_ns: f64,
        schema: &SchemaRef,
        metrics: &ExecutionPlanMetricsSet,
        partition: usize,
    ) -> Option<Self> {
        let conjuncts: Vec<_> = split_conjunction(pruning?).into_iter().cloned().collect();
        let m = |name: &'static str| MetricBuilder::new(metrics).counter(name, partition);
        Some(Self {
            conjuncts,
            saved_ns,
            schema: Arc::clone(schema),
            unknown: vec![ColumnStatistics::new_unknown(); schema.fields().len()],
            snapshots: Vec::new(),
            applied: Vec::new(),
            metrics: Metrics {
                rows_dropped: m("rows_dropped_dynamic"),
                rows_evaluated: m("rows_evaluated_dynamic"),
                stopped: m("dynamic_filters_stopped"),
            },
        })
    }

    /// Takes the filters' snapshots again; a change replaces the filters applied and starts
    /// judging them afresh. A conjunct that cannot be snapshotted is not applied.
    pub(super) fn refresh(&mut self) -> Result<()> {
        let snapshots: Vec<Arc<dyn PhysicalExpr>> = self
            .conjuncts
            .iter()
            .filter_map(|c| snapshot_physical_expr_opt(Arc::clone(c)).ok())
            .filter(|t| t.transformed && !is_true(&t.data))
            .map(|t| t.data)
            .collect();
        if snapshots == self.snapshots {
            return Ok(());
        }
        let mut applied = Vec::with_capacity(snapshots.len());
        for snapshot in &snapshots {
            let one = std::slice::from_ref(snapshot);
            if let Some(filter) = RowFilter::try_new(one, &self.schema, &self.unknown, |_| false)? {
                applied.push(Applied {
                    filter,
                    evaluated: 0,
                    kept: 0,
                    spent: Duration::ZERO,
                    stopped: false,
                });
            }
        }
        self.applied = applied;
        self.snapshots = snapshots;
        Ok(())
    }

    /// `survivors` of `rows` of `segment`, less the rows the filters reject: the filters
    /// that kept the smallest fraction so far first, each on what the ones before it kept.
    pub(super) fn apply(
        &mut self,
        segment: &SegmentReader,
        rows: Range<usize>,
        mut survivors: Survivors,
    ) -> Result<Survivors> {
        let n = rows.len();
        let mut order: Vec<usize> = (0..self.applied.len())
            .filter(|&i| !self.applied[i].stopped)
            .collect();
        order.sort_by(|&a, &b| self.applied[a].keeps().total_cmp(&self.applied[b].keeps()));
        let start = survivors.count(n);
        let mut alive = start;
        for i in order {
            if alive == 0 {
                break;
            }
            let one = &mut self.applied[i];
            let started = Instant::now();
            survivors =
                one.filter
                    .evaluate_within(segment, rows.clone(), survivors, SPARSE_FRACTION)?;
            one.spent += started.elapsed();
            self.metrics.rows_evaluated.add(alive);
            one.evaluated += alive;
            alive = survivors.count(n);
            one.kept += alive;
            if one.costs_more_than_it_saves(self.saved_ns) {
                one.stopped = true;
                self.metrics.stopped.add(1);
            }
        }
        self.metrics.rows_dropped.add(start - alive);
        Ok(survivors)
    }
}

/// Whether `e` is the literal `true`.
fn is_true(e: &Arc<dyn PhysicalExpr>) -> bool {
    e.downcast_ref::<Literal>()
        .is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: usize = JUDGE_AFTER_ROWS;

    fn ns(per_row: u64) -> Duration {
        Duration::from_nanos(per_row * ROWS as u64)
    }

    #[test]
    fn a_filter_is_not_judged_before_enough_rows() {
        assert!(!costs_more_than_it_saves(
            ROWS - 1,
            ROWS - 1,
            ns(1000),
            60.0
        ));
    }

    #[test]
    fn a_filter_keeping_most_rows_stops_however_cheap() {
        assert!(costs_more_than_it_saves(ROWS, ROWS * 9 / 10, ns(0), 60.0));
        assert!(!costs_more_than_it_saves(ROWS, ROWS / 2, ns(0), 60.0));
    }

    #[test]
    fn a_filter_stops_when_its_time_per_row_exceeds_the_saving_of_what_it_drops() {
        // Drops half: worth up to 30 ns a row at 60 ns per dropped row.
        assert!(!costs_more_than_it_saves(ROWS, ROWS / 2, ns(29), 60.0));
        assert!(costs_more_than_it_saves(ROWS, ROWS / 2, ns(31), 60.0));
        // Drops every row: worth up to the whole saving.
        assert!(!costs_more_than_it_saves(ROWS, 0, ns(59), 60.0));
        assert!(costs_more_than_it_saves(ROWS, 0, ns(61), 60.0));
    }

    #[test]
    fn only_a_literal_true_counts_as_an_unfilled_filter() {
        use datafusion::physical_expr::expressions::lit;
        assert!(is_true(&lit(true)));
        assert!(!is_true(&lit(false)));
        assert!(!is_true(&lit(ScalarValue::Boolean(None))));
    }
}
