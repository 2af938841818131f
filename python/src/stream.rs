//! Arrow PyCapsule export: record batch streams and schemas handed to Python consumers, and
//! [`Batches`], a materialized result that can be consumed any number of times.
//!
//! # Contract
//! - A stream capsule (`"arrow_array_stream"`) holds an `FFI_ArrowArrayStream` over Rust
//!   batches; the consumer moves it out and releases it. If nobody does, the capsule's
//!   destructor releases it (arrow's `Drop`), so an unconsumed capsule leaks nothing.
//! - `requested_schema` is accepted and ignored: the PyCapsule protocol lets a producer keep
//!   its own schema, and Quiver never casts data on the way out.

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

const STREAM_CAPSULE: &std::ffi::CStr = c"arrow_array_stream";
const SCHEMA_CAPSULE: &std::ffi::CStr = c"arrow_schema";

/// `reader` as an Arrow C stream capsule.
pub(crate) fn stream_capsule<'py>(
    py: Python<'py>,
    reader: Box<dyn RecordBatchReader + Send>,
) -> PyResult<Bound<'py, PyCapsule>> {
    PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), STREAM_CAPSULE)
}

/// `schema` as an Arrow C schema capsule.
pub(crate) fn schema_capsule<'py>(
    py: Python<'py>,
    schema: &Schema,
) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema).map_err(|e| {
        crate::QuiverError::new_err(format!("cannot export the schema to Arrow C: {e}"))
    })?;
    PyCapsule::new_with_value(py, ffi, SCHEMA_CAPSULE)
}

/// `obj` as a `pyarrow.Table` (pyarrow must be installed).
pub(crate) fn to_pyarrow<'py>(obj: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.py().import("pyarrow")?.call_method1("table", (obj,))
}

/// `obj`'s schema as a `pyarrow.Schema` (pyarrow must be installed).
pub(crate) fn to_pyarrow_schema<'py>(obj: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.py().import("pyarrow")?.call_method1("schema", (obj,))
}

/// Batches already computed (a query result, taken rows). Implements `__arrow_c_stream__`,
/// so `pyarrow.table(b)`, `polars.from_arrow(b)` or DuckDB read it, as often as wanted;
/// `to_arrow()`, `to_polars()` and `to_pandas()` import pyarrow (and polars / pandas) lazily.
#[pyclass(module = "quiver", frozen)]
pub struct Batches {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl Batches {
    /// Batches of `schema`.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Self { schema, batches }
    }

    /// No columns, no rows (a script whose statements return nothing).
    pub fn empty() -> Self {
        Self::new(Arc::new(Schema::empty()), Vec::new())
    }
}

#[pymethods]
impl Batches {
    /// Rows in all batches.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    /// The schema as a `pyarrow.Schema`.
    #[getter]
    fn schema<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow_schema(slf.into_any())
    }

    /// The batches as a `pyarrow.Table` (no copy).
    fn to_arrow<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow(slf.into_any())
    }

    /// The batches as a `polars.DataFrame` (through pyarrow; polars and pyarrow must be
    /// installed).
    fn to_polars<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let table = to_pyarrow(slf.into_any())?;
        py.import("polars")?.call_method1("from_arrow", (table,))
    }

    /// The batches as a `pandas.DataFrame` (through pyarrow; pandas and pyarrow must be
    /// installed).
    fn to_pandas<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow(slf.into_any())?.call_method0("to_pandas")
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batches = self.batches.clone().into_iter().map(Ok);
        let reader = RecordBatchIterator::new(batches, Arc::clone(&self.schema));
        stream_capsule(py, Box::new(reader))
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    fn __repr__(&self) -> String {
        format!(
            "quiver.Batches({} rows, {} columns)",
            self.num_rows(),
            self.schema.fields().len()
        )
    }
}
