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

use arrow::array::{make_array, ArrayDataBuilder, ArrayRef, UInt32Array};
use arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use super::column_arrays::ColumnArrays;
use super::distinct::DistinctValues;
use super::types::read_field;
use super::views::{to_view, BlockViews};
use crate::error::{Error, Result};
use crate::native::encoding::Encoding;
use crate::native::footer::ColumnMeta;
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
