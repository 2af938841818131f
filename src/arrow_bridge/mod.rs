//! Native segments <-> Arrow: zero-copy arrays over the mapping, the batch-to-builder write
//! path, statistics, and the [`Table`] / [`TableWriter`] API built on them.
//!
//! # Contract
//! - Zero-copy: the values, offsets and validity buffers of fixed-width, boolean, string and
//!   binary columns that `scan` returns are slices of the segment mapping (`column_arrays.rs`).
//! - Decoded (copied): overflow-bag keys (`bag_decode.rs`), encoded columns (dictionary codes,
//!   packed integers: `encoded_arrays.rs`, decoded once per open segment and column), columns
//!   stored as a narrower type than the table's after schema widening (`widen.rs`), and
//!   `take`'s gathered rows.
//!
//! # Files
//! - read: `segment_reader.rs` (a segment through its table's schema, with caches) over
//!   `placement.rs` (where each table column is in a segment), `column_arrays.rs` (the
//!   zero-copy arrays and their unsafe constructors), `encoded_arrays.rs` (arrays of encoded
//!   columns), `views.rs` (`Utf8View` forms), `owned_slices.rs` (slices whose buffers own only
//!   their rows' bytes, for memory accounting) and
//!   `distinct.rs` (distinct-value tables of low-cardinality columns), `segment_cache.rs` (those
//!   tables, and decoded encoded columns, shared by every open of a segment file in the
//!   process within a byte budget);
//!   `bag_decode.rs` for overflow keys; `visibility.rs` (a segment minus its deletion vector).
//! - write: `writer.rs` ([`TableWriter`]: segments, commits), `changes.rs` (row-level
//!   changes: deleting rows, merge by key, compaction), `sort_key.rs` (clustered
//!   writes: sorting and merging segments), `segment_build.rs` (one segment:
//!   dense/bag routing), `array_append.rs` (an Arrow array into a column builder),
//!   `bag_encode.rs` (sparse columns into the bag), `widen.rs` (schema merging).
//! - shared: `types.rs` (Arrow types <-> stored column types), `stats.rs` (min/max/null
//!   counts), `table.rs` ([`Table`], [`Scan`], `take`).

mod array_append;
mod bag_decode;
mod bag_encode;
mod changes;
mod column_arrays;
mod distinct;
mod encoded_arrays;
mod owned_slices;
mod placement;
mod segment_build;
mod segment_cache;
mod segment_reader;
mod sort_key;
pub mod stats;
mod table;
pub(crate) mod types;
mod views;
pub(crate) mod visibility;
mod widen;
mod writer;

pub use crate::native::footer::ColumnStats;
#[cfg(feature = "sql")]
pub use crate::native::packed_predicate::Comparison;
pub use crate::native::table_dir::describe_versions;
#[cfg(feature = "sql")]
pub(crate) use changes::commit_change;
pub use changes::{
    merge, optimize, ChangeReport, MergeOptions, MergeReport, OptimizeOptions, OptimizeReport,
};
#[cfg(feature = "sql")]
pub use distinct::DistinctValues;
pub use placement::Placement;
pub use segment_cache::{
    decoded_cache_budget, decoded_cache_bytes, set_decoded_cache_bytes, DEFAULT_DECODED_CACHE_BYTES,
};
pub use segment_reader::SegmentReader;
pub use table::{Scan, ScanOptions, Table, DEFAULT_BATCH_SIZE};
pub use writer::{TableWriter, WriteOptions, DEFAULT_BAG_THRESHOLD, DEFAULT_ZONE_ROWS};
