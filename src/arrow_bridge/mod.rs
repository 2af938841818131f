//! Native segments <-> Arrow: zero-copy arrays over the mapping, the batch-to-builder write
//! path, statistics, and the [`Table`] / [`TableWriter`] API built on them.
//!
//! # Contract
//! - Zero-copy: the values, offsets and validity buffers of fixed-width, boolean, string and
//!   binary columns that `scan` returns are slices of the segment mapping (`read.rs`).
//! - Decoded (copied): overflow-bag keys (`bag.rs`), columns stored as a narrower type than the
//!   table's after schema widening (`widen.rs`), and `take`'s gathered rows.

pub mod append;
pub mod bag;
pub mod read;
pub mod segment_build;
pub mod stats;
pub mod table;
pub mod types;
pub mod widen;
pub mod writer;

pub use read::{SegmentReader, Storage};
pub use table::{Scan, ScanOptions, Table, DEFAULT_BATCH_SIZE};
pub use writer::{TableWriter, WriteOptions, DEFAULT_BAG_THRESHOLD, DEFAULT_ZONE_ROWS};
