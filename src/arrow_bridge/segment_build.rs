//! One segment being built: a column builder per table column, dense or sparse, and the
//! routing of sparse columns to the overflow bag.
//!
//! # Contract
//! - A column that may go to the bag (nullable, of a type the bag holds, a name unique in
//!   the table, threshold above 0) starts *sparse*: only its present values and their rows are
//!   kept. Once its present values exceed `threshold x segment_rows` it can no longer end
//!   under the threshold, and becomes a dense builder (the rows so far converted once).
//! - When the segment is written, a column still sparse whose fill rate (present / rows) is
//!   under the threshold goes to the bag; any other column is written dense. So a column is in
//!   the bag exactly when its fill rate in that segment is below the threshold — unless the
//!   writer ran short of memory first: [`SegmentBuild::densify_filled`] then makes every
//!   sparse column whose fill rate *so far* is above the threshold dense (its values held more
//!   compactly, and spillable), and such a column is written dense even if the rest of the
//!   segment would have brought it under the threshold. Either storage holds the same values.
//! - Statistics (segment and zones) are gathered alike for both, from every row.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, UInt32Array};

use super::array_append::append_array;
use super::bag_encode::{self as bag, SparseValues};
use super::stats::StatsBuilder;
use super::types::read_field;
use crate::error::{Error, ErrorKind, Result};
use crate::native::column_builder::{ColumnBuilder, WrittenColumn};
use crate::native::encoding_choice::EncodingSpec;
use crate::native::footer::{BagKey, BagMeta, ColumnMeta, ColumnStats};
use crate::native::schema::ColumnDef;
use crate::native::segment_writer::SegmentWriter;
use crate::overflow::{key_hash, KeyDictionary};

/// Pieces of a sparse column are concatenated in runs of this many, so that a value held
/// costs about its own bytes, not an Arrow array's overhead (a few hundred bytes) per piece,
/// and pieces stop holding on to whole decoded batches.
const PIECES_PER_RUN: usize = 64;

/// Heap bytes writing one present value into the bag takes on top of the value itself (its
/// sort entry, posting, blob key and tag, row offsets), counted with the sparse values held
/// so that a segment whose bag would be large is cut before its write outgrows the budget.
const BAG_BYTES_PER_VALUE: usize = 32;

/// The present values of a sparse column so far.
#[derive(Debug, Default)]
struct Sparse {
    rows: Vec<u32>,
    /// Runs of concatenated pieces (`values[..runs]`), then pieces as appended.
    values: Vec<ArrayRef>,
    runs: usize,
    present: usize,
    /// Heap bytes of `values` (Arrow's accounting) and `rows`, plus what encoding them into
    /// the bag will take ([`BAG_BYTES_PER_VALUE`]).
    heap_bytes: usize,
}

#[derive(Debug)]
enum Data {
    Dense(Box<ColumnBuilder>),
    Sparse(Sparse),
}

#[derive(Debug)]
struct BuildColumn {
    def: ColumnDef,
    data: Data,
    stats: StatsBuilder,
}

/// A segment being built (see the module contract).
#[derive(Debug)]
pub struct SegmentBuild {
    columns: Vec<BuildColumn>,
    rows: usize,
    threshold: f64,
    segment_rows: usize,
}

/// The contents of a written segment, for its footer.
pub struct WrittenSegmentColumns {
    /// Dense columns, in table order.
    pub columns: Vec<ColumnMeta>,
    /// The overflow bag, if any column went to it.
    pub bag: Option<BagMeta>,
}

impl Sparse {
    /// Appends present `values` at segment rows `rows`, concatenating the latest pieces into a
    /// run once there are [`PIECES_PER_RUN`] of them.
    fn push(&mut self, values: ArrayRef, rows: Vec<u32>) -> Result<()> {
        self.present += rows.len();
        self.heap_bytes += values.get_array_memory_size() + rows.len() * (4 + BAG_BYTES_PER_VALUE);
        self.rows.extend(rows);
        self.values.push(values);
        if self.values.len() - self.runs >= PIECES_PER_RUN {
            let pieces = self.values.split_off(self.runs);
            let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
            let run = arrow::compute::concat(&refs)?;
            let freed: usize = pieces.iter().map(|a| a.get_array_memory_size()).sum();
            self.heap_bytes = self.heap_bytes - freed + run.get_array_memory_size();
            self.values.push(run);
            self.runs += 1;
        }
        Ok(())
    }

    /// The column as a dense array of `rows` rows of `def`'s read type.
    fn to_dense(&self, def: &ColumnDef, rows: usize) -> Result<ArrayRef> {
        let data_type = read_field(def).data_type().clone();
        if self.present == 0 {
            return Ok(new_null_array(&data_type, rows));
        }
        let refs: Vec<&dyn Array> = self.values.iter().map(|a| a.as_ref()).collect();
        let values = arrow::compute::concat(&refs)?;
        let mut indices: Vec<Option<u32>> = vec![None; rows];
        for (i, &r) in self.rows.iter().enumerate() {
            indices[r as usize] = Some(i as u32);
        }
        Ok(arrow::compute::take(
            values.as_ref(),
            &UInt32Array::from(indices),
            None,
        )?)
    }
}

/// Writes the rows of `dense` (of a column) into a new dense builder.
fn dense_builder(def: &ColumnDef, dense: &dyn Array) -> Result<ColumnBuilder> {
    let mut builder = ColumnBuilder::new(def);
    append_array(&mut builder, def, dense)?;
    Ok(builder)
}

/// The footer metadata of a written dense column (and its children).
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
        encoding: written.encoding,
        stats,
        zones,
        children,
    }
}

impl SegmentBuild {
    /// An empty segment of columns `defs`; `sparse_ok[i]` says whether column `i` may go to
    /// the bag, under fill rate `threshold`, in segments of at most `segment_rows` rows.
    pub fn new(
        defs: &[ColumnDef],
        sparse_ok: &[bool],
        threshold: f64,
        segment_rows: usize,
        zone_rows: usize,
    ) -> Self {
        let columns = defs
            .iter()
            .zip(sparse_ok)
            .map(|(def, &sparse)| BuildColumn {
                def: def.clone(),
                data: if sparse && threshold > 0.0 {
                    Data::Sparse(Sparse::default())
                } else {
                    Data::Dense(Box::new(ColumnBuilder::new(def)))
                },
                stats: StatsBuilder::new(zone_rows),
            })
            .collect();
        Self {
            columns,
            rows: 0,
            threshold,
            segment_rows,
        }
    }

    /// Rows appended.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends `piece` (in the column's storage type; `None` for `len` nulls) to column
    /// `index`. Call for every column, then [`Self::end_rows`].
    pub fn append(&mut self, index: usize, piece: Option<&ArrayRef>, len: usize) -> Result<()> {
        let threshold = self.threshold;
        let limit = threshold * self.segment_rows as f64;
        let rows_before = self.rows;
        let c = &mut self.columns[index];
        let nulls;
        let piece = match piece {
            Some(p) => p,
            None => {
                nulls = new_null_array(read_field(&c.def).data_type(), len);
                &nulls
            }
        };
        c.stats.update(piece.as_ref())?;
        if let Data::Sparse(s) = &mut c.data {
            let incoming = piece.len() - piece.logical_null_count();
            if (s.present + incoming) as f64 > limit {
                let dense = s.to_dense(&c.def, rows_before)?;
                c.data = Data::Dense(Box::new(dense_builder(&c.def, dense.as_ref())?));
            } else {
                if incoming > 0 {
                    let mut piece = Arc::clone(piece);
                    let want = read_field(&c.def).data_type().clone();
                    if piece.data_type() != &want {
                        piece = arrow::compute::cast(&piece, &want)?;
                    }
                    let (values, rows): (ArrayRef, Vec<u32>) = match piece.logical_nulls() {
                        None => (piece, (0..len).map(|i| (rows_before + i) as u32).collect()),
                        Some(valid) => {
                            let mask = arrow::array::BooleanArray::new(valid.inner().clone(), None);
                            let rows = valid
                                .valid_indices()
                                .map(|i| (rows_before + i) as u32)
                                .collect();
                            (arrow::compute::filter(piece.as_ref(), &mask)?, rows)
                        }
                    };
                    s.push(values, rows)?;
                }
                return Ok(());
            }
        }
        if let Data::Dense(b) = &mut c.data {
            append_array(b, &c.def, piece.as_ref())?;
        }
        Ok(())
    }

    /// Ends a batch of `n` rows appended to every column.
    pub fn end_rows(&mut self, n: usize) {
        self.rows += n;
    }

    /// Heap bytes held by the builders.
    pub fn heap_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match &c.data {
                Data::Dense(b) => b.heap_bytes(),
                Data::Sparse(s) => s.heap_bytes,
            })
            .sum()
    }

    /// Bytes buffered: about what the segment will take on disk.
    pub fn buffered_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match &c.data {
                Data::Dense(b) => b.buffered_bytes(),
                Data::Sparse(s) => s.heap_bytes,
            })
            .sum()
    }

    /// Makes every sparse column whose fill rate so far is above the threshold a dense builder
    /// (see the module contract): the writer's first step when the build is over its memory
    /// budget, since sparse values are held as Arrow pieces (about 5 bytes a value more than
    /// dense) and cannot spill.
    pub fn densify_filled(&mut self) -> Result<()> {
        let limit = self.threshold * self.rows as f64;
        for c in &mut self.columns {
            if let Data::Sparse(s) = &c.data {
                if s.present as f64 > limit {
                    let dense = s.to_dense(&c.def, self.rows)?;
                    c.data = Data::Dense(Box::new(dense_builder(&c.def, dense.as_ref())?));
                }
            }
        }
        Ok(())
    }

    /// Scratch files [`Self::spill`] would hold: one per dense buffer.
    pub fn scratch_files(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match &c.data {
                Data::Dense(b) => b.buffer_count(),
                Data::Sparse(_) => 0,
            })
            .sum()
    }

    /// Moves the dense builders' buffers into scratch files in `dir`.
    pub fn spill(&mut self, dir: &std::path::Path) -> Result<()> {
        for c in &mut self.columns {
            if let Data::Dense(b) = &mut c.data {
                b.spill(dir)?;
            }
        }
        Ok(())
    }

    /// Writes the columns' regions (dense columns, then the bag) to `w`, each dense leaf
    /// column in the storage `encoding` chooses for it.
    pub fn write(
        self,
        w: &mut SegmentWriter,
        encoding: &EncodingSpec,
    ) -> Result<WrittenSegmentColumns> {
        let rows = self.rows;
        let mut columns = Vec::new();
        let mut sparse = Vec::new();
        let mut sparse_stats = Vec::new();
        for c in self.columns {
            let (stats, zones) = c.stats.finish();
            let builder = match c.data {
                Data::Dense(b) => *b,
                Data::Sparse(s) if (s.present as f64) < self.threshold * rows as f64 => {
                    let refs: Vec<&dyn Array> = s.values.iter().map(|a| a.as_ref()).collect();
                    let values = if refs.is_empty() {
                        arrow::array::new_empty_array(read_field(&c.def).data_type())
                    } else {
                        arrow::compute::concat(&refs)?
                    };
                    sparse.push(SparseValues {
                        def: c.def,
                        rows: s.rows,
                        values,
                    });
                    sparse_stats.push((stats, zones));
                    continue;
                }
                Data::Sparse(s) => dense_builder(&c.def, s.to_dense(&c.def, rows)?.as_ref())?,
            };
            let choice = (!encoding.is_raw()).then(|| (&c.def, encoding.for_column(&c.def.name)));
            let written = builder.write_as(w, choice)?;
            debug_assert_eq!(stats.null_count, written.null_count);
            columns.push(column_meta(&c.def, written, stats, zones));
        }
        if sparse.is_empty() {
            return Ok(WrittenSegmentColumns { columns, bag: None });
        }
        let mut dictionary = KeyDictionary::new();
        for s in &sparse {
            dictionary.insert(&s.def.name).map_err(|e| {
                Error::from(ErrorKind::Unsupported {
                    column: s.def.name.clone(),
                    data_type: s.values.data_type().to_string(),
                    reason: format!("{e}: rename one of them, or set the bag threshold to 0"),
                })
            })?;
        }
        let encoded = bag::encode(&sparse, rows)?;
        let offsets = w.write_region(&[&encoded.offsets])?;
        let data = w.write_region(&[&encoded.data])?;
        let postings = w.write_region(&[&encoded.postings])?;
        let keys = sparse
            .into_iter()
            .zip(sparse_stats)
            .map(|(s, (stats, zones))| BagKey {
                hash: key_hash(&s.def.name),
                def: s.def,
                stats,
                zones,
            })
            .collect();
        Ok(WrittenSegmentColumns {
            columns,
            bag: Some(BagMeta {
                offsets,
                data,
                postings,
                keys,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::schema::ColumnType;
    use arrow::array::Int64Array;

    #[test]
    fn sparse_pieces_are_concatenated_into_runs_and_keep_their_values_and_rows() {
        let def = ColumnDef::new("k", ColumnType::Int64, true);
        let mut sparse = Sparse::default();
        // 1,000 pieces of one value each, every third row.
        for i in 0..1_000u32 {
            let piece: ArrayRef = Arc::new(Int64Array::from(vec![i as i64 * 10]));
            sparse.push(piece, vec![i * 3]).unwrap();
        }
        assert_eq!(sparse.present, 1_000);
        assert!(sparse.values.len() <= 1_000 / PIECES_PER_RUN + PIECES_PER_RUN);
        let held: usize = sparse
            .values
            .iter()
            .map(|a| a.get_array_memory_size())
            .sum();
        assert_eq!(sparse.heap_bytes, held + 1_000 * (4 + BAG_BYTES_PER_VALUE));
        // Runs hold about 8 bytes a value, not an array's overhead per piece.
        assert!(held < 1_000 * 24, "{held} bytes");
        let dense = sparse.to_dense(&def, 3_000).unwrap();
        let dense = dense.as_any().downcast_ref::<Int64Array>().unwrap();
        for row in 0..3_000 {
            let want = (row % 3 == 0).then_some((row / 3) as i64 * 10);
            assert_eq!(
                dense.is_valid(row).then(|| dense.value(row)),
                want,
                "row {row}"
            );
        }
    }
}
