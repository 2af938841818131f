//! [`QuiverLogicalCodec`]: Quiver tables in the logical plans a Ballista client sends to the
//! scheduler.
//!
//! # Contract
//! - A [`QuiverTableProvider`] is encoded as its directory, whether it serves strings as
//!   views, and the version of the snapshot a query planned now reads — the version is pinned
//!   at encoding, which is when the client plans the query, so every node reads that snapshot
//!   whatever commits meanwhile.
//! - Decoding opens that version of that directory (read-only, as a pinned provider) and
//!   checks that it serves the schema the plan was written against. A table that cannot be
//!   opened (missing path, vacuumed version) or serves another schema is an error naming the
//!   node, path and version; malformed bytes are an error, never a panic.
//! - Everything else (Ballista's own nodes, file formats, functions) is Ballista's
//!   [`BallistaLogicalExtensionCodec`]'s: this codec wraps it, it does not replace it.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use prost::Message;

use super::wire::{framed, unframe, TableNode, Unframed};
use super::{codec_error, NodeName};
use crate::sql::QuiverTableProvider;

/// Ballista's logical codec, taught Quiver tables (see the module contract).
#[derive(Debug)]
pub struct QuiverLogicalCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
    node: NodeName,
}

impl Default for QuiverLogicalCodec {
    fn default() -> Self {
        Self::new(NodeName::default())
    }
}

impl QuiverLogicalCodec {
    /// The codec of the node `node` names in its errors (e.g. `"scheduler 10.0.0.1:50050"`).
    pub fn new(node: NodeName) -> Self {
        Self {
            inner: Arc::new(BallistaLogicalExtensionCodec::default()),
            node,
        }
    }
}

/// The wire form of `provider`: its directory, view setting and current snapshot's version.
fn table_node(provider: &QuiverTableProvider) -> Result<TableNode> {
    TableNode::new(
        provider.path(),
        provider.snapshot()?.version(),
        provider.string_view(),
    )
}

/// The pinned provider `node` names, opened on `this` node.
pub(super) fn open_table(node: &TableNode, this: &NodeName) -> Result<QuiverTableProvider> {
    QuiverTableProvider::try_new_at_version(&node.path, node.version)
        .map(|p| p.with_string_view(node.string_view))
        .map_err(|e| {
            DataFusionError::Execution(format!(
                "{this} cannot open table {} at version {}: {e}",
                node.path, node.version
            ))
        })
}

impl LogicalExtensionCodec for QuiverLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let bytes = match unframe(buf).map_err(|e| codec_error(&self.node, &e))? {
            Unframed::Ours(bytes) => bytes,
            Unframed::NotOurs => {
                return self
                    .inner
                    .try_decode_table_provider(buf, table_ref, schema, ctx)
            }
        };
        let node = TableNode::decode(bytes)
            .map_err(|e| codec_error(&self.node, &format!("table {table_ref}: {e}")))?;
        let provider = open_table(&node, &self.node)?;
        if provider.schema().fields() != schema.fields() {
            return Err(DataFusionError::Plan(format!(
                "{}: table {} at version {} serves schema {:?}, the plan was written against {:?}",
                self.node,
                node.path,
                node.version,
                provider.schema(),
                schema
            )));
        }
        Ok(Arc::new(provider))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<QuiverTableProvider>() {
            Some(provider) => {
                framed(&table_node(provider)?, buf);
                Ok(())
            }
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}
