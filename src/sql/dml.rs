//! `DELETE`, `UPDATE` and `TRUNCATE` on a Quiver table: [`QuiverDmlExec`], the plan node the
//! provider's DataFusion hooks return, which does the change when executed.
//!
//! # Contract
//! - Nothing changes at planning (`EXPLAIN DELETE ...` changes nothing); executing the node
//!   opens the newest version, selects the rows the `WHERE` filters hold for — with the scan's
//!   own row filter and zone proofs (`row_filter.rs`), so exactly the rows a `SELECT` with the
//!   same `WHERE` returns, NULL semantics included — and commits one new version
//!   (`arrow_bridge/changes.rs`): deletion vectors for the selected rows, and for `UPDATE`
//!   their new values as new rows. It outputs one row, `count` (UInt64): rows changed.
//! - The filters are the statement's whole `WHERE` only because `dml_guard.rs` checked the
//!   plan before the hook was called; the hooks refuse to run without that check.
//! - A concurrent commit that changed the same segments fails the statement with a conflict
//!   error; nothing is committed then.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};

use super::merge_into::MergePlan;
use super::row_filter::{unit_survivors, RowFilter, Survivors};
use super::scan_planning::plan_units;
use super::source::row_filter_for;
use super::{external, read_as_view};
use crate::arrow_bridge::commit_change;
use crate::{Table, TableWriter, WriteOptions};

/// Rows per chunk when selecting rows and gathering updated ones.
const CHUNK_ROWS: usize = 8192;

/// What a [`QuiverDmlExec`] changes.
#[derive(Debug, Clone)]
pub(super) enum DmlOp {
    /// Delete the rows the filters hold for (all rows without filters).
    Delete,
    /// Give those rows new values: one expression per table column, over the table schema.
    Update(Vec<Arc<dyn PhysicalExpr>>),
    /// `MERGE INTO` from the rows of the node's child (`merge_into.rs`).
    Merge(Arc<MergePlan>),
}

/// A row-level change of one Quiver table, done when executed (see the module contract).
#[derive(Debug)]
pub struct QuiverDmlExec {
    /// The version the statement was planned on; the change applies to the newest version,
    /// opened from this one ([`Table::refresh`]).
    base: Table,
    /// The table schema as DataFusion sees it (the filters' and expressions' input).
    schema: SchemaRef,
    op: DmlOp,
    /// Conjuncts of the `WHERE`, over `schema`.
    filters: Vec<Arc<dyn PhysicalExpr>>,
    /// The source rows of a `MERGE INTO`.
    source: Option<Arc<dyn ExecutionPlan>>,
    output: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl QuiverDmlExec {
    pub(super) fn new(
        base: Table,
        schema: SchemaRef,
        op: DmlOp,
        filters: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Self {
        let output = count_schema();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&output)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            base,
            schema,
            op,
            filters,
            source: None,
            output,
            properties: Arc::new(properties),
        }
    }

    /// A `MERGE INTO` of the rows of `source`.
    pub(super) fn merge(
        base: Table,
        schema: SchemaRef,
        plan: MergePlan,
        source: Arc<dyn ExecutionPlan>,
    ) -> Self {
        let mut exec = Self::new(base, schema, DmlOp::Merge(Arc::new(plan)), Vec::new());
        exec.source = Some(source);
        exec
    }

    /// Does the change on the newest version (a merge from `source`); returns the rows
    /// changed.
    fn run(&self, source: &[RecordBatch]) -> Result<u64> {
        let table = self.base.refresh().map_err(external)?;
        let served = crate::arrow_bridge::types::view_schema(&table.schema());
        if served.fields() != self.schema.fields() {
            return Err(DataFusionError::Plan(format!(
                "the schema of table {} changed in version {} since the statement was planned; run it again",
                table.path().display(),
                table.version()
            )));
        }
        if let DmlOp::Merge(plan) = &self.op {
            return plan.apply(&table, source);
        }
        let selected = select_rows(&table, &self.schema, &self.filters)?;
        let report = match &self.op {
            DmlOp::Merge(_) => unreachable!("handled above"),
            DmlOp::Delete => commit_change(&table, selected, WriteOptions::default(), |_| Ok(()))
                .map_err(external)?,
            DmlOp::Update(exprs) => {
                let (schema, exprs) = (&self.schema, &exprs[..]);
                let rows = selected.clone();
                commit_change(&table, selected, WriteOptions::default(), |writer| {
                    write_updated(&table, schema, exprs, &rows, writer)
                        .map_err(|e| crate::Error::invalid(e.to_string()))
                })
                .map_err(external)?
            }
        };
        Ok(report.rows_deleted)
    }
}

/// The one-column schema of a DML result: `count`.
pub(super) fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// The one-row result of a DML statement that changed `count` rows.
pub(super) fn count_batch(count: u64) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        count_schema(),
        vec![Arc::new(UInt64Array::from(vec![count])) as ArrayRef],
    )?)
}

/// The stored rows of each segment of `table` that the version shows and `filters` (over
/// `schema`) hold for, as (segment, ascending rows); segments with none are left out.
fn select_rows(
    table: &Table,
    schema: &SchemaRef,
    filters: &[Arc<dyn PhysicalExpr>],
) -> Result<Vec<(usize, Vec<usize>)>> {
    let filter = row_filter_for(table, schema, filters)?;
    let predicate = filter.as_ref().map(RowFilter::conjunction);
    let metrics = ExecutionPlanMetricsSet::new();
    let (units, _) = plan_units(table, schema, filter.as_ref(), predicate.as_ref(), &metrics);
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    for unit in &units {
        let mut start = unit.start;
        while start < unit.end {
            let end = unit.end.min(start + CHUNK_ROWS);
            let rows: Vec<usize> = match unit_survivors(filter.as_ref(), table, unit, start..end)? {
                Survivors::None => Vec::new(),
                Survivors::All => (start..end).collect(),
                Survivors::Some(mask) => mask.values().set_indices().map(|i| start + i).collect(),
            };
            if !rows.is_empty() {
                match out.last_mut() {
                    Some((s, list)) if *s == unit.segment => list.extend(rows),
                    _ => out.push((unit.segment, rows)),
                }
            }
            start = end;
        }
    }
    Ok(out)
}

/// Writes the new values of the updated `rows` (stored rows per segment): `exprs` — one per
/// table column, over `schema` — evaluated over the old rows, cast to the table's types.
fn write_updated(
    table: &Table,
    schema: &SchemaRef,
    exprs: &[Arc<dyn PhysicalExpr>],
    rows: &[(usize, Vec<usize>)],
    writer: &mut TableWriter,
) -> Result<()> {
    let wanted: Vec<(usize, bool)> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(c, f)| (c, read_as_view(f.data_type())))
        .collect();
    let target = writer.schema();
    for (segment, rows) in rows {
        for chunk in rows.chunks(CHUNK_ROWS) {
            let columns = table.segments()[*segment]
                .read_rows_as(&wanted, chunk)
                .map_err(external)?;
            let options = RecordBatchOptions::new().with_row_count(Some(chunk.len()));
            let old = RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)?;
            let batch = new_rows(exprs, &old, &target)?;
            writer.write(&batch).map_err(external)?;
        }
    }
    Ok(())
}

/// The rows `exprs` (one per column of `output`) give over `input`, cast to `output`'s
/// types; a NULL for a non-nullable column is an error naming it.
pub(super) fn new_rows(
    exprs: &[Arc<dyn PhysicalExpr>],
    input: &RecordBatch,
    output: &SchemaRef,
) -> Result<RecordBatch> {
    let columns = exprs
        .iter()
        .zip(output.fields())
        .map(|(e, field)| {
            let value = e.evaluate(input)?.into_array(input.num_rows())?;
            if !field.is_nullable() && value.null_count() > 0 {
                return Err(DataFusionError::Execution(format!(
                    "the change would set non-nullable column \"{}\" to NULL",
                    field.name()
                )));
            }
            Ok(cast(&value, field.data_type())?)
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(input.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(output),
        columns,
        &options,
    )?)
}

impl DisplayAs for QuiverDmlExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let op = match self.op {
            DmlOp::Delete => "DELETE",
            DmlOp::Update(_) => "UPDATE",
            DmlOp::Merge(_) => "MERGE",
        };
        write!(
            f,
            "QuiverDmlExec: op={op}, table={}",
            self.base.path().display()
        )?;
        if !self.filters.is_empty() {
            let filters: Vec<String> = self.filters.iter().map(|e| e.to_string()).collect();
            write!(f, ", filter=[{}]", filters.join(" AND "))?;
        }
        Ok(())
    }
}

impl QuiverDmlExec {
    /// A copy of this node (its plan parts are shared).
    fn same(&self) -> Self {
        Self {
            base: self.base.clone(),
            schema: Arc::clone(&self.schema),
            op: self.op.clone(),
            filters: self.filters.clone(),
            source: self.source.clone(),
            output: Arc::clone(&self.output),
            properties: Arc::clone(&self.properties),
        }
    }
}

impl QuiverDmlExec {
    /// This node over new children: its source, for a merge; none otherwise.
    fn with_source(&self, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != self.source.iter().count() {
            return Err(DataFusionError::Internal(format!(
                "QuiverDmlExec takes {} children, not {}",
                self.source.iter().count(),
                children.len()
            )));
        }
        let mut exec = self.same();
        exec.source = children.into_iter().next();
        Ok(Arc::new(exec))
    }
}

impl ExecutionPlan for QuiverDmlExec {
    fn name(&self) -> &str {
        "QuiverDmlExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.source.iter().collect()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for e in &self.filters {
            if f(e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.with_source(children)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.with_source(children)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "QuiverDmlExec has one partition, not {partition}"
            )));
        }
        let work = self.same();
        let stream = futures::stream::once(async move {
            let source = match &work.source {
                Some(plan) => datafusion::physical_plan::collect(Arc::clone(plan), context).await?,
                None => Vec::new(),
            };
            let count = tokio::task::spawn_blocking(move || work.run(&source))
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))??;
            count_batch(count)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.output),
            stream,
        )))
    }
}
