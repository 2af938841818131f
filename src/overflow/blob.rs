//! One row's overflow blob: `[u16 count]` then `count` entries `[u64 key][u8 tag][payload]`.
//!
//! # Contract
//! - [`BlobWriter`] appends rows to one contiguous byte buffer; a row with no entries is empty
//!   (zero bytes). More than 65,535 entries in a row, or a string/binary value of 4 GiB or more,
//!   is an [`EncodeError`], never a wrap.
//! - [`Entries`] decodes a blob from untrusted bytes: every length is bounds-checked, every tag
//!   must be known, strings must be UTF-8, and the blob must end exactly after its last entry.
//!   Any fault is a [`DecodeError`] with the byte offset inside the blob; nothing panics.
//! - Decoded [`Value`]s borrow from the blob: no allocation.

use crate::native::codec::{DecodeError, DecodeResult};

/// A value's type tag. Tags 0–6 are the seed's; 7–13 are Quiver's additions. Values are
/// little-endian; the payload of each tag is documented on its variant (docs/FORMAT.md,
/// "Overflow bag").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Tag {
    /// No payload: the key is present with a null value.
    Null = 0,
    /// `i64`, 8 bytes.
    Int64 = 1,
    /// `f64`, 8 bytes (IEEE 754 bits).
    Float64 = 2,
    /// `u32`, 4 bytes.
    UInt32 = 3,
    /// One byte, 0 or 1.
    Bool = 4,
    /// `i32` days since 1970-01-01, 4 bytes.
    Date32 = 5,
    /// `u32` byte length, then that many bytes of UTF-8.
    String = 6,
    /// `u32` byte length, then that many bytes.
    Binary = 7,
    /// `i64` ticks since the epoch in the key's time unit, 8 bytes.
    Timestamp = 8,
    /// `u64`, 8 bytes.
    UInt64 = 9,
    /// `i128` unscaled decimal, 16 bytes (precision and scale are the key's).
    Decimal128 = 10,
    /// 256-bit two's-complement unscaled decimal, 32 bytes.
    Decimal256 = 11,
    /// `f32`, 4 bytes (IEEE 754 bits, kept exactly, NaN payloads included).
    Float32 = 12,
    /// IEEE 754 half-precision bits, 2 bytes.
    Float16 = 13,
}

impl Tag {
    /// The tag for byte `b`, if it is one.
    pub fn from_u8(b: u8) -> Option<Self> {
        use Tag::*;
        Some(match b {
            0 => Null,
            1 => Int64,
            2 => Float64,
            3 => UInt32,
            4 => Bool,
            5 => Date32,
            6 => String,
            7 => Binary,
            8 => Timestamp,
            9 => UInt64,
            10 => Decimal128,
            11 => Decimal256,
            12 => Float32,
            13 => Float16,
            _ => return None,
        })
    }
}

/// A decoded value, borrowing strings and bytes from the blob.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Tag 0.
    Null,
    /// Tag 1.
    Int64(i64),
    /// Tag 2.
    Float64(f64),
    /// Tag 3.
    UInt32(u32),
    /// Tag 4.
    Bool(bool),
    /// Tag 5.
    Date32(i32),
    /// Tag 6.
    String(&'a str),
    /// Tag 7.
    Binary(&'a [u8]),
    /// Tag 8.
    Timestamp(i64),
    /// Tag 9.
    UInt64(u64),
    /// Tag 10.
    Decimal128(i128),
    /// Tag 11: the 32 little-endian bytes.
    Decimal256([u8; 32]),
    /// Tag 12.
    Float32(f32),
    /// Tag 13: the half-precision bits.
    Float16(u16),
}

impl Value<'_> {
    /// This value's tag.
    pub fn tag(&self) -> Tag {
        match self {
            Value::Null => Tag::Null,
            Value::Int64(_) => Tag::Int64,
            Value::Float64(_) => Tag::Float64,
            Value::UInt32(_) => Tag::UInt32,
            Value::Bool(_) => Tag::Bool,
            Value::Date32(_) => Tag::Date32,
            Value::String(_) => Tag::String,
            Value::Binary(_) => Tag::Binary,
            Value::Timestamp(_) => Tag::Timestamp,
            Value::UInt64(_) => Tag::UInt64,
            Value::Decimal128(_) => Tag::Decimal128,
            Value::Decimal256(_) => Tag::Decimal256,
            Value::Float32(_) => Tag::Float32,
            Value::Float16(_) => Tag::Float16,
        }
    }
}

/// Why a row could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The row has more entries than a `u16` count can say.
    #[error("a row has {0} overflow entries; at most 65535 fit in one row")]
    TooManyEntries(usize),
    /// A string or binary value is too long for its `u32` length.
    #[error("a value of {0} bytes is too large for the overflow bag (at most 4 GiB - 1)")]
    ValueTooLarge(usize),
}

/// Appends rows of entries to one byte buffer (the bag's `data` region).
#[derive(Debug, Default)]
pub struct BlobWriter {
    bytes: Vec<u8>,
    /// Where the current row's count goes, and its entries so far.
    row: Option<(usize, usize)>,
}

impl BlobWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes written so far (the end offset of the last finished row).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Adds one entry to the current row (starting the row if needed).
    pub fn push(&mut self, key: u64, value: Value<'_>) -> Result<(), EncodeError> {
        let (count_at, count) = match self.row {
            Some(r) => r,
            None => {
                let at = self.bytes.len();
                self.bytes.extend_from_slice(&[0, 0]);
                (at, 0)
            }
        };
        if count == u16::MAX as usize {
            return Err(EncodeError::TooManyEntries(count + 1));
        }
        let b = &mut self.bytes;
        b.extend_from_slice(&key.to_le_bytes());
        b.push(value.tag() as u8);
        let mut with_len = |v: &[u8]| -> Result<(), EncodeError> {
            let len = u32::try_from(v.len()).map_err(|_| EncodeError::ValueTooLarge(v.len()))?;
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(v);
            Ok(())
        };
        match value {
            Value::Null => {}
            Value::Int64(v) | Value::Timestamp(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::Float64(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::UInt32(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::Bool(v) => b.push(v as u8),
            Value::Date32(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::String(s) => with_len(s.as_bytes())?,
            Value::Binary(v) => with_len(v)?,
            Value::UInt64(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::Decimal128(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::Decimal256(v) => b.extend_from_slice(&v),
            Value::Float32(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::Float16(v) => b.extend_from_slice(&v.to_le_bytes()),
        }
        self.bytes[count_at..count_at + 2].copy_from_slice(&(count as u16 + 1).to_le_bytes());
        self.row = Some((count_at, count + 1));
        Ok(())
    }

    /// Ends the current row; returns the end offset of its blob. A row without entries is
    /// empty.
    pub fn finish_row(&mut self) -> u64 {
        self.row = None;
        self.bytes.len() as u64
    }

    /// The written bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The entries of one blob, decoded from untrusted bytes (see the module contract). An empty
/// blob has no entries.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    blob: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Entries<'a> {
    /// Starts decoding `blob`; fails if its count is cut off.
    pub fn new(blob: &'a [u8]) -> DecodeResult<Self> {
        if blob.is_empty() {
            return Ok(Self {
                blob,
                pos: 0,
                left: 0,
            });
        }
        let count = blob.get(0..2).ok_or_else(|| DecodeError {
            offset: 0,
            detail: "a blob of 1 byte cannot hold its 2-byte entry count".into(),
        })?;
        Ok(Self {
            blob,
            pos: 2,
            left: u16::from_le_bytes([count[0], count[1]]) as usize,
        })
    }

    /// Entries not yet decoded.
    pub fn remaining(&self) -> usize {
        self.left
    }

    fn take(&mut self, n: usize, what: &str) -> DecodeResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.blob.len());
        let Some(end) = end else {
            return Err(DecodeError {
                offset: self.pos,
                detail: format!(
                    "{what} needs {n} bytes but the blob has {} left",
                    self.blob.len() - self.pos
                ),
            });
        };
        let out = &self.blob[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> DecodeResult<&'a [u8; N]> {
        let bytes = self.take(N, what)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    fn entry(&mut self) -> DecodeResult<(u64, Value<'a>)> {
        let key = u64::from_le_bytes(*self.array::<8>("an entry key")?);
        let at = self.pos;
        let tag_byte = self.array::<1>("an entry tag")?[0];
        let tag = Tag::from_u8(tag_byte).ok_or_else(|| DecodeError {
            offset: at,
            detail: format!("unknown value tag {tag_byte}"),
        })?;
        let value = match tag {
            Tag::Null => Value::Null,
            Tag::Int64 => Value::Int64(i64::from_le_bytes(*self.array("an i64")?)),
            Tag::Float64 => Value::Float64(f64::from_le_bytes(*self.array("an f64")?)),
            Tag::UInt32 => Value::UInt32(u32::from_le_bytes(*self.array("a u32")?)),
            Tag::Bool => match self.array::<1>("a bool")?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => {
                    return Err(DecodeError {
                        offset: self.pos - 1,
                        detail: format!("bool byte is {other}, not 0 or 1"),
                    })
                }
            },
            Tag::Date32 => Value::Date32(i32::from_le_bytes(*self.array("a date")?)),
            Tag::String | Tag::Binary => {
                let len = u32::from_le_bytes(*self.array("a length")?) as usize;
                let start = self.pos;
                let bytes = self.take(len, "a value")?;
                if tag == Tag::Binary {
                    Value::Binary(bytes)
                } else {
                    let s = std::str::from_utf8(bytes).map_err(|e| DecodeError {
                        offset: start + e.valid_up_to(),
                        detail: "string value is not valid UTF-8".into(),
                    })?;
                    Value::String(s)
                }
            }
            Tag::Timestamp => Value::Timestamp(i64::from_le_bytes(*self.array("a timestamp")?)),
            Tag::UInt64 => Value::UInt64(u64::from_le_bytes(*self.array("a u64")?)),
            Tag::Decimal128 => Value::Decimal128(i128::from_le_bytes(*self.array("a decimal")?)),
            Tag::Decimal256 => Value::Decimal256(*self.array("a decimal")?),
            Tag::Float32 => Value::Float32(f32::from_le_bytes(*self.array("an f32")?)),
            Tag::Float16 => Value::Float16(u16::from_le_bytes(*self.array("an f16")?)),
        };
        Ok((key, value))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = DecodeResult<(u64, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if self.pos != self.blob.len() {
                let e = DecodeError {
                    offset: self.pos,
                    detail: format!("{} bytes follow the last entry", self.blob.len() - self.pos),
                };
                self.pos = self.blob.len();
                return Some(Err(e));
            }
            return None;
        }
        self.left -= 1;
        let entry = self.entry();
        if entry.is_err() {
            // Stop after the first fault.
            self.left = 0;
            self.pos = self.blob.len();
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_values() -> Vec<Value<'static>> {
        vec![
            Value::Null,
            Value::Int64(-5),
            Value::Float64(2.5),
            Value::UInt32(u32::MAX),
            Value::Bool(true),
            Value::Date32(-3),
            Value::String("grüße 🎯"),
            Value::String(""),
            Value::Binary(&[0, 255, 3]),
            Value::Timestamp(i64::MIN),
            Value::UInt64(u64::MAX),
            Value::Decimal128(-(1i128 << 100)),
            Value::Decimal256([7; 32]),
            Value::Float32(-1.25),
            Value::Float16(0x7e01),
        ]
    }

    #[test]
    fn every_tag_decodes_to_the_value_that_was_encoded() {
        let mut w = BlobWriter::new();
        let values = all_values();
        for (k, v) in values.iter().enumerate() {
            w.push(k as u64 * 31, *v).unwrap();
        }
        let end = w.finish_row();
        let bytes = w.into_bytes();
        assert_eq!(end as usize, bytes.len());
        let got: Vec<_> = Entries::new(&bytes)
            .unwrap()
            .collect::<DecodeResult<_>>()
            .unwrap();
        let want: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(k, v)| (k as u64 * 31, *v))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn float_bits_survive_exactly_nan_payloads_included() {
        let mut w = BlobWriter::new();
        w.push(1, Value::Float32(f32::from_bits(0x7fa0_0001)))
            .unwrap();
        w.push(2, Value::Float64(f64::from_bits(0x7ff4_0000_0000_0001)))
            .unwrap();
        let bytes = w.into_bytes();
        let got: Vec<_> = Entries::new(&bytes)
            .unwrap()
            .map(|e| e.unwrap().1)
            .collect();
        match got[..] {
            [Value::Float32(a), Value::Float64(b)] => {
                assert_eq!(a.to_bits(), 0x7fa0_0001);
                assert_eq!(b.to_bits(), 0x7ff4_0000_0000_0001);
            }
            _ => panic!("{got:?}"),
        }
    }

    #[test]
    fn a_row_without_entries_is_zero_bytes_and_decodes_to_nothing() {
        let mut w = BlobWriter::new();
        assert_eq!(w.finish_row(), 0);
        w.push(1, Value::Bool(false)).unwrap();
        let end = w.finish_row();
        assert_eq!(w.finish_row(), end);
        assert_eq!(Entries::new(&[]).unwrap().count(), 0);
    }

    #[test]
    fn the_65536th_entry_of_a_row_is_refused() {
        let mut w = BlobWriter::new();
        for k in 0..u16::MAX as u64 {
            w.push(k, Value::Null).unwrap();
        }
        assert_eq!(
            w.push(99, Value::Null),
            Err(EncodeError::TooManyEntries(65_536))
        );
    }

    #[test]
    fn every_truncation_of_a_blob_is_an_error_with_an_offset_inside_it() {
        let mut w = BlobWriter::new();
        for (k, v) in all_values().into_iter().enumerate() {
            w.push(k as u64, v).unwrap();
        }
        let bytes = w.into_bytes();
        for cut in 1..bytes.len() {
            let blob = &bytes[..cut];
            let result = Entries::new(blob).and_then(|e| e.collect::<DecodeResult<Vec<_>>>());
            let err = result.expect_err("a cut blob must not decode");
            assert!(err.offset <= cut, "cut {cut}: {err}");
        }
    }

    #[test]
    fn unknown_tags_bad_bools_bad_utf8_and_trailing_bytes_are_errors() {
        let entry = |tag: u8, payload: &[u8]| {
            let mut b = vec![1, 0];
            b.extend_from_slice(&7u64.to_le_bytes());
            b.push(tag);
            b.extend_from_slice(payload);
            b
        };
        let bad = [
            entry(14, &[]),
            entry(4, &[2]),
            entry(6, &[2, 0, 0, 0, 0xc3, 0x28]),
            entry(6, &[0xff, 0xff, 0xff, 0xff]),
            entry(0, &[9]),
        ];
        for blob in bad {
            let result = Entries::new(&blob).and_then(|e| e.collect::<DecodeResult<Vec<_>>>());
            assert!(result.is_err(), "{blob:?} decoded");
        }
    }

    #[test]
    fn random_bytes_never_panic_the_decoder() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut blob: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = blob.first_mut() {
                *first %= 4; // small counts reach the entries more often
            }
            if let Ok(entries) = Entries::new(&blob) {
                for e in entries {
                    if e.is_err() {
                        break;
                    }
                }
            }
        }
    }
}
