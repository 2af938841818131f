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
