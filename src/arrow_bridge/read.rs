//! Zero-copy Arrow arrays over an open segment (the read half of the bridge).
//!
//! # Contract
//! - [`SegmentReader::column`] returns the whole column of the segment as one Arrow array
//!   whose values, offsets and validity buffers are slices of the segment's read-only mapping:
//!   nothing is copied or decoded. Slicing it (`Array::slice`) is O(1) and zero-copy too.
//! - A column's contents are checked the first time it is used — offsets and UTF-8 for
//!   variable-width columns, the validity bitmap's null count for all — once per open segment;
//!   the array is then cached. Arrays of columns that are never asked for are never built, so a
//!   query that reads two columns never touches the pages of the others.
//! - Strings read as `LargeUtf8` and binaries as `LargeBinary`: the offsets buffer starts 8
//!   bytes before the offsets region, on the zero prefix the format guarantees.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    make_array, new_null_array, Array, ArrayDataBuilder, ArrayRef, AsArray, BinaryViewArray,
    BooleanArray, FixedSizeListArray, LargeBinaryArray, LargeListArray, LargeStringArray, MapArray,
    StringViewArray, StructArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, SchemaRef};

use super::types::{read_field, read_schema};
use crate::error::{Error, Result};
use crate::native::footer::{ColumnMeta, Region};
use crate::native::schema::{ColumnType, Layout, TableSchema};
use crate::native::segment::SegmentFile;

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

/// An open segment that hands out zero-copy Arrow arrays.
#[derive(Debug)]
pub struct SegmentReader {
    file: SegmentFile,
    /// The whole mapping as one Arrow buffer; column buffers are slices of it.
    buffer: Buffer,
    columns: Vec<OnceLock<ArrayRef>>,
    /// View forms (`Utf8View` / `BinaryView`) of string and binary columns, built on demand.
    view_columns: Vec<OnceLock<ArrayRef>>,
}

impl SegmentReader {
    /// Wraps an open, layout-checked segment.
    pub fn new(file: SegmentFile) -> Self {
        let buffer = Buffer::from(file.bytes().clone());
        let cells = || {
            file.footer()
                .columns
                .iter()
                .map(|_| OnceLock::new())
                .collect()
        };
        let (columns, view_columns) = (cells(), cells());
        Self {
            file,
            buffer,
            columns,
            view_columns,
        }
    }

    /// The underlying segment file.
    pub fn file(&self) -> &SegmentFile {
        &self.file
    }

    /// Rows in the segment.
    pub fn num_rows(&self) -> usize {
        self.file.row_count() as usize
    }

    /// The Arrow schema of the segment's arrays.
    pub fn schema(&self) -> SchemaRef {
        let footer = self.file.footer();
        read_schema(&TableSchema {
            columns: footer.columns.iter().map(|c| c.def.clone()).collect(),
            metadata: footer.metadata.clone(),
        })
    }

    /// The address range of the mapping, for callers that prove buffers point into it.
    pub fn mapping_range(&self) -> std::ops::Range<usize> {
        let start = self.buffer.as_ptr() as usize;
        start..start + self.buffer.len()
    }

    fn slice(&self, r: Region) -> Buffer {
        self.buffer
            .slice_with_length(r.offset as usize, r.len as usize)
    }

    /// Column `index` over the whole segment (see the module contract).
    pub fn column(&self, index: usize) -> Result<ArrayRef> {
        let cell = self.columns.get(index).ok_or_else(|| {
            Error::invalid(format!(
                "column index {index} out of range: the segment has {} columns",
                self.columns.len()
            ))
        })?;
        if let Some(array) = cell.get() {
            return Ok(Arc::clone(array));
        }
        let array = self.build_column(index)?;
        Ok(Arc::clone(cell.get_or_init(|| array)))
    }

    /// Column `index` with strings as `Utf8View` and binaries as `BinaryView`: the values
    /// stay in the mapping; the views (16 bytes per row) are built on first use and cached for
    /// the life of the segment. Other columns are returned as by [`Self::column`].
    pub fn column_view(&self, index: usize) -> Result<ArrayRef> {
        let array = self.column(index)?;
        if !matches!(
            array.data_type(),
            DataType::LargeUtf8 | DataType::LargeBinary
        ) {
            return Ok(array);
        }
        let cell = &self.view_columns[index];
        if let Some(v) = cell.get() {
            return Ok(Arc::clone(v));
        }
        let v = to_view(&array);
        Ok(Arc::clone(cell.get_or_init(|| v)))
    }

    fn build_column(&self, index: usize) -> Result<ArrayRef> {
        self.build_array(&self.file.footer().columns[index])
    }

    /// The offsets region of `meta` as an Arrow offsets buffer of `rows + 1` entries, starting
    /// on the 8 zero bytes before the region. Callers have run `check_contents` on `meta`.
    fn offsets(&self, meta: &ColumnMeta) -> OffsetBuffer<i64> {
        let region = meta
            .regions
            .offsets
            .expect("check_layout guarantees an offsets region for variable and list layouts");
        let with_prefix = Region {
            offset: region.offset - 8,
            len: region.len + 8,
            crc32c: 0,
        };
        let scalars = ScalarBuffer::<i64>::new(self.slice(with_prefix), 0, meta.rows as usize + 1);
        // SAFETY: entry 0 is the zero prefix `open` checked; `check_contents` (run by the
        // caller) checked the ends are non-decreasing and the last is the data length or the
        // child's row count (both fit in i64); 64-byte alignment let `ScalarBuffer::new` in.
        unsafe { OffsetBuffer::new_unchecked(scalars) }
    }

    /// Builds the array of one column (recursively for nested columns), checking its contents
    /// first. Leaves are zero-copy; nested arrays are assembled with Arrow's checked
    /// constructors around zero-copy children (map offsets, which Arrow keeps as `i32`, are
    /// converted).
    fn build_array(&self, meta: &ColumnMeta) -> Result<ArrayRef> {
        let n = meta.rows as usize;
        let field = read_field(&meta.def);
        let layout = meta.def.column_type.layout();
        if layout == Layout::Null {
            return Ok(new_null_array(&DataType::Null, n));
        }
        self.file.check_contents(meta)?;
        let nulls = meta.regions.validity.map(|v| {
            let bits = BooleanBuffer::new(self.slice(v), 0, n);
            // SAFETY: `check_contents` (just above) counted the bitmap's cleared bits among the
            // first `n` and found exactly the footer's null count; `open` checked the bitmap
            // region holds `ceil(n / 8)` bytes.
            unsafe { NullBuffer::new_unchecked(bits, meta.stats.null_count as usize) }
        });
        let corrupt = |e: arrow::error::ArrowError| {
            Error::corrupt(self.file.path(), format!("column \"{}\"", meta.def.name), e)
        };
        let data = || {
            meta.regions
                .data
                .map(|r| self.slice(r))
                .expect("check_layout guarantees a data region for value layouts")
        };
        let children = || {
            meta.children
                .iter()
                .map(|c| self.build_array(c))
                .collect::<Result<Vec<_>>>()
        };
        let child_field = |i: usize| Arc::new(read_field(&meta.def.children[i]));
        match layout {
            Layout::Null => unreachable!("handled above"),
            Layout::Bits => Ok(Arc::new(BooleanArray::new(
                BooleanBuffer::new(data(), 0, n),
                nulls,
            ))),
            Layout::Fixed { .. } => {
                // `build` re-checks lengths, alignment and the null count: O(n / 8), once.
                let array = ArrayDataBuilder::new(field.data_type().clone())
                    .len(n)
                    .add_buffer(data())
                    .nulls(nulls)
                    .build()
                    .map_err(corrupt)?;
                Ok(make_array(array))
            }
            Layout::Variable { utf8 } => {
                let offsets = self.offsets(meta);
                if utf8 {
                    // SAFETY: as for `offsets`, plus `check_contents` validated that the data
                    // is UTF-8 and that every offset falls on a character boundary.
                    Ok(Arc::new(unsafe {
                        LargeStringArray::new_unchecked(offsets, data(), nulls)
                    }))
                } else {
                    // SAFETY: as for `offsets`; binary values need no further check.
                    Ok(Arc::new(unsafe {
                        LargeBinaryArray::new_unchecked(offsets, data(), nulls)
                    }))
                }
            }
            Layout::List => {
                let offsets = self.offsets(meta);
                let child = children()?.remove(0);
                if let ColumnType::Map(sorted) = meta.def.column_type {
                    let narrow: Vec<i32> = offsets
                        .iter()
                        .map(|&o| i32::try_from(o))
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|_| {
                            corrupt(arrow::error::ArrowError::InvalidArgumentError(
                                "a map column has more than 2^31 entries".into(),
                            ))
                        })?;
                    let entries = child.as_struct_opt().cloned().ok_or_else(|| {
                        corrupt(arrow::error::ArrowError::InvalidArgumentError(
                            "map entries are not a struct".into(),
                        ))
                    })?;
                    let array = MapArray::try_new(
                        child_field(0),
                        OffsetBuffer::new(ScalarBuffer::from(narrow)),
                        entries,
                        nulls,
                        sorted,
                    )
                    .map_err(corrupt)?;
                    return Ok(Arc::new(array));
                }
                let array = LargeListArray::try_new(child_field(0), offsets, child, nulls)
                    .map_err(corrupt)?;
                Ok(Arc::new(array))
            }
            Layout::FixedList { size } => {
                let child = children()?.remove(0);
                let array = FixedSizeListArray::try_new(child_field(0), size as i32, child, nulls)
                    .map_err(corrupt)?;
                Ok(Arc::new(array))
            }
            Layout::Struct => {
                let DataType::Struct(fields) = field.data_type() else {
                    unreachable!("a struct column reads as a struct")
                };
                let array = if fields.is_empty() {
                    StructArray::new_empty_fields(n, nulls)
                } else {
                    StructArray::try_new(fields.clone(), children()?, nulls).map_err(corrupt)?
                };
                Ok(Arc::new(array))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
