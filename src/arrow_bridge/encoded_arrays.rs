//! Arrow arrays of encoded columns (segment format version 3): decoded, once per open segment
//! and column, into exactly the arrays the raw layout gives (`column_arrays.rs`). Not
//! zero-copy from the file: the values are rebuilt in memory (docs/FORMAT.md, "Encoded
//! columns").
//!
//! # Contract
//! - [`ColumnArrays::build_encoded`] decodes with every check of `SegmentFile::check_encoded`
//!   (values in their type's range, codes inside the dictionary) and builds with Arrow's
//!   checked constructors and kernels: a packed column becomes the primitive array of its
//!   type; a dictionary column is its dictionary (built as a raw column) gathered by codes; a
//!   block-compressed one the `LargeUtf8` / `LargeBinary` array of its decompressed values.
//! - [`ColumnArrays::dictionary_views`] gives a dictionary-encoded string or binary column
//!   directly as a view array over the dictionary's bytes: only the 16-byte views are built
//!   per row, no value bytes are copied; [`ColumnArrays::dictionary_distinct`] gives its
//!   distinct-value table (`distinct.rs`) from the dictionary and codes, so predicates on the
//!   column are decided once per dictionary value and then on codes.
//! - [`ColumnArrays::gather_encoded`] reads a few rows (a cold `take`) without decoding the
//!   column: their packed values or codes only (and the dictionary), and of zstd-block columns
//!   only the blocks holding them — so it touches those rows' pages and blocks, checking what
//!   it reads.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    make_array, ArrayDataBuilder, ArrayRef, LargeBinaryArray, LargeStringArray, UInt32Array,
};
use arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use super::column_arrays::ColumnArrays;
use super::distinct::DistinctValues;
use super::types::read_field;
use super::views::{to_view, BlockViews};
use crate::error::{Error, Result};
use crate::native::bitpack::Unpacker;
use crate::native::blocks::decompress_block;
use crate::native::encoding::{packed_value, Encoding, IntKind};
use crate::native::footer::ColumnMeta;
use crate::native::schema::Layout;
use crate::native::segment::Decoded;

impl ColumnArrays<'_> {
    /// The array of encoded column `meta` (whose validity `nulls` the caller checked).
    pub(crate) fn build_encoded(
        &self,
        meta: &ColumnMeta,
        encoding: &Encoding,
        nulls: Option<NullBuffer>,
    ) -> Result<ArrayRef> {
        let corrupt = |e: arrow::error::ArrowError| {
            Error::corrupt(self.file.path(), format!("column \"{}\"", meta.def.name), e)
        };
        match (encoding, self.file.check_encoded(meta, encoding)?) {
            (Encoding::Packed { .. }, Decoded::Fixed(bytes)) => {
                let array = ArrayDataBuilder::new(read_field(&meta.def).data_type().clone())
                    .len(meta.rows as usize)
                    .add_buffer(Buffer::from_vec(bytes))
                    .nulls(nulls)
                    .build()
                    .map_err(corrupt)?;
                Ok(make_array(array))
            }
            (Encoding::Blocks { .. }, Decoded::Variable(values, ends)) => {
                let offsets: Vec<i64> = std::iter::once(0)
                    .chain(ends.iter().map(|&e| e as i64))
                    .collect();
                let array = ArrayDataBuilder::new(read_field(&meta.def).data_type().clone())
                    .len(meta.rows as usize)
                    .add_buffer(Buffer::from_vec(offsets))
                    .add_buffer(Buffer::from_vec(values))
                    .nulls(nulls)
                    .build()
                    .map_err(corrupt)?;
                Ok(make_array(array))
            }
            (Encoding::Dictionary { values, .. }, Decoded::Codes(codes)) => {
                let values = self.build(values)?;
                let codes = UInt32Array::new(ScalarBuffer::from(codes), nulls);
                Ok(arrow::compute::take(values.as_ref(), &codes, None).map_err(corrupt)?)
            }
            _ => unreachable!("check_encoded decodes each encoding to its own form"),
        }
    }

    /// Rows `rows` (each `< meta.rows`, any order) of encoded column `meta`, decoding only what
    /// they need (module contract): their packed values or codes, and of zstd blocks only the
    /// blocks holding them; each row's validity bit read alone. `None` for raw columns.
    pub(crate) fn gather_encoded(
        &self,
        meta: &ColumnMeta,
        rows: &[usize],
    ) -> Result<Option<ArrayRef>> {
        let Some(encoding) = &meta.encoding else {
            return Ok(None);
        };
        let n = meta.rows as usize;
        if let Some(&row) = rows.iter().find(|&&r| r >= n) {
            return Err(Error::invalid(format!(
                "row {row} is past the end of column \"{}\" ({n} rows)",
                meta.def.name
            )));
        }
        let corrupt = |row: usize, detail: String| {
            Error::corrupt(
                self.file.path(),
                format!("column \"{}\", row {row}", meta.def.name),
                detail,
            )
        };
        let validity = meta.regions.validity.map(|v| self.file.region(v));
        let valid = |r: usize| validity.is_none_or(|bits| bits[r / 8] >> (r % 8) & 1 == 1);
        let nulls = validity
            .map(|_| NullBuffer::from(rows.iter().map(|&r| valid(r)).collect::<Vec<bool>>()));
        let data = self.file.region(
            meta.regions
                .data
                .expect("check_layout guarantees a data region for encoded columns"),
        );
        let read_type = read_field(&meta.def).data_type().clone();
        let arrow_error = |e: arrow::error::ArrowError| corrupt(0, e.to_string());
        match encoding {
            Encoding::Packed { reference, width } => {
                let kind = IntKind::of(&meta.def.column_type)
                    .expect("check_layout guarantees an integer-like type for packed columns");
                let run = Unpacker::new(data, *width, n)
                    .ok_or_else(|| corrupt(0, "the data region is too short".into()))?;
                let mut bytes = Vec::with_capacity(rows.len() * kind.width);
                for &r in rows {
                    let v = packed_value(*reference, run.get(r), kind).ok_or_else(|| {
                        corrupt(r, "the value is outside the column type's range".into())
                    })?;
                    bytes.extend_from_slice(&v.to_le_bytes()[..kind.width]);
                }
                let array = ArrayDataBuilder::new(read_type)
                    .len(rows.len())
                    .add_buffer(Buffer::from_vec(bytes))
                    .nulls(nulls)
                    .build()
                    .map_err(arrow_error)?;
                Ok(Some(make_array(array)))
            }
            Encoding::Dictionary { width, values, .. } => {
                let run = Unpacker::new(data, *width, n)
                    .ok_or_else(|| corrupt(0, "the data region is too short".into()))?;
                let codes = rows
                    .iter()
                    .map(|&r| {
                        let code = run.get(r);
                        (code < values.rows).then_some(code as u32).ok_or_else(|| {
                            corrupt(
                                r,
                                format!(
                                    "code {code} is past the dictionary's {} values",
                                    values.rows
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<u32>>>()?;
                let dictionary = self.build(values)?;
                let codes = UInt32Array::new(ScalarBuffer::from(codes), nulls);
                Ok(Some(
                    arrow::compute::take(dictionary.as_ref(), &codes, None).map_err(arrow_error)?,
                ))
            }
            Encoding::Blocks { block_rows, .. } => {
                let ends = self.file.region(
                    meta.regions
                        .offsets
                        .expect("check_layout guarantees offsets for block-compressed columns"),
                );
                let per_block = (*block_rows).max(1) as usize;
                let mut blocks: HashMap<usize, (Vec<u8>, Vec<u64>)> = HashMap::new();
                for &r in rows {
                    let b = r / per_block;
                    if let std::collections::hash_map::Entry::Vacant(e) = blocks.entry(b) {
                        let block = decompress_block(data, ends, *block_rows, n, b)
                            .map_err(|(row, detail)| corrupt(row, detail))?;
                        e.insert(block);
                    }
                }
                let value = |r: usize| -> &[u8] {
                    let (bytes, ends) = &blocks[&(r / per_block)];
                    let i = r % per_block;
                    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                    &bytes[start..ends[i] as usize]
                };
                let picked = rows.iter().map(|&r| valid(r).then(|| value(r)));
                if matches!(
                    meta.def.column_type.layout(),
                    Layout::Variable { utf8: true }
                ) {
                    let strings = rows
                        .iter()
                        .zip(picked)
                        .map(|(&r, v)| {
                            v.map(|b| std::str::from_utf8(b).map_err(|e| corrupt(r, e.to_string())))
                                .transpose()
                        })
                        .collect::<Result<Vec<Option<&str>>>>()?;
                    Ok(Some(Arc::new(LargeStringArray::from_iter(strings))))
                } else {
                    Ok(Some(Arc::new(LargeBinaryArray::from_iter(picked))))
                }
            }
        }
    }

    /// The distinct-value table of dictionary-encoded string or binary column `meta`, from its
    /// dictionary and codes (no row decoded); `None` for other columns and dictionaries of more
    /// than [`MAX_DISTINCT`](super::distinct::MAX_DISTINCT) values.
    pub(crate) fn dictionary_distinct(&self, meta: &ColumnMeta) -> Result<Option<DistinctValues>> {
        let Some(encoding @ Encoding::Dictionary { values, .. }) = &meta.encoding else {
            return Ok(None);
        };
        if values.rows > super::distinct::MAX_DISTINCT as u64 {
            return Ok(None);
        }
        let nulls = self.nulls(meta)?;
        let Decoded::Codes(codes) = self.file.check_encoded(meta, encoding)? else {
            unreachable!("a dictionary decodes to codes")
        };
        let values = self.build(values)?;
        Ok(DistinctValues::from_dictionary(
            &values,
            &codes,
            nulls.as_ref(),
        ))
    }

    /// Dictionary-encoded string or binary column `meta` as a view array over its dictionary's
    /// bytes (module contract); `None` for other columns.
    pub(crate) fn dictionary_views(&self, meta: &ColumnMeta) -> Result<Option<BlockViews>> {
        let Some(encoding @ Encoding::Dictionary { values, .. }) = &meta.encoding else {
            return Ok(None);
        };
        let nulls = self.nulls(meta)?;
        let Decoded::Codes(codes) = self.file.check_encoded(meta, encoding)? else {
            unreachable!("a dictionary decodes to codes")
        };
        let values = to_view(&self.build(values)?);
        if !matches!(
            values.data_type(),
            DataType::Utf8View | DataType::BinaryView
        ) {
            return Ok(None);
        }
        let codes = UInt32Array::new(ScalarBuffer::from(codes), nulls);
        let views = arrow::compute::take(values.as_ref(), &codes, None).map_err(|e| {
            Error::corrupt(self.file.path(), format!("column \"{}\"", meta.def.name), e)
        })?;
        Ok(Some(BlockViews::gathered(views)))
    }
}
