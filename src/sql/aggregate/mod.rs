//! Aggregates inside the scan: partial aggregation over the mapped columns of one Quiver table.
//!
//! - `rule.rs`: [`AggregatePushdown`], the physical optimizer rule that puts a
//!   [`QuiverAggregateExec`] where DataFusion planned a partial `AggregateExec` over a Quiver
//!   scan, and which shapes qualify.
//! - `spec.rs`: the aggregates computed (`COUNT`, `SUM`, `AVG`, `MIN`, `MAX`) and their partial
//!   states as DataFusion's final aggregate expects them.
//! - `program.rs`: arguments as integer programs, exact in 64 bits where statistics prove it,
//!   DataFusion's own evaluation elsewhere.
//! - `groups.rs`: group ids from one-byte codes or hashing; `accumulate.rs`: the per-group
//!   loops; `partition.rs`: one partition's zones, filtered inside the loop; `exec.rs`: the
//!   plan node.
//!
//! # Contract
//! With the rule on or off (`SET quiver.aggregate_pushdown = false`), a query returns the same
//! answer: integer and decimal results bit for bit (sums wrap exactly as DataFusion's do, and
//! arithmetic is done DataFusion's way wherever 64 bits are not proven exact, errors
//! included); `Float64` sums only where every partial sum is provably an exact integer; float
//! `MIN`/`MAX` and other floating-point aggregates are left to DataFusion.

mod accumulate;
mod exec;
mod groups;
mod partition;
mod program;
mod rule;
mod spec;

pub use exec::QuiverAggregateExec;
pub use rule::AggregatePushdown;
