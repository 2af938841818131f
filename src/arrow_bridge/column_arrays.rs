//! The zero-copy Arrow array of one dense column of a segment, built over the mapping. Every
//! `unsafe` Arrow constructor of the segment read path is here, each after the check it relies on.
//!
//! # Contract
//! - [`ColumnArrays::build`] runs the checks of `SegmentFile::check_contents` on the column
//!   (and each child) first — the validity in [`ColumnArrays::nulls`], then `check_values`,
//!   each once — then builds the array with the stored validity bitmap and offsets: leaves are slices
//!   of the mapping, nested arrays are assembled with Arrow's checked constructors around them
//!   (map offsets, which Arrow keeps as `i32`, are converted).
//! - Strings read as `LargeUtf8` and binaries as `LargeBinary`: the offsets buffer starts 8
//!   bytes before the offsets region, on the zero prefix the format guarantees.
//! - [`ColumnArrays::gather_variable`] copies a few rows of a string or binary column without
//!   building (or checking) the whole column: it checks exactly what it reads — each row's two
//!   offsets against each other and the data region, each value's UTF-8, each row's validity
//!   bit — so it touches only those rows' pages (a cold `take`).

use std::sync::Arc;

use arrow::array::{
    make_array, new_null_array, ArrayDataBuilder, ArrayRef, AsArray, BooleanArray,
    FixedSizeListArray, LargeBinaryArray, LargeListArray, LargeStringArray, MapArray, StructArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use super::types::read_field;
use crate::error::{Error, Result};
use crate::native::footer::{ColumnMeta, Region};
use crate::native::schema::{ColumnType, Layout};
use crate::native::segment::{u64_at, SegmentFile};

/// Builds arrays of `file`'s columns over its mapping.
pub(crate) struct ColumnArrays<'a> {
    pub(crate) file: &'a SegmentFile,
}

impl ColumnArrays<'_> {
    /// Region `r` of the mapping as its own Arrow buffer (zero-copy, sharing the mapping). Its
    /// own, not a slice of one whole-file buffer: a buffer's capacity is what DataFusion's
    /// memory accounting charges each batch holding it, so a slice of the whole file would
    /// charge every batch the size of the segment.
    fn slice(&self, r: Region) -> Buffer {
        let start = r.offset as usize;
        Buffer::from(self.file.bytes().slice(start..start + r.len as usize))
    }

    /// The offsets region of `meta` as an Arrow offsets buffer of `rows + 1` entries, starting
    /// on the 8 zero bytes before the region.
    ///
    /// # Safety
    /// `meta` is a variable-width or list column of this segment's footer, and
    /// [`SegmentFile::check_contents`] (or its offsets part, [`SegmentFile::check_values`])
    /// returned `Ok` for it: the ends are then non-decreasing
    /// and the last is the data length or the child's row count.
    unsafe fn offsets(&self, meta: &ColumnMeta) -> OffsetBuffer<i64> {
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
        // SAFETY: `OffsetBuffer` needs non-empty, non-negative, non-decreasing `i64` entries:
        // - entry 0 is the zero prefix `SegmentFile::from_bytes` checked;
        // - the caller's `check_values` (this fn's contract) checked the ends non-decreasing
        //   up to the last, the data length or the child's row count;
        // - both fit in `i64`: a data region lies inside the file, and `check_layout` refuses
        //   any column (list children included) of more than `i64::MAX` rows;
        // - 64-byte alignment (checked by `check_layout`) let `ScalarBuffer::new` in.
        unsafe { OffsetBuffer::new_unchecked(scalars) }
    }

    /// The validity of `meta`'s rows, checked against the footer's null count.
    pub(crate) fn nulls(&self, meta: &ColumnMeta) -> Result<Option<NullBuffer>> {
        self.file.check_validity(meta)?;
        let n = meta.rows as usize;
        Ok(meta.regions.validity.map(|v| {
            let bits = BooleanBuffer::new(self.slice(v), 0, n);
            // SAFETY: `check_validity` (just above) counted the bitmap's cleared bits among
            // the first `n` and found exactly the footer's null count; `open` checked the
            // bitmap region holds `ceil(n / 8)` bytes.
            unsafe { NullBuffer::new_unchecked(bits, meta.stats.null_count as usize) }
        }))
    }

    /// An error at row `row` of column `meta`.
    pub(crate) fn row_error(&self, meta: &ColumnMeta, row: usize, detail: String) -> Error {
        Error::corrupt(
            self.file.path(),
            format!("column \"{}\", row {row}", meta.def.name),
            detail,
        )
    }

    /// The start of a gather of `rows` of `meta` (`gather_variable`, `gather_encoded`): checks
    /// every row is inside the column and returns each row's validity, read from its own bit
    /// (no whole-bitmap check); `None` when the column has no nulls.
    pub(crate) fn gathered_validity(
        &self,
        meta: &ColumnMeta,
        rows: &[usize],
    ) -> Result<Option<Vec<bool>>> {
        if let Some(&row) = rows.iter().find(|&&r| r as u64 >= meta.rows) {
            return Err(Error::invalid(format!(
                "row {row} is past the end of column \"{}\" ({} rows)",
                meta.def.name, meta.rows
            )));
        }
        Ok(meta.regions.validity.map(|v| {
            let bits = self.file.region(v);
            rows.iter()
                .map(|&r| bits[r / 8] >> (r % 8) & 1 == 1)
                .collect()
        }))
    }

    /// Gathered values of variable-width column `meta` (one per row of `rows`, `None` for
    /// nulls) as a `LargeUtf8` array, each value checked to be UTF-8, or for binary columns a
    /// `LargeBinary` one.
    pub(crate) fn gathered_bytes(
        &self,
        meta: &ColumnMeta,
        rows: &[usize],
        values: Vec<Option<&[u8]>>,
    ) -> Result<ArrayRef> {
        if !matches!(
            meta.def.column_type.layout(),
            Layout::Variable { utf8: true }
        ) {
            return Ok(Arc::new(LargeBinaryArray::from_iter(values)));
        }
        let strings = values
            .into_iter()
            .zip(rows)
            .map(|(v, &row)| {
                v.map(|b| {
                    std::str::from_utf8(b).map_err(|e| self.row_error(meta, row, format!("{e}")))
                })
                .transpose()
            })
            .collect::<Result<Vec<Option<&str>>>>()?;
        Ok(Arc::new(LargeStringArray::from_iter(strings)))
    }

    /// Rows `rows` (each `< meta.rows`, any order) of variable-width column `meta`, copied
    /// into a new array, checking only what is read; `None` for other layouts.
    pub(crate) fn gather_variable(
        &self,
        meta: &ColumnMeta,
        rows: &[usize],
    ) -> Result<Option<ArrayRef>> {
        if !matches!(meta.def.column_type.layout(), Layout::Variable { .. }) {
            return Ok(None);
        }
        if meta.encoding.is_some() {
            return Ok(None);
        }
        let (Some(data_r), Some(off_r)) = (meta.regions.data, meta.regions.offsets) else {
            unreachable!("check_layout guarantees data and offsets for variable columns")
        };
        let (data, offsets) = (self.file.region(data_r), self.file.region(off_r));
        let validity = self.gathered_validity(meta, rows)?;
        let mut values: Vec<Option<&[u8]>> = Vec::with_capacity(rows.len());
        for (i, &row) in rows.iter().enumerate() {
            if validity.as_ref().is_some_and(|v| !v[i]) {
                values.push(None);
                continue;
            }
            // End offsets with no leading zero: row r spans [end(r - 1), end(r)).
            let end = u64_at(offsets, 8 * row);
            let start = if row == 0 {
                0
            } else {
                u64_at(offsets, 8 * (row - 1))
            };
            if start > end || end > data.len() as u64 {
                return Err(self.row_error(
                    meta,
                    row,
                    format!(
                        "offsets {start}..{end} outside the {}-byte data region",
                        data.len()
                    ),
                ));
            }
            values.push(Some(&data[start as usize..end as usize]));
        }
        self.gathered_bytes(meta, rows, values).map(Some)
    }

    /// Builds the array of one column (recursively for nested columns), checking its contents
    /// first. Leaves are zero-copy; nested arrays are assembled with Arrow's checked
    /// constructors around zero-copy children (map offsets, which Arrow keeps as `i32`, are
    /// converted).
    pub(crate) fn build(&self, meta: &ColumnMeta) -> Result<ArrayRef> {
        let n = meta.rows as usize;
        let field = read_field(&meta.def);
        let layout = meta.def.column_type.layout();
        if layout == Layout::Null {
            return Ok(new_null_array(&DataType::Null, n));
        }
        if let Some(encoding) = &meta.encoding {
            return self.build_encoded(meta, encoding, 0..n, None);
        }
        // The validity first (`nulls` checks it), then the values: each checked once.
        let nulls = self.nulls(meta)?;
        self.file.check_values(meta)?;
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
                .map(|c| self.build(c))
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
                // SAFETY: `check_values(meta)` returned `Ok` above; `meta` is variable-width.
                let offsets = unsafe { self.offsets(meta) };
                if utf8 {
                    // SAFETY: the offsets are valid (see `offsets`), and `check_values`
                    // validated that the data is UTF-8 and that every offset falls on a
                    // character boundary.
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
                // SAFETY: `check_values(meta)` returned `Ok` above; `meta` is a list.
                let offsets = unsafe { self.offsets(meta) };
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
