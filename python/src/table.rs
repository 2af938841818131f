//! `quiver.Table` and `quiver.Scan`: an open table version and a re-runnable scan of it.
//!
//! # Contract
//! - A `Table` is one version, fixed at open: later commits are not seen; `quiver.open` again.
//! - A `Scan` (and the `Table` itself) implements `__arrow_c_stream__` by starting a fresh
//!   scan on every call, so consumers that read twice (schema first, then data) work.
//! - Column names are checked up front: an unknown name is a `ValueError` naming it and the
//!   table's columns. Row ranges are clamped to the table like `Table::scan_with`.

use std::ops::Range;

use arrow::datatypes::SchemaRef;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use quiver::ffi::ScanReader;
use quiver::ScanOptions;

use crate::stream::{schema_capsule, stream_capsule, to_pyarrow, to_pyarrow_schema, Batches};
use crate::to_py;

/// An open table version.
#[pyclass(module = "quiver", frozen)]
pub struct Table {
    inner: quiver::Table,
}

impl Table {
    pub fn new(inner: quiver::Table) -> Self {
        Self { inner }
    }

    /// The indices of `columns` (all columns when `None`).
    fn projection(&self, columns: Option<Vec<String>>) -> PyResult<Option<Vec<usize>>> {
        let Some(columns) = columns else {
            return Ok(None);
        };
        let schema = self.inner.schema();
        columns
            .iter()
            .map(|name| {
                schema.index_of(name).map_err(|_| {
                    let names: Vec<&str> =
                        schema.fields().iter().map(|f| f.name().as_str()).collect();
                    PyValueError::new_err(format!(
                        "no column {name:?} in {}; its columns are {}",
                        self.inner.path().display(),
                        names.join(", ")
                    ))
                })
            })
            .collect::<PyResult<Vec<_>>>()
            .map(Some)
    }

    fn scan_options(
        &self,
        columns: Option<Vec<String>>,
        rows: Option<(u64, u64)>,
        batch_rows: Option<usize>,
    ) -> PyResult<Scan> {
        let mut options = ScanOptions::default();
        options.projection = self.projection(columns)?;
        if let Some(batch_rows) = batch_rows {
            if batch_rows == 0 {
                return Err(PyValueError::new_err("batch_rows must be at least 1"));
            }
            options.batch_size = batch_rows;
        }
        if let Some((start, end)) = rows {
            if start > end {
                return Err(PyValueError::new_err(format!(
                    "rows=({start}, {end}): the start is past the end"
                )));
            }
            options.row_range = Some(Range { start, end });
        }
        let schema = self
            .inner
            .scan_with(options.clone())
            .map_err(to_py)?
            .schema();
        Ok(Scan {
            table: self.inner.clone(),
            options,
            schema,
        })
    }
}

#[pymethods]
impl Table {
    /// Rows in this version.
    #[getter]
    fn num_rows(&self) -> u64 {
        self.inner.num_rows()
    }

    fn __len__(&self) -> usize {
        usize::try_from(self.inner.num_rows()).unwrap_or(usize::MAX)
    }

    /// The version number.
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version()
    }

    /// The table directory.
    #[getter]
    fn path(&self) -> std::path::PathBuf {
        self.inner.path().to_path_buf()
    }

    /// Column names, in order.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        let schema = self.inner.schema();
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    /// The schema as a `pyarrow.Schema`.
    #[getter]
    fn schema<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow_schema(slf.into_any())
    }

    /// A scan of `columns` (default all), table rows `rows=(start, end)` (default all), in
    /// batches of at most `batch_rows` rows. Nothing is read until it is consumed.
    #[pyo3(signature = (columns=None, rows=None, batch_rows=None))]
    fn scan(
        &self,
        columns: Option<Vec<String>>,
        rows: Option<(u64, u64)>,
        batch_rows: Option<usize>,
    ) -> PyResult<Scan> {
        self.scan_options(columns, rows, batch_rows)
    }

    /// The table (or `columns` of it) as a `pyarrow.Table` whose buffers are the mapping's.
    #[pyo3(signature = (columns=None))]
    fn to_arrow<'py>(
        &self,
        py: Python<'py>,
        columns: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let scan = Bound::new(py, self.scan_options(columns, None, None)?)?;
        to_pyarrow(scan.into_any())
    }

    /// The rows at `indices` (any order, repeats allowed) of `columns` (default all).
    #[pyo3(signature = (indices, columns=None))]
    fn take(
        &self,
        py: Python<'_>,
        indices: Vec<i64>,
        columns: Option<Vec<String>>,
    ) -> PyResult<Batches> {
        let rows = indices
            .iter()
            .map(|&i| {
                u64::try_from(i)
                    .map_err(|_| PyValueError::new_err(format!("row index {i} is negative")))
            })
            .collect::<PyResult<Vec<u64>>>()?;
        let projection = self.projection(columns)?;
        let batch = py
            .detach(|| self.inner.take_columns(&rows, projection.as_deref()))
            .map_err(to_py)?;
        Ok(Batches::new(batch.schema(), vec![batch]))
    }

    /// Checks every checksum and structure of this version; raises `QuiverError` naming the
    /// damage.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.verify()).map_err(to_py)
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        self.scan_options(None, None, None)?
            .__arrow_c_stream__(py, requested_schema)
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.inner.schema())
    }

    fn __repr__(&self) -> String {
        format!(
            "quiver.Table({:?}, version={}, {} rows, {} columns)",
            self.inner.path().display().to_string(),
            self.inner.version(),
            self.inner.num_rows(),
            self.inner.schema().fields().len()
        )
    }
}

/// A scan of a table version: columns, rows and batch size fixed, run on each consumption.
#[pyclass(module = "quiver", frozen)]
pub struct Scan {
    table: quiver::Table,
    options: ScanOptions,
    schema: SchemaRef,
}

#[pymethods]
impl Scan {
    /// The schema as a `pyarrow.Schema`.
    #[getter]
    fn schema<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow_schema(slf.into_any())
    }

    /// The scanned rows as a `pyarrow.Table` whose buffers are the mapping's.
    fn to_arrow<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow(slf.into_any())
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let scan = self.table.scan_with(self.options.clone()).map_err(to_py)?;
        stream_capsule(py, Box::new(ScanReader::new(scan)))
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    fn __repr__(&self) -> String {
        let names: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        format!(
            "quiver.Scan({:?}, columns=[{}])",
            self.table.path().display().to_string(),
            names.join(", ")
        )
    }
}
