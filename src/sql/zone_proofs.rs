//! Zone proofs: what the statistics of a zone already decide about each conjunct of a scan's
//! exact filter, so that the scan evaluates only what they leave open.
//!
//! # Contract
//! - [`ZoneProver::decide`] answers, per zone: `None` when some conjunct can match no row of
//!   it (the zone is skipped), else the conjuncts that may reject some of its rows (the
//!   others hold for every row and are not evaluated there; an empty set passes the zone
//!   through whole, zero-copy).
//! - "Every row matches" is proven as "no row can match the conjunct's negation", and only
//!   where negation is exact: the conjunct is built of column references, casts, non-null
//!   literals, comparisons, `IN` lists, `LIKE`, `IS [NOT] NULL`, `NOT`, `AND` and `OR`
//!   ([`negate`]), and the zone holds no null in any column the conjunct reads (so SQL's third
//!   truth value cannot occur). A bare `col IS [NOT] NULL` is never NULL and is decided by the
//!   null count alone. Floats compare in IEEE total order in Arrow's kernels and in the
//!   statistics alike, so the negation of `x < 1` is `x >= 1`, NaN included.
//! - Statistics never prove more than they know: unknown bounds (long strings, widened
//!   columns) leave the conjunct to evaluation.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{
    in_list, BinaryExpr, CastExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, LikeExpr,
    Literal, NotExpr,
};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::PruningPredicate;
use datafusion::physical_plan::metrics::Count;

use super::pruning::{prune_with, pruner, Containers};
use super::row_filter::{ConjunctSet, RowFilter};

/// What statistics can prove about one conjunct.
#[derive(Debug)]
struct Proof {
    /// Prunes containers where no row can satisfy the conjunct.
    matches: Option<Arc<PruningPredicate>>,
    /// Prunes containers where no row can satisfy the conjunct's negation; `None` when the
    /// negation is not exact (see the module contract).
    negation: Option<Arc<PruningPredicate>>,
    /// Table columns the conjunct reads.
    columns: Vec<usize>,
    /// Whether the conjunct's value is never NULL (a bare `col IS [NOT] NULL`).
    never_null: bool,
}

/// The proofs for every conjunct of a [`RowFilter`], in its order.
#[derive(Debug)]
pub(super) struct ZoneProver {
    proofs: Vec<Proof>,
}

impl ZoneProver {
    /// Proofs for `filter`'s conjuncts over `schema` (the full table schema); predicates that
    /// cannot be prepared count in `errors`.
    pub(super) fn new(filter: &RowFilter, schema: &SchemaRef, errors: &Count) -> Self {
        let proofs = filter
            .conjuncts()
            .map(|c| {
                let negated = negate(c, schema).ok().flatten();
                Proof {
                    matches: pruner(c, schema, errors),
                    negation: negated.and_then(|n| pruner(&n, schema, errors)),
                    columns: collect_columns(c).iter().map(|col| col.index()).collect(),
                    never_null: is_null_test_of_column(c),
                }
            })
            .collect();
        Self { proofs }
    }

    /// Per container: `None` if it can hold no matching row, else the conjuncts left to
    /// evaluate there (see the module contract).
    pub(super) fn decide(
        &self,
        containers: &Containers<'_>,
        errors: &Count,
    ) -> Vec<Option<ConjunctSet>> {
        let n = containers.num_containers();
        let mut out: Vec<Option<ConjunctSet>> = vec![Some(0); n];
        for (i, proof) in self.proofs.iter().enumerate() {
            let bit = 1u64 << i;
            let may_match = prune_with(proof.matches.as_deref(), containers, errors);
            let may_fail = match &proof.negation {
                Some(p) => prune_with(Some(p), containers, errors),
                None => vec![true; n],
            };
            for (z, slot) in out.iter_mut().enumerate() {
                let Some(pending) = slot else { continue };
                if !may_match[z] {
                    *slot = None;
                    continue;
                }
                let nulls_excluded = proof.never_null
                    || proof
                        .columns
                        .iter()
                        .all(|&c| containers.null_count(c, z) == 0);
                if may_fail[z] || !nulls_excluded {
                    *pending |= bit;
                }
            }
        }
        out
    }
}

/// Whether `e` is `col IS NULL` or `col IS NOT NULL`.
fn is_null_test_of_column(e: &Arc<dyn PhysicalExpr>) -> bool {
    let arg = if let Some(n) = e.downcast_ref::<IsNullExpr>() {
        n.arg()
    } else if let Some(n) = e.downcast_ref::<IsNotNullExpr>() {
        n.arg()
    } else {
        return false;
    };
    arg.downcast_ref::<Column>().is_some()
}

/// The negation of `e` when it is exact for rows without nulls (see the module contract),
/// else `None`.
pub(super) fn negate(
    e: &Arc<dyn PhysicalExpr>,
    schema: &SchemaRef,
) -> Result<Option<Arc<dyn PhysicalExpr>>> {
    if let Some(b) = e.downcast_ref::<BinaryExpr>() {
        let op = *b.op();
        if matches!(op, Operator::And | Operator::Or) {
            let (Some(l), Some(r)) = (negate(b.left(), schema)?, negate(b.right(), schema)?) else {
                return Ok(None);
            };
            let flipped = if op == Operator::And {
                Operator::Or
            } else {
                Operator::And
            };
            return Ok(Some(Arc::new(BinaryExpr::new(l, flipped, r))));
        }
        let comparison = matches!(
            op,
            Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
        );
        return Ok(match op.negate() {
            Some(negated) if comparison && is_value(b.left()) && is_value(b.right()) => {
                Some(Arc::new(BinaryExpr::new(
                    Arc::clone(b.left()),
                    negated,
                    Arc::clone(b.right()),
                )))
            }
            _ => None,
        });
    }
    if let Some(n) = e.downcast_ref::<NotExpr>() {
        // NOT a is exact to negate when a is.
        return Ok(negate(n.arg(), schema)?.map(|_| Arc::clone(n.arg())));
    }
    if let Some(n) = e.downcast_ref::<IsNullExpr>() {
        return Ok(Some(Arc::new(IsNotNullExpr::new(Arc::clone(n.arg())))));
    }
    if let Some(n) = e.downcast_ref::<IsNotNullExpr>() {
        return Ok(Some(Arc::new(IsNullExpr::new(Arc::clone(n.arg())))));
    }
    if let Some(l) = e.downcast_ref::<InListExpr>() {
        if !is_value(l.expr()) || !l.list().iter().all(is_value) {
            return Ok(None);
        }
        let negated = !l.negated();
        return in_list(Arc::clone(l.expr()), l.list().to_vec(), &negated, schema).map(Some);
    }
    if let Some(l) = e.downcast_ref::<LikeExpr>() {
        if !is_value(l.expr()) || !is_value(l.pattern()) {
            return Ok(None);
        }
        return Ok(Some(Arc::new(LikeExpr::new(
            !l.negated(),
            l.case_insensitive(),
            Arc::clone(l.expr()),
            Arc::clone(l.pattern()),
        ))));
    }
    if let Some(l) = e.downcast_ref::<Literal>() {
        if let ScalarValue::Boolean(Some(b)) = l.value() {
            return Ok(Some(Arc::new(Literal::new(ScalarValue::Boolean(Some(!b))))));
        }
    }
    Ok(None)
}

/// A column, a non-null literal, or a cast of one: never NULL on a row without nulls.
fn is_value(e: &Arc<dyn PhysicalExpr>) -> bool {
    if e.downcast_ref::<Column>().is_some() {
        return true;
    }
    if let Some(l) = e.downcast_ref::<Literal>() {
        return !l.value().is_null();
    }
    if let Some(c) = e.downcast_ref::<CastExpr>() {
        return is_value(c.expr());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::{col, lit};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]))
    }

    fn negated(e: Arc<dyn PhysicalExpr>) -> Option<String> {
        negate(&e, &schema()).unwrap().map(|n| n.to_string())
    }

    #[test]
    fn negation_flips_comparisons_and_applies_de_morgan() {
        let s = schema();
        let a = col("a", &s).unwrap();
        let lt: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(Arc::clone(&a), Operator::Lt, lit(3i64)));
        let eq: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(Arc::clone(&a), Operator::Eq, lit(7i64)));
        let both: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(lt, Operator::And, eq));
        assert_eq!(negated(both).as_deref(), Some("a@0 >= 3 OR a@0 != 7"));
        let is_null: Arc<dyn PhysicalExpr> = Arc::new(IsNullExpr::new(a));
        assert_eq!(negated(is_null).as_deref(), Some("a@0 IS NOT NULL"));
    }

    #[test]
    fn null_literals_and_arithmetic_have_no_exact_negation() {
        let s = schema();
        let a = col("a", &s).unwrap();
        let null = Arc::new(BinaryExpr::new(
            Arc::clone(&a),
            Operator::Lt,
            lit(ScalarValue::Int64(None)),
        ));
        assert_eq!(negated(null), None);
        let sum = Arc::new(BinaryExpr::new(Arc::clone(&a), Operator::Plus, lit(1i64)));
        let cmp = Arc::new(BinaryExpr::new(sum, Operator::Gt, lit(2i64)));
        assert_eq!(negated(cmp), None);
    }
}
