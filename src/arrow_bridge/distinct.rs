//! Distinct-value tables of low-cardinality string and binary columns: each distinct value of
//! a segment's column once, and per row a one-byte code naming it, so that a predicate on the
//! column is decided once per distinct value instead of once per row.
//!
//! # Contract
//! - [`DistinctValues::build`] succeeds for a `LargeUtf8` / `LargeBinary` array with at most
//!   [`MAX_DISTINCT`] distinct non-null values, else answers `None` (it stops reading as soon
//!   as it has seen one value too many, so a high-cardinality column costs little).
//! - `values[codes[row]]` is the row's value: distinct values in first-seen order, then one
//!   NULL, which is every null row's code.
//! - Built once per open segment and column, on first use, and cached by `SegmentReader`
//!   (`distinct_values`); nothing is stored on disk — except that a dictionary-encoded column
//!   (format v3) already is such a table: [`DistinctValues::from_dictionary`] takes its
//!   dictionary and codes as they are, reading no row's value.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, LargeBinaryArray, LargeStringArray};
use arrow::datatypes::DataType;

/// Most distinct non-null values a table is built for (codes are one byte, the last one
/// reserved for NULL).
pub const MAX_DISTINCT: usize = 255;

/// The distinct values of one column of one segment (see the module contract).
#[derive(Debug)]
pub struct DistinctValues {
    /// Distinct values, then a NULL, typed as the column is read (`LargeUtf8` / `LargeBinary`).
    pub values: ArrayRef,
    /// The same values as `Utf8View` / `BinaryView`.
    pub view_values: ArrayRef,
    /// Per row: its value's index in `values`.
    pub codes: Vec<u8>,
}

impl DistinctValues {
    /// The table of a dictionary-encoded column: its dictionary `values` (a `LargeUtf8` /
    /// `LargeBinary` array without nulls), each row's code (`codes[row] < values.len()`, as
    /// the decoder checked) and its validity; `None` past [`MAX_DISTINCT`] values. No row's
    /// value is read: O(rows) one-byte codes.
    pub fn from_dictionary(
        values: &ArrayRef,
        codes: &[u32],
        nulls: Option<&arrow::buffer::NullBuffer>,
    ) -> Option<Self> {
        let view_type = match values.data_type() {
            DataType::LargeUtf8 => DataType::Utf8View,
            DataType::LargeBinary => DataType::BinaryView,
            _ => return None,
        };
        if values.len() > MAX_DISTINCT {
            return None;
        }
        let null = arrow::array::new_null_array(values.data_type(), 1);
        let values = arrow::compute::concat(&[values.as_ref(), null.as_ref()]).ok()?;
        let null_code = (values.len() - 1) as u8;
        let codes = codes
            .iter()
            .enumerate()
            .map(|(row, &c)| {
                if nulls.is_some_and(|n| n.is_null(row)) {
                    null_code
                } else {
                    c as u8
                }
            })
            .collect();
        let view_values = arrow::compute::cast(&values, &view_type).ok()?;
        Some(Self {
            values,
            view_values,
            codes,
        })
    }

    /// The table of `array`, or `None` when it is not a large string/binary array or has
    /// more than [`MAX_DISTINCT`] distinct values.
    pub fn build(array: &dyn Array) -> Option<Self> {
        let (bytes, offsets): (&[u8], &[i64]) = match array.data_type() {
            DataType::LargeUtf8 => {
                let a = array.as_string::<i64>();
                (a.values().as_slice(), a.value_offsets())
            }
            DataType::LargeBinary => {
                let a = array.as_binary::<i64>();
                (a.values().as_slice(), a.value_offsets())
            }
            _ => return None,
        };
        // foldhash: several times faster than SipHash on short keys; no untrusted-input
        // concern, since a collision flood only slows this one pass.
        let mut seen: HashMap<&[u8], u8, foldhash::fast::FixedState> = HashMap::default();
        let mut last: Option<(&[u8], u8)> = None;
        let mut order: Vec<&[u8]> = Vec::new();
        let mut codes = Vec::with_capacity(array.len());
        let nulls = array.logical_nulls();
        // Null rows get a placeholder fixed once the distinct count is known.
        const NULL_PLACEHOLDER: u8 = u8::MAX;
        for (i, w) in offsets.windows(2).enumerate() {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                codes.push(NULL_PLACEHOLDER);
                continue;
            }
            let value = &bytes[w[0] as usize..w[1] as usize];
            // Runs of one value (clustered columns) skip the hash.
            if let Some((v, c)) = last {
                if v == value {
                    codes.push(c);
                    continue;
                }
            }
            let code = match seen.get(value) {
                Some(&c) => c,
                None => {
                    if order.len() == MAX_DISTINCT {
                        return None;
                    }
                    let c = order.len() as u8;
                    seen.insert(value, c);
                    order.push(value);
                    c
                }
            };
            last = Some((value, code));
            codes.push(code);
        }
        let null_code = order.len() as u8;
        if null_code != NULL_PLACEHOLDER {
            for c in codes.iter_mut().filter(|c| **c == NULL_PLACEHOLDER) {
                *c = null_code;
            }
        }
        let with_null = order.iter().map(|v| Some(*v)).chain(std::iter::once(None));
        let values: ArrayRef = match array.data_type() {
            DataType::LargeUtf8 => Arc::new(LargeStringArray::from_iter(
                // Values come from a validated UTF-8 column, cut at its offsets.
                with_null.map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned())),
            )),
            _ => Arc::new(LargeBinaryArray::from_iter(with_null)),
        };
        let view_type = match array.data_type() {
            DataType::LargeUtf8 => DataType::Utf8View,
            _ => DataType::BinaryView,
        };
        let view_values = arrow::compute::cast(&values, &view_type).ok()?;
        Some(Self {
            values,
            view_values,
            codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_each_rows_value_and_nulls_share_the_last_code() {
        let a = LargeStringArray::from(vec![Some("b"), None, Some("a"), Some("b"), None]);
        let d = DistinctValues::build(&a).unwrap();
        assert_eq!(d.codes, vec![0, 2, 1, 0, 2]);
        let values = d.values.as_string::<i64>();
        assert_eq!(values.value(0), "b");
        assert_eq!(values.value(1), "a");
        assert!(values.is_null(2));
    }

    #[test]
    fn too_many_distinct_values_give_no_table() {
        let many: Vec<String> = (0..=MAX_DISTINCT).map(|i| i.to_string()).collect();
        let a = LargeStringArray::from_iter_values(many);
        assert!(DistinctValues::build(&a).is_none());
        let enough: Vec<String> = (0..MAX_DISTINCT).map(|i| i.to_string()).collect();
        let a = LargeStringArray::from_iter_values(enough);
        assert_eq!(
            DistinctValues::build(&a).unwrap().values.len(),
            MAX_DISTINCT + 1
        );
    }
}
