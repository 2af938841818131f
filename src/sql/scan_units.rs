//! The units a Quiver scan is planned in: zones (runs of rows with their own statistics) of
//! segments, and their split into output partitions.
//!
//! # Contract
//! - A [`Unit`] is the rows of one zone that survived planning-time pruning, with the
//!   conjuncts of the scan's exact filter its statistics left undecided (none: the zone
//!   passes whole) and how many of its rows the version deleted (those never come out).
//! - [`split`] cuts the units, in row order, into at most `n` contiguous ranges of about equal
//!   row counts — always at least one (possibly empty) range, as DataFusion expects.

use std::ops::Range;

use super::row_filter::ConjunctSet;

/// Rows `start..end` of zone `zone` of segment `segment`, and what is left to evaluate there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unit {
    pub(super) segment: usize,
    pub(super) zone: usize,
    pub(super) start: usize,
    pub(super) end: usize,
    /// Conjuncts of the exact filter still to evaluate on these rows.
    pub(super) pending: ConjunctSet,
    /// Rows among `start..end` the version no longer shows (its deletion vector).
    pub(super) deleted: usize,
}

impl Unit {
    /// Stored rows of the unit, deleted ones included.
    pub(super) fn rows(&self) -> usize {
        self.end - self.start
    }

    /// Rows of the unit the version shows.
    pub(super) fn visible_rows(&self) -> usize {
        self.rows() - self.deleted
    }
}

/// Splits `units` into at most `n` contiguous ranges of about equal row counts.
pub(super) fn split(units: &[Unit], n: usize) -> Vec<Range<usize>> {
    let total: usize = units.iter().map(Unit::rows).sum();
    if units.is_empty() {
        // One empty partition: DataFusion expects at least one.
        return std::iter::once(0..0).collect();
    }
    let n = n.max(1).min(units.len());
    let target = total.div_ceil(n).max(1);
    let mut out = Vec::with_capacity(n);
    let (mut start, mut acc) = (0, 0);
    for (i, u) in units.iter().enumerate() {
        acc += u.rows();
        if acc >= target && out.len() + 1 < n {
            out.push(start..i + 1);
            start = i + 1;
            acc = 0;
        }
    }
    if start < units.len() {
        out.push(start..units.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(rows: &[usize]) -> Vec<Unit> {
        rows.iter()
            .enumerate()
            .map(|(i, &r)| Unit {
                segment: 0,
                zone: i,
                start: 0,
                end: r,
                pending: 0,
                deleted: 0,
            })
            .collect()
    }

    #[test]
    fn split_balances_rows_over_contiguous_ranges() {
        let u = units(&[10, 10, 10, 10]);
        assert_eq!(split(&u, 2), vec![0..2, 2..4]);
        assert_eq!(split(&u, 8), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(split(&units(&[100, 1, 1, 1]), 2), vec![0..1, 1..4]);
        assert_eq!(split(&[], 4), vec![0..0]);
    }
}
