//! [`TableWriter`]: the one build path. Every writer pushes Arrow batches through it.
//!
//! # Contract
//! - Batches are checked against the table schema (names, storage types, nullability), split
//!   into segments of at most [`WriteOptions::segment_rows`] rows (or about
//!   [`WriteOptions::segment_bytes`] bytes), and buffered in build buffers that spill to
//!   scratch files once [`WriteOptions::memory_budget`] is spent, so memory stays bounded
//!   whatever the input size.
//! - Nothing is visible to readers until [`TableWriter::commit`] publishes one new version with
//!   every segment: a write is atomic. A writer dropped (or failing) before commit deletes the
//!   segments it wrote and leaves the table at its previous version.
//! - Commit races: an *append* or *overwrite* that loses the race for version `v + 1` rebases
//!   onto the winner and retries (appends are commutative; an overwrite replaces whatever is
//!   newest), up to [`WriteOptions::commit_retries`] times. A *create* that loses fails with
//!   [`ErrorKind::TableExists`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};

use super::append::append_array;
use super::stats::StatsBuilder;
use super::types::{column_def, source_schema, table_schema};
use crate::error::{Error, ErrorKind, Result};
use crate::native::column_builder::{ColumnBuilder, WrittenColumn};
use crate::native::footer::{ColumnMeta, ColumnStats, SegmentFooter};
use crate::native::lock::FileLock;
use crate::native::manifest::{Manifest, SegmentEntry};
use crate::native::schema::{ColumnDef, ColumnType, TableSchema};
use crate::native::segment_writer::{SegmentWriter, WrittenSegment};
use crate::native::table_dir;

/// Tuning for a [`TableWriter`].
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Most rows per segment.
    pub segment_rows: usize,
    /// A segment is cut once its buffered bytes reach this.
    pub segment_bytes: usize,
    /// Heap bytes the column builders may hold before spilling to scratch files.
    pub memory_budget: usize,
    /// Rows per statistics zone.
    pub zone_rows: usize,
    /// How many times an append or overwrite rebases after losing a commit race.
    pub commit_retries: usize,
}

/// Default rows per statistics zone.
pub const DEFAULT_ZONE_ROWS: usize = 65_536;

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            segment_rows: 1 << 20,
            segment_bytes: 256 << 20,
            memory_budget: 128 << 20,
            zone_rows: DEFAULT_ZONE_ROWS,
            commit_retries: 16,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Append,
    Overwrite,
}

/// Writes batches into a table and commits them as one new version.
pub struct TableWriter {
    dir: PathBuf,
    mode: Mode,
    schema: SchemaRef,
    table_schema: TableSchema,
    options: WriteOptions,
    /// The version this writer builds on (none when creating).
    base: Option<Manifest>,
    current: Option<SegmentBuild>,
    written: Vec<WrittenSegment>,
    committed: bool,
    _lock: FileLock,
}

/// The segment being built.
struct SegmentBuild {
    columns: Vec<ColumnBuilder>,
    stats: Vec<StatsBuilder>,
    rows: usize,
}

/// Whether a batch column `a` can be written into a table column `b`: the same storage
/// (string and binary widths interchangeable, dictionaries as their values, lists of either
/// offset width), recursively for children.
fn same_storage(a: &ColumnDef, b: &ColumnDef) -> bool {
    use ColumnType::*;
    fn family(t: &ColumnType) -> ColumnType {
        match t {
            Utf8 | LargeUtf8 | Utf8View => Utf8,
            Binary | LargeBinary | BinaryView => Binary,
            List | LargeList => List,
            Dictionary(_, value) => family(value),
            other => other.clone(),
        }
    }
    family(&a.column_type) == family(&b.column_type)
        && a.children.len() == b.children.len()
        && a.children
            .iter()
            .zip(&b.children)
            .all(|(x, y)| same_storage(x, y))
}

/// The footer metadata of a written column (and its children).
fn column_meta(
    def: &ColumnDef,
    written: WrittenColumn,
    stats: ColumnStats,
    zones: Vec<ColumnStats>,
) -> ColumnMeta {
    let children = def
        .children
        .iter()
        .zip(written.children)
        .map(|(d, w)| {
            let stats = ColumnStats {
                null_count: w.null_count,
                ..Default::default()
            };
            column_meta(d, w, stats, Vec::new())
        })
        .collect();
    ColumnMeta {
        def: def.clone(),
        rows: written.rows,
        regions: written.regions,
        stats,
        zones,
        children,
    }
}

impl TableWriter {
    /// Starts a new table in `path` (created if missing) with `schema`. Fails if `path` already
    /// holds a table.
    pub fn create(path: impl AsRef<Path>, schema: SchemaRef) -> Result<Self> {
        Self::create_with(path, schema, WriteOptions::default())
    }

    /// [`Self::create`] with options.
    pub fn create_with(
        path: impl AsRef<Path>,
        schema: SchemaRef,
        options: WriteOptions,
    ) -> Result<Self> {
        let dir = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create directory", e))?;
        if let Some(&version) = table_dir::list_versions(&dir)?.last() {
            return Err(ErrorKind::TableExists { path: dir, version }.into());
        }
        Self::start(dir, Mode::Create, schema, None, options)
    }

    /// Appends to the table in `path`, whose schema the batches must match.
    pub fn append(path: impl AsRef<Path>) -> Result<Self> {
        Self::append_with(path, WriteOptions::default())
    }

    /// [`Self::append`] with options.
    pub fn append_with(path: impl AsRef<Path>, options: WriteOptions) -> Result<Self> {
        let dir = path.as_ref().to_path_buf();
        let base = table_dir::read_manifest(&dir, table_dir::latest_version(&dir)?)?;
        let schema = source_schema(&base.schema);
        Self::start(dir, Mode::Append, schema, Some(base), options)
    }

    /// Replaces the contents (and schema) of the table in `path` with what is written, as a new
    /// version; creates the table if there is none. Older versions stay readable until vacuumed.
    pub fn overwrite(path: impl AsRef<Path>, schema: SchemaRef) -> Result<Self> {
        Self::overwrite_with(path, schema, WriteOptions::default())
    }

    /// [`Self::overwrite`] with options.
    pub fn overwrite_with(
        path: impl AsRef<Path>,
        schema: SchemaRef,
        options: WriteOptions,
    ) -> Result<Self> {
        let dir = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create directory", e))?;
        let base = match table_dir::list_versions(&dir)?.last() {
            Some(&v) => Some(table_dir::read_manifest(&dir, v)?),
            None => None,
        };
        Self::start(dir, Mode::Overwrite, schema, base, options)
    }

    fn start(
        dir: PathBuf,
        mode: Mode,
        schema: SchemaRef,
        base: Option<Manifest>,
        options: WriteOptions,
    ) -> Result<Self> {
        if options.segment_rows == 0 {
            return Err(Error::invalid("segment_rows must be at least 1"));
        }
        let table_schema = table_schema(&schema)?;
        // Clean up after crashed writers if no other writer is live, then join as a writer.
        let lock = match FileLock::try_exclusive(&dir)? {
            Some(exclusive) => {
                table_dir::remove_leftovers(&dir, &exclusive, &mut Default::default())?;
                exclusive.downgrade()?
            }
            None => FileLock::shared(&dir)?,
        };
        Ok(Self {
            dir,
            mode,
            schema,
            table_schema,
            options,
            base,
            current: None,
            written: Vec::new(),
            committed: false,
            _lock: lock,
        })
    }

    /// The schema batches must have.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Rows written so far (not yet committed).
    pub fn rows_written(&self) -> u64 {
        self.written.iter().map(|s| s.row_count).sum::<u64>()
            + self.current.as_ref().map_or(0, |c| c.rows as u64)
    }

    fn check_batch(&self, batch: &RecordBatch) -> Result<()> {
        let fields = batch.schema_ref().fields();
        let columns = &self.table_schema.columns;
        if fields.len() != columns.len() {
            return Err(Error::schema_mismatch(
                &self.dir,
                format!(
                    "the batch has {} columns, the table has {}",
                    fields.len(),
                    columns.len()
                ),
            ));
        }
        for ((field, col), array) in fields.iter().zip(columns).zip(batch.columns()) {
            if field.name() != &col.name {
                return Err(Error::schema_mismatch(
                    &self.dir,
                    format!(
                        "batch column \"{}\" where the table has \"{}\"",
                        field.name(),
                        col.name
                    ),
                ));
            }
            let t = column_def(field)?;
            if !same_storage(&t, col) {
                return Err(Error::schema_mismatch(
                    &self.dir,
                    format!(
                        "column \"{}\" has type {} in the batch, {} in the table",
                        col.name,
                        field.data_type(),
                        super::types::source_field(col).data_type()
                    ),
                ));
            }
            if !col.nullable && array.logical_null_count() > 0 {
                return Err(Error::schema_mismatch(
                    &self.dir,
                    format!(
                        "column \"{}\" is not nullable but the batch has {} nulls in it",
                        col.name,
                        array.logical_null_count()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Buffers a batch. It becomes visible with the next [`Self::commit`].
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.check_batch(batch)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let build = self.current.get_or_insert_with(|| SegmentBuild {
                columns: self
                    .table_schema
                    .columns
                    .iter()
                    .map(ColumnBuilder::new)
                    .collect(),
                stats: self
                    .table_schema
                    .columns
                    .iter()
                    .map(|_| StatsBuilder::new(self.options.zone_rows))
                    .collect(),
                rows: 0,
            });
            let take = (self.options.segment_rows - build.rows).min(batch.num_rows() - offset);
            for (i, column) in batch.columns().iter().enumerate() {
                let mut piece = column.slice(offset, take);
                if let DataType::Dictionary(_, value) = piece.data_type() {
                    // Stored decoded: decode once for the values and the statistics.
                    piece = arrow::compute::cast(&piece, value)?;
                }
                append_array(
                    &mut build.columns[i],
                    &self.table_schema.columns[i],
                    piece.as_ref(),
                )?;
                build.stats[i].update(piece.as_ref())?;
            }
            build.rows += take;
            offset += take;
            let buffered: usize = build.columns.iter().map(|c| c.heap_bytes()).sum();
            if buffered > self.options.memory_budget {
                for c in &mut build.columns {
                    c.spill(&self.dir)?;
                }
            }
            if build.rows >= self.options.segment_rows
                || build
                    .columns
                    .iter()
                    .map(|c| c.buffered_bytes())
                    .sum::<usize>()
                    >= self.options.segment_bytes
            {
                self.finish_segment()?;
            }
        }
        Ok(())
    }

    /// Writes the segment being built, if it has rows.
    fn finish_segment(&mut self) -> Result<()> {
        let Some(build) = self.current.take() else {
            return Ok(());
        };
        if build.rows == 0 {
            return Ok(());
        }
        let name = table_dir::new_segment_name();
        let mut w = SegmentWriter::create(&self.dir, &name)?;
        let mut metas = Vec::with_capacity(build.columns.len());
        for ((column, stats), def) in build
            .columns
            .into_iter()
            .zip(build.stats)
            .zip(&self.table_schema.columns)
        {
            let written = column.write(&mut w)?;
            let (stats, zones) = stats.finish();
            debug_assert_eq!(stats.null_count, written.null_count);
            metas.push(column_meta(def, written, stats, zones));
        }
        let footer = SegmentFooter {
            row_count: build.rows as u64,
            zone_rows: self.options.zone_rows.max(1) as u64,
            columns: metas,
            metadata: self.table_schema.metadata.clone(),
        };
        self.written.push(w.finish(&footer)?);
        Ok(())
    }

    /// Writes any buffered rows and publishes one new version holding everything written.
    /// Returns the new version number. An append that wrote nothing publishes nothing and
    /// returns the version it would have built on.
    pub fn commit(mut self) -> Result<u64> {
        self.finish_segment()?;
        if self.mode == Mode::Append && self.written.is_empty() {
            self.committed = true;
            return Ok(self.base.as_ref().map_or(0, |b| b.version));
        }
        let new_segments: Vec<SegmentEntry> = self
            .written
            .iter()
            .map(|w| SegmentEntry {
                name: w.name.clone(),
                row_count: w.row_count,
                identity: w.identity,
            })
            .collect();
        let mut attempt = 0;
        loop {
            let base_version = self.base.as_ref().map(|b| b.version);
            let mut segments = match (&self.mode, &self.base) {
                (Mode::Append, Some(base)) => base.segments.clone(),
                _ => Vec::new(),
            };
            segments.extend(new_segments.iter().cloned());
            let manifest = Manifest {
                version: base_version.unwrap_or(0) + 1,
                parent: base_version,
                created_micros: table_dir::now_micros(),
                schema: self.table_schema.clone(),
                segments,
            };
            match table_dir::publish(&self.dir, &manifest) {
                Ok(()) => {
                    self.committed = true;
                    return Ok(manifest.version);
                }
                Err(e) if matches!(e.kind(), ErrorKind::CommitConflict { .. }) => {
                    if self.mode == Mode::Create {
                        return Err(ErrorKind::TableExists {
                            path: self.dir.clone(),
                            version: manifest.version,
                        }
                        .into());
                    }
                    if attempt >= self.options.commit_retries {
                        return Err(e);
                    }
                    attempt += 1;
                    let latest =
                        table_dir::read_manifest(&self.dir, table_dir::latest_version(&self.dir)?)?;
                    if self.mode == Mode::Append && latest.schema != self.table_schema {
                        return Err(Error::schema_mismatch(
                            &self.dir,
                            format!(
                                "version {} changed the table's schema while this append was running",
                                latest.version
                            ),
                        ));
                    }
                    self.base = Some(latest);
                }
                Err(e) => {
                    // The link may have succeeded before a later step (the directory fsync)
                    // failed: then the version is published and its segments must stay.
                    if let Ok(published) = table_dir::read_manifest(&self.dir, manifest.version) {
                        self.committed = published == manifest;
                    }
                    return Err(e);
                }
            }
        }
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if !self.committed {
            // Never published: the segments are garbage. Best effort; `vacuum` and the next
            // writer remove anything left.
            for w in &self.written {
                let _ = std::fs::remove_file(self.dir.join(&w.name));
            }
        }
    }
}
