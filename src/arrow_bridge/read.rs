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

use arrow::array::ArrayDataBuilder;
use arrow::array::{
    make_array, new_null_array, ArrayRef, AsArray, BinaryViewArray, BooleanArray, LargeBinaryArray,
    LargeStringArray, StringViewArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, SchemaRef};

use super::types::{read_schema, read_type};
use crate::error::{Error, Result};
use crate::native::footer::Region;
use crate::native::schema::{Layout, TableSchema};
use crate::native::segment::SegmentFile;

/// `array` as a view array if it is a `LargeUtf8` / `LargeBinary` array (else unchanged). The
/// values buffer is shared, not copied; only the 16-byte views are built, O(rows).
pub fn to_view(array: &ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::LargeUtf8 => Arc::new(StringViewArray::from(array.as_string::<i64>())),
        DataType::LargeBinary => Arc::new(BinaryViewArray::from(array.as_binary::<i64>())),
        _ => Arc::clone(array),
    }
}

/// An open segment that hands out zero-copy Arrow arrays.
#[derive(Debug)]
pub struct SegmentReader {
    file: SegmentFile,
    /// The whole mapping as one Arrow buffer; column buffers are slices of it.
    buffer: Buffer,
    columns: Vec<OnceLock<ArrayRef>>,
}

impl SegmentReader {
    /// Wraps an open, layout-checked segment.
    pub fn new(file: SegmentFile) -> Self {
        let buffer = Buffer::from(file.bytes().clone());
        let columns = file
            .footer()
            .columns
            .iter()
            .map(|_| OnceLock::new())
            .collect();
        Self {
            file,
            buffer,
            columns,
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

    fn build_column(&self, index: usize) -> Result<ArrayRef> {
        let meta = &self.file.footer().columns[index];
        let n = self.num_rows();
        let data_type = read_type(&meta.def.column_type);
        let layout = meta.def.column_type.layout();
        if layout == Layout::Null {
            return Ok(new_null_array(&DataType::Null, n));
        }
        self.file.check_validity(index)?;
        let nulls = meta.regions.validity.map(|v| {
            let bits = BooleanBuffer::new(self.slice(v), 0, n);
            // SAFETY: `check_validity` (just above) counted the bitmap's cleared bits among the
            // first `n` and found exactly the footer's null count; `open` checked the bitmap
            // region holds `ceil(n / 8)` bytes.
            unsafe { NullBuffer::new_unchecked(bits, meta.stats.null_count as usize) }
        });
        let data = meta
            .regions
            .data
            .expect("check_layout guarantees a data region for non-null layouts");
        let corrupt = |e: arrow::error::ArrowError| {
            Error::corrupt(self.file.path(), format!("column \"{}\"", meta.def.name), e)
        };
        match layout {
            Layout::Null => unreachable!("handled above"),
            Layout::Bits => Ok(Arc::new(BooleanArray::new(
                BooleanBuffer::new(self.slice(data), 0, n),
                nulls,
            ))),
            Layout::Fixed { .. } => {
                // `build` re-checks lengths, alignment and the null count: O(n / 8), once.
                let array = ArrayDataBuilder::new(data_type)
                    .len(n)
                    .add_buffer(self.slice(data))
                    .nulls(nulls)
                    .build()
                    .map_err(corrupt)?;
                Ok(make_array(array))
            }
            Layout::Variable { utf8 } => {
                self.file.check_variable(index)?;
                let offsets_region = meta
                    .regions
                    .offsets
                    .expect("check_layout guarantees an offsets region for variable layouts");
                // The 8 zero bytes before the region make it an n + 1 entry Arrow offsets buffer.
                let with_prefix = Region {
                    offset: offsets_region.offset - 8,
                    len: offsets_region.len + 8,
                    crc32c: 0,
                };
                let scalars = ScalarBuffer::<i64>::new(self.slice(with_prefix), 0, n + 1);
                // SAFETY:
                // - `open` checked the 8 bytes before the region are zero, so entry 0 is 0;
                // - `check_variable` (just above) checked every end offset is non-decreasing and
                //   the last equals the data length (which fits in the file, so in i64);
                // - the buffer is 64-byte aligned (region alignment on a page-aligned mapping),
                //   so `ScalarBuffer::new` accepted it.
                let offsets = unsafe { OffsetBuffer::new_unchecked(scalars) };
                let values = self.slice(data);
                if utf8 {
                    // SAFETY: as for `offsets`, plus `check_variable` validated that the data is
                    // UTF-8 and that every offset falls on a character boundary.
                    Ok(Arc::new(unsafe {
                        LargeStringArray::new_unchecked(offsets, values, nulls)
                    }))
                } else {
                    // SAFETY: as for `offsets`; binary values need no further check.
                    Ok(Arc::new(unsafe {
                        LargeBinaryArray::new_unchecked(offsets, values, nulls)
                    }))
                }
            }
        }
    }
}
