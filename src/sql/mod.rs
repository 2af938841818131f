//! SQL over Quiver tables through DataFusion 55.
//!
//! - [`QuiverTableProvider`] (`provider.rs`): a table, snapshot per query, `INSERT INTO`.
//! - [`QuiverSource`] (`source.rs`): the scan — partitions, projection/limit pushdown, segment
//!   and zone pruning, dynamic filters.
//! - `pruning.rs`: statistics for pruning and for the optimizer.
//! - [`QuiverSink`] (`sink.rs`): one new version per `INSERT` statement.
//! - `catalog.rs`: database directories, `STORED AS QUIVER`, `quiver_version(dir, v)`.
//! - [`QuiverSession`] (`session.rs`): a session wiring it all, plus `CREATE TABLE AS` and
//!   multi-statement scripts.
//!
//! # Contract: when is a filter `Exact`?
//! Never, today: the scan prunes whole segments and zones by their statistics but does not
//! filter rows, so every pushed filter is reported `Inexact` and DataFusion keeps applying it.

mod catalog;
mod provider;
mod pruning;
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
