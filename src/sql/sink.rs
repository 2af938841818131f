//! [`QuiverSink`]: `INSERT INTO` a Quiver table — one new version per statement.
//!
//! # Contract
//! - Every batch of the statement goes through one [`crate::TableWriter`]; the version is
//!   published when the input ends, so a failing statement publishes nothing.
//! - Concurrent inserts into one table each land in their own version (appends rebase).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::sink::DataSink;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;

use super::external;
use crate::{Table, TableWriter};

/// Writes a statement's rows into a Quiver table.
#[derive(Debug)]
pub struct QuiverSink {
    dir: PathBuf,
    schema: SchemaRef,
    overwrite: bool,
}

impl QuiverSink {
    /// A sink appending to (or, with `overwrite`, replacing) the table in `dir`.
    pub fn new(dir: PathBuf, schema: SchemaRef, overwrite: bool) -> Self {
        Self {
            dir,
            schema,
            overwrite,
        }
    }
}

impl DisplayAs for QuiverSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "QuiverSink: table={}, mode={}",
            self.dir.display(),
            if self.overwrite {
                "overwrite"
            } else {
                "append"
            }
        )
    }
}

#[async_trait]
impl DataSink for QuiverSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let mut writer = if self.overwrite {
            let source = Table::open(&self.dir).map_err(external)?.source_schema();
            TableWriter::overwrite(&self.dir, source)
        } else {
            TableWriter::append(&self.dir)
        }
        .map_err(external)?;
        let source_schema = writer.schema();
        while let Some(batch) = data.next().await {
            let batch = batch?;
            if batch.num_columns() != source_schema.fields().len() {
                return Err(DataFusionError::Plan(format!(
                    "INSERT gives {} columns, table {} has {}",
                    batch.num_columns(),
                    self.dir.display(),
                    source_schema.fields().len()
                )));
            }
            // The plan's column names are the table's; adopt the table's schema (names,
            // metadata) while keeping the batch's arrays.
            let batch = arrow::array::RecordBatch::try_new(
                Arc::new(arrow::datatypes::Schema::new(
                    source_schema
                        .fields()
                        .iter()
                        .zip(batch.schema().fields())
                        .map(|(t, b)| {
                            arrow::datatypes::Field::new(t.name(), b.data_type().clone(), true)
                        })
                        .collect::<Vec<_>>(),
                )),
                batch.columns().to_vec(),
            )?;
            writer.write(&batch).map_err(external)?;
        }
        let rows = writer.rows_written();
        writer.commit().map_err(external)?;
        Ok(rows)
    }
}
