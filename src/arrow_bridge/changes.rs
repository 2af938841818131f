//! Row-level changes on immutable segments: deleting rows, merging by key, and compaction
//! ([`optimize`]). Each is one commit of a change writer (`writer.rs`): deletion vectors on the
//! segments it touches, new segments for rows it writes.
//!
//! # Contract
//! - A change is computed on one opened version and commits one new version (none when it
//!   changes nothing). If another writer commits first, the change rebases onto it only when
//!   that commit left every segment this one touches unchanged; otherwise it fails with
//!   [`ErrorKind::ChangeConflict`](crate::ErrorKind::ChangeConflict) and publishes nothing.
//!   [`optimize`] plans again on the newest version and retries a few times.
//! - Positions given to [`Table::delete_rows`] are that version's visible rows, as `take`'s.
//! - [`merge`]: source rows whose key matches a visible target row replace it (the old row is
//!   deleted, the source row written), the others are inserted; with
//!   [`MergeOptions::delete_unmatched`], target rows whose key no source row has are deleted.
//!   Keys compare by value; a key with a NULL in it matches nothing (as in SQL). A key twice
//!   in the source is an error.
//! - [`optimize`] rewrites each run of consecutive segments that are small (fewer visible rows
//!   than half [`OptimizeOptions::target_rows`]) or deletion-heavy (more than
//!   [`OptimizeOptions::deleted_fraction`] of their rows deleted) into full segments, in the
//!   run's place, keeping row order; a lone small segment without deletions is left alone.
//!   With [`OptimizeOptions::max_rows`], it stops before the segment that would take it past
//!   that many rows read.
//!   Older versions keep their files until `vacuum`.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::row::{RowConverter, SortField};

use super::table::{ScanOptions, Table};
use super::writer::{TableWriter, WriteOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::native::deletion::DeletedRows;
use crate::native::encoding_choice::EncodingSpec;

/// What a row-level change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeReport {
    /// The version published; the version it was computed on when it changed nothing.
    pub version: u64,
    /// Rows that no longer show (deleted, or replaced by an update or a merge).
    pub rows_deleted: u64,
    /// Rows written (updated rows' new values, inserted rows, compacted rows).
    pub rows_written: u64,
}

/// Commits, as one new version of `table`, the stored rows `deleted[i].1` of segment
/// `deleted[i].0` deleted (rows deleted before may be listed again) and whatever `write`
/// writes. `options` tunes the writer.
pub(crate) fn commit_change(
    table: &Table,
    deleted: Vec<(usize, Vec<usize>)>,
    options: WriteOptions,
    write: impl FnOnce(&mut TableWriter) -> Result<()>,
) -> Result<ChangeReport> {
    let mut writer = TableWriter::change(table, options)?;
    let mut rows_deleted = 0;
    for (segment, rows) in deleted {
        let stored = table.segments()[segment].num_rows();
        let new = DeletedRows::from_rows(stored, rows)?;
        let all = match table.deleted_rows(segment) {
            Some(before) => new.union(before)?,
            None => new,
        };
        let before = table.deleted_rows(segment).map_or(0, |d| d.deleted());
        if all.deleted() > before {
            rows_deleted += (all.deleted() - before) as u64;
            writer.set_deleted(segment, all)?;
        }
    }
    write(&mut writer)?;
    let rows_written = writer.rows_written();
    let version = writer.commit()?;
    Ok(ChangeReport {
        version,
        rows_deleted,
        rows_written,
    })
}

impl Table {
    /// Deletes the rows at positions `rows` of this version (visible rows, as [`Table::take`]
    /// counts them; any order, repeats allowed) as one new version of the table.
    pub fn delete_rows(&self, rows: &[u64]) -> Result<ChangeReport> {
        let mut per_segment: Vec<Vec<usize>> = vec![Vec::new(); self.segments().len()];
        for &row in rows {
            let (segment, stored) = self.position(row)?;
            per_segment[segment].push(stored);
        }
        let deleted = per_segment
            .into_iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .collect();
        commit_change(self, deleted, WriteOptions::default(), |_| Ok(()))
    }
}

/// How [`merge`] matches and what it does with unmatched target rows.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct MergeOptions {
    /// Target rows whose key no source row has are deleted.
    pub delete_unmatched: bool,
    /// Tuning of the writer of the new rows.
    pub write: WriteOptions,
}

crate::options::with_setters!(MergeOptions {
    /// Sets [`Self::delete_unmatched`].
    with_delete_unmatched => delete_unmatched: bool,
    /// Sets [`Self::write`].
    with_write => write: WriteOptions,
});

/// What [`merge`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MergeReport {
    /// The version published (the newest one, unchanged, when nothing changed).
    pub version: u64,
    /// Source rows whose key matched a target row, which they replaced.
    pub updated: u64,
    /// Source rows whose key matched none.
    pub inserted: u64,
    /// Target rows deleted because their key was in no source row.
    pub deleted: u64,
}

/// Merges `source` (batches of the table's columns) into the newest version of the table in
/// `path` by the key columns `keys`, as one new version (see the module contract). The source
/// is held in memory; the target's key columns are read segment by segment.
pub fn merge(
    path: impl AsRef<Path>,
    source: &[RecordBatch],
    keys: &[&str],
    options: MergeOptions,
) -> Result<MergeReport> {
    let table = Table::open(path.as_ref())?;
    let schema = table.schema();
    if keys.is_empty() {
        return Err(Error::invalid("merge needs at least one key column"));
    }
    let key_columns = keys
        .iter()
        .map(|k| {
            schema.index_of(k).map_err(|_| {
                Error::invalid(format!(
                    "merge key \"{k}\" is not a column of {}",
                    table.path().display()
                ))
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let fields: Vec<SortField> = key_columns
        .iter()
        .map(|&c| SortField::new(schema.field(c).data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    // Source keys, in the table's types: key bytes -> (batch, row).
    let mut source_keys: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    for (b, batch) in source.iter().enumerate() {
        let columns = keys
            .iter()
            .zip(&key_columns)
            .map(|(k, &c)| {
                let column = batch.column_by_name(k).ok_or_else(|| {
                    Error::invalid(format!("the merge source has no key column \"{k}\""))
                })?;
                Ok(cast(column, schema.field(c).data_type())?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let rows = converter.convert_columns(&columns)?;
        for r in 0..batch.num_rows() {
            if columns.iter().any(|c| c.is_null(r)) {
                continue;
            }
            if let Some((pb, pr)) = source_keys.insert(rows.row(r).as_ref().to_vec(), (b, r)) {
                return Err(Error::invalid(format!(
                    "the merge source holds one key twice: batch {pb} row {pr} and batch {b} row {r}"
                )));
            }
        }
    }
    let mut deleted = Vec::new();
    let (mut updated, mut unmatched_deleted) = (0u64, 0u64);
    let wanted: Vec<(usize, bool)> = key_columns.iter().map(|&c| (c, false)).collect();
    for (s, segment) in table.segments().iter().enumerate() {
        let stored = segment.num_rows();
        if stored == 0 {
            continue;
        }
        let columns = segment.read_range(&wanted, 0..stored)?;
        let rows = converter.convert_columns(&columns)?;
        let gone = table.deleted_rows(s);
        let mut rows_deleted = Vec::new();
        for r in 0..stored {
            if gone.is_some_and(|d| d.is_deleted(r)) {
                continue;
            }
            let null_key = columns.iter().any(|c| c.is_null(r));
            let matched = !null_key && source_keys.contains_key(rows.row(r).as_ref());
            if matched {
                updated += 1;
                rows_deleted.push(r);
            } else if options.delete_unmatched {
                unmatched_deleted += 1;
                rows_deleted.push(r);
            }
        }
        if !rows_deleted.is_empty() {
            deleted.push((s, rows_deleted));
        }
    }
    let source_rows: u64 = source.iter().map(|b| b.num_rows() as u64).sum();
    let report = commit_change(&table, deleted, options.write, |writer| {
        source.iter().try_for_each(|b| writer.write(b))
    })?;
    Ok(MergeReport {
        version: report.version,
        updated,
        inserted: source_rows - updated,
        deleted: unmatched_deleted,
    })
}

/// What [`optimize`] rewrites.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OptimizeOptions {
    /// Rows per segment written; segments with fewer than half as many visible rows are small.
    pub target_rows: usize,
    /// Segments with more than this fraction of their rows deleted are rewritten.
    pub deleted_fraction: f64,
    /// Most rows one call rewrites (whole segments, from the first run on); `None`: no bound.
    /// Bounds the time a compaction takes (automatic compaction uses `2 x target_rows`).
    pub max_rows: Option<u64>,
    /// Rewrite every segment (within `max_rows`) with these column encodings, which become the
    /// table's (`quiver rewrite --encoding`). `None`: only small and deletion-heavy segments,
    /// in the table's encodings.
    pub encoding: Option<EncodingSpec>,
}

impl Default for OptimizeOptions {
    fn default() -> Self {
        Self {
            target_rows: WriteOptions::default().segment_rows,
            deleted_fraction: 0.1,
            max_rows: None,
            encoding: None,
        }
    }
}

crate::options::with_setters!(OptimizeOptions {
    /// Sets [`Self::target_rows`].
    with_target_rows => target_rows: usize,
    /// Sets [`Self::deleted_fraction`].
    with_deleted_fraction => deleted_fraction: f64,
    /// Sets [`Self::max_rows`].
    with_max_rows => max_rows: u64 as Some,
    /// Sets [`Self::encoding`]: rewrite every segment with these encodings.
    with_encoding => encoding: EncodingSpec as Some,
});

/// What [`optimize`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OptimizeReport {
    /// The version published; the newest one, unchanged, when there was nothing to do.
    pub version: u64,
    /// Segments rewritten (they stay in older versions until vacuumed).
    pub segments_removed: usize,
    /// Segments written in their place.
    pub segments_written: usize,
    /// Rows rewritten.
    pub rows_written: u64,
    /// Deleted rows dropped for good from the new version's segments.
    pub deleted_rows_dropped: u64,
}

/// How many times [`optimize`] plans again after losing a commit race to a change of the
/// same segments.
const OPTIMIZE_ATTEMPTS: usize = 4;

/// Compacts the newest version of the table in `path` (see the module contract).
pub fn optimize(path: impl AsRef<Path>, options: OptimizeOptions) -> Result<OptimizeReport> {
    if options.target_rows == 0 {
        return Err(Error::invalid(
            "optimize needs a target of at least one row per segment",
        ));
    }
    let mut attempt = 0;
    loop {
        let table = Table::open(path.as_ref())?;
        match optimize_version(&table, &options) {
            Err(e)
                if attempt + 1 < OPTIMIZE_ATTEMPTS
                    && matches!(e.kind(), ErrorKind::ChangeConflict { .. }) =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The runs of consecutive segments of `table` worth rewriting, by segment index.
fn runs_to_rewrite(table: &Table, options: &OptimizeOptions) -> Vec<Vec<usize>> {
    let deleted = |s: usize| table.deleted_rows(s).map_or(0, |d| d.deleted());
    let heavy = |s: usize| {
        let stored = table.segments()[s].num_rows();
        stored > 0 && deleted(s) as f64 > options.deleted_fraction * stored as f64
    };
    let starts = table.segment_starts();
    let every = options.encoding.is_some();
    let small =
        |s: usize| every || ((starts[s + 1] - starts[s]) as usize) < options.target_rows / 2;
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for s in 0..table.segments().len() {
        if small(s) || heavy(s) {
            current.push(s);
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    runs.push(current);
    let worth = |r: &[usize]| r.len() >= 2 || r.iter().any(|&s| deleted(s) > 0) || every;
    runs.retain(|r| !r.is_empty() && worth(r.as_slice()));
    // Within the bound: whole segments, stored rows counted (they are all read).
    let mut budget = options.max_rows.unwrap_or(u64::MAX);
    let mut bounded = Vec::new();
    for run in runs {
        let mut kept = Vec::new();
        let mut cut = false;
        for s in run {
            let rows = table.segments()[s].num_rows() as u64;
            if rows > budget {
                cut = true;
                break;
            }
            budget -= rows;
            kept.push(s);
        }
        if !kept.is_empty() && worth(kept.as_slice()) {
            bounded.push(kept);
        }
        if cut {
            break;
        }
    }
    bounded
}

fn optimize_version(table: &Table, options: &OptimizeOptions) -> Result<OptimizeReport> {
    let runs = runs_to_rewrite(table, options);
    if runs.is_empty() {
        return Ok(OptimizeReport {
            version: table.version(),
            ..Default::default()
        });
    }
    let mut write = WriteOptions::default().with_segment_rows(options.target_rows);
    write.encoding = options.encoding.clone();
    let mut writer = TableWriter::change(table, write)?.without_auto_optimize();
    let starts = table.segment_starts();
    let mut report = OptimizeReport::default();
    for run in &runs {
        writer.begin_replacing(run)?;
        let (first, last) = (run[0], run[run.len() - 1]);
        let rows = starts[first]..starts[last + 1];
        for batch in table.scan_with(ScanOptions::default().with_row_range(rows))? {
            writer.write(&batch?)?;
        }
        report.segments_removed += run.len();
        report.deleted_rows_dropped += run
            .iter()
            .map(|&s| table.deleted_rows(s).map_or(0, |d| d.deleted() as u64))
            .sum::<u64>();
    }
    writer.end_replacing()?;
    report.rows_written = writer.rows_written();
    report.segments_written = writer.segments_written();
    report.version = writer.commit()?;
    Ok(report)
}
