//! `quiver.connect` and `quiver.Connection`: one SQL session kept across statements, and
//! [`Session`], the session construction `quiver.sql` shares with it.
//!
//! # Contract
//! - A connection is one [`QuiverSession`]: the tables of its database directory (each query
//!   plans against the newest version), tables registered by name — a table directory (its
//!   newest version) or a `quiver.Table` (pinned at that table's version, read-only) — and the
//!   views and external tables its own statements create. No other connection sees those.
//! - It is `Send + Sync`: Python threads may run statements on one connection at once; each
//!   runs with the GIL released, on the runtime every query shares.
//! - A failing statement raises `QuiverError` with Quiver's or DataFusion's message and leaves
//!   the connection usable; the statements of a script before it keep their effects.
//! - `execute` returns the row count a statement reports (`INSERT`), else `None` (DDL).
//! - `table(name)` of a name that is neither registered nor a table directory of the database
//!   raises `ValueError` naming it and listing the connection's tables.
//! - After `close()` (or leaving `with`), every method raises `QuiverError("connection is
//!   closed")`; statements already running finish first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use arrow::array::{Array, UInt64Array};
use arrow::datatypes::DataType;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use quiver::sql::{QueryResult, QuiverSession, SessionLimits};

use crate::stream::Batches;
use crate::table::Table;
use crate::{runtime, to_py, QuiverError};

/// Where a table registered by name lives: its directory, and the version it is pinned at
/// (`None`: the newest when each query is planned).
#[derive(Debug, Clone)]
pub(crate) struct Source {
    dir: PathBuf,
    version: Option<u64>,
}

impl Source {
    /// `obj`, given for table `name`: a `quiver.Table` (pinned at its version) or a table
    /// directory (`str` or `os.PathLike`).
    fn of(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<Table>() {
            return Ok(Self {
                dir: obj.getattr("path")?.extract::<PathBuf>()?,
                version: Some(obj.getattr("version")?.extract::<u64>()?),
            });
        }
        let dir = obj.extract::<PathBuf>().map_err(|_| {
            PyTypeError::new_err(format!(
                "table {name}: expected a quiver.Table (pinned at its version) or a table \
                 directory (str or os.PathLike)"
            ))
        })?;
        Ok(Self { dir, version: None })
    }
}

/// The `tables=` argument, `{name: quiver.Table or table directory}`, in name order.
pub(crate) fn table_sources(
    tables: Option<HashMap<String, Bound<'_, PyAny>>>,
) -> PyResult<Vec<(String, Source)>> {
    let mut sources = tables
        .into_iter()
        .flatten()
        .map(|(name, obj)| {
            let source = Source::of(&name, &obj)?;
            Ok((name, source))
        })
        .collect::<PyResult<Vec<_>>>()?;
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(sources)
}

/// A SQL session and the tables registered in it by name (see the module contract).
pub(crate) struct Session {
    session: QuiverSession,
    db: Option<PathBuf>,
    /// Held while a table is registered, so the session and this map agree.
    registered: Mutex<BTreeMap<String, Source>>,
}

impl Session {
    /// A session over the database directory `db` (created if missing; none: only `tables`)
    /// with `tables` registered. Call without the GIL.
    pub(crate) fn open(
        db: Option<&Path>,
        tables: Vec<(String, Source)>,
        limits: &SessionLimits,
    ) -> PyResult<Self> {
        let session = match db {
            Some(db) => QuiverSession::open_db_with_limits(db, Default::default(), limits),
            None => QuiverSession::with_limits(Default::default(), limits),
        }
        .map_err(to_py)?;
        let session = Self {
            session,
            db: db.map(Path::to_path_buf),
            registered: Mutex::new(BTreeMap::new()),
        };
        for (name, source) in tables {
            session.register(&name, source)?;
        }
        Ok(session)
    }

    /// Registers `source` as `name`, replacing an earlier registration of `name`.
    fn register(&self, name: &str, source: Source) -> PyResult<()> {
        let mut registered = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match source.version {
            Some(version) => self
                .session
                .register_table_version(name, &source.dir, version),
            None => self.session.register_table(name, &source.dir),
        }
        .map_err(|e| QuiverError::new_err(format!("table {name}: {e}")))?;
        registered.insert(name.to_owned(), source);
        Ok(())
    }

    /// Runs every statement of `query`; the last row-producing result.
    fn run_script(&self, query: &str) -> PyResult<Option<QueryResult>> {
        runtime()?
            .block_on(self.session.run_script(query))
            .map_err(|e| QuiverError::new_err(e.to_string()))
    }

    /// Runs every statement of `query`; the last row-producing result, or no columns and no
    /// rows. Call without the GIL.
    pub(crate) fn sql(&self, query: &str) -> PyResult<Batches> {
        Ok(match self.run_script(query)? {
            Some(result) => Batches::new(result.schema, result.batches),
            None => Batches::empty(),
        })
    }

    /// Runs every statement of `statements`; the row count the last one reporting one gives
    /// (`INSERT`), or `None`.
    fn execute(&self, statements: &str) -> PyResult<Option<u64>> {
        Ok(self.run_script(statements)?.as_ref().and_then(row_count))
    }

    /// Opens the table registered as `name`, else the database's table directory `name`.
    fn open_table(&self, name: &str) -> PyResult<quiver::Table> {
        let registered = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        if let Some(source) = registered {
            return match source.version {
                Some(version) => quiver::Table::open_version(&source.dir, version),
                None => quiver::Table::open(&source.dir),
            }
            .map_err(to_py);
        }
        let plain_name = matches!(
            Path::new(name).components().collect::<Vec<_>>().as_slice(),
            [Component::Normal(_)]
        );
        if let Some(db) = self.db.as_ref().filter(|_| plain_name) {
            let dir = db.join(name);
            if dir.is_dir() {
                return quiver::Table::open(&dir).map_err(to_py);
            }
        }
        let names = self.table_names();
        let known = if names.is_empty() {
            "it has no tables".to_owned()
        } else {
            format!("its tables are {}", names.join(", "))
        };
        Err(PyValueError::new_err(format!(
            "no table {name:?} in this connection; {known}"
        )))
    }

    /// The registered names and the database's table directories, sorted.
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        if let Some(entries) = self.db.as_ref().and_then(|db| std::fs::read_dir(db).ok()) {
            names.extend(
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().is_dir() && quiver::Table::open(e.path()).is_ok())
                    .filter_map(|e| e.file_name().into_string().ok()),
            );
        }
        names.sort();
        names.dedup();
        names
    }
}

/// The row count a DML statement (`INSERT`) reports — DataFusion's one `count` column of
/// `UInt64` — or `None` for any other result.
fn row_count(result: &QueryResult) -> Option<u64> {
    let fields = result.schema.fields();
    if fields.len() != 1
        || fields[0].name() != "count"
        || *fields[0].data_type() != DataType::UInt64
    {
        return None;
    }
    let mut rows = 0u64;
    for batch in &result.batches {
        let counts = batch.column(0).as_any().downcast_ref::<UInt64Array>()?;
        rows += counts.values().iter().sum::<u64>();
    }
    Some(rows)
}

/// An open SQL session over a database directory and named tables (see the module contract).
/// Use it from any number of threads; `with quiver.connect(...) as conn:` closes it.
#[pyclass(module = "quiver", frozen)]
pub struct Connection {
    /// `None` once closed.
    session: RwLock<Option<Arc<Session>>>,
}

impl Connection {
    /// The session, unless the connection is closed.
    fn session(&self) -> PyResult<Arc<Session>> {
        self.session
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(Arc::clone)
            .ok_or_else(|| QuiverError::new_err("connection is closed"))
    }
}

#[pymethods]
impl Connection {
    /// Runs `query` (one or more `;`-separated statements) and returns the result of the last
    /// one that produces rows, as `quiver.Batches` (empty if none does).
    fn sql(&self, py: Python<'_>, query: &str) -> PyResult<Batches> {
        let session = self.session()?;
        py.detach(|| session.sql(query))
    }

    /// Runs DDL or DML (`CREATE VIEW`, `CREATE TABLE ... AS`, `INSERT`, `DROP VIEW`, ...; one
    /// or more `;`-separated statements). Returns the row count `INSERT` reports, else `None`.
    fn execute(&self, py: Python<'_>, statement: &str) -> PyResult<Option<u64>> {
        let session = self.session()?;
        py.detach(|| session.execute(statement))
    }

    /// Registers `table` as `name`: a `quiver.Table` is pinned at its version (read-only), a
    /// table directory (`str` / `os.PathLike`) serves its newest version.
    fn register(&self, py: Python<'_>, name: &str, table: &Bound<'_, PyAny>) -> PyResult<()> {
        let session = self.session()?;
        let source = Source::of(name, table)?;
        py.detach(|| session.register(name, source))
    }

    /// The `quiver.Table` registered as `name` (at its pinned version), else the database's
    /// table `name` (newest). An unknown name raises `ValueError` listing the known tables.
    fn table(&self, py: Python<'_>, name: &str) -> PyResult<Table> {
        let session = self.session()?;
        py.detach(|| session.open_table(name)).map(Table::new)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.session
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Closes the connection (again: nothing). Statements already running finish.
    fn close(&self) {
        *self.session.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().session()?;
        Ok(slf)
    }

    fn __exit__(
        &self,
        _exc_type: &Bound<'_, PyAny>,
        _exc_value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        let Ok(session) = self.session() else {
            return "quiver.Connection(closed)".to_owned();
        };
        let db = match &session.db {
            Some(db) => format!("{:?}", db.display().to_string()),
            None => "None".to_owned(),
        };
        let registered = session
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        format!("quiver.Connection(db={db}, registered=[{registered}])")
    }
}

/// Opens a connection: `db`, a database directory whose table directories are tables (and
/// where `CREATE TABLE ... AS` writes; created if missing); `tables`, extra `{name: table}`
/// where a table is a `quiver.Table` (pinned at its version) or a table directory;
/// `memory_limit`, bytes the session's queries may hold at once (sorts, aggregates and joins
/// spill to `spill_dir`, default the system temp directory, beyond it; a query that still does
/// not fit raises); `threads`, partitions per query (default: the number of cores).
#[pyfunction]
#[pyo3(signature = (db=None, tables=None, *, memory_limit=None, spill_dir=None, threads=None))]
pub fn connect<'py>(
    py: Python<'py>,
    db: Option<PathBuf>,
    tables: Option<HashMap<String, Bound<'py, PyAny>>>,
    memory_limit: Option<usize>,
    spill_dir: Option<PathBuf>,
    threads: Option<usize>,
) -> PyResult<Connection> {
    let tables = table_sources(tables)?;
    let limits = SessionLimits {
        memory_limit,
        spill_dir,
        threads,
    };
    let session = py.detach(|| Session::open(db.as_deref(), tables, &limits))?;
    Ok(Connection {
        session: RwLock::new(Some(Arc::new(session))),
    })
}
