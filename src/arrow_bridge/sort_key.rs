//! Clustered tables: the sort key a table is written in, how a segment records it, and the
//! two steps that put rows in its order — sorting one segment's rows, and merging the sorted
//! segments of one write into one ordered run.
//!
//! # Contract
//! - Order: ascending on each key column in turn, NULLs last (SQL's `ORDER BY k1, k2`), in
//!   Arrow's ordering (floats in IEEE total order, strings by bytes).
//! - A segment whose rows are in key order says so in its footer metadata: keys
//!   `quiver.sort_key.0`, `quiver.sort_key.1`, … naming the key columns (docs/FORMAT.md,
//!   "Sort key"; encoded by `native/sort_key_pairs.rs`). The same keys in a manifest's properties are the table's sort key, applied to
//!   every later write that does not name another.
//! - [`SortKey::sort`] returns a segment's columns permuted into key order (stable: ties keep
//!   their input order). [`merge`] reads sorted segments and emits all their rows in key order
//!   in batches of at most `batch_rows` rows, holding only the key columns' row encoding and
//!   one output batch in memory (the segments themselves are mapped).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use arrow::array::{Array, ArrayRef};
use arrow::compute::{interleave, lexsort_to_indices, take, SortColumn, SortOptions};
use arrow::row::{RowConverter, Rows, SortField};

use super::segment_reader::SegmentReader;
use crate::error::{Error, Result};
use crate::native::schema::TableSchema;
use crate::native::sort_key_pairs;

const ORDER: SortOptions = SortOptions {
    descending: false,
    nulls_first: false,
};

/// The columns a table is clustered by, resolved against its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    names: Vec<String>,
    /// Table column index per name.
    columns: Vec<usize>,
}

impl SortKey {
    /// The key naming `names` in `table`; fails naming a column that is missing, repeated or
    /// of a type that has no order (nested types, intervals).
    pub fn resolve(names: &[String], table: &TableSchema) -> Result<Self> {
        if names.is_empty() {
            return Err(Error::invalid("a sort key needs at least one column"));
        }
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let Some(i) = table.columns.iter().position(|c| &c.name == name) else {
                return Err(Error::invalid(format!(
                    "sort key column \"{name}\" is not a column of the table"
                )));
            };
            if columns.contains(&i) {
                return Err(Error::invalid(format!(
                    "sort key column \"{name}\" is named twice"
                )));
            }
            let def = &table.columns[i];
            let field = super::types::source_field(def);
            let t = field.data_type();
            if t.is_nested() || matches!(t, arrow::datatypes::DataType::Interval(_)) {
                return Err(Error::invalid(format!(
                    "sort key column \"{name}\" has type {t}, which has no order"
                )));
            }
            columns.push(i);
        }
        Ok(Self {
            names: names.to_vec(),
            columns,
        })
    }

    /// The key as metadata pairs (`quiver.sort_key.N` = name), sorted by key.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        sort_key_pairs::to_pairs(&self.names)
    }

    /// `columns` (all table columns, equal lengths) permuted into key order.
    pub fn sort(&self, columns: &[ArrayRef]) -> Result<Vec<ArrayRef>> {
        let keys: Vec<SortColumn> = self
            .columns
            .iter()
            .map(|&c| SortColumn {
                values: std::sync::Arc::clone(&columns[c]),
                options: Some(ORDER),
            })
            .collect();
        let indices = lexsort_to_indices(&keys, None)?;
        Ok(columns
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<std::result::Result<_, _>>()?)
    }

    fn converter(&self, run: &SegmentReader) -> Result<RowConverter> {
        let fields = self
            .columns
            .iter()
            .map(|&c| {
                let t = run.schema().field(c).data_type().clone();
                SortField::new_with_options(t, ORDER)
            })
            .collect();
        Ok(RowConverter::new(fields)?)
    }
}

/// Emits every row of `runs` (each in key order) in key order, as all table columns in
/// batches of at most `batch_rows` rows (see the module contract).
pub fn merge(
    runs: &[SegmentReader],
    key: &SortKey,
    batch_rows: usize,
    mut emit: impl FnMut(Vec<ArrayRef>, usize) -> Result<()>,
) -> Result<()> {
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let converter = key.converter(first)?;
    let ncols = first.schema().fields().len();
    let mut columns: Vec<Vec<ArrayRef>> = Vec::with_capacity(runs.len());
    let mut rows: Vec<Rows> = Vec::with_capacity(runs.len());
    for run in runs {
        let all: Vec<ArrayRef> = (0..ncols).map(|c| run.column(c)).collect::<Result<_>>()?;
        let keys: Vec<ArrayRef> = key
            .columns
            .iter()
            .map(|&c| std::sync::Arc::clone(&all[c]))
            .collect();
        rows.push(converter.convert_columns(&keys)?);
        columns.push(all);
    }
    // Min-heap of (key row, run, row): ties go to the earlier run, keeping the merge stable.
    let mut heap = BinaryHeap::new();
    for (r, run_rows) in rows.iter().enumerate() {
        if run_rows.num_rows() > 0 {
            heap.push(Reverse((run_rows.row(0), r, 0usize)));
        }
    }
    let batch_rows = batch_rows.max(1);
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(batch_rows);
    let flush = |picks: &mut Vec<(usize, usize)>,
                 emit: &mut dyn FnMut(Vec<ArrayRef>, usize) -> Result<()>|
     -> Result<()> {
        if picks.is_empty() {
            return Ok(());
        }
        let out = (0..ncols)
            .map(|c| {
                let sources: Vec<&dyn Array> = columns.iter().map(|run| run[c].as_ref()).collect();
                interleave(&sources, picks)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let n = picks.len();
        picks.clear();
        emit(out, n)
    };
    while let Some(Reverse((_, r, i))) = heap.pop() {
        picks.push((r, i));
        if i + 1 < rows[r].num_rows() {
            heap.push(Reverse((rows[r].row(i + 1), r, i + 1)));
        }
        if picks.len() == batch_rows {
            flush(&mut picks, &mut emit)?;
        }
    }
    flush(&mut picks, &mut emit)?;
    Ok(())
}
