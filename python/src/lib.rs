//! `quiver._quiver`: the Python extension behind the `quiver` package (python/quiver).
//!
//! # Contract
//! - Data leaves through the Arrow PyCapsule interface (`__arrow_c_stream__`,
//!   `__arrow_c_schema__`), never through a Python-side copy: a scan's batches carry the
//!   segment mappings' buffers, and each exported array keeps its mapping alive until the
//!   consumer (pyarrow, Polars, DuckDB, ...) releases it — dropping the `Table` does not unmap.
//! - Data enters through the same interface: `write` accepts any object with
//!   `__arrow_c_stream__` and feeds its batches to Quiver's one build path, committing once.
//! - The GIL is released while Quiver reads, writes or runs SQL; a `Connection` (one SQL
//!   session kept across statements, `connection.rs`) may be used from several threads.
//! - Every Quiver failure raises `quiver.QuiverError` with Quiver's message (file, column, row
//!   or byte offset at fault); bad arguments raise `ValueError`.

mod connection;
mod stream;
mod table;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatchReader;

use quiver::io::{import_batches, ImportOptions, Mode};

use connection::{table_sources, Connection, Session};
use stream::Batches;
use table::{Scan, Table};

create_exception!(
    _quiver,
    QuiverError,
    PyException,
    "A Quiver operation failed; the message names the file, column, row or byte at fault."
);

/// A Quiver error as a Python exception.
pub(crate) fn to_py(e: quiver::Error) -> PyErr {
    QuiverError::new_err(e.to_string())
}

/// The runtime SQL queries run on, shared by every call and connection (started on first use).
pub(crate) fn runtime() -> PyResult<Arc<tokio::runtime::Runtime>> {
    static RUNTIME: OnceLock<Arc<tokio::runtime::Runtime>> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(Arc::clone(rt));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| QuiverError::new_err(format!("cannot start the query runtime: {e}")))?;
    Ok(Arc::clone(RUNTIME.get_or_init(|| Arc::new(rt))))
}

/// Opens the newest version of the table in `path` (or `version`), in O(metadata).
#[pyfunction]
#[pyo3(signature = (path, version=None))]
fn open(py: Python<'_>, path: PathBuf, version: Option<u64>) -> PyResult<Table> {
    py.detach(|| match version {
        Some(v) => quiver::Table::open_version(&path, v),
        None => quiver::Table::open(&path),
    })
    .map(Table::new)
    .map_err(to_py)
}

/// Writes every batch of `data` (any object with `__arrow_c_stream__`) to the table at `path`
/// as one commit and returns the committed version. `mode`: "create" (the table must not
/// exist), "append" (same schema) or "overwrite" (new rows and schema; created if missing).
/// `encoding`: how columns are stored (`quiver import --encoding`'s text: "raw", "compact",
/// "auto", or per column "COL=dict|packed|delta|zstd|raw,..."); the table keeps it for appends.
#[pyfunction]
#[pyo3(signature = (path, data, mode="create", encoding=None))]
fn write(
    py: Python<'_>,
    path: PathBuf,
    data: PyRecordBatchReader,
    mode: &str,
    encoding: Option<&str>,
) -> PyResult<u64> {
    let mode = match mode {
        "create" => Mode::Create,
        "append" => Mode::Append,
        "overwrite" => Mode::Overwrite,
        other => {
            return Err(PyValueError::new_err(format!(
                "mode must be \"create\", \"append\" or \"overwrite\", not {other:?}"
            )))
        }
    };
    let mut options = ImportOptions::default().with_mode(mode);
    if let Some(text) = encoding {
        let spec = quiver::EncodingSpec::parse(text)
            .map_err(|e| PyValueError::new_err(format!("encoding {text:?}: {e}")))?;
        options.write = options.write.with_encoding(spec);
    }
    let reader = data.into_reader()?;
    py.detach(move || {
        let schema = reader.schema();
        let batches = reader.map(|batch| batch.map_err(quiver::Error::from));
        import_batches(&path, schema, batches, &options)
    })
    .map(|report| report.version)
    .map_err(to_py)
}

/// Merges every batch of `data` into the table at `path` by the key columns `keys`, as one
/// commit: rows whose key a table row has replace it, the others are inserted, and with
/// `delete_unmatched` table rows whose key `data` lacks are deleted. Returns `{"version",
/// "updated", "inserted", "deleted"}`.
#[pyfunction]
#[pyo3(signature = (path, data, keys, delete_unmatched=false))]
fn merge(
    py: Python<'_>,
    path: PathBuf,
    data: PyRecordBatchReader,
    keys: Vec<String>,
    delete_unmatched: bool,
) -> PyResult<HashMap<&'static str, u64>> {
    let reader = data.into_reader()?;
    let report = py
        .detach(move || {
            let batches = reader
                .map(|b| b.map_err(quiver::Error::from))
                .collect::<quiver::Result<Vec<_>>>()?;
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let options = quiver::MergeOptions::default().with_delete_unmatched(delete_unmatched);
            quiver::merge(&path, &batches, &keys, options)
        })
        .map_err(to_py)?;
    Ok(HashMap::from([
        ("version", report.version),
        ("updated", report.updated),
        ("inserted", report.inserted),
        ("deleted", report.deleted),
    ]))
}

/// Compacts the table at `path`: small and deletion-heavy segments rewritten into segments of
/// `target_rows` rows as one commit (older versions keep their files until vacuumed). Returns
/// `{"version", "segments_removed", "segments_written", "rows_written", "deleted_rows_dropped"}`.
#[pyfunction]
#[pyo3(signature = (path, target_rows=None))]
fn optimize(
    py: Python<'_>,
    path: PathBuf,
    target_rows: Option<usize>,
) -> PyResult<HashMap<&'static str, u64>> {
    let mut options = quiver::OptimizeOptions::default();
    if let Some(rows) = target_rows {
        options = options.with_target_rows(rows);
    }
    let report = py
        .detach(move || quiver::optimize(&path, options))
        .map_err(to_py)?;
    Ok(HashMap::from([
        ("version", report.version),
        ("segments_removed", report.segments_removed as u64),
        ("segments_written", report.segments_written as u64),
        ("rows_written", report.rows_written),
        ("deleted_rows_dropped", report.deleted_rows_dropped),
    ]))
}

/// Runs `query` (one or more `;`-separated statements) in a new session and returns the
/// result of the last one that produces rows. `db`: a database directory whose table
/// directories are tables (and where `CREATE TABLE ... AS` writes); `tables`: extra
/// `{name: table directory or quiver.Table}`. To run several queries, `connect` once instead.
#[pyfunction]
#[pyo3(signature = (query, db=None, tables=None))]
fn sql<'py>(
    py: Python<'py>,
    query: &str,
    db: Option<PathBuf>,
    tables: Option<HashMap<String, Bound<'py, PyAny>>>,
) -> PyResult<Batches> {
    let tables = table_sources(tables)?;
    py.detach(|| Session::open(db.as_deref(), tables, &Default::default())?.sql(query))
}

/// Sets how many bytes of decoded encoded columns (format v3: dictionary codes, packed
/// integers, zstd blocks) this process keeps for reuse, evicting the least recently used at once
/// past it; 0 keeps none, so every read decodes from the file again. Raw columns are zero-copy
/// and take nothing from it.
#[pyfunction]
fn set_decoded_cache_bytes(bytes: usize) {
    quiver::set_decoded_cache_bytes(bytes);
}

/// `(held, budget)`: the bytes of decoded columns the cache holds now, and its budget (see
/// `set_decoded_cache_bytes`).
#[pyfunction]
fn decoded_cache() -> (usize, usize) {
    (
        quiver::decoded_cache_bytes(),
        quiver::decoded_cache_budget(),
    )
}

/// The `quiver._quiver` module.
#[pymodule]
fn _quiver(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(write, m)?)?;
    m.add_function(wrap_pyfunction!(sql, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add_function(wrap_pyfunction!(optimize, m)?)?;
    m.add_function(wrap_pyfunction!(connection::connect, m)?)?;
    m.add_function(wrap_pyfunction!(set_decoded_cache_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(decoded_cache, m)?)?;
    m.add_class::<Table>()?;
    m.add_class::<Scan>()?;
    m.add_class::<Batches>()?;
    m.add_class::<Connection>()?;
    m.add("QuiverError", m.py().get_type::<QuiverError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
