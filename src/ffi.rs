//! The Arrow C Stream interface: a scan handed to another library or language without a copy.
//!
//! # Contract
//! - [`export_scan`] turns a [`Scan`] into an `ArrowArrayStream` (the Arrow C Stream interface):
//!   the consumer pulls batches through the C struct's `get_next`; each exported array's
//!   buffers are the scan's own buffers — for dense columns, slices of the segment mappings —
//!   not copies.
//! - Every exported array owns a reference to the buffers it exposes, so the mapping of its
//!   segment stays alive until the consumer calls the array's `release`, even if the [`Table`]
//!   it came from was dropped long before. The stream itself keeps the table's snapshot alive
//!   until it is released.
//! - A read error ends the stream: `get_next` returns an error code and `get_last_error` the
//!   message (file, column and byte, as Quiver's errors give them).
//! - Overflow-bag columns are decoded for each batch, so their buffers are new allocations
//!   (still not copied again by the export).
//! - [`export_query`] (with the `sql` feature) streams a DataFusion result the same way,
//!   polling the query on a runtime the stream owns a handle to, batch by batch as the consumer
//!   asks: a consumer that stops early and releases the stream cancels the query.
//!
//! [`Table`]: crate::Table

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::FFI_ArrowArrayStream;

use crate::arrow_bridge::Scan;

/// A [`Scan`] as an Arrow [`RecordBatchReader`].
#[derive(Debug)]
pub struct ScanReader {
    scan: Scan,
}

impl ScanReader {
    /// Wraps `scan`.
    pub fn new(scan: Scan) -> Self {
        Self { scan }
    }
}

impl Iterator for ScanReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.scan
            .next()
            .map(|batch| batch.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for ScanReader {
    fn schema(&self) -> SchemaRef {
        self.scan.schema()
    }
}

/// `scan` as an Arrow C stream (see the module contract).
pub fn export_scan(scan: Scan) -> FFI_ArrowArrayStream {
    FFI_ArrowArrayStream::new(Box::new(ScanReader::new(scan)))
}

/// A DataFusion result stream as a blocking [`RecordBatchReader`], driven on `runtime`.
#[cfg(feature = "sql")]
pub struct QueryReader {
    stream: datafusion::physical_plan::SendableRecordBatchStream,
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
}

#[cfg(feature = "sql")]
impl QueryReader {
    /// Reads `stream` by blocking on `runtime` (never call it from inside that runtime).
    pub fn new(
        stream: datafusion::physical_plan::SendableRecordBatchStream,
        runtime: std::sync::Arc<tokio::runtime::Runtime>,
    ) -> Self {
        Self { stream, runtime }
    }
}

#[cfg(feature = "sql")]
impl Iterator for QueryReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        use futures::StreamExt;
        self.runtime
            .block_on(self.stream.next())
            .map(|batch| batch.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

#[cfg(feature = "sql")]
impl RecordBatchReader for QueryReader {
    fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }
}

/// Runs one SQL query of `session` and exports its result as an Arrow C stream (see the
/// module contract). Plans on `runtime` (blocking); call it from outside that runtime.
#[cfg(feature = "sql")]
pub fn export_query(
    session: &crate::sql::QuiverSession,
    sql: &str,
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
) -> datafusion::error::Result<FFI_ArrowArrayStream> {
    let stream = runtime.block_on(async { session.sql(sql).await?.execute_stream().await })?;
    Ok(FFI_ArrowArrayStream::new(Box::new(QueryReader::new(
        stream, runtime,
    ))))
}
