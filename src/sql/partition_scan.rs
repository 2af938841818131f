//! The stream of one partition of a Quiver scan: zero-copy slices of the projected columns,
//! zone by zone, re-pruned on dynamic filters.
//!
//! # Contract
//! - Batches hold at most `batch_size` rows and never cross a zone; the partition stops after
//!   `fetch` rows.
//! - Each time the scan enters a segment it snapshots the predicate's dynamic parts (TopK, hash
//!   join filters) and skips that segment's zones the snapshot proves empty
//!   (`zones_pruned_dynamic`); a predicate that cannot be snapshotted prunes nothing
//!   (`pruning_errors`).

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::snapshot_physical_expr_opt;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};

use super::external;
use super::pruning::{prune, Containers};
use super::scan_units::Unit;
use crate::Table;

/// What one partition reads: the scan's plan, as its `QuiverSource` holds it.
pub(super) struct PartitionInput {
    pub(super) table: Table,
    /// The table's full schema as DataFusion sees it.
    pub(super) schema: SchemaRef,
    /// Table column indices to output.
    pub(super) projection: Vec<usize>,
    pub(super) projected_schema: SchemaRef,
    /// Conjunction of pushed filters, over the full table schema.
    pub(super) predicate: Option<Arc<dyn PhysicalExpr>>,
    pub(super) batch_size: usize,
    pub(super) fetch: Option<usize>,
}

/// The stream of one partition.
pub(super) struct PartitionScan {
    source: PartitionInput,
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
    /// The scan of `units`, partition `partition` of a scan counting into `metrics`.
    pub(super) fn new(
        source: PartitionInput,
        units: Vec<Unit>,
        metrics: &ExecutionPlanMetricsSet,
        partition: usize,
    ) -> Self {
        let m = |name: &'static str| MetricBuilder::new(metrics).counter(name, partition);
        let (zones_scanned, zones_pruned_dynamic, rows_scanned) = (
            m("zones_scanned"),
            m("zones_pruned_dynamic"),
            m("rows_scanned"),
        );
        let errors = MetricBuilder::new(metrics).global_counter("pruning_errors");
        Self {
            remaining: source.fetch.unwrap_or(usize::MAX),
            source,
            units,
            next_unit: 0,
            offset: 0,
            dynamic: None,
            zones_scanned,
            zones_pruned_dynamic,
            rows_scanned,
            errors,
        }
    }

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
                    let containers =
                        Containers::new(&self.source.schema, segment.zone_lengths(), |c, z| {
                            segment.zone_stats(c, z)
                        });
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
