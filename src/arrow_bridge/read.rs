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
//! - A [`SegmentReader`] sees the segment through its table's schema: a table column may be a
//!   dense column of the segment (zero-copy as above), an overflow-bag key (decoded for the
//!   rows asked, never cached), absent (all null: written before the column existed), or
//!   stored as a narrower type (cast once to the table's type and cached: not zero-copy).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    make_array, new_null_array, Array, ArrayDataBuilder, ArrayRef, AsArray, BinaryViewArray,
    BooleanArray, FixedSizeListArray, LargeBinaryArray, LargeListArray, LargeStringArray, MapArray,
    StringViewArray, StructArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, SchemaRef};

use super::bag::{self, Rows};
use super::types::{read_field, read_schema, view_type};
use super::widen::readable_as;
use crate::error::{Error, Result};
use crate::native::footer::{zone_count, ColumnMeta, ColumnStats, Region, SegmentFooter};
use crate::native::schema::{ColumnType, Layout, TableSchema};
use crate::native::segment::SegmentFile;
use crate::overflow::bag::check_keys;
use crate::overflow::Bag;

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

/// Where a table column's values are in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A dense column: index into the footer's columns.
    Dense(usize),
    /// The overflow bag: index into the footer's bag keys.
    Bag(usize),
    /// Not in the segment (written before the column was added): every row is null.
    Absent,
}

/// Statistics of a column that the footer cannot lend as they are: absent columns (all
/// null) and columns stored as a narrower type (bounds dropped).
#[derive(Debug)]
struct OwnedStats {
    stats: ColumnStats,
    zones: Vec<ColumnStats>,
}

/// An open segment, seen through its table's schema: hands out zero-copy Arrow arrays of
/// dense columns and decoded arrays of overflow keys.
#[derive(Debug)]
pub struct SegmentReader {
    file: SegmentFile,
    /// The whole mapping as one Arrow buffer; column buffers are slices of it.
    buffer: Buffer,
    /// The table's read schema.
    schema: SchemaRef,
    /// Per table column: where it is, and whether it is stored as another (narrower) type.
    storage: Vec<(Storage, bool)>,
    owned_stats: Vec<Option<OwnedStats>>,
    columns: Vec<OnceLock<ArrayRef>>,
    /// View forms (`Utf8View` / `BinaryView`) of string and binary columns, built on demand.
    view_columns: Vec<OnceLock<ArrayRef>>,
    /// The overflow bag, opened (keys and offsets checked) on first use.
    bag: OnceLock<Bag>,
}

/// Where each table column is in a segment with `footer`, checked: dense columns appear in
/// table order, every dense column and bag key is a table column whose type it can be read
/// as, and non-nullable table columns are dense. Returns `(storage, needs cast)` per column.
fn map_columns(
    footer: &SegmentFooter,
    table: &TableSchema,
) -> std::result::Result<Vec<(Storage, bool)>, String> {
    let bag_keys = footer.bag.as_ref().map_or(&[][..], |b| &b.keys[..]);
    let by_name: HashMap<&str, usize> = bag_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.def.name.as_str(), i))
        .collect();
    let mut next_dense = 0;
    let mut used_keys = 0;
    let mut out = Vec::with_capacity(table.columns.len());
    for t in &table.columns {
        let dense = footer
            .columns
            .get(next_dense)
            .filter(|c| c.def.name == t.name);
        let (storage, stored) = if let Some(c) = dense {
            next_dense += 1;
            (Storage::Dense(next_dense - 1), &c.def)
        } else if let Some(&k) = by_name.get(t.name.as_str()) {
            used_keys += 1;
            (Storage::Bag(k), &bag_keys[k].def)
        } else {
            if !t.nullable {
                return Err(format!("non-nullable column \"{}\" is missing", t.name));
            }
            out.push((Storage::Absent, false));
            continue;
        };
        if !readable_as(stored, t) {
            return Err(format!(
                "column \"{}\" is stored as {:?}, which cannot be read as the table's {:?}",
                t.name, stored.column_type, t.column_type
            ));
        }
        if !t.nullable && !matches!(storage, Storage::Dense(_)) {
            return Err(format!(
                "non-nullable column \"{}\" is in the overflow bag",
                t.name
            ));
        }
        let cast = read_field(stored).data_type() != read_field(t).data_type();
        out.push((storage, cast));
    }
    if let Some(c) = footer.columns.get(next_dense) {
        return Err(format!(
            "column \"{}\" is not in the table schema (or out of order)",
            c.def.name
        ));
    }
    if used_keys != bag_keys.len() {
        return Err("an overflow key is not a column of the table schema".into());
    }
    Ok(out)
}

impl SegmentReader {
    /// Wraps an open, layout-checked segment of a table with schema `table`; fails if the
    /// segment's columns do not fit that schema (see `map_columns`).
    pub fn new(file: SegmentFile, table: &TableSchema) -> Result<Self> {
        let footer = file.footer();
        let storage = map_columns(footer, table).map_err(|detail| {
            Error::corrupt(file.path(), "footer", format!("{detail} (table schema)"))
        })?;
        if let Some(bag) = &footer.bag {
            check_keys(&bag.keys).map_err(|detail| {
                Error::corrupt(file.path(), "footer, overflow key dictionary", detail)
            })?;
        }
        let zone_rows =
            |z: usize| (footer.row_count - z as u64 * footer.zone_rows).min(footer.zone_rows);
        let owned_stats = storage
            .iter()
            .map(|&(s, cast)| {
                let nulls = |null_count| ColumnStats {
                    null_count,
                    ..Default::default()
                };
                match s {
                    Storage::Absent => Some(OwnedStats {
                        stats: nulls(footer.row_count),
                        zones: (0..zone_count(footer.row_count, footer.zone_rows) as usize)
                            .map(|z| nulls(zone_rows(z)))
                            .collect(),
                    }),
                    _ if cast => {
                        let (stats, zones) = Self::footer_stats(footer, s);
                        Some(OwnedStats {
                            stats: nulls(stats.null_count),
                            zones: zones.iter().map(|z| nulls(z.null_count)).collect(),
                        })
                    }
                    _ => None,
                }
            })
            .collect();
        let buffer = Buffer::from(file.bytes().clone());
        let cells = || storage.iter().map(|_| OnceLock::new()).collect();
        let (columns, view_columns) = (cells(), cells());
        Ok(Self {
            file,
            buffer,
            schema: read_schema(table),
            storage,
            owned_stats,
            columns,
            view_columns,
            bag: OnceLock::new(),
        })
    }

    fn footer_stats(footer: &SegmentFooter, s: Storage) -> (&ColumnStats, &[ColumnStats]) {
        match s {
            Storage::Dense(i) => (&footer.columns[i].stats, &footer.columns[i].zones),
            Storage::Bag(k) => {
                let key = &footer.bag.as_ref().expect("a bag key implies a bag").keys[k];
                (&key.stats, &key.zones)
            }
            Storage::Absent => unreachable!("absent columns have owned statistics"),
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

    /// The Arrow schema of the arrays (the table's read schema).
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Where table column `index` is stored in this segment.
    pub fn storage(&self, index: usize) -> Storage {
        self.storage[index].0
    }

    /// Null count and bounds of table column `index` over the segment (bounds unknown for
    /// columns stored as a narrower type).
    pub fn stats(&self, index: usize) -> &ColumnStats {
        match &self.owned_stats[index] {
            Some(o) => &o.stats,
            None => Self::footer_stats(self.file.footer(), self.storage[index].0).0,
        }
    }

    /// As [`Self::stats`], for zone `zone`.
    pub fn zone_stats(&self, index: usize, zone: usize) -> &ColumnStats {
        match &self.owned_stats[index] {
            Some(o) => &o.zones[zone],
            None => &Self::footer_stats(self.file.footer(), self.storage[index].0).1[zone],
        }
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

    fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.storage.len() {
            return Err(Error::invalid(format!(
                "column index {index} out of range: the table has {} columns",
                self.storage.len()
            )));
        }
        Ok(())
    }

    /// The overflow bag (opened on first use).
    fn bag(&self) -> Result<&Bag> {
        if let Some(bag) = self.bag.get() {
            return Ok(bag);
        }
        let bag = Bag::open(&self.file)?.ok_or_else(|| {
            Error::corrupt(self.file.path(), "footer", "an overflow key without a bag")
        })?;
        Ok(self.bag.get_or_init(|| bag))
    }

    /// Checks the whole overflow bag, if there is one (part of [`crate::Table::verify`]).
    pub fn verify_bag(&self) -> Result<()> {
        if self.file.footer().bag.is_some() {
            self.bag()?.verify(&self.file)?;
        }
        Ok(())
    }

    /// Decodes overflow keys `keys` (footer key indices) at `rows`, cast to the table types of
    /// table columns `columns`.
    fn decode_bag(
        &self,
        columns: &[usize],
        keys: &[usize],
        rows: Rows<'_>,
    ) -> Result<Vec<ArrayRef>> {
        let meta = &self
            .file
            .footer()
            .bag
            .as_ref()
            .expect("a bag key implies a bag")
            .keys;
        let arrays = bag::decode(self.bag()?, meta, keys, rows)?;
        arrays
            .into_iter()
            .zip(columns)
            .map(|(a, &c)| self.conform(c, a))
            .collect()
    }

    /// `array` (of column `index` as stored) in the table's read type.
    fn conform(&self, index: usize, array: ArrayRef) -> Result<ArrayRef> {
        if !self.storage[index].1 {
            return Ok(array);
        }
        Ok(arrow::compute::cast(
            &array,
            self.schema.field(index).data_type(),
        )?)
    }

    /// Table column `index` over the whole segment: a zero-copy array for a dense column (see
    /// the module contract), decoded for an overflow key, all nulls if absent.
    pub fn column(&self, index: usize) -> Result<ArrayRef> {
        self.check_index(index)?;
        match self.storage[index].0 {
            Storage::Dense(i) => {
                let cell = &self.columns[index];
                if let Some(array) = cell.get() {
                    return Ok(Arc::clone(array));
                }
                let array = self.build_array(&self.file.footer().columns[i])?;
                let array = self.conform(index, array)?;
                Ok(Arc::clone(cell.get_or_init(|| array)))
            }
            Storage::Bag(k) => Ok(self
                .decode_bag(&[index], &[k], Rows::Range(0, self.num_rows()))?
                .remove(0)),
            Storage::Absent => Ok(new_null_array(
                self.schema.field(index).data_type(),
                self.num_rows(),
            )),
        }
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
        if !matches!(self.storage[index].0, Storage::Dense(_)) {
            return Ok(to_view(&array));
        }
        let cell = &self.view_columns[index];
        if let Some(v) = cell.get() {
            return Ok(Arc::clone(v));
        }
        let v = to_view(&array);
        Ok(Arc::clone(cell.get_or_init(|| v)))
    }

    /// Rows `range` of table columns `columns`, each `(index, as view)`: slices of dense
    /// columns (zero-copy), overflow keys decoded for just these rows in one pass over their
    /// blobs, nulls for absent columns.
    pub fn read_range(
        &self,
        columns: &[(usize, bool)],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<ArrayRef>> {
        let len = range.len();
        self.read_with(
            columns,
            |c, view| {
                let whole = if view {
                    self.column_view(c)?
                } else {
                    self.column(c)?
                };
                Ok(whole.slice(range.start, len))
            },
            |cols, keys| self.decode_bag(cols, keys, Rows::Range(range.start, range.end)),
            len,
        )
    }

    /// Table columns `columns` at segment rows `rows` (any order, repeats allowed), gathered
    /// into new arrays.
    pub fn read_rows(&self, columns: &[usize], rows: &[usize]) -> Result<Vec<ArrayRef>> {
        let indices = arrow::array::UInt64Array::from_iter_values(rows.iter().map(|&r| r as u64));
        let columns: Vec<(usize, bool)> = columns.iter().map(|&c| (c, false)).collect();
        self.read_with(
            &columns,
            |c, _| {
                Ok(arrow::compute::take(
                    self.column(c)?.as_ref(),
                    &indices,
                    None,
                )?)
            },
            |cols, keys| self.decode_bag(cols, keys, Rows::List(rows)),
            rows.len(),
        )
    }

    /// Reads `columns`, each `(index, as view)`: dense ones with `dense(column, as view)`, all
    /// overflow keys at once with `bag(columns, keys)`, absent ones as `len` nulls.
    fn read_with(
        &self,
        columns: &[(usize, bool)],
        dense: impl Fn(usize, bool) -> Result<ArrayRef>,
        bag: impl FnOnce(&[usize], &[usize]) -> Result<Vec<ArrayRef>>,
        len: usize,
    ) -> Result<Vec<ArrayRef>> {
        let mut out: Vec<Option<ArrayRef>> = vec![None; columns.len()];
        let (mut bag_columns, mut bag_keys, mut bag_slots) = (Vec::new(), Vec::new(), Vec::new());
        for (slot, &(c, view)) in columns.iter().enumerate() {
            self.check_index(c)?;
            match self.storage[c].0 {
                Storage::Dense(_) => out[slot] = Some(dense(c, view)?),
                Storage::Bag(k) => {
                    bag_columns.push(c);
                    bag_keys.push(k);
                    bag_slots.push(slot);
                }
                Storage::Absent => {
                    let t = self.schema.field(c).data_type();
                    let t = if view { view_type(t) } else { t.clone() };
                    out[slot] = Some(new_null_array(&t, len));
                }
            }
        }
        if !bag_keys.is_empty() {
            for (slot, array) in bag_slots.into_iter().zip(bag(&bag_columns, &bag_keys)?) {
                out[slot] = Some(if columns[slot].1 {
                    to_view(&array)
                } else {
                    array
                });
            }
        }
        Ok(out
            .into_iter()
            .map(|a| a.expect("every slot filled"))
            .collect())
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
