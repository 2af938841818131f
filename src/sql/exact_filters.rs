//! Which pushed filters a Quiver scan applies exactly (so DataFusion plans no `FilterExec`
//! for them).
//!
//! # Contract
//! - [`applies_exactly`] is `true` for a filter built only of column references, literals,
//!   comparisons, arithmetic, `AND` / `OR` / `NOT`, `BETWEEN`, `IN` lists, `IS [NOT] NULL` /
//!   `TRUE` / `FALSE` / `UNKNOWN`, `LIKE` / `ILIKE` / `SIMILAR TO`, `CASE`, casts and
//!   non-volatile scalar functions. The scan evaluates such a filter with DataFusion's own
//!   physical expression (`row_filter.rs`), so its answer is DataFusion's, NULL semantics
//!   included.
//! - Anything else (subqueries, placeholders, volatile functions such as `random()`, outer
//!   references, aggregates, window functions) is answered `Inexact`: the scan only prunes with
//!   it and DataFusion filters the rows itself.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, Volatility};

/// Whether the scan can apply `filter` to rows itself (see the module contract).
pub(super) fn applies_exactly(filter: &Expr) -> bool {
    let mut exact = true;
    let walked = filter.apply(|e| {
        let node_ok = match e {
            Expr::Alias(_)
            | Expr::Column(_)
            | Expr::Literal(..)
            | Expr::BinaryExpr(_)
            | Expr::Like(_)
            | Expr::SimilarTo(_)
            | Expr::Not(_)
            | Expr::IsNotNull(_)
            | Expr::IsNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsNotUnknown(_)
            | Expr::Negative(_)
            | Expr::Between(_)
            | Expr::Case(_)
            | Expr::Cast(_)
            | Expr::TryCast(_)
            | Expr::InList(_) => true,
            Expr::ScalarFunction(f) => f.func.signature().volatility != Volatility::Volatile,
            _ => false,
        };
        if node_ok {
            Ok(TreeNodeRecursion::Continue)
        } else {
            exact = false;
            Ok(TreeNodeRecursion::Stop)
        }
    });
    walked.is_ok() && exact
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit, placeholder};
    use datafusion::prelude::{random, starts_with};

    #[test]
    fn comparisons_lists_nulls_and_patterns_are_exact() {
        let e = col("a")
            .gt(lit(3))
            .and(col("b").in_list(vec![lit("x"), lit("y")], false))
            .or(!col("c").is_null())
            .or(col("d").like(lit("ab%")))
            .or(col("a").between(lit(1), lit(9)))
            .or(starts_with(col("b"), lit("x")));
        assert!(applies_exactly(&e));
    }

    #[test]
    fn volatile_functions_and_placeholders_are_not_exact() {
        assert!(!applies_exactly(&col("a").lt(random())));
        assert!(!applies_exactly(&col("a").eq(placeholder("$1"))));
    }
}
