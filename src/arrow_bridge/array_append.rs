//! Feeds an Arrow array into a column builder (the write half of the bridge).
//!
//! # Contract
//! - [`append_array`] appends every row of `array` to `builder`: its validity, then its values
//!   in the builder's layout. Fixed-width values and booleans are copied as whole buffers;
//!   variable-width values are copied back to back, a null row as an empty value (docs/FORMAT.md:
//!   "null rows repeat the previous offset"). List items go to the child builder, skipping the
//!   items Arrow may keep under null list rows; struct fields and fixed-size list items go to
//!   the child builders as they are.
//! - Dictionary arrays are appended as their decoded values (the column's storage).
//! - The array's type must map to the builder's layout (the writer checks the schema first);
//!   a mismatch is an error, never a silent reinterpretation.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, GenericByteArray, GenericByteViewArray};
use arrow::datatypes::{ArrowNativeType, ByteArrayType, ByteViewType, DataType};

use crate::error::{Error, Result};
use crate::native::column_builder::ColumnBuilder;
use crate::native::schema::{ColumnDef, Layout};

/// Appends all rows of `array` to `builder`, which builds column `def`.
pub fn append_array(builder: &mut ColumnBuilder, def: &ColumnDef, array: &dyn Array) -> Result<()> {
    if let DataType::Dictionary(_, value) = array.data_type() {
        let decoded = arrow::compute::cast(array, value)?;
        return append_array(builder, def, decoded.as_ref());
    }
    let layout = def.column_type.layout();
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
        Layout::List => {
            let (offsets, items): (Vec<usize>, ArrayRef) = match array.data_type() {
                DataType::List(_) => {
                    let a = array.as_list::<i32>();
                    (
                        a.offsets().iter().map(|o| o.as_usize()).collect(),
                        Arc::clone(a.values()),
                    )
                }
                DataType::LargeList(_) => {
                    let a = array.as_list::<i64>();
                    (
                        a.offsets().iter().map(|o| o.as_usize()).collect(),
                        Arc::clone(a.values()),
                    )
                }
                DataType::Map(..) => {
                    let a = array.as_map();
                    let entries: ArrayRef = Arc::new(a.entries().clone());
                    (a.offsets().iter().map(|o| o.as_usize()).collect(), entries)
                }
                _ => return Err(layout_mismatch(array, "list")),
            };
            append_list(builder, def, array, &offsets, items.as_ref())
        }
        Layout::FixedList { .. } => {
            let a = array
                .as_fixed_size_list_opt()
                .ok_or_else(|| layout_mismatch(array, "fixed-size list"))?;
            append_array(builder.child_mut(0)?, &def.children[0], a.values().as_ref())
        }
        Layout::Struct => {
            let a = array
                .as_struct_opt()
                .ok_or_else(|| layout_mismatch(array, "struct"))?;
            if a.num_columns() != def.children.len() {
                return Err(layout_mismatch(array, "struct"));
            }
            for (i, (child, child_def)) in a.columns().iter().zip(&def.children).enumerate() {
                append_array(builder.child_mut(i)?, child_def, child.as_ref())?;
            }
            Ok(())
        }
    }
}

/// Appends list rows given by `offsets` (`len + 1` entries into `items`): the lengths to the
/// list builder, the items of valid rows (in runs of contiguous ranges) to the child builder.
fn append_list(
    builder: &mut ColumnBuilder,
    def: &ColumnDef,
    array: &dyn Array,
    offsets: &[usize],
    items: &dyn Array,
) -> Result<()> {
    let valid = |i: usize| array.is_valid(i);
    let lengths = (0..array.len()).map(|i| {
        if valid(i) {
            (offsets[i + 1] - offsets[i]) as u64
        } else {
            0
        }
    });
    builder.append_list_lengths(lengths)?;
    let child = builder.child_mut(0)?;
    let mut run: Option<(usize, usize)> = None;
    for i in 0..array.len() {
        let (start, end) = (offsets[i], offsets[i + 1]);
        if !valid(i) || start == end {
            continue;
        }
        run = match run {
            Some((s, e)) if e == start => Some((s, end)),
            Some((s, e)) => {
                append_array(child, &def.children[0], items.slice(s, e - s).as_ref())?;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = run {
        append_array(child, &def.children[0], items.slice(s, e - s).as_ref())?;
    }
    Ok(())
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
    append_values(builder, array.len(), |i| {
        array.is_valid(i).then(|| array.value(i).as_ref())
    })
}

fn append_views<T: ByteViewType + ?Sized>(
    builder: &mut ColumnBuilder,
    array: &GenericByteViewArray<T>,
) -> Result<()> {
    append_values(builder, array.len(), |i| {
        array.is_valid(i).then(|| array.value(i).as_ref())
    })
}

/// Appends `len` values (`None` for a null row, stored empty) gathered back to back into one
/// buffer first, so the builder is called once per batch, not once per row.
fn append_values<'a>(
    builder: &mut ColumnBuilder,
    len: usize,
    value: impl Fn(usize) -> Option<&'a [u8]>,
) -> Result<()> {
    let mut bytes: Vec<u8> = Vec::new();
    let mut ends: Vec<u64> = Vec::with_capacity(len);
    for i in 0..len {
        if let Some(v) = value(i) {
            bytes.extend_from_slice(v);
        }
        ends.push(bytes.len() as u64);
    }
    builder.append_variable(&bytes, ends)
}
