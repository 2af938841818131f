//! SQL over Quiver tables through DataFusion 55.
//!
//! - [`QuiverTableProvider`] (`provider.rs`): a table, snapshot per query, `INSERT INTO`.
//! - [`QuiverSource`] (`source.rs`): the scan's planning — partitions, projection, filter and
//!   limit pushdown; `scan_planning.rs` the zones it reads, what it evaluates in each and its
//!   statistics; `scan_units.rs` those zones and their split into partitions;
//!   `partition_scan.rs` one partition's stream, re-pruned on dynamic filters, which
//!   `dynamic_rows.rs` also applies to rows while they pay; `ordering.rs`
//!   the key order of clustered tables, declared where it holds.
//! - Filtering: `exact_filters.rs` which filters the scan applies itself; `zone_proofs.rs`
//!   what zone statistics decide (skip, pass whole, evaluate); `row_filter.rs` evaluating the
//!   rest, conjunct by conjunct, on the rows still alive.
//! - `pruning.rs`: statistics for pruning and for the optimizer, and the pruning itself.
//! - `aggregate/`: partial aggregates computed inside the scan ([`AggregatePushdown`],
//!   [`QuiverAggregateExec`]); `options.rs`: the `SET quiver.*` settings ([`QuiverOptions`]).
//! - [`QuiverSink`] (`sink.rs`): one new version per `INSERT` statement.
//! - Row-level changes: `DELETE`, `UPDATE`, `TRUNCATE` through [`QuiverDmlExec`] (`dml.rs`),
//!   each one new version with deletion vectors; [`QuiverQueryPlanner`] (`dml_guard.rs`)
//!   lets a change reach a table only when its whole `WHERE` clause does.
//! - `catalog.rs`: database directories, `STORED AS QUIVER`, `quiver_version(dir, v)`.
//! - [`QuiverSession`] (`session.rs`): a session wiring it all, plus `CREATE TABLE AS` and
//!   multi-statement scripts.
//!
//! # Contract: when is a filter `Exact`?
//! When it is built only of columns, literals, comparisons, arithmetic, `AND`/`OR`/`NOT`,
//! `BETWEEN`, `IN` lists, `IS [NOT] NULL` (and `TRUE`/`FALSE`/`UNKNOWN`), `LIKE`/`ILIKE`/
//! `SIMILAR TO`, `CASE`, casts and non-volatile scalar functions (`exact_filters.rs`): the scan
//! then evaluates it with DataFusion's own physical expression, so answers (NULLs included)
//! are DataFusion's, and DataFusion plans no `FilterExec` for it. Other filters are `Inexact`.

#![forbid(unsafe_code)]

mod aggregate;
mod catalog;
mod dml;
mod dml_guard;
mod dynamic_rows;
mod exact_filters;
mod merge_into;
mod options;
mod ordering;
mod partition_scan;
mod provider;
mod pruning;
mod row_filter;
mod scan_planning;
mod scan_units;
mod session;
mod sink;
mod source;
mod true_rows;
mod zone_proofs;

/// Whether a column served as `t` is read from segments as a view (`Utf8View` /
/// `BinaryView`) rather than in its stored large form.
pub(crate) fn read_as_view(t: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::DataType;
    matches!(t, DataType::Utf8View | DataType::BinaryView)
}

/// A Quiver error carried through DataFusion (callers can downcast it back).
pub(crate) fn external(e: crate::Error) -> datafusion::common::DataFusionError {
    datafusion::common::DataFusionError::External(Box::new(e))
}

pub use aggregate::{AggregatePushdown, QuiverAggregateExec};
pub use catalog::{QuiverSchemaProvider, QuiverTableFactory, VersionFunction};
pub use dml::QuiverDmlExec;
pub use dml_guard::QuiverQueryPlanner;
pub use options::QuiverOptions;
pub use provider::QuiverTableProvider;
pub use scan_planning::table_statistics;
pub use session::{is_ddl, QueryResult, QuiverSession, SessionLimits};
pub use sink::QuiverSink;
pub use source::{QuiverSource, ScanRequest};
#[cfg(feature = "distributed")]
pub(crate) use source::{ShippedScan, ShippedUnit};
