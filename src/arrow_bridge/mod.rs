//! Native segments <-> Arrow: zero-copy arrays over the mapping, the batch-to-builder write
//! path, statistics, and the [`Table`] / [`TableWriter`] API built on them.
//!
//! # Contract
//! - Zero-copy: the values, offsets and validity buffers of fixed-width, boolean, string and
//!   binary columns that `scan` returns are slices of the segment mapping (`read.rs`).
//! - Decoded (copied): nothing on the scan path; `take` gathers rows into new arrays.

pub mod append;
pub mod read;
pub mod stats;
pub mod table;
pub mod types;
pub mod writer;

pub use read::SegmentReader;
pub use table::{Scan, ScanOptions, Table, DEFAULT_BATCH_SIZE};
pub use writer::{TableWriter, WriteOptions, DEFAULT_ZONE_ROWS};
