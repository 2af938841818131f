//! [`Table`]: one version of a table, open for zero-copy scans and random access.
//!
//! # Contract
//! - Opening reads one manifest and maps and checks every segment it names, in O(metadata):
//!   no column data is read. [`Table::refresh`] opens a newer version reusing the segments it
//!   keeps, so it maps and checks only the new ones. The segments stay mapped for as long as
//!   the `Table` (or any array it handed out) lives, so a reader keeps its version — snapshot
//!   isolation — whatever later commits or vacuums do to the directory.
//! - [`Table::scan`] yields batches that are zero-copy slices of the segments' dense columns
//!   (overflow-bag keys are decoded for the batch's rows); a batch never spans two segments. [`Table::take`] gathers rows by position (any order, repeats allowed)
//!   into one newly allocated batch.
//! - Deletions: a version may attach to a segment a deletion vector (`native/deletion.rs`).
//!   The table then shows the segment minus those rows, everywhere: [`Table::num_rows`],
//!   scans (rows of a batch that holds no deleted row stay zero-copy slices; others are
//!   filtered copies), and `take`, whose positions — like a scan's row range — count the rows
//!   this version shows, in table order, not the rows stored. A segment's own statistics and
//!   row count ([`SegmentReader`]) stay those of every stored row.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, SchemaRef};

use super::placement::Placement;
use super::segment_reader::SegmentReader;
use super::types::{read_schema, source_schema};
use super::visibility::drop_deleted;
use crate::error::{Error, ErrorKind, Result};
use crate::native::deletion::DeletedRows;
use crate::native::manifest::{Manifest, SegmentEntry};
use crate::native::segment::SegmentFile;
use crate::native::table_dir;

/// One version of a Quiver table.
#[derive(Debug, Clone)]
pub struct Table {
    inner: Arc<TableInner>,
}

#[derive(Debug)]
struct TableInner {
    dir: PathBuf,
    manifest: Manifest,
    schema: SchemaRef,
    segments: Vec<Arc<SegmentReader>>,
    /// The deleted rows of each segment, where it has any.
    deletions: Vec<Option<Arc<DeletedRows>>>,
    /// `starts[i]` is the (visible) table row at which segment `i` begins; `starts[len]` is the
    /// row count.
    starts: Vec<u64>,
}

/// Options for [`Table::scan_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Column indices to return, in this order; `None` for all columns.
    pub projection: Option<Vec<usize>>,
    /// Most rows per batch (at least 1). Batches also end at segment boundaries.
    pub batch_size: usize,
    /// Table rows to return; `None` for all. Clamped to the table's row count.
    pub row_range: Option<Range<u64>>,
}

/// Default most rows per batch.
pub const DEFAULT_BATCH_SIZE: usize = 65_536;

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            projection: None,
            batch_size: DEFAULT_BATCH_SIZE,
            row_range: None,
        }
    }
}

impl ScanOptions {
    /// Returns only these columns, in this order.
    pub fn with_projection(mut self, columns: Vec<usize>) -> Self {
        self.projection = Some(columns);
        self
    }

    /// At most `rows` rows per batch.
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// Only table rows in `rows`.
    pub fn with_row_range(mut self, rows: Range<u64>) -> Self {
        self.row_range = Some(rows);
        self
    }
}

impl Table {
    /// Opens the newest version of the table in `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_latest(path.as_ref(), None)
    }

    /// Opens version `version` of the table in `path`.
    pub fn open_version(path: impl AsRef<Path>, version: u64) -> Result<Self> {
        Self::open_reusing(path.as_ref(), version, None)
    }

    /// The newest version of this table's directory: `self` again if no newer version was
    /// published, else that version opened reusing this one's open segments and deletion
    /// vectors wherever the new version keeps them unchanged (same file, identity and schema)
    /// — they are not mapped or checked again, and their caches (string views, distinct
    /// values) carry over. Opening costs O(segments the new version adds), which is what keeps
    /// a long session of small commits from paying for every segment on every statement.
    pub fn refresh(&self) -> Result<Self> {
        let newest = table_dir::newest_version_from(&self.inner.dir, self.version())?;
        if newest == self.version() {
            return Ok(self.clone());
        }
        match Self::open_reusing(&self.inner.dir, newest, Some(self)) {
            Err(e) if is_vanished(&e) => Self::open_latest(&self.inner.dir, Some(self)),
            other => other,
        }
    }

    fn open_latest(dir: &Path, previous: Option<&Table>) -> Result<Self> {
        // A concurrent vacuum may delete the segments of the version we just listed as newest
        // (only once a newer one exists): retry with the newer version.
        let mut attempts = 0;
        loop {
            let version = table_dir::latest_version(dir)?;
            match Self::open_reusing(dir, version, previous) {
                Err(e)
                    if attempts < 100
                        && is_vanished(&e)
                        && table_dir::latest_version(dir)? > version =>
                {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    /// Opens `version`, taking from `previous` every segment reader and deletion vector the
    /// new manifest names unchanged (readers only when the table schema is the same, since a
    /// reader places its columns by that schema).
    fn open_reusing(path: &Path, version: u64, previous: Option<&Table>) -> Result<Self> {
        let dir = path.to_path_buf();
        if !dir.is_dir() {
            return Err(ErrorKind::TableNotFound { path: dir }.into());
        }
        let manifest = table_dir::read_manifest(&dir, version)?;
        let reusable: HashMap<&str, usize> = previous
            .filter(|p| p.inner.dir == dir && p.inner.manifest.schema == manifest.schema)
            .map(|p| {
                let entries = p.inner.manifest.segments.iter().enumerate();
                entries.map(|(i, e)| (e.name.as_str(), i)).collect()
            })
            .unwrap_or_default();
        let schema = read_schema(&manifest.schema);
        let mut segments = Vec::with_capacity(manifest.segments.len());
        let mut deletions = Vec::with_capacity(manifest.segments.len());
        let mut starts = Vec::with_capacity(manifest.segments.len() + 1);
        let mut row = 0u64;
        for entry in &manifest.segments {
            let path = dir.join(&entry.name);
            let kept = previous
                .zip(reusable.get(entry.name.as_str()))
                .filter(|(p, &i)| {
                    let old = &p.inner.manifest.segments[i];
                    old.identity == entry.identity && old.row_count == entry.row_count
                });
            let (segment, deleted) = match kept {
                Some((p, &i)) => {
                    let old = &p.inner.manifest.segments[i];
                    let deleted = match &entry.deletions {
                        Some(d) if old.deletions.as_ref() == Some(d) => {
                            p.inner.deletions[i].clone()
                        }
                        _ => Self::open_deletions(&dir, entry)?,
                    };
                    (Arc::clone(&p.inner.segments[i]), deleted)
                }
                None => (
                    Arc::new(Self::open_segment(&path, entry, &manifest)?),
                    Self::open_deletions(&dir, entry)?,
                ),
            };
            starts.push(row);
            row = row.checked_add(entry.visible_rows()).ok_or_else(|| {
                Error::corrupt(&path, "manifest", "total row count overflows u64")
            })?;
            segments.push(segment);
            deletions.push(deleted);
        }
        starts.push(row);
        Ok(Self {
            inner: Arc::new(TableInner {
                dir,
                manifest,
                schema,
                segments,
                deletions,
                starts,
            }),
        })
    }

    /// Maps and checks one segment of `manifest`.
    fn open_segment(
        path: &Path,
        entry: &SegmentEntry,
        manifest: &Manifest,
    ) -> Result<SegmentReader> {
        let file = SegmentFile::open(path, Some(entry.identity))?;
        if file.row_count() != entry.row_count {
            return Err(Error::corrupt(
                path,
                "footer",
                format!(
                    "segment has {} rows, the manifest of version {} records {}",
                    file.row_count(),
                    manifest.version,
                    entry.row_count
                ),
            ));
        }
        SegmentReader::new(file, &manifest.schema)
    }

    /// Reads and checks the deletion vector `entry` names, if any.
    fn open_deletions(dir: &Path, entry: &SegmentEntry) -> Result<Option<Arc<DeletedRows>>> {
        entry
            .deletions
            .as_ref()
            .map(|d| DeletedRows::read(dir, d, entry.row_count, entry.identity).map(Arc::new))
            .transpose()
    }

    /// The published versions of the table in `path`, ascending.
    pub fn versions(path: impl AsRef<Path>) -> Result<Vec<u64>> {
        table_dir::list_versions(path.as_ref())
    }

    /// The newest published version of the table at `path`, without opening it
    /// ([`ErrorKind::TableNotFound`](crate::ErrorKind::TableNotFound) if there is none).
    pub fn latest_version(path: impl AsRef<Path>) -> Result<u64> {
        table_dir::latest_version(path.as_ref())
    }

    /// True if `path` is a directory holding at least one published version of a table.
    pub fn exists(path: impl AsRef<Path>) -> bool {
        table_dir::latest_version(path.as_ref()).is_ok()
    }

    /// The Arrow schema of scanned batches.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.inner.schema)
    }

    /// The Arrow schema the table was written with (strings keep `Utf8`/`Utf8View`, ...).
    pub fn source_schema(&self) -> SchemaRef {
        source_schema(&self.inner.manifest.schema)
    }

    /// Rows this version shows (stored rows less deleted ones).
    pub fn num_rows(&self) -> u64 {
        *self.inner.starts.last().unwrap_or(&0)
    }

    /// This table's version number.
    pub fn version(&self) -> u64 {
        self.inner.manifest.version
    }

    /// The table directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The manifest of this version.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// The open segments, in row order.
    pub fn segments(&self) -> &[Arc<SegmentReader>] {
        &self.inner.segments
    }

    /// The (visible) table row at which each segment starts, plus the row count at the end.
    pub fn segment_starts(&self) -> &[u64] {
        &self.inner.starts
    }

    /// The rows of segment `segment` this version no longer shows, if it has any.
    pub fn deleted_rows(&self, segment: usize) -> Option<&Arc<DeletedRows>> {
        self.inner.deletions.get(segment).and_then(Option::as_ref)
    }

    /// True if some segment of this version has deleted rows.
    pub fn has_deletions(&self) -> bool {
        self.inner.deletions.iter().any(Option::is_some)
    }

    /// Full check of this version: every segment's checksums, padding, offsets, UTF-8 and
    /// null arrays (see [`SegmentFile::verify`]). Reads every byte; O(table size).
    pub fn verify(&self) -> Result<()> {
        for segment in &self.inner.segments {
            segment.file().verify()?;
            segment.verify_bag()?;
        }
        Ok(())
    }

    /// Every row and column, in batches of [`DEFAULT_BATCH_SIZE`] rows or fewer.
    pub fn scan(&self) -> Result<Scan> {
        self.scan_with(ScanOptions::default())
    }

    /// A scan with a projection, batch size and row range.
    pub fn scan_with(&self, options: ScanOptions) -> Result<Scan> {
        let ncols = self.inner.schema.fields().len();
        let projection = match options.projection {
            Some(p) => {
                if let Some(bad) = p.iter().find(|&&c| c >= ncols) {
                    return Err(Error::invalid(format!(
                        "projection index {bad} out of range: the table has {ncols} columns"
                    )));
                }
                p
            }
            None => (0..ncols).collect(),
        };
        if options.batch_size == 0 {
            return Err(Error::invalid("batch size must be at least 1"));
        }
        let schema = Arc::new(self.inner.schema.project(&projection)?);
        let total = self.num_rows();
        let range = options.row_range.unwrap_or(0..total);
        let end = range.end.min(total);
        let start = range.start.min(end);
        Ok(Scan {
            table: self.clone(),
            schema,
            projection,
            batch_size: options.batch_size as u64,
            position: start,
            end,
        })
    }

    /// Segment index and stored row within it for (visible) table row `row`, which must be
    /// `< num_rows`.
    fn locate(&self, row: u64) -> (usize, usize) {
        let starts = &self.inner.starts;
        // The last start <= row; empty segments share their start with the next one.
        let seg = starts.partition_point(|&s| s <= row) - 1;
        let visible = (row - starts[seg]) as usize;
        match &self.inner.deletions[seg] {
            Some(d) => (seg, d.visible_row(visible)),
            None => (seg, visible),
        }
    }

    /// Segment index and stored row within it for (visible) table row `row`, or
    /// [`ErrorKind::RowOutOfRange`].
    pub(crate) fn position(&self, row: u64) -> Result<(usize, usize)> {
        let num_rows = self.num_rows();
        if row >= num_rows {
            return Err(ErrorKind::RowOutOfRange { row, num_rows }.into());
        }
        Ok(self.locate(row))
    }

    /// The rows at positions `rows` (any order, repeats allowed), all columns, as one batch.
    /// Positions count the rows this version shows, in table order (deleted rows take none).
    pub fn take(&self, rows: &[u64]) -> Result<RecordBatch> {
        self.take_columns(rows, None)
    }

    /// Like [`Self::take`], returning only the columns in `projection`.
    pub fn take_columns(&self, rows: &[u64], projection: Option<&[usize]>) -> Result<RecordBatch> {
        let num_rows = self.num_rows();
        let all: Vec<usize>;
        let projection = match projection {
            Some(p) => p,
            None => {
                all = (0..self.inner.schema.fields().len()).collect();
                &all
            }
        };
        let schema = Arc::new(self.inner.schema.project(projection)?);
        // Map each asked row to (slot of its segment among the touched ones, row in segment).
        let mut touched: Vec<usize> = Vec::new();
        let mut indices = Vec::with_capacity(rows.len());
        for &row in rows {
            if row >= num_rows {
                return Err(ErrorKind::RowOutOfRange { row, num_rows }.into());
            }
            let (seg, local) = self.locate(row);
            let slot = match touched.iter().position(|&s| s == seg) {
                Some(slot) => slot,
                None => {
                    touched.push(seg);
                    touched.len() - 1
                }
            };
            indices.push((slot, local));
        }
        // Dense fixed-width columns in the raw layout are gathered straight from the whole
        // zero-copy columns (building one checks only its validity bitmap). The others are
        // first read at just the asked rows of each segment, then gathered by position:
        // overflow keys, absent or widened columns, encoded columns (whose whole-column
        // decode `read_rows` avoids for a few rows: it reads only their packed values, codes
        // and blocks), and strings and binaries — whose whole-column build would check every
        // value, where `read_rows` checks only the rows it reads.
        let segments = || touched.iter().map(|&s| &self.inner.segments[s]);
        let zero_copy = |c: usize| {
            !matches!(
                self.inner.schema.field(c).data_type(),
                DataType::LargeUtf8 | DataType::LargeBinary
            ) && segments()
                .all(|s| matches!(s.placement(c), Placement::Dense(_)) && !s.is_encoded(c))
        };
        let (mut local_rows, mut by_position) = (Vec::new(), Vec::new());
        if !projection.iter().all(|&c| zero_copy(c)) {
            local_rows = vec![Vec::new(); touched.len()];
            by_position = indices
                .iter()
                .map(|&(slot, local)| {
                    local_rows[slot].push(local);
                    (slot, local_rows[slot].len() - 1)
                })
                .collect();
        }
        let mut columns = Vec::with_capacity(projection.len());
        for (i, &c) in projection.iter().enumerate() {
            let zero_copy = zero_copy(c);
            let arrays = if zero_copy {
                segments()
                    .map(|s| s.column(c))
                    .collect::<Result<Vec<ArrayRef>>>()?
            } else {
                segments()
                    .zip(&local_rows)
                    .map(|(s, rows)| Ok(s.read_rows(&[c], rows)?.remove(0)))
                    .collect::<Result<Vec<ArrayRef>>>()?
            };
            let column = if arrays.is_empty() {
                arrow::array::new_empty_array(schema.field(i).data_type())
            } else {
                let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                interleave(&refs, if zero_copy { &indices } else { &by_position })?
            };
            columns.push(column);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        Ok(RecordBatch::try_new_with_options(
            schema, columns, &options,
        )?)
    }
}

fn is_vanished(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        || matches!(e.kind(), ErrorKind::VersionNotFound { .. })
}

/// An iterator of zero-copy batches over a [`Table`] (see [`Table::scan_with`]).
#[derive(Debug)]
pub struct Scan {
    table: Table,
    schema: SchemaRef,
    projection: Vec<usize>,
    batch_size: u64,
    position: u64,
    end: u64,
}

impl Scan {
    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

impl Iterator for Scan {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.end {
            return None;
        }
        let (seg, local) = self.table.locate(self.position);
        let segment = &self.table.inner.segments[seg];
        let seg_end = self.table.inner.starts[seg + 1];
        let len = self
            .batch_size
            .min(seg_end - self.position)
            .min(self.end - self.position);
        // Stored rows holding the next `len` visible ones.
        let deleted = self.table.inner.deletions[seg].as_deref();
        let stored_end = match deleted {
            Some(d) => {
                let visible = (self.position - self.table.inner.starts[seg]) as usize;
                d.visible_row(visible + len as usize - 1) + 1
            }
            None => local + len as usize,
        };
        self.position += len;
        let columns: Vec<(usize, bool)> = self.projection.iter().map(|&c| (c, false)).collect();
        let columns = segment.read_range(&columns, local..stored_end);
        let batch = columns.and_then(|columns| {
            let options = RecordBatchOptions::new().with_row_count(Some(stored_end - local));
            let batch =
                RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)?;
            match deleted {
                Some(d) => drop_deleted(batch, d, local),
                None => Ok(batch),
            }
        });
        if batch.is_err() {
            // Stop after an error: the segment's column could not be read.
            self.position = self.end;
        }
        Some(batch)
    }
}
