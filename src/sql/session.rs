//! [`QuiverSession`]: a DataFusion session that knows Quiver tables — by directory, by
//! database, by `CREATE EXTERNAL TABLE`, and at older versions.
//!
//! # Contract
//! - [`QuiverSession::open_db`] binds the session's default schema to a database directory:
//!   its table subdirectories are tables, and `CREATE TABLE t AS SELECT ...` (or `CREATE TABLE
//!   t (columns)`) creates a new Quiver table directory `t` in it, streaming the query's rows
//!   through the one build path and committing once.
//! - [`QuiverSession::run_script`] runs every statement of a script in order and returns the
//!   result of the last statement that produces rows (queries, and `INSERT`'s row count);
//!   DDL statements (`CREATE VIEW`, `DROP VIEW`, ...) produce none.
//! - `DROP TABLE` of a table stored in the database directory is refused: SQL never deletes a
//!   table's files (remove the directory, or `vacuum` old versions).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt;

use super::aggregate::AggregatePushdown;
use super::catalog::{QuiverSchemaProvider, QuiverTableFactory, VersionFunction};
use super::dml_guard::QuiverQueryPlanner;
use super::external;
use super::options::QuiverOptions;
use super::provider::QuiverTableProvider;
use crate::Table;

/// What a session's queries may use. The default is no bound: all memory, one partition
/// per core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// Bytes of memory the session's queries may hold at once, shared fairly between the
    /// operators that can spill (sorts, hash aggregates, sort-merge joins), which then spill to
    /// `spill_dir`; an operator that cannot stay within it fails its query with DataFusion's
    /// "Resources exhausted" error, naming the operator — the process lives on.
    pub memory_limit: Option<usize>,
    /// Where spill files go (unnamed temporary files); default: the system temp directory.
    pub spill_dir: Option<PathBuf>,
    /// Partitions, so threads, per query; default: the number of cores.
    pub threads: Option<usize>,
}

impl SessionLimits {
    /// `config` with the thread count, and the runtime (memory pool, spill directory).
    fn apply(&self, config: SessionConfig) -> crate::Result<(SessionConfig, Arc<RuntimeEnv>)> {
        use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
        use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
        let config = match self.threads {
            Some(0) => return Err(crate::Error::invalid("a session needs at least one thread")),
            Some(n) => config.with_target_partitions(n),
            None => config,
        };
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(bytes) = self.memory_limit {
            let top = std::num::NonZeroUsize::new(5).expect("5 is not zero");
            let pool = TrackConsumersPool::new(FairSpillPool::new(bytes), top);
            runtime = runtime.with_memory_pool(Arc::new(pool));
        }
        if let Some(dir) = &self.spill_dir {
            let mode = DiskManagerMode::Directories(vec![dir.clone()]);
            runtime =
                runtime.with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode));
        }
        let runtime = runtime.build_arc().map_err(|e| {
            crate::Error::invalid(format!("cannot set up the session's limits: {e}"))
        })?;
        Ok((config, runtime))
    }
}

/// A SQL session over Quiver tables (see the module contract).
pub struct QuiverSession {
    ctx: SessionContext,
    db: Option<PathBuf>,
    /// The cluster (`df://HOST:PORT`) that plans and runs this session's queries, if any.
    cluster: Option<String>,
}

/// Whether tables registered in a session give strings as views: not on a cluster, where
/// batches are written as Arrow IPC between nodes and a view batch would carry the whole
/// segment's string bytes it points into.
fn serves_views(cluster: Option<&str>) -> bool {
    cluster.is_none()
}

/// The result of a statement: its schema and batches.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Columns of the result.
    pub schema: SchemaRef,
    /// Rows of the result.
    pub batches: Vec<RecordBatch>,
}

impl Default for QuiverSession {
    fn default() -> Self {
        Self::new(SessionConfig::new())
    }
}

impl QuiverSession {
    /// A session with `config`, the `QUIVER` table factory, `quiver_version`, the
    /// information schema (`SHOW TABLES`, `SHOW COLUMNS FROM t`, `information_schema.*`),
    /// Quiver's settings ([`QuiverOptions`], `SET quiver.*`) and aggregates inside the scan
    /// ([`AggregatePushdown`](super::AggregatePushdown)), and the planner that checks `DELETE` and
    /// `UPDATE` before a Quiver table applies them ([`QuiverQueryPlanner`]).
    pub fn new(config: SessionConfig) -> Self {
        Self::build(config, None)
    }

    /// Like [`QuiverSession::new`], within `limits` (memory, spill directory, threads).
    pub fn with_limits(config: SessionConfig, limits: &SessionLimits) -> crate::Result<Self> {
        let (config, runtime) = limits.apply(config)?;
        Ok(Self::build(config, Some(runtime)))
    }

    fn build(config: SessionConfig, runtime: Option<Arc<RuntimeEnv>>) -> Self {
        let config = config
            .with_information_schema(true)
            .with_option_extension(QuiverOptions::default());
        let builder = SessionStateBuilder::new().with_config(config);
        let builder = match runtime {
            Some(runtime) => builder.with_runtime_env(runtime),
            None => builder,
        };
        let state = builder
            .with_default_features()
            .with_table_factory("QUIVER".into(), Arc::new(QuiverTableFactory::default()))
            .with_physical_optimizer_rule(Arc::new(AggregatePushdown))
            .with_query_planner(Arc::new(QuiverQueryPlanner))
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udtf("quiver_version", Arc::new(VersionFunction));
        Self {
            ctx,
            db: None,
            cluster: None,
        }
    }

    /// A session whose default schema is the database directory `dir` (created if missing).
    pub fn open_db(dir: impl AsRef<Path>, config: SessionConfig) -> crate::Result<Self> {
        Self::open_db_with_limits(dir, config, &SessionLimits::default())
    }

    /// Like [`QuiverSession::open_db`], within `limits`.
    pub fn open_db_with_limits(
        dir: impl AsRef<Path>,
        config: SessionConfig,
        limits: &SessionLimits,
    ) -> crate::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, "create directory", e))?;
        let mut session = Self::with_limits(config, limits)?;
        session.use_db(&dir)?;
        session.db = Some(dir);
        Ok(session)
    }

    /// Makes database directory `dir` the default schema, its tables giving strings as views
    /// unless the session runs on a cluster.
    fn use_db(&self, dir: &Path) -> crate::Result<()> {
        let options = self.ctx.state().config_options().catalog.clone();
        let catalog = self
            .ctx
            .catalog(&options.default_catalog)
            .ok_or_else(|| crate::Error::invalid("the session has no default catalog"))?;
        let schema =
            QuiverSchemaProvider::new(dir).with_string_view(serves_views(self.cluster.as_deref()));
        catalog
            .register_schema(&options.default_schema, Arc::new(schema))
            .map_err(|e| crate::Error::invalid(e.to_string()))?;
        Ok(())
    }

    /// This session with its queries planned and run by the Ballista cluster at `cluster`
    /// (`df://HOST:PORT`, feature `distributed`; docs/DISTRIBUTED.md): its database directory
    /// and settings are kept. From here on, Quiver tables (the database's, registered ones,
    /// `STORED AS QUIVER`) give strings as `LargeUtf8`, not views, so the batches sent between
    /// nodes hold only their own rows' bytes — register tables after this call. Writes stay
    /// local-only: `INSERT`, `CREATE TABLE AS`, `DELETE`, `UPDATE`, `MERGE`, `TRUNCATE` and
    /// `COPY` are refused on a cluster session.
    #[cfg(feature = "distributed")]
    pub fn on_cluster(self, cluster: &str) -> crate::Result<Self> {
        let state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_table_factory(
                "QUIVER".into(),
                Arc::new(
                    QuiverTableFactory::default().with_string_view(serves_views(Some(cluster))),
                ),
            )
            .build();
        let state = crate::distributed::cluster_state(state, cluster)?;
        let session = Self {
            ctx: SessionContext::new_with_state(state),
            db: self.db,
            cluster: Some(cluster.to_owned()),
        };
        if let Some(dir) = &session.db {
            session.use_db(dir)?;
        }
        Ok(session)
    }

    /// Refuses a change of stored data on a cluster session (see [`Self::on_cluster`]).
    fn check_local_only(&self, plan: &LogicalPlan) -> Result<()> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let what = match plan {
            LogicalPlan::Dml(dml) => dml.op.name(),
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(_)) => "CREATE TABLE AS",
            LogicalPlan::Copy(_) => "COPY",
            _ => return Ok(()),
        };
        Err(DataFusionError::Plan(format!(
            "{what} is not supported on a cluster session ({cluster}): writes are local-only; \
             run the statement without --cluster"
        )))
    }

    /// The DataFusion context, for anything this wrapper does not cover.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Registers the newest version of the table in `dir` as `name`.
    pub fn register_table(&self, name: &str, dir: impl AsRef<Path>) -> Result<()> {
        let provider = QuiverTableProvider::try_new(dir)
            .map_err(external)?
            .with_string_view(serves_views(self.cluster.as_deref()));
        self.ctx.register_table(name, Arc::new(provider))?;
        Ok(())
    }

    /// Registers version `version` of the table in `dir` as `name` (read-only).
    pub fn register_table_version(
        &self,
        name: &str,
        dir: impl AsRef<Path>,
        version: u64,
    ) -> Result<()> {
        let provider = QuiverTableProvider::try_new_at_version(dir, version)
            .map_err(external)?
            .with_string_view(serves_views(self.cluster.as_deref()));
        self.ctx.register_table(name, Arc::new(provider))?;
        Ok(())
    }

    /// Plans one SQL statement (with `CREATE TABLE ... AS` handled as in the module contract).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let plan = self.plan(sql).await?;
        self.execute_plan(plan).await
    }

    /// The logical plan of one SQL statement; nothing runs, DDL included, until
    /// [`Self::execute_plan`].
    pub async fn plan(&self, sql: &str) -> Result<LogicalPlan> {
        let mut statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?;
        if statements.len() != 1 {
            return Err(DataFusionError::Plan(format!(
                "expected one statement, found {}; use run_script for several",
                statements.len()
            )));
        }
        let statement = statements.pop_front().expect("one statement");
        self.ctx.state().statement_to_plan(statement).await
    }

    /// Runs a plan of [`Self::plan`]: DDL takes effect now (`CREATE TABLE ... AS` writes its
    /// table), queries return a frame to execute.
    pub async fn execute_plan(&self, plan: LogicalPlan) -> Result<DataFrame> {
        self.check_local_only(&plan)?;
        // DataFusion reports any failure to drop as "doesn't exist"; say what really happens.
        if let (Some(db), LogicalPlan::Ddl(DdlStatement::DropTable(cmd))) = (&self.db, &plan) {
            let dir = db.join(cmd.name.table());
            if Table::exists(&dir) {
                return Err(DataFusionError::Plan(format!(
                    "{} is a Quiver table stored in {}; DROP does not delete data — remove the directory to drop it",
                    cmd.name,
                    dir.display()
                )));
            }
        }
        if let (Some(db), LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(cmd))) =
            (&self.db, &plan)
        {
            let name = cmd.name.table().to_owned();
            let dir = db.join(&name);
            let exists = Table::exists(&dir);
            if exists && cmd.if_not_exists {
                return self.ctx.read_empty();
            }
            if exists && !cmd.or_replace {
                return Err(DataFusionError::Plan(format!(
                    "table {name} already exists in {}",
                    db.display()
                )));
            }
            let input = DataFrame::new(self.ctx.state(), cmd.input.as_ref().clone());
            let schema = Arc::new(input.schema().as_arrow().clone());
            let mut writer = if exists {
                crate::TableWriter::overwrite(&dir, schema)
            } else {
                crate::TableWriter::create(&dir, schema)
            }
            .map_err(external)?;
            let mut stream = input.execute_stream().await?;
            while let Some(batch) = stream.next().await {
                writer.write(&batch?).map_err(external)?;
            }
            writer.commit().map_err(external)?;
            return self.ctx.read_empty();
        }
        self.ctx.execute_logical_plan(plan).await
    }

    /// Runs every statement of `sql` in order; returns the last row-producing result.
    pub async fn run_script(&self, sql: &str) -> Result<Option<QueryResult>> {
        let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?;
        let mut last = None;
        for statement in statements {
            let plan = self.ctx.state().statement_to_plan(statement).await?;
            let produces_rows = !is_ddl(&plan);
            let df = self.execute_plan(plan).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            if produces_rows {
                last = Some(QueryResult { schema, batches });
            }
        }
        Ok(last)
    }
}

/// Statements that change the catalog or the session rather than produce rows (`CREATE VIEW`,
/// `DROP VIEW`, `CREATE TABLE ... AS`, `SET`): their plans describe an input, not a result.
pub fn is_ddl(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Statement(_))
}
