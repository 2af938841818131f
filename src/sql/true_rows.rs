//! The rows of a batch where a boolean physical expression is `true` — the question a filter
//! asks — answered with `CASE` evaluated branch by branch.
//!
//! # Contract
//! - [`true_rows`] returns a bitmap over the batch's rows, set exactly where DataFusion's
//!   evaluation of the expression gives `true` (`false` and NULL both leave the bit clear,
//!   as `WHERE` treats them).
//! - `CASE base WHEN w1 THEN t1 ... [ELSE e] END` (the shape of a partitioned hash join's
//!   dynamic filter: `CASE hash(keys) % n WHEN 0 THEN filter0 ...`): the base is evaluated
//!   once; each branch's result is evaluated only on the rows that reach that branch (the
//!   first `WHEN` equal to the base; a NULL base or a NULL `WHEN` value matches none) and
//!   written straight into the bitmap. DataFusion's own `CASE` evaluates the same branches
//!   on the same rows, then merges the branch results into one boolean array row by row —
//!   most of its time on such filters (BENCHMARKS.md, "Partitioned join filters").
//! - `AND` / `OR` over a `CASE` are answered from the bitmaps of their sides: reading NULL as
//!   `false` commutes with both (it does not with `NOT`, which is left to DataFusion).
//!   Every other expression is DataFusion's own evaluation.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, BooleanBufferBuilder, RecordBatch, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::kernels::cmp::eq;
use arrow::compute::take_record_batch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::expressions::{BinaryExpr, CaseExpr, Literal};
use datafusion::physical_expr::PhysicalExpr;

/// The rows of `batch` where `expr` is `true` (see the module contract).
pub(super) fn true_rows(
    expr: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
) -> Result<BooleanBuffer> {
    if let Some(case) = expr.downcast_ref::<CaseExpr>() {
        if let Some(base) = case.expr() {
            return case_true_rows(case, base, batch);
        }
    }
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        let op = *binary.op();
        if matches!(op, Operator::And | Operator::Or) && contains_case(expr) {
            let left = true_rows(binary.left(), batch)?;
            let decided = match op {
                Operator::And => left.count_set_bits() == 0,
                _ => left.count_set_bits() == left.len(),
            };
            if decided {
                return Ok(left);
            }
            let right = true_rows(binary.right(), batch)?;
            return Ok(match op {
                Operator::And => &left & &right,
                _ => &left | &right,
            });
        }
    }
    let n = batch.num_rows();
    let value = expr.evaluate(batch)?.into_array(n)?;
    let Some(value) = value.as_boolean_opt() else {
        return Err(DataFusionError::Internal(format!(
            "filter {expr} evaluated to {}, not a boolean",
            value.data_type()
        )));
    };
    Ok(true_bits(value))
}

/// The rows where `mask` is `true`: its values, with NULL rows cleared.
pub(super) fn true_bits(mask: &BooleanArray) -> BooleanBuffer {
    match mask.nulls() {
        Some(valid) => mask.values() & valid.inner(),
        None => mask.values().clone(),
    }
}

/// Whether a `CASE` with a base expression sits anywhere in `expr`.
fn contains_case(expr: &Arc<dyn PhysicalExpr>) -> bool {
    let mut found = false;
    let _ = expr.apply(|e| {
        found = e
            .downcast_ref::<CaseExpr>()
            .is_some_and(|c| c.expr().is_some());
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// [`true_rows`] of `CASE base WHEN ... END`.
fn case_true_rows(
    case: &CaseExpr,
    base: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
) -> Result<BooleanBuffer> {
    let n = batch.num_rows();
    let base = base.evaluate(batch)?.into_array(n)?;
    let mut result = BooleanBufferBuilder::new(n);
    result.append_n(n, false);
    // Rows no WHEN has matched yet.
    let mut open = BooleanBuffer::new_set(n);
    for (when, then) in case.when_then_expr() {
        if open.count_set_bits() == 0 {
            break;
        }
        let hit = match when.evaluate(batch)? {
            ColumnarValue::Scalar(s) => eq(&base, &s.to_scalar()?)?,
            ColumnarValue::Array(a) => eq(&base, &a)?,
        };
        let hit = true_bits(&hit);
        let reached = &hit & &open;
        open = &open & &!&hit;
        branch_true_rows(then, batch, &reached, &mut result)?;
    }
    if let Some(otherwise) = case.else_expr() {
        if open.count_set_bits() > 0 {
            branch_true_rows(otherwise, batch, &open, &mut result)?;
        }
    }
    Ok(result.finish())
}

/// Sets in `result` the rows of `reached` where `expr` is `true`, evaluating `expr` only on
/// those rows.
fn branch_true_rows(
    expr: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
    reached: &BooleanBuffer,
    result: &mut BooleanBufferBuilder,
) -> Result<()> {
    let count = reached.count_set_bits();
    if count == 0 {
        return Ok(());
    }
    if let Some(literal) = expr.downcast_ref::<Literal>() {
        if literal.value() == &ScalarValue::Boolean(Some(true)) {
            reached.set_indices().for_each(|i| result.set_bit(i, true));
        }
        if matches!(literal.value(), ScalarValue::Boolean(_)) {
            return Ok(());
        }
    }
    if count == batch.num_rows() {
        let rows = true_rows(expr, batch)?;
        rows.set_indices().for_each(|i| result.set_bit(i, true));
        return Ok(());
    }
    let at = UInt32Array::from_iter_values(reached.set_indices().map(|i| i as u32));
    let subset = take_record_batch(batch, &at)?;
    let rows = true_rows(expr, &subset)?;
    rows.set_indices()
        .for_each(|j| result.set_bit(at.value(j) as usize, true));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::{col, lit, BinaryExpr, IsNullExpr};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// DataFusion's own answer: `expr` evaluated whole, NULL read as false.
    fn datafusion_true_rows(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Vec<bool> {
        let value = expr
            .evaluate(batch)
            .unwrap()
            .into_array(batch.num_rows())
            .unwrap();
        let value = value.as_boolean();
        (0..value.len())
            .map(|i| value.is_valid(i) && value.value(i))
            .collect()
    }

    fn random_batch(rng: &mut StdRng, n: usize) -> RecordBatch {
        let null_rate = rng.random_range(0.0..0.5);
        let column = |rng: &mut StdRng, modulo: i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter((0..n).map(|_| {
                (!rng.random_bool(null_rate)).then(|| rng.random_range(0..modulo))
            })))
        };
        let schema = Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Int64, true),
        ]);
        let (k, v) = (column(rng, 4), column(rng, 100));
        RecordBatch::try_new(Arc::new(schema), vec![k, v]).unwrap()
    }

    /// A random boolean leaf over `v`: a comparison, NULL test or literal.
    fn leaf(rng: &mut StdRng, schema: &Schema) -> Arc<dyn PhysicalExpr> {
        let v = col("v", schema).unwrap();
        let bound = lit(rng.random_range(0i64..100));
        match rng.random_range(0..5) {
            0 => Arc::new(BinaryExpr::new(v, Operator::Lt, bound)),
            1 => Arc::new(BinaryExpr::new(v, Operator::GtEq, bound)),
            2 => Arc::new(IsNullExpr::new(v)),
            3 => lit(rng.random_bool(0.5)),
            _ => lit(ScalarValue::Boolean(None)),
        }
    }

    /// `CASE k WHEN ... THEN ... [ELSE ...] END` with random branches, some WHEN values NULL or
    /// repeated, ELSE absent, a literal or an expression.
    fn random_case(rng: &mut StdRng, schema: &Schema) -> Arc<dyn PhysicalExpr> {
        let branches = (0..rng.random_range(1..5))
            .map(|_| {
                let when = match rng.random_range(0..6) {
                    0 => lit(ScalarValue::Int64(None)),
                    _ => lit(rng.random_range(0i64..5)),
                };
                let then = if rng.random_bool(0.2) {
                    random_case(rng, schema)
                } else {
                    leaf(rng, schema)
                };
                (when, then)
            })
            .collect();
        let otherwise = match rng.random_range(0..3) {
            0 => None,
            _ => Some(leaf(rng, schema)),
        };
        let base = col("k", schema).unwrap();
        Arc::new(CaseExpr::try_new(Some(base), branches, otherwise).unwrap())
    }

    #[test]
    fn case_and_or_answers_match_datafusions_own_evaluation() {
        let mut rng = StdRng::seed_from_u64(7);
        for round in 0..400 {
            let n = rng.random_range(0..300);
            let batch = random_batch(&mut rng, n);
            let schema = batch.schema();
            let mut expr = random_case(&mut rng, &schema);
            if rng.random_bool(0.4) {
                let op = if rng.random_bool(0.5) {
                    Operator::Or
                } else {
                    Operator::And
                };
                expr = Arc::new(BinaryExpr::new(leaf(&mut rng, &schema), op, expr));
            }
            let ours = true_rows(&expr, &batch).unwrap();
            let ours: Vec<bool> = ours.iter().collect();
            assert_eq!(
                ours,
                datafusion_true_rows(&expr, &batch),
                "round {round}: {expr}"
            );
        }
    }

    #[test]
    fn a_base_of_another_type_compares_with_its_when_values() {
        let base = UInt64Array::from(vec![Some(0), Some(1), None, Some(1)]);
        let schema = Schema::new(vec![Field::new("h", DataType::UInt64, true)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(base)]).unwrap();
        let branches = vec![
            (lit(ScalarValue::UInt64(Some(1))), lit(true)),
            (lit(ScalarValue::UInt64(Some(0))), lit(false)),
        ];
        let h = col("h", &batch.schema()).unwrap();
        let case: Arc<dyn PhysicalExpr> =
            Arc::new(CaseExpr::try_new(Some(h), branches, Some(lit(true))).unwrap());
        let rows: Vec<bool> = true_rows(&case, &batch).unwrap().iter().collect();
        assert_eq!(rows, vec![false, true, true, true]);
    }
}
