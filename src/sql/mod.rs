//! SQL over Quiver tables through DataFusion 55.
//!
//! - [`QuiverTableProvider`] (`provider.rs`): a table, snapshot per query, `INSERT INTO`.
//! - [`QuiverSource`] (`source.rs`): the scan's planning — partitions, projection/limit
//!   pushdown, segment and zone pruning; `scan_units.rs` the zones it plans in and their split
//!   into partitions; `partition_scan.rs` one partition's stream, re-pruned on dynamic filters.
//! - `pruning.rs`: statistics for pruning and for the optimizer, and the pruning itself.
//! - [`QuiverSink`] (`sink.rs`): one new version per `INSERT` statement.
//! - `catalog.rs`: database directories, `STORED AS QUIVER`, `quiver_version(dir, v)`.
//! - [`QuiverSession`] (`session.rs`): a session wiring it all, plus `CREATE TABLE AS` and
//!   multi-statement scripts.
//!
//! # Contract: when is a filter `Exact`?
//! Never, today: the scan prunes whole segments and zones by their statistics but does not
//! filter rows, so every pushed filter is reported `Inexact` and DataFusion keeps applying it.

#![forbid(unsafe_code)]

mod catalog;
mod partition_scan;
mod provider;
mod pruning;
mod scan_units;
mod session;
mod sink;
mod source;

/// A Quiver error carried through DataFusion (callers can downcast it back).
pub(crate) fn external(e: crate::Error) -> datafusion::common::DataFusionError {
    datafusion::common::DataFusionError::External(Box::new(e))
}

pub use catalog::{QuiverSchemaProvider, QuiverTableFactory, VersionFunction};
pub use provider::{table_statistics, QuiverTableProvider};
pub use session::{is_ddl, QueryResult, QuiverSession};
pub use sink::QuiverSink;
pub use source::QuiverSource;
