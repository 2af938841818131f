//! Quiver scans in the shape Ballista can split into tasks: a `FileScanConfig` whose file
//! groups are the scan's partitions.
//!
//! Before it ships a stage, Ballista 55's scheduler restricts the stage's plan to each task's
//! partitions, re-indexing the scan's partitions — for the scans it knows only (file and
//! in-memory scans); any other scan is left whole and its tasks would read each other's rows.
//! So on the scheduler, [`SplittableScans`] (the last physical optimizer rule) wraps each
//! Quiver scan in a `FileScanConfig` over a [`QuiverFileSource`]: one file group per partition,
//! holding one placeholder file that carries the partition's index ([`QuiverPartition`]).
//! Ballista then restricts it by keeping the groups of the task's partitions, and the physical
//! codec ships exactly those partitions of the scan ([`restricted_scan`]).
//!
//! # Contract
//! - The wrapped plan gives the same rows as the scan itself (the source's opener runs the
//!   scan's own partition streams), with the same schema and partition count; run in one
//!   process, its partitions may share work as DataFusion's file scans do, so a partition's
//!   rows are those of the scan's partitions only once restricted to it (what Ballista does).
//! - [`restricted_scan`] is the scan restricted to the partitions still in the config's
//!   groups, in their order; `None` for any other plan.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::config::ConfigOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{
    FileGroup, FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use datafusion::datasource::source::{DataSource, DataSourceExec};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::TaskContext;
use datafusion::object_store::ObjectStore;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan, ExecutionPlanProperties};
use futures::{FutureExt, StreamExt};

use crate::sql::QuiverSource;

/// The partition of the wrapped scan a placeholder file stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuiverPartition(pub(crate) usize);

/// A `FileSource` whose "files" are partitions of one Quiver scan (see the module contract).
#[derive(Debug, Clone)]
pub struct QuiverFileSource {
    scan: Arc<QuiverSource>,
    table_schema: TableSchema,
    metrics: ExecutionPlanMetricsSet,
}

impl QuiverFileSource {
    fn new(scan: Arc<QuiverSource>, schema: arrow::datatypes::SchemaRef) -> Self {
        Self {
            scan,
            table_schema: TableSchema::from(schema),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

/// Opens partitions of the wrapped scan.
struct PartitionOpener {
    scan: Arc<QuiverSource>,
}

impl FileOpener for PartitionOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let QuiverPartition(partition) =
            *file.extensions.get::<QuiverPartition>().ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "{} is not a partition of a Quiver scan",
                    file.object_meta.location
                ))
            })?;
        // The scan's streams do not use the task context.
        let stream = self
            .scan
            .open(partition, Arc::new(TaskContext::default()))?;
        Ok(futures::future::ready(Ok(stream.boxed())).boxed())
    }
}

impl FileSource for QuiverFileSource {
    fn create_file_opener(
        &self,
        _object_store: Arc<dyn ObjectStore>,
        _base_config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        Ok(Arc::new(PartitionOpener {
            scan: Arc::clone(&self.scan),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, _batch_size: usize) -> Arc<dyn FileSource> {
        // The scan's batch size was fixed when it was planned.
        Arc::new(self.clone())
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "quiver"
    }

    fn supports_repartitioning(&self) -> bool {
        false
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, ", scan=[")?;
        self.scan.fmt_as(t, f)?;
        write!(f, "]")
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.scan.apply_expressions(f)
    }
}

/// The physical optimizer rule wrapping Quiver scans for Ballista (see the module contract).
#[derive(Debug, Default)]
pub struct SplittableScans;

impl PhysicalOptimizerRule for SplittableScans {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(scan) = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|exec| exec.data_source().downcast_ref::<QuiverSource>())
            else {
                return Ok(Transformed::no(node));
            };
            let partitions = node.output_partitioning().partition_count();
            let source = QuiverFileSource::new(Arc::new(scan.clone()), node.schema());
            let path = scan.table().path().display().to_string();
            let groups = (0..partitions)
                .map(|p| {
                    let file = PartitionedFile::new(format!("{path}#{p}"), 0)
                        .with_extension(QuiverPartition(p));
                    FileGroup::new(vec![file])
                })
                .collect();
            let config =
                FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                    .with_file_groups(groups)
                    .build();
            Ok(Transformed::yes(DataSourceExec::from_data_source(config)))
        })
        .data()
    }

    fn name(&self) -> &str {
        "quiver_splittable_scans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The Quiver scan a [`SplittableScans`]-wrapped config stands for, restricted to the
/// partitions left in its groups (see the module contract).
pub(crate) fn restricted_scan(source: &dyn DataSource) -> Option<Result<QuiverSource>> {
    let config = source.downcast_ref::<FileScanConfig>()?;
    let quiver = config.file_source().downcast_ref::<QuiverFileSource>()?;
    let partitions: Result<Vec<usize>> = config
        .file_groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|f| {
            f.extensions
                .get::<QuiverPartition>()
                .map(|p| p.0)
                .ok_or_else(|| {
                    DataFusionError::Internal(format!(
                        "{} is not a partition of a Quiver scan",
                        f.object_meta.location
                    ))
                })
        })
        .collect();
    Some(partitions.and_then(|p| quiver.scan.select_partitions(&p)))
}
