//! String and binary columns as Arrow view arrays (`Utf8View` / `BinaryView`) over the same
//! values bytes: the form DataFusion's string kernels prefer.
//!
//! # Contract
//! - [`to_view_in_blocks`] shares the values (no copy) and builds only the 16-byte views,
//!   O(rows); the view array it returns passes Arrow's full validation. Its values are split
//!   into one data block per `block_rows` rows (a zone, for segment columns), each block a
//!   buffer of its own (`owned_slices.rs`), so that [`BlockViews::rows`] can hand out rows whose
//!   buffers are only their views and their blocks: a batch is charged its own bytes by memory
//!   accounting, not the whole column's.
//! - A block of 4 GiB or more cannot be addressed by `u32` view offsets: such arrays are
//!   converted by Arrow's own (copying) conversion instead, and [`BlockViews::rows`] slices
//!   them as `Array::slice` does.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryViewArray, GenericByteViewArray, StringViewArray,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{ByteViewType, DataType};

use super::owned_slices::{own_bytes, own_nulls};

/// `array` as a view array if it is a `LargeUtf8` / `LargeBinary` array (else unchanged), in
/// one data block.
pub fn to_view(array: &ArrayRef) -> ArrayRef {
    to_view_in_blocks(array, array.len().max(1)).array
}

/// A view array (or, for other types, any array) with what [`Self::rows`] needs to know of its
/// blocks.
#[derive(Debug, Clone)]
pub struct BlockViews {
    pub array: ArrayRef,
    /// `Some(n)`: built by [`views`], block `b` holding the values of rows `b * n ..`.
    block_rows: Option<usize>,
}

impl BlockViews {
    /// A view array gathered (e.g. by `take`) from a view array of one data block — every
    /// non-inline view points into buffer 0 — such as a dictionary's views gathered by codes.
    /// All its rows form one block, so [`Self::rows`] keeps that buffer for every range (it is
    /// the dictionary's, not a copy per row). Arrays of more buffers are sliced as
    /// `Array::slice` does.
    pub fn gathered(array: ArrayRef) -> Self {
        let buffers = match array.data_type() {
            DataType::Utf8View => array.as_string_view().data_buffers().len(),
            DataType::BinaryView => array.as_binary_view().data_buffers().len(),
            _ => usize::MAX,
        };
        let block_rows = (buffers <= 1).then(|| array.len().max(1));
        Self { array, block_rows }
    }

    /// Rows `rows` of the array: for views in this module's block layout, the views of those
    /// rows and the data blocks they use, each buffer its own allocation, with blocks the rows
    /// do not use left empty (so block indices stay valid); otherwise `Array::slice`.
    pub fn rows(&self, rows: Range<usize>) -> ArrayRef {
        let Some(block_rows) = self.block_rows else {
            return self.array.slice(rows.start, rows.len());
        };
        let blocks = rows.start / block_rows..rows.end.div_ceil(block_rows);
        match self.array.data_type() {
            DataType::Utf8View => Arc::new(rows_of(self.array.as_string_view(), rows, blocks)),
            DataType::BinaryView => Arc::new(rows_of(self.array.as_binary_view(), rows, blocks)),
            _ => unreachable!("only view arrays have a block layout"),
        }
    }
}

/// `array` as a view array if it is a `LargeUtf8` / `LargeBinary` array (else unchanged), with
/// one data block per `block_rows` rows (see the module contract). The values are shared, not
/// copied; only the 16-byte views are built, O(rows).
pub fn to_view_in_blocks(array: &ArrayRef, block_rows: usize) -> BlockViews {
    assert!(block_rows > 0, "blocks of at least one row");
    let blocked = |array: ArrayRef| BlockViews {
        array,
        block_rows: Some(block_rows),
    };
    let converted = |array: ArrayRef| BlockViews {
        array,
        block_rows: None,
    };
    match array.data_type() {
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            match views(a.offsets(), a.values(), block_rows) {
                // SAFETY: `views` built one view per row from the offsets of a valid
                // `LargeStringArray` into the blocks it cut from that array's own values
                // buffer: lengths, block indices and offsets lie inside the blocks, inline
                // bytes and prefixes are copied from them, and the values are UTF-8 at
                // character boundaries because the source array is valid.
                Some((v, blocks)) => blocked(Arc::new(unsafe {
                    StringViewArray::new_unchecked(v, blocks, Array::nulls(a).cloned())
                })),
                None => converted(Arc::new(StringViewArray::from(a))),
            }
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            match views(a.offsets(), a.values(), block_rows) {
                // SAFETY: as for strings above, without the UTF-8 requirement.
                Some((v, blocks)) => blocked(Arc::new(unsafe {
                    BinaryViewArray::new_unchecked(v, blocks, Array::nulls(a).cloned())
                })),
                None => converted(Arc::new(BinaryViewArray::from(a))),
            }
        }
        _ => converted(Arc::clone(array)),
    }
}

/// Arrow byte views (length, 4-byte prefix, block, offset in the block; or inline for ≤ 12
/// bytes) for values back to back in `data` at `offsets`, with the data blocks they point into
/// (block `b` holds the values of rows `b * block_rows ..`); `None` if a block is too large for
/// `u32` offsets.
fn views(
    offsets: &OffsetBuffer<i64>,
    data: &Buffer,
    block_rows: usize,
) -> Option<(ScalarBuffer<u128>, Vec<Buffer>)> {
    let rows = offsets.len() - 1;
    let mut blocks = Vec::with_capacity(rows.div_ceil(block_rows));
    let mut views: Vec<u128> = Vec::with_capacity(rows);
    for (b, first) in (0..rows).step_by(block_rows).enumerate() {
        let end = (first + block_rows).min(rows);
        let (base, limit) = (offsets[first] as usize, offsets[end] as usize);
        if limit - base > u32::MAX as usize {
            return None;
        }
        let block = &data.as_slice()[base..limit];
        views.extend(offsets[first..=end].windows(2).map(|w| {
            let (start, end) = (w[0] as usize - base, w[1] as usize - base);
            let len = end - start;
            let mut v = [0u8; 16];
            v[0..4].copy_from_slice(&(len as u32).to_le_bytes());
            if len <= 12 {
                v[4..4 + len].copy_from_slice(&block[start..end]);
            } else {
                v[4..8].copy_from_slice(&block[start..start + 4]);
                v[8..12].copy_from_slice(&(b as u32).to_le_bytes());
                v[12..16].copy_from_slice(&(start as u32).to_le_bytes());
            }
            u128::from_le_bytes(v)
        }));
        blocks.push(own_bytes(&data.slice_with_length(base, limit - base)));
    }
    Some((ScalarBuffer::from(views), blocks))
}

/// Rows `rows` of `view`, built by [`views`] with blocks of rows `blocks` holding those rows.
fn rows_of<T: ByteViewType + ?Sized>(
    view: &GenericByteViewArray<T>,
    rows: Range<usize>,
    blocks: Range<usize>,
) -> GenericByteViewArray<T> {
    let sliced = view.slice(rows.start, rows.len());
    let (views, buffers, nulls) = sliced.into_parts();
    let nulls = nulls.as_ref().map(own_nulls);
    let views = ScalarBuffer::new(own_bytes(views.inner()), 0, rows.len());
    let buffers: Vec<Buffer> = buffers
        .iter()
        .enumerate()
        .map(|(b, buffer)| {
            if blocks.contains(&b) {
                buffer.clone()
            } else {
                Buffer::from_vec(Vec::<u8>::new())
            }
        })
        .collect();
    // SAFETY: the views of rows `rows` of a valid view array that `views` built (the caller's
    // `BlockViews` records it) with blocks of `block_rows` rows: each non-inline view points
    // into the block of its own row, which is in `blocks` and kept unchanged; only blocks no view of these rows points into are
    // replaced (by empty buffers, keeping the indices).
    unsafe { GenericByteViewArray::new_unchecked(views, buffers, nulls) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{LargeBinaryArray, LargeStringArray};

    #[test]
    fn views_match_the_values_they_view_and_pass_full_validation() {
        let strings: ArrayRef = Arc::new(LargeStringArray::from(vec![
            Some("short"),
            None,
            Some(""),
            Some("a string longer than twelve bytes"),
            Some("exactly12byt"),
            Some("thirteen byte"),
        ]));
        for array in [Arc::clone(&strings), strings.slice(1, 4)] {
            let view = to_view(&array);
            view.to_data().validate_full().unwrap();
            let (v, l) = (view.as_string_view(), array.as_string::<i64>());
            assert_eq!(v.len(), l.len());
            for i in 0..l.len() {
                assert_eq!(v.is_null(i), l.is_null(i));
                if l.is_valid(i) {
                    assert_eq!(v.value(i), l.value(i));
                }
            }
            // The long values are read from the very bytes the source array uses.
            let first = l.value_offsets()[0] as usize;
            assert_eq!(v.data_buffers()[0].as_ptr(), l.values()[first..].as_ptr());
        }
        let binary: ArrayRef = Arc::new(LargeBinaryArray::from(vec![
            &b"\\x00\\xff"[..],
            b"0123456789abcdef",
        ]));
        let view = to_view(&binary);
        view.to_data().validate_full().unwrap();
        assert_eq!(view.as_binary_view().value(1), b"0123456789abcdef");
    }

    #[test]
    fn views_in_blocks_serve_rows_with_only_their_blocks_and_the_same_values() {
        let values: Vec<Option<String>> = (0..50)
            .map(|i| (i % 6 != 0).then(|| format!("{i:03} {}", "long ".repeat(i % 4))))
            .collect();
        let strings: ArrayRef = Arc::new(LargeStringArray::from(values.clone()));
        let blocks = to_view_in_blocks(&strings, 8);
        blocks.array.to_data().validate_full().unwrap();
        let whole = blocks.array.as_string_view();
        assert_eq!(whole.data_buffers().len(), 7, "50 rows in blocks of 8");
        for (start, end) in [(0, 8), (8, 16), (5, 21), (48, 50), (13, 13), (0, 50)] {
            let rows = blocks.rows(start..end);
            rows.to_data().validate_full().unwrap();
            let v = rows.as_string_view();
            assert_eq!(v.len(), end - start);
            for (i, want) in values[start..end].iter().enumerate() {
                assert_eq!(v.is_valid(i).then(|| v.value(i).to_string()), *want);
            }
            let used = (start / 8..end.div_ceil(8)).collect::<Vec<_>>();
            for (b, buffer) in v.data_buffers().iter().enumerate() {
                if used.contains(&b) {
                    assert_eq!(buffer.as_ptr(), whole.data_buffers()[b].as_ptr());
                } else {
                    assert!(buffer.is_empty() && buffer.capacity() == 0, "block {b}");
                }
            }
        }
    }
}
