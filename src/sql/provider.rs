//! [`QuiverTableProvider`]: a Quiver table as a DataFusion table.
//!
//! # Contract
//! - Each query plans against a snapshot: the newest version when the query is planned (or a
//!   pinned version for time travel). A running query keeps its snapshot whatever commits
//!   meanwhile; the next query sees them. Reopening is O(metadata) and skipped when the
//!   version has not changed.
//! - Strings and binaries are served as `Utf8View` / `BinaryView` by default (values in the
//!   mapping, views built once per segment and cached), or as zero-copy `LargeUtf8` /
//!   `LargeBinary` with [`QuiverTableProvider::with_string_view`]`(false)`.
//! - Filters the scan can evaluate (`exact_filters.rs`) are accepted as `Exact`: the scan
//!   prunes with them and applies them to rows, and DataFusion plans no filter of its own.
//!   Others are `Inexact`: they only prune, and DataFusion applies them above the scan.
//! - `INSERT INTO` appends (or, for `INSERT OVERWRITE`, replaces) through [`QuiverSink`], one
//!   new version per statement. `DELETE`, `UPDATE` and `TRUNCATE` change rows through
//!   [`QuiverDmlExec`](super::QuiverDmlExec), one new version each, only in a session whose
//!   planner checked the statement (`dml_guard.rs`); `MERGE INTO` too (`merge_into.rs`).
//!   A pinned (time-travel) provider is read-only.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{
    not_impl_err, DFSchema, DFSchemaRef, DataFusionError, Result, Statistics,
};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::dml::{InsertOp, MergeIntoClause};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;

use super::dml::{DmlOp, QuiverDmlExec};
use super::dml_guard::ensure_checked;
use super::exact_filters::applies_exactly;
use super::external;
use super::merge_into::MergePlan;
use super::options::QuiverOptions;
use super::scan_planning::table_statistics;
use super::sink::QuiverSink;
use super::source::{QuiverSource, ScanRequest};
use crate::arrow_bridge::types::view_schema;
use crate::Table;

/// A Quiver table directory served to DataFusion.
#[derive(Debug)]
pub struct QuiverTableProvider {
    dir: std::path::PathBuf,
    /// `Some(v)` for a provider pinned to version `v` (time travel).
    pinned: Option<u64>,
    /// The schema DataFusion sees (strings as `LargeUtf8`, or `Utf8View` with `string_view`).
    schema: SchemaRef,
    string_view: bool,
    /// The newest snapshot opened so far.
    snapshot: Mutex<Table>,
}

impl QuiverTableProvider {
    /// Serves the newest version of the table in `dir`, whatever it is when a query is planned.
    pub fn try_new(dir: impl AsRef<std::path::Path>) -> crate::Result<Self> {
        let table = Table::open(dir.as_ref())?;
        Ok(Self::from_table(table, None))
    }

    /// Serves version `version` of the table in `dir`, read-only.
    pub fn try_new_at_version(
        dir: impl AsRef<std::path::Path>,
        version: u64,
    ) -> crate::Result<Self> {
        let table = Table::open_version(dir.as_ref(), version)?;
        Ok(Self::from_table(table, Some(version)))
    }

    fn from_table(table: Table, pinned: Option<u64>) -> Self {
        Self {
            dir: table.path().to_path_buf(),
            pinned,
            schema: view_schema(&table.schema()),
            string_view: true,
            snapshot: Mutex::new(table),
        }
    }

    /// Whether string and binary columns reach DataFusion as `Utf8View` / `BinaryView` (the
    /// default) or as the zero-copy `LargeUtf8` / `LargeBinary`. Views keep the values in the
    /// mapping; their 16-byte views are built once per segment and column, on first use, and
    /// cached. DataFusion 55 runs TPC-H faster on views (BENCHMARKS.md, "Strings").
    pub fn with_string_view(mut self, string_view: bool) -> Self {
        self.string_view = string_view;
        let base = self.snapshot.lock().map(|t| t.schema()).ok();
        if let Some(base) = base {
            self.schema = if string_view {
                view_schema(&base)
            } else {
                base
            };
        }
        self
    }

    /// This provider again if its table still has the schema it serves, else a provider of
    /// the same directory and options for the newest version; in both cases the newest
    /// snapshot is opened reusing the segments this one has open ([`Table::refresh`]).
    /// A provider pinned to a version is returned as it is.
    pub fn renewed(self: &Arc<Self>) -> crate::Result<Arc<Self>> {
        if self.pinned.is_some() {
            return Ok(Arc::clone(self));
        }
        let mut cached = self
            .snapshot
            .lock()
            .map_err(|_| crate::Error::invalid("snapshot lock poisoned"))?;
        let table = cached.refresh()?;
        if self.schema_of(&table) != self.schema {
            let fresh = Self::from_table(table, None).with_string_view(self.string_view);
            return Ok(Arc::new(fresh));
        }
        *cached = table;
        Ok(Arc::clone(self))
    }

    /// The schema DataFusion sees for `table` under this provider's options.
    fn schema_of(&self, table: &Table) -> SchemaRef {
        if self.string_view {
            view_schema(&table.schema())
        } else {
            table.schema()
        }
    }

    /// Whether strings and binaries are served as views ([`with_string_view`](Self::with_string_view)).
    pub fn string_view(&self) -> bool {
        self.string_view
    }

    /// The table directory.
    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }

    /// The snapshot a query planned now reads.
    pub fn snapshot(&self) -> Result<Table> {
        let mut cached = self
            .snapshot
            .lock()
            .map_err(|_| DataFusionError::Internal("snapshot lock poisoned".into()))?;
        if self.pinned.is_none() {
            let table = cached.refresh().map_err(external)?;
            if table.version() != cached.version() {
                if self.schema_of(&table) != self.schema {
                    return Err(DataFusionError::Plan(format!(
                        "the schema of table {} changed in version {}; register it again",
                        self.dir.display(),
                        table.version()
                    )));
                }
                *cached = table;
            }
        }
        Ok(cached.clone())
    }
}

#[async_trait]
impl TableProvider for QuiverTableProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table = self.snapshot()?;
        let df_schema = DFSchema::try_from(Arc::clone(&self.schema))?;
        let (exact, inexact): (Vec<&Expr>, Vec<&Expr>) =
            filters.iter().partition(|f| applies_exactly(f));
        let plan = |exprs: Vec<&Expr>| -> Result<Vec<_>> {
            exprs
                .into_iter()
                .map(|e| state.create_physical_expr(e.clone(), &df_schema))
                .collect()
        };
        // A limit is a row limit for the scan only when no filter is left to DataFusion.
        let fetch = if inexact.is_empty() { limit } else { None };
        let config = state.config_options();
        QuiverOptions::of(config).apply_process_wide();
        let mut request = ScanRequest::default()
            .with_filters(plan(exact)?)
            .with_pruning(plan(inexact)?)
            .with_fetch(fetch)
            .with_batch_size(config.execution.batch_size.get())
            .with_target_partitions(config.execution.target_partitions);
        if let Some(projection) = projection {
            request = request.with_projection(projection.clone());
        }
        let source = QuiverSource::try_new(table, Arc::clone(&self.schema), request)?;
        Ok(DataSourceExec::from_data_source(source))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if applies_exactly(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        self.snapshot()
            .ok()
            .map(|t| table_statistics(&t, &self.schema))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.writable("insert into")?;
        let overwrite = match insert_op {
            InsertOp::Append => false,
            InsertOp::Overwrite => true,
            InsertOp::Replace => {
                return not_impl_err!("INSERT OR REPLACE is not supported by Quiver tables")
            }
        };
        let sink = QuiverSink::new(self.dir.clone(), Arc::clone(&self.schema), overwrite);
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.writable("delete from")?;
        ensure_checked("DELETE", &self.dir)?;
        let filters = self.physical(state, &filters)?;
        Ok(Arc::new(QuiverDmlExec::new(
            self.snapshot()?,
            Arc::clone(&self.schema),
            DmlOp::Delete,
            filters,
        )))
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.writable("update")?;
        ensure_checked("UPDATE", &self.dir)?;
        for (name, _) in &assignments {
            if self.schema.index_of(name).is_err() {
                return Err(DataFusionError::Plan(format!(
                    "UPDATE of {}: no column \"{name}\"",
                    self.dir.display()
                )));
            }
        }
        let df_schema = DFSchema::try_from(Arc::clone(&self.schema))?;
        let exprs = self
            .schema
            .fields()
            .iter()
            .map(|field| {
                let expr = assignments
                    .iter()
                    .find(|(n, _)| n == field.name())
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| Expr::Column(field.name().as_str().into()));
                state.create_physical_expr(expr, &df_schema)
            })
            .collect::<Result<Vec<_>>>()?;
        let filters = self.physical(state, &filters)?;
        Ok(Arc::new(QuiverDmlExec::new(
            self.snapshot()?,
            Arc::clone(&self.schema),
            DmlOp::Update(exprs),
            filters,
        )))
    }

    async fn merge_into(
        &self,
        state: &dyn Session,
        source: Arc<dyn ExecutionPlan>,
        merge_schema: DFSchemaRef,
        on: Expr,
        clauses: Vec<MergeIntoClause>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.writable("merge into")?;
        let plan = MergePlan::try_new(
            state,
            self.dir.display().to_string(),
            self.schema.fields().len(),
            merge_schema,
            on,
            clauses,
        )?;
        Ok(Arc::new(QuiverDmlExec::merge(
            self.snapshot()?,
            Arc::clone(&self.schema),
            plan,
            source,
        )))
    }

    async fn truncate(&self, _state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        self.writable("truncate")?;
        Ok(Arc::new(QuiverDmlExec::new(
            self.snapshot()?,
            Arc::clone(&self.schema),
            DmlOp::Delete,
            Vec::new(),
        )))
    }
}

impl QuiverTableProvider {
    /// Fails for a pinned (time-travel) provider: `what` ("insert into", ...) names the change.
    fn writable(&self, what: &str) -> Result<()> {
        match self.pinned {
            Some(v) => Err(DataFusionError::Plan(format!(
                "version {v} of {} is a read-only snapshot; {what} the table itself",
                self.dir.display()
            ))),
            None => Ok(()),
        }
    }

    /// `filters` as physical expressions over the table schema.
    fn physical(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
        let df_schema = DFSchema::try_from(Arc::clone(&self.schema))?;
        filters
            .iter()
            .map(|e| state.create_physical_expr(e.clone(), &df_schema))
            .collect()
    }
}
