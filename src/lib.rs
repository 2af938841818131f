//! Quiver: an embedded, Arrow-native columnar store.
//!
//! Tables live on local disk as immutable, memory-mapped segment files. Reading a column hands
//! out Arrow arrays whose buffers point straight into the mapping — no decode, no copy — so a
//! table is "loaded" the moment it is opened. Columns may instead be stored encoded
//! (dictionary codes, packed integers, zstd blocks: [`WriteOptions::encoding`]), Parquet-sized
//! on disk and decoded once into the same arrays. The byte-level format is specified in
//! `docs/FORMAT.md`.
//!
//! # Map of the crate
//! The public API is what this page re-exports, plus the documented feature modules:
//! - [`Table`] (open a version, [`Table::scan`], [`Table::take`], time travel), [`Scan`] /
//!   [`ScanOptions`], [`TableWriter`] / [`WriteOptions`] (atomic commits), [`vacuum`];
//!   [`SegmentReader`], [`Placement`] and [`ColumnStats`] for what a segment holds;
//!   [`EncodingSpec`] / [`EncodingChoice`] for how columns are stored, and
//!   [`set_decoded_cache_bytes`] for the memory decoded columns may take.
//! - Row-level changes on immutable segments: [`Table::delete_rows`], [`merge`] by key,
//!   [`optimize`] (compaction), each one commit; SQL `DELETE`, `UPDATE` and `TRUNCATE` in
//!   [`sql`]. Deleted rows live in per-segment deletion vectors (docs/FORMAT.md).
//! - [`Error`] / [`ErrorKind`] / [`Location`]: the one error type; messages name the file,
//!   column, region and byte at fault.
//! - [`io`] (feature `io`): import and export of Parquet, Arrow IPC, CSV, NDJSON.
//! - [`sql`] (feature `sql`): DataFusion 55 over Quiver tables.
//! - `ffi` (feature `ffi`), `flight` (feature `flight`), `tpch` (feature `tpch`),
//!   `distributed` (feature `distributed`: Ballista codecs and processes).
//! - `format` (hidden from these docs): the on-disk format itself, for tools, fuzzing and
//!   corruption tests. Not a stable API: it changes with the format (docs/FORMAT.md).
//!
//! Inside, the modules depend on each other in one direction only:
//!
//! ```text
//! native ◄── overflow ◄── arrow_bridge ◄──┬── sql ◄── flight, distributed
//! (format,    (bag blobs,   (Arrow arrays, ├── io
//!  commits)    keys)         Table, writer) └── ffi
//! ```
//! - `native/`: segment files (header, 64-byte aligned regions, footer grammar and layout
//!   checks, trailer), column encodings (`encoding.rs`, `bitpack.rs`, `blocks.rs`, the choice
//!   in `encoding_choice.rs` and `column_encoder.rs`), manifests, file names, atomic publish,
//!   vacuum, locks, and the build buffers that spill to unnamed scratch files. Knows nothing
//!   of Arrow.
//! - `overflow/`: the overflow bag — sparse columns stored per row, only where present (blob
//!   encoding, key dictionary, per-key postings). Knows nothing of Arrow.
//! - `arrow_bridge/`: native <-> Arrow — zero-copy arrays over the mapping, decoded arrays of
//!   encoded columns and the process-wide caches (`segment_cache.rs`), the write path
//!   from `RecordBatch`es (routing sparse columns to the bag, schema merging), statistics, and
//!   the [`Table`] / [`TableWriter`] API. `sql`, `io`, `ffi` and `flight` reach storage only
//!   through it.
//! - The `quiver` command-line tool is the workspace crate `quiver-store-cli` (`cli/`), so
//!   that library users do not build clap, rustyline, indicatif, tonic or tpchgen.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, RecordBatch, StringArray, AsArray};
//! use arrow::datatypes::{DataType, Field, Schema, Int64Type};
//! use quiver_store::{Table, TableWriter};
//!
//! # fn main() -> quiver_store::Result<()> {
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
//! let scanned: Vec<_> = table.scan()?.collect::<quiver_store::Result<_>>()?;
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
//! - `ffi` (default): the Arrow C Stream interface for scans and query results (`ffi`).
//! - `flight`: the Arrow Flight SQL server (`flight`; `quiver serve` in the CLI crate).
//! - `tpch`: TPC-H data generated in-process (`tpch`), for the demo, benchmarks and tests.
//! - `distributed`: Quiver tables on an Apache DataFusion Ballista 55 cluster (`distributed`;
//!   `quiver cluster` in the CLI crate; docs/DISTRIBUTED.md). Compiles DataFusion once more.
//!
//! The storage core (`native`, `overflow`, `arrow_bridge`) builds and tests with
//! `--no-default-features`.
//!
//! # Platform support
//! Little-endian targets only: segment buffers are handed to Arrow as they lie on disk
//! (little-endian), which is only zero-copy when the host order matches.

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::clone_on_ref_ptr))]
#![allow(clippy::type_complexity)]

#[cfg(not(target_endian = "little"))]
compile_error!("Quiver maps little-endian segment files straight into Arrow arrays and supports only little-endian targets");

mod arrow_bridge;
#[cfg(feature = "distributed")]
pub mod distributed;
mod error;
#[cfg(feature = "ffi")]
pub mod ffi;
#[cfg(feature = "flight")]
pub mod flight;
#[cfg(feature = "io")]
pub mod io;
mod native;
mod options;
mod overflow;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(feature = "tpch")]
pub mod tpch;

pub use arrow_bridge::{
    decoded_cache_budget, decoded_cache_bytes, describe_versions, merge, optimize,
    set_decoded_cache_bytes, stats, ChangeReport, ColumnStats, MergeOptions, MergeReport,
    OptimizeOptions, OptimizeReport, Placement, Scan, ScanOptions, SegmentReader, Table,
    TableWriter, WriteOptions, DEFAULT_BAG_THRESHOLD, DEFAULT_BATCH_SIZE,
    DEFAULT_DECODED_CACHE_BYTES, DEFAULT_ZONE_ROWS,
};
pub use error::{Error, ErrorKind, Location, Result};
pub use native::encoding_choice::{EncodingChoice, EncodingSpec};
pub use native::vacuum::{vacuum, VacuumReport};

/// The on-disk format, low level: segment files, footers, manifests, the overflow bag.
///
/// For tools, fuzz targets and corruption tests that must build or inspect raw bytes. Not a
/// stable API: it follows the format (docs/FORMAT.md), not semantic versioning.
#[doc(hidden)]
pub mod format {
    pub use crate::native::{
        bitpack, deletion, delta, encoding, footer, manifest, schema, segment, ALIGNMENT,
        FORMAT_VERSION, HEADER_LEN, RAW_FORMAT_VERSION, SEGMENT_MAGIC, TRAILER_LEN, TRAILER_MAGIC,
    };
    pub use crate::overflow::{BlobWriter, Entries, Tag, Value};
}
