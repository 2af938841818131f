//! Arrow columns -> overflow bag entries (the write half of the bag bridge).
//!
//! # Contract
//! - [`value_reader`] reads the values of a bag-eligible Arrow array as bag [`Value`]s, each
//!   with the tag [`tag_for`] its type: every value converts exactly (narrow integers widen
//!   to `i64`, decimals to `i128`, floats keep their bits), so decoding gives back what was
//!   written.
//! - [`encode`] writes a segment's sparse columns as the bag's regions, rows in order,
//!   each row's entries in column order; a row of more than 65,535 entries or a value of 4 GiB
//!   or more is an error naming the column.
//! - [`eligible`] is the one rule for which columns may go to the bag.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type,
    Decimal32Type, Decimal64Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float16Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};

use crate::error::{Error, Result};
use crate::native::schema::ColumnDef;
use crate::overflow::{tag_for, BlobWriter, Value};

/// Reads value `i` (which must be valid) of an array as a bag value.
pub type ValueReader<'a> = Box<dyn Fn(usize) -> Value<'a> + 'a>;

fn primitive<'a, T: ArrowPrimitiveType>(
    array: &'a dyn Array,
    f: impl Fn(T::Native) -> Value<'a> + 'a,
) -> ValueReader<'a> {
    let a = array.as_primitive::<T>();
    Box::new(move |i| f(a.value(i)))
}

/// A reader of `array`'s values as bag values, or `None` if its type never goes to the bag.
pub fn value_reader(array: &dyn Array) -> Option<ValueReader<'_>> {
    use DataType as D;
    let int = |v: i64| Value::Int64(v);
    Some(match array.data_type() {
        D::Boolean => {
            let a = array.as_boolean();
            Box::new(move |i| Value::Bool(a.value(i)))
        }
        D::Int8 => primitive::<Int8Type>(array, move |v| int(v as i64)),
        D::Int16 => primitive::<Int16Type>(array, move |v| int(v as i64)),
        D::Int32 => primitive::<Int32Type>(array, move |v| int(v as i64)),
        D::Int64 => primitive::<Int64Type>(array, int),
        D::UInt8 => primitive::<UInt8Type>(array, move |v| int(v as i64)),
        D::UInt16 => primitive::<UInt16Type>(array, move |v| int(v as i64)),
        D::UInt32 => primitive::<UInt32Type>(array, Value::UInt32),
        D::UInt64 => primitive::<UInt64Type>(array, Value::UInt64),
        D::Float16 => primitive::<Float16Type>(array, |v| Value::Float16(v.to_bits())),
        D::Float32 => primitive::<Float32Type>(array, Value::Float32),
        D::Float64 => primitive::<Float64Type>(array, Value::Float64),
        D::Date32 => primitive::<Date32Type>(array, Value::Date32),
        D::Date64 => primitive::<Date64Type>(array, int),
        D::Time32(TimeUnit::Second) => primitive::<Time32SecondType>(array, move |v| int(v as i64)),
        D::Time32(_) => primitive::<Time32MillisecondType>(array, move |v| int(v as i64)),
        D::Time64(TimeUnit::Microsecond) => primitive::<Time64MicrosecondType>(array, int),
        D::Time64(_) => primitive::<Time64NanosecondType>(array, int),
        D::Duration(TimeUnit::Second) => primitive::<DurationSecondType>(array, int),
        D::Duration(TimeUnit::Millisecond) => primitive::<DurationMillisecondType>(array, int),
        D::Duration(TimeUnit::Microsecond) => primitive::<DurationMicrosecondType>(array, int),
        D::Duration(TimeUnit::Nanosecond) => primitive::<DurationNanosecondType>(array, int),
        D::Timestamp(TimeUnit::Second, _) => {
            primitive::<TimestampSecondType>(array, Value::Timestamp)
        }
        D::Timestamp(TimeUnit::Millisecond, _) => {
            primitive::<TimestampMillisecondType>(array, Value::Timestamp)
        }
        D::Timestamp(TimeUnit::Microsecond, _) => {
            primitive::<TimestampMicrosecondType>(array, Value::Timestamp)
        }
        D::Timestamp(TimeUnit::Nanosecond, _) => {
            primitive::<TimestampNanosecondType>(array, Value::Timestamp)
        }
        D::Decimal32(..) => primitive::<Decimal32Type>(array, |v| Value::Decimal128(v as i128)),
        D::Decimal64(..) => primitive::<Decimal64Type>(array, |v| Value::Decimal128(v as i128)),
        D::Decimal128(..) => primitive::<Decimal128Type>(array, Value::Decimal128),
        D::Decimal256(..) => {
            primitive::<Decimal256Type>(array, |v| Value::Decimal256(v.to_le_bytes()))
        }
        D::Utf8 => {
            let a = array.as_string::<i32>();
            Box::new(move |i| Value::String(a.value(i)))
        }
        D::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Box::new(move |i| Value::String(a.value(i)))
        }
        D::Utf8View => {
            let a = array.as_string_view();
            Box::new(move |i| Value::String(a.value(i)))
        }
        D::Binary => {
            let a = array.as_binary::<i32>();
            Box::new(move |i| Value::Binary(a.value(i)))
        }
        D::LargeBinary => {
            let a = array.as_binary::<i64>();
            Box::new(move |i| Value::Binary(a.value(i)))
        }
        D::BinaryView => {
            let a = array.as_binary_view();
            Box::new(move |i| Value::Binary(a.value(i)))
        }
        D::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            Box::new(move |i| Value::Binary(a.value(i)))
        }
        _ => return None,
    })
}

/// One sparse column of a segment being built: its present values and their rows.
#[derive(Debug)]
pub struct SparseValues {
    /// The column's definition (the key's type record).
    pub def: ColumnDef,
    /// Segment rows holding a value, ascending.
    pub rows: Vec<u32>,
    /// The values, in the same order, without nulls.
    pub values: ArrayRef,
}

/// A segment's bag, encoded: `n + 1` offsets, the blobs, the postings.
pub struct EncodedBag {
    /// Little-endian `u64` offsets, the first 0.
    pub offsets: Vec<u8>,
    /// The blobs.
    pub data: Vec<u8>,
    /// Per column in order, its rows as little-endian `u32`s.
    pub postings: Vec<u8>,
}

/// Encodes the sparse columns of a segment of `rows` rows (see the module contract).
pub fn encode(columns: &[SparseValues], rows: usize) -> Result<EncodedBag> {
    let hashes: Vec<u64> = columns
        .iter()
        .map(|c| crate::overflow::key_hash(&c.def.name))
        .collect();
    let readers = columns
        .iter()
        .map(|c| {
            value_reader(c.values.as_ref()).ok_or_else(|| {
                Error::invalid(format!(
                    "column \"{}\" of type {} cannot go to the overflow bag",
                    c.def.name,
                    c.values.data_type()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Counting sort of (column, value index) by row: entries of a row in column order.
    let mut starts = vec![0u32; rows + 1];
    for c in columns {
        for &r in &c.rows {
            starts[r as usize + 1] += 1;
        }
    }
    for i in 0..rows {
        starts[i + 1] += starts[i];
    }
    let total = starts[rows] as usize;
    let mut entries = vec![(0u32, 0u32); total];
    let mut fill = starts.clone();
    for (k, c) in columns.iter().enumerate() {
        for (i, &r) in c.rows.iter().enumerate() {
            entries[fill[r as usize] as usize] = (k as u32, i as u32);
            fill[r as usize] += 1;
        }
    }
    let mut w = BlobWriter::new();
    let mut offsets = Vec::with_capacity((rows + 1) * 8);
    offsets.extend_from_slice(&0u64.to_le_bytes());
    for r in 0..rows {
        for &(k, i) in &entries[starts[r] as usize..starts[r + 1] as usize] {
            let (k, i) = (k as usize, i as usize);
            w.push(hashes[k], readers[k](i)).map_err(|e| {
                Error::invalid(format!(
                    "column \"{}\", row {r} of its segment: {e}",
                    columns[k].def.name
                ))
            })?;
        }
        offsets.extend_from_slice(&w.finish_row().to_le_bytes());
    }
    let postings = columns
        .iter()
        .flat_map(|c| c.rows.iter().flat_map(|r| r.to_le_bytes()))
        .collect();
    Ok(EncodedBag {
        offsets,
        data: w.into_bytes(),
        postings,
    })
}

/// Whether a column of this definition may go to the bag.
pub fn eligible(def: &ColumnDef) -> bool {
    def.nullable && def.children.is_empty() && tag_for(&def.column_type).is_some()
}
