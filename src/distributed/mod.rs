//! Scale-out: Quiver tables queried by an Apache DataFusion Ballista 55 cluster (feature
//! `distributed`; docs/DISTRIBUTED.md).
//!
//! A Ballista client plans a query into a logical plan and sends it to the scheduler, which
//! plans it physically, cuts it into stages and ships their tasks to executors. Quiver takes
//! part at both hand-overs:
//! - [`QuiverLogicalCodec`] (`logical_codec.rs`): a Quiver table in the client's logical plan,
//!   as its directory and the version pinned when the query was planned;
//! - [`QuiverPhysicalCodec`] (`physical_codec.rs`): the Quiver scan in the scheduler's stage
//!   plans, as that table version plus the planned scan's projection, filters, zones and
//!   partitions, rebuilt on the executor without planning again; [`physical_codec`] composes
//!   it with Ballista's own codec;
//! - [`SplittableScans`] (`splittable.rs`): on the scheduler, Quiver scans wrapped as file
//!   groups so Ballista can split them into tasks, one partition's zones each;
//! - `wire.rs`: their protobuf messages and framing;
//! - `cluster.rs`: the scheduler and executor processes with these codecs
//!   ([`run_scheduler`], [`run_executor`]) and the client's session state
//!   ([`cluster_state`]).
//!
//! # Contract
//! - Every node reads the table directory itself (a shared filesystem or a copy per node):
//!   the scheduler opens the table's metadata to plan, each executor maps the segments of the
//!   zones it scans. Nothing but plans and results goes over the network.
//! - The snapshot is the client's: the version pinned at planning is the one every node
//!   opens. A node that cannot open it fails with an error naming the node, path and version.
//! - Bytes from the network are untrusted: a malformed plan message is an error, never a panic.

#![forbid(unsafe_code)]

mod cluster;
mod logical_codec;
mod physical_codec;
mod splittable;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;

use datafusion::common::DataFusionError;

pub use cluster::{
    cluster_state, host_and_port, run_executor, run_scheduler, scheduler_url, ExecutorOptions,
    SchedulerOptions, MIN_EXECUTOR_TIMEOUT,
};
pub use logical_codec::QuiverLogicalCodec;
pub use physical_codec::{physical_codec, QuiverPhysicalCodec};
pub use splittable::{QuiverFileSource, SplittableScans};

/// The node a codec runs on, as its errors name it (e.g. `executor 10.0.0.2:50051`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeName(String);

impl NodeName {
    /// A node called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
}

impl Default for NodeName {
    fn default() -> Self {
        Self::new("this node")
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plan message `node` could not decode: `what` says why.
fn codec_error(node: &NodeName, what: &str) -> DataFusionError {
    DataFusionError::Plan(format!("{node}: bad Quiver plan message: {what}"))
}
