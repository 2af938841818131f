//! The check between DataFusion's planner and a Quiver table's `DELETE` / `UPDATE` hooks: a
//! statement reaches the table only if its whole `WHERE` clause does.
//!
//! DataFusion 55 hands `TableProvider::delete_from` / `update` only the `WHERE` predicates it
//! finds in `Filter` nodes and the target's `TableScan`, and an empty list means "every row".
//! Two rewrites of its optimizer take the condition out of those nodes: a subquery (`IN
//! (SELECT ...)`, `EXISTS`, a scalar subquery) becomes a join, and an always-false predicate
//! becomes an empty relation. Either would reach the hook as "no filter": a `DELETE` whose
//! `WHERE` selects nothing would empty the table.
//!
//! # Contract
//! - [`QuiverQueryPlanner`] (the planner of every `QuiverSession`) looks at each `DELETE` and
//!   `UPDATE` of a Quiver table before DataFusion plans it. Its input must be a chain of
//!   `Projection` (for `UPDATE`, the assignments on top), `Filter` and `SubqueryAlias` nodes
//!   over the target's own `TableScan` (no row limit), with no subquery in any expression:
//!   then every row restriction is a filter the hook receives. An input that is an empty
//!   relation (the `WHERE` folded to false) changes no row: the statement returns a count of
//!   0 without calling the hook. Anything else (a join, an aggregate, a union, `VALUES`, ...)
//!   is refused with an error naming the table and the node — the table is never touched.
//! - The hooks run only inside a plan this planner checked ([`ensure_checked`]); a session
//!   without it gets an error, never a statement applied to more rows than its `WHERE` says.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{DmlStatement, Expr, LogicalPlan, WriteOp};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

use super::dml::count_batch;
use super::provider::QuiverTableProvider;

tokio::task_local! {
    /// Set while DataFusion plans a statement [`QuiverQueryPlanner`] checked.
    static CHECKED: ();
}

/// DataFusion's planner, after the check of the module contract.
#[derive(Debug, Default)]
pub struct QuiverQueryPlanner;

#[async_trait]
impl QueryPlanner for QuiverQueryPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let LogicalPlan::Dml(dml) = plan {
            if quiver_target(dml) && matches!(check(dml)?, Input::NoRows) {
                let batch = count_batch(0)?;
                let schema = batch.schema();
                let exec = datafusion::datasource::memory::MemorySourceConfig::try_new_exec(
                    &[vec![batch]],
                    schema,
                    None,
                )?;
                return Ok(exec);
            }
        }
        let mut nested_empty = None;
        plan.apply(|node| {
            if let LogicalPlan::Dml(dml) = node {
                if quiver_target(dml) && node != plan && matches!(check(dml)?, Input::NoRows) {
                    nested_empty = Some(dml.table_name.clone());
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if let Some(table) = nested_empty {
            return Err(DataFusionError::Plan(format!(
                "the WHERE clause of this change to {table} selects no row; run the statement itself rather than inside EXPLAIN"
            )));
        }
        let planner = DefaultPhysicalPlanner::default();
        CHECKED
            .scope((), planner.create_physical_plan(plan, state))
            .await
    }
}

/// Fails unless the caller runs inside a plan [`QuiverQueryPlanner`] checked; `op` and `table`
/// name the statement in the error.
pub(super) fn ensure_checked(op: &str, table: &std::path::Path) -> Result<()> {
    CHECKED.try_with(|_| ()).map_err(|_| {
        DataFusionError::Plan(format!(
            "{op} on the Quiver table {} needs a session built by QuiverSession, whose planner checks that the whole WHERE clause reaches the table",
            table.display()
        ))
    })
}

/// What the input of a checked statement is.
enum Input {
    /// Its row restrictions all reach the hook as filters.
    Filters,
    /// It selects no row.
    NoRows,
}

fn quiver_target(dml: &DmlStatement) -> bool {
    matches!(dml.op, WriteOp::Delete | WriteOp::Update)
        && source_as_provider(&dml.target)
            .is_ok_and(|p| p.downcast_ref::<QuiverTableProvider>().is_some())
}

/// The check of the module contract for one `DELETE` or `UPDATE`.
fn check(dml: &DmlStatement) -> Result<Input> {
    let op = match dml.op {
        WriteOp::Update => "UPDATE",
        _ => "DELETE",
    };
    let table = &dml.table_name;
    let refuse = |what: String| {
        Err(DataFusionError::Plan(format!(
            "{op} on {table}: Quiver applies a change only when its whole WHERE clause reaches the table as row filters, and {what}; nothing was changed. Compute the values first (e.g. WHERE id IN (1, 2, 3))"
        )))
    };
    let no_subquery = |exprs: &[&Expr]| -> Result<bool> {
        let mut found = false;
        for e in exprs {
            e.apply(|e| {
                found |= matches!(
                    e,
                    Expr::ScalarSubquery(_)
                        | Expr::InSubquery(_)
                        | Expr::Exists(_)
                        | Expr::SetComparison(_)
                );
                Ok(if found {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })?;
        }
        Ok(!found)
    };
    let mut node = dml.input.as_ref();
    loop {
        match node {
            LogicalPlan::Projection(p) => {
                if !no_subquery(&p.expr.iter().collect::<Vec<_>>())? {
                    return refuse("a SET value holds a subquery".into());
                }
                node = p.input.as_ref();
            }
            LogicalPlan::Filter(f) => {
                if !no_subquery(&[&f.predicate])? {
                    return refuse("the WHERE clause holds a subquery".into());
                }
                node = f.input.as_ref();
            }
            LogicalPlan::SubqueryAlias(a) => node = a.input.as_ref(),
            LogicalPlan::TableScan(scan) => {
                if !same_table(&scan.table_name, table) || !same_source(scan, dml) {
                    return refuse(format!("it reads table {}", scan.table_name));
                }
                if scan.fetch.is_some() {
                    return refuse("it carries a row limit".into());
                }
                if !no_subquery(&scan.filters.iter().collect::<Vec<_>>())? {
                    return refuse("the WHERE clause holds a subquery".into());
                }
                return Ok(Input::Filters);
            }
            LogicalPlan::EmptyRelation(e) if !e.produce_one_row => return Ok(Input::NoRows),
            other => {
                let name = other.display().to_string();
                let what = match other {
                    LogicalPlan::Join(_) => "the WHERE clause holds a subquery or a join".into(),
                    _ => format!(
                        "its plan holds a {} node",
                        name.split(':').next().unwrap_or("")
                    ),
                };
                return refuse(what);
            }
        }
    }
}

fn same_table(a: &TableReference, b: &TableReference) -> bool {
    a.resolved_eq(b)
}

/// Whether `scan` reads the very table the statement changes.
fn same_source(scan: &datafusion::logical_expr::TableScan, dml: &DmlStatement) -> bool {
    let target = source_as_provider(&dml.target);
    let scanned = source_as_provider(&scan.source);
    match (target, scanned) {
        (Ok(t), Ok(s)) => {
            Arc::ptr_eq(&t, &s) || {
                let t = t.downcast_ref::<QuiverTableProvider>();
                let s = s.downcast_ref::<QuiverTableProvider>();
                matches!((t, s), (Some(t), Some(s)) if t.path() == s.path())
            }
        }
        _ => false,
    }
}
