//! Plans an encoded layout for one column from its raw build buffers: which encoding (if any)
//! a writer's [`EncodingChoice`] leads to, and the bytes of its regions. Knows nothing of
//! Arrow.
//!
//! # Contract
//! - [`plan_fixed`] and [`plan_variable`] read a column's raw values (fixed-width bytes, or
//!   bytes with cumulative end offsets) and its null array (`None`: no nulls), and return the
//!   encoded form the choice allows, or `None` to store the column raw:
//!   - `packed` (integer-like types, `IntKind::of`): frame of reference = the smallest
//!     non-null value, width = the bits of `max - min` (at most 64); null rows pack 0.
//!   - `delta` (integer-like types whose non-null values never decrease): steps from the row
//!     before, with one anchor per block of rows (`delta.rs`).
//!   - `dict` (fixed- or variable-width values): the distinct non-null values in order of first
//!     appearance, at most [`MAX_DICTIONARY_VALUES`]; null rows get code 0.
//!   - `zstd` (variable-width values): blocks of [`blocks::BLOCK_ROWS`] rows, each one zstd
//!     frame (`blocks.rs`).
//!   - `compact`: the smallest of these (where the type allows each), if smaller than raw —
//!     for sorted integer-like values usually `delta`, for others `packed`;
//!     for variable-width values a dictionary when the values fit one, else zstd blocks;
//!     variable-width values are tried as a dictionary only while the first
//!     [`SAMPLE_ROWS`] rows stay under half distinct (so high-cardinality text costs a sample,
//!     not a full hash). `auto`: as `compact`, only when saving at least
//!     [`AUTO_MIN_SAVING`] of the raw bytes.
//! - The plan is exact: decoding it (`encoding.rs`) gives back every non-null row's bytes.

use foldhash::HashMap;

use super::bitpack::{bit_width, pack, packed_len};
use super::blocks;
use super::delta::{self, DeltaPlan};
use super::encoding::IntKind;
use super::encoding_choice::EncodingChoice;
use super::schema::ColumnType;
use super::segment::u64_at;

/// Most values in a segment's dictionary.
pub const MAX_DICTIONARY_VALUES: usize = 1 << 24;
/// `auto` encodes a column only when the encoding takes at most `1 - AUTO_MIN_SAVING` of the
/// raw bytes.
pub const AUTO_MIN_SAVING: f64 = 0.25;
/// Rows a variable-width column is sampled for before a `compact` / `auto` dictionary is built.
pub const SAMPLE_ROWS: usize = 1 << 14;

/// The values of a planned dictionary, in the raw layout of the column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DictionaryValues {
    /// Fixed-width values back to back.
    Fixed(Vec<u8>),
    /// Variable-width values back to back and their cumulative end offsets.
    Variable {
        /// The bytes.
        data: Vec<u8>,
        /// One end offset per value, no leading zero.
        ends: Vec<u64>,
    },
}

impl DictionaryValues {
    fn bytes(&self) -> u64 {
        match self {
            DictionaryValues::Fixed(d) => d.len() as u64,
            DictionaryValues::Variable { data, ends } => (data.len() + 8 * ends.len()) as u64,
        }
    }
}

/// An encoded layout planned for a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Frame of reference and bit packing.
    Packed {
        /// The value packed zeros stand for.
        reference: i128,
        /// Bits per row.
        width: u8,
        /// The `data` region.
        packed: Vec<u8>,
    },
    /// Deltas of a sorted column, with one anchor per block (`delta.rs`).
    Delta(DeltaPlan),
    /// zstd-compressed blocks of rows (`blocks.rs`).
    Blocks {
        /// The `data` region: the blocks.
        data: Vec<u8>,
        /// The blocks' cumulative end offsets (the `offsets` region).
        block_ends: Vec<u64>,
        /// Bytes of the column's values.
        raw_data_len: u64,
    },
    /// Dictionary codes.
    Dictionary {
        /// Bits per code.
        width: u8,
        /// The `data` region: one code per row.
        packed: Vec<u8>,
        /// Number of values.
        rows: u64,
        /// Bytes of the column's raw `data` region.
        raw_data_len: u64,
        /// The values.
        values: DictionaryValues,
    },
}

impl Plan {
    /// Bytes the plan's regions take (data, and the dictionary's regions).
    pub fn bytes(&self) -> u64 {
        match self {
            Plan::Packed { packed, .. } => packed.len() as u64,
            Plan::Delta(d) => (d.deltas.len() + 8 * d.anchors.len()) as u64,
            Plan::Dictionary { packed, values, .. } => packed.len() as u64 + values.bytes(),
            Plan::Blocks {
                data, block_ends, ..
            } => (data.len() + 8 * block_ends.len()) as u64,
        }
    }
}

fn is_null(nulls: Option<&[u8]>, row: usize) -> bool {
    nulls.is_some_and(|n| n[row] != 0)
}

/// Keeps the plan that `choice` allows among `candidates` for a column of `raw` bytes.
fn pick(choice: EncodingChoice, raw: u64, candidates: Vec<Option<Plan>>) -> Option<Plan> {
    let best = candidates.into_iter().flatten().min_by_key(Plan::bytes)?;
    let limit = match choice {
        EncodingChoice::Raw => return None,
        EncodingChoice::Dictionary
        | EncodingChoice::Packed
        | EncodingChoice::Delta
        | EncodingChoice::Zstd => return Some(best),
        EncodingChoice::Compact => raw.saturating_sub(1),
        EncodingChoice::Auto => ((1.0 - AUTO_MIN_SAVING) * raw as f64) as u64,
    };
    (best.bytes() <= limit).then_some(best)
}

/// Plans `n` fixed-width values of `width` bytes in `data`, of type `t` (module contract).
pub fn plan_fixed(
    data: &[u8],
    width: usize,
    t: &ColumnType,
    nulls: Option<&[u8]>,
    choice: EncodingChoice,
) -> Option<Plan> {
    let n = data.len() / width.max(1);
    let kind = IntKind::of(t);
    let packed = match (choice, kind) {
        (EncodingChoice::Packed | EncodingChoice::Compact | EncodingChoice::Auto, Some(kind)) => {
            plan_packed(data, kind, nulls)
        }
        _ => None,
    };
    let delta = match (choice, kind) {
        (EncodingChoice::Delta | EncodingChoice::Compact | EncodingChoice::Auto, Some(kind)) => {
            delta::plan(data, kind, nulls).map(Plan::Delta)
        }
        _ => None,
    };
    let dictionary = match (choice, kind) {
        (EncodingChoice::Dictionary, _)
        | (EncodingChoice::Compact | EncodingChoice::Auto, None) => {
            let rows = (0..n).map(|r| &data[r * width..(r + 1) * width]);
            plan_dictionary(rows, nulls, None).map(|(codes, values)| {
                let count = values.len();
                dictionary_plan(
                    codes,
                    count,
                    DictionaryValues::Fixed(values.concat()),
                    data.len(),
                )
            })
        }
        _ => None,
    };
    pick(choice, data.len() as u64, vec![packed, delta, dictionary])
}

/// Plans `n` variable-width values: bytes `data`, `n` little-endian `u64` cumulative end
/// offsets in `ends` (module contract).
pub fn plan_variable(
    data: &[u8],
    ends: &[u8],
    nulls: Option<&[u8]>,
    choice: EncodingChoice,
) -> Option<Plan> {
    use EncodingChoice::*;
    let n = ends.len() / 8;
    let dictionary = match choice {
        Dictionary | Compact | Auto => {
            let sample = (choice != Dictionary).then_some(SAMPLE_ROWS);
            variable_dictionary(data, ends, nulls, sample)
        }
        _ => None,
    };
    // A dictionary of few values (at most one per 16 rows) beats compressed blocks; try those
    // only without one.
    let few = |d: &Option<Plan>| matches!(d, Some(Plan::Dictionary { rows, .. }) if *rows as usize <= n / 16);
    let blocks = match choice {
        Zstd => true,
        Compact | Auto => !few(&dictionary),
        _ => false,
    };
    let blocks = match blocks {
        true => blocks::compress(data, ends, blocks::BLOCK_ROWS).ok().map(
            |(data_region, block_ends)| Plan::Blocks {
                data: data_region,
                block_ends,
                raw_data_len: data.len() as u64,
            },
        ),
        false => None,
    };
    pick(
        choice,
        (data.len() + 8 * n) as u64,
        vec![dictionary, blocks],
    )
}

/// The dictionary plan of variable-width values (see [`plan_dictionary`] for `sample`).
fn variable_dictionary(
    data: &[u8],
    ends: &[u8],
    nulls: Option<&[u8]>,
    sample: Option<usize>,
) -> Option<Plan> {
    let n = ends.len() / 8;
    let end = |r: usize| u64_at(ends, 8 * r) as usize;
    let rows = (0..n).map(|r| &data[if r == 0 { 0 } else { end(r - 1) }..end(r)]);
    let (codes, values) = plan_dictionary(rows, nulls, sample)?;
    let mut value_ends = Vec::with_capacity(values.len());
    let mut bytes = Vec::new();
    for v in &values {
        bytes.extend_from_slice(v);
        value_ends.push(bytes.len() as u64);
    }
    let count = values.len();
    let values = DictionaryValues::Variable {
        data: bytes,
        ends: value_ends,
    };
    Some(dictionary_plan(codes, count, values, data.len()))
}

/// The packed plan of fixed-width integer-like values, if their range fits 64 bits.
fn plan_packed(data: &[u8], kind: IntKind, nulls: Option<&[u8]>) -> Option<Plan> {
    let n = data.len() / kind.width;
    let value = |r: usize| kind.read(&data[r * kind.width..(r + 1) * kind.width]);
    let mut bounds: Option<(i128, i128)> = None;
    for r in (0..n).filter(|&r| !is_null(nulls, r)) {
        let v = value(r);
        bounds = Some(bounds.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    }
    let (reference, max) = bounds.unwrap_or((0, 0));
    let range = u64::try_from(max.checked_sub(reference)?).ok()?;
    let width = bit_width(range);
    let deltas = (0..n).map(|r| {
        if is_null(nulls, r) {
            0
        } else {
            (value(r) - reference) as u64
        }
    });
    let packed = pack(ExactLen(deltas, n), width);
    debug_assert_eq!(Some(packed.len() as u64), packed_len(n as u64, width));
    Some(Plan::Packed {
        reference,
        width,
        packed,
    })
}

/// Codes per row and distinct values in order of first appearance, or `None` past
/// [`MAX_DICTIONARY_VALUES`] values (or, with `sample`, if the first `sample` rows — or all
/// rows, when fewer — are more than half distinct).
fn plan_dictionary<'a>(
    rows: impl Iterator<Item = &'a [u8]>,
    nulls: Option<&[u8]>,
    sample: Option<usize>,
) -> Option<(Vec<u32>, Vec<&'a [u8]>)> {
    let mut index: HashMap<&'a [u8], u32> = HashMap::default();
    let mut values: Vec<&'a [u8]> = Vec::new();
    let mut codes = Vec::new();
    for (r, v) in rows.enumerate() {
        if sample.is_some_and(|s| r == s && values.len() * 2 > s) {
            return None;
        }
        if is_null(nulls, r) {
            codes.push(0);
            continue;
        }
        let next = values.len() as u32;
        let code = *index.entry(v).or_insert(next);
        if code == next {
            if values.len() == MAX_DICTIONARY_VALUES {
                return None;
            }
            values.push(v);
        }
        codes.push(code);
    }
    if values.is_empty() {
        // All null: nothing to look up.
        return None;
    }
    if sample.is_some() && values.len() * 2 > codes.len() {
        // Shorter than the sample and more than half distinct.
        return None;
    }
    Some((codes, values))
}

fn dictionary_plan(
    codes: Vec<u32>,
    count: usize,
    values: DictionaryValues,
    raw_data_len: usize,
) -> Plan {
    let width = bit_width(count.saturating_sub(1) as u64);
    let n = codes.len();
    Plan::Dictionary {
        width,
        packed: pack(ExactLen(codes.into_iter().map(u64::from), n), width),
        rows: count as u64,
        raw_data_len: raw_data_len as u64,
        values,
    }
}

/// An iterator with a known length (for [`pack`]).
struct ExactLen<I>(I, usize);

impl<I: Iterator<Item = u64>> Iterator for ExactLen<I> {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        let v = self.0.next();
        if v.is_some() {
            self.1 -= 1;
        }
        v
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

impl<I: Iterator<Item = u64>> ExactSizeIterator for ExactLen<I> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::bitpack::Unpacker;
    use crate::native::encoding::unpack_fixed;

    fn le(values: &[i64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn packed_plan_decodes_to_the_same_values_and_skips_nulls() {
        let data = le(&[1000, 1003, -7, 1010]);
        let nulls = [0u8, 0, 1, 0];
        let plan = plan_fixed(
            &data,
            8,
            &ColumnType::Int64,
            Some(&nulls),
            EncodingChoice::Packed,
        )
        .unwrap();
        let Plan::Packed {
            reference,
            width,
            packed,
        } = &plan
        else {
            panic!("{plan:?}")
        };
        assert_eq!((*reference, *width), (1000, 4));
        let kind = IntKind::of(&ColumnType::Int64).unwrap();
        let back = unpack_fixed(packed, *reference, *width, kind, 4).unwrap();
        assert_eq!(&back[..16], &data[..16]);
        assert_eq!(&back[24..], &data[24..]);
    }

    #[test]
    fn choices_are_permissions_and_auto_needs_a_real_saving() {
        let strings = b"abcabcxyz";
        let ends: Vec<u8> = [3u64, 6, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(plan_variable(strings, &ends, None, EncodingChoice::Raw).is_none());
        assert!(plan_variable(strings, &ends, None, EncodingChoice::Packed).is_none());
        let Some(Plan::Dictionary { rows, packed, .. }) =
            plan_variable(strings, &ends, None, EncodingChoice::Dictionary)
        else {
            panic!("a forced dictionary")
        };
        assert_eq!(rows, 2);
        let codes = Unpacker::new(&packed, 1, 3).unwrap();
        assert_eq!(codes.iter().collect::<Vec<_>>(), vec![0, 0, 1]);
        // Three rows: a dictionary of two values saves nothing worth having.
        assert!(plan_variable(strings, &ends, None, EncodingChoice::Auto).is_none());
        // Floats are not packed, but a constant column makes a one-value dictionary.
        let floats: Vec<u8> = [1.5f64; 64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let plan = plan_fixed(
            &floats,
            8,
            &ColumnType::Float64,
            None,
            EncodingChoice::Compact,
        );
        assert!(
            matches!(
                plan,
                Some(Plan::Dictionary {
                    rows: 1,
                    width: 0,
                    ..
                })
            ),
            "{plan:?}"
        );
        // A range wider than 64 bits stays raw.
        let wide: Vec<u8> = [i128::MIN, i128::MAX]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert!(plan_fixed(
            &wide,
            16,
            &ColumnType::Decimal128(38, 0),
            None,
            EncodingChoice::Packed
        )
        .is_none());
    }

    #[test]
    fn compact_stores_sorted_integers_as_deltas_and_others_packed() {
        let compact = |values: &[i64]| {
            plan_fixed(
                &le(values),
                8,
                &ColumnType::Int64,
                None,
                EncodingChoice::Compact,
            )
        };
        let sorted: Vec<i64> = (0..5_000).map(|i| 1_000_000 + 3 * i).collect();
        let plan = compact(&sorted).unwrap();
        assert!(
            matches!(&plan, Plan::Delta(d) if d.width == 2 && d.anchors.len() == 5),
            "{plan:?}"
        );
        let mut shuffled = sorted.clone();
        shuffled.swap(10, 4_000);
        assert!(matches!(compact(&shuffled), Some(Plan::Packed { .. })));
        // A constant column: zero-bit packing beats deltas with their anchors.
        assert!(matches!(
            compact(&[7; 3_000]),
            Some(Plan::Packed { width: 0, .. })
        ));
    }
}
