//! Arrow arrays of encoded columns (segment format version 3): decoded, once per open segment
//! and column, into exactly the arrays the raw layout gives (`column_arrays.rs`). Not
//! zero-copy from the file: the values are rebuilt in memory (docs/FORMAT.md, "Encoded
//! columns").
//!
//! # Contract
//! - [`ColumnArrays::build_encoded`] decodes with every check of `SegmentFile::check_encoded`
//!   (values in their type's range, codes inside the dictionary) and builds with Arrow's
//!   checked constructors and kernels: a packed or delta column becomes the primitive array
//!   of its type; a dictionary column is its dictionary (built as a raw column) gathered by
//!   codes; a block-compressed one the `LargeUtf8` / `LargeBinary` array of its decompressed
//!   values.
//! - [`ColumnArrays::dictionary_views`] gives a dictionary-encoded string or binary column
//!   directly as a view array over the dictionary's bytes: only the 16-byte views are built
//!   per row, no value bytes are copied; [`ColumnArrays::dictionary_distinct`] gives its
//!   distinct-value table (`distinct.rs`) from the dictionary and codes, so predicates on the
//!   column are decided once per dictionary value and then on codes.
//! - [`ColumnArrays::gather_encoded`] reads a few rows (a cold `take`) without decoding the
//!   column: their packed values or codes only (and the dictionary), and of delta and
//!   zstd-block columns only the blocks holding them — so it touches those rows' pages and
//!   blocks, checking what it reads.
//! - [`ColumnArrays::compare_packed`] answers `column OP literal` on a packed column's values
//!   in the frame of reference, without decoding them (only when the reference and width
//!   prove every value in range, so the answer is the decoded values' answer).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{make_array, Array, ArrayDataBuilder, ArrayRef, UInt32Array};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use super::column_arrays::ColumnArrays;
use super::distinct::DistinctValues;
use super::types::read_field;
use super::views::{to_view, BlockViews};
use crate::error::{Error, Result};
use crate::native::bitpack::Unpacker;
use crate::native::blocks::decompress_rows;
use crate::native::encoding::{packed_value, Encoding, IntKind, RowError};
use crate::native::footer::ColumnMeta;
use crate::native::packed_predicate::{Comparison, PackedTest};
use crate::native::segment::Decoded;

impl ColumnArrays<'_> {
    /// Rows `rows` of encoded column `meta` (module contract), decoding only those rows (and
    /// of a zstd-block column the blocks holding them). `dictionary`: the column's dictionary
    /// if the caller holds it built (see [`Self::dictionary_values`]); built here otherwise.
    pub(crate) fn build_encoded(
        &self,
        meta: &ColumnMeta,
        encoding: &Encoding,
        rows: Range<usize>,
        dictionary: Option<&ArrayRef>,
    ) -> Result<ArrayRef> {
        if let Some(codes) = self.codes(meta, rows.clone())? {
            let values = self.dictionary_or_built(meta, dictionary)?;
            return arrow::compute::take(values.as_ref(), &codes, None)
                .map_err(|e| self.column_error(meta, e));
        }
        let nulls = self.nulls(meta)?.map(|n| n.slice(rows.start, rows.len()));
        let n = rows.len();
        match self.file.check_encoded_rows(meta, encoding, rows)? {
            Decoded::Fixed(bytes) => {
                self.checked_array(meta, n, vec![Buffer::from_vec(bytes)], nulls)
            }
            Decoded::Variable(values, ends) => {
                let offsets: Vec<i64> = std::iter::once(0)
                    .chain(ends.iter().map(|&e| e as i64))
                    .collect();
                let buffers = vec![Buffer::from_vec(offsets), Buffer::from_vec(values)];
                self.checked_array(meta, n, buffers, nulls)
            }
            Decoded::Codes(_) => unreachable!("dictionary columns are handled above"),
        }
    }

    /// The dictionary of dictionary-encoded column `meta`, built as a raw column (checked, and
    /// zero-copy from the file where the raw layout is); `None` for other columns.
    pub(crate) fn dictionary_values(&self, meta: &ColumnMeta) -> Result<Option<ArrayRef>> {
        match &meta.encoding {
            Some(Encoding::Dictionary { values, .. }) => self.build(values).map(Some),
            _ => Ok(None),
        }
    }

    /// `dictionary` if given, else [`Self::dictionary_values`] of dictionary column `meta`.
    fn dictionary_or_built(
        &self,
        meta: &ColumnMeta,
        dictionary: Option<&ArrayRef>,
    ) -> Result<ArrayRef> {
        match dictionary {
            Some(d) => Ok(Arc::clone(d)),
            None => Ok(self
                .dictionary_values(meta)?
                .expect("called for dictionary columns")),
        }
    }

    /// An Arrow error about column `meta` as a corruption of its file.
    fn column_error(&self, meta: &ColumnMeta, e: arrow::error::ArrowError) -> Error {
        Error::corrupt(self.file.path(), format!("column \"{}\"", meta.def.name), e)
    }

    /// `len` rows of `meta`'s read type over `buffers` and `nulls`, through Arrow's full
    /// validation (offsets and UTF-8 included).
    fn checked_array(
        &self,
        meta: &ColumnMeta,
        len: usize,
        buffers: Vec<Buffer>,
        nulls: Option<NullBuffer>,
    ) -> Result<ArrayRef> {
        let array = ArrayDataBuilder::new(read_field(&meta.def).data_type().clone())
            .len(len)
            .buffers(buffers)
            .nulls(nulls)
            .build()
            .map_err(|e| self.column_error(meta, e))?;
        Ok(make_array(array))
    }

    /// The codes of rows `rows` of dictionary-encoded column `meta`, checked and carrying the
    /// rows' validity; `None` for other columns.
    fn codes(&self, meta: &ColumnMeta, rows: Range<usize>) -> Result<Option<UInt32Array>> {
        let Some(encoding @ Encoding::Dictionary { .. }) = &meta.encoding else {
            return Ok(None);
        };
        let nulls = self.nulls(meta)?.map(|n| n.slice(rows.start, rows.len()));
        let Decoded::Codes(codes) = self.file.check_encoded_rows(meta, encoding, rows)? else {
            unreachable!("a dictionary decodes to codes")
        };
        Ok(Some(UInt32Array::new(ScalarBuffer::from(codes), nulls)))
    }

    /// Rows `rows` (each `< meta.rows`, any order) of encoded column `meta`, decoding only what
    /// they need (module contract): their packed values or codes, and of delta and zstd
    /// columns only the blocks holding them; each row's validity bit read alone. `None` for raw columns.
    pub(crate) fn gather_encoded(
        &self,
        meta: &ColumnMeta,
        rows: &[usize],
        dictionary: Option<&ArrayRef>,
    ) -> Result<Option<ArrayRef>> {
        let Some(encoding) = &meta.encoding else {
            return Ok(None);
        };
        let validity = self.gathered_validity(meta, rows)?;
        let n = meta.rows as usize;
        let data = self.file.region(
            meta.regions
                .data
                .expect("check_layout guarantees a data region for encoded columns"),
        );
        let packed = |width: u8| {
            Unpacker::new(data, width, n)
                .ok_or_else(|| self.row_error(meta, 0, "the data region is too short".into()))
        };
        match encoding {
            Encoding::Packed { reference, width } => {
                let kind = IntKind::of(&meta.def.column_type)
                    .expect("check_layout guarantees an integer-like type for packed columns");
                let run = packed(*width)?;
                let mut bytes = Vec::with_capacity(rows.len() * kind.width);
                for &r in rows {
                    let v = packed_value(*reference, run.get(r), kind).ok_or_else(|| {
                        self.row_error(
                            meta,
                            r,
                            "the value is outside the column type's range".into(),
                        )
                    })?;
                    bytes.extend_from_slice(&v.to_le_bytes()[..kind.width]);
                }
                let nulls = validity.map(NullBuffer::from);
                let buffers = vec![Buffer::from_vec(bytes)];
                self.checked_array(meta, rows.len(), buffers, nulls)
                    .map(Some)
            }
            Encoding::Delta { block_rows, .. } => {
                let column = self.file.delta_column(meta).expect("a delta column");
                let width = column.kind.width;
                // Each block holding an asked row is summed once, from its first row.
                let blocks = self.blocks_of(meta, rows, *block_rows, |r| column.rows(r))?;
                let per_block = (*block_rows).max(1) as usize;
                let mut bytes = Vec::with_capacity(rows.len() * width);
                for &r in rows {
                    let at = (r % per_block) * width;
                    bytes.extend_from_slice(&blocks[&(r / per_block)][at..at + width]);
                }
                let nulls = validity.map(NullBuffer::from);
                let buffers = vec![Buffer::from_vec(bytes)];
                self.checked_array(meta, rows.len(), buffers, nulls)
                    .map(Some)
            }
            Encoding::Dictionary { width, values, .. } => {
                let run = packed(*width)?;
                let codes = rows
                    .iter()
                    .map(|&r| {
                        let code = run.get(r);
                        (code < values.rows).then_some(code as u32).ok_or_else(|| {
                            let detail = format!(
                                "code {code} is past the dictionary's {} values",
                                values.rows
                            );
                            self.row_error(meta, r, detail)
                        })
                    })
                    .collect::<Result<Vec<u32>>>()?;
                let dictionary = self.dictionary_or_built(meta, dictionary)?;
                let codes =
                    UInt32Array::new(ScalarBuffer::from(codes), validity.map(NullBuffer::from));
                let array = arrow::compute::take(dictionary.as_ref(), &codes, None)
                    .map_err(|e| self.column_error(meta, e))?;
                Ok(Some(array))
            }
            Encoding::Blocks { block_rows, .. } => {
                let ends = self.file.region(
                    meta.regions
                        .offsets
                        .expect("check_layout guarantees offsets for block-compressed columns"),
                );
                let blocks = self.blocks_of(meta, rows, *block_rows, |range| {
                    decompress_rows(data, ends, *block_rows, n, range)
                })?;
                let per_block = (*block_rows).max(1) as usize;
                let value = |r: usize| -> &[u8] {
                    let (bytes, ends) = &blocks[&(r / per_block)];
                    let i = r % per_block;
                    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                    &bytes[start..ends[i] as usize]
                };
                let values = rows
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| validity.as_ref().is_none_or(|v| v[i]).then(|| value(r)))
                    .collect();
                self.gathered_bytes(meta, rows, values).map(Some)
            }
        }
    }

    /// Each block of `block_rows` rows of column `meta` that holds one of `rows`, decoded
    /// once by `decode` (given the block's row range), by block number.
    fn blocks_of<T>(
        &self,
        meta: &ColumnMeta,
        rows: &[usize],
        block_rows: u32,
        decode: impl Fn(Range<usize>) -> std::result::Result<T, RowError>,
    ) -> Result<HashMap<usize, T>> {
        let (per_block, n) = (block_rows.max(1) as usize, meta.rows as usize);
        let mut blocks = HashMap::new();
        for &r in rows {
            if let std::collections::hash_map::Entry::Vacant(e) = blocks.entry(r / per_block) {
                let first = r / per_block * per_block;
                let block = decode(first..(first + per_block).min(n))
                    .map_err(|(row, detail)| self.row_error(meta, row, detail))?;
                e.insert(block);
            }
        }
        Ok(blocks)
    }

    /// Which of rows `rows` of column `meta` (or of offsets `at` into them) satisfy
    /// `column OP literal`, answered on the packed values in the frame of reference
    /// (`native/packed_predicate.rs`): nothing is decoded, and NULL rows are false. `literal`
    /// is one non-null value of the column's type. `None` when the column is not packed, the
    /// literal does not fit that description, or the reference and width do not prove every
    /// packed value inside the type's range (decoding checks each value then).
    pub(crate) fn compare_packed(
        &self,
        meta: &ColumnMeta,
        (op, literal): (Comparison, &dyn Array),
        rows: Range<usize>,
        at: Option<&[u32]>,
    ) -> Result<Option<BooleanBuffer>> {
        let Some(Encoding::Packed { reference, width }) = &meta.encoding else {
            return Ok(None);
        };
        let kind = IntKind::of(&meta.def.column_type)
            .expect("check_layout guarantees an integer-like type for packed columns");
        if literal.len() != 1
            || literal.null_count() != 0
            || literal.data_type() != read_field(&meta.def).data_type()
            || !kind.holds_every(*reference, *width)
        {
            return Ok(None);
        }
        let data = literal.to_data();
        let start = data.offset() * kind.width;
        let Some(bytes) = data
            .buffers()
            .first()
            .and_then(|b| b.as_slice().get(start..start + kind.width))
        else {
            return Ok(None);
        };
        let test = PackedTest::new(op, kind.read(bytes), *reference, *width);
        let n = meta.rows as usize;
        if rows.start > rows.end
            || rows.end > n
            || at.is_some_and(|at| at.iter().any(|&o| o as usize >= rows.len()))
        {
            return Err(Error::invalid(format!(
                "rows {rows:?} of column \"{}\" ({n} rows)",
                meta.def.name
            )));
        }
        let region = meta
            .regions
            .data
            .expect("check_layout guarantees a data region for encoded columns");
        let run = Unpacker::new(self.file.region(region), *width, n)
            .ok_or_else(|| self.row_error(meta, 0, "the data region is too short".into()))?;
        // `open` checked that a validity region holds ceil(n / 8) bytes.
        let validity = meta.regions.validity.map(|v| self.file.region(v));
        let valid = |r: usize| validity.is_none_or(|bits| bits[r / 8] >> (r % 8) & 1 == 1);
        if let Some(at) = at {
            let keep = |i: usize| {
                let r = rows.start + at[i] as usize;
                valid(r) && test.matches(run.get(r))
            };
            return Ok(Some(BooleanBuffer::collect_bool(at.len(), keep)));
        }
        let len = rows.len();
        let values = run.iter_rows(rows.clone());
        let matched = match test {
            PackedTest::Never => return Ok(Some(BooleanBuffer::new_unset(len))),
            PackedTest::Always => BooleanBuffer::new_set(len),
            PackedTest::Compare(op, t) => match op {
                Comparison::Eq => bitmap(len, values, |v| v == t),
                Comparison::NotEq => bitmap(len, values, |v| v != t),
                Comparison::Lt => bitmap(len, values, |v| v < t),
                Comparison::LtEq => bitmap(len, values, |v| v <= t),
                Comparison::Gt => bitmap(len, values, |v| v > t),
                Comparison::GtEq => bitmap(len, values, |v| v >= t),
            },
        };
        Ok(Some(match validity {
            Some(bits) => {
                let bytes = &bits[rows.start / 8..rows.end.div_ceil(8)];
                let valid = BooleanBuffer::new(Buffer::from(bytes), rows.start % 8, len);
                &matched & &valid
            }
            None => matched,
        }))
    }

    /// The distinct-value table of dictionary-encoded string or binary column `meta`, from its
    /// dictionary and codes (no row decoded); `None` for other columns and dictionaries of more
    /// than [`MAX_DISTINCT`](super::distinct::MAX_DISTINCT) values.
    pub(crate) fn dictionary_distinct(
        &self,
        meta: &ColumnMeta,
        dictionary: Option<&ArrayRef>,
    ) -> Result<Option<DistinctValues>> {
        if let Some(Encoding::Dictionary { values, .. }) = &meta.encoding {
            if values.rows > super::distinct::MAX_DISTINCT as u64 {
                return Ok(None);
            }
        }
        let Some(codes) = self.codes(meta, 0..meta.rows as usize)? else {
            return Ok(None);
        };
        let values = self.dictionary_or_built(meta, dictionary)?;
        Ok(DistinctValues::from_dictionary(
            &values,
            codes.values(),
            codes.nulls(),
        ))
    }

    /// Rows `rows` of dictionary-encoded string or binary column `meta` as a view array over
    /// its dictionary's bytes (module contract; `dictionary` as for [`Self::build_encoded`]);
    /// `None` for other columns.
    pub(crate) fn dictionary_views(
        &self,
        meta: &ColumnMeta,
        rows: Range<usize>,
        dictionary: Option<&ArrayRef>,
    ) -> Result<Option<BlockViews>> {
        if !matches!(
            read_field(&meta.def).data_type(),
            DataType::LargeUtf8 | DataType::LargeBinary
        ) {
            return Ok(None);
        }
        let Some(codes) = self.codes(meta, rows)? else {
            return Ok(None);
        };
        let values = self.dictionary_or_built(meta, dictionary)?;
        let views = arrow::compute::take(to_view(&values).as_ref(), &codes, None)
            .map_err(|e| self.column_error(meta, e))?;
        Ok(Some(BlockViews::gathered(views)))
    }
}

/// The bitmap of `len` values: bit `i` set where `keep` holds for the `i`-th of `values`.
fn bitmap(
    len: usize,
    values: impl Iterator<Item = u64>,
    keep: impl Fn(u64) -> bool,
) -> BooleanBuffer {
    let mut words = vec![0u64; len.div_ceil(64)];
    for (i, v) in values.enumerate() {
        words[i / 64] |= u64::from(keep(v)) << (i % 64);
    }
    BooleanBuffer::new(Buffer::from_vec(words), 0, len)
}
