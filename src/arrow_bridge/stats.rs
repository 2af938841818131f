//! Column statistics gathered while writing: null count, min and max per zone and per segment.
//!
//! # Contract
//! - Min and max follow Arrow's ordering (`arrow::array::make_comparator`; floats in IEEE total
//!   order, so NaN sorts above +∞). They are recorded for booleans, integers, floats, dates,
//!   times, timestamps, durations, decimals, strings and binaries; not for nulls, intervals and
//!   fixed-size binaries, whose stats carry only the null count.
//! - A string or binary bound longer than [`MAX_BOUND_BYTES`] is not stored: the zone's (and the
//!   segment's) min/max are then absent ("unknown"), never truncated into a wrong bound.
//! - Encodings (docs/FORMAT.md, "Statistics"): little-endian value bytes for fixed-width
//!   types, the raw bytes for strings/binaries, one byte 0/1 for booleans.

use std::sync::Arc;

use arrow::array::{
    downcast_primitive_array, make_array, make_comparator, Array, ArrayDataBuilder, ArrayRef,
    ArrowPrimitiveType, AsArray, BooleanArray, LargeBinaryArray, LargeStringArray, PrimitiveArray,
};
use arrow::buffer::Buffer;
use arrow::compute::kernels::aggregate::{
    max, max_binary, max_binary_view, max_boolean, max_string, max_string_view, min, min_binary,
    min_binary_view, min_boolean, min_string, min_string_view,
};
use arrow::compute::SortOptions;
use arrow::datatypes::DataType;

use crate::error::Result;
use crate::native::footer::ColumnStats;

/// Longest string or binary min/max kept in the statistics.
pub const MAX_BOUND_BYTES: usize = 64;

/// Whether min/max are recorded for a type.
pub fn has_bounds(t: &DataType) -> bool {
    !matches!(
        t,
        DataType::Null | DataType::Interval(_) | DataType::FixedSizeBinary(_)
    ) && (t.is_primitive()
        || matches!(
            t,
            DataType::Boolean
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        ))
}

fn primitive_bounds<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>) -> Option<(ArrayRef, ArrayRef)> {
    let make = |v: T::Native| -> ArrayRef {
        Arc::new(PrimitiveArray::<T>::from_iter_values([v]).with_data_type(a.data_type().clone()))
    };
    Some((make(min(a)?), make(max(a)?)))
}

fn s(v: Option<&str>) -> Option<&[u8]> {
    v.map(str::as_bytes)
}

fn byte_bounds(lo: Option<&[u8]>, hi: Option<&[u8]>) -> Option<(ArrayRef, ArrayRef)> {
    let make = |v: &[u8]| -> ArrayRef { Arc::new(LargeBinaryArray::from_iter_values([v])) };
    Some((make(lo?), make(hi?)))
}

/// Min and max of the non-null values of `array` as one-row arrays, or `None` when every value
/// is null or the type has no recorded bounds. Strings and binaries come back as `LargeBinary`.
fn bounds(array: &dyn Array) -> Option<(ArrayRef, ArrayRef)> {
    match array.data_type() {
        t if !has_bounds(t) => None,
        DataType::Boolean => {
            let a = array.as_boolean();
            let make = |v: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![v])) };
            Some((make(min_boolean(a)?), make(max_boolean(a)?)))
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            byte_bounds(s(min_string(a)), s(max_string(a)))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            byte_bounds(s(min_string(a)), s(max_string(a)))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            byte_bounds(s(min_string_view(a)), s(max_string_view(a)))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            byte_bounds(min_binary(a), max_binary(a))
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            byte_bounds(min_binary(a), max_binary(a))
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            byte_bounds(min_binary_view(a), max_binary_view(a))
        }
        _ => downcast_primitive_array!(
            array => primitive_bounds(array),
            _ => None
        ),
    }
}

/// The encoded value of a one-row bounds array, or `None` if it is too long to keep.
fn encode_bound(a: &dyn Array) -> Option<Vec<u8>> {
    match a.data_type() {
        DataType::Boolean => Some(vec![a.as_boolean().value(0) as u8]),
        DataType::LargeBinary => {
            let v = a.as_binary::<i64>().value(0);
            (v.len() <= MAX_BOUND_BYTES).then(|| v.to_vec())
        }
        DataType::LargeUtf8 => {
            let v = a.as_string::<i64>().value(0).as_bytes();
            (v.len() <= MAX_BOUND_BYTES).then(|| v.to_vec())
        }
        DataType::Utf8View => {
            let v = a.as_string_view().value(0).as_bytes();
            (v.len() <= MAX_BOUND_BYTES).then(|| v.to_vec())
        }
        DataType::BinaryView => {
            let v = a.as_binary_view().value(0);
            (v.len() <= MAX_BOUND_BYTES).then(|| v.to_vec())
        }
        t => {
            let width = t.primitive_width()?;
            let data = a.to_data();
            let start = data.offset() * width;
            Some(data.buffers()[0].as_slice()[start..start + width].to_vec())
        }
    }
}

/// The inverse of the stored encoding: a one-row array of `read_type` (the type scans return)
/// holding the bound, or `None` if the bytes do not encode a value of that type.
pub fn decode_bound(bytes: &[u8], read_type: &DataType) -> Option<ArrayRef> {
    match read_type {
        DataType::Boolean => match bytes {
            [b @ (0 | 1)] => Some(Arc::new(BooleanArray::from(vec![*b == 1]))),
            _ => None,
        },
        DataType::LargeUtf8 => {
            let s = std::str::from_utf8(bytes).ok()?;
            Some(Arc::new(LargeStringArray::from(vec![s])))
        }
        DataType::LargeBinary => Some(Arc::new(LargeBinaryArray::from(vec![bytes]))),
        DataType::Utf8View => {
            decode_bound(bytes, &DataType::LargeUtf8).map(|a| super::views::to_view(&a))
        }
        DataType::BinaryView => {
            decode_bound(bytes, &DataType::LargeBinary).map(|a| super::views::to_view(&a))
        }
        t if has_bounds(t) => {
            let width = t.primitive_width()?;
            if bytes.len() != width {
                return None;
            }
            let data = ArrayDataBuilder::new(t.clone())
                .len(1)
                .add_buffer(Buffer::from_slice_ref(bytes))
                .build()
                .ok()?;
            Some(make_array(data))
        }
        _ => None,
    }
}

/// The smallest min and largest max over pieces (segments or zones) given as their
/// statistics and row counts, for a column whose scans return `read_type`. All-null pieces
/// are skipped; `None` when any other piece's bounds are unknown, or no piece has a value.
pub fn merge_bounds(
    pieces: &[(&ColumnStats, u64)],
    read_type: &DataType,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut acc = Accumulator::default();
    for (s, rows) in pieces {
        if s.null_count == *rows {
            continue;
        }
        let lo = decode_bound(s.min.as_deref()?, read_type)?;
        let hi = decode_bound(s.max.as_deref()?, read_type)?;
        acc.add(0, &Some((lo, hi))).ok()?;
    }
    let (lo, hi) = acc.bounds?;
    Some((encode_bound(lo.as_ref())?, encode_bound(hi.as_ref())?))
}

/// Null count and running bounds over some rows.
#[derive(Debug, Default)]
struct Accumulator {
    null_count: u64,
    bounds: Option<(ArrayRef, ArrayRef)>,
    /// Set when a bound could not be kept: min/max are then absent for good.
    unknown: bool,
}

impl Accumulator {
    fn add(&mut self, null_count: u64, piece: &Option<(ArrayRef, ArrayRef)>) -> Result<()> {
        self.null_count += null_count;
        let Some((lo, hi)) = piece else {
            return Ok(());
        };
        self.bounds = Some(match self.bounds.take() {
            None => (Arc::clone(lo), Arc::clone(hi)),
            Some((cur_lo, cur_hi)) => {
                let opts = SortOptions::default();
                let lo_cmp = make_comparator(lo.as_ref(), cur_lo.as_ref(), opts)?;
                let hi_cmp = make_comparator(hi.as_ref(), cur_hi.as_ref(), opts)?;
                (
                    if lo_cmp(0, 0).is_lt() {
                        Arc::clone(lo)
                    } else {
                        cur_lo
                    },
                    if hi_cmp(0, 0).is_gt() {
                        Arc::clone(hi)
                    } else {
                        cur_hi
                    },
                )
            }
        });
        Ok(())
    }

    fn finish(&self) -> ColumnStats {
        let (min, max) = match (&self.bounds, self.unknown) {
            (Some((lo, hi)), false) => match (encode_bound(lo.as_ref()), encode_bound(hi.as_ref()))
            {
                (Some(lo), Some(hi)) => (Some(lo), Some(hi)),
                _ => (None, None),
            },
            _ => (None, None),
        };
        ColumnStats {
            null_count: self.null_count,
            min,
            max,
        }
    }
}

/// Gathers one column's statistics for one segment, zone by zone.
#[derive(Debug)]
pub struct StatsBuilder {
    zone_rows: usize,
    rows_in_zone: usize,
    zone: Accumulator,
    segment: Accumulator,
    zones: Vec<ColumnStats>,
}

impl StatsBuilder {
    /// A builder cutting zones every `zone_rows` rows (at least 1).
    pub fn new(zone_rows: usize) -> Self {
        Self {
            zone_rows: zone_rows.max(1),
            rows_in_zone: 0,
            zone: Accumulator::default(),
            segment: Accumulator::default(),
            zones: Vec::new(),
        }
    }

    /// Adds the rows of `array`.
    pub fn update(&mut self, array: &dyn Array) -> Result<()> {
        let mut offset = 0;
        while offset < array.len() {
            let take = (self.zone_rows - self.rows_in_zone).min(array.len() - offset);
            let piece = array.slice(offset, take);
            let nulls = piece.logical_null_count() as u64;
            let b = bounds(piece.as_ref());
            if let Some((lo, hi)) = &b {
                let too_long =
                    encode_bound(lo.as_ref()).is_none() || encode_bound(hi.as_ref()).is_none();
                self.zone.unknown |= too_long;
                self.segment.unknown |= too_long;
            }
            self.zone.add(nulls, &b)?;
            self.segment.add(nulls, &b)?;
            self.rows_in_zone += take;
            offset += take;
            if self.rows_in_zone == self.zone_rows {
                self.zones.push(std::mem::take(&mut self.zone).finish());
                self.rows_in_zone = 0;
            }
        }
        Ok(())
    }

    /// Segment statistics and per-zone statistics.
    pub fn finish(mut self) -> (ColumnStats, Vec<ColumnStats>) {
        if self.rows_in_zone > 0 {
            self.zones.push(self.zone.finish());
        }
        (self.segment.finish(), self.zones)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int32Array, StringArray};

    #[test]
    fn zones_and_segment_get_their_own_null_counts_and_bounds() {
        let mut b = StatsBuilder::new(3);
        b.update(&Int32Array::from(vec![Some(5), None, Some(-2), Some(9)]))
            .unwrap();
        b.update(&Int32Array::from(vec![None, Some(1), None]))
            .unwrap();
        let (seg, zones) = b.finish();
        assert_eq!(seg.null_count, 3);
        assert_eq!(seg.min, Some((-2i32).to_le_bytes().to_vec()));
        assert_eq!(seg.max, Some(9i32.to_le_bytes().to_vec()));
        assert_eq!(zones.len(), 3);
        assert_eq!(zones[1].min, Some(1i32.to_le_bytes().to_vec()));
        assert_eq!(zones[1].max, Some(9i32.to_le_bytes().to_vec()));
        assert_eq!(
            zones[2],
            ColumnStats {
                null_count: 1,
                min: None,
                max: None
            }
        );
    }

    #[test]
    fn long_strings_leave_bounds_unknown_rather_than_truncated() {
        let long = "x".repeat(MAX_BOUND_BYTES + 1);
        let mut b = StatsBuilder::new(2);
        b.update(&StringArray::from(vec!["b", "a", long.as_str(), "c"]))
            .unwrap();
        let (seg, zones) = b.finish();
        assert_eq!((seg.min, seg.max), (None, None));
        assert_eq!(zones[0].min.as_deref(), Some(&b"a"[..]));
        assert_eq!(zones[1].min, None);
    }

    #[test]
    fn decoded_bounds_are_the_values_that_were_encoded() {
        let mut b = StatsBuilder::new(10);
        b.update(&StringArray::from(vec!["pear", "apple"])).unwrap();
        let (seg, _) = b.finish();
        let min = decode_bound(seg.min.as_deref().unwrap(), &DataType::LargeUtf8).unwrap();
        assert_eq!(min.as_string::<i64>().value(0), "apple");
        let mut b = StatsBuilder::new(10);
        b.update(&Int32Array::from(vec![7, -3])).unwrap();
        let (seg, _) = b.finish();
        let min = decode_bound(seg.min.as_deref().unwrap(), &DataType::Int32).unwrap();
        assert_eq!(
            min.as_primitive::<arrow::datatypes::Int32Type>().value(0),
            -3
        );
        assert!(decode_bound(&[1, 2, 3], &DataType::Int32).is_none());
    }

    #[test]
    fn nan_sorts_above_infinity() {
        let mut b = StatsBuilder::new(10);
        b.update(&Float64Array::from(vec![1.0, f64::NAN])).unwrap();
        b.update(&Float64Array::from(vec![f64::INFINITY])).unwrap();
        let (seg, _) = b.finish();
        let max = f64::from_le_bytes(seg.max.unwrap().try_into().unwrap());
        assert!(max.is_nan());
    }
}
