//! The stream of one partition of a Quiver scan, zone by zone: zones passed whole as
//! zero-copy slices of the projected columns, other zones through the row filter, and all of
//! it re-pruned on dynamic filters.
//!
//! # Contract
//! - Batches hold at most `batch_size` rows, in table order; the partition stops after
//!   `fetch` output rows.
//! - A zone with nothing left to evaluate and no deleted row, or a chunk where every row passes
//!   the filter and none is deleted, is emitted as zero-copy slices. Elsewhere the filter runs over chunks of `batch_size` rows
//!   (`row_filter.rs`) and the surviving rows of the projection are gathered into batches of
//!   `batch_size` rows (Arrow's `BatchCoalescer`); columns are read for a chunk only once
//!   some row of it survives.
//! - Each time the scan enters a segment it snapshots the dynamic filters (TopK, hash join)
//!   and skips that segment's zones the snapshot proves empty (`zones_pruned_dynamic`); a
//!   predicate that cannot be snapshotted prunes nothing (`pruning_errors`). The same
//!   snapshots are applied to the rows of the chunks read (`dynamic_rows.rs`), unless
//!   `SET quiver.dynamic_filter_rows = false`.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::compute::BatchCoalescer;
use arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::snapshot_physical_expr_opt;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};

use super::dynamic_rows::DynamicRows;
use super::pruning::{prune, Containers};
use super::row_filter::{unit_survivors, RowFilter, Survivors};
use super::scan_units::Unit;
use super::{external, read_as_view};
use crate::Table;

/// What one partition reads: the scan's plan, as its `QuiverSource` holds it.
pub(super) struct PartitionInput {
    pub(super) table: Table,
    /// The table's full schema as DataFusion sees it.
    pub(super) schema: SchemaRef,
    /// Table column indices to output.
    pub(super) projection: Vec<usize>,
    pub(super) projected_schema: SchemaRef,
    /// The filter applied to rows.
    pub(super) filter: Option<Arc<RowFilter>>,
    /// Filters only pruned with (dynamic ones among them), over the full table schema.
    pub(super) pruning: Option<Arc<dyn PhysicalExpr>>,
    pub(super) batch_size: usize,
    pub(super) fetch: Option<usize>,
    /// Whether dynamic filters are also applied to rows (`dynamic_rows.rs`), with the
    /// nanoseconds a dropped row is taken to save.
    pub(super) dynamic_filter_rows: Option<f64>,
}

/// The stream of one partition.
pub(super) struct PartitionScan {
    source: PartitionInput,
    /// `(table column, as view)` per output column.
    wanted: Vec<(usize, bool)>,
    units: Vec<Unit>,
    next_unit: usize,
    /// Next row within the current unit.
    offset: usize,
    /// Rows left under `fetch`.
    remaining: usize,
    /// Dynamic-filter pruning of the current segment's zones: (segment, keep per zone).
    dynamic: Option<(usize, Vec<bool>)>,
    /// Dynamic filters applied to rows, when on.
    dynamic_rows: Option<DynamicRows>,
    /// Surviving rows of evaluated chunks, gathered into full batches.
    coalescer: BatchCoalescer,
    /// Batches ready to emit, in order.
    ready: VecDeque<RecordBatch>,
    metrics: Metrics,
}

struct Metrics {
    zones_passed_whole: Count,
    zones_evaluated: Count,
    zones_pruned_dynamic: Count,
    rows_scanned: Count,
    rows_materialized: Count,
    errors: Count,
}

impl PartitionScan {
    /// The scan of `units`, partition `partition` of a scan counting into `metrics`.
    pub(super) fn new(
        source: PartitionInput,
        units: Vec<Unit>,
        metrics: &ExecutionPlanMetricsSet,
        partition: usize,
    ) -> Self {
        let dynamic_rows = source.dynamic_filter_rows.and_then(|saved_ns| {
            DynamicRows::new(
                source.pruning.as_ref(),
                saved_ns,
                &source.schema,
                metrics,
                partition,
            )
        });
        let m = |name: &'static str| MetricBuilder::new(metrics).counter(name, partition);
        let metrics = Metrics {
            zones_passed_whole: m("zones_passed_whole"),
            zones_evaluated: m("zones_evaluated"),
            zones_pruned_dynamic: m("zones_pruned_dynamic"),
            rows_scanned: m("rows_scanned"),
            rows_materialized: m("rows_materialized"),
            errors: MetricBuilder::new(metrics).global_counter("pruning_errors"),
        };
        let wanted = source
            .projection
            .iter()
            .zip(source.projected_schema.fields())
            .map(|(&c, field)| (c, read_as_view(field.data_type())))
            .collect();
        let coalescer =
            BatchCoalescer::new(Arc::clone(&source.projected_schema), source.batch_size);
        Self {
            dynamic_rows,
            remaining: source.fetch.unwrap_or(usize::MAX),
            source,
            wanted,
            units,
            next_unit: 0,
            offset: 0,
            dynamic: None,
            coalescer,
            ready: VecDeque::new(),
            metrics,
        }
    }

    /// Whether zone `u` survives the predicate's dynamic parts as they stand now.
    fn keep(&mut self, u: Unit) -> bool {
        let Some(predicate) = &self.source.pruning else {
            return true;
        };
        if self.dynamic.as_ref().is_none_or(|(s, _)| *s != u.segment) {
            if let Some(rows) = &mut self.dynamic_rows {
                if rows.refresh().is_err() {
                    self.metrics.errors.add(1);
                }
            }
            let keep = match snapshot_physical_expr_opt(Arc::clone(predicate)) {
                // Static predicate: planning already pruned with it.
                Ok(t) if !t.transformed => None,
                Ok(t) => {
                    let segment = &self.source.table.segments()[u.segment];
                    let containers =
                        Containers::new(&self.source.schema, segment.zone_lengths(), |c, z| {
                            segment.zone_stats(c, z)
                        });
                    Some(prune(
                        &t.data,
                        &self.source.schema,
                        &containers,
                        &self.metrics.errors,
                    ))
                }
                Err(_) => {
                    self.metrics.errors.add(1);
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

    /// The projection at `rows` of `segment`: zero-copy slices.
    fn slice(&self, segment: usize, rows: std::ops::Range<usize>) -> Result<RecordBatch> {
        let len = rows.len();
        let columns = self.source.table.segments()[segment]
            .read_range(&self.wanted, rows)
            .map_err(external)?;
        let options = RecordBatchOptions::new().with_row_count(Some(len));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.source.projected_schema),
            columns,
            &options,
        )?)
    }

    /// Moves the coalescer's completed batches (all of them, with `flush`) to `ready`.
    fn drain_coalescer(&mut self, flush: bool) -> Result<()> {
        if flush {
            self.coalescer.finish_buffered_batch()?;
        }
        while let Some(b) = self.coalescer.next_completed_batch() {
            self.ready.push_back(b);
        }
        Ok(())
    }

    /// Reads the next chunk of the current unit into `ready` or the coalescer; `false` at
    /// the end of the partition.
    fn read_chunk(&mut self) -> Result<bool> {
        let Some(&u) = self.units.get(self.next_unit) else {
            self.drain_coalescer(true)?;
            return Ok(false);
        };
        if self.offset == 0 {
            if !self.keep(u) {
                self.metrics.zones_pruned_dynamic.add(1);
                self.next_unit += 1;
                return Ok(true);
            }
            match u.pending {
                0 => self.metrics.zones_passed_whole.add(1),
                _ => self.metrics.zones_evaluated.add(1),
            }
        }
        let start = u.start + self.offset;
        let mut len = (u.end - start).min(self.source.batch_size);
        if u.pending == 0 {
            len = len.min(self.remaining);
        }
        self.offset += len;
        if start + len >= u.end {
            self.next_unit += 1;
            self.offset = 0;
        }
        self.metrics.rows_scanned.add(len);
        let rows = start..start + len;
        let survivors = unit_survivors(
            self.source.filter.as_deref(),
            &self.source.table,
            &u,
            rows.clone(),
        )?;
        let survivors = match &mut self.dynamic_rows {
            Some(d) => d.apply(
                &self.source.table.segments()[u.segment],
                rows.clone(),
                survivors,
            )?,
            None => survivors,
        };
        match survivors {
            Survivors::None => {}
            Survivors::All => {
                // Keep table order: what the coalescer holds goes first.
                self.drain_coalescer(true)?;
                let batch = self.slice(u.segment, rows)?;
                self.ready.push_back(batch);
            }
            Survivors::Some(mask) => {
                let batch = self.slice(u.segment, rows)?;
                self.coalescer.push_batch_with_filter(batch, &mask)?;
                self.drain_coalescer(false)?;
            }
        }
        Ok(true)
    }
}

impl Iterator for PartitionScan {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.remaining == 0 {
                return None;
            }
            if let Some(batch) = self.ready.pop_front() {
                let batch = if batch.num_rows() > self.remaining {
                    batch.slice(0, self.remaining)
                } else {
                    batch
                };
                self.remaining -= batch.num_rows();
                self.metrics.rows_materialized.add(batch.num_rows());
                return Some(Ok(batch));
            }
            match self.read_chunk() {
                Ok(true) => {}
                Ok(false) if self.ready.is_empty() => return None,
                Ok(false) => {}
                Err(e) => {
                    self.remaining = 0;
                    return Some(Err(e));
                }
            }
        }
    }
}
