//! [`QuiverPhysicalCodec`]: Quiver scans in the physical plans the Ballista scheduler ships to
//! executors.
//!
//! # Contract
//! - A `DataSourceExec` over a [`QuiverSource`] — or over the file groups standing for some
//!   of its partitions (`splittable.rs`), as Ballista restricts a stage to one task's
//!   partitions: then just those partitions — is encoded as its table (directory, version,
//!   view setting) and the planned scan's parts (`sql/source/shipped.rs`): projection, the
//!   exact filter's conjuncts in evaluation order and the pruning predicate (as DataFusion's
//!   protobuf physical expressions), the zones left after planning with what each still
//!   evaluates, their partitions, the limit and the batch size. Other plans are not this
//!   codec's: [`physical_codec`] composes it with Ballista's own codec, which takes them.
//! - Decoding opens that version of the table on the executor and rebuilds exactly that scan
//!   (no planning again). A table that cannot be opened fails the task with an error naming
//!   the executor, path and version; malformed or inconsistent bytes (a zone or column that
//!   is not in the table, a cut message) are an error, never a panic.

use std::ops::Range;
use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{
    ComposedPhysicalExtensionCodec, PhysicalExtensionCodec, PhysicalPlanDecodeContext,
    PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf::PhysicalExprNode;
use prost::Message;

use super::logical_codec::open_table;
use super::splittable::restricted_scan;
use super::wire::{framed, unframe, ScanNode, TableNode, Unframed, UnitNode};
use super::{codec_error, NodeName};
use crate::sql::{QuiverSource, ShippedScan, ShippedUnit};

/// Encodes and decodes Quiver scans (see the module contract).
#[derive(Debug, Default)]
pub struct QuiverPhysicalCodec {
    node: NodeName,
}

impl QuiverPhysicalCodec {
    /// The codec of the node `node` names in its errors (e.g. `"executor 10.0.0.2:50051"`).
    pub fn new(node: NodeName) -> Self {
        Self { node }
    }
}

/// Quiver's physical codec composed with Ballista's (Quiver's first: a codec's position is
/// part of the encoding, so every node of a cluster must use this same composition).
pub fn physical_codec(node: NodeName) -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(ComposedPhysicalExtensionCodec::new(vec![
        Arc::new(QuiverPhysicalCodec::new(node)),
        Arc::new(BallistaPhysicalExtensionCodec::default()),
    ]))
}

impl PhysicalExtensionCodec for QuiverPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let fail = |what: &str| codec_error(&self.node, what);
        let bytes = match unframe(buf).map_err(|e| fail(&e))? {
            Unframed::Ours(bytes) => bytes,
            Unframed::NotOurs => return Err(fail("not a Quiver scan")),
        };
        if !inputs.is_empty() {
            return Err(fail("a Quiver scan has no inputs"));
        }
        let node = ScanNode::decode(bytes).map_err(|e| fail(&format!("Quiver scan: {e}")))?;
        let table_node = node
            .table
            .as_ref()
            .ok_or_else(|| fail("Quiver scan names no table"))?;
        let provider = open_table(table_node, &self.node)?;
        let table = provider.snapshot()?;
        let schema = provider.schema();
        let decode_ctx = PhysicalPlanDecodeContext::new(ctx, self);
        let expr =
            |e: &PhysicalExprNode| proto_converter.proto_to_physical_expr(e, &schema, &decode_ctx);
        let parts = ShippedScan {
            projection: node
                .projection
                .iter()
                .map(|&c| index(c, "column"))
                .collect::<Result<_>>()?,
            filters: node.filters.iter().map(expr).collect::<Result<_>>()?,
            pruning: node.pruning.as_ref().map(expr).transpose()?,
            units: node.units.iter().map(shipped_unit).collect(),
            partitions: partitions(&node.partition_ends)?,
            fetch: node.fetch.map(|f| index(f, "limit")).transpose()?,
            batch_size: index(node.batch_size, "batch size")?,
            total_zones: index(node.total_zones, "zone count")?,
        };
        let source = QuiverSource::from_shipped(table, schema, parts)?;
        Ok(DataSourceExec::from_data_source(source))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let not_ours = || {
            DataFusionError::NotImplemented(format!(
                "the Quiver codec encodes Quiver scans only, not {}",
                node.name()
            ))
        };
        let data_source = node
            .downcast_ref::<DataSourceExec>()
            .map(|exec| exec.data_source())
            .ok_or_else(not_ours)?;
        let restricted;
        let source = match data_source.downcast_ref::<QuiverSource>() {
            Some(source) => source,
            None => {
                restricted = restricted_scan(data_source.as_ref()).ok_or_else(not_ours)??;
                &restricted
            }
        };
        let table = source.table();
        let string_view = source.table_schema().as_ref() != table.schema().as_ref();
        let parts = source.shipped();
        let expr = |e: &Arc<dyn PhysicalExpr>| proto_converter.physical_expr_to_proto(e, self);
        let message = ScanNode {
            table: Some(TableNode::new(table.path(), table.version(), string_view)?),
            projection: parts.projection.iter().map(|&c| c as u64).collect(),
            filters: parts.filters.iter().map(expr).collect::<Result<_>>()?,
            pruning: parts.pruning.as_ref().map(expr).transpose()?,
            units: parts.units.iter().map(unit_node).collect(),
            partition_ends: parts.partitions.iter().map(|r| r.end as u64).collect(),
            fetch: parts.fetch.map(|f| f as u64),
            batch_size: parts.batch_size as u64,
            total_zones: parts.total_zones as u64,
        };
        framed(&message, buf);
        Ok(())
    }
}

/// `n` as an index or count, refused when it does not fit this machine's `usize`.
fn index(n: u64, what: &str) -> Result<usize> {
    usize::try_from(n)
        .map_err(|_| DataFusionError::Plan(format!("Quiver scan: {what} {n} is out of range")))
}

/// Partition ranges from their ends (each starts where the previous one ended).
fn partitions(ends: &[u64]) -> Result<Vec<Range<usize>>> {
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let end = index(end, "partition end")?;
            let range = start..end;
            start = end;
            Ok(range)
        })
        .collect()
}

fn unit_node(u: &ShippedUnit) -> UnitNode {
    UnitNode {
        segment: u.segment,
        zone: u.zone,
        start: u.start,
        end: u.end,
        pending: u.pending,
    }
}

fn shipped_unit(u: &UnitNode) -> ShippedUnit {
    ShippedUnit {
        segment: u.segment,
        zone: u.zone,
        start: u.start,
        end: u.end,
        pending: u.pending,
    }
}
