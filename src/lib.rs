//! Quiver: an embedded, Arrow-native columnar store.
//!
//! Tables live on local disk as immutable, memory-mapped segment files. Reading a column hands
//! out Arrow arrays whose buffers point straight into the mapping — no decode, no copy — so a
//! table is "loaded" the moment it is opened. The byte-level format is specified in
//! `docs/FORMAT.md`.
//!
//! # Map of the crate
//! - [`native`]: the on-disk format — segment files (header, 64-byte aligned regions, footer,
//!   trailer), manifests and atomic commits, vacuum, and the [`native::buffer::MmapOrVec`]
//!   build buffers that spill to scratch files. Knows nothing of Arrow.
//! - [`overflow`]: the overflow bag — sparse columns stored per row, only where present (blob
//!   encoding, key dictionary, per-key postings). Knows nothing of Arrow.
//! - [`arrow_bridge`]: native <-> Arrow — zero-copy arrays over the mapping, the write path
//!   from `RecordBatch`es (routing sparse columns to the bag, schema merging), statistics, and
//!   the [`Table`] / [`TableWriter`] API.
//! - [`Error`]: the one error type; messages name the file, column, region and byte at fault.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, RecordBatch, StringArray, AsArray};
//! use arrow::datatypes::{DataType, Field, Schema, Int64Type};
//! use quiver::{Table, TableWriter};
//!
//! # fn main() -> quiver::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("name", DataType::Utf8, true),
//! ]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![
//!     Arc::new(Int64Array::from(vec![1, 2, 3])),
//!     Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
//! ])?;
//!
//! let mut writer = TableWriter::create(dir.path(), schema)?;
//! writer.write(&batch)?;
//! assert_eq!(writer.commit()?, 1);
//!
//! let table = Table::open(dir.path())?;
//! assert_eq!(table.num_rows(), 3);
//! let scanned: Vec<_> = table.scan()?.collect::<quiver::Result<_>>()?;
//! let ids = scanned[0].column(0).as_primitive::<Int64Type>();
//! assert_eq!(ids.values(), &[1, 2, 3]);
//! // Strings come back as LargeUtf8, zero-copy over the segment's offsets region.
//! assert_eq!(scanned[0].column(1).as_string::<i64>().value(2), "c");
//! # Ok(())
//! # }
//! ```
//!
//! # Crate features
//! - `sql` (default): SQL over Quiver tables through DataFusion 55.
//! - `io` (default): import from and export to Parquet, Arrow IPC, CSV and NDJSON ([`io`]).
//! - `cli` (default): the `quiver` command-line tool (implies `sql`, `io`, `flight` and `tpch`).
//! - `ffi` (default): the Arrow C Stream interface for scans and query results (`ffi`).
//! - `flight` (default): the Arrow Flight SQL server (`flight`, `quiver serve`).
//! - `tpch`: TPC-H data generated in-process ([`tpch`]), for the demo, benchmarks and tests.
//!
//! The storage core (`native`, `overflow`, `arrow_bridge`) builds and tests with
//! `--no-default-features`.
//!
//! # Platform support
//! Little-endian targets only: segment buffers are handed to Arrow as they lie on disk
//! (little-endian), which is only zero-copy when the host order matches.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::clone_on_ref_ptr))]
#![allow(clippy::type_complexity)]

#[cfg(not(target_endian = "little"))]
compile_error!("Quiver maps little-endian segment files straight into Arrow arrays and supports only little-endian targets");

pub mod arrow_bridge;
#[cfg(feature = "cli")]
pub mod cli;
mod error;
#[cfg(feature = "ffi")]
pub mod ffi;
#[cfg(feature = "flight")]
pub mod flight;
#[cfg(feature = "io")]
pub mod io;
pub mod native;
pub mod overflow;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(feature = "tpch")]
pub mod tpch;

pub use arrow_bridge::{Scan, ScanOptions, Table, TableWriter, WriteOptions};
pub use error::{Error, ErrorKind, Result};
pub use native::table_dir::{vacuum, VacuumReport};
