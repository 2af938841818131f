//! Encoded column storage (segment format version 3): what an encoded column's footer entry
//! says, and the checked decoding of its packed values back into the raw layout. Knows nothing
//! of Arrow.
//!
//! # Contract
//! - An encoded column has the same `nulls` / `validity` regions as a raw one; its `data`
//!   region holds one bit-packed value per row (`bitpack.rs`) and, unless said below, it has no
//!   `offsets` (docs/FORMAT.md, "Encoded columns"):
//!   - [`Encoding::Packed`] (frame of reference): row `i` is `reference + packed[i]`, for the
//!     integer-like types of [`IntKind::of`]; served in the column's own type and width.
//!   - [`Encoding::Dictionary`]: row `i` is value `packed[i]` of the dictionary, a raw column
//!     of the same type stored once per segment (no nulls, no zones).
//!   - [`Encoding::Delta`]: a sorted integer-like column as packed steps from the row before
//!     and one anchor per block of rows in `offsets` (`delta.rs`); served as `Packed` is.
//!   - [`Encoding::Blocks`]: variable-width values zstd-compressed in blocks of rows
//!     (`blocks.rs`); its `data` holds the blocks and `offsets` their ends, not per-row.
//! - Decoding trusts nothing: [`unpack_fixed`] checks every value against the range of its
//!   type (unless the reference and the width prove it), [`unpack_codes`] every code against
//!   the dictionary's size; a failure names the row. O(rows), one allocation sized by the
//!   row count the layout check has bounded. The `_rows` forms decode a range of rows alone
//!   (a zone), reading only those rows' bits.

use std::ops::Range;

use super::bitpack::Unpacker;
use super::footer::ColumnMeta;
use super::schema::ColumnType;

/// Stores each of the `u64`s of `$values` as its low `$width` (1, 2, 4 or 8) bytes,
/// little-endian, one after another in `$out`. A macro, not a function, so the match is
/// inlined at each use: behind a call, packed columns decoded at 2.9 GB/s against 4.6 inlined
/// in one A/B run (`benches/sorted_keys.rs`, 2026-12-07; this machine's runs are noisy).
macro_rules! store_low_bytes {
    ($out:expr, $width:expr, $values:expr) => {
        match $width {
            1 => $crate::native::encoding::store::<1, _>($out, $values),
            2 => $crate::native::encoding::store::<2, _>($out, $values),
            4 => $crate::native::encoding::store::<4, _>($out, $values),
            _ => $crate::native::encoding::store::<8, _>($out, $values),
        }
    };
}
pub(super) use store_low_bytes;

/// Footer tag of [`Encoding::Packed`].
pub const PACKED_TAG: u8 = 1;
/// Footer tag of [`Encoding::Dictionary`].
pub const DICTIONARY_TAG: u8 = 2;
/// Footer tag of [`Encoding::Blocks`].
pub const BLOCKS_TAG: u8 = 3;
/// Footer tag of [`Encoding::Delta`].
pub const DELTA_TAG: u8 = 4;
/// [`Encoding::Blocks`] codec: zstd.
pub const ZSTD_CODEC: u8 = 1;
/// Widest dictionary code: a dictionary holds at most `2^32` values.
pub const MAX_CODE_WIDTH: u8 = 32;

/// How an encoded column's `data` region stores its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoding {
    /// Frame of reference and bit packing: row `i` is `reference + packed[i]`.
    Packed {
        /// The value packed zeros stand for (usually the smallest non-null value).
        reference: i128,
        /// Bits per row, 0 to 64.
        width: u8,
    },
    /// Dictionary codes: row `i` is row `packed[i]` of `values`.
    Dictionary {
        /// Bits per code, 0 to [`MAX_CODE_WIDTH`].
        width: u8,
        /// Bytes the column's raw `data` region would hold (informational: `quiver info`'s
        /// ratio; nothing reads values by it).
        raw_data_len: u64,
        /// The distinct values: a raw column of the encoded column's type, without nulls.
        values: Box<ColumnMeta>,
    },
    /// Deltas of a sorted column (`delta.rs`): row `i` is `reference` plus its block's anchor
    /// (`offsets`) plus the packed deltas from the block's first row to `i`.
    Delta {
        /// The value the sums start from (the smallest non-null value).
        reference: i128,
        /// Bits per delta, 0 to 64.
        width: u8,
        /// Rows per block, each with one anchor (at least 1).
        block_rows: u32,
    },
    /// Block compression of variable-width values (`blocks.rs`): `data` holds the compressed
    /// blocks, `offsets` their cumulative ends.
    Blocks {
        /// The codec: [`ZSTD_CODEC`].
        codec: u8,
        /// Rows per block (at least 1).
        block_rows: u32,
        /// Bytes of the column's values (its raw `data` region's length).
        raw_data_len: u64,
    },
}

impl Encoding {
    /// A short name for tools (`quiver info`): `packed 12-bit`, `delta 3-bit`, `dict 25
    /// values`, `zstd 4096-row blocks`.
    pub fn describe(&self) -> String {
        match self {
            Encoding::Packed { width, .. } => format!("packed {width}-bit"),
            Encoding::Delta { width, .. } => format!("delta {width}-bit"),
            Encoding::Dictionary { values, .. } => format!("dict {} values", values.rows),
            Encoding::Blocks { block_rows, .. } => format!("zstd {block_rows}-row blocks"),
        }
    }
}

/// An integer-like fixed-width type as a frame of reference sees it: its byte width and
/// whether its values are signed (two's complement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntKind {
    /// Bytes per value: 1, 2, 4, 8 or 16.
    pub width: usize,
    /// Signed (two's complement) or unsigned.
    pub signed: bool,
}

impl IntKind {
    /// The kind of `t` if packed storage serves it: integers, dates, times, timestamps,
    /// durations, year-month intervals, and decimals up to 128 bits (their unscaled values).
    pub fn of(t: &ColumnType) -> Option<Self> {
        use ColumnType::*;
        let signed = |width| {
            Some(Self {
                width,
                signed: true,
            })
        };
        let unsigned = |width| {
            Some(Self {
                width,
                signed: false,
            })
        };
        match t {
            Int8 => signed(1),
            Int16 => signed(2),
            Int32 | Date32 | Time32(_) | Decimal32(..) => signed(4),
            Interval(super::schema::IntervalUnit::YearMonth) => signed(4),
            Int64 | Date64 | Time64(_) | Timestamp(..) | Duration(_) | Decimal64(..) => signed(8),
            Decimal128(..) => signed(16),
            UInt8 => unsigned(1),
            UInt16 => unsigned(2),
            UInt32 => unsigned(4),
            UInt64 => unsigned(8),
            Dictionary(_, value) => Self::of(value),
            _ => None,
        }
    }

    /// The smallest value of the type.
    pub fn min(&self) -> i128 {
        match (self.signed, self.width) {
            (false, _) => 0,
            (true, 16) => i128::MIN,
            (true, w) => -(1i128 << (8 * w - 1)),
        }
    }

    /// The largest value of the type.
    pub fn max(&self) -> i128 {
        match (self.signed, self.width) {
            (true, 16) => i128::MAX,
            (true, w) => (1i128 << (8 * w - 1)) - 1,
            (false, w) => (1i128 << (8 * w)) - 1,
        }
    }

    /// Whether every packed value of `width` bits over `reference` (`reference ..= reference
    /// + 2^width - 1`) lies in the type's range, so no value needs checking.
    pub fn holds_every(&self, reference: i128, width: u8) -> bool {
        let top = if width >= 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        let in_range = |v: i128| v >= self.min() && v <= self.max();
        in_range(reference) && reference.checked_add(i128::from(top)).is_some_and(in_range)
    }

    /// The value stored little-endian in `bytes` (exactly `width` bytes).
    pub fn read(&self, bytes: &[u8]) -> i128 {
        let mut wide = [0u8; 16];
        wide[..self.width].copy_from_slice(bytes);
        let negative = self.signed && bytes[self.width - 1] & 0x80 != 0;
        if negative {
            wide[self.width..].fill(0xff);
        }
        i128::from_le_bytes(wide)
    }
}

/// A problem with one row of an encoded column: the row and what is wrong.
pub type RowError = (usize, String);

/// Checks that `rows` lies inside a column of `n` rows.
pub fn check_rows(rows: &Range<usize>, n: usize) -> Result<(), RowError> {
    if rows.start > rows.end || rows.end > n {
        return Err((
            rows.start.min(n),
            format!("rows {rows:?} of a column of {n} rows"),
        ));
    }
    Ok(())
}

/// The value a packed `v` stands for (`reference + v`), if it lies in the range of `kind`.
pub fn packed_value(reference: i128, v: u64, kind: IntKind) -> Option<i128> {
    reference
        .checked_add(i128::from(v))
        .filter(|&x| x >= kind.min() && x <= kind.max())
}

/// The `n` rows of a packed column (`reference + packed[i]`) in the raw fixed-width layout:
/// `n * kind.width` little-endian bytes. Fails on the first value outside the type's range,
/// or if `bytes` is shorter than the values need (`(n, ...)` then).
pub fn unpack_fixed(
    bytes: &[u8],
    reference: i128,
    width: u8,
    kind: IntKind,
    n: usize,
) -> Result<Vec<u8>, RowError> {
    unpack_fixed_rows(bytes, reference, width, kind, n, 0..n)
}

/// Rows `rows` (inside `0..n`) of a packed column of `n` rows, as [`unpack_fixed`] gives them
/// and with its checks (a row error names the row in the whole column); only those rows'
/// bits are read.
pub fn unpack_fixed_rows(
    bytes: &[u8],
    reference: i128,
    width: u8,
    kind: IntKind,
    n: usize,
    rows: Range<usize>,
) -> Result<Vec<u8>, RowError> {
    check_rows(&rows, n)?;
    let run = packed_run(bytes, width, n, "values")?;
    let mut out = vec![0u8; rows.len() * kind.width];
    // Every value lies in reference ..= reference + 2^width - 1: check each row only when
    // that range is not inside the type's.
    if kind.holds_every(reference, width) {
        if kind.width <= 8 {
            // In range, so the low 64 bits of the sum are the value's two's complement bits.
            let base = reference as u64;
            let values = run.iter_rows(rows).map(|v| base.wrapping_add(v));
            store_low_bytes!(&mut out, kind.width, values);
        } else {
            // 16 bytes: i128 holds every value of the range.
            store::<16, _>(
                &mut out,
                run.iter_rows(rows).map(|v| reference + i128::from(v)),
            );
        }
        return Ok(out);
    }
    let mut checked = Vec::with_capacity(rows.len());
    for (row, v) in rows.clone().zip(run.iter_rows(rows)) {
        let value = packed_value(reference, v, kind).ok_or_else(|| {
            (
                row,
                format!("value {reference} + {v} is outside the column type's range"),
            )
        })?;
        checked.push(value);
    }
    store_values(&mut out, kind.width, checked.into_iter());
    Ok(out)
}

/// Stores each of `values` (each in the range of a type of `width` bytes: 1, 2, 4, 8 or 16) as
/// its `width` little-endian bytes, one after another in `out` (`width` bytes per value).
#[inline]
pub(super) fn store_values(out: &mut [u8], width: usize, values: impl Iterator<Item = i128>) {
    match width {
        1 => store::<1, _>(out, values),
        2 => store::<2, _>(out, values),
        4 => store::<4, _>(out, values),
        8 => store::<8, _>(out, values),
        _ => store::<16, _>(out, values),
    }
}

/// Little-endian bytes of an integer, the low `W` of which [`store`] keeps.
pub(super) trait LeBytes: Copy {
    /// Bytes of the widest value of the type.
    const SIZE: usize;
    /// The value's bytes, little-endian.
    fn write_le(self, out: &mut [u8; 16]);
}

impl LeBytes for u64 {
    const SIZE: usize = 8;
    fn write_le(self, out: &mut [u8; 16]) {
        out[..8].copy_from_slice(&self.to_le_bytes());
    }
}

impl LeBytes for i128 {
    const SIZE: usize = 16;
    fn write_le(self, out: &mut [u8; 16]) {
        *out = self.to_le_bytes();
    }
}

/// Stores each of `values` as its low `W` bytes (`W` at most the type's size), little-endian,
/// one after another in `out` (which holds `W` bytes per value): a fixed-size store per value,
/// not a copy of a slice of run-time length.
pub(super) fn store<const W: usize, T: LeBytes>(out: &mut [u8], values: impl Iterator<Item = T>) {
    debug_assert!(W <= T::SIZE);
    let mut bytes = [0u8; 16];
    for (slot, v) in out.chunks_exact_mut(W).zip(values) {
        v.write_le(&mut bytes);
        slot.copy_from_slice(&bytes[..W]);
    }
}

/// The `n` dictionary codes of `bytes` (`width` bits each), every one checked to be below
/// `dictionary_rows`.
pub fn unpack_codes(
    bytes: &[u8],
    width: u8,
    n: usize,
    dictionary_rows: u64,
) -> Result<Vec<u32>, RowError> {
    unpack_codes_rows(bytes, width, n, dictionary_rows, 0..n)
}

/// The run of `n` packed `what` (values, codes) of `width` bits in `bytes`; an error (at row
/// `n`) when `bytes` is too short to hold them.
pub(super) fn packed_run<'a>(
    bytes: &'a [u8],
    width: u8,
    n: usize,
    what: &str,
) -> Result<Unpacker<'a>, RowError> {
    Unpacker::new(bytes, width, n).ok_or_else(|| {
        let len = bytes.len();
        (
            n,
            format!("{len} bytes cannot hold {n} {what} of {width} bits"),
        )
    })
}

/// The codes of rows `rows` (inside `0..n`) of a dictionary column of `n` rows, with the
/// checks of [`unpack_codes`]; only those rows' bits are read.
pub fn unpack_codes_rows(
    bytes: &[u8],
    width: u8,
    n: usize,
    dictionary_rows: u64,
    rows: Range<usize>,
) -> Result<Vec<u32>, RowError> {
    check_rows(&rows, n)?;
    if width > MAX_CODE_WIDTH {
        return Err((0, format!("code width {width} is above {MAX_CODE_WIDTH}")));
    }
    let run = packed_run(bytes, width, n, "codes")?;
    let mut out = Vec::with_capacity(rows.len());
    for (row, code) in rows.clone().zip(run.iter_rows(rows)) {
        if code >= dictionary_rows {
            return Err((
                row,
                format!("code {code} is past the dictionary's {dictionary_rows} values"),
            ));
        }
        out.push(code as u32);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::bitpack::pack;

    #[test]
    fn int_kinds_read_and_bound_their_values() {
        let i8k = IntKind::of(&ColumnType::Int8).unwrap();
        assert_eq!((i8k.min(), i8k.max()), (-128, 127));
        assert_eq!(i8k.read(&[0xff]), -1);
        let u64k = IntKind::of(&ColumnType::UInt64).unwrap();
        assert_eq!(u64k.max(), u64::MAX as i128);
        assert_eq!(u64k.read(&[0xff; 8]), u64::MAX as i128);
        let d = IntKind::of(&ColumnType::Decimal128(15, 2)).unwrap();
        assert_eq!(d.read(&(-5i128).to_le_bytes()), -5);
        assert_eq!(IntKind::of(&ColumnType::Float64), None);
        assert_eq!(IntKind::of(&ColumnType::Utf8), None);
    }

    #[test]
    fn unpacked_values_are_the_raw_layout_and_out_of_range_ones_are_refused() {
        let kind = IntKind::of(&ColumnType::Int16).unwrap();
        let bytes = pack([0u64, 5, 10].into_iter(), 4);
        let raw = unpack_fixed(&bytes, -3, 4, kind, 3).unwrap();
        assert_eq!(
            raw,
            [(-3i16), 2, 7]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );
        // 32,760 + 10 does not fit an Int16: row 2 is named.
        let (row, msg) = unpack_fixed(&bytes, 32_760, 4, kind, 3).unwrap_err();
        assert_eq!(row, 2, "{msg}");
        assert!(unpack_fixed(&bytes[..0], 0, 4, kind, 3).is_err());
    }

    #[test]
    fn every_byte_width_unpacks_to_its_raw_bytes_on_proven_and_checked_paths() {
        use super::super::schema::ColumnType::*;
        let packed = [0u64, 1, 6, 7];
        let bytes = pack(packed.into_iter(), 3);
        for t in [Int8, Int16, Int32, Int64, Decimal128(38, 2), UInt8, UInt64] {
            let kind = IntKind::of(&t).unwrap();
            // A reference a few below the type's top: the range 0..=7 above it is not inside
            // the type's, so each row is checked (and the last rows are refused); one lower
            // is proven.
            let top = kind.max();
            for (reference, proven) in [(kind.min(), true), (top - 7, true), (top - 6, false)] {
                assert_eq!(kind.holds_every(reference, 3), proven, "{t:?}");
                let expect = |rows: std::ops::Range<usize>| -> Vec<u8> {
                    packed[rows]
                        .iter()
                        .flat_map(|&v| {
                            (reference + i128::from(v)).to_le_bytes()[..kind.width].to_vec()
                        })
                        .collect()
                };
                if proven {
                    assert_eq!(
                        unpack_fixed(&bytes, reference, 3, kind, 4).unwrap(),
                        expect(0..4)
                    );
                    assert_eq!(
                        unpack_fixed_rows(&bytes, reference, 3, kind, 4, 1..3).unwrap(),
                        expect(1..3)
                    );
                } else {
                    assert_eq!(
                        unpack_fixed_rows(&bytes, reference, 3, kind, 4, 0..3).unwrap(),
                        expect(0..3),
                        "{t:?}: checked rows in range"
                    );
                    assert_eq!(
                        unpack_fixed(&bytes, reference, 3, kind, 4).unwrap_err().0,
                        3
                    );
                }
            }
        }
    }

    #[test]
    fn codes_past_the_dictionary_are_refused_with_their_row() {
        let bytes = pack([0u64, 2, 3].into_iter(), 2);
        assert_eq!(unpack_codes(&bytes, 2, 3, 4).unwrap(), vec![0, 2, 3]);
        assert_eq!(unpack_codes(&bytes, 2, 3, 3).unwrap_err().0, 2);
        assert!(unpack_codes(&bytes, 33, 3, 3).is_err());
    }
}
