//! SQL `MERGE INTO` a Quiver table: the plan DataFusion 55 hands
//! `TableProvider::merge_into`, compiled to physical expressions ([`MergePlan::try_new`]) and
//! applied to the newest version as one commit ([`MergePlan::apply`]).
//!
//! # Contract
//! - The `ON` condition must hold at least one equality between a target column and an
//!   expression over source columns only (`ON t.id = s.id`): those equalities are the hash
//!   keys (target values compared with the source values cast to the column's type; a NULL
//!   key matches nothing), and the whole `ON` is then evaluated on each candidate pair, so a
//!   pair matches exactly when `ON` is true. Without such an equality the statement is refused.
//! - A target row matched by two source rows is an error (as the SQL standard says); nothing
//!   is committed.
//! - Clauses apply in order, the first whose `AND` condition is true wins (NULL is not true):
//!   `WHEN MATCHED` (update or delete the target row), `WHEN NOT MATCHED [BY TARGET]` (insert;
//!   unlisted columns NULL), `WHEN NOT MATCHED BY SOURCE` (update or delete a target row no
//!   source row matched; reads every target row). An update deletes the old row and writes
//!   the new one, as `UPDATE` does.
//! - The source is held in memory; the target is read segment by segment (key columns of
//!   every visible row; whole rows only where a pair or a clause needs them). The result is
//!   one row, `count`: rows inserted, updated and deleted.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, filter_record_batch, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion::catalog::Session;
use datafusion::common::{Column, DFSchema, DFSchemaRef, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::dml::{MergeIntoAction, MergeIntoClause, MergeIntoClauseKind};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::physical_expr::PhysicalExpr;

use super::dml::new_rows;
use super::{external, read_as_view};
use crate::arrow_bridge::commit_change;
use crate::{Table, WriteOptions};

/// Target rows per chunk read.
const CHUNK_ROWS: usize = 8192;

/// What a clause does to the rows it selects.
#[derive(Debug)]
enum Action {
    /// New values: one expression per target column, over the merge schema.
    Write(Vec<Arc<dyn PhysicalExpr>>),
    /// Delete the target row.
    Delete,
}

#[derive(Debug)]
struct Clause {
    kind: MergeIntoClauseKind,
    /// Over the merge schema; `None`: always.
    predicate: Option<Arc<dyn PhysicalExpr>>,
    action: Action,
}

/// A `MERGE INTO` compiled against one target schema (see the module contract).
#[derive(Debug)]
pub(super) struct MergePlan {
    /// Target columns (as served) then source columns, all nullable.
    merge_schema: SchemaRef,
    /// The target columns as served (nullability as the table's).
    target_schema: SchemaRef,
    targets: usize,
    /// Hash keys: target column index, and the source expression over the source columns.
    keys: Vec<(usize, Arc<dyn PhysicalExpr>)>,
    on: Arc<dyn PhysicalExpr>,
    clauses: Vec<Clause>,
    /// What the statement names the table by, for errors.
    table: String,
}

impl MergePlan {
    /// Compiles the hook's arguments; `targets` is the number of target columns leading
    /// `merge_schema`.
    pub(super) fn try_new(
        state: &dyn Session,
        table: String,
        targets: usize,
        merge_schema: DFSchemaRef,
        on: Expr,
        clauses: Vec<MergeIntoClause>,
    ) -> Result<Self> {
        let source_schema = DFSchema::new_with_metadata(
            merge_schema
                .iter()
                .skip(targets)
                .map(|(q, f)| (q.cloned(), Arc::clone(f)))
                .collect(),
            HashMap::new(),
        )?;
        let side = |e: &Expr| -> Result<Option<bool>> {
            // Some(true): target columns only; Some(false): source columns only.
            let mut sides = e
                .column_refs()
                .into_iter()
                .map(|c| merge_schema.index_of_column(c).map(|i| i < targets));
            let first = match sides.next() {
                Some(s) => s?,
                None => return Ok(None),
            };
            for s in sides {
                if s? != first {
                    return Ok(None);
                }
            }
            Ok(Some(first))
        };
        let mut keys = Vec::new();
        for conjunct in split_conjunction(&on) {
            let Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) = conjunct
            else {
                continue;
            };
            for (t, s) in [(left, right), (right, left)] {
                if let (Expr::Column(c), Some(false)) = (t.as_ref(), side(s)?) {
                    let index = merge_schema.index_of_column(c)?;
                    if index < targets {
                        let key = state.create_physical_expr(s.as_ref().clone(), &source_schema)?;
                        keys.push((index, key));
                        break;
                    }
                }
            }
        }
        if keys.is_empty() {
            return Err(DataFusionError::Plan(format!(
                "MERGE INTO {table}: the ON condition needs an equality between a column of {table} and an expression over the source (e.g. ON t.id = s.id)"
            )));
        }
        let physical = |e: Expr| state.create_physical_expr(e, &merge_schema);
        let target_column = |i: usize| Expr::Column(Column::from(merge_schema.qualified_field(i)));
        let mut compiled = Vec::with_capacity(clauses.len());
        for clause in clauses {
            let action = match clause.action {
                MergeIntoAction::Delete => Action::Delete,
                MergeIntoAction::Update(assignments) => {
                    let mut exprs = Vec::with_capacity(targets);
                    for i in 0..targets {
                        let name = merge_schema.field(i).name();
                        let expr = assignments
                            .iter()
                            .find(|(n, _)| n == name)
                            .map_or_else(|| target_column(i), |(_, e)| e.clone());
                        exprs.push(physical(expr)?);
                    }
                    Action::Write(exprs)
                }
                MergeIntoAction::Insert { columns, values } => {
                    let names: Vec<String> = if columns.is_empty() {
                        (0..targets)
                            .map(|i| merge_schema.field(i).name().clone())
                            .collect()
                    } else {
                        columns
                    };
                    if names.len() != values.len() {
                        return Err(DataFusionError::Plan(format!(
                            "MERGE INTO {table}: INSERT names {} columns and gives {} values",
                            names.len(),
                            values.len()
                        )));
                    }
                    let mut exprs = Vec::with_capacity(targets);
                    for i in 0..targets {
                        let name = merge_schema.field(i).name();
                        let expr = names
                            .iter()
                            .position(|n| n == name)
                            .map_or(Expr::Literal(ScalarValue::Null, None), |p| {
                                values[p].clone()
                            });
                        exprs.push(physical(expr)?);
                    }
                    Action::Write(exprs)
                }
            };
            compiled.push(Clause {
                kind: clause.kind,
                predicate: clause.predicate.map(physical).transpose()?,
                action,
            });
        }
        let fields = merge_schema.as_arrow().fields();
        Ok(Self {
            target_schema: Arc::new(arrow::datatypes::Schema::new(fields[..targets].to_vec())),
            // NULL target columns beside unmatched source rows (and the reverse): all nullable.
            merge_schema: Arc::new(arrow::datatypes::Schema::new(
                fields
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            )),
            targets,
            keys,
            on: physical(on)?,
            clauses: compiled,
            table,
        })
    }

    fn has(&self, pick: fn(&MergeIntoClauseKind) -> bool) -> bool {
        self.clauses.iter().any(|c| pick(&c.kind))
    }

    /// Applies the merge of `source` (batches of the source columns) to `table` (the newest
    /// version); returns the rows inserted, updated and deleted.
    pub(super) fn apply(&self, table: &Table, source: &[RecordBatch]) -> Result<u64> {
        let source_schema = Arc::new(arrow::datatypes::Schema::new(
            self.merge_schema.fields()[self.targets..].to_vec(),
        ));
        let source = arrow::compute::concat_batches(&source_schema, source)?;
        let key_types: Vec<_> = self
            .keys
            .iter()
            .map(|(c, _)| self.merge_schema.field(*c).data_type().clone())
            .collect();
        let converter = RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())?;
        let source_keys = self
            .keys
            .iter()
            .zip(&key_types)
            .map(|((_, e), t)| {
                Ok(cast(
                    &e.evaluate(&source)?.into_array(source.num_rows())?,
                    t,
                )?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let source_rows = converter.convert_columns(&source_keys)?;
        let mut by_key: HashMap<&[u8], Vec<u32>> = HashMap::new();
        for r in 0..source.num_rows() {
            if source_keys.iter().all(|k| k.is_valid(r)) {
                by_key
                    .entry(source_rows.row(r).data())
                    .or_default()
                    .push(r as u32);
            }
        }
        let served: Vec<(usize, bool)> = (0..self.targets)
            .map(|c| (c, read_as_view(self.merge_schema.field(c).data_type())))
            .collect();
        let key_columns: Vec<(usize, bool)> = self.keys.iter().map(|(c, _)| served[*c]).collect();
        let mut deleted: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut written: Vec<RecordBatch> = Vec::new();
        let mut matched_source = vec![false; source.num_rows()];
        let mut changed = 0u64;
        let by_source = self.has(|k| *k == MergeIntoClauseKind::NotMatchedBySource);
        for (s, segment) in table.segments().iter().enumerate() {
            let gone = table.deleted_rows(s);
            let mut segment_deleted = Vec::new();
            let mut start = 0;
            while start < segment.num_rows() {
                let end = segment.num_rows().min(start + CHUNK_ROWS);
                let keys = segment
                    .read_range(&key_columns, start..end)
                    .map_err(external)?;
                let rows = converter.convert_columns(&keys)?;
                // Candidate pairs (target row, source row) by key, then `ON` on each.
                let (mut targets, mut sources) = (Vec::new(), Vec::new());
                let mut visible = Vec::new();
                for r in start..end {
                    if gone.is_some_and(|d| d.is_deleted(r)) {
                        continue;
                    }
                    visible.push(r);
                    if keys.iter().any(|k| k.is_null(r - start)) {
                        continue;
                    }
                    for &src in by_key
                        .get(rows.row(r - start).as_ref())
                        .into_iter()
                        .flatten()
                    {
                        targets.push(r);
                        sources.push(src);
                    }
                }
                let mut matched_target: Vec<usize> = Vec::new();
                if !targets.is_empty() {
                    let pairs =
                        self.pairs(table, s, &served, &targets, Some((&source, &sources)))?;
                    let on = self.truth(&self.on, &pairs)?;
                    let keep: Vec<usize> = (0..targets.len()).filter(|&i| on.value(i)).collect();
                    let pairs = take_rows(&pairs, &keep)?;
                    matched_target = keep.iter().map(|&i| targets[i]).collect();
                    if matched_target.windows(2).any(|w| w[0] == w[1]) {
                        return Err(DataFusionError::Execution(format!(
                            "MERGE INTO {}: a row of segment {s} is matched by more than one source row; nothing was changed",
                            self.table
                        )));
                    }
                    for &i in &keep {
                        matched_source[sources[i] as usize] = true;
                    }
                    let hit = self.apply_clauses(
                        |k| *k == MergeIntoClauseKind::Matched,
                        &pairs,
                        &mut written,
                    )?;
                    for (i, _) in hit {
                        segment_deleted.push(matched_target[i]);
                        changed += 1;
                    }
                }
                if by_source {
                    let unmatched: Vec<usize> = visible
                        .into_iter()
                        .filter(|r| matched_target.binary_search(r).is_err())
                        .collect();
                    if !unmatched.is_empty() {
                        let rows = self.pairs(table, s, &served, &unmatched, None)?;
                        let hit = self.apply_clauses(
                            |k| *k == MergeIntoClauseKind::NotMatchedBySource,
                            &rows,
                            &mut written,
                        )?;
                        for (i, _) in hit {
                            segment_deleted.push(unmatched[i]);
                            changed += 1;
                        }
                    }
                }
                start = end;
            }
            if !segment_deleted.is_empty() {
                deleted.push((s, segment_deleted));
            }
        }
        // Source rows no target row matched.
        let unmatched: Vec<u32> = (0..source.num_rows() as u32)
            .filter(|&r| !matched_source[r as usize])
            .collect();
        if !unmatched.is_empty() && self.has(MergeIntoClauseKind::is_not_matched_by_target) {
            let indices = UInt32Array::from(unmatched.clone());
            let mut columns: Vec<ArrayRef> = (0..self.targets)
                .map(|c| new_null_array(self.merge_schema.field(c).data_type(), unmatched.len()))
                .collect();
            for column in source.columns() {
                columns.push(take(column, &indices, None)?);
            }
            let rows = RecordBatch::try_new(Arc::clone(&self.merge_schema), columns)?;
            let hit = self.apply_clauses(
                MergeIntoClauseKind::is_not_matched_by_target,
                &rows,
                &mut written,
            )?;
            changed += hit.len() as u64;
        }
        commit_change(table, deleted, WriteOptions::default(), |writer| {
            let target = writer.schema();
            for batch in &written {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(target.fields())
                    .map(|(c, f)| cast(c, f.data_type()))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                writer.write(&RecordBatch::try_new(Arc::clone(&target), columns)?)?;
            }
            Ok(())
        })
        .map_err(external)?;
        Ok(changed)
    }

    /// Rows of the merge schema: target rows `targets` of segment `segment` and, with
    /// `source`, source rows `rows` beside them (else NULL source columns).
    fn pairs(
        &self,
        table: &Table,
        segment: usize,
        served: &[(usize, bool)],
        targets: &[usize],
        source: Option<(&RecordBatch, &[u32])>,
    ) -> Result<RecordBatch> {
        let mut columns = table.segments()[segment]
            .read_rows_as(served, targets)
            .map_err(external)?;
        match source {
            Some((batch, rows)) => {
                let indices = UInt32Array::from(rows.to_vec());
                for column in batch.columns() {
                    columns.push(take(column, &indices, None)?);
                }
            }
            None => {
                for field in &self.merge_schema.fields()[self.targets..] {
                    columns.push(new_null_array(field.data_type(), targets.len()));
                }
            }
        }
        Ok(RecordBatch::try_new(
            Arc::clone(&self.merge_schema),
            columns,
        )?)
    }

    /// Where `expr` is true over `rows` (NULL is false).
    fn truth(&self, expr: &Arc<dyn PhysicalExpr>, rows: &RecordBatch) -> Result<BooleanArray> {
        let value = expr.evaluate(rows)?.into_array(rows.num_rows())?;
        let value = value
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "MERGE INTO {}: a condition is not boolean ({})",
                    self.table,
                    value.data_type()
                ))
            })?;
        Ok(match value.null_count() {
            0 => value.clone(),
            _ => arrow::compute::prep_null_mask_filter(value),
        })
    }

    /// Runs the clauses of the kinds `pick` selects over `rows`, in order, the first true one
    /// per row; pushes the rows they write to `written`. Returns the rows a clause took, with
    /// whether it deleted (false: wrote) — for a target row, either means the old row goes.
    fn apply_clauses(
        &self,
        pick: fn(&MergeIntoClauseKind) -> bool,
        rows: &RecordBatch,
        written: &mut Vec<RecordBatch>,
    ) -> Result<Vec<(usize, bool)>> {
        let mut open: Vec<bool> = vec![true; rows.num_rows()];
        let mut taken = Vec::new();
        for clause in self.clauses.iter().filter(|c| pick(&c.kind)) {
            let holds = match &clause.predicate {
                Some(p) => self.truth(p, rows)?,
                None => BooleanArray::from(vec![true; rows.num_rows()]),
            };
            let chosen: Vec<usize> = (0..rows.num_rows())
                .filter(|&i| open[i] && holds.value(i))
                .collect();
            if chosen.is_empty() {
                continue;
            }
            for &i in &chosen {
                open[i] = false;
            }
            match &clause.action {
                Action::Delete => taken.extend(chosen.iter().map(|&i| (i, true))),
                Action::Write(exprs) => {
                    let selected = take_rows(rows, &chosen)?;
                    written.push(new_rows(exprs, &selected, &self.target_schema)?);
                    taken.extend(chosen.iter().map(|&i| (i, false)));
                }
            }
        }
        taken.sort_unstable();
        Ok(taken)
    }
}

/// Rows `rows` (ascending) of `batch`.
fn take_rows(batch: &RecordBatch, rows: &[usize]) -> Result<RecordBatch> {
    let mut mask = vec![false; batch.num_rows()];
    for &r in rows {
        mask[r] = true;
    }
    Ok(filter_record_batch(batch, &BooleanArray::from(mask))?)
}
