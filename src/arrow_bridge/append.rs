//! Feeds an Arrow array into a column builder (the write half of the bridge).
//!
//! # Contract
//! - [`append_array`] appends every row of `array` to `builder`: its validity, then its values
//!   in the builder's layout. Fixed-width values and booleans are copied as whole buffers;
//!   variable-width values are copied back to back, a null row as an empty value (docs/FORMAT.md:
//!   "null rows repeat the previous offset").
//! - The array's type must map to the builder's layout (the writer checks the schema first);
//!   a mismatch is an error, never a silent reinterpretation.

use arrow::array::{Array, AsArray, GenericByteArray, GenericByteViewArray};
use arrow::datatypes::{ArrowNativeType, ByteArrayType, ByteViewType, DataType};

use crate::error::{Error, Result};
use crate::native::column_builder::ColumnBuilder;
use crate::native::schema::Layout;

/// Appends all rows of `array` to `builder`, which has layout `layout`.
pub fn append_array(builder: &mut ColumnBuilder, layout: Layout, array: &dyn Array) -> Result<()> {
    let len = array.len();
    if layout == Layout::Null {
        return builder.append_validity(None, len, len);
    }
    let validity = array.nulls().map(|n| (n.validity(), n.offset()));
    builder.append_validity(validity, len, array.null_count())?;
    match layout {
        Layout::Null => unreachable!("handled above"),
        Layout::Bits => {
            let values = array
                .as_boolean_opt()
                .ok_or_else(|| layout_mismatch(array, "boolean"))?
                .values();
            builder.append_bits(values.values(), values.offset(), len)
        }
        Layout::Fixed { width } => {
            let data = array.to_data();
            let buffer = data
                .buffers()
                .first()
                .ok_or_else(|| layout_mismatch(array, "fixed-width"))?;
            let start = data.offset() * width;
            let bytes = buffer
                .as_slice()
                .get(start..start + len * width)
                .ok_or_else(|| layout_mismatch(array, "fixed-width"))?;
            builder.append_fixed(bytes)
        }
        Layout::Variable { .. } => match array.data_type() {
            DataType::Utf8 => append_offsets(builder, array.as_string::<i32>()),
            DataType::LargeUtf8 => append_offsets(builder, array.as_string::<i64>()),
            DataType::Binary => append_offsets(builder, array.as_binary::<i32>()),
            DataType::LargeBinary => append_offsets(builder, array.as_binary::<i64>()),
            DataType::Utf8View => append_views(builder, array.as_string_view()),
            DataType::BinaryView => append_views(builder, array.as_binary_view()),
            _ => Err(layout_mismatch(array, "variable-width")),
        },
    }
}

fn layout_mismatch(array: &dyn Array, layout: &str) -> Error {
    Error::invalid(format!(
        "an array of type {} cannot be appended to a {layout} column",
        array.data_type()
    ))
}

fn append_offsets<T: ByteArrayType>(
    builder: &mut ColumnBuilder,
    array: &GenericByteArray<T>,
) -> Result<()> {
    let offsets = array.value_offsets();
    if array.null_count() == 0 {
        // Bulk path: the values are contiguous; rebase the offsets to the first one.
        let first = offsets[0].as_usize();
        let last = offsets[array.len()].as_usize();
        let bytes = &array.value_data()[first..last];
        let ends = offsets[1..].iter().map(|o| (o.as_usize() - first) as u64);
        return builder.append_variable(bytes, ends);
    }
    for i in 0..array.len() {
        let value: &[u8] = if array.is_null(i) {
            &[]
        } else {
            array.value(i).as_ref()
        };
        builder.push_variable(value)?;
    }
    Ok(())
}

fn append_views<T: ByteViewType + ?Sized>(
    builder: &mut ColumnBuilder,
    array: &GenericByteViewArray<T>,
) -> Result<()> {
    for i in 0..array.len() {
        let value: &[u8] = if array.is_null(i) {
            &[]
        } else {
            array.value(i).as_ref()
        };
        builder.push_variable(value)?;
    }
    Ok(())
}
