//! Slices of columns whose buffers own only the bytes the slice uses, so that memory
//! accounting (DataFusion's memory pool charges a batch the capacity of every buffer it
//! references) charges a batch for its rows, not for the whole column it was cut from.
//!
//! # Contract
//! - [`own_bytes`] re-wraps the bytes of a buffer (a slice of a mapping or of a heap buffer) as
//!   a buffer of their own, whose capacity is their length; the bytes are not copied and the
//!   parent buffer is kept alive as the new buffer's owner. The address of every value is
//!   unchanged: the result is still zero-copy from the mapping.
//! - [`owned_slice`] is `Array::slice` with that applied to every buffer of primitive (integer,
//!   float, decimal, date/time) and boolean arrays and to validity bitmaps. Other types are
//!   sliced as `Array::slice` does (sharing the column's buffers); view arrays have their own
//!   per-block form (`views.rs`).

use std::ptr::NonNull;
use std::sync::Arc;

use arrow::array::{downcast_primitive_array, Array, ArrayRef, BooleanArray, PrimitiveArray};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::ArrowPrimitiveType;

/// `buffer`'s bytes as a buffer of their own (capacity = length), sharing the memory: the new
/// buffer keeps `buffer` alive. Cheap: one small allocation for the owner, no copy.
pub(crate) fn own_bytes(buffer: &Buffer) -> Buffer {
    if buffer.capacity() == buffer.len() {
        // Already exactly its own allocation.
        return buffer.clone();
    }
    let ptr = NonNull::new(buffer.as_ptr() as *mut u8).expect("a buffer's pointer is not null");
    // SAFETY: `ptr .. ptr + buffer.len()` is exactly the memory `buffer` gives access to, so it
    // is valid for reads for that length and aligned as `buffer` is. The new buffer keeps a
    // clone of `buffer` (and so its underlying allocation or mapping) as its owner, so the
    // memory outlives it; Arrow buffers are immutable through shared clones, so nothing writes
    // to it meanwhile.
    unsafe { Buffer::from_custom_allocation(ptr, buffer.len(), Arc::new(buffer.clone())) }
}

/// Bits `bits` over bytes of their own: the bytes holding bits `offset .. offset + len`.
fn own_bits(bits: &BooleanBuffer) -> BooleanBuffer {
    let (offset, len) = (bits.offset(), bits.len());
    let first = offset / 8;
    let end = (offset + len).div_ceil(8);
    let bytes = own_bytes(&bits.inner().slice_with_length(first, end - first));
    BooleanBuffer::new(bytes, offset % 8, len)
}

/// `nulls` over bytes of their own.
pub(crate) fn own_nulls(nulls: &NullBuffer) -> NullBuffer {
    let bits = own_bits(nulls.inner());
    // SAFETY: the same bits as `nulls` (re-wrapped, not changed), so its null count holds.
    unsafe { NullBuffer::new_unchecked(bits, nulls.null_count()) }
}

/// `array.slice(offset, len)`, its buffers owning only the bytes of those rows where the type
/// allows it (see the module contract).
pub(crate) fn owned_slice(array: &ArrayRef, offset: usize, len: usize) -> ArrayRef {
    let sliced = array.slice(offset, len);
    let nulls = sliced.nulls().map(own_nulls);
    let rows: &dyn Array = sliced.as_ref();
    downcast_primitive_array!(
        rows => owned_primitive(rows, nulls),
        arrow::datatypes::DataType::Boolean => {
            let booleans = rows.as_any().downcast_ref::<BooleanArray>().expect("boolean");
            Arc::new(BooleanArray::new(own_bits(booleans.values()), nulls))
        }
        _ => Arc::clone(&sliced)
    )
}

/// `array` (a slice) over values of its own and `nulls`.
fn owned_primitive<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let values = ScalarBuffer::new(own_bytes(array.values().inner()), 0, array.len());
    Arc::new(PrimitiveArray::<T>::new(values, nulls).with_data_type(array.data_type().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int32Array};

    #[test]
    fn owned_slices_keep_values_and_addresses_and_own_only_their_bytes() {
        let ints: ArrayRef = Arc::new(Int32Array::from_iter((0..1000).map(|i| {
            if i % 7 == 0 {
                None
            } else {
                Some(i)
            }
        })));
        let decimals: ArrayRef = Arc::new(
            Decimal128Array::from_iter_values(0..1000)
                .with_precision_and_scale(15, 2)
                .unwrap(),
        );
        let bools: ArrayRef = Arc::new(BooleanArray::from_iter(
            (0..1000).map(|i| (i % 3 != 0).then_some(i % 2 == 0)),
        ));
        for array in [ints, decimals, bools] {
            for (offset, len) in [(0, 1000), (3, 500), (999, 1), (13, 0), (512, 488)] {
                let owned = owned_slice(&array, offset, len);
                assert_eq!(owned.as_ref(), array.slice(offset, len).as_ref());
                assert_eq!(owned.data_type(), array.data_type());
                owned.to_data().validate_full().unwrap();
                let data = owned.to_data();
                let bytes = data.buffers()[0].capacity();
                assert!(
                    bytes <= (len * 16).max(len.div_ceil(8) + 1),
                    "{bytes} for {len}"
                );
                if let Some(n) = owned.nulls() {
                    assert!(n.buffer().capacity() <= len.div_ceil(8) + 1);
                }
            }
        }
        let ints: ArrayRef = Arc::new(Int32Array::from_iter_values(0..100));
        let owned = owned_slice(&ints, 10, 5);
        let source = ints.as_any().downcast_ref::<Int32Array>().unwrap();
        let slice = owned.as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(slice.values().as_ptr(), source.values()[10..].as_ptr());
    }
}
