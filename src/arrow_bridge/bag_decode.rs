//! Overflow bag entries -> Arrow arrays (the read half of the bag bridge).
//!
//! # Contract
//! - [`decode`] builds Arrow arrays (in the read type of each key, see
//!   [`super::types::read_field`]) for some keys at some rows of a validated [`Bag`]. Decoded,
//!   not zero-copy. A value that does not fit its key's type is a `Corrupt` error.

use std::sync::Arc;

use arrow::array::{ArrayDataBuilder, ArrayRef, BooleanArray, LargeBinaryArray, LargeStringArray};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use super::types::read_field;
use crate::error::{Error, Result};
use crate::native::footer::BagKey;
use crate::native::schema::ColumnDef;
use crate::overflow::{Bag, Value};

/// An Arrow array being decoded from bag values.
enum Out {
    Bool(Vec<bool>),
    /// Fixed-width values, `width` bytes each (zeros for nulls).
    Fixed(usize, Vec<u8>),
    /// Variable-width values and their 64-bit end offsets (without the leading 0).
    Bytes(Vec<u8>, Vec<i64>),
}

/// Little-endian bytes of `v` in the layout of `t`, or `None` if it does not fit.
fn fixed_bytes(t: &DataType, v: Value<'_>, out: &mut Vec<u8>) -> Option<()> {
    use DataType as D;
    match (t, v) {
        (D::Int8, Value::Int64(x)) => out.extend(i8::try_from(x).ok()?.to_le_bytes()),
        (D::Int16, Value::Int64(x)) => out.extend(i16::try_from(x).ok()?.to_le_bytes()),
        (D::Int32 | D::Time32(_), Value::Int64(x)) => {
            out.extend(i32::try_from(x).ok()?.to_le_bytes())
        }
        (D::UInt8, Value::Int64(x)) => out.extend(u8::try_from(x).ok()?.to_le_bytes()),
        (D::UInt16, Value::Int64(x)) => out.extend(u16::try_from(x).ok()?.to_le_bytes()),
        (D::Int64 | D::Date64 | D::Time64(_) | D::Duration(_), Value::Int64(x)) => {
            out.extend(x.to_le_bytes())
        }
        (D::UInt32, Value::UInt32(x)) => out.extend(x.to_le_bytes()),
        (D::UInt64, Value::UInt64(x)) => out.extend(x.to_le_bytes()),
        (D::Float16, Value::Float16(bits)) => out.extend(bits.to_le_bytes()),
        (D::Float32, Value::Float32(x)) => out.extend(x.to_le_bytes()),
        (D::Float64, Value::Float64(x)) => out.extend(x.to_le_bytes()),
        (D::Date32, Value::Date32(x)) => out.extend(x.to_le_bytes()),
        (D::Timestamp(..), Value::Timestamp(x)) => out.extend(x.to_le_bytes()),
        (D::Decimal32(..), Value::Decimal128(x)) => {
            out.extend(i32::try_from(x).ok()?.to_le_bytes())
        }
        (D::Decimal64(..), Value::Decimal128(x)) => {
            out.extend(i64::try_from(x).ok()?.to_le_bytes())
        }
        (D::Decimal128(..), Value::Decimal128(x)) => out.extend(x.to_le_bytes()),
        (D::Decimal256(..), Value::Decimal256(x)) => out.extend(x),
        (D::FixedSizeBinary(w), Value::Binary(b)) if b.len() == *w as usize => {
            out.extend_from_slice(b)
        }
        _ => return None,
    }
    Some(())
}

/// One key being decoded.
struct KeyOut {
    data_type: DataType,
    out: Out,
    valid: Vec<bool>,
}

impl KeyOut {
    fn new(def: &ColumnDef, capacity: usize) -> Self {
        let data_type = read_field(def).data_type().clone();
        let out = match &data_type {
            DataType::Boolean => Out::Bool(Vec::with_capacity(capacity)),
            DataType::LargeUtf8 | DataType::LargeBinary => Out::Bytes(Vec::new(), Vec::new()),
            t => Out::Fixed(
                t.primitive_width().unwrap_or(match t {
                    DataType::FixedSizeBinary(w) => *w as usize,
                    _ => 0,
                }),
                Vec::new(),
            ),
        };
        Self {
            data_type,
            out,
            valid: Vec::with_capacity(capacity),
        }
    }

    /// Pads with nulls up to `len` rows.
    fn nulls_to(&mut self, len: usize) {
        if self.valid.len() >= len {
            return;
        }
        self.valid.resize(len, false);
        match &mut self.out {
            Out::Bool(v) => v.resize(len, false),
            Out::Fixed(w, v) => v.resize(len * *w, 0),
            Out::Bytes(values, ends) => ends.resize(len, values.len() as i64),
        }
    }

    /// Appends `v`; `false` if it does not fit the key's type.
    fn push(&mut self, v: Value<'_>) -> bool {
        let ok = match (&mut self.out, v) {
            (Out::Bool(out), Value::Bool(b)) => {
                out.push(b);
                true
            }
            (Out::Fixed(_, out), v) => fixed_bytes(&self.data_type, v, out).is_some(),
            (Out::Bytes(values, ends), Value::String(s))
                if self.data_type == DataType::LargeUtf8 =>
            {
                values.extend_from_slice(s.as_bytes());
                ends.push(values.len() as i64);
                true
            }
            (Out::Bytes(values, ends), Value::Binary(b))
                if self.data_type == DataType::LargeBinary =>
            {
                values.extend_from_slice(b);
                ends.push(values.len() as i64);
                true
            }
            _ => false,
        };
        if ok {
            self.valid.push(true);
        }
        ok
    }

    fn finish(self) -> Result<ArrayRef> {
        let n = self.valid.len();
        let nulls = NullBuffer::from(self.valid);
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Ok(match self.out {
            Out::Bool(v) => Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls)),
            Out::Fixed(_, bytes) => arrow::array::make_array(
                ArrayDataBuilder::new(self.data_type)
                    .len(n)
                    .add_buffer(Buffer::from_vec(bytes))
                    .nulls(nulls)
                    .build()?,
            ),
            Out::Bytes(values, ends) => {
                let mut offsets = Vec::with_capacity(ends.len() + 1);
                offsets.push(0i64);
                offsets.extend(ends);
                // SAFETY: the offsets start at 0 and are the running lengths of the values
                // appended, so they are non-decreasing and end at `values.len()`.
                let offsets = unsafe { OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)) };
                let values = Buffer::from_vec(values);
                if self.data_type == DataType::LargeUtf8 {
                    // SAFETY: offsets as above; every value appended was a `&str`, so the
                    // bytes are UTF-8 and every offset is a character boundary.
                    Arc::new(unsafe { LargeStringArray::new_unchecked(offsets, values, nulls) })
                } else {
                    Arc::new(LargeBinaryArray::new(offsets, values, nulls))
                }
            }
        })
    }
}

/// Which rows of a segment to decode.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// A contiguous range.
    Range(usize, usize),
    /// These rows, in this order (repeats allowed).
    List(&'a [usize]),
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::Range(start, end) => end - start,
            Rows::List(rows) => rows.len(),
        }
    }
}

/// Arrays for `keys` (indices into the footer's key list) at `rows` of the segment (see the
/// module contract). Each key visits only its postings in the rows asked.
pub fn decode(
    bag: &Bag,
    key_meta: &[BagKey],
    keys: &[usize],
    rows: Rows<'_>,
) -> Result<Vec<ArrayRef>> {
    let n = rows.len();
    keys.iter()
        .map(|&k| {
            let mut out = KeyOut::new(&key_meta[k].def, n);
            let postings = bag.postings(k);
            let mut put = |position: usize, row: usize| -> Result<()> {
                let v = bag.value(k, row)?;
                out.nulls_to(position);
                if !out.push(v) {
                    return Err(Error::corrupt(
                        bag.path(),
                        format!("overflow key \"{}\", row {row}", key_meta[k].def.name),
                        format!("value {v:?} does not fit type {}", out.data_type),
                    ));
                }
                Ok(())
            };
            match rows {
                Rows::Range(start, end) => {
                    let mut prev = None;
                    for i in postings.lower_bound(start)..postings.len() {
                        let row = postings.get(i);
                        if row >= end {
                            break;
                        }
                        if prev.is_some_and(|p| row <= p) {
                            return Err(Error::corrupt(
                                bag.path(),
                                format!("overflow key \"{}\"", key_meta[k].def.name),
                                format!("postings are not ascending at row {row}"),
                            ));
                        }
                        prev = Some(row);
                        put(row - start, row)?;
                    }
                }
                Rows::List(list) => {
                    for (position, &row) in list.iter().enumerate() {
                        let i = postings.lower_bound(row);
                        if i < postings.len() && postings.get(i) == row {
                            put(position, row)?;
                        }
                    }
                }
            }
            out.nulls_to(n);
            out.finish()
        })
        .collect()
}
