//! A segment's rows as a version shows them: its stored rows minus its deletion vector, as
//! Arrow masks.
//!
//! # Contract
//! - [`visible_mask`] is `None` when no row of the range is deleted — the caller then keeps
//!   its zero-copy slices — else a mask that is `true` exactly at the rows still shown.
//! - [`drop_deleted`] filters a batch of consecutive stored rows accordingly; a batch with no
//!   deleted row comes back untouched (zero-copy).

use std::ops::Range;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::buffer::BooleanBuffer;
use arrow::compute::filter_record_batch;

use crate::error::Result;
use crate::native::deletion::DeletedRows;

/// `true` at the rows of `rows` (stored rows of the segment) that are not deleted; `None` when
/// none of them is.
pub fn visible_mask(deleted: &DeletedRows, rows: Range<usize>) -> Option<BooleanBuffer> {
    if deleted.deleted_in(rows.clone()) == 0 {
        return None;
    }
    let start = rows.start;
    Some(BooleanBuffer::collect_bool(rows.len(), |i| {
        !deleted.is_deleted(start + i)
    }))
}

/// `batch`, whose rows are the segment's stored rows from `first_row` on, without the deleted
/// ones.
pub fn drop_deleted(
    batch: RecordBatch,
    deleted: &DeletedRows,
    first_row: usize,
) -> Result<RecordBatch> {
    match visible_mask(deleted, first_row..first_row + batch.num_rows()) {
        None => Ok(batch),
        Some(mask) => Ok(filter_record_batch(&batch, &BooleanArray::new(mask, None))?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int32Array};
    use arrow::datatypes::Int32Type;
    use std::sync::Arc;

    #[test]
    fn deleted_rows_are_dropped_and_untouched_ranges_stay_whole() {
        let d = DeletedRows::from_rows(10, [2, 3, 9]).unwrap();
        assert!(visible_mask(&d, 4..9).is_none());
        let mask = visible_mask(&d, 1..5).unwrap();
        assert_eq!(
            mask.iter().collect::<Vec<_>>(),
            vec![true, false, false, true]
        );
        let values = Int32Array::from((0..10).collect::<Vec<_>>());
        let batch = RecordBatch::try_from_iter([("v", Arc::new(values) as _)]).unwrap();
        let kept = drop_deleted(batch.slice(1, 9), &d, 1).unwrap();
        let kept = kept.column(0).as_primitive::<Int32Type>();
        assert_eq!(kept.values(), &[1, 4, 5, 6, 7, 8]);
    }
}
