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
//! - Columns are routed per segment: dense, or — nullable, sparse ones, under
//!   [`WriteOptions::bag_threshold`] — the overflow bag (`segment_build.rs`). With
//!   [`WriteOptions::merge_schema`], appends may add and widen columns (`widen.rs`); old
//!   segments are never rewritten.
//! - Commit races: an *append* or *overwrite* that loses the race for version `v + 1` rebases
//!   onto the winner and retries (appends are commutative; an overwrite replaces whatever is
//!   newest), up to [`WriteOptions::commit_retries`] times. A *create* that loses fails with
//!   [`ErrorKind::TableExists`].
//! - Row-level changes (`changes.rs`: DELETE, UPDATE, MERGE, optimize) are a writer built on
//!   one opened version (`TableWriter::change`): new deletion vectors for some of its
//!   segments, segments replaced by the rows written (compaction), and rows appended — one
//!   commit. Losing the race rebases only if the winner left every segment this change touches
//!   as it found it; otherwise the commit fails with [`ErrorKind::ChangeConflict`] naming the
//!   segment, and nothing is published — never a lost write.
//! - Automatic compaction ([`WriteOptions::auto_optimize`], a table setting): once a commit
//!   has published, if the new version holds at least that many small segments (fewer than
//!   half of [`WriteOptions::segment_rows`] visible rows), the committing writer runs one
//!   bounded [`optimize`](crate::optimize) (at most `2 x segment_rows` rows rewritten, memory
//!   as for any write) before `commit` returns. Its failure (a conflict, a full disk) does not
//!   fail the commit, which is already published: the small segments wait for the next one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};

use arrow::array::{new_null_array, ArrayRef};

mod row_changes;

use super::bag_encode as bag;
use super::segment_build::SegmentBuild;
use super::segment_reader::SegmentReader;
use super::sort_key::{merge, SortKey};
use super::types::{column_def, source_field, source_schema, table_schema};
use super::widen::{same_storage, widen};
use crate::error::{Error, ErrorKind, Result};
use crate::native::deletion::DeletedRows;
use crate::native::encoding_choice::EncodingSpec;
use crate::native::footer::SegmentFooter;
use crate::native::lock::FileLock;
use crate::native::manifest::{
    Manifest, SegmentEntry, AUTO_OPTIMIZE_PROPERTY, BAG_THRESHOLD_PROPERTY, ENCODING_PROPERTY,
};
use crate::native::schema::{too_many_columns, ColumnDef, TableSchema, MAX_COLUMNS};
use crate::native::segment::SegmentFile;
use crate::native::segment_writer::{SegmentWriter, WrittenSegment};
use crate::native::sort_key_pairs;
use crate::native::writer_marks::WriterMark;
use crate::native::{names, table_dir, vacuum};

/// Tuning for a [`TableWriter`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Most rows per segment.
    pub segment_rows: usize,
    /// A segment is cut once its buffered bytes reach this.
    pub segment_bytes: usize,
    /// Heap bytes the column builders may hold: past it they spill to scratch files (or, for
    /// builds too wide to spill or sparse values, which cannot, the segment is cut). Importers
    /// (`io::import`) decode inputs in batches of at most a quarter of it. Default 128 MiB.
    pub memory_budget: usize,
    /// Rows per statistics zone.
    pub zone_rows: usize,
    /// How many times an append or overwrite rebases after losing a commit race.
    pub commit_retries: usize,
    /// Fill rate under which a nullable column goes to a segment's overflow bag instead of
    /// a dense column (0 disables the bag). `None`: the table's setting, or
    /// [`DEFAULT_BAG_THRESHOLD`] for a new table. A value given here becomes the table's
    /// setting for later writes.
    pub bag_threshold: Option<f64>,
    /// Appends may bring new columns (added as nullable; older rows read as null), leave out
    /// nullable columns (written as nulls), and widen a column's type (docs/FORMAT.md, "Schema
    /// evolution"). Off: batches must match the table schema exactly.
    pub merge_schema: bool,
    /// Writes rows in the order of these columns (ascending, NULLs last): each segment's rows
    /// are sorted, and at commit the segments of one write are merged into one ordered run
    /// (`sort_key.rs`; the merge rewrites them once, so it needs their size again in free
    /// disk space). `None`: the table's sort key, if it has one. A key given here becomes the
    /// table's sort key for later writes.
    pub sort_by: Option<Vec<String>>,
    /// Automatic compaction: after a commit, when the table has at least this many small
    /// segments, the committing writer compacts them (module contract). `0` turns it off.
    /// `None`: the table's setting (off for a new table). A value given here becomes the
    /// table's setting for later writes.
    pub auto_optimize: Option<usize>,
    /// How columns are stored: the raw zero-copy layout, or encoded (dictionary codes, packed
    /// integers) per column (docs/FORMAT.md, "Encoded columns"). `None`: the table's setting
    /// (raw for a new table). A value given here becomes the table's setting for later writes.
    pub encoding: Option<EncodingSpec>,
}

/// Default overflow-bag fill-rate threshold: 5%, as in the engine the layout comes from.
pub const DEFAULT_BAG_THRESHOLD: f64 = 0.05;

/// Most scratch files a segment build spills to (one per dense buffer: up to three per
/// column). Wider builds are cut into segments at the memory budget instead, so a wide import
/// never runs into the process's open-file limit (often 1,024) or the kernel's mapping limit.
const MAX_SCRATCH_FILES: usize = 1_000;

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
            bag_threshold: None,
            merge_schema: false,
            sort_by: None,
            auto_optimize: None,
            encoding: None,
        }
    }
}

crate::options::with_setters!(WriteOptions {
    /// Sets [`Self::segment_rows`]: most rows per segment.
    with_segment_rows => segment_rows: usize,
    /// Sets [`Self::segment_bytes`]: a segment is cut once its buffered bytes reach this.
    with_segment_bytes => segment_bytes: usize,
    /// Sets [`Self::memory_budget`]: heap bytes the column builders may hold before they
    /// spill to scratch files.
    with_memory_budget => memory_budget: usize,
    /// Sets [`Self::zone_rows`]: rows per statistics zone.
    with_zone_rows => zone_rows: usize,
    /// Sets [`Self::commit_retries`]: how many times an append or overwrite rebases after
    /// losing a commit race.
    with_commit_retries => commit_retries: usize,
    /// Sets [`Self::bag_threshold`]: the fill rate under which a nullable column goes to a
    /// segment's overflow bag (0 disables the bag).
    with_bag_threshold => bag_threshold: f64 as Some,
    /// Sets [`Self::merge_schema`]: whether appends may add, leave out and widen columns.
    with_merge_schema => merge_schema: bool,
    /// Sets [`Self::sort_by`]: the columns rows are written in the order of.
    with_sort_by => sort_by: Vec<String> as Some,
    /// Sets [`Self::auto_optimize`]: compact once the table has this many small segments
    /// (0: never).
    with_auto_optimize => auto_optimize: usize as Some,
    /// Sets [`Self::encoding`]: how each column is stored.
    with_encoding => encoding: EncodingSpec as Some,
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Append,
    Overwrite,
    /// Row-level changes to the base version (see the module contract).
    Change,
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
    /// The schema of the version this writer started from (appends), to detect a concurrent
    /// schema change when rebasing.
    started_schema: Option<TableSchema>,
    /// The bag threshold in force.
    threshold: f64,
    /// The column encodings in force.
    encoding: EncodingSpec,
    current: Option<SegmentBuild>,
    written: Vec<WrittenSegment>,
    /// The sort key rows are written in, if any.
    sort_key: Option<SortKey>,
    /// Rows waiting to be sorted into a segment (sorted writes): columns as for
    /// `feed`, and their row count.
    unsorted: Vec<(Vec<Option<ArrayRef>>, usize)>,
    /// Sorted segments merged away at commit: never published, always deleted.
    merged_runs: Vec<WrittenSegment>,
    /// Row-level changes: each touched segment's deleted rows after the change (by name).
    deletions: Vec<(String, Arc<DeletedRows>)>,
    /// Row-level changes (compaction): groups of segments (by name) and the range of
    /// `written` that replaces each, in the place of the group's first segment.
    groups: Vec<(Vec<String>, std::ops::Range<usize>)>,
    /// The group being written, and where in `written` its segments start.
    open_group: Option<(Vec<String>, usize)>,
    /// Deletion-vector files written for the commit; removed unless it publishes.
    written_deletions: Vec<String>,
    /// Whether `commit` may compact afterwards (not for compaction's own writer).
    may_auto_optimize: bool,
    committed: bool,
    /// Present from before the first file is written until all are published or removed.
    mark: WriterMark,
    _lock: FileLock,
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
        let base = table_dir::read_latest_manifest(&dir)?;
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
        let base = if table_dir::list_versions(&dir)?.is_empty() {
            None
        } else {
            Some(table_dir::read_latest_manifest(&dir)?)
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
        let table_property = base.as_ref().and_then(|b| {
            b.properties
                .iter()
                .find(|(k, _)| k == BAG_THRESHOLD_PROPERTY)
                .and_then(|(_, v)| v.parse::<f64>().ok())
        });
        let threshold = options
            .bag_threshold
            .or(table_property)
            .unwrap_or(DEFAULT_BAG_THRESHOLD);
        if !(0.0..=1.0).contains(&threshold) {
            return Err(Error::invalid(format!(
                "the bag threshold must be a fill rate between 0 and 1, not {threshold}"
            )));
        }
        let encoding = match (&options.encoding, &base) {
            (Some(spec), _) => spec.clone(),
            (None, Some(b)) => match b.properties.iter().find(|(k, _)| k == ENCODING_PROPERTY) {
                Some((_, text)) => EncodingSpec::parse(text).map_err(|e| {
                    Error::invalid(format!(
                        "the table's {ENCODING_PROPERTY} property in {}: {e}",
                        dir.display()
                    ))
                })?,
                None => EncodingSpec::default(),
            },
            (None, None) => EncodingSpec::default(),
        };
        let table_schema = match (&base, mode) {
            (Some(b), Mode::Append | Mode::Change) => b.schema.clone(),
            _ => table_schema(&schema)?,
        };
        let sort_key = match &options.sort_by {
            Some(names) => Some(SortKey::resolve(names, &table_schema)?),
            None => match base
                .as_ref()
                .and_then(|b| sort_key_pairs::names_in(&b.properties))
            {
                // An overwrite with a new schema keeps the table's key only if it still fits.
                Some(names) if mode == Mode::Overwrite => {
                    SortKey::resolve(&names, &table_schema).ok()
                }
                Some(names) => Some(SortKey::resolve(&names, &table_schema)?),
                None => None,
            },
        };
        // Clean up after crashed writers if no other writer is live, then join as a writer.
        let lock = match FileLock::try_exclusive(&dir)? {
            Some(exclusive) => {
                vacuum::remove_crashed_writers_leftovers(
                    &dir,
                    &exclusive,
                    &mut Default::default(),
                )?;
                // Not atomic (nor is `flock`'s conversion): a vacuum slipping in between finds
                // nothing of this writer's to delete yet.
                drop(exclusive);
                FileLock::shared(&dir)?
            }
            None => FileLock::shared(&dir)?,
        };
        let mark = WriterMark::create(&dir)?;
        Ok(Self {
            started_schema: matches!(mode, Mode::Append | Mode::Change)
                .then(|| table_schema.clone()),
            dir,
            mode,
            schema,
            table_schema,
            options,
            base,
            threshold,
            encoding,
            current: None,
            written: Vec::new(),
            sort_key,
            unsorted: Vec::new(),
            merged_runs: Vec::new(),
            deletions: Vec::new(),
            groups: Vec::new(),
            open_group: None,
            written_deletions: Vec::new(),
            may_auto_optimize: true,
            committed: false,
            mark,
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
            + self.current.as_ref().map_or(0, |c| c.rows() as u64)
    }

    /// Segments written so far (not yet committed).
    pub(crate) fn segments_written(&self) -> usize {
        self.written.len()
    }

    /// Checks a batch against the table schema exactly (no schema merging): the same column
    /// names in the same order, storage types and nullability.
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
        for (field, col) in fields.iter().zip(columns) {
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
                return Err(self.type_mismatch(col, field.data_type()));
            }
        }
        Ok(())
    }

    fn type_mismatch(&self, col: &ColumnDef, batch_type: &DataType) -> Error {
        Error::schema_mismatch(
            &self.dir,
            format!(
                "column \"{}\" has type {batch_type} in the batch, {} in the table",
                col.name,
                super::types::source_field(col).data_type()
            ),
        )
    }

    /// Merges a batch's schema into the table's (see [`WriteOptions::merge_schema`]): adds
    /// new columns, widens types. Returns whether the table schema changed.
    fn merge_batch_schema(&mut self, batch: &RecordBatch) -> Result<bool> {
        let mut changed = false;
        for field in batch.schema_ref().fields() {
            let def = column_def(field)?;
            let matches: Vec<usize> = (0..self.table_schema.columns.len())
                .filter(|&i| self.table_schema.columns[i].name == def.name)
                .collect();
            match matches[..] {
                [] => {
                    let count = self.table_schema.columns.len() + 1;
                    if count > MAX_COLUMNS {
                        return Err(Error::schema_mismatch(
                            &self.dir,
                            format!(
                                "merging the batch's columns gives {}",
                                too_many_columns(count)
                            ),
                        ));
                    }
                    self.table_schema.columns.push(ColumnDef {
                        nullable: true,
                        ..def
                    });
                    changed = true;
                }
                [i] => {
                    let col = &self.table_schema.columns[i];
                    if same_storage(&def, col) {
                        continue;
                    }
                    let wide = (col.children.is_empty() && def.children.is_empty())
                        .then(|| widen(&col.column_type, &def.column_type))
                        .flatten()
                        .ok_or_else(|| self.type_mismatch(col, field.data_type()))?;
                    if wide != col.column_type {
                        self.table_schema.columns[i].column_type = wide;
                        changed = true;
                    }
                }
                _ => {
                    return Err(Error::schema_mismatch(
                        &self.dir,
                        format!(
                        "merging schemas needs unique column names; the table has \"{}\" {} times",
                        def.name,
                        matches.len()
                    ),
                    ))
                }
            }
        }
        if changed {
            self.schema = source_schema(&self.table_schema);
        }
        Ok(changed)
    }

    /// For each table column: the batch column holding it, or `None` (nulls). Checks the
    /// batch (and merges its schema when asked).
    fn plan_batch(&mut self, batch: &RecordBatch) -> Result<Vec<Option<usize>>> {
        if !self.options.merge_schema {
            self.check_batch(batch)?;
            return Ok((0..batch.num_columns()).map(Some).collect());
        }
        if self.merge_batch_schema(batch)? {
            // Every segment has one type per column: start a new one with the new schema.
            self.finish_segment()?;
        }
        let schema = batch.schema();
        self.table_schema
            .columns
            .iter()
            .map(|col| match schema.index_of(&col.name) {
                Ok(i) => Ok(Some(i)),
                Err(_) if col.nullable => Ok(None),
                Err(_) => Err(Error::schema_mismatch(
                    &self.dir,
                    format!("the batch lacks non-nullable column \"{}\"", col.name),
                )),
            })
            .collect()
    }

    /// Which columns may go to the overflow bag: eligible types whose name is unique.
    fn sparse_ok(&self) -> Vec<bool> {
        let columns = &self.table_schema.columns;
        columns
            .iter()
            .map(|c| bag::eligible(c) && columns.iter().filter(|d| d.name == c.name).count() == 1)
            .collect()
    }

    /// Buffers a batch. It becomes visible with the next [`Self::commit`].
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let plan = self.plan_batch(batch)?;
        for (col, source) in self.table_schema.columns.iter().zip(&plan) {
            let nulls = match source {
                Some(i) => batch.column(*i).logical_null_count(),
                None => batch.num_rows(),
            };
            if !col.nullable && nulls > 0 {
                return Err(Error::schema_mismatch(
                    &self.dir,
                    format!(
                        "column \"{}\" is not nullable but the batch has {nulls} nulls in it",
                        col.name
                    ),
                ));
            }
        }
        // Batch columns in the table's storage types.
        let mut columns: Vec<Option<ArrayRef>> = Vec::with_capacity(plan.len());
        for (col, source) in self.table_schema.columns.iter().zip(&plan) {
            let Some(i) = *source else {
                columns.push(None);
                continue;
            };
            let mut array = Arc::clone(batch.column(i));
            if let DataType::Dictionary(_, value) = array.data_type() {
                // Stored decoded: decode once for the values and the statistics.
                array = arrow::compute::cast(&array, value)?;
            }
            if !same_storage(&column_def(batch.schema_ref().field(i))?, col) {
                array = arrow::compute::cast(&array, source_field(col).data_type())?;
            }
            columns.push(Some(array));
        }
        if self.sort_key.is_none() {
            return self.feed(&columns, batch.num_rows());
        }
        self.unsorted.push((columns, batch.num_rows()));
        while self.unsorted.iter().map(|(_, n)| n).sum::<usize>() >= self.options.segment_rows {
            self.write_sorted_segment()?;
        }
        Ok(())
    }

    /// Sorts up to `segment_rows` of the rows waiting in `unsorted` (the oldest) and writes
    /// them as one segment.
    fn write_sorted_segment(&mut self) -> Result<()> {
        let Some(key) = self.sort_key.clone() else {
            return Ok(());
        };
        let mut rows = 0;
        let mut pieces = Vec::new();
        while rows < self.options.segment_rows && !self.unsorted.is_empty() {
            let (columns, n) = self.unsorted.remove(0);
            let take = n.min(self.options.segment_rows - rows);
            if take < n {
                let rest = columns
                    .iter()
                    .map(|c| c.as_ref().map(|c| c.slice(take, n - take)));
                self.unsorted.insert(0, (rest.collect(), n - take));
            }
            let head = columns.iter().map(|c| c.as_ref().map(|c| c.slice(0, take)));
            pieces.push((head.collect::<Vec<_>>(), take));
            rows += take;
        }
        let columns = (0..self.table_schema.columns.len())
            .map(|c| {
                let parts: Vec<ArrayRef> = pieces
                    .iter()
                    .map(|(cols, n)| match &cols[c] {
                        Some(a) => Arc::clone(a),
                        None => new_null_array(
                            source_field(&self.table_schema.columns[c]).data_type(),
                            *n,
                        ),
                    })
                    .collect();
                let parts: Vec<&dyn arrow::array::Array> =
                    parts.iter().map(|a| a.as_ref()).collect();
                Ok(arrow::compute::concat(&parts)?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let sorted: Vec<Option<ArrayRef>> = key.sort(&columns)?.into_iter().map(Some).collect();
        self.feed(&sorted, rows)?;
        self.finish_segment()
    }

    /// Appends `rows` rows of table columns (`None`: all null) to the segments being built,
    /// cutting segments by rows and bytes.
    fn feed(&mut self, columns: &[Option<ArrayRef>], rows: usize) -> Result<()> {
        let mut offset = 0;
        while offset < rows {
            if self.current.is_none() {
                self.current = Some(SegmentBuild::new(
                    &self.table_schema.columns,
                    &self.sparse_ok(),
                    self.threshold,
                    self.options.segment_rows,
                    self.options.zone_rows,
                ));
            }
            let build = self.current.as_mut().expect("just set");
            let take = (self.options.segment_rows - build.rows()).min(rows - offset);
            for (i, column) in columns.iter().enumerate() {
                let piece = column.as_ref().map(|c| c.slice(offset, take));
                build.append(i, piece.as_ref(), take)?;
            }
            build.end_rows(take);
            offset += take;
            if build.heap_bytes() > self.options.memory_budget {
                self.relieve_memory()?;
            }
            let Some(build) = &self.current else {
                continue;
            };
            if build.rows() >= self.options.segment_rows
                || build.buffered_bytes() >= self.options.segment_bytes
            {
                self.finish_segment()?;
            }
        }
        Ok(())
    }

    /// Brings the segment being built back within [`WriteOptions::memory_budget`]: sparse
    /// columns filled above the bag threshold become dense (`SegmentBuild::densify_filled`),
    /// dense buffers spill to scratch files when they need at most [`MAX_SCRATCH_FILES`] of
    /// them, and if the build is still over the budget (very wide rows, or truly sparse values,
    /// which cannot spill) the segment is cut here.
    fn relieve_memory(&mut self) -> Result<()> {
        let Some(build) = self.current.as_mut() else {
            return Ok(());
        };
        build.densify_filled()?;
        if build.scratch_files() <= MAX_SCRATCH_FILES {
            build.spill(&self.dir)?;
        }
        if build.heap_bytes() > self.options.memory_budget {
            self.finish_segment()?;
        }
        Ok(())
    }

    /// Sorted writes: writes the rows still waiting, then merges the sorted segments written
    /// from `written[from]` on into one ordered run of new segments and deletes the old ones.
    fn finish_sorted(&mut self, from: usize) -> Result<()> {
        let Some(key) = self.sort_key.clone() else {
            return Ok(());
        };
        while !self.unsorted.is_empty() {
            self.write_sorted_segment()?;
        }
        if self.written.len() < from + 2 {
            return Ok(());
        }
        self.merged_runs = self.written.split_off(from);
        let runs = self
            .merged_runs
            .iter()
            .map(|w| {
                let file = SegmentFile::open(&self.dir.join(&w.name), Some(w.identity))?;
                SegmentReader::new(file, &self.table_schema)
            })
            .collect::<Result<Vec<_>>>()?;
        let batch_rows = self.options.zone_rows.max(1);
        merge(&runs, &key, batch_rows, |columns, rows| {
            let columns: Vec<Option<ArrayRef>> = columns.into_iter().map(Some).collect();
            self.feed(&columns, rows)
        })?;
        self.finish_segment()?;
        drop(runs);
        self.remove_merged_runs();
        Ok(())
    }

    /// Deletes the segments merged away (best effort: vacuum removes what is left).
    fn remove_merged_runs(&mut self) {
        for w in self.merged_runs.drain(..) {
            match std::fs::remove_file(self.dir.join(&w.name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => self.mark.keep(),
                _ => {}
            }
        }
    }

    /// Writes the segment being built, if it has rows.
    fn finish_segment(&mut self) -> Result<()> {
        let Some(build) = self.current.take() else {
            return Ok(());
        };
        if build.rows() == 0 {
            return Ok(());
        }
        let rows = build.rows() as u64;
        let name = names::new_segment_name();
        let mut w = SegmentWriter::create(&self.dir, &name)?;
        let written = build.write(&mut w, &self.encoding)?;
        let mut metadata = self.table_schema.metadata.clone();
        if let Some(key) = &self.sort_key {
            // Every segment of a sorted write is in key order (`write_sorted_segment`, `merge`).
            sort_key_pairs::strip(&mut metadata);
            metadata.extend(key.to_pairs());
            metadata.sort();
        }
        let footer = SegmentFooter {
            row_count: rows,
            zone_rows: self.options.zone_rows.max(1) as u64,
            columns: written.columns,
            metadata,
            bag: written.bag,
        };
        self.written.push(w.finish(&footer)?);
        Ok(())
    }

    /// Writes any buffered rows and publishes one new version holding everything written.
    /// Returns the new version number. An append that wrote nothing publishes nothing and
    /// returns the version it would have built on.
    pub fn commit(mut self) -> Result<u64> {
        self.end_replacing()?;
        self.finish_sorted(self.written_outside_groups())?;
        self.finish_segment()?;
        let unchanged = self.mode == Mode::Append
            || (self.mode == Mode::Change && self.deletions.is_empty() && self.groups.is_empty());
        if unchanged && self.written.is_empty() {
            self.committed = true;
            return Ok(self.base.as_ref().map_or(0, |b| b.version));
        }
        let started = self.base.clone();
        let deletion_refs = self.write_deletions()?;
        let new_segments: Vec<SegmentEntry> = self
            .written
            .iter()
            .map(|w| SegmentEntry {
                name: w.name.clone(),
                row_count: w.row_count,
                identity: w.identity,
                deletions: None,
            })
            .collect();
        let mut attempt = 0;
        loop {
            let base_version = self.base.as_ref().map(|b| b.version);
            let segments = match (&self.mode, &self.base) {
                (Mode::Append, Some(base)) => {
                    let mut segments = base.segments.clone();
                    segments.extend(new_segments.iter().cloned());
                    segments
                }
                (Mode::Change, Some(base)) => {
                    self.changed_segments(base, &deletion_refs, &new_segments)
                }
                _ => new_segments.clone(),
            };
            let mut properties = self
                .base
                .as_ref()
                .map_or_else(Vec::new, |b| b.properties.clone());
            if let Some(t) = self.options.bag_threshold {
                properties.retain(|(k, _)| k != BAG_THRESHOLD_PROPERTY);
                properties.push((BAG_THRESHOLD_PROPERTY.into(), t.to_string()));
            }
            if let Some(spec) = &self.options.encoding {
                properties.retain(|(k, _)| k != ENCODING_PROPERTY);
                properties.push((ENCODING_PROPERTY.into(), spec.to_string()));
            }
            if let Some(n) = self.options.auto_optimize {
                properties.retain(|(k, _)| k != AUTO_OPTIMIZE_PROPERTY);
                properties.push((AUTO_OPTIMIZE_PROPERTY.into(), n.to_string()));
            }
            if self.options.sort_by.is_some() || self.mode == Mode::Overwrite {
                sort_key_pairs::strip(&mut properties);
                properties.extend(self.sort_key.iter().flat_map(SortKey::to_pairs));
            }
            properties.sort();
            let manifest = Manifest {
                version: base_version.unwrap_or(0) + 1,
                parent: base_version,
                created_micros: table_dir::now_micros(),
                schema: self.table_schema.clone(),
                segments,
                properties,
            };
            match table_dir::publish(&self.dir, &manifest) {
                Ok(()) => {
                    self.committed = true;
                    self.auto_optimize(&manifest);
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
                    let latest = table_dir::read_latest_manifest(&self.dir)?;
                    if self
                        .started_schema
                        .as_ref()
                        .is_some_and(|s| *s != latest.schema)
                    {
                        return Err(Error::schema_mismatch(
                            &self.dir,
                            format!(
                                "version {} changed the table's schema while this append was running",
                                latest.version
                            ),
                        ));
                    }
                    if let Some(started) = &started {
                        self.check_untouched(started, &latest)?;
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
        self.remove_merged_runs();
        if !self.committed {
            // Never published: the segments and deletion vectors are garbage. Best effort;
            // `vacuum` and the next writer remove anything left.
            let names = self.written.iter().map(|w| &w.name);
            for name in names.chain(&self.written_deletions) {
                match std::fs::remove_file(self.dir.join(name)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => self.mark.keep(),
                    _ => {}
                }
            }
        }
    }
}
