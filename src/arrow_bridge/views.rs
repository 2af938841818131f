//! String and binary columns as Arrow view arrays (`Utf8View` / `BinaryView`) over the same
//! values buffer: the form DataFusion's string kernels prefer.
//!
//! # Contract
//! - [`to_view`] shares the values buffer (no copy) and builds only the 16-byte views, O(rows);
//!   the view array it returns passes Arrow's full validation.
//! - Values buffers of 4 GiB or more cannot be addressed by `u32` view offsets: those arrays are
//!   converted by Arrow's own (copying) conversion instead.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryViewArray, StringViewArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

/// `array` as a view array if it is a `LargeUtf8` / `LargeBinary` array (else unchanged). The
/// values buffer is shared, not copied; only the 16-byte views are built, O(rows).
pub fn to_view(array: &ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            match views(a.offsets(), a.values()) {
                // SAFETY: `views` built one view per row from the offsets of a valid
                // `LargeStringArray` into its own values buffer (block 0): lengths and offsets
                // lie inside the buffer, inline bytes and prefixes are copied from it, and the
                // values are UTF-8 at character boundaries because the source array is valid.
                Some(v) => Arc::new(unsafe {
                    StringViewArray::new_unchecked(
                        v,
                        vec![a.values().clone()],
                        Array::nulls(a).cloned(),
                    )
                }),
                None => Arc::new(StringViewArray::from(a)),
            }
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            match views(a.offsets(), a.values()) {
                // SAFETY: as for strings above, without the UTF-8 requirement.
                Some(v) => Arc::new(unsafe {
                    BinaryViewArray::new_unchecked(
                        v,
                        vec![a.values().clone()],
                        Array::nulls(a).cloned(),
                    )
                }),
                None => Arc::new(BinaryViewArray::from(a)),
            }
        }
        _ => Arc::clone(array),
    }
}

/// Arrow byte views (length, 4-byte prefix, block 0, offset; or inline for ≤ 12 bytes) for
/// values back to back in `data` at `offsets`; `None` if `data` is too large for `u32` offsets.
fn views(offsets: &OffsetBuffer<i64>, data: &Buffer) -> Option<ScalarBuffer<u128>> {
    if data.len() > u32::MAX as usize {
        return None;
    }
    let data = data.as_slice();
    let views: Vec<u128> = offsets
        .windows(2)
        .map(|w| {
            let (start, end) = (w[0] as usize, w[1] as usize);
            let len = end - start;
            let mut v = [0u8; 16];
            v[0..4].copy_from_slice(&(len as u32).to_le_bytes());
            if len <= 12 {
                v[4..4 + len].copy_from_slice(&data[start..end]);
            } else {
                v[4..8].copy_from_slice(&data[start..start + 4]);
                // Bytes 8..12: block index 0.
                v[12..16].copy_from_slice(&(start as u32).to_le_bytes());
            }
            u128::from_le_bytes(v)
        })
        .collect();
    Some(ScalarBuffer::from(views))
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
            // The long values are read from the very buffer the source array uses.
            assert_eq!(v.data_buffers()[0].as_ptr(), l.values().as_ptr());
        }
        let binary: ArrayRef = Arc::new(LargeBinaryArray::from(vec![
            &b"\\x00\\xff"[..],
            b"0123456789abcdef",
        ]));
        let view = to_view(&binary);
        view.to_data().validate_full().unwrap();
        assert_eq!(view.as_binary_view().value(1), b"0123456789abcdef");
    }
}
