//! One partition of the aggregate scan: its zones, chunk by chunk, filtered inside the loop
//! and folded into per-group accumulators, then one batch of partial states.
//!
//! # Contract
//! - Rows are exactly the rows the scan would output: the row filter (`row_filter.rs`) runs
//!   on every chunk of a zone it has to evaluate; its survivors, as a mask, decide which rows
//!   count (when fewer than a quarter survive, the chunk's inputs are gathered for them
//!   instead). No batch of the projection is built.
//! - An argument is evaluated over 64-bit integers in a zone where the zone's statistics
//!   prove that exact (`program.rs`); elsewhere DataFusion's own expression is evaluated over
//!   just the surviving rows (so its values and its errors are DataFusion's), counted as
//!   `zones_computed_wide`.
//! - [`PartitionAggregate::finish`] outputs one row per group that has a surviving row (one
//!   row without GROUP BY, even over no rows), group columns then each aggregate's states,
//!   in the schema of DataFusion's partial `AggregateExec`.
//! - Memory: groups and accumulators are reserved in the query's memory pool after every
//!   zone; a partition over the limit fails with DataFusion's resources-exhausted error.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::MemoryReservation;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder,
};

use super::super::external;
use super::super::row_filter::{keep_rows, unit_survivors, RowFilter, Survivors, SPARSE_FRACTION};
use super::super::scan_units::Unit;
use super::accumulate::{mark_bytes, Accumulator, Needs};
use super::groups::Grouper;
use super::program::{bound_value, narrow_values, wide_values, Interval, Pool};
use super::spec::AggregateSpec;
use crate::arrow_bridge::stats::decode_bound;
use crate::arrow_bridge::SegmentReader;
use crate::Table;

/// What every partition of one aggregate scan shares.
#[derive(Debug)]
pub(super) struct AggregateInput {
    pub(super) table: Table,
    pub(super) filter: Option<Arc<RowFilter>>,
    /// `(table column, as view)` per slot of the programs.
    pub(super) slots: Vec<(usize, bool)>,
    /// `(table column, as view)` per GROUP BY column.
    pub(super) group_columns: Vec<(usize, bool)>,
    /// The GROUP BY columns' fields.
    pub(super) group_schema: SchemaRef,
    pub(super) specs: Vec<AggregateSpec>,
    /// The partial aggregate's output schema.
    pub(super) schema: SchemaRef,
    pub(super) chunk_rows: usize,
}

/// The range of table column `column`'s non-null values in zone `zone` of `segment`
/// (`[0, 0]` when every value there is NULL); `None` when unknown.
pub(super) fn zone_range(segment: &SegmentReader, column: usize, zone: usize) -> Option<Interval> {
    let stats = segment.zone_stats(column, zone);
    if stats.null_count as usize >= segment.zone_range(zone).len() {
        return Some(Interval::new(0, 0));
    }
    let schema = segment.schema();
    bounds_range(
        stats.min.as_deref()?,
        stats.max.as_deref()?,
        schema.field(column).data_type(),
    )
}

/// The range between stored bounds `min` and `max` of a column read as `read_type`.
pub(super) fn bounds_range(min: &[u8], max: &[u8], read_type: &DataType) -> Option<Interval> {
    let bound = |b| decode_bound(b, read_type).and_then(|a| bound_value(a.as_ref()));
    Some(Interval::new(bound(min)?, bound(max)?))
}

struct Metrics {
    zones_passed_whole: Count,
    zones_evaluated: Count,
    zones_computed_wide: Count,
    rows_scanned: Count,
    rows_aggregated: Count,
    baseline: BaselineMetrics,
}

/// The aggregation of one partition (see the module contract).
pub(super) struct PartitionAggregate {
    input: Arc<AggregateInput>,
    units: Vec<Unit>,
    next_unit: usize,
    grouper: Option<Grouper>,
    accumulators: Vec<Accumulator>,
    /// The accumulator of each aggregate.
    shared: Vec<usize>,
    /// Surviving rows per group (drops groups no row reached).
    group_rows: Accumulator,
    groups: Vec<u32>,
    /// 64-bit values of the chunk's slots, and spare vectors, reused from chunk to chunk.
    narrow: Vec<Vec<i64>>,
    pool: Pool,
    reservation: MemoryReservation,
    metrics: Metrics,
}

impl PartitionAggregate {
    pub(super) fn new(
        input: Arc<AggregateInput>,
        units: Vec<Unit>,
        reservation: MemoryReservation,
        metrics: &ExecutionPlanMetricsSet,
        partition: usize,
    ) -> Result<Self> {
        let m = |name: &'static str| MetricBuilder::new(metrics).counter(name, partition);
        let metrics = Metrics {
            zones_passed_whole: m("zones_passed_whole"),
            zones_evaluated: m("zones_evaluated"),
            zones_computed_wide: m("zones_computed_wide"),
            rows_scanned: m("rows_scanned"),
            rows_aggregated: m("rows_aggregated"),
            baseline: BaselineMetrics::new(metrics, partition),
        };
        let grouper = match input.group_columns.is_empty() {
            true => None,
            false => Some(Grouper::new(
                Arc::clone(&input.group_schema),
                input.group_columns.clone(),
            )?),
        };
        // Aggregates of the same argument (`SUM(x)` and `AVG(x)`) share one accumulator.
        let mut keys: Vec<String> = Vec::new();
        let mut needs: Vec<Needs> = Vec::new();
        let mut shared = Vec::with_capacity(input.specs.len());
        for spec in &input.specs {
            let key = spec.argument_key();
            let at = match keys.iter().position(|k| *k == key) {
                Some(at) => at,
                None => {
                    keys.push(key);
                    needs.push(Needs::default());
                    keys.len() - 1
                }
            };
            needs[at] = needs[at].union(spec.needs());
            shared.push(at);
        }
        let mut accumulators: Vec<Accumulator> = needs.into_iter().map(Accumulator::new).collect();
        accumulators.iter_mut().for_each(|a| a.resize(1));
        let mut group_rows = Accumulator::new(Needs::default());
        group_rows.resize(1);
        Ok(Self {
            input,
            units,
            next_unit: 0,
            grouper,
            accumulators,
            shared,
            group_rows,
            groups: Vec::new(),
            narrow: Vec::new(),
            pool: Pool::default(),
            reservation,
            metrics,
        })
    }

    /// Aggregates the next zone; `false` when none is left.
    pub(super) fn step(&mut self) -> Result<bool> {
        let Some(&unit) = self.units.get(self.next_unit) else {
            return Ok(false);
        };
        self.next_unit += 1;
        let elapsed = self.metrics.baseline.elapsed_compute().clone();
        let timer = elapsed.timer();
        let input = Arc::clone(&self.input);
        let segment = &input.table.segments()[unit.segment];
        match unit.pending {
            0 => self.metrics.zones_passed_whole.add(1),
            _ => self.metrics.zones_evaluated.add(1),
        }
        let ranges: Vec<Option<Interval>> = input
            .slots
            .iter()
            .map(|&(c, _)| zone_range(segment, c, unit.zone))
            .collect();
        let proven: Vec<bool> = input
            .specs
            .iter()
            .map(|s| {
                s.program
                    .as_ref()
                    .is_none_or(|p| p.proves(&ranges).is_some())
            })
            .collect();
        if proven.iter().any(|p| !p) {
            self.metrics.zones_computed_wide.add(1);
        }
        let mut start = unit.start;
        while start < unit.end {
            let end = unit.end.min(start + input.chunk_rows);
            self.chunk(&input, unit, segment, start..end, &proven)?;
            start = end;
        }
        let groups = self.grouper.as_ref().map_or(1, Grouper::len).max(1);
        let per_group: usize = self
            .accumulators
            .iter()
            .map(Accumulator::bytes_per_group)
            .sum::<usize>()
            + 8;
        let held = self.grouper.as_ref().map_or(0, Grouper::size) + groups * per_group;
        self.reservation.try_resize(held)?;
        timer.done();
        Ok(true)
    }

    fn chunk(
        &mut self,
        input: &AggregateInput,
        unit: Unit,
        segment: &SegmentReader,
        rows: std::ops::Range<usize>,
        proven: &[bool],
    ) -> Result<()> {
        let len = rows.len();
        self.metrics.rows_scanned.add(len);
        let survivors = unit_survivors(input.filter.as_deref(), &input.table, &unit, rows.clone())?;
        let mask: Option<BooleanBuffer> = match survivors {
            Survivors::None => return Ok(()),
            Survivors::All => None,
            Survivors::Some(m) => Some(m.values().clone()),
        };
        self.metrics
            .rows_aggregated
            .add(mask.as_ref().map_or(len, BooleanBuffer::count_set_bits));
        let groups = match &mut self.grouper {
            Some(grouper) => {
                grouper.assign(
                    unit.segment,
                    segment,
                    rows.clone(),
                    mask.as_ref(),
                    &mut self.groups,
                )?;
                let n = grouper.len().max(1);
                self.accumulators.iter_mut().for_each(|a| a.resize(n));
                self.group_rows.resize(n);
                Some(&self.groups[..])
            }
            None => None,
        };
        let mut arrays = segment.read_range(&input.slots, rows).map_err(external)?;
        // Few survivors (the row filter's crossover): gather them, aggregate them unmasked.
        let compacted: Vec<u32>;
        let (mut mask, mut len, mut groups) = (mask, len, groups);
        if let Some(m) = mask
            .as_ref()
            .filter(|m| (m.count_set_bits() as f64) < SPARSE_FRACTION * len as f64)
        {
            arrays = keep_rows(&arrays, m)?;
            compacted = groups.map_or_else(Vec::new, |g| m.set_indices().map(|i| g[i]).collect());
            groups = groups.map(|_| &compacted[..]);
            len = m.count_set_bits();
            mask = None;
        }
        let marks = mask.as_ref().map(mark_bytes);
        self.group_rows.count_rows(len, marks.as_deref(), groups);
        self.narrow.resize_with(arrays.len(), Vec::new);
        let mut narrowed = vec![false; arrays.len()];
        for (at, acc) in self.accumulators.iter_mut().enumerate() {
            // The first aggregate of this accumulator stands for all of them (same argument).
            let Some(first) = self.shared.iter().position(|&a| a == at) else {
                continue;
            };
            let (spec, proven) = (&input.specs[first], proven[first]);
            let nulls = spec
                .null_slots
                .iter()
                .filter_map(|&s| arrays[s].nulls().filter(|n| n.null_count() > 0));
            let own = counted_rows(mask.as_ref(), nulls).map(|rows| mark_bytes(&rows));
            let counted = own.as_deref().or(marks.as_deref());
            match &spec.program {
                None => acc.count_rows(len, counted, groups),
                Some(program) if proven => {
                    for &leaf in program.leaves() {
                        if !narrowed[leaf] {
                            if !narrow_values(arrays[leaf].as_ref(), &mut self.narrow[leaf]) {
                                return Err(DataFusionError::Internal(
                                    "aggregate scan input is not an integer".into(),
                                ));
                            }
                            narrowed[leaf] = true;
                        }
                    }
                    let values = program.evaluate(&self.narrow, len, &mut self.pool);
                    acc.update(&values, counted, groups);
                    self.pool.give(values);
                }
                Some(program) => {
                    let (values, valid) = wide(program, &arrays, mask.as_ref(), len)?;
                    let valid = valid.as_ref().map(mark_bytes);
                    acc.update(&values, valid.as_deref(), groups);
                }
            }
        }
        Ok(())
    }

    /// The partition's partial states.
    pub(super) fn finish(&mut self) -> Result<RecordBatch> {
        let elapsed = self.metrics.baseline.elapsed_compute().clone();
        let timer = elapsed.timer();
        let mut columns: Vec<ArrayRef> = Vec::new();
        let mut keep: Option<Vec<usize>> = None;
        if let Some(grouper) = &mut self.grouper {
            let n = grouper.len();
            let values = grouper.emit()?;
            let reached: Vec<usize> = (0..n).filter(|&g| self.group_rows.count[g] > 0).collect();
            if reached.len() < n {
                let indices = UInt32Array::from_iter_values(reached.iter().map(|&g| g as u32));
                for v in &values {
                    columns.push(take(v.as_ref(), &indices, None)?);
                }
            } else {
                columns.extend(values);
            }
            keep = Some(reached);
        }
        for (spec, &at) in self.input.specs.iter().zip(&self.shared) {
            columns.extend(spec.states(&self.accumulators[at], keep.as_deref())?);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.input.schema), columns)?;
        self.metrics.baseline.record_output(batch.num_rows());
        timer.done();
        self.reservation.free();
        Ok(batch)
    }
}

/// The rows of a chunk that count for an aggregate whose inputs have `nulls`: those in `mask`
/// (all when `None`) where no input is NULL; `None` when no input has a NULL (the mask then
/// decides alone).
fn counted_rows<'a>(
    mask: Option<&BooleanBuffer>,
    mut nulls: impl Iterator<Item = &'a arrow::buffer::NullBuffer>,
) -> Option<BooleanBuffer> {
    let first = nulls.next()?;
    let mut rows = match mask {
        Some(m) => m & first.inner(),
        None => first.inner().clone(),
    };
    for n in nulls {
        rows = &rows & n.inner();
    }
    Some(rows)
}

/// DataFusion's evaluation of `program` over the rows of `mask` (all when `None`), spread back
/// to one 128-bit value per row of the chunk, and the rows whose value is not NULL.
fn wide(
    program: &super::program::Program,
    arrays: &[ArrayRef],
    mask: Option<&BooleanBuffer>,
    len: usize,
) -> Result<(Vec<i128>, Option<BooleanBuffer>)> {
    let not_wide = || DataFusionError::Internal("aggregate argument is not an integer".into());
    match mask {
        None => {
            let result = program.evaluate_wide(arrays, len)?;
            let values = wide_values(result.as_ref()).ok_or_else(not_wide)?;
            Ok((values, result.nulls().map(|n| n.inner().clone())))
        }
        Some(mask) => {
            let result = program.evaluate_wide(&keep_rows(arrays, mask)?, mask.count_set_bits())?;
            let packed = wide_values(result.as_ref()).ok_or_else(not_wide)?;
            let mut values = vec![0i128; len];
            let mut valid = arrow::array::BooleanBufferBuilder::new(len);
            valid.append_n(len, false);
            for (j, i) in mask.set_indices().enumerate() {
                values[i] = packed[j];
                valid.set_bit(i, result.is_valid(j));
            }
            Ok((values, Some(valid.finish())))
        }
    }
}
