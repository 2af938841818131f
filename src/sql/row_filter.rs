//! Exact row filtering inside the scan: the conjuncts of the pushed filters, evaluated over a
//! chunk of rows of one segment, the most promising first, each only on the rows the ones
//! before it kept (late materialization).
//!
//! # Contract
//! - [`RowFilter::evaluate`] answers which rows of a chunk satisfy every conjunct of a
//!   [`ConjunctSet`]: a row is kept only where DataFusion's evaluation of each conjunct is
//!   `true` (a NULL result drops it, as `WHERE` does). Conjuncts are DataFusion's own physical
//!   expressions, so values, casts and NULL semantics are DataFusion's.
//! - Order: conjuncts are evaluated by rank, `cost / (1 − selectivity)` ascending (cost: bytes
//!   per row of the columns read; selectivity: DataFusion's interval analysis over the table
//!   statistics, else a fixed guess per operator), the classic order for independent filters.
//! - Survivors: while at least [`SPARSE_FRACTION`] of the chunk's rows survive, the next
//!   conjunct runs over the whole chunk and its mask is ANDed in (no copies: its columns are
//!   zero-copy slices). Below that, the survivors become a selection list: the columns already
//!   read are gathered for them, and later columns are read only at those rows (overflow-bag
//!   keys decoded only there).
//! - Columns are read as the scan serves them (views for strings when it serves views).
//! - A conjunct on one low-cardinality string or binary column is decided once per distinct
//!   value of the column in the segment and looked up by each row's one-byte code
//!   (`distinct.rs`): no row's bytes are compared. A comparison of one packed integer-like
//!   column with a literal is answered on the packed values, in the frame of reference,
//!   where the zone is not decoded yet: no row is decoded.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::BooleanBufferBuilder;
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::buffer::BooleanBuffer;
use arrow::compute::filter;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{ColumnStatistics, Result};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::analysis::{analyze, AnalysisContext};
use datafusion::physical_expr::expressions::{BinaryExpr, Column, InListExpr, LikeExpr, Literal};
use datafusion::physical_expr::intervals::utils::check_support;
use datafusion::physical_expr::utils::{collect_columns, reassign_expr_columns};
use datafusion::physical_expr::{conjunction, split_conjunction, PhysicalExpr};

use super::scan_units::Unit;
use super::true_rows::{true_bits, true_rows};
use super::{external, read_as_view};
use crate::arrow_bridge::visibility::visible_mask;
use crate::arrow_bridge::{Comparison, SegmentReader};
use crate::Table;

/// Below this fraction of surviving rows, later conjuncts run over a selection list of the
/// survivors instead of the whole chunk under a mask: the crossover of Arrow's kernels, where
/// gathering a column for the survivors costs less than evaluating it for every row
/// (`cargo bench --bench filters`; BENCHMARKS.md, "When a selection list beats a mask").
pub(super) const SPARSE_FRACTION: f64 = 0.25;

/// Most conjuncts tracked one by one; the rest are evaluated as one conjunction.
const MAX_CONJUNCTS: usize = 64;

/// A set of conjuncts of a [`RowFilter`], by index (bit `i` = conjunct `i`).
pub(super) type ConjunctSet = u64;

/// One conjunct, ready to evaluate over just its own columns.
#[derive(Debug)]
struct Conjunct {
    /// The conjunct over the full table schema, as planned.
    planned: Arc<dyn PhysicalExpr>,
    /// The conjunct over `schema`.
    expr: Arc<dyn PhysicalExpr>,
    /// The conjunct's columns, in the order of `reads`.
    schema: SchemaRef,
    /// Table column index and whether it is read as a view, per column of `schema`.
    reads: Vec<(usize, bool)>,
}

/// The exact filter of a scan (see the module contract).
#[derive(Debug)]
pub(super) struct RowFilter {
    /// In evaluation order.
    conjuncts: Vec<Conjunct>,
}

/// What a chunk's evaluation found.
#[derive(Debug)]
pub(super) enum Survivors {
    /// Every row survives.
    All,
    /// No row survives.
    None,
    /// The rows marked `true` survive.
    Some(BooleanArray),
}

impl Survivors {
    /// How many of a chunk's `n` rows survive.
    pub(super) fn count(&self, n: usize) -> usize {
        match self {
            Survivors::All => n,
            Survivors::None => 0,
            Survivors::Some(mask) => mask.true_count(),
        }
    }

    /// Only the survivors also set in `visible`.
    fn restrict(self, visible: BooleanBuffer) -> Self {
        let kept = match self {
            Survivors::None => return Survivors::None,
            Survivors::All => visible,
            Survivors::Some(mask) => &true_bits(&mask) & &visible,
        };
        match kept.count_set_bits() {
            0 => Survivors::None,
            _ => Survivors::Some(BooleanArray::new(kept, None)),
        }
    }
}

/// Which stored rows `rows` of `unit`'s segment of `table` a scan outputs: the rows the
/// version shows (its deletion vector, `arrow_bridge/visibility.rs`) that satisfy every
/// conjunct of `filter` still pending in `unit`.
pub(super) fn unit_survivors(
    filter: Option<&RowFilter>,
    table: &Table,
    unit: &Unit,
    rows: Range<usize>,
) -> Result<Survivors> {
    let segment = &table.segments()[unit.segment];
    let survivors = match filter {
        Some(filter) if unit.pending != 0 => {
            filter.evaluate(segment, rows.clone(), unit.pending)?
        }
        _ => Survivors::All,
    };
    let visible = (unit.deleted > 0)
        .then(|| table.deleted_rows(unit.segment))
        .flatten()
        .and_then(|d| visible_mask(d, rows));
    Ok(match visible {
        Some(visible) => survivors.restrict(visible),
        None => survivors,
    })
}

/// The rows still alive during an evaluation, and the columns read for them so far.
enum Alive {
    /// All rows of the chunk.
    All,
    /// The rows set in the mask (over the whole chunk).
    Mask(BooleanBuffer),
    /// These chunk offsets, ascending.
    Rows(Vec<u32>),
}

impl RowFilter {
    /// The filter that keeps rows satisfying every one of `filters` (over `schema`, the full
    /// table schema as the scan serves it); `statistics` are the table's, per column of
    /// `schema`, for ranking; `in_bag(c)` whether column `c` sits in some segment's overflow bag.
    /// `None` when there is nothing to apply.
    pub(super) fn try_new(
        filters: &[Arc<dyn PhysicalExpr>],
        schema: &SchemaRef,
        statistics: &[ColumnStatistics],
        in_bag: impl Fn(usize) -> bool,
    ) -> Result<Option<Self>> {
        let mut planned: Vec<Arc<dyn PhysicalExpr>> = filters
            .iter()
            .flat_map(split_conjunction)
            .cloned()
            .collect();
        if planned.is_empty() {
            return Ok(None);
        }
        if planned.len() > MAX_CONJUNCTS {
            let rest = planned.split_off(MAX_CONJUNCTS - 1);
            planned.push(conjunction(rest));
        }
        let mut ranked = planned
            .into_iter()
            .map(|p| {
                let conjunct = Conjunct::try_new(p, schema)?;
                let rank = conjunct.rank(schema, statistics, &in_bag);
                Ok((rank, conjunct))
            })
            .collect::<Result<Vec<_>>>()?;
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(Some(Self {
            conjuncts: ranked.into_iter().map(|(_, c)| c).collect(),
        }))
    }

    /// The filter of exactly these conjuncts in this evaluation order (a filter's
    /// [`conjuncts`](Self::conjuncts) as shipped to another process, `source/shipped.rs`):
    /// neither split nor ranked again, so a [`ConjunctSet`] planned for the original names
    /// the same conjuncts here. `None` when `conjuncts` is empty.
    #[cfg(feature = "distributed")]
    pub(super) fn try_in_order(
        conjuncts: Vec<Arc<dyn PhysicalExpr>>,
        schema: &SchemaRef,
    ) -> Result<Option<Self>> {
        if conjuncts.len() > MAX_CONJUNCTS {
            return Err(datafusion::common::DataFusionError::Plan(format!(
                "a Quiver scan applies at most {MAX_CONJUNCTS} conjuncts, got {}",
                conjuncts.len()
            )));
        }
        let conjuncts = conjuncts
            .into_iter()
            .map(|p| Conjunct::try_new(p, schema))
            .collect::<Result<Vec<_>>>()?;
        Ok((!conjuncts.is_empty()).then_some(Self { conjuncts }))
    }

    /// Calls `f` on each conjunct in turn until it answers `Stop` (the walk of
    /// `ExecutionPlan::apply_expressions` / `DataSource::apply_expressions`).
    pub(super) fn apply_conjuncts(
        filter: Option<&RowFilter>,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for conjunct in filter.iter().flat_map(|filter| filter.conjuncts()) {
            if f(conjunct)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    /// The conjuncts over the full table schema, in evaluation order (bit `i` of a
    /// [`ConjunctSet`] is the `i`-th).
    pub(super) fn conjuncts(&self) -> impl Iterator<Item = &Arc<dyn PhysicalExpr>> {
        self.conjuncts.iter().map(|c| &c.planned)
    }

    /// The whole filter as one predicate over the full table schema.
    pub(super) fn conjunction(&self) -> Arc<dyn PhysicalExpr> {
        conjunction(self.conjuncts().cloned())
    }

    /// Which rows of `rows` of `segment` satisfy every conjunct in `pending`.
    pub(super) fn evaluate(
        &self,
        segment: &SegmentReader,
        rows: Range<usize>,
        pending: ConjunctSet,
    ) -> Result<Survivors> {
        self.evaluate_from(segment, rows, pending, Alive::All, SPARSE_FRACTION)
    }

    /// Which of `survivors` (of `rows` of `segment`) satisfy every conjunct, evaluated only
    /// on those rows once fewer than `sparse_fraction` of the chunk survive (a selection list;
    /// a mask over the whole chunk above that).
    pub(super) fn evaluate_within(
        &self,
        segment: &SegmentReader,
        rows: Range<usize>,
        survivors: Survivors,
        sparse_fraction: f64,
    ) -> Result<Survivors> {
        let alive = match survivors {
            Survivors::None => return Ok(Survivors::None),
            Survivors::All => Alive::All,
            Survivors::Some(mask) => {
                let kept = BooleanArray::new(true_bits(&mask), None);
                let alive = narrow(
                    Alive::All,
                    &kept,
                    rows.len(),
                    true,
                    sparse_fraction,
                    &mut [],
                )?;
                if is_empty(&alive) {
                    return Ok(Survivors::None);
                }
                alive
            }
        };
        self.evaluate_from(segment, rows, ConjunctSet::MAX, alive, sparse_fraction)
    }

    /// The rows of `alive` (of `rows` of `segment`) satisfying every conjunct in `pending`,
    /// turning to a selection list below `sparse_fraction` survivors.
    fn evaluate_from(
        &self,
        segment: &SegmentReader,
        rows: Range<usize>,
        pending: ConjunctSet,
        mut alive: Alive,
        sparse_fraction: f64,
    ) -> Result<Survivors> {
        let n = rows.len();
        // Columns read so far, each aligned with `alive` (whole chunk, or the selection).
        let mut read: Vec<((usize, bool), ArrayRef)> = Vec::new();
        let order: Vec<&Conjunct> = self
            .conjuncts
            .iter()
            .enumerate()
            .filter(|(i, _)| pending & (1u64 << i) != 0)
            .map(|(_, c)| c)
            .collect();
        for (k, conjunct) in order.iter().enumerate() {
            let len = match &alive {
                Alive::Rows(r) => r.len(),
                _ => n,
            };
            let at_rows = match &alive {
                Alive::Rows(r) => Some(&r[..]),
                _ => None,
            };
            let decided = match conjunct.on_distinct_values(segment, &rows, at_rows)? {
                Some(keep) => Some(keep),
                None => conjunct.on_packed_values(segment, &rows, at_rows)?,
            };
            let keep = match decided {
                Some(keep) => keep,
                None => {
                    let columns = read_once(segment, &conjunct.reads, &rows, &alive, &mut read)?;
                    conjunct.evaluate(columns, len)?
                }
            };
            alive = narrow(
                alive,
                &keep,
                n,
                k + 1 < order.len(),
                sparse_fraction,
                &mut read,
            )?;
            if is_empty(&alive) {
                return Ok(Survivors::None);
            }
        }
        Ok(match alive {
            Alive::All => Survivors::All,
            Alive::Mask(m) => Survivors::Some(BooleanArray::new(m, None)),
            Alive::Rows(r) => {
                let mut mask = BooleanBufferBuilder::new(n);
                mask.append_n(n, false);
                for o in r {
                    mask.set_bit(o as usize, true);
                }
                Survivors::Some(BooleanArray::new(mask.finish(), None))
            }
        })
    }
}

/// The columns `keys` of `rows` of `segment`, at the rows of `alive` (the whole chunk, or its
/// selection list), each read once per chunk: a column already in `read` is reused, a new one
/// is read and added to it.
fn read_once(
    segment: &SegmentReader,
    keys: &[(usize, bool)],
    rows: &Range<usize>,
    alive: &Alive,
    read: &mut Vec<((usize, bool), ArrayRef)>,
) -> Result<Vec<ArrayRef>> {
    let mut columns = Vec::with_capacity(keys.len());
    for &key in keys {
        if let Some((_, a)) = read.iter().find(|(k, _)| *k == key) {
            columns.push(Arc::clone(a));
            continue;
        }
        let array = match alive {
            Alive::Rows(r) => {
                let at: Vec<usize> = r.iter().map(|&o| rows.start + o as usize).collect();
                segment.read_rows_as(&[key], &at)
            }
            _ => segment.read_range(&[key], rows.clone()),
        }
        .map_err(external)?
        .remove(0);
        read.push((key, Arc::clone(&array)));
        columns.push(array);
    }
    Ok(columns)
}

/// `alive` narrowed to the rows where `keep` (aligned with `alive`) is true; once fewer than
/// `sparse_fraction` of the `n` rows survive and `more` conjuncts follow, a selection list,
/// with the columns in `read` gathered for it.
fn narrow(
    alive: Alive,
    keep: &BooleanArray,
    n: usize,
    more: bool,
    sparse_fraction: f64,
    read: &mut [((usize, bool), ArrayRef)],
) -> Result<Alive> {
    let alive = match alive {
        Alive::All if keep.true_count() == n => Alive::All,
        Alive::All => Alive::Mask(keep.values().clone()),
        Alive::Mask(m) => Alive::Mask(&m & keep.values()),
        Alive::Rows(r) => {
            let kept: Vec<u32> = keep.values().set_indices().map(|i| r[i]).collect();
            if !kept.is_empty() && kept.len() < r.len() && more {
                for (_, a) in read.iter_mut() {
                    *a = filter(a.as_ref(), keep)?;
                }
            }
            Alive::Rows(kept)
        }
    };
    if let Alive::Mask(m) = &alive {
        let survivors = m.count_set_bits();
        if more && survivors > 0 && (survivors as f64) < sparse_fraction * n as f64 {
            let mask = BooleanArray::new(m.clone(), None);
            for (_, a) in read.iter_mut() {
                *a = filter(a.as_ref(), &mask)?;
            }
            return Ok(Alive::Rows(m.set_indices().map(|i| i as u32).collect()));
        }
    }
    Ok(alive)
}

/// `arrays` (of one chunk) at just the rows set in `mask`.
pub(super) fn keep_rows(arrays: &[ArrayRef], mask: &BooleanBuffer) -> Result<Vec<ArrayRef>> {
    let mask = BooleanArray::new(mask.clone(), None);
    Ok(arrays
        .iter()
        .map(|a| filter(a, &mask))
        .collect::<std::result::Result<_, _>>()?)
}

/// Whether no row is alive.
fn is_empty(alive: &Alive) -> bool {
    match alive {
        Alive::All => false,
        Alive::Mask(m) => m.count_set_bits() == 0,
        Alive::Rows(r) => r.is_empty(),
    }
}

impl Conjunct {
    /// For a conjunct on one low-cardinality string or binary column: its value at `rows` of
    /// `segment` (or at chunk offsets `at` of them), decided once per distinct value of the
    /// column (`distinct.rs`) and looked up by each row's code. `None` when the conjunct
    /// reads other columns, or the column has no distinct-value table in this segment.
    fn on_distinct_values(
        &self,
        segment: &SegmentReader,
        rows: &Range<usize>,
        at: Option<&[u32]>,
    ) -> Result<Option<BooleanArray>> {
        let [(column, view)] = self.reads[..] else {
            return Ok(None);
        };
        if !matches!(
            self.schema.field(0).data_type(),
            DataType::Utf8View | DataType::BinaryView | DataType::LargeUtf8 | DataType::LargeBinary
        ) {
            return Ok(None);
        }
        let Some(table) = segment.distinct_values(column).map_err(external)? else {
            return Ok(None);
        };
        let values = if view {
            &table.view_values
        } else {
            &table.values
        };
        let decided = self.evaluate(vec![Arc::clone(values)], values.len())?;
        let decided = decided.values();
        let codes = &table.codes[rows.clone()];
        let keep = match at {
            Some(at) => BooleanBuffer::collect_bool(at.len(), |i| {
                decided.value(codes[at[i] as usize] as usize)
            }),
            None => BooleanBuffer::collect_bool(codes.len(), |i| decided.value(codes[i] as usize)),
        };
        Ok(Some(BooleanArray::new(keep, None)))
    }

    /// For a comparison of one packed integer-like column with a literal (`col OP lit` or
    /// `lit OP col`, OP one of `= <> < <= > >=`): its value at `rows` of `segment` (or at
    /// chunk offsets `at` of them), answered on the packed values in the frame of reference,
    /// decoding nothing (`SegmentReader::compare_packed`). `None` for other conjuncts, and
    /// where the column is not packed in this segment or is decoded already.
    fn on_packed_values(
        &self,
        segment: &SegmentReader,
        rows: &Range<usize>,
        at: Option<&[u32]>,
    ) -> Result<Option<BooleanArray>> {
        let [(column, _)] = self.reads[..] else {
            return Ok(None);
        };
        let Some(e) = self.expr.as_ref().downcast_ref::<BinaryExpr>() else {
            return Ok(None);
        };
        let op = match e.op() {
            Operator::Eq => Comparison::Eq,
            Operator::NotEq => Comparison::NotEq,
            Operator::Lt => Comparison::Lt,
            Operator::LtEq => Comparison::LtEq,
            Operator::Gt => Comparison::Gt,
            Operator::GtEq => Comparison::GtEq,
            _ => return Ok(None),
        };
        let is_column = |x: &Arc<dyn PhysicalExpr>| x.as_ref().downcast_ref::<Column>().is_some();
        let literal = |x: &Arc<dyn PhysicalExpr>| {
            x.as_ref()
                .downcast_ref::<Literal>()
                .map(|l| l.value().clone())
        };
        let (op, value) = match (literal(e.left()), literal(e.right())) {
            (None, Some(v)) if is_column(e.left()) => (op, v),
            (Some(v), None) if is_column(e.right()) => (op.flip(), v),
            _ => return Ok(None),
        };
        if value.is_null() {
            return Ok(None);
        }
        let value = value.to_array()?;
        let keep = segment
            .compare_packed(column, (op, value.as_ref()), rows.clone(), at)
            .map_err(external)?;
        Ok(keep.map(|k| BooleanArray::new(k, None)))
    }

    fn try_new(planned: Arc<dyn PhysicalExpr>, schema: &SchemaRef) -> Result<Self> {
        let mut indices: Vec<usize> = collect_columns(&planned)
            .iter()
            .map(|c| c.index())
            .collect();
        indices.sort_unstable();
        // Nullable whatever the table says: a distinct-value table ends with a NULL entry.
        let fields: Vec<_> = indices
            .iter()
            .map(|&i| schema.field(i).clone().with_nullable(true))
            .collect();
        let own = Arc::new(arrow::datatypes::Schema::new(fields));
        let expr = reassign_expr_columns(Arc::clone(&planned), &own)?;
        let reads = indices
            .iter()
            .map(|&i| (i, read_as_view(schema.field(i).data_type())))
            .collect();
        Ok(Self {
            planned,
            expr,
            schema: own,
            reads,
        })
    }

    /// `cost / (1 − selectivity)`: lower runs first.
    fn rank(
        &self,
        schema: &SchemaRef,
        statistics: &[ColumnStatistics],
        in_bag: &impl Fn(usize) -> bool,
    ) -> f64 {
        let cost: f64 = self
            .reads
            .iter()
            .map(|&(c, _)| {
                let t = schema.field(c).data_type();
                let width = t.primitive_width().unwrap_or(24) as f64;
                // Decoding an overflow key costs far more than reading a dense column.
                if in_bag(c) {
                    width * 8.0
                } else {
                    width
                }
            })
            .sum::<f64>()
            .max(1.0);
        let selectivity = self.selectivity(schema, statistics).clamp(0.0, 0.99);
        cost / (1.0 - selectivity)
    }

    /// Estimated fraction of rows kept.
    fn selectivity(&self, schema: &SchemaRef, statistics: &[ColumnStatistics]) -> f64 {
        if check_support(&self.planned, schema) {
            let estimate = AnalysisContext::try_from_statistics(schema, statistics)
                .and_then(|ctx| analyze(&self.planned, ctx, schema))
                .ok()
                .and_then(|ctx| ctx.selectivity);
            if let Some(s) = estimate {
                return s;
            }
        }
        let e = self.planned.as_ref();
        if let Some(b) = e.downcast_ref::<BinaryExpr>() {
            return match b.op() {
                Operator::Eq => 0.1,
                Operator::NotEq => 0.9,
                Operator::Or => 0.7,
                _ => 0.5,
            };
        }
        if let Some(list) = e.downcast_ref::<InListExpr>() {
            return if list.negated() { 0.8 } else { 0.2 };
        }
        if e.downcast_ref::<LikeExpr>().is_some() {
            return 0.3;
        }
        0.5
    }

    /// The rows of `columns` (this conjunct's, `len` rows) where it is `true`.
    fn evaluate(&self, columns: Vec<ArrayRef>, len: usize) -> Result<BooleanArray> {
        let options = RecordBatchOptions::new().with_row_count(Some(len));
        let batch = RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)?;
        Ok(BooleanArray::new(true_rows(&self.expr, &batch)?, None))
    }
}
