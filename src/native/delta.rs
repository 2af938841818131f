//! Delta encoding of sorted integer-like columns (format v3 encoding `delta`): each row stores
//! its difference from the row before, bit-packed, and each block of rows the offset of the
//! value just before its first row, so any row decodes from the start of its block alone.
//! Knows nothing of Arrow.
//!
//! # Contract
//! - Row `i`, in block `b = i / block_rows`, is `reference + anchors[b] + deltas[b *
//!   block_rows] + … + deltas[i]` (docs/FORMAT.md, "Encoded columns"): `anchors` are the
//!   little-endian `u64`s of the column's `offsets` region, one per block; `deltas` a
//!   bit-packed run of `width` bits per row (`bitpack.rs`) in its `data` region.
//! - [`plan`] encodes a column whose non-null values never decrease: `reference` is the first
//!   (smallest) non-null value, null rows store delta 0 (so they carry the value before them),
//!   `width` is the bits of the largest step. `None` when a value decreases or the column's
//!   range exceeds 64 bits (anchors are `u64`), or for an all-null column.
//! - [`DeltaColumn::rows`] trusts nothing: the anchors' count, the run's length, every sum of
//!   an anchor and its block's deltas (at most `2^64 - 1`, checked), and every value against
//!   its type's range; a failure names the row.
//!   Decoding rows `s..e` reads only the deltas from the start of `s`'s block to `e`, so a
//!   `take` of one row reads at most `block_rows` of them.

use std::ops::Range;

use super::bitpack::{bit_width, pack};
use super::encoding::{check_rows, packed_run, store_low_bytes, store_values, IntKind, RowError};
use super::segment::u64_at;

/// Rows per block written: an anchor costs 64 bits per block (1/16 bit a row at 1,024 rows),
/// and a `take` of a row sums at most this many deltas.
pub const BLOCK_ROWS: u32 = 1024;

/// A planned delta layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPlan {
    /// The value the sums start from (the smallest non-null value).
    pub reference: i128,
    /// Bits per delta.
    pub width: u8,
    /// The `data` region: one packed delta per row.
    pub deltas: Vec<u8>,
    /// One anchor per block of [`BLOCK_ROWS`] rows (the `offsets` region).
    pub anchors: Vec<u64>,
}

/// Plans the delta layout of fixed-width integer-like values `data` of `kind`, with null array
/// `nulls` (`None`: no nulls) — see the module contract for when it is `None`.
pub fn plan(data: &[u8], kind: IntKind, nulls: Option<&[u8]>) -> Option<DeltaPlan> {
    let n = data.len() / kind.width;
    let value = |r: usize| kind.read(&data[r * kind.width..(r + 1) * kind.width]);
    let valid = |r: usize| nulls.is_none_or(|nulls| nulls[r] == 0);
    let (mut first, mut last, mut widest) = (None, 0i128, 0u64);
    for r in (0..n).filter(|&r| valid(r)) {
        let v = value(r);
        match first {
            None => first = Some(v),
            Some(_) => widest = widest.max(u64::try_from(v.checked_sub(last)?).ok()?),
        }
        last = v;
    }
    let reference = first?;
    u64::try_from(last - reference).ok()?;
    let width = bit_width(widest);
    let per_block = BLOCK_ROWS as usize;
    let mut anchors = Vec::with_capacity(n.div_ceil(per_block));
    let mut deltas = Vec::with_capacity(n);
    let mut running = reference;
    for r in 0..n {
        if r % per_block == 0 {
            // In range: every running value lies in reference ..= last.
            anchors.push((running - reference) as u64);
        }
        let mut step = 0;
        if valid(r) {
            let v = value(r);
            // In range: the steps were measured above.
            step = (v - running) as u64;
            running = v;
        }
        deltas.push(step);
    }
    Some(DeltaPlan {
        reference,
        width,
        deltas: pack(deltas.into_iter(), width),
        anchors,
    })
}

/// A delta-encoded column as its footer entry and regions describe it (module contract).
#[derive(Debug, Clone, Copy)]
pub struct DeltaColumn<'a> {
    /// The `data` region: packed deltas.
    pub deltas: &'a [u8],
    /// The `offsets` region: one `u64` anchor per block.
    pub anchors: &'a [u8],
    /// The value the sums start from.
    pub reference: i128,
    /// Bits per delta.
    pub width: u8,
    /// Rows per block (at least 1).
    pub block_rows: u32,
    /// The column's type.
    pub kind: IntKind,
    /// Rows in the column.
    pub rows: usize,
}

impl DeltaColumn<'_> {
    /// Rows `rows` (inside the column) in the raw fixed-width layout: `rows.len() *
    /// kind.width` little-endian bytes, every value checked (module contract). An error names
    /// the row in the whole column.
    pub fn rows(&self, rows: Range<usize>) -> Result<Vec<u8>, RowError> {
        check_rows(&rows, self.rows)?;
        if self.block_rows == 0 {
            return Err((0, "blocks of 0 rows".into()));
        }
        let per_block = self.block_rows as usize;
        let blocks = self.rows.div_ceil(per_block);
        if self.anchors.len() as u64 != 8 * blocks as u64 {
            return Err((
                0,
                format!(
                    "{} bytes of block anchors for {blocks} blocks",
                    self.anchors.len()
                ),
            ));
        }
        let run = packed_run(self.deltas, self.width, self.rows, "deltas")?;
        let mut out = vec![0u8; rows.len() * self.kind.width];
        if rows.is_empty() {
            return Ok(out);
        }
        let (kind, reference) = (self.kind, self.reference);
        // The offsets whose value `reference + offset` lies in the type's range, `lo ..= hi`
        // (`None`: no offset does). Saturated differences are past every `u64` either way.
        let lo = kind.min().saturating_sub(reference).max(0);
        let hi = kind.max().saturating_sub(reference).min(u64::MAX.into());
        let window = (lo <= hi && lo <= u64::MAX.into()).then_some((lo as u64, hi as u64));
        let anchor = |b: usize| u64_at(self.anchors, 8 * b);
        let overflow = |row: usize| {
            (
                row,
                "the block's anchor and deltas sum past 2^64 - 1".into(),
            )
        };
        // The offset just before `rows.start`, summed from the start of its block.
        let first = rows.start - rows.start % per_block;
        let mut offset = anchor(first / per_block);
        for (row, delta) in (first..rows.start).zip(run.iter_rows(first..rows.start)) {
            offset = offset.checked_add(delta).ok_or_else(|| overflow(row))?;
        }
        let mut offsets = Vec::with_capacity(rows.len());
        let mut row = rows.start;
        while row < rows.end {
            let block_end = ((row / per_block + 1) * per_block).min(rows.end);
            if row.is_multiple_of(per_block) {
                offset = anchor(row / per_block);
            }
            for delta in run.iter_rows(row..block_end) {
                offset = offset.checked_add(delta).ok_or_else(|| overflow(row))?;
                if !window.is_some_and(|(lo, hi)| (lo..=hi).contains(&offset)) {
                    return Err((
                        row,
                        format!("value {reference} + {offset} is outside the column type's range"),
                    ));
                }
                offsets.push(offset);
                row += 1;
            }
        }
        if kind.width <= 8 {
            // In range (checked above), so the low 64 bits of the sum are the value's two's
            // complement bits.
            let base = reference as u64;
            let values = offsets.iter().map(|&o| base.wrapping_add(o));
            store_low_bytes!(&mut out, kind.width, values);
        } else {
            let values = offsets.iter().map(|&o| reference + i128::from(o));
            store_values(&mut out, kind.width, values);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::ColumnType;
    use super::*;

    fn int64(values: &[i64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn column<'a>(
        plan: &'a DeltaPlan,
        anchors: &'a [u8],
        kind: IntKind,
        rows: usize,
    ) -> DeltaColumn<'a> {
        DeltaColumn {
            deltas: &plan.deltas,
            anchors,
            reference: plan.reference,
            width: plan.width,
            block_rows: BLOCK_ROWS,
            kind,
            rows,
        }
    }

    fn anchor_bytes(plan: &DeltaPlan) -> Vec<u8> {
        plan.anchors.iter().flat_map(|a| a.to_le_bytes()).collect()
    }

    #[test]
    fn sorted_values_with_nulls_round_trip_through_any_row_range() {
        let kind = IntKind::of(&ColumnType::Int64).unwrap();
        let n = 3 * BLOCK_ROWS as usize + 17;
        let values: Vec<i64> = (0..n as i64).map(|i| -5_000 + i / 3 * 7).collect();
        let nulls: Vec<u8> = (0..n).map(|i| u8::from(i % 11 == 4)).collect();
        let data = int64(&values);
        let plan = plan(&data, kind, Some(&nulls)).unwrap();
        assert_eq!(
            (plan.reference, plan.width),
            (-5_000, 3),
            "steps of 0 and 7"
        );
        assert_eq!(plan.anchors.len(), 4);
        let anchors = anchor_bytes(&plan);
        let col = column(&plan, &anchors, kind, n);
        for rows in [0..n, 5..6, 1023..1025, 2048..2048, 1500..n, n - 1..n] {
            let got = col.rows(rows.clone()).unwrap();
            for (i, r) in rows.clone().enumerate() {
                if nulls[r] == 0 {
                    assert_eq!(&got[8 * i..8 * i + 8], &data[8 * r..8 * r + 8], "row {r}");
                }
            }
        }
    }

    #[test]
    fn decreasing_and_too_wide_columns_are_not_planned() {
        let kind = IntKind::of(&ColumnType::Int64).unwrap();
        assert!(plan(&int64(&[1, 2, 1]), kind, None).is_none());
        assert!(plan(&int64(&[i64::MIN, i64::MAX]), kind, None).is_some());
        let wide = IntKind::of(&ColumnType::Decimal128(38, 0)).unwrap();
        let bytes: Vec<u8> = [0i128, 1 << 70]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert!(plan(&bytes, wide, None).is_none());
        assert!(
            plan(&int64(&[3, 9]), kind, Some(&[1, 1])).is_none(),
            "all null"
        );
        // A decrease hidden behind a null is still a decrease.
        assert!(plan(&int64(&[5, 0, 4]), kind, Some(&[0, 1, 0])).is_none());
    }

    #[test]
    fn hostile_anchors_deltas_and_widths_are_refused_with_their_row() {
        let kind = IntKind::of(&ColumnType::Int8).unwrap();
        let data: Vec<u8> = [-100i8, -50, 0, 120].iter().map(|&v| v as u8).collect();
        let plan = plan(&data, kind, None).unwrap();
        let anchors = anchor_bytes(&plan);
        let col = column(&plan, &anchors, kind, 4);
        let back: Vec<u8> = col.rows(0..4).unwrap();
        assert_eq!(back, data);
        // An anchor that pushes the values past i8's range fails at the first row it reaches.
        let big = 300u64.to_le_bytes();
        let err = column(&plan, &big, kind, 4).rows(2..4).unwrap_err();
        assert_eq!(err.0, 2, "{err:?}");
        let short = column(&plan, &anchors[..4], kind, 4)
            .rows(0..1)
            .unwrap_err();
        assert!(short.1.contains("anchors"), "{short:?}");
        let mut wide = column(&plan, &anchors, kind, 4);
        wide.width = 65;
        assert!(wide.rows(0..1).is_err());
        let mut zero = column(&plan, &anchors, kind, 4);
        zero.block_rows = 0;
        assert!(zero.rows(0..1).is_err());
        assert!(col.rows(3..5).is_err(), "past the end");
    }

    #[test]
    fn steps_as_wide_as_64_bits_sum_without_overflow() {
        let kind = IntKind::of(&ColumnType::UInt64).unwrap();
        let data: Vec<u8> = [0u64, u64::MAX]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let plan = plan(&data, kind, None).unwrap();
        assert_eq!(plan.width, 64);
        let anchors = anchor_bytes(&plan);
        assert_eq!(column(&plan, &anchors, kind, 2).rows(0..2).unwrap(), data);
        // Every delta at its maximum: row 0 is u64::MAX, row 1 overflows the type, not the sum.
        let all_ones = vec![0xffu8; 16];
        let hostile = DeltaColumn {
            deltas: &all_ones,
            ..column(&plan, &anchors, kind, 2)
        };
        assert_eq!(hostile.rows(0..2).unwrap_err().0, 1);
    }

    #[test]
    fn references_far_outside_the_type_are_checked_without_overflow() {
        let zeros = [0u8; 8];
        let column = |kind: ColumnType, reference: i128, anchor: u64| {
            let anchor = anchor.to_le_bytes();
            DeltaColumn {
                deltas: &zeros,
                anchors: &anchor,
                reference,
                width: 1,
                block_rows: BLOCK_ROWS,
                kind: IntKind::of(&kind).unwrap(),
                rows: 2,
            }
            .rows(0..2)
        };
        let wide = ColumnType::Decimal128(38, 0);
        assert_eq!(column(wide.clone(), i128::MIN, 7).unwrap().len(), 32);
        assert!(column(wide, i128::MAX, 1).is_err());
        // Far below an unsigned type's range: only the offsets that reach it are values.
        assert_eq!(column(ColumnType::UInt8, -300, 300).unwrap(), vec![0, 0]);
        assert!(column(ColumnType::UInt8, -300, 299).is_err());
        assert!(column(ColumnType::UInt64, i128::MIN, u64::MAX).is_err());
        assert!(column(ColumnType::Int8, i128::MAX, 0).is_err());
    }
}
