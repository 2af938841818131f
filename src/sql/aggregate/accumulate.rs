//! Per-group accumulators of the aggregate scan: counts, 128-bit sums, minima and maxima of
//! integer values, updated from one chunk of rows at a time.
//!
//! # Contract
//! - [`Accumulator::update`] adds the rows of a chunk that are marked in `rows` (one byte per
//!   row, 0 or 1; all rows when `None`) to the groups `groups[row]` names (group 0 when `None`): `count` counts them,
//!   `sum` adds their values with wrapping 128-bit addition (DataFusion's `SUM` also wraps, so
//!   any order of additions gives its partial sum bit for bit), `min` / `max` keep the
//!   extremes.
//! - Rows outside `rows` may name any group below the current number of groups; they never
//!   change a group.
//! - [`Accumulator::resize`] grows every vector to the number of groups, new groups empty.

/// Which states an aggregate keeps.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Needs {
    pub(super) sum: bool,
    pub(super) min: bool,
    pub(super) max: bool,
}

impl Needs {
    /// The states either needs.
    pub(super) fn union(self, other: Needs) -> Needs {
        Needs {
            sum: self.sum || other.sum,
            min: self.min || other.min,
            max: self.max || other.max,
        }
    }
}

/// The states of one aggregate, per group.
#[derive(Debug, Default)]
pub(super) struct Accumulator {
    needs: Needs,
    /// Rows counted (non-NULL values).
    pub(super) count: Vec<u64>,
    pub(super) sum: Vec<i128>,
    pub(super) min: Vec<i128>,
    pub(super) max: Vec<i128>,
}

impl Accumulator {
    pub(super) fn new(needs: Needs) -> Self {
        Self {
            needs,
            ..Self::default()
        }
    }

    /// Bytes held per group.
    pub(super) fn bytes_per_group(&self) -> usize {
        let n =
            usize::from(self.needs.sum) + usize::from(self.needs.min) + usize::from(self.needs.max);
        8 + 16 * n
    }

    pub(super) fn resize(&mut self, groups: usize) {
        self.count.resize(groups, 0);
        if self.needs.sum {
            self.sum.resize(groups, 0);
        }
        if self.needs.min {
            self.min.resize(groups, i128::MAX);
        }
        if self.needs.max {
            self.max.resize(groups, i128::MIN);
        }
    }

    /// Counts the marked rows of a chunk of `len` rows.
    pub(super) fn count_rows(&mut self, len: usize, rows: Option<&[u8]>, groups: Option<&[u32]>) {
        match (groups, rows) {
            (None, None) => self.count[0] += len as u64,
            (None, Some(r)) => self.count[0] += r.iter().map(|&k| u64::from(k)).sum::<u64>(),
            (Some(g), None) => g.iter().for_each(|&g| self.count[g as usize] += 1),
            (Some(g), Some(r)) => g
                .iter()
                .zip(r)
                .for_each(|(&g, &k)| self.count[g as usize] += u64::from(k)),
        }
    }

    /// Adds `values` (one per row of the chunk) at the marked rows.
    pub(super) fn update<T: Copy + Into<i128>>(
        &mut self,
        values: &[T],
        rows: Option<&[u8]>,
        groups: Option<&[u32]>,
    ) {
        if self.needs.sum {
            sum_into(&mut self.count, &mut self.sum, values, rows, groups);
        } else {
            self.count_rows(values.len(), rows, groups);
        }
        if self.needs.min {
            extreme_into(&mut self.min, values, rows, groups, |acc, v| acc.min(v));
        }
        if self.needs.max {
            extreme_into(&mut self.max, values, rows, groups, |acc, v| acc.max(v));
        }
    }
}

/// Marks as one byte (0 or 1) per row, for branch-free loops.
pub(super) fn mark_bytes(rows: &arrow::buffer::BooleanBuffer) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len());
    let chunks = rows.inner().bit_chunks(rows.offset(), rows.len());
    for word in chunks.iter() {
        out.extend((0..64).map(|j| ((word >> j) & 1) as u8));
    }
    let rest = chunks.remainder_bits();
    out.extend((0..chunks.remainder_len()).map(|j| ((rest >> j) & 1) as u8));
    out
}

fn sum_into<T: Copy + Into<i128>>(
    count: &mut [u64],
    sum: &mut [i128],
    values: &[T],
    rows: Option<&[u8]>,
    groups: Option<&[u32]>,
) {
    match (groups, rows) {
        (None, None) => {
            let total = values
                .iter()
                .fold(0i128, |acc, &v| acc.wrapping_add(v.into()));
            sum[0] = sum[0].wrapping_add(total);
            count[0] += values.len() as u64;
        }
        (None, Some(r)) => {
            let (mut total, mut n) = (0i128, 0u64);
            for (&v, &k) in values.iter().zip(r) {
                total = total.wrapping_add(if k != 0 { v.into() } else { 0 });
                n += u64::from(k);
            }
            sum[0] = sum[0].wrapping_add(total);
            count[0] += n;
        }
        (Some(g), r) if sum.len() <= FEW_GROUPS => sum_few_groups(count, sum, values, r, g),
        (Some(g), None) => values.iter().zip(g).for_each(|(&v, &g)| {
            let g = g as usize;
            sum[g] = sum[g].wrapping_add(v.into());
            count[g] += 1;
        }),
        (Some(g), Some(r)) => values.iter().zip(g).zip(r).for_each(|((&v, &g), &k)| {
            let g = g as usize;
            sum[g] = sum[g].wrapping_add(if k != 0 { v.into() } else { 0 });
            count[g] += u64::from(k);
        }),
    }
}

/// Group counts up to which sums run in [`LANES`] interleaved local accumulators per group.
const FEW_GROUPS: usize = 16;
/// Consecutive rows of one group would otherwise wait on each other's store to memory.
const LANES: usize = 4;

fn sum_few_groups<T: Copy + Into<i128>>(
    count: &mut [u64],
    sum: &mut [i128],
    values: &[T],
    rows: Option<&[u8]>,
    groups: &[u32],
) {
    let mut sums = [[0i128; LANES]; FEW_GROUPS];
    let mut counts = [[0u64; LANES]; FEW_GROUPS];
    for (i, (&v, &g)) in values.iter().zip(groups).enumerate() {
        let k = rows.map_or(1, |r| r[i]);
        let lane = i % LANES;
        let g = g as usize % FEW_GROUPS;
        sums[g][lane] = sums[g][lane].wrapping_add(if k != 0 { v.into() } else { 0 });
        counts[g][lane] += u64::from(k);
    }
    for (g, (s, c)) in sum.iter_mut().zip(count.iter_mut()).enumerate() {
        *s = sums[g].iter().fold(*s, |a, &x| a.wrapping_add(x));
        *c += counts[g].iter().sum::<u64>();
    }
}

fn extreme_into<T: Copy + Into<i128>>(
    acc: &mut [i128],
    values: &[T],
    rows: Option<&[u8]>,
    groups: Option<&[u32]>,
    pick: fn(i128, i128) -> i128,
) {
    match (groups, rows) {
        (None, None) => {
            acc[0] = values.iter().fold(acc[0], |a, &v| pick(a, v.into()));
        }
        (None, Some(r)) => {
            for (&v, &k) in values.iter().zip(r) {
                if k != 0 {
                    acc[0] = pick(acc[0], v.into());
                }
            }
        }
        (Some(g), None) => values.iter().zip(g).for_each(|(&v, &g)| {
            let a = &mut acc[g as usize];
            *a = pick(*a, v.into());
        }),
        (Some(g), Some(r)) => {
            for ((&v, &g), &k) in values.iter().zip(g).zip(r) {
                if k != 0 {
                    let a = &mut acc[g as usize];
                    *a = pick(*a, v.into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::buffer::BooleanBuffer;

    #[test]
    fn marked_rows_alone_change_their_groups() {
        let mut acc = Accumulator::new(Needs {
            sum: true,
            min: true,
            max: true,
        });
        acc.resize(2);
        let rows = mark_bytes(&BooleanBuffer::from(vec![true, false, true, true]));
        acc.update(&[5i64, 100, -3, 7], Some(&rows), Some(&[0, 0, 1, 0]));
        assert_eq!(acc.count, vec![2, 1]);
        assert_eq!(acc.sum, vec![12, -3]);
        assert_eq!(acc.min, vec![5, -3]);
        assert_eq!(acc.max, vec![7, -3]);
    }

    #[test]
    fn mark_bytes_follow_the_bits_at_any_offset() {
        let bits: Vec<bool> = (0..150).map(|i| i % 3 == 0 || i % 7 == 0).collect();
        let buffer = BooleanBuffer::from(bits.clone()).slice(5, 140);
        let want: Vec<u8> = bits[5..145].iter().map(|&b| u8::from(b)).collect();
        assert_eq!(mark_bytes(&buffer), want);
    }

    #[test]
    fn few_and_many_groups_sum_alike() {
        let values: Vec<i64> = (0..1000).map(|i| i * 7 - 300).collect();
        let groups: Vec<u32> = (0..1000).map(|i| (i * 13 % 40) as u32).collect();
        let rows: Vec<u8> = (0..1000).map(|i| u8::from(i % 5 != 0)).collect();
        let run = |n: usize| {
            let mut acc = Accumulator::new(Needs {
                sum: true,
                ..Needs::default()
            });
            acc.resize(n);
            let g: Vec<u32> = groups.iter().map(|&g| g % n as u32).collect();
            acc.update(&values, Some(&rows), Some(&g));
            (acc.sum, acc.count)
        };
        let (few, many) = (run(FEW_GROUPS), run(FEW_GROUPS + 1));
        let total = |v: &[i128]| v.iter().sum::<i128>();
        assert_eq!(total(&few.0), total(&many.0));
        assert_eq!(few.1.iter().sum::<u64>(), 800);
        // Against the plain loop, group by group.
        let mut want = vec![0i128; FEW_GROUPS];
        for ((&v, &g), &k) in values.iter().zip(&groups).zip(&rows) {
            want[g as usize % FEW_GROUPS] += i128::from(v) * i128::from(k);
        }
        assert_eq!(few.0, want);
    }

    #[test]
    fn sums_wrap_as_datafusion_sums_do() {
        let mut acc = Accumulator::new(Needs {
            sum: true,
            ..Needs::default()
        });
        acc.resize(1);
        acc.update(&[i128::MAX, 1], None, None);
        assert_eq!(acc.sum, vec![i128::MIN]);
        assert_eq!(acc.count, vec![2]);
    }
}
