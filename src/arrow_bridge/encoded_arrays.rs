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

use arrow::array::{make_array, Array, ArrayDataBuilder, ArrayRef, UInt32Array};
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
use crate::native::segment::Decoded;

impl ColumnArrays<'_> {
    /// The array of encoded column `meta` (module contract).
    pub(crate) fn build_encoded(&self, meta: &ColumnMeta, encoding: &Encoding) -> Result<ArrayRef> {
        if let Some((values, codes)) = self.dictionary(meta)? {
            return arrow::compute::take(values.as_ref(), &codes, None)
                .map_err(|e| self.column_error(meta, e));
        }
        let nulls = self.nulls(meta)?;
        let n = meta.rows as usize;
        match self.file.check_encoded(meta, encoding)? {
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

    /// The dictionary of dictionary-encoded column `meta` (built as a raw column) and its
    /// codes, checked and carrying the column's validity; `None` for other columns.
    fn dictionary(&self, meta: &ColumnMeta) -> Result<Option<(ArrayRef, UInt32Array)>> {
        let Some(encoding @ Encoding::Dictionary { values, .. }) = &meta.encoding else {
            return Ok(None);
        };
        let nulls = self.nulls(meta)?;
        let Decoded::Codes(codes) = self.file.check_encoded(meta, encoding)? else {
            unreachable!("a dictionary decodes to codes")
        };
        let codes = UInt32Array::new(ScalarBuffer::from(codes), nulls);
        Ok(Some((self.build(values)?, codes)))
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
                let dictionary = self.build(values)?;
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
                let per_block = (*block_rows).max(1) as usize;
                let mut blocks: HashMap<usize, (Vec<u8>, Vec<u64>)> = HashMap::new();
                for &r in rows {
                    let b = r / per_block;
                    if let std::collections::hash_map::Entry::Vacant(e) = blocks.entry(b) {
                        let block = decompress_block(data, ends, *block_rows, n, b)
                            .map_err(|(row, detail)| self.row_error(meta, row, detail))?;
                        e.insert(block);
                    }
                }
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

    /// The distinct-value table of dictionary-encoded string or binary column `meta`, from its
    /// dictionary and codes (no row decoded); `None` for other columns and dictionaries of more
    /// than [`MAX_DISTINCT`](super::distinct::MAX_DISTINCT) values.
    pub(crate) fn dictionary_distinct(&self, meta: &ColumnMeta) -> Result<Option<DistinctValues>> {
        if let Some(Encoding::Dictionary { values, .. }) = &meta.encoding {
            if values.rows > super::distinct::MAX_DISTINCT as u64 {
                return Ok(None);
            }
        }
        let Some((values, codes)) = self.dictionary(meta)? else {
            return Ok(None);
        };
        Ok(DistinctValues::from_dictionary(
            &values,
            codes.values(),
            codes.nulls(),
        ))
    }

    /// Dictionary-encoded string or binary column `meta` as a view array over its dictionary's
    /// bytes (module contract); `None` for other columns.
    pub(crate) fn dictionary_views(&self, meta: &ColumnMeta) -> Result<Option<BlockViews>> {
        if !matches!(
            read_field(&meta.def).data_type(),
            DataType::LargeUtf8 | DataType::LargeBinary
        ) {
            return Ok(None);
        }
        let Some((values, codes)) = self.dictionary(meta)? else {
            return Ok(None);
        };
        let views = arrow::compute::take(to_view(&values).as_ref(), &codes, None)
            .map_err(|e| self.column_error(meta, e))?;
        Ok(Some(BlockViews::gathered(views)))
    }
}
